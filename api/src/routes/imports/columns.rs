//! Which field each column of an imported file fills: header names are
//! matched case-insensitively (`First Name` is `first_name`), `mapping`
//! renames the others or ignores them, and the columns an export writes
//! that nobody sets (`id`, `score`…) are ignored, so that an export imports
//! as it is. Anything else is a 400 that names the column.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::{Map, Value};

use crate::error::ApiError;

/// How a cell becomes a JSON value of the record's create body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Text,
    /// A whole number.
    Integer,
    /// An RFC 3339 instant, or a date (midnight UTC).
    Time,
    /// The email of an active user, for `owner_id`.
    OwnerEmail,
    /// Several values separated by commas or semicolons (`tags`).
    List,
}

/// A field an import can fill.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field {
    pub name: &'static str,
    pub kind: Kind,
}

pub const fn text(name: &'static str) -> Field {
    Field { name, kind: Kind::Text }
}

pub const TAGS: Field = Field {
    name: "tags",
    kind: Kind::List,
};

/// What the columns of one resource can be.
pub struct Spec {
    pub fields: &'static [Field],
    /// Columns an export writes that an import ignores.
    pub read_only: &'static [&'static str],
}

/// What a column fills: a field, or the custom field of a key (`cf.<key>`).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Target {
    Field(Field),
    Custom(String),
}

/// The target of each column of a file (`None`: ignored), with its name as
/// the file has it.
pub struct Layout {
    columns: Vec<Option<Target>>,
    header: Vec<String>,
}

/// A header name or mapping target as compared: trimmed, lower case,
/// spaces and hyphens as underscores.
fn normalize(name: &str) -> String {
    name.trim()
        .to_lowercase()
        .chars()
        .map(|c| if c == ' ' || c == '-' { '_' } else { c })
        .collect()
}

/// `mapping` as given: `Header:field` pairs separated by commas, where
/// `field` may be `ignore`.
fn parse_mapping(raw: &str) -> Result<HashMap<String, String>, ApiError> {
    let mut out = HashMap::new();
    for pair in raw.split(',').filter(|p| !p.trim().is_empty()) {
        let Some((column, field)) = pair.rsplit_once(':') else {
            return Err(ApiError::invalid(
                "mapping",
                "invalid",
                "must be Header:field pairs separated by commas, such as `E-mail:email,Notes:ignore`",
            ));
        };
        out.insert(normalize(column), normalize(field));
    }
    Ok(out)
}

impl Layout {
    /// The layout of `header` under `spec` and `mapping`; `custom` are the
    /// keys of the resource's custom fields, which `cf.<key>` columns fill.
    pub fn new(spec: &Spec, header: &[String], mapping: Option<&str>, custom: &[&str]) -> Result<Self, ApiError> {
        let mut mapping = mapping.map(parse_mapping).transpose()?.unwrap_or_default();
        let mut columns = Vec::with_capacity(header.len());
        let mut unknown = Vec::new();
        for name in header {
            let key = normalize(name);
            let target = mapping.remove(&key).unwrap_or_else(|| key.clone());
            let column = if target == "ignore" || (target == key && spec.read_only.contains(&key.as_str())) {
                None
            } else if let Some(field) = spec.fields.iter().find(|f| f.name == target) {
                Some(Target::Field(*field))
            } else if let Some(custom) = target.strip_prefix("cf.").filter(|k| custom.contains(k)) {
                Some(Target::Custom(custom.to_owned()))
            } else {
                if target == key {
                    unknown.push(name.clone());
                } else {
                    return Err(ApiError::invalid(
                        "mapping",
                        "unknown_field",
                        format!("maps `{name}` to `{target}`, which is not a field this import fills"),
                    ));
                }
                None
            };
            if let Some(target) = &column {
                if columns.iter().flatten().any(|t: &Target| t == target) {
                    let name = match target {
                        Target::Field(field) => field.name.to_owned(),
                        Target::Custom(key) => format!("cf.{key}"),
                    };
                    return Err(ApiError::BadRequest(format!(
                        "Two columns fill `{name}`; map one of them to `ignore`."
                    )));
                }
            }
            columns.push(column);
        }
        if !unknown.is_empty() {
            let fields: Vec<String> = spec
                .fields
                .iter()
                .map(|f| f.name.to_owned())
                .chain(custom.iter().map(|k| format!("cf.{k}")))
                .collect();
            return Err(ApiError::BadRequest(format!(
                "Unknown column{} {}: map {} to a field (`mapping=Column:field`) or to `ignore`. The fields are {}.",
                if unknown.len() > 1 { "s" } else { "" },
                unknown.iter().map(|u| format!("`{u}`")).collect::<Vec<_>>().join(", "),
                if unknown.len() > 1 { "them" } else { "it" },
                fields.join(", "),
            )));
        }
        if let Some(column) = mapping.keys().next() {
            return Err(ApiError::invalid(
                "mapping",
                "unknown_column",
                format!("names `{column}`, which is not a column of the file"),
            ));
        }
        Ok(Self {
            columns,
            header: header.to_vec(),
        })
    }

