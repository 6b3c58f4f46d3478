//! Notifications: storing a drafted notice once per (person, event), collapsing bursts,
//! the inbox, read marks, preferences and the digest's claims. Every change to a
//! person's notices takes the next value of their counter (a row lock), so the live
//! stream can replay them in order after any `since`.

use chrono::{DateTime, Duration, Utc};
use qollab_shared::notify::{
    BATCH_WINDOW_SECS, Delivery, Draft, NoticeKind, Notification, NotificationPrefs, batch_title,
};
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, Set, TransactionTrait,
};
use uuid::Uuid;

use crate::db::Db;
use crate::db::tables::{
    notification_counters, notification_prefs, notification_sources, notifications,
};

pub fn view(m: notifications::Model) -> Notification {
    Notification {
        id: m.id,
        kind: NoticeKind::parse(&m.kind).unwrap_or(NoticeKind::Job),
        workspace_id: m.workspace_id,
        title: m.title,
        body: m.body,
        link: m.link,
        count: m.count,
        delivery: Delivery::parse(&m.delivery).unwrap_or_default(),
        version: m.version,
        read: m.read_at.is_some(),
        created_at: m.created_at,
        updated_at: m.updated_at,
    }
}

/// The person's next version (their counter, created on first use). Holding the row
/// lock until commit orders concurrent changes to one person's notices.
async fn next_version(txn: &impl ConnectionTrait, user: Uuid) -> Result<i64, sea_orm::DbErr> {
    notification_counters::Entity::insert(notification_counters::ActiveModel {
        user_id: Set(user),
        version: Set(1),
    })
    .on_conflict(
        OnConflict::column(notification_counters::Column::UserId)
            .value(
                notification_counters::Column::Version,
                Expr::col((
                    notification_counters::Entity,
                    notification_counters::Column::Version,
                ))
                .add(1),
            )
            .to_owned(),
    )
    .exec_without_returning(txn)
    .await?;
    Ok(notification_counters::Entity::find_by_id(user)
        .one(txn)
        .await?
        .map_or(1, |c| c.version))
}

/// Unread digest notices not mailed yet: who gets a digest, and what it carries.
fn unmailed_digest() -> sea_orm::Select<notifications::Entity> {
    notifications::Entity::find()
        .filter(notifications::Column::Delivery.eq(Delivery::Digest.as_str()))
        .filter(notifications::Column::ReadAt.is_null())
        .filter(notifications::Column::EmailedAt.is_null())
}

/// A stored notice: the new or changed row.
pub struct Stored {
    pub notification: Notification,
}

/// The event a notice comes from: workspace, its seq, when it happened.
#[derive(Debug, Clone, Copy)]
pub struct Source {
    pub ws: Uuid,
    pub seq: i64,
    pub at: DateTime<Utc>,
}

impl Db {
    /// Stores `draft` for `user` as the notice of event `source`: a new
    /// notice, or a count added to the open batch it belongs to. `None` when this event
    /// was already turned into a notice for this person (a replay, another process).
    pub async fn notify(
        &self,
        user: Uuid,
        source: Source,
        draft: &Draft,
        workspace_name: &str,
        delivery: Delivery,
    ) -> Result<Option<Stored>, sea_orm::DbErr> {
        let Source { ws, seq, at } = source;
        let txn = self.conn.begin().await?;
        let fresh = notification_sources::Entity::insert(notification_sources::ActiveModel {
            user_id: Set(user),
            workspace_id: Set(ws),
            seq: Set(seq),
        })
        .on_conflict(
            OnConflict::columns([
                notification_sources::Column::UserId,
                notification_sources::Column::WorkspaceId,
                notification_sources::Column::Seq,
            ])
            .do_nothing()
            .to_owned(),
        )
        .exec_without_returning(&txn)
        .await?;
        if fresh == 0 {
            return Ok(None);
        }
        let version = next_version(&txn, user).await?;
        let open_batch = match &draft.batch {
            Some(key) => {
                notifications::Entity::find()
                    .filter(notifications::Column::UserId.eq(user))
                    .filter(notifications::Column::BatchKey.eq(key.as_str()))
                    .filter(
                        notifications::Column::CreatedAt
                            .gte(at - Duration::seconds(BATCH_WINDOW_SECS)),
                    )
                    .filter(notifications::Column::ReadAt.is_null())
                    .order_by_desc(notifications::Column::Id)
                    .one(&txn)
                    .await?
            }
            None => None,
        };
        let row = match open_batch {
            Some(b) => {
                let count = b.count.saturating_add(1);
                let title = batch_title(
                    b.batch_key.as_deref().unwrap_or_default(),
                    count,
                    &b.first_title,
                    workspace_name,
                );
                let mut am: notifications::ActiveModel = b.into();
                am.count = Set(count);
                am.title = Set(title);
                am.body = Set(draft.body.clone());
                // A batch of jobs points at the job list, not at its last job.
                am.link = Set(match draft.kind {
                    NoticeKind::Job => format!("/w/{ws}/jobs"),
                    _ => draft.link.clone(),
                });
                am.version = Set(version);
                am.updated_at = Set(at);
                am.update(&txn).await?
            }
            None => {
                notifications::ActiveModel {
                    user_id: Set(user),
                    workspace_id: Set(Some(ws)),
                    kind: Set(draft.kind.as_str().into()),
                    batch_key: Set(draft.batch.clone()),
                    count: Set(1),
                    first_title: Set(draft.title.clone()),
                    title: Set(draft.title.clone()),
                    body: Set(draft.body.clone()),
                    link: Set(draft.link.clone()),
                    delivery: Set(delivery.as_str().into()),
                    version: Set(version),
                    read_at: Set(None),
                    emailed_at: Set(None),
                    created_at: Set(at),
                    updated_at: Set(at),
                    ..Default::default()
                }
                .insert(&txn)
                .await?
            }
        };
        txn.commit().await?;
        Ok(Some(Stored {
            notification: view(row),
        }))
    }

