//! The Redis side of the fan-out: one publishing connection fed by a bounded queue, one
//! subscribing connection feeding a bounded queue, both reconnecting with backoff. A
//! Redis outage costs the other processes' live view, never local service.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use redis::AsyncConnectionConfig;
use tokio::sync::{Notify, mpsc};
use uuid::Uuid;

use super::{
    Envelope, HEARTBEAT, INBOUND_QUEUE, Inbound, Message, OUTBOUND_QUEUE, decode, encode, set_seq,
};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(3);
const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(5);
/// An origin not heard from for this long (two and a half heartbeats) is presumed dead:
/// forgotten, and a catch-up runs, because a process killed between persisting a change
/// and publishing it leaves no gap anyone could see in its sequence numbers.
const ORIGIN_SILENT: Duration = Duration::from_millis(HEARTBEAT.as_millis() as u64 * 5 / 2);

pub struct RedisFanout {
    /// This process, as other processes see it in every message.
    origin: Uuid,
    channel: String,
    /// Sequence numbers are assigned and queued under one lock so that the queue order is
    /// the sequence order (a reordering would look like a gap to the receivers).
    queue: Mutex<Outbound>,
    subscribed: AtomicBool,
    publishing: AtomicBool,
}

struct Outbound {
    seq: u64,
    tx: mpsc::Sender<Vec<u8>>,
    /// When the last "dropped" warning was logged (one a few seconds, not one a message).
    warned: Option<Instant>,
}

fn backoff(attempt: u32) -> Duration {
    BACKOFF_MIN
        .saturating_mul(1u32 << attempt.min(6))
        .min(BACKOFF_MAX)
}

fn conn_config() -> AsyncConnectionConfig {
    AsyncConnectionConfig::new()
        .set_connection_timeout(Some(CONNECT_TIMEOUT))
        .set_response_timeout(Some(RESPONSE_TIMEOUT))
}

impl RedisFanout {
    /// Checks the URL and starts the publisher, the subscriber and the heartbeat. Does
    /// not wait for Redis: an unreachable one is retried in the background.
    pub fn start(url: &str, prefix: &str) -> anyhow::Result<(Arc<RedisFanout>, Inbound)> {
        let invalid = |e: redis::RedisError| {
            anyhow::anyhow!("QOLLAB_REDIS_URL is not a valid Redis URL: {e}")
        };
        // Nagle's algorithm off (redis-rs leaves it on): a small publish must not wait
        // for the previous one's delayed ACK.
        let info = redis::IntoConnectionInfo::into_connection_info(url)
            .map_err(invalid)?
            .set_tcp_settings(redis::io::tcp::TcpSettings::default().set_nodelay(true));
        let client = redis::Client::open(info).map_err(invalid)?;
        let (out_tx, out_rx) = mpsc::channel(OUTBOUND_QUEUE);
        let (in_tx, in_rx) = mpsc::channel(INBOUND_QUEUE);
        let catch_up = Arc::new(Notify::new());
        let fanout = Arc::new(RedisFanout {
            origin: Uuid::new_v4(),
            channel: format!("{prefix}:fanout"),
            queue: Mutex::new(Outbound {
                seq: 0,
                tx: out_tx,
                warned: None,
            }),
            subscribed: AtomicBool::new(false),
            publishing: AtomicBool::new(false),
        });
        metrics::gauge!("qollab_fanout_redis_connected").set(0.0);
        tokio::spawn(publisher(fanout.clone(), client.clone(), out_rx));
        tokio::spawn(subscriber(
            Arc::downgrade(&fanout),
            client,
            in_tx,
            catch_up.clone(),
        ));
        let weak = Arc::downgrade(&fanout);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(HEARTBEAT);
            loop {
                tick.tick().await;
                let Some(f) = weak.upgrade() else { break };
                f.publish(Message::Heartbeat);
            }
        });
        Ok((
            fanout,
            Inbound {
                rx: in_rx,
                catch_up,
            },
        ))
    }

    pub fn is_connected(&self) -> bool {
        self.subscribed.load(Ordering::Relaxed) && self.publishing.load(Ordering::Relaxed)
    }

    fn set_gauge(&self) {
        metrics::gauge!("qollab_fanout_redis_connected").set(if self.is_connected() {
            1.0
        } else {
            0.0
        });
    }

    pub fn publish(&self, message: Message) {
        let mut payload = encode(self.origin, &message);
        let mut q = self.queue.lock().unwrap_or_else(|p| p.into_inner());
        q.seq += 1;
        set_seq(&mut payload, q.seq);
        if q.tx.try_send(payload).is_err() {
            // The sequence number is spent: receivers see the gap and catch up.
            metrics::counter!("qollab_fanout_dropped_total", "reason" => "outbound_queue_full")
                .increment(1);
            if q.warned
                .is_none_or(|t| t.elapsed() > Duration::from_secs(5))
            {
                q.warned = Some(Instant::now());
                tracing::warn!(
                    "Redis fan-out queue full: dropping messages for other processes (they catch up from the database)"
                );
            }
        }
    }
}

