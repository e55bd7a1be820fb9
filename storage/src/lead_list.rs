//! The lead list: filters, visibility, and keyset pages over one of three
//! sorts. The SQL is built here once, for both backends; every sort ends in
//! `id`, so a cursor (the last row's sort value and id) stays stable while
//! leads are inserted.
//!
//! `predicted_conversion` is computed in the query from the frequency tables
//! (see [`prediction_key`]); without a model every lead's key is -1. The
//! look-alike potential comes with the page: the caller estimates every
//! profile (industry, employee band, country) the leads have, and the query
//! joins that list (one JSON parameter) to sort by it, -1 without an estimate.
//!
//! `last_activity_at` is nullable: leads without any activity come last in
//! both directions, as deals without a close date do, in id order. A cursor
//! that stopped among them carries `None` and continues by id alone.

use chrono::{DateTime, Utc};
use pipewise_domain::{
    lead::LeadStatus,
    prediction::{Field, Model, SMOOTHING},
};
use uuid::Uuid;

use crate::{
    sql::{Arg, Sql},
    Backend,
};

/// Which live leads to list; every filter given must match.
#[derive(Debug, Clone, Default)]
pub struct LeadFilter {
    /// Custom field values, all of which must match.
    pub custom: Vec<crate::custom_fields::CustomFilter>,
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
    /// Inclusive bounds on the predicted conversion, 0–1: a lead without a
    /// prediction matches neither.
    pub predicted_min: Option<f64>,
    pub predicted_max: Option<f64>,
    pub tag: Option<pipewise_domain::Tag>,
}

impl LeadFilter {
    fn reads_prediction(&self) -> bool {
        self.predicted_min.is_some() || self.predicted_max.is_some()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeadSortField {
    CreatedAt,
    Score,
    LastActivityAt,
    PredictedConversion,
    /// The median look-alike potential, in minor units of the base currency.
    Potential,
}

/// The estimate for the leads of one profile, for the potential sort.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfilePotential {
    pub industry: Option<String>,
    /// As `EmployeeBand::as_str`; '' without a head count.
    pub band: String,
    pub country: Option<String>,
    /// The median, rounded to cents, in minor units.
    pub minor: i64,
}

impl LeadSortField {
    fn column(self) -> &'static str {
        match self {
            LeadSortField::CreatedAt => "created_at",
            LeadSortField::Score => "score",
            LeadSortField::LastActivityAt => "last_activity_at",
            LeadSortField::PredictedConversion => "prediction_key",
            LeadSortField::Potential => "potential_key",
        }
    }

    fn nullable(self) -> bool {
        self == LeadSortField::LastActivityAt
    }
}

/// The sort value of the last row of a page.
#[derive(Debug, Clone, PartialEq)]
pub enum LeadSortValue {
    Time(DateTime<Utc>),
    Int(i64),
    /// A predicted conversion; -1 without a model.
    Float(f64),
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
    /// For the potential sort: every profile the leads have, estimated.
    pub potentials: Vec<ProfilePotential>,
}

/// The queries of one page, to run in order until the page is full: one
/// for most sorts; for `last_activity_at`, first the leads with activity,
/// then those without. Splitting the nullable sort keeps every keyset
/// condition a row-value range the index answers directly, instead of an
/// `or … is null` that would make the database scan every row before the cursor.
pub(crate) fn list_queries(
    backend: Backend,
    org: Uuid,
    filter: &LeadFilter,
    page: &LeadPage,
    model: Option<&Model>,
) -> Vec<Sql> {
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
    let mut sql = filtered(backend, org, filter, page, model);
    match &page.after {
        Some((LeadSortValue::Time(t), id)) => after(&mut sql, Arg::Time(*t), *id),
        Some((LeadSortValue::Int(i), id)) => after(&mut sql, Arg::Int(*i), *id),
        Some((LeadSortValue::Float(f), id)) => after(&mut sql, Arg::Float(*f), *id),
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
        let mut tail = filtered(backend, org, filter, page, model);
        tail.push(&format!(" and {column} is null"));
        vec![finish(sql), finish(tail)]
    } else {
        vec![finish(sql)]
    }
}

/// Whether a page of leads needs the prediction model.
pub(crate) fn needs_model(filter: &LeadFilter, page: &LeadPage) -> bool {
    filter.reads_prediction() || page.sort == LeadSortField::PredictedConversion
}

