//! Rows as the database returns them, and their conversion into domain
//! types. A value that does not parse is reported as corrupt, never guessed.

use chrono::{DateTime, Utc};
use pipewise_domain::{ApiKey, Currency, Email, MqlThreshold, Name, Organization, Role, Scope, TimeZone, User};
use uuid::Uuid;

use crate::StoreError;

#[derive(sqlx::FromRow)]
pub(crate) struct OrganizationRow {
    id: Uuid,
    name: String,
    base_currency: String,
    timezone: String,
    mql_threshold: i64,
    version: i64,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl TryFrom<OrganizationRow> for Organization {
    type Error = StoreError;
    fn try_from(row: OrganizationRow) -> Result<Self, StoreError> {
        let bad = |e: &dyn std::fmt::Display| StoreError::Corrupt(format!("organization {}: {e}", row.id));
        Ok(Organization {
            id: row.id,
            name: Name::parse(&row.name).map_err(|e| bad(&e))?,
            base_currency: Currency::parse(&row.base_currency).map_err(|e| bad(&e))?,
            timezone: TimeZone::parse(&row.timezone).map_err(|e| bad(&e))?,
            mql_threshold: MqlThreshold::new(row.mql_threshold).map_err(|e| bad(&e))?,
            version: row.version,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct UserRow {
    id: Uuid,
    organization_id: Uuid,
    email: String,
    name: String,
    role: String,
    active: bool,
    token_version: i64,
    tokens_valid_after: DateTime<Utc>,
    version: i64,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl TryFrom<UserRow> for User {
    type Error = StoreError;
    fn try_from(row: UserRow) -> Result<Self, StoreError> {
        let bad = |e: &dyn std::fmt::Display| StoreError::Corrupt(format!("user {}: {e}", row.id));
        Ok(User {
            id: row.id,
            organization_id: row.organization_id,
            email: Email::parse(&row.email).map_err(|e| bad(&e))?,
            name: Name::parse(&row.name).map_err(|e| bad(&e))?,
            role: row.role.parse::<Role>().map_err(|e| bad(&e))?,
            active: row.active,
            token_version: row.token_version,
            tokens_valid_after: row.tokens_valid_after,
            version: row.version,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct CredentialsRow {
    #[sqlx(flatten)]
    pub user: UserRow,
    pub password_hash: String,
}

#[derive(sqlx::FromRow)]
pub(crate) struct ApiKeyRow {
    id: Uuid,
    organization_id: Uuid,
    name: String,
    prefix: String,
    scopes: String,
    created_by: Option<Uuid>,
    created_at: DateTime<Utc>,
    last_used_at: Option<DateTime<Utc>>,
    revoked_at: Option<DateTime<Utc>>,
}

impl TryFrom<ApiKeyRow> for ApiKey {
    type Error = StoreError;
    fn try_from(row: ApiKeyRow) -> Result<Self, StoreError> {
        let bad = |e: &dyn std::fmt::Display| StoreError::Corrupt(format!("api key {}: {e}", row.id));
        Ok(ApiKey {
            id: row.id,
            organization_id: row.organization_id,
            name: Name::parse(&row.name).map_err(|e| bad(&e))?,
            prefix: row.prefix,
            scopes: Scope::split(&row.scopes).map_err(|e| bad(&e))?,
            created_by: row.created_by,
            created_at: row.created_at,
            last_used_at: row.last_used_at,
            revoked_at: row.revoked_at,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct RefreshTokenRow {
    pub id: Uuid,
    pub family_id: Uuid,
    pub user_id: Uuid,
    pub expires_at: DateTime<Utc>,
    pub used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

#[derive(sqlx::FromRow)]
pub(crate) struct ExchangeRateRow {
    pub currency: String,
    pub rate: String,
    pub updated_at: DateTime<Utc>,
}

/// A record's tags as the `tags` column holds them: a JSON array, in order.
pub(crate) fn tags_json(tags: &pipewise_domain::Tags) -> String {
    serde_json::to_string(&tags.to_strings()).expect("strings serialize")
}

/// The `tags` column read back.
pub(crate) fn read_tags(id: Uuid, stored: &str) -> Result<pipewise_domain::Tags, StoreError> {
    let tags: Vec<String> =
        serde_json::from_str(stored).map_err(|e| StoreError::Corrupt(format!("record {id}: tags: {e}")))?;
    Ok(pipewise_domain::Tags::from_stored(&tags))
}
