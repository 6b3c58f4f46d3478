//! Notifications: which stored workspace events concern which person, how a burst of
//! them collapses into one notice, and the wire shapes. Pure: the server resolves the
//! recipients this names (a job's author, the members a chat message mentions), stores
//! the notices once per (person, event), and pushes them.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::events::{Event, kinds};

/// What a notice is about; preferences are per kind.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum NoticeKind {
    /// Your job completed, failed or was cancelled.
    Job,
    /// An AI analysis of your job is ready.
    Analysis,
    /// Someone @mentioned you in a workspace chat.
    Mention,
    /// You were added to a workspace, your role changed, or you were removed.
    Membership,
    /// You unlocked an achievement or reached a level.
    Achievement,
    /// A runtime session you opened was closed by someone else or timed out.
    Session,
}

impl NoticeKind {
    pub const ALL: [NoticeKind; 6] = [
        NoticeKind::Job,
        NoticeKind::Analysis,
        NoticeKind::Mention,
        NoticeKind::Membership,
        NoticeKind::Achievement,
        NoticeKind::Session,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            NoticeKind::Job => "job",
            NoticeKind::Analysis => "analysis",
            NoticeKind::Mention => "mention",
            NoticeKind::Membership => "membership",
            NoticeKind::Achievement => "achievement",
            NoticeKind::Session => "session",
        }
    }

    pub fn parse(s: &str) -> Option<NoticeKind> {
        NoticeKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// How a person wants a kind of notice: pushed live (and listed), listed and mailed in
/// the digest only, or not at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, Default)]
#[serde(rename_all = "snake_case")]
pub enum Delivery {
    #[default]
    Live,
    Digest,
    Off,
}

impl Delivery {
    pub fn as_str(self) -> &'static str {
        match self {
            Delivery::Live => "live",
            Delivery::Digest => "digest",
            Delivery::Off => "off",
        }
    }

    pub fn parse(s: &str) -> Option<Delivery> {
        match s {
            "live" => Some(Delivery::Live),
            "digest" => Some(Delivery::Digest),
            "off" => Some(Delivery::Off),
            _ => None,
        }
    }
}

/// Who a drafted notice is for, as far as the event itself tells.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recipient {
    User(Uuid),
    /// The author of this job (the event does not carry it).
    JobAuthor(Uuid),
    /// Every member whose name the text @mentions, except `author`.
    MentionedIn {
        text: String,
        author: Option<Uuid>,
    },
}

/// A notice drafted from one event, before it is resolved and stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Draft {
    pub to: Recipient,
    pub kind: NoticeKind,
    /// Drafts with the same key for the same person within [`BATCH_WINDOW_SECS`] of the
    /// first collapse into one notice that counts them; `None` never collapses.
    pub batch: Option<String>,
    /// One occurrence, e.g. "Job 3f2a… completed"; a batch of n reads [`batch_title`].
    pub title: String,
    pub body: String,
    /// Where the web app takes you (a path).
    pub link: String,
}

/// A burst is whatever follows its first notice within this many seconds.
pub const BATCH_WINDOW_SECS: i64 = 60;

fn short(id: &str) -> &str {
    id.get(..8).unwrap_or(id)
}

