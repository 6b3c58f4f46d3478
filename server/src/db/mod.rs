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

/// How long a SQLite write waits for another connection's write lock before it fails.
const BUSY_LIMIT: Duration = Duration::from_secs(15);

/// Waits for SQLite's write lock, which another connection of this process holds.
///
/// SQLite's own handler (`busy_timeout`) sleeps 1, 2, 5, 10, 15… ms between tries. Our
/// write transactions hold the lock for well under a millisecond, so a waiter mostly
/// overslept: a live edit's append that met a compaction waited 3–8 ms for a lock freed
/// after one. SQLite has no wake-up for its file lock, so this polls: every 50 µs for
/// the first millisecond, every 250 µs up to ~50 ms, then every millisecond, giving up
/// after [`BUSY_LIMIT`] as before. Runs on the connection's own worker thread.
unsafe extern "C" fn busy_handler(
    _: *mut std::ffi::c_void,
    tries: std::ffi::c_int,
) -> std::ffi::c_int {
    let (pause, waited) = busy_pause(tries);
    if waited >= BUSY_LIMIT {
        return 0;
    }
    std::thread::sleep(pause);
    1
}

/// The pause before try `tries + 1`, and the time already spent in pauses before it.
fn busy_pause(tries: std::ffi::c_int) -> (Duration, Duration) {
    const FINE: u64 = 20; // 20 × 50 µs = 1 ms
    const MEDIUM: u64 = 200; // then 180 × 250 µs = 45 ms
    let n = u64::try_from(tries).unwrap_or(0);
    let waited_us = if n < FINE {
        n * 50
    } else if n < MEDIUM {
        FINE * 50 + (n - FINE) * 250
    } else {
        FINE * 50 + (MEDIUM - FINE) * 250 + (n - MEDIUM) * 1000
    };
    let pause_us = match n {
        n if n < FINE => 50,
        n if n < MEDIUM => 250,
        _ => 1000,
    };
    (
        Duration::from_micros(pause_us),
        Duration::from_micros(waited_us),
    )
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
                        .busy_timeout(BUSY_LIMIT)
                        .create_if_missing(true)
                })
                .map_sqlx_sqlite_pool_opts(|o| {
                    o.after_connect(|conn, _| {
                        Box::pin(async move {
                            let mut handle = conn.lock_handle().await?;
                            let db = handle.as_raw_handle().as_ptr();
                            // SAFETY: `db` is this connection's open handle, locked for
                            // the call; the handler touches no pointer.
                            let rc = unsafe {
                                libsqlite3_sys::sqlite3_busy_handler(
                                    db,
                                    Some(busy_handler),
                                    std::ptr::null_mut(),
                                )
                            };
                            if rc != libsqlite3_sys::SQLITE_OK {
                                return Err(sqlx::Error::Protocol(format!(
                                    "sqlite3_busy_handler returned {rc}"
                                )));
                            }
                            Ok(())
                        })
                    })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn busy_pauses_start_fine_and_give_up_at_the_limit() {
        assert_eq!(busy_pause(0), (Duration::from_micros(50), Duration::ZERO));
        assert_eq!(busy_pause(20).1, Duration::from_millis(1));
        assert_eq!(busy_pause(200).1, Duration::from_millis(46));
        assert_eq!(busy_pause(200).0, Duration::from_millis(1));
        // The last try that still waits is the one just under the limit.
        let last = (0..).find(|&t| busy_pause(t).1 >= BUSY_LIMIT).unwrap();
        assert!((14_000..16_000).contains(&last), "{last}");
        assert!(busy_pause(-1).1 < BUSY_LIMIT);
    }

    /// A write that meets another connection's write lock waits for it (the handler is
    /// installed on every pooled connection and keeps trying) instead of failing.
    #[tokio::test]
    async fn a_write_waits_for_another_connections_write_lock() {
        use sqlx::{Connection, Executor};
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("busy.db");
        let url = format!("sqlite://{}?mode=rwc", path.display());
        let db = Db::connect(&url, &DbOptions::default()).await.unwrap();
        db.conn
            .execute_unprepared("CREATE TABLE t (x INTEGER)")
            .await
            .unwrap();
        let mut other = sqlx::SqliteConnection::connect(&url).await.unwrap();
        other.execute("BEGIN IMMEDIATE").await.unwrap();
        other.execute("INSERT INTO t VALUES (1)").await.unwrap();
        let held = std::time::Instant::now();
        let release = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            other.execute("COMMIT").await.unwrap();
            other
        });
        db.conn
            .execute_unprepared("INSERT INTO t VALUES (2)")
            .await
            .unwrap();
        assert!(
            held.elapsed() >= Duration::from_millis(250),
            "did not wait for the lock"
        );
        release.await.unwrap().close().await.unwrap();
        let rows = db
            .conn
            .query_one_raw(sea_orm::Statement::from_string(
                DatabaseBackend::Sqlite,
                "SELECT COUNT(*) AS n FROM t",
            ))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(rows.try_get::<i64>("", "n").unwrap(), 2);
    }
}
