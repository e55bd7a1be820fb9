//! Pipeline reports over small hand-built histories, whose expected figures
//! are worked out here, on both backends.

use std::collections::HashMap;

use pipewise_tests::{
    expect_problem, expect_status, invalid_fields, on_both_backends, uuid, Session, TestApp, STALE_STINT_LINKS,
};
use reqwest::StatusCode;
use serde_json::{json, Value};
use uuid::Uuid;

/// The organization of every scenario: Europe/Berlin, base EUR, 1 USD =
/// 0.5 EUR, no rate for GBP; pipeline Sales (A 10 %, B 50 % rotting after
/// 10 days, C 80 %) and Other (X 30 %).
struct History {
    admin: Session,
    rep: Session,
    sales: Uuid,
    other: Uuid,
    /// Stage ids by name: A, B, C, X.
    stages: HashMap<&'static str, Uuid>,
    /// Deal ids by label: d1 … d8.
    deals: HashMap<&'static str, Uuid>,
}

const MARCH: &str = "from=2026-03-01&to=2026-04-01";
const AS_OF: &str = "as_of=2026-04-15T00:00:00Z";

async fn send(app: &TestApp, token: &str, path: &str, body: Value, status: StatusCode) -> Value {
    let response = app.post(path, token, &body).send().await.unwrap();
    expect_status(response, status).await
}

async fn pipeline(app: &TestApp, admin: &Session, name: &str, stages: Value) -> Value {
    send(
        app,
        &admin.access_token,
        "/api/v1/pipelines",
        json!({"name": name, "stages": stages}),
        StatusCode::CREATED,
    )
    .await
}

impl History {
    async fn build(app: &TestApp) -> Self {
        let admin = app.signup("reports").await;
        let rep = app.add_user(&admin, "rep").await;
        let token = admin.access_token.clone();
        let response = app
            .patch(
                "/api/v1/organization",
                &token,
                &json!({"base_currency": "EUR", "timezone": "Europe/Berlin"}),
            )
            .send()
            .await
            .unwrap();
        expect_status(response, StatusCode::OK).await;
        let response = app
            .request(reqwest::Method::PUT, "/api/v1/exchange-rates/USD")
            .bearer_auth(&token)
            .json(&json!({"rate": "0.5"}))
            .send()
            .await
            .unwrap();
        expect_status(response, StatusCode::OK).await;
        let sales = pipeline(
            app,
            &admin,
            "Sales",
            json!([
                {"name": "A", "probability": 10},
                {"name": "B", "probability": 50, "rotting_days": 10},
                {"name": "C", "probability": 80}
            ]),
        )
        .await;
        let other = pipeline(app, &admin, "Other", json!([{"name": "X", "probability": 30}])).await;
        let mut stages = HashMap::new();
        for (name, stage) in ["A", "B", "C"].iter().zip(sales["stages"].as_array().unwrap()) {
            stages.insert(*name, uuid(&stage["id"]));
        }
        stages.insert("X", uuid(&other["stages"][0]["id"]));
        let mut history = History {
            admin,
            rep,
            sales: uuid(&sales["id"]),
            other: uuid(&other["id"]),
            stages,
            deals: HashMap::new(),
        };
        history.story(app).await;
        history
    }

    async fn deal(&mut self, app: &TestApp, label: &'static str, body: Value) {
        let mut body = body;
        body["title"] = json!(label);
        body["pipeline_id"] = json!(self.sales);
        let deal = send(
            app,
            &self.admin.access_token,
            "/api/v1/deals",
            body,
            StatusCode::CREATED,
        )
        .await;
        self.deals.insert(label, uuid(&deal["id"]));
    }

    async fn command(&self, app: &TestApp, label: &str, command: &str, body: Value) {
        let path = format!("/api/v1/deals/{}/{command}", self.deals[label]);
        send(app, &self.admin.access_token, &path, body, StatusCode::OK).await;
    }

    async fn story(&mut self, app: &TestApp) {
        let (b, c, x) = (self.stages["B"], self.stages["C"], self.stages["X"]);
        // d1: skips B, won after 8 days.
        self.deal(
            app,
            "d1",
            json!({"amount": "1000.00", "currency": "EUR", "created_at": "2026-03-02T10:00:00Z"}),
        )
        .await;
        self.command(app, "d1", "move", json!({"stage_id": c, "at": "2026-03-05T10:00:00Z"}))
            .await;
        self.command(app, "d1", "win", json!({"at": "2026-03-10T10:00:00Z"}))
            .await;
        // d2: in dollars, lost at B.
        self.deal(
            app,
            "d2",
            json!({"amount": "400.00", "currency": "USD", "created_at": "2026-03-03T10:00:00Z"}),
        )
        .await;
        self.command(app, "d2", "move", json!({"stage_id": b, "at": "2026-03-04T10:00:00Z"}))
            .await;
        self.command(
            app,
            "d2",
            "lose",
            json!({"reason": "price", "at": "2026-03-12T10:00:00Z"}),
        )
        .await;
        // d3: won, reopened the next day, moved on, still open (a commit for May).
        self.deal(
            app,
            "d3",
            json!({"amount": "600.00", "currency": "EUR", "created_at": "2026-03-05T10:00:00Z",
                   "expected_close_date": "2026-05-20", "forecast_category": "commit"}),
        )
        .await;
        self.command(app, "d3", "win", json!({"at": "2026-03-08T10:00:00Z"}))
            .await;
        self.command(app, "d3", "reopen", json!({"at": "2026-03-09T10:00:00Z"}))
            .await;
        self.command(app, "d3", "move", json!({"stage_id": b, "at": "2026-03-15T10:00:00Z"}))
            .await;
        // d4: in pounds, without a rate: counted, never summed.
        self.deal(
            app,
            "d4",
            json!({"amount": "900.00", "currency": "GBP", "created_at": "2026-03-06T10:00:00Z"}),
        )
        .await;
        self.command(app, "d4", "win", json!({"at": "2026-03-20T10:00:00Z"}))
            .await;
        // d5: leaves Sales for Other.
        self.deal(
            app,
            "d5",
            json!({"amount": "300.00", "currency": "EUR", "created_at": "2026-03-07T10:00:00Z"}),
        )
        .await;
        self.command(app, "d5", "move", json!({"stage_id": x, "at": "2026-03-10T10:00:00Z"}))
            .await;
        // d6: February, outside the period.
        self.deal(
            app,
            "d6",
            json!({"amount": "5000.00", "currency": "EUR", "created_at": "2026-02-10T10:00:00Z"}),
        )
        .await;
        self.command(app, "d6", "win", json!({"at": "2026-02-20T10:00:00Z"}))
            .await;
        // d7: the rep's, lost.
        let rep = self.rep.user_id;
        self.deal(
            app,
            "d7",
            json!({"amount": "700.00", "currency": "EUR", "created_at": "2026-03-10T10:00:00Z", "owner_id": rep}),
        )
        .await;
        self.command(
            app,
            "d7",
            "lose",
            json!({"reason": "timing", "at": "2026-03-25T10:00:00Z"}),
        )
        .await;
        // d8: April, expected before mid-April: overdue then.
        self.deal(
            app,
            "d8",
            json!({"amount": "250.00", "currency": "EUR", "created_at": "2026-04-01T10:00:00Z",
                   "expected_close_date": "2026-04-10"}),
        )
        .await;
        // Activities: d5 was touched on April 10; three unlinked follow-ups.
        let token = self.admin.access_token.clone();
        let activity = |body: Value| send(app, &token, "/api/v1/activities", body, StatusCode::CREATED);
        activity(
            json!({"type": "call", "subject": "check-in", "deal_id": self.deals["d5"],
                        "created_at": "2026-04-10T00:00:00Z"}),
        )
        .await;
        activity(
            json!({"type": "task", "subject": "send terms", "due_at": "2026-04-10T09:00:00Z",
                        "created_at": "2026-04-01T08:00:00Z"}),
        )
        .await;
        activity(
            json!({"type": "meeting", "subject": "demo", "due_at": "2026-04-15T15:00:00Z",
                        "created_at": "2026-04-01T08:00:00Z"}),
        )
        .await;
        activity(
            json!({"type": "email", "subject": "recap", "done_at": "2026-04-05T08:00:00Z",
                        "created_at": "2026-04-01T08:00:00Z"}),
        )
        .await;
    }

