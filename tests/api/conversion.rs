use chrono::{DateTime, Duration, DurationRound, Utc};
use pipewise_tests::{
    expect_problem, expect_status, invalid_fields, on_both_backends, statuses_in_parallel, uuid, Session, TestApp,
};
use reqwest::{Response, StatusCode};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::accounts::create_account;
use crate::deals::{deal_events, time};
use crate::leads::{create_lead, lead_path};
use crate::pipelines::{create_pipeline, sales_pipeline, stage_id};

on_both_backends!(
    a_full_conversion_makes_a_contact_an_account_and_a_deal_linked_both_ways,
    a_lead_that_already_qualified_keeps_its_qualified_at,
    a_lead_without_a_company_becomes_a_contact_without_an_account,
    an_account_is_reused_by_name_in_any_case_or_by_business_domain,
    a_named_account_or_contact_is_linked_as_it_is,
    named_records_must_be_live_records_of_the_organization,
    a_lead_is_converted_only_once,
    concurrent_conversions_of_one_lead_make_one_contact,
    a_conversion_whose_deal_fails_leaves_nothing_behind,
    invalid_conversion_fields_are_named,
    a_contact_with_the_leads_email_is_a_duplicate_naming_it,
    foreign_other_reps_and_trashed_leads_are_not_found,
    backdating_a_conversion_is_for_admins_and_import_keys,
    a_stale_if_match_converts_nothing,
    parallel_conversions_of_one_companys_leads_make_one_account,
    custom_values_follow_the_lead_where_the_contact_and_deal_define_them,
);

fn convert_path(lead: &Value) -> String {
    format!("{}/convert", lead_path(lead))
}

async fn convert(app: &TestApp, session: &Session, lead: &Value, body: Value) -> Response {
    app.post(&convert_path(lead), &session.access_token, &body)
        .send()
        .await
        .unwrap()
}

/// Converts and returns the body; fails the test unless it is 200.
async fn converted(app: &TestApp, session: &Session, lead: &Value, body: Value) -> Value {
    expect_status(convert(app, session, lead, body).await, StatusCode::OK).await
}

async fn get(app: &TestApp, session: &Session, path: &str) -> Value {
    expect_status(
        app.get(path, &session.access_token).send().await.unwrap(),
        StatusCode::OK,
    )
    .await
}

/// How many contacts, accounts, deals and deal events there are.
async fn counts(app: &TestApp) -> [i64; 4] {
    [
        app.scalar("select count(*) from contacts").await,
        app.scalar("select count(*) from accounts").await,
        app.scalar("select count(*) from deals").await,
        app.scalar("select count(*) from deal_events").await,
    ]
}

async fn converted_leads(app: &TestApp) -> i64 {
    app.scalar("select count(*) from leads where status = 'converted' or converted_at is not null")
        .await
}

fn days_from_now(days: i64) -> DateTime<Utc> {
    (Utc::now() + Duration::days(days))
        .duration_trunc(Duration::seconds(1))
        .unwrap()
}

