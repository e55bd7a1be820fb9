//! Accounts: the companies the organization sells to. Deleting one moves it
//! to the trash (`deleted_at`), from which it can be restored; purging it is
//! final: its contacts and deals lose the link and the row goes.
//!
//! Every write locks the row and lets the API's [`Edit`] check it (and
//! compute the change) there, so what it checked still holds when the write
//! lands, and a write without `If-Match` never fails for having raced another.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use pipewise_domain::{text::search_key, Account, Country, Tags};
use uuid::Uuid;

use crate::{Actor, Edit, Page, Result};

/// Every field of an account a client sets, already validated.
#[derive(Debug, Clone, PartialEq)]
pub struct AccountFields {
    pub name: String,
    /// Lower-cased.
    pub domain: Option<String>,
    pub industry: Option<String>,
    pub employee_count: Option<i64>,
    pub country: Option<Country>,
    pub owner_id: Uuid,
    /// The id a partner's system knows the account by.
    pub external_id: Option<String>,
    pub tags: Tags,
    pub custom_fields: pipewise_domain::CustomValues,
}

impl AccountFields {
    /// The fields of a stored account, to apply a partial change to.
    pub fn of(account: &Account) -> Self {
        Self {
            name: account.name.clone(),
            domain: account.domain.clone(),
            industry: account.industry.clone(),
            employee_count: account.employee_count,
            country: account.country.clone(),
            owner_id: account.owner_id,
            external_id: account.external_id.clone(),
            tags: account.tags.clone(),
            custom_fields: account.custom_fields.clone(),
        }
    }

    pub(crate) fn name_key(&self) -> String {
        search_key(&[Some(&self.name)])
    }
}

/// Which live accounts to list; every filter given must match.
#[derive(Debug, Clone, Default)]
pub struct AccountFilter {
    /// Custom field values, all of which must match.
    pub custom: Vec<crate::custom_fields::CustomFilter>,
    pub owner_id: Option<Uuid>,
    /// A case-insensitive prefix of the name.
    pub name_prefix: Option<String>,
    /// The exact (lower-cased) domain.
    pub domain: Option<String>,
    pub tag: Option<pipewise_domain::Tag>,
}

/// The order of a list: by id, which is creation order (ids are UUID v7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RecordOrder {
    #[default]
    OldestFirst,
    NewestFirst,
}

