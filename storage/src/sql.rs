//! A small builder for the queries whose shape depends on the request
//! (list filters, sorts, keyset cursors): text with numbered placeholders and
//! the typed arguments to bind, in order, on either backend.

use chrono::{DateTime, NaiveDate, Utc};
use uuid::Uuid;

#[derive(Debug, Clone)]
pub(crate) enum Arg {
    Uuid(Uuid),
    Text(String),
    Int(i64),
    Float(f64),
    Time(DateTime<Utc>),
    Date(NaiveDate),
}

#[derive(Debug, Default)]
pub(crate) struct Sql {
    pub text: String,
    pub args: Vec<Arg>,
}

impl Sql {
    pub fn new(text: &str) -> Self {
        Self {
            text: text.to_owned(),
            args: Vec::new(),
        }
    }

    pub fn push(&mut self, text: &str) -> &mut Self {
        self.text.push_str(text);
        self
    }

    /// Adds an argument and returns its placeholder.
    pub fn arg(&mut self, arg: Arg) -> String {
        self.args.push(arg);
        format!("${}", self.args.len())
    }

    /// Appends `text` with every `{}` replaced by the placeholder of the next argument.
    pub fn push_args(&mut self, text: &str, args: impl IntoIterator<Item = Arg>) -> &mut Self {
        let mut args = args.into_iter();
        let mut pieces = text.split("{}");
        if let Some(first) = pieces.next() {
            self.text.push_str(first);
        }
        for piece in pieces {
            let placeholder = self.arg(args.next().expect("one argument per {}"));
            self.text.push_str(&placeholder);
            self.text.push_str(piece);
        }
        self
    }
}

/// The smallest string above every string that starts with `prefix`, for an
/// index range `key >= prefix and key < upper`; `None` if there is none.
pub(crate) fn prefix_upper_bound(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        // Skips the surrogate gap: U+D7FF is followed by U+E000.
        let next = (last as u32 + 1..=char::MAX as u32).find_map(char::from_u32);
        if let Some(next) = next {
            chars.push(next);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

/// Binds every argument of a [`Sql`] to a query, on whichever backend it expands in.
macro_rules! bind_args {
    ($query:expr, $args:expr) => {{
        let mut query = $query;
        for arg in $args {
            query = match arg {
                $crate::sql::Arg::Uuid(v) => query.bind(*v),
                $crate::sql::Arg::Text(v) => query.bind(v.clone()),
                $crate::sql::Arg::Int(v) => query.bind(*v),
                $crate::sql::Arg::Float(v) => query.bind(*v),
                $crate::sql::Arg::Time(v) => query.bind(*v),
                $crate::sql::Arg::Date(v) => query.bind(*v),
            };
        }
        query
    }};
}

pub(crate) use bind_args;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_numbered_in_order() {
        let mut sql = Sql::new("select 1 where a = ");
        let a = sql.arg(Arg::Int(1));
        sql.push(&a)
            .push_args(" and b between {} and {}", [Arg::Int(2), Arg::Int(3)]);
        assert_eq!(sql.text, "select 1 where a = $1 and b between $2 and $3");
        assert_eq!(sql.args.len(), 3);
    }

    #[test]
    fn prefix_bounds_cover_exactly_the_prefix() {
        assert_eq!(prefix_upper_bound("acm").as_deref(), Some("acn"));
        assert_eq!(prefix_upper_bound(""), None);
        assert_eq!(prefix_upper_bound("a\u{10FFFF}").as_deref(), Some("b"));
        assert_eq!(prefix_upper_bound("\u{D7FF}").as_deref(), Some("\u{E000}"));
        let upper = prefix_upper_bound("ab").unwrap();
        assert!("ab" < upper.as_str() && "abzzz" < upper.as_str() && "ac" >= upper.as_str());
    }
}
