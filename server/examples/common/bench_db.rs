//! The database a benchmark example runs on: a SQLite temp file by default, or a fresh
//! schema in the PostgreSQL database of `QOLLAB_BENCH_DATABASE_URL` (dropped at the
//! end). Prints the benchmark's one JSON line.

use std::fmt::Display;
use std::future::Future;

use qollab_server::db::{Db, DbOptions};
use sea_orm::ConnectionTrait;
use uuid::Uuid;

pub async fn run<F, Fut, T>(bench: F) -> anyhow::Result<()>
where
    F: FnOnce(Db, &'static str) -> Fut,
    Fut: Future<Output = anyhow::Result<T>>,
    T: Display,
{
    match std::env::var("QOLLAB_BENCH_DATABASE_URL") {
        Ok(url) if !url.trim().is_empty() => {
            let schema = format!("bench_{}", Uuid::new_v4().simple());
            let admin = Db::connect(&url, &DbOptions::default()).await?;
            admin.create_schema(&schema).await?;
            let db = Db::connect(
                &url,
                &DbOptions {
                    pg_schema: Some(schema.clone()),
                    ..Default::default()
                },
            )
            .await?;
            db.migrate().await?;
            let result = bench(db.clone(), "postgres").await;
            db.close().await;
            admin
                .conn
                .execute_unprepared(&format!("DROP SCHEMA \"{schema}\" CASCADE"))
                .await?;
            admin.close().await;
            println!("{}", result?);
        }
        _ => {
            let dir = tempfile::tempdir()?;
            let url = format!(
                "sqlite://{}?mode=rwc",
                dir.path().join("bench.db").display()
            );
            let db = Db::connect(&url, &DbOptions::default()).await?;
            db.migrate().await?;
            let result = bench(db.clone(), "sqlite").await;
            db.close().await;
            println!("{}", result?);
        }
    }
    Ok(())
}
