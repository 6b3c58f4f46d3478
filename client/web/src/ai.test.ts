import { describe, expect, it } from 'vitest'
import {
  emptyLive, fmtNum, foldAiEvent, foldAnalysisEvent, mergeFetchedAnalysis, noteAsked, numberLabel, parseFindingsText, runningAnswer,
  splitOffline, threadItems, upsertSuggestion, type AiLive, type LiveAnalysis,
} from './ai'
import type { AiAnalysis, AiMessage, AiSuggestion, WsEvent } from './api/types'

const ev = (id: number, type: string, data: Record<string, unknown>): WsEvent => ({ id, type, workspace_id: 'w', at: '2026-01-01T00:00:00Z', actor: null, data })
const msg = (id: string, extra: Partial<AiMessage> = {}): AiMessage => ({
  id, workspace_id: 'w', doc_id: null, role: 'user', author_id: 'u1', reply_to: null, content: 'why?', status: 'completed',
  model: null, usage: { prompt_tokens: 0, completion_tokens: 0 }, error: null, created_at: '2026-01-01T00:00:00Z', ...extra,
})
// UUIDv7-like ids: they sort by time.
const Q1 = '0190a000-0000-7000-8000-000000000001'
const A1 = '0190a000-0000-7000-8000-000000000002'
const Q2 = '0190a001-0000-7000-8000-000000000003'
const A2 = '0190a001-0000-7000-8000-000000000004'

const fold = (events: WsEvent[], live: AiLive = emptyLive) => events.reduce(foldAiEvent, live)
const created = (id: number, q = Q1, a = A1, doc: string | null = null) => ev(id, 'ai.message.created', { message: msg(q, { doc_id: doc }), answer_id: a })
const delta = (id: number, d: string, a = A1) => ev(id, 'ai.message.delta', { message_id: a, delta: d })

describe('ai.message.delta folding', () => {
  it('builds the answer in order from its deltas', () => {
    const live = fold([created(1), delta(2, 'A Bell '), delta(3, 'pair is '), delta(4, 'entangled.')])
    expect(live.answers[A1]).toMatchObject({ text: 'A Bell pair is entangled.', status: 'running', replyTo: Q1, thread: null, seen: 4 })
    expect(live.questions[Q1]?.content).toBe('why?')
  })

  it('ignores a delta it has already folded (a replay after a reconnect)', () => {
    const live = fold([created(1), delta(2, 'one '), delta(3, 'two '), delta(3, 'two '), delta(2, 'one '), delta(4, 'three')])
    expect(live.answers[A1]?.text).toBe('one two three')
  })

  it('returns the same state when an event changes nothing', () => {
    const live = fold([created(1), delta(2, 'x')])
    expect(foldAiEvent(live, delta(2, 'x'))).toBe(live)
    expect(foldAiEvent(live, ev(9, 'ai.message.delta', { delta: 'no id' }))).toBe(live)
    expect(foldAiEvent(live, ev(9, 'chat.message', {}))).toBe(live)
  })

  it('takes the whole text from ai.message.completed, whatever the deltas missed', () => {
    const live = fold([delta(5, 'pair is '), ev(6, 'ai.message.completed', {
      message_id: A1, text: 'A Bell pair is entangled.', model: 'gpt-x', usage: { prompt_tokens: 10, completion_tokens: 5 }, offline: false, error: null,
    })])
    expect(live.answers[A1]).toMatchObject({ text: 'A Bell pair is entangled.', status: 'completed', model: 'gpt-x', offline: false })
    // A late delta of a finished answer changes nothing.
    expect(foldAiEvent(live, delta(7, ' more'))).toBe(live)
  })

  it('labels an offline answer', () => {
    const live = fold([created(1), ev(2, 'ai.message.completed', { message_id: A1, text: 'Offline (no AI provider is configured): …', model: null, offline: true })])
    expect(live.answers[A1]).toMatchObject({ status: 'completed', offline: true, model: null })
  })

  it('keeps the partial text of a cancelled answer, and ignores the deltas after it', () => {
    const live = fold([created(1), delta(2, 'Half an '), ev(3, 'ai.message.failed', { message_id: A1, reason: 'cancelled', cancelled: true }), delta(4, 'answer')])
    expect(live.answers[A1]).toMatchObject({ text: 'Half an ', status: 'cancelled', error: 'cancelled' })
    const failed = fold([created(1), ev(2, 'ai.message.failed', { message_id: A1, reason: 'provider down', cancelled: false })])
    expect(failed.answers[A1]).toMatchObject({ status: 'failed', error: 'provider down' })
  })

  it('does not reset text when the POST response arrives after the first deltas', () => {
    const live = fold([created(1), delta(2, 'Hello')])
    const after = noteAsked(live, { message: msg(Q1), answer_id: A1 })
    expect(after).toBe(live)
    const early = noteAsked(fold([delta(2, 'Hello')]), { message: msg(Q1), answer_id: A1 })
    expect(early.answers[A1]).toMatchObject({ text: 'Hello', replyTo: Q1, thread: null })
  })
})

