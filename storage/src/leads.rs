//! Leads: prospects from first touch until conversion. Every write scores
//! the lead in its own transaction (see `lead_core`).
//!
//! Writes lock the row and let the API's [`Edit`] check it there, as for
//! contacts. A converted lead is final: no write here touches one, except
//! the purge that erases its personal fields.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use pipewise_domain::{lead::LeadProgress, scoring::ScoreBreakdown, Lead, MqlThreshold};
use uuid::Uuid;

use crate::{
    lead_list::{LeadFilter, LeadPage},
    Actor, Edit, LeadFields, NewLead, Result,
};

/// Who already has an email address: the duplicate guard's answer. A lead
/// comes with its owner, since reps may learn only of their own leads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmailHolder {
    Lead { id: Uuid, owner_id: Uuid },
    Contact(Uuid),
}

/// A lead's new state after a PATCH, already validated against the lead it
/// was computed from.
#[derive(Debug, Clone, PartialEq)]
pub struct LeadChange {
    pub fields: LeadFields,
    pub progress: LeadProgress,
    /// Refuse (`DuplicateEmail`) an email that another lead or a contact has.
    pub unique_email: bool,
}

/// A lead's score explained: computed live from the active rules.
#[derive(Debug, Clone, PartialEq)]
pub struct LeadScore {
    pub breakdown: ScoreBreakdown,
    pub threshold: MqlThreshold,
}

