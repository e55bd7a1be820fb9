//! RFC 9457 problem documents, the body of every error response, and the
//! reusable OpenAPI responses that describe them.

use serde::Serialize;
use utoipa::{ToResponse, ToSchema};

/// The problem kinds: `type` is `https://pipewise.dev/problems/<slug>`
/// with one of these slugs (see `ApiError::slug_and_title`).
pub const PROBLEM_SLUGS: &[&str] = &[
    "bad-request",
    "unauthorized",
    "forbidden",
    "not-found",
    "method-not-allowed",
    "conflict",
    "duplicate",
    "precondition-failed",
    "payload-too-large",
    "request-timeout",
    "deadline-exceeded",
    "unsupported-media-type",
    "validation",
    "rate-limited",
    "unavailable",
    "internal",
];

crate::openapi::doc_schema!(
    /// The URIs of `Problem.type`.
    ProblemType = crate::openapi::one_of(
        PROBLEM_SLUGS.iter().map(|slug| format!("https://pipewise.dev/problems/{slug}")),
        "A URI naming the kind of problem",
    )
);

/// Every `FieldError.code` the server sends: those of the handlers and
/// domain parsers, of the JSON extractor (`unknown_field`, `invalid_type`,
/// `invalid_value`, `required`), of `validator` (`length`), and of the
/// schema-driven request validator.
pub const FIELD_ERROR_CODES: &[&str] = &[
    "base_currency",
    "before_creation",
    "control_character",
    "duplicate",
    "format",
    "in_the_future",
    "invalid",
    "invalid_type",
    "invalid_value",
    "length",
    "max_items",
    "max_length",
    "maximum",
    "min_items",
    "min_length",
    "minimum",
    "mismatch",
    "not_found",
    "not_in_fields",
    "one_required",
    "pattern",
    "required",
    "unknown_column",
    "unknown_field",
];

crate::openapi::doc_schema!(
    /// The codes of `FieldError.code`.
    FieldErrorCode = crate::openapi::one_of(FIELD_ERROR_CODES.iter().copied(), "A stable, machine-readable error code")
);

/// An error, as `application/problem+json`.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "type": "https://pipewise.dev/problems/validation",
    "title": "Validation failed",
    "status": 422,
    "detail": "The request body has invalid fields.",
    "request_id": "0193a5c4-5d1e-7c4a-9a3e-2b1f6f0e8d21",
    "errors": [{"field": "email", "code": "invalid", "message": "must be an email address such as name@example.com"}]
}))]
pub struct Problem {
    /// A URI naming the kind of problem.
    #[serde(rename = "type")]
    #[schema(value_type = ProblemType)]
    pub kind: String,
    /// A short summary of the kind of problem.
    pub title: String,
    /// The HTTP status code.
    pub status: u16,
    /// What went wrong with this request.
    pub detail: String,
    /// The request's `X-Request-Id`: quote it when you report a problem.
    pub request_id: String,
    /// The invalid fields, on 422 only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<FieldError>>,
    /// The existing record's id, on a 409 caused by a duplicate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub existing_id: Option<uuid::Uuid>,
}

/// One invalid field of a request.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct FieldError {
    /// The field's path in the request, such as `email` or `stages[1].name`.
    pub field: String,
    /// A stable, machine-readable code such as `required`, `invalid`, `length`.
    #[schema(value_type = FieldErrorCode)]
    pub code: String,
    /// A human-readable explanation.
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, code: impl Into<String>, message: impl ToString) -> Self {
        Self {
            field: field.into(),
            code: code.into(),
            message: message.to_string(),
        }
    }
}

/// Malformed JSON, or a malformed path or query parameter.
#[derive(ToResponse)]
#[response(
    description = "Malformed request: invalid JSON, or a bad path or query parameter",
    content_type = "application/problem+json"
)]
pub struct BadRequest(pub Problem);

/// Missing or invalid credentials.
#[derive(ToResponse)]
#[response(
    description = "No credentials, or invalid ones",
    content_type = "application/problem+json",
    headers(("WWW-Authenticate" = String, description = "`Bearer` challenge"))
)]
pub struct Unauthorized(pub Problem);

#[derive(ToResponse)]
#[response(
    description = "Authenticated, but the role or the key's scopes do not allow this",
    content_type = "application/problem+json"
)]
pub struct Forbidden(pub Problem);

#[derive(ToResponse)]
#[response(
    description = "No such record in the caller's organization",
    content_type = "application/problem+json"
)]
pub struct NotFound(pub Problem);

#[derive(ToResponse)]
#[response(
    description = "Conflicts with the current state, such as a duplicate",
    content_type = "application/problem+json"
)]
pub struct Conflict(pub Problem);

#[derive(ToResponse)]
#[response(
    description = "The cursor is older than the change feed keeps (30 days): start again without one",
    content_type = "application/problem+json"
)]
pub struct Gone(pub Problem);

#[derive(ToResponse)]
#[response(
    description = "`If-Match` names a version that is no longer current",
    content_type = "application/problem+json"
)]
pub struct PreconditionFailed(pub Problem);

