//! Analytics rollups: every final job folded once into per-workspace sums by hour, day
//! and month (`analytics_rollups`), so that an analytics query over a year reads a few
//! thousand sums, not a million jobs.
//!
//! Exact at every moment: a range splits ([`split`]) into whole periods, read from the
//! rollups, and the partial hours at its edges, read from the job rows; jobs that are not
//! folded yet (still queued or running, or final since the last fold) are read from their
//! rows through a partial index that holds only them. Final statuses never change, so a
//! folded job's sums never go stale.
//!
//! Folding ([`Db::fold_jobs`]) flips `rolled_up` and adds the job's sums in one
//! transaction; the flip is conditional, so two processes never fold a job twice.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, Duration, TimeZone, Timelike, Utc};
use sea_orm::{ConnectionTrait, DbBackend, Statement, TransactionTrait, Value};
use uuid::Uuid;

use crate::db::Db;
use crate::error::ApiResult;
use qollab_migrations::JOBS_TO_FOLD;

/// What a rollup row counts (`analytics_rollups.dim`) and what its sums mean.
pub mod dim {
    /// Key: status. `s1` shots, `s2` jobs the optimizer ran on, `s3`..`s8` gates,
    /// two-qubit gates and depth before and after it (those jobs only).
    pub const STATUS: &str = "s";
    /// Key: backend. `s1` shots.
    pub const BACKEND: &str = "b";
    /// Key: the source document's id.
    pub const DOCUMENT: &str = "d";
    /// Key: the author's id.
    pub const AUTHOR: &str = "a";
    /// Key: a [`super::bin`] of the queue wait.
    pub const WAIT: &str = "w";
    /// Key: a [`super::bin`] of the run time.
    pub const RUN: &str = "r";
}

/// The period one rollup row covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Grain {
    Hour,
    Day,
    Month,
}

impl Grain {
    pub fn code(self) -> &'static str {
        match self {
            Grain::Hour => "h",
            Grain::Day => "d",
            Grain::Month => "m",
        }
    }

    pub const ALL: [Grain; 3] = [Grain::Hour, Grain::Day, Grain::Month];

    pub fn start_of(self, t: DateTime<Utc>) -> DateTime<Utc> {
        let day = Utc
            .with_ymd_and_hms(t.year(), t.month(), t.day(), 0, 0, 0)
            .single()
            .unwrap_or(t);
        match self {
            Grain::Hour => day + Duration::hours(i64::from(t.hour())),
            Grain::Day => day,
            Grain::Month => Utc
                .with_ymd_and_hms(t.year(), t.month(), 1, 0, 0, 0)
                .single()
                .unwrap_or(day),
        }
    }

    /// The start of the period after the one that starts at `start`.
    fn next(self, start: DateTime<Utc>) -> DateTime<Utc> {
        match self {
            Grain::Hour => start + Duration::hours(1),
            Grain::Day => start + Duration::days(1),
            Grain::Month => {
                let (y, m) = if start.month() == 12 {
                    (start.year() + 1, 1)
                } else {
                    (start.year(), start.month() + 1)
                };
                Utc.with_ymd_and_hms(y, m, 1, 0, 0, 0)
                    .single()
                    .unwrap_or(start + Duration::days(31))
            }
        }
    }

    /// The first period start at or after `t`.
    fn ceil(self, t: DateTime<Utc>) -> DateTime<Utc> {
        let s = self.start_of(t);
        if s == t { s } else { self.next(s) }
    }

    fn coarser(self) -> Option<Grain> {
        match self {
            Grain::Hour => Some(Grain::Day),
            Grain::Day => Some(Grain::Month),
            Grain::Month => None,
        }
    }
}

/// Where the numbers of `[from, to)` come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Split {
    /// Whole periods, read from the rollups.
    pub rolled: Vec<(Grain, DateTime<Utc>, DateTime<Utc>)>,
    /// Read from the job rows: the partial hours at the edges (or the whole range when it
    /// holds no whole hour).
    pub edges: Vec<(DateTime<Utc>, DateTime<Utc>)>,
    /// The span the rollups cover: its jobs that are not folded yet come from their rows.
    pub covered: Option<(DateTime<Utc>, DateTime<Utc>)>,
}

