//! Analytics aggregates. Every number is computed by the database (GROUP BY, window
//! functions for the percentiles) over index ranges of the scope and time range; the
//! process only receives grouped rows (at most one per bucket × status, backend,
//! document or person). The SQL is one text for both backends except the bucket and
//! duration expressions.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use qollab_shared::analytics::{
    AiKindUsage, AiSpend, Analytics, BackendUsage, Bucket, DocumentRuns, JobTotals, MemberActivity,
    OptimizerSavings, Percentiles, PointsTotals, SeriesPoint, TOP,
};
use sea_orm::{ConnectionTrait, DbBackend, QueryResult, Value};
use uuid::Uuid;

use super::rollups::{Activity, Grain, Split, bin, dim, histogram_percentiles, split};
use crate::db::Db;
use crate::error::ApiResult;

/// Up to this many jobs in a range, percentiles are exact (one sort of the range's
/// durations); above, they come from the rollups' histograms (within 1 %).
pub const EXACT_PERCENTILES_UP_TO: u64 = 10_000;

/// Whose activity: one workspace's, or every workspace's of an organization.
#[derive(Debug, Clone, Copy)]
pub enum Scope {
    Workspace(Uuid),
    Org(Uuid),
}

impl Scope {
    fn id(self) -> Uuid {
        match self {
            Scope::Workspace(id) | Scope::Org(id) => id,
        }
    }

    /// The condition on a table that has both `workspace_id` and `org_id` columns.
    fn direct(self) -> &'static str {
        match self {
            Scope::Workspace(_) => "workspace_id = ?",
            Scope::Org(_) => "org_id = ?",
        }
    }

    /// The rollups of the scope and the condition that picks its rows: an organization
    /// has rollups of its own (summed over its workspaces as they fold).
    fn rollups(self) -> (&'static str, &'static str) {
        match self {
            Scope::Workspace(_) => ("analytics_rollups", "workspace_id = ?"),
            Scope::Org(_) => ("org_rollups", "org_id = ?"),
        }
    }

    /// The condition on a table that only names its workspace.
    ///
    /// On PostgreSQL the organization's workspaces are read once into an array: with an
    /// `IN (SELECT …)` semi-join and the OR'ed periods of a rollup read, its planner scanned
    /// the whole rollups table (seconds at a million jobs); `= ANY(ARRAY(…))` probes the
    /// primary key per workspace. SQLite loops an `IN (SELECT …)` list over the index.
    fn via_workspace(self, backend: DbBackend) -> &'static str {
        match (self, backend) {
            (Scope::Workspace(_), _) => "workspace_id = ?",
            (Scope::Org(_), DbBackend::Postgres) => {
                "workspace_id = ANY(ARRAY(SELECT id FROM workspaces WHERE org_id = ?))"
            }
            (Scope::Org(_), _) => "workspace_id IN (SELECT id FROM workspaces WHERE org_id = ?)",
        }
    }
}

/// The range and bucketing asked for.
pub struct Range {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub bucket: Bucket,
    /// Every bucket start of the range (see [`Bucket::starts`]).
    pub starts: Vec<DateTime<Utc>>,
    /// Percentiles are exact up to this many jobs in the range (normally
    /// [`EXACT_PERCENTILES_UP_TO`]).
    pub exact_up_to: u64,
}

fn get<T: sea_orm::TryGetable>(r: &QueryResult, col: &str) -> Result<T, sea_orm::DbErr> {
    r.try_get::<T>("", col)
}

fn count(r: &QueryResult, col: &str) -> Result<u64, sea_orm::DbErr> {
    Ok(get::<i64>(r, col)?.max(0) as u64)
}

impl Db {
    /// Runs `sql` written with `?` placeholders on either backend.
    async fn rows(
        &self,
        sql: &str,
        values: Vec<Value>,
    ) -> Result<Vec<QueryResult>, sea_orm::DbErr> {
        let backend = self.backend();
        let started = std::time::Instant::now();
        let rows = self
            .conn
            .query_all_raw(super::statement(backend, sql, values))
            .await?;
        // Where an answer's time goes, query by query (`RUST_LOG=…analytics=debug`).
        tracing::debug!(
            ms = started.elapsed().as_secs_f64() * 1e3,
            rows = rows.len(),
            sql = %sql.chars().take(160).collect::<String>(),
            "analytics query"
        );
        Ok(rows)
    }

