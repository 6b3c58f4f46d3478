//! Sans-IO core of the y-websocket protocol, shared by the server's rooms and the Rust client.
//!
//! Wire format (lib0 encoding, one message per binary websocket frame):
//!
//! | first varuint | message            | rest                                                   |
//! |---------------|--------------------|--------------------------------------------------------|
//! | 0             | sync               | varuint sub-type: 0 step 1 (state vector), 1 step 2 (update), 2 update; then a varuint-length buffer |
//! | 1             | awareness          | varuint-length buffer holding an awareness update      |
//! | 2             | auth               | varuint 0 = permission denied, then a reason string    |
//! | 3             | query-awareness    | nothing                                                |
//!
//! Nothing here touches a socket: [`decode_frame`] turns bytes into a [`Frame`] (or a
//! [`ProtocolError`], never a panic), the `encode_*` helpers build frames, and [`Connection`]
//! is the per-peer state machine. A document update coming from a peer is handed back
//! *decoded but not applied* ([`DecodedUpdate`]) so that the server can persist it before it
//! applies and relays it.

use std::collections::{BTreeSet, HashMap};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use yrs::encoding::read::{Cursor, Error as ReadError, Read};
use yrs::encoding::write::Write;
use yrs::sync::awareness::AwarenessUpdateEntry;
use yrs::updates::decoder::Decode;
use yrs::updates::encoder::Encode;
use yrs::{ClientID, Doc, Origin, ReadTxn, StateVector, Transact, Update};

pub use yrs::sync::{Awareness, AwarenessUpdate};

/// Top-level message types.
pub const MSG_SYNC: u64 = 0;
pub const MSG_AWARENESS: u64 = 1;
pub const MSG_AUTH: u64 = 2;
pub const MSG_QUERY_AWARENESS: u64 = 3;
/// Sync sub-types.
pub const SYNC_STEP1: u64 = 0;
pub const SYNC_STEP2: u64 = 1;
pub const SYNC_UPDATE: u64 = 2;
/// Auth sub-type for "permission denied" (the only one y-websocket sends).
pub const AUTH_PERMISSION_DENIED: u64 = 0;

/// Yjs client ids are JavaScript-safe integers; larger values are malformed (and yrs
/// debug-asserts on them).
const MAX_CLIENT_ID: u64 = (1 << 53) - 1;

/// Why an incoming frame could not be used. Every variant is the peer's fault; the caller
/// decides whether to drop the frame or the connection.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    #[error("empty frame")]
    EmptyFrame,
    #[error("malformed {0}: invalid variable-length integer")]
    BadVarint(&'static str),
    #[error("truncated {0}: the frame ends before the declared length")]
    Truncated(&'static str),
    #[error("malformed {0}: {1}")]
    Malformed(&'static str, String),
    #[error("{0} unexpected byte(s) after the message")]
    TrailingBytes(usize),
    #[error("unknown message type {0}")]
    UnknownMessageType(u64),
    #[error("unknown sync message type {0}")]
    UnknownSyncType(u64),
    #[error("unknown auth message type {0}")]
    UnknownAuthType(u64),
    #[error("malformed state vector: {0}")]
    BadStateVector(String),
    #[error("undecodable document update: {0}")]
    BadUpdate(String),
    #[error("malformed awareness update: {0}")]
    BadAwareness(String),
    #[error("the document rejected the update: {0}")]
    ApplyFailed(String),
    /// A peer's update skips clocks the document has not seen (resync to recover).
    #[error(
        "update from client {client} starts at clock {starts}, but the document has only {known}; resync"
    )]
    ClockGap {
        client: u64,
        starts: u32,
        known: u32,
    },
    /// An awareness state larger than the room allows for one client (the peer is to be
    /// closed: a well-behaved client's cursor and name take a few hundred bytes).
    #[error("awareness state of client {client} is {len} bytes; at most {max} are allowed")]
    AwarenessTooLarge { client: u64, len: usize, max: usize },
}

impl ProtocolError {
    /// True for a frame refused for its size rather than its shape (close code 1009).
    pub fn is_too_large(&self) -> bool {
        matches!(self, ProtocolError::AwarenessTooLarge { .. })
    }

    /// Unknown message types are what a newer peer may legitimately send; y-websocket
    /// ignores them, so callers may too. Everything else means a broken or hostile peer.
    pub fn is_unknown_message(&self) -> bool {
        matches!(self, ProtocolError::UnknownMessageType(_))
    }
}

fn read_err(what: &'static str, e: ReadError) -> ProtocolError {
    match e {
        ReadError::EndOfBuffer(_) => ProtocolError::Truncated(what),
        ReadError::InvalidVarInt => ProtocolError::BadVarint(what),
        other => ProtocolError::Malformed(what, other.to_string()),
    }
}

/// Highest clock a peer's update may reach: a client's clock counts the items it ever
/// inserted, and no document comes near a billion.
const MAX_CLOCK: u32 = 1 << 30;

fn ranges_are_sane(set: &yrs::IdSet) -> bool {
    set.iter()
        .all(|(_, ranges)| ranges.iter().all(|r| r.start < r.end && r.end <= MAX_CLOCK))
}

/// A document update received from a peer: structurally valid, not applied to any document.
pub struct DecodedUpdate {
    raw: Vec<u8>,
    update: Update,
}

impl std::fmt::Debug for DecodedUpdate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DecodedUpdate")
            .field("len", &self.raw.len())
            .finish()
    }
}

impl DecodedUpdate {
    /// Decodes a v1-encoded update (the payload of sync step 2 / update messages).
    pub fn decode(raw: Vec<u8>) -> Result<Self, ProtocolError> {
        check_declared_clients(&raw)?;
        // yrs asserts (debug builds) on some malformed ids instead of returning an error;
        // the bytes come from a peer, so a panic here must become an error.
        let decoded = catch_unwind(AssertUnwindSafe(|| {
            let update = Update::decode_v1(&raw)?;
            // yrs keeps the part of an update it cannot integrate yet ("pending") and
            // re-encodes it whenever the document's state is encoded (every newcomer's
            // sync, every snapshot), unwrapping the result. Some inputs decode but do not
            // survive that re-encoding, which would make the document panic for everyone
            // from then on (and after every restart, since the update is stored): refuse
            // them here, while they are still only bytes.
            let canonical = update.encode_v1();
            yrs::merge_updates_v1(vec![canonical.clone()])?;
            // Yjs writes each client once, its blocks contiguous. An update that names a
            // client twice, or whose blocks overlap, decodes into a block list yrs then
            // integrates with unchecked clock arithmetic, panicking while a transaction
            // unwinds (an abort, not a catchable panic). Such an update does not survive
            // a round trip through yrs's own encoding unchanged: refuse it.
            let again = Update::decode_v1(&canonical)?;
            if again.state_vector() != update.state_vector()
                || again.delete_set() != update.delete_set()
                || again.insertions(true) != update.insertions(true)
            {
                return Err(yrs::encoding::read::Error::Custom(
                    "blocks are not in Yjs's canonical layout".into(),
                ));
            }
            // yrs's own encoding must read back to itself. yrs 0.28.1 decodes legacy JSON
            // content (which Yjs stopped writing in v13) with one string more than it
            // declares and encodes the count it holds, so such content grows by one
            // string per round trip; the document then encodes its state into bytes
            // yrs cannot read, and unwraps that read whenever it has pending data (an
            // abort on the next sync step 1, found by cargo fuzz). Any codec asymmetry
            // of that kind changes which bytes the encoding holds. yrs writes clients
            // in hash-map order, which differs between two decodes of the same update,
            // so the encodings are compared as multisets of bytes (invariant under that
            // reordering), not byte for byte.
            if byte_counts(&again.encode_v1()) != byte_counts(&canonical) {
                return Err(yrs::encoding::read::Error::Custom(
                    "content does not survive a round trip through yrs's encoding".into(),
                ));
            }
            // yrs subtracts range bounds without checking them: an empty or reversed
            // range, or clocks no Yjs client reaches, panic inside `apply` (cargo fuzz).
            // Computing the insertions adds clocks up too, so this stays in the unwind
            // guard.
            if !ranges_are_sane(update.delete_set()) || !ranges_are_sane(&update.insertions(true)) {
                return Err(yrs::encoding::read::Error::Custom(
                    "clock ranges out of bounds".into(),
                ));
            }
            Ok(update)
        }));
        match decoded {
            Ok(Ok(update)) => Ok(DecodedUpdate { raw, update }),
            Ok(Err(e)) => Err(ProtocolError::BadUpdate(e.to_string())),
            Err(_) => Err(ProtocolError::BadUpdate(
                "update decoder rejected the input".into(),
            )),
        }
    }

    /// The update exactly as the peer sent it (v1 encoding): what to persist and relay.
    pub fn bytes(&self) -> &[u8] {
        &self.raw
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.raw
    }

