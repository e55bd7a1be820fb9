//! `GET /reports/stalled`: the open deals that rot in their stage or have
//! gone quiet, at `as_of`.

use actix_web::{get, web, HttpRequest, HttpResponse};
use chrono::Utc;
use pipewise_storage::reports::{DealSet, Drill, Fact, Grouping, Question, STALLED_IDLE, STALLED_ROTTING};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::{
    common::{days, CommonQuery, Context, Definition, FormatQuery, TOTAL},
    csv::{opt, text, Report, Table},
    facts, key_filter, stalled_rows,
};
use crate::{
    error::ApiError,
    extract::{Caller, Reports},
    state::AppState,
};

pub const MEASURES: &[&str] = &["count"];
const DEFAULT_IDLE_DAYS: u32 = 14;
/// How many stalled deals a JSON answer lists unless told otherwise.
const DEFAULT_LIMIT: u32 = 100;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StalledQuery {
    /// A deal without activity for more than this many days is idle.
    #[param(minimum = 1, maximum = 3650, default = 14)]
    pub idle_days: Option<u32>,
    /// How many of the stalled deals to list, longest in their stage first
    /// (default 100; a CSV lists every one unless `limit` is given). The
    /// counts always cover all of them, and the drill-down
    /// (`/reports/stalled/deals?row=total&measure=count`) pages through
    /// every one.
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
}

pub fn set(ctx: &Context, idle_days: Option<u32>) -> DealSet {
    DealSet::Stalled {
        as_of: ctx.as_of,
        idle_days: i64::from(idle_days.unwrap_or(DEFAULT_IDLE_DAYS)),
    }
}

#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StalledReason {
    Rotting,
    Idle,
}

#[derive(Serialize, ToSchema)]
pub struct StalledReport {
    definition: Definition,
    idle_days: u32,
    /// The first `limit` stalled deals, longest in their stage first;
    /// `total.count` says how many there are in all.
    deals: Vec<StalledDeal>,
    /// Stalled deals per stage, for the stages that have any.
    stages: Vec<StalledStage>,
    total: StalledTotal,
}

#[derive(Serialize, ToSchema)]
pub struct StalledDeal {
    /// The deal id.
    key: String,
    deal_id: Uuid,
    title: String,
    owner_id: Uuid,
    stage_id: Uuid,
    /// Age of the deal's running stint at `as_of`.
    days_in_stage: f64,
    /// Since its latest activity (created or done, whichever is later); `null` without any.
    days_since_activity: Option<f64>,
    #[schema(inline)]
    reasons: Vec<StalledReason>,
}

#[derive(Serialize, ToSchema)]
pub struct StalledStage {
    /// The stage id: the `row` of a drill-down.
    key: String,
    stage_id: Uuid,
    count: u64,
}

#[derive(Serialize, ToSchema)]
pub struct StalledTotal {
    /// Always `total`.
    #[schema(example = "total")]
    key: String,
    count: u64,
    rotting: u64,
    idle: u64,
}

impl Report for StalledReport {
    const NAME: &'static str = "stalled";
    fn definition(&self) -> &Definition {
        &self.definition
    }
    fn table(&self) -> Table {
        Table {
            columns: &[
                "deal_id",
                "title",
                "owner_id",
                "stage_id",
                "days_in_stage",
                "days_since_activity",
                "rotting",
                "idle",
            ],
            rows: self
                .deals
                .iter()
                .map(|d| {
                    let has = |r: fn(&StalledReason) -> bool| d.reasons.iter().any(r).to_string();
                    vec![
                        d.deal_id.to_string(),
                        text(&d.title),
                        d.owner_id.to_string(),
                        d.stage_id.to_string(),
                        d.days_in_stage.to_string(),
                        opt(d.days_since_activity),
                        has(|r| matches!(r, StalledReason::Rotting)),
                        has(|r| matches!(r, StalledReason::Idle)),
                    ]
                })
                .collect(),
        }
    }
}