    /// A page of the inbox, newest first: ids below `before`, unread only if asked.
    pub async fn notifications_of(
        &self,
        user: Uuid,
        before: Option<i64>,
        unread_only: bool,
        limit: u64,
    ) -> Result<Vec<Notification>, sea_orm::DbErr> {
        let mut q = notifications::Entity::find().filter(notifications::Column::UserId.eq(user));
        if let Some(b) = before {
            q = q.filter(notifications::Column::Id.lt(b));
        }
        if unread_only {
            q = q.filter(notifications::Column::ReadAt.is_null());
        }
        Ok(q.order_by_desc(notifications::Column::Id)
            .limit(limit)
            .all(&self.conn)
            .await?
            .into_iter()
            .map(view)
            .collect())
    }

    pub async fn unread_count(&self, user: Uuid) -> Result<i64, sea_orm::DbErr> {
        let n = notifications::Entity::find()
            .filter(notifications::Column::UserId.eq(user))
            .filter(notifications::Column::ReadAt.is_null())
            .count(&self.conn)
            .await?;
        Ok(i64::try_from(n).unwrap_or(i64::MAX))
    }

    /// Notices changed after position (`version`, `id`), in (version, id) order: the
    /// stream's replay. One mark-all-read gives many notices the same version, so the id
    /// breaks ties and a page boundary inside one version loses nothing.
    pub async fn notifications_after(
        &self,
        user: Uuid,
        (version, id): (i64, i64),
        limit: u64,
    ) -> Result<Vec<Notification>, sea_orm::DbErr> {
        use sea_orm::Condition;
        Ok(notifications::Entity::find()
            .filter(notifications::Column::UserId.eq(user))
            .filter(
                Condition::any()
                    .add(notifications::Column::Version.gt(version))
                    .add(
                        Condition::all()
                            .add(notifications::Column::Version.eq(version))
                            .add(notifications::Column::Id.gt(id)),
                    ),
            )
            .order_by_asc(notifications::Column::Version)
            .order_by_asc(notifications::Column::Id)
            .limit(limit)
            .all(&self.conn)
            .await?
            .into_iter()
            .map(view)
            .collect())
    }

    /// The person's current version (0: never notified).
    pub async fn notification_version(&self, user: Uuid) -> Result<i64, sea_orm::DbErr> {
        Ok(notification_counters::Entity::find_by_id(user)
            .one(&self.conn)
            .await?
            .map_or(0, |c| c.version))
    }

    /// Marks one notice read (`None` if it is not this person's); idempotent.
    pub async fn mark_read(
        &self,
        user: Uuid,
        id: i64,
    ) -> Result<Option<Notification>, sea_orm::DbErr> {
        let txn = self.conn.begin().await?;
        let Some(row) = notifications::Entity::find_by_id(id)
            .filter(notifications::Column::UserId.eq(user))
            .one(&txn)
            .await?
        else {
            return Ok(None);
        };
        if row.read_at.is_some() {
            return Ok(Some(view(row)));
        }
        let version = next_version(&txn, user).await?;
        let mut am: notifications::ActiveModel = row.into();
        am.read_at = Set(Some(Utc::now()));
        am.version = Set(version);
        let row = am.update(&txn).await?;
        txn.commit().await?;
        Ok(Some(view(row)))
    }

