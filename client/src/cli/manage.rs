//! Account and workspace administration, shaped like `gh`: `status`, `logout`,
//! `config`, `workspaces`, `members`, `backends`, `tokens`, and `api` (raw requests).
//!
//! Listings print a table when standard output is a terminal and tab-separated lines
//! without a header otherwise (for `cut`, `awk`, `while read`); `--json` prints the
//! server's objects.

use std::io::{IsTerminal as _, Read as _};

use qollab_shared::api::{Member, Role, UpdateWorkspaceRequest};
use reqwest::Method;
use uuid::Uuid;

use super::{CliError, CliResult, ConnArgs, authed, config, out, print_json, resolve};
use crate::rest::Client;

#[derive(clap::Subcommand, Debug)]
pub enum ManageCommand {
    /// Who you are on which server, and your default workspace.
    Status {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        conn: ConnArgs,
    },
    /// Revoke the API token `qollab login` stored and forget it.
    Logout {
        #[command(flatten)]
        conn: ConnArgs,
    },
    /// Read or change the CLI's settings (the config file `qollab login` writes).
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Your workspaces: list, create, show.
    #[command(subcommand)]
    Workspaces(WorkspacesCommand),
    /// A workspace's members and their roles.
    #[command(subcommand)]
    Members(MembersCommand),
    /// The backends jobs can run on, with their queues.
    Backends {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        conn: ConnArgs,
    },
    /// Your personal API tokens (for scripts and notebooks).
    #[command(subcommand)]
    Tokens(TokensCommand),
    /// Send an authenticated request to the REST API and print the answer, like `gh api`:
    /// `qollab api GET /api/workspaces`. Exits 1 when the server answers with an error.
    Api {
        /// GET, POST, PUT, PATCH or DELETE.
        method: String,
        /// The path, starting with `/api/`.
        path: String,
        /// JSON body: inline, `@FILE`, or `@-` for standard input.
        #[arg(long, short = 'd')]
        data: Option<String>,
        #[command(flatten)]
        conn: ConnArgs,
    },
}

#[derive(clap::Subcommand, Debug)]
pub enum ConfigCommand {
    /// Print one setting (`server`, `workspace`), or all of them without a key.
    Get {
        /// `server` or `workspace`.
        key: Option<String>,
    },
    /// Set `server` (URL) or `workspace` (the default for `-w`: an id or exact name).
    Set {
        /// `server` or `workspace`.
        key: String,
        /// The URL, or the workspace's id or exact name.
        value: String,
    },
    /// Remove a setting.
    Unset {
        /// `server` or `workspace`.
        key: String,
    },
}

#[derive(clap::Subcommand, Debug)]
pub enum WorkspacesCommand {
    /// The workspaces you belong to, with your role.
    List {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        conn: ConnArgs,
    },
    /// Create a workspace (you become its owner).
    Create {
        /// The workspace's name.
        name: String,
        /// What the workspace is for.
        #[arg(long, default_value = "")]
        description: String,
        /// The organization to create it in [default: your personal one].
        #[arg(long)]
        org: Option<Uuid>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        conn: ConnArgs,
    },
    /// One workspace and its members.
    Show {
        /// Id or exact name [default: the default workspace].
        workspace: Option<String>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        conn: ConnArgs,
    },
}

#[derive(clap::Subcommand, Debug)]
pub enum MembersCommand {
    /// Everyone in the workspace and their role.
    List {
        #[command(flatten)]
        ws: WorkspaceArg,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        conn: ConnArgs,
    },
    /// Add someone who has an account, by e-mail (owners only).
    Add {
        /// The person's account e-mail.
        email: String,
        /// viewer, editor or owner.
        #[arg(long, default_value = "editor", value_parser = ROLES)]
        role: String,
        #[command(flatten)]
        ws: WorkspaceArg,
        #[command(flatten)]
        conn: ConnArgs,
    },
    /// Change a member's role (owners only).
    Role {
        /// The member's e-mail or user id.
        member: String,
        /// viewer, editor or owner.
        #[arg(value_parser = ROLES)]
        role: String,
        #[command(flatten)]
        ws: WorkspaceArg,
        #[command(flatten)]
        conn: ConnArgs,
    },
    /// Remove a member (owners; anyone may remove themselves).
    Remove {
        /// The member's e-mail or user id.
        member: String,
        #[command(flatten)]
        ws: WorkspaceArg,
        #[command(flatten)]
        conn: ConnArgs,
    },
}

const ROLES: [&str; 3] = ["viewer", "editor", "owner"];

