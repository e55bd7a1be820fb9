//! Lead capture forms, managed by admins (API keys cannot: a form decides
//! who receives leads and what a website may write into the CRM). Each form
//! has a `public_token` that a website embeds to post submissions to
//! `/public/v1/forms/{public_token}/submissions` (see `public_forms`).
//! `DELETE` trashes a form, and its token stops working at once.

use actix_web::{delete, get, http::header, http::StatusCode, patch, post, web, HttpResponse};
use chrono::{DateTime, Utc};
use pipewise_domain::Name;
use pipewise_storage::{Form, FormField, FormSettings};
use rand::{rngs::OsRng, RngCore};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;
use uuid::Uuid;
use validator::Validate;

use crate::{
    error::ApiError,
    extract::{if_match::etag, Admin, Caller, IfMatch, Json, ListOf, PageQuery},
    fields::Fields,
    nullable,
    routes::{
        lead_input::TEXT_MAX,
        records::{self, check_version},
    },
    state::AppState,
};

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(list_forms)
        .service(create_form)
        .service(get_form)
        .service(update_form)
        .service(delete_form)
        .service(rotate_token);
}

pub const DEFAULT_SOURCE: &str = "web_form";
pub const OWNERS_MAX: usize = 50;
pub const REDIRECT_URL_MAX: usize = 2000;

/// A new public token: 256 random bits, base64url. It is stored as is,
/// unlike API keys and refresh tokens: it is published in a website's HTML
/// and grants nothing but submitting leads into its form, so it is not a
/// secret credential (rotate it to stop abuse).
fn public_token() -> String {
    use base64::Engine;
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// The path a website posts the form's submissions to.
pub fn submit_path(token: &str) -> String {
    format!("/public/v1/forms/{token}/submissions")
}

crate::openapi::doc_schema!(
    /// The lead fields a form may accept.
    FormFieldName = crate::openapi::one_of(
        FormField::ALL.iter().map(|f| f.as_str()),
        "A lead field a form may accept",
    )
);

/// A lead capture form.
#[derive(Serialize, ToSchema)]
pub struct FormView {
    pub id: Uuid,
    pub organization_id: Uuid,
    #[schema(example = "Contact us")]
    pub name: String,
    /// The lead fields a submission may carry.
    #[schema(value_type = Vec<FormFieldName>, example = json!(["first_name", "last_name", "email", "company_name"]))]
    pub fields: Vec<&'static str>,
    /// The fields a submission must fill in.
    #[schema(value_type = Vec<FormFieldName>, example = json!(["email"]))]
    pub required_fields: Vec<&'static str>,
    /// The `source` stamped on every lead of the form.
    #[schema(example = "web_form")]
    pub source: String,
    /// The owner of new leads, or several who take turns in this order.
    pub owner_ids: Vec<Uuid>,
    /// How many leads the form has assigned so far.
    pub assigned_count: i64,
    /// Where a browser is sent (303) after posting the form.
    #[schema(example = "https://www.acme.example/thanks")]
    pub redirect_url: Option<String>,
    /// Put this in the website's form; rotate it to retire the old one.
    #[schema(example = "Zq3v0V1mXo9sW7k2Q4tY8uB6nC5dE1fG3hJ0kL2mN4o")]
    pub public_token: String,
    /// Where the website posts submissions (relative to the API's origin).
    #[schema(example = "/public/v1/forms/Zq3v0V1mXo9sW7k2Q4tY8uB6nC5dE1fG3hJ0kL2mN4o/submissions")]
    pub submit_url: String,
    /// An inactive form refuses submissions (404).
    pub active: bool,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

fn names(fields: &[FormField]) -> Vec<&'static str> {
    fields.iter().map(|f| f.as_str()).collect()
}

impl From<Form> for FormView {
    fn from(f: Form) -> Self {
        Self {
            id: f.id,
            organization_id: f.organization_id,
            name: f.name,
            fields: names(&f.fields),
            required_fields: names(&f.required_fields),
            source: f.source,
            owner_ids: f.owner_ids,
            assigned_count: f.assigned_count,
            redirect_url: f.redirect_url,
            submit_url: submit_path(&f.public_token),
            public_token: f.public_token,
            active: f.active,
            version: f.version,
            created_at: f.created_at,
            updated_at: f.updated_at,
        }
    }
}

fn form_response(status: StatusCode, form: Form) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header(etag(form.version))
        .json(FormView::from(form))
}

