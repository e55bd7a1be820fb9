//! The one unauthenticated write: a website's form posting a lead to
//! `/public/v1/forms/{public_token}/submissions`, from any origin.
//!
//! A submission is checked in this order: the form (unknown, trashed or
//! inactive: 404), the rate limits (429), the honeypot, the fields (422),
//! and only then stored. The lead is validated by the same code as
//! `POST /api/v1/leads`, stamped with the form's `source` and id, and
//! assigned to the form's owner (or the next one in its round-robin).
//!
//! Unlike the API, no duplicate guard applies: a visitor who submits twice
//! (or whose email a contact already has) is still a lead worth following
//! up, and an anonymous caller must not learn whether an email is known.
//! For the same reason the answer never names the lead.

use actix_cors::Cors;
use actix_web::{
    http::{header, StatusCode},
    post, web, HttpRequest, HttpResponse,
};
use chrono::{DateTime, Duration, Utc};
use pipewise_domain::lead::ValuePeriod;
use pipewise_storage::{Form, FormField, NewLead, StoreError};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;
use uuid::Uuid;

use crate::{
    error::ApiError,
    fields::Fields,
    routes::{
        lead_input::{lead_fields, new_progress, CreateLead, ValuePeriodName},
        submission_body::{field_label, BodyKind, SubmissionBody},
    },
    state::AppState,
    throttle::{self, client_address},
};

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(submit_form);
}

/// CORS for the public scope: any website may post a form, without
/// credentials, with nothing but a `Content-Type`.
pub fn cors() -> Cors {
    Cors::default()
        .allow_any_origin()
        .allowed_methods(["POST"])
        .allowed_headers([header::CONTENT_TYPE])
        .max_age(3600)
}

/// The field a person never sees: bots that fill it in are answered as if
/// all went well, and nothing is stored.
pub const HONEYPOT: &str = "website_url";

/// Submissions accepted per minute; kept in the database, so they hold
/// across processes.
#[derive(Debug, Clone, Copy)]
pub struct FormRateLimits {
    pub per_form: u32,
    pub per_client: u32,
}

const WINDOW_SECS: i64 = 60;

crate::openapi::doc_schema!(
    /// `Accepted.status`.
    AcceptedStatus = crate::openapi::one_of(["accepted"], "The submission was taken")
);

/// What an accepted submission answers.
#[derive(Serialize, ToSchema)]
pub struct Accepted {
    #[schema(value_type = AcceptedStatus)]
    status: &'static str,
}

crate::openapi::doc_schema!(
    /// A number field of a submission: JSON may send a number, a form sends text.
    TextOrNumber = utoipa::openapi::schema::OneOfBuilder::new()
        .item(utoipa::openapi::ObjectBuilder::new().schema_type(utoipa::openapi::schema::Type::String))
        .item(utoipa::openapi::ObjectBuilder::new().schema_type(utoipa::openapi::schema::Type::Number))
        .build()
);

/// The submitted fields by name: the lead fields the form accepts (any
/// other is 422), plus the honeypot `website_url`, which must stay empty.
/// `employee_count` and `estimated_value` take a number or its text.
#[derive(ToSchema)]
#[schema(example = json!({"first_name": "Ada", "last_name": "Lovelace", "email": "ada@acme.example",
                          "company_name": "Acme Ltd", "employee_count": "250", "website_url": ""}))]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // Documents the body; `SubmissionBody` reads it.
pub struct Submission {
    #[schema(required = false)]
    first_name: String,
    #[schema(required = false)]
    last_name: String,
    #[schema(required = false)]
    email: String,
    #[schema(required = false)]
    phone: String,
    #[schema(required = false)]
    company_name: String,
    #[schema(required = false)]
    title: String,
    #[schema(required = false)]
    industry: String,
    /// A whole number.
    #[schema(value_type = TextOrNumber, required = false)]
    employee_count: String,
    /// ISO 3166-1 alpha-2.
    #[schema(required = false)]
    country: String,
    /// A decimal, at most 2 places.
    #[schema(value_type = TextOrNumber, required = false)]
    estimated_value: String,
    /// ISO 4217.
    #[schema(required = false)]
    currency: String,
    /// `month`, `quarter` or `year`.
    #[schema(required = false)]
    value_period: String,
    /// The honeypot: people never see it, so it stays empty.
    #[schema(required = false)]
    website_url: String,
}

