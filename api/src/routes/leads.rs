//! Leads: prospects before they become contacts, accounts and deals. Reps
//! see and change only the leads they own (another rep's lead is 404);
//! managers, admins and API keys see them all. `DELETE` moves a lead to the
//! trash, `restore` brings it back, and `DELETE ?purge=true` (admins only)
//! erases its personal data for good. A converted lead is final: it cannot
//! be changed nor trashed (409), only purged.

use actix_web::{delete, get, http::header, http::StatusCode, patch, post, web, HttpResponse};
use chrono::{DateTime, Utc};
use pipewise_domain::{custom_field::Resource, lead::LeadStatus, Email, Lead};
use pipewise_storage::{EmailHolder, LeadSortField, NewLead, StoreError};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_actix_web::service_config::ServiceConfig;
use uuid::Uuid;

use crate::{
    error::ApiError,
    extract::{if_match::etag, Caller, IfMatch, Json, Read, Write},
    routes::custom_fields::{custom_filters, custom_values, definitions, patch_definitions, patched_values},
    routes::{
        lead_input::{lead_fields, new_progress, CreateLead, LeadView},
        lead_list::{LeadList, LeadListQuery},
        lead_potential::profile_potentials,
        lead_update::{changed, UpdateLead},
        records::{self, check_owner, check_version, owner_is_active, DeleteQuery},
    },
    state::AppState,
};

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(list_leads)
        .service(create_lead)
        .service(get_lead)
        .service(update_lead)
        .service(delete_lead)
        .service(restore_lead)
        .service(lead_score)
        .service(crate::routes::lead_prediction::lead_prediction)
        .service(crate::routes::lead_potential::lead_potential);
}

/// The lead with its ETag and its prediction from the organization's tables.
pub async fn lead_response(state: &AppState, status: StatusCode, lead: Lead) -> Result<HttpResponse, ApiError> {
    let tables = state.store.prediction_tables(lead.organization_id).await?;
    let customers = state.store.customer_year(lead.organization_id, Utc::now()).await?;
    Ok(HttpResponse::build(status)
        .insert_header(etag(lead.version))
        .json(LeadView::new(lead, &tables, &customers)))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CreateLeadQuery {
    /// `true` creates the lead even when a lead or contact already has its email.
    pub allow_duplicate: Option<bool>,
}

/// The lead, if the caller may see it: reps see only their own (404 otherwise).
pub async fn visible_lead<P>(caller: &Caller<P>, state: &AppState, id: Uuid) -> Result<Lead, ApiError> {
    let lead = state.store.lead(caller.organization_id(), id).await?;
    match caller.visible_owner() {
        Some(me) if me != lead.owner_id => Err(ApiError::NotFound),
        _ => Ok(lead),
    }
}

/// 404 for a rep's view of another rep's lead.
fn ensure_visible<P>(caller: &Caller<P>, lead: &Lead) -> Result<(), ApiError> {
    match caller.visible_owner() {
        Some(me) if me != lead.owner_id => Err(ApiError::NotFound),
        _ => Ok(()),
    }
}

/// 409 for any change to a converted lead.
pub(crate) fn ensure_not_converted(lead: &Lead) -> Result<(), ApiError> {
    if lead.progress.status == LeadStatus::Converted {
        Err(ApiError::Conflict(
            "Converted leads cannot change; change the contact, account or deal they became.".to_owned(),
        ))
    } else {
        Ok(())
    }
}

/// What the client was writing when the email turned out to be taken: it
/// decides the hint of the 409.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmailUse {
    NewLead,
    LeadChange,
    Contact,
}

