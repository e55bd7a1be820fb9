//! Accounts: the companies the organization sells to. Everyone in the
//! organization reads every account; reps change only the ones they own.
//! `DELETE` moves an account to the trash, `restore` brings it back, and
//! `DELETE ?purge=true` (admins only) deletes it for good.

use actix_web::{delete, get, http::header, http::StatusCode, patch, post, web, HttpResponse};
use chrono::{DateTime, Utc};
use pipewise_domain::{
    custom_field::Resource,
    text::{optional_text, TextError},
    Account, Name,
};
use pipewise_storage::{AccountFields, AccountFilter};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_actix_web::service_config::ServiceConfig;
use uuid::Uuid;
use validator::Validate;

use crate::{
    error::ApiError,
    extract::{if_match::etag, Caller, IfMatch, Json, ListOf, Read, Write},
    fields::Fields,
    nullable,
    routes::custom_fields::{custom_filters, custom_values, definitions, patch_definitions, patched_values},
    routes::{
        lead_input::parse_country,
        records::{self, check_owner, check_version, owner_is_active, DeleteQuery, EXTERNAL_ID_MAX},
    },
    state::AppState,
};

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(list_accounts)
        .service(create_account)
        .service(get_account)
        .service(update_account)
        .service(delete_account)
        .service(restore_account);
}

pub const NAME_MAX: usize = 200;
pub const DOMAIN_MAX: usize = 253;
pub const INDUSTRY_MAX: usize = 100;
pub const EMPLOYEES_MAX: i64 = 10_000_000;

/// A company the organization sells to.
#[derive(Serialize, ToSchema)]
pub struct AccountView {
    pub id: Uuid,
    pub organization_id: Uuid,
    #[schema(example = "Acme GmbH")]
    pub name: String,
    /// Lower-cased.
    #[schema(example = "acme.example")]
    pub domain: Option<String>,
    #[schema(example = "Manufacturing")]
    pub industry: Option<String>,
    #[schema(example = 250)]
    pub employee_count: Option<i64>,
    /// ISO 3166-1 alpha-2, upper case. A conversion carries the lead's
    /// country over to the account it creates.
    #[schema(example = "DE")]
    pub country: Option<String>,
    /// The user responsible for the account.
    pub owner_id: Uuid,
    /// The id a partner's system knows the account by (at most 200 characters);
    /// unique within the organization.
    #[schema(example = "crm-acc-1042")]
    pub external_id: Option<String>,
    /// Labels to group and filter by (`tag=`): lower-cased, sorted, without repeats.
    #[schema(example = json!(["vip", "trade show"]))]
    pub tags: Vec<String>,
    /// Values of the organization's custom fields (`GET /custom-fields`).
    #[schema(value_type = crate::routes::custom_fields::CustomValuesView)]
    pub custom_fields: serde_json::Map<String, serde_json::Value>,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Set while the account is in the trash.
    pub deleted_at: Option<DateTime<Utc>>,
    /// The latest creation or completion time of an activity linked to it;
    /// it only moves forward.
    pub last_activity_at: Option<DateTime<Utc>>,
}

impl From<Account> for AccountView {
    fn from(a: Account) -> Self {
        Self {
            id: a.id,
            organization_id: a.organization_id,
            name: a.name,
            domain: a.domain,
            industry: a.industry,
            employee_count: a.employee_count,
            country: a.country.map(|c| c.as_str().to_owned()),
            owner_id: a.owner_id,
            external_id: a.external_id,
            tags: a.tags.to_strings(),
            custom_fields: crate::routes::custom_fields::values_view(&a.custom_fields),
            version: a.version,
            created_at: a.created_at,
            updated_at: a.updated_at,
            deleted_at: a.deleted_at,
            last_activity_at: a.last_activity_at,
        }
    }
}

fn account_response(status: StatusCode, account: Account) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header(etag(account.version))
        .json(AccountView::from(account))
}

#[derive(Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateAccount {
    #[schema(example = "Acme GmbH", min_length = 1, max_length = 200)]
    pub name: String,
    /// The company's web domain; stored lower-cased.
    #[schema(example = "acme.example", max_length = 253)]
    pub domain: Option<String>,
    #[schema(example = "Manufacturing", max_length = 100)]
    pub industry: Option<String>,
    #[schema(example = 250, minimum = 0, maximum = 10000000)]
    pub employee_count: Option<i64>,
    /// ISO 3166-1 alpha-2, any case; blank is none.
    #[schema(example = "DE", max_length = 2)]
    pub country: Option<String>,
    /// An active user of the organization; the caller if omitted (required
    /// with an API key). Reps may name only themselves.
    pub owner_id: Option<Uuid>,
    /// The id a partner's system knows the account by; unique within the
    /// organization (409 if another account has it); blank is none.
    #[schema(example = "crm-acc-1042", max_length = 200)]
    pub external_id: Option<String>,
    /// Labels, at most 30 of at most 50 characters each (no commas or
    /// semicolons); stored trimmed and lower-cased, repeats counted once.
    #[schema(example = json!(["vip", "trade show"]))]
    pub tags: Option<Vec<String>>,
    /// Values of the organization's custom fields by key (`GET /custom-fields`), checked by their types.
    #[schema(value_type = Option<crate::routes::custom_fields::CustomValuesInput>)]
    pub custom_fields: Option<serde_json::Map<String, serde_json::Value>>,
}