#[derive(clap::Subcommand, Debug)]
pub enum TokensCommand {
    /// Your API tokens (their secrets are never shown again).
    List {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        conn: ConnArgs,
    },
    /// Create a token and print its secret once.
    Create {
        /// What the token is for (the machine, notebook or job that uses it).
        name: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        conn: ConnArgs,
    },
    /// Revoke a token by id: it stops working at once, live connections included.
    Revoke {
        /// The token's id (see `qollab tokens list`).
        id: Uuid,
        #[command(flatten)]
        conn: ConnArgs,
    },
}

/// `-w`: the workspace a command acts on.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct WorkspaceArg {
    /// Workspace id or exact name [default: $QOLLAB_WORKSPACE, else `qollab config set
    /// workspace`].
    #[arg(long = "workspace", short = 'w', env = "QOLLAB_WORKSPACE")]
    pub workspace: Option<String>,
}

impl WorkspaceArg {
    /// The workspace given, or the configured default.
    pub fn given(&self) -> CliResult<String> {
        if let Some(w) = self.workspace.clone().filter(|w| !w.trim().is_empty()) {
            return Ok(w);
        }
        config::load()
            .map_err(CliError::Other)?
            .workspace
            .filter(|w| !w.trim().is_empty())
            .ok_or_else(|| {
                CliError::Usage(
                    "no workspace: pass -w ID|NAME, set QOLLAB_WORKSPACE, or run `qollab config set workspace NAME`"
                        .into(),
                )
            })
    }

    pub async fn id(&self, client: &Client) -> CliResult<Uuid> {
        super::workspace_id(client, &self.given()?).await
    }
}

/// Rows as an aligned table on a terminal, else tab-separated lines without the header.
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    table_for(std::io::stdout().is_terminal(), headers, rows)
}

pub fn table_for(terminal: bool, headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut s = String::new();
    if !terminal {
        for r in rows {
            // A tab or newline inside a value would shift the columns.
            let cells: Vec<String> = r.iter().map(|c| c.replace(['\t', '\n'], " ")).collect();
            s.push_str(&cells.join("\t"));
            s.push('\n');
        }
        return s;
    }
    let mut width: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            if let Some(w) = width.get_mut(i) {
                *w = (*w).max(c.chars().count());
            }
        }
    }
    let line = |cells: &mut dyn Iterator<Item = &str>| {
        let mut l = String::new();
        for (i, c) in cells.enumerate() {
            let pad = width.get(i).copied().unwrap_or(0);
            l.push_str(&format!("{c:<pad$}  "));
        }
        format!("{}\n", l.trim_end())
    };
    s.push_str(&line(&mut headers.iter().copied()));
    for r in rows {
        s.push_str(&line(&mut r.iter().map(String::as_str)));
    }
    s
}

fn role_of(s: &str) -> CliResult<Role> {
    Role::parse(s).ok_or_else(|| CliError::Usage(format!("unknown role {s:?}")))
}

fn when(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%d %H:%M").to_string()
}

pub async fn run(cmd: ManageCommand) -> CliResult<u8> {
    match cmd {
        ManageCommand::Status { json, conn } => status(&conn, json).await,
        ManageCommand::Logout { conn } => logout(&conn).await,
        ManageCommand::Config(c) => config_cmd(c),
        ManageCommand::Workspaces(c) => workspaces(c).await,
        ManageCommand::Members(c) => members(c).await,
        ManageCommand::Backends { json, conn } => {
            let all = authed(&conn)?.backends().await?;
            if json {
                print_json(&all)?;
            } else {
                let rows: Vec<Vec<String>> = all
                    .iter()
                    .map(|b| {
                        vec![
                            b.name.clone(),
                            b.kind.clone(),
                            b.num_qubits.to_string(),
                            b.queue_length.to_string(),
                            match (&b.available, &b.reason) {
                                (true, _) => "available".into(),
                                (false, Some(r)) => format!("unavailable: {r}"),
                                (false, None) => "unavailable".into(),
                            },
                        ]
                    })
                    .collect();
                out(&table(
                    &["BACKEND", "KIND", "QUBITS", "QUEUED", "STATUS"],
                    &rows,
                ))?;
            }
            Ok(0)
        }
        ManageCommand::Tokens(c) => tokens(c).await,
        ManageCommand::Api {
            method,
            path,
            data,
            conn,
        } => api(&conn, &method, &path, data.as_deref()).await,
    }
}

