//! Activities: calls, emails, meetings and tasks, linked to at most one
//! lead, contact, account and deal each. Reps see and change only the
//! activities they own (another rep's is 404). `status` is derived from
//! `due_at`, `done_at` and the clock, in responses and in list filters alike.
//!
//! Creating, completing or re-linking an activity moves the linked records'
//! `last_activity_at` forward to the latest of the activity's `created_at`
//! and `done_at`, and rescores a linked lead, in the same transaction.

use actix_web::{delete, get, http::header, http::StatusCode, patch, post, web, HttpResponse};
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use chrono::{DateTime, Utc};
use pipewise_domain::{text::optional_text, Activity, ActivityStatus, ActivityType, Links, NoteBody};
use pipewise_storage::{ActivityFields, ActivityFilter, ActivityPage, ActivitySort};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_actix_web::service_config::ServiceConfig;
use uuid::Uuid;
use validator::Validate;

use crate::{
    error::ApiError,
    extract::{if_match::etag, page::parse_limit, Caller, IfMatch, Json, Read, Write},
    fields::Fields,
    nullable,
    routes::{
        deals::same_names,
        links::check_links,
        records::{self, check_owner, check_version, owner_is_active},
    },
    state::AppState,
};

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(list_activities)
        .service(create_activity)
        .service(get_activity)
        .service(update_activity)
        .service(delete_activity)
        .service(restore_activity)
        .service(complete_activity);
}

pub const SUBJECT_MAX: usize = 200;

#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ActivityTypeName {
    Call,
    Email,
    Meeting,
    Task,
}

/// `done` once `done_at` is set; `overdue` while open past `due_at`; else `open`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ActivityStatusName {
    Open,
    Done,
    Overdue,
}

same_names!(ActivityTypeName <=> ActivityType { Call, Email, Meeting, Task });
same_names!(ActivityStatusName <=> ActivityStatus { Open, Done, Overdue });

/// A call, email, meeting or task.
#[derive(Serialize, ToSchema)]
pub struct ActivityView {
    pub id: Uuid,
    pub organization_id: Uuid,
    #[serde(rename = "type")]
    #[schema(rename = "type")]
    pub activity_type: ActivityTypeName,
    #[schema(example = "Discovery call")]
    pub subject: String,
    pub note: Option<String>,
    pub due_at: Option<DateTime<Utc>>,
    pub done_at: Option<DateTime<Utc>>,
    /// Derived from `due_at`, `done_at` and the time of the response.
    pub status: ActivityStatusName,
    pub owner_id: Uuid,
    pub lead_id: Option<Uuid>,
    pub contact_id: Option<Uuid>,
    pub account_id: Option<Uuid>,
    pub deal_id: Option<Uuid>,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Set while the activity is in the trash.
    pub deleted_at: Option<DateTime<Utc>>,
}

impl ActivityView {
    pub fn new(a: Activity, now: DateTime<Utc>) -> Self {
        Self {
            status: a.status(now).into(),
            id: a.id,
            organization_id: a.organization_id,
            activity_type: a.activity_type.into(),
            subject: a.subject,
            note: a.note,
            due_at: a.due_at,
            done_at: a.done_at,
            owner_id: a.owner_id,
            lead_id: a.links.lead_id,
            contact_id: a.links.contact_id,
            account_id: a.links.account_id,
            deal_id: a.links.deal_id,
            version: a.version,
            created_at: a.created_at,
            updated_at: a.updated_at,
            deleted_at: a.deleted_at,
        }
    }
}

fn activity_response(status: StatusCode, activity: Activity) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header(etag(activity.version))
        .json(ActivityView::new(activity, Utc::now()))
}

#[derive(Serialize, ToSchema)]
pub struct ActivityList {
    data: Vec<ActivityView>,
    /// Pass as `cursor` (with the same `sort`) for the next page; `null` on the last.
    next_cursor: Option<String>,
}

