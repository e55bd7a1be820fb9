//! What each lead source cost per calendar month (`/source-spend`), for the
//! acquisition report. Managers and admins only: spend is the marketing
//! budget.

use actix_web::{delete, get, put, web, HttpResponse};
use chrono::{DateTime, Utc};
use pipewise_domain::{customers::Month, text::optional_text, Amount, Currency};
use pipewise_storage::SourceSpend;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_actix_web::service_config::ServiceConfig;
use validator::Validate;

use crate::{
    error::ApiError,
    extract::{Caller, Json, ManagerRead, ManagerWrite},
    routes::lead_list::SOURCE_MAX,
    state::AppState,
};

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(list_source_spend)
        .service(get_source_spend)
        .service(put_source_spend)
        .service(delete_source_spend);
}

/// What a source cost in a month.
#[derive(Serialize, ToSchema)]
pub struct SourceSpendView {
    /// The lead source, as leads and deals carry it.
    #[schema(example = "google_ads")]
    source: String,
    /// `YYYY-MM`.
    #[schema(example = "2026-03")]
    month: String,
    /// A decimal string in `currency`.
    #[schema(example = "2500.00")]
    amount: String,
    #[schema(example = "EUR")]
    currency: String,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<SourceSpend> for SourceSpendView {
    fn from(s: SourceSpend) -> Self {
        Self {
            source: s.source,
            month: s.month,
            amount: s.amount.to_string(),
            currency: s.currency.as_str().to_owned(),
            created_at: s.created_at,
            updated_at: s.updated_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct SourceSpendList {
    data: Vec<SourceSpendView>,
    /// Always `null`: the months asked for come in one page.
    next_cursor: Option<String>,
}

#[derive(Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PutSourceSpend {
    /// What the source cost in the month: a decimal string, at most 2 decimal places.
    #[schema(example = "2500.00", max_length = 32)]
    amount: String,
    /// ISO 4217; converted to the base currency with the organization's rates.
    #[schema(example = "EUR", max_length = 3)]
    currency: String,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SourceSpendQuery {
    /// First month (`YYYY-MM`, inclusive). Default: the first there is.
    #[param(example = "2026-01", max_length = 7)]
    from: Option<String>,
    /// Last month (`YYYY-MM`, inclusive). Default: the last there is.
    #[param(example = "2026-12", max_length = 7)]
    to: Option<String>,
}

/// The source and month of a path, checked.
fn key(path: &(String, String)) -> Result<(String, Month), ApiError> {
    let source = match optional_text(&path.0, SOURCE_MAX) {
        Ok(Some(source)) if source == path.0 => source,
        _ => {
            return Err(ApiError::BadRequest(format!(
                "source in the path must be 1 to {SOURCE_MAX} characters without surrounding blanks."
            )))
        }
    };
    let month = Month::parse(&path.1).map_err(|e| ApiError::BadRequest(format!("month in the path {e}.")))?;
    Ok((source, month))
}

/// List spend per source
///
/// Every spend entry of the months asked for, by source and month
/// (managers and admins).
#[utoipa::path(
    tag = "acquisition",
    params(SourceSpendQuery),
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, body = SourceSpendList),
        crate::problem::ListErrors,
    )
)]
#[get("/source-spend")]
async fn list_source_spend(
    caller: Caller<ManagerRead>,
    state: web::Data<AppState>,
    query: web::Query<SourceSpendQuery>,
) -> Result<web::Json<SourceSpendList>, ApiError> {
    let month = |raw: &Option<String>, name: &str, default: &str| match raw {
        Some(raw) => Month::parse(raw)
            .map(|m| m.to_string())
            .map_err(|e| ApiError::BadRequest(format!("{name} {e}."))),
        None => Ok(default.to_owned()),
    };
    let from = month(&query.from, "from", "0000-00")?;
    let to = month(&query.to, "to", "9999-99")?;
    let spends = state.store.source_spends(caller.organization_id(), &from, &to).await?;
    Ok(web::Json(SourceSpendList {
        data: spends.into_iter().map(Into::into).collect(),
        next_cursor: None,
    }))
}

/// Get a month's spend of a source
///
/// What the source cost in the month, as recorded (managers and admins);
/// 404 when nothing was recorded for it.
#[utoipa::path(
    tag = "acquisition",
    params(
        ("source" = String, Path, description = "The lead source", example = "google_ads"),
        ("month" = String, Path, description = "`YYYY-MM`", example = "2026-03"),
    ),
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, body = SourceSpendView),
        crate::problem::ReadOneErrors,
    )
)]
#[get("/source-spend/{source}/{month}")]
async fn get_source_spend(
    caller: Caller<ManagerRead>,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<web::Json<SourceSpendView>, ApiError> {
    let (source, month) = key(&path)?;
    let spend = state
        .store
        .source_spend(caller.organization_id(), &source, &month.to_string())
        .await?;
    Ok(web::Json(spend.into()))
}

/// Set a month's spend of a source
///
/// Record what a lead source cost in a calendar month (managers and
/// admins): 201 when new, 200 when it replaces the month's entry. The
/// acquisition report counts a month partly in its period in proportion
/// to its days in the period.
#[utoipa::path(
    tag = "acquisition",
    params(
        ("source" = String, Path, description = "The lead source", example = "google_ads"),
        ("month" = String, Path, description = "`YYYY-MM`", example = "2026-03"),
    ),
    request_body = PutSourceSpend,
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, body = SourceSpendView),
        (status = 201, body = SourceSpendView),
        crate::problem::CreateErrors,
    )
)]
#[put("/source-spend/{source}/{month}")]
async fn put_source_spend(
    caller: Caller<ManagerWrite>,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    Json(body, mut fields): Json<PutSourceSpend>,
) -> Result<HttpResponse, ApiError> {
    let (source, month) = key(&path)?;
    let amount = fields.check("amount", Amount::parse(&body.amount));
    let currency = fields.check("currency", Currency::parse(&body.currency));
    fields.finish(|| ())?;
    let (Some(amount), Some(currency)) = (amount, currency) else {
        unreachable!("checked")
    };
    let (spend, created) = state
        .store
        .put_source_spend(
            caller.organization_id(),
            &source,
            &month.to_string(),
            amount,
            &currency,
            Utc::now(),
        )
        .await?;
    let mut response = if created {
        HttpResponse::Created()
    } else {
        HttpResponse::Ok()
    };
    Ok(response.json(SourceSpendView::from(spend)))
}

/// Remove a month's spend of a source
///
/// Forget what the source cost in the month (managers and admins): the
/// acquisition report counts no spend for it any more.
#[utoipa::path(
    tag = "acquisition",
    params(
        ("source" = String, Path, description = "The lead source", example = "google_ads"),
        ("month" = String, Path, description = "`YYYY-MM`", example = "2026-03"),
    ),
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 204, description = "Removed"),
        crate::problem::ReadOneErrors,
    )
)]
#[delete("/source-spend/{source}/{month}")]
async fn delete_source_spend(
    caller: Caller<ManagerWrite>,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (source, month) = key(&path)?;
    state
        .store
        .delete_source_spend(caller.organization_id(), &source, &month.to_string())
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
