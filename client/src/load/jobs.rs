//! Load generator for jobs: S subscribers on a workspace's event stream, C submitters
//! pushing N small jobs through the REST API. Measures throughput through the whole
//! path (submit → queue → executor pool → stored transitions → events at every
//! subscriber) and the latency from each job state change (the event's `at`, stamped
//! by the server when the transition is made) to its arrival at every subscriber.
//! Generator and server must share a clock: run both on one machine.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use chrono::Utc;
use hdrhistogram::Histogram;
use qollab_shared::api::{JobKind, JobSource, SubmitJobRequest};
use serde::Serialize;
use tokio::sync::{Semaphore, watch};
use uuid::Uuid;

use super::{LatencyMs, new_histogram};
use crate::events::{EventStream, StreamOptions};
use crate::rest::Client;

/// A Bell pair: a job that is all queue, pool and events, almost no simulation.
pub const BELL: &str = "OPENQASM 2.0;\ninclude \"qelib1.inc\";\nqreg q[2];\ncreg c[2];\nh q[0];\ncx q[0],q[1];\nmeasure q -> c;\n";

#[derive(Debug, Clone)]
pub struct JobsLoadConfig {
    /// The server's HTTP root, e.g. `http://127.0.0.1:8080`.
    pub server: String,
    pub token: String,
    /// A workspace with no other activity (events of other jobs would be counted).
    pub workspace: Uuid,
    pub jobs: usize,
    pub subscribers: usize,
    /// Jobs submitted concurrently.
    pub submitters: usize,
    pub shots: i64,
    pub backend: String,
    pub qasm: String,
    /// Longest wait for every job to finish and every event to arrive.
    pub timeout: Duration,
    /// Hold this many jobs unfinished (submitted, not yet seen finished) while there are
    /// jobs left to submit, and report the throughput while the queue was that deep
    /// (`held`). `None`: submit as fast as the server admits.
    pub queue_depth: Option<usize>,
}

/// Throughput while the queue was held at [`JobsLoadConfig::queue_depth`]: from the
/// first time a submitter had to wait for it (the queue was full) to the last submission
/// (after which it drains).
#[derive(Debug, Clone, Serialize)]
pub struct HeldQueue {
    pub depth: usize,
    /// Jobs seen finished (at the first subscriber) within the window.
    pub finished: usize,
    pub window_s: f64,
    pub jobs_per_s: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct JobsLoadReport {
    pub server: String,
    pub jobs: usize,
    pub subscribers: usize,
    pub subscribers_connected: usize,
    pub submitters: usize,
    pub backend: String,
    pub shots: i64,
    pub submitted: u64,
    /// Submissions refused with 429 (queue depth) and retried.
    pub retried_429: u64,
    pub submit_errors: u64,
    /// Jobs whose terminal event (completed, failed, cancelled) reached every subscriber.
    pub finished_everywhere: usize,
    pub failed: u64,
    /// First submission to the last terminal event at the slowest subscriber.
    pub elapsed_s: f64,
    pub jobs_per_s: f64,
    pub submit_latency_ms: LatencyMs,
    /// Every `job.*` event at every subscriber: arrival time − the event's `at`.
    pub event_latency_ms: LatencyMs,
    pub events_received: u64,
    pub events_by_type: std::collections::BTreeMap<String, u64>,
    /// With a queue depth: the throughput while it was held (`None` when the run never
    /// filled it, e.g. depth ≥ jobs).
    pub held: Option<HeldQueue>,
    pub first_error: Option<String>,
}

struct Shared {
    first_error: std::sync::Mutex<Option<String>>,
    /// Terminal events seen by the first subscriber: what a held queue is measured by.
    finished: AtomicUsize,
    marks: std::sync::Mutex<HeldMarks>,
}

/// (when, jobs seen finished) as the queue filled and as the last job was submitted.
#[derive(Default, Clone, Copy)]
struct HeldMarks {
    filled: Option<(Instant, usize)>,
    last: Option<(Instant, usize)>,
}

impl Shared {
    /// A submitter found `depth` jobs unfinished and waits: from the first time, the
    /// queue is held at its depth. (The `depth`th submission is not that moment: jobs
    /// finish while the queue fills, and the submissions that make up for them would
    /// count against the held window.)
    fn full(&self) {
        let mut marks = self.marks.lock().unwrap_or_else(|p| p.into_inner());
        if marks.filled.is_none() {
            marks.filled = Some((Instant::now(), self.finished.load(Ordering::Acquire)));
        }
    }

    /// The last of `jobs` was submitted: the queue drains from here.
    fn submitted_all(&self) {
        let mark = Some((Instant::now(), self.finished.load(Ordering::Acquire)));
        self.marks.lock().unwrap_or_else(|p| p.into_inner()).last = mark;
    }

