//! `GET /leads/{id}/prediction`: a lead's predicted conversion, explained
//! field by field (metrics.md, "Lead potential and predicted conversion").

use actix_web::{get, web};
use pipewise_domain::prediction::{Factor, Features, Field, MIN_CLOSED_LEADS, SMOOTHING};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::{
    error::ApiError,
    extract::{Caller, Read},
    routes::leads::visible_lead,
    state::AppState,
};

/// A field the prediction looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PredictionFieldName {
    Source,
    Industry,
    EmployeeBand,
    Country,
    EmailDomainKind,
}

impl From<Field> for PredictionFieldName {
    fn from(f: Field) -> Self {
        match f {
            Field::Source => Self::Source,
            Field::Industry => Self::Industry,
            Field::EmployeeBand => Self::EmployeeBand,
            Field::Country => Self::Country,
            Field::EmailDomainKind => Self::EmailDomainKind,
        }
    }
}

/// One field's part in a prediction.
#[derive(Serialize, ToSchema)]
pub struct PredictionFactorView {
    pub field: PredictionFieldName,
    /// The lead's value (`employee_band`: `1-10`, `11-50`, `51-200`,
    /// `201-1000`, `1001-5000` or `5001+`; `email_domain_kind`: `business`
    /// or `free`); `null` when the lead has none, which is a value of its own.
    #[schema(example = "Software")]
    pub value: Option<String>,
    /// Closed leads with this value that converted.
    #[schema(example = 8)]
    pub converted: u64,
    /// Closed leads with this value that were unqualified.
    #[schema(example = 0)]
    pub unqualified: u64,
    /// ((converted + 0.1) / all converted) ÷ ((unqualified + 0.1) / all
    /// unqualified): above 1 the value speaks for converting, below 1 against.
    #[schema(example = 121.5)]
    pub likelihood_ratio: f64,
}

impl From<Factor> for PredictionFactorView {
    fn from(f: Factor) -> Self {
        Self {
            field: f.field.into(),
            value: f.value,
            converted: f.successes,
            unqualified: f.failures,
            likelihood_ratio: f.likelihood_ratio,
        }
    }
}

/// Why a lead is predicted to convert, or not.
#[derive(Serialize, ToSchema)]
pub struct PredictionView {
    pub lead_id: Uuid,
    /// The probability (0–1) that the lead converts: the prior odds times
    /// every likelihood ratio, as a probability. `null` until there are
    /// `minimum_closed_leads` closed leads with at least one of each outcome.
    #[schema(example = 0.87, minimum = 0, maximum = 1)]
    pub predicted_conversion: Option<f64>,
    /// converted / (converted + unqualified): the probability before looking at the lead.
    #[schema(example = 0.4, minimum = 0, maximum = 1)]
    pub prior: Option<f64>,
    /// The closed leads learned from: live leads whose status is `converted` or `unqualified`.
    #[schema(example = 20)]
    pub learned_from: u64,
    #[schema(example = 8)]
    pub converted: u64,
    #[schema(example = 12)]
    pub unqualified: u64,
    /// Added to every count so that a value never seen with one outcome
    /// does not make the other certain.
    #[schema(example = 0.1)]
    pub smoothing: f64,
    #[schema(example = 20)]
    pub minimum_closed_leads: u64,
    /// Every field, the most influential first (furthest from a ratio of
    /// 1); empty while there is no prediction.
    pub factors: Vec<PredictionFactorView>,
}

/// Explain a lead's predicted conversion
///
/// The probability that the lead converts, learned from the organization's
/// closed leads (naive Bayes, as Odoo's predictive lead scoring): for each
/// of source, industry, employee band, country and email domain kind, how
/// many converted and unqualified leads had the lead's value, and the
/// likelihood ratio that makes of it. Updated with every conversion and
/// disqualification. Reps see only their own leads (404 otherwise).
#[utoipa::path(
    tag = "leads",
    params(("id" = Uuid, Path, description = "The lead's id")),
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, body = PredictionView),
        crate::problem::ReadOneErrors,
    )
)]
#[get("/leads/{id}/prediction")]
pub async fn lead_prediction(
    caller: Caller<Read>,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> Result<web::Json<PredictionView>, ApiError> {
    let lead = visible_lead(&caller, &state, *id).await?;
    let tables = state.store.prediction_tables(caller.organization_id()).await?;
    let prediction = tables.predict(&Features::of(&lead));
    Ok(web::Json(PredictionView {
        lead_id: lead.id,
        predicted_conversion: prediction.as_ref().map(|p| p.probability),
        prior: prediction.as_ref().map(|p| p.prior),
        learned_from: tables.successes + tables.failures,
        converted: tables.successes,
        unqualified: tables.failures,
        smoothing: SMOOTHING,
        minimum_closed_leads: MIN_CLOSED_LEADS,
        factors: prediction
            .map(|p| p.factors.into_iter().map(Into::into).collect())
            .unwrap_or_default(),
    }))
}
