//! Contact rows: read as `POST /contacts` reads a body (or `PATCH` for a
//! matched one), matched by `external_id`, else by email.

use std::collections::HashSet;

use pipewise_domain::Contact;
use pipewise_storage::{BulkContact, ContactFields, ImportTx};
use serde_json::{Map, Value};
use uuid::Uuid;

use super::{
    columns::{text, Field, Kind, Spec, TAGS},
    matching::{candidates, changes, live_accounts, settle, Keys, Names},
    take_created_at, Batch, Context,
};
use crate::{
    error::ApiError,
    extract::json::parse_object,
    fields::Fields,
    problem::FieldError,
    routes::contacts::{changed, contact_fields, CreateContact, Refs, UpdateContact},
    routes::custom_fields::{custom_values, patched_values},
};

pub const SPEC: Spec = Spec {
    fields: &[
        text("first_name"),
        text("last_name"),
        text("email"),
        text("phone"),
        text("title"),
        text("account_id"),
        text("buying_role"),
        text("owner_id"),
        Field {
            name: "owner_email",
            kind: Kind::OwnerEmail,
        },
        text("external_id"),
        TAGS,
        Field {
            name: "created_at",
            kind: Kind::Time,
        },
    ],
    read_only: &["id", "last_activity_at", "updated_at"],
};

const NAMES: Names = Names {
    record: "contact",
    key: "email",
    elsewhere: "lead",
    readable_by_reps: true,
};

/// Imports one batch of contact rows.
pub async fn import(ctx: &Context<'_>, tx: &mut dyn ImportTx, batch: &mut Batch) -> Result<(), ApiError> {
    let candidates = candidates(ctx, batch, |object| new_contact(ctx, object));
    let (candidates, live) = live_accounts(ctx, tx, batch, candidates, |new| new.fields.account_id).await?;
    let external_ids: Vec<String> = candidates
        .iter()
        .filter_map(|c| c.new.fields.external_id.clone())
        .collect();
    let emails: Vec<String> = candidates.iter().filter_map(|c| email(&c.new)).collect();
    let found = tx.find_contacts(&external_ids, &emails).await?;
    let (inserts, matched) = settle(
        ctx,
        batch,
        candidates,
        &found,
        &NAMES,
        |new| Keys {
            external_id: new.fields.external_id.clone(),
            key: email(new),
        },
        |new| new.id,
    );
    let updates: Vec<(Contact, ContactFields)> = changes(ctx, batch, matched, |contact, object| {
        change(ctx, contact, object, &live)
    });
    tx.insert_contacts(&inserts).await?;
    tx.update_contacts(&updates, ctx.now).await?;
    Ok(())
}

fn email(contact: &BulkContact) -> Option<String> {
    contact.fields.email.as_ref().map(|e| e.as_str().to_owned())
}

/// The contact a row creates, checked as `POST /contacts` checks a body
/// (its account apart).
fn new_contact(ctx: &Context<'_>, mut object: Map<String, Value>) -> Result<BulkContact, Vec<FieldError>> {
    let created_at = take_created_at(ctx, &mut object)?;
    let body: CreateContact = parse_object(Value::Object(object))?;
    let mut fields = Fields::default();
    let owner = ctx.owner(&mut fields, body.owner_id);
    let mut contact = contact_fields(&mut fields, &body, owner);
    contact.custom_fields = custom_values(&mut fields, &ctx.custom, None, body.custom_fields.as_ref());
    let errors = fields.into_errors();
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(BulkContact {
        id: Uuid::now_v7(),
        fields: contact,
        created_at,
        updated_at: created_at,
        last_activity_at: None,
    })
}

/// The fields a row gives `contact`, checked as `PATCH /contacts/{id}`
/// checks a body; `None` when it changes nothing.
fn change(
    ctx: &Context<'_>,
    contact: &Contact,
    mut object: Map<String, Value>,
    live_accounts: &HashSet<Uuid>,
) -> Result<Option<ContactFields>, Vec<FieldError>> {
    object.remove("created_at");
    let body: UpdateContact = parse_object(Value::Object(object))?;
    let refs = Refs {
        account_exists: body.account_id.flatten().is_none_or(|a| live_accounts.contains(&a)),
        owner_active: body.owner_id.is_none_or(|o| ctx.owners.values().any(|id| *id == o)),
    };
    let (pending, custom_fields) = patched_values(
        &Fields::default(),
        &ctx.custom,
        &contact.custom_fields,
        body.custom_fields.as_ref(),
    );
    let next = changed(ctx.caller, contact, &body, &pending, refs).map_err(super::field_errors)?;
    let next = ContactFields { custom_fields, ..next };
    let unchanged = ContactFields::of(contact).is_ok_and(|f| f == next);
    Ok((!unchanged).then_some(next))
}
