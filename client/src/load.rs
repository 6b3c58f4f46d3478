//! Load generator for live documents: N y-websocket connections over M rooms, each editing at
//! a fixed rate; measures fan-out latency (edit sent → applied at every other peer of the
//! room), throughput, errors, and convergence of every room at the end.
//!
//! Each edit sets key `{sender}` of the root map `bench` (kept apart from the circuit schema)
//! to the marker `qlt:{sender}:{n}:{t}` (`n` its number, `t` its send time in µs since the
//! epoch). Full replicas observe that map and record `now - t` for keys of other senders;
//! probes (`load::probe`, the cheap peers) find the markers in the raw update frames. A map rather than an append-only array keeps the
//! document at one entry per sender and the observer's work proportional to the change (an
//! array delta walks the whole array). Sender and receivers run in this process, so they
//! share one clock. It speaks plain y-websocket, so it can target the reference Node
//! server as well as Qollab.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use hdrhistogram::Histogram;
use serde::Serialize;
use tokio::sync::Semaphore;
use yrs::types::{EntryChange, Observable, ToJson};
use yrs::{Any, Map, ReadTxn, Transact, WriteTxn};

use crate::docs::{ConnectOptions, DocClient};

pub mod ai;
pub mod jobs;
mod probe;

/// Root map the load generator writes to.
pub const BENCH_MAP: &str = "bench";

/// How every edit's value begins.
const MARKER_PREFIX: &str = "qlt:";

/// An edit's value: its sender, number and send time (µs since the epoch).
fn marker(sender: u64, n: u64, t: u64) -> String {
    format!("{MARKER_PREFIX}{sender}:{n}:{t}")
}

/// `(sender, n, t)` of a marker.
fn marker_of(text: &str) -> Option<(u64, u64, u64)> {
    let mut parts = text.strip_prefix(MARKER_PREFIX)?.split(':');
    let mut next = || parts.next()?.parse::<u64>().ok();
    let (sender, n, t) = (next()?, next()?, next()?);
    parts.next().is_none().then_some((sender, n, t))
}

#[derive(Debug, Clone)]
pub struct LoadConfig {
    /// Server URL prefix; the room name is appended (`{url}/{room}`).
    pub url: String,
    pub connections: usize,
    /// Room names (doc ids on Qollab); client `i` joins `rooms[i % rooms.len()]`.
    pub rooms: Vec<String>,
    /// Edits per second per client.
    pub rate: f64,
    pub duration: Duration,
    pub warmup: Duration,
    /// Time allowed after the last edit for deliveries to arrive.
    pub settle: Duration,
    pub token: Option<String>,
    /// Connections opened at once.
    pub connect_concurrency: usize,
    /// Full yrs replicas per room (the first clients of each room); the others are
    /// probes that time deliveries from the raw frames without applying them. `None`:
    /// every client is a full replica. Convergence is checked among the full replicas,
    /// so a room needs two of them for the check to mean anything.
    pub full_per_room: Option<usize>,
}

#[derive(Debug, Clone, Serialize)]
pub struct LatencyMs {
    pub count: u64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
    pub mean: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct LoadReport {
    pub url: String,
    pub connections: usize,
    pub rooms: usize,
    pub rate_per_client: f64,
    pub duration_s: f64,
    pub warmup_s: f64,
    pub connected: usize,
    pub connect_errors: usize,
    pub connect_s: f64,
    /// Edits sent inside the measured window.
    pub sent: u64,
    pub sent_per_s: f64,
    /// Receipts of those edits at other peers.
    pub deliveries: u64,
    pub deliveries_per_s: f64,
    pub expected_deliveries: u64,
    pub missing_deliveries: u64,
    pub latency_ms: LatencyMs,
    pub send_errors: u64,
    pub disconnects: usize,
    pub rooms_converged: usize,
    pub rooms_diverged: usize,
    pub first_error: Option<String>,
}

impl LatencyMs {
    /// Summary of a histogram of microseconds.
    pub fn of(h: &Histogram<u64>) -> LatencyMs {
        let ms = |us: u64| us as f64 / 1000.0;
        LatencyMs {
            count: h.len(),
            p50: ms(h.value_at_quantile(0.5)),
            p90: ms(h.value_at_quantile(0.9)),
            p99: ms(h.value_at_quantile(0.99)),
            p999: ms(h.value_at_quantile(0.999)),
            max: ms(h.max()),
            mean: h.mean() / 1000.0,
        }
    }
}

fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

pub(crate) fn new_histogram() -> Histogram<u64> {
    // 1 µs .. 10 min at 3 significant digits: constant, valid bounds.
    Histogram::new_with_bounds(1, 600_000_000, 3).expect("constant histogram bounds")
}

/// What every receiver records; the window bounds are set once warm-up ends.
struct Recorder {
    histogram: Mutex<Histogram<u64>>,
    deliveries: AtomicU64,
    window_start_us: AtomicU64,
    window_end_us: AtomicU64,
}

impl Recorder {
    fn new() -> Recorder {
        Recorder {
            histogram: Mutex::new(new_histogram()),
            deliveries: AtomicU64::new(0),
            window_start_us: AtomicU64::new(u64::MAX),
            window_end_us: AtomicU64::new(u64::MAX),
        }
    }

