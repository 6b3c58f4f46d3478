//! The executor: workers that claim queued jobs from the database and run them on the
//! blocking pool (at most `pool_size` at once, never on the actix workers), and a
//! supervisor that sends heartbeats, relays cancellations and recovers the jobs of
//! processes that died.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::Utc;
use qollab_shared::api::JobKind;
use qollab_shared::events::kinds;
use tokio::sync::{Notify, Semaphore, mpsc, watch};
use uuid::Uuid;

use super::Backends;
use super::artifacts::ArtifactStore;
use super::backends::{FailureRates, JobSpec, RunError};
use crate::db::Db;
use crate::db::queries::jobs::Outcome;
use crate::db::tables::jobs;
use crate::events::EventBus;

#[derive(Clone, Debug)]
pub struct JobsConfig {
    /// Jobs run at once by this process (the blocking pool's bound).
    pub pool_size: usize,
    /// Jobs held per pool slot while runs are short (see [`in_flight_limit`]).
    pub prefetch_per_slot: usize,
    pub timeout: Duration,
    /// A running job whose heartbeat is older than this is recovered.
    pub stale_after: Duration,
    /// Unfinished jobs an organization may have per unit of its concurrency limit.
    pub queue_per_slot: u64,
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
            prefetch_per_slot: 8,
            timeout: Duration::from_secs(600),
            stale_after: Duration::from_secs(15),
            queue_per_slot: 25,
            max_attempts: 3,
            emulator: FailureRates::default(),
            progress_every: Duration::from_millis(250),
            ibm: Default::default(),
            session_idle: Duration::from_secs(300),
            scheduler_poll: Duration::from_millis(500),
        }
    }
}

/// Job transitions one round commits at most (ends and claims each).
const MAX_ROUND: usize = 256;
/// Rounds that fail in a row before the ends they carry are given up.
const MAX_ROUND_FAILURES: u32 = 20;
/// Recent runs (moving average) shorter than this make jobs "short".
const SHORT_RUN: Duration = Duration::from_millis(20);
/// Assumed before any run has been timed: long, so nothing is claimed ahead until runs
/// show they are short.
const FIRST_RUN_GUESS: Duration = Duration::from_secs(1);

/// A run that ended, waiting for its round.
struct Done {
    job: jobs::Model,
    outcome: Outcome,
    started: Instant,
}

pub struct Executor {
    db: Db,
    events: Arc<EventBus>,
    backends: Arc<Backends>,
    artifacts: Arc<dyn ArtifactStore>,
    pub instance: Uuid,
    config: JobsConfig,
    running: Mutex<HashMap<Uuid, Arc<AtomicBool>>>,
    /// The blocking pool's bound: claimed jobs beyond it wait for a slot.
    slots: Arc<Semaphore>,
    /// Moving average of runs' time on the pool, µs (see [`in_flight_limit`]).
    recent_run_us: AtomicU64,
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
        let slots = Arc::new(Semaphore::new(config.pool_size.max(1)));
        let ex = Arc::new(Executor {
            db,
            events,
            backends,
            artifacts,
            instance: Uuid::now_v7(),
            config,
            running: Mutex::new(HashMap::new()),
            slots,
            recent_run_us: AtomicU64::new(FIRST_RUN_GUESS.as_micros() as u64),
            wake: Notify::new(),
            failures: std::sync::OnceLock::new(),
        });
        // Room for every job in flight, so a finished run never waits to report.
        let (done_tx, done_rx) = mpsc::channel(
            // The most it ever holds: the limit while runs are short.
            in_flight_limit(
                ex.config.pool_size.max(1),
                ex.config.prefetch_per_slot,
                Duration::ZERO,
            ) + MAX_ROUND,
        );
        tokio::spawn(Arc::clone(&ex).drive(done_rx, done_tx));
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

