//! Consumers of the stored event log (progress, notifications): each reads every
//! workspace's events in order from a cursor of its own, is told of new events as they
//! are committed (here or, through the fan-out, on another process), and sweeps every
//! few seconds for events it was not told of. A consumer's work must be idempotent: the
//! cursor moves after the work, so a crash between the two, or a second process reading
//! the same events, repeats it.

use std::collections::BTreeSet;
use std::sync::{Arc, Weak};
use std::time::Duration;

use tokio::sync::mpsc;
use uuid::Uuid;

use super::EventBus;
use crate::db::Db;
use crate::db::queries::cursors::Cursor;
use crate::db::tables::events;

/// Events read per batch of one workspace.
const BATCH: u64 = 256;
/// How often a consumer looks for events it was not told of.
const SWEEP: Duration = Duration::from_secs(5);

pub trait Consumer: Send + Sync + 'static {
    const CURSOR: Cursor;

    /// Handles a workspace's events (in order, a batch at a time).
    fn handle(
        &self,
        ws: Uuid,
        rows: &[events::Model],
    ) -> impl Future<Output = Result<(), sea_orm::DbErr>> + Send;

    /// Runs once before the first event (e.g. a backfill).
    fn start_up(&self) -> impl Future<Output = Result<(), sea_orm::DbErr>> + Send {
        async { Ok(()) }
    }

    fn db(&self) -> &Db;
}

/// Starts `consumer`'s loop; it ends when the consumer is dropped.
pub fn spawn<C: Consumer>(consumer: &Arc<C>, bus: &EventBus) {
    let (tx, rx) = mpsc::channel(4096);
    bus.notify_commits(tx);
    tokio::spawn(run(Arc::downgrade(consumer), rx));
}

/// Reads a workspace's events past the consumer's cursor, in order, handing each batch
/// to it and then moving the cursor.
pub async fn catch_up<C: Consumer>(c: &C, ws: Uuid) -> Result<(), sea_orm::DbErr> {
    loop {
        let cursor = c.db().cursor(C::CURSOR, ws).await?;
        let rows = c.db().events_after(ws, cursor, BATCH).await?;
        let Some(last) = rows.last().map(|r| r.seq) else {
            return Ok(());
        };
        c.handle(ws, &rows).await?;
        c.db().advance_cursor(C::CURSOR, ws, last).await?;
        if (rows.len() as u64) < BATCH {
            return Ok(());
        }
    }
}

async fn sweep<C: Consumer>(c: &C) {
    match c.db().workspaces_behind(C::CURSOR).await {
        Ok(behind) => {
            for ws in behind {
                if let Err(e) = catch_up(c, ws).await {
                    tracing::warn!(consumer = C::CURSOR.name(), workspace_id = %ws, error = %e, "catch-up");
                }
            }
        }
        Err(e) => tracing::warn!(consumer = C::CURSOR.name(), error = %e, "sweep"),
    }
}

async fn run<C: Consumer>(c: Weak<C>, mut rx: mpsc::Receiver<Uuid>) {
    if let Some(c) = c.upgrade()
        && let Err(e) = c.start_up().await
    {
        tracing::warn!(consumer = C::CURSOR.name(), error = %e, "start-up");
    }
    let mut tick = tokio::time::interval(SWEEP);
    loop {
        tokio::select! {
            ws = rx.recv() => {
                let Some(ws) = ws else { return };
                let mut all = BTreeSet::from([ws]);
                while let Ok(more) = rx.try_recv() {
                    all.insert(more);
                }
                let Some(c) = c.upgrade() else { return };
                for ws in all {
                    if let Err(e) = catch_up(&*c, ws).await {
                        tracing::warn!(consumer = C::CURSOR.name(), workspace_id = %ws, error = %e, "catch-up");
                    }
                }
            }
            _ = tick.tick() => {
                let Some(c) = c.upgrade() else { return };
                sweep(&*c).await;
            }
        }
    }
}
