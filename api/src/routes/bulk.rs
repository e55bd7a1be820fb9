//! Bulk actions: `POST /{leads,contacts,accounts,deals}/bulk` applies one
//! action (assign, tag, untag, delete; set a lead's status; lose a deal) to
//! the records named by `ids` or admitted by a list `filter`, all or
//! nothing: storage locks every record, this module's edit decides each
//! one's step on exactly the version it replaces, and one refusal rolls the
//! whole action back. Each record changes through the same write as its
//! PATCH, DELETE or command, with the same events, notices and audit rows.

use actix_web::{post, web};
use chrono::Utc;
use pipewise_domain::{
    custom_field::Resource,
    deal::{Command, DealStatus, LostReason},
    lead::LeadStatus,
    Account, Contact, Deal, Lead, Tag, Tags,
};
use pipewise_storage::{
    AccountFields, ContactFields, DealChanges, DealEdit, DealPage, DealSortField, LeadChange, LeadFields, LeadPage,
    LeadSortField, Page, RecordOrder, Step, StoreError,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;
use uuid::Uuid;
use validator::Validate;

use crate::{
    error::ApiError,
    extract::{Caller, Json, Write},
    fields::Fields,
    routes::custom_fields::body_filters,
    routes::{
        accounts::AccountFilterQuery,
        contacts::ContactFilterQuery,
        deals::DealFilterQuery,
        lead_input::LeadStatusName,
        lead_list::{LeadFilterQuery, LeadListQuery},
        records::{self, owner_is_active},
    },
    state::AppState,
};

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(bulk_leads)
        .service(bulk_contacts)
        .service(bulk_accounts)
        .service(bulk_deals);
}

/// The most records one bulk action changes: one transaction holds them all.
pub const BULK_MAX: usize = 5_000;

/// What a bulk action did.
#[derive(Serialize, ToSchema)]
pub struct BulkOutcome {
    /// How many records `ids` or `filter` named.
    #[schema(example = 3)]
    matched: usize,
    /// How many of them changed; the others already were as asked.
    #[schema(example = 2)]
    changed: usize,
    /// The ids of the records that changed, in id order.
    changed_ids: Vec<Uuid>,
}

/// An action on accounts or contacts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RecordAction {
    /// Give the records to `owner_id`.
    Assign,
    /// Put `tag` on the records.
    AddTag,
    /// Take `tag` off the records.
    RemoveTag,
    /// Move the records to the trash.
    Delete,
}

/// An action on leads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LeadAction {
    Assign,
    /// Set `status` (with `reason` when it is `unqualified`).
    SetStatus,
    AddTag,
    RemoveTag,
    Delete,
}

/// An action on deals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DealAction {
    Assign,
    /// Lose the open deals with `reason`; lost ones stay as they are, a won one is 409.
    Lose,
    AddTag,
    RemoveTag,
    Delete,
}

