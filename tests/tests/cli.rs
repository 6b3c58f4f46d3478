//! The client commands of the real `qollab` binary against a test server.

use std::process::Stdio;
use std::time::Duration;

use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use crate::common::presets;
use crate::common::team::Team;
use crate::common::{PASSWORD, TestServer, binary, unique_email};
use crate::jobs::{GHZ, submit_ok, wait_job};

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

async fn qollab(cfg: &std::path::Path, args: &[&str], stdin: Option<&str>) -> Out {
    let mut cmd = tokio::process::Command::new(binary());
    cmd.args(args)
        .env("QOLLAB_CONFIG", cfg)
        .env_remove("QOLLAB_SERVER")
        .env_remove("QOLLAB_TOKEN")
        .env_remove("QOLLAB_WORKSPACE")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("spawn: {e}"));
    if let Some(mut pipe) = child.stdin.take() {
        if let Some(s) = stdin {
            let _ = pipe.write_all(s.as_bytes()).await;
        }
        drop(pipe);
    }
    let out = tokio::time::timeout(Duration::from_secs(90), child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("qollab {args:?} did not finish"))
        .unwrap_or_else(|e| panic!("{e}"));
    Out {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[tokio::test]
async fn login_submit_watch_list_show_and_a_malformed_file() {
    let server = TestServer::start().await;
    let email = unique_email("cli");
    let anon = server.client();
    let auth = anon
        .register(&email, PASSWORD, "cli")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let ws = anon
        .with_token(&auth.access_token)
        .create_workspace("CLI", None)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .id
        .to_string();
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let cfg = dir.path().join("config.json");
    let o = qollab(
        &cfg,
        &[
            "login",
            "--server",
            &server.url,
            "--email",
            &email,
            "--password-stdin",
        ],
        Some(&format!("{PASSWORD}\n")),
    )
    .await;
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(cfg.exists());

    let ghz = dir.path().join("ghz.qasm");
    std::fs::write(&ghz, GHZ).unwrap_or_else(|e| panic!("{e}"));
    let ghz = ghz.to_string_lossy().to_string();
    let o = qollab(
        &cfg,
        &["submit", &ghz, "--workspace", &ws, "--watch", "--seed", "5"],
        None,
    )
    .await;
    assert_eq!(o.code, 0, "{}\n{}", o.stdout, o.stderr);
    let bits: Vec<&str> = o
        .stdout
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|w| !w.is_empty() && w.chars().all(|c| c == '0' || c == '1'))
        .collect();
    assert_eq!(bits.len(), 2, "{}", o.stdout);
    assert!(
        bits.contains(&"000") && bits.contains(&"111"),
        "{}",
        o.stdout
    );

    let o = qollab(&cfg, &["jobs", "list", "--workspace", &ws, "--json"], None).await;
    assert_eq!(o.code, 0, "{}", o.stderr);
    let jobs: serde_json::Value = serde_json::from_str(&o.stdout).unwrap_or_default();
    let id = jobs[0]["id"].as_str().unwrap_or_default().to_string();
    assert_eq!(jobs[0]["status"], "completed", "{}", o.stdout);
    let o = qollab(&cfg, &["jobs", "show", &id], None).await;
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(
        o.stdout.contains("completed") && o.stdout.contains("111"),
        "{}",
        o.stdout
    );

    let bad = dir.path().join("bad.qasm");
    std::fs::write(&bad, "OPENQASM 2.0;\nqreg q[1];\nfoo q[0];\n")
        .unwrap_or_else(|e| panic!("{e}"));
    let o = qollab(&cfg, &["submit", &bad.to_string_lossy(), "-w", &ws], None).await;
    assert_eq!(o.code, 2, "{}", o.stderr);
    assert!(
        o.stderr.contains("line 3:1") && o.stderr.contains("(invalid_qasm)"),
        "{}",
        o.stderr
    );
    assert!(!o.stderr.contains("panicked"));
}

#[tokio::test]
async fn circuit_info_reports_qubits_and_positions_of_errors() {
    let file = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../quantum/benches/data/barenco_tof_5.qasm"
    );
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let cfg = dir.path().join("config.json");
    let o = qollab(&cfg, &["circuit", "info", file, "--json"], None).await;
    assert_eq!(o.code, 0, "{}", o.stderr);
    let v: serde_json::Value = serde_json::from_str(&o.stdout).unwrap_or_default();
    assert_eq!(v["qubits"], 9, "{}", o.stdout);
    let bad = dir.path().join("bad.qasm");
    std::fs::write(
        &bad,
        "OPENQASM 2.0;\ninclude \"qelib1.inc\";\nqreg q[2];\nbogus q[0];\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let o = qollab(&cfg, &["circuit", "info", &bad.to_string_lossy()], None).await;
    assert_ne!(o.code, 0);
    assert!(o.stderr.contains("line 4:1"), "{}", o.stderr);
}

/// A user with a workspace on a server; returns the token and the workspace id.
async fn account(server: &TestServer) -> (qollab_client::rest::Client, String, String) {
    let t = Team::build(&server.url).named("CLI").create().await;
    let token = t.token().to_string();
    (t.owner, token, t.ws.to_string())
}

