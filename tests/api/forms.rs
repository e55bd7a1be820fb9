use pipewise_tests::{expect_problem, expect_status, invalid_fields, on_both_backends, uuid, Session, TestApp};
use reqwest::{header, Method, Response, StatusCode};
use serde_json::{json, Value};

on_both_backends!(
    an_admin_creates_reads_lists_changes_rotates_and_trashes_forms,
    only_admins_manage_forms,
    invalid_form_settings_are_named,
    a_browser_post_with_a_field_given_twice_is_redirected_with_the_validation_error,
    json_and_form_encoded_submissions_become_leads_assigned_in_turn,
    an_owner_deactivated_since_is_skipped,
    the_honeypot_answers_success_and_stores_nothing,
    invalid_submissions_are_named,
    a_browser_post_is_redirected_on_success_and_on_errors,
    unknown_inactive_trashed_and_rotated_forms_are_not_found,
    submissions_are_rate_limited_per_client_and_per_form,
    any_origin_may_post_to_public_forms_but_not_to_the_api,
);

/// Creates a form and returns it; fails the test unless it is 201.
async fn create_form(app: &TestApp, admin: &Session, body: Value) -> Value {
    let response = app
        .post("/api/v1/forms", &admin.access_token, &body)
        .send()
        .await
        .unwrap();
    expect_status(response, StatusCode::CREATED).await
}

/// A form taking names, email and company, email required, owned by `admin`.
pub(crate) async fn contact_form(app: &TestApp, admin: &Session, extra: Value) -> Value {
    let mut body = json!({
        "name": "Contact us",
        "fields": ["first_name", "last_name", "email", "company_name", "employee_count"],
        "required_fields": ["email"],
        "owner_ids": [admin.user_id],
    });
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    create_form(app, admin, body).await
}

fn form_path(form: &Value) -> String {
    format!("/api/v1/forms/{}", form["id"].as_str().unwrap())
}

fn submit_path(form: &Value) -> String {
    format!(
        "/public/v1/forms/{}/submissions",
        form["public_token"].as_str().unwrap()
    )
}

/// A client that shows redirects instead of following them.
fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

pub(crate) async fn submit_json(app: &TestApp, form: &Value, body: Value) -> Response {
    app.request(Method::POST, &submit_path(form))
        .json(&body)
        .send()
        .await
        .unwrap()
}

async fn submit_form(app: &TestApp, form: &Value, pairs: &[(&str, &str)]) -> Response {
    no_redirects()
        .post(app.url(&submit_path(form)))
        .form(pairs)
        .send()
        .await
        .unwrap()
}

