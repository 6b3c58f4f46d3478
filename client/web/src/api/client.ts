// The REST client: bearer tokens, quiet refresh (single flight), typed errors.
import type {
  AuthResponse, BackendInfo, ChatMessage, DocDetail, DocSummary, DocVersion, IbmSettings, Job,
  JobKind, JobPage, JobResult, Page, Member, Role, User, Workspace, QuestChallenge, QuestAttempt,
  QuestLeaderboard, BlochTrace, UserProgress, PointsLeaderboard, AiAnalysis, AiMessage, AiSuggestion,
  PostAiMessageResponse, Notification, NotificationPage, NotificationPrefs, CircuitDiff,
  Analytics, AnalyticsQuery, Me, UpdateMe,
} from './types'

export class ApiError extends Error {
  constructor(
    public status: number,
    public code: string,
    message: string,
    public details?: unknown,
  ) {
    super(message)
    this.name = 'ApiError'
  }

  /** `line:col` of an OpenQASM parse error, when the server reported one. */
  get position(): { line: number; col: number } | null {
    const d = this.details as { line?: unknown; col?: unknown } | undefined
    if (d && typeof d.line === 'number' && typeof d.col === 'number') return { line: d.line, col: d.col }
    return null
  }
}

export interface Session { user: User; access_token: string; refresh_token: string; expires_at: number }

/** Where the session lives between reloads; localStorage in the browser, memory in tests. */
export interface SessionStore {
  load(): Session | null
  save(s: Session | null): void
}

export class MemoryStore implements SessionStore {
  private s: Session | null = null
  load() { return this.s }
  save(s: Session | null) { this.s = s }
}

export class LocalStore implements SessionStore {
  constructor(private key = 'qollab.session') {}
  load(): Session | null {
    try {
      const raw = localStorage.getItem(this.key)
      return raw ? (JSON.parse(raw) as Session) : null
    } catch {
      return null
    }
  }
  save(s: Session | null) {
    if (s) localStorage.setItem(this.key, JSON.stringify(s))
    else localStorage.removeItem(this.key)
  }
}

type Fetch = typeof fetch

export interface ClientOptions {
  base?: string
  store?: SessionStore
  fetch?: Fetch
  now?: () => number
  /** Called when the session ends (logout, refresh refused). */
  onSignedOut?: () => void
}

/**
 * The file name of a `content-disposition` header (`filename*=UTF-8''…` preferred over
 * `filename="…"`), without any directory part; null when it names none.
 */
export function filenameFromDisposition(header: string | null | undefined): string | null {
  if (!header) return null
  let name: string | null = null
  const star = /filename\*\s*=\s*([^;]+)/i.exec(header)
  if (star?.[1]) {
    const v = star[1].trim().replace(/^"(.*)"$/, '$1')
    const i = v.indexOf("''")
    try {
      name = decodeURIComponent(i >= 0 ? v.slice(i + 2) : v)
    } catch {
      name = null
    }
  }
  if (!name) {
    const plain = /filename\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^;]+))/i.exec(header)
    name = plain ? (plain[1] !== undefined ? plain[1].replace(/\\(.)/g, '$1') : (plain[2] ?? '').trim()) : null
  }
  const base = name?.split(/[\\/]/).pop()?.trim()
  return base ? base : null
}

function q(params: Record<string, string | number | undefined | null>): string {
  const s = new URLSearchParams()
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') s.set(k, String(v))
  const t = s.toString()
  return t ? `?${t}` : ''
}

export class Api {
  readonly base: string
  private store: SessionStore
  private fetchImpl: Fetch
  private now: () => number
  private refreshing: Promise<Session | null> | null = null
  private current: Session | null
  private listeners = new Set<(s: Session | null) => void>()
  onSignedOut?: () => void

  constructor(opts: ClientOptions = {}) {
    this.base = opts.base ?? ''
    this.store = opts.store ?? new MemoryStore()
    this.fetchImpl = opts.fetch ?? ((...a) => fetch(...a))
    this.now = opts.now ?? (() => Date.now())
    this.onSignedOut = opts.onSignedOut
    this.current = this.store.load()
  }

