//! `GET /reports/activities`: follow-up at `as_of`: what is overdue, what is
//! due today, and what was done in the period.

use actix_web::{get, web, HttpRequest, HttpResponse};
use chrono::{Days, Utc};
use pipewise_domain::report::local_midnight;
use pipewise_storage::reports::{ActivityGrouping, ActivityQuery, Question};
use serde::Serialize;
use utoipa::ToSchema;

use super::{
    common::{CommonQuery, Context, Definition, FormatQuery, TOTAL},
    counts,
    csv::{Report, Table},
};
use crate::{
    error::ApiError,
    extract::{Caller, Reports},
    state::AppState,
};

const TYPES: [&str; 4] = ["call", "email", "meeting", "task"];

#[derive(Serialize, ToSchema)]
pub struct ActivitiesReport {
    definition: Definition,
    total: ActivityRow,
    /// One row per activity type: `call`, `email`, `meeting`, `task`.
    types: Vec<ActivityRow>,
}

#[derive(Serialize, ToSchema)]
pub struct ActivityRow {
    /// `total` or the activity type.
    #[schema(example = "call")]
    key: String,
    /// Open at `as_of` with `due_at` before it.
    overdue: u64,
    /// Open at `as_of` and due on its local day.
    due_today: u64,
    /// With `done_at` in the period.
    done_in_period: u64,
}

impl Report for ActivitiesReport {
    const NAME: &'static str = "activities";
    fn definition(&self) -> &Definition {
        &self.definition
    }
    fn table(&self) -> Table {
        Table {
            columns: &["key", "overdue", "due_today", "done_in_period"],
            rows: std::iter::once(&self.total)
                .chain(&self.types)
                .map(|r| {
                    vec![
                        r.key.clone(),
                        r.overdue.to_string(),
                        r.due_today.to_string(),
                        r.done_in_period.to_string(),
                    ]
                })
                .collect(),
        }
    }
}

/// Activity follow-up
///
/// At `as_of`: the activities open then (created by then and not done by
/// then) that are `overdue` (due before `as_of`) or `due_today` (due on
/// `as_of`'s local day, overdue ones included); and those with `done_at`
/// in [from, to). In total and by type; `owner_id` filters by the
/// activity's owner, a rep sees their own. `pipeline_id` and `source` do
/// not apply.
#[utoipa::path(
    tag = "reports",
    params(CommonQuery, FormatQuery),
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, content((ActivitiesReport = "application/json"), (String = "text/csv"))),
        crate::problem::ReportErrors,
    )
)]
#[get("/reports/activities")]
pub(super) async fn activities(
    req: HttpRequest,
    caller: Caller<Reports>,
    state: web::Data<AppState>,
    common: web::Query<CommonQuery>,
    format: web::Query<FormatQuery>,
) -> Result<HttpResponse, ApiError> {
    let ctx = Context::new(&req, &caller, &state, &common, format.format, Utc::now()).await?;
    let tz = ctx.organization.timezone.tz();
    let day = ctx.local_date(ctx.as_of);
    let next = day.checked_add_days(Days::new(1)).unwrap_or(day);
    let answers = state
        .store
        .report(
            caller.organization_id(),
            &ctx.scope,
            &[Question::Activities(ActivityQuery {
                from: ctx.period.from,
                to: ctx.period.to,
                as_of: ctx.as_of,
                today: (local_midnight(day, tz), local_midnight(next, tz)),
                grouping: ActivityGrouping::Type,
            })],
        )
        .await?;
    let counts = counts(&answers[0]);
    let sum = |measure: &str, kind: Option<&str>| -> u64 {
        counts
            .iter()
            .filter(|c| c.measure == measure && kind.is_none_or(|k| c.key_text.as_deref() == Some(k)))
            .map(|c| u64::try_from(c.n).unwrap_or(0))
            .sum()
    };
    let row = |key: &str, kind: Option<&str>| ActivityRow {
        key: key.to_owned(),
        overdue: sum("overdue", kind),
        due_today: sum("due_today", kind),
        done_in_period: sum("done", kind),
    };
    let report = ActivitiesReport {
        definition: ctx.definition(),
        total: row(TOTAL, None),
        types: TYPES.iter().map(|t| row(t, Some(t))).collect(),
    };
    Ok(super::csv::respond(&ctx, &report))
}
