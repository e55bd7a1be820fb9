//! Contacts: the people the organization deals with, usually at an account.
//! Everyone in the organization reads every contact; reps change only the
//! ones they own. `DELETE` moves a contact to the trash, `restore` brings it
//! back, and `DELETE ?purge=true` (admins only) erases its personal data for
//! good while the deals it took part in keep their history.

use actix_web::{delete, get, http::header, http::StatusCode, patch, post, web, HttpResponse};
use chrono::{DateTime, Utc};
use pipewise_domain::{custom_field::Resource, Contact, Email, EmailError};
use pipewise_storage::{ContactFields, ContactFilter, StoreError};
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
        deals::BuyingRoleName,
        leads::{self, EmailUse},
        records::{self, check_owner, check_version, owner_is_active, DeleteQuery},
    },
    state::AppState,
};

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(list_contacts)
        .service(create_contact)
        .service(get_contact)
        .service(update_contact)
        .service(delete_contact)
        .service(restore_contact);
}

pub const NAME_MAX: usize = 100;
pub const PHONE_MAX: usize = 50;
pub const TITLE_MAX: usize = 200;

/// A person the organization deals with.
#[derive(Serialize, ToSchema)]
pub struct ContactView {
    pub id: Uuid,
    pub organization_id: Uuid,
    #[schema(example = "Ada")]
    pub first_name: Option<String>,
    #[schema(example = "Lovelace")]
    pub last_name: Option<String>,
    /// Lower-cased; unique within the organization.
    #[schema(example = "ada@acme.example")]
    pub email: Option<String>,
    #[schema(example = "+44 20 7946 0000")]
    pub phone: Option<String>,
    #[schema(example = "Head of Engineering")]
    pub title: Option<String>,
    /// The account the contact works at.
    pub account_id: Option<Uuid>,
    pub buying_role: Option<BuyingRoleName>,
    /// The user responsible for the contact.
    pub owner_id: Uuid,
    /// The id a partner's system knows the contact by (at most 200 characters);
    /// unique within the organization.
    #[schema(example = "crm-ct-88")]
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
    /// Set while the contact is in the trash.
    pub deleted_at: Option<DateTime<Utc>>,
    /// The latest creation or completion time of an activity linked to it;
    /// it only moves forward.
    pub last_activity_at: Option<DateTime<Utc>>,
}

impl From<Contact> for ContactView {
    fn from(c: Contact) -> Self {
        Self {
            id: c.id,
            organization_id: c.organization_id,
            first_name: c.first_name,
            last_name: c.last_name,
            email: c.email,
            phone: c.phone,
            title: c.title,
            account_id: c.account_id,
            buying_role: c.buying_role.map(Into::into),
            owner_id: c.owner_id,
            external_id: c.external_id,
            tags: c.tags.to_strings(),
            custom_fields: crate::routes::custom_fields::values_view(&c.custom_fields),
            version: c.version,
            created_at: c.created_at,
            updated_at: c.updated_at,
            deleted_at: c.deleted_at,
            last_activity_at: c.last_activity_at,
        }
    }
}

pub(crate) fn contact_response(status: StatusCode, contact: Contact) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header(etag(contact.version))
        .json(ContactView::from(contact))
}

/// A new contact: at least one of `first_name`, `last_name` and `email`.
#[derive(Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateContact {
    #[schema(example = "Ada", max_length = 100)]
    pub first_name: Option<String>,
    #[schema(example = "Lovelace", max_length = 100)]
    pub last_name: Option<String>,
    /// Unique within the organization, whatever its case: a duplicate is 409
    /// with the existing contact's id in `existing_id`.
    #[schema(example = "ada@acme.example", max_length = 254, format = Email)]
    pub email: Option<String>,
    #[schema(example = "+44 20 7946 0000", max_length = 50)]
    pub phone: Option<String>,
    #[schema(example = "Head of Engineering", max_length = 200)]
    pub title: Option<String>,
    /// An account of the organization that is not in the trash.
    pub account_id: Option<Uuid>,
    pub buying_role: Option<BuyingRoleName>,
    /// An active user of the organization; the caller if omitted (required
    /// with an API key). Reps may name only themselves.
    pub owner_id: Option<Uuid>,
    /// The id a partner's system knows the contact by; unique within the
    /// organization (409 if another contact has it); blank is none.
    #[schema(example = "crm-ct-88", max_length = 200)]
    pub external_id: Option<String>,
    /// Labels, at most 30 of at most 50 characters each (no commas or
    /// semicolons); stored trimmed and lower-cased, repeats counted once.
    #[schema(example = json!(["vip", "trade show"]))]
    pub tags: Option<Vec<String>>,
    /// Values of the organization's custom fields by key (`GET /custom-fields`), checked by their types.
    #[schema(value_type = Option<crate::routes::custom_fields::CustomValuesInput>)]
    pub custom_fields: Option<serde_json::Map<String, serde_json::Value>>,
}

