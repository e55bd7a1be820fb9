//! `GET /reports/{report}/deals`: the deals behind a figure. The report
//! module that computes the figure also names the set it counted, and the
//! storage pages through that same set, so the list is exactly as long as
//! the figure.

use actix_web::{get, web, HttpRequest};
use chrono::Utc;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::{
    common::{Basis, CommonQuery, Context},
    forecast::{self, IntervalName},
    funnel, lost_reasons, pipeline, reps, stalled,
    summary::{self, GroupBy},
    time_in_stage,
};
use crate::{
    error::ApiError,
    extract::{page::parse_limit, Caller, Reports},
    routes::deals::DealView,
    state::AppState,
};

/// The reports whose figures count deals.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum DrillReport {
    Summary,
    Pipeline,
    Funnel,
    TimeInStage,
    Stalled,
    Forecast,
    LostReasons,
    Reps,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DrillQuery {
    /// The `key` of the report row: `total`, a stage id, an owner id, a
    /// source, a reason, a bucket's first day, `unscheduled`, `overdue`.
    #[param(max_length = 200, example = "total")]
    pub row: String,
    /// The count in that row: `won`, `lost`, `open` (summary, reps);
    /// `count` (pipeline, stalled, lost-reasons, time-in-stage); `cohort`,
    /// `won`, `reached` or, with `basis=flow`, `entered`, `advanced`,
    /// `moved_back`, `dropped`, `moved_out`, `still_there` (funnel);
    /// `open_count`, `survival_sample` (time-in-stage); `open`, `commit`,
    /// `won` (forecast).
    #[param(max_length = 40, example = "won")]
    pub measure: String,
    /// Page size, 1–200.
    #[param(minimum = 1, maximum = 200, default = 50)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    #[param(max_length = 64)]
    pub cursor: Option<String>,
    /// As for the summary.
    #[param(inline)]
    pub group_by: Option<GroupBy>,
    /// As for the funnel.
    #[param(inline)]
    pub basis: Option<Basis>,
    /// As for the forecast.
    #[param(inline)]
    pub interval: Option<IntervalName>,
    /// As for stalled deals.
    #[param(minimum = 1, maximum = 3650)]
    pub idle_days: Option<u32>,
}

#[derive(Serialize, ToSchema)]
pub struct ReportDealList {
    /// The deals the figure counted, in a stable order. A figure that
    /// counts stints (time in stage, the flow funnel) lists a deal once per
    /// stint.
    data: Vec<DealView>,
    /// Pass as `cursor` (with the same parameters) for the next page; `null` on the last.
    next_cursor: Option<String>,
}

/// Deals behind a report figure
///
/// The deals counted by one figure of a report: the report's own
/// parameters, plus `row` (the row's `key`) and `measure` (the name of a
/// count in it). Their number equals the figure. Cursor-paginated, in the
/// deal list shape. A `row` or `measure` the report does not have is 422.
#[utoipa::path(
    tag = "reports",
    params(
        ("report" = inline(DrillReport), Path, description = "The report"),
        CommonQuery,
        DrillQuery,
    ),
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, body = ReportDealList),
        crate::problem::ReportErrors,
    )
)]
#[get("/reports/{report}/deals")]
pub(super) async fn report_deals(
    req: HttpRequest,
    caller: Caller<Reports>,
    state: web::Data<AppState>,
    report: web::Path<DrillReport>,
    common: web::Query<CommonQuery>,
    query: web::Query<DrillQuery>,
) -> Result<web::Json<ReportDealList>, ApiError> {
    let ctx = Context::new(&req, &caller, &state, &common, None, Utc::now()).await?;
    let limit = parse_limit(query.limit)?;
    let after = query
        .cursor
        .as_deref()
        .map(|c| {
            c.parse::<Uuid>()
                .map_err(|_| ApiError::BadRequest("cursor is not a cursor of this list.".into()))
        })
        .transpose()?;
    let (row, measure) = (query.row.as_str(), query.measure.as_str());
    let (set, drill) = match report.into_inner() {
        DrillReport::Summary => summary::drill(&ctx, query.group_by, row, measure)?,
        DrillReport::Pipeline => pipeline::drill(&ctx, row, measure)?,
        DrillReport::Funnel => funnel::drill(&ctx, query.basis, row, measure)?,
        DrillReport::TimeInStage => time_in_stage::drill(&ctx, row, measure)?,
        DrillReport::Stalled => stalled::drill(&ctx, query.idle_days, row, measure)?,
        DrillReport::Forecast => forecast::drill(&ctx, query.interval, row, measure)?,
        DrillReport::LostReasons => lost_reasons::drill(&ctx, row, measure)?,
        DrillReport::Reps => reps::drill(&ctx, row, measure)?,
    };
    let mut members = state
        .store
        .report_deals(caller.organization_id(), &ctx.scope, &set, &drill, after, limit + 1)
        .await?;
    let next_cursor = if members.len() > limit as usize {
        members.truncate(limit as usize);
        members.last().map(|(pos, _)| pos.to_string())
    } else {
        None
    };
    Ok(web::Json(ReportDealList {
        data: members.into_iter().map(|(_, deal)| DealView::from(deal)).collect(),
        next_cursor,
    }))
}
