//! Custom fields: fields an organization's admins add to leads, contacts,
//! accounts or deals (a lead's `budget_approved`, a deal's `contract_type`).
//!
//! A field has a type, and a value is checked against it before it is kept:
//! what is kept is already the canonical form (trimmed text, a normalized
//! decimal, an ISO date, an option as the field spells it), so a record's
//! values read, compare and filter the same however they were written. The
//! kept forms are few ([`CustomValue`]), so a record's values can be shown
//! and stored without their definitions at hand.

use std::collections::BTreeMap;
use std::str::FromStr;

use chrono::NaiveDate;
use rust_decimal::Decimal;

/// The longest key, in characters.
pub const KEY_MAX: usize = 40;
/// The longest label, in characters.
pub const LABEL_MAX: usize = 100;
/// The most options a select field offers.
pub const OPTIONS_MAX: usize = 100;
/// The longest option, in characters.
pub const OPTION_MAX: usize = 100;
/// The longest text value, in characters.
pub const TEXT_MAX: usize = 255;
/// The most custom fields of one kind of record.
pub const FIELDS_MAX: usize = 50;
/// The most decimal places a decimal value keeps.
pub const DECIMAL_PLACES_MAX: u32 = 10;

names! {
    /// The kind of record a custom field belongs to.
    Resource {
        Leads = "leads",
        Contacts = "contacts",
        Accounts = "accounts",
        Deals = "deals",
    }
}

names! {
    /// What a custom field holds.
    FieldType {
        /// One line of text, at most 255 characters.
        Text = "text",
        /// A whole number.
        Number = "number",
        /// An exact decimal number, sent and shown as a string ("12.50").
        Decimal = "decimal",
        /// A calendar date (YYYY-MM-DD).
        Date = "date",
        Boolean = "boolean",
        /// One of the field's options.
        Select = "select",
        /// Any of the field's options.
        MultiSelect = "multi_select",
    }
}

impl FieldType {
    /// Whether the field offers options.
    pub fn has_options(self) -> bool {
        matches!(self, FieldType::Select | FieldType::MultiSelect)
    }
}

/// A field's key: what records and filters (`cf.<key>`) name it by.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FieldKey(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("must be 1 to {KEY_MAX} lower-case letters, digits or underscores, starting with a letter")]
pub struct FieldKeyError;

