//! `GET /reports/funnel`: stage conversion of one pipeline, by cohort (the
//! deals created in the period) or by flow (the stints that started in it).

use actix_web::{get, web, HttpRequest, HttpResponse};
use chrono::Utc;
use pipewise_domain::Stage;
use pipewise_storage::reports::{DealSet, Drill, Fact, Outcome, Question};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::{
    common::{Basis, CommonQuery, Context, Definition, FormatQuery, TOTAL},
    csv::{opt, text, Report, Table},
    facts,
};
use crate::{
    error::ApiError,
    extract::{Caller, Reports},
    state::AppState,
};

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FunnelQuery {
    /// `cohort` (default): the deals created in the period; `flow`: the stints that started in it.
    #[param(inline)]
    pub basis: Option<Basis>,
}

pub const COHORT_MEASURES: &[&str] = &["cohort", "won", "reached"];
pub const FLOW_MEASURES: &[&str] = &[
    "entered",
    "advanced",
    "moved_back",
    "dropped",
    "moved_out",
    "still_there",
];

pub fn set(ctx: &Context, basis: Basis) -> DealSet {
    match basis {
        Basis::Cohort => DealSet::Cohort {
            from: ctx.period.from,
            to: ctx.period.to,
            as_of: ctx.as_of,
        },
        Basis::Flow => DealSet::StintsStarted {
            from: ctx.period.from,
            to: ctx.period.to,
            as_of: ctx.as_of,
            censor_at: ctx.period_end(),
        },
    }
}

// Untagged: each variant writes its own `basis`, which discriminates them.
/// The funnel by `basis`: `cohort` or `flow`.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
#[schema(discriminator(property_name = "basis", mapping(
    ("cohort" = "#/components/schemas/CohortFunnel"),
    ("flow" = "#/components/schemas/FlowFunnel"),
)))]
pub enum FunnelReport {
    Cohort(CohortFunnel),
    Flow(FlowFunnel),
}

#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CohortTag {
    Cohort,
}

#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FlowTag {
    Flow,
}

#[derive(Serialize, ToSchema)]
pub struct CohortFunnel {
    #[schema(inline)]
    basis: CohortTag,
    definition: Definition,
    /// Always `total`: the row of `cohort_size` and `won`.
    #[schema(example = "total")]
    key: String,
    /// Deals created in the period in this pipeline (by `as_of`).
    cohort_size: u64,
    /// Cohort deals whose status at `as_of` is won.
    won: u64,
    /// won / cohort_size.
    cohort_win_rate: Option<f64>,
    stages: Vec<CohortRow>,
}

#[derive(Serialize, ToSchema)]
pub struct CohortRow {
    /// The stage id: the `row` of a drill-down.
    key: String,
    stage_id: Uuid,
    #[schema(example = "Proposal")]
    name: String,
    position: i64,
    /// Cohort deals that reached this stage or a later one by `as_of` (a won deal reached every stage).
    reached: u64,
    /// reached(next stage) / reached; for the last stage, won / reached.
    conversion_to_next: Option<f64>,
}

#[derive(Serialize, ToSchema)]
pub struct FlowFunnel {
    #[schema(inline)]
    basis: FlowTag,
    definition: Definition,
    stages: Vec<FlowRow>,
}

#[derive(Serialize, ToSchema)]
pub struct FlowRow {
    /// The stage id: the `row` of a drill-down.
    key: String,
    stage_id: Uuid,
    #[schema(example = "Proposal")]
    name: String,
    position: i64,
    /// Stints in this stage that started in the period (by `as_of`).
    entered: u64,
    /// Of those, by `as_of`: moved to a stage of higher position, or won.
    advanced: u64,
    /// Moved to a stage of lower position.
    moved_back: u64,
    /// Lost.
    dropped: u64,
    /// Moved to a stage of another pipeline (or one deleted since).
    moved_out: u64,
    /// Still in the stage at `as_of`.
    still_there: u64,
    /// advanced / entered.
    conversion: Option<f64>,
}

