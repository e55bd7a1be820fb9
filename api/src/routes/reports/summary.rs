//! `GET /reports/summary`: won and lost, win rate, deal size, cycle, open
//! deals and sales velocity, in total and per owner, source or pipeline.

use actix_web::{get, web, HttpRequest, HttpResponse};
use chrono::Utc;
use pipewise_domain::{deal::DealStatus, report::median};
use pipewise_storage::reports::{DealSet, Drill, Fact, Grouping, Question, Sample};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{
    common::{days, money, CommonQuery, Context, Definition, FormatQuery, Tally, TOTAL},
    csv::{opt, text, Report, Table},
    facts, group_key, key_filter, samples,
};
use crate::{
    error::ApiError,
    extract::{Caller, Reports},
    state::AppState,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum GroupBy {
    Owner,
    Source,
    Pipeline,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SummaryQuery {
    /// One row per owner, source or pipeline beside the total.
    #[param(inline)]
    pub group_by: Option<GroupBy>,
}

pub fn grouping(group_by: Option<GroupBy>) -> Grouping {
    match group_by {
        None => Grouping::Total,
        Some(GroupBy::Owner) => Grouping::Owner,
        Some(GroupBy::Source) => Grouping::Source,
        Some(GroupBy::Pipeline) => Grouping::Pipeline,
    }
}

/// The deals a measure of the summary counts: `won`, `lost` or `open`.
pub fn set(ctx: &Context, measure: &str, grouping: Grouping) -> Option<DealSet> {
    let closed = |status| DealSet::Closed {
        status,
        from: ctx.period.from,
        to: ctx.period.to,
        grouping: grouping.clone(),
    };
    match measure {
        "won" => Some(closed(DealStatus::Won)),
        "lost" => Some(closed(DealStatus::Lost)),
        "open" => Some(DealSet::OpenAt {
            at: ctx.period_end(),
            grouping: grouping.clone(),
        }),
        _ => None,
    }
}

pub const MEASURES: &[&str] = &["won", "lost", "open"];

#[derive(Serialize, ToSchema)]
pub struct SummaryReport {
    definition: Definition,
    /// Deals left out of money sums because their currency has no exchange rate.
    unconverted_deals: u64,
    #[schema(inline)]
    group_by: Option<GroupBy>,
    total: SummaryRow,
    /// One row per group when `group_by` is given, largest won amount first; else empty.
    rows: Vec<SummaryRow>,
}

impl Serialize for GroupBy {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(match self {
            GroupBy::Owner => "owner",
            GroupBy::Source => "source",
            GroupBy::Pipeline => "pipeline",
        })
    }
}

#[derive(Serialize, ToSchema)]
pub struct SummaryRow {
    /// `total`, or the group's owner id, pipeline id or source (`(none)`
    /// for deals without a source): the `row` of a drill-down.
    #[schema(example = "total")]
    key: String,
    won_count: u64,
    #[schema(example = "125000.00")]
    won_amount: String,
    lost_count: u64,
    #[schema(example = "40000.00")]
    lost_amount: String,
    /// won_count / (won_count + lost_count).
    win_rate: Option<f64>,
    /// won_amount / the number of won deals summed.
    #[schema(example = "12500.00")]
    avg_deal_size: Option<String>,
    /// Mean of closed_at − created_at over the won deals, in days.
    avg_sales_cycle_days: Option<f64>,
    median_sales_cycle_days: Option<f64>,
    /// Deals open at min(to, as_of).
    open_count: u64,
    #[schema(example = "310000.00")]
    open_amount: String,
    /// open_count × avg_deal_size × win_rate / avg_sales_cycle_days: money per day.
    #[schema(example = "2150.75")]
    sales_velocity: Option<String>,
}

impl Report for SummaryReport {
    const NAME: &'static str = "summary";
    fn definition(&self) -> &Definition {
        &self.definition
    }
    fn table(&self) -> Table {
        Table {
            columns: &[
                "key",
                "won_count",
                "won_amount",
                "lost_count",
                "lost_amount",
                "win_rate",
                "avg_deal_size",
                "avg_sales_cycle_days",
                "median_sales_cycle_days",
                "open_count",
                "open_amount",
                "sales_velocity",
            ],
            rows: std::iter::once(&self.total)
                .chain(&self.rows)
                .map(|r| {
                    vec![
                        text(&r.key),
                        r.won_count.to_string(),
                        r.won_amount.clone(),
                        r.lost_count.to_string(),
                        r.lost_amount.clone(),
                        opt(r.win_rate),
                        opt(r.avg_deal_size.clone()),
                        opt(r.avg_sales_cycle_days),
                        opt(r.median_sales_cycle_days),
                        r.open_count.to_string(),
                        r.open_amount.clone(),
                        opt(r.sales_velocity.clone()),
                    ]
                })
                .collect(),
        }
    }
}

/// Pipeline summary
///
/// Won and lost deals of the period [from, to) (by `closed_at`, among the
/// deals whose current status is won or lost: a deal reopened since no
/// longer counts), win rate, average deal size, average and median sales
/// cycle (created_at to closed_at), the deals open at min(to, as_of), and
/// sales velocity, as defined in metrics.md. With `group_by`, one row per
/// owner (the deal's current owner), source, or pipeline (the one the deal
/// closed in, or was open in at min(to, as_of)). Trashed deals are not
/// counted. Amounts are in the base currency; a deal in a currency without
/// an exchange rate is counted but left out of every sum and average of
/// money (`unconverted_deals`).
#[utoipa::path(
    tag = "reports",
    params(CommonQuery, FormatQuery, SummaryQuery),
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, content((SummaryReport = "application/json"), (String = "text/csv"))),
        crate::problem::ReportErrors,
    )
)]
#[get("/reports/summary")]
pub(super) async fn summary(
    req: HttpRequest,
    caller: Caller<Reports>,
    state: web::Data<AppState>,
    common: web::Query<CommonQuery>,
    format: web::Query<FormatQuery>,
    query: web::Query<SummaryQuery>,
) -> Result<HttpResponse, ApiError> {
    let ctx = Context::new(&req, &caller, &state, &common, format.format, Utc::now()).await?;
    let grouping = grouping(query.group_by);
    let sets: Vec<DealSet> = MEASURES
        .iter()
        .map(|m| set(&ctx, m, grouping.clone()).expect("a summary measure"))
        .collect();
    let mut questions: Vec<Question> = sets.iter().cloned().map(Question::Facts).collect();
    questions.push(Question::Samples(sets[0].clone()));
    let answers = state
        .store
        .report(caller.organization_id(), &ctx.scope, &questions)
        .await?;
    let (won, lost, open) = (facts(&answers[0]), facts(&answers[1]), facts(&answers[2]));
    let cycles = samples(&answers[3]);
    let mut definition = ctx.definition();
    let all = |_: &str| true;
    let total = row(&ctx, TOTAL, &all, won, lost, open, cycles, &grouping, &mut definition);
    let mut keys: Vec<String> = [won, lost, open]
        .iter()
        .flat_map(|facts| facts.iter().map(|f| group_key(f, &grouping)))
        .collect();
    keys.sort();
    keys.dedup();
    let mut rows: Vec<SummaryRow> = if grouping == Grouping::Total {
        Vec::new()
    } else {
        keys.iter()
            .map(|key| {
                let this = |k: &str| k == key;
                row(&ctx, key, &this, won, lost, open, cycles, &grouping, &mut definition)
            })
            .collect()
    };
    rows.sort_by(|a, b| {
        let amount = |r: &SummaryRow| r.won_amount.parse::<Decimal>().unwrap_or_default();
        amount(b).cmp(&amount(a)).then_with(|| a.key.cmp(&b.key))
    });
    let unconverted_deals = [won, lost, open].iter().map(|f| ctx.rates.tally(*f).unconverted).sum();
    let report = SummaryReport {
        definition,
        unconverted_deals,
        group_by: query.group_by,
        total,
        rows,
    };
    Ok(super::csv::respond(&ctx, &report))
}

