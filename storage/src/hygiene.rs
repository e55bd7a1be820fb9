//! The hygiene report: what to clean in the pipeline. Each group is a
//! count and the first ids (oldest first) of the records that need a look:
//! stalled deals, deals past their expected close date, leads nobody has
//! touched, records without an email or a phone, records whose owner has
//! left, and duplicate candidates (the same email, phone digits or domain).
//! Plain queries over indexed columns, in one read-only snapshot.

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use uuid::Uuid;

use crate::{
    search::SearchKind,
    sql::{Arg, Sql},
    Backend, Result,
};

/// What the report is asked for.
#[derive(Debug, Clone)]
pub struct HygieneQuery {
    pub as_of: DateTime<Utc>,
    /// The organization's local date at `as_of`.
    pub today: NaiveDate,
    /// An open deal without activity for longer is idle (metrics.md, stalled).
    pub idle_days: i64,
    /// An open lead without activity for longer is untouched.
    pub untouched_days: i64,
    /// For a rep: their own records only.
    pub owner: Option<Uuid>,
    /// How many ids (or duplicate sets) each group lists.
    pub sample: u32,
}

/// Records that need a look.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HygieneGroup {
    pub key: &'static str,
    pub kind: SearchKind,
    pub count: i64,
    /// The first `sample`, oldest first.
    pub ids: Vec<Uuid>,
}

