//! Scoring rules: each adds (or takes away) points when a lead matches its
//! condition; a lead's score is the sum over its matching active rules,
//! clamped to 0–100. Everyone may read the rules, so that every score can be
//! explained; only admins change them. A rule change takes effect on each
//! lead's next write, or for all leads at once with `POST /scoring-rules/rescore`.

use actix_web::{delete, get, http::header, http::StatusCode, patch, post, web, HttpResponse};
use chrono::{DateTime, Utc};
use pipewise_domain::{
    custom_field::{FieldType, Resource},
    prediction::Tables,
    scoring::{Condition, FieldKind, Operand, Operator, ScoringField, Subject},
    text::optional_text,
    CustomField, Points,
};
use pipewise_storage::{Rescored, RuleFields, StoredRule};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{
    openapi::schema::{ArrayBuilder, ObjectBuilder, OneOfBuilder, Type},
    IntoParams, ToSchema,
};
use utoipa_actix_web::service_config::ServiceConfig;
use uuid::Uuid;
use validator::Validate;

use crate::{
    error::ApiError,
    extract::{if_match::etag, Admin, Caller, IfMatch, Json, ListOf, Read},
    fields::Fields,
    routes::custom_fields::definitions,
    routes::records::{self, check_version},
    state::AppState,
};

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(list_rules)
        .service(create_rule)
        .service(rescore)
        .service(get_rule)
        .service(update_rule)
        .service(delete_rule);
}

pub const NAME_MAX: usize = 200;

/// The lead fields a rule can test. `email_domain_kind` is `business` or
/// `free` (from a list of free mail providers); `activities_done` counts
/// the lead's done activities; `potential` is the lead's look-alike
/// potential (`GET /leads/{id}/potential`: the median yearly spend of the
/// customers like it, in the base currency) when the lead is scored. Every
/// write of a lead scores it anew, but a won deal changes the customers
/// without rescoring every lead: `POST /scoring-rules/rescore` catches up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FieldName {
    FirstName,
    LastName,
    Email,
    Phone,
    CompanyName,
    Title,
    Industry,
    EmployeeCount,
    Country,
    Source,
    EstimatedValue,
    ValuePeriod,
    Status,
    UnqualifiedReason,
    OwnerId,
    EmailDomainKind,
    ActivitiesDone,
    Potential,
    /// One of the organization's custom fields of leads, named by
    /// `custom_field`: number and decimal fields are numbers, the others
    /// text (a boolean is `true` or `false`; a multi_select matches when one
    /// of its options does).
    Custom,
}

impl FieldName {
    /// The name of `field`, which both spell alike.
    fn of(field: ScoringField) -> Self {
        serde_json::from_value(Value::from(field.as_str())).expect("every scoring field has its name here")
    }

    /// The lead field this names; `None` for `custom`.
    fn scoring_field(self) -> Option<ScoringField> {
        let name = serde_json::to_value(self).expect("a name serializes");
        ScoringField::parse(name.as_str()?)
    }
}

/// `contains` applies to text fields; `gt`, `gte`, `lt`, `lte` to the number
/// fields (`employee_count`, `estimated_value`, `activities_done`,
/// `potential`); the rest to both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OperatorName {
    Equals,
    NotEquals,
    Contains,
    In,
    Gt,
    Gte,
    Lt,
    Lte,
    Exists,
}

crate::routes::deals::same_names!(OperatorName <=> Operator { Equals, NotEquals, Contains, In, Gt, Gte, Lt, Lte, Exists });

