use std::collections::HashSet;

use chrono::{DateTime, Duration, DurationRound, Utc};
use pipewise_tests::{
    expect_problem, expect_status, invalid_fields, on_both_backends, statuses_in_parallel, uuid, Session, TestApp,
    STALE_STINT_LINKS,
};
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::accounts::create_account;
use crate::pipelines::{create_pipeline, sales_pipeline, stage_id};

on_both_backends!(
    deals_are_created_with_defaults_and_read_back,
    invalid_deal_fields_are_named,
    deals_move_win_lose_and_reopen_with_an_event_each,
    moving_to_another_pipelines_stage_moves_the_deal_there_in_one_event,
    patch_changes_fields_but_never_stage_status_or_closing,
    backdating_is_for_admins_and_import_keys_and_keeps_history_in_order,
    a_command_without_at_keeps_history_in_order_when_clocks_disagree,
    trashed_deals_leave_lists_until_restored_and_only_admins_purge,
    deals_filter_by_every_field,
    unknown_filters_sorts_and_cursors_are_refused,
    deal_lists_walk_every_row_once_while_rows_are_inserted,
    concurrent_changes_with_one_etag_keep_exactly_one,
    parallel_commands_on_one_deal_answer_412_or_409_and_never_404,
    reps_see_and_change_only_their_own_deals,
    api_keys_read_and_write_deals_by_scope,
    another_organizations_deals_are_not_found,
    twenty_parallel_patches_without_if_match_all_apply,
);

/// Creates a deal as `session` and returns its body.
pub async fn create_deal(app: &TestApp, session: &Session, body: Value) -> Value {
    let response = app
        .post("/api/v1/deals", &session.access_token, &body)
        .send()
        .await
        .unwrap();
    expect_status(response, StatusCode::CREATED).await
}

pub fn deal_path(deal: &Value) -> String {
    format!("/api/v1/deals/{}", deal["id"].as_str().unwrap())
}

/// The deal's event log, oldest first.
pub async fn deal_events(app: &TestApp, session: &Session, deal: &Value) -> Vec<Value> {
    let response = app
        .get(&format!("{}/events", deal_path(deal)), &session.access_token)
        .send()
        .await
        .unwrap();
    let page = expect_status(response, StatusCode::OK).await;
    assert!(page["next_cursor"].is_null());
    page["data"].as_array().unwrap().clone()
}

async fn get_deal(app: &TestApp, session: &Session, deal: &Value) -> Value {
    expect_status(
        app.get(&deal_path(deal), &session.access_token).send().await.unwrap(),
        StatusCode::OK,
    )
    .await
}

/// `POST /deals/{id}/{name}` (move, win, lose, reopen) as `session`.
async fn command(app: &TestApp, session: &Session, deal: &Value, name: &str, body: Value) -> Response {
    app.post(&format!("{}/{name}", deal_path(deal)), &session.access_token, &body)
        .send()
        .await
        .unwrap()
}

async fn list(app: &TestApp, session: &Session, query: &str) -> Vec<Value> {
    let response = app
        .get(&format!("/api/v1/deals{query}"), &session.access_token)
        .send()
        .await
        .unwrap();
    expect_status(response, StatusCode::OK).await["data"]
        .as_array()
        .unwrap()
        .clone()
}

fn keyed(app: &TestApp, method: Method, path: &str, key: &str) -> RequestBuilder {
    app.request(method, path).header("x-api-key", key)
}

fn titles(rows: &[Value]) -> Vec<&str> {
    let mut titles: Vec<&str> = rows.iter().map(|r| r["title"].as_str().unwrap()).collect();
    titles.sort();
    titles
}

fn kinds(events: &[Value]) -> Vec<&str> {
    events.iter().map(|e| e["kind"].as_str().unwrap()).collect()
}

pub fn time(value: &Value) -> DateTime<Utc> {
    value
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not a time: {value}"))
}

/// An instant `days` from now, in whole seconds (both backends keep them exactly).
fn days_from_now(days: i64) -> DateTime<Utc> {
    (Utc::now() + Duration::days(days))
        .duration_trunc(Duration::seconds(1))
        .unwrap()
}

fn etag(response: &Response) -> String {
    response.headers()["etag"].to_str().unwrap().to_owned()
}

