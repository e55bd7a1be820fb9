//! Configuration: one typed struct, from flags or `PIPEWISE_*` variables.

use clap::{Args, Parser, Subcommand, ValueEnum};
use secrecy::SecretString;

#[derive(Debug, Parser)]
#[command(name = "pipewise", version, about = "Pipewise: the sales pipeline API")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub config: Config,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the API (the default).
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Print the OpenAPI document (YAML) and exit.
    Openapi,
    /// Create a demo organization with a year of history and print its logins.
    Demo(DemoArgs),
}

#[derive(Debug, Clone, Args)]
pub struct DemoArgs {
    /// How many deals the history has; leads, activities, accounts and contacts scale with it.
    #[arg(long, default_value_t = 2_000, value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
    pub deals: u64,
    /// How many years the history spans, the deals spread evenly over them.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=10))]
    pub years: u32,
    /// The same seed gives the same data (apart from ids); without one, a seed is drawn and printed.
    #[arg(long)]
    pub seed: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Args)]
pub struct Config {
    /// `sqlite://FILE` (created if missing) or `postgres://USER@HOST/DB`.
    #[arg(
        long,
        env = "PIPEWISE_DATABASE_URL",
        default_value = "sqlite://pipewise.db",
        global = true
    )]
    pub database_url: String,
    /// Address to listen on.
    #[arg(long, env = "PIPEWISE_BIND", default_value = "127.0.0.1:8080", global = true)]
    pub bind: String,
    /// Token signing secret, at least 32 bytes. Without one, a secret is
    /// generated once and kept in the database, so tokens survive restarts.
    #[arg(long, env = "PIPEWISE_JWT_SECRET", hide_env_values = true, global = true)]
    pub jwt_secret: Option<SecretString>,
    /// Whether anyone may create an organization with `POST /auth/signup`.
    #[arg(long, env = "PIPEWISE_ALLOW_SIGNUP", default_value_t = true, action = clap::ArgAction::Set, global = true)]
    pub allow_signup: bool,
    /// Comma-separated origins allowed by CORS; none by default.
    #[arg(long, env = "PIPEWISE_CORS_ORIGINS", value_delimiter = ',', global = true)]
    pub cors_origins: Vec<String>,
    /// Log filter, such as `info` or `pipewise_api=debug,info`.
    #[arg(long, env = "PIPEWISE_LOG", default_value = "info", global = true)]
    pub log: String,
    /// Log line format.
    #[arg(long, env = "PIPEWISE_LOG_FORMAT", value_enum, default_value = "text", global = true)]
    pub log_format: LogFormat,
    /// HTTP worker threads (default: one per core).
    #[arg(long, env = "PIPEWISE_WORKERS", global = true)]
    pub workers: Option<usize>,
    /// Public form submissions accepted per form and minute, across all clients.
    #[arg(long, env = "PIPEWISE_FORM_RATE_PER_FORM", default_value_t = 60, global = true)]
    pub form_rate_per_form: u32,
    /// Public form submissions accepted per form, client address and minute.
    #[arg(long, env = "PIPEWISE_FORM_RATE_PER_CLIENT", default_value_t = 10, global = true)]
    pub form_rate_per_client: u32,
    /// Sign-ups accepted per client address and hour.
    #[arg(long, env = "PIPEWISE_SIGNUP_RATE_PER_CLIENT", default_value_t = 10, global = true)]
    pub signup_rate_per_client: u32,
    /// Password hashes computed at once (each holds 19 MiB; default: one per core).
    #[arg(long, env = "PIPEWISE_HASH_SLOTS", global = true)]
    pub hash_slots: Option<usize>,
    /// Seconds a sign-up or login waits for a hashing slot before a 503.
    #[arg(long, env = "PIPEWISE_HASH_WAIT_SECS", default_value_t = 5, global = true)]
    pub hash_wait_secs: u64,
    /// Seconds a client has to send its request body before a 408.
    #[arg(long, env = "PIPEWISE_BODY_TIMEOUT_SECS", default_value_t = 10, global = true)]
    pub body_timeout_secs: u64,
    /// Seconds a whole request may take before a 503.
    #[arg(long, env = "PIPEWISE_REQUEST_TIMEOUT_SECS", default_value_t = 30, global = true)]
    pub request_timeout_secs: u64,
}

impl Config {
    /// A configuration for tests and embedding: SQLite at `database_url`, port 0.
    pub fn for_database(database_url: impl Into<String>) -> Self {
        Self {
            database_url: database_url.into(),
            bind: "127.0.0.1:0".to_owned(),
            jwt_secret: None,
            allow_signup: true,
            cors_origins: Vec::new(),
            log: "warn".to_owned(),
            log_format: LogFormat::Text,
            workers: Some(1),
            form_rate_per_form: 60,
            form_rate_per_client: 10,
            // Test suites sign up many organizations from one address.
            signup_rate_per_client: 1000,
            hash_slots: None,
            hash_wait_secs: 5,
            body_timeout_secs: 10,
            request_timeout_secs: 30,
        }
    }
}