    fn record(&self, latency_us: u64) {
        self.histogram
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .saturating_record(latency_us);
    }

    fn in_window(&self, t: u64) -> bool {
        t >= self.window_start_us.load(Ordering::Relaxed)
            && t < self.window_end_us.load(Ordering::Relaxed)
    }
}

fn observe_receipts(client: &DocClient, me: u64, recorder: Arc<Recorder>) {
    let bench = client.doc().get_or_insert_map(BENCH_MAP);
    bench.observe("load", move |txn, event| {
        let now = now_us();
        let mut local = Vec::new();
        for change in event.keys(txn).values() {
            let (EntryChange::Inserted(v) | EntryChange::Updated(_, v)) = change else {
                continue;
            };
            let yrs::Out::Any(Any::String(text)) = v else {
                continue;
            };
            let Some((sender, _, t)) = marker_of(text) else {
                continue;
            };
            if sender != me && recorder.in_window(t) {
                local.push(now.saturating_sub(t).max(1));
            }
        }
        if !local.is_empty() {
            recorder
                .deliveries
                .fetch_add(local.len() as u64, Ordering::Relaxed);
            let mut h = recorder.histogram.lock().unwrap_or_else(|e| e.into_inner());
            for l in local {
                h.saturating_record(l);
            }
        }
    });
}

/// The bench map as sorted `(sender, seq)` pairs: comparable across replicas.
type BenchState = Vec<(String, i64)>;

fn bench_state<T: ReadTxn>(txn: &T) -> BenchState {
    let Some(map) = txn.get_map(BENCH_MAP) else {
        return Vec::new();
    };
    let mut out: BenchState = map
        .iter(txn)
        .map(|(k, v)| {
            let n = match v.to_json(txn) {
                Any::String(text) => marker_of(&text).map_or(-1, |(_, n, _)| n as i64),
                _ => -1,
            };
            (k.to_string(), n)
        })
        .collect();
    out.sort();
    out
}

/// Raises the open-file limit as far as the hard limit allows (each connection is a socket).
pub fn raise_fd_limit() -> u64 {
    rlimit::increase_nofile_limit(u64::MAX).unwrap_or(0)
}

/// A connection of the generator: a full replica, or a probe (see `probe`).
enum Peer {
    Full(DocClient),
    Probe(probe::Probe),
}

impl Peer {
    fn is_closed(&self) -> bool {
        match self {
            Peer::Full(c) => matches!(c.status(), crate::docs::Status::Closed(_)),
            Peer::Probe(p) => p.is_closed(),
        }
    }

