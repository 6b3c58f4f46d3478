//! `/api/workspaces/{id}/settings/ibm`: a workspace's own IBM Quantum credentials,
//! used by its `ibm:*` jobs instead of the server's `QOLLAB_IBM_*`. Owners only; the
//! key is write-only (answers show it masked) and never logged.

use actix_web::{HttpResponse, web};
use qollab_shared::api::{IbmSettings, IbmSettingsRequest};

use super::ibm::mask_key;
use crate::app::AppState;
use crate::db::tables::workspace_ibm_settings;
use crate::error::{ApiError, ApiResult};
use crate::workspaces::AsOwner;

const MAX_FIELD: usize = 1024;

pub fn configure(r: &mut crate::app::Routes) {
    r.put("/api/workspaces/{workspace_id}/settings/ibm", put)
        .get("/api/workspaces/{workspace_id}/settings/ibm", get)
        .delete("/api/workspaces/{workspace_id}/settings/ibm", delete);
}

/// The answer for a stored row: the key opened only to be masked.
fn view(state: &AppState, s: workspace_ibm_settings::Model) -> IbmSettings {
    let masked = match crate::db::queries::ibm_settings::open(&state.secrets, s.clone()) {
        Ok(open) => mask_key(&open.api_key),
        Err(_) => "(cannot be decrypted: set it again)".to_string(),
    };
    IbmSettings {
        instance: s.instance,
        api_key_masked: masked,
        updated_by: s.updated_by,
        updated_at: s.updated_at,
    }
}

#[utoipa::path(put, path = "/api/workspaces/{workspace_id}/settings/ibm", tag = "jobs", params(("workspace_id" = Uuid, Path)),
    request_body = IbmSettingsRequest,
    responses((status = 200, body = IbmSettings), (status = 403), (status = 404), (status = 422)),
    security(("bearer" = [])))]
pub async fn put(
    state: web::Data<AppState>,
    access: AsOwner,
    body: web::Json<IbmSettingsRequest>,
) -> ApiResult<web::Json<IbmSettings>> {
    let req = body.into_inner();
    let key = req.api_key.trim();
    let instance = req.instance.trim();
    let mut problems = Vec::new();
    for (field, v) in [("api_key", key), ("instance", instance)] {
        if v.is_empty() || v.len() > MAX_FIELD || v.chars().any(char::is_control) {
            problems.push((
                field,
                format!("must be 1 to {MAX_FIELD} printable characters"),
            ));
        }
    }
    if !problems.is_empty() {
        return Err(ApiError::invalid_fields(problems));
    }
    let ws = access.workspace.id;
    let saved = state
        .db
        .put_ibm_settings(&state.secrets, ws, key, instance, access.user.id)
        .await?;
    state.jobs.backends.forget_workspace_ibm(ws);
    tracing::info!(workspace_id = %ws, "workspace IBM Quantum credentials set");
    Ok(web::Json(view(&state, saved)))
}

#[utoipa::path(get, path = "/api/workspaces/{workspace_id}/settings/ibm", tag = "jobs", params(("workspace_id" = Uuid, Path)),
    responses((status = 200, body = IbmSettings), (status = 403), (status = 404, description = "none set")),
    security(("bearer" = [])))]
pub async fn get(state: web::Data<AppState>, access: AsOwner) -> ApiResult<web::Json<IbmSettings>> {
    let s = state
        .db
        .ibm_settings(access.workspace.id)
        .await?
        .ok_or_else(|| ApiError::not_found("IBM settings of this workspace"))?;
    Ok(web::Json(view(&state, s)))
}

#[utoipa::path(delete, path = "/api/workspaces/{workspace_id}/settings/ibm", tag = "jobs", params(("workspace_id" = Uuid, Path)),
    responses((status = 204), (status = 403), (status = 404)), security(("bearer" = [])))]
pub async fn delete(state: web::Data<AppState>, access: AsOwner) -> ApiResult<HttpResponse> {
    let ws = access.workspace.id;
    if !state.db.delete_ibm_settings(ws).await? {
        return Err(ApiError::not_found("IBM settings of this workspace"));
    }
    state.jobs.backends.forget_workspace_ibm(ws);
    Ok(HttpResponse::NoContent().finish())
}
