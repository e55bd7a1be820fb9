//! `GET /reports/lead-prediction`: how well predicted conversion did on the
//! leads closed in a period.

use actix_web::{get, web, HttpRequest, HttpResponse};
use chrono::Utc;
use pipewise_domain::prediction::{Field, Outcome};
use serde::Serialize;
use utoipa::ToSchema;

use super::{
    common::{CommonQuery, Context, Definition, FormatQuery},
    csv::{opt, Report, Table},
};
use crate::{
    error::ApiError,
    extract::{Caller, Reports},
    state::AppState,
};

const DECILES: usize = 10;

#[derive(Serialize, ToSchema)]
pub struct LeadPredictionReport {
    definition: Definition,
    /// Leads closed in the period that had a prediction.
    #[schema(example = 640)]
    leads: u64,
    /// Of them, converted.
    #[schema(example = 210)]
    converted: u64,
    /// converted / leads.
    conversion_rate: Option<f64>,
    /// The mean predicted conversion of the leads.
    mean_prediction: Option<f64>,
    /// Leads closed in the period without a prediction (too few other closed leads).
    #[schema(example = 0)]
    unpredicted_leads: u64,
    /// The mean of (prediction − outcome)², outcome 1 for converted and 0
    /// for unqualified: 0 is perfect.
    brier_score: Option<f64>,
    /// The Brier score of predicting `conversion_rate` for every lead:
    /// rate × (1 − rate).
    reference_brier_score: Option<f64>,
    /// 1 − brier_score / reference_brier_score: above 0 the prediction
    /// tells leads apart better than the base rate; `null` when the
    /// reference is 0.
    brier_skill_score: Option<f64>,
    /// The leads by predicted conversion in tenths, lowest first: all ten,
    /// empty ones too.
    deciles: Vec<PredictionDecile>,
}

#[derive(Serialize, ToSchema)]
pub struct PredictionDecile {
    /// `0.0-0.1` … `0.9-1.0`.
    #[schema(example = "0.7-0.8")]
    key: String,
    /// Predictions from this (inclusive)…
    #[schema(example = 0.7)]
    from: f64,
    /// …to this (exclusive; the last tenth includes 1).
    #[schema(example = 0.8)]
    to: f64,
    leads: u64,
    converted: u64,
    mean_prediction: Option<f64>,
    /// converted / leads: close to `mean_prediction` when the prediction is calibrated.
    conversion_rate: Option<f64>,
}

impl Report for LeadPredictionReport {
    const NAME: &'static str = "lead-prediction";
    fn definition(&self) -> &Definition {
        &self.definition
    }
    fn table(&self) -> Table {
        let mut rows = vec![vec![
            "total".to_owned(),
            String::new(),
            String::new(),
            self.leads.to_string(),
            self.converted.to_string(),
            opt(self.mean_prediction),
            opt(self.conversion_rate),
            opt(self.brier_score),
            opt(self.reference_brier_score),
            opt(self.brier_skill_score),
        ]];
        rows.extend(self.deciles.iter().map(|d| {
            vec![
                d.key.clone(),
                d.from.to_string(),
                d.to.to_string(),
                d.leads.to_string(),
                d.converted.to_string(),
                opt(d.mean_prediction),
                opt(d.conversion_rate),
                String::new(),
                String::new(),
                String::new(),
            ]
        }));
        Table {
            columns: &[
                "key",
                "from",
                "to",
                "leads",
                "converted",
                "mean_prediction",
                "conversion_rate",
                "brier_score",
                "reference_brier_score",
                "brier_skill_score",
            ],
            rows,
        }
    }
}

#[derive(Default)]
struct Bucket {
    leads: u64,
    converted: u64,
    predicted: f64,
}

/// Lead prediction quality
///
/// How good predicted conversion was over the leads closed in [from, to)
/// (converted or disqualified then, and still so): each lead is predicted
/// from every *other* closed lead (leave-one-out), as it would have been
/// before its own outcome was known. Per tenth of predicted conversion the
/// leads and their actual conversion rate (calibration), and the Brier
/// score beside that of always predicting the period's conversion rate.
/// `owner_id` and `source` narrow the leads; reps see their own.
#[utoipa::path(
    tag = "reports",
    params(CommonQuery, FormatQuery),
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, content((LeadPredictionReport = "application/json"), (String = "text/csv"))),
        crate::problem::ReportErrors,
    )
)]
#[get("/reports/lead-prediction")]
pub(super) async fn lead_prediction_report(
    req: HttpRequest,
    caller: Caller<Reports>,
    state: web::Data<AppState>,
    common: web::Query<CommonQuery>,
    format: web::Query<FormatQuery>,
) -> Result<HttpResponse, ApiError> {
    let ctx = Context::new(&req, &caller, &state, &common, format.format, Utc::now()).await?;
    let owner = ctx.scope.visible_owner.or(ctx.scope.owner_id);
    let (tables, closed) = state
        .store
        .closed_leads(caller.organization_id(), ctx.period.from, ctx.period.to, owner)
        .await?;
    let mut deciles: Vec<Bucket> = (0..DECILES).map(|_| Bucket::default()).collect();
    let (mut unpredicted, mut squared_error) = (0u64, 0.0f64);
    let source = ctx.scope.source.as_deref();
    for lead in closed
        .iter()
        .filter(|l| source.is_none() || l.features.get(Field::Source) == source)
    {
        let Some(prediction) = tables.predict_left_out(&lead.features, lead.outcome) else {
            unpredicted += 1;
            continue;
        };
        let p = prediction.probability;
        let y = if lead.outcome == Outcome::Converted { 1.0 } else { 0.0 };
        squared_error += (p - y) * (p - y);
        let bucket = &mut deciles[((p * DECILES as f64) as usize).min(DECILES - 1)];
        bucket.leads += 1;
        bucket.converted += u64::from(lead.outcome == Outcome::Converted);
        bucket.predicted += p;
    }
    let leads: u64 = deciles.iter().map(|d| d.leads).sum();
    let converted: u64 = deciles.iter().map(|d| d.converted).sum();
    let predicted: f64 = deciles.iter().map(|d| d.predicted).sum();
    let mean = |sum: f64, n: u64| (n > 0).then(|| sum / n as f64);
    let mut definition = ctx.definition();
    let conversion_rate = definition.ratio("total", "conversion_rate", converted, leads);
    let brier_score = mean(squared_error, leads);
    let reference_brier_score = conversion_rate.map(|r| r * (1.0 - r));
    let brier_skill_score = match (brier_score, reference_brier_score) {
        (Some(b), Some(r)) if r > 0.0 => Some(1.0 - b / r),
        _ => None,
    };
    let deciles = deciles
        .into_iter()
        .enumerate()
        .map(|(i, d)| {
            let key = format!("{:.1}-{:.1}", i as f64 / 10.0, (i + 1) as f64 / 10.0);
            PredictionDecile {
                conversion_rate: definition.ratio(&key, "conversion_rate", d.converted, d.leads),
                key,
                from: i as f64 / 10.0,
                to: (i + 1) as f64 / 10.0,
                leads: d.leads,
                converted: d.converted,
                mean_prediction: mean(d.predicted, d.leads),
            }
        })
        .collect();
    let report = LeadPredictionReport {
        definition,
        leads,
        converted,
        conversion_rate,
        mean_prediction: mean(predicted, leads),
        unpredicted_leads: unpredicted,
        brier_score,
        reference_brier_score,
        brier_skill_score,
        deciles,
    };
    Ok(super::csv::respond(&ctx, &report))
}
