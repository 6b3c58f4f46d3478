//! Load generator for streamed AI answers: W workspaces, S event-stream subscribers
//! each, and one answer at a time per workspace's assistant thread (so W answers stream
//! at once), from an OpenAI-compatible stand-in provider this generator serves itself
//! (the server's `QOLLAB_AI_BASE_URL` must point at it).
//!
//! Every streamed piece carries a marker `⟦n⟧` with a number unique to the run, and the
//! stand-in stamps the instant it writes piece n to the server's socket. A subscriber
//! that receives an `ai.message.delta` holding `⟦n⟧` records now − stamp(n): the time
//! the server took from the provider's chunk to the event at that subscriber. Stored
//! events (`ai.message.created` / `completed`) record arrival − their `at`. Generator and
//! server share one machine (one clock).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use chrono::Utc;
use hdrhistogram::Histogram;
use serde::Serialize;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use uuid::Uuid;

use super::{LatencyMs, new_histogram};
use crate::events::{EventStream, StreamOptions};
use crate::rest::Client;

#[derive(Debug, Clone)]
pub struct AiLoadConfig {
    /// The server's HTTP root, e.g. `http://127.0.0.1:8080`.
    pub server: String,
    pub token: String,
    /// The organization the workspaces are made in (its plan must allow the answers).
    pub org: Uuid,
    /// Where the stand-in provider listens (the server's `QOLLAB_AI_BASE_URL` is
    /// `http://<this>/v1`).
    pub provider: std::net::SocketAddr,
    pub workspaces: usize,
    /// Event-stream subscribers per workspace.
    pub subscribers: usize,
    /// Answers per workspace, one after the other.
    pub answers: usize,
    /// Streamed pieces per answer.
    pub chunks: usize,
    /// Gap between two pieces from the provider.
    pub chunk_gap: Duration,
    pub timeout: Duration,
}

#[derive(Debug, Clone, Serialize)]
pub struct AiLoadReport {
    pub server: String,
    pub workspaces: usize,
    pub subscribers_per_workspace: usize,
    pub subscribers_connected: usize,
    pub answers_per_workspace: usize,
    pub chunks_per_answer: usize,
    pub chunk_gap_ms: f64,
    /// Answers whose `ai.message.completed` reached every subscriber of the workspace.
    pub answers_completed_everywhere: usize,
    pub answers_failed: u64,
    pub chunks_sent: u64,
    /// Delta events received, over all subscribers.
    pub delta_events: u64,
    /// Delta events per answer per second of streaming, at one subscriber (≤ 20 by design).
    pub delta_events_per_answer_s: f64,
    /// Provider chunk written → the delta event holding it at a subscriber.
    pub chunk_to_event_ms: LatencyMs,
    /// Stored `ai.message.*` events: arrival at a subscriber − the event's `at`.
    pub stored_event_ms: LatencyMs,
    /// Whether every subscriber's joined deltas equal the completed text.
    pub texts_whole: bool,
    pub elapsed_s: f64,
    pub first_error: Option<String>,
}

struct Shared {
    base: Instant,
    /// Nanoseconds after `base` at which piece n was written (0: not yet).
    stamps: Vec<AtomicU64>,
    next: AtomicUsize,
    chunks: usize,
    gap: Duration,
    first_error: std::sync::Mutex<Option<String>>,
}

impl Shared {
    fn note(&self, e: String) {
        let mut f = self.first_error.lock().unwrap_or_else(|p| p.into_inner());
        if f.is_none() {
            *f = Some(e);
        }
    }
}

fn marker(n: usize) -> String {
    format!("⟦{n}⟧ ")
}

/// The piece numbers in a delta.
fn markers(text: &str) -> impl Iterator<Item = usize> + '_ {
    text.split('⟦')
        .skip(1)
        .filter_map(|s| s.split_once('⟧').and_then(|(n, _)| n.parse().ok()))
}

// ---- the stand-in provider

fn chunk(delta: serde_json::Value) -> String {
    let c = json!({"id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": 0,
        "model": "bench-stand-in", "choices": [{"index": 0, "delta": delta, "finish_reason": null}]});
    format!("data: {c}\n\n")
}

async fn read_request(sock: &mut TcpStream) -> Option<()> {
    let mut buf = Vec::new();
    let mut tmp = [0u8; 16384];
    let head_end = loop {
        let n = sock.read(&mut tmp).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&tmp[..n]);
        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break p + 4;
        }
        if buf.len() > 1 << 20 {
            return None;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
    let len: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    while buf.len() < head_end + len.min(1 << 24) {
        let n = sock.read(&mut tmp).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&tmp[..n]);
    }
    Some(())
}

