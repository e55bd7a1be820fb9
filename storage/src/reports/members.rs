//! The member queries of the deal figures, and the three ways a report
//! reads them: grouped into facts, as duration samples, and page by page for
//! a drill-down. Every member query selects the same columns:
//! `deal_id, pos, currency, amount_minor, weighted_minor, key_id, key_text,
//! key_num, flag, ms, ms2, title, owner_id`.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{DealSet, Drill, Grouping, ReportScope, STALLED_IDLE, STALLED_ROTTING};
use crate::{
    sql::{Arg, Sql},
    Backend,
};

/// Milliseconds from `earlier` to `later`, rounded to a whole number on both
/// backends, so that sums and medians agree exactly between them.
pub(crate) fn ms_between(backend: Backend, later: &str, earlier: &str) -> String {
    match backend {
        // `date_part` of the interval is a double, exact to the microsecond
        // for any span of centuries; `extract` would compute in `numeric`,
        // five times slower over a year of stints. Half a millisecond rounds
        // up, as SQLite's `round` does.
        Backend::Postgres => format!("cast(floor(date_part('epoch', {later} - {earlier}) * 1000 + 0.5) as bigint)"),
        Backend::Sqlite => format!("cast(round((julianday({later}) - julianday({earlier})) * 86400000.0) as integer)"),
    }
}

pub(super) fn null_uuid(backend: Backend) -> &'static str {
    match backend {
        Backend::Postgres => "cast(null as uuid)",
        Backend::Sqlite => "cast(null as blob)",
    }
}

/// The deal filters every figure shares, on alias `d`.
fn scope_filter(sql: &mut Sql, org: Uuid, scope: &ReportScope) {
    sql.push_args(" and d.organization_id = {} and d.deleted_at is null", [Arg::Uuid(org)]);
    if let Some(owner) = scope.visible_owner {
        sql.push_args(" and d.owner_id = {}", [Arg::Uuid(owner)]);
    }
    if let Some(owner) = scope.owner_id {
        sql.push_args(" and d.owner_id = {}", [Arg::Uuid(owner)]);
    }
    if let Some(source) = &scope.source {
        sql.push_args(" and d.source = {}", [Arg::Text(source.clone())]);
    }
}

/// `column` is the id of a live deal in the scope. Without an owner or
/// source to compare, that only leaves out the trashed deals (a few, from
/// `deals_trashed_idx`): a stint is counted without reading its deal.
fn deal_filter(sql: &mut Sql, column: &str, org: Uuid, scope: &ReportScope) {
    if scope.visible_owner.is_none() && scope.owner_id.is_none() && scope.source.is_none() {
        sql.push_args(
            &format!(" and {column} not in (select t.id from deals t where t.organization_id = {{}} and t.deleted_at is not null)"),
            [Arg::Uuid(org)],
        );
    } else {
        sql.push(&format!(" and {column} in (select d.id from deals d where 1 = 1"));
        scope_filter(sql, org, scope);
        sql.push(")");
    }
}

/// `column`'s pipeline equals the scope's, if it names one.
fn pipeline_filter(sql: &mut Sql, column: &str, scope: &ReportScope) {
    if let Some(pipeline) = scope.pipeline_id {
        sql.push_args(&format!(" and {column} = {{}}"), [Arg::Uuid(pipeline)]);
    }
}

/// A `case` giving the index of the bucket that `value` falls in.
fn bucket_case(sql: &mut Sql, value: &str, bounds: &[Arg]) -> String {
    let mut text = format!("case when {value} is null then -1");
    if let Some(first) = bounds.first() {
        let p = sql.arg(first.clone());
        text.push_str(&format!(" when {value} < {p} then -3"));
    }
    for (i, bound) in bounds.iter().enumerate().skip(1) {
        let p = sql.arg(bound.clone());
        text.push_str(&format!(" when {value} < {p} then {}", i - 1));
    }
    text.push_str(" else -3 end");
    text
}

struct Columns {
    deal_id: String,
    pos: String,
    currency: String,
    amount: String,
    owner: String,
    weighted: String,
    key_id: String,
    key_text: String,
    key_num: String,
    flag: String,
    ms: String,
    ms2: String,
}

impl Columns {
    fn new(backend: Backend) -> Self {
        Self {
            deal_id: "d.id".into(),
            pos: "d.id".into(),
            currency: "d.currency".into(),
            amount: "d.amount_minor".into(),
            owner: "d.owner_id".into(),
            weighted: "0".into(),
            key_id: null_uuid(backend).into(),
            key_text: "cast(null as text)".into(),
            key_num: "cast(null as bigint)".into(),
            flag: "0".into(),
            ms: "cast(null as bigint)".into(),
            ms2: "cast(null as bigint)".into(),
        }
    }

