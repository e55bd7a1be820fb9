//! Merging duplicate contacts: their history moves onto the kept one, in one transaction.

use pipewise_tests::{expect_problem, expect_status, invalid_fields, on_both_backends, TestApp};
use reqwest::StatusCode;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::{
    activities::create_activity, contacts::create_contact, deals::create_deal, notes::create_note,
    pipelines::sales_pipeline,
};

on_both_backends!(
    merging_contacts_moves_their_history_onto_the_kept_one,
    a_bad_merge_is_refused_and_changes_nothing,
);

fn id(record: &Value) -> Uuid {
    pipewise_tests::uuid(&record["id"])
}

async fn merging_contacts_moves_their_history_onto_the_kept_one(app: TestApp) {
    let admin = app.signup("merge").await;
    let sales = sales_pipeline(&app, &admin).await;
    let keep = create_contact(&app, &admin, json!({"first_name": "Ada", "tags": ["a"]})).await;
    let dup = create_contact(
        &app,
        &admin,
        json!({"last_name": "Lovelace", "email": "ada@example.com", "phone": "123", "external_id": "crm-1",
               "tags": ["b"]}),
    )
    .await;
    let other = create_contact(&app, &admin, json!({"first_name": "Augusta", "title": "CTO"})).await;
    create_activity(
        &app,
        &admin,
        json!({"type": "call", "subject": "Intro", "contact_id": dup["id"]}),
    )
    .await;
    create_note(
        &app,
        &admin,
        json!({"body": "Met at the fair", "contact_id": other["id"]}),
    )
    .await;
    let both = create_deal(
        &app,
        &admin,
        json!({"title": "Both", "amount": "1", "pipeline_id": sales["id"],
               "contacts": [{"contact_id": keep["id"]}, {"contact_id": dup["id"], "buying_role": "champion"}]}),
    )
    .await;
    let one = create_deal(
        &app,
        &admin,
        json!({"title": "One", "amount": "1", "pipeline_id": sales["id"], "contacts": [{"contact_id": other["id"]}]}),
    )
    .await;

    let response = app
        .post(
            "/api/v1/contacts/merge",
            &admin.access_token,
            &json!({"keep_id": keep["id"], "merge_ids": [dup["id"], other["id"]]}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["etag"], "\"2\"");
    let merged = expect_status(response, StatusCode::OK).await;
    assert_eq!(merged["id"], keep["id"]);
    assert_eq!(
        (merged["first_name"].as_str(), merged["last_name"].as_str()),
        (Some("Ada"), Some("Lovelace"))
    );
    assert_eq!(merged["email"], "ada@example.com");
    assert_eq!(
        (merged["phone"].as_str(), merged["title"].as_str()),
        (Some("123"), Some("CTO"))
    );
    assert_eq!(merged["external_id"], "crm-1");
    assert_eq!(merged["tags"], json!(["a", "b"]));
    assert!(!merged["last_activity_at"].is_null(), "the call moved over");

    let k = app.sql_uuid(id(&keep));
    assert_eq!(
        app.scalar(&format!("select count(*) from activities where contact_id = {k}"))
            .await,
        1
    );
    assert_eq!(
        app.scalar(&format!("select count(*) from notes where contact_id = {k}"))
            .await,
        1
    );
    for deal in [&both, &one] {
        let d = app.sql_uuid(id(deal));
        assert_eq!(
            app.scalar(&format!("select count(*) from deal_contacts where deal_id = {d}"))
                .await,
            1
        );
        assert_eq!(
            app.scalar(&format!(
                "select count(*) from deal_contacts where deal_id = {d} and contact_id = {k}"
            ))
            .await,
            1
        );
        assert_eq!(
            app.scalar(&format!("select version from deals where id = {d}")).await,
            2
        );
    }
    assert_eq!(
        app.scalar(
            "select count(*) from contacts where deleted_at is not null and email is null and external_id is null"
        )
        .await,
        2
    );
    assert_eq!(
        app.scalar("select count(*) from audit_log where action = 'contact.merged'")
            .await,
        2
    );
    for gone in [&dup, &other] {
        let path = format!("/api/v1/contacts/{}", gone["id"].as_str().unwrap());
        expect_problem(
            app.get(&path, &admin.access_token).send().await.unwrap(),
            StatusCode::NOT_FOUND,
        )
        .await;
    }
    // The email is the kept contact's now: a new contact cannot take it.
    let taken = app
        .post(
            "/api/v1/contacts",
            &admin.access_token,
            &json!({"first_name": "X", "email": "ADA@example.com"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(
        expect_problem(taken, StatusCode::CONFLICT).await["existing_id"],
        keep["id"]
    );
}

async fn a_bad_merge_is_refused_and_changes_nothing(app: TestApp) {
    let admin = app.signup("mergebad").await;
    let stranger = app.signup("mergestranger").await;
    let rep = app.add_user(&admin, "rep").await;
    let keep = create_contact(&app, &admin, json!({"first_name": "Keep"})).await;
    let dup = create_contact(&app, &admin, json!({"first_name": "Dup"})).await;
    let theirs = create_contact(&app, &stranger, json!({"first_name": "Theirs"})).await;
    let reps = create_contact(&app, &rep, json!({"first_name": "Rep's"})).await;
    let cases = [
        (json!({"keep_id": keep["id"], "merge_ids": []}), "merge_ids"),
        (json!({"keep_id": keep["id"], "merge_ids": [keep["id"]]}), "merge_ids"),
        (
            json!({"keep_id": keep["id"], "merge_ids": [dup["id"], theirs["id"]]}),
            "merge_ids",
        ),
        (
            json!({"keep_id": keep["id"], "merge_ids": [Uuid::new_v4()]}),
            "merge_ids",
        ),
        (json!({"keep_id": Uuid::new_v4(), "merge_ids": [dup["id"]]}), "keep_id"),
        (json!({"keep_id": keep["id"]}), "merge_ids"),
    ];
    for (body, field) in cases {
        let response = app
            .post("/api/v1/contacts/merge", &admin.access_token, &body)
            .send()
            .await
            .unwrap();
        let problem = expect_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert_eq!(invalid_fields(&problem), [field], "{body}");
    }
    // A rep merges only their own contacts.
    let body = json!({"keep_id": reps["id"], "merge_ids": [dup["id"]]});
    let response = app
        .post("/api/v1/contacts/merge", &rep.access_token, &body)
        .send()
        .await
        .unwrap();
    expect_problem(response, StatusCode::FORBIDDEN).await;
    assert_eq!(
        app.scalar("select count(*) from contacts where version <> 1 or deleted_at is not null")
            .await,
        0
    );
    let response = app
        .post(
            "/api/v1/contacts/merge",
            "bad-token",
            &json!({"keep_id": keep["id"], "merge_ids": [dup["id"]]}),
        )
        .send()
        .await
        .unwrap();
    expect_problem(response, StatusCode::UNAUTHORIZED).await;
}
