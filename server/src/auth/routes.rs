//! `/api/auth/*`, `/api/me` and `/api/tokens`.

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::Duration;
use qollab_shared::api::{
    ApiToken, AuthResponse, CreateTokenRequest, CreatedApiToken, LoginRequest, LogoutRequest, Me,
    RefreshRequest, RegisterRequest, UpdateMeRequest, User,
};
use qollab_shared::error::ErrorCode;
use qollab_shared::validate;
use uuid::Uuid;

use super::credentials::{self, API_TOKEN_PREFIX, REFRESH_TOKEN_PREFIX};
use super::{AuthUser, Bucket, Credential, client_ip};
use crate::app::AppState;
use crate::db::queries::audit::AuditEntry;
use crate::db::queries::tokens::Rotation;
use crate::db::tables::{api_tokens, users};
use crate::error::{ApiError, ApiResult};
use crate::orgs::org_view;

pub fn configure(r: &mut crate::app::Routes) {
    r.post("/api/auth/register", register)
        .post("/api/auth/login", login)
        .post("/api/auth/refresh", refresh)
        .post("/api/auth/logout", logout)
        .get("/api/me", me)
        .patch("/api/me", update_me)
        .post("/api/tokens", create_token)
        .get("/api/tokens", list_tokens)
        .delete("/api/tokens/{token_id}", delete_token);
}

pub fn user_view(u: &users::Model) -> User {
    User {
        id: u.id,
        email: u.email.clone(),
        name: u.name.clone(),
        created_at: u.created_at,
        leaderboard_public: u.leaderboard_public,
        time_zone: u.time_zone.clone(),
    }
}

fn token_view(t: &api_tokens::Model) -> ApiToken {
    ApiToken {
        id: t.id,
        name: t.name.clone(),
        prefix: t.prefix.clone(),
        created_at: t.created_at,
        last_used_at: t.last_used_at,
    }
}

fn ip_string(req: &HttpRequest) -> Option<String> {
    client_ip(req).map(|ip| ip.to_string())
}

/// Runs a CPU-heavy closure (argon2) off the actix workers.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> ApiResult<T> {
    web::block(f).await.map_err(|_| ApiError::internal())
}

async fn issue_tokens(state: &AppState, user: &users::Model) -> ApiResult<AuthResponse> {
    let refresh = format!("{REFRESH_TOKEN_PREFIX}{}", credentials::random_secret(48));
    let session = state
        .db
        .create_session(
            user.id,
            &credentials::hash_secret(&refresh),
            Duration::seconds(state.config.refresh_token_ttl_secs),
        )
        .await?;
    let access = state
        .keys
        .issue(user.id, session, state.config.access_token_ttl_secs)
        .map_err(|e| {
            tracing::error!(error = %e, "signing an access token");
            ApiError::internal()
        })?;
    Ok(AuthResponse {
        user: user_view(user),
        access_token: access,
        refresh_token: refresh,
        expires_in: state.config.access_token_ttl_secs,
        token_type: "Bearer".into(),
    })
}

#[utoipa::path(post, path = "/api/auth/register", tag = "auth", request_body = RegisterRequest,
    responses((status = 201, body = AuthResponse), (status = 409, body = qollab_shared::error::ErrorBody),
              (status = 422, body = qollab_shared::error::ErrorBody), (status = 429)))]
pub async fn register(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Json<RegisterRequest>,
) -> ApiResult<HttpResponse> {
    state
        .auth_limiter
        .check(&req, Bucket::Credentials, Some(&body.email))?;
    let b = body.into_inner();
    let mut problems = Vec::new();
    let email = validate::email(&b.email)
        .map_err(|m| problems.push(("email", m)))
        .ok();
    let _ = validate::password(&b.password).map_err(|m| problems.push(("password", m)));
    let name = validate::name(&b.name)
        .map_err(|m| problems.push(("name", m)))
        .ok();
    let (Some(email), Some(name), true) = (email, name, problems.is_empty()) else {
        return Err(ApiError::invalid_fields(problems));
    };
    if state.db.user_by_email(&email).await?.is_some() {
        return Err(ApiError::new(
            ErrorCode::EmailTaken,
            "an account with this email already exists; log in instead",
        )
        .with_details(serde_json::json!({"email": "already registered"})));
    }
    let password = b.password;
    let hash = blocking(move || credentials::hash_password(&password))
        .await?
        .map_err(|e| {
            tracing::error!(error = %e, "hashing a password");
            ApiError::internal()
        })?;
    let (user, _org) = state.db.create_user(&email, &name, &hash).await?;
    state
        .db
        .audit(AuditEntry {
            actor: Some(user.id),
            action: "user.registered",
            target_type: "user",
            target_id: user.id.to_string(),
            ip: ip_string(&req),
            details: serde_json::Value::Null,
        })
        .await?;
    let tokens = issue_tokens(&state, &user).await?;
    Ok(HttpResponse::Created().json(tokens))
}

