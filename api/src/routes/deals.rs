//! Deals: created in a stage, moved through the pipeline, won or lost, and
//! every step recorded in the deal's event log.

use actix_web::{delete, get, http::StatusCode, patch, post, web, HttpResponse};
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use chrono::{DateTime, NaiveDate, Utc};
use pipewise_domain::{
    custom_field::Resource,
    deal::{BuyingRole, Command, DealStatus, EventKind, ForecastCategory, LostReason, StageRef},
    text::{optional_text, search_key},
    Amount, Currency, Deal, DealContact, DealEvent, Probability,
};
use pipewise_storage::{DealChanges, DealFilter, DealPage, DealSortField, NewDeal, SortValue};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_actix_web::service_config::ServiceConfig;
use uuid::Uuid;
use validator::Validate;

use crate::{
    error::ApiError,
    extract::{if_match::etag, page::parse_limit, Caller, IfMatch, Json, Read, Write},
    fields::Fields,
    nullable,
    routes::custom_fields::{custom_changes, custom_filters, custom_values, definitions, patch_definitions},
    state::AppState,
};

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(list_deals)
        .service(create_deal)
        .service(get_deal)
        .service(update_deal)
        .service(delete_deal)
        .service(restore_deal)
        .service(move_deal)
        .service(win_deal)
        .service(lose_deal)
        .service(reopen_deal)
        .service(deal_events);
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum StatusName {
    Open,
    Won,
    Lost,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ForecastName {
    Pipeline,
    BestCase,
    Commit,
    Omitted,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BuyingRoleName {
    DecisionMaker,
    Influencer,
    Champion,
    User,
    Other,
}

macro_rules! same_names {
    ($api:ident <=> $domain:ident { $($variant:ident),* }) => {
        impl From<$api> for $domain {
            fn from(v: $api) -> Self { match v { $($api::$variant => $domain::$variant),* } }
        }
        impl From<$domain> for $api {
            fn from(v: $domain) -> Self { match v { $($domain::$variant => $api::$variant),* } }
        }
    };
}
pub(crate) use same_names;

same_names!(StatusName <=> DealStatus { Open, Won, Lost });
same_names!(ForecastName <=> ForecastCategory { Pipeline, BestCase, Commit, Omitted });
same_names!(BuyingRoleName <=> BuyingRole { DecisionMaker, Influencer, Champion, User, Other });
same_names!(EventKindName <=> EventKind { Created, Moved, Won, Lost, Reopened });

/// What happened to a deal.
#[derive(Debug, Clone, Copy, Serialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum EventKindName {
    Created,
    Moved,
    Won,
    Lost,
    Reopened,
}

/// A contact's part in this deal.
#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DealContactView {
    contact_id: Uuid,
    buying_role: Option<BuyingRoleName>,
}

#[derive(Serialize, ToSchema)]
pub struct DealView {
    id: Uuid,
    #[schema(example = "Acme — 50 seats")]
    title: String,
    /// Decimal string, 2 places.
    #[schema(example = "12500.00")]
    amount: String,
    #[schema(example = "EUR")]
    currency: String,
    pipeline_id: Uuid,
    stage_id: Uuid,
    status: StatusName,
    owner_id: Uuid,
    account_id: Option<Uuid>,
    contacts: Vec<DealContactView>,
    #[schema(example = "referral")]
    source: Option<String>,
    /// The deal's own win probability, overriding its stage's.
    probability: Option<u8>,
    /// amount × (probability, else the stage's) / 100.
    #[schema(example = "7500.00")]
    weighted_amount: String,
    /// Whether a linked contact is a decision maker.
    decision_maker_identified: bool,
    expected_close_date: Option<NaiveDate>,
    forecast_category: ForecastName,
    lost_reason: Option<String>,
    /// The id a partner's system knows the deal by (at most 200 characters);
    /// unique within the organization.
    #[schema(example = "crm-deal-77")]
    external_id: Option<String>,
    /// Labels to group and filter by (`tag=`): lower-cased, sorted, without repeats.
    #[schema(example = json!(["vip", "trade show"]))]
    tags: Vec<String>,
    /// Values of the organization's custom fields (`GET /custom-fields`).
    #[schema(value_type = crate::routes::custom_fields::CustomValuesView)]
    custom_fields: serde_json::Map<String, serde_json::Value>,
    version: i64,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    closed_at: Option<DateTime<Utc>>,
    stage_entered_at: DateTime<Utc>,
    last_activity_at: Option<DateTime<Utc>>,
}

