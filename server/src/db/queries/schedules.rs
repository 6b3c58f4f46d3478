//! Schedules. An occurrence is claimed by compare-and-set on `next_run_at`: of several
//! processes that find the same schedule due, exactly one moves `next_run_at` on, and
//! the job it submits commits in that same transaction.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    TransactionTrait,
};
use uuid::Uuid;

use qollab_shared::events::{Event, kinds};

use crate::db::Db;
use crate::db::queries::events::{NewEvent, store_in};
use crate::db::queries::jobs::insert_job_in;
use crate::db::tables::{jobs, schedules};
use crate::error::{ApiError, ApiResult};
use crate::jobs::schedules::schedule_view;

/// What a firing records besides moving `next_run_at` on.
pub enum Firing {
    /// A job was submitted.
    Job(Box<jobs::ActiveModel>),
    /// Submission failed: the reason, and whether the schedule is disabled for good.
    Failed { error: String, disable: bool },
}

impl Db {
    pub async fn insert_schedule(&self, s: schedules::ActiveModel) -> ApiResult<schedules::Model> {
        Ok(s.insert(&self.conn).await?)
    }

    pub async fn schedule(&self, id: Uuid) -> ApiResult<Option<schedules::Model>> {
        Ok(schedules::Entity::find_by_id(id).one(&self.conn).await?)
    }

    pub async fn schedules_in(&self, ws: Uuid) -> ApiResult<Vec<schedules::Model>> {
        Ok(schedules::Entity::find()
            .filter(schedules::Column::WorkspaceId.eq(ws))
            .order_by_asc(schedules::Column::Id)
            .limit(1000)
            .all(&self.conn)
            .await?)
    }

    pub async fn delete_schedule(&self, id: Uuid) -> ApiResult<bool> {
        Ok(schedules::Entity::delete_by_id(id)
            .exec(&self.conn)
            .await?
            .rows_affected
            == 1)
    }

    /// Pauses (`next_run_at` cleared) or resumes (from the next future occurrence).
    pub async fn update_schedule(
        &self,
        s: schedules::Model,
        enabled: Option<bool>,
        name: Option<String>,
        next_run_at: Option<DateTime<Utc>>,
    ) -> ApiResult<schedules::Model> {
        let mut am: schedules::ActiveModel = s.into();
        if let Some(e) = enabled {
            am.enabled = sea_orm::Set(e);
            am.next_run_at = sea_orm::Set(if e { next_run_at } else { None });
            if e {
                am.disabled_reason = sea_orm::Set(None);
            }
        }
        if let Some(n) = name {
            am.name = sea_orm::Set(Some(n));
        }
        am.updated_at = sea_orm::Set(Utc::now());
        Ok(am.update(&self.conn).await?)
    }

    /// Enabled schedules whose next occurrence is due.
    pub async fn due_schedules(
        &self,
        now: DateTime<Utc>,
        limit: u64,
    ) -> Result<Vec<schedules::Model>, sea_orm::DbErr> {
        schedules::Entity::find()
            .filter(schedules::Column::Enabled.eq(true))
            .filter(schedules::Column::NextRunAt.lte(now))
            .order_by_asc(schedules::Column::NextRunAt)
            .limit(limit)
            .all(&self.conn)
            .await
    }

    /// Claims the occurrence `s.next_run_at` and records `firing`, moving `next_run_at`
    /// to `next`. `Ok(None)` when another process claimed it first (nothing written).
    pub async fn fire_schedule(
        &self,
        s: &schedules::Model,
        next: Option<DateTime<Utc>>,
        firing: Firing,
        queue_per_slot: u64,
    ) -> ApiResult<Option<(schedules::Model, Option<jobs::Model>, Vec<Event>)>> {
        let Some(due) = s.next_run_at else {
            return Ok(None);
        };
        let now = Utc::now();
        let txn = self.conn.begin().await?;
        let mut q = schedules::Entity::update_many()
            .col_expr(schedules::Column::LastRunAt, Expr::value(now))
            .col_expr(schedules::Column::UpdatedAt, Expr::value(now))
            .filter(schedules::Column::Id.eq(s.id))
            .filter(schedules::Column::Enabled.eq(true))
            .filter(schedules::Column::NextRunAt.eq(due));
        let mut next = next;
        let (job, error) = match firing {
            Firing::Job(j) => (Some(j), None),
            Firing::Failed { error, disable } => {
                if disable {
                    next = None;
                    q = q
                        .col_expr(schedules::Column::Enabled, Expr::value(false))
                        .col_expr(
                            schedules::Column::DisabledReason,
                            Expr::value(error.clone()),
                        );
                }
                (None, Some(error))
            }
        };
        let claimed = q
            .col_expr(schedules::Column::NextRunAt, Expr::value(next))
            .col_expr(schedules::Column::LastError, Expr::value(error.clone()))
            .exec(&txn)
            .await?;
        if claimed.rows_affected != 1 {
            return Ok(None);
        }
        let mut transition = None;
        let mut events = Vec::new();
        if let Some(j) = job {
            // On error nothing is kept (the transaction is dropped); the caller records it.
            let (job, evs) = insert_job_in(&txn, *j, queue_per_slot).await?;
            schedules::Entity::update_many()
                .col_expr(schedules::Column::LastJobId, Expr::value(job.id))
                .filter(schedules::Column::Id.eq(s.id))
                .exec(&txn)
                .await?;
            events = evs;
            transition = Some(job);
        }
        let Some(after) = schedules::Entity::find_by_id(s.id).one(&txn).await? else {
            return Err(ApiError::internal());
        };
        let mut data = serde_json::json!({ "schedule": schedule_view(&after), "occurrence": due });
        match (&transition, &error) {
            (Some(j), _) => data["job_id"] = serde_json::json!(j.id),
            (None, Some(e)) => data["error"] = serde_json::json!(e),
            _ => {}
        }
        let fired = store_in(
            &txn,
            vec![NewEvent::new(
                s.workspace_id,
                kinds::SCHEDULE_FIRED,
                Some(s.created_by),
                data,
            )],
        )
        .await?;
        events.extend(fired);
        txn.commit().await?;
        Ok(Some((after, transition, events)))
    }
}
