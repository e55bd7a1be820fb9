//! Custom fields: admins define them per kind of record
//! (`/custom-fields`); everyone reads the definitions, so that a front end
//! can render and validate them. A field's key and type are fixed once it
//! exists; its label, options (only ever more of them: a value already
//! kept stays valid) and required flag can change. Deleting a field takes
//! its value off every record.

use actix_web::{delete, get, http::header, http::StatusCode, patch, post, web, HttpResponse};
use chrono::{DateTime, Utc};
use pipewise_domain::{
    custom_field::{self, parse_options, FieldType, Input, Resource, ValueError},
    CustomField, CustomValue, CustomValues, FieldKey,
};
use pipewise_storage::{CustomFilter, FieldChange, NewCustomField};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::{IntoParams, ToSchema};
use utoipa_actix_web::service_config::ServiceConfig;
use uuid::Uuid;
use validator::Validate;

use crate::{
    error::ApiError,
    extract::{if_match::etag, Admin, Caller, IfMatch, Json, Read},
    fields::Fields,
    routes::records::{self, check_version},
    state::AppState,
};

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(list_fields)
        .service(create_field)
        .service(get_field)
        .service(update_field)
        .service(delete_field);
}

/// The kind of record a custom field belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ResourceName {
    Leads,
    Contacts,
    Accounts,
    Deals,
}

/// What a custom field holds: `text` (one line, at most 255 characters),
/// `number` (a whole number), `decimal` (exact, a string such as "12.50"),
/// `date` (YYYY-MM-DD), `boolean`, `select` (one of `options`),
/// `multi_select` (a list of `options`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FieldTypeName {
    Text,
    Number,
    Decimal,
    Date,
    Boolean,
    Select,
    MultiSelect,
}

crate::routes::deals::same_names!(ResourceName <=> Resource { Leads, Contacts, Accounts, Deals });
crate::routes::deals::same_names!(FieldTypeName <=> FieldType {
    Text, Number, Decimal, Date, Boolean, Select, MultiSelect
});

/// A custom field.
#[derive(Debug, Serialize, ToSchema)]
pub struct CustomFieldView {
    id: Uuid,
    resource: ResourceName,
    /// What records (`custom_fields.<key>`) and filters (`cf.<key>=`) name it by.
    #[schema(example = "contract_type")]
    key: String,
    #[schema(example = "Contract type")]
    label: String,
    #[serde(rename = "type")]
    field_type: FieldTypeName,
    /// The choices of a select or multi_select field, in order; empty otherwise.
    #[schema(example = json!(["Annual", "Monthly"]))]
    options: Vec<String>,
    /// Whether every record of the kind needs a value: checked on create and
    /// whenever a record's custom fields change.
    required: bool,
    version: i64,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<CustomField> for CustomFieldView {
    fn from(f: CustomField) -> Self {
        Self {
            id: f.id,
            resource: f.resource.into(),
            key: f.key.as_str().to_owned(),
            label: f.label,
            field_type: f.field_type.into(),
            options: f.options,
            required: f.required,
            version: f.version,
            created_at: f.created_at,
            updated_at: f.updated_at,
        }
    }
}

/// The custom fields of an organization.
#[derive(Debug, Serialize, ToSchema)]
pub struct CustomFieldList {
    /// Oldest first: at most 50 per kind of record, so never more than one page.
    data: Vec<CustomFieldView>,
}

fn field_response(status: StatusCode, field: CustomField) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header(etag(field.version))
        .json(CustomFieldView::from(field))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct FieldListQuery {
    /// Only the fields of this kind of record.
    #[param(inline)]
    resource: Option<ResourceName>,
}

#[derive(Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateCustomField {
    resource: ResourceName,
    /// 1–40 lower-case letters, digits and underscores, starting with a
    /// letter; unique among the fields of `resource`.
    #[schema(example = "contract_type", pattern = "^[a-z][a-z0-9_]{0,39}$")]
    key: String,
    #[schema(example = "Contract type", min_length = 1, max_length = 100)]
    label: String,
    #[serde(rename = "type")]
    field_type: FieldTypeName,
    /// Required for select and multi_select (1–100 options of at most 100
    /// characters, unique whatever their case, no commas or semicolons);
    /// refused for the other types.
    #[schema(example = json!(["Annual", "Monthly"]), max_items = 100)]
    options: Option<Vec<String>>,
    /// `false` if omitted.
    required: Option<bool>,
}

#[derive(Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateCustomField {
    #[schema(min_length = 1, max_length = 100)]
    label: Option<String>,
    /// Replaces the options; every current option must stay (values kept
    /// on records stay valid), new ones may be added and the order changed.
    #[schema(max_items = 100)]
    options: Option<Vec<String>>,
    required: Option<bool>,
}

