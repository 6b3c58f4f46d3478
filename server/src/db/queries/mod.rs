//! Queries grouped by the capability they serve. Each is a method on `Db` (or takes a
//! connection, so callers can compose them inside one transaction).

pub mod analytics;
pub mod audit;
pub mod chat;
pub mod cursors;
pub mod docs;
pub mod events;
pub mod ibm_settings;
pub mod jobs;
pub mod notifications;
pub mod orgs;
pub mod progress;
pub mod quest;
pub mod rollups;
pub mod runtime_sessions;
pub mod schedules;
pub mod tokens;
pub mod users;
pub mod workspaces;

/// A statement from SQL written with `?` placeholders, numbered as `backend` wants them
/// (`$1`, `$2`, … on PostgreSQL). The SQL this is used on holds no `?` inside literals.
pub(crate) fn statement(
    backend: sea_orm::DbBackend,
    sql: &str,
    values: Vec<sea_orm::Value>,
) -> sea_orm::Statement {
    let sql = match backend {
        sea_orm::DbBackend::Postgres => {
            let mut out = String::with_capacity(sql.len() + 8);
            let mut n = 0;
            for c in sql.chars() {
                if c == '?' {
                    n += 1;
                    out.push_str(&format!("${n}"));
                } else {
                    out.push(c);
                }
            }
            out
        }
        _ => sql.to_string(),
    };
    sea_orm::Statement::from_sql_and_values(backend, sql, values)
}