#[derive(ToResponse)]
#[response(description = "The body exceeds 1 MiB", content_type = "application/problem+json")]
pub struct PayloadTooLarge(pub Problem);

#[derive(ToResponse)]
#[response(
    description = "The body is not `application/json`",
    content_type = "application/problem+json"
)]
pub struct UnsupportedMediaType(pub Problem);

#[derive(ToResponse)]
#[response(
    description = "Invalid fields; `errors` names each one",
    content_type = "application/problem+json"
)]
pub struct ValidationFailed(pub Problem);

#[derive(ToResponse)]
#[response(
    description = "Too many requests",
    content_type = "application/problem+json",
    headers(("Retry-After" = u64, description = "Seconds to wait before trying again"))
)]
pub struct TooManyRequests(pub Problem);

#[derive(ToResponse)]
#[response(
    description = "Busy (every password-hashing slot taken) or the database is unreachable",
    content_type = "application/problem+json",
    headers(("Retry-After" = u64, description = "Seconds to wait before trying again, when known"))
)]
pub struct ServiceUnavailable(pub Problem);

/// Any other error. A 5xx is a bug (its body says no more than that); 503
/// means the server is shutting down or cannot reach its database.
#[derive(ToResponse)]
#[response(
    description = "Any other error, as a problem: a 500 is a bug, a 503 a server that is draining or cannot reach its database",
    content_type = "application/problem+json"
)]
pub struct Unexpected(pub Problem);

/// Declares an `IntoResponses` set of the problem responses above, so that
/// a handler lists the errors it can answer with in one name.
macro_rules! error_set {
    ($(#[$doc:meta])* $name:ident { $($status:literal => $variant:ident),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(utoipa::IntoResponses)]
        #[allow(dead_code)] // documents responses; never built
        pub enum $name {
            $(
                #[response(status = $status)]
                $variant(#[ref_response] $variant),
            )+
        }
    };
}

error_set!(
    /// Who may not: no or bad credentials, or a role or scope that may not.
    AuthErrors { 401 => Unauthorized, 403 => Forbidden }
);
error_set!(
    /// A list: bad parameters, or who may not.
    ListErrors { 400 => BadRequest, 401 => Unauthorized, 403 => Forbidden }
);
error_set!(
    /// A report: bad parameters, who may not, or a bad combination of parameters.
    ReportErrors { 400 => BadRequest, 401 => Unauthorized, 403 => Forbidden, 422 => ValidationFailed }
);
error_set!(
    /// The change feed: as [`ListErrors`], or a cursor older than the feed keeps.
    FeedErrors { 400 => BadRequest, 401 => Unauthorized, 403 => Forbidden, 410 => Gone }
);
error_set!(
    /// One record by id: a bad id, who may not, or absent (or not the caller's).
    ReadOneErrors { 400 => BadRequest, 401 => Unauthorized, 403 => Forbidden, 404 => NotFound }
);
error_set!(
    /// A command on one record: as [`ReadOneErrors`], or not in a state that allows it.
    CommandErrors { 400 => BadRequest, 401 => Unauthorized, 403 => Forbidden, 404 => NotFound, 409 => Conflict }
);
error_set!(
    /// A new record from a JSON body: bad JSON, who may not, body too large,
    /// not JSON, or invalid fields.
    CreateErrors {
        400 => BadRequest, 401 => Unauthorized, 403 => Forbidden,
        413 => PayloadTooLarge, 415 => UnsupportedMediaType, 422 => ValidationFailed,
    }
);
error_set!(
    /// As [`CreateErrors`], or a duplicate or a conflicting state.
    CreateConflictErrors {
        400 => BadRequest, 401 => Unauthorized, 403 => Forbidden, 409 => Conflict,
        413 => PayloadTooLarge, 415 => UnsupportedMediaType, 422 => ValidationFailed,
    }
);
error_set!(
    /// A CSV import: a malformed file or unknown columns, who may not (or
    /// may not backdate), a clash with a concurrent write, a file over
    /// 50 MiB, not CSV, or invalid parameters.
    ImportErrors {
        400 => BadRequest, 401 => Unauthorized, 403 => Forbidden, 409 => Conflict,
        413 => PayloadTooLarge, 415 => UnsupportedMediaType, 422 => ValidationFailed,
    }
);
error_set!(
    /// A change to one record from a JSON body: as [`CreateErrors`], or
    /// absent, conflicting, or a stale `If-Match`.
    UpdateErrors {
        400 => BadRequest, 401 => Unauthorized, 403 => Forbidden, 404 => NotFound, 409 => Conflict,
        412 => PreconditionFailed, 413 => PayloadTooLarge, 415 => UnsupportedMediaType, 422 => ValidationFailed,
    }
);
error_set!(
    /// A deletion: as [`CommandErrors`], or a stale `If-Match`.
    DeleteErrors {
        400 => BadRequest, 401 => Unauthorized, 403 => Forbidden, 404 => NotFound, 409 => Conflict,
        412 => PreconditionFailed,
    }
);
