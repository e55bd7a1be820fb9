//! CSV imports as storage sees them. An [`ImportTx`] is one write
//! transaction for a whole file: the caller reads the file a batch of rows
//! at a time, finds what each batch matches, writes it, and in the end
//! commits or drops the transaction (an atomic import with a failed row, a
//! dry run). So a file is kept whole or not at all, and a later row sees
//! the records an earlier one wrote.
//!
//! Concurrency: the transaction first takes the organization's import lock
//! (PostgreSQL: an advisory lock; SQLite: the one write lock), so two
//! imports of one organization run one after the other. An import of leads
//! or contacts then takes the organization's `emails` lock whole, which
//! every single writer of an email holds shared (`enter_email_writes`), and
//! reads the records it matches `for update`: no email can be claimed and no
//! matched record changed by anyone else until the import ends. (One lock,
//! not one per email: a transaction of 100,000 advisory locks overflows
//! PostgreSQL's lock table.) The unique indexes on `external_id` hold
//! whatever slips past.

use std::collections::HashMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use pipewise_domain::{
    import::{Dedupe, ImportCounts, ImportMode, ImportResource, ImportStatus, RowError},
    Account, Contact, Deal, Lead,
};
use uuid::Uuid;

use crate::{
    AccountFields, Actor, BulkAccount, BulkContact, BulkDeal, BulkLead, ContactFields, DealChanges, LeadChange, Result,
};

/// An import as `GET /imports/{id}` shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportRecord {
    pub id: Uuid,
    pub organization_id: Uuid,
    pub resource: ImportResource,
    pub mode: ImportMode,
    pub dedupe: Option<Dedupe>,
    pub status: ImportStatus,
    pub counts: ImportCounts,
    /// The first failed rows, in file order.
    pub errors: Vec<RowError>,
    /// Whether more rows failed than `errors` holds.
    pub errors_truncated: bool,
    pub actor: Actor,
    pub created_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
}

/// The records a batch of rows matches.
#[derive(Debug, Clone)]
pub struct Found<T> {
    /// By `external_id`.
    pub by_external_id: HashMap<String, T>,
    /// By lower-cased email (leads, contacts) or domain (accounts): the
    /// oldest record that has it.
    pub by_key: HashMap<String, T>,
    /// Emails that a record of the other kind holds (a contact for a lead
    /// row, an open lead for a contact row): the API's duplicate guard
    /// refuses them, and so does an import.
    pub held_elsewhere: HashMap<String, Uuid>,
}

impl<T> Default for Found<T> {
    fn default() -> Self {
        Self {
            by_external_id: HashMap::new(),
            by_key: HashMap::new(),
            held_elsewhere: HashMap::new(),
        }
    }
}

/// One write transaction over a whole import; dropping it without
/// [`ImportTx::commit`] rolls every row back.
#[async_trait]
pub trait ImportTx: Send {
    /// The leads with one of `external_ids`, or one of `emails` (open leads,
    /// live or trashed, as the duplicate guard reads them), locked.
    async fn find_leads(&mut self, external_ids: &[String], emails: &[String]) -> Result<Found<Lead>>;
    async fn find_contacts(&mut self, external_ids: &[String], emails: &[String]) -> Result<Found<Contact>>;
    /// Accounts by external id or by domain (live ones only for the domain).
    async fn find_accounts(&mut self, external_ids: &[String], domains: &[String]) -> Result<Found<Account>>;
    /// Which of `ids` are live accounts of the organization.
    async fn live_accounts(&mut self, ids: &[Uuid]) -> Result<Vec<Uuid>>;

