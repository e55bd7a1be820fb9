//! `GET /reports/time-in-stage`: how long deals stay in each stage of one
//! pipeline: over the stints that ended in the period, the ones still
//! running, and a survival median that counts the stuck ones too.

use actix_web::{get, web, HttpRequest, HttpResponse};
use chrono::Utc;
use pipewise_domain::report::{kaplan_meier_median, mean, median, nearest_rank, Observation};
use pipewise_storage::reports::{DealSet, Drill, Grouping, Question, Sample};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{
    common::{days, CommonQuery, Context, Definition, FormatQuery},
    csv::{opt, text, Report, Table},
    facts, samples,
};
use crate::{
    error::ApiError,
    extract::{Caller, Reports},
    state::AppState,
};

pub const MEASURES: &[&str] = &["count", "open_count", "survival_sample"];

fn set(ctx: &Context, measure: &str) -> Option<DealSet> {
    match measure {
        "count" => Some(DealSet::StintsEnded {
            from: ctx.period.from,
            to: ctx.period.to,
        }),
        "open_count" => Some(DealSet::OpenAt {
            at: ctx.as_of,
            grouping: Grouping::Stage,
        }),
        "survival_sample" => Some(DealSet::StintsStarted {
            from: ctx.period.from,
            to: ctx.period.to,
            as_of: ctx.as_of,
            censor_at: ctx.period_end(),
        }),
        _ => None,
    }
}

#[derive(Serialize, ToSchema)]
pub struct TimeInStageReport {
    definition: Definition,
    stages: Vec<TimeInStageRow>,
}

#[derive(Serialize, ToSchema)]
pub struct TimeInStageRow {
    /// The stage id: the `row` of a drill-down.
    key: String,
    stage_id: Uuid,
    #[schema(example = "Proposal")]
    name: String,
    position: i64,
    /// Stints in this stage that ended in the period.
    count: u64,
    mean_days: Option<f64>,
    /// The middle value; the mean of the two middle values for an even count.
    median_days: Option<f64>,
    /// Nearest rank: the value at rank ⌈0.9·n⌉.
    p90_days: Option<f64>,
    /// Stints in this stage still running at `as_of`.
    open_count: u64,
    open_mean_age_days: Option<f64>,
    /// Kaplan–Meier median over the stints that started in the period,
    /// those still running at min(to, as_of) censored at their age then;
    /// `null` when the estimated survival never falls to 0.5.
    survival_median_days: Option<f64>,
    /// The stints the survival median is estimated from.
    survival_sample: u64,
}

impl Report for TimeInStageReport {
    const NAME: &'static str = "time-in-stage";
    fn definition(&self) -> &Definition {
        &self.definition
    }
    fn table(&self) -> Table {
        Table {
            columns: &[
                "key",
                "name",
                "position",
                "count",
                "mean_days",
                "median_days",
                "p90_days",
                "open_count",
                "open_mean_age_days",
                "survival_median_days",
                "survival_sample",
            ],
            rows: self
                .stages
                .iter()
                .map(|r| {
                    vec![
                        r.key.clone(),
                        text(&r.name),
                        r.position.to_string(),
                        r.count.to_string(),
                        opt(r.mean_days),
                        opt(r.median_days),
                        opt(r.p90_days),
                        r.open_count.to_string(),
                        opt(r.open_mean_age_days),
                        opt(r.survival_median_days),
                        r.survival_sample.to_string(),
                    ]
                })
                .collect(),
        }
    }
}

