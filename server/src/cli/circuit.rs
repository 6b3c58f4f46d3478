//! `qollab circuit …`: inspect, simulate, optimize and convert OpenQASM files.
//!
//! Flag parsing only; the work and its reports live in `qollab_quantum::commands`.

use std::process::ExitCode;
use std::sync::atomic::AtomicBool;

use anyhow::Context as _;
use qollab_quantum::commands::{self, Format};
use qollab_quantum::equiv::EquivStatus;
use qollab_quantum::sim::{Precision, SimOptions};

#[derive(clap::Subcommand, Debug)]
pub enum CircuitCommand {
    /// Qubits, gates by kind, two-qubit gate count and depth.
    Info {
        /// OpenQASM 2.0 or 3 file.
        file: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Run the circuit on the state-vector simulator (noisy with --device).
    Simulate {
        /// OpenQASM 2 or 3 file (`-`: standard input).
        file: String,
        /// Measurement shots.
        #[arg(long, default_value_t = 1024)]
        shots: usize,
        /// Seed for sampling (random when omitted; the seed used is reported).
        #[arg(long)]
        seed: Option<u64>,
        /// Also print the final amplitudes (up to 20 qubits).
        #[arg(long)]
        statevector: bool,
        /// Device JSON: simulate with noise from its calibration.
        #[arg(long)]
        device: Option<String>,
        /// Largest qubit count to simulate (2^n amplitudes of 16 bytes).
        #[arg(long, default_value_t = qollab_quantum::sim::DEFAULT_MAX_QUBITS)]
        max_qubits: usize,
        /// Amplitude precision: double (complex128) or single (complex64: half the memory
        /// and faster, ~1e-7 relative rounding per gate). Ideal simulation only.
        #[arg(long, default_value = "double", value_parser = ["single", "double"])]
        precision: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Optimize (and route onto a device); the result is checked for equivalence.
    Optimize {
        /// OpenQASM 2 or 3 file (`-`: standard input).
        file: String,
        /// Optimization level, 0 to 3.
        #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u8).range(0..=3))]
        level: u8,
        /// Device JSON: lay out, route and translate to its basis.
        #[arg(long)]
        device: Option<String>,
        /// Target gate set, e.g. h,x,rz,cx or rz,sx,x,cx.
        #[arg(long)]
        basis: Option<String>,
        /// Write the optimized circuit here (.qasm; OpenQASM 3 when the name ends in .qasm3).
        #[arg(short = 'o', long = "output")]
        output: Option<String>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Convert between OpenQASM 2, OpenQASM 3 and the JSON circuit IR.
    Convert {
        /// OpenQASM 2 or 3 file (`-`: standard input).
        file: String,
        /// Output format.
        #[arg(long, value_parser = ["qasm2", "qasm3", "json"])]
        to: String,
        /// Write here instead of standard output.
        #[arg(short = 'o', long = "output")]
        output: Option<String>,
    },
}

use qollab_client::cli::write_stdout;

/// Exit code when an optimized circuit failed its equivalence check.
const EXIT_NOT_EQUIVALENT: u8 = 3;

pub fn run(cmd: CircuitCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        CircuitCommand::Info { file, json } => {
            let c = commands::load(&file)?;
            let r = commands::info(&c).with_context(|| file.clone())?;
            if json {
                write_stdout(&format!("{}\n", serde_json::to_string_pretty(&r)?))?;
            } else {
                write_stdout(&commands::render_info(&r))?;
            }
            Ok(ExitCode::SUCCESS)
        }
        CircuitCommand::Simulate {
            file,
            shots,
            seed,
            statevector,
            device,
            max_qubits,
            precision,
            json,
        } => {
            let precision: Precision = precision.parse().map_err(anyhow::Error::msg)?;
            if device.is_some() && !precision.is_double() {
                anyhow::bail!(
                    "--precision single is not available with --device (noisy runs are double)"
                );
            }
            let c = commands::load(&file)?;
            let device = device.as_deref().map(commands::load_device).transpose()?;
            let opts = SimOptions {
                shots,
                seed,
                statevector,
                max_qubits,
                precision,
                ..Default::default()
            };
            let r = commands::simulate_with(&c, &opts, device.as_ref(), &AtomicBool::new(false))
                .with_context(|| file.clone())?;
            if json {
                write_stdout(&format!("{}\n", serde_json::to_string_pretty(&r)?))?;
            } else {
                write_stdout(&commands::render_simulate(&r))?;
            }
            Ok(ExitCode::SUCCESS)
        }
        CircuitCommand::Optimize {
            file,
            level,
            device,
            basis,
            output,
            json,
        } => {
            let c = commands::load(&file)?;
            let device = device.as_deref().map(commands::load_device).transpose()?;
            let opts = commands::optimize_options(level, basis.as_deref(), device)?;
            let (out, report) =
                commands::optimize_circuit(&c, &opts).with_context(|| file.clone())?;
            if let Some(path) = &output {
                let format = if path.ends_with(".qasm3") {
                    Format::Qasm3
                } else {
                    Format::Qasm2
                };
                let text = commands::convert(&out, format)?;
                std::fs::write(path, text).with_context(|| format!("cannot write {path}"))?;
            }
            if json {
                write_stdout(&format!("{}\n", serde_json::to_string_pretty(&report)?))?;
            } else {
                write_stdout(&commands::render_optimize(&report))?;
            }
            if report.equivalence.status == EquivStatus::Failed {
                eprintln!(
                    "qollab: the optimized circuit is NOT equivalent to the input; this is a bug, please report it"
                );
                return Ok(ExitCode::from(EXIT_NOT_EQUIVALENT));
            }
            Ok(ExitCode::SUCCESS)
        }
        CircuitCommand::Convert { file, to, output } => {
            let c = commands::load(&file)?;
            let format: Format = to.parse().map_err(anyhow::Error::msg)?;
            let text = commands::convert(&c, format)?;
            match output {
                Some(path) => {
                    std::fs::write(&path, text).with_context(|| format!("cannot write {path}"))?
                }
                None => write_stdout(&text)?,
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
