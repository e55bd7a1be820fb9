//! Contacts: the people the organization deals with. Deleting one moves it to
//! the trash; purging it erases its personal fields for good but keeps the
//! row, so that the deals it took part in keep their history.
//!
//! Writes lock the row and let the API's [`Edit`] check it there, as for accounts.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use pipewise_domain::{deal::BuyingRole, text::search_key, Contact, Email};
use uuid::Uuid;

use crate::{accounts::RecordOrder, Actor, Edit, Page, Result, StoreError};

/// Every field of a contact a client sets, already validated.
#[derive(Debug, Clone, PartialEq)]
pub struct ContactFields {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<Email>,
    pub phone: Option<String>,
    pub title: Option<String>,
    pub account_id: Option<Uuid>,
    pub buying_role: Option<BuyingRole>,
    pub owner_id: Uuid,
    /// The id a partner's system knows the contact by.
    pub external_id: Option<String>,
    pub tags: pipewise_domain::Tags,
    pub custom_fields: pipewise_domain::CustomValues,
}

impl ContactFields {
    /// The fields of a stored contact, to apply a partial change to.
    pub fn of(contact: &Contact) -> Result<Self> {
        let email = contact
            .email
            .as_deref()
            .map(Email::parse)
            .transpose()
            .map_err(|e| StoreError::Corrupt(format!("contact {}: {e}", contact.id)))?;
        Ok(Self {
            first_name: contact.first_name.clone(),
            last_name: contact.last_name.clone(),
            email,
            phone: contact.phone.clone(),
            title: contact.title.clone(),
            account_id: contact.account_id,
            buying_role: contact.buying_role,
            owner_id: contact.owner_id,
            external_id: contact.external_id.clone(),
            tags: contact.tags.clone(),
            custom_fields: contact.custom_fields.clone(),
        })
    }

    /// Lower-cased "first last", for prefix search.
    pub(crate) fn name_key(&self) -> String {
        search_key(&[self.first_name.as_deref(), self.last_name.as_deref()])
    }
}

/// Which live contacts to list; every filter given must match.
#[derive(Debug, Clone, Default)]
pub struct ContactFilter {
    /// Custom field values, all of which must match.
    pub custom: Vec<crate::custom_fields::CustomFilter>,
    pub account_id: Option<Uuid>,
    pub buying_role: Option<BuyingRole>,
    pub owner_id: Option<Uuid>,
    /// A case-insensitive prefix of the first name, the full name, any later
    /// word of the name (such as the last name) or the email address.
    pub prefix: Option<String>,
    pub tag: Option<pipewise_domain::Tag>,
}