/// A new activity. A call already made is logged with `done_at`.
#[derive(Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateActivity {
    #[serde(rename = "type")]
    #[schema(rename = "type")]
    activity_type: ActivityTypeName,
    #[schema(example = "Discovery call", min_length = 1, max_length = 200)]
    subject: String,
    /// Multi-line text.
    #[schema(max_length = 10000)]
    note: Option<String>,
    due_at: Option<DateTime<Utc>>,
    /// When it was done; not in the future.
    done_at: Option<DateTime<Utc>>,
    /// An active user of the organization; the caller if omitted (required
    /// with an API key). Reps may name only themselves. Someone else is
    /// notified of the assignment.
    owner_id: Option<Uuid>,
    /// Each link must be a live record of the organization that the caller may see.
    lead_id: Option<Uuid>,
    contact_id: Option<Uuid>,
    account_id: Option<Uuid>,
    deal_id: Option<Uuid>,
    /// Backdating (admins and `import` keys only): when the activity was really created.
    created_at: Option<DateTime<Utc>>,
}

/// The fields to change; `null` clears a field that may be empty
/// (`done_at: null` reopens the activity).
#[derive(Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateActivity {
    #[serde(default, rename = "type")]
    #[schema(rename = "type")]
    activity_type: Option<ActivityTypeName>,
    #[schema(min_length = 1, max_length = 200)]
    subject: Option<String>,
    #[serde(default, deserialize_with = "nullable::double_option")]
    #[schema(value_type = Option<String>, nullable, max_length = 10000)]
    note: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable::double_option")]
    #[schema(value_type = Option<DateTime<Utc>>, nullable)]
    due_at: Option<Option<DateTime<Utc>>>,
    #[serde(default, deserialize_with = "nullable::double_option")]
    #[schema(value_type = Option<DateTime<Utc>>, nullable)]
    done_at: Option<Option<DateTime<Utc>>>,
    /// Reps may name only themselves.
    owner_id: Option<Uuid>,
    #[serde(default, deserialize_with = "nullable::double_option")]
    #[schema(value_type = Option<Uuid>, nullable)]
    lead_id: Option<Option<Uuid>>,
    #[serde(default, deserialize_with = "nullable::double_option")]
    #[schema(value_type = Option<Uuid>, nullable)]
    contact_id: Option<Option<Uuid>>,
    #[serde(default, deserialize_with = "nullable::double_option")]
    #[schema(value_type = Option<Uuid>, nullable)]
    account_id: Option<Option<Uuid>>,
    #[serde(default, deserialize_with = "nullable::double_option")]
    #[schema(value_type = Option<Uuid>, nullable)]
    deal_id: Option<Option<Uuid>>,
}

#[derive(Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CompleteActivity {
    /// When it was done (admins and `import` keys only): not in the future,
    /// nor before the activity was created. Now if omitted.
    at: Option<DateTime<Utc>>,
}

crate::openapi::doc_schema!(
    /// The activity list's `sort` values, as `parse_sort` reads them.
    ActivitySortValues = crate::openapi::sort_values(
        &["created_at", "due_at"],
        "A field to sort by, ascending, or with `-` descending",
    )
);

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ActivityListQuery {
    /// Page size, 1–200.
    #[param(minimum = 1, maximum = 200, default = 50)]
    limit: Option<u32>,
    /// `next_cursor` of the previous page.
    #[param(max_length = 256)]
    cursor: Option<String>,
    /// `created_at` (the default), `-created_at`, `due_at` or `-due_at`;
    /// activities without a due date come last in either `due_at` order.
    #[param(value_type = Option<ActivitySortValues>, inline, example = "due_at")]
    sort: Option<String>,
    owner_id: Option<Uuid>,
    #[serde(rename = "type")]
    #[param(rename = "type", inline)]
    activity_type: Option<ActivityTypeName>,
    lead_id: Option<Uuid>,
    contact_id: Option<Uuid>,
    account_id: Option<Uuid>,
    deal_id: Option<Uuid>,
    /// Computed against the time of the request.
    #[param(inline)]
    status: Option<ActivityStatusName>,
    /// Due at or after this instant.
    due_from: Option<DateTime<Utc>>,
    /// Due before this instant.
    due_to: Option<DateTime<Utc>>,
}

