//! Sessions, refresh-token rotation and personal API tokens.

use chrono::{DateTime, Duration, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, Set, TransactionTrait,
};
use uuid::Uuid;

use crate::db::Db;
use crate::db::tables::{api_tokens, refresh_tokens, sessions};
use crate::error::ApiResult;
use crate::live::Revocation;

pub enum Rotation {
    Rotated {
        user_id: Uuid,
        session_id: Uuid,
    },
    /// Unknown, expired, or belongs to an ended session.
    Invalid,
    /// A token that was already rotated was presented again: the session is revoked.
    Reused,
}

impl Db {
    pub async fn create_session(
        &self,
        user_id: Uuid,
        refresh_hash: &str,
        refresh_ttl: Duration,
    ) -> ApiResult<Uuid> {
        let now = Utc::now();
        let txn = self.conn.begin().await?;
        let session = sessions::ActiveModel {
            id: Set(Uuid::now_v7()),
            user_id: Set(user_id),
            created_at: Set(now),
            revoked_at: Set(None),
        }
        .insert(&txn)
        .await?;
        refresh_tokens::ActiveModel {
            id: Set(Uuid::now_v7()),
            session_id: Set(session.id),
            user_id: Set(user_id),
            token_hash: Set(refresh_hash.to_string()),
            expires_at: Set(now + refresh_ttl),
            used_at: Set(None),
            created_at: Set(now),
        }
        .insert(&txn)
        .await?;
        txn.commit().await?;
        Ok(session.id)
    }

    /// Exchanges a refresh token for a new one in the same session. The old token is
    /// marked used with a conditional update, so two concurrent refreshes with the same
    /// token cannot both succeed.
    pub async fn rotate_refresh(
        &self,
        old_hash: &str,
        new_hash: &str,
        refresh_ttl: Duration,
    ) -> ApiResult<Rotation> {
        let now = Utc::now();
        let txn = self.conn.begin().await?;
        // The claim comes first: on SQLite a transaction that reads before it writes
        // cannot upgrade to the write lock once another connection has committed
        // meanwhile (SQLITE_BUSY at once, a 500), while one that starts by writing waits
        // on the busy timeout. A claim of a token that turns out invalid rolls back.
        let claimed = refresh_tokens::Entity::update_many()
            .col_expr(refresh_tokens::Column::UsedAt, Expr::value(now))
            .filter(refresh_tokens::Column::TokenHash.eq(old_hash))
            .filter(refresh_tokens::Column::UsedAt.is_null())
            .exec(&txn)
            .await?;
        let Some(token) = refresh_tokens::Entity::find()
            .filter(refresh_tokens::Column::TokenHash.eq(old_hash))
            .one(&txn)
            .await?
        else {
            txn.rollback().await?;
            return Ok(Rotation::Invalid);
        };
        let session = sessions::Entity::find_by_id(token.session_id)
            .one(&txn)
            .await?;
        let live = session.as_ref().is_some_and(|s| s.revoked_at.is_none());
        if !live || token.expires_at < now {
            txn.rollback().await?;
            return Ok(Rotation::Invalid);
        }
        if claimed.rows_affected != 1 {
            txn.rollback().await?;
            self.revoke_session(token.session_id).await?;
            return Ok(Rotation::Reused);
        }
        refresh_tokens::ActiveModel {
            id: Set(Uuid::now_v7()),
            session_id: Set(token.session_id),
            user_id: Set(token.user_id),
            token_hash: Set(new_hash.to_string()),
            expires_at: Set(now + refresh_ttl),
            used_at: Set(None),
            created_at: Set(now),
        }
        .insert(&txn)
        .await?;
        txn.commit().await?;
        Ok(Rotation::Rotated {
            user_id: token.user_id,
            session_id: token.session_id,
        })
    }

    pub async fn revoke_session(&self, session_id: Uuid) -> ApiResult<()> {
        sessions::Entity::update_many()
            .col_expr(sessions::Column::RevokedAt, Expr::value(Utc::now()))
            .filter(sessions::Column::Id.eq(session_id))
            .filter(sessions::Column::RevokedAt.is_null())
            .exec(&self.conn)
            .await?;
        self.revoked(Revocation::Session { session_id });
        Ok(())
    }

