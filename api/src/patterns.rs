//! The regular expressions the contract states for text fields. utoipa's
//! `pattern` attribute takes a literal, so each is repeated there; the
//! contract test checks that every pattern in the document is listed here,
//! so that each has a message in words (`contract::describe_pattern`).

/// A non-negative amount with at most 2 decimal places, digits only.
pub const AMOUNT: &str = r"^\d+(\.\d{1,2})?$";

pub const ALL: &[&str] = &[AMOUNT];
