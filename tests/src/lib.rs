//! The test harness: `TestApp` starts a real Pipewise server on a free port
//! over a database of its own (a fresh SQLite file, or a fresh PostgreSQL
//! database), removed when the test ends, plus typed helpers for the calls
//! tests make again and again.

use std::path::PathBuf;

use pipewise_api::{Application, Config};
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use secrecy::SecretString;
use serde_json::{json, Value};
use uuid::Uuid;

/// The signing secret test servers use, so tests can forge tokens.
pub const JWT_SECRET: &str = "pipewise-test-secret-0123456789abcdef-0123456789";
pub const PASSWORD: &str = "correct horse battery";

/// Runs each named `async fn(TestApp)` once on SQLite and once on PostgreSQL.
/// Without `PIPEWISE_TEST_POSTGRES_URL` the PostgreSQL half is reported as ignored.
#[macro_export]
macro_rules! on_both_backends {
    ($($test:ident),* $(,)?) => { $(
        mod $test {
            #[tokio::test]
            async fn sqlite() {
                super::$test($crate::TestApp::sqlite().await).await
            }
            #[tokio::test]
            #[cfg_attr(not(pg_tests), ignore = "set PIPEWISE_TEST_POSTGRES_URL to run the PostgreSQL half")]
            async fn postgres() {
                super::$test($crate::TestApp::postgres().await).await
            }
        }
    )* };
}

pub enum TestDb {
    Sqlite(PathBuf),
    Postgres { admin_url: String, name: String },
}

impl TestDb {
    fn sqlite() -> Self {
        TestDb::Sqlite(std::env::temp_dir().join(format!("pipewise-test-{}.db", Uuid::new_v4().simple())))
    }

    async fn postgres() -> Self {
        let admin_url = std::env::var("PIPEWISE_TEST_POSTGRES_URL").expect("PIPEWISE_TEST_POSTGRES_URL is set");
        let name = format!("pipewise_test_{}", Uuid::new_v4().simple());
        let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&admin_url)
            .await
            .expect("PostgreSQL reachable");
        sqlx::query(&format!("create database {name}"))
            .execute(&mut conn)
            .await
            .expect("create test database");
        TestDb::Postgres { admin_url, name }
    }

    pub fn url(&self) -> String {
        match self {
            TestDb::Sqlite(path) => format!("sqlite://{}", path.display()),
            TestDb::Postgres { admin_url, name } => {
                let base = admin_url.rsplit_once('/').map(|(b, _)| b).unwrap_or(admin_url);
                format!("{base}/{name}")
            }
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        match self {
            TestDb::Sqlite(path) => {
                for suffix in ["", "-wal", "-shm"] {
                    let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
                }
            }
            TestDb::Postgres { admin_url, name } => {
                let (admin_url, name) = (admin_url.clone(), name.clone());
                // Drop runs inside the test's runtime: use a thread with its own.
                let _ = std::thread::spawn(move || {
                    let rt = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .expect("runtime");
                    rt.block_on(async {
                        if let Ok(mut conn) = <sqlx::PgConnection as sqlx::Connection>::connect(&admin_url).await {
                            let _ = sqlx::query(&format!("drop database if exists {name} with (force)"))
                                .execute(&mut conn)
                                .await;
                        }
                    });
                })
                .join();
            }
        }
    }
}

pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub db: TestDb,
}

/// A signed-up admin (or a created user) and their tokens.
#[derive(Debug, Clone)]
pub struct Session {
    pub user_id: Uuid,
    pub organization_id: Uuid,
    pub email: String,
    pub access_token: String,
    pub refresh_token: String,
}

impl TestApp {
    pub async fn sqlite() -> Self {
        Self::start(TestDb::sqlite(), |_| {}).await
    }

    pub async fn postgres() -> Self {
        Self::start(TestDb::postgres().await, |_| {}).await
    }

    /// A server over the same kind of database, with a configuration tweak.
    pub async fn start(db: TestDb, tweak: impl FnOnce(&mut Config)) -> Self {
        let mut config = Config::for_database(db.url());
        config.jwt_secret = Some(SecretString::from(JWT_SECRET));
        tweak(&mut config);
        let address = serve(config).await;
        Self {
            address,
            client: reqwest::Client::new(),
            db,
        }
    }

    /// Same backend kind as `self`, fresh database, different configuration.
    pub async fn sibling(&self, tweak: impl FnOnce(&mut Config)) -> Self {
        let db = match self.db {
            TestDb::Sqlite(_) => TestDb::sqlite(),
            TestDb::Postgres { .. } => TestDb::postgres().await,
        };
        Self::start(db, tweak).await
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.client.request(method, self.url(path))
    }