async fn an_admin_creates_reads_lists_changes_rotates_and_trashes_forms(app: TestApp) {
    let admin = app.signup("forms").await;
    let form = contact_form(&app, &admin, json!({})).await;
    assert_eq!(form["name"], "Contact us");
    assert_eq!(form["source"], "web_form");
    assert_eq!(form["active"], true);
    assert_eq!(form["required_fields"], json!(["email"]));
    assert_eq!(form["owner_ids"], json!([admin.user_id]));
    assert_eq!(form["assigned_count"], 0);
    assert!(form["redirect_url"].is_null());
    let token = form["public_token"].as_str().unwrap().to_owned();
    assert_eq!(token.len(), 43, "32 random bytes, base64url");
    assert_eq!(form["submit_url"], format!("/public/v1/forms/{token}/submissions"));
    assert_eq!(form["version"], 1);

    let response = app.get(&form_path(&form), &admin.access_token).send().await.unwrap();
    assert_eq!(response.headers()["etag"], "\"1\"");
    assert_eq!(expect_status(response, StatusCode::OK).await, form);

    let other = contact_form(&app, &admin, json!({"name": "Newsletter", "source": "newsletter"})).await;
    assert_eq!(other["source"], "newsletter");
    assert_ne!(other["public_token"], form["public_token"]);
    let response = app
        .get("/api/v1/forms?limit=1", &admin.access_token)
        .send()
        .await
        .unwrap();
    let page = expect_status(response, StatusCode::OK).await;
    assert_eq!(page["data"], json!([form]));
    let cursor = page["next_cursor"].as_str().unwrap();
    let response = app
        .get(&format!("/api/v1/forms?limit=1&cursor={cursor}"), &admin.access_token)
        .send()
        .await
        .unwrap();
    let page = expect_status(response, StatusCode::OK).await;
    assert_eq!(page["data"][0]["id"], other["id"]);
    assert!(page["next_cursor"].is_null());

    let response = app
        .patch(
            &form_path(&form),
            &admin.access_token,
            &json!({"name": "Talk to sales", "redirect_url": "https://www.acme.example/thanks", "active": false,
                    "fields": ["email", "phone"], "required_fields": ["email", "phone"]}),
        )
        .header("if-match", "\"1\"")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["etag"], "\"2\"");
    let changed = expect_status(response, StatusCode::OK).await;
    assert_eq!(changed["name"], "Talk to sales");
    assert_eq!(changed["redirect_url"], "https://www.acme.example/thanks");
    assert_eq!(changed["active"], false);
    assert_eq!(changed["fields"], json!(["email", "phone"]));
    assert_eq!(changed["public_token"], token);
    let response = app
        .patch(&form_path(&form), &admin.access_token, &json!({"redirect_url": null}))
        .send()
        .await
        .unwrap();
    assert!(expect_status(response, StatusCode::OK).await["redirect_url"].is_null());

    let response = app
        .patch(&form_path(&form), &admin.access_token, &json!({"name": "Stale"}))
        .header("if-match", "\"1\"")
        .send()
        .await
        .unwrap();
    expect_problem(response, StatusCode::PRECONDITION_FAILED).await;

    let response = app
        .request(Method::POST, &format!("{}/rotate-token", form_path(&form)))
        .bearer_auth(&admin.access_token)
        .send()
        .await
        .unwrap();
    let rotated = expect_status(response, StatusCode::OK).await;
    assert_ne!(rotated["public_token"], token);
    assert_eq!(rotated["version"], 4);
    assert_eq!(
        rotated["submit_url"],
        format!(
            "/public/v1/forms/{}/submissions",
            rotated["public_token"].as_str().unwrap()
        )
    );

    let response = app
        .delete(&form_path(&form), &admin.access_token)
        .header("if-match", "\"3\"")
        .send()
        .await
        .unwrap();
    expect_problem(response, StatusCode::PRECONDITION_FAILED).await;
    let response = app.delete(&form_path(&form), &admin.access_token).send().await.unwrap();
    expect_status(response, StatusCode::NO_CONTENT).await;
    let response = app.get(&form_path(&form), &admin.access_token).send().await.unwrap();
    expect_problem(response, StatusCode::NOT_FOUND).await;
    let response = app.delete(&form_path(&form), &admin.access_token).send().await.unwrap();
    expect_problem(response, StatusCode::NOT_FOUND).await;
    let response = app.get("/api/v1/forms", &admin.access_token).send().await.unwrap();
    let page = expect_status(response, StatusCode::OK).await;
    assert_eq!(page["data"].as_array().unwrap().len(), 1);
    assert_eq!(
        app.scalar("select count(*) from audit_log where action like 'form.%'")
            .await,
        4,
        "two created, one rotated, one trashed"
    );

    // Another organization's admin cannot see it.
    let stranger = app.signup("forms-stranger").await;
    let response = app
        .get(&form_path(&other), &stranger.access_token)
        .send()
        .await
        .unwrap();
    expect_problem(response, StatusCode::NOT_FOUND).await;
    let response = app.get("/api/v1/forms", &stranger.access_token).send().await.unwrap();
    assert_eq!(expect_status(response, StatusCode::OK).await["data"], json!([]));
}