/// A new form.
#[derive(Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateForm {
    #[schema(example = "Contact us", min_length = 1, max_length = 200)]
    name: String,
    /// Lead fields a submission may carry: `first_name`, `last_name`, `email`,
    /// `phone`, `company_name`, `title`, `industry`, `employee_count`,
    /// `country`, `estimated_value`, `currency`, `value_period`; at least one
    /// of `first_name`, `last_name`, `email` and `company_name`.
    #[schema(value_type = Vec<FormFieldName>, max_items = 12, example = json!(["first_name", "last_name", "email", "company_name"]))]
    fields: Vec<String>,
    /// A subset of `fields` a submission must fill in; none if omitted.
    #[schema(value_type = Option<Vec<FormFieldName>>, max_items = 12, example = json!(["email"]))]
    required_fields: Option<Vec<String>>,
    /// Stamped on every lead of the form; `web_form` if omitted.
    #[schema(example = "web_form", max_length = 200)]
    source: Option<String>,
    /// 1–50 active users of the organization: one owns every new lead,
    /// several take turns in this order.
    #[schema(min_items = 1, max_items = 50)]
    owner_ids: Vec<Uuid>,
    /// An absolute `http(s)` URL (at most 2000 ASCII characters) a browser
    /// is sent to after posting the form.
    #[schema(example = "https://www.acme.example/thanks", max_length = 2000)]
    redirect_url: Option<String>,
    /// `true` if omitted.
    active: Option<bool>,
}

/// The settings to change; `redirect_url: null` removes the redirect.
#[derive(Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateForm {
    #[schema(example = "Contact us", min_length = 1, max_length = 200)]
    name: Option<String>,
    #[schema(value_type = Option<Vec<FormFieldName>>, max_items = 12, example = json!(["first_name", "email"]))]
    fields: Option<Vec<String>>,
    #[schema(value_type = Option<Vec<FormFieldName>>, max_items = 12, example = json!(["email"]))]
    required_fields: Option<Vec<String>>,
    #[schema(example = "web_form", max_length = 200)]
    source: Option<String>,
    #[schema(min_items = 1, max_items = 50)]
    owner_ids: Option<Vec<Uuid>>,
    #[serde(default, deserialize_with = "nullable::double_option")]
    #[schema(value_type = Option<String>, nullable, example = "https://www.acme.example/thanks", max_length = 2000)]
    redirect_url: Option<Option<String>>,
    active: Option<bool>,
}

/// A list of lead field names, each known and given once.
fn field_list(fields: &mut Fields, name: &str, raw: &[String]) -> Vec<FormField> {
    let mut list = Vec::with_capacity(raw.len());
    for (i, item) in raw.iter().enumerate() {
        match FormField::parse(item.trim()) {
            None => fields.reject(
                &format!("{name}[{i}]"),
                "invalid",
                "must be one of first_name, last_name, email, phone, company_name, title, industry, \
                 employee_count, country, estimated_value, currency, value_period",
            ),
            Some(f) if list.contains(&f) => fields.reject(&format!("{name}[{i}]"), "duplicate", "is listed twice"),
            Some(f) => list.push(f),
        }
    }
    list
}

/// The accepted fields: non-empty, and able to name a lead.
fn accepted_fields(fields: &mut Fields, raw: &[String]) -> Vec<FormField> {
    let list = field_list(fields, "fields", raw);
    if raw.is_empty() {
        fields.reject("fields", "required", "must list at least one field");
    } else if !list.is_empty() && !list.iter().any(|f| f.identifies()) {
        fields.reject(
            "fields",
            "invalid",
            "must include at least one of first_name, last_name, email and company_name",
        );
    }
    list
}

