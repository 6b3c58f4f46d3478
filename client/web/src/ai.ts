// The AI events of the workspace stream (ai.message.*, ai.analysis.*) folded into plain
// state, with no React in sight so that the folding is unit-tested (ai.test.ts).
//
// The server stores an answer's text only when it ends (the REST thread shows a running
// answer as empty), so the text written so far lives here, built from the deltas. Events
// carry the workspace's event id, increasing by one per event: a delta at or below the
// last one folded into an answer is a replay and is ignored, and `completed` carries the
// whole text, which replaces whatever the deltas built (a client that joined late, or
// missed pieces across a reconnect, ends with the same text as everyone else).
import type { AiAnalysis, AiMessage, AiMessageStatus, AiSuggestion, AiUsage, Finding, PostAiMessageResponse, Severity, WsEvent } from './api/types'

export interface LiveAnswer {
  id: string
  /** The thread: a document's id, `null` for the workspace's, `undefined` while unknown. */
  thread: string | null | undefined
  replyTo: string | null
  text: string
  status: AiMessageStatus
  offline: boolean
  model: string | null
  usage: AiUsage | null
  error: string | null
  /** The last event folded into this answer. */
  seen: number
}

/** Questions and answers seen live, by id. */
export interface AiLive {
  questions: Record<string, AiMessage>
  answers: Record<string, LiveAnswer>
}

export const emptyLive: AiLive = { questions: {}, answers: {} }

const str = (v: unknown): string | null => (typeof v === 'string' ? v : null)
const eventId = (ev: WsEvent) => (typeof ev.id === 'number' ? ev.id : 0)

function answerOf(live: AiLive, id: string): LiveAnswer {
  return live.answers[id] ?? {
    id, thread: undefined, replyTo: null, text: '', status: 'running', offline: false, model: null, usage: null, error: null, seen: 0,
  }
}

function withAnswer(live: AiLive, a: LiveAnswer): AiLive {
  return { ...live, answers: { ...live.answers, [a.id]: a } }
}

/** A question and the id of its answer (the POST's 202, or `ai.message.created`). */
export function noteAsked(live: AiLive, r: PostAiMessageResponse): AiLive {
  const q = r.message
  const known = live.answers[r.answer_id]
  const a = answerOf(live, r.answer_id)
  const next = { ...a, thread: q.doc_id ?? null, replyTo: q.id }
  if (live.questions[q.id] && known && known.thread === next.thread && known.replyTo === next.replyTo) return live
  return { questions: { ...live.questions, [q.id]: q }, answers: { ...live.answers, [a.id]: next } }
}

/** Folds one `ai.message.*` event; returns `live` itself when nothing changed. */
export function foldAiEvent(live: AiLive, ev: WsEvent): AiLive {
  const d = ev.data
  switch (ev.type) {
    case 'ai.message.created': {
      const message = d.message as AiMessage | undefined
      const answerId = str(d.answer_id)
      if (!message || !answerId) return live
      return noteAsked(live, { message, answer_id: answerId })
    }
    case 'ai.message.delta': {
      const id = str(d.message_id)
      const delta = str(d.delta)
      if (!id || delta === null) return live
      const a = answerOf(live, id)
      const n = eventId(ev)
      if (a.status !== 'running' || (n > 0 && n <= a.seen)) return live
      return withAnswer(live, { ...a, text: a.text + delta, seen: n || a.seen })
    }
    case 'ai.message.completed': {
      const id = str(d.message_id)
      if (!id) return live
      const a = answerOf(live, id)
      if (a.status !== 'running' && a.seen >= eventId(ev)) return live
      return withAnswer(live, {
        ...a,
        text: str(d.text) ?? a.text,
        status: 'completed',
        offline: d.offline === true,
        model: str(d.model),
        usage: (d.usage as AiUsage | undefined) ?? null,
        error: str(d.error),
        seen: Math.max(a.seen, eventId(ev)),
      })
    }
    case 'ai.message.failed': {
      const id = str(d.message_id)
      if (!id) return live
      const a = answerOf(live, id)
      if (a.status !== 'running') return live
      return withAnswer(live, {
        ...a,
        status: d.cancelled === true ? 'cancelled' : 'failed',
        error: str(d.reason) ?? (d.cancelled === true ? 'cancelled' : 'failed'),
        seen: Math.max(a.seen, eventId(ev)),
      })
    }
    default:
      return live
  }
}

