//! `qollab analytics`: a workspace's or an organization's activity over a time range, as
//! a readable report, the server's CSV (`--csv`) or its JSON (`--json`). The report is
//! aligned text even when piped: scripts take `--csv` or `--json`.

use chrono::{DateTime, NaiveDate, Utc};
use qollab_shared::analytics::{Analytics, Percentiles};
use uuid::Uuid;

use super::manage::{WorkspaceArg, table_for};
use super::{CliError, CliResult, ConnArgs, authed, out, print_json};
use crate::rest::AnalyticsScope;

#[derive(clap::Args, Debug)]
pub struct AnalyticsArgs {
    #[command(flatten)]
    ws: WorkspaceArg,
    /// An organization's id instead of a workspace: every workspace of it (its members
    /// only); wins over -w.
    #[arg(long)]
    org: Option<Uuid>,
    /// Start: a date (YYYY-MM-DD, midnight UTC) or an RFC 3339 time [default: 30 days before --to].
    #[arg(long)]
    from: Option<String>,
    /// End, exclusive: a date or an RFC 3339 time [default: now].
    #[arg(long)]
    to: Option<String>,
    /// Bucket of the time series.
    #[arg(long, value_parser = ["hour", "day", "week"], default_value = "day")]
    bucket: String,
    /// Print the server's CSV (section,start,key,metric,value) instead of the report.
    #[arg(long, conflicts_with = "json")]
    csv: bool,
    /// Print JSON instead of the report.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    conn: ConnArgs,
}

/// A date means its midnight UTC; anything else must be RFC 3339.
fn time_arg(flag: &str, s: &str) -> CliResult<String> {
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Ok(format!("{d}T00:00:00Z"));
    }
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc).to_rfc3339())
        .map_err(|_| {
            CliError::Usage(format!(
                "--{flag} {s:?}: give a date (2026-12-01) or an RFC 3339 time (2026-12-01T09:00:00Z)"
            ))
        })
}

pub async fn run(a: AnalyticsArgs) -> CliResult<u8> {
    let client = authed(&a.conn)?;
    let scope = match a.org {
        Some(org) => AnalyticsScope::Org(org),
        None => AnalyticsScope::Workspace(a.ws.id(&client).await?),
    };
    let mut query = vec![("bucket", a.bucket.clone())];
    if let Some(f) = &a.from {
        query.push(("from", time_arg("from", f)?));
    }
    if let Some(t) = &a.to {
        query.push(("to", time_arg("to", t)?));
    }
    if a.csv {
        out(client.analytics_csv(scope, &query).await?.trim_end())?;
        return Ok(0);
    }
    let report = client.analytics(scope, &query).await?;
    if a.json {
        print_json(&report)?;
    } else {
        out(&render(&report))?;
    }
    Ok(0)
}

fn pct(v: Option<f64>) -> String {
    v.map(|v| format!("{:.1} %", v * 100.0))
        .unwrap_or_else(|| "–".into())
}

fn duration(ms: Option<f64>) -> String {
    match ms {
        None => "–".into(),
        Some(ms) if ms < 1000.0 => format!("{ms:.0} ms"),
        Some(ms) if ms < 120_000.0 => format!("{:.1} s", ms / 1000.0),
        Some(ms) => format!("{:.1} min", ms / 60_000.0),
    }
}

fn percentiles(p: &Percentiles) -> String {
    if p.count == 0 {
        return "no jobs".into();
    }
    format!(
        "p50 {} · p95 {} ({} jobs)",
        duration(p.p50),
        duration(p.p95),
        p.count
    )
}

/// The report: totals, then one table per section (empty sections left out).
pub fn render(a: &Analytics) -> String {
    let mut s = String::new();
    let day = |t: DateTime<Utc>| t.format("%Y-%m-%d %H:%M").to_string();
    s.push_str(&format!(
        "{} analytics · {} → {} UTC (by {})\n\n",
        if a.scope == "organization" {
            "Organization"
        } else {
            "Workspace"
        },
        day(a.from),
        day(a.to),
        a.bucket.as_str()
    ));
    let j = &a.jobs;
    let b = &j.by_status;
    s.push_str(&format!(
        "Jobs        {} ({} completed, {} failed, {} cancelled, {} queued, {} running) · success {} · {} shots\n",
        j.total, b.completed, b.failed, b.cancelled, b.queued, b.running, pct(j.success_rate), j.shots
    ));
    s.push_str(&format!("Queue wait  {}\n", percentiles(&a.queue_wait_ms)));
    s.push_str(&format!("Run time    {}\n", percentiles(&a.run_time_ms)));
    let o = &a.optimizer;
    if o.jobs > 0 {
        s.push_str(&format!(
            "Optimizer   {} jobs: gates {} → {} (saved {}), 2-qubit {} → {}, depth {} → {}\n",
            o.jobs,
            o.gates_before,
            o.gates_after,
            pct(o.gates_saved),
            o.two_qubit_before,
            o.two_qubit_after,
            o.depth_before,
            o.depth_after
        ));
    } else {
        s.push_str("Optimizer   no optimized jobs\n");
    }
    s.push_str(&format!(
        "AI          {} requests · {} prompt + {} completion tokens\n",
        a.ai.requests, a.ai.prompt_tokens, a.ai.completion_tokens
    ));
    s.push_str(&format!(
        "Points      {} in {} awards\n",
        a.points.points, a.points.awards
    ));
    let mut section = |title: &str, headers: &[&str], rows: Vec<Vec<String>>| {
        if rows.is_empty() {
            return;
        }
        s.push_str(&format!("\n{title}\n"));
        s.push_str(&table_for(true, headers, &rows));
    };
    section(
        &format!("By {}", a.bucket.as_str()),
        &[
            "START",
            "JOBS",
            "COMPLETED",
            "FAILED",
            "CANCELLED",
            "SHOTS",
            "SUCCESS",
        ],
        a.series
            .iter()
            .filter(|p| p.total > 0)
            .map(|p| {
                vec![
                    day(p.start),
                    p.total.to_string(),
                    p.by_status.completed.to_string(),
                    p.by_status.failed.to_string(),
                    p.by_status.cancelled.to_string(),
                    p.shots.to_string(),
                    pct(p.success_rate),
                ]
            })
            .collect(),
    );
    section(
        "Backends",
        &["BACKEND", "JOBS", "SHOTS"],
        a.backends
            .iter()
            .map(|b| vec![b.backend.clone(), b.jobs.to_string(), b.shots.to_string()])
            .collect(),
    );
    section(
        "Most-run documents",
        &["DOCUMENT", "JOBS"],
        a.documents
            .iter()
            .map(|d| {
                let name = if d.name.is_empty() {
                    format!("(deleted {})", d.doc_id)
                } else {
                    d.name.clone()
                };
                vec![name, d.jobs.to_string()]
            })
            .collect(),
    );
    section(
        "Members",
        &["NAME", "JOBS", "AI", "CHAT", "POINTS"],
        a.members
            .iter()
            .map(|m| {
                vec![
                    m.name.clone(),
                    m.jobs.to_string(),
                    m.ai_requests.to_string(),
                    m.chat_messages.to_string(),
                    m.points.to_string(),
                ]
            })
            .collect(),
    );
    s.trim_end().to_string()
}
