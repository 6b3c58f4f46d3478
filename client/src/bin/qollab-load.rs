//! `qollab-load`: load generator for live documents (`qollab_client::load`), with the
//! `jobs` subcommand for jobs and their event stream (`qollab_client::load::jobs`), and
//! with `ai` for streamed assistant answers (`qollab_client::load::ai`).
//! Prints one JSON line.

use std::time::Duration;

use clap::{Parser, Subcommand};
use qollab_client::load::ai::{self, AiLoadConfig};
use qollab_client::load::jobs::{self, JobsLoadConfig};
use qollab_client::load::{LoadConfig, idle, run};

#[derive(Parser, Debug)]
#[command(
    version,
    about = "Load generator for y-websocket document servers (Qollab or the reference Node server), and for Qollab jobs",
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    docs: Args,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Jobs: S event-stream subscribers on a workspace while C submitters push N small
    /// jobs; reports jobs/s end to end and state-change → event latency at every subscriber.
    Jobs(JobsArgs),
    /// AI: W workspaces with S event-stream subscribers each, one streamed assistant
    /// answer at a time per workspace from a stand-in provider served here; reports
    /// provider chunk → delta event latency at every subscriber.
    Ai(AiArgs),
}

#[derive(clap::Args, Debug)]
struct AiArgs {
    /// The server's HTTP root URL.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    server: String,
    #[arg(long, env = "QOLLAB_TOKEN")]
    token: String,
    /// Organization to create the workspaces in (its plan must allow the answers).
    #[arg(long)]
    org: uuid::Uuid,
    /// Address the stand-in OpenAI-compatible provider listens on; start the server with
    /// QOLLAB_AI_BASE_URL=http://<this>/v1.
    #[arg(long)]
    provider: std::net::SocketAddr,
    /// Workspaces, each streaming one answer at a time.
    #[arg(long, default_value_t = 1)]
    workspaces: usize,
    /// Event-stream subscribers per workspace.
    #[arg(long, default_value_t = 20)]
    subscribers: usize,
    /// Answers per workspace, in turn.
    #[arg(long, default_value_t = 10)]
    answers: usize,
    /// Streamed pieces per answer.
    #[arg(long, default_value_t = 40)]
    chunks: usize,
    /// Milliseconds between two pieces from the provider.
    #[arg(long, default_value_t = 60.0)]
    chunk_gap_ms: f64,
    /// Longest wait for everything, in seconds.
    #[arg(long, default_value_t = 300.0)]
    timeout: f64,
}

#[derive(clap::Args, Debug)]
struct JobsArgs {
    /// The server's HTTP root URL.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    server: String,
    #[arg(long, env = "QOLLAB_TOKEN")]
    token: String,
    /// Workspace id (one with no other activity).
    #[arg(long)]
    workspace: uuid::Uuid,
    #[arg(long, default_value_t = 500)]
    jobs: usize,
    #[arg(long, default_value_t = 200)]
    subscribers: usize,
    /// Jobs submitted concurrently.
    #[arg(long, default_value_t = 16)]
    submitters: usize,
    #[arg(long, default_value_t = 100)]
    shots: i64,
    #[arg(long, default_value = "ideal")]
    backend: String,
    /// OpenQASM file to submit (default: a Bell pair).
    #[arg(long)]
    qasm_file: Option<std::path::PathBuf>,
    /// Longest wait for everything to finish, in seconds.
    #[arg(long, default_value_t = 120.0)]
    timeout: f64,
    /// Keep this many jobs unfinished while submitting, and report the throughput while
    /// the queue was held that deep (`held`). Default: submit as fast as admitted.
    #[arg(long)]
    queue_depth: Option<usize>,
}

