//! Bulk inserts: many rows at once, for generated demo data and imports.
//!
//! The caller decides everything a row holds (ids, timestamps, status,
//! score) and has validated it; the storage writes the rows as given, a
//! slice per call in one transaction, with multi-row `insert … values (…),
//! (…)` statements as large as the backend's limit on bound parameters
//! allows (SQLite: 32,766; PostgreSQL: 65,535). Nothing is derived here but
//! the search keys and each event's stint links (as the API's writes keep
//! them), and no notification is left: a bulk load is history, not news for anyone's
//! inbox.
//!
//! Rows must respect the references between tables: accounts before the
//! contacts at them, contacts and accounts before the deals that name them,
//! deals before the leads converted into them, and all of those before the
//! activities linked to them.

use std::borrow::Cow;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use pipewise_domain::{
    deal::{DealStatus, EventKind, ForecastCategory},
    lead::{LeadProgress, LeadStatus},
    scoring::email_domain_kind,
    text::search_key,
    Amount, Currency, DealContact, Email, Probability, Score,
};
use uuid::Uuid;

use crate::{AccountFields, ActivityFields, Actor, ContactFields, LeadFields, Result};

/// An account as it is to be stored.
#[derive(Debug, Clone, PartialEq)]
pub struct BulkAccount {
    pub id: Uuid,
    pub fields: AccountFields,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The latest creation or completion time of its activities.
    pub last_activity_at: Option<DateTime<Utc>>,
}

/// A contact as it is to be stored.
#[derive(Debug, Clone, PartialEq)]
pub struct BulkContact {
    pub id: Uuid,
    pub fields: ContactFields,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub last_activity_at: Option<DateTime<Utc>>,
}

/// A lead as it is to be stored: its score and `mql_at` as the caller
/// computed them with the organization's rules.
#[derive(Debug, Clone, PartialEq)]
pub struct BulkLead {
    pub id: Uuid,
    pub fields: LeadFields,
    pub progress: LeadProgress,
    pub score: Score,
    pub mql_at: Option<DateTime<Utc>>,
    pub last_activity_at: Option<DateTime<Utc>>,
    /// The creation of its first activity.
    pub first_activity_at: Option<DateTime<Utc>>,
    pub converted_contact_id: Option<Uuid>,
    pub converted_account_id: Option<Uuid>,
    pub converted_deal_id: Option<Uuid>,
    pub form_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A deal as it is to be stored, with its contact links and its event log.
/// Its status, stage, `closed_at`, `stage_entered_at` and `lost_reason`
/// must be what replaying `events` gives.
#[derive(Debug, Clone, PartialEq)]
pub struct BulkDeal {
    pub id: Uuid,
    pub pipeline_id: Uuid,
    pub stage_id: Uuid,
    pub title: String,
    pub amount: Amount,
    pub currency: Currency,
    pub status: DealStatus,
    pub owner_id: Uuid,
    pub account_id: Option<Uuid>,
    pub contacts: Vec<DealContact>,
    pub source: Option<String>,
    pub probability: Option<Probability>,
    pub expected_close_date: Option<NaiveDate>,
    pub forecast_category: ForecastCategory,
    pub lost_reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub closed_at: Option<DateTime<Utc>>,
    pub stage_entered_at: DateTime<Utc>,
    pub last_activity_at: Option<DateTime<Utc>>,
    pub external_id: Option<String>,
    pub tags: pipewise_domain::Tags,
    pub custom_fields: pipewise_domain::CustomValues,
    /// Oldest first, starting with `created`.
    pub events: Vec<BulkDealEvent>,
}

/// One entry of a deal's event log.
#[derive(Debug, Clone, PartialEq)]
pub struct BulkDealEvent {
    pub id: Uuid,
    pub kind: EventKind,
    pub at: DateTime<Utc>,
    pub pipeline_id: Uuid,
    pub stage_id: Uuid,
    pub from_stage_id: Option<Uuid>,
    pub lost_reason: Option<String>,
    pub actor: Actor,
    /// When the event was written (`at` itself, unless it was backdated).
    pub created_at: DateTime<Utc>,
}

/// An activity as it is to be stored.
#[derive(Debug, Clone, PartialEq)]
pub struct BulkActivity {
    pub id: Uuid,
    pub fields: ActivityFields,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Writes many rows of `org`, each call in one transaction: all of its rows
/// or none.
#[async_trait]
pub trait BulkStore {
    async fn insert_accounts(&self, org: Uuid, rows: &[BulkAccount]) -> Result<()>;
    /// A duplicate email within the organization is a `Conflict`.
    async fn insert_contacts(&self, org: Uuid, rows: &[BulkContact]) -> Result<()>;
    async fn insert_leads(&self, org: Uuid, rows: &[BulkLead]) -> Result<()>;
    /// The deals, their contact links and their events.
    async fn insert_deals(&self, org: Uuid, rows: &[BulkDeal]) -> Result<()>;
    async fn insert_activities(&self, org: Uuid, rows: &[BulkActivity]) -> Result<()>;
    /// Refreshes the planner's statistics after a bulk load: without them
    /// the database plans the reports' queries for empty tables.
    async fn analyze(&self) -> Result<()>;
}

/// A value to bind, borrowed from the row where it can be.
#[derive(Debug, Clone)]
pub(crate) enum Value<'a> {
    Uuid(Option<Uuid>),
    Text(Option<Cow<'a, str>>),
    Int(Option<i64>),
    Time(Option<DateTime<Utc>>),
    Date(Option<NaiveDate>),
}

impl<'a> Value<'a> {
    fn str(value: &'a str) -> Self {
        Value::Text(Some(Cow::Borrowed(value)))
    }

