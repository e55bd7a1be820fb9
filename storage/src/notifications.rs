//! Notifications: messages to one user about one record, unread first.
//!
//! Overdue activities need no scheduler: before a user's notifications are
//! listed, [`NotificationStore::notify_overdue`] marks each of their
//! activities that has become overdue since and writes its notification, in
//! one write transaction. The mark is taken by an `update … returning`
//! whose condition excludes marked rows, so two concurrent lists cannot both
//! claim the same activity: the second one waits for the first's row lock
//! (PostgreSQL) or for the write lock (SQLite) and then finds nothing left.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use pipewise_domain::{Notification, NotificationKind, RecordKind};
use uuid::Uuid;

use crate::{
    sql::{Arg, Sql},
    Result, StoreError,
};

/// A keyset page in list order: the last row's read state and id.
#[derive(Debug, Clone, Copy)]
pub struct NotificationPage {
    pub unread_only: bool,
    /// `(unread, id)` of the last notification seen.
    pub after: Option<(bool, Uuid)>,
    pub limit: u32,
}

#[async_trait]
pub trait NotificationStore {
    /// Writes an `activity_overdue` notification, once, for each live open
    /// activity of `user` that is due before `now`. Returns how many it wrote.
    async fn notify_overdue(&self, org: Uuid, user: Uuid, now: DateTime<Utc>) -> Result<u64>;
    /// The user's notifications, unread first, then newest first.
    async fn notifications(&self, org: Uuid, user: Uuid, page: &NotificationPage) -> Result<Vec<Notification>>;
    /// Marks one of the user's notifications read (again: no change).
    async fn read_notification(&self, org: Uuid, user: Uuid, id: Uuid, now: DateTime<Utc>) -> Result<Notification>;
    /// Marks every unread notification of the user read; returns how many.
    async fn read_all_notifications(&self, org: Uuid, user: Uuid, now: DateTime<Utc>) -> Result<u64>;
}

#[derive(sqlx::FromRow)]
pub(crate) struct NotificationRow {
    id: Uuid,
    organization_id: Uuid,
    user_id: Uuid,
    kind: String,
    record_kind: String,
    record_id: Uuid,
    message: String,
    read_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
}

impl TryFrom<NotificationRow> for Notification {
    type Error = StoreError;
    fn try_from(row: NotificationRow) -> Result<Self, StoreError> {
        let bad = |what: &str| StoreError::Corrupt(format!("notification {}: {what}", row.id));
        Ok(Notification {
            id: row.id,
            organization_id: row.organization_id,
            user_id: row.user_id,
            kind: NotificationKind::parse(&row.kind).ok_or_else(|| bad("kind"))?,
            record_kind: RecordKind::parse(&row.record_kind).ok_or_else(|| bad("record kind"))?,
            record_id: row.record_id,
            message: row.message,
            read_at: row.read_at,
            created_at: row.created_at,
        })
    }
}

/// An activity that has just become overdue.
#[derive(sqlx::FromRow)]
pub(crate) struct OverdueRow {
    pub id: Uuid,
    pub subject: String,
}

/// The SQL of a page of one user's notifications.
pub(crate) fn list_sql(org: Uuid, user: Uuid, page: &NotificationPage) -> Sql {
    let mut sql = Sql::new("select * from notifications where ");
    sql.push_args(
        "organization_id = {} and user_id = {}",
        [Arg::Uuid(org), Arg::Uuid(user)],
    );
    if page.unread_only {
        sql.push(" and read_at is null");
    }
    match page.after {
        None => {}
        // Still in the unread group: older unread ones, then every read one.
        Some((true, last)) => {
            sql.push_args(
                " and ((read_at is null and id < {}) or read_at is not null)",
                [Arg::Uuid(last)],
            );
        }
        Some((false, last)) => {
            sql.push_args(" and read_at is not null and id < {}", [Arg::Uuid(last)]);
        }
    }
    sql.push_args(
        " order by case when read_at is null then 0 else 1 end, id desc limit {}",
        [Arg::Int(i64::from(page.limit))],
    );
    sql
}

/// Implements [`NotificationStore`] for a store type with `pool` and
/// `begin_write`, in the module of `impl_lead_core!` (whose `notify` it uses).
macro_rules! impl_notification_store {
    ($store:ty) => {
        mod notification_store {
            use super::*;
            use ::chrono::{DateTime, Utc};
            use ::pipewise_domain::{Notification, NotificationKind, RecordKind};
            use ::uuid::Uuid;
            use $crate::lead_core::NewNotification;
            use $crate::notifications::{NotificationPage, NotificationRow, OverdueRow};
            use $crate::StoreError;

            #[async_trait::async_trait]
            impl $crate::notifications::NotificationStore for $store {
                #[tracing::instrument(skip_all)]
                async fn notify_overdue(&self, org: Uuid, user: Uuid, now: DateTime<Utc>) -> $crate::Result<u64> {
                    let mut tx = self.begin_write().await?;
                    let overdue = sqlx::query_as::<_, OverdueRow>(
                        "update activities set overdue_notified_at = $3
                         where owner_id = $2 and organization_id = $1 and due_at < $3 and due_at is not null
                           and done_at is null and overdue_notified_at is null and deleted_at is null
                         returning id, subject",
                    )
                    .bind(org)
                    .bind(user)
                    .bind(now)
                    .fetch_all(&mut *tx)
                    .await?;
                    for activity in &overdue {
                        let message = format!("The activity {} is overdue.", activity.subject);
                        let note = NewNotification {
                            user_id: user,
                            kind: NotificationKind::ActivityOverdue,
                            record_kind: RecordKind::Activity,
                            record_id: activity.id,
                            message: &message,
                        };
                        super::lead_core::notify(&mut tx, org, &note, now).await?;
                    }
                    tx.commit().await?;
                    Ok(overdue.len() as u64)
                }

                #[tracing::instrument(skip_all)]
                async fn notifications(
                    &self,
                    org: Uuid,
                    user: Uuid,
                    page: &NotificationPage,
                ) -> $crate::Result<Vec<Notification>> {
                    let sql = $crate::notifications::list_sql(org, user, page);
                    $crate::sql::bind_args!(sqlx::query_as::<_, NotificationRow>(&sql.text), &sql.args)
                        .fetch_all(&self.pool)
                        .await?
                        .into_iter()
                        .map(TryInto::try_into)
                        .collect()
                }

                #[tracing::instrument(skip_all)]
                async fn read_notification(
                    &self,
                    org: Uuid,
                    user: Uuid,
                    id: Uuid,
                    now: DateTime<Utc>,
                ) -> $crate::Result<Notification> {
                    sqlx::query_as::<_, NotificationRow>(
                        "update notifications set read_at = coalesce(read_at, $4)
                         where organization_id = $1 and user_id = $2 and id = $3
                         returning *",
                    )
                    .bind(org)
                    .bind(user)
                    .bind(id)
                    .bind(now)
                    .fetch_optional(&self.pool)
                    .await?
                    .ok_or(StoreError::NotFound)?
                    .try_into()
                }

                #[tracing::instrument(skip_all)]
                async fn read_all_notifications(
                    &self,
                    org: Uuid,
                    user: Uuid,
                    now: DateTime<Utc>,
                ) -> $crate::Result<u64> {
                    Ok(sqlx::query(
                        "update notifications set read_at = $3
                         where organization_id = $1 and user_id = $2 and read_at is null",
                    )
                    .bind(org)
                    .bind(user)
                    .bind(now)
                    .execute(&self.pool)
                    .await?
                    .rows_affected())
                }
            }
        }
    };
}

pub(crate) use impl_notification_store;
