//! Quantum Quest: attempts and per-challenge progress. Progress rows change only
//! through conditional updates, so concurrent attempts and reveals (in one process or
//! several) never lose an attempt, reveal a hint twice or lower a best score.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, Set, TransactionTrait,
};
use uuid::Uuid;

use crate::db::Db;
use crate::db::tables::{quest_attempts, quest_progress, workspace_members};
use crate::error::ApiResult;

/// What revealing hint `index` did.
pub enum Reveal {
    /// Revealed now (charged to attempts from now on).
    Revealed,
    /// It had been revealed before: nothing changes.
    AlreadyRevealed,
    /// Earlier hints must be revealed first; this many are.
    OutOfOrder(i32),
}

/// A judged attempt as it is stored.
pub struct NewAttempt<'a> {
    pub user: Uuid,
    pub challenge: &'a str,
    pub qasm: &'a str,
    pub passed: bool,
    pub fidelity: f64,
    pub score: i32,
    pub hints_used: i32,
    pub gates: i32,
    pub depth: i32,
    pub two_qubit_gates: i32,
    pub violations: serde_json::Value,
}

async fn ensure_progress<C: ConnectionTrait>(c: &C, user: Uuid, challenge: &str) -> ApiResult<()> {
    quest_progress::Entity::insert(quest_progress::ActiveModel {
        user_id: Set(user),
        challenge: Set(challenge.to_string()),
        attempts: Set(0),
        hints_revealed: Set(0),
        best_score: Set(None),
        best_gates: Set(None),
        best_depth: Set(None),
        best_at: Set(None),
        updated_at: Set(Utc::now()),
    })
    .on_conflict(
        OnConflict::columns([
            quest_progress::Column::UserId,
            quest_progress::Column::Challenge,
        ])
        .do_nothing()
        .to_owned(),
    )
    .exec_without_returning(c)
    .await?;
    Ok(())
}

fn mine(user: Uuid, challenge: &str) -> Condition {
    Condition::all()
        .add(quest_progress::Column::UserId.eq(user))
        .add(quest_progress::Column::Challenge.eq(challenge))
}

impl Db {
    /// The player's progress on every challenge they have touched.
    pub async fn quest_progress(&self, user: Uuid) -> ApiResult<Vec<quest_progress::Model>> {
        Ok(quest_progress::Entity::find()
            .filter(quest_progress::Column::UserId.eq(user))
            .all(&self.conn)
            .await?)
    }

    pub async fn quest_progress_on(
        &self,
        user: Uuid,
        challenge: &str,
    ) -> ApiResult<Option<quest_progress::Model>> {
        Ok(quest_progress::Entity::find()
            .filter(mine(user, challenge))
            .one(&self.conn)
            .await?)
    }

    /// Reveals hint `index` (0-based) if it is the next one.
    pub async fn reveal_quest_hint(
        &self,
        user: Uuid,
        challenge: &str,
        index: i32,
    ) -> ApiResult<Reveal> {
        ensure_progress(&self.conn, user, challenge).await?;
        let done = quest_progress::Entity::update_many()
            .col_expr(
                quest_progress::Column::HintsRevealed,
                Expr::value(index + 1),
            )
            .col_expr(quest_progress::Column::UpdatedAt, Expr::value(Utc::now()))
            .filter(mine(user, challenge))
            .filter(quest_progress::Column::HintsRevealed.eq(index))
            .exec(&self.conn)
            .await?;
        if done.rows_affected == 1 {
            return Ok(Reveal::Revealed);
        }
        let revealed = self
            .quest_progress_on(user, challenge)
            .await?
            .map_or(0, |p| p.hints_revealed);
        Ok(if revealed > index {
            Reveal::AlreadyRevealed
        } else {
            Reveal::OutOfOrder(revealed)
        })
    }

