//! Pipeline reports (`/reports/...`): every figure of metrics.md, computed
//! by the database, each with its `definition`, as JSON or CSV, and the
//! deals behind any count (`/reports/{report}/deals`).

mod acquisition;
mod activities;
pub(crate) mod common;
pub(crate) mod csv;
pub(crate) mod customers;
mod drill;
mod forecast;
mod funnel;
mod hygiene;
mod lead_prediction;
mod leads;
mod lost_reasons;
mod pipeline;
mod reps;
mod stalled;
mod summary;
mod time_in_stage;

use pipewise_storage::reports::{Answer, Count, Drill, Fact, Grouping, Sample, StalledRow};
use utoipa_actix_web::service_config::ServiceConfig;
use uuid::Uuid;

use crate::error::ApiError;
use common::NONE;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(summary::summary)
        .service(pipeline::pipeline)
        .service(funnel::funnel)
        .service(time_in_stage::time_in_stage)
        .service(stalled::stalled)
        .service(forecast::forecast)
        .service(leads::leads)
        .service(lead_prediction::lead_prediction_report)
        .service(lost_reasons::lost_reasons)
        .service(reps::reps)
        .service(activities::activities)
        .service(customers::customers)
        .service(acquisition::acquisition)
        .service(hygiene::hygiene)
        .service(drill::report_deals);
}

fn facts(answer: &Answer) -> &[Fact] {
    match answer {
        Answer::Facts(facts) => facts,
        _ => &[],
    }
}

fn samples(answer: &Answer) -> &[Sample] {
    match answer {
        Answer::Samples(samples) => samples,
        _ => &[],
    }
}

fn stalled_rows(answer: &Answer) -> &[StalledRow] {
    match answer {
        Answer::Stalled(rows) => rows,
        _ => &[],
    }
}

fn counts(answer: &Answer) -> &[Count] {
    match answer {
        Answer::Counts(counts) => counts,
        _ => &[],
    }
}

fn key_of(id: Option<Uuid>, text: Option<&str>, grouping: &Grouping) -> String {
    match grouping {
        Grouping::Total | Grouping::Instants(_) => common::TOTAL.to_owned(),
        Grouping::Source | Grouping::LostReason => text.unwrap_or(NONE).to_owned(),
        Grouping::Owner | Grouping::Pipeline | Grouping::Stage => {
            id.map(|id| id.to_string()).unwrap_or_else(|| NONE.to_owned())
        }
    }
}

/// The row key of a fact under `grouping`.
fn group_key(fact: &Fact, grouping: &Grouping) -> String {
    key_of(fact.key_id, fact.key_text.as_deref(), grouping)
}

fn sample_key(sample: &Sample, grouping: &Grouping) -> String {
    key_of(sample.key_id, sample.key_text.as_deref(), grouping)
}

/// The members of the row `row` of a figure grouped by `grouping`.
fn key_filter(grouping: &Grouping, row: &str) -> Result<Drill, ApiError> {
    if row == common::TOTAL {
        return Ok(Drill::default());
    }
    let bad_row = || ApiError::invalid("row", "invalid", "must be `total` or the `key` of a row of this report");
    match grouping {
        Grouping::Total | Grouping::Instants(_) => Err(bad_row()),
        Grouping::Source | Grouping::LostReason => Ok(Drill {
            key_text: Some((row != NONE).then(|| row.to_owned())),
            ..Drill::default()
        }),
        Grouping::Owner | Grouping::Pipeline | Grouping::Stage => Ok(Drill {
            key_id: Some(Some(row.parse::<Uuid>().map_err(|_| bad_row())?)),
            ..Drill::default()
        }),
    }
}

fn unknown_measure(measures: &[&str]) -> ApiError {
    ApiError::invalid(
        "measure",
        "invalid",
        format!("must be one of the counts of this report: {}", measures.join(", ")),
    )
}
