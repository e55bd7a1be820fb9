use std::{fmt, str::FromStr};

/// A user's role in their organization; see "Who may do what" in the API conventions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Admin,
    Manager,
    Rep,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("must be one of admin, manager, rep")]
pub struct RoleError;

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Manager => "manager",
            Role::Rep => "rep",
        }
    }

    /// Managers and admins see every record of the organization; reps see their own.
    pub fn sees_all_records(self) -> bool {
        matches!(self, Role::Admin | Role::Manager)
    }
}

impl FromStr for Role {
    type Err = RoleError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "admin" => Ok(Role::Admin),
            "manager" => Ok(Role::Manager),
            "rep" => Ok(Role::Rep),
            _ => Err(RoleError),
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What an API key may do. A key acts for its organization, never as an admin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    Read,
    Write,
    Reports,
    Import,
    Webhooks,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("must be one of read, write, reports, import, webhooks")]
pub struct ScopeError;

impl Scope {
    pub const ALL: [Scope; 5] = [
        Scope::Read,
        Scope::Write,
        Scope::Reports,
        Scope::Import,
        Scope::Webhooks,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Write => "write",
            Scope::Reports => "reports",
            Scope::Import => "import",
            Scope::Webhooks => "webhooks",
        }
    }

    /// Scopes as stored: sorted, comma-separated, without duplicates.
    pub fn join(scopes: &[Scope]) -> String {
        let mut sorted = scopes.to_vec();
        sorted.sort();
        sorted.dedup();
        sorted.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(",")
    }

    pub fn split(stored: &str) -> Result<Vec<Scope>, ScopeError> {
        stored.split(',').filter(|s| !s.is_empty()).map(str::parse).collect()
    }
}

impl FromStr for Scope {
    type Err = ScopeError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Scope::ALL
            .into_iter()
            .find(|scope| scope.as_str() == s)
            .ok_or(ScopeError)
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_round_trip_through_storage_sorted_and_deduplicated() {
        let stored = Scope::join(&[Scope::Write, Scope::Read, Scope::Write]);
        assert_eq!(stored, "read,write");
        assert_eq!(Scope::split(&stored).unwrap(), vec![Scope::Read, Scope::Write]);
        assert_eq!(Scope::split("read,admin"), Err(ScopeError));
    }

    #[test]
    fn roles_parse_from_their_names() {
        for role in [Role::Admin, Role::Manager, Role::Rep] {
            assert_eq!(role.as_str().parse::<Role>().unwrap(), role);
        }
        assert!("owner".parse::<Role>().is_err());
    }
}
