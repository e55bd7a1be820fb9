//! The event stream, read two ways: `GET /changes`, every change of a
//! record in commit order for partners to follow (kept 30 days), and
//! `GET /audit-log`, who changed what, for admins (kept for good).

use actix_web::{get, web};
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use chrono::{DateTime, Duration, Utc};
use pipewise_storage::{feed::FEED_RETENTION_DAYS, AuditFilter, AuditRow, FeedError, FeedQuery, Position, StoredEvent};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::{IntoParams, ToSchema};
use utoipa_actix_web::service_config::ServiceConfig;
use uuid::Uuid;

use crate::{
    error::ApiError,
    extract::{caller::Changes, Admin, Caller, Cursor},
    state::AppState,
};

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(list_changes).service(list_audit_log);
}

/// What happened. A change is one event named for its most telling part:
/// a change that qualifies a lead is `lead.qualified`, not also
/// `lead.updated`; subscribe to `lead.*` to hear every change of leads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum ChangeType {
    #[serde(rename = "lead.created")]
    LeadCreated,
    #[serde(rename = "lead.updated")]
    LeadUpdated,
    #[serde(rename = "lead.mql")]
    LeadMql,
    #[serde(rename = "lead.qualified")]
    LeadQualified,
    #[serde(rename = "lead.converted")]
    LeadConverted,
    #[serde(rename = "lead.merged")]
    LeadMerged,
    #[serde(rename = "lead.deleted")]
    LeadDeleted,
    #[serde(rename = "lead.restored")]
    LeadRestored,
    #[serde(rename = "lead.purged")]
    LeadPurged,
    #[serde(rename = "contact.created")]
    ContactCreated,
    #[serde(rename = "contact.updated")]
    ContactUpdated,
    #[serde(rename = "contact.merged")]
    ContactMerged,
    #[serde(rename = "contact.deleted")]
    ContactDeleted,
    #[serde(rename = "contact.restored")]
    ContactRestored,
    #[serde(rename = "contact.purged")]
    ContactPurged,
    #[serde(rename = "account.created")]
    AccountCreated,
    #[serde(rename = "account.updated")]
    AccountUpdated,
    #[serde(rename = "account.deleted")]
    AccountDeleted,
    #[serde(rename = "account.restored")]
    AccountRestored,
    #[serde(rename = "account.purged")]
    AccountPurged,
    #[serde(rename = "deal.created")]
    DealCreated,
    #[serde(rename = "deal.updated")]
    DealUpdated,
    #[serde(rename = "deal.stage_changed")]
    DealStageChanged,
    #[serde(rename = "deal.won")]
    DealWon,
    #[serde(rename = "deal.lost")]
    DealLost,
    #[serde(rename = "deal.reopened")]
    DealReopened,
    #[serde(rename = "deal.deleted")]
    DealDeleted,
    #[serde(rename = "deal.restored")]
    DealRestored,
    #[serde(rename = "deal.purged")]
    DealPurged,
    #[serde(rename = "activity.created")]
    ActivityCreated,
    #[serde(rename = "activity.updated")]
    ActivityUpdated,
    #[serde(rename = "activity.completed")]
    ActivityCompleted,
    #[serde(rename = "activity.deleted")]
    ActivityDeleted,
    #[serde(rename = "activity.restored")]
    ActivityRestored,
    #[serde(rename = "note.created")]
    NoteCreated,
    #[serde(rename = "note.updated")]
    NoteUpdated,
    #[serde(rename = "note.deleted")]
    NoteDeleted,
}