/// Stalled deals
///
/// The deals open at `as_of` (their status and stage then, from the event
/// log) that are stalled, as metrics.md defines it: `rotting` when their
/// stage has `rotting_days` and the running stint is older; `idle` when
/// their latest activity known at `as_of` (an activity's `created_at`, or
/// its `done_at` when later and by `as_of`) is older than `idle_days`
/// (default 14), or they have none and were created longer ago. Trashed
/// activities do not count. `from` and `to` are accepted but do not change
/// the figures. The counts cover every stalled deal; `deals` lists the
/// first `limit` of them (the drill-down pages through all).
#[utoipa::path(
    tag = "reports",
    params(CommonQuery, FormatQuery, StalledQuery),
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, content((StalledReport = "application/json"), (String = "text/csv"))),
        crate::problem::ReportErrors,
    )
)]
#[get("/reports/stalled")]
pub(super) async fn stalled(
    req: HttpRequest,
    caller: Caller<Reports>,
    state: web::Data<AppState>,
    common: web::Query<CommonQuery>,
    format: web::Query<FormatQuery>,
    query: web::Query<StalledQuery>,
) -> Result<HttpResponse, ApiError> {
    let ctx = Context::new(&req, &caller, &state, &common, format.format, Utc::now()).await?;
    let limit = match query.limit {
        Some(limit) => Some(limit),
        None if ctx.csv => None,
        None => Some(DEFAULT_LIMIT),
    };
    let set = set(&ctx, query.idle_days);
    // Counted by stage and reasons in the database, listed up to `limit`.
    let answers = state
        .store
        .report(
            caller.organization_id(),
            &ctx.scope,
            &[Question::Facts(set.clone()), Question::Stalled { set, limit }],
        )
        .await?;
    let (counts, rows) = (facts(&answers[0]), stalled_rows(&answers[1]));
    let deals: Vec<StalledDeal> = rows
        .iter()
        .map(|r| {
            let mut reasons = Vec::new();
            if r.flag & STALLED_ROTTING != 0 {
                reasons.push(StalledReason::Rotting);
            }
            if r.flag & STALLED_IDLE != 0 {
                reasons.push(StalledReason::Idle);
            }
            StalledDeal {
                key: r.deal_id.to_string(),
                deal_id: r.deal_id,
                title: r.title.clone(),
                owner_id: r.owner_id,
                stage_id: r.stage_id,
                days_in_stage: days(r.ms),
                days_since_activity: r.ms2.map(days),
                reasons,
            }
        })
        .collect();
    let sum = |keep: &dyn Fn(&Fact) -> bool| counts.iter().filter(|f| keep(f)).map(|f| f.n).sum::<i64>() as u64;
    let stages = ctx
        .stages()
        .filter_map(|stage| {
            let count = sum(&|f| f.key_id == Some(stage.id));
            (count > 0).then(|| StalledStage {
                key: stage.id.to_string(),
                stage_id: stage.id,
                count,
            })
        })
        .collect();
    let with = |bit: i64| sum(&|f| f.flag & bit != 0);
    let report = StalledReport {
        definition: ctx.definition(),
        idle_days: query.idle_days.unwrap_or(DEFAULT_IDLE_DAYS),
        total: StalledTotal {
            key: TOTAL.to_owned(),
            count: sum(&|_| true),
            rotting: with(STALLED_ROTTING),
            idle: with(STALLED_IDLE),
        },
        deals,
        stages,
    };
    Ok(super::csv::respond(&ctx, &report))
}

pub fn drill(ctx: &Context, idle_days: Option<u32>, row: &str, measure: &str) -> Result<(DealSet, Drill), ApiError> {
    if !MEASURES.contains(&measure) {
        return Err(super::unknown_measure(MEASURES));
    }
    Ok((set(ctx, idle_days), key_filter(&Grouping::Stage, row)?))
}
