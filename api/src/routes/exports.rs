//! CSV exports (`GET /exports/{resource}`): every matching record, streamed
//! a page at a time, so memory stays flat however many there are. The
//! columns are the fields an import reads back (plus read-only ones such as
//! `id` and `score`, which an import ignores), so an export imports as it is.

use std::sync::Arc;

use actix_web::{get, http::header, web, HttpResponse};
use chrono::Utc;
use futures_util::{future::LocalBoxFuture, stream};
use pipewise_domain::{
    custom_field::Resource,
    deal::BuyingRole,
    lead::{LeadStatus, ValuePeriod},
    prediction::Tables,
    Account, Contact, CustomValue, CustomValues, Deal, Lead,
};
use pipewise_storage::{
    AccountFilter, ContactFilter, DealFilter, DealPage, DealSortField, LeadFilter, LeadPage, LeadSortField,
    LeadSortValue, Page, RecordOrder, SortValue, Store,
};
use utoipa_actix_web::service_config::ServiceConfig;

use crate::{
    error::ApiError,
    extract::{Caller, CustomFilterParams, FilteredQuery, Read},
    routes::{
        accounts::AccountFilterQuery,
        contacts::ContactFilterQuery,
        custom_fields::{custom_filters, definitions},
        deals::DealFilterQuery,
        lead_input::LeadView,
        lead_list::{LeadFilterQuery, LeadListQuery},
        lead_potential::Customers,
        reports::csv::{opt, text},
    },
    state::AppState,
};

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(export_leads)
        .service(export_contacts)
        .service(export_accounts)
        .service(export_deals);
}

/// Records fetched per page of an export.
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
    "external_id",
    "tags",
];

/// An instant as the JSON API writes it (every digit the database keeps).
fn time(t: Option<chrono::DateTime<Utc>>) -> String {
    opt(t.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)))
}

/// Tags as one cell, separated as an import splits them.
/// A record's custom values in the columns of `keys`: text defused, lists
/// as `a; b` (as tags are), blank when absent.
fn custom_cells(values: &CustomValues, keys: &[String]) -> Vec<String> {
    keys.iter()
        .map(|key| match values.get(key) {
            None => String::new(),
            Some(CustomValue::Text(t)) => text(t),
            Some(CustomValue::Integer(n)) => n.to_string(),
            Some(CustomValue::Boolean(b)) => b.to_string(),
            Some(CustomValue::List(items)) => text(&items.join("; ")),
        })
        .collect()
}

fn tag_list(tags: &pipewise_domain::Tags) -> String {
    text(&tags.to_strings().join("; "))
}

/// Free text, defused.
fn words(v: &Option<String>) -> String {
    text(v.as_deref().unwrap_or(""))
}

fn lead_row(l: &LeadView) -> Vec<String> {
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
        words(&l.external_id),
        text(&l.tags.join("; ")),
    ]
}

/// The columns of a contact export, in order.
pub const CONTACT_COLUMNS: &[&str] = &[
    "id",
    "first_name",
    "last_name",
    "email",
    "phone",
    "title",
    "account_id",
    "buying_role",
    "owner_id",
    "external_id",
    "tags",
    "last_activity_at",
    "created_at",
    "updated_at",
];

fn contact_row(c: &Contact) -> Vec<String> {
    vec![
        c.id.to_string(),
        words(&c.first_name),
        words(&c.last_name),
        words(&c.email),
        words(&c.phone),
        words(&c.title),
        opt(c.account_id),
        opt(c.buying_role.map(BuyingRole::as_str)),
        c.owner_id.to_string(),
        words(&c.external_id),
        tag_list(&c.tags),
        time(c.last_activity_at),
        time(Some(c.created_at)),
        time(Some(c.updated_at)),
    ]
}

/// The columns of an account export, in order.
pub const ACCOUNT_COLUMNS: &[&str] = &[
    "id",
    "name",
    "domain",
    "industry",
    "employee_count",
    "country",
    "owner_id",
    "external_id",
    "tags",
    "last_activity_at",
    "created_at",
    "updated_at",
];

fn account_row(a: &Account) -> Vec<String> {
    vec![
        a.id.to_string(),
        text(&a.name),
        words(&a.domain),
        words(&a.industry),
        opt(a.employee_count),
        opt(a.country.as_ref().map(|c| c.as_str())),
        a.owner_id.to_string(),
        words(&a.external_id),
        tag_list(&a.tags),
        time(a.last_activity_at),
        time(Some(a.created_at)),
        time(Some(a.updated_at)),
    ]
}

