//! Account rows: read as `POST /accounts` reads a body (or `PATCH` for a
//! matched one), matched by `external_id`, else by domain.

use pipewise_domain::Account;
use pipewise_storage::{AccountFields, BulkAccount, ImportTx};
use serde_json::{Map, Value};
use uuid::Uuid;

use super::{
    columns::{text, Field, Kind, Spec, TAGS},
    matching::{candidates, changes, settle, Keys, Names},
    take_created_at, Batch, Context,
};
use crate::{
    error::ApiError,
    extract::json::parse_object,
    fields::Fields,
    problem::FieldError,
    routes::accounts::{account_fields, changed, CreateAccount, UpdateAccount},
    routes::custom_fields::{custom_values, patched_values},
};

pub const SPEC: Spec = Spec {
    fields: &[
        text("name"),
        text("domain"),
        text("industry"),
        Field {
            name: "employee_count",
            kind: Kind::Integer,
        },
        text("country"),
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
    record: "account",
    key: "domain",
    elsewhere: "account",
    readable_by_reps: true,
};

/// Imports one batch of account rows.
pub async fn import(ctx: &Context<'_>, tx: &mut dyn ImportTx, batch: &mut Batch) -> Result<(), ApiError> {
    let candidates = candidates(ctx, batch, |object| new_account(ctx, object));
    let external_ids: Vec<String> = candidates
        .iter()
        .filter_map(|c| c.new.fields.external_id.clone())
        .collect();
    let domains: Vec<String> = candidates.iter().filter_map(|c| c.new.fields.domain.clone()).collect();
    let found = tx.find_accounts(&external_ids, &domains).await?;
    let (inserts, matched) = settle(
        ctx,
        batch,
        candidates,
        &found,
        &NAMES,
        |new| Keys {
            external_id: new.fields.external_id.clone(),
            key: new.fields.domain.clone(),
        },
        |new| new.id,
    );
    let updates: Vec<(Account, AccountFields)> =
        changes(ctx, batch, matched, |account, object| change(ctx, account, object));
    tx.insert_accounts(&inserts).await?;
    tx.update_accounts(&updates, ctx.now).await?;
    Ok(())
}

/// The account a row creates, checked as `POST /accounts` checks a body.
fn new_account(ctx: &Context<'_>, mut object: Map<String, Value>) -> Result<BulkAccount, Vec<FieldError>> {
    let created_at = take_created_at(ctx, &mut object)?;
    let body: CreateAccount = parse_object(Value::Object(object))?;
    let mut fields = Fields::default();
    let owner = ctx.owner(&mut fields, body.owner_id);
    let account = account_fields(&mut fields, &body, owner);
    let custom_fields = custom_values(&mut fields, &ctx.custom, None, body.custom_fields.as_ref());
    let errors = fields.into_errors();
    match account {
        Some(account) if errors.is_empty() => Ok(BulkAccount {
            id: Uuid::now_v7(),
            fields: AccountFields {
                custom_fields,
                ..account
            },
            created_at,
            updated_at: created_at,
            last_activity_at: None,
        }),
        _ => Err(errors),
    }
}

/// The fields a row gives `account`, checked as `PATCH /accounts/{id}`
/// checks a body; `None` when it changes nothing.
fn change(
    ctx: &Context<'_>,
    account: &Account,
    mut object: Map<String, Value>,
) -> Result<Option<AccountFields>, Vec<FieldError>> {
    object.remove("created_at");
    let body: UpdateAccount = parse_object(Value::Object(object))?;
    let owner_active = body.owner_id.is_none_or(|o| ctx.owners.values().any(|id| *id == o));
    let (pending, custom_fields) = patched_values(
        &Fields::default(),
        &ctx.custom,
        &account.custom_fields,
        body.custom_fields.as_ref(),
    );
    let next = changed(ctx.caller, account, &body, &pending, owner_active).map_err(super::field_errors)?;
    let next = AccountFields { custom_fields, ..next };
    Ok((AccountFields::of(account) != next).then_some(next))
}
