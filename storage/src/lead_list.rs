//! The lead list: filters, visibility, and keyset pages over one of three
//! sorts. The SQL is built here once, for both backends; every sort ends in
//! `id`, so a cursor (the last row's sort value and id) stays stable while
//! leads are inserted.
//!
//! `last_activity_at` is nullable: leads without any activity come last in
//! both directions, as deals without a close date do. A cursor that stopped
//! among them carries `None` and continues by id alone.

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

/// The list query: filters, visibility, keyset position, order and limit.
pub(crate) fn list_sql(org: Uuid, filter: &LeadFilter, page: &LeadPage) -> Sql {
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
    push_keyset(&mut sql, page);
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

fn push_keyset(sql: &mut Sql, page: &LeadPage) {
    let column = page.sort.column();
    let (cmp, dir) = if page.descending { ("<", "desc") } else { (">", "asc") };
    if let Some((value, id)) = &page.after {
        let arg = match value {
            LeadSortValue::OptionalTime(None) => {
                // Among the leads without activity: by id alone.
                sql.push_args(&format!(" and {column} is null and id {cmp} {{}}"), [Arg::Uuid(*id)]);
                None
            }
            LeadSortValue::OptionalTime(Some(t)) | LeadSortValue::Time(t) => Some(Arg::Time(*t)),
            LeadSortValue::Int(i) => Some(Arg::Int(*i)),
        };
        if let Some(arg) = arg {
            let nulls = if page.sort.nullable() {
                format!(" or {column} is null")
            } else {
                String::new()
            };
            let a = sql.arg(arg.clone());
            let b = sql.arg(arg);
            let c = sql.arg(Arg::Uuid(*id));
            sql.push(&format!(
                " and ({column} {cmp} {a} or ({column} = {b} and id {cmp} {c}){nulls})"
            ));
        }
    }
    // Only the nullable sort names its null order: on a column that cannot
    // be null it would stop PostgreSQL from reading an index backwards.
    let nulls = if page.sort.nullable() { " nulls last" } else { "" };
    sql.push(&format!(" order by {column} {dir}{nulls}, id {dir} limit "));
    let limit = sql.arg(Arg::Int(i64::from(page.limit)));
    sql.push(&limit);
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
        let sql = list_sql(
            Uuid::nil(),
            &LeadFilter::default(),
            &page(LeadSortField::CreatedAt, false, None),
        );
        assert_eq!(
            sql.text,
            "select * from leads where organization_id = $1 and deleted_at is null \
             order by created_at asc, id asc limit $2"
        );
    }

    #[test]
    fn the_activity_sort_puts_leads_without_activity_last_and_pages_through_them() {
        let id = Uuid::nil();
        let at = LeadSortValue::OptionalTime(Some(DateTime::UNIX_EPOCH));
        let sql = list_sql(
            id,
            &LeadFilter::default(),
            &page(LeadSortField::LastActivityAt, true, Some((at, id))),
        );
        assert!(sql.text.ends_with(
            "and (last_activity_at < $2 or (last_activity_at = $3 and id < $4) or last_activity_at is null) \
             order by last_activity_at desc nulls last, id desc limit $5"
        ));
        let tail = LeadSortValue::OptionalTime(None);
        let sql = list_sql(
            id,
            &LeadFilter::default(),
            &page(LeadSortField::LastActivityAt, false, Some((tail, id))),
        );
        assert!(sql
            .text
            .contains("and last_activity_at is null and id > $2 order by last_activity_at asc nulls last"));
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
        let sql = list_sql(Uuid::nil(), &filter, &page(LeadSortField::Score, false, None));
        let placeholders = sql.text.matches('$').count();
        assert_eq!(placeholders, sql.args.len());
        assert!(sql.text.contains("name_key like $"));
        assert!(matches!(&sql.args[13], Arg::Text(t) if t == "% ad\\_%"));
    }
}
