//! Authentication and authorization, in one place. A handler names the
//! policy of its route in its signature (`Caller<Admin>`, `Caller<Write>`…);
//! this extractor authenticates the request and applies that policy before
//! the handler runs, so no handler checks roles or scopes by hand.

use std::marker::PhantomData;

use actix_web::{dev::Payload, http::header, web, FromRequest, HttpRequest};
use chrono::Utc;
use futures_util::future::LocalBoxFuture;
use pipewise_domain::{ApiKey, ApiKeySecret, Role, Scope, User};
use pipewise_storage::Actor;
use uuid::Uuid;

use crate::{error::ApiError, state::AppState};

pub const API_KEY_HEADER: &str = "x-api-key";

/// Who is calling.
#[derive(Debug, Clone)]
pub enum Principal {
    User(User),
    ApiKey(ApiKey),
}

/// What a route demands: the user roles it admits, and the scopes of which
/// an API key needs one (none: API keys may not call it at all).
pub struct Rule {
    pub roles: &'static [Role],
    pub key_scopes: &'static [Scope],
}

const EVERY_ROLE: &[Role] = &[Role::Admin, Role::Manager, Role::Rep];

pub trait Policy {
    const RULE: Rule;
}

/// Reading: every user; keys with `read`.
pub struct Read;
/// Creating and changing records: every user (ownership rules apply later); keys with `write`.
pub struct Write;
/// Settings, users, API keys: admins only; never an API key.
pub struct Admin;
/// Reports: every user (reps over their own records); keys with `reports`.
pub struct Reports;
/// The caller's own account: every user; never an API key.
pub struct UserOnly;
/// Spend per source, read: managers and admins; keys with `read`.
pub struct ManagerRead;
/// Spend per source, written: managers and admins; keys with `write`.
pub struct ManagerWrite;
/// Organization-wide reports (customers, acquisition): managers and
/// admins, since they add up every rep's deals; keys with `reports`.
pub struct ManagerReports;
/// The change feed: managers and admins, who may see every record; keys with `read`.
pub struct Changes;
impl Policy for Changes {
    const RULE: Rule = Rule {
        roles: MANAGERS,
        key_scopes: &[Scope::Read],
    };
}
/// CSV imports: every user (reps import records they own); keys with
/// `write` or `import`.
pub struct Import;

impl Policy for Import {
    const RULE: Rule = Rule {
        roles: EVERY_ROLE,
        key_scopes: &[Scope::Write, Scope::Import],
    };
}

const MANAGERS: &[Role] = &[Role::Admin, Role::Manager];

impl Policy for ManagerRead {
    const RULE: Rule = Rule {
        roles: MANAGERS,
        key_scopes: &[Scope::Read],
    };
}
impl Policy for ManagerWrite {
    const RULE: Rule = Rule {
        roles: MANAGERS,
        key_scopes: &[Scope::Write],
    };
}
impl Policy for ManagerReports {
    const RULE: Rule = Rule {
        roles: MANAGERS,
        key_scopes: &[Scope::Reports],
    };
}

impl Policy for Read {
    const RULE: Rule = Rule {
        roles: EVERY_ROLE,
        key_scopes: &[Scope::Read],
    };
}
impl Policy for Write {
    const RULE: Rule = Rule {
        roles: EVERY_ROLE,
        key_scopes: &[Scope::Write],
    };
}
impl Policy for Reports {
    const RULE: Rule = Rule {
        roles: EVERY_ROLE,
        key_scopes: &[Scope::Reports],
    };
}
impl Policy for Admin {
    const RULE: Rule = Rule {
        roles: &[Role::Admin],
        key_scopes: &[],
    };
}
impl Policy for UserOnly {
    const RULE: Rule = Rule {
        roles: EVERY_ROLE,
        key_scopes: &[],
    };
}

/// An authenticated caller admitted by policy `P`.
pub struct Caller<P> {
    pub principal: Principal,
    _policy: PhantomData<P>,
}

impl<P> Caller<P> {
    pub fn organization_id(&self) -> Uuid {
        match &self.principal {
            Principal::User(user) => user.organization_id,
            Principal::ApiKey(key) => key.organization_id,
        }
    }

    pub fn actor(&self) -> Actor {
        match &self.principal {
            Principal::User(user) => Actor::User(user.id),
            Principal::ApiKey(key) => Actor::ApiKey(key.id),
        }
    }

    /// The user behind the call; policies that admit no key guarantee one.
    pub fn user(&self) -> Option<&User> {
        match &self.principal {
            Principal::User(user) => Some(user),
            Principal::ApiKey(_) => None,
        }
    }
}

impl<P: Policy + 'static> FromRequest for Caller<P> {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let bearer = req.headers().get(header::AUTHORIZATION).map(|v| {
            v.to_str()
                .ok()
                .and_then(|s| s.strip_prefix("Bearer "))
                .map(|t| t.trim().to_owned())
        });
        let api_key = req
            .headers()
            .get(API_KEY_HEADER)
            .map(|v| v.to_str().ok().map(str::to_owned));
        Box::pin(async move {
            let state = state.expect("AppState is registered");
            let principal = match (bearer, api_key) {
                (Some(Some(token)), _) => authenticate_token(&state, &token).await?,
                (Some(None), _) => return Err(ApiError::Unauthorized("Authorization must be `Bearer <token>`.")),
                (None, Some(Some(key))) => authenticate_key(&state, &key).await?,
                (None, Some(None)) => return Err(ApiError::Unauthorized("The API key is malformed.")),
                (None, None) => {
                    return Err(ApiError::Unauthorized(
                        "Send a bearer token (Authorization: Bearer …) or an API key (X-API-Key).",
                    ))
                }
            };
            authorize(&principal, &P::RULE)?;
            Ok(Caller {
                principal,
                _policy: PhantomData,
            })
        })
    }
}

