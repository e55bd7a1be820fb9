//! The OpenAPI document. Routes document themselves when they are
//! registered (utoipa-actix-web); this module adds what is shared: info,
//! security schemes, the problem responses, and the method table that turns
//! a wrong method on a known path into 405 with `Allow`.

use std::collections::BTreeSet;

use actix_web::http::Method;
use serde_norway::{Mapping, Value};
use utoipa::{
    openapi::{
        schema::{Object, ObjectBuilder, Type},
        security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme},
        OpenApi as Document, PathItem,
    },
    Modify, OpenApi,
};

use crate::problem;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Pipewise API",
        description = "Pipewise is a JSON REST API for sales pipeline management: pipelines and deals, leads and \
scoring, activities, and exact pipeline metrics.\n\n\
**Authentication.** Users send `Authorization: Bearer <access_token>` (from `/api/v1/auth/login`); integrations \
send `X-API-Key: pwk_…` (created by an admin at `/api/v1/api-keys`).\n\n\
**Errors** are `application/problem+json` (RFC 9457) with a `request_id`; validation errors (422) list each \
invalid field in `errors`.\n\n\
**Lists** take `limit` (1–200, default 50) and `cursor`, and answer `{data, next_cursor}`.\n\n\
**Concurrency.** Records carry `version`; responses carry `ETag: \"<version>\"`; send it back in `If-Match` \
and a stale one gets 412.",
        version = "1.0.0",
        contact(name = "Pipewise", url = "https://pipewise.dev"),
        license(name = "MIT OR Apache-2.0", identifier = "MIT OR Apache-2.0")
    ),
    servers((url = "/", description = "The server that serves this document")),
    modifiers(&SecuritySchemes),
    components(
        schemas(problem::Problem, problem::FieldError),
        responses(
            problem::BadRequest,
            problem::Unauthorized,
            problem::Forbidden,
            problem::NotFound,
            problem::Conflict,
            problem::Gone,
            problem::PreconditionFailed,
            problem::PayloadTooLarge,
            problem::UnsupportedMediaType,
            problem::ValidationFailed,
            problem::TooManyRequests,
            problem::ServiceUnavailable,
            problem::Unexpected,
        )
    ),
    tags(
        (name = "auth", description = "Sign up, log in, refresh and end sessions"),
        (name = "organization", description = "Organization settings and exchange rates"),
        (name = "users", description = "The organization's users and their roles"),
        (name = "api-keys", description = "Keys for integrations"),
        (name = "pipelines", description = "Pipelines and their ordered stages"),
        (name = "deals", description = "Deals, their state commands and event log"),
        (name = "accounts", description = "Companies the organization sells to"),
        (name = "contacts", description = "People at accounts, and their part in buying decisions"),
        (name = "leads", description = "Prospects: capture, qualification, scoring and conversion into deals"),
        (name = "scoring", description = "Explainable lead scoring rules"),
        (name = "custom fields", description = "Fields an organization adds to its leads, contacts, accounts and deals"),
        (name = "forms", description = "Lead capture forms for websites"),
        (name = "public", description = "Unauthenticated endpoints for websites: form submissions"),
        (name = "activities", description = "Calls, emails, meetings and tasks, and their follow-up"),
        (name = "notes", description = "Notes on leads, contacts, accounts and deals"),
        (name = "timeline", description = "Everything that happened to a record, newest first"),
        (name = "notifications", description = "What users are told: MQLs, assignments, overdue activities"),
        (name = "search", description = "One box for leads, contacts, accounts and deals"),
        (name = "imports", description = "CSV files in: validated, deduplicated, all or nothing or row by row"),
        (name = "integrations", description = "The change feed and the audit log: every change of a record, in commit order"),
        (name = "acquisition", description = "What each lead source cost per month, for customer acquisition cost and return on ad spend"),
        (name = "reports", description = "Pipeline metrics as defined in metrics.md, the deals behind each figure, and CSV"),
        (name = "operations", description = "Health, readiness and metrics"),
    )
)]
pub struct BaseDoc;

struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut Document) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
        components.add_security_scheme(
            "api_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-API-Key",
                "An API key (`pwk_…`); its scopes decide what it may call",
            ))),
        );
    }
}

