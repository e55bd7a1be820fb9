//! A lead as the API shows it, and a new lead's fields as a client sends
//! them. The leads API and the public capture forms validate a lead with the
//! same code, so a form accepts exactly what the API would.

use chrono::{DateTime, Utc};
use pipewise_domain::{
    lead::{LeadProgress, LeadStatus, ValuePeriod},
    prediction::{Features, Tables},
    Amount, Country, Currency, Email, Lead,
};
use pipewise_storage::LeadFields;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;
use validator::Validate;

use crate::{
    fields::Fields,
    routes::{
        lead_potential::{self, Customers},
        records,
        reports::common::money,
    },
};

pub const NAME_MAX: usize = 100;
pub const PHONE_MAX: usize = 50;
pub const TEXT_MAX: usize = 200;
pub const REASON_MAX: usize = 500;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LeadStatusName {
    New,
    Contacted,
    Qualified,
    Unqualified,
    Converted,
}

/// What `estimated_value` is spent per.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ValuePeriodName {
    Month,
    Quarter,
    Year,
}

crate::routes::deals::same_names!(LeadStatusName <=> LeadStatus { New, Contacted, Qualified, Unqualified, Converted });
crate::routes::deals::same_names!(ValuePeriodName <=> ValuePeriod { Month, Quarter, Year });

/// A prospect, from first touch until it is converted into a contact,
/// an account and a deal.
#[derive(Serialize, ToSchema)]
pub struct LeadView {
    pub id: Uuid,
    pub organization_id: Uuid,
    #[schema(example = "Ada")]
    pub first_name: Option<String>,
    #[schema(example = "Lovelace")]
    pub last_name: Option<String>,
    /// Lower-cased.
    #[schema(example = "ada@acme.example")]
    pub email: Option<String>,
    #[schema(example = "+44 20 7946 0000")]
    pub phone: Option<String>,
    #[schema(example = "Acme Ltd")]
    pub company_name: Option<String>,
    #[schema(example = "Head of Engineering")]
    pub title: Option<String>,
    #[schema(example = "Software")]
    pub industry: Option<String>,
    #[schema(example = 250)]
    pub employee_count: Option<i64>,
    /// ISO 3166-1 alpha-2.
    #[schema(example = "GB")]
    pub country: Option<String>,
    /// Where the lead came from.
    #[schema(example = "web_form")]
    pub source: Option<String>,
    /// What the prospect could spend per `value_period`: a decimal string in `currency`.
    #[schema(example = "1200.00", max_length = 32, pattern = r"^\d+(\.\d{1,2})?$")]
    pub estimated_value: Option<String>,
    #[schema(example = "EUR")]
    pub currency: String,
    pub value_period: Option<ValuePeriodName>,
    pub status: LeadStatusName,
    /// Why the lead is `unqualified`; set only then.
    pub unqualified_reason: Option<String>,
    /// The user responsible for the lead.
    pub owner_id: Uuid,
    /// 0–100: the sum of the points of the matching scoring rules, clamped.
    #[schema(example = 65)]
    pub score: u8,
    /// The first time the score reached the organization's `mql_threshold`; never moves.
    pub mql_at: Option<DateTime<Utc>>,
    /// The first time the status became `qualified` (or the conversion time); never moves.
    pub qualified_at: Option<DateTime<Utc>>,
    pub converted_at: Option<DateTime<Utc>>,
    /// The latest activity logged on the lead.
    pub last_activity_at: Option<DateTime<Utc>>,
    /// What the conversion made of the lead.
    pub converted_contact_id: Option<Uuid>,
    pub converted_account_id: Option<Uuid>,
    pub converted_deal_id: Option<Uuid>,
    /// The capture form the lead came through.
    pub form_id: Option<Uuid>,
    /// The id a partner's system knows the lead by (at most 200 characters);
    /// unique within the organization.
    #[schema(example = "hs-4711")]
    pub external_id: Option<String>,
    /// Labels to group and filter by (`tag=`): lower-cased, sorted, without repeats.
    #[schema(example = json!(["vip", "trade show"]))]
    pub tags: Vec<String>,
    /// Values of the organization's custom fields (`GET /custom-fields`).
    #[schema(value_type = crate::routes::custom_fields::CustomValuesView)]
    pub custom_fields: serde_json::Map<String, serde_json::Value>,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Set while the lead is in the trash.
    pub deleted_at: Option<DateTime<Utc>>,
    /// The probability (0–1) that the lead converts, learned from the
    /// organization's converted and unqualified leads (naive Bayes over
    /// source, industry, employee band, country and email domain kind);
    /// `null` until there are 20 closed leads with at least one of each.
    /// `GET /leads/{id}/prediction` shows why.
    #[schema(example = 0.42, minimum = 0, maximum = 1)]
    pub predicted_conversion: Option<f64>,
    /// The median yearly spend of the organization's customers like this
    /// lead, in the base currency; `null` without customers.
    /// `GET /leads/{id}/potential` shows the range and the comparison.
    #[schema(example = "12000.00")]
    pub potential_median: Option<String>,
}

