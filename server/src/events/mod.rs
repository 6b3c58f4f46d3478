//! Workspace events: stored in order per workspace, then pushed live to every
//! subscriber of the workspace; replayable with `?since=`.
//!
//! One publisher task batches what every part of the server emits into one commit,
//! then broadcasts in commit order. What one commit stored for a workspace is broadcast
//! as one [`Batch`]: each subscriber wakes once for it and writes it to its socket in one
//! go, where one broadcast per event woke every subscriber once per event (a round of
//! the jobs executor carries dozens). Subscribers hold a bounded broadcast receiver: one
//! that falls behind is told so and disconnected, it never slows the others.
//!
//! Every committed event is also handed to the fan-out, and events committed by other
//! processes arrive through it; subscribers drop what they already have by id and fill
//! gaps from the log, so the two paths never duplicate or reorder an event.

pub mod consumer;
pub mod routes;
pub mod socket;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use chrono::Utc;
use qollab_shared::events::{Event, kinds};
use tokio::sync::{broadcast, mpsc, oneshot};
use uuid::Uuid;

use crate::db::Db;
use crate::db::queries::events::NewEvent;
use crate::db::tables::events;
use crate::fanout::{Fanout, Message};

const MAX_BATCH: usize = 512;
const QUEUE: usize = 16_384;
/// Live batches buffered per workspace for slow subscribers.
pub const SUBSCRIBER_BUFFER: usize = 1024;

/// Events of one workspace delivered together, in order (one commit's, or one event).
pub type Batch = Arc<[Delivered]>;

/// An event as its subscribers receive it: serialized once, by the first subscriber that
/// sends it, for all of them (a job's transition reaches hundreds of sockets).
pub struct Delivered {
    event: Event,
    wire: OnceLock<bytestring::ByteString>,
}

impl Delivered {
    fn new(event: Event) -> Self {
        Self {
            event,
            wire: OnceLock::new(),
        }
    }

    /// The event's JSON text (a clone is a reference count).
    pub fn wire(&self) -> bytestring::ByteString {
        self.wire
            .get_or_init(|| {
                serde_json::to_string(&self.event)
                    .unwrap_or_default()
                    .into()
            })
            .clone()
    }
}

impl std::ops::Deref for Delivered {
    type Target = Event;
    fn deref(&self) -> &Event {
        &self.event
    }
}

struct Publish {
    event: NewEvent,
    done: Option<oneshot::Sender<Option<i64>>>,
}

pub struct EventBus {
    db: Db,
    tx: mpsc::Sender<Publish>,
    subs: Mutex<HashMap<Uuid, broadcast::Sender<Batch>>>,
    fanout: Fanout,
    /// Open event streams per (workspace, user) on this process, for presence.
    presence: Mutex<HashMap<(Uuid, Uuid), Presence>>,
    /// Told the workspace of every event this process commits or receives from another
    /// process (the event consumers: progress, notifications).
    on_commit: Mutex<Vec<mpsc::Sender<Uuid>>>,
}

/// How long after a user's last stream closes `presence.left` is sent, unless they are
/// back by then: a reconnect (or a reconnect loop) says nothing.
const PRESENCE_GRACE: Duration = Duration::from_secs(2);

struct Presence {
    streams: usize,
    /// Bumped on every change, so that a delayed `left` knows whether it still holds.
    generation: u64,
}

/// A user's open event stream, for presence; dropping it is the stream closing.
pub struct Present {
    bus: std::sync::Weak<EventBus>,
    ws: Uuid,
    data: serde_json::Value,
    user: Uuid,
}

impl Drop for Present {
    fn drop(&mut self) {
        if let Some(bus) = self.bus.upgrade() {
            bus.absent(self.ws, self.user, std::mem::take(&mut self.data));
        }
    }
}

pub fn to_wire(m: &events::Model) -> Event {
    Event {
        id: m.seq,
        kind: m.kind.clone(),
        workspace_id: m.workspace_id,
        at: m.at,
        actor: m.actor_id,
        data: m.data.clone(),
    }
}