  /** The current session; the same object until it changes (a stable React snapshot). */
  get session(): Session | null { return this.current }

  subscribe(fn: (s: Session | null) => void): () => void {
    this.listeners.add(fn)
    return () => this.listeners.delete(fn)
  }

  private setSession(s: Session | null) {
    this.current = s
    this.store.save(s)
    for (const l of this.listeners) l(s)
  }

  private adopt(r: AuthResponse): Session {
    const s: Session = {
      user: r.user,
      access_token: r.access_token,
      refresh_token: r.refresh_token,
      expires_at: this.now() + r.expires_in * 1000,
    }
    this.setSession(s)
    return s
  }

  /** A usable access token: the stored one, or a refreshed one when it is (nearly) expired. */
  async accessToken(): Promise<string | null> {
    const s = this.current
    if (!s) return null
    if (s.expires_at - this.now() > 30_000) return s.access_token
    const r = await this.refresh()
    return r ? r.access_token : null
  }

  /**
   * A short-lived token that opens one document's socket (five minutes, that document
   * only, the caller's role at most), so the access token stays out of WebSocket URLs.
   */
  async docConnectToken(docId: string): Promise<string | null> {
    try {
      const r = await this.json<{ token: string }>('POST', `/api/docs/${encodeURIComponent(docId)}/connect`)
      return r.token
    } catch {
      return null
    }
  }

