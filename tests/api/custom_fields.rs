//! Custom fields: admins define them, records carry typed values checked
//! against them, the index the filters read follows every write, and a
//! deletion takes the values off every record.

use pipewise_tests::{expect_problem, expect_status, invalid_fields, on_both_backends, Session, TestApp};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::{
    accounts::create_account,
    contacts::create_contact,
    deals::create_deal,
    imports::{counts, errors, export_of, imported},
    leads::create_lead,
    pipelines::sales_pipeline,
};

on_both_backends!(
    admins_define_custom_fields_and_everyone_reads_them,
    a_bad_definition_is_refused,
    fifty_fields_per_kind_of_record_even_in_parallel,
    records_carry_typed_values_checked_against_their_fields,
    every_kind_of_record_carries_custom_values,
    deleting_a_field_takes_its_values_off_every_record,
    writes_racing_a_deletion_leave_no_value_behind,
    lists_and_exports_filter_by_custom_fields_and_imports_read_them,
    scoring_rules_read_custom_fields,
);

pub async fn define(app: &TestApp, admin: &Session, body: Value) -> Value {
    let response = app
        .post("/api/v1/custom-fields", &admin.access_token, &body)
        .send()
        .await
        .unwrap();
    expect_status(response, StatusCode::CREATED).await
}

fn path(field: &Value) -> String {
    format!("/api/v1/custom-fields/{}", field["id"].as_str().unwrap())
}

