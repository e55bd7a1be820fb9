//! The reports scenario: `pipewise demo` data (a year of history), then each
//! report over a one-month and a one-year period, one request at a time.

use chrono::{Datelike, Days, NaiveDate, Utc};
use pipewise_api::{
    demo::{self, DemoOptions},
    Application, Config,
};
use serde_json::{json, Value};

use crate::measure;

pub(crate) async fn run(url: &str, deals: u64, years: u32, samples: usize) {
    let now = Utc::now();
    let options = DemoOptions {
        deals,
        years,
        seed: 7,
        progress: true,
    };
    let summary = demo::run(url, &options, now).await.expect("the demo data loads");
    println!(
        "loaded {} deals, {} events, {} leads, {} activities in {:.1} s",
        summary.counts.deals,
        summary.counts.deal_events,
        summary.counts.leads,
        summary.counts.activities,
        summary.seconds
    );
    let mut config = Config::for_database(url);
    config.workers = Some(2);
    let app = Application::build(config).await.expect("the server starts");
    let base = format!("http://127.0.0.1:{}/api/v1", app.port());
    tokio::spawn(app.run_until_stopped());
    let http = reqwest::Client::new();
    let login: Value = http
        .post(format!("{base}/auth/login"))
        .json(&json!({"email": summary.admin().email, "password": summary.password}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = login["access_token"].as_str().expect("logged in").to_owned();
    let pipelines: Value = http
        .get(format!("{base}/pipelines"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let pipeline = pipelines["data"][0]["id"].as_str().unwrap().to_owned();

    let today = now.date_naive();
    let month_start = NaiveDate::from_ymd_opt(today.year(), today.month(), 1).unwrap();
    let last_month = month_start.checked_sub_months(chrono::Months::new(1)).unwrap();
    let year_ago = today.checked_sub_days(Days::new(365)).unwrap();
    let tomorrow = today.checked_add_days(Days::new(1)).unwrap();
    let periods = [
        ("one month", format!("from={last_month}&to={month_start}")),
        ("one year", format!("from={year_ago}&to={tomorrow}")),
    ];
    let reports = [
        "summary".to_owned(),
        "summary?group_by=owner".to_owned(),
        "pipeline".to_owned(),
        format!("funnel?pipeline_id={pipeline}"),
        format!("funnel?pipeline_id={pipeline}&basis=flow"),
        format!("time-in-stage?pipeline_id={pipeline}"),
        "stalled".to_owned(),
        "forecast".to_owned(),
        "leads".to_owned(),
        "lost-reasons".to_owned(),
        "reps".to_owned(),
        "activities".to_owned(),
    ];
    println!(
        "\n| report | {} p50 ms | max ms | {} p50 ms | max ms |",
        periods[0].0, periods[1].0
    );
    println!("| --- | --- | --- | --- | --- |");
    for report in &reports {
        let mut cells = Vec::new();
        for (_, period) in &periods {
            let joiner = if report.contains('?') { '&' } else { '?' };
            let url = format!("{base}/reports/{report}{joiner}{period}");
            let ((p50, _, max), statuses) = measure(samples, |_| {
                let request = http.get(&url).bearer_auth(&token);
                async move { request.send().await.unwrap().status() }
            })
            .await;
            assert!(statuses.iter().all(|s| s.is_success()), "{url}: {statuses:?}");
            cells.push(format!("{p50:.1} | {max:.1}"));
        }
        println!("| {report} | {} | {} |", cells[0], cells[1]);
    }
}