/// Required fields: a subset of the accepted ones.
fn required_fields(fields: &mut Fields, raw: &[String], accepted: &[FormField]) -> Vec<FormField> {
    let list = field_list(fields, "required_fields", raw);
    for (i, item) in raw.iter().enumerate() {
        if FormField::parse(item.trim()).is_some_and(|f| !accepted.contains(&f)) {
            fields.reject(
                &format!("required_fields[{i}]"),
                "not_in_fields",
                "must be one of the form's fields",
            );
        }
    }
    list
}

/// The lead source the form stamps: not blank, at most 200 characters.
fn source(fields: &mut Fields, raw: &str) -> Option<String> {
    match pipewise_domain::text::optional_text(raw, TEXT_MAX) {
        Ok(Some(source)) => Some(source),
        Ok(None) => {
            fields.reject("source", "required", "must not be blank");
            None
        }
        Err(err) => {
            fields.reject("source", "invalid", &err.to_string());
            None
        }
    }
}

/// An absolute `http(s)` URL usable as a `Location` header: printable
/// ASCII only (percent-encode anything else), with a host, at most 2000
/// characters.
pub fn parse_redirect_url(raw: &str) -> Result<String, &'static str> {
    const INVALID: &str = "must be an absolute http:// or https:// URL of printable ASCII characters";
    let url = raw.trim();
    if url.chars().count() > REDIRECT_URL_MAX {
        return Err("must be at most 2000 characters");
    }
    let lower = url.to_ascii_lowercase();
    let rest = if lower.starts_with("https://") {
        &url["https://".len()..]
    } else if lower.starts_with("http://") {
        &url["http://".len()..]
    } else {
        return Err(INVALID);
    };
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = host.rsplit_once('@').map_or(host, |(_, h)| h);
    let host_name = host.split(':').next().unwrap_or_default();
    if host_name.is_empty() || !url.bytes().all(|b| (0x21..=0x7e).contains(&b)) {
        return Err(INVALID);
    }
    Ok(url.to_owned())
}

/// A redirect URL; blank is none.
fn redirect_url(fields: &mut Fields, raw: &str) -> Option<String> {
    if raw.trim().is_empty() {
        None
    } else {
        fields.check("redirect_url", parse_redirect_url(raw))
    }
}

/// Records a 422 for each owner that is not an active user of the
/// organization, and for a list that is empty, too long or repeats someone.
async fn check_owners(state: &AppState, org: Uuid, owners: &[Uuid], fields: &mut Fields) -> Result<(), ApiError> {
    if owners.is_empty() || owners.len() > OWNERS_MAX {
        fields.reject("owner_ids", "invalid", "must list 1 to 50 users");
        return Ok(());
    }
    for (i, owner) in owners.iter().enumerate() {
        let field = format!("owner_ids[{i}]");
        if owners[..i].contains(owner) {
            fields.reject(&field, "duplicate", "is listed twice");
            continue;
        }
        match state.store.user(org, *owner).await {
            Ok(user) if user.active => {}
            Ok(_) | Err(pipewise_storage::StoreError::NotFound) => {
                fields.reject(&field, "invalid", "must be an active user of the organization")
            }
            Err(err) => return Err(err.into()),
        }
    }
    Ok(())
}

/// List forms
///
/// List the organization's forms (trashed ones excepted), oldest first (admins only).
#[utoipa::path(
    tag = "forms",
    params(PageQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, body = ListOf<FormView>),
        crate::problem::ListErrors,
    )
)]
#[get("/forms")]
async fn list_forms(
    caller: Caller<Admin>,
    state: web::Data<AppState>,
    query: web::Query<PageQuery>,
) -> Result<web::Json<ListOf<FormView>>, ApiError> {
    let page = query.page()?;
    let forms = state.store.forms(caller.organization_id(), page).await?;
    Ok(web::Json(ListOf::from_rows(forms, page, |f| f.id, FormView::from)))
}

