//! Predicted conversion: the frequency tables the database keeps, the
//! prediction explained, the lead list sorted and filtered by it, and the
//! report on how good it was.

use pipewise_tests::{expect_problem, expect_status, on_both_backends, statuses_in_parallel, Session, TestApp};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::leads::{create_lead, lead_path};

on_both_backends!(
    a_history_of_closed_leads_gives_the_written_out_prediction,
    the_tables_follow_every_close_reopen_trash_and_edit,
    twenty_parallel_disqualifications_are_all_counted,
    rescore_rebuilds_the_tables_from_the_leads,
    the_lead_list_sorts_and_filters_by_predicted_conversion,
    a_rep_sees_predictions_of_their_own_leads_only,
    the_prediction_report_scores_each_lead_without_its_own_outcome,
    leads_stored_before_the_email_kind_existed_get_it_at_startup,
);

/// A database from before migration 0013 has leads without an email
/// domain kind: the next start fills them in, and the counts follow.
async fn leads_stored_before_the_email_kind_existed_get_it_at_startup(app: TestApp) {
    let admin = app.signup("backfill").await;
    history(&app, &admin).await;
    app.scalar("update leads set email_domain_kind = null where email is not null returning cast(0 as bigint)")
        .await;
    let missing = "select failures * 1000 + successes from lead_outcome_counts
                   where field = 'email_domain_kind' and value = ''";
    assert_eq!(
        app.scalar(missing).await,
        12_008,
        "every closed lead now counts as without a kind"
    );
    // Another server starting on the same database.
    pipewise_tests::serve(pipewise_api::Config::for_database(app.db.url())).await;
    assert_eq!(
        app.scalar("select count(*) from leads where email is not null and email_domain_kind is null")
            .await,
        0
    );
    assert_eq!(app.scalar(missing).await, 0);
    let free = "select failures from lead_outcome_counts where field = 'email_domain_kind' and value = 'free'";
    let business = "select successes * 1000 + failures from lead_outcome_counts
                    where field = 'email_domain_kind' and value = 'business'";
    assert_eq!((app.scalar(free).await, app.scalar(business).await), (6, 8_006));
}

const EPS: f64 = 1e-12;

fn close(actual: &Value, expected: f64) {
    let actual = actual.as_f64().unwrap_or_else(|| panic!("a number: {actual}"));
    assert!((actual - expected).abs() < EPS, "{actual} != {expected}");
}

/// A lead of the history: 30 employees (band 11-50) in Germany.
async fn lead(
    app: &TestApp,
    session: &Session,
    n: usize,
    source: &str,
    industry: Option<&str>,
    free_mail: bool,
) -> Value {
    let domain = if free_mail { "gmail.com" } else { "acme.example" };
    let mut body = json!({"first_name": "Lead", "last_name": format!("No{n}"), "email": format!("lead{n}@{domain}"),
                          "company_name": format!("Company {n}"), "employee_count": 30, "country": "DE",
                          "source": source});
    if let Some(industry) = industry {
        body["industry"] = json!(industry);
    }
    create_lead(app, session, body).await
}

async fn convert(app: &TestApp, session: &Session, lead: &Value) {
    let response = app
        .post(
            &format!("{}/convert", lead_path(lead)),
            &session.access_token,
            &json!({}),
        )
        .send()
        .await
        .unwrap();
    expect_status(response, StatusCode::OK).await;
}

async fn patch(app: &TestApp, session: &Session, lead: &Value, body: Value) -> Value {
    let response = app
        .patch(&lead_path(lead), &session.access_token, &body)
        .send()
        .await
        .unwrap();
    expect_status(response, StatusCode::OK).await
}

async fn disqualify(app: &TestApp, session: &Session, lead: &Value) -> Value {
    patch(
        app,
        session,
        lead,
        json!({"status": "unqualified", "unqualified_reason": "no budget"}),
    )
    .await
}

async fn get(app: &TestApp, session: &Session, path: &str) -> Value {
    expect_status(
        app.get(path, &session.access_token).send().await.unwrap(),
        StatusCode::OK,
    )
    .await
}

