//! A cheap peer for the document load generator: it speaks y-websocket, sends its edits
//! from a small document of its own, and times the others' edits from the raw update
//! frames (each edit's value is a marker holding its sender, number and send time),
//! without decoding, checking or applying them to a replica. On two cores, a full yrs
//! replica per client applying every delivery cost the generator more than the server
//! spent relaying (issue #12): 100 editors at 10 edits/s are 100,000 applies a second.
//! A few full replicas per room (`LoadConfig::full_per_room`) still check convergence.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use qollab_shared::sync::{encode_sync_step1, encode_sync_step2, encode_update};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use yrs::{Any, Doc, Map, ReadTxn, StateVector, Transact};

use super::{BENCH_MAP, Recorder, marker_of, now_us};
use crate::docs::{ConnectOptions, DocError, room_url};

/// Frames waiting to be sent at most (an editor waits when it is full).
const OUTGOING: usize = 64;

pub(crate) struct Probe {
    /// Our own edits only: every update it encodes is valid in any replica of the room.
    doc: Arc<Mutex<Doc>>,
    out: mpsc::Sender<WsMessage>,
    closed: Arc<AtomicBool>,
    task: JoinHandle<()>,
}

impl Probe {
    /// Connects as peer `me` of `room` and returns once the server's state has arrived
    /// (its sync step 2), so that the measured window sees full rooms.
    pub(crate) async fn connect(
        server: &str,
        room: &str,
        opts: &ConnectOptions,
        me: u64,
        recorder: Arc<Recorder>,
    ) -> Result<Probe, DocError> {
        let url = room_url(server, room, &opts.params);
        let (ws, _) = tokio::time::timeout(
            opts.sync_timeout,
            tokio_tungstenite::connect_async_with_config(&url, None, true),
        )
        .await
        .map_err(|_| DocError::Timeout("the websocket handshake"))??;
        let doc = Arc::new(Mutex::new(crate::docs::new_doc()));
        let (out, out_rx) = mpsc::channel(OUTGOING);
        let closed = Arc::new(AtomicBool::new(false));
        let (synced_tx, synced) = oneshot::channel();
        let task = tokio::spawn(run(
            ws,
            doc.clone(),
            out_rx,
            closed.clone(),
            synced_tx,
            me,
            recorder,
        ));
        tokio::time::timeout(opts.sync_timeout, synced)
            .await
            .map_err(|_| DocError::Timeout("the initial sync"))?
            .map_err(|_| DocError::Closed("closed before the initial sync".into()))?;
        Ok(Probe {
            doc,
            out,
            closed,
            task,
        })
    }

    /// Sets our key of the bench map to `marker` and sends the update.
    pub(crate) async fn edit(&self, key: String, marker: String) -> Result<(), DocError> {
        let update = {
            let doc = self.doc.lock().unwrap_or_else(|e| e.into_inner());
            let bench = doc.get_or_insert_map(BENCH_MAP);
            let mut txn = doc.transact_mut();
            bench.insert(&mut txn, key, Any::from(marker));
            txn.encode_update_v1()
        };
        self.out
            .send(WsMessage::Binary(encode_update(&update).into()))
            .await
            .map_err(|_| DocError::Closed("connection lost".into()))
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Relaxed)
    }

    pub(crate) async fn close(self) {
        let _ = self.out.send(WsMessage::Close(None)).await;
        let _ = tokio::time::timeout(Duration::from_secs(5), self.task).await;
    }
}

