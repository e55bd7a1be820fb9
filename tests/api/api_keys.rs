use pipewise_tests::{expect_problem, expect_status, invalid_fields, on_both_backends, TestApp};
use reqwest::{Method, StatusCode};
use serde_json::json;
use sha2::{Digest, Sha256};

on_both_backends!(
    a_new_key_is_shown_once_and_stored_only_as_a_hash,
    a_key_may_do_what_its_scopes_allow_and_nothing_more,
    a_revoked_key_is_refused,
    using_a_key_records_when_it_was_last_used,
    only_admins_manage_keys,
    key_creation_validates_name_and_scopes,
);

async fn a_new_key_is_shown_once_and_stored_only_as_a_hash(app: TestApp) {
    let admin = app.signup("keys").await;
    let response = app
        .post(
            "/api/v1/api-keys",
            &admin.access_token,
            &json!({"name": "CRM sync", "scopes": ["read", "write"]}),
        )
        .send()
        .await
        .unwrap();
    let created = expect_status(response, StatusCode::CREATED).await;
    let key = created["key"].as_str().unwrap();
    assert!(key.starts_with("pwk_") && key.len() >= 4 + 32);
    assert!(key.starts_with(created["prefix"].as_str().unwrap()));

    let listed = expect_status(
        app.get("/api/v1/api-keys", &admin.access_token).send().await.unwrap(),
        StatusCode::OK,
    )
    .await;
    let entry = &listed["data"][0];
    assert_eq!(entry["id"], created["id"]);
    assert_eq!(entry["scopes"], json!(["read", "write"]));
    assert!(entry.get("key").is_none(), "listings never show the key: {entry}");
    assert!(!listed.to_string().contains(key));

    let hash = hex::encode(Sha256::digest(key.as_bytes()));
    assert_eq!(
        app.scalar(&format!("select count(*) from api_keys where key_hash = '{hash}'"))
            .await,
        1
    );
    assert_eq!(
        app.scalar(&format!("select count(*) from api_keys where key_hash = '{key}'"))
            .await,
        0
    );
    assert_eq!(
        app.scalar("select count(*) from audit_log where action = 'api_key.created'")
            .await,
        1
    );
}

async fn a_key_may_do_what_its_scopes_allow_and_nothing_more(app: TestApp) {
    let admin = app.signup("scopes").await;
    let (_, read_key) = app.api_key(&admin, &["read"]).await;
    let (_, write_key) = app.api_key(&admin, &["write"]).await;
    let with_key = |method: Method, path: &str, key: &str| app.request(method, path).header("x-api-key", key);

    expect_status(
        with_key(Method::GET, "/api/v1/users", &read_key).send().await.unwrap(),
        StatusCode::OK,
    )
    .await;
    expect_status(
        with_key(Method::GET, "/api/v1/organization", &read_key)
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    // Lacking the scope.
    expect_problem(
        with_key(Method::GET, "/api/v1/users", &write_key).send().await.unwrap(),
        StatusCode::FORBIDDEN,
    )
    .await;
    // Admin-only and user-only calls are never open to keys, whatever their scopes.
    let all = app
        .api_key(&admin, &["read", "write", "reports", "import", "webhooks"])
        .await
        .1;
    let response = with_key(Method::POST, "/api/v1/users", &all)
        .json(&json!({"email": "x@example.com", "name": "X", "role": "rep", "password": "long enough pw"}))
        .send()
        .await
        .unwrap();
    expect_problem(response, StatusCode::FORBIDDEN).await;
    expect_problem(
        with_key(Method::GET, "/api/v1/api-keys", &all).send().await.unwrap(),
        StatusCode::FORBIDDEN,
    )
    .await;
    expect_problem(
        with_key(Method::GET, "/api/v1/me", &all).send().await.unwrap(),
        StatusCode::FORBIDDEN,
    )
    .await;
    let response = with_key(Method::PATCH, "/api/v1/organization", &all)
        .json(&json!({"name": "Hijacked"}))
        .send()
        .await
        .unwrap();
    expect_problem(response, StatusCode::FORBIDDEN).await;
    assert_eq!(app.scalar("select count(*) from users").await, 1);
}

async fn a_revoked_key_is_refused(app: TestApp) {
    let admin = app.signup("revoke").await;
    let (id, key) = app.api_key(&admin, &["read"]).await;
    let call = || {
        app.request(Method::GET, "/api/v1/users")
            .header("x-api-key", &key)
            .send()
    };
    expect_status(call().await.unwrap(), StatusCode::OK).await;

    let response = app
        .delete(&format!("/api/v1/api-keys/{id}"), &admin.access_token)
        .send()
        .await
        .unwrap();
    expect_status(response, StatusCode::NO_CONTENT).await;
    expect_problem(call().await.unwrap(), StatusCode::UNAUTHORIZED).await;

    let shown = expect_status(
        app.get(&format!("/api/v1/api-keys/{id}"), &admin.access_token)
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert!(shown["revoked_at"].is_string());
    // Revoking again is harmless.
    let response = app
        .delete(&format!("/api/v1/api-keys/{id}"), &admin.access_token)
        .send()
        .await
        .unwrap();
    expect_status(response, StatusCode::NO_CONTENT).await;
}

async fn using_a_key_records_when_it_was_last_used(app: TestApp) {
    let admin = app.signup("used").await;
    let (id, key) = app.api_key(&admin, &["read"]).await;
    let before = expect_status(
        app.get(&format!("/api/v1/api-keys/{id}"), &admin.access_token)
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert!(before["last_used_at"].is_null());
    app.request(Method::GET, "/api/v1/organization")
        .header("x-api-key", &key)
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap();
    let after = expect_status(
        app.get(&format!("/api/v1/api-keys/{id}"), &admin.access_token)
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert!(after["last_used_at"].is_string());
}

async fn only_admins_manage_keys(app: TestApp) {
    let admin = app.signup("admins").await;
    for role in ["manager", "rep"] {
        let user = app.add_user(&admin, role).await;
        let response = app
            .post(
                "/api/v1/api-keys",
                &user.access_token,
                &json!({"name": "mine", "scopes": ["read"]}),
            )
            .send()
            .await
            .unwrap();
        expect_problem(response, StatusCode::FORBIDDEN).await;
        expect_problem(
            app.get("/api/v1/api-keys", &user.access_token).send().await.unwrap(),
            StatusCode::FORBIDDEN,
        )
        .await;
    }
    assert_eq!(app.scalar("select count(*) from api_keys").await, 0);
}

async fn key_creation_validates_name_and_scopes(app: TestApp) {
    let admin = app.signup("validate").await;
    for (body, field) in [
        (json!({"name": "", "scopes": ["read"]}), "name"),
        (json!({"name": "x", "scopes": []}), "scopes"),
        (json!({"name": "x", "scopes": ["admin"]}), "scopes[0]"),
        (json!({"name": "x"}), "scopes"),
    ] {
        let response = app
            .post("/api/v1/api-keys", &admin.access_token, &body)
            .send()
            .await
            .unwrap();
        let problem = expect_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert_eq!(invalid_fields(&problem), [field], "{body}");
    }
    assert_eq!(app.scalar("select count(*) from api_keys").await, 0);
}