describe('the thread', () => {
  it('shows the live text of an answer the REST thread has as running and empty', () => {
    const history = [msg(A1, { role: 'assistant', author_id: null, reply_to: Q1, content: '', status: 'running' }), msg(Q1)]
    const items = threadItems(history, fold([delta(2, 'So far')]), null)
    expect(items.map((m) => [m.id, m.content, m.status])).toEqual([[Q1, 'why?', 'completed'], [A1, 'So far', 'running']])
    expect(runningAnswer(items)?.id).toBe(A1)
  })

  it('puts each answer after its question, oldest first', () => {
    const history = [
      msg(A2, { role: 'assistant', author_id: null, reply_to: Q2, content: 'two', model: 'm' }),
      msg(Q2, { content: 'q2' }),
      msg(A1, { role: 'assistant', author_id: null, reply_to: Q1, content: 'one', model: 'm' }),
      msg(Q1, { content: 'q1' }),
    ]
    expect(threadItems(history, emptyLive, null).map((m) => m.content)).toEqual(['q1', 'one', 'q2', 'two'])
  })

  it('adds questions and answers asked live to their own thread only', () => {
    const live = fold([created(1, Q1, A1, 'doc-1'), delta(2, 'about the doc', A1), created(3, Q2, A2, null), delta(4, 'about the workspace', A2)])
    expect(threadItems([], live, 'doc-1').map((m) => m.content)).toEqual(['why?', 'about the doc'])
    expect(threadItems([], live, null).map((m) => m.content)).toEqual(['why?', 'about the workspace'])
  })

  it('keeps a finished REST row over a live copy that missed its end', () => {
    const history = [msg(Q1), msg(A1, { role: 'assistant', reply_to: Q1, content: 'whole', status: 'completed', model: 'm' })]
    const items = threadItems(history, fold([created(1), delta(2, 'who')]), null)
    expect(items[1]).toMatchObject({ content: 'whole', status: 'completed' })
    expect(runningAnswer(items)).toBeUndefined()
  })

  it('labels stored answers without a model as offline', () => {
    const history = [msg(Q1), msg(A1, { role: 'assistant', reply_to: Q1, content: 'Offline (x): y', model: null })]
    expect(threadItems(history, emptyLive, null)[1]?.offline).toBe(true)
    const online = [msg(Q1), msg(A1, { role: 'assistant', reply_to: Q1, content: 'Hi', model: 'gpt' })]
    expect(threadItems(online, emptyLive, null)[1]?.offline).toBe(false)
  })
})

describe('offline texts', () => {
  it('separates the offline line from the findings', () => {
    expect(splitOffline('Offline (no AI provider is configured): no AI model answered; here is what the engine computed.\n\nDocument "Bell":\n- [info] fine\n'))
      .toEqual({ reason: 'no AI provider is configured', body: 'Document "Bell":\n- [info] fine\n' })
    expect(splitOffline('Offline analysis (the AI provider is unavailable): these are the engine\'s own findings, without an AI model.\n\nJob 1').reason)
      .toBe('the AI provider is unavailable')
    expect(splitOffline('A normal answer')).toEqual({ reason: null, body: 'A normal answer' })
  })

  it('writes numbers like the server does', () => {
    expect(fmtNum(27)).toBe('27')
    expect(fmtNum(0.123456)).toBe('0.1235')
    expect(fmtNum(115.2)).toBe('115.2')
    expect(fmtNum(0.00001234)).toBe('1.23e-5')
  })
})

