use chrono::{Duration, Utc};
use pipewise_tests::{expect_problem, expect_status, on_both_backends, uuid, Session, TestApp};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::accounts::create_account;
use crate::activities::{activity_path, create_activity};
use crate::contacts::create_contact;
use crate::deals::{create_deal, deal_path};
use crate::leads::create_lead;
use crate::pipelines::sales_pipeline;

on_both_backends!(
    assigning_an_activity_to_someone_else_notifies_them,
    overdue_activities_are_notified_exactly_once,
    concurrent_lists_notify_an_overdue_activity_once,
    notifications_list_unread_first_then_newest_and_are_read_one_or_all,
    notifications_are_for_their_user_only,
    creating_deals_accounts_and_contacts_for_someone_else_notifies_them,
    reassigning_deals_accounts_and_contacts_notifies_the_new_owner_only,
    api_keys_creating_records_notify_their_owner,
    converting_someone_elses_lead_notifies_them_once,
);

async fn notifications(app: &TestApp, session: &Session, query: &str) -> Vec<Value> {
    let response = app
        .get(&format!("/api/v1/notifications{query}"), &session.access_token)
        .send()
        .await
        .unwrap();
    expect_status(response, StatusCode::OK).await["data"]
        .as_array()
        .unwrap()
        .clone()
}

fn kinds(rows: &[Value]) -> Vec<&str> {
    rows.iter().map(|r| r["kind"].as_str().unwrap()).collect()
}

fn past(hours: i64) -> String {
    (Utc::now() - Duration::hours(hours)).to_rfc3339()
}

