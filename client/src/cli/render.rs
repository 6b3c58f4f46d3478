//! Text output of the client commands: job tables, histograms, event lines.

use std::fmt::Write as _;

use qollab_shared::api::Job;
use qollab_shared::events::{Event, kinds};
use qollab_shared::quest::{AttemptResult, ChallengeView, Leaderboard, Target};

/// Rows shown at most in a histogram; the rest are summed up in one line.
const MAX_ROWS: usize = 32;

/// Columns of standard output: the terminal's, else `$COLUMNS`, else 80.
pub fn terminal_width() -> usize {
    let term = console::Term::stdout();
    if let Some((_, cols)) = term.size_checked() {
        return cols as usize;
    }
    std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.trim().parse().ok())
        .filter(|&c: &usize| c >= 20)
        .unwrap_or(80)
}

/// Counts as sorted histogram rows: most frequent first, ties by bitstring.
pub fn sorted_counts(counts: &serde_json::Value) -> Vec<(String, u64)> {
    let mut rows: Vec<(String, u64)> = counts
        .as_object()
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| v.as_u64().map(|n| (k.clone(), n)))
                .collect()
        })
        .unwrap_or_default();
    rows.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    rows
}

/// One line per bitstring: `bits  ████████  count  percent`, bars scaled to `width`.
pub fn histogram(rows: &[(String, u64)], width: usize) -> String {
    let mut out = String::new();
    if rows.is_empty() {
        out.push_str("(no counts)\n");
        return out;
    }
    let total: u64 = rows.iter().map(|r| r.1).sum();
    let max = rows.iter().map(|r| r.1).max().unwrap_or(1).max(1);
    let key_w = rows
        .iter()
        .take(MAX_ROWS)
        .map(|r| r.0.chars().count())
        .max()
        .unwrap_or(1);
    let count_w = max.to_string().len();
    // "bits␣␣bar␣␣count␣␣(100.0%)"
    let fixed = key_w + 2 + 2 + count_w + 2 + 8;
    let bar_w = width.saturating_sub(fixed).max(10);
    for (bits, n) in rows.iter().take(MAX_ROWS) {
        let len = ((*n as f64 / max as f64) * bar_w as f64).round() as usize;
        let len = if *n > 0 { len.max(1) } else { 0 };
        let pct = 100.0 * *n as f64 / total.max(1) as f64;
        let _ = writeln!(
            out,
            "{bits:<key_w$}  {:<bar_w$}  {n:>count_w$}  ({pct:5.1}%)",
            "█".repeat(len)
        );
    }
    if rows.len() > MAX_ROWS {
        let rest: u64 = rows[MAX_ROWS..].iter().map(|r| r.1).sum();
        let _ = writeln!(
            out,
            "… {} more outcome(s) with {rest} shot(s)",
            rows.len() - MAX_ROWS
        );
    }
    out
}

/// A completed job's result as text: the counts histogram and the optimizer summary.
pub fn result_text(result: &serde_json::Value, width: usize) -> String {
    let mut out = String::new();
    if let Some(opt) = result.get("optimization").filter(|o| o.is_object()) {
        let _ = writeln!(out, "optimization: {}", summarize_optimization(opt));
    }
    if let Some(counts) = result.get("counts").filter(|c| c.is_object()) {
        let rows = sorted_counts(counts);
        let shots: u64 = rows.iter().map(|r| r.1).sum();
        let _ = writeln!(out, "counts ({shots} shots):");
        out.push_str(&histogram(&rows, width));
    }
    if let Some(p) = result
        .get("estimated_success_probability")
        .and_then(|p| p.as_f64())
    {
        let _ = writeln!(out, "estimated success probability: {:.3}", p);
    }
    out
}

fn summarize_optimization(opt: &serde_json::Value) -> String {
    let mut parts = Vec::new();
    for (label, before, after) in [
        ("gates", "gates_before", "gates_after"),
        ("two-qubit gates", "two_qubit_before", "two_qubit_after"),
        ("depth", "depth_before", "depth_after"),
    ] {
        if let (Some(b), Some(a)) = (find_number(opt, before), find_number(opt, after)) {
            parts.push(format!("{label} {b} → {a}"));
        }
    }
    if let Some(s) = opt["equivalence"]["status"].as_str() {
        parts.push(format!("equivalence {s}"));
    }
    if parts.is_empty() {
        "done (see `qollab jobs show --json` or the optimized.qasm artifact)".into()
    } else {
        parts.join(", ")
    }
}

fn find_number(v: &serde_json::Value, key: &str) -> Option<u64> {
    v.get(key).and_then(|n| n.as_u64())
}

