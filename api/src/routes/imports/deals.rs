//! Deal rows: read as `POST /deals` reads a body (or `PATCH` for a matched
//! one), matched by `external_id` only (a deal has no natural key). A row
//! places its deal by pipeline and stage, by id or by name, and may tell
//! its history: `created_at`, and for a closed deal `status` with
//! `won_at`, `lost_at` or `closed_at` and a `lost_reason`. The deal's event
//! log is written as if that history had happened: `created` in its stage
//! at `created_at`, then `won` or `lost` at the closing instant.

use pipewise_domain::{
    deal::{DealStatus, EventKind, LostReason},
    Deal, Pipeline,
};
use pipewise_storage::{BulkDeal, BulkDealEvent, DealChanges, ImportTx};
use serde_json::{Map, Value};
use std::collections::HashSet;
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
    routes::custom_fields::{custom_changes, custom_values},
    routes::{
        contacts::reject_account,
        deals::{deal_changes, new_deal, CreateDeal, UpdateDeal},
        records,
    },
};

const fn time(name: &'static str) -> Field {
    Field { name, kind: Kind::Time }
}

pub const SPEC: Spec = Spec {
    fields: &[
        text("title"),
        text("amount"),
        text("currency"),
        text("pipeline_id"),
        text("pipeline"),
        text("stage_id"),
        text("stage"),
        text("owner_id"),
        Field {
            name: "owner_email",
            kind: Kind::OwnerEmail,
        },
        text("account_id"),
        text("source"),
        Field {
            name: "probability",
            kind: Kind::Integer,
        },
        text("expected_close_date"),
        text("forecast_category"),
        text("status"),
        time("won_at"),
        time("lost_at"),
        time("closed_at"),
        text("lost_reason"),
        text("external_id"),
        TAGS,
        time("created_at"),
    ],
    read_only: &["id", "stage_entered_at", "last_activity_at", "updated_at"],
};

/// Columns that backdate a deal's events: admins and `import` keys only.
pub const BACKDATING: &[&str] = &["created_at", "won_at", "lost_at", "closed_at"];

const NAMES: Names = Names {
    record: "deal",
    key: "external_id",
    elsewhere: "deal",
    readable_by_reps: false,
};

/// Imports one batch of deal rows.
pub async fn import(ctx: &Context<'_>, tx: &mut dyn ImportTx, batch: &mut Batch) -> Result<(), ApiError> {
    let candidates = candidates(ctx, batch, |object| imported_deal(ctx, object));
    let (candidates, live) = live_accounts(ctx, tx, batch, candidates, |new| new.account_id).await?;
    let external_ids: Vec<String> = candidates.iter().filter_map(|c| c.new.external_id.clone()).collect();
    let found = tx.find_deals(&external_ids).await?;
    let (inserts, matched) = settle(
        ctx,
        batch,
        candidates,
        &found,
        &NAMES,
        |new| Keys {
            external_id: new.external_id.clone(),
            key: None,
        },
        |new| new.id,
    );
    let updates: Vec<(Deal, DealChanges)> =
        changes(ctx, batch, matched, |deal, object| change(ctx, deal, object, &live));
    tx.insert_deals(&inserts).await?;
    tx.update_deals(&updates, ctx.caller.actor(), ctx.now).await?;
    Ok(())
}

/// The text of a cell taken out of the row.
fn take(object: &mut Map<String, Value>, field: &str) -> Option<String> {
    match object.remove(field) {
        Some(Value::String(s)) => Some(s),
        _ => None,
    }
}

