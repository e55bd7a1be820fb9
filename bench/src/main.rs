//! Measures Pipewise over HTTP against a database seeded with many records.
//! Run it in release mode, one backend and one scenario at a time:
//!
//! ```sh
//! cargo run --release -p pipewise-bench -- --database-url sqlite:///tmp/bench.db --deals 1000000
//! cargo run --release -p pipewise-bench -- --database-url postgres://postgres@127.0.0.1/pipewise_bench --deals 1000000
//! cargo run --release -p pipewise-bench -- --scenario leads --database-url sqlite:///tmp/leads.db --leads 100000
//! cargo run --release -p pipewise-bench -- --scenario leads --lists-only --database-url sqlite:///tmp/leads1m.db --leads 1000000
//! cargo run --release -p pipewise-bench -- --scenario reports --database-url sqlite:///tmp/reports.db --deals 1000000 --samples 10
//! cargo run --release -p pipewise-bench -- --scenario data --database-url sqlite:///tmp/data.db --leads 1000000
//! cargo run --release -p pipewise-bench -- --scenario search --database-url sqlite:///tmp/search.db --leads 1000000
//! ```
//!
//! The database must be new (it is created for SQLite; create it first for
//! PostgreSQL). Bulk rows are inserted with SQL, the measured calls go
//! through a real server on a local port, one request at a time.

use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};
use pipewise_api::{Application, Config};
use serde_json::{json, Value};
use uuid::Uuid;

mod data;
mod leads;
mod reports;

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Scenario {
    /// Deal create, get, move and lists.
    Deals,
    /// Rescoring every lead, and public form submissions.
    Leads,
    /// Every report over `pipewise demo` data, for a month and a year.
    Reports,
    /// CSV export of every lead, and imports of 100,000 lead rows.
    Data,
    /// Searches only, over seeded leads (the database is kept for `EXPLAIN`).
    Search,
}

#[derive(Parser)]
struct Args {
    #[arg(long)]
    database_url: String,
    #[arg(long, value_enum, default_value_t = Scenario::Deals)]
    scenario: Scenario,
    /// Leads to seed for the leads scenario.
    #[arg(long, default_value_t = 100_000)]
    leads: i64,
    /// Deals to seed before measuring.
    #[arg(long, default_value_t = 1_000_000)]
    deals: i64,
    /// Requests per measured call.
    #[arg(long, default_value_t = 300)]
    samples: usize,
    /// Years of demo history for the reports scenario (the deals spread over them).
    #[arg(long, default_value_t = 1)]
    years: u32,
    /// Leads scenario: only the table rebuild and the lists (for a million leads).
    #[arg(long)]
    lists_only: bool,
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    if args.scenario == Scenario::Reports {
        let deals = u64::try_from(args.deals).expect("a positive number of deals");
        reports::run(&args.database_url, deals, args.years, args.samples).await;
        return;
    }
    let mut config = Config::for_database(&args.database_url);
    config.workers = Some(2);
    // The bench measures throughput, not the abuse guard.
    config.form_rate_per_form = u32::MAX;
    config.form_rate_per_client = u32::MAX;
    let app = Application::build(config).await.expect("the server starts");
    let base = format!("http://127.0.0.1:{}/api/v1", app.port());
    tokio::spawn(app.run_until_stopped());
    let http = reqwest::Client::new();