/// Maps `DuplicateEmail` to the 409 duplicate problem, naming the holder in
/// `existing_id` only when the caller may read it: everyone reads contacts,
/// reps only their own leads (another rep's lead stays unknown to them, as
/// it is 404 everywhere else). Other errors convert as usual.
pub fn duplicate_email<P>(caller: &Caller<P>, writing: EmailUse) -> impl Fn(StoreError) -> ApiError + '_ {
    move |err| {
        let StoreError::DuplicateEmail(holder) = err else {
            return err.into();
        };
        let hint = match writing {
            EmailUse::NewLead => "; pass allow_duplicate=true to create another",
            EmailUse::LeadChange => "; pass allow_duplicate=true to use it anyway",
            EmailUse::Contact => "",
        };
        let (what, existing_id) = match holder {
            EmailHolder::Lead { id, owner_id } => {
                let readable = caller.visible_owner().is_none_or(|me| me == owner_id);
                ("lead", readable.then_some(id))
            }
            EmailHolder::Contact(id) => ("contact", Some(id)),
        };
        let hint = if what == "contact" && writing == EmailUse::NewLead {
            "; pass allow_duplicate=true to create a lead anyway"
        } else {
            hint
        };
        ApiError::Duplicate {
            detail: format!("A {what} with this email already exists{hint}."),
            existing_id,
        }
    }
}

/// Create a lead
///
/// Create a lead. It is scored at once; reps create leads they own. An
/// email that a lead or contact of the organization already has is 409 with
/// that record's id in `existing_id`, unless `allow_duplicate=true`.
#[utoipa::path(
    tag = "leads",
    params(CreateLeadQuery),
    request_body = CreateLead,
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 201, body = LeadView, headers(("ETag" = String), ("Location" = String))),
        crate::problem::CreateConflictErrors,
    )
)]
#[post("/leads")]
async fn create_lead(
    caller: Caller<Write>,
    state: web::Data<AppState>,
    query: web::Query<CreateLeadQuery>,
    Json(body, mut fields): Json<CreateLead>,
) -> Result<HttpResponse, ApiError> {
    let org = caller.organization_id();
    let now = Utc::now();
    let owner = caller.new_record_owner(body.owner_id)?;
    if body.created_at.is_some() {
        caller.ensure_may_backdate()?;
    }
    let base_currency = state.store.organization(org).await?.base_currency;
    let defs = definitions(&state, org, Resource::Leads).await?;
    let mut lead_fields = lead_fields(&mut fields, &body, owner, base_currency);
    lead_fields.custom_fields = custom_values(&mut fields, &defs, None, body.custom_fields.as_ref());
    let created_at = body.created_at.unwrap_or(now);
    if created_at > now {
        fields.reject("created_at", "in_the_future", "must not be in the future");
    }
    let progress = new_progress(&mut fields, &body, created_at);
    check_owner(&state, org, owner, &mut fields).await?;
    let new = fields.finish(|| NewLead {
        fields: lead_fields,
        progress: progress.expect("valid when no field was rejected"),
        form_id: None,
        created_at,
    })?;
    let unique_email = query.allow_duplicate != Some(true);
    let lead = state
        .store
        .create_lead(org, &new, unique_email, caller.actor(), now)
        .await
        .map_err(duplicate_email(&caller, EmailUse::NewLead))?;
    let location = format!("/api/v1/leads/{}", lead.id);
    let mut response = lead_response(&state, StatusCode::CREATED, lead).await?;
    response
        .headers_mut()
        .insert(header::LOCATION, location.parse().expect("a path is a header value"));
    Ok(response)
}

/// Get a lead
///
/// Get one lead.
#[utoipa::path(
    tag = "leads",
    params(("id" = Uuid, Path, description = "The lead's id")),
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, body = LeadView, headers(("ETag" = String))),
        crate::problem::ReadOneErrors,
    )
)]
#[get("/leads/{id}")]
async fn get_lead(
    caller: Caller<Read>,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let lead = visible_lead(&caller, &state, *id).await?;
    lead_response(&state, StatusCode::OK, lead).await
}

