//! The leads and follow-up figures: counts of leads and activities, by
//! measure and key.

use uuid::Uuid;

use super::{
    members::{ms_between, null_uuid},
    ActivityGrouping, ActivityQuery, Count, LeadQuery, ReportScope,
};
use crate::{
    sql::{Arg, Sql},
    Backend,
};

/// The lead filters of the scope, on alias `l` (a pipeline does not apply).
fn lead_scope(sql: &mut Sql, org: Uuid, scope: &ReportScope) {
    sql.push_args(" l.organization_id = {} and l.deleted_at is null", [Arg::Uuid(org)]);
    if let Some(owner) = scope.visible_owner {
        sql.push_args(" and l.owner_id = {}", [Arg::Uuid(owner)]);
    }
    if let Some(owner) = scope.owner_id {
        sql.push_args(" and l.owner_id = {}", [Arg::Uuid(owner)]);
    }
    if let Some(source) = &scope.source {
        sql.push_args(" and l.source = {}", [Arg::Text(source.clone())]);
    }
}

/// The by-source lead counts of one pass over the leads, a column per
/// measure; [`LeadTally::counts`] turns a row into [`Count`]s.
pub(crate) const LEAD_MEASURES: [&str; 6] = [
    "created",
    "qualified",
    "mql",
    "mql_qualified",
    "created_qualified",
    "created_converted",
];

/// One source's row of the lead pass.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct LeadTally {
    pub source: Option<String>,
    pub created: i64,
    pub qualified: i64,
    pub mql: i64,
    pub mql_qualified: i64,
    pub created_qualified: i64,
    pub created_converted: i64,
    /// Leads created in the period with an activity, and the sum of their
    /// milliseconds to the first one.
    pub responded: i64,
    pub response_ms: Option<i64>,
}

impl LeadTally {
    /// The nonzero by-source counts of the rows, and the first-response total.
    pub fn counts(rows: &[LeadTally]) -> Vec<Count> {
        let mut counts = Vec::new();
        for row in rows {
            let values = [
                row.created,
                row.qualified,
                row.mql,
                row.mql_qualified,
                row.created_qualified,
                row.created_converted,
            ];
            for (measure, n) in LEAD_MEASURES.iter().zip(values) {
                if n > 0 {
                    counts.push(Count {
                        measure: (*measure).to_owned(),
                        key_id: None,
                        key_text: row.source.clone(),
                        key_num: None,
                        n,
                        ms: None,
                    });
                }
            }
        }
        let responded: i64 = rows.iter().map(|r| r.responded).sum();
        counts.push(Count {
            measure: "first_response".to_owned(),
            key_id: None,
            key_text: None,
            key_num: None,
            n: responded,
            ms: (responded > 0).then(|| rows.iter().filter_map(|r| r.response_ms).sum()),
        });
        counts
    }
}

