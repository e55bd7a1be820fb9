use pipewise_api::Config;
use pipewise_tests::{expect_problem, expect_status, on_both_backends, serve, TestApp};
use reqwest::{Method, StatusCode};
use serde_json::json;

on_both_backends!(
    health_readiness_and_metrics_answer,
    the_contract_and_swagger_ui_are_served,
    a_generated_signing_secret_survives_a_restart,
    concurrent_writers_all_succeed,
);

async fn health_readiness_and_metrics_answer(app: TestApp) {
    expect_status(
        app.request(Method::GET, "/healthz").send().await.unwrap(),
        StatusCode::OK,
    )
    .await;
    expect_status(
        app.request(Method::GET, "/readyz").send().await.unwrap(),
        StatusCode::OK,
    )
    .await;
    expect_problem(
        app.request(Method::GET, "/api/v1/me").send().await.unwrap(),
        StatusCode::UNAUTHORIZED,
    )
    .await;
    app.request(Method::GET, "/no/such/path/123").send().await.unwrap();
    let metrics = app
        .request(Method::GET, "/metrics")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(r#"pipewise_http_requests_total{method="GET",route="/api/v1/me",status="401"} 1"#),
        "{metrics}"
    );
    assert!(metrics.contains(r#"route="unmatched",status="404""#), "{metrics}");
    assert!(!metrics.contains("/no/such/path"), "unmatched paths are masked");
    assert!(metrics.contains("pipewise_http_request_duration_seconds_bucket"));
}

async fn the_contract_and_swagger_ui_are_served(app: TestApp) {
    let doc = expect_status(
        app.request(Method::GET, "/openapi.json").send().await.unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(doc["info"]["title"], "Pipewise API");
    assert!(doc["paths"]["/api/v1/auth/signup"]["post"].is_object());
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
    assert!(doc["components"]["securitySchemes"]["api_key"].is_object());
    let page = app.request(Method::GET, "/docs/").send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.text().await.unwrap().contains("swagger-ui"));
}

async fn a_generated_signing_secret_survives_a_restart(app: TestApp) {
    let mut config = Config::for_database(app.db.url());
    config.jwt_secret = None;
    let first = serve(config.clone()).await;
    let client = reqwest::Client::new();
    let signup = client
        .post(format!("{first}/api/v1/auth/signup"))
        .json(&json!({"organization_name": "R", "name": "R", "email": "restart@example.com", "password": "long enough pw"}))
        .send()
        .await
        .unwrap();
    let token = expect_status(signup, StatusCode::CREATED).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let second = serve(config).await;
    let me = client
        .get(format!("{second}/api/v1/me"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    expect_status(me, StatusCode::OK).await;
    assert_eq!(
        app.scalar("select count(*) from settings where key = 'jwt_secret'")
            .await,
        1
    );
}

async fn concurrent_writers_all_succeed(app: TestApp) {
    let admin = app.signup("busy").await;
    let writes = (0..16).map(|i| {
        let path = if i % 2 == 0 {
            "/api/v1/api-keys"
        } else {
            "/api/v1/organization"
        };
        let body = if i % 2 == 0 {
            json!({"name": format!("k{i}"), "scopes": ["read"]})
        } else {
            json!({"name": format!("Org {i}")})
        };
        let method = if i % 2 == 0 { Method::POST } else { Method::PATCH };
        app.request(method, path)
            .bearer_auth(&admin.access_token)
            .json(&body)
            .send()
    });
    for response in futures_util::future::join_all(writes).await {
        let status = response.unwrap().status();
        assert!(status.is_success(), "a concurrent write failed with {status}");
    }
    assert_eq!(app.scalar("select count(*) from api_keys").await, 8);
    assert_eq!(app.scalar("select version from organizations").await, 9);
}
