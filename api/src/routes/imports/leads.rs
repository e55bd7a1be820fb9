//! Lead rows: read as `POST /leads` reads a body (a new lead) or as `PATCH
//! /leads/{id}` does (a matched one, with `dedupe=update`), matched by
//! `external_id`, else by email, as the API's duplicate guard matches.

use pipewise_domain::Lead;
use pipewise_storage::{BulkLead, ImportTx, LeadChange, LeadFields};
use serde_json::{Map, Value};
use uuid::Uuid;

use super::{
    columns::{text, Field, Kind, Spec, TAGS},
    matching::{candidates, changes, settle, Keys, Names},
    Batch, Context,
};
use crate::{
    error::ApiError,
    extract::json::parse_object,
    fields::Fields,
    routes::custom_fields::{custom_values, patched_values},
    routes::{
        lead_input::{lead_fields, new_progress, CreateLead},
        lead_update::{changed, UpdateLead},
    },
};

pub const SPEC: Spec = Spec {
    fields: &[
        text("first_name"),
        text("last_name"),
        text("email"),
        text("phone"),
        text("company_name"),
        text("title"),
        text("industry"),
        Field {
            name: "employee_count",
            kind: Kind::Integer,
        },
        text("country"),
        text("source"),
        text("estimated_value"),
        text("currency"),
        text("value_period"),
        text("status"),
        text("unqualified_reason"),
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
    read_only: &[
        "id",
        "score",
        "predicted_conversion",
        "potential_median",
        "mql_at",
        "qualified_at",
        "converted_at",
        "last_activity_at",
        "updated_at",
    ],
};

const NAMES: Names = Names {
    record: "lead",
    key: "email",
    elsewhere: "contact",
    readable_by_reps: false,
};

/// Imports one batch of lead rows.
pub async fn import(ctx: &Context<'_>, tx: &mut dyn ImportTx, batch: &mut Batch) -> Result<(), ApiError> {
    let candidates = candidates(ctx, batch, |object| new_lead(ctx, &object));
    let external_ids: Vec<String> = candidates
        .iter()
        .filter_map(|c| c.new.fields.external_id.clone())
        .collect();
    let emails: Vec<String> = candidates.iter().filter_map(|c| email(&c.new)).collect();
    let found = tx.find_leads(&external_ids, &emails).await?;
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
    let updates: Vec<(Lead, LeadChange)> = changes(ctx, batch, matched, |lead, object| change(ctx, lead, object));
    tx.insert_leads(&inserts).await?;
    tx.update_leads(&updates, ctx.now).await?;
    Ok(())
}

fn email(lead: &BulkLead) -> Option<String> {
    lead.fields.email.as_ref().map(|e| e.as_str().to_owned())
}

/// The lead a row creates, checked as `POST /leads` checks a body.
fn new_lead(ctx: &Context<'_>, object: &Map<String, Value>) -> Result<BulkLead, Vec<crate::problem::FieldError>> {
    let body: CreateLead = parse_object(Value::Object(object.clone()))?;
    let mut fields = Fields::default();
    let owner = ctx.owner(&mut fields, body.owner_id);
    let mut lead = lead_fields(&mut fields, &body, owner, ctx.base_currency);
    lead.custom_fields = custom_values(&mut fields, &ctx.custom, None, body.custom_fields.as_ref());
    let created_at = body.created_at.unwrap_or(ctx.now);
    if created_at > ctx.now {
        fields.reject("created_at", "in_the_future", "must not be in the future");
    }
    let progress = new_progress(&mut fields, &body, created_at);
    let errors = fields.into_errors();
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(BulkLead {
        id: Uuid::now_v7(),
        fields: lead,
        progress: progress.expect("valid when no field was rejected"),
        score: Default::default(),
        mql_at: None,
        last_activity_at: None,
        first_activity_at: None,
        converted_contact_id: None,
        converted_account_id: None,
        converted_deal_id: None,
        form_id: None,
        created_at,
        updated_at: created_at,
    })
}

/// The change a row makes to `lead`, checked as `PATCH /leads/{id}` checks
/// a body; `None` when it changes nothing. Blank cells leave a field alone.
fn change(
    ctx: &Context<'_>,
    lead: &Lead,
    mut object: Map<String, Value>,
) -> Result<Option<LeadChange>, Vec<crate::problem::FieldError>> {
    if lead.progress.converted_at.is_some() {
        return Err(vec![crate::problem::FieldError::new(
            "external_id",
            "converted",
            "matches a converted lead, which cannot change",
        )]);
    }
    // Backdating applies to new leads only.
    object.remove("created_at");
    let body: UpdateLead = parse_object(Value::Object(object))?;
    let owner_active = body.owner_id.is_none_or(|id| ctx.owners.values().any(|o| *o == id));
    let (pending, custom_fields) = patched_values(
        &Fields::default(),
        &ctx.custom,
        &lead.custom_fields,
        body.custom_fields.as_ref(),
    );
    let mut change = changed(ctx.caller, lead, &body, &pending, owner_active, ctx.now).map_err(super::field_errors)?;
    change.fields.custom_fields = custom_fields;
    let unchanged = LeadFields::of(lead).is_ok_and(|f| f == change.fields) && change.progress == lead.progress;
    Ok((!unchanged).then_some(change))
}