/// The pipeline and stage a row names, by id or by name (case-insensitive),
/// written back into `object` as ids. Without a pipeline: `default`, else
/// the organization's only pipeline. Without a stage: `stage`, when it is
/// of the pipeline, else the pipeline's first.
fn place(
    ctx: &Context<'_>,
    object: &mut Map<String, Value>,
    default: Option<(Uuid, Uuid)>,
    errors: &mut Vec<FieldError>,
) -> Option<(Uuid, Uuid)> {
    let by_id = take(object, "pipeline_id");
    let by_name = take(object, "pipeline");
    let same = |a: &str, b: &str| a.trim().to_lowercase() == b.trim().to_lowercase();
    let pipeline: Option<&Pipeline> = match (&by_id, &by_name) {
        (Some(id), _) => {
            let found = ctx
                .pipelines
                .iter()
                .find(|p| p.id.to_string() == id.trim().to_lowercase());
            if found.is_none() {
                errors.push(FieldError::new(
                    "pipeline_id",
                    "invalid",
                    "must be a pipeline of the organization",
                ));
            }
            found
        }
        (None, Some(name)) => {
            let found = ctx.pipelines.iter().find(|p| same(p.name.as_str(), name));
            if found.is_none() {
                errors.push(FieldError::new(
                    "pipeline",
                    "invalid",
                    "names no pipeline of the organization",
                ));
            }
            found
        }
        (None, None) => match (default, ctx.pipelines.as_slice()) {
            (Some((pipeline, _)), _) => ctx.pipelines.iter().find(|p| p.id == pipeline),
            (None, [only]) => Some(only),
            (None, _) => {
                errors.push(FieldError::new(
                    "pipeline",
                    "required",
                    "is required (by name, or pipeline_id): the organization has several pipelines",
                ));
                None
            }
        },
    };
    let pipeline = pipeline?;
    let by_id = take(object, "stage_id");
    let by_name = take(object, "stage");
    let stage = match (&by_id, &by_name) {
        (Some(id), _) => {
            let found = pipeline
                .stages
                .iter()
                .find(|s| s.id.to_string() == id.trim().to_lowercase());
            if found.is_none() {
                errors.push(FieldError::new(
                    "stage_id",
                    "invalid",
                    "must be a stage of the deal's pipeline",
                ));
            }
            found?.id
        }
        (None, Some(name)) => {
            let found = pipeline.stages.iter().find(|s| same(s.name.as_str(), name));
            if found.is_none() {
                errors.push(FieldError::new(
                    "stage",
                    "invalid",
                    format!("names no stage of the pipeline {}", pipeline.name.as_str()),
                ));
            }
            found?.id
        }
        (None, None) => match default {
            Some((p, stage)) if p == pipeline.id => stage,
            _ => pipeline.stages.first()?.id,
        },
    };
    object.insert("pipeline_id".to_owned(), Value::String(pipeline.id.to_string()));
    object.insert("stage_id".to_owned(), Value::String(stage.to_string()));
    Some((pipeline.id, stage))
}

/// How a row's deal ended, if it did.
struct Closing {
    status: DealStatus,
    at: chrono::DateTime<chrono::Utc>,
    lost_reason: Option<LostReason>,
}