/// Declares the body of one resource's bulk action.
macro_rules! bulk_body {
    ($(#[$doc:meta])* $name:ident, $filter:ty, $action:ty { $($extra:tt)* }) => {
        $(#[$doc])*
        #[derive(Deserialize, Validate, ToSchema)]
        #[serde(deny_unknown_fields)]
        pub struct $name {
            /// The records to act on (1 to 5,000); or give `filter`.
            #[schema(max_items = 5000)]
            pub ids: Option<Vec<Uuid>>,
            /// The list's filters (as its query parameters, in an object):
            /// the action applies to every record they admit, at most 5,000.
            /// Reps act on their own records only.
            pub filter: Option<$filter>,
            pub action: $action,
            /// `assign`: an active user of the organization (reps: only themselves).
            pub owner_id: Option<Uuid>,
            /// `add_tag` and `remove_tag`: the tag.
            #[schema(example = "vip", max_length = 50)]
            pub tag: Option<String>,
            $($extra)*
        }
    };
}

bulk_body!(
    /// One action on many accounts: `ids` or `filter`, and the action with what it needs.
    BulkAccounts, AccountFilterQuery, RecordAction {}
);
bulk_body!(
    /// One action on many contacts: `ids` or `filter`, and the action with what it needs.
    BulkContacts, ContactFilterQuery, RecordAction {}
);
bulk_body!(
    /// One action on many leads: `ids` or `filter`, and the action with what it needs.
    BulkLeads, LeadFilterQuery, LeadAction {
        /// `set_status`: the new status (not `converted`: convert leads one by one).
        #[schema(inline)]
        pub status: Option<LeadStatusName>,
        /// `set_status` to `unqualified`: why (required).
        #[schema(example = "No budget this year", max_length = 500)]
        pub reason: Option<String>,
    }
);
bulk_body!(
    /// One action on many deals: `ids` or `filter`, and the action with what it needs.
    BulkDeals, DealFilterQuery, DealAction {
        /// `lose`: why the deals were lost (required).
        #[schema(example = "Chose a competitor", max_length = 200)]
        pub reason: Option<String>,
    }
);

/// An action with what it needs, checked.
#[derive(Debug, Clone)]
enum Plan {
    Assign(Uuid),
    AddTag(Tag),
    RemoveTag(Tag),
    Delete,
    SetStatus(LeadStatus, Option<String>),
    Lose(LostReason),
}

/// The parameters of a body, for [`plan`].
struct Params<'a> {
    owner_id: Option<Uuid>,
    tag: Option<&'a str>,
    status: Option<LeadStatusName>,
    reason: Option<&'a str>,
}

/// The plan of `action` (`"assign"`, …) from `params`: 422 naming a
/// parameter the action needs and lacks, or one it does not use; 403 when
/// a rep assigns to someone else.
async fn plan<P>(
    caller: &Caller<P>,
    state: &AppState,
    fields: &mut Fields,
    action: &str,
    params: Params<'_>,
) -> Result<Option<Plan>, ApiError> {
    let uses = |param: &str| match param {
        "owner_id" => action == "assign",
        "tag" => action == "add_tag" || action == "remove_tag",
        "status" => action == "set_status",
        "reason" => action == "set_status" || action == "lose",
        _ => false,
    };
    let given = [
        ("owner_id", params.owner_id.is_some()),
        ("tag", params.tag.is_some()),
        ("status", params.status.is_some()),
        ("reason", params.reason.is_some()),
    ];
    for (param, _) in given.iter().filter(|(param, given)| *given && !uses(param)) {
        fields.reject(param, "invalid", &format!("is not used by the `{action}` action"));
    }
    let required = |fields: &mut Fields, param: &str| {
        fields.reject(param, "required", &format!("is required by the `{action}` action"));
    };
    let tag = |fields: &mut Fields| match params.tag {
        Some(raw) => fields.check("tag", Tag::parse(raw)),
        None => {
            required(fields, "tag");
            None
        }
    };
    Ok(match action {
        "assign" => match params.owner_id {
            Some(owner) => {
                caller.ensure_can_change(owner)?;
                if !owner_is_active(state, caller.organization_id(), owner).await? {
                    records::reject_owner(fields);
                }
                Some(Plan::Assign(owner))
            }
            None => {
                required(fields, "owner_id");
                None
            }
        },
        "add_tag" => tag(fields).map(Plan::AddTag),
        "remove_tag" => tag(fields).map(Plan::RemoveTag),
        "delete" => Some(Plan::Delete),
        "lose" => match params.reason {
            Some(raw) => fields.check("reason", LostReason::parse(raw)).map(Plan::Lose),
            None => {
                required(fields, "reason");
                None
            }
        },
        "set_status" => match params.status {
            Some(LeadStatusName::Converted) => {
                fields.reject("status", "invalid", "cannot be `converted`: convert leads one by one");
                None
            }
            Some(status) => {
                let status = LeadStatus::from(status);
                let reason = records::text(fields, "reason", params.reason, 500);
                if status != LeadStatus::Unqualified && params.reason.is_some() {
                    fields.reject("reason", "invalid", "is only used with the status `unqualified`");
                } else if status == LeadStatus::Unqualified && params.reason.is_none_or(|r| r.trim().is_empty()) {
                    required(fields, "reason");
                }
                Some(Plan::SetStatus(status, reason))
            }
            None => {
                required(fields, "status");
                None
            }
        },
        other => unreachable!("no action {other}"),
    })
}

/// The records named: `ids`, else the ids of the records `filter` admits
/// (found by `list`, which returns at most one more than [`BULK_MAX`]).
/// 422 without exactly one of them, or with too many records.
async fn targets<F, Fut>(
    fields: &mut Fields,
    ids: Option<Vec<Uuid>>,
    filter: Option<F>,
    list: impl FnOnce(F) -> Fut,
) -> Result<Option<(Vec<Uuid>, bool)>, ApiError>
where
    Fut: std::future::Future<Output = Result<Vec<Uuid>, ApiError>>,
{
    match (ids, filter) {
        (Some(_), Some(_)) | (None, None) => {
            fields.reject("ids", "one_required", "give either `ids` or `filter`, not both");
            Ok(None)
        }
        (Some(ids), None) if ids.is_empty() => {
            fields.reject("ids", "min_items", "must name at least one record");
            Ok(None)
        }
        (Some(ids), None) if ids.len() > BULK_MAX => {
            fields.reject("ids", "max_items", &format!("must name at most {BULK_MAX} records"));
            Ok(None)
        }
        (Some(ids), None) => Ok(Some((ids, false))),
        // The filter is read only once every other field is valid.
        (None, Some(_)) if !fields.is_empty() => Ok(None),
        (None, Some(filter)) => {
            let ids = list(filter).await?;
            if ids.len() > BULK_MAX {
                fields.reject(
                    "filter",
                    "max_items",
                    &format!("admits more than {BULK_MAX} records: narrow it, or act in parts"),
                );
                return Ok(None);
            }
            Ok(Some((ids, true)))
        }
    }
}

/// The outcome of a bulk action over `ids`; with a filter, a record gone
/// between the listing and its lock is a 409 (the client named no id).
fn outcome(
    ids: &[Uuid],
    by_filter: bool,
    result: Result<Vec<Uuid>, StoreError>,
) -> Result<web::Json<BulkOutcome>, ApiError> {
    match result {
        Ok(changed) => Ok(web::Json(BulkOutcome {
            matched: ids.iter().collect::<std::collections::HashSet<_>>().len(),
            changed: changed.len(),
            changed_ids: changed,
        })),
        Err(StoreError::Missing(_)) if by_filter => Err(ApiError::Conflict(
            "Records the filter admitted changed while the action ran; nothing was changed. Try again.".to_owned(),
        )),
        Err(err) => Err(err.into()),
    }
}

/// The tags after adding or removing `tag`; `None` when they stay as they are.
fn retagged(current: &Tags, id: Uuid, plan: &Plan) -> Result<Option<Tags>, ApiError> {
    let next = match plan {
        Plan::AddTag(tag) => current.with(tag).map_err(|_| {
            ApiError::invalid(
                "tag",
                "max_items",
                format!("would give {id} more than {} tags", pipewise_domain::tag::TAGS_MAX),
            )
        })?,
        Plan::RemoveTag(tag) => current.without(tag),
        _ => return Ok(None),
    };
    Ok((next != *current).then_some(next))
}

/// The filter admits only a rep's own records: reps change nothing else.
fn own_only<P>(caller: &Caller<P>, owner_id: &mut Option<Uuid>) -> bool {
    match caller.visible_owner() {
        None => true,
        Some(me) if owner_id.is_none_or(|o| o == me) => {
            *owner_id = Some(me);
            true
        }
        Some(_) => false,
    }
}

/// Act on many accounts
///
/// Apply one action to the accounts named by `ids` or admitted by `filter`
/// (the account list's filters), all or nothing: `assign` (needs
/// `owner_id`), `add_tag` and `remove_tag` (need `tag`), `delete` (to the
/// trash). Each account changes as its PATCH or DELETE would change it.
/// Reps act only on accounts they own (403 for another's id).
#[utoipa::path(
    tag = "accounts",
    request_body = BulkAccounts,
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, body = BulkOutcome),
        crate::problem::CreateConflictErrors,
    )
)]
#[post("/accounts/bulk")]
async fn bulk_accounts(
    caller: Caller<Write>,
    state: web::Data<AppState>,
    Json(body, mut fields): Json<BulkAccounts>,
) -> Result<web::Json<BulkOutcome>, ApiError> {
    let org = caller.organization_id();
    let action = serde_json::to_value(body.action).expect("an enum serializes");
    let params = Params {
        owner_id: body.owner_id,
        tag: body.tag.as_deref(),
        status: None,
        reason: None,
    };
    let plan = plan(
        &caller,
        &state,
        &mut fields,
        action.as_str().unwrap_or_default(),
        params,
    )
    .await?;
    let targets = targets(&mut fields, body.ids, body.filter, |filter: AccountFilterQuery| async {
        let custom = body_filters(&state, org, Resource::Accounts, filter.cf.as_ref()).await?;
        let mut filter = filter.filter()?;
        filter.custom = custom;
        if !own_only(&caller, &mut filter.owner_id) {
            return Ok(Vec::new());
        }
        let page = Page {
            after: None,
            limit: BULK_MAX as u32 + 1,
        };
        let accounts = state
            .store
            .accounts(org, &filter, RecordOrder::OldestFirst, page)
            .await?;
        Ok(accounts.iter().map(|a| a.id).collect())
    })
    .await?;
    let (plan, (ids, by_filter)) = fields.finish(|| (plan.expect("valid"), targets.expect("valid")))?;
    let edit = records::edit(|current: &Account| {
        caller.ensure_can_change(current.owner_id)?;
        Ok(match &plan {
            Plan::Assign(owner) if *owner == current.owner_id => Step::Keep,
            Plan::Assign(owner) => Step::Change(AccountFields {
                owner_id: *owner,
                ..AccountFields::of(current)
            }),
            Plan::Delete => Step::Trash,
            tagging => match retagged(&current.tags, current.id, tagging)? {
                Some(tags) => Step::Change(AccountFields {
                    tags,
                    ..AccountFields::of(current)
                }),
                None => Step::Keep,
            },
        })
    });
    let result = state
        .store
        .bulk_accounts(org, &ids, &edit, caller.actor(), Utc::now())
        .await;
    outcome(&ids, by_filter, result)
}