/// A scoring rule.
#[derive(Serialize, ToSchema)]
pub struct RuleView {
    pub id: Uuid,
    #[schema(example = "Large company")]
    pub name: String,
    pub field: FieldName,
    /// The custom field's key when `field` is `custom`; `null` otherwise.
    #[schema(example = json!(null))]
    pub custom_field: Option<String>,
    pub operator: OperatorName,
    /// The operand: `null` for `exists`, a list for `in`, otherwise one value.
    /// Numbers are decimal strings.
    #[schema(value_type = StoredOperand, example = json!("200"))]
    pub value: Value,
    /// Added to the score when the rule matches: −100…100.
    #[schema(example = 20)]
    pub points: i64,
    /// Inactive rules are kept but not counted.
    pub active: bool,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<StoredRule> for RuleView {
    fn from(stored: StoredRule) -> Self {
        let condition = &stored.rule.condition;
        Self {
            id: stored.rule.id,
            name: stored.rule.name,
            field: match condition.field() {
                Subject::Field(field) => FieldName::of(*field),
                Subject::Custom { .. } => FieldName::Custom,
            },
            custom_field: match condition.field() {
                Subject::Field(_) => None,
                Subject::Custom { key, .. } => Some(key.as_str().to_owned()),
            },
            operator: condition.operator().into(),
            value: operand_json(condition.operand()),
            points: stored.rule.points.value(),
            active: stored.rule.active,
            version: stored.version,
            created_at: stored.created_at,
            updated_at: stored.updated_at,
        }
    }
}

crate::openapi::doc_schema!(
    /// A rule's operand as `operand_json` writes it.
    StoredOperand = OneOfBuilder::new()
        .item(ObjectBuilder::new().schema_type(Type::Null))
        .item(ObjectBuilder::new().schema_type(Type::String))
        .item(ArrayBuilder::new().items(ObjectBuilder::new().schema_type(Type::String)))
        .description(Some(
            "`null` for `exists`, a list for `in`, otherwise one value; numbers are decimal strings",
        ))
        .build()
);

crate::openapi::doc_schema!(
    /// A rule's operand as `operand` reads it.
    OperandInput = {
        let one = || {
            OneOfBuilder::new()
                .item(ObjectBuilder::new().schema_type(Type::String))
                .item(ObjectBuilder::new().schema_type(Type::Number))
        };
        one()
            .item(ObjectBuilder::new().schema_type(Type::Null))
            .item(ArrayBuilder::new().items(one()))
            .description(Some(
                "`null` (or absent) for `exists`, a list for `in`, otherwise one value: text for text fields, \
                 a number or a decimal string for number fields",
            ))
            .build()
    }
);

fn operand_json(operand: &Operand) -> Value {
    match operand {
        Operand::None => Value::Null,
        Operand::Text(text) => Value::String(text.clone()),
        Operand::Number(number) => Value::String(number.to_string()),
        Operand::TextList(items) => items.iter().cloned().map(Value::String).collect(),
        Operand::NumberList(items) => items.iter().map(|n| Value::String(n.to_string())).collect(),
    }
}

fn rule_response(status: StatusCode, rule: StoredRule) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header(etag(rule.version))
        .json(RuleView::from(rule))
}

/// A new rule: when a lead's `field` satisfies `operator` `value`, it gains `points`.
#[derive(Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateRule {
    #[schema(example = "Large company", max_length = 200)]
    name: String,
    field: FieldName,
    /// With `field` `custom`: the key of a custom field of leads.
    #[schema(example = "budget_approved")]
    custom_field: Option<String>,
    operator: OperatorName,
    /// Absent or `null` for `exists`; a list of values for `in`; otherwise
    /// one value: text for text fields, a number (or decimal string) for
    /// number fields.
    #[schema(value_type = OperandInput, example = json!(200))]
    #[serde(default)]
    value: Value,
    /// −100…100.
    #[schema(example = 20, minimum = -100, maximum = 100)]
    points: i64,
    /// `true` if omitted.
    active: Option<bool>,
}

/// The fields to change; a changed `field` or `operator` is checked against
/// the (possibly changed) `value`.
#[derive(Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateRule {
    #[schema(example = "Very large company", max_length = 200)]
    name: Option<String>,
    field: Option<FieldName>,
    /// With `field` `custom` (given or current): the key of a custom field of leads.
    custom_field: Option<String>,
    operator: Option<OperatorName>,
    /// As for creation; `null` only for `exists`.
    #[schema(value_type = OperandInput, required = false, example = json!(1000))]
    #[serde(default, deserialize_with = "crate::nullable::double_option")]
    value: Option<Option<Value>>,
    #[schema(example = 30, minimum = -100, maximum = 100)]
    points: Option<i64>,
    active: Option<bool>,
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RuleListQuery {
    /// Page size, 1–200.
    #[param(minimum = 1, maximum = 200, default = 50)]
    limit: Option<u32>,
    /// `next_cursor` of the previous page.
    #[param(max_length = 64)]
    cursor: Option<String>,
}