    /// Inserts the leads and scores them with the organization's rules, as
    /// of their creation; no one is notified (an import is a load, not news).
    async fn insert_leads(&mut self, rows: &[BulkLead]) -> Result<()>;
    /// Writes each change over its lead and scores it again.
    async fn update_leads(&mut self, rows: &[(Lead, LeadChange)], now: DateTime<Utc>) -> Result<()>;
    async fn insert_contacts(&mut self, rows: &[BulkContact]) -> Result<()>;
    async fn update_contacts(&mut self, rows: &[(Contact, ContactFields)], now: DateTime<Utc>) -> Result<()>;
    async fn insert_accounts(&mut self, rows: &[BulkAccount]) -> Result<()>;
    async fn update_accounts(&mut self, rows: &[(Account, AccountFields)], now: DateTime<Utc>) -> Result<()>;
    /// Deals by external id (deals have no other key), locked.
    async fn find_deals(&mut self, external_ids: &[String]) -> Result<Found<Deal>>;
    /// Inserts the deals with their event logs, written as the rows tell
    /// their history (backdated events keep the time of writing apart).
    async fn insert_deals(&mut self, rows: &[BulkDeal]) -> Result<()>;
    /// Writes each change over its deal as its PATCH does (a new owner is told).
    async fn update_deals(&mut self, rows: &[(Deal, DealChanges)], actor: Actor, now: DateTime<Utc>) -> Result<()>;

    async fn commit(self: Box<Self>) -> Result<()>;
}

#[async_trait]
pub trait ImportStore {
    /// Starts an import of `org`'s records, once any other import of the
    /// organization has ended.
    async fn begin_import(&self, org: Uuid) -> Result<Box<dyn ImportTx>>;
    /// Keeps the outcome of an import, and an audit entry for it.
    async fn save_import(&self, import: &ImportRecord) -> Result<()>;
    async fn import(&self, org: Uuid, id: Uuid) -> Result<ImportRecord>;
}

/// The most failed rows an import keeps, so that a file of 100,000 bad rows
/// stays a readable answer; the counts are always complete.
pub const MAX_ROW_ERRORS: usize = 1000;

#[derive(sqlx::FromRow)]
pub(crate) struct ImportRow {
    id: Uuid,
    organization_id: Uuid,
    resource: String,
    mode: String,
    dedupe: Option<String>,
    status: String,
    rows_total: i64,
    rows_created: i64,
    rows_updated: i64,
    rows_skipped: i64,
    rows_failed: i64,
    errors: String,
    errors_truncated: bool,
    actor_user_id: Option<Uuid>,
    actor_api_key_id: Option<Uuid>,
    created_at: DateTime<Utc>,
    finished_at: DateTime<Utc>,
}

/// A row error as kept in the `errors` column.
#[derive(serde::Serialize, serde::Deserialize)]
struct StoredRowError {
    line: u64,
    column: String,
    message: String,
}

pub(crate) fn errors_json(errors: &[RowError]) -> String {
    let stored: Vec<StoredRowError> = errors
        .iter()
        .map(|e| StoredRowError {
            line: e.line,
            column: e.column.clone(),
            message: e.message.clone(),
        })
        .collect();
    serde_json::to_string(&stored).expect("row errors serialize")
}

impl TryFrom<ImportRow> for ImportRecord {
    type Error = crate::StoreError;
    fn try_from(row: ImportRow) -> Result<Self> {
        let id = row.id;
        let bad = |what: &str| crate::StoreError::Corrupt(format!("import {id}: {what}"));
        let count = |n: i64| u64::try_from(n).map_err(|_| bad("count"));
        let errors: Vec<StoredRowError> = serde_json::from_str(&row.errors).map_err(|_| bad("errors"))?;
        Ok(ImportRecord {
            id,
            organization_id: row.organization_id,
            resource: ImportResource::parse(&row.resource).ok_or_else(|| bad("resource"))?,
            mode: ImportMode::parse(&row.mode).ok_or_else(|| bad("mode"))?,
            dedupe: row
                .dedupe
                .as_deref()
                .map(|d| Dedupe::parse(d).ok_or_else(|| bad("dedupe")))
                .transpose()?,
            status: ImportStatus::parse(&row.status).ok_or_else(|| bad("status"))?,
            counts: ImportCounts {
                rows: count(row.rows_total)?,
                created: count(row.rows_created)?,
                updated: count(row.rows_updated)?,
                skipped: count(row.rows_skipped)?,
                failed: count(row.rows_failed)?,
            },
            errors: errors
                .into_iter()
                .map(|e| RowError {
                    line: e.line,
                    column: e.column,
                    message: e.message,
                })
                .collect(),
            errors_truncated: row.errors_truncated,
            actor: match (row.actor_user_id, row.actor_api_key_id) {
                (Some(user), _) => Actor::User(user),
                (None, Some(key)) => Actor::ApiKey(key),
                (None, None) => Actor::System,
            },
            created_at: row.created_at,
            finished_at: row.finished_at,
        })
    }
}

