//! Reading a request body: up to a size limit and within a deadline, so that
//! a client that promises a body and sends it a byte at a time (slowloris on
//! the body) holds a connection for the deadline at most, then gets a 408.

use std::time::Duration;

use actix_web::{dev::Payload, web::BytesMut, HttpRequest};
use futures_util::StreamExt;

use crate::error::ApiError;

/// How long a client has to send its whole body (`PIPEWISE_REQUEST_TIMEOUT_SECS`).
#[derive(Debug, Clone, Copy)]
pub struct BodyDeadline(pub Duration);

impl BodyDeadline {
    pub const DEFAULT: BodyDeadline = BodyDeadline(Duration::from_secs(30));

    pub fn of(req: &HttpRequest) -> Duration {
        req.app_data::<BodyDeadline>().copied().unwrap_or(Self::DEFAULT).0
    }
}

/// The body, at most `limit` bytes (413 past it, as soon as the declared
/// length or the bytes received say so), read within `deadline` (408).
pub async fn read(
    mut payload: Payload,
    declared_length: Option<usize>,
    limit: usize,
    deadline: Duration,
) -> Result<BytesMut, ApiError> {
    if declared_length.is_some_and(|len| len > limit) {
        return Err(ApiError::PayloadTooLarge);
    }
    let read_all = async {
        let mut body = BytesMut::with_capacity(declared_length.unwrap_or(0).min(limit));
        while let Some(chunk) = payload.next().await {
            let chunk = chunk.map_err(|_| ApiError::BadRequest("The request body could not be read.".to_owned()))?;
            if body.len() + chunk.len() > limit {
                return Err(ApiError::PayloadTooLarge);
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    };
    tokio::time::timeout(deadline, read_all)
        .await
        .map_err(|_| ApiError::RequestTimeout)?
}

pub fn declared_length(req: &HttpRequest) -> Option<usize> {
    req.headers()
        .get(actix_web::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
}
