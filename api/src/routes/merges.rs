//! Merges: `POST /{contacts,leads}/merge` folds duplicates into the record
//! kept, in one transaction. Storage locks every record (in id order, as a
//! bulk action does) and moves their history; this module's edit checks
//! each one and decides the kept record's fields: each empty field takes the
//! first value the merged records have, in `merge_ids` order (custom
//! fields too), and the tags gain theirs. The merged records go to the trash without their email and
//! external id, so the kept record may take them.

use actix_web::{http::StatusCode, post, web, HttpResponse};
use chrono::Utc;
use pipewise_domain::{Contact, Lead, Tags};
use pipewise_storage::{ContactFields, LeadChange, LeadFields, Merging, StoreError};
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;
use uuid::Uuid;
use validator::Validate;

use crate::{
    error::ApiError,
    extract::{Caller, Json, Write},
    fields::Fields,
    routes::{
        contacts::contact_response,
        leads::{ensure_not_converted, lead_response},
        records,
    },
    state::AppState,
};

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(merge_contacts).service(merge_leads);
}

/// The most records one merge folds into the kept one.
pub const MERGE_MAX: usize = 50;

/// Records to fold into one.
#[derive(Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MergeRecords {
    /// The record that stays.
    pub keep_id: Uuid,
    /// The records folded into it (1 to 50), which go to the trash.
    #[schema(min_items = 1, max_items = 50)]
    pub merge_ids: Vec<Uuid>,
}

impl MergeRecords {
    /// 422 on `merge_ids` when it names none, too many, or `keep_id`.
    fn check(&self, fields: &mut Fields, noun: &str) {
        if self.merge_ids.is_empty() {
            fields.reject("merge_ids", "min_items", &format!("must name at least one {noun}"));
        } else if self.merge_ids.len() > MERGE_MAX {
            fields.reject(
                "merge_ids",
                "max_items",
                &format!("must name at most {MERGE_MAX} {noun}s"),
            );
        } else if self.merge_ids.contains(&self.keep_id) {
            fields.reject("merge_ids", "invalid", "must not hold keep_id");
        }
    }

    /// The merged records in `merge_ids` order: the first one with a value
    /// gives it to an empty field of the kept record.
    fn in_order<'a, T>(&self, merged: &'a [T], id: impl Fn(&T) -> Uuid) -> Vec<&'a T> {
        let mut merged: Vec<&T> = merged.iter().collect();
        merged.sort_by_key(|r| self.merge_ids.iter().position(|m| *m == id(r)));
        merged
    }

    /// 422 naming the ids of records that are not live or that the caller
    /// cannot see, on `keep_id` if it is one of them.
    fn missing(&self, ids: &[Uuid], noun: &str) -> ApiError {
        let field = if ids.contains(&self.keep_id) {
            "keep_id"
        } else {
            "merge_ids"
        };
        ApiError::invalid(
            field,
            "not_found",
            format!(
                "names no live {noun} you can see: {}",
                ids.iter().map(Uuid::to_string).collect::<Vec<_>>().join(", ")
            ),
        )
    }

    /// Storage's answer, with `Missing` named as [`Self::missing`] names it.
    fn answer<T>(&self, result: Result<T, StoreError>, noun: &str) -> Result<T, ApiError> {
        match result {
            Err(StoreError::Missing(ids)) => Err(self.missing(&ids, noun)),
            other => other.map_err(ApiError::from),
        }
    }
}

/// The kept record's tags and theirs, at most 30 (422 on `merge_ids` otherwise).
fn joined(tags: &Tags, other: &Tags) -> Result<Tags, ApiError> {
    tags.union(other).map_err(|_| {
        ApiError::invalid(
            "merge_ids",
            "invalid",
            format!(
                "the records hold more than {} tags between them",
                pipewise_domain::tag::TAGS_MAX
            ),
        )
    })
}