    fn opt_str(value: Option<&'a str>) -> Self {
        Value::Text(value.map(Cow::Borrowed))
    }

    fn owned(value: String) -> Self {
        Value::Text(Some(Cow::Owned(value)))
    }

    fn id(value: Uuid) -> Self {
        Value::Uuid(Some(value))
    }

    fn time(value: DateTime<Utc>) -> Self {
        Value::Time(Some(value))
    }
}

/// One table's insert: the statement's head and the template of one row,
/// where each `?` is a bound value (constants are written out).
#[derive(Debug)]
pub(crate) struct Insert {
    pub head: &'static str,
    pub row: &'static str,
}

impl Insert {
    pub(crate) fn columns(&self) -> usize {
        self.row.matches('?').count()
    }

    /// The statement for `rows` rows, its placeholders numbered from `$1`,
    /// or all `?` when not `numbered`.
    ///
    /// SQLite takes plain `?`: it looks each named or numbered parameter up
    /// in a list while parsing, which makes a statement of 30,000 `$n` cost
    /// seconds to prepare; a plain `?` just takes the next index.
    pub(crate) fn sql(&self, rows: usize, numbered: bool) -> String {
        let mut sql = String::with_capacity(self.head.len() + 8 + rows * (self.row.len() + self.columns() * 6));
        sql.push_str(self.head);
        sql.push_str(" values ");
        let mut n = 0;
        for i in 0..rows {
            if i > 0 {
                sql.push_str(", ");
            }
            for c in self.row.chars() {
                if c == '?' && numbered {
                    n += 1;
                    sql.push('$');
                    sql.push_str(&n.to_string());
                } else {
                    sql.push(c);
                }
            }
        }
        sql
    }

    /// Rows per statement under a backend's limit of `max_params` bound values.
    pub(crate) fn rows_per_statement(&self, max_params: usize) -> usize {
        (max_params / self.columns()).max(1)
    }
}

// Version 1 and no trash: a bulk row is as new as a row written by the API.
pub(crate) const ACCOUNTS: Insert = Insert {
    head: "insert into accounts (id, organization_id, name, name_key, domain, industry, employee_count, owner_id,
                                 version, created_at, updated_at, deleted_at, last_activity_at, country, external_id,
                                 tags, custom_fields)",
    row: "(?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?, null, ?, ?, ?, ?, ?)",
};

pub(crate) const CONTACTS: Insert = Insert {
    head: "insert into contacts (id, organization_id, first_name, last_name, name_key, email, phone, title, account_id,
                                 buying_role, owner_id, version, created_at, updated_at, last_activity_at, external_id,
                                 tags, custom_fields)",
    row: "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?, ?, ?, ?, ?)",
};

pub(crate) const LEADS: Insert = Insert {
    head: "insert into leads (id, organization_id, first_name, last_name, name_key, email, phone, company_name,
                              company_key, title, industry, employee_count, country, source, estimated_value_minor,
                              currency, value_period, status, unqualified_reason, owner_id, score, mql_at,
                              qualified_at, converted_at, last_activity_at, first_activity_at, converted_contact_id,
                              converted_account_id, converted_deal_id, form_id, version, created_at, updated_at,
                              deleted_at, email_domain_kind, closed_at, external_id, tags, custom_fields)",
    row: "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?, null, ?, ?, ?, ?, ?)",
};