/// The fields to change; `null` clears a field that may be empty.
#[derive(Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateAccount {
    #[schema(example = "Acme Group", min_length = 1, max_length = 200)]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "nullable::double_option")]
    #[schema(value_type = Option<String>, nullable, example = "acme.example", max_length = 253)]
    pub domain: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable::double_option")]
    #[schema(value_type = Option<String>, nullable, example = "Manufacturing", max_length = 100)]
    pub industry: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable::double_option")]
    #[schema(value_type = Option<i64>, nullable, example = 250, minimum = 0, maximum = 10000000)]
    pub employee_count: Option<Option<i64>>,
    /// ISO 3166-1 alpha-2, any case; blank or `null` clears it.
    #[serde(default, deserialize_with = "nullable::double_option")]
    #[schema(value_type = Option<String>, nullable, example = "DE", max_length = 2)]
    pub country: Option<Option<String>>,
    /// An active user of the organization. Reps may name only themselves.
    pub owner_id: Option<Uuid>,
    /// Unique within the organization (409 if another account has it); blank or `null` clears it.
    #[serde(default, deserialize_with = "nullable::double_option")]
    #[schema(value_type = Option<String>, nullable, example = "crm-acc-1042", max_length = 200)]
    pub external_id: Option<Option<String>>,
    /// Replaces the record's tags (`[]` removes them all); the bulk
    /// actions `add_tag` and `remove_tag` change one tag at a time.
    #[schema(example = json!(["vip"]))]
    pub tags: Option<Vec<String>>,
    /// Custom values to change, by key (`null` clears one); the other keys stay as they are.
    #[schema(value_type = Option<crate::routes::custom_fields::CustomValuesInput>)]
    pub custom_fields: Option<serde_json::Map<String, serde_json::Value>>,
}

records::record_queries!(AccountListQuery, AccountFilterQuery {
    /// Only accounts this user owns.
    owner_id: Option<Uuid>,
    /// A case-insensitive prefix of the name.
    #[param(example = "acm", max_length = 200)]
    q: Option<String>,
    /// Only accounts with this domain (case-insensitive).
    #[param(example = "acme.example", max_length = 253)]
    domain: Option<String>,
    /// Only records carrying this tag (any case).
    #[param(example = "vip", max_length = 50)]
    tag: Option<String>,
});

impl AccountFilterQuery {
    /// The filter to list with: 400 for a bad `q` or `domain`.
    pub fn filter(self) -> Result<AccountFilter, ApiError> {
        let domain = self
            .domain
            .as_deref()
            .map(parse_domain)
            .transpose()
            .map_err(|e| ApiError::BadRequest(format!("domain {e}.")))?
            .flatten();
        Ok(AccountFilter {
            owner_id: self.owner_id,
            name_prefix: records::search_prefix(self.q.as_deref())?,
            domain,
            tag: records::tag_filter(self.tag.as_deref())?,
            // Read apart (`FilteredQuery`), against the definitions.
            custom: Vec::new(),
        })
    }
}

/// A web domain: trimmed, lower-cased, at most 253 characters, no spaces.
fn parse_domain(raw: &str) -> Result<Option<String>, &'static str> {
    match optional_text(raw, DOMAIN_MAX) {
        Ok(Some(domain)) if domain.chars().any(char::is_whitespace) => Err("must be a domain name such as example.com"),
        Ok(domain) => Ok(domain.map(|d| d.to_lowercase())),
        Err(TextError::TooLong(_)) => Err("must be at most 253 characters"),
        Err(_) => Err("must be a domain name such as example.com"),
    }
}

fn parse_employee_count(count: i64) -> Result<Option<i64>, String> {
    if (0..=EMPLOYEES_MAX).contains(&count) {
        Ok(Some(count))
    } else {
        Err(format!("must be between 0 and {EMPLOYEES_MAX}"))
    }
}

