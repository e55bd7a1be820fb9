//! The frequency tables predicted conversion learns from. Triggers on
//! `leads` (migration 0013) keep `lead_outcome_counts` in the transaction
//! that converts, disqualifies, reopens, edits, trashes or restores a closed
//! lead; a rebuild recounts them from the leads in one statement.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use pipewise_domain::{
    potential::EmployeeBand,
    prediction::{Features, Field, Outcome, Tables},
};
use uuid::Uuid;

use crate::{Result, StoreError};

/// A closed lead, as the prediction reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct ClosedLead {
    pub id: Uuid,
    pub features: Features,
    pub outcome: Outcome,
}

#[async_trait]
pub trait PredictionStore {
    /// The organization's frequency tables.
    async fn prediction_tables(&self, org: Uuid) -> Result<Tables>;
    /// Recounts the organization's tables from its leads, and returns them.
    async fn rebuild_prediction_tables(&self, org: Uuid) -> Result<Tables>;
    /// The tables, and the live leads closed in [from, to) (of `owner` only,
    /// when given), read in one snapshot.
    async fn closed_leads(
        &self,
        org: Uuid,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        owner: Option<Uuid>,
    ) -> Result<(Tables, Vec<ClosedLead>)>;
}

/// One row of `lead_outcome_counts`.
#[derive(sqlx::FromRow)]
pub(crate) struct CountRow {
    field: String,
    value: String,
    successes: i64,
    failures: i64,
}

pub(crate) const COUNTS_SQL: &str =
    "select field, value, successes, failures from lead_outcome_counts where organization_id = $1";

/// The totals row alone, for a list that sorts or filters by prediction.
pub(crate) const TOTALS_SQL: &str = "select field, value, successes, failures from lead_outcome_counts
     where organization_id = $1 and field = 'all' and value = ''";

/// Field `all` (value '') holds the totals; '' is a missing value.
pub(crate) fn tables(rows: Vec<CountRow>) -> Result<Tables> {
    let mut tables = Tables::default();
    for row in rows {
        let count =
            |n: i64| u64::try_from(n).map_err(|_| StoreError::Corrupt(format!("a negative lead outcome count: {n}")));
        let counts = (count(row.successes)?, count(row.failures)?);
        if row.field == "all" {
            (tables.successes, tables.failures) = counts;
            continue;
        }
        let field = Field::ALL
            .into_iter()
            .find(|f| f.as_str() == row.field)
            .ok_or_else(|| StoreError::Corrupt(format!("an unknown prediction field: {}", row.field)))?;
        let value = Some(row.value).filter(|v| !v.is_empty());
        tables.counts.insert((field, value), counts);
    }
    Ok(tables)
}

/// How a closed lead reads from `leads`.
#[derive(sqlx::FromRow)]
pub(crate) struct ClosedLeadRow {
    id: Uuid,
    source: Option<String>,
    industry: Option<String>,
    employee_count: Option<i64>,
    country: Option<String>,
    email_domain_kind: Option<String>,
    status: String,
}

impl TryFrom<ClosedLeadRow> for ClosedLead {
    type Error = StoreError;

    fn try_from(r: ClosedLeadRow) -> Result<Self> {
        let outcome = match r.status.as_str() {
            "converted" => Outcome::Converted,
            "unqualified" => Outcome::Unqualified,
            other => return Err(StoreError::Corrupt(format!("a closed lead with status {other}"))),
        };
        Ok(ClosedLead {
            id: r.id,
            features: Features::new(
                r.source,
                r.industry,
                r.employee_count
                    .and_then(EmployeeBand::of)
                    .map(|b| b.as_str().to_owned()),
                r.country,
                r.email_domain_kind,
            ),
            outcome,
        })
    }
}

pub(crate) const CLOSED_LEADS_SQL: &str =
    "select id, source, industry, employee_count, country, email_domain_kind, status
     from leads
     where organization_id = $1 and closed_at >= $2 and closed_at < $3 and deleted_at is null
       and status in ('converted', 'unqualified') and ($4 is null or owner_id = $4)
     order by closed_at, id";