impl FieldKey {
    pub fn parse(raw: &str) -> Result<Self, FieldKeyError> {
        let mut chars = raw.chars();
        let starts = chars.next().is_some_and(|c| c.is_ascii_lowercase());
        let rest = chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if starts && rest && raw.len() <= KEY_MAX {
            Ok(Self(raw.to_owned()))
        } else {
            Err(FieldKeyError)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OptionsError {
    #[error("a select field needs 1 to {OPTIONS_MAX} options")]
    Count,
    #[error("only select and multi_select fields have options")]
    NotSelect,
    #[error(
        "option {position}: must be 1 to {OPTION_MAX} characters, without commas, semicolons or control characters"
    )]
    Option { position: usize },
    #[error("option {position} repeats an earlier one")]
    Repeated { position: usize },
}

/// The options of a field of `field_type`: trimmed, unique whatever their
/// case, none for fields that are not selects.
pub fn parse_options(field_type: FieldType, raw: &[String]) -> Result<Vec<String>, OptionsError> {
    if !field_type.has_options() {
        return if raw.is_empty() {
            Ok(Vec::new())
        } else {
            Err(OptionsError::NotSelect)
        };
    }
    if raw.is_empty() || raw.len() > OPTIONS_MAX {
        return Err(OptionsError::Count);
    }
    let mut options: Vec<String> = Vec::with_capacity(raw.len());
    for (position, option) in raw.iter().enumerate() {
        let option = option.trim();
        let len = option.chars().count();
        if len == 0 || len > OPTION_MAX || option.chars().any(|c| c.is_control() || c == ',' || c == ';') {
            return Err(OptionsError::Option { position });
        }
        if options.iter().any(|o| o.to_lowercase() == option.to_lowercase()) {
            return Err(OptionsError::Repeated { position });
        }
        options.push(option.to_owned());
    }
    Ok(options)
}

/// A custom field as an organization defined it.
#[derive(Debug, Clone, PartialEq)]
pub struct CustomField {
    pub id: uuid::Uuid,
    pub organization_id: uuid::Uuid,
    pub resource: Resource,
    pub key: FieldKey,
    pub label: String,
    pub field_type: FieldType,
    /// For select and multi_select fields, in the order they are offered.
    pub options: Vec<String>,
    /// Whether a record must have a value: on create, and on every change
    /// of its custom fields.
    pub required: bool,
    pub version: i64,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

/// A value as it is kept and shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CustomValue {
    /// Text, a decimal, a date, or a select's option.
    Text(String),
    Integer(i64),
    Boolean(bool),
    /// A multi_select's options, in the field's order.
    List(Vec<String>),
}

/// A value as a client sent it: JSON, or a spreadsheet cell read as text.
#[derive(Debug, Clone, PartialEq)]
pub enum Input<'a> {
    /// Clears the field.
    Null,
    Bool(bool),
    Integer(i64),
    /// A number with a fraction (or too large for a whole number).
    Float(f64),
    Text(&'a str),
    /// A list, each element text (`None`: an element that is not).
    List(Vec<Option<&'a str>>),
    /// Anything else (an object).
    Other,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValueError {
    #[error("must be text of at most {TEXT_MAX} characters, without control characters")]
    Text,
    #[error("must be a whole number")]
    Number,
    #[error("must be a decimal number (a string such as \"12.50\") with at most {DECIMAL_PLACES_MAX} decimal places")]
    Decimal,
    #[error("must be a date (YYYY-MM-DD)")]
    Date,
    #[error("must be true or false")]
    Boolean,
    #[error("must be one of: {0}")]
    Option(String),
    #[error("must be a list of any of: {0}")]
    Options(String),
    #[error("is required")]
    Required,
}

impl CustomField {
    /// The value `input` gives this field, in its kept form; `None` clears
    /// it (a null, blank text, an empty list), which a required field refuses.
    pub fn value(&self, input: &Input<'_>) -> Result<Option<CustomValue>, ValueError> {
        let value = self.parse(input)?;
        if value.is_none() && self.required {
            return Err(ValueError::Required);
        }
        Ok(value)
    }

    fn parse(&self, input: &Input<'_>) -> Result<Option<CustomValue>, ValueError> {
        if matches!(input, Input::Null) || matches!(input, Input::Text(t) if t.trim().is_empty()) {
            return Ok(None);
        }
        let value = match self.field_type {
            FieldType::Text => match input {
                Input::Text(t) => {
                    let t = t.trim();
                    if t.chars().count() > TEXT_MAX || t.chars().any(char::is_control) {
                        return Err(ValueError::Text);
                    }
                    CustomValue::Text(t.to_owned())
                }
                _ => return Err(ValueError::Text),
            },
            FieldType::Number => CustomValue::Integer(match input {
                Input::Integer(n) => *n,
                Input::Text(t) => t.trim().parse().map_err(|_| ValueError::Number)?,
                _ => return Err(ValueError::Number),
            }),
            FieldType::Decimal => {
                let parsed = match input {
                    Input::Text(t) => Decimal::from_str(t.trim()).ok(),
                    Input::Integer(n) => Some(Decimal::from(*n)),
                    // The shortest text that reads back as the same double.
                    Input::Float(f) => Decimal::from_str(&f.to_string()).ok(),
                    _ => None,
                };
                let value = parsed
                    .filter(|d| d.scale() <= DECIMAL_PLACES_MAX || d.normalize().scale() <= DECIMAL_PLACES_MAX)
                    .ok_or(ValueError::Decimal)?;
                CustomValue::Text(value.normalize().to_string())
            }
            FieldType::Date => match input {
                Input::Text(t) => {
                    let date = NaiveDate::parse_from_str(t.trim(), "%Y-%m-%d").map_err(|_| ValueError::Date)?;
                    CustomValue::Text(date.format("%Y-%m-%d").to_string())
                }
                _ => return Err(ValueError::Date),
            },
            FieldType::Boolean => CustomValue::Boolean(match input {
                Input::Bool(b) => *b,
                Input::Text(t) => parse_bool(t).ok_or(ValueError::Boolean)?,
                _ => return Err(ValueError::Boolean),
            }),
            FieldType::Select => match input {
                Input::Text(t) => CustomValue::Text(self.option(t).ok_or_else(|| self.option_error())?),
                _ => return Err(self.option_error()),
            },
            FieldType::MultiSelect => {
                let texts: Vec<&str> = match input {
                    // A cell lists them with commas or semicolons.
                    Input::Text(t) => t.split([',', ';']).filter(|p| !p.trim().is_empty()).collect(),
                    Input::List(items) => items
                        .iter()
                        .map(|i| i.ok_or_else(|| self.options_error()))
                        .collect::<Result<_, _>>()?,
                    _ => return Err(self.options_error()),
                };
                let mut chosen = Vec::new();
                for text in texts {
                    chosen.push(self.option(text).ok_or_else(|| self.options_error())?);
                }
                if chosen.is_empty() {
                    return Ok(None);
                }
                // In the field's order, once each: the same choice reads the same.
                let list = self.options.iter().filter(|o| chosen.contains(o)).cloned().collect();
                CustomValue::List(list)
            }
        };
        Ok(Some(value))
    }

    /// The option `text` names, as the field spells it.
    fn option(&self, text: &str) -> Option<String> {
        let wanted = text.trim().to_lowercase();
        self.options.iter().find(|o| o.to_lowercase() == wanted).cloned()
    }

    fn option_error(&self) -> ValueError {
        ValueError::Option(self.options.join(", "))
    }

    fn options_error(&self) -> ValueError {
        ValueError::Options(self.options.join(", "))
    }

    /// What a filter `cf.<key>=raw` looks for: the kept form of one value
    /// (one option of a multi_select), as the index holds it.
    pub fn filter_term(&self, raw: &str) -> Result<String, ValueError> {
        let single = match self.field_type {
            FieldType::MultiSelect => CustomField {
                field_type: FieldType::Select,
                ..self.clone()
            },
            _ => self.clone(),
        };
        match single.parse(&Input::Text(raw))? {
            Some(CustomValue::Text(t)) => Ok(t),
            Some(CustomValue::Integer(n)) => Ok(n.to_string()),
            Some(CustomValue::Boolean(b)) => Ok(b.to_string()),
            Some(CustomValue::List(_)) | None => Err(match self.field_type {
                FieldType::Text => ValueError::Text,
                FieldType::MultiSelect => self.options_error(),
                _ => ValueError::Required,
            }),
        }
    }
}

/// `true`, `false`, and what spreadsheets write for them.
fn parse_bool(text: &str) -> Option<bool> {
    match text.trim().to_lowercase().as_str() {
        "true" | "yes" | "1" => Some(true),
        "false" | "no" | "0" => Some(false),
        _ => None,
    }
}

/// A record's custom values by key; a field without a value is absent.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CustomValues(BTreeMap<String, CustomValue>);

impl CustomValues {
    pub fn new(values: BTreeMap<String, CustomValue>) -> Self {
        Self(values)
    }

    pub fn get(&self, key: &str) -> Option<&CustomValue> {
        self.0.get(key)
    }

    /// Sets (or with `None`, clears) the value of `key`.
    pub fn set(&mut self, key: &FieldKey, value: Option<CustomValue>) {
        match value {
            Some(value) => self.0.insert(key.as_str().to_owned(), value),
            None => self.0.remove(key.as_str()),
        };
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &CustomValue)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v))
    }

    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// These values with `changes` applied: each key set, or cleared with `None`.
    pub fn patched(&self, changes: &[(FieldKey, Option<CustomValue>)]) -> CustomValues {
        let mut next = self.clone();
        for (key, value) in changes {
            next.set(key, value.clone());
        }
        next
    }

