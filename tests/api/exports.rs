//! CSV exports: every matching record, streamed page by page, with the
//! list's filters and visibility, and no cell a spreadsheet runs as a formula.

use chrono::Utc;
use pipewise_api::demo::{self, DemoOptions};
use pipewise_tests::{expect_problem, expect_status, on_both_backends, TestApp};
use reqwest::StatusCode;
use serde_json::json;

use crate::{deals::create_deal, leads::create_lead, pipelines::sales_pipeline};

on_both_backends!(
    a_lead_export_streams_every_matching_lead_as_csv,
    an_export_keeps_filters_visibility_and_formulas_in_check,
    a_deal_export_keeps_the_lists_filters_and_visibility,
);

fn rows(body: &str) -> Vec<csv::StringRecord> {
    csv::Reader::from_reader(body.as_bytes())
        .records()
        .map(|r| r.expect("a CSV row"))
        .collect()
}

/// More leads than one page of the export: every one comes out once, in creation order.
async fn a_lead_export_streams_every_matching_lead_as_csv(app: TestApp) {
    let options = DemoOptions {
        deals: 700,
        years: 1,
        seed: 3,
        progress: false,
    };
    let summary = demo::run(&app.db.url(), &options, Utc::now())
        .await
        .expect("the demo loads");
    let login = expect_status(
        app.login(&summary.admin().email, &summary.password).await,
        StatusCode::OK,
    )
    .await;
    let token = login["access_token"].as_str().unwrap();
    let leads = app.scalar("select count(*) from leads where deleted_at is null").await;
    assert!(leads > 1000, "{leads} leads: more than a page");

    let response = app.get("/api/v1/exports/leads", token).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "text/csv; charset=utf-8");
    let disposition = response.headers()["content-disposition"].to_str().unwrap().to_owned();
    assert!(
        disposition.starts_with("attachment; filename=\"pipewise-leads-"),
        "{disposition}"
    );
    let body = response.text().await.unwrap();
    assert!(
        body.starts_with("id,first_name,last_name,email,phone,company_name,"),
        "{}",
        &body[..80]
    );
    let rows = rows(&body);
    assert_eq!(rows.len() as i64, leads);
    let mut ids: Vec<&str> = rows.iter().map(|r| &r[0]).collect();
    let created: Vec<chrono::DateTime<Utc>> = rows.iter().map(|r| r[24].parse().expect("an instant")).collect();
    assert!(created.windows(2).all(|w| w[0] <= w[1]), "in creation order");
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len() as i64, leads, "each lead once");
    // The prediction and the potential as the lead views show them.
    assert!(rows.iter().any(|r| !r[18].is_empty() && !r[19].is_empty()));

    let converted = app
        .scalar("select count(*) from leads where deleted_at is null and status = 'converted'")
        .await;
    let response = app
        .get("/api/v1/exports/leads?status=converted", token)
        .send()
        .await
        .unwrap();
    let body = response.text().await.unwrap();
    assert_eq!(rows_len(&body), converted);
}

fn rows_len(body: &str) -> i64 {
    rows(body).len() as i64
}

