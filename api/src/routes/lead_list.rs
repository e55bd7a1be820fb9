//! The lead list's query string: filters, sort and its opaque cursor.
//! Every malformed parameter (unknown name, sort value, out-of-range score,
//! a cursor from another sort) is 400.

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use chrono::{DateTime, Utc};
use pipewise_domain::{prediction::Tables, Lead};
use pipewise_storage::{LeadFilter, LeadPage, LeadSortField, LeadSortValue};
use rust_decimal::{prelude::ToPrimitive, Decimal};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::{
    error::ApiError,
    extract::page::parse_limit,
    routes::{
        lead_input::{LeadStatusName, LeadView},
        lead_potential::Customers,
        records::search_prefix,
    },
};

pub const SOURCE_MAX: usize = 200;

crate::openapi::doc_schema!(
    /// The lead list's `sort` values, as `parse_sort` reads them.
    LeadSort = crate::openapi::sort_values(
        &["created_at", "score", "last_activity_at", "predicted_conversion", "potential"],
        "A field to sort by, ascending, or with `-` descending",
    )
);

/// Declares the lead list's query and the same filters alone (for the
/// export) from one list of filter fields, so the two cannot drift apart.
macro_rules! lead_queries {
    ($($(#[$meta:meta])* $field:ident: $ty:ty,)*) => {
        #[derive(Debug, Deserialize, IntoParams)]
        #[serde(deny_unknown_fields)]
        #[into_params(parameter_in = Query)]
        pub struct LeadListQuery {
            /// Page size, 1–200.
            #[param(minimum = 1, maximum = 200, default = 50)]
            pub limit: Option<u32>,
            /// `next_cursor` of the previous page, with the same `sort`.
            #[param(max_length = 512)]
            pub cursor: Option<String>,
            /// `created_at` (the default), `score`, `last_activity_at`,
            /// `predicted_conversion` or `potential` (`potential_median`); prefix `-`
            /// for descending. Leads without any activity come last either way;
            /// without a prediction model (fewer than 20 closed leads)
            /// `predicted_conversion` sorts by id, as `potential` does without customers.
            #[param(value_type = Option<LeadSort>, inline, example = "-score")]
            pub sort: Option<String>,
            $($(#[$meta])* pub $field: $ty,)*
        }

        /// The filters of the lead list alone, for the export and bulk actions.
        #[derive(Debug, Deserialize, IntoParams, ::utoipa::ToSchema)]
        #[serde(deny_unknown_fields)]
        #[into_params(parameter_in = Query)]
        pub struct LeadFilterQuery {
            $($(#[$meta])* pub $field: $ty,)*
            /// Custom field filters by key (`GET /custom-fields`), each value
            /// read as its field's type; in a query string, `cf[<key>]=` or `cf.<key>=`.
            #[serde(default)]
            #[param(ignore)]
            #[schema(example = json!({"region": "EMEA"}))]
            pub cf: Option<std::collections::BTreeMap<String, String>>,
        }

        impl From<LeadFilterQuery> for LeadListQuery {
            fn from(f: LeadFilterQuery) -> Self {
                LeadListQuery {
                    limit: None,
                    cursor: None,
                    sort: None,
                    $($field: f.$field,)*
                }
            }
        }
    };
}

lead_queries! {
    #[param(inline)]
    status: Option<LeadStatusName>,
    /// Only leads this user owns.
    owner_id: Option<Uuid>,
    /// Exact source, such as `web_form`.
    #[param(example = "web_form", max_length = 200)]
    source: Option<String>,
    /// Score at least this (0–100).
    #[param(minimum = 0, maximum = 100)]
    score_min: Option<u8>,
    /// Score at most this (0–100).
    #[param(minimum = 0, maximum = 100)]
    score_max: Option<u8>,
    /// Created at or after this instant (RFC 3339).
    created_from: Option<DateTime<Utc>>,
    /// Created before this instant (RFC 3339).
    created_to: Option<DateTime<Utc>>,
    /// Words that each begin a word of the lead (its name, company, title,
    /// email or phone), any case, any order: `ada lov`, `acme`, `7946`. The
    /// search index of `GET /search`.
    #[param(example = "ada", max_length = 200)]
    q: Option<String>,
    /// Predicted conversion at least this (0–1); leads without a prediction never match.
    #[param(minimum = 0, maximum = 1, example = 0.5)]
    predicted_conversion_min: Option<f64>,
    /// Predicted conversion at most this (0–1); leads without a prediction never match.
    #[param(minimum = 0, maximum = 1)]
    predicted_conversion_max: Option<f64>,
    /// Only records carrying this tag (any case).
    #[param(example = "vip", max_length = 50)]
    tag: Option<String>,
}

/// A page of leads.
#[derive(Serialize, ToSchema)]
pub struct LeadList {
    pub data: Vec<LeadView>,
    /// Pass as `cursor` (with the same `sort`) for the next page; `null` on the last.
    pub next_cursor: Option<String>,
}

/// What a list request asks for, checked.
pub struct LeadListRequest {
    pub filter: LeadFilter,
    pub page: LeadPage,
    /// The page size the client asked for; `page.limit` is one more.
    pub limit: u32,
}

impl LeadListQuery {
    /// The filter and page of this query; reps are confined to `visible_owner`.
    pub fn request(self, visible_owner: Option<Uuid>) -> Result<LeadListRequest, ApiError> {
        let limit = parse_limit(self.limit)?;
        let (sort, descending) = parse_sort(self.sort.as_deref())?;
        let after = self
            .cursor
            .as_deref()
            .map(|c| decode_cursor(c, sort, descending))
            .transpose()?;
        let score = |value: Option<u8>, name: &str| match value {
            Some(v) if v > 100 => Err(ApiError::BadRequest(format!("{name} must be between 0 and 100."))),
            other => Ok(other),
        };
        if self.source.as_ref().is_some_and(|s| s.chars().count() > SOURCE_MAX) {
            return Err(ApiError::BadRequest(format!(
                "source must be at most {SOURCE_MAX} characters."
            )));
        }
        let share = |value: Option<f64>, name: &str| match value {
            Some(v) if !(0.0..=1.0).contains(&v) => {
                Err(ApiError::BadRequest(format!("{name} must be between 0 and 1.")))
            }
            other => Ok(other),
        };
        let filter = LeadFilter {
            visible_to_owner: visible_owner,
            predicted_min: share(self.predicted_conversion_min, "predicted_conversion_min")?,
            predicted_max: share(self.predicted_conversion_max, "predicted_conversion_max")?,
            status: self.status.map(Into::into),
            owner_id: self.owner_id,
            source: self.source,
            score_min: score(self.score_min, "score_min")?,
            score_max: score(self.score_max, "score_max")?,
            created_from: self.created_from,
            created_to: self.created_to,
            prefix: search_prefix(self.q.as_deref())?,
            tag: crate::routes::records::tag_filter(self.tag.as_deref())?,
            // Read apart (`FilteredQuery`), against the definitions.
            custom: Vec::new(),
        };
        Ok(LeadListRequest {
            filter,
            page: LeadPage {
                sort,
                descending,
                after,
                limit: limit + 1,
                potentials: Vec::new(),
            },
            limit,
        })
    }
}

impl LeadListRequest {
    /// The page of `leads` (fetched with one extra row) and the cursor of the next.
    pub fn list(&self, mut leads: Vec<Lead>, tables: &Tables, customers: &Customers) -> LeadList {
        let limit = self.limit as usize;
        let more = leads.len() > limit;
        leads.truncate(limit);
        let data: Vec<LeadView> = leads.into_iter().map(|l| LeadView::new(l, tables, customers)).collect();
        let next_cursor = data
            .last()
            .filter(|_| more)
            .map(|l| encode_cursor(self.page.sort, self.page.descending, l));
        LeadList { data, next_cursor }
    }
}

fn parse_sort(raw: Option<&str>) -> Result<(LeadSortField, bool), ApiError> {
    let raw = raw.unwrap_or("created_at");
    let (descending, name) = match raw.strip_prefix('-') {
        Some(name) => (true, name),
        None => (false, raw),
    };
    let field =
        match name {
            "created_at" => LeadSortField::CreatedAt,
            "score" => LeadSortField::Score,
            "last_activity_at" => LeadSortField::LastActivityAt,
            "predicted_conversion" => LeadSortField::PredictedConversion,
            "potential" => LeadSortField::Potential,
            _ => return Err(ApiError::BadRequest(
                "sort must be one of created_at, score, last_activity_at, predicted_conversion, potential, optionally \
                 prefixed with -."
                    .to_owned(),
            )),
        };
    Ok((field, descending))
}

/// What a lead list cursor holds: the sort it belongs to, and the last row's key.
#[derive(Serialize, Deserialize)]
struct CursorData {
    s: String,
    v: serde_json::Value,
    i: Uuid,
}

fn sort_label(field: LeadSortField, descending: bool) -> String {
    format!("{}{field:?}", if descending { "-" } else { "" })
}

fn encode_cursor(field: LeadSortField, descending: bool, lead: &LeadView) -> String {
    let v = match field {
        LeadSortField::CreatedAt => serde_json::json!(lead.created_at),
        LeadSortField::Score => serde_json::json!(lead.score),
        LeadSortField::LastActivityAt => serde_json::json!(lead.last_activity_at),
        // The key the list sorts by: -1 for a lead without a prediction.
        LeadSortField::PredictedConversion => serde_json::json!(lead.predicted_conversion.unwrap_or(-1.0)),
        // The key the list sorts by: the median in cents, -1 without one.
        LeadSortField::Potential => serde_json::json!(lead
            .potential_median
            .as_deref()
            .and_then(|m| m.parse::<Decimal>().ok())
            .and_then(|m| (m * Decimal::ONE_HUNDRED).to_i64())
            .unwrap_or(-1)),
    };
    let data = CursorData {
        s: sort_label(field, descending),
        v,
        i: lead.id,
    };
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(&data).expect("a cursor serializes"))
}

fn decode_cursor(raw: &str, field: LeadSortField, descending: bool) -> Result<(LeadSortValue, Uuid), ApiError> {
    let bad = || ApiError::BadRequest("cursor is not one this API returned for this sort.".to_owned());
    let bytes = URL_SAFE_NO_PAD.decode(raw).map_err(|_| bad())?;
    let data: CursorData = serde_json::from_slice(&bytes).map_err(|_| bad())?;
    if data.s != sort_label(field, descending) {
        return Err(bad());
    }
    let value = match field {
        LeadSortField::CreatedAt => LeadSortValue::Time(serde_json::from_value(data.v).map_err(|_| bad())?),
        LeadSortField::Score => {
            let score: u8 = serde_json::from_value(data.v).map_err(|_| bad())?;
            LeadSortValue::Int(i64::from(score))
        }
        LeadSortField::LastActivityAt => {
            LeadSortValue::OptionalTime(serde_json::from_value(data.v).map_err(|_| bad())?)
        }
        LeadSortField::PredictedConversion => {
            let key: f64 = serde_json::from_value(data.v).map_err(|_| bad())?;
            if !(key == -1.0 || (0.0..=1.0).contains(&key)) {
                return Err(bad());
            }
            LeadSortValue::Float(key)
        }
        LeadSortField::Potential => {
            let key: i64 = serde_json::from_value(data.v).map_err(|_| bad())?;
            if key < -1 {
                return Err(bad());
            }
            LeadSortValue::Int(key)
        }
    };
    Ok((value, data.i))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorts_parse_and_unknown_ones_are_refused() {
        assert_eq!(parse_sort(None).unwrap(), (LeadSortField::CreatedAt, false));
        assert_eq!(parse_sort(Some("-score")).unwrap(), (LeadSortField::Score, true));
        assert_eq!(
            parse_sort(Some("last_activity_at")).unwrap(),
            (LeadSortField::LastActivityAt, false)
        );
        for bad in ["", "-", "name", "--score", "Score"] {
            assert!(parse_sort(Some(bad)).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_cursor_belongs_to_its_sort() {
        let data = CursorData {
            s: sort_label(LeadSortField::LastActivityAt, true),
            v: serde_json::Value::Null,
            i: Uuid::nil(),
        };
        let raw = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&data).unwrap());
        let (value, id) = decode_cursor(&raw, LeadSortField::LastActivityAt, true).unwrap();
        assert_eq!((value, id), (LeadSortValue::OptionalTime(None), Uuid::nil()));
        assert!(decode_cursor(&raw, LeadSortField::LastActivityAt, false).is_err());
        assert!(decode_cursor(&raw, LeadSortField::CreatedAt, true).is_err());
        assert!(decode_cursor("not a cursor", LeadSortField::CreatedAt, false).is_err());
    }
}