async fn a_full_conversion_makes_a_contact_an_account_and_a_deal_linked_both_ways(app: TestApp) {
    let admin = app.signup("convert").await;
    let sales = sales_pipeline(&app, &admin).await;
    let lead = create_lead(
        &app,
        &admin,
        json!({"first_name": "Ada", "last_name": "Lovelace", "email": "Ada@Acme.example", "phone": "+44 1",
               "title": "CTO", "company_name": "Acme Ltd", "industry": "Software", "employee_count": 250,
               "country": "gb", "source": "referral", "currency": "EUR", "estimated_value": "900.00",
               "value_period": "month"}),
    )
    .await;
    assert!(lead["qualified_at"].is_null());

    let response = convert(
        &app,
        &admin,
        &lead,
        json!({"buying_role": "decision_maker", "deal": {"amount": "5000.00", "expected_close_date": "2031-01-31"}}),
    )
    .await;
    assert_eq!(response.headers()["etag"], "\"2\"");
    let body = expect_status(response, StatusCode::OK).await;
    let (converted, contact, account, deal) = (&body["lead"], &body["contact"], &body["account"], &body["deal"]);

    assert_eq!(converted["status"], "converted");
    assert_eq!(converted["version"], 2);
    assert!(converted["converted_at"].is_string());
    assert_eq!(converted["qualified_at"], converted["converted_at"]);
    assert_eq!(converted["converted_contact_id"], contact["id"]);
    assert_eq!(converted["converted_account_id"], account["id"]);
    assert_eq!(converted["converted_deal_id"], deal["id"]);

    assert_eq!(contact["first_name"], "Ada");
    assert_eq!(contact["last_name"], "Lovelace");
    assert_eq!(contact["email"], "ada@acme.example");
    assert_eq!(contact["phone"], "+44 1");
    assert_eq!(contact["title"], "CTO");
    assert_eq!(contact["account_id"], account["id"]);
    assert_eq!(contact["buying_role"], "decision_maker");
    assert_eq!(contact["owner_id"], admin.user_id.to_string());

    assert_eq!(account["name"], "Acme Ltd");
    assert_eq!(account["domain"], "acme.example");
    assert_eq!(account["industry"], "Software");
    assert_eq!(account["employee_count"], 250);
    assert_eq!(account["country"], "GB");
    assert_eq!(account["owner_id"], admin.user_id.to_string());

    assert_eq!(deal["title"], "Acme Ltd deal");
    assert_eq!(deal["amount"], "5000.00");
    assert_eq!(deal["currency"], "EUR");
    assert_eq!(deal["pipeline_id"], sales["id"]);
    assert_eq!(deal["stage_id"], stage_id(&sales, 0).as_str());
    assert_eq!(deal["status"], "open");
    assert_eq!(deal["account_id"], account["id"]);
    assert_eq!(
        deal["contacts"],
        json!([{"contact_id": contact["id"], "buying_role": "decision_maker"}])
    );
    assert_eq!(deal["decision_maker_identified"], true);
    assert_eq!(deal["source"], "referral");
    assert_eq!(deal["expected_close_date"], "2031-01-31");
    assert_eq!(deal["owner_id"], admin.user_id.to_string());
    assert_eq!(deal["created_at"], converted["converted_at"]);

    // Every record reads back as the conversion returned it.
    assert_eq!(&get(&app, &admin, &lead_path(&lead)).await, converted);
    let id = |v: &Value| v["id"].as_str().unwrap().to_owned();
    assert_eq!(
        &get(&app, &admin, &format!("/api/v1/contacts/{}", id(contact))).await,
        contact
    );
    assert_eq!(
        &get(&app, &admin, &format!("/api/v1/accounts/{}", id(account))).await,
        account
    );
    assert_eq!(&get(&app, &admin, &format!("/api/v1/deals/{}", id(deal))).await, deal);
    let events = deal_events(&app, &admin, deal).await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["kind"], "created");
    assert_eq!(events[0]["at"], deal["created_at"]);
    assert_eq!(events[0]["actor_user_id"], admin.user_id.to_string());

    assert_eq!(counts(&app).await, [1, 1, 1, 1]);
    assert_eq!(
        app.scalar("select count(*) from deal_contacts where buying_role = 'decision_maker'")
            .await,
        1
    );
    assert_eq!(
        app.scalar("select count(*) from audit_log where action = 'lead.converted'")
            .await,
        1
    );
}

async fn a_lead_that_already_qualified_keeps_its_qualified_at(app: TestApp) {
    let admin = app.signup("convert-qualified").await;
    let lead = create_lead(
        &app,
        &admin,
        json!({"first_name": "Grace", "company_name": "Navy", "status": "qualified"}),
    )
    .await;
    let qualified_at = time(&lead["qualified_at"]);
    let body = converted(&app, &admin, &lead, json!({})).await;
    assert_eq!(body["lead"]["status"], "converted");
    assert_eq!(time(&body["lead"]["qualified_at"]), qualified_at);
    assert!(time(&body["lead"]["converted_at"]) >= qualified_at);
    assert!(body["deal"].is_null());
    assert!(body["lead"]["converted_deal_id"].is_null());
    assert_eq!(counts(&app).await, [1, 1, 0, 0]);
}