#[utoipa::path(post, path = "/api/auth/login", tag = "auth", request_body = LoginRequest,
    responses((status = 200, body = AuthResponse), (status = 401, body = qollab_shared::error::ErrorBody), (status = 429)))]
pub async fn login(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Json<LoginRequest>,
) -> ApiResult<HttpResponse> {
    state
        .auth_limiter
        .check(&req, Bucket::Credentials, Some(&body.email))?;
    let b = body.into_inner();
    let user = match validate::email(&b.email) {
        Ok(email) => state.db.user_by_email(&email).await?,
        Err(_) => None,
    };
    let hash = user
        .as_ref()
        .map(|u| u.password_hash.clone())
        .unwrap_or_else(|| credentials::decoy_hash().to_string());
    let password = b.password;
    let ok = blocking(move || credentials::verify_password(&password, &hash)).await?;
    let (Some(user), true) = (user, ok) else {
        state
            .db
            .audit(AuditEntry {
                actor: None,
                action: "user.login_failed",
                target_type: "email",
                target_id: b.email.chars().take(254).collect(),
                ip: ip_string(&req),
                details: serde_json::Value::Null,
            })
            .await?;
        return Err(ApiError::new(
            ErrorCode::InvalidCredentials,
            "email or password is incorrect",
        ));
    };
    state
        .db
        .audit(AuditEntry {
            actor: Some(user.id),
            action: "user.logged_in",
            target_type: "user",
            target_id: user.id.to_string(),
            ip: ip_string(&req),
            details: serde_json::Value::Null,
        })
        .await?;
    Ok(HttpResponse::Ok().json(issue_tokens(&state, &user).await?))
}

#[utoipa::path(post, path = "/api/auth/refresh", tag = "auth", request_body = RefreshRequest,
    responses((status = 200, body = AuthResponse), (status = 401, body = qollab_shared::error::ErrorBody)))]
pub async fn refresh(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Json<RefreshRequest>,
) -> ApiResult<HttpResponse> {
    let old = credentials::hash_secret(body.refresh_token.trim());
    state
        .auth_limiter
        .check(&req, Bucket::Refresh, Some(&old))?;
    let new_refresh = format!("{REFRESH_TOKEN_PREFIX}{}", credentials::random_secret(48));
    let ttl = Duration::seconds(state.config.refresh_token_ttl_secs);
    match state
        .db
        .rotate_refresh(&old, &credentials::hash_secret(&new_refresh), ttl)
        .await?
    {
        Rotation::Rotated {
            user_id,
            session_id,
        } => {
            let user = state
                .db
                .user(user_id)
                .await?
                .ok_or_else(|| ApiError::invalid_token("account no longer exists"))?;
            let access = state
                .keys
                .issue(user_id, session_id, state.config.access_token_ttl_secs)
                .map_err(|_| ApiError::internal())?;
            Ok(HttpResponse::Ok().json(AuthResponse {
                user: user_view(&user),
                access_token: access,
                refresh_token: new_refresh,
                expires_in: state.config.access_token_ttl_secs,
                token_type: "Bearer".into(),
            }))
        }
        Rotation::Invalid => Err(ApiError::invalid_token(
            "refresh token unknown, expired or its session ended; log in again",
        )),
        Rotation::Reused => {
            tracing::warn!("refresh token reuse detected; session revoked");
            Err(ApiError::invalid_token(
                "refresh token was already used; the session has been ended for safety, log in again",
            ))
        }
    }
}

