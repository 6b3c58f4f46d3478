// The workspace's shared AI assistant: one thread per workspace and one per document.
// Anyone in the room can ask; the answer streams in live for everyone (ai.message.*
// events, folded in events.ts / ai.ts), one answer at a time per thread. Without an AI
// provider the answer is the engine's own findings, labelled offline. Edits the assistant
// proposes wait here for an editor to accept (applied live to the document) or reject.
import { useEffect, useLayoutEffect, useMemo, useRef, useState, type FormEvent, type KeyboardEvent } from 'react'
import { Link, useSearchParams } from 'react-router-dom'
import { useInfiniteQuery, useMutation, useQuery, useQueryClient } from '@tanstack/react-query'
import { useApp } from '../context'
import {
  emptyLive, noteAsked, parseFindingsText, runningAnswer, splitOffline, threadItems, upsertSuggestion, type AiLive, type ThreadItem,
} from '../ai'
import type { AiSuggestion, DocSummary, Member } from '../api/types'
import { ErrorNote } from '../components/ErrorNote'
import { Findings } from '../components/Findings'
import { useWorkspace } from './WorkspaceLayout'

const PAGE = 50
const MAX_QUESTION = 4000

export default function AiScreen() {
  const { api } = useApp()
  const { workspace } = useWorkspace()
  const ws = workspace.id
  const [params, setParams] = useSearchParams()
  const thread = params.get('doc') || null
  const docs = useQuery({ queryKey: ['docs', ws], queryFn: () => api.docs(ws) })
  const members = useQuery({ queryKey: ['members', ws], queryFn: () => api.members(ws) })
  const docName = (id: string) => docs.data?.find((d) => d.id === id)?.name ?? 'a deleted circuit'
  return (
    <div className="page ai-page">
      <h1>AI assistant</h1>
      <p className="muted">
        Shared with everyone in {workspace.name}: questions and answers stream live to all members. Answers are grounded in the
        numbers the engine computes for your circuits and jobs.
      </p>
      <div className="ai-grid">
        <section aria-labelledby="ai-thread-title" className="ai-thread">
          <div className="row">
            <h2 id="ai-thread-title" className="grow">{thread ? `About “${docName(thread)}”` : 'Workspace thread'}</h2>
            <label>
              Thread
              <select
                aria-label="Thread"
                value={thread ?? ''}
                onChange={(e) => setParams(e.target.value ? { doc: e.target.value } : {}, { replace: true })}
              >
                <option value="">Whole workspace</option>
                {docs.data?.map((d: DocSummary) => <option key={d.id} value={d.id}>Circuit: {d.name}</option>)}
              </select>
            </label>
          </div>
          <Thread key={thread ?? 'workspace'} ws={ws} thread={thread} members={members.data ?? []} />
        </section>
        <Suggestions ws={ws} docName={docName} />
      </div>
    </div>
  )
}

