use std::fmt;

/// A human-readable name (of a person, an organization, a key): trimmed,
/// not empty, at most [`NAME_MAX_LEN`] characters, no control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Name(String);

pub const NAME_MAX_LEN: usize = 200;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("must not be blank")]
    Blank,
    #[error("must be at most {NAME_MAX_LEN} characters")]
    TooLong,
    #[error("must not contain control characters")]
    ControlCharacter,
}

impl Name {
    pub fn parse(raw: &str) -> Result<Self, NameError> {
        let value = raw.trim();
        if value.is_empty() {
            Err(NameError::Blank)
        } else if value.chars().count() > NAME_MAX_LEN {
            Err(NameError::TooLong)
        } else if value.chars().any(char::is_control) {
            Err(NameError::ControlCharacter)
        } else {
            Ok(Self(value.to_owned()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed() {
        assert_eq!(Name::parse("  Acme GmbH ").unwrap().as_str(), "Acme GmbH");
    }

    #[test]
    fn blank_long_and_control_names_are_refused() {
        assert_eq!(Name::parse("   "), Err(NameError::Blank));
        assert_eq!(Name::parse(&"x".repeat(NAME_MAX_LEN + 1)), Err(NameError::TooLong));
        assert_eq!(Name::parse("a\u{0}b"), Err(NameError::ControlCharacter));
    }
}
