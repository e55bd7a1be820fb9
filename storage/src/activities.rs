//! Activities: calls, emails, meetings and tasks around leads, contacts,
//! accounts and deals. Every write that can change what a linked record
//! knows about its activities does so in the same transaction: it moves the
//! records' `last_activity_at` forward, rescores a linked lead (the score
//! counts done activities), and tells a new owner about the assignment.
//!
//! `last_activity_at` of a linked record is the latest of the creation time
//! and the completion time of its activities; it only ever moves forward, so
//! trashing an activity or unlinking it leaves it where it was.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use pipewise_domain::{Activity, ActivityStatus, ActivityType, Links};
use uuid::Uuid;

use crate::{
    sql::{Arg, Sql},
    Actor, Edit, Result, StoreError,
};

/// Every field of an activity a client sets, already validated.
#[derive(Debug, Clone, PartialEq)]
pub struct ActivityFields {
    pub activity_type: ActivityType,
    pub subject: String,
    pub note: Option<String>,
    pub due_at: Option<DateTime<Utc>>,
    pub done_at: Option<DateTime<Utc>>,
    pub owner_id: Uuid,
    pub links: Links,
}

impl ActivityFields {
    /// The fields of a stored activity, to apply a partial change to.
    pub fn of(activity: &Activity) -> Self {
        Self {
            activity_type: activity.activity_type,
            subject: activity.subject.clone(),
            note: activity.note.clone(),
            due_at: activity.due_at,
            done_at: activity.done_at,
            owner_id: activity.owner_id,
            links: activity.links,
        }
    }
}

/// The order of an activity list; activities without a due date come last
/// in either direction of the `due_at` sorts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ActivitySort {
    #[default]
    CreatedAt,
    CreatedAtDesc,
    DueAt,
    DueAtDesc,
}

impl ActivitySort {
    fn column(self) -> &'static str {
        match self {
            ActivitySort::CreatedAt | ActivitySort::CreatedAtDesc => "created_at",
            ActivitySort::DueAt | ActivitySort::DueAtDesc => "due_at",
        }
    }

    fn descending(self) -> bool {
        matches!(self, ActivitySort::CreatedAtDesc | ActivitySort::DueAtDesc)
    }

    /// The key of `activity` under this sort, for a cursor.
    pub fn key_of(self, activity: &Activity) -> Option<DateTime<Utc>> {
        match self {
            ActivitySort::CreatedAt | ActivitySort::CreatedAtDesc => Some(activity.created_at),
            ActivitySort::DueAt | ActivitySort::DueAtDesc => activity.due_at,
        }
    }
}

/// Which live activities to list; every filter given must match.
#[derive(Debug, Clone, Default)]
pub struct ActivityFilter {
    /// Visibility: a rep sees only the activities they own.
    pub visible_to_owner: Option<Uuid>,
    pub owner_id: Option<Uuid>,
    pub activity_type: Option<ActivityType>,
    pub links: Links,
    /// Computed against `now`, as the response's `status` is.
    pub status: Option<ActivityStatus>,
    pub due_from: Option<DateTime<Utc>>,
    pub due_to: Option<DateTime<Utc>>,
}

/// A keyset page: the last row's sort key (`None`: no due date) and id.
#[derive(Debug, Clone, Copy)]
pub struct ActivityPage {
    pub sort: ActivitySort,
    pub after: Option<(Option<DateTime<Utc>>, Uuid)>,
    pub limit: u32,
}

