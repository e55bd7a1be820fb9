use pipewise_tests::{expect_problem, expect_status, on_both_backends, Session, TestApp};
use reqwest::StatusCode;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::activities::{activity_path, create_activity};
use crate::deals::{create_deal, deal_path, time};
use crate::leads::{create_lead, lead_path};
use crate::notes::create_note;
use crate::pipelines::{sales_pipeline, stage_id};

on_both_backends!(
    a_deals_timeline_mixes_events_activities_and_notes_newest_first,
    timelines_page_through_every_item_once,
    every_kind_of_record_has_a_timeline_of_its_own_items,
    a_contact_and_a_deal_show_the_history_of_the_lead_converted_into_them,
    timelines_of_records_the_caller_cannot_see_are_not_found,
);

async fn timeline_page(app: &TestApp, session: &Session, path: &str) -> Value {
    let response = app.get(path, &session.access_token).send().await.unwrap();
    expect_status(response, StatusCode::OK).await
}

async fn timeline(app: &TestApp, session: &Session, record_path: &str) -> Vec<Value> {
    let page = timeline_page(app, session, &format!("{record_path}/timeline")).await;
    assert!(page["next_cursor"].is_null());
    page["data"].as_array().unwrap().clone()
}

fn kinds(items: &[Value]) -> Vec<&str> {
    items.iter().map(|i| i["kind"].as_str().unwrap()).collect()
}

fn assert_newest_first(items: &[Value]) {
    for pair in items.windows(2) {
        let (a, b) = (time(&pair[0]["at"]), time(&pair[1]["at"]));
        assert!(
            a > b || (a == b && pair[0]["id"].as_str() > pair[1]["id"].as_str()),
            "{items:?}"
        );
    }
}

async fn a_deals_timeline_mixes_events_activities_and_notes_newest_first(app: TestApp) {
    let admin = app.signup("timeline").await;
    let pipeline = sales_pipeline(&app, &admin).await;
    let deal = create_deal(
        &app,
        &admin,
        json!({"title": "Big", "amount": "1.00", "pipeline_id": pipeline["id"]}),
    )
    .await;
    let call = create_activity(
        &app,
        &admin,
        json!({"type": "call", "subject": "Call", "deal_id": deal["id"]}),
    )
    .await;
    let note = create_note(&app, &admin, json!({"body": "Note", "deal_id": deal["id"]})).await;
    let response = app
        .post(
            &format!("{}/move", deal_path(&deal)),
            &admin.access_token,
            &json!({"stage_id": stage_id(&pipeline, 1)}),
        )
        .send()
        .await
        .unwrap();
    expect_status(response, StatusCode::OK).await;
    let done = expect_status(
        app.post(
            &format!("{}/complete", activity_path(&call)),
            &admin.access_token,
            &json!({}),
        )
        .send()
        .await
        .unwrap(),
        StatusCode::OK,
    )
    .await;

    let items = timeline(&app, &admin, &deal_path(&deal)).await;
    // The call's time is its completion, so it is now the newest item.
    assert_eq!(kinds(&items), ["activity", "event", "note", "event"]);
    assert_newest_first(&items);
    assert_eq!(items[0]["id"], call["id"]);
    assert_eq!(items[0]["activity"]["status"], "done");
    assert_eq!(time(&items[0]["at"]), time(&done["done_at"]));
    assert!(items[0].get("note").is_none() && items[0].get("event").is_none());
    assert_eq!(items[1]["event"]["kind"], "moved");
    assert_eq!(items[2]["note"]["body"], "Note");
    assert_eq!(items[2]["id"], note["id"]);
    assert_eq!(items[3]["event"]["kind"], "created");

    // Trashed items leave the timeline.
    expect_status(
        app.delete(
            &format!("/api/v1/notes/{}", note["id"].as_str().unwrap()),
            &admin.access_token,
        )
        .send()
        .await
        .unwrap(),
        StatusCode::NO_CONTENT,
    )
    .await;
    expect_status(
        app.delete(&activity_path(&call), &admin.access_token)
            .send()
            .await
            .unwrap(),
        StatusCode::NO_CONTENT,
    )
    .await;
    assert_eq!(
        kinds(&timeline(&app, &admin, &deal_path(&deal)).await),
        ["event", "event"]
    );
}