impl From<Deal> for DealView {
    fn from(d: Deal) -> Self {
        Self {
            weighted_amount: format!("{:.2}", d.weighted_amount()),
            decision_maker_identified: d.decision_maker_identified(),
            id: d.id,
            title: d.title,
            amount: d.amount.to_string(),
            currency: d.currency.to_string(),
            pipeline_id: d.pipeline_id,
            stage_id: d.stage_id,
            status: d.status.into(),
            owner_id: d.owner_id,
            account_id: d.account_id,
            contacts: d
                .contacts
                .into_iter()
                .map(|c| DealContactView {
                    contact_id: c.contact_id,
                    buying_role: c.buying_role.map(Into::into),
                })
                .collect(),
            source: d.source,
            probability: d.probability.map(|p| p.value()),
            expected_close_date: d.expected_close_date,
            forecast_category: d.forecast_category.into(),
            lost_reason: d.lost_reason,
            external_id: d.external_id,
            tags: d.tags.to_strings(),
            custom_fields: crate::routes::custom_fields::values_view(&d.custom_fields),
            version: d.version,
            created_at: d.created_at,
            updated_at: d.updated_at,
            closed_at: d.closed_at,
            stage_entered_at: d.stage_entered_at,
            last_activity_at: d.last_activity_at,
        }
    }
}

fn deal_response(status: StatusCode, deal: Deal) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header(etag(deal.version))
        .json(DealView::from(deal))
}

#[derive(Serialize, ToSchema)]
pub struct DealList {
    data: Vec<DealView>,
    /// Pass as `cursor` (with the same `sort`) for the next page; `null` on the last.
    next_cursor: Option<String>,
}

#[derive(Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateDeal {
    #[schema(example = "Acme — 50 seats", min_length = 1, max_length = 200)]
    pub title: String,
    /// Decimal string, ≥ 0, at most 2 places.
    #[schema(example = "12500.00", max_length = 32, pattern = r"^\d+(\.\d{1,2})?$")]
    pub amount: String,
    /// ISO 4217; the organization's base currency if omitted.
    #[schema(example = "EUR", min_length = 3, max_length = 3)]
    pub currency: Option<String>,
    pub pipeline_id: Uuid,
    /// A stage of `pipeline_id`; its first stage if omitted.
    pub stage_id: Option<Uuid>,
    /// An active user of the organization; the caller if omitted (reps: themselves only).
    pub owner_id: Option<Uuid>,
    pub account_id: Option<Uuid>,
    #[validate(length(max = 50))]
    #[schema(max_items = 50)]
    pub contacts: Option<Vec<DealContactView>>,
    #[schema(example = "referral", max_length = 100)]
    pub source: Option<String>,
    #[schema(minimum = 0, maximum = 100)]
    pub probability: Option<i64>,
    pub expected_close_date: Option<NaiveDate>,
    pub forecast_category: Option<ForecastName>,
    /// Backdating (admins and `import` keys only): when the deal was really created.
    pub created_at: Option<DateTime<Utc>>,
    /// The id a partner's system knows the deal by; unique within the
    /// organization (409 if another deal has it); blank is none.
    #[schema(example = "crm-deal-77", max_length = 200)]
    pub external_id: Option<String>,
    /// Labels, at most 30 of at most 50 characters each (no commas or
    /// semicolons); stored trimmed and lower-cased, repeats counted once.
    #[schema(example = json!(["vip", "trade show"]))]
    pub tags: Option<Vec<String>>,
    /// Values of the organization's custom fields by key (`GET /custom-fields`), checked by their types.
    #[schema(value_type = Option<crate::routes::custom_fields::CustomValuesInput>)]
    pub custom_fields: Option<serde_json::Map<String, serde_json::Value>>,
}

