//! Lead conversion: `POST /leads/{id}/convert` turns a lead into a contact,
//! usually at an account, and optionally a deal, in one transaction (see
//! `pipewise_storage::conversion` for the defaults). The lead stays, marked
//! converted and linked to what it became, so its history stays reachable.

use actix_web::{http::StatusCode, post, web, HttpResponse};
use chrono::{DateTime, NaiveDate, Utc};
use pipewise_domain::{prediction::Tables, text::optional_text, Amount, Currency};
use pipewise_storage::{AccountChoice, ContactChoice, Conversion, ConversionDeal, ConversionError, Converted};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;
use uuid::Uuid;
use validator::Validate;

use crate::{
    error::ApiError,
    extract::{if_match::etag, Caller, IfMatch, Json, Write},
    fields::Fields,
    routes::{
        accounts::AccountView, contacts::ContactView, deals::BuyingRoleName, deals::DealView, lead_input::LeadView,
        lead_potential::Customers,
    },
    state::AppState,
};

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(convert_lead);
}

pub const TITLE_MAX: usize = 200;

/// How to convert a lead. Everything is optional: `{}` makes a contact from
/// the lead, at an account found or made from its company, and no deal.
/// The lead's tags follow it to the new contact and deal, and so do its
/// custom values wherever their own fields have the same key and accept the
/// value (kept as those fields keep them).
#[derive(Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConvertLead {
    /// A live account of the organization. If omitted: the account of
    /// `contact_id`'s contact; else, when the lead has a `company_name`, a live
    /// account with that name (any case), else one whose `domain` is the
    /// lead's business email domain, else a new account from the lead
    /// (name, business email domain, industry, employee count). A lead
    /// without a company name gets no account.
    account_id: Option<Uuid>,
    /// A live contact of the organization the lead turned out to be; it is
    /// linked as it is. If omitted, a new contact is made from the lead's
    /// name, email, phone and title; when a contact already has the lead's
    /// email that is 409 with its id in `existing_id` (pass it here).
    contact_id: Option<Uuid>,
    /// The new contact's buying role, and the contact's role in the deal
    /// (else the linked contact's own role).
    buying_role: Option<BuyingRoleName>,
    /// Open a deal for the contact.
    deal: Option<ConvertDeal>,
    /// Backdating (admins and `import` keys only): when the conversion
    /// happened; not in the future nor before the lead was created. Sets
    /// `converted_at` and the deal's `created_at`.
    at: Option<DateTime<Utc>>,
}

/// The deal a conversion opens, owned by the lead's owner, linked to the
/// account and to the contact with its buying role.
#[derive(Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConvertDeal {
    /// "<company_name, else the lead's name> deal" if omitted.
    #[schema(example = "Acme — 50 seats", min_length = 1, max_length = 200)]
    title: Option<String>,
    /// Decimal string, ≥ 0, at most 2 places.
    #[schema(example = "12500.00", max_length = 32, pattern = r"^\d+(\.\d{1,2})?$")]
    amount: String,
    /// ISO 4217; the lead's currency if omitted.
    #[schema(example = "EUR", min_length = 3, max_length = 3)]
    currency: Option<String>,
    /// The pipeline of `stage_id` if omitted, else the organization's oldest pipeline.
    pipeline_id: Option<Uuid>,
    /// A stage of the pipeline; its first stage if omitted.
    stage_id: Option<Uuid>,
    expected_close_date: Option<NaiveDate>,
}

/// What the lead became. `account` is `null` when the lead got none;
/// `deal` when none was asked for.
#[derive(Serialize, ToSchema)]
pub struct ConversionView {
    lead: LeadView,
    contact: ContactView,
    account: Option<AccountView>,
    deal: Option<DealView>,
}

impl ConversionView {
    fn new(c: Converted, tables: &Tables, customers: &Customers) -> Self {
        Self {
            lead: LeadView::new(c.lead, tables, customers),
            contact: c.contact.into(),
            account: c.account.map(Into::into),
            deal: c.deal.map(Into::into),
        }
    }
}

fn title(raw: &str) -> Result<String, &'static str> {
    match optional_text(raw, TITLE_MAX) {
        Ok(Some(title)) => Ok(title),
        Ok(None) => Err("must not be blank; omit it for the default title"),
        Err(_) => Err("must be at most 200 characters, without control characters"),
    }
}

/// The deal part of the request, validated; errors are named `deal.<field>`.
fn conversion_deal(fields: &mut Fields, deal: ConvertDeal) -> Option<ConversionDeal> {
    let title = fields.check_opt("deal.title", deal.title.as_deref(), title);
    let amount = fields.check("deal.amount", Amount::parse(&deal.amount));
    let currency = fields.check_opt("deal.currency", deal.currency.as_deref(), Currency::parse);
    Some(ConversionDeal {
        title,
        amount: amount?,
        currency,
        pipeline_id: deal.pipeline_id,
        stage_id: deal.stage_id,
        expected_close_date: deal.expected_close_date,
    })
}

/// Convert a lead
///
/// Convert a lead into a contact, an account and optionally a deal, in one
/// transaction: either all of it happens or none. The lead becomes
/// `converted` (final), with `converted_at` and, if it never qualified,
/// `qualified_at` set, and links to what it became; its activities and notes
/// show in the timelines of the new contact and deal. A second conversion
/// is 409. Reps convert only their own leads (another's is 404).
#[utoipa::path(
    tag = "leads",
    params(
        ("id" = Uuid, Path, description = "The lead's id"),
        ("If-Match" = Option<String>, Header, description = "The lead's ETag last seen; 412 if stale"),
    ),
    request_body = ConvertLead,
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, body = ConversionView, headers(("ETag" = String, description = "The lead's new ETag"))),
        crate::problem::UpdateErrors,
    )
)]
#[post("/leads/{id}/convert")]
async fn convert_lead(
    caller: Caller<Write>,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    if_match: IfMatch,
    Json(body, mut fields): Json<ConvertLead>,
) -> Result<HttpResponse, ApiError> {
    let now = Utc::now();
    if body.at.is_some() {
        caller.ensure_may_backdate()?;
    }
    if body.at.is_some_and(|at| at > now) {
        fields.reject("at", "in_the_future", "must not be in the future");
    }
    let deal = body.deal.map(|deal| conversion_deal(&mut fields, deal));
    let conversion = fields.finish(|| Conversion {
        lead_id: *id,
        visible_owner: caller.visible_owner(),
        if_version: if_match.0,
        account: body.account_id.map_or(AccountChoice::FromLead, AccountChoice::Existing),
        contact: body.contact_id.map_or(ContactChoice::FromLead, ContactChoice::Existing),
        buying_role: body.buying_role.map(Into::into),
        deal: deal.map(|d| d.expect("valid when no field was rejected")),
        at: body.at,
    })?;
    let converted = state
        .store
        .convert_lead(caller.organization_id(), &conversion, caller.actor(), now)
        .await
        .map_err(|err| match err {
            ConversionError::DuplicateContact { existing_id } => ApiError::Duplicate {
                detail: "A contact with the lead's email already exists; pass its id as contact_id to convert the \
                         lead into it."
                    .to_owned(),
                existing_id: Some(existing_id),
            },
            ConversionError::Store(err) => err.into(),
        })?;
    let tables = state.store.prediction_tables(caller.organization_id()).await?;
    let customers = state.store.customer_year(caller.organization_id(), Utc::now()).await?;
    Ok(HttpResponse::build(StatusCode::OK)
        .insert_header(etag(converted.lead.version))
        .json(ConversionView::new(converted, &tables, &customers)))
}
