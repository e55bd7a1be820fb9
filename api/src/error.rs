//! The one error type of every handler, and its mapping to problem+json.
//! Unexpected failures answer a generic 500 while their cause chain goes to
//! the log; nothing internal (SQL, type names, stack traces) reaches a body.

use actix_web::{
    http::{
        header::{self, HeaderValue},
        Method, StatusCode,
    },
    HttpResponse, ResponseError,
};
use pipewise_storage::StoreError;

use crate::{
    problem::{FieldError, Problem},
    request_id,
};

#[derive(thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Unauthorized(&'static str),
    #[error("{0}")]
    Forbidden(&'static str),
    #[error("not found")]
    NotFound,
    #[error("method not allowed")]
    MethodNotAllowed(Vec<Method>),
    #[error("{0}")]
    Conflict(String),
    /// A 409 caused by a duplicate: the problem names the existing record
    /// when the caller may read it.
    #[error("{detail}")]
    Duplicate {
        detail: String,
        existing_id: Option<uuid::Uuid>,
    },
    /// Something the request names is no longer kept (an expired feed cursor).
    #[error("{0}")]
    Gone(String),
    #[error("stale If-Match")]
    PreconditionFailed,
    /// The body did not arrive within the deadline.
    #[error("request timeout")]
    RequestTimeout,
    /// The whole request took longer than its deadline.
    #[error("deadline exceeded")]
    DeadlineExceeded,
    #[error("payload too large")]
    PayloadTooLarge,
    #[error("unsupported media type")]
    UnsupportedMediaType,
    #[error("validation failed")]
    Validation(Vec<FieldError>),
    #[error("too many requests")]
    TooManyRequests { retry_after_secs: u64 },
    #[error("service unavailable")]
    Unavailable,
    /// Every slot of a bounded resource (password hashing) stayed taken.
    #[error("busy")]
    Busy { retry_after_secs: u64 },
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl ApiError {
    pub fn internal(err: impl std::error::Error + Send + Sync + 'static) -> Self {
        ApiError::Internal(Box::new(err))
    }

    pub fn invalid(field: &str, code: &str, message: impl ToString) -> Self {
        ApiError::Validation(vec![FieldError::new(field, code, message)])
    }

    fn slug_and_title(&self) -> (&'static str, &'static str) {
        match self {
            ApiError::BadRequest(_) => ("bad-request", "Bad request"),
            ApiError::Unauthorized(_) => ("unauthorized", "Unauthorized"),
            ApiError::Forbidden(_) => ("forbidden", "Forbidden"),
            ApiError::NotFound => ("not-found", "Not found"),
            ApiError::MethodNotAllowed(_) => ("method-not-allowed", "Method not allowed"),
            ApiError::Conflict(_) => ("conflict", "Conflict"),
            ApiError::Duplicate { .. } => ("duplicate", "Duplicate"),
            ApiError::Gone(_) => ("gone", "Gone"),
            ApiError::PreconditionFailed => ("precondition-failed", "Precondition failed"),
            ApiError::PayloadTooLarge => ("payload-too-large", "Payload too large"),
            ApiError::RequestTimeout => ("request-timeout", "Request timeout"),
            ApiError::DeadlineExceeded => ("deadline-exceeded", "Deadline exceeded"),
            ApiError::UnsupportedMediaType => ("unsupported-media-type", "Unsupported media type"),
            ApiError::Validation(_) => ("validation", "Validation failed"),
            ApiError::TooManyRequests { .. } => ("rate-limited", "Too many requests"),
            ApiError::Unavailable | ApiError::Busy { .. } => ("unavailable", "Service unavailable"),
            ApiError::Internal(_) => ("internal", "Internal server error"),
        }
    }

    fn detail(&self) -> String {
        match self {
            ApiError::BadRequest(detail)
            | ApiError::Conflict(detail)
            | ApiError::Gone(detail)
            | ApiError::Duplicate { detail, .. } => detail.clone(),
            ApiError::Unauthorized(detail) | ApiError::Forbidden(detail) => (*detail).to_owned(),
            ApiError::NotFound => "No such resource.".to_owned(),
            ApiError::MethodNotAllowed(_) => "This path does not accept this method; see the Allow header.".to_owned(),
            ApiError::PreconditionFailed => {
                "The record changed since the version named in If-Match; fetch it again.".to_owned()
            }
            ApiError::PayloadTooLarge => "The request body exceeds the size limit.".to_owned(),
            ApiError::RequestTimeout => "The request body did not arrive in time.".to_owned(),
            ApiError::DeadlineExceeded => "The request took too long to answer; try again.".to_owned(),
            ApiError::UnsupportedMediaType => "Send the body as application/json.".to_owned(),
            ApiError::Validation(_) => "The request has invalid fields.".to_owned(),
            ApiError::TooManyRequests { retry_after_secs } => {
                format!("Too many requests; try again in {retry_after_secs} seconds.")
            }
            ApiError::Unavailable => "The service cannot answer right now; try again shortly.".to_owned(),
            ApiError::Busy { retry_after_secs } => {
                format!("The server is busy; try again in {retry_after_secs} seconds.")
            }
            ApiError::Internal(_) => "Something went wrong on our side; it has been logged.".to_owned(),
        }
    }
}

impl std::fmt::Debug for ApiError {
    // The whole cause chain, for the log line of a 500.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "{self}")?;
        let mut source = std::error::Error::source(self);
        while let Some(cause) = source {
            writeln!(f, "caused by: {cause}")?;
            source = cause.source();
        }
        Ok(())
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Conflict(_) | ApiError::Duplicate { .. } => StatusCode::CONFLICT,
            ApiError::Gone(_) => StatusCode::GONE,
            ApiError::PreconditionFailed => StatusCode::PRECONDITION_FAILED,
            ApiError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            ApiError::DeadlineExceeded => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unavailable | ApiError::Busy { .. } => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let ApiError::Internal(_) = self {
            tracing::error!(error = ?self, "request failed");
        }
        let status = self.status_code();
        let (slug, title) = self.slug_and_title();
        let problem = Problem {
            kind: format!("https://pipewise.dev/problems/{slug}"),
            title: title.to_owned(),
            status: status.as_u16(),
            detail: self.detail(),
            request_id: request_id::current(),
            errors: match self {
                ApiError::Validation(errors) => Some(errors.clone()),
                _ => None,
            },
            existing_id: match self {
                ApiError::Duplicate { existing_id, .. } => *existing_id,
                _ => None,
            },
        };
        let mut response = HttpResponse::build(status);
        response.content_type("application/problem+json");
        match self {
            ApiError::Unauthorized(_) => {
                response.insert_header((header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer")));
            }
            ApiError::MethodNotAllowed(allowed) => {
                let allow = allowed.iter().map(Method::as_str).collect::<Vec<_>>().join(", ");
                response.insert_header((header::ALLOW, allow));
            }
            ApiError::TooManyRequests { retry_after_secs } | ApiError::Busy { retry_after_secs } => {
                response.insert_header((header::RETRY_AFTER, retry_after_secs.to_string()));
            }
            // The rest of the body may still be on its way: this connection is done.
            ApiError::RequestTimeout => {
                response.insert_header((header::CONNECTION, HeaderValue::from_static("close")));
            }
            _ => {}
        }
        response.body(serde_json::to_string(&problem).expect("a problem serializes"))
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::NotFound => ApiError::NotFound,
            StoreError::Conflict(what) => ApiError::Conflict(capitalize(what)),
            StoreError::VersionMismatch => ApiError::PreconditionFailed,
            // Without a caller to ask, the holder stays unnamed: see `leads::duplicate`.
            StoreError::DuplicateEmail(_) => ApiError::Duplicate {
                detail: "A lead or contact with this email already exists.".to_owned(),
                existing_id: None,
            },
            // An `Edit` of ours refused the change: its error is the answer.
            StoreError::Refused(refusal) => match refusal.downcast::<ApiError>() {
                Ok(err) => *err,
                Err(other) => ApiError::Internal(other),
            },
            StoreError::Invalid(field, message) => ApiError::invalid(field, "invalid", message),
            StoreError::Missing(ids) => ApiError::invalid(
                "ids",
                "not_found",
                format!(
                    "names {} record{} that do not exist or that you cannot see: {}",
                    ids.len(),
                    if ids.len() == 1 { "" } else { "s" },
                    ids.iter()
                        .take(20)
                        .map(uuid::Uuid::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ),
            StoreError::Database(sqlx_err) if is_unavailable(&sqlx_err) => {
                tracing::warn!(error = %sqlx_err, "database unavailable");
                ApiError::Unavailable
            }
            other => ApiError::internal(other),
        }
    }
}

fn is_unavailable(err: &pipewise_storage::SqlxError) -> bool {
    matches!(
        err,
        pipewise_storage::SqlxError::PoolTimedOut | pipewise_storage::SqlxError::PoolClosed
    )
}

fn capitalize(what: &str) -> String {
    let mut chars = what.chars();
    match chars.next() {
        Some(first) => format!("{}{}.", first.to_uppercase(), chars.as_str()),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_problem_slug_is_listed_in_the_contract() {
        let every_variant = [
            ApiError::BadRequest(String::new()),
            ApiError::Unauthorized(""),
            ApiError::Forbidden(""),
            ApiError::NotFound,
            ApiError::MethodNotAllowed(Vec::new()),
            ApiError::Conflict(String::new()),
            ApiError::Duplicate {
                detail: String::new(),
                existing_id: Some(uuid::Uuid::nil()),
            },
            ApiError::PreconditionFailed,
            ApiError::PayloadTooLarge,
            ApiError::RequestTimeout,
            ApiError::DeadlineExceeded,
            ApiError::UnsupportedMediaType,
            ApiError::Validation(Vec::new()),
            ApiError::TooManyRequests { retry_after_secs: 1 },
            ApiError::Unavailable,
            ApiError::Internal("".into()),
        ];
        let slugs: Vec<&str> = every_variant.iter().map(|e| e.slug_and_title().0).collect();
        assert_eq!(slugs, crate::problem::PROBLEM_SLUGS);
    }
}