async fn only_admins_manage_forms(app: TestApp) {
    let admin = app.signup("forms-roles").await;
    let form = contact_form(&app, &admin, json!({})).await;
    let body = json!({"name": "Mine", "fields": ["email"], "owner_ids": [admin.user_id]});
    for role in ["manager", "rep"] {
        let user = app.add_user(&admin, role).await;
        for response in [
            app.get("/api/v1/forms", &user.access_token).send().await.unwrap(),
            app.post("/api/v1/forms", &user.access_token, &body)
                .send()
                .await
                .unwrap(),
            app.get(&form_path(&form), &user.access_token).send().await.unwrap(),
            app.patch(&form_path(&form), &user.access_token, &json!({"name": "x"}))
                .send()
                .await
                .unwrap(),
            app.delete(&form_path(&form), &user.access_token).send().await.unwrap(),
        ] {
            expect_problem(response, StatusCode::FORBIDDEN).await;
        }
    }
    let (_, key) = app
        .api_key(&admin, &["read", "write", "reports", "import", "webhooks"])
        .await;
    for response in [
        app.request(Method::GET, "/api/v1/forms")
            .header("x-api-key", &key)
            .send()
            .await
            .unwrap(),
        app.request(Method::POST, "/api/v1/forms")
            .header("x-api-key", &key)
            .json(&body)
            .send()
            .await
            .unwrap(),
        app.request(Method::POST, &format!("{}/rotate-token", form_path(&form)))
            .header("x-api-key", &key)
            .send()
            .await
            .unwrap(),
    ] {
        expect_problem(response, StatusCode::FORBIDDEN).await;
    }
    let response = app.request(Method::GET, "/api/v1/forms").send().await.unwrap();
    expect_problem(response, StatusCode::UNAUTHORIZED).await;
    assert_eq!(app.scalar("select count(*) from forms").await, 1);
}

async fn invalid_form_settings_are_named(app: TestApp) {
    let admin = app.signup("forms-invalid").await;
    let rep = app.add_user(&admin, "rep").await;
    let gone = app.add_user(&admin, "rep").await;
    let response = app
        .delete(&format!("/api/v1/users/{}", gone.user_id), &admin.access_token)
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success());
    let stranger = app.signup("forms-invalid-other").await;

    let cases: Vec<(Value, Vec<&str>)> = vec![
        (
            json!({"name": "x", "fields": ["email"], "required_fields": ["phone"], "owner_ids": [admin.user_id]}),
            vec!["required_fields[0]"],
        ),
        (
            json!({"name": "x", "fields": ["email", "owner_id", "status", "source", "nickname"],
                   "owner_ids": [admin.user_id]}),
            vec!["fields[1]", "fields[2]", "fields[3]", "fields[4]"],
        ),
        (
            json!({"name": "x", "fields": ["email", "email"], "owner_ids": [admin.user_id]}),
            vec!["fields[1]"],
        ),
        (
            json!({"name": "x", "fields": [], "owner_ids": [admin.user_id]}),
            vec!["fields"],
        ),
        (
            json!({"name": "x", "fields": ["phone", "country"], "owner_ids": [admin.user_id]}),
            vec!["fields"],
        ),
        (
            json!({"name": "x", "fields": ["email"], "owner_ids": [rep.user_id, gone.user_id, stranger.user_id,
                                                                    rep.user_id]}),
            vec!["owner_ids[1]", "owner_ids[2]", "owner_ids[3]"],
        ),
        (
            json!({"name": "x", "fields": ["email"], "owner_ids": []}),
            vec!["owner_ids"],
        ),
        (
            json!({"name": "x", "fields": ["email"], "owner_ids": [admin.user_id],
                   "redirect_url": "javascript:alert(1)"}),
            vec!["redirect_url"],
        ),
        (
            json!({"name": "x", "fields": ["email"], "owner_ids": [admin.user_id],
                   "redirect_url": format!("https://acme.example/{}", "a".repeat(2000))}),
            vec!["redirect_url"],
        ),
        (
            json!({"name": " ", "fields": ["email"], "owner_ids": [admin.user_id], "source": " "}),
            vec!["name", "source"],
        ),
        (
            json!({"name": "x", "fields": ["email"], "owner_ids": [admin.user_id], "colour": "red"}),
            vec!["colour"],
        ),
    ];
    for (body, expected) in cases {
        let response = app
            .post("/api/v1/forms", &admin.access_token, &body)
            .send()
            .await
            .unwrap();
        let problem = expect_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert_eq!(invalid_fields(&problem), expected, "{body}");
    }
    assert_eq!(app.scalar("select count(*) from forms").await, 0);

    // A change must keep the required fields among the fields.
    let form = contact_form(&app, &admin, json!({})).await;
    let response = app
        .patch(
            &form_path(&form),
            &admin.access_token,
            &json!({"fields": ["first_name"]}),
        )
        .send()
        .await
        .unwrap();
    let problem = expect_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(invalid_fields(&problem), ["required_fields"]);
    let response = app
        .patch(
            &form_path(&form),
            &admin.access_token,
            &json!({"owner_ids": [gone.user_id], "redirect_url": "/thanks"}),
        )
        .send()
        .await
        .unwrap();
    let problem = expect_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(invalid_fields(&problem), ["redirect_url", "owner_ids[0]"]);
    let response = app.get(&form_path(&form), &admin.access_token).send().await.unwrap();
    assert_eq!(expect_status(response, StatusCode::OK).await, form);
}