/// List accounts
///
/// List the organization's accounts (trashed ones excepted), oldest first
/// unless `sort=-created_at`. Unknown parameters and sort values are 400.
#[utoipa::path(
    tag = "accounts",
    params(AccountListQuery, crate::extract::CustomFilterParams),
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, body = ListOf<AccountView>),
        crate::problem::ListErrors,
    )
)]
#[get("/accounts")]
async fn list_accounts(
    caller: Caller<Read>,
    state: web::Data<AppState>,
    query: crate::extract::FilteredQuery<AccountListQuery>,
) -> Result<web::Json<ListOf<AccountView>>, ApiError> {
    let (limit, cursor, sort, filters) = query.query.split();
    let page = records::page(limit, cursor)?;
    let mut filter = filters.filter()?;
    filter.custom = custom_filters(&state, caller.organization_id(), Resource::Accounts, &query.custom).await?;
    let order = sort.unwrap_or_default().into();
    let accounts = state
        .store
        .accounts(caller.organization_id(), &filter, order, page)
        .await?;
    Ok(web::Json(ListOf::from_rows(
        accounts,
        page,
        |a| a.id,
        AccountView::from,
    )))
}

/// Create an account
///
/// Create an account. Reps create accounts they own.
#[utoipa::path(
    tag = "accounts",
    request_body = CreateAccount,
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 201, body = AccountView, headers(("ETag" = String), ("Location" = String))),
        crate::problem::CreateErrors,
    )
)]
#[post("/accounts")]
async fn create_account(
    caller: Caller<Write>,
    state: web::Data<AppState>,
    Json(body, mut fields): Json<CreateAccount>,
) -> Result<HttpResponse, ApiError> {
    let org = caller.organization_id();
    let owner = caller.new_record_owner(body.owner_id)?;
    let defs = definitions(&state, org, Resource::Accounts).await?;
    let new = account_fields(&mut fields, &body, owner);
    let custom_fields = custom_values(&mut fields, &defs, None, body.custom_fields.as_ref());
    check_owner(&state, org, owner, &mut fields).await?;
    let new = fields.finish(|| AccountFields {
        custom_fields,
        ..new.expect("valid when no field was rejected")
    })?;
    let account = state
        .store
        .create_account(org, &new, caller.actor(), Utc::now())
        .await?;
    let location = format!("/api/v1/accounts/{}", account.id);
    let mut response = account_response(StatusCode::CREATED, account);
    response
        .headers_mut()
        .insert(header::LOCATION, location.parse().expect("a path is a header value"));
    Ok(response)
}

/// The fields of a new account owned by `owner`; `None` (with every invalid
/// field recorded in `fields`) when the name is invalid. The owner is
/// checked against the database apart.
pub fn account_fields(fields: &mut Fields, body: &CreateAccount, owner: Uuid) -> Option<AccountFields> {
    let name = fields.check("name", Name::parse(&body.name));
    let domain = fields
        .check_opt("domain", body.domain.as_deref(), parse_domain)
        .flatten();
    let industry = records::text(fields, "industry", body.industry.as_deref(), INDUSTRY_MAX);
    let employee_count = fields
        .check_opt("employee_count", body.employee_count, parse_employee_count)
        .flatten();
    let country = fields
        .check_opt("country", body.country.as_deref(), parse_country)
        .flatten();
    let external_id = records::text(fields, "external_id", body.external_id.as_deref(), EXTERNAL_ID_MAX);
    let tags = records::tags(fields, body.tags.as_deref()).unwrap_or_default();
    Some(AccountFields {
        name: name?.into_string(),
        domain,
        industry,
        employee_count,
        country,
        owner_id: owner,
        external_id,
        tags,
        // Checked against the definitions by the caller: `custom_values`.
        custom_fields: Default::default(),
    })
}

/// Get an account
///
/// Get one account.
#[utoipa::path(
    tag = "accounts",
    params(("id" = Uuid, Path, description = "The account's id")),
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, body = AccountView, headers(("ETag" = String))),
        crate::problem::ReadOneErrors,
    )
)]
#[get("/accounts/{id}")]
async fn get_account(
    caller: Caller<Read>,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let account = state.store.account(caller.organization_id(), *id).await?;
    Ok(account_response(StatusCode::OK, account))
}

/// Update an account
///
/// Change an account. Reps change only the accounts they own, and cannot
/// give them to someone else.
#[utoipa::path(
    tag = "accounts",
    params(
        ("id" = Uuid, Path, description = "The account's id"),
        ("If-Match" = Option<String>, Header, description = "The ETag last seen; 412 if stale"),
    ),
    request_body = UpdateAccount,
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, body = AccountView, headers(("ETag" = String))),
        crate::problem::UpdateErrors,
    )
)]
#[patch("/accounts/{id}")]
async fn update_account(
    caller: Caller<Write>,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    if_match: IfMatch,
    Json(body, pending): Json<UpdateAccount>,
) -> Result<HttpResponse, ApiError> {
    let org = caller.organization_id();
    let owner_active = match body.owner_id {
        Some(owner) => owner_is_active(&state, org, owner).await?,
        None => true,
    };
    let defs = patch_definitions(&state, org, Resource::Accounts, body.custom_fields.as_ref()).await?;
    let edit = records::edit(|current: &Account| {
        caller.ensure_can_change(current.owner_id)?;
        check_version(&if_match, current.version)?;
        let (pending, custom_fields) =
            patched_values(&pending, &defs, &current.custom_fields, body.custom_fields.as_ref());
        let next = changed(&caller, current, &body, &pending, owner_active)?;
        Ok(AccountFields { custom_fields, ..next })
    });
    let account = state
        .store
        .update_account(org, *id, &edit, caller.actor(), Utc::now())
        .await?;
    Ok(account_response(StatusCode::OK, account))
}