/// The columns of a deal export, in order.
pub const DEAL_COLUMNS: &[&str] = &[
    "id",
    "title",
    "amount",
    "currency",
    "status",
    "pipeline_id",
    "stage_id",
    "owner_id",
    "account_id",
    "source",
    "probability",
    "expected_close_date",
    "forecast_category",
    "lost_reason",
    "closed_at",
    "stage_entered_at",
    "last_activity_at",
    "created_at",
    "updated_at",
    "external_id",
    "tags",
];

fn deal_row(d: &Deal) -> Vec<String> {
    vec![
        d.id.to_string(),
        text(&d.title),
        d.amount.to_string(),
        d.currency.as_str().to_owned(),
        d.status.as_str().to_owned(),
        d.pipeline_id.to_string(),
        d.stage_id.to_string(),
        d.owner_id.to_string(),
        opt(d.account_id),
        words(&d.source),
        opt(d.probability.map(|p| p.value())),
        opt(d.expected_close_date),
        d.forecast_category.as_str().to_owned(),
        words(&d.lost_reason),
        time(d.closed_at),
        time(Some(d.stage_entered_at)),
        time(d.last_activity_at),
        time(Some(d.created_at)),
        time(Some(d.updated_at)),
        words(&d.external_id),
        tag_list(&d.tags),
    ]
}

/// One CSV chunk: the rows, after the `header` row if any.
fn chunk(header: Option<&[String]>, rows: Vec<Vec<String>>) -> Result<web::Bytes, ApiError> {
    let mut out = csv::Writer::from_writer(Vec::new());
    let fail = |e: csv::Error| ApiError::Internal(Box::new(e));
    if let Some(header) = header {
        out.write_record(header).map_err(fail)?;
    }
    for row in rows {
        out.write_record(&row).map_err(fail)?;
    }
    let bytes = out
        .into_inner()
        .map_err(|e| ApiError::Internal(Box::new(e.into_error())))?;
    Ok(web::Bytes::from(bytes))
}

/// A resource's records, a page of CSV rows at a time; an empty page at the end.
trait Pages: 'static {
    fn next(&mut self) -> LocalBoxFuture<'_, Result<Vec<Vec<String>>, ApiError>>;
}

/// The leads of an export after the last one written.
struct LeadPages {
    store: Arc<dyn Store>,
    org: uuid::Uuid,
    filter: LeadFilter,
    tables: Tables,
    customers: Customers,
    after: Option<(LeadSortValue, uuid::Uuid)>,
    /// The custom fields' keys, a column each after the fixed ones.
    keys: Vec<String>,
}

impl Pages for LeadPages {
    fn next(&mut self) -> LocalBoxFuture<'_, Result<Vec<Vec<String>>, ApiError>> {
        Box::pin(async move {
            let page = LeadPage {
                sort: LeadSortField::CreatedAt,
                descending: false,
                after: self.after.take(),
                limit: EXPORT_PAGE,
                potentials: Vec::new(),
            };
            let leads: Vec<Lead> = self.store.leads(self.org, &self.filter, &page).await?;
            self.after = leads.last().map(|l| (LeadSortValue::Time(l.created_at), l.id));
            Ok(leads
                .into_iter()
                .map(|l| {
                    let custom = custom_cells(&l.custom_fields, &self.keys);
                    let mut row = lead_row(&LeadView::new(l, &self.tables, &self.customers));
                    row.extend(custom);
                    row
                })
                .collect())
        })
    }
}

/// The contacts of an export after the last one written, in id order.
struct ContactPages {
    store: Arc<dyn Store>,
    org: uuid::Uuid,
    filter: ContactFilter,
    after: Option<uuid::Uuid>,
    /// The custom fields' keys, a column each after the fixed ones.
    keys: Vec<String>,
}

impl Pages for ContactPages {
    fn next(&mut self) -> LocalBoxFuture<'_, Result<Vec<Vec<String>>, ApiError>> {
        Box::pin(async move {
            let page = Page {
                after: self.after,
                limit: EXPORT_PAGE,
            };
            let contacts = self
                .store
                .contacts(self.org, &self.filter, RecordOrder::OldestFirst, page)
                .await?;
            self.after = contacts.last().map(|c| c.id);
            Ok(contacts
                .iter()
                .map(|c| [contact_row(c), custom_cells(&c.custom_fields, &self.keys)].concat())
                .collect())
        })
    }
}

