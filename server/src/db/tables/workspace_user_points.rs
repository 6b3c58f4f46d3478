use sea_orm::entity::prelude::*;

/// A person's points earned in one workspace: the ledger's running total per
/// (workspace, user), kept in the transaction that adds an award.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "workspace_user_points")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub workspace_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub user_id: Uuid,
    pub points: i64,
}

impl ActiveModelBehavior for ActiveModel {}
