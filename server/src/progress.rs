//! Progress: achievements, points and levels, earned from what people do.
//!
//! One consumer per process reads every workspace's *stored* events in order (from a
//! cursor per workspace), turns each into marks (`qollab_shared::progress::marks_of`),
//! and evaluates the catalog's rules for the people concerned. Nothing is decided in
//! request handlers, and nothing is counted twice: marks, unlocks and ledger rows are
//! inserts that unique keys make happen once, so a replay, a crash between two steps or
//! a second process reading the same events changes nothing. Only the caller whose
//! insert unlocked an achievement announces it (`achievement.unlocked`,
//! `points.awarded`, `level.reached` in the workspace where it was earned).
//!
//! Quantum Quest is not workspace activity: a passing attempt adds its marks here
//! directly ([`Progress::quest_solved`]) and its first pass of a challenge earns that
//! attempt's score once.
//!
//! The consumer is told of each event its process commits, and sweeps every few seconds
//! for events it was not told of (other processes, a full channel). At start-up it
//! re-evaluates everyone with marks, which backfills an achievement added to the catalog.

use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;

use actix_web::web;
use chrono::{DateTime, Utc};
use qollab_shared::api::wire::Window;
use qollab_shared::events::kinds;
use qollab_shared::progress::{
    self as rules, Achievement, AchievementStatus, Mark, PointsEntry, PointsLeaderboard,
    UserProgress, counters,
};
use serde::Deserialize;
use uuid::Uuid;

use crate::app::AppState;
use crate::auth::AuthUser;
use crate::db::Db;
use crate::db::queries::cursors::Cursor;
use crate::db::tables::events;
use crate::error::{ApiError, ApiResult};
use crate::events::consumer::{self, Consumer};
use crate::events::{EventBus, to_wire};
use crate::workspaces::AsViewer;

pub struct Progress {
    db: Db,
    events: Arc<EventBus>,
}

impl Progress {
    /// Starts this process's consumer.
    pub fn start(db: Db, events: Arc<EventBus>) -> Arc<Progress> {
        let p = Arc::new(Progress {
            db,
            events: events.clone(),
        });
        consumer::spawn(&p, &events);
        p
    }

    /// The keys of the achievements `user` has unlocked.
    async fn unlocked_keys(&self, user: Uuid) -> Result<HashSet<String>, sea_orm::DbErr> {
        Ok(self
            .db
            .achievements_of(user)
            .await?
            .into_iter()
            .map(|a| a.key)
            .collect())
    }

