//! Turning request fields into domain values at the edge, collecting every
//! invalid field so that one 422 names them all.

use crate::{error::ApiError, problem::FieldError};

#[derive(Default, Clone)]
pub struct Fields {
    errors: Vec<FieldError>,
}

impl Fields {
    /// Starts from problems found before the fields are parsed.
    pub fn with_errors(errors: Vec<FieldError>) -> Self {
        Self { errors }
    }

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

    /// Whether no field was found invalid so far.
    pub fn is_empty(&self) -> bool {
        self.errors.is_empty()
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

    /// The recorded errors, the first for each field.
    pub fn into_errors(self) -> Vec<FieldError> {
        match self.finish(|| ()) {
            Err(ApiError::Validation(errors)) => errors,
            _ => Vec::new(),
        }
    }

    /// Fails with every recorded error (the first for each field); otherwise
    /// hands back `value`.
    pub fn finish<T>(self, value: impl FnOnce() -> T) -> Result<T, ApiError> {
        if self.errors.is_empty() {
            return Ok(value());
        }
        let mut errors: Vec<FieldError> = Vec::with_capacity(self.errors.len());
        for error in self.errors {
            if !errors.iter().any(|e| e.field == error.field) {
                errors.push(error);
            }
        }
        Err(ApiError::Validation(errors))
    }
}