/// Recounts one organization's tables. The upsert settles a race on
/// PostgreSQL: a conversion committed between the delete and this insert
/// may have created a row this insert also counts.
pub(crate) fn rebuild_sql() -> String {
    const CLOSED: &str =
        "from leads where organization_id = $1 and deleted_at is null and status in ('converted', 'unqualified')";
    let arms: Vec<String> = [("all", "''")]
        .into_iter()
        .chain(Field::ALL.into_iter().map(|f| (f.as_str(), column_value(f))))
        .map(|(field, value)| format!("select status, '{field}' as field, {value} as value {CLOSED}"))
        .collect();
    format!(
        "insert into lead_outcome_counts (organization_id, field, value, successes, failures)
         select $1, field, value, successes, failures from (
             select field, value,
                    sum(case when status = 'converted' then 1 else 0 end) as successes,
                    sum(case when status = 'unqualified' then 1 else 0 end) as failures
             from ({}) as f
             group by field, value
         ) as g
         where true
         on conflict (organization_id, field, value) do update
         set successes = excluded.successes, failures = excluded.failures",
        arms.join(" union all ")
    )
}

/// A lead's value of `field` as the tables key it, from its own columns.
pub(crate) fn column_value(field: Field) -> &'static str {
    match field {
        Field::Source => "coalesce(source, '')",
        Field::Industry => "coalesce(industry, '')",
        Field::EmployeeBand => {
            "case when employee_count between 1 and 10 then '1-10' \
             when employee_count between 11 and 50 then '11-50' \
             when employee_count between 51 and 200 then '51-200' \
             when employee_count between 201 and 1000 then '201-1000' \
             when employee_count between 1001 and 5000 then '1001-5000' \
             when employee_count > 5000 then '5001+' else '' end"
        }
        Field::Country => "coalesce(country, '')",
        Field::EmailDomainKind => "coalesce(email_domain_kind, '')",
    }
}

/// Leads per statement when the email domain kinds of leads stored before
/// the column existed are filled in.
pub(crate) const BACKFILL_BATCH: i64 = 1000;