/// A subject: 1–200 characters, one line.
fn subject(raw: &str) -> Result<String, &'static str> {
    match optional_text(raw, SUBJECT_MAX) {
        Ok(Some(subject)) => Ok(subject),
        Ok(None) => Err("must not be blank"),
        Err(_) => Err("must be at most 200 characters, without control characters"),
    }
}

/// A note: multi-line, at most 10,000 characters; blank is absent.
fn note(raw: &str) -> Result<Option<String>, pipewise_domain::activity::NoteBodyError> {
    if raw.trim().is_empty() {
        Ok(None)
    } else {
        NoteBody::parse(raw).map(|b| Some(b.into_inner()))
    }
}

fn reject_future(fields: &mut Fields, name: &str, at: Option<DateTime<Utc>>, now: DateTime<Utc>) {
    if at.is_some_and(|at| at > now) {
        fields.reject(name, "in_the_future", "must not be in the future");
    }
}

/// The activity, if the caller may see it: reps only their own (404 otherwise).
async fn visible_activity<P>(
    caller: &Caller<P>,
    state: &AppState,
    id: Uuid,
    trashed: bool,
) -> Result<Activity, ApiError> {
    let org = caller.organization_id();
    let activity = if trashed {
        state.store.activity_incl_trashed(org, id).await?
    } else {
        state.store.activity(org, id).await?
    };
    match caller.visible_owner() {
        Some(me) if me != activity.owner_id => Err(ApiError::NotFound),
        _ => Ok(activity),
    }
}

/// List activities
///
/// List activities. Reps see only the ones they own. Unknown filters or
/// sort fields are 400.
#[utoipa::path(
    tag = "activities",
    params(ActivityListQuery),
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, body = ActivityList),
        crate::problem::ListErrors,
    )
)]
#[get("/activities")]
async fn list_activities(
    caller: Caller<Read>,
    state: web::Data<AppState>,
    query: web::Query<ActivityListQuery>,
) -> Result<web::Json<ActivityList>, ApiError> {
    let query = query.into_inner();
    let now = Utc::now();
    let limit = parse_limit(query.limit)?;
    let sort = parse_sort(query.sort.as_deref())?;
    let after = query.cursor.as_deref().map(|c| decode_cursor(c, sort)).transpose()?;
    let filter = ActivityFilter {
        visible_to_owner: caller.visible_owner(),
        owner_id: query.owner_id,
        activity_type: query.activity_type.map(Into::into),
        links: Links {
            lead_id: query.lead_id,
            contact_id: query.contact_id,
            account_id: query.account_id,
            deal_id: query.deal_id,
        },
        status: query.status.map(Into::into),
        due_from: query.due_from,
        due_to: query.due_to,
    };
    let page = ActivityPage {
        sort,
        after,
        limit: limit + 1,
    };
    let mut rows = state
        .store
        .activities(caller.organization_id(), &filter, &page, now)
        .await?;
    let next_cursor = if rows.len() > limit as usize {
        rows.truncate(limit as usize);
        rows.last().map(|a| encode_cursor(sort, a))
    } else {
        None
    };
    Ok(web::Json(ActivityList {
        data: rows.into_iter().map(|a| ActivityView::new(a, now)).collect(),
        next_cursor,
    }))
}

