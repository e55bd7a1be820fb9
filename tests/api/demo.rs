use std::collections::HashMap;

use chrono::{DateTime, Utc};
use pipewise_api::demo::{self, DemoOptions, DemoSummary};
use pipewise_tests::{expect_status, on_both_backends, TestApp, STALE_ACTIVITY_MARKS, STALE_STINT_LINKS};
use reqwest::StatusCode;
use serde_json::Value;
use uuid::Uuid;

on_both_backends!(
    a_demo_organization_has_a_year_of_history_that_agrees_with_its_event_logs,
    the_same_seed_tells_the_same_story_twice,
    every_report_shows_the_demo_history_at_once,
    a_longer_demo_history_spreads_its_deals_over_the_years,
    the_demo_history_makes_predictions_and_potential_meaningful,
);

/// The demo's leads convert more often the better they fit, and larger
/// companies buy more: the prediction and the potential both find it.
async fn the_demo_history_makes_predictions_and_potential_meaningful(app: TestApp) {
    let now = Utc::now();
    let summary = run_demo(&app, 1000, 7, now).await;
    let admin = log_in(&app, &summary.admin().email, &summary.password).await;
    let open = all(
        &app,
        &admin,
        "/api/v1/leads?status=contacted&sort=-predicted_conversion",
    )
    .await;
    assert!(open.len() > 10, "{}", open.len());
    let first = open[0]["predicted_conversion"].as_f64().expect("a prediction");
    let last = open[open.len() - 1]["predicted_conversion"]
        .as_f64()
        .expect("a prediction");
    assert!(first > 2.0 * last, "{first} vs {last}");
    let path = format!("/api/v1/leads/{}/prediction", open[0]["id"].as_str().unwrap());
    let explained = get(&app, &admin, &path).await;
    assert!(explained["learned_from"].as_u64().unwrap() >= 50, "{explained}");
    assert_eq!(explained["factors"].as_array().unwrap().len(), 5);
    assert_eq!(explained["predicted_conversion"], open[0]["predicted_conversion"]);

    // Checked on the leads closed over the year, each without its own outcome.
    let year = format!(
        "from={}&to={}",
        (now - chrono::Duration::days(365)).date_naive(),
        (now + chrono::Duration::days(1)).date_naive()
    );
    let quality = get(&app, &admin, &format!("/api/v1/reports/lead-prediction?{year}")).await;
    assert!(quality["leads"].as_u64().unwrap() >= 50, "{quality}");
    assert!(
        quality["brier_skill_score"].as_f64().unwrap() > 0.0,
        "better than the base rate: {quality}"
    );

    // Potential: a year of won deals makes customers, and the larger bands spent more.
    let customers = get(
        &app,
        &admin,
        &format!(
            "/api/v1/reports/customers?as_of={}",
            now.to_rfc3339().replace('+', "%2B")
        ),
    )
    .await;
    assert!(customers["customers"].as_u64().unwrap() >= 20, "{customers}");
    let mut medians: HashMap<String, f64> = HashMap::new();
    for lead in open.iter().take(200) {
        let path = format!("/api/v1/leads/{}/potential", lead["id"].as_str().unwrap());
        let p = get(&app, &admin, &path).await;
        assert!(
            p["sample"].as_u64().unwrap() >= 5 || p["matched_on"] == "all_customers",
            "{p}"
        );
        if p["matched_on"] == "band" {
            let band = match lead["employee_count"].as_i64().unwrap() {
                n if n <= 50 => "small",
                n if n > 200 => "large",
                _ => "middle",
            };
            let median: f64 = p["potential"]["median"].as_str().unwrap().parse().unwrap();
            medians.insert(band.to_owned(), median);
        }
        assert_eq!(p["potential"]["median"], lead["potential_median"]);
    }
    if let (Some(small), Some(large)) = (medians.get("small"), medians.get("large")) {
        assert!(large > small, "{medians:?}");
    }
}