#[derive(Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateDeal {
    #[schema(min_length = 1, max_length = 200)]
    pub title: Option<String>,
    #[schema(example = "13000.00", max_length = 32, pattern = r"^\d+(\.\d{1,2})?$")]
    pub amount: Option<String>,
    #[schema(min_length = 3, max_length = 3)]
    pub currency: Option<String>,
    pub owner_id: Option<Uuid>,
    #[serde(default, deserialize_with = "nullable::double_option")]
    #[schema(value_type = Option<Uuid>, nullable)]
    pub account_id: Option<Option<Uuid>>,
    /// Replaces the deal's contacts.
    #[validate(length(max = 50))]
    #[schema(max_items = 50)]
    pub contacts: Option<Vec<DealContactView>>,
    #[serde(default, deserialize_with = "nullable::double_option")]
    #[schema(value_type = Option<String>, nullable, max_length = 100)]
    pub source: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable::double_option")]
    #[schema(value_type = Option<i64>, nullable, minimum = 0, maximum = 100)]
    pub probability: Option<Option<i64>>,
    #[serde(default, deserialize_with = "nullable::double_option")]
    #[schema(value_type = Option<NaiveDate>, nullable)]
    pub expected_close_date: Option<Option<NaiveDate>>,
    pub forecast_category: Option<ForecastName>,
    /// Unique within the organization (409 if another deal has it); blank or `null` clears it.
    #[serde(default, deserialize_with = "nullable::double_option")]
    #[schema(value_type = Option<String>, nullable, example = "crm-deal-77", max_length = 200)]
    pub external_id: Option<Option<String>>,
    /// Replaces the record's tags (`[]` removes them all); the bulk
    /// actions `add_tag` and `remove_tag` change one tag at a time.
    #[schema(example = json!(["vip"]))]
    pub tags: Option<Vec<String>>,
    /// Custom values to change, by key (`null` clears one); the other keys stay as they are.
    #[schema(value_type = Option<crate::routes::custom_fields::CustomValuesInput>)]
    pub custom_fields: Option<serde_json::Map<String, serde_json::Value>>,
}

#[derive(Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MoveDeal {
    /// Any stage of the organization: a stage of another pipeline moves the deal to that pipeline.
    stage_id: Uuid,
    /// Backdating (admins and `import` keys only).
    at: Option<DateTime<Utc>>,
}

#[derive(Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WinDeal {
    /// Backdating (admins and `import` keys only).
    at: Option<DateTime<Utc>>,
}

#[derive(Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoseDeal {
    #[schema(example = "Went with a competitor", min_length = 1, max_length = 200)]
    reason: String,
    /// Backdating (admins and `import` keys only).
    at: Option<DateTime<Utc>>,
}

#[derive(Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReopenDeal {
    /// Where the reopened deal goes; the stage it closed in if omitted.
    stage_id: Option<Uuid>,
    /// Backdating (admins and `import` keys only).
    at: Option<DateTime<Utc>>,
}

crate::openapi::doc_schema!(
    /// The deal list's `sort` values, as `parse_sort` reads them.
    DealSort = crate::openapi::sort_values(
        &["created_at", "updated_at", "amount", "expected_close_date", "title"],
        "A field to sort by, ascending, or with `-` descending",
    )
);

crate::routes::records::record_queries!(DealListQuery, DealFilterQuery,
    /// `created_at`, `updated_at`, `amount`, `expected_close_date` or `title`;
    /// prefix `-` for descending. Default `created_at`. Deals without an
    /// expected close date come last either way.
    #[param(value_type = Option<DealSort>, inline, example = "-amount")]
    sort: String,
    {
    pipeline_id: Option<Uuid>,
    stage_id: Option<Uuid>,
    status: Option<StatusName>,
    owner_id: Option<Uuid>,
    account_id: Option<Uuid>,
    contact_id: Option<Uuid>,
    #[param(max_length = 100)]
    source: Option<String>,
    /// Case-insensitive prefix of the title.
    #[param(max_length = 200)]
    q: Option<String>,
    /// Created at or after this instant.
    created_from: Option<DateTime<Utc>>,
    /// Created before this instant.
    created_to: Option<DateTime<Utc>>,
    expected_close_from: Option<NaiveDate>,
    expected_close_to: Option<NaiveDate>,
    /// Decimal string, at most 2 places.
    #[param(max_length = 32, pattern = r"^\d+(\.\d{1,2})?$")]
    amount_min: Option<String>,
    #[param(max_length = 32, pattern = r"^\d+(\.\d{1,2})?$")]
    amount_max: Option<String>,
    /// Only records carrying this tag (any case).
    #[param(example = "vip", max_length = 50)]
    tag: Option<String>,
});

