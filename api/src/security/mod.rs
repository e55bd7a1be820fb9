//! Credentials: password hashing, access tokens (JWT), refresh tokens and API keys.

pub mod jwt;
pub mod password;
pub mod secrets;