/// The live leads of the organization that `filter` admits, unordered.
fn filtered(backend: Backend, org: Uuid, filter: &LeadFilter, page: &LeadPage, model: Option<&Model>) -> Sql {
    let mut sql = Sql::new("select * from ");
    let by_potential = page.sort == LeadSortField::Potential;
    if needs_model(filter, page) || by_potential {
        sql.push("(select leads.*, ");
        // The search condition below reads the row's rowid on SQLite, which `*` leaves out.
        if backend == Backend::Sqlite {
            sql.push("leads.rowid as rowid, ");
        }
        prediction_key(&mut sql, model);
        sql.push(" as prediction_key, ");
        sql.push(if by_potential { "coalesce(p.minor, -1)" } else { "-1" });
        sql.push(" as potential_key from leads");
        if model.is_some() {
            for (i, field) in Field::ALL.into_iter().enumerate() {
                sql.push(&format!(
                    " left join lead_outcome_counts c{i} on c{i}.organization_id = leads.organization_id \
                     and c{i}.field = '{}' and c{i}.value = {}",
                    field.as_str(),
                    crate::prediction::column_value(field),
                ));
            }
        }
        if by_potential {
            join_potentials(&mut sql, backend, &page.potentials);
        }
        sql.push_args(" where leads.organization_id = {}) as leads where ", [Arg::Uuid(org)]);
    } else {
        sql.push("leads where ");
    }
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
    cond(" and prediction_key >= {}", filter.predicted_min.map(Arg::Float));
    cond(" and prediction_key <= {}", filter.predicted_max.map(Arg::Float));
    if let Some(tag) = &filter.tag {
        sql.push_args(
            " and id in (select record_id from record_tags where kind = 'lead' and organization_id = {} and tag = {})",
            [Arg::Uuid(org), Arg::Text(tag.as_str().to_owned())],
        );
    }
    for custom in &filter.custom {
        let args = [
            Arg::Uuid(org),
            Arg::Text("lead".to_owned()),
            Arg::Text(custom.key.clone()),
            Arg::Text(custom.term.clone()),
        ];
        sql.push_args(&crate::custom_fields::filter_sql("id"), args);
    }
    if let Some(prefix) = &filter.prefix {
        crate::search::matches(backend, &mut sql, "leads", &crate::search::search_words(prefix));
    }
    sql
}

/// Joins each lead to its profile's estimate as `p`: the list travels as
/// one JSON parameter, read as a table by each backend's JSON functions.
fn join_potentials(sql: &mut Sql, backend: Backend, potentials: &[ProfilePotential]) {
    let rows: Vec<serde_json::Value> = potentials
        .iter()
        .map(|p| serde_json::json!({"industry": p.industry, "band": p.band, "country": p.country, "minor": p.minor}))
        .collect();
    let table = match backend {
        Backend::Postgres => {
            "jsonb_to_recordset(cast({} as jsonb)) as p (industry text, band text, country text, minor bigint)"
        }
        Backend::Sqlite => {
            "(select json_extract(value, '$.industry') as industry, json_extract(value, '$.band') as band, \
             json_extract(value, '$.country') as country, json_extract(value, '$.minor') as minor \
             from json_each({})) as p"
        }
    };
    sql.push(" left join ");
    sql.push_args(table, [Arg::Text(serde_json::Value::Array(rows).to_string())]);
    sql.push(&format!(
        " on coalesce(p.industry, '') = coalesce(leads.industry, '') and p.band = {} \
         and coalesce(p.country, '') = coalesce(leads.country, '')",
        crate::prediction::column_value(Field::EmployeeBand)
    ));
}