/// Merge contacts
///
/// Fold duplicates into one contact, in one transaction: their activities,
/// notes, deal links (one per deal) and converted leads move to the kept
/// contact; each of its empty fields takes the first value the merged
/// contacts have (in `merge_ids` order), and its tags gain theirs. The
/// merged contacts go to the trash without their email and external id.
/// Every contact must be live and changeable by the caller (reps: their own).
#[utoipa::path(
    tag = "contacts",
    request_body = MergeRecords,
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, body = crate::routes::contacts::ContactView, headers(("ETag" = String))),
        crate::problem::CreateConflictErrors,
    )
)]
#[post("/contacts/merge")]
async fn merge_contacts(
    caller: Caller<Write>,
    state: web::Data<AppState>,
    Json(body, mut fields): Json<MergeRecords>,
) -> Result<HttpResponse, ApiError> {
    body.check(&mut fields, "contact");
    fields.finish(|| ())?;
    let edit = records::edit(|merging: &Merging<Contact>| {
        caller.ensure_can_change(merging.keep.owner_id)?;
        let mut next = ContactFields::of(&merging.keep)?;
        for contact in body.in_order(&merging.merged, |c| c.id) {
            caller.ensure_can_change(contact.owner_id)?;
            let other = ContactFields::of(contact)?;
            next.first_name = next.first_name.or(other.first_name);
            next.last_name = next.last_name.or(other.last_name);
            next.email = next.email.or(other.email);
            next.phone = next.phone.or(other.phone);
            next.title = next.title.or(other.title);
            next.account_id = next.account_id.or(other.account_id);
            next.buying_role = next.buying_role.or(other.buying_role);
            next.external_id = next.external_id.or(other.external_id);
            next.tags = joined(&next.tags, &other.tags)?;
            next.custom_fields = next.custom_fields.filled_from(&other.custom_fields);
        }
        Ok(next)
    });
    let merged = state
        .store
        .merge_contacts(
            caller.organization_id(),
            body.keep_id,
            &body.merge_ids,
            &edit,
            caller.actor(),
            Utc::now(),
        )
        .await;
    Ok(contact_response(StatusCode::OK, body.answer(merged, "contact")?))
}

/// Merge leads
///
/// Fold duplicate leads into one, in one transaction: their activities and
/// notes move to the kept lead, which is rescored (its first activity and
/// last activity account for theirs); each of its empty fields takes the
/// first value the merged leads have (in `merge_ids` order; an estimated
/// value comes with its currency and period), and its tags gain theirs.
/// Its status stays as it is. The merged leads go to the trash without their
/// email and external id. Every lead must be live and not converted (409);
/// reps merge only their own (another rep's lead is not found).
#[utoipa::path(
    tag = "leads",
    request_body = MergeRecords,
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, body = crate::routes::lead_input::LeadView, headers(("ETag" = String))),
        crate::problem::CreateConflictErrors,
    )
)]
#[post("/leads/merge")]
async fn merge_leads(
    caller: Caller<Write>,
    state: web::Data<AppState>,
    Json(body, mut fields): Json<MergeRecords>,
) -> Result<HttpResponse, ApiError> {
    body.check(&mut fields, "lead");
    fields.finish(|| ())?;
    // A rep cannot tell another rep's lead from no lead.
    let check = |lead: &Lead| match caller.visible_owner() {
        Some(me) if me != lead.owner_id => Err(body.missing(&[lead.id], "lead")),
        _ => ensure_not_converted(lead),
    };
    let edit = records::edit(|merging: &Merging<Lead>| {
        check(&merging.keep)?;
        let mut next = LeadFields::of(&merging.keep)?;
        for lead in body.in_order(&merging.merged, |l| l.id) {
            check(lead)?;
            let other = LeadFields::of(lead)?;
            next.first_name = next.first_name.or(other.first_name);
            next.last_name = next.last_name.or(other.last_name);
            next.email = next.email.or(other.email);
            next.phone = next.phone.or(other.phone);
            next.company_name = next.company_name.or(other.company_name);
            next.title = next.title.or(other.title);
            next.industry = next.industry.or(other.industry);
            next.employee_count = next.employee_count.or(other.employee_count);
            next.country = next.country.or(other.country);
            next.source = next.source.or(other.source);
            if next.estimated_value.is_none() && other.estimated_value.is_some() {
                next.estimated_value = other.estimated_value;
                next.currency = other.currency;
                next.value_period = other.value_period;
            }
            next.external_id = next.external_id.or(other.external_id);
            next.tags = joined(&next.tags, &other.tags)?;
            next.custom_fields = next.custom_fields.filled_from(&other.custom_fields);
        }
        Ok(LeadChange {
            fields: next,
            progress: merging.keep.progress.clone(),
            // The email moves from a merged lead: no new duplicate.
            unique_email: false,
        })
    });
    let merged = state
        .store
        .merge_leads(
            caller.organization_id(),
            body.keep_id,
            &body.merge_ids,
            &edit,
            caller.actor(),
            Utc::now(),
        )
        .await;
    lead_response(&state, StatusCode::OK, body.answer(merged, "lead")?).await
}
