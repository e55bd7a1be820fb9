//! Pipelines and their stages: the standardized sales process deals move through.

use actix_web::{delete, get, http::StatusCode, patch, post, put, web, HttpResponse};
use chrono::{DateTime, Utc};
use pipewise_domain::{Name, NewStage, Pipeline, Probability, RottingDays, Stage, StageChanges};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_actix_web::service_config::ServiceConfig;
use uuid::Uuid;
use validator::Validate;

use crate::{
    error::ApiError,
    extract::{if_match::etag, Admin, Caller, IfMatch, Json, ListOf, PageQuery, Read},
    fields::Fields,
    nullable,
    state::AppState,
};

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(list_pipelines)
        .service(create_pipeline)
        .service(get_pipeline)
        .service(rename_pipeline)
        .service(delete_pipeline)
        .service(add_stage)
        .service(update_stage)
        .service(delete_stage)
        .service(reorder_stages);
}

#[derive(Serialize, ToSchema)]
pub struct StageView {
    id: Uuid,
    pipeline_id: Uuid,
    #[schema(example = "Proposal")]
    name: String,
    /// 0, 1, 2… in pipeline order.
    position: i64,
    /// Default win probability (percent) of deals in this stage.
    #[schema(example = 60)]
    probability: u8,
    /// Open deals in this stage longer than this many days are rotting.
    #[schema(example = 14)]
    rotting_days: Option<u16>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<Stage> for StageView {
    fn from(s: Stage) -> Self {
        Self {
            id: s.id,
            pipeline_id: s.pipeline_id,
            name: s.name.into_string(),
            position: s.position,
            probability: s.probability.value(),
            rotting_days: s.rotting_days.map(|r| r.value()),
            created_at: s.created_at,
            updated_at: s.updated_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct PipelineView {
    id: Uuid,
    #[schema(example = "New business")]
    name: String,
    /// In position order.
    stages: Vec<StageView>,
    /// Bumped by every change to the pipeline or its stages.
    version: i64,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<Pipeline> for PipelineView {
    fn from(p: Pipeline) -> Self {
        Self {
            id: p.id,
            name: p.name.into_string(),
            stages: p.stages.into_iter().map(StageView::from).collect(),
            version: p.version,
            created_at: p.created_at,
            updated_at: p.updated_at,
        }
    }
}

fn pipeline_response(status: StatusCode, pipeline: Pipeline) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header(etag(pipeline.version))
        .json(PipelineView::from(pipeline))
}

#[derive(Serialize, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StageInput {
    #[schema(example = "Qualified", min_length = 1, max_length = 200)]
    name: String,
    #[schema(example = 25, minimum = 0, maximum = 100)]
    probability: i64,
    #[schema(example = 21, minimum = 1, maximum = 3650)]
    rotting_days: Option<i64>,
}

#[derive(Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreatePipeline {
    #[schema(example = "New business", min_length = 1, max_length = 200)]
    name: String,
    /// In order; positions are assigned 0, 1, 2…
    #[validate(length(min = 1, max = 50, message = "must list between 1 and 50 stages"))]
    #[schema(min_items = 1, max_items = 50)]
    stages: Vec<StageInput>,
}

#[derive(Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RenamePipeline {
    #[schema(example = "Renewals", min_length = 1, max_length = 200)]
    name: String,
}

#[derive(Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateStage {
    #[schema(min_length = 1, max_length = 200)]
    name: Option<String>,
    #[schema(minimum = 0, maximum = 100)]
    probability: Option<i64>,
    /// `null` removes the rotting limit.
    #[serde(default, deserialize_with = "nullable::double_option")]
    #[schema(value_type = Option<i64>, nullable, minimum = 1, maximum = 3650)]
    rotting_days: Option<Option<i64>>,
}

#[derive(Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StageOrder {
    /// Every stage id of the pipeline, each once, in the new order.
    #[validate(length(max = 50))]
    #[schema(max_items = 50)]
    stage_ids: Vec<Uuid>,
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DeleteStageQuery {
    /// A stage of the same pipeline to move the stage's deals to; required
    /// when the stage still holds deals (409 otherwise).
    move_deals_to: Option<Uuid>,
}

fn parse_stage(fields: &mut Fields, prefix: &str, input: &StageInput) -> Option<NewStage> {
    let name = fields.check(&format!("{prefix}name"), Name::parse(&input.name));
    let probability = fields.check(&format!("{prefix}probability"), Probability::new(input.probability));
    let rotting = fields.check_opt(&format!("{prefix}rotting_days"), input.rotting_days, RottingDays::new);
    Some(NewStage {
        name: name?,
        probability: probability?,
        rotting_days: rotting,
    })
}