async fn run(
    ws: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
    doc: Arc<Mutex<Doc>>,
    mut out_rx: mpsc::Receiver<WsMessage>,
    closed: Arc<AtomicBool>,
    synced: oneshot::Sender<()>,
    me: u64,
    recorder: Arc<Recorder>,
) {
    let (mut sink, mut stream) = ws.split();
    let mut synced = Some(synced);
    let hello = {
        let doc = doc.lock().unwrap_or_else(|e| e.into_inner());
        let sv = doc.transact().state_vector();
        encode_sync_step1(&sv)
    };
    if sink.send(WsMessage::Binary(hello.into())).await.is_ok() {
        loop {
            tokio::select! {
                out = out_rx.recv() => match out {
                    Some(WsMessage::Close(_)) | None => {
                        let _ = sink.send(WsMessage::Close(None)).await;
                        let _ = tokio::time::timeout(Duration::from_secs(2), async {
                            while let Some(Ok(_)) = stream.next().await {}
                        })
                        .await;
                        break;
                    }
                    Some(msg) => {
                        if sink.send(msg).await.is_err() {
                            break;
                        }
                    }
                },
                incoming = stream.next() => match incoming {
                    Some(Ok(WsMessage::Binary(bytes))) => match (bytes.first(), bytes.get(1)) {
                        // The server's sync step 1: answer with everything we have (our
                        // own edits; a superset of what it lacks, which it ignores).
                        (Some(0), Some(0)) => {
                            let step2 = {
                                let doc = doc.lock().unwrap_or_else(|e| e.into_inner());
                                let update = doc.transact().encode_state_as_update_v1(&StateVector::default());
                                encode_sync_step2(&update)
                            };
                            if sink.send(WsMessage::Binary(step2.into())).await.is_err() {
                                break;
                            }
                        }
                        // The server's state: the initial sync is done. Edits it holds
                        // were made before the window, so it is not scanned.
                        (Some(0), Some(1)) => {
                            if let Some(tx) = synced.take() {
                                let _ = tx.send(());
                            }
                        }
                        (Some(0), Some(2)) => record(&bytes, me, &recorder),
                        _ => {}
                    },
                    Some(Ok(WsMessage::Close(_))) | Some(Err(_)) | None => break,
                    Some(Ok(_)) => {}
                },
            }
        }
    }
    closed.store(true, Ordering::Relaxed);
}

/// Records every marker of another sender in an update frame: its value strings are
/// stored verbatim, after their length (lib0 writes a string as its length, a varint —
/// one byte for a marker, which is shorter than 128 bytes — and its UTF-8 bytes).
fn record(frame: &[u8], me: u64, recorder: &Recorder) {
    let now = now_us();
    let prefix = super::MARKER_PREFIX.as_bytes();
    let mut found = 0u64;
    let mut from = 1;
    while let Some(at) = frame.get(from..).and_then(|rest| find(rest, prefix)) {
        let start = from + at;
        let len = usize::from(frame[start - 1]);
        from = start + 1;
        let Some(text) = frame.get(start..start + len) else {
            continue;
        };
        if let Some((sender, _, t)) = std::str::from_utf8(text).ok().and_then(marker_of)
            && sender != me
            && recorder.in_window(t)
        {
            recorder.record(now.saturating_sub(t).max(1));
            found += 1;
        }
    }
    if found > 0 {
        recorder.deliveries.fetch_add(found, Ordering::Relaxed);
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_are_found_in_an_encoded_update() {
        let doc = Doc::with_client_id(7);
        let bench = doc.get_or_insert_map(BENCH_MAP);
        let sent = now_us() - 5_000;
        let update = {
            let mut txn = doc.transact_mut();
            bench.insert(&mut txn, "3", Any::from(super::super::marker(3, 12, sent)));
            bench.insert(&mut txn, "4", Any::from(super::super::marker(4, 5, sent)));
            txn.encode_update_v1()
        };
        let frame = encode_update(&update);
        let recorder = Recorder::new();
        recorder.window_start_us.store(0, Ordering::Relaxed);
        recorder.window_end_us.store(u64::MAX, Ordering::Relaxed);
        // Peer 4 does not count its own edit.
        record(&frame, 4, &recorder);
        assert_eq!(recorder.deliveries.load(Ordering::Relaxed), 1);
        let h = recorder.histogram.lock().unwrap_or_else(|e| e.into_inner());
        assert_eq!(h.len(), 1);
        assert!(
            (5_000..1_005_000).contains(&h.max()),
            "timed from the marker's send time: {} µs",
            h.max()
        );
    }
}
