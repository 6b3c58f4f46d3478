import { describe, expect, it } from 'vitest'
import { QueryClient } from '@tanstack/react-query'
import { applyEvent, mergeJob } from './events'
import type { Job, JobPage, WsEvent } from './api/types'

const job = (status: Job['status'], extra: Partial<Job> = {}): Job => ({
  id: 'j1', workspace_id: 'w', author_id: 'u', status, kind: 'simulate', backend: 'ideal', shots: 10, seed: null,
  optimization_level: 1, source_doc_id: 'd', num_qubits: 2, progress: 0, queue_position: 0, error: null,
  queued_at: '2026-01-01T00:00:00Z', started_at: null, finished_at: null, ...extra,
})
const ev = (type: string, data: Record<string, unknown>, id = 1): WsEvent => ({ id, type, workspace_id: 'w', at: '', actor: null, data })

describe('job events in the query cache', () => {
  it('never moves a job back to an earlier status', () => {
    expect(mergeJob(job('completed'), job('queued')).status).toBe('completed')
    expect(mergeJob(job('queued'), job('running')).status).toBe('running')
    expect(mergeJob(job('running', { progress: 0.6 }), job('running', { progress: 0.2 })).progress).toBe(0.6)
  })

  it('puts a new job at the top of the list and follows it to completion', () => {
    const qc = new QueryClient()
    qc.setQueryData(['jobs', 'w', 'all'], { pages: [{ items: [], next_cursor: null }], pageParams: [null] })
    applyEvent(qc, 'w', ev('job.created', { job: job('queued') }))
    applyEvent(qc, 'w', ev('job.progress', { job_id: 'j1', progress: 0.5 }, 2))
    let page = qc.getQueryData<{ pages: JobPage[] }>(['jobs', 'w', 'all'])!
    expect(page.pages[0]!.items.map((j) => [j.status, j.progress])).toEqual([['running', 0.5]])
    applyEvent(qc, 'w', ev('job.completed', { job: job('completed', { progress: 1 }) }, 3))
    applyEvent(qc, 'w', ev('job.queued', { job: job('queued') }, 4)) // late and out of order
    page = qc.getQueryData<{ pages: JobPage[] }>(['jobs', 'w', 'all'])!
    expect(page.pages[0]!.items.map((j) => j.status)).toEqual(['completed'])
    expect(qc.getQueryData<Job>(['job', 'j1'])!.status).toBe('completed')
  })

  it('appends chat messages once', () => {
    const qc = new QueryClient()
    qc.setQueryData(['chat', 'w'], [])
    const m = { id: 'm1', workspace_id: 'w', author_id: 'u', author_name: 'Ada', text: 'hi', created_at: '' }
    applyEvent(qc, 'w', ev('chat.message', m))
    applyEvent(qc, 'w', ev('chat.message', m, 2))
    expect(qc.getQueryData(['chat', 'w'])).toEqual([m])
  })
})

describe('progress events', () => {
  it('mark the leaderboard and your progress stale, and nothing else', () => {
    const qc = new QueryClient()
    qc.setQueryData(['progress', 'me'], { points: 10 })
    qc.setQueryData(['progress', 'board', 'w', 'week'], { entries: [] })
    qc.setQueryData(['docs', 'w'], [])
    applyEvent(qc, 'w', ev('achievement.unlocked', { user_id: 'u', key: 'first_job', points: 10 }))
    expect(qc.getQueryState(['progress', 'me'])!.isInvalidated).toBe(true)
    expect(qc.getQueryState(['progress', 'board', 'w', 'week'])!.isInvalidated).toBe(true)
    expect(qc.getQueryState(['docs', 'w'])!.isInvalidated).toBe(false)
  })
})

describe('AI events', () => {
  it('stream an answer into the live AI state and an analysis into its job', () => {
    const qc = new QueryClient()
    applyEvent(qc, 'w', ev('ai.message.delta', { message_id: 'a1', delta: 'Hel' }, 10))
    applyEvent(qc, 'w', ev('ai.message.delta', { message_id: 'a1', delta: 'lo' }, 11))
    applyEvent(qc, 'w', ev('ai.message.delta', { message_id: 'a1', delta: 'lo' }, 11))
    expect(qc.getQueryData<{ answers: Record<string, { text: string }> }>(['ai', 'w', 'live'])?.answers.a1?.text).toBe('Hello')
    applyEvent(qc, 'w', ev('ai.analysis.started', { job_id: 'j1', trigger: 'requested' }, 12))
    applyEvent(qc, 'w', ev('ai.analysis.delta', { job_id: 'j1', delta: 'Because' }, 13))
    expect(qc.getQueryData<{ status: string; text: string }>(['analysis', 'j1'])).toMatchObject({ status: 'running', text: 'Because' })
  })
})