async fn prediction(app: &TestApp, session: &Session, lead: &Value) -> Value {
    get(app, session, &format!("{}/prediction", lead_path(lead))).await
}

/// 8 converted leads (6 from the web form, 2 from events; all in Software,
/// all from business addresses) and 12 unqualified (2 web form, 10 events;
/// no industry; 6 from free mail). Returns the unqualified ones.
async fn history(app: &TestApp, admin: &Session) -> Vec<Value> {
    for i in 0..8 {
        let source = if i < 6 { "web_form" } else { "event" };
        let l = lead(app, admin, i, source, Some("Software"), false).await;
        convert(app, admin, &l).await;
    }
    let mut lost = Vec::new();
    for i in 0..12 {
        let source = if i < 2 { "web_form" } else { "event" };
        let l = lead(app, admin, 100 + i, source, None, i < 6).await;
        lost.push(disqualify(app, admin, &l).await);
    }
    lost
}

async fn totals(app: &TestApp) -> (i64, i64) {
    let s = app
        .scalar("select successes from lead_outcome_counts where field = 'all'")
        .await;
    let u = app
        .scalar("select failures from lead_outcome_counts where field = 'all'")
        .await;
    (s, u)
}

/// The probability and ratios of the domain's own unit test, now over HTTP.
async fn a_history_of_closed_leads_gives_the_written_out_prediction(app: TestApp) {
    let admin = app.signup("predict").await;
    let early = lead(&app, &admin, 900, "web_form", Some("Software"), false).await;
    assert!(early["predicted_conversion"].is_null(), "no closed lead yet");
    let none = prediction(&app, &admin, &early).await;
    assert!(none["predicted_conversion"].is_null() && none["prior"].is_null());
    assert_eq!(
        (none["learned_from"].as_u64(), none["factors"].as_array().unwrap().len()),
        (Some(0), 0)
    );

    history(&app, &admin).await;
    assert_eq!(totals(&app).await, (8, 12));
    let p = prediction(&app, &admin, &early).await;
    // S = 8, U = 12: prior 0.4.
    close(&p["prior"], 0.4);
    assert_eq!(
        (
            p["learned_from"].as_u64(),
            p["converted"].as_u64(),
            p["unqualified"].as_u64()
        ),
        (Some(20), Some(8), Some(12))
    );
    assert_eq!(
        (p["minimum_closed_leads"].as_u64(), p["smoothing"].as_f64()),
        (Some(20), Some(0.1))
    );
    let factor = |field: &str| {
        p["factors"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["field"] == field)
            .unwrap()
            .clone()
    };
    // source web_form: s = 6 + 0.1, u = 2 + 0.1 → (6.1/8) / (2.1/12)
    let source = factor("source");
    assert_eq!(
        (
            source["value"].as_str(),
            source["converted"].as_u64(),
            source["unqualified"].as_u64()
        ),
        (Some("web_form"), Some(6), Some(2))
    );
    close(&source["likelihood_ratio"], (6.1 / 8.0) / (2.1 / 12.0));
    // industry Software: s = 8.1, u = 0.1 → 121.5
    close(&factor("industry")["likelihood_ratio"], 121.5);
    // band 11-50 and country DE: every closed lead → (8.1/8) / (12.1/12)
    assert_eq!(factor("employee_band")["value"], "11-50");
    close(
        &factor("employee_band")["likelihood_ratio"],
        (8.1 / 8.0) / (12.1 / 12.0),
    );
    close(&factor("country")["likelihood_ratio"], (8.1 / 8.0) / (12.1 / 12.0));
    // business mail: s = 8.1, u = 6.1
    assert_eq!(factor("email_domain_kind")["value"], "business");
    close(
        &factor("email_domain_kind")["likelihood_ratio"],
        (8.1 / 8.0) / (6.1 / 12.0),
    );
    // P = 0.4 Π s/S ÷ (0.4 Π s/S + 0.6 Π u/U)
    let s = 0.4 * (6.1 / 8.0) * (8.1 / 8.0) * (8.1 / 8.0) * (8.1 / 8.0) * (8.1 / 8.0);
    let u = 0.6 * (2.1 / 12.0) * (0.1 / 12.0) * (12.1 / 12.0) * (12.1 / 12.0) * (6.1 / 12.0);
    close(&p["predicted_conversion"], s / (s + u));
    // The most influential field first: industry, then the source.
    let order: Vec<&str> = p["factors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["field"].as_str().unwrap())
        .collect();
    assert_eq!(order[..2], ["industry", "source"]);
    // The lead itself carries the very same number.
    let read = get(&app, &admin, &lead_path(&early)).await;
    assert_eq!(read["predicted_conversion"], p["predicted_conversion"]);

    // A value never seen, and a missing one: (0.1/8) / (0.1/12) = 1.5 for
    // a new source; no industry was seen on 12 unqualified leads.
    let odd = create_lead(&app, &admin, json!({"last_name": "Odd", "source": "partner"})).await;
    let p = prediction(&app, &admin, &odd).await;
    let factor = |field: &str| {
        p["factors"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["field"] == field)
            .unwrap()
            .clone()
    };
    close(&factor("source")["likelihood_ratio"], 1.5);
    assert!(factor("industry")["value"].is_null());
    close(&factor("industry")["likelihood_ratio"], (0.1 / 8.0) / (12.1 / 12.0));
    assert!(factor("email_domain_kind")["value"].is_null());
    close(
        &factor("email_domain_kind")["likelihood_ratio"],
        (0.1 / 8.0) / (0.1 / 12.0),
    );
    let response = app
        .get(
            "/api/v1/leads/00000000-0000-7000-8000-000000000000/prediction",
            &admin.access_token,
        )
        .send()
        .await
        .unwrap();
    expect_problem(response, StatusCode::NOT_FOUND).await;
}

async fn the_tables_follow_every_close_reopen_trash_and_edit(app: TestApp) {
    let admin = app.signup("tables").await;
    let lost = history(&app, &admin).await;
    assert_eq!(totals(&app).await, (8, 12));
    let probe = lead(&app, &admin, 900, "web_form", Some("Software"), false).await;
    assert!(!prediction(&app, &admin, &probe).await["predicted_conversion"].is_null());

    // Reopened: 19 closed leads, too few to learn from.
    patch(&app, &admin, &lost[0], json!({"status": "contacted"})).await;
    assert_eq!(totals(&app).await, (8, 11));
    assert!(get(&app, &admin, &lead_path(&probe)).await["predicted_conversion"].is_null());
    assert_eq!(
        app.scalar("select count(*) from leads where status = 'contacted' and closed_at is not null")
            .await,
        0,
        "an open lead has no closing time"
    );
    disqualify(&app, &admin, &lost[0]).await;
    assert_eq!(totals(&app).await, (8, 12));

    // An edit of a closed lead moves its counts from one value to another.
    patch(&app, &admin, &lost[1], json!({"source": "partner"})).await;
    let web = "select failures from lead_outcome_counts where field = 'source' and value = 'web_form'";
    let partner = "select failures from lead_outcome_counts where field = 'source' and value = 'partner'";
    assert_eq!((app.scalar(web).await, app.scalar(partner).await), (1, 1));

    // Trashed leads are not learned from; restored ones are again.
    let response = app
        .delete(&lead_path(&lost[2]), &admin.access_token)
        .send()
        .await
        .unwrap();
    expect_status(response, StatusCode::NO_CONTENT).await;
    assert_eq!(totals(&app).await, (8, 11));
    let response = app
        .post(
            &format!("{}/restore", lead_path(&lost[2])),
            &admin.access_token,
            &json!({}),
        )
        .send()
        .await
        .unwrap();
    expect_status(response, StatusCode::OK).await;
    assert_eq!(totals(&app).await, (8, 12));

    // The kept counts always equal a recount of the leads.
    let recount = "select count(*) from lead_outcome_counts c where c.field = 'source' and c.failures <> (
        select count(*) from leads l where l.organization_id = c.organization_id and l.deleted_at is null
        and l.status = 'unqualified' and coalesce(l.source, '') = c.value)";
    assert_eq!(app.scalar(recount).await, 0);
    assert_eq!(
        app.scalar("select count(*) from lead_outcome_counts where successes < 0 or failures < 0")
            .await,
        0
    );
}