/// The fields to change; `null` clears a field that may be empty. The
/// contact must keep at least one of `first_name`, `last_name` and `email`.
#[derive(Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateContact {
    #[serde(default, deserialize_with = "nullable::double_option")]
    #[schema(value_type = Option<String>, nullable, example = "Ada", max_length = 100)]
    pub first_name: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable::double_option")]
    #[schema(value_type = Option<String>, nullable, example = "King", max_length = 100)]
    pub last_name: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable::double_option")]
    #[schema(value_type = Option<String>, nullable, example = "ada@acme.example", max_length = 254, format = Email)]
    pub email: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable::double_option")]
    #[schema(value_type = Option<String>, nullable, example = "+44 20 7946 0000", max_length = 50)]
    pub phone: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable::double_option")]
    #[schema(value_type = Option<String>, nullable, example = "CTO", max_length = 200)]
    pub title: Option<Option<String>>,
    /// An account of the organization that is not in the trash.
    #[serde(default, deserialize_with = "nullable::double_option")]
    #[schema(value_type = Option<Uuid>, nullable)]
    pub account_id: Option<Option<Uuid>>,
    #[serde(default, deserialize_with = "nullable::double_option")]
    #[schema(value_type = Option<BuyingRoleName>, nullable)]
    pub buying_role: Option<Option<BuyingRoleName>>,
    /// An active user of the organization. Reps may name only themselves.
    pub owner_id: Option<Uuid>,
    /// Unique within the organization (409 if another contact has it); blank or `null` clears it.
    #[serde(default, deserialize_with = "nullable::double_option")]
    #[schema(value_type = Option<String>, nullable, example = "crm-ct-88", max_length = 200)]
    pub external_id: Option<Option<String>>,
    /// Replaces the record's tags (`[]` removes them all); the bulk
    /// actions `add_tag` and `remove_tag` change one tag at a time.
    #[schema(example = json!(["vip"]))]
    pub tags: Option<Vec<String>>,
    /// Custom values to change, by key (`null` clears one); the other keys stay as they are.
    #[schema(value_type = Option<crate::routes::custom_fields::CustomValuesInput>)]
    pub custom_fields: Option<serde_json::Map<String, serde_json::Value>>,
}

records::record_queries!(ContactListQuery, ContactFilterQuery {
    /// Only the contacts of this account.
    account_id: Option<Uuid>,
    #[param(inline)]
    buying_role: Option<BuyingRoleName>,
    /// Only contacts this user owns.
    owner_id: Option<Uuid>,
    /// Words that each begin a word of the contact (its name, title, email
    /// or phone), any case, any order: `ada lov`, `byron`. The search index
    /// of `GET /search`.
    #[param(example = "ada", max_length = 200)]
    q: Option<String>,
    /// Only records carrying this tag (any case).
    #[param(example = "vip", max_length = 50)]
    tag: Option<String>,
});

impl ContactFilterQuery {
    /// The filter to list with: 400 for a bad `q`.
    pub fn filter(self) -> Result<ContactFilter, ApiError> {
        Ok(ContactFilter {
            account_id: self.account_id,
            buying_role: self.buying_role.map(Into::into),
            owner_id: self.owner_id,
            prefix: records::search_prefix(self.q.as_deref())?,
            tag: records::tag_filter(self.tag.as_deref())?,
            // Read apart (`FilteredQuery`), against the definitions.
            custom: Vec::new(),
        })
    }
}

/// An email address; blank is absent.
fn parse_email(raw: &str) -> Result<Option<Email>, EmailError> {
    if raw.trim().is_empty() {
        Ok(None)
    } else {
        Email::parse(raw).map(Some)
    }
}

