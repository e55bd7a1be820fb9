//! A JSON body extractor that answers every failure with the right problem:
//! 415 for another content type, 413 past 1 MiB, 400 for malformed JSON,
//! 422 naming the field for a wrong type, a missing or an unknown field, or
//! a `validator` rule.

use actix_web::{dev::Payload, http::header, mime, web::Bytes, FromRequest, HttpRequest};
use futures_util::future::LocalBoxFuture;
use serde::de::DeserializeOwned;
use validator::{Validate, ValidationErrors, ValidationErrorsKind};

use crate::{error::ApiError, problem::FieldError};

pub const MAX_BODY_BYTES: usize = 1024 * 1024;

pub struct Json<T>(pub T);

impl<T: DeserializeOwned + Validate + 'static> FromRequest for Json<T> {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<mime::Mime>().ok())
            .is_some_and(|m| {
                m.type_() == mime::APPLICATION && (m.subtype() == mime::JSON || m.suffix() == Some(mime::JSON))
            });
        let body = Bytes::from_request(req, payload);
        Box::pin(async move {
            if !is_json {
                return Err(ApiError::UnsupportedMediaType);
            }
            let bytes = body.await.map_err(|err| {
                if err.as_response_error().status_code() == actix_web::http::StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::PayloadTooLarge
                } else {
                    ApiError::BadRequest("The request body could not be read.".to_owned())
                }
            })?;
            let value: T = parse(&bytes)?;
            value
                .validate()
                .map_err(|errors| ApiError::Validation(flatten(&errors)))?;
            Ok(Json(value))
        })
    }
}

pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    // Syntax first, so that malformed JSON is 400 whatever the shape errors.
    serde_json::from_slice::<serde::de::IgnoredAny>(bytes)
        .map_err(|e| ApiError::BadRequest(format!("Malformed JSON: {}.", strip_position(&e.to_string()))))?;
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value: T = serde_path_to_error::deserialize(&mut de).map_err(classify)?;
    de.end()
        .map_err(|_| ApiError::BadRequest("Malformed JSON: unexpected data after the value.".to_owned()))?;
    Ok(value)
}

fn classify(err: serde_path_to_error::Error<serde_json::Error>) -> ApiError {
    use serde_json::error::Category;
    let path = err.path().to_string();
    let inner = err.into_inner();
    if !matches!(inner.classify(), Category::Data) {
        return ApiError::BadRequest(format!("Malformed JSON: {}.", strip_position(&inner.to_string())));
    }
    let message = strip_position(&inner.to_string());
    let parent = if path == "." { String::new() } else { path };
    let join = |name: &str| {
        if parent.is_empty() {
            name.to_owned()
        } else {
            format!("{parent}.{name}")
        }
    };
    let field_error = if let Some(name) = backticked(&message, "missing field `") {
        FieldError::new(join(&name), "required", "is required")
    } else if message.starts_with("unknown field `") {
        // Here the path already ends with the unknown field's name.
        FieldError::new(
            field_or_body(&parent),
            "unknown_field",
            "is not a field of this request",
        )
    } else if message.starts_with("invalid type") {
        let expected = message.rsplit_once("expected ").map(|(_, e)| e).unwrap_or("");
        FieldError::new(
            field_or_body(&parent),
            "invalid_type",
            format!("must be {}", plain_type(expected)),
        )
    } else if let Some(rest) = message.strip_prefix("unknown variant ") {
        let expected = rest.split_once("expected ").map(|(_, e)| e).unwrap_or("a known value");
        FieldError::new(field_or_body(&parent), "invalid_value", format!("must be {expected}"))
    } else if message.contains("struct ") || message.contains("enum ") {
        FieldError::new(field_or_body(&parent), "invalid_type", "must be an object")
    } else {
        // Messages from our own parsers (decimal, UUID, date) carry no internals.
        FieldError::new(field_or_body(&parent), "invalid_value", message)
    };
    ApiError::Validation(vec![field_error])
}

fn field_or_body(path: &str) -> String {
    if path.is_empty() {
        "body".to_owned()
    } else {
        path.to_owned()
    }
}

fn backticked(message: &str, prefix: &str) -> Option<String> {
    let rest = message.strip_prefix(prefix)?;
    rest.split_once('`').map(|(name, _)| name.to_owned())
}

fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message.to_owned(),
    }
}

// serde names Rust types ("u32", "struct SignupRequest"); clients want JSON's words.
fn plain_type(expected: &str) -> &'static str {
    let e = expected.trim();
    if e.contains("string") || e.contains("UUID") || e.contains("date") {
        "a string"
    } else if e.starts_with("struct") || e.contains("map") {
        "an object"
    } else if e.contains("sequence") {
        "an array"
    } else if e.contains("bool") {
        "a boolean"
    } else if ["u8", "u16", "u32", "u64", "i8", "i16", "i32", "i64", "integer"]
        .iter()
        .any(|t| e.starts_with(t))
    {
        "an integer"
    } else if e.starts_with('f') || e.contains("number") {
        "a number"
    } else {
        "of another type"
    }
}

/// `validator`'s nested errors as a flat list of dotted field paths.
pub fn flatten(errors: &ValidationErrors) -> Vec<FieldError> {
    let mut out = Vec::new();
    walk(errors, "", &mut out);
    out.sort_by(|a, b| a.field.cmp(&b.field));
    out
}

fn walk(errors: &ValidationErrors, prefix: &str, out: &mut Vec<FieldError>) {
    for (field, kind) in errors.errors() {
        let path = if prefix.is_empty() {
            field.to_string()
        } else {
            format!("{prefix}.{field}")
        };
        match kind {
            ValidationErrorsKind::Field(list) => {
                for e in list {
                    let message = e.message.as_ref().map(|m| m.to_string()).unwrap_or_else(|| describe(e));
                    out.push(FieldError::new(path.clone(), e.code.to_string(), message));
                }
            }
            ValidationErrorsKind::Struct(inner) => walk(inner, &path, out),
            ValidationErrorsKind::List(items) => {
                for (i, inner) in items {
                    walk(inner, &format!("{path}[{i}]"), out);
                }
            }
        }
    }
}

fn describe(e: &validator::ValidationError) -> String {
    let param = |name: &str| e.params.get(name).map(|v| v.to_string());
    match e.code.as_ref() {
        "length" => match (param("min"), param("max")) {
            (Some(min), Some(max)) => format!("must be between {min} and {max} characters long"),
            (None, Some(max)) => format!("must be at most {max} long"),
            (Some(min), None) => format!("must be at least {min} long"),
            _ => "has an invalid length".to_owned(),
        },
        "range" => match (param("min"), param("max")) {
            (Some(min), Some(max)) => format!("must be between {min} and {max}"),
            _ => "is out of range".to_owned(),
        },
        other => format!("is invalid ({other})"),
    }
}
