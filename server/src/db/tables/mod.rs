//! sea-orm entities, one file per table. Keep them in step with `qollab-migrations`.

pub mod ai_analyses;
pub mod ai_messages;
pub mod ai_requests;
pub mod ai_suggestions;
pub mod api_tokens;
pub mod audit_log;
pub mod chat_messages;
pub mod doc_snapshots;
pub mod doc_updates;
pub mod doc_versions;
pub mod docs;
pub mod events;
pub mod jobs;
pub mod org_memberships;
pub mod organizations;
pub mod refresh_tokens;
pub mod runtime_sessions;
pub mod schedules;
pub mod sessions;
pub mod users;
pub mod workspace_ai_settings;
pub mod workspace_ibm_settings;
pub mod workspace_members;
pub mod workspaces;
