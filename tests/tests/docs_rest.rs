//! The document REST surface: OpenQASM import/export, stats and problems, binary state,
//! server-side edits seen live, versions and restore, and who may do what.

use qollab_shared::api::{DocDetail, DocSummary, DocVersion, Role};
use qollab_shared::doc;
use qollab_shared::sync::encode_update;
use reqwest::Method;
use serde_json::json;
use yrs::{Map, Text, Transact, WriteTxn};

use crate::common::live::{
    BELL, RawPeer, Team, connect, detail, eventually, op, op_ids, op_update, server_doc,
    state_bytes, sv, upgrade_status, ws_url,
};
use crate::common::{TestServer, assert_error, raw};

async fn list(team: &Team) -> Vec<DocSummary> {
    let (s, body) = raw(
        &team.owner,
        Method::GET,
        &format!("/api/workspaces/{}/docs", team.ws),
        None,
    )
    .await;
    assert_eq!(s, 200, "{body}");
    serde_json::from_value(body["items"].clone()).unwrap_or_else(|e| panic!("{e}: {body}"))
}

/// Sends a request with a raw body; returns status and body text.
async fn send(
    client: &qollab_client::rest::Client,
    method: Method,
    path: &str,
    content_type: &str,
    body: Vec<u8>,
) -> (u16, String) {
    let res = client
        .request(method, path)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{path}: {e}"));
    let status = res.status().as_u16();
    (status, res.text().await.unwrap_or_default())
}

