//! Assembling the actix-web application: shared state, body limits, error shapes,
//! middleware and every capability's routes.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::error::{JsonPayloadError, PathError, QueryPayloadError};
use actix_web::http::Method;
use actix_web::middleware::from_fn;
use actix_web::{App, FromRequest, Handler, HttpRequest, HttpServer, Responder, web};
use metrics_exporter_prometheus::PrometheusHandle;
use qollab_shared::error::ErrorCode;

use crate::auth::AuthLimiter;
use crate::auth::credentials::JwtKeys;
use crate::config::Config;
use crate::db::{Db, DbOptions};
use crate::docs::rooms::Rooms;
use crate::error::ApiError;
use crate::events::EventBus;
use crate::fanout::Fanout;
use crate::heavy::Heavy;
use crate::jobs::artifacts::LocalDir;
use crate::jobs::executor::Executor;
use crate::jobs::{Backends, Jobs};
use crate::live::Live;

/// Everything a handler may need; cloned cheaply into every worker.
#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    pub config: Arc<Config>,
    pub keys: JwtKeys,
    pub auth_limiter: AuthLimiter,
    pub metrics: PrometheusHandle,
    pub rooms: Arc<Rooms>,
    pub events: Arc<EventBus>,
    /// Every live socket, bound to what authorized it (revocation closes them).
    pub live: Arc<Live>,
    pub jobs: Arc<Jobs>,
    /// How live changes reach the other processes (in-process only by default).
    pub fanout: Fanout,
    /// Seals and opens stored third-party secrets.
    pub secrets: Arc<crate::secrets::Secrets>,
    /// CPU-heavy request work: bounded, on the blocking pool, with a deadline.
    pub heavy: Heavy,
    /// The AI provider and the answers streaming in this process.
    pub ai: Arc<crate::ai::Ai>,
    /// Achievements, points and levels (this process's event consumer).
    pub progress: Arc<crate::progress::Progress>,
    /// Each person's inbox, live stream and digest (an event consumer too).
    pub notifications: Arc<crate::notifications::Notifications>,
}

/// Secures the data dir and the SQLite file (0700/0600, tightening older ones with a
/// log line), loads the secret key, connects, applies migrations and seals IBM keys
/// still stored in plain text. The server and the admin commands open storage this way.
pub async fn open_storage(
    config: &Config,
    db_opts: &DbOptions,
) -> anyhow::Result<(Db, Arc<crate::secrets::Secrets>)> {
    let mut tightened = crate::secrets::secure_data_dir(&config.data_dir)?;
    tightened.extend(crate::secrets::secure_sqlite(&config.database_url)?);
    for t in &tightened {
        tracing::warn!(change = %t, "restricted a file readable by other users to its owner");
    }
    let secrets = crate::secrets::Secrets::load(
        config.secret_key.as_deref(),
        config.secret_key_previous.as_deref(),
        &config.data_dir,
    )?;
    if secrets.source == crate::secrets::KeySource::Generated {
        tracing::warn!(
            "QOLLAB_SECRET_KEY is not set: generated one into {}; set it explicitly when running several processes, and back it up (stored IBM keys cannot be read without it)",
            config.data_dir.join(crate::secrets::KEY_FILE).display()
        );
    }
    let db = Db::connect(&config.database_url, db_opts).await?;
    db.migrate().await?;
    let sealed = db
        .reseal_ibm_keys(&secrets, true)
        .await
        .map_err(|e| anyhow::anyhow!("sealing stored IBM keys: {e}"))?;
    if sealed.resealed > 0 {
        tracing::info!(
            count = sealed.resealed,
            key_id = secrets.current_id(),
            "encrypted workspace IBM keys that were stored in plain text"
        );
    }
    Ok((db, Arc::new(secrets)))
}