/// A string that takes one of `values`.
pub fn one_of<S: Into<String>>(values: impl IntoIterator<Item = S>, description: &str) -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(values.into_iter().map(Into::into).collect::<Vec<String>>()))
        .description(Some(description))
        .build()
}

/// A list's `sort`: each of `fields` ascending, or with a `-` prefix descending.
pub fn sort_values(fields: &[&str], description: &str) -> Object {
    one_of(
        fields.iter().flat_map(|f| [f.to_string(), format!("-{f}")]),
        description,
    )
}

/// A type that only gives a value the code keeps loosely typed (a sort
/// parameter or an error code as a `String`, a rule operand as JSON) a
/// precise schema of its own, used with `#[schema(value_type = Name)]` or
/// `#[param(value_type = Name)]`.
macro_rules! doc_schema {
    ($(#[$doc:meta])* $name:ident = $schema:expr) => {
        $(#[$doc])*
        pub struct $name;

        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::RefOr::T(utoipa::openapi::schema::Schema::from($schema))
            }
        }

        impl utoipa::ToSchema for $name {}
    };
}
pub(crate) use doc_schema;

/// Path templates of the documented routes and the methods each accepts.
pub struct MethodTable {
    routes: Vec<(Vec<Segment>, Vec<Method>)>,
}

enum Segment {
    Literal(String),
    Param,
}

impl MethodTable {
    pub fn new(doc: &Document) -> Self {
        let routes = doc
            .paths
            .paths
            .iter()
            .map(|(template, item)| {
                let segments = template
                    .split('/')
                    .map(|s| {
                        if s.starts_with('{') {
                            Segment::Param
                        } else {
                            Segment::Literal(s.to_owned())
                        }
                    })
                    .collect();
                (segments, methods(item))
            })
            .collect();
        Self { routes }
    }

    /// The methods a path accepts, or `None` if no documented route has this
    /// path. A fixed path (`/scoring-rules/rescore`) is its own route, not an
    /// instance of the parameter path beside it (`/scoring-rules/{id}`).
    pub fn allowed(&self, path: &str) -> Option<Vec<Method>> {
        if let Some(methods) = self.literal(path) {
            return Some(methods);
        }
        let parts: Vec<&str> = path.split('/').collect();
        let mut allowed: Vec<Method> = Vec::new();
        for (segments, methods) in &self.routes {
            let matches = segments.len() == parts.len()
                && segments.iter().zip(&parts).all(|(seg, part)| match seg {
                    Segment::Literal(lit) => lit == part,
                    Segment::Param => !part.is_empty(),
                });
            if matches {
                allowed.extend(methods.iter().cloned());
            }
        }
        (!allowed.is_empty()).then_some(allowed)
    }

    /// The methods of a documented route without parameters whose path is
    /// exactly `path`, such as `/scoring-rules/rescore` beside
    /// `/scoring-rules/{id}`: another method on it is a 405, not an invalid id.
    pub fn literal(&self, path: &str) -> Option<Vec<Method>> {
        let parts: Vec<&str> = path.split('/').collect();
        self.routes
            .iter()
            .find(|(segments, _)| {
                segments.len() == parts.len()
                    && segments
                        .iter()
                        .zip(&parts)
                        .all(|(seg, part)| matches!(seg, Segment::Literal(lit) if lit == part))
            })
            .map(|(_, methods)| methods.clone())
    }
}

fn methods(item: &PathItem) -> Vec<Method> {
    [
        (item.get.is_some(), Method::GET),
        (item.post.is_some(), Method::POST),
        (item.put.is_some(), Method::PUT),
        (item.patch.is_some(), Method::PATCH),
        (item.delete.is_some(), Method::DELETE),
    ]
    .into_iter()
    .filter_map(|(present, method)| present.then_some(method))
    .collect()
}

/// Properties a response omits instead of sending `null` (they carry
/// `skip_serializing_if`), so they stay optional in the contract.
const OMITTED_WHEN_ABSENT: &[(&str, &str)] = &[("Problem", "errors"), ("Problem", "existing_id")];

