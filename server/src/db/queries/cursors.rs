//! How far each event consumer (`crate::events::consumer`) has read each workspace's
//! events: one table per consumer, the same two columns.

use sea_orm::ConnectionTrait;
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Func, OnConflict, Query};
use uuid::Uuid;

use crate::db::Db;
use crate::db::tables::workspaces;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cursor {
    Progress,
    Notify,
}

impl Cursor {
    pub fn name(self) -> &'static str {
        match self {
            Cursor::Progress => "progress",
            Cursor::Notify => "notify",
        }
    }

    fn table(self) -> Alias {
        Alias::new(match self {
            Cursor::Progress => "progress_cursors",
            Cursor::Notify => "notify_cursors",
        })
    }
}

impl Db {
    /// The last event seq `cursor` has handled in workspace `ws` (0: none).
    pub async fn cursor(&self, cursor: Cursor, ws: Uuid) -> Result<i64, sea_orm::DbErr> {
        let stmt = Query::select()
            .column(Alias::new("seq"))
            .from(cursor.table())
            .and_where(Expr::col(Alias::new("workspace_id")).eq(ws))
            .to_owned();
        match self.conn.query_one(&stmt).await? {
            Some(row) => row.try_get::<i64>("", "seq"),
            None => Ok(0),
        }
    }

    /// Moves a workspace's cursor forward to `seq` (never back).
    pub async fn advance_cursor(
        &self,
        cursor: Cursor,
        ws: Uuid,
        seq: i64,
    ) -> Result<(), sea_orm::DbErr> {
        let insert = Query::insert()
            .into_table(cursor.table())
            .columns([Alias::new("workspace_id"), Alias::new("seq")])
            .values_panic([ws.into(), seq.into()])
            .on_conflict(
                OnConflict::column(Alias::new("workspace_id"))
                    .do_nothing()
                    .to_owned(),
            )
            .to_owned();
        self.conn.execute(&insert).await?;
        let update = Query::update()
            .table(cursor.table())
            .value(Alias::new("seq"), seq)
            .and_where(Expr::col(Alias::new("workspace_id")).eq(ws))
            .and_where(Expr::col(Alias::new("seq")).lt(seq))
            .to_owned();
        self.conn.execute(&update).await?;
        Ok(())
    }

    /// Workspaces whose stored events go past `cursor`: the workspace's event counter
    /// (bumped by every event commit) against the cursor, one indexed join rather than a
    /// scan of the event log on every sweep.
    pub async fn workspaces_behind(&self, cursor: Cursor) -> Result<Vec<Uuid>, sea_orm::DbErr> {
        let c = cursor.table();
        let stmt =
            Query::select()
                .column((workspaces::Entity, workspaces::Column::Id))
                .from(workspaces::Entity)
                .left_join(
                    c.clone(),
                    Expr::col((c.clone(), Alias::new("workspace_id")))
                        .equals((workspaces::Entity, workspaces::Column::Id)),
                )
                .and_where(Expr::col((workspaces::Entity, Alias::new("event_seq"))).gt(
                    Func::coalesce([Expr::col((c, Alias::new("seq"))), Expr::value(0i64)]),
                ))
                .to_owned();
        let rows = self.conn.query_all(&stmt).await?;
        rows.iter().map(|r| r.try_get::<Uuid>("", "id")).collect()
    }
}
