/// Optional free text with a maximum length: trimmed; blank means absent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TextError {
    #[error("must be at most {0} characters")]
    TooLong(usize),
    #[error("must not contain control characters")]
    ControlCharacter,
}

pub fn optional_text(raw: &str, max: usize) -> Result<Option<String>, TextError> {
    let value = raw.trim();
    if value.is_empty() {
        Ok(None)
    } else if value.chars().count() > max {
        Err(TextError::TooLong(max))
    } else if value.chars().any(char::is_control) {
        Err(TextError::ControlCharacter)
    } else {
        Ok(Some(value.to_owned()))
    }
}

/// Whether `text` holds a control character other than tab, line feed and
/// carriage return: no field of Pipewise takes one, PostgreSQL cannot store
/// NUL, and both backends must answer the same.
pub fn has_control_characters(text: &str) -> bool {
    text.chars().any(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r'))
}

/// The lower-cased form used for case-insensitive prefix search and sorting.
pub fn search_key(parts: &[Option<&str>]) -> String {
    parts
        .iter()
        .flatten()
        .map(|p| p.trim().to_lowercase())
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_other_than_tab_and_newlines_are_found() {
        assert!(has_control_characters("a\u{0}b"));
        assert!(has_control_characters("\u{7f}"));
        assert!(has_control_characters("\u{1b}[31m"));
        assert!(!has_control_characters("line one\r\nline two\tend"));
        assert!(!has_control_characters("Ünïcödé — fine"));
    }

    #[test]
    fn blank_text_is_absent_and_long_text_refused() {
        assert_eq!(optional_text("  ", 10), Ok(None));
        assert_eq!(optional_text(" Sales ", 10), Ok(Some("Sales".to_owned())));
        assert_eq!(optional_text("x".repeat(11).as_str(), 10), Err(TextError::TooLong(10)));
    }

    #[test]
    fn search_keys_are_lower_case_and_skip_blanks() {
        assert_eq!(search_key(&[Some("Ada"), None, Some(" Lovelace ")]), "ada lovelace");
    }
}