describe('a job analysis', () => {
  const done: AiAnalysis = {
    job_id: 'j1', workspace_id: 'w', status: 'completed', trigger: 'requested', text: 'The whole explanation.',
    findings: [{ code: 'qubits_beyond_device', severity: 'error', message: 'too many qubits', numbers: { qubits: 30, device_qubits: 27 } }],
    model: 'gpt-x', usage: { prompt_tokens: 1, completion_tokens: 2 }, offline: false, error: null,
    created_at: '2026-01-01T00:00:00Z', finished_at: '2026-01-01T00:00:05Z',
  }
  const a = (id: number, type: string, data: Record<string, unknown>, at = '2026-01-01T00:00:00Z'): WsEvent => ({ ...ev(id, type, { job_id: 'j1', ...data }), at })

  it('streams from started to completed, ignoring replays', () => {
    let s: LiveAnalysis | null | undefined = undefined
    for (const e of [a(1, 'ai.analysis.started', { trigger: 'requested' }), a(2, 'ai.analysis.delta', { delta: 'The whole ' }), a(2, 'ai.analysis.delta', { delta: 'The whole ' }), a(3, 'ai.analysis.delta', { delta: 'explanation.' })]) {
      s = foldAnalysisEvent(s, e)
    }
    expect(s).toMatchObject({ status: 'running', text: 'The whole explanation.', trigger: 'requested' })
    s = foldAnalysisEvent(s, { ...ev(4, 'ai.analysis.completed', done as unknown as Record<string, unknown>) })
    expect(s).toMatchObject({ status: 'completed', text: 'The whole explanation.', findings: done.findings, seen: 4 })
    expect(foldAnalysisEvent(s, a(3, 'ai.analysis.delta', { delta: 'late' }))).toBe(s)
  })

  it('says why it failed', () => {
    const s = foldAnalysisEvent(foldAnalysisEvent(null, a(1, 'ai.analysis.started', { trigger: 'automatic' })), a(2, 'ai.analysis.failed', { reason: 'the engine could not analyse the job' }))
    expect(s).toMatchObject({ status: 'failed', error: 'the engine could not analyse the job', trigger: 'automatic' })
  })

  it('merges a GET with what streamed meanwhile', () => {
    const streaming: LiveAnalysis = { ...done, status: 'running', text: 'So far', findings: [], finished_at: null, created_at: '2026-01-01T00:10:00Z', seen: 7 }
    // The stored text of a running analysis is empty: the streamed text stays.
    expect(mergeFetchedAnalysis(streaming, { ...done, status: 'running', text: '', finished_at: null, created_at: '2026-01-01T00:10:00Z' })?.text).toBe('So far')
    // An older, finished one (the GET left before "Explain again") does not replace the new run.
    expect(mergeFetchedAnalysis(streaming, done)).toBe(streaming)
    // The finished version of the same run does.
    const same = { ...streaming, created_at: '2026-01-01T00:00:00Z' }
    expect(mergeFetchedAnalysis(same, done)).toBe(done)
    // A stale running response does not undo a completion the events already showed.
    expect(mergeFetchedAnalysis(done, { ...done, status: 'running', text: '', finished_at: null })).toBe(done)
    expect(mergeFetchedAnalysis(undefined, null)).toBeNull()
    expect(mergeFetchedAnalysis(done, null)).toBeNull()
  })
})

describe('suggestions', () => {
  const s = (id: string, status: AiSuggestion['status']): AiSuggestion => ({
    id, workspace_id: 'w', doc_id: 'd', message_id: null, asked_by: 'u', summary: 's', qasm: '', status, decided_by: null, created_at: '',
  })
  it('adds new ones first and records decisions, never undoing one', () => {
    let list = upsertSuggestion([], s('a', 'pending'))
    list = upsertSuggestion(list, s('b', 'pending'))
    expect(list.map((x) => x.id)).toEqual(['b', 'a'])
    list = upsertSuggestion(list, s('a', 'accepted'))
    expect(list.find((x) => x.id === 'a')?.status).toBe('accepted')
    expect(upsertSuggestion(list, s('a', 'pending'))).toBe(list)
  })
})

describe('an offline answer as findings', () => {
  it('turns the server-written finding lines back into findings', () => {
    const parts = parseFindingsText(
      'Document "Bell":\n' +
      '- [info] the optimizer removes 0 / 4 gates (2-qubit gates: 1 / 1) (depth_level0 = 5, gates_level1 = 2, ratio = 0.6667). Suggestion: optimize at level 1 before running: it removes 67% of the gates\n' +
      '- [warning] 30 qubits do not fit (device_qubits = 27)\n' +
      '- [error] the job failed. Suggestion: retry\n' +
      'Latest failed job j on ideal: boom\n- [info] plain\n',
    )
    expect(parts).toEqual([
      { kind: 'text', text: 'Document "Bell":' },
      { kind: 'findings', findings: [
        { code: '', severity: 'info', message: 'the optimizer removes 0 / 4 gates (2-qubit gates: 1 / 1)', numbers: { depth_level0: 5, gates_level1: 2, ratio: 0.6667 }, suggestion: 'optimize at level 1 before running: it removes 67% of the gates' },
        { code: '', severity: 'warning', message: '30 qubits do not fit', numbers: { device_qubits: 27 }, suggestion: null },
        { code: '', severity: 'error', message: 'the job failed', numbers: {}, suggestion: 'retry' },
      ] },
      { kind: 'text', text: 'Latest failed job j on ideal: boom' },
      { kind: 'findings', findings: [{ code: '', severity: 'info', message: 'plain', numbers: {}, suggestion: null }] },
    ])
    expect(parseFindingsText('There is no document in this thread and no failed job to report on.')).toEqual([
      { kind: 'text', text: 'There is no document in this thread and no failed job to report on.' },
    ])
  })

  it('labels numbers by name', () => {
    expect(numberLabel('t1_us')).toBe('t1 µs')
    expect(numberLabel('success_probability')).toBe('success probability')
  })
})
