//! The client commands of the `qollab` binary: `login`, `submit`, `jobs …`, `events`,
//! `ai ask`, `quest …`.
//!
//! The server crate only adds [`ClientCommand`] to its clap tree and calls [`run`].
//! Connection settings come from `--server`/`QOLLAB_SERVER` and `--token`/`QOLLAB_TOKEN`,
//! else from the config file that `qollab login` writes (see [`config`]).
//!
//! Exit codes: 0 success, 1 failure (a job failed or was cancelled, the server refused,
//! the network failed), 2 bad input (unreadable file, invalid OpenQASM, invalid options).

mod analytics;
pub mod config;
mod documents;
mod manage;
mod render;
mod runtime;
mod watch;

use std::io::{Read as _, Write as _};
use std::process::ExitCode;

use qollab_shared::api::{AiAnalysis, JobKind, JobSource, SubmitJobRequest};
use uuid::Uuid;

use crate::events::{EventStream, StreamOptions};
use crate::rest::{Client, ClientError, JobFilter};

/// The default server when neither a flag, the environment nor the config names one.
pub const DEFAULT_SERVER: &str = "http://127.0.0.1:8080";

#[derive(clap::Args, Debug, Clone, Default)]
pub struct ConnArgs {
    /// Server URL [default: the one `qollab login` stored, else http://127.0.0.1:8080].
    #[arg(long, env = "QOLLAB_SERVER")]
    pub server: Option<String>,
    /// API or access token [default: the one `qollab login` stored].
    #[arg(long, env = "QOLLAB_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
}

#[derive(clap::Subcommand, Debug)]
pub enum ClientCommand {
    /// Log in, create a personal API token for this machine and store it in the config
    /// file (or store a token you have: `--with-token` < file).
    Login(LoginArgs),
    /// Submit an OpenQASM file as a job (and, with --watch, follow it to the end).
    Submit(SubmitArgs),
    /// List, inspect and cancel jobs.
    #[command(subcommand)]
    Jobs(JobsCommand),
    /// Print a workspace's live events, one line each, until interrupted.
    Events(EventsArgs),
    /// The workspace's AI assistant.
    #[command(subcommand)]
    Ai(AiCommand),
    /// Quantum Quest: challenges judged by the server's simulator.
    #[command(subcommand)]
    Quest(QuestCommand),
    /// Your notifications: list them, mark them read, choose how each kind reaches you.
    #[command(subcommand)]
    Notifications(NotificationsCommand),
    #[command(flatten)]
    Manage(manage::ManageCommand),
    /// The workspace's shared circuits: list, create, show, export, import, history, restore.
    #[command(subcommand)]
    Docs(documents::DocsCommand),
    /// Runtime sessions: a backend kept for a run of jobs, executed one at a time in order.
    #[command(subcommand)]
    Sessions(runtime::SessionsCommand),
    /// Jobs submitted on a cron schedule.
    #[command(subcommand)]
    Schedules(runtime::SchedulesCommand),
    /// A workspace's (or --org's) jobs, success rate, wait and run times, optimizer
    /// savings, backends, documents, members, AI use and points over a time range.
    Analytics(analytics::AnalyticsArgs),
    /// Your points, level, streak and achievements.
    Me {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        conn: ConnArgs,
    },
}

#[derive(clap::Subcommand, Debug)]
pub enum NotificationsCommand {
    /// Your latest notifications, newest first.
    List {
        /// Only unread ones.
        #[arg(long)]
        unread: bool,
        /// How many to list.
        #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..=200))]
        limit: u64,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        conn: ConnArgs,
    },
    /// Mark one notification read (its ID from `qollab notifications list`).
    Read {
        /// The notification's id (see `qollab notifications list`).
        id: i64,
        #[command(flatten)]
        conn: ConnArgs,
    },
    /// Mark every notification read.
    ReadAll {
        #[command(flatten)]
        conn: ConnArgs,
    },
    /// Show how each kind reaches you, or set some: `job=digest mention=live session=off`.
    Prefs {
        /// KIND=live|digest|off (kinds: job, analysis, mention, membership, achievement, session).
        set: Vec<String>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        conn: ConnArgs,
    },
}

