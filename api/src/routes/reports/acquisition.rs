//! `GET /reports/acquisition`: per lead source, what it cost and what it
//! brought.

use std::collections::BTreeMap;

use actix_web::{get, web, HttpRequest, HttpResponse};
use chrono::Utc;
use pipewise_domain::customers::Month;
use rust_decimal::{prelude::ToPrimitive, Decimal};
use serde::Serialize;
use utoipa::ToSchema;

use super::{
    common::{money, CommonQuery, Context, Definition, FormatQuery, NONE, TOTAL},
    csv::{opt, text, Report, Table},
};
use crate::{
    error::ApiError,
    extract::{Caller, ManagerReports},
    state::AppState,
};

#[derive(Serialize, ToSchema)]
pub struct AcquisitionReport {
    definition: Definition,
    /// Every source, in name order; `(none)` for leads and deals without one.
    sources: Vec<AcquisitionRow>,
    /// The sums of every source.
    total: AcquisitionRow,
    /// Won deals left out of `won_amount`: no rate for their currency.
    unconverted_deals: u64,
    /// Spend entries left out of `spend`: no rate for their currency.
    unconverted_spend_entries: u64,
}

#[derive(Serialize, ToSchema, Default)]
pub struct AcquisitionRow {
    /// The source, `(none)` or `total`.
    #[schema(example = "google_ads")]
    key: String,
    /// What the source cost in the period: each month's spend, a month
    /// partly in the period in proportion to its days in it.
    #[schema(example = "2500.00")]
    spend: String,
    /// Leads created in the period.
    leads: u64,
    /// Accounts whose first won deal ever closed in the period and came from this source.
    new_customers: u64,
    /// Deals of the source won in the period.
    won_deals: u64,
    #[schema(example = "48000.00")]
    won_amount: String,
    /// spend / leads.
    #[schema(example = "25.00")]
    cost_per_lead: Option<String>,
    /// spend / new_customers.
    #[schema(example = "1250.00")]
    customer_acquisition_cost: Option<String>,
    /// won_amount / spend.
    #[schema(example = 19.2)]
    return_on_ad_spend: Option<f64>,
}

impl Report for AcquisitionReport {
    const NAME: &'static str = "acquisition";
    fn definition(&self) -> &Definition {
        &self.definition
    }
    fn table(&self) -> Table {
        let row = |r: &AcquisitionRow| {
            vec![
                text(&r.key),
                r.spend.clone(),
                r.leads.to_string(),
                r.new_customers.to_string(),
                r.won_deals.to_string(),
                r.won_amount.clone(),
                opt(r.cost_per_lead.clone()),
                opt(r.customer_acquisition_cost.clone()),
                opt(r.return_on_ad_spend),
            ]
        };
        let mut rows: Vec<Vec<String>> = self.sources.iter().map(row).collect();
        rows.push(row(&self.total));
        Table {
            columns: &[
                "source",
                "spend",
                "leads",
                "new_customers",
                "won_deals",
                "won_amount",
                "cost_per_lead",
                "customer_acquisition_cost",
                "return_on_ad_spend",
            ],
            rows,
        }
    }
}

/// One source's sums before the ratios.
#[derive(Default)]
struct Sums {
    spend: Decimal,
    leads: u64,
    new_customers: u64,
    won_deals: u64,
    won_amount: Decimal,
}

impl Sums {
    fn add(&mut self, other: &Sums) {
        self.spend += other.spend;
        self.leads += other.leads;
        self.new_customers += other.new_customers;
        self.won_deals += other.won_deals;
        self.won_amount += other.won_amount;
    }

