//! Pipewise persistence. [`Store`] is the one interface the API talks to;
//! [`connect`] picks its implementation once, from the database URL's scheme.
//! The SQL is written once (`queries.rs`) and compiled for both backends, so
//! the two cannot drift apart; only connection set-up differs.

pub mod accounts;
pub mod activities;
pub mod bulk;
pub mod bulk_edit;
pub mod contacts;
pub mod conversion;
pub mod custom_fields;
pub mod customers;
pub mod deals;
mod error;
pub mod events;
pub mod feed;
pub mod forms;
pub mod hygiene;
pub mod imports;
mod lead_core;
pub mod lead_list;
pub mod leads;
pub mod notes;
pub mod notifications;
pub mod pipelines;
mod postgres;
pub mod prediction;
mod queries;
pub mod rate_limits;
pub mod reports;
mod rows;
pub mod scoring;
pub mod search;
mod sql;
mod sqlite;
pub mod timeline;

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use pipewise_domain::{
    ApiKey, Credentials, Currency, ExchangeRate, Name, NewUser, Organization, OrganizationChanges, Scope, User,
    UserChanges,
};
use uuid::Uuid;

pub use accounts::{AccountFields, AccountFilter, AccountStore, RecordOrder};
pub use activities::{ActivityFields, ActivityFilter, ActivityPage, ActivitySort, ActivityStore};
pub use bulk::{BulkAccount, BulkActivity, BulkContact, BulkDeal, BulkDealEvent, BulkLead, BulkStore};
pub use bulk_edit::{DealEdit, Merging, Step};
pub use contacts::{ContactFields, ContactFilter, ContactStore};
pub use conversion::{
    AccountChoice, ContactChoice, Conversion, ConversionDeal, ConversionError, ConversionStore, Converted,
};
pub use custom_fields::{CustomFieldStore, CustomFilter, FieldChange, NewCustomField};
pub use customers::{
    AccountSpend, AccountSpends, CustomerStore, CustomerYear, LeadProfileCount, SourceFigure, SourceSpend,
};
pub use deals::{DealChanges, DealFilter, DealPage, DealSortField, DealStore, NewDeal, SortValue};
pub use error::StoreError;
pub use feed::{AuditFilter, AuditRow, FeedError, FeedQuery, FeedStore, Position, StoredEvent};
pub use forms::{Form, FormField, FormSettings, FormStore};
pub use hygiene::{DuplicateGroup, DuplicateSet, Hygiene, HygieneGroup, HygieneQuery, HygieneStore};
pub use imports::{Found, ImportRecord, ImportStore, ImportTx};
pub use lead_core::{LeadFields, NewLead, StoredRule};
pub use lead_list::{LeadFilter, LeadPage, LeadSortField, LeadSortValue, ProfilePotential};
pub use leads::{EmailHolder, LeadChange, LeadScore, LeadStore};
pub use notes::{NoteFilter, NoteStore};
pub use notifications::{NotificationPage, NotificationStore};
pub use pipelines::PipelineStore;
pub use prediction::{ClosedLead, PredictionStore};
pub use rate_limits::RateLimitStore;
pub use reports::ReportStore;
pub use scoring::{Rescored, RuleFields, ScoringStore};
pub use search::{SearchCursor, SearchHit, SearchKind, SearchQuery, SearchStore};
pub use timeline::{TimelineItem, TimelinePage, TimelineStore};

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Why an [`Edit`] refused a change: the caller's own error, handed back to it
/// in [`StoreError::Refused`].
pub type Refusal = Box<dyn std::error::Error + Send + Sync>;

/// A change computed from the record as it is under its row lock: a write
/// without `If-Match` applies to whatever version it finds, after the writes
/// queued before it, and checks (who may change it, what it may become) run
/// on exactly the version that the write replaces.
pub type Edit<'a, T, C> = &'a (dyn Fn(&T) -> std::result::Result<C, Refusal> + Send + Sync);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A page request in id order: ids are UUID v7, so id order is creation
/// order and a cursor stays stable while rows are inserted.
#[derive(Debug, Clone, Copy)]
pub struct Page {
    pub after: Option<Uuid>,
    pub limit: u32,
}

/// A refresh token to store: only its hash is kept.
#[derive(Debug, Clone)]
pub struct NewRefreshToken {
    pub family_id: Uuid,
    pub user_id: Uuid,
    pub token_hash: String,
    pub expires_at: DateTime<Utc>,
}

/// What presenting a refresh token led to.
#[derive(Debug, Clone)]
pub enum Rotation {
    /// The token was live: it is now spent and its successor stored.
    Rotated(User),
    /// The token had already been spent or revoked: its whole family is now
    /// revoked, since someone holds a copy (RFC 9700 §4.14).
    Reused,
    /// Unknown, expired, or its user is inactive.
    Invalid,
}

#[derive(Debug, Clone)]
pub struct NewApiKey {
    pub name: Name,
    pub prefix: String,
    pub key_hash: String,
    pub scopes: Vec<Scope>,
    pub created_by: Option<Uuid>,
}

/// Who did something, for the event stream and the audit log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Actor {
    User(Uuid),
    ApiKey(Uuid),
    /// A public form's submission.
    Form(Uuid),
    System,
}

impl Actor {
    /// The actor as stored in an event: its kind and id.
    pub fn kind_and_id(self) -> (&'static str, Option<Uuid>) {
        match self {
            Actor::User(id) => ("user", Some(id)),
            Actor::ApiKey(id) => ("api_key", Some(id)),
            Actor::Form(id) => ("form", Some(id)),
            Actor::System => ("system", None),
        }
    }