    fn note(&self, e: String) {
        let mut f = self.first_error.lock().unwrap_or_else(|p| p.into_inner());
        if f.is_none() {
            *f = Some(e);
        }
    }
}

/// What one subscriber saw.
struct Seen {
    latency: Histogram<u64>,
    terminal: usize,
    failed: u64,
    by_type: std::collections::BTreeMap<String, u64>,
    finished_at: Option<Instant>,
}

async fn subscribe(
    mut stream: EventStream,
    expect: usize,
    mut stop: watch::Receiver<bool>,
    shared: Arc<Shared>,
    counts_finished: bool,
) -> Seen {
    let mut seen = Seen {
        latency: new_histogram(),
        terminal: 0,
        failed: 0,
        by_type: Default::default(),
        finished_at: None,
    };
    while seen.terminal < expect {
        let event = tokio::select! {
            e = stream.next_glance() => e,
            _ = stop.changed() => break,
        };
        let event = match event {
            Ok(e) => e,
            Err(e) => {
                shared.note(format!("event stream: {e}"));
                break;
            }
        };
        if !event.kind.starts_with("job.") {
            continue;
        }
        let lag_us = (Utc::now() - event.at).num_microseconds().unwrap_or(0);
        seen.latency.saturating_record(lag_us.max(1) as u64);
        match seen.by_type.get_mut(&event.kind) {
            Some(n) => *n += 1,
            None => {
                seen.by_type.insert(event.kind.clone(), 1);
            }
        }
        let terminal = match event.kind.as_str() {
            "job.completed" | "job.cancelled" => true,
            "job.failed" => {
                seen.failed += 1;
                true
            }
            _ => false,
        };
        if terminal {
            seen.terminal += 1;
            if counts_finished {
                shared.finished.fetch_add(1, Ordering::Release);
            }
        }
    }
    if seen.terminal >= expect {
        seen.finished_at = Some(Instant::now());
    }
    stream.close().await;
    seen
}

/// Runs the load; the workspace must belong to an organization whose plan allows the
/// shots and enough unfinished jobs (429s are retried and counted).
pub async fn run(cfg: JobsLoadConfig) -> anyhow::Result<JobsLoadReport> {
    anyhow::ensure!(
        cfg.jobs > 0 && cfg.submitters > 0,
        "jobs and submitters must be > 0"
    );
    anyhow::ensure!(
        cfg.queue_depth.is_none_or(|d| d > 0 && cfg.subscribers > 0),
        "a queue depth must be > 0 and needs a subscriber to see jobs finish"
    );
    super::raise_fd_limit();
    let shared = Arc::new(Shared {
        first_error: Default::default(),
        finished: AtomicUsize::new(0),
        marks: Default::default(),
    });
    let client = Client::new(cfg.server.clone()).with_token(cfg.token.clone());

    // Every subscriber is connected before the first job is submitted.
    let (stop_tx, stop_rx) = watch::channel(false);
    let gate = Arc::new(Semaphore::new(32));
    let mut connecting = Vec::with_capacity(cfg.subscribers);
    for _ in 0..cfg.subscribers {
        let (gate, server, token) = (gate.clone(), cfg.server.clone(), cfg.token.clone());
        let ws = cfg.workspace;
        connecting.push(tokio::spawn(async move {
            let _permit = gate.acquire_owned().await;
            EventStream::connect(&server, ws, &token, StreamOptions::default()).await
        }));
    }
    let mut subscribers = Vec::with_capacity(cfg.subscribers);
    for c in connecting {
        match c.await {
            Ok(Ok(stream)) => subscribers.push(tokio::spawn(subscribe(
                stream,
                cfg.jobs,
                stop_rx.clone(),
                shared.clone(),
                subscribers.is_empty(),
            ))),
            Ok(Err(e)) => shared.note(format!("subscribe: {e}")),
            Err(e) => shared.note(format!("subscribe task: {e}")),
        }
    }
    let connected = subscribers.len();
    // The server registers a subscriber as its socket task starts: give the last ones a
    // moment so that none misses the first events.
    tokio::time::sleep(Duration::from_millis(500)).await;

    let started = Instant::now();
    let next = Arc::new(AtomicUsize::new(0));
    let submitted = Arc::new(AtomicU64::new(0));
    let retried = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let request = SubmitJobRequest {
        source: JobSource::Qasm {
            qasm: cfg.qasm.clone(),
        },
        kind: JobKind::Simulate,
        backend: cfg.backend.clone(),
        shots: cfg.shots,
        seed: Some(7),
        optimization_level: 0,
        session_id: None,
    };
    let mut submitters = Vec::with_capacity(cfg.submitters);
    for _ in 0..cfg.submitters {
        let (client, request, shared) = (client.clone(), request.clone(), shared.clone());
        let (next, submitted, retried, errors) = (
            next.clone(),
            submitted.clone(),
            retried.clone(),
            errors.clone(),
        );
        let (jobs, ws, deadline) = (cfg.jobs, cfg.workspace, started + cfg.timeout);
        let depth = cfg.queue_depth;
        submitters.push(tokio::spawn(async move {
            let mut latency = new_histogram();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= jobs {
                    break;
                }
                // Job i goes in once fewer than `depth` are unfinished before it.
                if let Some(d) = depth {
                    if i >= shared.finished.load(Ordering::Acquire) + d {
                        shared.full();
                    }
                    while i >= shared.finished.load(Ordering::Acquire) + d {
                        if Instant::now() > deadline {
                            break;
                        }
                        tokio::time::sleep(Duration::from_millis(2)).await;
                    }
                }
                loop {
                    let t = Instant::now();
                    match client.submit_job(ws, &request).await {
                        Ok(_) => {
                            latency.saturating_record(t.elapsed().as_micros().max(1) as u64);
                            let n = submitted.fetch_add(1, Ordering::Relaxed) as usize + 1;
                            if depth.is_some() && n == jobs {
                                shared.submitted_all();
                            }
                            break;
                        }
                        Err(e) if e.status().map(|s| s.as_u16()) == Some(429) => {
                            retried.fetch_add(1, Ordering::Relaxed);
                            if Instant::now() > deadline {
                                errors.fetch_add(1, Ordering::Relaxed);
                                break;
                            }
                            // The queue is full (the plan's unfinished-job limit): wait
                            // for it to drain rather than hammer the server with retries.
                            tokio::time::sleep(Duration::from_millis(250)).await;
                        }
                        Err(e) => {
                            errors.fetch_add(1, Ordering::Relaxed);
                            shared.note(format!("submit: {e}"));
                            break;
                        }
                    }
                }
            }
            latency
        }));
    }
    let mut submit_latency = new_histogram();
    for s in submitters {
        if let Ok(h) = s.await {
            let _ = submit_latency.add(&h);
        }
    }

