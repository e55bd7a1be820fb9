use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::{Email, Name, Role};

/// A person who logs in. The password hash never leaves the storage layer
/// except towards the login check, in [`Credentials`].
#[derive(Debug, Clone, PartialEq)]
pub struct User {
    pub id: Uuid,
    pub organization_id: Uuid,
    pub email: Email,
    pub name: Name,
    pub role: Role,
    pub active: bool,
    /// Bumped by a password change or "log out everywhere": access tokens
    /// carry the value they were issued under and die when it moves.
    pub token_version: i64,
    pub tokens_valid_after: DateTime<Utc>,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// What the login check needs: the user and their password hash (PHC string).
#[derive(Debug, Clone)]
pub struct Credentials {
    pub user: User,
    pub password_hash: String,
}

#[derive(Debug, Clone)]
pub struct NewUser {
    pub email: Email,
    pub name: Name,
    pub role: Role,
    pub password_hash: String,
}

/// A change to a user; `None` leaves a field as it is. A new password hash
/// also ends every session of the user.
#[derive(Debug, Clone, Default)]
pub struct UserChanges {
    pub name: Option<Name>,
    pub role: Option<Role>,
    pub active: Option<bool>,
    pub password_hash: Option<String>,
}

impl UserChanges {
    pub fn is_empty(&self) -> bool {
        self.name.is_none() && self.role.is_none() && self.active.is_none() && self.password_hash.is_none()
    }
}
