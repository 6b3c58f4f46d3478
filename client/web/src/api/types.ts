// Wire types of the Qollab REST API (shared/src/api.rs), as the browser sees them.

export type Role = 'owner' | 'editor' | 'viewer'

export interface User {
  id: string; email: string; name: string; created_at: string; leaderboard_public?: boolean
  /** IANA name (`Europe/Berlin`) streaks and active days are counted in; null: UTC. */
  time_zone?: string | null
}

/** `GET`/`PATCH /api/me` (the organizations are not read by the app yet). */
export interface Me { user: User; organizations?: unknown[] }

/** `PATCH /api/me`: absent fields stay; `time_zone: ""` goes back to UTC. */
export interface UpdateMe { name?: string; leaderboard_public?: boolean; time_zone?: string }

export interface AuthResponse {
  user: User
  access_token: string
  refresh_token: string
  expires_in: number
  token_type: string
}

export interface Workspace {
  id: string
  org_id: string
  name: string
  description: string
  role: Role
  created_by: string
  created_at: string
  updated_at: string
}

export interface Member { user_id: string; email: string; name: string; role: Role; added_at: string }

export interface DocSummary { id: string; workspace_id: string; name: string; created_by: string; created_at: string; updated_at: string }

export interface DocProblem { code: string; message: string; op_index?: number | null; op_id?: string | null }

export interface DocStats {
  qubits: number
  clbits: number
  [key: string]: unknown
}

/** `GET /api/docs/{id}/versions/{version_id}/diff`: a version compared with now. */
export interface CircuitStats { qubits: number; clbits: number; total_gates: number; two_qubit_gates: number; depth: number; gate_counts: Record<string, number> }
export interface CircuitDiff {
  from: CircuitStats
  to: CircuitStats
  added: number
  removed: number
  changed: number
  added_by_gate: Record<string, number>
  removed_by_gate: Record<string, number>
  qubits?: [number, number]
  clbits?: [number, number]
}

export interface DocDetail extends DocSummary {
  stats: DocStats
  problems: DocProblem[]
  connected_peers: number
}

export interface DocVersion { id: string; name: string; kind: string; author_id: string | null; created_at: string }

export type JobKind = 'simulate' | 'optimize' | 'optimize_and_simulate'
export type JobStatus = 'queued' | 'running' | 'completed' | 'failed' | 'cancelled'

export interface Job {
  id: string
  workspace_id: string
  author_id: string
  status: JobStatus
  kind: JobKind
  backend: string
  shots: number
  seed: number | null
  optimization_level: number
  source_doc_id: string | null
  session_id?: string | null
  schedule_id?: string | null
  num_qubits: number
  progress: number
  queue_position: number | null
  error: string | null
  queued_at: string
  started_at: string | null
  finished_at: string | null
}

/**
 * One page of a list that can grow (every one has this shape): pass `next_cursor` as
 * `cursor` for the next page; it is absent or null on the last.
 */
export interface Page<T> { items: T[]; next_cursor?: string | null }
export type JobPage = Page<Job>

export interface CircuitStatsLike { qubits: number; clbits: number; gates?: number; two_qubit_gates?: number; depth?: number }

export interface JobResult {
  backend?: string
  counts?: Record<string, number>
  probabilities?: Record<string, number>
  shots?: number
  optimization?: { level: number; before: CircuitStatsLike; after: CircuitStatsLike; swaps_added: number; optimize_ms?: number }
  [key: string]: unknown
}

export interface BackendInfo {
  name: string
  kind: string
  available: boolean
  reason?: string | null
  num_qubits: number
  basis_gates: string[]
  queue_length: number
}

export interface ChatMessage { id: string; workspace_id: string; author_id: string; author_name: string; text: string; created_at: string }

export interface IbmSettings { instance: string; api_key_masked: string; updated_by: string; updated_at: string }

export interface WsEvent {
  id: number
  type: string
  workspace_id: string
  at: string
  actor: string | null
  data: Record<string, unknown>
}

export interface ApiErrorBody { error: { code: string; message: string; details?: unknown } }

// ---- Quantum Quest
export interface QuestHint { text: string; cost: number }
export interface QuestProgress { attempts: number; solved: boolean; best_score?: number; hints: QuestHint[] }
export interface QuestConstraints {
  allowed_gates?: string[]; required_gates?: string[]; max_gates?: number; max_depth?: number
  max_two_qubit_gates?: number; max_t_gates?: number
}
export interface QuestChallenge {
  key: string; title: string; tier: string; description: string; qubits: number
  target: { kind: 'state' | 'unitary' | 'distribution' }
  constraints: QuestConstraints; threshold: number; points: number
  par_gates: number; par_depth: number; starter_qasm: string; hint_costs: number[]
  progress: QuestProgress
}
export interface QuestViolation { code: string; message: string }
export interface QuestAttempt {
  id: string; challenge: string; passed: boolean; fidelity: number; threshold: number; score: number
  violations: QuestViolation[]; gates: number; depth: number; two_qubit_gates: number; t_gates: number
  hints_used: number; hint_cost: number; new_best: boolean; points_awarded: number; unlocked: string[]
  progress: QuestProgress; created_at: string
}
export interface QuestLeaderEntry { rank: number; user_id?: string; name: string; score: number; gates: number; depth: number; achieved_at: string }
export interface QuestLeaderboard { challenge: string; players: number; entries: QuestLeaderEntry[]; me?: QuestLeaderEntry }
export interface BlochTrace { num_qubits: number; moments: { instructions: number[]; vectors: [number, number, number][] }[] }

