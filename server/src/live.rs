//! Live connections (document and event sockets) and their revocation.
//!
//! Every socket registers here with what authorized it: the user, the credential it
//! authenticated with (a login session or an API token), the workspace, and for a document
//! socket the document. A revocation — a session ended (logout, logout-all, refresh-token
//! reuse), an API token deleted, a member removed or their role changed, a workspace
//! deleted — changes the [`Standing`] of the matching connections, which their tasks watch:
//! a revoked one is closed with a close code and reason, a role change applies at once.
//!
//! Revocations are announced where they are committed (the `Db` methods that revoke call
//! [`Db::revoked`], see [`Live::install`]), and cross processes over the fan-out
//! ([`crate::fanout::Message::Revoke`]). Pub/sub may lose a message, so the database stays
//! the truth: every live connection's session, token, membership and document are re-read
//! every `recheck_every`, and at once after the fan-out noticed a loss.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use qollab_shared::api::Role;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QuerySelect, Select};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use uuid::Uuid;

use crate::auth::{AuthUser, Credential};
use crate::db::Db;
use crate::db::tables::{api_tokens, docs, sessions, workspace_members};
use crate::fanout::{Fanout, Message};

/// Close codes of revoked connections (4000–4999 are the application's).
pub mod codes {
    /// The session or API token the connection authenticated with is no longer valid.
    pub const CREDENTIAL_REVOKED: u16 = 4401;
    /// The user is no longer a member of the workspace.
    pub const NOT_A_MEMBER: u16 = 4403;
    /// The document or workspace was deleted.
    pub const GONE: u16 = 4404;
}

/// Something that ends or changes live connections.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Revocation {
    /// One login session ended (logout, refresh-token reuse).
    Session { session_id: Uuid },
    /// Every login session of a user ended (logout of all sessions).
    UserSessions { user_id: Uuid },
    /// An API token was deleted.
    ApiToken { token_id: Uuid },
    /// A member's role changed (`Some`) or they were removed (`None`).
    Member {
        workspace_id: Uuid,
        user_id: Uuid,
        role: Option<Role>,
    },
    /// A workspace was deleted.
    Workspace { workspace_id: Uuid },
}

/// Where a connection stands; its task watches for changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Standing {
    /// Still allowed, with this role in the workspace.
    Member(Role),
    /// To be closed with this code and reason.
    Revoked { code: u16, reason: String },
}

impl Standing {
    fn revoked(code: u16, reason: &str) -> Standing {
        Standing::Revoked {
            code,
            reason: reason.to_string(),
        }
    }
}

const SESSION_ENDED: &str = "your session ended (logged out or revoked); log in again";
const TOKEN_REVOKED: &str = "the API token this connection used was revoked";
const REMOVED: &str = "you are no longer a member of this workspace";
const WORKSPACE_DELETED: &str = "the workspace was deleted";
const DOC_DELETED: &str = "the document was deleted";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Doc(Uuid),
    Events,
    /// A person's own stream (`/ws/me`): bound to the credential, not to a workspace.
    Personal,
}

struct Entry {
    user_id: Uuid,
    credential: Credential,
    workspace_id: Uuid,
    kind: Kind,
    standing: watch::Sender<Standing>,
    /// Bumped by every revocation applied to it: a re-check that read the database before
    /// one of those must not overwrite it with what it read.
    changes: u64,
}

impl Entry {
    fn set(&self, standing: Standing) {
        self.standing.send_if_modified(|s| {
            // A revoked connection stays revoked.
            if matches!(s, Standing::Revoked { .. }) || *s == standing {
                return false;
            }
            *s = standing;
            true
        });
    }

    /// What `revocation` means for this connection, if anything.
    fn verdict(&self, revocation: &Revocation) -> Option<Standing> {
        match *revocation {
            Revocation::Session { session_id } => (self.credential
                == Credential::Session(session_id))
            .then(|| Standing::revoked(codes::CREDENTIAL_REVOKED, SESSION_ENDED)),
            Revocation::UserSessions { user_id } => (self.user_id == user_id
                && matches!(self.credential, Credential::Session(_)))
            .then(|| Standing::revoked(codes::CREDENTIAL_REVOKED, SESSION_ENDED)),
            Revocation::ApiToken { token_id } => (self.credential
                == Credential::ApiToken(token_id))
            .then(|| Standing::revoked(codes::CREDENTIAL_REVOKED, TOKEN_REVOKED)),
            Revocation::Member {
                workspace_id,
                user_id,
                role,
            } => {
                (self.workspace_id == workspace_id && self.user_id == user_id).then(|| match role {
                    Some(r) => Standing::Member(r),
                    None => Standing::revoked(codes::NOT_A_MEMBER, REMOVED),
                })
            }
            Revocation::Workspace { workspace_id } => (self.workspace_id == workspace_id)
                .then(|| Standing::revoked(codes::GONE, WORKSPACE_DELETED)),
        }
    }
}

