//! The caller's organization: its settings and its exchange rates.

use actix_web::{delete, get, http::header, patch, put, web, HttpResponse};
use chrono::{DateTime, Utc};
use pipewise_domain::{Currency, ExchangeRate, MqlThreshold, Name, Organization, OrganizationChanges, TimeZone};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;
use uuid::Uuid;
use validator::Validate;

use crate::{
    error::ApiError,
    extract::{if_match::etag, Admin, Caller, IfMatch, Json, Read},
    state::AppState,
};

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(get_organization)
        .service(update_organization)
        .service(list_exchange_rates)
        .service(put_exchange_rate)
        .service(delete_exchange_rate);
}

#[derive(Serialize, ToSchema)]
pub struct OrganizationView {
    id: Uuid,
    #[schema(example = "Acme Sales")]
    name: String,
    /// Reports are in this currency (ISO 4217).
    #[schema(example = "EUR")]
    base_currency: String,
    /// IANA time zone in which report buckets (months, quarters) are cut.
    #[schema(example = "Europe/Berlin")]
    timezone: String,
    /// Lead score (0–100) at which a lead becomes marketing-qualified.
    #[schema(example = 50, minimum = 0, maximum = 100)]
    mql_threshold: u8,
    version: i64,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<Organization> for OrganizationView {
    fn from(org: Organization) -> Self {
        Self {
            id: org.id,
            name: org.name.into_string(),
            base_currency: org.base_currency.to_string(),
            timezone: org.timezone.to_string(),
            mql_threshold: org.mql_threshold.value(),
            version: org.version,
            created_at: org.created_at,
            updated_at: org.updated_at,
        }
    }
}

fn organization_response(org: Organization) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header(etag(org.version))
        .json(OrganizationView::from(org))
}

#[derive(Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateOrganization {
    #[schema(example = "Acme Sales EMEA", min_length = 1, max_length = 200)]
    name: Option<String>,
    #[schema(example = "EUR", min_length = 3, max_length = 3)]
    base_currency: Option<String>,
    #[schema(example = "Europe/Berlin", max_length = 64)]
    timezone: Option<String>,
    #[schema(example = 60, minimum = 0, maximum = 100)]
    mql_threshold: Option<i64>,
}

/// Get the organization
///
/// The caller's organization.
#[utoipa::path(
    tag = "organization",
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, body = OrganizationView, headers(("ETag" = String))),
        crate::problem::AuthErrors,
    )
)]
#[get("/organization")]
async fn get_organization(caller: Caller<Read>, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    Ok(organization_response(
        state.store.organization(caller.organization_id()).await?,
    ))
}

/// Update the organization
///
/// Change the organization's settings (admins only).
#[utoipa::path(
    tag = "organization",
    params(("If-Match" = Option<String>, Header, description = "The ETag last seen; 412 if stale")),
    request_body = UpdateOrganization,
    security(("bearer" = [])),
    responses(
        (status = 200, body = OrganizationView, headers(("ETag" = String))),
        (status = 400, response = crate::problem::BadRequest),
        (status = 401, response = crate::problem::Unauthorized),
        (status = 403, response = crate::problem::Forbidden),
        (status = 412, response = crate::problem::PreconditionFailed),
        (status = 413, response = crate::problem::PayloadTooLarge),
        (status = 415, response = crate::problem::UnsupportedMediaType),
        (status = 422, response = crate::problem::ValidationFailed),
    )
)]
#[patch("/organization")]
async fn update_organization(
    caller: Caller<Admin>,
    state: web::Data<AppState>,
    if_match: IfMatch,
    Json(body, mut fields): Json<UpdateOrganization>,
) -> Result<HttpResponse, ApiError> {
    let changes = OrganizationChanges {
        name: fields.check_opt("name", body.name.as_deref(), Name::parse),
        base_currency: fields.check_opt("base_currency", body.base_currency.as_deref(), Currency::parse),
        timezone: fields.check_opt("timezone", body.timezone.as_deref(), TimeZone::parse),
        mql_threshold: fields.check_opt("mql_threshold", body.mql_threshold, MqlThreshold::new),
    };
    let changes = fields.finish(|| changes)?;
    let org = state
        .store
        .update_organization(caller.organization_id(), &changes, if_match.0, Utc::now())
        .await?;
    Ok(organization_response(org))
}