#[async_trait]
pub trait ContactStore {
    /// A live contact: absent, foreign, trashed and purged ones are `NotFound`.
    async fn contact(&self, org: Uuid, id: Uuid) -> Result<Contact>;
    /// A live or trashed contact; purged ones are `NotFound`.
    async fn contact_incl_trashed(&self, org: Uuid, id: Uuid) -> Result<Contact>;
    /// The contact (live or trashed) with this email address, if any.
    async fn contact_id_by_email(&self, org: Uuid, email: &Email) -> Result<Option<Uuid>>;
    /// Live contacts matching `filter`, a page at a time (`page.after` is the last id seen).
    async fn contacts(&self, org: Uuid, filter: &ContactFilter, order: RecordOrder, page: Page)
        -> Result<Vec<Contact>>;
    /// Conflict when another contact of the organization has the email
    /// address, `DuplicateEmail` when a lead (live or trashed, not converted)
    /// has it. The owner is told when `actor` is someone else.
    async fn create_contact(
        &self,
        org: Uuid,
        fields: &ContactFields,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<Contact>;
    /// Replaces the fields of the live contact with what `edit` makes of it
    /// under its row lock (`edit` checks `If-Match`); a new email is refused
    /// as for a new contact. A new owner is told when `actor` is someone else.
    async fn update_contact(
        &self,
        org: Uuid,
        id: Uuid,
        edit: Edit<'_, Contact, ContactFields>,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<Contact>;
    /// Applies a bulk action to the live contacts `ids` in one transaction
    /// (see [`crate::bulk_edit`]): `edit` decides each one's step under its
    /// row lock. Returns the ids changed; `Missing` names ids of no live contact.
    async fn bulk_contacts(
        &self,
        org: Uuid,
        ids: &[Uuid],
        edit: Edit<'_, Contact, crate::Step<ContactFields>>,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<Vec<Uuid>>;
    /// Merges the live contacts `merge_ids` into the live contact `keep_id`
    /// in one transaction: `edit` sees them all under their row locks and
    /// returns the kept contact's fields. The merged contacts' activities,
    /// notes, deal links and converted leads move to the kept one; they go to
    /// the trash without their email and external id (which the kept contact
    /// may take). `Missing` names the ids of no live contact.
    async fn merge_contacts(
        &self,
        org: Uuid,
        keep_id: Uuid,
        merge_ids: &[Uuid],
        edit: Edit<'_, crate::Merging<Contact>, ContactFields>,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<Contact>;
    /// Moves the live contact to the trash if `check` passes on it, under its row lock.
    async fn trash_contact(
        &self,
        org: Uuid,
        id: Uuid,
        check: Edit<'_, Contact, ()>,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<()>;
    /// Takes the trashed contact out of the trash if `check` passes on it, under its
    /// row lock; a live one is returned as it is.
    async fn restore_contact(
        &self,
        org: Uuid,
        id: Uuid,
        check: Edit<'_, Contact, ()>,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<Contact>;
    /// Erases the personal fields of the contact (live or trashed) if `check`
    /// passes on it, and leaves it trashed for good; the row stays for the deals'
    /// history.
    async fn purge_contact(
        &self,
        org: Uuid,
        id: Uuid,
        check: Edit<'_, Contact, ()>,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<()>;
}

#[derive(sqlx::FromRow)]
pub(crate) struct ContactRow {
    id: Uuid,
    organization_id: Uuid,
    first_name: Option<String>,
    last_name: Option<String>,
    email: Option<String>,
    phone: Option<String>,
    title: Option<String>,
    account_id: Option<Uuid>,
    buying_role: Option<String>,
    owner_id: Uuid,
    external_id: Option<String>,
    tags: String,
    custom_fields: String,
    version: i64,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    deleted_at: Option<DateTime<Utc>>,
    erased_at: Option<DateTime<Utc>>,
    last_activity_at: Option<DateTime<Utc>>,
}

impl crate::queries::HasId for ContactRow {
    fn id(&self) -> Uuid {
        self.id
    }
}

impl TryFrom<ContactRow> for Contact {
    type Error = StoreError;
    fn try_from(row: ContactRow) -> Result<Self, StoreError> {
        let buying_role = match row.buying_role.as_deref() {
            None => None,
            Some(raw) => Some(
                BuyingRole::parse(raw)
                    .ok_or_else(|| StoreError::Corrupt(format!("contact {}: buying role {raw:?}", row.id)))?,
            ),
        };
        Ok(Contact {
            id: row.id,
            organization_id: row.organization_id,
            first_name: row.first_name,
            last_name: row.last_name,
            email: row.email,
            phone: row.phone,
            title: row.title,
            account_id: row.account_id,
            buying_role,
            owner_id: row.owner_id,
            external_id: row.external_id,
            tags: crate::rows::read_tags(row.id, &row.tags)?,
            custom_fields: crate::custom_fields::read_values(&row.custom_fields)?,
            version: row.version,
            created_at: row.created_at,
            updated_at: row.updated_at,
            deleted_at: row.deleted_at,
            erased_at: row.erased_at,
            last_activity_at: row.last_activity_at,
        })
    }
}

/// What merging contact `$2` into contact `$3` (of organization `$1`, at
/// `$4`) does, in order: the deals it is on change (a new version); a link
/// to a deal the kept contact is on already goes, the others move; its
/// activities, notes and converted leads move; it goes to the trash,
/// emptied of its email and external id so the kept contact may take them.
/// Each statement binds the same four arguments (`$3 = $3` uses one a
/// statement has no need of, as PostgreSQL wants every argument used).
pub(crate) const MERGE_CONTACT: [&str; 7] = [
    "update deals set version = version + 1, updated_at = $4
     where organization_id = $1 and id in (select deal_id from deal_contacts where contact_id = $2) and $3 = $3",
    "delete from deal_contacts
     where contact_id = $2 and deal_id in (select deal_id from deal_contacts where contact_id = $3)
       and organization_id = $1 and $4 = $4",
    "update deal_contacts set contact_id = $3 where organization_id = $1 and contact_id = $2 and $4 = $4",
    "update activities set contact_id = $3, version = version + 1, updated_at = $4
     where organization_id = $1 and contact_id = $2",
    "update notes set contact_id = $3, version = version + 1, updated_at = $4
     where organization_id = $1 and contact_id = $2",
    "update leads set converted_contact_id = $3, version = version + 1, updated_at = $4
     where organization_id = $1 and converted_contact_id = $2",
    "update contacts set deleted_at = $4, email = null, external_id = null, version = version + 1, updated_at = $4
     where organization_id = $1 and id = $2 and $3 = $3",
];

/// How a contact is named in a message: its name, else its email, else its
/// id; never empty.
pub(crate) fn display_name(contact: &Contact) -> String {
    let full = [contact.first_name.as_deref(), contact.last_name.as_deref()]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
    if !full.is_empty() {
        full
    } else if let Some(email) = &contact.email {
        email.clone()
    } else {
        contact.id.to_string()
    }
}

/// A unique violation means a duplicate email; a foreign key one, an account
/// purged after the API checked it.
pub(crate) fn contact_write_error(err: sqlx::Error) -> StoreError {
    match &err {
        sqlx::Error::Database(db) if crate::error::is_external_id_clash(db.as_ref()) => {
            StoreError::Conflict("another contact has this external_id")
        }
        sqlx::Error::Database(db) if db.kind() == sqlx::error::ErrorKind::UniqueViolation => {
            StoreError::Conflict("a contact with this email already exists")
        }
        sqlx::Error::Database(db) if db.kind() == sqlx::error::ErrorKind::ForeignKeyViolation => StoreError::Invalid(
            "account_id",
            "must be an account of the organization that is not in the trash",
        ),
        _ => StoreError::Database(err),
    }
}

/// Implements [`ContactStore`] for a store type with `pool`, `begin_write`
/// and `FOR_UPDATE`, in the module of `impl_store!` (whose `audit` it uses).
macro_rules! impl_contact_store {
    ($store:ty) => {
        mod contact_store {
            use super::*;
            use $crate::accounts::RecordOrder;
            use $crate::contacts::{ContactFields, ContactFilter, ContactRow};
            use ::chrono::{DateTime, Utc};
            use ::pipewise_domain::{Contact, Email};
            use ::pipewise_domain::custom_field::Resource;
            use ::uuid::Uuid;
            use $crate::{Actor, Page, StoreError};
            use $crate::events::{Happening, Record};

            /// Writes `fields` over `current` (locked) as its next version;
            /// `None` when it is in the trash. Owner notices are the caller's.
            pub(crate) async fn write_contact(
                conn: &mut Conn,
                org: Uuid,
                current: &Contact,
                fields: &ContactFields,
                now: DateTime<Utc>,
            ) -> $crate::Result<Option<ContactRow>> {
                if fields.custom_fields != current.custom_fields {
                    super::custom_field_store::check_keys(conn, org, Resource::Contacts, &fields.custom_fields).await?;
                }
                sqlx::query_as::<_, ContactRow>(
                    "update contacts
                     set first_name = $4, last_name = $5, name_key = $6, email = $7, phone = $8, title = $9,
                         account_id = $10, buying_role = $11, owner_id = $12,
                         version = version + 1, updated_at = $13, external_id = $14, tags = $15, custom_fields = $16
                     where organization_id = $1 and id = $2 and version = $3 and deleted_at is null
                     returning *",
                )
                .bind(org)
                .bind(current.id)
                .bind(current.version)
                .bind(fields.first_name.as_deref())
                .bind(fields.last_name.as_deref())
                .bind(fields.name_key())
                .bind(fields.email.as_ref().map(Email::as_str))
                .bind(fields.phone.as_deref())
                .bind(fields.title.as_deref())
                .bind(fields.account_id)
                .bind(fields.buying_role.map(|r| r.as_str()))
                .bind(fields.owner_id)
                .bind(now)
                .bind(fields.external_id.as_deref())
                .bind($crate::rows::tags_json(&fields.tags))
                .bind($crate::custom_fields::values_json(&fields.custom_fields))
                .fetch_optional(&mut *conn)
                .await
                .map_err($crate::contacts::contact_write_error)
            }

            #[async_trait::async_trait]
            impl $crate::contacts::ContactStore for $store {
                #[tracing::instrument(skip_all)]
                async fn contact(&self, org: Uuid, id: Uuid) -> $crate::Result<Contact> {
                    sqlx::query_as::<_, ContactRow>(
                        "select * from contacts where organization_id = $1 and id = $2 and deleted_at is null",
                    )
                    .bind(org)
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?
                    .ok_or(StoreError::NotFound)?
                    .try_into()
                }

                #[tracing::instrument(skip_all)]
                async fn contact_incl_trashed(&self, org: Uuid, id: Uuid) -> $crate::Result<Contact> {
                    sqlx::query_as::<_, ContactRow>(
                        "select * from contacts where organization_id = $1 and id = $2 and erased_at is null",
                    )
                    .bind(org)
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?
                    .ok_or(StoreError::NotFound)?
                    .try_into()
                }

                #[tracing::instrument(skip_all)]
                async fn contact_id_by_email(&self, org: Uuid, email: &Email) -> $crate::Result<Option<Uuid>> {
                    Ok(sqlx::query_scalar("select id from contacts where organization_id = $1 and email = $2")
                        .bind(org)
                        .bind(email.as_str())
                        .fetch_optional(&self.pool)
                        .await?)
                }

                #[tracing::instrument(skip_all)]
                async fn contacts(
                    &self,
                    org: Uuid,
                    filter: &ContactFilter,
                    order: RecordOrder,
                    page: Page,
                ) -> $crate::Result<Vec<Contact>> {
                    let mut qb = $crate::accounts::query_builder(
                        &self.pool,
                        "select * from contacts where deleted_at is null and organization_id = ",
                    );
                    qb.push_bind(org);
                    if let Some(account) = filter.account_id {
                        qb.push(" and account_id = ").push_bind(account);
                    }
                    if let Some(role) = filter.buying_role {
                        qb.push(" and buying_role = ").push_bind(role.as_str());
                    }
                    if let Some(owner) = filter.owner_id {
                        qb.push(" and owner_id = ").push_bind(owner);
                    }
                    if let Some(tag) = &filter.tag {
                        $crate::accounts::push_tag(&mut qb, "contact", org, tag);
                    }
                    $crate::custom_fields::push_filters(&mut qb, "contact", org, &filter.custom);
                    if let Some(prefix) = &filter.prefix {
                        // The words of the search index (see `search`).
                        let words = $crate::search::search_words(prefix);
                        if words.is_empty() {
                            qb.push(" and 1 = 0");
                        } else {
                            let condition = $crate::search::full_text_condition(BACKEND, "contacts");
                            let (open, close) = condition.split_once("{}").expect("one argument");
                            qb.push(open)
                                .push_bind($crate::search::full_text_query(BACKEND, &words))
                                .push(close);
                        }
                    }
                    $crate::accounts::push_page(&mut qb, order, page);
                    qb.build_query_as::<ContactRow>()
                        .fetch_all(&self.pool)
                        .await?
                        .into_iter()
                        .map(TryInto::try_into)
                        .collect()
                }

                #[tracing::instrument(skip_all)]
                async fn create_contact(
                    &self,
                    org: Uuid,
                    fields: &ContactFields,
                    actor: Actor,
                    now: DateTime<Utc>,
                ) -> $crate::Result<Contact> {
                    let mut tx = self.begin_write().await?;
                    if let Some(email) = &fields.email {
                        super::lead_core::claim_email(&mut tx, org, email, None, false).await?;
                    }
                    super::custom_field_store::check_keys(&mut tx, org, Resource::Contacts, &fields.custom_fields).await?;
                    let contact: Contact = sqlx::query_as::<_, ContactRow>(
                        "insert into contacts (id, organization_id, first_name, last_name, name_key, email, phone, title,
                                               account_id, buying_role, owner_id, version, created_at, updated_at,
                                               external_id, tags, custom_fields)
                         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 1, $12, $12, $13, $14, $15)
                         returning *",
                    )
                    .bind(Uuid::now_v7())
                    .bind(org)
                    .bind(fields.first_name.as_deref())
                    .bind(fields.last_name.as_deref())
                    .bind(fields.name_key())
                    .bind(fields.email.as_ref().map(Email::as_str))
                    .bind(fields.phone.as_deref())
                    .bind(fields.title.as_deref())
                    .bind(fields.account_id)
                    .bind(fields.buying_role.map(|r| r.as_str()))
                    .bind(fields.owner_id)
                    .bind(now)
                    .bind(fields.external_id.as_deref())
                    .bind($crate::rows::tags_json(&fields.tags))
                    .bind($crate::custom_fields::values_json(&fields.custom_fields))
                    .fetch_one(&mut *tx)
                    .await
                    .map_err($crate::contacts::contact_write_error)?
                    .try_into()?;
                    notify_owner(&mut tx, org, actor, &contact, None, now).await?;
                    tx.created(org, actor, Record::Contact(&contact), now);
                    tx.commit().await?;
                    Ok(contact)
                }

                #[tracing::instrument(skip_all)]
                async fn update_contact(
                    &self,
                    org: Uuid,
                    id: Uuid,
                    edit: $crate::Edit<'_, Contact, ContactFields>,
                    actor: Actor,
                    now: DateTime<Utc>,
                ) -> $crate::Result<Contact> {
                    let mut tx = self.begin_write().await?;
                    super::lead_core::enter_email_writes(&mut tx, org).await?;
                    // Writers of one contact queue up on this row lock (on SQLite, on the
                    // write lock of BEGIN IMMEDIATE) until commit: `edit` sees the very
                    // version the update below replaces, so no write is lost and none
                    // is refused for having raced another.
                    let current: Contact =
                        super::lock_row::<ContactRow>(&mut tx, "contacts", org, id, "deleted_at is null").await?.try_into()?;
                    let fields = &edit(&current).map_err(StoreError::Refused)?;
                    let contact = change_contact(&mut tx, org, current, fields, actor, now).await?;
                    tx.commit().await?;
                    Ok(contact)
                }

                #[tracing::instrument(skip_all)]
                async fn bulk_contacts(
                    &self,
                    org: Uuid,
                    ids: &[Uuid],
                    edit: $crate::Edit<'_, Contact, $crate::Step<ContactFields>>,
                    actor: Actor,
                    now: DateTime<Utc>,
                ) -> $crate::Result<Vec<Uuid>> {
                    let mut tx = self.begin_write().await?;
                    super::lead_core::enter_email_writes(&mut tx, org).await?;
                    let rows = lock_rows::<ContactRow>(&mut tx, "contacts", org, ids, "deleted_at is null").await?;
                    let mut changed = Vec::new();
                    for row in rows {
                        let current = Contact::try_from(row)?;
                        let id = current.id;
                        match edit(&current).map_err(StoreError::Refused)? {
                            $crate::Step::Keep => {}
                            $crate::Step::Change(fields) => {
                                let version = current.version;
                                if change_contact(&mut tx, org, current, &fields, actor, now).await?.version != version {
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
                async fn merge_contacts(
                    &self,
                    org: Uuid,
                    keep_id: Uuid,
                    merge_ids: &[Uuid],
                    edit: $crate::Edit<'_, $crate::Merging<Contact>, ContactFields>,
                    actor: Actor,
                    now: DateTime<Utc>,
                ) -> $crate::Result<Contact> {
                    let mut tx = self.begin_write().await?;
                    super::lead_core::enter_email_writes(&mut tx, org).await?;
                    let mut ids = merge_ids.to_vec();
                    ids.push(keep_id);
                    let rows = lock_rows::<ContactRow>(&mut tx, "contacts", org, &ids, "deleted_at is null").await?;
                    let records = rows.into_iter().map(Contact::try_from).collect::<$crate::Result<Vec<_>>>()?;
                    let merging = $crate::Merging::split(records, keep_id, |r| r.id)?;
                    let fields = edit(&merging).map_err(StoreError::Refused)?;
                    let $crate::Merging { keep, merged } = merging;
                    for gone in &merged {
                        for sql in $crate::contacts::MERGE_CONTACT {
                            sqlx::query(sql)
                                .bind(org)
                                .bind(gone.id)
                                .bind(keep.id)
                                .bind(now)
                                .execute(&mut *tx)
                                .await?;
                        }
                        let merged: Contact = sqlx::query_as::<_, ContactRow>("select * from contacts where id = $1")
                            .bind(gone.id)
                            .fetch_one(&mut *tx)
                            .await?
                            .try_into()?;
                        tx.happened(org, actor, Happening::Merged, Record::Contact(&merged), now);
                    }
                    let last_activity = merged.iter().filter_map(|c| c.last_activity_at).chain(keep.last_activity_at).max();
                    let (id, version) = (keep.id, keep.version);
                    let written = change_contact(&mut tx, org, keep, &fields, actor, now).await?;
                    // The kept contact changed even when its fields did not: it has more history now.
                    let row = sqlx::query_as::<_, ContactRow>(
                        "update contacts set last_activity_at = $3,
                             version = case when version = $4 then version + 1 else version end, updated_at = $5
                         where organization_id = $1 and id = $2 returning *",
                    )
                    .bind(org)
                    .bind(id)
                    .bind(last_activity.or(written.last_activity_at))
                    .bind(version)
                    .bind(now)
                    .fetch_one(&mut *tx)
                    .await?;
                    let kept = Contact::try_from(row)?;
                    tx.changed(org, actor, Record::Contact(&written), Record::Contact(&kept), now);
                    tx.commit().await?;
                    Ok(kept)
                }

                #[tracing::instrument(skip_all)]
                async fn trash_contact(
                    &self,
                    org: Uuid,
                    id: Uuid,
                    check: $crate::Edit<'_, Contact, ()>,
                    actor: Actor,
                    now: DateTime<Utc>,
                ) -> $crate::Result<()> {
                    let mut tx = self.begin_write().await?;
                    let current: Contact = super::lock_row::<ContactRow>(&mut tx, "contacts", org, id, "deleted_at is null").await?.try_into()?;
                    check(&current).map_err(StoreError::Refused)?;
                    trash_locked(&mut tx, org, &current, actor, now).await?;
                    tx.commit().await?;
                    Ok(())
                }

                #[tracing::instrument(skip_all)]
                async fn restore_contact(
                    &self,
                    org: Uuid,
                    id: Uuid,
                    check: $crate::Edit<'_, Contact, ()>,
                    actor: Actor,
                    now: DateTime<Utc>,
                ) -> $crate::Result<Contact> {
                    let mut tx = self.begin_write().await?;
                    let current: Contact = super::lock_row::<ContactRow>(&mut tx, "contacts", org, id, "erased_at is null").await?.try_into()?;
                    check(&current).map_err(StoreError::Refused)?;
                    if current.deleted_at.is_none() {
                        return Ok(current);
                    }
                    let version = current.version;
                    let row = sqlx::query_as::<_, ContactRow>(
                        "update contacts set deleted_at = null, version = version + 1, updated_at = $4
                         where organization_id = $1 and id = $2 and version = $3
                           and deleted_at is not null and erased_at is null
                         returning *",
                    )
                    .bind(org)
                    .bind(id)
                    .bind(version)
                    .bind(now)
                    .fetch_optional(&mut *tx)
                    .await?;
                    let Some(row) = row else {
                        return Err(contact_write_missed(&mut tx, org, id, true).await?);
                    };
                    let contact = Contact::try_from(row)?;
                    tx.happened(org, actor, Happening::Restored, Record::Contact(&contact), now);
                    tx.commit().await?;
                    Ok(contact)
                }

                #[tracing::instrument(skip_all)]
                async fn purge_contact(
                    &self,
                    org: Uuid,
                    id: Uuid,
                    check: $crate::Edit<'_, Contact, ()>,
                    actor: Actor,
                    now: DateTime<Utc>,
                ) -> $crate::Result<()> {
                    let mut tx = self.begin_write().await?;
                    let current: Contact = super::lock_row::<ContactRow>(&mut tx, "contacts", org, id, "erased_at is null").await?.try_into()?;
                    check(&current).map_err(StoreError::Refused)?;
                    let version = current.version;
                    // Every personal field goes; what the deals' history needs
                    // (the row, its account, its buying role, its owner) stays.
                    let erased = sqlx::query_as::<_, ContactRow>(
                        "update contacts
                         set first_name = null, last_name = null, name_key = '', email = null, phone = null,
                             title = null, erased_at = $4, deleted_at = coalesce(deleted_at, $4),
                             version = version + 1, updated_at = $4
                         where organization_id = $1 and id = $2 and version = $3 and erased_at is null
                         returning *",
                    )
                    .bind(org)
                    .bind(id)
                    .bind(version)
                    .bind(now)
                    .fetch_optional(&mut *tx)
                    .await?;
                    let Some(erased) = erased else {
                        let exists: i64 = sqlx::query_scalar(
                            "select count(*) from contacts where organization_id = $1 and id = $2 and erased_at is null",
                        )
                        .bind(org)
                        .bind(id)
                        .fetch_one(&mut *tx)
                        .await?;
                        return Err(if exists == 0 { StoreError::NotFound } else { StoreError::VersionMismatch });
                    };
                    tx.erase_history(org, "contact", id).await?;
                    tx.happened(org, actor, Happening::Purged, Record::Contact(&Contact::try_from(erased)?), now);
                    tx.commit().await?;
                    Ok(())
                }
            }

            /// Why a versioned write touched no row: the contact (live, or
            /// trashed when `trashed`) is gone, or it changed meanwhile.
            /// Writes `fields` over `current` (locked) and tells a new owner;
            /// a write that changes nothing changes nothing (no new version).
            async fn change_contact(
                tx: &mut Tx,
                org: Uuid,
                current: Contact,
                fields: &ContactFields,
                actor: Actor,
                now: DateTime<Utc>,
            ) -> $crate::Result<Contact> {
                if *fields == ContactFields::of(&current)? {
                    return Ok(current);
                }
                if let Some(email) = fields.email.as_ref().filter(|e| current.email.as_deref() != Some(e.as_str())) {
                    super::lead_core::claim_email(tx, org, email, None, false).await?;
                }
                let Some(row) = write_contact(tx, org, &current, fields, now).await? else {
                    return Err(contact_write_missed(tx, org, current.id, false).await?);
                };
                let contact = Contact::try_from(row)?;
                notify_owner(tx, org, actor, &contact, Some(current.owner_id), now).await?;
                tx.changed(org, actor, Record::Contact(&current), Record::Contact(&contact), now);
                Ok(contact)
            }

            /// Moves `current` (locked, live) to the trash.
            async fn trash_locked(
                tx: &mut Tx,
                org: Uuid,
                current: &Contact,
                actor: Actor,
                now: DateTime<Utc>,
            ) -> $crate::Result<()> {
                let trashed = sqlx::query_as::<_, ContactRow>(
                    "update contacts set deleted_at = $4, version = version + 1, updated_at = $4
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
                    return Err(contact_write_missed(tx, org, current.id, false).await?);
                };
                tx.happened(org, actor, Happening::Deleted, Record::Contact(&Contact::try_from(trashed)?), now);
                Ok(())
            }

            /// Tells the contact's owner it is theirs, when someone else gave it to them.
            async fn notify_owner(
                tx: &mut Tx,
                org: Uuid,
                actor: Actor,
                contact: &Contact,
                previous_owner: Option<Uuid>,
                now: DateTime<Utc>,
            ) -> $crate::Result<()> {
                super::lead_core::notify_assignment(
                    &mut **tx,
                    org,
                    actor,
                    ::pipewise_domain::RecordKind::Contact,
                    contact.id,
                    &$crate::contacts::display_name(contact),
                    previous_owner,
                    contact.owner_id,
                    now,
                )
                .await
            }

            async fn contact_write_missed(tx: &mut Tx, org: Uuid, id: Uuid, trashed: bool) -> $crate::Result<StoreError> {
                let sql = if trashed {
                    "select count(*) from contacts
                     where organization_id = $1 and id = $2 and deleted_at is not null and erased_at is null"
                } else {
                    "select count(*) from contacts where organization_id = $1 and id = $2 and deleted_at is null"
                };
                let exists: i64 = sqlx::query_scalar(sql).bind(org).bind(id).fetch_one(&mut **tx).await?;
                Ok(if exists == 0 { StoreError::NotFound } else { StoreError::VersionMismatch })
            }
        }
    };
}

pub(crate) use impl_contact_store;
