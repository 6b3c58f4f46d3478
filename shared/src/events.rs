//! The live workspace event: what `GET /ws/workspaces/{id}` carries, one JSON object per
//! text frame, and what `?since=` replays.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// Event types. Job events carry the job (`data.job`); progress carries
/// `data.job_id` and `data.progress` in [0, 1].
pub mod kinds {
    pub const JOB_CREATED: &str = "job.created";
    pub const JOB_QUEUED: &str = "job.queued";
    pub const JOB_STARTED: &str = "job.started";
    pub const JOB_PROGRESS: &str = "job.progress";
    pub const JOB_COMPLETED: &str = "job.completed";
    pub const JOB_FAILED: &str = "job.failed";
    pub const JOB_CANCELLED: &str = "job.cancelled";
    /// `data.session`: a runtime session was opened / closed (`data.session.close_reason`).
    pub const SESSION_OPENED: &str = "session.opened";
    pub const SESSION_CLOSED: &str = "session.closed";
    /// `data.schedule`, and `data.job_id` or `data.error`: a schedule's occurrence fired.
    pub const SCHEDULE_FIRED: &str = "schedule.fired";
    pub const DOC_CREATED: &str = "doc.created";
    pub const DOC_DELETED: &str = "doc.deleted";
    pub const DOC_RESTORED: &str = "doc.restored";
    /// `data.doc_id`, `data.users` (who joins the group now), `data.editors` (its size):
    /// at least four people edited the document live within ten minutes of each other
    /// (said once per person while the document stays open on a server).
    pub const DOC_CO_EDITED: &str = "doc.co_edited";
    pub const MEMBER_ADDED: &str = "member.added";
    pub const MEMBER_REMOVED: &str = "member.removed";
    pub const MEMBER_ROLE_CHANGED: &str = "member.role_changed";
    /// `data.user_id`, `data.name`: a user opened their first event stream of the workspace
    /// on a server / closed their last one there (after a short grace, so a reconnect
    /// says nothing). Transient: see [`is_transient`].
    pub const PRESENCE_JOINED: &str = "presence.joined";
    pub const PRESENCE_LEFT: &str = "presence.left";
    pub const CHAT_MESSAGE: &str = "chat.message";
    /// `data.job_id`, `data.trigger` (`automatic` | `requested`): an AI analysis of a
    /// job began.
    pub const AI_ANALYSIS_STARTED: &str = "ai.analysis.started";
    /// `data.job_id`, `data.delta`: the next piece of the analysis text (coalesced, at
    /// most ~20 per second). Transient: `ai.analysis.completed` carries the whole text.
    pub const AI_ANALYSIS_DELTA: &str = "ai.analysis.delta";
    /// `data` is the whole [`crate::api::AiAnalysis`] (text, findings, model, usage, offline).
    pub const AI_ANALYSIS_COMPLETED: &str = "ai.analysis.completed";
    /// `data.job_id`, `data.reason`.
    pub const AI_ANALYSIS_FAILED: &str = "ai.analysis.failed";
    /// `data.message` (the question, [`crate::api::AiMessage`]) and `data.answer_id`.
    pub const AI_MESSAGE_CREATED: &str = "ai.message.created";
    /// `data.message_id`, `data.delta`: the next piece of the answer. Transient:
    /// `ai.message.completed` carries the whole text.
    pub const AI_MESSAGE_DELTA: &str = "ai.message.delta";
    /// `data.message_id`, `data.text`, `data.usage`, `data.model`, `data.offline`.
    pub const AI_MESSAGE_COMPLETED: &str = "ai.message.completed";
    /// `data.message_id`, `data.reason`, `data.cancelled`.
    pub const AI_MESSAGE_FAILED: &str = "ai.message.failed";
    /// `data.suggestion` ([`crate::api::AiSuggestion`]): the assistant proposed an edit.
    pub const AI_SUGGESTION_CREATED: &str = "ai.suggestion.created";
    /// `data.suggestion`: an editor accepted or rejected it.
    pub const AI_SUGGESTION_DECIDED: &str = "ai.suggestion.decided";
    /// `data: {user_id, name, key, title, description, points}`: a member unlocked an
    /// achievement (by activity in this workspace).
    pub const ACHIEVEMENT_UNLOCKED: &str = "achievement.unlocked";
    /// `data: {user_id, points, total, reason}`: points were added to a member's ledger.
    pub const POINTS_AWARDED: &str = "points.awarded";
    /// `data: {user_id, name, level, points}`: a member reached a new level.
    pub const LEVEL_REACHED: &str = "level.reached";
    /// Sent instead of a replay when the client is further behind than the server keeps
    /// events: reload the state over REST, then follow from `data.latest`.
    pub const RESYNC: &str = "resync";

    /// Transient events (presence, streamed AI text) are pushed to the streams open at
    /// that moment and never stored nor replayed; their `id` is the stream's current
    /// position (the last stored event it sent), which they do not move.
    pub fn is_transient(kind: &str) -> bool {
        kind.starts_with("presence.") || kind == AI_ANALYSIS_DELTA || kind == AI_MESSAGE_DELTA
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Event {
    /// Increases by one per event of the workspace; pass the last one seen as `?since=`.
    pub id: i64,
    #[serde(rename = "type")]
    pub kind: String,
    pub workspace_id: Uuid,
    pub at: DateTime<Utc>,
    pub actor: Option<Uuid>,
    pub data: serde_json::Value,
}
