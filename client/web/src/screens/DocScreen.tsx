import { memo, useEffect, useMemo, useRef, useState } from 'react'
import { useParams } from 'react-router-dom'
import { useInfiniteQuery, useMutation, useQuery, useQueryClient } from '@tanstack/react-query'
import { ApiError } from '../api/client'
import type { Job, JobKind } from '../api/types'
import { diffSummary } from '../doc/diff'
import { mergeJob } from '../events'
import { useApp } from '../context'
import { useWorkspace } from './WorkspaceLayout'
import { useLiveDoc, type LiveDoc } from '../doc/live'
import { Composer } from '../doc/Composer'
import { toQasm } from '../doc/qasm'
import { circuitStats } from '../doc/stats'
import type { CircuitView } from '../doc/binding'
import { JobCard, StatusBadge } from '../components/JobCard'
import { errorText } from './Auth'

export default function DocScreen() {
  const { doc: docId = '' } = useParams()
  const { api, session } = useApp()
  const { workspace, canEdit } = useWorkspace()
  const live = useLiveDoc(api, docId, session!.user)
  const readOnly = !canEdit || live.status === 'denied'
  const meta = useQuery({ queryKey: ['doc', docId], queryFn: () => api.doc(docId) })
  const qc = useQueryClient()
  // The problems list is the server's reading of the merged document: asked again once
  // the edits pause (1 s), when the browser is idle, never on every keystroke.
  useEffect(() => {
    let idle = 0
    const t = setTimeout(() => {
      idle = whenIdle(() => void qc.invalidateQueries({ queryKey: ['doc', docId] }))
    }, 1000)
    return () => {
      clearTimeout(t)
      cancelIdle(idle)
    }
  }, [live.view, docId, qc])

  return (
    <div className="doc-screen">
      <div className="doc-head">
        <h1>{live.view.name || meta.data?.name || 'Circuit'}</h1>
        {readOnly && <span className="badge role-viewer" title="You can watch this circuit but not change it">read-only</span>}
        <span className={`link ${live.status}`} role="status">
          {live.status === 'connected' ? (live.synced ? 'synced' : 'syncing…') : live.status}
        </span>
        <Presence peers={live.peers} />
        <div className="row">
          <button type="button" className="small" onClick={() => live.undo.undo()} disabled={readOnly || !live.canUndo} aria-keyshortcuts="Control+Z">Undo</button>
          <button type="button" className="small" onClick={() => live.undo.redo()} disabled={readOnly || !live.canRedo} aria-keyshortcuts="Control+Shift+Z">Redo</button>
        </div>
      </div>
      <div className="doc-body">
        <section className="doc-main" aria-label="Composer">
          {meta.error && <p className="error" role="alert">{errorText(meta.error)}</p>}
          <Composer ydoc={live.ydoc} view={live.view} readView={live.readView} readOnly={readOnly} peers={live.peers} undo={live.undo} setLocal={live.setLocal} />
          <StatsPanel docId={docId} view={live.view} />
        </section>
        <div className="doc-side">
          <RunPanel docId={docId} ws={workspace.id} canEdit={canEdit} problems={meta.data?.problems.length ?? 0} />
          <QasmPanel docId={docId} view={live.view} readOnly={readOnly} />
          <HistoryPanel docId={docId} canEdit={canEdit} />
        </div>
      </div>
    </div>
  )
}

const Presence = memo(function Presence({ peers }: { peers: LiveDoc['peers'] }) {
  return (
    <ul className="presence" data-testid="presence" aria-label="People here">
      {peers.map((p) => (
        <li key={p.clientId} data-peer={p.user.name} style={{ borderColor: p.user.color }}>
          <span className="dot" style={{ background: p.user.color }} aria-hidden="true" />
          {p.user.name}{p.self ? ' (you)' : ''}
        </li>
      ))}
    </ul>
  )
})

type IdleWindow = { requestIdleCallback?: (f: () => void, o?: { timeout: number }) => number; cancelIdleCallback?: (h: number) => void }

/** Runs `f` when the browser is idle (within 500 ms at the latest). */
function whenIdle(f: () => void): number {
  const w = window as unknown as IdleWindow
  return w.requestIdleCallback ? w.requestIdleCallback(f, { timeout: 500 }) : window.setTimeout(f, 50)
}

function cancelIdle(h: number) {
  const w = window as unknown as IdleWindow
  if (w.cancelIdleCallback) w.cancelIdleCallback(h)
  else window.clearTimeout(h)
}