    /// The one loop that changes this process's jobs: each round commits the ends of
    /// the runs that finished since the last one and claims as many queued jobs as the
    /// pool has room for, in one transaction (group commit), then delivers the events
    /// and hands the claimed jobs to the pool. Under load a round carries many jobs, so
    /// the database sees one transaction (and one `event_seq` bump per workspace) per
    /// round instead of two per job.
    async fn drive(
        self: Arc<Self>,
        mut done_rx: mpsc::Receiver<Done>,
        done_tx: mpsc::Sender<Done>,
    ) {
        let pool = self.config.pool_size.max(1);
        let mut in_flight = 0usize;
        let mut finished: Vec<Done> = Vec::new();
        let mut failures = 0u32;
        let mut queue_empty = false;
        loop {
            while finished.len() < MAX_ROUND
                && let Ok(d) = done_rx.try_recv()
            {
                finished.push(d);
            }
            let room = self.in_flight_limit(pool).saturating_sub(in_flight);
            if finished.is_empty() && (room == 0 || queue_empty) {
                tokio::select! {
                    d = done_rx.recv() => {
                        if let Some(d) = d {
                            finished.push(d);
                        }
                    }
                    _ = self.wake.notified() => queue_empty = false,
                    _ = tokio::time::sleep(Duration::from_millis(500)) => queue_empty = false,
                }
                continue;
            }
            // Cloned: a round that fails is tried again with the same ends.
            let ends: Vec<(Uuid, Outcome)> = finished
                .iter()
                .map(|d| (d.job.id, d.outcome.clone()))
                .collect();
            let ask = room.min(MAX_ROUND);
            let began = Instant::now();
            match self.db.finish_and_claim(self.instance, ends, ask).await {
                Ok(round) => {
                    failures = 0;
                    metrics::histogram!("qollab_jobs_round_duration_seconds")
                        .record(began.elapsed().as_secs_f64());
                    metrics::histogram!("qollab_jobs_round_size")
                        .record((round.finished.len() + round.claimed.len()) as f64);
                    // The round's events go out together: one wake and one socket write
                    // per subscriber for the round, not one per job.
                    let mut events = Vec::new();
                    for (done, end) in finished.drain(..).zip(round.finished) {
                        in_flight -= 1;
                        self.forget(done.job.id);
                        if let Some(mut stored) = self.recorded(&done, end) {
                            events.append(&mut stored);
                        }
                    }
                    queue_empty = round.claimed.len() < ask;
                    let mut starts = Vec::with_capacity(round.claimed.len());
                    for (job, mut stored) in round.claimed {
                        events.append(&mut stored);
                        starts.push(job);
                    }
                    self.events.deliver_stored(events);
                    for job in starts {
                        in_flight += 1;
                        // Known to the heartbeat (and to cancellation) from its claim on.
                        let cancel = Arc::new(AtomicBool::new(false));
                        self.running
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .insert(job.id, cancel.clone());
                        tokio::spawn(Arc::clone(&self).run(job, cancel, done_tx.clone()));
                    }
                }
                Err(e) => {
                    // Nothing was committed, so the round is simply tried again.
                    failures += 1;
                    let busy = is_busy(&e);
                    if busy {
                        metrics::counter!("qollab_jobs_claim_busy_total").increment(1);
                    } else {
                        tracing::warn!(error = %e, "committing a round of job transitions");
                    }
                    if failures >= MAX_ROUND_FAILURES && !finished.is_empty() {
                        // Give up on these ends; the jobs stop sending heartbeats and
                        // are recovered like those of a stopped server.
                        for done in finished.drain(..) {
                            in_flight -= 1;
                            self.forget(done.job.id);
                            tracing::error!(job_id = %done.job.id, error = %e, "recording a job's end");
                        }
                        failures = 0;
                    }
                    // SQLite's write lock was not free within the busy timeout: try again
                    // soon, at a jittered moment (a refusal that cost a second held the
                    // soak's jobs to 1.45/s).
                    let ms = if busy {
                        rand::random_range(5..40)
                    } else {
                        1000
                    };
                    tokio::time::sleep(Duration::from_millis(ms)).await;
                }
            }
        }
    }

    /// Jobs this process holds at once, given the recent runs.
    fn in_flight_limit(&self, pool: usize) -> usize {
        let average = Duration::from_micros(self.recent_run_us.load(Ordering::Relaxed));
        in_flight_limit(pool, self.config.prefetch_per_slot, average)
    }

