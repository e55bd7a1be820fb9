//! Search across leads, contacts, accounts and deals: every word of the
//! query is a prefix of a word of the record (a name, the company, the
//! title, the email's parts, the phone's groups or all its digits), any
//! case. The words live in a full-text index the database keeps itself
//! (PostgreSQL: a generated `tsvector` under a GIN index; SQLite: FTS5
//! tables kept by triggers), so a search reads index entries, not rows.
//!
//! Ranking is the same on both backends and stable while records are
//! written, so a cursor continues where the page ended: 3 when the query is
//! the record's whole name (or its email), 2 when the name starts with it,
//! 1 for any other match; then leads, contacts, accounts, deals; then the
//! newest first.

use async_trait::async_trait;
use uuid::Uuid;

use crate::{
    sql::{Arg, Sql},
    Backend, Result,
};

/// What a search finds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SearchKind {
    Lead,
    Contact,
    Account,
    Deal,
}

impl SearchKind {
    pub const ALL: [SearchKind; 4] = [
        SearchKind::Lead,
        SearchKind::Contact,
        SearchKind::Account,
        SearchKind::Deal,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SearchKind::Lead => "lead",
            SearchKind::Contact => "contact",
            SearchKind::Account => "account",
            SearchKind::Deal => "deal",
        }
    }

    /// Its place among hits of one rank.
    pub fn order(self) -> i64 {
        match self {
            SearchKind::Lead => 0,
            SearchKind::Contact => 1,
            SearchKind::Account => 2,
            SearchKind::Deal => 3,
        }
    }

    pub fn from_order(order: i64) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.order() == order)
    }

    fn table(self) -> &'static str {
        match self {
            SearchKind::Lead => "leads",
            SearchKind::Contact => "contacts",
            SearchKind::Account => "accounts",
            SearchKind::Deal => "deals",
        }
    }

    /// The rank of a hit (see the module's comment); `$p` is the query as a
    /// whole, `$pp` the pattern of names starting with it.
    fn rank(self, phrase: &str, pattern: &str) -> String {
        match self {
            SearchKind::Lead => format!(
                "case when name_key = {phrase} or company_key = {phrase} or email = {phrase} then 3 \
                 when name_key like {pattern} escape '\\' or company_key like {pattern} escape '\\' then 2 else 1 end"
            ),
            SearchKind::Contact => format!(
                "case when name_key = {phrase} or email = {phrase} then 3 \
                 when name_key like {pattern} escape '\\' then 2 else 1 end"
            ),
            SearchKind::Account => format!(
                "case when name_key = {phrase} or domain = {phrase} then 3 \
                 when name_key like {pattern} escape '\\' then 2 else 1 end"
            ),
            SearchKind::Deal => format!(
                "case when title_key = {phrase} then 3 when title_key like {pattern} escape '\\' then 2 else 1 end"
            ),
        }
    }

    /// What a hit is called, and what tells it apart.
    fn labels(self) -> &'static str {
        match self {
            SearchKind::Lead => {
                "coalesce(nullif(trim(coalesce(first_name, '') || ' ' || coalesce(last_name, '')), ''), \
                 company_name, email, '') as title, \
                 case when coalesce(first_name, last_name) is null then email else coalesce(company_name, email) end \
                 as subtitle, owner_id"
            }
            SearchKind::Contact => {
                "coalesce(nullif(trim(coalesce(first_name, '') || ' ' || coalesce(last_name, '')), ''), email, '') \
                 as title, case when coalesce(first_name, last_name) is null then null else email end as subtitle, \
                 owner_id"
            }
            SearchKind::Account => "name as title, domain as subtitle, owner_id",
            SearchKind::Deal => "title, null as subtitle, owner_id",
        }
    }

    /// Whether reps see only the records of this kind they own.
    fn owned(self) -> bool {
        matches!(self, SearchKind::Lead | SearchKind::Deal)
    }
}

/// Where the previous page ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SearchCursor {
    pub rank: i64,
    pub kind: SearchKind,
    pub id: Uuid,
}

/// A search, checked.
#[derive(Debug, Clone)]
pub struct SearchQuery {
    /// The words, lower-cased, each letters and digits only; at least one.
    pub words: Vec<String>,
    /// The whole query, lower-cased and trimmed, for the rank.
    pub phrase: String,
    pub kinds: Vec<SearchKind>,
    /// For a rep: leads and deals of this owner only.
    pub owner: Option<Uuid>,
    pub after: Option<SearchCursor>,
    pub limit: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub(crate) struct HitRow {
    pub kind_order: i64,
    pub id: Uuid,
    pub rank: i64,
    pub title: String,
    pub subtitle: Option<String>,
    pub owner_id: Uuid,
}

/// One record found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchHit {
    pub kind: SearchKind,
    pub id: Uuid,
    pub rank: i64,
    pub title: String,
    pub subtitle: Option<String>,
    pub owner_id: Uuid,
}

