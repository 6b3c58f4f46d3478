//! The executor: workers that claim queued jobs from the database and run them on the
//! blocking pool (at most `pool_size` at once, never on the actix workers), and a
//! supervisor that sends heartbeats, relays cancellations and recovers the jobs of
//! processes that died.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::Utc;
use qollab_shared::api::JobKind;
use qollab_shared::events::kinds;
use tokio::sync::{Notify, watch};
use uuid::Uuid;

use super::Backends;
use super::artifacts::{ArtifactStore, counts_csv};
use super::backends::{FailureRates, JobSpec, RunError};
use crate::db::Db;
use crate::db::queries::jobs::Outcome;
use crate::db::tables::jobs;
use crate::events::EventBus;

#[derive(Clone, Debug)]
pub struct JobsConfig {
    /// Jobs run at once by this process (the blocking pool's bound).
    pub pool_size: usize,
    pub timeout: Duration,
    /// A running job whose heartbeat is older than this is recovered.
    pub stale_after: Duration,
    /// Runs a job may start before a crash-recovery fails it instead of re-queueing.
    pub max_attempts: i32,
    pub emulator: FailureRates,
    /// Progress events per job at most this often.
    pub progress_every: Duration,
    /// IBM Quantum (the `ibm:*` backends).
    pub ibm: super::ibm::IbmConfig,
    /// A runtime session's idle timeout when it does not ask for one.
    pub session_idle: Duration,
    /// How often due schedules and idle sessions are looked for.
    pub scheduler_poll: Duration,
}

impl Default for JobsConfig {
    fn default() -> Self {
        Self {
            pool_size: std::thread::available_parallelism().map_or(2, |n| n.get()),
            timeout: Duration::from_secs(600),
            stale_after: Duration::from_secs(15),
            max_attempts: 3,
            emulator: FailureRates::default(),
            progress_every: Duration::from_millis(250),
            ibm: Default::default(),
            session_idle: Duration::from_secs(300),
            scheduler_poll: Duration::from_millis(500),
        }
    }
}

pub struct Executor {
    db: Db,
    events: Arc<EventBus>,
    backends: Arc<Backends>,
    artifacts: Arc<dyn ArtifactStore>,
    pub instance: Uuid,
    config: JobsConfig,
    running: Mutex<HashMap<Uuid, Arc<AtomicBool>>>,
    wake: Notify,
    /// Told of every failure this process commits (the automatic AI analysis).
    failures: std::sync::OnceLock<tokio::sync::mpsc::Sender<jobs::Model>>,
}

impl Executor {
    pub fn start(
        db: Db,
        events: Arc<EventBus>,
        backends: Arc<Backends>,
        artifacts: Arc<dyn ArtifactStore>,
        config: JobsConfig,
    ) -> Arc<Executor> {
        let ex = Arc::new(Executor {
            db,
            events,
            backends,
            artifacts,
            instance: Uuid::now_v7(),
            config,
            running: Mutex::new(HashMap::new()),
            wake: Notify::new(),
            failures: std::sync::OnceLock::new(),
        });
        for _ in 0..ex.config.pool_size.max(1) {
            tokio::spawn(Arc::clone(&ex).worker());
        }
        tokio::spawn(Arc::clone(&ex).supervise());
        tracing::info!(instance = %ex.instance, pool = ex.config.pool_size, "job executor started");
        ex
    }

    /// Where committed job failures are announced (once; later calls are ignored).
    pub fn on_failure(&self, tx: tokio::sync::mpsc::Sender<jobs::Model>) {
        let _ = self.failures.set(tx);
    }

    /// A failure was committed: announce it without ever blocking the executor (a full
    /// queue drops it; the analysis can still be requested).
    fn failed(&self, job: &jobs::Model) {
        if let Some(tx) = self.failures.get()
            && tx.try_send(job.clone()).is_err()
        {
            tracing::warn!(job_id = %job.id, "failure queue full; no automatic analysis");
        }
    }

    /// A job was queued: let a worker look now rather than at its next poll.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Asks a job running in this process to stop; false if it is not running here.
    pub fn cancel_local(&self, id: Uuid) -> bool {
        let running = self.running.lock().unwrap_or_else(|p| p.into_inner());
        match running.get(&id) {
            Some(flag) => {
                flag.store(true, Ordering::Relaxed);
                true
            }
            None => false,
        }
    }