    pub fn get(&self, path: &str, token: &str) -> RequestBuilder {
        self.request(Method::GET, path).bearer_auth(token)
    }

    pub fn post(&self, path: &str, token: &str, body: &Value) -> RequestBuilder {
        self.request(Method::POST, path).bearer_auth(token).json(body)
    }

    pub fn patch(&self, path: &str, token: &str, body: &Value) -> RequestBuilder {
        self.request(Method::PATCH, path).bearer_auth(token).json(body)
    }

    pub fn delete(&self, path: &str, token: &str) -> RequestBuilder {
        self.request(Method::DELETE, path).bearer_auth(token)
    }

    /// Signs up a new organization; `label` keeps emails unique per test.
    pub async fn signup(&self, label: &str) -> Session {
        let email = format!("{label}-{}@example.com", Uuid::new_v4().simple());
        let response = self
            .request(Method::POST, "/api/v1/auth/signup")
            .json(&json!({
                "organization_name": format!("{label} Inc"),
                "name": format!("{label} Admin"),
                "email": email,
                "password": PASSWORD,
            }))
            .send()
            .await
            .expect("request sent");
        let body = expect_status(response, StatusCode::CREATED).await;
        Session {
            user_id: uuid(&body["user"]["id"]),
            organization_id: uuid(&body["user"]["organization_id"]),
            email,
            access_token: body["access_token"].as_str().expect("access_token").to_owned(),
            refresh_token: body["refresh_token"].as_str().expect("refresh_token").to_owned(),
        }
    }

    pub async fn login(&self, email: &str, password: &str) -> Response {
        self.request(Method::POST, "/api/v1/auth/login")
            .json(&json!({"email": email, "password": password}))
            .send()
            .await
            .expect("request sent")
    }

    /// Creates a user with `role` in the admin's organization and logs them in.
    pub async fn add_user(&self, admin: &Session, role: &str) -> Session {
        let email = format!("{role}-{}@example.com", Uuid::new_v4().simple());
        let response = self
            .post(
                "/api/v1/users",
                &admin.access_token,
                &json!({"email": email, "name": format!("A {role}"), "role": role, "password": PASSWORD}),
            )
            .send()
            .await
            .expect("request sent");
        let user = expect_status(response, StatusCode::CREATED).await;
        let tokens = expect_status(self.login(&email, PASSWORD).await, StatusCode::OK).await;
        Session {
            user_id: uuid(&user["id"]),
            organization_id: uuid(&user["organization_id"]),
            email,
            access_token: tokens["access_token"].as_str().expect("access_token").to_owned(),
            refresh_token: tokens["refresh_token"].as_str().expect("refresh_token").to_owned(),
        }
    }

    /// Creates an API key with `scopes` and returns its id and secret.
    pub async fn api_key(&self, admin: &Session, scopes: &[&str]) -> (Uuid, String) {
        let response = self
            .post(
                "/api/v1/api-keys",
                &admin.access_token,
                &json!({"name": "integration", "scopes": scopes}),
            )
            .send()
            .await
            .expect("request sent");
        let body = expect_status(response, StatusCode::CREATED).await;
        (uuid(&body["id"]), body["key"].as_str().expect("key").to_owned())
    }

    /// Counts the deal events whose kept `duration_ms` is more than a
    /// millisecond from `ends_at - at` as the database computes it.
    pub async fn stale_stint_durations(&self) -> i64 {
        self.scalar(match &self.db {
            TestDb::Sqlite(_) => {
                "select count(*) from deal_events where ends_at is not null
                 and abs(duration_ms - (julianday(ends_at) - julianday(at)) * 86400000.0) > 1"
            }
            TestDb::Postgres { .. } => {
                "select count(*) from deal_events where ends_at is not null
                 and abs(duration_ms - date_part('epoch', ends_at - at) * 1000) > 1"
            }
        })
        .await
    }

    /// Runs one statement on the test database, to set up a state no API call can make.
    pub async fn execute(&self, sql: &str) {
        match &self.db {
            TestDb::Sqlite(_) => {
                let pool = sqlx::SqlitePool::connect(&self.db.url()).await.expect("sqlite");
                sqlx::query(sql).execute(&pool).await.expect("statement");
            }
            TestDb::Postgres { .. } => {
                let pool = sqlx::PgPool::connect(&self.db.url()).await.expect("postgres");
                sqlx::query(sql).execute(&pool).await.expect("statement");
            }
        }
    }