async fn json_and_form_encoded_submissions_become_leads_assigned_in_turn(app: TestApp) {
    let admin = app.signup("forms-submit").await;
    let first = app.add_user(&admin, "rep").await;
    let second = app.add_user(&admin, "rep").await;
    let form = contact_form(
        &app,
        &admin,
        json!({"owner_ids": [first.user_id, second.user_id], "source": "website",
               "fields": ["first_name", "last_name", "email", "company_name", "employee_count", "estimated_value",
                          "value_period", "country"]}),
    )
    .await;

    let response = submit_json(
        &app,
        &form,
        json!({"first_name": "Ada", "last_name": "Lovelace", "email": "Ada@Acme.example", "employee_count": 250,
               "estimated_value": 1200.5, "value_period": "month", "country": "gb", "website_url": ""}),
    )
    .await;
    assert_eq!(
        expect_status(response, StatusCode::CREATED).await,
        json!({"status": "accepted"})
    );
    let response = submit_form(
        &app,
        &form,
        &[
            ("first_name", "Grace"),
            ("email", "grace@navy.example"),
            ("employee_count", "12"),
            ("country", ""),
        ],
    )
    .await;
    assert_eq!(
        expect_status(response, StatusCode::CREATED).await,
        json!({"status": "accepted"})
    );
    // The same person again: public submissions have no duplicate guard.
    let response = submit_json(&app, &form, json!({"email": "ada@acme.example", "company_name": null})).await;
    expect_status(response, StatusCode::CREATED).await;

    assert_eq!(app.scalar("select count(*) from leads").await, 3);
    let form_id = app.sql_uuid(uuid(&form["id"]));
    let owned_by = |user: &Session| {
        format!(
            "select count(*) from leads where owner_id = {} and form_id = {form_id} and source = 'website' \
             and status = 'new' and score = 0",
            app.sql_uuid(user.user_id)
        )
    };
    assert_eq!(app.scalar(&owned_by(&first)).await, 2, "the first and the third");
    assert_eq!(app.scalar(&owned_by(&second)).await, 1, "the second");

    // What was stored, read back through the API as the owner.
    let response = app.get("/api/v1/forms", &admin.access_token).send().await.unwrap();
    assert_eq!(
        expect_status(response, StatusCode::OK).await["data"][0]["assigned_count"],
        3
    );
    assert_eq!(
        app.scalar(
            "select count(*) from leads where email = 'ada@acme.example' and employee_count = 250 \
                    and estimated_value_minor = 120050 and value_period = 'month' and country = 'GB'"
        )
        .await,
        1
    );
    assert_eq!(
        app.scalar("select count(*) from leads where first_name = 'Grace' and employee_count = 12 and country is null")
            .await,
        1
    );
    assert_eq!(
        app.scalar("select count(*) from notifications where kind = 'assigned'")
            .await,
        3
    );
    assert_eq!(
        app.scalar(&format!(
            "select count(*) from notifications where kind = 'assigned' and user_id = {}",
            app.sql_uuid(first.user_id)
        ))
        .await,
        2
    );
}

