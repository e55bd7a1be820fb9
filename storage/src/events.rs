//! The organization's event stream: one event per change of a record, with
//! the record as the API returns it and the previous values of the fields
//! that changed, plus an audit row saying who changed which fields from what
//! to what. Both are written by [`WriteTx::commit`] in the transaction of the
//! change, so no change commits without its event and no event without its
//! change. Every write path gets its transaction from `begin_write`, so none
//! can bypass the stream.
//!
//! The store cannot know the API's representation of a record; the API hands
//! it a [`Render`] when it connects.

use std::{
    future::Future,
    ops::{Deref, DerefMut},
    sync::Arc,
};

use chrono::{DateTime, Utc};
use pipewise_domain::{deal::DealStatus, Account, Activity, Contact, Deal, Lead, Note};
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::Actor;

/// A record as it is after (or before) a change.
#[derive(Clone, Copy)]
pub enum Record<'a> {
    Lead(&'a Lead),
    Contact(&'a Contact),
    Account(&'a Account),
    Deal(&'a Deal),
    Activity(&'a Activity),
    Note(&'a Note),
}

impl Record<'_> {
    pub fn kind(&self) -> &'static str {
        match self {
            Record::Lead(_) => "lead",
            Record::Contact(_) => "contact",
            Record::Account(_) => "account",
            Record::Deal(_) => "deal",
            Record::Activity(_) => "activity",
            Record::Note(_) => "note",
        }
    }

    pub fn id(&self) -> Uuid {
        match self {
            Record::Lead(r) => r.id,
            Record::Contact(r) => r.id,
            Record::Account(r) => r.id,
            Record::Deal(r) => r.id,
            Record::Activity(r) => r.id,
            Record::Note(r) => r.id,
        }
    }
}

/// Turns a record into the JSON object the API returns for it.
pub trait Render: Send + Sync + 'static {
    fn render(&self, record: Record<'_>) -> Value;
}

/// What happened to a record, besides an ordinary change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Happening {
    /// Moved to the trash.
    Deleted,
    Restored,
    /// Gone for good; personal values in its earlier events and audit rows
    /// are replaced by [`ERASED`].
    Purged,
    /// Merged into another record of its kind (and trashed).
    Merged,
}

impl Happening {
    fn name(self) -> &'static str {
        match self {
            Happening::Deleted => "deleted",
            Happening::Restored => "restored",
            Happening::Purged => "purged",
            Happening::Merged => "merged",
        }
    }
}

/// What a purge leaves in place of a personal value.
pub const ERASED: &str = "[erased]";

/// The fields of each kind of record that hold personal data, erased from
/// its history when it is purged.
fn personal_fields(kind: &str) -> &'static [&'static str] {
    match kind {
        "lead" | "contact" => &["first_name", "last_name", "email", "phone", "title", "custom_fields"],
        "note" => &["body"],
        "activity" => &["subject", "note"],
        _ => &["custom_fields"],
    }
}

tokio::task_local! {
    static REQUEST_ID: String;
}

/// Runs `work` as part of the request `id`: the events it writes carry it.
pub async fn with_request_id<F: Future>(id: String, work: F) -> F::Output {
    REQUEST_ID.scope(id, work).await
}

/// The id of the request being served, if any.
pub fn request_id() -> Option<String> {
    REQUEST_ID.try_with(Clone::clone).ok()
}

/// An event waiting for its transaction to commit.
pub(crate) struct Pending {
    pub id: Uuid,
    pub org: Uuid,
    pub record_kind: &'static str,
    pub record_id: Uuid,
    /// What happened: `created`, a change's name, or a [`Happening`]'s.
    pub name: &'static str,
    pub data: Value,
    /// The changed fields' values before, for a change.
    pub previous: Option<Map<String, Value>>,
    pub actor: Actor,
    pub request_id: Option<String>,
    pub at: DateTime<Utc>,
}

impl Pending {
    pub fn event_type(&self) -> String {
        format!("{}.{}", self.record_kind, self.name)
    }

    /// Whether the record is new: no earlier event can order before it.
    pub fn is_creation(&self) -> bool {
        self.name == "created"
    }