    /// A figure that counts its members and sums no money, so that they
    /// are read without their deal rows: `deal_id` and `pos` name them.
    fn counting(backend: Backend, deal_id: &str, pos: &str) -> Self {
        Self {
            deal_id: deal_id.into(),
            pos: pos.into(),
            currency: "''".into(),
            amount: "0".into(),
            owner: null_uuid(backend).into(),
            ..Self::new(backend)
        }
    }

    /// A stint figure, from the event log alone, by stage.
    fn of_stints(backend: Backend) -> Self {
        Self {
            key_id: "st.stage_id".into(),
            ..Self::counting(backend, "st.deal_id", "st.id")
        }
    }

    fn select(&self) -> String {
        format!(
            "select {} as deal_id, {} as pos, cast({} as text) as currency, cast({} as bigint) as amount_minor, \
             cast({} as bigint) as weighted_minor, {} as key_id, {} as key_text, cast({} as bigint) as key_num, \
             cast({} as bigint) as flag, {} as ms, {} as ms2, {} as owner_id",
            self.deal_id,
            self.pos,
            self.currency,
            self.amount,
            self.weighted,
            self.key_id,
            self.key_text,
            self.key_num,
            self.flag,
            self.ms,
            self.ms2,
            self.owner
        )
    }
}

/// The member query of `set`.
fn members(backend: Backend, org: Uuid, scope: &ReportScope, set: &DealSet) -> Sql {
    let mut cols = Columns::new(backend);
    let mut sql = Sql::default();
    // The select list is written last (it may need arguments of its own), so
    // the body is built apart and its placeholders renumbered by position.
    let mut body = Sql::default();
    match set {
        DealSet::Closed {
            status,
            from,
            to,
            grouping,
        } => {
            body.push(" from deals d where 1 = 1");
            scope_filter(&mut body, org, scope);
            body.push_args(
                " and d.status = {} and d.closed_at >= {} and d.closed_at < {}",
                [Arg::Text(status.as_str().into()), Arg::Time(*from), Arg::Time(*to)],
            );
            pipeline_filter(&mut body, "d.pipeline_id", scope);
            cols.ms = ms_between(backend, "d.closed_at", "d.created_at");
            match grouping {
                Grouping::Total => {}
                Grouping::Owner => cols.key_id = "d.owner_id".into(),
                Grouping::Source => cols.key_text = "d.source".into(),
                Grouping::Pipeline => cols.key_id = "d.pipeline_id".into(),
                Grouping::Stage => cols.key_id = "d.stage_id".into(),
                Grouping::LostReason => cols.key_text = "d.lost_reason".into(),
                Grouping::Instants(bounds) => {
                    let bounds: Vec<Arg> = bounds.iter().map(|b| Arg::Time(*b)).collect();
                    cols.key_num = bucket_case(&mut sql, "d.closed_at", &bounds);
                }
            }
        }
        DealSet::OpenAt { at, grouping } => {
            open_at(&mut body, org, scope, *at);
            cols.weighted = "d.amount_minor * coalesce(d.probability, s.probability, 0)".into();
            let at_p = sql.arg(Arg::Time(*at));
            cols.ms = ms_between(backend, &at_p, "d.at_since");
            match grouping {
                Grouping::Total | Grouping::Instants(_) | Grouping::LostReason => {}
                Grouping::Owner => cols.key_id = "d.owner_id".into(),
                Grouping::Source => cols.key_text = "d.source".into(),
                Grouping::Pipeline => cols.key_id = "d.at_pipeline".into(),
                Grouping::Stage => cols.key_id = "d.at_stage".into(),
            }
        }
        DealSet::Forecast { as_of, today, bounds } => {
            open_at(&mut body, org, scope, *as_of);
            cols.weighted = "d.amount_minor * coalesce(d.probability, s.probability, 0)".into();
            let today_p = sql.arg(Arg::Date(*today));
            let dates: Vec<Arg> = bounds.iter().map(|b| Arg::Date(*b)).collect();
            let buckets = bucket_case(&mut sql, "d.expected_close_date", &dates);
            cols.key_num = format!(
                "case when d.expected_close_date is null then -1 when d.expected_close_date < {today_p} then -2 \
                 else {buckets} end"
            );
            cols.flag = "case when d.forecast_category = 'commit' then 1 else 0 end".into();
        }
        DealSet::Cohort { from, to, as_of } => {
            // One grouped pass over the stints in the pipeline since `from`
            // (a cohort deal has no event before its creation): each deal's
            // highest position reached by `as_of`, and whether its creation
            // is one of them, in [from, to). Stages deleted since have no
            // position, as before.
            body.push_args(
                " from (select y.deal_id, max(rs.position) as position, \
                 max(case when y.kind = 'created' and y.at < {} then 1 else 0 end) as cohort \
                 from deal_events y left join stages rs on rs.id = y.stage_id \
                 where y.organization_id = {} and y.opens_stint = 1 and y.at >= {} and y.at <= {}",
                [Arg::Time(*to), Arg::Uuid(org), Arg::Time(*from), Arg::Time(*as_of)],
            );
            pipeline_filter(&mut body, "y.pipeline_id", scope);
            body.push(" group by y.deal_id) r where r.cohort = 1");
            deal_filter(&mut body, "r.deal_id", org, scope);
            // A cohort figure counts deals, not money, and reads no deal row
            // one by one. Won at `as_of`: among the deals won now with no
            // event since, closed since `from` as a cohort deal must have
            // been (a range of `deals_closed_idx`); a deal with a later event
            // is replayed from its latest status event by then.
            cols = Columns::counting(backend, "r.deal_id", "r.deal_id");
            cols.key_num = "r.position".into();
            let (o1, o2) = (sql.arg(Arg::Uuid(org)), sql.arg(Arg::Uuid(org)));
            let (f1, q1, q2, q3) = (
                sql.arg(Arg::Time(*from)),
                sql.arg(Arg::Time(*as_of)),
                sql.arg(Arg::Time(*as_of)),
                sql.arg(Arg::Time(*as_of)),
            );
            cols.flag = format!(
                "case when r.deal_id in (select w.id from deals w where w.organization_id = {o1} \
                 and w.deleted_at is null and w.status = 'won' and w.closed_at >= {f1} \
                 and w.last_event_at <= {q1}) then 1 \
                 when r.deal_id in (select l.id from deals l where l.organization_id = {o2} \
                 and l.deleted_at is null and l.last_event_at > {q2}) \
                 and (select x.kind from deal_events x where x.deal_id = r.deal_id and x.at <= {q3} \
                 and x.kind in ('won', 'lost', 'reopened') order by x.at desc, x.id desc limit 1) = 'won' \
                 then 1 else 0 end"
            );
        }
        DealSet::StintsEnded { from, to } => {
            body.push_args(
                " from deal_events st where st.organization_id = {} and st.opens_stint = 1 \
                 and st.ends_at >= {} and st.ends_at < {}",
                [Arg::Uuid(org), Arg::Time(*from), Arg::Time(*to)],
            );
            pipeline_filter(&mut body, "st.pipeline_id", scope);
            deal_filter(&mut body, "st.deal_id", org, scope);
            cols = Columns::of_stints(backend);
            cols.ms = "st.duration_ms".into();
        }
        DealSet::StintsStarted {
            from,
            to,
            as_of,
            censor_at,
        } => {
            body.push_args(
                " from deal_events st left join stages ss on ss.id = st.stage_id \
                 left join stages zs on zs.id = st.next_stage_id where st.organization_id = {} and st.opens_stint = 1 \
                 and st.at >= {} and st.at < {} and st.at <= {}",
                [Arg::Uuid(org), Arg::Time(*from), Arg::Time(*to), Arg::Time(*as_of)],
            );
            pipeline_filter(&mut body, "st.pipeline_id", scope);
            deal_filter(&mut body, "st.deal_id", org, scope);
            let as_of_p = sql.arg(Arg::Time(*as_of));
            let c1 = sql.arg(Arg::Time(*censor_at));
            let c2 = sql.arg(Arg::Time(*censor_at));
            let c3 = sql.arg(Arg::Time(*censor_at));
            cols = Columns::of_stints(backend);
            cols.key_num = format!(
                "case when st.ends_at is null or st.ends_at > {as_of_p} then 0 when st.next_kind = 'won' then 1 \
                 when st.next_kind = 'lost' then 3 when st.next_pipeline_id <> st.pipeline_id then 4 \
                 when zs.position > ss.position then 1 when zs.position < ss.position then 2 else 4 end"
            );
            cols.flag = format!("case when st.ends_at is null or st.ends_at > {c1} then 1 else 0 end");
            cols.ms = format!(
                "case when st.ends_at is null or st.ends_at > {c2} then {} else st.duration_ms end",
                ms_between(backend, &c3, "st.at"),
            );
        }
        DealSet::Stalled { as_of, idle_days } => {
            // Computed in an inner query, filtered on its flags outside.
            let mut inner = Sql::default();
            open_at(&mut inner, org, scope, *as_of);
            let mut inner_cols = Columns::new(backend);
            let mut head = Sql::default();
            let t = |head: &mut Sql| head.arg(Arg::Time(*as_of));
            let (t0, t1, t2, t3, t4, t5) = (
                t(&mut head),
                t(&mut head),
                t(&mut head),
                t(&mut head),
                t(&mut head),
                t(&mut head),
            );
            let idle_ms = head.arg(Arg::Int(idle_days * 86_400_000));
            // The latest activity known at `as_of`: created by then, counted at
            // its completion if that came later and by then too. When the
            // deal's latest live activity is no later than `as_of` (or it has
            // none), that is the answer; else its activities are read.
            let last_activity = format!(
                "(case when d.live_activity_at is null or d.live_activity_at <= {t0} then d.live_activity_at \
                 else (select max(case when a.done_at is not null and a.done_at <= {t1} and a.done_at > a.created_at \
                 then a.done_at else a.created_at end) from activities a \
                 where a.deal_id = d.id and a.deleted_at is null and a.created_at <= {t2}) end)"
            );
            let stint_ms = ms_between(backend, &t3, "d.at_since");
            let since_activity = ms_between(backend, &t4, &last_activity);
            let since_created = ms_between(backend, &t5, "d.created_at");
            inner_cols.key_id = "d.at_stage".into();
            inner_cols.ms = stint_ms.clone();
            inner_cols.ms2 = since_activity.clone();
            inner_cols.flag = format!(
                "(case when s.rotting_days is not null and {stint_ms} > s.rotting_days * 86400000 then {STALLED_ROTTING} else 0 end) \
                 + (case when coalesce({since_activity}, {since_created}) > {idle_ms} then {STALLED_IDLE} else 0 end)"
            );
            let mut whole = head;
            whole.push(&inner_cols.select());
            append(&mut whole, inner);
            let mut out = Sql::new("select * from (");
            append(&mut out, whole);
            out.push(") q where q.flag > 0");
            return out;
        }
    }
    sql.push(&cols.select());
    append(&mut sql, body);
    sql
}