    pub fn has(&self, field: &str) -> bool {
        self.fields().any(|f| f.name == field)
    }

    fn fields(&self) -> impl Iterator<Item = &Field> {
        self.columns.iter().flatten().filter_map(|t| match t {
            Target::Field(field) => Some(field),
            Target::Custom(_) => None,
        })
    }

    /// The column of the file that fills `field`, as the file names it; the
    /// field itself when no column does (a required field).
    pub fn column_of(&self, field: &str) -> String {
        // An element of a list (`tags[1]`) is in the list's column.
        let field = field.split('[').next().unwrap_or(field);
        let exact = self
            .columns
            .iter()
            .position(|c| match (c, field.strip_prefix("custom_fields.")) {
                (Some(Target::Field(f)), None) => f.name == field,
                (Some(Target::Custom(key)), Some(wanted)) => key == wanted,
                _ => false,
            });
        // `owner_email` fills `owner_id`.
        let owner_email = || {
            let by_email = self
                .columns
                .iter()
                .position(|c| matches!(c, Some(Target::Field(f)) if f.kind == Kind::OwnerEmail));
            by_email.filter(|_| field == "owner_id")
        };
        exact
            .or_else(owner_email)
            .map_or_else(|| field.to_owned(), |i| self.header[i].clone())
    }

    /// The row as a JSON object of its non-blank cells, or the cells that
    /// could not be converted (column, message). `owners` maps a lower-cased
    /// email to an active user's id.
    pub fn object(
        &self,
        cells: &[String],
        owners: &HashMap<String, uuid::Uuid>,
    ) -> Result<Map<String, Value>, Vec<(String, String)>> {
        let mut object = Map::new();
        let mut errors = Vec::new();
        for (i, (column, cell)) in self.columns.iter().zip(cells).enumerate() {
            let (Some(target), cell) = (column, unguard(cell.trim())) else {
                continue;
            };
            if cell.is_empty() {
                continue;
            }
            let field = match target {
                Target::Field(field) => field,
                // Read as its field's type by the record's checks.
                Target::Custom(key) => {
                    let custom = object
                        .entry("custom_fields")
                        .or_insert_with(|| Value::Object(Map::new()));
                    if let Value::Object(custom) = custom {
                        custom.insert(key.clone(), Value::String(cell.to_owned()));
                    }
                    continue;
                }
            };
            let value = match field.kind {
                Kind::Text => Ok(Value::String(cell.to_owned())),
                Kind::Integer => cell
                    .parse::<i64>()
                    .map(Value::from)
                    .map_err(|_| "must be a whole number".to_owned()),
                Kind::Time => parse_time(cell).map(|t| Value::String(t.to_rfc3339())),
                Kind::OwnerEmail => owners
                    .get(&cell.to_lowercase())
                    .map(|id| Value::String(id.to_string()))
                    .ok_or_else(|| "is not the email of an active user of the organization".to_owned()),
                Kind::List => Ok(Value::Array(
                    cell.split([',', ';'])
                        .map(str::trim)
                        .filter(|v| !v.is_empty())
                        .map(|v| Value::String(v.to_owned()))
                        .collect(),
                )),
            };
            match value {
                Ok(value) => {
                    // `owner_email` fills `owner_id` unless the file has that too.
                    let name = if field.kind == Kind::OwnerEmail {
                        "owner_id"
                    } else {
                        field.name
                    };
                    if !(field.kind == Kind::OwnerEmail && object.contains_key("owner_id")) {
                        object.insert(name.to_owned(), value);
                    }
                }
                Err(message) => errors.push((self.header[i].clone(), message)),
            }
        }
        if errors.is_empty() {
            Ok(object)
        } else {
            Err(errors)
        }
    }
}

