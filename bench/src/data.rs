//! The data scenario: exporting every lead of a large organization as CSV
//! (streamed: the process's peak memory is read before and after), and
//! importing files of 100,000 leads into it, in each mode.

use std::time::Instant;

use futures_util::StreamExt;
use serde_json::Value;

use crate::leads::Bench;

/// The peak resident memory of this process (server and client), in MiB.
fn peak_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

/// A file of `n` new leads, the `tag` in each email.
fn file(n: usize, tag: &str) -> String {
    let mut csv = String::from("first_name,last_name,email,company_name,industry,employee_count,country,source\n");
    for i in 0..n {
        csv.push_str(&format!(
            "Imported,Lead {i},{tag}{i}@company{}.example,Company {},Software,{},DE,import\n",
            i % 1000,
            i % 1000,
            (i * 37) % 5000
        ));
    }
    csv
}

pub(crate) async fn run(bench: &Bench<'_>, leads: i64) {
    let started = Instant::now();
    bench.seed(leads).await;
    println!("seeded {leads} leads in {:.1} s", started.elapsed().as_secs_f64());

    println!("\n| export of every lead | seconds | rows | MiB | peak memory before / after, MiB |\n| --- | --- | --- | --- | --- |");
    for _ in 0..2 {
        let before = peak_mib();
        let started = Instant::now();
        let response = bench
            .http
            .get(format!("{}/exports/leads", bench.base))
            .bearer_auth(bench.token)
            .send()
            .await
            .unwrap();
        assert!(response.status().is_success());
        let (mut bytes, mut lines) = (0usize, 0usize);
        let mut body = response.bytes_stream();
        while let Some(chunk) = body.next().await {
            let chunk = chunk.unwrap();
            bytes += chunk.len();
            lines += chunk.iter().filter(|b| **b == b'\n').count();
        }
        println!(
            "| {leads} leads | {:.2} | {} | {:.0} | {:.0} / {:.0} |",
            started.elapsed().as_secs_f64(),
            lines - 1,
            bytes as f64 / 1048576.0,
            before,
            peak_mib()
        );
    }

    search(bench, leads).await;

    println!("\n| import of 100,000 lead rows | seconds | created | updated | skipped | failed |\n| --- | --- | --- | --- | --- | --- |");
    let new = file(100_000, "new");
    println!("(a file of {:.1} MiB)", new.len() as f64 / 1048576.0);
    for (label, query, body) in [
        ("validate (dry run)", "mode=validate", new.clone()),
        ("atomic, all new", "mode=atomic", new.clone()),
        ("again, dedupe=skip (all matched by email)", "dedupe=skip", new.clone()),
        ("again, dedupe=update (all matched, unchanged)", "dedupe=update", new),
        ("partial, all new", "mode=partial", file(100_000, "more")),
    ] {
        let started = Instant::now();
        let response = bench
            .http
            .post(format!("{}/imports?resource=leads&{query}", bench.base))
            .bearer_auth(bench.token)
            .header("content-type", "text/csv")
            .body(body)
            .send()
            .await
            .unwrap();
        let status = response.status();
        let report: Value = response.json().await.unwrap();
        assert!(status.is_success(), "{report}");
        println!(
            "| {label} | {:.2} | {} | {} | {} | {} |",
            started.elapsed().as_secs_f64(),
            report["created"],
            report["updated"],
            report["skipped"],
            report["failed"]
        );
    }
}

/// Times `GET /search` for queries from selective to matching every lead.
pub(crate) async fn search(bench: &Bench<'_>, leads: i64) {
    println!("\n| search over {leads} leads (20 hits) | matches | p50 ms | p95 ms | max ms |\n| --- | --- | --- | --- | --- |");
    for q in [
        "no 424242",
        "lead424242",
        "no 4242",
        "company 17",
        "company 171 no 9",
        "lead no",
    ] {
        let search = format!("{}/search?q={}", bench.base, q.replace(' ', "%20"));
        let url = format!("{search}&limit=20");
        let count: usize = {
            let body: Value = bench
                .http
                .get(format!("{search}&limit=200"))
                .bearer_auth(bench.token)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            body["data"].as_array().map_or(0, Vec::len)
        };
        let ((p50, p95, max), _) = crate::measure(30, |_| {
            let req = bench.http.get(&url).bearer_auth(bench.token);
            async move { assert!(req.send().await.unwrap().status().is_success()) }
        })
        .await;
        let matches = if count >= 200 {
            "200+".to_owned()
        } else {
            count.to_string()
        };
        println!("| `{q}` | {matches} | {p50:.1} | {p95:.1} | {max:.1} |");
    }
}
