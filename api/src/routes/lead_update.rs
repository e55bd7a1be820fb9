//! A PATCH of a lead: which fields it may carry and how they apply to the
//! stored lead. Status changes go through the domain's `LeadProgress`, so
//! `qualified_at` is set once and never moves, unqualifying needs a reason,
//! and `converted` is reached only through conversion.

use chrono::{DateTime, Utc};
use pipewise_domain::{
    lead::{LeadStatus, LeadStatusError},
    Amount, Currency, Lead,
};
use pipewise_storage::{LeadChange, LeadFields};
use serde::Deserialize;
use utoipa::ToSchema;
use validator::Validate;

use crate::{
    error::ApiError,
    extract::Caller,
    fields::Fields,
    nullable,
    routes::{
        lead_input::{
            parse_country, parse_email, parse_employee_count, LeadStatusName, ValuePeriodName, NAME_MAX, PHONE_MAX,
            REASON_MAX, TEXT_MAX,
        },
        records,
    },
};

/// The fields to change; `null` clears a field that may be empty. The lead
/// must keep at least one of `first_name`, `last_name`, `email` and
/// `company_name`. A converted lead cannot change at all (409).
#[derive(Debug, Default, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateLead {
    #[serde(default, deserialize_with = "nullable::double_option")]
    #[schema(value_type = Option<String>, nullable, example = "Ada", max_length = 100)]
    pub first_name: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable::double_option")]
    #[schema(value_type = Option<String>, nullable, example = "Lovelace", max_length = 100)]
    pub last_name: Option<Option<String>>,
    /// A lead or contact with the same email is a duplicate: 409 with its
    /// id, unless `allow_duplicate=true`. The lead itself does not count.
    #[serde(default, deserialize_with = "nullable::double_option")]
    #[schema(value_type = Option<String>, nullable, example = "ada@acme.example", max_length = 254, format = Email)]
    pub email: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable::double_option")]
    #[schema(value_type = Option<String>, nullable, example = "+44 20 7946 0000", max_length = 50)]
    pub phone: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable::double_option")]
    #[schema(value_type = Option<String>, nullable, example = "Acme Ltd", max_length = 200)]
    pub company_name: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable::double_option")]
    #[schema(value_type = Option<String>, nullable, example = "CTO", max_length = 200)]
    pub title: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable::double_option")]
    #[schema(value_type = Option<String>, nullable, example = "Software", max_length = 200)]
    pub industry: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable::double_option")]
    #[schema(value_type = Option<i64>, nullable, example = 250, minimum = 0)]
    pub employee_count: Option<Option<i64>>,
    /// ISO 3166-1 alpha-2, any case.
    #[serde(default, deserialize_with = "nullable::double_option")]
    #[schema(value_type = Option<String>, nullable, example = "GB", max_length = 2)]
    pub country: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable::double_option")]
    #[schema(value_type = Option<String>, nullable, example = "referral", max_length = 200)]
    pub source: Option<Option<String>>,
    /// A decimal string, at most 2 places.
    #[serde(default, deserialize_with = "nullable::double_option")]
    #[schema(value_type = Option<String>, nullable, example = "1200.00", max_length = 32, pattern = r"^\d+(\.\d{1,2})?$")]
    pub estimated_value: Option<Option<String>>,
    /// ISO 4217.
    #[schema(example = "EUR", min_length = 3, max_length = 3)]
    pub currency: Option<String>,
    #[serde(default, deserialize_with = "nullable::double_option")]
    #[schema(value_type = Option<ValuePeriodName>, nullable)]
    pub value_period: Option<Option<ValuePeriodName>>,
    /// Any status but `converted` (conversion has its own endpoint).
    /// `qualified_at` is set the first time the lead becomes `qualified`.
    pub status: Option<LeadStatusName>,
    /// Required to make a lead `unqualified`; an unqualified lead keeps its
    /// reason unless a new one is given, and loses it when it leaves `unqualified`.
    #[serde(default, deserialize_with = "nullable::double_option")]
    #[schema(value_type = Option<String>, nullable, example = "No budget this year", max_length = 500)]
    pub unqualified_reason: Option<Option<String>>,
    /// An active user of the organization; they are notified. Reps cannot
    /// give their leads away.
    pub owner_id: Option<uuid::Uuid>,
    /// Unique within the organization (409 if another lead has it); blank or `null` clears it.
    #[serde(default, deserialize_with = "nullable::double_option")]
    #[schema(value_type = Option<String>, nullable, example = "hs-4711", max_length = 200)]
    pub external_id: Option<Option<String>>,
    /// Replaces the record's tags (`[]` removes them all); the bulk
    /// actions `add_tag` and `remove_tag` change one tag at a time.
    #[schema(example = json!(["vip"]))]
    pub tags: Option<Vec<String>>,
    /// Custom values to change, by key (`null` clears one); the other keys stay as they are.
    #[schema(value_type = Option<crate::routes::custom_fields::CustomValuesInput>)]
    pub custom_fields: Option<serde_json::Map<String, serde_json::Value>>,
}