    /// Stores an attempt and counts it; a passing one that beats the player's best
    /// becomes it. Returns (the stored attempt, whether it is a new best, progress).
    pub async fn record_quest_attempt(
        &self,
        a: NewAttempt<'_>,
    ) -> ApiResult<(quest_attempts::Model, bool, quest_progress::Model)> {
        let now = Utc::now();
        let txn = self.conn.begin().await?;
        let row = quest_attempts::ActiveModel {
            id: Set(Uuid::now_v7()),
            user_id: Set(a.user),
            challenge: Set(a.challenge.to_string()),
            qasm: Set(a.qasm.to_string()),
            passed: Set(a.passed),
            fidelity: Set(a.fidelity),
            score: Set(a.score),
            hints_used: Set(a.hints_used),
            gates: Set(a.gates),
            depth: Set(a.depth),
            two_qubit_gates: Set(a.two_qubit_gates),
            violations: Set(a.violations),
            created_at: Set(now),
        }
        .insert(&txn)
        .await?;
        ensure_progress(&txn, a.user, a.challenge).await?;
        quest_progress::Entity::update_many()
            .col_expr(
                quest_progress::Column::Attempts,
                Expr::col(quest_progress::Column::Attempts).add(1),
            )
            .col_expr(quest_progress::Column::UpdatedAt, Expr::value(now))
            .filter(mine(a.user, a.challenge))
            .exec(&txn)
            .await?;
        let mut new_best = false;
        if a.passed {
            let done = quest_progress::Entity::update_many()
                .col_expr(quest_progress::Column::BestScore, Expr::value(a.score))
                .col_expr(quest_progress::Column::BestGates, Expr::value(a.gates))
                .col_expr(quest_progress::Column::BestDepth, Expr::value(a.depth))
                .col_expr(quest_progress::Column::BestAt, Expr::value(now))
                .filter(mine(a.user, a.challenge))
                .filter(
                    Condition::any()
                        .add(quest_progress::Column::BestScore.is_null())
                        .add(quest_progress::Column::BestScore.lt(a.score)),
                )
                .exec(&txn)
                .await?;
            new_best = done.rows_affected == 1;
        }
        let progress = quest_progress::Entity::find()
            .filter(mine(a.user, a.challenge))
            .one(&txn)
            .await?
            .ok_or_else(crate::error::ApiError::internal)?;
        txn.commit().await?;
        Ok((row, new_best, progress))
    }

    /// The player's attempts on a challenge, newest first, older than `before`.
    pub async fn quest_attempts(
        &self,
        user: Uuid,
        challenge: &str,
        before: Option<Uuid>,
        limit: u64,
    ) -> ApiResult<Vec<quest_attempts::Model>> {
        let mut q = quest_attempts::Entity::find()
            .filter(quest_attempts::Column::UserId.eq(user))
            .filter(quest_attempts::Column::Challenge.eq(challenge));
        if let Some(b) = before {
            q = q.filter(quest_attempts::Column::Id.lt(b));
        }
        Ok(q.order_by_desc(quest_attempts::Column::Id)
            .limit(limit)
            .all(&self.conn)
            .await?)
    }

    /// The best `limit` players of a challenge with their names, and how many have passed it.
    pub async fn quest_leaderboard(
        &self,
        challenge: &str,
        limit: u64,
    ) -> ApiResult<(Vec<(quest_progress::Model, String)>, u64)> {
        let passed = quest_progress::Entity::find()
            .filter(quest_progress::Column::Challenge.eq(challenge))
            .filter(quest_progress::Column::BestScore.is_not_null());
        let players = passed.clone().count(&self.conn).await?;
        let rows = passed
            .order_by_desc(quest_progress::Column::BestScore)
            .order_by_asc(quest_progress::Column::BestAt)
            .order_by_asc(quest_progress::Column::UserId)
            .limit(limit)
            .all(&self.conn)
            .await?;
        let names = self.names_of(rows.iter().map(|r| r.user_id)).await?;
        let named = rows
            .into_iter()
            .map(|r| {
                let name = names.get(&r.user_id).cloned().unwrap_or_default();
                (r, name)
            })
            .collect();
        Ok((named, players))
    }

    /// 1-based rank of a best score reached at `at` (the leaderboard's order).
    pub async fn quest_rank(
        &self,
        challenge: &str,
        user: Uuid,
        score: i32,
        at: DateTime<Utc>,
    ) -> ApiResult<u64> {
        let ahead = quest_progress::Entity::find()
            .filter(quest_progress::Column::Challenge.eq(challenge))
            .filter(
                Condition::any()
                    .add(quest_progress::Column::BestScore.gt(score))
                    .add(
                        Condition::all()
                            .add(quest_progress::Column::BestScore.eq(score))
                            .add(
                                Condition::any()
                                    .add(quest_progress::Column::BestAt.lt(at))
                                    .add(
                                        Condition::all()
                                            .add(quest_progress::Column::BestAt.eq(at))
                                            .add(quest_progress::Column::UserId.lt(user)),
                                    ),
                            ),
                    ),
            )
            .count(&self.conn)
            .await?;
        Ok(ahead + 1)
    }

    /// Which of `others` share a workspace with `user` (they may see each other's names).
    pub async fn co_members(&self, user: Uuid, others: &[Uuid]) -> ApiResult<HashSet<Uuid>> {
        if others.is_empty() {
            return Ok(HashSet::new());
        }
        let mine: Vec<Uuid> = workspace_members::Entity::find()
            .filter(workspace_members::Column::UserId.eq(user))
            .all(&self.conn)
            .await?
            .into_iter()
            .map(|m| m.workspace_id)
            .collect();
        if mine.is_empty() {
            return Ok(HashSet::new());
        }
        Ok(workspace_members::Entity::find()
            .filter(workspace_members::Column::WorkspaceId.is_in(mine))
            .filter(workspace_members::Column::UserId.is_in(others.iter().copied()))
            .all(&self.conn)
            .await?
            .into_iter()
            .map(|m| m.user_id)
            .collect())
    }
}