/// The row's `status`, `won_at`, `lost_at`, `closed_at` and `lost_reason`,
/// taken out of `object`: `None` for an open deal. A won or lost deal
/// closes at `won_at`, `lost_at` or `closed_at` (now without one), after
/// `created_at` and not in the future; a lost one needs its reason.
fn closing(
    ctx: &Context<'_>,
    object: &mut Map<String, Value>,
    created_at: chrono::DateTime<chrono::Utc>,
    errors: &mut Vec<FieldError>,
) -> Option<Closing> {
    let mut instant = |field: &'static str| {
        let raw = take(object, field)?;
        match chrono::DateTime::parse_from_rfc3339(&raw) {
            Ok(at) => Some((field, at.with_timezone(&chrono::Utc))),
            Err(_) => {
                errors.push(FieldError::new(field, "invalid", "must be an RFC 3339 instant"));
                None
            }
        }
    };
    let (won_at, lost_at, closed_at) = (instant("won_at"), instant("lost_at"), instant("closed_at"));
    let status_cell = take(object, "status");
    let reason_cell = take(object, "lost_reason");
    let status = match status_cell
        .as_deref()
        .map(|s| DealStatus::parse(&s.trim().to_lowercase()))
    {
        Some(None) => {
            errors.push(FieldError::new("status", "invalid", "must be open, won or lost"));
            return None;
        }
        Some(Some(status)) => Some(status),
        None => None,
    };
    let implied = match (won_at, lost_at) {
        (Some(_), Some(_)) => {
            errors.push(FieldError::new("lost_at", "invalid", "a deal is won or lost, not both"));
            return None;
        }
        (Some(_), None) => Some(DealStatus::Won),
        (None, Some(_)) => Some(DealStatus::Lost),
        (None, None) => None,
    };
    let status = match (status, implied) {
        (Some(given), Some(implied)) if given != implied => {
            errors.push(FieldError::new(
                "status",
                "invalid",
                format!("is {} but the row has {}_at", given.as_str(), implied.as_str()),
            ));
            return None;
        }
        (given, implied) => given.or(implied).unwrap_or(DealStatus::Open),
    };
    if status == DealStatus::Open {
        if closed_at.is_some() {
            errors.push(FieldError::new(
                "closed_at",
                "invalid",
                "only a won or lost deal closes",
            ));
        }
        if reason_cell.is_some() {
            errors.push(FieldError::new("lost_reason", "invalid", "only a lost deal has one"));
        }
        return None;
    }
    let (field, at) = won_at.or(lost_at).or(closed_at).unwrap_or(("closed_at", ctx.now));
    if at > ctx.now {
        errors.push(FieldError::new(field, "in_the_future", "must not be in the future"));
    } else if at < created_at {
        errors.push(FieldError::new(field, "invalid", "must not be before created_at"));
    }
    let lost_reason = match (status, reason_cell) {
        (DealStatus::Lost, None) => {
            errors.push(FieldError::new(
                "lost_reason",
                "required",
                "is required for a lost deal",
            ));
            None
        }
        (DealStatus::Lost, Some(raw)) => match LostReason::parse(&raw) {
            Ok(reason) => Some(reason),
            Err(e) => {
                errors.push(FieldError::new("lost_reason", "invalid", e.to_string()));
                None
            }
        },
        (_, Some(_)) => {
            errors.push(FieldError::new("lost_reason", "invalid", "only a lost deal has one"));
            None
        }
        (_, None) => None,
    };
    Some(Closing {
        status,
        at,
        lost_reason,
    })
}

/// The deal a row creates, checked as `POST /deals` checks a body, with
/// its event log.
fn imported_deal(ctx: &Context<'_>, mut object: Map<String, Value>) -> Result<BulkDeal, Vec<FieldError>> {
    let created_at = take_created_at(ctx, &mut object)?;
    let mut errors = Vec::new();
    let closing = closing(ctx, &mut object, created_at, &mut errors);
    let placed = place(ctx, &mut object, None, &mut errors);
    if placed.is_none() {
        // A body needs a pipeline: any will do to check the other fields.
        object.insert("pipeline_id".to_owned(), Value::String(Uuid::nil().to_string()));
    }
    let body: CreateDeal = match parse_object(Value::Object(object)) {
        Ok(body) => body,
        Err(mut parsed) => {
            errors.append(&mut parsed);
            return Err(errors);
        }
    };
    let mut fields = Fields::default();
    let owner = ctx.owner(&mut fields, body.owner_id);
    let custom_fields = custom_values(&mut fields, &ctx.custom, None, body.custom_fields.as_ref());
    let deal = new_deal(&mut fields, body, owner, Some(ctx.base_currency), ctx.now);
    errors.extend(fields.into_errors());
    let (Some(deal), Some((pipeline_id, stage_id)), true) = (deal, placed, errors.is_empty()) else {
        return Err(errors);
    };
    let actor = ctx.caller.actor();
    let event = |kind, at, lost_reason| BulkDealEvent {
        id: Uuid::now_v7(),
        kind,
        at,
        pipeline_id,
        stage_id,
        from_stage_id: None,
        lost_reason,
        actor,
        created_at: ctx.now,
    };
    let mut events = vec![event(EventKind::Created, created_at, None)];
    if let Some(c) = &closing {
        let kind = if c.status == DealStatus::Won {
            EventKind::Won
        } else {
            EventKind::Lost
        };
        events.push(event(kind, c.at, c.lost_reason.as_ref().map(|r| r.as_str().to_owned())));
    }
    Ok(BulkDeal {
        id: Uuid::now_v7(),
        pipeline_id,
        stage_id,
        title: deal.title,
        amount: deal.amount,
        currency: deal.currency,
        status: closing.as_ref().map_or(DealStatus::Open, |c| c.status),
        owner_id: deal.owner_id,
        account_id: deal.account_id,
        contacts: deal.contacts,
        source: deal.source,
        probability: deal.probability,
        expected_close_date: deal.expected_close_date,
        forecast_category: deal.forecast_category,
        lost_reason: closing
            .as_ref()
            .and_then(|c| c.lost_reason.as_ref().map(|r| r.as_str().to_owned())),
        created_at,
        updated_at: closing.as_ref().map_or(created_at, |c| c.at),
        closed_at: closing.as_ref().map(|c| c.at),
        stage_entered_at: created_at,
        last_activity_at: None,
        external_id: deal.external_id,
        tags: deal.tags,
        custom_fields,
        events,
    })
}

