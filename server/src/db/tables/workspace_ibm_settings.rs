use sea_orm::entity::prelude::*;

/// A workspace's own IBM Quantum credentials. The key is never returned by the API nor
/// logged (`Debug` masks it).
#[derive(Clone, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "workspace_ibm_settings")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub workspace_id: Uuid,
    #[sea_orm(column_type = "Text")]
    pub api_key: String,
    #[sea_orm(column_type = "Text")]
    pub instance: String,
    pub updated_by: Uuid,
    pub updated_at: DateTimeUtc,
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkspaceIbmSettings")
            .field("workspace_id", &self.workspace_id)
            .field("api_key", &crate::jobs::ibm::mask_key(&self.api_key))
            .field("instance", &self.instance)
            .finish()
    }
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
