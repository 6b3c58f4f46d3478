//! `qollab sessions …` (a backend reserved for a run of jobs, one at a time in order) and
//! `qollab schedules …` (jobs submitted on a cron schedule as their creator).

use qollab_shared::api::{
    CreateScheduleRequest, JobKind, JobSource, OpenSessionRequest, RuntimeSession, Schedule,
    UpdateScheduleRequest,
};
use uuid::Uuid;

use super::documents::doc_id;
use super::manage::{WorkspaceArg, table};
use super::{CliError, CliResult, ConnArgs, authed, out, print_json, read_source};

#[derive(clap::Subcommand, Debug)]
pub enum SessionsCommand {
    /// Open a session on a backend; submit into it with `qollab submit --session ID`.
    Open {
        /// `ideal`, `emulator:<device>` or `ibm:<backend>` (see `qollab backends`).
        #[arg(long, default_value = "ideal")]
        backend: String,
        /// Close it after this many seconds without a queued or running job.
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..=86_400))]
        idle_timeout: Option<u32>,
        #[command(flatten)]
        ws: WorkspaceArg,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        conn: ConnArgs,
    },
    /// The workspace's sessions, newest first.
    List {
        /// Only `open` or `closed` ones.
        #[arg(long, value_parser = ["open", "closed"])]
        status: Option<String>,
        #[command(flatten)]
        ws: WorkspaceArg,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        conn: ConnArgs,
    },
    /// Close a session: its queued jobs are cancelled, a running one finishes.
    Close {
        /// Its id (see `list`).
        id: Uuid,
        #[command(flatten)]
        conn: ConnArgs,
    },
}

#[derive(clap::Subcommand, Debug)]
pub enum SchedulesCommand {
    /// The workspace's schedules with their next run.
    List {
        #[command(flatten)]
        ws: WorkspaceArg,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        conn: ConnArgs,
    },
    /// Run a file's circuit (as it is now) or a document (as it is at each run) on a
    /// cron schedule: `qollab schedules create "0 9 * * 1-5" --doc Bell --tz Europe/Paris`.
    Create {
        /// Five fields (minute hour day-of-month month day-of-week), or six with seconds.
        cron: String,
        /// OpenQASM file (`-`: standard input).
        #[arg(required_unless_present = "doc", conflicts_with = "doc")]
        file: Option<String>,
        /// A document (id or exact name), read at each run.
        #[arg(long)]
        doc: Option<String>,
        /// A name to tell it apart.
        #[arg(long)]
        name: Option<String>,
        /// IANA time zone the expression is read in.
        #[arg(long = "tz", default_value = "UTC")]
        timezone: String,
        /// `ideal`, `emulator:<device>` or `ibm:<backend>` (see `qollab backends`).
        #[arg(long, default_value = "ideal")]
        backend: String,
        /// Measurement shots.
        #[arg(long, default_value_t = 1024)]
        shots: i64,
        /// simulate, optimize or optimize_and_simulate.
        #[arg(long, default_value = "simulate",
            value_parser = ["simulate", "optimize", "optimize_and_simulate"])]
        kind: String,
        /// Optimization level, 0 to 3.
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(0..=3))]
        level: u8,
        #[command(flatten)]
        ws: WorkspaceArg,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        conn: ConnArgs,
    },
    /// Stop a schedule from firing until it is resumed.
    Pause {
        /// Its id (see `list`).
        id: Uuid,
        #[command(flatten)]
        conn: ConnArgs,
    },
    /// Let a paused schedule fire again (from its next occurrence; missed ones are skipped).
    Resume {
        /// Its id (see `list`).
        id: Uuid,
        #[command(flatten)]
        conn: ConnArgs,
    },
    /// Delete a schedule (the jobs it already submitted stay).
    Delete {
        /// Its id (see `list`).
        id: Uuid,
        #[command(flatten)]
        conn: ConnArgs,
    },
}

fn when(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S").to_string()
}

fn session_rows(all: &[RuntimeSession]) -> Vec<Vec<String>> {
    all.iter()
        .map(|s| {
            vec![
                s.id.to_string(),
                s.backend.clone(),
                s.status.clone(),
                when(s.last_used_at),
                s.close_reason.clone().unwrap_or_default(),
            ]
        })
        .collect()
}