/// The lead pass (rows of [`LeadTally`]) over the leads created, qualified
/// or past the MQL threshold in the period, then the monthly qualified
/// counts (rows of [`Count`]).
pub(crate) fn lead_sql(backend: Backend, org: Uuid, scope: &ReportScope, q: &LeadQuery) -> (Sql, Vec<Sql>) {
    let null_uuid = null_uuid(backend);
    let mut tally = Sql::default();
    let mut in_period = |column: &str| {
        let (from, to) = (tally.arg(Arg::Time(q.from)), tally.arg(Arg::Time(q.to)));
        format!("l.{column} >= {from} and l.{column} < {to}")
    };
    let created = in_period("created_at");
    let qualified = in_period("qualified_at");
    let mql = in_period("mql_at");
    let by = |tally: &mut Sql, column: &str| {
        let as_of = tally.arg(Arg::Time(q.as_of));
        format!("l.{column} is not null and l.{column} <= {as_of}")
    };
    let qualified_by = by(&mut tally, "qualified_at");
    let converted_by = by(&mut tally, "converted_at");
    let count = |condition: &str| format!("cast(sum(case when {condition} then 1 else 0 end) as bigint)");
    // The first response: from creation to the lead's first live activity.
    let response = ms_between(backend, "l.first_activity_at", "l.created_at");
    tally.text = format!(
        "select l.source as source, {} as created, {} as qualified, {} as mql, {} as mql_qualified, \
         {} as created_qualified, {} as created_converted, {} as responded, \
         cast(sum(case when {created} and l.first_activity_at is not null then {response} end) as bigint) as response_ms \
         from leads l where",
        count(&created),
        count(&qualified),
        count(&mql),
        count(&format!("{mql} and {qualified_by}")),
        count(&format!("{created} and {qualified_by}")),
        count(&format!("{created} and {converted_by}")),
        count(&format!("{created} and l.first_activity_at is not null")),
    );
    // Each arm of the `or` names the organization and the live rows itself,
    // so that SQLite reads the three index ranges (its multi-index `or`)
    // instead of every lead; PostgreSQL combines the ranges either way.
    for (i, column) in ["created_at", "qualified_at", "mql_at"].into_iter().enumerate() {
        tally.push(if i == 0 { " ((" } else { ") or (" });
        lead_scope(&mut tally, org, scope);
        tally.push_args(
            &format!(" and l.{column} >= {{}} and l.{column} < {{}}"),
            [Arg::Time(q.from), Arg::Time(q.to)],
        );
    }
    tally.push(")) group by l.source");
    let mut queries = Vec::new();

    // Qualified leads per calendar month, the month before the period included.
    if q.month_bounds.len() >= 2 {
        let mut monthly = Sql::new("");
        let mut case = String::from("case");
        for (i, bound) in q.month_bounds.iter().enumerate().skip(1) {
            let p = monthly.arg(Arg::Time(*bound));
            case.push_str(&format!(" when l.qualified_at < {p} then {}", i - 1));
        }
        case.push_str(" end");
        let mut sql = Sql::new(&format!(
            "select 'qualified_monthly' as measure, {null_uuid} as key_id, cast(null as text) as key_text, \
             cast({case} as bigint) as key_num, count(*) as n, cast(null as bigint) as ms from leads l where"
        ));
        sql.args = monthly.args;
        lead_scope(&mut sql, org, scope);
        let first = q.month_bounds[0];
        let last = *q.month_bounds.last().expect("two bounds");
        sql.push_args(
            " and l.qualified_at >= {} and l.qualified_at < {}",
            [Arg::Time(first), Arg::Time(last)],
        );
        sql.push(&format!(" group by {case}"));
        queries.push(sql);
    }
    (tally, queries)
}

/// Overdue, due today and done in the period, by type or by owner.
pub(crate) fn activity_sql(backend: Backend, org: Uuid, scope: &ReportScope, q: &ActivityQuery) -> Vec<Sql> {
    let null_uuid = null_uuid(backend);
    let key = match q.grouping {
        ActivityGrouping::Type => (null_uuid, "a.type", "a.type"),
        ActivityGrouping::Owner => ("a.owner_id", "cast(null as text)", "a.owner_id"),
    };
    let select = |measure: &str| {
        Sql::new(&format!(
            "select '{measure}' as measure, {} as key_id, {} as key_text, cast(null as bigint) as key_num, \
             count(*) as n, cast(null as bigint) as ms from",
            key.0, key.1
        ))
    };
    let activities = |sql: &mut Sql, condition: &str, args: Vec<Arg>| {
        sql.push_args(
            " activities a where a.organization_id = {} and a.deleted_at is null",
            [Arg::Uuid(org)],
        );
        if let Some(owner) = scope.visible_owner {
            sql.push_args(" and a.owner_id = {}", [Arg::Uuid(owner)]);
        }
        if let Some(owner) = scope.owner_id {
            sql.push_args(" and a.owner_id = {}", [Arg::Uuid(owner)]);
        }
        sql.push_args(condition, args);
    };
    // Open at `as_of`: created by then and not yet done then. Those not done
    // at all and those done after `as_of` are read apart, each from its own
    // partial index (`activities_open_idx`, `activities_done_idx`).
    let open = |measure: &str, due: &str, due_args: Vec<Arg>| {
        let t = Arg::Time(q.as_of);
        let mut sql = select(measure);
        sql.push(" (select a.type, a.owner_id from");
        let mut args = vec![t.clone()];
        args.extend(due_args.clone());
        activities(
            &mut sql,
            &format!(" and a.done_at is null and a.created_at <= {{}}{due}"),
            args,
        );
        sql.push(" union all select a.type, a.owner_id from");
        let mut args = vec![t.clone(), t];
        args.extend(due_args);
        activities(
            &mut sql,
            &format!(" and a.done_at > {{}} and a.created_at <= {{}}{due}"),
            args,
        );
        sql.push(&format!(") a group by {}", key.2));
        sql
    };
    let mut done = select("done");
    activities(
        &mut done,
        " and a.done_at >= {} and a.done_at < {}",
        vec![Arg::Time(q.from), Arg::Time(q.to)],
    );
    done.push(&format!(" group by {}", key.2));
    vec![
        open("overdue", " and a.due_at < {}", vec![Arg::Time(q.as_of)]),
        open(
            "due_today",
            " and a.due_at >= {} and a.due_at < {}",
            vec![Arg::Time(q.today.0), Arg::Time(q.today.1)],
        ),
        done,
    ]
}