/// The changes a row makes to `deal`, checked as `PATCH /deals/{id}` checks
/// a body; `None` when it changes nothing. An import does not rewrite a
/// deal's history: its times are ignored, and a status, pipeline or stage
/// other than the deal's fails the row (the deal's commands change those).
fn change(
    ctx: &Context<'_>,
    deal: &Deal,
    mut object: Map<String, Value>,
    live_accounts: &HashSet<Uuid>,
) -> Result<Option<DealChanges>, Vec<FieldError>> {
    let mut errors = Vec::new();
    // The status the row gives, or implies by a closing time.
    let status = take(&mut object, "status").map(|s| ("status", s.trim().to_lowercase()));
    let implied = [("won_at", "won"), ("lost_at", "lost")]
        .into_iter()
        .find(|(field, _)| object.contains_key(*field))
        .map(|(field, status)| (field, status.to_owned()));
    if let Some((field, status)) = status.or(implied) {
        if status != deal.status.as_str() {
            errors.push(FieldError::new(
                field,
                "invalid",
                format!(
                    "makes the deal {status}, but it is {}: win, lose or reopen it with its own commands",
                    deal.status.as_str()
                ),
            ));
        }
    }
    for field in ["created_at", "won_at", "lost_at", "closed_at", "lost_reason"] {
        object.remove(field);
    }
    let named = ["pipeline_id", "pipeline", "stage_id", "stage"]
        .iter()
        .any(|f| object.contains_key(*f));
    if named {
        let current = (deal.pipeline_id, deal.stage_id);
        if place(ctx, &mut object, Some(current), &mut errors).is_some_and(|p| p != current) {
            errors.push(FieldError::new(
                "stage",
                "invalid",
                "differs from the deal's: move it with POST /deals/{id}/move",
            ));
        }
        object.remove("pipeline_id");
        object.remove("stage_id");
    }
    let body: UpdateDeal = parse_object(Value::Object(object))?;
    let mut fields = Fields::default();
    if let Some(owner) = body.owner_id {
        if ctx.caller.ensure_can_change(owner).is_err() {
            fields.reject("owner_id", "forbidden", "reps import only records they own");
        } else if !ctx.owners.values().any(|id| *id == owner) {
            records::reject_owner(&mut fields);
        }
    }
    if body.account_id.flatten().is_some_and(|a| !live_accounts.contains(&a)) {
        reject_account(&mut fields);
    }
    let custom_fields = custom_changes(&mut fields, &ctx.custom, body.custom_fields.as_ref());
    let next = DealChanges {
        custom_fields,
        ..deal_changes(&mut fields, body)
    };
    errors.extend(fields.into_errors());
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok((!next.leaves_unchanged(deal)).then_some(next))
}