async fn twenty_parallel_disqualifications_are_all_counted(app: TestApp) {
    let admin = app.signup("parallel").await;
    let mut leads = Vec::new();
    for i in 0..20 {
        leads.push(lead(&app, &admin, i, "event", None, i % 2 == 0).await);
    }
    let body = json!({"status": "unqualified", "unqualified_reason": "no budget"});
    let requests = leads
        .iter()
        .map(|l| app.patch(&lead_path(l), &admin.access_token, &body))
        .collect();
    assert!(statuses_in_parallel(requests)
        .await
        .iter()
        .all(|s| *s == StatusCode::OK));
    assert_eq!(totals(&app).await, (0, 20));
    let free = "select failures from lead_outcome_counts where field = 'email_domain_kind' and value = 'free'";
    assert_eq!(app.scalar(free).await, 10);
}

async fn rescore_rebuilds_the_tables_from_the_leads(app: TestApp) {
    let admin = app.signup("rebuild").await;
    history(&app, &admin).await;
    let probe = lead(&app, &admin, 900, "web_form", Some("Software"), false).await;
    let before = prediction(&app, &admin, &probe).await;
    // Counts that drifted (say, a restore from an older backup) …
    app.scalar(
        "update lead_outcome_counts set successes = 1000 where field in ('all', 'industry') returning successes",
    )
    .await;
    app.scalar("delete from lead_outcome_counts where field = 'country' returning successes")
        .await;
    assert_ne!(
        prediction(&app, &admin, &probe).await["predicted_conversion"],
        before["predicted_conversion"]
    );
    // … are recounted by a rescore.
    let response = app
        .post("/api/v1/scoring-rules/rescore", &admin.access_token, &json!({}))
        .send()
        .await
        .unwrap();
    let done = expect_status(response, StatusCode::OK).await;
    assert_eq!(done["closed_leads"], 20);
    assert_eq!(totals(&app).await, (8, 12));
    assert_eq!(prediction(&app, &admin, &probe).await, before);
}

