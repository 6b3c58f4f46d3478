//! Live circuit documents over the y-websocket protocol.
//!
//! [`DocClient::connect`] opens `{server}/{room}?{params}` (the URL a y-websocket
//! `WebsocketProvider` would open), syncs a local `yrs::Doc`, and then keeps it in sync in a
//! background task: remote updates are applied as they arrive, local edits made with
//! [`DocClient::edit`] are sent. Everything between the task and the caller is bounded:
//! outgoing frames go through a bounded channel (a slow server slows the editor down instead
//! of growing memory) and events are a bounded broadcast (a subscriber that falls behind
//! misses events, never the socket).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use qollab_shared::sync::{
    Access, Awareness, Connection, Inbound, ProtocolError, encode_awareness, encode_update,
};
use tokio::sync::{broadcast, mpsc, watch};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use yrs::{Doc, Transact, TransactionMut, Update};

/// Outgoing frames waiting for the socket.
const OUTGOING_CAPACITY: usize = 256;
/// Events kept for slow subscribers before they start missing some.
const EVENT_CAPACITY: usize = 1024;

#[derive(Debug, thiserror::Error)]
pub enum DocError {
    #[error("invalid URL: {0}")]
    Url(String),
    #[error("websocket: {0}")]
    WebSocket(#[from] tokio_tungstenite::tungstenite::Error),
    #[error("timed out waiting for {0}")]
    Timeout(&'static str),
    #[error("protocol error from the server: {0}")]
    Protocol(#[from] ProtocolError),
    #[error("permission denied: {0}")]
    PermissionDenied(String),
    #[error("connection closed: {0}")]
    Closed(String),
    #[error("awareness state is not serializable: {0}")]
    Awareness(String),
}

/// Connection progress, observable with [`DocClient::status`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    Syncing,
    Synced,
    Closed(String),
}

/// Something that happened to the document or the room.
#[derive(Debug, Clone)]
pub enum DocEvent {
    /// A remote update was applied to the local document (v1 bytes as received).
    RemoteUpdate(Arc<[u8]>),
    /// Someone's awareness state changed.
    Awareness,
    /// The server refused our writes (read-only access).
    PermissionDenied(String),
}

/// Options for [`DocClient::connect`].
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    /// Query parameters, e.g. `[("token", jwt)]` (what y-websocket calls `params`).
    pub params: Vec<(String, String)>,
    /// How long `connect` waits for the handshake and the initial sync.
    pub sync_timeout: Duration,
    /// Document to sync into; a fresh one when `None`.
    pub doc: Option<Doc>,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        ConnectOptions {
            params: Vec::new(),
            sync_timeout: Duration::from_secs(10),
            doc: None,
        }
    }
}

impl ConnectOptions {
    pub fn token(mut self, token: &str) -> Self {
        self.params.push(("token".into(), token.into()));
        self
    }
}

/// A fresh document with a client id drawn as Yjs draws them: 32 bits. yrs 0.28 draws
/// 53 bits; Yjs reads those, but servers on older yrs (y-sweet 0.9 runs yrs 0.19) decode
/// client ids as 32-bit and store such a peer's edits under a mangled id, so its replica
/// never matches the others' state vector.
pub fn new_doc() -> Doc {
    Doc::with_client_id(u64::from(rand::random::<u32>()))
}

/// `server` + `/` + `room` + `?params`, percent-encoding the room and the parameters. A
/// `server` holding `{room}` is a template instead: every `{room}` becomes the room and
/// nothing is appended (y-sweet's sockets are `/d/{room}/ws/{room}`).
pub fn room_url(server: &str, room: &str, params: &[(String, String)]) -> String {
    let mut url = if server.contains("{room}") {
        server.replace("{room}", &encode_component(room))
    } else {
        format!(
            "{}/{}",
            server.trim_end_matches('/'),
            encode_component(room)
        )
    };
    for (i, (k, v)) in params.iter().enumerate() {
        url.push(if i == 0 { '?' } else { '&' });
        url.push_str(&encode_component(k));
        url.push('=');
        url.push_str(&encode_component(v));
    }
    url
}

