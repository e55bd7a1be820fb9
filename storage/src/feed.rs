//! Reading the event stream: the change feed (`GET /changes`) in commit
//! order, and the audit log (`GET /audit-log`), newest first.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::Result;

/// How long the change feed keeps events.
pub const FEED_RETENTION_DAYS: i64 = 30;

/// A place in the change feed: after the event with this key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Position {
    pub tx_key: i64,
    pub seq: i64,
}

impl Position {
    /// Before every event.
    pub const START: Position = Position { tx_key: 0, seq: 0 };
}

/// One event of the stream, as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct StoredEvent {
    pub seq: i64,
    pub tx_key: i64,
    pub id: Uuid,
    #[sqlx(rename = "type")]
    pub event_type: String,
    pub record_kind: String,
    pub record_id: Uuid,
    /// JSON.
    pub data: String,
    /// JSON, for changes.
    pub previous: Option<String>,
    pub actor_kind: String,
    pub actor_id: Option<Uuid>,
    pub request_id: Option<String>,
    pub occurred_at: DateTime<Utc>,
}

impl StoredEvent {
    pub fn position(&self) -> Position {
        Position {
            tx_key: self.tx_key,
            seq: self.seq,
        }
    }
}

/// Which events of the feed to read.
#[derive(Debug, Clone)]
pub struct FeedQuery {
    pub after: Position,
    /// Event types (`deal.won`) or families (`deal.*`); empty: all.
    pub types: Vec<String>,
    pub limit: u32,
    /// Events older than this are gone from the feed.
    pub since: DateTime<Utc>,
}

/// Why a feed position cannot be read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeedError {
    /// The position is older than the feed keeps.
    Expired,
    /// No event of the organization has this position.
    Unknown,
}

/// One audit row.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AuditRow {
    pub id: Uuid,
    pub action: String,
    pub target_kind: Option<String>,
    pub target_id: Option<Uuid>,
    pub actor_user_id: Option<Uuid>,
    pub actor_api_key_id: Option<Uuid>,
    pub actor_form_id: Option<Uuid>,
    /// JSON: field → {from, to}.
    pub changes: Option<String>,
    pub request_id: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// Which audit rows to list, newest first; every filter given must match.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub target_id: Option<Uuid>,
    /// A user, API key or form id.
    pub actor_id: Option<Uuid>,
    /// An action (`deal.won`) or a family (`deal.*`).
    pub action: Option<String>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    /// The last id of the previous page.
    pub before: Option<Uuid>,
    pub limit: u32,
}

#[async_trait]
pub trait FeedStore {
    /// The next events after `query.after` in commit order; only events
    /// whose transactions, and every transaction that could still write an
    /// event before them, have ended: a later read never finds a new event
    /// before the last one returned.
    async fn changes(&self, org: Uuid, query: &FeedQuery) -> Result<std::result::Result<Vec<StoredEvent>, FeedError>>;
    async fn audit_log(&self, org: Uuid, filter: &AuditFilter) -> Result<Vec<AuditRow>>;
    /// Deletes feed events older than `before`, a batch at a time; returns how many went.
    async fn sweep_events(&self, before: DateTime<Utc>) -> Result<u64>;
}

/// `type` patterns as SQL: `deal.*` is a family, anything else one type.
pub(crate) fn push_types<'a, DB: sqlx::Database>(qb: &mut sqlx::QueryBuilder<'a, DB>, column: &str, types: &[String])
where
    String: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
{
    if types.is_empty() {
        return;
    }
    qb.push(" and (");
    for (i, t) in types.iter().enumerate() {
        if i > 0 {
            qb.push(" or ");
        }
        match t.strip_suffix(".*") {
            Some(family) => qb.push(format!("{column} like ")).push_bind(format!("{family}.%")),
            None => qb.push(format!("{column} = ")).push_bind(t.clone()),
        };
    }
    qb.push(")");
}