async fn the_lead_list_sorts_and_filters_by_predicted_conversion(app: TestApp) {
    let admin = app.signup("sorted").await;
    // Without a model the sort is by id, and a filter matches nothing.
    let first = lead(&app, &admin, 900, "web_form", Some("Software"), false).await;
    let list = get(&app, &admin, "/api/v1/leads?sort=-predicted_conversion&status=new").await;
    assert_eq!(list["data"][0]["id"], first["id"]);
    let list = get(&app, &admin, "/api/v1/leads?predicted_conversion_min=0").await;
    assert_eq!(list["data"].as_array().unwrap().len(), 0);

    history(&app, &admin).await;
    lead(&app, &admin, 901, "event", None, true).await;
    lead(&app, &admin, 902, "event", Some("Software"), false).await;
    lead(&app, &admin, 903, "web_form", None, false).await;
    lead(&app, &admin, 904, "partner", Some("Retail"), true).await;
    // Page through the open leads one at a time, highest first.
    let mut seen: Vec<(String, f64)> = Vec::new();
    let mut path = "/api/v1/leads?sort=-predicted_conversion&status=new&limit=2".to_owned();
    loop {
        let page = get(&app, &admin, &path).await;
        for l in page["data"].as_array().unwrap() {
            let explained = prediction(&app, &admin, l).await;
            assert_eq!(l["predicted_conversion"], explained["predicted_conversion"]);
            seen.push((
                l["id"].as_str().unwrap().to_owned(),
                l["predicted_conversion"].as_f64().unwrap(),
            ));
        }
        match page["next_cursor"].as_str() {
            Some(cursor) => {
                path = format!("/api/v1/leads?sort=-predicted_conversion&status=new&limit=2&cursor={cursor}")
            }
            None => break,
        }
    }
    assert_eq!(seen.len(), 5, "every open lead once");
    assert!(seen.windows(2).all(|w| w[0].1 >= w[1].1), "{seen:?}");
    assert_eq!(
        seen[0].0,
        first["id"].as_str().unwrap(),
        "web form, Software, business mail leads"
    );
    let ascending = get(
        &app,
        &admin,
        "/api/v1/leads?sort=predicted_conversion&status=new&limit=1",
    )
    .await;
    assert_eq!(ascending["data"][0]["id"].as_str(), Some(seen[4].0.as_str()));

    // The filter bounds are inclusive and read the same number.
    let middle = seen[2].1;
    let list = get(
        &app,
        &admin,
        &format!("/api/v1/leads?status=new&predicted_conversion_min={middle}"),
    )
    .await;
    assert_eq!(list["data"].as_array().unwrap().len(), 3);
    let list = get(
        &app,
        &admin,
        &format!("/api/v1/leads?status=new&predicted_conversion_max={middle}"),
    )
    .await;
    assert_eq!(list["data"].as_array().unwrap().len(), 3);

    for bad in ["predicted_conversion_min=1.5", "predicted_conversion_max=-0.1"] {
        let response = app
            .get(&format!("/api/v1/leads?{bad}"), &admin.access_token)
            .send()
            .await
            .unwrap();
        let problem = expect_problem(response, StatusCode::BAD_REQUEST).await;
        assert!(
            problem["detail"]
                .as_str()
                .unwrap()
                .contains(bad.split('=').next().unwrap()),
            "{problem}"
        );
    }
    let response = app
        .get("/api/v1/leads?sort=-predicted", &admin.access_token)
        .send()
        .await
        .unwrap();
    expect_problem(response, StatusCode::BAD_REQUEST).await;
}