impl AppState {
    /// Connects to the database and brings its schema up to date.
    pub async fn init(config: Config, db_opts: &DbOptions) -> anyhow::Result<Self> {
        let (db, secrets) = open_storage(&config, db_opts).await?;
        let (fanout, inbound) =
            crate::fanout::start(config.redis_url.as_deref(), &config.redis_prefix)?;
        let events = EventBus::start(db.clone(), config.event_retention, fanout.clone());
        let live = Live::start(db.clone(), fanout.clone(), config.docs.recheck_every);
        live.install();
        let rooms = Rooms::start(
            db.clone(),
            config.docs.clone(),
            fanout.clone(),
            live.clone(),
        );
        let notifications = crate::notifications::Notifications::start(
            db.clone(),
            &events,
            fanout.clone(),
            &config.notify,
        )?;
        if let Some(inbound) = inbound {
            crate::fanout::dispatch(
                inbound,
                Arc::downgrade(&rooms),
                Arc::downgrade(&events),
                Arc::downgrade(&live),
                Arc::downgrade(&notifications),
            );
        }
        let backends = Arc::new(Backends::from_config(&config.jobs, secrets.clone()).await);
        let artifacts: Arc<dyn crate::jobs::artifacts::ArtifactStore> =
            Arc::new(LocalDir::new(config.data_dir.join("artifacts")));
        let executor = Executor::start(
            db.clone(),
            events.clone(),
            backends.clone(),
            artifacts.clone(),
            config.jobs.clone(),
        );
        let intake = crate::jobs::intake::Intake::start(
            db.clone(),
            events.clone(),
            executor.clone(),
            config.jobs.queue_per_slot,
        );
        let progress = crate::progress::Progress::start(db.clone(), events.clone());
        let state = Self {
            progress,
            notifications,
            jobs: Arc::new(Jobs {
                executor,
                intake,
                backends,
                artifacts,
            }),
            events,
            rooms,
            live,
            fanout,
            keys: JwtKeys::new(&config.jwt_secret),
            auth_limiter: AuthLimiter::per_minute(
                config.auth_rate_per_minute,
                config.auth_ip_rate_per_minute,
            ),
            heavy: Heavy::new(config.heavy_concurrency, config.heavy_timeout),
            ai: Arc::new(crate::ai::Ai::new(config.ai.clone())),
            secrets,
            metrics: crate::ops::metrics_handle(),
            config: Arc::new(config),
            db,
        };
        crate::jobs::sessions::start(&state);
        crate::db::queries::rollups::start_folding(state.db.clone());
        // Every job failure this process records gets its automatic AI analysis.
        let (failed_tx, failed_rx) = tokio::sync::mpsc::channel(1024);
        state.jobs.executor.on_failure(failed_tx);
        crate::ai::analysis::follow_failures(state.clone(), failed_rx);
        Ok(state)
    }
}

fn json_error(err: JsonPayloadError, _: &HttpRequest) -> actix_web::Error {
    let e = match &err {
        JsonPayloadError::OverflowKnownLength { limit, .. }
        | JsonPayloadError::Overflow { limit } => ApiError::new(
            ErrorCode::PayloadTooLarge,
            format!("request body is larger than the {limit}-byte limit"),
        ),
        JsonPayloadError::ContentType => ApiError::new(
            ErrorCode::InvalidJson,
            "expected a JSON body with `Content-Type: application/json`",
        ),
        JsonPayloadError::Deserialize(de) => ApiError::json_body(de),
        other => ApiError::new(ErrorCode::InvalidJson, format!("unreadable body: {other}")),
    };
    e.into()
}

fn path_error(err: PathError, _: &HttpRequest) -> actix_web::Error {
    ApiError::new(ErrorCode::NotFound, format!("no such resource: {err}")).into()
}

fn query_error(err: QueryPayloadError, _: &HttpRequest) -> actix_web::Error {
    ApiError::new(
        ErrorCode::InvalidInput,
        format!("invalid query string: {err}"),
    )
    .into()
}

pub(crate) async fn not_found(req: HttpRequest) -> Result<actix_web::HttpResponse, ApiError> {
    Err(ApiError::new(
        ErrorCode::NotFound,
        format!("no route for {} {}", req.method(), req.path()),
    ))
}

/// Every route the app serves is registered through this recorder, so that the route
/// table can be listed ([`route_table`]) and checked against the authorization matrix
/// test: a route cannot be added without the test knowing.
pub struct Routes<'a> {
    cfg: Option<&'a mut web::ServiceConfig>,
    table: Vec<(Method, &'static str, &'static str)>,
}

impl Routes<'_> {
    pub fn add<F, Args>(&mut self, method: Method, path: &'static str, handler: F) -> &mut Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.table
            .push((method.clone(), path, std::any::type_name::<F>()));
        if let Some(cfg) = self.cfg.as_deref_mut() {
            cfg.route(path, web::method(method).to(handler));
        }
        self
    }

    pub fn get<F, Args>(&mut self, path: &'static str, handler: F) -> &mut Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.add(Method::GET, path, handler)
    }

    pub fn post<F, Args>(&mut self, path: &'static str, handler: F) -> &mut Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.add(Method::POST, path, handler)
    }

    pub fn put<F, Args>(&mut self, path: &'static str, handler: F) -> &mut Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.add(Method::PUT, path, handler)
    }

    pub fn patch<F, Args>(&mut self, path: &'static str, handler: F) -> &mut Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.add(Method::PATCH, path, handler)
    }

    pub fn delete<F, Args>(&mut self, path: &'static str, handler: F) -> &mut Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.add(Method::DELETE, path, handler)
    }
}

/// Every capability's routes, in matching order.
fn register(r: &mut Routes) {
    crate::ops::configure(r);
    crate::auth::routes::configure(r);
    crate::orgs::configure(r);
    crate::workspaces::routes::configure(r);
    crate::docs::routes::configure(r);
    crate::docs::socket::configure(r);
    crate::events::socket::configure(r);
    crate::events::routes::configure(r);
    crate::chat::configure(r);
    crate::jobs::routes::configure(r);
    crate::jobs::sessions::configure(r);
    crate::jobs::schedules::configure(r);
    crate::jobs::settings::configure(r);
    crate::ai::configure(r);
    crate::quest::configure(r);
    crate::progress::configure(r);
    crate::analytics::configure(r);
    crate::notifications::configure(r);
}

