use std::collections::{HashMap, HashSet};

use pipewise_tests::{expect_problem, expect_status, on_both_backends, Session, TestApp, TestDb};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::deals::{create_deal, deal_path};
use crate::forms::{contact_form, submit_json};
use crate::leads::{create_lead, lead_path};
use crate::pipelines::{sales_pipeline, stage_id};

on_both_backends!(
    every_committed_change_is_one_event_in_order_and_a_refused_one_none,
    the_feed_walked_while_8_writers_run_misses_and_repeats_nothing,
    feed_cursors_and_types_are_checked_and_old_cursors_are_gone,
    who_may_read_the_feed_and_the_audit_log,
    the_audit_log_says_who_changed_what_and_a_purge_leaves_markers,
);

/// Every event after `cursor`, following `next_cursor` until a page is empty.
async fn drain(app: &TestApp, token: &str, cursor: &mut Option<String>, query: &str) -> Vec<Value> {
    let mut events = Vec::new();
    loop {
        let mut path = format!("/api/v1/changes?limit=50{query}");
        if let Some(c) = cursor.as_deref() {
            path.push_str(&format!("&cursor={c}"));
        }
        let page = expect_status(app.get(&path, token).send().await.unwrap(), StatusCode::OK).await;
        *cursor = Some(page["next_cursor"].as_str().unwrap().to_owned());
        let data = page["data"].as_array().unwrap().clone();
        if data.is_empty() {
            return events;
        }
        events.extend(data);
    }
}