    /// The audit row's changes: field → {from, to}.
    pub fn changes(&self) -> Option<String> {
        let previous = self.previous.as_ref()?;
        let changes: Map<String, Value> = previous
            .iter()
            .map(|(field, from)| {
                let to = self.data.get(field).cloned().unwrap_or(Value::Null);
                (field.clone(), serde_json::json!({ "from": from, "to": to }))
            })
            .collect();
        Some(Value::Object(changes).to_string())
    }
}

/// A transaction that collects the events of the changes made in it and
/// writes them when it commits (the commit is backend-specific: see
/// `impl_write_tx!`). It dereferences to the connection, like sqlx's own.
pub(crate) struct WriteTx<DB: sqlx::Database> {
    pub(crate) tx: sqlx::Transaction<'static, DB>,
    render: Arc<dyn Render>,
    pub(crate) pending: Vec<Pending>,
}

impl<DB: sqlx::Database> Deref for WriteTx<DB> {
    type Target = DB::Connection;

    fn deref(&self) -> &DB::Connection {
        &self.tx
    }
}

impl<DB: sqlx::Database> DerefMut for WriteTx<DB> {
    fn deref_mut(&mut self) -> &mut DB::Connection {
        &mut self.tx
    }
}

impl<DB: sqlx::Database> WriteTx<DB> {
    pub(crate) fn new(tx: sqlx::Transaction<'static, DB>, render: Arc<dyn Render>) -> Self {
        Self {
            tx,
            render,
            pending: Vec::new(),
        }
    }

    /// `record` was created.
    pub(crate) fn created(&mut self, org: Uuid, actor: Actor, record: Record<'_>, at: DateTime<Utc>) {
        let data = self.render.render(record);
        self.push(org, actor, record, "created", data, None, at);
    }

    /// `before` became `after`: an event named for the most telling part of
    /// the change (a lead's qualification, a deal's move), none when nothing
    /// the API shows has changed. Several changes of one record in one
    /// transaction (a field, then the score it moves) are one event.
    pub(crate) fn changed(
        &mut self,
        org: Uuid,
        actor: Actor,
        before: Record<'_>,
        after: Record<'_>,
        at: DateTime<Utc>,
    ) {
        let old = self.render.render(before);
        let new = self.render.render(after);
        let previous = changed_fields(&old, &new);
        if previous.is_empty() {
            return;
        }
        let name = change_name(before, after);
        let id = after.id();
        if let Some(p) = self.pending.iter_mut().rev().find(|p| p.record_id == id) {
            if p.is_creation() || p.previous.is_some() {
                if let Some(earlier) = p.previous.as_mut() {
                    for (field, value) in previous {
                        earlier.entry(field).or_insert(value);
                    }
                    earlier.retain(|field, value| new.get(field) != Some(value));
                }
                if rank(name) > rank(p.name) && !p.is_creation() {
                    p.name = name;
                }
                p.data = new;
                return;
            }
        }
        self.push(org, actor, after, name, new, Some(previous), at);
    }

    /// Something other than a change of fields happened to `record`.
    pub(crate) fn happened(&mut self, org: Uuid, actor: Actor, what: Happening, record: Record<'_>, at: DateTime<Utc>) {
        let data = self.render.render(record);
        self.push(org, actor, record, what.name(), data, None, at);
    }

    #[allow(clippy::too_many_arguments)]
    fn push(
        &mut self,
        org: Uuid,
        actor: Actor,
        record: Record<'_>,
        name: &'static str,
        data: Value,
        previous: Option<Map<String, Value>>,
        at: DateTime<Utc>,
    ) {
        self.pending.push(Pending {
            id: Uuid::now_v7(),
            org,
            record_kind: record.kind(),
            record_id: record.id(),
            name,
            data,
            previous,
            actor,
            request_id: request_id(),
            at,
        });
    }
}

/// How telling a change's name is: one event of several changes takes the
/// most telling.
fn rank(name: &str) -> u8 {
    match name {
        "converted" => 3,
        "qualified" | "won" | "lost" | "reopened" => 2,
        "mql" | "stage_changed" | "completed" => 1,
        _ => 0,
    }
}

