//! The `qollab` command line: `serve`, `migrate`, and the client and engine commands.

pub mod admin;
pub mod circuit;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::app::{AppState, bind};
use crate::config::Config;
use crate::db::DbOptions;

#[derive(Parser)]
#[command(
    name = "qollab",
    version,
    about = "Real-time collaboration for quantum circuits"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server. Every setting is a flag or a QOLLAB_* environment variable (a
    /// flag wins); all of them are listed below with their defaults.
    Serve(Box<crate::config::Settings>),
    /// Apply database migrations and exit.
    Migrate,
    /// Operator commands on the configured database (plans, secret rotation).
    #[command(subcommand)]
    Admin(admin::AdminCommand),
    /// Inspect, simulate, optimize and convert OpenQASM files locally.
    #[command(subcommand)]
    Circuit(circuit::CircuitCommand),
    #[command(flatten)]
    Client(qollab_client::cli::ClientCommand),
    /// Print a shell completion script, e.g. `qollab completions bash >
    /// /etc/bash_completion.d/qollab`, `qollab completions zsh > "${fpath[1]}/_qollab"`.
    Completions {
        /// bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
    },
}

pub fn main() -> ExitCode {
    crate::config::Settings::forget_empty_env();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            if let Some(env) = setting_of(&e) {
                eprintln!("note: the value comes from {env} or its flag");
            }
            return ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(2));
        }
    };
    match cli.command {
        Command::Serve(settings) => run(serve(*settings)),
        Command::Migrate => run(migrate()),
        Command::Admin(cmd) => run(admin::run(cmd)),
        Command::Client(cmd) => qollab_client::cli::run(cmd),
        Command::Completions { shell } => {
            let mut out = Vec::new();
            clap_complete::generate(
                shell,
                &mut <Cli as clap::CommandFactory>::command(),
                "qollab",
                &mut out,
            );
            match qollab_client::cli::write_stdout(&String::from_utf8_lossy(&out)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("qollab: writing the completions: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Circuit(cmd) => match circuit::run(cmd) {
            Ok(code) => code,
            // The reader of our output went away (`| head`): not an error.
            Err(e) if qollab_client::cli::is_broken_pipe(e.as_ref()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("qollab: {e:#}");
                ExitCode::FAILURE
            }
        },
    }
}

fn run(fut: impl std::future::Future<Output = anyhow::Result<()>>) -> ExitCode {
    match actix_web::rt::System::new().block_on(fut) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("qollab: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The `QOLLAB_*` variable behind a refused value of `qollab serve`, so that an
/// operator who set it in the environment (and typed no flag) knows where to look.
fn setting_of(e: &clap::Error) -> Option<String> {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    if !matches!(
        e.kind(),
        ErrorKind::ValueValidation | ErrorKind::InvalidValue
    ) {
        return None;
    }
    let Some(ContextValue::String(arg)) = e.get(ContextKind::InvalidArg) else {
        return None;
    };
    crate::config::Settings::table()
        .into_iter()
        .find(|i| {
            arg.split([' ', '=']).next() == Some(format!("--{}", i.id.replace('_', "-")).as_str())
        })
        .map(|i| i.env)
}

async fn serve(settings: crate::config::Settings) -> anyhow::Result<()> {
    let config = Config::from_settings(settings)?;
    crate::telemetry::init(&config.log, config.log_json);
    if config.jwt_secret_source == crate::config::SecretSource::Generated {
        tracing::warn!(
            "QOLLAB_JWT_SECRET is not set: generated one and stored it in {}; set it explicitly when running several processes",
            config.data_dir.join(crate::config::SECRET_FILE).display()
        );
    }
    eprintln!(
        "qollab {} starting with:\n{}",
        env!("CARGO_PKG_VERSION"),
        config.banner()
    );
    let state = AppState::init(config, &DbOptions::default()).await?;
    let db = state.db.clone();
    let rooms = state.rooms.clone();
    let (server, addr) = bind(state)?;
    tracing::info!(%addr, "listening");
    eprintln!("qollab listening on http://{addr}");
    server.await?;
    tracing::info!("stopped accepting; compacting open documents");
    rooms.flush().await;
    tracing::info!("closing the database");
    db.close().await;
    Ok(())
}

async fn migrate() -> anyhow::Result<()> {
    let config = Config::from_env()?;
    crate::telemetry::init(&config.log, config.log_json);
    let (db, _) = crate::app::open_storage(&config, &DbOptions::default()).await?;
    eprintln!(
        "migrations applied to {}",
        crate::config::mask_url(&config.database_url)
    );
    db.close().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory as _;

    /// Every command and every argument says what it is for in `--help`.
    #[test]
    fn every_command_and_argument_has_help_text() {
        fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
            for arg in cmd.get_arguments() {
                let id = arg.get_id().as_str();
                if id != "help" && id != "version" && arg.get_help().is_none() {
                    missing.push(format!("{path} --{id}"));
                }
            }
            for sub in cmd.get_subcommands() {
                let name = sub.get_name();
                if name == "help" {
                    continue;
                }
                let here = format!("{path} {name}");
                if sub.get_about().is_none() {
                    missing.push(here.clone());
                }
                walk(sub, &here, missing);
            }
        }
        let mut cmd = super::Cli::command();
        cmd.build();
        cmd.clone().debug_assert();
        let mut missing = Vec::new();
        walk(&cmd, "qollab", &mut missing);
        assert!(missing.is_empty(), "no help text: {missing:#?}");
    }
}