    async fn worker(self: Arc<Self>) {
        loop {
            match self.db.claim_job(self.instance).await {
                Ok(Some((job, events))) => {
                    self.events.deliver_stored(events);
                    self.run(job).await;
                    // There may be more: look again without waiting.
                }
                Ok(None) => {
                    tokio::select! {
                        _ = self.wake.notified() => {}
                        _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                    }
                }
                Err(e) => {
                    // SQLite's write lock was not free within the busy timeout (the
                    // claim begins IMMEDIATE, so stale snapshots no longer refuse it).
                    // Try again soon, at a jittered moment so that the workers do not
                    // collide again: a refusal that cost a second held the soak's jobs
                    // to 1.45/s.
                    if is_busy(&e) {
                        metrics::counter!("qollab_jobs_claim_busy_total").increment(1);
                        let ms = rand::random_range(5..40);
                        tokio::time::sleep(Duration::from_millis(ms)).await;
                    } else {
                        tracing::warn!(error = %e, "claiming a job");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                }
            }
        }
    }

    async fn run(self: &Arc<Self>, job: jobs::Model) {
        let started = Instant::now();
        let cancel = Arc::new(AtomicBool::new(false));
        self.running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(job.id, cancel.clone());

        let outcome = self.execute(&job, &cancel).await;
        self.running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&job.id);
        match self.db.finish_job(job.id, self.instance, outcome).await {
            Ok(Some((done, events))) => {
                self.events.deliver_stored(events);
                if done.status == crate::db::queries::jobs::FAILED {
                    self.failed(&done);
                }
                metrics::counter!("qollab_jobs_finished_total", "status" => done.status.clone())
                    .increment(1);
                metrics::histogram!("qollab_jobs_run_duration_seconds")
                    .record(started.elapsed().as_secs_f64());
            }
            Ok(None) => {
                tracing::warn!(job_id = %job.id, "job was recovered elsewhere while it ran; result dropped")
            }
            Err(e) => tracing::error!(job_id = %job.id, error = %e, "recording a job's end"),
        }
    }

    async fn execute(self: &Arc<Self>, job: &jobs::Model, cancel: &Arc<AtomicBool>) -> Outcome {
        let backend = match self
            .backends
            .resolve(&self.db, job.workspace_id, &job.backend)
            .await
        {
            Ok(b) => b,
            Err(e) => return Outcome::Failed(format!("looking up the backend: {}", e.message)),
        };
        let Some(backend) = backend else {
            return Outcome::Failed(format!(
                "backend '{}' is not available on this server",
                job.backend
            ));
        };
        if let Some(why) = backend.unavailable() {
            return Outcome::Failed(why);
        }
        let circuit = match qollab_quantum::qasm::parse_flat(&job.qasm) {
            Ok(c) => c,
            Err(e) => return Outcome::Failed(format!("the stored circuit no longer parses: {e}")),
        };
        let spec = JobSpec {
            circuit,
            kind: JobKind::parse(&job.kind).unwrap_or_default(),
            shots: job.shots.max(1) as usize,
            seed: job.seed.map(|s| s as u64),
            level: job.optimization_level.clamp(0, 3) as u8,
        };

        let (progress_tx, progress_rx) = watch::channel(0.0f64);
        let reporter = tokio::spawn(Arc::clone(self).report_progress(job.clone(), progress_rx));
        let run_cancel = cancel.clone();
        let task = tokio::task::spawn_blocking(move || {
            backend.run(&spec, &run_cancel, &|p| {
                let _ = progress_tx.send(p.clamp(0.0, 1.0));
            })
        });
        let mut timed_out = false;
        let joined = {
            tokio::pin!(task);
            tokio::select! {
                r = &mut task => r,
                _ = tokio::time::sleep(self.config.timeout) => {
                    timed_out = true;
                    cancel.store(true, Ordering::Relaxed);
                    task.await
                }
            }
        };
        reporter.abort();
        match joined {
            Ok(Ok(out)) => {
                let mut result = out.result;
                let mut artifacts = vec![(
                    "result.json",
                    serde_json::to_vec_pretty(&result).unwrap_or_default(),
                )];
                if let Some(q) = out.optimized_qasm {
                    artifacts.push(("optimized.qasm", q.into_bytes()));
                }
                if let Some(c) = &out.counts {
                    artifacts.push(("counts.csv", counts_csv(c).into_bytes()));
                }
                let names: Vec<&str> = artifacts.iter().map(|(n, _)| *n).collect();
                result["artifacts"] = serde_json::to_value(&names).unwrap_or_default();
                let store = self.artifacts.clone();
                let id = job.id;
                let written = tokio::task::spawn_blocking(move || {
                    artifacts.iter().try_for_each(|(n, b)| store.put(id, n, b))
                })
                .await;
                match written {
                    Ok(Ok(())) => Outcome::Completed(result),
                    Ok(Err(e)) => {
                        tracing::error!(job_id = %job.id, error = %e, "writing artifacts");
                        Outcome::Failed(
                            "the results could not be stored (disk error on the server)".into(),
                        )
                    }
                    Err(_) => Outcome::Failed("the results could not be stored".into()),
                }
            }
            Ok(Err(RunError::Cancelled)) if timed_out => Outcome::Failed(format!(
                "timed out: the job ran longer than the {} s limit",
                self.config.timeout.as_secs()
            )),
            Ok(Err(RunError::Cancelled)) => Outcome::Cancelled,
            Ok(Err(RunError::Failed(why))) => Outcome::Failed(why),
            Err(e) => {
                tracing::error!(job_id = %job.id, error = %e, "the engine panicked");
                Outcome::Failed(
                    "internal error in the engine while running this job; it has been logged"
                        .into(),
                )
            }
        }
    }

