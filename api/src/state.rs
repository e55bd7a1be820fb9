use std::sync::{
    atomic::{AtomicBool, Ordering},
    Arc,
};

use pipewise_storage::Store;

use crate::{
    metrics::Metrics,
    security::{jwt::JwtKeys, password::Hasher},
};

/// What every handler may reach: the store, the token keys, and settings.
/// Nothing here is shared state between requests beyond what the database holds.
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub jwt: JwtKeys,
    pub allow_signup: bool,
    pub hasher: Hasher,
    /// Sign-ups one client address may make per hour.
    pub signup_rate_per_client: u32,
    pub metrics: Arc<Metrics>,
    draining: Arc<AtomicBool>,
}

impl AppState {
    pub fn new(
        store: Arc<dyn Store>,
        jwt: JwtKeys,
        allow_signup: bool,
        hasher: Hasher,
        signup_rate_per_client: u32,
    ) -> Self {
        Self {
            store,
            jwt,
            allow_signup,
            hasher,
            signup_rate_per_client,
            metrics: Arc::default(),
            draining: Arc::default(),
        }
    }

    pub fn start_draining(&self) {
        self.draining.store(true, Ordering::SeqCst);
    }

    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::SeqCst)
    }
}
