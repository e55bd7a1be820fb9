//! Pipeline reports. A figure is a count (and sums) over a *member query*:
//! one `select` per measure that yields, for every deal (or stint) the
//! figure counts, its id, amount, currency and row key. The report groups
//! that query by key; the drill-down pages through the very same query
//! filtered to one row, so the deals listed are, by construction, the deals
//! counted. Every query of one report runs in one read-only snapshot, so the
//! figures never mix the event log and the deals table at different instants.

mod members;
mod people;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use pipewise_domain::{deal::DealStatus, Deal};
use uuid::Uuid;

pub(crate) use members::{drill_sql, facts_sql, ms_between, samples_sql, stalled_sql};
pub use people::LeadTally;
pub(crate) use people::{activity_sql, lead_sql};

use crate::Result;

/// Which records a report looks at, beside its period.
#[derive(Debug, Clone, Default)]
pub struct ReportScope {
    /// A rep's own records only.
    pub visible_owner: Option<Uuid>,
    pub owner_id: Option<Uuid>,
    pub source: Option<String>,
    pub pipeline_id: Option<Uuid>,
}

/// What the rows of a deal figure are keyed by.
#[derive(Debug, Clone, PartialEq)]
pub enum Grouping {
    Total,
    Owner,
    Source,
    /// The pipeline the deal was in when the figure looked at it.
    Pipeline,
    /// The stage the deal was in when the figure looked at it.
    Stage,
    LostReason,
    /// Buckets of the figure's instant (`closed_at`): `key_num` is the index
    /// `i` with `bounds[i] <= t < bounds[i + 1]`, -3 outside them.
    Instants(Vec<DateTime<Utc>>),
}

/// A set of deals (or of stints, for the stage reports) that a figure counts.
#[derive(Debug, Clone, PartialEq)]
pub enum DealSet {
    /// Deals whose current status is `status` with `closed_at` in [from, to);
    /// `ms` is the sales cycle, closed_at − created_at.
    Closed {
        status: DealStatus,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        grouping: Grouping,
    },
    /// Deals open at `at`, keyed by `grouping` as they were then; `ms` is the
    /// age of the running stint at `at`, `weighted_minor` the amount times
    /// the probability (the deal's own, else the stage's) in percent.
    OpenAt { at: DateTime<Utc>, grouping: Grouping },
    /// Deals open at `as_of` by expected close date: `key_num` is the bucket
    /// index by `bounds` (local dates), -1 without a date, -2 a date before
    /// `today`, -3 outside the buckets; `flag` is 1 for `commit`.
    Forecast {
        as_of: DateTime<Utc>,
        today: NaiveDate,
        bounds: Vec<NaiveDate>,
    },
    /// Deals created in [from, to) (and by `as_of`) in the scope's pipeline:
    /// `key_num` is the highest stage position reached by `as_of`, `flag` 1
    /// when the deal is won at `as_of`.
    Cohort {
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        as_of: DateTime<Utc>,
    },
    /// Stints in the scope's pipeline that ended in [from, to): `key_id` the
    /// stage, `ms` the duration, `pos` the event that started the stint.
    StintsEnded { from: DateTime<Utc>, to: DateTime<Utc> },
    /// Stints in the scope's pipeline that started in [from, to) by `as_of`:
    /// `key_id` the stage, `key_num` the outcome by `as_of` (see
    /// [`Outcome`]), `flag` 1 when still running at `censor_at`, `ms` the
    /// duration, or the age at `censor_at` when censored.
    StintsStarted {
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        as_of: DateTime<Utc>,
        censor_at: DateTime<Utc>,
    },
    /// Deals open at `as_of` that are rotting (`flag` bit 1) or idle for
    /// more than `idle_days` (bit 2): `key_id` the stage, `ms` the age of the
    /// running stint, `ms2` the time since the latest activity.
    Stalled { as_of: DateTime<Utc>, idle_days: i64 },
}

