//! Leads: prospects before they become contacts, accounts and deals. Reps
//! see and change only the leads they own (another rep's lead is 404);
//! managers, admins and API keys see them all.

use actix_web::{get, http::header, http::StatusCode, post, web, HttpResponse};
use chrono::Utc;
use pipewise_domain::Lead;
use pipewise_storage::{EmailHolder, NewLead};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_actix_web::service_config::ServiceConfig;
use uuid::Uuid;

use crate::{
    error::ApiError,
    extract::{if_match::etag, Caller, Json, Read, Write},
    fields::Fields,
    routes::{
        lead_input::{lead_fields, new_progress, CreateLead, LeadView},
        records::check_owner,
    },
    state::AppState,
};

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(create_lead).service(get_lead);
}

pub fn lead_response(status: StatusCode, lead: Lead) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header(etag(lead.version))
        .json(LeadView::from(lead))
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

/// 409 naming the lead or contact that already has `email`.
pub async fn duplicate_guard(
    state: &AppState,
    org: Uuid,
    email: Option<&pipewise_domain::Email>,
) -> Result<(), ApiError> {
    let Some(email) = email else { return Ok(()) };
    match state.store.email_holder(org, email).await? {
        None => Ok(()),
        Some(EmailHolder::Lead(existing_id)) => Err(ApiError::Duplicate {
            detail: "A lead with this email already exists; pass allow_duplicate=true to create another.".to_owned(),
            existing_id,
        }),
        Some(EmailHolder::Contact(existing_id)) => Err(ApiError::Duplicate {
            detail: "A contact with this email already exists; pass allow_duplicate=true to create a lead anyway."
                .to_owned(),
            existing_id,
        }),
    }
}

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
        (status = 400, response = crate::problem::BadRequest),
        (status = 401, response = crate::problem::Unauthorized),
        (status = 403, response = crate::problem::Forbidden),
        (status = 409, response = crate::problem::Conflict),
        (status = 413, response = crate::problem::PayloadTooLarge),
        (status = 415, response = crate::problem::UnsupportedMediaType),
        (status = 422, response = crate::problem::ValidationFailed),
    )
)]
#[post("/leads")]
async fn create_lead(
    caller: Caller<Write>,
    state: web::Data<AppState>,
    query: web::Query<CreateLeadQuery>,
    Json(body): Json<CreateLead>,
) -> Result<HttpResponse, ApiError> {
    let org = caller.organization_id();
    let now = Utc::now();
    let owner = caller.new_record_owner(body.owner_id)?;
    if body.created_at.is_some() {
        caller.ensure_may_backdate()?;
    }
    let base_currency = state.store.organization(org).await?.base_currency;
    let mut fields = Fields::default();
    let lead_fields = lead_fields(&mut fields, &body, owner, base_currency);
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
    if query.allow_duplicate != Some(true) {
        duplicate_guard(&state, org, new.fields.email.as_ref()).await?;
    }
    let lead = state.store.create_lead(org, &new, caller.actor(), now).await?;
    let location = format!("/api/v1/leads/{}", lead.id);
    let mut response = lead_response(StatusCode::CREATED, lead);
    response
        .headers_mut()
        .insert(header::LOCATION, location.parse().expect("a path is a header value"));
    Ok(response)
}

/// Get one lead.
#[utoipa::path(
    tag = "leads",
    params(("id" = Uuid, Path, description = "The lead's id")),
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, body = LeadView, headers(("ETag" = String))),
        (status = 400, response = crate::problem::BadRequest),
        (status = 401, response = crate::problem::Unauthorized),
        (status = 403, response = crate::problem::Forbidden),
        (status = 404, response = crate::problem::NotFound),
    )
)]
#[get("/leads/{id}")]
async fn get_lead(
    caller: Caller<Read>,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let lead = visible_lead(&caller, &state, *id).await?;
    Ok(lead_response(StatusCode::OK, lead))
}
