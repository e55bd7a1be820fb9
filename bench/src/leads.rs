//! The leads scenario: rescoring every lead of an organization after its
//! rules changed, rebuilding the frequency tables of predicted conversion,
//! lists sorted by it, and the rate at which a public capture form takes
//! submissions.

use std::time::Instant;

use serde_json::{json, Value};
use uuid::Uuid;

use crate::{literal, measure};

pub(crate) struct Bench<'a> {
    pub http: &'a reqwest::Client,
    pub base: &'a str,
    pub token: &'a str,
    pub url: &'a str,
    pub org: Uuid,
    pub owner: Uuid,
}

impl Bench<'_> {
    pub(crate) async fn run(&self, leads: i64, samples: usize, lists_only: bool) {
        let started = Instant::now();
        self.seed(leads).await;
        println!("seeded {leads} leads in {:.1} s", started.elapsed().as_secs_f64());
        self.rebuild(leads).await;
        self.lists(samples.min(50)).await;
        if lists_only {
            return;
        }

        let rules = [
            json!({"name": "Business email", "field": "email_domain_kind", "operator": "equals", "value": "business", "points": 30}),
            json!({"name": "Large", "field": "employee_count", "operator": "gte", "value": 500, "points": 20}),
            json!({"name": "Software", "field": "industry", "operator": "equals", "value": "Software", "points": 15}),
            json!({"name": "Core markets", "field": "country", "operator": "in", "value": ["DE", "FR", "GB"], "points": 10}),
            json!({"name": "Referral", "field": "source", "operator": "equals", "value": "referral", "points": 25}),
        ];
        let mut created = Vec::new();
        for rule in &rules {
            created.push(self.post("/scoring-rules", rule).await);
        }
        println!("\n| rescore of {leads} leads | seconds | leads changed | new MQLs |\n| --- | --- | --- | --- |");
        self.rescore("five new rules").await;
        self.rescore("nothing changed").await;
        let rule_id = created[1]["id"].as_str().unwrap();
        let response = self
            .http
            .patch(format!("{}/scoring-rules/{rule_id}", self.base))
            .bearer_auth(self.token)
            .json(&json!({"points": 40}))
            .send()
            .await
            .unwrap();
        assert!(response.status().is_success());
        self.rescore("one rule's points changed").await;

        self.submissions(samples).await;
    }

    async fn post(&self, path: &str, body: &Value) -> Value {
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(self.token)
            .json(body)
            .send()
            .await
            .unwrap();
        assert!(response.status().is_success(), "{path}: {}", response.status());
        response.json().await.unwrap()
    }

    /// Recounts the frequency tables from every lead, as a rescore does.
    async fn rebuild(&self, leads: i64) {
        let store = pipewise_storage::connect(self.url, std::sync::Arc::new(pipewise_api::render::ApiRender))
            .await
            .unwrap();
        println!("\n| rebuild of the tables over {leads} leads | seconds | closed leads |\n| --- | --- | --- |");
        for _ in 0..3 {
            let started = Instant::now();
            let tables = store.rebuild_prediction_tables(self.org).await.unwrap();
            println!(
                "| rebuild | {:.2} | {} |",
                started.elapsed().as_secs_f64(),
                tables.successes + tables.failures
            );
        }
    }

    /// The first page of the lead list by predicted conversion, beside the
    /// score sort that an index answers.
    async fn lists(&self, samples: usize) {
        println!("\n| list (limit 50) | p50 ms | p95 ms | max ms |\n| --- | --- | --- | --- |");
        for query in [
            "sort=-score",
            "sort=-predicted_conversion",
            "sort=-predicted_conversion&status=new",
            "sort=predicted_conversion&status=new",
            "status=new&predicted_conversion_min=0.5",
        ] {
            let url = format!("{}/leads?limit=50&{query}", self.base);
            let ((p50, p95, max), _) = measure(samples, |_| {
                let req = self.http.get(&url).bearer_auth(self.token);
                async move { assert!(req.send().await.unwrap().status().is_success()) }
            })
            .await;
            println!("| `{query}` | {p50:.1} | {p95:.1} | {max:.1} |");
        }
    }

    async fn rescore(&self, label: &str) {
        let started = Instant::now();
        let done = self.post("/scoring-rules/rescore", &json!({})).await;
        println!(
            "| {label} | {:.2} | {} | {} |",
            started.elapsed().as_secs_f64(),
            done["changed"],
            done["new_mqls"]
        );
    }

    /// Public submissions: latency one at a time, then throughput with
    /// several website visitors at once.
    async fn submissions(&self, samples: usize) {
        let form = self
            .post(
                "/forms",
                &json!({"name": "Bench form", "fields": ["first_name", "last_name", "email", "company_name"],
                        "required_fields": ["email"], "owner_ids": [self.owner]}),
            )
            .await;
        let token = form["public_token"].as_str().expect("a public token");
        let public = self.base.replace("/api/v1", "/public/v1");
        let submit = format!("{public}/forms/{token}/submissions");
        let (json_stats, _) = measure(samples, |i| {
            let req = self.http.post(&submit).json(&json!({
                "first_name": "Web", "last_name": format!("Visitor {i}"), "email": format!("visitor{i}@example.com"),
                "company_name": "Example Ltd"}));
            async move { assert_eq!(req.send().await.unwrap().status().as_u16(), 201) }
        })
        .await;
        let (form_stats, _) = measure(samples, |i| {
            let req = self.http.post(&submit).form(&[
                ("first_name", "Web".to_owned()),
                ("email", format!("form{i}@example.com")),
            ]);
            async move { assert!(req.send().await.unwrap().status().is_success()) }
        })
        .await;
        println!("\n| public submission | p50 ms | p95 ms | max ms |\n| --- | --- | --- | --- |");
        for (label, stats) in [
            ("JSON, one at a time", json_stats),
            ("urlencoded, one at a time", form_stats),
        ] {
            println!("| {label} | {:.2} | {:.2} | {:.2} |", stats.0, stats.1, stats.2);
        }

        let clients = 16;
        let per_client = samples.max(50);
        let started = Instant::now();
        let mut tasks = Vec::new();
        for c in 0..clients {
            let http = self.http.clone();
            let submit = submit.clone();
            tasks.push(tokio::spawn(async move {
                for i in 0..per_client {
                    let response = http
                        .post(&submit)
                        .json(&json!({"first_name": "Burst", "email": format!("burst{c}-{i}@example.com")}))
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(response.status().as_u16(), 201);
                }
            }));
        }
        for task in tasks {
            task.await.unwrap();
        }
        let total = clients * per_client;
        let seconds = started.elapsed().as_secs_f64();
        println!(
            "\n{total} submissions from {clients} concurrent clients in {seconds:.2} s: {:.0} submissions/s",
            total as f64 / seconds
        );
    }

    /// Bulk-inserts `n` leads with SQL: a third with free mail addresses,
    /// spread over industries, countries, sources and company sizes.
    pub(crate) async fn seed(&self, n: i64) {
        let org = literal(self.url, self.org);
        let owner = literal(self.url, self.owner);
        let columns = "id, organization_id, first_name, last_name, name_key, email, company_name, company_key,
                       industry, employee_count, country, source, currency, status, owner_id, score, version,
                       created_at, updated_at, email_domain_kind, unqualified_reason, converted_at, closed_at";
        // A fifth unqualified, a tenth converted (more often for referrals
        // and business mail), the rest new: the triggers count the closed
        // ones as they are inserted.
        let status = "case when i % 10 < 2 then 'unqualified'
                           when i % 10 = 2 or (i % 10 = 3 and i % 3 = 0) or (i % 10 = 4 and i % 3 = 1) then 'converted'
                           else 'new' end";
        let values = |id: &str, created: &str| {
            format!(
                "{id}, {org}, 'Lead', 'No ' || i, 'lead no ' || i,
                 'lead' || i || case i % 3 when 0 then '@gmail.com' else '@company' || (i % 1000) || '.example' end,
                 'Company ' || (i % 1000), 'company ' || (i % 1000),
                 case i % 4 when 0 then 'Software' when 1 then 'Retail' when 2 then 'Finance' else 'Health' end,
                 (i * 37) % 5000,
                 case i % 5 when 0 then 'DE' when 1 then 'FR' when 2 then 'US' when 3 then 'GB' else 'ES' end,
                 case i % 3 when 0 then 'referral' when 1 then 'web_form' else 'linkedin' end,
                 'USD', {status}, {owner}, 0, 1, {created}, {created},
                 case i % 3 when 0 then 'free' else 'business' end,
                 case when {status} = 'unqualified' then 'no budget' end,
                 case when {status} = 'converted' then {created} end,
                 case when {status} <> 'new' then {created} end"
            )
        };
        if self.url.starts_with("sqlite:") {
            let pool = sqlx::SqlitePool::connect(self.url).await.unwrap();
            let created = "strftime('%Y-%m-%dT%H:%M:%S', 1700000000 + i * 600, 'unixepoch') || '+00:00'";
            let sql = format!(
                "with recursive n(i) as (select 1 union all select i + 1 from n where i < {n})
                 insert into leads ({columns}) select {} from n",
                values("randomblob(16)", created)
            );
            sqlx::query(&sql).execute(&pool).await.unwrap();
            sqlx::query("analyze").execute(&pool).await.unwrap();
        } else {
            let pool = sqlx::PgPool::connect(self.url).await.unwrap();
            let sql = format!(
                "insert into leads ({columns}) select {} from generate_series(1, {n}::bigint) as i",
                values("gen_random_uuid()", "to_timestamp(1700000000 + i * 600)")
            );
            sqlx::query(&sql).execute(&pool).await.unwrap();
            sqlx::query("analyze").execute(&pool).await.unwrap();
        }
    }
}
