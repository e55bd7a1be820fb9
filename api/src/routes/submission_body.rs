//! The body of a public form submission: a JSON object (from a script) or
//! `application/x-www-form-urlencoded` (what an HTML form posts), read into
//! name/value pairs. Submissions are small; past 64 KiB the answer is 413,
//! another content type is 415, a body that does not parse is 400, one that
//! does not arrive in time is 408. A field given twice, of another JSON type
//! or with control characters is a problem of the submission, reported with
//! the form's own validation (a browser post is redirected with
//! `error=validation` like any invalid one).

use actix_web::{dev::Payload, http::header, mime, FromRequest, HttpRequest};
use futures_util::future::LocalBoxFuture;
use pipewise_domain::text::has_control_characters;

use crate::{
    error::ApiError,
    extract::body::{self, BodyDeadline},
    problem::FieldError,
};

pub const MAX_SUBMISSION_BYTES: usize = 64 * 1024;

/// How the body was sent: it decides whether a browser gets redirected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyKind {
    Json,
    UrlEncoded,
}

/// The submitted name/value pairs, in the order sent. A JSON number arrives
/// as its decimal text; a JSON `null` is left out (absent). `problems` are
/// the fields refused while reading, for the form's validation to report.
pub struct SubmissionBody {
    pub kind: BodyKind,
    pub values: Vec<(String, String)>,
    pub problems: Vec<FieldError>,
}

impl SubmissionBody {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

fn kind_of(req: &HttpRequest) -> Option<BodyKind> {
    let mime = req
        .headers()
        .get(header::CONTENT_TYPE)?
        .to_str()
        .ok()?
        .parse::<mime::Mime>()
        .ok()?;
    if mime.type_() != mime::APPLICATION {
        None
    } else if mime.subtype() == mime::JSON || mime.suffix() == Some(mime::JSON) {
        Some(BodyKind::Json)
    } else if mime.subtype() == mime::WWW_FORM_URLENCODED {
        Some(BodyKind::UrlEncoded)
    } else {
        None
    }
}

impl FromRequest for SubmissionBody {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let kind = kind_of(req);
        let declared_length = body::declared_length(req);
        let deadline = BodyDeadline::of(req);
        let payload = payload.take();
        Box::pin(async move {
            let kind = kind.ok_or(ApiError::UnsupportedMediaType)?;
            let body = body::read(payload, declared_length, MAX_SUBMISSION_BYTES, deadline).await?;
            let mut problems = Vec::new();
            let pairs = match kind {
                BodyKind::Json => json_values(&body, &mut problems)?,
                BodyKind::UrlEncoded => urlencoded_values(&body)?,
            };
            let mut values: Vec<(String, String)> = Vec::with_capacity(pairs.len());
            for (name, value) in pairs {
                if has_control_characters(&name) || has_control_characters(&value) {
                    let label: String = name.chars().filter(|c| !c.is_control()).collect();
                    problems.push(FieldError::new(
                        field_label(&label),
                        "control_character",
                        "must not contain control characters (tab and line breaks are allowed)",
                    ));
                } else if values.iter().any(|(n, _)| *n == name) {
                    // A lead field holds one value.
                    problems.push(FieldError::new(field_label(&name), "duplicate", "must be given once"));
                } else {
                    values.push((name, value));
                }
            }
            Ok(SubmissionBody { kind, values, problems })
        })
    }
}

/// A JSON object of strings and numbers (`null` meaning absent).
fn json_values(body: &[u8], problems: &mut Vec<FieldError>) -> Result<Vec<(String, String)>, ApiError> {
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| ApiError::BadRequest(format!("Malformed JSON: {e}.")))?;
    let serde_json::Value::Object(object) = value else {
        return Err(ApiError::invalid("body", "invalid_type", "must be an object"));
    };
    let mut values = Vec::with_capacity(object.len());
    for (name, value) in object {
        match value {
            serde_json::Value::Null => {}
            serde_json::Value::String(s) => values.push((name, s)),
            serde_json::Value::Number(n) => values.push((name, n.to_string())),
            _ => problems.push(FieldError::new(
                field_label(&name),
                "invalid_type",
                "must be a string or a number",
            )),
        }
    }
    Ok(values)
}

/// `name=value&…` pairs, in the order sent.
fn urlencoded_values(body: &[u8]) -> Result<Vec<(String, String)>, ApiError> {
    serde_urlencoded::from_bytes(body)
        .map_err(|_| ApiError::BadRequest("The form data is not valid application/x-www-form-urlencoded.".to_owned()))
}

/// A submitted name as a problem names it: anything a visitor typed is
/// cut short, so that an error never echoes a large body back.
pub fn field_label(name: &str) -> String {
    const MAX: usize = 100;
    if name.chars().count() > MAX {
        format!("{}…", name.chars().take(MAX).collect::<String>())
    } else {
        name.to_owned()
    }
}
