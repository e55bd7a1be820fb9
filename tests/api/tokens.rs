//! The token matrix: every way an access token or an API key can be wrong.

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use pipewise_tests::{expect_problem, expect_status, on_both_backends, Session, TestApp, JWT_SECRET};
use reqwest::StatusCode;
use serde_json::{json, Value};

on_both_backends!(
    a_correctly_forged_token_is_accepted_so_the_matrix_below_means_something,
    tokens_with_a_wrong_signature_are_refused,
    expired_tokens_are_refused,
    unsigned_alg_none_tokens_are_refused,
    tokens_signed_with_another_algorithm_are_refused,
    tokens_for_another_audience_or_issuer_are_refused,
    tokens_missing_a_required_claim_are_refused,
    tokens_issued_in_the_future_are_refused,
    tokens_not_valid_before_a_future_instant_are_refused,
    malformed_and_unknown_api_keys_are_refused,
);

fn claims(session: &Session) -> Value {
    let now = chrono::Utc::now().timestamp();
    json!({
        "sub": session.user_id,
        "org": session.organization_id,
        "iss": "pipewise",
        "aud": "pipewise-api",
        "iat": now,
        "exp": now + 600,
        "ver": 0,
    })
}

fn sign(claims: &Value, alg: Algorithm, secret: &str) -> String {
    jsonwebtoken::encode(&Header::new(alg), claims, &EncodingKey::from_secret(secret.as_bytes())).unwrap()
}

async fn refused(app: &TestApp, token: &str) {
    let response = app.get("/api/v1/me", token).send().await.unwrap();
    assert_eq!(response.headers()["www-authenticate"], "Bearer");
    expect_problem(response, StatusCode::UNAUTHORIZED).await;
}

async fn a_correctly_forged_token_is_accepted_so_the_matrix_below_means_something(app: TestApp) {
    let admin = app.signup("forge").await;
    let token = sign(&claims(&admin), Algorithm::HS256, JWT_SECRET);
    expect_status(app.get("/api/v1/me", &token).send().await.unwrap(), StatusCode::OK).await;
}

async fn tokens_with_a_wrong_signature_are_refused(app: TestApp) {
    let admin = app.signup("signature").await;
    refused(
        &app,
        &sign(
            &claims(&admin),
            Algorithm::HS256,
            "another-secret-that-is-long-enough-0123456789",
        ),
    )
    .await;
    // Change a character well inside the signature (the last one may only carry padding bits).
    let mut tampered = admin.access_token.clone().into_bytes();
    let at = tampered.len() - 10;
    tampered[at] = if tampered[at] == b'A' { b'B' } else { b'A' };
    refused(&app, &String::from_utf8(tampered).unwrap()).await;
}

async fn expired_tokens_are_refused(app: TestApp) {
    let admin = app.signup("expired").await;
    let mut c = claims(&admin);
    let past = chrono::Utc::now().timestamp() - 3600;
    c["iat"] = json!(past - 900);
    c["exp"] = json!(past);
    refused(&app, &sign(&c, Algorithm::HS256, JWT_SECRET)).await;
}

async fn unsigned_alg_none_tokens_are_refused(app: TestApp) {
    let admin = app.signup("none").await;
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let payload = URL_SAFE_NO_PAD.encode(claims(&admin).to_string());
    refused(&app, &format!("{header}.{payload}.")).await;
    refused(&app, &format!("{header}.{payload}")).await;
}

async fn tokens_signed_with_another_algorithm_are_refused(app: TestApp) {
    let admin = app.signup("alg").await;
    refused(&app, &sign(&claims(&admin), Algorithm::HS512, JWT_SECRET)).await;
    refused(&app, &sign(&claims(&admin), Algorithm::HS384, JWT_SECRET)).await;
}

async fn tokens_for_another_audience_or_issuer_are_refused(app: TestApp) {
    let admin = app.signup("aud").await;
    let mut c = claims(&admin);
    c["aud"] = json!("someone-else");
    refused(&app, &sign(&c, Algorithm::HS256, JWT_SECRET)).await;
    let mut c = claims(&admin);
    c["iss"] = json!("evil");
    refused(&app, &sign(&c, Algorithm::HS256, JWT_SECRET)).await;
}

async fn tokens_missing_a_required_claim_are_refused(app: TestApp) {
    let admin = app.signup("claims").await;
    for claim in ["exp", "iss", "aud", "sub"] {
        let mut c = claims(&admin);
        c.as_object_mut().unwrap().remove(claim);
        refused(&app, &sign(&c, Algorithm::HS256, JWT_SECRET)).await;
    }
}

async fn tokens_issued_in_the_future_are_refused(app: TestApp) {
    let admin = app.signup("future").await;
    let mut c = claims(&admin);
    c["iat"] = json!(chrono::Utc::now().timestamp() + 3600);
    c["exp"] = json!(chrono::Utc::now().timestamp() + 4000);
    refused(&app, &sign(&c, Algorithm::HS256, JWT_SECRET)).await;
}

async fn tokens_not_valid_before_a_future_instant_are_refused(app: TestApp) {
    let admin = app.signup("nbf").await;
    let mut c = claims(&admin);
    c["nbf"] = json!(chrono::Utc::now().timestamp() + 3600);
    refused(&app, &sign(&c, Algorithm::HS256, JWT_SECRET)).await;

    // A past `nbf` is fine: the check is real, not a refusal of the claim.
    c["nbf"] = json!(chrono::Utc::now().timestamp() - 60);
    let token = sign(&c, Algorithm::HS256, JWT_SECRET);
    expect_status(app.get("/api/v1/me", &token).send().await.unwrap(), StatusCode::OK).await;
}

async fn malformed_and_unknown_api_keys_are_refused(app: TestApp) {
    let admin = app.signup("keys").await;
    let (_, key) = app.api_key(&admin, &["read"]).await;
    let mut typo = key.clone();
    let flipped = if typo.ends_with('A') { 'B' } else { 'A' };
    typo.pop();
    typo.push(flipped);
    for bad in ["pwk_short", "not-a-key", typo.as_str()] {
        let response = app
            .request(reqwest::Method::GET, "/api/v1/users")
            .header("x-api-key", bad)
            .send()
            .await
            .unwrap();
        expect_problem(response, StatusCode::UNAUTHORIZED).await;
    }
    let response = app
        .request(reqwest::Method::GET, "/api/v1/users")
        .header("x-api-key", &key)
        .send()
        .await
        .unwrap();
    expect_status(response, StatusCode::OK).await;
}
