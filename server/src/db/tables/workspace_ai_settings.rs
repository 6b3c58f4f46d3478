use sea_orm::entity::prelude::*;

/// A workspace's own AI provider. The key is sealed (`secrets`), never returned by the
/// API nor logged (`Debug` leaves it out).
#[derive(Clone, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "workspace_ai_settings")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub workspace_id: Uuid,
    #[sea_orm(column_type = "Text", nullable)]
    pub api_key: Option<String>,
    #[sea_orm(column_type = "Text", nullable)]
    pub base_url: Option<String>,
    pub model: Option<String>,
    pub updated_by: Uuid,
    pub updated_at: DateTimeUtc,
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkspaceAiSettings")
            .field("workspace_id", &self.workspace_id)
            .field("api_key", &self.api_key.as_ref().map(|_| "(set)"))
            .field("base_url", &self.base_url)
            .field("model", &self.model)
            .finish()
    }
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