/// List pipelines
///
/// List pipelines with their stages.
#[utoipa::path(
    tag = "pipelines",
    params(PageQuery),
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, body = ListOf<PipelineView>),
        crate::problem::ListErrors,
    )
)]
#[get("/pipelines")]
async fn list_pipelines(
    caller: Caller<Read>,
    state: web::Data<AppState>,
    query: web::Query<PageQuery>,
) -> Result<web::Json<ListOf<PipelineView>>, ApiError> {
    let page = query.page()?;
    let pipelines = state.store.pipelines(caller.organization_id(), page).await?;
    Ok(web::Json(ListOf::from_rows(
        pipelines,
        page,
        |p| p.id,
        PipelineView::from,
    )))
}

/// Create a pipeline
///
/// Create a pipeline with its ordered stages (admins only).
#[utoipa::path(
    tag = "pipelines",
    request_body = CreatePipeline,
    security(("bearer" = [])),
    responses(
        (status = 201, body = PipelineView, headers(("ETag" = String))),
        crate::problem::CreateErrors,
    )
)]
#[post("/pipelines")]
async fn create_pipeline(
    caller: Caller<Admin>,
    state: web::Data<AppState>,
    Json(body, mut fields): Json<CreatePipeline>,
) -> Result<HttpResponse, ApiError> {
    let name = fields.check("name", Name::parse(&body.name));
    let stages: Vec<Option<NewStage>> = body
        .stages
        .iter()
        .enumerate()
        .map(|(i, s)| parse_stage(&mut fields, &format!("stages[{i}]."), s))
        .collect();
    fields.finish(|| ())?;
    let (Some(name), Some(stages)) = (name, stages.into_iter().collect::<Option<Vec<_>>>()) else {
        unreachable!("Fields::finish fails when a field is invalid")
    };
    let pipeline = state
        .store
        .create_pipeline(caller.organization_id(), &name, &stages, Utc::now())
        .await?;
    Ok(pipeline_response(StatusCode::CREATED, pipeline))
}

/// Get a pipeline
///
/// Get a pipeline with its stages.
#[utoipa::path(
    tag = "pipelines",
    params(("id" = Uuid, Path, description = "The pipeline's id")),
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, body = PipelineView, headers(("ETag" = String))),
        crate::problem::ReadOneErrors,
    )
)]
#[get("/pipelines/{id}")]
async fn get_pipeline(
    caller: Caller<Read>,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    Ok(pipeline_response(
        StatusCode::OK,
        state.store.pipeline(caller.organization_id(), *id).await?,
    ))
}

/// Rename a pipeline
///
/// Rename a pipeline (admins only).
#[utoipa::path(
    tag = "pipelines",
    params(
        ("id" = Uuid, Path, description = "The pipeline's id"),
        ("If-Match" = Option<String>, Header, description = "The ETag last seen; 412 if stale"),
    ),
    request_body = RenamePipeline,
    security(("bearer" = [])),
    responses(
        (status = 200, body = PipelineView, headers(("ETag" = String))),
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
#[patch("/pipelines/{id}")]
async fn rename_pipeline(
    caller: Caller<Admin>,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    if_match: IfMatch,
    Json(body, fields): Json<RenamePipeline>,
) -> Result<HttpResponse, ApiError> {
    fields.finish(|| ())?;
    let name = Name::parse(&body.name).map_err(|e| ApiError::invalid("name", "invalid", e))?;
    let pipeline = state
        .store
        .rename_pipeline(caller.organization_id(), *id, &name, if_match.0, Utc::now())
        .await?;
    Ok(pipeline_response(StatusCode::OK, pipeline))
}

/// Delete a pipeline
///
/// Delete a pipeline (admins only): 409 while it holds any deal, even a trashed one.
#[utoipa::path(
    tag = "pipelines",
    params(
        ("id" = Uuid, Path, description = "The pipeline's id"),
        ("If-Match" = Option<String>, Header, description = "The ETag last seen; 412 if stale"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Deleted"),
        crate::problem::DeleteErrors,
    )
)]
#[delete("/pipelines/{id}")]
async fn delete_pipeline(
    caller: Caller<Admin>,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    if_match: IfMatch,
) -> Result<HttpResponse, ApiError> {
    state
        .store
        .delete_pipeline(caller.organization_id(), *id, if_match.0)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Add a stage
///
/// Add a stage at the end of a pipeline (admins only).
#[utoipa::path(
    tag = "pipelines",
    params(("id" = Uuid, Path, description = "The pipeline's id")),
    request_body = StageInput,
    security(("bearer" = [])),
    responses(
        (status = 201, body = StageView),
        (status = 400, response = crate::problem::BadRequest),
        (status = 401, response = crate::problem::Unauthorized),
        (status = 403, response = crate::problem::Forbidden),
        (status = 404, response = crate::problem::NotFound),
        (status = 413, response = crate::problem::PayloadTooLarge),
        (status = 415, response = crate::problem::UnsupportedMediaType),
        (status = 422, response = crate::problem::ValidationFailed),
    )
)]
#[post("/pipelines/{id}/stages")]
async fn add_stage(
    caller: Caller<Admin>,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    Json(body, mut fields): Json<StageInput>,
) -> Result<HttpResponse, ApiError> {
    let stage = parse_stage(&mut fields, "", &body);
    fields.finish(|| ())?;
    let stage = stage.expect("checked");
    let (pipeline, stage_id) = state
        .store
        .add_stage(caller.organization_id(), *id, &stage, Utc::now())
        .await?;
    let created = pipeline
        .stages
        .into_iter()
        .find(|s| s.id == stage_id)
        .expect("the new stage is in its pipeline");
    Ok(HttpResponse::Created().json(StageView::from(created)))
}