    async fn close(self) {
        match self {
            Peer::Full(c) => {
                let _ = c.close().await;
            }
            Peer::Probe(p) => p.close().await,
        }
    }
}

/// Opens `cfg.connections` connections (client `i` to room `i % rooms`), at most
/// `cfg.connect_concurrency` at once, each synced before it counts: full replicas, or
/// probes recording into `probes` past `cfg.full_per_room` per room. Returns the clients
/// with their index, the number of failures and the time it took.
async fn connect_all(
    cfg: &LoadConfig,
    note_error: &(impl Fn(String) + Clone),
    probes: Option<Arc<Recorder>>,
) -> (Vec<(usize, Peer)>, usize, f64) {
    let connect_started = Instant::now();
    let gate = Arc::new(Semaphore::new(cfg.connect_concurrency.max(1)));
    let mut connecting = Vec::with_capacity(cfg.connections);
    for i in 0..cfg.connections {
        let gate = gate.clone();
        let room = cfg.rooms[i % cfg.rooms.len()].clone();
        let url = cfg.url.clone();
        let mut opts = ConnectOptions {
            sync_timeout: Duration::from_secs(30),
            ..Default::default()
        };
        if let Some(t) = &cfg.token {
            opts = opts.token(t);
        }
        let rank = i / cfg.rooms.len();
        let probe = probes
            .clone()
            .filter(|_| cfg.full_per_room.is_some_and(|k| rank >= k));
        connecting.push(tokio::spawn(async move {
            let _permit = gate.acquire_owned().await;
            let peer = match probe {
                Some(recorder) => probe::Probe::connect(&url, &room, &opts, i as u64, recorder)
                    .await
                    .map(Peer::Probe),
                None => DocClient::connect(&url, &room, opts).await.map(Peer::Full),
            };
            (i, peer)
        }));
    }
    let mut clients = Vec::with_capacity(cfg.connections);
    let mut connect_errors = 0;
    for handle in connecting {
        match handle.await {
            Ok((i, Ok(client))) => clients.push((i, client)),
            Ok((_, Err(e))) => {
                connect_errors += 1;
                note_error(format!("connect: {e}"));
            }
            Err(e) => {
                connect_errors += 1;
                note_error(format!("connect task: {e}"));
            }
        }
    }
    (
        clients,
        connect_errors,
        connect_started.elapsed().as_secs_f64(),
    )
}

/// What [`idle`] reports.
#[derive(Debug, Clone, Serialize)]
pub struct IdleReport {
    pub url: String,
    pub connections: usize,
    pub rooms: usize,
    pub connected: usize,
    pub connect_errors: usize,
    pub connect_s: f64,
    pub hold_s: f64,
    /// Connections found closed at the end of the hold.
    pub disconnects: usize,
    pub first_error: Option<String>,
}

/// Idle mode, for memory measurements: opens the connections like [`run`] (each synced),
/// calls `ready` once they are all open, holds them for `hold` without editing, then
/// closes them. `cfg.rate`, `duration`, `warmup` and `settle` are not used.
pub async fn idle(
    cfg: LoadConfig,
    hold: Duration,
    ready: impl FnOnce(&IdleReport),
) -> anyhow::Result<IdleReport> {
    anyhow::ensure!(
        cfg.connections > 0 && !cfg.rooms.is_empty(),
        "need connections and rooms"
    );
    raise_fd_limit();
    let first_error: Arc<Mutex<Option<String>>> = Arc::new(Mutex::new(None));
    let note_error = {
        let first_error = first_error.clone();
        move |e: String| {
            let mut slot = first_error.lock().unwrap_or_else(|p| p.into_inner());
            if slot.is_none() {
                *slot = Some(e);
            }
        }
    };
    let (clients, connect_errors, connect_s) = connect_all(&cfg, &note_error, None).await;
    let mut report = IdleReport {
        url: cfg.url.clone(),
        connections: cfg.connections,
        rooms: cfg.rooms.len(),
        connected: clients.len(),
        connect_errors,
        connect_s,
        hold_s: hold.as_secs_f64(),
        disconnects: 0,
        first_error: None,
    };
    report.first_error = first_error
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    ready(&report);
    tokio::time::sleep(hold).await;
    report.disconnects = clients.iter().filter(|(_, c)| c.is_closed()).count();
    let mut closing = Vec::new();
    for (_, client) in clients {
        closing.push(tokio::spawn(client.close()));
    }
    for c in closing {
        let _ = c.await;
    }
    report.first_error = first_error
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    Ok(report)
}

pub async fn run(cfg: LoadConfig) -> anyhow::Result<LoadReport> {
    anyhow::ensure!(
        cfg.connections > 0 && !cfg.rooms.is_empty(),
        "need connections and rooms"
    );
    anyhow::ensure!(cfg.rate > 0.0, "rate must be positive");
    raise_fd_limit();
    let recorder = Arc::new(Recorder::new());
    let first_error: Arc<Mutex<Option<String>>> = Arc::new(Mutex::new(None));
    let note_error = {
        let first_error = first_error.clone();
        move |e: String| {
            let mut slot = first_error.lock().unwrap_or_else(|p| p.into_inner());
            if slot.is_none() {
                *slot = Some(e);
            }
        }
    };

    // Connect everyone first (bounded concurrency), so that the measured window sees full rooms.
    let (connected, connect_errors, connect_s) =
        connect_all(&cfg, &note_error, Some(recorder.clone())).await;
    let mut clients: Vec<(usize, Arc<Peer>)> = Vec::with_capacity(connected.len());
    for (i, client) in connected {
        if let Peer::Full(c) = &client {
            observe_receipts(c, i as u64, recorder.clone());
        }
        clients.push((i, Arc::new(client)));
    }
    let mut room_sizes: HashMap<usize, u64> = HashMap::new();
    for (i, _) in &clients {
        *room_sizes.entry(i % cfg.rooms.len()).or_default() += 1;
    }

    let start_us = now_us();
    let window_start = start_us + cfg.warmup.as_micros() as u64;
    let window_end = window_start + cfg.duration.as_micros() as u64;
    recorder
        .window_start_us
        .store(window_start, Ordering::Relaxed);
    recorder.window_end_us.store(window_end, Ordering::Relaxed);
    let total = cfg.warmup + cfg.duration;
    let period = Duration::from_secs_f64(1.0 / cfg.rate);

    let sent = Arc::new(AtomicU64::new(0));
    let expected = Arc::new(AtomicU64::new(0));
    let send_errors = Arc::new(AtomicU64::new(0));
    let mut editors = Vec::with_capacity(clients.len());
    for (k, (i, client)) in clients.iter().enumerate() {
        let (i, client) = (*i, client.clone());
        let peers = room_sizes.get(&(i % cfg.rooms.len())).copied().unwrap_or(1) - 1;
        let (sent, expected, send_errors) = (sent.clone(), expected.clone(), send_errors.clone());
        let note_error = note_error.clone();
        // Spread the clients' first edits over one period so they don't all fire together.
        let offset = period.mul_f64(k as f64 / clients.len().max(1) as f64);
        editors.push(tokio::spawn(async move {
            let deadline = tokio::time::Instant::now() + total;
            let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + offset, period);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut n: u64 = 0;
            loop {
                tick.tick().await;
                if tokio::time::Instant::now() >= deadline {
                    break;
                }
                n += 1;
                let t = now_us();
                let value = marker(i as u64, n, t);
                let key = i.to_string();
                let res = match &*client {
                    Peer::Full(c) => {
                        c.edit(|txn| {
                            let bench = txn.get_or_insert_map(BENCH_MAP);
                            bench.insert(txn, key, Any::from(value));
                        })
                        .await
                    }
                    Peer::Probe(p) => p.edit(key, value).await,
                };
                match res {
                    Ok(()) => {
                        if t >= window_start && t < window_end {
                            sent.fetch_add(1, Ordering::Relaxed);
                            expected.fetch_add(peers, Ordering::Relaxed);
                        }
                    }
                    Err(e) => {
                        send_errors.fetch_add(1, Ordering::Relaxed);
                        note_error(format!("edit: {e}"));
                        // A closed connection will not come back; stop this editor.
                        if matches!(e, crate::docs::DocError::Closed(_)) {
                            break;
                        }
                    }
                }
            }
        }));
    }
    for e in editors {
        let _ = e.await;
    }

