//! A workspace's IBM Quantum credentials (see `jobs::ibm`).

use chrono::Utc;
use sea_orm::sea_query::OnConflict;
use sea_orm::{EntityTrait, Set};
use uuid::Uuid;

use crate::db::Db;
use crate::db::tables::workspace_ibm_settings;
use crate::error::ApiResult;

impl Db {
    pub async fn ibm_settings(
        &self,
        ws: Uuid,
    ) -> Result<Option<workspace_ibm_settings::Model>, sea_orm::DbErr> {
        workspace_ibm_settings::Entity::find_by_id(ws)
            .one(&self.conn)
            .await
    }

    pub async fn put_ibm_settings(
        &self,
        ws: Uuid,
        api_key: &str,
        instance: &str,
        by: Uuid,
    ) -> ApiResult<workspace_ibm_settings::Model> {
        let row = workspace_ibm_settings::ActiveModel {
            workspace_id: Set(ws),
            api_key: Set(api_key.to_string()),
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
}
