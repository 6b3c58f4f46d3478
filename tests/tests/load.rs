//! The load generators against a real server: their figures must count what really
//! happened (every delivery, every job, every event), or the benchmarks mean nothing.

use std::time::Duration;

use qollab_client::load::jobs::{self, JobsLoadConfig};
use qollab_client::load::{LoadConfig, run};

use crate::common::live::{Team, ws_url};
use crate::common::{TestServer, presets};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_document_load_generator_counts_every_delivery_and_checks_convergence() {
    let server = TestServer::start().await;
    let team = Team::new(server.client()).await;
    let rooms = vec![team.doc("a", None).await, team.doc("b", None).await];
    let report = run(LoadConfig {
        url: ws_url(&server.url),
        connections: 6,
        rooms,
        rate: 5.0,
        duration: Duration::from_secs(2),
        warmup: Duration::from_millis(500),
        settle: Duration::from_secs(5),
        token: Some(team.token().to_string()),
        connect_concurrency: 6,
        full_per_room: None,
    })
    .await
    .unwrap_or_else(|e| panic!("load run: {e}"));
    assert_eq!(report.connected, 6, "{report:?}");
    assert_eq!(report.connect_errors, 0, "{report:?}");
    // Three clients a room: each edit is delivered to the two others.
    assert!(report.sent >= 40, "{report:?}");
    assert_eq!(report.expected_deliveries, report.sent * 2, "{report:?}");
    assert_eq!(report.missing_deliveries, 0, "{report:?}");
    assert_eq!(report.latency_ms.count, report.deliveries, "{report:?}");
    assert_eq!((report.rooms_converged, report.rooms_diverged), (2, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probes_count_every_delivery_from_the_raw_frames_beside_full_replicas() {
    let server = TestServer::start().await;
    let team = Team::new(server.client()).await;
    let rooms = vec![team.doc("a", None).await, team.doc("b", None).await];
    // Four clients a room: two full replicas (which check convergence) and two probes.
    let report = run(LoadConfig {
        url: ws_url(&server.url),
        connections: 8,
        rooms,
        rate: 5.0,
        duration: Duration::from_secs(2),
        warmup: Duration::from_millis(500),
        settle: Duration::from_secs(5),
        token: Some(team.token().to_string()),
        connect_concurrency: 8,
        full_per_room: Some(2),
    })
    .await
    .unwrap_or_else(|e| panic!("load run: {e}"));
    assert_eq!(
        (report.connected, report.connect_errors),
        (8, 0),
        "{report:?}"
    );
    assert!(report.sent >= 50, "{report:?}");
    // Each edit reaches the three others, probes' edits included; a probe counts
    // neither its own edits nor the sync's old ones.
    assert_eq!(report.expected_deliveries, report.sent * 3, "{report:?}");
    assert_eq!(report.missing_deliveries, 0, "{report:?}");
    assert_eq!(report.deliveries, report.expected_deliveries, "{report:?}");
    assert_eq!(report.latency_ms.count, report.deliveries, "{report:?}");
    assert!(report.latency_ms.p50 > 0.0, "{report:?}");
    assert_eq!((report.rooms_converged, report.rooms_diverged), (2, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_jobs_load_generator_sees_every_job_finish_at_every_subscriber() {
    let server = TestServer::start().await;
    let team = Team::new(server.client()).await;
    let report = jobs::run(JobsLoadConfig {
        server: server.url.clone(),
        token: team.token().to_string(),
        workspace: team.ws,
        jobs: 12,
        subscribers: 3,
        submitters: 4,
        shots: 50,
        backend: "ideal".into(),
        qasm: jobs::BELL.into(),
        timeout: Duration::from_secs(60),
        queue_depth: None,
    })
    .await
    .unwrap_or_else(|e| panic!("jobs load run: {e}"));
    assert_eq!(report.subscribers_connected, 3, "{report:?}");
    assert!(report.held.is_none(), "{report:?}");
    assert_eq!(report.submitted, 12, "{report:?}");
    assert_eq!(report.submit_errors, 0, "{report:?}");
    assert_eq!(report.finished_everywhere, 12, "{report:?}");
    assert_eq!(report.failed, 0, "{report:?}");
    // Each subscriber sees at least created/queued, started and completed of every job.
    for kind in ["job.started", "job.completed"] {
        assert_eq!(
            report.events_by_type.get(kind),
            Some(&36),
            "{kind}: {report:?}"
        );
    }
    assert_eq!(report.event_latency_ms.count, report.events_received);
    assert!(report.jobs_per_s > 0.0 && report.event_latency_ms.max > 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_jobs_load_generator_holds_the_queue_at_the_depth_asked() {
    // The team's free plan runs 2 jobs at once and, at one job of queue per slot, admits
    // 2 unfinished: a generator that keeps more than 2 in flight gets 429s.
    let server = TestServer::start_with(|c| {
        presets::slow_emulator(c);
        c.jobs.queue_per_slot = 1;
    })
    .await;
    let team = Team::new(server.client()).await;
    let run = |queue_depth| {
        jobs::run(JobsLoadConfig {
            server: server.url.clone(),
            token: team.token().to_string(),
            workspace: team.ws,
            jobs: 8,
            subscribers: 2,
            submitters: 4,
            shots: 100,
            backend: "emulator:qollab_t5".into(),
            qasm: jobs::BELL.into(),
            timeout: Duration::from_secs(60),
            queue_depth,
        })
    };
    let held = run(Some(2))
        .await
        .unwrap_or_else(|e| panic!("jobs load run: {e}"));
    assert_eq!(held.finished_everywhere, 8, "{held:?}");
    assert_eq!(
        held.retried_429, 0,
        "never more than 2 unfinished: {held:?}"
    );
    let window = held.held.clone().unwrap_or_else(|| panic!("{held:?}"));
    assert_eq!(window.depth, 2);
    // The window opens when a submitter first waits (the 3rd or 4th submission, before
    // any slow job ends) and closes at the 8th, which waited for 6 to finish.
    assert!(window.finished >= 6, "{held:?}");
    assert!(window.jobs_per_s > 0.0 && window.window_s > 0.0, "{held:?}");

    // The same run without the depth: 4 submitters at once are over the limit.
    let free = run(None)
        .await
        .unwrap_or_else(|e| panic!("jobs load run: {e}"));
    assert_eq!(free.finished_everywhere, 8, "{free:?}");
    assert!(free.retried_429 > 0, "{free:?}");
}
