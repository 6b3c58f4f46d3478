// The workspace event stream (/ws/workspaces/{id}; socket.ts resumes it with ?since= so
// nothing is missed), folding job, chat and AI events into the TanStack Query cache.
import { useEffect, useRef, useState } from 'react'
import { useQueryClient, type QueryClient } from '@tanstack/react-query'
import type { Api } from './api/client'
import type { AiSuggestion, ChatMessage, Job, JobPage, WsEvent } from './api/types'
import { openResumingSocket, type StreamStatus } from './socket'
import { emptyLive, foldAiEvent, foldAnalysisEvent, upsertSuggestion, type AiLive, type LiveAnalysis } from './ai'

const RANK: Record<string, number> = { queued: 0, running: 1, completed: 2, failed: 2, cancelled: 2 }

/**
 * Events and REST responses can arrive in any order (a submit's response after the
 * job's own `job.completed`): a job never goes back to an earlier status.
 */
export function mergeJob(old: Job | undefined, incoming: Job): Job {
  if (!old) return incoming
  const a = RANK[old.status] ?? 0
  const b = RANK[incoming.status] ?? 0
  if (b < a) return old
  if (b === a && incoming.status === 'running' && incoming.progress < old.progress) return { ...incoming, progress: old.progress }
  return incoming
}

export function applyEvent(qc: QueryClient, ws: string, ev: WsEvent) {
  if (ev.type.startsWith('job.')) {
    const job = ev.data.job as Job | undefined
    if (job) {
      qc.setQueryData<Job>(['job', job.id], (old) => mergeJob(old, job))
      let found = false
      qc.setQueriesData<{ pages: JobPage[]; pageParams: unknown[] }>({ queryKey: ['jobs', ws] }, (old) => {
        if (!old) return old
        const pages = old.pages.map((p) => ({
          ...p,
          items: p.items.map((j) => {
            if (j.id !== job.id) return j
            found = true
            return mergeJob(j, job)
          }),
        }))
        return { ...old, pages }
      })
      if (!found) {
        // A new job: show it at once in the unfiltered list, refetch the filtered ones.
        qc.setQueryData<{ pages: JobPage[]; pageParams: unknown[] }>(['jobs', ws, 'all'], (old) => {
          if (!old || !old.pages[0]) return old
          const [first, ...rest] = old.pages
          return { ...old, pages: [{ ...first, items: [job, ...first.items] }, ...rest] }
        })
        qc.invalidateQueries({ queryKey: ['jobs', ws], predicate: (q) => q.queryKey[2] !== 'all' })
      }
      if (job.status === 'completed') qc.invalidateQueries({ queryKey: ['result', job.id] })
    } else if (ev.type === 'job.progress') {
      const id = ev.data.job_id as string
      const progress = ev.data.progress as number
      const patch = (j: Job) => (j.id === id && (j.status === 'queued' || j.status === 'running') ? { ...j, progress, status: 'running' as const, queue_position: null } : j)
      qc.setQueryData<Job>(['job', id], (j) => (j ? patch(j) : j))
      qc.setQueriesData<{ pages: JobPage[]; pageParams: unknown[] }>({ queryKey: ['jobs', ws] }, (old) =>
        old ? { ...old, pages: old.pages.map((p) => ({ ...p, items: p.items.map(patch) })) } : old,
      )
    }
    // Others' queue positions moved: refresh what is still queued.
    if (ev.type === 'job.started' || ev.type === 'job.completed' || ev.type === 'job.failed' || ev.type === 'job.cancelled') {
      qc.invalidateQueries({ queryKey: ['job'], predicate: (q) => (q.state.data as Job | undefined)?.status === 'queued' })
    }
  } else if (ev.type === 'chat.message') {
    const m = ev.data as unknown as ChatMessage
    qc.setQueryData<ChatMessage[]>(['chat', ws], (old) => (old ? (old.some((x) => x.id === m.id) ? old : [...old, m]) : old))
  } else if (ev.type.startsWith('ai.message.')) {
    // Always kept (not only while the AI screen is open): opening it mid-answer shows
    // the text streamed so far.
    qc.setQueryData<AiLive>(['ai', ws, 'live'], (old) => foldAiEvent(old ?? emptyLive, ev))
  } else if (ev.type.startsWith('ai.analysis.')) {
    const job = ev.data.job_id
    if (typeof job === 'string') qc.setQueryData<LiveAnalysis | null>(['analysis', job], (old) => foldAnalysisEvent(old, ev))
  } else if (ev.type.startsWith('ai.suggestion.')) {
    const s = ev.data.suggestion as AiSuggestion | undefined
    if (s) qc.setQueryData<AiSuggestion[]>(['ai', ws, 'suggestions'], (old) => (old ? upsertSuggestion(old, s) : old))
  } else if (ev.type.startsWith('doc.')) {
    qc.invalidateQueries({ queryKey: ['docs', ws] })
    if (ev.type === 'doc.restored') qc.invalidateQueries({ queryKey: ['versions'] })
  } else if (ev.type.startsWith('member.')) {
    qc.invalidateQueries({ queryKey: ['members', ws] })
    qc.invalidateQueries({ queryKey: ['workspace', ws] })
  } else if (ev.type === 'achievement.unlocked' || ev.type === 'points.awarded' || ev.type === 'level.reached') {
    qc.invalidateQueries({ queryKey: ['progress'] })
  } else if (ev.type === 'resync') {
    qc.invalidateQueries()
  }
}

const NO_EVENTS: WsEvent[] = []

export type { StreamStatus }

export function useWorkspaceEvents(api: Api, ws: string) {
  const qc = useQueryClient()
  // The feed of the workspace it was gathered in: switching workspaces shows an empty
  // one at once, with no reset inside the effect.
  const [gathered, setFeed] = useState<{ ws: string; events: WsEvent[] }>({ ws, events: [] })
  const [status, setStatus] = useState<StreamStatus>('connecting')
  const since = useRef<number | null>(null)
  useEffect(() => {
    since.current = null
    return openResumingSocket(api, {
      path: (token) => {
        const params = new URLSearchParams({ token })
        if (since.current !== null) params.set('since', String(since.current))
        return `/ws/workspaces/${ws}?${params}`
      },
      onStatus: setStatus,
      onMessage: (msg) => {
        const ev = msg as WsEvent
        if (ev.type === 'resync') since.current = (ev.data.latest as number) ?? since.current
        else if (typeof ev.id === 'number') since.current = Math.max(since.current ?? 0, ev.id)
        applyEvent(qc, ws, ev)
        if (ev.type !== 'job.progress' && ev.type !== 'ai.message.delta' && ev.type !== 'ai.analysis.delta') {
          setFeed((f) => ({ ws, events: [ev, ...(f.ws === ws ? f.events : [])].slice(0, 100) }))
        }
      },
    })
  }, [api, ws, qc])
  const feed = gathered.ws === ws ? gathered.events : NO_EVENTS
  return { feed, status }
}