pub(crate) const DEALS: Insert = Insert {
    head: "insert into deals (id, organization_id, pipeline_id, stage_id, title, title_key, amount_minor, currency,
                              status, owner_id, account_id, source, probability, expected_close_date,
                              forecast_category, lost_reason, version, created_at, updated_at, closed_at,
                              stage_entered_at, last_activity_at, live_activity_at, last_event_at, deleted_at,
                              external_id, tags, custom_fields)",
    row: "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?, ?, ?, ?, ?, ?, null, ?, ?, ?)",
};

pub(crate) const DEAL_CONTACTS: Insert = Insert {
    head: "insert into deal_contacts (deal_id, contact_id, organization_id, buying_role, created_at)",
    row: "(?, ?, ?, ?, ?)",
};

pub(crate) const DEAL_EVENTS: Insert = Insert {
    head: "insert into deal_events (id, organization_id, deal_id, kind, at, pipeline_id, stage_id, from_stage_id,
                                    lost_reason, actor_user_id, actor_api_key_id, created_at, opens_stint, ends_at,
                                    next_kind, next_pipeline_id, next_stage_id, duration_ms)",
    row: "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
};

pub(crate) const ACTIVITIES: Insert = Insert {
    head: "insert into activities (id, organization_id, type, subject, note, due_at, done_at, owner_id, lead_id,
                                   contact_id, account_id, deal_id, overdue_notified_at, version, created_at,
                                   updated_at, deleted_at)",
    row: "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, null, 1, ?, ?, null)",
};

fn email(email: &Option<Email>) -> Value<'_> {
    Value::opt_str(email.as_ref().map(Email::as_str))
}

pub(crate) fn account_values<'a>(org: Uuid, rows: &'a [BulkAccount], out: &mut Vec<Value<'a>>) {
    for r in rows {
        let f = &r.fields;
        out.extend([
            Value::id(r.id),
            Value::id(org),
            Value::str(&f.name),
            Value::owned(search_key(&[Some(&f.name)])),
            Value::opt_str(f.domain.as_deref()),
            Value::opt_str(f.industry.as_deref()),
            Value::Int(f.employee_count),
            Value::id(f.owner_id),
            Value::time(r.created_at),
            Value::time(r.updated_at),
            Value::Time(r.last_activity_at),
            Value::opt_str(f.country.as_ref().map(|c| c.as_str())),
            Value::opt_str(f.external_id.as_deref()),
            Value::owned(crate::rows::tags_json(&f.tags)),
            Value::owned(crate::custom_fields::values_json(&f.custom_fields)),
        ]);
    }
}

pub(crate) fn contact_values<'a>(org: Uuid, rows: &'a [BulkContact], out: &mut Vec<Value<'a>>) {
    for r in rows {
        let f = &r.fields;
        out.extend([
            Value::id(r.id),
            Value::id(org),
            Value::opt_str(f.first_name.as_deref()),
            Value::opt_str(f.last_name.as_deref()),
            Value::owned(f.name_key()),
            email(&f.email),
            Value::opt_str(f.phone.as_deref()),
            Value::opt_str(f.title.as_deref()),
            Value::Uuid(f.account_id),
            Value::opt_str(f.buying_role.map(|b| b.as_str())),
            Value::id(f.owner_id),
            Value::time(r.created_at),
            Value::time(r.updated_at),
            Value::Time(r.last_activity_at),
            Value::opt_str(f.external_id.as_deref()),
            Value::owned(crate::rows::tags_json(&f.tags)),
            Value::owned(crate::custom_fields::values_json(&f.custom_fields)),
        ]);
    }
}

