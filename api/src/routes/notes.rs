//! Notes: text attached to exactly one lead, contact, account or deal,
//! written by the calling user (no author for API keys). Whoever may see the
//! record may read its notes; reps change only the notes they wrote.

use actix_web::{delete, get, http::header, http::StatusCode, patch, post, web, HttpResponse};
use chrono::{DateTime, Utc};
use pipewise_domain::{Links, Note, NoteBody, RecordRef};
use pipewise_storage::NoteFilter;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_actix_web::service_config::ServiceConfig;
use uuid::Uuid;
use validator::Validate;

use crate::{
    error::ApiError,
    extract::{if_match::etag, Caller, IfMatch, Json, ListOf, Read, RecordScope, Write},
    routes::{
        links::{check_links, may_see_note_record},
        records::{self, check_version},
    },
    state::AppState,
};

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(list_notes)
        .service(create_note)
        .service(get_note)
        .service(update_note)
        .service(delete_note);
}

/// A note on one record: exactly one of the four ids is set.
#[derive(Serialize, ToSchema)]
pub struct NoteView {
    pub id: Uuid,
    pub organization_id: Uuid,
    #[schema(example = "Asked for a quote for 50 seats.")]
    pub body: String,
    pub lead_id: Option<Uuid>,
    pub contact_id: Option<Uuid>,
    pub account_id: Option<Uuid>,
    pub deal_id: Option<Uuid>,
    /// The user who wrote it; `null` when written with an API key.
    pub author_user_id: Option<Uuid>,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<Note> for NoteView {
    fn from(n: Note) -> Self {
        let links = n.record.links();
        Self {
            id: n.id,
            organization_id: n.organization_id,
            body: n.body,
            lead_id: links.lead_id,
            contact_id: links.contact_id,
            account_id: links.account_id,
            deal_id: links.deal_id,
            author_user_id: n.author_user_id,
            version: n.version,
            created_at: n.created_at,
            updated_at: n.updated_at,
        }
    }
}

fn note_response(status: StatusCode, note: Note) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header(etag(note.version))
        .json(NoteView::from(note))
}

/// A new note: `body`, and exactly one of `lead_id`, `contact_id`,
/// `account_id` and `deal_id`, a live record the caller may see.
#[derive(Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateNote {
    /// 1–10,000 characters; line breaks are kept.
    #[schema(example = "Asked for a quote for 50 seats.", min_length = 1, max_length = 10000)]
    body: String,
    lead_id: Option<Uuid>,
    contact_id: Option<Uuid>,
    account_id: Option<Uuid>,
    deal_id: Option<Uuid>,
}

/// Only the body of a note changes.
#[derive(Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateNote {
    #[schema(min_length = 1, max_length = 10000)]
    body: String,
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct NoteListQuery {
    /// Page size, 1–200.
    #[param(minimum = 1, maximum = 200, default = 50)]
    limit: Option<u32>,
    /// `next_cursor` of the previous page.
    #[param(max_length = 64)]
    cursor: Option<String>,
    lead_id: Option<Uuid>,
    contact_id: Option<Uuid>,
    account_id: Option<Uuid>,
    deal_id: Option<Uuid>,
}

/// The note, if the caller may see its record (404 otherwise).
async fn visible_note<P>(caller: &Caller<P>, state: &AppState, id: Uuid) -> Result<Note, ApiError> {
    let org = caller.organization_id();
    let note = state.store.note(org, id).await?;
    if may_see_note_record(state, org, caller.visible_owner(), note.record).await? {
        Ok(note)
    } else {
        Err(ApiError::NotFound)
    }
}

/// Reps change only the notes they wrote; everyone else any note.
fn ensure_may_change<P>(caller: &Caller<P>, note: &Note) -> Result<(), ApiError> {
    match caller.record_scope() {
        RecordScope::OwnedBy(me) if note.author_user_id != Some(me) => {
            Err(ApiError::Forbidden("Reps may change only the notes they wrote."))
        }
        _ => Ok(()),
    }
}

/// List notes
///
/// List notes, oldest first, optionally of one record. Reps see the notes of
/// every contact and account and of the leads and deals they own.
#[utoipa::path(
    tag = "notes",
    params(NoteListQuery),
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, body = ListOf<NoteView>),
        crate::problem::ListErrors,
    )
)]
#[get("/notes")]
async fn list_notes(
    caller: Caller<Read>,
    state: web::Data<AppState>,
    query: web::Query<NoteListQuery>,
) -> Result<web::Json<ListOf<NoteView>>, ApiError> {
    let query = query.into_inner();
    let page = records::page(query.limit, query.cursor)?;
    let filter = NoteFilter {
        visible_to_owner: caller.visible_owner(),
        links: Links {
            lead_id: query.lead_id,
            contact_id: query.contact_id,
            account_id: query.account_id,
            deal_id: query.deal_id,
        },
    };
    let notes = state.store.notes(caller.organization_id(), &filter, page).await?;
    Ok(web::Json(ListOf::from_rows(notes, page, |n| n.id, NoteView::from)))
}