    /// True when applying the update to `doc` would change nothing: every inserted block and
    /// every deletion is already known. An honest read-only peer's reply to our sync step 1
    /// looks like this (Yjs always includes its whole delete set), so it must not be refused.
    pub fn is_noop_for(&self, doc: &Doc) -> bool {
        let txn = doc.transact();
        let sv = txn.state_vector();
        let known_inserts = self
            .update
            .insertions(true)
            .iter()
            .all(|(client, ranges)| ranges.iter().all(|r| r.end <= sv.get(client)));
        if !known_inserts {
            return false;
        }
        let deletes = self.update.delete_set();
        deletes.is_empty() || deletes.diff(&txn.snapshot().delete_set).is_empty()
    }

    /// Whether the update continues `doc`: for every client, its blocks start at or
    /// below the clock the document has, and run without holes. A Yjs peer syncing with
    /// a server only ever sends that (the server holds everything it has seen). An update
    /// with a hole makes yrs put a Skip block into the document, and filling a Skip with
    /// a longer block later panics inside yrs while a transaction unwinds (a process
    /// abort, found by cargo fuzz): the server refuses such updates, the peer resyncs.
    pub fn continues(&self, doc: &Doc) -> Result<(), ProtocolError> {
        let known = doc.transact().state_vector();
        let inserted = self.update.insertions(true);
        for (client, ranges) in inserted.iter() {
            let mut ranges = ranges.iter();
            let first = ranges.next().map_or(0, |r| r.start);
            let have = known.get(client);
            if first > have || ranges.next().is_some() {
                return Err(ProtocolError::ClockGap {
                    client: client.get(),
                    starts: first,
                    known: have,
                });
            }
        }
        Ok(())
    }

    /// Applies the update to `doc` in its own transaction (blocks while another transaction
    /// on `doc` is open, so never call it while holding one).
    pub fn apply(self, doc: &Doc) -> Result<(), ProtocolError> {
        let mut txn = doc.transact_mut();
        txn.apply_update(self.update)
            .map_err(|e| ProtocolError::ApplyFailed(e.to_string()))
    }

    /// Like [`DecodedUpdate::apply`], tagging the transaction with `origin` (so that an
    /// update observer can tell whose change it is, e.g. to skip echoing it back).
    pub fn apply_with_origin(
        self,
        doc: &Doc,
        origin: impl Into<Origin>,
    ) -> Result<(), ProtocolError> {
        let mut txn = doc.transact_mut_with(origin);
        txn.apply_update(self.update)
            .map_err(|e| ProtocolError::ApplyFailed(e.to_string()))
    }
}

/// How many times each byte value occurs: equal for two encodings that differ only in
/// the order of their clients.
fn byte_counts(bytes: &[u8]) -> [u32; 256] {
    let mut n = [0u32; 256];
    for &b in bytes {
        n[usize::from(b)] += 1;
    }
    n
}

/// One decoded incoming frame.
#[derive(Debug)]
pub enum Frame {
    SyncStep1(StateVector),
    SyncStep2(DecodedUpdate),
    Update(DecodedUpdate),
    Awareness(AwarenessUpdate),
    /// Auth message "permission denied" with its reason.
    PermissionDenied(String),
    QueryAwareness,
}

/// Decodes one websocket frame. Trailing bytes are an error: y-websocket sends exactly one
/// message per frame, so leftovers mean a framing bug or an attack.
/// yrs reserves a hash table for as many clients as an update's first number declares
/// before it reads any of them, and fills its control bytes: a ten-byte update declaring
/// 2^29 clients made it reserve 22 GB and touch half a gigabyte (found by cargo fuzz,
/// ~1 s of kernel time per frame). Each client takes at least three bytes (its block
/// count, id and first clock), so a count the remaining bytes cannot hold is refused
/// before yrs sees it.
fn check_declared_clients(update: &[u8]) -> Result<(), ProtocolError> {
    let mut declared: u64 = 0;
    for (i, b) in update.iter().enumerate() {
        if i >= 10 {
            break;
        }
        declared |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            let rest = (update.len() - i - 1) as u64;
            if declared > rest / 3 {
                return Err(ProtocolError::BadUpdate(format!(
                    "declares {declared} clients in {rest} bytes"
                )));
            }
            return Ok(());
        }
    }
    // Truncated or over-long: yrs reports it.
    Ok(())
}

pub fn decode_frame(frame: &[u8]) -> Result<Frame, ProtocolError> {
    if frame.is_empty() {
        return Err(ProtocolError::EmptyFrame);
    }
    let mut cur = Cursor::new(frame);
    let tag: u64 = cur.read_var().map_err(|e| read_err("message type", e))?;
    let msg = match tag {
        MSG_SYNC => {
            let sub: u64 = cur.read_var().map_err(|e| read_err("sync type", e))?;
            match sub {
                SYNC_STEP1 => {
                    let buf = cur.read_buf().map_err(|e| read_err("sync step 1", e))?;
                    Frame::SyncStep1(decode_state_vector(buf)?)
                }
                SYNC_STEP2 | SYNC_UPDATE => {
                    let buf = cur.read_buf().map_err(|e| read_err("sync update", e))?;
                    let update = DecodedUpdate::decode(buf.to_vec())?;
                    if sub == SYNC_STEP2 {
                        Frame::SyncStep2(update)
                    } else {
                        Frame::Update(update)
                    }
                }
                other => return Err(ProtocolError::UnknownSyncType(other)),
            }
        }
        MSG_AWARENESS => {
            let buf = cur.read_buf().map_err(|e| read_err("awareness", e))?;
            Frame::Awareness(decode_awareness(buf)?)
        }
        MSG_AUTH => {
            let sub: u64 = cur.read_var().map_err(|e| read_err("auth type", e))?;
            if sub != AUTH_PERMISSION_DENIED {
                return Err(ProtocolError::UnknownAuthType(sub));
            }
            let reason = cur.read_string().map_err(|e| read_err("auth reason", e))?;
            Frame::PermissionDenied(reason.to_owned())
        }
        MSG_QUERY_AWARENESS => Frame::QueryAwareness,
        other => return Err(ProtocolError::UnknownMessageType(other)),
    };
    let rest = frame.len() - cur.next;
    if rest != 0 {
        return Err(ProtocolError::TrailingBytes(rest));
    }
    Ok(msg)
}

fn decode_state_vector(buf: &[u8]) -> Result<StateVector, ProtocolError> {
    let bad = |e: ReadError| ProtocolError::BadStateVector(e.to_string());
    let mut cur = Cursor::new(buf);
    let len: u64 = cur.read_var().map_err(bad)?;
    let mut sv = StateVector::default();
    for _ in 0..len {
        let client: u64 = cur.read_var().map_err(bad)?;
        let clock: u32 = cur.read_var().map_err(bad)?;
        if client > MAX_CLIENT_ID {
            return Err(ProtocolError::BadStateVector(format!(
                "client id {client} exceeds 2^53"
            )));
        }
        sv.set_max(ClientID::new(client), clock);
    }
    if cur.has_content() {
        return Err(ProtocolError::BadStateVector("trailing bytes".into()));
    }
    Ok(sv)
}

fn decode_awareness(buf: &[u8]) -> Result<AwarenessUpdate, ProtocolError> {
    let bad = |e: ReadError| ProtocolError::BadAwareness(e.to_string());
    let mut cur = Cursor::new(buf);
    let len: u64 = cur.read_var().map_err(bad)?;
    let mut clients = HashMap::new();
    for _ in 0..len {
        let client: u64 = cur.read_var().map_err(bad)?;
        let clock: u32 = cur.read_var().map_err(bad)?;
        let json = cur.read_string().map_err(bad)?;
        if client > MAX_CLIENT_ID {
            return Err(ProtocolError::BadAwareness(format!(
                "client id {client} exceeds 2^53"
            )));
        }
        // Yjs peers JSON.parse every state they receive: relaying invalid JSON would break them.
        if serde_json::from_str::<serde::de::IgnoredAny>(json).is_err() {
            return Err(ProtocolError::BadAwareness(format!(
                "state of client {client} is not JSON"
            )));
        }
        clients.insert(
            ClientID::new(client),
            AwarenessUpdateEntry {
                clock,
                json: Arc::from(json),
            },
        );
    }
    if cur.has_content() {
        return Err(ProtocolError::BadAwareness("trailing bytes".into()));
    }
    Ok(AwarenessUpdate { clients })
}

fn frame_with(tag: u64, sub: Option<u64>, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 8);
    out.write_var(tag);
    if let Some(sub) = sub {
        out.write_var(sub);
    }
    out.write_buf(payload);
    out
}

/// Sync step 1: "here is what I have".
pub fn encode_sync_step1(sv: &StateVector) -> Vec<u8> {
    frame_with(MSG_SYNC, Some(SYNC_STEP1), &sv.encode_v1())
}

/// Sync step 2: the reply to a step 1, carrying what the peer lacks.
pub fn encode_sync_step2(update: &[u8]) -> Vec<u8> {
    frame_with(MSG_SYNC, Some(SYNC_STEP2), update)
}