/// Splits `[from, to)` into the fewest whole periods no coarser than `coarsest`, largest
/// in the middle, plus the partial hours at the edges.
pub fn split(from: DateTime<Utc>, to: DateTime<Utc>, coarsest: Grain) -> Split {
    let (a, b) = (Grain::Hour.ceil(from), Grain::Hour.start_of(to));
    if a >= b {
        return Split {
            rolled: Vec::new(),
            edges: if from < to {
                vec![(from, to)]
            } else {
                Vec::new()
            },
            covered: None,
        };
    }
    let mut edges = Vec::new();
    if from < a {
        edges.push((from, a));
    }
    if b < to {
        edges.push((b, to));
    }
    let mut rolled = Vec::new();
    cover(a, b, Grain::Hour, coarsest, &mut rolled);
    rolled.sort_by_key(|(g, lo, _)| (*lo, *g));
    Split {
        rolled,
        edges,
        covered: Some((a, b)),
    }
}

/// `[a, b)` is aligned to `g`: whole `g` periods at its ends, coarser ones inside.
fn cover(
    a: DateTime<Utc>,
    b: DateTime<Utc>,
    g: Grain,
    coarsest: Grain,
    out: &mut Vec<(Grain, DateTime<Utc>, DateTime<Utc>)>,
) {
    if g < coarsest
        && let Some(up) = g.coarser()
    {
        let (ua, ub) = (up.ceil(a), up.start_of(b));
        if ua < ub {
            if a < ua {
                out.push((g, a, ua));
            }
            cover(ua, ub, up, coarsest, out);
            if ub < b {
                out.push((g, ub, b));
            }
            return;
        }
    }
    out.push((g, a, b));
}

impl Split {
    /// The rollup rows of the whole periods: `(grain = ? AND period >= ? AND period < ?)
    /// OR …`, or a condition that holds for no row when there is none.
    pub fn rolled_where(&self, values: &mut Vec<Value>) -> String {
        if self.rolled.is_empty() {
            return "1 = 0".into();
        }
        let parts: Vec<&str> = self
            .rolled
            .iter()
            .map(|(g, lo, hi)| {
                values.push(g.code().into());
                values.push((*lo).into());
                values.push((*hi).into());
                "(grain = ? AND period >= ? AND period < ?)"
            })
            .collect();
        format!("({})", parts.join(" OR "))
    }

    /// The job rows to read: those in the edges, and the ones not folded yet in the span
    /// the rollups cover.
    pub fn raw_where(&self, values: &mut Vec<Value>) -> String {
        let mut parts = Vec::new();
        for (lo, hi) in &self.edges {
            values.push((*lo).into());
            values.push((*hi).into());
            parts.push("(queued_at >= ? AND queued_at < ?)");
        }
        if let Some((lo, hi)) = self.covered {
            values.push(lo.into());
            values.push(hi.into());
            parts.push("(rolled_up = false AND queued_at >= ? AND queued_at < ?)");
        }
        if parts.is_empty() {
            return "1 = 0".into();
        }
        format!("({})", parts.join(" OR "))
    }
}

/// Histogram bins of durations: 2 % wide (bin 0 holds everything under 1 ms), so the
/// middle of a bin is within 1 % of any value in it.
const BIN_RATIO: f64 = 1.02;

pub fn bin(ms: f64) -> i64 {
    if ms.is_nan() || ms < 1.0 {
        return 0;
    }
    (ms.ln() / BIN_RATIO.ln()).floor() as i64 + 1
}

/// The value a bin stands for: its geometric middle.
pub fn bin_value(bin: i64) -> f64 {
    if bin <= 0 {
        return 0.5;
    }
    BIN_RATIO.powf(bin as f64 - 0.5)
}

/// Nearest-rank p50 and p95 of a histogram (bin → jobs).
pub fn histogram_percentiles(h: &BTreeMap<i64, u64>) -> (u64, Option<f64>, Option<f64>) {
    let n: u64 = h.values().sum();
    if n == 0 {
        return (0, None, None);
    }
    let rank = |p: u64| (n * p).div_ceil(100).max(1);
    let at = |r: u64| {
        let mut seen = 0;
        for (b, c) in h {
            seen += c;
            if seen >= r {
                return Some((bin_value(*b) * 10.0).round() / 10.0);
            }
        }
        None
    };
    (n, at(rank(50)), at(rank(95)))
}