impl DealFilterQuery {
    /// The filter to list with, seen by `visible_to_owner`: 400 for a bad amount.
    pub fn filter(self, visible_to_owner: Option<Uuid>) -> Result<DealFilter, ApiError> {
        let amount = |raw: Option<String>, name: &str| {
            raw.map(|r| Amount::parse(&r).map_err(|e| ApiError::BadRequest(format!("{name} {e}."))))
                .transpose()
        };
        Ok(DealFilter {
            visible_to_owner,
            pipeline_id: self.pipeline_id,
            stage_id: self.stage_id,
            status: self.status.map(Into::into),
            owner_id: self.owner_id,
            account_id: self.account_id,
            contact_id: self.contact_id,
            source: self.source,
            title_prefix: self.q.map(|q| search_key(&[Some(&q)])).filter(|q| !q.is_empty()),
            created_from: self.created_from,
            created_to: self.created_to,
            close_from: self.expected_close_from,
            close_to: self.expected_close_to,
            amount_min: amount(self.amount_min, "amount_min")?,
            amount_max: amount(self.amount_max, "amount_max")?,
            tag: crate::routes::records::tag_filter(self.tag.as_deref())?,
            // Read apart (`FilteredQuery`), against the definitions.
            custom: Vec::new(),
        })
    }
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DeleteQuery {
    /// `true` deletes for good (admins only); otherwise the record goes to the trash.
    purge: Option<bool>,
}

#[derive(Serialize, ToSchema)]
pub struct DealEventView {
    id: Uuid,
    kind: EventKindName,
    at: DateTime<Utc>,
    pipeline_id: Uuid,
    /// The stage the deal is in after the event.
    stage_id: Uuid,
    /// For `moved` (and `reopened` into another stage): where it came from.
    from_stage_id: Option<Uuid>,
    lost_reason: Option<String>,
    actor_user_id: Option<Uuid>,
    actor_api_key_id: Option<Uuid>,
}

impl From<DealEvent> for DealEventView {
    fn from(e: DealEvent) -> Self {
        Self {
            id: e.id,
            kind: e.kind.into(),
            at: e.at,
            pipeline_id: e.pipeline_id,
            stage_id: e.stage_id,
            from_stage_id: e.from_stage_id,
            lost_reason: e.lost_reason,
            actor_user_id: e.actor_user_id,
            actor_api_key_id: e.actor_api_key_id,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct DealEventList {
    data: Vec<DealEventView>,
    /// Always `null`: a deal's whole history fits one page.
    next_cursor: Option<String>,
}

fn contacts(fields: &mut Fields, input: Option<Vec<DealContactView>>) -> Option<Vec<DealContact>> {
    let links: Vec<DealContact> = input?
        .into_iter()
        .map(|c| DealContact {
            contact_id: c.contact_id,
            buying_role: c.buying_role.map(Into::into),
        })
        .collect();
    let mut ids: Vec<_> = links.iter().map(|l| l.contact_id).collect();
    ids.sort();
    ids.dedup();
    if ids.len() != links.len() {
        fields.reject("contacts", "duplicate", "lists a contact more than once");
    }
    Some(links)
}

fn title(raw: &str) -> Result<String, &'static str> {
    match optional_text(raw, 200) {
        Ok(Some(title)) => Ok(title),
        Ok(None) => Err("must not be blank"),
        Err(_) => Err("must be at most 200 characters, without control characters"),
    }
}

fn source(raw: &str) -> Result<Option<String>, pipewise_domain::text::TextError> {
    optional_text(raw, 100)
}

/// List deals
///
/// List deals. Reps see only the deals they own. Unknown filters or sort fields are 400.
#[utoipa::path(
    tag = "deals",
    params(DealListQuery, crate::extract::CustomFilterParams),
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, body = DealList),
        crate::problem::ListErrors,
    )
)]
#[get("/deals")]
async fn list_deals(
    caller: Caller<Read>,
    state: web::Data<AppState>,
    query: crate::extract::FilteredQuery<DealListQuery>,
) -> Result<web::Json<DealList>, ApiError> {
    let crate::extract::FilteredQuery { query, custom } = query;
    let (limit, cursor, sort, filters) = query.split();
    let limit = parse_limit(limit)?;
    let (sort, descending) = parse_sort(sort.as_deref())?;
    let after = cursor
        .as_deref()
        .map(|c| decode_cursor(c, sort, descending))
        .transpose()?;
    let mut filter = filters.filter(caller.visible_owner())?;
    filter.custom = custom_filters(&state, caller.organization_id(), Resource::Deals, &custom).await?;
    let page = DealPage {
        sort,
        descending,
        after,
        limit: limit + 1,
    };
    let mut deals = state.store.deals(caller.organization_id(), &filter, &page).await?;
    let next_cursor = if deals.len() > limit as usize {
        deals.truncate(limit as usize);
        deals.last().map(|d| encode_cursor(sort, descending, d))
    } else {
        None
    };
    Ok(web::Json(DealList {
        data: deals.into_iter().map(DealView::from).collect(),
        next_cursor,
    }))
}

