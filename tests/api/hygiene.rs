//! The hygiene report: each group counts exactly the records that need a
//! look, lists the first of them, and keeps to the organization and to a
//! rep's own records.

use chrono::{Duration, Utc};
use pipewise_tests::{expect_problem, expect_status, on_both_backends, Session, TestApp};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::{deals::create_deal, leads::create_lead, pipelines::sales_pipeline};

on_both_backends!(
    the_hygiene_report_finds_what_to_clean,
    the_hygiene_report_keeps_to_what_the_caller_may_read,
);

async fn report(app: &TestApp, session: &Session, query: &str) -> Value {
    expect_status(
        app.get(&format!("/api/v1/reports/hygiene{query}"), &session.access_token)
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await
}

/// The (count, ids) of the group `key`.
fn group(report: &Value, key: &str) -> (i64, Vec<String>) {
    let group = report["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["key"] == key)
        .unwrap_or_else(|| panic!("no group {key}: {report}"));
    let ids = group["ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i.as_str().unwrap().to_owned())
        .collect();
    (group["count"].as_i64().unwrap(), ids)
}

/// The shared values of the duplicate group `key`, each with its record ids, sorted.
fn shared(report: &Value, key: &str) -> Vec<(String, Vec<String>)> {
    let group = report["duplicates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["key"] == key)
        .unwrap();
    group["sets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let mut ids: Vec<String> = s["records"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["id"].as_str().unwrap().to_owned())
                .collect();
            ids.sort();
            (s["value"].as_str().unwrap().to_owned(), ids)
        })
        .collect()
}

fn id(record: &Value) -> String {
    record["id"].as_str().unwrap().to_owned()
}

fn sorted(mut ids: Vec<String>) -> Vec<String> {
    ids.sort();
    ids
}

async fn the_hygiene_report_finds_what_to_clean(app: TestApp) {
    let admin = app.signup("hygiene").await;
    let token = &admin.access_token;
    let month_ago = (Utc::now() - Duration::days(30)).to_rfc3339();
    let old = create_lead(
        &app,
        &admin,
        json!({"first_name": "Old", "email": "old@x.example", "phone": "+1 555 0100", "created_at": month_ago}),
    )
    .await;
    let no_mail = create_lead(&app, &admin, json!({"first_name": "NoMail", "phone": "(1) 555-0100"})).await;
    let dup = create_lead(
        &app,
        &admin,
        json!({"first_name": "Dup", "email": "dup@x.example", "phone": "555 0199"}),
    )
    .await;
    let twin = expect_status(
        app.post(
            "/api/v1/leads?allow_duplicate=true",
            token,
            &json!({"first_name": "Twin", "email": "dup@x.example", "phone": "555 0199"}),
        )
        .send()
        .await
        .unwrap(),
        StatusCode::CREATED,
    )
    .await;
    let contact = expect_status(
        app.post(
            "/api/v1/contacts",
            token,
            &json!({"first_name": "Carl", "phone": "555-0199"}),
        )
        .send()
        .await
        .unwrap(),
        StatusCode::CREATED,
    )
    .await;
    let mut accounts = Vec::new();
    for name in ["Acme", "Acme Group"] {
        let account = expect_status(
            app.post(
                "/api/v1/accounts",
                token,
                &json!({"name": name, "domain": "acme.example"}),
            )
            .send()
            .await
            .unwrap(),
            StatusCode::CREATED,
        )
        .await;
        accounts.push(id(&account));
    }
    let pipeline = sales_pipeline(&app, &admin).await;
    let quiet = create_deal(
        &app,
        &admin,
        json!({"title": "Quiet", "amount": "100.00", "pipeline_id": pipeline["id"], "created_at": month_ago}),
    )
    .await;
    let yesterday = (Utc::now() - Duration::days(2)).date_naive().to_string();
    let late = create_deal(
        &app,
        &admin,
        json!({"title": "Late", "amount": "100.00", "pipeline_id": pipeline["id"], "expected_close_date": yesterday}),
    )
    .await;
    // A rep leaves, their lead stays.
    let rep = app.add_user(&admin, "rep").await;
    let orphan = create_lead(
        &app,
        &rep,
        json!({"first_name": "Orphan", "email": "orphan@x.example", "phone": "99 99 99 99"}),
    )
    .await;
    expect_status(
        app.delete(&format!("/api/v1/users/{}", rep.user_id), token)
            .send()
            .await
            .unwrap(),
        StatusCode::NO_CONTENT,
    )
    .await;

    let report = report(&app, &admin, "").await;
    assert_eq!(
        (report["idle_days"].as_i64(), report["untouched_days"].as_i64()),
        (Some(14), Some(14))
    );
    assert_eq!(group(&report, "stalled_deals"), (1, vec![id(&quiet)]));
    assert_eq!(group(&report, "deals_past_expected_close"), (1, vec![id(&late)]));
    assert_eq!(group(&report, "untouched_leads"), (1, vec![id(&old)]));
    assert_eq!(group(&report, "leads_without_email"), (1, vec![id(&no_mail)]));
    assert_eq!(group(&report, "leads_without_phone"), (0, vec![]));
    assert_eq!(group(&report, "contacts_without_email"), (1, vec![id(&contact)]));
    assert_eq!(group(&report, "contacts_without_phone"), (0, vec![]));
    assert_eq!(group(&report, "leads_of_inactive_owners"), (1, vec![id(&orphan)]));
    assert_eq!(group(&report, "deals_of_inactive_owners").0, 0);
    assert_eq!(
        shared(&report, "same_email"),
        vec![("dup@x.example".to_owned(), sorted(vec![id(&dup), id(&twin)]))]
    );
    assert_eq!(
        shared(&report, "same_phone"),
        vec![
            ("15550100".to_owned(), sorted(vec![id(&old), id(&no_mail)])),
            ("5550199".to_owned(), sorted(vec![id(&dup), id(&twin), id(&contact)])),
        ]
    );
    assert_eq!(
        shared(&report, "same_domain"),
        vec![("acme.example".to_owned(), sorted(accounts))]
    );

    // The thresholds and the sample are the caller's.
    let strict = report_of(&app, &admin, "?untouched_days=40&idle_days=40&sample=1").await;
    assert_eq!(group(&strict, "untouched_leads").0, 0);
    assert_eq!(group(&strict, "stalled_deals").0, 0);
    let phones = strict["duplicates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["key"] == "same_phone")
        .unwrap();
    assert_eq!(
        (phones["count"].as_i64(), phones["sets"].as_array().unwrap().len()),
        (Some(2), 1)
    );

    // Cleaned: the lead gets an email, the deal a touch; the groups shrink.
    expect_status(
        app.patch(
            &format!("/api/v1/leads/{}", id(&no_mail)),
            token,
            &json!({"email": "found@x.example"}),
        )
        .send()
        .await
        .unwrap(),
        StatusCode::OK,
    )
    .await;
    expect_status(
        app.post(
            "/api/v1/activities",
            token,
            &json!({"type": "call", "subject": "Check in", "deal_id": id(&quiet)}),
        )
        .send()
        .await
        .unwrap(),
        StatusCode::CREATED,
    )
    .await;
    let after = report_of(&app, &admin, "").await;
    assert_eq!(group(&after, "leads_without_email").0, 0);
    assert_eq!(group(&after, "stalled_deals").0, 0);
    // A deal touched yesterday still rots in a stage it entered a month ago.
    let stage = pipeline["stages"][0]["id"].as_str().unwrap();
    expect_status(
        app.patch(&format!("/api/v1/stages/{stage}"), token, &json!({"rotting_days": 7}))
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        group(&report_of(&app, &admin, "").await, "stalled_deals"),
        (1, vec![id(&quiet)])
    );

    for bad in ["?idle_days=0", "?untouched_days=4000", "?sample=101", "?colour=red"] {
        let response = app
            .get(&format!("/api/v1/reports/hygiene{bad}"), token)
            .send()
            .await
            .unwrap();
        expect_problem(response, StatusCode::BAD_REQUEST).await;
    }
}

async fn report_of(app: &TestApp, session: &Session, query: &str) -> Value {
    report(app, session, query).await
}

async fn the_hygiene_report_keeps_to_what_the_caller_may_read(app: TestApp) {
    let admin = app.signup("hygiene-scope").await;
    create_lead(&app, &admin, json!({"first_name": "Mine"})).await;
    let rep = app.add_user(&admin, "rep").await;
    let theirs = create_lead(&app, &rep, json!({"first_name": "Theirs"})).await;
    let by_rep = report(&app, &rep, "").await;
    assert_eq!(group(&by_rep, "leads_without_email"), (1, vec![id(&theirs)]));
    assert_eq!(group(&report(&app, &admin, "").await, "leads_without_email").0, 2);
    let stranger = app.signup("hygiene-stranger").await;
    let elsewhere = report(&app, &stranger, "").await;
    assert!(
        elsewhere["groups"].as_array().unwrap().iter().all(|g| g["count"] == 0),
        "{elsewhere}"
    );
    assert!(elsewhere["duplicates"]
        .as_array()
        .unwrap()
        .iter()
        .all(|g| g["count"] == 0));
}
