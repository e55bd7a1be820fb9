use pipewise_tests::{expect_problem, expect_status, invalid_fields, on_both_backends, TestApp};
use reqwest::{Method, StatusCode};
use serde_json::json;

on_both_backends!(
    an_admin_changes_settings_with_optimistic_concurrency,
    invalid_settings_are_refused_field_by_field,
    only_admins_change_settings,
    exchange_rates_are_set_listed_and_removed,
    invalid_exchange_rates_are_refused,
);

async fn an_admin_changes_settings_with_optimistic_concurrency(app: TestApp) {
    let admin = app.signup("settings").await;
    let response = app
        .get("/api/v1/organization", &admin.access_token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["etag"], "\"1\"");
    let body = json!({"name": "Renamed", "base_currency": "EUR", "timezone": "Europe/Berlin", "mql_threshold": 70});
    let response = app
        .patch("/api/v1/organization", &admin.access_token, &body)
        .header("if-match", "\"1\"")
        .send()
        .await
        .unwrap();
    let org = expect_status(response, StatusCode::OK).await;
    assert_eq!(
        (org["name"].as_str(), org["base_currency"].as_str()),
        (Some("Renamed"), Some("EUR"))
    );
    assert_eq!(
        (org["timezone"].as_str(), org["mql_threshold"].as_i64()),
        (Some("Europe/Berlin"), Some(70))
    );
    assert_eq!(org["version"], 2);

    let stale = app
        .patch("/api/v1/organization", &admin.access_token, &json!({"name": "Lost"}))
        .header("if-match", "\"1\"")
        .send()
        .await
        .unwrap();
    expect_problem(stale, StatusCode::PRECONDITION_FAILED).await;
    assert_eq!(
        app.scalar("select count(*) from organizations where name = 'Renamed'")
            .await,
        1
    );
}

async fn invalid_settings_are_refused_field_by_field(app: TestApp) {
    let admin = app.signup("invalid").await;
    let body = json!({"base_currency": "EURO", "timezone": "CEST", "mql_threshold": 101, "name": ""});
    let response = app
        .patch("/api/v1/organization", &admin.access_token, &body)
        .send()
        .await
        .unwrap();
    let problem = expect_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    let mut fields = invalid_fields(&problem);
    fields.sort();
    assert_eq!(fields, ["base_currency", "mql_threshold", "name", "timezone"]);
    let response = app
        .patch(
            "/api/v1/organization",
            &admin.access_token,
            &json!({"organization_id": admin.user_id}),
        )
        .send()
        .await
        .unwrap();
    let problem = expect_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(problem["errors"][0]["code"], "unknown_field");
    assert_eq!(app.scalar("select version from organizations").await, 1);
}

async fn only_admins_change_settings(app: TestApp) {
    let admin = app.signup("only").await;
    for role in ["manager", "rep"] {
        let user = app.add_user(&admin, role).await;
        expect_status(
            app.get("/api/v1/organization", &user.access_token)
                .send()
                .await
                .unwrap(),
            StatusCode::OK,
        )
        .await;
        let response = app
            .patch("/api/v1/organization", &user.access_token, &json!({"name": "Mine"}))
            .send()
            .await
            .unwrap();
        expect_problem(response, StatusCode::FORBIDDEN).await;
        let response = app
            .request(Method::PUT, "/api/v1/exchange-rates/EUR")
            .bearer_auth(&user.access_token)
            .json(&json!({"rate": "1.1"}))
            .send()
            .await
            .unwrap();
        expect_problem(response, StatusCode::FORBIDDEN).await;
    }
    assert_eq!(app.scalar("select version from organizations").await, 1);
    assert_eq!(app.scalar("select count(*) from exchange_rates").await, 0);
}

async fn exchange_rates_are_set_listed_and_removed(app: TestApp) {
    let admin = app.signup("rates").await;
    let put = |currency: &str, rate: &str| {
        app.request(Method::PUT, &format!("/api/v1/exchange-rates/{currency}"))
            .bearer_auth(&admin.access_token)
            .json(&json!({"rate": rate}))
            .send()
    };
    let eur = expect_status(put("EUR", "1.0825").await.unwrap(), StatusCode::OK).await;
    assert_eq!(eur["rate"], "1.0825");
    expect_status(put("GBP", "1.27").await.unwrap(), StatusCode::OK).await;
    expect_status(put("EUR", "1.09").await.unwrap(), StatusCode::OK).await;

    let list = expect_status(
        app.get("/api/v1/exchange-rates", &admin.access_token)
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    let rates: Vec<_> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["currency"].clone(), r["rate"].clone()))
        .collect();
    assert_eq!(rates, [(json!("EUR"), json!("1.09")), (json!("GBP"), json!("1.27"))]);

    expect_status(
        app.delete("/api/v1/exchange-rates/GBP", &admin.access_token)
            .send()
            .await
            .unwrap(),
        StatusCode::NO_CONTENT,
    )
    .await;
    expect_problem(
        app.delete("/api/v1/exchange-rates/GBP", &admin.access_token)
            .send()
            .await
            .unwrap(),
        StatusCode::NOT_FOUND,
    )
    .await;
    assert_eq!(app.scalar("select count(*) from exchange_rates").await, 1);
}

async fn invalid_exchange_rates_are_refused(app: TestApp) {
    let admin = app.signup("badrates").await;
    let put = |currency: &str, rate: &str| {
        app.request(Method::PUT, &format!("/api/v1/exchange-rates/{currency}"))
            .bearer_auth(&admin.access_token)
            .json(&json!({"rate": rate}))
            .send()
    };
    for rate in ["0", "-1", "abc", "1e3"] {
        let problem = expect_problem(put("EUR", rate).await.unwrap(), StatusCode::UNPROCESSABLE_ENTITY).await;
        assert_eq!(problem["errors"][0]["field"], "rate", "{rate}");
    }
    // The base currency (USD by default) is 1 by definition.
    let problem = expect_problem(put("USD", "2").await.unwrap(), StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(problem["errors"][0]["field"], "currency");
    expect_problem(put("XYZ", "2").await.unwrap(), StatusCode::BAD_REQUEST).await;
    assert_eq!(app.scalar("select count(*) from exchange_rates").await, 0);
}