fn schedule_rows(all: &[Schedule]) -> Vec<Vec<String>> {
    all.iter()
        .map(|s| {
            let state = match (&s.enabled, &s.disabled_reason) {
                (true, _) => "active".to_string(),
                (false, Some(r)) => format!("disabled: {r}"),
                (false, None) => "paused".to_string(),
            };
            vec![
                s.id.to_string(),
                s.name.clone().unwrap_or_default(),
                format!("{} {}", s.cron, s.timezone),
                s.backend.clone(),
                state,
                s.next_run_at.map(when).unwrap_or_else(|| "-".into()),
            ]
        })
        .collect()
}

pub async fn sessions(cmd: SessionsCommand) -> CliResult<u8> {
    match cmd {
        SessionsCommand::Open {
            backend,
            idle_timeout,
            ws,
            json,
            conn,
        } => {
            let client = authed(&conn)?;
            let req = OpenSessionRequest {
                backend,
                idle_timeout_secs: idle_timeout,
            };
            let s = client.open_session(ws.id(&client).await?, &req).await?;
            if json {
                print_json(&s)?;
            } else {
                out(&format!("{}\n", s.id))?;
                eprintln!(
                    "session open on {} (closes after {} s idle); submit with --session {}",
                    s.backend, s.idle_timeout_secs, s.id
                );
            }
        }
        SessionsCommand::List {
            status,
            ws,
            json,
            conn,
        } => {
            let client = authed(&conn)?;
            let all = client
                .sessions(ws.id(&client).await?, status.as_deref(), None)
                .await?;
            if json {
                print_json(&all)?;
            } else {
                out(&table(
                    &["ID", "BACKEND", "STATUS", "LAST USED", "CLOSED BECAUSE"],
                    &session_rows(&all),
                ))?;
            }
        }
        SessionsCommand::Close { id, conn } => {
            let s = authed(&conn)?.close_session(id).await?;
            out(&format!(
                "closed {} ({})\n",
                s.id,
                s.close_reason.unwrap_or_default()
            ))?;
        }
    }
    Ok(0)
}

pub async fn schedules(cmd: SchedulesCommand) -> CliResult<u8> {
    match cmd {
        SchedulesCommand::List { ws, json, conn } => {
            let client = authed(&conn)?;
            let all = client.schedules(ws.id(&client).await?).await?;
            if json {
                print_json(&all)?;
            } else {
                out(&table(
                    &["ID", "NAME", "WHEN", "BACKEND", "STATE", "NEXT RUN (UTC)"],
                    &schedule_rows(&all),
                ))?;
            }
        }
        SchedulesCommand::Create {
            cron,
            file,
            doc,
            name,
            timezone,
            backend,
            shots,
            kind,
            level,
            ws,
            json,
            conn,
        } => {
            let kind = JobKind::parse(&kind)
                .ok_or_else(|| CliError::Usage(format!("unknown kind {kind:?}")))?;
            let client = authed(&conn)?;
            let source = match (&file, &doc) {
                (Some(f), _) => JobSource::Qasm {
                    qasm: read_source(f)?,
                },
                (None, Some(d)) => JobSource::Doc {
                    doc_id: doc_id(&client, &ws, d).await?,
                },
                (None, None) => {
                    return Err(CliError::Usage("give a FILE or --doc".into()));
                }
            };
            let req = CreateScheduleRequest {
                name,
                cron,
                timezone: Some(timezone),
                source,
                kind,
                backend,
                shots,
                seed: None,
                optimization_level: level,
            };
            let s = client
                .create_schedule(ws.id(&client).await?, &req)
                .await
                .map_err(|e| match &file {
                    Some(f) => super::at_file(e, f),
                    None => e.into(),
                })?;
            if json {
                print_json(&s)?;
            } else {
                out(&format!("{}\n", s.id))?;
                if let Some(next) = s.next_run_at {
                    eprintln!("first run at {} UTC", when(next));
                }
            }
        }
        SchedulesCommand::Pause { id, conn } => set_enabled(&conn, id, false).await?,
        SchedulesCommand::Resume { id, conn } => set_enabled(&conn, id, true).await?,
        SchedulesCommand::Delete { id, conn } => {
            authed(&conn)?.delete_schedule(id).await?;
            out(&format!("deleted {id}\n"))?;
        }
    }
    Ok(0)
}

async fn set_enabled(conn: &ConnArgs, id: Uuid, enabled: bool) -> CliResult<()> {
    let req = UpdateScheduleRequest {
        enabled: Some(enabled),
        name: None,
    };
    let s = authed(conn)?.update_schedule(id, &req).await?;
    let next = match s.next_run_at {
        Some(t) if s.enabled => format!("; next run at {} UTC", when(t)),
        _ => String::new(),
    };
    out(&format!(
        "{} {}{next}\n",
        if s.enabled { "resumed" } else { "paused" },
        s.id
    ))
}