/// Act on many contacts
///
/// Apply one action to the contacts named by `ids` or admitted by `filter`
/// (the contact list's filters), all or nothing: `assign` (needs
/// `owner_id`), `add_tag` and `remove_tag` (need `tag`), `delete` (to the
/// trash). Each contact changes as its PATCH or DELETE would change it.
/// Reps act only on contacts they own (403 for another's id).
#[utoipa::path(
    tag = "contacts",
    request_body = BulkContacts,
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, body = BulkOutcome),
        crate::problem::CreateConflictErrors,
    )
)]
#[post("/contacts/bulk")]
async fn bulk_contacts(
    caller: Caller<Write>,
    state: web::Data<AppState>,
    Json(body, mut fields): Json<BulkContacts>,
) -> Result<web::Json<BulkOutcome>, ApiError> {
    let org = caller.organization_id();
    let action = serde_json::to_value(body.action).expect("an enum serializes");
    let params = Params {
        owner_id: body.owner_id,
        tag: body.tag.as_deref(),
        status: None,
        reason: None,
    };
    let plan = plan(
        &caller,
        &state,
        &mut fields,
        action.as_str().unwrap_or_default(),
        params,
    )
    .await?;
    let targets = targets(&mut fields, body.ids, body.filter, |filter: ContactFilterQuery| async {
        let custom = body_filters(&state, org, Resource::Contacts, filter.cf.as_ref()).await?;
        let mut filter = filter.filter()?;
        filter.custom = custom;
        if !own_only(&caller, &mut filter.owner_id) {
            return Ok(Vec::new());
        }
        let page = Page {
            after: None,
            limit: BULK_MAX as u32 + 1,
        };
        let contacts = state
            .store
            .contacts(org, &filter, RecordOrder::OldestFirst, page)
            .await?;
        Ok(contacts.iter().map(|c| c.id).collect())
    })
    .await?;
    let (plan, (ids, by_filter)) = fields.finish(|| (plan.expect("valid"), targets.expect("valid")))?;
    let edit = records::edit(|current: &Contact| {
        caller.ensure_can_change(current.owner_id)?;
        let of = || ContactFields::of(current).map_err(ApiError::from);
        Ok(match &plan {
            Plan::Assign(owner) if *owner == current.owner_id => Step::Keep,
            Plan::Assign(owner) => Step::Change(ContactFields {
                owner_id: *owner,
                ..of()?
            }),
            Plan::Delete => Step::Trash,
            tagging => match retagged(&current.tags, current.id, tagging)? {
                Some(tags) => Step::Change(ContactFields { tags, ..of()? }),
                None => Step::Keep,
            },
        })
    });
    let result = state
        .store
        .bulk_contacts(org, &ids, &edit, caller.actor(), Utc::now())
        .await;
    outcome(&ids, by_filter, result)
}