async fn deals_are_created_with_defaults_and_read_back(app: TestApp) {
    let admin = app.signup("create").await;
    let sales = sales_pipeline(&app, &admin).await;

    let response = app
        .post(
            "/api/v1/deals",
            &admin.access_token,
            &json!({"title": "  Acme 50 seats ", "amount": "12500", "pipeline_id": sales["id"]}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(etag(&response), "\"1\"");
    let deal = expect_status(response, StatusCode::CREATED).await;
    assert_eq!(deal["title"], "Acme 50 seats");
    assert_eq!(deal["amount"], "12500.00");
    assert_eq!(deal["currency"], "USD", "the organization's base currency");
    assert_eq!(deal["pipeline_id"], sales["id"]);
    assert_eq!(deal["stage_id"], stage_id(&sales, 0).as_str(), "the first stage");
    assert_eq!(deal["status"], "open");
    assert_eq!(uuid(&deal["owner_id"]), admin.user_id, "the caller");
    assert!(deal["account_id"].is_null() && deal["source"].is_null() && deal["probability"].is_null());
    assert_eq!(deal["contacts"], json!([]));
    assert_eq!(deal["weighted_amount"], "1250.00", "10% in Prospecting");
    assert_eq!(deal["decision_maker_identified"], false);
    assert!(deal["expected_close_date"].is_null());
    assert_eq!(deal["forecast_category"], "pipeline");
    assert!(deal["lost_reason"].is_null() && deal["closed_at"].is_null());
    assert_eq!(deal["version"], 1);
    assert_eq!(deal["stage_entered_at"], deal["created_at"]);
    let created_at = time(&deal["created_at"]);
    assert!((Utc::now() - created_at).num_seconds().abs() < 60);

    assert_eq!(get_deal(&app, &admin, &deal).await, deal);
    let events = deal_events(&app, &admin, &deal).await;
    assert_eq!(kinds(&events), ["created"]);
    assert_eq!(events[0]["at"], deal["created_at"]);
    assert_eq!(events[0]["stage_id"], deal["stage_id"]);
    assert_eq!(events[0]["pipeline_id"], sales["id"]);
    assert!(events[0]["from_stage_id"].is_null());
    assert_eq!(uuid(&events[0]["actor_user_id"]), admin.user_id);
    assert!(events[0]["actor_api_key_id"].is_null());
    assert_eq!(
        app.scalar(
            "select count(*) from deals
             where title = 'Acme 50 seats' and title_key = 'acme 50 seats' and amount_minor = 1250000
               and currency = 'USD' and status = 'open' and forecast_category = 'pipeline'
               and version = 1 and closed_at is null and deleted_at is null"
        )
        .await,
        1
    );
    assert_eq!(
        app.scalar("select count(*) from deal_events where kind = 'created' and actor_user_id is not null")
            .await,
        1
    );

    // Every field given.
    let rep = app.add_user(&admin, "rep").await;
    let deal = create_deal(
        &app,
        &admin,
        json!({
            "title": "Globex renewal",
            "amount": "1000.5",
            "currency": "EUR",
            "pipeline_id": sales["id"],
            "stage_id": stage_id(&sales, 3),
            "owner_id": rep.user_id,
            "source": " referral ",
            "probability": 55,
            "expected_close_date": "2026-09-30",
            "forecast_category": "best_case",
        }),
    )
    .await;
    assert_eq!(
        (
            &deal["amount"],
            &deal["currency"],
            &deal["source"],
            &deal["probability"]
        ),
        (&json!("1000.50"), &json!("EUR"), &json!("referral"), &json!(55))
    );
    assert_eq!(deal["stage_id"], stage_id(&sales, 3).as_str());
    assert_eq!(uuid(&deal["owner_id"]), rep.user_id);
    assert_eq!(
        deal["weighted_amount"], "550.28",
        "the deal's own probability wins over the stage's"
    );
    assert_eq!(deal["expected_close_date"], "2026-09-30");
    assert_eq!(deal["forecast_category"], "best_case");
    assert_eq!(
        app.scalar(
            "select count(*) from deals where amount_minor = 100050 and currency = 'EUR' and probability = 55
               and source = 'referral' and forecast_category = 'best_case'"
        )
        .await,
        1
    );

    // A new base currency becomes the default.
    expect_status(
        app.patch(
            "/api/v1/organization",
            &admin.access_token,
            &json!({"base_currency": "GBP"}),
        )
        .send()
        .await
        .unwrap(),
        StatusCode::OK,
    )
    .await;
    let deal = create_deal(
        &app,
        &admin,
        json!({"title": "Initech", "amount": "1", "pipeline_id": sales["id"]}),
    )
    .await;
    assert_eq!(deal["currency"], "GBP");
}

async fn invalid_deal_fields_are_named(app: TestApp) {
    let admin = app.signup("invalid").await;
    let sales = sales_pipeline(&app, &admin).await;
    let other = create_pipeline(&app, &admin, "Other", &[("Elsewhere", 50)]).await;
    let gone = app.add_user(&admin, "rep").await;
    expect_status(
        app.delete(&format!("/api/v1/users/{}", gone.user_id), &admin.access_token)
            .send()
            .await
            .unwrap(),
        StatusCode::NO_CONTENT,
    )
    .await;
    let pipeline_id = sales["id"].clone();
    let contact = Uuid::now_v7();
    let cases = [
        (
            json!({"title": " ", "amount": "-1", "currency": "usd", "probability": 101,
                   "source": "s".repeat(101), "pipeline_id": pipeline_id}),
            vec!["amount", "currency", "probability", "source", "title"],
        ),
        (
            json!({"title": "T", "amount": "1.999", "pipeline_id": pipeline_id}),
            vec!["amount"],
        ),
        (json!({"title": "T", "amount": "1"}), vec!["pipeline_id"]),
        (
            json!({"title": "T", "amount": "1", "pipeline_id": pipeline_id, "status": "won"}),
            vec!["status"],
        ),
        (
            json!({"title": "T", "amount": "1", "pipeline_id": pipeline_id, "forecast_category": "maybe"}),
            vec!["forecast_category"],
        ),
        (
            json!({"title": "T", "amount": "1", "pipeline_id": pipeline_id,
                   "contacts": [{"contact_id": contact}, {"contact_id": contact, "buying_role": "champion"}]}),
            vec!["contacts"],
        ),
        (
            json!({"title": "T", "amount": "1", "pipeline_id": pipeline_id, "stage_id": stage_id(&other, 0)}),
            vec!["stage_id"],
        ),
        (
            json!({"title": "T", "amount": "1", "pipeline_id": pipeline_id, "stage_id": Uuid::now_v7()}),
            vec!["stage_id"],
        ),
        (
            json!({"title": "T", "amount": "1", "pipeline_id": Uuid::now_v7()}),
            vec!["pipeline_id"],
        ),
        (
            json!({"title": "T", "amount": "1", "pipeline_id": pipeline_id, "owner_id": gone.user_id}),
            vec!["owner_id"],
        ),
        (
            json!({"title": "T", "amount": "1", "pipeline_id": pipeline_id, "owner_id": Uuid::now_v7()}),
            vec!["owner_id"],
        ),
        (
            json!({"title": "T", "amount": "1", "pipeline_id": pipeline_id, "contacts": [{"contact_id": contact}]}),
            vec!["contacts"],
        ),
    ];
    for (body, fields) in cases {
        let response = app
            .post("/api/v1/deals", &admin.access_token, &body)
            .send()
            .await
            .unwrap();
        let problem = expect_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
        let mut named = invalid_fields(&problem);
        named.sort();
        assert_eq!(named, fields, "body: {body}");
    }
    assert_eq!(app.scalar("select count(*) from deals").await, 0);
    assert_eq!(app.scalar("select count(*) from deal_events").await, 0);

    let deal = create_deal(
        &app,
        &admin,
        json!({"title": "T", "amount": "1", "pipeline_id": pipeline_id}),
    )
    .await;
    for body in [
        json!({}),
        json!({"reason": ""}),
        json!({"reason": "   "}),
        json!({"reason": "r".repeat(201)}),
    ] {
        let problem = expect_problem(
            command(&app, &admin, &deal, "lose", body.clone()).await,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
        assert_eq!(invalid_fields(&problem), ["reason"], "body: {body}");
    }
    for (name, body, field) in [
        ("move", json!({}), "stage_id"),
        ("move", json!({"stage_id": Uuid::now_v7()}), "stage_id"),
        ("move", json!({"stage_id": "stage-2"}), "stage_id"),
        ("reopen", json!({"stage": null}), "stage"),
        ("win", json!({"at": "yesterday"}), "at"),
    ] {
        let problem = expect_problem(
            command(&app, &admin, &deal, name, body.clone()).await,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
        assert_eq!(invalid_fields(&problem), [field], "{name}: {body}");
    }
    assert_eq!(get_deal(&app, &admin, &deal).await, deal, "nothing changed");
    assert_eq!(app.scalar("select count(*) from deal_events").await, 1);
}

async fn deals_move_win_lose_and_reopen_with_an_event_each(app: TestApp) {
    let admin = app.signup("lifecycle").await;
    let sales = sales_pipeline(&app, &admin).await;
    let deal = create_deal(
        &app,
        &admin,
        json!({"title": "Lifecycle", "amount": "200.00", "pipeline_id": sales["id"]}),
    )
    .await;
    let (first, third) = (stage_id(&sales, 0), stage_id(&sales, 2));

    let response = command(&app, &admin, &deal, "move", json!({"stage_id": third})).await;
    assert_eq!(etag(&response), "\"2\"");
    let moved = expect_status(response, StatusCode::OK).await;
    assert_eq!(moved["stage_id"], third.as_str());
    assert_eq!(moved["status"], "open");
    assert_eq!(moved["version"], 2);
    assert_eq!(moved["weighted_amount"], "80.00");
    assert!(time(&moved["stage_entered_at"]) >= time(&deal["stage_entered_at"]));
    expect_problem(
        command(&app, &admin, &deal, "move", json!({"stage_id": third})).await,
        StatusCode::CONFLICT,
    )
    .await;
    expect_problem(
        command(&app, &admin, &deal, "reopen", json!({})).await,
        StatusCode::CONFLICT,
    )
    .await;

    let won = expect_status(command(&app, &admin, &deal, "win", json!({})).await, StatusCode::OK).await;
    assert_eq!(won["status"], "won");
    assert_eq!(won["stage_id"], third.as_str(), "a win keeps the stage");
    assert_eq!(won["stage_entered_at"], moved["stage_entered_at"]);
    assert!(won["lost_reason"].is_null());
    let won_event = deal_events(&app, &admin, &deal).await.pop().unwrap();
    assert_eq!(won_event["kind"], "won");
    assert_eq!(won["closed_at"], won_event["at"], "closed when won");
    // A closed deal neither moves nor closes again.
    for (name, body) in [
        ("win", json!({})),
        ("lose", json!({"reason": "Too late"})),
        ("move", json!({"stage_id": first})),
    ] {
        expect_problem(command(&app, &admin, &deal, name, body).await, StatusCode::CONFLICT).await;
    }
    assert_eq!(get_deal(&app, &admin, &deal).await, won);

    let reopened = expect_status(command(&app, &admin, &deal, "reopen", json!({})).await, StatusCode::OK).await;
    assert_eq!(reopened["status"], "open");
    assert_eq!(reopened["stage_id"], third.as_str(), "back in the stage it closed in");
    assert!(reopened["closed_at"].is_null());

    let lost = expect_status(
        command(
            &app,
            &admin,
            &deal,
            "lose",
            json!({"reason": "  Went with a competitor "}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(lost["status"], "lost");
    assert_eq!(lost["lost_reason"], "Went with a competitor");
    let lost_event = deal_events(&app, &admin, &deal).await.pop().unwrap();
    assert_eq!(lost["closed_at"], lost_event["at"]);
    assert_eq!(lost_event["lost_reason"], "Went with a competitor");

    let response = command(&app, &admin, &deal, "reopen", json!({"stage_id": first})).await;
    assert_eq!(etag(&response), "\"6\"");
    let reopened = expect_status(response, StatusCode::OK).await;
    assert_eq!(reopened["status"], "open");
    assert_eq!(reopened["stage_id"], first.as_str());
    assert!(reopened["closed_at"].is_null() && reopened["lost_reason"].is_null());

    let events = deal_events(&app, &admin, &deal).await;
    assert_eq!(
        kinds(&events),
        ["created", "moved", "won", "reopened", "lost", "reopened"]
    );
    let stages: Vec<&str> = events.iter().map(|e| e["stage_id"].as_str().unwrap()).collect();
    assert_eq!(stages, [&first, &third, &third, &third, &third, &first]);
    assert_eq!(events[1]["from_stage_id"], first.as_str());
    assert!(events[3]["from_stage_id"].is_null());
    assert_eq!(events[5]["from_stage_id"], third.as_str());
    assert!(events.iter().all(|e| uuid(&e["actor_user_id"]) == admin.user_id));
    assert!(events.windows(2).all(|w| time(&w[0]["at"]) <= time(&w[1]["at"])));

    assert_eq!(app.scalar("select count(*) from deal_events").await, 6);
    assert_eq!(
        app.scalar("select count(*) from deal_events where kind = 'moved'")
            .await,
        1
    );
    assert_eq!(
        app.scalar("select count(*) from deal_events where kind = 'reopened'")
            .await,
        2
    );
    assert_eq!(
        app.scalar("select count(*) from deal_events where kind = 'lost' and lost_reason = 'Went with a competitor'")
            .await,
        1
    );
    assert_eq!(
        app.scalar(
            "select count(*) from deals
             where status = 'open' and closed_at is null and lost_reason is null and version = 6"
        )
        .await,
        1
    );
}

async fn moving_to_another_pipelines_stage_moves_the_deal_there_in_one_event(app: TestApp) {
    let admin = app.signup("crosspipe").await;
    let sales = sales_pipeline(&app, &admin).await;
    let partners = create_pipeline(&app, &admin, "Partners", &[("Intro", 20), ("Agreement", 70)]).await;
    let deal = create_deal(
        &app,
        &admin,
        json!({"title": "Switcher", "amount": "100.00", "pipeline_id": sales["id"]}),
    )
    .await;

    let moved = expect_status(
        command(&app, &admin, &deal, "move", json!({"stage_id": stage_id(&partners, 1)})).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(moved["pipeline_id"], partners["id"]);
    assert_eq!(moved["stage_id"], stage_id(&partners, 1).as_str());
    assert_eq!(moved["weighted_amount"], "70.00");

    let events = deal_events(&app, &admin, &deal).await;
    assert_eq!(kinds(&events), ["created", "moved"]);
    assert_eq!(events[1]["pipeline_id"], partners["id"]);
    assert_eq!(events[1]["stage_id"], stage_id(&partners, 1).as_str());
    assert_eq!(events[1]["from_stage_id"], stage_id(&sales, 0).as_str());
    assert_eq!(app.scalar("select count(*) from deal_events").await, 2);
    assert_eq!(
        app.scalar("select count(*) from deal_events where kind = 'moved'")
            .await,
        1
    );

    let in_partners = list(
        &app,
        &admin,
        &format!("?pipeline_id={}", partners["id"].as_str().unwrap()),
    )
    .await;
    assert_eq!(titles(&in_partners), ["Switcher"]);
    assert!(
        list(&app, &admin, &format!("?pipeline_id={}", sales["id"].as_str().unwrap()))
            .await
            .is_empty()
    );

    // Reopening into another pipeline's stage moves it back, too.
    expect_status(command(&app, &admin, &deal, "win", json!({})).await, StatusCode::OK).await;
    let reopened = expect_status(
        command(&app, &admin, &deal, "reopen", json!({"stage_id": stage_id(&sales, 4)})).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(reopened["pipeline_id"], sales["id"]);
    assert_eq!(reopened["stage_id"], stage_id(&sales, 4).as_str());
    let events = deal_events(&app, &admin, &deal).await;
    assert_eq!(kinds(&events), ["created", "moved", "won", "reopened"]);
    assert_eq!(events[3]["pipeline_id"], sales["id"]);
}

async fn patch_changes_fields_but_never_stage_status_or_closing(app: TestApp) {
    let admin = app.signup("patch").await;
    let sales = sales_pipeline(&app, &admin).await;
    let rep = app.add_user(&admin, "rep").await;
    let deal = create_deal(
        &app,
        &admin,
        json!({"title": "Before", "amount": "100.00", "pipeline_id": sales["id"], "source": "web"}),
    )
    .await;
    let path = deal_path(&deal);

    let response = app
        .patch(
            &path,
            &admin.access_token,
            &json!({
                "title": "After",
                "amount": "300.00",
                "currency": "CHF",
                "owner_id": rep.user_id,
                "probability": 50,
                "expected_close_date": "2026-12-01",
                "forecast_category": "commit",
            }),
        )
        .header("if-match", "\"1\"")
        .send()
        .await
        .unwrap();
    assert_eq!(etag(&response), "\"2\"");
    let changed = expect_status(response, StatusCode::OK).await;
    assert_eq!(changed["title"], "After");
    assert_eq!(changed["amount"], "300.00");
    assert_eq!(changed["currency"], "CHF");
    assert_eq!(uuid(&changed["owner_id"]), rep.user_id);
    assert_eq!(changed["weighted_amount"], "150.00");
    assert_eq!(changed["expected_close_date"], "2026-12-01");
    assert_eq!(changed["forecast_category"], "commit");
    assert_eq!(changed["source"], "web", "absent fields stay");
    assert_eq!(changed["stage_id"], deal["stage_id"]);

    let cleared = expect_status(
        app.patch(
            &path,
            &admin.access_token,
            &json!({"probability": null, "source": null, "expected_close_date": null}),
        )
        .send()
        .await
        .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert!(cleared["probability"].is_null() && cleared["source"].is_null());
    assert!(cleared["expected_close_date"].is_null());
    assert_eq!(cleared["weighted_amount"], "30.00", "the stage's probability again");
    assert_eq!(
        app.scalar(
            "select count(*) from deals where title_key = 'after' and amount_minor = 30000 and currency = 'CHF'
               and probability is null and source is null and expected_close_date is null
               and forecast_category = 'commit' and version = 3"
        )
        .await,
        1
    );

    for body in [
        json!({"stage_id": stage_id(&sales, 2)}),
        json!({"status": "won"}),
        json!({"closed_at": "2026-01-01T00:00:00Z"}),
        json!({"pipeline_id": sales["id"]}),
        json!({"lost_reason": "no"}),
        json!({"created_at": "2026-01-01T00:00:00Z"}),
    ] {
        let field = body.as_object().unwrap().keys().next().unwrap().clone();
        let problem = expect_problem(
            app.patch(&path, &admin.access_token, &body).send().await.unwrap(),
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
        assert_eq!(invalid_fields(&problem), [field.as_str()]);
        assert_eq!(problem["errors"][0]["code"], "unknown_field");
    }
    for (body, field) in [
        (json!({"title": ""}), "title"),
        (json!({"amount": "1.234"}), "amount"),
        (json!({"currency": "EURO"}), "currency"),
        (json!({"probability": -5}), "probability"),
        (json!({"owner_id": Uuid::now_v7()}), "owner_id"),
    ] {
        let problem = expect_problem(
            app.patch(&path, &admin.access_token, &body).send().await.unwrap(),
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
        assert_eq!(invalid_fields(&problem), [field], "body: {body}");
    }
    assert_eq!(get_deal(&app, &admin, &deal).await, cleared, "nothing changed");

    // Contacts are replaced as a whole; the account is set and cleared.
    let account = create_account(&app, &admin, json!({"name": "Linked"})).await;
    let decider = create_contact(
        &app,
        &admin,
        json!({"first_name": "Dee", "email": "dee@linked.example"}),
    )
    .await;
    let user = create_contact(
        &app,
        &admin,
        json!({"first_name": "Uma", "email": "uma@linked.example"}),
    )
    .await;
    let linked = expect_status(
        app.patch(
            &path,
            &admin.access_token,
            &json!({"account_id": account["id"],
                    "contacts": [{"contact_id": decider["id"], "buying_role": "decision_maker"},
                                 {"contact_id": user["id"], "buying_role": "user"}]}),
        )
        .send()
        .await
        .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(linked["account_id"], account["id"]);
    assert_eq!(linked["contacts"].as_array().unwrap().len(), 2);
    assert_eq!(linked["decision_maker_identified"], true);
    let relinked = expect_status(
        app.patch(
            &path,
            &admin.access_token,
            &json!({"contacts": [{"contact_id": user["id"], "buying_role": "champion"}]}),
        )
        .send()
        .await
        .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        relinked["contacts"],
        json!([{"contact_id": user["id"], "buying_role": "champion"}])
    );
    assert_eq!(relinked["decision_maker_identified"], false);
    assert_eq!(relinked["account_id"], account["id"], "absent fields stay");
    assert_eq!(
        app.scalar("select count(*) from deal_contacts where buying_role = 'champion'")
            .await,
        1
    );
    assert_eq!(app.scalar("select count(*) from deal_contacts").await, 1);
    let unlinked = expect_status(
        app.patch(&path, &admin.access_token, &json!({"account_id": null, "contacts": []}))
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert!(unlinked["account_id"].is_null());
    assert_eq!(unlinked["contacts"], json!([]));
    assert_eq!(app.scalar("select count(*) from deal_contacts").await, 0);
    assert_eq!(
        app.scalar("select count(*) from deals where account_id is null").await,
        1
    );

    // Field changes are not stage or status changes: no event.
    assert_eq!(kinds(&deal_events(&app, &admin, &deal).await), ["created"]);
}

async fn backdating_is_for_admins_and_import_keys_and_keeps_history_in_order(app: TestApp) {
    let admin = app.signup("backdate").await;
    let manager = app.add_user(&admin, "manager").await;
    let rep = app.add_user(&admin, "rep").await;
    let (import_key_id, import_key) = app.api_key(&admin, &["read", "write", "import"]).await;
    let (_, write_key) = app.api_key(&admin, &["read", "write"]).await;
    let sales = sales_pipeline(&app, &admin).await;
    let past = days_from_now(-30);
    let at = |days: i64| (past + Duration::days(days)).to_rfc3339();
    let body = |owner: Uuid| {
        json!({"title": "Imported", "amount": "10.00", "pipeline_id": sales["id"], "owner_id": owner,
               "created_at": past.to_rfc3339()})
    };

    for session in [&rep, &manager] {
        expect_problem(
            app.post("/api/v1/deals", &session.access_token, &body(session.user_id))
                .send()
                .await
                .unwrap(),
            StatusCode::FORBIDDEN,
        )
        .await;
    }
    expect_problem(
        keyed(&app, Method::POST, "/api/v1/deals", &write_key)
            .json(&body(rep.user_id))
            .send()
            .await
            .unwrap(),
        StatusCode::FORBIDDEN,
    )
    .await;
    assert_eq!(app.scalar("select count(*) from deals").await, 0);

    let future = json!({"title": "Future", "amount": "1", "pipeline_id": sales["id"],
                        "created_at": days_from_now(1).to_rfc3339()});
    let problem = expect_problem(
        app.post("/api/v1/deals", &admin.access_token, &future)
            .send()
            .await
            .unwrap(),
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(invalid_fields(&problem), ["created_at"]);

    let deal = create_deal(&app, &admin, body(rep.user_id)).await;
    assert_eq!(time(&deal["created_at"]), past);
    assert_eq!(time(&deal["stage_entered_at"]), past);
    let events = deal_events(&app, &admin, &deal).await;
    assert_eq!(time(&events[0]["at"]), past);

    // The rep owns it, but may not rewrite its history.
    let third = stage_id(&sales, 2);
    for session in [&rep, &manager] {
        expect_problem(
            command(&app, session, &deal, "move", json!({"stage_id": third, "at": at(1)})).await,
            StatusCode::FORBIDDEN,
        )
        .await;
    }
    expect_problem(
        keyed(&app, Method::POST, &format!("{}/win", deal_path(&deal)), &write_key)
            .json(&json!({"at": at(1)}))
            .send()
            .await
            .unwrap(),
        StatusCode::FORBIDDEN,
    )
    .await;
    for when in [at(-1), days_from_now(1).to_rfc3339()] {
        let problem = expect_problem(
            command(&app, &admin, &deal, "move", json!({"stage_id": third, "at": when})).await,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
        assert_eq!(invalid_fields(&problem), ["at"]);
    }

    let moved = expect_status(
        command(&app, &admin, &deal, "move", json!({"stage_id": third, "at": at(2)})).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(time(&moved["stage_entered_at"]), past + Duration::days(2));
    // Not before the previous event, even if after creation.
    let problem = expect_problem(
        keyed(&app, Method::POST, &format!("{}/win", deal_path(&deal)), &import_key)
            .json(&json!({"at": at(1)}))
            .send()
            .await
            .unwrap(),
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(invalid_fields(&problem), ["at"]);
    let won = expect_status(
        keyed(&app, Method::POST, &format!("{}/win", deal_path(&deal)), &import_key)
            .json(&json!({"at": at(5)}))
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(time(&won["closed_at"]), past + Duration::days(5));
    let reopened = expect_status(
        command(&app, &admin, &deal, "reopen", json!({"at": at(6)})).await,
        StatusCode::OK,
    )
    .await;
    assert!(reopened["closed_at"].is_null());
    let lost = expect_status(
        command(&app, &admin, &deal, "lose", json!({"reason": "Budget", "at": at(6)})).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        time(&lost["closed_at"]),
        past + Duration::days(6),
        "the same instant as the last event is fine"
    );

    let events = deal_events(&app, &admin, &deal).await;
    assert_eq!(kinds(&events), ["created", "moved", "won", "reopened", "lost"]);
    let times: Vec<DateTime<Utc>> = events.iter().map(|e| time(&e["at"])).collect();
    assert_eq!(times, [0, 2, 5, 6, 6].map(|d| past + Duration::days(d)).to_vec());
    assert_eq!(uuid(&events[2]["actor_api_key_id"]), import_key_id);
    assert!(events[2]["actor_user_id"].is_null());

    // An import key creates backdated deals for a named owner.
    let imported = expect_status(
        keyed(&app, Method::POST, "/api/v1/deals", &import_key)
            .json(&body(rep.user_id))
            .send()
            .await
            .unwrap(),
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(time(&imported["created_at"]), past);
    let events = deal_events(&app, &admin, &imported).await;
    assert_eq!(uuid(&events[0]["actor_api_key_id"]), import_key_id);
    assert_eq!(app.scalar("select count(*) from deals").await, 2);
    assert_eq!(app.scalar("select count(*) from deal_events").await, 6);
}

async fn a_command_without_at_keeps_history_in_order_when_clocks_disagree(app: TestApp) {
    let admin = app.signup("skew").await;
    let rep = app.add_user(&admin, "rep").await;
    let sales = sales_pipeline(&app, &admin).await;
    let deal = create_deal(
        &app,
        &rep,
        json!({"title": "Skewed", "amount": "1.00", "pipeline_id": sales["id"]}),
    )
    .await;
    // Another API process whose clock runs a few seconds ahead wrote the last event.
    let ahead = (Utc::now() + Duration::seconds(5))
        .duration_trunc(Duration::seconds(1))
        .unwrap();
    let sql = format!(
        "update deal_events set at = '{}' where kind = 'created' returning cast(1 as bigint)",
        ahead.to_rfc3339()
    );
    assert_eq!(app.scalar(&sql).await, 1);

    // A rep sends no `at`: the command is not refused over a field it never sent.
    let won = expect_status(command(&app, &rep, &deal, "win", json!({})).await, StatusCode::OK).await;
    let events = deal_events(&app, &rep, &deal).await;
    assert_eq!(kinds(&events), ["created", "won"]);
    assert!(time(&events[1]["at"]) >= ahead, "the log stays in order");
    assert_eq!(won["closed_at"], events[1]["at"]);
    // An explicit `at` is still checked against the previous event.
    expect_status(command(&app, &admin, &deal, "reopen", json!({})).await, StatusCode::OK).await;
    let problem = expect_problem(
        command(&app, &admin, &deal, "win", json!({"at": Utc::now().to_rfc3339()})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(invalid_fields(&problem), ["at"]);

    // Deleting a stage moves its deals after their last event, too.
    let moved_out = create_deal(
        &app,
        &admin,
        json!({"title": "Moved out", "amount": "1.00", "pipeline_id": sales["id"], "stage_id": stage_id(&sales, 1)}),
    )
    .await;
    app.scalar(&sql).await;
    let response = app
        .delete(
            &format!(
                "/api/v1/stages/{}?move_deals_to={}",
                stage_id(&sales, 1),
                stage_id(&sales, 2)
            ),
            &admin.access_token,
        )
        .send()
        .await
        .unwrap();
    expect_status(response, StatusCode::NO_CONTENT).await;
    let events = deal_events(&app, &admin, &moved_out).await;
    assert_eq!(kinds(&events), ["created", "moved"]);
    assert!(time(&events[1]["at"]) >= ahead);
    assert_eq!(
        get_deal(&app, &admin, &moved_out).await["stage_entered_at"],
        events[1]["at"]
    );
}

async fn trashed_deals_leave_lists_until_restored_and_only_admins_purge(app: TestApp) {
    let admin = app.signup("trash").await;
    let manager = app.add_user(&admin, "manager").await;
    let rep = app.add_user(&admin, "rep").await;
    let (_, key) = app.api_key(&admin, &["read", "write", "import"]).await;
    let sales = sales_pipeline(&app, &admin).await;
    let deal = create_deal(
        &app,
        &rep,
        json!({"title": "Trashed", "amount": "1.00", "pipeline_id": sales["id"]}),
    )
    .await;
    let kept = create_deal(
        &app,
        &admin,
        json!({"title": "Kept", "amount": "1.00", "pipeline_id": sales["id"]}),
    )
    .await;
    let path = deal_path(&deal);

    expect_problem(
        app.delete(&path, &rep.access_token)
            .header("if-match", "\"9\"")
            .send()
            .await
            .unwrap(),
        StatusCode::PRECONDITION_FAILED,
    )
    .await;
    expect_status(
        app.delete(&path, &rep.access_token)
            .header("if-match", "\"1\"")
            .send()
            .await
            .unwrap(),
        StatusCode::NO_CONTENT,
    )
    .await;
    assert_eq!(
        app.scalar("select count(*) from deals where deleted_at is not null")
            .await,
        1
    );
    for session in [&rep, &admin] {
        expect_problem(
            app.get(&path, &session.access_token).send().await.unwrap(),
            StatusCode::NOT_FOUND,
        )
        .await;
        assert!(!titles(&list(&app, session, "").await).contains(&"Trashed"));
    }
    for request in [
        app.get(&format!("{path}/events"), &admin.access_token),
        app.patch(&path, &admin.access_token, &json!({"title": "Ghost"})),
        app.post(&format!("{path}/win"), &admin.access_token, &json!({})),
        app.delete(&path, &admin.access_token),
    ] {
        expect_problem(request.send().await.unwrap(), StatusCode::NOT_FOUND).await;
    }

    let response = app
        .post(&format!("{path}/restore"), &rep.access_token, &json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(etag(&response), "\"3\"");
    let restored = expect_status(response, StatusCode::OK).await;
    assert_eq!(restored["title"], "Trashed");
    assert_eq!(restored["stage_id"], deal["stage_id"]);
    assert_eq!(titles(&list(&app, &rep, "").await), ["Trashed"]);
    assert_eq!(titles(&list(&app, &admin, "").await), ["Kept", "Trashed"]);
    expect_problem(
        app.post(&format!("{path}/restore"), &rep.access_token, &json!({}))
            .send()
            .await
            .unwrap(),
        StatusCode::NOT_FOUND,
    )
    .await;
    assert_eq!(
        app.scalar("select count(*) from deals where deleted_at is not null")
            .await,
        0
    );

    // Purging is for admins only.
    let purge = format!("{path}?purge=true");
    for session in [&rep, &manager] {
        expect_problem(
            app.delete(&purge, &session.access_token).send().await.unwrap(),
            StatusCode::FORBIDDEN,
        )
        .await;
    }
    expect_problem(
        keyed(&app, Method::DELETE, &purge, &key).send().await.unwrap(),
        StatusCode::FORBIDDEN,
    )
    .await;
    expect_status(command(&app, &rep, &deal, "win", json!({})).await, StatusCode::OK).await;
    assert_eq!(app.scalar("select count(*) from deal_events").await, 3);

    expect_problem(
        app.delete(&purge, &admin.access_token)
            .header("if-match", "\"3\"")
            .send()
            .await
            .unwrap(),
        StatusCode::PRECONDITION_FAILED,
    )
    .await;
    assert_eq!(
        app.scalar("select count(*) from deals where title = 'Trashed'").await,
        1
    );
    expect_status(
        app.delete(&purge, &admin.access_token)
            .header("if-match", "\"4\"")
            .send()
            .await
            .unwrap(),
        StatusCode::NO_CONTENT,
    )
    .await;
    expect_problem(
        app.get(&path, &admin.access_token).send().await.unwrap(),
        StatusCode::NOT_FOUND,
    )
    .await;
    expect_problem(
        app.post(&format!("{path}/restore"), &admin.access_token, &json!({}))
            .send()
            .await
            .unwrap(),
        StatusCode::NOT_FOUND,
    )
    .await;
    expect_problem(
        app.delete(&purge, &admin.access_token).send().await.unwrap(),
        StatusCode::NOT_FOUND,
    )
    .await;
    assert_eq!(app.scalar("select count(*) from deals").await, 1);
    assert_eq!(
        app.scalar("select count(*) from deals where title = 'Trashed'").await,
        0
    );
    assert_eq!(
        app.scalar("select count(*) from deal_events").await,
        1,
        "its events went with it"
    );
    assert_eq!(
        app.scalar("select count(*) from audit_log where action = 'deal.purged'")
            .await,
        1
    );
    assert_eq!(get_deal(&app, &admin, &kept).await, kept);
}

/// Creates a contact as `session` and returns its body.
async fn create_contact(app: &TestApp, session: &Session, body: Value) -> Value {
    let response = app
        .post("/api/v1/contacts", &session.access_token, &body)
        .send()
        .await
        .unwrap();
    expect_status(response, StatusCode::CREATED).await
}

async fn deals_filter_by_every_field(app: TestApp) {
    let admin = app.signup("filters").await;
    let rep = app.add_user(&admin, "rep").await;
    let sales = sales_pipeline(&app, &admin).await;
    let other = create_pipeline(&app, &admin, "Other", &[("Elsewhere", 50)]).await;
    let account = create_account(&app, &admin, json!({"name": "Acme"})).await;
    let decider = create_contact(&app, &admin, json!({"first_name": "Dee", "email": "dee@acme.example"})).await;
    let helper = create_contact(&app, &admin, json!({"first_name": "Hal", "email": "hal@acme.example"})).await;
    let (ten_days_ago, five_days_ago) = (days_from_now(-10), days_from_now(-5));

    let alpha = create_deal(
        &app,
        &admin,
        json!({"title": "Alpha one", "amount": "100.00", "pipeline_id": sales["id"],
               "account_id": account["id"], "source": "referral", "expected_close_date": "2026-01-15",
               "contacts": [{"contact_id": decider["id"], "buying_role": "decision_maker"},
                            {"contact_id": helper["id"], "buying_role": "influencer"}],
               "created_at": ten_days_ago.to_rfc3339()}),
    )
    .await;
    assert_eq!(alpha["decision_maker_identified"], true);
    assert_eq!(alpha["account_id"], account["id"]);
    assert_eq!(alpha["contacts"].as_array().unwrap().len(), 2);
    let two = create_deal(
        &app,
        &admin,
        json!({"title": "alpha two", "amount": "250.00", "pipeline_id": sales["id"],
               "stage_id": stage_id(&sales, 1), "owner_id": rep.user_id, "source": "web",
               "expected_close_date": "2026-03-01", "created_at": five_days_ago.to_rfc3339()}),
    )
    .await;
    assert_eq!(two["decision_maker_identified"], false);
    let beta = create_deal(
        &app,
        &admin,
        json!({"title": "Beta", "amount": "1000.00", "pipeline_id": other["id"],
               "contacts": [{"contact_id": helper["id"], "buying_role": "champion"}]}),
    )
    .await;
    assert_eq!(beta["decision_maker_identified"], false);
    expect_status(command(&app, &admin, &beta, "win", json!({})).await, StatusCode::OK).await;
    assert_eq!(app.scalar("select count(*) from deal_contacts").await, 3);

    let id = |v: &Value| v["id"].as_str().unwrap().to_owned();
    let at = |t: DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let seven_days_ago = at(days_from_now(-7));
    let cases: Vec<(String, Vec<&str>)> = vec![
        (String::new(), vec!["Alpha one", "Beta", "alpha two"]),
        (format!("pipeline_id={}", id(&sales)), vec!["Alpha one", "alpha two"]),
        (format!("pipeline_id={}", id(&other)), vec!["Beta"]),
        (format!("stage_id={}", stage_id(&sales, 1)), vec!["alpha two"]),
        ("status=won".into(), vec!["Beta"]),
        ("status=open".into(), vec!["Alpha one", "alpha two"]),
        ("status=lost".into(), vec![]),
        (format!("owner_id={}", rep.user_id), vec!["alpha two"]),
        (format!("owner_id={}", admin.user_id), vec!["Alpha one", "Beta"]),
        (format!("account_id={}", id(&account)), vec!["Alpha one"]),
        (format!("contact_id={}", id(&decider)), vec!["Alpha one"]),
        (format!("contact_id={}", id(&helper)), vec!["Alpha one", "Beta"]),
        ("source=referral".into(), vec!["Alpha one"]),
        ("q=ALPHA".into(), vec!["Alpha one", "alpha two"]),
        ("q=alpha%20t".into(), vec!["alpha two"]),
        ("q=lpha".into(), vec![]),
        (format!("created_from={seven_days_ago}"), vec!["Beta", "alpha two"]),
        (format!("created_to={seven_days_ago}"), vec!["Alpha one"]),
        (
            format!("created_from={}&created_to={}", at(ten_days_ago), at(five_days_ago)),
            vec!["Alpha one"],
        ),
        ("expected_close_from=2026-02-01".into(), vec!["alpha two"]),
        ("expected_close_to=2026-02-01".into(), vec!["Alpha one"]),
        (
            "expected_close_from=2026-01-15&expected_close_to=2026-03-01".into(),
            vec!["Alpha one", "alpha two"],
        ),
        ("amount_min=250".into(), vec!["Beta", "alpha two"]),
        ("amount_max=250.00".into(), vec!["Alpha one", "alpha two"]),
        ("amount_min=100.01&amount_max=999.99".into(), vec!["alpha two"]),
        (format!("status=open&owner_id={}", admin.user_id), vec!["Alpha one"]),
    ];
    for (query, expected) in cases {
        let rows = list(&app, &admin, &format!("?{query}")).await;
        assert_eq!(titles(&rows), expected, "query: {query}");
    }
    // A rep's filters apply within their own deals.
    assert_eq!(titles(&list(&app, &rep, "?q=alpha").await), ["alpha two"]);
    assert!(list(&app, &rep, &format!("?owner_id={}", admin.user_id))
        .await
        .is_empty());
}

async fn unknown_filters_sorts_and_cursors_are_refused(app: TestApp) {
    let admin = app.signup("refused").await;
    let sales = sales_pipeline(&app, &admin).await;
    for title in ["A", "B", "C"] {
        create_deal(
            &app,
            &admin,
            json!({"title": title, "amount": "1", "pipeline_id": sales["id"]}),
        )
        .await;
    }
    let response = app
        .get("/api/v1/deals?limit=1&sort=title", &admin.access_token)
        .send()
        .await
        .unwrap();
    let page = expect_status(response, StatusCode::OK).await;
    let cursor = page["next_cursor"].as_str().unwrap().to_owned();
    for query in [
        "color=red".to_owned(),
        "sort=probability".to_owned(),
        "sort=--amount".to_owned(),
        "sort=".to_owned(),
        "status=pending".to_owned(),
        "amount_min=abc".to_owned(),
        "amount_max=-1".to_owned(),
        "pipeline_id=not-a-uuid".to_owned(),
        "created_from=yesterday".to_owned(),
        "expected_close_to=2026-13-01".to_owned(),
        "limit=0".to_owned(),
        "limit=201".to_owned(),
        "cursor=garbage".to_owned(),
        format!("sort=-title&cursor={cursor}"),
        format!("sort=amount&cursor={cursor}"),
        format!("cursor={cursor}"),
    ] {
        let response = app
            .get(&format!("/api/v1/deals?{query}"), &admin.access_token)
            .send()
            .await
            .unwrap();
        expect_problem(response, StatusCode::BAD_REQUEST).await;
    }
    let response = app
        .get(
            &format!("/api/v1/deals?limit=1&sort=title&cursor={cursor}"),
            &admin.access_token,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(
        titles(
            expect_status(response, StatusCode::OK).await["data"]
                .as_array()
                .unwrap()
        ),
        ["B"]
    );
}

/// The sort key of a listed deal for `field`, `None` when the deal has none.
fn sort_key(deal: &Value, field: &str) -> Option<String> {
    let value = &deal[field];
    match field {
        "created_at" | "updated_at" => Some(time(value).format("%Y-%m-%dT%H:%M:%S%.9f").to_string()),
        "amount" => {
            let minor: i64 = value.as_str().unwrap().replace('.', "").parse().unwrap();
            Some(format!("{minor:020}"))
        }
        "expected_close_date" => value.as_str().map(str::to_owned),
        "title" => Some(value.as_str().unwrap().to_lowercase()),
        other => panic!("no sort key for {other}"),
    }
}

/// Whether `b` may follow `a` in a list sorted by `field` (ties broken by id,
/// rows without a value last in either direction).
fn in_order(a: &Value, b: &Value, field: &str, descending: bool) -> bool {
    let (ka, kb) = (sort_key(a, field), sort_key(b, field));
    let (ia, ib) = (a["id"].as_str().unwrap(), b["id"].as_str().unwrap());
    match (ka, kb) {
        (Some(_), None) => true,
        (None, Some(_)) => false,
        (ka, kb) if descending => (ka, ia) > (kb, ib),
        (ka, kb) => (ka, ia) < (kb, ib),
    }
}

async fn deal_lists_walk_every_row_once_while_rows_are_inserted(app: TestApp) {
    let admin = app.signup("walk").await;
    let sales = sales_pipeline(&app, &admin).await;
    let seeds = [
        ("Mango", "500.00", Some("2026-05-01")),
        ("apple", "500.00", None),
        ("Kiwi", "500.00", Some("2026-05-01")),
        ("banana", "200.00", None),
        ("Cherry", "900.00", Some("2026-02-01")),
        ("date", "500.00", None),
        ("Fig", "200.00", Some("2026-05-01")),
    ];
    let mut existing = HashSet::new();
    for (title, amount, close) in seeds {
        let deal = create_deal(
            &app,
            &admin,
            json!({"title": title, "amount": amount, "pipeline_id": sales["id"], "expected_close_date": close}),
        )
        .await;
        existing.insert(deal["id"].as_str().unwrap().to_owned());
    }

    let mut inserted_count = 0;
    for sort in [
        "created_at",
        "-created_at",
        "updated_at",
        "-updated_at",
        "amount",
        "-amount",
        "expected_close_date",
        "-expected_close_date",
        "title",
        "-title",
    ] {
        let (descending, field) = match sort.strip_prefix('-') {
            Some(field) => (true, field),
            None => (false, sort),
        };
        let mut seen: Vec<Value> = Vec::new();
        let mut inserted = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let query = match &cursor {
                Some(c) => format!("?limit=2&sort={sort}&cursor={c}"),
                None => format!("?limit=2&sort={sort}"),
            };
            let response = app
                .get(&format!("/api/v1/deals{query}"), &admin.access_token)
                .send()
                .await
                .unwrap();
            let page = expect_status(response, StatusCode::OK).await;
            let rows = page["data"].as_array().unwrap();
            assert!(rows.len() <= 2);
            seen.extend(rows.iter().cloned());
            // Rows arrive mid-walk, with values equal to those already seen, or none.
            if seen.len() <= 4 {
                inserted_count += 1;
                let close = (inserted_count % 2 == 0).then_some("2026-05-01");
                let deal = create_deal(
                    &app,
                    &admin,
                    json!({"title": format!("Inserted {inserted_count}"), "amount": "500.00",
                           "pipeline_id": sales["id"], "expected_close_date": close}),
                )
                .await;
                inserted.push(deal["id"].as_str().unwrap().to_owned());
            }
            match page["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => break,
            }
        }
        let ids: Vec<String> = seen.iter().map(|d| d["id"].as_str().unwrap().to_owned()).collect();
        let unique: HashSet<String> = ids.iter().cloned().collect();
        assert_eq!(unique.len(), ids.len(), "sort {sort}: no repeats");
        assert!(
            existing.is_subset(&unique),
            "sort {sort}: every row that was there is listed"
        );
        assert!(
            seen.windows(2).all(|w| in_order(&w[0], &w[1], field, descending)),
            "sort {sort}: in order: {:?}",
            seen.iter().map(|d| d["title"].as_str().unwrap()).collect::<Vec<_>>()
        );
        if sort == "created_at" {
            assert!(
                inserted.iter().all(|id| unique.contains(id)),
                "rows created during an oldest-first walk show up at its end"
            );
        }
        existing.extend(inserted);
        assert_eq!(
            list(&app, &admin, "?limit=200").await.len(),
            existing.len(),
            "every row is listed"
        );
    }
}

async fn concurrent_changes_with_one_etag_keep_exactly_one(app: TestApp) {
    let admin = app.signup("race").await;
    let manager = app.add_user(&admin, "manager").await;
    let sales = sales_pipeline(&app, &admin).await;
    let deal = create_deal(
        &app,
        &admin,
        json!({"title": "Contested", "amount": "100.00", "pipeline_id": sales["id"]}),
    )
    .await;
    let path = deal_path(&deal);

    // Two clients change one deal with the same If-Match: one wins, the other is told.
    let (first, second) = tokio::join!(
        app.patch(&path, &admin.access_token, &json!({"title": "Renamed"}))
            .header("if-match", "\"1\"")
            .send(),
        app.patch(&path, &manager.access_token, &json!({"amount": "999.00"}))
            .header("if-match", "\"1\"")
            .send(),
    );
    let (first, second) = (first.unwrap(), second.unwrap());
    let mut statuses = [first.status(), second.status()];
    statuses.sort();
    assert_eq!(statuses, [StatusCode::OK, StatusCode::PRECONDITION_FAILED]);
    let (winner, loser_body) = if first.status() == StatusCode::OK {
        (first, json!({"amount": "999.00"}))
    } else {
        (second, json!({"title": "Renamed"}))
    };
    let tag = etag(&winner);
    assert_eq!(tag, "\"2\"");
    // The loser fetches again and retries: nothing is lost.
    let retried = expect_status(
        app.patch(&path, &admin.access_token, &loser_body)
            .header("if-match", &tag)
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        (&retried["title"], &retried["amount"]),
        (&json!("Renamed"), &json!("999.00"))
    );
    assert_eq!(retried["version"], 3);

    // Commands race the same way.
    let (won, lost) = tokio::join!(
        app.post(&format!("{path}/win"), &admin.access_token, &json!({}))
            .header("if-match", "\"3\"")
            .send(),
        app.post(
            &format!("{path}/lose"),
            &manager.access_token,
            &json!({"reason": "Price"})
        )
        .header("if-match", "\"3\"")
        .send(),
    );
    let (won, lost) = (won.unwrap(), lost.unwrap());
    let mut statuses = [won.status(), lost.status()];
    statuses.sort();
    assert_eq!(statuses, [StatusCode::OK, StatusCode::PRECONDITION_FAILED]);
    let closing = if won.status() == StatusCode::OK { "won" } else { "lost" };
    let current = get_deal(&app, &admin, &deal).await;
    assert_eq!(current["status"], closing);
    assert_eq!(current["version"], 4);
    assert_eq!(
        app.scalar("select count(*) from deal_events where kind in ('won', 'lost')")
            .await,
        1
    );

    // Stale tags are refused on every kind of change, and change nothing.
    for request in [
        app.patch(&path, &admin.access_token, &json!({"title": "Stale"})),
        app.post(&format!("{path}/reopen"), &admin.access_token, &json!({})),
        app.delete(&path, &admin.access_token),
    ] {
        let response = request.header("if-match", "\"3\"").send().await.unwrap();
        expect_problem(response, StatusCode::PRECONDITION_FAILED).await;
    }
    let malformed = app
        .post(&format!("{path}/reopen"), &admin.access_token, &json!({}))
        .header("if-match", "W/\"4\"")
        .send()
        .await
        .unwrap();
    expect_problem(malformed, StatusCode::BAD_REQUEST).await;
    assert_eq!(get_deal(&app, &admin, &deal).await, current);
    assert_eq!(app.scalar("select count(*) from deal_events").await, 2);

    let response = app
        .post(&format!("{path}/reopen"), &admin.access_token, &json!({}))
        .header("if-match", "\"4\"")
        .send()
        .await
        .unwrap();
    assert_eq!(etag(&response), "\"5\"");
    expect_status(response, StatusCode::OK).await;
}

async fn parallel_commands_on_one_deal_answer_412_or_409_and_never_404(app: TestApp) {
    // Arrange: a pipeline of 13 stages, so that 12 moves to 12 other stages are all legal.
    let admin = app.signup("parallel-commands").await;
    let names: Vec<String> = (0..13).map(|i| format!("Stage {i}")).collect();
    let stages: Vec<(&str, i64)> = names.iter().map(|n| (n.as_str(), 50)).collect();
    let pipeline = create_pipeline(&app, &admin, "Long", &stages).await;
    let new_deal = json!({"title": "Contested", "amount": "100.00", "pipeline_id": pipeline["id"]});
    let deal = create_deal(&app, &admin, new_deal.clone()).await;
    let move_to = |deal: &Value, position: usize| {
        app.post(
            &format!("{}/move", deal_path(deal)),
            &admin.access_token,
            &json!({"stage_id": stage_id(&pipeline, position)}),
        )
    };

    // Act: 12 moves with one If-Match.
    let requests = (1..13).map(|p| move_to(&deal, p).header("if-match", "\"1\"")).collect();
    let statuses = statuses_in_parallel(requests).await;

    // Assert: one wins, the others are told their version is stale.
    let mut expected = vec![StatusCode::OK];
    expected.extend([StatusCode::PRECONDITION_FAILED; 11]);
    assert_eq!(statuses, expected);
    assert_eq!(get_deal(&app, &admin, &deal).await["version"], 2);

    // Act: 12 moves without If-Match, each to another stage than the first one.
    let deal = create_deal(&app, &admin, new_deal.clone()).await;
    let statuses = statuses_in_parallel((1..13).map(|p| move_to(&deal, p)).collect()).await;

    // Assert: every legal move applies, one after the other.
    assert_eq!(statuses, vec![StatusCode::OK; 12]);
    assert_eq!(get_deal(&app, &admin, &deal).await["version"], 13);
    assert_eq!(
        kinds(&deal_events(&app, &admin, &deal).await)
            .iter()
            .filter(|k| **k == "moved")
            .count(),
        12
    );
    // Each event, written one after the other under the deal's lock, links to the next.
    assert_eq!(app.scalar(STALE_STINT_LINKS).await, 0);
    assert_eq!(app.stale_stint_durations().await, 0);

    // Act: 12 wins of one open deal without If-Match.
    let deal = create_deal(&app, &admin, new_deal).await;
    let path = deal_path(&deal);
    let requests = (0..12)
        .map(|_| app.post(&format!("{path}/win"), &admin.access_token, &json!({})))
        .collect();
    let statuses = statuses_in_parallel(requests).await;

    // Assert: one wins; winning a won deal is a conflict, not a missing deal.
    let mut expected = vec![StatusCode::OK];
    expected.extend([StatusCode::CONFLICT; 11]);
    assert_eq!(statuses, expected);
    let won = get_deal(&app, &admin, &deal).await;
    assert_eq!((&won["status"], &won["version"]), (&json!("won"), &json!(2)));
}

async fn reps_see_and_change_only_their_own_deals(app: TestApp) {
    let admin = app.signup("owners").await;
    let manager = app.add_user(&admin, "manager").await;
    let rep = app.add_user(&admin, "rep").await;
    let other_rep = app.add_user(&admin, "rep").await;
    let sales = sales_pipeline(&app, &admin).await;
    let body = |title: &str| json!({"title": title, "amount": "10.00", "pipeline_id": sales["id"]});

    let mine = create_deal(&app, &rep, body("Mine")).await;
    assert_eq!(uuid(&mine["owner_id"]), rep.user_id);
    let mut explicit = body("Explicit");
    explicit["owner_id"] = json!(rep.user_id);
    create_deal(&app, &rep, explicit).await;
    for owner in [other_rep.user_id, admin.user_id] {
        let mut theirs = body("Theirs");
        theirs["owner_id"] = json!(owner);
        expect_problem(
            app.post("/api/v1/deals", &rep.access_token, &theirs)
                .send()
                .await
                .unwrap(),
            StatusCode::FORBIDDEN,
        )
        .await;
    }
    let admins = create_deal(&app, &admin, body("Admin's")).await;
    assert_eq!(app.scalar("select count(*) from deals").await, 3);

    // Another rep's deal does not exist for them.
    let path = deal_path(&mine);
    for request in [
        app.get(&path, &other_rep.access_token),
        app.get(&format!("{path}/events"), &other_rep.access_token),
        app.patch(&path, &other_rep.access_token, &json!({"title": "Taken"})),
        app.post(
            &format!("{path}/move"),
            &other_rep.access_token,
            &json!({"stage_id": stage_id(&sales, 1)}),
        ),
        app.post(&format!("{path}/win"), &other_rep.access_token, &json!({})),
        app.post(
            &format!("{path}/lose"),
            &other_rep.access_token,
            &json!({"reason": "Mine now"}),
        ),
        app.post(&format!("{path}/reopen"), &other_rep.access_token, &json!({})),
        app.post(&format!("{path}/restore"), &other_rep.access_token, &json!({})),
        app.delete(&path, &other_rep.access_token),
        app.get(&deal_path(&admins), &rep.access_token),
        app.patch(&deal_path(&admins), &rep.access_token, &json!({"title": "Taken"})),
    ] {
        expect_problem(request.send().await.unwrap(), StatusCode::NOT_FOUND).await;
    }
    assert!(list(&app, &other_rep, "").await.is_empty());
    assert!(list(&app, &other_rep, &format!("?owner_id={}", rep.user_id))
        .await
        .is_empty());
    assert_eq!(titles(&list(&app, &rep, "").await), ["Explicit", "Mine"]);
    assert_eq!(get_deal(&app, &rep, &mine).await, mine);
    assert_eq!(kinds(&deal_events(&app, &rep, &mine).await), ["created"]);

    // The owner changes their deal; managers and admins change anyone's.
    let response = app
        .patch(&path, &rep.access_token, &json!({"title": "Still mine"}))
        .send()
        .await
        .unwrap();
    expect_status(response, StatusCode::OK).await;
    expect_status(
        command(&app, &rep, &mine, "move", json!({"stage_id": stage_id(&sales, 1)})).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        titles(&list(&app, &manager, "").await),
        ["Admin's", "Explicit", "Still mine"]
    );
    let response = app
        .patch(&path, &manager.access_token, &json!({"title": "Managed"}))
        .send()
        .await
        .unwrap();
    expect_status(response, StatusCode::OK).await;
    expect_status(command(&app, &manager, &mine, "win", json!({})).await, StatusCode::OK).await;
    let current = get_deal(&app, &admin, &mine).await;
    assert_eq!(
        (&current["title"], &current["status"]),
        (&json!("Managed"), &json!("won"))
    );
    assert_eq!(uuid(&current["owner_id"]), rep.user_id);
    assert_eq!(
        app.scalar("select count(*) from deals where title = 'Managed' and status = 'won'")
            .await,
        1
    );
    assert_eq!(app.scalar("select count(*) from deals where title = 'Taken'").await, 0);
    assert_eq!(app.scalar("select count(*) from deal_events").await, 5);
}

async fn api_keys_read_and_write_deals_by_scope(app: TestApp) {
    let admin = app.signup("keys").await;
    let rep = app.add_user(&admin, "rep").await;
    let (_, read_key) = app.api_key(&admin, &["read"]).await;
    let (write_key_id, write_key) = app.api_key(&admin, &["write"]).await;
    let sales = sales_pipeline(&app, &admin).await;
    let body = json!({"title": "From a key", "amount": "10.00", "pipeline_id": sales["id"], "owner_id": rep.user_id});

    expect_problem(
        keyed(&app, Method::POST, "/api/v1/deals", &read_key)
            .json(&body)
            .send()
            .await
            .unwrap(),
        StatusCode::FORBIDDEN,
    )
    .await;
    assert_eq!(app.scalar("select count(*) from deals").await, 0);
    let created = expect_status(
        keyed(&app, Method::POST, "/api/v1/deals", &write_key)
            .json(&body)
            .send()
            .await
            .unwrap(),
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(uuid(&created["owner_id"]), rep.user_id);
    let events = deal_events(&app, &admin, &created).await;
    assert_eq!(uuid(&events[0]["actor_api_key_id"]), write_key_id);
    assert!(events[0]["actor_user_id"].is_null());
    // Without an owner, the key's creator (the admin) owns the deal, as
    // partners of other CRMs' APIs expect.
    let mut ownerless = body.clone();
    ownerless.as_object_mut().unwrap().remove("owner_id");
    let defaulted = expect_status(
        keyed(&app, Method::POST, "/api/v1/deals", &write_key)
            .json(&ownerless)
            .send()
            .await
            .unwrap(),
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(uuid(&defaulted["owner_id"]), admin.user_id);

    let listed = expect_status(
        keyed(&app, Method::GET, "/api/v1/deals", &read_key)
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(titles(listed["data"].as_array().unwrap()), ["From a key", "From a key"]);
    let path = deal_path(&created);
    expect_status(
        keyed(&app, Method::GET, &path, &read_key).send().await.unwrap(),
        StatusCode::OK,
    )
    .await;
    for request in [
        keyed(&app, Method::GET, "/api/v1/deals", &write_key),
        keyed(&app, Method::PATCH, &path, &read_key).json(&json!({"title": "No"})),
        keyed(&app, Method::POST, &format!("{path}/win"), &read_key).json(&json!({})),
        keyed(&app, Method::DELETE, &path, &read_key),
    ] {
        expect_problem(request.send().await.unwrap(), StatusCode::FORBIDDEN).await;
    }
    let won = expect_status(
        keyed(&app, Method::POST, &format!("{path}/win"), &write_key)
            .json(&json!({}))
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(won["status"], "won");
    assert_eq!(
        app.scalar("select count(*) from deal_events where kind = 'won' and actor_api_key_id is not null")
            .await,
        1
    );
}

async fn another_organizations_deals_are_not_found(app: TestApp) {
    let a = app.signup("alpha").await;
    let b = app.signup("beta").await;
    let (_, b_key) = app.api_key(&b, &["read", "write", "import"]).await;
    let a_sales = sales_pipeline(&app, &a).await;
    let b_sales = sales_pipeline(&app, &b).await;
    let deal = create_deal(
        &app,
        &a,
        json!({"title": "Alpha's", "amount": "10.00", "pipeline_id": a_sales["id"]}),
    )
    .await;
    let path = deal_path(&deal);

    let absent = expect_problem(
        app.get(&format!("/api/v1/deals/{}", Uuid::now_v7()), &b.access_token)
            .send()
            .await
            .unwrap(),
        StatusCode::NOT_FOUND,
    )
    .await;
    let foreign = expect_problem(
        app.get(&path, &b.access_token).send().await.unwrap(),
        StatusCode::NOT_FOUND,
    )
    .await;
    assert_eq!(absent["detail"], foreign["detail"]);
    for request in [
        app.patch(&path, &b.access_token, &json!({"title": "Mine"})),
        app.post(
            &format!("{path}/move"),
            &b.access_token,
            &json!({"stage_id": stage_id(&b_sales, 1)}),
        ),
        app.post(&format!("{path}/win"), &b.access_token, &json!({})),
        app.post(&format!("{path}/lose"), &b.access_token, &json!({"reason": "Stolen"})),
        app.post(&format!("{path}/reopen"), &b.access_token, &json!({})),
        app.get(&format!("{path}/events"), &b.access_token),
        app.delete(&path, &b.access_token),
        app.delete(&format!("{path}?purge=true"), &b.access_token),
        keyed(&app, Method::GET, &path, &b_key),
        keyed(&app, Method::POST, &format!("{path}/win"), &b_key).json(&json!({})),
    ] {
        expect_problem(request.send().await.unwrap(), StatusCode::NOT_FOUND).await;
    }
    assert!(list(&app, &b, "").await.is_empty());

    // Restoring another organization's trashed deal finds nothing.
    expect_status(
        app.delete(&path, &a.access_token).send().await.unwrap(),
        StatusCode::NO_CONTENT,
    )
    .await;
    expect_problem(
        app.post(&format!("{path}/restore"), &b.access_token, &json!({}))
            .send()
            .await
            .unwrap(),
        StatusCode::NOT_FOUND,
    )
    .await;
    expect_status(
        app.post(&format!("{path}/restore"), &a.access_token, &json!({}))
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;

    // Nor do another organization's pipelines, stages or users exist for B's deals.
    let b_pipeline = b_sales["id"].clone();
    for (body, field) in [
        (json!({"pipeline_id": a_sales["id"]}), "pipeline_id"),
        (
            json!({"pipeline_id": a_sales["id"], "stage_id": stage_id(&a_sales, 1)}),
            "stage_id",
        ),
        (
            json!({"pipeline_id": b_pipeline, "stage_id": stage_id(&a_sales, 1)}),
            "stage_id",
        ),
        (json!({"pipeline_id": b_pipeline, "owner_id": a.user_id}), "owner_id"),
    ] {
        let mut body = body;
        body["title"] = json!("Cross");
        body["amount"] = json!("1");
        let problem = expect_problem(
            app.post("/api/v1/deals", &b.access_token, &body).send().await.unwrap(),
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
        assert_eq!(invalid_fields(&problem), [field], "body: {body}");
    }
    let b_deal = create_deal(
        &app,
        &b,
        json!({"title": "Beta's", "amount": "1", "pipeline_id": b_pipeline}),
    )
    .await;
    let problem = expect_problem(
        command(&app, &b, &b_deal, "move", json!({"stage_id": stage_id(&a_sales, 2)})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(invalid_fields(&problem), ["stage_id"]);

    let current = get_deal(&app, &a, &deal).await;
    assert_eq!(
        (&current["title"], &current["status"]),
        (&json!("Alpha's"), &json!("open"))
    );
    assert_eq!(current["stage_id"], deal["stage_id"]);
    assert_eq!(kinds(&deal_events(&app, &a, &deal).await), ["created"]);
    assert_eq!(app.scalar("select count(*) from deals").await, 2);
    assert_eq!(app.scalar("select count(*) from deal_events").await, 2);
}

async fn twenty_parallel_patches_without_if_match_all_apply(app: TestApp) {
    // Arrange
    let admin = app.signup("parallel-deal-patches").await;
    let sales = sales_pipeline(&app, &admin).await;
    let deal = create_deal(
        &app,
        &admin,
        json!({"title": "Busy", "amount": "100.00", "pipeline_id": sales["id"]}),
    )
    .await;

    // Act
    let requests = (0..20)
        .map(|i| {
            app.patch(
                &deal_path(&deal),
                &admin.access_token,
                &json!({"title": format!("Busy {i}")}),
            )
        })
        .collect();
    let statuses = statuses_in_parallel(requests).await;

    // Assert: each write applies after the one before it; none is refused.
    assert_eq!(statuses, vec![StatusCode::OK; 20]);
    assert_eq!(get_deal(&app, &admin, &deal).await["version"], 21);
}