/// A cell as it was before an export defused it: the export prefixes `'`
/// to text a spreadsheet would run as a formula, and the value behind it is
/// the record's own.
fn unguard(cell: &str) -> &str {
    match cell.strip_prefix('\'') {
        Some(rest) if rest.starts_with(['=', '+', '-', '@', '\t', '\r']) => rest,
        _ => cell,
    }
}

fn parse_time(cell: &str) -> Result<DateTime<Utc>, String> {
    if let Ok(t) = DateTime::parse_from_rfc3339(cell) {
        return Ok(t.with_timezone(&Utc));
    }
    NaiveDate::parse_from_str(cell, "%Y-%m-%d")
        .map(|d| d.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc())
        .map_err(|_| "must be an RFC 3339 instant (2025-03-01T09:30:00Z) or a date (2025-03-01)".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPEC: Spec = Spec {
        fields: &[
            text("first_name"),
            text("email"),
            Field {
                name: "employee_count",
                kind: Kind::Integer,
            },
        ],
        read_only: &["id", "score"],
    };

    fn header(names: &[&str]) -> Vec<String> {
        names.iter().map(|n| n.to_string()).collect()
    }

    #[test]
    fn headers_match_fields_whatever_their_case_and_spacing() {
        let layout = Layout::new(&SPEC, &header(&["First Name", "EMAIL", "id"]), None, &[]).unwrap();
        assert!(layout.has("first_name") && layout.has("email"));
        assert_eq!(layout.column_of("email"), "EMAIL");
    }

    #[test]
    fn unknown_columns_are_named_unless_mapped() {
        let err = Layout::new(&SPEC, &header(&["E-post", "Notes"]), None, &[])
            .err()
            .unwrap();
        assert!(err.to_string().contains("`E-post`, `Notes`"), "{err}");
        let layout = Layout::new(
            &SPEC,
            &header(&["E-post", "Notes"]),
            Some("e-post:email,Notes:ignore"),
            &[],
        )
        .unwrap();
        assert!(layout.has("email"));
        assert!(Layout::new(&SPEC, &header(&["email"]), Some("Phone:ignore"), &[]).is_err());
        assert!(Layout::new(&SPEC, &header(&["email", "Mail"]), Some("mail:email"), &[]).is_err());
    }

    #[test]
    fn cells_become_typed_values() {
        let layout = Layout::new(&SPEC, &header(&["first_name", "employee_count"]), None, &[]).unwrap();
        let object = layout.object(&header(&[" Ada ", "12"]), &HashMap::new()).unwrap();
        assert_eq!(object["first_name"], "Ada");
        assert_eq!(object["employee_count"], 12);
        let errors = layout.object(&header(&["", "twelve"]), &HashMap::new()).unwrap_err();
        assert_eq!(
            errors,
            vec![("employee_count".to_owned(), "must be a whole number".to_owned())]
        );
        assert_eq!(unguard("'=SUM(A1)"), "=SUM(A1)");
        assert_eq!(unguard("'tis"), "'tis");
        assert_eq!(
            parse_time("2025-03-01").unwrap().to_rfc3339(),
            "2025-03-01T00:00:00+00:00"
        );
    }
}