/** Stats from the live view model (every edit, no request); problems from the server. */
const StatsPanel = memo(function StatsPanel({ docId, view }: { docId: string; view: CircuitView }) {
  const { api } = useApp()
  const meta = useQuery({ queryKey: ['doc', docId], queryFn: () => api.doc(docId) })
  const s = useMemo(() => circuitStats(view), [view])
  const d = meta.data
  const simple: Array<[string, number]> = [['qubits', s.qubits], ['clbits', s.clbits], ['depth', s.depth], ['gates', s.total_gates], ['2-qubit gates', s.two_qubit_gates]]
  return (
    <section className="card stats" aria-labelledby="stats-title" data-testid="stats">
      <h2 id="stats-title">Stats &amp; problems</h2>
      <dl className="stat-grid">
        {simple.map(([k, v]) => (
          <div key={k} data-stat={k}><dt>{k}</dt><dd>{v}</dd></div>
        ))}
      </dl>
      <p className="muted" data-testid="gate-counts">{Object.entries(s.gate_counts).sort().map(([k, v]) => `${k}×${v}`).join('  ')}</p>
      {!d ? null : d.problems.length === 0 ? (
        <p className="ok">No problems: ready to run.</p>
      ) : (
        <ul className="problems" data-testid="problems">
          {d.problems.map((p, i) => (
            <li key={i} className="error">{p.op_index !== null && p.op_index !== undefined ? `op ${p.op_index + 1}: ` : ''}{p.message}</li>
          ))}
        </ul>
      )}
    </section>
  )
})

const QasmPanel = memo(function QasmPanel({ docId, view, readOnly }: { docId: string; view: CircuitView; readOnly: boolean }) {
  const { api } = useApp()
  // Laying out thousands of lines of text costs more than the edit itself (the bench's
  // profile: ~13 ms of setting the value plus the layout, per edit): on big circuits the
  // text is written once edits pause for 300 ms, when the browser is idle, so no edit's
  // frame waits for it; small circuits follow at once. The box's layout is contained.
  const [shown, setShown] = useState(view)
  useEffect(() => {
    if (view.ops.length < 200) {
      // Deliberate: small circuits follow at once, big ones after the pause below; one
      // state keeps the text from jumping back when a circuit grows past the limit.
      // eslint-disable-next-line react-hooks/set-state-in-effect
      setShown(view)
      return
    }
    let h = 0
    const t = setTimeout(() => {
      h = whenIdle(() => setShown(view))
    }, 300)
    return () => {
      clearTimeout(t)
      cancelIdle(h)
    }
  }, [view])
  const text = useMemo(() => toQasm(shown), [shown])
  const [draft, setDraft] = useState<string | null>(null)
  const [err, setErr] = useState<{ line?: number; col?: number; message: string } | null>(null)
  const area = useRef<HTMLTextAreaElement>(null)
  const gutter = useRef<HTMLPreElement>(null)
  const apply = useMutation({
    mutationFn: (src: string) => api.putQasm(docId, src),
    onSuccess: () => {
      setDraft(null)
      setErr(null)
    },
    onError: (e) => {
      if (e instanceof ApiError && e.position) {
        const { line, col } = e.position
        const d = e.details as { message?: string }
        setErr({ line, col, message: d.message ?? e.message })
        const src = area.current?.value ?? ''
        const lines = src.split('\n')
        const off = lines.slice(0, line - 1).reduce((s, l) => s + l.length + 1, 0) + Math.max(0, col - 1)
        area.current?.focus()
        area.current?.setSelectionRange(off, Math.min(src.length, off + Math.max(1, (lines[line - 1]?.length ?? 1) - col + 1)))
      } else setErr({ message: errorText(e) })
    },
  })
  const value = draft ?? text
  const lines = value.split('\n').length
  return (
    <section className="card qasm" data-testid="qasm-panel" aria-labelledby="qasm-title">
      <div className="panel-head">
        <h2 id="qasm-title">OpenQASM</h2>
        <span className="muted">{draft === null ? 'live' : 'edited — apply to share'}</span>
      </div>
      <div className="qasm-editor">
        <Gutter lines={lines} errLine={err?.line} ref={gutter} />
        <textarea
          ref={area}
          aria-label="OpenQASM source"
          aria-invalid={err ? true : undefined}
          aria-describedby={err ? 'qasm-error' : undefined}
          spellCheck={false}
          readOnly={readOnly}
          value={value}
          rows={Math.min(24, Math.max(8, lines + 1))}
          onScroll={(e) => {
            if (gutter.current) gutter.current.scrollTop = e.currentTarget.scrollTop
          }}
          onChange={(e) => {
            setDraft(e.target.value)
            setErr(null)
          }}
          onKeyDown={(e) => {
            if ((e.ctrlKey || e.metaKey) && e.key === 'Enter' && draft !== null) {
              e.preventDefault()
              apply.mutate(draft)
            }
          }}
        />
      </div>
      {err && (
        <p id="qasm-error" className="error" role="alert" data-testid="qasm-error">
          {err.line !== undefined ? `Line ${err.line}:${err.col}: ` : ''}{err.message}
        </p>
      )}
      {!readOnly && (
        <div className="row">
          <button type="button" className="primary small" disabled={draft === null || apply.isPending} onClick={() => draft !== null && apply.mutate(draft)} aria-keyshortcuts="Control+Enter">
            Apply QASM
          </button>
          <button type="button" className="small" disabled={draft === null} onClick={() => { setDraft(null); setErr(null) }}>Discard edits</button>
        </div>
      )}
    </section>
  )
})