/// Every (method, path pattern, handler path) the app serves.
fn routes() -> Vec<(Method, &'static str, &'static str)> {
    let mut r = Routes {
        cfg: None,
        table: Vec::new(),
    };
    register(&mut r);
    r.table
}

/// Every (method, path pattern) the app serves.
pub fn route_table() -> Vec<(Method, &'static str)> {
    routes().into_iter().map(|(m, p, _)| (m, p)).collect()
}

/// Every route's OpenAPI `operationId`: its handler's module path in the crate, without
/// `routes` (`jobs::sessions::get` → `jobs_sessions_get`). Rust paths are unique, so the
/// ids are too (OpenAPI requires it: generated clients name methods after them, and one
/// `get` per tag silently replaced another), and a handler keeps its id while others come
/// and go.
pub fn operation_ids() -> Vec<(Method, &'static str, String)> {
    routes()
        .into_iter()
        .map(|(m, p, handler)| (m, p, operation_id(handler)))
        .collect()
}

fn operation_id(handler: &str) -> String {
    handler
        .split("::")
        .skip(1)
        .filter(|s| *s != "routes")
        .collect::<Vec<_>>()
        .join("_")
}

/// Registers every route; the one place that knows the whole API surface.
pub fn configure(state: &AppState, cfg: &mut web::ServiceConfig) {
    let limit = state.config.max_body_bytes;
    cfg.app_data(web::Data::new(state.clone()))
        .app_data(
            web::JsonConfig::default()
                .limit(limit)
                .error_handler(json_error),
        )
        .app_data(web::PayloadConfig::new(limit))
        .app_data(web::PathConfig::default().error_handler(path_error))
        .app_data(web::QueryConfig::default().error_handler(query_error));
    register(&mut Routes {
        cfg: Some(cfg),
        table: Vec::new(),
    });
}

/// Cross-origin access for the configured origins only (`QOLLAB_CORS_ORIGINS`): bearer
/// tokens in the `Authorization` header, no cookies, so credentials mode stays off.
fn cors(origins: &[String]) -> actix_cors::Cors {
    use actix_web::http::header;
    origins
        .iter()
        .fold(actix_cors::Cors::default(), |c, o| c.allowed_origin(o))
        .allowed_methods(["GET", "POST", "PUT", "PATCH", "DELETE"])
        .allowed_headers([header::AUTHORIZATION, header::CONTENT_TYPE, header::ACCEPT])
        .allowed_header("x-request-id")
        .expose_headers([header::CONTENT_DISPOSITION, header::RETRY_AFTER])
        .expose_headers(["x-request-id"])
        .max_age(3600)
}

/// Binds the HTTP server (port 0 picks a free port) and returns it with its address.
/// Actix stops it gracefully on SIGINT/SIGTERM: no new connections, in-flight requests
/// finish within the shutdown timeout.
pub fn bind(state: AppState) -> anyhow::Result<(Server, SocketAddr)> {
    let config = state.config.clone();
    let tcp_user_timeout = config.docs.idle_timeout;
    let server = HttpServer::new(move || {
        let state = state.clone();
        let cors_on = !state.config.cors_origins.is_empty();
        App::new()
            .wrap(actix_web::middleware::Condition::new(
                cors_on,
                cors(&state.config.cors_origins),
            ))
            .wrap(from_fn(crate::ops::observe))
            .configure(|cfg| configure(&state, cfg))
            .default_service(web::to(crate::web::fallback))
    })
    .shutdown_timeout(config.shutdown_timeout_secs)
    .client_request_timeout(Duration::from_secs(30))
    .keep_alive(Duration::from_secs(
        qollab_shared::api::SERVER_KEEP_ALIVE_SECS,
    ))
    // actix leaves Nagle's algorithm on: a relayed edit or an event (a small write) could
    // wait for the peer's delayed ACK of the one before.
    .tcp_nodelay(true)
    .on_connect(move |conn, _| {
        // A client that stops reading shuts its receive window, and a vanished one stops
        // acknowledging: without a user timeout the kernel keeps probing forever, and actix
        // holds the connection and its write buffer as long as unsent bytes remain. The
        // sockets' own heartbeat timeout bounds both.
        if let Some(tcp) = conn.downcast_ref::<actix_web::rt::net::TcpStream>() {
            let _ = socket2::SockRef::from(tcp).set_tcp_user_timeout(Some(tcp_user_timeout));
        }
    });
    let server = if config.workers > 0 {
        server.workers(config.workers)
    } else {
        server
    };
    let server = server.bind(config.bind)?;
    let addr = server
        .addrs()
        .first()
        .copied()
        .ok_or_else(|| anyhow::anyhow!("bound to no address"))?;
    Ok((server.run(), addr))
}