    /// One dimension's grouped rows over `split`: the rollups' whole periods
    /// (`rolled`: columns and grouping over the scope's rollups) and the job rows of the
    /// edges and of the jobs not folded yet (`raw`, over `jobs`), each already grouped;
    /// both sides name their columns alike, and the caller adds them up.
    async fn grouped_both(
        &self,
        scope: Scope,
        split: &Split,
        dim: &str,
        rolled: (&str, &str),
        raw: (&str, &str, &str),
    ) -> Result<Vec<QueryResult>, sea_orm::DbErr> {
        let mut out = self.rolled(scope, split, dim, rolled).await?;
        out.extend(
            self.raw((("jobs", "queued_at"), scope.direct()), scope, split, raw)
                .await?,
        );
        Ok(out)
    }

    /// The rollup rows of `dim` for the whole periods of `split`, grouped.
    async fn rolled(
        &self,
        scope: Scope,
        split: &Split,
        dim: &str,
        (select, group): (&str, &str),
    ) -> Result<Vec<QueryResult>, sea_orm::DbErr> {
        let mut values = Vec::new();
        let Some(rows) = split.rolled_union(scope.rollups(), scope.id(), dim, &mut values) else {
            return Ok(Vec::new());
        };
        self.rows(
            &format!("SELECT {select} FROM ({rows}) r GROUP BY {group}"),
            values,
        )
        .await
    }

    /// The rows of `table` (time column `at`, scope condition `owner`) the rollups do not
    /// hold for `split`: its edges, and the rows not folded yet; grouped.
    async fn raw(
        &self,
        ((table, at), owner): ((&str, &str), &str),
        scope: Scope,
        split: &Split,
        (select, filter, group): (&str, &str, &str),
    ) -> Result<Vec<QueryResult>, sea_orm::DbErr> {
        let mut values = vec![scope.id().into()];
        let cond = split.raw_where(at, &mut values);
        let group = if group.is_empty() {
            String::new()
        } else {
            format!(" GROUP BY {group}")
        };
        self.rows(
            &format!("SELECT {select} FROM {table} WHERE {owner} AND {cond}{filter}{group}"),
            values,
        )
        .await
    }

    /// The start of `column`'s bucket as RFC 3339 text (UTC).
    fn bucket_expr(&self, bucket: Bucket, column: &str) -> String {
        match self.backend() {
            DbBackend::Postgres => format!(
                "to_char(date_trunc('{}', {column} AT TIME ZONE 'UTC'), \
                 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')",
                bucket.as_str()
            ),
            _ => match bucket {
                Bucket::Hour => format!("strftime('%Y-%m-%dT%H:00:00Z', {column})"),
                Bucket::Day => format!("strftime('%Y-%m-%dT00:00:00Z', {column})"),
                Bucket::Week => {
                    format!("strftime('%Y-%m-%dT00:00:00Z', {column}, 'weekday 0', '-6 days')")
                }
            },
        }
    }

    /// `to − from` in milliseconds, as a double.
    fn millis_expr(&self, from: &str, to: &str) -> String {
        match self.backend() {
            DbBackend::Postgres => {
                format!("CAST(EXTRACT(EPOCH FROM ({to} - {from})) * 1000 AS DOUBLE PRECISION)")
            }
            _ => format!("((julianday({to}) - julianday({from})) * 86400000.0)"),
        }
    }

