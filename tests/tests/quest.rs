//! Quantum Quest over HTTP: the catalog without its answers, attempts judged by the
//! server's simulator, hints that cost points once, leaderboards and Bloch traces.

use qollab_client::rest::Client;
use qollab_shared::api::Role;
use reqwest::Method;
use serde_json::{Value, json};

use crate::common::team::Team;
use crate::common::{TestServer, assert_error, raw, user};

const HEADER: &str = "OPENQASM 2.0;\ninclude \"qelib1.inc\";\n";

fn qasm(body: &str) -> String {
    format!("{HEADER}{body}\n")
}

async fn attempt(client: &Client, key: &str, body: &str) -> (u16, Value) {
    raw(
        client,
        Method::POST,
        &format!("/api/quest/challenges/{key}/attempts"),
        Some(json!({ "qasm": qasm(body) })),
    )
    .await
}

async fn judged(client: &Client, key: &str, body: &str) -> Value {
    let (s, v) = attempt(client, key, body).await;
    assert_eq!(s, 201, "attempt on {key}: {v}");
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_catalog_is_served_without_its_answers() {
    let server = TestServer::start().await;
    let (me, _) = user(&server.client(), "learner").await;

    let (s, body) = raw(&server.client(), Method::GET, "/api/quest/challenges", None).await;
    assert_eq!(s, 401, "{body}");

    let (s, list) = raw(&me, Method::GET, "/api/quest/challenges", None).await;
    assert_eq!(s, 200, "{list}");
    let list = list.as_array().cloned().unwrap_or_default();
    assert!(list.len() >= 15, "{} challenges", list.len());
    for key in [
        "bell",
        "ghz3",
        "w_state",
        "teleportation",
        "grover2",
        "qft3",
        "toffoli_t7",
    ] {
        assert!(list.iter().any(|c| c["key"] == key), "no {key}");
    }
    for c in &list {
        assert!(c["par_gates"].as_u64().is_some_and(|g| g > 0), "{c}");
        assert!(
            c["starter_qasm"]
                .as_str()
                .is_some_and(|q| q.contains("qreg")),
            "{c}"
        );
        assert_eq!(c["progress"]["attempts"], 0, "{c}");
        assert_eq!(c["progress"]["solved"], false, "{c}");
        for secret in ["solution", "wrong", "hints"] {
            assert!(c.get(secret).is_none(), "{secret} leaked: {c}");
        }
    }
    // Hint texts stay on the server until revealed; their costs are public.
    let text = serde_json::to_string(&list).unwrap_or_default();
    assert!(
        !text.contains("Put q[0] in superposition first."),
        "a hint leaked"
    );
    let bell = list
        .iter()
        .find(|c| c["key"] == "bell")
        .cloned()
        .unwrap_or_default();
    assert_eq!(bell["hint_costs"], json!([10, 20]), "{bell}");
    assert_eq!(bell["par_gates"], 2, "{bell}");

    let (s, one) = raw(&me, Method::GET, "/api/quest/challenges/bell", None).await;
    assert_eq!(s, 200, "{one}");
    assert_eq!(one["title"], "Bell pair");
    assert_eq!(one["target"]["kind"], "state");
    let (s, missing) = raw(&me, Method::GET, "/api/quest/challenges/nope", None).await;
    assert_eq!(s, 404, "{missing}");
    assert_error(&missing, "not_found");

    let (s, tutorials) = raw(&me, Method::GET, "/api/quest/tutorials", None).await;
    assert_eq!(s, 200, "{tutorials}");
    assert!(
        tutorials
            .as_array()
            .is_some_and(|t| t.iter().any(|t| t["key"] == "first_steps")),
        "{tutorials}"
    );
    let (s, first) = raw(&me, Method::GET, "/api/quest/tutorials/first_steps", None).await;
    assert_eq!(s, 200, "{first}");
    assert!(
        first["lessons"].as_array().is_some_and(|l| l.len() >= 2),
        "{first}"
    );
    let (s, missing) = raw(&me, Method::GET, "/api/quest/tutorials/nope", None).await;
    assert_eq!(s, 404, "{missing}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attempts_are_judged_by_the_server_and_hints_cost_their_points_once() {
    let server = TestServer::start().await;
    let (me, _) = user(&server.client(), "solver").await;

    // Wrong state: judged, stored, no score.
    let wrong = judged(&me, "bell", "qreg q[2]; h q[0]; h q[1];").await;
    assert_eq!(wrong["passed"], false, "{wrong}");
    assert_eq!(wrong["score"], 0, "{wrong}");
    assert!(
        wrong["fidelity"].as_f64().is_some_and(|f| f < 0.9),
        "{wrong}"
    );
    assert_eq!(wrong["progress"]["attempts"], 1, "{wrong}");
    assert_eq!(wrong["progress"]["solved"], false, "{wrong}");

    // Right state, broken constraint: the violation is named.
    let long = judged(
        &me,
        "bell",
        "qreg q[2]; h q[0]; cx q[0],q[1]; x q[0]; x q[0]; z q[1]; z q[1];",
    )
    .await;
    assert_eq!(long["passed"], false, "{long}");
    assert!(
        long["violations"]
            .as_array()
            .is_some_and(|v| v.iter().any(|v| v["code"] == "too_many_gates")),
        "{long}"
    );

    // Unreadable OpenQASM: 422 with where, nothing stored.
    let (s, bad) = attempt(&me, "bell", "qreg q[2];\nh q[0]\ncx q[0],q[1];").await;
    assert_eq!(s, 422, "{bad}");
    assert_error(&bad, "invalid_qasm");
    assert_eq!(bad["error"]["details"]["line"], 5, "{bad}");
    assert!(bad["error"]["details"]["col"].as_u64().is_some(), "{bad}");
    // Past the judge's qubits: refused while reading.
    let (s, wide) = attempt(&me, "bell", "qreg q[13]; h q[0];").await;
    assert_eq!(s, 422, "{wide}");
    assert_eq!(wide["error"]["details"]["limit"], "qubits", "{wide}");
    let (s, missing) = attempt(&me, "nope", "qreg q[2];").await;
    assert_eq!(s, 404, "{missing}");

    // Hints come in order; each is charged once.
    let hint = |i: u32| {
        let me = me.clone();
        async move {
            raw(
                &me,
                Method::POST,
                &format!("/api/quest/challenges/bell/hints/{i}"),
                None,
            )
            .await
        }
    };
    let (s, early) = hint(1).await;
    assert_eq!(s, 422, "{early}");
    assert_eq!(early["error"]["details"]["next"], 0, "{early}");
    let (s, h0) = hint(0).await;
    assert_eq!(s, 200, "{h0}");
    assert_eq!(h0["text"], "Put q[0] in superposition first.");
    assert_eq!(h0["cost"], 10);
    assert_eq!(h0["revealed"], 1);
    let (s, again) = hint(0).await;
    assert_eq!(s, 200, "{again}");
    assert_eq!(
        again["revealed"], 1,
        "revealing twice must not reveal more: {again}"
    );
    let (s, none) = hint(7).await;
    assert_eq!(s, 404, "{none}");

    let pass = judged(
        &me,
        "bell",
        "qreg q[2]; creg c[2]; h q[0]; cx q[0],q[1]; measure q -> c;",
    )
    .await;
    assert_eq!(pass["passed"], true, "{pass}");
    assert!(
        pass["fidelity"].as_f64().is_some_and(|f| f > 0.999),
        "{pass}"
    );
    assert_eq!(pass["hints_used"], 1, "{pass}");
    assert_eq!(pass["hint_cost"], 10, "{pass}");
    assert_eq!(pass["score"], 90, "at par, less one hint: {pass}");
    assert_eq!(pass["new_best"], true, "{pass}");
    assert_eq!(pass["progress"]["solved"], true, "{pass}");
    assert_eq!(pass["progress"]["best_score"], 90, "{pass}");
    assert_eq!(pass["progress"]["attempts"], 3, "{pass}");

    // Larger solutions pass with less; the best stays.
    let worse = judged(
        &me,
        "bell",
        "qreg q[2]; h q[0]; cx q[0],q[1]; z q[0]; z q[0];",
    )
    .await;
    assert_eq!(worse["passed"], true, "{worse}");
    let worse_score = worse["score"].as_u64().unwrap_or(u64::MAX);
    assert!(worse_score < 90, "{worse}");
    assert_eq!(worse["new_best"], false, "{worse}");
    assert_eq!(worse["progress"]["best_score"], 90, "{worse}");

    let (s, view) = raw(&me, Method::GET, "/api/quest/challenges/bell", None).await;
    assert_eq!(s, 200, "{view}");
    assert_eq!(view["progress"]["attempts"], 4, "{view}");
    assert_eq!(
        view["progress"]["hints"][0]["text"],
        "Put q[0] in superposition first."
    );
    assert_eq!(view["progress"]["hints"].as_array().map(Vec::len), Some(1));

    let (s, history) = raw(
        &me,
        Method::GET,
        "/api/quest/challenges/bell/attempts",
        None,
    )
    .await;
    assert_eq!(s, 200, "{history}");
    let history = history["items"].as_array().cloned().unwrap_or_default();
    assert_eq!(history.len(), 4, "{history:?}");
    assert_eq!(history[0]["id"], worse["id"], "newest first");
    assert_eq!(history[1]["score"], 90);
    assert!(
        history[1]["qasm"]
            .as_str()
            .is_some_and(|q| q.contains("cx q[0],q[1]"))
    );
    assert_eq!(history[3]["passed"], false);
    let (s, first) = raw(
        &me,
        Method::GET,
        "/api/quest/challenges/bell/attempts?limit=2",
        None,
    )
    .await;
    assert_eq!(s, 200, "{first}");
    let cursor = first["next_cursor"].as_str().unwrap_or_default();
    let (s, page) = raw(
        &me,
        Method::GET,
        &format!("/api/quest/challenges/bell/attempts?cursor={cursor}&limit=1"),
        None,
    )
    .await;
    assert_eq!(s, 200, "{page}");
    assert_eq!(page["items"].as_array().map(Vec::len), Some(1), "{page}");
    assert_eq!(page["items"][0]["id"], history[2]["id"], "{page}");

    // Another player's progress is their own.
    let (other, _) = user(&server.client(), "other").await;
    let (_, theirs) = raw(&other, Method::GET, "/api/quest/challenges/bell", None).await;
    assert_eq!(theirs["progress"]["attempts"], 0, "{theirs}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leaderboards_rank_best_scores_and_name_only_people_you_work_with() {
    let server = TestServer::start().await;
    let team = Team::build(&server.url)
        .member("bo", Role::Viewer)
        .create()
        .await;
    let ada = team.owner.clone();
    let bo = team.client("bo");
    let (cy, _) = user(&server.client(), "cy").await;
    const BELL: &str = "qreg q[2]; h q[0]; cx q[0],q[1];";

    assert_eq!(judged(&ada, "bell", BELL).await["score"], 100);
    let (s, _) = raw(
        &bo,
        Method::POST,
        "/api/quest/challenges/bell/hints/0",
        None,
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(judged(&bo, "bell", BELL).await["score"], 90);
    let cy_score = judged(
        &cy,
        "bell",
        "qreg q[2]; h q[0]; cx q[0],q[1]; z q[1]; z q[1];",
    )
    .await["score"]
        .as_u64()
        .unwrap_or(0);
    assert!((1..90).contains(&cy_score), "{cy_score}");
    // A failed attempt does not put anyone on the board.
    let (dee, _) = user(&server.client(), "dee").await;
    judged(&dee, "bell", "qreg q[2]; x q[0];").await;

    let (s, board) = raw(
        &ada,
        Method::GET,
        "/api/quest/challenges/bell/leaderboard",
        None,
    )
    .await;
    assert_eq!(s, 200, "{board}");
    assert_eq!(board["players"], 3, "{board}");
    let entries = board["entries"].as_array().cloned().unwrap_or_default();
    let scores: Vec<u64> = entries.iter().filter_map(|e| e["score"].as_u64()).collect();
    assert_eq!(scores, vec![100, 90, cy_score], "{board}");
    let ranks: Vec<u64> = entries.iter().filter_map(|e| e["rank"].as_u64()).collect();
    assert_eq!(ranks, vec![1, 2, 3]);
    assert_eq!(entries[1]["name"], "bo", "a co-member is named: {board}");
    assert!(entries[1]["user_id"].is_string(), "{board}");
    assert_eq!(entries[2]["name"], "Anonymous player", "{board}");
    assert!(entries[2].get("user_id").is_none(), "{board}");
    assert_eq!(board["me"]["rank"], 1, "{board}");
    assert_eq!(board["me"]["score"], 100, "{board}");

    // A stranger sees their own line even outside the page, and no one else's name.
    let (s, theirs) = raw(
        &cy,
        Method::GET,
        "/api/quest/challenges/bell/leaderboard?limit=1",
        None,
    )
    .await;
    assert_eq!(s, 200, "{theirs}");
    assert_eq!(theirs["entries"].as_array().map(Vec::len), Some(1));
    assert_eq!(theirs["entries"][0]["name"], "Anonymous player", "{theirs}");
    assert_eq!(theirs["me"]["rank"], 3, "{theirs}");
    assert_eq!(theirs["me"]["name"], "cy", "{theirs}");
    let (s, bad) = raw(
        &cy,
        Method::GET,
        "/api/quest/challenges/bell/leaderboard?limit=0",
        None,
    )
    .await;
    assert_eq!(s, 422, "{bad}");

    // Concurrent attempts are all counted and the best survives.
    let runs = (0..6).map(|_| {
        let ada = ada.clone();
        async move {
            judged(
                &ada,
                "ghz3",
                "qreg q[3]; h q[0]; cx q[0],q[1]; cx q[1],q[2];",
            )
            .await
        }
    });
    let results = futures_util::future::join_all(runs).await;
    assert_eq!(
        results.iter().filter(|r| r["new_best"] == true).count(),
        1,
        "exactly one attempt sets the first best: {results:?}"
    );
    let (_, ghz) = raw(&ada, Method::GET, "/api/quest/challenges/ghz3", None).await;
    assert_eq!(ghz["progress"]["attempts"], 6, "{ghz}");
    assert_eq!(ghz["progress"]["best_score"], 100, "{ghz}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bloch_traces_follow_each_moment() {
    let server = TestServer::start().await;
    let (me, _) = user(&server.client(), "bloch").await;
    let trace = |body: &str| {
        let me = me.clone();
        let q = qasm(body);
        async move {
            raw(
                &me,
                Method::POST,
                "/api/quest/bloch",
                Some(json!({ "qasm": q })),
            )
            .await
        }
    };

    let (s, t) = trace("qreg q[1]; h q[0]; s q[0];").await;
    assert_eq!(s, 200, "{t}");
    assert_eq!(t["num_qubits"], 1);
    assert_eq!(t["moments"].as_array().map(Vec::len), Some(3), "{t}");
    assert_eq!(
        t["moments"][0]["vectors"][0],
        json!([0.0, 0.0, 1.0]),
        "|0⟩: {t}"
    );
    assert_eq!(
        t["moments"][1]["vectors"][0],
        json!([1.0, 0.0, 0.0]),
        "|+⟩: {t}"
    );
    assert_eq!(
        t["moments"][2]["vectors"][0],
        json!([0.0, 1.0, 0.0]),
        "|+i⟩: {t}"
    );

    // Entangled qubits have no direction of their own.
    let (s, t) = trace("qreg q[2]; h q[0]; cx q[0],q[1];").await;
    assert_eq!(s, 200, "{t}");
    assert_eq!(
        t["moments"][2]["vectors"],
        json!([[0.0, 0.0, 0.0], [0.0, 0.0, 0.0]]),
        "{t}"
    );

    let (s, wide) = trace("qreg q[13]; h q[0];").await;
    assert_eq!(s, 422, "{wide}");
    assert_error(&wide, "invalid_qasm");
    let (s, mid) = trace("qreg q[1]; creg c[1]; measure q[0] -> c[0]; h q[0];").await;
    assert_eq!(s, 422, "{mid}");
    assert_error(&mid, "invalid_input");
    let (s, bad) = trace("qreg q[1]; h q[5];").await;
    assert_eq!(s, 422, "{bad}");
    assert!(bad["error"]["details"]["line"].as_u64().is_some(), "{bad}");
}