fn parse_label(raw: &str) -> Result<String, &'static str> {
    let label = raw.trim();
    let len = label.chars().count();
    if len == 0 || len > custom_field::LABEL_MAX || label.chars().any(char::is_control) {
        Err("must be 1 to 100 characters, without control characters")
    } else {
        Ok(label.to_owned())
    }
}

/// List custom fields
///
/// The organization's custom fields (of one kind of record with
/// `resource`), oldest first.
#[utoipa::path(
    tag = "custom fields",
    params(FieldListQuery),
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, body = CustomFieldList),
        crate::problem::ListErrors,
    )
)]
#[get("/custom-fields")]
async fn list_fields(
    caller: Caller<Read>,
    state: web::Data<AppState>,
    query: web::Query<FieldListQuery>,
) -> Result<web::Json<CustomFieldList>, ApiError> {
    let fields = state
        .store
        .custom_fields(caller.organization_id(), query.resource.map(Into::into))
        .await?;
    Ok(web::Json(CustomFieldList {
        data: fields.into_iter().map(CustomFieldView::from).collect(),
    }))
}

/// Create a custom field
///
/// Define a field on leads, contacts, accounts or deals (admins only): at
/// most 50 per kind of record; a key already used by the kind is 409.
/// Records carry its value under `custom_fields.<key>`.
#[utoipa::path(
    tag = "custom fields",
    request_body = CreateCustomField,
    security(("bearer" = [])),
    responses(
        (status = 201, body = CustomFieldView, headers(("ETag" = String), ("Location" = String))),
        crate::problem::CreateConflictErrors,
    )
)]
#[post("/custom-fields")]
async fn create_field(
    caller: Caller<Admin>,
    state: web::Data<AppState>,
    Json(body, mut fields): Json<CreateCustomField>,
) -> Result<HttpResponse, ApiError> {
    let key = fields.check("key", FieldKey::parse(&body.key));
    let label = fields.check("label", parse_label(&body.label));
    let field_type = FieldType::from(body.field_type);
    let options = fields.check(
        "options",
        parse_options(field_type, body.options.as_deref().unwrap_or_default()),
    );
    let field = fields.finish(|| NewCustomField {
        resource: body.resource.into(),
        key: key.expect("checked"),
        label: label.expect("checked"),
        field_type,
        options: options.expect("checked"),
        required: body.required.unwrap_or(false),
    })?;
    let field = state
        .store
        .create_custom_field(caller.organization_id(), &field, caller.actor(), Utc::now())
        .await?;
    let location = format!("/api/v1/custom-fields/{}", field.id);
    let mut response = field_response(StatusCode::CREATED, field);
    response
        .headers_mut()
        .insert(header::LOCATION, location.parse().expect("a path is a header value"));
    Ok(response)
}

/// Get a custom field
///
/// One custom field's definition.
#[utoipa::path(
    tag = "custom fields",
    params(("id" = Uuid, Path, description = "The field's id")),
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, body = CustomFieldView, headers(("ETag" = String))),
        crate::problem::ReadOneErrors,
    )
)]
#[get("/custom-fields/{id}")]
async fn get_field(
    caller: Caller<Read>,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let field = state.store.custom_field(caller.organization_id(), *id).await?;
    Ok(field_response(StatusCode::OK, field))
}

/// Update a custom field
///
/// Change a field's label, options or required flag (admins only); its key
/// and type stay. Options may be added or reordered, never taken away.
#[utoipa::path(
    tag = "custom fields",
    params(
        ("id" = Uuid, Path, description = "The field's id"),
        ("If-Match" = Option<String>, Header, description = "The ETag last seen; 412 if stale"),
    ),
    request_body = UpdateCustomField,
    security(("bearer" = [])),
    responses(
        (status = 200, body = CustomFieldView, headers(("ETag" = String))),
        crate::problem::UpdateErrors,
    )
)]
#[patch("/custom-fields/{id}")]
async fn update_field(
    caller: Caller<Admin>,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    if_match: IfMatch,
    Json(body, pending): Json<UpdateCustomField>,
) -> Result<HttpResponse, ApiError> {
    let edit = records::edit(|current: &CustomField| {
        check_version(&if_match, current.version)?;
        let mut fields = pending.clone();
        let label = match &body.label {
            Some(raw) => fields.check("label", parse_label(raw)),
            None => Some(current.label.clone()),
        };
        let options = match &body.options {
            Some(raw) => fields
                .check("options", parse_options(current.field_type, raw))
                .filter(|next| keeps_options(&mut fields, &current.options, next)),
            None => Some(current.options.clone()),
        };
        fields.finish(|| FieldChange {
            label: label.expect("checked"),
            options: options.expect("checked"),
            required: body.required.unwrap_or(current.required),
        })
    });
    let field = state
        .store
        .update_custom_field(caller.organization_id(), *id, &edit, caller.actor(), Utc::now())
        .await?;
    Ok(field_response(StatusCode::OK, field))
}