/// Create an activity
///
/// Create an activity. Its linked records' `last_activity_at` moves forward
/// and a linked lead is rescored; an owner other than the caller is notified.
#[utoipa::path(
    tag = "activities",
    request_body = CreateActivity,
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 201, body = ActivityView, headers(("ETag" = String), ("Location" = String))),
        crate::problem::CreateErrors,
    )
)]
#[post("/activities")]
async fn create_activity(
    caller: Caller<Write>,
    state: web::Data<AppState>,
    Json(body, mut fields): Json<CreateActivity>,
) -> Result<HttpResponse, ApiError> {
    let org = caller.organization_id();
    let now = Utc::now();
    let owner = caller.new_record_owner(body.owner_id)?;
    if body.created_at.is_some() {
        caller.ensure_may_backdate()?;
    }
    let subject = fields.check("subject", subject(&body.subject));
    let note = fields.check_opt("note", body.note.as_deref(), note).flatten();
    reject_future(&mut fields, "created_at", body.created_at, now);
    reject_future(&mut fields, "done_at", body.done_at, now);
    let links = Links {
        lead_id: body.lead_id,
        contact_id: body.contact_id,
        account_id: body.account_id,
        deal_id: body.deal_id,
    };
    check_links(&caller, &state, links, &mut fields).await?;
    check_owner(&state, org, owner, &mut fields).await?;
    let new = fields.finish(|| ActivityFields {
        activity_type: body.activity_type.into(),
        subject: subject.expect("valid when no field was rejected"),
        note,
        due_at: body.due_at,
        done_at: body.done_at,
        owner_id: owner,
        links,
    })?;
    let activity = state
        .store
        .create_activity(org, &new, body.created_at.unwrap_or(now), caller.actor(), now)
        .await?;
    let location = format!("/api/v1/activities/{}", activity.id);
    let mut response = activity_response(StatusCode::CREATED, activity);
    response
        .headers_mut()
        .insert(header::LOCATION, location.parse().expect("a path is a header value"));
    Ok(response)
}

/// Get an activity
///
/// Get an activity. Reps get 404 for activities they do not own.
#[utoipa::path(
    tag = "activities",
    params(("id" = Uuid, Path, description = "The activity's id")),
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, body = ActivityView, headers(("ETag" = String))),
        crate::problem::ReadOneErrors,
    )
)]
#[get("/activities/{id}")]
async fn get_activity(
    caller: Caller<Read>,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let activity = visible_activity(&caller, &state, *id, false).await?;
    Ok(activity_response(StatusCode::OK, activity))
}

/// Update an activity
///
/// Change an activity. Setting `done_at` or links moves the linked records'
/// `last_activity_at` forward; giving it to someone else notifies them
/// (reps cannot give their activities away).
#[utoipa::path(
    tag = "activities",
    params(
        ("id" = Uuid, Path, description = "The activity's id"),
        ("If-Match" = Option<String>, Header, description = "The ETag last seen; 412 if stale"),
    ),
    request_body = UpdateActivity,
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, body = ActivityView, headers(("ETag" = String))),
        crate::problem::UpdateErrors,
    )
)]
#[patch("/activities/{id}")]
async fn update_activity(
    caller: Caller<Write>,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    if_match: IfMatch,
    Json(body, pending): Json<UpdateActivity>,
) -> Result<HttpResponse, ApiError> {
    let org = caller.organization_id();
    // What the PATCH links to and whom it gives the activity must be checked
    // in the database, which an `Edit` cannot read: it is checked first, against
    // the activity as read now (a link it keeps is no error).
    let before = visible_activity(&caller, &state, *id, false).await?;
    let mut link_fields = Fields::default();
    let (links, _) = patched_links(&before, &body);
    check_links(&caller, &state, links, &mut link_fields).await?;
    let owner_active = match body.owner_id {
        Some(owner) => owner_is_active(&state, org, owner).await?,
        None => true,
    };
    let edit = records::edit(|current: &Activity| {
        ensure_visible_activity(&caller, current)?;
        check_version(&if_match, current.version)?;
        changed(&caller, current, &body, &pending, &link_fields, owner_active)
    });
    let activity = state
        .store
        .update_activity(org, *id, &edit, caller.actor(), Utc::now())
        .await?;
    Ok(activity_response(StatusCode::OK, activity))
}