fn authorize(principal: &Principal, rule: &Rule) -> Result<(), ApiError> {
    match principal {
        Principal::User(user) if rule.roles.contains(&user.role) => Ok(()),
        Principal::User(_) => Err(ApiError::Forbidden("Your role does not allow this.")),
        Principal::ApiKey(_) if rule.key_scopes.is_empty() => Err(ApiError::Forbidden(
            "This call needs a user login; API keys cannot make it.",
        )),
        Principal::ApiKey(key) if rule.key_scopes.iter().any(|s| key.scopes.contains(s)) => Ok(()),
        Principal::ApiKey(_) => Err(ApiError::Forbidden("This API key lacks the scope this call needs.")),
    }
}

const BAD_TOKEN: &str = "The access token is invalid or expired.";

async fn authenticate_token(state: &AppState, token: &str) -> Result<Principal, ApiError> {
    let now = Utc::now();
    let claims = state.jwt.verify(token, now).ok_or(ApiError::Unauthorized(BAD_TOKEN))?;
    // The user's current role and state, not the token's memory of them.
    let user = state
        .store
        .user_for_auth(claims.sub)
        .await?
        .ok_or(ApiError::Unauthorized(BAD_TOKEN))?;
    let current = user.active
        && user.organization_id == claims.org
        && user.token_version == claims.ver
        && claims.iat >= user.tokens_valid_after.timestamp();
    if !current {
        return Err(ApiError::Unauthorized(BAD_TOKEN));
    }
    Ok(Principal::User(user))
}

async fn authenticate_key(state: &AppState, raw: &str) -> Result<Principal, ApiError> {
    // A malformed or mistyped key is refused before any lookup.
    let secret = ApiKeySecret::parse(raw.trim()).map_err(|_| ApiError::Unauthorized("The API key is malformed."))?;
    let key = state
        .store
        .api_key_by_hash(&secret.sha256_hex())
        .await?
        .ok_or(ApiError::Unauthorized("The API key is unknown or revoked."))?;
    state.store.touch_api_key(key.id, Utc::now()).await?;
    Ok(Principal::ApiKey(key))
}

/// Which records of the organization a caller works with: reps their own,
/// everyone else (managers, admins, API keys) all of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordScope {
    All,
    OwnedBy(Uuid),
}

impl<P> Caller<P> {
    pub fn record_scope(&self) -> RecordScope {
        match &self.principal {
            Principal::User(user) if !user.role.sees_all_records() => RecordScope::OwnedBy(user.id),
            _ => RecordScope::All,
        }
    }

    /// The owner filter for records reps may only see when they own them (deals, leads, activities).
    pub fn visible_owner(&self) -> Option<Uuid> {
        match self.record_scope() {
            RecordScope::All => None,
            RecordScope::OwnedBy(id) => Some(id),
        }
    }

    /// Reps change only what they own; everyone else anything: 403 otherwise.
    pub fn ensure_can_change(&self, owner_id: Uuid) -> Result<(), ApiError> {
        match self.record_scope() {
            RecordScope::OwnedBy(me) if me != owner_id => {
                Err(ApiError::Forbidden("Reps may change only the records they own."))
            }
            _ => Ok(()),
        }
    }

    /// The owner of a record this caller creates: the one asked for, else the
    /// calling user, else (for an API key) the admin who created the key, as
    /// integrations expect. Reps may create records only for themselves.
    pub fn new_record_owner(&self, requested: Option<Uuid>) -> Result<Uuid, ApiError> {
        match (requested, &self.principal) {
            (Some(owner), _) => self.ensure_can_change(owner).map(|()| owner),
            (None, Principal::User(user)) => Ok(user.id),
            (None, Principal::ApiKey(key)) => key.created_by.ok_or_else(|| {
                ApiError::invalid(
                    "owner_id",
                    "required",
                    "is required: this API key has no creator to default to",
                )
            }),
        }
    }
}

impl<P> Caller<P> {
    /// Final deletions are for admins only.
    pub fn ensure_admin(&self) -> Result<(), ApiError> {
        match &self.principal {
            Principal::User(user) if user.role == Role::Admin => Ok(()),
            _ => Err(ApiError::Forbidden("Only an admin may do this.")),
        }
    }

    /// Backdating (`created_at` on create, `at` on commands) carries history
    /// over from elsewhere: admins and `import`-scoped keys only.
    pub fn ensure_may_backdate(&self) -> Result<(), ApiError> {
        match &self.principal {
            Principal::User(user) if user.role == Role::Admin => Ok(()),
            Principal::ApiKey(key) if key.scopes.contains(&Scope::Import) => Ok(()),
            _ => Err(ApiError::Forbidden(
                "Only an admin or an API key with the `import` scope may backdate.",
            )),
        }
    }
}
