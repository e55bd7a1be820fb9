//! What activities, notes and timelines share: checking that the records
//! they name are live records of the organization that the caller may see.
//! Reps see every contact and account, but only the leads and deals they own.

use pipewise_domain::{Links, RecordRef};
use pipewise_storage::StoreError;
use uuid::Uuid;

use crate::{error::ApiError, extract::Caller, fields::Fields, state::AppState};

/// The JSON field that names a record of this kind.
pub fn field_of(record: RecordRef) -> &'static str {
    match record {
        RecordRef::Lead(_) => "lead_id",
        RecordRef::Contact(_) => "contact_id",
        RecordRef::Account(_) => "account_id",
        RecordRef::Deal(_) => "deal_id",
    }
}

/// 404 unless `record` is a live record of the organization the caller may see.
pub async fn ensure_visible<P>(caller: &Caller<P>, state: &AppState, record: RecordRef) -> Result<(), ApiError> {
    let org = caller.organization_id();
    match record {
        RecordRef::Lead(id) => {
            let lead = state.store.lead(org, id).await?;
            if caller.visible_owner().is_some_and(|me| me != lead.owner_id) {
                return Err(ApiError::NotFound);
            }
        }
        RecordRef::Contact(id) => {
            state.store.contact(org, id).await?;
        }
        RecordRef::Account(id) => {
            state.store.account(org, id).await?;
        }
        RecordRef::Deal(id) => {
            state.store.deal(org, id, caller.visible_owner()).await?;
        }
    }
    Ok(())
}

/// Records a 422 naming the field of each link that is not a live record
/// the caller may see.
pub async fn check_links<P>(
    caller: &Caller<P>,
    state: &AppState,
    links: Links,
    fields: &mut Fields,
) -> Result<(), ApiError> {
    let records = [
        links.lead_id.map(RecordRef::Lead),
        links.contact_id.map(RecordRef::Contact),
        links.account_id.map(RecordRef::Account),
        links.deal_id.map(RecordRef::Deal),
    ];
    for record in records.into_iter().flatten() {
        match ensure_visible(caller, state, record).await {
            Ok(()) => {}
            Err(ApiError::NotFound) => fields.reject(
                field_of(record),
                "invalid",
                "must be a record of the organization that is not in the trash and that you may see",
            ),
            Err(err) => return Err(err),
        }
    }
    Ok(())
}

/// Whether a rep (`visible_owner`) may see a note's record, live or trashed:
/// contacts and accounts always; leads and deals when they own them.
pub async fn may_see_note_record(
    state: &AppState,
    org: Uuid,
    visible_owner: Option<Uuid>,
    record: RecordRef,
) -> Result<bool, ApiError> {
    let Some(me) = visible_owner else { return Ok(true) };
    let owned = match record {
        RecordRef::Contact(_) | RecordRef::Account(_) => return Ok(true),
        RecordRef::Lead(id) => state.store.lead_incl_trashed(org, id).await.map(|l| l.owner_id == me),
        RecordRef::Deal(id) => state.store.deal(org, id, Some(me)).await.map(|_| true),
    };
    match owned {
        Ok(owned) => Ok(owned),
        Err(StoreError::NotFound) => Ok(false),
        Err(err) => Err(err.into()),
    }
}