async fn a_longer_demo_history_spreads_its_deals_over_the_years(app: TestApp) {
    let now = Utc::now();
    let summary = run_demo_over(&app, 200, 3, 5, now).await;
    let admin = log_in(&app, &summary.admin().email, &summary.password).await;
    let created = |sort: &'static str| {
        let (app, admin) = (&app, &admin);
        async move {
            let page = get(app, admin, &format!("/api/v1/deals?limit=1&sort={sort}")).await;
            DateTime::parse_from_rfc3339(page["data"][0]["created_at"].as_str().unwrap())
                .unwrap()
                .with_timezone(&Utc)
        }
    };
    let (oldest, newest) = (created("created_at").await, created("-created_at").await);
    assert!(oldest > now - chrono::Duration::days(3 * 365 + 2), "{oldest}");
    assert!(oldest < now - chrono::Duration::days(2 * 365), "{oldest}");
    assert!(newest > now - chrono::Duration::days(60), "{newest}");
    assert_eq!(app.scalar(STALE_STINT_LINKS).await, 0);
    assert_eq!(app.stale_stint_durations().await, 0);
}

async fn every_report_shows_the_demo_history_at_once(app: TestApp) {
    let now = Utc::now();
    let summary = run_demo(&app, 300, 7, now).await;
    let admin = log_in(&app, &summary.admin().email, &summary.password).await;
    // Every deal knows when its latest event happened, as the API's writes keep it.
    let stale = "select count(*) from deals d where d.last_event_at is null \
                 or d.last_event_at <> (select max(e.at) from deal_events e where e.deal_id = d.id)";
    assert_eq!(app.scalar(stale).await, 0);
    assert_eq!(app.scalar(STALE_STINT_LINKS).await, 0);
    assert_eq!(app.stale_stint_durations().await, 0);
    assert_eq!(app.scalar(STALE_ACTIVITY_MARKS).await, 0);
    let pipeline = all(&app, &admin, "/api/v1/pipelines").await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let year = format!(
        "from={}&to={}",
        (now - chrono::Duration::days(365)).date_naive(),
        (now + chrono::Duration::days(1)).date_naive()
    );
    let report = |path: String| {
        let admin = admin.clone();
        let app = &app;
        async move { get(app, &admin, &format!("/api/v1/reports/{path}")).await }
    };
    let summary_report = report(format!("summary?{year}")).await;
    assert!(
        summary_report["total"]["won_count"].as_u64().unwrap() > 0,
        "{summary_report}"
    );
    assert!(summary_report["total"]["lost_count"].as_u64().unwrap() > 0);
    assert!(summary_report["total"]["open_count"].as_u64().unwrap() > 0);
    assert!(
        summary_report["unconverted_deals"].as_u64().unwrap() > 0,
        "CHF has no rate"
    );
    assert!(summary_report["total"]["win_rate"].is_number());
    let funnel = report(format!("funnel?pipeline_id={pipeline}&{year}")).await;
    assert!(funnel["cohort_size"].as_u64().unwrap() > 0);
    let stages = report(format!("time-in-stage?pipeline_id={pipeline}&{year}")).await;
    assert!(stages["stages"][0]["median_days"].is_number(), "{stages}");
    let forecast = report("forecast?interval=quarter".to_owned()).await;
    assert!(forecast["buckets"].as_array().is_some_and(|b| !b.is_empty()));
    let leads = report(format!("leads?{year}")).await;
    assert!(leads["total"]["lead_volume"].as_u64().unwrap() > 0);
    let lost = report(format!("lost-reasons?{year}")).await;
    assert!(!lost["reasons"].as_array().unwrap().is_empty());
    let reps = report(format!("reps?{year}")).await;
    assert!(reps["reps"].as_array().unwrap().len() >= 4);
    let activities = report("activities".to_owned()).await;
    assert!(activities["total"]["overdue"].as_u64().unwrap() > 0, "{activities}");
}

async fn run_demo(app: &TestApp, deals: u64, seed: u64, now: DateTime<Utc>) -> DemoSummary {
    run_demo_over(app, deals, 1, seed, now).await
}

async fn run_demo_over(app: &TestApp, deals: u64, years: u32, seed: u64, now: DateTime<Utc>) -> DemoSummary {
    let options = DemoOptions {
        deals,
        years,
        seed,
        progress: false,
    };
    demo::run(&app.db.url(), &options, now).await.expect("the demo loads")
}

async fn log_in(app: &TestApp, email: &str, password: &str) -> String {
    let body = expect_status(app.login(email, password).await, StatusCode::OK).await;
    body["access_token"].as_str().expect("a token").to_owned()
}

