//! Rooms: one in-memory yrs document per open circuit, shared by its peers.
//!
//! Invariant: an update is appended to the log *before* it is applied to the room's
//! document or relayed, so whatever any peer has received survives a crash. Updates
//! hold the room's write gate shared while they persist and apply. Unloading retires a
//! room under the exclusive gate; an update that finds its room retired goes to the
//! current room instead, so no update is ever applied to a room that a newer load of
//! the document cannot see.
//!
//! Several processes may have the same document loaded. An update accepted here is
//! published on the fan-out after it is persisted; the other processes apply it to their
//! room without persisting it again. Compaction never trusts the room alone: it reads
//! the stored snapshot and log rows, folds in whatever the room lacks (an update of
//! another process still in flight), writes the snapshot only if nobody replaced it
//! meanwhile, and deletes exactly the rows it folded.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use qollab_shared::api::Role;
use qollab_shared::sync::{
    AwarenessLimits, DecodedUpdate, Frame, Owner, RoomAwareness, decode_frame, encode_awareness,
    encode_update,
};
use tokio::sync::{Notify, OnceCell, RwLock, mpsc};
use uuid::Uuid;
use yrs::updates::decoder::Decode;
use yrs::{Doc, ReadTxn, StateVector, Transact, Update};

use super::persist::Appender;
use crate::db::Db;
use crate::db::tables::docs;
use crate::error::{ApiError, ApiResult};
use crate::fanout::{Fanout, Message};
use crate::live::Live;

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
    /// Per-peer outbound queue, in frames; a peer whose queue is full is disconnected.
    pub peer_queue: usize,
    /// Per-peer outbound queue, in bytes: a frame that would take a non-empty queue past
    /// it disconnects the peer (one frame alone always fits, up to `max_frame_bytes`).
    pub peer_queue_bytes: usize,
    /// What a room keeps of its peers' awareness (per state, per peer, in total).
    pub awareness: AwarenessLimits,
    /// How often every live connection's session (or API token), membership and document
    /// are re-read from the database: the backstop when a revocation notice is lost.
    pub recheck_every: Duration,
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
            peer_queue_bytes: 4 << 20,
            awareness: AwarenessLimits::default(),
            recheck_every: Duration::from_secs(15),
        }
    }
}

/// What a room tells one peer's connection task.
#[derive(Debug)]
pub enum ToPeer {
    Frame(actix_web::web::Bytes),
    Close(u16, String),
}

struct Peer {
    tx: mpsc::Sender<ToPeer>,
    /// Bytes of frames in `tx` (added before a send, taken off when the peer's task
    /// receives the frame).
    queued: Arc<AtomicUsize>,
    /// Told when the room drops this peer for being slow, so that its task closes the
    /// socket at once instead of first draining a queue nobody reads.
    kicked: Arc<Notify>,
}

/// The receiving end of a peer's queue: keeps the byte count of the queue.
pub struct PeerQueue {
    rx: mpsc::Receiver<ToPeer>,
    queued: Arc<AtomicUsize>,
}

impl PeerQueue {
    pub async fn recv(&mut self) -> Option<ToPeer> {
        let msg = self.rx.recv().await;
        if let Some(ToPeer::Frame(f)) = &msg {
            self.queued.fetch_sub(f.len(), Ordering::AcqRel);
        }
        msg
    }
}

/// A peer just added to a room.
pub struct Joined {
    pub room: Arc<Room>,
    pub peer: u64,
    pub queue: PeerQueue,
    pub kicked: Arc<Notify>,
}

#[derive(Default)]
struct Progress {
    /// Highest log id known for this room: persisted here, or applied from another
    /// process (a compaction up to it folds in any row the room still lacks).
    last_persisted: i64,
    /// `last_update_id` of the stored snapshot this room's state includes.
    compacted_upto: i64,
    since_compaction: u64,
    compacting: bool,
    last_compaction: Option<Instant>,
}

pub struct Room {
    pub doc_id: Uuid,
    pub workspace_id: Uuid,
    awareness: Mutex<RoomAwareness>,
    peers: Mutex<HashMap<u64, Peer>>,
    /// Per-peer byte budget of the outbound queue.
    queue_bytes: usize,
    gate: RwLock<()>,
    progress: Mutex<Progress>,
    /// Set (under the exclusive gate) when the room is unloaded: it takes no more updates.
    retired: AtomicBool,
    /// Whether the other processes were asked for their peers' awareness states.
    awareness_asked: AtomicBool,
    /// Who edited lately through this process (the co-editing achievement).
    co_editors: Mutex<CoEditors>,
}