fn ms_between(a: DateTime<Utc>, b: DateTime<Utc>) -> f64 {
    (b - a)
        .num_microseconds()
        .map(|us| us as f64 / 1000.0)
        .unwrap_or(f64::MAX)
        .max(0.0)
}

/// The sums one rollup row adds.
#[derive(Debug, Default, Clone, Copy)]
struct Sums {
    n: i64,
    s: [i64; 8],
}

type RowKey = (Uuid, &'static str, &'static str, DateTime<Utc>, String);

/// Jobs folded per transaction.
pub const FOLD_BATCH: u64 = 1000;
/// Rows per `INSERT … ON CONFLICT` statement (14 values each: under every backend's
/// parameter limit).
const UPSERT_CHUNK: usize = 500;

/// The fold's claim of up to `limit` final jobs not folded yet. It reads only the partial
/// index `idx_jobs_to_fold` (its `WHERE` is the index's own), so a batch costs the jobs
/// it folds, not the history before them.
pub fn fold_statement(backend: DbBackend, limit: u64) -> String {
    // SQLite's planner, without statistics, prefers the status index (and walks every
    // folded job); `INDEXED BY` names the index, and fails loudly should it ever not apply.
    let (hint, lock) = match backend {
        DbBackend::Postgres => ("", " FOR UPDATE SKIP LOCKED"),
        _ => (" INDEXED BY idx_jobs_to_fold", ""),
    };
    format!(
        "UPDATE jobs SET rolled_up = true WHERE id IN (SELECT id FROM jobs{hint} \
         WHERE {JOBS_TO_FOLD} LIMIT {limit}{lock}) AND rolled_up = false \
         RETURNING workspace_id, status, backend, shots, author_id, source_doc_id, \
         queued_at, started_at, finished_at, gates_before, gates_after, \
         two_qubit_before, two_qubit_after, depth_before, depth_after"
    )
}

