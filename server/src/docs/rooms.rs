//! Rooms: one in-memory yrs document per open circuit, shared by its peers.
//!
//! Invariant: an update is appended to the log *before* it is applied to the room's
//! document or relayed, so whatever any peer has received survives a crash. Updates
//! hold the room's write gate shared while they persist and apply; compaction holds it
//! exclusively for the instant it takes to encode the state, so a snapshot never
//! claims an update it does not contain. Unloading retires a room under the exclusive
//! gate; an update that finds its room retired goes to the current room instead, so no
//! update is ever applied to a room that a newer load of the document cannot see.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use qollab_shared::api::Role;
use qollab_shared::sync::{Access, DecodedUpdate, encode_update};
use tokio::sync::{Notify, OnceCell, RwLock, mpsc};
use uuid::Uuid;
use yrs::sync::Awareness;
use yrs::updates::decoder::Decode;
use yrs::{Doc, ReadTxn, StateVector, Transact, Update};

use super::persist::Appender;
use crate::db::Db;
use crate::db::tables::docs;
use crate::error::{ApiError, ApiResult};

/// Tunables of live documents (see `Config`).
#[derive(Clone, Debug)]
pub struct DocsConfig {
    pub max_frame_bytes: usize,
    pub max_messages_per_sec: u32,
    pub max_peers_per_room: usize,
    pub compact_every_updates: u64,
    pub compact_every: Duration,
    pub unload_grace: Duration,
    pub ping_interval: Duration,
    pub idle_timeout: Duration,
    /// Per-peer outbound queue; a peer whose queue is full is disconnected.
    pub peer_queue: usize,
}

impl Default for DocsConfig {
    fn default() -> Self {
        Self {
            max_frame_bytes: 4 << 20,
            max_messages_per_sec: 200,
            max_peers_per_room: 256,
            compact_every_updates: 1000,
            compact_every: Duration::from_secs(60),
            unload_grace: Duration::from_secs(30),
            ping_interval: Duration::from_secs(20),
            idle_timeout: Duration::from_secs(40),
            peer_queue: 1024,
        }
    }
}

/// What a room tells one peer's connection task.
#[derive(Debug)]
pub enum ToPeer {
    Frame(actix_web::web::Bytes),
    SetAccess(Access),
    Close(u16, String),
}

struct Peer {
    user_id: Uuid,
    tx: mpsc::Sender<ToPeer>,
    /// Told when the room drops this peer for being slow, so that its task closes the
    /// socket at once instead of first draining a queue nobody reads.
    kicked: Arc<Notify>,
}

#[derive(Default)]
struct Progress {
    /// Highest log id persisted for this room (all of them applied once the gate is
    /// taken exclusively).
    last_persisted: i64,
    /// Log id covered by the stored snapshot.
    compacted_upto: i64,
    since_compaction: u64,
    compacting: bool,
    last_compaction: Option<Instant>,
}