async fn stream_answer(mut sock: TcpStream, shared: Arc<Shared>) {
    if read_request(&mut sock).await.is_none() {
        return;
    }
    let _ = sock.set_nodelay(true);
    let head = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\nConnection: close\r\n\r\n";
    let first = chunk(json!({"role": "assistant", "content": ""}));
    if sock
        .write_all(format!("{head}{first}").as_bytes())
        .await
        .is_err()
    {
        return;
    }
    let mut tick = tokio::time::interval(shared.gap);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    for _ in 0..shared.chunks {
        tick.tick().await;
        let n = shared.next.fetch_add(1, Ordering::Relaxed);
        let frame = chunk(json!({"content": marker(n)}));
        if let Some(s) = shared.stamps.get(n) {
            s.store(
                shared.base.elapsed().as_nanos().max(1) as u64,
                Ordering::Release,
            );
        }
        if sock.write_all(frame.as_bytes()).await.is_err() {
            return;
        }
    }
    let usage = json!({"id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": 0,
        "model": "bench-stand-in", "choices": [],
        "usage": {"prompt_tokens": 100, "completion_tokens": shared.chunks, "total_tokens": 100 + shared.chunks}});
    let _ = sock
        .write_all(format!("data: {usage}\n\ndata: [DONE]\n\n").as_bytes())
        .await;
    let _ = sock.shutdown().await;
}

// ---- subscribers

struct Seen {
    chunk_latency: Histogram<u64>,
    stored_latency: Histogram<u64>,
    deltas: u64,
    completed: usize,
    failed: u64,
    whole: bool,
}

async fn subscribe(
    mut stream: EventStream,
    answers: usize,
    mut stop: watch::Receiver<bool>,
    shared: Arc<Shared>,
) -> Seen {
    let mut seen = Seen {
        chunk_latency: new_histogram(),
        stored_latency: new_histogram(),
        deltas: 0,
        completed: 0,
        failed: 0,
        whole: true,
    };
    let mut text: std::collections::HashMap<String, String> = Default::default();
    while seen.completed < answers {
        let event = tokio::select! {
            e = stream.next() => e,
            _ = stop.changed() => break,
        };
        let event = match event {
            Ok(e) => e,
            Err(e) => {
                shared.note(format!("event stream: {e}"));
                break;
            }
        };
        let id = event.data["message_id"].as_str().unwrap_or_default();
        match event.kind.as_str() {
            "ai.message.delta" => {
                let now = shared.base.elapsed().as_nanos() as u64;
                let delta = event.data["delta"].as_str().unwrap_or_default();
                seen.deltas += 1;
                for n in markers(delta) {
                    let at = shared
                        .stamps
                        .get(n)
                        .map(|s| s.load(Ordering::Acquire))
                        .unwrap_or(0);
                    if at > 0 {
                        seen.chunk_latency
                            .saturating_record((now.saturating_sub(at) / 1000).max(1));
                    }
                }
                text.entry(id.to_string()).or_default().push_str(delta);
            }
            "ai.message.created" | "ai.message.completed" | "ai.message.failed" => {
                let lag_us = (Utc::now() - event.at).num_microseconds().unwrap_or(0);
                seen.stored_latency.saturating_record(lag_us.max(1) as u64);
                if event.kind == "ai.message.completed" {
                    seen.completed += 1;
                    let got = text.remove(id).unwrap_or_default();
                    if event.data["text"].as_str() != Some(got.as_str()) {
                        seen.whole = false;
                    }
                } else if event.kind == "ai.message.failed" {
                    seen.completed += 1;
                    seen.failed += 1;
                }
            }
            _ => {}
        }
    }
    stream.close().await;
    seen
}

/// Asks `answers` questions in a row in one workspace, each once the previous one ended.
async fn ask_in_turn(
    client: Client,
    mut stream: EventStream,
    ws: Uuid,
    answers: usize,
    shared: Arc<Shared>,
) {
    for i in 0..answers {
        let posted = client
            .ask_ai(ws, &format!("benchmark question {i}"), None)
            .await;
        let answer = match posted {
            Ok(r) => r.answer_id.to_string(),
            Err(e) => {
                shared.note(format!("ask: {e}"));
                return;
            }
        };
        loop {
            match stream.next().await {
                Ok(e)
                    if (e.kind == "ai.message.completed" || e.kind == "ai.message.failed")
                        && e.data["message_id"].as_str() == Some(answer.as_str()) =>
                {
                    break;
                }
                Ok(_) => {}
                Err(e) => {
                    shared.note(format!("asker's stream: {e}"));
                    return;
                }
            }
        }
    }
    stream.close().await;
}