#[tokio::test]
async fn jobs_cancel_and_the_live_event_stream() {
    let server = TestServer::start_with(presets::one_slow_job_at_a_time).await;
    let (client, token, ws) = account(&server).await;
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let cfg = dir.path().join("config.json");
    let conn = ["--server", server.url.as_str(), "--token", token.as_str()];

    // `qollab events` as a child process, its lines read as they come.
    let mut events = tokio::process::Command::new(binary())
        .args(["events", "-w", &ws, "--since", "0"])
        .args(conn)
        .env("QOLLAB_CONFIG", &cfg)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("spawn events: {e}"));
    let stdout = events.stdout.take().unwrap_or_else(|| panic!("no stdout"));
    let mut lines = BufReader::new(stdout).lines();

    let ws_id = uuid::Uuid::parse_str(&ws).unwrap_or_else(|e| panic!("{e}"));
    let slow = submit_ok(
        &client,
        ws_id,
        json!({"source": {"qasm": GHZ}, "backend": "emulator:qollab_t5", "shots": 100}),
    )
    .await;
    let queued = submit_ok(&client, ws_id, json!({"source": {"qasm": GHZ}})).await;
    let o = qollab(
        &cfg,
        &[&["jobs", "cancel", &queued.id.to_string()][..], &conn[..]].concat(),
        None,
    )
    .await;
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(
        o.stdout.contains(&format!("job {} cancelled", queued.id)),
        "{}",
        o.stdout
    );
    // The slow one is running (one worker) or about to: cancel asks it to stop.
    let o = qollab(
        &cfg,
        &[&["jobs", "cancel", &slow.id.to_string()][..], &conn[..]].concat(),
        None,
    )
    .await;
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(wait_job(&client, slow.id).await.status, "cancelled");
    let o = qollab(
        &cfg,
        &[&["jobs", "cancel", &slow.id.to_string()][..], &conn[..]].concat(),
        None,
    )
    .await;
    assert_eq!(o.code, 1, "cancelling a finished job fails: {}", o.stdout);
    assert!(o.stderr.contains("(already_finished)"), "{}", o.stderr);
    let o = qollab(
        &cfg,
        &[&["jobs", "cancel", "not-a-uuid"][..], &conn[..]].concat(),
        None,
    )
    .await;
    assert_eq!(o.code, 2, "{}", o.stderr);

    // The stream printed both jobs' lifecycles, ending in cancelled.
    let mut seen = Vec::new();
    let want = |seen: &[String], id: &uuid::Uuid| {
        seen.iter()
            .any(|l| l.contains(&id.to_string()) && l.contains("cancelled"))
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !(want(&seen, &slow.id) && want(&seen, &queued.id)) {
        let line = tokio::time::timeout_at(deadline, lines.next_line())
            .await
            .unwrap_or_else(|_| panic!("qollab events printed only {seen:#?}"))
            .unwrap_or_else(|e| panic!("{e}"))
            .unwrap_or_else(|| panic!("qollab events exited after {seen:#?}"));
        seen.push(line);
    }
    assert!(
        seen.iter()
            .any(|l| l.contains(&slow.id.to_string()) && l.contains("queued")),
        "{seen:#?}"
    );
    events
        .kill()
        .await
        .unwrap_or_else(|e| panic!("kill events: {e}"));
}

/// Runs `qollab ARGS` with its standard output a pipe nobody reads (closed before the
/// command starts, as when `| head` has exited).
async fn into_closed_pipe(cfg: &std::path::Path, args: &[&str]) -> (Option<i32>, String) {
    let (reader, writer) = std::io::pipe().unwrap_or_else(|e| panic!("pipe: {e}"));
    drop(reader);
    let child = tokio::process::Command::new(binary())
        .args(args)
        .env("QOLLAB_CONFIG", cfg)
        .stdout(Stdio::from(writer))
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("spawn: {e}"));
    let out = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("qollab {args:?} did not stop on a closed pipe"))
        .unwrap_or_else(|e| panic!("{e}"));
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn every_command_exits_quietly_when_its_output_pipe_is_closed() {
    let server = TestServer::start().await;
    let (client, token, ws) = account(&server).await;
    let ws_id = uuid::Uuid::parse_str(&ws).unwrap_or_else(|e| panic!("{e}"));
    let job = submit_ok(&client, ws_id, json!({"source": {"qasm": GHZ}})).await;
    wait_job(&client, job.id).await;
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let cfg = dir.path().join("config.json");
    let file = dir.path().join("ghz.qasm");
    std::fs::write(&file, GHZ).unwrap_or_else(|e| panic!("{e}"));
    let file = file.to_string_lossy().to_string();
    let id = job.id.to_string();
    let conn = ["--server", server.url.as_str(), "--token", token.as_str()];
    let commands: Vec<Vec<&str>> = vec![
        vec!["circuit", "info", &file],
        vec!["circuit", "simulate", &file, "--json"],
        vec!["circuit", "convert", &file, "--to", "qasm3"],
        [&["jobs", "list", "-w", &ws][..], &conn[..]].concat(),
        [&["jobs", "show", &id][..], &conn[..]].concat(),
        [&["jobs", "show", &id, "--json"][..], &conn[..]].concat(),
        [&["events", "-w", &ws, "--since", "0"][..], &conn[..]].concat(),
    ];
    for args in commands {
        let (code, stderr) = into_closed_pipe(&cfg, &args).await;
        assert!(
            !stderr.contains("panicked"),
            "qollab {args:?} panicked: {stderr}"
        );
        assert_eq!(code, Some(0), "qollab {args:?}: {stderr}");
    }
}

