//! Helpers for the live-document tests: a team with a workspace, documents over REST,
//! synced Rust replicas, and a raw websocket peer for frames no well-behaved client sends.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use qollab_client::docs::{ConnectOptions, DocClient};
use qollab_client::rest::Client;
use qollab_shared::api::DocDetail;
use qollab_shared::doc::{self, DocOp};
use qollab_shared::sync::{Frame, decode_frame};
use reqwest::Method;
use tokio_tungstenite::tungstenite::{self, Message};
use yrs::updates::decoder::Decode;
use yrs::{Doc, ReadTxn, StateVector, Transact, Update};

use super::raw;

// The team fixture and the Bell circuit used to live here; kept under their old paths.
pub use super::circuits::BELL;
pub use super::team::Team;

/// `ws://HOST/ws/docs` for a server's `http://HOST`.
pub fn ws_url(http: &str) -> String {
    format!("{}/ws/docs", http.replacen("http://", "ws://", 1))
}

/// Polls until `check` holds (live updates arrive asynchronously); fails after 10 s.
pub async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !check() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub fn op(id: &str, gate: &str, qubits: &[usize]) -> DocOp {
    DocOp {
        id: id.into(),
        gate: gate.into(),
        qubits: qubits.to_vec(),
        params: vec![],
        clbits: vec![],
        condition: None,
    }
}

/// A synced Rust replica of a document.
pub async fn connect(http: &str, doc_id: &str, token: &str) -> DocClient {
    DocClient::connect(
        &ws_url(http),
        doc_id,
        ConnectOptions::default().token(token),
    )
    .await
    .unwrap_or_else(|e| panic!("connect to {doc_id}: {e}"))
}

/// `GET /api/docs/{id}` as a typed detail.
pub async fn detail(client: &Client, doc_id: &str) -> DocDetail {
    let (s, body) = raw(client, Method::GET, &format!("/api/docs/{doc_id}"), None).await;
    assert_eq!(s, 200, "GET document: {body}");
    serde_json::from_value(body).unwrap_or_else(|e| panic!("document detail: {e}"))
}

