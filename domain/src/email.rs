use std::fmt;

/// An email address, trimmed and lower-cased so that uniqueness checks are
/// case-insensitive. The syntax is RFC 5322's common form: a dot-atom local
/// part (no quoted strings, comments or brackets), one `@`, and a host name
/// of at least two labels of letters, digits and inner hyphens. Beyond that,
/// the only real proof of an address is a mail that arrives.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

pub const EMAIL_MAX_LEN: usize = 254;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmailError {
    #[error("must be an email address such as name@example.com")]
    Invalid,
    #[error("must be at most {EMAIL_MAX_LEN} characters")]
    TooLong,
}

impl Email {
    pub fn parse(raw: &str) -> Result<Self, EmailError> {
        let value = raw.trim().to_lowercase();
        if value.chars().count() > EMAIL_MAX_LEN {
            return Err(EmailError::TooLong);
        }
        let (local, domain) = value.split_once('@').ok_or(EmailError::Invalid)?;
        if is_dot_atom(local) && local.len() <= 64 && is_host_name(domain) {
            Ok(Self(value))
        } else {
            Err(EmailError::Invalid)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn domain(&self) -> &str {
        self.0.rsplit_once('@').map(|(_, d)| d).unwrap_or_default()
    }
}

/// `atext` atoms joined by single dots (RFC 5322 §3.2.3).
fn is_dot_atom(local: &str) -> bool {
    const SPECIALS: &[u8] = b"!#$%&'*+-/=?^_`{|}~";
    local
        .split('.')
        .all(|atom| !atom.is_empty() && atom.bytes().all(|b| b.is_ascii_alphanumeric() || SPECIALS.contains(&b)))
}

/// Two or more labels of 1–63 letters, digits and inner hyphens (RFC 1123).
fn is_host_name(domain: &str) -> bool {
    let labels: Vec<&str> = domain.split('.').collect();
    domain.len() <= 253
        && labels.len() >= 2
        && labels.iter().all(|label| {
            (1..=63).contains(&label.len())
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_is_trimmed_and_lower_cased() {
        let email = Email::parse("  Ada.Lovelace@Example.COM ").unwrap();
        assert_eq!(email.as_str(), "ada.lovelace@example.com");
        assert_eq!(email.domain(), "example.com");
    }

    #[test]
    fn malformed_addresses_are_refused() {
        for raw in [
            "",
            "ada",
            "@example.com",
            "ada@",
            "ada@example",
            "ada@@example.com",
            "a da@example.com",
            "ada@.example.com",
            "ada@example..com",
            "a@b.example;x=y",
            "<a@b.example>",
            "a@-b.example",
            "a@b-.example",
            "a..b@example.com",
            ".a@example.com",
            "\"a b\"@example.com",
            "a@b.example.",
            "a@b_c.example",
        ] {
            assert_eq!(Email::parse(raw), Err(EmailError::Invalid), "{raw:?}");
        }
    }

    #[test]
    fn common_real_addresses_are_accepted() {
        for raw in [
            "a@b.example",
            "first.last+tag@mail.example.co.uk",
            "o'brien@x-y.example",
            "1@2.example",
        ] {
            assert!(Email::parse(raw).is_ok(), "{raw:?}");
        }
    }

    #[test]
    fn an_overlong_address_is_refused() {
        let raw = format!("{}@example.com", "a".repeat(250));
        assert_eq!(Email::parse(&raw), Err(EmailError::TooLong));
    }
}