async fn a_rep_sees_predictions_of_their_own_leads_only(app: TestApp) {
    let admin = app.signup("reps").await;
    history(&app, &admin).await;
    let rep = app.add_user(&admin, "rep").await;
    let theirs = lead(&app, &rep, 900, "web_form", Some("Software"), false).await;
    let others = lead(&app, &admin, 901, "web_form", Some("Software"), false).await;
    let p = prediction(&app, &rep, &theirs).await;
    assert_eq!(p["learned_from"], 20, "learned from the whole organization's history");
    assert!(p["predicted_conversion"].as_f64().unwrap() > 0.99);
    let response = app
        .get(&format!("{}/prediction", lead_path(&others)), &rep.access_token)
        .send()
        .await
        .unwrap();
    expect_problem(response, StatusCode::NOT_FOUND).await;
    let list = get(&app, &rep, "/api/v1/leads?sort=-predicted_conversion").await;
    let ids: Vec<&str> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [theirs["id"].as_str().unwrap()]);
}

/// Naive Bayes written out: the leave-one-out probability of a lead with
/// `values` (one per field) that ended as `converted`, from the counts of
/// every closed lead. Counts are (successes, failures) per value.
fn left_out(values: &[(f64, f64)], total: (f64, f64), converted: bool) -> f64 {
    let own = if converted { (1.0, 0.0) } else { (0.0, 1.0) };
    let (s_all, u_all) = (total.0 - own.0, total.1 - own.1);
    let mut s = s_all / (s_all + u_all);
    let mut u = u_all / (s_all + u_all);
    for (vs, vu) in values {
        s *= (vs - own.0 + 0.1) / s_all;
        u *= (vu - own.1 + 0.1) / u_all;
    }
    s / (s + u)
}

