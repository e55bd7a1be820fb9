//! Sign-up, login, token refresh and logout, and the caller's own account.

use actix_web::{get, http::StatusCode, patch, post, web, HttpRequest, HttpResponse};
use chrono::{DateTime, Duration, Utc};
use pipewise_domain::{
    Currency, Email, MqlThreshold, Name, NewUser, Organization, Password, Role, TimeZone, User, UserChanges,
};
use pipewise_storage::{Actor, NewRefreshToken, Rotation};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;
use uuid::Uuid;
use validator::Validate;

use crate::{
    error::ApiError,
    extract::{Caller, Json, UserOnly},
    routes::users::{user_response, UserView},
    security::{jwt::ACCESS_TOKEN_TTL_SECS, secrets},
    state::AppState,
    throttle,
};

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(signup)
        .service(login)
        .service(refresh)
        .service(logout)
        .service(logout_all)
        .service(me)
        .service(update_me);
}

const REFRESH_TOKEN_TTL_DAYS: i64 = 30;

crate::openapi::doc_schema!(
    /// How to send the access token.
    TokenType = crate::openapi::one_of(["Bearer"], "Send the access token as `Authorization: Bearer …`")
);

/// Failed logins tolerated per account and per client address in one window.
const FAILURES_PER_ACCOUNT: i64 = 5;
const FAILURES_PER_ADDRESS: i64 = 30;
const FAILURE_WINDOW_SECS: i64 = 15 * 60;

#[derive(Serialize, ToSchema)]
pub struct TokenPair {
    /// A JWT for `Authorization: Bearer …`; it lives 15 minutes.
    access_token: String,
    /// Single-use: trade it at `/auth/refresh` for a new pair.
    refresh_token: String,
    #[schema(value_type = TokenType)]
    token_type: &'static str,
    /// Seconds until the access token expires.
    #[schema(example = 900)]
    expires_in: i64,
}

#[derive(Serialize, ToSchema)]
pub struct SignupResponse {
    access_token: String,
    refresh_token: String,
    #[schema(value_type = TokenType)]
    token_type: &'static str,
    #[schema(example = 900)]
    expires_in: i64,
    user: UserView,
}

#[derive(Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignupRequest {
    #[schema(example = "Acme Sales", min_length = 1, max_length = 200)]
    organization_name: String,
    #[schema(example = "Ada Lovelace", min_length = 1, max_length = 200)]
    name: String,
    #[schema(example = "ada@example.com", max_length = 254, format = Email)]
    email: String,
    /// At least 10 characters.
    #[schema(example = "correct horse battery", min_length = 10, max_length = 128)]
    password: String,
    /// The organization's reporting currency (ISO 4217); `USD` if omitted.
    #[schema(example = "EUR", min_length = 3, max_length = 3)]
    base_currency: Option<String>,
    /// IANA time zone for calendar buckets in reports; `UTC` if omitted.
    #[schema(example = "Europe/Berlin", max_length = 64)]
    timezone: Option<String>,
}

#[derive(Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    #[schema(example = "ada@example.com", max_length = 254)]
    email: String,
    #[schema(example = "correct horse battery", max_length = 128)]
    password: String,
}

#[derive(Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    #[validate(length(max = 128))]
    #[schema(max_length = 128)]
    refresh_token: String,
}

#[derive(Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateMe {
    #[schema(example = "Ada King", min_length = 1, max_length = 200)]
    name: Option<String>,
    /// A new password; requires `current_password`, and ends every session.
    #[schema(min_length = 10, max_length = 128)]
    password: Option<String>,
    #[schema(max_length = 128)]
    current_password: Option<String>,
}

