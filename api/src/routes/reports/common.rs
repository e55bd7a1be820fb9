//! What every report shares: its parameters as parsed, the `definition`
//! block that says what was counted, and money in the base currency.

use actix_web::{http::header, HttpRequest};
use chrono::{DateTime, NaiveDate, Utc};
use pipewise_domain::{
    money::round_money,
    report::{local_date, parse_bound, ratio, resolve_period, Period},
    Organization, Pipeline, Stage,
};
use pipewise_storage::reports::{Fact, ReportScope};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::{error::ApiError, extract::Caller, state::AppState};

/// The parameters every report takes.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CommonQuery {
    /// Start of the period (inclusive): an RFC 3339 instant, or a date read
    /// as local midnight in the organization's time zone. Default: the
    /// start of the current calendar month.
    #[param(max_length = 40, example = "2026-01-01")]
    pub from: Option<String>,
    /// End of the period (exclusive), as `from`. Default: the end of the
    /// current calendar month (or now, when only `from` is given).
    #[param(max_length = 40, example = "2026-04-01")]
    pub to: Option<String>,
    /// The instant "now" for point-in-time figures. Default: the request time.
    pub as_of: Option<DateTime<Utc>>,
    /// Only this pipeline.
    pub pipeline_id: Option<Uuid>,
    /// Only deals (leads, activities) of this owner.
    pub owner_id: Option<Uuid>,
    /// Only deals (leads) of this source.
    #[param(max_length = 100)]
    pub source: Option<String>,
}

/// How a report answers.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FormatQuery {
    /// `csv` for a CSV download (as `Accept: text/csv`); default JSON.
    #[param(inline)]
    pub format: Option<FormatName>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FormatName {
    Json,
    Csv,
}

/// A report's parameters, checked, with the organization they apply to.
pub struct Context {
    pub organization: Organization,
    /// Every pipeline of the organization, with its stages in position order.
    pub pipelines: Vec<Pipeline>,
    pub period: Period,
    pub as_of: DateTime<Utc>,
    pub scope: ReportScope,
    pub rates: Rates,
    pub csv: bool,
}

impl Context {
    pub async fn new<P>(
        req: &HttpRequest,
        caller: &Caller<P>,
        state: &AppState,
        query: &CommonQuery,
        format: Option<FormatName>,
        now: DateTime<Utc>,
    ) -> Result<Self, ApiError> {
        let org = caller.organization_id();
        let organization = state.store.organization(org).await?;
        let tz = organization.timezone.tz();
        let bound = |name: &str, raw: &Option<String>| {
            raw.as_deref()
                .map(|r| parse_bound(r).map_err(|e| ApiError::invalid(name, "format", e)))
                .transpose()
        };
        let from = bound("from", &query.from)?;
        let to = bound("to", &query.to)?;
        let period = resolve_period(from, to, tz, now).map_err(|e| {
            let field = match e {
                pipewise_domain::report::PeriodError::MissingFrom => "from",
                pipewise_domain::report::PeriodError::FromNotBeforeTo => "from",
                pipewise_domain::report::PeriodError::TooLong => "to",
            };
            ApiError::invalid(field, "invalid", e)
        })?;
        let pipelines = state
            .store
            .pipelines(
                org,
                pipewise_storage::Page {
                    after: None,
                    limit: 1000,
                },
            )
            .await?;
        if let Some(pipeline) = query.pipeline_id {
            if !pipelines.iter().any(|p| p.id == pipeline) {
                return Err(ApiError::invalid(
                    "pipeline_id",
                    "invalid",
                    "must be a pipeline of the organization",
                ));
            }
        }
        let rates = Rates::load(state, &organization).await?;
        let wants_csv = req
            .headers()
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|accept| accept.contains("text/csv"));
        Ok(Self {
            rates,
            period,
            as_of: query.as_of.unwrap_or(now),
            scope: ReportScope {
                visible_owner: caller.visible_owner(),
                owner_id: query.owner_id,
                source: query.source.clone(),
                pipeline_id: query.pipeline_id,
            },
            csv: match format {
                Some(FormatName::Csv) => true,
                Some(FormatName::Json) => false,
                None => wants_csv,
            },
            organization,
            pipelines,
        })
    }

    /// The stages the report's rows are about: the scope's pipeline's, or
    /// every pipeline's, in pipeline and position order.
    pub fn stages(&self) -> impl Iterator<Item = &Stage> {
        self.pipelines
            .iter()
            .filter(|p| self.scope.pipeline_id.is_none_or(|id| id == p.id))
            .flat_map(|p| p.stages.iter())
    }

    /// The scope's pipeline, for the reports that compare its stages.
    pub fn required_pipeline(&self) -> Result<&Pipeline, ApiError> {
        let id = self.scope.pipeline_id.ok_or_else(|| {
            ApiError::invalid(
                "pipeline_id",
                "required",
                "this report compares the stages of one pipeline: name it",
            )
        })?;
        Ok(self
            .pipelines
            .iter()
            .find(|p| p.id == id)
            .expect("checked in Context::new"))
    }

    /// min(to, as_of): where "open at the end of the period" is evaluated.
    pub fn period_end(&self) -> DateTime<Utc> {
        self.period.to.min(self.as_of)
    }

    pub fn local_date(&self, at: DateTime<Utc>) -> NaiveDate {
        local_date(at, self.organization.timezone.tz())
    }

    /// The definition block, to which each report adds its ratios and basis.
    pub fn definition(&self) -> Definition {
        Definition {
            period: PeriodView {
                from: self.period.from,
                to: self.period.to,
                time_zone: self.organization.timezone.name().to_owned(),
            },
            as_of: self.as_of,
            filters: Filters {
                pipeline_id: self.scope.pipeline_id,
                owner_id: self.scope.owner_id,
                source: self.scope.source.clone(),
                own_records_only: self.scope.visible_owner.is_some(),
            },
            basis: None,
            currency: self.rates.base.clone(),
            exchange_rates: self
                .rates
                .rates
                .iter()
                .map(|(currency, rate)| RateView {
                    currency: currency.clone(),
                    rate: rate.to_string(),
                })
                .collect(),
            ratios: Vec::new(),
        }
    }
}