/// How a stint that started in a period ended, by `as_of` (`key_num`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    StillThere = 0,
    Advanced = 1,
    MovedBack = 2,
    Dropped = 3,
    /// Moved to a stage of another pipeline (or one deleted since).
    MovedOut = 4,
}

impl Outcome {
    pub fn from_code(code: i64) -> Option<Self> {
        [
            Outcome::StillThere,
            Outcome::Advanced,
            Outcome::MovedBack,
            Outcome::Dropped,
            Outcome::MovedOut,
        ]
        .into_iter()
        .find(|o| *o as i64 == code)
    }
}

pub const STALLED_ROTTING: i64 = 1;
pub const STALLED_IDLE: i64 = 2;

/// One group of a deal figure: the members sharing a key, flag and currency.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct Fact {
    pub key_id: Option<Uuid>,
    pub key_text: Option<String>,
    pub key_num: Option<i64>,
    pub flag: i64,
    pub currency: String,
    pub n: i64,
    pub minor: i64,
    pub weighted: i64,
    pub ms: Option<i64>,
}

/// The durations of the members sharing a key and flag, for medians and
/// survival curves.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub key_id: Option<Uuid>,
    pub key_text: Option<String>,
    pub flag: i64,
    /// In no particular order.
    pub ms: Vec<i64>,
}

/// The [`Sample`]s of one key as the database sends them: every member as
/// `ms * 4 + flag` (a duration is never negative, a sample's flag is 0 to
/// 3) in one comma-separated text, which both backends build. A year of
/// stints crosses as a few rows rather than one row each, and the database
/// groups by the key alone, which it can estimate (and so hash).
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct SampleRow {
    key_id: Option<Uuid>,
    key_text: Option<String>,
    members: String,
}

/// How [`SampleRow::members`] packs a member's flag beside its duration.
pub(crate) const SAMPLE_FLAGS: i64 = 4;

impl SampleRow {
    /// One [`Sample`] per flag present.
    pub(crate) fn samples(self) -> Result<Vec<Sample>> {
        let mut by_flag: Vec<Sample> = Vec::new();
        for member in self.members.split(',') {
            let packed: i64 = member
                .parse()
                .map_err(|e| crate::StoreError::Corrupt(format!("a report duration list: {e}")))?;
            let (ms, flag) = (packed.div_euclid(SAMPLE_FLAGS), packed.rem_euclid(SAMPLE_FLAGS));
            match by_flag.iter_mut().find(|s| s.flag == flag) {
                Some(sample) => sample.ms.push(ms),
                None => by_flag.push(Sample {
                    key_id: self.key_id,
                    key_text: self.key_text.clone(),
                    flag,
                    ms: vec![ms],
                }),
            }
        }
        Ok(by_flag)
    }
}

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct StalledRow {
    pub deal_id: Uuid,
    pub title: String,
    pub owner_id: Uuid,
    pub stage_id: Uuid,
    pub flag: i64,
    pub ms: i64,
    pub ms2: Option<i64>,
}

/// A count of leads or activities under a measure and key.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct Count {
    pub measure: String,
    pub key_id: Option<Uuid>,
    pub key_text: Option<String>,
    pub key_num: Option<i64>,
    pub n: i64,
    pub ms: Option<i64>,
}