#[async_trait]
pub trait LeadStore {
    /// A live lead: absent, foreign, trashed and purged ones are `NotFound`.
    async fn lead(&self, org: Uuid, id: Uuid) -> Result<Lead>;
    /// A live or trashed lead; purged ones are `NotFound`.
    async fn lead_incl_trashed(&self, org: Uuid, id: Uuid) -> Result<Lead>;
    /// Stores a new lead, scored, and notifies its owner if `actor` is someone
    /// else. With `unique_email`, `DuplicateEmail` when a lead (live or
    /// trashed, not converted) or a contact of the organization has its email.
    async fn create_lead(
        &self,
        org: Uuid,
        lead: &NewLead,
        unique_email: bool,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<Lead>;
    /// Live leads matching `filter`, a page at a time.
    async fn leads(&self, org: Uuid, filter: &LeadFilter, page: &LeadPage) -> Result<Vec<Lead>>;
    /// Replaces the fields and status of the live lead with what `edit` makes
    /// of it under its row lock (Conflict once converted); rescores it in the
    /// same transaction and notifies a new owner (unless `actor` is that owner).
    async fn update_lead(
        &self,
        org: Uuid,
        id: Uuid,
        edit: Edit<'_, Lead, LeadChange>,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<Lead>;
    /// Applies a bulk action to the live leads `ids` in one transaction (see
    /// [`crate::bulk_edit`]): `edit` decides each one's step under its row
    /// lock; each change is written, rescored and notified as by
    /// `update_lead`. Returns the ids changed; `Missing` names ids of no live lead.
    async fn bulk_leads(
        &self,
        org: Uuid,
        ids: &[Uuid],
        edit: Edit<'_, Lead, crate::Step<LeadChange>>,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<Vec<Uuid>>;
    /// Merges the live leads `merge_ids` into the live lead `keep_id` in one
    /// transaction: `edit` sees them all under their row locks and returns
    /// the kept lead's change. The merged leads' activities and notes move
    /// to the kept one, which is rescored; they go to the trash without
    /// their email and external id (which the kept lead may take).
    /// `Missing` names the ids of no live lead.
    async fn merge_leads(
        &self,
        org: Uuid,
        keep_id: Uuid,
        merge_ids: &[Uuid],
        edit: Edit<'_, crate::Merging<Lead>, LeadChange>,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<Lead>;
    /// Moves the live, unconverted lead to the trash if `check` passes on it, under its row lock.
    async fn trash_lead(
        &self,
        org: Uuid,
        id: Uuid,
        check: Edit<'_, Lead, ()>,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<()>;
    /// Takes the trashed lead out of the trash if `check` passes on it, under
    /// its row lock (a live one is returned as it is), and rescores it
    /// (the rules may have changed meanwhile).
    async fn restore_lead(
        &self,
        org: Uuid,
        id: Uuid,
        check: Edit<'_, Lead, ()>,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<Lead>;
    /// Erases the personal fields of the lead (live or trashed, converted or
    /// not) if `check` passes on it, and the lead's name from its notifications; the lead
    /// is `NotFound` from then on, while the row stays for its activities.
    async fn purge_lead(
        &self,
        org: Uuid,
        id: Uuid,
        check: Edit<'_, Lead, ()>,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<()>;
    /// The score of `lead` under the organization's active rules, and which
    /// rules make it up. It equals the stored score, which every write that
    /// changes its inputs recomputes in its own transaction.
    async fn lead_score(&self, lead: &Lead) -> Result<LeadScore>;
}

/// What merging lead `$2` into lead `$3` (of organization `$1`, at `$4`)
/// does, in order: its activities and notes move; it goes to the trash,
/// emptied of its email and external id so the kept lead may take them.
/// Each statement binds the same four arguments (`$3 = $3` uses one a
/// statement has no need of, as PostgreSQL wants every argument used).
pub(crate) const MERGE_LEAD: [&str; 3] = [
    "update activities set lead_id = $3, version = version + 1, updated_at = $4
     where organization_id = $1 and lead_id = $2",
    "update notes set lead_id = $3, version = version + 1, updated_at = $4
     where organization_id = $1 and lead_id = $2",
    "update leads set deleted_at = $4, email = null, email_domain_kind = null, external_id = null,
         version = version + 1, updated_at = $4
     where organization_id = $1 and id = $2 and $3 = $3",
];

/// Implements [`LeadStore`] for a store type with `pool` and `begin_write`,
/// in the module of `impl_lead_core!` and `impl_store!` (whose `audit` it uses).
macro_rules! impl_lead_store {
    ($store:ty) => {
        mod lead_store {
            use super::*;
            use ::chrono::{DateTime, Utc};
            use ::pipewise_domain::{Lead, RecordKind};
            use ::uuid::Uuid;
            use $crate::lead_core::LeadRow;
            use $crate::lead_list::{LeadFilter, LeadPage};
            use $crate::leads::{LeadChange, LeadScore};
            use $crate::{Actor, NewLead, StoreError};
            use $crate::events::{Happening, Record};

            #[async_trait::async_trait]
            impl $crate::leads::LeadStore for $store {
                #[tracing::instrument(skip_all)]
                async fn lead(&self, org: Uuid, id: Uuid) -> $crate::Result<Lead> {
                    sqlx::query_as::<_, LeadRow>(
                        "select * from leads where organization_id = $1 and id = $2 and deleted_at is null",
                    )
                    .bind(org)
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?
                    .ok_or(StoreError::NotFound)?
                    .try_into()
                }

                #[tracing::instrument(skip_all)]
                async fn lead_incl_trashed(&self, org: Uuid, id: Uuid) -> $crate::Result<Lead> {
                    sqlx::query_as::<_, LeadRow>(
                        "select * from leads where organization_id = $1 and id = $2 and erased_at is null",
                    )
                    .bind(org)
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?
                    .ok_or(StoreError::NotFound)?
                    .try_into()
                }

                #[tracing::instrument(skip_all)]
                async fn create_lead(
                    &self,
                    org: Uuid,
                    lead: &NewLead,
                    unique_email: bool,
                    actor: Actor,
                    now: DateTime<Utc>,
                ) -> $crate::Result<Lead> {
                    let mut tx = self.begin_write().await?;
                    if let Some(email) = lead.fields.email.as_ref().filter(|_| unique_email) {
                        super::lead_core::claim_email(&mut tx, org, email, None, true).await?;
                    }
                    let lead = super::lead_core::insert_lead(&mut tx, org, lead, actor, now).await?;
                    tx.commit().await?;
                    Ok(lead)
                }

                #[tracing::instrument(skip_all)]
                async fn leads(&self, org: Uuid, filter: &LeadFilter, page: &LeadPage) -> $crate::Result<Vec<Lead>> {
                    let limit = page.limit as usize;
                    let mut leads: Vec<Lead> = Vec::with_capacity(limit);
                    let model = if $crate::lead_list::needs_model(filter, page) {
                        let totals = sqlx::query_as::<_, $crate::prediction::CountRow>($crate::prediction::TOTALS_SQL)
                            .bind(org)
                            .fetch_all(&self.pool)
                            .await?;
                        $crate::prediction::tables(totals)?.model()
                    } else {
                        None
                    };
                    for sql in $crate::lead_list::list_queries(super::BACKEND, org, filter, page, model.as_ref()) {
                        if leads.len() >= limit {
                            break;
                        }
                        let rows = $crate::sql::bind_args!(sqlx::query_as::<_, LeadRow>(&sql.text), &sql.args)
                            .fetch_all(&self.pool)
                            .await?;
                        for row in rows {
                            leads.push(row.try_into()?);
                        }
                    }
                    leads.truncate(limit);
                    Ok(leads)
                }

                #[tracing::instrument(skip_all)]
                async fn update_lead(
                    &self,
                    org: Uuid,
                    id: Uuid,
                    edit: $crate::Edit<'_, Lead, LeadChange>,
                    actor: Actor,
                    now: DateTime<Utc>,
                ) -> $crate::Result<Lead> {
                    let mut tx = self.begin_write().await?;
                    super::lead_core::enter_email_writes(&mut tx, org).await?;
                    // Writers of one lead queue up on this row lock (on SQLite, on the
                    // write lock of BEGIN IMMEDIATE) until commit: `edit` sees the very
                    // version the update below replaces, so no write is lost and none
                    // is refused for having raced another.
                    let current: Lead = super::lock_row::<LeadRow>(&mut tx, "leads", org, id, "deleted_at is null")
                        .await?
                        .try_into()?;
                    let change = edit(&current).map_err(StoreError::Refused)?;
                    let lead = change_lead(&mut tx, org, current, &change, actor, now).await?;
                    tx.commit().await?;
                    Ok(lead)
                }

                #[tracing::instrument(skip_all)]
                async fn bulk_leads(
                    &self,
                    org: Uuid,
                    ids: &[Uuid],
                    edit: $crate::Edit<'_, Lead, $crate::Step<LeadChange>>,
                    actor: Actor,
                    now: DateTime<Utc>,
                ) -> $crate::Result<Vec<Uuid>> {
                    let mut tx = self.begin_write().await?;
                    super::lead_core::enter_email_writes(&mut tx, org).await?;
                    let rows = lock_rows::<LeadRow>(&mut tx, "leads", org, ids, "deleted_at is null").await?;
                    let mut changed = Vec::new();
                    for row in rows {
                        let current = Lead::try_from(row)?;
                        let id = current.id;
                        match edit(&current).map_err(StoreError::Refused)? {
                            $crate::Step::Keep => {}
                            $crate::Step::Change(change) => {
                                let version = current.version;
                                if change_lead(&mut tx, org, current, &change, actor, now).await?.version != version {
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
                async fn merge_leads(
                    &self,
                    org: Uuid,
                    keep_id: Uuid,
                    merge_ids: &[Uuid],
                    edit: $crate::Edit<'_, $crate::Merging<Lead>, LeadChange>,
                    actor: Actor,
                    now: DateTime<Utc>,
                ) -> $crate::Result<Lead> {
                    let mut tx = self.begin_write().await?;
                    super::lead_core::enter_email_writes(&mut tx, org).await?;
                    let mut ids = merge_ids.to_vec();
                    ids.push(keep_id);
                    let rows = lock_rows::<LeadRow>(&mut tx, "leads", org, &ids, "deleted_at is null").await?;
                    let records = rows.into_iter().map(Lead::try_from).collect::<$crate::Result<Vec<_>>>()?;
                    let merging = $crate::Merging::split(records, keep_id, |r| r.id)?;
                    let change = edit(&merging).map_err(StoreError::Refused)?;
                    let $crate::Merging { keep, merged } = merging;
                    for gone in &merged {
                        if gone.progress.status == ::pipewise_domain::LeadStatus::Converted {
                            return Err(StoreError::Conflict("a converted lead cannot change"));
                        }
                        for sql in $crate::leads::MERGE_LEAD {
                            sqlx::query(sql)
                                .bind(org)
                                .bind(gone.id)
                                .bind(keep.id)
                                .bind(now)
                                .execute(&mut *tx)
                                .await?;
                        }
                        let merged = super::lead_core::lead(&mut tx, org, gone.id).await?;
                        tx.happened(org, actor, Happening::Merged, Record::Lead(&merged), now);
                    }
                    let last_activity = merged.iter().filter_map(|l| l.last_activity_at).chain(keep.last_activity_at).max();
                    let (id, version) = (keep.id, keep.version);
                    let written = change_lead(&mut tx, org, keep, &change, actor, now).await?;
                    // The kept lead changed even when its fields did not: it has
                    // more history now, which its marks and its score count.
                    sqlx::query(
                        "update leads set last_activity_at = $3,
                             version = case when version = $4 then version + 1 else version end, updated_at = $5
                         where organization_id = $1 and id = $2",
                    )
                    .bind(org)
                    .bind(id)
                    .bind(last_activity.or(written.last_activity_at))
                    .bind(version)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                    sqlx::query($crate::activities::LEAD_MARK)
                        .bind(org)
                        .bind(id)
                        .execute(&mut *tx)
                        .await?;
                    let lead = super::lead_core::rescore_lead(&mut tx, org, id, actor, now).await?;
                    tx.changed(org, actor, Record::Lead(&written), Record::Lead(&lead), now);
                    tx.commit().await?;
                    Ok(lead)
                }

                #[tracing::instrument(skip_all)]
                async fn trash_lead(
                    &self,
                    org: Uuid,
                    id: Uuid,
                    check: $crate::Edit<'_, Lead, ()>,
                    actor: Actor,
                    now: DateTime<Utc>,
                ) -> $crate::Result<()> {
                    let mut tx = self.begin_write().await?;
                    let current: Lead = super::lock_row::<LeadRow>(&mut tx, "leads", org, id, "deleted_at is null")
                        .await?
                        .try_into()?;
                    check(&current).map_err(StoreError::Refused)?;
                    trash_locked(&mut tx, org, &current, actor, now).await?;
                    tx.commit().await?;
                    Ok(())
                }

                #[tracing::instrument(skip_all)]
                async fn restore_lead(
                    &self,
                    org: Uuid,
                    id: Uuid,
                    check: $crate::Edit<'_, Lead, ()>,
                    actor: Actor,
                    now: DateTime<Utc>,
                ) -> $crate::Result<Lead> {
                    let mut tx = self.begin_write().await?;
                    let current: Lead = super::lock_row::<LeadRow>(&mut tx, "leads", org, id, "erased_at is null")
                        .await?
                        .try_into()?;
                    check(&current).map_err(StoreError::Refused)?;
                    if current.deleted_at.is_none() {
                        return Ok(current);
                    }
                    let version = current.version;
                    let restored = sqlx::query(
                        "update leads set deleted_at = null, version = version + 1, updated_at = $4
                         where organization_id = $1 and id = $2 and version = $3
                           and deleted_at is not null and erased_at is null",
                    )
                    .bind(org)
                    .bind(id)
                    .bind(version)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                    if restored == 0 {
                        return Err(lead_write_missed(&mut tx, org, id, true).await?);
                    }
                    let lead = super::lead_core::rescore_lead(&mut tx, org, id, actor, now).await?;
                    tx.happened(org, actor, Happening::Restored, Record::Lead(&lead), now);
                    tx.commit().await?;
                    Ok(lead)
                }

                #[tracing::instrument(skip_all)]
                async fn purge_lead(
                    &self,
                    org: Uuid,
                    id: Uuid,
                    check: $crate::Edit<'_, Lead, ()>,
                    actor: Actor,
                    now: DateTime<Utc>,
                ) -> $crate::Result<()> {
                    let mut tx = self.begin_write().await?;
                    let current: Lead = super::lock_row::<LeadRow>(&mut tx, "leads", org, id, "erased_at is null")
                        .await?
                        .try_into()?;
                    check(&current).map_err(StoreError::Refused)?;
                    let version = current.version;
                    // Every personal field goes; what reports count (status,
                    // times, owner, source, score) stays.
                    let erased = sqlx::query(
                        "update leads
                         set first_name = null, last_name = null, name_key = '', email = null, email_domain_kind = null, phone = null,
                             title = null, company_name = null, company_key = '', erased_at = $4,
                             deleted_at = coalesce(deleted_at, $4), version = version + 1, updated_at = $4
                         where organization_id = $1 and id = $2 and version = $3 and erased_at is null",
                    )
                    .bind(org)
                    .bind(id)
                    .bind(version)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                    if erased == 0 {
                        let exists: i64 = sqlx::query_scalar(
                            "select count(*) from leads where organization_id = $1 and id = $2 and erased_at is null",
                        )
                        .bind(org)
                        .bind(id)
                        .fetch_one(&mut *tx)
                        .await?;
                        return Err(if exists == 0 {
                            StoreError::NotFound
                        } else {
                            StoreError::VersionMismatch
                        });
                    }
                    // Notification messages name the lead: they lose the name too.
                    sqlx::query(
                        "update notifications set message = 'A lead whose personal data was erased.'
                         where organization_id = $1 and record_kind = 'lead' and record_id = $2",
                    )
                    .bind(org)
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                    tx.erase_history(org, "lead", id).await?;
                    let erased = super::lead_core::lead(&mut tx, org, id).await?;
                    tx.happened(org, actor, Happening::Purged, Record::Lead(&erased), now);
                    tx.commit().await?;
                    Ok(())
                }

                #[tracing::instrument(skip_all)]
                async fn lead_score(&self, lead: &Lead) -> $crate::Result<LeadScore> {
                    let mut conn = self.pool.acquire().await?;
                    let org = lead.organization_id;
                    let rules = super::lead_core::active_rules(&mut conn, org).await?;
                    let threshold = super::lead_core::mql_threshold(&mut conn, org).await?;
                    let breakdown = super::lead_core::breakdown(&mut conn, lead, &rules, ::chrono::Utc::now()).await?;
                    Ok(LeadScore { breakdown, threshold })
                }
            }

            /// Writes `change` over `current` (locked, not converted), rescores
            /// it and tells a new owner; a write that changes nothing changes
            /// nothing (no new version).
            async fn change_lead(
                tx: &mut Tx,
                org: Uuid,
                current: Lead,
                change: &LeadChange,
                actor: Actor,
                now: DateTime<Utc>,
            ) -> $crate::Result<Lead> {
                if current.progress.status == ::pipewise_domain::LeadStatus::Converted {
                    return Err(StoreError::Conflict("a converted lead cannot change"));
                }
                if change.fields == $crate::LeadFields::of(&current)? && change.progress == current.progress {
                    return Ok(current);
                }
                let id = current.id;
                if let Some(email) = change.fields.email.as_ref().filter(|_| change.unique_email) {
                    super::lead_core::claim_email(tx, org, email, Some(id), true).await?;
                }
                super::lead_core::write_lead_change(tx, org, &current, change, now).await?;
                let lead = super::lead_core::rescore_lead(tx, org, id, actor, now).await?;
                tx.changed(org, actor, Record::Lead(&current), Record::Lead(&lead), now);
                super::lead_core::notify_assignment(
                    tx,
                    org,
                    actor,
                    RecordKind::Lead,
                    id,
                    &$crate::lead_core::display_name(&lead),
                    Some(current.owner_id),
                    lead.owner_id,
                    now,
                )
                .await?;
                Ok(lead)
            }

            /// Moves `current` (locked, live, not converted) to the trash.
            async fn trash_locked(
                tx: &mut Tx,
                org: Uuid,
                current: &Lead,
                actor: Actor,
                now: DateTime<Utc>,
            ) -> $crate::Result<()> {
                let trashed = sqlx::query(
                    "update leads set deleted_at = $4, version = version + 1, updated_at = $4
                     where organization_id = $1 and id = $2 and version = $3 and deleted_at is null
                       and status <> 'converted'",
                )
                .bind(org)
                .bind(current.id)
                .bind(current.version)
                .bind(now)
                .execute(&mut **tx)
                .await?
                .rows_affected();
                if trashed == 0 {
                    return Err(lead_write_missed(tx, org, current.id, false).await?);
                }
                let trashed = super::lead_core::lead(tx, org, current.id).await?;
                tx.happened(org, actor, Happening::Deleted, Record::Lead(&trashed), now);
                Ok(())
            }

            /// Why a versioned write touched no row: the lead (live, or
            /// trashed when `trashed`) is gone, or it changed meanwhile.
            async fn lead_write_missed(tx: &mut Tx, org: Uuid, id: Uuid, trashed: bool) -> $crate::Result<StoreError> {
                let sql = if trashed {
                    "select count(*) from leads
                     where organization_id = $1 and id = $2 and deleted_at is not null and erased_at is null"
                } else {
                    "select count(*) from leads where organization_id = $1 and id = $2 and deleted_at is null"
                };
                let exists: i64 = sqlx::query_scalar(sql)
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

pub(crate) use impl_lead_store;
