//! `/api/workspaces` and their members.

use actix_web::{HttpRequest, HttpResponse, web};
use qollab_shared::api::{
    AddMemberRequest, CreateWorkspaceRequest, Member, MemberPage, Role, UpdateMemberRequest,
    UpdateWorkspaceRequest, Workspace,
};
use qollab_shared::events::kinds;
use qollab_shared::validate;
use uuid::Uuid;

use super::{AsOwner, AsViewer};
use crate::app::AppState;
use crate::auth::{AuthUser, client_ip};
use crate::db::tables::workspaces;
use crate::error::{ApiError, ApiResult};

const MAX_DESCRIPTION: usize = 10_000;

pub fn configure(r: &mut crate::app::Routes) {
    // Plain routes, not a scope: other capabilities (docs, jobs) add routes under
    // `/api/workspaces/{id}/…`, which a scope here would shadow.
    r.post("/api/workspaces", create)
        .get("/api/workspaces", list)
        .get("/api/workspaces/{workspace_id}", get)
        .patch("/api/workspaces/{workspace_id}", update)
        .delete("/api/workspaces/{workspace_id}", delete)
        .get("/api/workspaces/{workspace_id}/members", members)
        .post("/api/workspaces/{workspace_id}/members", add_member)
        .patch(
            "/api/workspaces/{workspace_id}/members/{user_id}",
            update_member,
        )
        .delete(
            "/api/workspaces/{workspace_id}/members/{user_id}",
            remove_member,
        );
}

pub fn workspace_view(w: &workspaces::Model, role: Role) -> Workspace {
    Workspace {
        id: w.id,
        org_id: w.org_id,
        name: w.name.clone(),
        description: w.description.clone(),
        role,
        created_by: w.created_by,
        created_at: w.created_at,
        updated_at: w.updated_at,
    }
}

fn description(d: Option<&str>) -> ApiResult<Option<String>> {
    match d {
        Some(d) if d.chars().count() > MAX_DESCRIPTION => Err(ApiError::invalid_field(
            "description",
            format!("must be at most {MAX_DESCRIPTION} characters"),
        )),
        other => Ok(other.map(str::to_string)),
    }
}

fn ip(req: &HttpRequest) -> Option<String> {
    client_ip(req).map(|i| i.to_string())
}

#[utoipa::path(post, path = "/api/workspaces", tag = "workspaces", request_body = CreateWorkspaceRequest,
    responses((status = 201, body = Workspace), (status = 404), (status = 422)), security(("bearer" = [])))]
pub async fn create(
    state: web::Data<AppState>,
    user: AuthUser,
    body: web::Json<CreateWorkspaceRequest>,
) -> ApiResult<HttpResponse> {
    let name = validate::name(&body.name).map_err(|m| ApiError::invalid_field("name", m))?;
    let desc = description(body.description.as_deref())?.unwrap_or_default();
    let org_id = match body.org_id {
        Some(id) => {
            state
                .db
                .org_for(id, user.id)
                .await?
                .ok_or_else(|| ApiError::not_found("organization"))?
                .0
                .id
        }
        None => {
            state
                .db
                .personal_org(user.id)
                .await?
                .ok_or_else(|| ApiError::not_found("personal organization"))?
                .id
        }
    };
    let ws = state
        .db
        .create_workspace(org_id, user.id, &name, &desc)
        .await?;
    Ok(HttpResponse::Created().json(workspace_view(&ws, Role::Owner)))
}

#[utoipa::path(get, path = "/api/workspaces", tag = "workspaces",
    responses((status = 200, body = Vec<Workspace>)), security(("bearer" = [])))]
pub async fn list(
    state: web::Data<AppState>,
    user: AuthUser,
) -> ApiResult<web::Json<Vec<Workspace>>> {
    let list = state.db.workspaces_of(user.id).await?;
    Ok(web::Json(
        list.iter().map(|(w, r)| workspace_view(w, *r)).collect(),
    ))
}

#[utoipa::path(get, path = "/api/workspaces/{workspace_id}", tag = "workspaces", params(("workspace_id" = Uuid, Path)),
    responses((status = 200, body = Workspace), (status = 404)), security(("bearer" = [])))]
pub async fn get(access: AsViewer) -> ApiResult<web::Json<Workspace>> {
    Ok(web::Json(workspace_view(&access.workspace, access.role)))
}

#[utoipa::path(patch, path = "/api/workspaces/{workspace_id}", tag = "workspaces", params(("workspace_id" = Uuid, Path)),
    request_body = UpdateWorkspaceRequest,
    responses((status = 200, body = Workspace), (status = 403), (status = 404), (status = 422)), security(("bearer" = [])))]
pub async fn update(
    state: web::Data<AppState>,
    access: AsOwner,
    body: web::Json<UpdateWorkspaceRequest>,
) -> ApiResult<web::Json<Workspace>> {
    let name = match &body.name {
        Some(n) => Some(validate::name(n).map_err(|m| ApiError::invalid_field("name", m))?),
        None => None,
    };
    let desc = description(body.description.as_deref())?;
    let ws = state
        .db
        .update_workspace(access.workspace.id, name.as_deref(), desc.as_deref())
        .await?;
    Ok(web::Json(workspace_view(&ws, access.role)))
}