    async fn report(&self, app: &TestApp, path: &str) -> Value {
        self.report_as(app, &self.admin, path).await
    }

    async fn report_as(&self, app: &TestApp, who: &Session, path: &str) -> Value {
        let response = app
            .get(&format!("/api/v1/reports/{path}"), &who.access_token)
            .send()
            .await
            .unwrap();
        expect_status(response, StatusCode::OK).await
    }

    /// The titles of the deals behind a figure, every page read.
    async fn drill(&self, app: &TestApp, report: &str, query: &str) -> Vec<String> {
        let mut titles = Vec::new();
        let mut cursor = String::new();
        loop {
            let path = format!("/api/v1/reports/{report}/deals?{query}&limit=2{cursor}");
            let response = app.get(&path, &self.admin.access_token).send().await.unwrap();
            let page = expect_status(response, StatusCode::OK).await;
            titles.extend(
                page["data"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|d| d["title"].as_str().unwrap().to_owned()),
            );
            match page["next_cursor"].as_str() {
                Some(next) => cursor = format!("&cursor={next}"),
                None => break,
            }
        }
        titles.sort();
        titles
    }

    fn stage(&self, name: &str) -> String {
        self.stages[name].to_string()
    }
}

fn row<'a>(rows: &'a Value, key: &str) -> &'a Value {
    rows.as_array()
        .unwrap()
        .iter()
        .find(|r| r["key"] == key)
        .unwrap_or_else(|| panic!("no row {key} in {rows}"))
}

fn close(value: &Value, expected: f64) {
    let actual = value.as_f64().unwrap_or_else(|| panic!("not a number: {value}"));
    assert!((actual - expected).abs() < 1e-9, "{actual} != {expected}");
}

fn ratio_of<'a>(report: &'a Value, row: &str, name: &str) -> &'a Value {
    report["definition"]["ratios"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["row"] == row && r["name"] == name)
        .unwrap_or_else(|| panic!("no ratio {name} of {row}"))
}

on_both_backends!(
    the_summary_counts_closings_by_current_status_and_keeps_unconverted_money_apart,
    the_snapshot_replays_the_event_log_at_a_past_instant,
    the_cohort_funnel_counts_skipped_stages_and_leaves_moved_deals_behind,
    the_flow_funnel_follows_every_stint_that_started_in_the_period,
    time_in_stage_measures_ended_running_and_censored_stints,
    stalled_deals_are_rotting_or_idle_at_as_of,
    the_forecast_buckets_open_deals_by_close_date_in_the_local_calendar,
    lost_reasons_group_by_reason_and_stage,
    reps_see_their_own_figures_only,
    follow_up_counts_overdue_due_today_and_done,
    an_empty_period_has_zero_counts_and_null_ratios,
    every_report_downloads_as_csv_with_its_definition,
    bad_report_parameters_are_named_problems,
    reports_need_the_reports_scope_for_api_keys,
    the_leads_report_counts_volume_qualification_and_conversion,
    reports_never_mix_two_instants_under_a_concurrent_writer,
    a_stage_deleted_under_a_closed_deal_reopens_nothing,
);

async fn the_summary_counts_closings_by_current_status_and_keeps_unconverted_money_apart(app: TestApp) {
    let h = History::build(&app).await;
    let report = h.report(&app, &format!("summary?{MARCH}&{AS_OF}")).await;
    let total = &report["total"];
    // Won: d1 (1000 EUR) and d4 (GBP, no rate); d3 was won but reopened since.
    assert_eq!(total["won_count"], 2);
    assert_eq!(total["won_amount"], "1000.00");
    assert_eq!(report["unconverted_deals"], 1);
    // Lost: d2 (400 USD = 200 EUR) and d7 (700 EUR).
    assert_eq!(total["lost_count"], 2);
    assert_eq!(total["lost_amount"], "900.00");
    close(&total["win_rate"], 0.5);
    let ratio = ratio_of(&report, "total", "win_rate");
    assert_eq!(
        (ratio["numerator"].as_u64(), ratio["denominator"].as_u64()),
        (Some(2), Some(4))
    );
    // The average deal size divides by the one deal that was summed.
    assert_eq!(total["avg_deal_size"], "1000.00");
    // Cycles: 8 days (d1) and 14 days (d4).
    close(&total["avg_sales_cycle_days"], 11.0);
    close(&total["median_sales_cycle_days"], 11.0);
    // Open at the end of March (local): d3 and d5.
    assert_eq!(total["open_count"], 2);
    assert_eq!(total["open_amount"], "900.00");
    // 2 × 1000 × 0.5 / 11 = 90.909…
    assert_eq!(total["sales_velocity"], "90.91");
    assert_eq!(report["definition"]["period"]["from"], "2026-02-28T23:00:00Z");
    assert_eq!(report["definition"]["period"]["to"], "2026-03-31T22:00:00Z");
    assert_eq!(report["definition"]["period"]["time_zone"], "Europe/Berlin");
    assert_eq!(
        report["definition"]["exchange_rates"],
        json!([{"currency": "USD", "rate": "0.5"}])
    );
    assert_eq!(report["rows"], json!([]));

    let by_owner = h.report(&app, &format!("summary?{MARCH}&{AS_OF}&group_by=owner")).await;
    let admin = row(&by_owner["rows"], &h.admin.user_id.to_string());
    assert_eq!(
        (admin["won_count"].as_u64(), admin["lost_count"].as_u64()),
        (Some(2), Some(1))
    );
    assert_eq!(admin["open_count"], 2);
    let rep = row(&by_owner["rows"], &h.rep.user_id.to_string());
    assert_eq!(
        (rep["won_count"].as_u64(), rep["lost_count"].as_u64()),
        (Some(0), Some(1))
    );
    close(&rep["win_rate"], 0.0);
    assert_eq!(by_owner["total"]["won_count"], 2);

    let by_pipeline = h
        .report(&app, &format!("summary?{MARCH}&{AS_OF}&group_by=pipeline"))
        .await;
    // d5 was open in Other at the end of March; d3 in Sales.
    assert_eq!(row(&by_pipeline["rows"], &h.other.to_string())["open_count"], 1);
    assert_eq!(row(&by_pipeline["rows"], &h.sales.to_string())["open_count"], 1);

    assert_eq!(
        h.drill(&app, "summary", &format!("{MARCH}&{AS_OF}&row=total&measure=won"))
            .await,
        ["d1", "d4"]
    );
    assert_eq!(
        h.drill(&app, "summary", &format!("{MARCH}&{AS_OF}&row=total&measure=open"))
            .await,
        ["d3", "d5"]
    );
    let rep_lost = format!("{MARCH}&{AS_OF}&group_by=owner&row={}&measure=lost", h.rep.user_id);
    assert_eq!(h.drill(&app, "summary", &rep_lost).await, ["d7"]);
}