pub fn job_table(jobs: &[Job]) -> String {
    let mut out = String::new();
    if jobs.is_empty() {
        out.push_str("no jobs\n");
        return out;
    }
    let _ = writeln!(
        out,
        "{:<36}  {:<9}  {:<21}  {:<24}  {:>7}  QUEUED AT",
        "ID", "STATUS", "KIND", "BACKEND", "SHOTS"
    );
    for j in jobs {
        let status = match (j.status.as_str(), j.queue_position) {
            ("queued", Some(p)) => format!("queued#{p}"),
            ("running", _) => format!("run {:>3.0}%", j.progress * 100.0),
            (s, _) => s.to_string(),
        };
        let _ = writeln!(
            out,
            "{:<36}  {:<9}  {:<21}  {:<24}  {:>7}  {}",
            j.id,
            status,
            j.kind.as_str(),
            j.backend,
            j.shots,
            j.queued_at.format("%Y-%m-%d %H:%M:%S")
        );
    }
    out
}

pub fn job_detail(j: &Job) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "job        {}", j.id);
    let _ = writeln!(out, "status     {}", j.status);
    if let Some(p) = j.queue_position.filter(|_| j.status == "queued") {
        let _ = writeln!(out, "position   {p} job(s) ahead");
    }
    if j.status == "running" {
        let _ = writeln!(out, "progress   {:.0}%", j.progress * 100.0);
    }
    let _ = writeln!(out, "kind       {}", j.kind.as_str());
    let _ = writeln!(out, "backend    {}", j.backend);
    let _ = writeln!(
        out,
        "shots      {}{}",
        j.shots,
        j.seed.map(|s| format!(" (seed {s})")).unwrap_or_default()
    );
    let _ = writeln!(out, "level      {}", j.optimization_level);
    let _ = writeln!(out, "qubits     {}", j.num_qubits);
    if let Some(d) = j.source_doc_id {
        let _ = writeln!(out, "document   {d}");
    }
    let _ = writeln!(out, "workspace  {}", j.workspace_id);
    let _ = writeln!(out, "queued     {}", j.queued_at.to_rfc3339());
    if let Some(t) = j.started_at {
        let _ = writeln!(out, "started    {}", t.to_rfc3339());
    }
    if let Some(t) = j.finished_at {
        let _ = writeln!(out, "finished   {}", t.to_rfc3339());
    }
    if let Some(e) = &j.error {
        let _ = writeln!(out, "error      {e}");
    }
    out
}

/// One human-readable line per event.
pub fn event_line(e: &Event) -> String {
    let d = &e.data;
    let job = &d["job"];
    let job_id = job["id"].as_str().or_else(|| d["job_id"].as_str());
    let summary = match e.kind.as_str() {
        kinds::JOB_PROGRESS => format!(
            "job {} {:.0}%",
            job_id.unwrap_or("?"),
            d["progress"].as_f64().unwrap_or(0.0) * 100.0
        ),
        k if k.starts_with("job.") => {
            let mut s = format!(
                "job {} {} on {}",
                job_id.unwrap_or("?"),
                job["status"].as_str().unwrap_or("?"),
                job["backend"].as_str().unwrap_or("?")
            );
            if let Some(err) = job["error"].as_str() {
                let _ = write!(s, ": {err}");
            }
            s
        }
        kinds::CHAT_MESSAGE => format!(
            "{}: {}",
            d["author_name"]
                .as_str()
                .or_else(|| d["message"]["author_name"].as_str())
                .unwrap_or("?"),
            d["text"]
                .as_str()
                .or_else(|| d["message"]["text"].as_str())
                .unwrap_or("")
        ),
        kinds::PRESENCE_JOINED | kinds::PRESENCE_LEFT => {
            d["name"].as_str().unwrap_or("someone").to_string()
        }
        kinds::RESYNC => format!(
            "too far behind to replay; following from event {}",
            d["latest"].as_i64().unwrap_or(e.id)
        ),
        _ => serde_json::to_string(d).unwrap_or_default(),
    };
    format!(
        "#{:<5} {}  {:<16} {}",
        e.id,
        e.at.format("%H:%M:%S"),
        e.kind,
        summary
    )
}