    async fn report_progress(self: Arc<Self>, job: jobs::Model, mut rx: watch::Receiver<f64>) {
        let mut last_sent = 0.0;
        while rx.changed().await.is_ok() {
            let p = *rx.borrow_and_update();
            if p - last_sent < 0.01 {
                continue;
            }
            last_sent = p;
            let _ = self.db.set_progress(job.id, p).await;
            self.events
                .emit(
                    job.workspace_id,
                    kinds::JOB_PROGRESS,
                    Some(job.author_id),
                    serde_json::json!({"job_id": job.id, "progress": p}),
                )
                .await;
            tokio::time::sleep(self.config.progress_every).await;
        }
    }

    async fn supervise(self: Arc<Self>) {
        let mut tick = tokio::time::interval(Duration::from_millis(500));
        let mut last_recovery = Instant::now() - Duration::from_secs(3600);
        loop {
            tick.tick().await;
            let ids: Vec<Uuid> = self
                .running
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .keys()
                .copied()
                .collect();
            match self.db.heartbeat(self.instance, &ids).await {
                Ok(cancelled) => {
                    for id in cancelled {
                        self.cancel_local(id);
                    }
                }
                Err(e) => tracing::warn!(error = %e, "job heartbeat"),
            }
            let every = (self.config.stale_after / 3).max(Duration::from_millis(500));
            if last_recovery.elapsed() >= every {
                last_recovery = Instant::now();
                self.recover().await;
            }
        }
    }

    /// Re-queues (or, after too many attempts, fails) running jobs whose process stopped
    /// sending heartbeats — a crashed or killed server never leaves a job stuck.
    async fn recover(&self) {
        let cutoff =
            Utc::now() - chrono::Duration::from_std(self.config.stale_after).unwrap_or_default();
        let stale = match self.db.stale_jobs(cutoff).await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "looking for stale jobs");
                return;
            }
        };
        for job in stale {
            if job.attempts < self.config.max_attempts {
                if let Ok(Some((_, events))) = self.db.requeue_stale(&job).await {
                    tracing::warn!(job_id = %job.id, "re-queued a job whose server stopped");
                    self.events.deliver_stored(events);
                    self.wake();
                }
            } else {
                let why = format!(
                    "failed: the server running it stopped {} times; not retried again",
                    job.attempts
                );
                if let Ok(Some((done, events))) = self.db.fail_stale(&job, &why).await {
                    self.events.deliver_stored(events);
                    self.failed(&done);
                }
            }
        }
    }
}

/// A database's "try again" (SQLite's locked / busy), as opposed to a real failure.
fn is_busy(e: &sea_orm::DbErr) -> bool {
    let text = e.to_string();
    text.contains("database is locked")
        || text.contains("(code: 5)")
        || text.contains("(code: 517)")
}
