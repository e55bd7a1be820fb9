//! Lead capture forms: what a website's form may send, the source it
//! stamps, and who the leads it brings go to (one owner, or a round-robin).
//!
//! A form is found by its `public_token`, which is published in a website's
//! HTML: it grants no access to any data, only the right to submit leads
//! into the form, so the token itself is stored (not a hash) and shown to
//! admins whenever they read the form.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::{Actor, Edit, NewLead, Page, Result, StoreError};

/// A lead field a form may accept. Owner, status and source are the form's
/// business, never the visitor's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FormField {
    FirstName,
    LastName,
    Email,
    Phone,
    CompanyName,
    Title,
    Industry,
    EmployeeCount,
    Country,
    EstimatedValue,
    Currency,
    ValuePeriod,
}

impl FormField {
    pub const ALL: [FormField; 12] = [
        FormField::FirstName,
        FormField::LastName,
        FormField::Email,
        FormField::Phone,
        FormField::CompanyName,
        FormField::Title,
        FormField::Industry,
        FormField::EmployeeCount,
        FormField::Country,
        FormField::EstimatedValue,
        FormField::Currency,
        FormField::ValuePeriod,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            FormField::FirstName => "first_name",
            FormField::LastName => "last_name",
            FormField::Email => "email",
            FormField::Phone => "phone",
            FormField::CompanyName => "company_name",
            FormField::Title => "title",
            FormField::Industry => "industry",
            FormField::EmployeeCount => "employee_count",
            FormField::Country => "country",
            FormField::EstimatedValue => "estimated_value",
            FormField::Currency => "currency",
            FormField::ValuePeriod => "value_period",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.as_str() == raw)
    }

    /// The fields that name a lead: a form needs one of them, or no
    /// submission could ever make a lead.
    pub fn identifies(self) -> bool {
        matches!(
            self,
            FormField::FirstName | FormField::LastName | FormField::Email | FormField::CompanyName
        )
    }
}

/// A capture form as stored and returned.
#[derive(Debug, Clone, PartialEq)]
pub struct Form {
    pub id: Uuid,
    pub organization_id: Uuid,
    pub name: String,
    pub fields: Vec<FormField>,
    pub required_fields: Vec<FormField>,
    pub source: String,
    /// One owner, or a round-robin over several in this order.
    pub owner_ids: Vec<Uuid>,
    /// How many leads the form has assigned so far.
    pub assigned_count: i64,
    pub redirect_url: Option<String>,
    pub public_token: String,
    pub active: bool,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub deleted_at: Option<DateTime<Utc>>,
}

/// Every setting of a form an admin chooses, already validated.
#[derive(Debug, Clone, PartialEq)]
pub struct FormSettings {
    pub name: String,
    pub fields: Vec<FormField>,
    pub required_fields: Vec<FormField>,
    pub source: String,
    pub owner_ids: Vec<Uuid>,
    pub redirect_url: Option<String>,
    pub active: bool,
}

impl FormSettings {
    /// The settings of a stored form, to apply a partial change to.
    pub fn of(form: &Form) -> Self {
        Self {
            name: form.name.clone(),
            fields: form.fields.clone(),
            required_fields: form.required_fields.clone(),
            source: form.source.clone(),
            owner_ids: form.owner_ids.clone(),
            redirect_url: form.redirect_url.clone(),
            active: form.active,
        }
    }
}

