//! `GET /reports/pipeline`: the deals open at `as_of`, stage by stage.

use actix_web::{get, web, HttpRequest, HttpResponse};
use chrono::Utc;
use pipewise_storage::reports::{DealSet, Drill, Grouping, Question};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{
    common::{money, CommonQuery, Context, Definition, FormatQuery, TOTAL},
    csv::{text, Report, Table},
    facts, key_filter,
};
use crate::{
    error::ApiError,
    extract::{Caller, Reports},
    state::AppState,
};

pub const MEASURES: &[&str] = &["count"];

pub fn set(ctx: &Context) -> DealSet {
    DealSet::OpenAt {
        at: ctx.as_of,
        grouping: Grouping::Stage,
    }
}

#[derive(Serialize, ToSchema)]
pub struct PipelineReport {
    definition: Definition,
    unconverted_deals: u64,
    /// Every stage of the pipeline (of every pipeline without `pipeline_id`), in position order.
    stages: Vec<SnapshotRow>,
    total: SnapshotTotal,
}

#[derive(Serialize, ToSchema)]
pub struct SnapshotRow {
    /// The stage id: the `row` of a drill-down.
    key: String,
    stage_id: Uuid,
    pipeline_id: Uuid,
    #[schema(example = "Proposal")]
    name: String,
    position: i64,
    /// Deals open at `as_of` whose stage then was this one.
    count: u64,
    #[schema(example = "48000.00")]
    amount: String,
    /// Σ amount × probability / 100 (the deal's own probability, else the stage's).
    #[schema(example = "24000.00")]
    weighted_amount: String,
}

#[derive(Serialize, ToSchema)]
pub struct SnapshotTotal {
    /// Always `total`.
    #[schema(example = "total")]
    key: String,
    count: u64,
    amount: String,
    weighted_amount: String,
}

impl Report for PipelineReport {
    const NAME: &'static str = "pipeline";
    fn definition(&self) -> &Definition {
        &self.definition
    }
    fn table(&self) -> Table {
        let mut rows: Vec<Vec<String>> = self
            .stages
            .iter()
            .map(|r| {
                vec![
                    r.key.clone(),
                    r.pipeline_id.to_string(),
                    text(&r.name),
                    r.position.to_string(),
                    r.count.to_string(),
                    r.amount.clone(),
                    r.weighted_amount.clone(),
                ]
            })
            .collect();
        let t = &self.total;
        rows.push(vec![
            t.key.clone(),
            String::new(),
            String::new(),
            String::new(),
            t.count.to_string(),
            t.amount.clone(),
            t.weighted_amount.clone(),
        ]);
        Table {
            columns: &[
                "key",
                "pipeline_id",
                "name",
                "position",
                "count",
                "amount",
                "weighted_amount",
            ],
            rows,
        }
    }
}

/// Pipeline snapshot
///
/// The deals open at `as_of` (default now), stage by stage, as metrics.md
/// defines it: a deal's stage and status at `as_of` come from its event
/// log, so a past `as_of` shows the pipeline as it was then. `count`,
/// `amount` and `weighted_amount` per stage, in position order, and their
/// totals. Amounts are the deals' current amounts. `from` and `to` are
/// accepted but do not change the snapshot. A deal in a stage deleted
/// since is counted in the total only.
#[utoipa::path(
    tag = "reports",
    params(CommonQuery, FormatQuery),
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, content((PipelineReport = "application/json"), (String = "text/csv"))),
        crate::problem::ReportErrors,
    )
)]
#[get("/reports/pipeline")]
pub(super) async fn pipeline(
    req: HttpRequest,
    caller: Caller<Reports>,
    state: web::Data<AppState>,
    common: web::Query<CommonQuery>,
    format: web::Query<FormatQuery>,
) -> Result<HttpResponse, ApiError> {
    let ctx = Context::new(&req, &caller, &state, &common, format.format, Utc::now()).await?;
    let answers = state
        .store
        .report(caller.organization_id(), &ctx.scope, &[Question::Facts(set(&ctx))])
        .await?;
    let open = facts(&answers[0]);
    let stages = ctx
        .stages()
        .map(|stage| {
            let t = ctx.rates.tally(open.iter().filter(|f| f.key_id == Some(stage.id)));
            SnapshotRow {
                key: stage.id.to_string(),
                stage_id: stage.id,
                pipeline_id: stage.pipeline_id,
                name: stage.name.as_str().to_owned(),
                position: stage.position,
                count: t.count,
                amount: money(t.amount),
                weighted_amount: money(t.weighted),
            }
        })
        .collect();
    let all = ctx.rates.tally(open);
    let report = PipelineReport {
        definition: ctx.definition(),
        unconverted_deals: all.unconverted,
        stages,
        total: SnapshotTotal {
            key: TOTAL.to_owned(),
            count: all.count,
            amount: money(all.amount),
            weighted_amount: money(all.weighted),
        },
    };
    Ok(super::csv::respond(&ctx, &report))
}

pub fn drill(ctx: &Context, row: &str, measure: &str) -> Result<(DealSet, Drill), ApiError> {
    if !MEASURES.contains(&measure) {
        return Err(super::unknown_measure(MEASURES));
    }
    Ok((set(ctx), key_filter(&Grouping::Stage, row)?))
}
