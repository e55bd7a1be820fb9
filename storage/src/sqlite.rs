//! SQLite: the embedded default. WAL lets readers run beside the one writer;
//! every write transaction starts with `BEGIN IMMEDIATE`, so it takes the
//! write lock up front and waits on the busy timeout instead of failing with
//! SQLITE_BUSY when a deferred read transaction tries to upgrade.

use std::{str::FromStr, time::Duration};

use chrono::{DateTime, Utc};
use pipewise_domain::{
    ApiKey, Credentials, Currency, ExchangeRate, NewUser, Organization, OrganizationChanges, Role, Scope, User,
    UserChanges,
};
use sqlx::{
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous},
    Sqlite, SqlitePool, Transaction,
};
use uuid::Uuid;

use crate::{
    accounts::impl_account_store,
    contacts::impl_contact_store,
    deals::impl_deal_store,
    lead_core::impl_lead_core,
    leads::impl_lead_store,
    pipelines::impl_pipeline_store,
    queries::impl_store,
    rows::{ApiKeyRow, CredentialsRow, ExchangeRateRow, OrganizationRow, RefreshTokenRow, UserRow},
    scoring::impl_scoring_store,
    Actor, NewApiKey, NewRefreshToken, Page, Rotation, StoreError,
};

type Tx = Transaction<'static, Sqlite>;
type Conn = sqlx::SqliteConnection;

pub(crate) struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    pub(crate) async fn connect(url: &str) -> crate::Result<Self> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // FULL: an acknowledged write survives a power cut, not only a crash.
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(5))
            .connect_with(options)
            .await?;
        sqlx::migrate!("../migrations/sqlite").run(&pool).await?;
        Ok(Self { pool })
    }

    // BEGIN IMMEDIATE already holds the one write lock.
    const FOR_UPDATE: &'static str = "";

    async fn begin_write(&self) -> crate::Result<Tx> {
        Ok(self.pool.begin_with("BEGIN IMMEDIATE").await?)
    }
}

impl_store!(SqliteStore, crate::Backend::Sqlite);
impl_pipeline_store!(SqliteStore);
impl_deal_store!(SqliteStore);
impl_account_store!(SqliteStore);
impl_contact_store!(SqliteStore);
impl_lead_core!();
impl_lead_store!(SqliteStore);
impl_scoring_store!(SqliteStore);
