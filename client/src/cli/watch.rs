//! `qollab submit --watch`: follow a job to its end with a progress display.

use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use qollab_shared::api::Job;
use qollab_shared::events::kinds;

use super::{CliError, CliResult, out, print_json, render};
use crate::events::EventStream;
use crate::rest::Client;

/// Polled as a fallback when no event arrives for this long.
const POLL: Duration = Duration::from_secs(2);

fn event_job(e: &qollab_shared::events::Event) -> Option<String> {
    e.data["job"]["id"]
        .as_str()
        .or_else(|| e.data["job_id"].as_str())
        .map(str::to_string)
}

/// Follows `job` until it finishes; returns its final state.
pub async fn follow(client: &Client, mut stream: Option<EventStream>, job: Job) -> CliResult<Job> {
    let bar = ProgressBar::new(100);
    let spinner = ProgressStyle::with_template("{spinner} {msg}")
        .unwrap_or_else(|_| ProgressStyle::default_spinner());
    let running = ProgressStyle::with_template("{msg} [{bar:40}] {pos:>3}%")
        .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(spinner.clone());
    bar.enable_steady_tick(Duration::from_millis(120));
    let id = job.id.to_string();
    let mut current = job;
    loop {
        match current.status.as_str() {
            "queued" => {
                bar.set_style(spinner.clone());
                bar.set_message(format!(
                    "queued (position {})",
                    current.queue_position.unwrap_or(0)
                ));
            }
            "running" => {
                bar.set_style(running.clone());
                bar.set_message("running".to_string());
                bar.set_position((current.progress * 100.0).round() as u64);
            }
            _ => break,
        }
        let mut refresh = true;
        if let Some(s) = stream.as_mut() {
            match tokio::time::timeout(POLL, s.next()).await {
                Ok(Ok(e)) => {
                    if e.kind == kinds::JOB_PROGRESS && event_job(&e).as_deref() == Some(&id) {
                        current.status = "running".into();
                        current.progress = e.data["progress"].as_f64().unwrap_or(0.0);
                        refresh = false;
                    } else {
                        refresh = e.kind.starts_with("job.") || e.kind == kinds::RESYNC;
                    }
                }
                Ok(Err(err)) => {
                    bar.println(format!("warning: live events lost ({err}); polling"));
                    stream = None;
                }
                Err(_) => {}
            }
        } else {
            tokio::time::sleep(POLL / 4).await;
        }
        if refresh {
            current = client.job(current.id).await?;
        }
    }
    bar.finish_and_clear();
    if let Some(s) = stream {
        s.close().await;
    }
    Ok(current)
}

/// Prints the outcome; the exit code is 0 when completed, 1 otherwise.
pub async fn report(client: &Client, job: &Job, json: bool) -> CliResult<u8> {
    let result = if job.status == "completed" {
        Some(client.job_result(job.id).await?)
    } else {
        None
    };
    if json {
        print_json(&serde_json::json!({"job": job, "result": result}))?;
    } else if let Some(r) = &result {
        out(&format!("job {} completed\n", job.id))?;
        out(&render::result_text(r, render::terminal_width()))?;
    } else {
        eprintln!(
            "job {} {}{}",
            job.id,
            job.status,
            job.error
                .as_deref()
                .map(|e| format!(": {e}"))
                .unwrap_or_default()
        );
    }
    match job.status.as_str() {
        "completed" => Ok(0),
        "failed" | "cancelled" => Ok(1),
        s => Err(CliError::Other(format!(
            "job ended in unexpected state {s}"
        ))),
    }
}
