//! The body of a public form submission: a JSON object (from a script) or
//! `application/x-www-form-urlencoded` (what an HTML form posts), read into
//! name/value pairs. Submissions are small; past 64 KiB the answer is 413,
//! another content type is 415, a body that does not parse is 400.

use actix_web::{dev::Payload, http::header, mime, web::BytesMut, FromRequest, HttpRequest};
use futures_util::{future::LocalBoxFuture, StreamExt};

use crate::{error::ApiError, fields::Fields};

pub const MAX_SUBMISSION_BYTES: usize = 64 * 1024;

/// How the body was sent: it decides whether a browser gets redirected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyKind {
    Json,
    UrlEncoded,
}

/// The submitted name/value pairs, in the order sent. A JSON number arrives
/// as its decimal text; a JSON `null` is left out (absent).
pub struct SubmissionBody {
    pub kind: BodyKind,
    pub values: Vec<(String, String)>,
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
        let declared_length = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        let mut payload = payload.take();
        Box::pin(async move {
            let kind = kind.ok_or(ApiError::UnsupportedMediaType)?;
            if declared_length.is_some_and(|len| len > MAX_SUBMISSION_BYTES) {
                return Err(ApiError::PayloadTooLarge);
            }
            let mut body = BytesMut::new();
            while let Some(chunk) = payload.next().await {
                let chunk =
                    chunk.map_err(|_| ApiError::BadRequest("The request body could not be read.".to_owned()))?;
                if body.len() + chunk.len() > MAX_SUBMISSION_BYTES {
                    return Err(ApiError::PayloadTooLarge);
                }
                body.extend_from_slice(&chunk);
            }
            let values = match kind {
                BodyKind::Json => json_values(&body)?,
                BodyKind::UrlEncoded => urlencoded_values(&body)?,
            };
            Ok(SubmissionBody { kind, values })
        })
    }
}

/// A JSON object of strings and numbers (`null` meaning absent).
fn json_values(body: &[u8]) -> Result<Vec<(String, String)>, ApiError> {
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| ApiError::BadRequest(format!("Malformed JSON: {e}.")))?;
    let serde_json::Value::Object(object) = value else {
        return Err(ApiError::invalid("body", "invalid_type", "must be an object"));
    };
    let mut fields = Fields::default();
    let mut values = Vec::with_capacity(object.len());
    for (name, value) in object {
        match value {
            serde_json::Value::Null => {}
            serde_json::Value::String(s) => values.push((name, s)),
            serde_json::Value::Number(n) => values.push((name, n.to_string())),
            _ => fields.reject(&field_label(&name), "invalid_type", "must be a string or a number"),
        }
    }
    fields.finish(|| values)
}

/// `name=value&…` pairs; a name given twice is refused, since a lead field
/// holds one value.
fn urlencoded_values(body: &[u8]) -> Result<Vec<(String, String)>, ApiError> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body).map_err(|_| {
        ApiError::BadRequest("The form data is not valid application/x-www-form-urlencoded.".to_owned())
    })?;
    let mut fields = Fields::default();
    let mut values: Vec<(String, String)> = Vec::with_capacity(pairs.len());
    for (name, value) in pairs {
        if values.iter().any(|(n, _)| *n == name) {
            fields.reject(&field_label(&name), "duplicate", "must be given once");
        } else {
            values.push((name, value));
        }
    }
    fields.finish(|| values)
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