/// The inbox as a table: unread marked with `*`, batches with their count.
pub fn notifications(page: &qollab_shared::notify::NotificationPage) -> String {
    let mut out = String::new();
    if page.items.is_empty() {
        out.push_str("no notifications\n");
        return out;
    }
    let _ = writeln!(out, "  {:>6}  {:<11}  {:<16}  TITLE", "ID", "KIND", "WHEN");
    for n in &page.items {
        let mark = if n.read { ' ' } else { '*' };
        let when = n.updated_at.format("%Y-%m-%d %H:%M").to_string();
        let mut line = n.title.clone();
        if !n.body.is_empty() {
            line.push_str(" — ");
            line.push_str(&n.body);
        }
        let _ = writeln!(
            out,
            "{mark} {:>6}  {:<11}  {:<16}  {line}",
            n.id,
            n.kind.as_str(),
            when
        );
    }
    let _ = writeln!(out, "{} unread", page.unread);
    out
}

pub fn quest_table(all: &[ChallengeView]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<22}  {:<12}  {:<30}  {:>6}  {:>6}  STATUS",
        "KEY", "TIER", "TITLE", "QUBITS", "POINTS"
    );
    for c in all {
        let p = &c.progress;
        let status = match p.best_score {
            Some(best) => format!("solved, best {best}"),
            None if p.attempts > 0 => format!("{} attempt(s)", p.attempts),
            None => "-".into(),
        };
        let _ = writeln!(
            out,
            "{:<22}  {:<12}  {:<30}  {:>6}  {:>6}  {status}",
            c.challenge.key,
            c.challenge.tier,
            c.challenge.title,
            c.challenge.qubits,
            c.challenge.points
        );
    }
    out
}

pub fn quest_detail(v: &ChallengeView) -> String {
    let c = &v.challenge;
    let mut out = String::new();
    let _ = writeln!(out, "{} ({}, {})", c.title, c.key, c.tier);
    let _ = writeln!(out, "\n{}\n", c.description.trim());
    let target = match &c.target {
        Target::State(_) => "a state (up to global phase)",
        Target::Unitary(_) => "a unitary (up to global phase)",
        Target::Distribution(_) => "a distribution of measured bits",
    };
    let _ = writeln!(out, "target      {target}, fidelity ≥ {}", c.threshold);
    let _ = writeln!(out, "qubits      {}", c.qubits);
    let k = &c.constraints;
    let mut limits = Vec::new();
    if let Some(g) = &k.allowed_gates {
        limits.push(format!("only {}", g.join(" ")));
    }
    if !k.required_gates.is_empty() {
        limits.push(format!("must use {}", k.required_gates.join(" ")));
    }
    for (what, n) in [
        ("gates", k.max_gates),
        ("depth", k.max_depth),
        ("2-qubit gates", k.max_two_qubit_gates),
        ("T gates", k.max_t_gates),
    ] {
        if let Some(n) = n {
            limits.push(format!("≤ {n} {what}"));
        }
    }
    if !limits.is_empty() {
        let _ = writeln!(out, "constraints {}", limits.join(", "));
    }
    let _ = writeln!(
        out,
        "points      {} at par ({} gates, depth {})",
        c.points, c.par_gates, c.par_depth
    );
    let p = &v.progress;
    let you = match p.best_score {
        Some(b) => format!("solved, best score {b}, {} attempt(s)", p.attempts),
        None => format!("not solved, {} attempt(s)", p.attempts),
    };
    let _ = writeln!(out, "you         {you}");
    for (i, h) in p.hints.iter().enumerate() {
        let _ = writeln!(out, "hint {}      {} (−{})", i + 1, h.text, h.cost);
    }
    let hidden = c.hint_costs.len().saturating_sub(p.hints.len());
    if hidden > 0 {
        let _ = writeln!(
            out,
            "            {hidden} more hint(s): `qollab quest hint {}`",
            c.key
        );
    }
    let _ = writeln!(out, "\nstarter circuit:\n{}", c.starter_qasm.trim_end());
    out
}

pub fn quest_verdict(r: &AttemptResult) -> String {
    let v = &r.verdict;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{}  fidelity {:.4} (needs ≥ {})",
        if v.passed { "PASSED" } else { "FAILED" },
        v.fidelity,
        v.threshold
    );
    let _ = writeln!(
        out,
        "gates {}, depth {}, 2-qubit gates {}, T gates {}",
        v.gates, v.depth, v.two_qubit_gates, v.t_gates
    );
    for x in &v.violations {
        let _ = writeln!(out, "  ✗ {} ({})", x.message, x.code);
    }
    if v.passed {
        let mut line = format!("score {}", v.score);
        if r.hint_cost > 0 {
            line.push_str(&format!(
                " (after −{} for {} hint(s))",
                r.hint_cost, r.hints_used
            ));
        }
        if r.new_best {
            line.push_str(", your new best");
        } else if let Some(b) = r.progress.best_score {
            line.push_str(&format!(", your best is {b}"));
        }
        let _ = writeln!(out, "{line}");
    }
    out
}

