use pipewise_tests::{expect_problem, expect_status, invalid_fields, on_both_backends, Session, TestApp};
use reqwest::StatusCode;
use serde_json::{json, Value};

on_both_backends!(
    a_lead_is_created_scored_and_read,
    invalid_lead_fields_are_named,
    a_duplicate_email_is_refused_unless_allowed,
);

/// Creates a lead and returns it; fails the test unless it is 201.
pub async fn create_lead(app: &TestApp, session: &Session, body: Value) -> Value {
    let response = app
        .post("/api/v1/leads", &session.access_token, &body)
        .send()
        .await
        .unwrap();
    expect_status(response, StatusCode::CREATED).await
}

pub fn lead_path(lead: &Value) -> String {
    format!("/api/v1/leads/{}", lead["id"].as_str().unwrap())
}

async fn a_lead_is_created_scored_and_read(app: TestApp) {
    let admin = app.signup("lead").await;
    let lead = create_lead(
        &app,
        &admin,
        json!({"first_name": "Ada", "last_name": "Lovelace", "email": "Ada@Acme.example", "company_name": "Acme",
               "employee_count": 250, "country": "gb", "source": "referral", "estimated_value": "1200.50",
               "value_period": "month"}),
    )
    .await;
    assert_eq!(lead["email"], "ada@acme.example");
    assert_eq!(lead["country"], "GB");
    assert_eq!(lead["status"], "new");
    assert_eq!(lead["score"], 0);
    assert_eq!(lead["estimated_value"], "1200.50");
    assert_eq!(lead["currency"], "USD");
    assert_eq!(lead["owner_id"], admin.user_id.to_string());
    assert!(lead["mql_at"].is_null() && lead["qualified_at"].is_null());

    let response = app.get(&lead_path(&lead), &admin.access_token).send().await.unwrap();
    assert_eq!(response.headers()["etag"], "\"1\"");
    let read = expect_status(response, StatusCode::OK).await;
    assert_eq!(read, lead);
    assert_eq!(app.scalar("select count(*) from leads").await, 1);
}

async fn invalid_lead_fields_are_named(app: TestApp) {
    let admin = app.signup("lead-invalid").await;
    let response = app
        .post(
            "/api/v1/leads",
            &admin.access_token,
            &json!({"email": "nope", "country": "XX", "estimated_value": "-1", "employee_count": -3,
                    "status": "unqualified"}),
        )
        .send()
        .await
        .unwrap();
    let problem = expect_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    let mut fields = invalid_fields(&problem);
    fields.sort();
    assert_eq!(
        fields,
        [
            "country",
            "email",
            "employee_count",
            "estimated_value",
            "unqualified_reason"
        ]
    );

    let response = app
        .post(
            "/api/v1/leads",
            &admin.access_token,
            &json!({"status": "converted", "first_name": "X"}),
        )
        .send()
        .await
        .unwrap();
    let problem = expect_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(invalid_fields(&problem), ["status"]);

    let response = app
        .post("/api/v1/leads", &admin.access_token, &json!({"phone": "123"}))
        .send()
        .await
        .unwrap();
    let problem = expect_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(invalid_fields(&problem).len(), 4);
    assert_eq!(app.scalar("select count(*) from leads").await, 0);
}

async fn a_duplicate_email_is_refused_unless_allowed(app: TestApp) {
    let admin = app.signup("lead-dup").await;
    let first = create_lead(&app, &admin, json!({"email": "grace@navy.example"})).await;
    let response = app
        .post(
            "/api/v1/leads",
            &admin.access_token,
            &json!({"email": "GRACE@navy.example"}),
        )
        .send()
        .await
        .unwrap();
    let problem = expect_problem(response, StatusCode::CONFLICT).await;
    assert_eq!(problem["existing_id"], first["id"]);

    let contact = app
        .post(
            "/api/v1/contacts",
            &admin.access_token,
            &json!({"email": "alan@bletchley.example"}),
        )
        .send()
        .await
        .unwrap();
    let contact = expect_status(contact, StatusCode::CREATED).await;
    let response = app
        .post(
            "/api/v1/leads",
            &admin.access_token,
            &json!({"email": "alan@bletchley.example"}),
        )
        .send()
        .await
        .unwrap();
    let problem = expect_problem(response, StatusCode::CONFLICT).await;
    assert_eq!(problem["existing_id"], contact["id"]);
    assert_eq!(app.scalar("select count(*) from leads").await, 1);

    let response = app
        .post(
            "/api/v1/leads?allow_duplicate=true",
            &admin.access_token,
            &json!({"email": "grace@navy.example"}),
        )
        .send()
        .await
        .unwrap();
    expect_status(response, StatusCode::CREATED).await;
    assert_eq!(app.scalar("select count(*) from leads").await, 2);
}
