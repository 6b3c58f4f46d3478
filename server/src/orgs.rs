//! `/api/orgs`: organizations, their plans and quotas.

use actix_web::{HttpResponse, web};
use qollab_shared::api::{CreateOrgRequest, Organization, Plan, Quotas};
use qollab_shared::validate;
use uuid::Uuid;

use crate::app::AppState;
use crate::auth::AuthUser;
use crate::db::tables::organizations;
use crate::error::{ApiError, ApiResult};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/api/orgs")
            .route("", web::get().to(list))
            .route("", web::post().to(create))
            .route("/{org_id}", web::get().to(get)),
    );
}

pub fn org_view(o: &organizations::Model, role: &str) -> Organization {
    Organization {
        id: o.id,
        name: o.name.clone(),
        plan: Plan::parse(&o.plan).unwrap_or(Plan::Free),
        personal: o.personal,
        quotas: Quotas {
            max_qubits: o.max_qubits,
            max_concurrent_jobs: o.max_concurrent_jobs,
            max_shots: o.max_shots,
            ai_requests_per_day: o.ai_requests_per_day,
        },
        role: role.to_string(),
        created_at: o.created_at,
    }
}

#[utoipa::path(get, path = "/api/orgs", tag = "orgs", responses((status = 200, body = Vec<Organization>)),
    security(("bearer" = [])))]
pub async fn list(
    state: web::Data<AppState>,
    user: AuthUser,
) -> ApiResult<web::Json<Vec<Organization>>> {
    let orgs = state.db.orgs_of(user.id).await?;
    Ok(web::Json(
        orgs.iter().map(|(o, r)| org_view(o, r)).collect(),
    ))
}

/// Creates an organization owned by the caller. Plans are granted on creation here;
/// billing is outside Qollab's scope, so any plan can be chosen (default free).
#[utoipa::path(post, path = "/api/orgs", tag = "orgs", request_body = CreateOrgRequest,
    responses((status = 201, body = Organization), (status = 422)), security(("bearer" = [])))]
pub async fn create(
    state: web::Data<AppState>,
    user: AuthUser,
    body: web::Json<CreateOrgRequest>,
) -> ApiResult<HttpResponse> {
    let name =
        validate::name(&body.name).map_err(|m| ApiError::invalid_fields(vec![("name", m)]))?;
    let org = state
        .db
        .create_org(user.id, &name, body.plan.unwrap_or(Plan::Free))
        .await?;
    Ok(HttpResponse::Created().json(org_view(&org, "owner")))
}

#[utoipa::path(get, path = "/api/orgs/{org_id}", tag = "orgs", params(("org_id" = Uuid, Path)),
    responses((status = 200, body = Organization), (status = 404)), security(("bearer" = [])))]
pub async fn get(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<String>,
) -> ApiResult<web::Json<Organization>> {
    let id = Uuid::parse_str(&path).map_err(|_| ApiError::not_found("organization"))?;
    match state.db.org_for(id, user.id).await? {
        Some((o, r)) => Ok(web::Json(org_view(&o, &r))),
        None => Err(ApiError::not_found("organization")),
    }
}