#[derive(clap::Args, Debug)]
struct Args {
    /// Server URL prefix; the room name is appended, e.g. ws://127.0.0.1:8080/ws/docs. A
    /// URL with `{room}` in it is a template instead (y-sweet: ws://HOST/d/{room}/ws/{room}).
    #[arg(long, default_value = "ws://127.0.0.1:1234")]
    url: String,
    /// Number of websocket connections (clients).
    #[arg(long, short = 'n', default_value_t = 10)]
    connections: usize,
    /// Number of rooms the clients are spread over (client i joins room i % rooms).
    #[arg(long, short = 'm', default_value_t = 1)]
    rooms: usize,
    /// Edits per second per client.
    #[arg(long, short = 'e', default_value_t = 1.0)]
    rate: f64,
    /// Measured duration in seconds.
    #[arg(long, short = 'd', default_value_t = 10.0)]
    duration: f64,
    /// Warm-up before the measured window, in seconds.
    #[arg(long, default_value_t = 2.0)]
    warmup: f64,
    /// Maximum wait for the last deliveries and for convergence, in seconds.
    #[arg(long, default_value_t = 10.0)]
    settle: f64,
    /// Token sent as the `token` query parameter.
    #[arg(long, env = "QOLLAB_TOKEN")]
    token: Option<String>,
    /// Room names are this prefix plus the room number.
    #[arg(long, default_value = "load-")]
    room_prefix: String,
    /// File with one room name per line (doc ids on Qollab); replaces --rooms/--room-prefix.
    #[arg(long)]
    room_ids_file: Option<std::path::PathBuf>,
    /// Connections opened concurrently during ramp-up.
    #[arg(long, default_value_t = 64)]
    connect_concurrency: usize,
    /// Full yrs replicas per room (its first clients); the others are probes that time
    /// deliveries from the raw update frames without applying them (much cheaper for the
    /// generator). Convergence is checked among the full replicas. Default: all full.
    #[arg(long)]
    full_per_room: Option<usize>,
    /// Idle mode (for memory measurements): connect and sync every client, print
    /// `{"phase":"holding",...}` on stderr, hold the connections this many seconds
    /// without editing, close them and print the idle report. Ignores the edit options.
    #[arg(long, value_name = "SECS")]
    idle: Option<f64>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if let Some(Command::Ai(a)) = &cli.command {
        anyhow::ensure!(
            a.timeout > 0.0 && a.chunk_gap_ms >= 0.0,
            "--timeout must be positive and --chunk-gap-ms not negative"
        );
        let report = ai::run(AiLoadConfig {
            server: a.server.clone(),
            token: a.token.clone(),
            org: a.org,
            provider: a.provider,
            workspaces: a.workspaces,
            subscribers: a.subscribers,
            answers: a.answers,
            chunks: a.chunks,
            chunk_gap: Duration::from_secs_f64(a.chunk_gap_ms / 1000.0),
            timeout: Duration::from_secs_f64(a.timeout),
        })
        .await?;
        println!("{}", serde_json::to_string(&report)?);
        return Ok(());
    }
    if let Some(Command::Jobs(j)) = cli.command {
        anyhow::ensure!(j.timeout > 0.0, "--timeout must be positive");
        let qasm = match &j.qasm_file {
            Some(p) => std::fs::read_to_string(p)?,
            None => jobs::BELL.to_string(),
        };
        let report = jobs::run(JobsLoadConfig {
            server: j.server,
            token: j.token,
            workspace: j.workspace,
            jobs: j.jobs,
            subscribers: j.subscribers,
            submitters: j.submitters,
            shots: j.shots,
            backend: j.backend,
            qasm,
            timeout: Duration::from_secs_f64(j.timeout),
            queue_depth: j.queue_depth,
        })
        .await?;
        println!("{}", serde_json::to_string(&report)?);
        return Ok(());
    }
    let a = cli.docs;
    anyhow::ensure!(
        a.duration > 0.0 && a.warmup >= 0.0 && a.settle >= 0.0,
        "durations must be positive"
    );
    let rooms: Vec<String> = match &a.room_ids_file {
        Some(path) => std::fs::read_to_string(path)?
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(String::from)
            .collect(),
        None => (0..a.rooms)
            .map(|i| format!("{}{i}", a.room_prefix))
            .collect(),
    };
    anyhow::ensure!(!rooms.is_empty(), "no rooms");
    let cfg = LoadConfig {
        url: a.url,
        connections: a.connections,
        rooms,
        rate: a.rate,
        duration: Duration::from_secs_f64(a.duration),
        warmup: Duration::from_secs_f64(a.warmup),
        settle: Duration::from_secs_f64(a.settle),
        token: a.token,
        connect_concurrency: a.connect_concurrency,
        full_per_room: a.full_per_room,
    };
    if let Some(hold) = a.idle {
        anyhow::ensure!(hold >= 0.0, "--idle must not be negative");
        let report = idle(cfg, Duration::from_secs_f64(hold), |r| {
            let mut line = serde_json::to_value(r).unwrap_or_default();
            line["phase"] = "holding".into();
            eprintln!("{line}");
        })
        .await?;
        println!("{}", serde_json::to_string(&report)?);
        return Ok(());
    }
    let report = run(cfg).await?;
    println!("{}", serde_json::to_string(&report)?);
    Ok(())
}