/// The organization's exchange rates: 1 unit of a currency = rate units of the base.
pub struct Rates {
    pub base: String,
    pub rates: Vec<(String, Decimal)>,
}

impl Rates {
    /// The organization's base currency and rates.
    pub async fn load(state: &AppState, organization: &Organization) -> Result<Self, ApiError> {
        let rates = state
            .store
            .exchange_rates(organization.id)
            .await?
            .into_iter()
            .map(|(currency, rate, _)| (currency.as_str().to_owned(), rate.value()))
            .collect();
        Ok(Rates {
            base: organization.base_currency.as_str().to_owned(),
            rates,
        })
    }

    pub fn rate(&self, currency: &str) -> Option<Decimal> {
        if currency == self.base {
            return Some(Decimal::ONE);
        }
        self.rates.iter().find(|(c, _)| c == currency).map(|(_, r)| *r)
    }

    /// Counts and sums of `facts` in the base currency.
    pub fn tally<'a>(&self, facts: impl IntoIterator<Item = &'a Fact>) -> Tally {
        let mut tally = Tally::default();
        for fact in facts {
            let n = u64::try_from(fact.n).unwrap_or(0);
            tally.count += n;
            tally.ms += fact.ms.unwrap_or(0);
            match self.rate(&fact.currency) {
                Some(rate) => {
                    tally.summed += n;
                    tally.amount += Decimal::new(fact.minor, 2) * rate;
                    // Σ minor × percent: divide by 100 twice.
                    tally.weighted += Decimal::new(fact.weighted, 4) * rate;
                }
                None => tally.unconverted += n,
            }
        }
        tally
    }
}

/// One group of members: how many, and their money in the base currency.
#[derive(Debug, Clone, Default)]
pub struct Tally {
    pub count: u64,
    /// The members whose amounts were summed (their currency has a rate).
    pub summed: u64,
    /// The members left out of the sums: no rate for their currency.
    pub unconverted: u64,
    pub amount: Decimal,
    pub weighted: Decimal,
    /// Σ of the members' durations in milliseconds.
    pub ms: i64,
}

impl Tally {
    /// The mean amount over the members that were summed.
    pub fn mean_amount(&self) -> Option<Decimal> {
        (self.summed > 0).then(|| self.amount / Decimal::from(self.summed))
    }

    pub fn mean_days(&self) -> Option<f64> {
        (self.count > 0).then(|| days(self.ms) / self.count as f64)
    }
}

pub const MS_PER_DAY: f64 = 86_400_000.0;

pub fn days(ms: i64) -> f64 {
    ms as f64 / MS_PER_DAY
}

/// Money as the API writes it: rounded once, half to even, 2 places.
pub fn money(value: Decimal) -> String {
    let mut rounded = round_money(value);
    rounded.rescale(2);
    rounded.to_string()
}

/// What a report counted, so that a reader can check every figure.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Definition {
    pub period: PeriodView,
    /// The instant point-in-time figures are evaluated at.
    pub as_of: DateTime<Utc>,
    pub filters: Filters,
    /// `cohort` or `flow` for the funnel; `null` elsewhere.
    #[schema(inline)]
    pub basis: Option<Basis>,
    /// The base currency every amount is in.
    #[schema(example = "EUR")]
    pub currency: String,
    /// The rates used: 1 unit of `currency` = `rate` units of the base currency.
    pub exchange_rates: Vec<RateView>,
    /// Every ratio of the report with the counts it divides.
    pub ratios: Vec<RatioView>,
}

impl Definition {
    pub fn ratio(&mut self, row: &str, name: &str, numerator: u64, denominator: u64) -> Option<f64> {
        self.ratios.push(RatioView {
            row: row.to_owned(),
            name: name.to_owned(),
            numerator,
            denominator,
        });
        ratio(numerator, denominator)
    }
}

/// The period as resolved: [from, to).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PeriodView {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// The organization's IANA time zone, in which dates and buckets are read.
    #[schema(example = "Europe/Berlin")]
    pub time_zone: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Filters {
    pub pipeline_id: Option<Uuid>,
    pub owner_id: Option<Uuid>,
    pub source: Option<String>,
    /// The caller is a rep: only their own records were counted.
    pub own_records_only: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Basis {
    Cohort,
    Flow,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RateView {
    #[schema(example = "USD")]
    pub currency: String,
    #[schema(example = "0.92")]
    pub rate: String,
}

/// A ratio of a row: `numerator` / `denominator`, `null` when the denominator is 0.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RatioView {
    /// The row's `key`.
    pub row: String,
    /// The ratio's field name in that row.
    #[schema(example = "win_rate")]
    pub name: String,
    pub numerator: u64,
    pub denominator: u64,
}

/// The key of the row that sums every other.
pub const TOTAL: &str = "total";
/// The key of a group without a value (deals without a source).
pub const NONE: &str = "(none)";