async fn timelines_page_through_every_item_once(app: TestApp) {
    let admin = app.signup("timeline-page").await;
    let lead = create_lead(&app, &admin, json!({"first_name": "Ada"})).await;
    let mut ids = vec![];
    for i in 0..4 {
        let a = create_activity(
            &app,
            &admin,
            json!({"type": "task", "subject": format!("t{i}"), "lead_id": lead["id"]}),
        )
        .await;
        ids.push(a["id"].clone());
        let n = create_note(&app, &admin, json!({"body": format!("n{i}"), "lead_id": lead["id"]})).await;
        ids.push(n["id"].clone());
    }
    ids.reverse();
    let base = format!("{}/timeline", lead_path(&lead));
    let mut walked = vec![];
    let mut path = format!("{base}?limit=3");
    let mut pages = 0;
    loop {
        let page = timeline_page(&app, &admin, &path).await;
        pages += 1;
        let data = page["data"].as_array().unwrap();
        assert!(data.len() <= 3);
        walked.extend(data.iter().cloned());
        match page["next_cursor"].as_str() {
            Some(c) => path = format!("{base}?limit=3&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_newest_first(&walked);
    assert_eq!(walked.iter().map(|i| i["id"].clone()).collect::<Vec<_>>(), ids);
    for query in ["?cursor=garbage", "?limit=0", "?limit=500", "?sort=at"] {
        let response = app
            .get(&format!("{base}{query}"), &admin.access_token)
            .send()
            .await
            .unwrap();
        expect_problem(response, StatusCode::BAD_REQUEST).await;
    }
}

async fn every_kind_of_record_has_a_timeline_of_its_own_items(app: TestApp) {
    let admin = app.signup("timeline-kinds").await;
    let lead = create_lead(&app, &admin, json!({"first_name": "Ada"})).await;
    let account = crate::accounts::create_account(&app, &admin, json!({"name": "Acme"})).await;
    let contact = expect_status(
        app.post("/api/v1/contacts", &admin.access_token, &json!({"first_name": "Bob"}))
            .send()
            .await
            .unwrap(),
        StatusCode::CREATED,
    )
    .await;
    create_activity(
        &app,
        &admin,
        json!({"type": "meeting", "subject": "All", "lead_id": lead["id"], "contact_id": contact["id"],
               "account_id": account["id"]}),
    )
    .await;
    create_note(
        &app,
        &admin,
        json!({"body": "Only the account", "account_id": account["id"]}),
    )
    .await;
    let lead_items = timeline(&app, &admin, &lead_path(&lead)).await;
    assert_eq!(kinds(&lead_items), ["activity"]);
    let contact_items = timeline(
        &app,
        &admin,
        &format!("/api/v1/contacts/{}", contact["id"].as_str().unwrap()),
    )
    .await;
    assert_eq!(kinds(&contact_items), ["activity"]);
    let account_items = timeline(
        &app,
        &admin,
        &format!("/api/v1/accounts/{}", account["id"].as_str().unwrap()),
    )
    .await;
    assert_eq!(kinds(&account_items), ["note", "activity"]);
    assert_eq!(account_items[0]["note"]["body"], "Only the account");
}

async fn a_contact_and_a_deal_show_the_history_of_the_lead_converted_into_them(app: TestApp) {
    let admin = app.signup("timeline-converted").await;
    let lead = create_lead(&app, &admin, json!({"first_name": "Ada"})).await;
    create_activity(
        &app,
        &admin,
        json!({"type": "call", "subject": "First touch", "lead_id": lead["id"]}),
    )
    .await;
    create_note(&app, &admin, json!({"body": "Lead note", "lead_id": lead["id"]})).await;
    let converted = expect_status(
        app.post(
            &format!("{}/convert", lead_path(&lead)),
            &admin.access_token,
            &json!({"deal": {"amount": "1.00"}}),
        )
        .send()
        .await
        .unwrap(),
        StatusCode::OK,
    )
    .await;
    let (contact, deal) = (&converted["contact"], &converted["deal"]);
    let contact_items = timeline(
        &app,
        &admin,
        &format!("/api/v1/contacts/{}", contact["id"].as_str().unwrap()),
    )
    .await;
    assert_eq!(kinds(&contact_items), ["note", "activity"]);
    // The deal was created after the lead's call and note: its event is the newest.
    let deal_items = timeline(&app, &admin, &deal_path(deal)).await;
    assert_eq!(kinds(&deal_items), ["event", "note", "activity"]);
}

async fn timelines_of_records_the_caller_cannot_see_are_not_found(app: TestApp) {
    let admin = app.signup("timeline-hidden").await;
    let rep = app.add_user(&admin, "rep").await;
    let lead = create_lead(&app, &admin, json!({"first_name": "Ada"})).await;
    let pipeline = sales_pipeline(&app, &admin).await;
    let deal = create_deal(
        &app,
        &admin,
        json!({"title": "Big", "amount": "1.00", "pipeline_id": pipeline["id"]}),
    )
    .await;
    for path in [lead_path(&lead), deal_path(&deal)] {
        let response = app
            .get(&format!("{path}/timeline"), &rep.access_token)
            .send()
            .await
            .unwrap();
        expect_problem(response, StatusCode::NOT_FOUND).await;
    }
    // Reps see a shared account's timeline, but only their own activities in it.
    let account = crate::accounts::create_account(&app, &admin, json!({"name": "Acme"})).await;
    create_activity(
        &app,
        &admin,
        json!({"type": "call", "subject": "Admin's", "account_id": account["id"]}),
    )
    .await;
    create_activity(
        &app,
        &rep,
        json!({"type": "call", "subject": "Rep's", "account_id": account["id"]}),
    )
    .await;
    let account_path = format!("/api/v1/accounts/{}", account["id"].as_str().unwrap());
    let items = timeline(&app, &rep, &account_path).await;
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["activity"]["subject"], "Rep's");
    assert_eq!(timeline(&app, &admin, &account_path).await.len(), 2);
    let other = app.signup("timeline-hidden-other").await;
    for path in [
        lead_path(&lead),
        deal_path(&deal),
        account_path.clone(),
        format!("/api/v1/contacts/{}", Uuid::now_v7()),
    ] {
        let response = app
            .get(&format!("{path}/timeline"), &other.access_token)
            .send()
            .await
            .unwrap();
        expect_problem(response, StatusCode::NOT_FOUND).await;
    }
}
