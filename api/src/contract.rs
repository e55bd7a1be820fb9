//! The contract, enforced at the edge. At start-up the OpenAPI document
//! compiles into a JSON Schema validator per operation's JSON body and per
//! query parameter, so that every rule the contract states (types, lengths,
//! patterns, formats, enums, ranges, item counts, unknown fields) is checked
//! in one place, for every route, before a handler runs, and a 422 lists
//! every problem of a body at once. What the contract says is what the
//! server enforces: the two cannot drift apart.

use std::collections::HashMap;

use actix_web::{http::Method, HttpRequest};
use jsonschema::{error::TypeKind, error::ValidationErrorKind, JsonType, ValidationError, Validator};
use serde_json::{Map, Value};

use crate::{error::ApiError, problem::FieldError};

/// The checks of every documented operation, by method and route pattern.
pub struct Contract {
    operations: HashMap<(Method, String), Operation>,
}

#[derive(Default)]
struct Operation {
    body: Option<Validator>,
    query: HashMap<String, Parameter>,
}

struct Parameter {
    validator: Validator,
    kind: ValueKind,
}

/// What a query parameter's text is read as before its schema is applied.
#[derive(Clone, Copy)]
enum ValueKind {
    Text,
    Integer,
    Number,
    Boolean,
}

#[derive(Debug, thiserror::Error)]
#[error("the contract's schema for {operation} does not compile: {message}")]
pub struct ContractError {
    operation: String,
    message: String,
}

impl From<serde_json::Error> for ContractError {
    fn from(err: serde_json::Error) -> Self {
        Self {
            operation: "the document".to_owned(),
            message: err.to_string(),
        }
    }
}

impl Contract {
    /// Compiles the contract as served (`openapi::contract`).
    pub fn compile(document: &Value) -> Result<Self, ContractError> {
        let schemas = document
            .pointer("/components/schemas")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        let mut operations = HashMap::new();
        let paths = document.get("paths").and_then(Value::as_object).into_iter().flatten();
        for (path, item) in paths {
            for (method, operation) in item.as_object().into_iter().flatten() {
                let Ok(method) = Method::from_bytes(method.to_ascii_uppercase().as_bytes()) else {
                    continue;
                };
                let name = format!("{method} {path}");
                let compiled = compile_operation(operation, &schemas).map_err(|message| ContractError {
                    operation: name,
                    message,
                })?;
                operations.insert((method, path.clone()), compiled);
            }
        }
        Ok(Self { operations })
    }

    fn operation(&self, req: &HttpRequest) -> Option<&Operation> {
        let pattern = req.match_pattern()?;
        self.operations.get(&(req.method().clone(), pattern))
    }

    /// Every way `body` breaks the operation's body schema, as field errors.
    pub fn check_body(&self, req: &HttpRequest, body: &Value) -> Vec<FieldError> {
        let Some(validator) = self.operation(req).and_then(|op| op.body.as_ref()) else {
            return Vec::new();
        };
        let mut errors = Vec::new();
        for error in validator.iter_errors(body) {
            field_errors(&error, &mut errors);
        }
        errors
    }

    /// The query parameters against the operation's: unknown names, repeats
    /// and values the schema refuses are a 400 naming the parameter.
    pub fn check_query(&self, req: &HttpRequest, pairs: &[(String, String)]) -> Result<(), ApiError> {
        let Some(operation) = self.operation(req) else {
            return Ok(());
        };
        for (i, (name, raw)) in pairs.iter().enumerate() {
            // A custom field filter: the handler checks it against the definitions.
            if crate::extract::custom_filters::custom_key(name).is_some() && operation.query.contains_key("cf") {
                if pairs[..i].iter().any(|(earlier, _)| earlier == name) {
                    return Err(ApiError::BadRequest(format!(
                        "Query parameter `{name}` is given more than once."
                    )));
                }
                continue;
            }
            let Some(parameter) = operation.query.get(name) else {
                let mut known: Vec<&str> = operation.query.keys().map(String::as_str).collect();
                known.sort_unstable();
                let known = if known.is_empty() {
                    "none".to_owned()
                } else {
                    known.join(", ")
                };
                return Err(ApiError::BadRequest(format!(
                    "Unknown query parameter `{}`; this operation takes: {known}.",
                    crate::routes::submission_body::field_label(name)
                )));
            };
            if pairs[..i].iter().any(|(earlier, _)| earlier == name) {
                return Err(ApiError::BadRequest(format!(
                    "Query parameter `{name}` is given more than once."
                )));
            }
            let value = match parameter.kind.read(raw) {
                Some(value) => value,
                None => {
                    return Err(ApiError::BadRequest(format!(
                        "Query parameter `{name}` must be {}.",
                        parameter.kind.describe()
                    )))
                }
            };
            let refused = parameter.validator.iter_errors(&value).next().map(|error| {
                let mut found = Vec::new();
                field_errors(&error, &mut found);
                found.first().map_or("is invalid".to_owned(), |e| e.message.clone())
            });
            if let Some(message) = refused {
                return Err(ApiError::BadRequest(format!("Query parameter `{name}` {message}.")));
            }
        }
        Ok(())
    }
}