/// What a rescore did.
#[derive(Serialize, ToSchema)]
pub struct RescoreView {
    /// Leads scored.
    #[schema(example = 100000)]
    pub leads: u64,
    /// Leads whose score changed.
    #[schema(example = 4200)]
    pub changed: u64,
    /// Leads that reached the MQL threshold for the first time (their owners were notified).
    #[schema(example = 310)]
    pub new_mqls: u64,
    /// The closed leads (converted or unqualified) predictions now learn
    /// from: the frequency tables are recounted from the leads too.
    #[schema(example = 5200)]
    pub closed_leads: u64,
}

impl RescoreView {
    fn new(r: Rescored, tables: &Tables) -> Self {
        Self {
            leads: r.leads,
            changed: r.changed,
            new_mqls: r.new_mqls,
            closed_leads: tables.successes + tables.failures,
        }
    }
}

fn parse_name(raw: &str) -> Result<String, String> {
    match optional_text(raw, NAME_MAX) {
        Ok(Some(name)) => Ok(name),
        Ok(None) => Err("must not be blank".to_owned()),
        Err(err) => Err(err.to_string()),
    }
}

fn parse_points(points: i64) -> Result<Points, String> {
    Points::new(points).map_err(|_| "must be between -100 and 100".to_owned())
}

/// The operand `value` means for a field of `kind` under `operator`, or why
/// it means nothing.
fn operand(kind: FieldKind, operator: Operator, value: &Value) -> Result<Operand, String> {
    let number = |v: &Value| -> Result<Decimal, String> {
        match v {
            Value::Number(n) => n
                .to_string()
                .parse::<Decimal>()
                .map_err(|_| "must be a decimal number".to_owned()),
            Value::String(s) => s
                .trim()
                .parse::<Decimal>()
                .map_err(|_| "must be a decimal number".to_owned()),
            _ => Err("must be a number for this field".to_owned()),
        }
    };
    let text = |v: &Value| -> Result<String, String> {
        match v {
            Value::String(s) => Ok(s.trim().to_owned()),
            _ => Err("must be text for this field".to_owned()),
        }
    };
    Ok(match (value, operator, kind) {
        (Value::Null, _, _) => Operand::None,
        (Value::Array(items), Operator::In, FieldKind::Text) => {
            Operand::TextList(items.iter().map(text).collect::<Result<_, _>>()?)
        }
        (Value::Array(items), Operator::In, FieldKind::Number) => {
            Operand::NumberList(items.iter().map(number).collect::<Result<_, _>>()?)
        }
        (Value::Array(_), _, _) => return Err("must be a single value: only `in` takes a list".to_owned()),
        (_, Operator::In, _) => return Err("must be a list of values for `in`".to_owned()),
        (value, _, FieldKind::Text) => Operand::Text(text(value)?),
        (value, _, FieldKind::Number) => Operand::Number(number(value)?),
    })
}

/// What `field` (with `custom_field` for `custom`) names: a lead field, or
/// a custom field of leads among `defs`; a 422 on `custom_field` otherwise.
fn subject(fields: &mut Fields, field: FieldName, custom_field: Option<&str>, defs: &[CustomField]) -> Option<Subject> {
    match (field.scoring_field(), custom_field) {
        (Some(field), None) => Some(Subject::Field(field)),
        (Some(_), Some(_)) => {
            fields.reject("custom_field", "invalid", "goes only with the field `custom`");
            None
        }
        (None, None) => {
            fields.reject("custom_field", "required", "is required with the field `custom`");
            None
        }
        (None, Some(key)) => {
            let Some(def) = defs.iter().find(|d| d.key.as_str() == key) else {
                fields.reject(
                    "custom_field",
                    "not_found",
                    "names no custom field of leads (GET /custom-fields?resource=leads)",
                );
                return None;
            };
            let kind = match def.field_type {
                FieldType::Number | FieldType::Decimal => FieldKind::Number,
                _ => FieldKind::Text,
            };
            Some(Subject::Custom {
                key: def.key.clone(),
                kind,
            })
        }
    }
}