// ---- progress
export interface AchievementStatus { key: string; title: string; description: string; points: number; unlocked_at?: string; value: number; target: number }
export interface UserProgress {
  user_id: string; name: string; points: number; level: number; level_floor: number; next_level_at: number
  streak_days: number; best_streak_days: number; achievements: AchievementStatus[]
}
export interface PointsEntry { rank: number; user_id: string; name: string; points: number }
export interface PointsLeaderboard { window: 'week' | 'month' | 'all'; since?: string; entries: PointsEntry[] }

// ---- AI (shared/src/api.rs, shared/src/analysis.rs)
export interface AiUsage { prompt_tokens: number; completion_tokens: number }
export type Severity = 'info' | 'warning' | 'error'
/** A fact the engine computed about a circuit or job (never model output). */
export interface Finding { code: string; severity: Severity; message: string; numbers?: Record<string, number>; suggestion?: string | null }
/** `GET /api/jobs/{id}/analysis`; `offline`: no model was used, the text is the findings. */
export interface AiAnalysis {
  job_id: string; workspace_id: string
  status: 'running' | 'completed' | 'failed'
  trigger: 'automatic' | 'requested'
  text: string; findings: Finding[]; model: string | null; usage: AiUsage; offline: boolean
  error: string | null; created_at: string; finished_at: string | null
}
export type AiMessageStatus = 'completed' | 'running' | 'failed' | 'cancelled'
export interface AiMessage {
  id: string; workspace_id: string; doc_id: string | null
  role: 'user' | 'assistant'; author_id: string | null; reply_to: string | null
  content: string; status: AiMessageStatus; model: string | null; usage: AiUsage
  error: string | null; created_at: string
}
export interface PostAiMessageResponse { message: AiMessage; answer_id: string }
export interface AiSuggestion {
  id: string; workspace_id: string; doc_id: string; message_id: string | null; asked_by: string
  summary: string; qasm: string; status: 'pending' | 'accepted' | 'rejected'; decided_by: string | null; created_at: string
}

// ---- notifications (shared/src/notify.rs)
export type NoticeKind = 'job' | 'analysis' | 'mention' | 'membership' | 'achievement' | 'session'
export type Delivery = 'live' | 'digest' | 'off'
/** One notice in the signed-in person's inbox. `version` increases with every change to
 *  any of their notices (the stream's `since`); a batch counts up in place (`count`). */
export interface Notification {
  id: number
  kind: NoticeKind
  workspace_id: string | null
  title: string
  body: string
  /** A path of this app. */
  link: string
  count: number
  delivery: Delivery
  version: number
  read: boolean
  created_at: string
  updated_at: string
}
/** Newest first. */
export interface NotificationPage extends Page<Notification> { unread: number }
export interface NotificationPrefs { kinds: Partial<Record<NoticeKind, Delivery>> }
/** A message of `/ws/me`. */
export type NotifyMessage =
  | { type: 'notification'; notification: Notification; unread: number }
  | { type: 'resync'; version: number }

// ---- analytics (shared/src/analytics.rs): `GET /api/workspaces/{id}/analytics`
export type AnalyticsBucket = 'hour' | 'day' | 'week'
/** Jobs by status; `success_rate` = completed / (completed + failed), null when none ended. */
export interface AnalyticsJobCounts {
  total: number
  queued: number
  running: number
  completed: number
  failed: number
  cancelled: number
  success_rate: number | null
  shots: number
}
/** One bucket of the range (by submission time), empty ones included. */
export interface AnalyticsSeriesPoint extends AnalyticsJobCounts { start: string }
/** Nearest-rank percentiles in milliseconds over `count` jobs; null when none. */
export interface AnalyticsPercentiles { count: number; p50: number | null; p95: number | null; approximate?: boolean }
export interface AnalyticsOptimizer {
  jobs: number
  gates_before: number
  gates_after: number
  two_qubit_before: number
  two_qubit_after: number
  depth_before: number
  depth_after: number
  /** 1 − after/before over the gate sums (0..1); null without optimized jobs. */
  gates_saved: number | null
}
export interface AnalyticsBackend { backend: string; jobs: number; shots: number }
/** `name` is empty when the document was deleted since. */
export interface AnalyticsDocument { doc_id: string; name: string; jobs: number }
export interface AnalyticsMember { user_id: string; name: string; jobs: number; ai_requests: number; chat_messages: number; points: number }
export interface AnalyticsAiKind { kind: string; requests: number; prompt_tokens: number; completion_tokens: number }
export interface AnalyticsAi { requests: number; prompt_tokens: number; completion_tokens: number; by_kind: AnalyticsAiKind[] }
export interface Analytics {
  scope: 'workspace' | 'organization'
  scope_id: string
  from: string
  to: string
  bucket: AnalyticsBucket
  jobs: AnalyticsJobCounts
  /** Oldest first. */
  series: AnalyticsSeriesPoint[]
  queue_wait_ms: AnalyticsPercentiles
  run_time_ms: AnalyticsPercentiles
  optimizer: AnalyticsOptimizer
  /** Most jobs first. */
  backends: AnalyticsBackend[]
  /** Most-run first. */
  documents: AnalyticsDocument[]
  members: AnalyticsMember[]
  ai: AnalyticsAi
  points: { points: number; awards: number }
}
export interface AnalyticsQuery { from?: string; to?: string; bucket?: AnalyticsBucket }