/// An incremental document update (v1 encoding).
pub fn encode_update(update: &[u8]) -> Vec<u8> {
    frame_with(MSG_SYNC, Some(SYNC_UPDATE), update)
}

pub fn encode_awareness(update: &AwarenessUpdate) -> Vec<u8> {
    frame_with(MSG_AWARENESS, None, &update.encode_v1())
}

pub fn encode_query_awareness() -> Vec<u8> {
    let mut out = Vec::with_capacity(1);
    out.write_var(MSG_QUERY_AWARENESS);
    out
}

/// The auth message a y-websocket client reports as "Permission denied to access …".
pub fn encode_permission_denied(reason: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(reason.len() + 4);
    out.write_var(MSG_AUTH);
    out.write_var(AUTH_PERMISSION_DENIED);
    out.write_string(reason);
    out
}

/// Whether the peer may change the document. Awareness (cursors, presence) is always allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    ReadWrite,
    ReadOnly,
}

/// Awareness client ids one connection may announce. A browser tab uses one; the cap keeps
/// a hostile peer from growing the room's awareness map without bound.
pub const MAX_AWARENESS_IDS_PER_PEER: usize = 16;

/// Bounds on what a room keeps of its peers' awareness, and so on what every newcomer is
/// sent when it joins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AwarenessLimits {
    /// Largest JSON state of one client id; a peer sending a larger one is refused.
    pub max_state_bytes: usize,
    /// Client ids one connection may own at once; more is refused.
    pub max_ids_per_peer: usize,
    /// All live states of the room together; an update that would grow the room past it
    /// is not applied (the peer stays, its state is not shown), removals always are.
    pub max_room_bytes: usize,
}

impl Default for AwarenessLimits {
    fn default() -> Self {
        AwarenessLimits {
            max_state_bytes: 32 << 10,
            max_ids_per_peer: MAX_AWARENESS_IDS_PER_PEER,
            max_room_bytes: 1 << 20,
        }
    }
}

/// Who announced an awareness client id in a room: a connection of this server (by its
/// peer id), or another server process (whose own room enforced the rules).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Owner {
    Peer(u64),
    Remote,
}

/// A room's awareness: the yrs [`Awareness`] (and so the document) plus who owns each
/// client id and how many bytes the live states take.
///
/// Invariants: a client id belongs to the first owner that announced it until that owner
/// removes it or leaves; updates and removals of an id by anyone else are ignored; every
/// live state is at most `max_state_bytes` and all of them together at most
/// `max_room_bytes`; removed states (yrs keeps a tombstone per id) are swept once they
/// outnumber the live ones, so churn cannot grow the room either.
pub struct RoomAwareness {
    awareness: Awareness,
    /// Live states only: owner and JSON length.
    owners: HashMap<u64, (Owner, usize)>,
    bytes: usize,
    tombstones: usize,
    limits: AwarenessLimits,
}

impl std::fmt::Debug for RoomAwareness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RoomAwareness")
            .field("states", &self.owners.len())
            .field("bytes", &self.bytes)
            .field("tombstones", &self.tombstones)
            .finish()
    }
}

/// Tombstones kept before a sweep, at least (and at least as many as live states).
const MIN_TOMBSTONES_BEFORE_SWEEP: usize = 1024;

impl RoomAwareness {
    pub fn new(doc: Doc, limits: AwarenessLimits) -> Self {
        RoomAwareness {
            awareness: Awareness::new(doc),
            owners: HashMap::new(),
            bytes: 0,
            tombstones: 0,
            limits,
        }
    }

    pub fn awareness(&self) -> &Awareness {
        &self.awareness
    }

    pub fn doc(&self) -> &Doc {
        self.awareness.doc()
    }

    pub fn limits(&self) -> AwarenessLimits {
        self.limits
    }

    /// Bytes of JSON held in live states (what a newcomer is sent, give or take framing).
    pub fn state_bytes(&self) -> usize {
        self.bytes
    }

    /// Number of live states.
    pub fn state_count(&self) -> usize {
        self.owners.len()
    }

    /// The owner of a live client id.
    pub fn owner_of(&self, client: u64) -> Option<Owner> {
        self.owners.get(&client).map(|(o, _)| *o)
    }

    /// Every live state, as one update (sent to a newcomer, or in answer to a query).
    pub fn snapshot(&self) -> Option<AwarenessUpdate> {
        self.awareness
            .update()
            .ok()
            .filter(|u| !u.clients.is_empty())
    }

    /// Applies an awareness update from `owner`, keeping only what it may write: its own
    /// ids and new ones, within the limits. Returns what was applied (to relay to the other
    /// peers), `None` when nothing was. A local peer's update that breaks a hard limit (a
    /// state too large, too many ids) is an error and nothing of it is applied; another
    /// process's entries that do not fit are dropped silently.
    pub fn apply_from(
        &mut self,
        owner: Owner,
        update: AwarenessUpdate,
    ) -> Result<Option<AwarenessUpdate>, ProtocolError> {
        let limits = self.limits;
        let is_null = |e: &AwarenessUpdateEntry| e.json.as_ref() == "null";
        if let Owner::Peer(peer) = owner {
            let mut owned = self.owners.values().filter(|(o, _)| *o == owner).count();
            for (client, entry) in &update.clients {
                let id = client.get();
                if !is_null(entry) && entry.json.len() > limits.max_state_bytes {
                    return Err(ProtocolError::AwarenessTooLarge {
                        client: id,
                        len: entry.json.len(),
                        max: limits.max_state_bytes,
                    });
                }
                match self.owners.get(&id) {
                    None if !is_null(entry) => owned += 1,
                    Some((o, _)) if *o == owner && is_null(entry) => {
                        owned = owned.saturating_sub(1)
                    }
                    _ => {}
                }
            }
            if owned > limits.max_ids_per_peer {
                return Err(ProtocolError::BadAwareness(format!(
                    "more than {} awareness clients on one connection (peer {peer})",
                    limits.max_ids_per_peer
                )));
            }
        }
        let mut bytes = self.bytes;
        let mut accepted = HashMap::new();
        for (client, entry) in update.clients {
            let id = client.get();
            let current = self.owners.get(&id).copied();
            match current {
                Some((o, _)) if o != owner => continue,
                None if is_null(&entry) => continue,
                _ => {}
            }
            let old = current.map_or(0, |(_, len)| len);
            if !is_null(&entry) {
                if entry.json.len() > limits.max_state_bytes {
                    continue;
                }
                let grown = bytes - old + entry.json.len();
                if grown > limits.max_room_bytes && grown > bytes {
                    continue;
                }
                bytes = grown;
            } else {
                bytes -= old;
            }
            accepted.insert(client, entry);
        }
        if accepted.is_empty() {
            return Ok(None);
        }
        let lens: HashMap<ClientID, usize> = accepted
            .iter()
            .map(|(c, e)| (*c, if is_null(e) { 0 } else { e.json.len() }))
            .collect();
        let summary = self
            .awareness
            .apply_update_summary(AwarenessUpdate {
                clients: accepted.clone(),
            })
            .map_err(|e| ProtocolError::BadAwareness(e.to_string()))?;
        let Some(summary) = summary else {
            return Ok(None);
        };
        let mut applied = HashMap::new();
        for client in summary.added.iter().chain(&summary.updated) {
            let len = lens.get(client).copied().unwrap_or(0);
            if let Some((_, old)) = self.owners.insert(client.get(), (owner, len)) {
                self.bytes -= old;
            }
            self.bytes += len;
            if let Some(e) = accepted.remove(client) {
                applied.insert(*client, e);
            }
        }
        for client in &summary.removed {
            if let Some((_, old)) = self.owners.remove(&client.get()) {
                self.bytes -= old;
                self.tombstones += 1;
            }
            if let Some(e) = accepted.remove(client) {
                applied.insert(*client, e);
            }
        }
        self.sweep();
        Ok((!applied.is_empty()).then_some(AwarenessUpdate { clients: applied }))
    }

    /// Removes every state `owner` announced (it left); returns the removal to broadcast.
    pub fn remove_owner(&mut self, owner: Owner) -> Option<AwarenessUpdate> {
        let ids: Vec<ClientID> = self
            .owners
            .iter()
            .filter(|(_, (o, _))| *o == owner)
            .map(|(id, _)| ClientID::new(*id))
            .collect();
        if ids.is_empty() {
            return None;
        }
        for id in &ids {
            self.awareness.remove_state(*id);
            if let Some((_, len)) = self.owners.remove(&id.get()) {
                self.bytes -= len;
            }
        }
        self.tombstones += ids.len();
        let update = self.awareness.update_with_clients(ids).ok();
        self.sweep();
        update
    }

    /// Drops the tombstones yrs keeps for removed ids once they outnumber the live states:
    /// a fresh `Awareness` over the same document, holding the live states only.
    fn sweep(&mut self) {
        if self.tombstones < MIN_TOMBSTONES_BEFORE_SWEEP.max(self.owners.len()) {
            return;
        }
        let live = self.awareness.update().ok();
        let mut fresh = Awareness::new(self.awareness.doc().clone());
        if let Some(live) = live
            && fresh.apply_update(live).is_err()
        {
            return;
        }
        self.awareness = fresh;
        self.tombstones = 0;
    }
}

