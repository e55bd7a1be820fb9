//! Every kind of malformed request gets its problem+json status, including
//! the errors actix raises itself.

use pipewise_tests::{expect_problem, invalid_fields, on_both_backends, TestApp};
use reqwest::{Method, StatusCode};
use serde_json::json;

on_both_backends!(
    malformed_json_is_400,
    a_body_that_is_not_json_is_415,
    a_body_over_one_mebibyte_is_413,
    an_unknown_route_is_404,
    a_known_path_with_another_method_is_405_with_allow,
    bad_path_and_query_parameters_are_400,
    unknown_and_server_owned_fields_are_422,
    wrong_types_and_missing_fields_are_422_naming_the_field,
    missing_credentials_are_401_with_a_bearer_challenge,
    request_ids_are_echoed_or_generated,
);

async fn malformed_json_is_400(app: TestApp) {
    for body in ["{", "{\"email\": }", "{} trailing", ""] {
        let response = app
            .request(Method::POST, "/api/v1/auth/login")
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        expect_problem(response, StatusCode::BAD_REQUEST).await;
    }
}

async fn a_body_that_is_not_json_is_415(app: TestApp) {
    let response = app
        .request(Method::POST, "/api/v1/auth/login")
        .header("content-type", "text/plain")
        .body("{}")
        .send()
        .await
        .unwrap();
    expect_problem(response, StatusCode::UNSUPPORTED_MEDIA_TYPE).await;
    let response = app
        .request(Method::POST, "/api/v1/auth/login")
        .body("{}")
        .send()
        .await
        .unwrap();
    expect_problem(response, StatusCode::UNSUPPORTED_MEDIA_TYPE).await;
}

async fn a_body_over_one_mebibyte_is_413(app: TestApp) {
    let admin = app.signup("big").await;
    let body = json!({"name": "x".repeat(1024 * 1024)});
    let response = app
        .patch("/api/v1/organization", &admin.access_token, &body)
        .send()
        .await
        .unwrap();
    expect_problem(response, StatusCode::PAYLOAD_TOO_LARGE).await;
    assert_eq!(app.scalar("select version from organizations").await, 1);
}

async fn an_unknown_route_is_404(app: TestApp) {
    expect_problem(
        app.request(Method::GET, "/api/v1/nothing-here").send().await.unwrap(),
        StatusCode::NOT_FOUND,
    )
    .await;
    expect_problem(
        app.request(Method::GET, "/").send().await.unwrap(),
        StatusCode::NOT_FOUND,
    )
    .await;
}

async fn a_known_path_with_another_method_is_405_with_allow(app: TestApp) {
    let response = app
        .request(Method::DELETE, "/api/v1/organization")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["allow"], "GET, PATCH");
    expect_problem(response, StatusCode::METHOD_NOT_ALLOWED).await;
    let response = app
        .request(Method::PUT, &format!("/api/v1/users/{}", uuid::Uuid::now_v7()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["allow"], "GET, PATCH, DELETE");
    expect_problem(response, StatusCode::METHOD_NOT_ALLOWED).await;
    // A fixed path beside a parameter one (`/scoring-rules/rescore` beside
    // `/scoring-rules/{id}`) answers other methods with 405, not "invalid id".
    let admin = app.signup("methods").await;
    for method in [Method::GET, Method::PATCH, Method::DELETE, Method::PUT] {
        let response = app
            .request(method, "/api/v1/scoring-rules/rescore")
            .bearer_auth(&admin.access_token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.headers()["allow"], "POST");
        expect_problem(response, StatusCode::METHOD_NOT_ALLOWED).await;
    }
}

async fn bad_path_and_query_parameters_are_400(app: TestApp) {
    let admin = app.signup("params").await;
    for path in [
        "/api/v1/users/not-a-uuid",
        "/api/v1/users?limit=0",
        "/api/v1/users?limit=201",
        "/api/v1/users?limit=abc",
        "/api/v1/users?colour=red",
    ] {
        let response = app.get(path, &admin.access_token).send().await.unwrap();
        expect_problem(response, StatusCode::BAD_REQUEST).await;
    }
}

async fn unknown_and_server_owned_fields_are_422(app: TestApp) {
    let admin = app.signup("owned").await;
    let body = json!({"email": "x@example.com", "name": "X", "role": "rep", "password": "long enough pw", "organization_id": uuid::Uuid::now_v7()});
    let response = app
        .post("/api/v1/users", &admin.access_token, &body)
        .send()
        .await
        .unwrap();
    let problem = expect_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(invalid_fields(&problem), ["organization_id"]);
    assert_eq!(problem["errors"][0]["code"], "unknown_field");
    let response = app
        .patch("/api/v1/organization", &admin.access_token, &json!({"version": 9}))
        .send()
        .await
        .unwrap();
    expect_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(app.scalar("select count(*) from users").await, 1);
}

async fn wrong_types_and_missing_fields_are_422_naming_the_field(app: TestApp) {
    let response = app
        .request(Method::POST, "/api/v1/auth/login")
        .json(&json!({"email": 5, "password": "x"}))
        .send()
        .await
        .unwrap();
    let problem = expect_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(invalid_fields(&problem), ["email"]);
    assert_eq!(problem["errors"][0]["message"], "must be a string");
    let response = app
        .request(Method::POST, "/api/v1/auth/login")
        .json(&json!({"email": "a@example.com"}))
        .send()
        .await
        .unwrap();
    let problem = expect_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(invalid_fields(&problem), ["password"]);
    assert_eq!(problem["errors"][0]["code"], "required");
    let response = app
        .request(Method::POST, "/api/v1/auth/login")
        .json(&json!([1, 2]))
        .send()
        .await
        .unwrap();
    let problem = expect_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert!(
        !problem.to_string().contains("LoginRequest"),
        "no internal type names: {problem}"
    );
}

async fn missing_credentials_are_401_with_a_bearer_challenge(app: TestApp) {
    for (method, path) in [
        (Method::GET, "/api/v1/me"),
        (Method::GET, "/api/v1/users"),
        (Method::POST, "/api/v1/api-keys"),
    ] {
        let response = app.request(method, path).send().await.unwrap();
        assert_eq!(response.headers()["www-authenticate"], "Bearer");
        expect_problem(response, StatusCode::UNAUTHORIZED).await;
    }
    let response = app
        .request(Method::GET, "/api/v1/me")
        .header("authorization", "Basic YWxhZGRpbjpvcGVuc2VzYW1l")
        .send()
        .await
        .unwrap();
    expect_problem(response, StatusCode::UNAUTHORIZED).await;
}

async fn request_ids_are_echoed_or_generated(app: TestApp) {
    let response = app
        .request(Method::GET, "/healthz")
        .header("x-request-id", "client-abc-123")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-request-id"], "client-abc-123");
    let response = app
        .request(Method::GET, "/api/v1/nope")
        .header("x-request-id", "client-xyz")
        .send()
        .await
        .unwrap();
    let problem = expect_problem(response, StatusCode::NOT_FOUND).await;
    assert_eq!(problem["request_id"], "client-xyz");
    let response = app
        .request(Method::GET, "/healthz")
        .header("x-request-id", "bad id with spaces")
        .send()
        .await
        .unwrap();
    let generated = response.headers()["x-request-id"].to_str().unwrap();
    assert!(generated.parse::<uuid::Uuid>().is_ok(), "{generated}");
}