/// The deal `body` creates, checked field by field into `fields` (`None`
/// when a field is invalid). `base_currency` stands for an omitted
/// currency: the caller loads it when the body has none.
pub fn new_deal(
    fields: &mut Fields,
    body: CreateDeal,
    owner_id: Uuid,
    base_currency: Option<Currency>,
    now: DateTime<Utc>,
) -> Option<NewDeal> {
    let title = fields.check("title", title(&body.title));
    let amount = fields.check("amount", Amount::parse(&body.amount));
    let currency = fields.check_opt("currency", body.currency.as_deref(), Currency::parse);
    let source = fields.check_opt("source", body.source.as_deref(), source).flatten();
    let probability = fields.check_opt("probability", body.probability, Probability::new);
    let contacts = contacts(fields, body.contacts).unwrap_or_default();
    if body.created_at.is_some_and(|at| at > now) {
        fields.reject("created_at", "in_the_future", "must not be in the future");
    }
    let external_id = crate::routes::records::text(
        fields,
        "external_id",
        body.external_id.as_deref(),
        crate::routes::records::EXTERNAL_ID_MAX,
    );
    let tags = crate::routes::records::tags(fields, body.tags.as_deref()).unwrap_or_default();
    let currency = match (body.currency, currency) {
        (None, _) => base_currency.expect("loaded when the body has no currency"),
        (Some(_), currency) => currency?,
    };
    Some(NewDeal {
        title: title?,
        amount: amount?,
        currency,
        pipeline_id: body.pipeline_id,
        stage_id: body.stage_id,
        owner_id,
        account_id: body.account_id,
        contacts,
        source,
        probability,
        expected_close_date: body.expected_close_date,
        forecast_category: body
            .forecast_category
            .map(Into::into)
            .unwrap_or(ForecastCategory::Pipeline),
        created_at: body.created_at.unwrap_or(now),
        external_id,
        tags,
        // Checked against the definitions by the caller: `custom_values`.
        custom_fields: Default::default(),
    })
}

/// The changes `body` asks for, checked field by field into `fields`.
pub fn deal_changes(fields: &mut Fields, body: UpdateDeal) -> DealChanges {
    DealChanges {
        title: fields.check_opt("title", body.title.as_deref(), title),
        amount: fields.check_opt("amount", body.amount.as_deref(), Amount::parse),
        currency: fields.check_opt("currency", body.currency.as_deref(), Currency::parse),
        owner_id: body.owner_id,
        account_id: body.account_id,
        contacts: contacts(fields, body.contacts),
        source: match body.source {
            None => None,
            Some(None) => Some(None),
            Some(Some(raw)) => fields.check("source", source(&raw)),
        },
        probability: match body.probability {
            None => None,
            Some(None) => Some(None),
            Some(Some(p)) => fields.check("probability", Probability::new(p)).map(Some),
        },
        expected_close_date: body.expected_close_date,
        forecast_category: body.forecast_category.map(Into::into),
        external_id: crate::routes::records::patch_text(
            fields,
            "external_id",
            &body.external_id,
            crate::routes::records::EXTERNAL_ID_MAX,
        ),
        tags: crate::routes::records::tags(fields, body.tags.as_deref()),
        // Checked against the definitions by the caller: `custom_changes`.
        custom_fields: Vec::new(),
    }
}

/// Create a deal
///
/// Create a deal in a stage of a pipeline (its first stage by default). Its
/// `created` event is written in the same transaction.
#[utoipa::path(
    tag = "deals",
    request_body = CreateDeal,
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 201, body = DealView, headers(("ETag" = String))),
        crate::problem::CreateErrors,
    )
)]
#[post("/deals")]
async fn create_deal(
    caller: Caller<Write>,
    state: web::Data<AppState>,
    Json(body, mut fields): Json<CreateDeal>,
) -> Result<HttpResponse, ApiError> {
    let now = Utc::now();
    let owner_id = caller.new_record_owner(body.owner_id)?;
    if body.created_at.is_some() {
        caller.ensure_may_backdate()?;
    }
    let base_currency = match body.currency {
        Some(_) => None,
        None => Some(state.store.organization(caller.organization_id()).await?.base_currency),
    };
    let defs = definitions(&state, caller.organization_id(), Resource::Deals).await?;
    let custom_fields = custom_values(&mut fields, &defs, None, body.custom_fields.as_ref());
    let new_deal = new_deal(&mut fields, body, owner_id, base_currency, now);
    let new_deal = fields.finish(|| NewDeal {
        custom_fields,
        ..new_deal.expect("checked")
    })?;
    let deal = state
        .store
        .create_deal(caller.organization_id(), &new_deal, caller.actor(), now)
        .await?;
    Ok(deal_response(StatusCode::CREATED, deal))
}