pub(crate) fn lead_values<'a>(org: Uuid, rows: &'a [BulkLead], out: &mut Vec<Value<'a>>) {
    for r in rows {
        let f = &r.fields;
        let p = &r.progress;
        out.extend([
            Value::id(r.id),
            Value::id(org),
            Value::opt_str(f.first_name.as_deref()),
            Value::opt_str(f.last_name.as_deref()),
            Value::owned(f.name_key()),
            email(&f.email),
            Value::opt_str(f.phone.as_deref()),
            Value::opt_str(f.company_name.as_deref()),
            Value::owned(f.company_key()),
            Value::opt_str(f.title.as_deref()),
            Value::opt_str(f.industry.as_deref()),
            Value::Int(f.employee_count),
            Value::opt_str(f.country.as_ref().map(|c| c.as_str())),
            Value::opt_str(f.source.as_deref()),
            Value::Int(f.estimated_value.map(Amount::minor)),
            Value::str(f.currency.as_str()),
            Value::opt_str(f.value_period.map(|v| v.as_str())),
            Value::str(p.status.as_str()),
            Value::opt_str(p.unqualified_reason.as_deref()),
            Value::id(f.owner_id),
            Value::Int(Some(i64::from(r.score.value()))),
            Value::Time(r.mql_at),
            Value::Time(p.qualified_at),
            Value::Time(p.converted_at),
            Value::Time(r.last_activity_at),
            Value::Time(r.first_activity_at),
            Value::Uuid(r.converted_contact_id),
            Value::Uuid(r.converted_account_id),
            Value::Uuid(r.converted_deal_id),
            Value::Uuid(r.form_id),
            Value::time(r.created_at),
            Value::time(r.updated_at),
            Value::opt_str(f.email.as_ref().and_then(|e| email_domain_kind(e.as_str()))),
            // A disqualified lead closed with its last change.
            Value::Time(match p.status {
                LeadStatus::Converted => p.converted_at,
                LeadStatus::Unqualified => Some(r.updated_at),
                _ => None,
            }),
            Value::opt_str(f.external_id.as_deref()),
            Value::owned(crate::rows::tags_json(&f.tags)),
            Value::owned(crate::custom_fields::values_json(&f.custom_fields)),
        ]);
    }
}

pub(crate) fn deal_values<'a>(org: Uuid, rows: &'a [BulkDeal], out: &mut Vec<Value<'a>>) {
    for r in rows {
        out.extend([
            Value::id(r.id),
            Value::id(org),
            Value::id(r.pipeline_id),
            Value::id(r.stage_id),
            Value::str(&r.title),
            Value::owned(search_key(&[Some(&r.title)])),
            Value::Int(Some(r.amount.minor())),
            Value::str(r.currency.as_str()),
            Value::str(r.status.as_str()),
            Value::id(r.owner_id),
            Value::Uuid(r.account_id),
            Value::opt_str(r.source.as_deref()),
            Value::Int(r.probability.map(|p| i64::from(p.value()))),
            Value::Date(r.expected_close_date),
            Value::str(r.forecast_category.as_str()),
            Value::opt_str(r.lost_reason.as_deref()),
            Value::time(r.created_at),
            Value::time(r.updated_at),
            Value::Time(r.closed_at),
            Value::time(r.stage_entered_at),
            Value::Time(r.last_activity_at),
            // Bulk activities are live: their latest instant is the live one too.
            Value::Time(r.last_activity_at),
            // Reports read a deal's own row for any instant after its last event.
            Value::Time(r.events.iter().map(|e| e.at).max()),
            Value::opt_str(r.external_id.as_deref()),
            Value::owned(crate::rows::tags_json(&r.tags)),
            Value::owned(crate::custom_fields::values_json(&r.custom_fields)),
        ]);
    }
}

pub(crate) fn deal_contact_values<'a>(org: Uuid, rows: &'a [BulkDeal], out: &mut Vec<Value<'a>>) {
    for r in rows {
        for link in &r.contacts {
            out.extend([
                Value::id(r.id),
                Value::id(link.contact_id),
                Value::id(org),
                Value::opt_str(link.buying_role.map(|b| b.as_str())),
                Value::time(r.created_at),
            ]);
        }
    }
}

/// Whole milliseconds from `start` to `end` (half a millisecond up), over
/// the microseconds both databases keep.
pub(crate) fn duration_ms(start: DateTime<Utc>, end: DateTime<Utc>) -> i64 {
    let micros = (end - start).num_microseconds().unwrap_or(i64::MAX - 500);
    (micros + 500).div_euclid(1000)
}