/// Reason sent to a read-only peer whose update was refused.
pub const READ_ONLY_REASON: &str = "read-only access: document updates are not accepted";

/// What the caller must do after [`Connection::handle_frame`].
#[derive(Debug)]
pub enum Inbound {
    /// Send these frames, in order, back to this peer only.
    Reply(Vec<Vec<u8>>),
    /// A document update from the peer (sync step 2 or update), validated but NOT applied.
    /// Server: persist `update.bytes()`, then `update.apply(doc)`, then relay
    /// `encode_update(bytes)` to the other peers. Client: apply it.
    Update(DecodedUpdate),
    /// The peer's awareness update has been applied to the [`Awareness`]; relay `frame`
    /// (the validated incoming frame) to the other peers.
    Awareness { frame: Vec<u8> },
    /// A read-only peer tried to change the document; nothing was applied. Send `reply`
    /// (an auth permission-denied message) to that peer.
    Denied { reply: Vec<u8> },
    /// The remote side refused our writes (client side of [`Inbound::Denied`]).
    PermissionDenied(String),
    /// Nothing to do (e.g. a sync step 2 that brings nothing new).
    Nothing,
}

/// Per-connection protocol state, for either end (server room member or client).
#[derive(Debug)]
pub struct Connection {
    access: Access,
    sent_step1: bool,
    synced: bool,
    /// Awareness client ids this peer has announced, removed when it disconnects.
    awareness_ids: BTreeSet<u64>,
}

impl Connection {
    /// `access` is what the *remote peer* may do to our document.
    pub fn new(access: Access) -> Self {
        Connection {
            access,
            sent_step1: false,
            synced: false,
            awareness_ids: BTreeSet::new(),
        }
    }

    pub fn access(&self) -> Access {
        self.access
    }

    /// Changes what the peer may do from now on (a role changed while connected).
    pub fn set_access(&mut self, access: Access) {
        self.access = access;
    }

    /// True once the peer has answered our sync step 1 with a step 2.
    pub fn is_synced(&self) -> bool {
        self.synced
    }

    /// Frames to send when the connection opens: our sync step 1 and, if any, the known
    /// awareness states (what y-websocket's server and client both send first).
    pub fn start(&mut self, awareness: &Awareness) -> Vec<Vec<u8>> {
        self.sent_step1 = true;
        let sv = awareness.doc().transact().state_vector();
        let mut out = vec![encode_sync_step1(&sv)];
        if let Ok(update) = awareness.update()
            && !update.clients.is_empty()
        {
            out.push(encode_awareness(&update));
        }
        out
    }

    /// Handles one incoming frame. Never applies a document update itself (see
    /// [`Inbound::Update`]); awareness updates are applied to `awareness` directly because
    /// they are ephemeral and need no persistence.
    pub fn handle_frame(
        &mut self,
        awareness: &mut Awareness,
        frame: &[u8],
    ) -> Result<Inbound, ProtocolError> {
        match decode_frame(frame)? {
            Frame::Awareness(update) => {
                let mut ids = self.awareness_ids.clone();
                for (client, entry) in &update.clients {
                    if entry.json.as_ref() == "null" {
                        ids.remove(&client.get());
                    } else {
                        ids.insert(client.get());
                    }
                }
                if ids.len() > MAX_AWARENESS_IDS_PER_PEER {
                    return Err(ProtocolError::BadAwareness(format!(
                        "more than {MAX_AWARENESS_IDS_PER_PEER} awareness clients on one connection"
                    )));
                }
                self.awareness_ids = ids;
                awareness
                    .apply_update(update)
                    .map_err(|e| ProtocolError::BadAwareness(e.to_string()))?;
                Ok(Inbound::Awareness {
                    frame: frame.to_vec(),
                })
            }
            Frame::QueryAwareness => match awareness.update() {
                Ok(update) => Ok(Inbound::Reply(vec![encode_awareness(&update)])),
                Err(_) => Ok(Inbound::Nothing),
            },
            other => self.handle_doc_frame(awareness.doc(), other, false),
        }
    }

    /// [`Connection::handle_frame`] for a server room: awareness goes through the room's
    /// ownership and size rules as `owner` (this connection). The relayed awareness frame
    /// holds only what was applied, so a spoofed or oversized entry never reaches anyone.
    pub fn handle_room_frame(
        &mut self,
        room: &mut RoomAwareness,
        owner: Owner,
        frame: &[u8],
    ) -> Result<Inbound, ProtocolError> {
        match decode_frame(frame)? {
            Frame::Awareness(update) => Ok(match room.apply_from(owner, update)? {
                Some(applied) => Inbound::Awareness {
                    frame: encode_awareness(&applied),
                },
                None => Inbound::Nothing,
            }),
            Frame::QueryAwareness => Ok(match room.awareness().update() {
                Ok(update) => Inbound::Reply(vec![encode_awareness(&update)]),
                Err(_) => Inbound::Nothing,
            }),
            other => self.handle_doc_frame(room.doc(), other, true),
        }
    }

    /// Sync and auth frames (everything but awareness). `server`: the document is a
    /// room's, which refuses updates that would leave a gap in a client's clocks.
    fn handle_doc_frame(
        &mut self,
        doc: &Doc,
        frame: Frame,
        server: bool,
    ) -> Result<Inbound, ProtocolError> {
        Ok(match frame {
            Frame::SyncStep1(sv) => {
                let txn = doc.transact();
                let mut reply = vec![encode_sync_step2(&txn.encode_state_as_update_v1(&sv))];
                // A peer that speaks first still needs our state vector to send us its state.
                if !self.sent_step1 {
                    self.sent_step1 = true;
                    reply.push(encode_sync_step1(&txn.state_vector()));
                }
                Inbound::Reply(reply)
            }
            Frame::SyncStep2(update) => {
                self.synced = true;
                // A peer's step 2 usually carries nothing new but its whole delete set; not
                // worth persisting. Checked once per connection, not on the update hot path.
                if update.is_noop_for(doc) {
                    return Ok(Inbound::Nothing);
                }
                if server {
                    update.continues(doc)?;
                }
                self.gate_update(doc, update)
            }
            Frame::Update(update) => {
                if server && let Err(gap) = update.continues(doc) {
                    // Before its sync step 2 a peer may send a fresh edit on top of
                    // offline ones it has not sent yet; that step 2 will carry both.
                    // After it, a hole means the peer is confused: it resyncs.
                    return if self.synced {
                        Err(gap)
                    } else {
                        Ok(Inbound::Nothing)
                    };
                }
                self.gate_update(doc, update)
            }
            Frame::PermissionDenied(reason) => Inbound::PermissionDenied(reason),
            // Handled by the callers.
            Frame::Awareness(_) | Frame::QueryAwareness => Inbound::Nothing,
        })
    }

    fn gate_update(&self, doc: &Doc, update: DecodedUpdate) -> Inbound {
        match self.access {
            Access::ReadWrite => Inbound::Update(update),
            Access::ReadOnly if update.is_noop_for(doc) => Inbound::Nothing,
            Access::ReadOnly => Inbound::Denied {
                reply: encode_permission_denied(READ_ONLY_REASON),
            },
        }
    }