/// Get a deal
///
/// Get a deal. Reps get 404 for deals they do not own.
#[utoipa::path(
    tag = "deals",
    params(("id" = Uuid, Path, description = "The deal's id")),
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, body = DealView, headers(("ETag" = String))),
        crate::problem::ReadOneErrors,
    )
)]
#[get("/deals/{id}")]
async fn get_deal(
    caller: Caller<Read>,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let deal = state
        .store
        .deal(caller.organization_id(), *id, caller.visible_owner())
        .await?;
    Ok(deal_response(StatusCode::OK, deal))
}

/// Update a deal
///
/// Change a deal's fields. Stage, status and closing change only through
/// the commands (`move`, `win`, `lose`, `reopen`), so they are not accepted here.
#[utoipa::path(
    tag = "deals",
    params(
        ("id" = Uuid, Path, description = "The deal's id"),
        ("If-Match" = Option<String>, Header, description = "The ETag last seen; 412 if stale"),
    ),
    request_body = UpdateDeal,
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, body = DealView, headers(("ETag" = String))),
        (status = 400, response = crate::problem::BadRequest),
        (status = 401, response = crate::problem::Unauthorized),
        (status = 403, response = crate::problem::Forbidden),
        (status = 404, response = crate::problem::NotFound),
        (status = 412, response = crate::problem::PreconditionFailed),
        (status = 413, response = crate::problem::PayloadTooLarge),
        (status = 415, response = crate::problem::UnsupportedMediaType),
        (status = 422, response = crate::problem::ValidationFailed),
    )
)]
#[patch("/deals/{id}")]
async fn update_deal(
    caller: Caller<Write>,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    if_match: IfMatch,
    Json(body, mut fields): Json<UpdateDeal>,
) -> Result<HttpResponse, ApiError> {
    if let Some(owner) = body.owner_id {
        caller.ensure_can_change(owner)?;
    }
    let defs = patch_definitions(
        &state,
        caller.organization_id(),
        Resource::Deals,
        body.custom_fields.as_ref(),
    )
    .await?;
    let custom_fields = custom_changes(&mut fields, &defs, body.custom_fields.as_ref());
    let changes = deal_changes(&mut fields, body);
    let changes = fields.finish(|| DealChanges {
        custom_fields,
        ..changes
    })?;
    let deal = state
        .store
        .update_deal(
            caller.organization_id(),
            *id,
            caller.visible_owner(),
            &changes,
            if_match.0,
            caller.actor(),
            Utc::now(),
        )
        .await?;
    Ok(deal_response(StatusCode::OK, deal))
}

/// Trash or purge a deal
///
/// Move a deal to the trash (out of every list and report; `restore` brings
/// it back), or with `purge=true` delete it for good with its history (admins only).
#[utoipa::path(
    tag = "deals",
    params(
        ("id" = Uuid, Path, description = "The deal's id"),
        ("If-Match" = Option<String>, Header, description = "The ETag last seen; 412 if stale"),
        DeleteQuery,
    ),
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 204, description = "Trashed, or purged"),
        (status = 400, response = crate::problem::BadRequest),
        (status = 401, response = crate::problem::Unauthorized),
        (status = 403, response = crate::problem::Forbidden),
        (status = 404, response = crate::problem::NotFound),
        (status = 412, response = crate::problem::PreconditionFailed),
    )
)]
#[delete("/deals/{id}")]
async fn delete_deal(
    caller: Caller<Write>,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    if_match: IfMatch,
    query: web::Query<DeleteQuery>,
) -> Result<HttpResponse, ApiError> {
    let org = caller.organization_id();
    if query.purge == Some(true) {
        caller.ensure_admin()?;
        state
            .store
            .purge_deal(org, *id, if_match.0, caller.actor(), Utc::now())
            .await?;
    } else {
        state
            .store
            .trash_deal(org, *id, caller.visible_owner(), if_match.0, caller.actor(), Utc::now())
            .await?;
    }
    Ok(HttpResponse::NoContent().finish())
}

