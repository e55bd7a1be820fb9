//! Scoring rules, and rescoring every lead of an organization after the
//! rules changed.
//!
//! A rescore walks the leads in id order, a batch per write transaction:
//! each batch is read (locked on PostgreSQL), scored in memory and written
//! back with one statement, so 100,000 leads take a hundred round trips, not
//! a hundred thousand, and no lead changed meanwhile is overwritten with a
//! score of its old fields. Trashed leads are left alone: restoring one
//! rescores it.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use pipewise_domain::{Condition, Points};
use uuid::Uuid;

use crate::{Edit, Page, Result, StoredRule};

/// Every field of a rule a client sets, already validated.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleFields {
    pub name: String,
    pub condition: Condition,
    pub points: Points,
    pub active: bool,
}

/// What a rescore did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Rescored {
    /// Leads scored.
    pub leads: u64,
    /// Leads whose stored score changed.
    pub changed: u64,
    /// Leads that reached the MQL threshold for the first time.
    pub new_mqls: u64,
}

/// Leads per rescore transaction: few round trips, short locks, and well
/// under either backend's limit on bound parameters.
pub(crate) const RESCORE_BATCH: u32 = 500;

#[async_trait]
pub trait ScoringStore {
    /// The organization's rules in id (creation) order, a page at a time.
    async fn scoring_rules(&self, org: Uuid, page: Page) -> Result<Vec<StoredRule>>;
    async fn scoring_rule(&self, org: Uuid, id: Uuid) -> Result<StoredRule>;
    async fn create_scoring_rule(&self, org: Uuid, rule: &RuleFields, now: DateTime<Utc>) -> Result<StoredRule>;
    /// Replaces the rule's fields if it is still at `version`.
    async fn update_scoring_rule(
        &self,
        org: Uuid,
        id: Uuid,
        edit: Edit<'_, StoredRule, RuleFields>,
        now: DateTime<Utc>,
    ) -> Result<StoredRule>;
    /// Deletes the rule (if it is at `if_version`, when given).
    async fn delete_scoring_rule(&self, org: Uuid, id: Uuid, if_version: Option<i64>) -> Result<()>;
    /// Recomputes the score of every lead of the organization under its
    /// current rules, setting `mql_at` (and notifying) where it is first reached.
    async fn rescore_leads(&self, org: Uuid, now: DateTime<Utc>) -> Result<Rescored>;
}

/// A lead's score under `rules` (with its look-alikes' potential when
/// `customers` is given, for rules that read it) and its MQL time, were it
/// scored at `at`; `None` when neither would change.
pub(crate) fn rescored(
    lead: &pipewise_domain::Lead,
    activities_done: i64,
    rules: &[pipewise_domain::ScoringRule],
    threshold: pipewise_domain::MqlThreshold,
    customers: Option<&crate::CustomerYear>,
    at: DateTime<Utc>,
) -> Option<(pipewise_domain::Score, Option<DateTime<Utc>>)> {
    let mut facts = pipewise_domain::scoring::LeadFacts::of(lead, activities_done);
    if let Some(customers) = customers {
        facts = facts.with_potential(customers.potential(lead).map(|p| p.median));
    }
    let score = pipewise_domain::scoring::score(rules, &facts).score;
    let mql_at = pipewise_domain::lead::mql_at(lead.mql_at, score, threshold, at);
    (score != lead.score || mql_at != lead.mql_at).then_some((score, mql_at))
}