#[tokio::test]
async fn ai_ask_streams_the_answer_and_jobs_explain_prints_the_analysis() {
    use crate::common::openai::{Reply, StandIn};
    // Pieces far enough apart that the failure's own analysis is still being written
    // when `jobs explain` first looks.
    let stand_in = StandIn::start(Reply::Text {
        pieces: vec!["Bell pairs".into(), " are correlated.".into()],
        gap: Duration::from_millis(800),
    })
    .await;
    let url = stand_in.url.clone();
    let server = TestServer::start_with(move |c| {
        c.ai.base_url = url;
        c.ai.api_key = Some("sk-test-stand-in-0123456789".into());
        presets::reliable_emulator(c, 0.0);
        c.jobs.emulator.calibration_drift = 1.0;
    })
    .await;
    let t = Team::build(&server.url).enterprise().create().await;
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let cfg = dir.path().join("config.json");
    let token = t.token().to_string();
    let ws = t.ws.to_string();
    let conn = ["--server", server.url.as_str(), "--token", token.as_str()];
    let mut args = vec!["ai", "ask", "-w", ws.as_str(), "what is a Bell pair?"];
    args.extend(conn);
    let out = qollab(&cfg, &args, None).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.stdout, "Bell pairs are correlated.\n");

    let job = submit_ok(
        &t.owner,
        t.ws,
        json!({"source": {"qasm": GHZ}, "backend": "emulator:qollab_falcon27", "shots": 10}),
    )
    .await;
    assert_eq!(wait_job(&t.owner, job.id).await.status, "failed");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !matches!(t.owner.job_analysis(job.id).await, Ok(a) if a.status == "running") {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no automatic analysis"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let id = job.id.to_string();
    // The failure's own analysis may still be streaming: joined late, the text prints
    // whole when done (its first pieces were never stored); finished, it prints as stored.
    for again in [false, true] {
        let mut args = vec!["jobs", "explain", id.as_str()];
        if again {
            args.push("--again");
        }
        args.extend(conn);
        let out = qollab(&cfg, &args, None).await;
        assert_eq!(out.code, 0, "{}", out.stderr);
        assert_eq!(out.stdout, "Bell pairs are correlated.\n", "again: {again}");
        assert_eq!(
            out.stderr.contains("being written"),
            !again,
            "again: {again}: {}",
            out.stderr
        );
    }
}