/// The links a PATCH sets that differ from `current`'s, and all links after it.
fn patched_links(current: &Activity, body: &UpdateActivity) -> (Links, Links) {
    let mut new_links = Links::default();
    let mut next = current.links;
    let patch_link = |given: Option<Option<Uuid>>, slot: &mut Option<Uuid>, new: &mut Option<Uuid>| {
        if let Some(value) = given {
            if value != *slot {
                *new = value;
            }
            *slot = value;
        }
    };
    patch_link(body.lead_id, &mut next.lead_id, &mut new_links.lead_id);
    patch_link(body.contact_id, &mut next.contact_id, &mut new_links.contact_id);
    patch_link(body.account_id, &mut next.account_id, &mut new_links.account_id);
    patch_link(body.deal_id, &mut next.deal_id, &mut new_links.deal_id);
    (new_links, next)
}

/// 404 for a rep's view of another rep's activity.
fn ensure_visible_activity<P>(caller: &Caller<P>, activity: &Activity) -> Result<(), ApiError> {
    match caller.visible_owner() {
        Some(me) if me != activity.owner_id => Err(ApiError::NotFound),
        _ => Ok(()),
    }
}

/// `current` with the changes of `body` applied, if they are valid.
/// `link_fields` holds the 422s of the links checked beforehand;
/// `owner_active` says whether `body.owner_id`, if any, is an active user.
fn changed(
    caller: &Caller<Write>,
    current: &Activity,
    body: &UpdateActivity,
    pending: &Fields,
    link_fields: &Fields,
    owner_active: bool,
) -> Result<ActivityFields, ApiError> {
    let now = Utc::now();
    let mut fields = pending.clone();
    let mut next = ActivityFields::of(current);
    if let Some(t) = body.activity_type {
        next.activity_type = t.into();
    }
    if let Some(raw) = &body.subject {
        if let Some(s) = fields.check("subject", subject(raw)) {
            next.subject = s;
        }
    }
    match &body.note {
        None => {}
        Some(None) => next.note = None,
        Some(Some(raw)) => {
            if let Some(n) = fields.check("note", note(raw)) {
                next.note = n;
            }
        }
    }
    if let Some(due) = body.due_at {
        next.due_at = due;
    }
    if let Some(done) = body.done_at {
        reject_future(&mut fields, "done_at", done, now);
        next.done_at = done;
    }
    // Only links that change are checked: keeping a link to a record that
    // has since gone to the trash is no error.
    let (new_links, links) = patched_links(current, body);
    next.links = links;
    for (field, link) in [
        ("lead_id", new_links.lead_id),
        ("contact_id", new_links.contact_id),
        ("account_id", new_links.account_id),
        ("deal_id", new_links.deal_id),
    ] {
        if link.is_some() {
            fields.copy_rejection(link_fields, field);
        }
    }
    if let Some(owner) = body.owner_id.filter(|o| *o != current.owner_id) {
        caller.ensure_can_change(owner)?;
        if !owner_active {
            records::reject_owner(&mut fields);
        }
        next.owner_id = owner;
    }
    fields.finish(|| next)
}

/// Complete an activity
///
/// Complete an open activity: `done_at` becomes `at`, or now. 409 if it is
/// already done. Its linked records' `last_activity_at` moves forward and a
/// linked lead is rescored.
#[utoipa::path(
    tag = "activities",
    params(
        ("id" = Uuid, Path, description = "The activity's id"),
        ("If-Match" = Option<String>, Header, description = "The ETag last seen; 412 if stale"),
    ),
    request_body = CompleteActivity,
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, body = ActivityView, headers(("ETag" = String))),
        crate::problem::UpdateErrors,
    )
)]
#[post("/activities/{id}/complete")]
async fn complete_activity(
    caller: Caller<Write>,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    if_match: IfMatch,
    Json(body, pending): Json<CompleteActivity>,
) -> Result<HttpResponse, ApiError> {
    if body.at.is_some() {
        caller.ensure_may_backdate()?;
    }
    let (org, at, now) = (caller.organization_id(), body.at, Utc::now());
    let edit = records::edit(|current: &Activity| {
        ensure_visible_activity(&caller, current)?;
        check_version(&if_match, current.version)?;
        if current.done_at.is_some() {
            return Err(ApiError::Conflict("The activity is already done.".to_owned()));
        }
        let mut fields = pending.clone();
        reject_future(&mut fields, "at", at, now);
        if at.is_some_and(|at| at < current.created_at) {
            fields.reject("at", "before_creation", "must not be before the activity was created");
        }
        let mut next = fields.finish(|| ActivityFields::of(current))?;
        next.done_at = Some(at.unwrap_or(now));
        Ok(next)
    });
    let activity = state
        .store
        .update_activity(org, *id, &edit, caller.actor(), now)
        .await?;
    Ok(activity_response(StatusCode::OK, activity))
}