/// The accounts of an export after the last one written, in id order.
struct AccountPages {
    store: Arc<dyn Store>,
    org: uuid::Uuid,
    filter: AccountFilter,
    after: Option<uuid::Uuid>,
    /// The custom fields' keys, a column each after the fixed ones.
    keys: Vec<String>,
}

impl Pages for AccountPages {
    fn next(&mut self) -> LocalBoxFuture<'_, Result<Vec<Vec<String>>, ApiError>> {
        Box::pin(async move {
            let page = Page {
                after: self.after,
                limit: EXPORT_PAGE,
            };
            let accounts = self
                .store
                .accounts(self.org, &self.filter, RecordOrder::OldestFirst, page)
                .await?;
            self.after = accounts.last().map(|a| a.id);
            Ok(accounts
                .iter()
                .map(|a| [account_row(a), custom_cells(&a.custom_fields, &self.keys)].concat())
                .collect())
        })
    }
}

/// The deals of an export after the last one written, in creation order.
struct DealPages {
    store: Arc<dyn Store>,
    org: uuid::Uuid,
    filter: DealFilter,
    after: Option<(SortValue, uuid::Uuid)>,
    /// The custom fields' keys, a column each after the fixed ones.
    keys: Vec<String>,
}

impl Pages for DealPages {
    fn next(&mut self) -> LocalBoxFuture<'_, Result<Vec<Vec<String>>, ApiError>> {
        Box::pin(async move {
            let page = DealPage {
                sort: DealSortField::CreatedAt,
                descending: false,
                after: self.after.take(),
                limit: EXPORT_PAGE,
            };
            let deals = self.store.deals(self.org, &self.filter, &page).await?;
            self.after = deals.last().map(|d| (DealSortField::CreatedAt.value_of(d), d.id));
            Ok(deals
                .iter()
                .map(|d| [deal_row(d), custom_cells(&d.custom_fields, &self.keys)].concat())
                .collect())
        })
    }
}

/// Where a streamed export stands between two chunks.
struct Export<P> {
    pages: P,
    header: Option<Vec<String>>,
    done: bool,
}

impl<P: Pages> Export<P> {
    async fn next_chunk(mut self) -> Option<(Result<web::Bytes, ApiError>, Self)> {
        if self.done {
            return None;
        }
        let rows = match self.pages.next().await {
            Ok(rows) => rows,
            Err(err) => {
                self.done = true;
                return Some((Err(err), self));
            }
        };
        self.done = rows.len() < EXPORT_PAGE as usize;
        let header = self.header.take();
        if rows.is_empty() && header.is_none() {
            return None;
        }
        Some((chunk(header.as_deref(), rows), self))
    }
}

/// The CSV download of `pages`: `columns` and a `cf.<key>` column per
/// custom field key first, then every row, streamed.
fn csv_download(resource: &str, columns: &[&str], keys: &[String], pages: impl Pages) -> HttpResponse {
    let file = format!("pipewise-{resource}-{}.csv", Utc::now().format("%Y-%m-%d"));
    let header = columns
        .iter()
        .map(|c| c.to_string())
        .chain(keys.iter().map(|k| format!("cf.{k}")))
        .collect();
    let export = Export {
        pages,
        header: Some(header),
        done: false,
    };
    HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((header::CONTENT_DISPOSITION, format!("attachment; filename=\"{file}\"")))
        .streaming(stream::unfold(export, Export::next_chunk))
}

/// The keys of the organization's custom fields of `resource`, in order.
async fn field_keys(state: &AppState, org: uuid::Uuid, resource: Resource) -> Result<Vec<String>, ApiError> {
    let defs = definitions(state, org, resource).await?;
    Ok(defs.into_iter().map(|d| d.key.as_str().to_owned()).collect())
}