impl Report for FunnelReport {
    const NAME: &'static str = "funnel";
    fn definition(&self) -> &Definition {
        match self {
            FunnelReport::Cohort(r) => &r.definition,
            FunnelReport::Flow(r) => &r.definition,
        }
    }
    fn table(&self) -> Table {
        match self {
            FunnelReport::Cohort(r) => {
                let mut rows: Vec<Vec<String>> = r
                    .stages
                    .iter()
                    .map(|s| {
                        vec![
                            s.key.clone(),
                            text(&s.name),
                            s.position.to_string(),
                            s.reached.to_string(),
                            opt(s.conversion_to_next),
                        ]
                    })
                    .collect();
                rows.push(vec![
                    r.key.clone(),
                    String::new(),
                    String::new(),
                    r.cohort_size.to_string(),
                    opt(r.cohort_win_rate),
                ]);
                Table {
                    columns: &["key", "name", "position", "reached", "conversion_to_next"],
                    rows,
                }
            }
            FunnelReport::Flow(r) => Table {
                columns: &[
                    "key",
                    "name",
                    "position",
                    "entered",
                    "advanced",
                    "moved_back",
                    "dropped",
                    "moved_out",
                    "still_there",
                    "conversion",
                ],
                rows: r
                    .stages
                    .iter()
                    .map(|s| {
                        vec![
                            s.key.clone(),
                            text(&s.name),
                            s.position.to_string(),
                            s.entered.to_string(),
                            s.advanced.to_string(),
                            s.moved_back.to_string(),
                            s.dropped.to_string(),
                            s.moved_out.to_string(),
                            s.still_there.to_string(),
                            opt(s.conversion),
                        ]
                    })
                    .collect(),
            },
        }
    }
}

/// Stage conversion funnel
///
/// Stage conversion in one pipeline (`pipeline_id` is required; 422
/// without it). `basis=cohort` (default), as metrics.md defines it: the
/// cohort is the deals created in [from, to) in this pipeline (their
/// `created` event was in it), and a deal's reached position is the
/// highest position, by the stages' current order, among the stages of
/// this pipeline it entered by `as_of`; a deal won at `as_of` reached
/// every stage, so skipped stages count as reached. `basis=flow`: for
/// each stage, the stints in it that started in the period and what
/// became of each by `as_of`; a move to a stage of another pipeline is
/// `moved_out`. Deals are counted with their current owner and source.
#[utoipa::path(
    tag = "reports",
    params(CommonQuery, FormatQuery, FunnelQuery),
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, content((FunnelReport = "application/json"), (String = "text/csv"))),
        crate::problem::ReportErrors,
    )
)]
#[get("/reports/funnel")]
pub(super) async fn funnel(
    req: HttpRequest,
    caller: Caller<Reports>,
    state: web::Data<AppState>,
    common: web::Query<CommonQuery>,
    format: web::Query<FormatQuery>,
    query: web::Query<FunnelQuery>,
) -> Result<HttpResponse, ApiError> {
    let ctx = Context::new(&req, &caller, &state, &common, format.format, Utc::now()).await?;
    let stages = ctx.required_pipeline()?.stages.clone();
    let basis = query.basis.unwrap_or(Basis::Cohort);
    let answers = state
        .store
        .report(
            caller.organization_id(),
            &ctx.scope,
            &[Question::Facts(set(&ctx, basis))],
        )
        .await?;
    let facts = facts(&answers[0]);
    let mut definition = ctx.definition();
    definition.basis = Some(basis);
    let report = match basis {
        Basis::Cohort => FunnelReport::Cohort(cohort(definition, &stages, facts)),
        Basis::Flow => FunnelReport::Flow(flow(definition, &stages, facts)),
    };
    Ok(super::csv::respond(&ctx, &report))
}

fn count<'a>(facts: impl IntoIterator<Item = &'a Fact>) -> u64 {
    facts.into_iter().map(|f| u64::try_from(f.n).unwrap_or(0)).sum()
}

fn reached(facts: &[Fact], position: i64) -> u64 {
    count(
        facts
            .iter()
            .filter(|f| f.flag == 1 || f.key_num.is_some_and(|p| p >= position)),
    )
}