async fn the_snapshot_replays_the_event_log_at_a_past_instant(app: TestApp) {
    let h = History::build(&app).await;
    let at = "as_of=2026-03-09T12:00:00Z";
    let report = h.report(&app, &format!("pipeline?pipeline_id={}&{at}", h.sales)).await;
    let stages = &report["stages"];
    // A: d3 (reopened into A that morning), d4 (GBP), d5 (not yet moved away).
    let a = row(stages, &h.stage("A"));
    assert_eq!(a["count"], 3);
    assert_eq!(a["amount"], "900.00");
    assert_eq!(a["weighted_amount"], "90.00");
    // B: d2 (400 USD = 200 EUR, not yet lost); C: d1 (not yet won).
    let b = row(stages, &h.stage("B"));
    assert_eq!((b["count"].as_u64(), b["amount"].as_str()), (Some(1), Some("200.00")));
    assert_eq!(b["weighted_amount"], "100.00");
    let c = row(stages, &h.stage("C"));
    assert_eq!(
        (c["count"].as_u64(), c["weighted_amount"].as_str()),
        (Some(1), Some("800.00"))
    );
    assert_eq!(report["total"]["count"], 5);
    assert_eq!(report["total"]["amount"], "2100.00");
    assert_eq!(report["total"]["weighted_amount"], "990.00");
    assert_eq!(report["unconverted_deals"], 1);
    assert_eq!(stages.as_array().unwrap().len(), 3, "only the Sales stages");

    let query = format!("pipeline_id={}&{at}&row={}&measure=count", h.sales, h.stage("A"));
    assert_eq!(h.drill(&app, "pipeline", &query).await, ["d3", "d4", "d5"]);

    // Today the same pipeline holds d3 (B) and d8 (A).
    let now = h.report(&app, &format!("pipeline?pipeline_id={}", h.sales)).await;
    assert_eq!(now["total"]["count"], 2);
}

async fn the_cohort_funnel_counts_skipped_stages_and_leaves_moved_deals_behind(app: TestApp) {
    let h = History::build(&app).await;
    let query = format!("pipeline_id={}&{MARCH}&{AS_OF}", h.sales);
    let report = h.report(&app, &format!("funnel?{query}")).await;
    assert_eq!(report["basis"], "cohort");
    assert_eq!(report["definition"]["basis"], "cohort");
    // d1, d2, d3, d4, d5, d7 were created in March in Sales; d1 and d4 are won.
    assert_eq!(report["cohort_size"], 6);
    assert_eq!(report["won"], 2);
    close(&report["cohort_win_rate"], 2.0 / 6.0);
    let stages = &report["stages"];
    assert_eq!(row(stages, &h.stage("A"))["reached"], 6);
    // B: d2, d3 entered it; d1 skipped it and d4 never moved, but both were won.
    assert_eq!(row(stages, &h.stage("B"))["reached"], 4);
    assert_eq!(row(stages, &h.stage("C"))["reached"], 2);
    close(&row(stages, &h.stage("A"))["conversion_to_next"], 4.0 / 6.0);
    close(&row(stages, &h.stage("B"))["conversion_to_next"], 0.5);
    close(&row(stages, &h.stage("C"))["conversion_to_next"], 1.0);

    let reached_b = format!("{query}&row={}&measure=reached", h.stage("B"));
    assert_eq!(h.drill(&app, "funnel", &reached_b).await, ["d1", "d2", "d3", "d4"]);
    assert_eq!(
        h.drill(&app, "funnel", &format!("{query}&row=total&measure=won")).await,
        ["d1", "d4"]
    );
    assert_eq!(
        h.drill(&app, "funnel", &format!("{query}&row=total&measure=cohort"))
            .await
            .len(),
        6
    );
}

async fn the_flow_funnel_follows_every_stint_that_started_in_the_period(app: TestApp) {
    let h = History::build(&app).await;
    assert_eq!(app.scalar(STALE_STINT_LINKS).await, 0);
    assert_eq!(app.stale_stint_durations().await, 0);
    let query = format!("pipeline_id={}&{MARCH}&{AS_OF}&basis=flow", h.sales);
    let report = h.report(&app, &format!("funnel?{query}")).await;
    assert_eq!(report["basis"], "flow");
    let a = row(&report["stages"], &h.stage("A"));
    // d1, d2, d3 (twice: created, then reopened), d4, d5, d7.
    assert_eq!(a["entered"], 7);
    assert_eq!(a["advanced"], 5);
    assert_eq!(a["moved_out"], 1);
    assert_eq!(a["dropped"], 1);
    assert_eq!(
        (a["moved_back"].as_u64(), a["still_there"].as_u64()),
        (Some(0), Some(0))
    );
    close(&a["conversion"], 5.0 / 7.0);
    let b = row(&report["stages"], &h.stage("B"));
    assert_eq!(
        (b["entered"].as_u64(), b["dropped"].as_u64(), b["still_there"].as_u64()),
        (Some(2), Some(1), Some(1))
    );
    let c = row(&report["stages"], &h.stage("C"));
    assert_eq!((c["entered"].as_u64(), c["advanced"].as_u64()), (Some(1), Some(1)));

    let entered = format!("{query}&row={}&measure=entered", h.stage("A"));
    assert_eq!(
        h.drill(&app, "funnel", &entered).await,
        ["d1", "d2", "d3", "d3", "d4", "d5", "d7"]
    );
    let out = format!("{query}&row={}&measure=moved_out", h.stage("A"));
    assert_eq!(h.drill(&app, "funnel", &out).await, ["d5"]);
}