/// Whether `next` keeps every option of `current` (as it is spelled);
/// rejected on `options` otherwise.
fn keeps_options(fields: &mut Fields, current: &[String], next: &[String]) -> bool {
    let dropped: Vec<&str> = current
        .iter()
        .filter(|o| !next.contains(o))
        .map(String::as_str)
        .collect();
    if dropped.is_empty() {
        return true;
    }
    fields.reject(
        "options",
        "invalid",
        &format!(
            "must keep every current option (records may hold them): {} missing",
            dropped.join(", ")
        ),
    );
    false
}

/// Delete a custom field
///
/// Delete a field and its value on every record (admins only), in one
/// transaction.
#[utoipa::path(
    tag = "custom fields",
    params(
        ("id" = Uuid, Path, description = "The field's id"),
        ("If-Match" = Option<String>, Header, description = "The ETag last seen; 412 if stale"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Deleted"),
        crate::problem::DeleteErrors,
    )
)]
#[delete("/custom-fields/{id}")]
async fn delete_field(
    caller: Caller<Admin>,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    if_match: IfMatch,
) -> Result<HttpResponse, ApiError> {
    state
        .store
        .delete_custom_field(caller.organization_id(), *id, if_match.0, caller.actor(), Utc::now())
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

fn values_schema(input: bool) -> utoipa::openapi::schema::Object {
    use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, OneOfBuilder, Type};
    let mut value = OneOfBuilder::new()
        .item(ObjectBuilder::new().schema_type(Type::String))
        .item(ObjectBuilder::new().schema_type(Type::Integer))
        .item(ObjectBuilder::new().schema_type(Type::Boolean))
        .item(ArrayBuilder::new().items(ObjectBuilder::new().schema_type(Type::String)));
    if input {
        value = value.item(ObjectBuilder::new().schema_type(Type::Null));
    }
    let description = if input {
        "Values of the organization's custom fields (`GET /custom-fields`) by key: a string for `text`, \
         `decimal` (\"12.50\"), `date` (YYYY-MM-DD) and `select`, a whole number for `number`, a boolean, \
         a list of options for `multi_select`; `null` clears one. A PATCH changes only the keys it names."
    } else {
        "Values of the organization's custom fields by key (fields without a value are absent): a string \
         for `text`, `decimal`, `date` and `select`, a whole number for `number`, a boolean for `boolean`, \
         a list of options for `multi_select`."
    };
    ObjectBuilder::new()
        .additional_properties(Some(utoipa::openapi::schema::Schema::OneOf(value.build())))
        .description(Some(description))
        .build()
}

crate::openapi::doc_schema!(
    /// A record's custom values, as every view shows them.
    CustomValuesView = values_schema(false)
);

crate::openapi::doc_schema!(
    /// Custom values a create or a PATCH sets.
    CustomValuesInput = values_schema(true)
);

/// A record's custom values as JSON.
pub fn values_view(values: &CustomValues) -> Map<String, Value> {
    values
        .iter()
        .map(|(key, value)| {
            let json = match value {
                CustomValue::Text(t) => Value::from(t.as_str()),
                CustomValue::Integer(n) => Value::from(*n),
                CustomValue::Boolean(b) => Value::from(*b),
                CustomValue::List(items) => Value::from(items.clone()),
            };
            (key.to_owned(), json)
        })
        .collect()
}

/// The organization's custom fields of `resource`.
pub async fn definitions(state: &AppState, org: Uuid, resource: Resource) -> Result<Vec<CustomField>, ApiError> {
    Ok(state.store.custom_fields(org, Some(resource)).await?)
}

/// The definitions a PATCH's `custom_fields` are checked against: none
/// when it sends none (a PATCH checks only the keys it names), so that the
/// writes that leave custom fields alone make no query for them.
pub async fn patch_definitions(
    state: &AppState,
    org: Uuid,
    resource: Resource,
    input: Option<&Map<String, Value>>,
) -> Result<Vec<CustomField>, ApiError> {
    match input {
        Some(_) => definitions(state, org, resource).await,
        None => Ok(Vec::new()),
    }
}