/// Restore a deal
///
/// Bring a deal back from the trash.
#[utoipa::path(
    tag = "deals",
    params(("id" = Uuid, Path, description = "The deal's id")),
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, body = DealView, headers(("ETag" = String))),
        crate::problem::ReadOneErrors,
    )
)]
#[post("/deals/{id}/restore")]
async fn restore_deal(
    caller: Caller<Write>,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let deal = state
        .store
        .restore_deal(
            caller.organization_id(),
            *id,
            caller.visible_owner(),
            caller.actor(),
            Utc::now(),
        )
        .await?;
    Ok(deal_response(StatusCode::OK, deal))
}

async fn command(
    caller: &Caller<Write>,
    state: &AppState,
    id: Uuid,
    command: Command,
    at: Option<DateTime<Utc>>,
    if_match: IfMatch,
) -> Result<HttpResponse, ApiError> {
    if at.is_some() {
        caller.ensure_may_backdate()?;
    }
    let deal = state
        .store
        .command_deal(
            caller.organization_id(),
            id,
            caller.visible_owner(),
            command,
            at,
            if_match.0,
            caller.actor(),
            Utc::now(),
        )
        .await?;
    Ok(deal_response(StatusCode::OK, deal))
}

// The pipeline of a target stage is resolved by the store; the domain only
// compares stage ids, so the pipeline given here is a placeholder.
fn stage(id: Uuid) -> StageRef {
    StageRef {
        pipeline_id: Uuid::nil(),
        stage_id: id,
    }
}

/// Move a deal
///
/// Move an open deal to another stage (of its pipeline, or of another
/// pipeline, which moves the deal there). 409 if the deal is closed or already in that stage.
#[utoipa::path(
    tag = "deals",
    params(
        ("id" = Uuid, Path, description = "The deal's id"),
        ("If-Match" = Option<String>, Header, description = "The ETag last seen; 412 if stale"),
    ),
    request_body = MoveDeal,
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, body = DealView, headers(("ETag" = String))),
        crate::problem::UpdateErrors,
    )
)]
#[post("/deals/{id}/move")]
async fn move_deal(
    caller: Caller<Write>,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    if_match: IfMatch,
    Json(body, fields): Json<MoveDeal>,
) -> Result<HttpResponse, ApiError> {
    fields.finish(|| ())?;
    command(
        &caller,
        &state,
        *id,
        Command::Move {
            to: stage(body.stage_id),
        },
        body.at,
        if_match,
    )
    .await
}

/// Win a deal
///
/// Mark an open deal won. 409 if it is already closed.
#[utoipa::path(
    tag = "deals",
    params(
        ("id" = Uuid, Path, description = "The deal's id"),
        ("If-Match" = Option<String>, Header, description = "The ETag last seen; 412 if stale"),
    ),
    request_body = WinDeal,
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, body = DealView, headers(("ETag" = String))),
        crate::problem::UpdateErrors,
    )
)]
#[post("/deals/{id}/win")]
async fn win_deal(
    caller: Caller<Write>,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    if_match: IfMatch,
    Json(body, fields): Json<WinDeal>,
) -> Result<HttpResponse, ApiError> {
    fields.finish(|| ())?;
    command(&caller, &state, *id, Command::Win, body.at, if_match).await
}

/// Lose a deal
///
/// Mark an open deal lost, with a reason (1–200 characters). 409 if it is already closed.
#[utoipa::path(
    tag = "deals",
    params(
        ("id" = Uuid, Path, description = "The deal's id"),
        ("If-Match" = Option<String>, Header, description = "The ETag last seen; 412 if stale"),
    ),
    request_body = LoseDeal,
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, body = DealView, headers(("ETag" = String))),
        crate::problem::UpdateErrors,
    )
)]
#[post("/deals/{id}/lose")]
async fn lose_deal(
    caller: Caller<Write>,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    if_match: IfMatch,
    Json(body, fields): Json<LoseDeal>,
) -> Result<HttpResponse, ApiError> {
    fields.finish(|| ())?;
    let reason = LostReason::parse(&body.reason).map_err(|e| ApiError::invalid("reason", "invalid", e))?;
    command(&caller, &state, *id, Command::Lose { reason }, body.at, if_match).await
}