impl EventBus {
    /// Starts the publisher and the pruning of events older than `retention`.
    pub fn start(db: Db, retention: Duration, fanout: Fanout) -> Arc<EventBus> {
        let (tx, rx) = mpsc::channel(QUEUE);
        let bus = Arc::new(EventBus {
            db: db.clone(),
            tx,
            subs: Mutex::new(HashMap::new()),
            fanout,
            presence: Mutex::new(HashMap::new()),
            on_commit: Mutex::new(Vec::new()),
        });
        tokio::spawn(publisher(Arc::downgrade(&bus), db.clone(), rx));
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(3600));
            loop {
                tick.tick().await;
                let cutoff = Utc::now() - chrono::Duration::from_std(retention).unwrap_or_default();
                match db.prune_events(cutoff).await {
                    Ok(n) if n > 0 => tracing::info!(pruned = n, "old workspace events pruned"),
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "pruning events"),
                }
            }
        });
        bus
    }

    fn new_event(ws: Uuid, kind: &str, actor: Option<Uuid>, data: serde_json::Value) -> NewEvent {
        NewEvent {
            workspace_id: ws,
            kind: kind.to_string(),
            actor_id: actor,
            data,
            at: Utc::now(),
        }
    }

    /// Queues an event; returns at once (the queue is bounded: when it is full this waits).
    pub async fn emit(&self, ws: Uuid, kind: &str, actor: Option<Uuid>, data: serde_json::Value) {
        let publish = Publish {
            event: Self::new_event(ws, kind, actor, data),
            done: None,
        };
        if self.tx.send(publish).await.is_err() {
            tracing::warn!(kind, "event bus stopped; event dropped");
        }
    }

    /// Stores and pushes an event; resolves with its id once it is committed.
    pub async fn publish(
        &self,
        ws: Uuid,
        kind: &str,
        actor: Option<Uuid>,
        data: serde_json::Value,
    ) -> Option<i64> {
        let (done, wait) = oneshot::channel();
        let publish = Publish {
            event: Self::new_event(ws, kind, actor, data),
            done: Some(done),
        };
        self.tx.send(publish).await.ok()?;
        wait.await.ok().flatten()
    }

    /// A user opened an event stream of `ws`. Presence is ephemeral: `presence.joined`
    /// goes to the streams open now (here and on the other processes) when it is the
    /// user's first stream of the workspace on this process, `presence.left` when their
    /// last one has been closed for [`PRESENCE_GRACE`]. Nothing is stored, so connecting
    /// and disconnecting never grows the log, and a reconnect loop announces once.
    pub fn present(self: &Arc<Self>, ws: Uuid, user: Uuid, name: String) -> Present {
        let data = serde_json::json!({"user_id": user, "name": name, "doc_id": null});
        let first = {
            let mut p = self.presence.lock().unwrap_or_else(|p| p.into_inner());
            let e = p.entry((ws, user)).or_insert(Presence {
                streams: 0,
                generation: 0,
            });
            e.streams += 1;
            e.generation += 1;
            // A user back within the grace was never announced as gone.
            e.streams == 1 && e.generation == 1
        };
        if first {
            self.transient(ws, kinds::PRESENCE_JOINED, Some(user), data.clone());
        }
        Present {
            bus: Arc::downgrade(self),
            ws,
            data,
            user,
        }
    }

    fn absent(self: &Arc<Self>, ws: Uuid, user: Uuid, data: serde_json::Value) {
        let generation = {
            let mut p = self.presence.lock().unwrap_or_else(|p| p.into_inner());
            let Some(e) = p.get_mut(&(ws, user)) else {
                return;
            };
            e.streams = e.streams.saturating_sub(1);
            if e.streams > 0 {
                return;
            }
            e.generation += 1;
            e.generation
        };
        let bus = Arc::downgrade(self);
        // Dropped while the runtime shuts down: nobody is left to tell.
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return;
        };
        rt.spawn(async move {
            tokio::time::sleep(PRESENCE_GRACE).await;
            let Some(bus) = bus.upgrade() else { return };
            let gone = {
                let mut p = bus.presence.lock().unwrap_or_else(|p| p.into_inner());
                let still = p
                    .get(&(ws, user))
                    .is_some_and(|e| e.streams == 0 && e.generation == generation);
                if still {
                    p.remove(&(ws, user));
                }
                still
            };
            if gone {
                bus.transient(ws, kinds::PRESENCE_LEFT, Some(user), data);
            }
        });
    }

    /// Pushes a transient event (not stored; its kind must satisfy `kinds::is_transient`)
    /// to the workspace's streams open now, here and on the other processes.
    pub fn transient(&self, ws: Uuid, kind: &str, actor: Option<Uuid>, data: serde_json::Value) {
        debug_assert!(kinds::is_transient(kind), "{kind} is not a transient kind");
        let event = Event {
            id: 0,
            kind: kind.to_string(),
            workspace_id: ws,
            at: Utc::now(),
            actor,
            data,
        };
        if matches!(self.fanout, Fanout::Redis(_)) {
            self.fanout.publish(Message::Event {
                event: event.clone(),
            });
        }
        self.deliver(event);
    }

    pub fn subscribe(&self, ws: Uuid) -> broadcast::Receiver<Batch> {
        let mut subs = self.subs.lock().unwrap_or_else(|p| p.into_inner());
        subs.entry(ws)
            .or_insert_with(|| broadcast::channel(SUBSCRIBER_BUFFER).0)
            .subscribe()
    }

    pub fn db(&self) -> &Db {
        &self.db
    }

    /// Pushes events that were stored in the caller's own transaction (see
    /// `queries::events::store_in`). Subscribers fill any gap from the log, so these
    /// may arrive out of order relative to the publisher's.
    pub fn deliver_stored(&self, events: Vec<Event>) {
        self.deliver_committed(events);
    }

    /// Tells `tx` the workspace of every event committed from now on (by this process, or
    /// by another one as the fan-out tells). A full channel drops the notice (the receiver
    /// also sweeps for work it was not told of).
    pub fn notify_commits(&self, tx: mpsc::Sender<Uuid>) {
        self.on_commit
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(tx);
    }

    fn tell_consumers(&self, ws: Uuid) {
        let consumers = self.on_commit.lock().unwrap_or_else(|p| p.into_inner());
        for tx in consumers.iter() {
            let _ = tx.try_send(ws);
        }
    }

    /// Committed events of this process: to local subscribers (a batch per workspace,
    /// in order) and to the other processes.
    fn deliver_committed(&self, events: Vec<Event>) {
        let mut last = None;
        for e in &events {
            // Consumers want the workspace, not the events: once per run of them.
            if last != Some(e.workspace_id) {
                self.tell_consumers(e.workspace_id);
                last = Some(e.workspace_id);
            }
            if matches!(self.fanout, Fanout::Redis(_)) {
                self.fanout.publish(Message::Event { event: e.clone() });
            }
        }
        self.deliver_all(events);
    }

    /// An event committed by another process (from the fan-out): local subscribers and
    /// consumers only.
    pub fn deliver_remote(&self, event: Event) {
        self.tell_consumers(event.workspace_id);
        self.deliver(event);
    }

    /// After fan-out messages may have been lost: pushes each watched workspace's latest
    /// event from the log. A subscriber that lacks it fills the gap up to it from the log
    /// (one that has it drops it by id).
    pub async fn catch_up_all(&self) {
        let watched: Vec<Uuid> = {
            let subs = self.subs.lock().unwrap_or_else(|p| p.into_inner());
            subs.iter()
                .filter(|(_, tx)| tx.receiver_count() > 0)
                .map(|(ws, _)| *ws)
                .collect()
        };
        for ws in watched {
            let latest = match self.db.latest_event(ws).await {
                Ok(l) if l > 0 => l,
                Ok(_) => continue,
                Err(e) => {
                    tracing::warn!(workspace_id = %ws, error = %e, "event catch-up");
                    continue;
                }
            };
            if let Ok(rows) = self.db.events_after(ws, latest - 1, 1).await {
                for row in &rows {
                    self.deliver(to_wire(row));
                }
            }
        }
    }

    fn deliver(&self, event: Event) {
        self.deliver_all(vec![event]);
    }

    /// Broadcasts `events` to their workspaces' subscribers: each run of one workspace's
    /// events as one batch, so the order within and across workspaces is kept.
    fn deliver_all(&self, events: Vec<Event>) {
        let mut subs = self.subs.lock().unwrap_or_else(|p| p.into_inner());
        let mut events = events.into_iter().peekable();
        while let Some(first) = events.next() {
            let ws = first.workspace_id;
            let mut run = vec![Delivered::new(first)];
            while let Some(e) = events.next_if(|e| e.workspace_id == ws) {
                run.push(Delivered::new(e));
            }
            if let Some(tx) = subs.get(&ws) {
                if tx.receiver_count() == 0 {
                    subs.remove(&ws);
                } else {
                    let _ = tx.send(Batch::from(run));
                }
            }
        }
    }
}