async fn assigning_an_activity_to_someone_else_notifies_them(app: TestApp) {
    let admin = app.signup("notify-assign").await;
    let rep = app.add_user(&admin, "rep").await;
    let other_rep = app.add_user(&admin, "rep").await;
    // Their own activities notify nobody.
    create_activity(&app, &rep, json!({"type": "call", "subject": "Own"})).await;
    assert!(notifications(&app, &rep, "").await.is_empty());

    let activity = create_activity(
        &app,
        &admin,
        json!({"type": "call", "subject": "Call Acme", "owner_id": rep.user_id}),
    )
    .await;
    let rows = notifications(&app, &rep, "").await;
    assert_eq!(kinds(&rows), ["assigned"]);
    assert_eq!(rows[0]["record_kind"], "activity");
    assert_eq!(rows[0]["record_id"], activity["id"]);
    assert!(rows[0]["message"].as_str().unwrap().contains("Call Acme"));
    assert!(rows[0]["read_at"].is_null());
    assert!(notifications(&app, &admin, "").await.is_empty());

    // Reassigning notifies the new owner; a PATCH that keeps the owner does not.
    expect_status(
        app.patch(
            &activity_path(&activity),
            &admin.access_token,
            &json!({"owner_id": other_rep.user_id}),
        )
        .send()
        .await
        .unwrap(),
        StatusCode::OK,
    )
    .await;
    expect_status(
        app.patch(
            &activity_path(&activity),
            &admin.access_token,
            &json!({"owner_id": other_rep.user_id, "subject": "Call Acme again"}),
        )
        .send()
        .await
        .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(kinds(&notifications(&app, &other_rep, "").await), ["assigned"]);
    assert_eq!(
        app.scalar("select count(*) from notifications where kind = 'assigned'")
            .await,
        2
    );
}

async fn overdue_activities_are_notified_exactly_once(app: TestApp) {
    let admin = app.signup("notify-overdue").await;
    let rep = app.add_user(&admin, "rep").await;
    let overdue = create_activity(
        &app,
        &rep,
        json!({"type": "task", "subject": "Send quote", "due_at": past(2)}),
    )
    .await;
    assert_eq!(overdue["status"], "overdue");
    create_activity(
        &app,
        &rep,
        json!({"type": "task", "subject": "Later", "due_at": (Utc::now() + Duration::hours(2)).to_rfc3339()}),
    )
    .await;
    create_activity(
        &app,
        &rep,
        json!({"type": "task", "subject": "Done", "due_at": past(2), "done_at": past(3)}),
    )
    .await;
    let trashed = create_activity(
        &app,
        &rep,
        json!({"type": "task", "subject": "Trashed", "due_at": past(2)}),
    )
    .await;
    expect_status(
        app.delete(&activity_path(&trashed), &rep.access_token)
            .send()
            .await
            .unwrap(),
        StatusCode::NO_CONTENT,
    )
    .await;
    // Someone else's overdue activity is not the rep's business.
    create_activity(
        &app,
        &admin,
        json!({"type": "task", "subject": "Admin's", "due_at": past(2)}),
    )
    .await;

    let rows = notifications(&app, &rep, "").await;
    assert_eq!(kinds(&rows), ["activity_overdue"]);
    assert_eq!(rows[0]["record_id"], overdue["id"]);
    assert_eq!(rows[0]["record_kind"], "activity");
    assert_eq!(notifications(&app, &rep, "").await.len(), 1);
    assert_eq!(
        app.scalar("select count(*) from notifications where kind = 'activity_overdue'")
            .await,
        1
    );
    assert_eq!(
        app.scalar("select count(*) from activities where overdue_notified_at is not null")
            .await,
        1
    );
    // A new due date that passes again is told anew.
    expect_status(
        app.patch(&activity_path(&overdue), &rep.access_token, &json!({"due_at": past(1)}))
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        kinds(&notifications(&app, &rep, "").await),
        ["activity_overdue", "activity_overdue"]
    );
    assert_eq!(notifications(&app, &admin, "").await.len(), 1);
}

async fn concurrent_lists_notify_an_overdue_activity_once(app: TestApp) {
    let admin = app.signup("notify-race").await;
    for i in 0..5 {
        create_activity(
            &app,
            &admin,
            json!({"type": "task", "subject": format!("t{i}"), "due_at": past(1)}),
        )
        .await;
    }
    let calls = (0..6).map(|_| app.get("/api/v1/notifications", &admin.access_token).send());
    for response in futures_util::future::join_all(calls).await {
        expect_status(response.unwrap(), StatusCode::OK).await;
    }
    assert_eq!(
        app.scalar("select count(*) from notifications where kind = 'activity_overdue'")
            .await,
        5
    );
}

async fn notifications_list_unread_first_then_newest_and_are_read_one_or_all(app: TestApp) {
    let admin = app.signup("notify-order").await;
    let rep = app.add_user(&admin, "rep").await;
    let mut ids = vec![];
    for i in 0..5 {
        let a = create_activity(
            &app,
            &admin,
            json!({"type": "call", "subject": format!("a{i}"), "owner_id": rep.user_id}),
        )
        .await;
        ids.push(a["id"].clone());
    }
    let rows = notifications(&app, &rep, "").await;
    let record_ids = |rows: &[Value]| rows.iter().map(|r| r["record_id"].clone()).collect::<Vec<_>>();
    let newest_first: Vec<Value> = ids.iter().rev().cloned().collect();
    assert_eq!(record_ids(&rows), newest_first);

    // Reading the newest moves it behind the unread ones; reading is idempotent.
    let newest = rows[0]["id"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/notifications/{newest}/read");
    let read = expect_status(
        app.post(&path, &rep.access_token, &json!({})).send().await.unwrap(),
        StatusCode::OK,
    )
    .await;
    let read_at = read["read_at"].clone();
    assert!(read_at.is_string());
    let again = expect_status(
        app.post(&path, &rep.access_token, &json!({})).send().await.unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(again["read_at"], read_at);
    let rows = notifications(&app, &rep, "").await;
    assert_eq!(
        record_ids(&rows),
        [&ids[3], &ids[2], &ids[1], &ids[0], &ids[4]].map(Clone::clone)
    );
    assert_eq!(notifications(&app, &rep, "?unread=true").await.len(), 4);

    // Pages of two walk the same order.
    let mut walked = vec![];
    let mut path = "/api/v1/notifications?limit=2".to_owned();
    loop {
        let page = expect_status(app.get(&path, &rep.access_token).send().await.unwrap(), StatusCode::OK).await;
        walked.extend(record_ids(page["data"].as_array().unwrap()));
        match page["next_cursor"].as_str() {
            Some(c) => path = format!("/api/v1/notifications?limit=2&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(walked, record_ids(&rows));

    let response = app
        .post("/api/v1/notifications/read-all", &rep.access_token, &json!({}))
        .send()
        .await
        .unwrap();
    expect_status(response, StatusCode::NO_CONTENT).await;
    assert!(notifications(&app, &rep, "?unread=true").await.is_empty());
    assert_eq!(
        app.scalar("select count(*) from notifications where read_at is null")
            .await,
        0
    );
    for query in ["?cursor=bad", "?limit=0", "?unread=maybe", "?kind=assigned"] {
        let response = app
            .get(&format!("/api/v1/notifications{query}"), &rep.access_token)
            .send()
            .await
            .unwrap();
        expect_problem(response, StatusCode::BAD_REQUEST).await;
    }
}

async fn notifications_are_for_their_user_only(app: TestApp) {
    let admin = app.signup("notify-own").await;
    let rep = app.add_user(&admin, "rep").await;
    create_activity(
        &app,
        &admin,
        json!({"type": "call", "subject": "x", "owner_id": rep.user_id}),
    )
    .await;
    let rows = notifications(&app, &rep, "").await;
    let id = rows[0]["id"].as_str().unwrap().to_owned();
    assert_eq!(uuid(&rows[0]["record_id"]).get_version_num(), 7);
    let response = app
        .post(
            &format!("/api/v1/notifications/{id}/read"),
            &admin.access_token,
            &json!({}),
        )
        .send()
        .await
        .unwrap();
    expect_problem(response, StatusCode::NOT_FOUND).await;
    let response = app
        .post(
            &format!("/api/v1/notifications/{}/read", Uuid::now_v7()),
            &rep.access_token,
            &json!({}),
        )
        .send()
        .await
        .unwrap();
    expect_problem(response, StatusCode::NOT_FOUND).await;
    assert_eq!(
        app.scalar("select count(*) from notifications where read_at is null")
            .await,
        1
    );
    let (_, key) = app.api_key(&admin, &["read", "write"]).await;
    for (method, path) in [
        (Method::GET, "/api/v1/notifications".to_owned()),
        (Method::POST, format!("/api/v1/notifications/{id}/read")),
        (Method::POST, "/api/v1/notifications/read-all".to_owned()),
    ] {
        let response = app
            .request(method, &path)
            .header("x-api-key", &key)
            .send()
            .await
            .unwrap();
        expect_problem(response, StatusCode::FORBIDDEN).await;
    }
    let response = app.request(Method::GET, "/api/v1/notifications").send().await.unwrap();
    expect_problem(response, StatusCode::UNAUTHORIZED).await;
}

/// The `assigned` notifications of `session`, as (record kind, record id, message), sorted.
async fn assignments(app: &TestApp, session: &Session) -> Vec<(String, String, String)> {
    let mut rows: Vec<(String, String, String)> = notifications(app, session, "")
        .await
        .iter()
        .filter(|r| r["kind"] == "assigned")
        .map(|r| {
            (
                r["record_kind"].as_str().unwrap().to_owned(),
                r["record_id"].as_str().unwrap().to_owned(),
                r["message"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    rows.sort();
    rows
}

fn assignment(kind: &str, record: &Value, message: &str) -> (String, String, String) {
    (
        kind.to_owned(),
        record["id"].as_str().unwrap().to_owned(),
        message.to_owned(),
    )
}

async fn patched(app: &TestApp, session: &Session, path: &str, body: Value) -> Value {
    expect_status(
        app.patch(path, &session.access_token, &body).send().await.unwrap(),
        StatusCode::OK,
    )
    .await
}

fn path(collection: &str, record: &Value) -> String {
    format!("/api/v1/{collection}/{}", record["id"].as_str().unwrap())
}

async fn creating_deals_accounts_and_contacts_for_someone_else_notifies_them(app: TestApp) {
    let admin = app.signup("notify-records").await;
    let rep = app.add_user(&admin, "rep").await;
    let sales = sales_pipeline(&app, &admin).await;

    // Records a rep makes for themselves notify nobody.
    create_deal(
        &app,
        &rep,
        json!({"title": "Own deal", "amount": "1.00", "pipeline_id": sales["id"]}),
    )
    .await;
    create_account(&app, &rep, json!({"name": "Own account"})).await;
    create_contact(&app, &rep, json!({"first_name": "Own"})).await;
    // Nor do an admin's own records.
    create_account(&app, &admin, json!({"name": "Admin's account"})).await;
    assert_eq!(app.scalar("select count(*) from notifications").await, 0);

    let deal = create_deal(
        &app,
        &admin,
        json!({"title": "Big deal", "amount": "10.00", "pipeline_id": sales["id"], "owner_id": rep.user_id}),
    )
    .await;
    let account = create_account(&app, &admin, json!({"name": "Acme", "owner_id": rep.user_id})).await;
    let contact = create_contact(
        &app,
        &admin,
        json!({"first_name": "Ada", "last_name": "Lovelace", "owner_id": rep.user_id}),
    )
    .await;
    let unnamed = create_contact(
        &app,
        &admin,
        json!({"email": "who@acme.example", "owner_id": rep.user_id}),
    )
    .await;

    let mut expected = vec![
        assignment("account", &account, "The account Acme was assigned to you."),
        assignment("contact", &contact, "The contact Ada Lovelace was assigned to you."),
        assignment("contact", &unnamed, "The contact who@acme.example was assigned to you."),
        assignment("deal", &deal, "The deal Big deal was assigned to you."),
    ];
    expected.sort();
    assert_eq!(assignments(&app, &rep).await, expected);
    assert!(notifications(&app, &admin, "").await.is_empty());
    assert_eq!(
        app.scalar("select count(*) from notifications where kind = 'assigned' and read_at is null")
            .await,
        4
    );
}

async fn reassigning_deals_accounts_and_contacts_notifies_the_new_owner_only(app: TestApp) {
    let admin = app.signup("notify-reassign").await;
    let rep = app.add_user(&admin, "rep").await;
    let other_rep = app.add_user(&admin, "rep").await;
    let sales = sales_pipeline(&app, &admin).await;
    let deal = create_deal(
        &app,
        &admin,
        json!({"title": "Renewal", "amount": "10.00", "pipeline_id": sales["id"]}),
    )
    .await;
    let account = create_account(&app, &admin, json!({"name": "Initech"})).await;
    let contact = create_contact(&app, &admin, json!({"first_name": "Peter"})).await;
    let records = [("deals", &deal), ("accounts", &account), ("contacts", &contact)];

    // Other fields, and an owner_id that does not change, notify nobody.
    patched(&app, &admin, &deal_path(&deal), json!({"title": "Renewal 2031"})).await;
    patched(
        &app,
        &admin,
        &path("accounts", &account),
        json!({"industry": "Software"}),
    )
    .await;
    patched(&app, &admin, &path("contacts", &contact), json!({"title": "Manager"})).await;
    for (collection, record) in records {
        patched(
            &app,
            &admin,
            &path(collection, record),
            json!({"owner_id": admin.user_id}),
        )
        .await;
    }
    assert_eq!(app.scalar("select count(*) from notifications").await, 0);

    // Handing each over tells the new owner, once.
    for (collection, record) in records {
        patched(
            &app,
            &admin,
            &path(collection, record),
            json!({"owner_id": rep.user_id}),
        )
        .await;
    }
    let mut expected = vec![
        assignment("account", &account, "The account Initech was assigned to you."),
        assignment("contact", &contact, "The contact Peter was assigned to you."),
        assignment("deal", &deal, "The deal Renewal 2031 was assigned to you."),
    ];
    expected.sort();
    assert_eq!(assignments(&app, &rep).await, expected);

    // The new owner's own edits, and the admin's edits that keep the owner, add nothing.
    patched(&app, &rep, &deal_path(&deal), json!({"amount": "20.00"})).await;
    patched(&app, &rep, &path("accounts", &account), json!({"name": "Initech Inc"})).await;
    patched(&app, &rep, &path("contacts", &contact), json!({"last_name": "Gibbons"})).await;
    for (collection, record) in records {
        patched(
            &app,
            &admin,
            &path(collection, record),
            json!({"owner_id": rep.user_id}),
        )
        .await;
    }
    assert_eq!(assignments(&app, &rep).await.len(), 3);

    // Moving a record on tells the next owner only; taking it back tells nobody.
    patched(
        &app,
        &admin,
        &path("contacts", &contact),
        json!({"owner_id": other_rep.user_id}),
    )
    .await;
    let rows = assignments(&app, &other_rep).await;
    assert_eq!(
        rows,
        [assignment(
            "contact",
            &contact,
            "The contact Peter Gibbons was assigned to you."
        )]
    );
    patched(
        &app,
        &admin,
        &path("contacts", &contact),
        json!({"owner_id": admin.user_id}),
    )
    .await;
    assert!(notifications(&app, &admin, "").await.is_empty());
    assert_eq!(
        app.scalar("select count(*) from notifications where kind = 'assigned'")
            .await,
        4
    );
}

async fn api_keys_creating_records_notify_their_owner(app: TestApp) {
    let admin = app.signup("notify-keys").await;
    let rep = app.add_user(&admin, "rep").await;
    let (_, key) = app.api_key(&admin, &["write"]).await;
    let sales = sales_pipeline(&app, &admin).await;
    let keyed = |path: &str, body: Value| {
        app.request(Method::POST, path)
            .header("x-api-key", key.as_str())
            .json(&body)
    };
    let deal = expect_status(
        keyed(
            "/api/v1/deals",
            json!({"title": "Synced", "amount": "5.00", "pipeline_id": sales["id"], "owner_id": rep.user_id}),
        )
        .send()
        .await
        .unwrap(),
        StatusCode::CREATED,
    )
    .await;
    // A key is nobody: even the admin who made it is told about a record it gives them.
    let account = expect_status(
        keyed(
            "/api/v1/accounts",
            json!({"name": "Synced Ltd", "owner_id": admin.user_id}),
        )
        .send()
        .await
        .unwrap(),
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(
        assignments(&app, &rep).await,
        [assignment("deal", &deal, "The deal Synced was assigned to you.")]
    );
    assert_eq!(
        assignments(&app, &admin).await,
        [assignment(
            "account",
            &account,
            "The account Synced Ltd was assigned to you."
        )]
    );
}

async fn converting_someone_elses_lead_notifies_them_once(app: TestApp) {
    let admin = app.signup("notify-convert").await;
    let rep = app.add_user(&admin, "rep").await;
    sales_pipeline(&app, &admin).await;
    let convert = |session: &Session, lead: &Value, body: Value| {
        let path = format!("/api/v1/leads/{}/convert", lead["id"].as_str().unwrap());
        let request = app.post(&path, &session.access_token, &body);
        async move { expect_status(request.send().await.unwrap(), StatusCode::OK).await }
    };
    let since = |rows: Vec<(String, String, String)>| {
        rows.into_iter()
            .filter(|(kind, _, _)| kind != "lead")
            .collect::<Vec<_>>()
    };

    // A rep converting their own lead is told nothing.
    let own = create_lead(&app, &rep, json!({"first_name": "Own", "company_name": "Own Ltd"})).await;
    convert(&rep, &own, json!({"deal": {"amount": "1.00"}})).await;
    assert!(notifications(&app, &rep, "").await.is_empty());

    // An admin converting it with a deal: one notification, for the deal.
    let lead = create_lead(
        &app,
        &admin,
        json!({"first_name": "Ada", "company_name": "Acme Ltd", "owner_id": rep.user_id}),
    )
    .await;
    let body = convert(&admin, &lead, json!({"deal": {"amount": "5.00"}})).await;
    assert_eq!(
        since(assignments(&app, &rep).await),
        [assignment(
            "deal",
            &body["deal"],
            "The deal Acme Ltd deal was assigned to you."
        )]
    );

    // Without a deal: one, for the new contact.
    let lead = create_lead(
        &app,
        &admin,
        json!({"first_name": "Grace", "last_name": "Hopper", "company_name": "Navy", "owner_id": rep.user_id}),
    )
    .await;
    let body = convert(&admin, &lead, json!({})).await;
    assert!(body["deal"].is_null());
    let rows = since(assignments(&app, &rep).await);
    assert_eq!(rows.len(), 2);
    assert!(rows.contains(&assignment(
        "contact",
        &body["contact"],
        "The contact Grace Hopper was assigned to you."
    )));

    // An existing contact and a new account: one, for the account.
    let contact = create_contact(&app, &admin, json!({"first_name": "Kept"})).await;
    let lead = create_lead(
        &app,
        &admin,
        json!({"first_name": "Linus", "company_name": "Globex", "owner_id": rep.user_id}),
    )
    .await;
    let body = convert(&admin, &lead, json!({"contact_id": contact["id"]})).await;
    assert_eq!(body["account"]["name"], "Globex");
    let rows = since(assignments(&app, &rep).await);
    assert_eq!(rows.len(), 3);
    assert!(rows.contains(&assignment(
        "account",
        &body["account"],
        "The account Globex was assigned to you."
    )));
    // Besides the three leads the admin gave the rep.
    assert_eq!(
        app.scalar("select count(*) from notifications where kind = 'assigned'")
            .await,
        6
    );
}