/// Create a form
///
/// Create a capture form (admins only). The answer carries its
/// `public_token` and the `submit_url` a website posts to.
#[utoipa::path(
    tag = "forms",
    request_body = CreateForm,
    security(("bearer" = [])),
    responses(
        (status = 201, body = FormView, headers(("ETag" = String), ("Location" = String))),
        crate::problem::CreateErrors,
    )
)]
#[post("/forms")]
async fn create_form(
    caller: Caller<Admin>,
    state: web::Data<AppState>,
    Json(body, mut fields): Json<CreateForm>,
) -> Result<HttpResponse, ApiError> {
    let org = caller.organization_id();
    let name = fields.check("name", Name::parse(&body.name));
    let accepted = accepted_fields(&mut fields, &body.fields);
    let required = required_fields(
        &mut fields,
        body.required_fields.as_deref().unwrap_or_default(),
        &accepted,
    );
    let source = source(&mut fields, body.source.as_deref().unwrap_or(DEFAULT_SOURCE));
    let redirect_url = body
        .redirect_url
        .as_deref()
        .and_then(|raw| redirect_url(&mut fields, raw));
    check_owners(&state, org, &body.owner_ids, &mut fields).await?;
    let settings = fields.finish(|| FormSettings {
        name: name.expect("valid when no field was rejected").as_str().to_owned(),
        fields: accepted,
        required_fields: required,
        source: source.expect("valid when no field was rejected"),
        owner_ids: body.owner_ids,
        redirect_url,
        active: body.active.unwrap_or(true),
    })?;
    let form = state
        .store
        .create_form(org, &settings, &public_token(), caller.actor(), Utc::now())
        .await?;
    let location = format!("/api/v1/forms/{}", form.id);
    let mut response = form_response(StatusCode::CREATED, form);
    response
        .headers_mut()
        .insert(header::LOCATION, location.parse().expect("a path is a header value"));
    Ok(response)
}

/// Get a form
///
/// Get one form (admins only).
#[utoipa::path(
    tag = "forms",
    params(("id" = Uuid, Path, description = "The form's id")),
    security(("bearer" = [])),
    responses(
        (status = 200, body = FormView, headers(("ETag" = String))),
        crate::problem::ReadOneErrors,
    )
)]
#[get("/forms/{id}")]
async fn get_form(
    caller: Caller<Admin>,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let form = state.store.form(caller.organization_id(), *id).await?;
    Ok(form_response(StatusCode::OK, form))
}

/// Update a form
///
/// Change a form (admins only). `required_fields` must stay a subset of
/// `fields`, whichever of the two changes. The token stays the same.
#[utoipa::path(
    tag = "forms",
    params(
        ("id" = Uuid, Path, description = "The form's id"),
        ("If-Match" = Option<String>, Header, description = "The ETag last seen; 412 if stale"),
    ),
    request_body = UpdateForm,
    security(("bearer" = [])),
    responses(
        (status = 200, body = FormView, headers(("ETag" = String))),
        crate::problem::UpdateErrors,
    )
)]
#[patch("/forms/{id}")]
async fn update_form(
    caller: Caller<Admin>,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    if_match: IfMatch,
    Json(body, pending): Json<UpdateForm>,
) -> Result<HttpResponse, ApiError> {
    let org = caller.organization_id();
    // The owners are users, checked before the form is locked: an `Edit` cannot read.
    let mut owner_fields = Fields::default();
    if let Some(owners) = &body.owner_ids {
        check_owners(&state, org, owners, &mut owner_fields).await?;
    }
    let edit = records::edit(|current: &Form| {
        check_version(&if_match, current.version)?;
        changed(current, &body, &pending, &owner_fields)
    });
    let form = state.store.update_form(org, *id, &edit, Utc::now()).await?;
    Ok(form_response(StatusCode::OK, form))
}