/// Create a note
///
/// Write a note on one record.
#[utoipa::path(
    tag = "notes",
    request_body = CreateNote,
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 201, body = NoteView, headers(("ETag" = String), ("Location" = String))),
        crate::problem::CreateErrors,
    )
)]
#[post("/notes")]
async fn create_note(
    caller: Caller<Write>,
    state: web::Data<AppState>,
    Json(body, mut fields): Json<CreateNote>,
) -> Result<HttpResponse, ApiError> {
    let org = caller.organization_id();
    let text = fields.check("body", NoteBody::parse(&body.body));
    let links = Links {
        lead_id: body.lead_id,
        contact_id: body.contact_id,
        account_id: body.account_id,
        deal_id: body.deal_id,
    };
    let record = match RecordRef::from_links(links) {
        Ok(record) => {
            check_links(&caller, &state, links, &mut fields).await?;
            Some(record)
        }
        Err(err) => {
            for field in ["lead_id", "contact_id", "account_id", "deal_id"] {
                fields.reject(field, "one_required", &err.to_string());
            }
            None
        }
    };
    let (record, text) = fields.finish(|| (record, text))?;
    let (Some(record), Some(text)) = (record, text) else {
        unreachable!("valid when no field was rejected")
    };
    let author = caller.user().map(|u| u.id);
    let note = state
        .store
        .create_note(org, record, &text, author, caller.actor(), Utc::now())
        .await?;
    let location = format!("/api/v1/notes/{}", note.id);
    let mut response = note_response(StatusCode::CREATED, note);
    response
        .headers_mut()
        .insert(header::LOCATION, location.parse().expect("a path is a header value"));
    Ok(response)
}

/// Get a note
///
/// Get a note.
#[utoipa::path(
    tag = "notes",
    params(("id" = Uuid, Path, description = "The note's id")),
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, body = NoteView, headers(("ETag" = String))),
        crate::problem::ReadOneErrors,
    )
)]
#[get("/notes/{id}")]
async fn get_note(
    caller: Caller<Read>,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let note = visible_note(&caller, &state, *id).await?;
    Ok(note_response(StatusCode::OK, note))
}

/// Update a note
///
/// Change a note's body. Reps change only the notes they wrote.
#[utoipa::path(
    tag = "notes",
    params(
        ("id" = Uuid, Path, description = "The note's id"),
        ("If-Match" = Option<String>, Header, description = "The ETag last seen; 412 if stale"),
    ),
    request_body = UpdateNote,
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, body = NoteView, headers(("ETag" = String))),
        crate::problem::UpdateErrors,
    )
)]
#[patch("/notes/{id}")]
async fn update_note(
    caller: Caller<Write>,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    if_match: IfMatch,
    Json(body, fields): Json<UpdateNote>,
) -> Result<HttpResponse, ApiError> {
    fields.finish(|| ())?;
    let text = NoteBody::parse(&body.body).map_err(|e| ApiError::invalid("body", "invalid", e))?;
    // A note never moves to another record, so whether the caller may see
    // its record holds under the lock as well.
    visible_note(&caller, &state, *id).await?;
    let check = records::edit(|current: &Note| {
        ensure_may_change(&caller, current)?;
        check_version(&if_match, current.version)
    });
    let note = state
        .store
        .update_note(caller.organization_id(), *id, &check, &text, caller.actor(), Utc::now())
        .await?;
    Ok(note_response(StatusCode::OK, note))
}

/// Trash a note
///
/// Delete a note (it goes to the trash, out of lists and timelines).
/// Reps delete only the notes they wrote.
#[utoipa::path(
    tag = "notes",
    params(
        ("id" = Uuid, Path, description = "The note's id"),
        ("If-Match" = Option<String>, Header, description = "The ETag last seen; 412 if stale"),
    ),
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 204, description = "Deleted"),
        crate::problem::DeleteErrors,
    )
)]
#[delete("/notes/{id}")]
async fn delete_note(
    caller: Caller<Write>,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    if_match: IfMatch,
) -> Result<HttpResponse, ApiError> {
    // A note never moves to another record, so whether the caller may see
    // its record holds under the lock as well.
    visible_note(&caller, &state, *id).await?;
    let check = records::edit(|current: &Note| {
        ensure_may_change(&caller, current)?;
        check_version(&if_match, current.version)
    });
    state
        .store
        .trash_note(caller.organization_id(), *id, &check, caller.actor(), Utc::now())
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
