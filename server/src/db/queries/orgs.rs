use chrono::Utc;
use qollab_shared::api::Plan;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, Set,
    TransactionTrait,
};
use uuid::Uuid;

use crate::db::Db;
use crate::db::queries::users::new_org;
use crate::db::tables::{org_memberships, organizations, users, workspace_members, workspaces};
use crate::error::ApiResult;

impl Db {
    /// The organizations a user belongs to, with their role in each.
    pub async fn orgs_of(&self, user_id: Uuid) -> ApiResult<Vec<(organizations::Model, String)>> {
        let memberships = org_memberships::Entity::find()
            .filter(org_memberships::Column::UserId.eq(user_id))
            .all(&self.conn)
            .await?;
        let ids: Vec<Uuid> = memberships.iter().map(|m| m.org_id).collect();
        let orgs = organizations::Entity::find()
            .filter(organizations::Column::Id.is_in(ids))
            .order_by_asc(organizations::Column::CreatedAt)
            .all(&self.conn)
            .await?;
        Ok(orgs
            .into_iter()
            .filter_map(|o| {
                let role = memberships.iter().find(|m| m.org_id == o.id)?.role.clone();
                Some((o, role))
            })
            .collect())
    }

    /// Whether `user` belongs to the organization or to one of its workspaces (who may
    /// see its leaderboard).
    pub async fn sees_org(&self, user: Uuid, org: Uuid) -> ApiResult<bool> {
        if org_memberships::Entity::find_by_id((org, user))
            .one(&self.conn)
            .await?
            .is_some()
        {
            return Ok(true);
        }
        let org_workspaces = sea_orm::sea_query::Query::select()
            .column(workspaces::Column::Id)
            .from(workspaces::Entity)
            .and_where(Expr::col(workspaces::Column::OrgId).eq(org))
            .to_owned();
        let in_workspace = workspace_members::Entity::find()
            .filter(workspace_members::Column::UserId.eq(user))
            .filter(workspace_members::Column::WorkspaceId.in_subquery(org_workspaces))
            .one(&self.conn)
            .await?;
        Ok(in_workspace.is_some())
    }

    /// An organization as seen by one of its members; `None` for everyone else.
    pub async fn org_for(
        &self,
        org_id: Uuid,
        user_id: Uuid,
    ) -> ApiResult<Option<(organizations::Model, String)>> {
        let Some(m) = org_memberships::Entity::find_by_id((org_id, user_id))
            .one(&self.conn)
            .await?
        else {
            return Ok(None);
        };
        Ok(organizations::Entity::find_by_id(org_id)
            .one(&self.conn)
            .await?
            .map(|o| (o, m.role)))
    }

    /// Creates an organization owned by `user_id`, unless they already created `max`
    /// (personal organization not counted): then `None`. The creator's user row is
    /// written first, which serializes one user's creations on both backends, so two
    /// concurrent requests cannot both pass the count.
    pub async fn create_org(
        &self,
        user_id: Uuid,
        name: &str,
        plan: Plan,
        max: u32,
    ) -> ApiResult<Option<organizations::Model>> {
        let txn = self.conn.begin().await?;
        users::Entity::update_many()
            .col_expr(users::Column::Id, Expr::col(users::Column::Id))
            .filter(users::Column::Id.eq(user_id))
            .exec(&txn)
            .await?;
        let created = organizations::Entity::find()
            .filter(organizations::Column::CreatedBy.eq(user_id))
            .filter(organizations::Column::Personal.eq(false))
            .count(&txn)
            .await?;
        if created >= u64::from(max) {
            txn.rollback().await?;
            return Ok(None);
        }
        let org = new_org(name, plan, false, user_id).insert(&txn).await?;
        org_memberships::ActiveModel {
            org_id: Set(org.id),
            user_id: Set(user_id),
            role: Set("owner".into()),
            created_at: Set(Utc::now()),
        }
        .insert(&txn)
        .await?;
        txn.commit().await?;
        Ok(Some(org))
    }

    /// Every organization with its member count, oldest first (`qollab admin orgs list`).
    pub async fn all_orgs(&self) -> ApiResult<Vec<(organizations::Model, u64)>> {
        let orgs = organizations::Entity::find()
            .order_by_asc(organizations::Column::CreatedAt)
            .all(&self.conn)
            .await?;
        let mut out = Vec::with_capacity(orgs.len());
        for o in orgs {
            let members = org_memberships::Entity::find()
                .filter(org_memberships::Column::OrgId.eq(o.id))
                .count(&self.conn)
                .await?;
            out.push((o, members));
        }
        Ok(out)
    }

    /// Sets an organization's plan and resets its quotas to the plan's defaults.
    pub async fn set_org_plan(
        &self,
        org_id: Uuid,
        plan: Plan,
    ) -> ApiResult<Option<organizations::Model>> {
        let q = plan.default_quotas();
        let res = organizations::Entity::update_many()
            .col_expr(organizations::Column::Plan, Expr::value(plan.as_str()))
            .col_expr(organizations::Column::MaxQubits, Expr::value(q.max_qubits))
            .col_expr(
                organizations::Column::MaxConcurrentJobs,
                Expr::value(q.max_concurrent_jobs),
            )
            .col_expr(organizations::Column::MaxShots, Expr::value(q.max_shots))
            .col_expr(
                organizations::Column::AiRequestsPerDay,
                Expr::value(q.ai_requests_per_day),
            )
            .filter(organizations::Column::Id.eq(org_id))
            .exec(&self.conn)
            .await?;
        if res.rows_affected == 0 {
            return Ok(None);
        }
        self.org(org_id).await
    }

    /// The user's personal organization (created at registration).
    pub async fn personal_org(&self, user_id: Uuid) -> ApiResult<Option<organizations::Model>> {
        Ok(organizations::Entity::find()
            .filter(organizations::Column::CreatedBy.eq(user_id))
            .filter(organizations::Column::Personal.eq(true))
            .one(&self.conn)
            .await?)
    }
}

impl Db {
    pub async fn org(&self, org_id: Uuid) -> ApiResult<Option<organizations::Model>> {
        Ok(organizations::Entity::find_by_id(org_id)
            .one(&self.conn)
            .await?)
    }
}
