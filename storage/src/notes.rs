//! Notes: free text attached to exactly one lead, contact, account or deal.
//! The database holds the same rule as a check constraint.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use pipewise_domain::{Links, Note, NoteBody, RecordRef};
use uuid::Uuid;

use crate::{
    sql::{Arg, Sql},
    Actor, Edit, Page, Result, StoreError,
};

/// Which live notes to list; every filter given must match.
#[derive(Debug, Clone, Default)]
pub struct NoteFilter {
    /// A rep sees the notes of the leads and deals they own, and of every
    /// contact and account.
    pub visible_to_owner: Option<Uuid>,
    pub links: Links,
}

#[async_trait]
pub trait NoteStore {
    /// A live note: absent, foreign and trashed ones are `NotFound`.
    async fn note(&self, org: Uuid, id: Uuid) -> Result<Note>;
    /// Live notes in id (creation) order, a page at a time.
    async fn notes(&self, org: Uuid, filter: &NoteFilter, page: Page) -> Result<Vec<Note>>;
    async fn create_note(
        &self,
        org: Uuid,
        record: RecordRef,
        body: &NoteBody,
        author: Option<Uuid>,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<Note>;
    /// Replaces the body of the live note if `check` passes on it, under its row lock.
    async fn update_note(
        &self,
        org: Uuid,
        id: Uuid,
        check: Edit<'_, Note, ()>,
        body: &NoteBody,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<Note>;
    /// Moves the live note to the trash if `check` passes on it, under its row lock.
    async fn trash_note(
        &self,
        org: Uuid,
        id: Uuid,
        check: Edit<'_, Note, ()>,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<()>;
}

#[derive(sqlx::FromRow)]
pub(crate) struct NoteRow {
    id: Uuid,
    organization_id: Uuid,
    body: String,
    lead_id: Option<Uuid>,
    contact_id: Option<Uuid>,
    account_id: Option<Uuid>,
    deal_id: Option<Uuid>,
    author_user_id: Option<Uuid>,
    version: i64,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    deleted_at: Option<DateTime<Utc>>,
}

impl TryFrom<NoteRow> for Note {
    type Error = StoreError;
    fn try_from(row: NoteRow) -> Result<Self, StoreError> {
        let links = Links {
            lead_id: row.lead_id,
            contact_id: row.contact_id,
            account_id: row.account_id,
            deal_id: row.deal_id,
        };
        Ok(Note {
            id: row.id,
            organization_id: row.organization_id,
            record: RecordRef::from_links(links).map_err(|e| StoreError::Corrupt(format!("note {}: {e}", row.id)))?,
            body: row.body,
            author_user_id: row.author_user_id,
            version: row.version,
            created_at: row.created_at,
            updated_at: row.updated_at,
            deleted_at: row.deleted_at,
        })
    }
}

/// The SQL of a page of notes.
pub(crate) fn list_sql(org: Uuid, filter: &NoteFilter, page: Page) -> Sql {
    let mut sql = Sql::new("select * from notes where ");
    sql.push_args("organization_id = {} and deleted_at is null", [Arg::Uuid(org)]);
    let links = [
        ("lead_id", filter.links.lead_id),
        ("contact_id", filter.links.contact_id),
        ("account_id", filter.links.account_id),
        ("deal_id", filter.links.deal_id),
    ];
    for (column, id) in links {
        if let Some(id) = id {
            sql.push_args(&format!(" and {column} = {{}}"), [Arg::Uuid(id)]);
        }
    }
    if let Some(me) = filter.visible_to_owner {
        sql.push_args(
            " and (lead_id is null or lead_id in (select id from leads where owner_id = {}))
              and (deal_id is null or deal_id in (select id from deals where owner_id = {}))",
            [Arg::Uuid(me), Arg::Uuid(me)],
        );
    }
    if let Some(after) = page.after {
        sql.push_args(" and id > {}", [Arg::Uuid(after)]);
    }
    sql.push_args(" order by id limit {}", [Arg::Int(i64::from(page.limit))]);
    sql
}

/// Implements [`NoteStore`] for a store type with `pool` and `begin_write`,
/// in the module of `impl_store!` (whose `audit` it uses).
macro_rules! impl_note_store {
    ($store:ty) => {
        mod note_store {
            use super::*;
            use ::chrono::{DateTime, Utc};
            use ::pipewise_domain::{Note, NoteBody, RecordRef};
            use ::uuid::Uuid;
            use $crate::events::{Happening, Record};
            use $crate::notes::NoteRow;
            use $crate::{Actor, Page, StoreError};

            #[async_trait::async_trait]
            impl $crate::notes::NoteStore for $store {
                #[tracing::instrument(skip_all)]
                async fn note(&self, org: Uuid, id: Uuid) -> $crate::Result<Note> {
                    sqlx::query_as::<_, NoteRow>(
                        "select * from notes where organization_id = $1 and id = $2 and deleted_at is null",
                    )
                    .bind(org)
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?
                    .ok_or(StoreError::NotFound)?
                    .try_into()
                }

                #[tracing::instrument(skip_all)]
                async fn notes(
                    &self,
                    org: Uuid,
                    filter: &$crate::notes::NoteFilter,
                    page: Page,
                ) -> $crate::Result<Vec<Note>> {
                    let sql = $crate::notes::list_sql(org, filter, page);
                    $crate::sql::bind_args!(sqlx::query_as::<_, NoteRow>(&sql.text), &sql.args)
                        .fetch_all(&self.pool)
                        .await?
                        .into_iter()
                        .map(TryInto::try_into)
                        .collect()
                }

                #[tracing::instrument(skip_all)]
                async fn create_note(
                    &self,
                    org: Uuid,
                    record: RecordRef,
                    body: &NoteBody,
                    author: Option<Uuid>,
                    actor: Actor,
                    now: DateTime<Utc>,
                ) -> $crate::Result<Note> {
                    let links = record.links();
                    let mut tx = self.begin_write().await?;
                    let note: Note = sqlx::query_as::<_, NoteRow>(
                        "insert into notes (id, organization_id, body, lead_id, contact_id, account_id, deal_id,
                                            author_user_id, version, created_at, updated_at, deleted_at)
                         values ($1, $2, $3, $4, $5, $6, $7, $8, 1, $9, $9, null)
                         returning *",
                    )
                    .bind(Uuid::now_v7())
                    .bind(org)
                    .bind(body.as_str())
                    .bind(links.lead_id)
                    .bind(links.contact_id)
                    .bind(links.account_id)
                    .bind(links.deal_id)
                    .bind(author)
                    .bind(now)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(|err| match &err {
                        sqlx::Error::Database(db) if db.kind() == sqlx::error::ErrorKind::ForeignKeyViolation => {
                            StoreError::Invalid(record_field(record), "the record no longer exists")
                        }
                        _ => StoreError::Database(err),
                    })?
                    .try_into()?;
                    tx.created(org, actor, Record::Note(&note), now);
                    tx.commit().await?;
                    Ok(note)
                }

                #[tracing::instrument(skip_all)]
                async fn update_note(
                    &self,
                    org: Uuid,
                    id: Uuid,
                    check: $crate::Edit<'_, Note, ()>,
                    body: &NoteBody,
                    actor: Actor,
                    now: DateTime<Utc>,
                ) -> $crate::Result<Note> {
                    let mut tx = self.begin_write().await?;
                    let current: Note = super::lock_row::<NoteRow>(&mut tx, "notes", org, id, "deleted_at is null")
                        .await?
                        .try_into()?;
                    check(&current).map_err(StoreError::Refused)?;
                    let row = sqlx::query_as::<_, NoteRow>(
                        "update notes set body = $3, version = version + 1, updated_at = $4
                         where organization_id = $1 and id = $2
                         returning *",
                    )
                    .bind(org)
                    .bind(id)
                    .bind(body.as_str())
                    .bind(now)
                    .fetch_one(&mut *tx)
                    .await?;
                    let note = Note::try_from(row)?;
                    tx.changed(org, actor, Record::Note(&current), Record::Note(&note), now);
                    tx.commit().await?;
                    Ok(note)
                }

                #[tracing::instrument(skip_all)]
                async fn trash_note(
                    &self,
                    org: Uuid,
                    id: Uuid,
                    check: $crate::Edit<'_, Note, ()>,
                    actor: Actor,
                    now: DateTime<Utc>,
                ) -> $crate::Result<()> {
                    let mut tx = self.begin_write().await?;
                    let current: Note = super::lock_row::<NoteRow>(&mut tx, "notes", org, id, "deleted_at is null")
                        .await?
                        .try_into()?;
                    check(&current).map_err(StoreError::Refused)?;
                    let trashed: Note = sqlx::query_as::<_, NoteRow>(
                        "update notes set deleted_at = $3, version = version + 1, updated_at = $3
                         where organization_id = $1 and id = $2 returning *",
                    )
                    .bind(org)
                    .bind(id)
                    .bind(now)
                    .fetch_one(&mut *tx)
                    .await?
                    .try_into()?;
                    tx.happened(org, actor, Happening::Deleted, Record::Note(&trashed), now);
                    tx.commit().await?;
                    Ok(())
                }
            }

            fn record_field(record: RecordRef) -> &'static str {
                match record {
                    RecordRef::Lead(_) => "lead_id",
                    RecordRef::Contact(_) => "contact_id",
                    RecordRef::Account(_) => "account_id",
                    RecordRef::Deal(_) => "deal_id",
                }
            }
        }
    };
}

pub(crate) use impl_note_store;
