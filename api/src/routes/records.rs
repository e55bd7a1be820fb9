//! What accounts and contacts share: list order, trash and purge, owners,
//! PATCH fields, and the [`edit`] that every change runs under its row lock.
//!
//! A change hands storage an `Edit`: storage locks the record and runs it on
//! what it finds, so the checks (who may change it, `If-Match`, what it may
//! become) and the write see one version and nothing slips in between. A
//! write without `If-Match` therefore always applies, after the writes queued
//! before it; with `If-Match`, a stale version is 412. What an `Edit` cannot
//! read itself (is the new owner an active user?) is asked just before.

use pipewise_domain::{
    text::{optional_text, search_key},
    Tag, Tags,
};
use pipewise_storage::{Page, RecordOrder, Refusal, StoreError};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::{
    error::ApiError,
    extract::{IfMatch, PageQuery},
    fields::Fields,
    state::AppState,
};

/// List order: `created_at` (oldest first, the default) or `-created_at` (newest first).
#[derive(Debug, Clone, Copy, Default, Deserialize, ToSchema)]
pub enum RecordSort {
    #[default]
    #[serde(rename = "created_at")]
    CreatedAt,
    #[serde(rename = "-created_at")]
    CreatedAtDesc,
}

impl From<RecordSort> for RecordOrder {
    fn from(sort: RecordSort) -> Self {
        match sort {
            RecordSort::CreatedAt => RecordOrder::OldestFirst,
            RecordSort::CreatedAtDesc => RecordOrder::NewestFirst,
        }
    }
}