/// A contact needs something to call it by. `given` are the request's
/// values for the three fields: a non-blank one that left no value was
/// invalid, which its own error already says.
fn require_identity(fields: &mut Fields, next: &ContactFields, given: [Option<&str>; 3]) {
    let none_left = next.first_name.is_none() && next.last_name.is_none() && next.email.is_none();
    let none_given = given.iter().flatten().all(|raw| raw.trim().is_empty());
    if none_left && none_given {
        for field in ["first_name", "last_name", "email"] {
            fields.reject(
                field,
                "one_required",
                "a contact needs at least one of first_name, last_name and email",
            );
        }
    }
}

/// The text of a PATCH field, if it has one.
fn given(raw: &Option<Option<String>>) -> Option<&str> {
    raw.as_ref().and_then(|r| r.as_deref())
}

/// Records a 422 on `account_id` unless it names a live account of the organization.
async fn check_account(state: &AppState, org: Uuid, account: Uuid, fields: &mut Fields) -> Result<(), ApiError> {
    if !account_exists(state, org, account).await? {
        reject_account(fields);
    }
    Ok(())
}

async fn account_exists(state: &AppState, org: Uuid, account: Uuid) -> Result<bool, ApiError> {
    match state.store.account(org, account).await {
        Ok(_) => Ok(true),
        Err(StoreError::NotFound) => Ok(false),
        Err(err) => Err(err.into()),
    }
}

pub fn reject_account(fields: &mut Fields) {
    fields.reject(
        "account_id",
        "invalid",
        "must be an account of the organization that is not in the trash",
    );
}

/// A duplicate email is a 409 naming the contact that has it, or the lead,
/// if the caller may read that lead.
async fn duplicate_email(
    caller: &Caller<Write>,
    state: &AppState,
    org: Uuid,
    email: Option<&Email>,
    err: StoreError,
) -> ApiError {
    if let StoreError::DuplicateEmail(_) = err {
        return leads::duplicate_email(caller, EmailUse::Contact)(err);
    }
    if let (StoreError::Conflict(_), Some(email)) = (&err, email) {
        match state.store.contact_id_by_email(org, email).await {
            Ok(Some(existing_id)) => {
                return ApiError::Duplicate {
                    detail: "A contact with this email already exists.".to_owned(),
                    existing_id: Some(existing_id),
                }
            }
            Ok(None) => {}
            Err(lookup) => return lookup.into(),
        }
    }
    err.into()
}

/// List contacts
///
/// List the organization's contacts (trashed ones excepted), oldest first
/// unless `sort=-created_at`. Unknown parameters and sort values are 400.
#[utoipa::path(
    tag = "contacts",
    params(ContactListQuery, crate::extract::CustomFilterParams),
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, body = ListOf<ContactView>),
        crate::problem::ListErrors,
    )
)]
#[get("/contacts")]
async fn list_contacts(
    caller: Caller<Read>,
    state: web::Data<AppState>,
    query: crate::extract::FilteredQuery<ContactListQuery>,
) -> Result<web::Json<ListOf<ContactView>>, ApiError> {
    let (limit, cursor, sort, filters) = query.query.split();
    let page = records::page(limit, cursor)?;
    let mut filter = filters.filter()?;
    filter.custom = custom_filters(&state, caller.organization_id(), Resource::Contacts, &query.custom).await?;
    let order = sort.unwrap_or_default().into();
    let contacts = state
        .store
        .contacts(caller.organization_id(), &filter, order, page)
        .await?;
    Ok(web::Json(ListOf::from_rows(
        contacts,
        page,
        |c| c.id,
        ContactView::from,
    )))
}

/// Create a contact
///
/// Create a contact. Reps create contacts they own. A duplicate email is 409
/// with the existing contact's id (which may be in the trash: restore it).
#[utoipa::path(
    tag = "contacts",
    request_body = CreateContact,
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 201, body = ContactView, headers(("ETag" = String), ("Location" = String))),
        crate::problem::CreateConflictErrors,
    )
)]
#[post("/contacts")]
async fn create_contact(
    caller: Caller<Write>,
    state: web::Data<AppState>,
    Json(body, mut fields): Json<CreateContact>,
) -> Result<HttpResponse, ApiError> {
    let org = caller.organization_id();
    let owner = caller.new_record_owner(body.owner_id)?;
    let defs = definitions(&state, org, Resource::Contacts).await?;
    let mut new = contact_fields(&mut fields, &body, owner);
    new.custom_fields = custom_values(&mut fields, &defs, None, body.custom_fields.as_ref());
    if let Some(account) = new.account_id {
        check_account(&state, org, account, &mut fields).await?;
    }
    check_owner(&state, org, owner, &mut fields).await?;
    let new = fields.finish(|| new)?;
    let contact = match state.store.create_contact(org, &new, caller.actor(), Utc::now()).await {
        Ok(contact) => contact,
        Err(err) => return Err(duplicate_email(&caller, &state, org, new.email.as_ref(), err).await),
    };
    let location = format!("/api/v1/contacts/{}", contact.id);
    let mut response = contact_response(StatusCode::CREATED, contact);
    response
        .headers_mut()
        .insert(header::LOCATION, location.parse().expect("a path is a header value"));
    Ok(response)
}