#[utoipa::path(post, path = "/api/auth/logout", tag = "auth", request_body = LogoutRequest,
    responses((status = 204), (status = 401, body = qollab_shared::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn logout(
    state: web::Data<AppState>,
    user: AuthUser,
    req: HttpRequest,
    body: Option<web::Json<LogoutRequest>>,
) -> ApiResult<HttpResponse> {
    let refresh = body.and_then(|b| b.into_inner().refresh_token);
    match (refresh, user.credential) {
        (Some(r), _) => {
            let hash = credentials::hash_secret(r.trim());
            match state.db.session_of_refresh(user.id, &hash).await? {
                Some(sid) => state.db.revoke_session(sid).await?,
                None => return Err(ApiError::invalid_token("unknown refresh token")),
            }
        }
        (None, Credential::Session(sid)) => state.db.revoke_session(sid).await?,
        (None, Credential::ApiToken(_)) => state.db.revoke_all_sessions(user.id).await?,
    }
    state
        .db
        .audit(AuditEntry {
            actor: Some(user.id),
            action: "user.logged_out",
            target_type: "user",
            target_id: user.id.to_string(),
            ip: ip_string(&req),
            details: serde_json::Value::Null,
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

#[utoipa::path(get, path = "/api/me", tag = "auth", responses((status = 200, body = Me), (status = 401)),
    security(("bearer" = [])))]
pub async fn me(state: web::Data<AppState>, user: AuthUser) -> ApiResult<web::Json<Me>> {
    let u = state
        .db
        .user(user.id)
        .await?
        .ok_or_else(|| ApiError::invalid_token("account no longer exists"))?;
    let orgs = state.db.orgs_of(user.id).await?;
    Ok(web::Json(Me {
        user: user_view(&u),
        organizations: orgs.iter().map(|(o, r)| org_view(o, r)).collect(),
    }))
}

#[utoipa::path(patch, path = "/api/me", tag = "auth", request_body = UpdateMeRequest,
    responses((status = 200, body = Me), (status = 401), (status = 422)), security(("bearer" = [])))]
pub async fn update_me(
    state: web::Data<AppState>,
    user: AuthUser,
    body: web::Json<UpdateMeRequest>,
) -> ApiResult<web::Json<Me>> {
    let name = match &body.name {
        Some(n) => Some(validate::name(n).map_err(|m| ApiError::invalid_field("name", m))?),
        None => None,
    };
    // Stored as the canonical IANA name; "" goes back to UTC.
    let time_zone = match body.time_zone.as_deref().map(str::trim) {
        None => None,
        Some("") => Some(None),
        Some(tz) => Some(Some(
            qollab_shared::progress::parse_time_zone(tz)
                .map_err(|m| ApiError::invalid_field("time_zone", m))?
                .name()
                .to_string(),
        )),
    };
    state
        .db
        .update_user(user.id, name, body.leaderboard_public, time_zone)
        .await?;
    me(state, user).await
}

#[utoipa::path(post, path = "/api/tokens", tag = "tokens", request_body = CreateTokenRequest,
    responses((status = 201, body = CreatedApiToken), (status = 422)), security(("bearer" = [])))]
pub async fn create_token(
    state: web::Data<AppState>,
    user: AuthUser,
    req: HttpRequest,
    body: web::Json<CreateTokenRequest>,
) -> ApiResult<HttpResponse> {
    let name = validate::name(&body.name).map_err(|m| ApiError::invalid_field("name", m))?;
    let secret = format!("{API_TOKEN_PREFIX}{}", credentials::random_secret(40));
    let prefix: String = secret.chars().take(API_TOKEN_PREFIX.len() + 6).collect();
    let t = state
        .db
        .create_api_token(user.id, &name, &prefix, &credentials::hash_secret(&secret))
        .await?;
    state
        .db
        .audit(AuditEntry {
            actor: Some(user.id),
            action: "api_token.created",
            target_type: "api_token",
            target_id: t.id.to_string(),
            ip: ip_string(&req),
            details: serde_json::json!({"name": name}),
        })
        .await?;
    Ok(HttpResponse::Created().json(CreatedApiToken {
        token: token_view(&t),
        secret,
    }))
}

#[utoipa::path(get, path = "/api/tokens", tag = "tokens", responses((status = 200, body = Vec<ApiToken>)),
    security(("bearer" = [])))]
pub async fn list_tokens(
    state: web::Data<AppState>,
    user: AuthUser,
) -> ApiResult<web::Json<Vec<ApiToken>>> {
    let list = state.db.api_tokens(user.id).await?;
    Ok(web::Json(list.iter().map(token_view).collect()))
}

#[utoipa::path(delete, path = "/api/tokens/{token_id}", tag = "tokens",
    params(("token_id" = Uuid, Path)), responses((status = 204), (status = 404)), security(("bearer" = [])))]
pub async fn delete_token(
    state: web::Data<AppState>,
    user: AuthUser,
    req: HttpRequest,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let id = Uuid::parse_str(&path).map_err(|_| ApiError::not_found("API token"))?;
    if !state.db.delete_api_token(user.id, id).await? {
        return Err(ApiError::not_found("API token"));
    }
    state
        .db
        .audit(AuditEntry {
            actor: Some(user.id),
            action: "api_token.revoked",
            target_type: "api_token",
            target_id: id.to_string(),
            ip: ip_string(&req),
            details: serde_json::Value::Null,
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