async fn an_owner_deactivated_since_is_skipped(app: TestApp) {
    let admin = app.signup("forms-gone").await;
    let rep = app.add_user(&admin, "rep").await;
    let form = contact_form(&app, &admin, json!({"owner_ids": [rep.user_id]})).await;
    let response = app
        .delete(&format!("/api/v1/users/{}", rep.user_id), &admin.access_token)
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success());
    let response = submit_json(&app, &form, json!({"email": "late@acme.example"})).await;
    expect_status(response, StatusCode::CREATED).await;
    // Nobody on the form is active: the organization's first admin gets it.
    let response = app.get("/api/v1/forms", &admin.access_token).send().await.unwrap();
    assert_eq!(
        expect_status(response, StatusCode::OK).await["data"][0]["assigned_count"],
        1
    );
    assert_eq!(app.scalar("select count(*) from leads").await, 1);
    assert_eq!(
        app.scalar("select count(*) from notifications where kind = 'assigned'")
            .await,
        1
    );
    let sql = format!(
        "select count(*) from leads where owner_id = {}",
        app.sql_uuid(admin.user_id)
    );
    assert_eq!(app.scalar(&sql).await, 1);
}

async fn the_honeypot_answers_success_and_stores_nothing(app: TestApp) {
    let admin = app.signup("forms-honeypot").await;
    let form = contact_form(&app, &admin, json!({})).await;
    let response = submit_json(
        &app,
        &form,
        json!({"email": "bot@spam.example", "website_url": "http://spam.example"}),
    )
    .await;
    assert_eq!(
        expect_status(response, StatusCode::CREATED).await,
        json!({"status": "accepted"})
    );
    // Even with fields the form does not take: a bot learns nothing.
    let response = submit_form(&app, &form, &[("website_url", "x"), ("anything", "else")]).await;
    expect_status(response, StatusCode::CREATED).await;
    assert_eq!(app.scalar("select count(*) from leads").await, 0);
    assert_eq!(app.scalar("select count(*) from notifications").await, 0);
    let response = app.get(&form_path(&form), &admin.access_token).send().await.unwrap();
    assert_eq!(expect_status(response, StatusCode::OK).await["assigned_count"], 0);
}

async fn a_browser_post_with_a_field_given_twice_is_redirected_with_the_validation_error(app: TestApp) {
    let admin = app.signup("forms-twice").await;
    let form = contact_form(&app, &admin, json!({"redirect_url": "https://acme.example/thanks"})).await;

    let response = submit_form(&app, &form, &[("email", "a@acme.example"), ("email", "b@acme.example")]).await;

    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        response.headers()["location"],
        "https://acme.example/thanks?error=validation"
    );
    assert_eq!(app.scalar("select count(*) from leads").await, 0);
    // A script posting JSON is told which field, as a 422.
    let response = no_redirects()
        .post(app.url(&submit_path(&form)))
        .json(&json!({"email": "a@acme.example", "first_name": "Ada\u{0}"}))
        .send()
        .await
        .unwrap();
    let problem = expect_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(invalid_fields(&problem), ["first_name"]);
}

async fn invalid_submissions_are_named(app: TestApp) {
    let admin = app.signup("forms-bad").await;
    let form = contact_form(&app, &admin, json!({})).await;

    let response = submit_json(
        &app,
        &form,
        json!({"first_name": "Ada", "phone": "123", "owner_id": admin.user_id, "employee_count": "many"}),
    )
    .await;
    let problem = expect_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    let mut fields = invalid_fields(&problem);
    fields.sort();
    assert_eq!(fields, ["email", "employee_count", "owner_id", "phone"]);
    let codes: Vec<_> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["code"].clone())
        .collect();
    assert!(codes.contains(&json!("unknown_field")) && codes.contains(&json!("required")));

    // Blank is missing; an invalid email is named as the API would.
    let response = submit_form(&app, &form, &[("email", "  "), ("first_name", "Ada")]).await;
    let problem = expect_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(invalid_fields(&problem), ["email"]);
    let response = submit_json(&app, &form, json!({"email": "not-an-email"})).await;
    let problem = expect_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(invalid_fields(&problem), ["email"]);
    let response = submit_json(&app, &form, json!({"email": "a@b.example", "first_name": true})).await;
    let problem = expect_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(invalid_fields(&problem), ["first_name"]);
    let response = submit_json(&app, &form, json!(["email"])).await;
    let problem = expect_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(invalid_fields(&problem), ["body"]);

    let path = submit_path(&form);
    let response = app
        .request(Method::POST, &path)
        .header(header::CONTENT_TYPE, "text/plain")
        .body("email=a@b.example")
        .send()
        .await
        .unwrap();
    expect_problem(response, StatusCode::UNSUPPORTED_MEDIA_TYPE).await;
    let response = app
        .request(Method::POST, &path)
        .header(header::CONTENT_TYPE, "application/json")
        .body("{\"email\": ")
        .send()
        .await
        .unwrap();
    expect_problem(response, StatusCode::BAD_REQUEST).await;
    let response = app
        .request(Method::POST, &path)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(format!("email=a%40b.example&first_name={}", "a".repeat(70 * 1024)))
        .send()
        .await
        .unwrap();
    expect_problem(response, StatusCode::PAYLOAD_TOO_LARGE).await;
    let response = app
        .request(Method::POST, &path)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body("email=a%40b.example&email=c%40d.example")
        .send()
        .await
        .unwrap();
    let problem = expect_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(invalid_fields(&problem), ["email"]);

    assert_eq!(app.scalar("select count(*) from leads").await, 0);
    assert_eq!(app.scalar("select count(*) from notifications").await, 0);
}

