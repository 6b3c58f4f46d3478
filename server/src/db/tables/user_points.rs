use sea_orm::entity::prelude::*;

/// Each person's points so far: the ledger's running total, kept in the transaction that
/// adds an award (all-time boards read it instead of summing the ledger).
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "user_points")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub user_id: Uuid,
    pub points: i64,
}

impl ActiveModelBehavior for ActiveModel {}