/// Trash an activity
///
/// Move an activity to the trash (`POST …/restore` brings it back). A
/// linked lead is rescored; `last_activity_at` of linked records stays.
#[utoipa::path(
    tag = "activities",
    params(
        ("id" = Uuid, Path, description = "The activity's id"),
        ("If-Match" = Option<String>, Header, description = "The ETag last seen; 412 if stale"),
    ),
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 204, description = "Trashed"),
        crate::problem::DeleteErrors,
    )
)]
#[delete("/activities/{id}")]
async fn delete_activity(
    caller: Caller<Write>,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    if_match: IfMatch,
) -> Result<HttpResponse, ApiError> {
    let check = records::edit(|current: &Activity| {
        ensure_visible_activity(&caller, current)?;
        check_version(&if_match, current.version)
    });
    state
        .store
        .trash_activity(caller.organization_id(), *id, &check, caller.actor(), Utc::now())
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Restore an activity
///
/// Bring an activity back from the trash. Restoring one that is not in the
/// trash changes nothing.
#[utoipa::path(
    tag = "activities",
    params(("id" = Uuid, Path, description = "The activity's id")),
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, body = ActivityView, headers(("ETag" = String))),
        crate::problem::CommandErrors,
    )
)]
#[post("/activities/{id}/restore")]
async fn restore_activity(
    caller: Caller<Write>,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let check = records::edit(|current: &Activity| ensure_visible_activity(&caller, current));
    let activity = state
        .store
        .restore_activity(caller.organization_id(), *id, &check, caller.actor(), Utc::now())
        .await?;
    Ok(activity_response(StatusCode::OK, activity))
}

fn parse_sort(raw: Option<&str>) -> Result<ActivitySort, ApiError> {
    match raw.unwrap_or("created_at") {
        "created_at" => Ok(ActivitySort::CreatedAt),
        "-created_at" => Ok(ActivitySort::CreatedAtDesc),
        "due_at" => Ok(ActivitySort::DueAt),
        "-due_at" => Ok(ActivitySort::DueAtDesc),
        _ => Err(ApiError::BadRequest(
            "sort must be one of created_at, -created_at, due_at, -due_at.".to_owned(),
        )),
    }
}

/// What an activity list cursor holds: its sort, and the last row's key and id.
#[derive(Serialize, Deserialize)]
struct CursorData {
    s: String,
    v: Option<DateTime<Utc>>,
    i: Uuid,
}

fn encode_cursor(sort: ActivitySort, last: &Activity) -> String {
    let data = CursorData {
        s: format!("{sort:?}"),
        v: sort.key_of(last),
        i: last.id,
    };
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(&data).expect("a cursor serializes"))
}

fn decode_cursor(raw: &str, sort: ActivitySort) -> Result<(Option<DateTime<Utc>>, Uuid), ApiError> {
    let bad = || ApiError::BadRequest("cursor is not one this API returned for this sort.".to_owned());
    let bytes = URL_SAFE_NO_PAD.decode(raw).map_err(|_| bad())?;
    let data: CursorData = serde_json::from_slice(&bytes).map_err(|_| bad())?;
    if data.s != format!("{sort:?}") {
        return Err(bad());
    }
    Ok((data.v, data.i))
}