    /// Call when the connection ends: clears the awareness states this peer announced and
    /// returns the frame to broadcast to the remaining peers (if there was anything to clear).
    pub fn close(&mut self, awareness: &mut Awareness) -> Option<Vec<u8>> {
        let ids: Vec<ClientID> = std::mem::take(&mut self.awareness_ids)
            .into_iter()
            .map(ClientID::new)
            .collect();
        if ids.is_empty() {
            return None;
        }
        for id in &ids {
            awareness.remove_state(*id);
        }
        awareness
            .update_with_clients(ids)
            .ok()
            .map(|u| encode_awareness(&u))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use yrs::{GetString, Map, Text, WriteTxn};

    #[test]
    fn an_update_declaring_more_clients_than_it_has_bytes_is_refused_before_yrs_reads_it() {
        // 2^29 clients, then nothing: yrs would reserve a table for all of them first.
        let bomb = vec![0x80, 0x80, 0x80, 0x80, 0x02, 0, 0];
        match DecodedUpdate::decode(bomb) {
            Err(ProtocolError::BadUpdate(m)) => {
                assert!(m.contains("declares 536870912 clients"), "{m}")
            }
            Err(other) => panic!("refused for another reason: {other}"),
            Ok(_) => panic!("accepted"),
        }
        // A real update's count fits its bytes.
        let d = Doc::with_client_id(9);
        {
            let mut txn = d.transact_mut();
            let m = txn.get_or_insert_map("m");
            m.insert(&mut txn, "k", 1.0);
        }
        let real = d
            .transact()
            .encode_state_as_update_v1(&StateVector::default());
        assert!(check_declared_clients(&real).is_ok());
        assert!(DecodedUpdate::decode(real).is_ok());
    }

    fn doc_with_text(client: u64, text: &str) -> Doc {
        let doc = Doc::with_client_id(client);
        {
            let mut txn = doc.transact_mut();
            let t = txn.get_or_insert_text("notes");
            t.push(&mut txn, text);
        }
        doc
    }

    fn text_of(doc: &Doc) -> String {
        let mut txn = doc.transact_mut();
        let t = txn.get_or_insert_text("notes");
        t.get_string(&txn)
    }

    fn full_update(doc: &Doc) -> Vec<u8> {
        doc.transact()
            .encode_state_as_update_v1(&StateVector::default())
    }

    /// Drives the reply frames of one side into the other until nothing is left.
    fn pump(
        from: &mut Connection,
        from_aw: &mut Awareness,
        to: &mut Connection,
        to_aw: &mut Awareness,
        frames: Vec<Vec<u8>>,
    ) {
        let mut queue = vec![(true, frames)];
        while let Some((to_is_target, frames)) = queue.pop() {
            for f in frames {
                let (conn, aw) = if to_is_target {
                    (&mut *to, &mut *to_aw)
                } else {
                    (&mut *from, &mut *from_aw)
                };
                match conn.handle_frame(aw, &f).unwrap() {
                    Inbound::Reply(r) => queue.push((!to_is_target, r)),
                    Inbound::Update(u) => u.apply(aw.doc()).unwrap(),
                    _ => {}
                }
            }
        }
    }

    #[test]
    fn frames_round_trip() {
        let doc = doc_with_text(1, "hello");
        let sv = doc.transact().state_vector();
        match decode_frame(&encode_sync_step1(&sv)).unwrap() {
            Frame::SyncStep1(got) => assert_eq!(got, sv),
            other => panic!("{other:?}"),
        }
        let update = full_update(&doc);
        match decode_frame(&encode_sync_step2(&update)).unwrap() {
            Frame::SyncStep2(u) => assert_eq!(u.bytes(), &update[..]),
            other => panic!("{other:?}"),
        }
        match decode_frame(&encode_update(&update)).unwrap() {
            Frame::Update(u) => assert_eq!(u.bytes(), &update[..]),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            decode_frame(&encode_query_awareness()).unwrap(),
            Frame::QueryAwareness
        ));
        match decode_frame(&encode_permission_denied("nope")).unwrap() {
            Frame::PermissionDenied(r) => assert_eq!(r, "nope"),
            other => panic!("{other:?}"),
        }
        let mut aw = Awareness::new(doc);
        aw.set_local_state(serde_json::json!({"user": "ada"}))
            .unwrap();
        let au = aw.update().unwrap();
        match decode_frame(&encode_awareness(&au)).unwrap() {
            Frame::Awareness(got) => assert_eq!(got, au),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn wire_bytes_match_y_websocket() {
        // Fixed bytes as lib0/y-protocols produce them.
        assert_eq!(encode_query_awareness(), vec![3]);
        assert_eq!(encode_update(&[0, 0]), vec![0, 2, 2, 0, 0]);
        assert_eq!(encode_permission_denied("x"), vec![2, 0, 1, b'x']);
        assert_eq!(encode_sync_step1(&StateVector::default()), vec![0, 0, 1, 0]);
        // Must agree with yrs' own encoder.
        let m = yrs::sync::Message::Sync(yrs::sync::SyncMessage::Update(vec![0, 0]));
        assert_eq!(m.encode_v1(), encode_update(&[0, 0]));
    }

    /// Found by `cargo fuzz` (target `sync`): an update that decodes, but whose pending
    /// part yrs cannot re-encode; once applied, encoding the document's state (the next
    /// newcomer's sync step 1) panicked inside yrs.
    #[test]
    fn an_update_yrs_could_not_re_encode_is_refused_before_it_is_applied() {
        let raw = [
            0x01, 0x03, 0x07, 0x00, 0x28, 0x01, 0x04, 0x6d, 0x65, 0x74, 0x61, 0x06, 0x71, 0x00,
            0x31, 0x00, 0x00, 0x00, 0x00, 0x00, 0xfc, 0x74, 0x32, 0x61, 0x00, 0x00, 0x00, 0x00,
            0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        ];
        assert!(matches!(
            DecodedUpdate::decode(raw.to_vec()),
            Err(ProtocolError::BadUpdate(_))
        ));
        // Through a connection: refused as a bad update, and the document still encodes.
        let mut awareness = Awareness::new(Doc::with_client_id(1));
        let mut peer = Connection::new(Access::ReadWrite);
        let _ = peer.start(&awareness);
        assert!(
            peer.handle_frame(&mut awareness, &encode_update(&raw))
                .is_err()
        );
        let step1 = encode_sync_step1(&StateVector::default());
        assert!(matches!(
            peer.handle_frame(&mut awareness, &step1),
            Ok(Inbound::Reply(_))
        ));
    }

    /// Found by `cargo fuzz` (target `sync`): an update with legacy JSON content, which
    /// yrs 0.28.1 decodes with one string more than declared. Applied, the document
    /// encoded its state into bytes yrs cannot read, and the next sync step 1 aborted
    /// the process (yrs unwraps that read when part of an update is pending). Refused
    /// before it is applied; the room still answers.
    #[test]
    fn an_update_whose_content_does_not_round_trip_is_refused() {
        let hex = concat!(
            "011007002801042e65746106717562697473017d022801046d65746106636c62693f33017f020101",
            "0101010101010190010101010101010101010101010101010101010101010101010101010101fffe",
            "fefa010101010101010101010100fffefe0101010101ff6c01010101010101010101010101010101",
            "01010101010101010101010101010125010101010101010101010101010101010101010101000101",
            "0004000001f8000000ffffff01040400622300040701e2050002de0700cbfd81ffdefefcfb000001",
            "00090100000000002700022301030700010026000221",
        );
        let raw: Vec<u8> = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
            .collect();
        let mut room = RoomAwareness::new(Doc::with_client_id(1), AwarenessLimits::default());
        let mut peer = Connection::new(Access::ReadWrite);
        let _ = peer.start(room.awareness());
        let owner = Owner::Peer(7);
        assert!(matches!(
            DecodedUpdate::decode(raw.clone()),
            Err(ProtocolError::BadUpdate(_))
        ));
        assert!(
            peer.handle_room_frame(&mut room, owner, &encode_update(&raw))
                .is_err()
        );
        let step1 = encode_sync_step1(&StateVector::default());
        let Ok(Inbound::Reply(frames)) = peer.handle_room_frame(&mut room, owner, &step1) else {
            panic!("sync step 1 is answered");
        };
        let Ok(Frame::SyncStep2(state)) = decode_frame(&frames[0]) else {
            panic!("first reply is a sync step 2");
        };
        state.apply(&Doc::with_client_id(2)).unwrap();
    }

    /// Honest updates pass the round-trip check whatever order yrs's hash maps put
    /// things in (a new `RandomState` per decode): several clients, a deletion of other
    /// clients' text, and map values (`Any::Map`). Found when the soak's editors, which
    /// write map values, were all refused after the check first compared bytes in order.
    #[test]
    fn honest_updates_with_many_clients_pass_the_round_trip_check() {
        let docs: Vec<Doc> = (10..18).map(Doc::with_client_id).collect();
        let texts: Vec<_> = docs.iter().map(|d| d.get_or_insert_text("t")).collect();
        let mut updates = Vec::new();
        for (i, (d, t)) in docs.iter().zip(&texts).enumerate() {
            let mut txn = d.transact_mut();
            t.insert(&mut txn, 0, &format!("edit {i} ü€ "));
            updates.push(txn.encode_update_v1());
        }
        let merged = yrs::merge_updates_v1(updates).unwrap();
        let all = Doc::with_client_id(99);
        DecodedUpdate::decode(merged.clone())
            .unwrap()
            .apply(&all)
            .unwrap();
        // Delete across every client's text, then encode the whole state.
        let t = all.get_or_insert_text("t");
        let deletion = {
            let mut txn = all.transact_mut();
            let len = t.len(&txn);
            t.remove_range(&mut txn, 1, len - 2);
            txn.encode_update_v1()
        };
        let state = all
            .transact()
            .encode_state_as_update_v1(&StateVector::default());
        // A map value (`Any::Map`, a hash map): what the load generator's editors write.
        let with_map = {
            let d = Doc::with_client_id(7);
            let m = d.get_or_insert_map("bench");
            let mut txn = d.transact_mut();
            let entry: std::collections::HashMap<String, yrs::Any> = (0..8)
                .map(|k| (format!("k{k}"), yrs::Any::from(k as f64 + 0.5)))
                .collect();
            m.insert(&mut txn, "0", yrs::Any::Map(Arc::new(entry)));
            txn.encode_update_v1()
        };
        for _ in 0..50 {
            for u in [&merged, &deletion, &state, &with_map] {
                assert!(DecodedUpdate::decode(u.clone()).is_ok());
            }
        }
    }

    /// An update that arrives before the one it builds on (another process's, relayed
    /// out of order) is kept pending, carried in state encodings, and integrated when its
    /// predecessor arrives: dropping unreadable remainders must not drop honest ones.
    #[test]
    fn an_honest_pending_update_is_kept_until_its_predecessor_arrives() {
        let author = Doc::with_client_id(5);
        let text = author.get_or_insert_text("t");
        let first = {
            let mut txn = author.transact_mut();
            text.insert(&mut txn, 0, "ab");
            txn.encode_update_v1()
        };
        let second = {
            let mut txn = author.transact_mut();
            text.insert(&mut txn, 2, "cd");
            txn.encode_update_v1()
        };
        let room = Doc::with_client_id(1);
        DecodedUpdate::decode(second).unwrap().apply(&room).unwrap();
        assert!(room.transact().has_missing_updates());
        // A newcomer's sync carries the pending part, as yrs does.
        let state = room
            .transact()
            .encode_state_as_update_v1(&StateVector::default());
        let newcomer = Doc::with_client_id(2);
        DecodedUpdate::decode(state)
            .unwrap()
            .apply(&newcomer)
            .unwrap();
        DecodedUpdate::decode(first.clone())
            .unwrap()
            .apply(&newcomer)
            .unwrap();
        assert_eq!(text_of_named(&newcomer, "t"), "abcd");
        DecodedUpdate::decode(first).unwrap().apply(&room).unwrap();
        assert!(!room.transact().has_missing_updates());
        assert_eq!(text_of_named(&room, "t"), "abcd");
    }

    fn text_of_named(doc: &Doc, name: &str) -> String {
        let t = doc.get_or_insert_text(name);
        t.get_string(&doc.transact())
    }

    /// Found by `cargo fuzz` (target `doc_read`): block clocks near `u32::MAX`. yrs adds
    /// them up while decoding; with overflow checks off (release) the clock wrapped and
    /// the update later panicked deep inside `apply`. The workspace turns overflow checks
    /// on for yrs in release too (Cargo.toml), so the decoder panics at once and `decode`
    /// makes that an error, as it does here (tests always build with the checks on).
    #[test]
    fn an_update_with_wrapping_clocks_is_refused() {
        let raw = [
            0x02, 0x02, 0x02, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0xff, 0xff,
            0xff, 0xf9, 0x00, 0x67, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02,
            0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02,
            0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02,
            0x02, 0x02, 0x30, 0x01, 0x00, 0xa5, 0x00, 0x73, 0x01, 0x08, 0x03, 0xd7, 0x01, 0xf2,
            0x03, 0xd7, 0xfe, 0xfb, 0x24, 0x92, 0x9a, 0xc2, 0x61, 0x00, 0x00, 0x03, 0x73, 0x25,
            0x3d, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xec, 0xff, 0xff, 0x61, 0x06, 0x71,
            0x75, 0x74, 0x01, 0x73, 0x3d, 0x01, 0x01, 0x04,
        ];
        assert!(matches!(
            DecodedUpdate::decode(raw.to_vec()),
            Err(ProtocolError::BadUpdate(_))
        ));
    }

    /// A room refuses a hole in a client's clocks after the peer's sync step 2, and
    /// ignores one before it (the step 2 brings everything the hole skipped).
    #[test]
    fn a_room_refuses_an_update_that_skips_clocks() {
        // Client 9 writes three edits; the server gets only the third.
        let author = Doc::with_client_id(9);
        let mut updates = Vec::new();
        for i in 0..3 {
            let mut txn = author.transact_mut();
            let t = txn.get_or_insert_text("notes");
            t.push(&mut txn, &format!("edit {i};"));
            updates.push(txn.encode_update_v1());
        }
        let third = encode_update(&updates[2]);
        let step2 = encode_sync_step2(
            &author
                .transact()
                .encode_state_as_update_v1(&StateVector::default()),
        );

        let mut room = RoomAwareness::new(Doc::with_client_id(1), AwarenessLimits::default());
        let mut peer = Connection::new(Access::ReadWrite);
        let _ = peer.start(room.awareness());
        let owner = Owner::Peer(1);
        assert!(matches!(
            peer.handle_room_frame(&mut room, owner, &third),
            Ok(Inbound::Nothing)
        ));
        let Ok(Inbound::Update(all)) = peer.handle_room_frame(&mut room, owner, &step2) else {
            panic!("the step 2 carries everything");
        };
        assert!(all.apply(room.doc()).is_ok());
        // Synced now: an edit whose predecessor never arrived is a hole, an error.
        {
            let mut unsent = author.transact_mut();
            unsent
                .get_or_insert_text("notes")
                .push(&mut unsent, "four;");
        }
        let mut later = author.transact_mut();
        later.get_or_insert_text("notes").push(&mut later, "five;");
        let sixth = later.encode_update_v1();
        drop(later);
        assert!(matches!(
            peer.handle_room_frame(&mut room, owner, &encode_update(&sixth)),
            Err(ProtocolError::ClockGap { client: 9, .. })
        ));
        // A client-side connection does not check (the server orders what it sends).
        let mut client = Connection::new(Access::ReadWrite);
        let mut aw = Awareness::new(Doc::with_client_id(2));
        assert!(matches!(
            client.handle_frame(&mut aw, &third),
            Ok(Inbound::Update(_))
        ));
    }

    #[test]
    fn malformed_frames_are_errors_not_panics() {
        use ProtocolError::*;
        assert_eq!(decode_frame(&[]).unwrap_err(), EmptyFrame);
        // Varuint whose continuation bit never ends.
        assert_eq!(
            decode_frame(&[0x80]).unwrap_err(),
            Truncated("message type")
        );
        assert_eq!(
            decode_frame(&[0xff; 12]).unwrap_err(),
            BadVarint("message type")
        );
        assert_eq!(decode_frame(&[0]).unwrap_err(), Truncated("sync type"));
        assert_eq!(decode_frame(&[0, 7, 0]).unwrap_err(), UnknownSyncType(7));
        // Declared length 10, 2 bytes present.
        assert_eq!(
            decode_frame(&[0, 2, 10, 0, 0]).unwrap_err(),
            Truncated("sync update")
        );
        assert_eq!(
            decode_frame(&[0, 2, 2, 0, 0, 9]).unwrap_err(),
            TrailingBytes(1)
        );
        assert!(matches!(
            decode_frame(&[0, 2, 3, 5, 1, 2]).unwrap_err(),
            BadUpdate(_)
        ));
        assert!(matches!(
            decode_frame(&[0, 0, 2, 1, 5]).unwrap_err(),
            BadStateVector(_)
        ));
        let huge_client = {
            let mut sv = Vec::new();
            sv.write_var(1u64);
            sv.write_var(u64::MAX >> 1);
            sv.write_var(3u32);
            frame_with(MSG_SYNC, Some(SYNC_STEP1), &sv)
        };
        assert!(matches!(
            decode_frame(&huge_client).unwrap_err(),
            BadStateVector(_)
        ));
        assert_eq!(decode_frame(&[9]).unwrap_err(), UnknownMessageType(9));
        assert!(UnknownMessageType(9).is_unknown_message());
        assert_eq!(decode_frame(&[2, 1]).unwrap_err(), UnknownAuthType(1));
        assert_eq!(
            decode_frame(&[2, 0, 5, b'a']).unwrap_err(),
            Truncated("auth reason")
        );
        assert_eq!(decode_frame(&[3, 0]).unwrap_err(), TrailingBytes(1));
        assert!(matches!(
            decode_frame(&[2, 0, 1, 0xff]).unwrap_err(),
            Malformed("auth reason", _)
        ));
    }

    #[test]
    fn malformed_awareness_is_rejected() {
        let entry = |client: u64, json: &str| {
            let mut b = Vec::new();
            b.write_var(1u64);
            b.write_var(client);
            b.write_var(1u32);
            b.write_string(json);
            frame_with(MSG_AWARENESS, None, &b)
        };
        assert!(decode_frame(&entry(5, r#"{"a":1}"#)).is_ok());
        assert!(matches!(
            decode_frame(&entry(5, "{not json")).unwrap_err(),
            ProtocolError::BadAwareness(_)
        ));
        assert!(matches!(
            decode_frame(&entry(1 << 60, "{}")).unwrap_err(),
            ProtocolError::BadAwareness(_)
        ));
        assert!(matches!(
            decode_frame(&[1, 2, 1, 5]).unwrap_err(),
            ProtocolError::BadAwareness(_)
        ));
    }

    #[test]
    fn update_with_oversized_client_id_is_an_error_not_a_panic() {
        // One struct from client 1: [clients=1][structs=1][client=1][clock=0]...
        let update = full_update(&doc_with_text(1, "x"));
        assert_eq!(&update[..4], &[1, 1, 1, 0]);
        let mut evil = vec![1, 1];
        evil.write_var(1u64 << 60);
        evil.extend_from_slice(&update[3..]);
        // yrs debug-asserts on such ids; either way the caller gets no panic, and in debug
        // builds (tests) a clear error.
        let result = decode_frame(&encode_update(&evil));
        if cfg!(debug_assertions) {
            assert!(
                matches!(result, Err(ProtocolError::BadUpdate(_))),
                "{result:?}"
            );
        }
    }

    #[test]
    fn random_garbage_never_panics() {
        // Cheap deterministic fuzz: xorshift bytes, plus mutations of a valid update frame.
        let valid = encode_update(&full_update(&doc_with_text(7, "some text for fuzzing")));
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for i in 0..3000 {
            let frame: Vec<u8> = if i % 2 == 0 {
                let len = (next() % 40) as usize;
                (0..len).map(|_| next() as u8).collect()
            } else {
                let mut f = valid.clone();
                let pos = (next() as usize) % f.len();
                f[pos] = next() as u8;
                f
            };
            let doc = Doc::with_client_id(99);
            let mut aw = Awareness::new(doc);
            let mut conn = Connection::new(Access::ReadWrite);
            if let Ok(Inbound::Update(u)) = conn.handle_frame(&mut aw, &frame) {
                let _ = u.apply(aw.doc());
            }
        }
    }

    #[test]
    fn step1_is_answered_with_step2_and_our_step1() {
        let server_doc = doc_with_text(1, "server text");
        let mut server_aw = Awareness::new(server_doc);
        let mut conn = Connection::new(Access::ReadWrite);
        let client = Doc::with_client_id(2);
        let step1 = encode_sync_step1(&client.transact().state_vector());
        let Inbound::Reply(reply) = conn.handle_frame(&mut server_aw, &step1).unwrap() else {
            panic!("expected reply")
        };
        assert_eq!(reply.len(), 2);
        let Frame::SyncStep2(u) = decode_frame(&reply[0]).unwrap() else {
            panic!("expected step2")
        };
        u.apply(&client).unwrap();
        assert_eq!(text_of(&client), "server text");
        assert!(matches!(
            decode_frame(&reply[1]).unwrap(),
            Frame::SyncStep1(_)
        ));
        // Once our step 1 has gone out, another step 1 only gets a step 2.
        let Inbound::Reply(reply) = conn.handle_frame(&mut server_aw, &step1).unwrap() else {
            panic!("expected reply")
        };
        assert_eq!(reply.len(), 1);
    }

    #[test]
    fn start_sends_step1_and_known_awareness() {
        let mut aw = Awareness::new(Doc::with_client_id(3));
        let mut conn = Connection::new(Access::ReadWrite);
        assert_eq!(conn.start(&aw).len(), 1);
        aw.set_local_state(serde_json::json!({"name": "x"}))
            .unwrap();
        let frames = Connection::new(Access::ReadWrite).start(&aw);
        assert_eq!(frames.len(), 2);
        assert!(matches!(
            decode_frame(&frames[1]).unwrap(),
            Frame::Awareness(_)
        ));
    }

    #[test]
    fn updates_are_handed_back_unapplied() {
        let server = Doc::with_client_id(1);
        let mut aw = Awareness::new(server.clone());
        let mut conn = Connection::new(Access::ReadWrite);
        let edit = full_update(&doc_with_text(2, "abc"));
        let Inbound::Update(u) = conn.handle_frame(&mut aw, &encode_update(&edit)).unwrap() else {
            panic!("expected update")
        };
        // Not applied yet: the caller persists first.
        assert_eq!(text_of(&server), "");
        assert_eq!(u.bytes(), &edit[..]);
        u.apply(&server).unwrap();
        assert_eq!(text_of(&server), "abc");
        assert!(!conn.is_synced());
        // A step 2 with nothing new (here: the same edit again) is not handed back.
        assert!(matches!(
            conn.handle_frame(&mut aw, &encode_sync_step2(&edit))
                .unwrap(),
            Inbound::Nothing
        ));
        assert!(conn.is_synced());
        let more = full_update(&doc_with_text(3, "def"));
        let Inbound::Update(u) = conn
            .handle_frame(&mut aw, &encode_sync_step2(&more))
            .unwrap()
        else {
            panic!("expected update")
        };
        u.apply_with_origin(&server, "peer-1").unwrap();
        assert_eq!(text_of(&server).len(), 6);
    }

    #[test]
    fn full_sync_between_two_connections() {
        let mut a_aw = Awareness::new(doc_with_text(1, "from a "));
        let mut b_aw = Awareness::new(doc_with_text(2, "from b "));
        let mut a = Connection::new(Access::ReadWrite);
        let mut b = Connection::new(Access::ReadWrite);
        let a_start = a.start(&a_aw);
        let b_start = b.start(&b_aw);
        pump(&mut a, &mut a_aw, &mut b, &mut b_aw, a_start);
        pump(&mut b, &mut b_aw, &mut a, &mut a_aw, b_start);
        assert!(a.is_synced() && b.is_synced());
        assert_eq!(text_of(a_aw.doc()), text_of(b_aw.doc()));
        assert_eq!(
            a_aw.doc().transact().state_vector(),
            b_aw.doc().transact().state_vector()
        );
    }

    #[test]
    fn read_only_peer_is_refused_but_keeps_awareness() {
        let server = doc_with_text(1, "base");
        // Create a deletion so that the server has a non-empty delete set.
        {
            let mut txn = server.transact_mut();
            let t = txn.get_or_insert_text("notes");
            t.remove_range(&mut txn, 0, 2);
        }
        let mut aw = Awareness::new(server.clone());
        let mut conn = Connection::new(Access::ReadOnly);

        // The viewer syncs: its state is the server's, so its step 2 carries the full delete
        // set but nothing new; that must pass silently.
        let viewer = Doc::with_client_id(5);
        viewer
            .transact_mut()
            .apply_update(Update::decode_v1(&full_update(&server)).unwrap())
            .unwrap();
        let sv = server.transact().state_vector();
        let viewer_step2 = viewer.transact().encode_state_as_update_v1(&sv);
        assert!(
            matches!(
                conn.handle_frame(&mut aw, &encode_sync_step2(&viewer_step2))
                    .unwrap(),
                Inbound::Nothing
            ),
            "empty step 2 of a viewer must not be refused"
        );

        // Its step 1 is still answered.
        let step1 = encode_sync_step1(&StateVector::default());
        assert!(matches!(
            conn.handle_frame(&mut aw, &step1).unwrap(),
            Inbound::Reply(_)
        ));

        // A real edit is refused with permission denied and not applied.
        let before = full_update(&server);
        let edit = {
            let mut txn = viewer.transact_mut();
            let m = txn.get_or_insert_map("meta");
            m.insert(&mut txn, "name", "hacked");
            txn.encode_update_v1()
        };
        for frame in [encode_update(&edit), encode_sync_step2(&edit)] {
            match conn.handle_frame(&mut aw, &frame).unwrap() {
                Inbound::Denied { reply } => match decode_frame(&reply).unwrap() {
                    Frame::PermissionDenied(r) => assert_eq!(r, READ_ONLY_REASON),
                    other => panic!("{other:?}"),
                },
                other => panic!("expected denial, got {other:?}"),
            }
        }
        // A deletion of known content is a write too.
        let deletion = {
            let mut txn = viewer.transact_mut();
            let t = txn.get_or_insert_text("notes");
            t.remove_range(&mut txn, 0, 1);
            txn.encode_update_v1()
        };
        assert!(matches!(
            conn.handle_frame(&mut aw, &encode_update(&deletion))
                .unwrap(),
            Inbound::Denied { .. }
        ));
        assert_eq!(full_update(&server), before);

        // Awareness from a viewer is applied and relayed.
        let mut viewer_aw = Awareness::new(viewer);
        viewer_aw
            .set_local_state(serde_json::json!({"cursor": 3}))
            .unwrap();
        let frame = encode_awareness(&viewer_aw.update().unwrap());
        match conn.handle_frame(&mut aw, &frame).unwrap() {
            Inbound::Awareness { frame: relay } => assert_eq!(relay, frame),
            other => panic!("{other:?}"),
        }
        assert!(aw.state::<serde_json::Value>(ClientID::new(5)).is_some());

        // Closing clears the viewer's awareness and yields the removal to broadcast.
        let removal = conn.close(&mut aw).expect("removal frame");
        assert!(aw.state::<serde_json::Value>(ClientID::new(5)).is_none());
        let Frame::Awareness(u) = decode_frame(&removal).unwrap() else {
            panic!("expected awareness")
        };
        assert_eq!(u.clients[&ClientID::new(5)].json.as_ref(), "null");
        assert!(conn.close(&mut aw).is_none());
    }

    #[test]
    fn awareness_clients_per_connection_are_capped() {
        let mut aw = Awareness::new(Doc::with_client_id(1));
        let mut conn = Connection::new(Access::ReadWrite);
        let frame = |ids: std::ops::Range<u64>| {
            let mut b = Vec::new();
            b.write_var(ids.end - ids.start);
            for id in ids {
                b.write_var(id + 100);
                b.write_var(1u32);
                b.write_string("{}");
            }
            frame_with(MSG_AWARENESS, None, &b)
        };
        let cap = MAX_AWARENESS_IDS_PER_PEER as u64;
        assert!(conn.handle_frame(&mut aw, &frame(0..cap)).is_ok());
        assert!(matches!(
            conn.handle_frame(&mut aw, &frame(cap..cap + 1)),
            Err(ProtocolError::BadAwareness(_))
        ));
        // Nothing of the refused update was applied.
        assert!(
            aw.state::<serde_json::Value>(ClientID::new(cap + 100))
                .is_none()
        );
    }

    #[test]
    fn query_awareness_gets_the_states() {
        let mut aw = Awareness::new(Doc::with_client_id(8));
        aw.set_local_state(serde_json::json!({"n": 1})).unwrap();
        let mut conn = Connection::new(Access::ReadOnly);
        let Inbound::Reply(r) = conn
            .handle_frame(&mut aw, &encode_query_awareness())
            .unwrap()
        else {
            panic!("expected reply")
        };
        let Frame::Awareness(u) = decode_frame(&r[0]).unwrap() else {
            panic!("expected awareness")
        };
        assert!(u.clients.contains_key(&ClientID::new(8)));
    }

    #[test]
    fn permission_denied_is_surfaced_to_clients() {
        let mut aw = Awareness::new(Doc::new());
        let mut conn = Connection::new(Access::ReadWrite);
        match conn
            .handle_frame(&mut aw, &encode_permission_denied("viewer"))
            .unwrap()
        {
            Inbound::PermissionDenied(r) => assert_eq!(r, "viewer"),
            other => panic!("{other:?}"),
        }
    }

    fn aw_frame(entries: &[(u64, u32, &str)]) -> Vec<u8> {
        let mut b = Vec::new();
        b.write_var(entries.len() as u64);
        for (id, clock, json) in entries {
            b.write_var(*id);
            b.write_var(*clock);
            b.write_string(json);
        }
        frame_with(MSG_AWARENESS, None, &b)
    }

    fn relayed_ids(inbound: Inbound) -> Vec<u64> {
        match inbound {
            Inbound::Awareness { frame } => {
                let Frame::Awareness(u) = decode_frame(&frame).unwrap() else {
                    panic!("expected awareness")
                };
                let mut ids: Vec<u64> = u.clients.keys().map(|c| c.get()).collect();
                ids.sort();
                ids
            }
            Inbound::Nothing => vec![],
            other => panic!("{other:?}"),
        }
    }

    fn state_of(room: &RoomAwareness, id: u64) -> Option<serde_json::Value> {
        room.awareness().state(ClientID::new(id))
    }

    #[test]
    fn awareness_ids_belong_to_the_connection_that_announced_them() {
        let mut room = RoomAwareness::new(Doc::with_client_id(1), AwarenessLimits::default());
        let (mut a, mut b) = (
            Connection::new(Access::ReadWrite),
            Connection::new(Access::ReadOnly),
        );
        let (pa, pb) = (Owner::Peer(1), Owner::Peer(2));
        let r = a
            .handle_room_frame(&mut room, pa, &aw_frame(&[(10, 1, r#"{"n":"a"}"#)]))
            .unwrap();
        assert_eq!(relayed_ids(r), vec![10]);
        // B overwrites A's id, removes it, and announces its own: only its own is applied
        // and relayed.
        let r = b
            .handle_room_frame(
                &mut room,
                pb,
                &aw_frame(&[(10, 5, r#"{"n":"evil"}"#), (20, 1, r#"{"n":"b"}"#)]),
            )
            .unwrap();
        assert_eq!(relayed_ids(r), vec![20]);
        let r = b
            .handle_room_frame(&mut room, pb, &aw_frame(&[(10, 9, "null")]))
            .unwrap();
        assert_eq!(relayed_ids(r), Vec::<u64>::new());
        assert_eq!(state_of(&room, 10), Some(serde_json::json!({"n": "a"})));
        assert_eq!(room.owner_of(10), Some(pa));
        // A may update and remove its own.
        let r = a
            .handle_room_frame(&mut room, pa, &aw_frame(&[(10, 2, r#"{"n":"a2"}"#)]))
            .unwrap();
        assert_eq!(relayed_ids(r), vec![10]);
        let r = a
            .handle_room_frame(&mut room, pa, &aw_frame(&[(10, 3, "null")]))
            .unwrap();
        assert_eq!(relayed_ids(r), vec![10]);
        assert_eq!(state_of(&room, 10), None);
        // Once removed, the id is free again.
        let r = b
            .handle_room_frame(&mut room, pb, &aw_frame(&[(10, 4, r#"{"n":"b2"}"#)]))
            .unwrap();
        assert_eq!(relayed_ids(r), vec![10]);
        // B leaves: both of its ids are removed, and the removal is what to broadcast.
        let removal = room.remove_owner(pb).expect("removal");
        let mut gone: Vec<u64> = removal.clients.keys().map(|c| c.get()).collect();
        gone.sort();
        assert_eq!(gone, vec![10, 20]);
        assert!(removal.clients.values().all(|e| e.json.as_ref() == "null"));
        assert_eq!(room.state_count(), 0);
        assert_eq!(room.state_bytes(), 0);
        assert!(room.remove_owner(pb).is_none());
        // Another process's entries never override a local owner's.
        a.handle_room_frame(&mut room, pa, &aw_frame(&[(30, 1, "{}")]))
            .unwrap();
        let Frame::Awareness(remote) =
            decode_frame(&aw_frame(&[(30, 7, "null"), (40, 1, "{}")])).unwrap()
        else {
            panic!()
        };
        let applied = room.apply_from(Owner::Remote, remote).unwrap().unwrap();
        assert_eq!(applied.clients.len(), 1);
        assert_eq!(room.owner_of(30), Some(pa));
        assert_eq!(room.owner_of(40), Some(Owner::Remote));
    }

    #[test]
    fn awareness_state_size_and_room_total_are_bounded() {
        let limits = AwarenessLimits {
            max_state_bytes: 100,
            max_ids_per_peer: 4,
            max_room_bytes: 250,
        };
        let mut room = RoomAwareness::new(Doc::with_client_id(1), limits);
        let mut c = Connection::new(Access::ReadOnly);
        let big = format!("\"{}\"", "x".repeat(120));
        let err = c
            .handle_room_frame(
                &mut room,
                Owner::Peer(1),
                &aw_frame(&[(5, 1, "{}"), (6, 1, &big)]),
            )
            .unwrap_err();
        assert!(err.is_too_large(), "{err}");
        assert_eq!(
            room.state_count(),
            0,
            "nothing of a refused frame is applied"
        );
        // 90-byte states: two fit in 250 bytes, the third does not (and is not relayed),
        // whoever sends it.
        let s90 = format!("\"{}\"", "y".repeat(88));
        for (peer, id) in [(1, 11), (2, 12), (3, 13)] {
            let r = Connection::new(Access::ReadOnly)
                .handle_room_frame(&mut room, Owner::Peer(peer), &aw_frame(&[(id, 1, &s90)]))
                .unwrap();
            assert_eq!(relayed_ids(r).len(), usize::from(id != 13), "id {id}");
        }
        assert_eq!(room.state_bytes(), 180);
        assert!(room.snapshot().unwrap().encode_v1().len() < 250);
        // Shrinking is always allowed; so is leaving.
        let r = Connection::new(Access::ReadOnly)
            .handle_room_frame(&mut room, Owner::Peer(1), &aw_frame(&[(11, 2, "{}")]))
            .unwrap();
        assert_eq!(relayed_ids(r), vec![11]);
        assert_eq!(room.state_bytes(), 92);
        // Too many ids on one connection is still refused.
        let many: Vec<(u64, u32, &str)> = (100..105).map(|i| (i, 1, "{}")).collect();
        assert!(matches!(
            c.handle_room_frame(&mut room, Owner::Peer(9), &aw_frame(&many)),
            Err(ProtocolError::BadAwareness(_))
        ));
    }

    #[test]
    fn churn_of_awareness_ids_does_not_grow_the_room() {
        let mut room = RoomAwareness::new(Doc::with_client_id(1), AwarenessLimits::default());
        let mut c = Connection::new(Access::ReadOnly);
        c.handle_room_frame(&mut room, Owner::Peer(1), &aw_frame(&[(1, 1, "{}")]))
            .unwrap();
        for i in 0..5000u64 {
            let owner = Owner::Peer(i + 10);
            c.handle_room_frame(&mut room, owner, &aw_frame(&[(i + 10, 1, "{}")]))
                .unwrap();
            room.remove_owner(owner);
        }
        assert!(room.tombstones <= MIN_TOMBSTONES_BEFORE_SWEEP);
        assert_eq!(room.awareness().iter().count(), room.tombstones + 1);
        assert_eq!(state_of(&room, 1), Some(serde_json::json!({})));
    }
}