impl ValueKind {
    fn of(schema: &Value) -> Self {
        let types: Vec<&str> = match schema.get("type") {
            Some(Value::String(t)) => vec![t.as_str()],
            Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        match types.into_iter().find(|t| *t != "null") {
            Some("integer") => ValueKind::Integer,
            Some("number") => ValueKind::Number,
            Some("boolean") => ValueKind::Boolean,
            _ => ValueKind::Text,
        }
    }

    fn read(self, raw: &str) -> Option<Value> {
        match self {
            ValueKind::Text => Some(Value::String(raw.to_owned())),
            ValueKind::Integer => raw.parse::<i64>().ok().map(Value::from),
            ValueKind::Number => raw.parse::<f64>().ok().filter(|n| n.is_finite()).map(Value::from),
            ValueKind::Boolean => match raw {
                "true" => Some(Value::Bool(true)),
                "false" => Some(Value::Bool(false)),
                _ => None,
            },
        }
    }

    fn describe(self) -> &'static str {
        match self {
            ValueKind::Text => "text",
            ValueKind::Integer => "an integer",
            ValueKind::Number => "a number",
            ValueKind::Boolean => "`true` or `false`",
        }
    }
}

fn compile_operation(operation: &Value, schemas: &Map<String, Value>) -> Result<Operation, String> {
    let mut compiled = Operation::default();
    if let Some(schema) = operation.pointer("/requestBody/content/application~1json/schema") {
        compiled.body = Some(build(&inline_refs(schema, schemas, 0)?)?);
    }
    for parameter in operation
        .get("parameters")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if parameter.get("in").and_then(Value::as_str) != Some("query") {
            continue;
        }
        let (Some(name), Some(schema)) = (parameter.get("name").and_then(Value::as_str), parameter.get("schema"))
        else {
            continue;
        };
        let schema = inline_refs(schema, schemas, 0)?;
        compiled.query.insert(
            name.to_owned(),
            Parameter {
                kind: ValueKind::of(&schema),
                validator: build(&schema)?,
            },
        );
    }
    Ok(compiled)
}

fn build(schema: &Value) -> Result<Validator, String> {
    jsonschema::options()
        .with_draft(jsonschema::Draft::Draft202012)
        .should_validate_formats(true)
        // The domain's parser is the one definition of an email address; a
        // blank one is left to the handler (on leads and contacts it means none).
        .with_format("email", |s: &str| {
            s.trim().is_empty() || pipewise_domain::Email::parse(s).is_ok()
        })
        .build(schema)
        .map_err(|e| e.to_string())
}

/// `schema` with every `#/components/schemas/…` reference replaced by the
/// schema it names, so that each validator stands alone.
fn inline_refs(schema: &Value, schemas: &Map<String, Value>, depth: usize) -> Result<Value, String> {
    if depth > 32 {
        return Err("references nest too deeply (a recursive schema?)".to_owned());
    }
    Ok(match schema {
        Value::Object(object) => {
            let mut out = Map::new();
            for (key, value) in object {
                if key == "$ref" {
                    let name = value
                        .as_str()
                        .and_then(|r| r.strip_prefix("#/components/schemas/"))
                        .ok_or_else(|| format!("unsupported reference {value}"))?;
                    let target = schemas.get(name).ok_or_else(|| format!("unknown schema {name}"))?;
                    if let Value::Object(target) = inline_refs(target, schemas, depth + 1)? {
                        for (k, v) in target {
                            out.entry(k).or_insert(v);
                        }
                    }
                } else {
                    out.insert(key.clone(), inline_refs(value, schemas, depth)?);
                }
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|item| inline_refs(item, schemas, depth))
                .collect::<Result<_, _>>()?,
        ),
        other => other.clone(),
    })
}