async fn time_in_stage_measures_ended_running_and_censored_stints(app: TestApp) {
    let h = History::build(&app).await;
    let query = format!("pipeline_id={}&{MARCH}&{AS_OF}", h.sales);
    let report = h.report(&app, &format!("time-in-stage?{query}")).await;
    let a = row(&report["stages"], &h.stage("A"));
    // Ended in March: 3, 1, 3, 6, 14, 3, 15 days.
    assert_eq!(a["count"], 7);
    close(&a["mean_days"], 45.0 / 7.0);
    close(&a["median_days"], 3.0);
    close(&a["p90_days"], 15.0);
    // Running at as_of: d8 since April 1, 10:00.
    assert_eq!(a["open_count"], 1);
    close(&a["open_mean_age_days"], 13.0 + 14.0 / 24.0);
    close(&a["survival_median_days"], 3.0);
    let b = row(&report["stages"], &h.stage("B"));
    assert_eq!(b["count"], 1);
    close(&b["median_days"], 8.0);
    assert_eq!(b["open_count"], 1);
    close(&b["open_mean_age_days"], 30.0 + 14.0 / 24.0);
    // d2's 8 days, and d3's stint censored at the end of March: S(8) = 0.5.
    assert_eq!(b["survival_sample"], 2);
    close(&b["survival_median_days"], 8.0);
    let c = row(&report["stages"], &h.stage("C"));
    close(&c["mean_days"], 5.0);

    let count = format!("{query}&row={}&measure=count", h.stage("A"));
    assert_eq!(
        h.drill(&app, "time-in-stage", &count).await,
        ["d1", "d2", "d3", "d3", "d4", "d5", "d7"]
    );
    let open = format!("{query}&row={}&measure=open_count", h.stage("B"));
    assert_eq!(h.drill(&app, "time-in-stage", &open).await, ["d3"]);
}

async fn stalled_deals_are_rotting_or_idle_at_as_of(app: TestApp) {
    let h = History::build(&app).await;
    let report = h.report(&app, &format!("stalled?{AS_OF}")).await;
    // d3 sits in B (rotting after 10 days) with no activity; d5 was touched
    // on April 10; d8 is 13.6 days old.
    let deals = report["deals"].as_array().unwrap();
    assert_eq!(deals.len(), 1, "{report}");
    assert_eq!(deals[0]["title"], "d3");
    assert_eq!(deals[0]["reasons"], json!(["rotting", "idle"]));
    close(&deals[0]["days_in_stage"], 30.0 + 14.0 / 24.0);
    assert!(deals[0]["days_since_activity"].is_null());
    assert_eq!(report["total"]["count"], 1);
    assert_eq!(row(&report["stages"], &h.stage("B"))["count"], 1);
    // With a shorter idle threshold d5 (5 days) and d8 join.
    let strict = h.report(&app, &format!("stalled?{AS_OF}&idle_days=4")).await;
    assert_eq!(strict["total"]["count"], 3);
    let d5 = strict["deals"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["title"] == "d5")
        .unwrap();
    close(&d5["days_since_activity"], 5.0);
    assert_eq!(d5["reasons"], json!(["idle"]));

    // `limit` lists the deals longest in their stage first; the counts and
    // the drill-down still cover all three.
    let limited = h.report(&app, &format!("stalled?{AS_OF}&idle_days=4&limit=2")).await;
    let titles = |report: &Value| -> Vec<String> {
        report["deals"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["title"].as_str().unwrap().to_owned())
            .collect()
    };
    // d5 has sat in X since March 10, d3 in B since March 15, d8 in A since April 1.
    assert_eq!(titles(&strict), ["d5", "d3", "d8"], "{strict}");
    assert_eq!(titles(&limited), ["d5", "d3"], "{limited}");
    assert_eq!(limited["total"], strict["total"]);
    assert_eq!(limited["stages"], strict["stages"]);
    let csv = app
        .get(
            &format!("/api/v1/reports/stalled?{AS_OF}&idle_days=4&format=csv"),
            &h.admin.access_token,
        )
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(csv.lines().filter(|l| !l.starts_with('#')).count(), 1 + 3, "{csv}");
    for limit in ["0", "1001", "many"] {
        let response = app
            .get(&format!("/api/v1/reports/stalled?limit={limit}"), &h.admin.access_token)
            .send()
            .await
            .unwrap();
        let problem = expect_problem(response, StatusCode::BAD_REQUEST).await;
        assert!(problem["detail"].as_str().unwrap().contains("limit"), "{problem}");
    }

    let query = format!("{AS_OF}&idle_days=4&row={}&measure=count", h.stage("A"));
    assert_eq!(h.drill(&app, "stalled", &query).await, ["d8"]);
    assert_eq!(
        h.drill(&app, "stalled", &format!("{AS_OF}&idle_days=4&row=total&measure=count"))
            .await
            .len(),
        3
    );
}

async fn the_forecast_buckets_open_deals_by_close_date_in_the_local_calendar(app: TestApp) {
    let h = History::build(&app).await;
    let query = format!("from=2026-04-01&to=2026-07-01&{AS_OF}");
    let report = h.report(&app, &format!("forecast?{query}")).await;
    let buckets = &report["buckets"];
    assert_eq!(buckets.as_array().unwrap().len(), 3);
    let may = row(buckets, "2026-05-01");
    assert_eq!(
        (may["start"].as_str(), may["end"].as_str()),
        (Some("2026-05-01"), Some("2026-05-31"))
    );
    assert_eq!(may["open_count"], 1);
    assert_eq!(may["best_case"], "600.00");
    assert_eq!(may["weighted"], "300.00");
    assert_eq!(may["commit"], "600.00");
    assert_eq!(may["commit_count"], 1);
    assert_eq!(row(buckets, "2026-04-01")["open_count"], 0);
    assert_eq!(report["unscheduled"]["open_count"], 1);
    assert_eq!(report["unscheduled"]["weighted"], "90.00");
    assert_eq!(report["overdue"]["open_count"], 1);
    assert_eq!(report["overdue"]["best_case"], "250.00");

    // March as one quarter: what was won in it, by close instant.
    let q1 = h
        .report(
            &app,
            &format!("forecast?from=2026-01-01&to=2026-04-01&{AS_OF}&interval=quarter"),
        )
        .await;
    let quarter = row(&q1["buckets"], "2026-01-01");
    assert_eq!(quarter["won_count"], 3, "d1, d4 and d6");
    assert_eq!(quarter["won_amount"], "6000.00");

    assert_eq!(
        h.drill(&app, "forecast", &format!("{query}&row=2026-05-01&measure=commit"))
            .await,
        ["d3"]
    );
    assert_eq!(
        h.drill(&app, "forecast", &format!("{query}&row=overdue&measure=open"))
            .await,
        ["d8"]
    );
    let won = format!("from=2026-01-01&to=2026-04-01&{AS_OF}&interval=quarter&row=2026-01-01&measure=won");
    assert_eq!(h.drill(&app, "forecast", &won).await, ["d1", "d4", "d6"]);
}

