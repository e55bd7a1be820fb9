//! `GET /reports/hygiene`: what to clean in the pipeline, group by group.

use actix_web::{get, web};
use chrono::{SubsecRound, Utc};
use pipewise_storage::{DuplicateGroup, Hygiene, HygieneGroup, HygieneQuery};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::{
    error::ApiError,
    extract::{Caller, Reports},
    routes::search::SearchType,
    state::AppState,
};
use pipewise_domain::report::local_date;

const DEFAULT_DAYS: u32 = 14;
const DEFAULT_SAMPLE: u32 = 10;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct HygieneParams {
    /// An open deal without activity for more than this many days is
    /// stalled (as is one longer in its stage than the stage's `rotting_days`).
    #[param(minimum = 1, maximum = 3650, default = 14)]
    pub idle_days: Option<u32>,
    /// An open lead without activity for more than this many days is untouched.
    #[param(minimum = 1, maximum = 3650, default = 14)]
    pub untouched_days: Option<u32>,
    /// How many ids (or duplicate sets) each group lists, 1–100.
    #[param(minimum = 1, maximum = 100, default = 10)]
    pub sample: Option<u32>,
}

/// Records that need a look.
#[derive(Debug, Serialize, ToSchema)]
pub struct HygieneGroupView {
    /// `stalled_deals`, `deals_past_expected_close`, `untouched_leads`,
    /// `leads_without_email`, `leads_without_phone`, `contacts_without_email`,
    /// `contacts_without_phone`, `leads_of_inactive_owners`,
    /// `contacts_of_inactive_owners`, `accounts_of_inactive_owners`,
    /// `deals_of_inactive_owners`.
    #[schema(example = "untouched_leads")]
    pub key: String,
    #[serde(rename = "type")]
    pub kind: SearchType,
    pub count: i64,
    /// The first `sample`, oldest first.
    pub ids: Vec<Uuid>,
}

/// A record that shares a value with others.
#[derive(Debug, Serialize, ToSchema)]
pub struct DuplicateMember {
    #[serde(rename = "type")]
    pub kind: SearchType,
    pub id: Uuid,
}

/// Records that share one value.
#[derive(Debug, Serialize, ToSchema)]
pub struct DuplicateSetView {
    /// The email, the phone's digits or the domain they share.
    #[schema(example = "ada@acme.example")]
    pub value: String,
    pub records: Vec<DuplicateMember>,
}

/// Duplicate candidates by one kind of value.
#[derive(Debug, Serialize, ToSchema)]
pub struct DuplicateGroupView {
    /// `same_email` (open leads and contacts), `same_phone` (their phone
    /// digits, six or more) or `same_domain` (accounts).
    #[schema(example = "same_email")]
    pub key: String,
    /// How many values are shared.
    pub count: i64,
    /// The first `sample` of them, by value.
    pub sets: Vec<DuplicateSetView>,
}

/// What to clean, as of now.
#[derive(Debug, Serialize, ToSchema)]
pub struct HygieneReport {
    pub as_of: chrono::DateTime<Utc>,
    pub idle_days: u32,
    pub untouched_days: u32,
    pub groups: Vec<HygieneGroupView>,
    pub duplicates: Vec<DuplicateGroupView>,
}

fn group(g: HygieneGroup) -> HygieneGroupView {
    HygieneGroupView {
        key: g.key.to_owned(),
        kind: g.kind.into(),
        count: g.count,
        ids: g.ids,
    }
}

fn duplicates(g: DuplicateGroup) -> DuplicateGroupView {
    DuplicateGroupView {
        key: g.key.to_owned(),
        count: g.count,
        sets: g
            .sets
            .into_iter()
            .map(|s| DuplicateSetView {
                value: s.value,
                records: s
                    .records
                    .into_iter()
                    .map(|(kind, id)| DuplicateMember { kind: kind.into(), id })
                    .collect(),
            })
            .collect(),
    }
}

/// Pipeline hygiene
///
/// What to clean, group by group, each with its count and first ids:
/// stalled deals (as the stalled report defines them), open deals past their
/// expected close date (in the organization's time zone), open leads nobody
/// touched for `untouched_days`, open leads and contacts without an email or
/// a phone, open records whose owner was deactivated, and duplicate
/// candidates (open leads and contacts sharing an email or phone digits,
/// accounts sharing a domain). Reps see their own records.
#[utoipa::path(
    tag = "reports",
    params(HygieneParams),
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, body = HygieneReport),
        crate::problem::ListErrors,
    )
)]
#[get("/reports/hygiene")]
pub async fn hygiene(
    caller: Caller<Reports>,
    state: web::Data<AppState>,
    params: web::Query<HygieneParams>,
) -> Result<web::Json<HygieneReport>, ApiError> {
    let params = params.into_inner();
    let days = |value: Option<u32>, name: &str| match value {
        None => Ok(DEFAULT_DAYS),
        Some(d @ 1..=3650) => Ok(d),
        Some(_) => Err(ApiError::BadRequest(format!("{name} must be between 1 and 3650."))),
    };
    let idle_days = days(params.idle_days, "idle_days")?;
    let untouched_days = days(params.untouched_days, "untouched_days")?;
    let sample = match params.sample {
        None => DEFAULT_SAMPLE,
        Some(n @ 1..=100) => n,
        Some(_) => return Err(ApiError::BadRequest("sample must be between 1 and 100.".to_owned())),
    };
    let org = caller.organization_id();
    let organization = state.store.organization(org).await?;
    let as_of = Utc::now().trunc_subsecs(6);
    let query = HygieneQuery {
        as_of,
        today: local_date(as_of, organization.timezone.tz()),
        idle_days: i64::from(idle_days),
        untouched_days: i64::from(untouched_days),
        owner: caller.visible_owner(),
        sample,
    };
    let Hygiene {
        groups,
        duplicates: shared,
    } = state.store.hygiene(org, &query).await?;
    Ok(web::Json(HygieneReport {
        as_of,
        idle_days,
        untouched_days,
        groups: groups.into_iter().map(group).collect(),
        duplicates: shared.into_iter().map(duplicates).collect(),
    }))
}
