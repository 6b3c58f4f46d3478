//! Progress: marks, unlocked achievements, the points ledger and the event cursors.
//! Every write is an insert that a unique key makes happen once (or a cursor that only
//! moves forward), so the consumer may read an event twice, in two processes, and
//! nothing is counted or awarded twice.

use chrono::{DateTime, NaiveDate, Utc};
use qollab_shared::progress::{self, Mark, Tally, counters};
use sea_orm::sea_query::{Alias, Expr, ExprTrait, OnConflict, Query};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, FromQueryResult, QueryFilter, QueryOrder,
    QuerySelect, Set, TransactionTrait,
};
use std::collections::BTreeMap;
use uuid::Uuid;

use crate::db::Db;
use crate::db::tables::{
    board_points, points_ledger, progress_marks, user_achievements, users, workspace_members,
    workspaces,
};
use crate::error::ApiResult;

/// Per user and counter, the number of its marks (migration 17).
#[derive(Clone, Copy)]
struct ProgressTallies;

impl sea_orm::sea_query::Iden for ProgressTallies {
    fn unquoted(&self) -> &str {
        "progress_tallies"
    }
}

#[derive(FromQueryResult)]
struct CounterRow {
    counter: String,
    n: i64,
}

#[derive(FromQueryResult)]
struct UserPoints {
    user_id: Uuid,
    points: i64,
}

impl Db {
    /// Stores marks (those already stored are skipped) and adds the new ones to their
    /// users' tallies, in one transaction: a tally is always its marks' count.
    pub async fn add_marks(
        &self,
        marks: &[Mark],
        ws: Option<Uuid>,
        at: DateTime<Utc>,
    ) -> Result<(), sea_orm::DbErr> {
        let unique: std::collections::BTreeSet<&Mark> = marks.iter().collect();
        if unique.is_empty() {
            return Ok(());
        }
        let rows: Vec<_> = unique.into_iter().collect();
        let txn = self.conn.begin().await?;
        let mut added: BTreeMap<(Uuid, String), i64> = BTreeMap::new();
        // Bounded per statement, under SQLite's and PostgreSQL's parameter limits.
        for chunk in rows.chunks(1000) {
            let mut insert = Query::insert();
            insert
                .into_table(progress_marks::Entity)
                .columns([
                    progress_marks::Column::UserId,
                    progress_marks::Column::Counter,
                    progress_marks::Column::Value,
                    progress_marks::Column::WorkspaceId,
                    progress_marks::Column::At,
                ])
                .on_conflict(
                    OnConflict::columns([
                        progress_marks::Column::UserId,
                        progress_marks::Column::Counter,
                        progress_marks::Column::Value,
                    ])
                    .do_nothing()
                    .to_owned(),
                )
                .returning(Query::returning().columns([
                    progress_marks::Column::UserId,
                    progress_marks::Column::Counter,
                ]));
            for m in chunk {
                insert
                    .values([
                        m.user.into(),
                        m.counter.clone().into(),
                        m.value.clone().into(),
                        ws.into(),
                        at.into(),
                    ])
                    .map_err(|e| sea_orm::DbErr::Custom(e.to_string()))?;
            }
            // Only the rows inserted come back (a conflict returns nothing).
            for row in txn.query_all(&insert).await? {
                let user: Uuid = row.try_get("", "user_id")?;
                let counter: String = row.try_get("", "counter")?;
                *added.entry((user, counter)).or_default() += 1;
            }
        }
        for ((user, counter), n) in added {
            let upsert = Query::insert()
                .into_table(ProgressTallies)
                .columns([
                    Alias::new("user_id"),
                    Alias::new("counter"),
                    Alias::new("n"),
                ])
                .values_panic([user.into(), counter.into(), n.into()])
                .on_conflict(
                    OnConflict::columns([Alias::new("user_id"), Alias::new("counter")])
                        .value(
                            Alias::new("n"),
                            Expr::col((ProgressTallies, Alias::new("n"))).add(n),
                        )
                        .to_owned(),
                )
                .to_owned();
            txn.execute(&upsert).await?;
        }
        txn.commit().await
    }

