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

/// Prefix of per-document connection tokens (`POST /api/docs/{id}/connect`).
pub const DOC_TOKEN_PREFIX: &str = "qld_";

/// How long a document connection token opens its socket. The socket, once open, lives
/// as long as the credential that asked for the token (revocation closes it).
pub const DOC_TOKEN_TTL_SECS: i64 = 300;

impl AuthUser {
    /// A connection token for `doc`, bound to this caller's credential, capped at `role`.
    pub fn doc_token(
        &self,
        state: &AppState,
        doc: Uuid,
        role: qollab_shared::api::Role,
    ) -> ApiResult<(String, chrono::DateTime<chrono::Utc>)> {
        let now = chrono::Utc::now();
        let exp = now + chrono::Duration::seconds(DOC_TOKEN_TTL_SECS);
        let (sid, tid) = match self.credential {
            Credential::Session(s) => (Some(s), None),
            Credential::ApiToken(t) => (None, Some(t)),
        };
        let claims = credentials::DocClaims {
            sub: self.id,
            doc,
            sid,
            tid,
            role,
            iat: now.timestamp(),
            exp: exp.timestamp(),
            typ: credentials::DOC_TOKEN_TYPE.into(),
        };
        let jwt = state.keys.issue_doc(&claims).map_err(|e| {
            tracing::error!(error = %e, "signing a document token");
            ApiError::internal()
        })?;
        Ok((format!("{DOC_TOKEN_PREFIX}{jwt}"), exp))
    }

    /// Authenticates the secret of a document socket: an access or API token, or a
    /// connection token for this very document (whose credential must still be live).
    /// Returns the caller and the highest role the token allows.
    pub async fn for_doc_socket(
        state: &AppState,
        token: &str,
        doc: Uuid,
    ) -> ApiResult<(AuthUser, qollab_shared::api::Role)> {
        let Some(jwt) = token.strip_prefix(DOC_TOKEN_PREFIX) else {
            let user = AuthUser::from_token(state, token).await?;
            return Ok((user, qollab_shared::api::Role::Owner));
        };
        let claims = state
            .keys
            .verify_doc(jwt)
            .map_err(ApiError::invalid_token)?;
        if claims.doc != doc {
            return Err(ApiError::invalid_token(
                "this connection token is for another document",
            ));
        }
        let credential = match (claims.sid, claims.tid) {
            (Some(s), None) => Credential::Session(s),
            (None, Some(t)) => Credential::ApiToken(t),
            _ => return Err(ApiError::invalid_token("malformed token")),
        };
        let live = match credential {
            Credential::Session(s) => state.db.session_is_live(s, claims.sub).await?,
            Credential::ApiToken(t) => state.db.api_token_is_live(t, claims.sub).await?,
        };
        if !live {
            return Err(ApiError::invalid_token(
                "the credential this token was issued to has ended; log in again",
            ));
        }
        let user = AuthUser {
            id: claims.sub,
            credential,
        };
        Ok((user, claims.role))
    }
}

/// The bearer secret of a request: the `Authorization` header, or, on socket upgrades
/// (`/ws/...`) only, `?token=` (browsers cannot set headers on WebSocket upgrades).
/// Everywhere else a token in the URL is ignored: URLs end up in logs, proxies and
/// browser history.
pub fn bearer(req: &HttpRequest) -> Option<String> {
    if let Some(t) = header_bearer(req) {
        return Some(t);
    }
    if !req.path().starts_with("/ws/") {
        return None;
    }
    web::Query::<std::collections::HashMap<String, String>>::from_query(req.query_string())
        .ok()
        .and_then(|q| q.get("token").cloned())
}

/// The `Authorization: Bearer …` header's secret.
pub fn header_bearer(req: &HttpRequest) -> Option<String> {
    let v = req
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .trim();
    let (scheme, token) = v.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_string())
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

/// Which per-IP bucket a credential request draws from: password checks (register,
/// login) and refreshes are counted apart, so that many clients refreshing behind one
/// address do not lock its users out of logging in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Bucket {
    Credentials,
    Refresh,
}

type Keyed<K> = Arc<DefaultKeyedRateLimiter<K>>;

/// Limiter for the credential endpoints: one bucket per client IP (and kind of
/// request), and one per account (the e-mail address of a login or registration, the
/// session of a refresh token), so that neither one address nor many addresses
/// against one account can go beyond their rate.
#[derive(Clone)]
pub struct AuthLimiter {
    per_ip: Keyed<(IpAddr, Bucket)>,
    per_account: Keyed<String>,
}

/// Keys kept by each limiter before idle ones are dropped.
const MAX_KEYS: usize = 100_000;

fn too_many(not_until: governor::NotUntil<governor::clock::QuantaInstant>) -> ApiError {
    let wait = not_until.wait_time_from(governor::clock::Clock::now(
        &governor::clock::DefaultClock::default(),
    ));
    ApiError::rate_limited(wait.as_secs_f64().ceil() as u64)
}

impl AuthLimiter {
    /// `per_account` and `per_ip` requests per minute.
    pub fn per_minute(per_account: u32, per_ip: u32) -> Self {
        let q = |n: u32| Quota::per_minute(NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN));
        Self {
            per_ip: Arc::new(RateLimiter::keyed(q(per_ip))),
            per_account: Arc::new(RateLimiter::keyed(q(per_account))),
        }
    }

    /// Draws one request from the caller's IP bucket and, when the account is known,
    /// from its bucket; 429 with `Retry-After` when either is empty.
    pub fn check(&self, req: &HttpRequest, bucket: Bucket, account: Option<&str>) -> ApiResult<()> {
        if self.per_ip.len() > MAX_KEYS {
            self.per_ip.retain_recent();
        }
        if self.per_account.len() > MAX_KEYS {
            self.per_account.retain_recent();
        }
        if let Some(ip) = client_ip(req) {
            self.per_ip.check_key(&(ip, bucket)).map_err(too_many)?;
        }
        if let Some(account) = account {
            let key = format!(
                "{bucket:?}:{}",
                account
                    .trim()
                    .to_lowercase()
                    .chars()
                    .take(320)
                    .collect::<String>()
            );
            self.per_account.check_key(&key).map_err(too_many)?;
        }
        Ok(())
    }
}