    /// The actor as stored in an audit row or a deal event: the user, key
    /// and form columns, at most one of them set.
    pub fn ids(self) -> (Option<Uuid>, Option<Uuid>, Option<Uuid>) {
        match self {
            Actor::User(id) => (Some(id), None, None),
            Actor::ApiKey(id) => (None, Some(id), None),
            Actor::Form(id) => (None, None, Some(id)),
            Actor::System => (None, None, None),
        }
    }
}

#[async_trait]
pub trait Store:
    AccountStore
    + ContactStore
    + PipelineStore
    + DealStore
    + LeadStore
    + ScoringStore
    + PredictionStore
    + CustomerStore
    + CustomFieldStore
    + FormStore
    + ImportStore
    + SearchStore
    + HygieneStore
    + RateLimitStore
    + ActivityStore
    + NoteStore
    + TimelineStore
    + NotificationStore
    + ConversionStore
    + ReportStore
    + BulkStore
    + FeedStore
    + Send
    + Sync
    + 'static
{
    fn backend(&self) -> Backend;

    /// Succeeds when the database answers.
    async fn ping(&self) -> Result<()>;

    /// Returns the stored value of a server-wide setting, storing `value`
    /// first if there is none (the first of several racing processes wins).
    async fn setting_or_insert(&self, key: &str, value: &str, now: DateTime<Utc>) -> Result<String>;

    // Organizations
    /// Creates an organization with its first user, an admin, and its default
    /// pipeline, in one transaction.
    async fn create_organization(&self, org: &Organization, admin: &NewUser, now: DateTime<Utc>) -> Result<User>;
    async fn organization(&self, org: Uuid) -> Result<Organization>;
    async fn update_organization(
        &self,
        org: Uuid,
        changes: &OrganizationChanges,
        if_version: Option<i64>,
        now: DateTime<Utc>,
    ) -> Result<Organization>;

    // Users
    async fn credentials(&self, email: &str) -> Result<Option<Credentials>>;
    /// A user by id regardless of organization: for authentication only.
    async fn user_for_auth(&self, id: Uuid) -> Result<Option<User>>;
    async fn user(&self, org: Uuid, id: Uuid) -> Result<User>;
    async fn users(&self, org: Uuid, page: Page) -> Result<Vec<User>>;
    async fn create_user(&self, org: Uuid, user: &NewUser, actor: Actor, now: DateTime<Utc>) -> Result<User>;
    /// Applies `changes`; a new password or deactivation also ends every session.
    /// Refuses (Conflict) to leave the organization without an active admin.
    async fn update_user(
        &self,
        org: Uuid,
        id: Uuid,
        changes: &UserChanges,
        if_version: Option<i64>,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<User>;
    /// Ends every session of a user: refresh tokens revoked, access tokens invalid.
    async fn end_all_sessions(&self, user: Uuid, now: DateTime<Utc>) -> Result<()>;

    // Sessions
    async fn insert_refresh_token(&self, token: &NewRefreshToken, now: DateTime<Utc>) -> Result<()>;
    /// Spends the presented token and stores its successor in the same family.
    async fn rotate_refresh_token(
        &self,
        presented_hash: &str,
        next_hash: &str,
        next_expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Rotation>;
    /// Revokes the family (the login) of the given token; returns whether there was one.
    async fn revoke_refresh_family(&self, token_hash: &str, now: DateTime<Utc>) -> Result<bool>;

    // Login throttling
    /// Counts one attempt on `key` in its window (which starts at the first
    /// attempt after `window_start`) and returns the window's count, this
    /// attempt included, and when the window started.
    async fn count_login_attempt(
        &self,
        key: &str,
        window_start: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<(i64, DateTime<Utc>)>;
    /// Takes back one counted attempt: a successful login is not a failure.
    async fn refund_login_attempt(&self, key: &str) -> Result<()>;
    async fn clear_login_failures(&self, key: &str) -> Result<()>;

    // API keys
    async fn create_api_key(&self, org: Uuid, key: &NewApiKey, actor: Actor, now: DateTime<Utc>) -> Result<ApiKey>;
    async fn api_keys(&self, org: Uuid, page: Page) -> Result<Vec<ApiKey>>;
    async fn api_key(&self, org: Uuid, id: Uuid) -> Result<ApiKey>;
    async fn revoke_api_key(&self, org: Uuid, id: Uuid, actor: Actor, now: DateTime<Utc>) -> Result<ApiKey>;
    /// A live (unrevoked) key by the hash of its secret.
    async fn api_key_by_hash(&self, key_hash: &str) -> Result<Option<ApiKey>>;
    /// Records use, at most once a minute per key so that reads stay reads.
    async fn touch_api_key(&self, id: Uuid, now: DateTime<Utc>) -> Result<()>;

    // Exchange rates
    async fn exchange_rates(&self, org: Uuid) -> Result<Vec<(Currency, ExchangeRate, DateTime<Utc>)>>;
    async fn put_exchange_rate(
        &self,
        org: Uuid,
        currency: Currency,
        rate: ExchangeRate,
        now: DateTime<Utc>,
    ) -> Result<DateTime<Utc>>;
    async fn delete_exchange_rate(&self, org: Uuid, currency: Currency) -> Result<()>;
}

/// Opens the database named by `url` (`sqlite://…` or `postgres://…`) and
/// brings its schema up to date; `render` gives events their records.
pub async fn connect(url: &str, render: Arc<dyn events::Render>) -> Result<Arc<dyn Store>> {
    if url.starts_with("sqlite:") {
        Ok(Arc::new(sqlite::SqliteStore::connect(url, render).await?))
    } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
        Ok(Arc::new(postgres::PgStore::connect(url, render).await?))
    } else {
        Err(StoreError::UnsupportedUrl)
    }
}
pub use sqlx::Error as SqlxError;
