//! CSV imports: `POST /imports?resource=…` reads a spreadsheet's rows into
//! records, and `GET /imports/{id}` shows how it went.
//!
//! The file is spooled as it arrives (see `file`), then read a thousand
//! rows at a time inside one write transaction (see
//! `pipewise_storage::imports`): each row is parsed and checked exactly as
//! the record's `POST` (or, for a matched record with `dedupe=update`, its
//! `PATCH`) checks a body, each batch is matched against the records
//! already there, then written with multi-row inserts. The transaction is
//! committed (`atomic` without a failed row, `partial`) or rolled back
//! (`validate`, `atomic` with one).

mod accounts;
mod columns;
mod contacts;
mod deals;
mod file;
mod leads;
mod matching;

use std::collections::HashMap;

use actix_web::{get, http::header, mime, post, web, HttpRequest, HttpResponse};
use chrono::{DateTime, SubsecRound, Utc};
use pipewise_domain::{
    import::{Dedupe, ImportCounts, ImportMode, ImportResource, ImportStatus, RowError},
    Currency, CustomField, Pipeline,
};
use pipewise_storage::{imports::MAX_ROW_ERRORS, Actor, ImportRecord, ImportTx, Page};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::{IntoParams, ToSchema};
use utoipa_actix_web::service_config::ServiceConfig;
use uuid::Uuid;

use crate::{
    error::ApiError,
    extract::{
        body::{declared_length, BodyDeadline},
        Caller, Import,
    },
    fields::Fields,
    problem::FieldError,
    routes::{custom_fields::definitions, records},
    state::AppState,
};
use columns::Layout;
use file::{CsvFile, Row};

pub use file::MAX_IMPORT_BYTES;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(create_import).service(get_import);
}

/// How many times the request and body deadlines an import gets: it
/// uploads and writes up to 50 MiB.
pub const DEADLINE_FACTOR: u32 = 10;

/// Rows read, checked, matched and written together.
const BATCH_ROWS: usize = 1000;

/// The records an import creates or updates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ImportResourceName {
    Leads,
    Contacts,
    Accounts,
    Deals,
}

/// `validate`: a dry run, nothing kept; `atomic`: every row or none;
/// `partial`: the valid rows, the invalid ones reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ImportModeName {
    Validate,
    Atomic,
    Partial,
}

/// What a row that matches an existing record does: `skip` leaves the
/// record alone, `update` writes the row's non-blank cells over it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DedupeName {
    Skip,
    Update,
}

/// `validated`: a dry run, nothing written; `completed`: the rows that
/// could be were written; `rolled_back`: an atomic import with a failed
/// row, nothing written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ImportStatusName {
    Validated,
    Completed,
    RolledBack,
}

crate::routes::deals::same_names!(ImportResourceName <=> ImportResource { Leads, Contacts, Accounts, Deals });
crate::routes::deals::same_names!(ImportModeName <=> ImportMode { Validate, Atomic, Partial });
crate::routes::deals::same_names!(DedupeName <=> Dedupe { Skip, Update });
crate::routes::deals::same_names!(ImportStatusName <=> ImportStatus { Validated, Completed, RolledBack });

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ImportQuery {
    #[param(inline)]
    resource: ImportResourceName,
    /// `atomic` if omitted.
    #[param(inline)]
    mode: Option<ImportModeName>,
    /// What a row that matches an existing record does (by `external_id`,
    /// else by email, or by domain for accounts); without it such a row fails.
    #[param(inline)]
    dedupe: Option<DedupeName>,
    /// Columns whose header is not a field name: `Header:field` pairs
    /// separated by commas; `ignore` as the field skips the column.
    #[param(example = "E-mail:email,Notes:ignore", max_length = 4000)]
    mapping: Option<String>,
    /// The owner of the rows without an `owner_id` or `owner_email` cell:
    /// the caller if omitted (for an API key, the admin who created it).
    owner_id: Option<Uuid>,
}

/// A row that could not be imported.
#[derive(Debug, Serialize, ToSchema)]
pub struct RowErrorView {
    /// Its line in the file (the header is line 1).
    #[schema(example = 9001)]
    pub line: u64,
    /// The column at fault, as the file names it; empty when the row as a whole is.
    #[schema(example = "employee_count")]
    pub column: String,
    #[schema(example = "must be a whole number")]
    pub message: String,
}

/// An import and how it went. The counts say what the rows did, or would
/// have done when nothing was written (`validated`, `rolled_back`).
#[derive(Debug, Serialize, ToSchema)]
pub struct ImportView {
    pub id: Uuid,
    pub resource: ImportResourceName,
    pub mode: ImportModeName,
    pub dedupe: Option<DedupeName>,
    pub status: ImportStatusName,
    /// Data rows read (blank lines aside).
    #[schema(example = 1200)]
    pub rows: u64,
    pub created: u64,
    pub updated: u64,
    /// Rows that matched a record and left it alone (`dedupe=skip`, or no change).
    pub skipped: u64,
    /// Rows with at least one error.
    pub failed: u64,
    /// The failed rows' errors in file order: the first 1,000.
    pub errors: Vec<RowErrorView>,
    /// Whether there were more errors than `errors` holds.
    pub errors_truncated: bool,
    pub created_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
}