#[derive(clap::Subcommand, Debug)]
pub enum QuestCommand {
    /// Every challenge with your progress on it.
    List {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        conn: ConnArgs,
    },
    /// One challenge: what to build, its constraints, the starter circuit, your hints.
    Show {
        /// The challenge's key (see `qollab quest list`).
        key: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        conn: ConnArgs,
    },
    /// Submit an OpenQASM file as an attempt; exit 0 when it passes, 1 when not.
    Attempt {
        /// The challenge's key (see `qollab quest list`).
        key: String,
        /// OpenQASM 2 or 3 file, or `-` for standard input.
        file: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        conn: ConnArgs,
    },
    /// Reveal the next hint (or hint INDEX, 0-based); it costs its points once.
    Hint {
        /// The challenge's key (see `qollab quest list`).
        key: String,
        /// Which hint, 0-based [default: the next one].
        index: Option<u32>,
        #[command(flatten)]
        conn: ConnArgs,
    },
    /// The challenge's best players, and your place.
    Leaderboard {
        /// The challenge's key (see `qollab quest list`).
        key: String,
        /// How many to list.
        #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=100))]
        limit: u64,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        conn: ConnArgs,
    },
}

#[derive(clap::Subcommand, Debug)]
pub enum AiCommand {
    /// Ask the workspace's assistant; the answer streams to the terminal as the whole
    /// team sees it. Ctrl-C cancels it.
    Ask {
        #[command(flatten)]
        workspace: manage::WorkspaceArg,
        /// Ask in this document's thread.
        #[arg(long)]
        doc: Option<Uuid>,
        /// The question.
        question: String,
        #[command(flatten)]
        conn: ConnArgs,
    },
}

#[derive(clap::Args, Debug)]
pub struct LoginArgs {
    #[command(flatten)]
    pub conn: ConnArgs,
    /// Account e-mail (asked for when omitted).
    #[arg(long)]
    pub email: Option<String>,
    /// Read the password from standard input instead of prompting.
    #[arg(long)]
    pub password_stdin: bool,
    /// Read an API token from standard input and store it (no password; e.g. in CI).
    /// `--token`/QOLLAB_TOKEN without --email stores that token the same way.
    #[arg(long, conflicts_with_all = ["email", "password_stdin"])]
    pub with_token: bool,
}

#[derive(clap::Args, Debug)]
pub struct SubmitArgs {
    /// OpenQASM 2.0 or 3 file (`-`: standard input).
    #[arg(required_unless_present = "doc", conflicts_with = "doc")]
    pub file: Option<String>,
    /// Run a shared document (id or exact name) as it is now, instead of a file.
    #[arg(long)]
    pub doc: Option<String>,
    /// Run in this runtime session (`qollab sessions open`).
    #[arg(long)]
    pub session: Option<Uuid>,
    #[command(flatten)]
    pub workspace: manage::WorkspaceArg,
    /// `ideal`, `emulator:<device>` or `ibm:<backend>`.
    #[arg(long, default_value = "ideal")]
    pub backend: String,
    /// Measurement shots.
    #[arg(long, default_value_t = 1024)]
    pub shots: i64,
    /// Seed for sampling (random when omitted).
    #[arg(long)]
    pub seed: Option<u64>,
    /// simulate, optimize or optimize_and_simulate.
    #[arg(long, default_value = "simulate",
        value_parser = ["simulate", "optimize", "optimize_and_simulate"])]
    pub kind: String,
    /// Optimization level, 0 to 3.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(0..=3))]
    pub level: u8,
    /// Follow the job to the end: queue position, progress, then the counts.
    #[arg(long)]
    pub watch: bool,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub conn: ConnArgs,
}

#[derive(clap::Subcommand, Debug)]
pub enum JobsCommand {
    /// The workspace's jobs, newest first.
    List {
        #[command(flatten)]
        workspace: manage::WorkspaceArg,
        /// queued, running, completed, failed or cancelled.
        #[arg(long, value_parser = ["queued", "running", "completed", "failed", "cancelled"])]
        status: Option<String>,
        /// How many to list.
        #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..=10_000))]
        limit: u64,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        conn: ConnArgs,
    },
    /// One job: status, timings, error, and the counts once completed.
    Show {
        /// The job's id.
        id: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        conn: ConnArgs,
    },
    /// Cancel a queued job, or ask a running one to stop.
    Cancel {
        /// The job's id.
        id: String,
        #[command(flatten)]
        conn: ConnArgs,
    },
    /// Why a job failed (or how it went): its AI analysis, grounded in the engine's
    /// findings, streamed as it is written (the stored one when there is one).
    Explain {
        /// The job's id.
        id: String,
        /// Analyse again even when an analysis is stored.
        #[arg(long)]
        again: bool,
        #[command(flatten)]
        conn: ConnArgs,
    },
}