/// Every live socket of this process.
pub struct Live {
    db: Db,
    fanout: Fanout,
    conns: Mutex<HashMap<u64, Entry>>,
    next: AtomicU64,
}

/// A registered connection; dropping it unregisters.
pub struct Registration {
    id: u64,
    live: Weak<Live>,
    pub standing: watch::Receiver<Standing>,
}

impl Drop for Registration {
    fn drop(&mut self) {
        if let Some(live) = self.live.upgrade() {
            live.lock().remove(&self.id);
            metrics::gauge!("qollab_live_connections").decrement(1.0);
        }
    }
}

impl Registration {
    /// The next change of standing (pending forever once the registry is gone).
    pub async fn next(&mut self) -> Standing {
        if self.standing.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
        self.standing.borrow_and_update().clone()
    }

    /// A change of standing not taken yet, without waiting. A socket asks before it
    /// acts on a peer's frame: `select!` may pick the frame first even when the change
    /// (a downgrade committed before the frame was sent) is already there.
    pub fn pending(&mut self) -> Option<Standing> {
        match self.standing.has_changed() {
            Ok(true) => Some(self.standing.borrow_and_update().clone()),
            _ => None,
        }
    }
}

impl Live {
    /// Starts the periodic re-check of every connection against the database.
    pub fn start(db: Db, fanout: Fanout, recheck_every: Duration) -> Arc<Live> {
        let live = Arc::new(Live {
            db,
            fanout,
            conns: Mutex::new(HashMap::new()),
            next: AtomicU64::new(1),
        });
        let weak = Arc::downgrade(&live);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(recheck_every);
            tick.tick().await;
            loop {
                tick.tick().await;
                let Some(live) = weak.upgrade() else { break };
                live.recheck_all().await;
            }
        });
        live
    }

    /// Makes the database announce what it revokes to this registry (and through it to
    /// the other processes).
    pub fn install(self: &Arc<Self>) {
        let weak = Arc::downgrade(self);
        self.db.on_revoke(move |r| {
            if let Some(live) = weak.upgrade() {
                live.revoke(r);
            }
        });
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Entry>> {
        self.conns.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Registers a connection authorized as `user` with `role` in `workspace_id`.
    pub fn register(
        self: &Arc<Self>,
        user: AuthUser,
        workspace_id: Uuid,
        kind: Kind,
        role: Role,
    ) -> Registration {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = watch::channel(Standing::Member(role));
        self.lock().insert(
            id,
            Entry {
                user_id: user.id,
                credential: user.credential,
                workspace_id,
                kind,
                standing: tx,
                changes: 0,
            },
        );
        metrics::gauge!("qollab_live_connections").increment(1.0);
        Registration {
            id,
            live: Arc::downgrade(self),
            standing: rx,
        }
    }

    /// Applies a revocation here and tells the other processes.
    pub fn revoke(&self, revocation: Revocation) {
        self.fanout.publish(Message::Revoke {
            revocation: revocation.clone(),
        });
        self.apply(&revocation);
    }

    /// A membership change, here and in the other processes.
    pub fn membership_changed(&self, workspace_id: Uuid, user_id: Uuid, role: Option<Role>) {
        self.fanout.publish(Message::Membership {
            workspace_id,
            user_id,
            role,
        });
        self.apply(&Revocation::Member {
            workspace_id,
            user_id,
            role,
        });
    }

    /// Applies a revocation to this process's connections only.
    pub fn apply(&self, revocation: &Revocation) {
        let n = apply_to(&mut self.lock(), revocation);
        if n > 0 {
            metrics::counter!("qollab_live_revoked_total").increment(n);
            tracing::debug!(?revocation, connections = n, "live connections revoked");
        }
    }

    /// Re-reads every connection's credential, membership and document from the
    /// database and revokes (or re-roles) what no longer holds. A failing query changes
    /// nothing: only what the database positively says is acted on.
    pub async fn recheck_all(&self) {
        let snap = Snapshot::of(&self.lock());
        if snap.sessions.is_empty() && snap.tokens.is_empty() {
            return;
        }
        let live_sessions =
            self.existing::<sessions::Entity>(&snap.sessions, sessions::Column::Id, |q| {
                q.filter(sessions::Column::RevokedAt.is_null())
            });
        let live_tokens =
            self.existing::<api_tokens::Entity>(&snap.tokens, api_tokens::Column::Id, |q| q);
        let live_docs = self.existing::<docs::Entity>(&snap.docs, docs::Column::Id, |q| q);
        let (Some(sessions), Some(tokens), Some(docs), Some(roles)) = (
            live_sessions.await,
            live_tokens.await,
            live_docs.await,
            self.roles(&snap.pairs).await,
        ) else {
            return;
        };
        let found = Found {
            sessions,
            tokens,
            docs,
            roles,
        };
        let n = judge(&self.lock(), &snap, &found);
        if n > 0 {
            metrics::counter!("qollab_live_revoked_total").increment(n);
            tracing::info!(
                connections = n,
                "re-check against the database revoked live connections"
            );
        }
    }

    /// The ids among `ids` in `column` (of rows `filter` keeps), read in chunks; `None`
    /// when a query fails.
    async fn existing<E: EntityTrait>(
        &self,
        ids: &HashSet<Uuid>,
        column: E::Column,
        filter: impl Fn(Select<E>) -> Select<E>,
    ) -> Option<HashSet<Uuid>> {
        let mut found = HashSet::new();
        let all: Vec<Uuid> = ids.iter().copied().collect();
        for chunk in all.chunks(500) {
            let rows = filter(E::find().filter(column.is_in(chunk.to_vec())))
                .select_only()
                .column(column)
                .into_tuple::<Uuid>()
                .all(&self.db.conn)
                .await;
            match rows {
                Ok(rows) => found.extend(rows),
                Err(e) => {
                    tracing::warn!(error = %e, "re-checking live connections");
                    return None;
                }
            }
        }
        Some(found)
    }

    /// The roles of the given (workspace, user) pairs that are still members.
    async fn roles(&self, pairs: &HashSet<(Uuid, Uuid)>) -> Option<HashMap<(Uuid, Uuid), Role>> {
        let mut by_ws: HashMap<Uuid, Vec<Uuid>> = HashMap::new();
        for (ws, user) in pairs {
            by_ws.entry(*ws).or_default().push(*user);
        }
        let mut out = HashMap::new();
        for (ws, users) in by_ws {
            for chunk in users.chunks(500) {
                let rows = workspace_members::Entity::find()
                    .filter(workspace_members::Column::WorkspaceId.eq(ws))
                    .filter(workspace_members::Column::UserId.is_in(chunk.to_vec()))
                    .all(&self.db.conn)
                    .await;
                match rows {
                    Ok(rows) => {
                        for m in rows {
                            // As `queries::workspaces` reads it: the least privilege.
                            let role = Role::parse(&m.role).unwrap_or(Role::Viewer);
                            out.insert((m.workspace_id, m.user_id), role);
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "re-checking memberships");
                        return None;
                    }
                }
            }
        }
        Some(out)
    }
}

/// Applies `revocation` to the connections it concerns; returns how many it revoked.
fn apply_to(conns: &mut HashMap<u64, Entry>, revocation: &Revocation) -> u64 {
    let mut n = 0;
    for e in conns.values_mut() {
        if let Some(s) = e.verdict(revocation) {
            if matches!(s, Standing::Revoked { .. }) {
                n += 1;
            }
            e.changes += 1;
            e.set(s);
        }
    }
    n
}

/// What a re-check read the database for: the connections registered when it started
/// (with their change counts) and their credentials, memberships and documents.
#[derive(Default)]
struct Snapshot {
    conns: HashMap<u64, u64>,
    sessions: HashSet<Uuid>,
    tokens: HashSet<Uuid>,
    pairs: HashSet<(Uuid, Uuid)>,
    docs: HashSet<Uuid>,
}

impl Snapshot {
    fn of(conns: &HashMap<u64, Entry>) -> Snapshot {
        let mut s = Snapshot::default();
        for (id, e) in conns {
            s.conns.insert(*id, e.changes);
            match e.credential {
                Credential::Session(id) => s.sessions.insert(id),
                Credential::ApiToken(id) => s.tokens.insert(id),
            };
            if e.kind != Kind::Personal {
                s.pairs.insert((e.workspace_id, e.user_id));
            }
            if let Kind::Doc(id) = e.kind {
                s.docs.insert(id);
            }
        }
        s
    }
}

/// What the database holds of a [`Snapshot`].
#[derive(Default)]
struct Found {
    sessions: HashSet<Uuid>,
    tokens: HashSet<Uuid>,
    docs: HashSet<Uuid>,
    roles: HashMap<(Uuid, Uuid), Role>,
}

/// Sets each connection's standing from what the re-check found; returns how many it
/// revoked. Only connections of the snapshot that nothing changed since are judged: one
/// registered during the reads was authorized then (its credential was not read, so it
/// would look revoked), and one a revocation reached during the reads knows better than
/// the reads (a downgrade must not be undone by a role read just before it).
fn judge(conns: &HashMap<u64, Entry>, snap: &Snapshot, found: &Found) -> u64 {
    let mut n = 0;
    for (id, e) in conns {
        if snap.conns.get(id) != Some(&e.changes) {
            continue;
        }
        let credential_ok = match e.credential {
            Credential::Session(id) => found.sessions.contains(&id),
            Credential::ApiToken(id) => found.tokens.contains(&id),
        };
        let standing = if !credential_ok {
            let why = match e.credential {
                Credential::Session(_) => SESSION_ENDED,
                Credential::ApiToken(_) => TOKEN_REVOKED,
            };
            Standing::revoked(codes::CREDENTIAL_REVOKED, why)
        } else if let Kind::Doc(id) = e.kind
            && !found.docs.contains(&id)
        {
            Standing::revoked(codes::GONE, DOC_DELETED)
        } else if e.kind == Kind::Personal {
            Standing::Member(Role::Viewer)
        } else {
            match found.roles.get(&(e.workspace_id, e.user_id)) {
                Some(r) => Standing::Member(*r),
                None => Standing::revoked(codes::NOT_A_MEMBER, REMOVED),
            }
        };
        if matches!(standing, Standing::Revoked { .. })
            && matches!(*e.standing.borrow(), Standing::Member(_))
        {
            n += 1;
        }
        e.set(standing);
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(user: Uuid, session: Uuid, ws: Uuid) -> (Entry, watch::Receiver<Standing>) {
        let (tx, rx) = watch::channel(Standing::Member(Role::Editor));
        let e = Entry {
            user_id: user,
            credential: Credential::Session(session),
            workspace_id: ws,
            kind: Kind::Events,
            standing: tx,
            changes: 0,
        };
        (e, rx)
    }

    #[test]
    fn a_recheck_judges_only_what_it_read_and_what_did_not_change_since() {
        let ws = Uuid::new_v4();
        let (gone, gone_rx) = entry(Uuid::new_v4(), Uuid::new_v4(), ws);
        let (kept_user, kept_session) = (Uuid::new_v4(), Uuid::new_v4());
        let (kept, kept_rx) = entry(kept_user, kept_session, ws);
        let (downgraded_user, downgraded_session) = (Uuid::new_v4(), Uuid::new_v4());
        let (downgraded, downgraded_rx) = entry(downgraded_user, downgraded_session, ws);
        let mut conns = HashMap::from([(1, gone), (2, kept), (3, downgraded)]);
        let snap = Snapshot::of(&conns);
        assert_eq!(snap.conns.len(), 3);
        // During the reads: someone connects, and a downgrade reaches connection 3.
        let (late, late_rx) = entry(Uuid::new_v4(), Uuid::new_v4(), ws);
        conns.insert(4, late);
        let downgrade = Revocation::Member {
            workspace_id: ws,
            user_id: downgraded_user,
            role: Some(Role::Viewer),
        };
        assert_eq!(apply_to(&mut conns, &downgrade), 0);
        assert_eq!(*downgraded_rx.borrow(), Standing::Member(Role::Viewer));
        // The reads (from before the downgrade): 1's session is gone, 2 is now a viewer,
        // 3 still an editor.
        let found = Found {
            sessions: HashSet::from([kept_session, downgraded_session]),
            roles: HashMap::from([
                ((ws, kept_user), Role::Viewer),
                ((ws, downgraded_user), Role::Editor),
            ]),
            ..Found::default()
        };
        assert_eq!(judge(&conns, &snap, &found), 1);
        assert!(matches!(
            &*gone_rx.borrow(),
            Standing::Revoked {
                code: codes::CREDENTIAL_REVOKED,
                ..
            }
        ));
        // What the reads said about a connection they covered still applies.
        assert_eq!(*kept_rx.borrow(), Standing::Member(Role::Viewer));
        // Not undone by a read from before the downgrade.
        assert_eq!(*downgraded_rx.borrow(), Standing::Member(Role::Viewer));
        // Not read at all: left as authorized.
        assert_eq!(*late_rx.borrow(), Standing::Member(Role::Editor));
    }
}