/// Submit a form
///
/// Submit a lead through a capture form. No credentials: the token in the
/// path identifies the form. Send `application/json` or
/// `application/x-www-form-urlencoded` (at most 64 KiB).
///
/// A JSON submission that is accepted gets 201 `{"status": "accepted"}`;
/// the lead itself is never shown. A form-encoded one (a browser posting an
/// HTML form) is redirected with 303 to the form's `redirect_url` if it has
/// one, also when the fields are invalid: then `error=validation` is added
/// to the URL's query, so that the page can show a message. Otherwise
/// invalid fields are 422, naming each unknown, missing required, or
/// invalid field.
///
/// Rate limited per form and per client address (429 with `Retry-After`).
/// An unknown, trashed or inactive form, or a token that was rotated
/// away, is 404.
#[utoipa::path(
    tag = "public",
    params(("public_token" = String, Path, description = "The form's public token")),
    request_body(
        content(
            (Submission = "application/json"),
            (Submission = "application/x-www-form-urlencoded"),
        ),
        description = "The lead fields the form accepts; `website_url` is a honeypot that must stay empty"
    ),
    responses(
        (status = 201, body = Accepted, description = "Accepted (also when the honeypot caught a bot)"),
        (status = 303, description = "Form-encoded submission to a form with a `redirect_url`: accepted, \
                                      or invalid with `error=validation` added to the URL",
         headers(("Location" = String))),
        (status = 400, response = crate::problem::BadRequest),
        (status = 404, response = crate::problem::NotFound),
        (status = 413, response = crate::problem::PayloadTooLarge),
        (status = 415, response = crate::problem::UnsupportedMediaType),
        (status = 422, response = crate::problem::ValidationFailed),
        (status = 429, response = crate::problem::TooManyRequests),
    )
)]
#[post("/forms/{public_token}/submissions")]
async fn submit_form(
    req: HttpRequest,
    state: web::Data<AppState>,
    limits: web::Data<FormRateLimits>,
    token: web::Path<String>,
    body: SubmissionBody,
) -> Result<HttpResponse, ApiError> {
    let now = Utc::now();
    let form = state
        .store
        .form_by_token(&token)
        .await?
        .filter(|f| f.active)
        .ok_or(ApiError::NotFound)?;
    rate_limit(&state, &form, &client_address(&req), **limits, now).await?;
    if body.get(HONEYPOT).is_some_and(|v| !v.trim().is_empty()) {
        tracing::info!(form_id = %form.id, "honeypot filled: submission dropped");
        return Ok(accepted(&form, body.kind));
    }
    let new = match new_lead(&state, &form, &body, now).await {
        Ok(new) => new,
        Err(ApiError::Validation(errors)) => {
            return match (body.kind, &form.redirect_url) {
                (BodyKind::UrlEncoded, Some(url)) => Ok(see_other(&with_query(url, "error=validation"))),
                _ => Err(ApiError::Validation(errors)),
            }
        }
        Err(err) => return Err(err),
    };
    match state
        .store
        .submit_form_lead(form.organization_id, form.id, &new, now)
        .await
    {
        Ok(_) => Ok(accepted(&form, body.kind)),
        // Trashed or deactivated since it was read.
        Err(StoreError::NotFound) => Err(ApiError::NotFound),
        Err(err) => Err(err.into()),
    }
}

/// Counts the submission against the client's and the form's budget for
/// this minute; 429 once either is spent. A client over its own limit is
/// not counted against the form, so it cannot use up everyone's budget.
async fn rate_limit(
    state: &AppState,
    form: &Form,
    client: &str,
    limits: FormRateLimits,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    let window = Duration::seconds(WINDOW_SECS);
    for (key, limit) in [
        (format!("form:{}:address:{client}", form.id), limits.per_client),
        (format!("form:{}", form.id), limits.per_form),
    ] {
        throttle::spend(state.store.as_ref(), &key, limit, window, now).await?;
    }
    Ok(())
}