#[derive(clap::Args, Debug)]
pub struct EventsArgs {
    #[command(flatten)]
    pub workspace: manage::WorkspaceArg,
    /// Replay the events after this id first.
    #[arg(long)]
    pub since: Option<i64>,
    /// Print each event as raw JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub conn: ConnArgs,
}

/// What went wrong, and which exit code it earns.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Bad input on our side of the wire (exit 2).
    #[error("{0}")]
    Usage(String),
    #[error(transparent)]
    Api(#[from] ClientError),
    #[error(transparent)]
    Events(#[from] crate::events::EventError),
    #[error("{0}")]
    Other(String),
    /// Standard output was closed (e.g. `| head`): stop quietly, exit 0.
    #[error("standard output closed")]
    Closed,
}

/// Writes to standard output; a closed pipe (EPIPE) is [`CliError::Closed`], not the
/// panic of `print!`.
pub fn out(text: &str) -> CliResult<()> {
    write_stdout(text).map_err(|e| {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            CliError::Closed
        } else {
            CliError::Other(format!("writing to standard output: {e}"))
        }
    })
}

/// `print!` that returns the error instead of panicking on it.
pub fn write_stdout(text: &str) -> std::io::Result<()> {
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(text.as_bytes())?;
    stdout.flush()
}

/// Whether an error is a closed standard output (the reader went away).
pub fn is_broken_pipe(e: &(dyn std::error::Error + 'static)) -> bool {
    e.downcast_ref::<std::io::Error>()
        .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
}

impl CliError {
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Usage(_) => 2,
            CliError::Api(e)
                if e.status()
                    .is_some_and(|s| matches!(s.as_u16(), 400 | 413 | 422)) =>
            {
                2
            }
            _ => 1,
        }
    }

    /// `error: <message> (<code>)`, with the OpenQASM position when the server gave one.
    pub fn render(&self) -> String {
        match self {
            CliError::Api(ClientError::Api { body, .. }) => {
                let e = &body.error;
                let mut msg = e.message.clone();
                if let (Some(line), Some(col)) =
                    (e.details["line"].as_u64(), e.details["col"].as_u64())
                {
                    let at = format!("line {line}:{col}");
                    if !msg.contains(&at) {
                        msg = format!("{at}: {msg}");
                    }
                }
                let mut out = format!("error: {msg} ({})", e.code);
                if let Some(reason) = e.details["reason"].as_str() {
                    out.push_str(&format!("\n  {reason}"));
                }
                out
            }
            CliError::Api(ClientError::Unexpected { status, text }) => {
                format!("error: unexpected response from the server ({status}): {text}")
            }
            CliError::Api(ClientError::Transport(e)) => {
                format!("error: cannot reach the server: {}", crate::rest::chain(e))
            }
            other => format!("error: {other}"),
        }
    }
}

pub type CliResult<T> = Result<T, CliError>;

/// Runs a client command to completion on its own runtime.
pub fn run(cmd: ClientCommand) -> ExitCode {
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(dispatch(cmd)) {
        Ok(code) => ExitCode::from(code),
        Err(CliError::Closed) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{}", e.render());
            ExitCode::from(e.exit_code())
        }
    }
}

async fn dispatch(cmd: ClientCommand) -> CliResult<u8> {
    match cmd {
        ClientCommand::Login(a) => login(a).await,
        ClientCommand::Submit(a) => submit(a).await,
        ClientCommand::Jobs(JobsCommand::List {
            workspace,
            status,
            limit,
            json,
            conn,
        }) => jobs_list(&conn, &workspace, status, limit, json).await,
        ClientCommand::Jobs(JobsCommand::Show { id, json, conn }) => {
            jobs_show(&conn, &id, json).await
        }
        ClientCommand::Jobs(JobsCommand::Cancel { id, conn }) => jobs_cancel(&conn, &id).await,
        ClientCommand::Events(a) => events(a).await,
        ClientCommand::Ai(AiCommand::Ask {
            workspace,
            doc,
            question,
            conn,
        }) => ai_ask(&conn, &workspace, doc, &question).await,
        ClientCommand::Jobs(JobsCommand::Explain { id, again, conn }) => {
            jobs_explain(&conn, &id, again).await
        }
        ClientCommand::Quest(cmd) => quest(cmd).await,
        ClientCommand::Manage(cmd) => manage::run(cmd).await,
        ClientCommand::Docs(cmd) => documents::run(cmd).await,
        ClientCommand::Sessions(cmd) => runtime::sessions(cmd).await,
        ClientCommand::Schedules(cmd) => runtime::schedules(cmd).await,
        ClientCommand::Notifications(cmd) => notifications(cmd).await,
        ClientCommand::Analytics(a) => analytics::run(a).await,
        ClientCommand::Me { json, conn } => {
            let p = authed(&conn)?.my_progress().await?;
            if json {
                print_json(&p)?;
            } else {
                out(&render::progress(&p))?;
            }
            Ok(0)
        }
    }
}

