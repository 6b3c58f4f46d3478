use sea_orm::entity::prelude::*;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "organizations")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub name: String,
    pub plan: String,
    /// The organization created with a user; it cannot be left by its owner.
    pub personal: bool,
    pub max_qubits: i32,
    pub max_concurrent_jobs: i32,
    pub max_shots: i64,
    pub ai_requests_per_day: i32,
    pub created_by: Uuid,
    pub created_at: DateTimeUtc,
}

impl ActiveModelBehavior for ActiveModel {}