function Thread({ ws, thread, members }: { ws: string; thread: string | null; members: Member[] }) {
  const { api, session } = useApp()
  const { canEdit } = useWorkspace()
  const qc = useQueryClient()
  const liveKey = useMemo(() => ['ai', ws, 'live'], [ws])
  const history = useInfiniteQuery({
    queryKey: ['ai', ws, 'messages', thread ?? 'workspace'],
    queryFn: ({ pageParam }) => api.aiMessages(ws, { docId: thread, cursor: pageParam, limit: PAGE }),
    initialPageParam: null as string | null,
    getNextPageParam: (last) => last.next_cursor ?? undefined,
  })
  // Built by the event stream (events.ts); read from the cache, never fetched.
  const live = useQuery({ queryKey: liveKey, queryFn: () => qc.getQueryData<AiLive>(liveKey) ?? emptyLive, staleTime: Infinity })
  const items = useMemo(
    () => threadItems(history.data?.pages.flatMap((p) => p.items) ?? [], live.data ?? emptyLive, thread),
    [history.data, live.data, thread],
  )
  const running = runningAnswer(items)
  const [text, setText] = useState('')
  const stick = useRef(true)
  const ask = useMutation({
    mutationFn: (content: string) => api.askAi(ws, content, thread),
    onSuccess: (r) => {
      stick.current = true // your own question: follow its answer
      qc.setQueryData<AiLive>(liveKey, (old) => noteAsked(old ?? emptyLive, r))
      setText('')
    },
  })
  const cancel = useMutation({ mutationFn: (id: string) => api.cancelAiMessage(ws, id) })

  // Follow the answer as it grows, unless the reader scrolled up to read. An offline
  // answer arrives whole: taller than the box, it is shown from its start.
  const log = useRef<HTMLDivElement>(null)
  const last = items[items.length - 1]
  const lastWhole = last?.offline === true
  useLayoutEffect(() => {
    const el = log.current
    if (!el || !stick.current) return
    el.scrollTop = el.scrollHeight
    const li = el.querySelector<HTMLElement>('.ai-list > li:last-child')
    if (lastWhole && li && li.offsetHeight > el.clientHeight) el.scrollTop = li.offsetTop - 8
  }, [items.length, last?.content, last?.status, lastWhole])
  useEffect(() => {
    const el = log.current
    if (!el) return
    const onScroll = () => {
      stick.current = el.scrollHeight - el.scrollTop - el.clientHeight < 40
    }
    el.addEventListener('scroll', onScroll, { passive: true })
    return () => el.removeEventListener('scroll', onScroll)
  }, [])

  const nameOf = (id: string | null) => {
    if (!id) return 'Someone'
    if (id === session?.user.id) return 'You'
    return members.find((m) => m.user_id === id)?.name ?? 'A former member'
  }
  const askerOf = (m: ThreadItem) => items.find((q) => q.id === m.reply_to)?.author_id ?? null
  function submit(e?: FormEvent) {
    e?.preventDefault()
    const t = text.trim()
    if (t && !ask.isPending) ask.mutate(t)
  }
  function onKey(e: KeyboardEvent<HTMLTextAreaElement>) {
    if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) submit()
  }

  return (
    <>
      <div className="ai-log" ref={log} role="log" aria-live="polite" aria-label="Assistant thread" tabIndex={0}>
      <ol className="ai-list">
        {history.hasNextPage && (
          <li className="ai-older">
            <button type="button" className="small" onClick={() => void history.fetchNextPage()} disabled={history.isFetchingNextPage}>
              {history.isFetchingNextPage ? 'Loading…' : 'Load older messages'}
            </button>
          </li>
        )}
        {history.isLoading && <li className="muted" role="status">Loading the thread…</li>}
        {history.isSuccess && items.length === 0 && (
          <li className="muted">No questions yet. Ask about your circuits, jobs and devices; everyone here sees the answer.</li>
        )}
        {items.map((m) =>
          m.role === 'user' ? (
            <li key={m.id} className={`ai-msg ai-question${m.author_id === session?.user.id ? ' mine' : ''}`} data-testid="ai-question">
              <div className="ai-meta">
                <strong>{nameOf(m.author_id)}</strong>
                {m.created_at && <time className="muted" dateTime={m.created_at}>{new Date(m.created_at).toLocaleTimeString()}</time>}
              </div>
              <p className="ai-text">{m.content}</p>
            </li>
          ) : (
            <Answer
              key={m.id}
              m={m}
              canCancel={canEdit || askerOf(m) === session?.user.id}
              cancelling={cancel.isPending && cancel.variables === m.id}
              onCancel={() => cancel.mutate(m.id)}
            />
          ),
        )}
      </ol>
      </div>
      {history.error && <ErrorNote error={history.error} />}
      {cancel.error && <ErrorNote error={cancel.error} />}
      <form className="ai-ask" onSubmit={submit} aria-label="Ask the assistant">
        <label htmlFor="ai-question">Your question</label>
        <textarea
          id="ai-question"
          data-testid="ai-input"
          rows={3}
          maxLength={MAX_QUESTION}
          placeholder={thread ? 'Ask about this circuit…' : 'Ask about the workspace’s circuits and jobs…'}
          value={text}
          onChange={(e) => setText(e.target.value)}
          onKeyDown={onKey}
        />
        <div className="row">
          <button type="submit" className="primary" disabled={ask.isPending || !text.trim()}>
            {ask.isPending ? 'Asking…' : 'Ask'}
          </button>
          <span className="muted">Ctrl+Enter sends. {running ? 'The assistant is answering; a new question can follow once it is done (or cancelled).' : ''}</span>
        </div>
        {ask.error && <ErrorNote error={ask.error} testId="ai-error" />}
      </form>
    </>
  )
}