async fn status(conn: &ConnArgs, json: bool) -> CliResult<u8> {
    let (server, token) = resolve(conn)?;
    let stored = config::load().map_err(CliError::Other)?;
    let default_ws = WorkspaceArg {
        workspace: std::env::var("QOLLAB_WORKSPACE").ok(),
    }
    .given()
    .ok();
    let Some(token) = token else {
        if json {
            print_json(
                &serde_json::json!({"server": server, "logged_in": false, "workspace": default_ws}),
            )?;
        } else {
            out(&format!(
                "server:    {server}\nlogged in: no (run `qollab login`)\n"
            ))?;
        }
        return Ok(1);
    };
    let client = Client::new(&server).with_token(token);
    let me = client.me().await?;
    // The default workspace by name, when it resolves.
    let ws = match &default_ws {
        Some(w) => match super::workspace_id(&client, w).await {
            Ok(id) => client.workspace(id).await.ok().map(|x| (x.id, x.name)),
            Err(_) => None,
        },
        None => None,
    };
    if json {
        print_json(&serde_json::json!({
            "server": server,
            "logged_in": true,
            "user": me.user,
            "token_stored": stored.token.is_some(),
            "workspace": default_ws,
            "workspace_id": ws.as_ref().map(|(id, _)| id),
        }))?;
    } else {
        let ws_line = match (&default_ws, &ws) {
            (_, Some((id, name))) => format!("{name} ({id})"),
            (Some(w), None) => format!("{w} (not found among your workspaces)"),
            (None, None) => "none (set one: `qollab config set workspace NAME`)".into(),
        };
        out(&format!(
            "server:    {server}\nlogged in: {} <{}>\nworkspace: {ws_line}\n",
            me.user.name, me.user.email
        ))?;
    }
    Ok(0)
}