impl LeadView {
    /// The lead as shown, with its prediction from `tables` and its
    /// potential from `customers`.
    pub fn new(l: Lead, tables: &Tables, customers: &Customers) -> Self {
        let predicted_conversion = tables.predict(&Features::of(&l)).map(|p| p.probability);
        let potential_median = lead_potential::median(customers, &l).map(money);
        Self {
            predicted_conversion,
            potential_median,
            id: l.id,
            organization_id: l.organization_id,
            first_name: l.first_name,
            last_name: l.last_name,
            email: l.email,
            phone: l.phone,
            company_name: l.company_name,
            title: l.title,
            industry: l.industry,
            employee_count: l.employee_count,
            country: l.country.map(|c| c.as_str().to_owned()),
            source: l.source,
            estimated_value: l.estimated_value.map(|v| v.to_string()),
            currency: l.currency.as_str().to_owned(),
            value_period: l.value_period.map(Into::into),
            status: l.progress.status.into(),
            unqualified_reason: l.progress.unqualified_reason,
            owner_id: l.owner_id,
            score: l.score.value(),
            mql_at: l.mql_at,
            qualified_at: l.progress.qualified_at,
            converted_at: l.progress.converted_at,
            last_activity_at: l.last_activity_at,
            converted_contact_id: l.converted_contact_id,
            converted_account_id: l.converted_account_id,
            converted_deal_id: l.converted_deal_id,
            form_id: l.form_id,
            external_id: l.external_id,
            tags: l.tags.to_strings(),
            custom_fields: crate::routes::custom_fields::values_view(&l.custom_fields),
            version: l.version,
            created_at: l.created_at,
            updated_at: l.updated_at,
            deleted_at: l.deleted_at,
        }
    }
}

/// The fields of a new lead: at least one of `first_name`, `last_name`,
/// `email` and `company_name`.
#[derive(Debug, Default, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateLead {
    #[schema(example = "Ada", max_length = 100)]
    pub first_name: Option<String>,
    #[schema(example = "Lovelace", max_length = 100)]
    pub last_name: Option<String>,
    /// A lead or contact with the same email (whatever its case) is a
    /// duplicate: 409 with its id, unless `allow_duplicate=true`.
    #[schema(example = "ada@acme.example", max_length = 254, format = Email)]
    pub email: Option<String>,
    #[schema(example = "+44 20 7946 0000", max_length = 50)]
    pub phone: Option<String>,
    #[schema(example = "Acme Ltd", max_length = 200)]
    pub company_name: Option<String>,
    #[schema(example = "Head of Engineering", max_length = 200)]
    pub title: Option<String>,
    #[schema(example = "Software", max_length = 200)]
    pub industry: Option<String>,
    #[schema(example = 250, minimum = 0)]
    pub employee_count: Option<i64>,
    /// ISO 3166-1 alpha-2, any case.
    #[schema(example = "GB", max_length = 2)]
    pub country: Option<String>,
    /// Where the lead came from: free text such as `web_form`, `referral`, `linkedin`.
    #[schema(example = "referral", max_length = 200)]
    pub source: Option<String>,
    /// What the prospect could spend per `value_period`: a decimal string, at most 2 places.
    #[schema(example = "1200.00", max_length = 32)]
    pub estimated_value: Option<String>,
    /// ISO 4217; the organization's base currency if omitted.
    #[schema(example = "EUR", min_length = 3, max_length = 3)]
    pub currency: Option<String>,
    pub value_period: Option<ValuePeriodName>,
    /// `new` if omitted; `converted` only through conversion.
    pub status: Option<LeadStatusName>,
    /// Required when `status` is `unqualified`.
    #[schema(example = "No budget this year", max_length = 500)]
    pub unqualified_reason: Option<String>,
    /// An active user of the organization; the caller if omitted (required
    /// with an API key). Reps may name only themselves.
    pub owner_id: Option<Uuid>,
    /// Backdating (admins and `import` keys): when the lead was created; not in the future.
    pub created_at: Option<DateTime<Utc>>,
    /// The id a partner's system knows the lead by; unique within the
    /// organization (409 if another lead has it); blank is none.
    #[schema(example = "hs-4711", max_length = 200)]
    pub external_id: Option<String>,
    /// Labels, at most 30 of at most 50 characters each (no commas or
    /// semicolons); stored trimmed and lower-cased, repeats counted once.
    #[schema(example = json!(["vip", "trade show"]))]
    pub tags: Option<Vec<String>>,
    /// Values of the organization's custom fields by key (`GET /custom-fields`), checked by their types.
    #[schema(value_type = Option<crate::routes::custom_fields::CustomValuesInput>)]
    pub custom_fields: Option<serde_json::Map<String, serde_json::Value>>,
}

