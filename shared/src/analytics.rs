//! Analytics of a workspace or an organization over a time range: the wire shape, the
//! calendar of buckets, percentile ranks and the CSV rendering. The server fills the
//! numbers with SQL aggregates; everything here is pure.
//!
//! Decisions: a job belongs to the bucket of its submission (`queued_at`) and counts in
//! a range when it was submitted in `[from, to)`; queue wait is `started_at − queued_at`
//! and run time `finished_at − started_at` (jobs that never started have neither);
//! percentiles are nearest-rank (the value at rank ⌈p·n⌉ of the sorted values, so always
//! a value that occurred); weeks start on Monday 00:00 UTC; buckets are UTC.

use chrono::{DateTime, Datelike, Duration, DurationRound, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// At most this many buckets in one answer (31 days of hours is 744).
pub const MAX_BUCKETS: usize = 1000;
/// Rows in each top list (documents, backends, members).
pub const TOP: u64 = 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Bucket {
    Hour,
    Day,
    Week,
}

impl Bucket {
    pub fn parse(s: &str) -> Option<Bucket> {
        match s {
            "hour" => Some(Bucket::Hour),
            "day" => Some(Bucket::Day),
            "week" => Some(Bucket::Week),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Bucket::Hour => "hour",
            Bucket::Day => "day",
            Bucket::Week => "week",
        }
    }

    /// The start of the bucket holding `t`.
    pub fn start_of(self, t: DateTime<Utc>) -> DateTime<Utc> {
        match self {
            Bucket::Hour => t.duration_trunc(Duration::hours(1)).unwrap_or(t),
            Bucket::Day => t.duration_trunc(Duration::days(1)).unwrap_or(t),
            Bucket::Week => {
                let day = t.duration_trunc(Duration::days(1)).unwrap_or(t);
                day - Duration::days(i64::from(day.weekday().num_days_from_monday()))
            }
        }
    }

    pub fn len(self) -> Duration {
        match self {
            Bucket::Hour => Duration::hours(1),
            Bucket::Day => Duration::days(1),
            Bucket::Week => Duration::weeks(1),
        }
    }

    /// The starts of every bucket that meets `[from, to)`, or `None` past [`MAX_BUCKETS`].
    pub fn starts(self, from: DateTime<Utc>, to: DateTime<Utc>) -> Option<Vec<DateTime<Utc>>> {
        let mut out = Vec::new();
        let mut t = self.start_of(from);
        while t < to {
            if out.len() == MAX_BUCKETS {
                return None;
            }
            out.push(t);
            t += self.len();
        }
        Some(out)
    }
}

/// The 1-based rank of the `p`-th percentile among `n` sorted values (nearest rank).
pub fn rank(n: u64, p: f64) -> u64 {
    ((p * n as f64).ceil() as u64).clamp(1, n.max(1))
}

/// Unix epoch, for tests and defaults.
pub fn epoch() -> DateTime<Utc> {
    Utc.timestamp_opt(0, 0).single().unwrap_or_default()
}

/// `GET /api/workspaces/{id}/analytics` and `GET /api/orgs/{id}/analytics`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Analytics {
    /// `workspace` or `organization`.
    #[schema(value_type = crate::api::wire::AnalyticsScope)]
    pub scope: String,
    pub scope_id: Uuid,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub bucket: Bucket,
    pub jobs: JobTotals,
    /// One entry per bucket of the range, empty ones included, oldest first.
    pub series: Vec<SeriesPoint>,
    pub queue_wait_ms: Percentiles,
    pub run_time_ms: Percentiles,
    pub optimizer: OptimizerSavings,
    /// By jobs, most first.
    pub backends: Vec<BackendUsage>,
    /// The most-run documents, most first (at most 20).
    pub documents: Vec<DocumentRuns>,
    /// Everyone active in the range, most jobs first (at most 20).
    pub members: Vec<MemberActivity>,
    pub ai: AiSpend,
    pub points: PointsTotals,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct StatusCounts {
    pub queued: u64,
    pub running: u64,
    pub completed: u64,
    pub failed: u64,
    pub cancelled: u64,
}

impl StatusCounts {
    /// Each status with its count, in the order of the lifecycle.
    pub fn pairs(&self) -> [(&'static str, u64); 5] {
        [
            ("queued", self.queued),
            ("running", self.running),
            ("completed", self.completed),
            ("failed", self.failed),
            ("cancelled", self.cancelled),
        ]
    }

    pub fn total(&self) -> u64 {
        self.queued + self.running + self.completed + self.failed + self.cancelled
    }

    pub fn add(&mut self, status: &str, n: u64) {
        match status {
            "queued" => self.queued += n,
            "running" => self.running += n,
            "completed" => self.completed += n,
            "failed" => self.failed += n,
            "cancelled" => self.cancelled += n,
            _ => {}
        }
    }

    /// Completed among the jobs that ended by themselves (completed or failed);
    /// `None` when none did. Cancelled jobs say nothing about success.
    pub fn success_rate(&self) -> Option<f64> {
        let ended = self.completed + self.failed;
        (ended > 0).then(|| self.completed as f64 / ended as f64)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct JobTotals {
    pub total: u64,
    #[serde(flatten)]
    pub by_status: StatusCounts,
    /// completed / (completed + failed); absent when no job ended.
    pub success_rate: Option<f64>,
    pub shots: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SeriesPoint {
    pub start: DateTime<Utc>,
    pub total: u64,
    #[serde(flatten)]
    pub by_status: StatusCounts,
    pub success_rate: Option<f64>,
    pub shots: u64,
}

/// Nearest-rank percentiles in milliseconds over `count` jobs; absent when none.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Percentiles {
    pub count: u64,
    pub p50: Option<f64>,
    pub p95: Option<f64>,
    /// Read from histograms (ranges of more than 10,000 jobs): each value is within 1 %
    /// of the exact one. Exact otherwise.
    #[serde(default)]
    pub approximate: bool,
}

/// What the optimizer did to the completed jobs that ran it (sums, before → after).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct OptimizerSavings {
    pub jobs: u64,
    pub gates_before: u64,
    pub gates_after: u64,
    pub two_qubit_before: u64,
    pub two_qubit_after: u64,
    pub depth_before: u64,
    pub depth_after: u64,
    /// 1 − after/before over the gate sums; absent without optimized jobs.
    pub gates_saved: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct BackendUsage {
    pub backend: String,
    pub jobs: u64,
    pub shots: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DocumentRuns {
    pub doc_id: Uuid,
    /// Empty when the document was deleted since.
    pub name: String,
    pub jobs: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct MemberActivity {
    pub user_id: Uuid,
    pub name: String,
    pub jobs: u64,
    pub ai_requests: u64,
    pub chat_messages: u64,
    pub points: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AiSpend {
    pub requests: u64,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    /// By kind (`analysis`, `message`, …).
    pub by_kind: Vec<AiKindUsage>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AiKindUsage {
    pub kind: String,
    pub requests: u64,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PointsTotals {
    pub points: i64,
    pub awards: u64,
}

/// Text a person chose (document, member and backend names) as a CSV cell: a leading
/// `=`, `+`, `-`, `@`, tab or carriage return would make a spreadsheet read the cell as a
/// formula (CSV injection), so such text gets a leading `'`.
fn text_cell(text: &str) -> String {
    if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}")
    } else {
        text.to_string()
    }
}

/// The CSV form (`&format=csv`): one row per number of the JSON answer, so nothing is
/// lost and a spreadsheet's pivot table rebuilds any view. Columns:
/// `section,start,key,metric,value` — `start` is the bucket start (series only), `key`
/// names the row's subject (a status, backend, document id, user id or AI kind).
pub fn to_csv(a: &Analytics) -> String {
    let mut w = csv::Writer::from_writer(Vec::new());
    let mut row = |section: &str, start: &str, key: &str, metric: &str, value: String| {
        // Writing to a Vec cannot fail.
        let _ = w.write_record([section, start, key, metric, value.as_str()]);
    };
    row("section", "start", "key", "metric", "value".into());
    let opt = |v: Option<f64>| v.map(|v| v.to_string()).unwrap_or_default();
    row("jobs", "", "", "total", a.jobs.total.to_string());
    for (k, v) in a.jobs.by_status.pairs() {
        row("jobs", "", "", k, v.to_string());
    }
    row("jobs", "", "", "success_rate", opt(a.jobs.success_rate));
    row("jobs", "", "", "shots", a.jobs.shots.to_string());
    for p in &a.series {
        let start = p.start.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        row("series", &start, "", "total", p.total.to_string());
        for (k, v) in p.by_status.pairs() {
            row("series", &start, "", k, v.to_string());
        }
        row("series", &start, "", "success_rate", opt(p.success_rate));
        row("series", &start, "", "shots", p.shots.to_string());
    }
    for (section, p) in [
        ("queue_wait_ms", &a.queue_wait_ms),
        ("run_time_ms", &a.run_time_ms),
    ] {
        row(section, "", "", "count", p.count.to_string());
        row(section, "", "", "p50", opt(p.p50));
        row(section, "", "", "p95", opt(p.p95));
    }
    let o = &a.optimizer;
    for (k, v) in [
        ("jobs", o.jobs),
        ("gates_before", o.gates_before),
        ("gates_after", o.gates_after),
        ("two_qubit_before", o.two_qubit_before),
        ("two_qubit_after", o.two_qubit_after),
        ("depth_before", o.depth_before),
        ("depth_after", o.depth_after),
    ] {
        row("optimizer", "", "", k, v.to_string());
    }
    row("optimizer", "", "", "gates_saved", opt(o.gates_saved));
    for b in &a.backends {
        let key = text_cell(&b.backend);
        row("backends", "", &key, "jobs", b.jobs.to_string());
        row("backends", "", &key, "shots", b.shots.to_string());
    }
    for d in &a.documents {
        let id = d.doc_id.to_string();
        row("documents", "", &id, "name", text_cell(&d.name));
        row("documents", "", &id, "jobs", d.jobs.to_string());
    }
    for m in &a.members {
        let id = m.user_id.to_string();
        row("members", "", &id, "name", text_cell(&m.name));
        row("members", "", &id, "jobs", m.jobs.to_string());
        row("members", "", &id, "ai_requests", m.ai_requests.to_string());
        row(
            "members",
            "",
            &id,
            "chat_messages",
            m.chat_messages.to_string(),
        );
        row("members", "", &id, "points", m.points.to_string());
    }
    row("ai", "", "", "requests", a.ai.requests.to_string());
    row(
        "ai",
        "",
        "",
        "prompt_tokens",
        a.ai.prompt_tokens.to_string(),
    );
    row(
        "ai",
        "",
        "",
        "completion_tokens",
        a.ai.completion_tokens.to_string(),
    );
    for k in &a.ai.by_kind {
        row("ai", "", &k.kind, "requests", k.requests.to_string());
        row(
            "ai",
            "",
            &k.kind,
            "prompt_tokens",
            k.prompt_tokens.to_string(),
        );
        row(
            "ai",
            "",
            &k.kind,
            "completion_tokens",
            k.completion_tokens.to_string(),
        );
    }
    row("points", "", "", "points", a.points.points.to_string());
    row("points", "", "", "awards", a.points.awards.to_string());
    String::from_utf8(w.into_inner().unwrap_or_default()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .map(|d| d.with_timezone(&Utc))
            .unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn weeks_start_on_monday_utc() {
        // 2026-12-06 is a Sunday, 2026-12-07 a Monday.
        assert_eq!(
            Bucket::Week.start_of(t("2026-12-06T23:59:59Z")),
            t("2026-11-30T00:00:00Z")
        );
        assert_eq!(
            Bucket::Week.start_of(t("2026-12-07T00:00:00Z")),
            t("2026-12-07T00:00:00Z")
        );
        assert_eq!(
            Bucket::Day.start_of(t("2026-12-07T13:05:00Z")),
            t("2026-12-07T00:00:00Z")
        );
        assert_eq!(
            Bucket::Hour.start_of(t("2026-12-07T13:05:09Z")),
            t("2026-12-07T13:00:00Z")
        );
    }

    #[test]
    fn starts_cover_the_range_and_are_bounded() {
        let s = Bucket::Day
            .starts(t("2026-12-01T12:00:00Z"), t("2026-12-03T00:00:01Z"))
            .unwrap_or_default();
        assert_eq!(
            s,
            vec![
                t("2026-12-01T00:00:00Z"),
                t("2026-12-02T00:00:00Z"),
                t("2026-12-03T00:00:00Z")
            ]
        );
        assert!(
            Bucket::Hour
                .starts(t("2026-01-01T00:00:00Z"), t("2026-03-01T00:00:00Z"))
                .is_none()
        );
        assert_eq!(
            Bucket::Hour.starts(t("2026-01-01T00:00:00Z"), t("2026-01-01T00:00:00Z")),
            Some(vec![])
        );
    }

    #[test]
    fn nearest_rank() {
        assert_eq!(rank(1, 0.5), 1);
        assert_eq!(rank(4, 0.5), 2);
        assert_eq!(rank(5, 0.5), 3);
        assert_eq!(rank(20, 0.95), 19);
        assert_eq!(rank(21, 0.95), 20);
        assert_eq!(rank(100, 0.95), 95);
    }

    #[test]
    fn success_rate_ignores_cancelled_and_open_jobs() {
        let mut s = StatusCounts::default();
        assert_eq!(s.success_rate(), None);
        s.add("completed", 3);
        s.add("failed", 1);
        s.add("cancelled", 10);
        s.add("queued", 2);
        assert_eq!(s.success_rate(), Some(0.75));
        assert_eq!(s.total(), 16);
    }

    #[test]
    fn csv_quotes_names_and_has_every_number() {
        let a = Analytics {
            scope: "workspace".into(),
            scope_id: Uuid::nil(),
            from: t("2026-12-01T00:00:00Z"),
            to: t("2026-12-02T00:00:00Z"),
            bucket: Bucket::Day,
            jobs: JobTotals::default(),
            series: vec![SeriesPoint {
                start: t("2026-12-01T00:00:00Z"),
                ..Default::default()
            }],
            queue_wait_ms: Percentiles::default(),
            run_time_ms: Percentiles::default(),
            optimizer: OptimizerSavings::default(),
            backends: vec![],
            documents: vec![DocumentRuns {
                doc_id: Uuid::nil(),
                name: "Bell, \"v2\"".into(),
                jobs: 4,
            }],
            members: vec![MemberActivity {
                user_id: Uuid::nil(),
                name: "=HYPERLINK(\"http://evil.example\")".into(),
                jobs: 1,
                ai_requests: 0,
                chat_messages: 0,
                points: -5,
            }],
            ai: AiSpend::default(),
            points: PointsTotals {
                points: 7,
                awards: 2,
            },
        };
        let csv = to_csv(&a);
        let mut lines = csv.lines();
        assert_eq!(lines.next(), Some("section,start,key,metric,value"));
        assert!(csv.contains("series,2026-12-01T00:00:00Z,,total,0\n"));
        assert!(csv.contains(",name,\"Bell, \"\"v2\"\"\"\n"), "{csv}");
        assert!(csv.contains("points,,,points,7\n"));
        // A name that a spreadsheet would run as a formula is kept as text.
        assert!(
            csv.contains(",name,\"'=HYPERLINK(\"\"http://evil.example\"\")\"\n"),
            "{csv}"
        );
        assert!(
            csv.contains(",points,-5\n"),
            "numbers are left alone: {csv}"
        );
        let mut r = csv::Reader::from_reader(csv.as_bytes());
        assert!(
            r.records()
                .all(|rec| rec.map(|r| r.len() == 5).unwrap_or(false))
        );
    }
}