/// Act on many leads
///
/// Apply one action to the leads named by `ids` or admitted by `filter`
/// (the lead list's filters), all or nothing: `assign` (needs `owner_id`),
/// `set_status` (needs `status`, and `reason` for `unqualified`),
/// `add_tag` and `remove_tag` (need `tag`), `delete` (to the trash). Each
/// lead changes, is rescored and notified as its PATCH or DELETE would; a
/// converted lead in the set is 409. Reps see and act on their own leads only.
#[utoipa::path(
    tag = "leads",
    request_body = BulkLeads,
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, body = BulkOutcome),
        crate::problem::CreateConflictErrors,
    )
)]
#[post("/leads/bulk")]
async fn bulk_leads(
    caller: Caller<Write>,
    state: web::Data<AppState>,
    Json(body, mut fields): Json<BulkLeads>,
) -> Result<web::Json<BulkOutcome>, ApiError> {
    let org = caller.organization_id();
    let action = serde_json::to_value(body.action).expect("an enum serializes");
    let params = Params {
        owner_id: body.owner_id,
        tag: body.tag.as_deref(),
        status: body.status,
        reason: body.reason.as_deref(),
    };
    let plan = plan(
        &caller,
        &state,
        &mut fields,
        action.as_str().unwrap_or_default(),
        params,
    )
    .await?;
    let targets = targets(&mut fields, body.ids, body.filter, |filter: LeadFilterQuery| async {
        let custom = body_filters(&state, org, Resource::Leads, filter.cf.as_ref()).await?;
        let mut filter = LeadListQuery::from(filter).request(caller.visible_owner())?.filter;
        filter.custom = custom;
        let page = LeadPage {
            sort: LeadSortField::CreatedAt,
            descending: false,
            after: None,
            limit: BULK_MAX as u32 + 1,
            potentials: Vec::new(),
        };
        let leads = state.store.leads(org, &filter, &page).await?;
        Ok(leads.iter().map(|l| l.id).collect())
    })
    .await?;
    let (plan, (ids, by_filter)) = fields.finish(|| (plan.expect("valid"), targets.expect("valid")))?;
    let now = Utc::now();
    let edit = records::edit(|current: &Lead| {
        // A rep's bulk action cannot tell another rep's lead from no lead.
        if caller.visible_owner().is_some_and(|me| me != current.owner_id) {
            return Err(StoreError::Missing(vec![current.id]).into());
        }
        if current.progress.status == LeadStatus::Converted {
            return Err(ApiError::Conflict(format!(
                "Lead {} is converted: converted leads cannot change.",
                current.id
            )));
        }
        let change = |fields: LeadFields, progress| {
            Step::Change(LeadChange {
                fields,
                progress,
                unique_email: false,
            })
        };
        let of = || LeadFields::of(current).map_err(ApiError::from);
        Ok(match &plan {
            Plan::Assign(owner) if *owner == current.owner_id => Step::Keep,
            Plan::Assign(owner) => change(
                LeadFields {
                    owner_id: *owner,
                    ..of()?
                },
                current.progress.clone(),
            ),
            Plan::Delete => Step::Trash,
            Plan::SetStatus(status, _) if *status == current.progress.status => Step::Keep,
            Plan::SetStatus(status, reason) => {
                let progress = current
                    .progress
                    .set_status(*status, reason.clone(), now)
                    .map_err(|e| ApiError::Conflict(format!("Lead {}: {e}.", current.id)))?;
                change(of()?, progress)
            }
            tagging => match retagged(&current.tags, current.id, tagging)? {
                Some(tags) => change(LeadFields { tags, ..of()? }, current.progress.clone()),
                None => Step::Keep,
            },
        })
    });
    let result = state.store.bulk_leads(org, &ids, &edit, caller.actor(), now).await;
    outcome(&ids, by_filter, result)
}

