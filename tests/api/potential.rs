//! Look-alike potential: each fallback level, over customers won in the
//! last year, beside the lead's own estimate.

use chrono::{Duration, Utc};
use pipewise_tests::{expect_problem, expect_status, on_both_backends, Session, TestApp};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::{
    customers::{closed_deal, send, setup},
    leads::{create_lead, lead_path},
};

on_both_backends!(
    potential_falls_back_from_the_closest_customers_to_all,
    a_rule_on_potential_scores_leads_like_big_customers,
);

fn days_ago(days: i64) -> String {
    (Utc::now() - Duration::days(days)).to_rfc3339()
}

/// A customer: an account won `amount` (in `currency`) 30 days ago.
async fn customer(
    app: &TestApp,
    admin: &Session,
    pipeline: &str,
    profile: (&str, i64, &str),
    amount: &str,
    currency: &str,
) {
    let (industry, employees, country) = profile;
    let account = send(
        app,
        admin,
        Method::POST,
        "/api/v1/accounts",
        json!({"name": "Customer", "industry": industry, "employee_count": employees, "country": country}),
        StatusCode::CREATED,
    )
    .await;
    let id = account["id"].as_str().unwrap();
    closed_deal(
        app,
        admin,
        pipeline,
        Some(id),
        None,
        amount,
        currency,
        &days_ago(30),
        true,
    )
    .await;
}

async fn potential(app: &TestApp, session: &Session, lead: &Value) -> Value {
    let path = format!("{}/potential", lead_path(lead));
    expect_status(
        app.get(&path, &session.access_token).send().await.unwrap(),
        StatusCode::OK,
    )
    .await
}

async fn lead(app: &TestApp, session: &Session, industry: &str, employees: i64, country: &str) -> Value {
    create_lead(
        app,
        session,
        json!({"company_name": "Prospect", "industry": industry, "employee_count": employees, "country": country,
               "estimated_value": "900.00", "currency": "EUR", "value_period": "month"}),
    )
    .await
}

fn range(view: &Value) -> (&str, &str, &str) {
    let p = &view["potential"];
    (
        p["p25"].as_str().unwrap(),
        p["median"].as_str().unwrap(),
        p["p75"].as_str().unwrap(),
    )
}

