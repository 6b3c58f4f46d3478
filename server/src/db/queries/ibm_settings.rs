//! A workspace's IBM Quantum credentials (see `jobs::ibm`).

use chrono::Utc;
use sea_orm::sea_query::OnConflict;
use sea_orm::{EntityTrait, Set};
use uuid::Uuid;

use crate::db::Db;
use crate::db::tables::workspace_ibm_settings;
use crate::error::ApiResult;
use crate::secrets::{OpenError, Secrets};

/// A stored row with its key opened (the row as read holds the sealed key).
pub fn open(
    secrets: &Secrets,
    mut row: workspace_ibm_settings::Model,
) -> Result<workspace_ibm_settings::Model, OpenError> {
    row.api_key = secrets.open(&row.api_key, row.workspace_id.as_bytes())?;
    Ok(row)
}

/// What a pass over the stored keys did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Resealed {
    pub resealed: usize,
    pub already_current: usize,
    /// Rows that could not be opened (their key is unknown); left as they are.
    pub failed: usize,
}

impl Db {
    pub async fn ibm_settings(
        &self,
        ws: Uuid,
    ) -> Result<Option<workspace_ibm_settings::Model>, sea_orm::DbErr> {
        workspace_ibm_settings::Entity::find_by_id(ws)
            .one(&self.conn)
            .await
    }

    /// Stores a workspace's credentials, the key sealed under the current secret key.
    /// Returns the row as stored (sealed).
    pub async fn put_ibm_settings(
        &self,
        secrets: &Secrets,
        ws: Uuid,
        api_key: &str,
        instance: &str,
        by: Uuid,
    ) -> ApiResult<workspace_ibm_settings::Model> {
        let row = workspace_ibm_settings::ActiveModel {
            workspace_id: Set(ws),
            api_key: Set(secrets.seal(api_key, ws.as_bytes())),
            instance: Set(instance.to_string()),
            updated_by: Set(by),
            updated_at: Set(Utc::now()),
        };
        workspace_ibm_settings::Entity::insert(row)
            .on_conflict(
                OnConflict::column(workspace_ibm_settings::Column::WorkspaceId)
                    .update_columns([
                        workspace_ibm_settings::Column::ApiKey,
                        workspace_ibm_settings::Column::Instance,
                        workspace_ibm_settings::Column::UpdatedBy,
                        workspace_ibm_settings::Column::UpdatedAt,
                    ])
                    .to_owned(),
            )
            .exec_without_returning(&self.conn)
            .await?;
        self.ibm_settings(ws)
            .await?
            .ok_or_else(crate::error::ApiError::internal)
    }

    pub async fn delete_ibm_settings(&self, ws: Uuid) -> ApiResult<bool> {
        Ok(workspace_ibm_settings::Entity::delete_by_id(ws)
            .exec(&self.conn)
            .await?
            .rows_affected
            == 1)
    }

    /// Seals every stored key that is not under the current key: plain-text rows from
    /// before encryption (`only_plain`, at start-up) or also rows under a previous key
    /// (`qollab admin rotate-secrets`). Each row is rewritten only if it is unchanged
    /// since it was read.
    pub async fn reseal_ibm_keys(
        &self,
        secrets: &Secrets,
        only_plain: bool,
    ) -> ApiResult<Resealed> {
        use sea_orm::{ColumnTrait, QueryFilter};
        let mut out = Resealed::default();
        let rows = workspace_ibm_settings::Entity::find()
            .all(&self.conn)
            .await?;
        for row in rows {
            let plain = !Secrets::is_sealed(&row.api_key);
            if !secrets.needs_reseal(&row.api_key) || (only_plain && !plain) {
                out.already_current += 1;
                continue;
            }
            let aad = row.workspace_id.as_bytes().to_vec();
            let key = match secrets.open(&row.api_key, &aad) {
                Ok(k) => k,
                Err(e) => {
                    tracing::error!(workspace_id = %row.workspace_id, error = %e, "cannot re-seal a stored IBM key");
                    out.failed += 1;
                    continue;
                }
            };
            let sealed = secrets.seal(&key, &aad);
            let res = workspace_ibm_settings::Entity::update_many()
                .col_expr(
                    workspace_ibm_settings::Column::ApiKey,
                    sea_orm::sea_query::Expr::value(sealed),
                )
                .filter(workspace_ibm_settings::Column::WorkspaceId.eq(row.workspace_id))
                .filter(workspace_ibm_settings::Column::ApiKey.eq(row.api_key.clone()))
                .exec(&self.conn)
                .await?;
            out.resealed += res.rows_affected as usize;
        }
        Ok(out)
    }
}