/// Implements [`ImportStore`] in the module of `impl_bulk_store!` and
/// `impl_lead_core!`, whose inserts and scoring it uses.
macro_rules! impl_import_store {
    ($store:ty) => {
        mod import_store {
            use super::*;
            use ::chrono::{DateTime, Utc};
            use ::pipewise_domain::{scoring::reads_potential, Account, Contact, Lead, MqlThreshold, ScoringRule};
            use ::uuid::Uuid;
            use $crate::accounts::AccountRow;
            use $crate::bulk;
            use $crate::contacts::ContactRow;
            use $crate::customers::CustomerYear;
            use $crate::imports::{errors_json, Found, ImportRecord, ImportRow, ImportTx};
            use $crate::lead_core::LeadRow;
            use $crate::{AccountFields, Actor, ContactFields, LeadChange, StoreError};

            /// What scoring an imported lead reads, loaded once per import.
            struct Scoring {
                rules: Vec<ScoringRule>,
                threshold: MqlThreshold,
                customers: Option<CustomerYear>,
            }

            pub(crate) struct Import {
                tx: Tx,
                org: Uuid,
                scoring: Option<Scoring>,
                emails_locked: bool,
            }

            /// `select * from {table} where organization_id = $1 and {column} in (…) {filter}`,
            /// locked for the rest of the import.
            async fn select_in<R>(
                tx: &mut Tx,
                table: &str,
                org: Uuid,
                column: &str,
                values: &[String],
                filter: &str,
            ) -> $crate::Result<Vec<R>>
            where
                R: for<'r> sqlx::FromRow<'r, super::DbRow> + Send + Unpin,
            {
                if values.is_empty() {
                    return Ok(Vec::new());
                }
                let mut qb = sqlx::QueryBuilder::new(format!("select * from {table} where organization_id = "));
                qb.push_bind(org).push(format!(" and {column} in ("));
                let mut list = qb.separated(", ");
                for v in values {
                    list.push_bind(v.clone());
                }
                qb.push(format!(") {filter} order by id {}", <$store>::FOR_UPDATE));
                Ok(qb.build_query_as::<R>().fetch_all(&mut **tx).await?)
            }

            /// The first record (by id) of each key.
            fn first_by<T>(records: &[T], key: impl Fn(&T) -> Option<&str>) -> std::collections::HashMap<String, T>
            where
                T: Clone,
            {
                let mut out = std::collections::HashMap::new();
                for r in records {
                    if let Some(k) = key(r) {
                        out.entry(k.to_owned()).or_insert_with(|| r.clone());
                    }
                }
                out
            }

            impl Import {
                /// Checks, as a single write does, that the custom fields
                /// the rows hold values of are still defined.
                async fn check_custom<'a>(
                    &mut self,
                    resource: ::pipewise_domain::custom_field::Resource,
                    values: impl Iterator<Item = &'a ::pipewise_domain::CustomValues>,
                ) -> $crate::Result<()> {
                    let mut keys = ::std::collections::BTreeMap::new();
                    for row in values {
                        for (key, value) in row.iter() {
                            keys.entry(key.to_owned()).or_insert_with(|| value.clone());
                        }
                    }
                    let union = ::pipewise_domain::CustomValues::new(keys);
                    super::custom_field_store::check_keys(&mut self.tx, self.org, resource, &union).await
                }

                /// Takes the organization's `emails` lock whole, once.
                async fn lock_emails(&mut self) -> $crate::Result<()> {
                    if !self.emails_locked {
                        super::lock_key(&mut self.tx, self.org, "emails").await?;
                        self.emails_locked = true;
                    }
                    Ok(())
                }

                async fn scoring(&mut self, now: DateTime<Utc>) -> $crate::Result<&Scoring> {
                    if self.scoring.is_none() {
                        let rules = super::lead_core::active_rules(&mut self.tx, self.org).await?;
                        let threshold = super::lead_core::mql_threshold(&mut self.tx, self.org).await?;
                        let customers = if reads_potential(&rules) {
                            Some(super::customer_store::customer_year(&mut self.tx, self.org, now).await?)
                        } else {
                            None
                        };
                        self.scoring = Some(Scoring {
                            rules,
                            threshold,
                            customers,
                        });
                    }
                    Ok(self.scoring.as_ref().expect("loaded above"))
                }

                /// Scores the leads `ids` as they are now stored; a lead that
                /// reaches the threshold for the first time does so at
                /// `at(lead)`.
                async fn score(
                    &mut self,
                    ids: &[Uuid],
                    now: DateTime<Utc>,
                    at: impl Fn(&Lead) -> DateTime<Utc>,
                ) -> $crate::Result<()> {
                    if ids.is_empty() {
                        return Ok(());
                    }
                    self.scoring(now).await?;
                    let mut qb = sqlx::QueryBuilder::new(format!(
                        "{} where l.organization_id = ",
                        super::scoring_store::SCORED_LEAD
                    ));
                    qb.push_bind(self.org).push(" and l.id in (");
                    let mut list = qb.separated(", ");
                    for id in ids {
                        list.push_bind(*id);
                    }
                    qb.push(")");
                    let rows = qb
                        .build_query_as::<super::scoring_store::ScoredLeadRow>()
                        .fetch_all(&mut *self.tx)
                        .await?;
                    let scoring = self.scoring.as_ref().expect("loaded above");
                    let mut changes = Vec::new();
                    for row in rows {
                        let lead: Lead = row.lead.try_into()?;
                        let next = $crate::scoring::rescored(
                            &lead,
                            row.activities_done,
                            &scoring.rules,
                            scoring.threshold,
                            scoring.customers.as_ref(),
                            at(&lead),
                        );
                        if let Some((score, mql_at)) = next {
                            changes.push((lead.id, score, mql_at));
                        }
                    }
                    for chunk in changes.chunks(1000) {
                        super::scoring_store::update_scores(&mut self.tx, chunk).await?;
                    }
                    Ok(())
                }
            }

            #[async_trait::async_trait]
            impl ImportTx for Import {
                async fn find_leads(
                    &mut self,
                    external_ids: &[String],
                    emails: &[String],
                ) -> $crate::Result<Found<Lead>> {
                    self.lock_emails().await?;
                    let mut leads: Vec<LeadRow> =
                        select_in(&mut self.tx, "leads", self.org, "external_id", external_ids, "").await?;
                    leads.extend(
                        select_in::<LeadRow>(
                            &mut self.tx,
                            "leads",
                            self.org,
                            "email",
                            emails,
                            "and converted_at is null",
                        )
                        .await?,
                    );
                    let leads: Vec<Lead> = leads
                        .into_iter()
                        .map(TryInto::try_into)
                        .collect::<$crate::Result<_>>()?;
                    let contacts: Vec<ContactRow> =
                        select_in(&mut self.tx, "contacts", self.org, "email", emails, "").await?;
                    let contacts: Vec<Contact> = contacts
                        .into_iter()
                        .map(TryInto::try_into)
                        .collect::<$crate::Result<_>>()?;
                    Ok(Found {
                        by_external_id: first_by(&leads, |l| l.external_id.as_deref()),
                        by_key: first_by(&leads, |l| {
                            l.email.as_deref().filter(|_| l.progress.converted_at.is_none())
                        }),
                        held_elsewhere: contacts
                            .iter()
                            .filter_map(|c| Some((c.email.clone()?, c.id)))
                            .collect(),
                    })
                }

                async fn find_contacts(
                    &mut self,
                    external_ids: &[String],
                    emails: &[String],
                ) -> $crate::Result<Found<Contact>> {
                    self.lock_emails().await?;
                    let mut contacts: Vec<ContactRow> = select_in(
                        &mut self.tx,
                        "contacts",
                        self.org,
                        "external_id",
                        external_ids,
                        "",
                    )
                    .await?;
                    contacts.extend(
                        select_in::<ContactRow>(&mut self.tx, "contacts", self.org, "email", emails, "").await?,
                    );
                    let contacts: Vec<Contact> = contacts
                        .into_iter()
                        .map(TryInto::try_into)
                        .collect::<$crate::Result<_>>()?;
                    let leads: Vec<LeadRow> = select_in(
                        &mut self.tx,
                        "leads",
                        self.org,
                        "email",
                        emails,
                        "and converted_at is null",
                    )
                    .await?;
                    let leads: Vec<Lead> = leads
                        .into_iter()
                        .map(TryInto::try_into)
                        .collect::<$crate::Result<_>>()?;
                    Ok(Found {
                        by_external_id: first_by(&contacts, |c| c.external_id.as_deref()),
                        by_key: first_by(&contacts, |c| c.email.as_deref()),
                        held_elsewhere: leads
                            .iter()
                            .filter_map(|l| Some((l.email.clone()?, l.id)))
                            .collect(),
                    })
                }

                async fn find_accounts(
                    &mut self,
                    external_ids: &[String],
                    domains: &[String],
                ) -> $crate::Result<Found<Account>> {
                    let mut accounts: Vec<AccountRow> = select_in(
                        &mut self.tx,
                        "accounts",
                        self.org,
                        "external_id",
                        external_ids,
                        "",
                    )
                    .await?;
                    accounts.extend(
                        select_in::<AccountRow>(
                            &mut self.tx,
                            "accounts",
                            self.org,
                            "domain",
                            domains,
                            "and deleted_at is null",
                        )
                        .await?,
                    );
                    let accounts: Vec<Account> = accounts
                        .into_iter()
                        .map(Account::try_from)
                        .collect::<$crate::Result<_>>()?;
                    Ok(Found {
                        by_external_id: first_by(&accounts, |a| a.external_id.as_deref()),
                        by_key: first_by(&accounts, |a| {
                            a.domain.as_deref().filter(|_| a.deleted_at.is_none())
                        }),
                        held_elsewhere: Default::default(),
                    })
                }

                async fn live_accounts(&mut self, ids: &[Uuid]) -> $crate::Result<Vec<Uuid>> {
                    if ids.is_empty() {
                        return Ok(Vec::new());
                    }
                    let mut qb = sqlx::QueryBuilder::new("select id from accounts where organization_id = ");
                    qb.push_bind(self.org).push(" and deleted_at is null and id in (");
                    let mut list = qb.separated(", ");
                    for id in ids {
                        list.push_bind(*id);
                    }
                    qb.push(")");
                    Ok(qb.build_query_scalar::<Uuid>().fetch_all(&mut *self.tx).await?)
                }

                async fn insert_leads(&mut self, rows: &[bulk::BulkLead]) -> $crate::Result<()> {
                    self.check_custom(
                        ::pipewise_domain::custom_field::Resource::Leads,
                        rows.iter().map(|r| &r.fields.custom_fields),
                    )
                    .await?;
                    let mut values = Vec::new();
                    bulk::lead_values(self.org, rows, &mut values);
                    super::bulk_store::insert_values(&mut self.tx, &bulk::LEADS, &values).await?;
                    let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
                    let now = rows.iter().map(|r| r.created_at).max().unwrap_or_else(Utc::now);
                    self.score(&ids, now, |lead| lead.created_at).await
                }

                async fn update_leads(
                    &mut self,
                    rows: &[(Lead, LeadChange)],
                    now: DateTime<Utc>,
                ) -> $crate::Result<()> {
                    for (current, change) in rows {
                        super::lead_core::write_lead_change(&mut self.tx, self.org, current, change, now).await?;
                    }
                    let ids: Vec<Uuid> = rows.iter().map(|(l, _)| l.id).collect();
                    self.score(&ids, now, |_| now).await
                }

                async fn insert_contacts(&mut self, rows: &[bulk::BulkContact]) -> $crate::Result<()> {
                    self.check_custom(
                        ::pipewise_domain::custom_field::Resource::Contacts,
                        rows.iter().map(|r| &r.fields.custom_fields),
                    )
                    .await?;
                    let mut values = Vec::new();
                    bulk::contact_values(self.org, rows, &mut values);
                    super::bulk_store::insert_values(&mut self.tx, &bulk::CONTACTS, &values).await
                }

                async fn update_contacts(
                    &mut self,
                    rows: &[(Contact, ContactFields)],
                    now: DateTime<Utc>,
                ) -> $crate::Result<()> {
                    for (current, fields) in rows {
                        super::contact_store::write_contact(&mut self.tx, self.org, current, fields, now).await?;
                    }
                    Ok(())
                }

                async fn insert_accounts(&mut self, rows: &[bulk::BulkAccount]) -> $crate::Result<()> {
                    self.check_custom(
                        ::pipewise_domain::custom_field::Resource::Accounts,
                        rows.iter().map(|r| &r.fields.custom_fields),
                    )
                    .await?;
                    let mut values = Vec::new();
                    bulk::account_values(self.org, rows, &mut values);
                    super::bulk_store::insert_values(&mut self.tx, &bulk::ACCOUNTS, &values).await
                }

                async fn update_accounts(
                    &mut self,
                    rows: &[(Account, AccountFields)],
                    now: DateTime<Utc>,
                ) -> $crate::Result<()> {
                    for (current, fields) in rows {
                        super::account_store::write_account(&mut self.tx, self.org, current, fields, now).await?;
                    }
                    Ok(())
                }

                async fn find_deals(
                    &mut self,
                    external_ids: &[String],
                ) -> $crate::Result<Found<::pipewise_domain::Deal>> {
                    if external_ids.is_empty() {
                        return Ok(Found::default());
                    }
                    let mut qb = sqlx::QueryBuilder::new("select id from deals where organization_id = ");
                    qb.push_bind(self.org).push(" and external_id in (");
                    let mut list = qb.separated(", ");
                    for e in external_ids {
                        list.push_bind(e.clone());
                    }
                    qb.push(format!(") order by id {}", <$store>::FOR_UPDATE));
                    let ids: Vec<Uuid> = qb.build_query_scalar().fetch_all(&mut *self.tx).await?;
                    let mut deals = Vec::with_capacity(ids.len());
                    for id in ids {
                        deals.push(super::load_deal(&mut self.tx, self.org, id, None, false).await?);
                    }
                    Ok(Found {
                        by_external_id: first_by(&deals, |d| d.external_id.as_deref()),
                        by_key: Default::default(),
                        held_elsewhere: Default::default(),
                    })
                }

                async fn insert_deals(&mut self, rows: &[bulk::BulkDeal]) -> $crate::Result<()> {
                    self.check_custom(
                        ::pipewise_domain::custom_field::Resource::Deals,
                        rows.iter().map(|r| &r.custom_fields),
                    )
                    .await?;
                    let mut values = Vec::new();
                    bulk::deal_values(self.org, rows, &mut values);
                    super::bulk_store::insert_values(&mut self.tx, &bulk::DEALS, &values).await?;
                    values.clear();
                    bulk::deal_contact_values(self.org, rows, &mut values);
                    super::bulk_store::insert_values(&mut self.tx, &bulk::DEAL_CONTACTS, &values).await?;
                    values.clear();
                    bulk::deal_event_values(self.org, rows, &mut values);
                    super::bulk_store::insert_values(&mut self.tx, &bulk::DEAL_EVENTS, &values).await
                }

                async fn update_deals(
                    &mut self,
                    rows: &[(::pipewise_domain::Deal, $crate::DealChanges)],
                    actor: Actor,
                    now: DateTime<Utc>,
                ) -> $crate::Result<()> {
                    for (current, changes) in rows {
                        super::change_deal(&mut self.tx, self.org, current.clone(), changes, actor, now).await?;
                    }
                    Ok(())
                }

                async fn commit(self: Box<Self>) -> $crate::Result<()> {
                    self.tx.commit().await?;
                    Ok(())
                }
            }

            #[async_trait::async_trait]
            impl $crate::imports::ImportStore for $store {
                #[tracing::instrument(skip_all)]
                async fn begin_import(&self, org: Uuid) -> $crate::Result<Box<dyn ImportTx>> {
                    let mut tx = self.begin_bulk().await?;
                    // One import of an organization at a time (see the module's comment).
                    super::lock_key(&mut tx, org, "import").await?;
                    Ok(Box::new(Import {
                        tx,
                        org,
                        scoring: None,
                        emails_locked: false,
                    }))
                }

                #[tracing::instrument(skip_all)]
                async fn save_import(&self, import: &ImportRecord) -> $crate::Result<()> {
                    let (user, key, _) = import.actor.ids();
                    let count = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
                    let mut tx = self.begin_write().await?;
                    sqlx::query(
                        "insert into imports (id, organization_id, resource, mode, dedupe, status, rows_total,
                                              rows_created, rows_updated, rows_skipped, rows_failed, errors,
                                              errors_truncated, actor_user_id, actor_api_key_id, created_at,
                                              finished_at)
                         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)",
                    )
                    .bind(import.id)
                    .bind(import.organization_id)
                    .bind(import.resource.as_str())
                    .bind(import.mode.as_str())
                    .bind(import.dedupe.map(|d| d.as_str()))
                    .bind(import.status.as_str())
                    .bind(count(import.counts.rows))
                    .bind(count(import.counts.created))
                    .bind(count(import.counts.updated))
                    .bind(count(import.counts.skipped))
                    .bind(count(import.counts.failed))
                    .bind(errors_json(&import.errors))
                    .bind(import.errors_truncated)
                    .bind(user)
                    .bind(key)
                    .bind(import.created_at)
                    .bind(import.finished_at)
                    .execute(&mut *tx)
                    .await?;
                    let action = format!("import.{}", import.resource.as_str());
                    super::audit(
                        &mut tx,
                        import.organization_id,
                        import.actor,
                        &action,
                        Some(import.id),
                        import.finished_at,
                    )
                    .await?;
                    tx.commit().await?;
                    Ok(())
                }

                #[tracing::instrument(skip_all)]
                async fn import(&self, org: Uuid, id: Uuid) -> $crate::Result<ImportRecord> {
                    sqlx::query_as::<_, ImportRow>("select * from imports where organization_id = $1 and id = $2")
                        .bind(org)
                        .bind(id)
                        .fetch_optional(&self.pool)
                        .await?
                        .ok_or(StoreError::NotFound)?
                        .try_into()
                }
            }
        }
    };
}

pub(crate) use impl_import_store;