fn encode_component(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

struct Shared {
    awareness: Mutex<Awareness>,
    permission_denied: Mutex<Option<String>>,
}

/// A synced replica of one live document.
pub struct DocClient {
    doc: Doc,
    shared: Arc<Shared>,
    out: mpsc::Sender<WsMessage>,
    events: broadcast::Sender<DocEvent>,
    status: watch::Receiver<Status>,
    task: Option<JoinHandle<()>>,
}

impl DocClient {
    /// Connects to `server` (e.g. `ws://127.0.0.1:8080/ws/docs`), joins `room` (the doc id)
    /// and returns once the local document holds the server's state.
    pub async fn connect(server: &str, room: &str, opts: ConnectOptions) -> Result<Self, DocError> {
        let url = room_url(server, room, &opts.params);
        let (ws, _) = tokio::time::timeout(
            opts.sync_timeout,
            tokio_tungstenite::connect_async_with_config(&url, None, true),
        )
        .await
        .map_err(|_| DocError::Timeout("the websocket handshake"))??;
        let doc = opts.doc.unwrap_or_else(new_doc);
        let shared = Arc::new(Shared {
            awareness: Mutex::new(Awareness::new(doc.clone())),
            permission_denied: Mutex::new(None),
        });
        let (out_tx, out_rx) = mpsc::channel(OUTGOING_CAPACITY);
        let (events, _) = broadcast::channel(EVENT_CAPACITY);
        let (status_tx, status) = watch::channel(Status::Syncing);
        // The server may apply our updates, we apply all of its updates.
        let mut conn = Connection::new(Access::ReadWrite);
        let start = {
            let aw = lock(&shared.awareness);
            conn.start(&aw)
        };
        let task = tokio::spawn(run(
            ws,
            conn,
            start,
            shared.clone(),
            out_rx,
            events.clone(),
            status_tx,
        ));
        let mut client = DocClient {
            doc,
            shared,
            out: out_tx,
            events,
            status,
            task: Some(task),
        };
        let timeout = opts.sync_timeout;
        tokio::time::timeout(timeout, client.wait_synced())
            .await
            .map_err(|_| DocError::Timeout("the initial sync"))??;
        Ok(client)
    }

    async fn wait_synced(&mut self) -> Result<(), DocError> {
        loop {
            match &*self.status.borrow_and_update() {
                Status::Synced => return Ok(()),
                Status::Closed(reason) => return Err(DocError::Closed(reason.clone())),
                Status::Syncing => {}
            }
            if self.status.changed().await.is_err() {
                return Err(DocError::Closed("connection task ended".into()));
            }
        }
    }

    /// The local replica. Read it freely; change it with [`DocClient::edit`] so that the
    /// change is sent.
    pub fn doc(&self) -> &Doc {
        &self.doc
    }

    pub fn status(&self) -> Status {
        self.status.borrow().clone()
    }

    /// The reason the server gave when it refused one of our updates, if it did.
    pub fn permission_denied(&self) -> Option<String> {
        lock(&self.shared.permission_denied).clone()
    }

    /// Events from now on (bounded: a subscriber that lags gets `RecvError::Lagged`).
    pub fn subscribe(&self) -> broadcast::Receiver<DocEvent> {
        self.events.subscribe()
    }

    /// Runs `f` in one transaction on the local document and sends the resulting update.
    /// Waits when the outgoing queue is full.
    /// Fails without touching the document once the server has refused our writes.
    pub async fn edit<R>(&self, f: impl FnOnce(&mut TransactionMut) -> R) -> Result<R, DocError> {
        if let Some(reason) = self.permission_denied() {
            return Err(DocError::PermissionDenied(reason));
        }
        let (result, update) = {
            // Lock the awareness (it owns the doc) so that edits and remote updates never
            // interleave inside one transaction.
            let _aw = lock(&self.shared.awareness);
            let mut txn = self.doc.transact_mut();
            let result = f(&mut txn);
            let update = txn.encode_update_v1();
            (result, update)
        };
        if update.as_slice() != Update::EMPTY_V1 {
            self.send(WsMessage::Binary(encode_update(&update).into()))
                .await?;
        }
        Ok(result)
    }

    /// Publishes our awareness state (cursor, user name, …) to the room.
    pub async fn set_awareness<S: serde::Serialize>(&self, state: &S) -> Result<(), DocError> {
        let frame = {
            let mut aw = lock(&self.shared.awareness);
            aw.set_local_state(state)
                .map_err(|e| DocError::Awareness(e.to_string()))?;
            let id = aw.client_id();
            aw.update_with_clients([id])
                .map_err(|e| DocError::Awareness(e.to_string()))?
        };
        self.send(WsMessage::Binary(encode_awareness(&frame).into()))
            .await
    }

    /// Awareness states of everyone else in the room, by Yjs client id.
    pub fn peers(&self) -> HashMap<u64, serde_json::Value> {
        let aw = lock(&self.shared.awareness);
        let me = aw.client_id();
        aw.iter()
            .filter(|(id, _)| *id != me)
            .filter_map(|(id, state)| {
                let json = state.data?;
                Some((id.get(), serde_json::from_str(&json).ok()?))
            })
            .collect()
    }

    async fn send(&self, msg: WsMessage) -> Result<(), DocError> {
        self.out.send(msg).await.map_err(|_| {
            DocError::Closed(match self.status() {
                Status::Closed(r) => r,
                _ => "connection task ended".into(),
            })
        })
    }

    /// Clears our awareness state for the others, closes the websocket and waits (briefly)
    /// for the close handshake.
    pub async fn close(mut self) -> Result<(), DocError> {
        let leave = {
            let mut aw = lock(&self.shared.awareness);
            let id = aw.client_id();
            if aw.local_state_raw().is_some() {
                aw.clean_local_state();
                aw.update_with_clients([id]).ok()
            } else {
                None
            }
        };
        if let Some(update) = leave {
            let _ = self
                .out
                .send(WsMessage::Binary(encode_awareness(&update).into()))
                .await;
        }
        let _ = self.out.send(WsMessage::Close(None)).await;
        if let Some(task) = self.task.take()
            && tokio::time::timeout(Duration::from_secs(5), task)
                .await
                .is_err()
        {
            return Err(DocError::Timeout("the close handshake"));
        }
        Ok(())
    }
}

impl Drop for DocClient {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding the lock leaves consistent data (yrs transactions roll forward
    // on drop), so poisoning is not a reason to stop.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn run(
    ws: Ws,
    mut conn: Connection,
    start: Vec<Vec<u8>>,
    shared: Arc<Shared>,
    mut out_rx: mpsc::Receiver<WsMessage>,
    events: broadcast::Sender<DocEvent>,
    status: watch::Sender<Status>,
) {
    let (mut sink, mut stream) = ws.split();
    let reason = 'conn: {
        for frame in start {
            if let Err(e) = sink.send(WsMessage::Binary(frame.into())).await {
                break 'conn e.to_string();
            }
        }
        loop {
            tokio::select! {
                out = out_rx.recv() => match out {
                    Some(WsMessage::Close(frame)) => {
                        let _ = sink.send(WsMessage::Close(frame)).await;
                        // Drain until the server acknowledges the close.
                        let _ = tokio::time::timeout(Duration::from_secs(2), async {
                            while let Some(Ok(_)) = stream.next().await {}
                        })
                        .await;
                        break 'conn "closed by the client".to_string();
                    }
                    Some(msg) => {
                        if let Err(e) = sink.send(msg).await {
                            break 'conn e.to_string();
                        }
                    }
                    None => {
                        let _ = sink.send(WsMessage::Close(None)).await;
                        break 'conn "client dropped".to_string();
                    }
                },
                incoming = stream.next() => match incoming {
                    Some(Ok(WsMessage::Binary(bytes))) => {
                        let replies = handle(&mut conn, &shared, &events, &bytes);
                        if conn.is_synced() && *status.borrow() == Status::Syncing {
                            let _ = status.send(Status::Synced);
                        }
                        for frame in replies {
                            if let Err(e) = sink.send(WsMessage::Binary(frame.into())).await {
                                break 'conn e.to_string();
                            }
                        }
                    }
                    Some(Ok(WsMessage::Close(frame))) => {
                        break 'conn frame.map(|f| f.reason.to_string()).unwrap_or_else(|| "closed by the server".into());
                    }
                    // Pings are answered by tungstenite; text frames are not part of the protocol.
                    Some(Ok(_)) => {}
                    Some(Err(e)) => break 'conn e.to_string(),
                    None => break 'conn "connection lost".to_string(),
                },
            }
        }
    };
    let _ = status.send(Status::Closed(reason));
}

/// Handles one frame; returns the frames to send back. A frame the client cannot use is
/// logged and skipped: one bad message from the server should not end the session.
fn handle(
    conn: &mut Connection,
    shared: &Shared,
    events: &broadcast::Sender<DocEvent>,
    frame: &[u8],
) -> Vec<Vec<u8>> {
    let mut aw = lock(&shared.awareness);
    match conn.handle_frame(&mut aw, frame) {
        Ok(Inbound::Reply(frames)) => frames,
        Ok(Inbound::Update(update)) => {
            // Copy the bytes for subscribers only if there are any (hot path under load).
            let bytes: Option<Arc<[u8]>> =
                (events.receiver_count() > 0).then(|| update.bytes().into());
            match update.apply(aw.doc()) {
                Ok(()) => {
                    if let Some(bytes) = bytes {
                        let _ = events.send(DocEvent::RemoteUpdate(bytes));
                    }
                }
                Err(e) => tracing::warn!(error = %e, "could not apply a remote update"),
            }
            Vec::new()
        }
        Ok(Inbound::Awareness { .. }) => {
            let _ = events.send(DocEvent::Awareness);
            Vec::new()
        }
        Ok(Inbound::PermissionDenied(reason)) => {
            *lock(&shared.permission_denied) = Some(reason.clone());
            let _ = events.send(DocEvent::PermissionDenied(reason));
            Vec::new()
        }
        Ok(Inbound::Denied { .. }) | Ok(Inbound::Nothing) => Vec::new(),
        Err(e) => {
            tracing::warn!(error = %e, "skipping a malformed frame from the server");
            Vec::new()
        }
    }
}

/// Starting the reference y-websocket server (npm `y-websocket@1`) for tests, from
/// `tests/js` (running `npm ci` there first when `node_modules` is missing).
#[cfg(test)]
pub(crate) mod reference_server {
    use std::net::{TcpListener, TcpStream};
    use std::path::PathBuf;
    use std::process::{Child, Command, Stdio};
    use std::sync::Mutex;
    use std::time::{Duration, Instant};

    pub struct RefServer {
        child: Child,
        pub url: String,
    }

    impl Drop for RefServer {
        fn drop(&mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }

    pub fn js_dir() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/js")
    }

    static NPM: Mutex<()> = Mutex::new(());

    pub fn ensure_node_modules() {
        let _guard = NPM.lock().unwrap_or_else(|e| e.into_inner());
        // Test binaries run in parallel processes too: serialise `npm ci` across them.
        let lock = std::fs::File::create(std::env::temp_dir().join("qollab-tests-js-npm.lock"))
            .expect("lock file");
        lock.lock().expect("lock npm ci");
        let dir = js_dir();
        if dir.join("node_modules/y-websocket/bin/server.js").exists() {
            return;
        }
        let status = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--prefix"])
            .arg(&dir)
            .status()
            .expect("npm must be installed to run the live-document tests");
        assert!(status.success(), "npm ci in tests/js failed");
    }

    pub fn start() -> RefServer {
        ensure_node_modules();
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let child = Command::new("node")
            .arg(js_dir().join("node_modules/y-websocket/bin/server.js"))
            .env("HOST", "127.0.0.1")
            .env("PORT", port.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("node must be installed to run the live-document tests");
        let server = RefServer {
            child,
            url: format!("ws://127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + Duration::from_secs(15);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "reference server did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        server
    }
}

/// A minimal one-room y-websocket server built on `qollab_shared::sync` the way Qollab's
/// rooms use it (decode, persist, apply, relay; viewers read-only), so that the protocol core
/// is tested against unmodified Yjs clients and this client. `?token=viewer` is read-only.
#[cfg(test)]
pub(crate) mod mini_server {
    use std::sync::{Arc, Mutex};

    use futures_util::{SinkExt, StreamExt};
    use qollab_shared::sync::{Access, Awareness, Connection, Inbound, encode_update};
    use tokio::net::TcpListener;
    use tokio::sync::mpsc;
    use tokio_tungstenite::tungstenite::Message;
    use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
    use yrs::Doc;

    #[derive(Default)]
    pub struct Room {
        pub awareness: Option<Awareness>,
        /// Updates in the order they were persisted (before being applied).
        pub log: Vec<Vec<u8>>,
        peers: Vec<(u64, mpsc::Sender<Vec<u8>>)>,
        next_peer: u64,
    }

    impl Room {
        fn broadcast(&self, from: u64, frame: &[u8]) {
            for (id, tx) in &self.peers {
                if *id != from {
                    // A peer that cannot keep up loses frames rather than growing memory.
                    let _ = tx.try_send(frame.to_vec());
                }
            }
        }
    }

    pub async fn start() -> (String, Arc<Mutex<Room>>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("ws://{}", listener.local_addr().expect("addr"));
        let room = Arc::new(Mutex::new(Room {
            awareness: Some(Awareness::new(Doc::new())),
            ..Default::default()
        }));
        let shared = room.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve(stream, shared.clone()));
            }
        });
        (url, room)
    }

    async fn serve(stream: tokio::net::TcpStream, room: Arc<Mutex<Room>>) {
        let mut access = Access::ReadWrite;
        // The error type is tungstenite's handshake response; its size is not ours to pick.
        #[allow(clippy::result_large_err)]
        let callback = |req: &Request, resp: Response| {
            if req
                .uri()
                .query()
                .is_some_and(|q| q.contains("token=viewer"))
            {
                access = Access::ReadOnly;
            }
            Ok(resp)
        };
        let Ok(ws) = tokio_tungstenite::accept_hdr_async(stream, callback).await else {
            return;
        };
        let (mut sink, mut stream) = ws.split();
        let (tx, mut rx) = mpsc::channel::<Vec<u8>>(256);
        let mut conn = Connection::new(access);
        let (me, start) = {
            let mut r = room.lock().unwrap();
            r.next_peer += 1;
            let me = r.next_peer;
            r.peers.push((me, tx));
            let start = conn.start(r.awareness.as_ref().unwrap());
            (me, start)
        };
        for f in start {
            if sink.send(Message::Binary(f.into())).await.is_err() {
                return;
            }
        }
        loop {
            tokio::select! {
                out = rx.recv() => match out {
                    Some(f) => if sink.send(Message::Binary(f.into())).await.is_err() { break },
                    None => break,
                },
                msg = stream.next() => {
                    let bytes = match msg {
                        Some(Ok(Message::Binary(b))) => b,
                        Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                        Some(Ok(_)) => continue,
                    };
                    let replies = {
                        let mut r = room.lock().unwrap();
                        let mut aw = r.awareness.take().unwrap();
                        let result = conn.handle_frame(&mut aw, &bytes);
                        let replies = match result {
                            Ok(Inbound::Reply(frames)) => frames,
                            Ok(Inbound::Update(u)) => {
                                // Persist first, then apply, then relay.
                                r.log.push(u.bytes().to_vec());
                                let frame = encode_update(u.bytes());
                                u.apply(aw.doc()).unwrap();
                                r.broadcast(me, &frame);
                                vec![]
                            }
                            Ok(Inbound::Awareness { frame }) => {
                                r.broadcast(me, &frame);
                                vec![]
                            }
                            Ok(Inbound::Denied { reply }) => vec![reply],
                            Ok(_) => vec![],
                            Err(e) => panic!("well-behaved clients sent a bad frame: {e}"),
                        };
                        r.awareness = Some(aw);
                        replies
                    };
                    for f in replies {
                        if sink.send(Message::Binary(f.into())).await.is_err() {
                            break;
                        }
                    }
                }
            }
        }
        let mut r = room.lock().unwrap();
        r.peers.retain(|(id, _)| *id != me);
        let mut aw = r.awareness.take().unwrap();
        if let Some(frame) = conn.close(&mut aw) {
            r.broadcast(me, &frame);
        }
        r.awareness = Some(aw);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use qollab_shared::doc::{self, DocCircuit, DocOp};
    use std::time::Instant;
    use yrs::{ReadTxn, Text, WriteTxn};

    /// Polls `cond` until it holds, failing the test with `what` after 5 s.
    async fn eventually(what: &str, cond: impl Fn() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while !cond() {
            assert!(Instant::now() < deadline, "timed out: {what}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn op(id: &str, gate: &str, qubits: &[usize]) -> DocOp {
        DocOp {
            id: id.into(),
            gate: gate.into(),
            qubits: qubits.to_vec(),
            params: vec![],
            clbits: vec![],
            condition: None,
        }
    }

    // Compared as values: yrs encodes state vectors in hash-map order, not canonically.
    fn sv(c: &DocClient) -> yrs::StateVector {
        c.doc().transact().state_vector()
    }

    async fn converge(clients: &[&DocClient]) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let svs: Vec<_> = clients.iter().map(|c| sv(c)).collect();
            if svs.windows(2).all(|w| w[0] == w[1]) {
                return;
            }
            if Instant::now() > deadline {
                for c in clients {
                    eprintln!(
                        "{:?} {:?} {:?}",
                        c.status(),
                        c.doc().transact().state_vector(),
                        doc::read(c.doc()).circuit
                    );
                }
                panic!("replicas did not converge");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    #[test]
    fn room_urls_are_encoded() {
        assert_eq!(
            room_url(
                "ws://h/ws/docs/",
                "a b",
                &[("token".into(), "x+y/z=".into())]
            ),
            "ws://h/ws/docs/a%20b?token=x%2By%2Fz%3D"
        );
        assert_eq!(room_url("ws://h", "r", &[]), "ws://h/r");
        assert_eq!(
            room_url("ws://h/d/{room}/ws/{room}", "a b", &[]),
            "ws://h/d/a%20b/ws/a%20b"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn two_clients_edit_concurrently_and_converge() {
        let server = reference_server::start();
        let opts = ConnectOptions::default().token("ignored-by-reference-server");
        let a = DocClient::connect(&server.url, "room-1", opts.clone())
            .await
            .unwrap();
        let b = DocClient::connect(&server.url, "room-1", opts.clone())
            .await
            .unwrap();
        assert_eq!(a.status(), Status::Synced);
        // Yjs-sized client ids: a 53-bit one is mangled by servers on older yrs.
        for c in [&a, &b] {
            assert!(c.doc().client_id().get() <= u64::from(u32::MAX));
        }
        let mut b_events = b.subscribe();

        // A writes a whole circuit while B concurrently adds ops and types notes.
        let circuit = DocCircuit {
            name: "bell".into(),
            qubits: 2,
            ops: vec![op("a1", "h", &[0]), op("a2", "cx", &[0, 1])],
            ..Default::default()
        };
        let (ra, rb) = tokio::join!(a.edit(|txn| doc::write_txn(txn, &circuit)), async {
            for i in 0..5 {
                b.edit(|txn| {
                    doc::push_op(txn, &op(&format!("b{i}"), "x", &[1]));
                    let notes = txn.get_or_insert_text(doc::NOTES);
                    notes.push(txn, &format!("b{i} "));
                })
                .await?;
            }
            Ok::<_, DocError>(())
        });
        ra.unwrap();
        rb.unwrap();
        converge(&[&a, &b]).await;

        let (da, db) = (doc::read(a.doc()), doc::read(b.doc()));
        assert_eq!(da, db);
        assert_eq!(da.circuit.ops.len(), 7);
        assert!(da.circuit.notes.contains("b4"));
        // B saw A's update arrive as an event.
        assert!(matches!(
            b_events.try_recv(),
            Ok(DocEvent::RemoteUpdate(_) | DocEvent::Awareness)
        ));

        // Awareness: B sees A's state, then sees it go away when A closes.
        a.set_awareness(&serde_json::json!({"user": "ada", "cursor": 3}))
            .await
            .unwrap();
        eventually("awareness not received", || {
            b.peers().values().any(|v| v["user"] == "ada")
        })
        .await;

        // A late joiner gets the whole state.
        let c = DocClient::connect(&server.url, "room-1", opts)
            .await
            .unwrap();
        assert_eq!(doc::read(c.doc()), da);

        a.close().await.unwrap();
        eventually("awareness not cleared on close", || {
            !b.peers().values().any(|v| v["user"] == "ada")
        })
        .await;
        b.close().await.unwrap();
        c.close().await.unwrap();
    }

    #[tokio::test]
    async fn connecting_to_nothing_fails_cleanly() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .unwrap()
            .port();
        let err = DocClient::connect(
            &format!("ws://127.0.0.1:{port}"),
            "r",
            ConnectOptions::default(),
        )
        .await
        .err()
        .unwrap();
        assert!(matches!(err, DocError::WebSocket(_)), "{err}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn rust_client_and_yjs_clients_share_a_room() {
        let server = reference_server::start();
        let rust = DocClient::connect(&server.url, "mixed", ConnectOptions::default())
            .await
            .unwrap();
        rust.edit(|txn| doc::push_op(txn, &op("rust-op", "h", &[0])))
            .await
            .unwrap();
        let (ok, summary) = run_yjs_clients(
            &server.url,
            &["--room", "mixed", "--clients", "3", "--ops", "4"],
        )
        .await;
        assert!(ok, "{summary}");
        assert_eq!(summary["opsSeen"], 13);
        // The Rust replica received everything the Yjs clients did.
        eventually("Rust replica missed Yjs edits", || {
            doc::read(rust.doc()).circuit.ops.len() == 13
        })
        .await;
        let read = doc::read(rust.doc());
        assert!(read.is_valid(), "{:?}", read.problems);
        rust.close().await.unwrap();
    }

    async fn run_yjs_clients(url: &str, args: &[&str]) -> (bool, serde_json::Value) {
        reference_server::ensure_node_modules();
        let out = tokio::process::Command::new("node")
            .arg(reference_server::js_dir().join("yjs-clients.mjs"))
            .args(["--url", url])
            .args(args)
            .output()
            .await
            .unwrap();
        let line = String::from_utf8_lossy(&out.stdout).to_string();
        let summary = serde_json::from_str(line.trim())
            .unwrap_or_else(|e| panic!("bad summary {line:?}: {e}"));
        (out.status.success(), summary)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sync_core_serves_real_yjs_clients_and_refuses_viewers() {
        let (url, room) = mini_server::start().await;
        let (ok, summary) =
            run_yjs_clients(&url, &["--room", "d", "--clients", "3", "--ops", "4"]).await;
        assert!(ok, "{summary}");
        assert_eq!(summary["opsSeen"], 12);

        let (ok, summary) = run_yjs_clients(
            &url,
            &["--room", "d", "--mode", "viewer", "--token", "viewer"],
        )
        .await;
        assert!(ok, "{summary}");
        assert_eq!(summary["permissionDenied"], true);
        assert_eq!(summary["appliedOnServer"], false);

        // The server's replica holds the editors' work, persisted update by update.
        let (log_len, server_doc) = {
            let r = room.lock().unwrap();
            (r.log.len(), r.awareness.as_ref().unwrap().doc().clone())
        };
        assert!(log_len >= 12);
        let read = doc::read(&server_doc);
        assert_eq!(read.circuit.ops.len(), 12);
        assert!(read.is_valid(), "{:?}", read.problems);

        // The Rust client, as a viewer: syncs, then its write is refused and surfaced.
        let viewer = DocClient::connect(&url, "d", ConnectOptions::default().token("viewer"))
            .await
            .unwrap();
        assert_eq!(doc::read(viewer.doc()).circuit.ops.len(), 12);
        assert_eq!(
            viewer.permission_denied(),
            None,
            "a clean sync is not a write"
        );
        let mut events = viewer.subscribe();
        viewer
            .edit(|txn| doc::push_op(txn, &op("v", "x", &[0])))
            .await
            .unwrap();
        let reason = tokio::time::timeout(Duration::from_secs(5), async {
            loop {
                if let Ok(DocEvent::PermissionDenied(r)) = events.recv().await {
                    return r;
                }
            }
        })
        .await
        .unwrap();
        assert_eq!(reason, qollab_shared::sync::READ_ONLY_REASON);
        assert!(matches!(
            viewer.edit(|_| ()).await,
            Err(DocError::PermissionDenied(_))
        ));
        // Viewers still share awareness.
        viewer
            .set_awareness(&serde_json::json!({"user": "viewer"}))
            .await
            .unwrap();
        let editor = DocClient::connect(&url, "d", ConnectOptions::default())
            .await
            .unwrap();
        eventually("viewer awareness not relayed", || {
            editor.peers().values().any(|v| v["user"] == "viewer")
        })
        .await;
        assert_eq!(doc::read(&server_doc).circuit.ops.len(), 12);
        viewer.close().await.unwrap();
        editor.close().await.unwrap();
    }
}