/// Records a 422 on `operator` or `value` unless they make a condition on `field`.
fn condition(fields: &mut Fields, field: Option<Subject>, operator: OperatorName, value: &Value) -> Option<Condition> {
    let field = field?;
    let operator: Operator = operator.into();
    if !operator.applies_to(field.kind()) {
        let err = pipewise_domain::ConditionError::OperatorNotForField {
            operator,
            field: field.name(),
        };
        fields.reject("operator", "invalid", &err.to_string());
        return None;
    }
    let operand = match operand(field.kind(), operator, value) {
        Ok(operand) => operand,
        Err(message) => {
            fields.reject("value", "invalid", &message);
            return None;
        }
    };
    match Condition::new(field, operator, operand) {
        Ok(condition) => Some(condition),
        Err(err @ pipewise_domain::ConditionError::OperatorNotForField { .. }) => {
            fields.reject("operator", "invalid", &err.to_string());
            None
        }
        Err(err) => {
            fields.reject("value", "invalid", &err.to_string());
            None
        }
    }
}

/// List scoring rules
///
/// List the scoring rules, oldest first.
#[utoipa::path(
    tag = "scoring",
    params(RuleListQuery),
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, body = ListOf<RuleView>),
        crate::problem::ListErrors,
    )
)]
#[get("/scoring-rules")]
async fn list_rules(
    caller: Caller<Read>,
    state: web::Data<AppState>,
    query: web::Query<RuleListQuery>,
) -> Result<web::Json<ListOf<RuleView>>, ApiError> {
    let query = query.into_inner();
    let page = records::page(query.limit, query.cursor)?;
    let rules = state.store.scoring_rules(caller.organization_id(), page).await?;
    Ok(web::Json(ListOf::from_rows(rules, page, |r| r.rule.id, RuleView::from)))
}

/// Create a scoring rule
///
/// Create a scoring rule (admins only). Existing leads keep their scores
/// until they next change or `POST /scoring-rules/rescore` runs.
#[utoipa::path(
    tag = "scoring",
    request_body = CreateRule,
    security(("bearer" = [])),
    responses(
        (status = 201, body = RuleView, headers(("ETag" = String), ("Location" = String))),
        crate::problem::CreateErrors,
    )
)]
#[post("/scoring-rules")]
async fn create_rule(
    caller: Caller<Admin>,
    state: web::Data<AppState>,
    Json(body, mut fields): Json<CreateRule>,
) -> Result<HttpResponse, ApiError> {
    let name = fields.check("name", parse_name(&body.name));
    let points = fields.check("points", parse_points(body.points));
    let defs = definitions(&state, caller.organization_id(), Resource::Leads).await?;
    let field = subject(&mut fields, body.field, body.custom_field.as_deref(), &defs);
    let condition = condition(&mut fields, field, body.operator, &body.value);
    let rule = fields.finish(|| RuleFields {
        name: name.expect("checked"),
        condition: condition.expect("checked"),
        points: points.expect("checked"),
        active: body.active.unwrap_or(true),
    })?;
    let rule = state
        .store
        .create_scoring_rule(caller.organization_id(), &rule, Utc::now())
        .await?;
    let location = format!("/api/v1/scoring-rules/{}", rule.rule.id);
    let mut response = rule_response(StatusCode::CREATED, rule);
    response
        .headers_mut()
        .insert(header::LOCATION, location.parse().expect("a path is a header value"));
    Ok(response)
}

/// Get a scoring rule
///
/// Get one scoring rule.
#[utoipa::path(
    tag = "scoring",
    params(("id" = Uuid, Path, description = "The rule's id")),
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, body = RuleView, headers(("ETag" = String))),
        crate::problem::ReadOneErrors,
    )
)]
#[get("/scoring-rules/{id}")]
async fn get_rule(
    caller: Caller<Read>,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let rule = state.store.scoring_rule(caller.organization_id(), *id).await?;
    Ok(rule_response(StatusCode::OK, rule))
}

