//! Input the edge refuses, alike on both backends and for every route:
//! control characters, bodies that are not objects, lenient numbers, dates
//! and emails, undocumented or overlong parameters, slow bodies; and 422s
//! that name every problem of a body at once.

use std::time::Duration;

use pipewise_tests::{expect_problem, expect_status, invalid_fields, on_both_backends, TestApp, PASSWORD};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::pipelines::sales_pipeline;

on_both_backends!(
    nul_and_control_characters_are_refused_at_the_edge,
    json_arrays_are_not_request_bodies,
    lenient_amounts_dates_and_emails_are_refused,
    documented_limits_hold_on_query_parameters_and_every_body_field,
    one_422_lists_every_problem_of_the_body,
    bad_query_parameters_are_named_in_plain_words,
    a_body_that_never_finishes_is_answered_408,
);

fn field_codes(problem: &Value) -> Vec<(String, String)> {
    problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["field"].as_str().unwrap().to_owned(),
                e["code"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

async fn nul_and_control_characters_are_refused_at_the_edge(app: TestApp) {
    let admin = app.signup("nul").await;

    // In a JSON string: 422 naming the field (PostgreSQL cannot store NUL).
    let response = app
        .request(Method::POST, "/api/v1/auth/login")
        .json(&json!({"email": "a\u{0}@example.com", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    let problem = expect_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(
        field_codes(&problem),
        [("email".to_owned(), "control_character".to_owned())]
    );
    let response = app
        .post(
            "/api/v1/leads",
            &admin.access_token,
            &json!({"first_name": "Bell\u{7}", "last_name": "x\u{0}"}),
        )
        .send()
        .await
        .unwrap();
    let problem = expect_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(invalid_fields(&problem), ["first_name", "last_name"]);
    assert_eq!(app.scalar("select count(*) from leads").await, 0);

    // Tabs and line breaks are text where text may span lines.
    let response = app
        .post("/api/v1/leads", &admin.access_token, &json!({"first_name": "Ada"}))
        .send()
        .await
        .unwrap();
    let lead = expect_status(response, StatusCode::CREATED).await;
    let response = app
        .post(
            "/api/v1/notes",
            &admin.access_token,
            &json!({"lead_id": lead["id"], "body": "Line one\r\n\tLine two"}),
        )
        .send()
        .await
        .unwrap();
    expect_status(response, StatusCode::CREATED).await;

    // In a query parameter: 400 naming it.
    for query in ["q=%00", "source=web%00form", "q=%1b%5b31m"] {
        let response = app
            .get(&format!("/api/v1/leads?{query}"), &admin.access_token)
            .send()
            .await
            .unwrap();
        let problem = expect_problem(response, StatusCode::BAD_REQUEST).await;
        let name = query.split('=').next().unwrap();
        assert!(
            problem["detail"].as_str().unwrap().contains(&format!("`{name}`")),
            "{problem}"
        );
    }

    // In a path segment: no such resource.
    let response = app
        .request(Method::POST, "/public/v1/forms/%00/submissions")
        .json(&json!({"email": "a@example.com"}))
        .send()
        .await
        .unwrap();
    expect_problem(response, StatusCode::NOT_FOUND).await;
}

async fn json_arrays_are_not_request_bodies(app: TestApp) {
    let admin = app.signup("arrays").await;
    let pipeline = sales_pipeline(&app, &admin).await;
    let path = format!("/api/v1/pipelines/{}", pipeline["id"].as_str().unwrap());

    let response = app
        .patch(&path, &admin.access_token, &json!(["Renamed"]))
        .send()
        .await
        .unwrap();

    let problem = expect_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(invalid_fields(&problem), ["body"]);
    assert_eq!(problem["errors"][0]["message"], "must be an object");
    let unchanged = expect_status(
        app.get(&path, &admin.access_token).send().await.unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(unchanged["name"], pipeline["name"]);
}

async fn lenient_amounts_dates_and_emails_are_refused(app: TestApp) {
    let admin = app.signup("lenient").await;
    let pipeline = sales_pipeline(&app, &admin).await;
    for amount in ["1_000", " 1.00", "+1.00", "1.", "1e3", "1.005"] {
        let response = app
            .post(
                "/api/v1/deals",
                &admin.access_token,
                &json!({"title": "T", "amount": amount, "pipeline_id": pipeline["id"]}),
            )
            .send()
            .await
            .unwrap();
        let problem = expect_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert_eq!(invalid_fields(&problem), ["amount"], "{amount:?}");
    }
    let response = app
        .post(
            "/api/v1/deals",
            &admin.access_token,
            &json!({"title": "T", "amount": "10", "pipeline_id": pipeline["id"], "expected_close_date": "2030-1-1"}),
        )
        .send()
        .await
        .unwrap();
    let problem = expect_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(
        field_codes(&problem),
        [("expected_close_date".to_owned(), "format".to_owned())]
    );
    let response = app
        .get("/api/v1/deals?expected_close_from=2030-1-1", &admin.access_token)
        .send()
        .await
        .unwrap();
    expect_problem(response, StatusCode::BAD_REQUEST).await;
    assert_eq!(app.scalar("select count(*) from deals").await, 0);

    for email in ["a@b.example;x=y", "<a@b.example>", "a@-b.example"] {
        let response = app
            .post("/api/v1/contacts", &admin.access_token, &json!({"email": email}))
            .send()
            .await
            .unwrap();
        let problem = expect_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert_eq!(invalid_fields(&problem), ["email"], "{email:?}");
    }
    assert_eq!(app.scalar("select count(*) from contacts").await, 0);

    // The strict forms are still taken.
    let response = app
        .post(
            "/api/v1/deals",
            &admin.access_token,
            &json!({"title": "T", "amount": "1000.5", "pipeline_id": pipeline["id"], "expected_close_date": "2030-01-01"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(expect_status(response, StatusCode::CREATED).await["amount"], "1000.50");
}

async fn documented_limits_hold_on_query_parameters_and_every_body_field(app: TestApp) {
    let admin = app.signup("limits").await;
    let response = app
        .get(
            &format!("/api/v1/deals?source={}", "s".repeat(101)),
            &admin.access_token,
        )
        .send()
        .await
        .unwrap();
    let problem = expect_problem(response, StatusCode::BAD_REQUEST).await;
    assert_eq!(
        problem["detail"],
        "Query parameter `source` must be at most 100 characters long."
    );

    let response = app
        .patch(
            "/api/v1/me",
            &admin.access_token,
            &json!({"password": "a new long password", "current_password": "x".repeat(5000)}),
        )
        .send()
        .await
        .unwrap();
    let problem = expect_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(
        field_codes(&problem),
        [("current_password".to_owned(), "max_length".to_owned())]
    );
    // Nothing changed: the old password still logs in.
    expect_status(app.login(&admin.email, PASSWORD).await, StatusCode::OK).await;
}

async fn one_422_lists_every_problem_of_the_body(app: TestApp) {
    let response = app
        .request(Method::POST, "/api/v1/auth/signup")
        .json(&json!({
            "organization_name": "",
            "name": "x".repeat(201),
            "email": "not-an-email",
            "password": "short",
            "timezone": "Mars/Olympus",
            "referrer": "ads",
        }))
        .send()
        .await
        .unwrap();

    let problem = expect_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    let mut fields = invalid_fields(&problem);
    fields.sort();
    assert_eq!(
        fields,
        ["email", "name", "organization_name", "password", "referrer", "timezone"]
    );
    let codes = field_codes(&problem);
    assert!(
        codes.contains(&("referrer".to_owned(), "unknown_field".to_owned())),
        "{codes:?}"
    );
    assert_eq!(app.scalar("select count(*) from organizations").await, 0);
}

async fn bad_query_parameters_are_named_in_plain_words(app: TestApp) {
    let admin = app.signup("params").await;
    for (query, expected) in [
        ("score_min=500", "Query parameter `score_min` must be at most 100."),
        ("score_min=lots", "Query parameter `score_min` must be an integer."),
        ("limit=0", "Query parameter `limit` must be at least 1."),
        (
            "status=maybe",
            "Query parameter `status` must be one of: new, contacted, qualified, unqualified, converted.",
        ),
        ("limit=5&limit=6", "Query parameter `limit` is given more than once."),
    ] {
        let response = app
            .get(&format!("/api/v1/leads?{query}"), &admin.access_token)
            .send()
            .await
            .unwrap();
        let problem = expect_problem(response, StatusCode::BAD_REQUEST).await;
        assert_eq!(problem["detail"], expected, "{query}");
    }
    let response = app
        .get("/api/v1/leads?colour=red", &admin.access_token)
        .send()
        .await
        .unwrap();
    let problem = expect_problem(response, StatusCode::BAD_REQUEST).await;
    let detail = problem["detail"].as_str().unwrap();
    assert!(
        detail.starts_with("Unknown query parameter `colour`; this operation takes: "),
        "{detail}"
    );
    assert!(
        detail.contains("score_min") && !detail.contains("deserialize"),
        "{detail}"
    );
}

async fn a_body_that_never_finishes_is_answered_408(app: TestApp) {
    let app = app.sibling(|config| config.body_timeout_secs = 1).await;
    let address = app.address.trim_start_matches("http://").to_owned();
    let mut stream = tokio::net::TcpStream::connect(&address).await.unwrap();

    // Promise 100 bytes, send one, then wait.
    stream
        .write_all(
            b"POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{",
        )
        .await
        .unwrap();
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer)).await;

    assert!(read.is_ok(), "the connection was still open after 10 s");
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("application/problem+json"), "{answer}");
}
