//! Customers, retention and lifetime value; spend per source and the
//! acquisition report, over hand-built histories with the figures written out.

use pipewise_tests::{
    expect_problem, expect_status, invalid_fields, on_both_backends, statuses_in_parallel, Session, TestApp,
};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

on_both_backends!(
    retention_and_lifetime_value_over_two_years,
    acquisition_by_source_with_a_partial_month_of_spend,
    spend_is_set_read_listed_and_removed_by_managers,
    bad_spend_is_named_and_changes_nothing,
    parallel_puts_of_one_month_leave_one_entry,
);

pub async fn send(
    app: &TestApp,
    session: &Session,
    method: Method,
    path: &str,
    body: Value,
    status: StatusCode,
) -> Value {
    let response = app
        .request(method, path)
        .bearer_auth(&session.access_token)
        .json(&body)
        .send()
        .await
        .unwrap();
    expect_status(response, status).await
}

pub async fn setup(app: &TestApp, label: &str) -> (Session, String) {
    let admin = app.signup(label).await;
    send(
        app,
        &admin,
        Method::PATCH,
        "/api/v1/organization",
        json!({"base_currency": "EUR"}),
        StatusCode::OK,
    )
    .await;
    send(
        app,
        &admin,
        Method::PUT,
        "/api/v1/exchange-rates/USD",
        json!({"rate": "0.5"}),
        StatusCode::OK,
    )
    .await;
    let pipeline = send(
        app,
        &admin,
        Method::POST,
        "/api/v1/pipelines",
        json!({"name": "Sales", "stages": [{"name": "A", "probability": 10}]}),
        StatusCode::CREATED,
    )
    .await;
    (admin, pipeline["id"].as_str().unwrap().to_owned())
}

async fn account(app: &TestApp, admin: &Session, name: &str) -> String {
    let a = send(
        app,
        admin,
        Method::POST,
        "/api/v1/accounts",
        json!({"name": name}),
        StatusCode::CREATED,
    )
    .await;
    a["id"].as_str().unwrap().to_owned()
}

/// A deal created a day before `at` and then won (or lost) at `at`.
#[allow(clippy::too_many_arguments)]
pub async fn closed_deal(
    app: &TestApp,
    admin: &Session,
    pipeline: &str,
    account: Option<&str>,
    source: Option<&str>,
    amount: &str,
    currency: &str,
    at: &str,
    won: bool,
) {
    let created = chrono::DateTime::parse_from_rfc3339(at).unwrap() - chrono::Duration::days(1);
    let mut body = json!({"title": "Deal", "pipeline_id": pipeline, "amount": amount, "currency": currency,
                          "created_at": created.to_rfc3339()});
    if let Some(account) = account {
        body["account_id"] = json!(account);
    }
    if let Some(source) = source {
        body["source"] = json!(source);
    }
    let deal = send(app, admin, Method::POST, "/api/v1/deals", body, StatusCode::CREATED).await;
    let (command, body) = if won {
        ("win", json!({"at": at}))
    } else {
        ("lose", json!({"at": at, "reason": "price"}))
    };
    let path = format!("/api/v1/deals/{}/{command}", deal["id"].as_str().unwrap());
    send(app, admin, Method::POST, &path, body, StatusCode::OK).await;
}

async fn report(app: &TestApp, session: &Session, path: &str) -> Value {
    expect_status(
        app.get(path, &session.access_token).send().await.unwrap(),
        StatusCode::OK,
    )
    .await
}

