use chrono::Utc;
use qollab_shared::api::Plan;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, Set, TransactionTrait,
};
use uuid::Uuid;

use crate::db::Db;
use crate::db::queries::users::new_org;
use crate::db::tables::{org_memberships, organizations};
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

    pub async fn create_org(
        &self,
        user_id: Uuid,
        name: &str,
        plan: Plan,
    ) -> ApiResult<organizations::Model> {
        let txn = self.conn.begin().await?;
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
        Ok(org)
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