/** Line numbers as three text nodes (before, the error line, after): cheap for long files. */
function Gutter({ lines, errLine, ref }: { lines: number; errLine?: number; ref: React.Ref<HTMLPreElement> }) {
  const nums = (a: number, b: number) => {
    let t = ''
    for (let i = a; i <= b; i++) t += `${i}\n`
    return t
  }
  const e = errLine && errLine <= lines ? errLine : 0
  return (
    <pre className="gutter" aria-hidden="true" ref={ref}>
      {e ? (
        <>
          {nums(1, e - 1)}
          <span className="err-line">{`${e}\n`}</span>
          {nums(e + 1, lines)}
        </>
      ) : nums(1, lines)}
    </pre>
  )
}

const RunPanel = memo(function RunPanel({ docId, ws, canEdit, problems }: { docId: string; ws: string; canEdit: boolean; problems: number }) {
  const { api } = useApp()
  const backends = useQuery({ queryKey: ['backends'], queryFn: () => api.backends(), staleTime: 60_000 })
  const [backend, setBackend] = useState('ideal')
  const [shots, setShots] = useState(1024)
  const [level, setLevel] = useState(1)
  const [kind, setKind] = useState<JobKind>('simulate')
  const jobs = useInfiniteQuery({
    queryKey: ['jobs', ws, 'all'],
    queryFn: ({ pageParam }) => api.jobs(ws, { cursor: pageParam, limit: 50 }),
    initialPageParam: null as string | null,
    getNextPageParam: (p) => p.next_cursor ?? null,
  })
  const mine = (jobs.data?.pages ?? []).flatMap((p) => p.items).filter((j) => j.source_doc_id === docId)
  const [shown, setShown] = useState<string | null>(null)
  const qc = useQueryClient()
  const submit = useMutation({
    mutationFn: () => api.submit(ws, { doc_id: docId, backend, shots, optimization_level: level, kind }),
    onSuccess: (job) => {
      qc.setQueryData<Job>(['job', job.id], (old) => mergeJob(old, job))
      qc.invalidateQueries({ queryKey: ['jobs', ws] })
      setShown(job.id)
    },
  })
  const current = shown ?? mine[0]?.id ?? null
  return (
    <section className="card run" aria-labelledby="run-title">
      <h2 id="run-title">Run</h2>
      <form
        className="run-form"
        onSubmit={(e) => {
          e.preventDefault()
          submit.mutate()
        }}
      >
        <label>
          Backend
          <select aria-label="Backend" value={backend} onChange={(e) => setBackend(e.target.value)} disabled={!canEdit}>
            {(backends.data ?? [{ name: 'ideal', available: true, kind: 'simulator', num_qubits: 0, basis_gates: [], queue_length: 0 }]).map((b) => (
              <option key={b.name} value={b.name} disabled={!b.available}>
                {b.name}{b.available ? '' : ' (unavailable)'}
              </option>
            ))}
          </select>
        </label>
        <label>
          Shots
          <input type="number" min={1} max={1_000_000} value={shots} onChange={(e) => setShots(Number(e.target.value))} disabled={!canEdit} />
        </label>
        <label>
          Optimization
          <select value={level} onChange={(e) => setLevel(Number(e.target.value))} disabled={!canEdit}>
            {[0, 1, 2, 3].map((l) => <option key={l} value={l}>level {l}</option>)}
          </select>
        </label>
        <label>
          Do
          <select aria-label="What to do" value={kind} onChange={(e) => setKind(e.target.value as JobKind)} disabled={!canEdit}>
            <option value="simulate">simulate</option>
            <option value="optimize_and_simulate">optimize + simulate</option>
            <option value="optimize">optimize only</option>
          </select>
        </label>
        <button type="submit" className="primary" data-testid="run" disabled={!canEdit || submit.isPending || problems > 0} title={problems > 0 ? 'Fix the problems first' : undefined}>
          {submit.isPending ? 'Submitting…' : 'Run'}
        </button>
      </form>
      {!canEdit && <p className="muted">Viewers can watch jobs but not submit them.</p>}
      {submit.error && <p className="error" role="alert">{errorText(submit.error)}</p>}
      {current && <JobCard jobId={current} ws={ws} canEdit={canEdit} compact />}
      {mine.length > 1 && (
        <ul className="job-mini" aria-label="Earlier runs of this circuit">
          {mine.slice(0, 8).map((j) => (
            <li key={j.id}>
              <button type="button" className={`ghost small ${j.id === current ? 'active' : ''}`} onClick={() => setShown(j.id)} aria-pressed={j.id === current}>
                {new Date(j.queued_at).toLocaleTimeString()} · {j.backend}
              </button>{' '}
              <StatusBadge job={j} />
            </li>
          ))}
        </ul>
      )}
    </section>
  )
})