impl ChangeType {
    fn parse(name: &str) -> Option<Self> {
        serde_json::from_value(Value::String(name.to_owned())).ok()
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EventRecordKind {
    Lead,
    Contact,
    Account,
    Deal,
    Activity,
    Note,
}

const RECORD_KINDS: [&str; 6] = ["lead", "contact", "account", "deal", "activity", "note"];

#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ActorKind {
    User,
    ApiKey,
    /// A public form's submission; `id` is the form's.
    Form,
    /// Pipewise itself (a rescoring after a rule changed).
    System,
}

/// Who made a change.
#[derive(Serialize, ToSchema)]
pub struct ActorView {
    kind: ActorKind,
    /// The user, API key or form; `null` for `system`.
    id: Option<Uuid>,
}

/// One change of a record.
#[derive(Serialize, ToSchema)]
pub struct ChangeEventView {
    /// The event's id: the same event delivered twice has the same id.
    id: Uuid,
    /// Pass as `cursor` to read the events after this one.
    #[schema(example = "MTIzNDUuNjc4OQ")]
    cursor: String,
    #[serde(rename = "type")]
    event_type: ChangeType,
    occurred_at: DateTime<Utc>,
    record_kind: EventRecordKind,
    record_id: Uuid,
    /// The record as `GET /{record_kind}s/{record_id}` returned it after the
    /// change (a lead's `predicted_conversion` and `potential_median` are
    /// `null`: they are estimates over the organization, not the record).
    #[schema(value_type = Object)]
    data: Map<String, Value>,
    /// For a change, the previous values of the fields it changed; `null`
    /// for every other event.
    #[schema(value_type = Option<Object>)]
    previous: Option<Map<String, Value>>,
    actor: ActorView,
    /// The `X-Request-Id` of the request that made the change.
    request_id: Option<String>,
}

fn actor(kind: &str, id: Option<Uuid>) -> ActorView {
    let kind = match kind {
        "user" => ActorKind::User,
        "api_key" => ActorKind::ApiKey,
        "form" => ActorKind::Form,
        _ => ActorKind::System,
    };
    ActorView { kind, id }
}

fn object(json: &str) -> Result<Map<String, Value>, ApiError> {
    match serde_json::from_str(json) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(ApiError::internal(pipewise_storage::StoreError::Corrupt(
            "an event's JSON".to_owned(),
        ))),
    }
}

impl TryFrom<StoredEvent> for ChangeEventView {
    type Error = ApiError;

    fn try_from(e: StoredEvent) -> Result<Self, ApiError> {
        let corrupt = |what: &str| ApiError::internal(pipewise_storage::StoreError::Corrupt(format!("event {what}")));
        Ok(Self {
            id: e.id,
            cursor: encode_position(e.position()),
            event_type: ChangeType::parse(&e.event_type).ok_or_else(|| corrupt("type"))?,
            occurred_at: e.occurred_at,
            record_kind: serde_json::from_value(Value::String(e.record_kind.clone())).map_err(|_| corrupt("kind"))?,
            record_id: e.record_id,
            data: object(&e.data)?,
            previous: e.previous.as_deref().map(object).transpose()?,
            actor: actor(&e.actor_kind, e.actor_id),
            request_id: e.request_id,
        })
    }
}