#[async_trait]
pub trait FormStore {
    /// A live form: absent, foreign and trashed ones are `NotFound`.
    async fn form(&self, org: Uuid, id: Uuid) -> Result<Form>;
    /// Live forms, a page at a time in id order.
    async fn forms(&self, org: Uuid, page: Page) -> Result<Vec<Form>>;
    /// The live (untrashed) form with this public token, active or not.
    async fn form_by_token(&self, token: &str) -> Result<Option<Form>>;
    async fn create_form(
        &self,
        org: Uuid,
        settings: &FormSettings,
        token: &str,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<Form>;
    /// Replaces the settings of the live form if it is still at `version`.
    async fn update_form(
        &self,
        org: Uuid,
        id: Uuid,
        edit: Edit<'_, Form, FormSettings>,
        now: DateTime<Utc>,
    ) -> Result<Form>;
    /// Gives the live form (at `if_version`, when given) a new token; the old one stops working.
    async fn rotate_form_token(
        &self,
        org: Uuid,
        id: Uuid,
        if_version: Option<i64>,
        token: &str,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<Form>;
    /// Moves the live form (at `if_version`, when given) to the trash: its token stops working.
    async fn trash_form(
        &self,
        org: Uuid,
        id: Uuid,
        if_version: Option<i64>,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<()>;
    /// Stores a lead that came through the form, in one transaction: counts
    /// the assignment, picks the owner by round-robin (see [`pick_owner`]),
    /// inserts, scores and notifies. `lead.fields.owner_id` is ignored.
    /// `NotFound` when the form was trashed or deactivated meanwhile.
    async fn submit_form_lead(
        &self,
        org: Uuid,
        form_id: Uuid,
        lead: &NewLead,
        now: DateTime<Utc>,
    ) -> Result<pipewise_domain::Lead>;
}

/// The owner of the `n`th lead a form assigns (counting from 1): the
/// form's owners take turns in their order. An owner deactivated since the
/// form was saved is skipped; when none is active, the lead goes to
/// `fallback` (the organization's first admin), so that no lead is lost.
pub fn pick_owner(owner_ids: &[Uuid], n: i64, active: &[Uuid], fallback: Uuid) -> Uuid {
    let len = owner_ids.len();
    if len == 0 {
        return fallback;
    }
    let start = usize::try_from((n - 1).rem_euclid(len as i64)).expect("a remainder of a usize length fits");
    (0..len)
        .map(|step| owner_ids[(start + step) % len])
        .find(|owner| active.contains(owner))
        .unwrap_or(fallback)
}

/// Every column of `forms`, in table order.
#[derive(sqlx::FromRow)]
pub(crate) struct FormRow {
    id: Uuid,
    organization_id: Uuid,
    name: String,
    fields: String,
    required_fields: String,
    source: String,
    owner_ids: String,
    assigned_count: i64,
    redirect_url: Option<String>,
    public_token: String,
    active: bool,
    version: i64,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    deleted_at: Option<DateTime<Utc>>,
}

/// A field list as stored: a JSON array of names.
pub(crate) fn fields_json(fields: &[FormField]) -> String {
    serde_json::to_string(&fields.iter().map(|f| f.as_str()).collect::<Vec<_>>()).expect("strings serialize")
}

/// Owners as stored: a JSON array of ids.
pub(crate) fn owners_json(owners: &[Uuid]) -> String {
    serde_json::to_string(owners).expect("ids serialize")
}

pub(crate) fn parse_owners(id: Uuid, raw: &str) -> Result<Vec<Uuid>> {
    serde_json::from_str(raw).map_err(|e| StoreError::Corrupt(format!("form {id}: owner_ids: {e}")))
}

fn parse_fields(id: Uuid, raw: &str) -> Result<Vec<FormField>> {
    let names: Vec<String> =
        serde_json::from_str(raw).map_err(|e| StoreError::Corrupt(format!("form {id}: fields: {e}")))?;
    names
        .iter()
        .map(|name| FormField::parse(name).ok_or_else(|| StoreError::Corrupt(format!("form {id}: field {name:?}"))))
        .collect()
}

impl TryFrom<FormRow> for Form {
    type Error = StoreError;
    fn try_from(row: FormRow) -> Result<Self> {
        Ok(Form {
            fields: parse_fields(row.id, &row.fields)?,
            required_fields: parse_fields(row.id, &row.required_fields)?,
            owner_ids: parse_owners(row.id, &row.owner_ids)?,
            id: row.id,
            organization_id: row.organization_id,
            name: row.name,
            source: row.source,
            assigned_count: row.assigned_count,
            redirect_url: row.redirect_url,
            public_token: row.public_token,
            active: row.active,
            version: row.version,
            created_at: row.created_at,
            updated_at: row.updated_at,
            deleted_at: row.deleted_at,
        })
    }
}

/// Implements [`FormStore`] for a store type with `pool` and `begin_write`,
/// in the module of `impl_store!` (whose `audit` it uses) and of
/// `impl_lead_core!`.
macro_rules! impl_form_store {
    ($store:ty) => {
        mod form_store {
            use super::*;
            use ::chrono::{DateTime, Utc};
            use ::pipewise_domain::Lead;
            use ::uuid::Uuid;
            use $crate::forms::{fields_json, owners_json, parse_owners, pick_owner, Form, FormRow, FormSettings};
            use $crate::{Actor, NewLead, Page, StoreError};

            #[async_trait::async_trait]
            impl $crate::forms::FormStore for $store {
                #[tracing::instrument(skip_all)]
                async fn form(&self, org: Uuid, id: Uuid) -> $crate::Result<Form> {
                    sqlx::query_as::<_, FormRow>(
                        "select * from forms where organization_id = $1 and id = $2 and deleted_at is null",
                    )
                    .bind(org)
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?
                    .ok_or(StoreError::NotFound)?
                    .try_into()
                }

                #[tracing::instrument(skip_all)]
                async fn forms(&self, org: Uuid, page: Page) -> $crate::Result<Vec<Form>> {
                    sqlx::query_as::<_, FormRow>(
                        "select * from forms
                         where organization_id = $1 and deleted_at is null and ($2 is null or id > $2)
                         order by id limit $3",
                    )
                    .bind(org)
                    .bind(page.after)
                    .bind(i64::from(page.limit))
                    .fetch_all(&self.pool)
                    .await?
                    .into_iter()
                    .map(TryInto::try_into)
                    .collect()
                }

                #[tracing::instrument(skip_all)]
                async fn form_by_token(&self, token: &str) -> $crate::Result<Option<Form>> {
                    sqlx::query_as::<_, FormRow>("select * from forms where public_token = $1 and deleted_at is null")
                        .bind(token)
                        .fetch_optional(&self.pool)
                        .await?
                        .map(TryInto::try_into)
                        .transpose()
                }

                #[tracing::instrument(skip_all)]
                async fn create_form(
                    &self,
                    org: Uuid,
                    settings: &FormSettings,
                    token: &str,
                    actor: Actor,
                    now: DateTime<Utc>,
                ) -> $crate::Result<Form> {
                    let mut tx = self.begin_write().await?;
                    let form: Form = sqlx::query_as::<_, FormRow>(
                        "insert into forms (id, organization_id, name, fields, required_fields, source, owner_ids,
                                            assigned_count, redirect_url, public_token, active, version,
                                            created_at, updated_at, deleted_at)
                         values ($1, $2, $3, $4, $5, $6, $7, 0, $8, $9, $10, 1, $11, $11, null)
                         returning *",
                    )
                    .bind(Uuid::now_v7())
                    .bind(org)
                    .bind(&settings.name)
                    .bind(fields_json(&settings.fields))
                    .bind(fields_json(&settings.required_fields))
                    .bind(&settings.source)
                    .bind(owners_json(&settings.owner_ids))
                    .bind(settings.redirect_url.as_deref())
                    .bind(token)
                    .bind(settings.active)
                    .bind(now)
                    .fetch_one(&mut *tx)
                    .await?
                    .try_into()?;
                    audit(&mut tx, org, actor, "form.created", Some(form.id), now).await?;
                    tx.commit().await?;
                    Ok(form)
                }

                #[tracing::instrument(skip_all)]
                async fn update_form(
                    &self,
                    org: Uuid,
                    id: Uuid,
                    edit: $crate::Edit<'_, Form, FormSettings>,
                    now: DateTime<Utc>,
                ) -> $crate::Result<Form> {
                    let mut tx = self.begin_write().await?;
                    let current: Form = super::lock_row::<FormRow>(&mut tx, "forms", org, id, "deleted_at is null")
                        .await?
                        .try_into()?;
                    let settings = &edit(&current).map_err(StoreError::Refused)?;
                    // A write that changes nothing changes nothing: no new version, no event.
                    if *settings == FormSettings::of(&current) {
                        tx.commit().await?;
                        return Ok(current);
                    }
                    let row = sqlx::query_as::<_, FormRow>(
                        "update forms
                         set name = $4, fields = $5, required_fields = $6, source = $7, owner_ids = $8,
                             redirect_url = $9, active = $10, version = version + 1, updated_at = $11
                         where organization_id = $1 and id = $2 and version = $3 and deleted_at is null
                         returning *",
                    )
                    .bind(org)
                    .bind(id)
                    .bind(current.version)
                    .bind(&settings.name)
                    .bind(fields_json(&settings.fields))
                    .bind(fields_json(&settings.required_fields))
                    .bind(&settings.source)
                    .bind(owners_json(&settings.owner_ids))
                    .bind(settings.redirect_url.as_deref())
                    .bind(settings.active)
                    .bind(now)
                    .fetch_optional(&mut *tx)
                    .await?;
                    let Some(row) = row else {
                        return Err(form_write_missed(&mut tx, org, id).await?);
                    };
                    tx.commit().await?;
                    row.try_into()
                }

                #[tracing::instrument(skip_all)]
                async fn rotate_form_token(
                    &self,
                    org: Uuid,
                    id: Uuid,
                    if_version: Option<i64>,
                    token: &str,
                    actor: Actor,
                    now: DateTime<Utc>,
                ) -> $crate::Result<Form> {
                    let mut tx = self.begin_write().await?;
                    // One statement that checks `If-Match` and writes: it cannot race.
                    let row = sqlx::query_as::<_, FormRow>(
                        "update forms set public_token = $4, version = version + 1, updated_at = $5
                         where organization_id = $1 and id = $2 and ($3 is null or version = $3) and deleted_at is null
                         returning *",
                    )
                    .bind(org)
                    .bind(id)
                    .bind(if_version)
                    .bind(token)
                    .bind(now)
                    .fetch_optional(&mut *tx)
                    .await?;
                    let Some(row) = row else {
                        return Err(form_write_missed(&mut tx, org, id).await?);
                    };
                    audit(&mut tx, org, actor, "form.token_rotated", Some(id), now).await?;
                    tx.commit().await?;
                    row.try_into()
                }

                #[tracing::instrument(skip_all)]
                async fn trash_form(
                    &self,
                    org: Uuid,
                    id: Uuid,
                    if_version: Option<i64>,
                    actor: Actor,
                    now: DateTime<Utc>,
                ) -> $crate::Result<()> {
                    let mut tx = self.begin_write().await?;
                    // One statement that checks `If-Match` and writes: it cannot race.
                    let trashed = sqlx::query(
                        "update forms set deleted_at = $4, version = version + 1, updated_at = $4
                         where organization_id = $1 and id = $2 and ($3 is null or version = $3) and deleted_at is null",
                    )
                    .bind(org)
                    .bind(id)
                    .bind(if_version)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                    if trashed == 0 {
                        return Err(form_write_missed(&mut tx, org, id).await?);
                    }
                    audit(&mut tx, org, actor, "form.trashed", Some(id), now).await?;
                    tx.commit().await?;
                    Ok(())
                }

                #[tracing::instrument(skip_all)]
                async fn submit_form_lead(
                    &self,
                    org: Uuid,
                    form_id: Uuid,
                    lead: &NewLead,
                    now: DateTime<Utc>,
                ) -> $crate::Result<Lead> {
                    let mut tx = self.begin_write().await?;
                    // The counter is taken and bumped in one statement, which
                    // locks the row: concurrent submissions get distinct turns.
                    let turn: Option<(i64, String)> = sqlx::query_as(
                        "update forms set assigned_count = assigned_count + 1
                         where organization_id = $1 and id = $2 and deleted_at is null and active
                         returning assigned_count, owner_ids",
                    )
                    .bind(org)
                    .bind(form_id)
                    .fetch_optional(&mut *tx)
                    .await?;
                    let (n, owners) = turn.ok_or(StoreError::NotFound)?;
                    let owners = parse_owners(form_id, &owners)?;
                    let active: Vec<Uuid> =
                        sqlx::query_scalar("select id from users where organization_id = $1 and active order by id")
                            .bind(org)
                            .fetch_all(&mut *tx)
                            .await?
                            .into_iter()
                            .filter(|id| owners.contains(id))
                            .collect();
                    let fallback: Uuid = sqlx::query_scalar(
                        "select id from users where organization_id = $1 and active and role = 'admin'
                         order by id limit 1",
                    )
                    .bind(org)
                    .fetch_one(&mut *tx)
                    .await?;
                    let mut lead = lead.clone();
                    lead.fields.owner_id = pick_owner(&owners, n, &active, fallback);
                    lead.form_id = Some(form_id);
                    let stored = super::lead_core::insert_lead(&mut tx, org, &lead, Actor::Form(form_id), now).await?;
                    tx.commit().await?;
                    Ok(stored)
                }
            }

            /// Why a versioned write touched no row: the form is gone, or it changed meanwhile.
            async fn form_write_missed(tx: &mut Tx, org: Uuid, id: Uuid) -> $crate::Result<StoreError> {
                let exists: i64 = sqlx::query_scalar(
                    "select count(*) from forms where organization_id = $1 and id = $2 and deleted_at is null",
                )
                .bind(org)
                .bind(id)
                .fetch_one(&mut **tx)
                .await?;
                Ok(if exists == 0 {
                    StoreError::NotFound
                } else {
                    StoreError::VersionMismatch
                })
            }
        }
    };
}

pub(crate) use impl_form_store;

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(n: u128) -> Vec<Uuid> {
        (1..=n).map(Uuid::from_u128).collect()
    }

    #[test]
    fn owners_take_turns_in_order() {
        let owners = ids(2);
        let picks: Vec<_> = (1..=5).map(|n| pick_owner(&owners, n, &owners, Uuid::nil())).collect();
        assert_eq!(picks, [owners[0], owners[1], owners[0], owners[1], owners[0]]);
    }

    #[test]
    fn an_inactive_owner_is_skipped_and_none_active_falls_back() {
        let owners = ids(3);
        let active = [owners[0], owners[2]];
        assert_eq!(pick_owner(&owners, 2, &active, Uuid::nil()), owners[2]);
        assert_eq!(pick_owner(&owners, 3, &active, Uuid::nil()), owners[2]);
        assert_eq!(pick_owner(&owners, 4, &active, Uuid::nil()), owners[0]);
        let fallback = Uuid::from_u128(99);
        assert_eq!(pick_owner(&owners, 1, &[], fallback), fallback);
        assert_eq!(pick_owner(&[], 1, &[], fallback), fallback);
    }

    #[test]
    fn field_names_round_trip() {
        for f in FormField::ALL {
            assert_eq!(FormField::parse(f.as_str()), Some(f));
        }
        assert_eq!(FormField::parse("owner_id"), None);
        assert_eq!(FormField::parse("source"), None);
    }
}