async fn a_lead_without_a_company_becomes_a_contact_without_an_account(app: TestApp) {
    let admin = app.signup("convert-person").await;
    let lead = create_lead(
        &app,
        &admin,
        json!({"first_name": "Alan", "last_name": "Turing", "email": "alan@bletchley.example", "currency": "GBP"}),
    )
    .await;
    let body = converted(&app, &admin, &lead, json!({"deal": {"amount": "10"}})).await;
    assert!(body["account"].is_null());
    assert!(body["lead"]["converted_account_id"].is_null());
    assert!(body["contact"]["account_id"].is_null());
    assert!(body["contact"]["buying_role"].is_null());
    assert_eq!(body["deal"]["title"], "Alan Turing deal");
    assert_eq!(body["deal"]["currency"], "GBP");
    assert!(body["deal"]["account_id"].is_null());
    assert_eq!(
        body["deal"]["contacts"],
        json!([{"contact_id": body["contact"]["id"], "buying_role": null}])
    );
    assert_eq!(counts(&app).await, [1, 0, 1, 1]);

    // A lead known only by its company has nothing to make a contact of.
    let company_only = create_lead(&app, &admin, json!({"company_name": "Nameless Ltd"})).await;
    let problem = expect_problem(
        convert(&app, &admin, &company_only, json!({})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(invalid_fields(&problem), ["contact_id"]);
    assert_eq!(counts(&app).await, [1, 0, 1, 1]);
}

async fn an_account_is_reused_by_name_in_any_case_or_by_business_domain(app: TestApp) {
    let admin = app.signup("convert-reuse").await;
    let acme = create_account(&app, &admin, json!({"name": "ACME Ltd"})).await;
    let initech = create_account(
        &app,
        &admin,
        json!({"name": "Initech Corporation", "domain": "initech.example"}),
    )
    .await;
    let gmail = create_account(&app, &admin, json!({"name": "Google Mail", "domain": "gmail.com"})).await;

    let by_name = create_lead(
        &app,
        &admin,
        json!({"first_name": "Wile", "company_name": "  acme ltd ", "email": "wile@coyote.example"}),
    )
    .await;
    let body = converted(&app, &admin, &by_name, json!({})).await;
    assert_eq!(body["account"]["id"], acme["id"]);
    assert_eq!(body["account"]["version"], 1, "a reused account is not changed");
    assert_eq!(body["contact"]["account_id"], acme["id"]);

    let by_domain = create_lead(
        &app,
        &admin,
        json!({"first_name": "Peter", "company_name": "Initech", "email": "Peter@Initech.example"}),
    )
    .await;
    let body = converted(&app, &admin, &by_domain, json!({})).await;
    assert_eq!(body["account"]["id"], initech["id"]);

    // A free mail domain says nothing about the company: a new account.
    let free_mail = create_lead(
        &app,
        &admin,
        json!({"first_name": "Jill", "company_name": "Umbrella", "email": "jill@gmail.com"}),
    )
    .await;
    let body = converted(&app, &admin, &free_mail, json!({})).await;
    assert_ne!(body["account"]["id"], gmail["id"]);
    assert_eq!(body["account"]["name"], "Umbrella");
    assert!(body["account"]["domain"].is_null());
    assert_eq!(app.scalar("select count(*) from accounts").await, 4);

    // A trashed account is not reused.
    let response = app
        .delete(
            &format!("/api/v1/accounts/{}", acme["id"].as_str().unwrap()),
            &admin.access_token,
        )
        .send()
        .await
        .unwrap();
    expect_status(response, StatusCode::NO_CONTENT).await;
    let again = create_lead(&app, &admin, json!({"first_name": "Road", "company_name": "Acme Ltd"})).await;
    let body = converted(&app, &admin, &again, json!({})).await;
    assert_ne!(body["account"]["id"], acme["id"]);
    assert_eq!(body["account"]["name"], "Acme Ltd");
    assert_eq!(app.scalar("select count(*) from accounts").await, 5);
}

async fn a_named_account_or_contact_is_linked_as_it_is(app: TestApp) {
    let admin = app.signup("convert-named").await;
    let other = create_pipeline(&app, &admin, "Renewals", &[("Due", 20), ("Signed", 90)]).await;
    let named = create_account(&app, &admin, json!({"name": "Named Account"})).await;
    let lead = create_lead(
        &app,
        &admin,
        json!({"first_name": "Ada", "company_name": "Something Else", "email": "ada@else.example"}),
    )
    .await;
    let body = converted(&app, &admin, &lead, json!({"account_id": named["id"]})).await;
    assert_eq!(body["account"]["id"], named["id"]);
    assert_eq!(body["contact"]["account_id"], named["id"]);
    assert_eq!(app.scalar("select count(*) from accounts").await, 1);

    // A named contact is linked as it is, at its own account.
    let home = create_account(&app, &admin, json!({"name": "Home"})).await;
    let existing = expect_status(
        app.post(
            "/api/v1/contacts",
            &admin.access_token,
            &json!({"first_name": "Charles", "email": "charles@home.example", "account_id": home["id"],
                    "buying_role": "champion"}),
        )
        .send()
        .await
        .unwrap(),
        StatusCode::CREATED,
    )
    .await;
    let lead = create_lead(
        &app,
        &admin,
        json!({"first_name": "Chuck", "company_name": "Home Inc", "email": "chuck@home.example"}),
    )
    .await;
    let body = converted(
        &app,
        &admin,
        &lead,
        json!({"contact_id": existing["id"], "deal": {"title": "Renewal", "amount": "99.99", "currency": "JPY",
                                                      "stage_id": stage_id(&other, 1)}}),
    )
    .await;
    assert_eq!(body["contact"], existing);
    assert_eq!(body["lead"]["converted_contact_id"], existing["id"]);
    assert_eq!(body["account"]["id"], home["id"]);
    assert_eq!(body["deal"]["title"], "Renewal");
    assert_eq!(body["deal"]["currency"], "JPY");
    assert_eq!(body["deal"]["pipeline_id"], other["id"]);
    assert_eq!(body["deal"]["stage_id"], stage_id(&other, 1).as_str());
    assert_eq!(
        body["deal"]["contacts"],
        json!([{"contact_id": existing["id"], "buying_role": "champion"}])
    );
    assert_eq!(app.scalar("select count(*) from contacts").await, 2);
    assert_eq!(app.scalar("select count(*) from accounts").await, 2);
}

async fn named_records_must_be_live_records_of_the_organization(app: TestApp) {
    let admin = app.signup("convert-refs").await;
    let stranger = app.signup("convert-refs-other").await;
    let foreign_account = create_account(&app, &stranger, json!({"name": "Theirs"})).await;
    let foreign_contact = expect_status(
        app.post(
            "/api/v1/contacts",
            &stranger.access_token,
            &json!({"first_name": "Their contact"}),
        )
        .send()
        .await
        .unwrap(),
        StatusCode::CREATED,
    )
    .await;
    let lead = create_lead(&app, &admin, json!({"first_name": "Ada", "company_name": "Acme"})).await;
    let before = counts(&app).await;
    for (body, field) in [
        (json!({"account_id": foreign_account["id"]}), "account_id"),
        (json!({"account_id": Uuid::now_v7()}), "account_id"),
        (json!({"contact_id": foreign_contact["id"]}), "contact_id"),
        (json!({"contact_id": Uuid::now_v7()}), "contact_id"),
    ] {
        let problem = expect_problem(
            convert(&app, &admin, &lead, body.clone()).await,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
        assert_eq!(invalid_fields(&problem), [field], "{body}");
    }
    assert_eq!(counts(&app).await, before);
    assert_eq!(converted_leads(&app).await, 0);
}

async fn a_lead_is_converted_only_once(app: TestApp) {
    let admin = app.signup("convert-once").await;
    let lead = create_lead(&app, &admin, json!({"first_name": "Ada", "company_name": "Acme"})).await;
    let first = converted(&app, &admin, &lead, json!({})).await;
    let problem = expect_problem(
        convert(&app, &admin, &lead, json!({"deal": {"amount": "1"}})).await,
        StatusCode::CONFLICT,
    )
    .await;
    assert!(
        problem["detail"].as_str().unwrap().contains("already converted"),
        "{problem}"
    );
    assert_eq!(counts(&app).await, [1, 1, 0, 0]);
    assert_eq!(get(&app, &admin, &lead_path(&lead)).await, first["lead"]);
}

async fn concurrent_conversions_of_one_lead_make_one_contact(app: TestApp) {
    let admin = app.signup("convert-race").await;
    let lead = create_lead(
        &app,
        &admin,
        json!({"first_name": "Ada", "email": "ada@race.example", "company_name": "Race Ltd"}),
    )
    .await;
    let body = json!({"deal": {"amount": "1.00"}});
    let (a, b) = tokio::join!(
        convert(&app, &admin, &lead, body.clone()),
        convert(&app, &admin, &lead, body.clone())
    );
    let mut statuses = [a.status().as_u16(), b.status().as_u16()];
    statuses.sort();
    assert_eq!(statuses, [200, 409]);
    assert_eq!(counts(&app).await, [1, 1, 1, 1]);
    assert_eq!(converted_leads(&app).await, 1);
}

async fn a_conversion_whose_deal_fails_leaves_nothing_behind(app: TestApp) {
    let admin = app.signup("convert-atomic").await;
    let stranger = app.signup("convert-atomic-other").await;
    let sales = sales_pipeline(&app, &admin).await;
    let other = create_pipeline(&app, &admin, "Other", &[("Elsewhere", 50)]).await;
    let foreign = sales_pipeline(&app, &stranger).await;
    let lead = create_lead(
        &app,
        &admin,
        json!({"first_name": "Ada", "email": "ada@atomic.example", "company_name": "Atomic"}),
    )
    .await;
    let before = counts(&app).await;
    let pipelines_before = app.scalar("select count(*) from pipelines").await;
    for (deal, field) in [
        (
            json!({"amount": "1", "pipeline_id": sales["id"], "stage_id": stage_id(&other, 0)}),
            "deal.stage_id",
        ),
        (json!({"amount": "1", "pipeline_id": foreign["id"]}), "deal.pipeline_id"),
        (
            json!({"amount": "1", "stage_id": stage_id(&foreign, 0)}),
            "deal.stage_id",
        ),
        (
            json!({"amount": "1", "pipeline_id": Uuid::now_v7()}),
            "deal.pipeline_id",
        ),
    ] {
        let problem = expect_problem(
            convert(
                &app,
                &admin,
                &lead,
                json!({"buying_role": "user", "deal": deal.clone()}),
            )
            .await,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
        assert_eq!(invalid_fields(&problem), [field], "{deal}");
        // The contact and account were written before the deal failed: all rolled back.
        assert_eq!(counts(&app).await, before, "{deal}");
    }
    assert_eq!(before, [0, 0, 0, 0]);
    assert_eq!(app.scalar("select count(*) from pipelines").await, pipelines_before);
    assert_eq!(converted_leads(&app).await, 0);
    assert_eq!(
        app.scalar("select count(*) from audit_log where action = 'lead.converted'")
            .await,
        0
    );
    let unchanged = get(&app, &admin, &lead_path(&lead)).await;
    assert_eq!(unchanged, lead);

    // The same lead converts once the deal is right.
    converted(
        &app,
        &admin,
        &lead,
        json!({"deal": {"amount": "1", "pipeline_id": other["id"]}}),
    )
    .await;
    assert_eq!(counts(&app).await, [1, 1, 1, 1]);
}

async fn invalid_conversion_fields_are_named(app: TestApp) {
    let admin = app.signup("convert-invalid").await;
    let lead = create_lead(&app, &admin, json!({"first_name": "Ada"})).await;
    let problem = expect_problem(
        convert(
            &app,
            &admin,
            &lead,
            json!({"at": days_from_now(1).to_rfc3339(),
                   "deal": {"title": " ", "amount": "1.999", "currency": "EURO"}}),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    let mut fields = invalid_fields(&problem);
    fields.sort();
    assert_eq!(fields, ["at", "deal.amount", "deal.currency", "deal.title"]);

    for (body, field) in [
        (json!({"deal": {}}), "deal.amount"),
        (json!({"deal": {"amount": "1", "status": "won"}}), "deal.status"),
        (json!({"buying_role": "boss"}), "buying_role"),
        (json!({"owner_id": admin.user_id}), "owner_id"),
    ] {
        let problem = expect_problem(
            convert(&app, &admin, &lead, body.clone()).await,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
        assert_eq!(invalid_fields(&problem), [field], "{body}");
    }
    let response = app
        .request(reqwest::Method::POST, &convert_path(&lead))
        .bearer_auth(&admin.access_token)
        .header("content-type", "application/json")
        .body("{")
        .send()
        .await
        .unwrap();
    expect_problem(response, StatusCode::BAD_REQUEST).await;
    let response = app
        .request(reqwest::Method::POST, &convert_path(&lead))
        .bearer_auth(&admin.access_token)
        .body("{}")
        .send()
        .await
        .unwrap();
    expect_problem(response, StatusCode::UNSUPPORTED_MEDIA_TYPE).await;
    let response = app
        .request(reqwest::Method::POST, &convert_path(&lead))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    expect_problem(response, StatusCode::UNAUTHORIZED).await;
    assert_eq!(counts(&app).await, [0, 0, 0, 0]);
    assert_eq!(converted_leads(&app).await, 0);
}

async fn a_contact_with_the_leads_email_is_a_duplicate_naming_it(app: TestApp) {
    let admin = app.signup("convert-dup").await;
    let contact = expect_status(
        app.post(
            "/api/v1/contacts",
            &admin.access_token,
            &json!({"first_name": "Ada", "email": "ADA@dup.example"}),
        )
        .send()
        .await
        .unwrap(),
        StatusCode::CREATED,
    )
    .await;
    let response = app
        .post(
            "/api/v1/leads?allow_duplicate=true",
            &admin.access_token,
            &json!({"first_name": "Ada", "email": "ada@dup.example", "company_name": "Dup Ltd"}),
        )
        .send()
        .await
        .unwrap();
    let lead = expect_status(response, StatusCode::CREATED).await;
    let problem = expect_problem(
        convert(&app, &admin, &lead, json!({"deal": {"amount": "5"}})).await,
        StatusCode::CONFLICT,
    )
    .await;
    assert_eq!(problem["existing_id"], contact["id"]);
    assert_eq!(counts(&app).await, [1, 0, 0, 0]);
    assert_eq!(converted_leads(&app).await, 0);

    // Naming that contact converts the lead into it.
    let body = converted(&app, &admin, &lead, json!({"contact_id": contact["id"]})).await;
    assert_eq!(body["contact"]["id"], contact["id"]);
    assert_eq!(body["account"]["name"], "Dup Ltd");
    assert_eq!(counts(&app).await, [1, 1, 0, 0]);
}

async fn foreign_other_reps_and_trashed_leads_are_not_found(app: TestApp) {
    let admin = app.signup("convert-scope").await;
    let stranger = app.signup("convert-scope-other").await;
    let rep = app.add_user(&admin, "rep").await;
    let other_rep = app.add_user(&admin, "rep").await;
    let manager = app.add_user(&admin, "manager").await;
    let theirs = create_lead(&app, &rep, json!({"first_name": "Mine"})).await;

    expect_problem(
        convert(&app, &stranger, &theirs, json!({})).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    expect_problem(
        convert(&app, &other_rep, &theirs, json!({})).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    let missing = json!({"id": Uuid::now_v7()});
    expect_problem(convert(&app, &admin, &missing, json!({})).await, StatusCode::NOT_FOUND).await;
    assert_eq!(counts(&app).await, [0, 0, 0, 0]);

    let body = converted(&app, &rep, &theirs, json!({"deal": {"amount": "3"}})).await;
    assert_eq!(body["contact"]["owner_id"], rep.user_id.to_string());
    assert_eq!(body["deal"]["owner_id"], rep.user_id.to_string());

    // Managers convert anyone's lead; what it becomes stays the lead owner's.
    let reps_lead = create_lead(&app, &rep, json!({"first_name": "Also mine", "company_name": "Rep Co"})).await;
    let body = converted(&app, &manager, &reps_lead, json!({"deal": {"amount": "4"}})).await;
    for record in ["contact", "account", "deal"] {
        assert_eq!(body[record]["owner_id"], rep.user_id.to_string(), "{record}");
    }

    // A read-only key may not convert.
    let (_, read_key) = app.api_key(&admin, &["read"]).await;
    let lead = create_lead(&app, &admin, json!({"first_name": "Trashed"})).await;
    let response = app
        .request(reqwest::Method::POST, &convert_path(&lead))
        .header("x-api-key", read_key)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    expect_problem(response, StatusCode::FORBIDDEN).await;

    // A lead in the trash is not converted.
    assert_eq!(
        app.scalar("update leads set deleted_at = updated_at where first_name = 'Trashed' returning cast(1 as bigint)")
            .await,
        1
    );
    expect_problem(convert(&app, &admin, &lead, json!({})).await, StatusCode::NOT_FOUND).await;
    assert_eq!(converted_leads(&app).await, 2);
}

async fn backdating_a_conversion_is_for_admins_and_import_keys(app: TestApp) {
    let admin = app.signup("convert-backdate").await;
    let rep = app.add_user(&admin, "rep").await;
    let manager = app.add_user(&admin, "manager").await;
    let (_, write_key) = app.api_key(&admin, &["read", "write"]).await;
    let (import_key_id, import_key) = app.api_key(&admin, &["read", "write", "import"]).await;
    let created = days_from_now(-10);
    let lead = create_lead(
        &app,
        &admin,
        json!({"first_name": "Old", "company_name": "History", "created_at": created.to_rfc3339(),
               "owner_id": rep.user_id}),
    )
    .await;
    let at = days_from_now(-5);
    let body = json!({"at": at.to_rfc3339(), "deal": {"amount": "7"}});

    for session in [&rep, &manager] {
        expect_problem(convert(&app, session, &lead, body.clone()).await, StatusCode::FORBIDDEN).await;
    }
    let response = app
        .request(reqwest::Method::POST, &convert_path(&lead))
        .header("x-api-key", &write_key)
        .json(&body)
        .send()
        .await
        .unwrap();
    expect_problem(response, StatusCode::FORBIDDEN).await;

    let too_early = json!({"at": days_from_now(-11).to_rfc3339()});
    let problem = expect_problem(
        convert(&app, &admin, &lead, too_early).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(invalid_fields(&problem), ["at"]);
    let future = json!({"at": days_from_now(1).to_rfc3339()});
    let problem = expect_problem(
        convert(&app, &admin, &lead, future).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(invalid_fields(&problem), ["at"]);
    assert_eq!(counts(&app).await, [0, 0, 0, 0]);

    let response = app
        .request(reqwest::Method::POST, &convert_path(&lead))
        .header("x-api-key", &import_key)
        .json(&body)
        .send()
        .await
        .unwrap();
    let done = expect_status(response, StatusCode::OK).await;
    assert_eq!(time(&done["lead"]["converted_at"]), at);
    assert_eq!(time(&done["lead"]["qualified_at"]), at);
    assert_eq!(time(&done["deal"]["created_at"]), at);
    assert_eq!(time(&done["deal"]["stage_entered_at"]), at);
    assert_eq!(done["deal"]["owner_id"], rep.user_id.to_string());
    let events = deal_events(&app, &admin, &done["deal"]).await;
    assert_eq!(time(&events[0]["at"]), at);
    assert_eq!(uuid(&events[0]["actor_api_key_id"]), import_key_id);
}

async fn a_stale_if_match_converts_nothing(app: TestApp) {
    let admin = app.signup("convert-if-match").await;
    let lead = create_lead(&app, &admin, json!({"first_name": "Ada", "company_name": "Acme"})).await;
    let send = |tag: &'static str| {
        app.post(
            &convert_path(&lead),
            &admin.access_token,
            &json!({"deal": {"amount": "2"}}),
        )
        .header("if-match", tag)
        .send()
    };
    expect_problem(send("\"2\"").await.unwrap(), StatusCode::PRECONDITION_FAILED).await;
    assert_eq!(counts(&app).await, [0, 0, 0, 0]);
    assert_eq!(converted_leads(&app).await, 0);
    expect_problem(send("W/\"1\"").await.unwrap(), StatusCode::BAD_REQUEST).await;

    let response = send("\"1\"").await.unwrap();
    assert_eq!(response.headers()["etag"], "\"2\"");
    expect_status(response, StatusCode::OK).await;
    // The lead moved on: its old version is stale now.
    expect_problem(send("\"1\"").await.unwrap(), StatusCode::PRECONDITION_FAILED).await;
    assert_eq!(counts(&app).await, [1, 1, 1, 1]);
}

async fn parallel_conversions_of_one_companys_leads_make_one_account(app: TestApp) {
    // Arrange: five leads of one company, no account yet.
    let admin = app.signup("convert-parallel").await;
    let mut leads = Vec::new();
    for i in 0..5 {
        let body = json!({"first_name": format!("Person {i}"), "email": format!("p{i}@acme.example"), "company_name": "Acme Parallel"});
        leads.push(create_lead(&app, &admin, body).await);
    }

    // Act
    let requests = leads
        .iter()
        .map(|lead| app.post(&convert_path(lead), &admin.access_token, &json!({})))
        .collect();
    let statuses = statuses_in_parallel(requests).await;

    // Assert: the first conversion makes the account, the others find it.
    assert_eq!(statuses, vec![StatusCode::OK; 5]);
    assert_eq!(counts(&app).await[..2], [5, 1]);
    assert_eq!(converted_leads(&app).await, 5);
}

/// The new contact and deal take the lead's custom values that their own
/// fields define under the same key and accept, as those fields keep them.
async fn custom_values_follow_the_lead_where_the_contact_and_deal_define_them(app: TestApp) {
    use crate::custom_fields::define;
    let admin = app.signup("convert-custom").await;
    for (resource, key, field_type, options) in [
        ("leads", "budget", "decimal", json!(null)),
        ("leads", "plan", "select", json!(["Basic", "Pro"])),
        ("leads", "regions", "multi_select", json!(["EU", "US"])),
        ("contacts", "plan", "select", json!(["Pro"])),
        ("deals", "budget", "decimal", json!(null)),
        ("deals", "plan", "select", json!(["basic", "pro"])),
        ("deals", "regions", "text", json!(null)),
    ] {
        let mut body = json!({"resource": resource, "key": key, "label": key, "type": field_type});
        if !options.is_null() {
            body["options"] = options;
        }
        define(&app, &admin, body).await;
    }
    let lead = create_lead(
        &app,
        &admin,
        json!({"first_name": "Ada", "custom_fields": {"budget": "12.50", "plan": "Pro", "regions": ["US"]}}),
    )
    .await;
    let body = converted(&app, &admin, &lead, json!({"deal": {"amount": "10"}})).await;
    assert_eq!(body["contact"]["custom_fields"], json!({"plan": "Pro"}));
    assert_eq!(
        body["deal"]["custom_fields"],
        json!({"budget": "12.5", "plan": "pro"}),
        "as the deal's fields keep them; a list is no text"
    );
    let deal_id = app.sql_uuid(uuid(&body["deal"]["id"]));
    assert_eq!(
        app.scalar(&format!(
            "select count(*) from record_custom_values where record_id = {deal_id} and kind = 'deal'
             and ((field_key = 'plan' and value = 'pro') or (field_key = 'budget' and value = '12.5'))"
        ))
        .await,
        2,
        "the deal's values are indexed for its filters"
    );

    // An option the contact's field lacks stays with the lead.
    let basic = create_lead(
        &app,
        &admin,
        json!({"first_name": "Bo", "custom_fields": {"plan": "Basic"}}),
    )
    .await;
    let body = converted(&app, &admin, &basic, json!({"deal": {"amount": "10"}})).await;
    assert_eq!(body["contact"]["custom_fields"], json!({}));
    assert_eq!(body["deal"]["custom_fields"], json!({"plan": "basic"}));
}