/// A page of the change feed.
#[derive(Serialize, ToSchema)]
pub struct ChangeList {
    data: Vec<ChangeEventView>,
    /// Where to go on from: the last event's cursor, or the cursor given when
    /// there is nothing new yet. Poll with it; it never skips an event.
    next_cursor: String,
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ChangeQuery {
    /// `next_cursor` (or an event's `cursor`) of an earlier read; without
    /// one, the feed starts at its oldest event (30 days ago).
    #[param(max_length = 64)]
    cursor: Option<String>,
    /// Comma-separated event types (`deal.won`) or families (`deal.*`); all by default.
    #[param(example = "deal.*,lead.converted", max_length = 1000)]
    types: Option<String>,
    /// Page size, 1–1000.
    #[param(minimum = 1, maximum = 1000, default = 100)]
    limit: Option<u32>,
}

fn encode_position(p: Position) -> String {
    URL_SAFE_NO_PAD.encode(format!("{}.{}", p.tx_key, p.seq))
}

fn decode_position(raw: &str) -> Result<Position, ApiError> {
    let bad = || ApiError::BadRequest("cursor is not one this API returned.".to_owned());
    let text = String::from_utf8(URL_SAFE_NO_PAD.decode(raw).map_err(|_| bad())?).map_err(|_| bad())?;
    let (tx_key, seq) = text.split_once('.').ok_or_else(bad)?;
    let position = Position {
        tx_key: tx_key.parse().map_err(|_| bad())?,
        seq: seq.parse().map_err(|_| bad())?,
    };
    if position.tx_key < 0 || position.seq < 0 {
        return Err(bad());
    }
    Ok(position)
}

/// `types` as patterns the store matches: known types and families only.
fn parse_types(raw: Option<&str>) -> Result<Vec<String>, ApiError> {
    let Some(raw) = raw.filter(|r| !r.trim().is_empty()) else {
        return Ok(Vec::new());
    };
    raw.split(',')
        .map(str::trim)
        .map(|t| {
            let known = match t.strip_suffix(".*") {
                Some(kind) => RECORD_KINDS.contains(&kind),
                None => ChangeType::parse(t).is_some(),
            };
            known.then(|| t.to_owned()).ok_or_else(|| {
                ApiError::BadRequest(format!(
                    "types: {t:?} is neither an event type (such as deal.won) nor a family (such as deal.*)."
                ))
            })
        })
        .collect()
}

/// Read the change feed
///
/// Every change of the organization's leads, contacts, accounts, deals,
/// activities and notes, in commit order, from a cursor. Poll with
/// `next_cursor`: an event committed late by a slow transaction is never
/// skipped, since the feed only shows events once every transaction that
/// could still write an earlier one has ended. Events are kept 30 days; an
/// older cursor is 410. Managers and admins; API keys with `read`.
#[utoipa::path(
    tag = "integrations",
    params(ChangeQuery),
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, body = ChangeList),
        crate::problem::FeedErrors,
    )
)]
#[get("/changes")]
async fn list_changes(
    caller: Caller<Changes>,
    state: web::Data<AppState>,
    query: web::Query<ChangeQuery>,
) -> Result<web::Json<ChangeList>, ApiError> {
    let limit = match query.limit {
        None => 100,
        Some(n) if (1..=1000).contains(&n) => n,
        Some(_) => return Err(ApiError::BadRequest("limit must be between 1 and 1000.".to_owned())),
    };
    let after = query
        .cursor
        .as_deref()
        .map(decode_position)
        .transpose()?
        .unwrap_or(Position::START);
    let feed = FeedQuery {
        after,
        types: parse_types(query.types.as_deref())?,
        limit,
        since: Utc::now() - Duration::days(FEED_RETENTION_DAYS),
    };
    let events = match state.store.changes(caller.organization_id(), &feed).await? {
        Ok(events) => events,
        Err(FeedError::Expired) => {
            return Err(ApiError::Gone(
                "The cursor is older than the 30 days the change feed keeps; read again without a cursor, and \
                 reconcile from the records themselves."
                    .to_owned(),
            ))
        }
        Err(FeedError::Unknown) => return Err(ApiError::BadRequest("cursor is not one this API returned.".to_owned())),
    };
    let next = events.last().map_or(after, StoredEvent::position);
    Ok(web::Json(ChangeList {
        data: events
            .into_iter()
            .map(ChangeEventView::try_from)
            .collect::<Result<_, _>>()?,
        next_cursor: encode_position(next),
    }))
}

/// A field's value before and after a change.
#[derive(Serialize, ToSchema)]
pub struct FieldChangeView {
    #[schema(value_type = Object)]
    from: Value,
    #[schema(value_type = Object)]
    to: Value,
}

/// One entry of the audit trail.
#[derive(Serialize, ToSchema)]
pub struct AuditEntryView {
    id: Uuid,
    occurred_at: DateTime<Utc>,
    /// What was done: an event type of the change feed, or an
    /// administrative action (`api_key.created`, `user.updated`,
    /// `custom_field.deleted`, `import.leads`, …).
    #[schema(example = "deal.won")]
    action: String,
    /// The kind of record changed, for changes of records.
    #[schema(example = "deal")]
    target_kind: Option<String>,
    target_id: Option<Uuid>,
    actor: ActorView,
    /// For a change, each field it changed, from what to what. A purge
    /// leaves `"[erased]"` in place of the personal values.
    changes: Option<std::collections::BTreeMap<String, FieldChangeView>>,
    request_id: Option<String>,
}

