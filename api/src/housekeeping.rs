//! Background upkeep every process does for itself: the change feed drops
//! events older than it keeps. Every process may sweep; a delete of rows
//! another process already deleted deletes nothing, so no claim is needed.

use std::{sync::Arc, time::Duration};

use chrono::Utc;
use pipewise_storage::{feed::FEED_RETENTION_DAYS, Store};

const EVERY: Duration = Duration::from_secs(600);

/// Sweeps now and then every ten minutes, while the process runs.
pub fn spawn(store: Arc<dyn Store>) {
    tokio::spawn(async move {
        loop {
            let before = Utc::now() - chrono::Duration::days(FEED_RETENTION_DAYS);
            // A batch at a time, so that no sweep holds a long transaction.
            loop {
                match store.sweep_events(before).await {
                    Ok(0) => break,
                    Ok(_) => tokio::task::yield_now().await,
                    Err(err) => {
                        tracing::warn!(error = %err, "sweeping the change feed failed; trying again later");
                        break;
                    }
                }
            }
            tokio::time::sleep(EVERY).await;
        }
    });
}
