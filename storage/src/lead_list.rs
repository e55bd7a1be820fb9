//! The lead list: filters, visibility, and keyset pages over one of three
//! sorts. The SQL is built here once, for both backends; every sort ends in
//! `id`, so a cursor (the last row's sort value and id) stays stable while
//! leads are inserted.
//!
//! `last_activity_at` is nullable: leads without any activity come last in
//! both directions, as deals without a close date do, in id order. A cursor
//! that stopped among them carries `None` and continues by id alone.

use chrono::{DateTime, Utc};
use pipewise_domain::{lead::LeadStatus, Lead};
use uuid::Uuid;

use crate::sql::{prefix_upper_bound, Arg, Sql};

/// Which live leads to list; every filter given must match.
#[derive(Debug, Clone, Default)]
pub struct LeadFilter {
    /// Visibility: a rep sees only the leads they own.
    pub visible_to_owner: Option<Uuid>,
    pub status: Option<LeadStatus>,
    pub owner_id: Option<Uuid>,
    /// Exact match.
    pub source: Option<String>,
    /// Inclusive, 0–100.
    pub score_min: Option<u8>,
    /// Inclusive, 0–100.
    pub score_max: Option<u8>,
    /// Inclusive.
    pub created_from: Option<DateTime<Utc>>,
    /// Exclusive.
    pub created_to: Option<DateTime<Utc>>,
    /// A lower-cased prefix of the first name, the full name, any later word
    /// of the name, the company name, or the email address.
    pub prefix: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeadSortField {
    CreatedAt,
    Score,
    LastActivityAt,
}

impl LeadSortField {
    fn column(self) -> &'static str {
        match self {
            LeadSortField::CreatedAt => "created_at",
            LeadSortField::Score => "score",
            LeadSortField::LastActivityAt => "last_activity_at",
        }
    }

    fn nullable(self) -> bool {
        self == LeadSortField::LastActivityAt
    }

    /// The value of this field on `lead`, for the next page's cursor.
    pub fn value_of(self, lead: &Lead) -> LeadSortValue {
        match self {
            LeadSortField::CreatedAt => LeadSortValue::Time(lead.created_at),
            LeadSortField::Score => LeadSortValue::Int(i64::from(lead.score.value())),
            LeadSortField::LastActivityAt => LeadSortValue::OptionalTime(lead.last_activity_at),
        }
    }
}

/// The sort value of the last row of a page.
#[derive(Debug, Clone, PartialEq)]
pub enum LeadSortValue {
    Time(DateTime<Utc>),
    Int(i64),
    /// `None`: the lead has no activity (the tail of the list).
    OptionalTime(Option<DateTime<Utc>>),
}

#[derive(Debug, Clone)]
pub struct LeadPage {
    pub sort: LeadSortField,
    pub descending: bool,
    /// The last row seen: its sort value and id.
    pub after: Option<(LeadSortValue, Uuid)>,
    pub limit: u32,
}

/// The queries of one page, to run in order until the page is full: one
/// for most sorts; for `last_activity_at`, first the leads with activity,
/// then those without. Splitting the nullable sort keeps every keyset
/// condition a row-value range the index answers directly, instead of an
/// `or … is null` that would make the database scan every row before the cursor.
pub(crate) fn list_queries(org: Uuid, filter: &LeadFilter, page: &LeadPage) -> Vec<Sql> {
    let column = page.sort.column();
    let cmp = if page.descending { "<" } else { ">" };
    let after = |sql: &mut Sql, value: Arg, id: Uuid| {
        sql.push_args(
            &format!(" and ({column}, id) {cmp} ({{}}, {{}})"),
            [value, Arg::Uuid(id)],
        );
    };
    let finish = |mut sql: Sql| {
        let dir = if page.descending { "desc" } else { "asc" };
        sql.push(&format!(" order by {column} {dir}, id {dir} limit "));
        let limit = sql.arg(Arg::Int(i64::from(page.limit)));
        sql.push(&limit);
        sql
    };
    let mut sql = filtered(org, filter);
    match &page.after {
        Some((LeadSortValue::Time(t), id)) => after(&mut sql, Arg::Time(*t), *id),
        Some((LeadSortValue::Int(i), id)) => after(&mut sql, Arg::Int(*i), *id),
        // The cursor stopped among the leads without activity: the rest of them, by id.
        Some((LeadSortValue::OptionalTime(None), id)) => {
            sql.push_args(&format!(" and {column} is null and id {cmp} {{}}"), [Arg::Uuid(*id)]);
        }
        Some((LeadSortValue::OptionalTime(Some(t)), id)) => {
            sql.push(&format!(" and {column} is not null"));
            after(&mut sql, Arg::Time(*t), *id);
        }
        None if page.sort.nullable() => {
            sql.push(&format!(" and {column} is not null"));
        }
        None => {}
    }
    let in_null_tail = matches!(page.after, Some((LeadSortValue::OptionalTime(None), _)));
    if page.sort.nullable() && !in_null_tail {
        let mut tail = filtered(org, filter);
        tail.push(&format!(" and {column} is null"));
        vec![finish(sql), finish(tail)]
    } else {
        vec![finish(sql)]
    }
}