#[utoipa::path(delete, path = "/api/workspaces/{workspace_id}", tag = "workspaces", params(("workspace_id" = Uuid, Path)),
    responses((status = 204), (status = 403), (status = 404)), security(("bearer" = [])))]
pub async fn delete(
    state: web::Data<AppState>,
    access: AsOwner,
    req: HttpRequest,
) -> ApiResult<HttpResponse> {
    let docs = state.db.docs_in(access.workspace.id).await?;
    state
        .db
        .delete_workspace(access.workspace.id, access.user.id, ip(&req))
        .await?;
    for d in docs {
        state.rooms.close_doc(d.id, "the workspace was deleted");
    }
    Ok(HttpResponse::NoContent().finish())
}

#[utoipa::path(get, path = "/api/workspaces/{workspace_id}/members", tag = "workspaces", params(("workspace_id" = Uuid, Path), crate::pages::PageQuery),
    responses((status = 200, body = MemberPage), (status = 404), (status = 422)), security(("bearer" = [])))]
pub async fn members(
    state: web::Data<AppState>,
    access: AsViewer,
    query: web::Query<crate::pages::PageQuery>,
) -> ApiResult<web::Json<MemberPage>> {
    let (limit, after) = (query.limit()?, query.cursor()?);
    let rows = state
        .db
        .members(access.workspace.id, after, limit + 1)
        .await?;
    Ok(web::Json(crate::pages::page(
        rows,
        limit,
        |m| (m.added_at, m.user_id),
        |m| m,
    )))
}

/// Adds a registered person by email. There are no pending invitations: someone
/// without an account is told to register first.
#[utoipa::path(post, path = "/api/workspaces/{workspace_id}/members", tag = "workspaces", params(("workspace_id" = Uuid, Path)),
    request_body = AddMemberRequest,
    responses((status = 201, body = Member), (status = 403), (status = 404), (status = 409), (status = 422)),
    security(("bearer" = [])))]
pub async fn add_member(
    state: web::Data<AppState>,
    access: AsOwner,
    req: HttpRequest,
    body: web::Json<AddMemberRequest>,
) -> ApiResult<HttpResponse> {
    let email = validate::email(&body.email).map_err(|m| ApiError::invalid_field("email", m))?;
    let Some(user) = state.db.user_by_email(&email).await? else {
        return Err(ApiError::not_found("user").with_details(
            serde_json::json!({"email": "no account with this email; ask them to register first"}),
        ));
    };
    let member = state
        .db
        .add_member(
            access.workspace.id,
            &user,
            body.role,
            access.user.id,
            ip(&req),
        )
        .await?;
    state
        .events
        .emit(
            access.workspace.id,
            kinds::MEMBER_ADDED,
            Some(access.user.id),
            serde_json::json!({"member": member}),
        )
        .await;
    Ok(HttpResponse::Created().json(member))
}

fn member_id(path: &(String, String)) -> ApiResult<Uuid> {
    Uuid::parse_str(&path.1).map_err(|_| ApiError::not_found("member"))
}

#[utoipa::path(patch, path = "/api/workspaces/{workspace_id}/members/{user_id}", tag = "workspaces",
    params(("workspace_id" = Uuid, Path), ("user_id" = Uuid, Path)), request_body = UpdateMemberRequest,
    responses((status = 204), (status = 403), (status = 404), (status = 409)), security(("bearer" = [])))]
pub async fn update_member(
    state: web::Data<AppState>,
    access: AsOwner,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    body: web::Json<UpdateMemberRequest>,
) -> ApiResult<HttpResponse> {
    let user_id = member_id(&path)?;
    state
        .db
        .set_member_role(
            access.workspace.id,
            user_id,
            body.role,
            access.user.id,
            ip(&req),
        )
        .await?;
    state
        .rooms
        .membership_changed(access.workspace.id, user_id, Some(body.role));
    state
        .events
        .emit(
            access.workspace.id,
            kinds::MEMBER_ROLE_CHANGED,
            Some(access.user.id),
            serde_json::json!({"user_id": user_id, "role": body.role}),
        )
        .await;
    Ok(HttpResponse::NoContent().finish())
}

/// Owners remove anyone; any member may remove themselves (leave). The last owner
/// can do neither.
#[utoipa::path(delete, path = "/api/workspaces/{workspace_id}/members/{user_id}", tag = "workspaces",
    params(("workspace_id" = Uuid, Path), ("user_id" = Uuid, Path)),
    responses((status = 204), (status = 403), (status = 404), (status = 409)), security(("bearer" = [])))]
pub async fn remove_member(
    state: web::Data<AppState>,
    access: AsViewer,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> ApiResult<HttpResponse> {
    let user_id = member_id(&path)?;
    if user_id != access.user.id && access.role < Role::Owner {
        return Err(ApiError::forbidden(
            "only owners remove other members; you may only remove yourself",
        ));
    }
    state
        .db
        .remove_member(access.workspace.id, user_id, access.user.id, ip(&req))
        .await?;
    state
        .rooms
        .membership_changed(access.workspace.id, user_id, None);
    state
        .events
        .emit(
            access.workspace.id,
            kinds::MEMBER_REMOVED,
            Some(access.user.id),
            serde_json::json!({"user_id": user_id}),
        )
        .await;
    Ok(HttpResponse::NoContent().finish())
}
