//! Fixed-window budgets kept in the database (`RateLimitStore::hit`), so a
//! limit holds across every API process; and the client address they key on.

use actix_web::HttpRequest;
use chrono::{DateTime, Duration, DurationRound, Utc};
use pipewise_storage::Store;

use crate::error::ApiError;

/// The client's address: the peer of the TCP connection. Forwarded headers
/// are not trusted: anyone can send them, and a limit keyed by them would be
/// a limit on nothing.
pub fn client_address(req: &HttpRequest) -> String {
    req.peer_addr().map(|a| a.ip().to_string()).unwrap_or_default()
}

/// Counts one hit on `key` in the current window of `window`, then refuses
/// with 429 (and the seconds to the window's end) once `limit` is passed.
/// The count is taken and returned by one statement, so parallel requests
/// cannot all see room left.
pub async fn spend(
    store: &dyn Store,
    key: &str,
    limit: u32,
    window: Duration,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    let window_start = now.duration_trunc(window).map_err(ApiError::internal)?;
    if store.hit(key, window_start).await? > i64::from(limit) {
        let retry_after_secs = (window_start + window - now).num_seconds().max(1) as u64;
        return Err(ApiError::TooManyRequests { retry_after_secs });
    }
    Ok(())
}
