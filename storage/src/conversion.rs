//! Lead conversion: a lead becomes a contact, usually at an account, and
//! optionally a deal, all in one write transaction that starts by locking the
//! lead. Two conversions of one lead queue up on that lock and the second
//! finds it converted; any failure half-way (a stage of another pipeline, a
//! duplicate email) rolls back everything, so a conversion never leaves a
//! stray contact, account or deal behind.
//!
//! Defaults when the request leaves something out:
//! - account: the one named; else the account of the contact named; else,
//!   when the lead has a company name, a live account whose name matches it
//!   case-insensitively, else one whose domain is the lead's business email
//!   domain, else a new one from the lead (name, business domain, industry,
//!   employee count). A lead without a company name gets no account.
//! - contact: the one named (left as it is); else a new one carrying the
//!   lead's name, email, phone and title, at the account, with the buying role.
//! - deal: only when asked for; title "<company or name> deal", the lead's
//!   currency and source, the stage's pipeline or else the organization's
//!   oldest one, that pipeline's first stage. The contact joins it with the
//!   buying role.
//! - everything new belongs to the lead's owner.
//!
//! When someone other than the lead's owner converts it, the owner gets one
//! `assigned` notification, for the most telling record the conversion made
//! for them: the deal, else the new contact, else the new account (an
//! existing contact and account are not newly theirs: no notification).

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use pipewise_domain::{deal::BuyingRole, scoring::email_domain_kind, Account, Amount, Contact, Currency, Deal, Lead};
use uuid::Uuid;

use crate::{Actor, StoreError};

/// Which account the converted lead ends up at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountChoice {
    /// A live account of the organization (422 on `account_id` otherwise).
    Existing(Uuid),
    /// Found or made from the lead, as the module documentation says.
    FromLead,
}

/// Which contact the converted lead becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContactChoice {
    /// A live contact of the organization (422 on `contact_id` otherwise).
    Existing(Uuid),
    /// A new contact from the lead's fields.
    FromLead,
}

/// The deal a conversion opens.
#[derive(Debug, Clone, PartialEq)]
pub struct ConversionDeal {
    /// Already validated; `None`: "<company or name> deal".
    pub title: Option<String>,
    pub amount: Amount,
    /// `None`: the lead's currency.
    pub currency: Option<Currency>,
    /// `None`: the pipeline of `stage_id`, else the organization's oldest pipeline.
    pub pipeline_id: Option<Uuid>,
    /// `None`: the first stage of the pipeline.
    pub stage_id: Option<Uuid>,
    pub expected_close_date: Option<NaiveDate>,
}

/// A conversion as the API asks for it.
#[derive(Debug, Clone, PartialEq)]
pub struct Conversion {
    pub lead_id: Uuid,
    /// Reps convert only their own leads: another's is `NotFound`.
    pub visible_owner: Option<Uuid>,
    /// The lead's version from `If-Match`: `VersionMismatch` when stale.
    pub if_version: Option<i64>,
    pub account: AccountChoice,
    pub contact: ContactChoice,
    /// The contact's role, on a new contact and on its link to the deal.
    pub buying_role: Option<BuyingRole>,
    pub deal: Option<ConversionDeal>,
    /// Backdating: when the conversion happened (checked against the lead's
    /// `created_at` here; the API checks it is not in the future). It becomes
    /// `converted_at` and the deal's `created_at`.
    pub at: Option<DateTime<Utc>>,
}

