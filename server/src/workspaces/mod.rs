//! Workspaces: where a team's documents, jobs and conversations live.
//!
//! Authorization for every route below a workspace is decided here, by the
//! `Guarded<R, ROLE>` extractor: handlers name the resource and the least role they
//! need in their signature.

pub mod routes;

use std::future::Future;
use std::pin::Pin;

use actix_web::{FromRequest, HttpRequest, dev::Payload, web};
use qollab_shared::api::Role;
use qollab_shared::error::ErrorCode;
use sea_orm::EntityTrait;
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

/// A caller allowed at least role `MIN` on the resource `R` named by the request's
/// path, with the resource and its workspace loaded: the one authorization extractor of
/// every REST route below a workspace. Unauthenticated callers get 401; an unknown or
/// malformed id and a non-member both get 404 naming the resource (no existence leak);
/// a member below `MIN` gets 403.
pub struct Guarded<R, const MIN: u8> {
    pub user: AuthUser,
    pub role: Role,
    pub workspace: workspaces::Model,
    pub target: R,
}

/// Something that lives in a workspace and is named by a path segment.
pub trait Resource: Sized + 'static {
    /// What a 404 calls it ("document").
    const NAME: &'static str;
    /// The path segment holding its id (`{job_id}` → "job_id").
    const PARAM: &'static str;
    fn load(state: &AppState, id: Uuid) -> impl Future<Output = ApiResult<Option<Self>>>;
    fn workspace_id(&self) -> Uuid;
}

impl Resource for workspaces::Model {
    const NAME: &'static str = "workspace";
    const PARAM: &'static str = "workspace_id";
    async fn load(state: &AppState, id: Uuid) -> ApiResult<Option<Self>> {
        Ok(workspaces::Entity::find_by_id(id)
            .one(&state.db.conn)
            .await?)
    }
    fn workspace_id(&self) -> Uuid {
        self.id
    }
}

impl<R: Resource, const MIN: u8> FromRequest for Guarded<R, MIN> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = ApiResult<Self>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let id = req.match_info().get(R::PARAM).map(Uuid::parse_str);
        let user = AuthUser::from_request(req, payload);
        Box::pin(async move {
            let state = state.ok_or_else(ApiError::internal)?;
            let user = user.await?;
            let Some(Ok(id)) = id else {
                return Err(ApiError::not_found(R::NAME));
            };
            let target = R::load(&state, id)
                .await?
                .ok_or_else(|| ApiError::not_found(R::NAME))?;
            let (workspace, role) =
                match authorize(&state, user, target.workspace_id(), role_of(MIN)).await {
                    Ok(ok) => ok,
                    Err(e) if e.code == ErrorCode::NotFound => {
                        return Err(ApiError::not_found(R::NAME));
                    }
                    Err(e) => return Err(e),
                };
            Ok(Guarded {
                user,
                role,
                workspace,
                target,
            })
        })
    }
}

/// A member of the workspace named by `{id}`, with at least role `MIN`.
pub type Access<const MIN: u8> = Guarded<workspaces::Model, MIN>;
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
        Err(e) if e.code == ErrorCode::NotFound => Err(ApiError::not_found(what)),
        Err(e) => Err(e),
    }
}
