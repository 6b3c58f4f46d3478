//! Analytics rollups: every final job, AI request, chat message and points award folded
//! once into sums by hour, day and month, per workspace (`analytics_rollups`) and per
//! organization (`org_rollups`), so that an analytics query over a year reads a few
//! thousand sums, not a million rows.
//!
//! Exact at every moment: a range splits ([`split`]) into whole periods, read from the
//! rollups, and the partial hours at its edges, read from the rows; rows that are not
//! folded yet (jobs still queued or running, anything since the last fold) are read from
//! the rows through partial indexes that hold only them. Final job statuses never change,
//! chat and points are append-only, and an AI request changed after its fold corrects
//! the sums in the same transaction, so folded sums never go stale.
//!
//! Folding ([`Db::fold_jobs`], [`Db::fold_activity`]) flips `rolled_up` and adds the
//! row's sums in one transaction; the flip is conditional, so two processes never fold a
//! row twice.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Datelike, Duration, TimeZone, Timelike, Utc};
use sea_orm::{ConnectionTrait, DbBackend, Statement, TransactionTrait, Value};
use uuid::Uuid;

use crate::db::Db;
use crate::error::ApiResult;
use qollab_migrations::{ACTIVITY_TO_FOLD, JOBS_TO_FOLD};

/// What a rollup row counts (`analytics_rollups.dim`) and what its sums mean.
pub mod dim {
    /// Key: status. `s1` shots, `s2` jobs the optimizer ran on, `s3`..`s8` gates,
    /// two-qubit gates and depth before and after it (those jobs only).
    pub const STATUS: &str = "s";
    /// Key: backend. `s1` shots.
    pub const BACKEND: &str = "b";
    /// Key: the source document's id.
    pub const DOCUMENT: &str = "d";
    /// Key: a person's id. `n` the jobs they submitted, `s1` their AI requests, `s2`
    /// their chat messages, `s3` their points awards and `s4` those points: member
    /// activity is one read.
    pub const MEMBER: &str = "m";
    /// Key: a [`super::bin`] of the queue wait.
    pub const WAIT: &str = "w";
    /// Key: a [`super::bin`] of the run time.
    pub const RUN: &str = "r";
    /// AI requests. Key: their kind. `s1` prompt tokens, `s2` completion tokens.
    pub const AI_KIND: &str = "k";
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
    /// The rollup rows of the whole periods from `table` (`owner` picks the workspace's
    /// or organization's, binding `id`): one `SELECT` per period range, `UNION ALL`, so
    /// that each is one range of the primary key (SQLite's multi-index OR over the same
    /// ranges re-seeks every row: 3–5× slower). `None` when there is no whole period.
    pub fn rolled_union(
        &self,
        (table, owner): (&str, &str),
        id: Uuid,
        dim: &str,
        values: &mut Vec<Value>,
    ) -> Option<String> {
        if self.rolled.is_empty() {
            return None;
        }
        let parts: Vec<String> = self
            .rolled
            .iter()
            .map(|(g, lo, hi)| {
                values.push(id.into());
                values.push(dim.into());
                values.push(g.code().into());
                values.push((*lo).into());
                values.push((*hi).into());
                format!(
                    "SELECT period, key, n, s1, s2, s3, s4, s5, s6, s7, s8 FROM {table} \
                     WHERE {owner} AND dim = ? AND grain = ? AND period >= ? AND period < ?"
                )
            })
            .collect();
        Some(parts.join(" UNION ALL "))
    }

