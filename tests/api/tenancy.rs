//! No request ever reads or changes another organization's records: a
//! foreign id answers exactly like an absent one.

use pipewise_tests::{expect_problem, expect_status, on_both_backends, uuid, TestApp};
use reqwest::StatusCode;
use serde_json::json;

on_both_backends!(
    another_organizations_records_are_not_found,
    another_organizations_records_are_not_listed
);

async fn another_organizations_records_are_not_found(app: TestApp) {
    let a = app.signup("alpha").await;
    let b = app.signup("beta").await;
    let a_rep = app.add_user(&a, "rep").await;
    let (a_key, _) = app.api_key(&a, &["read"]).await;

    let absent = expect_problem(
        app.get(&format!("/api/v1/users/{}", uuid::Uuid::now_v7()), &b.access_token)
            .send()
            .await
            .unwrap(),
        StatusCode::NOT_FOUND,
    )
    .await;
    let user_path = format!("/api/v1/users/{}", a_rep.user_id);
    let foreign = expect_problem(
        app.get(&user_path, &b.access_token).send().await.unwrap(),
        StatusCode::NOT_FOUND,
    )
    .await;
    assert_eq!(absent["detail"], foreign["detail"]);
    expect_problem(
        app.patch(&user_path, &b.access_token, &json!({"name": "Pwned"}))
            .send()
            .await
            .unwrap(),
        StatusCode::NOT_FOUND,
    )
    .await;
    expect_problem(
        app.delete(&user_path, &b.access_token).send().await.unwrap(),
        StatusCode::NOT_FOUND,
    )
    .await;
    let key_path = format!("/api/v1/api-keys/{a_key}");
    expect_problem(
        app.get(&key_path, &b.access_token).send().await.unwrap(),
        StatusCode::NOT_FOUND,
    )
    .await;
    expect_problem(
        app.delete(&key_path, &b.access_token).send().await.unwrap(),
        StatusCode::NOT_FOUND,
    )
    .await;

    let user = expect_status(
        app.get(&user_path, &a.access_token).send().await.unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(user["name"], "A rep");
    assert_eq!(user["active"], true);
    assert_eq!(
        app.scalar("select count(*) from api_keys where revoked_at is null")
            .await,
        1
    );
}

async fn another_organizations_records_are_not_listed(app: TestApp) {
    let a = app.signup("alpha").await;
    let b = app.signup("beta").await;
    app.add_user(&a, "rep").await;
    app.api_key(&a, &["read"]).await;

    let users = expect_status(
        app.get("/api/v1/users", &b.access_token).send().await.unwrap(),
        StatusCode::OK,
    )
    .await;
    let ids: Vec<_> = users["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| uuid(&u["id"]))
        .collect();
    assert_eq!(ids, [b.user_id]);
    let keys = expect_status(
        app.get("/api/v1/api-keys", &b.access_token).send().await.unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(keys["data"], json!([]));
    let org = expect_status(
        app.get("/api/v1/organization", &b.access_token).send().await.unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(uuid(&org["id"]), b.organization_id);
}