/// The notices a stored workspace event drafts. `workspace` is the workspace's name.
pub fn drafts_of(e: &Event, workspace: &str) -> Vec<Draft> {
    let ws = e.workspace_id;
    let uuid_at = |v: &serde_json::Value| v.as_str().and_then(|s| Uuid::parse_str(s).ok());
    match e.kind.as_str() {
        kinds::JOB_COMPLETED | kinds::JOB_FAILED | kinds::JOB_CANCELLED => {
            let job = &e.data["job"];
            let (Some(author), Some(id)) = (uuid_at(&job["author_id"]), job["id"].as_str()) else {
                return vec![];
            };
            let verb = match e.kind.as_str() {
                kinds::JOB_COMPLETED => "completed",
                kinds::JOB_FAILED => "failed",
                _ => "cancelled",
            };
            // Cancelling your own job needs no notice.
            if verb == "cancelled" && e.actor == Some(author) {
                return vec![];
            }
            let backend = job["backend"].as_str().unwrap_or("a backend");
            let body = match (verb, job["error"].as_str()) {
                ("failed", Some(err)) => format!("On {backend}: {err}"),
                _ => format!("On {backend} in {workspace}"),
            };
            vec![Draft {
                to: Recipient::User(author),
                kind: NoticeKind::Job,
                batch: Some(format!("job.{verb}:{ws}")),
                title: format!("Job {} {verb}", short(id)),
                body,
                link: format!("/w/{ws}/jobs/{id}"),
            }]
        }
        kinds::AI_ANALYSIS_COMPLETED => {
            let Some(job) = uuid_at(&e.data["job_id"]) else {
                return vec![];
            };
            let offline = e.data["offline"].as_bool().unwrap_or(false);
            vec![Draft {
                to: Recipient::JobAuthor(job),
                kind: NoticeKind::Analysis,
                batch: None,
                title: format!("Analysis of job {} is ready", short(&job.to_string())),
                body: if offline {
                    format!("The engine's findings (no AI provider) in {workspace}")
                } else {
                    format!("AI analysis in {workspace}")
                },
                link: format!("/w/{ws}/jobs/{job}"),
            }]
        }
        kinds::CHAT_MESSAGE => {
            let Some(text) = e.data["text"].as_str() else {
                return vec![];
            };
            if !text.contains('@') {
                return vec![];
            }
            let who = e.data["author_name"].as_str().unwrap_or("Someone");
            vec![Draft {
                to: Recipient::MentionedIn {
                    text: text.to_string(),
                    author: e.actor,
                },
                kind: NoticeKind::Mention,
                batch: None,
                title: format!("{who} mentioned you in {workspace}"),
                body: clip(text, 200),
                link: format!("/w/{ws}"),
            }]
        }
        kinds::MEMBER_ADDED => {
            let member = &e.data["member"];
            let Some(user) = uuid_at(&member["user_id"]) else {
                return vec![];
            };
            // Creating a workspace adds its creator: nothing to tell them.
            if e.actor == Some(user) {
                return vec![];
            }
            let role = member["role"].as_str().unwrap_or("member");
            vec![Draft {
                to: Recipient::User(user),
                kind: NoticeKind::Membership,
                batch: None,
                title: format!("You were added to {workspace}"),
                body: format!("as {role}"),
                link: format!("/w/{ws}"),
            }]
        }
        kinds::MEMBER_ROLE_CHANGED => {
            let Some(user) = uuid_at(&e.data["user_id"]) else {
                return vec![];
            };
            if e.actor == Some(user) {
                return vec![];
            }
            let role = e.data["role"].as_str().unwrap_or("another role");
            vec![Draft {
                to: Recipient::User(user),
                kind: NoticeKind::Membership,
                batch: None,
                title: format!("Your role in {workspace} is now {role}"),
                body: String::new(),
                link: format!("/w/{ws}"),
            }]
        }
        kinds::MEMBER_REMOVED => {
            let Some(user) = uuid_at(&e.data["user_id"]) else {
                return vec![];
            };
            if e.actor == Some(user) {
                return vec![];
            }
            vec![Draft {
                to: Recipient::User(user),
                kind: NoticeKind::Membership,
                batch: None,
                title: format!("You were removed from {workspace}"),
                body: String::new(),
                link: "/".into(),
            }]
        }
        kinds::ACHIEVEMENT_UNLOCKED => {
            let Some(user) = uuid_at(&e.data["user_id"]) else {
                return vec![];
            };
            let title = e.data["title"].as_str().unwrap_or("an achievement");
            let points = e.data["points"].as_u64().unwrap_or(0);
            vec![Draft {
                to: Recipient::User(user),
                kind: NoticeKind::Achievement,
                batch: Some(format!("achievement:{ws}")),
                title: format!("Achievement unlocked: {title}"),
                body: format!("+{points} points"),
                link: format!("/w/{ws}/leaderboard"),
            }]
        }
        kinds::LEVEL_REACHED => {
            let Some(user) = uuid_at(&e.data["user_id"]) else {
                return vec![];
            };
            let level = e.data["level"].as_u64().unwrap_or(0);
            vec![Draft {
                to: Recipient::User(user),
                kind: NoticeKind::Achievement,
                batch: None,
                title: format!("You reached level {level}"),
                body: String::new(),
                link: format!("/w/{ws}/leaderboard"),
            }]
        }
        kinds::SESSION_CLOSED => {
            let s = &e.data["session"];
            let (Some(owner), Some(id)) = (uuid_at(&s["created_by"]), s["id"].as_str()) else {
                return vec![];
            };
            if e.actor == Some(owner) {
                return vec![];
            }
            let why = s["close_reason"].as_str().unwrap_or("closed");
            vec![Draft {
                to: Recipient::User(owner),
                kind: NoticeKind::Session,
                batch: None,
                title: format!("Session {} was closed", short(id)),
                body: format!("{why} (in {workspace})"),
                link: format!("/w/{ws}"),
            }]
        }
        _ => vec![],
    }
}