async fn notifications(cmd: NotificationsCommand) -> CliResult<u8> {
    use qollab_shared::notify::{Delivery, NoticeKind, NotificationPrefs};
    match cmd {
        NotificationsCommand::List {
            unread,
            limit,
            json,
            conn,
        } => {
            let page = authed(&conn)?.notifications(unread, None, limit).await?;
            if json {
                print_json(&page)?;
            } else {
                out(&render::notifications(&page))?;
            }
            Ok(0)
        }
        NotificationsCommand::Read { id, conn } => {
            let n = authed(&conn)?.mark_notification_read(id).await?;
            out(&format!("read: {}\n", n.title))?;
            Ok(0)
        }
        NotificationsCommand::ReadAll { conn } => {
            let marked = authed(&conn)?.mark_all_notifications_read().await?;
            out(&format!("marked {marked} notification(s) read\n"))?;
            Ok(0)
        }
        NotificationsCommand::Prefs { set, json, conn } => {
            let client = authed(&conn)?;
            let prefs = if set.is_empty() {
                client.notification_prefs().await?
            } else {
                let mut want = NotificationPrefs::default();
                for pair in &set {
                    let parsed = pair.split_once('=').and_then(|(k, d)| {
                        Some((NoticeKind::parse(k.trim())?, Delivery::parse(d.trim())?))
                    });
                    let Some((kind, delivery)) = parsed else {
                        return Err(CliError::Usage(format!(
                            "{pair:?}: expected KIND=live|digest|off with KIND one of job, analysis, mention, membership, achievement, session"
                        )));
                    };
                    want.kinds.insert(kind, delivery);
                }
                client.set_notification_prefs(&want).await?
            };
            if json {
                print_json(&prefs)?;
            } else {
                let mut text = String::new();
                for (k, d) in &prefs.kinds {
                    text.push_str(&format!("{:<12} {}\n", k.as_str(), d.as_str()));
                }
                out(&text)?;
            }
            Ok(0)
        }
    }
}

async fn quest(cmd: QuestCommand) -> CliResult<u8> {
    match cmd {
        QuestCommand::List { json, conn } => {
            let all = authed(&conn)?.quest_challenges().await?;
            if json {
                print_json(&all)?;
            } else {
                out(&render::quest_table(&all))?;
            }
            Ok(0)
        }
        QuestCommand::Show { key, json, conn } => {
            let c = authed(&conn)?.quest_challenge(&key).await?;
            if json {
                print_json(&c)?;
            } else {
                out(&render::quest_detail(&c))?;
            }
            Ok(0)
        }
        QuestCommand::Attempt {
            key,
            file,
            json,
            conn,
        } => {
            let qasm = read_source(&file)?;
            let r = authed(&conn)?.quest_attempt(&key, &qasm).await?;
            if json {
                print_json(&r)?;
            } else {
                out(&render::quest_verdict(&r))?;
            }
            Ok(if r.verdict.passed { 0 } else { 1 })
        }
        QuestCommand::Hint { key, index, conn } => {
            let client = authed(&conn)?;
            let index = match index {
                Some(i) => i,
                None => {
                    let c = client.quest_challenge(&key).await?;
                    let next = c.progress.hints.len();
                    if next >= c.challenge.hint_costs.len() {
                        out(&format!(
                            "all {} hints of {key} are revealed (see `qollab quest show {key}`)\n",
                            next
                        ))?;
                        return Ok(0);
                    }
                    u32::try_from(next).unwrap_or(u32::MAX)
                }
            };
            let h = client.quest_hint(&key, index).await?;
            out(&format!(
                "hint {} (−{} points on later attempts)\n  {}\n",
                h.index + 1,
                h.cost,
                h.text
            ))?;
            Ok(0)
        }
        QuestCommand::Leaderboard {
            key,
            limit,
            json,
            conn,
        } => {
            let b = authed(&conn)?.quest_leaderboard(&key, limit).await?;
            if json {
                print_json(&b)?;
            } else {
                out(&render::quest_leaderboard(&b))?;
            }
            Ok(0)
        }
    }
}

