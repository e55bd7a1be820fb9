//! API key format: `pwk_` + 40 random base62 characters + a 6-character
//! base62 CRC32 of those characters (the design GitHub uses for its tokens).
//! The prefix lets secret scanners recognise a leaked key; the checksum lets
//! the server refuse a mistyped key before touching the database.

use sha2::{Digest, Sha256};

pub const API_KEY_PREFIX: &str = "pwk_";
pub const API_KEY_BODY_LEN: usize = 40;
const CHECKSUM_LEN: usize = 6;
/// How much of a key listings may show: enough to tell keys apart, far too little to use.
const DISPLAY_PREFIX_LEN: usize = API_KEY_PREFIX.len() + 8;
const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// A well-formed API key. Holding one says nothing about whether it exists.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKeySecret(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiKeyFormatError {
    #[error("an API key starts with `pwk_`")]
    Prefix,
    #[error("an API key has 46 characters after `pwk_`, all letters or digits")]
    Shape,
    #[error("the API key's checksum does not match: it was mistyped or truncated")]
    Checksum,
}

impl ApiKeySecret {
    /// Builds a key around `body`, which must be 40 random base62 characters.
    pub fn from_random_body(body: &str) -> Result<Self, ApiKeyFormatError> {
        if body.len() != API_KEY_BODY_LEN || !body.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(ApiKeyFormatError::Shape);
        }
        Ok(Self(format!("{API_KEY_PREFIX}{body}{}", checksum(body))))
    }

    pub fn parse(raw: &str) -> Result<Self, ApiKeyFormatError> {
        let rest = raw.strip_prefix(API_KEY_PREFIX).ok_or(ApiKeyFormatError::Prefix)?;
        if rest.len() != API_KEY_BODY_LEN + CHECKSUM_LEN || !rest.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(ApiKeyFormatError::Shape);
        }
        let (body, sum) = rest.split_at(API_KEY_BODY_LEN);
        if checksum(body) != sum {
            return Err(ApiKeyFormatError::Checksum);
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    /// What is stored and looked up: a fast hash is right here, since the
    /// key carries 238 bits of entropy and is checked on every request.
    pub fn sha256_hex(&self) -> String {
        hex::encode(Sha256::digest(self.0.as_bytes()))
    }

    pub fn display_prefix(&self) -> &str {
        &self.0[..DISPLAY_PREFIX_LEN]
    }
}

impl std::fmt::Debug for ApiKeySecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ApiKeySecret({}…)", self.display_prefix())
    }
}

fn checksum(body: &str) -> String {
    let mut n = crc32fast::hash(body.as_bytes());
    let mut out = [b'0'; CHECKSUM_LEN];
    for slot in out.iter_mut().rev() {
        *slot = BASE62[(n % 62) as usize];
        n /= 62;
    }
    String::from_utf8(out.to_vec()).expect("base62 is ASCII")
}

/// An API key as stored: never the key itself, only its hash and a prefix.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiKey {
    pub id: uuid::Uuid,
    pub organization_id: uuid::Uuid,
    pub name: crate::Name,
    pub prefix: String,
    pub scopes: Vec<crate::Scope>,
    pub created_by: Option<uuid::Uuid>,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub last_used_at: Option<chrono::DateTime<chrono::Utc>>,
    pub revoked_at: Option<chrono::DateTime<chrono::Utc>>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const BODY: &str = "abcdefghijABCDEFGHIJ0123456789klmnopqrst";

    #[test]
    fn a_generated_key_parses_back() {
        let key = ApiKeySecret::from_random_body(BODY).unwrap();
        assert_eq!(key.expose().len(), 4 + 40 + 6);
        assert_eq!(ApiKeySecret::parse(key.expose()).unwrap(), key);
        assert_eq!(key.display_prefix(), "pwk_abcdefgh");
        assert!(!format!("{key:?}").contains(BODY));
    }

    #[test]
    fn malformed_keys_are_refused_without_lookup() {
        let key = ApiKeySecret::from_random_body(BODY).unwrap();
        let good = key.expose();
        assert_eq!(
            ApiKeySecret::parse(&good.replacen("pwk_", "pwx_", 1)),
            Err(ApiKeyFormatError::Prefix)
        );
        assert_eq!(
            ApiKeySecret::parse(&good[..good.len() - 1]),
            Err(ApiKeyFormatError::Shape)
        );
        assert_eq!(
            ApiKeySecret::parse(&format!("{}-", &good[..good.len() - 1])),
            Err(ApiKeyFormatError::Shape)
        );
        let typo = good.replacen('a', "b", 1);
        assert_eq!(ApiKeySecret::parse(&typo), Err(ApiKeyFormatError::Checksum));
    }

    proptest! {
        #[test]
        fn any_single_character_change_is_caught(body in "[0-9A-Za-z]{40}", at in 0usize..40, c in "[0-9A-Za-z]") {
            let key = ApiKeySecret::from_random_body(&body).unwrap();
            let mut bytes = key.expose().as_bytes().to_vec();
            let pos = API_KEY_PREFIX.len() + at;
            prop_assume!(bytes[pos] != c.as_bytes()[0]);
            bytes[pos] = c.as_bytes()[0];
            let mutated = String::from_utf8(bytes).unwrap();
            prop_assert_eq!(ApiKeySecret::parse(&mutated), Err(ApiKeyFormatError::Checksum));
        }

        #[test]
        fn parsing_never_panics(raw in ".{0,80}") {
            let _ = ApiKeySecret::parse(&raw);
        }
    }
}
