use sea_orm::entity::prelude::*;

/// Running totals of the points ledger: a person's points on one board (`global`,
/// `ws:<id>`, `org:<id>`) in one period (`all`, `w<monday>`, `m<yyyy-mm>`; see
/// `qollab_shared::progress::award_cells`), moved in the transaction that adds each award.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "board_points")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub board: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub period: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub user_id: Uuid,
    pub points: i64,
}

impl ActiveModelBehavior for ActiveModel {}