/// The validated fields of `body`, with `owner` and `base_currency` as the
/// defaults already resolved; every invalid field is recorded in `fields`.
pub fn lead_fields(fields: &mut Fields, body: &CreateLead, owner: Uuid, base_currency: Currency) -> LeadFields {
    let lead = LeadFields {
        first_name: records::text(fields, "first_name", body.first_name.as_deref(), NAME_MAX),
        last_name: records::text(fields, "last_name", body.last_name.as_deref(), NAME_MAX),
        email: fields.check_opt("email", body.email.as_deref(), parse_email).flatten(),
        phone: records::text(fields, "phone", body.phone.as_deref(), PHONE_MAX),
        company_name: records::text(fields, "company_name", body.company_name.as_deref(), TEXT_MAX),
        title: records::text(fields, "title", body.title.as_deref(), TEXT_MAX),
        industry: records::text(fields, "industry", body.industry.as_deref(), TEXT_MAX),
        employee_count: fields.check_opt("employee_count", body.employee_count, parse_employee_count),
        country: fields
            .check_opt("country", body.country.as_deref(), parse_country)
            .flatten(),
        source: records::text(fields, "source", body.source.as_deref(), TEXT_MAX),
        estimated_value: fields
            .check_opt("estimated_value", body.estimated_value.as_deref(), |raw| {
                if raw.trim().is_empty() {
                    Ok(None)
                } else {
                    Amount::parse(raw).map(Some)
                }
            })
            .flatten(),
        currency: fields
            .check_opt("currency", body.currency.as_deref(), Currency::parse)
            .unwrap_or(base_currency),
        value_period: body.value_period.map(Into::into),
        owner_id: owner,
        external_id: records::text(
            fields,
            "external_id",
            body.external_id.as_deref(),
            records::EXTERNAL_ID_MAX,
        ),
        tags: records::tags(fields, body.tags.as_deref()).unwrap_or_default(),
        // Checked against the definitions by the caller: `custom_values`.
        custom_fields: Default::default(),
    };
    require_identity(fields, &lead, body);
    lead
}

/// The status part of a new lead, recorded in `fields` when invalid.
pub fn new_progress(fields: &mut Fields, body: &CreateLead, now: DateTime<Utc>) -> Option<LeadProgress> {
    let status = body.status.map(Into::into).unwrap_or(LeadStatus::New);
    let reason = records::text(
        fields,
        "unqualified_reason",
        body.unqualified_reason.as_deref(),
        REASON_MAX,
    );
    match LeadProgress::new(status, reason, now) {
        Ok(progress) => Some(progress),
        Err(err) => {
            let field = match err {
                pipewise_domain::lead::LeadStatusError::ReasonRequired => "unqualified_reason",
                _ => "status",
            };
            fields.reject(field, "invalid", &err.to_string());
            None
        }
    }
}

/// A lead needs something to call it by. A non-blank value that was invalid
/// already has its own error.
fn require_identity(fields: &mut Fields, lead: &LeadFields, body: &CreateLead) {
    let identified =
        lead.first_name.is_some() || lead.last_name.is_some() || lead.email.is_some() || lead.company_name.is_some();
    let given = [&body.first_name, &body.last_name, &body.email, &body.company_name]
        .into_iter()
        .flatten()
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

/// An email address; blank is absent.
pub fn parse_email(raw: &str) -> Result<Option<Email>, pipewise_domain::EmailError> {
    if raw.trim().is_empty() {
        Ok(None)
    } else {
        Email::parse(raw).map(Some)
    }
}

/// A country code; blank is absent.
pub fn parse_country(raw: &str) -> Result<Option<Country>, pipewise_domain::lead::CountryError> {
    if raw.trim().is_empty() {
        Ok(None)
    } else {
        Country::parse(raw).map(Some)
    }
}

pub const EMPLOYEE_COUNT_MAX: i64 = 10_000_000;

pub fn parse_employee_count(count: i64) -> Result<i64, String> {
    if (0..=EMPLOYEE_COUNT_MAX).contains(&count) {
        Ok(count)
    } else {
        Err(format!("must be between 0 and {EMPLOYEE_COUNT_MAX}"))
    }
}