/// List leads
///
/// List the leads (trashed ones excepted) the caller may see: reps only
/// their own. Filters combine; `sort` is `created_at` (default), `score` or
/// `last_activity_at`, `-` for descending; leads without activity come last
/// in both directions. Unknown parameters and sort values are 400.
#[utoipa::path(
    tag = "leads",
    params(LeadListQuery, crate::extract::CustomFilterParams),
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, body = LeadList),
        crate::problem::ListErrors,
    )
)]
#[get("/leads")]
async fn list_leads(
    caller: Caller<Read>,
    state: web::Data<AppState>,
    query: crate::extract::FilteredQuery<LeadListQuery>,
) -> Result<web::Json<LeadList>, ApiError> {
    let mut request = query.query.request(caller.visible_owner())?;
    let org = caller.organization_id();
    request.filter.custom = custom_filters(&state, org, Resource::Leads, &query.custom).await?;
    let customers = state.store.customer_year(org, Utc::now()).await?;
    if request.page.sort == LeadSortField::Potential {
        request.page.potentials = profile_potentials(&state, &customers, org, caller.visible_owner()).await?;
    }
    let leads = state.store.leads(org, &request.filter, &request.page).await?;
    let tables = state.store.prediction_tables(org).await?;
    Ok(web::Json(request.list(leads, &tables, &customers)))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct UpdateLeadQuery {
    /// `true` accepts a new email that another lead or a contact already has.
    pub allow_duplicate: Option<bool>,
}

/// Update a lead
///
/// Change a lead; it is rescored in the same transaction (which may make
/// it an MQL). Reps change only their own leads and cannot give them away
/// (403); a new owner is notified. A converted lead cannot change (409).
#[utoipa::path(
    tag = "leads",
    params(
        ("id" = Uuid, Path, description = "The lead's id"),
        ("If-Match" = Option<String>, Header, description = "The ETag last seen; 412 if stale"),
        UpdateLeadQuery,
    ),
    request_body = UpdateLead,
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, body = LeadView, headers(("ETag" = String))),
        crate::problem::UpdateErrors,
    )
)]
#[patch("/leads/{id}")]
async fn update_lead(
    caller: Caller<Write>,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    if_match: IfMatch,
    query: web::Query<UpdateLeadQuery>,
    Json(body, pending): Json<UpdateLead>,
) -> Result<HttpResponse, ApiError> {
    let (org, id) = (caller.organization_id(), *id);
    let allow_duplicate = query.allow_duplicate == Some(true);
    let owner_active = match body.owner_id {
        Some(owner) => owner_is_active(&state, org, owner).await?,
        None => true,
    };
    let now = Utc::now();
    let defs = patch_definitions(&state, org, Resource::Leads, body.custom_fields.as_ref()).await?;
    let edit = records::edit(|current: &Lead| {
        ensure_visible(&caller, current)?;
        caller.ensure_can_change(current.owner_id)?;
        check_version(&if_match, current.version)?;
        ensure_not_converted(current)?;
        let (pending, custom_fields) =
            patched_values(&pending, &defs, &current.custom_fields, body.custom_fields.as_ref());
        let mut change = changed(&caller, current, &body, &pending, owner_active, now)?;
        change.fields.custom_fields = custom_fields;
        change.unique_email =
            !allow_duplicate && change.fields.email.as_ref().map(Email::as_str) != current.email.as_deref();
        Ok(change)
    });
    let lead = state
        .store
        .update_lead(org, id, &edit, caller.actor(), now)
        .await
        .map_err(duplicate_email(&caller, EmailUse::LeadChange))?;
    lead_response(&state, StatusCode::OK, lead).await
}

/// Trash or purge a lead
///
/// Move a lead to the trash (`POST …/restore` brings it back), or with
/// `purge=true` erase it for good (admins only): its names, email, phone,
/// title and company name are deleted, and it is gone everywhere (404), even
/// for restore. A converted lead cannot be trashed (409), only purged.
#[utoipa::path(
    tag = "leads",
    params(
        ("id" = Uuid, Path, description = "The lead's id"),
        ("If-Match" = Option<String>, Header, description = "The ETag last seen; 412 if stale"),
        DeleteQuery,
    ),
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 204, description = "Trashed, or purged"),
        crate::problem::DeleteErrors,
    )
)]
#[delete("/leads/{id}")]
async fn delete_lead(
    caller: Caller<Write>,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    if_match: IfMatch,
    query: web::Query<DeleteQuery>,
) -> Result<HttpResponse, ApiError> {
    let (org, id) = (caller.organization_id(), *id);
    let (caller, state, if_match) = (&caller, &state, &if_match);
    if query.purge == Some(true) {
        caller.ensure_admin()?;
        let check = records::edit(|current: &Lead| {
            check_version(if_match, current.version)?;
            Ok(())
        });
        state
            .store
            .purge_lead(org, id, &check, caller.actor(), Utc::now())
            .await?;
    } else {
        let check = records::edit(|current: &Lead| {
            ensure_visible(caller, current)?;
            caller.ensure_can_change(current.owner_id)?;
            check_version(if_match, current.version)?;
            ensure_not_converted(current)?;
            Ok(())
        });
        state
            .store
            .trash_lead(org, id, &check, caller.actor(), Utc::now())
            .await?;
    }
    Ok(HttpResponse::NoContent().finish())
}