    /// The required fields of `fields` without a value here.
    pub fn missing<'a>(&self, fields: &'a [CustomField]) -> Vec<&'a CustomField> {
        fields
            .iter()
            .filter(|f| f.required && !self.0.contains_key(f.key.as_str()))
            .collect()
    }

    /// The values another kind of record takes over (a lead's, as it is
    /// converted to a contact and a deal): each one `fields` defines under
    /// the same key and accepts, in the form that field keeps.
    pub fn carried_to(&self, fields: &[CustomField]) -> CustomValues {
        let mut out = CustomValues::default();
        for field in fields {
            let Some(value) = self.get(field.key.as_str()) else {
                continue;
            };
            let input = match value {
                CustomValue::Text(text) => Input::Text(text),
                CustomValue::Integer(n) => Input::Integer(*n),
                CustomValue::Boolean(b) => Input::Bool(*b),
                CustomValue::List(items) => Input::List(items.iter().map(|i| Some(i.as_str())).collect()),
            };
            if let Ok(Some(value)) = field.value(&input) {
                out.set(&field.key, Some(value));
            }
        }
        out
    }

    /// These values, and for each key `other` has that these lack, its value.
    pub fn filled_from(&self, other: &CustomValues) -> CustomValues {
        let mut out = other.0.clone();
        out.extend(self.0.clone());
        CustomValues(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(field_type: FieldType, options: &[&str], required: bool) -> CustomField {
        CustomField {
            id: uuid::Uuid::nil(),
            organization_id: uuid::Uuid::nil(),
            resource: Resource::Leads,
            key: FieldKey::parse("f").unwrap(),
            label: "F".into(),
            field_type,
            options: options.iter().map(|o| o.to_string()).collect(),
            required,
            version: 1,
            created_at: chrono::DateTime::UNIX_EPOCH,
            updated_at: chrono::DateTime::UNIX_EPOCH,
        }
    }

    #[test]
    fn keys_are_snake_case_identifiers() {
        for good in ["budget", "a1", "contract_type"] {
            assert!(FieldKey::parse(good).is_ok(), "{good}");
        }
        for bad in ["", "1a", "Budget", "a-b", "a b", "é", &"a".repeat(41)] {
            assert!(FieldKey::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn options_are_trimmed_unique_and_only_for_selects() {
        let raw = |v: &[&str]| v.iter().map(|o| o.to_string()).collect::<Vec<_>>();
        assert_eq!(
            parse_options(FieldType::Select, &raw(&[" Gold ", "Silver"])).unwrap(),
            ["Gold", "Silver"]
        );
        assert_eq!(
            parse_options(FieldType::Select, &raw(&["Gold", "gold"])),
            Err(OptionsError::Repeated { position: 1 })
        );
        assert_eq!(parse_options(FieldType::Select, &[]), Err(OptionsError::Count));
        assert_eq!(
            parse_options(FieldType::Text, &raw(&["a"])),
            Err(OptionsError::NotSelect)
        );
        assert!(parse_options(FieldType::MultiSelect, &raw(&["a;b"])).is_err());
    }

    #[test]
    fn values_are_checked_and_kept_in_one_form() {
        let decimal = field(FieldType::Decimal, &[], false);
        assert_eq!(
            decimal.value(&Input::Text("12.50")),
            Ok(Some(CustomValue::Text("12.5".into())))
        );
        assert_eq!(
            decimal.value(&Input::Float(0.1)),
            Ok(Some(CustomValue::Text("0.1".into())))
        );
        assert_eq!(decimal.value(&Input::Text("twelve")), Err(ValueError::Decimal));
        let number = field(FieldType::Number, &[], false);
        assert_eq!(number.value(&Input::Integer(7)), Ok(Some(CustomValue::Integer(7))));
        assert_eq!(number.value(&Input::Float(7.5)), Err(ValueError::Number));
        assert_eq!(number.value(&Input::Text(" 42 ")), Ok(Some(CustomValue::Integer(42))));
        let date = field(FieldType::Date, &[], false);
        assert_eq!(date.value(&Input::Text("2026-02-30")), Err(ValueError::Date));
        let flag = field(FieldType::Boolean, &[], false);
        assert_eq!(flag.value(&Input::Text("Yes")), Ok(Some(CustomValue::Boolean(true))));
        assert_eq!(flag.value(&Input::Integer(1)), Err(ValueError::Boolean));
        let tier = field(FieldType::Select, &["Gold", "Silver"], false);
        assert_eq!(
            tier.value(&Input::Text("gold")),
            Ok(Some(CustomValue::Text("Gold".into())))
        );
        assert_eq!(
            tier.value(&Input::Text("Bronze")),
            Err(ValueError::Option("Gold, Silver".into()))
        );
        let many = field(FieldType::MultiSelect, &["A", "B", "C"], false);
        assert_eq!(
            many.value(&Input::List(vec![Some("c"), Some("a"), Some("C")])),
            Ok(Some(CustomValue::List(vec!["A".into(), "C".into()])))
        );
        assert_eq!(
            many.value(&Input::Text("b; a")),
            Ok(Some(CustomValue::List(vec!["A".into(), "B".into()])))
        );
        let text = field(FieldType::Text, &[], true);
        assert_eq!(text.value(&Input::Text("  ")), Err(ValueError::Required));
        assert_eq!(text.value(&Input::Null), Err(ValueError::Required));
        assert_eq!(text.value(&Input::Integer(1)), Err(ValueError::Text));
        assert_eq!(text.value(&Input::Text(&"x".repeat(256))), Err(ValueError::Text));
    }

    #[test]
    fn a_filter_looks_for_the_kept_form() {
        assert_eq!(
            field(FieldType::Decimal, &[], false).filter_term("3.10"),
            Ok("3.1".into())
        );
        assert_eq!(
            field(FieldType::MultiSelect, &["Alpha"], false).filter_term("ALPHA"),
            Ok("Alpha".into())
        );
        assert_eq!(
            field(FieldType::Boolean, &[], false).filter_term("no"),
            Ok("false".into())
        );
        assert!(field(FieldType::Number, &[], false).filter_term("x").is_err());
    }

    #[test]
    fn values_carry_to_fields_of_the_same_key_that_accept_them() {
        let keyed = |key: &str, field_type, options: &[&str]| CustomField {
            key: FieldKey::parse(key).unwrap(),
            ..field(field_type, options, false)
        };
        let lead = CustomValues::new(BTreeMap::from([
            ("budget".to_owned(), CustomValue::Text("12.5".into())),
            ("plan".to_owned(), CustomValue::Text("Pro".into())),
            ("seats".to_owned(), CustomValue::Integer(12)),
            ("regions".to_owned(), CustomValue::List(vec!["EU".into(), "US".into()])),
            ("lead_only".to_owned(), CustomValue::Boolean(true)),
        ]));
        let deal = [
            keyed("budget", FieldType::Decimal, &[]),
            keyed("plan", FieldType::Select, &["basic", "pro"]),
            keyed("seats", FieldType::Text, &[]),
            keyed("regions", FieldType::MultiSelect, &["us", "eu", "apac"]),
        ];
        let carried = lead.carried_to(&deal);
        assert_eq!(carried.get("budget"), Some(&CustomValue::Text("12.5".into())));
        assert_eq!(
            carried.get("plan"),
            Some(&CustomValue::Text("pro".into())),
            "as the field spells it"
        );
        assert_eq!(carried.get("seats"), None, "a number is no text");
        assert_eq!(
            carried.get("regions"),
            Some(&CustomValue::List(vec!["us".into(), "eu".into()])),
            "in the field's order"
        );
        assert_eq!(carried.keys().count(), 3, "nothing the fields do not define");
        let contact = [keyed("plan", FieldType::Select, &["Basic"])];
        assert!(
            lead.carried_to(&contact).is_empty(),
            "an option the field lacks stays behind"
        );
    }
}