/// The leads figures over [from, to): by source, and qualified leads per
/// month by `month_bounds` (`key_num` the month's index).
#[derive(Debug, Clone, PartialEq)]
pub struct LeadQuery {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub as_of: DateTime<Utc>,
    pub month_bounds: Vec<DateTime<Utc>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActivityGrouping {
    Type,
    Owner,
}

/// The follow-up figures: overdue and due-today at `as_of` (`today` the
/// local day around it), done in [from, to).
#[derive(Debug, Clone, PartialEq)]
pub struct ActivityQuery {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub as_of: DateTime<Utc>,
    pub today: (DateTime<Utc>, DateTime<Utc>),
    pub grouping: ActivityGrouping,
}

/// One question of a report.
#[derive(Debug, Clone, PartialEq)]
pub enum Question {
    Facts(DealSet),
    Samples(DealSet),
    /// The stalled deals of the set, longest in their stage first: the first
    /// `limit`, or all.
    Stalled {
        set: DealSet,
        limit: Option<u32>,
    },
    Leads(LeadQuery),
    Activities(ActivityQuery),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    Facts(Vec<Fact>),
    Samples(Vec<Sample>),
    Stalled(Vec<StalledRow>),
    Counts(Vec<Count>),
}

/// Which members of a [`DealSet`] a drill-down lists: every condition set
/// must hold.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Drill {
    pub key_id: Option<Option<Uuid>>,
    pub key_text: Option<Option<String>>,
    pub key_num: Option<i64>,
    pub flag: Option<i64>,
    /// Won (`flag` 1) or reached at least this position (`key_num`).
    pub reached: Option<i64>,
}

#[async_trait]
pub trait ReportStore {
    /// Answers every question in one read-only snapshot.
    async fn report(&self, org: Uuid, scope: &ReportScope, questions: &[Question]) -> Result<Vec<Answer>>;

    /// The members of `set` that `drill` admits, in a stable order after
    /// `after` (a member's position): (position, deal).
    async fn report_deals(
        &self,
        org: Uuid,
        scope: &ReportScope,
        set: &DealSet,
        drill: &Drill,
        after: Option<Uuid>,
        limit: u32,
    ) -> Result<Vec<(Uuid, Deal)>>;
}