    fn row(&self, key: String) -> AcquisitionRow {
        let per = |amount: Decimal, n: u64| (n > 0).then(|| money(amount / Decimal::from(n)));
        AcquisitionRow {
            spend: money(self.spend),
            leads: self.leads,
            new_customers: self.new_customers,
            won_deals: self.won_deals,
            won_amount: money(self.won_amount),
            cost_per_lead: per(self.spend, self.leads),
            customer_acquisition_cost: per(self.spend, self.new_customers),
            return_on_ad_spend: (!self.spend.is_zero())
                .then(|| (self.won_amount / self.spend).to_f64())
                .flatten(),
            key,
        }
    }
}

/// Acquisition by source
///
/// Per lead source over [from, to): `spend` (the recorded monthly spend,
/// a month partly in the period counting in proportion to its days in it),
/// `leads` created, `new_customers` (accounts whose first won deal ever
/// closed in the period, counted for that deal's source), `won_amount` of
/// the deals won, and `cost_per_lead` = spend / leads,
/// `customer_acquisition_cost` = spend / new_customers, `return_on_ad_spend`
/// = won_amount / spend (`null` for a zero denominator). A deal's source is
/// its own, else that of the lead it was converted from. Managers and
/// admins only (spend is the marketing budget).
#[utoipa::path(
    tag = "reports",
    params(CommonQuery, FormatQuery),
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, content((AcquisitionReport = "application/json"), (String = "text/csv"))),
        crate::problem::ReportErrors,
    )
)]
#[get("/reports/acquisition")]
pub(super) async fn acquisition(
    req: HttpRequest,
    caller: Caller<ManagerReports>,
    state: web::Data<AppState>,
    common: web::Query<CommonQuery>,
    format: web::Query<FormatQuery>,
) -> Result<HttpResponse, ApiError> {
    let ctx = Context::new(&req, &caller, &state, &common, format.format, Utc::now()).await?;
    let org = caller.organization_id();
    let (from, to) = (ctx.period.from, ctx.period.to);
    let tz = ctx.organization.timezone.tz();
    let (local_from, local_to) = (
        from.with_timezone(&tz).naive_local(),
        to.with_timezone(&tz).naive_local(),
    );
    let (first, last) = (Month::of(local_from.date()), Month::of(local_to.date()));
    let spends = state
        .store
        .source_spends(org, &first.to_string(), &last.to_string())
        .await?;
    let figures = state.store.source_figures(org, from, to).await?;

    let mut sums: BTreeMap<String, Sums> = BTreeMap::new();
    let mut unconverted_spend_entries = 0;
    for spend in &spends {
        let month = Month::parse(&spend.month).map_err(|e| ApiError::Internal(Box::new(e)))?;
        let share = month.share_in(local_from, local_to);
        if share.is_zero() {
            continue;
        }
        let entry = sums.entry(spend.source.clone()).or_default();
        match ctx.rates.rate(spend.currency.as_str()) {
            Some(rate) => entry.spend += spend.amount.to_decimal() * rate * share,
            None => unconverted_spend_entries += 1,
        }
    }
    let mut unconverted_deals = 0;
    for f in &figures {
        let entry = sums
            .entry(f.source.clone().unwrap_or_else(|| NONE.to_owned()))
            .or_default();
        let n = u64::try_from(f.n).unwrap_or(0);
        match f.figure.as_str() {
            "leads" => entry.leads += n,
            "new_customers" => entry.new_customers += n,
            _ => {
                entry.won_deals += n;
                match ctx.rates.rate(&f.currency) {
                    Some(rate) => entry.won_amount += Decimal::new(f.minor, 2) * rate,
                    None => unconverted_deals += n,
                }
            }
        }
    }
    let definition = ctx.definition();
    let mut total = Sums::default();
    let sources = sums
        .into_iter()
        .map(|(key, s)| {
            total.add(&s);
            s.row(key)
        })
        .collect();
    let total = total.row(TOTAL.to_owned());
    let report = AcquisitionReport {
        definition,
        sources,
        total,
        unconverted_deals,
        unconverted_spend_entries,
    };
    Ok(super::csv::respond(&ctx, &report))
}
