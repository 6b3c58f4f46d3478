//! Limits and bad input on the y-websocket endpoint: one misbehaving connection is
//! closed with the right code while the room, its document and its other peers carry on.

use qollab_client::docs::DocClient;
use qollab_shared::doc;
use qollab_shared::sync::{AwarenessUpdate, encode_awareness, encode_query_awareness};
use tokio_tungstenite::tungstenite::Message;

use crate::common::TestServer;
use crate::common::live::{
    BELL, RawPeer, Team, connect, detail, eventually, op, op_ids, upgrade_status, ws_url,
};

/// A server with small live-document limits, a team and a Bell document.
async fn small_limits() -> (TestServer, Team, String) {
    let server = TestServer::start_with(|c| {
        c.docs.max_frame_bytes = 4096;
        c.docs.max_messages_per_sec = 20;
        c.docs.max_peers_per_room = 4;
    })
    .await;
    let team = Team::new(server.client()).await;
    let doc_id = team.doc("Bell", Some(BELL)).await;
    (server, team, doc_id)
}

/// `a` writes an op and `b` receives it: the room still works.
async fn room_still_works(a: &DocClient, b: &DocClient, id: &str) {
    a.edit(|txn| doc::push_op(txn, &op(id, "x", &[0])))
        .await
        .unwrap_or_else(|e| panic!("edit after a bad peer: {e}"));
    eventually(&format!("{id} to reach the other peer"), || {
        op_ids(b.doc()).contains(&id.to_string())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_frame_closes_the_connection_with_1009() {
    let (server, team, doc_id) = small_limits().await;
    let a = connect(&server.url, &doc_id, team.token()).await;
    let b = connect(&server.url, &doc_id, team.token()).await;
    let mut raw = RawPeer::connect(&server.url, &doc_id, team.token()).await;
    raw.send(vec![0u8; 8192]).await;
    let (code, reason) = raw.closed().await;
    assert_eq!(code, 1009, "{reason}");
    room_still_works(&a, &b, "after-oversized").await;

    // Just under the limit is fine: a real update of about 3 KiB.
    let big_note = "n".repeat(3000);
    a.edit(|txn| {
        use yrs::{Text, WriteTxn};
        let notes = txn.get_or_insert_text(doc::NOTES);
        notes.push(txn, &big_note);
    })
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    eventually("the large note to arrive", || {
        doc::read(b.doc()).circuit.notes.len() >= 3000
    })
    .await;
    let _ = a.close().await;
    let _ = b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_messages_close_only_that_connection_with_1002() {
    let (server, team, doc_id) = small_limits().await;
    let a = connect(&server.url, &doc_id, team.token()).await;
    let b = connect(&server.url, &doc_id, team.token()).await;
    let not_json = {
        let mut u: AwarenessUpdate = AwarenessUpdate {
            clients: Default::default(),
        };
        u.clients.insert(
            yrs::ClientID::new(7),
            yrs::sync::awareness::AwarenessUpdateEntry {
                clock: 1,
                json: "{not json".into(),
            },
        );
        encode_awareness(&u)
    };
    let bad: Vec<(&str, Vec<u8>)> = vec![
        ("empty frame", vec![]),
        (
            "bad varuint",
            vec![
                0, 2, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
            ],
        ),
        ("truncated payload", vec![0, 2, 50, 1, 2, 3]),
        ("undecodable update", vec![0, 2, 4, 0xff, 0xff, 0xff, 0xff]),
        ("unknown sync type", vec![0, 9, 0]),
        ("trailing bytes", vec![0, 0, 1, 0, 42]),
        ("awareness state that is not JSON", not_json),
    ];
    for (i, (what, frame)) in bad.into_iter().enumerate() {
        let mut raw = RawPeer::connect(&server.url, &doc_id, team.token()).await;
        raw.send(frame).await;
        let (code, reason) = raw.closed().await;
        assert_eq!(code, 1002, "{what}: {reason}");
        room_still_works(&a, &b, &format!("after-{i}")).await;
    }
    // Unknown message types are ignored, as y-websocket does: the connection stays.
    let mut raw = RawPeer::connect(&server.url, &doc_id, team.token()).await;
    raw.send(vec![99, 1, 2]).await;
    raw.send(qollab_shared::sync::encode_update(
        &crate::common::live::op_update(&op("after-unknown", "h", &[1])),
    ))
    .await;
    eventually("the op sent after an unknown message", || {
        op_ids(b.doc()).contains(&"after-unknown".to_string())
    })
    .await;
    raw.send_message(Message::Close(None)).await;
    raw.closed().await;
    // Text frames are not part of the protocol.
    let mut raw = RawPeer::connect(&server.url, &doc_id, team.token()).await;
    raw.send_message(Message::Text("hello".into())).await;
    let (code, reason) = raw.closed().await;
    assert_eq!(code, 1003, "{reason}");
    room_still_works(&a, &b, "after-text").await;

    // The document is intact: the seeded circuit plus the good edits, no problems.
    let d = detail(&team.owner, &doc_id).await;
    assert_eq!(d.stats.total_gates, 4 + 9);
    assert!(d.problems.is_empty(), "{:?}", d.problems);
    assert_eq!(d.connected_peers, 2);
    assert_eq!(doc::read(a.doc()), doc::read(b.doc()));
    let _ = a.close().await;
    let _ = b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_over_the_message_rate_is_closed_with_1008() {
    let (server, team, doc_id) = small_limits().await;
    let a = connect(&server.url, &doc_id, team.token()).await;
    let b = connect(&server.url, &doc_id, team.token()).await;
    let mut raw = RawPeer::connect(&server.url, &doc_id, team.token()).await;
    for _ in 0..60 {
        raw.send(encode_query_awareness()).await;
    }
    let (code, reason) = raw.closed().await;
    assert_eq!(code, 1008, "{reason}");
    room_still_works(&a, &b, "after-flood").await;
    let _ = a.close().await;
    let _ = b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_room_refuses_the_next_peer_with_429() {
    let (server, team, doc_id) = small_limits().await;
    let mut peers = Vec::new();
    for _ in 0..4 {
        peers.push(connect(&server.url, &doc_id, team.token()).await);
    }
    let url = format!("{}/{doc_id}?token={}", ws_url(&server.url), team.token());
    assert_eq!(upgrade_status(&url).await, 429);
    // Other rooms are not affected.
    let other = team.doc("Other", None).await;
    let elsewhere = connect(&server.url, &other, team.token()).await;
    // A peer leaves: there is room again.
    if let Some(p) = peers.pop() {
        p.close().await.unwrap_or_else(|e| panic!("{e}"));
    }
    let again = connect(&server.url, &doc_id, team.token()).await;
    assert_eq!(upgrade_status(&url).await, 429);
    room_still_works(&again, &peers[0], "after-full").await;
    let _ = elsewhere.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_peer_is_closed_by_the_heartbeat_and_answering_peers_stay() {
    let server = TestServer::start_with(|c| {
        c.docs.ping_interval = std::time::Duration::from_millis(200);
        c.docs.idle_timeout = std::time::Duration::from_secs(1);
    })
    .await;
    let team = Team::new(server.client()).await;
    let doc_id = team.doc("Bell", Some(BELL)).await;
    let a = connect(&server.url, &doc_id, team.token()).await;
    let b = connect(&server.url, &doc_id, team.token()).await;
    // Sends nothing and reads nothing, so it never answers the server's pings.
    let mut silent = RawPeer::connect(&server.url, &doc_id, team.token()).await;
    assert_eq!(detail(&team.owner, &doc_id).await.connected_peers, 3);

    // Three idle timeouts later only the silent peer is gone: the synced clients answer
    // pings (they are otherwise just as idle).
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    assert_eq!(detail(&team.owner, &doc_id).await.connected_peers, 2);
    // The server has closed the socket: reading ends at once (with the 1001 close frame,
    // or with an error when the pongs tungstenite queues for the old pings hit the closed
    // socket first).
    if let Some((code, reason)) = silent.end().await {
        assert_eq!(code, 1001, "{reason}");
        assert!(reason.contains("heartbeat"), "{reason}");
    }
    room_still_works(&a, &b, "after-heartbeat").await;
    let _ = a.close().await;
    let _ = b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_that_stops_reading_is_dropped_without_slowing_the_room() {
    use futures_util::StreamExt;

    let server = TestServer::start_with(|c| {
        c.docs.peer_queue = 16;
        c.docs.max_messages_per_sec = 10_000;
        c.docs.ping_interval = std::time::Duration::from_secs(1);
        c.docs.idle_timeout = std::time::Duration::from_secs(3);
    })
    .await;
    let team = Team::new(server.client()).await;
    let doc_id = team.doc("Bell", Some(BELL)).await;
    let a = connect(&server.url, &doc_id, team.token()).await;
    let b = connect(&server.url, &doc_id, team.token()).await;
    // Connects, then never reads: what the server sends piles up in its socket buffers,
    // then in its queue.
    let url = format!("{}/{doc_id}?token={}", ws_url(&server.url), team.token());
    let (mut stalled, _) = tokio_tungstenite::connect_async(&url)
        .await
        .unwrap_or_else(|e| panic!("connect: {e}"));
    assert_eq!(detail(&team.owner, &doc_id).await.connected_peers, 3);

    // 40 MiB of edits: far more than loopback socket buffers and a 16-frame queue hold.
    let chunk = "s".repeat(256 * 1024);
    let edits = 160;
    for _ in 0..edits {
        a.edit(|txn| {
            use yrs::{Text, WriteTxn};
            txn.get_or_insert_text(doc::NOTES).push(txn, &chunk);
        })
        .await
        .unwrap_or_else(|e| panic!("edit: {e}"));
    }
    let total = edits * chunk.len();
    // The reading peer gets everything; the stalled one was dropped from the room.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    let notes_len = |d: &yrs::Doc| {
        use yrs::{ReadTxn, Text, Transact};
        let txn = d.transact();
        txn.get_text(doc::NOTES).map_or(0, |t| t.len(&txn) as usize)
    };
    while notes_len(b.doc()) < total {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the reading peer fell behind: {} of {total} bytes",
            notes_len(b.doc())
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(detail(&team.owner, &doc_id).await.connected_peers, 2);

    // Without the stalled client reading a byte, the server closes its end of the socket
    // (its kernel socket leaves ESTABLISHED): the connection's task, queue and buffers
    // are not held until the client wakes up.
    let client_port = match stalled.get_ref() {
        tokio_tungstenite::MaybeTlsStream::Plain(tcp) => tcp
            .local_addr()
            .unwrap_or_else(|e| panic!("local addr: {e}"))
            .port(),
        _ => panic!("expected a plain TCP stream"),
    };
    let server_port: u16 = server
        .url
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("port of {}", server.url));
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while server_socket_established(server_port, client_port) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the server still holds the stalled connection open"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }

    // The server let go of the stalled socket: reading it now ends (close frame or end of
    // stream) well before the 40 MiB were delivered.
    let mut received = 0usize;
    let ended = tokio::time::timeout(std::time::Duration::from_secs(20), async {
        while let Some(Ok(m)) = stalled.next().await {
            if let Message::Binary(b) = &m {
                received += b.len();
            }
            if let Message::Close(f) = m {
                return f.map(|f| u16::from(f.code));
            }
        }
        None
    })
    .await
    .unwrap_or_else(|_| panic!("the server kept the stalled connection open"));
    assert!(
        received < total / 2,
        "the stalled peer was sent {received} of {total} bytes"
    );
    if let Some(code) = ended {
        assert_eq!(code, 1013);
    }
    room_still_works(&a, &b, "after-stalled").await;
    let _ = a.close().await;
    let _ = b.close().await;
}

/// Whether the kernel has an ESTABLISHED TCP socket from the server's port to the
/// client's (Linux `/proc/net/tcp`, hex ports, state `01`).
fn server_socket_established(server_port: u16, client_port: u16) -> bool {
    let local = format!(":{server_port:04X}");
    let remote = format!(":{client_port:04X}");
    ["/proc/net/tcp", "/proc/net/tcp6"].iter().any(|table| {
        std::fs::read_to_string(table)
            .unwrap_or_default()
            .lines()
            .skip(1)
            .any(|line| {
                let f: Vec<&str> = line.split_whitespace().collect();
                f.len() > 3 && f[1].ends_with(&local) && f[2].ends_with(&remote) && f[3] == "01"
            })
    })
}

/// An awareness message with these (client id, clock, JSON state) entries.
fn awareness(entries: &[(u64, u32, &str)]) -> Vec<u8> {
    let mut u = AwarenessUpdate {
        clients: Default::default(),
    };
    for (id, clock, json) in entries {
        u.clients.insert(
            yrs::ClientID::new(*id),
            yrs::sync::awareness::AwarenessUpdateEntry {
                clock: *clock,
                json: (*json).into(),
            },
        );
    }
    encode_awareness(&u)
}

/// A JSON string state of exactly `len` bytes.
fn state_of_len(len: usize) -> String {
    format!("\"{}\"", "a".repeat(len - 2))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_awareness_closes_the_viewer_with_1009_and_the_room_replay_stays_bounded() {
    let server = TestServer::start_with(|c| {
        c.docs.awareness.max_state_bytes = 1024;
        c.docs.awareness.max_room_bytes = 8 * 1024;
    })
    .await;
    let team = Team::new(server.client()).await;
    let doc_id = team.doc("Bell", Some(BELL)).await;
    let (_, viewer) = team
        .member("viewer", qollab_shared::api::Role::Viewer)
        .await;
    let a = connect(&server.url, &doc_id, team.token()).await;
    let b = connect(&server.url, &doc_id, team.token()).await;

    // One state over the per-client limit: refused, and the viewer closed with a reason.
    let mut big = RawPeer::connect(&server.url, &doc_id, &viewer.access_token).await;
    big.send(awareness(&[(900, 1, &state_of_len(2000))])).await;
    let (code, reason) = big.closed().await;
    assert_eq!(code, 1009, "{reason}");
    assert!(reason.contains("awareness"), "{reason}");

    // Viewers offer 4 x 16 states of 1000 bytes (64 KB) within the per-state limit: the
    // room keeps at most its 8 KiB budget of them.
    let mut fillers = Vec::new();
    for p in 0..4u64 {
        let mut raw = RawPeer::connect(&server.url, &doc_id, &viewer.access_token).await;
        let states: Vec<String> = (0..16).map(|_| state_of_len(1000)).collect();
        let entries: Vec<(u64, u32, &str)> = (0..16u64)
            .map(|i| (1000 + p * 100 + i, 1, states[i as usize].as_str()))
            .collect();
        raw.send(awareness(&entries)).await;
        fillers.push(raw);
    }
    // What a newcomer is sent is bounded by the room's budget (plus framing).
    let mut newcomer = RawPeer::connect(&server.url, &doc_id, &viewer.access_token).await;
    let mut answer = (0, 0);
    for _ in 0..20 {
        let (bytes, states) = newcomer.query_awareness().await;
        answer = (bytes, states.clients.len());
        if answer.1 >= 8 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let (bytes, states) = answer;
    assert!(states >= 8, "the room took {states} states");
    assert!(
        bytes <= 8 * 1024 + 64 * 16,
        "a newcomer was sent {bytes} bytes of awareness"
    );
    // Everyone else carries on, the fillers included.
    room_still_works(&a, &b, "after-awareness-flood").await;
    assert_eq!(detail(&team.owner, &doc_id).await.connected_peers, 7);
    let _ = a.close().await;
    let _ = b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_peer_cannot_overwrite_or_clear_another_peers_awareness() {
    let server = TestServer::start().await;
    let team = Team::new(server.client()).await;
    let doc_id = team.doc("Bell", Some(BELL)).await;
    let (_, mallory) = team
        .member("mallory", qollab_shared::api::Role::Viewer)
        .await;
    let mut alice = RawPeer::connect(&server.url, &doc_id, team.token()).await;
    let mut observer = RawPeer::connect(&server.url, &doc_id, team.token()).await;
    let id = |u: &AwarenessUpdate, n: u64| u.clients.get(&yrs::ClientID::new(n)).cloned();

    alice
        .send(awareness(&[(4242, 1, r#"{"name":"alice"}"#)]))
        .await;
    observer
        .awareness_until("alice's state", |u| id(u, 4242).is_some())
        .await;
    // Mallory writes alice's client id with a higher clock, then clears it.
    let mut evil = RawPeer::connect(&server.url, &doc_id, &mallory.access_token).await;
    evil.send(awareness(&[(4242, 7, r#"{"name":"mallory"}"#)]))
        .await;
    evil.send(awareness(&[(4242, 8, "null")])).await;
    // Mallory's own id still works (and tells us her earlier frames were processed).
    evil.send(awareness(&[(777, 1, r#"{"name":"mallory"}"#)]))
        .await;
    let seen = observer
        .awareness_until("mallory's own state", |u| id(u, 777).is_some())
        .await;
    assert!(id(&seen, 4242).is_none(), "the spoofed entry was relayed");
    let (_, states) = observer.query_awareness().await;
    assert_eq!(
        id(&states, 4242).map(|e| e.json.to_string()),
        Some(r#"{"name":"alice"}"#.to_string()),
        "alice's state was changed by another peer"
    );
    // Alice may change her own state; when she leaves, her ids are removed for everyone.
    alice
        .send(awareness(&[(4242, 2, r#"{"name":"alice 2"}"#)]))
        .await;
    observer
        .awareness_until("alice's update", |u| {
            id(u, 4242).is_some_and(|e| e.json.contains("alice 2"))
        })
        .await;
    alice.send_message(Message::Close(None)).await;
    observer
        .awareness_until("alice's removal", |u| {
            id(u, 4242).is_some_and(|e| e.json.as_ref() == "null")
        })
        .await;
    let (_, states) = observer.query_awareness().await;
    assert!(id(&states, 4242).is_none_or(|e| e.json.as_ref() == "null"));
    assert!(id(&states, 777).is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_non_reading_peer_is_dropped_by_bytes_long_before_1024_frames() {
    let server = TestServer::start_with(|c| {
        c.docs.peer_queue = 1024;
        c.docs.peer_queue_bytes = 1 << 20;
        c.docs.max_messages_per_sec = 10_000;
        // The heartbeat must not be what drops it.
        c.docs.ping_interval = std::time::Duration::from_secs(30);
        c.docs.idle_timeout = std::time::Duration::from_secs(120);
    })
    .await;
    let team = Team::new(server.client()).await;
    let doc_id = team.doc("Bell", Some(BELL)).await;
    let a = connect(&server.url, &doc_id, team.token()).await;
    let b = connect(&server.url, &doc_id, team.token()).await;
    let url = format!("{}/{doc_id}?token={}", ws_url(&server.url), team.token());
    let (stalled, _) = tokio_tungstenite::connect_async(&url)
        .await
        .unwrap_or_else(|e| panic!("connect: {e}"));
    assert_eq!(detail(&team.owner, &doc_id).await.connected_peers, 3);

    // 400 frames of 32 KiB (12.5 MiB): far fewer frames than the queue holds, far more
    // bytes than socket buffers and the 1 MiB budget.
    let chunk = "s".repeat(32 * 1024);
    let edits = 400;
    for i in 0..edits {
        a.edit(|txn| {
            use yrs::{Text, WriteTxn};
            txn.get_or_insert_text(doc::NOTES).push(txn, &chunk);
        })
        .await
        .unwrap_or_else(|e| panic!("edit: {e}"));
        if i % 20 == 0 {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    }
    let total = edits * chunk.len();
    let notes_len = |d: &yrs::Doc| {
        use yrs::{ReadTxn, Text, Transact};
        let txn = d.transact();
        txn.get_text(doc::NOTES).map_or(0, |t| t.len(&txn) as usize)
    };
    // 12.5 MiB is persisted before it is relayed: on PostgreSQL under a loaded CI that
    // takes longer than `eventually`'s 10 s, so this waits up to a minute (a bound on
    // convergence, not a speed assertion).
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
    while notes_len(b.doc()) < total {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the reading peer got {} of {total} bytes",
            notes_len(b.doc())
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while detail(&team.owner, &doc_id).await.connected_peers > 2 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the stalled peer is still in the room after {edits} frames"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    drop(stalled);
    room_still_works(&a, &b, "after-byte-budget").await;
    let _ = a.close().await;
    let _ = b.close().await;
}
