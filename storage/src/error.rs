/// Why a storage call failed, in terms the API can answer with.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Absent, or in another organization: callers cannot tell the two apart.
    #[error("record not found")]
    NotFound,
    /// A uniqueness rule or a business invariant refused the change.
    #[error("conflict: {0}")]
    Conflict(&'static str),
    /// A field refers to something that does not exist or may not be used
    /// (a stage of another pipeline, an inactive owner): the field and why.
    #[error("invalid {0}: {1}")]
    Invalid(&'static str, &'static str),
    /// Another lead or a contact already holds the email address.
    #[error("the email address is already taken")]
    DuplicateEmail(crate::EmailHolder),
    /// The caller's own check of the locked record (see [`crate::Edit`])
    /// refused the change; the caller knows the type inside.
    #[error("the change was refused")]
    Refused(#[source] crate::Refusal),
    /// Ids of a bulk action that name no live record the caller may see.
    #[error("{} records not found", .0.len())]
    Missing(Vec<uuid::Uuid>),
    /// `If-Match` named a version that is no longer current.
    #[error("the record changed since the version given")]
    VersionMismatch,
    #[error("database URL must start with sqlite: or postgres:")]
    UnsupportedUrl,
    /// A stored value no longer parses: a bug or a hand edit, never user input.
    #[error("stored data is invalid: {0}")]
    Corrupt(String),
    #[error(transparent)]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// Whether `db` is a violation of one of the `*_external_id_key` unique
/// indexes. PostgreSQL names the index; SQLite names the columns.
pub(crate) fn is_external_id_clash(db: &dyn sqlx::error::DatabaseError) -> bool {
    db.kind() == sqlx::error::ErrorKind::UniqueViolation
        && (db.constraint().is_some_and(|c| c.ends_with("_external_id_key")) || db.message().ends_with(".external_id"))
}

impl StoreError {
    /// Maps a clash of external ids to [`StoreError::Conflict`] with `what`.
    pub(crate) fn external_id(what: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
        move |err| match &err {
            sqlx::Error::Database(db) if is_external_id_clash(db.as_ref()) => StoreError::Conflict(what),
            _ => StoreError::Database(err),
        }
    }

    /// Maps a unique-constraint violation to [`StoreError::Conflict`] with `what`.
    pub(crate) fn unique(what: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
        move |err| match &err {
            sqlx::Error::Database(db) if db.kind() == sqlx::error::ErrorKind::UniqueViolation => {
                StoreError::Conflict(what)
            }
            _ => StoreError::Database(err),
        }
    }
}