    pub async fn analytics(&self, scope: Scope, range: Range) -> ApiResult<Analytics> {
        let id = scope.id();
        let (from, to) = (range.from, range.to);
        let base = || -> Vec<Value> { vec![id.into(), from.into(), to.into()] };

        // Whole periods from the rollups, no coarser than a bucket for the series (so
        // each rollup row falls in one bucket), up to months for everything else.
        let by_bucket_split = split(
            from,
            to,
            match range.bucket {
                Bucket::Hour => Grain::Hour,
                Bucket::Day | Bucket::Week => Grain::Day,
            },
        );
        let whole = split(from, to, Grain::Month);

        // Jobs by bucket and status, with the optimizer's sums (summed for completed
        // groups below).
        let optimized = "gates_before IS NOT NULL AND gates_after IS NOT NULL";
        let sum = |e: &str| format!("CAST(COALESCE(SUM({e}), 0) AS BIGINT)");
        let rolled_select = format!(
            "{} AS b, key AS status, {} AS n, {} AS shots, {} AS oj, {} AS gb, {} AS ga, \
             {} AS tb, {} AS ta, {} AS db, {} AS da",
            self.bucket_expr(range.bucket, "period"),
            sum("n"),
            sum("s1"),
            sum("s2"),
            sum("s3"),
            sum("s4"),
            sum("s5"),
            sum("s6"),
            sum("s7"),
            sum("s8"),
        );
        let rolled_group = format!("{}, key", self.bucket_expr(range.bucket, "period"));
        let bucket = self.bucket_expr(range.bucket, "queued_at");
        let when = |col: &str| sum(&format!("CASE WHEN {optimized} THEN {col} END"));
        let raw_select = format!(
            "{bucket} AS b, status, COUNT(*) AS n, {} AS shots, \
             COUNT(CASE WHEN {optimized} THEN 1 END) AS oj, {} AS gb, {} AS ga, {} AS tb, \
             {} AS ta, {} AS db, {} AS da",
            sum("shots"),
            when("gates_before"),
            when("gates_after"),
            when("two_qubit_before"),
            when("two_qubit_after"),
            when("depth_before"),
            when("depth_after"),
        );
        let raw_group = format!("{bucket}, status");
        let rows = self
            .grouped_both(
                scope,
                &by_bucket_split,
                dim::STATUS,
                (&rolled_select, &rolled_group),
                (&raw_select, "", &raw_group),
            )
            .await?;
        let mut optimizer = OptimizerSavings::default();
        let mut by_bucket: HashMap<DateTime<Utc>, SeriesPoint> = HashMap::new();
        for r in &rows {
            let b: String = get(r, "b")?;
            let start = DateTime::parse_from_rfc3339(&b)
                .map_err(|e| sea_orm::DbErr::Custom(format!("bucket {b}: {e}")))?
                .with_timezone(&Utc);
            let p = by_bucket.entry(start).or_default();
            let n = count(r, "n")?;
            let status: String = get(r, "status")?;
            if status == "completed" {
                let o = &mut optimizer;
                o.jobs += count(r, "oj")?;
                o.gates_before += count(r, "gb")?;
                o.gates_after += count(r, "ga")?;
                o.two_qubit_before += count(r, "tb")?;
                o.two_qubit_after += count(r, "ta")?;
                o.depth_before += count(r, "db")?;
                o.depth_after += count(r, "da")?;
            }
            p.by_status.add(&status, n);
            p.total += n;
            p.shots += count(r, "shots")?;
        }
        let mut jobs = JobTotals::default();
        let series = range
            .starts
            .iter()
            .map(|start| {
                let mut p = by_bucket.remove(start).unwrap_or_default();
                p.start = *start;
                p.success_rate = p.by_status.success_rate();
                jobs.total += p.total;
                jobs.shots += p.shots;
                for (k, v) in p.by_status.pairs() {
                    jobs.by_status.add(k, v);
                }
                p
            })
            .collect();
        jobs.success_rate = jobs.by_status.success_rate();

        let jobs_where = format!("{} AND queued_at >= ? AND queued_at < ?", scope.direct());
        let exact = jobs.total <= range.exact_up_to;
        let queue_wait_ms = if exact {
            self.percentiles(
                &jobs_where,
                "started_at IS NOT NULL",
                "queued_at",
                "started_at",
                base(),
            )
            .await?
        } else {
            self.histogram(scope, &whole, dim::WAIT, "queued_at", "started_at")
                .await?
        };
        let run_time_ms = if exact {
            self.percentiles(
                &jobs_where,
                "started_at IS NOT NULL AND finished_at IS NOT NULL",
                "started_at",
                "finished_at",
                base(),
            )
            .await?
        } else {
            self.histogram(scope, &whole, dim::RUN, "started_at", "finished_at")
                .await?
        };

        if optimizer.gates_before > 0 {
            optimizer.gates_saved =
                Some(1.0 - optimizer.gates_after as f64 / optimizer.gates_before as f64);
        }

        // Backends, documents and authors: added up by key here (both sides are
        // grouped, so this is one row per key and side), then the top ones.
        let mut by_backend: HashMap<String, (u64, u64)> = HashMap::new();
        for r in self
            .grouped_both(
                scope,
                &whole,
                dim::BACKEND,
                (
                    &format!("key AS backend, {} AS n, {} AS shots", sum("n"), sum("s1")),
                    "key",
                ),
                (
                    &format!("backend, COUNT(*) AS n, {} AS shots", sum("shots")),
                    "",
                    "backend",
                ),
            )
            .await?
        {
            let e = by_backend.entry(get(&r, "backend")?).or_default();
            e.0 += count(&r, "n")?;
            e.1 += count(&r, "shots")?;
        }
        let mut backends: Vec<BackendUsage> = by_backend
            .into_iter()
            .map(|(backend, (jobs, shots))| BackendUsage {
                backend,
                jobs,
                shots,
            })
            .collect();
        backends.sort_by(|a, b| b.jobs.cmp(&a.jobs).then_with(|| a.backend.cmp(&b.backend)));
        backends.truncate(TOP as usize);

        let by_doc = self
            .counts_by_id(
                scope,
                &whole,
                dim::DOCUMENT,
                "source_doc_id",
                " AND source_doc_id IS NOT NULL",
            )
            .await?;
        let mut documents: Vec<DocumentRuns> = by_doc
            .into_iter()
            .map(|(doc_id, jobs)| DocumentRuns {
                doc_id,
                name: String::new(),
                jobs,
            })
            .collect();
        documents.sort_by(|a, b| b.jobs.cmp(&a.jobs).then_with(|| a.doc_id.cmp(&b.doc_id)));
        documents.truncate(TOP as usize);
        let names = self.doc_names(documents.iter().map(|d| d.doc_id)).await?;
        for d in &mut documents {
            d.name = names.get(&d.doc_id).cloned().unwrap_or_default();
        }
        // Member activity, AI spend and points: the members' rollup rows (jobs, AI
        // requests, chat messages and points per person) and the AI kinds', plus the rows
        // of the four tables that are not folded.
        let mut members: HashMap<Uuid, MemberActivity> = HashMap::new();
        fn person(all: &mut HashMap<Uuid, MemberActivity>, id: Uuid) -> &mut MemberActivity {
            all.entry(id).or_insert_with(|| MemberActivity {
                user_id: id,
                name: String::new(),
                jobs: 0,
                ai_requests: 0,
                chat_messages: 0,
                points: 0,
            })
        }
        let mut points = PointsTotals::default();
        let total = |e: &str| format!("CAST(COALESCE(SUM({e}), 0) AS BIGINT)");
        for r in self
            .rolled(
                scope,
                &whole,
                dim::MEMBER,
                (
                    &format!(
                        "key AS k, {} AS n, {} AS ai, {} AS chat, {} AS awards, {} AS points",
                        total("n"),
                        total("s1"),
                        total("s2"),
                        total("s3"),
                        total("s4")
                    ),
                    "key",
                ),
            )
            .await?
        {
            let k: String = get(&r, "k")?;
            let id = Uuid::parse_str(&k)
                .map_err(|e| sea_orm::DbErr::Custom(format!("rollup key {k}: {e}")))?;
            let p = person(&mut members, id);
            p.jobs += count(&r, "n")?;
            p.ai_requests += count(&r, "ai")?;
            p.chat_messages += count(&r, "chat")?;
            let pts: i64 = get(&r, "points")?;
            p.points += pts;
            points.points += pts;
            points.awards += count(&r, "awards")?;
        }
        for r in self
            .raw(
                (("jobs", "queued_at"), scope.direct()),
                scope,
                &whole,
                ("author_id AS u, COUNT(*) AS n", "", "author_id"),
            )
            .await?
        {
            person(&mut members, get(&r, "u")?).jobs += count(&r, "n")?;
        }
        let via_ws = scope.via_workspace(self.backend());
        for r in self
            .raw(
                (Activity::Chat.table(), via_ws),
                scope,
                &whole,
                ("author_id AS u, COUNT(*) AS n", "", "author_id"),
            )
            .await?
        {
            person(&mut members, get(&r, "u")?).chat_messages += count(&r, "n")?;
        }
        for r in self
            .raw(
                (Activity::Points.table(), via_ws),
                scope,
                &whole,
                (
                    &format!("user_id AS u, COUNT(*) AS n, {} AS p", total("points")),
                    "",
                    "user_id",
                ),
            )
            .await?
        {
            let pts: i64 = get(&r, "p")?;
            person(&mut members, get(&r, "u")?).points += pts;
            points.points += pts;
            points.awards += count(&r, "n")?;
        }

        // AI requests by kind.
        let mut by_kind: BTreeMap<String, AiKindUsage> = BTreeMap::new();
        let mut kind = |k: String, n: u64, p: u64, c: u64| {
            let e = by_kind.entry(k.clone()).or_insert_with(|| AiKindUsage {
                kind: k,
                requests: 0,
                prompt_tokens: 0,
                completion_tokens: 0,
            });
            e.requests += n;
            e.prompt_tokens += p;
            e.completion_tokens += c;
        };
        for r in self
            .rolled(
                scope,
                &whole,
                dim::AI_KIND,
                (
                    &format!(
                        "key AS k, {} AS n, {} AS p, {} AS c",
                        total("n"),
                        total("s1"),
                        total("s2")
                    ),
                    "key",
                ),
            )
            .await?
        {
            kind(
                get(&r, "k")?,
                count(&r, "n")?,
                count(&r, "p")?,
                count(&r, "c")?,
            );
        }
        for r in self
            .raw(
                (Activity::Ai.table(), via_ws),
                scope,
                &whole,
                (
                    &format!(
                        "kind, user_id AS u, COUNT(*) AS n, {} AS p, {} AS c",
                        total("prompt_tokens"),
                        total("completion_tokens")
                    ),
                    "",
                    "kind, user_id",
                ),
            )
            .await?
        {
            let n = count(&r, "n")?;
            kind(get(&r, "kind")?, n, count(&r, "p")?, count(&r, "c")?);
            if let Some(u) = get::<Option<Uuid>>(&r, "u")? {
                person(&mut members, u).ai_requests += n;
            }
        }
        let mut ai = AiSpend::default();
        for k in by_kind.into_values() {
            ai.requests += k.requests;
            ai.prompt_tokens += k.prompt_tokens;
            ai.completion_tokens += k.completion_tokens;
            ai.by_kind.push(k);
        }
        // A request given back can leave a person's rollup row at zero.
        let mut members: Vec<MemberActivity> = members
            .into_values()
            .filter(|m| m.jobs + m.ai_requests + m.chat_messages > 0 || m.points != 0)
            .collect();
        members.sort_by(|a, b| {
            (b.jobs, b.points, b.ai_requests, b.chat_messages)
                .cmp(&(a.jobs, a.points, a.ai_requests, a.chat_messages))
                .then(a.user_id.cmp(&b.user_id))
        });
        members.truncate(TOP as usize);
        let names = self.names_of(members.iter().map(|m| m.user_id)).await?;
        for m in &mut members {
            m.name = names.get(&m.user_id).cloned().unwrap_or_default();
        }

        Ok(Analytics {
            scope: match scope {
                Scope::Workspace(_) => "workspace".into(),
                Scope::Org(_) => "organization".into(),
            },
            scope_id: id,
            from,
            to,
            bucket: range.bucket,
            jobs,
            series,
            queue_wait_ms,
            run_time_ms,
            optimizer,
            backends,
            documents,
            members,
            ai,
            points,
        })
    }

