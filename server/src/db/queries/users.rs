use chrono::Utc;
use qollab_shared::api::Plan;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QuerySelect, Set, TransactionTrait,
};
use uuid::Uuid;

use crate::db::tables::{org_memberships, organizations, users};
use crate::db::{Db, is_unique_violation};
use crate::error::{ApiError, ApiResult};
use qollab_shared::error::ErrorCode;

pub fn new_org(
    name: &str,
    plan: Plan,
    personal: bool,
    creator: Uuid,
) -> organizations::ActiveModel {
    let q = plan.default_quotas();
    organizations::ActiveModel {
        id: Set(Uuid::now_v7()),
        name: Set(name.to_string()),
        plan: Set(plan.as_str().to_string()),
        personal: Set(personal),
        max_qubits: Set(q.max_qubits),
        max_concurrent_jobs: Set(q.max_concurrent_jobs),
        max_shots: Set(q.max_shots),
        ai_requests_per_day: Set(q.ai_requests_per_day),
        created_by: Set(creator),
        created_at: Set(Utc::now()),
    }
}

impl Db {
    /// Creates a user together with their personal organization (free plan), atomically.
    pub async fn create_user(
        &self,
        email: &str,
        name: &str,
        password_hash: &str,
    ) -> ApiResult<(users::Model, organizations::Model)> {
        let txn = self.conn.begin().await?;
        let user = users::ActiveModel {
            id: Set(Uuid::now_v7()),
            email: Set(email.to_string()),
            name: Set(name.to_string()),
            password_hash: Set(password_hash.to_string()),
            created_at: Set(Utc::now()),
            leaderboard_public: Set(false),
            time_zone: Set(None),
        };
        let user = match user.insert(&txn).await {
            Ok(u) => u,
            Err(e) if is_unique_violation(&e) => {
                return Err(ApiError::new(
                    ErrorCode::EmailTaken,
                    "an account with this email already exists; log in instead",
                )
                .with_details(serde_json::json!({"email": "already registered"})));
            }
            Err(e) => return Err(e.into()),
        };
        let org = new_org(
            &format!("{}'s organization", user.name),
            Plan::Free,
            true,
            user.id,
        )
        .insert(&txn)
        .await?;
        org_memberships::ActiveModel {
            org_id: Set(org.id),
            user_id: Set(user.id),
            role: Set("owner".into()),
            created_at: Set(Utc::now()),
        }
        .insert(&txn)
        .await?;
        txn.commit().await?;
        Ok((user, org))
    }

    pub async fn user_by_email(&self, email: &str) -> ApiResult<Option<users::Model>> {
        Ok(users::Entity::find()
            .filter(users::Column::Email.eq(email))
            .one(&self.conn)
            .await?)
    }

    pub async fn user(&self, id: Uuid) -> ApiResult<Option<users::Model>> {
        Ok(users::Entity::find_by_id(id).one(&self.conn).await?)
    }

    /// Changes what a person may change about themselves (`None`: unchanged).
    pub async fn update_user(
        &self,
        id: Uuid,
        name: Option<String>,
        leaderboard_public: Option<bool>,
        time_zone: Option<Option<String>>,
    ) -> ApiResult<()> {
        if name.is_none() && leaderboard_public.is_none() && time_zone.is_none() {
            return Ok(());
        }
        let mut q = users::Entity::update_many().filter(users::Column::Id.eq(id));
        if let Some(n) = name {
            q = q.col_expr(users::Column::Name, Expr::value(n));
        }
        if let Some(p) = leaderboard_public {
            q = q.col_expr(users::Column::LeaderboardPublic, Expr::value(p));
        }
        if let Some(tz) = time_zone {
            q = q.col_expr(users::Column::TimeZone, Expr::value(tz));
        }
        q.exec(&self.conn).await?;
        Ok(())
    }

    /// The time zones of the given users who set one (one query).
    pub async fn time_zones_of(
        &self,
        ids: impl IntoIterator<Item = Uuid>,
    ) -> Result<std::collections::HashMap<Uuid, qollab_shared::progress::Tz>, sea_orm::DbErr> {
        let ids: std::collections::BTreeSet<Uuid> = ids.into_iter().collect();
        if ids.is_empty() {
            return Ok(Default::default());
        }
        let rows: Vec<(Uuid, Option<String>)> = users::Entity::find()
            .select_only()
            .column(users::Column::Id)
            .column(users::Column::TimeZone)
            .filter(users::Column::Id.is_in(ids))
            .filter(users::Column::TimeZone.is_not_null())
            .into_tuple()
            .all(&self.conn)
            .await?;
        Ok(rows
            .into_iter()
            .filter_map(|(id, tz)| Some((id, tz?.parse().ok()?)))
            .collect())
    }

    /// Display names of the given users (one query); unknown ids are left out.
    pub async fn names_of(
        &self,
        ids: impl IntoIterator<Item = Uuid>,
    ) -> Result<std::collections::HashMap<Uuid, String>, sea_orm::DbErr> {
        let ids: std::collections::BTreeSet<Uuid> = ids.into_iter().collect();
        if ids.is_empty() {
            return Ok(Default::default());
        }
        Ok(users::Entity::find()
            .filter(users::Column::Id.is_in(ids))
            .all(&self.conn)
            .await?
            .into_iter()
            .map(|u| (u.id, u.name))
            .collect())
    }
}
