//! Random secrets: refresh tokens, API keys, the generated signing secret.

use pipewise_domain::ApiKeySecret;
use rand::{distributions::Alphanumeric, rngs::OsRng, Rng, RngCore};
use sha2::{Digest, Sha256};

/// A refresh token: 256 random bits, base64url. Only its hash is stored.
pub fn refresh_token() -> String {
    use base64::Engine;
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    format!("pwr_{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

pub fn sha256_hex(value: &str) -> String {
    hex::encode(Sha256::digest(value.as_bytes()))
}

pub fn api_key() -> ApiKeySecret {
    let body: String = OsRng
        .sample_iter(&Alphanumeric)
        .take(pipewise_domain::api_key::API_KEY_BODY_LEN)
        .map(char::from)
        .collect();
    ApiKeySecret::from_random_body(&body).expect("alphanumeric body of the right length")
}

/// A signing secret for tokens: 64 random bytes, hex-encoded.
pub fn signing_secret() -> String {
    let mut bytes = [0u8; 64];
    OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}
