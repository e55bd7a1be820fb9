//! `GET /reports/customers`: customers, retention and lifetime value.

use std::collections::HashSet;

use actix_web::{get, web, HttpRequest, HttpResponse};
use chrono::{Duration, Utc};
use pipewise_domain::customers::lifetime_value;
use pipewise_storage::AccountSpends;
use rust_decimal::Decimal;
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{
    common::{money, CommonQuery, Context, Definition, FormatQuery},
    csv::{opt, Report, Table},
};
use crate::{
    error::ApiError,
    extract::{Caller, ManagerReports},
    state::AppState,
};

/// A year, as the customer windows count it.
pub const YEAR: Duration = Duration::days(pipewise_domain::potential::CUSTOMER_WINDOW_DAYS);

#[derive(Serialize, ToSchema)]
pub struct CustomersReport {
    definition: Definition,
    /// Accounts with a deal won in the year before `as_of`.
    #[schema(example = 120)]
    customers: u64,
    /// Accounts with a deal won in the year before that.
    #[schema(example = 100)]
    previous_customers: u64,
    /// Customers of both years.
    #[schema(example = 70)]
    retained: u64,
    /// retained / previous_customers.
    customer_retention_rate: Option<f64>,
    /// The mean over this year's customers of what each spent in the year,
    /// in the base currency (customers whose won deals all lack a rate are
    /// left out, see `unconverted_deals`).
    #[schema(example = "18250.00")]
    avg_yearly_spend: Option<String>,
    /// avg_yearly_spend / (1 − customer_retention_rate): the geometric
    /// lifetime estimate (a customer stays on average 1 / churn years);
    /// `null` when the rate is `null` or 1.
    #[schema(example = "60833.33")]
    customer_lifetime_value: Option<String>,
    /// Won deals of the year left out of money: no rate for their currency.
    unconverted_deals: u64,
}

impl Report for CustomersReport {
    const NAME: &'static str = "customers";
    fn definition(&self) -> &Definition {
        &self.definition
    }
    fn table(&self) -> Table {
        Table {
            columns: &[
                "customers",
                "previous_customers",
                "retained",
                "customer_retention_rate",
                "avg_yearly_spend",
                "customer_lifetime_value",
                "unconverted_deals",
            ],
            rows: vec![vec![
                self.customers.to_string(),
                self.previous_customers.to_string(),
                self.retained.to_string(),
                opt(self.customer_retention_rate),
                opt(self.avg_yearly_spend.clone()),
                opt(self.customer_lifetime_value.clone()),
                self.unconverted_deals.to_string(),
            ]],
        }
    }
}

/// Customers and lifetime value
///
/// With Y the 365 days before `as_of` and Y₀ the 365 days before Y: a
/// customer of a window is an account with a won deal (`closed_at` in it;
/// live deals of live accounts). `customers` (in Y), `retained` (in Y₀ and
/// Y), `customer_retention_rate` = retained / customers in Y₀,
/// `avg_yearly_spend` = the mean spend in Y per customer in Y, and
/// `customer_lifetime_value` = avg_yearly_spend / (1 − retention rate),
/// the classic geometric-lifetime estimate. Revenue is what the pipeline
/// won. `from`, `to` and the filters do not apply: the windows are set by
/// `as_of`. Managers and admins only (it adds up every rep's deals).
#[utoipa::path(
    tag = "reports",
    params(CommonQuery, FormatQuery),
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, content((CustomersReport = "application/json"), (String = "text/csv"))),
        crate::problem::ReportErrors,
    )
)]
#[get("/reports/customers")]
pub(super) async fn customers(
    req: HttpRequest,
    caller: Caller<ManagerReports>,
    state: web::Data<AppState>,
    common: web::Query<CommonQuery>,
    format: web::Query<FormatQuery>,
) -> Result<HttpResponse, ApiError> {
    let ctx = Context::new(&req, &caller, &state, &common, format.format, Utc::now()).await?;
    let as_of = ctx.as_of;
    let rows = state
        .store
        .account_spend(caller.organization_id(), as_of - YEAR - YEAR, as_of - YEAR, as_of)
        .await?;
    let rate = |currency: &str| ctx.rates.rate(currency);
    let (before, now) = (AccountSpends::of(&rows, 0, rate), AccountSpends::of(&rows, 1, rate));
    let previous: HashSet<&Uuid> = before.by_account.keys().collect();
    let customers = now.by_account.len() as u64;
    let retained = now.by_account.keys().filter(|a| previous.contains(a)).count() as u64;
    let summed: Vec<Decimal> = now.by_account.values().filter_map(|(_, spend)| *spend).collect();
    let avg = (!summed.is_empty()).then(|| summed.iter().sum::<Decimal>() / Decimal::from(summed.len()));
    let mut definition = ctx.definition();
    definition.period.from = as_of - YEAR;
    definition.period.to = as_of;
    let rate = definition.ratio("total", "customer_retention_rate", retained, previous.len() as u64);
    let report = CustomersReport {
        customers,
        previous_customers: previous.len() as u64,
        retained,
        customer_retention_rate: rate,
        avg_yearly_spend: avg.map(money),
        customer_lifetime_value: avg
            .and_then(|avg| lifetime_value(avg, previous.len() as u64, retained))
            .map(money),
        unconverted_deals: now.unconverted_deals,
        definition,
    };
    Ok(super::csv::respond(&ctx, &report))
}