    /// One integer from the test database, for asserting stored state.
    pub async fn scalar(&self, sql: &str) -> i64 {
        match &self.db {
            TestDb::Sqlite(_) => {
                let pool = sqlx::SqlitePool::connect(&self.db.url()).await.expect("sqlite");
                sqlx::query_scalar(sql).fetch_one(&pool).await.expect("query")
            }
            TestDb::Postgres { .. } => {
                let pool = sqlx::PgPool::connect(&self.db.url()).await.expect("postgres");
                sqlx::query_scalar(sql).fetch_one(&pool).await.expect("query")
            }
        }
    }
}

/// Counts the deal events whose stint links (`ends_at`, `next_*`,
/// `opens_stint`) differ from what the log itself says: the stage reports
/// read those links, so every write must keep them true.
pub const STALE_STINT_LINKS: &str = "select count(*) from deal_events e join (
        select id, lead(at) over w as n_at, lead(kind) over w as n_kind,
               lead(pipeline_id) over w as n_pipeline, lead(stage_id) over w as n_stage
        from deal_events window w as (partition by deal_id order by at, id)) n on n.id = e.id
    where e.ends_at is distinct from n.n_at or e.next_kind is distinct from n.n_kind
       or e.next_pipeline_id is distinct from n.n_pipeline or e.next_stage_id is distinct from n.n_stage
       or (e.duration_ms is null) <> (e.ends_at is null)
       or e.opens_stint <> case when e.kind in ('created', 'reopened') then 1
            when e.kind = 'moved' and coalesce((select w.kind from deal_events w
                where w.deal_id = e.deal_id and (w.at, w.id) < (e.at, e.id) and w.kind in ('won', 'lost', 'reopened')
                order by w.at desc, w.id desc limit 1), 'reopened') = 'reopened' then 1 else 0 end";

/// Counts the leads and deals whose activity marks (`first_activity_at`,
/// `live_activity_at`) differ from what their live activities say.
pub const STALE_ACTIVITY_MARKS: &str = "select (select count(*) from leads l
        where l.first_activity_at is distinct from
            (select min(a.created_at) from activities a where a.lead_id = l.id and a.deleted_at is null))
    + (select count(*) from deals d
        where d.live_activity_at is distinct from
            (select max(case when a.done_at is not null and a.done_at > a.created_at then a.done_at else a.created_at end)
             from activities a where a.deal_id = d.id and a.deleted_at is null))";

/// Starts a server for `config` and returns its base URL.
pub async fn serve(config: Config) -> String {
    let app = Application::build(config).await.expect("application starts");
    let address = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    address
}

/// Sends every request at once (a real race on the server) and returns the
/// statuses, sorted.
pub async fn statuses_in_parallel(requests: Vec<RequestBuilder>) -> Vec<StatusCode> {
    let responses = futures_util::future::join_all(requests.into_iter().map(RequestBuilder::send)).await;
    let mut statuses: Vec<StatusCode> = responses
        .into_iter()
        .map(|r| r.expect("request sent").status())
        .collect();
    statuses.sort();
    statuses
}

/// Asserts the status (showing the body when it differs) and returns the JSON body.
pub async fn expect_status(response: Response, status: StatusCode) -> Value {
    let actual = response.status();
    let text = response.text().await.expect("body read");
    assert_eq!(actual, status, "unexpected status; body: {text}");
    if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    }
}

/// Asserts a problem+json error with `status`, and returns its body.
pub async fn expect_problem(response: Response, status: StatusCode) -> Value {
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let request_id = response
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = expect_status(response, status).await;
    assert_eq!(content_type, "application/problem+json", "body: {body}");
    assert_eq!(body["status"], status.as_u16(), "body: {body}");
    assert!(
        body["title"].is_string() && body["detail"].is_string() && body["type"].is_string(),
        "body: {body}"
    );
    assert_eq!(
        body["request_id"].as_str(),
        request_id.as_deref(),
        "request_id matches X-Request-Id"
    );
    body
}

pub fn uuid(value: &Value) -> Uuid {
    value
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not a uuid: {value}"))
}

/// The fields named by a 422's `errors`.
pub fn invalid_fields(problem: &Value) -> Vec<String> {
    problem["errors"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .filter_map(|e| e["field"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

impl TestApp {
    /// `id` as an SQL literal of the test database: UUIDs are native on
    /// PostgreSQL and 16-byte blobs on SQLite.
    pub fn sql_uuid(&self, id: Uuid) -> String {
        match self.db {
            TestDb::Sqlite(_) => format!("x'{}'", id.simple()),
            TestDb::Postgres { .. } => format!("'{id}'"),
        }
    }
}
