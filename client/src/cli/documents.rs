//! `qollab docs …`: the workspace's shared circuits from the terminal. An import is one
//! edit that every open editor sees live; a restore keeps the state before as a version.

use uuid::Uuid;

use super::manage::{WorkspaceArg, table};
use super::{CliError, CliResult, ConnArgs, authed, out, print_json, read_source};
use crate::rest::Client;

#[derive(clap::Subcommand, Debug)]
pub enum DocsCommand {
    /// The workspace's documents.
    List {
        #[command(flatten)]
        ws: WorkspaceArg,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        conn: ConnArgs,
    },
    /// Create a document, empty or from an OpenQASM file (`-`: standard input).
    Create {
        /// The document's name.
        name: String,
        /// OpenQASM 2 or 3 to start from.
        file: Option<String>,
        #[command(flatten)]
        ws: WorkspaceArg,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        conn: ConnArgs,
    },
    /// One document: its size, depth, gate counts, problems and who is editing it.
    Show {
        /// Document id, or its exact name in the workspace.
        doc: String,
        #[command(flatten)]
        ws: WorkspaceArg,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        conn: ConnArgs,
    },
    /// Print the document as OpenQASM.
    Export {
        /// The document: id or exact name in the workspace.
        doc: String,
        /// qasm2 or qasm3 [default: the server's choice for the circuit].
        #[arg(long, value_parser = ["qasm2", "qasm3"])]
        dialect: Option<String>,
        #[command(flatten)]
        ws: WorkspaceArg,
        #[command(flatten)]
        conn: ConnArgs,
    },
    /// Replace the document's circuit with an OpenQASM file (`-`: standard input).
    Import {
        /// The document: id or exact name in the workspace.
        doc: String,
        /// OpenQASM 2 or 3 file (`-`: standard input).
        file: String,
        #[command(flatten)]
        ws: WorkspaceArg,
        #[command(flatten)]
        conn: ConnArgs,
    },
    /// The document's saved versions, newest first; `--save NAME` saves one now.
    History {
        /// The document: id or exact name in the workspace.
        doc: String,
        /// Save the current state as a version of this name first.
        #[arg(long)]
        save: Option<String>,
        #[command(flatten)]
        ws: WorkspaceArg,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        conn: ConnArgs,
    },
    /// Put a saved version back (its id or exact name from `qollab docs history`).
    Restore {
        /// The document: id or exact name in the workspace.
        doc: String,
        /// The version's id or name (see `qollab docs history`).
        version: String,
        #[command(flatten)]
        ws: WorkspaceArg,
        #[command(flatten)]
        conn: ConnArgs,
    },
}

/// A document by id, or by exact name in the (default) workspace.
pub async fn doc_id(client: &Client, ws: &WorkspaceArg, given: &str) -> CliResult<Uuid> {
    if let Ok(id) = Uuid::parse_str(given.trim()) {
        return Ok(id);
    }
    let all = client.docs(ws.id(client).await?).await?;
    let matching: Vec<_> = all.iter().filter(|d| d.name == given).collect();
    match matching.as_slice() {
        [one] => Ok(one.id),
        [] => Err(CliError::Usage(format!(
            "no document named {given:?} in the workspace (pass its id or exact name)"
        ))),
        _ => Err(CliError::Usage(format!(
            "several documents are named {given:?}; pass the id"
        ))),
    }
}

fn when(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%d %H:%M").to_string()
}

