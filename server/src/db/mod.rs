//! The database: one `Db` handle over SQLite or PostgreSQL. Entities live in
//! `tables/`, queries grouped by capability in `queries/`.

pub mod queries;
pub mod tables;

use std::time::Duration;

use anyhow::Context;
use qollab_migrations::{Migrator, MigratorTrait};
use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseBackend, DatabaseConnection};

#[derive(Clone, Debug)]
pub struct Db {
    pub conn: DatabaseConnection,
    /// Told about every committed revocation (see [`Db::revoked`]).
    revocations: RevokeHook,
}

type RevokeFn = Box<dyn Fn(crate::live::Revocation) + Send + Sync>;

/// Who hears of revocations: live connections (`crate::live`), installed once at start-up.
#[derive(Clone, Default)]
struct RevokeHook(std::sync::Arc<std::sync::OnceLock<RevokeFn>>);

impl std::fmt::Debug for RevokeHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RevokeHook")
    }
}

/// Options beyond the URL, mostly for tests (a PostgreSQL schema per test).
#[derive(Clone, Debug, Default)]
pub struct DbOptions {
    pub pg_schema: Option<String>,
    pub max_connections: Option<u32>,
}

impl Db {
    pub async fn connect(url: &str, opts: &DbOptions) -> anyhow::Result<Self> {
        let mut co = ConnectOptions::new(url.to_string());
        co.sqlx_logging(false)
            .connect_timeout(Duration::from_secs(10))
            .acquire_timeout(Duration::from_secs(10));
        if url.starts_with("sqlite:") {
            // WAL lets readers proceed during a write; NORMAL sync in WAL mode never
            // loses a committed transaction to a process crash (only to power loss).
            co.max_connections(opts.max_connections.unwrap_or(8))
                .map_sqlx_sqlite_opts(|o| {
                    o.journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
                        .synchronous(sqlx::sqlite::SqliteSynchronous::Normal)
                        .busy_timeout(Duration::from_secs(15))
                        .create_if_missing(true)
                });
        } else {
            co.max_connections(opts.max_connections.unwrap_or(16));
            if let Some(schema) = &opts.pg_schema {
                co.set_schema_search_path(schema.clone());
            }
        }
        let conn = Database::connect(co)
            .await
            .with_context(|| format!("cannot connect to {}", crate::config::mask_url(url)))?;
        Ok(Self {
            conn,
            revocations: RevokeHook::default(),
        })
    }

    /// Bytes SQLite holds in this process (page caches, prepared statements, schemas;
    /// every connection together), or `None` on PostgreSQL. Page caches fill up to their
    /// bound as the database grows, which is what a process's RSS does first under load.
    pub fn sqlite_memory(&self) -> Option<i64> {
        (self.backend() == DatabaseBackend::Sqlite)
            // SAFETY: reads a counter SQLite keeps under its own mutex; no pointers.
            .then(|| unsafe { libsqlite3_sys::sqlite3_memory_used() })
    }

    /// Installs the listener of [`Db::revoked`] (once; later calls are ignored).
    pub fn on_revoke(&self, f: impl Fn(crate::live::Revocation) + Send + Sync + 'static) {
        let _ = self.revocations.0.set(Box::new(f));
    }

    /// Announces a committed revocation (a session ended, a token deleted, a workspace
    /// deleted): the queries that revoke call this after their commit, so every way of
    /// revoking reaches live connections without its route knowing about sockets.
    pub fn revoked(&self, revocation: crate::live::Revocation) {
        if let Some(f) = self.revocations.0.get() {
            f(revocation);
        }
    }

    pub async fn migrate(&self) -> anyhow::Result<()> {
        Migrator::up(&self.conn, None)
            .await
            .context("applying database migrations")
    }

    pub fn backend(&self) -> DatabaseBackend {
        self.conn.get_database_backend()
    }

    /// Readiness: the database answers a trivial query.
    pub async fn ping(&self) -> bool {
        self.conn.ping().await.is_ok()
    }

    /// Creates a PostgreSQL schema (tests isolate themselves in one each).
    pub async fn create_schema(&self, name: &str) -> anyhow::Result<()> {
        anyhow::ensure!(
            name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
            "schema names are plain identifiers"
        );
        self.conn
            .execute_unprepared(&format!("CREATE SCHEMA IF NOT EXISTS \"{name}\""))
            .await?;
        Ok(())
    }

    pub async fn close(self) {
        if let Err(e) = self.conn.close().await {
            tracing::warn!(error = %e, "closing the database");
        }
    }
}

/// True when the error is a unique-constraint violation (on either backend).
pub fn is_unique_violation(e: &sea_orm::DbErr) -> bool {
    matches!(
        e.sql_err(),
        Some(sea_orm::SqlErr::UniqueConstraintViolation(_))
    )
}
