//! `X-Request-Id`: taken from the request when it is sane, generated
//! otherwise, echoed on every response, written into every log line of the
//! request and into every problem body.

use std::time::Instant;

use actix_web::{
    body::MessageBody,
    dev::{ServiceRequest, ServiceResponse},
    http::header::{HeaderName, HeaderValue},
    middleware::Next,
    HttpMessage,
};
use tracing::Span;
use tracing_actix_web::RootSpanBuilder;

pub const HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// The id of the request being served, for error bodies built deep inside.
pub fn current() -> String {
    pipewise_storage::events::request_id().unwrap_or_else(|| uuid::Uuid::now_v7().to_string())
}

#[derive(Clone)]
pub struct RequestId(pub String);

#[derive(Clone, Copy)]
pub struct Started(pub Instant);

/// Outermost middleware: everything inside it, logging included, sees the id.
pub async fn middleware(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let id = req
        .headers()
        .get(&HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| is_acceptable(v))
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
    req.extensions_mut().insert(RequestId(id.clone()));
    req.extensions_mut().insert(Started(Instant::now()));
    // The store writes it into every event of the request, too.
    let mut response = pipewise_storage::events::with_request_id(id.clone(), next.call(req)).await?;
    let value = HeaderValue::from_str(&id).expect("checked to be visible ASCII");
    response.headers_mut().insert(HEADER, value);
    Ok(response)
}

// A client's id is echoed into headers and logs: keep it short and plain.
fn is_acceptable(id: &str) -> bool {
    !id.is_empty() && id.len() <= 128 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
}

/// One span per request carrying the request id, and one log line when it ends.
/// The query string is left out: it can hold search terms about people.
pub struct RequestSpan;

impl RootSpanBuilder for RequestSpan {
    fn on_request_start(request: &ServiceRequest) -> Span {
        let id = request
            .extensions()
            .get::<RequestId>()
            .map(|r| r.0.clone())
            .unwrap_or_default();
        let route = request.match_pattern().unwrap_or_else(|| "unmatched".to_owned());
        tracing::info_span!(
            "http_request",
            request_id = %id,
            method = %request.method(),
            route = %route,
            status = tracing::field::Empty,
        )
    }

    fn on_request_end<B: MessageBody>(span: Span, outcome: &Result<ServiceResponse<B>, actix_web::Error>) {
        let (status, started) = match outcome {
            Ok(response) => (
                response.status().as_u16(),
                response.request().extensions().get::<Started>().copied(),
            ),
            Err(err) => (err.as_response_error().status_code().as_u16(), None),
        };
        span.record("status", status);
        let latency_ms = started.map(|s| s.0.elapsed().as_secs_f64() * 1000.0);
        span.in_scope(|| tracing::info!(status, latency_ms, "request finished"));
    }
}