/// Deals open at `at`, as alias `d` with the deal's state then: `at_stage`,
/// `at_pipeline` and `at_since` (when its running stint started). A deal
/// whose last event is at or before `at` is as it is now: if it is open, it
/// is read from `deals_open_idx` alone. Only the deals with a later event
/// replay their log (the lookups sit in `case` branches, evaluated for those
/// deals only: a join would read every deal's log). Deals closed now with
/// no later event cannot have been open at `at` and are not read at all.
fn open_at(body: &mut Sql, org: Uuid, scope: &ReportScope, at: DateTime<Utc>) {
    // The columns the figures read, all covered by `deals_open_idx`.
    const COLUMNS: &str = "d.id, d.owner_id, d.source, d.currency, d.amount_minor, d.probability, \
                           d.expected_close_date, d.forecast_category, d.created_at, d.live_activity_at";
    let t = body.arg(Arg::Time(at));
    let latest = |column: &str, kinds: &str| {
        format!(
            "(select x.{column} from deal_events x where x.deal_id = d.id and x.at <= {t}{kinds} \
             order by x.at desc, x.id desc limit 1)"
        )
    };
    let status_kinds = " and x.kind in ('won', 'lost', 'reopened')";
    body.push(&format!(
        " from (select {COLUMNS}, d.stage_id as at_stage, d.pipeline_id as at_pipeline, \
         d.stage_entered_at as at_since, 1 as at_open \
         from deals d where d.status = 'open' and d.last_event_at <= {t}"
    ));
    scope_filter(body, org, scope);
    body.push(&format!(
        " union all select {COLUMNS}, {stage} as at_stage, {pipeline} as at_pipeline, {since} as at_since, \
         case when {created} is null then 0 \
              when coalesce({status}, 'reopened') = 'reopened' then 1 else 0 end as at_open \
         from deals d where d.last_event_at > {t}",
        stage = latest("stage_id", ""),
        pipeline = latest("pipeline_id", ""),
        since = latest("at", ""),
        created = latest("id", ""),
        status = latest("kind", status_kinds),
    ));
    scope_filter(body, org, scope);
    body.push(") d left join stages s on s.id = d.at_stage where d.at_open = 1");
    pipeline_filter(body, "d.at_pipeline", scope);
}