fn cohort(mut definition: Definition, stages: &[Stage], facts: &[Fact]) -> CohortFunnel {
    let cohort_size = count(facts);
    let won = count(facts.iter().filter(|f| f.flag == 1));
    let cohort_win_rate = definition.ratio(TOTAL, "cohort_win_rate", won, cohort_size);
    let rows = stages
        .iter()
        .enumerate()
        .map(|(i, stage)| {
            let here = reached(facts, stage.position);
            let next = stages.get(i + 1).map_or(won, |s| reached(facts, s.position));
            CohortRow {
                key: stage.id.to_string(),
                stage_id: stage.id,
                name: stage.name.as_str().to_owned(),
                position: stage.position,
                reached: here,
                conversion_to_next: definition.ratio(&stage.id.to_string(), "conversion_to_next", next, here),
            }
        })
        .collect();
    CohortFunnel {
        basis: CohortTag::Cohort,
        definition,
        key: TOTAL.to_owned(),
        cohort_size,
        won,
        cohort_win_rate,
        stages: rows,
    }
}

fn flow(mut definition: Definition, stages: &[Stage], facts: &[Fact]) -> FlowFunnel {
    let rows = stages
        .iter()
        .map(|stage| {
            let here: Vec<&Fact> = facts.iter().filter(|f| f.key_id == Some(stage.id)).collect();
            let by = |outcome: Outcome| count(here.iter().copied().filter(|f| f.key_num == Some(outcome as i64)));
            let entered = count(here.iter().copied());
            let advanced = by(Outcome::Advanced);
            FlowRow {
                key: stage.id.to_string(),
                stage_id: stage.id,
                name: stage.name.as_str().to_owned(),
                position: stage.position,
                entered,
                advanced,
                moved_back: by(Outcome::MovedBack),
                dropped: by(Outcome::Dropped),
                moved_out: by(Outcome::MovedOut),
                still_there: by(Outcome::StillThere),
                conversion: definition.ratio(&stage.id.to_string(), "conversion", advanced, entered),
            }
        })
        .collect();
    FlowFunnel {
        basis: FlowTag::Flow,
        definition,
        stages: rows,
    }
}

pub fn drill(ctx: &Context, basis: Option<Basis>, row: &str, measure: &str) -> Result<(DealSet, Drill), ApiError> {
    let pipeline = ctx.required_pipeline()?;
    let basis = basis.unwrap_or(Basis::Cohort);
    let stage = || {
        pipeline
            .stages
            .iter()
            .find(|s| s.id.to_string() == row)
            .ok_or_else(|| ApiError::invalid("row", "invalid", "must be the id of a stage of the pipeline"))
    };
    let drill = match (basis, measure) {
        (Basis::Cohort, "cohort") if row == TOTAL => Drill::default(),
        (Basis::Cohort, "won") if row == TOTAL => Drill {
            flag: Some(1),
            ..Drill::default()
        },
        (Basis::Cohort, "reached") => Drill {
            reached: Some(stage()?.position),
            ..Drill::default()
        },
        (Basis::Cohort, "cohort" | "won") => {
            return Err(ApiError::invalid(
                "row",
                "invalid",
                "`cohort` and `won` are figures of the `total` row",
            ))
        }
        (Basis::Flow, measure) if FLOW_MEASURES.contains(&measure) => {
            let outcome = match measure {
                "advanced" => Some(Outcome::Advanced),
                "moved_back" => Some(Outcome::MovedBack),
                "dropped" => Some(Outcome::Dropped),
                "moved_out" => Some(Outcome::MovedOut),
                "still_there" => Some(Outcome::StillThere),
                _ => None,
            };
            Drill {
                key_id: Some(Some(stage()?.id)),
                key_num: outcome.map(|o| o as i64),
                ..Drill::default()
            }
        }
        (Basis::Cohort, _) => return Err(super::unknown_measure(COHORT_MEASURES)),
        (Basis::Flow, _) => return Err(super::unknown_measure(FLOW_MEASURES)),
    };
    Ok((set(ctx, basis), drill))
}