    /// A user's counters (one row each, `progress_tallies`) and active days.
    pub async fn tally(&self, user: Uuid) -> Result<Tally, sea_orm::DbErr> {
        let select = Query::select()
            .columns([Alias::new("counter"), Alias::new("n")])
            .from(ProgressTallies)
            .and_where(Expr::col(Alias::new("user_id")).eq(user))
            .to_owned();
        let rows = CounterRow::find_by_statement(self.conn.get_database_backend().build(&select))
            .all(&self.conn)
            .await?;
        let mut t = Tally::default();
        for r in rows {
            t.counts.insert(r.counter, u64::try_from(r.n).unwrap_or(0));
        }
        let days = progress_marks::Entity::find()
            .filter(progress_marks::Column::UserId.eq(user))
            .filter(progress_marks::Column::Counter.eq(counters::ACTIVE_DAYS))
            .all(&self.conn)
            .await?;
        t.days = days
            .iter()
            .filter_map(|d| NaiveDate::parse_from_str(&d.value, "%Y-%m-%d").ok())
            .collect();
        Ok(t)
    }

    /// Every user who has marks (for backfilling a new achievement).
    pub async fn users_with_marks(&self) -> Result<Vec<Uuid>, sea_orm::DbErr> {
        progress_marks::Entity::find()
            .select_only()
            .column(progress_marks::Column::UserId)
            .distinct()
            .into_tuple::<Uuid>()
            .all(&self.conn)
            .await
    }

    pub async fn achievements_of(
        &self,
        user: Uuid,
    ) -> Result<Vec<user_achievements::Model>, sea_orm::DbErr> {
        user_achievements::Entity::find()
            .filter(user_achievements::Column::UserId.eq(user))
            .all(&self.conn)
            .await
    }

    /// Records an unlock; true when this call unlocked it (exactly one caller does).
    pub async fn unlock(
        &self,
        user: Uuid,
        key: &str,
        ws: Option<Uuid>,
    ) -> Result<bool, sea_orm::DbErr> {
        let n = user_achievements::Entity::insert(user_achievements::ActiveModel {
            user_id: Set(user),
            key: Set(key.to_string()),
            workspace_id: Set(ws),
            unlocked_at: Set(Utc::now()),
        })
        .on_conflict(
            OnConflict::columns([
                user_achievements::Column::UserId,
                user_achievements::Column::Key,
            ])
            .do_nothing()
            .to_owned(),
        )
        .exec_without_returning(&self.conn)
        .await?;
        Ok(n == 1)
    }

    /// Adds an award to the ledger unless its key is there; true when added. The running
    /// totals move in the same transaction, so they always equal the ledger's sums.
    pub async fn award(
        &self,
        user: Uuid,
        ws: Option<Uuid>,
        award_key: &str,
        points: i32,
        reason: &str,
    ) -> Result<bool, sea_orm::DbErr> {
        self.award_at(user, ws, award_key, points, reason, Utc::now())
            .await
    }