/// `current` with the changes of `body` applied, if they are valid (422
/// naming every invalid field; 403 when a rep gives the lead away).
/// `owner_active` says whether `body.owner_id`, if any, is an active user.
pub fn changed<P>(
    caller: &Caller<P>,
    current: &Lead,
    body: &UpdateLead,
    pending: &Fields,
    owner_active: bool,
    now: DateTime<Utc>,
) -> Result<LeadChange, ApiError> {
    let mut fields = pending.clone();
    let mut next = LeadFields::of(current)?;
    let text = |fields: &mut Fields, name: &str, raw: &Option<Option<String>>, max: usize| {
        records::patch_text(fields, name, raw, max)
    };
    if let Some(v) = text(&mut fields, "first_name", &body.first_name, NAME_MAX) {
        next.first_name = v;
    }
    if let Some(v) = text(&mut fields, "last_name", &body.last_name, NAME_MAX) {
        next.last_name = v;
    }
    if let Some(v) = records::patch(&mut fields, "email", &body.email, parse_email) {
        next.email = v;
    }
    if let Some(v) = text(&mut fields, "phone", &body.phone, PHONE_MAX) {
        next.phone = v;
    }
    if let Some(v) = text(&mut fields, "company_name", &body.company_name, TEXT_MAX) {
        next.company_name = v;
    }
    if let Some(v) = text(&mut fields, "title", &body.title, TEXT_MAX) {
        next.title = v;
    }
    if let Some(v) = text(&mut fields, "industry", &body.industry, TEXT_MAX) {
        next.industry = v;
    }
    if let Some(v) = text(&mut fields, "source", &body.source, TEXT_MAX) {
        next.source = v;
    }
    if let Some(v) = text(&mut fields, "external_id", &body.external_id, records::EXTERNAL_ID_MAX) {
        next.external_id = v;
    }
    if let Some(tags) = records::tags(&mut fields, body.tags.as_deref()) {
        next.tags = tags;
    }
    match body.employee_count {
        None => {}
        Some(None) => next.employee_count = None,
        Some(Some(count)) => {
            if let Some(count) = fields.check("employee_count", parse_employee_count(count)) {
                next.employee_count = Some(count);
            }
        }
    }
    if let Some(v) = records::patch(&mut fields, "country", &body.country, parse_country) {
        next.country = v;
    }
    if let Some(v) = records::patch(&mut fields, "estimated_value", &body.estimated_value, |raw| {
        if raw.trim().is_empty() {
            Ok(None)
        } else {
            Amount::parse(raw).map(Some)
        }
    }) {
        next.estimated_value = v;
    }
    if let Some(currency) = fields.check_opt("currency", body.currency.as_deref(), Currency::parse) {
        next.currency = currency;
    }
    if let Some(period) = body.value_period {
        next.value_period = period.map(Into::into);
    }
    require_identity(&mut fields, &next, body);
    let progress = progress(&mut fields, current, body, now);
    if let Some(owner) = body.owner_id.filter(|o| *o != current.owner_id) {
        caller.ensure_can_change(owner)?;
        if !owner_active {
            records::reject_owner(&mut fields);
        }
        next.owner_id = owner;
    }
    fields.finish(|| LeadChange {
        fields: next,
        progress: progress.expect("valid when no field was rejected"),
        unique_email: false,
    })
}

/// The lead's status part after the change; `None` (with the reason in
/// `fields`) when the change is not allowed.
fn progress(
    fields: &mut Fields,
    current: &Lead,
    body: &UpdateLead,
    now: DateTime<Utc>,
) -> Option<pipewise_domain::lead::LeadProgress> {
    if body.status.is_none() && body.unqualified_reason.is_none() {
        return Some(current.progress.clone());
    }
    let reason = records::patch_text(fields, "unqualified_reason", &body.unqualified_reason, REASON_MAX);
    if matches!(body.unqualified_reason, Some(Some(_))) && reason.is_none() {
        return None; // too long: already recorded
    }
    let to = body.status.map(Into::into).unwrap_or(current.progress.status);
    // Clearing the reason of a lead that stays unqualified would leave it without one.
    if to == LeadStatus::Unqualified && reason == Some(None) {
        fields.reject(
            "unqualified_reason",
            "required",
            &LeadStatusError::ReasonRequired.to_string(),
        );
        return None;
    }
    match current.progress.set_status(to, reason.flatten(), now) {
        Ok(progress) => Some(progress),
        Err(err) => {
            let (field, code) = match err {
                LeadStatusError::ReasonRequired => ("unqualified_reason", "required"),
                _ => ("status", "invalid"),
            };
            fields.reject(field, code, &err.to_string());
            None
        }
    }
}

/// A lead needs something to call it by. A non-blank value that left no
/// value was invalid, which its own error already says.
fn require_identity(fields: &mut Fields, next: &LeadFields, body: &UpdateLead) {
    let identified =
        next.first_name.is_some() || next.last_name.is_some() || next.email.is_some() || next.company_name.is_some();
    let given = [&body.first_name, &body.last_name, &body.email, &body.company_name]
        .into_iter()
        .filter_map(|raw| raw.as_ref().and_then(|r| r.as_deref()))
        .any(|raw| !raw.trim().is_empty());
    if !identified && !given {
        for field in ["first_name", "last_name", "email", "company_name"] {
            fields.reject(
                field,
                "one_required",
                "a lead needs at least one of first_name, last_name, email and company_name",
            );
        }
    }
}
