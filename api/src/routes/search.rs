//! `GET /search`: one box for leads, contacts, accounts and deals.

use actix_web::{get, web};
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use pipewise_storage::{search::search_words as words, SearchCursor, SearchHit, SearchKind, SearchQuery};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_actix_web::service_config::ServiceConfig;
use uuid::Uuid;

use crate::{
    error::ApiError,
    extract::{page::parse_limit, Caller, Read},
    state::AppState,
};

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(search);
}

/// The longest query taken.
pub const QUERY_MAX: usize = 200;

/// What a hit is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SearchType {
    Lead,
    Contact,
    Account,
    Deal,
}

crate::routes::deals::same_names!(SearchType <=> SearchKind { Lead, Contact, Account, Deal });

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SearchParams {
    /// Words that each begin a word of the record (a name, the company, the
    /// title, the email's parts, the phone's digits), any case, any order:
    /// `ada lov`, `acme`, `+44 20`, `ada@acme`. At least two letters or digits.
    #[param(min_length = 1, max_length = 200, example = "ada lov")]
    pub q: String,
    /// Comma-separated: `leads`, `contacts`, `accounts`, `deals` (all if omitted).
    #[param(max_length = 40, example = "leads,contacts")]
    pub types: Option<String>,
    /// Page size, 1–200.
    #[param(minimum = 1, maximum = 200, default = 50)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page, with the same `q` and `types`.
    #[param(max_length = 128)]
    pub cursor: Option<String>,
}

/// A record found.
#[derive(Debug, Serialize, ToSchema)]
pub struct SearchHitView {
    #[serde(rename = "type")]
    pub kind: SearchType,
    pub id: Uuid,
    /// What the record is called: a person's name (else the company or the
    /// email), an account's name, a deal's title.
    #[schema(example = "Ada Lovelace")]
    pub title: String,
    /// What tells it apart: a lead's company (or email), a contact's email,
    /// an account's domain; `null` for deals.
    #[schema(example = "Acme Ltd")]
    pub subtitle: Option<String>,
    /// 3: the query is the whole name (or the email); 2: the name starts
    /// with it; 1: another word matched. Hits come by rank, then leads,
    /// contacts, accounts, deals, then the newest first.
    #[schema(minimum = 1, maximum = 3, example = 2)]
    pub rank: i64,
    pub owner_id: Uuid,
}

impl From<SearchHit> for SearchHitView {
    fn from(h: SearchHit) -> Self {
        Self {
            kind: h.kind.into(),
            id: h.id,
            title: h.title,
            subtitle: h.subtitle,
            rank: h.rank,
            owner_id: h.owner_id,
        }
    }
}

/// A page of hits.
#[derive(Debug, Serialize, ToSchema)]
pub struct SearchResults {
    pub data: Vec<SearchHitView>,
    /// Pass as `cursor` (with the same `q` and `types`) for the next page; `null` on the last.
    pub next_cursor: Option<String>,
}

fn parse_types(raw: Option<&str>) -> Result<Vec<SearchKind>, ApiError> {
    let Some(raw) = raw else {
        return Ok(SearchKind::ALL.to_vec());
    };
    let mut kinds = Vec::new();
    for name in raw.split(',').map(str::trim) {
        let kind = match name {
            "leads" => SearchKind::Lead,
            "contacts" => SearchKind::Contact,
            "accounts" => SearchKind::Account,
            "deals" => SearchKind::Deal,
            other => {
                return Err(ApiError::BadRequest(format!(
                    "types: `{other}` is not one of leads, contacts, accounts, deals."
                )))
            }
        };
        if !kinds.contains(&kind) {
            kinds.push(kind);
        }
    }
    Ok(kinds)
}

fn encode_cursor(hit: &SearchHit) -> String {
    let mut bytes = Vec::with_capacity(18);
    bytes.push(hit.rank as u8);
    bytes.push(hit.kind.order() as u8);
    bytes.extend_from_slice(hit.id.as_bytes());
    URL_SAFE_NO_PAD.encode(bytes)
}

fn decode_cursor(raw: &str) -> Result<SearchCursor, ApiError> {
    let bad = || ApiError::BadRequest("cursor is not one this API returned.".to_owned());
    let bytes = URL_SAFE_NO_PAD.decode(raw).map_err(|_| bad())?;
    let [rank @ 1..=3, kind, id @ ..] = bytes.as_slice() else {
        return Err(bad());
    };
    Ok(SearchCursor {
        rank: i64::from(*rank),
        kind: SearchKind::from_order(i64::from(*kind)).ok_or_else(bad)?,
        id: Uuid::from_slice(id).map_err(|_| bad())?,
    })
}

/// Search records
///
/// Leads, contacts, accounts and deals whose words begin with every word of
/// `q` (any case, any order), best first: the whole name, then names that
/// start with the query, then other matches. Reps find their own leads and
/// deals, and every contact and account; trashed records are not found.
/// The words are in full-text indexes (PostgreSQL GIN, SQLite FTS5).
#[utoipa::path(
    tag = "search",
    params(SearchParams),
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, body = SearchResults),
        crate::problem::ListErrors,
    )
)]
#[get("/search")]
async fn search(
    caller: Caller<Read>,
    state: web::Data<AppState>,
    params: web::Query<SearchParams>,
) -> Result<web::Json<SearchResults>, ApiError> {
    let params = params.into_inner();
    if params.q.chars().count() > QUERY_MAX {
        return Err(ApiError::BadRequest(format!(
            "q must be at most {QUERY_MAX} characters."
        )));
    }
    let words = words(&params.q);
    if words.iter().map(|w| w.chars().count()).sum::<usize>() < 2 {
        return Err(ApiError::BadRequest(
            "q needs at least two letters or digits.".to_owned(),
        ));
    }
    let limit = parse_limit(params.limit)?;
    let query = SearchQuery {
        words,
        phrase: params.q.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase(),
        kinds: parse_types(params.types.as_deref())?,
        owner: caller.visible_owner(),
        after: params.cursor.as_deref().map(decode_cursor).transpose()?,
        limit: limit + 1,
    };
    let mut hits = state.store.search(caller.organization_id(), &query).await?;
    let next_cursor = if hits.len() > limit as usize {
        hits.truncate(limit as usize);
        hits.last().map(encode_cursor)
    } else {
        None
    };
    Ok(web::Json(SearchResults {
        data: hits.into_iter().map(Into::into).collect(),
        next_cursor,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_split_where_the_indexes_split_records() {
        assert_eq!(
            words("Ada-Lovelace ada@ACME.example"),
            ["ada", "lovelace", "ada", "acme", "example"]
        );
        assert_eq!(words("+44 (20) 7946"), ["44", "20", "7946"]);
        assert_eq!(words("Müller"), ["müller"]);
        assert!(words("  -- ").is_empty());
    }

    #[test]
    fn a_cursor_reads_back() {
        let hit = SearchHit {
            kind: SearchKind::Account,
            id: Uuid::now_v7(),
            rank: 2,
            title: String::new(),
            subtitle: None,
            owner_id: Uuid::nil(),
        };
        let cursor = decode_cursor(&encode_cursor(&hit)).unwrap();
        assert_eq!((cursor.rank, cursor.kind, cursor.id), (2, SearchKind::Account, hit.id));
        assert!(decode_cursor("AAAA").is_err());
    }
}
