//! `openapi.yaml` is a golden file: it must equal what the code generates.
//! `UPDATE_OPENAPI=1 cargo test -p pipewise-tests contract` rewrites it.

use std::{collections::BTreeSet, path::PathBuf};

use serde_json::Value;

fn contract() -> Value {
    serde_json::to_value(pipewise_api::openapi::contract(&pipewise_api::openapi_document())).unwrap()
}

fn operations(doc: &Value) -> Vec<(String, String, &Value)> {
    let mut found = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            found.push((method.to_uppercase(), path.clone(), op));
        }
    }
    found
}

#[test]
fn openapi_yaml_matches_the_code() {
    let generated = pipewise_api::openapi_yaml();
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../openapi.yaml");
    if std::env::var_os("UPDATE_OPENAPI").is_some() {
        std::fs::write(&path, &generated).expect("openapi.yaml written");
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "openapi.yaml is stale: regenerate it with `UPDATE_OPENAPI=1 cargo test -p pipewise-tests contract` \
         (or `cargo run -- openapi > openapi.yaml`) and commit it"
    );
}

#[test]
fn every_operation_documents_its_errors_as_problems() {
    let doc = contract();
    for (method, path, op) in operations(&doc) {
        let responses = op["responses"].as_object().unwrap();
        let secured = op["security"].as_array().is_some_and(|schemes| !schemes.is_empty());
        if secured {
            assert!(responses.contains_key("401"), "{method} {path} documents 401");
            assert!(responses.contains_key("403"), "{method} {path} documents 403");
        }
        if op.get("requestBody").is_some() {
            for status in ["400", "413", "415", "422"] {
                assert!(responses.contains_key(status), "{method} {path} documents {status}");
            }
        }
        assert!(
            responses.contains_key("default"),
            "{method} {path} documents a default problem"
        );
    }
}

#[test]
fn every_operation_id_is_unique() {
    // Generated clients name a method after it: two alike make one of them vanish.
    let doc = contract();
    let mut seen = BTreeSet::new();
    for (method, path, op) in operations(&doc) {
        let id = op["operationId"]
            .as_str()
            .unwrap_or_else(|| panic!("{method} {path} has an operationId"));
        assert!(seen.insert(id.to_owned()), "{method} {path}: operationId {id} is taken");
    }
}

#[test]
fn only_public_and_operational_routes_take_no_credentials() {
    let doc = contract();
    let public: BTreeSet<String> = operations(&doc)
        .into_iter()
        .filter(|(_, _, op)| op["security"] == serde_json::json!([]))
        .map(|(method, path, _)| format!("{method} {path}"))
        .collect();
    let expected: BTreeSet<String> = [
        "GET /healthz",
        "GET /readyz",
        "GET /metrics",
        "POST /api/v1/auth/signup",
        "POST /api/v1/auth/login",
        "POST /api/v1/auth/refresh",
        "POST /api/v1/auth/logout",
        "POST /public/v1/forms/{public_token}/submissions",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    assert_eq!(public, expected);
    for (method, path, op) in operations(&doc) {
        assert!(op.get("security").is_some(), "{method} {path} declares its security");
    }
}

#[test]
fn every_response_declares_its_request_id() {
    let doc = contract();
    let components = &doc["components"]["responses"];
    for (method, path, op) in operations(&doc) {
        for (status, response) in op["responses"].as_object().unwrap() {
            let response = match response["$ref"].as_str() {
                Some(target) => &components[target.trim_start_matches("#/components/responses/")],
                None => response,
            };
            assert!(
                response["headers"].get("X-Request-Id").is_some(),
                "{method} {path} {status} declares X-Request-Id"
            );
        }
    }
}

/// Every `$ref` to a schema under `value`.
fn schema_refs(value: &Value, found: &mut BTreeSet<String>) {
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                match (key.as_str(), child.as_str()) {
                    ("$ref", Some(target)) => {
                        if let Some(name) = target.strip_prefix("#/components/schemas/") {
                            found.insert(name.to_owned());
                        }
                    }
                    _ => schema_refs(child, found),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|item| schema_refs(item, found)),
        _ => {}
    }
}

/// Object schemas (at any depth) whose properties are not all required.
fn optional_properties(schema: &Value, at: &str, found: &mut Vec<String>) {
    let Value::Object(map) = schema else { return };
    if let Some(Value::Object(properties)) = map.get("properties") {
        let required: BTreeSet<&str> = map
            .get("required")
            .and_then(Value::as_array)
            .map(|names| names.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        for (name, property) in properties {
            if !required.contains(name.as_str()) {
                found.push(format!("{at}.{name}"));
            }
            optional_properties(property, &format!("{at}.{name}"), found);
        }
    }
    for (key, child) in map {
        if ["items", "oneOf", "anyOf", "allOf"].contains(&key.as_str()) {
            match child {
                Value::Array(parts) => parts.iter().for_each(|part| optional_properties(part, at, found)),
                part => optional_properties(part, at, found),
            }
        }
    }
}

/// The server always sends every response property (`null` when empty), so
/// generated clients must not read them as possibly missing. The only
/// exceptions are the problem fields sent on some errors only.
#[test]
fn every_response_property_is_required() {
    let doc = contract();
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    let mut roots = BTreeSet::new();
    let mut inline = Vec::new();
    for (method, path, op) in operations(&doc) {
        schema_refs(&op["responses"], &mut roots);
        for (status, response) in op["responses"].as_object().unwrap() {
            for (media, content) in response["content"].as_object().into_iter().flatten() {
                inline.push((format!("{method} {path} {status} {media}"), &content["schema"]));
            }
        }
    }
    schema_refs(&doc["components"]["responses"], &mut roots);
    let mut sent = BTreeSet::new();
    let mut todo: Vec<String> = roots.into_iter().collect();
    while let Some(name) = todo.pop() {
        if sent.insert(name.clone()) {
            let mut next = BTreeSet::new();
            schema_refs(&schemas[&name], &mut next);
            todo.extend(next);
        }
    }
    let mut optional = Vec::new();
    for name in &sent {
        optional_properties(&schemas[name], name, &mut optional);
    }
    for (at, schema) in inline {
        optional_properties(schema, &at, &mut optional);
    }
    assert_eq!(
        optional,
        ["Problem.errors", "Problem.existing_id"],
        "optional response properties"
    );
}