/// A JSON value as a custom field reads it.
fn input_of(json: &Value) -> Input<'_> {
    match json {
        Value::Null => Input::Null,
        Value::Bool(b) => Input::Bool(*b),
        Value::Number(n) => n
            .as_i64()
            .map_or_else(|| Input::Float(n.as_f64().unwrap_or(f64::NAN)), Input::Integer),
        Value::String(s) => Input::Text(s),
        Value::Array(items) => Input::List(items.iter().map(Value::as_str).collect()),
        Value::Object(_) => Input::Other,
    }
}

/// The changes `input` makes to a record's custom values, each value
/// checked against its field's definition in `defs` (an error recorded on
/// `custom_fields.<key>`): set, or cleared (`None`; never a required field).
pub fn custom_changes(
    fields: &mut Fields,
    defs: &[CustomField],
    input: Option<&Map<String, Value>>,
) -> Vec<(FieldKey, Option<CustomValue>)> {
    let mut changes = Vec::new();
    for (key, json) in input.into_iter().flatten() {
        let field = format!("custom_fields.{key}");
        let Some(def) = defs.iter().find(|d| d.key.as_str() == key) else {
            fields.reject(
                &field,
                "unknown_field",
                "is not a custom field of these records (GET /custom-fields)",
            );
            continue;
        };
        match def.value(&input_of(json)) {
            Ok(value) => changes.push((def.key.clone(), value)),
            Err(ValueError::Required) => fields.reject(&field, "required", "is required"),
            Err(err) => fields.reject(&field, "invalid", &err.to_string()),
        }
    }
    changes
}

/// A record's custom values after `input`: over `current` for a PATCH
/// (only the keys it names change), from nothing for a create (`None`),
/// which must give every required field a value.
pub fn custom_values(
    fields: &mut Fields,
    defs: &[CustomField],
    current: Option<&CustomValues>,
    input: Option<&Map<String, Value>>,
) -> CustomValues {
    let changes = custom_changes(fields, defs, input);
    let values = current.cloned().unwrap_or_default().patched(&changes);
    if current.is_none() {
        for def in values.missing(defs) {
            let field = format!("custom_fields.{}", def.key.as_str());
            // A value refused above is already named.
            if !input.is_some_and(|i| i.contains_key(def.key.as_str())) {
                fields.reject(&field, "required", "is required");
            }
        }
    }
    values
}

/// A PATCH's custom values over `current`, with their errors added to
/// `pending` (the body's other errors), so that one 422 names them all.
pub fn patched_values(
    pending: &Fields,
    defs: &[CustomField],
    current: &CustomValues,
    input: Option<&Map<String, Value>>,
) -> (Fields, CustomValues) {
    let mut fields = pending.clone();
    let values = custom_values(&mut fields, defs, Some(current), input);
    (fields, values)
}

/// The filters `sent` (key, value) ask for, each checked against the
/// fields of `resource`: an error names the key and why otherwise.
async fn filters(
    state: &AppState,
    org: Uuid,
    resource: Resource,
    sent: &[(String, String)],
) -> Result<Result<Vec<CustomFilter>, (String, String)>, ApiError> {
    if sent.is_empty() {
        return Ok(Ok(Vec::new()));
    }
    let defs = definitions(state, org, resource).await?;
    Ok(sent
        .iter()
        .map(|(key, raw)| {
            let def = defs.iter().find(|d| d.key.as_str() == key).ok_or_else(|| {
                (
                    key.clone(),
                    "names no custom field of these records (GET /custom-fields)".to_owned(),
                )
            })?;
            let term = def.filter_term(raw).map_err(|e| (key.clone(), e.to_string()))?;
            Ok(CustomFilter { key: key.clone(), term })
        })
        .collect())
}

/// The filters of a list's `cf` parameters (key, value as sent): 400
/// naming the parameter for an unknown key or a value its field cannot hold.
pub async fn custom_filters(
    state: &AppState,
    org: Uuid,
    resource: Resource,
    sent: &[(String, String)],
) -> Result<Vec<CustomFilter>, ApiError> {
    filters(state, org, resource, sent)
        .await?
        .map_err(|(key, message)| ApiError::BadRequest(format!("Query parameter `cf.{key}` {message}.")))
}

/// The filters of a bulk action's `filter.cf`: 422 on `filter` otherwise.
pub async fn body_filters(
    state: &AppState,
    org: Uuid,
    resource: Resource,
    sent: Option<&std::collections::BTreeMap<String, String>>,
) -> Result<Vec<CustomFilter>, ApiError> {
    let sent: Vec<(String, String)> = sent
        .into_iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    filters(state, org, resource, &sent)
        .await?
        .map_err(|(key, message)| ApiError::invalid("filter", "invalid", format!("cf.{key} {message}")))
}