async fn retention_and_lifetime_value_over_two_years(app: TestApp) {
    let (admin, p) = setup(&app, "customers").await;
    let p = p.as_str();
    let (a, b, c, d, e, f) = (
        account(&app, &admin, "A").await,
        account(&app, &admin, "B").await,
        account(&app, &admin, "C").await,
        account(&app, &admin, "D").await,
        account(&app, &admin, "E").await,
        account(&app, &admin, "F").await,
    );
    // as_of 2026-07-01: Y = [2025-07-01, 2026-07-01), Y₀ = [2024-07-01, 2025-07-01).
    // A: both years (1000, then 2000).
    closed_deal(
        &app,
        &admin,
        p,
        Some(&a),
        None,
        "1000.00",
        "EUR",
        "2024-09-01T10:00:00Z",
        true,
    )
    .await;
    closed_deal(
        &app,
        &admin,
        p,
        Some(&a),
        None,
        "2000.00",
        "EUR",
        "2025-09-01T10:00:00Z",
        true,
    )
    .await;
    // B: Y₀ only.
    closed_deal(
        &app,
        &admin,
        p,
        Some(&b),
        None,
        "500.00",
        "EUR",
        "2025-03-01T10:00:00Z",
        true,
    )
    .await;
    // C: new in Y, 3000 EUR and 1000 USD (= 500 EUR).
    closed_deal(
        &app,
        &admin,
        p,
        Some(&c),
        None,
        "3000.00",
        "EUR",
        "2026-01-10T10:00:00Z",
        true,
    )
    .await;
    closed_deal(
        &app,
        &admin,
        p,
        Some(&c),
        None,
        "1000.00",
        "USD",
        "2026-03-10T10:00:00Z",
        true,
    )
    .await;
    // D: both years, the last an hour before as_of.
    closed_deal(
        &app,
        &admin,
        p,
        Some(&d),
        None,
        "800.00",
        "EUR",
        "2024-08-01T10:00:00Z",
        true,
    )
    .await;
    closed_deal(
        &app,
        &admin,
        p,
        Some(&d),
        None,
        "1500.00",
        "EUR",
        "2026-06-30T23:00:00Z",
        true,
    )
    .await;
    // E: a customer in Y whose pounds have no rate.
    closed_deal(
        &app,
        &admin,
        p,
        Some(&e),
        None,
        "700.00",
        "GBP",
        "2026-02-01T10:00:00Z",
        true,
    )
    .await;
    // F lost its deal; a won deal without an account makes no customer.
    closed_deal(
        &app,
        &admin,
        p,
        Some(&f),
        None,
        "900.00",
        "EUR",
        "2026-02-01T10:00:00Z",
        false,
    )
    .await;
    closed_deal(
        &app,
        &admin,
        p,
        None,
        None,
        "900.00",
        "EUR",
        "2026-02-01T10:00:00Z",
        true,
    )
    .await;

    let r = report(&app, &admin, "/api/v1/reports/customers?as_of=2026-07-01T00:00:00Z").await;
    // Y: A, C, D, E. Y₀: A, B, D. Retained: A and D.
    assert_eq!(
        (
            r["customers"].as_u64(),
            r["previous_customers"].as_u64(),
            r["retained"].as_u64()
        ),
        (Some(4), Some(3), Some(2))
    );
    assert!((r["customer_retention_rate"].as_f64().unwrap() - 2.0 / 3.0).abs() < 1e-12);
    // Spend in Y: A 2000, C 3500, D 1500 (E left out): 7000 / 3.
    assert_eq!(r["avg_yearly_spend"], "2333.33");
    assert_eq!(r["unconverted_deals"], 1);
    // (7000 / 3) / (1 − 2/3) = 7000.
    assert_eq!(r["customer_lifetime_value"], "7000.00");
    assert_eq!(r["definition"]["period"]["from"], "2025-07-01T00:00:00Z");
    let ratio = &r["definition"]["ratios"][0];
    assert_eq!(
        (ratio["numerator"].as_u64(), ratio["denominator"].as_u64()),
        (Some(2), Some(3))
    );

    // A year later: no deal in the new Y, so every customer of the old one churned.
    let r = report(&app, &admin, "/api/v1/reports/customers?as_of=2027-07-01T00:00:00Z").await;
    assert_eq!(
        (r["customers"].as_u64(), r["previous_customers"].as_u64()),
        (Some(0), Some(4))
    );
    assert_eq!(r["customer_retention_rate"], 0.0);
    assert!(r["avg_yearly_spend"].is_null() && r["customer_lifetime_value"].is_null());
    // Before any deal: no customers, no rate.
    let r = report(&app, &admin, "/api/v1/reports/customers?as_of=2023-01-01T00:00:00Z").await;
    assert!(r["customer_retention_rate"].is_null());

    let csv = app
        .get(
            "/api/v1/reports/customers?as_of=2026-07-01T00:00:00Z&format=csv",
            &admin.access_token,
        )
        .send()
        .await
        .unwrap();
    let text = csv.text().await.unwrap();
    assert!(
        text.contains("customers,previous_customers,retained,customer_retention_rate"),
        "{text}"
    );
    assert!(text.contains("\n4,3,2,0.6666666666666666,2333.33,7000.00,1"), "{text}");

    // Reps may not: the report adds up every rep's deals.
    let rep = app.add_user(&admin, "rep").await;
    let response = app
        .get("/api/v1/reports/customers", &rep.access_token)
        .send()
        .await
        .unwrap();
    expect_problem(response, StatusCode::FORBIDDEN).await;
}

async fn put_spend(app: &TestApp, session: &Session, source: &str, month: &str, amount: &str, currency: &str) -> Value {
    let response = app
        .request(Method::PUT, &format!("/api/v1/source-spend/{source}/{month}"))
        .bearer_auth(&session.access_token)
        .json(&json!({"amount": amount, "currency": currency}))
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "{}", response.status());
    response.json().await.unwrap()
}

