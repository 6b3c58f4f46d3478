//! `/api/workspaces/{id}/chat`: the workspace conversation, persisted and delivered
//! live as `chat.message`. Viewers may chat.

use actix_web::{HttpResponse, web};
use qollab_shared::api::{ChatMessage, ChatPage, PostChatRequest};
use qollab_shared::events::kinds;

use crate::app::AppState;
use crate::error::{ApiError, ApiResult};
use crate::workspaces::AsViewer;

pub const MAX_CHAT_LEN: usize = 4000;

pub fn configure(r: &mut crate::app::Routes) {
    r.post("/api/workspaces/{workspace_id}/chat", post)
        .get("/api/workspaces/{workspace_id}/chat", page);
}

#[utoipa::path(post, path = "/api/workspaces/{workspace_id}/chat", tag = "chat", params(("workspace_id" = uuid::Uuid, Path)),
    request_body = PostChatRequest,
    responses((status = 201, body = ChatMessage), (status = 404), (status = 422)), security(("bearer" = [])))]
pub async fn post(
    state: web::Data<AppState>,
    access: AsViewer,
    body: web::Json<PostChatRequest>,
) -> ApiResult<HttpResponse> {
    let text = body.text.trim();
    if text.is_empty() || text.chars().count() > MAX_CHAT_LEN {
        return Err(ApiError::invalid_field(
            "text",
            format!("must be 1 to {MAX_CHAT_LEN} characters"),
        ));
    }
    let m = state
        .db
        .post_chat(access.workspace.id, access.user.id, text)
        .await?;
    let name = state
        .db
        .user(access.user.id)
        .await?
        .map(|u| u.name)
        .unwrap_or_default();
    let msg = view(m, name);
    let data = serde_json::to_value(&msg).unwrap_or_default();
    state
        .events
        .publish(
            access.workspace.id,
            kinds::CHAT_MESSAGE,
            Some(access.user.id),
            data,
        )
        .await;
    Ok(HttpResponse::Created().json(msg))
}

#[utoipa::path(get, path = "/api/workspaces/{workspace_id}/chat", tag = "chat", params(("workspace_id" = uuid::Uuid, Path), crate::pages::PageQuery),
    responses((status = 200, body = ChatPage), (status = 404), (status = 422)), security(("bearer" = [])))]
pub async fn page(
    state: web::Data<AppState>,
    access: AsViewer,
    query: web::Query<crate::pages::PageQuery>,
) -> ApiResult<web::Json<ChatPage>> {
    let (limit, after) = (query.limit()?, query.cursor()?);
    let rows = state
        .db
        .chat_page(access.workspace.id, after, limit + 1)
        .await?;
    Ok(web::Json(crate::pages::page(
        rows,
        limit,
        |(m, _)| (m.created_at, m.id),
        |(m, name)| view(m, name),
    )))
}

fn view(m: crate::db::tables::chat_messages::Model, author_name: String) -> ChatMessage {
    ChatMessage {
        id: m.id,
        workspace_id: m.workspace_id,
        author_id: m.author_id,
        author_name,
        text: m.text,
        created_at: m.created_at,
    }
}
