//! Timelines: everything that happened to a lead, contact, account or deal,
//! newest first. An item's `at` is the event's time, an activity's
//! `done_at` (its `created_at` while not done), or a note's `created_at`.
//! A contact's and a deal's timeline include the activities and notes of the
//! lead converted into them. Reps see only their own activities in it.

use actix_web::{get, web};
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use chrono::{DateTime, Utc};
use pipewise_domain::RecordRef;
use pipewise_storage::{TimelineItem, TimelinePage};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;
use uuid::Uuid;

use crate::{
    error::ApiError,
    extract::{page::parse_limit, Caller, PageQuery, Read},
    routes::{activities::ActivityView, deals::DealEventView, links::ensure_visible, notes::NoteView},
    state::AppState,
};

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(lead_timeline)
        .service(contact_timeline)
        .service(account_timeline)
        .service(deal_timeline);
}

// Untagged: each variant writes its own `kind`, so the JSON is the flat
// `{kind, at, id, <kind>}` object that `kind` discriminates.
/// One item: `kind` says which of `event`, `activity` and `note` it carries.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
#[schema(discriminator(property_name = "kind", mapping(
    ("event" = "#/components/schemas/TimelineEventEntry"),
    ("activity" = "#/components/schemas/TimelineActivityEntry"),
    ("note" = "#/components/schemas/TimelineNoteEntry"),
)))]
pub enum TimelineEntry {
    Event(TimelineEventEntry),
    Activity(TimelineActivityEntry),
    Note(TimelineNoteEntry),
}

macro_rules! timeline_entry {
    ($entry:ident, $tag:ident::$variant:ident, $field:ident: $view:ty) => {
        #[derive(Serialize, ToSchema)]
        pub struct $entry {
            #[schema(inline)]
            kind: $tag,
            /// When it happened: what the timeline is ordered by.
            at: DateTime<Utc>,
            id: Uuid,
            $field: $view,
        }

        #[derive(Debug, Clone, Copy, Serialize, ToSchema)]
        #[serde(rename_all = "snake_case")]
        pub enum $tag {
            $variant,
        }
    };
}

timeline_entry!(TimelineEventEntry, EventTag::Event, event: DealEventView);
timeline_entry!(TimelineActivityEntry, ActivityTag::Activity, activity: ActivityView);
timeline_entry!(TimelineNoteEntry, NoteTag::Note, note: NoteView);

impl TimelineEntry {
    fn new(item: TimelineItem, now: DateTime<Utc>) -> Self {
        let (at, id) = (item.at(), item.id());
        match item {
            TimelineItem::Event(e) => Self::Event(TimelineEventEntry {
                kind: EventTag::Event,
                at,
                id,
                event: e.into(),
            }),
            TimelineItem::Activity(a) => Self::Activity(TimelineActivityEntry {
                kind: ActivityTag::Activity,
                at,
                id,
                activity: ActivityView::new(a, now),
            }),
            TimelineItem::Note(n) => Self::Note(TimelineNoteEntry {
                kind: NoteTag::Note,
                at,
                id,
                note: n.into(),
            }),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct Timeline {
    data: Vec<TimelineEntry>,
    /// Pass as `cursor` for the next (older) page; `null` on the last.
    next_cursor: Option<String>,
}

#[derive(Serialize, Deserialize)]
struct CursorData {
    a: DateTime<Utc>,
    i: Uuid,
}

fn decode_cursor(raw: &str) -> Result<(DateTime<Utc>, Uuid), ApiError> {
    let bad = || ApiError::BadRequest("cursor is not one this API returned.".to_owned());
    let bytes = URL_SAFE_NO_PAD.decode(raw).map_err(|_| bad())?;
    let data: CursorData = serde_json::from_slice(&bytes).map_err(|_| bad())?;
    Ok((data.a, data.i))
}

fn encode_cursor(last: &TimelineItem) -> String {
    let data = CursorData {
        a: last.at(),
        i: last.id(),
    };
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(&data).expect("a cursor serializes"))
}

async fn timeline(
    caller: &Caller<Read>,
    state: &AppState,
    record: RecordRef,
    query: PageQuery,
) -> Result<web::Json<Timeline>, ApiError> {
    let limit = parse_limit(query.limit)?;
    let after = query.cursor.as_deref().map(decode_cursor).transpose()?;
    ensure_visible(caller, state, record).await?;
    let page = TimelinePage {
        after,
        limit: limit + 1,
    };
    let mut items = state
        .store
        .timeline(caller.organization_id(), record, caller.visible_owner(), page)
        .await?;
    let next_cursor = if items.len() > limit as usize {
        items.truncate(limit as usize);
        items.last().map(encode_cursor)
    } else {
        None
    };
    let now = Utc::now();
    Ok(web::Json(Timeline {
        data: items.into_iter().map(|i| TimelineEntry::new(i, now)).collect(),
        next_cursor,
    }))
}

/// A lead's timeline
///
/// A lead's activities and notes, newest first. Reps: their own leads only.
#[utoipa::path(
    tag = "timeline",
    params(("id" = Uuid, Path, description = "The lead's id"), PageQuery),
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, body = Timeline),
        crate::problem::ReadOneErrors,
    )
)]
#[get("/leads/{id}/timeline")]
async fn lead_timeline(
    caller: Caller<Read>,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    query: web::Query<PageQuery>,
) -> Result<web::Json<Timeline>, ApiError> {
    timeline(&caller, &state, RecordRef::Lead(*id), query.into_inner()).await
}

/// A contact's timeline
///
/// A contact's activities and notes, and those of the lead converted into
/// it, newest first.
#[utoipa::path(
    tag = "timeline",
    params(("id" = Uuid, Path, description = "The contact's id"), PageQuery),
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, body = Timeline),
        crate::problem::ReadOneErrors,
    )
)]
#[get("/contacts/{id}/timeline")]
async fn contact_timeline(
    caller: Caller<Read>,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    query: web::Query<PageQuery>,
) -> Result<web::Json<Timeline>, ApiError> {
    timeline(&caller, &state, RecordRef::Contact(*id), query.into_inner()).await
}

/// An account's timeline
///
/// An account's activities and notes, newest first.
#[utoipa::path(
    tag = "timeline",
    params(("id" = Uuid, Path, description = "The account's id"), PageQuery),
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, body = Timeline),
        crate::problem::ReadOneErrors,
    )
)]
#[get("/accounts/{id}/timeline")]
async fn account_timeline(
    caller: Caller<Read>,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    query: web::Query<PageQuery>,
) -> Result<web::Json<Timeline>, ApiError> {
    timeline(&caller, &state, RecordRef::Account(*id), query.into_inner()).await
}

/// A deal's timeline
///
/// A deal's events (created, moved, won, lost, reopened), activities and
/// notes, and those of the lead converted into it, newest first. Reps:
/// their own deals only.
#[utoipa::path(
    tag = "timeline",
    params(("id" = Uuid, Path, description = "The deal's id"), PageQuery),
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, body = Timeline),
        crate::problem::ReadOneErrors,
    )
)]
#[get("/deals/{id}/timeline")]
async fn deal_timeline(
    caller: Caller<Read>,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    query: web::Query<PageQuery>,
) -> Result<web::Json<Timeline>, ApiError> {
    timeline(&caller, &state, RecordRef::Deal(*id), query.into_inner()).await
}
