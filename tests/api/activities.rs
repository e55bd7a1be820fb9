use std::collections::HashSet;

use chrono::{DateTime, Duration, DurationRound, Utc};
use pipewise_tests::{
    expect_problem, expect_status, invalid_fields, on_both_backends, statuses_in_parallel, uuid, Session, TestApp,
    STALE_ACTIVITY_MARKS,
};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::accounts::create_account;
use crate::deals::{create_deal, deal_path, time};
use crate::leads::{create_lead, lead_path};
use crate::pipelines::sales_pipeline;
use crate::scoring::create_rule;

on_both_backends!(
    activities_are_created_read_changed_and_completed,
    invalid_activity_fields_are_named,
    links_must_be_live_records_the_caller_may_see,
    completing_twice_is_a_conflict_and_stale_etags_are_refused,
    backdating_is_for_admins_and_import_keys,
    creating_and_completing_moves_last_activity_at_of_every_linked_record_forward,
    activities_filter_by_status_type_links_owner_and_due_range,
    activity_lists_sort_and_page_without_gaps,
    unknown_activity_filters_sorts_and_cursors_are_refused,
    reps_see_and_change_only_their_own_activities,
    a_trashed_activity_is_hidden_until_restored,
    api_keys_default_the_owner_to_their_creator,
    completing_an_activity_on_a_lead_raises_its_score_by_the_rules_points,
    twenty_parallel_patches_without_if_match_all_apply,
    the_activity_marks_follow_trashing_restoring_relinking_and_parallel_writes,
);

pub async fn create_activity(app: &TestApp, session: &Session, body: Value) -> Value {
    let response = app
        .post("/api/v1/activities", &session.access_token, &body)
        .send()
        .await
        .unwrap();
    expect_status(response, StatusCode::CREATED).await
}

pub fn activity_path(activity: &Value) -> String {
    format!("/api/v1/activities/{}", activity["id"].as_str().unwrap())
}

async fn list(app: &TestApp, session: &Session, query: &str) -> Vec<Value> {
    let response = app
        .get(&format!("/api/v1/activities{query}"), &session.access_token)
        .send()
        .await
        .unwrap();
    expect_status(response, StatusCode::OK).await["data"]
        .as_array()
        .unwrap()
        .clone()
}

fn subjects(rows: &[Value]) -> Vec<&str> {
    rows.iter().map(|r| r["subject"].as_str().unwrap()).collect()
}

fn sorted_subjects(rows: &[Value]) -> Vec<&str> {
    let mut s = subjects(rows);
    s.sort();
    s
}

/// An instant `hours` from now, in whole seconds.
fn hours_from_now(hours: i64) -> DateTime<Utc> {
    (Utc::now() + Duration::hours(hours))
        .duration_trunc(Duration::seconds(1))
        .unwrap()
}