    /// [`Db::award`] dated `at` (tests and benchmarks build histories with it).
    pub async fn award_at(
        &self,
        user: Uuid,
        ws: Option<Uuid>,
        award_key: &str,
        points: i32,
        reason: &str,
        at: DateTime<Utc>,
    ) -> Result<bool, sea_orm::DbErr> {
        let txn = self.conn.begin().await?;
        let n = points_ledger::Entity::insert(points_ledger::ActiveModel {
            user_id: Set(user),
            workspace_id: Set(ws),
            award_key: Set(award_key.to_string()),
            points: Set(points),
            reason: Set(reason.to_string()),
            at: Set(at),
            ..Default::default()
        })
        .on_conflict(
            OnConflict::column(points_ledger::Column::AwardKey)
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(&txn)
        .await?;
        if n != 1 {
            return Ok(false);
        }
        let org = match ws {
            Some(ws) => workspaces::Entity::find_by_id(ws)
                .one(&txn)
                .await?
                .map(|w| w.org_id),
            None => None,
        };
        let cells = progress::award_cells(ws, org, at);
        board_points::Entity::insert_many(cells.into_iter().map(|(board, period)| {
            board_points::ActiveModel {
                board: Set(board),
                period: Set(period),
                user_id: Set(user),
                points: Set(points.into()),
            }
        }))
        .on_conflict(
            OnConflict::columns([
                board_points::Column::Board,
                board_points::Column::Period,
                board_points::Column::UserId,
            ])
            .value(
                board_points::Column::Points,
                Expr::col((board_points::Entity, board_points::Column::Points))
                    .add(Expr::col((Alias::new("excluded"), Alias::new("points")))),
            )
            .to_owned(),
        )
        .exec_without_returning(&txn)
        .await?;
        txn.commit().await?;
        Ok(true)
    }

    /// A person's points so far (their all-time total on the global board).
    pub async fn points_of(&self, user: Uuid) -> Result<i64, sea_orm::DbErr> {
        Ok(board_points::Entity::find_by_id((
            progress::GLOBAL_BOARD.to_string(),
            progress::ALL_TIME.to_string(),
            user,
        ))
        .one(&self.conn)
        .await?
        .map_or(0, |r| r.points))
    }

    /// The top of a workspace's board in `period` (a key of
    /// `qollab_shared::progress`: all time, a calendar week or month), its current
    /// members only, best first (ties by user id), with names.
    pub async fn workspace_points(
        &self,
        ws: Uuid,
        period: &str,
        limit: u64,
    ) -> ApiResult<Vec<(Uuid, String, i64)>> {
        let members = Expr::exists(
            Query::select()
                .expr(Expr::val(1))
                .from(workspace_members::Entity)
                .and_where(Expr::col(workspace_members::Column::WorkspaceId).eq(ws))
                .and_where(
                    Expr::col((workspace_members::Entity, workspace_members::Column::UserId))
                        .equals((board_points::Entity, board_points::Column::UserId)),
                )
                .to_owned(),
        );
        self.board(&progress::workspace_board(ws), period, members, limit)
            .await
    }

    /// The top of an organization's board: points earned in any of its workspaces, by
    /// the people who are members of at least one of them now.
    pub async fn org_points(
        &self,
        org: Uuid,
        period: &str,
        limit: u64,
    ) -> ApiResult<Vec<(Uuid, String, i64)>> {
        let org_workspaces = Query::select()
            .column(workspaces::Column::Id)
            .from(workspaces::Entity)
            .and_where(Expr::col(workspaces::Column::OrgId).eq(org))
            .to_owned();
        let people = Expr::exists(
            Query::select()
                .expr(Expr::val(1))
                .from(workspace_members::Entity)
                .and_where(
                    Expr::col((workspace_members::Entity, workspace_members::Column::UserId))
                        .equals((board_points::Entity, board_points::Column::UserId)),
                )
                .and_where(
                    Expr::col(workspace_members::Column::WorkspaceId).in_subquery(org_workspaces),
                )
                .to_owned(),
        );
        self.board(&progress::org_board(org), period, people, limit)
            .await
    }

    /// The top of the global board (workspace and Quest awards alike), listing only the
    /// people who chose to appear.
    pub async fn global_points(
        &self,
        period: &str,
        limit: u64,
    ) -> ApiResult<Vec<(Uuid, String, i64)>> {
        let public = Expr::exists(
            Query::select()
                .expr(Expr::val(1))
                .from(users::Entity)
                .and_where(
                    Expr::col((users::Entity, users::Column::Id))
                        .equals((board_points::Entity, board_points::Column::UserId)),
                )
                .and_where(Expr::col(users::Column::LeaderboardPublic).eq(true))
                .to_owned(),
        );
        self.board(progress::GLOBAL_BOARD, period, public, limit)
            .await
    }

    /// One index range read: the board's cells of the period, highest first, keeping
    /// the people `who` (a condition correlated with the cell's user) selects. A
    /// correlated EXISTS stops after `limit` kept rows; `IN (subquery)` built the whole
    /// set of members first (100k ids: ~40 ms per board in the benchmark).
    async fn board(
        &self,
        board: &str,
        period: &str,
        who: sea_orm::sea_query::SimpleExpr,
        limit: u64,
    ) -> ApiResult<Vec<(Uuid, String, i64)>> {
        let rows = board_points::Entity::find()
            .select_only()
            .column(board_points::Column::UserId)
            .column(board_points::Column::Points)
            .filter(board_points::Column::Board.eq(board))
            .filter(board_points::Column::Period.eq(period))
            .filter(who)
            .order_by_desc(board_points::Column::Points)
            .order_by_asc(board_points::Column::UserId)
            .limit(limit)
            .into_model::<UserPoints>()
            .all(&self.conn)
            .await?;
        let names = self.names_of(rows.iter().map(|r| r.user_id)).await?;
        Ok(rows
            .into_iter()
            .map(|r| {
                let name = names.get(&r.user_id).cloned().unwrap_or_default();
                (r.user_id, name, r.points)
            })
            .collect())
    }
}