#[allow(clippy::too_many_arguments)]
fn row(
    ctx: &Context,
    key: &str,
    admits: &dyn Fn(&str) -> bool,
    won: &[Fact],
    lost: &[Fact],
    open: &[Fact],
    cycles: &[Sample],
    grouping: &Grouping,
    definition: &mut Definition,
) -> SummaryRow {
    let pick = |facts: &[Fact]| -> Tally {
        ctx.rates
            .tally(facts.iter().filter(|f| admits(&group_key(f, grouping))))
    };
    let (won, lost, open) = (pick(won), pick(lost), pick(open));
    let win_rate = definition.ratio(key, "win_rate", won.count, won.count + lost.count);
    let cycle_days: Vec<f64> = cycles
        .iter()
        .filter(|s| admits(&super::sample_key(s, grouping)))
        .flat_map(|s| s.ms.iter().map(|ms| days(*ms)))
        .collect();
    let avg_deal_size = won.mean_amount();
    // Exact until the one rounding at output: the cycle in days is Σms / n / 86 400 000.
    let sales_velocity = match (avg_deal_size, won.count + lost.count) {
        (Some(size), decided) if decided > 0 && won.ms > 0 => Some(
            size * Decimal::from(open.count) * Decimal::from(won.count) / Decimal::from(decided)
                * Decimal::from(won.count)
                * Decimal::from(86_400_000u64)
                / Decimal::from(won.ms),
        ),
        _ => None,
    };
    SummaryRow {
        key: key.to_owned(),
        won_count: won.count,
        won_amount: money(won.amount),
        lost_count: lost.count,
        lost_amount: money(lost.amount),
        win_rate,
        avg_deal_size: avg_deal_size.map(money),
        avg_sales_cycle_days: won.mean_days(),
        median_sales_cycle_days: median(&cycle_days),
        open_count: open.count,
        open_amount: money(open.amount),
        sales_velocity: sales_velocity.map(money),
    }
}

/// The drill-down of a summary row.
pub fn drill(ctx: &Context, group_by: Option<GroupBy>, row: &str, measure: &str) -> Result<(DealSet, Drill), ApiError> {
    let grouping = grouping(group_by);
    let set = set(ctx, measure, grouping.clone()).ok_or_else(|| super::unknown_measure(MEASURES))?;
    Ok((set, key_filter(&grouping, row)?))
}
