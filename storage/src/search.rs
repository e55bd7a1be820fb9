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
//! full, so a word most records share costs a page, not every match. Each
//! rank has a condition an index serves: the whole query equals a name,
//! email or domain (3), a name starts with it (2: a key range; a record
//! whose name is the query, or starts with it, has every word of the query,
//! so these need no full-text test), the words match (1: the full-text
//! index). The ids meeting it are read first, up to [`DENSE`] per kind:
//! fewer are ranked by id, more mean hits are common enough to walk the
//! records newest first and keep the first that match. (SQLite reads rank 1
//! whole through FTS5, whose `rowid in (…)` reads every match anyway.)

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
    format!(" and {}", full_text_match(backend, table, "{}"))
}

/// The condition on the rows of `table` that the full-text query in the
/// placeholder `query` matches.
fn full_text_match(backend: Backend, table: &str, query: &str) -> String {
    match backend {
        Backend::Postgres => format!("search_vector @@ to_tsquery('simple', {query})"),
        Backend::Sqlite => format!("rowid in (select rowid from {table}_search where {table}_search match {query})"),
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

/// How many hits of one kind and rank make them common enough to walk the
/// records newest first rather than rank them all: walking then reads about
/// `records / DENSE` rows a hit (if they are spread evenly), ranking reads
/// `DENSE` rows at most.
pub(crate) const DENSE: i64 = 2000;

/// The ranks a page reads, best first: from the cursor's rank down.
pub(crate) fn ranks(after: Option<SearchCursor>) -> impl Iterator<Item = i64> {
    (1..=after.map_or(3, |a| a.rank.clamp(1, 3))).rev()
}

/// The arguments every statement of a search uses, and their placeholders.
struct Terms {
    sql: Sql,
    org: String,
    phrase: String,
    pattern: String,
    upper: Option<String>,
    words: String,
    /// For a rep: the owner of the leads and deals they may read.
    owner: Option<String>,
}

impl Terms {
    fn new(org: Uuid, query: &SearchQuery, backend: Backend) -> Self {
        let mut sql = Sql::new("");
        let org = sql.arg(Arg::Uuid(org));
        let phrase = sql.arg(Arg::Text(query.phrase.clone()));
        let pattern = sql.arg(Arg::Text(format!("{}%", crate::accounts::like_literal(&query.phrase))));
        let upper = prefix_upper_bound(&query.phrase).map(|u| sql.arg(Arg::Text(u)));
        let words = sql.arg(Arg::Text(full_text_query(backend, &query.words)));
        let owner = query.owner.map(|owner| sql.arg(Arg::Uuid(owner)));
        Terms {
            sql,
            org,
            phrase,
            pattern,
            upper,
            words,
            owner,
        }
    }

    /// The condition an index can serve that every hit of `rank` meets: the
    /// whole query (3), a name starting with it (2: a key range), every word
    /// a prefix of the record's words (1).
    fn reach(&self, backend: Backend, kind: SearchKind, rank: i64) -> String {
        format!("({})", self.reaches(backend, kind, rank).join(" or "))
    }

    /// The alternatives of [`Terms::reach`], each served by one index (read
    /// apart: SQLite uses no index for an `or` of partial indexes).
    fn reaches(&self, backend: Backend, kind: SearchKind, rank: i64) -> Vec<String> {
        match rank {
            3 => kind
                .exact_columns()
                .iter()
                .map(|c| format!("{c} = {}", self.phrase))
                .collect(),
            2 => kind
                .prefix_columns()
                .iter()
                .map(|c| match &self.upper {
                    Some(upper) => format!("{c} >= {} and {c} < {upper}", self.phrase),
                    None => format!("{c} >= {}", self.phrase),
                })
                .collect(),
            _ => vec![full_text_match(backend, kind.table(), &self.words)],
        }
    }

    /// `where …` of the live records of `kind` the caller may read.
    fn scope(&self, kind: SearchKind) -> String {
        let mut scope = format!("where organization_id = {} and deleted_at is null", self.org);
        if let (Some(owner), true) = (&self.owner, kind.owned()) {
            scope.push_str(&format!(" and owner_id = {owner}"));
        }
        scope
    }
}

/// Whether the hits of `rank` may be walked newest first: full-text matches
/// only on PostgreSQL (SQLite's `rowid in (…)` reads every match anyway).
fn walkable(backend: Backend, rank: i64) -> bool {
    rank > 1 || backend == Backend::Postgres
}

/// What the index of a rank's condition holds for one kind of record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Reach {
    /// Not read ahead: the rank's query reads them through the index.
    Unread,
    /// Every record that meets the condition: fewer than [`DENSE`].
    Few(Vec<Uuid>),
    /// [`DENSE`] or more: the rank's query walks the records newest first.
    Dense,
}

/// The query reading, for each kind, the ids of the records that meet the
/// index condition of `rank`, up to [`DENSE`], as `(kind_order, id)` rows;
/// `None` where the rank is never walked.
pub(crate) fn reach_sql(backend: Backend, org: Uuid, query: &SearchQuery, rank: i64) -> Option<Sql> {
    if !walkable(backend, rank) {
        return None;
    }
    let mut terms = Terms::new(org, query, backend);
    for (i, kind) in query.kinds.iter().enumerate() {
        // `union all`, not `union`, so that reading stops at the limit: an
        // id met twice is counted twice.
        let alternatives: Vec<String> = terms
            .reaches(backend, *kind, rank)
            .iter()
            .map(|reach| format!("select id from {} {} and {reach}", kind.table(), terms.scope(*kind)))
            .collect();
        let member = format!(
            "{}select * from (select cast({} as bigint) as kind_order, id from ({}) as r limit {DENSE}) as {}",
            if i > 0 { " union all " } else { "" },
            kind.order(),
            alternatives.join(" union all "),
            kind.table(),
        );
        terms.sql.push(&member);
    }
    Some(terms.sql)
}

/// Each kind's [`Reach`] from the rows of [`reach_sql`].
pub(crate) fn reach_by_kind(kinds: &[SearchKind], rows: Vec<(i64, Uuid)>) -> Vec<(SearchKind, Reach)> {
    kinds
        .iter()
        .map(|kind| {
            let mut ids: Vec<Uuid> = rows
                .iter()
                .filter(|(order, _)| *order == kind.order())
                .map(|(_, id)| *id)
                .collect();
            let dense = i64::try_from(ids.len()).unwrap_or(i64::MAX) >= DENSE;
            ids.sort_unstable();
            ids.dedup();
            (*kind, if dense { Reach::Dense } else { Reach::Few(ids) })
        })
        .collect()
}

/// The query of the next `limit` hits of `rank`, after the cursor when it
/// stopped in this rank, each kind read as its [`Reach`] says (a kind not
/// in `reach` is [`Reach::Unread`]): the few by id; the dense walked newest
/// first, `is true` keeping the planner off the index of the condition; the
/// unread through that index, whole (a materialized CTE, so that the
/// planner cannot walk them instead), and sorted. `None` when no kind is
/// left to read.
pub(crate) fn rank_sql(
    backend: Backend,
    org: Uuid,
    query: &SearchQuery,
    rank: i64,
    limit: usize,
    reach: &[(SearchKind, Reach)],
) -> Option<Sql> {
    let after = query.after.filter(|a| a.rank == rank);
    let mut terms = Terms::new(org, query, backend);
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let (mut ctes, mut members) = (Vec::new(), Vec::new());
    for kind in query.kinds.iter().copied() {
        if after.is_some_and(|a| kind.order() < a.kind.order()) {
            continue;
        }
        let read = reach
            .iter()
            .find(|(k, _)| *k == kind)
            .map_or(&Reach::Unread, |(_, r)| r);
        let condition = match read {
            Reach::Few(ids) if ids.is_empty() => continue,
            Reach::Few(ids) => {
                let ids: Vec<String> = ids.iter().map(|id| terms.sql.arg(Arg::Uuid(*id))).collect();
                format!("id in ({})", ids.join(", "))
            }
            Reach::Dense => format!("({}) is true", terms.reach(backend, kind, rank)),
            Reach::Unread => terms.reach(backend, kind, rank),
        };
        let mut body = format!(
            "select cast({} as bigint) as kind_order, id, cast({rank} as bigint) as rank, {} from {} {} and {condition}",
            kind.order(),
            kind.labels(),
            kind.table(),
            terms.scope(kind),
        );
        if rank < 3 {
            body.push_str(&format!(" and {} = {rank}", kind.rank(&terms.phrase, &terms.pattern)));
        }
        if let Some(after) = after.filter(|a| a.kind == kind) {
            let id = terms.sql.arg(Arg::Uuid(after.id));
            body.push_str(&format!(" and id < {id}"));
        }
        // SQLite allows `order by … limit` in a compound select only inside a subquery.
        let table = kind.table();
        if *read == Reach::Unread {
            ctes.push(format!("{table}_hits as materialized ({body})"));
            body = format!("select * from {table}_hits");
        }
        members.push(format!(
            "select * from ({body} order by id desc limit {limit}) as {table}"
        ));
    }
    if members.is_empty() {
        return None;
    }
    if !ctes.is_empty() {
        terms.sql.push(&format!("with {} ", ctes.join(", ")));
    }
    terms.sql.push(&format!(
        "select * from ({}) as hits order by kind_order asc, id desc limit {limit}",
        members.join(" union all ")
    ));
    Some(terms.sql)
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
                use $crate::search::{rank_sql, ranks, reach_by_kind, reach_sql, HitRow, SearchHit};
                let mut tx = self.begin_snapshot().await?;
                let want = query.limit as usize;
                let mut hits: Vec<SearchHit> = Vec::with_capacity(want);
                for rank in ranks(query.after) {
                    let left = want - hits.len();
                    if left == 0 {
                        break;
                    }
                    let mut reach = Vec::new();
                    if let Some(sql) = reach_sql(BACKEND, org, query, rank) {
                        let rows: Vec<(i64, ::uuid::Uuid)> =
                            $crate::sql::bind_args!(sqlx::query_as(&sql.text), &sql.args)
                                .fetch_all(&mut *tx)
                                .await?;
                        reach = reach_by_kind(&query.kinds, rows);
                    }
                    let Some(sql) = rank_sql(BACKEND, org, query, rank, left, &reach) else {
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
