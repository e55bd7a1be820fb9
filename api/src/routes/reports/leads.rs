//! `GET /reports/leads`: lead volume by source, qualification and
//! conversion rates, lead velocity and first response time.

use actix_web::{get, web, HttpRequest, HttpResponse};
use chrono::{Months, NaiveDate, Utc};
use std::collections::BTreeMap;

use pipewise_domain::report::{buckets, local_midnight, Interval};
use pipewise_storage::reports::{Count, LeadQuery, Question};
use rust_decimal::Decimal;
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{
    common::{money, CommonQuery, Context, Definition, FormatQuery, NONE, TOTAL},
    counts,
    csv::{opt, text, Report, Table},
};
use crate::{
    error::ApiError,
    extract::{Caller, Reports},
    state::AppState,
};

#[derive(Serialize, ToSchema)]
pub struct LeadsReport {
    definition: Definition,
    total: LeadRow,
    /// One row per source, largest lead volume first.
    sources: Vec<LeadRow>,
    /// Mean hours from a lead's creation to its first activity, over the
    /// leads created in the period that have one.
    avg_first_response_hours: Option<f64>,
    /// For each calendar month of the period.
    lead_velocity: Vec<LeadVelocity>,
}

#[derive(Serialize, ToSchema)]
pub struct LeadRow {
    /// `total`, or the source (`(none)` for leads without one).
    #[schema(example = "web")]
    key: String,
    /// Leads created in the period.
    lead_volume: u64,
    /// Leads with `qualified_at` in the period.
    qualified_leads: u64,
    /// Leads with `mql_at` in the period.
    mql_leads: u64,
    /// Of the leads created in the period, those qualified by `as_of` / lead_volume.
    lead_to_qualified_rate: Option<f64>,
    /// Of the leads with `mql_at` in the period, those qualified by `as_of` / mql_leads.
    mql_to_sql_rate: Option<f64>,
    /// Of the leads created in the period, those converted by `as_of` / lead_volume.
    lead_to_deal_rate: Option<f64>,
    /// The sum of the leads' look-alike potential (the median yearly spend
    /// of the customers like each, as of `as_of`, in the base currency):
    /// what the period's leads could bring in a year. `null` without customers.
    #[schema(example = "1250000.00")]
    potential: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct LeadVelocity {
    /// The month's first day.
    #[schema(example = "2026-03-01")]
    key: String,
    month: NaiveDate,
    /// Leads with `qualified_at` in the month.
    qualified: u64,
    /// The same for the month before.
    previous: u64,
    /// (qualified − previous) / previous; `null` when previous is 0.
    rate: Option<f64>,
}

impl Report for LeadsReport {
    const NAME: &'static str = "leads";
    fn definition(&self) -> &Definition {
        &self.definition
    }
    fn table(&self) -> Table {
        Table {
            columns: &[
                "key",
                "lead_volume",
                "qualified_leads",
                "mql_leads",
                "lead_to_qualified_rate",
                "mql_to_sql_rate",
                "lead_to_deal_rate",
                "potential",
            ],
            rows: std::iter::once(&self.total)
                .chain(&self.sources)
                .map(|r| {
                    vec![
                        text(&r.key),
                        r.lead_volume.to_string(),
                        r.qualified_leads.to_string(),
                        r.mql_leads.to_string(),
                        opt(r.lead_to_qualified_rate),
                        opt(r.mql_to_sql_rate),
                        opt(r.lead_to_deal_rate),
                        opt(r.potential.clone()),
                    ]
                })
                .collect(),
        }
    }
}

/// Per source (`(none)` for none), the summed look-alike potential of the
/// leads created in the period that have one.
async fn potential_by_source(state: &AppState, ctx: &Context, org: Uuid) -> Result<Vec<(String, Decimal)>, ApiError> {
    let scope = &ctx.scope;
    if let (Some(me), Some(asked)) = (scope.visible_owner, scope.owner_id) {
        if me != asked {
            return Ok(Vec::new());
        }
    }
    let profiles = state
        .store
        .lead_profiles(
            org,
            ctx.period.from,
            ctx.period.to,
            scope.visible_owner.or(scope.owner_id),
            scope.source.as_deref(),
        )
        .await?;
    let customers = state.store.customer_year(org, ctx.as_of).await?;
    let mut sums: BTreeMap<String, Decimal> = BTreeMap::new();
    for p in &profiles {
        if let Some(estimate) = customers.look_alikes.potential(&p.profile()) {
            let source = p.source.clone().unwrap_or_else(|| NONE.to_owned());
            *sums.entry(source).or_default() += estimate.median * Decimal::from(p.n);
        }
    }
    Ok(sums.into_iter().collect())
}

/// Leads
///
/// Lead figures over [from, to), as metrics.md defines them: volume by
/// source, qualified leads, lead-to-qualified, MQL-to-SQL and
/// lead-to-deal rates (qualified or converted by `as_of`), lead velocity
/// per calendar month of the period (whole months in the organization's
/// time zone), and the mean first response time. Trashed leads are not
/// counted; `owner_id` and `source` filter the leads, `pipeline_id` does
/// not apply. `potential` adds up each lead's look-alike potential (as
/// `GET /leads/{id}/potential` estimates it at `as_of`) by source.
#[utoipa::path(
    tag = "reports",
    params(CommonQuery, FormatQuery),
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, content((LeadsReport = "application/json"), (String = "text/csv"))),
        crate::problem::ReportErrors,
    )
)]
#[get("/reports/leads")]
pub(super) async fn leads(
    req: HttpRequest,
    caller: Caller<Reports>,
    state: web::Data<AppState>,
    common: web::Query<CommonQuery>,
    format: web::Query<FormatQuery>,
) -> Result<HttpResponse, ApiError> {
    let ctx = Context::new(&req, &caller, &state, &common, format.format, Utc::now()).await?;
    let tz = ctx.organization.timezone.tz();
    let months = buckets(ctx.period, Interval::Month, tz);
    let mut month_bounds = Vec::new();
    if let Some(first) = months.first() {
        let before = first
            .start_date
            .checked_sub_months(Months::new(1))
            .unwrap_or(first.start_date);
        month_bounds.push(local_midnight(before, tz));
        month_bounds.extend(months.iter().map(|m| m.start));
        month_bounds.push(months.last().expect("a month").end);
    }
    let answers = state
        .store
        .report(
            caller.organization_id(),
            &ctx.scope,
            &[Question::Leads(LeadQuery {
                from: ctx.period.from,
                to: ctx.period.to,
                as_of: ctx.as_of,
                month_bounds,
            })],
        )
        .await?;
    let counts = counts(&answers[0]);
    let potentials = potential_by_source(&state, &ctx, caller.organization_id()).await?;
    let mut definition = ctx.definition();
    let sum = |measure: &str, source: Option<&str>| -> u64 {
        counts
            .iter()
            .filter(|c| c.measure == measure && source.is_none_or(|s| c.key_text.as_deref().unwrap_or(NONE) == s))
            .map(|c| u64::try_from(c.n).unwrap_or(0))
            .sum()
    };
    let mut row = |key: &str, source: Option<&str>| {
        let volume = sum("created", source);
        let mql = sum("mql", source);
        LeadRow {
            key: key.to_owned(),
            lead_volume: volume,
            qualified_leads: sum("qualified", source),
            mql_leads: mql,
            lead_to_qualified_rate: definition.ratio(
                key,
                "lead_to_qualified_rate",
                sum("created_qualified", source),
                volume,
            ),
            mql_to_sql_rate: definition.ratio(key, "mql_to_sql_rate", sum("mql_qualified", source), mql),
            lead_to_deal_rate: definition.ratio(key, "lead_to_deal_rate", sum("created_converted", source), volume),
            potential: potentials
                .iter()
                .filter(|(s, _)| source.is_none_or(|source| s == source))
                .map(|(_, p)| *p)
                .reduce(|a, b| a + b)
                .map(money),
        }
    };
    let total = row(TOTAL, None);
    let mut sources: Vec<String> = counts
        .iter()
        .filter(|c| c.measure != "first_response" && c.measure != "qualified_monthly")
        .map(|c| c.key_text.clone().unwrap_or_else(|| NONE.to_owned()))
        .collect();
    sources.sort();
    sources.dedup();
    let mut sources: Vec<LeadRow> = sources.iter().map(|s| row(s, Some(s))).collect();
    sources.sort_by(|a, b| b.lead_volume.cmp(&a.lead_volume).then_with(|| a.key.cmp(&b.key)));
    let first: Option<&Count> = counts.iter().find(|c| c.measure == "first_response");
    let avg_first_response_hours = first
        .filter(|c| c.n > 0)
        .map(|c| c.ms.unwrap_or(0) as f64 / 3_600_000.0 / c.n as f64);
    let monthly = |index: i64| -> u64 {
        counts
            .iter()
            .filter(|c| c.measure == "qualified_monthly" && c.key_num == Some(index))
            .map(|c| u64::try_from(c.n).unwrap_or(0))
            .sum()
    };
    let lead_velocity = months
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let (qualified, previous) = (monthly(i as i64 + 1), monthly(i as i64));
            let key = m.start_date.to_string();
            LeadVelocity {
                rate: (previous > 0).then(|| (qualified as f64 - previous as f64) / previous as f64),
                key,
                month: m.start_date,
                qualified,
                previous,
            }
        })
        .collect();
    let report = LeadsReport {
        definition,
        total,
        sources,
        avg_first_response_hours,
        lead_velocity,
    };
    Ok(super::csv::respond(&ctx, &report))
}
