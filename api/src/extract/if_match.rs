//! `If-Match` for optimistic concurrency (RFC 9110 §13.1.1): our ETags are
//! strong and hold the record's `version`, as in `"3"`.

use actix_web::{dev::Payload, http::header, FromRequest, HttpRequest};
use std::future::{ready, Ready};

use crate::error::ApiError;

/// The version the client last saw; `None` when it sent no `If-Match` or `*`.
pub struct IfMatch(pub Option<i64>);

impl FromRequest for IfMatch {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let Some(value) = req.headers().get(header::IF_MATCH) else {
            return ready(Ok(IfMatch(None)));
        };
        ready(value.to_str().ok().and_then(parse).map(IfMatch).ok_or_else(|| {
            ApiError::BadRequest("If-Match must be `*` or the strong ETag of a response, such as \"3\".".to_owned())
        }))
    }
}

fn parse(raw: &str) -> Option<Option<i64>> {
    let raw = raw.trim();
    if raw == "*" {
        return Some(None);
    }
    let inner = raw.strip_prefix('"')?.strip_suffix('"')?;
    inner.parse::<i64>().ok().filter(|v| *v > 0).map(Some)
}

/// The `ETag` header for a record at `version`.
pub fn etag(version: i64) -> (header::HeaderName, String) {
    (header::ETAG, format!("\"{version}\""))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn strong_tags_and_star_parse() {
        assert_eq!(parse("\"3\""), Some(Some(3)));
        assert_eq!(parse(" * "), Some(None));
    }

    #[test]
    fn weak_lists_and_garbage_are_refused() {
        for raw in ["W/\"3\"", "3", "\"3\", \"4\"", "\"-1\"", "\"\"", "\"abc\""] {
            assert_eq!(parse(raw), None, "{raw}");
        }
    }

    proptest! {
        #[test]
        fn every_positive_version_round_trips(v in 1i64..i64::MAX) {
            prop_assert_eq!(parse(&etag(v).1), Some(Some(v)));
        }
    }
}
