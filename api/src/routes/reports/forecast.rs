//! `GET /reports/forecast`: the open pipeline by expected close date, in
//! calendar buckets, beside what was won in each.

use actix_web::{get, web, HttpRequest, HttpResponse};
use chrono::{Days, NaiveDate, Utc};
use pipewise_domain::{
    deal::DealStatus,
    report::{buckets, Bucket, Interval},
};
use pipewise_storage::reports::{DealSet, Drill, Fact, Grouping, Question};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{
    common::{money, CommonQuery, Context, Definition, FormatQuery},
    csv::{Report, Table},
    facts,
};
use crate::{
    error::ApiError,
    extract::{Caller, Reports},
    state::AppState,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum IntervalName {
    Month,
    Quarter,
    Year,
}

impl From<IntervalName> for Interval {
    fn from(value: IntervalName) -> Self {
        match value {
            IntervalName::Month => Interval::Month,
            IntervalName::Quarter => Interval::Quarter,
            IntervalName::Year => Interval::Year,
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ForecastQuery {
    /// The bucket size: calendar months (default), quarters or years in the organization's time zone.
    #[param(inline)]
    pub interval: Option<IntervalName>,
}

pub const MEASURES: &[&str] = &["open", "commit", "won"];
const UNSCHEDULED: &str = "unscheduled";
const OVERDUE: &str = "overdue";

/// Every bucket and the two sets: open deals by close date, won deals by close instant.
struct Plan {
    buckets: Vec<Bucket>,
    open: DealSet,
    won: DealSet,
}

fn plan(ctx: &Context, interval: Option<IntervalName>) -> Plan {
    let tz = ctx.organization.timezone.tz();
    let buckets = buckets(ctx.period, interval.unwrap_or(IntervalName::Month).into(), tz);
    let mut dates: Vec<NaiveDate> = buckets.iter().map(|b| b.start_date).collect();
    let mut instants: Vec<_> = buckets.iter().map(|b| b.start).collect();
    if let Some(last) = buckets.last() {
        dates.push(last.end_date.checked_add_days(Days::new(1)).unwrap_or(last.end_date));
        instants.push(last.end);
    }
    let open = DealSet::Forecast {
        as_of: ctx.as_of,
        today: ctx.local_date(ctx.as_of),
        bounds: dates,
    };
    let won = DealSet::Closed {
        status: DealStatus::Won,
        from: instants.first().copied().unwrap_or(ctx.period.from),
        to: instants.last().copied().unwrap_or(ctx.period.to),
        grouping: Grouping::Instants(instants),
    };
    Plan { buckets, open, won }
}

#[derive(Serialize, ToSchema)]
pub struct ForecastReport {
    definition: Definition,
    #[schema(inline)]
    interval: IntervalName,
    unconverted_deals: u64,
    buckets: Vec<ForecastBucket>,
    /// Deals open at `as_of` without an expected close date.
    unscheduled: ForecastGroup,
    /// Deals open at `as_of` whose expected close date is before `as_of`'s date.
    overdue: ForecastGroup,
}

#[derive(Serialize, ToSchema)]
pub struct ForecastBucket {
    /// The bucket's first day: the `row` of a drill-down.
    #[schema(example = "2026-04-01")]
    key: String,
    /// The bucket's first day.
    start: NaiveDate,
    /// The bucket's last day (inclusive).
    end: NaiveDate,
    /// Deals open at `as_of` expected to close in the bucket (not overdue).
    open_count: u64,
    /// Σ of their amounts.
    best_case: String,
    /// Σ amount × probability / 100.
    weighted: String,
    /// Σ of the amounts of those in forecast category `commit`.
    commit: String,
    commit_count: u64,
    /// Deals won with `closed_at` in the bucket.
    won_count: u64,
    won_amount: String,
}

#[derive(Serialize, ToSchema)]
pub struct ForecastGroup {
    /// `unscheduled` or `overdue`: the `row` of a drill-down.
    key: String,
    open_count: u64,
    best_case: String,
    weighted: String,
    commit: String,
    commit_count: u64,
}

impl Report for ForecastReport {
    const NAME: &'static str = "forecast";
    fn definition(&self) -> &Definition {
        &self.definition
    }
    fn table(&self) -> Table {
        let mut rows: Vec<Vec<String>> = self
            .buckets
            .iter()
            .map(|b| {
                vec![
                    b.key.clone(),
                    b.start.to_string(),
                    b.end.to_string(),
                    b.open_count.to_string(),
                    b.best_case.clone(),
                    b.weighted.clone(),
                    b.commit.clone(),
                    b.commit_count.to_string(),
                    b.won_count.to_string(),
                    b.won_amount.clone(),
                ]
            })
            .collect();
        for g in [&self.unscheduled, &self.overdue] {
            rows.push(vec![
                g.key.clone(),
                String::new(),
                String::new(),
                g.open_count.to_string(),
                g.best_case.clone(),
                g.weighted.clone(),
                g.commit.clone(),
                g.commit_count.to_string(),
                String::new(),
                String::new(),
            ]);
        }
        Table {
            columns: &[
                "key",
                "start",
                "end",
                "open_count",
                "best_case",
                "weighted",
                "commit",
                "commit_count",
                "won_count",
                "won_amount",
            ],
            rows,
        }
    }
}

/// Sales forecast
///
/// The deals open at `as_of` by their expected close date, in calendar
/// buckets of `interval` (default `month`, in the organization's time
/// zone) covering [from, to): whole calendar periods, so the first and
/// last bucket may reach beyond the period. Per bucket `open_count`,
/// `best_case` (Σ amount), `weighted` (Σ amount × probability / 100, the
/// deal's own probability else its stage's at `as_of`), `commit` (Σ of the
/// `commit` category) and `won_amount` (deals won with `closed_at` in the
/// bucket, by current status). A deal open at `as_of` whose date is before
/// `as_of`'s local date is `overdue` and in no bucket; one without a date
/// is `unscheduled`; one expected after the last bucket is not shown.
/// Amounts, dates and categories are the deals' current ones.
#[utoipa::path(
    tag = "reports",
    params(CommonQuery, FormatQuery, ForecastQuery),
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, content((ForecastReport = "application/json"), (String = "text/csv"))),
        crate::problem::ReportErrors,
    )
)]
#[get("/reports/forecast")]
pub(super) async fn forecast(
    req: HttpRequest,
    caller: Caller<Reports>,
    state: web::Data<AppState>,
    common: web::Query<CommonQuery>,
    format: web::Query<FormatQuery>,
    query: web::Query<ForecastQuery>,
) -> Result<HttpResponse, ApiError> {
    let ctx = Context::new(&req, &caller, &state, &common, format.format, Utc::now()).await?;
    let plan = plan(&ctx, query.interval);
    let answers = state
        .store
        .report(
            caller.organization_id(),
            &ctx.scope,
            &[Question::Facts(plan.open.clone()), Question::Facts(plan.won.clone())],
        )
        .await?;
    let (open, won) = (facts(&answers[0]), facts(&answers[1]));
    let at = |facts: &[Fact], index: i64| -> Vec<Fact> {
        facts.iter().filter(|f| f.key_num == Some(index)).cloned().collect()
    };
    let group = |key: &str, index: i64| {
        let here = at(open, index);
        let all = ctx.rates.tally(&here);
        let commit = ctx.rates.tally(here.iter().filter(|f| f.flag == 1));
        ForecastGroup {
            key: key.to_owned(),
            open_count: all.count,
            best_case: money(all.amount),
            weighted: money(all.weighted),
            commit: money(commit.amount),
            commit_count: commit.count,
        }
    };
    let buckets = plan
        .buckets
        .iter()
        .enumerate()
        .map(|(i, b)| {
            let g = group("", i as i64);
            let w = ctx.rates.tally(&at(won, i as i64));
            ForecastBucket {
                key: b.start_date.to_string(),
                start: b.start_date,
                end: b.end_date,
                open_count: g.open_count,
                best_case: g.best_case,
                weighted: g.weighted,
                commit: g.commit,
                commit_count: g.commit_count,
                won_count: w.count,
                won_amount: money(w.amount),
            }
        })
        .collect();
    // Deals expected after the last bucket (-3) are in no figure, so not in this count either.
    let shown = |f: &&Fact| f.key_num != Some(-3);
    let unconverted_deals = ctx.rates.tally(open.iter().filter(shown)).unconverted + ctx.rates.tally(won).unconverted;
    let report = ForecastReport {
        definition: ctx.definition(),
        interval: query.interval.unwrap_or(IntervalName::Month),
        unconverted_deals,
        buckets,
        unscheduled: group(UNSCHEDULED, -1),
        overdue: group(OVERDUE, -2),
    };
    Ok(super::csv::respond(&ctx, &report))
}

pub fn drill(
    ctx: &Context,
    interval: Option<IntervalName>,
    row: &str,
    measure: &str,
) -> Result<(DealSet, Drill), ApiError> {
    let plan = plan(ctx, interval);
    let index = match row {
        UNSCHEDULED => -1,
        OVERDUE => -2,
        _ => plan
            .buckets
            .iter()
            .position(|b| b.start_date.to_string() == row)
            .map(|i| i as i64)
            .ok_or_else(|| {
                ApiError::invalid(
                    "row",
                    "invalid",
                    "must be `unscheduled`, `overdue` or the first day of a bucket",
                )
            })?,
    };
    let by_index = Drill {
        key_num: Some(index),
        ..Drill::default()
    };
    match measure {
        "open" => Ok((plan.open, by_index)),
        "commit" => Ok((
            plan.open,
            Drill {
                flag: Some(1),
                ..by_index
            },
        )),
        "won" if index >= 0 => Ok((plan.won, by_index)),
        "won" => Err(ApiError::invalid(
            "measure",
            "invalid",
            "`won` is a figure of the buckets only",
        )),
        _ => Err(super::unknown_measure(MEASURES)),
    }
}
