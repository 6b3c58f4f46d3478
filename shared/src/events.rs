//! The live workspace event: what `GET /ws/workspaces/{id}` carries, one JSON object per
//! text frame, and what `?since=` replays.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

crate::wire_enum!(
    /// An event's `type` (see [`kinds`] for what each carries).
    EventKind {
        JobCreated = "job.created",
        JobQueued = "job.queued",
        JobStarted = "job.started",
        JobProgress = "job.progress",
        JobCompleted = "job.completed",
        JobFailed = "job.failed",
        JobCancelled = "job.cancelled",
        SessionOpened = "session.opened",
        SessionClosed = "session.closed",
        ScheduleFired = "schedule.fired",
        DocCreated = "doc.created",
        DocDeleted = "doc.deleted",
        DocRestored = "doc.restored",
        DocCoEdited = "doc.co_edited",
        MemberAdded = "member.added",
        MemberRemoved = "member.removed",
        MemberRoleChanged = "member.role_changed",
        PresenceJoined = "presence.joined",
        PresenceLeft = "presence.left",
        ChatMessage = "chat.message",
        AiAnalysisStarted = "ai.analysis.started",
        AiAnalysisDelta = "ai.analysis.delta",
        AiAnalysisCompleted = "ai.analysis.completed",
        AiAnalysisFailed = "ai.analysis.failed",
        AiMessageCreated = "ai.message.created",
        AiMessageDelta = "ai.message.delta",
        AiMessageCompleted = "ai.message.completed",
        AiMessageFailed = "ai.message.failed",
        AiSuggestionCreated = "ai.suggestion.created",
        AiSuggestionDecided = "ai.suggestion.decided",
        AchievementUnlocked = "achievement.unlocked",
        PointsAwarded = "points.awarded",
        LevelReached = "level.reached",
        Resync = "resync",
    }
);

/// Event types, as constants (from [`EventKind`]). Job events carry the job (`data.job`);
/// progress carries `data.job_id` and `data.progress` in [0, 1].
pub mod kinds {
    use super::EventKind;

    pub const JOB_CREATED: &str = EventKind::JobCreated.as_str();
    pub const JOB_QUEUED: &str = EventKind::JobQueued.as_str();
    pub const JOB_STARTED: &str = EventKind::JobStarted.as_str();
    pub const JOB_PROGRESS: &str = EventKind::JobProgress.as_str();
    pub const JOB_COMPLETED: &str = EventKind::JobCompleted.as_str();
    pub const JOB_FAILED: &str = EventKind::JobFailed.as_str();
    pub const JOB_CANCELLED: &str = EventKind::JobCancelled.as_str();
    /// `data.session`: a runtime session was opened / closed (`data.session.close_reason`).
    pub const SESSION_OPENED: &str = EventKind::SessionOpened.as_str();
    pub const SESSION_CLOSED: &str = EventKind::SessionClosed.as_str();
    /// `data.schedule`, and `data.job_id` or `data.error`: a schedule's occurrence fired.
    pub const SCHEDULE_FIRED: &str = EventKind::ScheduleFired.as_str();
    pub const DOC_CREATED: &str = EventKind::DocCreated.as_str();
    pub const DOC_DELETED: &str = EventKind::DocDeleted.as_str();
    pub const DOC_RESTORED: &str = EventKind::DocRestored.as_str();
    /// `data.doc_id`, `data.users` (who joins the group now), `data.editors` (its size):
    /// at least four people edited the document live within ten minutes of each other
    /// (said once per person while the document stays open on a server).
    pub const DOC_CO_EDITED: &str = EventKind::DocCoEdited.as_str();
    pub const MEMBER_ADDED: &str = EventKind::MemberAdded.as_str();
    pub const MEMBER_REMOVED: &str = EventKind::MemberRemoved.as_str();
    pub const MEMBER_ROLE_CHANGED: &str = EventKind::MemberRoleChanged.as_str();
    /// `data.user_id`, `data.name`: a user opened their first event stream of the workspace
    /// on a server / closed their last one there (after a short grace, so a reconnect
    /// says nothing). Transient: see [`is_transient`].
    pub const PRESENCE_JOINED: &str = EventKind::PresenceJoined.as_str();
    pub const PRESENCE_LEFT: &str = EventKind::PresenceLeft.as_str();
    pub const CHAT_MESSAGE: &str = EventKind::ChatMessage.as_str();
    /// `data.job_id`, `data.trigger` (`automatic` | `requested`): an AI analysis of a
    /// job began.
    pub const AI_ANALYSIS_STARTED: &str = EventKind::AiAnalysisStarted.as_str();
    /// `data.job_id`, `data.delta`: the next piece of the analysis text (coalesced, at
    /// most ~20 per second). Transient: `ai.analysis.completed` carries the whole text.
    pub const AI_ANALYSIS_DELTA: &str = EventKind::AiAnalysisDelta.as_str();
    /// `data` is the whole [`crate::api::AiAnalysis`] (text, findings, model, usage, offline).
    pub const AI_ANALYSIS_COMPLETED: &str = EventKind::AiAnalysisCompleted.as_str();
    /// `data.job_id`, `data.reason`.
    pub const AI_ANALYSIS_FAILED: &str = EventKind::AiAnalysisFailed.as_str();
    /// `data.message` (the question, [`crate::api::AiMessage`]) and `data.answer_id`.
    pub const AI_MESSAGE_CREATED: &str = EventKind::AiMessageCreated.as_str();
    /// `data.message_id`, `data.delta`: the next piece of the answer. Transient:
    /// `ai.message.completed` carries the whole text.
    pub const AI_MESSAGE_DELTA: &str = EventKind::AiMessageDelta.as_str();
    /// `data.message_id`, `data.text`, `data.usage`, `data.model`, `data.offline`.
    pub const AI_MESSAGE_COMPLETED: &str = EventKind::AiMessageCompleted.as_str();
    /// `data.message_id`, `data.reason`, `data.cancelled`.
    pub const AI_MESSAGE_FAILED: &str = EventKind::AiMessageFailed.as_str();
    /// `data.suggestion` ([`crate::api::AiSuggestion`]): the assistant proposed an edit.
    pub const AI_SUGGESTION_CREATED: &str = EventKind::AiSuggestionCreated.as_str();
    /// `data.suggestion`: an editor accepted or rejected it.
    pub const AI_SUGGESTION_DECIDED: &str = EventKind::AiSuggestionDecided.as_str();
    /// `data: {user_id, name, key, title, description, points}`: a member unlocked an
    /// achievement (by activity in this workspace).
    pub const ACHIEVEMENT_UNLOCKED: &str = EventKind::AchievementUnlocked.as_str();
    /// `data: {user_id, points, total, reason}`: points were added to a member's ledger.
    pub const POINTS_AWARDED: &str = EventKind::PointsAwarded.as_str();
    /// `data: {user_id, name, level, points}`: a member reached a new level.
    pub const LEVEL_REACHED: &str = EventKind::LevelReached.as_str();
    /// Sent instead of a replay when the client is further behind than the server keeps
    /// events: reload the state over REST, then follow from `data.latest`.
    pub const RESYNC: &str = EventKind::Resync.as_str();

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
    #[schema(value_type = EventKind)]
    pub kind: String,
    pub workspace_id: Uuid,
    pub at: DateTime<Utc>,
    pub actor: Option<Uuid>,
    pub data: serde_json::Value,
}

crate::page!(
    /// A workspace's stored events, newest first (transient ones are never stored).
    EventPage of Event
);
