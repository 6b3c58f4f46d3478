//! Fan-out between `qollab` processes: what one process changes live (a document
//! update, an awareness frame, a membership change, a workspace event) reaches the
//! connections held by the others.
//!
//! [`Fanout::Local`] (the default, one process) tells no one; [`Fanout::Redis`]
//! publishes on Redis pub/sub and feeds what the other processes publish to this
//! process's rooms and event bus through [`dispatch`]. The rest of the server only
//! calls [`Fanout::publish`] and never knows which one runs.
//!
//! Pub/sub is at-most-once: the database stays the source of truth. Every message a
//! process publishes carries its origin and a per-origin sequence number; a gap, a
//! dropped message (a full queue) or a re-established subscription triggers a catch-up
//! from the database (document logs and snapshots, the event log), so a lost message
//! delays a change, it never loses it.

pub mod redis;

use std::sync::{Arc, Weak};
use std::time::Duration;

use qollab_shared::api::Role;
use qollab_shared::events::Event;
use serde::{Deserialize, Serialize};
use tokio::sync::{Notify, mpsc};
use uuid::Uuid;

use crate::docs::rooms::Rooms;
use crate::events::EventBus;
use crate::live::{Live, Revocation};

/// Messages from other processes waiting for the rooms and the bus; a full queue drops
/// the message and schedules a catch-up instead of growing.
pub const INBOUND_QUEUE: usize = 4096;
/// This process's messages waiting for Redis; a full queue drops (receivers see the gap).
pub const OUTBOUND_QUEUE: usize = 8192;
/// How often every process says it is alive (and how late a lost last message is noticed).
pub const HEARTBEAT: Duration = Duration::from_secs(2);

/// A live change to tell the other processes about.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "snake_case")]
pub enum Message {
    /// A workspace event, already committed (its id is assigned).
    Event { event: Event },
    /// A document update, already appended to the log as `id`; bytes in the body.
    DocUpdate {
        doc_id: Uuid,
        workspace_id: Uuid,
        id: i64,
        #[serde(skip)]
        update: Vec<u8>,
    },
    /// A y-websocket awareness frame (cursors, presence); bytes in the body.
    Awareness {
        doc_id: Uuid,
        #[serde(skip)]
        frame: Vec<u8>,
    },
    /// A process just loaded the document: whoever has it loaded answers with the
    /// awareness states they know (y-websocket's query-awareness, between processes).
    AwarenessQuery { doc_id: Uuid },
    /// A member's role changed (`Some`) or they were removed (`None`).
    Membership {
        workspace_id: Uuid,
        user_id: Uuid,
        role: Option<Role>,
    },
    /// A document was deleted: close its live connections.
    CloseDoc { doc_id: Uuid, reason: String },
    /// A session ended, an API token was deleted or a workspace deleted: close the live
    /// connections that depended on it (`crate::live`).
    Revoke { revocation: Revocation },
    /// A person's notifications changed: wake their `/ws/me` streams (which read the
    /// change from the database).
    Notice { user_id: Uuid },
    /// Nothing but the origin's sequence number (liveness, and gap detection of a lost
    /// last message).
    Heartbeat,
}

impl Message {
    fn body(&self) -> &[u8] {
        match self {
            Message::DocUpdate { update, .. } => update,
            Message::Awareness { frame, .. } => frame,
            _ => &[],
        }
    }

    fn set_body(&mut self, body: Vec<u8>) {
        match self {
            Message::DocUpdate { update, .. } => *update = body,
            Message::Awareness { frame, .. } => *frame = body,
            _ => {}
        }
    }
}

/// One published message on the wire: `origin (16 bytes) | seq (u64 BE) | JSON header |
/// '\n' | raw body`. The body (a yrs update or an awareness frame) stays binary.
#[derive(Debug, PartialEq)]
pub struct Envelope {
    pub origin: Uuid,
    pub seq: u64,
    pub message: Message,
}

const PREFIX: usize = 16 + 8;

/// Encodes `message` with a zero sequence number; [`set_seq`] fills it in at enqueue.
pub fn encode(origin: Uuid, message: &Message) -> Vec<u8> {
    let header = serde_json::to_vec(message).unwrap_or_default();
    let body = message.body();
    let mut out = Vec::with_capacity(PREFIX + header.len() + 1 + body.len());
    out.extend_from_slice(origin.as_bytes());
    out.extend_from_slice(&0u64.to_be_bytes());
    out.extend_from_slice(&header);
    out.push(b'\n');
    out.extend_from_slice(body);
    out
}

pub fn set_seq(payload: &mut [u8], seq: u64) {
    if payload.len() >= PREFIX {
        payload[16..PREFIX].copy_from_slice(&seq.to_be_bytes());
    }
}

/// Decodes a payload published by [`encode`]; `None` for anything else (another
/// program on the same channel, a newer message type).
pub fn decode(payload: &[u8]) -> Option<Envelope> {
    if payload.len() < PREFIX {
        return None;
    }
    let origin = Uuid::from_slice(&payload[..16]).ok()?;
    let seq = u64::from_be_bytes(payload[16..PREFIX].try_into().ok()?);
    let rest = &payload[PREFIX..];
    let nl = rest.iter().position(|b| *b == b'\n')?;
    let mut message: Message = serde_json::from_slice(&rest[..nl]).ok()?;
    message.set_body(rest[nl + 1..].to_vec());
    Some(Envelope {
        origin,
        seq,
        message,
    })
}

/// How live changes leave this process.
#[derive(Clone, Default)]
pub enum Fanout {
    /// One process: its own rooms and bus are everyone.
    #[default]
    Local,
    /// Several processes sharing a database, told about each other's changes over Redis.
    Redis(Arc<redis::RedisFanout>),
}