/// Implements [`ScoringStore`] in the module of `impl_lead_core!`.
macro_rules! impl_scoring_store {
    ($store:ty) => {
        mod scoring_store {
            use super::*;
            use ::chrono::{DateTime, Utc};
            use ::pipewise_domain::{Lead, NotificationKind, RecordKind};
            use ::uuid::Uuid;
            use $crate::lead_core::{encode_operand, LeadRow, ScoringRuleRow};
            use $crate::scoring::{Rescored, RuleFields, RESCORE_BATCH};
            use $crate::{Page, StoreError, StoredRule};

            /// A lead with the count of its done activities, for scoring.
            #[derive(sqlx::FromRow)]
            pub(crate) struct ScoredLeadRow {
                #[sqlx(flatten)]
                pub(crate) lead: LeadRow,
                pub(crate) activities_done: i64,
            }

            /// The columns of [`ScoredLeadRow`] from `leads l`.
            pub(crate) const SCORED_LEAD: &str = "select l.*,
                    (select count(*) from activities a
                     where a.lead_id = l.id and a.done_at is not null and a.deleted_at is null)
                    as activities_done
                 from leads l";

            /// Writes new scores and MQL times with one statement.
            pub(crate) async fn update_scores(
                conn: &mut Conn,
                changes: &[(Uuid, ::pipewise_domain::Score, Option<DateTime<Utc>>)],
            ) -> $crate::Result<()> {
                // A CTE names the columns of the values list the same way in both dialects.
                let mut update = sqlx::QueryBuilder::new("with v (id, score, mql_at) as (");
                update.push_values(changes, |mut row, (id, score, mql_at)| {
                    row.push_bind(*id).push_bind(i64::from(score.value())).push_bind(*mql_at);
                });
                update.push(") update leads set score = v.score, mql_at = v.mql_at from v where leads.id = v.id");
                update.build().execute(&mut *conn).await?;
                Ok(())
            }

            #[async_trait::async_trait]
            impl $crate::scoring::ScoringStore for $store {
                #[tracing::instrument(skip_all)]
                async fn scoring_rules(&self, org: Uuid, page: Page) -> $crate::Result<Vec<StoredRule>> {
                    sqlx::query_as::<_, ScoringRuleRow>(
                        "select * from scoring_rules where organization_id = $1 and ($2 is null or id > $2)
                         order by id limit $3",
                    )
                    .bind(org)
                    .bind(page.after)
                    .bind(i64::from(page.limit))
                    .fetch_all(&self.pool)
                    .await?
                    .into_iter()
                    .map(TryInto::try_into)
                    .collect()
                }

                #[tracing::instrument(skip_all)]
                async fn scoring_rule(&self, org: Uuid, id: Uuid) -> $crate::Result<StoredRule> {
                    sqlx::query_as::<_, ScoringRuleRow>(
                        "select * from scoring_rules where organization_id = $1 and id = $2",
                    )
                    .bind(org)
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?
                    .ok_or(StoreError::NotFound)?
                    .try_into()
                }

                #[tracing::instrument(skip_all)]
                async fn create_scoring_rule(
                    &self,
                    org: Uuid,
                    rule: &RuleFields,
                    now: DateTime<Utc>,
                ) -> $crate::Result<StoredRule> {
                    sqlx::query_as::<_, ScoringRuleRow>(
                        "insert into scoring_rules (id, organization_id, name, field, operator, value, points, active,
                                                    version, created_at, updated_at)
                         values ($1, $2, $3, $4, $5, $6, $7, $8, 1, $9, $9)
                         returning *",
                    )
                    .bind(Uuid::now_v7())
                    .bind(org)
                    .bind(&rule.name)
                    .bind(rule.condition.field().stored())
                    .bind(rule.condition.operator().as_str())
                    .bind(encode_operand(rule.condition.operand()))
                    .bind(rule.points.value())
                    .bind(rule.active)
                    .bind(now)
                    .fetch_one(&self.pool)
                    .await?
                    .try_into()
                }

                #[tracing::instrument(skip_all)]
                async fn update_scoring_rule(
                    &self,
                    org: Uuid,
                    id: Uuid,
                    edit: $crate::Edit<'_, StoredRule, RuleFields>,
                    now: DateTime<Utc>,
                ) -> $crate::Result<StoredRule> {
                    let mut tx = self.begin_write().await?;
                    let current: StoredRule =
                        super::lock_row::<ScoringRuleRow>(&mut tx, "scoring_rules", org, id, "1 = 1").await?.try_into()?;
                    let rule = &edit(&current).map_err(StoreError::Refused)?;
                    // A write that changes nothing changes nothing: no new version, no event.
                    if (&rule.name, &rule.condition, rule.points, rule.active) == (&current.rule.name, &current.rule.condition, current.rule.points, current.rule.active) {
                        tx.commit().await?;
                        return Ok(current);
                    }
                    let row = sqlx::query_as::<_, ScoringRuleRow>(
                        "update scoring_rules
                         set name = $4, field = $5, operator = $6, value = $7, points = $8, active = $9,
                             version = version + 1, updated_at = $10
                         where organization_id = $1 and id = $2 and version = $3
                         returning *",
                    )
                    .bind(org)
                    .bind(id)
                    .bind(current.version)
                    .bind(&rule.name)
                    .bind(rule.condition.field().stored())
                    .bind(rule.condition.operator().as_str())
                    .bind(encode_operand(rule.condition.operand()))
                    .bind(rule.points.value())
                    .bind(rule.active)
                    .bind(now)
                    .fetch_one(&mut *tx)
                    .await?;
                    tx.commit().await?;
                    row.try_into()
                }

                #[tracing::instrument(skip_all)]
                async fn delete_scoring_rule(&self, org: Uuid, id: Uuid, if_version: Option<i64>) -> $crate::Result<()> {
                    // One statement that checks `If-Match` and deletes: it cannot race.
                    let deleted = sqlx::query(
                        "delete from scoring_rules where organization_id = $1 and id = $2 and ($3 is null or version = $3)",
                    )
                    .bind(org)
                    .bind(id)
                    .bind(if_version)
                    .execute(&self.pool)
                    .await?
                    .rows_affected();
                    if deleted == 0 {
                        return Err(self.rule_write_missed(org, id).await?);
                    }
                    Ok(())
                }

                #[tracing::instrument(skip_all)]
                async fn rescore_leads(&self, org: Uuid, now: DateTime<Utc>) -> $crate::Result<Rescored> {
                    let (rules, threshold, customers) = {
                        let mut conn = self.pool.acquire().await?;
                        let rules = super::lead_core::active_rules(&mut conn, org).await?;
                        // Only a rule on the potential needs the customers, once for every lead.
                        let customers = if ::pipewise_domain::scoring::reads_potential(&rules) {
                            Some(super::customer_store::customer_year(&mut conn, org, now).await?)
                        } else {
                            None
                        };
                        (rules, super::lead_core::mql_threshold(&mut conn, org).await?, customers)
                    };
                    let mut done = Rescored::default();
                    let mut after: Option<Uuid> = None;
                    loop {
                        let mut tx = self.begin_write().await?;
                        // Two statements rather than "$2 is null or …", which
                        // would keep PostgreSQL's generic plan off the id range.
                        let sql = format!(
                            "{SCORED_LEAD} where l.organization_id = $1 and l.deleted_at is null {}
                             order by l.id limit $2 {}",
                            if after.is_some() { "and l.id > $3" } else { "" },
                            Self::FOR_UPDATE
                        );
                        let rows = sqlx::query_as::<_, ScoredLeadRow>(&sql)
                            .bind(org)
                            .bind(i64::from(RESCORE_BATCH))
                            .bind(after)
                            .fetch_all(&mut *tx)
                            .await?;
                        let Some(last) = rows.last() else { break };
                        after = Some($crate::queries::HasId::id(&last.lead));
                        done.leads += rows.len() as u64;
                        let mut changes = Vec::new();
                        for row in rows {
                            let lead: Lead = row.lead.try_into()?;
                            let next = $crate::scoring::rescored(
                                &lead,
                                row.activities_done,
                                &rules,
                                threshold,
                                customers.as_ref(),
                                now,
                            );
                            if let Some((score, mql_at)) = next {
                                changes.push((lead, score, mql_at));
                            }
                        }
                        if !changes.is_empty() {
                            done.changed += changes.len() as u64;
                            done.new_mqls += write_scores(&mut tx, org, &changes, now).await?;
                        }
                        tx.commit().await?;
                    }
                    Ok(done)
                }
            }

            impl $store {
                /// Why a versioned write of a rule touched no row.
                async fn rule_write_missed(&self, org: Uuid, id: Uuid) -> $crate::Result<StoreError> {
                    let exists: i64 =
                        sqlx::query_scalar("select count(*) from scoring_rules where organization_id = $1 and id = $2")
                            .bind(org)
                            .bind(id)
                            .fetch_one(&self.pool)
                            .await?;
                    Ok(if exists == 0 {
                        StoreError::NotFound
                    } else {
                        StoreError::VersionMismatch
                    })
                }
            }

            /// Writes a batch of new scores with one statement, and one
            /// notification per lead that became an MQL; returns how many did.
            async fn write_scores(
                tx: &mut Tx,
                org: Uuid,
                changes: &[(Lead, ::pipewise_domain::Score, Option<DateTime<Utc>>)],
                now: DateTime<Utc>,
            ) -> $crate::Result<u64> {
                let scores: Vec<_> = changes.iter().map(|(lead, score, mql_at)| (lead.id, *score, *mql_at)).collect();
                update_scores(&mut **tx, &scores).await?;

                let new_mqls: Vec<_> = changes
                    .iter()
                    .filter(|(lead, _, mql_at)| lead.mql_at.is_none() && mql_at.is_some())
                    .collect();
                if new_mqls.is_empty() {
                    return Ok(0);
                }
                let mut insert = sqlx::QueryBuilder::new(
                    "insert into notifications (id, organization_id, user_id, kind, record_kind, record_id, message,
                                                read_at, created_at) ",
                );
                insert.push_values(&new_mqls, |mut row, (lead, score, _)| {
                    let message = $crate::lead_core::mql_message(lead, *score);
                    row.push_bind(Uuid::now_v7())
                        .push_bind(org)
                        .push_bind(lead.owner_id)
                        .push_bind(NotificationKind::LeadMql.as_str())
                        .push_bind(RecordKind::Lead.as_str())
                        .push_bind(lead.id)
                        .push_bind(message)
                        .push_bind(None::<DateTime<Utc>>)
                        .push_bind(now);
                });
                insert.build().execute(&mut **tx).await?;
                Ok(new_mqls.len() as u64)
            }
        }
    };
}

pub(crate) use impl_scoring_store;
