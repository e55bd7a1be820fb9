/// A password as chosen by a user: at least [`PASSWORD_MIN_LEN`] characters.
/// The upper bound keeps a hash request from becoming a CPU attack.
/// It has no `Display` and a redacting `Debug`, so it cannot end up in a log.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

pub const PASSWORD_MIN_LEN: usize = 10;
pub const PASSWORD_MAX_LEN: usize = 128;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordError {
    #[error("must be at least {PASSWORD_MIN_LEN} characters")]
    TooShort,
    #[error("must be at most {PASSWORD_MAX_LEN} characters")]
    TooLong,
}

impl Password {
    pub fn parse(raw: &str) -> Result<Self, PasswordError> {
        match raw.chars().count() {
            n if n < PASSWORD_MIN_LEN => Err(PasswordError::TooShort),
            n if n > PASSWORD_MAX_LEN => Err(PasswordError::TooLong),
            _ => Ok(Self(raw.to_owned())),
        }
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn length_bounds_are_counted_in_characters() {
        assert_eq!(Password::parse("123456789"), Err(PasswordError::TooShort));
        assert!(Password::parse("ünïcödé-10").is_ok());
        assert_eq!(Password::parse(&"p".repeat(129)), Err(PasswordError::TooLong));
    }

    #[test]
    fn debug_output_hides_the_password() {
        let password = Password::parse("correct horse battery").unwrap();
        assert!(!format!("{password:?}").contains("horse"));
    }
}
