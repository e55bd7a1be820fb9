//! CSV exports (`GET /exports/{resource}`): every matching record, streamed
//! a page at a time, so memory stays flat however many there are.

use std::sync::Arc;

use actix_web::{get, http::header, web, HttpResponse};
use chrono::Utc;
use futures_util::stream;
use pipewise_domain::{
    lead::{LeadStatus, ValuePeriod},
    prediction::Tables,
    Lead,
};
use pipewise_storage::{LeadFilter, LeadPage, LeadSortField, LeadSortValue, Store};
use utoipa_actix_web::service_config::ServiceConfig;

use crate::{
    error::ApiError,
    extract::{Caller, Read},
    routes::{
        lead_input::LeadView,
        lead_list::{LeadFilterQuery, LeadListQuery},
        lead_potential::Customers,
        reports::csv::{opt, text},
    },
    state::AppState,
};

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(export_leads);
}

/// Leads fetched per page of the export.
pub const EXPORT_PAGE: u32 = 1000;

/// The columns of a lead export, in order.
pub const LEAD_COLUMNS: &[&str] = &[
    "id",
    "first_name",
    "last_name",
    "email",
    "phone",
    "company_name",
    "title",
    "industry",
    "employee_count",
    "country",
    "source",
    "estimated_value",
    "currency",
    "value_period",
    "status",
    "unqualified_reason",
    "owner_id",
    "score",
    "predicted_conversion",
    "potential_median",
    "mql_at",
    "qualified_at",
    "converted_at",
    "last_activity_at",
    "created_at",
    "updated_at",
];

fn lead_row(l: &LeadView) -> Vec<String> {
    let time =
        |t: Option<chrono::DateTime<Utc>>| opt(t.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)));
    let words = |v: &Option<String>| text(v.as_deref().unwrap_or(""));
    vec![
        l.id.to_string(),
        words(&l.first_name),
        words(&l.last_name),
        words(&l.email),
        words(&l.phone),
        words(&l.company_name),
        words(&l.title),
        words(&l.industry),
        opt(l.employee_count),
        opt(l.country.clone()),
        words(&l.source),
        opt(l.estimated_value.clone()),
        l.currency.clone(),
        opt(l.value_period.map(|p| ValuePeriod::from(p).as_str())),
        LeadStatus::from(l.status).as_str().to_owned(),
        words(&l.unqualified_reason),
        l.owner_id.to_string(),
        l.score.to_string(),
        opt(l.predicted_conversion),
        opt(l.potential_median.clone()),
        time(l.mql_at),
        time(l.qualified_at),
        time(l.converted_at),
        time(l.last_activity_at),
        time(Some(l.created_at)),
        time(Some(l.updated_at)),
    ]
}

/// One CSV chunk: the rows, after the header row when `header`.
fn chunk(header: bool, rows: impl IntoIterator<Item = Vec<String>>) -> Result<web::Bytes, ApiError> {
    let mut out = csv::Writer::from_writer(Vec::new());
    let fail = |e: csv::Error| ApiError::Internal(Box::new(e));
    if header {
        out.write_record(LEAD_COLUMNS).map_err(fail)?;
    }
    for row in rows {
        out.write_record(&row).map_err(fail)?;
    }
    let bytes = out
        .into_inner()
        .map_err(|e| ApiError::Internal(Box::new(e.into_error())))?;
    Ok(web::Bytes::from(bytes))
}

/// Where the export stands between two pages.
struct Cursor {
    store: Arc<dyn Store>,
    org: uuid::Uuid,
    filter: LeadFilter,
    tables: Tables,
    customers: Customers,
    after: Option<(LeadSortValue, uuid::Uuid)>,
    first: bool,
    done: bool,
}

impl Cursor {
    async fn next_chunk(mut self) -> Option<(Result<web::Bytes, ApiError>, Self)> {
        if self.done {
            return None;
        }
        let page = LeadPage {
            sort: LeadSortField::CreatedAt,
            descending: false,
            after: self.after.take(),
            limit: EXPORT_PAGE,
            potentials: Vec::new(),
        };
        let leads: Vec<Lead> = match self.store.leads(self.org, &self.filter, &page).await {
            Ok(leads) => leads,
            Err(err) => {
                self.done = true;
                return Some((Err(err.into()), self));
            }
        };
        self.done = leads.len() < EXPORT_PAGE as usize;
        self.after = leads.last().map(|l| (LeadSortValue::Time(l.created_at), l.id));
        let first = std::mem::replace(&mut self.first, false);
        if leads.is_empty() && !first {
            return None;
        }
        let rows: Vec<Vec<String>> = leads
            .into_iter()
            .map(|l| lead_row(&LeadView::new(l, &self.tables, &self.customers)))
            .collect();
        Some((chunk(first, rows), self))
    }
}

/// Export leads as CSV
///
/// Every lead the filters of `GET /leads` admit (reps: their own), in
/// creation order, as CSV: one header row, then one row per lead, streamed.
/// Text cells that a spreadsheet would read as a formula (starting with
/// `=`, `+`, `-`, `@`, tab or carriage return) are prefixed with `'`.
#[utoipa::path(
    tag = "leads",
    params(LeadFilterQuery),
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, content_type = "text/csv", body = String, headers(("Content-Disposition" = String))),
        crate::problem::ListErrors,
    )
)]
#[get("/exports/leads")]
async fn export_leads(
    caller: Caller<Read>,
    state: web::Data<AppState>,
    query: web::Query<LeadFilterQuery>,
) -> Result<HttpResponse, ApiError> {
    let request = LeadListQuery::from(query.into_inner()).request(caller.visible_owner())?;
    let org = caller.organization_id();
    let now = Utc::now();
    let cursor = Cursor {
        store: state.store.clone(),
        org,
        filter: request.filter,
        tables: state.store.prediction_tables(org).await?,
        customers: state.store.customer_year(org, now).await?,
        after: None,
        first: true,
        done: false,
    };
    let file = format!("pipewise-leads-{}.csv", now.format("%Y-%m-%d"));
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((header::CONTENT_DISPOSITION, format!("attachment; filename=\"{file}\"")))
        .streaming(stream::unfold(cursor, Cursor::next_chunk)))
}