#[tokio::test]
async fn quest_list_show_hint_attempt_and_leaderboard() {
    let server = TestServer::start().await;
    let (_, token, _) = account(&server).await;
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let cfg = dir.path().join("config.json");
    let conn = ["--server", server.url.as_str(), "--token", token.as_str()];
    let run = |args: Vec<&str>, stdin: Option<&str>| {
        let all: Vec<String> = args
            .iter()
            .chain(conn.iter())
            .map(|a| a.to_string())
            .collect();
        let cfg = cfg.clone();
        let stdin = stdin.map(str::to_string);
        async move {
            let all: Vec<&str> = all.iter().map(String::as_str).collect();
            qollab(&cfg, &all, stdin.as_deref()).await
        }
    };

    let list = run(vec!["quest", "list"], None).await;
    assert_eq!(list.code, 0, "{}", list.stderr);
    assert!(list.stdout.starts_with("KEY"), "{}", list.stdout);
    assert!(
        list.stdout
            .lines()
            .any(|l| l.starts_with("bell ") && l.contains("Bell pair")),
        "{}",
        list.stdout
    );

    let show = run(vec!["quest", "show", "bell"], None).await;
    assert_eq!(show.code, 0, "{}", show.stderr);
    assert!(
        show.stdout.contains("Bell pair (bell, beginner)"),
        "{}",
        show.stdout
    );
    assert!(show.stdout.contains("≤ 4 gates"), "{}", show.stdout);
    assert!(show.stdout.contains("2 more hint(s)"), "{}", show.stdout);

    let hint = run(vec!["quest", "hint", "bell"], None).await;
    assert_eq!(hint.code, 0, "{}", hint.stderr);
    assert!(
        hint.stdout.contains("Put q[0] in superposition first."),
        "{}",
        hint.stdout
    );

    let wrong = "OPENQASM 2.0;\ninclude \"qelib1.inc\";\nqreg q[2];\nh q[0];\nh q[1];\n";
    let failed = run(vec!["quest", "attempt", "bell", "-"], Some(wrong)).await;
    assert_eq!(
        failed.code, 1,
        "a failing attempt exits 1: {}",
        failed.stderr
    );
    assert!(failed.stdout.starts_with("FAILED"), "{}", failed.stdout);

    let file = dir.path().join("bell.qasm");
    std::fs::write(
        &file,
        "OPENQASM 2.0;\ninclude \"qelib1.inc\";\nqreg q[2];\nh q[0];\ncx q[0],q[1];\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let path = file.to_string_lossy().to_string();
    let passed = run(vec!["quest", "attempt", "bell", path.as_str()], None).await;
    assert_eq!(passed.code, 0, "{}{}", passed.stdout, passed.stderr);
    assert!(passed.stdout.starts_with("PASSED"), "{}", passed.stdout);
    assert!(
        passed
            .stdout
            .contains("score 90 (after −10 for 1 hint(s)), your new best"),
        "{}",
        passed.stdout
    );

    let board = run(vec!["quest", "leaderboard", "bell", "--json"], None).await;
    assert_eq!(board.code, 0, "{}", board.stderr);
    let v: serde_json::Value =
        serde_json::from_str(&board.stdout).unwrap_or_else(|e| panic!("{e}: {}", board.stdout));
    assert_eq!(v["me"]["rank"], 1, "{v}");
    assert_eq!(v["me"]["score"], 90, "{v}");

    let bad = run(
        vec!["quest", "attempt", "bell", "-"],
        Some("OPENQASM 2.0;\nqreg q[2];\nh q[0]\n"),
    )
    .await;
    assert_eq!(bad.code, 2, "{}", bad.stderr);
    assert!(bad.stderr.contains("line "), "{}", bad.stderr);
    let missing = run(vec!["quest", "show", "nope"], None).await;
    assert_eq!(missing.code, 1, "{}", missing.stderr);
    assert!(
        missing.stderr.contains("challenge 'nope' not found"),
        "{}",
        missing.stderr
    );
}

#[tokio::test]
async fn me_prints_points_level_and_achievements() {
    let server = TestServer::start().await;
    let (client, token, _) = account(&server).await;
    let (s, v) = crate::common::raw(
        &client,
        reqwest::Method::POST,
        "/api/quest/challenges/bell/attempts",
        Some(json!({"qasm": "OPENQASM 2.0;\ninclude \"qelib1.inc\";\nqreg q[2];\nh q[0];\ncx q[0],q[1];\n"})),
    )
    .await;
    assert_eq!(s, 201, "{v}");
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let cfg = dir.path().join("config.json");
    let out = qollab(
        &cfg,
        &[
            "me",
            "--server",
            server.url.as_str(),
            "--token",
            token.as_str(),
        ],
        None,
    )
    .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let first = out.stdout.lines().next().unwrap_or_default();
    assert!(first.contains("level 2, 120 points"), "{}", out.stdout);
    assert!(out.stdout.contains("✓ Questing"), "{}", out.stdout);
    assert!(out.stdout.contains("achievements: 1 of "), "{}", out.stdout);
}

#[tokio::test]
async fn notifications_list_prefs_and_read_all() {
    let server = TestServer::start().await;
    let team = crate::common::team::Team::build(&server.url)
        .named("Lab")
        .member("bo", qollab_shared::api::Role::Editor)
        .create()
        .await;
    let token = team.get("bo").auth.access_token.clone();
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let cfg = dir.path().join("config.json");
    let run = |args: Vec<&str>| {
        let mut all: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        all.extend([
            "--server".into(),
            server.url.clone(),
            "--token".into(),
            token.clone(),
        ]);
        let cfg = cfg.clone();
        async move {
            let all: Vec<&str> = all.iter().map(String::as_str).collect();
            qollab(&cfg, &all, None).await
        }
    };
    // The consumer runs in the background: wait for bo's notice of being added.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    let list = loop {
        let list = run(vec!["notifications", "list"]).await;
        assert_eq!(list.code, 0, "{}", list.stderr);
        if list.stdout.contains("You were added to Lab") {
            break list;
        }
        assert!(tokio::time::Instant::now() < deadline, "{}", list.stdout);
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    let lines: Vec<&str> = list.stdout.lines().collect();
    assert!(
        lines[0].contains("ID") && lines[0].contains("KIND"),
        "{}",
        list.stdout
    );
    assert!(
        lines.iter().any(|l| l.starts_with('*')
            && l.contains("membership")
            && l.contains("You were added to Lab — as editor")),
        "{}",
        list.stdout
    );
    assert_eq!(lines.last().copied(), Some("1 unread"), "{}", list.stdout);

    let json = run(vec!["notifications", "list", "--json"]).await;
    let v: serde_json::Value =
        serde_json::from_str(&json.stdout).unwrap_or_else(|e| panic!("{e}: {}", json.stdout));
    assert_eq!(v["unread"], 1, "{v}");

    let prefs = run(vec![
        "notifications",
        "prefs",
        "mention=digest",
        "session=off",
    ])
    .await;
    assert_eq!(prefs.code, 0, "{}", prefs.stderr);
    assert!(
        prefs.stdout.contains("mention      digest"),
        "{}",
        prefs.stdout
    );
    assert!(
        prefs.stdout.contains("session      off"),
        "{}",
        prefs.stdout
    );
    assert!(
        prefs.stdout.contains("job          live"),
        "{}",
        prefs.stdout
    );
    let bad = run(vec!["notifications", "prefs", "gossip=loud"]).await;
    assert_eq!(bad.code, 2, "{} {}", bad.stdout, bad.stderr);
    assert!(
        bad.stderr.contains("KIND=live|digest|off"),
        "{}",
        bad.stderr
    );

    let all = run(vec!["notifications", "read-all"]).await;
    assert_eq!(all.code, 0, "{}", all.stderr);
    assert_eq!(all.stdout, "marked 1 notification(s) read\n");
    let unread = run(vec!["notifications", "list", "--unread"]).await;
    assert_eq!(unread.stdout, "no notifications\n", "{}", unread.stderr);
}

/// `qollab ARGS` that must succeed; its standard output.
async fn ok(cfg: &std::path::Path, args: &[&str]) -> String {
    let o = qollab(cfg, args, None).await;
    assert_eq!(o.code, 0, "qollab {args:?}: {}{}", o.stdout, o.stderr);
    o.stdout
}

#[tokio::test]
async fn account_workspace_member_token_and_raw_api_commands() {
    let server = TestServer::start().await;
    let anon = server.client();
    let email = unique_email("cli-admin");
    let auth = anon
        .register(&email, PASSWORD, "Ada")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let owner = anon.with_token(&auth.access_token);
    let bob_email = unique_email("cli-bob");
    let bob_auth = anon
        .register(&bob_email, PASSWORD, "Bob")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let secret = owner
        .create_token("handmade")
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .secret;
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let cfg = dir.path().join("config.json");
    let cfg = cfg.as_path();

    // A token made elsewhere is checked, then stored; nothing else is asked.
    let o = qollab(
        cfg,
        &["login", "--server", &server.url, "--with-token"],
        Some("not-a-token\n"),
    )
    .await;
    assert_eq!(o.code, 1, "{}", o.stderr);
    assert!(!cfg.exists(), "a refused token is not stored");
    let o = qollab(
        cfg,
        &["login", "--server", &server.url, "--with-token"],
        Some(&format!("{secret}\n")),
    )
    .await;
    assert_eq!(o.code, 0, "{}", o.stderr);
    let status = ok(cfg, &["status"]).await;
    assert!(
        status.contains(&email) && status.contains(&server.url),
        "{status}"
    );
    assert!(status.contains("workspace: none"), "{status}");

    // Without a workspace anywhere, a command that needs one says how to name it.
    let o = qollab(cfg, &["jobs", "list"], None).await;
    assert_eq!(o.code, 2, "{}", o.stderr);
    assert!(o.stderr.contains("QOLLAB_WORKSPACE"), "{}", o.stderr);

    let created = ok(
        cfg,
        &[
            "workspaces",
            "create",
            "Lab X",
            "--description",
            "Bell experiments",
        ],
    )
    .await;
    assert!(
        created.starts_with("created workspace Lab X ("),
        "{created}"
    );
    let ws: serde_json::Value =
        serde_json::from_str(&ok(cfg, &["api", "GET", "/api/workspaces"]).await)
            .unwrap_or_default();
    let lab = ws
        .as_array()
        .and_then(|a| a.iter().find(|w| w["name"] == "Lab X"))
        .unwrap_or_else(|| panic!("{ws}"));
    let ws_id = lab["id"].as_str().unwrap_or_default().to_string();
    assert_eq!(lab["description"], "Bell experiments");

    ok(cfg, &["config", "set", "workspace", "Lab X"]).await;
    assert_eq!(ok(cfg, &["config", "get", "workspace"]).await, "Lab X\n");
    let o = qollab(cfg, &["config", "set", "colour", "blue"], None).await;
    assert_eq!(o.code, 2, "{}", o.stderr);
    let status = ok(cfg, &["status"]).await;
    assert!(
        status.contains(&format!("workspace: Lab X ({ws_id})")),
        "{status}"
    );
    // Listings piped are tab-separated, one row per line, no header.
    assert_eq!(
        ok(cfg, &["workspaces", "list"])
            .await
            .lines()
            .filter(|l| l.starts_with(&format!("{ws_id}\tLab X\towner\t")))
            .count(),
        1
    );

    // Members, all against the default workspace.
    let added = ok(cfg, &["members", "add", &bob_email, "--role", "viewer"]).await;
    assert_eq!(added, format!("added Bob <{bob_email}> as viewer\n"));
    let list = ok(cfg, &["members", "list"]).await;
    assert!(
        list.lines()
            .any(|l| l == format!("Bob\t{bob_email}\tviewer")),
        "{list}"
    );
    assert!(
        list.lines().any(|l| l == format!("Ada\t{email}\towner")),
        "{list}"
    );
    ok(cfg, &["members", "role", &bob_email, "editor"]).await;
    let members: serde_json::Value =
        serde_json::from_str(&ok(cfg, &["members", "list", "--json"]).await).unwrap_or_default();
    let bob = members
        .as_array()
        .and_then(|a| a.iter().find(|m| m["email"] == bob_email.as_str()))
        .unwrap_or_else(|| panic!("{members}"));
    assert_eq!(bob["role"], "editor");
    let o = qollab(
        cfg,
        &["members", "role", "nobody@example.com", "viewer"],
        None,
    )
    .await;
    assert_eq!(o.code, 2, "{}", o.stderr);
    let show = ok(cfg, &["workspaces", "show"]).await;
    assert!(
        show.contains("members: 2") && show.contains("Bell experiments"),
        "{show}"
    );
    // Bob is not an owner: the server refuses, and the CLI says so.
    let bob_cfg = dir.path().join("bob.json");
    let o = qollab(
        &bob_cfg,
        &[
            "members",
            "remove",
            &email,
            "-w",
            &ws_id,
            "--server",
            &server.url,
            "--token",
            &bob_auth.access_token,
        ],
        None,
    )
    .await;
    assert_eq!(o.code, 1, "{}", o.stderr);
    assert!(o.stderr.starts_with("error: "), "{}", o.stderr);
    ok(cfg, &["members", "remove", &bob_email]).await;
    assert!(!ok(cfg, &["members", "list"]).await.contains(&bob_email));

    // -w and QOLLAB_WORKSPACE win over the configured default.
    ok(cfg, &["jobs", "list"]).await;
    let o = qollab(cfg, &["jobs", "list", "-w", "No such place"], None).await;
    assert_eq!(o.code, 2, "{}", o.stderr);

    let backends: serde_json::Value =
        serde_json::from_str(&ok(cfg, &["backends", "--json"]).await).unwrap_or_default();
    let names: Vec<&str> = backends
        .as_array()
        .map(|a| a.iter().filter_map(|b| b["name"].as_str()).collect())
        .unwrap_or_default();
    let table = ok(cfg, &["backends"]).await;
    assert_eq!(table.lines().count(), names.len(), "{table}");
    assert!(
        names.contains(&"ideal") && table.contains("ideal\tsimulator\t"),
        "{table}"
    );

    // Tokens: made, listed, revoked, and then refused.
    let new_secret = ok(cfg, &["tokens", "create", "ci-runner"])
        .await
        .trim()
        .to_string();
    let tokens: serde_json::Value =
        serde_json::from_str(&ok(cfg, &["tokens", "list", "--json"]).await).unwrap_or_default();
    let ci = tokens
        .as_array()
        .and_then(|a| a.iter().find(|t| t["name"] == "ci-runner"))
        .unwrap_or_else(|| panic!("{tokens}"));
    let ci_id = ci["id"].as_str().unwrap_or_default().to_string();
    let me = ok(cfg, &["api", "get", "/api/me", "--token", &new_secret]).await;
    assert!(me.contains(&email), "{me}");
    ok(cfg, &["tokens", "revoke", &ci_id]).await;
    let o = qollab(
        cfg,
        &["api", "GET", "/api/me", "--token", &new_secret],
        None,
    )
    .await;
    assert_eq!(o.code, 1, "{}", o.stdout);
    assert!(
        o.stderr.contains("401") && o.stdout.contains("\"code\""),
        "{}{}",
        o.stdout,
        o.stderr
    );

    // Raw requests: a body, and input errors caught before anything is sent.
    let made: serde_json::Value = serde_json::from_str(
        &ok(
            cfg,
            &[
                "api",
                "POST",
                "/api/workspaces",
                "-d",
                r#"{"name": "Via api"}"#,
            ],
        )
        .await,
    )
    .unwrap_or_default();
    assert_eq!(made["name"], "Via api");
    for bad in [
        vec!["api", "POST", "/api/workspaces", "-d", "{name"],
        vec!["api", "GET", "api/workspaces"],
        vec!["api", "BREW", "/api/workspaces"],
    ] {
        let o = qollab(cfg, &bad, None).await;
        assert_eq!(o.code, 2, "{bad:?}: {}", o.stderr);
    }

    // Logging out of a stored handmade token forgets it (it was not made here).
    let out = ok(cfg, &["logout"]).await;
    assert!(out.contains("removed from"), "{out}");
    let o = qollab(cfg, &["status"], None).await;
    assert_eq!(o.code, 1);
    assert!(o.stdout.contains("logged in: no"), "{}", o.stdout);
    assert!(
        owner
            .tokens()
            .await
            .unwrap_or_default()
            .iter()
            .any(|t| t.name == "handmade")
    );
    // The token `login` makes is revoked by `logout`.
    let o = qollab(
        cfg,
        &[
            "login",
            "--server",
            &server.url,
            "--email",
            &email,
            "--password-stdin",
        ],
        Some(&format!("{PASSWORD}\n")),
    )
    .await;
    assert_eq!(o.code, 0, "{}", o.stderr);
    let made_here = |ts: &[qollab_shared::api::ApiToken]| {
        ts.iter()
            .filter(|t| t.name.starts_with("qollab-cli@"))
            .count()
    };
    assert_eq!(made_here(&owner.tokens().await.unwrap_or_default()), 1);
    assert!(ok(cfg, &["logout"]).await.contains("revoked"));
    assert_eq!(made_here(&owner.tokens().await.unwrap_or_default()), 0);
    // --token with no e-mail stores that token.
    ok(cfg, &["login", "--server", &server.url, "--token", &secret]).await;
    assert!(ok(cfg, &["status"]).await.contains(&email));
}

#[tokio::test]
async fn completions_are_printed_for_each_shell() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let cfg = dir.path().join("config.json");
    for (shell, marker) in [
        ("bash", "_qollab()"),
        ("zsh", "#compdef qollab"),
        ("fish", "complete -c qollab"),
    ] {
        let out = ok(&cfg, &["completions", shell]).await;
        assert!(
            out.contains(marker),
            "{shell}: {}",
            &out[..out.len().min(300)]
        );
        assert!(
            out.contains("workspaces") && out.contains("members"),
            "{shell}"
        );
    }
    let o = qollab(&cfg, &["completions", "tcsh"], None).await;
    assert_eq!(o.code, 2, "{}", o.stderr);
}