/// Update a scoring rule
///
/// Change a scoring rule (admins only).
#[utoipa::path(
    tag = "scoring",
    params(
        ("id" = Uuid, Path, description = "The rule's id"),
        ("If-Match" = Option<String>, Header, description = "The ETag last seen; 412 if stale"),
    ),
    request_body = UpdateRule,
    security(("bearer" = [])),
    responses(
        (status = 200, body = RuleView, headers(("ETag" = String))),
        crate::problem::UpdateErrors,
    )
)]
#[patch("/scoring-rules/{id}")]
async fn update_rule(
    caller: Caller<Admin>,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    if_match: IfMatch,
    Json(body, pending): Json<UpdateRule>,
) -> Result<HttpResponse, ApiError> {
    let defs = definitions(&state, caller.organization_id(), Resource::Leads).await?;
    let edit = records::edit(|current: &StoredRule| {
        check_version(&if_match, current.version)?;
        changed(current, &body, pending.clone(), &defs)
    });
    let rule = state
        .store
        .update_scoring_rule(caller.organization_id(), *id, &edit, Utc::now())
        .await?;
    Ok(rule_response(StatusCode::OK, rule))
}

/// `current` with the changes of `body` applied, if they are valid.
fn changed(
    current: &StoredRule,
    body: &UpdateRule,
    mut fields: Fields,
    defs: &[CustomField],
) -> Result<RuleFields, ApiError> {
    let old = &current.rule;
    let name = match &body.name {
        Some(raw) => fields.check("name", parse_name(raw)),
        None => Some(old.name.clone()),
    };
    let points = match body.points {
        Some(raw) => fields.check("points", parse_points(raw)),
        None => Some(old.points),
    };
    let changes = [
        body.field.is_some(),
        body.custom_field.is_some(),
        body.operator.is_some(),
        body.value.is_some(),
    ];
    let condition = if changes.contains(&true) {
        let field = match (body.field, &body.custom_field, old.condition.field()) {
            (Some(field), custom, _) => subject(&mut fields, field, custom.as_deref(), defs),
            (None, Some(custom), _) => subject(&mut fields, FieldName::Custom, Some(custom), defs),
            (None, None, current) => Some(current.clone()),
        };
        let operator = body.operator.unwrap_or_else(|| old.condition.operator().into());
        let value = match &body.value {
            Some(value) => value.clone().unwrap_or(Value::Null),
            None => operand_json(old.condition.operand()),
        };
        condition(&mut fields, field, operator, &value)
    } else {
        Some(old.condition.clone())
    };
    fields.finish(|| RuleFields {
        name: name.expect("checked"),
        condition: condition.expect("checked"),
        points: points.expect("checked"),
        active: body.active.unwrap_or(old.active),
    })
}

/// Delete a scoring rule
///
/// Delete a scoring rule (admins only). Scores change on the leads' next
/// write or the next rescore.
#[utoipa::path(
    tag = "scoring",
    params(
        ("id" = Uuid, Path, description = "The rule's id"),
        ("If-Match" = Option<String>, Header, description = "The ETag last seen; 412 if stale"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Deleted"),
        crate::problem::DeleteErrors,
    )
)]
#[delete("/scoring-rules/{id}")]
async fn delete_rule(
    caller: Caller<Admin>,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    if_match: IfMatch,
) -> Result<HttpResponse, ApiError> {
    state
        .store
        .delete_scoring_rule(caller.organization_id(), *id, if_match.0)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Rescore every lead
///
/// Recompute every lead's score under the current rules (admins only),
/// in batches. Leads that reach the MQL threshold for the first time get
/// `mql_at` and their owners a notification; `mql_at` never moves once set.
/// The frequency tables of predicted conversion are recounted from the
/// leads as well (every conversion and disqualification already updates
/// them in its own transaction).
#[utoipa::path(
    tag = "scoring",
    security(("bearer" = [])),
    responses(
        (status = 200, body = RescoreView),
        crate::problem::AuthErrors,
    )
)]
#[post("/scoring-rules/rescore")]
async fn rescore(caller: Caller<Admin>, state: web::Data<AppState>) -> Result<web::Json<RescoreView>, ApiError> {
    let org = caller.organization_id();
    let done = state.store.rescore_leads(org, Utc::now()).await?;
    let tables = state.store.rebuild_prediction_tables(org).await?;
    Ok(web::Json(RescoreView::new(done, &tables)))
}
