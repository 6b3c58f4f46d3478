//! Assembling the actix-web application: shared state, body limits, error shapes,
//! middleware and every capability's routes.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::error::{JsonPayloadError, PathError, QueryPayloadError};
use actix_web::middleware::from_fn;
use actix_web::{App, HttpRequest, HttpServer, web};
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
}

impl AppState {
    /// Connects to the database and brings its schema up to date.
    pub async fn init(config: Config, db_opts: &DbOptions) -> anyhow::Result<Self> {
        let db = Db::connect(&config.database_url, db_opts).await?;
        db.migrate().await?;
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
        if let Some(inbound) = inbound {
            crate::fanout::dispatch(
                inbound,
                Arc::downgrade(&rooms),
                Arc::downgrade(&events),
                Arc::downgrade(&live),
            );
        }
        let backends = Arc::new(Backends::from_config(&config.jobs).await);
        let artifacts: Arc<dyn crate::jobs::artifacts::ArtifactStore> =
            Arc::new(LocalDir::new(config.data_dir.join("artifacts")));
        let executor = Executor::start(
            db.clone(),
            events.clone(),
            backends.clone(),
            artifacts.clone(),
            config.jobs.clone(),
        );
        let state = Self {
            jobs: Arc::new(Jobs {
                executor,
                backends,
                artifacts,
            }),
            events,
            rooms,
            live,
            fanout,
            keys: JwtKeys::new(&config.jwt_secret),
            auth_limiter: AuthLimiter::per_minute(config.auth_rate_per_minute),
            metrics: crate::ops::metrics_handle(),
            config: Arc::new(config),
            db,
        };
        crate::jobs::sessions::start(&state);
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
        JsonPayloadError::Deserialize(de) if de.is_data() => ApiError::new(
            ErrorCode::InvalidInput,
            format!("invalid request body: {de}"),
        ),
        JsonPayloadError::Deserialize(de) => {
            ApiError::new(ErrorCode::InvalidJson, format!("malformed JSON: {de}"))
        }
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

async fn not_found(req: HttpRequest) -> Result<actix_web::HttpResponse, ApiError> {
    Err(ApiError::new(
        ErrorCode::NotFound,
        format!("no route for {} {}", req.method(), req.path()),
    ))
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
        .app_data(web::QueryConfig::default().error_handler(query_error))
        .configure(crate::ops::configure)
        .configure(crate::auth::routes::configure)
        .configure(crate::orgs::configure)
        .configure(crate::workspaces::routes::configure)
        .configure(crate::docs::routes::configure)
        .configure(crate::docs::socket::configure)
        .configure(crate::events::socket::configure)
        .configure(crate::chat::configure)
        .configure(crate::jobs::routes::configure)
        .configure(crate::jobs::sessions::configure)
        .configure(crate::jobs::schedules::configure)
        .configure(crate::jobs::settings::configure);
}

/// Binds the HTTP server (port 0 picks a free port) and returns it with its address.
/// Actix stops it gracefully on SIGINT/SIGTERM: no new connections, in-flight requests
/// finish within the shutdown timeout.
pub fn bind(state: AppState) -> anyhow::Result<(Server, SocketAddr)> {
    let config = state.config.clone();
    let tcp_user_timeout = config.docs.idle_timeout;
    let server = HttpServer::new(move || {
        let state = state.clone();
        App::new()
            .wrap(from_fn(crate::ops::observe))
            .configure(|cfg| configure(&state, cfg))
            .default_service(web::to(not_found))
    })
    .shutdown_timeout(config.shutdown_timeout_secs)
    .client_request_timeout(Duration::from_secs(30))
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
