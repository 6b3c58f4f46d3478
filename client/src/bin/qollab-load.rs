//! `qollab-load`: live-document load generator (see `qollab_client::load`). Prints one JSON line.

use std::time::Duration;

use clap::Parser;
use qollab_client::load::{LoadConfig, idle, run};

#[derive(Parser, Debug)]
#[command(
    version,
    about = "Load generator for y-websocket document servers (Qollab or the reference Node server)"
)]
struct Args {
    /// Server URL prefix; the room name is appended, e.g. ws://127.0.0.1:8080/ws/docs
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
    /// Idle mode (for memory measurements): connect and sync every client, print
    /// `{"phase":"holding",...}` on stderr, hold the connections this many seconds
    /// without editing, close them and print the idle report. Ignores the edit options.
    #[arg(long, value_name = "SECS")]
    idle: Option<f64>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let a = Args::parse();
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