async fn publisher(bus: std::sync::Weak<EventBus>, db: Db, mut rx: mpsc::Receiver<Publish>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let events: Vec<NewEvent> = batch
            .iter_mut()
            .map(|p| NewEvent {
                workspace_id: p.event.workspace_id,
                kind: std::mem::take(&mut p.event.kind),
                actor_id: p.event.actor_id,
                data: std::mem::take(&mut p.event.data),
                at: p.event.at,
            })
            .collect();
        let stored = db.store_events(&events).await;
        let Some(bus) = bus.upgrade() else { break };
        match stored {
            Ok(seqs) => {
                let mut committed = Vec::with_capacity(events.len());
                let mut answers = Vec::with_capacity(events.len());
                for ((p, e), seq) in batch.drain(..).zip(events).zip(seqs) {
                    if let Some(seq) = seq {
                        committed.push(Event {
                            id: seq,
                            kind: e.kind,
                            workspace_id: e.workspace_id,
                            at: e.at,
                            actor: e.actor_id,
                            data: e.data,
                        });
                    }
                    if let Some(done) = p.done {
                        answers.push((done, seq));
                    }
                }
                // Delivered before anyone hears of the commit, as one event at a time was.
                bus.deliver_committed(committed);
                for (done, seq) in answers {
                    let _ = done.send(seq);
                }
            }
            Err(e) => {
                tracing::error!(error = %e, n = events.len(), "storing workspace events");
                for p in batch.drain(..) {
                    if let Some(done) = p.done {
                        let _ = done.send(None);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(ws: Uuid, id: i64) -> Event {
        Event {
            id,
            kind: kinds::JOB_STARTED.into(),
            workspace_id: ws,
            at: Utc::now(),
            actor: None,
            data: serde_json::json!({}),
        }
    }

    fn ids(batch: &Batch) -> Vec<i64> {
        batch.iter().map(|e| e.id).collect()
    }

    /// What one commit stored reaches each workspace's subscribers as one batch per run
    /// of that workspace's events, in commit order.
    #[tokio::test]
    async fn a_commit_reaches_each_workspace_in_order_one_batch_per_run() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("e.db").display());
        let db = Db::connect(&url, &Default::default()).await.unwrap();
        let bus = EventBus::start(db, Duration::from_secs(3600), Fanout::Local);
        let (a, b, c) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        let (mut to_a, mut to_b) = (bus.subscribe(a), bus.subscribe(b));
        bus.deliver_stored(vec![
            event(a, 1),
            event(a, 2),
            event(b, 7),
            event(c, 1),
            event(a, 3),
        ]);
        assert_eq!(ids(&to_a.recv().await.unwrap()), [1, 2]);
        assert_eq!(ids(&to_a.recv().await.unwrap()), [3]);
        assert_eq!(ids(&to_b.recv().await.unwrap()), [7]);
        assert!(to_a.try_recv().is_err() && to_b.try_recv().is_err());
        // A workspace nobody follows is skipped, and a later commit is a new batch.
        bus.deliver_stored(vec![event(c, 2), event(a, 4)]);
        let last = to_a.recv().await.unwrap();
        assert_eq!(ids(&last), [4]);
        assert!(last[0].wire().contains("\"id\":4"));
    }
}