/// Implements [`FeedStore`] for a store type; `$horizon` is the SQL of the
/// lowest ordering key a running transaction may still write.
macro_rules! impl_feed_store {
    ($store:ty, $db:ty, $horizon:expr) => {
        mod feed_store {
            use super::*;
            use ::chrono::{DateTime, Utc};
            use ::uuid::Uuid;
            use $crate::feed::{AuditFilter, AuditRow, FeedError, FeedQuery, Position, StoredEvent};

            #[async_trait::async_trait]
            impl $crate::feed::FeedStore for $store {
                #[tracing::instrument(skip_all)]
                async fn changes(
                    &self,
                    org: Uuid,
                    query: &FeedQuery,
                ) -> $crate::Result<std::result::Result<Vec<StoredEvent>, FeedError>> {
                    if query.after != Position::START {
                        let at: Option<DateTime<Utc>> = sqlx::query_scalar(
                            "select occurred_at from events where organization_id = $1 and seq = $2 and tx_key = $3",
                        )
                        .bind(org)
                        .bind(query.after.seq)
                        .bind(query.after.tx_key)
                        .fetch_optional(&self.pool)
                        .await?;
                        match at {
                            Some(at) if at < query.since => return Ok(Err(FeedError::Expired)),
                            Some(_) => {}
                            None => {
                                // Swept, if older than every event kept; else never there.
                                let oldest: Option<i64> = sqlx::query_scalar("select min(seq) from events")
                                    .fetch_one(&self.pool)
                                    .await?;
                                return Ok(Err(match oldest {
                                    Some(oldest) if query.after.seq < oldest => FeedError::Expired,
                                    _ => FeedError::Unknown,
                                }));
                            }
                        }
                    }
                    let mut qb = sqlx::QueryBuilder::<$db>::new(
                        "select seq, tx_key, id, type, record_kind, record_id, data, previous, actor_kind, actor_id,
                                request_id, occurred_at
                         from events where organization_id = ",
                    );
                    qb.push_bind(org)
                        .push(" and (tx_key, seq) > (")
                        .push_bind(query.after.tx_key)
                        .push(", ")
                        .push_bind(query.after.seq)
                        .push(") and tx_key < ")
                        .push($horizon)
                        .push(" and occurred_at >= ")
                        .push_bind(query.since);
                    $crate::feed::push_types(&mut qb, "type", &query.types);
                    qb.push(" order by tx_key, seq limit ")
                        .push_bind(i64::from(query.limit));
                    Ok(Ok(qb
                        .build_query_as::<StoredEvent>()
                        .fetch_all(&self.pool)
                        .await?))
                }

                #[tracing::instrument(skip_all)]
                async fn audit_log(&self, org: Uuid, filter: &AuditFilter) -> $crate::Result<Vec<AuditRow>> {
                    let mut qb = sqlx::QueryBuilder::<$db>::new(
                        "select id, action, target_kind, target_id, actor_user_id, actor_api_key_id, actor_form_id,
                                changes, request_id, created_at
                         from audit_log where organization_id = ",
                    );
                    qb.push_bind(org);
                    if let Some(target) = filter.target_id {
                        qb.push(" and target_id = ").push_bind(target);
                    }
                    if let Some(actor) = filter.actor_id {
                        qb.push(" and (actor_user_id = ")
                            .push_bind(actor)
                            .push(" or actor_api_key_id = ")
                            .push_bind(actor)
                            .push(" or actor_form_id = ")
                            .push_bind(actor)
                            .push(")");
                    }
                    let actions: Vec<String> = filter.action.iter().cloned().collect();
                    $crate::feed::push_types(&mut qb, "action", &actions);
                    if let Some(from) = filter.from {
                        qb.push(" and created_at >= ").push_bind(from);
                    }
                    if let Some(to) = filter.to {
                        qb.push(" and created_at < ").push_bind(to);
                    }
                    if let Some(before) = filter.before {
                        qb.push(" and id < ").push_bind(before);
                    }
                    qb.push(" order by id desc limit ")
                        .push_bind(i64::from(filter.limit));
                    Ok(qb.build_query_as::<AuditRow>().fetch_all(&self.pool).await?)
                }

                #[tracing::instrument(skip_all)]
                async fn sweep_events(&self, before: DateTime<Utc>) -> $crate::Result<u64> {
                    // Events are in seq order by time, give or take a clock step:
                    // the oldest are at the start of the primary key.
                    Ok(sqlx::query(
                        "delete from events where seq in
                           (select seq from events where occurred_at < $1 order by seq limit 5000)",
                    )
                    .bind(before)
                    .execute(&self.pool)
                    .await?
                    .rows_affected())
                }
            }
        }
    };
}

pub(crate) use impl_feed_store;