/// The title of a batch of `count` notices drafted with batch key `batch` (whose first
/// title was `first`), e.g. "50 jobs completed in Lab".
pub fn batch_title(batch: &str, count: i32, first: &str, workspace: &str) -> String {
    if count <= 1 {
        return first.to_string();
    }
    let what = batch.split(':').next().unwrap_or_default();
    match what {
        "job.completed" => format!("{count} jobs completed in {workspace}"),
        "job.failed" => format!("{count} jobs failed in {workspace}"),
        "job.cancelled" => format!("{count} jobs cancelled in {workspace}"),
        "achievement" => format!("{count} achievements unlocked in {workspace}"),
        _ => format!("{count} notifications in {workspace}"),
    }
}

/// The members a chat message @mentions: `@` followed by a member's name (any case, the
/// longest name that fits), ending at a non-alphanumeric character or the end. Names
/// with spaces work ("@Ada Lovelace"). `members` are (id, name).
pub fn mentioned(text: &str, members: &[(Uuid, String)]) -> Vec<Uuid> {
    let lower = text.to_lowercase();
    let mut by_len: Vec<(Uuid, String)> = members
        .iter()
        .filter(|(_, n)| !n.trim().is_empty())
        .map(|(id, n)| (*id, n.trim().to_lowercase()))
        .collect();
    by_len.sort_by_key(|(_, n)| std::cmp::Reverse(n.len()));
    let mut out: Vec<Uuid> = Vec::new();
    for (at, _) in lower.match_indices('@') {
        let rest = &lower[at + 1..];
        if let Some((id, _)) = by_len.iter().find(|(_, name)| {
            rest.starts_with(name.as_str())
                && rest[name.len()..]
                    .chars()
                    .next()
                    .is_none_or(|c| !c.is_alphanumeric() && c != '_')
        }) && !out.contains(id)
        {
            out.push(*id);
        }
    }
    out
}