const HistoryPanel = memo(function HistoryPanel({ docId, canEdit }: { docId: string; canEdit: boolean }) {
  const { api } = useApp()
  const qc = useQueryClient()
  const [open, setOpen] = useState(false)
  const versions = useQuery({ queryKey: ['versions', docId], queryFn: () => api.versions(docId), enabled: open })
  const [name, setName] = useState('')
  const save = useMutation({
    mutationFn: () => api.createVersion(docId, name.trim()),
    onSuccess: () => {
      setName('')
      qc.invalidateQueries({ queryKey: ['versions', docId] })
    },
  })
  const restore = useMutation({
    mutationFn: (v: string) => api.restore(docId, v),
    onSuccess: () => qc.invalidateQueries({ queryKey: ['versions', docId] }),
  })
  return (
    <details className="card history" open={open} onToggle={(e) => setOpen((e.target as HTMLDetailsElement).open)}>
      <summary><h2>History</h2></summary>
      {canEdit && (
        <form className="row" onSubmit={(e) => { e.preventDefault(); if (name.trim()) save.mutate() }}>
          <input aria-label="Version name" placeholder="Name this version" value={name} onChange={(e) => setName(e.target.value)} className="grow" />
          <button type="submit" className="small" disabled={!name.trim() || save.isPending}>Save version</button>
        </form>
      )}
      {(save.error || restore.error) && <p className="error" role="alert">{errorText(save.error ?? restore.error)}</p>}
      <ul className="versions">
        {versions.data?.map((v) => (
          <li key={v.id}>
            <span>{v.name}</span> <span className="muted">{v.kind} · {new Date(v.created_at).toLocaleString()}</span>
            {canEdit && (
              <button type="button" className="small" onClick={() => restore.mutate(v.id)} disabled={restore.isPending}>Restore</button>
            )}
            <VersionDiff docId={docId} versionId={v.id} live={open} />
          </li>
        ))}
        {versions.data?.length === 0 && <li className="muted">No versions yet.</li>}
      </ul>
    </details>
  )
})

const VersionDiff = memo(function VersionDiff({ docId, versionId, live }: { docId: string; versionId: string; live: boolean }) {
  const { api } = useApp()
  // "Now" moves with every edit: while the history is open the comparison is refreshed
  // every few seconds (the server compares on its blocking pool), not on each keystroke.
  const diff = useQuery({
    queryKey: ['version-diff', docId, versionId],
    queryFn: () => api.versionDiff(docId, versionId),
    enabled: live,
    refetchInterval: live ? 3_000 : false,
  })
  if (diff.error) return <span className="muted"> · {errorText(diff.error)}</span>
  if (!diff.data) return null
  return <div className="muted diff" aria-label="Changes since this version">Since then: {diffSummary(diff.data)}</div>
}
)