/// `current` with the changes of `body` applied, if they are valid;
/// `owner_active` says whether `body.owner_id`, if any, is an active user.
pub fn changed<P>(
    caller: &Caller<P>,
    current: &Account,
    body: &UpdateAccount,
    pending: &Fields,
    owner_active: bool,
) -> Result<AccountFields, ApiError> {
    let mut fields = pending.clone();
    let mut next = AccountFields::of(current);
    if let Some(name) = fields.check_opt("name", body.name.as_deref(), Name::parse) {
        next.name = name.into_string();
    }
    if let Some(domain) = records::patch(&mut fields, "domain", &body.domain, parse_domain) {
        next.domain = domain;
    }
    if let Some(industry) = records::patch_text(&mut fields, "industry", &body.industry, INDUSTRY_MAX) {
        next.industry = industry;
    }
    match body.employee_count {
        Some(Some(count)) => {
            if let Some(count) = fields.check("employee_count", parse_employee_count(count)) {
                next.employee_count = count;
            }
        }
        Some(None) => next.employee_count = None,
        None => {}
    }
    if let Some(country) = records::patch(&mut fields, "country", &body.country, parse_country) {
        next.country = country;
    }
    if let Some(external_id) = records::patch_text(&mut fields, "external_id", &body.external_id, EXTERNAL_ID_MAX) {
        next.external_id = external_id;
    }
    if let Some(tags) = records::tags(&mut fields, body.tags.as_deref()) {
        next.tags = tags;
    }
    if let Some(owner) = body.owner_id.filter(|o| *o != current.owner_id) {
        caller.ensure_can_change(owner)?;
        if !owner_active {
            records::reject_owner(&mut fields);
        }
        next.owner_id = owner;
    }
    fields.finish(|| next)
}

/// Trash or purge an account
///
/// Move an account to the trash (`POST …/restore` brings it back), or with
/// `purge=true` delete it for good (admins only): its contacts and deals
/// stay, without an account.
#[utoipa::path(
    tag = "accounts",
    params(
        ("id" = Uuid, Path, description = "The account's id"),
        ("If-Match" = Option<String>, Header, description = "The ETag last seen; 412 if stale"),
        DeleteQuery,
    ),
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 204, description = "Trashed, or purged"),
        crate::problem::DeleteErrors,
    )
)]
#[delete("/accounts/{id}")]
async fn delete_account(
    caller: Caller<Write>,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    if_match: IfMatch,
    query: web::Query<DeleteQuery>,
) -> Result<HttpResponse, ApiError> {
    let (org, id) = (caller.organization_id(), *id);
    let (caller, state, if_match) = (&caller, &state, &if_match);
    if query.purge == Some(true) {
        caller.ensure_admin()?;
        let check = records::edit(|current: &Account| {
            check_version(if_match, current.version)?;
            Ok(())
        });
        state
            .store
            .purge_account(org, id, &check, caller.actor(), Utc::now())
            .await?;
    } else {
        let check = records::edit(|current: &Account| {
            caller.ensure_can_change(current.owner_id)?;
            check_version(if_match, current.version)?;
            Ok(())
        });
        state
            .store
            .trash_account(org, id, &check, caller.actor(), Utc::now())
            .await?;
    }
    Ok(HttpResponse::NoContent().finish())
}

/// Restore an account
///
/// Bring an account back from the trash. Restoring an account that is not
/// in the trash changes nothing.
#[utoipa::path(
    tag = "accounts",
    params(("id" = Uuid, Path, description = "The account's id")),
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, body = AccountView, headers(("ETag" = String))),
        crate::problem::CommandErrors,
    )
)]
#[post("/accounts/{id}/restore")]
async fn restore_account(
    caller: Caller<Write>,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let (org, id) = (caller.organization_id(), *id);
    let (caller, state) = (&caller, &state);
    let check = records::edit(|current: &Account| {
        caller.ensure_can_change(current.owner_id)?;
        Ok(())
    });
    let account = state
        .store
        .restore_account(org, id, &check, caller.actor(), Utc::now())
        .await?;
    Ok(account_response(StatusCode::OK, account))
}