/// Sign up
///
/// Create an organization and its first admin, and log them in. Servers can
/// switch this off (`PIPEWISE_ALLOW_SIGNUP=false`): then it answers 403.
/// One client address may sign up 10 times an hour
/// (`PIPEWISE_SIGNUP_RATE_PER_CLIENT`), then gets 429.
#[utoipa::path(
    tag = "auth",
    request_body = SignupRequest,
    responses(
        (status = 201, body = SignupResponse),
        (status = 400, response = crate::problem::BadRequest),
        (status = 403, response = crate::problem::Forbidden),
        (status = 409, response = crate::problem::Conflict),
        (status = 413, response = crate::problem::PayloadTooLarge),
        (status = 415, response = crate::problem::UnsupportedMediaType),
        (status = 422, response = crate::problem::ValidationFailed),
        (status = 429, response = crate::problem::TooManyRequests),
        (status = 503, response = crate::problem::ServiceUnavailable),
    )
)]
#[post("/auth/signup")]
async fn signup(
    req: HttpRequest,
    state: web::Data<AppState>,
    Json(body, mut fields): Json<SignupRequest>,
) -> Result<HttpResponse, ApiError> {
    if !state.allow_signup {
        return Err(ApiError::Forbidden(
            "Sign-up is switched off on this server; ask an admin for an account.",
        ));
    }
    let now = Utc::now();
    // Before any hashing: an anonymous burst costs one counter update each.
    throttle::spend(
        state.store.as_ref(),
        &format!("signup:address:{}", throttle::client_address(&req)),
        state.signup_rate_per_client,
        Duration::hours(1),
        now,
    )
    .await?;
    let org_name = fields.check("organization_name", Name::parse(&body.organization_name));
    let name = fields.check("name", Name::parse(&body.name));
    let email = fields.check("email", Email::parse(&body.email));
    let pass = fields.check("password", Password::parse(&body.password));
    let currency = fields.check(
        "base_currency",
        Currency::parse(body.base_currency.as_deref().unwrap_or("USD")),
    );
    let timezone = fields.check("timezone", TimeZone::parse(body.timezone.as_deref().unwrap_or("UTC")));
    fields.finish(|| ())?;
    let (Some(org_name), Some(name), Some(email), Some(pass), Some(currency), Some(timezone)) =
        (org_name, name, email, pass, currency, timezone)
    else {
        unreachable!("Fields::finish fails when a field is missing")
    };

    let org = Organization {
        id: Uuid::now_v7(),
        name: org_name,
        base_currency: currency,
        timezone,
        mql_threshold: MqlThreshold::DEFAULT,
        version: 1,
        created_at: now,
        updated_at: now,
    };
    let admin = NewUser {
        email,
        name,
        role: Role::Admin,
        password_hash: state.hasher.hash(pass).await?,
    };
    let user = state.store.create_organization(&org, &admin, now).await?;
    let tokens = start_session(&state, &user, now).await?;
    Ok(HttpResponse::Created().json(SignupResponse {
        access_token: tokens.access_token,
        refresh_token: tokens.refresh_token,
        token_type: tokens.token_type,
        expires_in: tokens.expires_in,
        user: user.into(),
    }))
}