/// Appends `tail`, renumbering its placeholders after those of `sql`.
fn append(sql: &mut Sql, tail: Sql) {
    let offset = sql.args.len();
    let mut text = String::with_capacity(tail.text.len());
    let mut chars = tail.text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '$' && chars.peek().is_some_and(char::is_ascii_digit) {
            let mut digits = String::new();
            while let Some(d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                digits.push(*d);
                chars.next();
            }
            let n: usize = digits.parse().expect("digits");
            text.push_str(&format!("${}", n + offset));
        } else {
            text.push(c);
        }
    }
    sql.text.push_str(&text);
    sql.args.extend(tail.args);
}

/// The members of `set` grouped by key, flag and currency.
pub(crate) fn facts_sql(backend: Backend, org: Uuid, scope: &ReportScope, set: &DealSet) -> Sql {
    let mut sql = Sql::new(
        "select key_id, key_text, key_num, flag, currency, count(*) as n, cast(sum(amount_minor) as bigint) as minor, \
         cast(sum(weighted_minor) as bigint) as weighted, cast(sum(ms) as bigint) as ms from (",
    );
    append(&mut sql, members(backend, org, scope, set));
    sql.push(") m group by key_id, key_text, key_num, flag, currency");
    sql
}

/// Every member's duration, as one list per key and flag.
pub(crate) fn samples_sql(backend: Backend, org: Uuid, scope: &ReportScope, set: &DealSet) -> Sql {
    let packed = format!("ms * {} + flag", super::SAMPLE_FLAGS);
    let list = match backend {
        Backend::Postgres => format!("string_agg(cast({packed} as text), ',')"),
        Backend::Sqlite => format!("group_concat({packed}, ',')"),
    };
    // Not by `key_num`: no duration figure is split by it, and left out, the
    // database need not compute it (nor join the stages it compares).
    let mut sql = Sql::new(&format!("select key_id, key_text, {list} as members from ("));
    append(&mut sql, members(backend, org, scope, set));
    sql.push(") m where ms is not null group by key_id, key_text");
    sql
}