/// The contract as served at `/openapi.json` and committed as `openapi.yaml`:
/// the generated document with what every operation shares applied once, here
/// rather than on each of a hundred handlers.
///
/// A `serde_norway` value keeps the keys in the order utoipa wrote them.
pub fn contract(doc: &Document) -> Value {
    let mut doc = serde_norway::to_value(doc).expect("the document serializes");
    name_lists_alike(&mut doc);
    split_shared_schemas(&mut doc);
    require_sent_properties(&mut doc);
    common_responses(&mut doc);
    public_operations_take_no_credentials(&mut doc);
    if_match_is_an_etag(&mut doc);
    doc
}

/// The mapping under `key` of the mapping `value`, created if absent.
fn map_mut<'a>(value: &'a mut Value, key: &str) -> &'a mut Mapping {
    let Value::Mapping(map) = value else {
        panic!("the document is a mapping at {key}")
    };
    child(map, key)
}

fn child<'a>(map: &'a mut Mapping, key: &str) -> &'a mut Mapping {
    map.entry(Value::from(key))
        .or_insert_with(|| Value::Mapping(Mapping::new()))
        .as_mapping_mut()
        .expect("a mapping")
}

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

/// Every operation of the document.
fn operations_mut(doc: &mut Value) -> impl Iterator<Item = &mut Mapping> {
    map_mut(doc, "paths")
        .values_mut()
        .filter_map(Value::as_mapping_mut)
        .flat_map(|item| item.iter_mut())
        .filter(|(method, _)| method.as_str().is_some_and(|m| METHODS.contains(&m)))
        .filter_map(|(_, operation)| operation.as_mapping_mut())
}

fn schema_ref(name: &str) -> String {
    format!("#/components/schemas/{name}")
}

/// Every `$ref` under `value`, as schema names.
fn refs(value: &Value, found: &mut BTreeSet<String>) {
    match value {
        Value::Mapping(map) => {
            for (key, child) in map {
                match (key.as_str(), child.as_str()) {
                    (Some("$ref"), Some(target)) => {
                        if let Some(name) = target.strip_prefix("#/components/schemas/") {
                            found.insert(name.to_owned());
                        }
                    }
                    _ => refs(child, found),
                }
            }
        }
        Value::Sequence(items) => items.iter().for_each(|item| refs(item, found)),
        _ => {}
    }
}

fn rewrite_refs(value: &mut Value, from: &str, to: &str) {
    match value {
        Value::Mapping(map) => {
            for (key, child) in map.iter_mut() {
                if key.as_str() == Some("$ref") && child.as_str() == Some(from) {
                    *child = Value::from(to);
                } else {
                    rewrite_refs(child, from, to);
                }
            }
        }
        Value::Sequence(items) => items.iter_mut().for_each(|item| rewrite_refs(item, from, to)),
        _ => {}
    }
}

/// The schemas `roots` reach, following `$ref`s through the components.
fn reachable(schemas: &Mapping, roots: BTreeSet<String>) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut todo: Vec<String> = roots.into_iter().collect();
    while let Some(name) = todo.pop() {
        if seen.insert(name.clone()) {
            if let Some(schema) = schemas.get(name.as_str()) {
                let mut next = BTreeSet::new();
                refs(schema, &mut next);
                todo.extend(next);
            }
        }
    }
    seen
}

/// The schemas responses use, and those requests use (bodies and parameters).
fn schema_uses(doc: &Value) -> (BTreeSet<String>, BTreeSet<String>) {
    let (mut sent, mut received) = (BTreeSet::new(), BTreeSet::new());
    if let Some(Value::Mapping(paths)) = doc.get("paths") {
        for operation in paths.values().filter_map(Value::as_mapping).flat_map(Mapping::values) {
            if let Some(responses) = operation.get("responses") {
                refs(responses, &mut sent);
            }
            for part in ["requestBody", "parameters"] {
                if let Some(value) = operation.get(part) {
                    refs(value, &mut received);
                }
            }
        }
    }
    if let Some(responses) = doc.get("components").and_then(|c| c.get("responses")) {
        refs(responses, &mut sent);
    }
    let schemas = doc
        .get("components")
        .and_then(|c| c.get("schemas"))
        .and_then(Value::as_mapping)
        .cloned()
        .unwrap_or_default();
    (reachable(&schemas, sent), reachable(&schemas, received))
}