impl Db {
    /// Folds up to `limit` final jobs into the rollups; returns how many it folded.
    pub async fn fold_jobs(&self, limit: u64) -> ApiResult<u64> {
        let backend = self.backend();
        let sql = fold_statement(backend, limit);
        let txn = self.conn.begin().await?;
        let rows = txn
            .query_all_raw(Statement::from_string(backend, sql))
            .await?;
        let mut sums: BTreeMap<RowKey, Sums> = BTreeMap::new();
        for r in &rows {
            let ws: Uuid = r.try_get("", "workspace_id")?;
            let status: String = r.try_get("", "status")?;
            let backend_name: String = r.try_get("", "backend")?;
            let shots: i64 = r.try_get("", "shots")?;
            let author: Uuid = r.try_get("", "author_id")?;
            let doc: Option<Uuid> = r.try_get("", "source_doc_id")?;
            let queued: DateTime<Utc> = r.try_get("", "queued_at")?;
            let started: Option<DateTime<Utc>> = r.try_get("", "started_at")?;
            let finished: Option<DateTime<Utc>> = r.try_get("", "finished_at")?;
            let mut opt = [0i64; 6];
            let mut optimized = true;
            for (i, col) in [
                "gates_before",
                "gates_after",
                "two_qubit_before",
                "two_qubit_after",
                "depth_before",
                "depth_after",
            ]
            .into_iter()
            .enumerate()
            {
                match r.try_get::<Option<i32>>("", col)? {
                    Some(v) => opt[i] = i64::from(v),
                    None => optimized = false,
                }
            }
            let mut status_sums = Sums {
                n: 1,
                s: [shots, 0, 0, 0, 0, 0, 0, 0],
            };
            if optimized {
                status_sums.s[1] = 1;
                status_sums.s[2..].copy_from_slice(&opt);
            }
            let one = Sums { n: 1, s: [0; 8] };
            let mut per_job: Vec<(&'static str, String, Sums)> = vec![
                (dim::STATUS, status, status_sums),
                (
                    dim::BACKEND,
                    backend_name,
                    Sums {
                        n: 1,
                        s: [shots, 0, 0, 0, 0, 0, 0, 0],
                    },
                ),
                (dim::AUTHOR, author.to_string(), one),
            ];
            if let Some(d) = doc {
                per_job.push((dim::DOCUMENT, d.to_string(), one));
            }
            if let Some(s) = started {
                per_job.push((dim::WAIT, bin(ms_between(queued, s)).to_string(), one));
                if let Some(f) = finished {
                    per_job.push((dim::RUN, bin(ms_between(s, f)).to_string(), one));
                }
            }
            for g in Grain::ALL {
                let period = g.start_of(queued);
                for (d, key, add) in &per_job {
                    let e = sums
                        .entry((ws, *d, g.code(), period, key.clone()))
                        .or_default();
                    e.n += add.n;
                    for (a, b) in e.s.iter_mut().zip(add.s) {
                        *a += b;
                    }
                }
            }
        }
        // In key order, so concurrent folds lock rows in one order (no deadlock).
        let all: Vec<(RowKey, Sums)> = sums.into_iter().collect();
        for chunk in all.chunks(UPSERT_CHUNK) {
            let mut values: Vec<Value> = Vec::with_capacity(chunk.len() * 14);
            let mut tuples = Vec::with_capacity(chunk.len());
            for ((ws, d, g, period, key), s) in chunk {
                values.push((*ws).into());
                values.push((*d).into());
                values.push((*g).into());
                values.push((*period).into());
                values.push(key.clone().into());
                values.push(s.n.into());
                values.extend(s.s.iter().map(|v| Value::from(*v)));
                tuples.push("(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
            }
            let adds: Vec<String> = std::iter::once("n".to_string())
                .chain((1..=8).map(|i| format!("s{i}")))
                .map(|c| format!("{c} = analytics_rollups.{c} + excluded.{c}"))
                .collect();
            let sql = format!(
                "INSERT INTO analytics_rollups (workspace_id, dim, grain, period, key, n, \
                 s1, s2, s3, s4, s5, s6, s7, s8) VALUES {} \
                 ON CONFLICT (workspace_id, dim, grain, period, key) DO UPDATE SET {}",
                tuples.join(", "),
                adds.join(", ")
            );
            txn.execute_raw(Statement::from_sql_and_values(
                backend,
                super::placeholders(backend, &sql),
                values,
            ))
            .await?;
        }
        txn.commit().await?;
        Ok(rows.len() as u64)
    }

    /// Folds every final job not folded yet.
    pub async fn fold_all_jobs(&self) -> ApiResult<u64> {
        let mut total = 0;
        loop {
            let n = self.fold_jobs(FOLD_BATCH).await?;
            total += n;
            if n < FOLD_BATCH {
                return Ok(total);
            }
        }
    }
}

/// Folds finished jobs in the background: every second, until nothing is left.
pub fn start_folding(db: Db) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Err(e) = db.fold_all_jobs().await {
                tracing::warn!(error = %e.message, "folding jobs into the analytics rollups");
            }
        }
    });
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
    fn a_range_splits_into_edges_hours_days_and_months() {
        let s = split(
            t("2026-01-30T22:30:00Z"),
            t("2026-04-02T01:15:00Z"),
            Grain::Month,
        );
        assert_eq!(
            s.edges,
            vec![
                (t("2026-01-30T22:30:00Z"), t("2026-01-30T23:00:00Z")),
                (t("2026-04-02T01:00:00Z"), t("2026-04-02T01:15:00Z"))
            ]
        );
        assert_eq!(
            s.rolled,
            vec![
                (
                    Grain::Hour,
                    t("2026-01-30T23:00:00Z"),
                    t("2026-01-31T00:00:00Z")
                ),
                (
                    Grain::Day,
                    t("2026-01-31T00:00:00Z"),
                    t("2026-02-01T00:00:00Z")
                ),
                (
                    Grain::Month,
                    t("2026-02-01T00:00:00Z"),
                    t("2026-04-01T00:00:00Z")
                ),
                (
                    Grain::Day,
                    t("2026-04-01T00:00:00Z"),
                    t("2026-04-02T00:00:00Z")
                ),
                (
                    Grain::Hour,
                    t("2026-04-02T00:00:00Z"),
                    t("2026-04-02T01:00:00Z")
                ),
            ]
        );
        assert_eq!(
            s.covered,
            Some((t("2026-01-30T23:00:00Z"), t("2026-04-02T01:00:00Z")))
        );
        // The same range for day buckets never uses months.
        let s = split(
            t("2026-01-30T22:30:00Z"),
            t("2026-04-02T01:15:00Z"),
            Grain::Day,
        );
        assert!(s.rolled.iter().all(|(g, _, _)| *g != Grain::Month));
        assert_eq!(s.rolled.len(), 3);
        // December rolls over to January.
        let s = split(
            t("2025-12-01T00:00:00Z"),
            t("2026-02-01T00:00:00Z"),
            Grain::Month,
        );
        assert_eq!(
            s.rolled,
            vec![(
                Grain::Month,
                t("2025-12-01T00:00:00Z"),
                t("2026-02-01T00:00:00Z")
            )]
        );
        assert!(s.edges.is_empty());
    }

    #[test]
    fn a_range_inside_one_hour_is_all_rows() {
        let (a, b) = (t("2026-03-01T10:05:00Z"), t("2026-03-01T10:55:00Z"));
        let s = split(a, b, Grain::Month);
        assert_eq!(s.edges, vec![(a, b)]);
        assert!(s.rolled.is_empty() && s.covered.is_none());
        // Across one hour boundary but holding no whole hour: still all rows.
        let s = split(
            t("2026-03-01T10:05:00Z"),
            t("2026-03-01T11:05:00Z"),
            Grain::Month,
        );
        assert_eq!(s.rolled, vec![]);
        assert_eq!(s.edges.len(), 1);
    }

    #[test]
    fn the_pieces_of_a_split_tile_the_range() {
        // Every hour of a long odd range lies in exactly one piece.
        let (from, to) = (t("2025-11-17T05:45:12Z"), t("2026-03-03T17:20:00Z"));
        for coarsest in Grain::ALL {
            let s = split(from, to, coarsest);
            let mut pieces: Vec<(DateTime<Utc>, DateTime<Utc>)> =
                s.rolled.iter().map(|(_, a, b)| (*a, *b)).collect();
            pieces.extend(s.edges.iter().copied());
            pieces.sort();
            assert_eq!(pieces.first().map(|p| p.0), Some(from));
            assert_eq!(pieces.last().map(|p| p.1), Some(to));
            for w in pieces.windows(2) {
                assert_eq!(w[0].1, w[1].0, "{coarsest:?}: a gap or an overlap");
            }
            for (g, a, b) in &s.rolled {
                assert!(*g <= coarsest);
                assert_eq!(g.start_of(*a), *a);
                assert_eq!(g.start_of(*b), *b);
            }
        }
    }

    #[test]
    fn bins_are_within_one_percent() {
        for ms in [
            1.0,
            1.5,
            7.0,
            999.0,
            1000.0,
            6000.0,
            123_456.0,
            86_400_000.0,
        ] {
            let v = bin_value(bin(ms));
            assert!((v - ms).abs() / ms <= 0.0101, "{ms} → {v}");
        }
        assert_eq!(bin(0.2), 0);
        assert_eq!(bin(-5.0), 0);
        let mut h = BTreeMap::new();
        // 100 jobs: 1..=100 ms.
        for ms in 1..=100 {
            *h.entry(bin(f64::from(ms))).or_insert(0) += 1;
        }
        let (n, p50, p95) = histogram_percentiles(&h);
        assert_eq!(n, 100);
        let (p50, p95) = (p50.unwrap_or_default(), p95.unwrap_or_default());
        assert!((p50 - 50.0).abs() <= 0.6, "{p50}");
        assert!((p95 - 95.0).abs() <= 1.0, "{p95}");
        assert_eq!(histogram_percentiles(&BTreeMap::new()), (0, None, None));
    }
}