/// Restore a lead
///
/// Bring a lead back from the trash and rescore it; a purged lead is gone
/// (404). Restoring a lead that is not in the trash changes nothing.
#[utoipa::path(
    tag = "leads",
    params(("id" = Uuid, Path, description = "The lead's id")),
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, body = LeadView, headers(("ETag" = String))),
        crate::problem::CommandErrors,
    )
)]
#[post("/leads/{id}/restore")]
async fn restore_lead(
    caller: Caller<Write>,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let (org, id) = (caller.organization_id(), *id);
    let (caller, state) = (&caller, &state);
    let check = records::edit(|current: &Lead| {
        ensure_visible(caller, current)?;
        caller.ensure_can_change(current.owner_id)?;
        Ok(())
    });
    let lead = state
        .store
        .restore_lead(org, id, &check, caller.actor(), Utc::now())
        .await?;
    lead_response(state, StatusCode::OK, lead).await
}

/// A rule that adds to (or takes from) a lead's score.
#[derive(Serialize, ToSchema)]
pub struct MatchedRuleView {
    pub rule_id: Uuid,
    #[schema(example = "Business email")]
    pub name: String,
    /// −100…100.
    #[schema(example = 20)]
    pub points: i64,
}

/// A lead's score and what makes it up.
#[derive(Serialize, ToSchema)]
pub struct LeadScoreView {
    /// `total` clamped to 0–100; equal to the lead's stored `score`.
    #[schema(example = 65)]
    pub score: u8,
    /// The sum of the points of `matched`, before clamping.
    #[schema(example = 65)]
    pub total: i64,
    /// The organization's `mql_threshold`.
    #[schema(example = 50)]
    pub threshold: u8,
    /// The first time the score reached the threshold; never moves.
    pub mql_at: Option<DateTime<Utc>>,
    /// The active rules the lead matches, oldest rule first.
    pub matched: Vec<MatchedRuleView>,
}

/// Explain a lead's score
///
/// Explain a lead's score: the organization's active scoring rules the lead
/// matches and their points, computed now. It equals the stored `score`,
/// because every write that changes a lead, its activities or the rules
/// rescores the lead in the same transaction; the one exception is a rule
/// on `potential`, which reads the customers as they are now: a deal won
/// since the lead was scored can move it until the next rescore.
#[utoipa::path(
    tag = "leads",
    params(("id" = Uuid, Path, description = "The lead's id")),
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, body = LeadScoreView),
        crate::problem::ReadOneErrors,
    )
)]
#[get("/leads/{id}/score")]
async fn lead_score(
    caller: Caller<Read>,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> Result<web::Json<LeadScoreView>, ApiError> {
    let lead = visible_lead(&caller, &state, *id).await?;
    let explained = state.store.lead_score(&lead).await?;
    let breakdown = explained.breakdown;
    Ok(web::Json(LeadScoreView {
        score: breakdown.score.value(),
        total: breakdown.total,
        threshold: explained.threshold.value(),
        mql_at: lead.mql_at,
        matched: breakdown
            .matched
            .into_iter()
            .map(|m| MatchedRuleView {
                rule_id: m.rule_id,
                name: m.name,
                points: m.points,
            })
            .collect(),
    }))
}