impl From<ImportRecord> for ImportView {
    fn from(r: ImportRecord) -> Self {
        Self {
            id: r.id,
            resource: r.resource.into(),
            mode: r.mode.into(),
            dedupe: r.dedupe.map(Into::into),
            status: r.status.into(),
            rows: r.counts.rows,
            created: r.counts.created,
            updated: r.counts.updated,
            skipped: r.counts.skipped,
            failed: r.counts.failed,
            errors: r
                .errors
                .into_iter()
                .map(|e| RowErrorView {
                    line: e.line,
                    column: e.column,
                    message: e.message,
                })
                .collect(),
            errors_truncated: r.errors_truncated,
            created_at: r.created_at,
            finished_at: r.finished_at,
        }
    }
}

/// What every row of an import is read with.
pub struct Context<'a> {
    pub caller: &'a Caller<Import>,
    pub layout: Layout,
    pub dedupe: Option<Dedupe>,
    pub now: DateTime<Utc>,
    pub base_currency: Currency,
    /// Active users by lower-cased email.
    pub owners: HashMap<String, Uuid>,
    /// The owner of rows that name none; `None` when the caller has none to give.
    pub default_owner: Option<Uuid>,
    /// The organization's pipelines, for deals (empty for other imports).
    pub pipelines: Vec<Pipeline>,
    /// The custom fields of the imported records.
    pub custom: Vec<CustomField>,
}

impl Context<'_> {
    /// The owner of a new record: the one the row names (an active user;
    /// reps only themselves), else the default; rejected in `fields` otherwise.
    pub fn owner(&self, fields: &mut Fields, requested: Option<Uuid>) -> Uuid {
        let Some(owner) = requested.or(self.default_owner) else {
            fields.reject(
                "owner_id",
                "required",
                "is required: give the column, or the owner_id parameter (this API key has no creator)",
            );
            return Uuid::nil();
        };
        if self.caller.ensure_can_change(owner).is_err() {
            fields.reject("owner_id", "forbidden", "reps import only records they own");
        } else if !self.owners.values().any(|id| *id == owner) {
            records::reject_owner(fields);
        }
        owner
    }
}

/// The row's `created_at`, taken out of `object` (an instant `columns`
/// wrote): not in the future; `ctx.now` without one.
pub fn take_created_at(ctx: &Context<'_>, object: &mut Map<String, Value>) -> Result<DateTime<Utc>, Vec<FieldError>> {
    let Some(Value::String(raw)) = object.remove("created_at") else {
        return Ok(ctx.now);
    };
    let at = DateTime::parse_from_rfc3339(&raw)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| vec![FieldError::new("created_at", "invalid", "must be an RFC 3339 instant")])?;
    if at > ctx.now {
        return Err(vec![FieldError::new(
            "created_at",
            "in_the_future",
            "must not be in the future",
        )]);
    }
    Ok(at)
}

/// The field errors of a refused change; a refusal that is not about
/// fields (a rep handing a record away) is the owner's.
pub fn field_errors(err: ApiError) -> Vec<FieldError> {
    match err {
        ApiError::Validation(errors) => errors,
        other => vec![FieldError::new("owner_id", "forbidden", other.to_string())],
    }
}

/// What became of a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Pending,
    Created(Uuid),
    Updated(Uuid),
    Skipped(Uuid),
    Failed,
}

/// A batch of rows on their way in.
pub struct Batch {
    pub rows: Vec<Row>,
    objects: Vec<Option<Map<String, Value>>>,
    pub outcomes: Vec<Outcome>,
    errors: Vec<RowError>,
}

impl Batch {
    /// The rows, each read into a JSON object of its non-blank cells; the
    /// rows that cannot be are failed.
    fn new(rows: Vec<Row>, ctx: &Context<'_>) -> Self {
        let mut batch = Batch {
            objects: Vec::with_capacity(rows.len()),
            outcomes: vec![Outcome::Pending; rows.len()],
            errors: Vec::new(),
            rows,
        };
        for index in 0..batch.rows.len() {
            let object = match &batch.rows[index].cells {
                Err(message) => {
                    let message = message.clone();
                    batch.fail(index, String::new(), message);
                    None
                }
                Ok(cells) => match ctx.layout.object(cells, &ctx.owners) {
                    Ok(object) => Some(object),
                    Err(errors) => {
                        for (column, message) in errors {
                            batch.fail(index, column, message);
                        }
                        None
                    }
                },
            };
            batch.objects.push(object);
        }
        batch
    }