impl TryFrom<HitRow> for SearchHit {
    type Error = crate::StoreError;
    fn try_from(row: HitRow) -> Result<Self> {
        Ok(SearchHit {
            kind: SearchKind::from_order(row.kind_order)
                .ok_or_else(|| crate::StoreError::Corrupt(format!("search kind {}", row.kind_order)))?,
            id: row.id,
            rank: row.rank,
            title: row.title,
            subtitle: row.subtitle,
            owner_id: row.owner_id,
        })
    }
}

#[async_trait]
pub trait SearchStore {
    /// A page of the live records of `org` that match, best first.
    async fn search(&self, org: Uuid, query: &SearchQuery) -> Result<Vec<SearchHit>>;
}

/// The condition (` and …`) on the rows of `table` that the full-text
/// query in its one `{}` matches.
pub(crate) fn full_text_condition(backend: Backend, table: &str) -> String {
    match backend {
        Backend::Postgres => " and search_vector @@ to_tsquery('simple', {})".to_owned(),
        Backend::Sqlite => format!(" and rowid in (select rowid from {table}_search where {table}_search match {{}})"),
    }
}

/// The full-text query of `words`: each a prefix, all required. A word
/// holds letters and digits only ([`search_words`]): nothing needs quoting.
pub(crate) fn full_text_query(backend: Backend, words: &[String]) -> String {
    match backend {
        Backend::Postgres => words.iter().map(|w| format!("'{w}':*")).collect::<Vec<_>>().join(" & "),
        Backend::Sqlite => words.iter().map(|w| format!("\"{w}\"*")).collect::<Vec<_>>().join(" "),
    }
}

/// Appends the condition that every one of `words` begins a word of the
/// row of `table`; no words match nothing.
pub(crate) fn matches(backend: Backend, sql: &mut Sql, table: &str, words: &[String]) {
    if words.is_empty() {
        sql.push(" and 1 = 0");
    } else {
        sql.push_args(
            &full_text_condition(backend, table),
            [Arg::Text(full_text_query(backend, words))],
        );
    }
}

/// The words of a search as the indexes split records: what is left
/// between anything that is not a letter or a digit, lower-cased.
pub fn search_words(q: &str) -> Vec<String> {
    q.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// The query of one page of hits.
pub(crate) fn search_sql(backend: Backend, org: Uuid, query: &SearchQuery) -> Sql {
    let mut sql = Sql::new("select * from (");
    let phrase = sql.arg(Arg::Text(query.phrase.clone()));
    let pattern = sql.arg(Arg::Text(format!("{}%", crate::accounts::like_literal(&query.phrase))));
    let org = sql.arg(Arg::Uuid(org));
    for (i, kind) in query.kinds.iter().enumerate() {
        if i > 0 {
            sql.push(" union all ");
        }
        sql.push(&format!(
            "select cast({} as bigint) as kind_order, id, cast({} as bigint) as rank, {} from {} \
             where organization_id = {org} and deleted_at is null",
            kind.order(),
            kind.rank(&phrase, &pattern),
            kind.labels(),
            kind.table(),
        ));
        if let (Some(owner), true) = (query.owner, kind.owned()) {
            sql.push_args(" and owner_id = {}", [Arg::Uuid(owner)]);
        }
        matches(backend, &mut sql, kind.table(), &query.words);
    }
    sql.push(") as hits");
    if let Some(after) = query.after {
        // Rank down, kind up, id down.
        sql.push_args(
            " where (rank < {} or (rank = {} and (kind_order > {} or (kind_order = {} and id < {}))))",
            [
                Arg::Int(after.rank),
                Arg::Int(after.rank),
                Arg::Int(after.kind.order()),
                Arg::Int(after.kind.order()),
                Arg::Uuid(after.id),
            ],
        );
    }
    sql.push_args(
        " order by rank desc, kind_order asc, id desc limit {}",
        [Arg::Int(i64::from(query.limit))],
    );
    sql
}

/// Implements [`SearchStore`] for a store type with `pool`.
macro_rules! impl_search_store {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl $crate::search::SearchStore for $store {
            #[tracing::instrument(skip_all)]
            async fn search(
                &self,
                org: ::uuid::Uuid,
                query: &$crate::search::SearchQuery,
            ) -> $crate::Result<Vec<$crate::search::SearchHit>> {
                let sql = $crate::search::search_sql(BACKEND, org, query);
                $crate::sql::bind_args!(sqlx::query_as::<_, $crate::search::HitRow>(&sql.text), &sql.args)
                    .fetch_all(&self.pool)
                    .await?
                    .into_iter()
                    .map(TryInto::try_into)
                    .collect()
            }
        }
    };
}

pub(crate) use impl_search_store;
