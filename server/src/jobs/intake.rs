//! The intake: every submission's row and events go through one loop that commits
//! whatever has arrived meanwhile in one transaction (group commit). Under load, 32
//! submitters cost one write transaction (and one `event_seq` bump per workspace)
//! instead of 32, which is what SQLite's single writer and PostgreSQL's workspace row
//! lock need; alone, a submission waits for nothing but its own commit.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use crate::db::Db;
use crate::db::queries::jobs::Transition;
use crate::db::tables::jobs;
use crate::error::{ApiError, ApiResult};
use crate::events::EventBus;
use crate::jobs::executor::Executor;

/// Submissions one transaction takes at most.
const MAX_BATCH: usize = 128;
/// Submissions waiting for their transaction at most; more wait to be taken.
const QUEUE: usize = 1024;
/// Times a batch whose transaction failed is tried again before its submitters are told.
const RETRIES: u32 = 3;

struct Submission {
    job: jobs::ActiveModel,
    reply: oneshot::Sender<ApiResult<Transition>>,
}

#[derive(Clone)]
pub struct Intake {
    tx: mpsc::Sender<Submission>,
}

impl Intake {
    /// The loop delivers each batch's events and wakes the executor itself, so a job is
    /// announced even when its submitter has gone away.
    /// `queue_per_slot`: the queue quota (`QOLLAB_JOB_QUEUE_PER_SLOT`), checked in each
    /// batch's transaction.
    pub fn start(
        db: Db,
        events: Arc<EventBus>,
        executor: Arc<Executor>,
        queue_per_slot: u64,
    ) -> Intake {
        let (tx, rx) = mpsc::channel(QUEUE);
        tokio::spawn(run(db, events, executor, queue_per_slot, rx));
        Intake { tx }
    }

    /// Stores a prepared job (see `routes::prepare`) with its `job.created` and
    /// `job.queued` events, committed together with the submissions around it, and
    /// delivers the events. A session
    /// job marks its session used and is refused (409) if the session closed meanwhile.
    pub async fn submit(&self, job: jobs::ActiveModel) -> ApiResult<Transition> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Submission { job, reply })
            .await
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

fn stopped() -> ApiError {
    ApiError::new(
        qollab_shared::error::ErrorCode::Unavailable,
        "the server is shutting down; submit again shortly",
    )
}

async fn run(
    db: Db,
    events: Arc<EventBus>,
    executor: Arc<Executor>,
    queue_per_slot: u64,
    mut rx: mpsc::Receiver<Submission>,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        metrics::histogram!("qollab_jobs_intake_batch").record(batch.len() as f64);
        let (jobs, replies): (Vec<_>, Vec<_>) = batch.drain(..).map(|s| (s.job, s.reply)).unzip();
        let mut attempt = 0;
        let began = std::time::Instant::now();
        let answers = loop {
            // Cloned: a transaction that fails committed nothing and is tried again.
            match db.insert_jobs(jobs.clone(), queue_per_slot).await {
                Ok(answers) => break Ok(answers),
                Err(e) if attempt < RETRIES => {
                    attempt += 1;
                    tracing::warn!(error = %e.message, attempt, "a batch of submissions failed; trying again");
                    let ms = rand::random_range(10..50) * u64::from(attempt);
                    tokio::time::sleep(Duration::from_millis(ms)).await;
                }
                Err(e) => break Err(e),
            }
        };
        metrics::histogram!("qollab_jobs_intake_duration_seconds")
            .record(began.elapsed().as_secs_f64());
        match answers {
            Ok(answers) => {
                // One batch for the whole intake: one wake per subscriber, not per job.
                events.deliver_stored(
                    answers
                        .iter()
                        .flatten()
                        .flat_map(|(_, stored)| stored.iter().cloned())
                        .collect(),
                );
                executor.wake();
                for (reply, answer) in replies.into_iter().zip(answers) {
                    // A submitter that went away (its request was dropped) still has its
                    // job: it was committed, like a response lost on the wire.
                    let _ = reply.send(answer);
                }
            }
            Err(e) => {
                for reply in replies {
                    let _ = reply.send(Err(e.clone()));
                }
            }
        }
    }
}