async fn lost_reasons_group_by_reason_and_stage(app: TestApp) {
    let h = History::build(&app).await;
    let report = h.report(&app, &format!("lost-reasons?{MARCH}&{AS_OF}")).await;
    assert_eq!(report["total"]["count"], 2);
    assert_eq!(report["total"]["amount"], "900.00");
    let price = row(&report["reasons"], "price");
    assert_eq!(
        (price["count"].as_u64(), price["amount"].as_str()),
        (Some(1), Some("200.00"))
    );
    close(&price["share"], 0.5);
    assert_eq!(row(&report["stages"], &h.stage("B"))["count"], 1);
    assert_eq!(row(&report["stages"], &h.stage("A"))["amount"], "700.00");
    assert_eq!(report["stages"][0]["key"], h.stage("A"), "in position order");
    assert_eq!(
        h.drill(&app, "lost-reasons", &format!("{MARCH}&row=timing&measure=count"))
            .await,
        ["d7"]
    );
    let at_b = format!("{MARCH}&row={}&measure=count", h.stage("B"));
    assert_eq!(h.drill(&app, "lost-reasons", &at_b).await, ["d2"]);
}

async fn reps_see_their_own_figures_only(app: TestApp) {
    let h = History::build(&app).await;
    let report = h.report(&app, &format!("reps?{MARCH}&{AS_OF}")).await;
    let admin = row(&report["reps"], &h.admin.user_id.to_string());
    assert_eq!(
        (admin["won_count"].as_u64(), admin["lost_count"].as_u64()),
        (Some(2), Some(1))
    );
    close(&admin["win_rate"], 2.0 / 3.0);
    assert_eq!(admin["open_count"], 2);
    let rep = row(&report["reps"], &h.rep.user_id.to_string());
    assert_eq!(rep["lost_count"], 1);
    let query = format!("{MARCH}&{AS_OF}&row={}&measure=won", h.admin.user_id);
    assert_eq!(h.drill(&app, "reps", &query).await, ["d1", "d4"]);

    // The rep's own view: only d7.
    let own = h.report_as(&app, &h.rep, &format!("summary?{MARCH}&{AS_OF}")).await;
    assert_eq!(own["definition"]["filters"]["own_records_only"], true);
    assert_eq!(own["total"]["won_count"], 0);
    assert_eq!(own["total"]["lost_count"], 1);
    assert_eq!(own["total"]["lost_amount"], "700.00");
    assert_eq!(own["total"]["open_count"], 0);
    let own_reps = h.report_as(&app, &h.rep, &format!("reps?{MARCH}&{AS_OF}")).await;
    assert_eq!(own_reps["reps"].as_array().unwrap().len(), 1);
    // The stage reports too: d7's one stint, 15 days in A, lost there.
    let pipeline = format!("pipeline_id={}", h.sales);
    let stints = h
        .report_as(&app, &h.rep, &format!("time-in-stage?{pipeline}&{MARCH}&{AS_OF}"))
        .await;
    let a = row(&stints["stages"], &h.stage("A"));
    assert_eq!((a["count"].as_u64(), a["survival_sample"].as_u64()), (Some(1), Some(1)));
    close(&a["median_days"], 15.0);
    assert_eq!(row(&stints["stages"], &h.stage("B"))["count"], 0);
    let flow = h
        .report_as(&app, &h.rep, &format!("funnel?{pipeline}&{MARCH}&{AS_OF}&basis=flow"))
        .await;
    let a = row(&flow["stages"], &h.stage("A"));
    assert_eq!(
        (a["entered"].as_u64(), a["dropped"].as_u64()),
        (Some(1), Some(1)),
        "{flow}"
    );
    let cohort = h
        .report_as(&app, &h.rep, &format!("funnel?{pipeline}&{MARCH}&{AS_OF}"))
        .await;
    assert_eq!(
        (cohort["cohort_size"].as_u64(), cohort["won"].as_u64()),
        (Some(1), Some(0)),
        "{cohort}"
    );
    let path = format!("/api/v1/reports/summary/deals?{MARCH}&row=total&measure=lost");
    let page = expect_status(
        app.get(&path, &h.rep.access_token).send().await.unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(page["data"].as_array().unwrap().len(), 1);
    assert_eq!(page["data"][0]["title"], "d7");
}

async fn follow_up_counts_overdue_due_today_and_done(app: TestApp) {
    let h = History::build(&app).await;
    let report = h
        .report(
            &app,
            "activities?from=2026-04-01&to=2026-05-01&as_of=2026-04-15T12:00:00Z",
        )
        .await;
    let total = &report["total"];
    assert_eq!(
        (
            total["overdue"].as_u64(),
            total["due_today"].as_u64(),
            total["done_in_period"].as_u64()
        ),
        (Some(1), Some(1), Some(1)),
        "{report}"
    );
    assert_eq!(row(&report["types"], "task")["overdue"], 1);
    assert_eq!(row(&report["types"], "meeting")["due_today"], 1);
    assert_eq!(row(&report["types"], "email")["done_in_period"], 1);
    assert_eq!(row(&report["types"], "call")["overdue"], 0);
    // Before the task was due, nothing was overdue.
    let earlier = h
        .report(
            &app,
            "activities?from=2026-04-01&to=2026-05-01&as_of=2026-04-09T12:00:00Z",
        )
        .await;
    assert_eq!(earlier["total"]["overdue"], 0);
    // A call due on April 12 and done on the 20th was overdue on the 15th,
    // and no longer on the 21st (when the meeting of the 15th is); it is
    // done in April.
    send(
        &app,
        &h.admin.access_token,
        "/api/v1/activities",
        json!({"type": "call", "subject": "late call", "due_at": "2026-04-12T09:00:00Z",
               "done_at": "2026-04-20T09:00:00Z", "created_at": "2026-04-01T08:00:00Z"}),
        StatusCode::CREATED,
    )
    .await;
    let during = h
        .report(
            &app,
            "activities?from=2026-04-01&to=2026-05-01&as_of=2026-04-15T12:00:00Z",
        )
        .await;
    assert_eq!(during["total"]["overdue"], 2, "{during}");
    assert_eq!(row(&during["types"], "call")["overdue"], 1);
    assert_eq!(during["total"]["done_in_period"], 2);
    let after = h
        .report(
            &app,
            "activities?from=2026-04-01&to=2026-05-01&as_of=2026-04-21T12:00:00Z",
        )
        .await;
    assert_eq!(after["total"]["overdue"], 2, "{after}");
    assert_eq!(row(&after["types"], "call")["overdue"], 0);
    assert_eq!(row(&after["types"], "meeting")["overdue"], 1);
}

async fn an_empty_period_has_zero_counts_and_null_ratios(app: TestApp) {
    let h = History::build(&app).await;
    let period = "from=2025-01-01&to=2025-02-01&as_of=2025-02-01T00:00:00Z";
    let summary = h.report(&app, &format!("summary?{period}")).await;
    assert_eq!(summary["total"]["won_count"], 0);
    assert!(summary["total"]["win_rate"].is_null());
    assert!(summary["total"]["avg_deal_size"].is_null());
    assert!(summary["total"]["sales_velocity"].is_null());
    assert_eq!(summary["total"]["open_count"], 0);
    let funnel = h
        .report(&app, &format!("funnel?pipeline_id={}&{period}", h.sales))
        .await;
    assert_eq!(funnel["cohort_size"], 0);
    assert!(funnel["cohort_win_rate"].is_null());
    assert!(funnel["stages"][0]["conversion_to_next"].is_null());
    let stages = h
        .report(&app, &format!("time-in-stage?pipeline_id={}&{period}", h.sales))
        .await;
    assert!(stages["stages"][0]["median_days"].is_null());
    assert!(stages["stages"][0]["survival_median_days"].is_null());
    let leads = h.report(&app, &format!("leads?{period}")).await;
    assert_eq!(leads["total"]["lead_volume"], 0);
    assert!(leads["total"]["lead_to_qualified_rate"].is_null());
    assert!(leads["avg_first_response_hours"].is_null());
}

async fn every_report_downloads_as_csv_with_its_definition(app: TestApp) {
    let h = History::build(&app).await;
    let pipeline = format!("pipeline_id={}", h.sales);
    let cases = [
        (
            "summary",
            format!("{MARCH}&{AS_OF}"),
            "key,won_count,won_amount,lost_count",
            "total,2,1000.00,2,900.00",
        ),
        (
            "pipeline",
            format!("{pipeline}&as_of=2026-03-09T12:00:00Z"),
            "key,pipeline_id,name,position,count",
            ",A,0,3,900.00,90.00",
        ),
        (
            "funnel",
            format!("{pipeline}&{MARCH}&{AS_OF}"),
            "key,name,position,reached,conversion_to_next",
            ",B,1,4,0.5",
        ),
        (
            "funnel",
            format!("{pipeline}&{MARCH}&{AS_OF}&basis=flow"),
            "key,name,position,entered,advanced",
            ",A,0,7,5,0,1,1,0,",
        ),
        (
            "time-in-stage",
            format!("{pipeline}&{MARCH}&{AS_OF}"),
            "key,name,position,count,mean_days,median_days",
            ",B,1,1,8,8,8,1,",
        ),
        (
            "stalled",
            AS_OF.to_owned(),
            "deal_id,title,owner_id,stage_id,days_in_stage",
            ",d3,",
        ),
        (
            "forecast",
            format!("from=2026-04-01&to=2026-07-01&{AS_OF}"),
            "key,start,end,open_count,best_case",
            "2026-05-01,2026-05-01,2026-05-31,1,600.00,300.00,600.00,1,0,0.00",
        ),
        (
            "leads",
            MARCH.to_owned(),
            "key,lead_volume,qualified_leads",
            "total,0,0,0,,,",
        ),
        (
            "lost-reasons",
            format!("{MARCH}&{AS_OF}"),
            "group,key,name,count,amount,share",
            "reason,price,price,1,200.00,0.5",
        ),
        (
            "reps",
            format!("{MARCH}&{AS_OF}"),
            "key,won_count,won_amount,lost_count,win_rate",
            ",2,1000.00,1,",
        ),
        (
            "activities",
            "from=2026-04-01&to=2026-05-01&as_of=2026-04-15T12:00:00Z".to_owned(),
            "key,overdue,due_today,done_in_period",
            "task,1,0,0",
        ),
    ];
    for (report, query, header, line) in cases {
        let path = format!("/api/v1/reports/{report}?{query}&format=csv");
        let response = app.get(&path, &h.admin.access_token).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{report}");
        assert!(response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv"));
        let disposition = response.headers()["content-disposition"].to_str().unwrap().to_owned();
        assert!(
            disposition.starts_with(&format!("attachment; filename=\"pipewise-{report}-")),
            "{disposition}"
        );
        let body = response.text().await.unwrap();
        let mut lines = body.lines();
        assert_eq!(lines.next(), Some(format!("# report: {report}").as_str()), "{body}");
        assert!(body.contains("# period: "), "{body}");
        let data: Vec<&str> = body.lines().filter(|l| !l.starts_with('#')).collect();
        assert!(data[0].starts_with(header), "{report}: {}", data[0]);
        assert!(
            data[1..].iter().any(|l| l.contains(line)),
            "{report}: no line with {line} in\n{body}"
        );
    }
    // Accept: text/csv does the same; March in Berlin names its local dates.
    let response = app
        .get(&format!("/api/v1/reports/summary?{MARCH}"), &h.admin.access_token)
        .header("accept", "text/csv")
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.headers()["content-disposition"],
        "attachment; filename=\"pipewise-summary-2026-03-01-to-2026-04-01.csv\""
    );
}

async fn bad_report_parameters_are_named_problems(app: TestApp) {
    let h = History::build(&app).await;
    let token = &h.admin.access_token;
    let problem = |path: String, status: StatusCode| {
        let request = app.get(&path, token);
        async move { expect_problem(request.send().await.unwrap(), status).await }
    };
    let cases = [
        ("/api/v1/reports/funnel".to_owned(), "pipeline_id"),
        ("/api/v1/reports/time-in-stage".to_owned(), "pipeline_id"),
        (
            "/api/v1/reports/summary?from=2026-04-01&to=2026-03-01".to_owned(),
            "from",
        ),
        ("/api/v1/reports/summary?from=2016-01-01&to=2026-01-02".to_owned(), "to"),
        ("/api/v1/reports/summary?to=2026-01-02".to_owned(), "from"),
        ("/api/v1/reports/summary?from=yesterday".to_owned(), "from"),
        (
            format!("/api/v1/reports/pipeline?pipeline_id={}", Uuid::now_v7()),
            "pipeline_id",
        ),
        (
            format!(
                "/api/v1/reports/funnel/deals?pipeline_id={}&row={}&measure=reached",
                h.sales,
                h.stage("X")
            ),
            "row",
        ),
        (
            "/api/v1/reports/summary/deals?row=total&measure=velocity".to_owned(),
            "measure",
        ),
        (
            "/api/v1/reports/summary/deals?row=nobody&measure=won&group_by=owner".to_owned(),
            "row",
        ),
    ];
    for (path, field) in cases {
        let body = problem(path.clone(), StatusCode::UNPROCESSABLE_ENTITY).await;
        assert_eq!(invalid_fields(&body), [field], "{path}: {body}");
    }
    let bad = problem(
        "/api/v1/reports/forecast?interval=week".to_owned(),
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert!(bad["detail"].as_str().unwrap().contains("interval"), "{bad}");
    let unknown = problem(
        "/api/v1/reports/summary?group_by=colour".to_owned(),
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert!(unknown["detail"].as_str().unwrap().contains("group_by"), "{unknown}");
    problem("/api/v1/reports/summary?basis=flow".to_owned(), StatusCode::BAD_REQUEST).await;
    // Leads and activities are not deals: they have no drill-down.
    problem(
        "/api/v1/reports/leads/deals?row=total&measure=count".to_owned(),
        StatusCode::BAD_REQUEST,
    )
    .await;
}

async fn reports_need_the_reports_scope_for_api_keys(app: TestApp) {
    let admin = app.signup("scope").await;
    let (_, read_only) = app.api_key(&admin, &["read"]).await;
    let (_, reports) = app.api_key(&admin, &["reports"]).await;
    let call =
        |key: String, path: &'static str| app.request(reqwest::Method::GET, path).header("x-api-key", key).send();
    expect_problem(
        call(read_only.clone(), "/api/v1/reports/summary").await.unwrap(),
        StatusCode::FORBIDDEN,
    )
    .await;
    expect_problem(
        call(read_only, "/api/v1/reports/summary/deals?row=total&measure=won")
            .await
            .unwrap(),
        StatusCode::FORBIDDEN,
    )
    .await;
    let body = expect_status(
        call(reports.clone(), "/api/v1/reports/summary").await.unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(body["definition"]["filters"]["own_records_only"], false);
    expect_status(
        call(reports, "/api/v1/reports/activities").await.unwrap(),
        StatusCode::OK,
    )
    .await;
    let anonymous = app
        .request(reqwest::Method::GET, "/api/v1/reports/summary")
        .send()
        .await
        .unwrap();
    expect_problem(anonymous, StatusCode::UNAUTHORIZED).await;
}

async fn the_leads_report_counts_volume_qualification_and_conversion(app: TestApp) {
    let admin = app.signup("leads-report").await;
    let token = admin.access_token.clone();
    let mut ids = Vec::new();
    for (source, email) in [("web", "a@x.example"), ("web", "b@x.example"), ("event", "c@x.example")] {
        let lead = send(
            &app,
            &token,
            "/api/v1/leads",
            json!({"first_name": "L", "email": email, "source": source}),
            StatusCode::CREATED,
        )
        .await;
        ids.push(uuid(&lead["id"]));
    }
    let response = app
        .patch(
            &format!("/api/v1/leads/{}", ids[0]),
            &token,
            &json!({"status": "qualified"}),
        )
        .send()
        .await
        .unwrap();
    expect_status(response, StatusCode::OK).await;
    send(
        &app,
        &token,
        &format!("/api/v1/leads/{}/convert", ids[2]),
        json!({}),
        StatusCode::OK,
    )
    .await;
    send(
        &app,
        &token,
        "/api/v1/activities",
        json!({"type": "call", "subject": "first call", "lead_id": ids[1]}),
        StatusCode::CREATED,
    )
    .await;
    let report = expect_status(
        app.get("/api/v1/reports/leads", &token).send().await.unwrap(),
        StatusCode::OK,
    )
    .await;
    let total = &report["total"];
    assert_eq!(total["lead_volume"], 3);
    assert_eq!(total["qualified_leads"], 2, "the qualified and the converted lead");
    close(&total["lead_to_qualified_rate"], 2.0 / 3.0);
    close(&total["lead_to_deal_rate"], 1.0 / 3.0);
    assert!(total["mql_to_sql_rate"].is_null());
    let web = row(&report["sources"], "web");
    assert_eq!(
        (web["lead_volume"].as_u64(), web["qualified_leads"].as_u64()),
        (Some(2), Some(1))
    );
    let event = row(&report["sources"], "event");
    close(&event["lead_to_deal_rate"], 1.0);
    let hours = report["avg_first_response_hours"]
        .as_f64()
        .expect("one lead has an activity");
    assert!((0.0..1.0).contains(&hours), "{hours}");
    let month = &report["lead_velocity"][0];
    assert_eq!(month["qualified"], 2);
    assert!(month["rate"].is_null(), "no qualified leads the month before");
}

async fn reports_never_mix_two_instants_under_a_concurrent_writer(app: TestApp) {
    let admin = app.signup("torn").await;
    let token = admin.access_token.clone();
    let pipelines = expect_status(
        app.get("/api/v1/pipelines", &token).send().await.unwrap(),
        StatusCode::OK,
    )
    .await;
    let pipeline = uuid(&pipelines["data"][0]["id"]);
    let mut deals = Vec::new();
    for i in 0..6 {
        let deal = send(
            &app,
            &token,
            "/api/v1/deals",
            json!({"title": format!("t{i}"), "amount": "10.00", "pipeline_id": pipeline}),
            StatusCode::CREATED,
        )
        .await;
        deals.push(uuid(&deal["id"]));
    }
    // The writer wins and reopens the deals over and over; every snapshot
    // must see each deal exactly once: won, or open.
    let writer = {
        let (app_url, client, token, deals) = (app.url(""), reqwest::Client::new(), token.clone(), deals.clone());
        tokio::spawn(async move {
            for round in 0..8 {
                for deal in &deals {
                    let command = if round % 2 == 0 { "win" } else { "reopen" };
                    let response = client
                        .post(format!("{app_url}/api/v1/deals/{deal}/{command}"))
                        .bearer_auth(&token)
                        .json(&json!({}))
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(response.status(), StatusCode::OK);
                }
            }
        })
    };
    let window = "from=2026-01-01&to=2036-01-01&as_of=2035-01-01T00:00:00Z";
    let mut reads = 0;
    while !writer.is_finished() || reads < 3 {
        let summary = expect_status(
            app.get(&format!("/api/v1/reports/summary?{window}"), &token)
                .send()
                .await
                .unwrap(),
            StatusCode::OK,
        )
        .await;
        let total = &summary["total"];
        assert_eq!(
            total["won_count"].as_u64().unwrap() + total["open_count"].as_u64().unwrap(),
            6,
            "{summary}"
        );
        let forecast = expect_status(
            app.get(&format!("/api/v1/reports/forecast?{window}&interval=year"), &token)
                .send()
                .await
                .unwrap(),
            StatusCode::OK,
        )
        .await;
        let won: u64 = forecast["buckets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b["won_count"].as_u64().unwrap())
            .sum();
        assert_eq!(
            won + forecast["unscheduled"]["open_count"].as_u64().unwrap(),
            6,
            "{forecast}"
        );
        let funnel = expect_status(
            app.get(
                &format!("/api/v1/reports/funnel?{window}&pipeline_id={pipeline}"),
                &token,
            )
            .send()
            .await
            .unwrap(),
            StatusCode::OK,
        )
        .await;
        assert_eq!(funnel["cohort_size"], 6);
        assert_eq!(funnel["stages"][0]["reached"], 6);
        reads += 1;
    }
    writer.await.unwrap();
}

/// Every UUID replaced by the order of its first appearance, so that two
/// runs of one history compare equal.
fn without_ids(value: &Value, seen: &mut Vec<String>) -> Value {
    match value {
        Value::String(s) if s.parse::<Uuid>().is_ok() => {
            let index = seen.iter().position(|x| x == s).unwrap_or_else(|| {
                seen.push(s.clone());
                seen.len() - 1
            });
            json!(format!("id-{index}"))
        }
        Value::Array(items) => Value::Array(items.iter().map(|v| without_ids(v, seen)).collect()),
        Value::Object(map) => Value::Object(map.iter().map(|(k, v)| (k.clone(), without_ids(v, seen))).collect()),
        other => other.clone(),
    }
}

async fn every_report_of(app: &TestApp, h: &History) -> Vec<Value> {
    let sales = h.sales;
    let paths = [
        format!("summary?{MARCH}&{AS_OF}&group_by=owner"),
        format!("summary?{MARCH}&{AS_OF}&group_by=pipeline"),
        "pipeline?as_of=2026-03-09T12:00:00Z".to_owned(),
        format!("funnel?pipeline_id={sales}&{MARCH}&{AS_OF}"),
        format!("funnel?pipeline_id={sales}&{MARCH}&{AS_OF}&basis=flow"),
        format!("time-in-stage?pipeline_id={sales}&{MARCH}&{AS_OF}"),
        format!("stalled?{AS_OF}&idle_days=4"),
        format!("forecast?from=2026-01-01&to=2026-07-01&{AS_OF}"),
        format!("leads?{MARCH}&{AS_OF}"),
        format!("lost-reasons?{MARCH}&{AS_OF}"),
        format!("reps?{MARCH}&{AS_OF}"),
        "activities?from=2026-04-01&to=2026-05-01&as_of=2026-04-15T12:00:00Z".to_owned(),
    ];
    let mut reports = Vec::new();
    let mut seen = Vec::new();
    for path in paths {
        reports.push(without_ids(&h.report(app, &path).await, &mut seen));
    }
    reports
}

#[tokio::test]
#[cfg_attr(not(pg_tests), ignore = "set PIPEWISE_TEST_POSTGRES_URL to run the PostgreSQL half")]
async fn the_same_history_gives_the_same_reports_on_both_backends() {
    let (sqlite, postgres) = (TestApp::sqlite().await, TestApp::postgres().await);
    let (a, b) = (History::build(&sqlite).await, History::build(&postgres).await);
    let (left, right) = (every_report_of(&sqlite, &a).await, every_report_of(&postgres, &b).await);
    for (l, r) in left.iter().zip(&right) {
        assert_eq!(l, r);
    }
}

async fn a_stage_deleted_under_a_closed_deal_reopens_nothing(app: TestApp) {
    let admin = app.signup("relabel").await;
    let token = admin.access_token.clone();
    let pipeline = pipeline(
        &app,
        &admin,
        "Short",
        json!([{"name": "P", "probability": 10}, {"name": "Q", "probability": 50}, {"name": "R", "probability": 90}]),
    )
    .await;
    let (p, q, r) = (
        uuid(&pipeline["id"]),
        uuid(&pipeline["stages"][1]["id"]),
        uuid(&pipeline["stages"][2]["id"]),
    );
    let deal = send(
        &app,
        &token,
        "/api/v1/deals",
        json!({"title": "lost", "amount": "10.00", "pipeline_id": p, "stage_id": q, "created_at": "2026-03-02T10:00:00Z"}),
        StatusCode::CREATED,
    )
    .await;
    let path = format!("/api/v1/deals/{}/lose", deal["id"].as_str().unwrap());
    send(
        &app,
        &token,
        &path,
        json!({"reason": "price", "at": "2026-03-05T10:00:00Z"}),
        StatusCode::OK,
    )
    .await;
    // Deleting Q moves the lost deal to R: a `moved` event while it is closed.
    let response = app
        .delete(&format!("/api/v1/stages/{q}?move_deals_to={r}"), &token)
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "{}", response.status());
    let get = |path: String| {
        let request = app.get(&path, &token);
        async move { expect_status(request.send().await.unwrap(), StatusCode::OK).await }
    };
    let year = "from=2026-01-01&to=2027-01-01&as_of=2027-06-01T00:00:00Z";
    let summary = get(format!("/api/v1/reports/summary?{year}")).await;
    assert_eq!(
        (
            summary["total"]["lost_count"].as_u64(),
            summary["total"]["open_count"].as_u64()
        ),
        (Some(1), Some(0))
    );
    let snapshot = get(format!(
        "/api/v1/reports/pipeline?pipeline_id={p}&as_of=2027-06-01T00:00:00Z"
    ))
    .await;
    assert_eq!(snapshot["total"]["count"], 0);
    let flow = get(format!("/api/v1/reports/funnel?pipeline_id={p}&{year}&basis=flow")).await;
    assert_eq!(row(&flow["stages"], &r.to_string())["entered"], 0, "{flow}");
    let cohort = get(format!("/api/v1/reports/funnel?pipeline_id={p}&{year}")).await;
    assert_eq!(row(&cohort["stages"], &r.to_string())["reached"], 0, "{cohort}");
    let stages = get(format!("/api/v1/reports/time-in-stage?pipeline_id={p}&{year}")).await;
    assert_eq!(row(&stages["stages"], &r.to_string())["count"], 0);
    assert_eq!(row(&stages["stages"], &r.to_string())["open_count"], 0);
    assert_eq!(app.scalar(STALE_STINT_LINKS).await, 0);
    assert_eq!(app.stale_stint_durations().await, 0);
}
