//! `GET /reports/reps`: each owner's results over the period.

use actix_web::{get, web, HttpRequest, HttpResponse};
use chrono::Utc;
use pipewise_storage::reports::{ActivityGrouping, ActivityQuery, DealSet, Drill, Fact, Grouping, Question};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{
    common::{money, CommonQuery, Context, Definition, FormatQuery},
    counts,
    csv::{opt, Report, Table},
    facts, key_filter, summary,
};
use crate::{
    error::ApiError,
    extract::{Caller, Reports},
    state::AppState,
};

#[derive(Serialize, ToSchema)]
pub struct RepsReport {
    definition: Definition,
    unconverted_deals: u64,
    /// One row per owner with any figure, largest won amount first.
    reps: Vec<RepRow>,
}

#[derive(Serialize, ToSchema)]
pub struct RepRow {
    /// The owner's user id: the `row` of a drill-down.
    key: String,
    owner_id: Uuid,
    won_count: u64,
    won_amount: String,
    lost_count: u64,
    win_rate: Option<f64>,
    avg_sales_cycle_days: Option<f64>,
    /// Deals open at min(to, as_of).
    open_count: u64,
    open_amount: String,
    /// Activities with `done_at` in the period.
    activities_done: u64,
}

impl Report for RepsReport {
    const NAME: &'static str = "reps";
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
                "win_rate",
                "avg_sales_cycle_days",
                "open_count",
                "open_amount",
                "activities_done",
            ],
            rows: self
                .reps
                .iter()
                .map(|r| {
                    vec![
                        r.key.clone(),
                        r.won_count.to_string(),
                        r.won_amount.clone(),
                        r.lost_count.to_string(),
                        opt(r.win_rate),
                        opt(r.avg_sales_cycle_days),
                        r.open_count.to_string(),
                        r.open_amount.clone(),
                        r.activities_done.to_string(),
                    ]
                })
                .collect(),
        }
    }
}

/// Rep performance
///
/// One row per owner (the deal's current owner): won and lost deals of
/// [from, to) as in the summary, win rate, average sales cycle, the deals
/// open at min(to, as_of) and their amount, and the activities the owner
/// completed in the period. A rep sees their own row only.
#[utoipa::path(
    tag = "reports",
    params(CommonQuery, FormatQuery),
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, content((RepsReport = "application/json"), (String = "text/csv"))),
        crate::problem::ReportErrors,
    )
)]
#[get("/reports/reps")]
pub(super) async fn reps(
    req: HttpRequest,
    caller: Caller<Reports>,
    state: web::Data<AppState>,
    common: web::Query<CommonQuery>,
    format: web::Query<FormatQuery>,
) -> Result<HttpResponse, ApiError> {
    let ctx = Context::new(&req, &caller, &state, &common, format.format, Utc::now()).await?;
    let mut questions: Vec<Question> = summary::MEASURES
        .iter()
        .map(|m| Question::Facts(summary::set(&ctx, m, Grouping::Owner).expect("a summary measure")))
        .collect();
    let today = (ctx.as_of, ctx.as_of);
    questions.push(Question::Activities(ActivityQuery {
        from: ctx.period.from,
        to: ctx.period.to,
        as_of: ctx.as_of,
        today,
        grouping: ActivityGrouping::Owner,
    }));
    let answers = state
        .store
        .report(caller.organization_id(), &ctx.scope, &questions)
        .await?;
    let (won, lost, open) = (facts(&answers[0]), facts(&answers[1]), facts(&answers[2]));
    let done: Vec<_> = counts(&answers[3]).iter().filter(|c| c.measure == "done").collect();
    let mut owners: Vec<Uuid> = [won, lost, open]
        .iter()
        .flat_map(|f| f.iter().filter_map(|f| f.key_id))
        .chain(done.iter().filter_map(|c| c.key_id))
        .collect();
    owners.sort();
    owners.dedup();
    let mut definition = ctx.definition();
    let mine = |facts: &[Fact], owner: Uuid| -> Vec<Fact> {
        facts.iter().filter(|f| f.key_id == Some(owner)).cloned().collect()
    };
    let mut reps: Vec<RepRow> = owners
        .into_iter()
        .map(|owner| {
            let (w, l, o) = (
                ctx.rates.tally(&mine(won, owner)),
                ctx.rates.tally(&mine(lost, owner)),
                ctx.rates.tally(&mine(open, owner)),
            );
            let key = owner.to_string();
            RepRow {
                win_rate: definition.ratio(&key, "win_rate", w.count, w.count + l.count),
                key,
                owner_id: owner,
                won_count: w.count,
                won_amount: money(w.amount),
                lost_count: l.count,
                avg_sales_cycle_days: w.mean_days(),
                open_count: o.count,
                open_amount: money(o.amount),
                activities_done: done
                    .iter()
                    .filter(|c| c.key_id == Some(owner))
                    .map(|c| u64::try_from(c.n).unwrap_or(0))
                    .sum(),
            }
        })
        .collect();
    reps.sort_by(|a, b| {
        let amount = |r: &RepRow| r.won_amount.parse::<rust_decimal::Decimal>().unwrap_or_default();
        amount(b).cmp(&amount(a)).then_with(|| a.key.cmp(&b.key))
    });
    let unconverted_deals = [won, lost, open].iter().map(|f| ctx.rates.tally(*f).unconverted).sum();
    let report = RepsReport {
        definition,
        unconverted_deals,
        reps,
    };
    Ok(super::csv::respond(&ctx, &report))
}

pub fn drill(ctx: &Context, row: &str, measure: &str) -> Result<(DealSet, Drill), ApiError> {
    let set = summary::set(ctx, measure, Grouping::Owner).ok_or_else(|| super::unknown_measure(summary::MEASURES))?;
    Ok((set, key_filter(&Grouping::Owner, row)?))
}
