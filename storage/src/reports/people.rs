//! The leads and follow-up figures: counts of leads and activities, by
//! measure and key.

use uuid::Uuid;

use super::{
    members::{ms_between, null_uuid},
    ActivityGrouping, ActivityQuery, LeadQuery, ReportScope,
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

/// One count per measure and source; `lead_velocity` per month index.
pub(crate) fn lead_sql(backend: Backend, org: Uuid, scope: &ReportScope, q: &LeadQuery) -> Vec<Sql> {
    let null_uuid = null_uuid(backend);
    let by_source = |measure: &str, condition: &str, args: Vec<Arg>| {
        let mut sql = Sql::new(&format!(
            "select '{measure}' as measure, {null_uuid} as key_id, l.source as key_text, \
             cast(null as bigint) as key_num, count(*) as n, cast(null as bigint) as ms from leads l where"
        ));
        lead_scope(&mut sql, org, scope);
        sql.push_args(condition, args);
        sql.push(" group by l.source");
        sql
    };
    let created = " and l.created_at >= {} and l.created_at < {}";
    let period = || vec![Arg::Time(q.from), Arg::Time(q.to)];
    let with_as_of = |column: &str| {
        let mut args = period();
        args.push(Arg::Time(q.as_of));
        (
            format!("{created} and l.{column} is not null and l.{column} <= {{}}"),
            args,
        )
    };
    let mut queries = vec![
        by_source("created", created, period()),
        by_source(
            "qualified",
            " and l.qualified_at >= {} and l.qualified_at < {}",
            period(),
        ),
        by_source("mql", " and l.mql_at >= {} and l.mql_at < {}", period()),
        by_source(
            "mql_qualified",
            " and l.mql_at >= {} and l.mql_at < {} and l.qualified_at is not null and l.qualified_at <= {}",
            vec![Arg::Time(q.from), Arg::Time(q.to), Arg::Time(q.as_of)],
        ),
    ];
    let (condition, args) = with_as_of("qualified_at");
    queries.push(by_source("created_qualified", &condition, args));
    let (condition, args) = with_as_of("converted_at");
    queries.push(by_source("created_converted", &condition, args));

    // Hours to first response: from creation to the earliest activity.
    let mut first = Sql::new(&format!(
        "select 'first_response' as measure, {null_uuid} as key_id, cast(null as text) as key_text, \
         cast(null as bigint) as key_num, count(*) as n, cast(sum(f.ms) as bigint) as ms from (select "
    ));
    let earliest = "(select min(a.created_at) from activities a where a.lead_id = l.id and a.deleted_at is null)";
    let ms = ms_between(backend, earliest, "l.created_at");
    first.push(&format!("{ms} as ms from leads l where"));
    lead_scope(&mut first, org, scope);
    first.push_args(created, period());
    first.push(") f where f.ms is not null");
    queries.push(first);

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
    queries
}

/// Overdue, due today and done in the period, by type or by owner.
pub(crate) fn activity_sql(backend: Backend, org: Uuid, scope: &ReportScope, q: &ActivityQuery) -> Vec<Sql> {
    let null_uuid = null_uuid(backend);
    let key = match q.grouping {
        ActivityGrouping::Type => (null_uuid, "a.type", "a.type"),
        ActivityGrouping::Owner => ("a.owner_id", "cast(null as text)", "a.owner_id"),
    };
    let count = |measure: &str, condition: &str, args: Vec<Arg>| {
        let mut sql = Sql::new(&format!(
            "select '{measure}' as measure, {} as key_id, {} as key_text, cast(null as bigint) as key_num, \
             count(*) as n, cast(null as bigint) as ms from activities a where",
            key.0, key.1
        ));
        sql.push_args(" a.organization_id = {} and a.deleted_at is null", [Arg::Uuid(org)]);
        if let Some(owner) = scope.visible_owner {
            sql.push_args(" and a.owner_id = {}", [Arg::Uuid(owner)]);
        }
        if let Some(owner) = scope.owner_id {
            sql.push_args(" and a.owner_id = {}", [Arg::Uuid(owner)]);
        }
        sql.push_args(condition, args);
        sql.push(&format!(" group by {}", key.2));
        sql
    };
    // Open at `as_of`: created by then and not yet done then.
    let open = " and a.created_at <= {} and (a.done_at is null or a.done_at > {})";
    let t = Arg::Time(q.as_of);
    vec![
        count(
            "overdue",
            &format!("{open} and a.due_at < {{}}"),
            vec![t.clone(), t.clone(), t.clone()],
        ),
        count(
            "due_today",
            &format!("{open} and a.due_at >= {{}} and a.due_at < {{}}"),
            vec![t.clone(), t, Arg::Time(q.today.0), Arg::Time(q.today.1)],
        ),
        count(
            "done",
            " and a.done_at >= {} and a.done_at < {}",
            vec![Arg::Time(q.from), Arg::Time(q.to)],
        ),
    ]
}