#[tokio::test]
async fn create_list_rename_and_delete() {
    let server = TestServer::start().await;
    let team = Team::new(server.client()).await;

    // Invalid OpenQASM: 422 with where the error is, and nothing created.
    let (s, body) = raw(
        &team.owner,
        Method::POST,
        &format!("/api/workspaces/{}/docs", team.ws),
        Some(json!({"name": "Broken", "qasm": "OPENQASM 2.0;\ninclude \"qelib1.inc\";\nqreg q[2];\nh q[0;\n"})),
    )
    .await;
    assert_eq!(s, 422, "{body}");
    assert_error(&body, "invalid_qasm");
    let details = &body["error"]["details"];
    assert_eq!(details["line"], 4, "{body}");
    assert!(details["col"].as_u64().is_some_and(|c| c >= 1), "{body}");
    assert!(list(&team).await.is_empty());

    let empty = team.doc("Empty", None).await;
    let bell = team.doc("Bell", Some(BELL)).await;
    let names: Vec<String> = list(&team).await.into_iter().map(|d| d.name).collect();
    assert_eq!(names.len(), 2);
    assert!(names.contains(&"Empty".to_string()) && names.contains(&"Bell".to_string()));

    let d = detail(&team.owner, &bell).await;
    assert_eq!(d.doc.name, "Bell");
    assert_eq!(d.doc.workspace_id, team.ws);
    assert_eq!(d.doc.created_by, team.owner_auth.user.id);
    assert_eq!((d.stats.qubits, d.stats.clbits), (2, 2));
    assert_eq!(d.stats.gate_counts.get("measure"), Some(&2));
    assert!(d.problems.is_empty());
    assert_eq!(detail(&team.owner, &empty).await.stats.total_gates, 0);

    let (s, body) = raw(
        &team.owner,
        Method::PATCH,
        &format!("/api/docs/{bell}"),
        Some(json!({"name": "Bell pair"})),
    )
    .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["name"], "Bell pair");
    assert_eq!(detail(&team.owner, &bell).await.doc.name, "Bell pair");
    let (s, body) = raw(
        &team.owner,
        Method::PATCH,
        &format!("/api/docs/{bell}"),
        Some(json!({"name": "   "})),
    )
    .await;
    assert_eq!(s, 422, "{body}");

    // Delete: connected peers are closed, then the document is gone everywhere.
    let client = connect(&server.url, &bell, team.token()).await;
    let mut raw_peer = RawPeer::connect(&server.url, &bell, team.token()).await;
    let (s, _) = raw(
        &team.owner,
        Method::DELETE,
        &format!("/api/docs/{bell}"),
        None,
    )
    .await;
    assert_eq!(s, 204);
    let (code, reason) = raw_peer.closed().await;
    assert_eq!(code, 4404, "{reason}");
    eventually("the Rust client to be closed", || {
        matches!(client.status(), qollab_client::docs::Status::Closed(_))
    })
    .await;
    let (s, body) = raw(&team.owner, Method::GET, &format!("/api/docs/{bell}"), None).await;
    assert_eq!(s, 404, "{body}");
    let (s, _) = raw(
        &team.owner,
        Method::GET,
        &format!("/api/docs/{bell}/update"),
        None,
    )
    .await;
    assert_eq!(s, 404);
    assert_eq!(
        upgrade_status(&format!(
            "{}/{bell}?token={}",
            ws_url(&server.url),
            team.token()
        ))
        .await,
        404
    );
    let left: Vec<_> = list(&team).await.into_iter().map(|d| d.name).collect();
    assert_eq!(left, vec!["Empty".to_string()]);

    // Deleting the workspace closes the rooms of its documents too.
    let mut raw_peer = RawPeer::connect(&server.url, &empty, team.token()).await;
    team.owner
        .delete_workspace(team.ws)
        .await
        .unwrap_or_else(|e| panic!("delete workspace: {e}"));
    let (code, reason) = raw_peer.closed().await;
    assert_eq!(code, 4404, "{reason}");
    let (s, _) = raw(
        &team.owner,
        Method::GET,
        &format!("/api/docs/{empty}"),
        None,
    )
    .await;
    assert_eq!(s, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn problems_from_concurrent_edits_are_reported() {
    let server = TestServer::start().await;
    let team = Team::new(server.client()).await;
    let doc_id = team.doc("Bell", Some(BELL)).await;
    let a = connect(&server.url, &doc_id, team.token()).await;
    let b = connect(&server.url, &doc_id, team.token()).await;

    // A shrinks the register to one qubit while B adds a gate on qubit 1: both merge.
    let (ra, rb) = tokio::join!(
        a.edit(|txn| {
            let meta = txn.get_or_insert_map(doc::META);
            meta.insert(txn, "qubits", 1);
        }),
        b.edit(|txn| doc::push_op(txn, &op("b-on-q1", "x", &[1])))
    );
    ra.unwrap_or_else(|e| panic!("{e}"));
    rb.unwrap_or_else(|e| panic!("{e}"));
    eventually("both edits everywhere", || {
        op_ids(a.doc()).len() == 5 && doc::read(b.doc()).circuit.qubits == 1
    })
    .await;

    let d = detail(&team.owner, &doc_id).await;
    assert_eq!(d.stats.qubits, 1);
    assert_eq!(d.stats.total_gates, 5);
    let out_of_range: Vec<_> = d
        .problems
        .iter()
        .filter(|p| p.code == "qubit_out_of_range")
        .collect();
    assert!(
        out_of_range.iter().any(|p| p.op_index == Some(4)),
        "{:?}",
        d.problems
    );
    assert!(
        out_of_range.iter().any(|p| p.op_index == Some(1)),
        "the cx on q[1] is out of range too: {:?}",
        d.problems
    );
    // Exporting an invalid circuit is a client error naming the problems, not a crash.
    let (s, body) = raw(
        &team.owner,
        Method::GET,
        &format!("/api/docs/{doc_id}/qasm"),
        None,
    )
    .await;
    assert_eq!(s, 422, "{body}");
    assert!(
        body["error"]["details"]["problems"]
            .as_array()
            .is_some_and(|p| !p.is_empty()),
        "{body}"
    );
    // A raw op with garbage fields is reported as unreadable; the rest still reads.
    let mut raw_peer = RawPeer::connect(&server.url, &doc_id, team.token()).await;
    let garbage = {
        let d = yrs::Doc::new();
        let mut txn = d.transact_mut();
        let ops = txn.get_or_insert_array(doc::OPS);
        yrs::Array::push_back(&ops, &mut txn, "not an op");
        txn.encode_update_v1()
    };
    raw_peer.send(encode_update(&garbage)).await;
    eventually("the garbage op to arrive", || {
        doc::read(a.doc())
            .problems
            .iter()
            .any(|p| matches!(p, doc::Problem::MalformedOp { .. }))
    })
    .await;
    let d = detail(&team.owner, &doc_id).await;
    assert!(
        d.problems.iter().any(|p| p.code == "malformed_op"),
        "{:?}",
        d.problems
    );
    assert_eq!(d.stats.total_gates, 5);
    let _ = a.close().await;
    let _ = b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qasm_export_and_live_import_keep_notes() {
    let server = TestServer::start().await;
    let team = Team::new(server.client()).await;
    let doc_id = team.doc("Bell", Some(BELL)).await;
    let path = format!("/api/docs/{doc_id}/qasm");

    let (s, q2) = send(&team.owner, Method::GET, &path, "text/plain", vec![]).await;
    assert_eq!(s, 200, "{q2}");
    assert!(q2.starts_with("OPENQASM 2.0;"), "{q2}");
    assert!(
        q2.contains("cx q[0],q[1];") || q2.contains("cx q[0], q[1];"),
        "{q2}"
    );
    let (s, q3) = send(
        &team.owner,
        Method::GET,
        &format!("{path}?dialect=qasm3"),
        "text/plain",
        vec![],
    )
    .await;
    assert_eq!(s, 200, "{q3}");
    assert!(q3.starts_with("OPENQASM 3"), "{q3}");
    let (s, body) = send(
        &team.owner,
        Method::GET,
        &format!("{path}?dialect=qasm9"),
        "text/plain",
        vec![],
    )
    .await;
    assert_eq!(s, 422, "{body}");
    // The export parses back to the same circuit.
    let (s, body) = raw(
        &team.owner,
        Method::POST,
        &format!("/api/workspaces/{}/docs", team.ws),
        Some(json!({"name": "Round trip", "qasm": q2})),
    )
    .await;
    assert_eq!(s, 201, "{body}");
    let copy = body["id"].as_str().unwrap_or_default().to_string();
    assert_eq!(
        detail(&team.owner, &copy).await.stats,
        detail(&team.owner, &doc_id).await.stats
    );

    // A live client types notes; a PUT of new OpenQASM replaces the circuit, live, and
    // keeps the notes and the name.
    let live = connect(&server.url, &doc_id, team.token()).await;
    live.edit(|txn| {
        let notes = txn.get_or_insert_text(doc::NOTES);
        notes.push(txn, "keep these notes");
    })
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let ghz = "OPENQASM 2.0;\ninclude \"qelib1.inc\";\nqreg q[3];\nh q[0];\ncx q[0],q[1];\ncx q[1],q[2];\n";
    let (s, body) = send(
        &team.owner,
        Method::PUT,
        &path,
        "text/plain",
        ghz.as_bytes().to_vec(),
    )
    .await;
    assert_eq!(s, 200, "{body}");
    let d: DocDetail = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"));
    assert_eq!((d.stats.qubits, d.stats.total_gates), (3, 3));
    assert_eq!(d.connected_peers, 1, "{body}");
    eventually("the imported circuit to reach the live client", || {
        let c = doc::read(live.doc()).circuit;
        c.qubits == 3 && c.ops.len() == 3
    })
    .await;
    let c = doc::read(live.doc()).circuit;
    assert_eq!(c.notes, "keep these notes");
    assert_eq!(c.name, "Bell");
    assert_eq!(c.ops[2].gate, "cx");
    assert_eq!(c.ops[2].qubits, vec![1, 2]);
    // Invalid OpenQASM changes nothing.
    let before = sv(live.doc());
    let (s, body) = send(
        &team.owner,
        Method::PUT,
        &path,
        "text/plain",
        b"OPENQASM 2.0;\nqreg q[1];\nbogus q[0];\n".to_vec(),
    )
    .await;
    assert_eq!(s, 422, "{body}");
    assert!(body.contains("invalid_qasm"), "{body}");
    assert_eq!(sv(&server_doc(&team.owner, &doc_id).await), before);
    // The same edit as JSON (what generated clients send); a malformed or mistyped JSON
    // body is refused as such and changes nothing either.
    for (bad, status, code) in [
        (&b"{\"qasm\": "[..], 400, "invalid_json"),
        (&b"{\"qasm\": 3}"[..], 422, "invalid_input"),
        (&b"{\"text\": \"OPENQASM 2.0;\"}"[..], 422, "invalid_input"),
    ] {
        let (s, body) = send(
            &team.owner,
            Method::PUT,
            &path,
            "application/json",
            bad.to_vec(),
        )
        .await;
        assert_eq!(s, status, "{body}");
        assert!(body.contains(code), "{body}");
    }
    assert_eq!(sv(&server_doc(&team.owner, &doc_id).await), before);
    let bell = serde_json::to_vec(&json!({"qasm": BELL})).unwrap_or_default();
    let (s, body) = send(&team.owner, Method::PUT, &path, "application/json", bell).await;
    assert_eq!(s, 200, "{body}");
    let d: DocDetail = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"));
    assert_eq!((d.stats.qubits, d.stats.two_qubit_gates), (2, 1));
    let _ = live.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_state_round_trips_and_posted_updates_are_relayed() {
    let server = TestServer::start().await;
    let team = Team::new(server.client()).await;
    let doc_id = team.doc("Bell", Some(BELL)).await;
    let live = connect(&server.url, &doc_id, team.token()).await;
    live.edit(|txn| {
        doc::push_op(txn, &op("live-1", "h", &[1]));
        let notes = txn.get_or_insert_text(doc::NOTES);
        notes.push(txn, "binary");
    })
    .await
    .unwrap_or_else(|e| panic!("{e}"));

    // GET /update bytes applied to a fresh doc give the same content.
    let mut copy = server_doc(&team.owner, &doc_id).await;
    for _ in 0..100 {
        if sv(&copy) == sv(live.doc()) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        copy = server_doc(&team.owner, &doc_id).await;
    }
    assert_eq!(doc::read(&copy), doc::read(live.doc()));

    // A valid update posted over REST is applied and relayed to connected peers.
    let update = op_update(&op("posted", "x", &[0]));
    let path = format!("/api/docs/{doc_id}/update");
    let (s, body) = send(
        &team.owner,
        Method::POST,
        &path,
        "application/octet-stream",
        update.clone(),
    )
    .await;
    assert_eq!(s, 204, "{body}");
    eventually("the posted update to reach the live client", || {
        op_ids(live.doc()).contains(&"posted".to_string())
    })
    .await;
    // Posting it again changes nothing.
    let (s, _) = send(
        &team.owner,
        Method::POST,
        &path,
        "application/octet-stream",
        update,
    )
    .await;
    assert_eq!(s, 204);
    assert_eq!(
        op_ids(&server_doc(&team.owner, &doc_id).await)
            .iter()
            .filter(|i| *i == "posted")
            .count(),
        1
    );

    // Garbage: 422, nothing changed.
    let before = state_bytes(&team.owner, &doc_id).await;
    let before_read = doc::read(&server_doc(&team.owner, &doc_id).await);
    for garbage in [
        b"definitely not a yjs update".to_vec(),
        vec![0xff; 16],
        vec![1, 1, 7],
    ] {
        let (s, body) = send(
            &team.owner,
            Method::POST,
            &path,
            "application/octet-stream",
            garbage,
        )
        .await;
        assert_eq!(s, 422, "{body}");
        assert!(body.contains("invalid_input"), "{body}");
    }
    let after = server_doc(&team.owner, &doc_id).await;
    assert_eq!(doc::read(&after), before_read);
    assert_eq!(state_bytes(&team.owner, &doc_id).await.len(), before.len());
    assert_eq!(op_ids(live.doc()).len(), 6);
    let _ = live.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restoring_a_version_is_a_forward_edit_that_clients_converge_on() {
    let server = TestServer::start().await;
    let team = Team::new(server.client()).await;
    let doc_id = team.doc("Bell", Some(BELL)).await;
    let a = connect(&server.url, &doc_id, team.token()).await;
    let b = connect(&server.url, &doc_id, team.token()).await;
    let versions_path = format!("/api/docs/{doc_id}/versions");

    let (s, body) = raw(
        &team.owner,
        Method::POST,
        &versions_path,
        Some(json!({"name": "Just the Bell pair"})),
    )
    .await;
    assert_eq!(s, 201, "{body}");
    let v1: DocVersion = serde_json::from_value(body).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(v1.kind, "named");
    assert_eq!(v1.author_id, Some(team.owner_auth.user.id));
    let at_v1 = doc::read(a.doc()).circuit;

    a.edit(|txn| {
        doc::push_op(txn, &op("later-a", "x", &[0]));
        let notes = txn.get_or_insert_text(doc::NOTES);
        notes.push(txn, "after v1");
    })
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    b.edit(|txn| doc::push_op(txn, &op("later-b", "z", &[1])))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    eventually("both edits everywhere", || {
        op_ids(a.doc()).len() == 6 && op_ids(b.doc()).len() == 6
    })
    .await;
    let before_restore = doc::read(a.doc()).circuit;

    // What changed since v1, as the history shows it: two ops added, counted by gate.
    let diff_path = format!("/api/docs/{doc_id}/versions/{}/diff", v1.id);
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    let d = loop {
        let (s, d) = raw(&team.owner, Method::GET, &diff_path, None).await;
        assert_eq!(s, 200, "{d}");
        if d["added"] == json!(2) || tokio::time::Instant::now() > deadline {
            break d;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert_eq!(d["added"], json!(2), "{d}");
    assert_eq!(d["added_by_gate"], json!({"x": 1, "z": 1}), "{d}");
    assert_eq!(
        (d["removed"].clone(), d["changed"].clone()),
        (json!(0), json!(0)),
        "{d}"
    );
    assert_eq!(d["from"]["total_gates"], json!(4), "{d}");
    assert_eq!(d["to"]["total_gates"], json!(6), "{d}");
    let (s, missing) = raw(
        &team.owner,
        Method::GET,
        &format!("/api/docs/{doc_id}/versions/{}/diff", uuid::Uuid::nil()),
        None,
    )
    .await;
    assert_eq!(s, 404, "{missing}");

    let (s, body) = raw(
        &team.owner,
        Method::POST,
        &format!("/api/docs/{doc_id}/restore"),
        Some(json!({"version_id": v1.id})),
    )
    .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["stats"]["total_gates"], 4, "{body}");
    // Connected clients converge on the restored content: a forward edit, not a reset.
    eventually("clients to converge on the restored content", || {
        doc::read(a.doc()).circuit == at_v1 && doc::read(b.doc()).circuit == at_v1
    })
    .await;
    assert_eq!(sv(a.doc()), sv(b.doc()));
    // ... and they can keep editing on top of it.
    b.edit(|txn| doc::push_op(txn, &op("after-restore", "y", &[0])))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    eventually("an edit after the restore", || {
        op_ids(a.doc()).contains(&"after-restore".to_string())
    })
    .await;

    // The state before the restore was kept as a `restore` version; restoring it brings
    // the later edits back.
    let (s, body) = raw(&team.owner, Method::GET, &versions_path, None).await;
    assert_eq!(s, 200, "{body}");
    let versions: Vec<DocVersion> =
        serde_json::from_value(body["items"].clone()).unwrap_or_else(|e| panic!("{e}"));
    assert!(versions.iter().any(|v| v.id == v1.id && v.kind == "named"));
    let undo = versions
        .iter()
        .find(|v| v.kind == "restore")
        .unwrap_or_else(|| panic!("no restore version in {versions:?}"));
    assert!(undo.name.contains("Just the Bell pair"), "{}", undo.name);
    let (s, body) = raw(
        &team.owner,
        Method::POST,
        &format!("/api/docs/{doc_id}/restore"),
        Some(json!({"version_id": undo.id})),
    )
    .await;
    assert_eq!(s, 200, "{body}");
    eventually("clients to converge on the undone restore", || {
        doc::read(a.doc()).circuit == before_restore && doc::read(b.doc()).circuit == before_restore
    })
    .await;
    let (s, _) = raw(
        &team.owner,
        Method::POST,
        &format!("/api/docs/{doc_id}/restore"),
        Some(json!({"version_id": uuid::Uuid::now_v7()})),
    )
    .await;
    assert_eq!(s, 404);
    let _ = a.close().await;
    let _ = b.close().await;
}

#[tokio::test]
async fn viewers_read_but_cannot_write_over_rest() {
    let server = TestServer::start().await;
    let team = Team::new(server.client()).await;
    let (viewer, _) = team.member("viewer", Role::Viewer).await;
    let (outsider, _) = crate::common::user(&team.anon, "outsider").await;
    let doc_id = team.doc("Bell", Some(BELL)).await;
    let (s, body) = raw(
        &team.owner,
        Method::POST,
        &format!("/api/docs/{doc_id}/versions"),
        Some(json!({"name": "v"})),
    )
    .await;
    assert_eq!(s, 201, "{body}");
    let version = body["id"].as_str().unwrap_or_default().to_string();
    let before = server_doc(&team.owner, &doc_id).await;

    for path in [
        format!("/api/workspaces/{}/docs", team.ws),
        format!("/api/docs/{doc_id}"),
        format!("/api/docs/{doc_id}/qasm"),
        format!("/api/docs/{doc_id}/update"),
        format!("/api/docs/{doc_id}/versions"),
    ] {
        let (s, body) = raw(&viewer, Method::GET, &path, None).await;
        assert_eq!(s, 200, "viewer GET {path}: {body}");
        let (s, body) = raw(&outsider, Method::GET, &path, None).await;
        assert_eq!(s, 404, "outsider GET {path}: {body}");
    }
    let writes: Vec<(Method, String, Option<serde_json::Value>)> = vec![
        (
            Method::POST,
            format!("/api/workspaces/{}/docs", team.ws),
            Some(json!({"name": "Mine"})),
        ),
        (
            Method::PATCH,
            format!("/api/docs/{doc_id}"),
            Some(json!({"name": "Renamed"})),
        ),
        (
            Method::POST,
            format!("/api/docs/{doc_id}/versions"),
            Some(json!({"name": "v2"})),
        ),
        (
            Method::POST,
            format!("/api/docs/{doc_id}/restore"),
            Some(json!({"version_id": version})),
        ),
        (Method::DELETE, format!("/api/docs/{doc_id}"), None),
    ];
    for (method, path, body) in writes {
        let (s, resp) = raw(&viewer, method.clone(), &path, body.clone()).await;
        assert_eq!(s, 403, "viewer {method} {path}: {resp}");
        assert_error(&resp, "forbidden");
        let (s, resp) = raw(&outsider, method.clone(), &path, body).await;
        assert_eq!(s, 404, "outsider {method} {path}: {resp}");
    }
    let (s, body) = send(
        &viewer,
        Method::PUT,
        &format!("/api/docs/{doc_id}/qasm"),
        "text/plain",
        BELL.as_bytes().to_vec(),
    )
    .await;
    assert_eq!(s, 403, "{body}");
    let (s, body) = send(
        &viewer,
        Method::POST,
        &format!("/api/docs/{doc_id}/update"),
        "application/octet-stream",
        op_update(&op("viewer", "x", &[0])),
    )
    .await;
    assert_eq!(s, 403, "{body}");

    // Nothing changed.
    let after = server_doc(&team.owner, &doc_id).await;
    assert_eq!(sv(&after), sv(&before));
    assert_eq!(doc::read(&after), doc::read(&before));
    let d = detail(&team.owner, &doc_id).await;
    assert_eq!(d.doc.name, "Bell");
    assert_eq!(d.stats.total_gates, 4);
    let (s, body) = raw(
        &team.owner,
        Method::GET,
        &format!("/api/docs/{doc_id}/versions"),
        None,
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(body["items"].as_array().map(Vec::len), Some(1), "{body}");
    assert_eq!(list(&team).await.len(), 1);
}