/// `current` with the changes of `body` applied, if they are valid;
/// `owner_fields` holds the 422s of the owners, checked beforehand.
fn changed(
    current: &Form,
    body: &UpdateForm,
    pending: &Fields,
    owner_fields: &Fields,
) -> Result<FormSettings, ApiError> {
    let mut fields = pending.clone();
    let mut next = FormSettings::of(current);
    if let Some(raw) = &body.name {
        if let Some(name) = fields.check("name", Name::parse(raw)) {
            next.name = name.as_str().to_owned();
        }
    }
    if let Some(raw) = &body.fields {
        next.fields = accepted_fields(&mut fields, raw);
    }
    match &body.required_fields {
        Some(raw) => next.required_fields = required_fields(&mut fields, raw, &next.fields),
        None => {
            // Unchanged, but they must still be among the (maybe new) fields.
            if let Some(dropped) = next.required_fields.iter().find(|f| !next.fields.contains(f)) {
                fields.reject(
                    "required_fields",
                    "not_in_fields",
                    &format!(
                        "includes {}, which is no longer one of the form's fields",
                        dropped.as_str()
                    ),
                );
            }
        }
    }
    if let Some(raw) = &body.source {
        if let Some(source) = source(&mut fields, raw) {
            next.source = source;
        }
    }
    match &body.redirect_url {
        None => {}
        Some(None) => next.redirect_url = None,
        Some(Some(raw)) => next.redirect_url = redirect_url(&mut fields, raw),
    }
    if let Some(owners) = &body.owner_ids {
        fields.copy_all(owner_fields);
        next.owner_ids = owners.clone();
    }
    if let Some(active) = body.active {
        next.active = active;
    }
    fields.finish(|| next)
}

/// Trash a form
///
/// Move a form to the trash (admins only): its token answers 404 from now on.
#[utoipa::path(
    tag = "forms",
    params(
        ("id" = Uuid, Path, description = "The form's id"),
        ("If-Match" = Option<String>, Header, description = "The ETag last seen; 412 if stale"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Trashed"),
        crate::problem::DeleteErrors,
    )
)]
#[delete("/forms/{id}")]
async fn delete_form(
    caller: Caller<Admin>,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    if_match: IfMatch,
) -> Result<HttpResponse, ApiError> {
    state
        .store
        .trash_form(caller.organization_id(), *id, if_match.0, caller.actor(), Utc::now())
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Rotate a form's token
///
/// Give a form a new `public_token` (admins only); the old one answers 404
/// from now on, so update the website's form at the same time.
#[utoipa::path(
    tag = "forms",
    params(
        ("id" = Uuid, Path, description = "The form's id"),
        ("If-Match" = Option<String>, Header, description = "The ETag last seen; 412 if stale"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, body = FormView, headers(("ETag" = String))),
        crate::problem::DeleteErrors,
    )
)]
#[post("/forms/{id}/rotate-token")]
async fn rotate_token(
    caller: Caller<Admin>,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    if_match: IfMatch,
) -> Result<HttpResponse, ApiError> {
    let form = state
        .store
        .rotate_form_token(
            caller.organization_id(),
            *id,
            if_match.0,
            &public_token(),
            caller.actor(),
            Utc::now(),
        )
        .await?;
    Ok(form_response(StatusCode::OK, form))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_urls_are_absolute_http_and_header_safe() {
        for ok in [
            "https://www.acme.example/thanks",
            "http://acme.example",
            "HTTPS://acme.example:8443/a?b=c#d",
        ] {
            assert_eq!(parse_redirect_url(ok).as_deref(), Ok(ok), "{ok}");
        }
        for bad in [
            "ftp://acme.example",
            "/thanks",
            "https://",
            "https:///path",
            "javascript:alert(1)",
            "https://acme.example/a b",
            "https://acme.example/\r\nSet-Cookie: x",
            "https://acmé.example",
        ] {
            assert!(parse_redirect_url(bad).is_err(), "{bad:?}");
        }
        let long = format!("https://acme.example/{}", "a".repeat(REDIRECT_URL_MAX));
        assert!(parse_redirect_url(&long).is_err());
    }

    #[test]
    fn tokens_are_long_and_distinct() {
        let (a, b) = (public_token(), public_token());
        assert_eq!(a.len(), 43);
        assert_ne!(a, b);
        assert!(a.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'));
    }
}
