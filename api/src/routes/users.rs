//! The organization's users. Deleting a user deactivates them: their
//! history stays attributed, and they can no longer log in.

use actix_web::{delete, get, http::header, patch, post, web, HttpResponse};
use chrono::{DateTime, Utc};
use pipewise_domain::{Email, Name, NewUser, Password, Role, User, UserChanges};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;
use uuid::Uuid;
use validator::Validate;

use crate::{
    error::ApiError,
    extract::{if_match::etag, Admin, Caller, IfMatch, Json, ListOf, PageQuery, Read},
    state::AppState,
};

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(list_users)
        .service(create_user)
        .service(get_user)
        .service(update_user)
        .service(deactivate_user);
}

/// A user of the organization. Never carries a password or its hash.
#[derive(Serialize, ToSchema)]
pub struct UserView {
    pub id: Uuid,
    pub organization_id: Uuid,
    #[schema(example = "ada@example.com")]
    pub email: String,
    #[schema(example = "Ada Lovelace")]
    pub name: String,
    pub role: RoleName,
    pub active: bool,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<User> for UserView {
    fn from(user: User) -> Self {
        Self {
            id: user.id,
            organization_id: user.organization_id,
            email: user.email.to_string(),
            name: user.name.into_string(),
            role: user.role.into(),
            active: user.active,
            version: user.version,
            created_at: user.created_at,
            updated_at: user.updated_at,
        }
    }
}

/// `admin`: settings, users, API keys and everything else; `manager`: every
/// record and report; `rep`: their own leads, deals and activities.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RoleName {
    Admin,
    Manager,
    Rep,
}

impl From<Role> for RoleName {
    fn from(role: Role) -> Self {
        match role {
            Role::Admin => RoleName::Admin,
            Role::Manager => RoleName::Manager,
            Role::Rep => RoleName::Rep,
        }
    }
}

impl From<RoleName> for Role {
    fn from(role: RoleName) -> Self {
        match role {
            RoleName::Admin => Role::Admin,
            RoleName::Manager => Role::Manager,
            RoleName::Rep => Role::Rep,
        }
    }
}

pub fn user_response(status: actix_web::http::StatusCode, user: User) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header(etag(user.version))
        .json(UserView::from(user))
}

#[derive(Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUser {
    #[schema(example = "grace@example.com", max_length = 254, format = Email)]
    email: String,
    #[schema(example = "Grace Hopper", min_length = 1, max_length = 200)]
    name: String,
    role: RoleName,
    /// At least 10 characters.
    #[schema(example = "another long passphrase", min_length = 10, max_length = 128)]
    password: String,
}

#[derive(Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateUser {
    #[schema(example = "Grace B. Hopper", min_length = 1, max_length = 200)]
    name: Option<String>,
    role: Option<RoleName>,
    /// `false` deactivates the user and ends their sessions; `true` reactivates.
    active: Option<bool>,
    /// A new password; it ends every session of the user.
    #[schema(min_length = 10, max_length = 128)]
    password: Option<String>,
}

/// List users
///
/// List the organization's users, oldest first.
#[utoipa::path(
    tag = "users",
    params(PageQuery),
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, body = ListOf<UserView>),
        crate::problem::ListErrors,
    )
)]
#[get("/users")]
async fn list_users(
    caller: Caller<Read>,
    state: web::Data<AppState>,
    query: web::Query<PageQuery>,
) -> Result<web::Json<ListOf<UserView>>, ApiError> {
    let page = query.page()?;
    let users = state.store.users(caller.organization_id(), page).await?;
    Ok(web::Json(ListOf::from_rows(users, page, |u| u.id, UserView::from)))
}