/// Log in
///
/// Log in with email and password. Unknown emails and wrong passwords get
/// the same 401; after 5 failures for one account, or 30 from one address,
/// within 15 minutes, attempts get 429 until the window ends.
#[utoipa::path(
    tag = "auth",
    request_body = LoginRequest,
    responses(
        (status = 200, body = TokenPair),
        (status = 400, response = crate::problem::BadRequest),
        (status = 401, response = crate::problem::Unauthorized),
        (status = 413, response = crate::problem::PayloadTooLarge),
        (status = 415, response = crate::problem::UnsupportedMediaType),
        (status = 422, response = crate::problem::ValidationFailed),
        (status = 429, response = crate::problem::TooManyRequests),
        (status = 503, response = crate::problem::ServiceUnavailable),
    )
)]
#[post("/auth/login")]
async fn login(
    req: HttpRequest,
    state: web::Data<AppState>,
    Json(body, fields): Json<LoginRequest>,
) -> Result<HttpResponse, ApiError> {
    fields.finish(|| ())?;
    let now = Utc::now();
    let email = body.email.trim().to_lowercase();
    // Keyed by a hash: the throttle table holds no email addresses.
    let account_key = format!("account:{}", secrets::sha256_hex(&email));
    let address_key = format!("address:{}", throttle::client_address(&req));
    let window_start = now - Duration::seconds(FAILURE_WINDOW_SECS);
    // Every attempt is counted before the password is checked, so parallel
    // guesses cannot all pass a count read before any of them failed.
    for (key, limit) in [
        (&account_key, FAILURES_PER_ACCOUNT),
        (&address_key, FAILURES_PER_ADDRESS),
    ] {
        let (attempts, started) = state.store.count_login_attempt(key, window_start, now).await?;
        if attempts > limit {
            let retry_after = (started + Duration::seconds(FAILURE_WINDOW_SECS) - now)
                .num_seconds()
                .max(1);
            return Err(ApiError::TooManyRequests {
                retry_after_secs: retry_after as u64,
            });
        }
    }

    let credentials = state.store.credentials(&email).await?;
    let stored_hash = credentials.as_ref().map(|c| c.password_hash.clone());
    let password_ok = state.hasher.verify(body.password, stored_hash).await?;
    let user = credentials.map(|c| c.user).filter(|u| password_ok && u.active);
    let Some(user) = user else {
        return Err(ApiError::Unauthorized("The email or the password is wrong."));
    };
    // A success is not a failure: the account starts afresh, the address gets its attempt back.
    state.store.clear_login_failures(&account_key).await?;
    state.store.refund_login_attempt(&address_key).await?;
    Ok(HttpResponse::Ok().json(start_session(&state, &user, now).await?))
}

/// Refresh tokens
///
/// Trade a refresh token for a new pair. Each refresh token works once:
/// presenting a spent one ends that whole login (someone holds a copy).
#[utoipa::path(
    tag = "auth",
    request_body = RefreshRequest,
    responses(
        (status = 200, body = TokenPair),
        (status = 400, response = crate::problem::BadRequest),
        (status = 401, response = crate::problem::Unauthorized),
        (status = 413, response = crate::problem::PayloadTooLarge),
        (status = 415, response = crate::problem::UnsupportedMediaType),
        (status = 422, response = crate::problem::ValidationFailed),
    )
)]
#[post("/auth/refresh")]
async fn refresh(
    state: web::Data<AppState>,
    Json(body, fields): Json<RefreshRequest>,
) -> Result<HttpResponse, ApiError> {
    fields.finish(|| ())?;
    let now = Utc::now();
    let next_token = secrets::refresh_token();
    let presented = secrets::sha256_hex(&body.refresh_token);
    let next_hash = secrets::sha256_hex(&next_token);
    match state
        .store
        .rotate_refresh_token(&presented, &next_hash, refresh_expiry(now), now)
        .await?
    {
        Rotation::Rotated(user) => Ok(HttpResponse::Ok().json(TokenPair {
            access_token: state.jwt.issue(user.id, user.organization_id, user.token_version, now),
            refresh_token: next_token,
            token_type: "Bearer",
            expires_in: ACCESS_TOKEN_TTL_SECS,
        })),
        Rotation::Reused => Err(ApiError::Unauthorized(
            "This refresh token was already used; its login has been ended. Log in again.",
        )),
        Rotation::Invalid => Err(ApiError::Unauthorized("The refresh token is invalid or expired.")),
    }
}