#[async_trait]
pub trait AccountStore {
    /// A live account: absent, foreign and trashed ones are `NotFound`.
    async fn account(&self, org: Uuid, id: Uuid) -> Result<Account>;
    /// A live or trashed account.
    async fn account_incl_trashed(&self, org: Uuid, id: Uuid) -> Result<Account>;
    /// Live accounts matching `filter`, a page at a time (`page.after` is the last id seen).
    async fn accounts(&self, org: Uuid, filter: &AccountFilter, order: RecordOrder, page: Page)
        -> Result<Vec<Account>>;
    /// Creates an account; its owner is told when `actor` is someone else.
    async fn create_account(
        &self,
        org: Uuid,
        fields: &AccountFields,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<Account>;
    /// Replaces the fields of the live account with what `edit` makes of it
    /// under its row lock (`edit` checks `If-Match`). A new owner is told
    /// when `actor` is someone else.
    async fn update_account(
        &self,
        org: Uuid,
        id: Uuid,
        edit: Edit<'_, Account, AccountFields>,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<Account>;
    /// Applies a bulk action to the live accounts `ids` in one transaction
    /// (see [`crate::bulk_edit`]): `edit` decides each one's step under its
    /// row lock. Returns the ids changed; `Missing` names ids of no live account.
    async fn bulk_accounts(
        &self,
        org: Uuid,
        ids: &[Uuid],
        edit: Edit<'_, Account, crate::Step<AccountFields>>,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<Vec<Uuid>>;
    /// Moves the live account to the trash if `check` passes on it, under its row lock.
    async fn trash_account(
        &self,
        org: Uuid,
        id: Uuid,
        check: Edit<'_, Account, ()>,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<()>;
    /// Takes the trashed account out of the trash if `check` passes on it, under its
    /// row lock; a live one is returned as it is.
    async fn restore_account(
        &self,
        org: Uuid,
        id: Uuid,
        check: Edit<'_, Account, ()>,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<Account>;
    /// Deletes the account (live or trashed) for good if `check` passes on it: its
    /// contacts and deals keep existing without an account.
    async fn purge_account(
        &self,
        org: Uuid,
        id: Uuid,
        check: Edit<'_, Account, ()>,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<()>;
}

#[derive(sqlx::FromRow)]
pub(crate) struct AccountRow {
    id: Uuid,
    organization_id: Uuid,
    name: String,
    domain: Option<String>,
    industry: Option<String>,
    employee_count: Option<i64>,
    country: Option<String>,
    owner_id: Uuid,
    external_id: Option<String>,
    tags: String,
    custom_fields: String,
    version: i64,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    deleted_at: Option<DateTime<Utc>>,
    last_activity_at: Option<DateTime<Utc>>,
}

impl crate::queries::HasId for AccountRow {
    fn id(&self) -> Uuid {
        self.id
    }
}

impl TryFrom<AccountRow> for Account {
    type Error = crate::StoreError;
    fn try_from(row: AccountRow) -> Result<Self, crate::StoreError> {
        Ok(Account {
            id: row.id,
            organization_id: row.organization_id,
            name: row.name,
            domain: row.domain,
            industry: row.industry,
            employee_count: row.employee_count,
            // Written only through `Country::parse`.
            country: row.country.as_deref().and_then(|c| Country::parse(c).ok()),
            owner_id: row.owner_id,
            external_id: row.external_id,
            tags: crate::rows::read_tags(row.id, &row.tags)?,
            custom_fields: crate::custom_fields::read_values(&row.custom_fields)?,
            version: row.version,
            created_at: row.created_at,
            updated_at: row.updated_at,
            deleted_at: row.deleted_at,
            last_activity_at: row.last_activity_at,
        })
    }
}

/// `value` as a literal inside a `like … escape '\'` pattern.
pub(crate) fn like_literal(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        if matches!(c, '\\' | '%' | '_') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// A query builder for the backend of `pool` (`$n` on PostgreSQL, `?` on SQLite).
pub(crate) fn query_builder<'a, DB: sqlx::Database>(_pool: &sqlx::Pool<DB>, init: &str) -> sqlx::QueryBuilder<'a, DB>
where
    DB::Arguments<'a>: Default,
{
    sqlx::QueryBuilder::new(init)
}

/// Appends the condition that a record of `kind` carries `tag` (the
/// `record_tags` index kept by triggers).
pub(crate) fn push_tag<'a, DB: sqlx::Database>(
    qb: &mut sqlx::QueryBuilder<'a, DB>,
    kind: &'static str,
    org: Uuid,
    tag: &pipewise_domain::Tag,
) where
    Uuid: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    String: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
{
    qb.push(" and id in (select record_id from record_tags where kind = ")
        .push_bind(kind.to_owned())
        .push(" and organization_id = ")
        .push_bind(org)
        .push(" and tag = ")
        .push_bind(tag.as_str().to_owned())
        .push(")");
}

/// Appends the keyset condition and order of a page of live records.
pub(crate) fn push_page<'a, DB: sqlx::Database>(qb: &mut sqlx::QueryBuilder<'a, DB>, order: RecordOrder, page: Page)
where
    Uuid: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    i64: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
{
    let (after, direction) = match order {
        RecordOrder::OldestFirst => (" and id > ", " order by id limit "),
        RecordOrder::NewestFirst => (" and id < ", " order by id desc limit "),
    };
    if let Some(last) = page.after {
        qb.push(after).push_bind(last);
    }
    qb.push(direction).push_bind(i64::from(page.limit));
}

/// Implements [`AccountStore`] for a store type with `pool`, `begin_write`
/// and `FOR_UPDATE`, in the module of [`impl_store!`](crate::queries) (whose
/// `audit` it uses).
macro_rules! impl_account_store {
    ($store:ty) => {
        mod account_store {
            use super::*;
            use $crate::accounts::{AccountFields, AccountFilter, AccountRow, RecordOrder};
            use ::chrono::{DateTime, Utc};
            use ::pipewise_domain::Account;
            use ::uuid::Uuid;
            use $crate::{Actor, Page, StoreError};
            use $crate::events::{Happening, Record};
            use ::pipewise_domain::custom_field::Resource;

            /// Writes `fields` over `current` (locked) as its next version;
            /// `None` when it is in the trash. Owner notices are the caller's.
            pub(crate) async fn write_account(
                conn: &mut Conn,
                org: Uuid,
                current: &Account,
                fields: &AccountFields,
                now: DateTime<Utc>,
            ) -> $crate::Result<Option<AccountRow>> {
                if fields.custom_fields != current.custom_fields {
                    super::custom_field_store::check_keys(conn, org, Resource::Accounts, &fields.custom_fields).await?;
                }
                sqlx::query_as::<_, AccountRow>(
                    "update accounts
                     set name = $4, name_key = $5, domain = $6, industry = $7, employee_count = $8, owner_id = $9,
                         version = version + 1, updated_at = $10, country = $11, external_id = $12, tags = $13,
                         custom_fields = $14
                     where organization_id = $1 and id = $2 and version = $3 and deleted_at is null
                     returning *",
                )
                .bind(org)
                .bind(current.id)
                .bind(current.version)
                .bind(&fields.name)
                .bind(fields.name_key())
                .bind(fields.domain.as_deref())
                .bind(fields.industry.as_deref())
                .bind(fields.employee_count)
                .bind(fields.owner_id)
                .bind(now)
                .bind(fields.country.as_ref().map(|c| c.as_str()))
                .bind(fields.external_id.as_deref())
                .bind($crate::rows::tags_json(&fields.tags))
                .bind($crate::custom_fields::values_json(&fields.custom_fields))
                .fetch_optional(&mut *conn)
                .await
                .map_err(StoreError::external_id("another account has this external_id"))
            }

            #[async_trait::async_trait]
            impl $crate::accounts::AccountStore for $store {
                #[tracing::instrument(skip_all)]
                async fn account(&self, org: Uuid, id: Uuid) -> $crate::Result<Account> {
                    sqlx::query_as::<_, AccountRow>(
                        "select * from accounts where organization_id = $1 and id = $2 and deleted_at is null",
                    )
                    .bind(org)
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?
                    .ok_or(StoreError::NotFound)?
                    .try_into()
                }

                #[tracing::instrument(skip_all)]
                async fn account_incl_trashed(&self, org: Uuid, id: Uuid) -> $crate::Result<Account> {
                    sqlx::query_as::<_, AccountRow>("select * from accounts where organization_id = $1 and id = $2")
                        .bind(org)
                        .bind(id)
                        .fetch_optional(&self.pool)
                        .await?
                        .ok_or(StoreError::NotFound)?
                        .try_into()
                }

                #[tracing::instrument(skip_all)]
                async fn accounts(
                    &self,
                    org: Uuid,
                    filter: &AccountFilter,
                    order: RecordOrder,
                    page: Page,
                ) -> $crate::Result<Vec<Account>> {
                    let mut qb = $crate::accounts::query_builder(
                        &self.pool,
                        "select * from accounts where deleted_at is null and organization_id = ",
                    );
                    qb.push_bind(org);
                    if let Some(owner) = filter.owner_id {
                        qb.push(" and owner_id = ").push_bind(owner);
                    }
                    if let Some(domain) = &filter.domain {
                        qb.push(" and domain = ").push_bind(domain.clone());
                    }
                    if let Some(tag) = &filter.tag {
                        $crate::accounts::push_tag(&mut qb, "account", org, tag);
                    }
                    $crate::custom_fields::push_filters(&mut qb, "account", org, &filter.custom);
                    if let Some(prefix) = &filter.name_prefix {
                        qb.push(" and name_key >= ").push_bind(prefix.clone());
                        if let Some(upper) = $crate::sql::prefix_upper_bound(prefix) {
                            qb.push(" and name_key < ").push_bind(upper);
                        }
                    }
                    $crate::accounts::push_page(&mut qb, order, page);
                    Ok(qb
                        .build_query_as::<AccountRow>()
                        .fetch_all(&self.pool)
                        .await?
                        .into_iter()
                        .map(Account::try_from)
                        .collect::<$crate::Result<_>>()?)
                }

                #[tracing::instrument(skip_all)]
                async fn create_account(
                    &self,
                    org: Uuid,
                    fields: &AccountFields,
                    actor: Actor,
                    now: DateTime<Utc>,
                ) -> $crate::Result<Account> {
                    let mut tx = self.begin_write().await?;
                    super::custom_field_store::check_keys(&mut tx, org, Resource::Accounts, &fields.custom_fields).await?;
                    let account: Account = sqlx::query_as::<_, AccountRow>(
                        "insert into accounts (id, organization_id, name, name_key, domain, industry, employee_count,
                                               owner_id, version, created_at, updated_at, country, external_id, tags,
                                               custom_fields)
                         values ($1, $2, $3, $4, $5, $6, $7, $8, 1, $9, $9, $10, $11, $12, $13)
                         returning *",
                    )
                    .bind(Uuid::now_v7())
                    .bind(org)
                    .bind(&fields.name)
                    .bind(fields.name_key())
                    .bind(fields.domain.as_deref())
                    .bind(fields.industry.as_deref())
                    .bind(fields.employee_count)
                    .bind(fields.owner_id)
                    .bind(now)
                    .bind(fields.country.as_ref().map(|c| c.as_str()))
                    .bind(fields.external_id.as_deref())
                    .bind($crate::rows::tags_json(&fields.tags))
                    .bind($crate::custom_fields::values_json(&fields.custom_fields))
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(StoreError::external_id("another account has this external_id"))?
                    .try_into()?;
                    notify_owner(&mut tx, org, actor, &account, None, now).await?;
                    tx.created(org, actor, Record::Account(&account), now);
                    tx.commit().await?;
                    Ok(account)
                }

                #[tracing::instrument(skip_all)]
                async fn update_account(
                    &self,
                    org: Uuid,
                    id: Uuid,
                    edit: $crate::Edit<'_, Account, AccountFields>,
                    actor: Actor,
                    now: DateTime<Utc>,
                ) -> $crate::Result<Account> {
                    let mut tx = self.begin_write().await?;
                    // Writers of one account queue up on this row lock (on SQLite, on the
                    // write lock of BEGIN IMMEDIATE) until commit: `edit` sees the very
                    // version the update below replaces, so no write is lost and none
                    // is refused for having raced another.
                    let current: Account =
                        super::lock_row::<AccountRow>(&mut tx, "accounts", org, id, "deleted_at is null").await?.try_into()?;
                    let fields = &edit(&current).map_err(StoreError::Refused)?;
                    let account = change_account(&mut tx, org, current, fields, actor, now).await?;
                    tx.commit().await?;
                    Ok(account)
                }

                #[tracing::instrument(skip_all)]
                async fn bulk_accounts(
                    &self,
                    org: Uuid,
                    ids: &[Uuid],
                    edit: $crate::Edit<'_, Account, $crate::Step<AccountFields>>,
                    actor: Actor,
                    now: DateTime<Utc>,
                ) -> $crate::Result<Vec<Uuid>> {
                    let mut tx = self.begin_write().await?;
                    let rows = lock_rows::<AccountRow>(&mut tx, "accounts", org, ids, "deleted_at is null").await?;
                    let mut changed = Vec::new();
                    for row in rows {
                        let current = Account::try_from(row)?;
                        let id = current.id;
                        match edit(&current).map_err(StoreError::Refused)? {
                            $crate::Step::Keep => {}
                            $crate::Step::Change(fields) => {
                                let version = current.version;
                                if change_account(&mut tx, org, current, &fields, actor, now).await?.version != version {
                                    changed.push(id);
                                }
                            }
                            $crate::Step::Trash => {
                                trash_locked(&mut tx, org, &current, actor, now).await?;
                                changed.push(id);
                            }
                        }
                    }
                    tx.commit().await?;
                    Ok(changed)
                }

                #[tracing::instrument(skip_all)]
                async fn trash_account(
                    &self,
                    org: Uuid,
                    id: Uuid,
                    check: $crate::Edit<'_, Account, ()>,
                    actor: Actor,
                    now: DateTime<Utc>,
                ) -> $crate::Result<()> {
                    let mut tx = self.begin_write().await?;
                    let current: Account = super::lock_row::<AccountRow>(&mut tx, "accounts", org, id, "deleted_at is null").await?.try_into()?;
                    check(&current).map_err(StoreError::Refused)?;
                    trash_locked(&mut tx, org, &current, actor, now).await?;
                    tx.commit().await?;
                    Ok(())
                }

                #[tracing::instrument(skip_all)]
                async fn restore_account(
                    &self,
                    org: Uuid,
                    id: Uuid,
                    check: $crate::Edit<'_, Account, ()>,
                    actor: Actor,
                    now: DateTime<Utc>,
                ) -> $crate::Result<Account> {
                    let mut tx = self.begin_write().await?;
                    let current: Account = super::lock_row::<AccountRow>(&mut tx, "accounts", org, id, "1 = 1").await?.try_into()?;
                    check(&current).map_err(StoreError::Refused)?;
                    if current.deleted_at.is_none() {
                        return Ok(current);
                    }
                    let version = current.version;
                    let row = sqlx::query_as::<_, AccountRow>(
                        "update accounts set deleted_at = null, version = version + 1, updated_at = $4
                         where organization_id = $1 and id = $2 and version = $3 and deleted_at is not null
                         returning *",
                    )
                    .bind(org)
                    .bind(id)
                    .bind(version)
                    .bind(now)
                    .fetch_optional(&mut *tx)
                    .await?;
                    let Some(row) = row else {
                        return Err(account_write_missed(&mut tx, org, id, true).await?);
                    };
                    let account = Account::try_from(row)?;
                    tx.happened(org, actor, Happening::Restored, Record::Account(&account), now);
                    tx.commit().await?;
                    Ok(account)
                }

                #[tracing::instrument(skip_all)]
                async fn purge_account(
                    &self,
                    org: Uuid,
                    id: Uuid,
                    check: $crate::Edit<'_, Account, ()>,
                    actor: Actor,
                    now: DateTime<Utc>,
                ) -> $crate::Result<()> {
                    let mut tx = self.begin_write().await?;
                    let current: Account = super::lock_row::<AccountRow>(&mut tx, "accounts", org, id, "1 = 1").await?.try_into()?;
                    check(&current).map_err(StoreError::Refused)?;
                    // Contacts and deals outlive their account; their representation changes, so does their version.
                    sqlx::query(
                        "update contacts set account_id = null, version = version + 1, updated_at = $3
                         where organization_id = $1 and account_id = $2",
                    )
                    .bind(org)
                    .bind(id)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                    sqlx::query(
                        "update deals set account_id = null, version = version + 1, updated_at = $3
                         where organization_id = $1 and account_id = $2",
                    )
                    .bind(org)
                    .bind(id)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                    sqlx::query("delete from accounts where organization_id = $1 and id = $2")
                        .bind(org)
                        .bind(id)
                        .execute(&mut *tx)
                        .await?;
                    tx.happened(org, actor, Happening::Purged, Record::Account(&current), now);
                    tx.erase_history(org, "account", id).await?;
                    tx.commit().await?;
                    Ok(())
                }
            }

            /// Writes `fields` over `current` (locked) and tells a new owner;
            /// a write that changes nothing changes nothing (no new version).
            async fn change_account(
                tx: &mut Tx,
                org: Uuid,
                current: Account,
                fields: &AccountFields,
                actor: Actor,
                now: DateTime<Utc>,
            ) -> $crate::Result<Account> {
                if *fields == AccountFields::of(&current) {
                    return Ok(current);
                }
                let Some(row) = write_account(tx, org, &current, fields, now).await? else {
                    return Err(account_write_missed(tx, org, current.id, false).await?);
                };
                let account = Account::try_from(row)?;
                notify_owner(tx, org, actor, &account, Some(current.owner_id), now).await?;
                tx.changed(org, actor, Record::Account(&current), Record::Account(&account), now);
                Ok(account)
            }

            /// Moves `current` (locked, live) to the trash.
            async fn trash_locked(
                tx: &mut Tx,
                org: Uuid,
                current: &Account,
                actor: Actor,
                now: DateTime<Utc>,
            ) -> $crate::Result<()> {
                let trashed = sqlx::query_as::<_, AccountRow>(
                    "update accounts set deleted_at = $4, version = version + 1, updated_at = $4
                     where organization_id = $1 and id = $2 and version = $3 and deleted_at is null
                     returning *",
                )
                .bind(org)
                .bind(current.id)
                .bind(current.version)
                .bind(now)
                .fetch_optional(&mut **tx)
                .await?;
                let Some(trashed) = trashed else {
                    return Err(account_write_missed(tx, org, current.id, false).await?);
                };
                tx.happened(org, actor, Happening::Deleted, Record::Account(&Account::try_from(trashed)?), now);
                Ok(())
            }

            /// Tells the account's owner it is theirs, when someone else gave it to them.
            async fn notify_owner(
                tx: &mut Tx,
                org: Uuid,
                actor: Actor,
                account: &Account,
                previous_owner: Option<Uuid>,
                now: DateTime<Utc>,
            ) -> $crate::Result<()> {
                super::lead_core::notify_assignment(
                    &mut **tx,
                    org,
                    actor,
                    ::pipewise_domain::RecordKind::Account,
                    account.id,
                    &account.name,
                    previous_owner,
                    account.owner_id,
                    now,
                )
                .await
            }

            /// Why a versioned write touched no row: the account (live, or
            /// trashed when `trashed`) is gone, or it changed meanwhile.
            async fn account_write_missed(tx: &mut Tx, org: Uuid, id: Uuid, trashed: bool) -> $crate::Result<StoreError> {
                let sql = if trashed {
                    "select count(*) from accounts where organization_id = $1 and id = $2 and deleted_at is not null"
                } else {
                    "select count(*) from accounts where organization_id = $1 and id = $2 and deleted_at is null"
                };
                let exists: i64 = sqlx::query_scalar(sql).bind(org).bind(id).fetch_one(&mut **tx).await?;
                Ok(if exists == 0 { StoreError::NotFound } else { StoreError::VersionMismatch })
            }
        }
    };
}

pub(crate) use impl_account_store;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_wildcards_are_escaped() {
        assert_eq!(like_literal(r"50%_a\b"), r"50\%\_a\\b");
    }
}