/// Publishes queued messages in order. While Redis is unreachable the queue is drained
/// and dropped (stale live messages are worth nothing; receivers catch up from the
/// database once they see the gap).
async fn publisher(
    fanout: Arc<RedisFanout>,
    client: redis::Client,
    mut rx: mpsc::Receiver<Vec<u8>>,
) {
    let mut attempt = 0u32;
    loop {
        let conn = client
            .get_multiplexed_async_connection_with_config(&conn_config())
            .await;
        let mut conn = match conn {
            Ok(c) => c,
            Err(e) => {
                if attempt == 0 {
                    tracing::warn!(error = %e, "Redis unreachable for publishing; serving locally, retrying");
                }
                let wait = tokio::time::sleep(backoff(attempt));
                tokio::pin!(wait);
                attempt = attempt.saturating_add(1);
                loop {
                    tokio::select! {
                        _ = &mut wait => break,
                        m = rx.recv() => match m {
                            Some(_) => metrics::counter!("qollab_fanout_dropped_total", "reason" => "redis_down").increment(1),
                            None => return,
                        },
                    }
                }
                continue;
            }
        };
        if attempt > 0 {
            tracing::info!("Redis reachable again for publishing");
        }
        attempt = 0;
        fanout.publishing.store(true, Ordering::Relaxed);
        fanout.set_gauge();
        while let Some(payload) = rx.recv().await {
            let sent: redis::RedisResult<i64> = redis::cmd("PUBLISH")
                .arg(&fanout.channel)
                .arg(payload)
                .query_async(&mut conn)
                .await;
            match sent {
                Ok(_) => metrics::counter!("qollab_fanout_published_total").increment(1),
                Err(e) => {
                    metrics::counter!("qollab_fanout_dropped_total", "reason" => "redis_error")
                        .increment(1);
                    tracing::warn!(error = %e, "publishing to Redis failed; reconnecting");
                    break;
                }
            }
        }
        fanout.publishing.store(false, Ordering::Relaxed);
        fanout.set_gauge();
        if rx.is_closed() {
            return;
        }
    }
}

/// Tracks each origin's sequence numbers and when it was last heard, to notice lost
/// messages and dead processes.
#[derive(Default)]
struct Origins {
    seen: HashMap<Uuid, (u64, Instant)>,
}

impl Origins {
    /// True when messages of `origin` were missed before `seq`.
    fn gap(&mut self, origin: Uuid, seq: u64, now: Instant) -> bool {
        match self.seen.insert(origin, (seq, now)) {
            // A process already running when we subscribed (or one presumed dead that
            // was only slow): what it sent before is in the database, but a catch-up is
            // cheap once per origin.
            None => seq > 1,
            Some((last, _)) => {
                if seq < last {
                    // Never goes backwards on one connection; keep the high-water mark.
                    self.seen.insert(origin, (last, now));
                }
                seq > last + 1
            }
        }
    }

    /// Forgets the origins silent for longer than [`ORIGIN_SILENT`]; true when there were
    /// any (their last changes may be in the database and nowhere else: catch up).
    fn silent(&mut self, now: Instant) -> bool {
        let before = self.seen.len();
        self.seen
            .retain(|_, (_, at)| now.saturating_duration_since(*at) < ORIGIN_SILENT);
        self.seen.len() < before
    }
}