/** A message as the thread shows it. */
export interface ThreadItem extends AiMessage {
  /** The answer is the engine's findings: no model answered. */
  offline: boolean
}

const RANK: Record<AiMessageStatus, number> = { running: 0, completed: 1, failed: 1, cancelled: 1 }

/**
 * Without a model an answer is stored with no model name (an answer from a provider
 * always names one); the live `completed` event says `offline` outright.
 */
export function isOffline(m: AiMessage): boolean {
  return m.role === 'assistant' && m.status === 'completed' && m.model === null
}

/** The messages of one thread (`null`: the workspace's), oldest first: what the REST
 *  pages returned, updated and extended by what streamed in live. */
export function threadItems(history: AiMessage[], live: AiLive, thread: string | null): ThreadItem[] {
  const byId = new Map<string, ThreadItem>()
  for (const m of history) byId.set(m.id, { ...m, offline: isOffline(m) })
  for (const q of Object.values(live.questions)) {
    if ((q.doc_id ?? null) === thread && !byId.has(q.id)) byId.set(q.id, { ...q, offline: false })
  }
  for (const a of Object.values(live.answers)) {
    const stored = byId.get(a.id)
    if (stored) {
      // The REST row wins once it has finished and the live copy has not (a missed event).
      if (RANK[a.status] < RANK[stored.status]) continue
      byId.set(a.id, {
        ...stored,
        content: a.text.length >= stored.content.length || a.status === 'completed' ? a.text : stored.content,
        status: a.status,
        model: a.model ?? stored.model,
        usage: a.usage ?? stored.usage,
        error: a.error ?? stored.error,
        offline: a.status === 'completed' && a.offline,
      })
      continue
    }
    const inThread = a.thread !== undefined ? a.thread === thread : a.replyTo !== null && byId.has(a.replyTo)
    if (!inThread) continue
    const q = a.replyTo ? live.questions[a.replyTo] ?? byId.get(a.replyTo) : undefined
    byId.set(a.id, {
      id: a.id,
      workspace_id: q?.workspace_id ?? '',
      doc_id: thread,
      role: 'assistant',
      author_id: null,
      reply_to: a.replyTo,
      content: a.text,
      status: a.status,
      model: a.model,
      usage: a.usage ?? { prompt_tokens: 0, completion_tokens: 0 },
      error: a.error,
      created_at: q?.created_at ?? '',
      offline: a.offline,
    })
  }
  // Ids are UUIDv7 (time-ordered); an answer sorts right after its question.
  const key = (m: ThreadItem) => (m.role === 'assistant' && m.reply_to ? `${m.reply_to}~1` : `${m.id}~0`)
  return [...byId.values()].sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0))
}

/** The answer still being written in a thread, if any (one runs per thread at a time). */
export function runningAnswer(items: ThreadItem[]): ThreadItem | undefined {
  return items.find((m) => m.role === 'assistant' && m.status === 'running')
}

/** A suggestion created or decided (`ai.suggestion.*`, or an Accept/Reject response) in
 *  the list, newest first. */
export function upsertSuggestion(list: AiSuggestion[], s: AiSuggestion): AiSuggestion[] {
  const i = list.findIndex((x) => x.id === s.id)
  if (i < 0) return [s, ...list]
  if (list[i]!.status !== 'pending' && s.status === 'pending') return list // a late `created`
  return list.map((x, j) => (j === i ? s : x))
}

// ---- a job's analysis

/** The analysis as the job screen shows it; `seen`: the last event folded in. */
export type LiveAnalysis = AiAnalysis & { seen?: number }

function stub(ev: WsEvent, jobId: string, trigger: unknown): LiveAnalysis {
  return {
    job_id: jobId, workspace_id: ev.workspace_id, status: 'running',
    trigger: trigger === 'automatic' ? 'automatic' : 'requested',
    text: '', findings: [], model: null, usage: { prompt_tokens: 0, completion_tokens: 0 }, offline: false,
    error: null, created_at: ev.at, finished_at: null, seen: eventId(ev),
  }
}