/// The predicted conversion of the lead joined with its counts `c0`…`c4`,
/// computed exactly as [`Model::probability`] does (same operations, same
/// order, in double precision), so that the cursor the API takes from its
/// own computation continues this order; -1 without a model.
fn prediction_key(sql: &mut Sql, model: Option<&Model>) {
    let Some(model) = model else {
        sql.push("-1.0");
        return;
    };
    let mut odds = sql.arg(Arg::Float(model.prior_odds));
    for i in 0..Field::ALL.len() {
        let mut ratio = Sql::new("");
        ratio.args = std::mem::take(&mut sql.args);
        ratio.push_args(
            &format!("((coalesce(c{i}.successes, 0) + {{}}) / {{}}) / ((coalesce(c{i}.failures, 0) + {{}}) / {{}})"),
            [
                Arg::Float(SMOOTHING),
                Arg::Float(model.successes),
                Arg::Float(SMOOTHING),
                Arg::Float(model.failures),
            ],
        );
        sql.args = ratio.args;
        odds = format!("({odds} * ({}))", ratio.text);
    }
    sql.push(&format!("({odds} / (1.0 + {odds}))"));
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
            potentials: Vec::new(),
        }
    }

    #[test]
    fn a_plain_list_is_one_organizations_live_leads_in_created_order() {
        let sql = list_queries(
            Backend::Postgres,
            Uuid::nil(),
            &LeadFilter::default(),
            &page(LeadSortField::CreatedAt, false, None),
            None,
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
            Backend::Postgres,
            Uuid::nil(),
            &LeadFilter::default(),
            &page(LeadSortField::Score, true, after),
            None,
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
            Backend::Postgres,
            id,
            &LeadFilter::default(),
            &page(LeadSortField::LastActivityAt, true, None),
            None,
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
            Backend::Postgres,
            id,
            &LeadFilter::default(),
            &page(LeadSortField::LastActivityAt, false, Some((at, id))),
            None,
        );
        assert_eq!(later.len(), 2);
        assert!(later[0]
            .text
            .contains("and last_activity_at is not null and (last_activity_at, id) > ($2, $3)"));

        let tail = LeadSortValue::OptionalTime(None);
        let tail = list_queries(
            Backend::Postgres,
            id,
            &LeadFilter::default(),
            &page(LeadSortField::LastActivityAt, false, Some((tail, id))),
            None,
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
            predicted_min: None,
            predicted_max: None,
            tag: Some(pipewise_domain::Tag::parse("vip").unwrap()),
            custom: vec![crate::CustomFilter {
                key: "tier".into(),
                term: "Gold".into(),
            }],
        };
        let sql = &list_queries(
            Backend::Postgres,
            Uuid::nil(),
            &filter,
            &page(LeadSortField::Score, false, None),
            None,
        )[0];
        let placeholders = sql.text.matches('$').count();
        assert_eq!(placeholders, sql.args.len());
        assert!(sql.text.contains("search_vector @@ to_tsquery('simple', $"));
        assert!(matches!(&sql.args[10], Arg::Text(t) if t == "vip"), "{:?}", sql.args);
        assert!(matches!(&sql.args[13], Arg::Text(t) if t == "tier"), "{:?}", sql.args);
        assert!(matches!(&sql.args[14], Arg::Text(t) if t == "Gold"), "{:?}", sql.args);
        assert!(matches!(&sql.args[15], Arg::Text(t) if t == "'ad':*"), "{:?}", sql.args);
    }

    #[test]
    fn the_prediction_sort_multiplies_the_ratios_in_the_models_order() {
        let model = Model::new(8, 12).unwrap();
        let filter = LeadFilter {
            predicted_min: Some(0.5),
            ..LeadFilter::default()
        };
        let after = Some((LeadSortValue::Float(0.75), Uuid::nil()));
        let sql = &list_queries(
            Backend::Postgres,
            Uuid::nil(),
            &filter,
            &page(LeadSortField::PredictedConversion, true, after),
            Some(&model),
        )[0];
        assert!(sql
            .text
            .starts_with("select * from (select leads.*, (((((($1 * (((coalesce(c0.successes, 0) + $2) / $3)"));
        assert!(sql.text.contains(
            "left join lead_outcome_counts c4 on c4.organization_id = leads.organization_id \
                                   and c4.field = 'email_domain_kind' and c4.value = coalesce(email_domain_kind, '')"
        ));
        assert!(sql.text.contains("and prediction_key >= $"));
        assert!(sql
            .text
            .ends_with("and (prediction_key, id) < ($25, $26) order by prediction_key desc, id desc limit $27"));
        assert!(matches!(sql.args[0], Arg::Float(odds) if odds == model.prior_odds));

        let without = &list_queries(
            Backend::Postgres,
            Uuid::nil(),
            &LeadFilter::default(),
            &page(LeadSortField::PredictedConversion, false, None),
            None,
        )[0];
        assert!(without.text.starts_with(
            "select * from (select leads.*, -1.0 as prediction_key, -1 as potential_key from leads where"
        ));
    }

    #[test]
    fn the_potential_sort_joins_the_estimates_as_one_json_parameter() {
        let mut page = page(
            LeadSortField::Potential,
            true,
            Some((LeadSortValue::Int(300_000), Uuid::nil())),
        );
        page.potentials = vec![ProfilePotential {
            industry: Some("Software".into()),
            band: "11-50".into(),
            country: None,
            minor: 300_000,
        }];
        let pg = &list_queries(Backend::Postgres, Uuid::nil(), &LeadFilter::default(), &page, None)[0];
        assert!(pg.text.contains(
            "coalesce(p.minor, -1) as potential_key from leads left join jsonb_to_recordset(cast($1 as jsonb))"
        ));
        assert!(pg
            .text
            .ends_with("and (potential_key, id) < ($4, $5) order by potential_key desc, id desc limit $6"));
        assert!(matches!(&pg.args[0], Arg::Text(json)
            if json == r#"[{"band":"11-50","country":null,"industry":"Software","minor":300000}]"#));
        let lite = &list_queries(Backend::Sqlite, Uuid::nil(), &LeadFilter::default(), &page, None)[0];
        assert!(lite
            .text
            .contains("from json_each($1)) as p on coalesce(p.industry, '') = coalesce(leads.industry, '')"));
    }
}
