//! The client commands of the real `qollab` binary against a test server.

use std::process::Stdio;
use std::time::Duration;

use tokio::io::AsyncWriteExt;

use crate::common::{PASSWORD, TestServer, binary, unique_email};
use crate::jobs::GHZ;

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
        "/../../shared/bench/nam/tof_3.qasm"
    );
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let cfg = dir.path().join("config.json");
    let o = qollab(&cfg, &["circuit", "info", file, "--json"], None).await;
    assert_eq!(o.code, 0, "{}", o.stderr);
    let v: serde_json::Value = serde_json::from_str(&o.stdout).unwrap_or_default();
    assert_eq!(v["qubits"], 5, "{}", o.stdout);
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