    /// Unlocks what the user's marks now satisfy; returns what this call unlocked.
    pub async fn evaluate(
        &self,
        user: Uuid,
        ws: Option<Uuid>,
    ) -> Result<Vec<&'static Achievement>, sea_orm::DbErr> {
        let tally = self.db.tally(user).await?;
        let have = self.unlocked_keys(user).await?;
        let mut unlocked = Vec::new();
        for a in rules::catalog() {
            if have.contains(&a.key) || !tally.satisfies(&a.rule) {
                continue;
            }
            if self.db.unlock(user, &a.key, ws).await? {
                self.give(
                    user,
                    ws,
                    &award_key(a, user),
                    a.points,
                    &format!("achievement {}", a.key),
                )
                .await?;
                if let Some(ws) = ws {
                    let name = self.name(user).await?;
                    self.events
                        .emit(
                            ws,
                            kinds::ACHIEVEMENT_UNLOCKED,
                            Some(user),
                            serde_json::json!({
                                "user_id": user, "name": name, "key": a.key, "title": a.title,
                                "description": a.description, "points": a.points,
                            }),
                        )
                        .await;
                }
                unlocked.push(a);
            }
        }
        Ok(unlocked)
    }

    /// Adds an award to the ledger (once per key) and, in a workspace, says so live;
    /// true when this call added it.
    async fn give(
        &self,
        user: Uuid,
        ws: Option<Uuid>,
        key: &str,
        points: u32,
        reason: &str,
    ) -> Result<bool, sea_orm::DbErr> {
        let points = i32::try_from(points).unwrap_or(i32::MAX);
        if !self.db.award(user, ws, key, points, reason).await? {
            return Ok(false);
        }
        let total = self.db.points_of(user).await?;
        if let Some(ws) = ws {
            self.events
                .emit(
                    ws,
                    kinds::POINTS_AWARDED,
                    Some(user),
                    serde_json::json!({"user_id": user, "points": points, "total": total, "reason": reason}),
                )
                .await;
            let level = rules::level_for(total);
            if level > rules::level_for(total - i64::from(points)) {
                let name = self.name(user).await?;
                self.events
                    .emit(
                        ws,
                        kinds::LEVEL_REACHED,
                        Some(user),
                        serde_json::json!({"user_id": user, "name": name, "level": level, "points": total}),
                    )
                    .await;
            }
        }
        Ok(true)
    }

    async fn name(&self, user: Uuid) -> Result<String, sea_orm::DbErr> {
        Ok(self
            .db
            .user(user)
            .await
            .ok()
            .flatten()
            .map(|u| u.name)
            .unwrap_or_default())
    }

    /// A passing Quantum Quest attempt: its marks, the challenge's points on the first
    /// pass (`score`), and what that unlocks. Returns (points added, unlocked keys).
    pub async fn quest_solved(
        &self,
        user: Uuid,
        challenge: &str,
        tier: &str,
        score: u32,
    ) -> Result<(u32, Vec<String>), sea_orm::DbErr> {
        let now = Utc::now();
        let tz = self.db.time_zones_of([user]).await?.remove(&user);
        let marks: Vec<Mark> = [
            (counters::QUEST_SOLVED.to_string(), challenge.to_string()),
            (
                format!("{}{tier}", counters::QUEST_SOLVED_PREFIX),
                challenge.to_string(),
            ),
            (counters::ACTIVE_DAYS.to_string(), rules::local_day(now, tz)),
        ]
        .into_iter()
        .map(|(counter, value)| Mark {
            user,
            counter,
            value,
        })
        .collect();
        // The consumer may evaluate this person between our marks and our own
        // evaluation (it is told of their other activity) and win the unlock; the
        // attempt still reports what unlocked while it was recorded: before against after.
        let before = self.unlocked_keys(user).await?;
        self.db.add_marks(&marks, None, now).await?;
        let first = self
            .give(
                user,
                None,
                &format!("quest:{challenge}:{user}"),
                score,
                &format!("quest {challenge}"),
            )
            .await?;
        self.evaluate(user, None).await?;
        let after = self.unlocked_keys(user).await?;
        let unlocked: Vec<&Achievement> = rules::catalog()
            .iter()
            .filter(|a| after.contains(&a.key) && !before.contains(&a.key))
            .collect();
        let mut points = if first { score } else { 0 };
        points += unlocked.iter().map(|a| a.points).sum::<u32>();
        Ok((points, unlocked.iter().map(|a| a.key.clone()).collect()))
    }

    /// Re-evaluates everyone with marks (an achievement added to the catalog is
    /// awarded from history) and makes sure every unlock has its ledger row.
    pub async fn backfill(&self) -> Result<(), sea_orm::DbErr> {
        for user in self.db.users_with_marks().await? {
            self.evaluate(user, None).await?;
            for got in self.db.achievements_of(user).await? {
                if let Some(a) = rules::catalog().iter().find(|a| a.key == got.key) {
                    self.db
                        .award(
                            user,
                            got.workspace_id,
                            &award_key(a, user),
                            i32::try_from(a.points).unwrap_or(i32::MAX),
                            &format!("achievement {}", a.key),
                        )
                        .await?;
                }
            }
        }
        Ok(())
    }

    /// Where a user stands: points, level, streaks, every achievement.
    pub async fn of(&self, user: Uuid) -> ApiResult<UserProgress> {
        let u = self
            .db
            .user(user)
            .await?
            .ok_or_else(|| ApiError::not_found("user"))?;
        let tz = u.time_zone.as_deref().and_then(|t| t.parse().ok());
        let name = u.name;
        let points = self.db.points_of(user).await?;
        let tally = self.db.tally(user).await?;
        let got = self.db.achievements_of(user).await?;
        let level = rules::level_for(points);
        Ok(UserProgress {
            user_id: user,
            name,
            points,
            level,
            level_floor: rules::level_floor(level),
            next_level_at: rules::level_floor(level + 1),
            streak_days: tally.current_streak(rules::local_date(Utc::now(), tz)),
            best_streak_days: tally.best_streak(),
            achievements: rules::catalog()
                .iter()
                .map(|a| {
                    let (value, target) = tally.measure(&a.rule);
                    AchievementStatus {
                        key: a.key.clone(),
                        title: a.title.clone(),
                        description: a.description.clone(),
                        points: a.points,
                        unlocked_at: got.iter().find(|g| g.key == a.key).map(|g| g.unlocked_at),
                        value: value.min(target),
                        target,
                    }
                })
                .collect(),
        })
    }
}