pub async fn run(cfg: AiLoadConfig) -> anyhow::Result<AiLoadReport> {
    anyhow::ensure!(
        cfg.workspaces > 0 && cfg.answers > 0 && cfg.chunks > 0,
        "workspaces, answers and chunks must be > 0"
    );
    super::raise_fd_limit();
    let total = cfg.workspaces * cfg.answers * cfg.chunks;
    let shared = Arc::new(Shared {
        base: Instant::now(),
        stamps: (0..total + 1024).map(|_| AtomicU64::new(0)).collect(),
        next: AtomicUsize::new(0),
        chunks: cfg.chunks,
        gap: cfg.chunk_gap,
        first_error: Default::default(),
    });
    let listener = TcpListener::bind(cfg.provider).await?;
    let provider = tokio::spawn({
        let shared = shared.clone();
        async move {
            while let Ok((sock, _)) = listener.accept().await {
                tokio::spawn(stream_answer(sock, shared.clone()));
            }
        }
    });

    let client = Client::new(cfg.server.clone()).with_token(cfg.token.clone());
    let mut workspaces = Vec::with_capacity(cfg.workspaces);
    for i in 0..cfg.workspaces {
        workspaces.push(
            client
                .create_workspace(&format!("ai bench {i}"), Some(cfg.org))
                .await?
                .id,
        );
    }

    // Every subscriber is connected before the first question.
    let (stop_tx, stop_rx) = watch::channel(false);
    let gate = Arc::new(Semaphore::new(32));
    let mut connecting = Vec::new();
    for &ws in &workspaces {
        for _ in 0..cfg.subscribers {
            let (gate, server, token) = (gate.clone(), cfg.server.clone(), cfg.token.clone());
            connecting.push(tokio::spawn(async move {
                let _permit = gate.acquire_owned().await;
                EventStream::connect(&server, ws, &token, StreamOptions::default()).await
            }));
        }
    }
    let mut subscribers = Vec::new();
    for c in connecting {
        match c.await {
            Ok(Ok(stream)) => subscribers.push(tokio::spawn(subscribe(
                stream,
                cfg.answers,
                stop_rx.clone(),
                shared.clone(),
            ))),
            Ok(Err(e)) => shared.note(format!("subscribe: {e}")),
            Err(e) => shared.note(format!("subscribe task: {e}")),
        }
    }
    let connected = subscribers.len();
    let mut askers_streams = Vec::new();
    for &ws in &workspaces {
        askers_streams.push(
            EventStream::connect(&cfg.server, ws, &cfg.token, StreamOptions::default()).await?,
        );
    }
    tokio::time::sleep(Duration::from_millis(500)).await;

    let started = Instant::now();
    let askers: Vec<_> = workspaces
        .iter()
        .zip(askers_streams)
        .map(|(&ws, stream)| {
            tokio::spawn(ask_in_turn(
                client.clone(),
                stream,
                ws,
                cfg.answers,
                shared.clone(),
            ))
        })
        .collect();
    let stopper = tokio::spawn({
        let timeout = cfg.timeout;
        async move {
            tokio::time::sleep(timeout).await;
            let _ = stop_tx.send(true);
        }
    });
    for a in askers {
        let _ = a.await;
    }
    let mut chunk_latency = new_histogram();
    let mut stored_latency = new_histogram();
    let (mut deltas, mut completed_everywhere, mut failed, mut whole) =
        (0u64, usize::MAX, 0u64, true);
    for s in subscribers {
        let Ok(seen) = s.await else { continue };
        let _ = chunk_latency.add(&seen.chunk_latency);
        let _ = stored_latency.add(&seen.stored_latency);
        deltas += seen.deltas;
        completed_everywhere = completed_everywhere.min(seen.completed);
        failed = failed.max(seen.failed);
        whole &= seen.whole;
    }
    let elapsed = started.elapsed().as_secs_f64();
    stopper.abort();
    provider.abort();
    if connected == 0 {
        completed_everywhere = 0;
    }
    let streaming_s = (cfg.chunks as f64 * cfg.chunk_gap.as_secs_f64()).max(1e-9);
    let per_subscriber_answers = (connected.max(1) * cfg.answers) as f64;
    Ok(AiLoadReport {
        server: cfg.server,
        workspaces: cfg.workspaces,
        subscribers_per_workspace: cfg.subscribers,
        subscribers_connected: connected,
        answers_per_workspace: cfg.answers,
        chunks_per_answer: cfg.chunks,
        chunk_gap_ms: cfg.chunk_gap.as_secs_f64() * 1000.0,
        answers_completed_everywhere: completed_everywhere * cfg.workspaces,
        answers_failed: failed,
        chunks_sent: shared.next.load(Ordering::Relaxed) as u64,
        delta_events: deltas,
        delta_events_per_answer_s: deltas as f64 / per_subscriber_answers / streaming_s,
        chunk_to_event_ms: LatencyMs::of(&chunk_latency),
        stored_event_ms: LatencyMs::of(&stored_latency),
        texts_whole: whole,
        elapsed_s: elapsed,
        first_error: shared
            .first_error
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_are_read_back_from_coalesced_text() {
        let text = format!("{}{}{}", marker(3), marker(4), marker(12345));
        assert_eq!(markers(&text).collect::<Vec<_>>(), vec![3, 4, 12345]);
        assert_eq!(markers("no markers here ⟦x⟧").count(), 0);
    }
}
