use pipewise_tests::{
    expect_problem, expect_status, invalid_fields, on_both_backends, statuses_in_parallel, uuid, Session, TestApp,
};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::accounts::create_account;
use crate::deals::create_deal;
use crate::leads::create_lead;
use crate::pipelines::sales_pipeline;

on_both_backends!(
    notes_are_written_read_changed_and_deleted,
    a_note_names_exactly_one_live_record,
    invalid_note_bodies_are_named,
    notes_filter_by_record_and_page_by_id,
    reps_read_notes_of_what_they_see_and_change_only_their_own,
    api_key_notes_have_no_author,
    a_stale_if_match_changes_no_note,
    twenty_parallel_patches_without_if_match_all_apply,
);

pub async fn create_note(app: &TestApp, session: &Session, body: Value) -> Value {
    let response = app
        .post("/api/v1/notes", &session.access_token, &body)
        .send()
        .await
        .unwrap();
    expect_status(response, StatusCode::CREATED).await
}

fn note_path(note: &Value) -> String {
    format!("/api/v1/notes/{}", note["id"].as_str().unwrap())
}

async fn list(app: &TestApp, session: &Session, query: &str) -> Vec<Value> {
    let response = app
        .get(&format!("/api/v1/notes{query}"), &session.access_token)
        .send()
        .await
        .unwrap();
    expect_status(response, StatusCode::OK).await["data"]
        .as_array()
        .unwrap()
        .clone()
}

fn bodies(rows: &[Value]) -> Vec<&str> {
    rows.iter().map(|r| r["body"].as_str().unwrap()).collect()
}