#[async_trait]
pub trait ActivityStore {
    /// A live activity: absent, foreign and trashed ones are `NotFound`.
    async fn activity(&self, org: Uuid, id: Uuid) -> Result<Activity>;
    /// A live or trashed activity.
    async fn activity_incl_trashed(&self, org: Uuid, id: Uuid) -> Result<Activity>;
    async fn activities(
        &self,
        org: Uuid,
        filter: &ActivityFilter,
        page: &ActivityPage,
        now: DateTime<Utc>,
    ) -> Result<Vec<Activity>>;
    /// Stores a new activity created at `created_at` (now, or backdated).
    async fn create_activity(
        &self,
        org: Uuid,
        fields: &ActivityFields,
        created_at: DateTime<Utc>,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<Activity>;
    /// Replaces the fields of the live activity with what `edit` makes of it
    /// under its row lock (completing an activity is setting its `done_at`).
    async fn update_activity(
        &self,
        org: Uuid,
        id: Uuid,
        edit: Edit<'_, Activity, ActivityFields>,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<Activity>;
    /// Moves the live activity to the trash if `check` passes on it, under its row lock.
    async fn trash_activity(
        &self,
        org: Uuid,
        id: Uuid,
        check: Edit<'_, Activity, ()>,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<()>;
    /// Takes the trashed activity out of the trash if `check` passes on it,
    /// under its row lock; a live one is returned as it is.
    async fn restore_activity(
        &self,
        org: Uuid,
        id: Uuid,
        check: Edit<'_, Activity, ()>,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<Activity>;
}

#[derive(sqlx::FromRow)]
pub(crate) struct ActivityRow {
    id: Uuid,
    organization_id: Uuid,
    #[sqlx(rename = "type")]
    activity_type: String,
    subject: String,
    note: Option<String>,
    due_at: Option<DateTime<Utc>>,
    done_at: Option<DateTime<Utc>>,
    owner_id: Uuid,
    lead_id: Option<Uuid>,
    contact_id: Option<Uuid>,
    account_id: Option<Uuid>,
    deal_id: Option<Uuid>,
    #[allow(dead_code)]
    overdue_notified_at: Option<DateTime<Utc>>,
    version: i64,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    deleted_at: Option<DateTime<Utc>>,
}

impl TryFrom<ActivityRow> for Activity {
    type Error = StoreError;
    fn try_from(row: ActivityRow) -> Result<Self, StoreError> {
        Ok(Activity {
            id: row.id,
            organization_id: row.organization_id,
            activity_type: ActivityType::parse(&row.activity_type)
                .ok_or_else(|| StoreError::Corrupt(format!("activity {}: type", row.id)))?,
            subject: row.subject,
            note: row.note,
            due_at: row.due_at,
            done_at: row.done_at,
            owner_id: row.owner_id,
            links: Links {
                lead_id: row.lead_id,
                contact_id: row.contact_id,
                account_id: row.account_id,
                deal_id: row.deal_id,
            },
            version: row.version,
            created_at: row.created_at,
            updated_at: row.updated_at,
            deleted_at: row.deleted_at,
        })
    }
}

/// A foreign key violation means a linked record or the owner was deleted
/// for good after the API checked it.
pub(crate) fn activity_write_error(err: sqlx::Error) -> StoreError {
    match &err {
        sqlx::Error::Database(db) if db.kind() == sqlx::error::ErrorKind::ForeignKeyViolation => {
            StoreError::Invalid("owner_id", "the owner or a linked record no longer exists")
        }
        _ => StoreError::Database(err),
    }
}

/// When the records an activity links to last saw activity because of it.
pub(crate) fn activity_instant(created_at: DateTime<Utc>, done_at: Option<DateTime<Utc>>) -> DateTime<Utc> {
    done_at.map_or(created_at, |done| done.max(created_at))
}

/// Sets a lead's `first_activity_at`: its first live activity's creation.
pub(crate) const LEAD_MARK: &str = "update leads set first_activity_at = (select min(a.created_at) from activities a
     where a.lead_id = leads.id and a.deleted_at is null) where organization_id = $1 and id = $2";

/// Sets a deal's `live_activity_at`: the latest instant of its live activities.
pub(crate) const DEAL_MARK: &str = "update deals set live_activity_at = (select max(case when a.done_at is not null
     and a.done_at > a.created_at then a.done_at else a.created_at end) from activities a
     where a.deal_id = deals.id and a.deleted_at is null) where organization_id = $1 and id = $2";

/// The SQL of a page of activities.
pub(crate) fn list_sql(org: Uuid, filter: &ActivityFilter, page: &ActivityPage, now: DateTime<Utc>) -> Sql {
    let mut sql = Sql::new("select * from activities where ");
    sql.push_args("organization_id = {} and deleted_at is null", [Arg::Uuid(org)]);
    let mut eq = |column: &str, arg: Option<Arg>| {
        if let Some(arg) = arg {
            sql.push_args(&format!(" and {column} = {{}}"), [arg]);
        }
    };
    eq("owner_id", filter.visible_to_owner.map(Arg::Uuid));
    eq("owner_id", filter.owner_id.map(Arg::Uuid));
    eq("type", filter.activity_type.map(|t| Arg::Text(t.as_str().to_owned())));
    eq("lead_id", filter.links.lead_id.map(Arg::Uuid));
    eq("contact_id", filter.links.contact_id.map(Arg::Uuid));
    eq("account_id", filter.links.account_id.map(Arg::Uuid));
    eq("deal_id", filter.links.deal_id.map(Arg::Uuid));
    match filter.status {
        None => {}
        Some(ActivityStatus::Done) => {
            sql.push(" and done_at is not null");
        }
        Some(ActivityStatus::Overdue) => {
            sql.push_args(" and done_at is null and due_at < {}", [Arg::Time(now)]);
        }
        Some(ActivityStatus::Open) => {
            sql.push_args(
                " and done_at is null and (due_at is null or due_at >= {})",
                [Arg::Time(now)],
            );
        }
    }
    if let Some(from) = filter.due_from {
        sql.push_args(" and due_at >= {}", [Arg::Time(from)]);
    }
    if let Some(to) = filter.due_to {
        sql.push_args(" and due_at < {}", [Arg::Time(to)]);
    }
    let column = page.sort.column();
    let (cmp, dir) = if page.sort.descending() {
        ("<", "desc")
    } else {
        (">", "asc")
    };
    let nullable = column == "due_at";
    if let Some((key, id)) = page.after {
        match key {
            // Rows without a due date come last in either direction.
            None => {
                sql.push_args(&format!(" and {column} is null and id {cmp} {{}}"), [Arg::Uuid(id)]);
            }
            Some(key) => {
                let nulls = if nullable {
                    format!(" or {column} is null")
                } else {
                    String::new()
                };
                let a = sql.arg(Arg::Time(key));
                let b = sql.arg(Arg::Time(key));
                let c = sql.arg(Arg::Uuid(id));
                sql.push(&format!(
                    " and ({column} {cmp} {a} or ({column} = {b} and id {cmp} {c}){nulls})"
                ));
            }
        }
    }
    let nulls = if nullable { " nulls last" } else { "" };
    sql.push(&format!(" order by {column} {dir}{nulls}, id {dir} limit "));
    let limit = sql.arg(Arg::Int(i64::from(page.limit)));
    sql.push(&limit);
    sql
}

/// Implements [`ActivityStore`] for a store type with `pool`, `begin_write`
/// and `FOR_UPDATE`, in the module of `impl_store!` and `impl_lead_core!`.
macro_rules! impl_activity_store {
    ($store:ty) => {
        mod activity_store {
            use super::*;
            use ::chrono::{DateTime, Utc};
            use ::pipewise_domain::{Activity, Links, RecordKind};
            use ::uuid::Uuid;
            use $crate::activities::{activity_instant, activity_write_error, ActivityFields, ActivityRow};
            use $crate::{Actor, StoreError};
            use $crate::events::{Happening, Record};

            #[async_trait::async_trait]
            impl $crate::activities::ActivityStore for $store {
                #[tracing::instrument(skip_all)]
                async fn activity(&self, org: Uuid, id: Uuid) -> $crate::Result<Activity> {
                    sqlx::query_as::<_, ActivityRow>(
                        "select * from activities where organization_id = $1 and id = $2 and deleted_at is null",
                    )
                    .bind(org)
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?
                    .ok_or(StoreError::NotFound)?
                    .try_into()
                }

                #[tracing::instrument(skip_all)]
                async fn activity_incl_trashed(&self, org: Uuid, id: Uuid) -> $crate::Result<Activity> {
                    sqlx::query_as::<_, ActivityRow>("select * from activities where organization_id = $1 and id = $2")
                        .bind(org)
                        .bind(id)
                        .fetch_optional(&self.pool)
                        .await?
                        .ok_or(StoreError::NotFound)?
                        .try_into()
                }

                #[tracing::instrument(skip_all)]
                async fn activities(
                    &self,
                    org: Uuid,
                    filter: &$crate::activities::ActivityFilter,
                    page: &$crate::activities::ActivityPage,
                    now: DateTime<Utc>,
                ) -> $crate::Result<Vec<Activity>> {
                    let sql = $crate::activities::list_sql(org, filter, page, now);
                    $crate::sql::bind_args!(sqlx::query_as::<_, ActivityRow>(&sql.text), &sql.args)
                        .fetch_all(&self.pool)
                        .await?
                        .into_iter()
                        .map(TryInto::try_into)
                        .collect()
                }

                #[tracing::instrument(skip_all)]
                async fn create_activity(
                    &self,
                    org: Uuid,
                    fields: &ActivityFields,
                    created_at: DateTime<Utc>,
                    actor: Actor,
                    now: DateTime<Utc>,
                ) -> $crate::Result<Activity> {
                    let mut tx = self.begin_write().await?;
                    let id = Uuid::now_v7();
                    let l = &fields.links;
                    sqlx::query(
                        "insert into activities (id, organization_id, type, subject, note, due_at, done_at, owner_id,
                                                 lead_id, contact_id, account_id, deal_id, overdue_notified_at,
                                                 version, created_at, updated_at, deleted_at)
                         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, null, 1, $13, $14, null)",
                    )
                    .bind(id)
                    .bind(org)
                    .bind(fields.activity_type.as_str())
                    .bind(&fields.subject)
                    .bind(fields.note.as_deref())
                    .bind(fields.due_at)
                    .bind(fields.done_at)
                    .bind(fields.owner_id)
                    .bind(l.lead_id)
                    .bind(l.contact_id)
                    .bind(l.account_id)
                    .bind(l.deal_id)
                    .bind(created_at)
                    .bind(now)
                    .execute(&mut *tx)
                    .await
                    .map_err(activity_write_error)?;
                    touch_links(&mut tx, org, l, activity_instant(created_at, fields.done_at)).await?;
                    rescore(&mut tx, org, &Links::default(), l, actor, now).await?;
                    refresh_marks(&mut tx, org, &Links::default(), l).await?;
                    super::lead_core::notify_assignment(
                        &mut tx,
                        org,
                        actor,
                        RecordKind::Activity,
                        id,
                        &fields.subject,
                        None,
                        fields.owner_id,
                        now,
                    )
                    .await?;
                    let activity = load(&mut tx, org, id).await?;
                    tx.created(org, actor, Record::Activity(&activity), now);
                    tx.commit().await?;
                    Ok(activity)
                }

                #[tracing::instrument(skip_all)]
                async fn update_activity(
                    &self,
                    org: Uuid,
                    id: Uuid,
                    edit: $crate::Edit<'_, Activity, ActivityFields>,
                    actor: Actor,
                    now: DateTime<Utc>,
                ) -> $crate::Result<Activity> {
                    let mut tx = self.begin_write().await?;
                    let current = lock(&mut tx, org, id, Some(false)).await?;
                    let fields = &edit(&current).map_err(StoreError::Refused)?;
                    // A write that changes nothing changes nothing: no new version, no event.
                    if *fields == ActivityFields::of(&current) {
                        tx.commit().await?;
                        return Ok(current);
                    }
                    let l = &fields.links;
                    // A new due date may become overdue again: the owner is told anew.
                    let renotify = fields.due_at != current.due_at || fields.owner_id != current.owner_id;
                    sqlx::query(
                        "update activities
                         set type = $3, subject = $4, note = $5, due_at = $6, done_at = $7, owner_id = $8,
                             lead_id = $9, contact_id = $10, account_id = $11, deal_id = $12,
                             overdue_notified_at = case when $13 then null else overdue_notified_at end,
                             version = version + 1, updated_at = $14
                         where organization_id = $1 and id = $2",
                    )
                    .bind(org)
                    .bind(id)
                    .bind(fields.activity_type.as_str())
                    .bind(&fields.subject)
                    .bind(fields.note.as_deref())
                    .bind(fields.due_at)
                    .bind(fields.done_at)
                    .bind(fields.owner_id)
                    .bind(l.lead_id)
                    .bind(l.contact_id)
                    .bind(l.account_id)
                    .bind(l.deal_id)
                    .bind(renotify)
                    .bind(now)
                    .execute(&mut *tx)
                    .await
                    .map_err(activity_write_error)?;
                    touch_links(
                        &mut tx,
                        org,
                        l,
                        activity_instant(current.created_at, fields.done_at),
                    )
                    .await?;
                    rescore(&mut tx, org, &current.links, l, actor, now).await?;
                    refresh_marks(&mut tx, org, &current.links, l).await?;
                    super::lead_core::notify_assignment(
                        &mut tx,
                        org,
                        actor,
                        RecordKind::Activity,
                        id,
                        &fields.subject,
                        Some(current.owner_id),
                        fields.owner_id,
                        now,
                    )
                    .await?;
                    let activity = load(&mut tx, org, id).await?;
                    tx.changed(org, actor, Record::Activity(&current), Record::Activity(&activity), now);
                    tx.commit().await?;
                    Ok(activity)
                }

                #[tracing::instrument(skip_all)]
                async fn trash_activity(
                    &self,
                    org: Uuid,
                    id: Uuid,
                    check: $crate::Edit<'_, Activity, ()>,
                    actor: Actor,
                    now: DateTime<Utc>,
                ) -> $crate::Result<()> {
                    let mut tx = self.begin_write().await?;
                    let current = lock(&mut tx, org, id, Some(false)).await?;
                    check(&current).map_err(StoreError::Refused)?;
                    sqlx::query(
                        "update activities set deleted_at = $3, version = version + 1, updated_at = $3
                         where organization_id = $1 and id = $2",
                    )
                    .bind(org)
                    .bind(id)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                    rescore(&mut tx, org, &current.links, &Links::default(), actor, now).await?;
                    refresh_marks(&mut tx, org, &current.links, &Links::default()).await?;
                    let trashed = load(&mut tx, org, id).await?;
                    tx.happened(org, actor, Happening::Deleted, Record::Activity(&trashed), now);
                    tx.commit().await?;
                    Ok(())
                }

                #[tracing::instrument(skip_all)]
                async fn restore_activity(
                    &self,
                    org: Uuid,
                    id: Uuid,
                    check: $crate::Edit<'_, Activity, ()>,
                    actor: Actor,
                    now: DateTime<Utc>,
                ) -> $crate::Result<Activity> {
                    let mut tx = self.begin_write().await?;
                    let current = lock(&mut tx, org, id, None).await?;
                    check(&current).map_err(StoreError::Refused)?;
                    if current.deleted_at.is_none() {
                        return Ok(current);
                    }
                    sqlx::query(
                        "update activities set deleted_at = null, version = version + 1, updated_at = $3
                         where organization_id = $1 and id = $2",
                    )
                    .bind(org)
                    .bind(id)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                    rescore(&mut tx, org, &Links::default(), &current.links, actor, now).await?;
                    refresh_marks(&mut tx, org, &Links::default(), &current.links).await?;
                    let activity = load(&mut tx, org, id).await?;
                    tx.happened(org, actor, Happening::Restored, Record::Activity(&activity), now);
                    tx.commit().await?;
                    Ok(activity)
                }
            }

            async fn load(tx: &mut Tx, org: Uuid, id: Uuid) -> $crate::Result<Activity> {
                sqlx::query_as::<_, ActivityRow>("select * from activities where organization_id = $1 and id = $2")
                    .bind(org)
                    .bind(id)
                    .fetch_optional(&mut **tx)
                    .await?
                    .ok_or(StoreError::NotFound)?
                    .try_into()
            }

            /// The activity, locked for the write: live, or trashed when `trashed`.
            /// The activity, live (`Some(false)`), trashed (`Some(true)`) or either,
            /// locked until the transaction ends. Every write to an activity takes
            /// this lock first (on SQLite, BEGIN IMMEDIATE's write lock), so writes
            /// queue up and each checks and changes the version it replaces.
            async fn lock(tx: &mut Tx, org: Uuid, id: Uuid, trashed: Option<bool>) -> $crate::Result<Activity> {
                let state = match trashed {
                    Some(true) => "and deleted_at is not null",
                    Some(false) => "and deleted_at is null",
                    None => "",
                };
                let sql = format!(
                    "select * from activities where organization_id = $1 and id = $2 {state} {}",
                    <$store>::FOR_UPDATE
                );
                sqlx::query_as::<_, ActivityRow>(&sql)
                    .bind(org)
                    .bind(id)
                    .fetch_optional(&mut **tx)
                    .await?
                    .ok_or(StoreError::NotFound)?
                    .try_into()
            }

            /// Moves `last_activity_at` of every linked record forward to `at`.
            async fn touch_links(tx: &mut Tx, org: Uuid, links: &Links, at: DateTime<Utc>) -> $crate::Result<()> {
                let targets = [
                    ("leads", links.lead_id),
                    ("contacts", links.contact_id),
                    ("accounts", links.account_id),
                    ("deals", links.deal_id),
                ];
                for (table, id) in targets {
                    let Some(id) = id else { continue };
                    // `case` rather than max()/greatest(): the one spelling both backends share.
                    let sql = format!(
                        "update {table}
                         set last_activity_at = case when last_activity_at is null or last_activity_at < $3
                                                     then $3 else last_activity_at end
                         where organization_id = $1 and id = $2"
                    );
                    sqlx::query(&sql)
                        .bind(org)
                        .bind(id)
                        .bind(at)
                        .execute(&mut **tx)
                        .await?;
                }
                Ok(())
            }

            /// Recomputes the activity marks of the lead and the deal an
            /// activity was and is linked to. Each record's row is locked
            /// first, so that the recomputation (a statement of its own, with
            /// a snapshot taken after the lock) reads every activity a
            /// concurrent write committed before it; one that comes later
            /// waits and recomputes after it.
            async fn refresh_marks(tx: &mut Tx, org: Uuid, before: &Links, after: &Links) -> $crate::Result<()> {
                let targets = [
                    (
                        "leads",
                        "first_activity_at",
                        before.lead_id,
                        after.lead_id,
                        $crate::activities::LEAD_MARK,
                    ),
                    (
                        "deals",
                        "live_activity_at",
                        before.deal_id,
                        after.deal_id,
                        $crate::activities::DEAL_MARK,
                    ),
                ];
                for (table, mark_column, was, is, mark) in targets {
                    let mut ids: Vec<Uuid> = was.into_iter().chain(is).collect();
                    ids.sort();
                    ids.dedup();
                    for id in ids {
                        // An update that changes nothing takes the row lock an
                        // update takes: unlike `for update`, it does not wait
                        // for the key-share locks of other activities' inserts.
                        let lock =
                            format!("update {table} set {mark_column} = {mark_column} where organization_id = $1 and id = $2");
                        sqlx::query(&lock).bind(org).bind(id).execute(&mut **tx).await?;
                        sqlx::query(mark).bind(org).bind(id).execute(&mut **tx).await?;
                    }
                }
                Ok(())
            }

            /// Rescores the leads an activity was and is linked to: the
            /// count of done activities is a scoring fact.
            async fn rescore(
                tx: &mut Tx,
                org: Uuid,
                before: &Links,
                after: &Links,
                actor: Actor,
                now: DateTime<Utc>,
            ) -> $crate::Result<()> {
                let mut leads = vec![];
                leads.extend(before.lead_id);
                leads.extend(after.lead_id.filter(|l| Some(*l) != before.lead_id));
                for lead in leads {
                    super::lead_core::rescore_lead(tx, org, lead, actor, now).await?;
                }
                Ok(())
            }
        }
    };
}

pub(crate) use impl_activity_store;