  /** Rotates the refresh token once, however many callers ask at the same time. */
  refresh(): Promise<Session | null> {
    if (!this.refreshing) {
      this.refreshing = (async () => {
        const s = this.current
        if (!s) return null
        try {
          const res = await this.fetchImpl(`${this.base}/api/auth/refresh`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ refresh_token: s.refresh_token }),
          })
          if (res.ok) return this.adopt((await res.json()) as AuthResponse)
          if (res.status === 401 || res.status === 400 || res.status === 422) {
            this.setSession(null)
            this.onSignedOut?.()
          }
          return null
        } catch {
          return null // offline: keep the session, try again later
        }
      })().finally(() => {
        this.refreshing = null
      })
    }
    return this.refreshing
  }

  private async raw(method: string, path: string, body?: unknown, opts: { auth?: boolean; text?: boolean } = {}): Promise<Response> {
    const send = async (token: string | null) => {
      const headers: Record<string, string> = {}
      if (token) headers.authorization = `Bearer ${token}`
      let payload: BodyInit | undefined
      if (body !== undefined) {
        if (opts.text) {
          headers['content-type'] = 'text/plain; charset=utf-8'
          payload = String(body)
        } else {
          headers['content-type'] = 'application/json'
          payload = JSON.stringify(body)
        }
      }
      return this.fetchImpl(`${this.base}${path}`, { method, headers, body: payload })
    }
    const auth = opts.auth ?? true
    let res = await send(auth ? await this.accessToken() : null)
    if (auth && res.status === 401 && this.current) {
      const s = await this.refresh()
      if (s) res = await send(s.access_token)
    }
    return res
  }

  private async fail(res: Response): Promise<never> {
    let code = 'http_error'
    let message = `${res.status} ${res.statusText}`
    let details: unknown
    try {
      const b = (await res.json()) as { error?: { code?: string; message?: string; details?: unknown } }
      if (b.error) {
        code = b.error.code ?? code
        message = b.error.message ?? message
        details = b.error.details
      }
    } catch {
      /* not JSON */
    }
    // A used-up quota (`details.quota`) says so itself; other 429s are too many attempts.
    const quota = typeof details === 'object' && details !== null && 'quota' in details
    if (res.status === 429 && !quota) message = `Too many attempts; ${message}`
    throw new ApiError(res.status, code, message, details)
  }

  /** Every item of a paged list, following `next_cursor` page by page. */
  async all<T>(path: string): Promise<T[]> {
    const items: T[] = []
    const sep = path.includes('?') ? '&' : '?'
    let cursor: string | null = null
    for (;;) {
      const page: Page<T> = await this.json<Page<T>>('GET', `${path}${sep}limit=200${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`)
      items.push(...page.items)
      const next = page.next_cursor ?? null
      // An empty page or a cursor that does not move would loop forever.
      if (!next || next === cursor || page.items.length === 0) return items
      cursor = next
    }
  }

  async json<T>(method: string, path: string, body?: unknown, opts: { auth?: boolean; text?: boolean } = {}): Promise<T> {
    const res = await this.raw(method, path, body, opts)
    if (!res.ok) return this.fail(res)
    if (res.status === 204) return undefined as T
    const ct = res.headers.get('content-type') ?? ''
    return (ct.includes('json') ? await res.json() : await res.text()) as T
  }

  async blob(path: string): Promise<Blob> {
    const res = await this.raw('GET', path)
    if (!res.ok) return this.fail(res)
    return res.blob()
  }

  // ---- identity
  async register(email: string, password: string, name: string): Promise<Session> {
    return this.adopt(await this.json<AuthResponse>('POST', '/api/auth/register', { email, password, name }, { auth: false }))
  }
  async login(email: string, password: string): Promise<Session> {
    return this.adopt(await this.json<AuthResponse>('POST', '/api/auth/login', { email, password }, { auth: false }))
  }
  async logout(): Promise<void> {
    const s = this.current
    if (s) {
      try {
        await this.raw('POST', '/api/auth/logout', { refresh_token: s.refresh_token })
      } catch {
        /* the local session ends regardless */
      }
    }
    this.setSession(null)
  }
  async me(): Promise<Me> { return this.noteUser(await this.json<Me>('GET', '/api/me')) }
  /** Changes your display name, whether you appear on the global leaderboard and/or your
   *  time zone (an IANA name; the server answers 422 invalid_input for one it does not know). */
  async updateMe(body: UpdateMe): Promise<Me> { return this.noteUser(await this.json<Me>('PATCH', '/api/me', body)) }

  /** Keeps the session's copy of the signed-in person as the server last described them. */
  private noteUser(me: Me): Me {
    const s = this.current
    if (s && me?.user && me.user.id === s.user.id && JSON.stringify(me.user) !== JSON.stringify(s.user)) {
      this.setSession({ ...s, user: me.user })
    }
    return me
  }

  // ---- feature discovery
  openapi() { return this.json<{ paths?: Record<string, unknown> }>('GET', '/api/openapi.json', undefined, { auth: false }) }

  // ---- workspaces
  workspaces() { return this.json<Workspace[]>('GET', '/api/workspaces') }
  workspace(id: string) { return this.json<Workspace>('GET', `/api/workspaces/${id}`) }
  createWorkspace(name: string, description?: string) { return this.json<Workspace>('POST', '/api/workspaces', { name, description }) }
  members(ws: string) { return this.all<Member>(`/api/workspaces/${ws}/members`) }
  addMember(ws: string, email: string, role: Role) { return this.json<Member>('POST', `/api/workspaces/${ws}/members`, { email, role }) }
  setRole(ws: string, user: string, role: Role) { return this.json<Member>('PATCH', `/api/workspaces/${ws}/members/${user}`, { role }) }
  removeMember(ws: string, user: string) { return this.json<void>('DELETE', `/api/workspaces/${ws}/members/${user}`) }

  // ---- documents
  docs(ws: string) { return this.all<DocSummary>(`/api/workspaces/${ws}/docs`) }
  createDoc(ws: string, name: string, qasm?: string) { return this.json<DocSummary>('POST', `/api/workspaces/${ws}/docs`, { name, qasm }) }
  doc(id: string) { return this.json<DocDetail>('GET', `/api/docs/${id}`) }
  renameDoc(id: string, name: string) { return this.json<DocSummary>('PATCH', `/api/docs/${id}`, { name }) }
  qasm(id: string) { return this.json<string>('GET', `/api/docs/${id}/qasm`) }
  putQasm(id: string, qasm: string) { return this.json<DocDetail>('PUT', `/api/docs/${id}/qasm`, qasm, { text: true }) }
  versions(id: string) { return this.all<DocVersion>(`/api/docs/${id}/versions`) }
  versionDiff(id: string, version_id: string) { return this.json<CircuitDiff>('GET', `/api/docs/${id}/versions/${version_id}/diff`) }
  createVersion(id: string, name: string) { return this.json<DocVersion>('POST', `/api/docs/${id}/versions`, { name }) }
  restore(id: string, version_id: string) { return this.json<DocDetail>('POST', `/api/docs/${id}/restore`, { version_id }) }

  // ---- jobs
  backends() { return this.json<BackendInfo[]>('GET', '/api/backends') }
  submit(ws: string, req: { doc_id: string; backend: string; shots: number; optimization_level: number; kind: JobKind }) {
    return this.json<Job>('POST', `/api/workspaces/${ws}/jobs`, {
      source: { doc_id: req.doc_id }, backend: req.backend, shots: req.shots,
      optimization_level: req.optimization_level, kind: req.kind,
    })
  }
  jobs(ws: string, f: { status?: string; backend?: string; cursor?: string | null; limit?: number } = {}) {
    return this.json<JobPage>('GET', `/api/workspaces/${ws}/jobs${q({ status: f.status, backend: f.backend, cursor: f.cursor, limit: f.limit })}`)
  }
  job(id: string) { return this.json<Job>('GET', `/api/jobs/${id}`) }
  result(id: string) { return this.json<JobResult>('GET', `/api/jobs/${id}/result`) }
  cancel(id: string) { return this.json<Job>('POST', `/api/jobs/${id}/cancel`) }
  artifact(id: string, name: string) { return this.blob(`/api/jobs/${id}/artifacts/${encodeURIComponent(name)}`) }

  // ---- analytics (any member)
  analytics(ws: string, f: AnalyticsQuery = {}) {
    return this.json<Analytics>('GET', `/api/workspaces/${ws}/analytics${q({ from: f.from, to: f.to, bucket: f.bucket })}`)
  }
  /** The same numbers as CSV (`section,start,key,metric,value`), with the server's file name. */
  async analyticsCsv(ws: string, f: AnalyticsQuery = {}): Promise<{ blob: Blob; filename: string | null }> {
    const res = await this.raw('GET', `/api/workspaces/${ws}/analytics${q({ from: f.from, to: f.to, bucket: f.bucket, format: 'csv' })}`)
    if (!res.ok) return this.fail(res)
    return { blob: await res.blob(), filename: filenameFromDisposition(res.headers.get('content-disposition')) }
  }

  // ---- chat
  /** The newest chat messages first; `cursor` pages back. */
  chat(ws: string, cursor?: string | null) { return this.json<Page<ChatMessage>>('GET', `/api/workspaces/${ws}/chat${q({ cursor, limit: 100 })}`) }
  postChat(ws: string, text: string) { return this.json<ChatMessage>('POST', `/api/workspaces/${ws}/chat`, { text }) }

  // ---- settings
  ibm(ws: string) { return this.json<IbmSettings | null>('GET', `/api/workspaces/${ws}/settings/ibm`) }
  putIbm(ws: string, api_key: string, instance: string) { return this.json<IbmSettings>('PUT', `/api/workspaces/${ws}/settings/ibm`, { api_key, instance }) }

  // ---- Quantum Quest and progress
  challenges() { return this.json<QuestChallenge[]>('GET', '/api/quest/challenges') }
  challenge(key: string) { return this.json<QuestChallenge>('GET', `/api/quest/challenges/${encodeURIComponent(key)}`) }
  attempt(key: string, qasm: string) { return this.json<QuestAttempt>('POST', `/api/quest/challenges/${encodeURIComponent(key)}/attempts`, { qasm }) }
  revealHint(key: string, index: number) {
    return this.json<{ index: number; text: string; cost: number; revealed: number }>('POST', `/api/quest/challenges/${encodeURIComponent(key)}/hints/${index}`)
  }
  questLeaderboard(key: string) { return this.json<QuestLeaderboard>('GET', `/api/quest/challenges/${encodeURIComponent(key)}/leaderboard${q({ limit: 10 })}`) }
  bloch(qasm: string) { return this.json<BlochTrace>('POST', '/api/quest/bloch', { qasm }) }
  myProgress() { return this.json<UserProgress>('GET', '/api/me/progress') }
  leaderboard(ws: string, window: 'week' | 'month' | 'all') { return this.json<PointsLeaderboard>('GET', `/api/workspaces/${ws}/leaderboard${q({ window })}`) }
  orgLeaderboard(org: string, window: 'week' | 'month' | 'all') { return this.json<PointsLeaderboard>('GET', `/api/orgs/${org}/leaderboard${q({ window })}`) }
  /** Everyone who chose to appear (PATCH /api/me {leaderboard_public}). */
  globalLeaderboard(window: 'week' | 'month' | 'all') { return this.json<PointsLeaderboard>('GET', `/api/leaderboard${q({ window })}`) }

  // ---- AI: the workspace's assistant and job analyses
  /** A thread (the workspace's, or a document's), newest first; `cursor` pages back. */
  aiMessages(ws: string, f: { docId?: string | null; cursor?: string | null; limit?: number } = {}) {
    return this.json<Page<AiMessage>>('GET', `/api/workspaces/${ws}/ai/messages${q({ doc_id: f.docId, cursor: f.cursor, limit: f.limit })}`)
  }
  /** 202: the question is stored; the answer streams as `ai.message.*` events. */
  askAi(ws: string, content: string, docId?: string | null) {
    return this.json<PostAiMessageResponse>('POST', `/api/workspaces/${ws}/ai/messages`, docId ? { content, doc_id: docId } : { content })
  }
  cancelAiMessage(ws: string, answerId: string) { return this.json<AiMessage>('POST', `/api/workspaces/${ws}/ai/messages/${answerId}/cancel`) }
  aiSuggestions(ws: string, status?: 'pending' | 'accepted' | 'rejected') {
    return this.json<AiSuggestion[]>('GET', `/api/workspaces/${ws}/ai/suggestions${q({ status })}`)
  }
  decideSuggestion(ws: string, id: string, decision: 'accept' | 'reject') {
    return this.json<AiSuggestion>('POST', `/api/workspaces/${ws}/ai/suggestions/${id}/${decision}`)
  }
  /** The job's analysis; `null` when it has none (404). */
  async analysis(jobId: string): Promise<AiAnalysis | null> {
    try {
      return await this.json<AiAnalysis>('GET', `/api/jobs/${jobId}/analysis`)
    } catch (e) {
      if (e instanceof ApiError && e.status === 404) return null
      throw e
    }
  }
  /** 202: analyses a finished job (again); it streams as `ai.analysis.*` events. */
  explainJob(jobId: string) { return this.json<AiAnalysis>('POST', `/api/jobs/${jobId}/analysis`) }

  // ---- notifications: the signed-in person's inbox (live over /ws/me)
  notifications(f: { cursor?: string | null; limit?: number; unread?: boolean } = {}) {
    return this.json<NotificationPage>('GET', `/api/me/notifications${q({ cursor: f.cursor, limit: f.limit, unread: f.unread ? 'true' : undefined })}`)
  }
  markRead(id: number) { return this.json<Notification>('POST', `/api/me/notifications/${id}/read`) }
  markAllRead() { return this.json<{ marked: number }>('POST', '/api/me/notifications/read-all') }
  notificationPrefs() { return this.json<NotificationPrefs>('GET', '/api/me/notification-preferences') }
  putNotificationPrefs(p: NotificationPrefs) { return this.json<NotificationPrefs>('PUT', '/api/me/notification-preferences', p) }

  /** Absolute ws:// or wss:// URL for a socket path on this origin. */
  wsUrl(path: string): string {
    const base = this.base || window.location.origin
    return base.replace(/^http/, 'ws') + path
  }
}