/// The fields of `old` whose values differ in `new`, with their old values;
/// the version and update time, which every change moves, are not changes.
fn changed_fields(old: &Value, new: &Value) -> Map<String, Value> {
    let (Value::Object(old), Value::Object(new)) = (old, new) else {
        return Map::new();
    };
    old.iter()
        .filter(|(field, _)| !matches!(field.as_str(), "version" | "updated_at"))
        .filter(|(field, value)| new.get(*field) != Some(*value))
        .map(|(field, value)| (field.clone(), value.clone()))
        .collect()
}

/// The name of a change: the milestone it reaches, else `updated`.
fn change_name(before: Record<'_>, after: Record<'_>) -> &'static str {
    match (before, after) {
        (Record::Lead(b), Record::Lead(a)) => {
            if b.progress.converted_at.is_none() && a.progress.converted_at.is_some() {
                "converted"
            } else if b.progress.qualified_at.is_none() && a.progress.qualified_at.is_some() {
                "qualified"
            } else if b.mql_at.is_none() && a.mql_at.is_some() {
                "mql"
            } else {
                "updated"
            }
        }
        (Record::Deal(b), Record::Deal(a)) => match (b.status, a.status) {
            (DealStatus::Open, DealStatus::Won) => "won",
            (DealStatus::Open, DealStatus::Lost) => "lost",
            (DealStatus::Won | DealStatus::Lost, DealStatus::Open) => "reopened",
            _ if b.stage_id != a.stage_id => "stage_changed",
            _ => "updated",
        },
        (Record::Activity(b), Record::Activity(a)) if b.done_at.is_none() && a.done_at.is_some() => "completed",
        _ => "updated",
    }
}

/// `value` (an event's record or previous values, or an audit row's
/// changes, as JSON) with every personal field of a `kind` record replaced
/// by [`ERASED`]; `null`s stay, so the history still tells set from unset.
pub(crate) fn erase(kind: &str, value: &str) -> String {
    let Ok(Value::Object(mut object)) = serde_json::from_str::<Value>(value) else {
        return value.to_owned();
    };
    for field in personal_fields(kind) {
        if let Some(v) = object.get_mut(*field) {
            *v = erase_value(v);
        }
    }
    Value::Object(object).to_string()
}

fn erase_value(value: &Value) -> Value {
    match value {
        Value::Null => Value::Null,
        // An audit row's change: {from, to}.
        Value::Object(o) if o.contains_key("from") && o.contains_key("to") => {
            serde_json::json!({ "from": erase_value(&o["from"]), "to": erase_value(&o["to"]) })
        }
        _ => Value::String(ERASED.to_owned()),
    }
}