function Answer({ m, canCancel, cancelling, onCancel }: { m: ThreadItem; canCancel: boolean; cancelling: boolean; onCancel: () => void }) {
  const { reason, body } = m.offline ? splitOffline(m.content) : { reason: null, body: m.content }
  const running = m.status === 'running'
  return (
    <li className="ai-msg ai-answer" data-testid="ai-answer" data-status={m.status} data-offline={m.offline ? 'true' : undefined} aria-busy={running}>
      <div className="ai-meta">
        <strong>Assistant</strong>
        {m.created_at && <time className="muted" dateTime={m.created_at}>{new Date(m.created_at).toLocaleTimeString()}</time>}
        {m.offline && <span className="badge offline" title="No AI model answered: this is what the engine computed">offline</span>}
        {running && <span className="badge status-running">writing…</span>}
        {m.status === 'cancelled' && <span className="badge status-cancelled">cancelled</span>}
        {m.status === 'failed' && <span className="badge status-failed">failed</span>}
        {running && canCancel && (
          <button type="button" className="danger small" onClick={onCancel} disabled={cancelling}>
            {cancelling ? 'Cancelling…' : 'Cancel'}
          </button>
        )}
      </div>
      {m.offline && (
        <p className="muted ai-offline-note">
          No AI model answered{reason ? ` (${reason})` : ''}: these are the engine’s own findings.
        </p>
      )}
      <div className="ai-body" data-testid="ai-answer-body">
        {m.offline ? (
          // The findings the server wrote out as text, shown as findings again.
          parseFindingsText(body).map((part, i) =>
            part.kind === 'text' ? <p key={i} className="ai-text">{part.text}</p> : <Findings key={i} findings={part.findings} />,
          )
        ) : body ? (
          <p className="ai-text">
            {body}
            {running && <span className="caret" aria-hidden="true">▍</span>}
          </p>
        ) : running ? (
          <p className="muted">Thinking…</p>
        ) : m.status === 'cancelled' ? (
          <p className="muted">Cancelled before it finished; the server keeps no part of it.</p>
        ) : null}
      </div>
      {m.status === 'failed' && m.error && <p className="error">The answer failed: {m.error}</p>}
      {m.status === 'completed' && !m.offline && m.error && <p className="muted">Note: {m.error}</p>}
      {m.status === 'completed' && m.model && (
        <p className="muted ai-usage">
          {m.model} · {m.usage.prompt_tokens + m.usage.completion_tokens} tokens
        </p>
      )}
    </li>
  )
}

function Suggestions({ ws, docName }: { ws: string; docName: (id: string) => string }) {
  const { api } = useApp()
  const { workspace, canEdit } = useWorkspace()
  const qc = useQueryClient()
  const key = ['ai', ws, 'suggestions']
  const list = useQuery({ queryKey: key, queryFn: () => api.aiSuggestions(ws) })
  const decide = useMutation({
    mutationFn: ({ id, decision }: { id: string; decision: 'accept' | 'reject' }) => api.decideSuggestion(ws, id, decision),
    onSuccess: (s) => qc.setQueryData<AiSuggestion[]>(key, (old) => upsertSuggestion(old ?? [], s)),
  })
  const pending = list.data?.filter((s) => s.status === 'pending') ?? []
  const decided = list.data?.filter((s) => s.status !== 'pending') ?? []
  return (
    <aside className="ai-suggestions" aria-labelledby="ai-sugg-title">
      <h2 id="ai-sugg-title">Suggested edits</h2>
      <p className="muted">
        The assistant never edits a circuit itself: it proposes a new version, and an editor accepts it (everyone sees the change
        live) or rejects it.
        {!canEdit && ' You are a viewer: an editor or owner decides.'}
      </p>
      {list.error && <ErrorNote error={list.error} />}
      {decide.error && <ErrorNote error={decide.error} />}
      {list.isSuccess && pending.length === 0 && <p className="muted">No suggestions waiting.</p>}
      <ul className="ai-sugg-list">
        {pending.map((s) => (
          <li key={s.id} className="card ai-sugg" data-testid="ai-suggestion">
            <p>
              <strong>{s.summary}</strong>
              <br />
              <span className="muted">
                for <Link to={`/w/${workspace.id}/d/${s.doc_id}`}>{docName(s.doc_id)}</Link> · {new Date(s.created_at).toLocaleString()}
              </span>
            </p>
            <details>
              <summary>Proposed circuit</summary>
              <pre className="ai-qasm">{s.qasm}</pre>
            </details>
            {canEdit && (
              <div className="row">
                <button type="button" className="primary small" disabled={decide.isPending} onClick={() => decide.mutate({ id: s.id, decision: 'accept' })}>
                  Accept
                </button>
                <button type="button" className="small" disabled={decide.isPending} onClick={() => decide.mutate({ id: s.id, decision: 'reject' })}>
                  Reject
                </button>
              </div>
            )}
          </li>
        ))}
      </ul>
      {decided.length > 0 && (
        <details>
          <summary>Decided ({decided.length})</summary>
          <ul className="ai-sugg-list">
            {decided.map((s) => (
              <li key={s.id}>
                <span className={`badge status-${s.status === 'accepted' ? 'completed' : 'cancelled'}`}>{s.status}</span> {s.summary}{' '}
                <span className="muted">({docName(s.doc_id)})</span>
              </li>
            ))}
          </ul>
        </details>
      )}
    </aside>
  )
}