/// Act on many deals
///
/// Apply one action to the deals named by `ids` or admitted by `filter`
/// (the deal list's filters), all or nothing: `assign` (needs `owner_id`),
/// `lose` (needs `reason`; each open deal is lost now, with its event;
/// lost ones stay as they are; a won one is 409), `add_tag` and
/// `remove_tag` (need `tag`), `delete` (to the trash). Each deal changes
/// as its PATCH, command or DELETE would. Reps see and act on their own
/// deals only.
#[utoipa::path(
    tag = "deals",
    request_body = BulkDeals,
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, body = BulkOutcome),
        crate::problem::CreateConflictErrors,
    )
)]
#[post("/deals/bulk")]
async fn bulk_deals(
    caller: Caller<Write>,
    state: web::Data<AppState>,
    Json(body, mut fields): Json<BulkDeals>,
) -> Result<web::Json<BulkOutcome>, ApiError> {
    let org = caller.organization_id();
    let action = serde_json::to_value(body.action).expect("an enum serializes");
    let params = Params {
        owner_id: body.owner_id,
        tag: body.tag.as_deref(),
        status: None,
        reason: body.reason.as_deref(),
    };
    let plan = plan(
        &caller,
        &state,
        &mut fields,
        action.as_str().unwrap_or_default(),
        params,
    )
    .await?;
    let targets = targets(&mut fields, body.ids, body.filter, |filter: DealFilterQuery| async {
        let custom = body_filters(&state, org, Resource::Deals, filter.cf.as_ref()).await?;
        let mut filter = filter.filter(caller.visible_owner())?;
        filter.custom = custom;
        let page = DealPage {
            sort: DealSortField::CreatedAt,
            descending: false,
            after: None,
            limit: BULK_MAX as u32 + 1,
        };
        let deals = state.store.deals(org, &filter, &page).await?;
        Ok(deals.iter().map(|d| d.id).collect())
    })
    .await?;
    let (plan, (ids, by_filter)) = fields.finish(|| (plan.expect("valid"), targets.expect("valid")))?;
    let edit = records::edit(|current: &Deal| {
        caller.ensure_can_change(current.owner_id)?;
        let fields = |changes| Step::Change(DealEdit::Fields(changes));
        Ok(match &plan {
            Plan::Assign(owner) if *owner == current.owner_id => Step::Keep,
            Plan::Assign(owner) => fields(DealChanges {
                owner_id: Some(*owner),
                ..DealChanges::default()
            }),
            Plan::Delete => Step::Trash,
            Plan::Lose(reason) => match current.status {
                DealStatus::Open => Step::Change(DealEdit::Command(Command::Lose { reason: reason.clone() })),
                DealStatus::Lost => Step::Keep,
                DealStatus::Won => {
                    return Err(ApiError::Conflict(format!(
                        "Deal {} is won: reopen it before losing it.",
                        current.id
                    )))
                }
            },
            tagging => match retagged(&current.tags, current.id, tagging)? {
                Some(tags) => fields(DealChanges {
                    tags: Some(tags),
                    ..DealChanges::default()
                }),
                None => Step::Keep,
            },
        })
    });
    let result = state
        .store
        .bulk_deals(org, &ids, caller.visible_owner(), &edit, caller.actor(), Utc::now())
        .await;
    outcome(&ids, by_filter, result)
}