async fn a_browser_post_is_redirected_on_success_and_on_errors(app: TestApp) {
    let admin = app.signup("forms-redirect").await;
    let thanks = "https://www.acme.example/thanks?from=site#top";
    let form = contact_form(&app, &admin, json!({"redirect_url": thanks})).await;

    let response = submit_form(&app, &form, &[("email", "ada@acme.example"), ("website_url", "")]).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(response.headers()[header::LOCATION], thanks);
    assert_eq!(app.scalar("select count(*) from leads").await, 1);

    let response = submit_form(&app, &form, &[("email", "")]).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        response.headers()[header::LOCATION],
        "https://www.acme.example/thanks?from=site&error=validation#top"
    );
    let response = submit_form(&app, &form, &[("email", "bot@spam.example"), ("website_url", "x")]).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(response.headers()[header::LOCATION], thanks);
    assert_eq!(app.scalar("select count(*) from leads").await, 1);

    // A script posting JSON gets the API's answers, redirect or not.
    let response = submit_json(&app, &form, json!({"email": ""})).await;
    expect_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    let response = submit_json(&app, &form, json!({"email": "grace@navy.example"})).await;
    expect_status(response, StatusCode::CREATED).await;
    assert_eq!(app.scalar("select count(*) from leads").await, 2);
}

async fn unknown_inactive_trashed_and_rotated_forms_are_not_found(app: TestApp) {
    let admin = app.signup("forms-404").await;
    let body = json!({"email": "ada@acme.example"});
    let response = app
        .request(Method::POST, "/public/v1/forms/no-such-token/submissions")
        .json(&body)
        .send()
        .await
        .unwrap();
    expect_problem(response, StatusCode::NOT_FOUND).await;

    let inactive = contact_form(&app, &admin, json!({"active": false})).await;
    expect_problem(submit_json(&app, &inactive, body.clone()).await, StatusCode::NOT_FOUND).await;
    let response = app
        .patch(&form_path(&inactive), &admin.access_token, &json!({"active": true}))
        .send()
        .await
        .unwrap();
    expect_status(response, StatusCode::OK).await;
    expect_status(submit_json(&app, &inactive, body.clone()).await, StatusCode::CREATED).await;

    let trashed = contact_form(&app, &admin, json!({})).await;
    let response = app
        .delete(&form_path(&trashed), &admin.access_token)
        .send()
        .await
        .unwrap();
    expect_status(response, StatusCode::NO_CONTENT).await;
    expect_problem(submit_json(&app, &trashed, body.clone()).await, StatusCode::NOT_FOUND).await;

    let rotated = contact_form(&app, &admin, json!({})).await;
    let response = app
        .request(Method::POST, &format!("{}/rotate-token", form_path(&rotated)))
        .bearer_auth(&admin.access_token)
        .send()
        .await
        .unwrap();
    let renewed = expect_status(response, StatusCode::OK).await;
    expect_problem(submit_json(&app, &rotated, body.clone()).await, StatusCode::NOT_FOUND).await;
    expect_status(submit_json(&app, &renewed, body.clone()).await, StatusCode::CREATED).await;
    assert_eq!(app.scalar("select count(*) from leads").await, 2);
}

