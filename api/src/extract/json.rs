//! A JSON body extractor that answers every failure with the right problem:
//! 415 for another content type, 413 past 1 MiB, 408 for a body that does
//! not arrive in time, 400 for malformed JSON; and 422s that list every
//! problem of the body at once. Text with control characters and whatever
//! breaks the contract's schema for the operation (an unknown field, a
//! length, pattern, format, enum, range or item count) are collected; when
//! the body still has its type's shape, the handler receives them in its
//! [`Fields`], adds what its own parsing finds, and answers them all with
//! `Fields::finish` before it writes anything. A body of the wrong shape (a
//! wrong type, a missing field) is a 422 at once, with everything found.

use actix_web::{dev::Payload, http::header, mime, web, FromRequest, HttpRequest};
use futures_util::future::LocalBoxFuture;
use pipewise_domain::text::has_control_characters;
use serde::de::DeserializeOwned;
use serde_json::Value;
use validator::{Validate, ValidationErrors, ValidationErrorsKind};

use crate::{
    contract::Contract,
    error::ApiError,
    extract::body::{self, BodyDeadline},
    fields::Fields,
    problem::FieldError,
};

pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// The parsed body, and the problems found in it so far: a handler must
/// `finish` the [`Fields`] before acting (an unused one fails the lints).
pub struct Json<T>(pub T, pub Fields);

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
        let req = req.clone();
        let payload = payload.take();
        Box::pin(async move {
            if !is_json {
                return Err(ApiError::UnsupportedMediaType);
            }
            let bytes = body::read(
                payload,
                body::declared_length(&req),
                MAX_BODY_BYTES,
                BodyDeadline::of(&req),
            )
            .await?;
            let mut value = syntax(&bytes)?;
            let mut errors = Vec::new();
            control_characters(&value, String::new(), &mut errors);
            if let Some(contract) = req.app_data::<web::Data<Contract>>() {
                for error in contract.check_body(&req, &value) {
                    add(&mut errors, error);
                }
            }
            // Unknown fields are reported above; without them the body may
            // still parse, so that the handler can name the rest.
            for error in errors.iter().filter(|e| e.code == "unknown_field") {
                remove(&mut value, &error.field);
            }
            let parsed: T = match from_value(value) {
                Ok(parsed) => parsed,
                Err(ApiError::Validation(found)) => {
                    for error in found {
                        add(&mut errors, error);
                    }
                    return Err(ApiError::Validation(errors));
                }
                Err(other) => return Err(other),
            };
            if let Err(found) = parsed.validate() {
                for error in flatten(&found) {
                    add(&mut errors, error);
                }
            }
            Ok(Json(parsed, Fields::with_errors(errors)))
        })
    }
}

/// Adds `error` unless its field is already named: one problem per field.
fn add(errors: &mut Vec<FieldError>, error: FieldError) {
    if !errors.iter().any(|e| e.field == error.field) {
        errors.push(error);
    }
}

/// Removes the member at a dotted field path such as `contacts[0].role`.
fn remove(value: &mut Value, field: &str) {
    let mut segments: Vec<&str> = field.split('.').collect();
    let Some(last) = segments.pop() else { return };
    let mut current = value;
    for segment in segments {
        let (name, index) = match segment.split_once('[') {
            Some((name, rest)) => (name, rest.trim_end_matches(']').parse::<usize>().ok()),
            None => (segment, None),
        };
        let Some(next) = current.get_mut(name) else { return };
        current = match index {
            Some(i) => match next.get_mut(i) {
                Some(item) => item,
                None => return,
            },
            None => next,
        };
    }
    if let Value::Object(object) = current {
        object.remove(last);
    }
}

/// Syntax first, so that malformed JSON is 400 whatever the shape errors.
fn syntax(bytes: &[u8]) -> Result<Value, ApiError> {
    serde_json::from_slice::<Value>(bytes)
        .map_err(|e| ApiError::BadRequest(format!("Malformed JSON: {}.", strip_position(&e.to_string()))))
}

fn control_characters(value: &Value, path: String, out: &mut Vec<FieldError>) {
    let join = |name: &str| {
        if path.is_empty() {
            name.to_owned()
        } else {
            format!("{path}.{name}")
        }
    };
    match value {
        Value::String(text) if has_control_characters(text) => out.push(FieldError::new(
            if path.is_empty() {
                "body".to_owned()
            } else {
                path.clone()
            },
            "control_character",
            "must not contain control characters (tab and line breaks are allowed)",
        )),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                control_characters(item, format!("{path}[{i}]"), out);
            }
        }
        Value::Object(object) => {
            for (name, item) in object {
                if has_control_characters(name) {
                    out.push(FieldError::new(
                        join(&name.chars().filter(|c| !c.is_control()).collect::<String>()),
                        "control_character",
                        "is a field name with control characters",
                    ));
                } else {
                    control_characters(item, join(name), out);
                }
            }
        }
        _ => {}
    }
}

/// A JSON object built by the server (an imported CSV row) read as a
/// request body would be: the same checks, the same field errors.
pub fn parse_object<T: DeserializeOwned>(value: Value) -> Result<T, Vec<FieldError>> {
    let mut errors = Vec::new();
    control_characters(&value, String::new(), &mut errors);
    if !errors.is_empty() {
        return Err(errors);
    }
    from_value(value).map_err(|err| match err {
        ApiError::Validation(errors) => errors,
        other => vec![FieldError::new("body", "invalid", other.to_string())],
    })
}

fn from_value<T: DeserializeOwned>(value: Value) -> Result<T, ApiError> {
    serde_path_to_error::deserialize(value).map_err(classify)
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