/// Log out
///
/// End one login: its refresh token (and every rotation of it) stops working.
/// Answers 204 whether or not the token was live, so it reveals nothing.
#[utoipa::path(
    tag = "auth",
    request_body = RefreshRequest,
    responses(
        (status = 204, description = "Logged out"),
        (status = 400, response = crate::problem::BadRequest),
        (status = 413, response = crate::problem::PayloadTooLarge),
        (status = 415, response = crate::problem::UnsupportedMediaType),
        (status = 422, response = crate::problem::ValidationFailed),
    )
)]
#[post("/auth/logout")]
async fn logout(
    state: web::Data<AppState>,
    Json(body, fields): Json<RefreshRequest>,
) -> Result<HttpResponse, ApiError> {
    fields.finish(|| ())?;
    state
        .store
        .revoke_refresh_family(&secrets::sha256_hex(&body.refresh_token), Utc::now())
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Log out everywhere
///
/// Log out everywhere: every refresh token of the caller is revoked and
/// every access token issued so far stops working at once.
#[utoipa::path(
    tag = "auth",
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Every session ended"),
        crate::problem::AuthErrors,
    )
)]
#[post("/auth/logout-all")]
async fn logout_all(caller: Caller<UserOnly>, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let user = caller
        .user()
        .ok_or(ApiError::Forbidden("This call needs a user login."))?;
    state.store.end_all_sessions(user.id, Utc::now()).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Get the current user
///
/// The logged-in user.
#[utoipa::path(
    tag = "auth",
    security(("bearer" = [])),
    responses(
        (status = 200, body = UserView, headers(("ETag" = String))),
        crate::problem::AuthErrors,
    )
)]
#[get("/me")]
async fn me(caller: Caller<UserOnly>) -> Result<HttpResponse, ApiError> {
    let user = caller
        .user()
        .ok_or(ApiError::Forbidden("This call needs a user login."))?;
    Ok(user_response(StatusCode::OK, user.clone()))
}

/// Update the current user
///
/// Change your own name or password. A new password needs the current one,
/// and ends every session, this one included: log in again afterwards.
#[utoipa::path(
    tag = "auth",
    request_body = UpdateMe,
    security(("bearer" = [])),
    responses(
        (status = 200, body = UserView, headers(("ETag" = String))),
        crate::problem::CreateErrors,
    )
)]
#[patch("/me")]
async fn update_me(
    caller: Caller<UserOnly>,
    state: web::Data<AppState>,
    Json(body, mut fields): Json<UpdateMe>,
) -> Result<HttpResponse, ApiError> {
    let user = caller
        .user()
        .ok_or(ApiError::Forbidden("This call needs a user login."))?;
    let name = fields.check_opt("name", body.name.as_deref(), Name::parse);
    let new_password = fields.check_opt("password", body.password.as_deref(), Password::parse);
    if body.password.is_some() && body.current_password.is_none() {
        fields.reject("current_password", "required", "is required to change the password");
    }
    fields.finish(|| ())?;
    let password_hash = match new_password {
        Some(new_password) => {
            let current = state
                .store
                .credentials(user.email.as_str())
                .await?
                .map(|c| c.password_hash);
            let current_ok = state
                .hasher
                .verify(body.current_password.unwrap_or_default(), current)
                .await?;
            if !current_ok {
                return Err(ApiError::invalid(
                    "current_password",
                    "mismatch",
                    "is not your current password",
                ));
            }
            Some(state.hasher.hash(new_password).await?)
        }
        None => None,
    };
    let changes = UserChanges {
        name,
        password_hash,
        ..UserChanges::default()
    };
    let updated = state
        .store
        .update_user(
            user.organization_id,
            user.id,
            &changes,
            None,
            Actor::User(user.id),
            Utc::now(),
        )
        .await?;
    Ok(user_response(StatusCode::OK, updated))
}

fn refresh_expiry(now: DateTime<Utc>) -> DateTime<Utc> {
    now + Duration::days(REFRESH_TOKEN_TTL_DAYS)
}

/// A new login: a fresh refresh-token family and an access token.
async fn start_session(state: &AppState, user: &User, now: DateTime<Utc>) -> Result<TokenPair, ApiError> {
    let refresh_token = secrets::refresh_token();
    let record = NewRefreshToken {
        family_id: Uuid::now_v7(),
        user_id: user.id,
        token_hash: secrets::sha256_hex(&refresh_token),
        expires_at: refresh_expiry(now),
    };
    state.store.insert_refresh_token(&record, now).await?;
    Ok(TokenPair {
        access_token: state.jwt.issue(user.id, user.organization_id, user.token_version, now),
        refresh_token,
        token_type: "Bearer",
        expires_in: ACCESS_TOKEN_TTL_SECS,
    })
}