/// The fields of a new contact owned by `owner`, every invalid one recorded
/// in `fields` (its account and owner are checked against the database apart).
pub fn contact_fields(fields: &mut Fields, body: &CreateContact, owner: Uuid) -> ContactFields {
    let new = ContactFields {
        first_name: records::text(fields, "first_name", body.first_name.as_deref(), NAME_MAX),
        last_name: records::text(fields, "last_name", body.last_name.as_deref(), NAME_MAX),
        email: fields.check_opt("email", body.email.as_deref(), parse_email).flatten(),
        phone: records::text(fields, "phone", body.phone.as_deref(), PHONE_MAX),
        title: records::text(fields, "title", body.title.as_deref(), TITLE_MAX),
        account_id: body.account_id,
        buying_role: body.buying_role.map(Into::into),
        owner_id: owner,
        external_id: records::text(
            fields,
            "external_id",
            body.external_id.as_deref(),
            records::EXTERNAL_ID_MAX,
        ),
        tags: records::tags(fields, body.tags.as_deref()).unwrap_or_default(),
        // Checked against the definitions by the caller: `custom_values`.
        custom_fields: Default::default(),
    };
    require_identity(
        fields,
        &new,
        [
            body.first_name.as_deref(),
            body.last_name.as_deref(),
            body.email.as_deref(),
        ],
    );
    new
}

/// Get a contact
///
/// Get one contact.
#[utoipa::path(
    tag = "contacts",
    params(("id" = Uuid, Path, description = "The contact's id")),
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, body = ContactView, headers(("ETag" = String))),
        crate::problem::ReadOneErrors,
    )
)]
#[get("/contacts/{id}")]
async fn get_contact(
    caller: Caller<Read>,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let contact = state.store.contact(caller.organization_id(), *id).await?;
    Ok(contact_response(StatusCode::OK, contact))
}

/// Update a contact
///
/// Change a contact. Reps change only the contacts they own, and cannot
/// give them to someone else. A duplicate email is 409 with the existing
/// contact's id.
#[utoipa::path(
    tag = "contacts",
    params(
        ("id" = Uuid, Path, description = "The contact's id"),
        ("If-Match" = Option<String>, Header, description = "The ETag last seen; 412 if stale"),
    ),
    request_body = UpdateContact,
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, body = ContactView, headers(("ETag" = String))),
        crate::problem::UpdateErrors,
    )
)]
#[patch("/contacts/{id}")]
async fn update_contact(
    caller: Caller<Write>,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    if_match: IfMatch,
    Json(body, pending): Json<UpdateContact>,
) -> Result<HttpResponse, ApiError> {
    let org = caller.organization_id();
    let refs = Refs {
        account_exists: match body.account_id.flatten() {
            Some(account) => account_exists(&state, org, account).await?,
            None => true,
        },
        owner_active: match body.owner_id {
            Some(owner) => owner_is_active(&state, org, owner).await?,
            None => true,
        },
    };
    let defs = patch_definitions(&state, org, Resource::Contacts, body.custom_fields.as_ref()).await?;
    let edit = records::edit(|current: &Contact| {
        caller.ensure_can_change(current.owner_id)?;
        check_version(&if_match, current.version)?;
        let (pending, custom_fields) =
            patched_values(&pending, &defs, &current.custom_fields, body.custom_fields.as_ref());
        let next = changed(&caller, current, &body, &pending, refs)?;
        Ok(ContactFields { custom_fields, ..next })
    });
    let result = state
        .store
        .update_contact(org, *id, &edit, caller.actor(), Utc::now())
        .await;
    let contact = match result {
        Ok(contact) => contact,
        Err(err) => {
            let email = body
                .email
                .as_ref()
                .and_then(|e| parse_email(e.as_deref()?).ok().flatten());
            return Err(duplicate_email(&caller, &state, org, email.as_ref(), err).await);
        }
    };
    Ok(contact_response(StatusCode::OK, contact))
}

