//! Bulk actions: one action applied to many records of a kind in one write
//! transaction, all or nothing. Each record is locked (in id order, so two
//! bulk actions over the same records queue up instead of deadlocking),
//! then the caller's [`Edit`](crate::Edit) decides its [`Step`] on exactly
//! the version it replaces, and the step goes through the same write as a
//! single change of that record: same events, notices and audit entries.
//! One refused record, or one id that is not a live record the caller may
//! see, rolls everything back.

use uuid::Uuid;

/// What a bulk action does to one record.
#[derive(Debug, Clone, PartialEq)]
pub enum Step<C> {
    /// Leave it as it is (it already is what the action asks).
    Keep,
    /// Write this change, as a PATCH would.
    Change(C),
    /// Move it to the trash, as a DELETE would.
    Trash,
}

/// A change to one deal in a bulk action: its fields, or a state command.
#[derive(Debug, Clone)]
pub enum DealEdit {
    Fields(crate::DealChanges),
    Command(pipewise_domain::deal::Command),
}

/// What a merge works on, every record locked: the one kept and the ones
/// merged into it (in id order).
#[derive(Debug, Clone)]
pub struct Merging<T> {
    pub keep: T,
    pub merged: Vec<T>,
}

impl<T> Merging<T> {
    /// The locked records split into the kept one and the others;
    /// `Missing` when the kept one is not among them.
    pub(crate) fn split(records: Vec<T>, keep_id: Uuid, id: impl Fn(&T) -> Uuid) -> Result<Self, crate::StoreError> {
        let (keep, merged): (Vec<T>, Vec<T>) = records.into_iter().partition(|r| id(r) == keep_id);
        let keep = keep
            .into_iter()
            .next()
            .ok_or(crate::StoreError::Missing(vec![keep_id]))?;
        Ok(Self { keep, merged })
    }
}

/// `ids` without repeats, in the order their rows are locked.
pub(crate) fn lock_order(ids: &[Uuid]) -> Vec<Uuid> {
    let mut ids = ids.to_vec();
    ids.sort_unstable();
    ids.dedup();
    ids
}