pub struct Room {
    pub doc_id: Uuid,
    pub workspace_id: Uuid,
    awareness: Mutex<Awareness>,
    peers: Mutex<HashMap<u64, Peer>>,
    gate: RwLock<()>,
    progress: Mutex<Progress>,
    /// Set (under the exclusive gate) when the room is unloaded: it takes no more updates.
    retired: AtomicBool,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding one of these locks leaves plain data behind; keep serving.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Room {
    /// Runs `f` with the room's awareness (and so its document). Never hold it across
    /// an await.
    pub fn with_awareness<R>(&self, f: impl FnOnce(&mut Awareness) -> R) -> R {
        f(&mut lock(&self.awareness))
    }

    /// The whole document as one v1 update.
    pub fn encode_state(&self) -> Vec<u8> {
        self.with_awareness(|a| {
            a.doc()
                .transact()
                .encode_state_as_update_v1(&StateVector::default())
        })
    }

    pub fn peer_count(&self) -> usize {
        lock(&self.peers).len()
    }

    /// Sends a frame to every peer but `except`. A peer whose queue is full is dropped
    /// and kicked (its task closes the socket): one slow peer never slows the room.
    pub fn broadcast(&self, except: Option<u64>, frame: Vec<u8>) {
        let frame = actix_web::web::Bytes::from(frame);
        let mut peers = lock(&self.peers);
        let mut slow = Vec::new();
        for (id, p) in peers.iter() {
            if Some(*id) == except {
                continue;
            }
            match p.tx.try_send(ToPeer::Frame(frame.clone())) {
                Ok(()) => {
                    metrics::counter!("qollab_docs_bytes_out_total").increment(frame.len() as u64)
                }
                Err(mpsc::error::TrySendError::Full(_)) => slow.push(*id),
                Err(mpsc::error::TrySendError::Closed(_)) => {}
            }
        }
        for id in slow {
            tracing::warn!(doc_id = %self.doc_id, peer = id, "peer too slow; disconnecting");
            if let Some(p) = peers.remove(&id) {
                p.kicked.notify_one();
                metrics::counter!("qollab_docs_slow_peers_total").increment(1);
            }
        }
    }

    fn tell_user(&self, user_id: Uuid, msg: impl Fn() -> ToPeer) {
        let mut peers = lock(&self.peers);
        peers.retain(|_, p| {
            let keep = p.user_id != user_id || p.tx.try_send(msg()).is_ok();
            if !keep {
                p.kicked.notify_one();
            }
            keep
        });
    }
}

type Slot = Arc<OnceCell<Arc<Room>>>;

/// Every loaded room of this process.
pub struct Rooms {
    db: Db,
    appender: Appender,
    pub config: DocsConfig,
    map: Mutex<HashMap<Uuid, Slot>>,
    next_peer: AtomicU64,
}

impl Rooms {
    /// Starts the update appender and the periodic compactor on the current runtime.
    pub fn start(db: Db, config: DocsConfig) -> Arc<Rooms> {
        let rooms = Arc::new(Rooms {
            appender: Appender::spawn(db.clone()),
            db,
            config,
            map: Mutex::new(HashMap::new()),
            next_peer: AtomicU64::new(1),
        });
        let weak = Arc::downgrade(&rooms);
        let every = rooms.config.compact_every;
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.tick().await;
            loop {
                tick.tick().await;
                let Some(rooms) = weak.upgrade() else { break };
                for room in rooms.loaded() {
                    let due = {
                        let p = lock(&room.progress);
                        p.since_compaction > 0
                            && p.last_compaction.is_none_or(|t| t.elapsed() >= every)
                    };
                    if due {
                        rooms.compact(&room, true).await;
                    }
                }
            }
        });
        rooms
    }

    pub fn loaded(&self) -> Vec<Arc<Room>> {
        lock(&self.map)
            .values()
            .filter_map(|slot| slot.get().cloned())
            .collect()
    }

    /// The room of a document, loading it (once, however many ask at the same time)
    /// from its snapshot and the log after it.
    pub async fn open(&self, doc: &docs::Model) -> ApiResult<Arc<Room>> {
        self.open_ids(doc.id, doc.workspace_id).await
    }

    async fn open_ids(&self, doc_id: Uuid, workspace_id: Uuid) -> ApiResult<Arc<Room>> {
        let slot = lock(&self.map).entry(doc_id).or_default().clone();
        let room = slot
            .get_or_try_init(|| self.load(doc_id, workspace_id))
            .await
            .inspect_err(|_| {
                let mut map = lock(&self.map);
                if map.get(&doc_id).is_some_and(|s| Arc::ptr_eq(s, &slot)) {
                    map.remove(&doc_id);
                }
            })?;
        metrics::gauge!("qollab_docs_rooms_open").set(lock(&self.map).len() as f64);
        Ok(room.clone())
    }

    async fn load(&self, doc_id: Uuid, workspace_id: Uuid) -> ApiResult<Arc<Room>> {
        let started = Instant::now();
        let (stored, upto) = self.db.load_doc(doc_id).await?;
        let last = stored.last_update_id(upto);
        let n = stored.updates.len();
        let ydoc = Doc::new();
        {
            let mut txn = ydoc.transact_mut();
            let all = stored
                .snapshot
                .into_iter()
                .map(|s| (0, s))
                .chain(stored.updates);
            for (id, bytes) in all {
                // Everything in the log was validated before it was stored; a row that
                // no longer decodes is reported, not allowed to take the document down.
                match Update::decode_v1(&bytes) {
                    Ok(u) => {
                        if let Err(e) = txn.apply_update(u) {
                            tracing::error!(doc_id = %doc_id, update_id = id, error = %e, "stored update does not apply");
                        }
                    }
                    Err(e) => {
                        tracing::error!(doc_id = %doc_id, update_id = id, error = %e, "stored update does not decode")
                    }
                }
            }
        }
        metrics::histogram!("qollab_docs_load_duration_seconds")
            .record(started.elapsed().as_secs_f64());
        tracing::debug!(doc_id = %doc_id, updates = n, ms = started.elapsed().as_millis() as u64, "room loaded");
        Ok(Arc::new(Room {
            doc_id,
            workspace_id,
            awareness: Mutex::new(Awareness::new(ydoc)),
            peers: Mutex::new(HashMap::new()),
            gate: RwLock::new(()),
            progress: Mutex::new(Progress {
                last_persisted: last,
                compacted_upto: upto,
                since_compaction: n as u64,
                ..Default::default()
            }),
            retired: AtomicBool::new(false),
        }))
    }

    /// Adds a peer to the document's room. Returns the room (the one registered now:
    /// a room that was unloading meanwhile is not joined), the peer id, its queue and
    /// the signal that it was dropped for being slow.
    pub async fn join(
        self: &Arc<Self>,
        doc: &docs::Model,
        user_id: Uuid,
    ) -> ApiResult<(Arc<Room>, u64, mpsc::Receiver<ToPeer>, Arc<Notify>)> {
        loop {
            let room = self.open(doc).await?;
            let map = lock(&self.map);
            let current = map.get(&doc.id).and_then(|s| s.get());
            if !current.is_some_and(|r| Arc::ptr_eq(r, &room)) {
                continue;
            }
            let mut peers = lock(&room.peers);
            if peers.len() >= self.config.max_peers_per_room {
                return Err(ApiError::new(
                    qollab_shared::error::ErrorCode::RateLimited,
                    format!(
                        "this document already has {} connected peers, the most a room allows",
                        self.config.max_peers_per_room
                    ),
                ));
            }
            let id = self.next_peer.fetch_add(1, Ordering::Relaxed);
            let (tx, rx) = mpsc::channel(self.config.peer_queue);
            let kicked = Arc::new(Notify::new());
            peers.insert(
                id,
                Peer {
                    user_id,
                    tx,
                    kicked: kicked.clone(),
                },
            );
            drop(peers);
            drop(map);
            metrics::gauge!("qollab_docs_connections").increment(1.0);
            return Ok((room, id, rx, kicked));
        }
    }

    /// Removes a peer; its awareness states are cleared by the caller's protocol
    /// connection (and `awareness_frame`, if any, relayed). An empty room unloads after
    /// the grace period.
    pub fn leave(self: &Arc<Self>, room: &Arc<Room>, peer: u64, awareness_frame: Option<Vec<u8>>) {
        lock(&room.peers).remove(&peer);
        metrics::gauge!("qollab_docs_connections").decrement(1.0);
        if let Some(frame) = awareness_frame {
            room.broadcast(Some(peer), frame);
        }
        self.unload_when_idle(room);
    }

    /// Schedules unloading of a room that has no peers (after the grace period, if it
    /// still has none then).
    pub fn unload_when_idle(self: &Arc<Self>, room: &Arc<Room>) {
        if room.peer_count() > 0 {
            return;
        }
        let rooms = Arc::clone(self);
        let room = Arc::clone(room);
        tokio::spawn(async move {
            tokio::time::sleep(rooms.config.unload_grace).await;
            // Exclusive gate: no update is between persisting and applying, and none
            // starts on this room once it is retired.
            let gate = room.gate.write().await;
            let removed = {
                let mut map = lock(&rooms.map);
                let same = map
                    .get(&room.doc_id)
                    .and_then(|s| s.get())
                    .is_some_and(|r| Arc::ptr_eq(r, &room));
                if same && room.peer_count() == 0 {
                    map.remove(&room.doc_id);
                    room.retired.store(true, Ordering::SeqCst);
                    true
                } else {
                    false
                }
            };
            drop(gate);
            if removed {
                rooms.compact(&room, false).await;
                metrics::gauge!("qollab_docs_rooms_open").set(lock(&rooms.map).len() as f64);
                tracing::debug!(doc_id = %room.doc_id, "room unloaded");
            }
        });
    }

    /// Persists, applies and relays one update (from peer `origin`, or from the server
    /// itself when `None`).
    pub async fn apply_update(
        self: &Arc<Self>,
        room: &Arc<Room>,
        origin: Option<u64>,
        update: DecodedUpdate,
    ) -> Result<(), String> {
        let mut room = Arc::clone(room);
        let gate = loop {
            let gate = room.gate.read().await;
            if !room.retired.load(Ordering::SeqCst) {
                break gate;
            }
            // Unloaded since the caller opened it (a REST edit on an idle room): the
            // update goes to the document's current room, which is then let go again.
            drop(gate);
            room = self
                .open_ids(room.doc_id, room.workspace_id)
                .await
                .map_err(|e| e.message)?;
            self.unload_when_idle(&room);
        };
        let room = &room;
        let bytes = update.bytes().to_vec();
        metrics::counter!("qollab_docs_bytes_in_total").increment(bytes.len() as u64);
        let id = self.appender.append(room.doc_id, bytes.clone()).await?;
        room.with_awareness(|a| update.apply(a.doc()))
            .map_err(|e| format!("update does not apply: {e}"))?;
        let compact_now = {
            let mut p = lock(&room.progress);
            p.last_persisted = p.last_persisted.max(id);
            p.since_compaction += 1;
            p.since_compaction >= self.config.compact_every_updates && !p.compacting
        };
        room.broadcast(origin, encode_update(&bytes));
        drop(gate);
        metrics::counter!("qollab_docs_updates_total").increment(1);
        if compact_now {
            let rooms = Arc::clone(self);
            let room = Arc::clone(room);
            tokio::spawn(async move { rooms.compact(&room, true).await });
        }
        Ok(())
    }

    /// Folds the log into a snapshot. `keep_version` also records it as an automatic
    /// version (periodic compactions do; unloading does not, it adds nothing new).
    pub async fn compact(&self, room: &Arc<Room>, keep_version: bool) {
        // Updates that arrive while a compaction writes do not trigger another one (it is
        // already running); if they add up to the threshold meanwhile, go again.
        loop {
            {
                let mut p = lock(&room.progress);
                if p.compacting || p.last_persisted <= p.compacted_upto {
                    return;
                }
                p.compacting = true;
            }
            let (state, upto, count) = {
                let _exclusive = room.gate.write().await;
                let p = lock(&room.progress);
                (room.encode_state(), p.last_persisted, p.since_compaction)
            };
            let result = self
                .db
                .compact_doc(room.doc_id, state, upto, keep_version)
                .await;
            let mut p = lock(&room.progress);
            p.compacting = false;
            match result {
                Ok(()) => {
                    p.compacted_upto = upto;
                    p.since_compaction = p.since_compaction.saturating_sub(count);
                    p.last_compaction = Some(Instant::now());
                    metrics::counter!("qollab_docs_compactions_total").increment(1);
                    if p.since_compaction < self.config.compact_every_updates {
                        return;
                    }
                }
                Err(e) => {
                    tracing::error!(doc_id = %room.doc_id, error = %e, "compaction failed");
                    return;
                }
            }
        }
    }

    /// Compacts every loaded room (at shutdown).
    pub async fn flush(&self) {
        for room in self.loaded() {
            self.compact(&room, false).await;
        }
    }

    /// Applies a membership change to live connections of that workspace: a removed
    /// member is disconnected, a changed role takes effect on the connection.
    pub fn membership_changed(&self, workspace_id: Uuid, user_id: Uuid, role: Option<Role>) {
        for room in self.loaded() {
            if room.workspace_id != workspace_id {
                continue;
            }
            match role {
                None => room.tell_user(user_id, || {
                    ToPeer::Close(4403, "you are no longer a member of this workspace".into())
                }),
                Some(r) => room.tell_user(user_id, || {
                    ToPeer::SetAccess(if r.can_write() {
                        Access::ReadWrite
                    } else {
                        Access::ReadOnly
                    })
                }),
            }
        }
    }

    /// Closes every room of a deleted document or workspace.
    pub fn close_doc(&self, doc_id: Uuid, reason: &str) {
        let slot = {
            let mut map = lock(&self.map);
            let slot = map.remove(&doc_id);
            metrics::gauge!("qollab_docs_rooms_open").set(map.len() as f64);
            slot
        };
        if let Some(room) = slot.and_then(|s| s.get().cloned()) {
            let mut peers = lock(&room.peers);
            for p in peers.values() {
                let _ = p.tx.try_send(ToPeer::Close(4404, reason.to_string()));
            }
            peers.clear();
        }
    }
}
