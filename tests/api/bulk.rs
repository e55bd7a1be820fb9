//! Tags on every record, and bulk actions: one action on many records,
//! all or nothing, each record changed as its single write changes it.

use std::collections::HashSet;

use pipewise_tests::{expect_problem, expect_status, invalid_fields, on_both_backends, uuid, Session, TestApp};
use reqwest::StatusCode;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::{
    accounts::create_account,
    contacts::create_contact,
    deals::{create_deal, deal_events},
    imports::imported,
    leads::create_lead,
    pipelines::sales_pipeline,
};

on_both_backends!(
    every_record_keeps_normalized_tags_that_lists_filter_by,
    tags_travel_through_export_and_import,
    bulk_deal_actions_change_every_deal_or_none,
    bulk_lead_actions_write_as_single_writes_do,
    bad_bulk_requests_are_refused_and_change_nothing,
    reps_bulk_act_on_their_own_records_only,
    parallel_bulk_actions_over_the_same_records_lose_nothing,
);

async fn bulk(app: &TestApp, session: &Session, resource: &str, body: Value) -> reqwest::Response {
    app.post(&format!("/api/v1/{resource}/bulk"), &session.access_token, &body)
        .send()
        .await
        .unwrap()
}

async fn bulk_ok(app: &TestApp, session: &Session, resource: &str, body: Value) -> Value {
    expect_status(bulk(app, session, resource, body).await, StatusCode::OK).await
}

async fn get(app: &TestApp, session: &Session, path: &str) -> Value {
    expect_status(
        app.get(path, &session.access_token).send().await.unwrap(),
        StatusCode::OK,
    )
    .await
}

async fn list_ids(app: &TestApp, session: &Session, path: &str) -> HashSet<String> {
    let page = get(app, session, path).await;
    page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_owned())
        .collect()
}

fn ids(records: &[&Value]) -> Vec<String> {
    records.iter().map(|r| r["id"].as_str().unwrap().to_owned()).collect()
}

