//! A lead's look-alike potential: what the organization's customers that
//! resemble it spent in a year (metrics.md, "Lead potential and predicted
//! conversion"), and `GET /leads/{id}/potential`.

use actix_web::{get, web};
use chrono::{DateTime, Duration, Utc};
use pipewise_domain::{
    money::round_money,
    potential::{MatchLevel, Potential},
    Lead,
};
use pipewise_storage::{CustomerYear, ProfilePotential};
use rust_decimal::{prelude::ToPrimitive, Decimal};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::{
    error::ApiError,
    extract::{Caller, Read},
    routes::{lead_input::ValuePeriodName, leads::visible_lead, reports::common::money},
    state::AppState,
};

/// The organization's customers in the year before an instant, grouped
/// for estimates (`state.store.customer_year(org, as_of)`).
pub type Customers = CustomerYear;

/// Every profile the organization's live leads (of `owner`, when given)
/// have, with its estimate, for the list sorted by potential.
pub async fn profile_potentials(
    state: &AppState,
    customers: &Customers,
    org: Uuid,
    owner: Option<Uuid>,
) -> Result<Vec<ProfilePotential>, ApiError> {
    if customers.look_alikes.customers() == 0 {
        return Ok(Vec::new());
    }
    let (from, to) = (DateTime::UNIX_EPOCH, DateTime::UNIX_EPOCH + Duration::days(365 * 8000));
    let mut profiles: Vec<ProfilePotential> = state
        .store
        .lead_profiles(org, from, to, owner, None)
        .await?
        .into_iter()
        .filter_map(|p| {
            let median = round_money(customers.look_alikes.potential(&p.profile())?.median);
            Some(ProfilePotential {
                industry: p.industry,
                band: p.band,
                country: p.country,
                minor: (median * Decimal::ONE_HUNDRED).to_i64()?,
            })
        })
        .collect();
    // One row per profile: the query counted them per source too.
    profiles.sort_by(|a, b| (&a.industry, &a.band, &a.country).cmp(&(&b.industry, &b.band, &b.country)));
    profiles.dedup_by(|a, b| (&a.industry, &a.band, &a.country) == (&b.industry, &b.band, &b.country));
    Ok(profiles)
}

/// Which customers an estimate compared the lead with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MatchLevelName {
    /// Same industry, employee band and country.
    IndustryBandCountry,
    /// Same industry and employee band.
    IndustryBand,
    /// Same employee band.
    Band,
    /// Every customer.
    AllCustomers,
}

impl From<MatchLevel> for MatchLevelName {
    fn from(level: MatchLevel) -> Self {
        match level {
            MatchLevel::IndustryBandCountry => Self::IndustryBandCountry,
            MatchLevel::IndustryBand => Self::IndustryBand,
            MatchLevel::Band => Self::Band,
            MatchLevel::Everyone => Self::AllCustomers,
        }
    }
}

/// A spend estimate: the quartiles of the look-alike customers' spend.
#[derive(Serialize, ToSchema)]
pub struct SpendRange {
    #[schema(example = "12000.00")]
    pub median: String,
    #[schema(example = "8000.00")]
    pub p25: String,
    #[schema(example = "20000.00")]
    pub p75: String,
}

impl SpendRange {
    fn of(p: &Potential) -> Self {
        Self {
            median: money(p.median),
            p25: money(p.p25),
            p75: money(p.p75),
        }
    }
}

/// What a lead could spend, from the customers like it.
#[derive(Serialize, ToSchema)]
pub struct PotentialView {
    pub lead_id: Uuid,
    /// The year of won deals the customers are taken from ends here.
    pub as_of: DateTime<Utc>,
    /// The base currency of every amount.
    #[schema(example = "EUR")]
    pub currency: String,
    /// Always `year`: `potential` is a year's spend.
    #[schema(example = "year")]
    pub period: String,
    /// Median and quartiles (linear interpolation between the closest
    /// ranks) of the look-alike customers' yearly spend; `null` without any customer.
    pub potential: Option<SpendRange>,
    /// The same per the lead's `value_period` (a year divided by 12 or 4);
    /// `null` without a value period or a potential.
    pub per_value_period: Option<SpendRange>,
    pub value_period: Option<ValuePeriodName>,
    /// How many customers the figures are taken over.
    #[schema(example = 14)]
    pub sample: u64,
    /// The closest level with at least 5 customers (every customer when
    /// none has); `null` without any customer.
    pub matched_on: Option<MatchLevelName>,
    /// Every customer of the organization in the year.
    #[schema(example = 320)]
    pub customers: u64,
    /// The lead's own estimate, per `value_period`, in `estimated_value_currency`: never replaced.
    #[schema(example = "1200.00")]
    pub estimated_value: Option<String>,
    #[schema(example = "EUR")]
    pub estimated_value_currency: String,
    /// Won deals of the year left out: no rate for their currency.
    pub unconverted_deals: u64,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PotentialQuery {
    /// The instant the year of customers ends at. Default: now.
    pub as_of: Option<DateTime<Utc>>,
}

/// Estimate a lead's potential
///
/// What the lead could spend in a year, estimated from the organization's
/// customers like it: the accounts with a deal won in the 365 days before
/// `as_of`, compared by the same industry, employee band (1–10, 11–50,
/// 51–200, 201–1000, 1001–5000, 5001+) and country, then industry and
/// band, then band, then every customer, until at least 5 match. The
/// median and quartiles of their yearly spend, in the base currency, and
/// the same per the lead's `value_period`, beside the lead's own
/// `estimated_value`. Reps see only their own leads (404 otherwise).
#[utoipa::path(
    tag = "leads",
    params(("id" = Uuid, Path, description = "The lead's id"), PotentialQuery),
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, body = PotentialView),
        crate::problem::ReadOneErrors,
    )
)]
#[get("/leads/{id}/potential")]
pub async fn lead_potential(
    caller: Caller<Read>,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    query: web::Query<PotentialQuery>,
) -> Result<web::Json<PotentialView>, ApiError> {
    let lead = visible_lead(&caller, &state, *id).await?;
    let as_of = query.as_of.unwrap_or_else(Utc::now);
    let customers = state.store.customer_year(caller.organization_id(), as_of).await?;
    let potential = customers.potential(&lead);
    Ok(web::Json(PotentialView {
        lead_id: lead.id,
        as_of,
        currency: customers.currency.clone(),
        period: "year".to_owned(),
        per_value_period: potential
            .as_ref()
            .zip(lead.value_period)
            .map(|(p, period)| SpendRange::of(&p.per(period))),
        potential: potential.as_ref().map(SpendRange::of),
        value_period: lead.value_period.map(Into::into),
        sample: potential.as_ref().map_or(0, |p| p.sample as u64),
        matched_on: potential.as_ref().map(|p| p.matched_on.into()),
        customers: customers.look_alikes.customers() as u64,
        estimated_value: lead.estimated_value.map(|v| v.to_string()),
        estimated_value_currency: lead.currency.as_str().to_owned(),
        unconverted_deals: customers.unconverted_deals,
    }))
}

/// A lead's median look-alike potential, as lists show it.
pub fn median(customers: &Customers, lead: &Lead) -> Option<Decimal> {
    customers.potential(lead).map(|p| p.median)
}