/// What a conversion made of the lead.
#[derive(Debug, Clone, PartialEq)]
pub struct Converted {
    pub lead: Lead,
    pub contact: Contact,
    pub account: Option<Account>,
    pub deal: Option<Deal>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConversionError {
    /// A contact (live or trashed) already has the lead's email and no
    /// `contact_id` was given: the client should link that one instead.
    #[error("a contact with the lead's email already exists")]
    DuplicateContact { existing_id: Uuid },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for ConversionError {
    fn from(err: sqlx::Error) -> Self {
        ConversionError::Store(err.into())
    }
}

#[async_trait]
pub trait ConversionStore {
    /// Converts a live lead (see the module documentation), in one transaction.
    async fn convert_lead(
        &self,
        org: Uuid,
        conversion: &Conversion,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<Converted, ConversionError>;
}

pub const DEAL_TITLE_MAX: usize = 200;
pub const DEAL_SOURCE_MAX: usize = 100;
pub const ACCOUNT_INDUSTRY_MAX: usize = 100;

/// At most `max` characters of `text`: lead fields may be longer than the
/// same field of the record they carry over to.
pub(crate) fn truncated(text: &str, max: usize) -> String {
    text.chars().take(max).collect::<String>().trim_end().to_owned()
}

/// The domain of the lead's email when it is a company's, not a free mailer's.
pub(crate) fn business_domain(lead: &Lead) -> Option<String> {
    let email = lead.email.as_deref()?;
    if email_domain_kind(email)? != pipewise_domain::scoring::DOMAIN_KIND_BUSINESS {
        return None;
    }
    let (_, domain) = email.rsplit_once('@')?;
    Some(domain.trim_end_matches('.').to_lowercase())
}

/// "<company or name> deal", within the title's maximum length.
pub(crate) fn default_deal_title(lead: &Lead) -> String {
    let name = [lead.first_name.as_deref(), lead.last_name.as_deref()]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
    let base = lead
        .company_name
        .clone()
        .or((!name.is_empty()).then_some(name))
        .or(lead.email.clone())
        .unwrap_or_else(|| "Lead".to_owned());
    let suffix = " deal";
    format!("{}{suffix}", truncated(&base, DEAL_TITLE_MAX - suffix.len()))
}

/// Implements [`ConversionStore`] for a store type with `begin_write` and
/// `FOR_UPDATE`, in the module of `impl_store!` (for `audit`),
/// `impl_deal_store!` (for `insert_deal`) and `impl_lead_core!`.
macro_rules! impl_conversion_store {
    ($store:ty) => {
        mod conversion_store {
            use super::*;
            use ::chrono::{DateTime, Utc};
            use ::pipewise_domain::custom_field::{CustomField, CustomValues, Resource};
            use ::pipewise_domain::{deal::ForecastCategory, Account, Contact, DealContact, Lead, RecordKind};
            use ::uuid::Uuid;
            use $crate::accounts::AccountRow;
            use $crate::contacts::ContactRow;
            use $crate::conversion::{
                AccountChoice, ContactChoice, Conversion, ConversionDeal, ConversionError, Converted,
            };
            use $crate::lead_core::LeadRow;
            use $crate::{deals::NewDeal, Actor, StoreError};

            #[async_trait::async_trait]
            impl $crate::conversion::ConversionStore for $store {
                #[tracing::instrument(skip_all)]
                async fn convert_lead(
                    &self,
                    org: Uuid,
                    conversion: &Conversion,
                    actor: Actor,
                    now: DateTime<Utc>,
                ) -> Result<Converted, ConversionError> {
                    let mut tx = self.begin_write().await?;
                    super::lead_core::enter_email_writes(&mut tx, org).await?;
                    let lead = locked_lead(&mut tx, org, conversion).await?;
                    let at = match conversion.at {
                        Some(at) if at < lead.created_at => {
                            return Err(StoreError::Invalid("at", "must not be before the lead was created").into())
                        }
                        Some(at) => at,
                        None => now,
                    };
                    let progress = lead
                        .progress
                        .convert(at)
                        .map_err(|_| StoreError::Conflict("the lead is already converted"))?;
                    let owner_active: Option<bool> =
                        sqlx::query_scalar("select active from users where organization_id = $1 and id = $2")
                            .bind(org)
                            .bind(lead.owner_id)
                            .fetch_optional(&mut *tx)
                            .await?;
                    if owner_active != Some(true) {
                        return Err(StoreError::Conflict(
                            "the lead's owner is deactivated; give the lead to an active user first",
                        )
                        .into());
                    }

                    let (contact_values, deal_values) = carried_values(&mut tx, org, &lead).await?;
                    let existing_contact = match conversion.contact {
                        ContactChoice::Existing(id) => Some(live_contact(&mut tx, org, id).await?),
                        ContactChoice::FromLead => {
                            if let Some(email) = &lead.email {
                                // The email's lock, as every writer of a lead's or contact's
                                // email takes it (`lead_core::claim_email`): no lead or
                                // contact with this email can be written until the commit.
                                super::lock_key(&mut tx, org, &format!("email:{email}")).await?;
                                let holder: Option<Uuid> = sqlx::query_scalar(
                                    "select id from contacts where organization_id = $1 and email = $2",
                                )
                                .bind(org)
                                .bind(email)
                                .fetch_optional(&mut *tx)
                                .await?;
                                if let Some(existing_id) = holder {
                                    return Err(ConversionError::DuplicateContact { existing_id });
                                }
                            }
                            None
                        }
                    };
                    let (account, account_made) = resolve_account(
                        &mut tx,
                        org,
                        conversion.account,
                        existing_contact.as_ref(),
                        &lead,
                        now,
                    )
                    .await?;
                    let account_id = account.as_ref().map(|a| a.id);
                    let contact_made = existing_contact.is_none();
                    let contact = match existing_contact {
                        Some(contact) => contact,
                        None => new_contact(&mut tx, org, &lead, account_id, conversion, &contact_values, now).await?,
                    };
                    let deal = match &conversion.deal {
                        Some(request) => {
                            // The contact's role in the deal: the one asked for, else its own.
                            let role = conversion.buying_role.or(contact.buying_role);
                            let mut new = new_deal(&mut tx, org, &lead, request, account_id, contact.id, role, at).await?;
                            new.custom_fields = deal_values;
                            // It tells the owner about the deal, if someone else converts.
                            Some(
                                super::insert_deal(&mut tx, org, &new, actor, now)
                                    .await
                                    .map_err(deal_field)?,
                            )
                        }
                        None => None,
                    };
                    if deal.is_none() {
                        let made = if contact_made {
                            Some((RecordKind::Contact, contact.id, $crate::contacts::display_name(&contact)))
                        } else {
                            account
                                .as_ref()
                                .filter(|_| account_made)
                                .map(|a| (RecordKind::Account, a.id, a.name.clone()))
                        };
                        if let Some((kind, id, label)) = made {
                            super::lead_core::notify_assignment(
                                &mut tx,
                                org,
                                actor,
                                kind,
                                id,
                                &label,
                                None,
                                lead.owner_id,
                                now,
                            )
                            .await?;
                        }
                    }

                    sqlx::query(
                        "update leads
                         set status = $3, unqualified_reason = null, qualified_at = $4, converted_at = $5, closed_at = $5,
                             converted_contact_id = $6, converted_account_id = $7, converted_deal_id = $8,
                             version = version + 1, updated_at = $9
                         where organization_id = $1 and id = $2",
                    )
                    .bind(org)
                    .bind(lead.id)
                    .bind(progress.status.as_str())
                    .bind(progress.qualified_at)
                    .bind(progress.converted_at)
                    .bind(contact.id)
                    .bind(account_id)
                    .bind(deal.as_ref().map(|d| d.id))
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                    // Status is a scoring field: the score follows the conversion.
                    let converted = super::lead_core::rescore_lead(&mut tx, org, lead.id, actor, now).await?;
                    if let Some(account) = account.as_ref().filter(|_| account_made) {
                        tx.created(org, actor, $crate::events::Record::Account(account), now);
                    }
                    if contact_made {
                        tx.created(org, actor, $crate::events::Record::Contact(&contact), now);
                    }
                    tx.changed(org, actor, $crate::events::Record::Lead(&lead), $crate::events::Record::Lead(&converted), now);
                    let lead = converted;
                    tx.commit().await?;
                    Ok(Converted {
                        lead,
                        contact,
                        account,
                        deal,
                    })
                }
            }

            /// The live lead, locked until the transaction ends, if the caller may convert it.
            async fn locked_lead(tx: &mut Tx, org: Uuid, conversion: &Conversion) -> $crate::Result<Lead> {
                let sql = format!(
                    "select * from leads where organization_id = $1 and id = $2 and deleted_at is null and erased_at is null {}",
                    <$store>::FOR_UPDATE
                );
                let lead: Lead = sqlx::query_as::<_, LeadRow>(&sql)
                    .bind(org)
                    .bind(conversion.lead_id)
                    .fetch_optional(&mut **tx)
                    .await?
                    .ok_or(StoreError::NotFound)?
                    .try_into()?;
                if conversion.visible_owner.is_some_and(|me| me != lead.owner_id) {
                    return Err(StoreError::NotFound);
                }
                if conversion.if_version.is_some_and(|v| v != lead.version) {
                    return Err(StoreError::VersionMismatch);
                }
                Ok(lead)
            }

            async fn live_contact(tx: &mut Tx, org: Uuid, id: Uuid) -> $crate::Result<Contact> {
                sqlx::query_as::<_, ContactRow>(
                    "select * from contacts where organization_id = $1 and id = $2 and deleted_at is null",
                )
                .bind(org)
                .bind(id)
                .fetch_optional(&mut **tx)
                .await?
                .ok_or(StoreError::Invalid(
                    "contact_id",
                    "must be a contact of the organization that is not in the trash",
                ))?
                .try_into()
            }

            async fn live_account(tx: &mut Tx, org: Uuid, id: Uuid) -> $crate::Result<Option<Account>> {
                sqlx::query_as::<_, AccountRow>(
                    "select * from accounts where organization_id = $1 and id = $2 and deleted_at is null",
                )
                .bind(org)
                .bind(id)
                .fetch_optional(&mut **tx)
                .await?
                .map(Account::try_from)
                .transpose()
            }

            /// The account named, else the named contact's, else one found or
            /// made from the lead; and whether it was made here.
            async fn resolve_account(
                tx: &mut Tx,
                org: Uuid,
                choice: AccountChoice,
                contact: Option<&Contact>,
                lead: &Lead,
                now: DateTime<Utc>,
            ) -> $crate::Result<(Option<Account>, bool)> {
                if let AccountChoice::Existing(id) = choice {
                    return live_account(tx, org, id)
                        .await?
                        .map(|account| (Some(account), false))
                        .ok_or(StoreError::Invalid(
                            "account_id",
                            "must be an account of the organization that is not in the trash",
                        ));
                }
                if let Some(id) = contact.and_then(|c| c.account_id) {
                    if let Some(account) = live_account(tx, org, id).await? {
                        return Ok((Some(account), false));
                    }
                }
                let Some(company) = lead.company_name.as_deref() else {
                    return Ok((None, false));
                };
                let name_key = ::pipewise_domain::text::search_key(&[Some(company)]);
                let domain = $crate::conversion::business_domain(lead);
                // Conversions that look for the lead's company hold its name's (and its
                // domain's) lock until they commit, so of two leads of one company the
                // second looks after the first made the account, and finds it. Locks
                // are always taken in one order (email, name, domain), so no two
                // conversions can wait on each other in a cycle.
                super::lock_key(&mut **tx, org, &format!("company:{name_key}")).await?;
                if let Some(domain) = &domain {
                    super::lock_key(&mut **tx, org, &format!("domain:{domain}")).await?;
                }
                let by_name = sqlx::query_as::<_, AccountRow>(
                    "select * from accounts
                     where organization_id = $1 and name_key = $2 and deleted_at is null
                     order by id limit 1",
                )
                .bind(org)
                .bind(&name_key)
                .fetch_optional(&mut **tx)
                .await?;
                if let Some(row) = by_name {
                    return Ok((Some(row.try_into()?), false));
                }
                if let Some(domain) = &domain {
                    let by_domain = sqlx::query_as::<_, AccountRow>(
                        "select * from accounts
                         where organization_id = $1 and domain = $2 and deleted_at is null
                         order by id limit 1",
                    )
                    .bind(org)
                    .bind(domain)
                    .fetch_optional(&mut **tx)
                    .await?;
                    if let Some(row) = by_domain {
                        return Ok((Some(row.try_into()?), false));
                    }
                }
                let industry = lead
                    .industry
                    .as_deref()
                    .map(|i| $crate::conversion::truncated(i, $crate::conversion::ACCOUNT_INDUSTRY_MAX));
                let row = sqlx::query_as::<_, AccountRow>(
                    "insert into accounts (id, organization_id, name, name_key, domain, industry, employee_count,
                                           owner_id, version, created_at, updated_at, country)
                     values ($1, $2, $3, $4, $5, $6, $7, $8, 1, $9, $9, $10)
                     returning *",
                )
                .bind(Uuid::now_v7())
                .bind(org)
                .bind(company)
                .bind(&name_key)
                .bind(domain.as_deref())
                .bind(industry.as_deref())
                .bind(lead.employee_count)
                .bind(lead.owner_id)
                .bind(now)
                .bind(lead.country.as_ref().map(|c| c.as_str()))
                .fetch_one(&mut **tx)
                .await?;
                Ok((Some(row.try_into()?), true))
            }

            /// The lead's custom values the new contact and the new deal take
            /// over: those their own fields define under the same key and accept.
            async fn carried_values(
                tx: &mut Tx,
                org: Uuid,
                lead: &Lead,
            ) -> $crate::Result<(CustomValues, CustomValues)> {
                if lead.custom_fields.is_empty() {
                    return Ok(Default::default());
                }
                // Held from before the definitions are read, so none of them can go
                // before the contact and the deal are written (see `check_keys`).
                if !super::try_lock_key_shared(&mut **tx, org, "custom_fields:delete").await? {
                    return Err(StoreError::Conflict(
                        "a custom field is being deleted; try again in a moment",
                    ));
                }
                let fields = sqlx::query_as::<_, $crate::custom_fields::CustomFieldRow>(
                    "select * from custom_fields where organization_id = $1 and resource in ('contacts', 'deals')
                     order by id",
                )
                .bind(org)
                .fetch_all(&mut **tx)
                .await?
                .into_iter()
                .map(TryInto::try_into)
                .collect::<$crate::Result<Vec<CustomField>>>()?;
                let (contacts, deals): (Vec<_>, Vec<_>) =
                    fields.into_iter().partition(|f| f.resource == Resource::Contacts);
                Ok((lead.custom_fields.carried_to(&contacts), lead.custom_fields.carried_to(&deals)))
            }

            /// A new contact carrying the lead's fields.
            async fn new_contact(
                tx: &mut Tx,
                org: Uuid,
                lead: &Lead,
                account_id: Option<Uuid>,
                conversion: &Conversion,
                custom: &CustomValues,
                now: DateTime<Utc>,
            ) -> Result<Contact, ConversionError> {
                if lead.first_name.is_none() && lead.last_name.is_none() && lead.email.is_none() {
                    return Err(StoreError::Invalid(
                        "contact_id",
                        "is required: the lead has no first_name, last_name or email to make a new contact of",
                    )
                    .into());
                }
                super::custom_field_store::check_keys(&mut **tx, org, Resource::Contacts, custom).await?;
                let name_key =
                    ::pipewise_domain::text::search_key(&[lead.first_name.as_deref(), lead.last_name.as_deref()]);
                let row = sqlx::query_as::<_, ContactRow>(
                    "insert into contacts (id, organization_id, first_name, last_name, name_key, email, phone, title,
                                           account_id, buying_role, owner_id, version, created_at, updated_at, tags,
                                           custom_fields)
                     values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 1, $12, $12, $13, $14)
                     returning *",
                )
                .bind(Uuid::now_v7())
                .bind(org)
                .bind(lead.first_name.as_deref())
                .bind(lead.last_name.as_deref())
                .bind(name_key)
                .bind(lead.email.as_deref())
                .bind(lead.phone.as_deref())
                .bind(lead.title.as_deref())
                .bind(account_id)
                .bind(conversion.buying_role.map(|r| r.as_str()))
                .bind(lead.owner_id)
                .bind(now)
                // The lead's tags follow it to the contact and the deal it becomes.
                .bind($crate::rows::tags_json(&lead.tags))
                .bind($crate::custom_fields::values_json(custom))
                .fetch_one(&mut **tx)
                .await
                .map_err($crate::contacts::contact_write_error)?;
                Ok(row.try_into()?)
            }

            /// The deal to insert, with its pipeline and stage resolved and checked.
            #[allow(clippy::too_many_arguments)]
            async fn new_deal(
                tx: &mut Tx,
                org: Uuid,
                lead: &Lead,
                request: &ConversionDeal,
                account_id: Option<Uuid>,
                contact_id: Uuid,
                buying_role: Option<::pipewise_domain::deal::BuyingRole>,
                at: DateTime<Utc>,
            ) -> $crate::Result<NewDeal> {
                let stage_pipeline = match request.stage_id {
                    None => None,
                    Some(stage) => Some(
                        sqlx::query_scalar::<_, Uuid>(
                            "select pipeline_id from stages where organization_id = $1 and id = $2",
                        )
                        .bind(org)
                        .bind(stage)
                        .fetch_optional(&mut **tx)
                        .await?
                        .ok_or(StoreError::Invalid(
                            "deal.stage_id",
                            "must be a stage of the organization",
                        ))?,
                    ),
                };
                let pipeline_id = match (request.pipeline_id, stage_pipeline) {
                    (Some(pipeline), _) => {
                        sqlx::query_scalar::<_, Uuid>("select id from pipelines where organization_id = $1 and id = $2")
                            .bind(org)
                            .bind(pipeline)
                            .fetch_optional(&mut **tx)
                            .await?
                            .ok_or(StoreError::Invalid(
                                "deal.pipeline_id",
                                "must be a pipeline of the organization",
                            ))?
                    }
                    (None, Some(pipeline)) => pipeline,
                    (None, None) => sqlx::query_scalar::<_, Uuid>(
                        "select id from pipelines where organization_id = $1 order by created_at, id limit 1",
                    )
                    .bind(org)
                    .fetch_optional(&mut **tx)
                    .await?
                    .ok_or(StoreError::Invalid(
                        "deal.pipeline_id",
                        "is required: the organization has no pipeline yet",
                    ))?,
                };
                if stage_pipeline.is_some_and(|p| p != pipeline_id) {
                    return Err(StoreError::Invalid(
                        "deal.stage_id",
                        "must be a stage of the deal's pipeline",
                    ));
                }
                let stage_id = match request.stage_id {
                    Some(stage) => stage,
                    None => sqlx::query_scalar::<_, Uuid>(
                        "select id from stages where organization_id = $1 and pipeline_id = $2
                         order by position limit 1",
                    )
                    .bind(org)
                    .bind(pipeline_id)
                    .fetch_optional(&mut **tx)
                    .await?
                    .ok_or(StoreError::Invalid(
                        "deal.pipeline_id",
                        "must be a pipeline with a stage",
                    ))?,
                };
                Ok(NewDeal {
                    title: request
                        .title
                        .clone()
                        .unwrap_or_else(|| $crate::conversion::default_deal_title(lead)),
                    amount: request.amount,
                    currency: request.currency.unwrap_or(lead.currency),
                    pipeline_id,
                    stage_id: Some(stage_id),
                    owner_id: lead.owner_id,
                    account_id,
                    contacts: vec![DealContact {
                        contact_id,
                        buying_role,
                    }],
                    source: lead
                        .source
                        .as_deref()
                        .map(|s| $crate::conversion::truncated(s, $crate::conversion::DEAL_SOURCE_MAX)),
                    probability: None,
                    expected_close_date: request.expected_close_date,
                    forecast_category: ForecastCategory::Pipeline,
                    external_id: None,
                    tags: lead.tags.clone(),
                    // Set by the caller: the values carried over from the lead.
                    custom_fields: Default::default(),
                    created_at: at,
                })
            }

            /// The deal's own checks name its fields without the `deal.` of the request.
            fn deal_field(err: StoreError) -> StoreError {
                match err {
                    StoreError::Invalid("pipeline_id", why) => StoreError::Invalid("deal.pipeline_id", why),
                    StoreError::Invalid("stage_id", why) => StoreError::Invalid("deal.stage_id", why),
                    other => other,
                }
            }
        }
    };
}

