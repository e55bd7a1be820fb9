//! PostgreSQL: the production backend, shared by any number of API processes.

use std::time::Duration;

use chrono::{DateTime, Utc};
use pipewise_domain::{
    ApiKey, Credentials, Currency, ExchangeRate, NewUser, Organization, OrganizationChanges, Role, Scope, User,
    UserChanges,
};
use sqlx::{
    postgres::{PgConnectOptions, PgPoolOptions},
    PgPool, Postgres,
};
use std::str::FromStr;
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

type Tx = crate::events::WriteTx<Postgres>;
crate::events::impl_write_tx!(Postgres, PgStore, Some("pg_current_xact_id()::text::bigint"));
/// The dialect, for SQL that differs between the backends.
const BACKEND: crate::Backend = crate::Backend::Postgres;
type Conn = sqlx::PgConnection;
type DbRow = sqlx::postgres::PgRow;

pub(crate) struct PgStore {
    render: std::sync::Arc<dyn crate::events::Render>,
    pool: PgPool,
}

impl PgStore {
    pub(crate) async fn connect(url: &str, render: std::sync::Arc<dyn crate::events::Render>) -> crate::Result<Self> {
        // A runaway query is cut off by the server rather than holding a
        // connection. JIT compilation is off: it costs a report query 200 to
        // 300 ms of compiling to save less than that in running (measured
        // on the 250,000-deal demo).
        let base = PgConnectOptions::from_str(url)?;
        let options = base.clone().options([("statement_timeout", "15s"), ("jit", "off")]);
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(5))
            .connect_with(options)
            .await?;
        // A migration may rewrite every row of a large table (a backfill, an
        // index): it runs on a connection of its own, without the timeout.
        let mut migrating = sqlx::ConnectOptions::connect(&base).await?;
        sqlx::migrate!("../migrations/postgres").run(&mut migrating).await?;
        sqlx::Connection::close(migrating).await?;
        let store = Self { render, pool };
        store.backfill_email_domain_kinds().await?;
        Ok(store)
    }

    // Concurrent read-modify-writes of one row queue up instead of failing.
    // Takes the key `$2` off a record's custom values.
    const REMOVE_CUSTOM_VALUE: &'static str = "(custom_fields::jsonb - $2)::text";

    const FOR_UPDATE: &'static str = "for update";

    // The wire protocol counts a statement's parameters in 16 bits.
    const MAX_PARAMS: usize = 65_535;

    async fn begin_write(&self) -> crate::Result<Tx> {
        Ok(Tx::new(self.pool.begin().await?, self.render.clone()))
    }

    /// A read-only transaction whose statements all see one snapshot
    /// (repeatable read), so a report's figures never mix two instants.
    async fn begin_snapshot(&self) -> crate::Result<Tx> {
        let mut tx = Tx::new(
            self.pool
                .begin_with("begin transaction isolation level repeatable read, read only")
                .await?,
            self.render.clone(),
        );
        // A report groups hundreds of thousands of stints: with the default
        // 4 MB its hash tables spill to disk. The setting ends with the
        // transaction.
        sqlx::query("set local work_mem = '64MB'").execute(&mut *tx).await?;
        Ok(tx)
    }

    /// A write transaction for a bulk insert: an ordinary one; the server's
    /// shared buffers already hold the indexes it adds to.
    async fn begin_bulk(&self) -> crate::Result<Tx> {
        self.begin_write().await
    }
}

/// The row `id` of `table` in `org` that matches `filter` (such as
/// `deleted_at is null`), locked until the transaction ends, for a write
/// that checks it and then changes it: `for update`: a writer that comes second waits here for the first to commit, then reads what it wrote. Every write of a
/// record takes this lock before its check, so the check always sees the
/// version the write replaces, and a write without `If-Match` never loses a
/// race: it simply applies after the one before it.
async fn lock_row<R>(conn: &mut Conn, table: &str, org: Uuid, id: Uuid, filter: &str) -> crate::Result<R>
where
    R: for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow> + Send + Unpin,
{
    let sql = format!(
        "select * from {table} where organization_id = $1 and id = $2 and {filter} {}",
        PgStore::FOR_UPDATE
    );
    sqlx::query_as::<_, R>(&sql)
        .bind(org)
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or(StoreError::NotFound)
}

/// Holds a lock named by `key` within `org` until the transaction ends: the
/// writers of one email address (or one company) queue up on it, so a check
/// for an existing holder and the insert that follows it cannot interleave
/// with another writer's (64-bit hash; a collision only serializes more).
async fn lock_key(conn: &mut Conn, org: Uuid, key: &str) -> crate::Result<()> {
    sqlx::query("select pg_advisory_xact_lock(hashtextextended($1, 0))")
        .bind(format!("{org}/{key}"))
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// [`lock_key`] shared: any number of transactions hold it at once, and
/// none while one holds it whole.
async fn lock_key_shared(conn: &mut Conn, org: Uuid, key: &str) -> crate::Result<()> {
    sqlx::query("select pg_advisory_xact_lock_shared(hashtextextended($1, 0))")
        .bind(format!("{org}/{key}"))
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// [`lock_key_shared`] if no one holds the lock whole, without waiting:
/// `false` when someone does.
async fn try_lock_key_shared(conn: &mut Conn, org: Uuid, key: &str) -> crate::Result<bool> {
    Ok(
        sqlx::query_scalar("select pg_try_advisory_xact_lock_shared(hashtextextended($1, 0))")
            .bind(format!("{org}/{key}"))
            .fetch_one(&mut *conn)
            .await?,
    )
}

impl_store!(PgStore, crate::Backend::Postgres);
impl_pipeline_store!(PgStore);
impl_deal_store!(PgStore);
impl_feed_store!(
    PgStore,
    Postgres,
    "pg_snapshot_xmin(pg_current_snapshot())::text::bigint"
);
impl_custom_field_store!(PgStore);
impl_account_store!(PgStore);
impl_contact_store!(PgStore);
impl_lead_core!();
impl_lead_store!(PgStore);
impl_activity_store!(PgStore);
impl_note_store!(PgStore);
impl_timeline_store!(PgStore);
impl_notification_store!(PgStore);
impl_scoring_store!(PgStore);
impl_prediction_store!(PgStore);
impl_customer_store!(PgStore);
impl_form_store!(PgStore);
impl_rate_limit_store!(PgStore);
impl_conversion_store!(PgStore);
impl_report_store!(PgStore);
impl_bulk_store!(PgStore, PgStore::MAX_PARAMS, true);
impl_import_store!(PgStore);
impl_search_store!(PgStore);
impl_hygiene_store!(PgStore);