/// Declares a record list's query (`limit`, `cursor`, `sort` and the
/// filters) and its filters alone (for the export) from one list of filter
/// fields, so that the two cannot drift apart.
macro_rules! record_queries {
    ($list:ident, $filters:ident { $($(#[$meta:meta])* $field:ident: $ty:ty,)* }) => {
        $crate::routes::records::record_queries!($list, $filters,
            /// `created_at` (oldest first, the default) or `-created_at` (newest first).
            #[param(inline)]
            sort: $crate::routes::records::RecordSort,
            { $($(#[$meta])* $field: $ty,)* });
    };
    ($list:ident, $filters:ident, $(#[$smeta:meta])* sort: $sort:ty, { $($(#[$meta:meta])* $field:ident: $ty:ty,)* }) => {
        #[derive(Deserialize, IntoParams)]
        #[serde(deny_unknown_fields)]
        #[into_params(parameter_in = Query)]
        pub struct $list {
            /// Page size, 1–200.
            #[param(minimum = 1, maximum = 200, default = 50)]
            limit: Option<u32>,
            /// `next_cursor` of the previous page.
            #[param(max_length = 512)]
            cursor: Option<String>,
            $(#[$smeta])*
            sort: Option<$sort>,
            $($(#[$meta])* $field: $ty,)*
        }

        /// The list's filters alone, for the export and bulk actions.
        #[derive(Deserialize, IntoParams, ::utoipa::ToSchema)]
        #[serde(deny_unknown_fields)]
        #[into_params(parameter_in = Query)]
        pub struct $filters {
            $($(#[$meta])* pub $field: $ty,)*
            /// Custom field filters by key (`GET /custom-fields`), each value
            /// read as its field's type; in a query string, `cf[<key>]=` or `cf.<key>=`.
            #[serde(default)]
            #[param(ignore)]
            #[schema(example = json!({"region": "EMEA"}))]
            pub cf: Option<std::collections::BTreeMap<String, String>>,
        }

        impl $list {
            /// The filters, the paging apart.
            fn split(self) -> (Option<u32>, Option<String>, Option<$sort>, $filters) {
                (self.limit, self.cursor, self.sort, $filters { $($field: self.$field,)* cf: None })
            }
        }
    };
}
pub(crate) use record_queries;

/// The page asked for by `limit` and `cursor` (400 when either is invalid).
pub fn page(limit: Option<u32>, cursor: Option<String>) -> Result<Page, ApiError> {
    PageQuery { limit, cursor }.page()
}

pub const MAX_QUERY_LEN: usize = 200;

/// `q` as a lower-cased prefix; blank means no filter.
pub fn search_prefix(q: Option<&str>) -> Result<Option<String>, ApiError> {
    let Some(q) = q else { return Ok(None) };
    if q.chars().count() > MAX_QUERY_LEN {
        return Err(ApiError::BadRequest(format!(
            "q must be at most {MAX_QUERY_LEN} characters."
        )));
    }
    let key = search_key(&[Some(q)]);
    Ok((!key.is_empty()).then_some(key))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DeleteQuery {
    /// `true` deletes for good (admins only); otherwise the record goes to the trash.
    pub purge: Option<bool>,
}

/// 412 when `If-Match` names another version than the current one.
pub fn check_version(if_match: &IfMatch, current: i64) -> Result<(), ApiError> {
    match if_match.0 {
        Some(expected) if expected != current => Err(ApiError::PreconditionFailed),
        _ => Ok(()),
    }
}

/// An [`Edit`](pipewise_storage::Edit) from a check written with
/// [`ApiError`]: storage runs it on the record under its row lock and hands
/// its error back in `StoreError::Refused`, which converts back to it.
pub fn edit<T, C>(
    check: impl Fn(&T) -> Result<C, ApiError> + Send + Sync,
) -> impl Fn(&T) -> Result<C, Refusal> + Send + Sync {
    move |current| check(current).map_err(|err| Box::new(err) as Refusal)
}

/// Records a 422 on `owner_id` unless `owner` is an active user of the organization.
pub async fn check_owner(state: &AppState, org: Uuid, owner: Uuid, fields: &mut Fields) -> Result<(), ApiError> {
    if !owner_is_active(state, org, owner).await? {
        reject_owner(fields);
    }
    Ok(())
}

/// Whether `owner` is an active user of the organization; an [`edit`] asks
/// before the row is locked, since it cannot read the database itself.
pub async fn owner_is_active(state: &AppState, org: Uuid, owner: Uuid) -> Result<bool, ApiError> {
    match state.store.user(org, owner).await {
        Ok(user) => Ok(user.active),
        Err(StoreError::NotFound) => Ok(false),
        Err(err) => Err(err.into()),
    }
}

/// The 422 on `owner_id` of an owner who is not an active user of the organization.
pub fn reject_owner(fields: &mut Fields) {
    fields.reject("owner_id", "invalid", "must be an active user of the organization");
}

/// The longest `external_id` a record takes.
pub const EXTERNAL_ID_MAX: usize = 200;

/// Optional text: blank is absent; longer than `max` is invalid.
pub fn text(fields: &mut Fields, name: &str, raw: Option<&str>, max: usize) -> Option<String> {
    fields.check_opt(name, raw, |r| optional_text(r, max)).flatten()
}

/// A nullable field of a PATCH: `None` leaves it alone (absent, or invalid
/// and recorded in `fields`); `Some(value)` sets it, `Some(None)` clears it.
pub fn patch<T, E: std::fmt::Display>(
    fields: &mut Fields,
    name: &str,
    raw: &Option<Option<String>>,
    parse: impl FnOnce(&str) -> Result<Option<T>, E>,
) -> Option<Option<T>> {
    match raw {
        None => None,
        Some(None) => Some(None),
        Some(Some(raw)) => fields.check(name, parse(raw)),
    }
}

/// [`patch`] for optional text of at most `max` characters.
pub fn patch_text(fields: &mut Fields, name: &str, raw: &Option<Option<String>>, max: usize) -> Option<Option<String>> {
    patch(fields, name, raw, |r| optional_text(r, max))
}

/// The `tags` of a body (a list replaces the record's tags); `None` when
/// absent, or invalid and recorded in `fields`.
pub fn tags(fields: &mut Fields, raw: Option<&[String]>) -> Option<Tags> {
    raw.and_then(|raw| fields.check("tags", Tags::parse(raw)))
}

/// The `tag` filter of a list: 400 when it cannot be a tag; blank means none.
pub fn tag_filter(raw: Option<&str>) -> Result<Option<Tag>, ApiError> {
    match raw {
        Some(raw) if !raw.trim().is_empty() => Tag::parse(raw)
            .map(Some)
            .map_err(|e| ApiError::BadRequest(format!("tag {e}."))),
        _ => Ok(None),
    }
}