/// The submission as a new lead of the form, validated like the API's;
/// 422 names every unknown, missing or invalid field.
async fn new_lead(
    state: &AppState,
    form: &Form,
    body: &SubmissionBody,
    now: DateTime<Utc>,
) -> Result<NewLead, ApiError> {
    let mut fields = Fields::with_errors(body.problems.clone());
    let mut lead = CreateLead::default();
    for (name, value) in &body.values {
        if name == HONEYPOT {
            continue;
        }
        match FormField::parse(name).filter(|f| form.fields.contains(f)) {
            Some(field) => set(&mut fields, &mut lead, field, value),
            None => fields.reject(&field_label(name), "unknown_field", "is not a field of this form"),
        }
    }
    for required in &form.required_fields {
        let name = required.as_str();
        if body.get(name).is_none_or(|v| v.trim().is_empty()) {
            fields.reject(name, "required", "is required");
        }
    }
    lead.source = Some(form.source.clone());
    let base_currency = state.store.organization(form.organization_id).await?.base_currency;
    // The owner is picked by the store, in the transaction that counts the turn.
    let lead_fields = lead_fields(&mut fields, &lead, Uuid::nil(), base_currency);
    let progress = new_progress(&mut fields, &lead, now);
    fields.finish(|| NewLead {
        fields: lead_fields,
        progress: progress.expect("valid when no field was rejected"),
        form_id: Some(form.id),
        created_at: now,
    })
}

/// Puts one submitted value into the lead, converting what is not text.
fn set(fields: &mut Fields, lead: &mut CreateLead, field: FormField, value: &str) {
    let text = Some(value.to_owned());
    match field {
        FormField::FirstName => lead.first_name = text,
        FormField::LastName => lead.last_name = text,
        FormField::Email => lead.email = text,
        FormField::Phone => lead.phone = text,
        FormField::CompanyName => lead.company_name = text,
        FormField::Title => lead.title = text,
        FormField::Industry => lead.industry = text,
        FormField::Country => lead.country = text,
        FormField::EstimatedValue => lead.estimated_value = text,
        FormField::Currency => lead.currency = Some(value.to_owned()).filter(|v| !v.trim().is_empty()),
        FormField::EmployeeCount => {
            let raw = value.trim();
            if !raw.is_empty() {
                lead.employee_count = fields.check(
                    "employee_count",
                    raw.parse::<i64>().map_err(|_| "must be a whole number"),
                );
            }
        }
        FormField::ValuePeriod => {
            let raw = value.trim();
            if !raw.is_empty() {
                lead.value_period = fields
                    .check(
                        "value_period",
                        ValuePeriod::parse(raw).ok_or("must be one of month, quarter, year"),
                    )
                    .map(ValuePeriodName::from);
            }
        }
    }
}

/// Success, as the caller expects it: a browser posting a form with a
/// redirect goes there; everyone else gets 201.
fn accepted(form: &Form, kind: BodyKind) -> HttpResponse {
    match (kind, &form.redirect_url) {
        (BodyKind::UrlEncoded, Some(url)) => see_other(url),
        _ => HttpResponse::Created().json(Accepted { status: "accepted" }),
    }
}

fn see_other(url: &str) -> HttpResponse {
    HttpResponse::build(StatusCode::SEE_OTHER)
        .insert_header((header::LOCATION, url))
        .finish()
}

/// `url` with `pair` added to its query, before any fragment.
fn with_query(url: &str, pair: &str) -> String {
    let (base, fragment) = match url.split_once('#') {
        Some((base, fragment)) => (base, Some(fragment)),
        None => (url, None),
    };
    let separator = match base.find('?') {
        None => "?",
        Some(i) if i + 1 == base.len() || base.ends_with('&') => "",
        Some(_) => "&",
    };
    match fragment {
        Some(fragment) => format!("{base}{separator}{pair}#{fragment}"),
        None => format!("{base}{separator}{pair}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_error_goes_into_the_query_before_the_fragment() {
        let cases = [
            ("https://a.example/thanks", "https://a.example/thanks?error=validation"),
            ("https://a.example/t?x=1", "https://a.example/t?x=1&error=validation"),
            ("https://a.example/t?", "https://a.example/t?error=validation"),
            ("https://a.example/t?x=1&", "https://a.example/t?x=1&error=validation"),
            ("https://a.example/t#form", "https://a.example/t?error=validation#form"),
            ("https://a.example/t?x#f", "https://a.example/t?x&error=validation#f"),
        ];
        for (url, expected) in cases {
            assert_eq!(with_query(url, "error=validation"), expected, "{url}");
        }
    }
}