    /// The row's object, unless the row already failed.
    pub fn take_object(&mut self, index: usize) -> Option<Map<String, Value>> {
        self.objects[index].take()
    }

    pub fn fail(&mut self, index: usize, column: String, message: String) {
        self.outcomes[index] = Outcome::Failed;
        self.errors.push(RowError {
            line: self.rows[index].line,
            column,
            message,
        });
    }

    /// Fails the row with field errors, each named by the file's column.
    pub fn fail_fields(&mut self, index: usize, ctx: &Context<'_>, errors: Vec<FieldError>) {
        for error in errors {
            let column = if error.field == "body" {
                String::new()
            } else {
                ctx.layout.column_of(&error.field)
            };
            self.fail(index, column, error.message);
        }
    }
}

/// The tally of a whole import.
#[derive(Default)]
struct Tally {
    counts: ImportCounts,
    errors: Vec<RowError>,
    truncated: bool,
}

impl Tally {
    fn add(&mut self, mut batch: Batch) {
        for outcome in &batch.outcomes {
            self.counts.rows += 1;
            match outcome {
                Outcome::Created(_) => self.counts.created += 1,
                Outcome::Updated(_) => self.counts.updated += 1,
                Outcome::Skipped(_) => self.counts.skipped += 1,
                Outcome::Failed => self.counts.failed += 1,
                Outcome::Pending => unreachable!("every row of a written batch has an outcome"),
            }
        }
        batch.errors.sort_by_key(|e| e.line);
        let room = MAX_ROW_ERRORS.saturating_sub(self.errors.len());
        self.truncated |= batch.errors.len() > room;
        self.errors.extend(batch.errors.into_iter().take(room));
    }
}

fn is_csv(req: &HttpRequest) -> bool {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<mime::Mime>().ok())
        .is_some_and(|m| m.type_() == mime::TEXT && m.subtype() == mime::CSV || m.essence_str() == "application/csv")
}

/// Active users by lower-cased email.
async fn owners(state: &AppState, org: Uuid) -> Result<HashMap<String, Uuid>, ApiError> {
    let mut owners = HashMap::new();
    let mut page = Page {
        after: None,
        limit: 200,
    };
    loop {
        let users = state.store.users(org, page).await?;
        for user in users.iter().filter(|u| u.active) {
            owners.insert(user.email.as_str().to_lowercase(), user.id);
        }
        match users.last() {
            Some(last) if users.len() == page.limit as usize => page.after = Some(last.id),
            _ => return Ok(owners),
        }
    }
}

/// The organization's pipelines, with their stages.
async fn pipelines(state: &AppState, org: Uuid) -> Result<Vec<Pipeline>, ApiError> {
    let mut all = Vec::new();
    let mut page = Page {
        after: None,
        limit: 200,
    };
    loop {
        let pipelines = state.store.pipelines(org, page).await?;
        let full = pipelines.len() == page.limit as usize;
        page.after = pipelines.last().map(|p| p.id);
        all.extend(pipelines);
        if !full {
            return Ok(all);
        }
    }
}