/// Writes the events collected in a [`WriteTx`] and commits it, for a
/// backend: `$tx_key` is the SQL of the writing transaction's ordering key,
/// `None` where writers take turns (seq alone is commit order).
macro_rules! impl_write_tx {
    ($db:ty, $store:ty, $tx_key:expr) => {
        impl $crate::events::WriteTx<$db> {
            /// Writes the collected events and their audit rows, then commits.
            pub(crate) async fn commit(mut self) -> $crate::Result<()> {
                let pending = std::mem::take(&mut self.pending);
                for chunk in pending.chunks(<$store>::MAX_PARAMS / 12) {
                    let mut qb = sqlx::QueryBuilder::<$db>::new(
                        "insert into events (id, organization_id, tx_key, type, record_kind, record_id, data, previous,
                                             actor_kind, actor_id, request_id, occurred_at) ",
                    );
                    qb.push_values(chunk, |mut row, e| {
                        let (actor_kind, actor_id) = e.actor.kind_and_id();
                        row.push_bind(e.id).push_bind(e.org);
                        let tx_key: Option<&str> = $tx_key;
                        match tx_key {
                            None => {
                                row.push("0");
                            }
                            Some(key) if e.is_creation() => {
                                row.push(key);
                            }
                            Some(key) => {
                                // A record's events keep their order: this one sorts after
                                // the record's latest, even if that one's transaction began later.
                                row.push(format!("(select max(k) from (select {key} as k union all select max(tx_key) from events where organization_id = "))
                                    .push_bind_unseparated(e.org)
                                    .push_unseparated(" and record_id = ")
                                    .push_bind_unseparated(e.record_id)
                                    .push_unseparated(") keys)");
                            }
                        }
                        row.push_bind(e.event_type())
                            .push_bind(e.record_kind)
                            .push_bind(e.record_id)
                            .push_bind(e.data.to_string())
                            .push_bind(e.previous.as_ref().map(|p| serde_json::Value::Object(p.clone()).to_string()))
                            .push_bind(actor_kind)
                            .push_bind(actor_id)
                            .push_bind(e.request_id.as_deref())
                            .push_bind(e.at);
                    });
                    qb.build().execute(&mut *self.tx).await?;

                    let mut qb = sqlx::QueryBuilder::<$db>::new(
                        "insert into audit_log (id, organization_id, actor_user_id, actor_api_key_id, actor_form_id, action,
                                                target_id, target_kind, changes, request_id, created_at) ",
                    );
                    qb.push_values(chunk, |mut row, e| {
                        let (user, key, form) = e.actor.ids();
                        row.push_bind(e.id)
                            .push_bind(e.org)
                            .push_bind(user)
                            .push_bind(key)
                            .push_bind(form)
                            .push_bind(e.event_type())
                            .push_bind(e.record_id)
                            .push_bind(e.record_kind)
                            .push_bind(e.changes())
                            .push_bind(e.request_id.as_deref())
                            .push_bind(e.at);
                    });
                    qb.build().execute(&mut *self.tx).await?;
                }
                self.tx.commit().await?;
                Ok(())
            }

            /// Replaces the personal values in every event and audit row of
            /// the record `id` (a `kind`) with markers: what a purge leaves.
            pub(crate) async fn erase_history(&mut self, org: Uuid, kind: &str, id: Uuid) -> $crate::Result<()> {
                let events: Vec<(i64, String, Option<String>)> = sqlx::query_as(
                    "select seq, data, previous from events where organization_id = $1 and record_id = $2",
                )
                .bind(org)
                .bind(id)
                .fetch_all(&mut *self.tx)
                .await?;
                for (seq, data, previous) in events {
                    sqlx::query("update events set data = $2, previous = $3 where seq = $1")
                        .bind(seq)
                        .bind($crate::events::erase(kind, &data))
                        .bind(previous.map(|p| $crate::events::erase(kind, &p)))
                        .execute(&mut *self.tx)
                        .await?;
                }
                let rows: Vec<(Uuid, String)> = sqlx::query_as(
                    "select id, changes from audit_log where organization_id = $1 and target_id = $2 and changes is not null",
                )
                .bind(org)
                .bind(id)
                .fetch_all(&mut *self.tx)
                .await?;
                for (row, changes) in rows {
                    sqlx::query("update audit_log set changes = $2 where id = $1")
                        .bind(row)
                        .bind($crate::events::erase(kind, &changes))
                        .execute(&mut *self.tx)
                        .await?;
                }
                Ok(())
            }
        }
    };
}

pub(crate) use impl_write_tx;

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_fields_that_differ_are_changes() {
        let old = json!({"name": "A", "domain": null, "version": 1, "updated_at": "x", "tags": ["a"]});
        let new = json!({"name": "B", "domain": null, "version": 2, "updated_at": "y", "tags": ["a"]});
        assert_eq!(Value::Object(changed_fields(&old, &new)), json!({"name": "A"}));
    }

    #[test]
    fn erasing_keeps_nulls_and_non_personal_fields() {
        let data =
            json!({"first_name": "Ada", "last_name": null, "status": "new", "email": {"from": "a@x.io", "to": null}});
        let erased: Value = serde_json::from_str(&erase("lead", &data.to_string())).unwrap();
        assert_eq!(
            erased,
            json!({"first_name": ERASED, "last_name": null, "status": "new", "email": {"from": ERASED, "to": null}})
        );
    }
}
