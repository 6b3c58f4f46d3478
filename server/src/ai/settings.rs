//! `/api/workspaces/{id}/settings/ai`: a workspace's own AI provider (key, base URL,
//! model), used instead of the server's `QOLLAB_AI_*`. Owners only; the key is sealed
//! at rest (`secrets`), write-only (answers show it masked) and never logged.

use actix_web::{HttpResponse, web};
use chrono::Utc;
use qollab_shared::api::{AiSettings, AiSettingsRequest};
use sea_orm::sea_query::OnConflict;
use sea_orm::{EntityTrait, Set};

use crate::app::AppState;
use crate::db::tables::workspace_ai_settings;
use crate::error::{ApiError, ApiResult};
use crate::workspaces::AsOwner;

const MAX_FIELD: usize = 1024;

pub fn configure(r: &mut crate::app::Routes) {
    r.put("/api/workspaces/{workspace_id}/settings/ai", put)
        .get("/api/workspaces/{workspace_id}/settings/ai", get)
        .delete("/api/workspaces/{workspace_id}/settings/ai", delete);
}

fn view(state: &AppState, s: workspace_ai_settings::Model) -> AiSettings {
    let masked = s.api_key.as_deref().map(|sealed| {
        match state.secrets.open(sealed, s.workspace_id.as_bytes()) {
            Ok(k) => crate::jobs::ibm::mask_key(&k),
            Err(_) => "(cannot be decrypted: set it again)".to_string(),
        }
    });
    AiSettings {
        api_key_masked: masked,
        base_url: s.base_url,
        model: s.model,
        updated_by: s.updated_by,
        updated_at: s.updated_at,
    }
}

fn field(
    name: &'static str,
    v: Option<String>,
    problems: &mut Vec<(&'static str, String)>,
) -> Option<String> {
    let v = v.map(|v| v.trim().to_string()).filter(|v| !v.is_empty())?;
    if v.len() > MAX_FIELD || v.chars().any(char::is_control) {
        problems.push((
            name,
            format!("must be at most {MAX_FIELD} printable characters"),
        ));
    }
    Some(v)
}

#[utoipa::path(put, path = "/api/workspaces/{workspace_id}/settings/ai", tag = "ai", params(("workspace_id" = uuid::Uuid, Path)),
    request_body = AiSettingsRequest,
    responses((status = 200, body = AiSettings), (status = 403), (status = 404), (status = 422)),
    security(("bearer" = [])))]
pub async fn put(
    state: web::Data<AppState>,
    access: AsOwner,
    body: web::Json<AiSettingsRequest>,
) -> ApiResult<web::Json<AiSettings>> {
    let req = body.into_inner();
    let mut problems = Vec::new();
    let key = field("api_key", req.api_key, &mut problems);
    let base_url =
        field("base_url", req.base_url, &mut problems).map(|u| u.trim_end_matches('/').to_string());
    let model = field("model", req.model, &mut problems);
    if let Some(u) = &base_url
        && !(u.starts_with("https://") || u.starts_with("http://"))
    {
        problems.push(("base_url", "must be an http(s) URL".into()));
    }
    if key.is_none() && base_url.is_none() && model.is_none() {
        problems.push((
            "api_key",
            "set at least one of api_key, base_url, model".into(),
        ));
    }
    if !problems.is_empty() {
        return Err(ApiError::invalid_fields(problems));
    }
    let ws = access.workspace.id;
    let row = workspace_ai_settings::ActiveModel {
        workspace_id: Set(ws),
        api_key: Set(key.map(|k| state.secrets.seal(&k, ws.as_bytes()))),
        base_url: Set(base_url),
        model: Set(model),
        updated_by: Set(access.user.id),
        updated_at: Set(Utc::now()),
    };
    workspace_ai_settings::Entity::insert(row)
        .on_conflict(
            OnConflict::column(workspace_ai_settings::Column::WorkspaceId)
                .update_columns([
                    workspace_ai_settings::Column::ApiKey,
                    workspace_ai_settings::Column::BaseUrl,
                    workspace_ai_settings::Column::Model,
                    workspace_ai_settings::Column::UpdatedBy,
                    workspace_ai_settings::Column::UpdatedAt,
                ])
                .to_owned(),
        )
        .exec_without_returning(&state.db.conn)
        .await?;
    tracing::info!(workspace_id = %ws, "workspace AI provider settings set");
    let saved = workspace_ai_settings::Entity::find_by_id(ws)
        .one(&state.db.conn)
        .await?
        .ok_or_else(ApiError::internal)?;
    Ok(web::Json(view(&state, saved)))
}

#[utoipa::path(get, path = "/api/workspaces/{workspace_id}/settings/ai", tag = "ai", params(("workspace_id" = uuid::Uuid, Path)),
    responses((status = 200, body = AiSettings), (status = 403), (status = 404, description = "none set")),
    security(("bearer" = [])))]
pub async fn get(state: web::Data<AppState>, access: AsOwner) -> ApiResult<web::Json<AiSettings>> {
    let s = workspace_ai_settings::Entity::find_by_id(access.workspace.id)
        .one(&state.db.conn)
        .await?
        .ok_or_else(|| ApiError::not_found("AI settings of this workspace"))?;
    Ok(web::Json(view(&state, s)))
}

#[utoipa::path(delete, path = "/api/workspaces/{workspace_id}/settings/ai", tag = "ai", params(("workspace_id" = uuid::Uuid, Path)),
    responses((status = 204), (status = 403), (status = 404)), security(("bearer" = [])))]
pub async fn delete(state: web::Data<AppState>, access: AsOwner) -> ApiResult<HttpResponse> {
    let n = workspace_ai_settings::Entity::delete_by_id(access.workspace.id)
        .exec(&state.db.conn)
        .await?
        .rows_affected;
    if n == 0 {
        return Err(ApiError::not_found("AI settings of this workspace"));
    }
    Ok(HttpResponse::NoContent().finish())
}
