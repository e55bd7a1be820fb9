//! Turning request fields into domain values at the edge, collecting every
//! invalid field so that one 422 names them all.

use crate::{error::ApiError, problem::FieldError};

#[derive(Default)]
pub struct Fields {
    errors: Vec<FieldError>,
}

impl Fields {
    /// Keeps the parsed value, or records why `field` is invalid.
    pub fn check<T, E: std::fmt::Display>(&mut self, field: &str, parsed: Result<T, E>) -> Option<T> {
        match parsed {
            Ok(value) => Some(value),
            Err(err) => {
                self.errors.push(FieldError::new(field, "invalid", err));
                None
            }
        }
    }

    /// Like [`Fields::check`] for an optional field: absent stays `None`.
    pub fn check_opt<R, T, E: std::fmt::Display>(
        &mut self,
        field: &str,
        raw: Option<R>,
        parse: impl FnOnce(R) -> Result<T, E>,
    ) -> Option<T> {
        raw.and_then(|raw| self.check(field, parse(raw)))
    }

    pub fn reject(&mut self, field: &str, code: &str, message: &str) {
        self.errors.push(FieldError::new(field, code, message));
    }

    /// Records again every error of `checked`, filled beforehand.
    pub fn copy_all(&mut self, checked: &Fields) {
        self.errors.extend(checked.errors.iter().cloned());
    }

    /// Records again the errors that `checked`, filled beforehand, holds for `field`.
    pub fn copy_rejection(&mut self, checked: &Fields, field: &str) {
        self.errors
            .extend(checked.errors.iter().filter(|e| e.field == field).cloned());
    }

    /// Fails with every recorded error; otherwise hands back `value`.
    pub fn finish<T>(self, value: impl FnOnce() -> T) -> Result<T, ApiError> {
        if self.errors.is_empty() {
            Ok(value())
        } else {
            Err(ApiError::Validation(self.errors))
        }
    }
}
