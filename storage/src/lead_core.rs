//! What every lead write shares, whoever makes it (the API, a capture form,
//! an activity, a rule change): the row and its conversion, scoring a lead
//! inside the writing transaction, and the notifications a write leaves.
//!
//! A score is never computed apart from the write that changes its inputs,
//! so it is never stale, and `mql_at` is set in the same transaction as the
//! score that crossed the threshold.

use chrono::{DateTime, Utc};
use pipewise_domain::{
    lead::{LeadProgress, LeadStatus, ValuePeriod},
    scoring::{Condition, FieldKind, Operand, Operator, Subject},
    Amount, Country, Currency, Email, Lead, Points, Score, ScoringRule,
};
use rust_decimal::Decimal;
use uuid::Uuid;

use crate::StoreError;

/// Every field of a lead a client sets, already validated.
#[derive(Debug, Clone, PartialEq)]
pub struct LeadFields {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<Email>,
    pub phone: Option<String>,
    pub company_name: Option<String>,
    pub title: Option<String>,
    pub industry: Option<String>,
    pub employee_count: Option<i64>,
    pub country: Option<Country>,
    pub source: Option<String>,
    pub estimated_value: Option<Amount>,
    pub currency: Currency,
    pub value_period: Option<ValuePeriod>,
    pub owner_id: Uuid,
    /// The id a partner's system knows the lead by.
    pub external_id: Option<String>,
    pub tags: pipewise_domain::Tags,
    pub custom_fields: pipewise_domain::CustomValues,
}

impl LeadFields {
    /// The fields of a stored lead, to apply a partial change to.
    pub fn of(lead: &Lead) -> Result<Self, StoreError> {
        let email = lead
            .email
            .as_deref()
            .map(Email::parse)
            .transpose()
            .map_err(|e| StoreError::Corrupt(format!("lead {}: {e}", lead.id)))?;
        Ok(Self {
            first_name: lead.first_name.clone(),
            last_name: lead.last_name.clone(),
            email,
            phone: lead.phone.clone(),
            company_name: lead.company_name.clone(),
            title: lead.title.clone(),
            industry: lead.industry.clone(),
            employee_count: lead.employee_count,
            country: lead.country.clone(),
            source: lead.source.clone(),
            estimated_value: lead.estimated_value,
            currency: lead.currency,
            value_period: lead.value_period,
            owner_id: lead.owner_id,
            external_id: lead.external_id.clone(),
            tags: lead.tags.clone(),
            custom_fields: lead.custom_fields.clone(),
        })
    }

    /// Lower-cased "first last", for prefix search.
    pub(crate) fn name_key(&self) -> String {
        pipewise_domain::text::search_key(&[self.first_name.as_deref(), self.last_name.as_deref()])
    }

    /// Lower-cased company name, for prefix search.
    pub(crate) fn company_key(&self) -> String {
        pipewise_domain::text::search_key(&[self.company_name.as_deref()])
    }
}

/// A lead to create.
#[derive(Debug, Clone, PartialEq)]
pub struct NewLead {
    pub fields: LeadFields,
    pub progress: LeadProgress,
    /// The capture form it came through, if any.
    pub form_id: Option<Uuid>,
    /// Its creation time: `now`, or an earlier time when backdated.
    pub created_at: DateTime<Utc>,
}