pub(crate) fn deal_event_values<'a>(org: Uuid, rows: &'a [BulkDeal], out: &mut Vec<Value<'a>>) {
    for r in rows {
        // In the log's order, each event with its successor (as
        // `insert_deal_event` links them) and whether the deal is open after it.
        let mut log: Vec<&BulkDealEvent> = r.events.iter().collect();
        log.sort_by_key(|e| (e.at, e.id));
        let mut open = false;
        for (i, e) in log.iter().enumerate() {
            open = match e.kind {
                EventKind::Created | EventKind::Reopened => true,
                EventKind::Won | EventKind::Lost => false,
                EventKind::Moved => open,
            };
            let opens_stint = open && !matches!(e.kind, EventKind::Won | EventKind::Lost);
            let next = log.get(i + 1);
            let (user, key, _) = e.actor.ids();
            out.extend([
                Value::id(e.id),
                Value::id(org),
                Value::id(r.id),
                Value::str(e.kind.as_str()),
                Value::time(e.at),
                Value::id(e.pipeline_id),
                Value::id(e.stage_id),
                Value::Uuid(e.from_stage_id),
                Value::opt_str(e.lost_reason.as_deref()),
                Value::Uuid(user),
                Value::Uuid(key),
                Value::time(e.created_at),
                Value::Int(Some(i64::from(opens_stint))),
                Value::Time(next.map(|n| n.at)),
                Value::opt_str(next.map(|n| n.kind.as_str())),
                Value::Uuid(next.map(|n| n.pipeline_id)),
                Value::Uuid(next.map(|n| n.stage_id)),
                Value::Int(next.map(|n| duration_ms(e.at, n.at))),
            ]);
        }
    }
}

pub(crate) fn activity_values<'a>(org: Uuid, rows: &'a [BulkActivity], out: &mut Vec<Value<'a>>) {
    for r in rows {
        let f = &r.fields;
        out.extend([
            Value::id(r.id),
            Value::id(org),
            Value::str(f.activity_type.as_str()),
            Value::str(&f.subject),
            Value::opt_str(f.note.as_deref()),
            Value::Time(f.due_at),
            Value::Time(f.done_at),
            Value::id(f.owner_id),
            Value::Uuid(f.links.lead_id),
            Value::Uuid(f.links.contact_id),
            Value::Uuid(f.links.account_id),
            Value::Uuid(f.links.deal_id),
            Value::time(r.created_at),
            Value::time(r.updated_at),
        ]);
    }
}