/// `ListOf<AccountView>` is named `AccountList`, like the lists written by
/// hand (`DealList`), and its items refer to `AccountView` instead of
/// repeating it.
fn name_lists_alike(doc: &mut Value) {
    let schemas = child(map_mut(doc, "components"), "schemas");
    let generic: Vec<String> = schemas
        .keys()
        .filter_map(Value::as_str)
        .filter(|name| name.starts_with("ListOf_"))
        .map(str::to_owned)
        .collect();
    let mut renames = Vec::new();
    for old in generic {
        let item = old.trim_start_matches("ListOf_");
        let new = format!("{}List", item.trim_end_matches("View"));
        let mut schema = schemas.shift_remove(old.as_str()).expect("listed above");
        let repeats_item = schema
            .get("properties")
            .and_then(|p| p.get("data"))
            .and_then(|d| d.get("items"))
            .is_some_and(|inline| schemas.get(item) == Some(inline));
        if repeats_item {
            let items = child(child(map_mut(&mut schema, "properties"), "data"), "items");
            items.clear();
            items.insert(Value::from("$ref"), Value::from(schema_ref(item)));
        }
        schemas.insert(Value::from(new.as_str()), schema);
        renames.push((schema_ref(&old), schema_ref(&new)));
    }
    sort_keys(schemas);
    for (from, to) in renames {
        rewrite_refs(doc, &from, &to);
    }
}

fn sort_keys(map: &mut Mapping) {
    let mut entries: Vec<(Value, Value)> = std::mem::take(map).into_iter().collect();
    entries.sort_by(|(a, _), (b, _)| a.as_str().cmp(&b.as_str()));
    map.extend(entries);
}

/// An object schema both sent and received (`DealContactView`) gets a twin
/// for requests (`DealContactInput`), so that the response side can require
/// every property while requests may still leave optional ones out.
fn split_shared_schemas(doc: &mut Value) {
    let (sent, received) = schema_uses(doc);
    let shared: Vec<String> = {
        let schemas = child(map_mut(doc, "components"), "schemas");
        sent.intersection(&received)
            .filter(|name| {
                schemas
                    .get(name.as_str())
                    .is_some_and(|schema| schema.get("properties").is_some())
            })
            .cloned()
            .collect()
    };
    for name in shared {
        let twin = format!("{}Input", name.trim_end_matches("View"));
        let schemas = child(map_mut(doc, "components"), "schemas");
        let copy = schemas.get(name.as_str()).cloned().expect("listed above");
        schemas.insert(Value::from(twin.as_str()), copy);
        sort_keys(schemas);
        let (from, to) = (schema_ref(&name), schema_ref(&twin));
        for request_only in received.difference(&sent) {
            if let Some(schema) = schemas.get_mut(request_only.as_str()) {
                rewrite_refs(schema, &from, &to);
            }
        }
        for operation in operations_mut(doc) {
            for part in ["requestBody", "parameters"] {
                if let Some(value) = operation.get_mut(part) {
                    rewrite_refs(value, &from, &to);
                }
            }
        }
    }
}

/// The server sends every property of a response, as `null` when empty:
/// the contract says so with `required`, so that clients read `T | null`
/// rather than `T | null | undefined`.
fn require_sent_properties(doc: &mut Value) {
    let (sent, _) = schema_uses(doc);
    let schemas = child(map_mut(doc, "components"), "schemas");
    for name in &sent {
        if let Some(schema) = schemas.get_mut(name.as_str()) {
            require_all(schema, name);
        }
    }
    for operation in operations_mut(doc) {
        if let Some(responses) = operation.get_mut("responses") {
            for schema in content_schemas(responses) {
                require_all(schema, "");
            }
        }
    }
}

fn content_schemas(responses: &mut Value) -> Vec<&mut Value> {
    responses
        .as_mapping_mut()
        .into_iter()
        .flat_map(Mapping::values_mut)
        .filter_map(|response| response.get_mut("content"))
        .filter_map(Value::as_mapping_mut)
        .flat_map(Mapping::values_mut)
        .filter_map(|media| media.get_mut("schema"))
        .collect()
}