    /// Jobs per id (document or author) over `split`, from both sides.
    async fn counts_by_id(
        &self,
        scope: Scope,
        split: &Split,
        dim: &str,
        column: &str,
        filter: &str,
    ) -> Result<HashMap<Uuid, u64>, sea_orm::DbErr> {
        let rows = self
            .grouped_both(
                scope,
                split,
                dim,
                ("key AS k, CAST(COALESCE(SUM(n), 0) AS BIGINT) AS n", "key"),
                (&format!("{column} AS id, COUNT(*) AS n"), filter, column),
            )
            .await?;
        let mut out: HashMap<Uuid, u64> = HashMap::new();
        for r in &rows {
            // Rollup keys are text; the job rows' ids are typed.
            let id = match r.try_get::<String>("", "k") {
                Ok(k) => Uuid::parse_str(&k)
                    .map_err(|e| sea_orm::DbErr::Custom(format!("rollup key {k}: {e}")))?,
                Err(_) => get(r, "id")?,
            };
            *out.entry(id).or_default() += count(r, "n")?;
        }
        Ok(out)
    }

    /// p50 and p95 of `to − from` (ms) from the rollups' histogram of `dim` and the
    /// durations of the job rows (the edges and the jobs not folded yet: few), binned
    /// alike. Within 1 % of the exact figures.
    async fn histogram(
        &self,
        scope: Scope,
        split: &Split,
        dim: &str,
        from: &str,
        to: &str,
    ) -> Result<Percentiles, sea_orm::DbErr> {
        let d = self.millis_expr(from, to);
        let rows = self
            .grouped_both(
                scope,
                split,
                dim,
                ("key AS k, CAST(COALESCE(SUM(n), 0) AS BIGINT) AS n", "key"),
                (
                    &format!("{d} AS v"),
                    &format!(" AND {from} IS NOT NULL AND {to} IS NOT NULL"),
                    "",
                ),
            )
            .await?;
        let mut h: BTreeMap<i64, u64> = BTreeMap::new();
        for r in &rows {
            match r.try_get::<String>("", "k") {
                Ok(k) => {
                    let b: i64 = k
                        .parse()
                        .map_err(|e| sea_orm::DbErr::Custom(format!("rollup bin {k}: {e}")))?;
                    *h.entry(b).or_default() += count(r, "n")?;
                }
                Err(_) => *h.entry(bin(get::<f64>(r, "v")?)).or_default() += 1,
            }
        }
        let (count, p50, p95) = histogram_percentiles(&h);
        Ok(Percentiles {
            count,
            p50,
            p95,
            approximate: true,
        })
    }

