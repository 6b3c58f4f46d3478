//! The database a benchmark example runs on: a SQLite temp file by default, or a fresh
//! schema in the PostgreSQL database of `QOLLAB_BENCH_DATABASE_URL` (dropped at the
//! end). Prints the benchmark's one JSON line.
//!
//! For working on queries without seeding again: `QOLLAB_BENCH_KEEP=1` keeps the
//! database (the SQLite file, or the PostgreSQL schema) and prints where it is on stderr;
//! `QOLLAB_BENCH_REUSE=<that file or schema>` runs on it again (migrated to the current
//! schema first; a benchmark that supports it then skips its seeding, see [`reused`]).

#![allow(dead_code)]

use std::fmt::Display;
use std::future::Future;

use qollab_server::db::{Db, DbOptions};
use sea_orm::ConnectionTrait;
use uuid::Uuid;

/// The database named by `QOLLAB_BENCH_REUSE`, if any: the run seeds nothing.
pub fn reused() -> Option<String> {
    std::env::var("QOLLAB_BENCH_REUSE")
        .ok()
        .filter(|v| !v.trim().is_empty())
}

fn keep() -> bool {
    reused().is_some() || std::env::var("QOLLAB_BENCH_KEEP").is_ok_and(|v| v == "1")
}

pub async fn run<F, Fut, T>(bench: F) -> anyhow::Result<()>
where
    F: FnOnce(Db, &'static str) -> Fut,
    Fut: Future<Output = anyhow::Result<T>>,
    T: Display,
{
    match std::env::var("QOLLAB_BENCH_DATABASE_URL") {
        Ok(url) if !url.trim().is_empty() => {
            let admin = Db::connect(&url, &DbOptions::default()).await?;
            let schema = match reused() {
                Some(schema) => schema,
                None => {
                    let schema = format!("bench_{}", Uuid::new_v4().simple());
                    admin.create_schema(&schema).await?;
                    schema
                }
            };
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
            if keep() {
                eprintln!("kept: QOLLAB_BENCH_REUSE={schema} (in {url})");
            } else {
                admin
                    .conn
                    .execute_unprepared(&format!("DROP SCHEMA \"{schema}\" CASCADE"))
                    .await?;
            }
            admin.close().await;
            println!("{}", result?);
        }
        _ => {
            let dir = tempfile::tempdir()?;
            let file = match reused() {
                Some(file) => std::path::PathBuf::from(file),
                None => dir.path().join("bench.db"),
            };
            let url = format!("sqlite://{}?mode=rwc", file.display());
            let db = Db::connect(&url, &DbOptions::default()).await?;
            db.migrate().await?;
            let result = bench(db.clone(), "sqlite").await;
            db.close().await;
            if keep() && reused().is_none() {
                let kept = dir.keep();
                eprintln!(
                    "kept: QOLLAB_BENCH_REUSE={}",
                    kept.join("bench.db").display()
                );
            }
            println!("{}", result?);
        }
    }
    Ok(())
}