fn award_key(a: &Achievement, user: Uuid) -> String {
    format!("achievement:{}:{user}", a.key)
}

impl Consumer for Progress {
    const CURSOR: Cursor = Cursor::Progress;

    fn db(&self) -> &Db {
        &self.db
    }

    /// Turns the events into marks and evaluates everyone they concern.
    async fn handle(&self, ws: Uuid, rows: &[events::Model]) -> Result<(), sea_orm::DbErr> {
        // Each actor's active day is the date where they are.
        let zones = self
            .db
            .time_zones_of(rows.iter().filter_map(|r| r.actor_id))
            .await?;
        let mut marks = Vec::new();
        for row in rows {
            let tz = row.actor_id.and_then(|a| zones.get(&a).copied());
            marks.extend(rules::marks_of(&to_wire(row), tz));
        }
        let people: BTreeSet<Uuid> = marks.iter().map(|m| m.user).collect();
        self.db.add_marks(&marks, Some(ws), Utc::now()).await?;
        // Everyone marked, not only new marks: a crash after storing marks and before
        // evaluating them is made good on the next read.
        for user in people {
            self.evaluate(user, Some(ws)).await?;
        }
        Ok(())
    }

    async fn start_up(&self) -> Result<(), sea_orm::DbErr> {
        self.backfill().await
    }
}

pub fn configure(r: &mut crate::app::Routes) {
    r.get("/api/me/progress", me)
        .get("/api/users/{user_id}/progress", of_user)
        .get("/api/workspaces/{workspace_id}/leaderboard", leaderboard)
        .get("/api/orgs/{org_id}/leaderboard", org_leaderboard)
        .get("/api/leaderboard", global_leaderboard);
}

#[utoipa::path(get, path = "/api/me/progress", tag = "progress",
    responses((status = 200, body = UserProgress), (status = 401)), security(("bearer" = [])))]
pub async fn me(state: web::Data<AppState>, user: AuthUser) -> ApiResult<web::Json<UserProgress>> {
    Ok(web::Json(state.progress.of(user.id).await?))
}

#[utoipa::path(get, path = "/api/users/{user_id}/progress", tag = "progress",
    params(("user_id" = Uuid, Path)),
    responses((status = 200, body = UserProgress), (status = 401), (status = 404)),
    security(("bearer" = [])))]
pub async fn of_user(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<Uuid>,
) -> ApiResult<web::Json<UserProgress>> {
    let other = path.into_inner();
    // Only people who share a workspace see each other's progress.
    if other != user.id
        && !state
            .db
            .co_members(user.id, &[other])
            .await?
            .contains(&other)
    {
        return Err(ApiError::not_found("user"));
    }
    Ok(web::Json(state.progress.of(other).await?))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LeaderboardQuery {
    /// `week` (this calendar week from Monday 00:00 UTC, the default), `month` (this
    /// calendar month, UTC) or `all`.
    pub window: Option<String>,
    /// 1 to 100, default 20.
    pub limit: Option<u64>,
}

#[utoipa::path(get, path = "/api/workspaces/{workspace_id}/leaderboard", tag = "progress",
    params(("workspace_id" = Uuid, Path), LeaderboardQuery),
    responses((status = 200, body = PointsLeaderboard), (status = 401), (status = 404), (status = 422)),
    security(("bearer" = [])))]