/// Every column of `leads`, in table order.
#[derive(sqlx::FromRow)]
pub(crate) struct LeadRow {
    id: Uuid,
    organization_id: Uuid,
    first_name: Option<String>,
    last_name: Option<String>,
    #[allow(dead_code)]
    name_key: String,
    email: Option<String>,
    phone: Option<String>,
    company_name: Option<String>,
    #[allow(dead_code)]
    company_key: String,
    title: Option<String>,
    industry: Option<String>,
    employee_count: Option<i64>,
    country: Option<String>,
    source: Option<String>,
    estimated_value_minor: Option<i64>,
    currency: String,
    value_period: Option<String>,
    status: String,
    unqualified_reason: Option<String>,
    owner_id: Uuid,
    score: i64,
    mql_at: Option<DateTime<Utc>>,
    qualified_at: Option<DateTime<Utc>>,
    converted_at: Option<DateTime<Utc>>,
    last_activity_at: Option<DateTime<Utc>>,
    converted_contact_id: Option<Uuid>,
    converted_account_id: Option<Uuid>,
    converted_deal_id: Option<Uuid>,
    form_id: Option<Uuid>,
    external_id: Option<String>,
    tags: String,
    custom_fields: String,
    version: i64,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    deleted_at: Option<DateTime<Utc>>,
}

impl crate::queries::HasId for LeadRow {
    fn id(&self) -> Uuid {
        self.id
    }
}

impl LeadRow {}

impl TryFrom<LeadRow> for Lead {
    type Error = StoreError;
    fn try_from(row: LeadRow) -> Result<Self, StoreError> {
        let id = row.id;
        let bad = |what: &str| StoreError::Corrupt(format!("lead {id}: {what}"));
        let country = row
            .country
            .as_deref()
            .map(|c| Country::parse(c).map_err(|_| bad("country")))
            .transpose()?;
        let estimated_value = row
            .estimated_value_minor
            .map(|minor| Amount::from_minor(minor).ok_or_else(|| bad("estimated value")))
            .transpose()?;
        let value_period = row
            .value_period
            .as_deref()
            .map(|p| ValuePeriod::parse(p).ok_or_else(|| bad("value period")))
            .transpose()?;
        Ok(Lead {
            id,
            organization_id: row.organization_id,
            first_name: row.first_name,
            last_name: row.last_name,
            email: row.email,
            phone: row.phone,
            company_name: row.company_name,
            title: row.title,
            industry: row.industry,
            employee_count: row.employee_count,
            country,
            source: row.source,
            estimated_value,
            currency: Currency::parse(&row.currency).map_err(|_| bad("currency"))?,
            value_period,
            progress: LeadProgress {
                status: LeadStatus::parse(&row.status).ok_or_else(|| bad("status"))?,
                unqualified_reason: row.unqualified_reason,
                qualified_at: row.qualified_at,
                converted_at: row.converted_at,
            },
            owner_id: row.owner_id,
            score: Score::new(row.score).ok_or_else(|| bad("score"))?,
            mql_at: row.mql_at,
            last_activity_at: row.last_activity_at,
            converted_contact_id: row.converted_contact_id,
            converted_account_id: row.converted_account_id,
            converted_deal_id: row.converted_deal_id,
            form_id: row.form_id,
            external_id: row.external_id,
            tags: crate::rows::read_tags(id, &row.tags)?,
            custom_fields: crate::custom_fields::read_values(&row.custom_fields)?,
            version: row.version,
            created_at: row.created_at,
            updated_at: row.updated_at,
            deleted_at: row.deleted_at,
        })
    }
}

/// A scoring rule as stored, with its version and times.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredRule {
    pub rule: ScoringRule,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