    /// The rows to read (`at` is their time column): those in the edges, and the ones
    /// not folded yet in the span the rollups cover.
    pub fn raw_where(&self, at: &str, values: &mut Vec<Value>) -> String {
        let mut parts = Vec::new();
        for (lo, hi) in &self.edges {
            values.push((*lo).into());
            values.push((*hi).into());
            parts.push(format!("({at} >= ? AND {at} < ?)"));
        }
        if let Some((lo, hi)) = self.covered {
            values.push(lo.into());
            values.push(hi.into());
            parts.push(format!("(rolled_up = false AND {at} >= ? AND {at} < ?)"));
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

impl Sums {
    fn n(n: i64) -> Sums {
        Sums { n, s: [0; 8] }
    }

    fn with(n: i64, s: &[i64]) -> Sums {
        let mut out = Sums::n(n);
        out.s[..s.len()].copy_from_slice(s);
        out
    }
}

/// What one row adds to one rollup row: (dim, key, sums).
type Part = (&'static str, String, Sums);

/// (workspace or organization, dim, grain, period start, key).
type RowKey = (Uuid, &'static str, &'static str, DateTime<Utc>, String);

/// The rollup rows a batch adds to, per workspace and per organization, each in key order
/// (so that concurrent folds lock rows in one order: no deadlock).
#[derive(Default)]
struct Batch {
    workspaces: BTreeMap<RowKey, Sums>,
    orgs: BTreeMap<RowKey, Sums>,
}

impl Batch {
    /// One row's contribution: `parts` (dim, key, sums) in the hour, day and month of
    /// `at`, to its workspace's rollups and its organization's.
    fn add(&mut self, ws: Uuid, org: Uuid, at: DateTime<Utc>, parts: &[Part]) {
        for g in Grain::ALL {
            let period = g.start_of(at);
            for (d, key, add) in parts {
                for (map, id) in [(&mut self.workspaces, ws), (&mut self.orgs, org)] {
                    let e = map
                        .entry((id, *d, g.code(), period, key.clone()))
                        .or_default();
                    e.n += add.n;
                    for (a, b) in e.s.iter_mut().zip(add.s) {
                        *a += b;
                    }
                }
            }
        }
    }

    async fn write(self, txn: &impl ConnectionTrait) -> Result<(), sea_orm::DbErr> {
        let backend = txn.get_database_backend();
        for (table, owner, rows) in [
            ("analytics_rollups", "workspace_id", self.workspaces),
            ("org_rollups", "org_id", self.orgs),
        ] {
            let all: Vec<(RowKey, Sums)> = rows.into_iter().collect();
            for chunk in all.chunks(UPSERT_CHUNK) {
                let mut values: Vec<Value> = Vec::with_capacity(chunk.len() * 14);
                let mut tuples = Vec::with_capacity(chunk.len());
                for ((id, d, g, period, key), s) in chunk {
                    values.push((*id).into());
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
                    .map(|c| format!("{c} = {table}.{c} + excluded.{c}"))
                    .collect();
                let sql = format!(
                    "INSERT INTO {table} ({owner}, dim, grain, period, key, n, \
                     s1, s2, s3, s4, s5, s6, s7, s8) VALUES {} \
                     ON CONFLICT ({owner}, dim, grain, period, key) DO UPDATE SET {}",
                    tuples.join(", "),
                    adds.join(", ")
                );
                txn.execute_raw(super::statement(backend, &sql, values))
                    .await?;
            }
        }
        Ok(())
    }
}

/// The organization of each of `workspaces`.
async fn orgs_of(
    txn: &impl ConnectionTrait,
    workspaces: impl IntoIterator<Item = Uuid>,
) -> Result<HashMap<Uuid, Uuid>, sea_orm::DbErr> {
    use crate::db::tables::workspaces;
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QuerySelect};
    let ids: Vec<Uuid> = workspaces
        .into_iter()
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<(Uuid, Uuid)> = workspaces::Entity::find()
        .select_only()
        .column(workspaces::Column::Id)
        .column(workspaces::Column::OrgId)
        .filter(workspaces::Column::Id.is_in(ids))
        .into_tuple()
        .all(txn)
        .await?;
    Ok(rows.into_iter().collect())
}

/// Jobs (or activity rows) folded per transaction.
pub const FOLD_BATCH: u64 = 1000;
/// Rows per `INSERT … ON CONFLICT` statement (14 values each: under every backend's
/// parameter limit).
const UPSERT_CHUNK: usize = 500;
/// AI requests are folded once this old: their tokens are recorded when the answer ends.
/// One recorded later, or a request given back, corrects the rollups itself
/// ([`Db::record_ai_usage`], [`Db::uncount_ai_request`]).
pub const AI_SETTLE: Duration = Duration::minutes(15);

/// The fold's claim of up to `limit` final jobs not folded yet. It reads only the partial
/// index `idx_jobs_to_fold` (its `WHERE` is the index's own), so a batch costs the jobs
/// it folds, not the history before them.
pub fn fold_statement(backend: DbBackend, limit: u64) -> String {
    claim("jobs", "idx_jobs_to_fold", JOBS_TO_FOLD, "", backend, limit) + JOB_COLUMNS
}

const JOB_COLUMNS: &str = "workspace_id, org_id, status, backend, shots, author_id, source_doc_id, \
     queued_at, started_at, finished_at, gates_before, gates_after, \
     two_qubit_before, two_qubit_after, depth_before, depth_after";

/// The tables besides the jobs that the fold takes, and what a row of each adds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activity {
    Ai,
    Chat,
    Points,
}

impl Activity {
    pub const ALL: [Activity; 3] = [Activity::Ai, Activity::Chat, Activity::Points];

    /// The table and its time column (as the migration, `ACTIVITY_TABLES`, names them).
    pub fn table(self) -> (&'static str, &'static str) {
        match self {
            Activity::Ai => ("ai_requests", "at"),
            Activity::Chat => ("chat_messages", "created_at"),
            Activity::Points => ("points_ledger", "at"),
        }
    }

    /// What the fold reads of a row.
    fn columns(self) -> &'static str {
        match self {
            Activity::Ai => {
                "workspace_id, org_id, user_id, kind, prompt_tokens, completion_tokens, at"
            }
            Activity::Chat => "workspace_id, author_id, created_at",
            Activity::Points => "workspace_id, user_id, points, at",
        }
    }

    /// When a row of this table was made, and what it adds to the rollups.
    fn parts(self, r: &sea_orm::QueryResult) -> Result<(DateTime<Utc>, Vec<Part>), sea_orm::DbErr> {
        let at = r.try_get("", self.table().1)?;
        let parts = match self {
            Activity::Ai => ai_parts(
                r.try_get("", "kind")?,
                r.try_get("", "user_id")?,
                r.try_get("", "prompt_tokens")?,
                r.try_get("", "completion_tokens")?,
                1,
            ),
            Activity::Chat => vec![(
                dim::MEMBER,
                r.try_get::<Uuid>("", "author_id")?.to_string(),
                Sums::with(0, &[0, 1]),
            )],
            Activity::Points => vec![(
                dim::MEMBER,
                r.try_get::<Uuid>("", "user_id")?.to_string(),
                Sums::with(0, &[0, 0, 1, i64::from(r.try_get::<i32>("", "points")?)]),
            )],
        };
        Ok((at, parts))
    }

    /// The fold's claim of up to `limit` rows not folded yet, through the table's partial
    /// index of them. AI requests only once settled: the statement then binds one time.
    pub fn fold_statement(self, backend: DbBackend, limit: u64) -> String {
        let table = self.table().0;
        let settled = match self {
            Activity::Ai => " AND at < ?",
            Activity::Chat | Activity::Points => "",
        };
        claim(
            table,
            &format!("idx_{table}_unrolled"),
            ACTIVITY_TO_FOLD,
            settled,
            backend,
            limit,
        ) + self.columns()
    }

    fn fold_values(self) -> Vec<Value> {
        match self {
            Activity::Ai => vec![(Utc::now() - AI_SETTLE).into()],
            Activity::Chat | Activity::Points => Vec::new(),
        }
    }
}

/// `UPDATE … SET rolled_up = true … RETURNING ` for up to `limit` rows of `index`'s
/// (whose condition is `cond`): SQLite's planner is told the index (without statistics it
/// may prefer another and walk every folded row; `INDEXED BY` fails loudly if it ever
/// stops applying), PostgreSQL's folds skip each other's locked rows.
fn claim(
    table: &str,
    index: &str,
    cond: &str,
    extra: &str,
    backend: DbBackend,
    limit: u64,
) -> String {
    let (hint, lock) = match backend {
        DbBackend::Postgres => (String::new(), " FOR UPDATE SKIP LOCKED"),
        _ => (format!(" INDEXED BY {index}"), ""),
    };
    format!(
        "UPDATE {table} SET rolled_up = true WHERE id IN (SELECT id FROM {table}{hint} \
         WHERE {cond}{extra} LIMIT {limit}{lock}) AND rolled_up = false RETURNING "
    )
}

/// What one AI request adds (`sign` −1 takes it back).
fn ai_parts(
    kind: String,
    user: Option<Uuid>,
    prompt: i64,
    completion: i64,
    sign: i64,
) -> Vec<Part> {
    let mut parts = vec![(
        dim::AI_KIND,
        kind,
        Sums::with(sign, &[sign * prompt, sign * completion]),
    )];
    if let Some(u) = user {
        parts.push((dim::MEMBER, u.to_string(), Sums::with(0, &[sign])));
    }
    parts
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
        let mut batch = Batch::default();
        for r in &rows {
            let ws: Uuid = r.try_get("", "workspace_id")?;
            let org: Uuid = r.try_get("", "org_id")?;
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
            let mut status_sums = Sums::with(1, &[shots]);
            if optimized {
                status_sums.s[1] = 1;
                status_sums.s[2..].copy_from_slice(&opt);
            }
            let mut parts: Vec<Part> = vec![
                (dim::STATUS, status, status_sums),
                (dim::BACKEND, backend_name, Sums::with(1, &[shots])),
                (dim::MEMBER, author.to_string(), Sums::n(1)),
            ];
            if let Some(d) = doc {
                parts.push((dim::DOCUMENT, d.to_string(), Sums::n(1)));
            }
            if let Some(s) = started {
                parts.push((
                    dim::WAIT,
                    bin(ms_between(queued, s)).to_string(),
                    Sums::n(1),
                ));
                if let Some(f) = finished {
                    parts.push((dim::RUN, bin(ms_between(s, f)).to_string(), Sums::n(1)));
                }
            }
            batch.add(ws, org, queued, &parts);
        }
        batch.write(&txn).await?;
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

    /// Folds up to `limit` rows of each activity table (AI requests once
    /// [`AI_SETTLE`] old); returns how many it folded in all.
    pub async fn fold_activity(&self, limit: u64) -> ApiResult<u64> {
        let backend = self.backend();
        let mut folded = 0;
        for activity in Activity::ALL {
            let sql = activity.fold_statement(backend, limit);
            let txn = self.conn.begin().await?;
            let rows = txn
                .query_all_raw(super::statement(backend, &sql, activity.fold_values()))
                .await?;
            // Chat and points name only their workspace.
            let orgs = orgs_of(
                &txn,
                rows.iter()
                    .filter_map(|r| r.try_get::<Option<Uuid>>("", "workspace_id").ok().flatten()),
            )
            .await?;
            let mut batch = Batch::default();
            for r in &rows {
                // Points given outside any workspace are in no workspace's analytics.
                let Some(ws) = r.try_get::<Option<Uuid>>("", "workspace_id")? else {
                    continue;
                };
                let Some(org) = orgs.get(&ws).copied() else {
                    continue;
                };
                let (at, parts) = activity.parts(r)?;
                batch.add(ws, org, at, &parts);
            }
            batch.write(&txn).await?;
            txn.commit().await?;
            folded += rows.len() as u64;
        }
        Ok(folded)
    }

    /// Folds every activity row that can be folded now.
    pub async fn fold_all_activity(&self) -> ApiResult<u64> {
        let mut total = 0;
        loop {
            let n = self.fold_activity(FOLD_BATCH).await?;
            total += n;
            // Below one batch in all: no table had a full one.
            if n < FOLD_BATCH {
                return Ok(total);
            }
        }
    }

    /// Sets the tokens an AI request used. A request folded before its answer ended (it
    /// ran longer than [`AI_SETTLE`]) also moves its rollups by the difference.
    pub async fn record_ai_usage(
        &self,
        request: i64,
        prompt: i64,
        completion: i64,
    ) -> ApiResult<()> {
        let backend = self.backend();
        let set = |extra: &str| {
            super::statement(
                backend,
                &format!(
                    "UPDATE ai_requests SET prompt_tokens = ?, completion_tokens = ? \
                         WHERE id = ?{extra}",
                ),
                vec![prompt.into(), completion.into(), request.into()],
            )
        };
        if self
            .conn
            .execute_raw(set(" AND rolled_up = false"))
            .await?
            .rows_affected()
            == 1
        {
            return Ok(());
        }
        // Folded already (or gone). A no-op write first: it takes the row's lock (the
        // whole database's on SQLite), so what it returns is what the fold counted.
        let txn = self.conn.begin().await?;
        let Some(r) = txn
            .query_one_raw(super::statement(
                backend,
                "UPDATE ai_requests SET rolled_up = rolled_up WHERE id = ? RETURNING \
                     rolled_up, workspace_id, org_id, kind, prompt_tokens, completion_tokens, at",
                vec![request.into()],
            ))
            .await?
        else {
            return Ok(());
        };
        let (ws, org, at): (Uuid, Uuid, DateTime<Utc>) = (
            r.try_get("", "workspace_id")?,
            r.try_get("", "org_id")?,
            r.try_get("", "at")?,
        );
        let (p0, c0): (i64, i64) = (
            r.try_get("", "prompt_tokens")?,
            r.try_get("", "completion_tokens")?,
        );
        txn.execute_raw(set("")).await?;
        if !r.try_get::<bool>("", "rolled_up")? {
            txn.commit().await?;
            return Ok(());
        }
        let mut batch = Batch::default();
        batch.add(
            ws,
            org,
            at,
            &[(
                dim::AI_KIND,
                r.try_get("", "kind")?,
                Sums::with(0, &[prompt - p0, completion - c0]),
            )],
        );
        batch.write(&txn).await?;
        txn.commit().await?;
        Ok(())
    }

    /// Deletes an AI request that ran nothing, and takes it out of the rollups if it was
    /// folded.
    pub async fn uncount_ai_request(&self, request: i64) -> ApiResult<()> {
        let backend = self.backend();
        let txn = self.conn.begin().await?;
        let gone = txn
            .query_one_raw(super::statement(
                backend,
                "DELETE FROM ai_requests WHERE id = ? RETURNING rolled_up, workspace_id, \
                     org_id, user_id, kind, prompt_tokens, completion_tokens, at",
                vec![request.into()],
            ))
            .await?;
        if let Some(r) = gone
            && r.try_get::<bool>("", "rolled_up")?
        {
            let mut batch = Batch::default();
            batch.add(
                r.try_get("", "workspace_id")?,
                r.try_get("", "org_id")?,
                r.try_get("", "at")?,
                &ai_parts(
                    r.try_get("", "kind")?,
                    r.try_get("", "user_id")?,
                    r.try_get("", "prompt_tokens")?,
                    r.try_get("", "completion_tokens")?,
                    -1,
                ),
            );
            batch.write(&txn).await?;
        }
        txn.commit().await?;
        Ok(())
    }
}

/// Folds finished jobs and settled activity in the background: every second, until
/// nothing is left.
pub fn start_folding(db: Db) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Err(e) = db.fold_all_jobs().await {
                tracing::warn!(error = %e.message, "folding jobs into the analytics rollups");
            }
            if let Err(e) = db.fold_all_activity().await {
                tracing::warn!(error = %e.message, "folding activity into the analytics rollups");
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
    fn the_activity_tables_are_the_migrations() {
        assert_eq!(
            Activity::ALL.map(Activity::table),
            qollab_migrations::ACTIVITY_TABLES
        );
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