/// The server URL and token to use: flags and environment first, then the config file.
pub fn resolve(conn: &ConnArgs) -> CliResult<(String, Option<String>)> {
    let stored = config::load().map_err(CliError::Other)?;
    let server = conn
        .server
        .clone()
        .filter(|s| !s.trim().is_empty())
        .or(stored.server)
        .unwrap_or_else(|| DEFAULT_SERVER.to_string());
    let token = conn
        .token
        .clone()
        .filter(|t| !t.trim().is_empty())
        .or(stored.token);
    Ok((server, token))
}

fn authed(conn: &ConnArgs) -> CliResult<Client> {
    let (server, token) = resolve(conn)?;
    let token = token.ok_or_else(|| {
        CliError::Usage(
            "not logged in: run `qollab login`, or pass --token (or set QOLLAB_TOKEN)".into(),
        )
    })?;
    Ok(Client::new(server).with_token(token))
}

/// A workspace given by id, or by its exact name among the caller's workspaces.
async fn workspace_id(client: &Client, given: &str) -> CliResult<Uuid> {
    if let Ok(id) = Uuid::parse_str(given.trim()) {
        return Ok(id);
    }
    let all = client.workspaces().await?;
    let matching: Vec<_> = all.iter().filter(|w| w.name == given).collect();
    match matching.as_slice() {
        [one] => Ok(one.id),
        [] => Err(CliError::Usage(format!(
            "no workspace named {given:?} (pass its id or exact name)"
        ))),
        _ => Err(CliError::Usage(format!(
            "several workspaces are named {given:?}; pass the id"
        ))),
    }
}

fn job_id(given: &str) -> CliResult<Uuid> {
    Uuid::parse_str(given.trim())
        .map_err(|_| CliError::Usage(format!("{given:?} is not a job id (a UUID)")))
}

fn print_json<T: serde::Serialize>(v: &T) -> CliResult<()> {
    let text =
        serde_json::to_string_pretty(v).map_err(|e| CliError::Other(format!("json: {e}")))?;
    out(&format!("{text}\n"))
}