/// Subscribes, forwards other processes' messages, and resubscribes on any failure; each
/// new subscription is followed by a catch-up (messages published meanwhile are lost).
async fn subscriber(
    fanout: std::sync::Weak<RedisFanout>,
    client: redis::Client,
    tx: mpsc::Sender<Message>,
    catch_up: Arc<Notify>,
) {
    let mut attempt = 0u32;
    let mut origins = Origins::default();
    let mut warned_full: Option<Instant> = None;
    loop {
        let Some(f) = fanout.upgrade() else { return };
        let (origin, channel) = (f.origin, f.channel.clone());
        drop(f);
        let subscribed = async {
            let mut pubsub = tokio::time::timeout(CONNECT_TIMEOUT, client.get_async_pubsub())
                .await
                .map_err(|_| "connect timed out".to_string())?
                .map_err(|e| e.to_string())?;
            tokio::time::timeout(RESPONSE_TIMEOUT, pubsub.subscribe(&channel))
                .await
                .map_err(|_| "subscribe timed out".to_string())?
                .map_err(|e| e.to_string())?;
            Ok::<_, String>(pubsub)
        }
        .await;
        let pubsub = match subscribed {
            Ok(p) => p,
            Err(e) => {
                if attempt == 0 {
                    tracing::warn!(error = %e, "Redis unreachable for the fan-out subscription; serving locally, retrying");
                }
                tokio::time::sleep(backoff(attempt)).await;
                attempt = attempt.saturating_add(1);
                continue;
            }
        };
        if attempt > 0 {
            tracing::info!("Redis fan-out subscription restored; catching up from the database");
        }
        attempt = 0;
        if let Some(f) = fanout.upgrade() {
            f.subscribed.store(true, Ordering::Relaxed);
            f.set_gauge();
        }
        metrics::counter!("qollab_fanout_subscriptions_total").increment(1);
        catch_up.notify_one();
        let (mut sink, mut stream) = pubsub.split();
        let mut ping = tokio::time::interval(HEARTBEAT * 2);
        ping.tick().await;
        let mut silence = tokio::time::interval(HEARTBEAT / 2);
        silence.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let why = loop {
            tokio::select! {
                msg = stream.next() => {
                    let Some(msg) = msg else { break "connection closed".to_string() };
                    let Some(Envelope { origin: from, seq, message }) = decode(msg.get_payload_bytes()) else {
                        continue;
                    };
                    if from == origin {
                        continue;
                    }
                    if origins.gap(from, seq, Instant::now()) {
                        metrics::counter!("qollab_fanout_gaps_total").increment(1);
                        catch_up.notify_one();
                    }
                    if matches!(message, Message::Heartbeat) {
                        continue;
                    }
                    metrics::counter!("qollab_fanout_received_total").increment(1);
                    if tx.try_send(message).is_err() {
                        metrics::counter!("qollab_fanout_dropped_total", "reason" => "inbound_queue_full").increment(1);
                        catch_up.notify_one();
                        if warned_full.is_none_or(|t| t.elapsed() > Duration::from_secs(5)) {
                            warned_full = Some(Instant::now());
                            tracing::warn!("fan-out inbound queue full: dropping messages and catching up from the database");
                        }
                    }
                }
                _ = silence.tick() => {
                    if origins.silent(Instant::now()) {
                        metrics::counter!("qollab_fanout_origins_lost_total").increment(1);
                        tracing::info!("a qollab process went silent; catching up from the database");
                        catch_up.notify_one();
                    }
                }
                _ = ping.tick() => {
                    match tokio::time::timeout(RESPONSE_TIMEOUT, sink.ping::<redis::Value>()).await {
                        Ok(Ok(_)) => {}
                        Ok(Err(e)) => break e.to_string(),
                        Err(_) => break "ping timed out".to_string(),
                    }
                }
            }
        };
        tracing::warn!(reason = %why, "Redis fan-out subscription lost; serving locally, reconnecting");
        if let Some(f) = fanout.upgrade() {
            f.subscribed.store(false, Ordering::Relaxed);
            f.set_gauge();
        }
        if tx.is_closed() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gaps_are_noticed_per_origin() {
        let mut o = Origins::default();
        let now = Instant::now();
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        assert!(!o.gap(a, 1, now), "a process seen from its first message");
        assert!(!o.gap(a, 2, now));
        assert!(
            o.gap(b, 40, now),
            "a process seen mid-stream: catch up once"
        );
        assert!(!o.gap(b, 41, now));
        assert!(o.gap(a, 4, now), "message 3 of a was lost");
        assert!(!o.gap(a, 5, now));
    }

    #[test]
    fn a_silent_origin_is_presumed_dead_and_caught_up_after() {
        let mut o = Origins::default();
        let t0 = Instant::now();
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        assert!(!o.gap(a, 1, t0));
        assert!(!o.gap(b, 1, t0));
        assert!(!o.silent(t0 + HEARTBEAT), "a heartbeat late is not dead");
        // b keeps talking, a stops (killed after persisting what it never published).
        let later = t0 + ORIGIN_SILENT;
        assert!(!o.gap(b, 2, later - HEARTBEAT / 2));
        assert!(o.silent(later), "a is silent for ORIGIN_SILENT");
        assert!(!o.silent(later), "noticed once");
        assert!(!o.gap(b, 3, later), "b is still known");
        // a was only slow: its next message is a new origin mid-stream.
        assert!(o.gap(a, 2, later));
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        assert_eq!(backoff(0), BACKOFF_MIN);
        assert!(backoff(3) > backoff(2));
        assert_eq!(backoff(30), BACKOFF_MAX);
    }
}