    fn timed_run(&self, took: Duration) {
        let took = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        let _ = self
            .recent_run_us
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |avg| {
                Some(next_average(avg, took))
            });
    }

    fn forget(&self, id: Uuid) {
        self.running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&id);
    }

    /// A run's end was committed (`Some`: its events, to deliver) or found the job
    /// taken away (`None`).
    fn recorded(
        &self,
        done: &Done,
        end: Option<crate::db::queries::jobs::Transition>,
    ) -> Option<Vec<qollab_shared::events::Event>> {
        match end {
            Some((job, events)) => {
                if job.status == crate::db::queries::jobs::FAILED {
                    self.failed(&job);
                }
                metrics::counter!("qollab_jobs_finished_total", "status" => job.status.clone())
                    .increment(1);
                metrics::histogram!("qollab_jobs_run_duration_seconds")
                    .record(done.started.elapsed().as_secs_f64());
                Some(events)
            }
            None => {
                tracing::warn!(job_id = %done.job.id, "job was recovered elsewhere while it ran; result dropped");
                None
            }
        }
    }

    /// Runs a claimed job and hands its outcome to the loop that records it.
    async fn run(
        self: Arc<Self>,
        job: jobs::Model,
        cancel: Arc<AtomicBool>,
        done: mpsc::Sender<Done>,
    ) {
        let started = Instant::now();
        let outcome = self.execute(&job, &cancel).await;
        // The channel holds a slot for every job in flight, so this never waits.
        let _ = done
            .send(Done {
                job,
                outcome,
                started,
            })
            .await;
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

        // Claimed ahead, this job may wait for a slot; one cancelled meanwhile never runs.
        let Ok(_slot) = Arc::clone(&self.slots).acquire_owned().await else {
            return Outcome::Failed("the executor is shutting down".into());
        };
        if cancel.load(Ordering::Relaxed) {
            return Outcome::Cancelled;
        }
        let on_pool = Instant::now();
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
        self.timed_run(on_pool.elapsed());
        match joined {
            Ok(Ok(out)) => {
                // result.json and counts.csv are views of the stored result (see
                // `artifacts`); only the optimized circuit, which the result does not
                // hold, is a file. A small job creates no file at all: three inode
                // creations per job (a directory and two files) were a quarter of the
                // server's CPU at 150 jobs/s, in ext4's inode allocator.
                let mut result = out.result;
                let mut names = vec!["result.json"];
                if out.counts.is_some() {
                    names.push("counts.csv");
                }
                if let Some(q) = out.optimized_qasm {
                    names.push("optimized.qasm");
                    let store = self.artifacts.clone();
                    let id = job.id;
                    let written = tokio::task::spawn_blocking(move || {
                        store.put(id, "optimized.qasm", q.as_bytes())
                    })
                    .await;
                    match written {
                        Ok(Ok(())) => {}
                        Ok(Err(e)) => {
                            tracing::error!(job_id = %job.id, error = %e, "writing artifacts");
                            return Outcome::Failed(
                                "the results could not be stored (disk error on the server)".into(),
                            );
                        }
                        Err(_) => {
                            return Outcome::Failed("the results could not be stored".into());
                        }
                    }
                }
                result["artifacts"] = serde_json::to_value(&names).unwrap_or_default();
                Outcome::Completed(result)
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
        // A run shorter than one reporting interval reports no progress: its end says
        // it all, and for small jobs (most of them) the progress write and its stored
        // event were a third of the job's database work.
        tokio::time::sleep(self.config.progress_every).await;
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
/// Jobs a process holds at once: the pool, plus jobs claimed ahead while recent runs are
/// short, `per_slot` per slot. The round trip of a round, not the run, bounded small jobs
/// per second; claimed ahead, a slot that frees starts the next job at once. Those show
/// as started while they wait for a slot, for at most a few short runs. A long job is
/// never claimed ahead: it would hold a status it does not have yet and keep work from
/// another process with a free slot.
fn in_flight_limit(pool: usize, per_slot: usize, recent_run: Duration) -> usize {
    if recent_run < SHORT_RUN {
        pool.saturating_mul(per_slot.max(1))
    } else {
        pool
    }
}

/// The moving average of run times with a new run folded in (weight 1/4), µs.
fn next_average(avg: u64, took: u64) -> u64 {
    avg - avg / 4 + took / 4
}

fn is_busy(e: &sea_orm::DbErr) -> bool {
    let text = e.to_string();
    text.contains("database is locked")
        || text.contains("(code: 5)")
        || text.contains("(code: 517)")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jobs_are_claimed_ahead_only_while_runs_are_short() {
        let limit = |avg: u64| in_flight_limit(2, 8, Duration::from_micros(avg));
        let mut avg = FIRST_RUN_GUESS.as_micros() as u64;
        assert_eq!(
            limit(avg),
            2,
            "nothing is claimed ahead before runs are timed"
        );
        let mut runs = 0;
        while limit(avg) == 2 {
            avg = next_average(avg, 1_000);
            runs += 1;
        }
        assert_eq!(limit(avg), 16);
        assert_eq!(
            in_flight_limit(2, 1, Duration::ZERO),
            2,
            "1 per slot never claims ahead"
        );
        // 1 s decays by 3/4 per run: 14 runs of 1 ms bring it under 20 ms.
        assert!(runs <= 14, "{runs} short runs before claiming ahead");
        avg = next_average(avg, 2_000_000);
        assert_eq!(limit(avg), 2, "one long run stops claiming ahead at once");
        assert_eq!(next_average(u64::MAX, u64::MAX), u64::MAX, "no overflow");
    }
}