    /// Marks every unread notice read; returns how many.
    pub async fn mark_all_read(&self, user: Uuid) -> Result<u64, sea_orm::DbErr> {
        let txn = self.conn.begin().await?;
        let version = next_version(&txn, user).await?;
        let res = notifications::Entity::update_many()
            .col_expr(notifications::Column::ReadAt, Expr::value(Utc::now()))
            .col_expr(notifications::Column::Version, Expr::value(version))
            .filter(notifications::Column::UserId.eq(user))
            .filter(notifications::Column::ReadAt.is_null())
            .exec(&txn)
            .await?;
        txn.commit().await?;
        Ok(res.rows_affected)
    }

    pub async fn notification_prefs(
        &self,
        user: Uuid,
    ) -> Result<NotificationPrefs, sea_orm::DbErr> {
        let rows = notification_prefs::Entity::find()
            .filter(notification_prefs::Column::UserId.eq(user))
            .all(&self.conn)
            .await?;
        let mut prefs = NotificationPrefs::default();
        for r in rows {
            if let (Some(k), Some(d)) = (NoticeKind::parse(&r.kind), Delivery::parse(&r.delivery)) {
                prefs.kinds.insert(k, d);
            }
        }
        Ok(prefs)
    }

    /// Sets the given kinds' delivery (the others keep theirs).
    pub async fn set_notification_prefs(
        &self,
        user: Uuid,
        prefs: &NotificationPrefs,
    ) -> Result<(), sea_orm::DbErr> {
        if prefs.kinds.is_empty() {
            return Ok(());
        }
        let rows = prefs
            .kinds
            .iter()
            .map(|(k, d)| notification_prefs::ActiveModel {
                user_id: Set(user),
                kind: Set(k.as_str().into()),
                delivery: Set(d.as_str().into()),
            });
        notification_prefs::Entity::insert_many(rows)
            .on_conflict(
                OnConflict::columns([
                    notification_prefs::Column::UserId,
                    notification_prefs::Column::Kind,
                ])
                .update_column(notification_prefs::Column::Delivery)
                .to_owned(),
            )
            .exec_without_returning(&self.conn)
            .await?;
        Ok(())
    }

    /// People with unread digest notices not mailed yet.
    pub async fn digest_recipients(&self) -> Result<Vec<Uuid>, sea_orm::DbErr> {
        unmailed_digest()
            .select_only()
            .column(notifications::Column::UserId)
            .distinct()
            .into_tuple::<Uuid>()
            .all(&self.conn)
            .await
    }

    /// Claims a person's unmailed unread digest notices for one mail (so that two
    /// processes never mail them twice): those this call marked.
    pub async fn claim_digest(
        &self,
        user: Uuid,
        at: DateTime<Utc>,
    ) -> Result<Vec<Notification>, sea_orm::DbErr> {
        let candidates: Vec<i64> = unmailed_digest()
            .select_only()
            .column(notifications::Column::Id)
            .filter(notifications::Column::UserId.eq(user))
            .order_by_asc(notifications::Column::Id)
            .limit(200)
            .into_tuple::<i64>()
            .all(&self.conn)
            .await?;
        let mut claimed = Vec::new();
        for id in candidates {
            let res = notifications::Entity::update_many()
                .col_expr(notifications::Column::EmailedAt, Expr::value(at))
                .filter(notifications::Column::Id.eq(id))
                .filter(notifications::Column::EmailedAt.is_null())
                .exec(&self.conn)
                .await?;
            if res.rows_affected == 1 {
                claimed.push(id);
            }
        }
        Ok(notifications::Entity::find()
            .filter(notifications::Column::Id.is_in(claimed))
            .order_by_asc(notifications::Column::Id)
            .all(&self.conn)
            .await?
            .into_iter()
            .map(view)
            .collect())
    }

    /// Gives claimed notices back (the mail could not be sent; the next digest retries).
    pub async fn unclaim_digest(&self, ids: &[i64]) -> Result<(), sea_orm::DbErr> {
        notifications::Entity::update_many()
            .col_expr(
                notifications::Column::EmailedAt,
                Expr::value(Option::<DateTime<Utc>>::None),
            )
            .filter(notifications::Column::Id.is_in(ids.to_vec()))
            .exec(&self.conn)
            .await?;
        Ok(())
    }
}