/** Folds one `ai.analysis.*` event about the cached analysis' job (`null`: none yet). */
export function foldAnalysisEvent(old: LiveAnalysis | null | undefined, ev: WsEvent): LiveAnalysis | null | undefined {
  const d = ev.data
  const jobId = str(d.job_id)
  if (!jobId) return old
  const n = eventId(ev)
  if (old && n > 0 && old.seen !== undefined && n <= old.seen) return old
  switch (ev.type) {
    case 'ai.analysis.started':
      return stub(ev, jobId, d.trigger)
    case 'ai.analysis.delta': {
      const delta = str(d.delta)
      if (delta === null) return old
      const base = old && old.status === 'running' ? old : stub(ev, jobId, undefined)
      return { ...base, text: base.text + delta, seen: n || base.seen }
    }
    case 'ai.analysis.completed':
      return { ...(d as unknown as AiAnalysis), seen: n }
    case 'ai.analysis.failed':
      return { ...(old ?? stub(ev, jobId, undefined)), status: 'failed', error: str(d.reason) ?? 'failed', finished_at: ev.at, seen: n }
    default:
      return old
  }
}

const time = (t: string | null | undefined) => (t ? Date.parse(t) : NaN)

/**
 * The analysis after a GET answered (`null`: 404, none yet), given what events built
 * meanwhile: the stored text of a running analysis is empty, so the streamed text is
 * kept, and a response older than what the events say is ignored.
 */
export function mergeFetchedAnalysis(cached: LiveAnalysis | null | undefined, fetched: AiAnalysis | null): LiveAnalysis | null {
  if (!cached) return fetched
  if (!fetched) return cached.status === 'running' ? cached : null
  if (fetched.status !== 'running') {
    // A run that started after the fetched one finished is newer.
    const newer = cached.status === 'running' && time(cached.created_at) > time(fetched.finished_at ?? fetched.created_at)
    return newer ? cached : fetched
  }
  if (cached.status === 'running') return { ...fetched, text: cached.text, seen: cached.seen }
  // The fetched one is running: stale if the cached one finished after it started.
  return time(cached.finished_at) >= time(fetched.created_at) ? cached : fetched
}

/**
 * An offline text's opening line (`Offline (why): …` for an answer, `Offline analysis
 * (why): …` for an analysis, server/src/ai) apart from the rest, so that the screen says
 * it once, as a label with the reason.
 */
export function splitOffline(text: string): { reason: string | null; body: string } {
  const m = /^Offline(?: analysis)? \(([^)\n]*)\):[^\n]*\n+/.exec(text)
  return m ? { reason: m[1] ?? null, body: text.slice(m[0].length) } : { reason: null, body: text }
}

/** A finding's number as the server's offline text writes it: whole numbers as they
 *  are, others to four decimals (small ones in exponent form, so they do not read 0). */
export function fmtNum(v: number): string {
  if (!Number.isFinite(v)) return String(v)
  if (Number.isInteger(v) && Math.abs(v) < 1e15) return String(v)
  if (v !== 0 && Math.abs(v) < 1e-3) return v.toExponential(2)
  return String(Number(v.toFixed(4)))
}

/** A finding's number name as a label: `t1_us` → `t1 µs`. */
export function numberLabel(k: string): string {
  return k.replace(/_us$/, ' µs').replaceAll('_', ' ')
}

const FINDING_LINE = /^- \[(error|warning|info)\] (.*?)(?: \(([^()]*=[^()]*)\))?(?:\. Suggestion: (.*))?$/

export type OfflinePart = { kind: 'text'; text: string } | { kind: 'findings'; findings: Finding[] }

/**
 * An offline answer's text back into its parts: the lines the server wrote from findings
 * (`- [severity] message (name = number, …). Suggestion: …`, server/src/ai
 * render_findings) as findings, the other lines as text.
 */
export function parseFindingsText(text: string): OfflinePart[] {
  const parts: OfflinePart[] = []
  for (const line of text.split('\n')) {
    const last = parts[parts.length - 1]
    const m = FINDING_LINE.exec(line)
    if (m) {
      const numbers: Record<string, number> = {}
      for (const pair of (m[3] ?? '').split(', ')) {
        const [k, v] = pair.split(' = ')
        if (k && v !== undefined && v.trim() !== '' && !Number.isNaN(Number(v))) numbers[k.trim()] = Number(v)
      }
      const f: Finding = { code: '', severity: m[1] as Severity, message: m[2] ?? '', numbers, suggestion: m[4] ?? null }
      if (last?.kind === 'findings') last.findings.push(f)
      else parts.push({ kind: 'findings', findings: [f] })
    } else if (line.trim()) {
      if (last?.kind === 'text') last.text += `\n${line}`
      else parts.push({ kind: 'text', text: line })
    }
  }
  return parts
}