/// Export leads as CSV
///
/// Every lead the filters of `GET /leads` admit (reps: their own), in
/// creation order, as CSV: one header row, then one row per lead, streamed.
/// Text cells that a spreadsheet would read as a formula (starting with
/// `=`, `+`, `-`, `@`, tab or carriage return) are prefixed with `'`.
#[utoipa::path(
    tag = "leads",
    params(LeadFilterQuery, CustomFilterParams),
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
    query: FilteredQuery<LeadFilterQuery>,
) -> Result<HttpResponse, ApiError> {
    let FilteredQuery { query, custom } = query;
    let mut request = LeadListQuery::from(query).request(caller.visible_owner())?;
    let org = caller.organization_id();
    request.filter.custom = custom_filters(&state, org, Resource::Leads, &custom).await?;
    let keys = field_keys(&state, org, Resource::Leads).await?;
    let pages = LeadPages {
        store: state.store.clone(),
        org,
        filter: request.filter,
        tables: state.store.prediction_tables(org).await?,
        customers: state.store.customer_year(org, Utc::now()).await?,
        after: None,
        keys,
    };
    let keys = pages.keys.clone();
    Ok(csv_download("leads", LEAD_COLUMNS, &keys, pages))
}

/// Export contacts as CSV
///
/// Every contact the filters of `GET /contacts` admit, oldest first, as
/// CSV: one header row, then one row per contact, streamed. Formula-like
/// text cells are prefixed with `'`.
#[utoipa::path(
    tag = "contacts",
    params(ContactFilterQuery, CustomFilterParams),
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, content_type = "text/csv", body = String, headers(("Content-Disposition" = String))),
        crate::problem::ListErrors,
    )
)]
#[get("/exports/contacts")]
async fn export_contacts(
    caller: Caller<Read>,
    state: web::Data<AppState>,
    query: FilteredQuery<ContactFilterQuery>,
) -> Result<HttpResponse, ApiError> {
    let FilteredQuery { query, custom } = query;
    let org = caller.organization_id();
    let mut filter = query.filter()?;
    filter.custom = custom_filters(&state, org, Resource::Contacts, &custom).await?;
    let keys = field_keys(&state, org, Resource::Contacts).await?;
    let pages = ContactPages {
        store: state.store.clone(),
        org,
        filter,
        after: None,
        keys: keys.clone(),
    };
    Ok(csv_download("contacts", CONTACT_COLUMNS, &keys, pages))
}

/// Export accounts as CSV
///
/// Every account the filters of `GET /accounts` admit, oldest first, as
/// CSV: one header row, then one row per account, streamed. Formula-like
/// text cells are prefixed with `'`.
#[utoipa::path(
    tag = "accounts",
    params(AccountFilterQuery, CustomFilterParams),
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, content_type = "text/csv", body = String, headers(("Content-Disposition" = String))),
        crate::problem::ListErrors,
    )
)]
#[get("/exports/accounts")]
async fn export_accounts(
    caller: Caller<Read>,
    state: web::Data<AppState>,
    query: FilteredQuery<AccountFilterQuery>,
) -> Result<HttpResponse, ApiError> {
    let FilteredQuery { query, custom } = query;
    let org = caller.organization_id();
    let mut filter = query.filter()?;
    filter.custom = custom_filters(&state, org, Resource::Accounts, &custom).await?;
    let keys = field_keys(&state, org, Resource::Accounts).await?;
    let pages = AccountPages {
        store: state.store.clone(),
        org,
        filter,
        after: None,
        keys: keys.clone(),
    };
    Ok(csv_download("accounts", ACCOUNT_COLUMNS, &keys, pages))
}

/// Export deals as CSV
///
/// Every deal the filters of `GET /deals` admit (reps: their own), in
/// creation order, as CSV: one header row, then one row per deal, streamed.
/// Formula-like text cells are prefixed with `'`.
#[utoipa::path(
    tag = "deals",
    params(DealFilterQuery, CustomFilterParams),
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, content_type = "text/csv", body = String, headers(("Content-Disposition" = String))),
        crate::problem::ListErrors,
    )
)]
#[get("/exports/deals")]
async fn export_deals(
    caller: Caller<Read>,
    state: web::Data<AppState>,
    query: FilteredQuery<DealFilterQuery>,
) -> Result<HttpResponse, ApiError> {
    let FilteredQuery { query, custom } = query;
    let org = caller.organization_id();
    let mut filter = query.filter(caller.visible_owner())?;
    filter.custom = custom_filters(&state, org, Resource::Deals, &custom).await?;
    let keys = field_keys(&state, org, Resource::Deals).await?;
    let pages = DealPages {
        store: state.store.clone(),
        org,
        filter,
        after: None,
        keys: keys.clone(),
    };
    Ok(csv_download("deals", DEAL_COLUMNS, &keys, pages))
}
