//! Notifications: what the calling user is told (a lead reached MQL, a
//! record was assigned to them, an activity of theirs is overdue), unread
//! first, then newest first. Only users have notifications: API keys get 403.
//!
//! Overdue activities are noticed when their owner lists notifications:
//! each one is notified exactly once, even when lists run concurrently.

use actix_web::{get, post, web, HttpResponse};
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use chrono::{DateTime, Utc};
use pipewise_domain::{Notification, NotificationKind, RecordKind};
use pipewise_storage::NotificationPage;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_actix_web::service_config::ServiceConfig;
use uuid::Uuid;

use crate::{
    error::ApiError,
    extract::{page::parse_limit, Caller, UserOnly},
    routes::deals::same_names,
    state::AppState,
};

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(list_notifications)
        .service(read_all_notifications)
        .service(read_notification);
}

#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum NotificationKindName {
    LeadMql,
    Assigned,
    ActivityOverdue,
}

#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RecordKindName {
    Lead,
    Contact,
    Account,
    Deal,
    Activity,
}

same_names!(NotificationKindName <=> NotificationKind { LeadMql, Assigned, ActivityOverdue });
same_names!(RecordKindName <=> RecordKind { Lead, Contact, Account, Deal, Activity });

#[derive(Serialize, ToSchema)]
pub struct NotificationView {
    id: Uuid,
    kind: NotificationKindName,
    /// The record the notification is about.
    record_kind: RecordKindName,
    record_id: Uuid,
    #[schema(example = "The activity Call back was assigned to you.")]
    message: String,
    /// `null` while unread.
    read_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
}

impl From<Notification> for NotificationView {
    fn from(n: Notification) -> Self {
        Self {
            id: n.id,
            kind: n.kind.into(),
            record_kind: n.record_kind.into(),
            record_id: n.record_id,
            message: n.message,
            read_at: n.read_at,
            created_at: n.created_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct NotificationList {
    data: Vec<NotificationView>,
    /// Pass as `cursor` (with the same `unread`) for the next page; `null` on the last.
    next_cursor: Option<String>,
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct NotificationListQuery {
    /// Page size, 1–200.
    #[param(minimum = 1, maximum = 200, default = 50)]
    limit: Option<u32>,
    /// `next_cursor` of the previous page.
    #[param(max_length = 128)]
    cursor: Option<String>,
    /// `true`: unread notifications only.
    unread: Option<bool>,
}

#[derive(Serialize, Deserialize)]
struct CursorData {
    u: bool,
    i: Uuid,
}

fn decode_cursor(raw: &str) -> Result<(bool, Uuid), ApiError> {
    let bad = || ApiError::BadRequest("cursor is not one this API returned.".to_owned());
    let bytes = URL_SAFE_NO_PAD.decode(raw).map_err(|_| bad())?;
    let data: CursorData = serde_json::from_slice(&bytes).map_err(|_| bad())?;
    Ok((data.u, data.i))
}

fn encode_cursor(last: &Notification) -> String {
    let data = CursorData {
        u: last.read_at.is_none(),
        i: last.id,
    };
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(&data).expect("a cursor serializes"))
}

fn user_id(caller: &Caller<UserOnly>) -> Uuid {
    caller.user().expect("the UserOnly policy admits only users").id
}

/// List notifications
///
/// The calling user's notifications, unread first, then newest first. Any
/// of their open activities that became overdue since the last call is
/// notified first, once.
#[utoipa::path(
    tag = "notifications",
    params(NotificationListQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, body = NotificationList),
        crate::problem::ListErrors,
    )
)]
#[get("/notifications")]
async fn list_notifications(
    caller: Caller<UserOnly>,
    state: web::Data<AppState>,
    query: web::Query<NotificationListQuery>,
) -> Result<web::Json<NotificationList>, ApiError> {
    let (org, user) = (caller.organization_id(), user_id(&caller));
    let limit = parse_limit(query.limit)?;
    let after = query.cursor.as_deref().map(decode_cursor).transpose()?;
    state.store.notify_overdue(org, user, Utc::now()).await?;
    let page = NotificationPage {
        unread_only: query.unread == Some(true),
        after,
        limit: limit + 1,
    };
    let mut rows = state.store.notifications(org, user, &page).await?;
    let next_cursor = if rows.len() > limit as usize {
        rows.truncate(limit as usize);
        rows.last().map(encode_cursor)
    } else {
        None
    };
    Ok(web::Json(NotificationList {
        data: rows.into_iter().map(NotificationView::from).collect(),
        next_cursor,
    }))
}

/// Mark a notification read
///
/// Mark one of your notifications read; marking it again changes nothing.
/// Another user's notification is 404.
#[utoipa::path(
    tag = "notifications",
    params(("id" = Uuid, Path, description = "The notification's id")),
    security(("bearer" = [])),
    responses(
        (status = 200, body = NotificationView),
        crate::problem::ReadOneErrors,
    )
)]
#[post("/notifications/{id}/read")]
async fn read_notification(
    caller: Caller<UserOnly>,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> Result<web::Json<NotificationView>, ApiError> {
    let notification = state
        .store
        .read_notification(caller.organization_id(), user_id(&caller), *id, Utc::now())
        .await?;
    Ok(web::Json(notification.into()))
}

/// Mark all notifications read
///
/// Mark every unread notification of yours read.
#[utoipa::path(
    tag = "notifications",
    security(("bearer" = [])),
    responses(
        (status = 204, description = "All read"),
        crate::problem::AuthErrors,
    )
)]
#[post("/notifications/read-all")]
async fn read_all_notifications(
    caller: Caller<UserOnly>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    state
        .store
        .read_all_notifications(caller.organization_id(), user_id(&caller), Utc::now())
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