async fn notes_are_written_read_changed_and_deleted(app: TestApp) {
    let admin = app.signup("note").await;
    let lead = create_lead(&app, &admin, json!({"first_name": "Ada"})).await;
    let response = app
        .post(
            "/api/v1/notes",
            &admin.access_token,
            &json!({"body": "  Wants 50 seats.\nCall back Monday.  ", "lead_id": lead["id"]}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["etag"], "\"1\"");
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let note = expect_status(response, StatusCode::CREATED).await;
    assert_eq!(location, note_path(&note));
    assert_eq!(note["body"], "Wants 50 seats.\nCall back Monday.");
    assert_eq!(note["lead_id"], lead["id"]);
    assert!(note["contact_id"].is_null() && note["account_id"].is_null() && note["deal_id"].is_null());
    assert_eq!(uuid(&note["author_user_id"]), admin.user_id);
    let read = expect_status(
        app.get(&location, &admin.access_token).send().await.unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(read, note);

    let response = app
        .patch(&location, &admin.access_token, &json!({"body": "Wants 60 seats."}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["etag"], "\"2\"");
    let changed = expect_status(response, StatusCode::OK).await;
    assert_eq!(changed["body"], "Wants 60 seats.");
    // Only the body changes.
    let response = app
        .patch(
            &location,
            &admin.access_token,
            &json!({"body": "x", "lead_id": Uuid::now_v7()}),
        )
        .send()
        .await
        .unwrap();
    let problem = expect_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(invalid_fields(&problem), ["lead_id"]);

    let response = app.delete(&location, &admin.access_token).send().await.unwrap();
    expect_status(response, StatusCode::NO_CONTENT).await;
    expect_problem(
        app.get(&location, &admin.access_token).send().await.unwrap(),
        StatusCode::NOT_FOUND,
    )
    .await;
    expect_problem(
        app.delete(&location, &admin.access_token).send().await.unwrap(),
        StatusCode::NOT_FOUND,
    )
    .await;
    assert!(list(&app, &admin, "").await.is_empty());
    assert_eq!(
        app.scalar("select count(*) from notes where deleted_at is not null and body = 'Wants 60 seats.'")
            .await,
        1
    );
}

async fn a_note_names_exactly_one_live_record(app: TestApp) {
    let admin = app.signup("note-one").await;
    let lead = create_lead(&app, &admin, json!({"first_name": "Ada"})).await;
    let account = create_account(&app, &admin, json!({"name": "Acme"})).await;
    for body in [
        json!({"body": "none"}),
        json!({"body": "two", "lead_id": lead["id"], "account_id": account["id"]}),
    ] {
        let response = app
            .post("/api/v1/notes", &admin.access_token, &body)
            .send()
            .await
            .unwrap();
        let problem = expect_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
        let mut fields = invalid_fields(&problem);
        fields.sort();
        assert_eq!(fields, ["account_id", "contact_id", "deal_id", "lead_id"], "{body}");
    }
    for field in ["lead_id", "contact_id", "account_id", "deal_id"] {
        let response = app
            .post(
                "/api/v1/notes",
                &admin.access_token,
                &json!({"body": "ghost", field: Uuid::now_v7()}),
            )
            .send()
            .await
            .unwrap();
        let problem = expect_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert_eq!(invalid_fields(&problem), [field]);
    }
    let other = app.signup("note-one-other").await;
    let foreign = create_lead(&app, &other, json!({"first_name": "Foreign"})).await;
    let response = app
        .post(
            "/api/v1/notes",
            &admin.access_token,
            &json!({"body": "foreign", "lead_id": foreign["id"]}),
        )
        .send()
        .await
        .unwrap();
    let problem = expect_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(invalid_fields(&problem), ["lead_id"]);
    assert_eq!(app.scalar("select count(*) from notes").await, 0);

    let contact = expect_status(
        app.post("/api/v1/contacts", &admin.access_token, &json!({"first_name": "Bob"}))
            .send()
            .await
            .unwrap(),
        StatusCode::CREATED,
    )
    .await;
    let pipeline = sales_pipeline(&app, &admin).await;
    let deal = create_deal(
        &app,
        &admin,
        json!({"title": "Big", "amount": "1.00", "pipeline_id": pipeline["id"]}),
    )
    .await;
    for (field, record) in [
        ("lead_id", &lead),
        ("contact_id", &contact),
        ("account_id", &account),
        ("deal_id", &deal),
    ] {
        let note = create_note(&app, &admin, json!({"body": field, field: record["id"]})).await;
        assert_eq!(note[field], record["id"]);
    }
    assert_eq!(app.scalar("select count(*) from notes").await, 4);
}

async fn invalid_note_bodies_are_named(app: TestApp) {
    let admin = app.signup("note-body").await;
    let account = create_account(&app, &admin, json!({"name": "Acme"})).await;
    for body in [json!(" \n "), json!("x".repeat(10_001)), json!("bell\u{7}"), json!(5)] {
        let response = app
            .post(
                "/api/v1/notes",
                &admin.access_token,
                &json!({"body": body, "account_id": account["id"]}),
            )
            .send()
            .await
            .unwrap();
        let problem = expect_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert_eq!(invalid_fields(&problem), ["body"]);
    }
    let note = create_note(
        &app,
        &admin,
        json!({"body": "é".repeat(10_000), "account_id": account["id"]}),
    )
    .await;
    let response = app
        .patch(&note_path(&note), &admin.access_token, &json!({"body": ""}))
        .send()
        .await
        .unwrap();
    let problem = expect_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(invalid_fields(&problem), ["body"]);
    let response = app
        .request(Method::POST, "/api/v1/notes")
        .bearer_auth(&admin.access_token)
        .body("body=x")
        .send()
        .await
        .unwrap();
    expect_problem(response, StatusCode::UNSUPPORTED_MEDIA_TYPE).await;
    assert_eq!(app.scalar("select version from notes").await, 1);
}

async fn notes_filter_by_record_and_page_by_id(app: TestApp) {
    let admin = app.signup("note-list").await;
    let account = create_account(&app, &admin, json!({"name": "Acme"})).await;
    let lead = create_lead(&app, &admin, json!({"first_name": "Ada"})).await;
    for i in 0..5 {
        create_note(
            &app,
            &admin,
            json!({"body": format!("a{i}"), "account_id": account["id"]}),
        )
        .await;
    }
    create_note(&app, &admin, json!({"body": "lead", "lead_id": lead["id"]})).await;
    assert_eq!(
        bodies(
            &list(
                &app,
                &admin,
                &format!("?account_id={}", account["id"].as_str().unwrap())
            )
            .await
        ),
        ["a0", "a1", "a2", "a3", "a4"]
    );
    assert_eq!(
        bodies(&list(&app, &admin, &format!("?lead_id={}", lead["id"].as_str().unwrap())).await),
        ["lead"]
    );
    assert!(list(&app, &admin, &format!("?contact_id={}", Uuid::now_v7()))
        .await
        .is_empty());
    assert!(list(&app, &admin, &format!("?deal_id={}", Uuid::now_v7()))
        .await
        .is_empty());
    let mut walked = vec![];
    let mut path = "/api/v1/notes?limit=4".to_owned();
    loop {
        let page = expect_status(
            app.get(&path, &admin.access_token).send().await.unwrap(),
            StatusCode::OK,
        )
        .await;
        walked.extend(bodies(page["data"].as_array().unwrap()).into_iter().map(str::to_owned));
        match page["next_cursor"].as_str() {
            Some(c) => path = format!("/api/v1/notes?limit=4&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(walked, ["a0", "a1", "a2", "a3", "a4", "lead"]);
    for query in ["?colour=red", "?cursor=nope", "?limit=0", "?lead_id=x"] {
        let response = app
            .get(&format!("/api/v1/notes{query}"), &admin.access_token)
            .send()
            .await
            .unwrap();
        expect_problem(response, StatusCode::BAD_REQUEST).await;
    }
}

async fn reps_read_notes_of_what_they_see_and_change_only_their_own(app: TestApp) {
    let admin = app.signup("note-rep").await;
    let rep = app.add_user(&admin, "rep").await;
    let other_rep = app.add_user(&admin, "rep").await;
    let manager = app.add_user(&admin, "manager").await;
    let account = create_account(&app, &admin, json!({"name": "Acme"})).await;
    let admins_lead = create_lead(&app, &admin, json!({"first_name": "Admin's"})).await;
    let reps_lead = create_lead(&app, &rep, json!({"first_name": "Rep's"})).await;
    let on_account = create_note(
        &app,
        &other_rep,
        json!({"body": "account", "account_id": account["id"]}),
    )
    .await;
    let on_admins_lead = create_note(
        &app,
        &admin,
        json!({"body": "admin lead", "lead_id": admins_lead["id"]}),
    )
    .await;
    let on_reps_lead = create_note(&app, &rep, json!({"body": "rep lead", "lead_id": reps_lead["id"]})).await;

    let mut seen = bodies(&list(&app, &rep, "").await)
        .into_iter()
        .map(str::to_owned)
        .collect::<Vec<_>>();
    seen.sort();
    assert_eq!(seen, ["account", "rep lead"]);
    assert_eq!(list(&app, &manager, "").await.len(), 3);
    expect_problem(
        app.get(&note_path(&on_admins_lead), &rep.access_token)
            .send()
            .await
            .unwrap(),
        StatusCode::NOT_FOUND,
    )
    .await;
    expect_problem(
        app.patch(&note_path(&on_admins_lead), &rep.access_token, &json!({"body": "x"}))
            .send()
            .await
            .unwrap(),
        StatusCode::NOT_FOUND,
    )
    .await;
    // Another rep's note on a shared account: readable, not changeable.
    expect_status(
        app.get(&note_path(&on_account), &rep.access_token)
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    expect_problem(
        app.patch(&note_path(&on_account), &rep.access_token, &json!({"body": "x"}))
            .send()
            .await
            .unwrap(),
        StatusCode::FORBIDDEN,
    )
    .await;
    expect_problem(
        app.delete(&note_path(&on_account), &rep.access_token)
            .send()
            .await
            .unwrap(),
        StatusCode::FORBIDDEN,
    )
    .await;
    // A rep may not attach a note to a lead they cannot see.
    let response = app
        .post(
            "/api/v1/notes",
            &rep.access_token,
            &json!({"body": "x", "lead_id": admins_lead["id"]}),
        )
        .send()
        .await
        .unwrap();
    let problem = expect_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(invalid_fields(&problem), ["lead_id"]);
    expect_status(
        app.patch(&note_path(&on_reps_lead), &rep.access_token, &json!({"body": "mine"}))
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    // Managers change anyone's.
    expect_status(
        app.patch(
            &note_path(&on_account),
            &manager.access_token,
            &json!({"body": "edited"}),
        )
        .send()
        .await
        .unwrap(),
        StatusCode::OK,
    )
    .await;
    let other = app.signup("note-rep-other").await;
    expect_problem(
        app.get(&note_path(&on_account), &other.access_token)
            .send()
            .await
            .unwrap(),
        StatusCode::NOT_FOUND,
    )
    .await;
    assert!(list(&app, &other, "").await.is_empty());
}

async fn api_key_notes_have_no_author(app: TestApp) {
    let admin = app.signup("note-key").await;
    let account = create_account(&app, &admin, json!({"name": "Acme"})).await;
    let (_, key) = app.api_key(&admin, &["read", "write"]).await;
    let response = app
        .request(Method::POST, "/api/v1/notes")
        .header("x-api-key", &key)
        .json(&json!({"body": "from the integration", "account_id": account["id"]}))
        .send()
        .await
        .unwrap();
    let note = expect_status(response, StatusCode::CREATED).await;
    assert!(note["author_user_id"].is_null());
    assert_eq!(
        app.scalar("select count(*) from notes where author_user_id is null")
            .await,
        1
    );
}

async fn a_stale_if_match_changes_no_note(app: TestApp) {
    let admin = app.signup("note-etag").await;
    let account = create_account(&app, &admin, json!({"name": "Acme"})).await;
    let note = create_note(&app, &admin, json!({"body": "v1", "account_id": account["id"]})).await;
    let response = app
        .patch(&note_path(&note), &admin.access_token, &json!({"body": "v2"}))
        .header("if-match", "\"2\"")
        .send()
        .await
        .unwrap();
    expect_problem(response, StatusCode::PRECONDITION_FAILED).await;
    let response = app
        .delete(&note_path(&note), &admin.access_token)
        .header("if-match", "\"2\"")
        .send()
        .await
        .unwrap();
    expect_problem(response, StatusCode::PRECONDITION_FAILED).await;
    assert_eq!(app.scalar("select version from notes").await, 1);
    let response = app
        .patch(&note_path(&note), &admin.access_token, &json!({"body": "v2"}))
        .header("if-match", "\"1\"")
        .send()
        .await
        .unwrap();
    expect_status(response, StatusCode::OK).await;
    assert_eq!(app.scalar("select version from notes").await, 2);
}

async fn twenty_parallel_patches_without_if_match_all_apply(app: TestApp) {
    // Arrange
    let admin = app.signup("parallel-note-patches").await;
    let account = create_account(&app, &admin, json!({"name": "Noted Ltd"})).await;
    let note = create_note(&app, &admin, json!({"body": "Busy", "account_id": account["id"]})).await;

    // Act
    let requests = (0..20)
        .map(|i| {
            app.patch(
                &note_path(&note),
                &admin.access_token,
                &json!({"body": format!("Busy {i}")}),
            )
        })
        .collect();
    let statuses = statuses_in_parallel(requests).await;

    // Assert: each write applies after the one before it; none is refused.
    assert_eq!(statuses, vec![StatusCode::OK; 20]);
    let stored = expect_status(
        app.get(&note_path(&note), &admin.access_token).send().await.unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(stored["version"], 21);
}