/// People who edit a room within [`CO_EDIT_WINDOW`] of each other. When such a group
/// reaches [`CO_EDIT_GROUP`], everyone in it who was not named yet is named once per
/// room load. Only edits made through this process count (another process's updates
/// arrive without their author): with several processes a group split across them is
/// not seen.
#[derive(Default)]
pub struct CoEditors {
    recent: HashMap<Uuid, Instant>,
    named: HashSet<Uuid>,
}

pub const CO_EDIT_WINDOW: Duration = Duration::from_secs(600);
pub const CO_EDIT_GROUP: usize = 4;

impl CoEditors {
    /// Notes `user`'s edit at `now`; returns who now co-edits in a group of at least
    /// [`CO_EDIT_GROUP`] and was not named before (sorted), and the group's size.
    pub fn edited(&mut self, user: Uuid, now: Instant) -> (Vec<Uuid>, usize) {
        self.recent.insert(user, now);
        self.recent
            .retain(|_, t| now.saturating_duration_since(*t) <= CO_EDIT_WINDOW);
        if self.recent.len() < CO_EDIT_GROUP {
            return (Vec::new(), self.recent.len());
        }
        let mut new: Vec<Uuid> = self
            .recent
            .keys()
            .filter(|u| !self.named.contains(u))
            .copied()
            .collect();
        new.sort();
        self.named.extend(new.iter().copied());
        (new, self.recent.len())
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding one of these locks leaves plain data behind; keep serving.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Room {
    /// Runs `f` with the room's awareness (and so its document). Never hold it across
    /// an await.
    pub fn with_awareness<R>(&self, f: impl FnOnce(&mut RoomAwareness) -> R) -> R {
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

    /// See [`CoEditors::edited`].
    pub fn note_edit(&self, user: Uuid) -> (Vec<Uuid>, usize) {
        lock(&self.co_editors).edited(user, Instant::now())
    }

    pub fn peer_count(&self) -> usize {
        lock(&self.peers).len()
    }

    /// Sends a frame to every peer but `except`. A peer whose queue is full (in frames
    /// or in bytes) is dropped and kicked (its task closes the socket): one slow peer
    /// never slows the room, nor makes the server hold more than its budget for it.
    pub fn broadcast(&self, except: Option<u64>, frame: Vec<u8>) {
        let frame = actix_web::web::Bytes::from(frame);
        let len = frame.len();
        let mut peers = lock(&self.peers);
        let mut slow = Vec::new();
        for (id, p) in peers.iter() {
            if Some(*id) == except {
                continue;
            }
            // Counted before the send, so that the receiver never takes off more than
            // was added.
            let before = p.queued.fetch_add(len, Ordering::AcqRel);
            if before > 0 && before + len > self.queue_bytes {
                p.queued.fetch_sub(len, Ordering::AcqRel);
                slow.push(*id);
                continue;
            }
            match p.tx.try_send(ToPeer::Frame(frame.clone())) {
                Ok(()) => metrics::counter!("qollab_docs_bytes_out_total").increment(len as u64),
                Err(e) => {
                    p.queued.fetch_sub(len, Ordering::AcqRel);
                    if matches!(e, mpsc::error::TrySendError::Full(_)) {
                        slow.push(*id);
                    }
                }
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
}

type Slot = Arc<OnceCell<Arc<Room>>>;

/// Every loaded room of this process.
pub struct Rooms {
    db: Db,
    appender: Appender,
    pub config: DocsConfig,
    map: Mutex<HashMap<Uuid, Slot>>,
    next_peer: AtomicU64,
    fanout: Fanout,
    live: Arc<Live>,
}

/// How many times a compaction retries after another process replaced the snapshot.
const COMPACT_ATTEMPTS: usize = 3;

impl Rooms {
    /// Starts the update appender and the periodic compactor on the current runtime.
    pub fn start(db: Db, config: DocsConfig, fanout: Fanout, live: Arc<Live>) -> Arc<Rooms> {
        let rooms = Arc::new(Rooms {
            appender: Appender::spawn(db.clone()),
            db,
            config,
            map: Mutex::new(HashMap::new()),
            next_peer: AtomicU64::new(1),
            fanout,
            live,
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
        // Peers on other processes announced their presence before this room existed
        // here: ask for it once the room can take the answers.
        if matches!(self.fanout, Fanout::Redis(_))
            && !room.awareness_asked.swap(true, Ordering::SeqCst)
        {
            self.fanout.publish(Message::AwarenessQuery { doc_id });
        }
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
            awareness: Mutex::new(RoomAwareness::new(ydoc, self.config.awareness)),
            peers: Mutex::new(HashMap::new()),
            queue_bytes: self.config.peer_queue_bytes,
            gate: RwLock::new(()),
            progress: Mutex::new(Progress {
                last_persisted: last,
                compacted_upto: upto,
                since_compaction: n as u64,
                ..Default::default()
            }),
            retired: AtomicBool::new(false),
            awareness_asked: AtomicBool::new(false),
            co_editors: Mutex::new(CoEditors::default()),
        }))
    }

    /// Adds a peer to the document's room: the room registered now (a room that was
    /// unloading meanwhile is not joined), the peer id, its queue and the signal that it
    /// was dropped for being slow.
    pub async fn join(self: &Arc<Self>, doc: &docs::Model) -> ApiResult<Joined> {
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
            let queued = Arc::new(AtomicUsize::new(0));
            peers.insert(
                id,
                Peer {
                    tx,
                    queued: queued.clone(),
                    kicked: kicked.clone(),
                },
            );
            drop(peers);
            drop(map);
            metrics::gauge!("qollab_docs_connections").increment(1.0);
            return Ok(Joined {
                room,
                peer: id,
                queue: PeerQueue { rx, queued },
                kicked,
            });
        }
    }

    /// Removes a peer and the awareness states it owned (the removal is relayed here
    /// and to the other processes). An empty room unloads after the grace period.
    pub fn leave(self: &Arc<Self>, room: &Arc<Room>, peer: u64) {
        lock(&room.peers).remove(&peer);
        metrics::gauge!("qollab_docs_connections").decrement(1.0);
        if let Some(removal) = room.with_awareness(|a| a.remove_owner(Owner::Peer(peer))) {
            self.relay_awareness(room, Some(peer), encode_awareness(&removal));
        }
        self.unload_when_idle(room);
    }

    /// Relays a peer's awareness frame (already applied to the room) to the other peers
    /// here and in the other processes.
    pub fn relay_awareness(&self, room: &Room, from: Option<u64>, frame: Vec<u8>) {
        if matches!(self.fanout, Fanout::Redis(_)) {
            self.fanout.publish(Message::Awareness {
                doc_id: room.doc_id,
                frame: frame.clone(),
            });
        }
        room.broadcast(from, frame);
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
        let arrived = Instant::now();
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
        // Where a live edit's time goes (issue #12): its wait for the log (group commit
        // included), the yrs apply, and arrival to queued for every peer (relay).
        let persist = Instant::now();
        let id = self.appender.append(room.doc_id, bytes.clone()).await?;
        let apply = Instant::now();
        metrics::histogram!("qollab_docs_update_persist_duration_seconds")
            .record((apply - persist).as_secs_f64());
        room.with_awareness(|a| update.apply(a.doc()))
            .map_err(|e| format!("update does not apply: {e}"))?;
        metrics::histogram!("qollab_docs_update_apply_duration_seconds")
            .record(apply.elapsed().as_secs_f64());
        let compact_now = {
            let mut p = lock(&room.progress);
            p.last_persisted = p.last_persisted.max(id);
            p.since_compaction += 1;
            p.since_compaction >= self.config.compact_every_updates && !p.compacting
        };
        room.broadcast(origin, encode_update(&bytes));
        metrics::histogram!("qollab_docs_update_relay_duration_seconds")
            .record(arrived.elapsed().as_secs_f64());
        drop(gate);
        self.fanout.publish(Message::DocUpdate {
            doc_id: room.doc_id,
            workspace_id: room.workspace_id,
            id,
            update: bytes,
        });
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
    ///
    /// Safe with several processes: the snapshot is built from the room *plus* the stored
    /// snapshot and log rows up to `upto` (another process's update may not have reached
    /// this room yet), written only over the snapshot it was merged with, and only the
    /// rows read are deleted.
    pub async fn compact(&self, room: &Arc<Room>, keep_version: bool) {
        // Updates that arrive while a compaction writes do not trigger another one (it is
        // already running); if they add up to the threshold meanwhile, go again.
        let mut attempts = 0;
        loop {
            let (upto, known, count) = {
                let mut p = lock(&room.progress);
                if p.compacting || p.last_persisted <= p.compacted_upto {
                    return;
                }
                p.compacting = true;
                (p.last_persisted, p.compacted_upto, p.since_compaction)
            };
            let result = self.compact_once(room, upto, known, keep_version).await;
            let mut p = lock(&room.progress);
            p.compacting = false;
            match result {
                Ok(Some(snapshot_upto)) => {
                    p.compacted_upto = p.compacted_upto.max(snapshot_upto);
                    if snapshot_upto == upto {
                        p.since_compaction = p.since_compaction.saturating_sub(count);
                        p.last_compaction = Some(Instant::now());
                        metrics::counter!("qollab_docs_compactions_total").increment(1);
                        attempts = 0;
                        if p.since_compaction < self.config.compact_every_updates {
                            return;
                        }
                    }
                    // Otherwise another process's snapshot already covers `upto`.
                    else if p.last_persisted <= p.compacted_upto {
                        p.since_compaction = 0;
                        return;
                    }
                }
                Ok(None) => {
                    // Another process replaced the snapshot meanwhile: merge it, go again.
                    attempts += 1;
                    if attempts >= COMPACT_ATTEMPTS {
                        tracing::debug!(doc_id = %room.doc_id, "compaction kept losing to another process; leaving it to them");
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

    /// One compaction attempt up to `upto`: `Ok(Some(n))` when the stored snapshot now
    /// covers `n` (`upto`, or more if another process got further), `Ok(None)` when the
    /// snapshot changed under it.
    async fn compact_once(
        &self,
        room: &Arc<Room>,
        upto: i64,
        known: i64,
        keep_version: bool,
    ) -> ApiResult<Option<i64>> {
        let tail = self.db.doc_since(room.doc_id, known, Some(upto)).await?;
        let folded: Vec<i64> = tail.updates.iter().map(|(id, _)| *id).collect();
        self.fold(room, tail.snapshot, tail.updates);
        {
            // The room now includes that snapshot (merged, or the one it knew).
            let mut p = lock(&room.progress);
            p.compacted_upto = p.compacted_upto.max(tail.snapshot_upto);
        }
        if tail.snapshot_upto >= upto {
            return Ok(Some(tail.snapshot_upto));
        }
        // No exclusive gate: `fold` has just applied every row up to `upto` this read
        // saw, so the state holds all it will delete. Rows it did not see (PostgreSQL
        // commits ids out of order) stay in the log. Taking the gate here stalled every
        // live edit of the room behind the updates in flight, once per compaction.
        let state = room.encode_state();
        let written = self
            .db
            .compact_doc(
                room.doc_id,
                state,
                upto,
                tail.snapshot_upto,
                &folded,
                keep_version,
            )
            .await?;
        // Not written: the stored snapshot is no longer `tail.snapshot_upto`, so the next
        // attempt reads (and merges) the new one.
        Ok(written.then_some(upto))
    }

    /// Applies stored state the room may lack (a snapshot, log rows) and relays to the
    /// local peers whatever was new to it. Idempotent.
    fn fold(&self, room: &Room, snapshot: Option<Vec<u8>>, rows: Vec<(i64, Vec<u8>)>) {
        let mut newest = 0;
        for (id, bytes) in snapshot.into_iter().map(|s| (0, s)).chain(rows) {
            newest = newest.max(id);
            let Ok(update) = DecodedUpdate::decode(bytes) else {
                tracing::error!(doc_id = %room.doc_id, update_id = id, "stored update does not decode");
                continue;
            };
            self.apply_known(room, update);
        }
        let mut p = lock(&room.progress);
        p.last_persisted = p.last_persisted.max(newest);
    }

    /// Applies an update that is already in the log (no second persist) and relays it to
    /// the local peers, unless the room has it already.
    fn apply_known(&self, room: &Room, update: DecodedUpdate) {
        if room.with_awareness(|a| update.is_noop_for(a.doc())) {
            return;
        }
        let frame = encode_update(update.bytes());
        match room.with_awareness(|a| update.apply(a.doc())) {
            Ok(()) => room.broadcast(None, frame),
            Err(e) => {
                tracing::error!(doc_id = %room.doc_id, error = %e, "stored update does not apply")
            }
        }
    }

    /// An update another process persisted (log id `id`) for a document that may be
    /// loaded here: applied to the room and relayed to its peers.
    pub fn remote_update(
        self: &Arc<Self>,
        doc_id: Uuid,
        workspace_id: Uuid,
        id: i64,
        bytes: Vec<u8>,
    ) {
        let Some(slot) = lock(&self.map).get(&doc_id).cloned() else {
            return;
        };
        let update = match DecodedUpdate::decode(bytes) {
            Ok(u) => u,
            Err(e) => {
                tracing::warn!(%doc_id, error = %e, "fan-out update does not decode");
                return;
            }
        };
        match slot.get() {
            Some(room) => self.apply_remote(room, id, update),
            None => {
                // Still loading: the load may have read the log before this update
                // committed, so apply it once the room is there.
                let rooms = Arc::clone(self);
                tokio::spawn(async move {
                    if let Ok(room) = rooms.open_ids(doc_id, workspace_id).await {
                        rooms.apply_remote(&room, id, update);
                        rooms.unload_when_idle(&room);
                    }
                });
            }
        }
    }

    fn apply_remote(&self, room: &Room, id: i64, update: DecodedUpdate) {
        if room.retired.load(Ordering::SeqCst) {
            return;
        }
        self.apply_known(room, update);
        let mut p = lock(&room.progress);
        p.last_persisted = p.last_persisted.max(id);
        drop(p);
        metrics::counter!("qollab_docs_remote_updates_total").increment(1);
    }

    /// An awareness frame from a peer on another process.
    pub fn remote_awareness(&self, doc_id: Uuid, frame: Vec<u8>) {
        let Some(room) = lock(&self.map).get(&doc_id).and_then(|s| s.get().cloned()) else {
            return;
        };
        let Ok(Frame::Awareness(update)) = decode_frame(&frame) else {
            return;
        };
        // The other process enforced its peers' limits and ownership; here its states
        // still count against this room's budget and never override a local peer's.
        if let Ok(Some(applied)) = room.with_awareness(|a| a.apply_from(Owner::Remote, update)) {
            room.broadcast(None, encode_awareness(&applied));
        }
    }

    /// Another process loaded the document and asks for the awareness states known here.
    pub fn awareness_query(&self, doc_id: Uuid) {
        let Some(room) = lock(&self.map).get(&doc_id).and_then(|s| s.get().cloned()) else {
            return;
        };
        let update = room.with_awareness(|a| a.snapshot());
        if let Some(update) = update {
            self.fanout.publish(Message::Awareness {
                doc_id,
                frame: encode_awareness(&update),
            });
        }
    }

    /// Brings every loaded room up to date with the database, after fan-out messages
    /// may have been lost (a gap, a dropped message, a new Redis subscription).
    pub async fn catch_up_all(&self) {
        for room in self.loaded() {
            let known = lock(&room.progress).compacted_upto;
            match self.db.doc_since(room.doc_id, known, None).await {
                Ok(tail) => {
                    self.fold(&room, tail.snapshot, tail.updates);
                    let mut p = lock(&room.progress);
                    p.compacted_upto = p.compacted_upto.max(tail.snapshot_upto);
                }
                Err(e) => {
                    tracing::warn!(doc_id = %room.doc_id, error = %e.message, "room catch-up")
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

    /// Applies a membership change to live connections of that workspace (document and
    /// event sockets), here and in the other processes: a removed member is disconnected,
    /// a changed role takes effect on the connection.
    pub fn membership_changed(&self, workspace_id: Uuid, user_id: Uuid, role: Option<Role>) {
        self.live.membership_changed(workspace_id, user_id, role);
    }

    /// Closes the rooms of a deleted document (or workspace), here and in the other
    /// processes.
    pub fn close_doc(&self, doc_id: Uuid, reason: &str) {
        self.fanout.publish(Message::CloseDoc {
            doc_id,
            reason: reason.to_string(),
        });
        self.close_local(doc_id, reason);
    }

    /// [`Rooms::close_doc`] for this process's room only.
    pub fn close_local(&self, doc_id: Uuid, reason: &str) {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_group_of_four_within_ten_minutes_names_each_member_once() {
        let t0 = Instant::now();
        let people: Vec<Uuid> = (1..=6).map(Uuid::from_u128).collect();
        let mut c = CoEditors::default();
        assert_eq!(c.edited(people[0], t0), (vec![], 1));
        assert_eq!(
            c.edited(people[1], t0 + Duration::from_secs(60)),
            (vec![], 2)
        );
        assert_eq!(
            c.edited(people[0], t0 + Duration::from_secs(61)),
            (vec![], 2),
            "the same person twice is one"
        );
        assert_eq!(
            c.edited(people[2], t0 + Duration::from_secs(120)),
            (vec![], 3)
        );
        let (named, n) = c.edited(people[3], t0 + Duration::from_secs(180));
        assert_eq!((named, n), (people[..4].to_vec(), 4));
        assert_eq!(
            c.edited(people[1], t0 + Duration::from_secs(200)),
            (vec![], 4),
            "named once"
        );
        // Much later, people[4] edits with people[5] only: the old group has gone stale.
        let later = t0 + CO_EDIT_WINDOW + Duration::from_secs(300);
        assert_eq!(c.edited(people[4], later).0, Vec::<Uuid>::new());
        assert_eq!(c.edited(people[5], later).0, Vec::<Uuid>::new());
    }
}