async fn logout(conn: &ConnArgs) -> CliResult<u8> {
    let (server, _) = resolve(conn)?;
    let mut stored = config::load().map_err(CliError::Other)?;
    let Some(token) = stored.token.take() else {
        out("not logged in: no token is stored\n")?;
        return Ok(0);
    };
    // Revoke it so a copy of the config file stops working too; a token that is already
    // gone (revoked elsewhere, another server) is simply forgotten.
    let mut revoked = false;
    if let Some(id) = stored.token_id.take() {
        let client = Client::new(&server).with_token(token);
        match client.delete_token(id).await {
            Ok(()) => revoked = true,
            Err(e) if e.status().is_some_and(|s| matches!(s.as_u16(), 401 | 404)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    let path = config::save(&stored).map_err(CliError::Other)?;
    out(&format!(
        "logged out of {server}; token {} {}\n",
        if revoked {
            "revoked and removed from"
        } else {
            "removed from"
        },
        path.display()
    ))?;
    Ok(0)
}

fn config_cmd(c: ConfigCommand) -> CliResult<u8> {
    let mut cfg = config::load().map_err(CliError::Other)?;
    let known = |k: &str| -> CliResult<()> {
        match k {
            "server" | "workspace" => Ok(()),
            _ => Err(CliError::Usage(format!(
                "unknown setting {k:?}: the settings are `server` and `workspace` (the token is set by `qollab login`)"
            ))),
        }
    };
    match c {
        ConfigCommand::Get { key: None } => {
            let mut s = String::new();
            if let Some(v) = &cfg.server {
                s.push_str(&format!("server={v}\n"));
            }
            if let Some(v) = &cfg.workspace {
                s.push_str(&format!("workspace={v}\n"));
            }
            if cfg.token.is_some() {
                s.push_str("token=(stored)\n");
            }
            out(&s)?;
        }
        ConfigCommand::Get { key: Some(k) } => {
            known(&k)?;
            let v = if k == "server" {
                &cfg.server
            } else {
                &cfg.workspace
            };
            match v {
                Some(v) => out(&format!("{v}\n"))?,
                None => return Ok(1),
            }
        }
        ConfigCommand::Set { key, value } => {
            known(&key)?;
            if value.trim().is_empty() {
                return Err(CliError::Usage(format!(
                    "an empty {key}: use `qollab config unset {key}`"
                )));
            }
            if key == "server" {
                let ok = reqwest::Url::parse(&value)
                    .is_ok_and(|u| matches!(u.scheme(), "http" | "https"));
                if !ok {
                    return Err(CliError::Usage(format!("{value:?} is not an http(s) URL")));
                }
                cfg.server = Some(value);
            } else {
                cfg.workspace = Some(value);
            }
            config::save(&cfg).map_err(CliError::Other)?;
        }
        ConfigCommand::Unset { key } => {
            known(&key)?;
            if key == "server" {
                cfg.server = None;
            } else {
                cfg.workspace = None;
            }
            config::save(&cfg).map_err(CliError::Other)?;
        }
    }
    Ok(0)
}

async fn workspaces(c: WorkspacesCommand) -> CliResult<u8> {
    match c {
        WorkspacesCommand::List { json, conn } => {
            let all = authed(&conn)?.workspaces().await?;
            if json {
                print_json(&all)?;
            } else {
                let rows: Vec<Vec<String>> = all
                    .iter()
                    .map(|w| {
                        vec![
                            w.id.to_string(),
                            w.name.clone(),
                            w.role.as_str().into(),
                            when(w.updated_at),
                        ]
                    })
                    .collect();
                out(&table(&["ID", "NAME", "ROLE", "UPDATED"], &rows))?;
            }
        }
        WorkspacesCommand::Create {
            name,
            description,
            org,
            json,
            conn,
        } => {
            let client = authed(&conn)?;
            let mut w = client.create_workspace(&name, org).await?;
            if !description.is_empty() {
                let patch = UpdateWorkspaceRequest {
                    name: None,
                    description: Some(description),
                };
                w = client.update_workspace(w.id, &patch).await?;
            }
            if json {
                print_json(&w)?;
            } else {
                out(&format!("created workspace {} ({})\n", w.name, w.id))?;
            }
        }
        WorkspacesCommand::Show {
            workspace,
            json,
            conn,
        } => {
            let client = authed(&conn)?;
            let ws = WorkspaceArg { workspace }.id(&client).await?;
            let (w, members) = tokio::try_join!(client.workspace(ws), client.members(ws))?;
            if json {
                print_json(&serde_json::json!({"workspace": w, "members": members}))?;
            } else {
                let mut s = format!("{}  ({})\n", w.name, w.id);
                if !w.description.is_empty() {
                    s.push_str(&format!("{}\n", w.description));
                }
                s.push_str(&format!(
                    "your role: {}   created: {}   members: {}\n\n",
                    w.role.as_str(),
                    when(w.created_at),
                    members.len()
                ));
                s.push_str(&table(&["NAME", "E-MAIL", "ROLE"], &member_rows(&members)));
                out(&s)?;
            }
        }
    }
    Ok(0)
}

fn member_rows(members: &[Member]) -> Vec<Vec<String>> {
    members
        .iter()
        .map(|m| vec![m.name.clone(), m.email.clone(), m.role.as_str().into()])
        .collect()
}

/// A member by e-mail (case-insensitive) or user id.
async fn member_id(client: &Client, ws: Uuid, given: &str) -> CliResult<Uuid> {
    if let Ok(id) = Uuid::parse_str(given.trim()) {
        return Ok(id);
    }
    client
        .members(ws)
        .await?
        .into_iter()
        .find(|m| m.email.eq_ignore_ascii_case(given.trim()))
        .map(|m| m.user_id)
        .ok_or_else(|| CliError::Usage(format!("{given:?} is not a member of this workspace")))
}

async fn members(c: MembersCommand) -> CliResult<u8> {
    match c {
        MembersCommand::List { ws, json, conn } => {
            let client = authed(&conn)?;
            let all = client.members(ws.id(&client).await?).await?;
            if json {
                print_json(&all)?;
            } else {
                out(&table(&["NAME", "E-MAIL", "ROLE"], &member_rows(&all)))?;
            }
        }
        MembersCommand::Add {
            email,
            role,
            ws,
            conn,
        } => {
            let client = authed(&conn)?;
            let m = client
                .add_member(ws.id(&client).await?, email.trim(), role_of(&role)?)
                .await?;
            out(&format!(
                "added {} <{}> as {}\n",
                m.name,
                m.email,
                m.role.as_str()
            ))?;
        }
        MembersCommand::Role {
            member,
            role,
            ws,
            conn,
        } => {
            let client = authed(&conn)?;
            let ws = ws.id(&client).await?;
            let user = member_id(&client, ws, &member).await?;
            client.set_member_role(ws, user, role_of(&role)?).await?;
            out(&format!("{member} is now {role}\n"))?;
        }
        MembersCommand::Remove { member, ws, conn } => {
            let client = authed(&conn)?;
            let ws = ws.id(&client).await?;
            let user = member_id(&client, ws, &member).await?;
            client.remove_member(ws, user).await?;
            out(&format!("removed {member}\n"))?;
        }
    }
    Ok(0)
}

async fn tokens(c: TokensCommand) -> CliResult<u8> {
    match c {
        TokensCommand::List { json, conn } => {
            let all = authed(&conn)?.tokens().await?;
            if json {
                print_json(&all)?;
            } else {
                let rows: Vec<Vec<String>> = all
                    .iter()
                    .map(|t| {
                        vec![
                            t.id.to_string(),
                            t.name.clone(),
                            format!("{}…", t.prefix),
                            when(t.created_at),
                            t.last_used_at.map(when).unwrap_or_else(|| "never".into()),
                        ]
                    })
                    .collect();
                out(&table(
                    &["ID", "NAME", "PREFIX", "CREATED", "LAST USED"],
                    &rows,
                ))?;
            }
        }
        TokensCommand::Create { name, json, conn } => {
            let t = authed(&conn)?.create_token(&name).await?;
            if json {
                print_json(&t)?;
            } else {
                out(&format!("{}\n", t.secret))?;
                eprintln!(
                    "token {:?} ({}) created; the secret above is shown only once",
                    t.token.name, t.token.id
                );
            }
        }
        TokensCommand::Revoke { id, conn } => {
            authed(&conn)?.delete_token(id).await?;
            out(&format!("revoked {id}\n"))?;
        }
    }
    Ok(0)
}

/// `-d`: inline JSON, `@FILE` or `@-`; checked locally so a typo is not a server error.
fn body_of(data: &str) -> CliResult<serde_json::Value> {
    let text = match data.strip_prefix('@') {
        Some("-") => {
            let mut s = String::new();
            std::io::stdin()
                .read_to_string(&mut s)
                .map_err(|e| CliError::Usage(format!("cannot read standard input: {e}")))?;
            s
        }
        Some(file) => std::fs::read_to_string(file)
            .map_err(|e| CliError::Usage(format!("cannot read {file}: {e}")))?,
        None => data.to_string(),
    };
    serde_json::from_str(&text).map_err(|e| CliError::Usage(format!("--data is not JSON: {e}")))
}

async fn api(conn: &ConnArgs, method: &str, path: &str, data: Option<&str>) -> CliResult<u8> {
    let method = match method.to_ascii_uppercase().as_str() {
        "GET" => Method::GET,
        "POST" => Method::POST,
        "PUT" => Method::PUT,
        "PATCH" => Method::PATCH,
        "DELETE" => Method::DELETE,
        other => {
            return Err(CliError::Usage(format!(
                "unsupported method {other:?}: use GET, POST, PUT, PATCH or DELETE"
            )));
        }
    };
    if !path.starts_with('/') {
        return Err(CliError::Usage(format!(
            "{path:?}: the path starts with / (e.g. /api/workspaces)"
        )));
    }
    let body = data.map(body_of).transpose()?;
    let (server, token) = resolve(conn)?;
    let client = match token {
        Some(t) => Client::new(server).with_token(t),
        None => Client::new(server),
    };
    let mut rb = client.request(method, path);
    if let Some(b) = &body {
        rb = rb.json(b);
    }
    let res = rb.send().await.map_err(crate::rest::ClientError::from)?;
    let status = res.status();
    let bytes = res.bytes().await.map_err(crate::rest::ClientError::from)?;
    // JSON pretty-printed, anything else as it came.
    let text = match serde_json::from_slice::<serde_json::Value>(&bytes) {
        Ok(v) => serde_json::to_string_pretty(&v).unwrap_or_default(),
        Err(_) => String::from_utf8_lossy(&bytes).into_owned(),
    };
    if !text.is_empty() {
        out(&format!("{}\n", text.trim_end()))?;
    }
    if status.is_success() {
        Ok(0)
    } else {
        eprintln!("error: HTTP {status}");
        Ok(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_on_a_terminal_and_are_tab_separated_otherwise() {
        let rows = vec![
            vec!["1".to_string(), "Bell lab".to_string()],
            vec!["22".to_string(), "a\tb".to_string()],
        ];
        assert_eq!(
            table_for(true, &["ID", "NAME"], &rows),
            "ID  NAME\n1   Bell lab\n22  a\tb\n"
        );
        assert_eq!(
            table_for(false, &["ID", "NAME"], &rows),
            "1\tBell lab\n22\ta b\n"
        );
    }

    #[test]
    fn api_bodies_are_checked_before_sending() {
        assert_eq!(
            body_of(r#"{"a":1}"#).ok(),
            Some(serde_json::json!({"a": 1}))
        );
        assert!(matches!(body_of("{nope"), Err(CliError::Usage(m)) if m.contains("not JSON")));
        assert!(matches!(
            body_of("@/nonexistent/x.json"),
            Err(CliError::Usage(_))
        ));
    }
}