#[tokio::test]
async fn docs_sessions_and_schedules_from_the_terminal() {
    use crate::common::circuits::{BELL, GHZ};
    let server = TestServer::start().await;
    let (client, token, ws) = account(&server).await;
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let cfg = dir.path().join("config.json");
    let cfg = cfg.as_path();
    ok(cfg, &["login", "--server", &server.url, "--token", &token]).await;
    ok(cfg, &["config", "set", "workspace", &ws]).await;
    let bell = dir.path().join("bell.qasm");
    std::fs::write(&bell, BELL).unwrap_or_else(|e| panic!("{e}"));
    let bell = bell.to_string_lossy().to_string();
    let ghz = dir.path().join("ghz.qasm");
    std::fs::write(&ghz, GHZ).unwrap_or_else(|e| panic!("{e}"));
    let ghz = ghz.to_string_lossy().to_string();
    let bad = dir.path().join("bad.qasm");
    std::fs::write(&bad, "OPENQASM 2.0;\nqreg q[1];\nh q[0;\n").unwrap_or_else(|e| panic!("{e}"));
    let bad = bad.to_string_lossy().to_string();

    // Documents: created from a file, found by name, shown, exported as the server has it.
    let made = ok(cfg, &["docs", "create", "Bell pair", &bell]).await;
    assert!(made.starts_with("created document Bell pair ("), "{made}");
    let o = qollab(cfg, &["docs", "create", "Broken", &bad], None).await;
    assert_eq!(o.code, 2, "{}", o.stderr);
    assert!(o.stderr.contains("line 3:"), "{}", o.stderr);
    let list = ok(cfg, &["docs", "list"]).await;
    assert_eq!(
        list.lines().count(),
        1,
        "a refused create makes nothing: {list}"
    );
    let doc_id = list.split('\t').next().unwrap_or_default().to_string();
    let doc: uuid::Uuid = doc_id.parse().unwrap_or_else(|e| panic!("{list}: {e}"));
    let show = ok(cfg, &["docs", "show", "Bell pair"]).await;
    assert!(
        show.contains("qubits 2") && show.contains("two-qubit 1"),
        "{show}"
    );
    let exported = ok(cfg, &["docs", "export", "Bell pair"]).await;
    let stored = client
        .export_qasm(doc, None)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(stored.contains("cx q[0], q[1];"), "{stored}");
    assert_eq!(exported.trim_end(), stored.trim_end());

    // History: save, import something else, restore by the version's name.
    let history = ok(cfg, &["docs", "history", "Bell pair", "--save", "v1"]).await;
    assert!(
        history.lines().any(|l| l.split('\t').nth(1) == Some("v1")),
        "{history}"
    );
    let imported = ok(cfg, &["docs", "import", &doc_id, &ghz]).await;
    assert!(imported.contains("on 3 qubits"), "{imported}");
    let o = qollab(cfg, &["docs", "import", &doc_id, &bad], None).await;
    assert_eq!(o.code, 2, "{}", o.stderr);
    assert!(
        ok(cfg, &["docs", "show", &doc_id, "--json"])
            .await
            .contains("\"qubits\": 3"),
        "a refused import changes nothing"
    );
    let restored = ok(cfg, &["docs", "restore", "Bell pair", "v1"]).await;
    assert!(restored.contains("on 2 qubits"), "{restored}");
    let o = qollab(cfg, &["docs", "restore", "Bell pair", "v9"], None).await;
    assert_eq!(o.code, 2, "{}", o.stderr);

    // A job from the document, inside a session.
    let session = ok(cfg, &["sessions", "open", "--idle-timeout", "600"])
        .await
        .trim()
        .to_string();
    let sessions = ok(cfg, &["sessions", "list", "--status", "open"]).await;
    assert!(
        sessions.starts_with(&format!("{session}\tideal\topen\t")),
        "{sessions}"
    );
    let o = qollab(
        cfg,
        &[
            "submit",
            "--doc",
            "Bell pair",
            "--session",
            &session,
            "--seed",
            "3",
            "--json",
        ],
        None,
    )
    .await;
    assert_eq!(o.code, 0, "{}", o.stderr);
    let job: serde_json::Value = serde_json::from_str(&o.stdout).unwrap_or_default();
    assert_eq!(job["source_doc_id"], doc_id.as_str(), "{}", o.stdout);
    assert_eq!(job["session_id"], session.as_str(), "{}", o.stdout);
    let job_id: uuid::Uuid = job["id"]
        .as_str()
        .unwrap_or_default()
        .parse()
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(wait_job(&client, job_id).await.status, "completed");
    let o = qollab(cfg, &["submit", &bell, "--doc", "Bell pair"], None).await;
    assert_eq!(o.code, 2, "a file and --doc together: {}", o.stderr);
    let closed = ok(cfg, &["sessions", "close", &session]).await;
    assert!(closed.starts_with(&format!("closed {session}")), "{closed}");
    assert_eq!(ok(cfg, &["sessions", "list", "--status", "open"]).await, "");

    // Schedules: created on the document, paused, resumed, deleted.
    let sched = ok(
        cfg,
        &[
            "schedules",
            "create",
            "0 9 * * 1-5",
            "--doc",
            "Bell pair",
            "--tz",
            "Europe/Paris",
            "--name",
            "mornings",
        ],
    )
    .await
    .trim()
    .to_string();
    let o = qollab(cfg, &["schedules", "create", "61 * * * *", &bell], None).await;
    assert_eq!(o.code, 2, "{}", o.stderr);
    let list = ok(cfg, &["schedules", "list"]).await;
    let row: Vec<&str> = list
        .lines()
        .next()
        .unwrap_or_default()
        .split('\t')
        .collect();
    assert_eq!(
        row.get(..5),
        Some(
            &[
                sched.as_str(),
                "mornings",
                "0 9 * * 1-5 Europe/Paris",
                "ideal",
                "active"
            ][..]
        ),
        "{list}"
    );
    assert!(
        ok(cfg, &["schedules", "pause", &sched])
            .await
            .starts_with("paused")
    );
    assert!(ok(cfg, &["schedules", "list"]).await.contains("\tpaused\t"));
    assert!(
        ok(cfg, &["schedules", "resume", &sched])
            .await
            .starts_with("resumed")
    );
    ok(cfg, &["schedules", "delete", &sched]).await;
    assert_eq!(ok(cfg, &["schedules", "list"]).await, "");
}

