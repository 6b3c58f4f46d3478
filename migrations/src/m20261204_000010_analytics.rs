//! Analytics: what the optimizer did to a job as plain columns (the result JSON is
//! neither indexable nor summable the same way on both backends), and the indexes the
//! organization-wide aggregates range over. Existing completed jobs are backfilled from
//! their stored optimization report.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend, Statement};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Jobs {
    Table,
    OrgId,
    WorkspaceId,
    QueuedAt,
    Status,
    Backend,
    Shots,
    AuthorId,
    SourceDocId,
    StartedAt,
    FinishedAt,
    GatesBefore,
    GatesAfter,
    TwoQubitBefore,
    TwoQubitAfter,
    DepthBefore,
    DepthAfter,
}

#[derive(DeriveIden)]
enum AiRequests {
    Table,
    WorkspaceId,
    At,
}

const COLUMNS: [(Jobs, &str, &str); 6] = [
    (Jobs::GatesBefore, "gates_before", "before.gates"),
    (Jobs::GatesAfter, "gates_after", "after.gates"),
    (
        Jobs::TwoQubitBefore,
        "two_qubit_before",
        "before.two_qubit_gates",
    ),
    (
        Jobs::TwoQubitAfter,
        "two_qubit_after",
        "after.two_qubit_gates",
    ),
    (Jobs::DepthBefore, "depth_before", "before.depth"),
    (Jobs::DepthAfter, "depth_after", "after.depth"),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // SQLite alters one column per statement.
        for (col, _, _) in COLUMNS {
            m.alter_table(
                Table::alter()
                    .table(Jobs::Table)
                    .add_column(integer_null(col))
                    .to_owned(),
            )
            .await?;
        }
        // Covering indexes: every column the aggregates read is in them, so a range of a
        // workspace's (or organization's) jobs is read from the index alone, never from
        // the rows (which hold the QASM and the result inline on SQLite: the benchmark
        // spent most of its time fetching them).
        for (name, scope) in [
            ("idx_jobs_ws_analytics", Jobs::WorkspaceId),
            ("idx_jobs_org_analytics", Jobs::OrgId),
        ] {
            let mut index = Index::create();
            index.name(name).table(Jobs::Table).col(scope);
            for col in [
                Jobs::QueuedAt,
                Jobs::Status,
                Jobs::Backend,
                Jobs::Shots,
                Jobs::AuthorId,
                Jobs::SourceDocId,
                Jobs::StartedAt,
                Jobs::FinishedAt,
                Jobs::GatesBefore,
                Jobs::GatesAfter,
                Jobs::TwoQubitBefore,
                Jobs::TwoQubitAfter,
                Jobs::DepthBefore,
                Jobs::DepthAfter,
            ] {
                index.col(col);
            }
            m.create_index(index.to_owned()).await?;
        }
        m.create_index(
            Index::create()
                .name("idx_ai_requests_ws_at")
                .table(AiRequests::Table)
                .col(AiRequests::WorkspaceId)
                .col(AiRequests::At)
                .to_owned(),
        )
        .await?;
        backfill(m).await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_index(
            Index::drop()
                .name("idx_ai_requests_ws_at")
                .table(AiRequests::Table)
                .to_owned(),
        )
        .await?;
        for name in ["idx_jobs_ws_analytics", "idx_jobs_org_analytics"] {
            m.drop_index(Index::drop().name(name).table(Jobs::Table).to_owned())
                .await?;
        }
        for (col, _, _) in COLUMNS {
            m.alter_table(
                Table::alter()
                    .table(Jobs::Table)
                    .drop_column(col)
                    .to_owned(),
            )
            .await?;
        }
        Ok(())
    }
}

async fn backfill(m: &SchemaManager<'_>) -> Result<(), DbErr> {
    let db = m.get_connection();
    let backend = db.get_database_backend();
    let sets: Vec<String> = COLUMNS
        .iter()
        .map(|(_, column, path)| match backend {
            DbBackend::Postgres => {
                let (side, field) = path.split_once('.').unwrap_or((path, ""));
                format!("{column} = (result->'optimization'->'{side}'->>'{field}')::integer")
            }
            _ => format!("{column} = json_extract(result, '$.optimization.{path}')"),
        })
        .collect();
    let sql = format!(
        "UPDATE jobs SET {} WHERE status = 'completed' AND result IS NOT NULL",
        sets.join(", ")
    );
    db.execute_raw(Statement::from_string(backend, sql)).await?;
    Ok(())
}