/// The live leads of the organization that `filter` admits, unordered.
fn filtered(org: Uuid, filter: &LeadFilter) -> Sql {
    let mut sql = Sql::new("select * from leads where ");
    sql.push_args("organization_id = {} and deleted_at is null", [Arg::Uuid(org)]);
    let mut cond = |text: &str, arg: Option<Arg>| {
        if let Some(arg) = arg {
            sql.push_args(text, [arg]);
        }
    };
    cond(" and owner_id = {}", filter.visible_to_owner.map(Arg::Uuid));
    cond(" and owner_id = {}", filter.owner_id.map(Arg::Uuid));
    cond(
        " and status = {}",
        filter.status.map(|s| Arg::Text(s.as_str().to_owned())),
    );
    cond(" and source = {}", filter.source.clone().map(Arg::Text));
    cond(" and score >= {}", filter.score_min.map(|s| Arg::Int(i64::from(s))));
    cond(" and score <= {}", filter.score_max.map(|s| Arg::Int(i64::from(s))));
    cond(" and created_at >= {}", filter.created_from.map(Arg::Time));
    cond(" and created_at < {}", filter.created_to.map(Arg::Time));
    if let Some(prefix) = &filter.prefix {
        push_prefix(&mut sql, prefix);
    }
    sql
}

/// First or full name, and company name: index ranges. A later word of the
/// name, or the email: patterns (all three are stored lower-cased).
fn push_prefix(sql: &mut Sql, prefix: &str) {
    let upper = prefix_upper_bound(prefix);
    let range = |sql: &mut Sql, column: &str| {
        sql.push_args(&format!("({column} >= {{}}"), [Arg::Text(prefix.to_owned())]);
        if let Some(upper) = &upper {
            sql.push_args(&format!(" and {column} < {{}}"), [Arg::Text(upper.clone())]);
        }
        sql.push(")");
    };
    let literal = crate::accounts::like_literal(prefix);
    sql.push(" and (");
    range(sql, "name_key");
    sql.push(" or ");
    range(sql, "company_key");
    sql.push_args(
        " or name_key like {} escape '\\' or email like {} escape '\\')",
        [Arg::Text(format!("% {literal}%")), Arg::Text(format!("{literal}%"))],
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(sort: LeadSortField, descending: bool, after: Option<(LeadSortValue, Uuid)>) -> LeadPage {
        LeadPage {
            sort,
            descending,
            after,
            limit: 51,
        }
    }

    #[test]
    fn a_plain_list_is_one_organizations_live_leads_in_created_order() {
        let sql = list_queries(
            Uuid::nil(),
            &LeadFilter::default(),
            &page(LeadSortField::CreatedAt, false, None),
        );
        assert_eq!(sql.len(), 1);
        assert_eq!(
            sql[0].text,
            "select * from leads where organization_id = $1 and deleted_at is null \
             order by created_at asc, id asc limit $2"
        );
    }

    #[test]
    fn a_cursor_is_a_row_value_range() {
        let after = Some((LeadSortValue::Int(70), Uuid::nil()));
        let sql = list_queries(
            Uuid::nil(),
            &LeadFilter::default(),
            &page(LeadSortField::Score, true, after),
        );
        assert_eq!(sql.len(), 1);
        assert!(sql[0]
            .text
            .ends_with("and (score, id) < ($2, $3) order by score desc, id desc limit $4"));
    }

    #[test]
    fn the_activity_sort_lists_leads_with_activity_then_those_without() {
        let id = Uuid::nil();
        let first = list_queries(
            id,
            &LeadFilter::default(),
            &page(LeadSortField::LastActivityAt, true, None),
        );
        assert_eq!(first.len(), 2);
        assert!(first[0]
            .text
            .ends_with("and last_activity_at is not null order by last_activity_at desc, id desc limit $2"));
        assert!(first[1]
            .text
            .ends_with("and last_activity_at is null order by last_activity_at desc, id desc limit $2"));

        let at = LeadSortValue::OptionalTime(Some(DateTime::UNIX_EPOCH));
        let later = list_queries(
            id,
            &LeadFilter::default(),
            &page(LeadSortField::LastActivityAt, false, Some((at, id))),
        );
        assert_eq!(later.len(), 2);
        assert!(later[0]
            .text
            .contains("and last_activity_at is not null and (last_activity_at, id) > ($2, $3)"));

        let tail = LeadSortValue::OptionalTime(None);
        let tail = list_queries(
            id,
            &LeadFilter::default(),
            &page(LeadSortField::LastActivityAt, false, Some((tail, id))),
        );
        assert_eq!(tail.len(), 1);
        assert!(tail[0]
            .text
            .ends_with("and last_activity_at is null and id > $2 order by last_activity_at asc, id asc limit $3"));
    }

    #[test]
    fn every_filter_binds_its_own_argument() {
        let filter = LeadFilter {
            visible_to_owner: Some(Uuid::nil()),
            status: Some(LeadStatus::Qualified),
            owner_id: Some(Uuid::nil()),
            source: Some("referral".into()),
            score_min: Some(10),
            score_max: Some(90),
            created_from: Some(DateTime::UNIX_EPOCH),
            created_to: Some(DateTime::UNIX_EPOCH),
            prefix: Some("ad_".into()),
        };
        let sql = &list_queries(Uuid::nil(), &filter, &page(LeadSortField::Score, false, None))[0];
        let placeholders = sql.text.matches('$').count();
        assert_eq!(placeholders, sql.args.len());
        assert!(sql.text.contains("name_key like $"));
        assert!(matches!(&sql.args[13], Arg::Text(t) if t == "% ad\\_%"));
    }
}
