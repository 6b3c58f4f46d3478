//! Workspaces: where a team's documents, jobs and conversations live.
//!
//! Authorization for every workspace route is decided here, by the `Access<ROLE>`
//! extractor: handlers name the least role they need in their signature.

pub mod routes;

use std::future::Future;
use std::pin::Pin;

use actix_web::{FromRequest, HttpRequest, dev::Payload, web};
use qollab_shared::api::Role;
use uuid::Uuid;

use crate::app::AppState;
use crate::auth::AuthUser;
use crate::db::tables::workspaces;
use crate::error::{ApiError, ApiResult};

pub const VIEWER: u8 = 0;
pub const EDITOR: u8 = 1;
pub const OWNER: u8 = 2;

pub const fn role_of(min: u8) -> Role {
    match min {
        VIEWER => Role::Viewer,
        EDITOR => Role::Editor,
        _ => Role::Owner,
    }
}

/// A caller who is a member of the workspace named by the `{id}` path segment, with
/// at least role `MIN`. Non-members (and unknown or malformed ids) get 404, members
/// below `MIN` get 403.
pub struct Access<const MIN: u8> {
    pub user: AuthUser,
    pub workspace: workspaces::Model,
    pub role: Role,
}

pub type AsViewer = Access<VIEWER>;
pub type AsEditor = Access<EDITOR>;
pub type AsOwner = Access<OWNER>;

/// The membership check shared by every transport (REST, sockets).
pub async fn authorize(
    state: &AppState,
    user: AuthUser,
    ws_id: Uuid,
    min: Role,
) -> ApiResult<(workspaces::Model, Role)> {
    let Some((ws, role)) = state.db.membership(ws_id, user.id).await? else {
        return Err(ApiError::not_found("workspace"));
    };
    if role < min {
        return Err(ApiError::forbidden(format!(
            "this needs the {} role in the workspace; you are {}",
            min.as_str(),
            role.as_str()
        )));
    }
    Ok((ws, role))
}

/// [`authorize`] for something inside a workspace (a document, a job): a non-member
/// learns nothing, not even that the workspace exists, so "not found" names the thing.
pub async fn authorize_within(
    state: &AppState,
    user: AuthUser,
    ws_id: Uuid,
    min: Role,
    what: &str,
) -> ApiResult<Role> {
    match authorize(state, user, ws_id, min).await {
        Ok((_, role)) => Ok(role),
        Err(e) if e.code == qollab_shared::error::ErrorCode::NotFound => {
            Err(ApiError::not_found(what))
        }
        Err(e) => Err(e),
    }
}

impl<const MIN: u8> FromRequest for Access<MIN> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = ApiResult<Self>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let ws_id = req.match_info().get("id").map(Uuid::parse_str);
        let user = AuthUser::from_request(req, payload);
        Box::pin(async move {
            let state = state.ok_or_else(ApiError::internal)?;
            let user = user.await?;
            let Some(Ok(ws_id)) = ws_id else {
                return Err(ApiError::not_found("workspace"));
            };
            let (workspace, role) = authorize(&state, user, ws_id, role_of(MIN)).await?;
            Ok(Access {
                user,
                workspace,
                role,
            })
        })
    }
}