/// The raw bytes of `GET /api/docs/{id}/update`.
pub async fn state_bytes(client: &Client, doc_id: &str) -> Vec<u8> {
    let res = client
        .request(Method::GET, &format!("/api/docs/{doc_id}/update"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET update: {e}"));
    assert_eq!(res.status().as_u16(), 200, "GET update");
    res.bytes()
        .await
        .unwrap_or_else(|e| panic!("GET update body: {e}"))
        .to_vec()
}

/// The server's current document, read back over REST into a fresh `yrs::Doc`.
pub async fn server_doc(client: &Client, doc_id: &str) -> Doc {
    let bytes = state_bytes(client, doc_id).await;
    let doc = Doc::new();
    let update = Update::decode_v1(&bytes).unwrap_or_else(|e| panic!("state decodes: {e}"));
    doc.transact_mut()
        .apply_update(update)
        .unwrap_or_else(|e| panic!("state applies: {e}"));
    doc
}

pub fn sv(doc: &Doc) -> StateVector {
    doc.transact().state_vector()
}

pub fn op_ids(doc: &Doc) -> Vec<String> {
    doc::read(doc)
        .circuit
        .ops
        .into_iter()
        .map(|o| o.id)
        .collect()
}

/// A v1 update, independent of any other, that appends `op` (made by a fresh client).
pub fn op_update(op: &DocOp) -> Vec<u8> {
    let d = Doc::new();
    let mut txn = d.transact_mut();
    doc::push_op(&mut txn, op);
    txn.encode_update_v1()
}

/// The HTTP status of a websocket upgrade request to `url` (101 when it is accepted).
pub async fn upgrade_status(url: &str) -> u16 {
    match tokio_tungstenite::connect_async(url).await {
        Ok(_) => 101,
        Err(tungstenite::Error::Http(res)) => res.status().as_u16(),
        Err(e) => panic!("upgrade request to {url} failed without a status: {e}"),
    }
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A websocket peer that sends exactly the frames it is told to.
pub struct RawPeer {
    ws: Ws,
}

impl RawPeer {
    pub async fn connect(http: &str, doc_id: &str, token: &str) -> RawPeer {
        let url = format!("{}/{doc_id}?token={token}", ws_url(http));
        let (ws, _) = tokio_tungstenite::connect_async(&url)
            .await
            .unwrap_or_else(|e| panic!("raw connect to {doc_id}: {e}"));
        RawPeer { ws }
    }

    pub async fn send(&mut self, frame: Vec<u8>) {
        self.ws
            .send(Message::Binary(frame.into()))
            .await
            .unwrap_or_else(|e| panic!("raw send: {e}"));
    }

    pub async fn send_message(&mut self, msg: Message) {
        self.ws
            .send(msg)
            .await
            .unwrap_or_else(|e| panic!("raw send: {e}"));
    }

    /// Reads until the server closes the connection; returns the close code and reason.
    pub async fn closed(&mut self) -> (u16, String) {
        tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                match self.ws.next().await {
                    Some(Ok(Message::Close(Some(f)))) => {
                        return (u16::from(f.code), f.reason.to_string());
                    }
                    Some(Ok(Message::Close(None))) => return (1005, String::new()),
                    Some(Ok(_)) => {}
                    Some(Err(e)) => panic!("connection ended without a close frame: {e}"),
                    None => panic!("connection ended without a close frame"),
                }
            }
        })
        .await
        .unwrap_or_else(|_| panic!("the server did not close the connection within 10 s"))
    }

    /// Reads until the connection ends, which must be soon; returns the close code and
    /// reason if a close frame came before the end.
    pub async fn end(&mut self) -> Option<(u16, String)> {
        tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                match self.ws.next().await {
                    Some(Ok(Message::Close(f))) => {
                        return f.map(|f| (u16::from(f.code), f.reason.to_string()));
                    }
                    Some(Ok(_)) => {}
                    Some(Err(_)) | None => return None,
                }
            }
        })
        .await
        .unwrap_or_else(|_| panic!("the connection was still open after 10 s"))
    }

    /// Reads until an awareness message for which `want` holds arrives; returns it.
    pub async fn awareness_until(
        &mut self,
        what: &str,
        want: impl Fn(&qollab_shared::sync::AwarenessUpdate) -> bool,
    ) -> qollab_shared::sync::AwarenessUpdate {
        tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                match self.ws.next().await {
                    Some(Ok(Message::Binary(b))) => {
                        if let Ok(Frame::Awareness(u)) = decode_frame(&b)
                            && want(&u)
                        {
                            return u;
                        }
                    }
                    Some(Ok(Message::Close(f))) => panic!("closed while waiting for {what}: {f:?}"),
                    Some(Ok(_)) => {}
                    Some(Err(e)) => panic!("connection failed while waiting for {what}: {e}"),
                    None => panic!("connection ended while waiting for {what}"),
                }
            }
        })
        .await
        .unwrap_or_else(|_| panic!("no {what} within 10 s"))
    }

    /// Asks for the room's awareness states (query-awareness) and returns the answer's
    /// size in bytes and the states (empty when the room has none to send).
    pub async fn query_awareness(&mut self) -> (usize, qollab_shared::sync::AwarenessUpdate) {
        self.send(qollab_shared::sync::encode_query_awareness())
            .await;
        tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                match self.ws.next().await {
                    Some(Ok(Message::Binary(b))) => {
                        if let Ok(Frame::Awareness(u)) = decode_frame(&b) {
                            return (b.len(), u);
                        }
                    }
                    Some(Ok(Message::Close(f))) => panic!("closed while querying awareness: {f:?}"),
                    Some(Ok(_)) => {}
                    Some(Err(e)) => panic!("connection failed: {e}"),
                    None => panic!("connection ended"),
                }
            }
        })
        .await
        .unwrap_or_else(|_| panic!("no awareness answer within 10 s"))
    }

    /// Reads until a y-websocket permission-denied message arrives; returns its reason.
    pub async fn permission_denied(&mut self) -> String {
        tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                match self.ws.next().await {
                    Some(Ok(Message::Binary(b))) => {
                        if let Ok(Frame::PermissionDenied(r)) = decode_frame(&b) {
                            return r;
                        }
                    }
                    Some(Ok(Message::Close(f))) => panic!("closed instead: {f:?}"),
                    Some(Ok(_)) => {}
                    Some(Err(e)) => panic!("connection failed: {e}"),
                    None => panic!("connection ended"),
                }
            }
        })
        .await
        .unwrap_or_else(|_| panic!("no permission-denied message within 10 s"))
    }
}
