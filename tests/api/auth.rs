use pipewise_tests::{expect_problem, expect_status, invalid_fields, on_both_backends, TestApp, PASSWORD};
use reqwest::{Method, StatusCode};
use serde_json::json;

on_both_backends!(
    signup_creates_an_organization_with_its_first_admin,
    signup_names_every_invalid_field_and_stores_nothing,
    signup_with_a_registered_email_is_a_conflict,
    signup_can_be_switched_off,
    login_answers_the_same_401_for_unknown_email_and_wrong_password,
    repeated_login_failures_for_one_account_are_refused_with_429,
    parallel_wrong_passwords_are_throttled_like_sequential_ones,
    signups_from_one_address_are_limited_per_hour,
    password_hashing_beyond_its_slots_answers_503_with_retry_after,
    refresh_rotates_and_reusing_a_spent_token_ends_the_login,
    logout_revokes_the_refresh_token,
    logout_everywhere_invalidates_earlier_access_tokens,
    a_password_change_needs_the_current_password_and_ends_sessions,
    a_deactivated_user_is_locked_out_at_once,
);

async fn signup_creates_an_organization_with_its_first_admin(app: TestApp) {
    let admin = app.signup("acme").await;

    let me = expect_status(
        app.get("/api/v1/me", &admin.access_token).send().await.unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(me["role"], "admin");
    assert_eq!(me["email"], admin.email);
    assert!(me.get("password_hash").is_none() && me.get("password").is_none());
    let org = expect_status(
        app.get("/api/v1/organization", &admin.access_token)
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(org["name"], "acme Inc");
    assert_eq!(org["base_currency"], "USD");
    assert_eq!(org["timezone"], "UTC");
    assert_eq!(app.scalar("select count(*) from organizations").await, 1);
    assert_eq!(
        app.scalar("select count(*) from users where password_hash like '$argon2id$%'")
            .await,
        1
    );
}

async fn signup_names_every_invalid_field_and_stores_nothing(app: TestApp) {
    let response = app
        .request(Method::POST, "/api/v1/auth/signup")
        .json(&json!({
            "organization_name": "  ",
            "name": "Ada",
            "email": "not-an-email",
            "password": "short",
            "timezone": "Mars/Olympus",
        }))
        .send()
        .await
        .unwrap();
    let problem = expect_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    let mut fields = invalid_fields(&problem);
    fields.sort();
    assert_eq!(fields, ["email", "organization_name", "password", "timezone"]);
    assert_eq!(app.scalar("select count(*) from organizations").await, 0);
    assert_eq!(app.scalar("select count(*) from users").await, 0);
}

async fn signup_with_a_registered_email_is_a_conflict(app: TestApp) {
    let first = app.signup("first").await;
    let response = app
        .request(Method::POST, "/api/v1/auth/signup")
        .json(&json!({
            "organization_name": "Second",
            "name": "Copycat",
            "email": first.email.to_uppercase(),
            "password": PASSWORD,
        }))
        .send()
        .await
        .unwrap();
    expect_problem(response, StatusCode::CONFLICT).await;
    assert_eq!(app.scalar("select count(*) from organizations").await, 1);
}

async fn signup_can_be_switched_off(app: TestApp) {
    let closed = app.sibling(|config| config.allow_signup = false).await;
    let response = closed
        .request(Method::POST, "/api/v1/auth/signup")
        .json(&json!({"organization_name": "X", "name": "Y", "email": "y@example.com", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    expect_problem(response, StatusCode::FORBIDDEN).await;
    assert_eq!(closed.scalar("select count(*) from users").await, 0);
}

async fn login_answers_the_same_401_for_unknown_email_and_wrong_password(app: TestApp) {
    let admin = app.signup("login").await;

    let good = expect_status(app.login(&admin.email, PASSWORD).await, StatusCode::OK).await;
    assert_eq!(good["token_type"], "Bearer");
    assert_eq!(good["expires_in"], 900);
    app.get("/api/v1/me", good["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap();

    let wrong = app.login(&admin.email, "wrong password!").await;
    assert_eq!(wrong.headers()["www-authenticate"], "Bearer");
    let wrong = expect_problem(wrong, StatusCode::UNAUTHORIZED).await;
    let unknown = expect_problem(
        app.login("nobody@example.com", PASSWORD).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    assert_eq!(wrong["detail"], unknown["detail"]);
}

async fn repeated_login_failures_for_one_account_are_refused_with_429(app: TestApp) {
    let admin = app.signup("throttle").await;
    for _ in 0..5 {
        expect_problem(
            app.login(&admin.email, "wrong password!").await,
            StatusCode::UNAUTHORIZED,
        )
        .await;
    }
    // Even the right password is refused until the window ends.
    let refused = app.login(&admin.email, PASSWORD).await;
    let retry_after: u64 = refused.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!(retry_after > 0 && retry_after <= 900);
    expect_problem(refused, StatusCode::TOO_MANY_REQUESTS).await;
}

async fn parallel_wrong_passwords_are_throttled_like_sequential_ones(app: TestApp) {
    let admin = app.signup("parallel-guess").await;

    let attempts = (0..20).map(|_| app.login(&admin.email, "wrong password!"));
    let statuses: Vec<StatusCode> = futures_util::future::join_all(attempts)
        .await
        .into_iter()
        .map(|r| r.status())
        .collect();

    // At most the limit is ever checked; every other attempt is refused unchecked.
    let checked = statuses.iter().filter(|s| **s == StatusCode::UNAUTHORIZED).count();
    let refused = statuses.iter().filter(|s| **s == StatusCode::TOO_MANY_REQUESTS).count();
    assert_eq!((checked, refused), (5, 15), "{statuses:?}");
    expect_problem(app.login(&admin.email, PASSWORD).await, StatusCode::TOO_MANY_REQUESTS).await;
}

async fn signups_from_one_address_are_limited_per_hour(app: TestApp) {
    let app = app.sibling(|config| config.signup_rate_per_client = 3).await;
    for label in ["one", "two", "three"] {
        app.signup(label).await;
    }

    let refused = app
        .request(Method::POST, "/api/v1/auth/signup")
        .json(&json!({"organization_name": "Four", "name": "Four", "email": "four@example.com", "password": PASSWORD}))
        .send()
        .await
        .unwrap();

    let retry_after: u64 = refused.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!(retry_after > 0 && retry_after <= 3600);
    expect_problem(refused, StatusCode::TOO_MANY_REQUESTS).await;
    expect_problem(app.login("four@example.com", PASSWORD).await, StatusCode::UNAUTHORIZED).await;
}

async fn password_hashing_beyond_its_slots_answers_503_with_retry_after(app: TestApp) {
    // One slot and no patience: a burst must be turned away, not queued without bound.
    let app = app
        .sibling(|config| {
            config.hash_slots = Some(1);
            config.hash_wait_secs = 0;
        })
        .await;

    let signups = (0..12).map(|i| {
        app.request(Method::POST, "/api/v1/auth/signup")
            .json(&json!({
                "organization_name": format!("Burst {i}"),
                "name": "Burst",
                "email": format!("burst-{i}@example.com"),
                "password": PASSWORD,
            }))
            .send()
    });
    let responses = futures_util::future::join_all(signups).await;

    let mut busy = 0;
    for response in responses {
        let response = response.unwrap();
        match response.status() {
            StatusCode::CREATED => {}
            StatusCode::SERVICE_UNAVAILABLE => {
                busy += 1;
                assert_eq!(response.headers()["retry-after"], "1");
                expect_problem(response, StatusCode::SERVICE_UNAVAILABLE).await;
            }
            other => panic!("unexpected status {other}"),
        }
    }
    assert!(busy > 0, "twelve parallel hashes fit in one slot without waiting");
}

async fn refresh_rotates_and_reusing_a_spent_token_ends_the_login(app: TestApp) {
    let admin = app.signup("refresh").await;
    let refresh = |token: String| {
        app.request(Method::POST, "/api/v1/auth/refresh")
            .json(&json!({"refresh_token": token}))
            .send()
    };

    let second = expect_status(refresh(admin.refresh_token.clone()).await.unwrap(), StatusCode::OK).await;
    let second_token = second["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(second_token, admin.refresh_token);
    app.get("/api/v1/me", second["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap();

    // Replaying the spent token revokes the family: the successor dies too.
    expect_problem(
        refresh(admin.refresh_token.clone()).await.unwrap(),
        StatusCode::UNAUTHORIZED,
    )
    .await;
    expect_problem(refresh(second_token).await.unwrap(), StatusCode::UNAUTHORIZED).await;
    expect_problem(
        refresh("pwr_not-a-token".to_owned()).await.unwrap(),
        StatusCode::UNAUTHORIZED,
    )
    .await;
}

async fn logout_revokes_the_refresh_token(app: TestApp) {
    let admin = app.signup("logout").await;
    let body = json!({"refresh_token": admin.refresh_token});
    let response = app
        .request(Method::POST, "/api/v1/auth/logout")
        .json(&body)
        .send()
        .await
        .unwrap();
    expect_status(response, StatusCode::NO_CONTENT).await;
    let response = app
        .request(Method::POST, "/api/v1/auth/refresh")
        .json(&body)
        .send()
        .await
        .unwrap();
    expect_problem(response, StatusCode::UNAUTHORIZED).await;
}

async fn logout_everywhere_invalidates_earlier_access_tokens(app: TestApp) {
    let admin = app.signup("everywhere").await;
    let other_login = expect_status(app.login(&admin.email, PASSWORD).await, StatusCode::OK).await;

    let response = app
        .request(Method::POST, "/api/v1/auth/logout-all")
        .bearer_auth(&admin.access_token)
        .send()
        .await
        .unwrap();
    expect_status(response, StatusCode::NO_CONTENT).await;

    expect_problem(
        app.get("/api/v1/me", &admin.access_token).send().await.unwrap(),
        StatusCode::UNAUTHORIZED,
    )
    .await;
    let other_access = other_login["access_token"].as_str().unwrap();
    expect_problem(
        app.get("/api/v1/me", other_access).send().await.unwrap(),
        StatusCode::UNAUTHORIZED,
    )
    .await;
    let response = app
        .request(Method::POST, "/api/v1/auth/refresh")
        .json(&json!({"refresh_token": other_login["refresh_token"]}))
        .send()
        .await
        .unwrap();
    expect_problem(response, StatusCode::UNAUTHORIZED).await;
    // A new login works.
    let fresh = expect_status(app.login(&admin.email, PASSWORD).await, StatusCode::OK).await;
    app.get("/api/v1/me", fresh["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap();
}

async fn a_password_change_needs_the_current_password_and_ends_sessions(app: TestApp) {
    let admin = app.signup("password").await;
    let new_password = "an even longer passphrase";

    let response = app
        .patch(
            "/api/v1/me",
            &admin.access_token,
            &json!({"password": new_password, "current_password": "wrong one!!"}),
        )
        .send()
        .await
        .unwrap();
    let problem = expect_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(invalid_fields(&problem), ["current_password"]);
    let response = app
        .patch("/api/v1/me", &admin.access_token, &json!({"password": new_password}))
        .send()
        .await
        .unwrap();
    expect_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;

    let response = app
        .patch(
            "/api/v1/me",
            &admin.access_token,
            &json!({"password": new_password, "current_password": PASSWORD}),
        )
        .send()
        .await
        .unwrap();
    expect_status(response, StatusCode::OK).await;
    expect_problem(
        app.get("/api/v1/me", &admin.access_token).send().await.unwrap(),
        StatusCode::UNAUTHORIZED,
    )
    .await;
    expect_problem(app.login(&admin.email, PASSWORD).await, StatusCode::UNAUTHORIZED).await;
    expect_status(app.login(&admin.email, new_password).await, StatusCode::OK).await;
}

async fn a_deactivated_user_is_locked_out_at_once(app: TestApp) {
    let admin = app.signup("deactivate").await;
    let rep = app.add_user(&admin, "rep").await;
    app.get("/api/v1/me", &rep.access_token)
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap();

    let response = app
        .delete(&format!("/api/v1/users/{}", rep.user_id), &admin.access_token)
        .send()
        .await
        .unwrap();
    expect_status(response, StatusCode::NO_CONTENT).await;

    expect_problem(
        app.get("/api/v1/me", &rep.access_token).send().await.unwrap(),
        StatusCode::UNAUTHORIZED,
    )
    .await;
    expect_problem(app.login(&rep.email, PASSWORD).await, StatusCode::UNAUTHORIZED).await;
    let user = expect_status(
        app.get(&format!("/api/v1/users/{}", rep.user_id), &admin.access_token)
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(user["active"], false);
}