    // Wait for every subscriber to see every job finish, or the timeout.
    let stopper = tokio::spawn({
        let timeout = cfg.timeout.saturating_sub(started.elapsed());
        async move {
            tokio::time::sleep(timeout).await;
            let _ = stop_tx.send(true);
        }
    });
    let mut latency = new_histogram();
    let (mut finished_everywhere, mut failed) = (usize::MAX, 0);
    let mut by_type = std::collections::BTreeMap::new();
    let mut last = started;
    for s in subscribers {
        let Ok(seen) = s.await else { continue };
        let _ = latency.add(&seen.latency);
        finished_everywhere = finished_everywhere.min(seen.terminal);
        failed = failed.max(seen.failed);
        for (k, v) in seen.by_type {
            *by_type.entry(k).or_insert(0) += v;
        }
        match seen.finished_at {
            Some(t) => last = last.max(t),
            None => last = Instant::now(),
        }
    }
    stopper.abort();
    if connected == 0 {
        finished_everywhere = 0;
    }
    let elapsed = (last - started).as_secs_f64();
    let marks = *shared.marks.lock().unwrap_or_else(|p| p.into_inner());
    let held = match (cfg.queue_depth, marks.filled, marks.last) {
        (Some(depth), Some((t0, f0)), Some((t1, f1))) if t1 > t0 && cfg.jobs > depth => {
            let window_s = (t1 - t0).as_secs_f64();
            Some(HeldQueue {
                depth,
                finished: f1.saturating_sub(f0),
                window_s,
                jobs_per_s: f1.saturating_sub(f0) as f64 / window_s,
            })
        }
        _ => None,
    };
    Ok(JobsLoadReport {
        server: cfg.server,
        jobs: cfg.jobs,
        subscribers: cfg.subscribers,
        subscribers_connected: connected,
        submitters: cfg.submitters,
        backend: cfg.backend,
        shots: cfg.shots,
        submitted: submitted.load(Ordering::Relaxed),
        retried_429: retried.load(Ordering::Relaxed),
        submit_errors: errors.load(Ordering::Relaxed),
        finished_everywhere,
        failed,
        elapsed_s: elapsed,
        jobs_per_s: finished_everywhere as f64 / elapsed.max(1e-9),
        submit_latency_ms: LatencyMs::of(&submit_latency),
        event_latency_ms: LatencyMs::of(&latency),
        events_received: latency.len(),
        events_by_type: by_type,
        held,
        first_error: shared
            .first_error
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone(),
    })
}