/// Import records from CSV
///
/// Reads a CSV file (`text/csv`, UTF-8 with or without BOM, comma- or
/// semicolon-separated, up to 50 MiB: 413 past it) into leads, contacts,
/// accounts or deals. The first line names the columns: field names in any case
/// (`First Name` is `first_name`), others renamed with `mapping`; an
/// unknown column is 400. `owner_email` may stand for `owner_id`. The
/// columns an export adds (`id`, `score`…) are ignored, so an export
/// imports as it is. `created_at` backdates (admins and `import` keys:
/// 403 otherwise; map it to `ignore`).
///
/// Deals name their pipeline and stage by id (`pipeline_id`, `stage_id`)
/// or by name (`pipeline`, `stage`; the only pipeline and the first stage
/// if omitted) and may carry their history: `status` (`open`, `won`,
/// `lost`), `won_at`, `lost_at` or `closed_at` (backdating, like
/// `created_at`), and `lost_reason` (required for a lost deal). Each new
/// deal's event log is written as if that history had happened: `created`
/// in its stage at `created_at`, then `won` or `lost`. Deals match by
/// `external_id` only; a matched deal's status and stage change through its
/// commands, not an import (a differing cell fails the row).
///
/// Each row is checked as the record's `POST` checks a body, and matched
/// by `external_id`, else by email (leads, contacts; a contact's email
/// also matches for a lead and a lead's for a contact) or domain
/// (accounts); with `dedupe=update` a matched record gets the row's
/// non-blank cells as a `PATCH` would. Without `dedupe`, a matching row
/// fails, as does a row repeating an earlier one. `mode` says what
/// happens to the valid rows when some fail. The answer is the import
/// itself, also at `GET /imports/{id}`: counts and, per failed row, its
/// line, column and message. Imports of one organization run one after
/// the other.
#[utoipa::path(
    tag = "imports",
    params(ImportQuery),
    request_body(content = String, content_type = "text/csv", example = "first_name,last_name,email,company_name\nAda,Lovelace,ada@acme.example,Acme Ltd\n"),
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 201, body = ImportView, headers(("Location" = String))),
        crate::problem::ImportErrors,
    )
)]
#[post("/imports")]
async fn create_import(
    caller: Caller<Import>,
    state: web::Data<AppState>,
    req: HttpRequest,
    query: web::Query<ImportQuery>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    if !is_csv(&req) {
        return Err(ApiError::UnsupportedMediaType);
    }
    let query = query.into_inner();
    let org = caller.organization_id();
    // Microseconds, as both databases keep them: the answer is what `GET` shows.
    let started = Utc::now().trunc_subsecs(6);
    let resource = ImportResource::from(query.resource);
    let mode = query.mode.map_or(ImportMode::Atomic, Into::into);
    let spec = match resource {
        ImportResource::Leads => &leads::SPEC,
        ImportResource::Contacts => &contacts::SPEC,
        ImportResource::Accounts => &accounts::SPEC,
        ImportResource::Deals => &deals::SPEC,
    };
    let file = file::spool(payload, declared_length(&req), BodyDeadline::of(&req) * DEADLINE_FACTOR).await?;
    let mut csv = CsvFile::open(file)?;
    let custom = definitions(&state, org, resource.into()).await?;
    let keys: Vec<&str> = custom.iter().map(|f| f.key.as_str()).collect();
    let layout = Layout::new(spec, &csv.header, query.mapping.as_deref(), &keys)?;
    if deals::BACKDATING.iter().any(|field| layout.has(field)) {
        caller.ensure_may_backdate()?;
    }
    let owners = owners(&state, org).await?;
    let default_owner = match query.owner_id {
        Some(owner) => {
            caller.new_record_owner(Some(owner))?;
            if !owners.values().any(|id| *id == owner) {
                return Err(ApiError::invalid(
                    "owner_id",
                    "invalid",
                    "must be an active user of the organization",
                ));
            }
            Some(owner)
        }
        None => caller.new_record_owner(None).ok(),
    };
    let ctx = Context {
        caller: &caller,
        layout,
        dedupe: query.dedupe.map(Into::into),
        now: started,
        base_currency: state.store.organization(org).await?.base_currency,
        owners,
        default_owner,
        pipelines: match resource {
            ImportResource::Deals => pipelines(&state, org).await?,
            _ => Vec::new(),
        },
        custom,
    };

    let mut tx: Box<dyn ImportTx> = state.store.begin_import(org).await?;
    let mut tally = Tally::default();
    loop {
        let rows = csv.rows(BATCH_ROWS);
        if rows.is_empty() {
            break;
        }
        let mut batch = Batch::new(rows, &ctx);
        match resource {
            ImportResource::Leads => leads::import(&ctx, tx.as_mut(), &mut batch).await?,
            ImportResource::Contacts => contacts::import(&ctx, tx.as_mut(), &mut batch).await?,
            ImportResource::Accounts => accounts::import(&ctx, tx.as_mut(), &mut batch).await?,
            ImportResource::Deals => deals::import(&ctx, tx.as_mut(), &mut batch).await?,
        }
        tally.add(batch);
    }
    let status = ImportStatus::of(mode, tally.counts.failed);
    if status.keeps_rows() {
        tx.commit().await?;
    } else {
        drop(tx);
    }
    let record = ImportRecord {
        id: Uuid::now_v7(),
        organization_id: org,
        resource,
        mode,
        dedupe: ctx.dedupe,
        status,
        counts: tally.counts,
        errors: tally.errors,
        errors_truncated: tally.truncated,
        actor: caller.actor(),
        created_at: started,
        finished_at: Utc::now().trunc_subsecs(6),
    };
    state.store.save_import(&record).await?;
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, format!("/api/v1/imports/{}", record.id)))
        .json(ImportView::from(record)))
}

/// Get an import
///
/// How an import went: its counts and failed rows. Reps see only their own
/// imports (404 otherwise).
#[utoipa::path(
    tag = "imports",
    params(("id" = Uuid, Path, description = "The import's id")),
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, body = ImportView),
        crate::problem::ReadOneErrors,
    )
)]
#[get("/imports/{id}")]
async fn get_import(
    caller: Caller<Import>,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> Result<web::Json<ImportView>, ApiError> {
    let import = state.store.import(caller.organization_id(), *id).await?;
    if let Some(me) = caller.visible_owner() {
        if import.actor != Actor::User(me) {
            return Err(ApiError::NotFound);
        }
    }
    Ok(web::Json(import.into()))
}
