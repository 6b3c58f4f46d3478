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