async fn lead(app: &TestApp, admin: &Session, source: Option<&str>, created_at: &str) {
    let mut body = json!({"last_name": "Lead", "created_at": created_at});
    if let Some(source) = source {
        body["source"] = json!(source);
    }
    send(app, admin, Method::POST, "/api/v1/leads", body, StatusCode::CREATED).await;
}

async fn acquisition_by_source_with_a_partial_month_of_spend(app: TestApp) {
    let (admin, p) = setup(&app, "acquisition").await;
    let p = p.as_str();
    // Spend: ads 3100 in January (17 of its 31 days in the period), 1000 in
    // February, 200 USD (= 100 EUR) in March, 5000 in April (outside) and 9 in
    // December (outside); referral 600 in February.
    put_spend(&app, &admin, "ads", "2026-01", "3100.00", "EUR").await;
    put_spend(&app, &admin, "ads", "2026-02", "1000.00", "EUR").await;
    put_spend(&app, &admin, "ads", "2026-03", "200.00", "USD").await;
    put_spend(&app, &admin, "ads", "2026-04", "5000.00", "EUR").await;
    put_spend(&app, &admin, "ads", "2025-12", "9.00", "EUR").await;
    put_spend(&app, &admin, "referral", "2026-02", "600.00", "EUR").await;
    // Leads in the period: 3 from ads, 2 referrals, 1 without a source; two outside.
    for at in ["2026-01-20T10:00:00Z", "2026-02-01T10:00:00Z", "2026-03-31T23:00:00Z"] {
        lead(&app, &admin, Some("ads"), at).await;
    }
    lead(&app, &admin, Some("referral"), "2026-02-02T10:00:00Z").await;
    lead(&app, &admin, Some("referral"), "2026-02-03T10:00:00Z").await;
    lead(&app, &admin, None, "2026-02-04T10:00:00Z").await;
    lead(&app, &admin, Some("ads"), "2026-04-01T00:00:00Z").await;
    lead(&app, &admin, Some("ads"), "2026-01-14T23:59:59Z").await;
    let (a1, a2, a3, a4, a5) = (
        account(&app, &admin, "A1").await,
        account(&app, &admin, "A2").await,
        account(&app, &admin, "A3").await,
        account(&app, &admin, "A4").await,
        account(&app, &admin, "A5").await,
    );
    // A1: a customer since December; won again in February (not new).
    closed_deal(
        &app,
        &admin,
        p,
        Some(&a1),
        Some("ads"),
        "50.00",
        "EUR",
        "2025-12-01T10:00:00Z",
        true,
    )
    .await;
    closed_deal(
        &app,
        &admin,
        p,
        Some(&a1),
        Some("ads"),
        "1000.00",
        "EUR",
        "2026-02-10T10:00:00Z",
        true,
    )
    .await;
    // A2: first won in the period (new, ads).
    closed_deal(
        &app,
        &admin,
        p,
        Some(&a2),
        Some("ads"),
        "2000.00",
        "EUR",
        "2026-01-20T10:00:00Z",
        true,
    )
    .await;
    // A3: first won in the period from a partner, in dollars (250 EUR).
    closed_deal(
        &app,
        &admin,
        p,
        Some(&a3),
        Some("partner"),
        "500.00",
        "USD",
        "2026-03-05T10:00:00Z",
        true,
    )
    .await;
    // A4: won after the period.
    closed_deal(
        &app,
        &admin,
        p,
        Some(&a4),
        Some("ads"),
        "7000.00",
        "EUR",
        "2026-04-02T10:00:00Z",
        true,
    )
    .await;
    // A5: first won before the period, again inside it.
    closed_deal(
        &app,
        &admin,
        p,
        Some(&a5),
        Some("ads"),
        "300.00",
        "EUR",
        "2026-01-10T10:00:00Z",
        true,
    )
    .await;
    closed_deal(
        &app,
        &admin,
        p,
        Some(&a5),
        Some("ads"),
        "400.00",
        "EUR",
        "2026-02-01T10:00:00Z",
        true,
    )
    .await;
    // A lost deal counts for nothing.
    closed_deal(
        &app,
        &admin,
        p,
        Some(&a4),
        Some("ads"),
        "800.00",
        "EUR",
        "2026-02-01T10:00:00Z",
        false,
    )
    .await;

    let r = report(
        &app,
        &admin,
        "/api/v1/reports/acquisition?from=2026-01-15&to=2026-04-01",
    )
    .await;
    let row = |key: &str| {
        r["sources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["key"] == key)
            .unwrap_or_else(|| panic!("{key}: {r}"))
            .clone()
    };
    let keys: Vec<&str> = r["sources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["(none)", "ads", "partner", "referral"]);
    // ads: 3100 × 17/31 + 1000 + 100 = 2800; 3 leads; A2 new; A1, A2, A5 won: 3400.
    let ads = row("ads");
    assert_eq!(
        (
            ads["spend"].as_str(),
            ads["leads"].as_u64(),
            ads["new_customers"].as_u64()
        ),
        (Some("2800.00"), Some(3), Some(1))
    );
    assert_eq!(
        (ads["won_deals"].as_u64(), ads["won_amount"].as_str()),
        (Some(3), Some("3400.00"))
    );
    assert_eq!(ads["cost_per_lead"], "933.33");
    assert_eq!(ads["customer_acquisition_cost"], "2800.00");
    assert!((ads["return_on_ad_spend"].as_f64().unwrap() - 3400.0 / 2800.0).abs() < 1e-12);
    // referral: spend and leads, no customer: no acquisition cost, no return.
    let referral = row("referral");
    assert_eq!(
        (referral["spend"].as_str(), referral["leads"].as_u64()),
        (Some("600.00"), Some(2))
    );
    assert_eq!(referral["cost_per_lead"], "300.00");
    assert!(referral["customer_acquisition_cost"].is_null());
    assert_eq!(referral["return_on_ad_spend"], 0.0);
    // partner: a customer without any recorded spend.
    let partner = row("partner");
    assert_eq!(
        (
            partner["spend"].as_str(),
            partner["new_customers"].as_u64(),
            partner["won_amount"].as_str()
        ),
        (Some("0.00"), Some(1), Some("250.00"))
    );
    assert!(partner["cost_per_lead"].is_null() && partner["return_on_ad_spend"].is_null());
    assert_eq!(row("(none)")["leads"], 1);
    let total = &r["total"];
    assert_eq!(
        (
            total["spend"].as_str(),
            total["leads"].as_u64(),
            total["new_customers"].as_u64()
        ),
        (Some("3400.00"), Some(6), Some(2))
    );
    assert_eq!(
        (total["won_deals"].as_u64(), total["won_amount"].as_str()),
        (Some(4), Some("3650.00"))
    );
    assert_eq!(
        (
            total["cost_per_lead"].as_str(),
            total["customer_acquisition_cost"].as_str()
        ),
        (Some("566.67"), Some("1700.00"))
    );

    // A month in another currency without a rate is left out and counted.
    put_spend(&app, &admin, "ads", "2026-02", "1000.00", "GBP").await;
    let r = report(
        &app,
        &admin,
        "/api/v1/reports/acquisition?from=2026-01-15&to=2026-04-01",
    )
    .await;
    assert_eq!(r["unconverted_spend_entries"], 1);
    assert_eq!(r["total"]["spend"], "2400.00");
    let csv = app
        .get(
            "/api/v1/reports/acquisition?from=2026-01-15&to=2026-04-01&format=csv",
            &admin.access_token,
        )
        .send()
        .await
        .unwrap();
    let text = csv.text().await.unwrap();
    assert!(
        text.contains("source,spend,leads,new_customers,won_deals,won_amount,cost_per_lead"),
        "{text}"
    );
    let rep = app.add_user(&admin, "rep").await;
    let response = app
        .get("/api/v1/reports/acquisition", &rep.access_token)
        .send()
        .await
        .unwrap();
    expect_problem(response, StatusCode::FORBIDDEN).await;
}

async fn spend_is_set_read_listed_and_removed_by_managers(app: TestApp) {
    let admin = app.signup("spend").await;
    let manager = app.add_user(&admin, "manager").await;
    let path = "/api/v1/source-spend/google_ads/2026-03";
    let body = json!({"amount": "2500.00", "currency": "EUR"});
    let created = send(&app, &manager, Method::PUT, path, body, StatusCode::CREATED).await;
    assert_eq!(
        (
            created["source"].as_str(),
            created["month"].as_str(),
            created["amount"].as_str()
        ),
        (Some("google_ads"), Some("2026-03"), Some("2500.00"))
    );
    let replaced = send(
        &app,
        &manager,
        Method::PUT,
        path,
        json!({"amount": "2600", "currency": "USD"}),
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        (replaced["amount"].as_str(), replaced["currency"].as_str()),
        (Some("2600.00"), Some("USD"))
    );
    assert_eq!(replaced["created_at"], created["created_at"]);
    let read = report(&app, &admin, path).await;
    assert_eq!(read, replaced);
    send(
        &app,
        &admin,
        Method::PUT,
        "/api/v1/source-spend/google_ads/2026-05",
        json!({"amount": "1", "currency": "EUR"}),
        StatusCode::CREATED,
    )
    .await;
    send(
        &app,
        &admin,
        Method::PUT,
        "/api/v1/source-spend/events/2026-04",
        json!({"amount": "7", "currency": "EUR"}),
        StatusCode::CREATED,
    )
    .await;
    let list = report(&app, &admin, "/api/v1/source-spend?from=2026-03&to=2026-04").await;
    let entries: Vec<(&str, &str)> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["source"].as_str().unwrap(), e["month"].as_str().unwrap()))
        .collect();
    assert_eq!(entries, [("events", "2026-04"), ("google_ads", "2026-03")]);
    assert_eq!(
        report(&app, &admin, "/api/v1/source-spend").await["data"]
            .as_array()
            .unwrap()
            .len(),
        3
    );

    // Reps may not see or set spend; another organization does not see it.
    let rep = app.add_user(&admin, "rep").await;
    let response = app.get(path, &rep.access_token).send().await.unwrap();
    expect_problem(response, StatusCode::FORBIDDEN).await;
    let response = app
        .request(Method::PUT, path)
        .bearer_auth(&rep.access_token)
        .json(&json!({"amount": "1", "currency": "EUR"}))
        .send()
        .await
        .unwrap();
    expect_problem(response, StatusCode::FORBIDDEN).await;
    let other = app.signup("other").await;
    let response = app.get(path, &other.access_token).send().await.unwrap();
    expect_problem(response, StatusCode::NOT_FOUND).await;

    let response = app.delete(path, &manager.access_token).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let response = app.delete(path, &manager.access_token).send().await.unwrap();
    expect_problem(response, StatusCode::NOT_FOUND).await;
    let response = app.get(path, &admin.access_token).send().await.unwrap();
    expect_problem(response, StatusCode::NOT_FOUND).await;
}

