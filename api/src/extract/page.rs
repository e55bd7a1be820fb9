//! Cursor pagination: `?limit=&cursor=` in, `{data, next_cursor}` out.
//! Cursors are opaque to clients; inside they name the last id returned,
//! and ids (UUID v7) grow with time, so a walk stays stable under inserts.

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use pipewise_storage::Page;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::error::ApiError;

pub const DEFAULT_LIMIT: u32 = 50;
pub const MAX_LIMIT: u32 = 200;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Page size, 1–200.
    #[param(minimum = 1, maximum = 200, default = 50)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    #[param(max_length = 512)]
    pub cursor: Option<String>,
}

impl PageQuery {
    pub fn page(&self) -> Result<Page, ApiError> {
        let limit = parse_limit(self.limit)?;
        let after = self.cursor.as_deref().map(Cursor::decode).transpose()?;
        Ok(Page {
            after,
            limit: limit + 1,
        })
    }
}

pub fn parse_limit(limit: Option<u32>) -> Result<u32, ApiError> {
    match limit {
        None => Ok(DEFAULT_LIMIT),
        Some(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
        Some(_) => Err(ApiError::BadRequest(format!(
            "limit must be between 1 and {MAX_LIMIT}."
        ))),
    }
}

pub struct Cursor;

impl Cursor {
    pub fn encode(last: Uuid) -> String {
        URL_SAFE_NO_PAD.encode(last.as_bytes())
    }

    pub fn decode(raw: &str) -> Result<Uuid, ApiError> {
        URL_SAFE_NO_PAD
            .decode(raw)
            .ok()
            .and_then(|bytes| Uuid::from_slice(&bytes).ok())
            .ok_or_else(|| ApiError::BadRequest("cursor is not one this API returned.".to_owned()))
    }
}

/// A page of records.
#[derive(Debug, Serialize, ToSchema)]
pub struct ListOf<T: ToSchema> {
    pub data: Vec<T>,
    /// Pass as `cursor` to get the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

impl<T: ToSchema> ListOf<T> {
    /// Builds a page from rows fetched with one extra (see [`PageQuery::page`]):
    /// the extra row's presence is what says another page exists.
    pub fn from_rows<R>(mut rows: Vec<R>, page: Page, id: impl Fn(&R) -> Uuid, view: impl Fn(R) -> T) -> Self {
        let limit = (page.limit - 1) as usize;
        let next_cursor = if rows.len() > limit {
            rows.truncate(limit);
            rows.last().map(|r| Cursor::encode(id(r)))
        } else {
            None
        };
        Self {
            data: rows.into_iter().map(view).collect(),
            next_cursor,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        let id = Uuid::now_v7();
        assert_eq!(Cursor::decode(&Cursor::encode(id)).unwrap(), id);
        assert!(Cursor::decode("not-a-cursor").is_err());
        assert!(Cursor::decode("").is_err());
    }

    #[test]
    fn limits_outside_the_range_are_refused() {
        assert_eq!(parse_limit(None).unwrap(), 50);
        assert_eq!(parse_limit(Some(200)).unwrap(), 200);
        assert!(parse_limit(Some(0)).is_err());
        assert!(parse_limit(Some(201)).is_err());
    }
}