impl TryFrom<AuditRow> for AuditEntryView {
    type Error = ApiError;

    fn try_from(r: AuditRow) -> Result<Self, ApiError> {
        let actor = match (r.actor_user_id, r.actor_api_key_id, r.actor_form_id) {
            (Some(id), _, _) => actor("user", Some(id)),
            (_, Some(id), _) => actor("api_key", Some(id)),
            (_, _, Some(id)) => actor("form", Some(id)),
            _ => actor("system", None),
        };
        let changes = r.changes.as_deref().map(object).transpose()?.map(|fields| {
            fields
                .into_iter()
                .map(|(field, change)| {
                    let from = change.get("from").cloned().unwrap_or(Value::Null);
                    let to = change.get("to").cloned().unwrap_or(Value::Null);
                    (field, FieldChangeView { from, to })
                })
                .collect()
        });
        Ok(Self {
            id: r.id,
            occurred_at: r.created_at,
            action: r.action,
            target_kind: r.target_kind,
            target_id: r.target_id,
            actor,
            changes,
            request_id: r.request_id,
        })
    }
}

#[derive(Serialize, ToSchema)]
pub struct AuditList {
    data: Vec<AuditEntryView>,
    /// Pass as `cursor` for the next (older) page; `null` on the last.
    next_cursor: Option<String>,
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Only entries about this record.
    record_id: Option<Uuid>,
    /// Only entries by this user, API key or form.
    actor_id: Option<Uuid>,
    /// Only this action (`deal.won`) or family (`deal.*`).
    #[param(example = "deal.*", max_length = 100)]
    action: Option<String>,
    /// Only entries at or after this instant.
    from: Option<DateTime<Utc>>,
    /// Only entries before this instant.
    to: Option<DateTime<Utc>>,
    /// Page size, 1–200.
    #[param(minimum = 1, maximum = 200, default = 50)]
    limit: Option<u32>,
    /// `next_cursor` of the previous page.
    #[param(max_length = 64)]
    cursor: Option<String>,
}

/// Read the audit log
///
/// Who changed what, newest first: every change of a record with the fields
/// it changed from what to what, and every administrative action (users,
/// API keys, custom fields, forms, imports). Append-only: Pipewise never
/// changes or deletes an entry, except that purging a record replaces the
/// personal values in its entries with `"[erased]"`. Admins only.
#[utoipa::path(
    tag = "integrations",
    params(AuditQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, body = AuditList),
        crate::problem::ListErrors,
    )
)]
#[get("/audit-log")]
async fn list_audit_log(
    caller: Caller<Admin>,
    state: web::Data<AppState>,
    query: web::Query<AuditQuery>,
) -> Result<web::Json<AuditList>, ApiError> {
    let limit = crate::extract::page::parse_limit(query.limit)?;
    if let Some(action) = &query.action {
        if action.is_empty() || action.len() > 100 {
            return Err(ApiError::BadRequest("action must be 1–100 characters.".to_owned()));
        }
    }
    let filter = AuditFilter {
        target_id: query.record_id,
        actor_id: query.actor_id,
        action: query.action.clone(),
        from: query.from,
        to: query.to,
        before: query.cursor.as_deref().map(Cursor::decode).transpose()?,
        limit: limit + 1,
    };
    let mut rows = state.store.audit_log(caller.organization_id(), &filter).await?;
    let next_cursor = if rows.len() > limit as usize {
        rows.truncate(limit as usize);
        rows.last().map(|r| Cursor::encode(r.id))
    } else {
        None
    };
    Ok(web::Json(AuditList {
        data: rows
            .into_iter()
            .map(AuditEntryView::try_from)
            .collect::<Result<_, _>>()?,
        next_cursor,
    }))
}