/// The first `limit` stalled deals (all without one), longest in their
/// stage first. Titles are read for those deals only, after the limit.
pub(crate) fn stalled_sql(backend: Backend, org: Uuid, scope: &ReportScope, set: &DealSet, limit: Option<u32>) -> Sql {
    let mut sql = Sql::new(
        "select m.deal_id, t.title, m.owner_id, m.key_id as stage_id, m.flag, m.ms, m.ms2 from \
         (select * from (",
    );
    append(&mut sql, members(backend, org, scope, set));
    sql.push(") m0 order by ms desc, deal_id");
    if let Some(limit) = limit {
        sql.push_args(" limit {}", [Arg::Int(i64::from(limit))]);
    }
    sql.push(") m join deals t on t.id = m.deal_id order by m.ms desc, m.deal_id");
    sql
}

/// A page of the members `drill` admits, by position.
pub(crate) fn drill_sql(
    backend: Backend,
    org: Uuid,
    scope: &ReportScope,
    set: &DealSet,
    drill: &Drill,
    after: Option<Uuid>,
    limit: u32,
) -> Sql {
    let mut sql = Sql::new("select deal_id, pos from (");
    append(&mut sql, members(backend, org, scope, set));
    sql.push(") m where 1 = 1");
    match &drill.key_id {
        Some(Some(id)) => {
            sql.push_args(" and m.key_id = {}", [Arg::Uuid(*id)]);
        }
        Some(None) => {
            sql.push(" and m.key_id is null");
        }
        None => {}
    }
    match &drill.key_text {
        Some(Some(text)) => {
            sql.push_args(" and m.key_text = {}", [Arg::Text(text.clone())]);
        }
        Some(None) => {
            sql.push(" and m.key_text is null");
        }
        None => {}
    }
    if let Some(num) = drill.key_num {
        sql.push_args(" and m.key_num = {}", [Arg::Int(num)]);
    }
    if let Some(flag) = drill.flag {
        sql.push_args(" and m.flag = {}", [Arg::Int(flag)]);
    }
    if let Some(position) = drill.reached {
        sql.push_args(" and (m.flag = 1 or m.key_num >= {})", [Arg::Int(position)]);
    }
    if let Some(after) = after {
        sql.push_args(" and m.pos > {}", [Arg::Uuid(after)]);
    }
    sql.push_args(" order by m.pos limit {}", [Arg::Int(i64::from(limit))]);
    sql
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appended_placeholders_follow_the_existing_ones() {
        let mut head = Sql::new("select ");
        let a = head.arg(Arg::Int(1));
        head.push(&a);
        let mut tail = Sql::new(" where x = ");
        let b = tail.arg(Arg::Int(2));
        tail.push(&b).push_args(" and y = {}", [Arg::Int(3)]);
        append(&mut head, tail);
        assert_eq!(head.text, "select $1 where x = $2 and y = $3");
        assert_eq!(head.args.len(), 3);
    }
}
