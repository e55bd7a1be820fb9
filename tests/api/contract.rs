//! `openapi.yaml` is a golden file: it must equal what the code generates.
//! `UPDATE_OPENAPI=1 cargo test -p pipewise-tests contract` rewrites it.

use std::path::PathBuf;

#[test]
fn openapi_yaml_matches_the_code() {
    let generated = pipewise_api::openapi_document()
        .to_yaml()
        .expect("the document serializes");
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
    let doc = serde_json::to_value(pipewise_api::openapi_document()).unwrap();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let responses = op["responses"].as_object().unwrap();
            let secured = op.get("security").is_some();
            if secured {
                assert!(responses.contains_key("401"), "{method} {path} documents 401");
                assert!(responses.contains_key("403"), "{method} {path} documents 403");
            }
            if op.get("requestBody").is_some() {
                for status in ["400", "413", "415", "422"] {
                    assert!(responses.contains_key(status), "{method} {path} documents {status}");
                }
            }
        }
    }
}