fn clip(s: &str, max_chars: usize) -> String {
    match s.char_indices().nth(max_chars) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

/// One notice in a person's inbox.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct Notification {
    pub id: i64,
    pub kind: NoticeKind,
    pub workspace_id: Option<Uuid>,
    pub title: String,
    pub body: String,
    pub link: String,
    /// How many occurrences this notice stands for (a batch counts up in place).
    pub count: i32,
    /// Pushed live (`live`) or kept for the digest (`digest`) when it was made.
    pub delivery: Delivery,
    /// Increases with every change to any of this person's notices: the stream's
    /// `since` and the order of replay.
    pub version: i64,
    pub read: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A page of the inbox, newest first.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct NotificationPage {
    pub items: Vec<Notification>,
    /// Pass as `?cursor=` for the next (older) page; absent on the last page.
    pub next_cursor: Option<String>,
    pub unread: i64,
}

/// Delivery per kind; kinds not listed are `live`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq, Default)]
pub struct NotificationPrefs {
    #[schema(value_type = BTreeMap<String, Delivery>)]
    pub kinds: BTreeMap<NoticeKind, Delivery>,
}

impl NotificationPrefs {
    pub fn delivery(&self, kind: NoticeKind) -> Delivery {
        self.kinds.get(&kind).copied().unwrap_or_default()
    }

    /// Every kind with its delivery, defaults included.
    pub fn complete(mut self) -> Self {
        for k in NoticeKind::ALL {
            self.kinds.entry(k).or_default();
        }
        self
    }
}

/// A message on the per-user stream (`/ws/me`): a notice made or changed (a batch that
/// counted up, one marked read; mark-all-read sends each notice it changed). `unread` is
/// the count when the message is sent.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum StreamMessage {
    Notification {
        notification: Notification,
        unread: i64,
    },
    /// The stream's `since` is beyond the server's current version (another server, a
    /// reset database): fetch the inbox again; the stream goes on from `version`.
    Resync { version: i64 },
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(kind: &str, actor: Option<Uuid>, data: serde_json::Value) -> Event {
        Event {
            id: 7,
            kind: kind.into(),
            workspace_id: Uuid::from_u128(1),
            at: Utc::now(),
            actor,
            data,
        }
    }

    #[test]
    fn a_finished_job_tells_its_author_and_batches_by_outcome() {
        let author = Uuid::from_u128(9);
        let job = |status: &str| {
            serde_json::json!({"job": {"id": "3f2a0000-0000-0000-0000-000000000001",
                "author_id": author, "backend": "ideal", "status": status}})
        };
        let done = drafts_of(&event(kinds::JOB_COMPLETED, None, job("completed")), "Lab");
        assert_eq!(done.len(), 1);
        assert_eq!(done[0].to, Recipient::User(author));
        assert_eq!(done[0].kind, NoticeKind::Job);
        assert_eq!(done[0].title, "Job 3f2a0000 completed");
        let failed = drafts_of(&event(kinds::JOB_FAILED, None, job("failed")), "Lab");
        assert_ne!(done[0].batch, failed[0].batch);
        // Cancelling your own job tells nobody; someone else cancelling it does.
        assert!(
            drafts_of(
                &event(kinds::JOB_CANCELLED, Some(author), job("cancelled")),
                "Lab"
            )
            .is_empty()
        );
        assert_eq!(
            drafts_of(
                &event(
                    kinds::JOB_CANCELLED,
                    Some(Uuid::from_u128(3)),
                    job("cancelled")
                ),
                "Lab"
            )
            .len(),
            1
        );
        assert_eq!(
            batch_title(
                done[0].batch.as_deref().unwrap_or_default(),
                50,
                &done[0].title,
                "Lab"
            ),
            "50 jobs completed in Lab"
        );
        assert_eq!(
            batch_title("job.completed:x", 1, "Job a completed", "Lab"),
            "Job a completed"
        );
    }

    #[test]
    fn events_without_a_person_to_tell_draft_nothing() {
        let me = Uuid::from_u128(4);
        assert!(
            drafts_of(
                &event(kinds::JOB_STARTED, None, serde_json::json!({})),
                "Lab"
            )
            .is_empty()
        );
        // Adding yourself (creating the workspace) and changing your own role.
        assert!(
            drafts_of(
                &event(
                    kinds::MEMBER_ADDED,
                    Some(me),
                    serde_json::json!({"member": {"user_id": me, "role": "owner"}})
                ),
                "Lab"
            )
            .is_empty()
        );
        assert!(
            drafts_of(
                &event(
                    kinds::MEMBER_ROLE_CHANGED,
                    Some(me),
                    serde_json::json!({"user_id": me, "role": "viewer"})
                ),
                "Lab"
            )
            .is_empty()
        );
        assert!(
            drafts_of(
                &event(
                    kinds::CHAT_MESSAGE,
                    Some(me),
                    serde_json::json!({"text": "no mention"})
                ),
                "Lab"
            )
            .is_empty()
        );
        // Malformed data is not a panic.
        assert!(
            drafts_of(
                &event(kinds::JOB_COMPLETED, None, serde_json::json!({"job": 3})),
                "Lab"
            )
            .is_empty()
        );
    }

    #[test]
    fn mentions_match_whole_member_names_in_any_case() {
        let ada = Uuid::from_u128(1);
        let al = Uuid::from_u128(2);
        let bob = Uuid::from_u128(3);
        let members = vec![
            (ada, "Ada Lovelace".to_string()),
            (al, "Ada".to_string()),
            (bob, "bob".to_string()),
        ];
        assert_eq!(mentioned("hey @ada lovelace, look", &members), vec![ada]);
        assert_eq!(mentioned("@Ada: and @BOB!", &members), vec![al, bob]);
        assert_eq!(mentioned("@bobby is not bob", &members), Vec::<Uuid>::new());
        assert_eq!(mentioned("@bob @bob", &members), vec![bob]);
        assert_eq!(
            mentioned("mail bob@example.org", &members),
            Vec::<Uuid>::new()
        );
        assert_eq!(mentioned("trailing @", &members), Vec::<Uuid>::new());
    }

    #[test]
    fn prefs_default_to_live_and_parse_round_trips() {
        let p = NotificationPrefs::default();
        assert_eq!(p.delivery(NoticeKind::Mention), Delivery::Live);
        let all = p.complete();
        assert_eq!(all.kinds.len(), NoticeKind::ALL.len());
        for k in NoticeKind::ALL {
            assert_eq!(NoticeKind::parse(k.as_str()), Some(k));
        }
        for d in [Delivery::Live, Delivery::Digest, Delivery::Off] {
            assert_eq!(Delivery::parse(d.as_str()), Some(d));
        }
        let json = serde_json::json!({"kinds": {"job": "digest", "mention": "off"}});
        let parsed: NotificationPrefs = serde_json::from_value(json).unwrap();
        assert_eq!(parsed.delivery(NoticeKind::Job), Delivery::Digest);
        assert_eq!(parsed.delivery(NoticeKind::Mention), Delivery::Off);
    }
}
