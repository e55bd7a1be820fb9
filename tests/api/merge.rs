//! Merging duplicate contacts and leads: their history moves onto the kept one, in one transaction.

use pipewise_tests::{expect_problem, expect_status, invalid_fields, on_both_backends, Session, TestApp};
use reqwest::StatusCode;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::{
    activities::{activity_path, create_activity},
    contacts::create_contact,
    deals::create_deal,
    leads::{create_lead, lead_path},
    notes::create_note,
    pipelines::sales_pipeline,
};

on_both_backends!(
    merging_contacts_moves_their_history_onto_the_kept_one,
    a_bad_merge_is_refused_and_changes_nothing,
    merging_leads_moves_their_history_and_rescores_the_kept_one,
    a_bad_lead_merge_is_refused_and_changes_nothing,
    parallel_merges_over_the_same_contacts_do_not_deadlock,
);

fn id(record: &Value) -> Uuid {
    pipewise_tests::uuid(&record["id"])
}

/// Each body is refused with a 422 naming its field.
async fn refused<const N: usize>(app: &TestApp, session: &Session, path: &str, cases: [(Value, &str); N]) {
    for (body, field) in cases {
        let response = app.post(path, &session.access_token, &body).send().await.unwrap();
        let problem = expect_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert_eq!(invalid_fields(&problem), [field], "{body}");
    }
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
    refused(&app, &admin, "/api/v1/contacts/merge", cases).await;
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

async fn merging_leads_moves_their_history_and_rescores_the_kept_one(app: TestApp) {
    let admin = app.signup("leadmerge").await;
    let rule = json!({"name": "Engaged", "field": "activities_done", "operator": "gte", "value": "1",
                      "points": 30, "active": true});
    let response = app
        .post("/api/v1/scoring-rules", &admin.access_token, &rule)
        .send()
        .await
        .unwrap();
    expect_status(response, StatusCode::CREATED).await;
    let keep = create_lead(&app, &admin, json!({"first_name": "Ada", "tags": ["a"]})).await;
    let dup = create_lead(
        &app,
        &admin,
        json!({"last_name": "Lovelace", "email": "ada@example.com", "estimated_value": "1000.00",
               "currency": "EUR", "external_id": "crm-1", "tags": ["b"]}),
    )
    .await;
    let other = create_lead(
        &app,
        &admin,
        json!({"title": "CTO", "company_name": "Engines", "estimated_value": "5.00"}),
    )
    .await;
    let call = create_activity(
        &app,
        &admin,
        json!({"type": "call", "subject": "Intro", "lead_id": dup["id"]}),
    )
    .await;
    let response = app
        .post(
            &format!("{}/complete", activity_path(&call)),
            &admin.access_token,
            &json!({}),
        )
        .send()
        .await
        .unwrap();
    expect_status(response, StatusCode::OK).await;
    create_note(&app, &admin, json!({"body": "Met at the fair", "lead_id": other["id"]})).await;
    assert_eq!(keep["score"], 0);

    let response = app
        .post(
            "/api/v1/leads/merge",
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
        (merged["title"].as_str(), merged["company_name"].as_str()),
        (Some("CTO"), Some("Engines"))
    );
    // The first merged lead with a value gives it, with its currency.
    assert_eq!(
        (merged["estimated_value"].as_str(), merged["currency"].as_str()),
        (Some("1000.00"), Some("EUR"))
    );
    assert_eq!(merged["external_id"], "crm-1");
    assert_eq!(merged["tags"], json!(["a", "b"]));
    assert_eq!(merged["status"], "new");
    assert_eq!(merged["score"], 30, "the done call counts for the kept lead");
    assert!(!merged["last_activity_at"].is_null());

    let k = app.sql_uuid(id(&keep));
    for table in ["activities", "notes"] {
        assert_eq!(
            app.scalar(&format!("select count(*) from {table} where lead_id = {k}"))
                .await,
            1,
            "{table}"
        );
    }
    assert_eq!(
        app.scalar(&format!(
            "select count(*) from leads where id = {k} and first_activity_at is not null and score = 30"
        ))
        .await,
        1
    );
    assert_eq!(
        app.scalar(
            "select count(*) from leads
             where deleted_at is not null and email is null and external_id is null and version = 2"
        )
        .await,
        2
    );
    assert_eq!(
        app.scalar("select count(*) from audit_log where action = 'lead.merged'")
            .await,
        2
    );
    for gone in [&dup, &other] {
        expect_problem(
            app.get(&lead_path(gone), &admin.access_token).send().await.unwrap(),
            StatusCode::NOT_FOUND,
        )
        .await;
    }
    // The email is the kept lead's now: a new lead with it is its duplicate.
    let taken = app
        .post(
            "/api/v1/leads",
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

async fn a_bad_lead_merge_is_refused_and_changes_nothing(app: TestApp) {
    let admin = app.signup("leadmergebad").await;
    let stranger = app.signup("leadmergestranger").await;
    let rep = app.add_user(&admin, "rep").await;
    let keep = create_lead(&app, &admin, json!({"first_name": "Keep"})).await;
    let dup = create_lead(&app, &admin, json!({"first_name": "Dup"})).await;
    let theirs = create_lead(&app, &stranger, json!({"first_name": "Theirs"})).await;
    let reps = create_lead(&app, &rep, json!({"first_name": "Rep's"})).await;
    let too_many: Vec<Uuid> = (0..51).map(|_| Uuid::new_v4()).collect();
    let cases = [
        (json!({"keep_id": keep["id"], "merge_ids": []}), "merge_ids"),
        (json!({"keep_id": keep["id"], "merge_ids": too_many}), "merge_ids"),
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
        (json!({"keep_id": "nope", "merge_ids": [dup["id"]]}), "keep_id"),
    ];
    refused(&app, &admin, "/api/v1/leads/merge", cases).await;
    // A rep cannot see another's lead: it is not found, as kept or merged.
    for body in [
        json!({"keep_id": reps["id"], "merge_ids": [dup["id"]]}),
        json!({"keep_id": dup["id"], "merge_ids": [reps["id"]]}),
    ] {
        let response = app
            .post("/api/v1/leads/merge", &rep.access_token, &body)
            .send()
            .await
            .unwrap();
        let problem = expect_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
        let field = if body["keep_id"] == dup["id"] {
            "keep_id"
        } else {
            "merge_ids"
        };
        assert_eq!(invalid_fields(&problem), [field], "{body}");
    }
    // A converted lead is final.
    let response = app
        .post(&format!("{}/convert", lead_path(&dup)), &admin.access_token, &json!({}))
        .send()
        .await
        .unwrap();
    expect_status(response, StatusCode::OK).await;
    for body in [
        json!({"keep_id": keep["id"], "merge_ids": [dup["id"]]}),
        json!({"keep_id": dup["id"], "merge_ids": [keep["id"]]}),
    ] {
        let response = app
            .post("/api/v1/leads/merge", &admin.access_token, &body)
            .send()
            .await
            .unwrap();
        expect_problem(response, StatusCode::CONFLICT).await;
    }
    assert_eq!(
        app.scalar(
            "select count(*) from leads where status <> 'converted' and (version <> 1 or deleted_at is not null)"
        )
        .await,
        0
    );
    assert_eq!(
        app.scalar("select count(*) from audit_log where action = 'lead.merged'")
            .await,
        0
    );
    let (_, read_only) = app.api_key(&admin, &["read"]).await;
    let response = app
        .request(reqwest::Method::POST, "/api/v1/leads/merge")
        .header("x-api-key", read_only)
        .json(&json!({"keep_id": keep["id"], "merge_ids": [reps["id"]]}))
        .send()
        .await
        .unwrap();
    expect_problem(response, StatusCode::FORBIDDEN).await;
}

/// Merges that overlap lock their contacts in one order: they queue up, and
/// each contact ends up merged once.
async fn parallel_merges_over_the_same_contacts_do_not_deadlock(app: TestApp) {
    let admin = app.signup("mergerace").await;
    let mut contacts = Vec::new();
    for i in 0..6 {
        contacts.push(id(&create_contact(
            &app,
            &admin,
            json!({"first_name": format!("C{i}")}),
        )
        .await));
    }
    // Twenty merges, each keeping one contact and folding in two others, in
    // crossing orders: the first to run wins its contacts, later ones that
    // name a merged contact are refused.
    let requests = (0..20).map(|i| {
        let keep = contacts[i % 6];
        let merge = [contacts[(i + 1) % 6], contacts[(i + 3) % 6]];
        let body = json!({"keep_id": keep, "merge_ids": merge});
        let request = app.post("/api/v1/contacts/merge", &admin.access_token, &body);
        async move { request.send().await.unwrap().status() }
    });
    let statuses = futures_util::future::join_all(requests).await;
    let won = statuses.iter().filter(|s| **s == StatusCode::OK).count();
    assert!(won >= 1, "{statuses:?}");
    assert!(
        statuses
            .iter()
            .all(|s| *s == StatusCode::OK || *s == StatusCode::UNPROCESSABLE_ENTITY),
        "{statuses:?}"
    );
    // Every success trashed two live contacts; none was merged twice.
    assert_eq!(
        app.scalar("select count(*) from contacts where deleted_at is not null")
            .await,
        2 * won as i64
    );
    assert_eq!(
        app.scalar("select count(*) from audit_log where action = 'contact.merged'")
            .await,
        2 * won as i64
    );
    assert_eq!(
        app.scalar("select count(*) from contacts where deleted_at is null")
            .await,
        6 - 2 * won as i64
    );
}
