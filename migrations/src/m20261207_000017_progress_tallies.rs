//! A user's count per progress counter, kept beside the marks.
//!
//! Every batch of events the progress consumer reads re-evaluated each user it marked
//! from a `COUNT … GROUP BY counter` over all of that user's marks: a cost that grows
//! with the user's history (two marks per job), paid per batch. At 13,000 jobs of one
//! user it took 19.5 ms a time and was the largest single cost of the jobs bench on
//! PostgreSQL. The marks' inserts now add what they inserted to these rows in the same
//! transaction (`Db::add_marks`), so a tally is one row per counter. Filled here from
//! the marks already stored.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, Statement};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ProgressTallies {
    Table,
    UserId,
    Counter,
    N,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(ProgressTallies::Table)
                .col(uuid(ProgressTallies::UserId))
                .col(string(ProgressTallies::Counter))
                .col(big_integer(ProgressTallies::N))
                .primary_key(
                    Index::create()
                        .col(ProgressTallies::UserId)
                        .col(ProgressTallies::Counter),
                )
                .to_owned(),
        )
        .await?;
        let db = m.get_connection();
        db.execute_raw(Statement::from_string(
            db.get_database_backend(),
            "INSERT INTO progress_tallies (user_id, counter, n) \
             SELECT user_id, counter, COUNT(*) FROM progress_marks GROUP BY user_id, counter"
                .to_string(),
        ))
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(ProgressTallies::Table).to_owned())
            .await
    }
}