/// Marks every property of an object schema, and of the inline objects in
/// it, required.
fn require_all(schema: &mut Value, name: &str) {
    let Value::Mapping(map) = schema else { return };
    if let Some(Value::Mapping(properties)) = map.get_mut("properties") {
        let names: Vec<Value> = properties
            .keys()
            .filter(|key| {
                let key = key.as_str().unwrap_or_default();
                !OMITTED_WHEN_ABSENT.contains(&(name, key))
            })
            .cloned()
            .collect();
        for property in properties.values_mut() {
            require_all(property, "");
        }
        if !names.is_empty() {
            map.insert(Value::from("required"), Value::Sequence(names));
        }
    }
    for key in ["items", "oneOf", "anyOf", "allOf"] {
        match map.get_mut(key) {
            Some(Value::Sequence(parts)) => parts.iter_mut().for_each(|part| require_all(part, "")),
            Some(part) => require_all(part, ""),
            None => {}
        }
    }
}

/// Every response carries `X-Request-Id`, and every operation can answer
/// with an unplanned problem (a 5xx is a bug, but clients must still read it).
fn common_responses(doc: &mut Value) {
    let header = serde_norway::to_value(serde_json::json!({
        "description": "The request's id: the client's own `X-Request-Id` when it sent a sane one (up to 128 \
    letters, digits and `-_.:`), a new UUID otherwise. Problem bodies repeat it as `request_id`.",
        "required": true,
        "schema": {"type": "string", "maxLength": 128}
    }))
    .expect("a header object");
    child(map_mut(doc, "components"), "headers").insert(Value::from(REQUEST_ID), header);
    let header_ref = || {
        let mut reference = Mapping::new();
        reference.insert(
            Value::from("$ref"),
            Value::from(format!("#/components/headers/{REQUEST_ID}")),
        );
        Value::Mapping(reference)
    };
    for response in child(map_mut(doc, "components"), "responses").values_mut() {
        map_mut(response, "headers").insert(Value::from(REQUEST_ID), header_ref());
    }
    for operation in operations_mut(doc) {
        let responses = operation
            .get_mut("responses")
            .and_then(Value::as_mapping_mut)
            .expect("every operation has responses");
        for response in responses.values_mut() {
            if response.get("$ref").is_none() {
                map_mut(response, "headers").insert(Value::from(REQUEST_ID), header_ref());
            }
        }
        let mut unexpected = Mapping::new();
        unexpected.insert(Value::from("$ref"), Value::from("#/components/responses/Unexpected"));
        responses.insert(Value::from("default"), Value::Mapping(unexpected));
    }
}

const REQUEST_ID: &str = "X-Request-Id";

/// `If-Match` is `*` or one strong ETag, `"<version>"` with a positive
/// 64-bit version (`extract::if_match` answers 400 to anything else): at
/// most 21 characters. Declared once here rather than on every handler.
fn if_match_is_an_etag(doc: &mut Value) {
    let schema = serde_norway::to_value(serde_json::json!({
        "type": "string",
        "maxLength": 21,
        "pattern": "^(\\*|\"[0-9]{1,19}\")$",
        "example": "\"3\""
    }))
    .expect("a schema");
    for operation in operations_mut(doc) {
        let Some(Value::Sequence(parameters)) = operation.get_mut("parameters") else {
            continue;
        };
        for parameter in parameters.iter_mut().filter_map(Value::as_mapping_mut) {
            let is_if_match = parameter.get("name").and_then(Value::as_str) == Some("If-Match")
                && parameter.get("in").and_then(Value::as_str) == Some("header");
            if is_if_match {
                parameter.insert(Value::from("schema"), schema.clone());
            }
        }
    }
}

/// An operation that declares no security scheme takes no credentials
/// (health checks, sign-up and log-in, public forms): `security: []` says so
/// instead of leaving it unsaid.
fn public_operations_take_no_credentials(doc: &mut Value) {
    for operation in operations_mut(doc) {
        if !operation.contains_key("security") {
            operation.insert(Value::from("security"), Value::Sequence(Vec::new()));
        }
    }
}