pub async fn run(cmd: DocsCommand) -> CliResult<u8> {
    match cmd {
        DocsCommand::List { ws, json, conn } => {
            let client = authed(&conn)?;
            let all = client.docs(ws.id(&client).await?).await?;
            if json {
                print_json(&all)?;
            } else {
                let rows: Vec<Vec<String>> = all
                    .iter()
                    .map(|d| vec![d.id.to_string(), d.name.clone(), when(d.updated_at)])
                    .collect();
                out(&table(&["ID", "NAME", "UPDATED"], &rows))?;
            }
        }
        DocsCommand::Create {
            name,
            file,
            ws,
            json,
            conn,
        } => {
            let qasm = file.as_deref().map(read_source).transpose()?;
            let client = authed(&conn)?;
            let d = client
                .create_doc(ws.id(&client).await?, &name, qasm)
                .await
                .map_err(|e| match &file {
                    Some(f) => super::at_file(e, f),
                    None => e.into(),
                })?;
            if json {
                print_json(&d)?;
            } else {
                out(&format!("created document {} ({})\n", d.name, d.id))?;
            }
        }
        DocsCommand::Show {
            doc,
            ws,
            json,
            conn,
        } => {
            let client = authed(&conn)?;
            let d = client.doc(doc_id(&client, &ws, &doc).await?).await?;
            if json {
                print_json(&d)?;
            } else {
                let s = &d.stats;
                let gates: Vec<String> = s
                    .gate_counts
                    .iter()
                    .map(|(g, n)| format!("{g} {n}"))
                    .collect();
                let mut text = format!(
                    "{}  ({})\nqubits {}  clbits {}  gates {}  two-qubit {}  depth {}\n",
                    d.doc.name,
                    d.doc.id,
                    s.qubits,
                    s.clbits,
                    s.total_gates,
                    s.two_qubit_gates,
                    s.depth
                );
                if !gates.is_empty() {
                    text.push_str(&format!("by gate: {}\n", gates.join(", ")));
                }
                text.push_str(&format!(
                    "editing now: {}   updated: {}\n",
                    d.connected_peers,
                    when(d.doc.updated_at)
                ));
                for p in &d.problems {
                    text.push_str(&format!("problem: {}\n", p.message));
                }
                out(&text)?;
            }
        }
        DocsCommand::Export {
            doc,
            dialect,
            ws,
            conn,
        } => {
            let client = authed(&conn)?;
            let id = doc_id(&client, &ws, &doc).await?;
            let text = client.export_qasm(id, dialect.as_deref()).await?;
            out(&text)?;
            if !text.ends_with('\n') {
                out("\n")?;
            }
        }
        DocsCommand::Import {
            doc,
            file,
            ws,
            conn,
        } => {
            let qasm = read_source(&file)?;
            let client = authed(&conn)?;
            let id = doc_id(&client, &ws, &doc).await?;
            let d = client
                .import_qasm(id, &qasm)
                .await
                .map_err(|e| super::at_file(e, &file))?;
            out(&format!(
                "{} now has {} gates on {} qubits (depth {})\n",
                d.doc.name, d.stats.total_gates, d.stats.qubits, d.stats.depth
            ))?;
        }
        DocsCommand::History {
            doc,
            save,
            ws,
            json,
            conn,
        } => {
            let client = authed(&conn)?;
            let id = doc_id(&client, &ws, &doc).await?;
            if let Some(name) = save {
                let v = client.create_doc_version(id, &name).await?;
                if !json {
                    eprintln!("saved version {:?} ({})", v.name, v.id);
                }
            }
            let all = client.doc_versions(id).await?;
            if json {
                print_json(&all)?;
            } else {
                let rows: Vec<Vec<String>> = all
                    .iter()
                    .map(|v| {
                        vec![
                            v.id.to_string(),
                            v.name.clone(),
                            v.kind.clone(),
                            when(v.created_at),
                        ]
                    })
                    .collect();
                out(&table(&["ID", "NAME", "KIND", "SAVED"], &rows))?;
            }
        }
        DocsCommand::Restore {
            doc,
            version,
            ws,
            conn,
        } => {
            let client = authed(&conn)?;
            let id = doc_id(&client, &ws, &doc).await?;
            let vid = match Uuid::parse_str(version.trim()) {
                Ok(v) => v,
                Err(_) => {
                    let all = client.doc_versions(id).await?;
                    // Versions are newest first: a reused name means its latest save.
                    all.iter()
                        .find(|v| v.name == version)
                        .map(|v| v.id)
                        .ok_or_else(|| {
                            CliError::Usage(format!(
                                "no version named {version:?} (see `qollab docs history {doc}`)"
                            ))
                        })?
                }
            };
            let d = client.restore_doc(id, vid).await?;
            out(&format!(
                "restored {}: {} gates on {} qubits\n",
                d.doc.name, d.stats.total_gates, d.stats.qubits
            ))?;
        }
    }
    Ok(0)
}
