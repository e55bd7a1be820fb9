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
    Sqlite, SqlitePool,
};
use uuid::Uuid;

use crate::{
    accounts::impl_account_store,
    activities::impl_activity_store,
    bulk::impl_bulk_store,
    contacts::impl_contact_store,
    conversion::impl_conversion_store,
    custom_fields::impl_custom_field_store,
    customers::impl_customer_store,
    deals::impl_deal_store,
    feed::impl_feed_store,
    forms::impl_form_store,
    hygiene::impl_hygiene_store,
    imports::impl_import_store,
    lead_core::impl_lead_core,
    leads::impl_lead_store,
    notes::impl_note_store,
    notifications::impl_notification_store,
    pipelines::impl_pipeline_store,
    prediction::impl_prediction_store,
    queries::impl_store,
    rate_limits::impl_rate_limit_store,
    reports::impl_report_store,
    rows::{ApiKeyRow, CredentialsRow, ExchangeRateRow, OrganizationRow, RefreshTokenRow, UserRow},
    scoring::impl_scoring_store,
    search::impl_search_store,
    timeline::impl_timeline_store,
    Actor, NewApiKey, NewRefreshToken, Page, Rotation, StoreError,
};

type Tx = crate::events::WriteTx<Sqlite>;
crate::events::impl_write_tx!(Sqlite, SqliteStore, None);
/// The dialect, for SQL that differs between the backends.
const BACKEND: crate::Backend = crate::Backend::Sqlite;
type Conn = sqlx::SqliteConnection;
type DbRow = sqlx::sqlite::SqliteRow;

pub(crate) struct SqliteStore {
    render: std::sync::Arc<dyn crate::events::Render>,
    pool: SqlitePool,
}

impl SqliteStore {
    pub(crate) async fn connect(url: &str, render: std::sync::Arc<dyn crate::events::Render>) -> crate::Result<Self> {
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
        let store = Self { render, pool };
        store.backfill_email_domain_kinds().await?;
        Ok(store)
    }

    // BEGIN IMMEDIATE already holds the one write lock.
    // Takes the key `$2` off a record's custom values.
    const REMOVE_CUSTOM_VALUE: &'static str = "json_remove(custom_fields, '$.' || $2)";

    const FOR_UPDATE: &'static str = "";

    // SQLITE_MAX_VARIABLE_NUMBER of the bundled SQLite (3.32 and later).
    const MAX_PARAMS: usize = 32_766;

    async fn begin_write(&self) -> crate::Result<Tx> {
        Ok(Tx::new(
            self.pool.begin_with("BEGIN IMMEDIATE").await?,
            self.render.clone(),
        ))
    }

    /// A read transaction: in WAL mode its first read fixes the snapshot that
    /// every later statement of it sees.
    async fn begin_snapshot(&self) -> crate::Result<Tx> {
        Ok(Tx::new(
            self.pool.begin_with("BEGIN DEFERRED").await?,
            self.render.clone(),
        ))
    }

    /// A write transaction for a bulk insert. Its connection gets a page
    /// cache of up to 1 GiB (the default is 2 MiB): a bulk insert adds to
    /// every index of its table at scattered places, and with the small
    /// cache most of them are read again from the file for each row, and
    /// its dirty pages spill to the log before the commit (measured: a
    /// million demo deals took twice as long). The cache fills only as
    /// pages are used, and stays with the connection for the bulk calls
    /// that follow.
    async fn begin_bulk(&self) -> crate::Result<Tx> {
        let mut tx = self.begin_write().await?;
        sqlx::query("pragma cache_size = -1048576").execute(&mut *tx).await?;
        Ok(tx)
    }
}

/// The row `id` of `table` in `org` that matches `filter` (such as
/// `deleted_at is null`), locked until the transaction ends, for a write
/// that checks it and then changes it: the write transaction's `BEGIN IMMEDIATE` already holds the one write lock, so nothing can change the row until commit. Every write of a
/// record takes this lock before its check, so the check always sees the
/// version the write replaces, and a write without `If-Match` never loses a
/// race: it simply applies after the one before it.
async fn lock_row<R>(conn: &mut Conn, table: &str, org: Uuid, id: Uuid, filter: &str) -> crate::Result<R>
where
    R: for<'r> sqlx::FromRow<'r, sqlx::sqlite::SqliteRow> + Send + Unpin,
{
    let sql = format!(
        "select * from {table} where organization_id = $1 and id = $2 and {filter} {}",
        SqliteStore::FOR_UPDATE
    );
    sqlx::query_as::<_, R>(&sql)
        .bind(org)
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or(StoreError::NotFound)
}

/// Nothing to take: a write transaction's `BEGIN IMMEDIATE` already holds
/// the database's one write lock, so a check and the insert after it in the
/// same transaction cannot interleave with another writer's.
async fn lock_key(_conn: &mut Conn, _org: Uuid, _key: &str) -> crate::Result<()> {
    Ok(())
}

/// Nothing to take, as for [`lock_key`].
async fn lock_key_shared(_conn: &mut Conn, _org: Uuid, _key: &str) -> crate::Result<()> {
    Ok(())
}

/// Always taken, as for [`lock_key`].
async fn try_lock_key_shared(_conn: &mut Conn, _org: Uuid, _key: &str) -> crate::Result<bool> {
    Ok(true)
}

impl_store!(SqliteStore, crate::Backend::Sqlite);
impl_pipeline_store!(SqliteStore);
impl_deal_store!(SqliteStore);
impl_feed_store!(SqliteStore, Sqlite, "1");
impl_custom_field_store!(SqliteStore);
impl_account_store!(SqliteStore);
impl_contact_store!(SqliteStore);
impl_lead_core!();
impl_lead_store!(SqliteStore);
impl_activity_store!(SqliteStore);
impl_note_store!(SqliteStore);
impl_timeline_store!(SqliteStore);
impl_notification_store!(SqliteStore);
impl_scoring_store!(SqliteStore);
impl_prediction_store!(SqliteStore);
impl_customer_store!(SqliteStore);
impl_form_store!(SqliteStore);
impl_rate_limit_store!(SqliteStore);
impl_conversion_store!(SqliteStore);
impl_report_store!(SqliteStore);
impl_bulk_store!(SqliteStore, SqliteStore::MAX_PARAMS, false);
impl_import_store!(SqliteStore);
impl_search_store!(SqliteStore);
impl_hygiene_store!(SqliteStore);
