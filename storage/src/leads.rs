//! Leads: prospects from first touch until conversion. Every write scores
//! the lead in its own transaction (see `lead_core`).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use pipewise_domain::{Email, Lead};
use uuid::Uuid;

use crate::{Actor, NewLead, Result};

/// Who already has an email address: the duplicate guard's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmailHolder {
    Lead(Uuid),
    Contact(Uuid),
}

#[async_trait]
pub trait LeadStore {
    /// A live lead: absent, foreign and trashed ones are `NotFound`.
    async fn lead(&self, org: Uuid, id: Uuid) -> Result<Lead>;
    /// A live or trashed lead.
    async fn lead_incl_trashed(&self, org: Uuid, id: Uuid) -> Result<Lead>;
    /// A lead (live or trashed, not converted) or else a contact of the
    /// organization with this email address, if any.
    async fn email_holder(&self, org: Uuid, email: &Email) -> Result<Option<EmailHolder>>;
    /// Stores a new lead, scored, and notifies its owner if `actor` is someone else.
    async fn create_lead(&self, org: Uuid, lead: &NewLead, actor: Actor, now: DateTime<Utc>) -> Result<Lead>;
}

/// Implements [`LeadStore`] for a store type with `pool` and `begin_write`,
/// in the module of `impl_lead_core!`.
macro_rules! impl_lead_store {
    ($store:ty) => {
        mod lead_store {
            use super::*;
            use ::chrono::{DateTime, Utc};
            use ::pipewise_domain::{Email, Lead};
            use ::uuid::Uuid;
            use $crate::lead_core::LeadRow;
            use $crate::leads::EmailHolder;
            use $crate::{Actor, NewLead, StoreError};

            #[async_trait::async_trait]
            impl $crate::leads::LeadStore for $store {
                #[tracing::instrument(skip_all)]
                async fn lead(&self, org: Uuid, id: Uuid) -> $crate::Result<Lead> {
                    sqlx::query_as::<_, LeadRow>(
                        "select * from leads where organization_id = $1 and id = $2 and deleted_at is null",
                    )
                    .bind(org)
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?
                    .ok_or(StoreError::NotFound)?
                    .try_into()
                }

                #[tracing::instrument(skip_all)]
                async fn lead_incl_trashed(&self, org: Uuid, id: Uuid) -> $crate::Result<Lead> {
                    let mut conn = self.pool.acquire().await?;
                    super::lead_core::lead(&mut conn, org, id).await
                }

                #[tracing::instrument(skip_all)]
                async fn email_holder(&self, org: Uuid, email: &Email) -> $crate::Result<Option<EmailHolder>> {
                    // A converted lead lives on as its contact: the contact is the duplicate.
                    let lead: Option<Uuid> = sqlx::query_scalar(
                        "select id from leads
                         where organization_id = $1 and email = $2 and converted_at is null
                         order by id limit 1",
                    )
                    .bind(org)
                    .bind(email.as_str())
                    .fetch_optional(&self.pool)
                    .await?;
                    if let Some(id) = lead {
                        return Ok(Some(EmailHolder::Lead(id)));
                    }
                    let contact: Option<Uuid> =
                        sqlx::query_scalar("select id from contacts where organization_id = $1 and email = $2")
                            .bind(org)
                            .bind(email.as_str())
                            .fetch_optional(&self.pool)
                            .await?;
                    Ok(contact.map(EmailHolder::Contact))
                }

                #[tracing::instrument(skip_all)]
                async fn create_lead(
                    &self,
                    org: Uuid,
                    lead: &NewLead,
                    actor: Actor,
                    now: DateTime<Utc>,
                ) -> $crate::Result<Lead> {
                    let mut tx = self.begin_write().await?;
                    let lead = super::lead_core::insert_lead(&mut tx, org, lead, actor, now).await?;
                    tx.commit().await?;
                    Ok(lead)
                }
            }
        }
    };
}

pub(crate) use impl_lead_store;