    // Let the last deliveries arrive: stop waiting as soon as all expected ones are in.
    let expected_total = expected.load(Ordering::Relaxed);
    let settle_deadline = Instant::now() + cfg.settle;
    while recorder.deliveries.load(Ordering::Relaxed) < expected_total
        && Instant::now() < settle_deadline
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Convergence: every replica of a room has the same state vector and the same content.
    // State vectors are compared as values (yrs encodes them in hash-map order), and the
    // bench map's content as JSON.
    let mut by_room: HashMap<usize, Vec<(yrs::StateVector, BenchState)>> = HashMap::new();
    let converge_deadline = Instant::now() + cfg.settle;
    let (mut converged, mut diverged);
    loop {
        by_room.clear();
        for (i, client) in &clients {
            let Peer::Full(client) = &**client else {
                continue;
            };
            let txn = client.doc().transact();
            let sv = txn.state_vector();
            let content = bench_state(&txn);
            by_room
                .entry(i % cfg.rooms.len())
                .or_default()
                .push((sv, content));
        }
        converged = 0;
        diverged = 0;
        for replicas in by_room.values() {
            if replicas.windows(2).all(|w| w[0] == w[1]) {
                converged += 1;
            } else {
                diverged += 1;
            }
        }
        if diverged == 0 || Instant::now() >= converge_deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let disconnects = clients.iter().filter(|(_, c)| c.is_closed()).count();

    let h = recorder
        .histogram
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    let deliveries = recorder.deliveries.load(Ordering::Relaxed);
    let sent = sent.load(Ordering::Relaxed);
    let window_s = cfg.duration.as_secs_f64();
    let report = LoadReport {
        url: cfg.url.clone(),
        connections: cfg.connections,
        rooms: cfg.rooms.len(),
        rate_per_client: cfg.rate,
        duration_s: window_s,
        warmup_s: cfg.warmup.as_secs_f64(),
        connected: clients.len(),
        connect_errors,
        connect_s,
        sent,
        sent_per_s: sent as f64 / window_s,
        deliveries,
        deliveries_per_s: deliveries as f64 / window_s,
        expected_deliveries: expected_total,
        missing_deliveries: expected_total.saturating_sub(deliveries),
        latency_ms: LatencyMs::of(&h),
        send_errors: send_errors.load(Ordering::Relaxed),
        disconnects,
        rooms_converged: converged,
        rooms_diverged: diverged,
        first_error: first_error
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone(),
    };

    // Close politely; Arc::try_unwrap succeeds once the editor tasks are gone.
    let mut closing = Vec::new();
    for (_, client) in clients {
        if let Ok(client) = Arc::try_unwrap(client) {
            closing.push(tokio::spawn(client.close()));
        }
    }
    for c in closing {
        let _ = c.await;
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::docs::reference_server;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn measures_fan_out_against_the_reference_server() {
        let server = reference_server::start();
        let report = run(LoadConfig {
            url: server.url.clone(),
            connections: 6,
            rooms: vec!["load-test-0".into(), "load-test-1".into()],
            rate: 10.0,
            duration: Duration::from_millis(1500),
            warmup: Duration::from_millis(300),
            settle: Duration::from_secs(10),
            token: Some("t".into()),
            connect_concurrency: 4,
            full_per_room: None,
        })
        .await
        .unwrap();
        assert_eq!(report.connected, 6, "{report:?}");
        assert_eq!(report.connect_errors, 0);
        assert!(report.sent >= 6 * 5, "{report:?}");
        // Every edit reaches the two other peers of its room.
        assert_eq!(report.expected_deliveries, report.sent * 2);
        assert_eq!(report.missing_deliveries, 0, "{report:?}");
        assert_eq!(report.latency_ms.count, report.deliveries);
        assert!(report.latency_ms.p50 > 0.0 && report.latency_ms.p50 <= report.latency_ms.max);
        assert_eq!((report.rooms_converged, report.rooms_diverged), (2, 0));
        assert_eq!(report.send_errors, 0);
        let json = serde_json::to_value(&report).unwrap();
        assert!(json["latency_ms"]["p99"].is_number());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn idle_mode_holds_synced_connections() {
        let server = reference_server::start();
        let mut seen = None;
        let report = idle(
            LoadConfig {
                url: server.url.clone(),
                connections: 4,
                rooms: vec!["idle-test-0".into(), "idle-test-1".into()],
                rate: 1.0,
                duration: Duration::from_secs(1),
                warmup: Duration::ZERO,
                settle: Duration::ZERO,
                token: None,
                connect_concurrency: 2,
                full_per_room: None,
            },
            Duration::from_millis(200),
            |r| seen = Some(r.connected),
        )
        .await
        .unwrap();
        assert_eq!(seen, Some(4));
        assert_eq!(
            (report.connected, report.connect_errors),
            (4, 0),
            "{report:?}"
        );
        assert_eq!(report.disconnects, 0, "{report:?}");
    }
}