/// Records that share a value and may be one and the same.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DuplicateSet {
    pub value: String,
    pub records: Vec<(SearchKind, Uuid)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DuplicateGroup {
    pub key: &'static str,
    /// How many values are shared.
    pub count: i64,
    /// The first `sample` of them, by value.
    pub sets: Vec<DuplicateSet>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hygiene {
    pub groups: Vec<HygieneGroup>,
    pub duplicates: Vec<DuplicateGroup>,
}

#[async_trait]
pub trait HygieneStore {
    async fn hygiene(&self, org: Uuid, query: &HygieneQuery) -> Result<Hygiene>;
}

/// One group's records: a table, the rows that need a look (SQL with a
/// `{}` for each argument), the key.
struct Check {
    key: &'static str,
    kind: SearchKind,
    table: &'static str,
    condition: String,
    args: Vec<Arg>,
}

const OPEN_LEAD: &str = "deleted_at is null and status in ('new', 'contacted', 'qualified')";
const LIVE_CONTACT: &str = "deleted_at is null and erased_at is null";
const LIVE_ACCOUNT: &str = "deleted_at is null";
const OPEN_DEAL: &str = "deleted_at is null and status = 'open'";

/// The checks of `query` in `org`; `rotting` holds each rotting stage's
/// cut-off (a deal that entered it before then rots).
fn checks(org: Uuid, query: &HygieneQuery, rotting: &[(Uuid, DateTime<Utc>)]) -> Vec<Check> {
    let check = |key, kind, table, condition: String, args: Vec<Arg>| Check {
        key,
        kind,
        table,
        condition,
        args,
    };
    let idle = query.as_of - chrono::Duration::days(query.idle_days);
    let mut stalled = format!("{OPEN_DEAL} and (coalesce(live_activity_at, created_at) < {{}}");
    let mut stalled_args = vec![Arg::Time(idle)];
    for (stage, cutoff) in rotting {
        stalled.push_str(" or (stage_id = {} and stage_entered_at < {})");
        stalled_args.extend([Arg::Uuid(*stage), Arg::Time(*cutoff)]);
    }
    stalled.push(')');
    let untouched_since = query.as_of - chrono::Duration::days(query.untouched_days);
    let inactive = "owner_id in (select id from users where organization_id = {} and active = false)";
    let org_arg = || vec![Arg::Uuid(org)];
    vec![
        check("stalled_deals", SearchKind::Deal, "deals", stalled, stalled_args),
        check(
            "deals_past_expected_close",
            SearchKind::Deal,
            "deals",
            format!("{OPEN_DEAL} and expected_close_date < {{}}"),
            vec![Arg::Date(query.today)],
        ),
        check(
            "untouched_leads",
            SearchKind::Lead,
            "leads",
            format!("{OPEN_LEAD} and coalesce(last_activity_at, created_at) < {{}}"),
            vec![Arg::Time(untouched_since)],
        ),
        check(
            "leads_without_email",
            SearchKind::Lead,
            "leads",
            format!("{OPEN_LEAD} and email is null"),
            vec![],
        ),
        check(
            "leads_without_phone",
            SearchKind::Lead,
            "leads",
            format!("{OPEN_LEAD} and phone is null"),
            vec![],
        ),
        check(
            "contacts_without_email",
            SearchKind::Contact,
            "contacts",
            format!("{LIVE_CONTACT} and email is null"),
            vec![],
        ),
        check(
            "contacts_without_phone",
            SearchKind::Contact,
            "contacts",
            format!("{LIVE_CONTACT} and phone is null"),
            vec![],
        ),
        check(
            "leads_of_inactive_owners",
            SearchKind::Lead,
            "leads",
            format!("{OPEN_LEAD} and {inactive}"),
            org_arg(),
        ),
        check(
            "contacts_of_inactive_owners",
            SearchKind::Contact,
            "contacts",
            format!("{LIVE_CONTACT} and {inactive}"),
            org_arg(),
        ),
        check(
            "accounts_of_inactive_owners",
            SearchKind::Account,
            "accounts",
            format!("{LIVE_ACCOUNT} and {inactive}"),
            org_arg(),
        ),
        check(
            "deals_of_inactive_owners",
            SearchKind::Deal,
            "deals",
            format!("{OPEN_DEAL} and {inactive}"),
            org_arg(),
        ),
    ]
}

/// `select {head} from` the check's table, in the organization (and a
/// rep's own records), where the check holds.
fn scoped(org: Uuid, owner: Option<Uuid>, head: &str, check: &Check) -> Sql {
    let mut sql = Sql::new(head);
    sql.push_args(
        &format!(" from {} where organization_id = {{}}", check.table),
        [Arg::Uuid(org)],
    );
    if let Some(owner) = owner {
        sql.push_args(" and owner_id = {}", [Arg::Uuid(owner)]);
    }
    sql.push(" and ");
    sql.push_args(&check.condition, check.args.iter().cloned());
    sql
}

/// The digits of a phone number, in each dialect (as the search index
/// computes them).
fn phone_digits(backend: Backend, column: &str) -> String {
    match backend {
        Backend::Postgres => format!("regexp_replace({column}, '[^0-9]', '', 'g')"),
        Backend::Sqlite => format!(
            "replace(replace(replace(replace(replace(replace({column}, ' ', ''), '-', ''), '(', ''), ')', ''), '+', ''), '.', '')"
        ),
    }
}

/// The values shared by several records of the organization, with each
/// record's kind (`0` lead, `1` contact, `2` account) and id: `select
/// kind, id, value` branches.
fn shared_values(backend: Backend, key: &str, org: &str, owner: Option<&str>) -> String {
    let own = owner.map(|o| format!(" and owner_id = {o}")).unwrap_or_default();
    match key {
        "same_email" => format!(
            "select 0 as kind, id, email as value from leads where organization_id = {org}{own} and email is not null \
             and deleted_at is null and converted_at is null \
             union all select 1, id, email from contacts where organization_id = {org}{own} and email is not null \
             and deleted_at is null"
        ),
        "same_phone" => {
            let lead = phone_digits(backend, "phone");
            format!(
                "select 0 as kind, id, {lead} as value from leads where organization_id = {org}{own} \
                 and phone is not null and deleted_at is null and converted_at is null and length({lead}) >= 6 \
                 union all select 1, id, {lead} from contacts where organization_id = {org}{own} \
                 and phone is not null and deleted_at is null and length({lead}) >= 6"
            )
        }
        _ => format!(
            "select 2 as kind, id, domain as value from accounts where organization_id = {org}{own} \
             and domain is not null and deleted_at is null"
        ),
    }
}

pub(crate) const DUPLICATE_KEYS: [&str; 3] = ["same_email", "same_phone", "same_domain"];

/// The queries of a duplicate group: how many values are shared, the first
/// `sample` of them, and the records that share those.
pub(crate) fn duplicate_sql(backend: Backend, org: Uuid, query: &HygieneQuery, key: &str) -> (Sql, Sql, String) {
    let mut head = Sql::default();
    let org_ph = head.arg(Arg::Uuid(org));
    let owner_ph = query.owner.map(|o| head.arg(Arg::Uuid(o)));
    let values = shared_values(backend, key, &org_ph, owner_ph.as_deref());
    let mut count = Sql::new("");
    count.args = head.args.clone();
    count.push(&format!(
        "select count(*) from (select value from ({values}) v group by value having count(*) > 1) g"
    ));
    let mut sample = Sql::new("");
    sample.args = head.args.clone();
    sample.push(&format!(
        "select value from ({values}) v group by value having count(*) > 1 order by value limit "
    ));
    let limit = sample.arg(Arg::Int(i64::from(query.sample)));
    sample.push(&limit);
    (count, sample, values)
}

/// The count and sample queries of every check.
pub(crate) fn check_sql(
    org: Uuid,
    query: &HygieneQuery,
    rotting: &[(Uuid, DateTime<Utc>)],
) -> Vec<(&'static str, SearchKind, Sql, Sql)> {
    checks(org, query, rotting)
        .into_iter()
        .map(|check| {
            let count = scoped(org, query.owner, "select count(*)", &check);
            let mut ids = scoped(org, query.owner, "select id", &check);
            ids.push_args(" order by created_at, id limit {}", [Arg::Int(i64::from(query.sample))]);
            (check.key, check.kind, count, ids)
        })
        .collect()
}

/// Implements [`HygieneStore`] for a store type with `begin_snapshot`.
macro_rules! impl_hygiene_store {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl $crate::hygiene::HygieneStore for $store {
            #[tracing::instrument(skip_all)]
            async fn hygiene(
                &self,
                org: ::uuid::Uuid,
                query: &$crate::hygiene::HygieneQuery,
            ) -> $crate::Result<$crate::hygiene::Hygiene> {
                use $crate::hygiene::{DuplicateGroup, DuplicateSet, HygieneGroup};
                use $crate::search::SearchKind;
                let mut tx = self.begin_snapshot().await?;
                let stages: Vec<(::uuid::Uuid, i64)> = sqlx::query_as(
                    "select id, cast(rotting_days as bigint) from stages where organization_id = $1 and rotting_days is not null",
                )
                .bind(org)
                .fetch_all(&mut *tx)
                .await?;
                let rotting: Vec<(::uuid::Uuid, ::chrono::DateTime<::chrono::Utc>)> = stages
                    .into_iter()
                    .map(|(id, days)| (id, query.as_of - ::chrono::Duration::days(days)))
                    .collect();
                let mut groups = Vec::new();
                for (key, kind, count, ids) in $crate::hygiene::check_sql(org, query, &rotting) {
                    let n: i64 = $crate::sql::bind_args!(sqlx::query_scalar(&count.text), &count.args)
                        .fetch_one(&mut *tx)
                        .await?;
                    let ids: Vec<::uuid::Uuid> = $crate::sql::bind_args!(sqlx::query_scalar(&ids.text), &ids.args)
                        .fetch_all(&mut *tx)
                        .await?;
                    groups.push(HygieneGroup { key, kind, count: n, ids });
                }
                let mut duplicates = Vec::new();
                for key in $crate::hygiene::DUPLICATE_KEYS {
                    let (count, sample, values) = $crate::hygiene::duplicate_sql(BACKEND, org, query, key);
                    let n: i64 = $crate::sql::bind_args!(sqlx::query_scalar(&count.text), &count.args)
                        .fetch_one(&mut *tx)
                        .await?;
                    let shared: Vec<String> = $crate::sql::bind_args!(sqlx::query_scalar(&sample.text), &sample.args)
                        .fetch_all(&mut *tx)
                        .await?;
                    let mut sets = Vec::new();
                    if !shared.is_empty() {
                        let mut members = $crate::sql::Sql::new("");
                        members.args = count.args.clone();
                        members.push(&format!("select cast(kind as bigint), id, value from ({values}) v where value in ("));
                        for (i, value) in shared.iter().enumerate() {
                            if i > 0 {
                                members.push(", ");
                            }
                            let ph = members.arg($crate::sql::Arg::Text(value.clone()));
                            members.push(&ph);
                        }
                        members.push(") order by value, kind, id");
                        let rows: Vec<(i64, ::uuid::Uuid, String)> =
                            $crate::sql::bind_args!(sqlx::query_as(&members.text), &members.args)
                                .fetch_all(&mut *tx)
                                .await?;
                        for value in shared {
                            let records = rows
                                .iter()
                                .filter(|(_, _, v)| *v == value)
                                .filter_map(|(kind, id, _)| SearchKind::from_order(*kind).map(|k| (k, *id)))
                                .collect();
                            sets.push(DuplicateSet { value, records });
                        }
                    }
                    duplicates.push(DuplicateGroup { key, count: n, sets });
                }
                tx.commit().await?;
                Ok($crate::hygiene::Hygiene { groups, duplicates })
            }
        }
    };
}

pub(crate) use impl_hygiene_store;
