//! What every request meets before its handler, whatever the route: a path
//! or query with control characters is refused, the query is held to the
//! contract (unknown, repeated or invalid parameters are a 400 naming the
//! parameter), and the whole request runs under a deadline.

use std::time::Duration;

use actix_web::{
    body::{EitherBody, MessageBody},
    dev::{ServiceRequest, ServiceResponse},
    error::InternalError,
    http::header::HeaderValue,
    middleware::Next,
    web, HttpMessage, ResponseError,
};
use pipewise_domain::text::has_control_characters;

use crate::{
    contract::Contract,
    error::ApiError,
    request_id::{self, RequestId},
};

/// How long a request may take, body included, before it is answered 503.
#[derive(Debug, Clone, Copy)]
pub struct RequestDeadline(pub Duration);

pub async fn middleware(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    if let Err(err) = check(&req) {
        return Ok(refuse(req, err));
    }
    let deadline = req.app_data::<RequestDeadline>().copied();
    let Some(RequestDeadline(deadline)) = deadline else {
        return Ok(next.call(req).await?.map_into_left_body());
    };
    // A CSV import uploads and writes up to 50 MiB: it gets longer.
    let deadline = if req.method() == actix_web::http::Method::POST && req.path() == "/api/v1/imports" {
        deadline * crate::routes::imports::DEADLINE_FACTOR
    } else {
        deadline
    };
    // The request cannot be kept here (routing needs it unshared), so the
    // answer to an overrun is an error that carries its finished response.
    let request_id = req.extensions().get::<RequestId>().map(|id| id.0.clone());
    match tokio::time::timeout(deadline, next.call(req)).await {
        Ok(response) => Ok(response?.map_into_left_body()),
        // Dropping the handler rolls its transaction back: nothing half-done stays.
        Err(_) => {
            let mut response = ApiError::DeadlineExceeded.error_response();
            if let Some(value) = request_id.and_then(|id| HeaderValue::from_str(&id).ok()) {
                response.headers_mut().insert(request_id::HEADER, value);
            }
            Err(InternalError::from_response("request deadline exceeded", response).into())
        }
    }
}

fn refuse<B>(req: ServiceRequest, err: ApiError) -> ServiceResponse<EitherBody<B>> {
    let response = err.error_response();
    req.into_response(response).map_into_right_body()
}

fn check(req: &ServiceRequest) -> Result<(), ApiError> {
    // No resource has a control character in its path (an id, a token):
    // absent, whatever the backend would have made of it.
    if percent_decoded_has_control(req.path()) {
        return Err(ApiError::NotFound);
    }
    let query = req.query_string();
    if query.is_empty() {
        return Ok(());
    }
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query)
        .map_err(|_| ApiError::BadRequest("The query string is not valid URL encoding.".to_owned()))?;
    for (name, value) in &pairs {
        if has_control_characters(name) || has_control_characters(value) {
            let name: String = name.chars().filter(|c| !c.is_control()).take(100).collect();
            return Err(ApiError::BadRequest(format!(
                "Query parameter `{name}` must not contain control characters."
            )));
        }
    }
    match req.app_data::<web::Data<Contract>>() {
        Some(contract) => contract.check_query(req.request(), &pairs),
        None => Ok(()),
    }
}

/// Whether the path, once `%XX` escapes are decoded, holds a control character.
fn percent_decoded_has_control(path: &str) -> bool {
    let bytes = path.as_bytes();
    bytes.iter().enumerate().any(|(i, &b)| {
        let escaped = || {
            let hex = bytes.get(i + 1..i + 3)?;
            u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()
        };
        b.is_ascii_control() || (b == b'%' && escaped().is_some_and(|d| d.is_ascii_control()))
    })
}

#[cfg(test)]
mod tests {
    use super::percent_decoded_has_control;

    #[test]
    fn escaped_control_characters_in_a_path_are_found() {
        assert!(percent_decoded_has_control("/public/v1/forms/%00/submissions"));
        assert!(percent_decoded_has_control("/api/v1/leads/%0a"));
        assert!(percent_decoded_has_control("/api/v1/leads/%7F"));
        assert!(!percent_decoded_has_control("/api/v1/leads/%20x%C3%A9"));
        assert!(!percent_decoded_has_control("/api/v1/leads/100%"));
    }
}