async fn submissions_are_rate_limited_per_client_and_per_form(app: TestApp) {
    let limited = app.sibling(|c| c.form_rate_per_client = 3).await;
    let admin = limited.signup("forms-rate").await;
    let form = contact_form(&limited, &admin, json!({})).await;
    let other = contact_form(&limited, &admin, json!({})).await;
    for i in 0..3 {
        let response = submit_json(&limited, &form, json!({"email": format!("p{i}@acme.example")})).await;
        expect_status(response, StatusCode::CREATED).await;
    }
    let response = submit_json(&limited, &form, json!({"email": "p4@acme.example"})).await;
    let retry_after: u64 = response.headers()[header::RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    expect_problem(response, StatusCode::TOO_MANY_REQUESTS).await;
    // Bots are counted too, and the limit is per form.
    let response = submit_form(&limited, &form, &[("website_url", "x")]).await;
    expect_problem(response, StatusCode::TOO_MANY_REQUESTS).await;
    let response = submit_json(&limited, &other, json!({"email": "p5@acme.example"})).await;
    expect_status(response, StatusCode::CREATED).await;
    assert_eq!(limited.scalar("select count(*) from leads").await, 4);

    let busy = app
        .sibling(|c| {
            c.form_rate_per_form = 2;
            c.form_rate_per_client = 100;
        })
        .await;
    let admin = busy.signup("forms-busy").await;
    let form = contact_form(&busy, &admin, json!({})).await;
    for _ in 0..2 {
        expect_status(
            submit_json(&busy, &form, json!({"email": "a@acme.example"})).await,
            StatusCode::CREATED,
        )
        .await;
    }
    let response = submit_json(&busy, &form, json!({"email": "a@acme.example"})).await;
    expect_problem(response, StatusCode::TOO_MANY_REQUESTS).await;
    assert_eq!(busy.scalar("select count(*) from leads").await, 2);
}

async fn preflight(app: &TestApp, path: &str, origin: &str) -> Response {
    app.request(Method::OPTIONS, path)
        .header(header::ORIGIN, origin)
        .header(header::ACCESS_CONTROL_REQUEST_METHOD, "POST")
        .header(header::ACCESS_CONTROL_REQUEST_HEADERS, "content-type")
        .send()
        .await
        .unwrap()
}

fn allowed_origin(response: &Response) -> Option<&str> {
    response
        .headers()
        .get(header::ACCESS_CONTROL_ALLOW_ORIGIN)
        .and_then(|v| v.to_str().ok())
}

async fn any_origin_may_post_to_public_forms_but_not_to_the_api(app: TestApp) {
    let admin = app.signup("forms-cors").await;
    let form = contact_form(&app, &admin, json!({})).await;
    let origin = "https://www.anywhere.example";

    let response = preflight(&app, &submit_path(&form), origin).await;
    assert!(response.status().is_success(), "{}", response.status());
    assert_eq!(allowed_origin(&response), Some(origin));
    let response = app
        .request(Method::POST, &submit_path(&form))
        .header(header::ORIGIN, origin)
        .json(&json!({"email": "ada@acme.example"}))
        .send()
        .await
        .unwrap();
    assert_eq!(allowed_origin(&response), Some(origin));
    expect_status(response, StatusCode::CREATED).await;

    let response = preflight(&app, "/api/v1/forms", origin).await;
    assert_eq!(allowed_origin(&response), None);

    // With origins configured for the API, the public endpoint stays open to all.
    let configured = app
        .sibling(|c| c.cors_origins = vec!["https://app.acme.example".to_owned()])
        .await;
    let admin = configured.signup("forms-cors-configured").await;
    let form = contact_form(&configured, &admin, json!({})).await;
    let response = preflight(&configured, &submit_path(&form), origin).await;
    assert!(response.status().is_success(), "{}", response.status());
    assert_eq!(allowed_origin(&response), Some(origin));
    let response = preflight(&configured, "/api/v1/forms", origin).await;
    assert_eq!(allowed_origin(&response), None);
    let response = preflight(&configured, "/api/v1/forms", "https://app.acme.example").await;
    assert_eq!(allowed_origin(&response), Some("https://app.acme.example"));
}