pub async fn leaderboard(
    state: web::Data<AppState>,
    access: AsViewer,
    query: web::Query<LeaderboardQuery>,
) -> ApiResult<web::Json<PointsLeaderboard>> {
    let (window, period, since, limit) = query.parse()?;
    let rows = state
        .db
        .workspace_points(access.workspace.id, &period, limit)
        .await?;
    Ok(web::Json(board(window, since, rows)))
}

/// Points earned in the organization's workspaces by the people in them now. Visible to
/// the organization's members and to members of any of its workspaces (others: 404).
#[utoipa::path(get, path = "/api/orgs/{org_id}/leaderboard", tag = "progress",
    params(("org_id" = Uuid, Path), LeaderboardQuery),
    responses((status = 200, body = PointsLeaderboard), (status = 401), (status = 404), (status = 422)),
    security(("bearer" = [])))]
pub async fn org_leaderboard(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<Uuid>,
    query: web::Query<LeaderboardQuery>,
) -> ApiResult<web::Json<PointsLeaderboard>> {
    let org = path.into_inner();
    if !state.db.sees_org(user.id, org).await? {
        return Err(ApiError::not_found("organization"));
    }
    let (window, period, since, limit) = query.parse()?;
    let rows = state.db.org_points(org, &period, limit).await?;
    Ok(web::Json(board(window, since, rows)))
}

/// Everyone's points, listing only the people who chose to appear (`PATCH /api/me
/// {"leaderboard_public": true}`); ranks are among them.
#[utoipa::path(get, path = "/api/leaderboard", tag = "progress",
    params(LeaderboardQuery),
    responses((status = 200, body = PointsLeaderboard), (status = 401), (status = 422)),
    security(("bearer" = [])))]
pub async fn global_leaderboard(
    state: web::Data<AppState>,
    _user: AuthUser,
    query: web::Query<LeaderboardQuery>,
) -> ApiResult<web::Json<PointsLeaderboard>> {
    let (window, period, since, limit) = query.parse()?;
    let rows = state.db.global_points(&period, limit).await?;
    Ok(web::Json(board(window, since, rows)))
}

impl LeaderboardQuery {
    /// The window's name, its period key and start (`None`: all time), and the page size.
    /// Windows are calendar periods in UTC: the week from Monday, the month from the 1st.
    fn parse(&self) -> ApiResult<(String, String, Option<DateTime<Utc>>, u64)> {
        let window = match self.window.as_deref() {
            None => Window::Week,
            Some(w) => {
                Window::parse_or_explain(w).map_err(|m| ApiError::invalid_field("window", m))?
            }
        };
        let now = Utc::now();
        let (key, since) = match window {
            Window::Week => {
                let p = qollab_shared::progress::week_of(now);
                (p.key, Some(p.start))
            }
            Window::Month => {
                let p = qollab_shared::progress::month_of(now);
                (p.key, Some(p.start))
            }
            Window::All => (qollab_shared::progress::ALL_TIME.to_string(), None),
        };
        let limit = ApiError::page_limit(self.limit, 20, 100)?;
        Ok((window.as_str().to_string(), key, since, limit))
    }
}

fn board(
    window: String,
    since: Option<DateTime<Utc>>,
    rows: Vec<(Uuid, String, i64)>,
) -> PointsLeaderboard {
    PointsLeaderboard {
        window,
        since,
        entries: rows
            .into_iter()
            .zip(1u64..)
            .map(|((user_id, name, points), rank)| PointsEntry {
                rank,
                user_id,
                name,
                points,
            })
            .collect(),
    }
}
