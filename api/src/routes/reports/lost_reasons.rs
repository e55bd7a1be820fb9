//! `GET /reports/lost-reasons`: why deals were lost, and at which stage.

use actix_web::{get, web, HttpRequest, HttpResponse};
use chrono::Utc;
use pipewise_domain::deal::DealStatus;
use pipewise_storage::reports::{DealSet, Drill, Grouping, Question};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{
    common::{money, CommonQuery, Context, Definition, FormatQuery, TOTAL},
    csv::{opt, text, Report, Table},
    facts, group_key, key_filter,
};
use crate::{
    error::ApiError,
    extract::{Caller, Reports},
    state::AppState,
};

pub const MEASURES: &[&str] = &["count"];

fn set(ctx: &Context, grouping: Grouping) -> DealSet {
    DealSet::Closed {
        status: DealStatus::Lost,
        from: ctx.period.from,
        to: ctx.period.to,
        grouping,
    }
}

#[derive(Serialize, ToSchema)]
pub struct LostReasonsReport {
    definition: Definition,
    unconverted_deals: u64,
    total: LostTotal,
    /// By reason, most frequent first.
    reasons: Vec<LostByReason>,
    /// By the stage the deals were lost at, in pipeline and position order.
    stages: Vec<LostByStage>,
}

#[derive(Serialize, ToSchema)]
pub struct LostTotal {
    /// Always `total`.
    #[schema(example = "total")]
    key: String,
    count: u64,
    amount: String,
}

#[derive(Serialize, ToSchema)]
pub struct LostByReason {
    /// The reason: the `row` of a drill-down.
    #[schema(example = "price")]
    key: String,
    #[schema(example = "price")]
    reason: String,
    count: u64,
    amount: String,
    /// count / the total lost count.
    share: Option<f64>,
}

#[derive(Serialize, ToSchema)]
pub struct LostByStage {
    /// The stage id: the `row` of a drill-down.
    key: String,
    stage_id: Uuid,
    /// The stage's name; `null` for a stage deleted since.
    name: Option<String>,
    count: u64,
    amount: String,
    share: Option<f64>,
}

impl Report for LostReasonsReport {
    const NAME: &'static str = "lost-reasons";
    fn definition(&self) -> &Definition {
        &self.definition
    }
    fn table(&self) -> Table {
        let mut rows = vec![vec![
            "total".to_owned(),
            self.total.key.clone(),
            String::new(),
            self.total.count.to_string(),
            self.total.amount.clone(),
            String::new(),
        ]];
        rows.extend(self.reasons.iter().map(|r| {
            vec![
                "reason".to_owned(),
                text(&r.key),
                text(&r.reason),
                r.count.to_string(),
                r.amount.clone(),
                opt(r.share),
            ]
        }));
        rows.extend(self.stages.iter().map(|s| {
            vec![
                "stage".to_owned(),
                s.key.clone(),
                text(s.name.as_deref().unwrap_or("")),
                s.count.to_string(),
                s.amount.clone(),
                opt(s.share),
            ]
        }));
        Table {
            columns: &["group", "key", "name", "count", "amount", "share"],
            rows,
        }
    }
}

/// Lost reasons
///
/// The deals lost in [from, to) (current status lost, `closed_at` in the
/// period, as in the summary), grouped by `reason` and by the stage they
/// were lost at: `count`, `amount` and `share` of the lost count.
#[utoipa::path(
    tag = "reports",
    params(CommonQuery, FormatQuery),
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, content((LostReasonsReport = "application/json"), (String = "text/csv"))),
        crate::problem::ReportErrors,
    )
)]
#[get("/reports/lost-reasons")]
pub(super) async fn lost_reasons(
    req: HttpRequest,
    caller: Caller<Reports>,
    state: web::Data<AppState>,
    common: web::Query<CommonQuery>,
    format: web::Query<FormatQuery>,
) -> Result<HttpResponse, ApiError> {
    let ctx = Context::new(&req, &caller, &state, &common, format.format, Utc::now()).await?;
    let answers = state
        .store
        .report(
            caller.organization_id(),
            &ctx.scope,
            &[
                Question::Facts(set(&ctx, Grouping::LostReason)),
                Question::Facts(set(&ctx, Grouping::Stage)),
            ],
        )
        .await?;
    let (by_reason, by_stage) = (facts(&answers[0]), facts(&answers[1]));
    let all = ctx.rates.tally(by_reason);
    let mut definition = ctx.definition();
    let mut reason_keys: Vec<String> = by_reason.iter().map(|f| group_key(f, &Grouping::LostReason)).collect();
    reason_keys.sort();
    reason_keys.dedup();
    let mut reasons: Vec<LostByReason> = reason_keys
        .into_iter()
        .map(|key| {
            let t = ctx
                .rates
                .tally(by_reason.iter().filter(|f| group_key(f, &Grouping::LostReason) == key));
            LostByReason {
                share: definition.ratio(&key, "share", t.count, all.count),
                reason: key.clone(),
                key,
                count: t.count,
                amount: money(t.amount),
            }
        })
        .collect();
    reasons.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.key.cmp(&b.key)));
    let mut stage_ids: Vec<Uuid> = by_stage.iter().filter_map(|f| f.key_id).collect();
    stage_ids.sort();
    stage_ids.dedup();
    let order = |id: &Uuid| ctx.stages().position(|s| s.id == *id).unwrap_or(usize::MAX);
    stage_ids.sort_by_key(order);
    let stages = stage_ids
        .into_iter()
        .map(|id| {
            let t = ctx.rates.tally(by_stage.iter().filter(|f| f.key_id == Some(id)));
            LostByStage {
                key: id.to_string(),
                stage_id: id,
                name: ctx.stages().find(|s| s.id == id).map(|s| s.name.as_str().to_owned()),
                count: t.count,
                amount: money(t.amount),
                share: definition.ratio(&id.to_string(), "share", t.count, all.count),
            }
        })
        .collect();
    let report = LostReasonsReport {
        definition,
        unconverted_deals: all.unconverted,
        total: LostTotal {
            key: TOTAL.to_owned(),
            count: all.count,
            amount: money(all.amount),
        },
        reasons,
        stages,
    };
    Ok(super::csv::respond(&ctx, &report))
}

/// A row is `total`, a stage id (a row of `stages`), or a reason.
pub fn drill(ctx: &Context, row: &str, measure: &str) -> Result<(DealSet, Drill), ApiError> {
    if !MEASURES.contains(&measure) {
        return Err(super::unknown_measure(MEASURES));
    }
    let grouping = if row.parse::<Uuid>().is_ok() {
        Grouping::Stage
    } else {
        Grouping::LostReason
    };
    Ok((set(ctx, grouping.clone()), key_filter(&grouping, row)?))
}