macro_rules! impl_report_store {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl $crate::reports::ReportStore for $store {
            #[tracing::instrument(skip_all)]
            async fn report(
                &self,
                org: Uuid,
                scope: &$crate::reports::ReportScope,
                questions: &[$crate::reports::Question],
            ) -> $crate::Result<Vec<$crate::reports::Answer>> {
                use $crate::reports::{Answer, Question};
                let backend = <$store as $crate::Store>::backend(self);
                let mut tx = self.begin_snapshot().await?;
                let mut answers = Vec::with_capacity(questions.len());
                for question in questions {
                    let answer = match question {
                        Question::Facts(set) => {
                            let sql = $crate::reports::facts_sql(backend, org, scope, set);
                            Answer::Facts(
                                $crate::sql::bind_args!(sqlx::query_as(&sql.text), &sql.args)
                                    .fetch_all(&mut *tx)
                                    .await?,
                            )
                        }
                        Question::Samples(set) => {
                            let sql = $crate::reports::samples_sql(backend, org, scope, set);
                            let rows: Vec<$crate::reports::SampleRow> =
                                $crate::sql::bind_args!(sqlx::query_as(&sql.text), &sql.args)
                                    .fetch_all(&mut *tx)
                                    .await?;
                            let mut samples = Vec::new();
                            for row in rows {
                                samples.extend(row.samples()?);
                            }
                            Answer::Samples(samples)
                        }
                        Question::Stalled { set, limit } => {
                            let sql = $crate::reports::stalled_sql(backend, org, scope, set, *limit);
                            Answer::Stalled(
                                $crate::sql::bind_args!(sqlx::query_as(&sql.text), &sql.args)
                                    .fetch_all(&mut *tx)
                                    .await?,
                            )
                        }
                        Question::Leads(query) => {
                            let (tally, rest) = $crate::reports::lead_sql(backend, org, scope, query);
                            let rows: Vec<$crate::reports::LeadTally> =
                                $crate::sql::bind_args!(sqlx::query_as(&tally.text), &tally.args)
                                    .fetch_all(&mut *tx)
                                    .await?;
                            let mut counts = $crate::reports::LeadTally::counts(&rows);
                            for sql in rest {
                                counts.extend(
                                    $crate::sql::bind_args!(sqlx::query_as(&sql.text), &sql.args)
                                        .fetch_all(&mut *tx)
                                        .await?,
                                );
                            }
                            Answer::Counts(counts)
                        }
                        Question::Activities(query) => {
                            let mut counts = Vec::new();
                            for sql in $crate::reports::activity_sql(backend, org, scope, query) {
                                counts.extend(
                                    $crate::sql::bind_args!(sqlx::query_as(&sql.text), &sql.args)
                                        .fetch_all(&mut *tx)
                                        .await?,
                                );
                            }
                            Answer::Counts(counts)
                        }
                    };
                    answers.push(answer);
                }
                tx.commit().await?;
                Ok(answers)
            }

            #[tracing::instrument(skip_all)]
            async fn report_deals(
                &self,
                org: Uuid,
                scope: &$crate::reports::ReportScope,
                set: &$crate::reports::DealSet,
                drill: &$crate::reports::Drill,
                after: Option<Uuid>,
                limit: u32,
            ) -> $crate::Result<Vec<(Uuid, pipewise_domain::Deal)>> {
                #[derive(sqlx::FromRow)]
                struct Member {
                    deal_id: Uuid,
                    pos: Uuid,
                }
                let backend = <$store as $crate::Store>::backend(self);
                let mut tx = self.begin_snapshot().await?;
                let sql = $crate::reports::drill_sql(backend, org, scope, set, drill, after, limit);
                let members: Vec<Member> = $crate::sql::bind_args!(sqlx::query_as(&sql.text), &sql.args)
                    .fetch_all(&mut *tx)
                    .await?;
                let mut ids: Vec<Uuid> = members.iter().map(|m| m.deal_id).collect();
                ids.sort();
                ids.dedup();
                let deals = deals_by_ids(&mut tx, org, &ids).await?;
                tx.commit().await?;
                members
                    .into_iter()
                    .map(|m| {
                        deals
                            .iter()
                            .find(|d| d.id == m.deal_id)
                            .cloned()
                            .map(|d| (m.pos, d))
                            .ok_or_else(|| StoreError::Corrupt(format!("report member {} has no deal", m.deal_id)))
                    })
                    .collect()
            }
        }

        /// The live deals with these ids, with their contacts.
        async fn deals_by_ids(conn: &mut Conn, org: Uuid, ids: &[Uuid]) -> $crate::Result<Vec<pipewise_domain::Deal>> {
            if ids.is_empty() {
                return Ok(Vec::new());
            }
            let mut sql = $crate::sql::Sql::new(&format!(
                "select {} from deals d join stages s on s.id = d.stage_id where d.organization_id = ",
                $crate::deals::DEAL_COLUMNS
            ));
            let org = sql.arg($crate::sql::Arg::Uuid(org));
            sql.push(&org).push(" and d.id in (");
            for (i, id) in ids.iter().enumerate() {
                let placeholder = sql.arg($crate::sql::Arg::Uuid(*id));
                if i > 0 {
                    sql.push(", ");
                }
                sql.push(&placeholder);
            }
            sql.push(")");
            let rows: Vec<$crate::deals::DealRow> = $crate::sql::bind_args!(sqlx::query_as(&sql.text), &sql.args)
                .fetch_all(&mut *conn)
                .await?;
            with_contacts(conn, rows).await
        }
    };
}

pub(crate) use impl_report_store;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sample_row_unpacks_into_one_sample_per_flag() {
        // 10 ms (flag 0), 7 ms censored (flag 1), 0 ms (flag 0).
        let row = SampleRow {
            key_id: None,
            key_text: Some("web".into()),
            members: "40,29,0".into(),
        };
        let samples = row.samples().unwrap();
        assert_eq!(samples.len(), 2);
        assert_eq!((samples[0].flag, samples[0].ms.clone()), (0, vec![10, 0]));
        assert_eq!((samples[1].flag, samples[1].ms.clone()), (1, vec![7]));
        assert_eq!(samples[1].key_text.as_deref(), Some("web"));
        let bad = SampleRow {
            key_id: None,
            key_text: None,
            members: "4,x".into(),
        };
        assert!(bad.samples().is_err());
    }
}
