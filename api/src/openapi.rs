//! The OpenAPI document. Routes document themselves when they are
//! registered (utoipa-actix-web); this module adds what is shared: info,
//! security schemes, the problem responses, and the method table that turns
//! a wrong method on a known path into 405 with `Allow`.

use actix_web::http::Method;
use utoipa::{
    openapi::{
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
        license(name = "MIT OR Apache-2.0")
    ),
    modifiers(&SecuritySchemes),
    components(
        schemas(problem::Problem, problem::FieldError),
        responses(
            problem::BadRequest,
            problem::Unauthorized,
            problem::Forbidden,
            problem::NotFound,
            problem::Conflict,
            problem::PreconditionFailed,
            problem::PayloadTooLarge,
            problem::UnsupportedMediaType,
            problem::ValidationFailed,
            problem::TooManyRequests,
            problem::ServiceUnavailable,
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
        (name = "forms", description = "Lead capture forms for websites"),
        (name = "public", description = "Unauthenticated endpoints for websites: form submissions"),
        (name = "activities", description = "Calls, emails, meetings and tasks, and their follow-up"),
        (name = "notes", description = "Notes on leads, contacts, accounts and deals"),
        (name = "timeline", description = "Everything that happened to a record, newest first"),
        (name = "notifications", description = "What users are told: MQLs, assignments, overdue activities"),
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

    /// The methods a path accepts, or `None` if no documented route has this path.
    pub fn allowed(&self, path: &str) -> Option<Vec<Method>> {
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