async fn an_export_keeps_filters_visibility_and_formulas_in_check(app: TestApp) {
    let admin = app.signup("export").await;
    let rep = app.add_user(&admin, "rep").await;
    create_lead(
        &app,
        &admin,
        json!({"first_name": "=HYPERLINK(\"http://x\")", "last_name": "Smith", "source": "web_form"}),
    )
    .await;
    create_lead(
        &app,
        &admin,
        json!({"last_name": "Jones, Jr.", "company_name": "Acme \"Quoted\" Ltd", "source": "event"}),
    )
    .await;
    let own = create_lead(&app, &rep, json!({"last_name": "Rep's", "source": "web_form"})).await;

    let response = app
        .get("/api/v1/exports/leads?source=web_form", &admin.access_token)
        .send()
        .await
        .unwrap();
    let body = response.text().await.unwrap();
    let rows = rows(&body);
    assert_eq!(rows.len(), 2);
    assert_eq!(&rows[0][1], "'=HYPERLINK(\"http://x\")", "a formula is defused");
    let all = app
        .get("/api/v1/exports/leads", &admin.access_token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let jones = self::rows(&all)
        .into_iter()
        .find(|r| &r[2] == "Jones, Jr.")
        .expect("quoted commas survive");
    assert_eq!(&jones[5], "Acme \"Quoted\" Ltd");

    // A rep exports their own leads only.
    let theirs = app
        .get("/api/v1/exports/leads", &rep.access_token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let theirs = self::rows(&theirs);
    assert_eq!(theirs.len(), 1);
    assert_eq!(&theirs[0][0], own["id"].as_str().unwrap());

    // An empty export is the header alone; bad filters are the list's 400s.
    let none = app
        .get("/api/v1/exports/leads?source=nobody", &admin.access_token)
        .send()
        .await
        .unwrap();
    let none = none.text().await.unwrap();
    assert_eq!(none.lines().count(), 1, "{none}");
    for bad in ["score_min=101", "limit=5", "sort=-score", "status=won"] {
        let response = app
            .get(&format!("/api/v1/exports/leads?{bad}"), &admin.access_token)
            .send()
            .await
            .unwrap();
        expect_problem(response, StatusCode::BAD_REQUEST).await;
    }
    let response = app.get("/api/v1/exports/leads", "not a token").send().await.unwrap();
    expect_problem(response, StatusCode::UNAUTHORIZED).await;
}

async fn a_deal_export_keeps_the_lists_filters_and_visibility(app: TestApp) {
    let admin = app.signup("deal-export").await;
    let rep = app.add_user(&admin, "rep").await;
    let pipeline = sales_pipeline(&app, &admin).await;
    create_deal(
        &app,
        &admin,
        json!({"title": "=Big one", "amount": "5000.00", "pipeline_id": pipeline["id"], "source": "referral",
               "expected_close_date": "2027-01-31"}),
    )
    .await;
    create_deal(
        &app,
        &admin,
        json!({"title": "Small", "amount": "10.00", "pipeline_id": pipeline["id"]}),
    )
    .await;
    let mine = create_deal(
        &app,
        &rep,
        json!({"title": "Rep's", "amount": "99.50", "pipeline_id": pipeline["id"]}),
    )
    .await;
    let export = |token: String, query: &'static str| {
        let app = &app;
        async move {
            let response = app
                .get(&format!("/api/v1/exports/deals{query}"), &token)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), StatusCode::OK);
            assert!(response.headers()["content-disposition"]
                .to_str()
                .unwrap()
                .starts_with("attachment; filename=\"pipewise-deals-"));
            response.text().await.unwrap()
        }
    };
    let all = export(admin.access_token.clone(), "").await;
    assert!(
        all.starts_with("id,title,amount,currency,status,pipeline_id,stage_id,owner_id,"),
        "{all}"
    );
    let all = rows(&all);
    assert_eq!(all.len(), 3);
    assert_eq!((&all[0][1], &all[0][2], &all[0][4]), ("'=Big one", "5000.00", "open"));
    assert_eq!(&all[0][11], "2027-01-31");
    assert_eq!(rows_len(&export(admin.access_token.clone(), "?amount_min=50").await), 2);
    assert_eq!(
        rows_len(&export(admin.access_token.clone(), "?source=referral").await),
        1
    );
    let theirs = rows(&export(rep.access_token.clone(), "").await);
    assert_eq!(theirs.len(), 1, "a rep exports their own deals");
    assert_eq!(&theirs[0][0], mine["id"].as_str().unwrap());
    let bad = app
        .get("/api/v1/exports/deals?amount_min=lots", &admin.access_token)
        .send()
        .await
        .unwrap();
    expect_problem(bad, StatusCode::BAD_REQUEST).await;
}
