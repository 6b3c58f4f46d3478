//! Analytics aggregates. Every number is computed by the database (GROUP BY, window
//! functions for the percentiles) over index ranges of the scope and time range; the
//! process only receives grouped rows (at most one per bucket × status, backend,
//! document or person). The SQL is one text for both backends except the bucket and
//! duration expressions.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use qollab_shared::analytics::{
    AiKindUsage, AiSpend, Analytics, BackendUsage, Bucket, DocumentRuns, JobTotals, MemberActivity,
    OptimizerSavings, Percentiles, PointsTotals, SeriesPoint, TOP,
};
use sea_orm::{ConnectionTrait, DbBackend, QueryResult, Statement, Value};
use uuid::Uuid;

use crate::db::Db;
use crate::error::ApiResult;

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

    /// The condition on a table that only names its workspace.
    fn via_workspace(self) -> &'static str {
        match self {
            Scope::Workspace(_) => "workspace_id = ?",
            Scope::Org(_) => "workspace_id IN (SELECT id FROM workspaces WHERE org_id = ?)",
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
        let sql = match backend {
            DbBackend::Postgres => {
                let mut out = String::with_capacity(sql.len() + 8);
                let mut n = 0;
                for c in sql.chars() {
                    if c == '?' {
                        n += 1;
                        out.push_str(&format!("${n}"));
                    } else {
                        out.push(c);
                    }
                }
                out
            }
            _ => sql.to_string(),
        };
        self.conn
            .query_all_raw(Statement::from_sql_and_values(backend, sql, values))
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
        let jobs_where = format!("{} AND queued_at >= ? AND queued_at < ?", scope.direct());

        // Jobs by bucket and status.
        let bucket = self.bucket_expr(range.bucket, "queued_at");
        let optimized = "gates_before IS NOT NULL AND gates_after IS NOT NULL";
        let mut optimizer = OptimizerSavings::default();
        let rows = self
            .rows(
                // The optimizer's sums ride along (summed for completed groups below):
                // one pass over the range instead of two.
                &format!(
                    "SELECT {bucket} AS b, status, COUNT(*) AS n, \
                     CAST(COALESCE(SUM(shots), 0) AS BIGINT) AS shots, \
                     COUNT(CASE WHEN {optimized} THEN 1 END) AS oj, \
                     CAST(COALESCE(SUM(CASE WHEN {optimized} THEN gates_before END), 0) AS BIGINT) AS gb, \
                     CAST(COALESCE(SUM(CASE WHEN {optimized} THEN gates_after END), 0) AS BIGINT) AS ga, \
                     CAST(COALESCE(SUM(CASE WHEN {optimized} THEN two_qubit_before END), 0) AS BIGINT) AS tb, \
                     CAST(COALESCE(SUM(CASE WHEN {optimized} THEN two_qubit_after END), 0) AS BIGINT) AS ta, \
                     CAST(COALESCE(SUM(CASE WHEN {optimized} THEN depth_before END), 0) AS BIGINT) AS db, \
                     CAST(COALESCE(SUM(CASE WHEN {optimized} THEN depth_after END), 0) AS BIGINT) AS da \
                     FROM jobs WHERE {jobs_where} GROUP BY {bucket}, status"
                ),
                base(),
            )
            .await?;
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

        let queue_wait_ms = self
            .percentiles(
                &jobs_where,
                "started_at IS NOT NULL",
                "queued_at",
                "started_at",
                base(),
            )
            .await?;
        let run_time_ms = self
            .percentiles(
                &jobs_where,
                "started_at IS NOT NULL AND finished_at IS NOT NULL",
                "started_at",
                "finished_at",
                base(),
            )
            .await?;

        if optimizer.gates_before > 0 {
            optimizer.gates_saved =
                Some(1.0 - optimizer.gates_after as f64 / optimizer.gates_before as f64);
        }

        let backends = self
            .rows(
                &format!(
                    "SELECT backend, COUNT(*) AS n, CAST(COALESCE(SUM(shots), 0) AS BIGINT) AS shots \
                     FROM jobs WHERE {jobs_where} GROUP BY backend \
                     ORDER BY COUNT(*) DESC, backend LIMIT {TOP}"
                ),
                base(),
            )
            .await?
            .iter()
            .map(|r| {
                Ok(BackendUsage {
                    backend: get(r, "backend")?,
                    jobs: count(r, "n")?,
                    shots: count(r, "shots")?,
                })
            })
            .collect::<Result<Vec<_>, sea_orm::DbErr>>()?;

        let doc_rows = self
            .rows(
                &format!(
                    "SELECT source_doc_id AS doc, COUNT(*) AS n FROM jobs \
                     WHERE {jobs_where} AND source_doc_id IS NOT NULL GROUP BY source_doc_id \
                     ORDER BY COUNT(*) DESC, source_doc_id LIMIT {TOP}"
                ),
                base(),
            )
            .await?;
        let mut documents = Vec::with_capacity(doc_rows.len());
        for r in &doc_rows {
            documents.push(DocumentRuns {
                doc_id: get(r, "doc")?,
                name: String::new(),
                jobs: count(r, "n")?,
            });
        }
        let names = self.doc_names(documents.iter().map(|d| d.doc_id)).await?;
        for d in &mut documents {
            d.name = names.get(&d.doc_id).cloned().unwrap_or_default();
        }

        // AI requests by kind.
        let ai_where = format!("{} AND at >= ? AND at < ?", scope.direct());
        let mut ai = AiSpend::default();
        for r in self
            .rows(
                &format!(
                    "SELECT kind, COUNT(*) AS n, \
                     CAST(COALESCE(SUM(prompt_tokens), 0) AS BIGINT) AS p, \
                     CAST(COALESCE(SUM(completion_tokens), 0) AS BIGINT) AS c \
                     FROM ai_requests WHERE {ai_where} GROUP BY kind ORDER BY kind"
                ),
                base(),
            )
            .await?
        {
            let k = AiKindUsage {
                kind: get(&r, "kind")?,
                requests: count(&r, "n")?,
                prompt_tokens: count(&r, "p")?,
                completion_tokens: count(&r, "c")?,
            };
            ai.requests += k.requests;
            ai.prompt_tokens += k.prompt_tokens;
            ai.completion_tokens += k.completion_tokens;
            ai.by_kind.push(k);
        }

        let points_where = format!("{} AND at >= ? AND at < ?", scope.via_workspace());
        let mut points = PointsTotals::default();
        if let Some(r) = self
            .rows(
                &format!(
                    "SELECT CAST(COALESCE(SUM(points), 0) AS BIGINT) AS p, COUNT(*) AS n \
                     FROM points_ledger WHERE {points_where}"
                ),
                base(),
            )
            .await?
            .first()
        {
            points = PointsTotals {
                points: get(r, "p")?,
                awards: count(r, "n")?,
            };
        }

        // Member activity: four grouped counts merged by person.
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
        for r in self
            .rows(
                &format!(
                    "SELECT author_id AS u, COUNT(*) AS n FROM jobs WHERE {jobs_where} \
                     GROUP BY author_id"
                ),
                base(),
            )
            .await?
        {
            person(&mut members, get(&r, "u")?).jobs = count(&r, "n")?;
        }
        for r in self
            .rows(
                &format!(
                    "SELECT user_id AS u, COUNT(*) AS n FROM ai_requests \
                     WHERE {ai_where} AND user_id IS NOT NULL GROUP BY user_id"
                ),
                base(),
            )
            .await?
        {
            person(&mut members, get(&r, "u")?).ai_requests = count(&r, "n")?;
        }
        let chat_where = format!(
            "{} AND created_at >= ? AND created_at < ?",
            scope.via_workspace()
        );
        for r in self
            .rows(
                &format!(
                    "SELECT author_id AS u, COUNT(*) AS n FROM chat_messages \
                     WHERE {chat_where} GROUP BY author_id"
                ),
                base(),
            )
            .await?
        {
            person(&mut members, get(&r, "u")?).chat_messages = count(&r, "n")?;
        }
        for r in self
            .rows(
                &format!(
                    "SELECT user_id AS u, CAST(COALESCE(SUM(points), 0) AS BIGINT) AS p \
                     FROM points_ledger WHERE {points_where} GROUP BY user_id"
                ),
                base(),
            )
            .await?
        {
            person(&mut members, get(&r, "u")?).points = get(&r, "p")?;
        }
        let mut members: Vec<MemberActivity> = members.into_values().collect();
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