async fn the_prediction_report_scores_each_lead_without_its_own_outcome(app: TestApp) {
    let admin = app.signup("report").await;
    history(&app, &admin).await;
    // A 21st closed lead, so that each left out still leaves 20.
    let extra = lead(&app, &admin, 200, "partner", None, true).await;
    disqualify(&app, &admin, &extra).await;
    let report = get(
        &app,
        &admin,
        "/api/v1/reports/lead-prediction?from=2025-01-01&to=2030-01-01",
    )
    .await;
    // Counts per value over all 21: S = 8, U = 13. Band and country are
    // shared by all (8, 13).
    let total = (8.0, 13.0);
    let everyone = (8.0, 13.0);
    // The converted: web_form (6, 2) or event (2, 10); Software (8, 0); business (8, 6).
    let mut outcomes: Vec<(f64, bool)> = Vec::new();
    for i in 0..8 {
        let source = if i < 6 { (6.0, 2.0) } else { (2.0, 10.0) };
        outcomes.push((
            left_out(&[source, (8.0, 0.0), everyone, everyone, (8.0, 6.0)], total, true),
            true,
        ));
    }
    // The unqualified: no industry (0, 13); free mail (0, 7) for 6 of them.
    for i in 0..12 {
        let source = if i < 2 { (6.0, 2.0) } else { (2.0, 10.0) };
        let kind = if i < 6 { (0.0, 7.0) } else { (8.0, 6.0) };
        outcomes.push((
            left_out(&[source, (0.0, 13.0), everyone, everyone, kind], total, false),
            false,
        ));
    }
    outcomes.push((
        left_out(&[(0.0, 1.0), (0.0, 13.0), everyone, everyone, (0.0, 7.0)], total, false),
        false,
    ));
    let brier: f64 = outcomes
        .iter()
        .map(|(p, y)| (p - if *y { 1.0 } else { 0.0 }).powi(2))
        .sum::<f64>()
        / 21.0;
    assert_eq!(
        (report["leads"].as_u64(), report["converted"].as_u64()),
        (Some(21), Some(8))
    );
    assert_eq!(report["unpredicted_leads"], 0);
    close(&report["conversion_rate"], 8.0 / 21.0);
    assert!(
        (report["brier_score"].as_f64().unwrap() - brier).abs() < 1e-9,
        "{} vs {brier}",
        report["brier_score"]
    );
    let reference = (8.0 / 21.0) * (13.0 / 21.0);
    assert!((report["reference_brier_score"].as_f64().unwrap() - reference).abs() < 1e-9);
    assert!((report["brier_skill_score"].as_f64().unwrap() - (1.0 - brier / reference)).abs() < 1e-9);
    assert!(
        report["brier_skill_score"].as_f64().unwrap() > 0.5,
        "the history separates well"
    );
    let deciles = report["deciles"].as_array().unwrap();
    assert_eq!(deciles.len(), 10);
    for (i, d) in deciles.iter().enumerate() {
        let inside: Vec<&(f64, bool)> = outcomes
            .iter()
            .filter(|(p, _)| ((p * 10.0) as usize).min(9) == i)
            .collect();
        assert_eq!(d["leads"].as_u64(), Some(inside.len() as u64), "decile {i}");
        assert_eq!(
            d["converted"].as_u64(),
            Some(inside.iter().filter(|(_, y)| *y).count() as u64)
        );
    }
    assert_eq!(deciles[0]["key"], "0.0-0.1");

    // Too few other closed leads: every lead is left unpredicted.
    let other = app.signup("few").await;
    for i in 0..3 {
        let l = lead(&app, &other, 300 + i, "event", None, false).await;
        disqualify(&app, &other, &l).await;
    }
    let few = get(
        &app,
        &other,
        "/api/v1/reports/lead-prediction?from=2025-01-01&to=2030-01-01",
    )
    .await;
    assert_eq!(
        (few["leads"].as_u64(), few["unpredicted_leads"].as_u64()),
        (Some(0), Some(3))
    );
    assert!(few["brier_score"].is_null() && few["brier_skill_score"].is_null());
    let csv = app
        .get(
            "/api/v1/reports/lead-prediction?from=2025-01-01&to=2030-01-01&format=csv",
            &admin.access_token,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(csv.status(), StatusCode::OK);
    let text = csv.text().await.unwrap();
    assert!(
        text.contains("key,from,to,leads,converted,mean_prediction,conversion_rate,brier_score"),
        "{text}"
    );
}