async fn get(app: &TestApp, token: &str, path: &str) -> Value {
    expect_status(app.get(path, token).send().await.unwrap(), StatusCode::OK).await
}

/// Every page of a list.
async fn all(app: &TestApp, token: &str, path: &str) -> Vec<Value> {
    let mut rows = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let separator = if path.contains('?') { '&' } else { '?' };
        let page_path = match &cursor {
            Some(c) => format!("{path}{separator}limit=200&cursor={c}"),
            None => format!("{path}{separator}limit=200"),
        };
        let page = get(app, token, &page_path).await;
        rows.extend(page["data"].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return rows,
        }
    }
}

/// A deal's state by the rules of metrics.md, replayed from its events, each
/// of which must be one the state machine allows.
#[derive(Debug, PartialEq)]
struct Replayed {
    status: String,
    stage_id: String,
    pipeline_id: String,
    closed_at: Option<String>,
    lost_reason: Option<String>,
}

fn replay(events: &[Value]) -> Replayed {
    let text = |e: &Value, field: &str| e[field].as_str().map(str::to_owned);
    assert_eq!(events[0]["kind"], "created", "{events:?}");
    let mut state = Replayed {
        status: "open".to_owned(),
        stage_id: text(&events[0], "stage_id").unwrap(),
        pipeline_id: text(&events[0], "pipeline_id").unwrap(),
        closed_at: None,
        lost_reason: None,
    };
    let mut last_at = text(&events[0], "at").unwrap();
    for event in &events[1..] {
        let at = text(event, "at").unwrap();
        assert!(
            at.parse::<DateTime<Utc>>().unwrap() >= last_at.parse::<DateTime<Utc>>().unwrap(),
            "events in order"
        );
        let open = state.status == "open";
        match event["kind"].as_str().unwrap() {
            "moved" => {
                assert!(open, "only an open deal moves: {events:?}");
                assert_eq!(text(event, "from_stage_id").as_ref(), Some(&state.stage_id));
                assert_ne!(text(event, "stage_id").as_ref(), Some(&state.stage_id));
            }
            "won" | "lost" => {
                assert!(open, "only an open deal closes: {events:?}");
                assert_eq!(
                    text(event, "stage_id").as_ref(),
                    Some(&state.stage_id),
                    "closing keeps the stage"
                );
                state.closed_at = Some(at.clone());
                state.status = event["kind"].as_str().unwrap().to_owned();
                state.lost_reason = text(event, "lost_reason");
            }
            "reopened" => {
                assert!(!open, "only a closed deal reopens: {events:?}");
                state.status = "open".to_owned();
                state.closed_at = None;
                state.lost_reason = None;
            }
            other => panic!("unexpected event {other}"),
        }
        state.stage_id = text(event, "stage_id").unwrap();
        state.pipeline_id = text(event, "pipeline_id").unwrap();
        last_at = at;
    }
    state
}