    let signup: Value = http
        .post(format!("{base}/auth/signup"))
        .json(&json!({"organization_name": "Bench", "name": "Bench", "email": format!("bench-{}@example.com", Uuid::new_v4()), "password": "benchmark password"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = signup["access_token"].as_str().expect("signed up").to_owned();
    let owner: Uuid = signup["user"]["id"].as_str().unwrap().parse().unwrap();
    let org: Uuid = signup["user"]["organization_id"].as_str().unwrap().parse().unwrap();
    if matches!(args.scenario, Scenario::Leads | Scenario::Data | Scenario::Search) {
        let bench = leads::Bench {
            http: &http,
            base: &base,
            token: &token,
            url: &args.database_url,
            org,
            owner,
        };
        if args.scenario == Scenario::Data {
            return data::run(&bench, args.leads).await;
        }
        if args.scenario == Scenario::Search {
            bench.seed(args.leads).await;
            return data::search(&bench, args.leads).await;
        }
        return bench.run(args.leads, args.samples, args.lists_only).await;
    }
    let pipelines: Value = http
        .get(format!("{base}/pipelines"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let pipeline = &pipelines["data"][0];
    let pipeline_id: Uuid = pipeline["id"].as_str().unwrap().parse().unwrap();
    let stages: Vec<Uuid> = pipeline["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap().parse().unwrap())
        .collect();

    let started = Instant::now();
    seed(&args.database_url, args.deals, org, owner, pipeline_id, &stages).await;
    println!(
        "seeded {} deals in {:.1} s",
        args.deals,
        started.elapsed().as_secs_f64()
    );

    let mut created = Vec::new();
    let create = measure(args.samples, |i| {
        let req = http
            .post(format!("{base}/deals"))
            .bearer_auth(&token)
            .json(&json!({"title": format!("Bench deal {i}"), "amount": "1250.00", "pipeline_id": pipeline_id}));
        async move { req.send().await.unwrap().json::<Value>().await.unwrap() }
    })
    .await;
    created.extend(create.1.iter().map(|d| d["id"].as_str().unwrap().to_owned()));
    let get = measure(args.samples, |i| {
        let req = http
            .get(format!("{base}/deals/{}", created[i % created.len()]))
            .bearer_auth(&token);
        async move { assert!(req.send().await.unwrap().status().is_success()) }
    })
    .await;
    let target = stages[2];
    let moved = measure(args.samples, |i| {
        let req = http
            .post(format!("{base}/deals/{}/move", created[i % created.len()]))
            .bearer_auth(&token)
            .json(&json!({"stage_id": target}));
        async move { assert!(req.send().await.unwrap().status().is_success()) }
    })
    .await;
    let lists = [
        (
            "stage filter, newest first",
            format!("stage_id={}&sort=-created_at", stages[1]),
        ),
        (
            "owner + status, by amount",
            format!("owner_id={owner}&status=open&sort=-amount"),
        ),
        ("title prefix", "q=deal%2012&sort=title".to_owned()),
        (
            "amount range, by close date",
            "amount_min=1000&amount_max=2000&sort=expected_close_date".to_owned(),
        ),
    ];
    let mut list_results = Vec::new();
    for (label, query) in &lists {
        let result = measure(args.samples, |_| {
            let req = http.get(format!("{base}/deals?limit=50&{query}")).bearer_auth(&token);
            async move {
                let body: Value = req.send().await.unwrap().json().await.unwrap();
                assert!(body["data"].is_array(), "{body}");
            }
        })
        .await;
        list_results.push((format!("list 50, {label}"), result.0));
    }

    println!("\n| call | p50 ms | p95 ms | max ms |\n| --- | --- | --- | --- |");
    for (label, stats) in [("create deal", create.0), ("get deal", get.0), ("move deal", moved.0)]
        .into_iter()
        .chain(list_results.iter().map(|(l, s)| (l.as_str(), *s)))
    {
        println!("| {label} | {:.2} | {:.2} | {:.2} |", stats.0, stats.1, stats.2);
    }
}

pub(crate) type Stats = (f64, f64, f64);

pub(crate) async fn measure<F, Fut, T>(samples: usize, mut call: F) -> (Stats, Vec<T>)
where
    F: FnMut(usize) -> Fut,
    Fut: std::future::Future<Output = T>,
{
    let mut times: Vec<Duration> = Vec::with_capacity(samples);
    let mut outputs = Vec::with_capacity(samples);
    for i in 0..samples {
        let start = Instant::now();
        outputs.push(call(i).await);
        times.push(start.elapsed());
    }
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let p = |q: f64| ms(times[((times.len() as f64 * q).ceil() as usize).clamp(1, times.len()) - 1]);
    ((p(0.5), p(0.95), ms(*times.last().unwrap())), outputs)
}

/// Bulk-inserts `n` deals (spread over stages, statuses, amounts, close
/// dates, three years of creation times) with their `created` events.
async fn seed(url: &str, n: i64, org: Uuid, owner: Uuid, pipeline: Uuid, stages: &[Uuid]) {
    let stage_case = |col: &str| {
        let arms: String = stages
            .iter()
            .enumerate()
            .map(|(i, s)| format!(" when {i} then {}", literal(url, *s)))
            .collect();
        format!("case {col} % {}{arms} end", stages.len())
    };
    if url.starts_with("sqlite:") {
        let pool = sqlx::SqlitePool::connect(url).await.unwrap();
        let time = |secs: &str| format!("strftime('%Y-%m-%dT%H:%M:%S', 1700000000 + {secs}, 'unixepoch') || '+00:00'");
        let sql = format!(
            "with recursive n(i) as (select 1 union all select i + 1 from n where i < {n})
             insert into deals (id, organization_id, pipeline_id, stage_id, title, title_key, amount_minor, currency, status,
                 owner_id, source, expected_close_date, forecast_category, version, created_at, updated_at, stage_entered_at)
             select randomblob(16), {org}, {pipeline}, {stage}, 'Deal ' || i, 'deal ' || i, (i * 7919) % 10000000, 'USD',
                 case i % 10 when 0 then 'won' when 1 then 'lost' else 'open' end, {owner},
                 case i % 3 when 0 then 'referral' when 1 then 'web' else 'partner' end,
                 case when i % 5 = 0 then null else date(1700000000 + (i % 1000) * 86400, 'unixepoch') end,
                 'pipeline', 1, {created}, {created}, {created}
             from n",
            org = literal(url, org),
            pipeline = literal(url, pipeline),
            owner = literal(url, owner),
            stage = stage_case("i"),
            created = time("(i * 94)"),
        );
        sqlx::query(&sql).execute(&pool).await.unwrap();
        sqlx::query(
            "insert into deal_events (id, organization_id, deal_id, kind, at, pipeline_id, stage_id, created_at)
             select randomblob(16), organization_id, id, 'created', created_at, pipeline_id, stage_id, created_at from deals",
        )
        .execute(&pool)
        .await
        .unwrap();
        sqlx::query("analyze").execute(&pool).await.unwrap();
    } else {
        let pool = sqlx::PgPool::connect(url).await.unwrap();
        let sql = format!(
            "insert into deals (id, organization_id, pipeline_id, stage_id, title, title_key, amount_minor, currency, status,
                 owner_id, source, expected_close_date, forecast_category, version, created_at, updated_at, stage_entered_at)
             select gen_random_uuid(), {org}, {pipeline}, {stage}, 'Deal ' || i, 'deal ' || i, (i * 7919) % 10000000, 'USD',
                 case i % 10 when 0 then 'won' when 1 then 'lost' else 'open' end, {owner},
                 case i % 3 when 0 then 'referral' when 1 then 'web' else 'partner' end,
                 case when i % 5 = 0 then null else date '2023-11-14' + (i % 1000)::int end,
                 'pipeline', 1, to_timestamp(1700000000 + i * 94), to_timestamp(1700000000 + i * 94), to_timestamp(1700000000 + i * 94)
             from generate_series(1, {n}::bigint) as i",
            org = literal(url, org),
            pipeline = literal(url, pipeline),
            owner = literal(url, owner),
            stage = stage_case("i"),
        );
        sqlx::query(&sql).execute(&pool).await.unwrap();
        sqlx::query(
            "insert into deal_events (id, organization_id, deal_id, kind, at, pipeline_id, stage_id, created_at)
             select gen_random_uuid(), organization_id, id, 'created', created_at, pipeline_id, stage_id, created_at from deals",
        )
        .execute(&pool)
        .await
        .unwrap();
        sqlx::query("analyze").execute(&pool).await.unwrap();
    }
}

/// A UUID as an SQL literal of the backend's storage type.
pub(crate) fn literal(url: &str, id: Uuid) -> String {
    if url.starts_with("sqlite:") {
        format!("x'{}'", id.simple())
    } else {
        format!("'{id}'::uuid")
    }
}
