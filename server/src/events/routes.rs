//! `GET /api/workspaces/{id}/events`: the workspace's stored event log over REST, newest
//! first: an activity feed, and history for a script without a socket. Following live is
//! the event socket's job (`socket.rs`); both number events the same way.

use actix_web::web;
use qollab_shared::events::{EventKind, EventPage};
use serde::Deserialize;

use super::to_wire;
use crate::app::AppState;
use crate::error::{ApiError, ApiResult};
use crate::workspaces::AsViewer;

pub fn configure(r: &mut crate::app::Routes) {
    r.get("/api/workspaces/{workspace_id}/events", list);
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventsQuery {
    /// Only events of this type.
    #[param(value_type = Option<EventKind>)]
    pub kind: Option<String>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// 1 to 200; 100 when absent.
    pub limit: Option<u64>,
}

#[utoipa::path(get, path = "/api/workspaces/{workspace_id}/events", tag = "events",
    params(("workspace_id" = uuid::Uuid, Path), EventsQuery),
    responses((status = 200, body = EventPage), (status = 404), (status = 422)), security(("bearer" = [])))]
pub async fn list(
    state: web::Data<AppState>,
    access: AsViewer,
    query: web::Query<EventsQuery>,
) -> ApiResult<web::Json<EventPage>> {
    let limit = ApiError::page_limit(query.limit, 100, 200)?;
    let before = crate::pages::decode(query.cursor.as_deref())?;
    if let Some(k) = &query.kind {
        EventKind::parse_or_explain(k).map_err(|m| ApiError::invalid_field("kind", m))?;
    }
    let rows = state
        .db
        .events_page(
            access.workspace.id,
            before,
            query.kind.as_deref(),
            limit + 1,
        )
        .await?;
    Ok(web::Json(crate::pages::page(
        rows,
        limit,
        |e| e.seq,
        |e| to_wire(&e),
    )))
}