/// The feed after `cursor` once it holds `expected` events. On PostgreSQL
/// the feed shows an event once every transaction that began before it has
/// ended, in any database of the server (other tests write there too), so
/// the newest events may show a moment late.
async fn feed(app: &TestApp, token: &str, cursor: Option<&str>, query: &str, expected: usize) -> Vec<Value> {
    let mut cursor = cursor.map(str::to_owned);
    let mut events = Vec::new();
    for _ in 0..250 {
        events.extend(drain(app, token, &mut cursor, query).await);
        if events.len() >= expected {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    events
}

fn types(events: &[Value]) -> Vec<&str> {
    events.iter().map(|e| e["type"].as_str().unwrap()).collect()
}

async fn every_committed_change_is_one_event_in_order_and_a_refused_one_none(app: TestApp) {
    let admin = app.signup("feed").await;
    let token = &admin.access_token;
    let lead = create_lead(&app, &admin, json!({"first_name": "Ada", "email": "ada@acme.example"})).await;
    let response = app
        .patch(&lead_path(&lead), token, &json!({"title": "CTO"}))
        .header("x-request-id", "req-title-1")
        .send()
        .await
        .unwrap();
    expect_status(response, StatusCode::OK).await;
    let response = app
        .patch(&lead_path(&lead), token, &json!({"status": "qualified"}))
        .send()
        .await
        .unwrap();
    expect_status(response, StatusCode::OK).await;
    // A change that changes nothing is no event; a refused one neither.
    let response = app
        .patch(&lead_path(&lead), token, &json!({"title": "CTO"}))
        .send()
        .await
        .unwrap();
    expect_status(response, StatusCode::OK).await;
    let response = app
        .patch(&lead_path(&lead), token, &json!({"email": "not an email"}))
        .send()
        .await
        .unwrap();
    expect_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;

    let pipeline = sales_pipeline(&app, &admin).await;
    let deal = create_deal(
        &app,
        &admin,
        json!({"title": "Big", "amount": "100.00", "pipeline_id": pipeline["id"]}),
    )
    .await;
    let path = deal_path(&deal);
    let move_to_second_stage = || {
        app.post(
            &format!("{path}/move"),
            token,
            &json!({"stage_id": stage_id(&pipeline, 1)}),
        )
    };
    let moved = move_to_second_stage().send().await.unwrap();
    expect_status(moved, StatusCode::OK).await;
    // Moving to the stage it is in is refused: no event.
    let again = move_to_second_stage().send().await.unwrap();
    expect_problem(again, StatusCode::CONFLICT).await;
    let won = app
        .post(&format!("{path}/win"), token, &json!({}))
        .send()
        .await
        .unwrap();
    expect_status(won, StatusCode::OK).await;
    let trashed = app.delete(&path, token).send().await.unwrap();
    assert_eq!(trashed.status(), StatusCode::NO_CONTENT);

    let form = contact_form(&app, &admin, json!({})).await;
    let submitted = submit_json(
        &app,
        &form,
        json!({"email": "grace@navy.example", "first_name": "Grace"}),
    )
    .await;
    assert!(submitted.status().is_success(), "{}", submitted.status());

    let events = feed(&app, token, None, "", 8).await;
    assert_eq!(
        types(&events),
        [
            "lead.created",
            "lead.updated",
            "lead.qualified",
            "deal.created",
            "deal.stage_changed",
            "deal.won",
            "deal.deleted",
            "lead.created"
        ]
    );
    // Exactly the committed changes are stored, no more.
    assert_eq!(app.scalar("select count(*) from events").await, 8);

    let titled = &events[1];
    assert_eq!(titled["record_kind"], "lead");
    assert_eq!(titled["record_id"], lead["id"]);
    assert_eq!(titled["data"]["title"], "CTO");
    assert_eq!(titled["data"]["version"], 2);
    assert_eq!(titled["previous"], json!({"title": null}));
    assert_eq!(titled["actor"], json!({"kind": "user", "id": admin.user_id}));
    assert_eq!(titled["request_id"], "req-title-1");
    assert_eq!(events[2]["previous"]["status"], "new");
    assert_eq!(events[2]["data"]["status"], "qualified");
    assert_eq!(events[0]["previous"], Value::Null);
    assert_eq!(events[4]["previous"]["stage_id"], json!(stage_id(&pipeline, 0)));
    assert_eq!(events[5]["data"]["status"], "won");
    assert_eq!(events[6]["record_id"], deal["id"]);
    assert_eq!(events[6]["data"]["version"], 4);
    assert_eq!(events[7]["actor"], json!({"kind": "form", "id": form["id"]}));
    assert_eq!(events[7]["data"]["email"], "grace@navy.example");

    // The stream resumes from any event's cursor; types filter it.
    let rest = feed(&app, token, events[3]["cursor"].as_str(), "", 4).await;
    assert_eq!(types(&rest), types(&events[4..]));
    let deals = feed(&app, token, None, "&types=deal.*,lead.qualified", 5).await;
    assert_eq!(
        types(&deals),
        [
            "lead.qualified",
            "deal.created",
            "deal.stage_changed",
            "deal.won",
            "deal.deleted"
        ]
    );
}

async fn the_feed_walked_while_8_writers_run_misses_and_repeats_nothing(app: TestApp) {
    let admin = app.signup("feed-race").await;
    let writers: Vec<_> = (0..8)
        .map(|w| {
            let (app, admin) = (&app, &admin);
            async move {
                for i in 0..6 {
                    let lead = create_lead(app, admin, json!({"first_name": format!("W{w}-{i}")})).await;
                    for title in ["A", "B"] {
                        let response = app
                            .patch(&lead_path(&lead), &admin.access_token, &json!({"title": title}))
                            .send()
                            .await
                            .unwrap();
                        expect_status(response, StatusCode::OK).await;
                    }
                }
            }
        })
        .collect();
    let writing = futures_util::future::join_all(writers);
    let reading = async {
        let mut cursor = None;
        let mut seen = Vec::new();
        // Reads as the writers write; the last reads come after they are done.
        for _ in 0..400 {
            seen.extend(drain(&app, &admin.access_token, &mut cursor, "").await);
            if seen.len() >= 8 * 6 * 3 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        seen
    };
    let (_, seen) = tokio::join!(writing, reading);

    assert_eq!(seen.len(), 8 * 6 * 3, "every change exactly once");
    let ids: HashSet<&str> = seen.iter().map(|e| e["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), seen.len(), "no event twice");
    // Each lead's events come in the order of its versions.
    let mut last_version: HashMap<&str, i64> = HashMap::new();
    for e in &seen {
        let version = e["data"]["version"].as_i64().unwrap();
        let previous = last_version.insert(e["record_id"].as_str().unwrap(), version);
        assert!(previous.is_none_or(|p| p < version), "{e}");
    }
}

async fn feed_cursors_and_types_are_checked_and_old_cursors_are_gone(app: TestApp) {
    let admin = app.signup("feed-cursor").await;
    let token = &admin.access_token;
    for query in [
        "cursor=garbage",
        "cursor=MS4y",
        "types=deal.exploded",
        "types=invoice.*",
        "limit=0",
        "limit=1001",
    ] {
        let response = app
            .get(&format!("/api/v1/changes?{query}"), token)
            .send()
            .await
            .unwrap();
        expect_problem(response, StatusCode::BAD_REQUEST).await;
    }
    create_lead(&app, &admin, json!({"first_name": "Old"})).await;
    create_lead(&app, &admin, json!({"first_name": "New"})).await;
    let events = feed(&app, token, None, "", 2).await;
    assert_eq!(events.len(), 2);
    // The first event is 31 days old: out of the feed, and its cursor is gone.
    let old = events[0]["id"].as_str().unwrap().parse().unwrap();
    let backdate = match app.db {
        TestDb::Sqlite(_) => format!(
            "update events set occurred_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-31 days') where id = {}",
            app.sql_uuid(old)
        ),
        TestDb::Postgres { .. } => format!(
            "update events set occurred_at = now() - interval '31 days' where id = {}",
            app.sql_uuid(old)
        ),
    };
    app.execute(&backdate).await;
    let response = app
        .get(
            &format!("/api/v1/changes?cursor={}", events[0]["cursor"].as_str().unwrap()),
            token,
        )
        .send()
        .await
        .unwrap();
    let problem = expect_problem(response, StatusCode::GONE).await;
    assert!(problem["detail"].as_str().unwrap().contains("30 days"), "{problem}");
    assert_eq!(types(&feed(&app, token, None, "", 1).await), ["lead.created"]);
    // Another process starting on the database sweeps what the feed no longer keeps.
    pipewise_tests::serve(pipewise_api::Config::for_database(app.db.url())).await;
    for _ in 0..100 {
        if app.scalar("select count(*) from events").await == 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(app.scalar("select count(*) from events").await, 1);
    assert_eq!(
        app.scalar("select count(*) from audit_log where action = 'lead.created'")
            .await,
        2
    );
    let response = app
        .get(
            &format!("/api/v1/changes?cursor={}", events[0]["cursor"].as_str().unwrap()),
            token,
        )
        .send()
        .await
        .unwrap();
    expect_problem(response, StatusCode::GONE).await;
    // Another organization's cursor names no event here.
    let other = app.signup("feed-cursor-other").await;
    let response = app
        .get(
            &format!("/api/v1/changes?cursor={}", events[1]["cursor"].as_str().unwrap()),
            &other.access_token,
        )
        .send()
        .await
        .unwrap();
    expect_problem(response, StatusCode::BAD_REQUEST).await;
}

async fn who_may_read_the_feed_and_the_audit_log(app: TestApp) {
    let admin = app.signup("feed-who").await;
    create_lead(&app, &admin, json!({"first_name": "Ada"})).await;
    let manager = app.add_user(&admin, "manager").await;
    let rep = app.add_user(&admin, "rep").await;
    let (_, read_key) = app.api_key(&admin, &["read"]).await;
    let (_, write_key) = app.api_key(&admin, &["write"]).await;
    let read = |token: &Session| app.get("/api/v1/changes", &token.access_token);
    expect_status(read(&manager).send().await.unwrap(), StatusCode::OK).await;
    expect_problem(read(&rep).send().await.unwrap(), StatusCode::FORBIDDEN).await;
    let keyed = |key: &str| {
        app.request(reqwest::Method::GET, "/api/v1/changes")
            .header("x-api-key", key.to_owned())
    };
    expect_status(keyed(&read_key).send().await.unwrap(), StatusCode::OK).await;
    assert_eq!(feed(&app, &admin.access_token, None, "", 1).await.len(), 1);
    expect_problem(keyed(&write_key).send().await.unwrap(), StatusCode::FORBIDDEN).await;
    // Another organization sees none of it.
    let other = app.signup("feed-who-other").await;
    let page = expect_status(read(&other).send().await.unwrap(), StatusCode::OK).await;
    assert_eq!(page["data"], json!([]));

    expect_status(
        app.get("/api/v1/audit-log", &admin.access_token).send().await.unwrap(),
        StatusCode::OK,
    )
    .await;
    for session in [&manager, &rep] {
        let response = app
            .get("/api/v1/audit-log", &session.access_token)
            .send()
            .await
            .unwrap();
        expect_problem(response, StatusCode::FORBIDDEN).await;
    }
    let response = app
        .request(reqwest::Method::GET, "/api/v1/audit-log")
        .header("x-api-key", read_key)
        .send()
        .await
        .unwrap();
    expect_problem(response, StatusCode::FORBIDDEN).await;
}

async fn the_audit_log_says_who_changed_what_and_a_purge_leaves_markers(app: TestApp) {
    let admin = app.signup("audit").await;
    let token = &admin.access_token;
    let lead = create_lead(
        &app,
        &admin,
        json!({"first_name": "Ada", "last_name": "Lovelace", "title": "Countess"}),
    )
    .await;
    let (key_id, key) = app.api_key(&admin, &["write"]).await;
    let response = app
        .request(reqwest::Method::PATCH, &lead_path(&lead))
        .json(&json!({"first_name": "Augusta", "industry": "Maths"}))
        .header("x-api-key", key)
        .send()
        .await
        .unwrap();
    expect_status(response, StatusCode::OK).await;
    let other = create_lead(&app, &admin, json!({"first_name": "Grace"})).await;

    let query = format!("/api/v1/audit-log?record_id={}", lead["id"].as_str().unwrap());
    let entries = expect_status(app.get(&query, token).send().await.unwrap(), StatusCode::OK).await["data"].clone();
    let actions: Vec<&str> = entries
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["lead.updated", "lead.created"], "newest first");
    let change = &entries[0];
    assert_eq!(change["actor"], json!({"kind": "api_key", "id": key_id}));
    assert_eq!(change["target_kind"], "lead");
    assert_eq!(
        change["changes"],
        json!({"first_name": {"from": "Ada", "to": "Augusta"}, "industry": {"from": null, "to": "Maths"}})
    );
    let by_key = format!("/api/v1/audit-log?actor_id={key_id}");
    let entries = expect_status(app.get(&by_key, token).send().await.unwrap(), StatusCode::OK).await["data"].clone();
    assert_eq!(entries.as_array().unwrap().len(), 1);
    let created = expect_status(
        app.get("/api/v1/audit-log?action=lead.created", token)
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await["data"]
        .clone();
    assert_eq!(created.as_array().unwrap().len(), 2);
    let paged = expect_status(
        app.get("/api/v1/audit-log?action=lead.*&limit=1", token)
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(paged["data"][0]["target_id"], other["id"]);
    let next = paged["next_cursor"].as_str().unwrap();
    let page2 = expect_status(
        app.get(&format!("/api/v1/audit-log?action=lead.*&limit=1&cursor={next}"), token)
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(page2["data"][0]["action"], "lead.updated");
    assert_eq!(page2["data"][0]["target_id"], lead["id"]);

    // A purge erases the personal values from the lead's history, and keeps the rest.
    let response = app
        .delete(&format!("{}?purge=true", lead_path(&lead)), token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let entries = expect_status(app.get(&query, token).send().await.unwrap(), StatusCode::OK).await["data"].clone();
    let actions: Vec<&str> = entries
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["lead.purged", "lead.updated", "lead.created"]);
    assert_eq!(
        entries[1]["changes"],
        json!({"first_name": {"from": "[erased]", "to": "[erased]"}, "industry": {"from": null, "to": "Maths"}})
    );
    let events = feed(&app, token, None, "", 4).await;
    let lead_events: Vec<&Value> = events.iter().filter(|e| e["record_id"] == lead["id"]).collect();
    assert_eq!(lead_events.len(), 3);
    for e in &lead_events {
        let text = e.to_string();
        for personal in ["Ada", "Augusta", "Lovelace", "Countess"] {
            assert!(!text.contains(personal), "{personal} left in {text}");
        }
    }
    assert_eq!(lead_events[0]["data"]["first_name"], "[erased]");
    assert_eq!(lead_events[0]["data"]["industry"], Value::Null);
    assert_eq!(lead_events[1]["data"]["industry"], "Maths");
    assert_eq!(lead_events[2]["data"]["first_name"], Value::Null);
}