/// Implements [`BulkStore`] for a store type with `begin_write` and
/// `begin_bulk`, whose backend accepts at most `$max_params` bound values per
/// statement, and `$1`-style placeholders when `$numbered` (plain `?`
/// otherwise).
macro_rules! impl_bulk_store {
    ($store:ty, $max_params:expr, $numbered:expr) => {
        mod bulk_store {
            use super::*;
            use $crate::bulk::{self, Insert, Value};

            /// Writes `values` (whole rows of `insert`, in order) with as few
            /// statements as the parameter limit allows. Full statements share
            /// one text, so the connection prepares it once; the shorter last
            /// one is not kept.
            pub(crate) async fn insert_values(
                tx: &mut Tx,
                insert: &Insert,
                values: &[Value<'_>],
            ) -> $crate::Result<()> {
                let columns = insert.columns();
                let per_statement = insert.rows_per_statement($max_params);
                let full = insert.sql(per_statement, $numbered);
                for chunk in values.chunks(per_statement * columns) {
                    let rows = chunk.len() / columns;
                    let partial = (rows < per_statement).then(|| insert.sql(rows, $numbered));
                    let mut query = sqlx::query(partial.as_deref().unwrap_or(&full)).persistent(partial.is_none());
                    for value in chunk {
                        query = match value {
                            Value::Uuid(v) => query.bind(*v),
                            Value::Text(Some(std::borrow::Cow::Borrowed(v))) => query.bind(*v),
                            Value::Text(Some(std::borrow::Cow::Owned(v))) => query.bind(v.as_str()),
                            Value::Text(None) => query.bind(None::<&str>),
                            Value::Int(v) => query.bind(*v),
                            Value::Time(v) => query.bind(*v),
                            Value::Date(v) => query.bind(*v),
                        };
                    }
                    query.execute(&mut **tx).await.map_err(StoreError::unique(
                        "a row repeats a unique value (an id or an email)",
                    ))?;
                }
                Ok(())
            }

            #[async_trait::async_trait]
            impl $crate::bulk::BulkStore for $store {
                #[tracing::instrument(skip_all, fields(rows = rows.len()))]
                async fn insert_accounts(&self, org: Uuid, rows: &[bulk::BulkAccount]) -> $crate::Result<()> {
                    let mut values = Vec::new();
                    bulk::account_values(org, rows, &mut values);
                    let mut tx = self.begin_bulk().await?;
                    insert_values(&mut tx, &bulk::ACCOUNTS, &values).await?;
                    tx.commit().await?;
                    Ok(())
                }

                #[tracing::instrument(skip_all, fields(rows = rows.len()))]
                async fn insert_contacts(&self, org: Uuid, rows: &[bulk::BulkContact]) -> $crate::Result<()> {
                    let mut values = Vec::new();
                    bulk::contact_values(org, rows, &mut values);
                    let mut tx = self.begin_bulk().await?;
                    insert_values(&mut tx, &bulk::CONTACTS, &values).await?;
                    tx.commit().await?;
                    Ok(())
                }

                #[tracing::instrument(skip_all, fields(rows = rows.len()))]
                async fn insert_leads(&self, org: Uuid, rows: &[bulk::BulkLead]) -> $crate::Result<()> {
                    let mut values = Vec::new();
                    bulk::lead_values(org, rows, &mut values);
                    let mut tx = self.begin_bulk().await?;
                    insert_values(&mut tx, &bulk::LEADS, &values).await?;
                    tx.commit().await?;
                    Ok(())
                }

                #[tracing::instrument(skip_all, fields(rows = rows.len()))]
                async fn insert_deals(&self, org: Uuid, rows: &[bulk::BulkDeal]) -> $crate::Result<()> {
                    let mut tx = self.begin_bulk().await?;
                    let mut values = Vec::new();
                    bulk::deal_values(org, rows, &mut values);
                    insert_values(&mut tx, &bulk::DEALS, &values).await?;
                    values.clear();
                    bulk::deal_contact_values(org, rows, &mut values);
                    insert_values(&mut tx, &bulk::DEAL_CONTACTS, &values).await?;
                    values.clear();
                    bulk::deal_event_values(org, rows, &mut values);
                    insert_values(&mut tx, &bulk::DEAL_EVENTS, &values).await?;
                    tx.commit().await?;
                    Ok(())
                }

                #[tracing::instrument(skip_all, fields(rows = rows.len()))]
                async fn insert_activities(&self, org: Uuid, rows: &[bulk::BulkActivity]) -> $crate::Result<()> {
                    let mut values = Vec::new();
                    bulk::activity_values(org, rows, &mut values);
                    let mut tx = self.begin_bulk().await?;
                    insert_values(&mut tx, &bulk::ACTIVITIES, &values).await?;
                    tx.commit().await?;
                    Ok(())
                }

                #[tracing::instrument(skip_all)]
                async fn analyze(&self) -> $crate::Result<()> {
                    sqlx::query("analyze").execute(&self.pool).await?;
                    Ok(())
                }
            }
        }
    };
}

pub(crate) use impl_bulk_store;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_whole_milliseconds_half_up_over_microseconds() {
        use chrono::{Duration, TimeZone};
        let start = Utc.with_ymd_and_hms(2026, 3, 1, 10, 0, 0).unwrap();
        let after = |micros: i64| duration_ms(start, start + Duration::microseconds(micros));
        assert_eq!(after(0), 0);
        assert_eq!(after(1_499), 1);
        assert_eq!(after(1_500), 2);
        // Nanoseconds beyond the microsecond are not kept by PostgreSQL.
        assert_eq!(duration_ms(start, start + Duration::nanoseconds(1_499_999)), 1);
        // Eight days: 691,200,000 ms.
        assert_eq!(duration_ms(start, start + Duration::days(8)), 691_200_000);
    }

    #[test]
    fn placeholders_are_numbered_across_rows_and_constants_stay_literal() {
        let insert = Insert {
            head: "insert into t (a, b, v)",
            row: "(?, ?, 1)",
        };
        assert_eq!(insert.columns(), 2);
        assert_eq!(
            insert.sql(2, true),
            "insert into t (a, b, v) values ($1, $2, 1), ($3, $4, 1)"
        );
        assert_eq!(
            insert.sql(2, false),
            "insert into t (a, b, v) values (?, ?, 1), (?, ?, 1)"
        );
    }

    #[test]
    fn statements_stay_under_each_backends_parameter_limit() {
        for insert in [
            &ACCOUNTS,
            &CONTACTS,
            &LEADS,
            &DEALS,
            &DEAL_CONTACTS,
            &DEAL_EVENTS,
            &ACTIVITIES,
        ] {
            let listed = insert.head.split(',').count();
            let literals = insert.row.split(',').filter(|v| !v.contains('?')).count();
            assert_eq!(listed, insert.columns() + literals, "{}", insert.head);
            for limit in [32_766, 65_535] {
                let rows = insert.rows_per_statement(limit);
                assert!(rows * insert.columns() <= limit && (rows + 1) * insert.columns() > limit);
            }
        }
    }
}