/// Update a stage
///
/// Rename a stage, change its probability or its rotting limit (admins only).
/// A stage is versioned with its pipeline: the `ETag` is the pipeline's
/// version, and a stale `If-Match` is 412.
#[utoipa::path(
    tag = "pipelines",
    params(
        ("id" = Uuid, Path, description = "The stage's id"),
        ("If-Match" = Option<String>, Header, description = "The pipeline's ETag last seen; 412 if stale"),
    ),
    request_body = UpdateStage,
    security(("bearer" = [])),
    responses(
        (status = 200, body = StageView, headers(("ETag" = String, description = "The pipeline's version"))),
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
#[patch("/stages/{id}")]
async fn update_stage(
    caller: Caller<Admin>,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    if_match: IfMatch,
    Json(body, mut fields): Json<UpdateStage>,
) -> Result<HttpResponse, ApiError> {
    let changes = StageChanges {
        name: fields.check_opt("name", body.name.as_deref(), Name::parse),
        probability: fields.check_opt("probability", body.probability, Probability::new),
        rotting_days: match body.rotting_days {
            None => None,
            Some(None) => Some(None),
            Some(Some(days)) => fields.check("rotting_days", RottingDays::new(days)).map(Some),
        },
    };
    let changes = fields.finish(|| changes)?;
    let pipeline = state
        .store
        .update_stage(caller.organization_id(), *id, &changes, if_match.0, Utc::now())
        .await?;
    let version = pipeline.version;
    let stage = pipeline
        .stages
        .into_iter()
        .find(|s| s.id == *id)
        .expect("the stage is in its pipeline");
    Ok(HttpResponse::Ok()
        .insert_header(etag(version))
        .json(StageView::from(stage)))
}

/// Delete a stage
///
/// Delete a stage (admins only). A stage that holds deals (open or closed)
/// answers 409 unless `move_deals_to` names another stage of the pipeline:
/// then its deals move there in the same transaction, each move in the deal's
/// event log. The last stage of a pipeline cannot be deleted (409).
#[utoipa::path(
    tag = "pipelines",
    params(("id" = Uuid, Path, description = "The stage's id"), DeleteStageQuery),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, response = crate::problem::BadRequest),
        (status = 401, response = crate::problem::Unauthorized),
        (status = 403, response = crate::problem::Forbidden),
        (status = 404, response = crate::problem::NotFound),
        (status = 409, response = crate::problem::Conflict),
        (status = 422, response = crate::problem::ValidationFailed),
    )
)]
#[delete("/stages/{id}")]
async fn delete_stage(
    caller: Caller<Admin>,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    query: web::Query<DeleteStageQuery>,
) -> Result<HttpResponse, ApiError> {
    state
        .store
        .delete_stage(
            caller.organization_id(),
            *id,
            query.move_deals_to,
            caller.actor(),
            Utc::now(),
        )
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Reorder stages
///
/// Reorder a pipeline's stages (admins only): `stage_ids` must list every
/// stage of the pipeline exactly once (422 otherwise).
#[utoipa::path(
    tag = "pipelines",
    params(
        ("id" = Uuid, Path, description = "The pipeline's id"),
        ("If-Match" = Option<String>, Header, description = "The pipeline's ETag last seen; 412 if stale"),
    ),
    request_body = StageOrder,
    security(("bearer" = [])),
    responses(
        (status = 200, body = PipelineView, headers(("ETag" = String))),
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
#[put("/pipelines/{id}/stage-order")]
async fn reorder_stages(
    caller: Caller<Admin>,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    if_match: IfMatch,
    Json(body, fields): Json<StageOrder>,
) -> Result<HttpResponse, ApiError> {
    fields.finish(|| ())?;
    let pipeline = state
        .store
        .reorder_stages(caller.organization_id(), *id, &body.stage_ids, if_match.0, Utc::now())
        .await?;
    Ok(pipeline_response(StatusCode::OK, pipeline))
}