async fn every_record_keeps_normalized_tags_that_lists_filter_by(app: TestApp) {
    let admin = app.signup("tags").await;
    let sales = sales_pipeline(&app, &admin).await;
    let tags = json!([" VIP ", "Trade   Show", "vip"]);
    let account = create_account(&app, &admin, json!({"name": "Acme", "tags": tags})).await;
    let contact = create_contact(&app, &admin, json!({"first_name": "Ada", "tags": tags})).await;
    let lead = create_lead(&app, &admin, json!({"first_name": "Lin", "tags": tags})).await;
    let deal = create_deal(
        &app,
        &admin,
        json!({"title": "Big", "amount": "10", "pipeline_id": sales["id"], "tags": tags}),
    )
    .await;
    create_account(&app, &admin, json!({"name": "Untagged"})).await;
    for (record, resource) in [
        (&account, "accounts"),
        (&contact, "contacts"),
        (&lead, "leads"),
        (&deal, "deals"),
    ] {
        assert_eq!(record["tags"], json!(["trade show", "vip"]), "{resource}");
        let found = list_ids(&app, &admin, &format!("/api/v1/{resource}?tag=VIP")).await;
        assert_eq!(
            found,
            HashSet::from([record["id"].as_str().unwrap().to_owned()]),
            "{resource}"
        );
        let path = format!("/api/v1/{resource}/{}", record["id"].as_str().unwrap());
        let patched = expect_status(
            app.patch(&path, &admin.access_token, &json!({"tags": ["Q4"]}))
                .send()
                .await
                .unwrap(),
            StatusCode::OK,
        )
        .await;
        assert_eq!(patched["tags"], json!(["q4"]), "{resource}");
        assert!(list_ids(&app, &admin, &format!("/api/v1/{resource}?tag=vip"))
            .await
            .is_empty());
        assert_eq!(
            list_ids(&app, &admin, &format!("/api/v1/{resource}?tag=q4"))
                .await
                .len(),
            1
        );
        // Other fields of a PATCH leave the tags alone.
        let response = app
            .patch(
                &path,
                &admin.access_token,
                &json!({"external_id": format!("x-{resource}")}),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(expect_status(response, StatusCode::OK).await["tags"], json!(["q4"]));
    }
    // The index the filters read holds each record's tags, and nothing else.
    assert_eq!(app.scalar("select count(*) from record_tags").await, 4);
    assert_eq!(app.scalar("select count(*) from record_tags where tag = 'q4'").await, 4);

    let bad = app
        .post(
            "/api/v1/accounts",
            &admin.access_token,
            &json!({"name": "Bad", "tags": ["a,b"]}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(
        invalid_fields(&expect_problem(bad, StatusCode::UNPROCESSABLE_ENTITY).await),
        ["tags"]
    );
    let too_many: Vec<String> = (0..31).map(|i| format!("t{i}")).collect();
    let bad = app
        .post(
            "/api/v1/leads",
            &admin.access_token,
            &json!({"first_name": "Bo", "tags": too_many}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(
        invalid_fields(&expect_problem(bad, StatusCode::UNPROCESSABLE_ENTITY).await),
        ["tags"]
    );
    let bad_filter = app
        .get("/api/v1/deals?tag=a;b", &admin.access_token)
        .send()
        .await
        .unwrap();
    expect_problem(bad_filter, StatusCode::BAD_REQUEST).await;
    assert_eq!(
        app.scalar("select count(*) from accounts").await,
        2,
        "nothing was created"
    );
}

async fn tags_travel_through_export_and_import(app: TestApp) {
    let admin = app.signup("tagcsv").await;
    create_contact(&app, &admin, json!({"first_name": "Ada", "tags": ["vip", "=cmd"]})).await;
    let export = app
        .get("/api/v1/exports/contacts", &admin.access_token)
        .send()
        .await
        .unwrap();
    assert_eq!(export.status(), StatusCode::OK);
    let body = export.text().await.unwrap();
    let mut reader = csv::Reader::from_reader(body.as_bytes());
    let header = reader.headers().unwrap().clone();
    let column = header.iter().position(|h| h == "tags").expect("a tags column");
    let row = reader.records().next().unwrap().unwrap();
    assert_eq!(
        &row[column], "'=cmd; vip",
        "formula-guarded, separated as an import splits them"
    );

    let csv = "first_name,email,tags\nGrace,grace@example.com,\"Partner; Q4 ,vip\"\n";
    let import = imported(&app, &admin.access_token, "resource=contacts", csv).await;
    assert_eq!(import["created"], 1);
    let page = get(&app, &admin, "/api/v1/contacts?tag=partner").await;
    assert_eq!(page["data"][0]["tags"], json!(["partner", "q4", "vip"]));
    let csv = "first_name,tags\nBad,\"ok;a\u{7}\"\n";
    let import = imported(&app, &admin.access_token, "resource=contacts&mode=partial", csv).await;
    assert_eq!(
        (import["created"].as_i64(), import["failed"].as_i64()),
        (Some(0), Some(1))
    );
    assert_eq!(import["errors"][0]["column"], "tags");
}

async fn bulk_deal_actions_change_every_deal_or_none(app: TestApp) {
    let admin = app.signup("bulkdeal").await;
    let rep = app.add_user(&admin, "rep").await;
    let sales = sales_pipeline(&app, &admin).await;
    let mut open = Vec::new();
    for title in ["A", "B", "C"] {
        open.push(
            create_deal(
                &app,
                &admin,
                json!({"title": title, "amount": "100", "pipeline_id": sales["id"]}),
            )
            .await,
        );
    }
    let won = create_deal(
        &app,
        &admin,
        json!({"title": "W", "amount": "5", "pipeline_id": sales["id"]}),
    )
    .await;
    let path = format!("/api/v1/deals/{}/win", won["id"].as_str().unwrap());
    expect_status(
        app.post(&path, &admin.access_token, &json!({})).send().await.unwrap(),
        StatusCode::OK,
    )
    .await;

    // A won deal among them: 409 naming it, and no deal is lost.
    let mut all = ids(&open.iter().collect::<Vec<_>>());
    all.push(won["id"].as_str().unwrap().to_owned());
    let refused = bulk(
        &app,
        &admin,
        "deals",
        json!({"ids": all, "action": "lose", "reason": "Budget"}),
    )
    .await;
    let problem = expect_problem(refused, StatusCode::CONFLICT).await;
    assert!(problem["detail"]
        .as_str()
        .unwrap()
        .contains(won["id"].as_str().unwrap()));
    assert_eq!(app.scalar("select count(*) from deals where status = 'lost'").await, 0);
    assert_eq!(
        app.scalar("select count(*) from deal_events where kind = 'lost'").await,
        0
    );

    // The open ones: each lost, with its event and reason.
    let open_ids = ids(&open.iter().collect::<Vec<_>>());
    let outcome = bulk_ok(
        &app,
        &admin,
        "deals",
        json!({"ids": open_ids, "action": "lose", "reason": "Budget"}),
    )
    .await;
    assert_eq!(
        (outcome["matched"].as_i64(), outcome["changed"].as_i64()),
        (Some(3), Some(3))
    );
    for deal in &open {
        let events = deal_events(&app, &admin, deal).await;
        let last = events.last().unwrap();
        assert_eq!(
            (last["kind"].as_str(), last["lost_reason"].as_str()),
            (Some("lost"), Some("Budget"))
        );
    }
    // Again: they already are lost, nothing changes.
    let again = bulk_ok(
        &app,
        &admin,
        "deals",
        json!({"ids": open_ids, "action": "lose", "reason": "Budget"}),
    )
    .await;
    assert_eq!(again["changed"], 0);
    assert_eq!(
        app.scalar("select count(*) from deal_events where kind = 'lost'").await,
        3
    );

    // By filter: tag the lost ones, then give them to the rep, who is told.
    let tagged = bulk_ok(
        &app,
        &admin,
        "deals",
        json!({"filter": {"status": "lost"}, "action": "add_tag", "tag": "Post-Mortem"}),
    )
    .await;
    assert_eq!(tagged["changed"], 3);
    assert_eq!(list_ids(&app, &admin, "/api/v1/deals?tag=post-mortem").await.len(), 3);
    let assigned = bulk_ok(
        &app,
        &admin,
        "deals",
        json!({"filter": {"tag": "post-mortem"}, "action": "assign", "owner_id": rep.user_id}),
    )
    .await;
    assert_eq!(assigned["changed"], 3);
    let changed: HashSet<String> = assigned["changed_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(changed, open_ids.iter().cloned().collect());
    let rep_sql = app.sql_uuid(rep.user_id);
    assert_eq!(
        app.scalar(&format!("select count(*) from deals where owner_id = {rep_sql}"))
            .await,
        3
    );
    assert_eq!(
        app.scalar(&format!("select count(*) from notifications where user_id = {rep_sql}"))
            .await,
        3
    );

    let removed = bulk_ok(
        &app,
        &admin,
        "deals",
        json!({"ids": open_ids, "action": "remove_tag", "tag": "post-mortem"}),
    )
    .await;
    assert_eq!(removed["changed"], 3);
    assert_eq!(app.scalar("select count(*) from record_tags").await, 0);
    let deleted = bulk_ok(&app, &admin, "deals", json!({"ids": open_ids, "action": "delete"})).await;
    assert_eq!(deleted["changed"], 3);
    assert_eq!(
        app.scalar("select count(*) from deals where deleted_at is not null")
            .await,
        3
    );
    assert_eq!(
        list_ids(&app, &admin, "/api/v1/deals").await.len(),
        1,
        "only the won deal is left"
    );
}

async fn bulk_lead_actions_write_as_single_writes_do(app: TestApp) {
    let admin = app.signup("bulklead").await;
    let a = create_lead(&app, &admin, json!({"first_name": "A", "source": "fair"})).await;
    let b = create_lead(&app, &admin, json!({"first_name": "B", "source": "fair"})).await;
    let c = create_lead(&app, &admin, json!({"first_name": "C", "source": "web"})).await;

    let missing_reason = bulk(
        &app,
        &admin,
        "leads",
        json!({"ids": ids(&[&a]), "action": "set_status", "status": "unqualified"}),
    )
    .await;
    assert_eq!(
        invalid_fields(&expect_problem(missing_reason, StatusCode::UNPROCESSABLE_ENTITY).await),
        ["reason"]
    );
    let converted = bulk(
        &app,
        &admin,
        "leads",
        json!({"ids": ids(&[&a]), "action": "set_status", "status": "converted"}),
    )
    .await;
    assert_eq!(
        invalid_fields(&expect_problem(converted, StatusCode::UNPROCESSABLE_ENTITY).await),
        ["status"]
    );

    let outcome = bulk_ok(
        &app,
        &admin,
        "leads",
        json!({"filter": {"source": "fair"}, "action": "set_status", "status": "unqualified", "reason": "Students"}),
    )
    .await;
    assert_eq!(
        (outcome["matched"].as_i64(), outcome["changed"].as_i64()),
        (Some(2), Some(2))
    );
    for lead in [&a, &b] {
        let now = get(&app, &admin, &format!("/api/v1/leads/{}", lead["id"].as_str().unwrap())).await;
        assert_eq!(
            (now["status"].as_str(), now["unqualified_reason"].as_str()),
            (Some("unqualified"), Some("Students"))
        );
        assert_eq!(now["version"], 2);
    }
    // Closed leads count as outcomes for the prediction, as after a PATCH.
    assert_eq!(
        app.scalar("select cast(coalesce(sum(failures), 0) as bigint) from lead_outcome_counts where field = 'source'")
            .await,
        2
    );
    assert_eq!(
        get(&app, &admin, &format!("/api/v1/leads/{}", c["id"].as_str().unwrap())).await["status"],
        "new"
    );

    let deleted = bulk_ok(
        &app,
        &admin,
        "leads",
        json!({"ids": ids(&[&a, &c]), "action": "delete"}),
    )
    .await;
    assert_eq!(deleted["changed"], 2);
    assert_eq!(
        app.scalar("select count(*) from audit_log where action = 'lead.deleted'")
            .await,
        2
    );
    assert_eq!(
        list_ids(&app, &admin, "/api/v1/leads").await,
        HashSet::from([b["id"].as_str().unwrap().to_owned()])
    );
}

async fn bad_bulk_requests_are_refused_and_change_nothing(app: TestApp) {
    let admin = app.signup("bulkbad").await;
    let other = app.signup("bulkother").await;
    let mine = create_account(&app, &admin, json!({"name": "Mine"})).await;
    let theirs = create_account(&app, &other, json!({"name": "Theirs"})).await;
    let one = ids(&[&mine]);

    let cases = [
        (json!({"ids": one, "filter": {}, "action": "delete"}), "ids"),
        (json!({"action": "delete"}), "ids"),
        (json!({"ids": [], "action": "delete"}), "ids"),
        (json!({"ids": one, "action": "assign"}), "owner_id"),
        (
            json!({"ids": one, "action": "assign", "owner_id": Uuid::new_v4()}),
            "owner_id",
        ),
        (json!({"ids": one, "action": "add_tag"}), "tag"),
        (json!({"ids": one, "action": "add_tag", "tag": "a;b"}), "tag"),
        (json!({"ids": one, "action": "delete", "tag": "vip"}), "tag"),
        (json!({"ids": one, "action": "explode"}), "action"),
    ];
    for (body, field) in cases {
        let response = bulk(&app, &admin, "accounts", body.clone()).await;
        let problem = expect_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert_eq!(invalid_fields(&problem), [field], "{body}");
    }
    let too_many: Vec<Uuid> = (0..5001).map(|_| Uuid::new_v4()).collect();
    let response = bulk(&app, &admin, "accounts", json!({"ids": too_many, "action": "delete"})).await;
    assert_eq!(
        invalid_fields(&expect_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await),
        ["ids"]
    );

    // Another organization's account, or none at all: named as not found, and nothing changes.
    let absent = Uuid::new_v4();
    let body = json!({"ids": [mine["id"], theirs["id"], absent], "action": "add_tag", "tag": "x"});
    let problem = expect_problem(
        bulk(&app, &admin, "accounts", body).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(problem["errors"][0]["code"], "not_found");
    let message = problem["errors"][0]["message"].as_str().unwrap();
    assert!(message.contains(theirs["id"].as_str().unwrap()) && message.contains(&absent.to_string()));
    assert!(!message.contains(mine["id"].as_str().unwrap()));
    assert_eq!(app.scalar("select count(*) from record_tags").await, 0);
    assert_eq!(app.scalar("select max(version) from accounts").await, 1);

    let response = app
        .post(
            "/api/v1/accounts/bulk",
            "not-a-token",
            &json!({"ids": one, "action": "delete"}),
        )
        .send()
        .await
        .unwrap();
    expect_problem(response, StatusCode::UNAUTHORIZED).await;
    let (_, read_only) = app.api_key(&admin, &["read"]).await;
    let response = app
        .request(reqwest::Method::POST, "/api/v1/accounts/bulk")
        .header("x-api-key", read_only)
        .json(&json!({"ids": one, "action": "delete"}))
        .send()
        .await
        .unwrap();
    expect_problem(response, StatusCode::FORBIDDEN).await;
    assert_eq!(list_ids(&app, &admin, "/api/v1/accounts").await.len(), 1);
}

async fn reps_bulk_act_on_their_own_records_only(app: TestApp) {
    let admin = app.signup("bulkrep").await;
    let rep = app.add_user(&admin, "rep").await;
    let own = create_contact(&app, &rep, json!({"first_name": "Own", "tags": ["fair"]})).await;
    let admins = create_contact(&app, &admin, json!({"first_name": "Admins", "tags": ["fair"]})).await;

    // Another's contact by id: 403, and the rep's own is not changed either.
    let body = json!({"ids": ids(&[&own, &admins]), "action": "add_tag", "tag": "mine"});
    expect_problem(bulk(&app, &rep, "contacts", body).await, StatusCode::FORBIDDEN).await;
    assert_eq!(
        app.scalar("select count(*) from record_tags where tag = 'mine'").await,
        0
    );
    // Giving records away: 403.
    let body = json!({"ids": ids(&[&own]), "action": "assign", "owner_id": admin.user_id});
    expect_problem(bulk(&app, &rep, "contacts", body).await, StatusCode::FORBIDDEN).await;
    // A filter admits the rep's own records only.
    let outcome = bulk_ok(
        &app,
        &rep,
        "contacts",
        json!({"filter": {"tag": "fair"}, "action": "add_tag", "tag": "mine"}),
    )
    .await;
    assert_eq!(outcome["changed_ids"], json!([own["id"]]));

    // Leads and deals of others are invisible to a rep: not found.
    let lead = create_lead(&app, &admin, json!({"first_name": "Hidden"})).await;
    let body = json!({"ids": ids(&[&lead]), "action": "delete"});
    let problem = expect_problem(bulk(&app, &rep, "leads", body).await, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(problem["errors"][0]["code"], "not_found");
    let sales = sales_pipeline(&app, &admin).await;
    let deal = create_deal(
        &app,
        &admin,
        json!({"title": "Hidden", "amount": "1", "pipeline_id": sales["id"]}),
    )
    .await;
    let body = json!({"ids": ids(&[&deal]), "action": "delete"});
    expect_problem(bulk(&app, &rep, "deals", body).await, StatusCode::UNPROCESSABLE_ENTITY).await;
    let outcome = bulk_ok(&app, &rep, "deals", json!({"filter": {}, "action": "delete"})).await;
    assert_eq!(outcome["matched"], 0);
    assert_eq!(
        app.scalar("select count(*) from deals where deleted_at is null").await,
        1
    );
    assert_eq!(
        uuid(
            &get(
                &app,
                &admin,
                &format!("/api/v1/contacts/{}", admins["id"].as_str().unwrap())
            )
            .await["owner_id"]
        ),
        admin.user_id
    );
}

/// Twenty bulk actions at once, each adding its own tag to the same ten
/// accounts (in different orders), while single PATCHes rename them: every
/// action applies in full and none is lost.
async fn parallel_bulk_actions_over_the_same_records_lose_nothing(app: TestApp) {
    let admin = app.signup("bulkrace").await;
    let mut accounts = Vec::new();
    for i in 0..10 {
        accounts.push(create_account(&app, &admin, json!({"name": format!("Acct {i}")})).await);
    }
    let all = ids(&accounts.iter().collect::<Vec<_>>());
    let mut requests = Vec::new();
    for i in 0..20 {
        let mut order = all.clone();
        order.rotate_left(i % 10);
        if i % 2 == 1 {
            order.reverse();
        }
        requests.push(app.post(
            "/api/v1/accounts/bulk",
            &admin.access_token,
            &json!({"ids": order, "action": "add_tag", "tag": format!("t{i}")}),
        ));
    }
    for (i, account) in accounts.iter().enumerate() {
        requests.push(app.patch(
            &format!("/api/v1/accounts/{}", account["id"].as_str().unwrap()),
            &admin.access_token,
            &json!({"name": format!("Renamed {i}")}),
        ));
    }
    let statuses = pipewise_tests::statuses_in_parallel(requests).await;
    assert!(statuses.iter().all(|s| *s == StatusCode::OK), "{statuses:?}");
    for account in &accounts {
        let now = get(
            &app,
            &admin,
            &format!("/api/v1/accounts/{}", account["id"].as_str().unwrap()),
        )
        .await;
        assert_eq!(now["tags"].as_array().unwrap().len(), 20, "{now}");
        assert!(now["name"].as_str().unwrap().starts_with("Renamed"));
        assert_eq!(now["version"], 22);
    }
    assert_eq!(app.scalar("select count(*) from record_tags").await, 200);
}