async fn a_demo_organization_has_a_year_of_history_that_agrees_with_its_event_logs(app: TestApp) {
    // Arrange
    let now = Utc::now();

    // Act
    let summary = run_demo(&app, 300, 42, now).await;

    // Assert: the printed logins work.
    let text = demo::describe(&summary);
    assert!(
        text.contains(&summary.password)
            && text.contains(&summary.admin().email)
            && text.contains(&summary.rep().email)
    );
    let admin = log_in(&app, &summary.admin().email, &summary.password).await;
    let rep = log_in(&app, &summary.rep().email, &summary.password).await;
    let me = get(&app, &rep, "/api/v1/me").await;
    assert_eq!(me["role"], "rep");
    let organization = get(&app, &admin, "/api/v1/organization").await;
    assert_eq!(
        (
            organization["base_currency"].as_str(),
            organization["timezone"].as_str()
        ),
        (Some("EUR"), Some("Europe/Berlin"))
    );
    assert_eq!(all(&app, &admin, "/api/v1/users").await.len(), 6);
    let pipelines = all(&app, &admin, "/api/v1/pipelines").await;
    assert_eq!(pipelines.len(), 2);
    let rates = get(&app, &admin, "/api/v1/exchange-rates").await;
    let rated: Vec<&str> = rates["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["currency"].as_str())
        .collect();
    assert!(
        rated.contains(&"USD") && rated.contains(&"GBP") && !rated.contains(&"CHF"),
        "{rates}"
    );

    // The counts asked for, and those the summary reports, are the stored ones.
    let org = app.sql_uuid(summary.organization_id);
    let count =
        |table: &str, filter: &str| format!("select count(*) from {table} where organization_id = {org} {filter}");
    assert_eq!(summary.counts.deals, 300);
    assert_eq!(app.scalar(&count("deals", "")).await, 300);
    assert_eq!(app.scalar(&count("leads", "")).await as u64, summary.counts.leads);
    assert_eq!(summary.counts.leads, 450);
    assert_eq!(
        app.scalar(&count("activities", "")).await as u64,
        summary.counts.activities
    );
    assert_eq!(
        app.scalar(&count("deal_events", "")).await as u64,
        summary.counts.deal_events
    );
    assert!(
        summary.counts.accounts >= 75 && summary.counts.contacts >= 75,
        "{:?}",
        summary.counts
    );

    // Every deal is what replaying its events gives.
    let deals = all(&app, &admin, "/api/v1/deals").await;
    assert_eq!(deals.len(), 300);
    let mut reopened = 0;
    let mut by_status: HashMap<String, usize> = HashMap::new();
    for deal in &deals {
        let id = deal["id"].as_str().unwrap();
        let page = get(&app, &admin, &format!("/api/v1/deals/{id}/events")).await;
        assert!(page["next_cursor"].is_null());
        let events = page["data"].as_array().unwrap().clone();
        let replayed = replay(&events);
        let stored = Replayed {
            status: deal["status"].as_str().unwrap().to_owned(),
            stage_id: deal["stage_id"].as_str().unwrap().to_owned(),
            pipeline_id: deal["pipeline_id"].as_str().unwrap().to_owned(),
            closed_at: deal["closed_at"].as_str().map(str::to_owned),
            lost_reason: deal["lost_reason"].as_str().map(str::to_owned),
        };
        assert_eq!(stored, replayed, "deal {id}");
        assert_eq!(deal["created_at"], events[0]["at"]);
        reopened += usize::from(events.iter().any(|e| e["kind"] == "reopened"));
        *by_status.entry(stored.status).or_default() += 1;
    }
    let open = by_status["open"];
    assert!(by_status["won"] > 30 && by_status["lost"] > 30, "{by_status:?}");
    assert!(
        (45..=120).contains(&open),
        "about a fifth to a third still open: {by_status:?}"
    );
    assert!(reopened > 0, "some deals were reopened");
    let unconverted = deals.iter().filter(|d| d["currency"] == "CHF").count();
    assert!(unconverted > 0, "some deals in a currency without a rate");

    // stage_entered_at: the latest event that put the deal in its stage.
    let entered_mismatch = app
        .scalar(&format!(
            "select count(*) from deals d where d.organization_id = {org} and d.stage_entered_at <> (
                 select e.at from deal_events e where e.deal_id = d.id and e.kind in ('created', 'moved', 'reopened')
                 order by e.at desc, e.id desc limit 1)"
        ))
        .await;
    assert_eq!(entered_mismatch, 0);

    // last_activity_at: the latest creation or completion of the record's activities.
    for (table, link) in [("deals", "deal_id"), ("leads", "lead_id")] {
        let stale = app
            .scalar(&format!(
                "select count(*) from {table} r where r.organization_id = {org} and (
                     (r.last_activity_at is null and exists (select 1 from activities a where a.{link} = r.id))
                  or exists (select 1 from activities a where a.{link} = r.id
                             and (a.created_at > r.last_activity_at or a.done_at > r.last_activity_at))
                  or (r.last_activity_at is not null and not exists (
                         select 1 from activities a where a.{link} = r.id
                         and (a.created_at = r.last_activity_at or a.done_at = r.last_activity_at))))"
            ))
            .await;
        assert_eq!(stale, 0, "{table}");
    }
    assert_eq!(
        app.scalar(&count("activities", "and done_at is not null and done_at < created_at"))
            .await,
        0
    );

    // Activities: most done, some overdue, some open ahead.
    let overdue = get(&app, &admin, "/api/v1/activities?status=overdue&limit=200").await;
    assert!(
        !overdue["data"].as_array().unwrap().is_empty(),
        "some activities are overdue"
    );
    let open_ahead = get(&app, &admin, "/api/v1/activities?status=open&limit=200").await;
    assert!(!open_ahead["data"].as_array().unwrap().is_empty());
    assert!(app.scalar(&count("activities", "and done_at is not null")).await * 2 > summary.counts.activities as i64);

    // Leads: scored by the rules, some MQLs, qualified, converted and unqualified.
    let leads = all(&app, &admin, "/api/v1/leads").await;
    assert_eq!(leads.len(), 450);
    for lead in leads.iter().step_by(9) {
        let id = lead["id"].as_str().unwrap();
        let score = get(&app, &admin, &format!("/api/v1/leads/{id}/score")).await;
        assert_eq!(score["score"], lead["score"], "lead {id}: {score}");
    }
    let threshold = organization["mql_threshold"].as_i64().unwrap();
    for lead in &leads {
        if lead["mql_at"].is_null() {
            assert!(lead["score"].as_i64().unwrap() < threshold, "{lead}");
        }
    }
    let with = |field: &str| leads.iter().filter(|l| !l[field].is_null()).count();
    assert!(
        with("mql_at") > 20 && with("qualified_at") > 20,
        "MQLs and qualified leads"
    );
    let converted: Vec<&Value> = leads.iter().filter(|l| l["status"] == "converted").collect();
    assert!(converted.len() > 10);
    for lead in &converted {
        let deal = lead["converted_deal_id"]
            .as_str()
            .expect("a converted lead names its deal");
        assert!(deals
            .iter()
            .any(|d| d["id"] == deal && d["created_at"] == lead["converted_at"]));
        assert!(!lead["converted_contact_id"].is_null());
    }
    assert!(leads.iter().any(|l| l["status"] == "unqualified"));
    let sources: std::collections::HashSet<&str> = leads.iter().filter_map(|l| l["source"].as_str()).collect();
    assert!(sources.len() >= 5, "{sources:?}");

    // The history ends at now and spans the year before it.
    let latest: DateTime<Utc> = deals
        .iter()
        .map(|d| d["updated_at"].as_str().unwrap().parse().unwrap())
        .max()
        .unwrap();
    let earliest: DateTime<Utc> = deals
        .iter()
        .map(|d| d["created_at"].as_str().unwrap().parse().unwrap())
        .min()
        .unwrap();
    assert!(
        latest <= now && now - earliest > chrono::Duration::days(300) && now - earliest <= chrono::Duration::days(366)
    );
}