async fn potential_falls_back_from_the_closest_customers_to_all(app: TestApp) {
    let (admin, p) = setup(&app, "potential").await;
    let p = p.as_str();
    let probe = lead(&app, &admin, "Software", 30, "DE").await;
    let none = potential(&app, &admin, &probe).await;
    assert!(none["potential"].is_null() && none["matched_on"].is_null(), "{none}");
    assert_eq!(
        (none["sample"].as_u64(), none["customers"].as_u64()),
        (Some(0), Some(0))
    );
    assert!(probe["potential_median"].is_null());

    // Five Software customers of 11-50 people in Germany: 1000 … 5000 (one pays 4000 USD = 2000 EUR).
    for amount in ["1000.00", "3000.00", "4000.00", "5000.00"] {
        customer(&app, &admin, p, ("Software", 30, "DE"), amount, "EUR").await;
    }
    customer(&app, &admin, p, ("software", 12, "DE"), "4000.00", "USD").await;
    // Three in France, two Retail ones, one large mining company.
    for _ in 0..3 {
        customer(&app, &admin, p, ("Software", 40, "FR"), "10000.00", "EUR").await;
    }
    customer(&app, &admin, p, ("Retail", 30, "DE"), "600.00", "EUR").await;
    customer(&app, &admin, p, ("Retail", 30, "DE"), "800.00", "EUR").await;
    customer(&app, &admin, p, ("Mining", 5000, "US"), "50000.00", "EUR").await;
    // Not customers now: won 400 days ago; paid in pounds, which have no rate.
    let old = send(
        &app,
        &admin,
        Method::POST,
        "/api/v1/accounts",
        json!({"name": "Old", "industry": "Software", "employee_count": 30, "country": "DE"}),
        StatusCode::CREATED,
    )
    .await;
    closed_deal(
        &app,
        &admin,
        p,
        old["id"].as_str(),
        None,
        "99999.00",
        "EUR",
        &days_ago(400),
        true,
    )
    .await;
    customer(&app, &admin, p, ("Software", 30, "DE"), "700.00", "GBP").await;

    // Same industry (any case), band and country: 1000, 2000, 3000, 4000, 5000.
    let v = potential(&app, &admin, &probe).await;
    assert_eq!(v["matched_on"], "industry_band_country");
    assert_eq!((v["sample"].as_u64(), v["customers"].as_u64()), (Some(5), Some(11)));
    assert_eq!(range(&v), ("2000.00", "3000.00", "4000.00"));
    assert_eq!(
        (v["period"].as_str(), v["currency"].as_str()),
        (Some("year"), Some("EUR"))
    );
    // Per month: a twelfth.
    assert_eq!(v["value_period"], "month");
    let month = &v["per_value_period"];
    assert_eq!(
        (month["p25"].as_str(), month["median"].as_str(), month["p75"].as_str()),
        (Some("166.67"), Some("250.00"), Some("333.33"))
    );
    // The lead's own estimate stays beside it.
    assert_eq!(
        (v["estimated_value"].as_str(), v["estimated_value_currency"].as_str()),
        (Some("900.00"), Some("EUR"))
    );
    assert_eq!(v["unconverted_deals"], 1);
    let read = expect_status(
        app.get(&lead_path(&probe), &admin.access_token).send().await.unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(read["potential_median"], "3000.00");

    // Three in France: widen to industry and band, 8 customers:
    // 1000 2000 3000 4000 5000 10000 10000 10000 → p25 at 1.75 = 2750, median at 3.5 = 4500, p75 at 5.25 = 10000.
    let france = lead(&app, &admin, "Software", 30, "FR").await;
    let v = potential(&app, &admin, &france).await;
    assert_eq!(
        (v["matched_on"].as_str(), v["sample"].as_u64()),
        (Some("industry_band"), Some(8))
    );
    assert_eq!(range(&v), ("2750.00", "4500.00", "10000.00"));
    assert_eq!(france["potential_median"], "4500.00");

    // Two Retail customers: widen to the band, 10 customers:
    // 600 800 1000 2000 3000 4000 5000 10000 10000 10000 → 1250, 3500, 8750.
    let retail = lead(&app, &admin, "Retail", 30, "DE").await;
    let v = potential(&app, &admin, &retail).await;
    assert_eq!(
        (v["matched_on"].as_str(), v["sample"].as_u64()),
        (Some("band"), Some(10))
    );
    assert_eq!(range(&v), ("1250.00", "3500.00", "8750.00"));

    // One customer of its band: every customer, 11 of them → 1500, 4000, 10000.
    let mining = lead(&app, &admin, "Mining", 3000, "US").await;
    let v = potential(&app, &admin, &mining).await;
    assert_eq!(
        (v["matched_on"].as_str(), v["sample"].as_u64()),
        (Some("all_customers"), Some(11))
    );
    assert_eq!(range(&v), ("1500.00", "4000.00", "10000.00"));
    assert!(v["per_value_period"]["median"].is_string());

    // A lead without industry or head count matches no group: every customer.
    let bare = create_lead(&app, &admin, json!({"last_name": "Bare"})).await;
    let v = potential(&app, &admin, &bare).await;
    assert_eq!(v["matched_on"], "all_customers");
    assert!(v["per_value_period"].is_null() && v["value_period"].is_null());

    // Lists sort by it, page by page: France 4500, then 4000 twice (the
    // later lead first), Retail 3500, the probe 3000.
    let mut seen = Vec::new();
    let mut path = "/api/v1/leads?sort=-potential&limit=2".to_owned();
    loop {
        let page = expect_status(
            app.get(&path, &admin.access_token).send().await.unwrap(),
            StatusCode::OK,
        )
        .await;
        seen.extend(page["data"].as_array().unwrap().iter().map(|l| l["id"].clone()));
        match page["next_cursor"].as_str() {
            Some(cursor) => path = format!("/api/v1/leads?sort=-potential&limit=2&cursor={cursor}"),
            None => break,
        }
    }
    let expected = [&france["id"], &bare["id"], &mining["id"], &retail["id"], &probe["id"]];
    assert_eq!(seen.iter().collect::<Vec<_>>(), expected);
    let ascending = expect_status(
        app.get("/api/v1/leads?sort=potential&limit=1", &admin.access_token)
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(ascending["data"][0]["id"], probe["id"]);

    // Before any customer (as_of in the past): nothing to compare with.
    let path = format!("{}/potential?as_of=2020-01-01T00:00:00Z", lead_path(&probe));
    let v = expect_status(
        app.get(&path, &admin.access_token).send().await.unwrap(),
        StatusCode::OK,
    )
    .await;
    assert!(v["potential"].is_null());

    // Reps estimate their own leads only.
    let rep = app.add_user(&admin, "rep").await;
    let response = app
        .get(&format!("{}/potential", lead_path(&probe)), &rep.access_token)
        .send()
        .await
        .unwrap();
    expect_problem(response, StatusCode::NOT_FOUND).await;
    let theirs = lead(&app, &rep, "Software", 30, "DE").await;
    assert_eq!(potential(&app, &rep, &theirs).await["potential"]["median"], "3000.00");
    let response = app
        .get(
            &format!("{}/potential?as_of=yesterday", lead_path(&theirs)),
            &rep.access_token,
        )
        .send()
        .await
        .unwrap();
    expect_problem(response, StatusCode::BAD_REQUEST).await;

    // The leads report adds up the potential of the period's leads:
    // 3000 + 4500 + 3500 + 4000 + 4000 (no profile) + 3000 (the rep's).
    let today = Utc::now().date_naive();
    let period = format!("from={}&to={}", today - Duration::days(1), today + Duration::days(2));
    let report = expect_status(
        app.get(&format!("/api/v1/reports/leads?{period}"), &admin.access_token)
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(report["total"]["potential"], "22000.00", "{report}");
    assert_eq!(report["sources"][0]["potential"], "22000.00");
    let own = expect_status(
        app.get(&format!("/api/v1/reports/leads?{period}"), &rep.access_token)
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(own["total"]["potential"], "3000.00");
    let empty = expect_status(
        app.get(
            "/api/v1/reports/leads?from=2020-01-01&to=2020-02-01",
            &admin.access_token,
        )
        .send()
        .await
        .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert!(empty["total"]["potential"].is_null());
}

async fn a_rule_on_potential_scores_leads_like_big_customers(app: TestApp) {
    let (admin, p) = setup(&app, "potentialrule").await;
    let p = p.as_str();
    let rule = send(
        &app,
        &admin,
        Method::POST,
        "/api/v1/scoring-rules",
        json!({"name": "Big potential", "field": "potential", "operator": "gte", "value": 4000, "points": 20}),
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(rule["field"], "potential");
    // Before any customer a lead has no potential: the rule does not match.
    let early = lead(&app, &admin, "Software", 30, "FR").await;
    assert_eq!(early["score"], 0);

    for amount in ["1000.00", "2000.00", "3000.00", "4000.00", "5000.00"] {
        customer(&app, &admin, p, ("Software", 30, "DE"), amount, "EUR").await;
    }
    for _ in 0..3 {
        customer(&app, &admin, p, ("Software", 40, "FR"), "10000.00", "EUR").await;
    }
    // Scored at creation: France 4500 (industry and band), Germany 3000.
    let france = lead(&app, &admin, "Software", 30, "FR").await;
    let germany = lead(&app, &admin, "Software", 30, "DE").await;
    assert_eq!(
        (france["score"].as_u64(), germany["score"].as_u64()),
        (Some(20), Some(0))
    );
    let path = format!("{}/score", lead_path(&france));
    let explained = expect_status(
        app.get(&path, &admin.access_token).send().await.unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(explained["matched"][0]["name"], "Big potential");

    // The early lead catches up with a rescore.
    let response = app
        .post("/api/v1/scoring-rules/rescore", &admin.access_token, &json!({}))
        .send()
        .await
        .unwrap();
    let done = expect_status(response, StatusCode::OK).await;
    assert_eq!(done["changed"], 1);
    let read = expect_status(
        app.get(&lead_path(&early), &admin.access_token).send().await.unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(read["score"], 20);

    // A number field: `contains` does not apply.
    let response = app
        .post(
            "/api/v1/scoring-rules",
            &admin.access_token,
            &json!({"name": "x", "field": "potential", "operator": "contains", "value": "big", "points": 1}),
        )
        .send()
        .await
        .unwrap();
    expect_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
}