async fn bad_spend_is_named_and_changes_nothing(app: TestApp) {
    let admin = app.signup("badspend").await;
    for (body, fields) in [
        (json!({"amount": "-1", "currency": "EUR"}), vec!["amount"]),
        (json!({"amount": "1.001", "currency": "EUR"}), vec!["amount"]),
        (json!({"amount": "10", "currency": "euro"}), vec!["currency"]),
        (json!({"amount": "x", "currency": "x"}), vec!["amount", "currency"]),
    ] {
        let response = app
            .request(Method::PUT, "/api/v1/source-spend/ads/2026-03")
            .bearer_auth(&admin.access_token)
            .json(&body)
            .send()
            .await
            .unwrap();
        let problem = expect_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert_eq!(invalid_fields(&problem), fields, "{body}");
    }
    let response = app
        .request(Method::PUT, "/api/v1/source-spend/ads/2026-03")
        .bearer_auth(&admin.access_token)
        .json(&json!({"amount": "10", "currency": "EUR", "note": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16() / 100, 4);
    for path in [
        "/api/v1/source-spend/ads/2026-13",
        "/api/v1/source-spend/ads/2026-3",
        "/api/v1/source-spend/%20ads/2026-03",
    ] {
        let response = app
            .request(Method::PUT, path)
            .bearer_auth(&admin.access_token)
            .json(&json!({"amount": "10", "currency": "EUR"}))
            .send()
            .await
            .unwrap();
        expect_problem(response, StatusCode::BAD_REQUEST).await;
    }
    let response = app
        .get("/api/v1/source-spend?from=2026", &admin.access_token)
        .send()
        .await
        .unwrap();
    let problem = expect_problem(response, StatusCode::BAD_REQUEST).await;
    assert!(problem["detail"].as_str().unwrap().starts_with("from"), "{problem}");
    assert_eq!(app.scalar("select count(*) from source_spend").await, 0);
}

async fn parallel_puts_of_one_month_leave_one_entry(app: TestApp) {
    let admin = app.signup("spendrace").await;
    let requests = (1..=20)
        .map(|i| {
            app.request(Method::PUT, "/api/v1/source-spend/ads/2026-03")
                .bearer_auth(&admin.access_token)
                .json(&json!({"amount": format!("{i}.00"), "currency": "EUR"}))
        })
        .collect();
    let statuses = statuses_in_parallel(requests).await;
    assert!(statuses.iter().all(|s| s.is_success()), "{statuses:?}");
    assert_eq!(
        statuses.iter().filter(|s| **s == StatusCode::CREATED).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(app.scalar("select count(*) from source_spend").await, 1);
}