async fn admins_define_custom_fields_and_everyone_reads_them(app: TestApp) {
    let admin = app.signup("cf").await;
    let rep = app.add_user(&admin, "rep").await;
    let body = json!({"resource": "deals", "key": "contract_type", "label": "Contract type", "type": "select",
                      "options": [" Annual ", "Monthly"], "required": false});
    let response = app
        .post("/api/v1/custom-fields", &admin.access_token, &body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["etag"], "\"1\"");
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let field = expect_status(response, StatusCode::CREATED).await;
    assert_eq!(location, path(&field));
    assert_eq!(
        (
            field["key"].as_str(),
            field["type"].as_str(),
            field["resource"].as_str()
        ),
        (Some("contract_type"), Some("select"), Some("deals"))
    );
    assert_eq!(field["options"], json!(["Annual", "Monthly"]));
    assert_eq!(field["required"], false);

    // The same key on another kind of record is another field.
    define(
        &app,
        &admin,
        json!({"resource": "leads", "key": "contract_type", "label": "Wanted contract", "type": "text"}),
    )
    .await;
    let again = app
        .post("/api/v1/custom-fields", &admin.access_token, &body)
        .send()
        .await
        .unwrap();
    expect_problem(again, StatusCode::CONFLICT).await;

    // Everyone reads them; only admins change them.
    let listed = expect_status(
        app.get("/api/v1/custom-fields?resource=deals", &rep.access_token)
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(listed["data"].as_array().unwrap().len(), 1);
    let all = app
        .get("/api/v1/custom-fields", &rep.access_token)
        .send()
        .await
        .unwrap();
    assert_eq!(
        expect_status(all, StatusCode::OK).await["data"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let by_rep = app
        .post(
            "/api/v1/custom-fields",
            &rep.access_token,
            &json!({"resource": "deals", "key": "x", "label": "X", "type": "text"}),
        )
        .send()
        .await
        .unwrap();
    expect_problem(by_rep, StatusCode::FORBIDDEN).await;
    let (_, key) = app.api_key(&admin, &["read", "write"]).await;
    let by_key = app
        .request(Method::POST, "/api/v1/custom-fields")
        .header("x-api-key", &key)
        .json(&json!({"resource": "deals", "key": "x", "label": "X", "type": "text"}))
        .send()
        .await
        .unwrap();
    expect_problem(by_key, StatusCode::FORBIDDEN).await;
    let read_by_key = app
        .request(Method::GET, &path(&field))
        .header("x-api-key", &key)
        .send()
        .await
        .unwrap();
    assert_eq!(expect_status(read_by_key, StatusCode::OK).await["id"], field["id"]);

    // Label, options (only more) and the required flag change; the key and type stay.
    let changed = app
        .patch(
            &path(&field),
            &admin.access_token,
            &json!({"label": "Contract", "options": ["Monthly", "Annual", "Multi-year"], "required": true}),
        )
        .header("if-match", "\"1\"")
        .send()
        .await
        .unwrap();
    let changed = expect_status(changed, StatusCode::OK).await;
    assert_eq!(changed["version"], 2);
    assert_eq!(changed["options"], json!(["Monthly", "Annual", "Multi-year"]));
    assert_eq!(changed["required"], true);
    let dropped = app
        .patch(&path(&field), &admin.access_token, &json!({"options": ["Monthly"]}))
        .send()
        .await
        .unwrap();
    let problem = expect_problem(dropped, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(invalid_fields(&problem), ["options"]);
    let stale = app
        .patch(&path(&field), &admin.access_token, &json!({"label": "Old"}))
        .header("if-match", "\"1\"")
        .send()
        .await
        .unwrap();
    expect_problem(stale, StatusCode::PRECONDITION_FAILED).await;
    let retype = app
        .patch(&path(&field), &admin.access_token, &json!({"type": "text"}))
        .send()
        .await
        .unwrap();
    assert!(retype.status().is_client_error(), "{}", retype.status());
    assert_eq!(
        app.scalar("select count(*) from audit_log where action like 'custom_field.%'")
            .await,
        3
    );

    // Another organization sees none of it.
    let stranger = app.signup("cf-stranger").await;
    for request in [
        app.get(&path(&field), &stranger.access_token),
        app.patch(&path(&field), &stranger.access_token, &json!({"label": "Mine"})),
        app.delete(&path(&field), &stranger.access_token),
    ] {
        expect_problem(request.send().await.unwrap(), StatusCode::NOT_FOUND).await;
    }
    let theirs = app
        .get("/api/v1/custom-fields", &stranger.access_token)
        .send()
        .await
        .unwrap();
    assert_eq!(expect_status(theirs, StatusCode::OK).await["data"], json!([]));
}

async fn a_bad_definition_is_refused(app: TestApp) {
    let admin = app.signup("cfbad").await;
    let cases = [
        (
            json!({"resource": "leads", "key": "Bad Key", "label": "X", "type": "text"}),
            "key",
        ),
        (
            json!({"resource": "leads", "key": "1st", "label": "X", "type": "text"}),
            "key",
        ),
        (
            json!({"resource": "leads", "key": "ok", "label": " ", "type": "text"}),
            "label",
        ),
        (
            json!({"resource": "leads", "key": "ok", "label": "X", "type": "select"}),
            "options",
        ),
        (
            json!({"resource": "leads", "key": "ok", "label": "X", "type": "text", "options": ["a"]}),
            "options",
        ),
        (
            json!({"resource": "leads", "key": "ok", "label": "X", "type": "multi_select", "options": ["a", "A"]}),
            "options",
        ),
        (
            json!({"resource": "leads", "key": "ok", "label": "X", "type": "select", "options": ["a;b"]}),
            "options",
        ),
        (
            json!({"resource": "notes", "key": "ok", "label": "X", "type": "text"}),
            "resource",
        ),
        (
            json!({"resource": "leads", "key": "ok", "label": "X", "type": "money"}),
            "type",
        ),
    ];
    for (body, field) in cases {
        let response = app
            .post("/api/v1/custom-fields", &admin.access_token, &body)
            .send()
            .await
            .unwrap();
        let problem = expect_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert_eq!(invalid_fields(&problem), [field], "{body}");
    }
    assert_eq!(app.scalar("select count(*) from custom_fields").await, 0);
}

/// The cap and the unique keys hold for creates racing each other.
async fn fifty_fields_per_kind_of_record_even_in_parallel(app: TestApp) {
    let admin = app.signup("cfcap").await;
    let requests = (0..56).map(|i| {
        // Two creates per key for the first six keys.
        let key = format!("f{}", i % 50);
        let body = json!({"resource": "accounts", "key": key, "label": key, "type": "number"});
        let request = app.post("/api/v1/custom-fields", &admin.access_token, &body);
        async move { request.send().await.unwrap().status() }
    });
    let statuses = futures_util::future::join_all(requests).await;
    let created = statuses.iter().filter(|s| **s == StatusCode::CREATED).count();
    assert_eq!(created, 50, "{statuses:?}");
    assert!(statuses
        .iter()
        .all(|s| *s == StatusCode::CREATED || *s == StatusCode::CONFLICT));
    assert_eq!(app.scalar("select count(*) from custom_fields").await, 50);
    let one_more = app
        .post(
            "/api/v1/custom-fields",
            &admin.access_token,
            &json!({"resource": "accounts", "key": "extra", "label": "Extra", "type": "text"}),
        )
        .send()
        .await
        .unwrap();
    expect_problem(one_more, StatusCode::CONFLICT).await;
}

/// Defines a field of every type on leads.
async fn lead_fields(app: &TestApp, admin: &Session) {
    for body in [
        json!({"key": "budget", "type": "decimal"}),
        json!({"key": "seats", "type": "number"}),
        json!({"key": "renewal", "type": "date"}),
        json!({"key": "vip", "type": "boolean", "required": true}),
        json!({"key": "channels", "type": "multi_select", "options": ["Email", "Phone", "Chat"]}),
        json!({"key": "tier", "type": "select", "options": ["Gold", "Silver"]}),
        json!({"key": "note", "type": "text"}),
    ] {
        let mut body = body;
        body["resource"] = json!("leads");
        body["label"] = body["key"].clone();
        define(app, admin, body).await;
    }
}

async fn records_carry_typed_values_checked_against_their_fields(app: TestApp) {
    let admin = app.signup("cfvalues").await;
    lead_fields(&app, &admin).await;
    let lead = create_lead(
        &app,
        &admin,
        json!({"first_name": "Ada", "custom_fields": {
            "budget": "1200.50", "seats": 12, "renewal": "2027-03-31", "vip": true,
            "channels": ["chat", "Email", "CHAT"], "tier": "gold", "note": "  Met at the fair  "}}),
    )
    .await;
    assert_eq!(
        lead["custom_fields"],
        json!({"budget": "1200.5", "seats": 12, "renewal": "2027-03-31", "vip": true,
               "channels": ["Email", "Chat"], "tier": "Gold", "note": "Met at the fair"})
    );
    let id = app.sql_uuid(pipewise_tests::uuid(&lead["id"]));
    assert_eq!(
        app.scalar(&format!(
            "select count(*) from record_custom_values where record_id = {id} and kind = 'lead'"
        ))
        .await,
        8,
        "one row per value, one per option of a list"
    );
    assert_eq!(
        app.scalar(&format!(
            "select count(*) from record_custom_values where record_id = {id}
             and ((field_key = 'vip' and value = 'true') or (field_key = 'channels' and value = 'chat')
                  or (field_key = 'budget' and value = '1200.5') or (field_key = 'seats' and value = '12'))"
        ))
        .await,
        4
    );

    // Every wrong value is named in one answer; a required field must be there.
    let response = app
        .post(
            "/api/v1/leads",
            &admin.access_token,
            &json!({"first_name": "Bad", "custom_fields": {
                "budget": "lots", "seats": 1.5, "renewal": "31/03/2027", "channels": ["Fax"], "tier": ["Gold"],
                "note": 7, "nope": 1}}),
        )
        .send()
        .await
        .unwrap();
    let problem = expect_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    let mut named = invalid_fields(&problem);
    named.sort();
    assert_eq!(
        named,
        [
            "custom_fields.budget",
            "custom_fields.channels",
            "custom_fields.nope",
            "custom_fields.note",
            "custom_fields.renewal",
            "custom_fields.seats",
            "custom_fields.tier",
            "custom_fields.vip",
        ]
    );
    let response = app
        .post("/api/v1/leads", &admin.access_token, &json!({"first_name": "NoVip"}))
        .send()
        .await
        .unwrap();
    let problem = expect_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(invalid_fields(&problem), ["custom_fields.vip"]);
    assert_eq!(app.scalar("select count(*) from leads").await, 1);

    // A PATCH changes the keys it names; null clears one, never a required one.
    let lead_path = format!("/api/v1/leads/{}", lead["id"].as_str().unwrap());
    let patched = app
        .patch(
            &lead_path,
            &admin.access_token,
            &json!({"custom_fields": {"seats": 15, "note": null}}),
        )
        .send()
        .await
        .unwrap();
    let patched = expect_status(patched, StatusCode::OK).await;
    assert_eq!(patched["custom_fields"]["seats"], 15);
    assert!(patched["custom_fields"].get("note").is_none());
    assert_eq!(patched["custom_fields"]["tier"], "Gold");
    assert_eq!(patched["version"], 2);
    let cleared = app
        .patch(
            &lead_path,
            &admin.access_token,
            &json!({"custom_fields": {"vip": null}}),
        )
        .send()
        .await
        .unwrap();
    let problem = expect_problem(cleared, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(invalid_fields(&problem), ["custom_fields.vip"]);
    let same = app
        .patch(
            &lead_path,
            &admin.access_token,
            &json!({"custom_fields": {"seats": 15}}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(
        expect_status(same, StatusCode::OK).await["version"],
        2,
        "nothing changed"
    );
    assert_eq!(
        app.scalar(&format!(
            "select count(*) from record_custom_values where record_id = {id} and field_key in ('seats', 'note')"
        ))
        .await,
        1
    );
}

async fn every_kind_of_record_carries_custom_values(app: TestApp) {
    let admin = app.signup("cfkinds").await;
    let sales = sales_pipeline(&app, &admin).await;
    for resource in ["contacts", "accounts", "deals"] {
        define(
            &app,
            &admin,
            json!({"resource": resource, "key": "region", "label": "Region", "type": "select",
                   "options": ["EMEA", "APAC"]}),
        )
        .await;
    }
    let account = create_account(
        &app,
        &admin,
        json!({"name": "Acme", "custom_fields": {"region": "emea"}}),
    )
    .await;
    let contact = create_contact(
        &app,
        &admin,
        json!({"first_name": "Ada", "custom_fields": {"region": "apac"}}),
    )
    .await;
    let deal = create_deal(
        &app,
        &admin,
        json!({"title": "Big", "amount": "10", "pipeline_id": sales["id"], "custom_fields": {"region": "EMEA"}}),
    )
    .await;
    for (record, kind, expected) in [
        (&account, "accounts", "EMEA"),
        (&contact, "contacts", "APAC"),
        (&deal, "deals", "EMEA"),
    ] {
        assert_eq!(record["custom_fields"], json!({"region": expected}), "{kind}");
        let record_path = format!("/api/v1/{kind}/{}", record["id"].as_str().unwrap());
        let read = app.get(&record_path, &admin.access_token).send().await.unwrap();
        assert_eq!(
            expect_status(read, StatusCode::OK).await["custom_fields"]["region"],
            expected
        );
        let wrong = app
            .patch(
                &record_path,
                &admin.access_token,
                &json!({"custom_fields": {"region": "Mars"}}),
            )
            .send()
            .await
            .unwrap();
        let problem = expect_problem(wrong, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert_eq!(invalid_fields(&problem), ["custom_fields.region"], "{kind}");
        let moved = app
            .patch(
                &record_path,
                &admin.access_token,
                &json!({"custom_fields": {"region": "APAC"}}),
            )
            .send()
            .await
            .unwrap();
        let moved = expect_status(moved, StatusCode::OK).await;
        assert_eq!(moved["custom_fields"]["region"], "APAC", "{kind}");
        let unchanged = app
            .patch(
                &record_path,
                &admin.access_token,
                &json!({"custom_fields": {"region": "apac"}}),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(
            expect_status(unchanged, StatusCode::OK).await["version"],
            moved["version"],
            "{kind}: the same value is no change"
        );
    }
    assert_eq!(
        app.scalar("select count(*) from record_custom_values where field_key = 'region' and value = 'apac'")
            .await,
        3
    );
    for kind in ["contacts", "accounts", "deals"] {
        assert_eq!(
            listed(&app, &admin, &format!("/api/v1/{kind}?cf.region=apac"))
                .await
                .len(),
            1,
            "{kind}"
        );
        assert_eq!(
            listed(&app, &admin, &format!("/api/v1/{kind}?cf%5Bregion%5D=EMEA"))
                .await
                .len(),
            0,
            "{kind}"
        );
    }
    // A lead field is no contact field.
    let response = app
        .post(
            "/api/v1/leads",
            &admin.access_token,
            &json!({"first_name": "X", "custom_fields": {"region": "EMEA"}}),
        )
        .send()
        .await
        .unwrap();
    let problem = expect_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(invalid_fields(&problem), ["custom_fields.region"]);
}

async fn deleting_a_field_takes_its_values_off_every_record(app: TestApp) {
    let admin = app.signup("cfdelete").await;
    let seats = define(
        &app,
        &admin,
        json!({"resource": "accounts", "key": "seats", "label": "Seats", "type": "number"}),
    )
    .await;
    define(
        &app,
        &admin,
        json!({"resource": "accounts", "key": "plan", "label": "Plan", "type": "text"}),
    )
    .await;
    let account = create_account(
        &app,
        &admin,
        json!({"name": "Acme", "custom_fields": {"seats": 40, "plan": "Pro"}}),
    )
    .await;
    create_account(&app, &admin, json!({"name": "Globex", "custom_fields": {"seats": 5}})).await;
    let stale = app
        .delete(&path(&seats), &admin.access_token)
        .header("if-match", "\"7\"")
        .send()
        .await
        .unwrap();
    expect_problem(stale, StatusCode::PRECONDITION_FAILED).await;
    let deleted = app.delete(&path(&seats), &admin.access_token).send().await.unwrap();
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    let read = app
        .get(
            &format!("/api/v1/accounts/{}", account["id"].as_str().unwrap()),
            &admin.access_token,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(
        expect_status(read, StatusCode::OK).await["custom_fields"],
        json!({"plan": "Pro"})
    );
    assert_eq!(
        app.scalar("select count(*) from record_custom_values where field_key = 'seats'")
            .await,
        0
    );
    assert_eq!(
        app.scalar("select count(*) from accounts where custom_fields like '%seats%'")
            .await,
        0
    );
    expect_problem(
        app.get(&path(&seats), &admin.access_token).send().await.unwrap(),
        StatusCode::NOT_FOUND,
    )
    .await;
    // The key is free again, for any type.
    define(
        &app,
        &admin,
        json!({"resource": "accounts", "key": "seats", "label": "Seats", "type": "text"}),
    )
    .await;
}

/// Writes of a value racing the deletion of its field: each write lands
/// before the deletion (which then takes the value off), or is refused
/// after it; no record keeps a value of a field that is gone.
async fn writes_racing_a_deletion_leave_no_value_behind(app: TestApp) {
    let admin = app.signup("cfrace").await;
    let field = define(
        &app,
        &admin,
        json!({"resource": "contacts", "key": "score", "label": "Score", "type": "number"}),
    )
    .await;
    let mut contacts = Vec::new();
    for i in 0..10 {
        contacts.push(create_contact(&app, &admin, json!({"first_name": format!("C{i}")})).await);
    }
    let writes = contacts.iter().enumerate().map(|(i, contact)| {
        let request = app.patch(
            &format!("/api/v1/contacts/{}", contact["id"].as_str().unwrap()),
            &admin.access_token,
            &json!({"custom_fields": {"score": i}}),
        );
        async move { request.send().await.unwrap().status() }
    });
    let deletion = async {
        app.delete(&path(&field), &admin.access_token)
            .send()
            .await
            .unwrap()
            .status()
    };
    let (statuses, deleted) = futures_util::future::join(futures_util::future::join_all(writes), deletion).await;
    assert_eq!(deleted, StatusCode::NO_CONTENT);
    for status in &statuses {
        assert!(
            [StatusCode::OK, StatusCode::CONFLICT, StatusCode::UNPROCESSABLE_ENTITY].contains(status),
            "{statuses:?}"
        );
    }
    assert_eq!(
        app.scalar("select count(*) from contacts where custom_fields <> '{}'")
            .await,
        0
    );
    assert_eq!(app.scalar("select count(*) from record_custom_values").await, 0);
}

async fn listed(app: &TestApp, session: &Session, path: &str) -> Vec<Value> {
    let response = app.get(path, &session.access_token).send().await.unwrap();
    expect_status(response, StatusCode::OK).await["data"]
        .as_array()
        .unwrap()
        .clone()
}

fn names(records: &[Value]) -> Vec<String> {
    let mut names: Vec<String> = records
        .iter()
        .map(|r| r["first_name"].as_str().unwrap().to_owned())
        .collect();
    names.sort();
    names
}

async fn lists_and_exports_filter_by_custom_fields_and_imports_read_them(app: TestApp) {
    let admin = app.signup("cffilter").await;
    lead_fields(&app, &admin).await;
    for body in [
        json!({"first_name": "Ada", "custom_fields": {"vip": true, "tier": "Gold", "channels": ["Email"], "seats": 10,
                                                      "budget": "99.90"}}),
        json!({"first_name": "Bob", "custom_fields": {"vip": false, "tier": "Silver", "channels": ["Email", "Chat"],
                                                      "seats": 10}}),
        json!({"first_name": "Cy", "custom_fields": {"vip": true, "note": "=HYPERLINK(1)"}}),
    ] {
        create_lead(&app, &admin, body).await;
    }
    for (query, expected) in [
        ("cf.vip=true", vec!["Ada", "Cy"]),
        ("cf.vip=no", vec!["Bob"]),
        ("cf%5Btier%5D=gold", vec!["Ada"]),
        ("cf.channels=chat", vec!["Bob"]),
        ("cf.channels=Email&cf.seats=10", vec!["Ada", "Bob"]),
        ("cf.seats=10&cf.vip=false", vec!["Bob"]),
        ("cf.budget=99.9", vec!["Ada"]),
        ("cf.note=%3Dhyperlink(1)", vec!["Cy"]),
        ("cf.tier=Gold&limit=1", vec!["Ada"]),
    ] {
        let leads = listed(&app, &admin, &format!("/api/v1/leads?{query}")).await;
        assert_eq!(names(&leads), expected, "{query}");
    }
    for query in [
        "cf.nope=1",
        "cf.seats=ten",
        "cf.tier=Bronze",
        "cf.renewal=tomorrow",
        "other=1",
    ] {
        let response = app
            .get(&format!("/api/v1/leads?{query}"), &admin.access_token)
            .send()
            .await
            .unwrap();
        expect_problem(response, StatusCode::BAD_REQUEST).await;
    }

    // Bulk actions take the same filters in their JSON `filter`.
    let bulk = app
        .post(
            "/api/v1/leads/bulk",
            &admin.access_token,
            &json!({"filter": {"cf": {"vip": "true"}}, "action": "add_tag", "tag": "vip"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(expect_status(bulk, StatusCode::OK).await["matched"], 2);
    assert_eq!(
        names(&listed(&app, &admin, "/api/v1/leads?tag=vip").await),
        ["Ada", "Cy"]
    );
    for cf in [json!({"nope": "1"}), json!({"seats": "ten"})] {
        let bulk = app
            .post(
                "/api/v1/leads/bulk",
                &admin.access_token,
                &json!({"filter": {"cf": cf}, "action": "delete"}),
            )
            .send()
            .await
            .unwrap();
        let problem = expect_problem(bulk, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert_eq!(invalid_fields(&problem), ["filter"]);
    }

    // Exports: a column per custom field, filtered the same way.
    let export = export_of(&app, &admin.access_token, "leads").await;
    let header = export.lines().next().unwrap();
    assert!(
        header.ends_with("cf.budget,cf.seats,cf.renewal,cf.vip,cf.channels,cf.tier,cf.note"),
        "{header}"
    );
    assert!(export.contains("'=HYPERLINK(1)"), "{export}");
    assert!(export.contains("Email; Chat"), "{export}");
    let response = app
        .get("/api/v1/exports/leads?cf.vip=true", &admin.access_token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.text().await.unwrap().lines().count(), 3);

    // Imports read the columns back, as the fields' types say.
    let target = app.signup("cffilter-target").await;
    lead_fields(&app, &target).await;
    let copy = imported(
        &app,
        &target.access_token,
        "resource=leads&mapping=owner_id:ignore",
        export,
    )
    .await;
    assert_eq!(counts(&copy), [3, 3, 0, 0, 0], "{copy}");
    let values = |leads: Vec<Value>| {
        let mut values: Vec<(String, Value)> = leads
            .into_iter()
            .map(|l| (l["first_name"].as_str().unwrap().to_owned(), l["custom_fields"].clone()))
            .collect();
        values.sort_by(|a, b| a.0.cmp(&b.0));
        values
    };
    assert_eq!(
        values(listed(&app, &target, "/api/v1/leads").await),
        values(listed(&app, &admin, "/api/v1/leads").await)
    );

    // A cell its field cannot hold fails its row, named by its column.
    let file = "first_name,Seats,cf.vip,cf.channels\nDee,ten,yes,Email\nEve,3,,Fax\nFay,4,no,Chat;Phone\n";
    let report = imported(
        &app,
        &admin.access_token,
        "resource=leads&mode=partial&mapping=Seats:cf.seats",
        file,
    )
    .await;
    assert_eq!(counts(&report), [3, 1, 0, 0, 2], "{report}");
    let failed: Vec<(i64, String)> = errors(&report)
        .into_iter()
        .map(|(line, column, _)| (line, column))
        .collect();
    assert_eq!(
        failed,
        [
            (2, "Seats".to_owned()),
            (3, "cf.channels".to_owned()),
            (3, "cf.vip".to_owned())
        ]
    );
    let fay = listed(&app, &admin, "/api/v1/leads?cf.channels=phone").await;
    assert_eq!(
        fay[0]["custom_fields"],
        json!({"seats": 4, "vip": false, "channels": ["Phone", "Chat"]})
    );
}

async fn scoring_rules_read_custom_fields(app: TestApp) {
    let admin = app.signup("cfscore").await;
    lead_fields(&app, &admin).await;
    let rule = |body: Value| {
        let request = app.post("/api/v1/scoring-rules", &admin.access_token, &body);
        async move { request.send().await.unwrap() }
    };
    let big = expect_status(
        rule(
            json!({"name": "Big budget", "field": "custom", "custom_field": "budget", "operator": "gte",
                    "value": 1000, "points": 30}),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(
        (big["field"].as_str(), big["custom_field"].as_str()),
        (Some("custom"), Some("budget"))
    );
    assert_eq!(big["value"], "1000");
    for body in [
        json!({"name": "VIP", "field": "custom", "custom_field": "vip", "operator": "equals", "value": "true",
               "points": 20}),
        json!({"name": "Chats", "field": "custom", "custom_field": "channels", "operator": "equals", "value": "chat",
               "points": 10}),
    ] {
        expect_status(rule(body).await, StatusCode::CREATED).await;
    }
    for (body, field) in [
        (
            json!({"name": "x", "field": "custom", "operator": "exists", "points": 1}),
            "custom_field",
        ),
        (
            json!({"name": "x", "field": "custom", "custom_field": "nope", "operator": "exists", "points": 1}),
            "custom_field",
        ),
        (
            json!({"name": "x", "field": "email", "custom_field": "vip", "operator": "exists", "points": 1}),
            "custom_field",
        ),
        (
            json!({"name": "x", "field": "custom", "custom_field": "vip", "operator": "gte", "value": 1, "points": 1}),
            "operator",
        ),
        (
            json!({"name": "x", "field": "custom", "custom_field": "budget", "operator": "equals", "value": "lots",
                   "points": 1}),
            "value",
        ),
    ] {
        let problem = expect_problem(rule(body.clone()).await, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert_eq!(invalid_fields(&problem), [field], "{body}");
    }

    let lead = create_lead(
        &app,
        &admin,
        json!({"first_name": "Ada", "custom_fields": {"budget": "1500", "vip": true, "channels": ["Chat", "Email"]}}),
    )
    .await;
    assert_eq!(lead["score"], 60);
    let lead_path = format!("/api/v1/leads/{}", lead["id"].as_str().unwrap());
    let patched = app
        .patch(
            &lead_path,
            &admin.access_token,
            &json!({"custom_fields": {"budget": "10"}}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(expect_status(patched, StatusCode::OK).await["score"], 30);

    // A rule that changes counts for every lead at the next rescore.
    let changed = app
        .patch(
            &format!("/api/v1/scoring-rules/{}", big["id"].as_str().unwrap()),
            &admin.access_token,
            &json!({"value": 5}),
        )
        .send()
        .await
        .unwrap();
    let changed = expect_status(changed, StatusCode::OK).await;
    assert_eq!(changed["custom_field"], "budget");
    let rescore = app
        .post("/api/v1/scoring-rules/rescore", &admin.access_token, &json!({}))
        .send()
        .await
        .unwrap();
    expect_status(rescore, StatusCode::OK).await;
    let read = app.get(&lead_path, &admin.access_token).send().await.unwrap();
    assert_eq!(expect_status(read, StatusCode::OK).await["score"], 60);
    assert_eq!(app.scalar("select score from leads").await, 60);
}
