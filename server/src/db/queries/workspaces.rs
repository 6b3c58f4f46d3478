//! Workspaces and their members. Member changes start by writing the workspace row,
//! which serializes concurrent changes to one workspace on both backends (a row lock
//! on PostgreSQL, the write lock on SQLite), so the last-owner rule cannot race.

use chrono::Utc;
use qollab_shared::api::{Member, Role};
use qollab_shared::error::ErrorCode;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Set, TransactionTrait,
};
use uuid::Uuid;

use crate::db::queries::audit::{self, AuditEntry};
use crate::db::tables::{users, workspace_members, workspaces};
use crate::db::{Db, is_unique_violation};
use crate::error::{ApiError, ApiResult};

fn parse_role(s: &str) -> Role {
    // Roles are written only through `Role::as_str`; an unknown value can only come
    // from a manual edit, and the least privilege is the safe reading of it.
    Role::parse(s).unwrap_or(Role::Viewer)
}

async fn lock_workspace(txn: &DatabaseTransaction, ws_id: Uuid) -> ApiResult<()> {
    let res = workspaces::Entity::update_many()
        .col_expr(workspaces::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(workspaces::Column::Id.eq(ws_id))
        .exec(txn)
        .await?;
    if res.rows_affected == 0 {
        return Err(ApiError::not_found("workspace"));
    }
    Ok(())
}

async fn owner_count(conn: &impl ConnectionTrait, ws_id: Uuid) -> ApiResult<u64> {
    Ok(workspace_members::Entity::find()
        .filter(workspace_members::Column::WorkspaceId.eq(ws_id))
        .filter(workspace_members::Column::Role.eq(Role::Owner.as_str()))
        .count(conn)
        .await?)
}

fn last_owner() -> ApiError {
    ApiError::new(
        ErrorCode::LastOwner,
        "a workspace must keep at least one owner; make someone else owner first",
    )
}

impl Db {
    pub async fn create_workspace(
        &self,
        org_id: Uuid,
        creator: Uuid,
        name: &str,
        description: &str,
    ) -> ApiResult<workspaces::Model> {
        let now = Utc::now();
        let txn = self.conn.begin().await?;
        let ws = workspaces::ActiveModel {
            id: Set(Uuid::now_v7()),
            org_id: Set(org_id),
            name: Set(name.to_string()),
            description: Set(description.to_string()),
            created_by: Set(creator),
            created_at: Set(now),
            updated_at: Set(now),
        }
        .insert(&txn)
        .await?;
        workspace_members::ActiveModel {
            workspace_id: Set(ws.id),
            user_id: Set(creator),
            role: Set(Role::Owner.as_str().into()),
            created_at: Set(now),
        }
        .insert(&txn)
        .await?;
        txn.commit().await?;
        Ok(ws)
    }

    pub async fn workspaces_of(&self, user_id: Uuid) -> ApiResult<Vec<(workspaces::Model, Role)>> {
        let memberships = workspace_members::Entity::find()
            .filter(workspace_members::Column::UserId.eq(user_id))
            .all(&self.conn)
            .await?;
        let ids: Vec<Uuid> = memberships.iter().map(|m| m.workspace_id).collect();
        let list = workspaces::Entity::find()
            .filter(workspaces::Column::Id.is_in(ids))
            .order_by_asc(workspaces::Column::CreatedAt)
            .all(&self.conn)
            .await?;
        Ok(list
            .into_iter()
            .filter_map(|w| {
                let m = memberships.iter().find(|m| m.workspace_id == w.id)?;
                Some((w, parse_role(&m.role)))
            })
            .collect())
    }

    /// The workspace and the user's role in it; `None` when either does not exist or
    /// the user is not a member (callers answer 404 for both: no existence leak).
    pub async fn membership(
        &self,
        ws_id: Uuid,
        user_id: Uuid,
    ) -> ApiResult<Option<(workspaces::Model, Role)>> {
        let Some(m) = workspace_members::Entity::find_by_id((ws_id, user_id))
            .one(&self.conn)
            .await?
        else {
            return Ok(None);
        };
        Ok(workspaces::Entity::find_by_id(ws_id)
            .one(&self.conn)
            .await?
            .map(|w| (w, parse_role(&m.role))))
    }

    pub async fn update_workspace(
        &self,
        ws_id: Uuid,
        name: Option<&str>,
        description: Option<&str>,
    ) -> ApiResult<workspaces::Model> {
        let Some(ws) = workspaces::Entity::find_by_id(ws_id)
            .one(&self.conn)
            .await?
        else {
            return Err(ApiError::not_found("workspace"));
        };
        let mut am: workspaces::ActiveModel = ws.into();
        if let Some(n) = name {
            am.name = Set(n.to_string());
        }
        if let Some(d) = description {
            am.description = Set(d.to_string());
        }
        am.updated_at = Set(Utc::now());
        Ok(am.update(&self.conn).await?)
    }

    pub async fn delete_workspace(
        &self,
        ws_id: Uuid,
        actor: Uuid,
        ip: Option<String>,
    ) -> ApiResult<()> {
        let txn = self.conn.begin().await?;
        workspace_members::Entity::delete_many()
            .filter(workspace_members::Column::WorkspaceId.eq(ws_id))
            .exec(&txn)
            .await?;
        workspaces::Entity::delete_by_id(ws_id).exec(&txn).await?;
        audit::record(
            &txn,
            AuditEntry {
                actor: Some(actor),
                action: "workspace.deleted",
                target_type: "workspace",
                target_id: ws_id.to_string(),
                ip,
                details: serde_json::Value::Null,
            },
        )
        .await?;
        txn.commit().await?;
        self.revoked(crate::live::Revocation::Workspace {
            workspace_id: ws_id,
        });
        Ok(())
    }

    /// Members in the order they joined, after `after` in that order.
    pub async fn members(
        &self,
        ws_id: Uuid,
        after: Option<crate::pages::TimeKey>,
        limit: u64,
    ) -> ApiResult<Vec<Member>> {
        let mut q = workspace_members::Entity::find()
            .filter(workspace_members::Column::WorkspaceId.eq(ws_id));
        if let Some(k) = after {
            q = q.filter(crate::pages::newer_than(
                workspace_members::Column::CreatedAt,
                workspace_members::Column::UserId,
                k,
            ));
        }
        let rows = q
            .order_by_asc(workspace_members::Column::CreatedAt)
            .order_by_asc(workspace_members::Column::UserId)
            .limit(limit)
            .all(&self.conn)
            .await?;
        let ids: Vec<Uuid> = rows.iter().map(|m| m.user_id).collect();
        let people = users::Entity::find()
            .filter(users::Column::Id.is_in(ids))
            .all(&self.conn)
            .await?;
        Ok(rows
            .into_iter()
            .filter_map(|m| {
                let u = people.iter().find(|u| u.id == m.user_id)?;
                Some(Member {
                    user_id: u.id,
                    email: u.email.clone(),
                    name: u.name.clone(),
                    role: parse_role(&m.role),
                    added_at: m.created_at,
                })
            })
            .collect())
    }

    pub async fn add_member(
        &self,
        ws_id: Uuid,
        user: &users::Model,
        role: Role,
        actor: Uuid,
        ip: Option<String>,
    ) -> ApiResult<Member> {
        let now = Utc::now();
        let txn = self.conn.begin().await?;
        let inserted = workspace_members::ActiveModel {
            workspace_id: Set(ws_id),
            user_id: Set(user.id),
            role: Set(role.as_str().into()),
            created_at: Set(now),
        }
        .insert(&txn)
        .await;
        match inserted {
            Ok(_) => {}
            Err(e) if is_unique_violation(&e) => {
                return Err(ApiError::new(
                    ErrorCode::AlreadyMember,
                    "this person is already a member; change their role instead",
                ));
            }
            Err(e) => return Err(e.into()),
        }
        audit::record(
            &txn,
            AuditEntry {
                actor: Some(actor),
                action: "member.added",
                target_type: "workspace",
                target_id: ws_id.to_string(),
                ip,
                details: serde_json::json!({"user_id": user.id, "role": role}),
            },
        )
        .await?;
        txn.commit().await?;
        Ok(Member {
            user_id: user.id,
            email: user.email.clone(),
            name: user.name.clone(),
            role,
            added_at: now,
        })
    }

    pub async fn set_member_role(
        &self,
        ws_id: Uuid,
        user_id: Uuid,
        role: Role,
        actor: Uuid,
        ip: Option<String>,
    ) -> ApiResult<()> {
        let txn = self.conn.begin().await?;
        lock_workspace(&txn, ws_id).await?;
        let Some(current) = workspace_members::Entity::find_by_id((ws_id, user_id))
            .one(&txn)
            .await?
        else {
            return Err(ApiError::not_found("member"));
        };
        let was = parse_role(&current.role);
        if was == Role::Owner && role != Role::Owner && owner_count(&txn, ws_id).await? <= 1 {
            return Err(last_owner());
        }
        let mut am: workspace_members::ActiveModel = current.into();
        am.role = Set(role.as_str().into());
        am.update(&txn).await?;
        audit::record(
            &txn,
            AuditEntry {
                actor: Some(actor),
                action: "member.role_changed",
                target_type: "workspace",
                target_id: ws_id.to_string(),
                ip,
                details: serde_json::json!({"user_id": user_id, "from": was, "to": role}),
            },
        )
        .await?;
        txn.commit().await?;
        Ok(())
    }

    pub async fn remove_member(
        &self,
        ws_id: Uuid,
        user_id: Uuid,
        actor: Uuid,
        ip: Option<String>,
    ) -> ApiResult<()> {
        let txn = self.conn.begin().await?;
        lock_workspace(&txn, ws_id).await?;
        let Some(current) = workspace_members::Entity::find_by_id((ws_id, user_id))
            .one(&txn)
            .await?
        else {
            return Err(ApiError::not_found("member"));
        };
        if parse_role(&current.role) == Role::Owner && owner_count(&txn, ws_id).await? <= 1 {
            return Err(last_owner());
        }
        workspace_members::Entity::delete_by_id((ws_id, user_id))
            .exec(&txn)
            .await?;
        audit::record(
            &txn,
            AuditEntry {
                actor: Some(actor),
                action: "member.removed",
                target_type: "workspace",
                target_id: ws_id.to_string(),
                ip,
                details: serde_json::json!({"user_id": user_id}),
            },
        )
        .await?;
        txn.commit().await?;
        Ok(())
    }
}