/// Implements [`PredictionStore`], and the backfill of `email_domain_kind`.
macro_rules! impl_prediction_store {
    ($store:ty) => {
        mod prediction_store {
            use super::*;
            use ::chrono::{DateTime, Utc};
            use ::pipewise_domain::{prediction::Tables, scoring::email_domain_kind};
            use ::uuid::Uuid;
            use $crate::prediction::{
                rebuild_sql, tables, ClosedLead, ClosedLeadRow, CountRow, BACKFILL_BATCH, CLOSED_LEADS_SQL, COUNTS_SQL,
            };

            #[async_trait::async_trait]
            impl $crate::prediction::PredictionStore for $store {
                #[tracing::instrument(skip_all)]
                async fn prediction_tables(&self, org: Uuid) -> $crate::Result<Tables> {
                    let rows = sqlx::query_as::<_, CountRow>(COUNTS_SQL)
                        .bind(org)
                        .fetch_all(&self.pool)
                        .await?;
                    tables(rows)
                }

                #[tracing::instrument(skip_all)]
                async fn rebuild_prediction_tables(&self, org: Uuid) -> $crate::Result<Tables> {
                    let mut tx = self.begin_write().await?;
                    sqlx::query("delete from lead_outcome_counts where organization_id = $1")
                        .bind(org)
                        .execute(&mut *tx)
                        .await?;
                    sqlx::query(&rebuild_sql()).bind(org).execute(&mut *tx).await?;
                    let rows = sqlx::query_as::<_, CountRow>(COUNTS_SQL)
                        .bind(org)
                        .fetch_all(&mut *tx)
                        .await?;
                    tx.commit().await?;
                    tables(rows)
                }

                #[tracing::instrument(skip_all)]
                async fn closed_leads(
                    &self,
                    org: Uuid,
                    from: DateTime<Utc>,
                    to: DateTime<Utc>,
                    owner: Option<Uuid>,
                ) -> $crate::Result<(Tables, Vec<ClosedLead>)> {
                    let mut tx = self.begin_snapshot().await?;
                    let counts = sqlx::query_as::<_, CountRow>(COUNTS_SQL)
                        .bind(org)
                        .fetch_all(&mut *tx)
                        .await?;
                    let leads = sqlx::query_as::<_, ClosedLeadRow>(CLOSED_LEADS_SQL)
                        .bind(org)
                        .bind(from)
                        .bind(to)
                        .bind(owner)
                        .fetch_all(&mut *tx)
                        .await?;
                    tx.commit().await?;
                    Ok((tables(counts)?, leads.into_iter().map(TryInto::try_into).collect::<$crate::Result<_>>()?))
                }
            }

            impl $store {
                /// Fills in `email_domain_kind` for leads stored before it
                /// existed; the triggers move their counts as it changes.
                pub(crate) async fn backfill_email_domain_kinds(&self) -> $crate::Result<()> {
                    loop {
                        let mut tx = self.begin_write().await?;
                        let rows: Vec<(Uuid, String)> = sqlx::query_as(
                            "select id, email from leads where email is not null and email_domain_kind is null limit $1",
                        )
                        .bind(BACKFILL_BATCH)
                        .fetch_all(&mut *tx)
                        .await?;
                        // One statement per kind and batch: on PostgreSQL the counting
                        // trigger runs per statement, and a million one-row updates
                        // would take it a million times. A stored address always has
                        // a domain; were one to lack it, `business` still keeps it
                        // from being read again.
                        for kind in [::pipewise_domain::scoring::DOMAIN_KIND_BUSINESS, ::pipewise_domain::scoring::DOMAIN_KIND_FREE] {
                            let ids: Vec<$crate::sql::Arg> = rows
                                .iter()
                                .filter(|(_, email)| email_domain_kind(email).unwrap_or(::pipewise_domain::scoring::DOMAIN_KIND_BUSINESS) == kind)
                                .map(|(id, _)| $crate::sql::Arg::Uuid(*id))
                                .collect();
                            if ids.is_empty() {
                                continue;
                            }
                            let mut sql = $crate::sql::Sql::new("update leads set email_domain_kind = ");
                            sql.push_args("{} where id in (", [$crate::sql::Arg::Text(kind.to_owned())]);
                            let placeholders = vec!["{}"; ids.len()].join(", ");
                            sql.push_args(&placeholders, ids);
                            sql.push(")");
                            $crate::sql::bind_args!(sqlx::query(&sql.text), &sql.args)
                                .execute(&mut *tx)
                                .await?;
                        }
                        tx.commit().await?;
                        if (rows.len() as i64) < BACKFILL_BATCH {
                            return Ok(());
                        }
                    }
                }
            }
        }
    };
}

pub(crate) use impl_prediction_store;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rebuild_counts_every_field_and_the_totals() {
        let sql = rebuild_sql();
        assert_eq!(sql.matches(" union all ").count(), Field::ALL.len());
        assert!(sql.contains("select status, 'all' as field, '' as value from leads where organization_id = $1"));
        assert!(sql.contains("'email_domain_kind' as field, coalesce(email_domain_kind, '') as value"));
    }

    #[test]
    fn the_totals_row_and_missing_values_read_back() {
        let row = |field: &str, value: &str, s, u| CountRow {
            field: field.into(),
            value: value.into(),
            successes: s,
            failures: u,
        };
        let t = tables(vec![
            row("all", "", 8, 12),
            row("industry", "", 0, 12),
            row("source", "web", 6, 2),
        ])
        .unwrap();
        assert_eq!((t.successes, t.failures), (8, 12));
        assert_eq!(t.counts[&(Field::Industry, None)], (0, 12));
        assert_eq!(t.counts[&(Field::Source, Some("web".into()))], (6, 2));
        assert!(tables(vec![row("all", "", -1, 0)]).is_err());
    }
}