fn rfc(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

async fn get(app: &TestApp, session: &Session, path: &str) -> Value {
    expect_status(
        app.get(path, &session.access_token).send().await.unwrap(),
        StatusCode::OK,
    )
    .await
}

async fn activities_are_created_read_changed_and_completed(app: TestApp) {
    let admin = app.signup("activity").await;
    let lead = create_lead(&app, &admin, json!({"first_name": "Ada"})).await;
    let due = hours_from_now(24);
    let response = app
        .post(
            "/api/v1/activities",
            &admin.access_token,
            &json!({"type": "call", "subject": " Discovery call ", "note": "Line one\nLine two",
                    "due_at": rfc(due), "lead_id": lead["id"]}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["etag"], "\"1\"");
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let activity = expect_status(response, StatusCode::CREATED).await;
    assert_eq!(location, activity_path(&activity));
    assert_eq!(activity["type"], "call");
    assert_eq!(activity["subject"], "Discovery call");
    assert_eq!(activity["note"], "Line one\nLine two");
    assert_eq!(time(&activity["due_at"]), due);
    assert!(activity["done_at"].is_null());
    assert_eq!(activity["status"], "open");
    assert_eq!(uuid(&activity["owner_id"]), admin.user_id);
    assert_eq!(activity["lead_id"], lead["id"]);
    assert!(activity["contact_id"].is_null() && activity["deal_id"].is_null() && activity["account_id"].is_null());
    assert_eq!(activity["version"], 1);
    assert_eq!(get(&app, &admin, &location).await, activity);

    let response = app
        .patch(
            &location,
            &admin.access_token,
            &json!({"subject": "Follow-up call", "type": "meeting", "note": null, "due_at": rfc(hours_from_now(-2))}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["etag"], "\"2\"");
    let changed = expect_status(response, StatusCode::OK).await;
    assert_eq!(changed["subject"], "Follow-up call");
    assert_eq!(changed["type"], "meeting");
    assert!(changed["note"].is_null());
    assert_eq!(changed["status"], "overdue");

    let response = app
        .post(&format!("{location}/complete"), &admin.access_token, &json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["etag"], "\"3\"");
    let done = expect_status(response, StatusCode::OK).await;
    assert_eq!(done["status"], "done");
    let done_at = time(&done["done_at"]);
    assert!(done_at <= Utc::now() && done_at > Utc::now() - Duration::minutes(1));

    // Clearing done_at reopens it.
    let reopened = expect_status(
        app.patch(&location, &admin.access_token, &json!({"done_at": null}))
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(reopened["status"], "overdue");

    // A call already made is logged with done_at.
    let logged = create_activity(
        &app,
        &admin,
        json!({"type": "email", "subject": "Sent pricing", "done_at": rfc(hours_from_now(-1))}),
    )
    .await;
    assert_eq!(logged["status"], "done");
    assert_eq!(app.scalar("select count(*) from activities").await, 2);
    assert_eq!(
        app.scalar("select count(*) from activities where done_at is not null and type = 'email'")
            .await,
        1
    );
}

async fn invalid_activity_fields_are_named(app: TestApp) {
    let admin = app.signup("activity-invalid").await;
    let response = app
        .post(
            "/api/v1/activities",
            &admin.access_token,
            &json!({"type": "call", "subject": "  ", "note": "x".repeat(10_001),
                    "done_at": rfc(hours_from_now(2)), "owner_id": Uuid::now_v7()}),
        )
        .send()
        .await
        .unwrap();
    let problem = expect_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    let mut fields = invalid_fields(&problem);
    fields.sort();
    assert_eq!(fields, ["done_at", "note", "owner_id", "subject"]);

    for (body, field) in [
        (json!({"type": "fax", "subject": "x"}), "type"),
        (json!({"subject": "x"}), "type"),
        (json!({"type": "call"}), "subject"),
        (json!({"type": "call", "subject": "x".repeat(201)}), "subject"),
        (json!({"type": "call", "subject": "x", "due_at": "tomorrow"}), "due_at"),
        (json!({"type": "call", "subject": "x", "colour": "red"}), "colour"),
    ] {
        let response = app
            .post("/api/v1/activities", &admin.access_token, &body)
            .send()
            .await
            .unwrap();
        let problem = expect_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert_eq!(invalid_fields(&problem), [field], "{body}");
    }
    let activity = create_activity(&app, &admin, json!({"type": "task", "subject": "Write"})).await;
    let response = app
        .patch(
            &activity_path(&activity),
            &admin.access_token,
            &json!({"subject": "", "done_at": rfc(hours_from_now(3))}),
        )
        .send()
        .await
        .unwrap();
    let problem = expect_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    let mut fields = invalid_fields(&problem);
    fields.sort();
    assert_eq!(fields, ["done_at", "subject"]);
    let response = app
        .request(Method::POST, "/api/v1/activities")
        .bearer_auth(&admin.access_token)
        .body("{")
        .header("content-type", "application/json")
        .send()
        .await
        .unwrap();
    expect_problem(response, StatusCode::BAD_REQUEST).await;
    let response = app
        .request(Method::POST, "/api/v1/activities")
        .bearer_auth(&admin.access_token)
        .body("type=call")
        .send()
        .await
        .unwrap();
    expect_problem(response, StatusCode::UNSUPPORTED_MEDIA_TYPE).await;
    assert_eq!(app.scalar("select count(*) from activities").await, 1);
    assert_eq!(app.scalar("select version from activities").await, 1);
}

async fn links_must_be_live_records_the_caller_may_see(app: TestApp) {
    let admin = app.signup("activity-links").await;
    let rep = app.add_user(&admin, "rep").await;
    let other = app.signup("activity-links-other").await;
    let foreign_lead = create_lead(&app, &other, json!({"first_name": "Foreign"})).await;
    let admins_lead = create_lead(&app, &admin, json!({"first_name": "Admin's"})).await;
    let pipeline = sales_pipeline(&app, &admin).await;
    let admins_deal = create_deal(
        &app,
        &admin,
        json!({"title": "Big", "amount": "10.00", "pipeline_id": pipeline["id"]}),
    )
    .await;
    let account = create_account(&app, &admin, json!({"name": "Acme"})).await;
    let response = app
        .delete(
            &format!("/api/v1/accounts/{}", account["id"].as_str().unwrap()),
            &admin.access_token,
        )
        .send()
        .await
        .unwrap();
    expect_status(response, StatusCode::NO_CONTENT).await;

    let response = app
        .post(
            "/api/v1/activities",
            &admin.access_token,
            &json!({"type": "call", "subject": "x", "lead_id": foreign_lead["id"], "contact_id": Uuid::now_v7(),
                    "account_id": account["id"], "deal_id": Uuid::now_v7()}),
        )
        .send()
        .await
        .unwrap();
    let problem = expect_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    let mut fields = invalid_fields(&problem);
    fields.sort();
    assert_eq!(fields, ["account_id", "contact_id", "deal_id", "lead_id"]);

    // A rep may not link the admin's lead or deal: they cannot see them.
    let response = app
        .post(
            "/api/v1/activities",
            &rep.access_token,
            &json!({"type": "call", "subject": "x", "lead_id": admins_lead["id"], "deal_id": admins_deal["id"]}),
        )
        .send()
        .await
        .unwrap();
    let problem = expect_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    let mut fields = invalid_fields(&problem);
    fields.sort();
    assert_eq!(fields, ["deal_id", "lead_id"]);

    let activity = create_activity(&app, &rep, json!({"type": "call", "subject": "x"})).await;
    let response = app
        .patch(
            &activity_path(&activity),
            &rep.access_token,
            &json!({"lead_id": admins_lead["id"]}),
        )
        .send()
        .await
        .unwrap();
    let problem = expect_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(invalid_fields(&problem), ["lead_id"]);
    assert_eq!(
        app.scalar("select count(*) from activities where lead_id is not null")
            .await,
        0
    );
}

async fn completing_twice_is_a_conflict_and_stale_etags_are_refused(app: TestApp) {
    let admin = app.signup("activity-etag").await;
    let activity = create_activity(&app, &admin, json!({"type": "task", "subject": "Quote"})).await;
    let path = activity_path(&activity);
    for (method, suffix, body) in [
        (Method::PATCH, "", json!({"subject": "New"})),
        (Method::POST, "/complete", json!({})),
        (Method::DELETE, "", Value::Null),
    ] {
        let mut request = app
            .request(method.clone(), &format!("{path}{suffix}"))
            .bearer_auth(&admin.access_token)
            .header("if-match", "\"7\"");
        if !body.is_null() {
            request = request.json(&body);
        }
        expect_problem(request.send().await.unwrap(), StatusCode::PRECONDITION_FAILED).await;
    }
    assert_eq!(app.scalar("select version from activities").await, 1);
    let response = app
        .post(&format!("{path}/complete"), &admin.access_token, &json!({}))
        .header("if-match", "\"1\"")
        .send()
        .await
        .unwrap();
    expect_status(response, StatusCode::OK).await;
    let response = app
        .post(&format!("{path}/complete"), &admin.access_token, &json!({}))
        .send()
        .await
        .unwrap();
    expect_problem(response, StatusCode::CONFLICT).await;
    let response = app
        .post(
            &format!("/api/v1/activities/{}/complete", Uuid::now_v7()),
            &admin.access_token,
            &json!({}),
        )
        .send()
        .await
        .unwrap();
    expect_problem(response, StatusCode::NOT_FOUND).await;
    assert_eq!(app.scalar("select version from activities").await, 2);
}

async fn backdating_is_for_admins_and_import_keys(app: TestApp) {
    let admin = app.signup("activity-backdate").await;
    let manager = app.add_user(&admin, "manager").await;
    let past = hours_from_now(-48);
    let response = app
        .post(
            "/api/v1/activities",
            &manager.access_token,
            &json!({"type": "call", "subject": "x", "created_at": rfc(past)}),
        )
        .send()
        .await
        .unwrap();
    expect_problem(response, StatusCode::FORBIDDEN).await;
    let response = app
        .post(
            "/api/v1/activities",
            &admin.access_token,
            &json!({"type": "call", "subject": "x", "created_at": rfc(hours_from_now(1))}),
        )
        .send()
        .await
        .unwrap();
    let problem = expect_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(invalid_fields(&problem), ["created_at"]);

    let backdated = create_activity(
        &app,
        &admin,
        json!({"type": "call", "subject": "Old", "created_at": rfc(past)}),
    )
    .await;
    assert_eq!(time(&backdated["created_at"]), past);
    let complete = format!("{}/complete", activity_path(&backdated));
    let response = app
        .post(
            &complete,
            &manager.access_token,
            &json!({"at": rfc(hours_from_now(-1))}),
        )
        .send()
        .await
        .unwrap();
    expect_problem(response, StatusCode::FORBIDDEN).await;
    for at in [hours_from_now(1), hours_from_now(-72)] {
        let response = app
            .post(&complete, &admin.access_token, &json!({"at": rfc(at)}))
            .send()
            .await
            .unwrap();
        let problem = expect_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert_eq!(invalid_fields(&problem), ["at"]);
    }
    let (_, key) = app.api_key(&admin, &["write", "import"]).await;
    let done_at = hours_from_now(-24);
    let response = app
        .request(Method::POST, &complete)
        .header("x-api-key", &key)
        .json(&json!({"at": rfc(done_at)}))
        .send()
        .await
        .unwrap();
    let done = expect_status(response, StatusCode::OK).await;
    assert_eq!(time(&done["done_at"]), done_at);
}

async fn creating_and_completing_moves_last_activity_at_of_every_linked_record_forward(app: TestApp) {
    let admin = app.signup("activity-last").await;
    let lead = create_lead(&app, &admin, json!({"first_name": "Ada"})).await;
    let account = create_account(&app, &admin, json!({"name": "Acme"})).await;
    let contact = expect_status(
        app.post(
            "/api/v1/contacts",
            &admin.access_token,
            &json!({"first_name": "Bob", "account_id": account["id"]}),
        )
        .send()
        .await
        .unwrap(),
        StatusCode::CREATED,
    )
    .await;
    assert!(contact["last_activity_at"].is_null());
    assert!(account["last_activity_at"].is_null());
    let pipeline = sales_pipeline(&app, &admin).await;
    let deal = create_deal(
        &app,
        &admin,
        json!({"title": "Big", "amount": "10.00", "pipeline_id": pipeline["id"]}),
    )
    .await;
    let contact_path = format!("/api/v1/contacts/{}", contact["id"].as_str().unwrap());
    let account_path = format!("/api/v1/accounts/{}", account["id"].as_str().unwrap());
    let paths = [
        lead_path(&lead),
        contact_path.clone(),
        account_path.clone(),
        deal_path(&deal),
    ];

    let activity = create_activity(
        &app,
        &admin,
        json!({"type": "meeting", "subject": "Kick-off", "lead_id": lead["id"], "contact_id": contact["id"],
               "account_id": account["id"], "deal_id": deal["id"]}),
    )
    .await;
    let created_at = time(&activity["created_at"]);
    for path in &paths {
        let record = get(&app, &admin, path).await;
        assert_eq!(time(&record["last_activity_at"]), created_at, "{path}");
    }
    // Versions do not move: last_activity_at is derived.
    assert_eq!(get(&app, &admin, &contact_path).await["version"], 1);

    let done = expect_status(
        app.post(
            &format!("{}/complete", activity_path(&activity)),
            &admin.access_token,
            &json!({}),
        )
        .send()
        .await
        .unwrap(),
        StatusCode::OK,
    )
    .await;
    let done_at = time(&done["done_at"]);
    for path in &paths {
        let record = get(&app, &admin, path).await;
        assert_eq!(time(&record["last_activity_at"]), done_at, "{path}");
    }

    // An older activity never moves it back; a later link moves only its record.
    let old = create_activity(
        &app,
        &admin,
        json!({"type": "call", "subject": "Old", "lead_id": lead["id"], "created_at": rfc(hours_from_now(-100)),
               "done_at": rfc(hours_from_now(-99))}),
    )
    .await;
    assert_eq!(
        time(&get(&app, &admin, &lead_path(&lead)).await["last_activity_at"]),
        done_at
    );
    let other_account = create_account(&app, &admin, json!({"name": "Other"})).await;
    let relinked = expect_status(
        app.patch(
            &activity_path(&old),
            &admin.access_token,
            &json!({"account_id": other_account["id"]}),
        )
        .send()
        .await
        .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(relinked["account_id"], other_account["id"]);
    let other_path = format!("/api/v1/accounts/{}", other_account["id"].as_str().unwrap());
    assert_eq!(
        time(&get(&app, &admin, &other_path).await["last_activity_at"]),
        time(&old["created_at"]).max(time(&old["done_at"]))
    );
    assert_eq!(
        app.scalar("select count(*) from accounts where last_activity_at is not null")
            .await,
        2
    );
}

async fn activities_filter_by_status_type_links_owner_and_due_range(app: TestApp) {
    let admin = app.signup("activity-filter").await;
    let rep = app.add_user(&admin, "rep").await;
    let lead = create_lead(&app, &admin, json!({"first_name": "Ada"})).await;
    let account = create_account(&app, &admin, json!({"name": "Acme"})).await;
    create_activity(
        &app,
        &admin,
        json!({"type": "call", "subject": "overdue", "due_at": rfc(hours_from_now(-5)), "lead_id": lead["id"]}),
    )
    .await;
    create_activity(
        &app,
        &admin,
        json!({"type": "task", "subject": "open-due", "due_at": rfc(hours_from_now(5)), "account_id": account["id"]}),
    )
    .await;
    create_activity(&app, &admin, json!({"type": "task", "subject": "open-undated"})).await;
    create_activity(
        &app,
        &admin,
        json!({"type": "email", "subject": "done", "due_at": rfc(hours_from_now(-5)),
               "done_at": rfc(hours_from_now(-6)), "owner_id": rep.user_id}),
    )
    .await;
    assert_eq!(subjects(&list(&app, &admin, "?status=overdue").await), ["overdue"]);
    assert_eq!(
        sorted_subjects(&list(&app, &admin, "?status=open").await),
        ["open-due", "open-undated"]
    );
    assert_eq!(subjects(&list(&app, &admin, "?status=done").await), ["done"]);
    assert_eq!(
        sorted_subjects(&list(&app, &admin, "?type=task").await),
        ["open-due", "open-undated"]
    );
    assert_eq!(
        subjects(&list(&app, &admin, &format!("?lead_id={}", lead["id"].as_str().unwrap())).await),
        ["overdue"]
    );
    assert_eq!(
        subjects(
            &list(
                &app,
                &admin,
                &format!("?account_id={}", account["id"].as_str().unwrap())
            )
            .await
        ),
        ["open-due"]
    );
    assert_eq!(
        subjects(&list(&app, &admin, &format!("?owner_id={}", rep.user_id)).await),
        ["done"]
    );
    let from = rfc(hours_from_now(-10)).replace('+', "%2B");
    let to = rfc(hours_from_now(0)).replace('+', "%2B");
    assert_eq!(
        sorted_subjects(&list(&app, &admin, &format!("?due_from={from}&due_to={to}")).await),
        ["done", "overdue"]
    );
    assert_eq!(
        subjects(
            &list(
                &app,
                &admin,
                &format!("?due_from={from}&due_to={to}&status=overdue&type=call")
            )
            .await
        ),
        ["overdue"]
    );
    assert!(list(&app, &admin, &format!("?contact_id={}", Uuid::now_v7()))
        .await
        .is_empty());
    assert!(list(&app, &admin, &format!("?deal_id={}", Uuid::now_v7()))
        .await
        .is_empty());
}

async fn activity_lists_sort_and_page_without_gaps(app: TestApp) {
    let admin = app.signup("activity-page").await;
    for (i, due) in [Some(3), None, Some(1), Some(2), None, Some(1)].into_iter().enumerate() {
        let mut body = json!({"type": "task", "subject": format!("a{i}")});
        if let Some(hours) = due {
            body["due_at"] = json!(rfc(hours_from_now(hours)));
        }
        create_activity(&app, &admin, body).await;
    }
    assert_eq!(
        subjects(&list(&app, &admin, "").await),
        ["a0", "a1", "a2", "a3", "a4", "a5"]
    );
    assert_eq!(
        subjects(&list(&app, &admin, "?sort=-created_at").await),
        ["a5", "a4", "a3", "a2", "a1", "a0"]
    );
    assert_eq!(
        subjects(&list(&app, &admin, "?sort=due_at").await),
        ["a2", "a5", "a3", "a0", "a1", "a4"]
    );
    assert_eq!(
        subjects(&list(&app, &admin, "?sort=-due_at").await),
        ["a0", "a3", "a5", "a2", "a4", "a1"]
    );
    for sort in ["created_at", "-created_at", "due_at", "-due_at"] {
        let whole = subjects(&list(&app, &admin, &format!("?sort={sort}")).await)
            .into_iter()
            .map(str::to_owned)
            .collect::<Vec<_>>();
        let mut walked = vec![];
        let mut cursor: Option<String> = None;
        loop {
            let mut path = format!("/api/v1/activities?sort={sort}&limit=2");
            if let Some(c) = &cursor {
                path.push_str(&format!("&cursor={c}"));
            }
            let page = get(&app, &admin, &path).await;
            walked.extend(
                subjects(page["data"].as_array().unwrap())
                    .into_iter()
                    .map(str::to_owned),
            );
            match page["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => break,
            }
        }
        assert_eq!(walked, whole, "{sort}");
        assert_eq!(walked.iter().collect::<HashSet<_>>().len(), 6);
    }
}

async fn unknown_activity_filters_sorts_and_cursors_are_refused(app: TestApp) {
    let admin = app.signup("activity-bad").await;
    create_activity(&app, &admin, json!({"type": "task", "subject": "a"})).await;
    create_activity(&app, &admin, json!({"type": "task", "subject": "b"})).await;
    let page = get(&app, &admin, "/api/v1/activities?limit=1").await;
    let cursor = page["next_cursor"].as_str().unwrap().to_owned();
    for query in [
        "?colour=red".to_owned(),
        "?sort=subject".to_owned(),
        "?status=late".to_owned(),
        "?type=fax".to_owned(),
        "?limit=0".to_owned(),
        "?limit=201".to_owned(),
        "?cursor=garbage".to_owned(),
        format!("?sort=due_at&cursor={cursor}"),
        "?due_from=yesterday".to_owned(),
        "?owner_id=me".to_owned(),
    ] {
        let response = app
            .get(&format!("/api/v1/activities{query}"), &admin.access_token)
            .send()
            .await
            .unwrap();
        expect_problem(response, StatusCode::BAD_REQUEST).await;
    }
    let response = app.get("/api/v1/activities", "not-a-token").send().await.unwrap();
    expect_problem(response, StatusCode::UNAUTHORIZED).await;
}

async fn reps_see_and_change_only_their_own_activities(app: TestApp) {
    let admin = app.signup("activity-rep").await;
    let rep = app.add_user(&admin, "rep").await;
    let other_rep = app.add_user(&admin, "rep").await;
    let manager = app.add_user(&admin, "manager").await;
    let mine = create_activity(&app, &rep, json!({"type": "call", "subject": "mine"})).await;
    let theirs = create_activity(&app, &other_rep, json!({"type": "call", "subject": "theirs"})).await;
    assert_eq!(uuid(&mine["owner_id"]), rep.user_id);
    assert_eq!(subjects(&list(&app, &rep, "").await), ["mine"]);
    assert_eq!(sorted_subjects(&list(&app, &manager, "").await), ["mine", "theirs"]);
    let theirs_path = activity_path(&theirs);
    let response = app.get(&theirs_path, &rep.access_token).send().await.unwrap();
    expect_problem(response, StatusCode::NOT_FOUND).await;
    let response = app
        .patch(&theirs_path, &rep.access_token, &json!({"subject": "hijack"}))
        .send()
        .await
        .unwrap();
    expect_problem(response, StatusCode::NOT_FOUND).await;
    let response = app
        .post(&format!("{theirs_path}/complete"), &rep.access_token, &json!({}))
        .send()
        .await
        .unwrap();
    expect_problem(response, StatusCode::NOT_FOUND).await;
    let response = app.delete(&theirs_path, &rep.access_token).send().await.unwrap();
    expect_problem(response, StatusCode::NOT_FOUND).await;
    // Reps neither create for others nor give theirs away.
    let response = app
        .post(
            "/api/v1/activities",
            &rep.access_token,
            &json!({"type": "call", "subject": "x", "owner_id": other_rep.user_id}),
        )
        .send()
        .await
        .unwrap();
    expect_problem(response, StatusCode::FORBIDDEN).await;
    let response = app
        .patch(
            &activity_path(&mine),
            &rep.access_token,
            &json!({"owner_id": other_rep.user_id}),
        )
        .send()
        .await
        .unwrap();
    expect_problem(response, StatusCode::FORBIDDEN).await;
    // A manager may reassign anyone's.
    let moved = expect_status(
        app.patch(&theirs_path, &manager.access_token, &json!({"owner_id": rep.user_id}))
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(uuid(&moved["owner_id"]), rep.user_id);
    assert_eq!(sorted_subjects(&list(&app, &rep, "").await), ["mine", "theirs"]);
    let other = app.signup("activity-rep-other").await;
    let response = app
        .get(&activity_path(&mine), &other.access_token)
        .send()
        .await
        .unwrap();
    expect_problem(response, StatusCode::NOT_FOUND).await;
    assert!(list(&app, &other, "").await.is_empty());
}

async fn a_trashed_activity_is_hidden_until_restored(app: TestApp) {
    let admin = app.signup("activity-trash").await;
    let activity = create_activity(&app, &admin, json!({"type": "call", "subject": "x"})).await;
    let path = activity_path(&activity);
    let response = app
        .delete(&path, &admin.access_token)
        .header("if-match", "\"1\"")
        .send()
        .await
        .unwrap();
    expect_status(response, StatusCode::NO_CONTENT).await;
    expect_problem(
        app.get(&path, &admin.access_token).send().await.unwrap(),
        StatusCode::NOT_FOUND,
    )
    .await;
    assert!(list(&app, &admin, "").await.is_empty());
    expect_problem(
        app.delete(&path, &admin.access_token).send().await.unwrap(),
        StatusCode::NOT_FOUND,
    )
    .await;
    assert_eq!(
        app.scalar("select count(*) from activities where deleted_at is not null")
            .await,
        1
    );
    let restored = expect_status(
        app.post(&format!("{path}/restore"), &admin.access_token, &json!({}))
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert!(restored["deleted_at"].is_null());
    assert_eq!(restored["version"], 3);
    // Restoring a live activity changes nothing.
    let again = expect_status(
        app.post(&format!("{path}/restore"), &admin.access_token, &json!({}))
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(again["version"], 3);
    assert_eq!(list(&app, &admin, "").await.len(), 1);
    expect_problem(
        app.post(
            &format!("/api/v1/activities/{}/restore", Uuid::now_v7()),
            &admin.access_token,
            &json!({}),
        )
        .send()
        .await
        .unwrap(),
        StatusCode::NOT_FOUND,
    )
    .await;
}

async fn api_keys_default_the_owner_to_their_creator(app: TestApp) {
    let admin = app.signup("activity-key").await;
    let (_, key) = app.api_key(&admin, &["read", "write"]).await;
    let (_, read_only) = app.api_key(&admin, &["read"]).await;
    let response = app
        .request(Method::POST, "/api/v1/activities")
        .header("x-api-key", &key)
        .json(&json!({"type": "call", "subject": "x"}))
        .send()
        .await
        .unwrap();
    // Without an owner, the key's creator owns what it creates.
    let defaulted = expect_status(response, StatusCode::CREATED).await;
    assert_eq!(defaulted["owner_id"], json!(admin.user_id));
    let response = app
        .request(Method::POST, "/api/v1/activities")
        .header("x-api-key", &read_only)
        .json(&json!({"type": "call", "subject": "x", "owner_id": admin.user_id}))
        .send()
        .await
        .unwrap();
    expect_problem(response, StatusCode::FORBIDDEN).await;
    let response = app
        .request(Method::POST, "/api/v1/activities")
        .header("x-api-key", &key)
        .json(&json!({"type": "call", "subject": "x", "owner_id": admin.user_id}))
        .send()
        .await
        .unwrap();
    expect_status(response, StatusCode::CREATED).await;
    let response = app
        .request(Method::GET, "/api/v1/activities")
        .header("x-api-key", &read_only)
        .send()
        .await
        .unwrap();
    assert_eq!(
        expect_status(response, StatusCode::OK).await["data"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
}

async fn completing_an_activity_on_a_lead_raises_its_score_by_the_rules_points(app: TestApp) {
    let admin = app.signup("activity-score").await;
    create_rule(
        &app,
        &admin,
        json!({"name": "Engaged", "field": "activities_done", "operator": "gte", "value": "1", "points": 30,
               "active": true}),
    )
    .await;
    let lead = create_lead(&app, &admin, json!({"first_name": "Ada"})).await;
    assert_eq!(lead["score"], 0);
    let activity = create_activity(
        &app,
        &admin,
        json!({"type": "call", "subject": "Call", "lead_id": lead["id"]}),
    )
    .await;
    assert_eq!(get(&app, &admin, &lead_path(&lead)).await["score"], 0);
    let response = app
        .post(
            &format!("{}/complete", activity_path(&activity)),
            &admin.access_token,
            &json!({}),
        )
        .send()
        .await
        .unwrap();
    expect_status(response, StatusCode::OK).await;
    let scored = get(&app, &admin, &lead_path(&lead)).await;
    assert_eq!(scored["score"], 30);
    assert_eq!(app.scalar("select score from leads").await, 30);
    // Trashing the done activity takes the points away again.
    let response = app
        .delete(&activity_path(&activity), &admin.access_token)
        .send()
        .await
        .unwrap();
    expect_status(response, StatusCode::NO_CONTENT).await;
    assert_eq!(app.scalar("select score from leads").await, 0);
    // A call logged as done scores at once.
    create_activity(
        &app,
        &admin,
        json!({"type": "call", "subject": "Logged", "lead_id": lead["id"], "done_at": rfc(hours_from_now(-1))}),
    )
    .await;
    assert_eq!(app.scalar("select score from leads").await, 30);
}

async fn twenty_parallel_patches_without_if_match_all_apply(app: TestApp) {
    // Arrange
    let admin = app.signup("parallel-activity-patches").await;
    let activity = create_activity(&app, &admin, json!({"type": "task", "subject": "Busy"})).await;
    let path = format!("/api/v1/activities/{}", activity["id"].as_str().unwrap());

    // Act
    let requests = (0..20)
        .map(|i| app.patch(&path, &admin.access_token, &json!({"subject": format!("Busy {i}")})))
        .collect();
    let statuses = statuses_in_parallel(requests).await;

    // Assert: each write applies after the one before it; none is refused.
    assert_eq!(statuses, vec![StatusCode::OK; 20]);
    let stored = expect_status(
        app.get(&path, &admin.access_token).send().await.unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(stored["version"], 21);
}

async fn the_activity_marks_follow_trashing_restoring_relinking_and_parallel_writes(app: TestApp) {
    let admin = app.signup("activity-marks").await;
    let first_lead = create_lead(&app, &admin, json!({"first_name": "Ada"})).await;
    let second_lead = create_lead(&app, &admin, json!({"first_name": "Bea"})).await;
    let pipeline = sales_pipeline(&app, &admin).await;
    let deal = create_deal(
        &app,
        &admin,
        json!({"title": "Big", "amount": "10.00", "pipeline_id": pipeline["id"]}),
    )
    .await;
    let marked = |column: &'static str, table: &'static str| {
        let app = &app;
        async move {
            app.scalar(&format!("select count(*) from {table} where {column} is not null"))
                .await
        }
    };
    assert_eq!(app.scalar(STALE_ACTIVITY_MARKS).await, 0);
    assert_eq!(marked("first_activity_at", "leads").await, 0);

    let recent = create_activity(
        &app,
        &admin,
        json!({"type": "call", "subject": "Now", "lead_id": first_lead["id"], "deal_id": deal["id"]}),
    )
    .await;
    let old = create_activity(
        &app,
        &admin,
        json!({"type": "call", "subject": "Old", "lead_id": first_lead["id"], "deal_id": deal["id"],
               "created_at": rfc(hours_from_now(-100)), "done_at": rfc(hours_from_now(-99))}),
    )
    .await;
    assert_eq!(app.scalar(STALE_ACTIVITY_MARKS).await, 0);
    assert_eq!(
        (
            marked("first_activity_at", "leads").await,
            marked("live_activity_at", "deals").await
        ),
        (1, 1)
    );

    // Trashing the recent one moves the deal's mark back to the old one's completion.
    let response = app
        .delete(&activity_path(&recent), &admin.access_token)
        .send()
        .await
        .unwrap();
    expect_status(response, StatusCode::NO_CONTENT).await;
    assert_eq!(app.scalar(STALE_ACTIVITY_MARKS).await, 0);
    let restore = app
        .post(
            &format!("{}/restore", activity_path(&recent)),
            &admin.access_token,
            &json!({}),
        )
        .send()
        .await
        .unwrap();
    expect_status(restore, StatusCode::OK).await;
    assert_eq!(app.scalar(STALE_ACTIVITY_MARKS).await, 0);

    // Relinking the old one to the second lead moves both leads' marks.
    let relinked = app
        .patch(
            &activity_path(&old),
            &admin.access_token,
            &json!({"lead_id": second_lead["id"]}),
        )
        .send()
        .await
        .unwrap();
    expect_status(relinked, StatusCode::OK).await;
    assert_eq!(app.scalar(STALE_ACTIVITY_MARKS).await, 0);
    assert_eq!(marked("first_activity_at", "leads").await, 2);

    // Twenty writes at once on the same lead and deal: none is lost.
    let requests = (0..20)
        .map(|i| {
            app.post(
                "/api/v1/activities",
                &admin.access_token,
                &json!({"type": "task", "subject": format!("Task {i}"), "lead_id": second_lead["id"],
                        "deal_id": deal["id"], "created_at": rfc(hours_from_now(-200 + i))}),
            )
        })
        .collect();
    let statuses = statuses_in_parallel(requests).await;
    assert!(statuses.iter().all(|s| *s == StatusCode::CREATED), "{statuses:?}");
    assert_eq!(app.scalar(STALE_ACTIVITY_MARKS).await, 0);
}