/// Time in stage
///
/// For each stage of one pipeline (`pipeline_id` is required; 422 without
/// it), as metrics.md defines it: over the stints that ended in [from,
/// to) (a stint is one stay in a stage: from the `created`, `moved` or
/// `reopened` event that put the deal there to the next `moved`, `won` or
/// `lost`), `count`, `mean_days`, `median_days` and `p90_days`; over the
/// stints running at `as_of`, `open_count` and `open_mean_age_days`; and
/// the Kaplan–Meier `survival_median_days` of the stints that started in
/// the period. Durations are exact (milliseconds / 86 400 000), in days.
#[utoipa::path(
    tag = "reports",
    params(CommonQuery, FormatQuery),
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, content((TimeInStageReport = "application/json"), (String = "text/csv"))),
        crate::problem::ReportErrors,
    )
)]
#[get("/reports/time-in-stage")]
pub(super) async fn time_in_stage(
    req: HttpRequest,
    caller: Caller<Reports>,
    state: web::Data<AppState>,
    common: web::Query<CommonQuery>,
    format: web::Query<FormatQuery>,
) -> Result<HttpResponse, ApiError> {
    let ctx = Context::new(&req, &caller, &state, &common, format.format, Utc::now()).await?;
    let stages = ctx.required_pipeline()?.stages.clone();
    // The running stints only need a count and a mean: grouped in the
    // database, not sent stint by stint.
    let questions: Vec<Question> = MEASURES
        .iter()
        .map(|m| {
            let set = set(&ctx, m).expect("a time-in-stage measure");
            if *m == "open_count" {
                Question::Facts(set)
            } else {
                Question::Samples(set)
            }
        })
        .collect();
    let answers = state
        .store
        .report(caller.organization_id(), &ctx.scope, &questions)
        .await?;
    let (ended, running, started) = (samples(&answers[0]), facts(&answers[1]), samples(&answers[2]));
    // The durations of a stage's members, with whether each is censored,
    // shortest first: the database sends them in no particular order, and a
    // floating-point mean must not depend on it.
    let of = |list: &[Sample], stage: Uuid| -> Vec<(f64, bool)> {
        let mut members: Vec<(i64, bool)> = list
            .iter()
            .filter(|s| s.key_id == Some(stage))
            .flat_map(|s| s.ms.iter().map(move |ms| (*ms, s.flag == 1)))
            .collect();
        members.sort_unstable();
        members.into_iter().map(|(ms, censored)| (days(ms), censored)).collect()
    };
    let rows = stages
        .iter()
        .map(|stage| {
            let ended: Vec<f64> = of(ended, stage.id).into_iter().map(|(days, _)| days).collect();
            let (open_count, open_ms) = running
                .iter()
                .filter(|f| f.key_id == Some(stage.id))
                .fold((0_i64, 0_i64), |(n, ms), f| (n + f.n, ms + f.ms.unwrap_or(0)));
            let observations: Vec<Observation> = of(started, stage.id)
                .into_iter()
                .map(|(days, censored)| Observation { days, censored })
                .collect();
            TimeInStageRow {
                key: stage.id.to_string(),
                stage_id: stage.id,
                name: stage.name.as_str().to_owned(),
                position: stage.position,
                count: ended.len() as u64,
                mean_days: mean(&ended),
                median_days: median(&ended),
                p90_days: nearest_rank(&ended, 0.9),
                open_count: open_count as u64,
                open_mean_age_days: (open_count > 0).then(|| days(open_ms) / open_count as f64),
                survival_median_days: kaplan_meier_median(&observations),
                survival_sample: observations.len() as u64,
            }
        })
        .collect();
    let report = TimeInStageReport {
        definition: ctx.definition(),
        stages: rows,
    };
    Ok(super::csv::respond(&ctx, &report))
}

pub fn drill(ctx: &Context, row: &str, measure: &str) -> Result<(DealSet, Drill), ApiError> {
    let pipeline = ctx.required_pipeline()?;
    let set = set(ctx, measure).ok_or_else(|| super::unknown_measure(MEASURES))?;
    let stage = pipeline
        .stages
        .iter()
        .find(|s| s.id.to_string() == row)
        .ok_or_else(|| ApiError::invalid("row", "invalid", "must be the id of a stage of the pipeline"))?;
    Ok((
        set,
        Drill {
            key_id: Some(Some(stage.id)),
            ..Drill::default()
        },
    ))
}