/// Figures that do not depend on ids, for one organization.
async fn fingerprint(app: &TestApp, org: Uuid) -> Vec<i64> {
    let org = app.sql_uuid(org);
    let mut figures = Vec::new();
    for sql in [
        "select count(*) from deals where organization_id = {org} and status = 'won'",
        "select count(*) from deals where organization_id = {org} and status = 'open'",
        "select cast(sum(amount_minor) as bigint) from deals where organization_id = {org}",
        "select count(*) from deal_events where organization_id = {org} and kind = 'moved'",
        "select count(*) from leads where organization_id = {org} and status = 'converted'",
        "select cast(sum(score) as bigint) from leads where organization_id = {org}",
        "select count(*) from leads where organization_id = {org} and mql_at is not null",
        "select count(*) from activities where organization_id = {org} and done_at is null",
        "select count(*) from contacts where organization_id = {org}",
    ] {
        figures.push(app.scalar(&sql.replace("{org}", &org)).await);
    }
    figures
}

async fn the_same_seed_tells_the_same_story_twice(app: TestApp) {
    // Arrange
    let now = Utc::now();

    // Act
    let first = run_demo(&app, 120, 7, now).await;
    let second = run_demo(&app, 120, 7, now).await;
    let other = run_demo(&app, 120, 8, now).await;

    // Assert
    assert_ne!(first.organization_id, second.organization_id);
    assert_ne!(
        first.admin().email,
        second.admin().email,
        "each demo has logins of its own"
    );
    assert_eq!(first.counts, second.counts);
    let figures = fingerprint(&app, first.organization_id).await;
    assert_eq!(figures, fingerprint(&app, second.organization_id).await);
    assert_ne!(figures, fingerprint(&app, other.organization_id).await);
}