    /// Nearest-rank p50 and p95 of `to − from` (ms) over the jobs matching `filter`:
    /// one sort in the database, two rows back.
    async fn percentiles(
        &self,
        jobs_where: &str,
        filter: &str,
        from: &str,
        to: &str,
        values: Vec<Value>,
    ) -> Result<Percentiles, sea_orm::DbErr> {
        let d = self.millis_expr(from, to);
        let rows = self
            .rows(
                &format!(
                    "SELECT v, rn, n FROM (SELECT {d} AS v, ROW_NUMBER() OVER (ORDER BY {d}) AS rn, \
                     COUNT(*) OVER () AS n FROM jobs WHERE {jobs_where} AND {filter}) t \
                     WHERE rn = (n * 50 + 99) / 100 OR rn = (n * 95 + 99) / 100"
                ),
                values,
            )
            .await?;
        let mut out = Percentiles::default();
        for r in &rows {
            let (v, rn, n): (f64, i64, i64) = (get(r, "v")?, get(r, "rn")?, get(r, "n")?);
            // Tenths of a millisecond: SQLite's julianday arithmetic is exact to ~0.05 ms.
            let v = (v * 10.0).round() / 10.0;
            out.count = n.max(0) as u64;
            if rn == (n * 50 + 99) / 100 {
                out.p50 = Some(v);
            }
            if rn == (n * 95 + 99) / 100 {
                out.p95 = Some(v);
            }
        }
        Ok(out)
    }

    async fn doc_names(
        &self,
        ids: impl IntoIterator<Item = Uuid>,
    ) -> Result<HashMap<Uuid, String>, sea_orm::DbErr> {
        use crate::db::tables::docs;
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QuerySelect};
        let ids: Vec<Uuid> = ids.into_iter().collect();
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        let rows: Vec<(Uuid, String)> = docs::Entity::find()
            .select_only()
            .column(docs::Column::Id)
            .column(docs::Column::Name)
            .filter(docs::Column::Id.is_in(ids))
            .into_tuple()
            .all(&self.conn)
            .await?;
        Ok(rows.into_iter().collect())
    }
}
