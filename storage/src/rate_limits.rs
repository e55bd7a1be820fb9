//! Fixed-window request counters in the database, so that a limit holds
//! across every API process. A window is identified by its start; a counter
//! is one row per key and window, created by its first hit.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::Result;

#[async_trait]
pub trait RateLimitStore {
    /// Counts one hit on `key` in the window starting at `window_start` and
    /// returns the window's count including it. Windows of `key` that
    /// started before `window_start` are deleted on the way, so that a
    /// busy key keeps one row.
    async fn hit(&self, key: &str, window_start: DateTime<Utc>) -> Result<i64>;
}

/// Implements [`RateLimitStore`] for a store type with `pool` and `begin_write`.
macro_rules! impl_rate_limit_store {
    ($store:ty) => {
        mod rate_limit_store {
            use super::*;
            use ::chrono::{DateTime, Utc};

            #[async_trait::async_trait]
            impl $crate::rate_limits::RateLimitStore for $store {
                #[tracing::instrument(skip_all)]
                async fn hit(&self, key: &str, window_start: DateTime<Utc>) -> $crate::Result<i64> {
                    let mut tx = self.begin_write().await?;
                    let count: i64 = sqlx::query_scalar(
                        "insert into rate_limits (key, window_start, count) values ($1, $2, 1)
                         on conflict (key, window_start) do update set count = rate_limits.count + 1
                         returning count",
                    )
                    .bind(key)
                    .bind(window_start)
                    .fetch_one(&mut *tx)
                    .await?;
                    if count == 1 {
                        sqlx::query("delete from rate_limits where key = $1 and window_start < $2")
                            .bind(key)
                            .bind(window_start)
                            .execute(&mut *tx)
                            .await?;
                    }
                    tx.commit().await?;
                    Ok(count)
                }
            }
        }
    };
}

pub(crate) use impl_rate_limit_store;
