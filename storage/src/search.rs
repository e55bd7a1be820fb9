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
//!
//! A page is read rank by rank, in one snapshot, and stops as soon as it is
//! full, so a word most records share costs a page, not every match: ranks
//! 3 and 2 are read from the name, email and domain indexes (a record whose
//! name is the query, or starts with it, has every word of the query, so
//! they need no full-text test); rank 1 first counts its matches up to
//! [`DENSE`] in the full-text index: fewer are ranked all together, more
//! mean matches are common enough to walk the records newest first and keep
//! the first that match (PostgreSQL; SQLite ranks every match).

use async_trait::async_trait;
use uuid::Uuid;

use crate::{
    sql::{prefix_upper_bound, Arg, Sql},
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

    /// The columns equal to the whole query in a hit of rank 3.
    fn exact_columns(self) -> &'static [&'static str] {
        match self {
            SearchKind::Lead => &["name_key", "company_key", "email"],
            SearchKind::Contact => &["name_key", "email"],
            SearchKind::Account => &["name_key", "domain"],
            SearchKind::Deal => &["title_key"],
        }
    }

    /// The columns that start with the query in a hit of rank 2 (each under
    /// an index, in byte order on both backends).
    fn prefix_columns(self) -> &'static [&'static str] {
        match self {
            SearchKind::Lead => &["name_key", "company_key"],
            SearchKind::Contact | SearchKind::Account => &["name_key"],
            SearchKind::Deal => &["title_key"],
        }
    }

    /// Whether a record is a hit of rank 3; `phrase` is the query as a whole.
    fn exact(self, phrase: &str) -> String {
        let terms: Vec<String> = self.exact_columns().iter().map(|c| format!("{c} = {phrase}")).collect();
        format!("({})", terms.join(" or "))
    }

    /// The rank of a hit (see the module's comment); `pattern` is the
    /// pattern of names starting with the query.
    fn rank(self, phrase: &str, pattern: &str) -> String {
        let starts: Vec<String> = self
            .prefix_columns()
            .iter()
            .map(|c| format!("{c} like {pattern} escape '\\'"))
            .collect();
        format!(
            "case when {} then 3 when {} then 2 else 1 end",
            self.exact(phrase),
            starts.join(" or ")
        )
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

/// How many full-text matches of one kind make them common enough to walk
/// the records newest first rather than rank them all: walking then reads
/// about `records / DENSE` rows a hit at worst on average, ranking reads
/// `DENSE` rows at most.
pub(crate) const DENSE: i64 = 2000;

/// The ranks a page reads, best first: from the cursor's rank down.
pub(crate) fn ranks(after: Option<SearchCursor>) -> impl Iterator<Item = i64> {
    (1..=after.map_or(3, |a| a.rank.clamp(1, 3))).rev()
}

/// The query counting each kind's full-text matches up to [`DENSE`], as
/// `(kind_order, matches)` rows; `None` where matches are never walked.
pub(crate) fn dense_sql(backend: Backend, org: Uuid, query: &SearchQuery) -> Option<Sql> {
    if backend != Backend::Postgres {
        return None;
    }
    let mut sql = Sql::new("");
    let org = sql.arg(Arg::Uuid(org));
    for (i, kind) in query.kinds.iter().enumerate() {
        if i > 0 {
            sql.push(" union all ");
        }
        sql.push(&format!(
            "select cast({} as bigint), (select count(*) from (select 1 from {} \
             where organization_id = {org} and deleted_at is null",
            kind.order(),
            kind.table(),
        ));
        if let (Some(owner), true) = (query.owner, kind.owned()) {
            sql.push_args(" and owner_id = {}", [Arg::Uuid(owner)]);
        }
        matches(backend, &mut sql, kind.table(), &query.words);
        sql.push(&format!(" limit {DENSE}) as m)"));
    }
    Some(sql)
}

/// The query of the next `limit` hits of `rank`, after the cursor when it
/// stopped in this rank; the kinds in `dense` are walked newest first (see
/// [`dense_sql`]). `None` when the cursor is past every kind of the rank.
pub(crate) fn rank_sql(
    backend: Backend,
    org: Uuid,
    query: &SearchQuery,
    rank: i64,
    limit: usize,
    dense: &[SearchKind],
) -> Option<Sql> {
    let after = query.after.filter(|a| a.rank == rank);
    let kinds: Vec<SearchKind> = query
        .kinds
        .iter()
        .copied()
        .filter(|k| after.is_none_or(|a| k.order() >= a.kind.order()))
        .collect();
    if kinds.is_empty() {
        return None;
    }
    let mut sql = Sql::new("select * from (");
    let phrase = sql.arg(Arg::Text(query.phrase.clone()));
    let pattern = sql.arg(Arg::Text(format!("{}%", crate::accounts::like_literal(&query.phrase))));
    let lower = sql.arg(Arg::Text(query.phrase.clone()));
    let upper = prefix_upper_bound(&query.phrase).map(|u| sql.arg(Arg::Text(u)));
    let org = sql.arg(Arg::Uuid(org));
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    for (i, kind) in kinds.iter().enumerate() {
        if i > 0 {
            sql.push(" union all ");
        }
        // SQLite allows `order by … limit` in a compound select only inside a subquery.
        sql.push(&format!(
            "select * from (select cast({} as bigint) as kind_order, id, cast({rank} as bigint) as rank, {} \
             from {} where organization_id = {org} and deleted_at is null",
            kind.order(),
            kind.labels(),
            kind.table(),
        ));
        if let (Some(owner), true) = (query.owner, kind.owned()) {
            sql.push_args(" and owner_id = {}", [Arg::Uuid(owner)]);
        }
        match rank {
            3 => {
                sql.push(&format!(" and {}", kind.exact(&phrase)));
            }
            2 => {
                let ranges: Vec<String> = kind
                    .prefix_columns()
                    .iter()
                    .map(|c| match &upper {
                        Some(upper) => format!("({c} >= {lower} and {c} < {upper})"),
                        None => format!("{c} >= {lower}"),
                    })
                    .collect();
                sql.push(&format!(
                    " and ({}) and {} = 2",
                    ranges.join(" or "),
                    kind.rank(&phrase, &pattern)
                ));
            }
            _ => {
                if dense.contains(kind) {
                    // `is true` keeps the planner off the full-text index:
                    // it walks the list index newest first instead.
                    sql.push_args(
                        " and (search_vector @@ to_tsquery('simple', {})) is true",
                        [Arg::Text(full_text_query(backend, &query.words))],
                    );
                } else {
                    matches(backend, &mut sql, kind.table(), &query.words);
                }
                sql.push(&format!(" and {} = 1", kind.rank(&phrase, &pattern)));
            }
        }
        if let Some(after) = after.filter(|a| a.kind == *kind) {
            sql.push_args(" and id < {}", [Arg::Uuid(after.id)]);
        }
        sql.push_args(" order by id desc limit {}", [Arg::Int(limit)]);
        sql.push(&format!(") as {}", kind.table()));
    }
    sql.push_args(") as hits order by kind_order asc, id desc limit {}", [Arg::Int(limit)]);
    Some(sql)
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
                use $crate::search::{dense_sql, rank_sql, ranks, HitRow, SearchHit, SearchKind};
                let mut tx = self.begin_snapshot().await?;
                let want = query.limit as usize;
                let mut hits: Vec<SearchHit> = Vec::with_capacity(want);
                for rank in ranks(query.after) {
                    let left = want - hits.len();
                    if left == 0 {
                        break;
                    }
                    let mut dense = Vec::new();
                    if let (1, Some(sql)) = (rank, dense_sql(BACKEND, org, query)) {
                        let counts: Vec<(i64, i64)> = $crate::sql::bind_args!(sqlx::query_as(&sql.text), &sql.args)
                            .fetch_all(&mut *tx)
                            .await?;
                        dense.extend(
                            counts
                                .into_iter()
                                .filter(|(_, n)| *n >= $crate::search::DENSE)
                                .filter_map(|(kind, _)| SearchKind::from_order(kind)),
                        );
                    }
                    let Some(sql) = rank_sql(BACKEND, org, query, rank, left, &dense) else {
                        continue;
                    };
                    let rows = $crate::sql::bind_args!(sqlx::query_as::<_, HitRow>(&sql.text), &sql.args)
                        .fetch_all(&mut *tx)
                        .await?;
                    for row in rows {
                        hits.push(row.try_into()?);
                    }
                }
                tx.commit().await?;
                Ok(hits)
            }
        }
    };
}

pub(crate) use impl_search_store;