/// How much one unit of `currency` is worth in the organization's base currency.
#[derive(Serialize, ToSchema)]
pub struct ExchangeRateView {
    #[schema(example = "USD")]
    currency: String,
    /// A decimal string: 1 `currency` = `rate` base-currency units.
    #[schema(example = "0.92")]
    rate: String,
    updated_at: DateTime<Utc>,
}

#[derive(Serialize, ToSchema)]
pub struct ExchangeRateList {
    data: Vec<ExchangeRateView>,
    /// Always `null`: an organization has at most one rate per currency.
    next_cursor: Option<String>,
}

#[derive(Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PutExchangeRate {
    /// A positive decimal string with at most 10 decimal places.
    #[schema(example = "0.92", max_length = 32)]
    rate: String,
}

/// List exchange rates
///
/// The organization's exchange rates, by currency code.
#[utoipa::path(
    tag = "organization",
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, body = ExchangeRateList),
        crate::problem::AuthErrors,
    )
)]
#[get("/exchange-rates")]
async fn list_exchange_rates(caller: Caller<Read>, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let rates = state.store.exchange_rates(caller.organization_id()).await?;
    let data = rates
        .into_iter()
        .map(|(currency, rate, updated_at)| ExchangeRateView {
            currency: currency.to_string(),
            rate: rate.value().to_string(),
            updated_at,
        })
        .collect();
    Ok(HttpResponse::Ok().json(ExchangeRateList {
        data,
        next_cursor: None,
    }))
}

/// Set an exchange rate
///
/// Set the rate of a currency (admins only). Deals in a currency without a
/// rate are left out of money sums in reports and counted as unconverted.
#[utoipa::path(
    tag = "organization",
    params(("currency" = String, Path, description = "ISO 4217 code, not the base currency", example = "USD")),
    request_body = PutExchangeRate,
    security(("bearer" = [])),
    responses(
        (status = 200, body = ExchangeRateView),
        crate::problem::CreateErrors,
    )
)]
#[put("/exchange-rates/{currency}")]
async fn put_exchange_rate(
    caller: Caller<Admin>,
    state: web::Data<AppState>,
    currency: web::Path<String>,
    Json(body, fields): Json<PutExchangeRate>,
) -> Result<HttpResponse, ApiError> {
    fields.finish(|| ())?;
    let currency = path_currency(&currency)?;
    let rate = ExchangeRate::parse(&body.rate).map_err(|e| ApiError::invalid("rate", "invalid", e))?;
    let org = state.store.organization(caller.organization_id()).await?;
    if currency == org.base_currency {
        return Err(ApiError::invalid(
            "currency",
            "base_currency",
            "is the base currency, whose rate is always 1",
        ));
    }
    let updated_at = state
        .store
        .put_exchange_rate(org.id, currency, rate, Utc::now())
        .await?;
    Ok(HttpResponse::Ok().json(ExchangeRateView {
        currency: currency.to_string(),
        rate: rate.value().to_string(),
        updated_at,
    }))
}

/// Remove an exchange rate
///
/// Remove the rate of a currency (admins only).
#[utoipa::path(
    tag = "organization",
    params(("currency" = String, Path, description = "ISO 4217 code", example = "USD")),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Removed"),
        crate::problem::ReadOneErrors,
    )
)]
#[delete("/exchange-rates/{currency}")]
async fn delete_exchange_rate(
    caller: Caller<Admin>,
    state: web::Data<AppState>,
    currency: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let currency = path_currency(&currency)?;
    state
        .store
        .delete_exchange_rate(caller.organization_id(), currency)
        .await?;
    Ok(HttpResponse::NoContent()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish())
}

fn path_currency(raw: &str) -> Result<Currency, ApiError> {
    Currency::parse(raw).map_err(|e| ApiError::BadRequest(format!("currency in the path {e}.")))
}
