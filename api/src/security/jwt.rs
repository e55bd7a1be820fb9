//! Access tokens: HS256 JWTs that live 15 minutes (RFC 8725). Only HS256 is
//! accepted (`none` and every other algorithm fail), and `exp`, `iss`, `aud`
//! and `sub` must all be present: jsonwebtoken checks `iss`/`aud` only when
//! they are there unless told they are required.

use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub const ISSUER: &str = "pipewise";
pub const AUDIENCE: &str = "pipewise-api";
pub const ACCESS_TOKEN_TTL_SECS: i64 = 15 * 60;
/// Clock skew tolerated between API processes.
const LEEWAY_SECS: u64 = 30;
pub const MIN_SECRET_LEN: usize = 32;

#[derive(Debug, Serialize, Deserialize)]
pub struct Claims {
    pub sub: Uuid,
    pub org: Uuid,
    pub iss: String,
    pub aud: String,
    pub iat: i64,
    pub exp: i64,
    /// The user's `token_version` at issue: a password change or "log out
    /// everywhere" bumps it, and every earlier token stops working at once.
    pub ver: i64,
}

#[derive(Clone)]
pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

#[derive(Debug, thiserror::Error)]
#[error("the token signing secret must be at least {MIN_SECRET_LEN} bytes")]
pub struct WeakSecret;

impl JwtKeys {
    pub fn new(secret: &SecretString) -> Result<Self, WeakSecret> {
        let bytes = secret.expose_secret().as_bytes();
        if bytes.len() < MIN_SECRET_LEN {
            return Err(WeakSecret);
        }
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = LEEWAY_SECS;
        // Pipewise never issues `nbf`, but a token that carries one is held to it.
        validation.validate_nbf = true;
        Ok(Self {
            encoding: EncodingKey::from_secret(bytes),
            decoding: DecodingKey::from_secret(bytes),
            validation,
        })
    }

    pub fn issue(&self, user: Uuid, org: Uuid, token_version: i64, now: DateTime<Utc>) -> String {
        let claims = Claims {
            sub: user,
            org,
            iss: ISSUER.to_owned(),
            aud: AUDIENCE.to_owned(),
            iat: now.timestamp(),
            exp: now.timestamp() + ACCESS_TOKEN_TTL_SECS,
            ver: token_version,
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .expect("HS256 signing cannot fail")
    }

    /// Checks signature, algorithm, expiry, issuer, audience, and that the
    /// token was not issued in the future.
    pub fn verify(&self, token: &str, now: DateTime<Utc>) -> Option<Claims> {
        let claims = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .ok()?
            .claims;
        (claims.iat <= now.timestamp() + LEEWAY_SECS as i64).then_some(claims)
    }
}
