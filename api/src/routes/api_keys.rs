//! API keys for integration partners: created by an admin, shown once,
//! stored as a SHA-256 hash, revocable, limited by scopes.

use actix_web::{delete, get, http::header, post, web, HttpResponse};
use chrono::{DateTime, Utc};
use pipewise_domain::{ApiKey, Name, Scope};
use pipewise_storage::NewApiKey;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;
use uuid::Uuid;
use validator::Validate;

use crate::{
    error::ApiError,
    extract::{Admin, Caller, Json, ListOf, PageQuery},
    security::secrets,
    state::AppState,
};

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(list_api_keys)
        .service(create_api_key)
        .service(get_api_key)
        .service(revoke_api_key);
}

/// What a key may do: `read` (GET), `write` (create, change, delete
/// records), `reports`, `import` (may backdate history), `webhooks`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ScopeName {
    Read,
    Write,
    Reports,
    Import,
    Webhooks,
}

impl From<ScopeName> for Scope {
    fn from(s: ScopeName) -> Self {
        match s {
            ScopeName::Read => Scope::Read,
            ScopeName::Write => Scope::Write,
            ScopeName::Reports => Scope::Reports,
            ScopeName::Import => Scope::Import,
            ScopeName::Webhooks => Scope::Webhooks,
        }
    }
}

impl From<Scope> for ScopeName {
    fn from(s: Scope) -> Self {
        match s {
            Scope::Read => ScopeName::Read,
            Scope::Write => ScopeName::Write,
            Scope::Reports => ScopeName::Reports,
            Scope::Import => ScopeName::Import,
            Scope::Webhooks => ScopeName::Webhooks,
        }
    }
}

/// An API key as listed: its secret is never shown again, only a prefix.
#[derive(Serialize, ToSchema)]
pub struct ApiKeyView {
    id: Uuid,
    #[schema(example = "CRM sync")]
    name: String,
    /// The key's first characters, to tell keys apart.
    #[schema(example = "pwk_4fZk2QpA")]
    prefix: String,
    scopes: Vec<ScopeName>,
    created_by: Option<Uuid>,
    created_at: DateTime<Utc>,
    /// Updated at most once a minute.
    last_used_at: Option<DateTime<Utc>>,
    /// Set once the key is revoked; a revoked key gets 401.
    revoked_at: Option<DateTime<Utc>>,
}

impl From<ApiKey> for ApiKeyView {
    fn from(key: ApiKey) -> Self {
        Self {
            id: key.id,
            name: key.name.into_string(),
            prefix: key.prefix,
            scopes: key.scopes.into_iter().map(ScopeName::from).collect(),
            created_by: key.created_by,
            created_at: key.created_at,
            last_used_at: key.last_used_at,
            revoked_at: key.revoked_at,
        }
    }
}

/// A new key. `key` appears in this response only: store it now.
#[derive(Serialize, ToSchema)]
pub struct CreatedApiKey {
    id: Uuid,
    name: String,
    scopes: Vec<ScopeName>,
    #[schema(example = "pwk_4fZk2QpA")]
    prefix: String,
    /// Send it as `X-API-Key`.
    #[schema(example = "pwk_4fZk2QpAb7Xc9LmN0pQr3StU6vWx8YzA1bC2dE3f1kR9zQ")]
    key: String,
    created_at: DateTime<Utc>,
}

#[derive(Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateApiKey {
    #[schema(example = "CRM sync", min_length = 1, max_length = 200)]
    name: String,
    #[validate(length(min = 1, max = 5, message = "must list between 1 and 5 scopes"))]
    #[schema(min_items = 1, max_items = 5, example = json!(["read", "write"]))]
    scopes: Vec<ScopeName>,
}

/// List API keys
///
/// List the organization's API keys, revoked ones included (admins only).
#[utoipa::path(
    tag = "api-keys",
    params(PageQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, body = ListOf<ApiKeyView>),
        crate::problem::ListErrors,
    )
)]
#[get("/api-keys")]
async fn list_api_keys(
    caller: Caller<Admin>,
    state: web::Data<AppState>,
    query: web::Query<PageQuery>,
) -> Result<web::Json<ListOf<ApiKeyView>>, ApiError> {
    let page = query.page()?;
    let keys = state.store.api_keys(caller.organization_id(), page).await?;
    Ok(web::Json(ListOf::from_rows(keys, page, |k| k.id, ApiKeyView::from)))
}

/// Create an API key
///
/// Create an API key (admins only). The key is in this response and nowhere else.
#[utoipa::path(
    tag = "api-keys",
    request_body = CreateApiKey,
    security(("bearer" = [])),
    responses(
        (status = 201, body = CreatedApiKey, headers(("Location" = String))),
        crate::problem::CreateErrors,
    )
)]
#[post("/api-keys")]
async fn create_api_key(
    caller: Caller<Admin>,
    state: web::Data<AppState>,
    Json(body, mut fields): Json<CreateApiKey>,
) -> Result<HttpResponse, ApiError> {
    let name = fields.check("name", Name::parse(&body.name));
    let name = fields.finish(|| name)?.expect("checked");
    let secret = secrets::api_key();
    let new_key = NewApiKey {
        name,
        prefix: secret.display_prefix().to_owned(),
        key_hash: secret.sha256_hex(),
        scopes: body.scopes.into_iter().map(Scope::from).collect(),
        created_by: caller.user().map(|u| u.id),
    };
    let key = state
        .store
        .create_api_key(caller.organization_id(), &new_key, caller.actor(), Utc::now())
        .await?;
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, format!("/api/v1/api-keys/{}", key.id)))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(CreatedApiKey {
            id: key.id,
            name: key.name.into_string(),
            scopes: key.scopes.into_iter().map(ScopeName::from).collect(),
            prefix: key.prefix,
            key: secret.expose().to_owned(),
            created_at: key.created_at,
        }))
}

/// Get an API key
///
/// Get one API key (admins only).
#[utoipa::path(
    tag = "api-keys",
    params(("id" = Uuid, Path, description = "The key's id")),
    security(("bearer" = [])),
    responses(
        (status = 200, body = ApiKeyView),
        crate::problem::ReadOneErrors,
    )
)]
#[get("/api-keys/{id}")]
async fn get_api_key(
    caller: Caller<Admin>,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> Result<web::Json<ApiKeyView>, ApiError> {
    Ok(web::Json(
        state.store.api_key(caller.organization_id(), *id).await?.into(),
    ))
}

/// Revoke an API key
///
/// Revoke an API key (admins only): it gets 401 from now on. Revoking twice is harmless.
#[utoipa::path(
    tag = "api-keys",
    params(("id" = Uuid, Path, description = "The key's id")),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Revoked"),
        crate::problem::ReadOneErrors,
    )
)]
#[delete("/api-keys/{id}")]
async fn revoke_api_key(
    caller: Caller<Admin>,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    state
        .store
        .revoke_api_key(caller.organization_id(), *id, caller.actor(), Utc::now())
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
