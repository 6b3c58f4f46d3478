// Wire types of the Qollab REST API (shared/src/api.rs), as the browser sees them.

export type Role = 'owner' | 'editor' | 'viewer'

export interface User { id: string; email: string; name: string; created_at: string }

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

export interface JobPage { jobs: Job[]; next_cursor?: string | null }

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