/// A schema violation as the field errors a client reads.
fn field_errors(error: &ValidationError<'_>, out: &mut Vec<FieldError>) {
    let path = field_path(error);
    let at = |name: &str| {
        if path.is_empty() {
            name.to_owned()
        } else {
            format!("{path}.{name}")
        }
    };
    let here = if path.is_empty() {
        "body".to_owned()
    } else {
        path.clone()
    };
    let (field, code, message) = match error.kind() {
        ValidationErrorKind::Required { property } => (
            at(property.as_str().unwrap_or_default()),
            "required",
            "is required".to_owned(),
        ),
        ValidationErrorKind::AdditionalProperties { unexpected } => {
            for name in unexpected {
                out.push(FieldError::new(
                    at(&crate::routes::submission_body::field_label(name)),
                    "unknown_field",
                    "is not a field of this request",
                ));
            }
            return;
        }
        ValidationErrorKind::OneOfNotValid { context } | ValidationErrorKind::AnyOf { context } => {
            // `T | null` fails twice: report why it is not a `T`.
            let mut branches = context.iter().filter(|branch| !is_only_not_null(branch));
            match (branches.next(), branches.next()) {
                (Some(branch), None) => {
                    for inner in branch {
                        field_errors(inner, out);
                    }
                    return;
                }
                _ => (
                    here,
                    "invalid_value",
                    "does not match any of the allowed shapes".to_owned(),
                ),
            }
        }
        ValidationErrorKind::Type { kind } => (here, "invalid_type", format!("must be {}", describe_types(kind))),
        ValidationErrorKind::Enum { options } => (here, "invalid_value", format!("must be one of: {}", list(options))),
        ValidationErrorKind::Constant { expected_value } => {
            (here, "invalid_value", format!("must be {}", list(expected_value)))
        }
        ValidationErrorKind::MaxLength { limit } => {
            (here, "max_length", format!("must be at most {limit} characters long"))
        }
        ValidationErrorKind::MinLength { limit } => {
            (here, "min_length", format!("must be at least {limit} characters long"))
        }
        ValidationErrorKind::MaxItems { limit } => (here, "max_items", format!("must have at most {limit} items")),
        ValidationErrorKind::MinItems { limit } => (here, "min_items", format!("must have at least {limit} items")),
        ValidationErrorKind::Maximum { limit } => (here, "maximum", format!("must be at most {limit}")),
        ValidationErrorKind::Minimum { limit } => (here, "minimum", format!("must be at least {limit}")),
        ValidationErrorKind::ExclusiveMaximum { limit } => (here, "maximum", format!("must be less than {limit}")),
        ValidationErrorKind::ExclusiveMinimum { limit } => (here, "minimum", format!("must be more than {limit}")),
        ValidationErrorKind::Pattern { pattern } => (here, "pattern", describe_pattern(pattern)),
        ValidationErrorKind::Format { format } => (here, "format", describe_format(format)),
        ValidationErrorKind::UniqueItems => (here, "duplicate", "must not list an item twice".to_owned()),
        _ => (here, "invalid_value", "is invalid".to_owned()),
    };
    out.push(FieldError::new(field, code, message));
}

/// A branch of `oneOf`/`anyOf` that failed only because the value is not `null`.
fn is_only_not_null(branch: &[ValidationError<'_>]) -> bool {
    matches!(branch, [only] if matches!(only.kind(), ValidationErrorKind::Type { kind: TypeKind::Single(JsonType::Null) }))
}

/// `stages[1].name` for the instance path `/stages/1/name`.
fn field_path(error: &ValidationError<'_>) -> String {
    let mut path = String::new();
    for segment in error.instance_path().segments() {
        match segment {
            jsonschema::paths::LocationSegment::Index(i) => path.push_str(&format!("[{i}]")),
            jsonschema::paths::LocationSegment::Property(name) => {
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(&name);
            }
        }
    }
    path
}

fn describe_types(kind: &TypeKind) -> String {
    let words: Vec<&str> = match kind {
        TypeKind::Single(t) => vec![type_word(*t)],
        TypeKind::Multiple(set) => set.iter().map(type_word).collect(),
    };
    words.join(" or ")
}

fn type_word(t: JsonType) -> &'static str {
    match t {
        JsonType::Null => "null",
        JsonType::Boolean => "a boolean",
        JsonType::Integer => "an integer",
        JsonType::Number => "a number",
        JsonType::String => "a string",
        JsonType::Array => "an array",
        JsonType::Object => "an object",
    }
}

fn list(options: &Value) -> String {
    let word = |v: &Value| match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    match options {
        Value::Array(items) => items.iter().map(word).collect::<Vec<_>>().join(", "),
        other => word(other),
    }
}

/// The patterns the contract uses, in words; any other is quoted.
fn describe_pattern(pattern: &str) -> String {
    match pattern {
        crate::patterns::AMOUNT => "must be a decimal string with at most 2 places, such as \"1250.00\"".to_owned(),
        other => format!("must match the pattern {other}"),
    }
}

fn describe_format(format: &str) -> String {
    match format {
        "date" => "must be a date as YYYY-MM-DD".to_owned(),
        "date-time" => "must be an RFC 3339 date-time such as 2030-01-15T09:30:00Z".to_owned(),
        "uuid" => "must be a UUID".to_owned(),
        "email" => "must be an email address such as name@example.com".to_owned(),
        other => format!("must be a valid {other}"),
    }
}