/// Reopen a deal
///
/// Reopen a won or lost deal, in the stage it closed in or in `stage_id`. 409 if it is open.
#[utoipa::path(
    tag = "deals",
    params(
        ("id" = Uuid, Path, description = "The deal's id"),
        ("If-Match" = Option<String>, Header, description = "The ETag last seen; 412 if stale"),
    ),
    request_body = ReopenDeal,
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, body = DealView, headers(("ETag" = String))),
        crate::problem::UpdateErrors,
    )
)]
#[post("/deals/{id}/reopen")]
async fn reopen_deal(
    caller: Caller<Write>,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    if_match: IfMatch,
    Json(body, fields): Json<ReopenDeal>,
) -> Result<HttpResponse, ApiError> {
    fields.finish(|| ())?;
    command(
        &caller,
        &state,
        *id,
        Command::Reopen {
            to: body.stage_id.map(stage),
        },
        body.at,
        if_match,
    )
    .await
}

/// List a deal's events
///
/// The deal's event log, oldest first: `created`, `moved`, `won`, `lost`, `reopened`.
#[utoipa::path(
    tag = "deals",
    params(("id" = Uuid, Path, description = "The deal's id")),
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, body = DealEventList),
        crate::problem::ReadOneErrors,
    )
)]
#[get("/deals/{id}/events")]
async fn deal_events(
    caller: Caller<Read>,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> Result<web::Json<DealEventList>, ApiError> {
    let events = state
        .store
        .deal_events(caller.organization_id(), *id, caller.visible_owner())
        .await?;
    Ok(web::Json(DealEventList {
        data: events.into_iter().map(DealEventView::from).collect(),
        next_cursor: None,
    }))
}

fn parse_sort(raw: Option<&str>) -> Result<(DealSortField, bool), ApiError> {
    let raw = raw.unwrap_or("created_at");
    let (descending, name) = match raw.strip_prefix('-') {
        Some(name) => (true, name),
        None => (false, raw),
    };
    let field = match name {
        "created_at" => DealSortField::CreatedAt,
        "updated_at" => DealSortField::UpdatedAt,
        "amount" => DealSortField::Amount,
        "expected_close_date" => DealSortField::ExpectedCloseDate,
        "title" => DealSortField::Title,
        _ => {
            return Err(ApiError::BadRequest(
                "sort must be one of created_at, updated_at, amount, expected_close_date, title, optionally prefixed with -."
                    .to_owned(),
            ))
        }
    };
    Ok((field, descending))
}

/// What a deal list cursor holds: the sort it belongs to, and the last row's key.
#[derive(Serialize, Deserialize)]
struct CursorData {
    s: String,
    v: serde_json::Value,
    i: Uuid,
}

fn sort_label(field: DealSortField, descending: bool) -> String {
    format!("{}{field:?}", if descending { "-" } else { "" })
}

fn encode_cursor(field: DealSortField, descending: bool, deal: &Deal) -> String {
    let v = match field.value_of(deal) {
        SortValue::Time(t) => serde_json::json!(t),
        SortValue::Int(i) => serde_json::json!(i),
        SortValue::Text(t) => serde_json::json!(t),
        SortValue::Date(d) => serde_json::json!(d),
    };
    let data = CursorData {
        s: sort_label(field, descending),
        v,
        i: deal.id,
    };
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(&data).expect("a cursor serializes"))
}

fn decode_cursor(raw: &str, field: DealSortField, descending: bool) -> Result<(SortValue, Uuid), ApiError> {
    let bad = || ApiError::BadRequest("cursor is not one this API returned for this sort.".to_owned());
    let bytes = URL_SAFE_NO_PAD.decode(raw).map_err(|_| bad())?;
    let data: CursorData = serde_json::from_slice(&bytes).map_err(|_| bad())?;
    if data.s != sort_label(field, descending) {
        return Err(bad());
    }
    let value = match field {
        DealSortField::CreatedAt | DealSortField::UpdatedAt => {
            SortValue::Time(serde_json::from_value(data.v).map_err(|_| bad())?)
        }
        DealSortField::Amount => SortValue::Int(serde_json::from_value(data.v).map_err(|_| bad())?),
        DealSortField::Title => SortValue::Text(serde_json::from_value(data.v).map_err(|_| bad())?),
        DealSortField::ExpectedCloseDate => SortValue::Date(serde_json::from_value(data.v).map_err(|_| bad())?),
    };
    Ok((value, data.i))
}