pub(crate) struct ScoringRuleRow {
    id: Uuid,
    #[allow(dead_code)]
    organization_id: Uuid,
    name: String,
    field: String,
    operator: String,
    value: String,
    points: i64,
    active: bool,
    version: i64,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl TryFrom<ScoringRuleRow> for StoredRule {
    type Error = StoreError;
    fn try_from(row: ScoringRuleRow) -> Result<Self, StoreError> {
        let id = row.id;
        let bad = |what: &dyn std::fmt::Display| StoreError::Corrupt(format!("scoring rule {id}: {what}"));
        let field = Subject::parse_stored(&row.field).ok_or_else(|| bad(&"field"))?;
        let operator = Operator::parse(&row.operator).ok_or_else(|| bad(&"operator"))?;
        let operand = decode_operand(field.kind(), &row.value).ok_or_else(|| bad(&"value"))?;
        let condition = Condition::new(field, operator, operand).map_err(|e| bad(&e))?;
        Ok(StoredRule {
            rule: ScoringRule {
                id,
                name: row.name,
                condition,
                points: Points::new(row.points).map_err(|e| bad(&e))?,
                active: row.active,
            },
            version: row.version,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

/// The operand as stored: JSON `null`, a string, or a list of strings;
/// numbers are decimal strings, so that no float ever touches them.
pub(crate) fn encode_operand(operand: &Operand) -> String {
    use serde_json::Value;
    let value = match operand {
        Operand::None => Value::Null,
        Operand::Text(text) => Value::String(text.clone()),
        Operand::Number(number) => Value::String(number.to_string()),
        Operand::TextList(items) => Value::Array(items.iter().cloned().map(Value::String).collect()),
        Operand::NumberList(items) => Value::Array(items.iter().map(|n| Value::String(n.to_string())).collect()),
    };
    value.to_string()
}

/// The stored operand of a field of `kind`; `None` when it does not parse.
pub(crate) fn decode_operand(kind: FieldKind, raw: &str) -> Option<Operand> {
    use serde_json::Value;
    let number = |v: &Value| v.as_str().and_then(|s| s.parse::<Decimal>().ok());
    let text = |v: &Value| v.as_str().map(str::to_owned);
    Some(match (serde_json::from_str::<Value>(raw).ok()?, kind) {
        (Value::Null, _) => Operand::None,
        (Value::Array(items), FieldKind::Text) => Operand::TextList(items.iter().map(text).collect::<Option<_>>()?),
        (Value::Array(items), FieldKind::Number) => {
            Operand::NumberList(items.iter().map(number).collect::<Option<_>>()?)
        }
        (value, FieldKind::Text) => Operand::Text(text(&value)?),
        (value, FieldKind::Number) => Operand::Number(number(&value)?),
    })
}

/// A notification to leave for a user.
#[derive(Debug, Clone)]
pub(crate) struct NewNotification<'a> {
    pub user_id: Uuid,
    pub kind: pipewise_domain::NotificationKind,
    pub record_kind: pipewise_domain::RecordKind,
    pub record_id: Uuid,
    pub message: &'a str,
}

/// Defines, in the module of `impl_store!`, the module `lead_core` with the
/// transaction-level functions every lead writer calls:
/// `insert_lead`, `rescore_lead`, `rescore_leads`, `active_rules` and `notify`.
macro_rules! impl_lead_core {
    () => {
        pub(crate) mod lead_core {
            use super::{Conn, Tx};
            use ::chrono::{DateTime, Utc};
            use ::pipewise_domain::{
                lead::mql_at,
                scoring::{email_domain_kind, score, LeadFacts, ScoreBreakdown},
                Email, Lead, MqlThreshold, NotificationKind, RecordKind, Score, ScoringRule,
            };
            use ::uuid::Uuid;
            use $crate::lead_core::{LeadRow, NewLead, NewNotification, ScoringRuleRow, StoredRule};
            use $crate::{Actor, StoreError};
            use $crate::events::Record;

            /// The organization's rules, oldest first.
            pub(crate) async fn rules(conn: &mut Conn, org: Uuid) -> $crate::Result<Vec<StoredRule>> {
                sqlx::query_as::<_, ScoringRuleRow>(
                    "select * from scoring_rules where organization_id = $1 order by id",
                )
                .bind(org)
                .fetch_all(&mut *conn)
                .await?
                .into_iter()
                .map(TryInto::try_into)
                .collect()
            }

            /// The organization's active rules, oldest first: what a score is made of.
            pub(crate) async fn active_rules(conn: &mut Conn, org: Uuid) -> $crate::Result<Vec<ScoringRule>> {
                Ok(rules(conn, org)
                    .await?
                    .into_iter()
                    .filter(|stored| stored.rule.active)
                    .map(|stored| stored.rule)
                    .collect())
            }

            pub(crate) async fn mql_threshold(conn: &mut Conn, org: Uuid) -> $crate::Result<MqlThreshold> {
                let raw: i64 = sqlx::query_scalar("select mql_threshold from organizations where id = $1")
                    .bind(org)
                    .fetch_one(&mut *conn)
                    .await?;
                MqlThreshold::new(raw).map_err(|e| StoreError::Corrupt(format!("organization {org}: {e}")))
            }

            /// A lead of the organization, live or trashed.
            pub(crate) async fn lead(conn: &mut Conn, org: Uuid, id: Uuid) -> $crate::Result<Lead> {
                sqlx::query_as::<_, LeadRow>("select * from leads where organization_id = $1 and id = $2")
                    .bind(org)
                    .bind(id)
                    .fetch_optional(&mut *conn)
                    .await?
                    .ok_or(StoreError::NotFound)?
                    .try_into()
            }

            /// How many of the lead's activities are done: a scoring fact.
            pub(crate) async fn activities_done(conn: &mut Conn, lead: Uuid) -> $crate::Result<i64> {
                Ok(sqlx::query_scalar(
                    "select count(*) from activities
                     where lead_id = $1 and done_at is not null and deleted_at is null",
                )
                .bind(lead)
                .fetch_one(&mut *conn)
                .await?)
            }

            /// The lead's score under `rules` and its breakdown; its potential
            /// is estimated from the customers at `now` when a rule reads it.
            pub(crate) async fn breakdown(
                conn: &mut Conn,
                lead: &Lead,
                rules: &[ScoringRule],
                now: DateTime<Utc>,
            ) -> $crate::Result<ScoreBreakdown> {
                let done = activities_done(conn, lead.id).await?;
                let mut facts = LeadFacts::of(lead, done);
                if ::pipewise_domain::scoring::reads_potential(rules) {
                    let customers = super::customer_store::customer_year(conn, lead.organization_id, now).await?;
                    facts = facts.with_potential(customers.potential(lead).map(|p| p.median));
                }
                Ok(score(rules, &facts))
            }

            /// Stores a new score for `lead`, and the first time it reaches
            /// the threshold, `mql_at` and a notification for the owner.
            /// Returns the lead as stored (times at the database's precision).
            /// Does not bump `version`: a score is derived, not edited.
            pub(crate) async fn store_score(
                tx: &mut Tx,
                lead: Lead,
                new_score: Score,
                threshold: MqlThreshold,
                actor: Actor,
                now: DateTime<Utc>,
            ) -> $crate::Result<Lead> {
                let conn: &mut Conn = tx;
                let next_mql_at = mql_at(lead.mql_at, new_score, threshold, now);
                if new_score == lead.score && next_mql_at == lead.mql_at {
                    return Ok(lead);
                }
                let stored: Lead = sqlx::query_as::<_, LeadRow>(
                    "update leads set score = $2, mql_at = $3 where id = $1 returning *",
                )
                .bind(lead.id)
                .bind(i64::from(new_score.value()))
                .bind(next_mql_at)
                .fetch_one(&mut *conn)
                .await?
                .try_into()?;
                if lead.mql_at.is_none() && next_mql_at.is_some() {
                    let message = $crate::lead_core::mql_message(&stored, new_score);
                    notify(
                        conn,
                        stored.organization_id,
                        &NewNotification {
                            user_id: stored.owner_id,
                            kind: NotificationKind::LeadMql,
                            record_kind: RecordKind::Lead,
                            record_id: stored.id,
                            message: &message,
                        },
                        now,
                    )
                    .await?;
                }
                tx.changed(stored.organization_id, actor, Record::Lead(&lead), Record::Lead(&stored), now);
                Ok(stored)
            }

            /// Recomputes one lead's score (after a change to it or its
            /// activities) and returns the lead as now stored.
            pub(crate) async fn rescore_lead(
                tx: &mut Tx,
                org: Uuid,
                id: Uuid,
                actor: Actor,
                now: DateTime<Utc>,
            ) -> $crate::Result<Lead> {
                let lead = lead(tx, org, id).await?;
                let rules = active_rules(tx, org).await?;
                let threshold = mql_threshold(tx, org).await?;
                let result = breakdown(tx, &lead, &rules, now).await?;
                store_score(tx, lead, result.score, threshold, actor, now).await
            }

            /// Joins the writers of leads' and contacts' emails: the shared side
            /// of the organization's `emails` lock, which an import of leads or
            /// contacts takes whole (it matches and writes many emails at once).
            /// A transaction that may claim an email takes it before any row
            /// lock, as the import does, so the two cannot wait on each other.
            pub(crate) async fn enter_email_writes(conn: &mut Conn, org: Uuid) -> $crate::Result<()> {
                super::lock_key_shared(conn, org, "emails").await
            }

            /// The duplicate guard: `DuplicateEmail` when a lead (live or trashed,
            /// not converted, not `except`: a lead is not its own duplicate) or,
            /// with `contacts`, a contact of the organization has `email`.
            ///
            /// It first takes the email's lock for the rest of the transaction, and
            /// every writer of a lead's or a contact's email takes it before its
            /// check and its write: of two writers of one address, the second
            /// checks after the first committed, so both cannot pass.
            pub(crate) async fn claim_email(
                conn: &mut Conn,
                org: Uuid,
                email: &Email,
                except: Option<Uuid>,
                contacts: bool,
            ) -> $crate::Result<()> {
                enter_email_writes(conn, org).await?;
                super::lock_key(conn, org, &format!("email:{}", email.as_str())).await?;
                // A converted lead lives on as its contact: the contact is the duplicate.
                // A purged lead has no email left to match.
                let lead: Option<(Uuid, Uuid)> = sqlx::query_as(
                    "select id, owner_id from leads
                     where organization_id = $1 and email = $2 and converted_at is null
                       and ($3 is null or id <> $3)
                     order by id limit 1",
                )
                .bind(org)
                .bind(email.as_str())
                .bind(except)
                .fetch_optional(&mut *conn)
                .await?;
                if let Some((id, owner_id)) = lead {
                    return Err(StoreError::DuplicateEmail($crate::EmailHolder::Lead { id, owner_id }));
                }
                if contacts {
                    let contact: Option<Uuid> =
                        sqlx::query_scalar("select id from contacts where organization_id = $1 and email = $2")
                            .bind(org)
                            .bind(email.as_str())
                            .fetch_optional(&mut *conn)
                            .await?;
                    if let Some(id) = contact {
                        return Err(StoreError::DuplicateEmail($crate::EmailHolder::Contact(id)));
                    }
                }
                Ok(())
            }

            /// Writes `change` over `current` (locked, not converted) as its
            /// next version; scoring and notices are the caller's.
            pub(crate) async fn write_lead_change(
                conn: &mut Conn,
                org: Uuid,
                current: &Lead,
                change: &$crate::LeadChange,
                now: DateTime<Utc>,
            ) -> $crate::Result<()> {
                let (f, p) = (&change.fields, &change.progress);
                if f.custom_fields != current.custom_fields {
                    super::custom_field_store::check_keys(conn, org, ::pipewise_domain::custom_field::Resource::Leads, &f.custom_fields)
                        .await?;
                }
                sqlx::query(
                    "update leads
                     set first_name = $4, last_name = $5, name_key = $6, email = $7, phone = $8,
                         company_name = $9, company_key = $10, title = $11, industry = $12,
                         employee_count = $13, country = $14, source = $15, estimated_value_minor = $16,
                         currency = $17, value_period = $18, status = $19, unqualified_reason = $20,
                         owner_id = $21, qualified_at = $22, version = version + 1, updated_at = $23,
                         email_domain_kind = $24, external_id = $25, tags = $26, custom_fields = $27,
                         -- disqualified now, or still since then; open again: no closing time
                         closed_at = case when $19 <> 'unqualified' then null
                                          when status = 'unqualified' then closed_at else $23 end
                     where organization_id = $1 and id = $2 and version = $3",
                )
                .bind(org)
                .bind(current.id)
                .bind(current.version)
                .bind(f.first_name.as_deref())
                .bind(f.last_name.as_deref())
                .bind(f.name_key())
                .bind(f.email.as_ref().map(Email::as_str))
                .bind(f.phone.as_deref())
                .bind(f.company_name.as_deref())
                .bind(f.company_key())
                .bind(f.title.as_deref())
                .bind(f.industry.as_deref())
                .bind(f.employee_count)
                .bind(f.country.as_ref().map(|c| c.as_str()))
                .bind(f.source.as_deref())
                .bind(f.estimated_value.map(|v| v.minor()))
                .bind(f.currency.as_str())
                .bind(f.value_period.map(|v| v.as_str()))
                .bind(p.status.as_str())
                .bind(p.unqualified_reason.as_deref())
                .bind(f.owner_id)
                .bind(p.qualified_at)
                .bind(now)
                .bind(f.email.as_ref().and_then(|e| email_domain_kind(e.as_str())))
                .bind(f.external_id.as_deref())
                .bind($crate::rows::tags_json(&f.tags))
                .bind($crate::custom_fields::values_json(&f.custom_fields))
                .execute(&mut *conn)
                .await
                .map_err($crate::lead_core::lead_write_error)?;
                Ok(())
            }

            /// Inserts a lead, scores it, and tells its owner when someone
            /// else assigned it to them. Returns the stored lead.
            pub(crate) async fn insert_lead(
                tx: &mut Tx,
                org: Uuid,
                new: &NewLead,
                actor: Actor,
                now: DateTime<Utc>,
            ) -> $crate::Result<Lead> {
                let id = Uuid::now_v7();
                let f = &new.fields;
                let p = &new.progress;
                super::custom_field_store::check_keys(tx, org, ::pipewise_domain::custom_field::Resource::Leads, &f.custom_fields)
                    .await?;
                sqlx::query(
                    "insert into leads (id, organization_id, first_name, last_name, name_key, email, phone,
                                        company_name, company_key, title, industry, employee_count, country, source,
                                        estimated_value_minor, currency, value_period, status, unqualified_reason,
                                        owner_id, score, mql_at, qualified_at, converted_at, last_activity_at,
                                        converted_contact_id, converted_account_id, converted_deal_id, form_id,
                                        version, created_at, updated_at, deleted_at, email_domain_kind, closed_at,
                                        external_id, tags, custom_fields)
                     values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19,
                             $20, 0, null, $21, $22, null, null, null, null, $23, 1, $24, $25, null, $26,
                             case $18 when 'unqualified' then $25 when 'converted' then $22 end, $27, $28, $29)",
                )
                .bind(id)
                .bind(org)
                .bind(f.first_name.as_deref())
                .bind(f.last_name.as_deref())
                .bind(f.name_key())
                .bind(f.email.as_ref().map(Email::as_str))
                .bind(f.phone.as_deref())
                .bind(f.company_name.as_deref())
                .bind(f.company_key())
                .bind(f.title.as_deref())
                .bind(f.industry.as_deref())
                .bind(f.employee_count)
                .bind(f.country.as_ref().map(|c| c.as_str()))
                .bind(f.source.as_deref())
                .bind(f.estimated_value.map(|v| v.minor()))
                .bind(f.currency.as_str())
                .bind(f.value_period.map(|v| v.as_str()))
                .bind(p.status.as_str())
                .bind(p.unqualified_reason.as_deref())
                .bind(f.owner_id)
                .bind(p.qualified_at)
                .bind(p.converted_at)
                .bind(new.form_id)
                .bind(new.created_at)
                .bind(now)
                .bind(f.email.as_ref().and_then(|e| email_domain_kind(e.as_str())))
                .bind(f.external_id.as_deref())
                .bind($crate::rows::tags_json(&f.tags))
                .bind($crate::custom_fields::values_json(&f.custom_fields))
                .execute(&mut **tx)
                .await
                .map_err($crate::lead_core::lead_write_error)?;
                let lead = rescore_lead(tx, org, id, actor, now).await?;
                notify_assignment(tx, org, actor, RecordKind::Lead, id, &$crate::lead_core::display_name(&lead), None, lead.owner_id, now)
                    .await?;
                tx.created(org, actor, Record::Lead(&lead), now);
                Ok(lead)
            }

            /// Tells `owner` that a record is now theirs, unless they made
            /// the change themselves or already owned it.
            #[allow(clippy::too_many_arguments)]
            pub(crate) async fn notify_assignment(
                conn: &mut Conn,
                org: Uuid,
                actor: Actor,
                kind: RecordKind,
                record_id: Uuid,
                label: &str,
                previous_owner: Option<Uuid>,
                owner: Uuid,
                now: DateTime<Utc>,
            ) -> $crate::Result<()> {
                if previous_owner == Some(owner) || matches!(actor, Actor::User(user) if user == owner) {
                    return Ok(());
                }
                let message = format!("The {} {label} was assigned to you.", kind.as_str());
                let note = NewNotification {
                    user_id: owner,
                    kind: NotificationKind::Assigned,
                    record_kind: kind,
                    record_id,
                    message: &message,
                };
                notify(conn, org, &note, now).await
            }

            pub(crate) async fn notify(
                conn: &mut Conn,
                org: Uuid,
                note: &NewNotification<'_>,
                now: DateTime<Utc>,
            ) -> $crate::Result<()> {
                sqlx::query(
                    "insert into notifications (id, organization_id, user_id, kind, record_kind, record_id, message,
                                                read_at, created_at)
                     values ($1, $2, $3, $4, $5, $6, $7, null, $8)",
                )
                .bind(Uuid::now_v7())
                .bind(org)
                .bind(note.user_id)
                .bind(note.kind.as_str())
                .bind(note.record_kind.as_str())
                .bind(note.record_id)
                .bind(note.message)
                .bind(now)
                .execute(&mut *conn)
                .await?;
                Ok(())
            }
        }
    };
}

pub(crate) use impl_lead_core;

/// How a lead is named in a message: its name, else its company, else its
/// email; never empty.
pub(crate) fn display_name(lead: &Lead) -> String {
    let full = [lead.first_name.as_deref(), lead.last_name.as_deref()]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
    if !full.is_empty() {
        full
    } else if let Some(company) = &lead.company_name {
        company.clone()
    } else if let Some(email) = &lead.email {
        email.clone()
    } else {
        lead.id.to_string()
    }
}

pub(crate) fn mql_message(lead: &Lead, score: Score) -> String {
    format!(
        "Lead {} reached the MQL threshold with a score of {}.",
        display_name(lead),
        score.value()
    )
}

/// A foreign key violation on a lead write means an owner or a linked
/// record went away after the API checked it.
pub(crate) fn lead_write_error(err: sqlx::Error) -> StoreError {
    match &err {
        sqlx::Error::Database(db) if db.kind() == sqlx::error::ErrorKind::ForeignKeyViolation => {
            StoreError::Invalid("owner_id", "must be an active user of the organization")
        }
        sqlx::Error::Database(db) if crate::error::is_external_id_clash(db.as_ref()) => {
            StoreError::Conflict("another lead has this external_id")
        }
        _ => StoreError::Database(err),
    }
}