#[tokio::test]
async fn analytics_prints_a_report_csv_and_json() {
    let server = TestServer::start().await;
    let team = Team::build(&server.url).named("Numbers lab").create().await;
    let job = submit_ok(
        &team.owner,
        team.ws,
        json!({"source": {"qasm": GHZ}, "backend": "ideal", "shots": 300}),
    )
    .await;
    assert_eq!(wait_job(&team.owner, job.id).await.status, "completed");
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let cfg = dir.path().join("config.json");
    let ws = team.ws.to_string();
    let conn = ["--server", server.url.as_str(), "--token", team.token()];
    let with = |extra: &[&str]| -> Vec<String> {
        ["analytics", "-w", ws.as_str()]
            .iter()
            .chain(extra)
            .chain(conn.iter())
            .map(|s| s.to_string())
            .collect()
    };
    let args = with(&[]);
    let report = ok(&cfg, &args.iter().map(String::as_str).collect::<Vec<_>>()).await;
    assert!(report.starts_with("Workspace analytics · "), "{report}");
    assert!(
        report.contains("Jobs        1 (1 completed, 0 failed, 0 cancelled, 0 queued, 0 running) · success 100.0 % · 300 shots"),
        "{report}"
    );
    assert!(
        report.contains("Backends") && report.contains("ideal"),
        "{report}"
    );

    let args = with(&["--csv"]);
    let csv = ok(&cfg, &args.iter().map(String::as_str).collect::<Vec<_>>()).await;
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some("section,start,key,metric,value"));
    assert!(csv.lines().any(|l| l == "jobs,,,total,1"), "{csv}");
    assert!(
        csv.lines().any(|l| l == "backends,,ideal,shots,300"),
        "{csv}"
    );

    let args = with(&["--json", "--from", "2020-01-01", "--bucket", "week"]);
    let body = ok(&cfg, &args.iter().map(String::as_str).collect::<Vec<_>>()).await;
    let v: serde_json::Value =
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"));
    assert_eq!(v["jobs"]["total"], 1, "{v}");
    assert_eq!(v["bucket"], "week");
    assert_eq!(v["from"], "2020-01-01T00:00:00Z");

    // A date that is not one is refused before anything is asked (exit 2).
    let args = with(&["--from", "last tuesday"]);
    let bad = qollab(
        &cfg,
        &args.iter().map(String::as_str).collect::<Vec<_>>(),
        None,
    )
    .await;
    assert_eq!(bad.code, 2, "{}{}", bad.stdout, bad.stderr);
    assert!(bad.stderr.contains("--from"), "{}", bad.stderr);
}

/// An operator finds every setting of the README's table in `qollab serve --help`, with
/// its variable.
#[tokio::test]
async fn serve_help_lists_every_setting_of_the_readme() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let help = ok(&dir.path().join("config.json"), &["serve", "--help"]).await;
    let readme = include_str!("../../README.md");
    let section = readme
        .split("## Configuration")
        .nth(1)
        .and_then(|s| s.split("\n## ").next())
        .unwrap_or_default();
    let names: Vec<&str> = section
        .lines()
        .filter(|l| l.starts_with("| `QOLLAB_"))
        .flat_map(|l| l.split(" | ").next().unwrap_or_default().split('`'))
        .filter(|n| n.starts_with("QOLLAB_"))
        .collect();
    assert!(names.len() > 50, "{names:?}");
    for name in names {
        assert!(
            help.contains(&format!("[env: {name}")),
            "{name} is not in serve --help:\n{help}"
        );
    }
    assert!(help.contains("--job-pool-size"), "{help}");
}
