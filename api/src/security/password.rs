//! Password hashing with argon2id (m = 19 MiB, t = 2, p = 1: the OWASP
//! minimum and the argon2 crate's default), always off the async threads,
//! and never more at once than the hasher has slots: each hash holds 19 MiB,
//! so a burst of sign-ups or logins must wait for a slot instead of growing
//! the process without bound.
//!
//! The hashes run on the hasher's own threads, one per slot, not on tokio's
//! blocking pool: that pool starts a new thread whenever none is idle, and
//! every new thread may get a malloc arena of its own that keeps its 19 MiB
//! after the hash (measured: 200 parallel sign-ups left 1.2 GB resident).
//! A fixed set of threads reuses a fixed set of arenas.

use std::{
    sync::{mpsc, Arc, Mutex, OnceLock},
    time::Duration,
};

use argon2::{
    password_hash::{rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString},
    Argon2,
};
use pipewise_domain::Password;
use tokio::sync::Semaphore;

use crate::error::ApiError;

/// Bounds concurrent hashes and verifications to `slots`; a caller that gets
/// no slot within `wait` is answered 503 with `Retry-After`.
#[derive(Clone)]
pub struct Hasher {
    slots: Arc<Semaphore>,
    wait: Duration,
    jobs: mpsc::Sender<Job>,
}

type Job = Box<dyn FnOnce() + Send>;

impl Hasher {
    /// Starts `slots` hashing threads; they end when the last clone is dropped.
    pub fn new(slots: usize, wait: Duration) -> Self {
        let slots = slots.max(1);
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        for i in 0..slots {
            let queue = Arc::clone(&queue);
            std::thread::Builder::new()
                .name(format!("pipewise-hash-{i}"))
                .spawn(move || loop {
                    let job = match queue.lock() {
                        Ok(queue) => queue.recv(),
                        Err(_) => return,
                    };
                    match job {
                        Ok(job) => job(),
                        Err(_) => return,
                    }
                })
                .expect("a hashing thread starts");
        }
        Self {
            slots: Arc::new(Semaphore::new(slots)),
            wait,
            jobs,
        }
    }

    pub async fn hash(&self, password: Password) -> Result<String, ApiError> {
        self.run(move || {
            let salt = SaltString::generate(&mut OsRng);
            Argon2::default()
                .hash_password(password.expose().as_bytes(), &salt)
                .map(|h| h.to_string())
        })
        .await?
        .map_err(|e| ApiError::Internal(e.to_string().into()))
    }

    /// Verifies `password` against `stored`, or against a fixed dummy hash when
    /// there is no user, so that an unknown email costs the same time as a wrong
    /// password and response times do not reveal which emails exist.
    pub async fn verify(&self, password: String, stored: Option<String>) -> Result<bool, ApiError> {
        self.run(move || {
            let known = stored.is_some();
            let phc = stored.unwrap_or_else(|| dummy_hash().to_owned());
            let Ok(parsed) = PasswordHash::new(&phc) else {
                return false;
            };
            Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok() && known
        })
        .await
    }

    async fn run<T: Send + 'static>(&self, work: impl FnOnce() -> T + Send + 'static) -> Result<T, ApiError> {
        let permit = tokio::time::timeout(self.wait, self.slots.clone().acquire_owned())
            .await
            .map_err(|_| ApiError::Busy {
                retry_after_secs: self.wait.as_secs().max(1),
            })?
            .map_err(ApiError::internal)?;
        // A slot is a thread: with the permit held, a thread is free or soon will be.
        let (done, result) = tokio::sync::oneshot::channel();
        self.jobs
            .send(Box::new(move || {
                let _ = done.send(work());
            }))
            .map_err(|_| ApiError::Internal("the hashing threads have stopped".into()))?;
        let result = result.await.map_err(ApiError::internal);
        drop(permit);
        result
    }
}

fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(b"pipewise-dummy-password", &salt)
            .expect("argon2 hashes")
            .to_string()
    })
}