/// Create a user
///
/// Add a user to the organization (admins only).
#[utoipa::path(
    tag = "users",
    request_body = CreateUser,
    security(("bearer" = [])),
    responses(
        (status = 201, body = UserView, headers(("ETag" = String), ("Location" = String))),
        crate::problem::CreateConflictErrors,
    )
)]
#[post("/users")]
async fn create_user(
    caller: Caller<Admin>,
    state: web::Data<AppState>,
    Json(body, mut fields): Json<CreateUser>,
) -> Result<HttpResponse, ApiError> {
    let email = fields.check("email", Email::parse(&body.email));
    let name = fields.check("name", Name::parse(&body.name));
    let pass = fields.check("password", Password::parse(&body.password));
    let (email, name, pass) = fields.finish(|| (email.unwrap(), name.unwrap(), pass.unwrap()))?;
    let new_user = NewUser {
        email,
        name,
        role: body.role.into(),
        password_hash: state.hasher.hash(pass).await?,
    };
    let user = state
        .store
        .create_user(caller.organization_id(), &new_user, caller.actor(), Utc::now())
        .await?;
    let location = format!("/api/v1/users/{}", user.id);
    let mut response = user_response(actix_web::http::StatusCode::CREATED, user);
    response
        .headers_mut()
        .insert(header::LOCATION, location.parse().expect("a path is a header value"));
    Ok(response)
}

/// Get a user
///
/// Get one user.
#[utoipa::path(
    tag = "users",
    params(("id" = Uuid, Path, description = "The user's id")),
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, body = UserView, headers(("ETag" = String))),
        crate::problem::ReadOneErrors,
    )
)]
#[get("/users/{id}")]
async fn get_user(
    caller: Caller<Read>,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let user = state.store.user(caller.organization_id(), *id).await?;
    Ok(user_response(actix_web::http::StatusCode::OK, user))
}

/// Update a user
///
/// Change a user's name, role, active flag or password (admins only).
/// The organization must keep at least one active admin (409 otherwise).
#[utoipa::path(
    tag = "users",
    params(
        ("id" = Uuid, Path, description = "The user's id"),
        ("If-Match" = Option<String>, Header, description = "The ETag last seen; 412 if stale"),
    ),
    request_body = UpdateUser,
    security(("bearer" = [])),
    responses(
        (status = 200, body = UserView, headers(("ETag" = String))),
        crate::problem::UpdateErrors,
    )
)]
#[patch("/users/{id}")]
async fn update_user(
    caller: Caller<Admin>,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    if_match: IfMatch,
    Json(body, mut fields): Json<UpdateUser>,
) -> Result<HttpResponse, ApiError> {
    let name = fields.check_opt("name", body.name.as_deref(), Name::parse);
    let pass = fields.check_opt("password", body.password.as_deref(), Password::parse);
    fields.finish(|| ())?;
    let password_hash = match pass {
        Some(pass) => Some(state.hasher.hash(pass).await?),
        None => None,
    };
    let changes = UserChanges {
        name,
        role: body.role.map(Role::from),
        active: body.active,
        password_hash,
    };
    let user = state
        .store
        .update_user(
            caller.organization_id(),
            *id,
            &changes,
            if_match.0,
            caller.actor(),
            Utc::now(),
        )
        .await?;
    Ok(user_response(actix_web::http::StatusCode::OK, user))
}

/// Deactivate a user
///
/// Deactivate a user (admins only): they can no longer log in and their
/// sessions end at once; their records stay. `PATCH` with `active: true` undoes it.
#[utoipa::path(
    tag = "users",
    params(
        ("id" = Uuid, Path, description = "The user's id"),
        ("If-Match" = Option<String>, Header, description = "The ETag last seen; 412 if stale"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Deactivated"),
        crate::problem::DeleteErrors,
    )
)]
#[delete("/users/{id}")]
async fn deactivate_user(
    caller: Caller<Admin>,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    if_match: IfMatch,
) -> Result<HttpResponse, ApiError> {
    let changes = UserChanges {
        active: Some(false),
        ..UserChanges::default()
    };
    state
        .store
        .update_user(
            caller.organization_id(),
            *id,
            &changes,
            if_match.0,
            caller.actor(),
            Utc::now(),
        )
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
