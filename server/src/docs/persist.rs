//! Durable appends to the update log, batched: updates from every room of the process
//! that arrive while one commit is in flight go into the next commit together.

use std::time::Instant;

use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use crate::db::Db;

/// Largest number of updates in one commit.
const MAX_BATCH: usize = 512;
/// Updates waiting for the appender; a full queue makes senders wait (backpressure on
/// the peers that are writing), it never grows without bound.
const QUEUE: usize = 8192;

struct Append {
    doc_id: Uuid,
    data: Vec<u8>,
    done: oneshot::Sender<Result<i64, String>>,
}

#[derive(Clone)]
pub struct Appender {
    tx: mpsc::Sender<Append>,
}

impl Appender {
    /// Starts the appender task on the current runtime.
    pub fn spawn(db: Db) -> Appender {
        let (tx, rx) = mpsc::channel(QUEUE);
        tokio::spawn(run(db, rx));
        Appender { tx }
    }

    /// Appends one update; resolves with its log id once it is committed.
    pub async fn append(&self, doc_id: Uuid, data: Vec<u8>) -> Result<i64, String> {
        let (done, wait) = oneshot::channel();
        self.tx
            .send(Append { doc_id, data, done })
            .await
            .map_err(|_| "the update log is shut down".to_string())?;
        wait.await
            .map_err(|_| "the update log is shut down".to_string())?
    }
}

async fn run(db: Db, mut rx: mpsc::Receiver<Append>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let started = Instant::now();
        let rows: Vec<(Uuid, Vec<u8>)> = batch
            .iter_mut()
            .map(|a| (a.doc_id, std::mem::take(&mut a.data)))
            .collect();
        let n = rows.len();
        // Kept (a copy of bytes, cheap next to a commit) to retry row by row on failure.
        let result = db.append_updates(rows.clone()).await;
        metrics::histogram!("qollab_docs_append_duration_seconds")
            .record(started.elapsed().as_secs_f64());
        metrics::histogram!("qollab_docs_append_batch_size").record(n as f64);
        match result {
            Ok(ids) if ids.len() == n => {
                for (a, id) in batch.drain(..).zip(ids) {
                    let _ = a.done.send(Ok(id));
                }
            }
            Ok(_) => {
                tracing::error!("update log returned the wrong number of ids");
                for a in batch.drain(..) {
                    let _ = a
                        .done
                        .send(Err("the update log did not confirm the write".into()));
                }
            }
            Err(e) if n > 1 => {
                // One bad row (e.g. an update for a document deleted meanwhile, which
                // breaks the foreign key) must not fail the other documents' updates:
                // store them one by one.
                tracing::warn!(error = %e, batch = n, "batched append failed; appending one by one");
                for (a, row) in batch.drain(..).zip(rows) {
                    let one = match db.append_updates(vec![row]).await {
                        Ok(ids) if ids.len() == 1 => Ok(ids[0]),
                        Ok(_) => Err("the update log did not confirm the write".to_string()),
                        Err(e) => {
                            tracing::error!(doc_id = %a.doc_id, error = %e, "appending to the update log");
                            Err("could not store the update".to_string())
                        }
                    };
                    let _ = a.done.send(one);
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "appending to the update log");
                for a in batch.drain(..) {
                    let _ = a.done.send(Err("could not store the update".into()));
                }
            }
        }
    }
}
