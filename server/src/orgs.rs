//! `/api/orgs`: organizations, their plans and quotas.

use actix_web::{HttpResponse, web};
use qollab_shared::api::{CreateOrgRequest, Organization, Plan, Quotas};
use qollab_shared::error::ErrorCode;
use qollab_shared::validate;
use uuid::Uuid;

use crate::app::AppState;
use crate::auth::AuthUser;
use crate::db::tables::organizations;
use crate::error::{ApiError, ApiResult};

pub fn configure(r: &mut crate::app::Routes) {
    r.get("/api/orgs", list)
        .post("/api/orgs", create)
        .get("/api/orgs/{org_id}", get);
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

/// The command an operator runs to change an organization's plan.
pub const SET_PLAN_COMMAND: &str = "qollab admin orgs set-plan ORG PLAN";

/// Creates an organization owned by the caller, always on the free plan: plans (and
/// so quotas) are the operator's decision (`qollab admin orgs set-plan`), so asking
/// for another plan is refused with 403. A user may create at most
/// `QOLLAB_MAX_ORGS_PER_USER` organizations besides their personal one (then 422
/// `quota_exceeded`).
#[utoipa::path(post, path = "/api/orgs", tag = "orgs", request_body = CreateOrgRequest,
    responses((status = 201, body = Organization), (status = 403, description = "a plan other than free was asked for"),
              (status = 422)), security(("bearer" = [])))]
pub async fn create(
    state: web::Data<AppState>,
    user: AuthUser,
    body: web::Json<CreateOrgRequest>,
) -> ApiResult<HttpResponse> {
    if let Some(plan) = body.plan.filter(|p| *p != Plan::Free) {
        return Err(ApiError::forbidden(format!(
            "organizations start on the free plan; the {} plan is granted by the server's operator (`{SET_PLAN_COMMAND}`)",
            plan.as_str()
        ))
        .with_details(serde_json::json!({"plan": plan.as_str()})));
    }
    let name = validate::name(&body.name).map_err(|m| ApiError::invalid_field("name", m))?;
    let max = state.config.max_orgs_per_user;
    let org = state
        .db
        .create_org(user.id, &name, Plan::Free, max)
        .await?
        .ok_or_else(|| {
            ApiError::new(
                ErrorCode::QuotaExceeded,
                format!(
                    "you have already created {max} organizations, the most one account may create on this server; delete one or ask the operator"
                ),
            )
            .with_details(serde_json::json!({"max_orgs_per_user": max}))
        })?;
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
