//! Writes that change nothing change nothing, and every versioned record
//! (stages included) honours If-Match and answers with its ETag.

use pipewise_tests::{expect_problem, expect_status, on_both_backends, TestApp};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::accounts::create_account;
use crate::deals::{create_deal, deal_path};
use crate::pipelines::{sales_pipeline, stage_id};

on_both_backends!(
    an_empty_patch_leaves_the_version_and_etag_as_they_were,
    a_patch_repeating_the_current_values_changes_nothing,
    a_stage_patch_honours_if_match_and_answers_its_pipelines_etag,
);

async fn patch(app: &TestApp, token: &str, path: &str, body: Value) -> (String, Value) {
    let response = app.patch(path, token, &body).send().await.unwrap();
    let etag = response.headers()["etag"].to_str().unwrap().to_owned();
    (etag, expect_status(response, StatusCode::OK).await)
}

async fn an_empty_patch_leaves_the_version_and_etag_as_they_were(app: TestApp) {
    let admin = app.signup("noop").await;
    let account = create_account(&app, &admin, json!({"name": "Globex"})).await;
    let pipeline = sales_pipeline(&app, &admin).await;
    let deal = create_deal(
        &app,
        &admin,
        json!({"title": "T", "amount": "10.00", "pipeline_id": pipeline["id"]}),
    )
    .await;
    let account_path = format!("/api/v1/accounts/{}", account["id"].as_str().unwrap());
    let me = expect_status(
        app.get("/api/v1/me", &admin.access_token).send().await.unwrap(),
        StatusCode::OK,
    )
    .await;

    for (path, before) in [
        ("/api/v1/me".to_owned(), me["version"].clone()),
        (account_path, account["version"].clone()),
        (deal_path(&deal), deal["version"].clone()),
        ("/api/v1/organization".to_owned(), json!(1)),
    ] {
        let (etag, after) = patch(&app, &admin.access_token, &path, json!({})).await;
        assert_eq!(after["version"], before, "{path}");
        assert_eq!(etag, format!("\"{before}\""), "{path}");
    }
    assert_eq!(app.scalar("select version from organizations").await, 1);
}

async fn a_patch_repeating_the_current_values_changes_nothing(app: TestApp) {
    let admin = app.signup("same").await;
    let account = create_account(&app, &admin, json!({"name": "Initech"})).await;
    let path = format!("/api/v1/accounts/{}", account["id"].as_str().unwrap());

    let (_, same) = patch(&app, &admin.access_token, &path, json!({"name": "Initech"})).await;
    assert_eq!(same["version"], account["version"]);
    assert_eq!(same["updated_at"], account["updated_at"]);

    let (_, renamed) = patch(&app, &admin.access_token, &path, json!({"name": "Initrode"})).await;
    assert_eq!(renamed["version"], account["version"].as_i64().unwrap() + 1);
}

async fn a_stage_patch_honours_if_match_and_answers_its_pipelines_etag(app: TestApp) {
    let admin = app.signup("stage-etag").await;
    let pipeline = sales_pipeline(&app, &admin).await;
    let path = format!("/api/v1/stages/{}", stage_id(&pipeline, 0));
    let version = pipeline["version"].as_i64().unwrap();

    let stale = app
        .patch(&path, &admin.access_token, &json!({"name": "Leads"}))
        .header("if-match", format!("\"{}\"", version + 5))
        .send()
        .await
        .unwrap();
    expect_problem(stale, StatusCode::PRECONDITION_FAILED).await;

    let fresh = app
        .patch(&path, &admin.access_token, &json!({"name": "Leads"}))
        .header("if-match", format!("\"{version}\""))
        .send()
        .await
        .unwrap();
    assert_eq!(
        fresh.headers()["etag"].to_str().unwrap(),
        format!("\"{}\"", version + 1)
    );
    assert_eq!(expect_status(fresh, StatusCode::OK).await["name"], "Leads");
    let again = sales_pipeline(&app, &admin).await;
    assert_eq!(again["stages"][0]["name"], "Leads");
    assert_eq!(again["version"], version + 1);
}
