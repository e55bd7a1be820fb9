//! CSV imports: what is imported, how, and how an import ended.

names! {
    /// The records an import creates or updates.
    ImportResource {
        Leads = "leads",
        Contacts = "contacts",
        Accounts = "accounts",
        Deals = "deals",
    }
}

names! {
    /// What an import does with the rows it reads.
    ImportMode {
        /// A dry run: every row is checked and matched, nothing is kept.
        Validate = "validate",
        /// Every row, or none when any row fails.
        Atomic = "atomic",
        /// The valid rows; the invalid ones are reported.
        Partial = "partial",
    }
}

names! {
    /// What a row that matches an existing record does (by `external_id`,
    /// else by email, or by domain for accounts). Without a choice, a match
    /// is a failed row.
    Dedupe {
        /// Leaves the existing record alone.
        Skip = "skip",
        /// Writes the row's columns over the existing record.
        Update = "update",
    }
}

names! {
    /// How an import ended.
    ImportStatus {
        /// A dry run: nothing was written.
        Validated = "validated",
        /// The rows that could be were written.
        Completed = "completed",
        /// An atomic import with a failed row: nothing was written.
        RolledBack = "rolled_back",
    }
}

impl ImportStatus {
    /// How an import in `mode` with `failed` failed rows ends.
    pub fn of(mode: ImportMode, failed: u64) -> Self {
        match mode {
            ImportMode::Validate => ImportStatus::Validated,
            ImportMode::Atomic if failed > 0 => ImportStatus::RolledBack,
            ImportMode::Atomic | ImportMode::Partial => ImportStatus::Completed,
        }
    }

    /// Whether the rows written are kept.
    pub fn keeps_rows(self) -> bool {
        self == ImportStatus::Completed
    }
}

/// A row that could not be imported: its line in the file (the header is
/// line 1; a quoted field with line breaks spans several), the column at
/// fault (empty when the row as a whole is), and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    pub line: u64,
    pub column: String,
    pub message: String,
}

/// How many rows did what.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ImportCounts {
    pub rows: u64,
    pub created: u64,
    pub updated: u64,
    pub skipped: u64,
    pub failed: u64,
}

impl From<ImportResource> for crate::custom_field::Resource {
    fn from(resource: ImportResource) -> Self {
        match resource {
            ImportResource::Leads => Self::Leads,
            ImportResource::Contacts => Self::Contacts,
            ImportResource::Accounts => Self::Accounts,
            ImportResource::Deals => Self::Deals,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_back() {
        for r in ImportResource::ALL {
            assert_eq!(ImportResource::parse(r.as_str()), Some(*r));
        }
        for m in ImportMode::ALL {
            assert_eq!(ImportMode::parse(m.as_str()), Some(*m));
        }
        assert_eq!(Dedupe::parse("merge"), None);
    }

    #[test]
    fn an_atomic_import_with_a_failed_row_keeps_nothing() {
        assert_eq!(ImportStatus::of(ImportMode::Atomic, 1), ImportStatus::RolledBack);
        assert!(ImportStatus::of(ImportMode::Atomic, 0).keeps_rows());
        assert!(ImportStatus::of(ImportMode::Partial, 5).keeps_rows());
        assert!(!ImportStatus::of(ImportMode::Validate, 0).keeps_rows());
    }
}