pub fn quest_leaderboard(b: &Leaderboard) -> String {
    let mut out = String::new();
    if b.entries.is_empty() {
        let _ = writeln!(out, "no one has solved {} yet", b.challenge);
        return out;
    }
    let _ = writeln!(
        out,
        "{:>4}  {:<24}  {:>5}  {:>5}  {:>5}  WHEN",
        "RANK", "PLAYER", "SCORE", "GATES", "DEPTH"
    );
    let line = |out: &mut String, e: &qollab_shared::quest::LeaderboardEntry| {
        let _ = writeln!(
            out,
            "{:>4}  {:<24}  {:>5}  {:>5}  {:>5}  {}",
            e.rank,
            e.name,
            e.score,
            e.gates,
            e.depth,
            e.achieved_at.format("%Y-%m-%d %H:%M")
        );
    };
    for e in &b.entries {
        line(&mut out, e);
    }
    if let Some(me) = b.me.as_ref().filter(|m| !b.entries.contains(m)) {
        let _ = writeln!(out, "   …");
        line(&mut out, me);
    }
    let _ = writeln!(out, "{} player(s) solved {}", b.players, b.challenge);
    out
}

pub fn progress(p: &qollab_shared::progress::UserProgress) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{}: level {}, {} points ({} to level {}), streak {} day(s), best {}",
        p.name,
        p.level,
        p.points,
        p.next_level_at - p.points,
        p.level + 1,
        p.streak_days,
        p.best_streak_days
    );
    let unlocked: Vec<_> = p
        .achievements
        .iter()
        .filter(|a| a.unlocked_at.is_some())
        .collect();
    let _ = writeln!(
        out,
        "achievements: {} of {}",
        unlocked.len(),
        p.achievements.len()
    );
    for a in &p.achievements {
        match a.unlocked_at {
            Some(at) => {
                let _ = writeln!(
                    out,
                    "  ✓ {:<24} +{:<4} {}",
                    a.title,
                    a.points,
                    at.format("%Y-%m-%d")
                );
            }
            None if a.value > 0 => {
                let _ = writeln!(
                    out,
                    "    {:<24} +{:<4} {}/{}",
                    a.title, a.points, a.value, a.target
                );
            }
            None => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histograms_sort_by_count_and_scale_to_the_width() {
        let counts = serde_json::json!({"000": 480, "111": 520, "010": 0, "101": 24});
        let rows = sorted_counts(&counts);
        assert_eq!(
            rows.iter().map(|r| r.0.as_str()).collect::<Vec<_>>(),
            ["111", "000", "101", "010"]
        );
        let text = histogram(&rows, 60);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4);
        for l in &lines {
            assert!(l.chars().count() <= 60, "{l:?} is wider than 60");
        }
        let bar = |l: &str| l.chars().filter(|&c| c == '█').count();
        assert!(bar(lines[0]) > bar(lines[1]) && bar(lines[1]) > bar(lines[2]));
        assert_eq!(bar(lines[3]), 0);
        assert!(lines[0].starts_with("111  ") && lines[0].ends_with("520  ( 50.8%)"));
        // A narrow terminal still gets a readable bar.
        assert!(
            histogram(&rows, 5)
                .lines()
                .all(|l| l.contains('█') || l.starts_with("010"))
        );
    }

    #[test]
    fn long_histograms_are_cut() {
        let counts: serde_json::Map<String, serde_json::Value> = (0..40)
            .map(|i| (format!("{i:06b}"), serde_json::json!(i + 1)))
            .collect();
        let text = histogram(&sorted_counts(&serde_json::Value::Object(counts)), 80);
        assert_eq!(text.lines().count(), MAX_ROWS + 1);
        assert!(
            text.ends_with("… 8 more outcome(s) with 36 shot(s)\n"),
            "{text}"
        );
    }

    #[test]
    fn events_read_as_one_line() {
        let e = Event {
            id: 7,
            kind: kinds::JOB_PROGRESS.into(),
            workspace_id: uuid::Uuid::nil(),
            at: chrono::Utc::now(),
            actor: None,
            data: serde_json::json!({"job_id": "abc", "progress": 0.5}),
        };
        let line = event_line(&e);
        assert!(
            line.starts_with("#7 ") && line.ends_with("job.progress     job abc 50%"),
            "{line}"
        );
        assert!(!line.contains('\n'));
    }
}