/// What `/readyz` and the banner say about the fan-out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Health {
    Local,
    /// Subscribed and publishing.
    Connected,
    /// Redis is unreachable: serving local connections only, reconnecting.
    Disconnected,
}

impl Fanout {
    /// Hands a change to the other processes. Never waits: when Redis is slow or gone
    /// the message is dropped (counted, and caught up by the receivers from the database).
    pub fn publish(&self, message: Message) {
        if let Fanout::Redis(r) = self {
            r.publish(message);
        }
    }

    pub fn health(&self) -> Health {
        match self {
            Fanout::Local => Health::Local,
            Fanout::Redis(r) if r.is_connected() => Health::Connected,
            Fanout::Redis(_) => Health::Disconnected,
        }
    }
}

/// What the Redis side hands to [`dispatch`].
pub struct Inbound {
    pub rx: mpsc::Receiver<Message>,
    /// Notified when something may have been missed (a gap, a dropped message, a new
    /// subscription): loaded rooms and event subscribers then catch up from the database.
    pub catch_up: Arc<Notify>,
}

/// Starts the fan-out named by the configuration: `Local` without a Redis URL.
pub fn start(redis_url: Option<&str>, prefix: &str) -> anyhow::Result<(Fanout, Option<Inbound>)> {
    match redis_url {
        None => Ok((Fanout::Local, None)),
        Some(url) => {
            let (fanout, inbound) = redis::RedisFanout::start(url, prefix)?;
            Ok((Fanout::Redis(fanout), Some(inbound)))
        }
    }
}

/// Delivers other processes' changes to this process's rooms, event bus and live
/// connections, and runs catch-ups (one at a time; requests arriving during one coalesce
/// into the next).
pub fn dispatch(
    inbound: Inbound,
    rooms: Weak<Rooms>,
    bus: Weak<EventBus>,
    live: Weak<Live>,
    notifications: Weak<crate::notifications::Notifications>,
) {
    let Inbound { mut rx, catch_up } = inbound;
    {
        let (rooms, bus, live) = (rooms.clone(), bus.clone(), live.clone());
        tokio::spawn(async move {
            loop {
                catch_up.notified().await;
                let (Some(rooms), Some(bus), Some(live)) =
                    (rooms.upgrade(), bus.upgrade(), live.upgrade())
                else {
                    break;
                };
                metrics::counter!("qollab_fanout_catchups_total").increment(1);
                // A lost message may have been a revocation: re-read first.
                live.recheck_all().await;
                rooms.catch_up_all().await;
                bus.catch_up_all().await;
            }
        });
    }
    tokio::spawn(async move {
        while let Some(message) = rx.recv().await {
            let (Some(rooms), Some(bus), Some(live)) =
                (rooms.upgrade(), bus.upgrade(), live.upgrade())
            else {
                break;
            };
            match message {
                Message::Event { event } => bus.deliver_remote(event),
                Message::DocUpdate {
                    doc_id,
                    workspace_id,
                    id,
                    update,
                } => rooms.remote_update(doc_id, workspace_id, id, update),
                Message::Awareness { doc_id, frame } => rooms.remote_awareness(doc_id, frame),
                Message::AwarenessQuery { doc_id } => rooms.awareness_query(doc_id),
                Message::Membership {
                    workspace_id,
                    user_id,
                    role,
                } => live.apply(&Revocation::Member {
                    workspace_id,
                    user_id,
                    role,
                }),
                Message::CloseDoc { doc_id, reason } => rooms.close_local(doc_id, &reason),
                Message::Revoke { revocation } => live.apply(&revocation),
                Message::Notice { user_id } => {
                    if let Some(n) = notifications.upgrade() {
                        n.changed_locally(user_id);
                    }
                }
                Message::Heartbeat => {}
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip_with_binary_bodies() {
        let origin = Uuid::new_v4();
        let cases = [
            Message::DocUpdate {
                doc_id: Uuid::new_v4(),
                workspace_id: Uuid::new_v4(),
                id: 42,
                update: vec![0, 10, 13, 255, b'\n', 7],
            },
            Message::Awareness {
                doc_id: Uuid::new_v4(),
                frame: vec![1, 2, b'\n', b'\n'],
            },
            Message::Membership {
                workspace_id: Uuid::new_v4(),
                user_id: Uuid::new_v4(),
                role: Some(Role::Viewer),
            },
            Message::CloseDoc {
                doc_id: Uuid::new_v4(),
                reason: "gone\nfor good".into(),
            },
            Message::Revoke {
                revocation: Revocation::Session {
                    session_id: Uuid::new_v4(),
                },
            },
            Message::Revoke {
                revocation: Revocation::Member {
                    workspace_id: Uuid::new_v4(),
                    user_id: Uuid::new_v4(),
                    role: None,
                },
            },
            Message::Heartbeat,
        ];
        for (i, m) in cases.into_iter().enumerate() {
            let mut payload = encode(origin, &m);
            set_seq(&mut payload, i as u64 + 7);
            let back = decode(&payload).unwrap_or_else(|| panic!("decodes: {m:?}"));
            assert_eq!(
                back,
                Envelope {
                    origin,
                    seq: i as u64 + 7,
                    message: m
                }
            );
        }
    }

    #[test]
    fn foreign_payloads_are_ignored() {
        assert_eq!(decode(b""), None);
        assert_eq!(decode(b"hello world, not ours at all"), None);
        let mut p = encode(Uuid::new_v4(), &Message::Heartbeat);
        p.truncate(p.len() - 1); // no newline
        assert_eq!(decode(&p), None);
    }
}