/// The machine's name, for naming the API token.
fn hostname() -> String {
    ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .map(|s| s.trim().to_string())
        .chain(std::env::var("HOSTNAME").ok())
        .chain(std::env::var("COMPUTERNAME").ok())
        .find(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown-host".into())
}

/// The password without its line ending (it may contain other whitespace).
pub fn password_from(input: &str) -> &str {
    input
        .strip_suffix("\r\n")
        .or_else(|| input.strip_suffix('\n'))
        .unwrap_or(input)
}

async fn login(a: LoginArgs) -> CliResult<u8> {
    let (server, _) = resolve(&a.conn)?;
    let mut stored = config::load().map_err(CliError::Other)?;
    // A token given outright (`--with-token` on stdin, or --token/QOLLAB_TOKEN) is checked
    // and stored as it is; it was made elsewhere, so logout forgets it without revoking.
    let given = if a.with_token {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .map_err(|e| CliError::Usage(format!("reading the token from stdin: {e}")))?;
        Some(s.trim().to_string())
    } else if a.email.is_none() && !a.password_stdin {
        a.conn.token.clone().map(|t| t.trim().to_string())
    } else {
        None
    };
    if let Some(token) = given {
        if token.is_empty() {
            return Err(CliError::Usage("empty token".into()));
        }
        let me = Client::new(&server).with_token(&token).me().await?;
        stored.server = Some(server.clone());
        stored.token = Some(token);
        stored.token_id = None;
        let path = config::save(&stored).map_err(CliError::Other)?;
        out(&format!(
            "logged in to {server} as {}; token stored in {}\n",
            me.user.email,
            path.display()
        ))?;
        return Ok(0);
    }
    let term = console::Term::stderr();
    let email = match a.email.clone().filter(|e| !e.trim().is_empty()) {
        Some(e) => e,
        None if a.password_stdin || !term.is_term() => {
            return Err(CliError::Usage(
                "--email is required when the password comes from standard input".into(),
            ));
        }
        None => {
            eprint!("E-mail: ");
            term.read_line()
                .map_err(|e| CliError::Other(format!("reading the e-mail: {e}")))?
        }
    };
    let password = if a.password_stdin {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .map_err(|e| CliError::Usage(format!("reading the password from stdin: {e}")))?;
        password_from(&s).to_string()
    } else if term.is_term() {
        eprint!("Password: ");
        term.read_secure_line()
            .map_err(|e| CliError::Other(format!("reading the password: {e}")))?
    } else {
        return Err(CliError::Usage(
            "no terminal to ask for the password; use --password-stdin".into(),
        ));
    };
    if password.is_empty() {
        return Err(CliError::Usage("empty password".into()));
    }
    let anon = Client::new(&server);
    let auth = anon.login(email.trim(), &password).await?;
    let client = anon.with_token(&auth.access_token);
    let name = format!("qollab-cli@{}", hostname());
    let created = client.create_token(&name).await?;
    stored.server = Some(server.clone());
    stored.token = Some(created.secret);
    stored.token_id = Some(created.token.id);
    let path = config::save(&stored).map_err(CliError::Other)?;
    out(&format!(
        "logged in to {server} as {}; API token \"{name}\" stored in {}\n",
        auth.user.email,
        path.display()
    ))?;
    Ok(0)
}

/// A file's text, or standard input's for `-`; unreadable is a usage error.
fn read_source(file: &str) -> CliResult<String> {
    if file == "-" {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .map_err(|e| CliError::Usage(format!("cannot read standard input: {e}")))?;
        return Ok(s);
    }
    std::fs::read_to_string(file).map_err(|e| CliError::Usage(format!("cannot read {file}: {e}")))
}

async fn submit(a: SubmitArgs) -> CliResult<u8> {
    let qasm = a.file.as_deref().map(read_source).transpose()?;
    // What errors are about: the file, or the document.
    let label = match (&a.file, &a.doc) {
        (Some(f), _) => f.clone(),
        (None, Some(d)) => format!("document {d}"),
        (None, None) => return Err(CliError::Usage("give a FILE or --doc".into())),
    };
    let kind = JobKind::parse(&a.kind)
        .ok_or_else(|| CliError::Usage(format!("unknown kind {:?}", a.kind)))?;
    if a.shots < 1 {
        return Err(CliError::Usage("--shots must be at least 1".into()));
    }
    let client = authed(&a.conn)?;
    let ws = a.workspace.id(&client).await?;
    let source = match (qasm, &a.doc) {
        (Some(qasm), _) => JobSource::Qasm { qasm },
        (None, Some(d)) => JobSource::Doc {
            doc_id: documents::doc_id(&client, &a.workspace, d).await?,
        },
        (None, None) => return Err(CliError::Usage("give a FILE or --doc".into())),
    };
    let req = SubmitJobRequest {
        source,
        kind,
        backend: a.backend.clone(),
        shots: a.shots,
        seed: a.seed,
        optimization_level: a.level,
        session_id: a.session,
    };
    if !a.watch {
        let job = client
            .submit_job(ws, &req)
            .await
            .map_err(|e| at_file(e, &label))?;
        if a.json {
            print_json(&job)?;
        } else {
            out(&format!("{}\n", job.id))?;
        }
        return Ok(0);
    }
    // Subscribe before submitting so that no event of the job can be missed.
    let token = client.token().unwrap_or_default().to_string();
    let stream =
        match EventStream::connect(client.base_url(), ws, &token, StreamOptions::default()).await {
            Ok(s) => Some(s),
            Err(e) => {
                eprintln!("warning: no live events ({e}); polling instead");
                None
            }
        };
    let job = client
        .submit_job(ws, &req)
        .await
        .map_err(|e| at_file(e, &label))?;
    if !a.json {
        eprintln!("submitted job {} to {}", job.id, job.backend);
    }
    let done = watch::follow(&client, stream, job).await?;
    watch::report(&client, &done, a.json).await
}

/// Names the file in an OpenQASM error.
fn at_file(e: ClientError, file: &str) -> CliError {
    match e {
        ClientError::Api { status, mut body } if body.error.code.as_str() == "invalid_qasm" => {
            body.error.message = format!("{file}: {}", body.error.message);
            CliError::Api(ClientError::Api { status, body })
        }
        e => CliError::Api(e),
    }
}

async fn jobs_list(
    conn: &ConnArgs,
    workspace: &manage::WorkspaceArg,
    status: Option<String>,
    limit: u64,
    json: bool,
) -> CliResult<u8> {
    let client = authed(conn)?;
    let ws = workspace.id(&client).await?;
    let mut jobs = Vec::new();
    let mut cursor: Option<String> = None;
    while (jobs.len() as u64) < limit {
        let filter = JobFilter {
            status: status.clone(),
            limit: Some((limit - jobs.len() as u64).min(200)),
            ..Default::default()
        };
        let page = client.jobs(ws, &filter, cursor.as_deref()).await?;
        jobs.extend(page.items);
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    if json {
        print_json(&jobs)?;
    } else {
        out(&render::job_table(&jobs))?;
    }
    Ok(0)
}

async fn jobs_show(conn: &ConnArgs, id: &str, json: bool) -> CliResult<u8> {
    let id = job_id(id)?;
    let client = authed(conn)?;
    let job = client.job(id).await?;
    if json {
        print_json(&job)?;
        return Ok(0);
    }
    out(&render::job_detail(&job))?;
    if job.status == "completed" {
        let result = client.job_result(id).await?;
        out(&render::result_text(&result, render::terminal_width()))?;
    }
    Ok(0)
}

async fn jobs_cancel(conn: &ConnArgs, id: &str) -> CliResult<u8> {
    let id = job_id(id)?;
    let client = authed(conn)?;
    let job = client.cancel_job(id).await?;
    if job.status == "cancelled" {
        out(&format!("job {id} cancelled\n"))?;
    } else {
        out(&format!("job {id} is {}; asked it to stop\n", job.status))?;
    }
    Ok(0)
}

/// Prints the events of one streamed AI text (`prefix`: `ai.message` or `ai.analysis`,
/// `key`/`id`: whose) until it completes; returns the exit code. `from_start`: the
/// stream was open before the text began; otherwise its first pieces were missed (they
/// are not stored), so nothing is printed until the completed text arrives whole.
async fn follow_ai(
    stream: &mut EventStream,
    prefix: &str,
    key: &str,
    id: Uuid,
    from_start: bool,
) -> CliResult<u8> {
    let mut printed = String::new();
    loop {
        let e = stream.next().await?;
        if e.data.get(key).and_then(|v| v.as_str()) != Some(id.to_string().as_str()) {
            continue;
        }
        let kind = e.kind.strip_prefix(prefix).unwrap_or("");
        match kind {
            ".delta" if from_start => {
                let d = e.data.get("delta").and_then(|v| v.as_str()).unwrap_or("");
                out(d)?;
                printed.push_str(d);
            }
            ".completed" => {
                let text = e.data.get("text").and_then(|v| v.as_str()).unwrap_or("");
                match text.strip_prefix(printed.as_str()) {
                    Some(rest) => out(rest)?,
                    None => out(&format!("\n{text}"))?,
                }
                out("\n")?;
                if e.data.get("offline").and_then(|v| v.as_bool()) == Some(true) {
                    out("(offline: no AI model answered; these are the engine's findings)\n")?;
                }
                return Ok(0);
            }
            ".failed" => {
                let why = e
                    .data
                    .get("reason")
                    .and_then(|v| v.as_str())
                    .unwrap_or("failed");
                return Err(CliError::Other(format!("the assistant stopped: {why}")));
            }
            _ => {}
        }
    }
}

async fn ai_ask(
    conn: &ConnArgs,
    workspace: &manage::WorkspaceArg,
    doc: Option<Uuid>,
    question: &str,
) -> CliResult<u8> {
    let client = authed(conn)?;
    let ws = workspace.id(&client).await?;
    let token = client.token().unwrap_or_default().to_string();
    // Subscribed first, so that no piece of the answer is missed.
    let mut stream =
        EventStream::connect(client.base_url(), ws, &token, StreamOptions::default()).await?;
    let posted = client.ask_ai(ws, question, doc).await?;
    let interrupted = tokio::signal::ctrl_c();
    tokio::pin!(interrupted);
    let r = tokio::select! {
        _ = &mut interrupted => {
            let _ = client.cancel_ai_message(ws, posted.answer_id).await;
            out("\n(cancelled)\n")?;
            Ok(1)
        }
        r = follow_ai(&mut stream, "ai.message", "message_id", posted.answer_id, true) => r,
    };
    stream.close().await;
    r
}

async fn jobs_explain(conn: &ConnArgs, id: &str, again: bool) -> CliResult<u8> {
    let id = job_id(id)?;
    let client = authed(conn)?;
    let job = client.job(id).await?;
    let print_stored = |a: &AiAnalysis| -> CliResult<u8> {
        out(&format!("{}\n", a.text))?;
        if a.offline {
            out("(offline: no AI model answered; these are the engine's findings)\n")?;
        }
        Ok(0)
    };
    let stored = stored_analysis(&client, id).await?;
    if let Some(a) = &stored
        && a.status == "completed"
        && !again
    {
        return print_stored(a);
    }
    let token = client.token().unwrap_or_default().to_string();
    let mut stream = EventStream::connect(
        client.base_url(),
        job.workspace_id,
        &token,
        StreamOptions::default(),
    )
    .await?;
    // Read again now that the stream is open: one that was running may have ended in
    // between, and its completion would not come again.
    let was_running = stored.as_ref().is_some_and(|a| a.status == "running");
    let now = if was_running {
        stored_analysis(&client, id).await?
    } else {
        stored
    };
    let running = match &now {
        Some(a) if a.status == "running" => true,
        Some(a) if a.status == "completed" && was_running => {
            stream.close().await;
            return print_stored(a);
        }
        _ => false,
    };
    // An automatic analysis may start between the read and the request: then it is joined.
    let running = running
        || match client.request_job_analysis(id).await {
            Ok(_) => false,
            Err(ClientError::Api { status, .. }) if status.as_u16() == 409 => true,
            Err(e) => return Err(e.into()),
        };
    if running {
        eprintln!("(an analysis of this job is being written; it prints when done)");
    }
    let r = follow_ai(&mut stream, "ai.analysis", "job_id", id, !running).await;
    stream.close().await;
    r
}

async fn stored_analysis(client: &Client, id: Uuid) -> CliResult<Option<AiAnalysis>> {
    match client.job_analysis(id).await {
        Ok(a) => Ok(Some(a)),
        Err(ClientError::Api { status, .. }) if status.as_u16() == 404 => Ok(None),
        Err(e) => Err(e.into()),
    }
}

async fn events(a: EventsArgs) -> CliResult<u8> {
    let client = authed(&a.conn)?;
    let ws = a.workspace.id(&client).await?;
    let token = client.token().unwrap_or_default().to_string();
    let opts = StreamOptions {
        since: a.since,
        ..Default::default()
    };
    let mut stream = EventStream::connect(client.base_url(), ws, &token, opts).await?;
    let interrupted = tokio::signal::ctrl_c();
    tokio::pin!(interrupted);
    loop {
        tokio::select! {
            _ = &mut interrupted => {
                stream.close().await;
                return Ok(0);
            }
            e = stream.next() => {
                let e = e?;
                if a.json {
                    let line = serde_json::to_string(&e)
                        .map_err(|err| CliError::Other(format!("json: {err}")))?;
                    out(&format!("{line}\n"))?;
                } else {
                    out(&format!("{}\n", render::event_line(&e)))?;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use qollab_shared::error::{ErrorBody, ErrorCode, ErrorDetail};
    use reqwest::StatusCode;

    #[tokio::test]
    async fn an_unreachable_server_is_reported_with_the_cause() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .unwrap_or_else(|e| panic!("{e}"));
        let err = crate::rest::Client::new(format!("http://127.0.0.1:{port}"))
            .me()
            .await
            .err()
            .unwrap_or_else(|| panic!("nobody listens on {port}"));
        let text = CliError::Api(err).render();
        assert!(
            text.starts_with("error: cannot reach the server: "),
            "{text}"
        );
        assert!(text.to_lowercase().contains("connection refused"), "{text}");
    }

    fn api(code: ErrorCode, message: &str, details: serde_json::Value) -> CliError {
        CliError::Api(ClientError::Api {
            status: StatusCode::from_u16(code.status()).unwrap_or(StatusCode::BAD_REQUEST),
            body: ErrorBody {
                error: ErrorDetail {
                    code,
                    message: message.into(),
                    details,
                },
            },
        })
    }

    #[test]
    fn errors_show_message_code_and_position() {
        let e = api(
            ErrorCode::InvalidQasm,
            "unknown gate 'hh'",
            serde_json::json!({"line": 4, "col": 1, "message": "unknown gate 'hh'"}),
        );
        assert_eq!(
            e.render(),
            "error: line 4:1: unknown gate 'hh' (invalid_qasm)"
        );
        assert_eq!(e.exit_code(), 2);
        let e = api(
            ErrorCode::InvalidQasm,
            "line 2:3: x",
            serde_json::json!({"line": 2, "col": 3}),
        );
        assert_eq!(e.render(), "error: line 2:3: x (invalid_qasm)");
        let e = api(
            ErrorCode::Forbidden,
            "editors only",
            serde_json::Value::Null,
        );
        assert_eq!(e.render(), "error: editors only (forbidden)");
        assert_eq!(e.exit_code(), 1);
        assert_eq!(CliError::Usage("x".into()).exit_code(), 2);
    }

    #[test]
    fn the_password_keeps_everything_but_the_line_ending() {
        assert_eq!(password_from("p w \n"), "p w ");
        assert_eq!(password_from("pw\r\n"), "pw");
        assert_eq!(password_from("pw"), "pw");
    }

    #[test]
    fn the_host_has_a_name() {
        assert!(!hostname().is_empty());
    }
}