    /// The session a refresh token belongs to, if it is the user's.
    pub async fn session_of_refresh(&self, user_id: Uuid, hash: &str) -> ApiResult<Option<Uuid>> {
        Ok(refresh_tokens::Entity::find()
            .filter(refresh_tokens::Column::TokenHash.eq(hash))
            .filter(refresh_tokens::Column::UserId.eq(user_id))
            .one(&self.conn)
            .await?
            .map(|t| t.session_id))
    }

    pub async fn revoke_all_sessions(&self, user_id: Uuid) -> ApiResult<()> {
        sessions::Entity::update_many()
            .col_expr(sessions::Column::RevokedAt, Expr::value(Utc::now()))
            .filter(sessions::Column::UserId.eq(user_id))
            .filter(sessions::Column::RevokedAt.is_null())
            .exec(&self.conn)
            .await?;
        self.revoked(Revocation::UserSessions { user_id });
        Ok(())
    }

    pub async fn session_is_live(&self, session_id: Uuid, user_id: Uuid) -> ApiResult<bool> {
        Ok(sessions::Entity::find_by_id(session_id)
            .one(&self.conn)
            .await?
            .is_some_and(|s| s.user_id == user_id && s.revoked_at.is_none()))
    }

    pub async fn create_api_token(
        &self,
        user_id: Uuid,
        name: &str,
        prefix: &str,
        hash: &str,
    ) -> ApiResult<api_tokens::Model> {
        Ok(api_tokens::ActiveModel {
            id: Set(Uuid::now_v7()),
            user_id: Set(user_id),
            name: Set(name.to_string()),
            prefix: Set(prefix.to_string()),
            token_hash: Set(hash.to_string()),
            created_at: Set(Utc::now()),
            last_used_at: Set(None),
        }
        .insert(&self.conn)
        .await?)
    }

    pub async fn api_tokens(&self, user_id: Uuid) -> ApiResult<Vec<api_tokens::Model>> {
        Ok(api_tokens::Entity::find()
            .filter(api_tokens::Column::UserId.eq(user_id))
            .order_by_asc(api_tokens::Column::CreatedAt)
            .all(&self.conn)
            .await?)
    }

    /// Deletes one of the user's tokens; false when there is no such token of theirs.
    pub async fn delete_api_token(&self, user_id: Uuid, id: Uuid) -> ApiResult<bool> {
        let res = api_tokens::Entity::delete_many()
            .filter(api_tokens::Column::Id.eq(id))
            .filter(api_tokens::Column::UserId.eq(user_id))
            .exec(&self.conn)
            .await?;
        if res.rows_affected == 1 {
            self.revoked(Revocation::ApiToken { token_id: id });
        }
        Ok(res.rows_affected == 1)
    }

    /// Whether the user's API token `id` still exists (deleting it revokes it).
    pub async fn api_token_is_live(&self, id: Uuid, user_id: Uuid) -> ApiResult<bool> {
        Ok(api_tokens::Entity::find_by_id(id)
            .one(&self.conn)
            .await?
            .is_some_and(|t| t.user_id == user_id))
    }

    /// Looks a token up by hash and records its use (at most once a minute, to keep
    /// authentication read-mostly).
    pub async fn use_api_token(&self, hash: &str) -> ApiResult<Option<api_tokens::Model>> {
        let Some(token) = api_tokens::Entity::find()
            .filter(api_tokens::Column::TokenHash.eq(hash))
            .one(&self.conn)
            .await?
        else {
            return Ok(None);
        };
        let now = Utc::now();
        let stale = |t: Option<DateTime<Utc>>| t.is_none_or(|t| now - t > Duration::seconds(60));
        if stale(token.last_used_at) {
            api_tokens::Entity::update_many()
                .col_expr(api_tokens::Column::LastUsedAt, Expr::value(now))
                .filter(api_tokens::Column::Id.eq(token.id))
                .exec(&self.conn)
                .await?;
        }
        Ok(Some(token))
    }
}