/// What a PATCH refers to, checked before the contact is locked: whether
/// its `account_id` (if any) is a live account, its `owner_id` an active user.
#[derive(Debug, Clone, Copy)]
pub struct Refs {
    pub account_exists: bool,
    pub owner_active: bool,
}

/// `current` with the changes of `body` applied, if they are valid.
pub fn changed<P>(
    caller: &Caller<P>,
    current: &Contact,
    body: &UpdateContact,
    pending: &Fields,
    refs: Refs,
) -> Result<ContactFields, ApiError> {
    let mut fields = pending.clone();
    let mut next = ContactFields::of(current)?;
    if let Some(v) = records::patch_text(&mut fields, "first_name", &body.first_name, NAME_MAX) {
        next.first_name = v;
    }
    if let Some(v) = records::patch_text(&mut fields, "last_name", &body.last_name, NAME_MAX) {
        next.last_name = v;
    }
    if let Some(v) = records::patch(&mut fields, "email", &body.email, parse_email) {
        next.email = v;
    }
    if let Some(v) = records::patch_text(&mut fields, "phone", &body.phone, PHONE_MAX) {
        next.phone = v;
    }
    if let Some(v) = records::patch_text(&mut fields, "title", &body.title, TITLE_MAX) {
        next.title = v;
    }
    if let Some(role) = body.buying_role {
        next.buying_role = role.map(Into::into);
    }
    require_identity(
        &mut fields,
        &next,
        [given(&body.first_name), given(&body.last_name), given(&body.email)],
    );
    if let Some(account) = body.account_id {
        if account.is_some_and(|a| Some(a) != current.account_id) && !refs.account_exists {
            reject_account(&mut fields);
        }
        next.account_id = account;
    }
    if let Some(owner) = body.owner_id.filter(|o| *o != current.owner_id) {
        caller.ensure_can_change(owner)?;
        if !refs.owner_active {
            records::reject_owner(&mut fields);
        }
        next.owner_id = owner;
    }
    if let Some(external_id) =
        records::patch_text(&mut fields, "external_id", &body.external_id, records::EXTERNAL_ID_MAX)
    {
        next.external_id = external_id;
    }
    if let Some(tags) = records::tags(&mut fields, body.tags.as_deref()) {
        next.tags = tags;
    }
    fields.finish(|| next)
}

/// Trash or purge a contact
///
/// Move a contact to the trash (`POST …/restore` brings it back), or with
/// `purge=true` erase it for good (admins only): its names, email, phone
/// and title are deleted everywhere, while the deals it took part in keep
/// their history. A purged contact cannot be restored.
#[utoipa::path(
    tag = "contacts",
    params(
        ("id" = Uuid, Path, description = "The contact's id"),
        ("If-Match" = Option<String>, Header, description = "The ETag last seen; 412 if stale"),
        DeleteQuery,
    ),
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 204, description = "Trashed, or purged"),
        crate::problem::DeleteErrors,
    )
)]
#[delete("/contacts/{id}")]
async fn delete_contact(
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
        let check = records::edit(|current: &Contact| {
            check_version(if_match, current.version)?;
            Ok(())
        });
        state
            .store
            .purge_contact(org, id, &check, caller.actor(), Utc::now())
            .await?;
    } else {
        let check = records::edit(|current: &Contact| {
            caller.ensure_can_change(current.owner_id)?;
            check_version(if_match, current.version)?;
            Ok(())
        });
        state
            .store
            .trash_contact(org, id, &check, caller.actor(), Utc::now())
            .await?;
    }
    Ok(HttpResponse::NoContent().finish())
}

/// Restore a contact
///
/// Bring a contact back from the trash; a purged contact is gone (404).
/// Restoring a contact that is not in the trash changes nothing.
#[utoipa::path(
    tag = "contacts",
    params(("id" = Uuid, Path, description = "The contact's id")),
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, body = ContactView, headers(("ETag" = String))),
        crate::problem::CommandErrors,
    )
)]
#[post("/contacts/{id}/restore")]
async fn restore_contact(
    caller: Caller<Write>,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let (org, id) = (caller.organization_id(), *id);
    let (caller, state) = (&caller, &state);
    let check = records::edit(|current: &Contact| {
        caller.ensure_can_change(current.owner_id)?;
        Ok(())
    });
    let contact = state
        .store
        .restore_contact(org, id, &check, caller.actor(), Utc::now())
        .await?;
    Ok(contact_response(StatusCode::OK, contact))
}
