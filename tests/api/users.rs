use std::collections::HashSet;

use pipewise_tests::{expect_problem, expect_status, on_both_backends, uuid, TestApp, PASSWORD};
use reqwest::StatusCode;
use serde_json::json;

on_both_backends!(
    only_admins_create_users,
    a_duplicate_email_is_a_conflict,
    users_list_page_by_page_without_gaps_or_repeats,
    a_stale_if_match_is_refused_and_changes_nothing,
    the_last_active_admin_cannot_be_demoted_or_deactivated,
);

async fn only_admins_create_users(app: TestApp) {
    let admin = app.signup("roles").await;
    let manager = app.add_user(&admin, "manager").await;
    let rep = app.add_user(&admin, "rep").await;
    let body = json!({"email": "new@example.com", "name": "New", "role": "rep", "password": PASSWORD});
    for session in [&manager, &rep] {
        let response = app
            .post("/api/v1/users", &session.access_token, &body)
            .send()
            .await
            .unwrap();
        expect_problem(response, StatusCode::FORBIDDEN).await;
        let response = app
            .patch(
                &format!("/api/v1/users/{}", admin.user_id),
                &session.access_token,
                &json!({"role": "rep"}),
            )
            .send()
            .await
            .unwrap();
        expect_problem(response, StatusCode::FORBIDDEN).await;
    }
    // Everyone may read the organization's users (to assign owners).
    let list = expect_status(
        app.get("/api/v1/users", &rep.access_token).send().await.unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(list["data"].as_array().unwrap().len(), 3);
    assert_eq!(app.scalar("select count(*) from users").await, 3);
}

async fn a_duplicate_email_is_a_conflict(app: TestApp) {
    let admin = app.signup("dupe").await;
    let rep = app.add_user(&admin, "rep").await;
    let body = json!({"email": rep.email.to_uppercase(), "name": "Again", "role": "rep", "password": PASSWORD});
    let response = app
        .post("/api/v1/users", &admin.access_token, &body)
        .send()
        .await
        .unwrap();
    expect_problem(response, StatusCode::CONFLICT).await;
    assert_eq!(app.scalar("select count(*) from users").await, 2);
}

async fn users_list_page_by_page_without_gaps_or_repeats(app: TestApp) {
    let admin = app.signup("pages").await;
    let mut expected: HashSet<_> = [admin.user_id].into();
    for _ in 0..4 {
        expected.insert(app.add_user(&admin, "rep").await.user_id);
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/users?limit=2&cursor={c}"),
            None => "/api/v1/users?limit=2".to_owned(),
        };
        let page = expect_status(
            app.get(&path, &admin.access_token).send().await.unwrap(),
            StatusCode::OK,
        )
        .await;
        let rows = page["data"].as_array().unwrap();
        assert!(rows.len() <= 2);
        seen.extend(rows.iter().map(|u| uuid(&u["id"])));
        // A user created mid-walk shows up later in the walk, exactly once.
        if seen.len() == 2 {
            expected.insert(app.add_user(&admin, "manager").await.user_id);
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen.len(), expected.len(), "no repeats");
    assert_eq!(seen.into_iter().collect::<HashSet<_>>(), expected);
    let response = app
        .get("/api/v1/users?cursor=garbage", &admin.access_token)
        .send()
        .await
        .unwrap();
    expect_problem(response, StatusCode::BAD_REQUEST).await;
}

async fn a_stale_if_match_is_refused_and_changes_nothing(app: TestApp) {
    let admin = app.signup("etag").await;
    let rep = app.add_user(&admin, "rep").await;
    let path = format!("/api/v1/users/{}", rep.user_id);
    let response = app.get(&path, &admin.access_token).send().await.unwrap();
    let etag = response.headers()["etag"].to_str().unwrap().to_owned();
    assert_eq!(etag, "\"1\"");

    let first = app
        .patch(&path, &admin.access_token, &json!({"name": "First"}))
        .header("if-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(first.headers()["etag"], "\"2\"");
    expect_status(first, StatusCode::OK).await;
    let second = app
        .patch(&path, &admin.access_token, &json!({"name": "Second"}))
        .header("if-match", &etag)
        .send()
        .await
        .unwrap();
    expect_problem(second, StatusCode::PRECONDITION_FAILED).await;
    let current = expect_status(
        app.get(&path, &admin.access_token).send().await.unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(current["name"], "First");
    assert_eq!(current["version"], 2);
    let malformed = app
        .patch(&path, &admin.access_token, &json!({"name": "X"}))
        .header("if-match", "2")
        .send()
        .await
        .unwrap();
    expect_problem(malformed, StatusCode::BAD_REQUEST).await;
}

async fn the_last_active_admin_cannot_be_demoted_or_deactivated(app: TestApp) {
    let admin = app.signup("last").await;
    let path = format!("/api/v1/users/{}", admin.user_id);
    let response = app
        .patch(&path, &admin.access_token, &json!({"role": "manager"}))
        .send()
        .await
        .unwrap();
    expect_problem(response, StatusCode::CONFLICT).await;
    expect_problem(
        app.delete(&path, &admin.access_token).send().await.unwrap(),
        StatusCode::CONFLICT,
    )
    .await;

    let second = app.add_user(&admin, "admin").await;
    let response = app
        .patch(&path, &second.access_token, &json!({"role": "manager"}))
        .send()
        .await
        .unwrap();
    let demoted = expect_status(response, StatusCode::OK).await;
    assert_eq!(demoted["role"], "manager");
    // The demotion applies at once, though the token still says nothing of roles.
    let response = app
        .post(
            "/api/v1/users",
            &admin.access_token,
            &json!({"email": "z@example.com", "name": "Z", "role": "rep", "password": PASSWORD}),
        )
        .send()
        .await
        .unwrap();
    expect_problem(response, StatusCode::FORBIDDEN).await;
}