pub(crate) use impl_conversion_store;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_text_is_cut_at_a_character_boundary() {
        assert_eq!(truncated("äbc", 2), "äb");
        assert_eq!(truncated("ab ", 3), "ab");
        assert_eq!(truncated("ab", 5), "ab");
    }

    fn lead(email: Option<&str>, company: Option<&str>, first: Option<&str>) -> Lead {
        use pipewise_domain::{lead::LeadProgress, lead::LeadStatus, Score};
        Lead {
            id: Uuid::nil(),
            organization_id: Uuid::nil(),
            first_name: first.map(str::to_owned),
            last_name: None,
            email: email.map(str::to_owned),
            phone: None,
            company_name: company.map(str::to_owned),
            title: None,
            industry: None,
            employee_count: None,
            country: None,
            source: None,
            estimated_value: None,
            currency: Currency::parse("EUR").unwrap(),
            value_period: None,
            progress: LeadProgress::new(LeadStatus::New, None, DateTime::UNIX_EPOCH).unwrap(),
            owner_id: Uuid::nil(),
            score: Score::new(0).unwrap(),
            mql_at: None,
            last_activity_at: None,
            converted_contact_id: None,
            converted_account_id: None,
            converted_deal_id: None,
            form_id: None,
            external_id: None,
            tags: Default::default(),
            custom_fields: Default::default(),
            version: 1,
            created_at: DateTime::UNIX_EPOCH,
            updated_at: DateTime::UNIX_EPOCH,
            deleted_at: None,
        }
    }

    #[test]
    fn only_a_business_email_gives_an_account_domain() {
        assert_eq!(
            business_domain(&lead(Some("ada@acme.example"), None, None)).as_deref(),
            Some("acme.example")
        );
        assert_eq!(business_domain(&lead(Some("ada@gmail.com"), None, None)), None);
        assert_eq!(business_domain(&lead(None, None, None)), None);
    }

    #[test]
    fn a_default_deal_title_names_the_company_else_the_person() {
        assert_eq!(default_deal_title(&lead(None, Some("Acme"), Some("Ada"))), "Acme deal");
        assert_eq!(default_deal_title(&lead(None, None, Some("Ada"))), "Ada deal");
        assert_eq!(
            default_deal_title(&lead(Some("a@b.example"), None, None)),
            "a@b.example deal"
        );
        assert_eq!(default_deal_title(&lead(None, None, None)), "Lead deal");
        let long = "x".repeat(300);
        assert_eq!(
            default_deal_title(&lead(None, Some(&long), None)).chars().count(),
            DEAL_TITLE_MAX
        );
    }
}
