use sea_orm::entity::prelude::*;

/// One judged Quantum Quest attempt (append-only).
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "quest_attempts")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub user_id: Uuid,
    pub challenge: String,
    #[sea_orm(column_type = "Text")]
    pub qasm: String,
    pub passed: bool,
    pub fidelity: f64,
    /// After hint costs.
    pub score: i32,
    pub hints_used: i32,
    pub gates: i32,
    pub depth: i32,
    pub two_qubit_gates: i32,
    pub violations: Json,
    pub created_at: DateTimeUtc,
}

impl ActiveModelBehavior for ActiveModel {}
