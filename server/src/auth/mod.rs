//! Who is calling: the `AuthUser` extractor (JWT or API token), credentials, and the
//! identity routes.

pub mod credentials;
pub mod routes;

use std::future::Future;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::pin::Pin;
use std::sync::Arc;

use actix_web::{FromRequest, HttpRequest, dev::Payload, web};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use uuid::Uuid;

use crate::app::AppState;
use crate::error::{ApiError, ApiResult};
use credentials::API_TOKEN_PREFIX;

/// How the caller proved who they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credential {
    Session(Uuid),
    ApiToken(Uuid),
}

/// An authenticated caller. Extracting it from a request authenticates the request.
#[derive(Debug, Clone, Copy)]
pub struct AuthUser {
    pub id: Uuid,
    pub credential: Credential,
}

impl AuthUser {
    /// Authenticates a bearer secret: a JWT whose session is live, or an API token.
    pub async fn from_token(state: &AppState, token: &str) -> ApiResult<AuthUser> {
        if token.starts_with(API_TOKEN_PREFIX) {
            let hash = credentials::hash_secret(token);
            return match state.db.use_api_token(&hash).await? {
                Some(t) => Ok(AuthUser {
                    id: t.user_id,
                    credential: Credential::ApiToken(t.id),
                }),
                None => Err(ApiError::invalid_token("unknown or revoked API token")),
            };
        }
        let claims = state.keys.verify(token).map_err(ApiError::invalid_token)?;
        if !state.db.session_is_live(claims.sid, claims.sub).await? {
            return Err(ApiError::invalid_token("session ended; log in again"));
        }
        Ok(AuthUser {
            id: claims.sub,
            credential: Credential::Session(claims.sid),
        })
    }
}

/// The bearer secret of a request: the `Authorization` header, or `?token=` (browsers
/// cannot set headers on WebSocket upgrades).
pub fn bearer(req: &HttpRequest) -> Option<String> {
    if let Some(h) = req.headers().get(actix_web::http::header::AUTHORIZATION) {
        let v = h.to_str().ok()?.trim();
        let (scheme, token) = v.split_once(' ')?;
        return scheme
            .eq_ignore_ascii_case("bearer")
            .then(|| token.trim().to_string());
    }
    web::Query::<std::collections::HashMap<String, String>>::from_query(req.query_string())
        .ok()
        .and_then(|q| q.get("token").cloned())
}

impl FromRequest for AuthUser {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = ApiResult<Self>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let token = bearer(req);
        Box::pin(async move {
            let state = state.ok_or_else(ApiError::internal)?;
            match token {
                Some(t) if !t.is_empty() => AuthUser::from_token(&state, &t).await,
                _ => Err(ApiError::unauthenticated()),
            }
        })
    }
}

/// The caller's IP, as seen on the socket (proxies' headers are not trusted).
pub fn client_ip(req: &HttpRequest) -> Option<IpAddr> {
    req.peer_addr().map(|a| a.ip())
}

/// Per-IP limiter for the credential endpoints.
#[derive(Clone)]
pub struct AuthLimiter(Arc<DefaultKeyedRateLimiter<IpAddr>>);

impl AuthLimiter {
    pub fn per_minute(n: u32) -> Self {
        let n = NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN);
        Self(Arc::new(RateLimiter::keyed(Quota::per_minute(n))))
    }

    pub fn check(&self, req: &HttpRequest) -> ApiResult<()> {
        let Some(ip) = client_ip(req) else {
            return Ok(());
        };
        self.0.check_key(&ip).map_err(|not_until| {
            let wait = not_until.wait_time_from(governor::clock::Clock::now(
                &governor::clock::DefaultClock::default(),
            ));
            ApiError::rate_limited(wait.as_secs_f64().ceil() as u64)
        })
    }
}
