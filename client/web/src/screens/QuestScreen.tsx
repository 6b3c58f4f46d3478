// Quantum Quest: the challenge list, and one challenge with an OpenQASM editor whose
// attempts the server's simulator judges, hints that cost points, the challenge's
// leaderboard and Bloch vectors of the circuit moment by moment.
import { useState, type FormEvent } from 'react'
import { Link, useParams } from 'react-router-dom'
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query'
import { useApp } from '../context'
import { ApiError } from '../api/client'
import type { BlochTrace, QuestAttempt, QuestChallenge } from '../api/types'
import { useWorkspace } from './WorkspaceLayout'
import { errorText } from './Auth'

export default function QuestScreen() {
  const { key } = useParams()
  return key ? <Challenge challengeKey={key} /> : <ChallengeList />
}

function ChallengeList() {
  const { api } = useApp()
  const { workspace } = useWorkspace()
  const list = useQuery({ queryKey: ['quest'], queryFn: () => api.challenges() })
  if (list.error) return <div className="page"><p className="error" role="alert">{errorText(list.error)}</p></div>
  const all = list.data ?? []
  const solved = all.filter((c) => c.progress.solved).length
  return (
    <div className="page">
      <h1>Quantum Quest</h1>
      <p className="muted">
        Build the circuit each challenge asks for; the server simulates it and scores it. Fewer gates and less depth score more.
        {all.length > 0 && <> You have solved <strong>{solved}</strong> of {all.length}.</>}
      </p>
      <table className="quest-list">
        <thead><tr><th scope="col">Challenge</th><th scope="col">Tier</th><th scope="col">Qubits</th><th scope="col">Points</th><th scope="col">You</th></tr></thead>
        <tbody>
          {all.map((c) => (
            <tr key={c.key}>
              <td><Link to={`/w/${workspace.id}/quest/${c.key}`}>{c.title}</Link></td>
              <td><span className={`badge tier-${c.tier}`}>{c.tier}</span></td>
              <td>{c.qubits}</td>
              <td>{c.points}</td>
              <td>{c.progress.solved ? <span className="ok">✓ best {c.progress.best_score}</span> : c.progress.attempts > 0 ? `${c.progress.attempts} attempt(s)` : '—'}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {list.isLoading && <p role="status">Loading…</p>}
    </div>
  )
}

function constraintsText(c: QuestChallenge): string[] {
  const k = c.constraints
  const out: string[] = []
  if (k.allowed_gates) out.push(`only ${k.allowed_gates.join(', ')}`)
  if (k.required_gates?.length) out.push(`must use ${k.required_gates.join(', ')}`)
  if (k.max_gates != null) out.push(`≤ ${k.max_gates} gates`)
  if (k.max_depth != null) out.push(`depth ≤ ${k.max_depth}`)
  if (k.max_two_qubit_gates != null) out.push(`≤ ${k.max_two_qubit_gates} two-qubit gates`)
  if (k.max_t_gates != null) out.push(`≤ ${k.max_t_gates} T gates`)
  return out
}

function Challenge({ challengeKey }: { challengeKey: string }) {
  const { api } = useApp()
  const { workspace } = useWorkspace()
  const qc = useQueryClient()
  const ch = useQuery({ queryKey: ['quest', challengeKey], queryFn: () => api.challenge(challengeKey) })
  const board = useQuery({ queryKey: ['quest', challengeKey, 'board'], queryFn: () => api.questLeaderboard(challengeKey) })
  // What the player typed; the challenge's starter circuit until they type.
  const [edited, setQasm] = useState<string | null>(null)
  const qasm = edited ?? ch.data?.starter_qasm ?? null
  const [bloch, setBloch] = useState<BlochTrace | null>(null)
  const refresh = () => {
    void qc.invalidateQueries({ queryKey: ['quest'] })
    void qc.invalidateQueries({ queryKey: ['progress'] })
  }
  const attempt = useMutation({ mutationFn: () => api.attempt(challengeKey, qasm ?? ''), onSuccess: refresh })
  const hint = useMutation({ mutationFn: (i: number) => api.revealHint(challengeKey, i), onSuccess: refresh })
  const trace = useMutation({ mutationFn: () => api.bloch(qasm ?? ''), onSuccess: setBloch })
  if (ch.error) return <div className="page"><p className="error" role="alert">{errorText(ch.error)}</p></div>
  const c = ch.data
  if (!c) return <div className="page"><p role="status">Loading…</p></div>
  const nextHint = c.progress.hints.length
  function submit(e: FormEvent) {
    e.preventDefault()
    attempt.mutate()
  }
  return (
    <div className="page quest">
      <p><Link to={`/w/${workspace.id}/quest`}>← All challenges</Link></p>
      <h1>{c.title} <span className={`badge tier-${c.tier}`}>{c.tier}</span></h1>
      <p>{c.description}</p>
      <dl className="facts">
        <dt>Target</dt><dd>{c.target.kind === 'state' ? 'a state' : c.target.kind === 'unitary' ? 'a unitary' : 'a distribution of measured bits'} with fidelity ≥ {c.threshold}</dd>
        <dt>Qubits</dt><dd>{c.qubits}</dd>
        {constraintsText(c).length > 0 && <><dt>Constraints</dt><dd>{constraintsText(c).join(' · ')}</dd></>}
        <dt>Points</dt><dd>{c.points} at par ({c.par_gates} gates, depth {c.par_depth})</dd>
        <dt>You</dt><dd>{c.progress.solved ? `solved, best score ${c.progress.best_score}` : 'not solved yet'} · {c.progress.attempts} attempt(s)</dd>
      </dl>
      <div className="quest-grid">
        <form onSubmit={submit} aria-label="Your attempt" className="quest-editor">
          <label htmlFor="quest-qasm">Your circuit (OpenQASM 2 or 3)</label>
          <textarea id="quest-qasm" spellCheck={false} rows={12} value={qasm ?? ''} onChange={(e) => setQasm(e.target.value)} />
          <div className="row">
            <button type="submit" className="primary" disabled={attempt.isPending}>{attempt.isPending ? 'Judging…' : 'Submit attempt'}</button>
            <button type="button" onClick={() => trace.mutate()} disabled={trace.isPending}>Bloch vectors</button>
            <button type="button" onClick={() => { setQasm(c.starter_qasm); attempt.reset() }}>Reset</button>
          </div>
          {attempt.error && <p className="error" role="alert">{positioned(attempt.error)}</p>}
          {attempt.data && <Verdict v={attempt.data} />}
          {trace.error && <p className="error" role="alert">{positioned(trace.error)}</p>}
          {bloch && <Bloch trace={bloch} />}
        </form>
        <aside className="quest-side">
          <h2>Hints</h2>
          {c.progress.hints.length === 0 && <p className="muted">No hints revealed.</p>}
          <ol>{c.progress.hints.map((h, i) => <li key={i}>{h.text} <span className="muted">(−{h.cost})</span></li>)}</ol>
          {nextHint < c.hint_costs.length && (
            <button type="button" onClick={() => hint.mutate(nextHint)} disabled={hint.isPending}>
              Reveal hint {nextHint + 1} (−{c.hint_costs[nextHint]} points)
            </button>
          )}
          {hint.error && <p className="error" role="alert">{errorText(hint.error)}</p>}
          <h2>Leaderboard</h2>
          {board.data && board.data.entries.length === 0 && <p className="muted">No one has solved it yet.</p>}
          {board.data && board.data.entries.length > 0 && (
            <table className="board" aria-label="Challenge leaderboard">
              <thead><tr><th scope="col">#</th><th scope="col">Player</th><th scope="col">Score</th></tr></thead>
              <tbody>
                {board.data.entries.map((e) => (
                  <tr key={`${e.rank}`} className={e.user_id && e.user_id === board.data?.me?.user_id ? 'me' : undefined}>
                    <td>{e.rank}</td><td>{e.name}</td><td>{e.score}</td>
                  </tr>
                ))}
                {board.data.me && !board.data.entries.some((e) => e.rank === board.data?.me?.rank) && (
                  <tr className="me"><td>{board.data.me.rank}</td><td>{board.data.me.name}</td><td>{board.data.me.score}</td></tr>
                )}
              </tbody>
            </table>
          )}
        </aside>
      </div>
    </div>
  )
}

/** An error with the OpenQASM position first, when the server gave one. */
function positioned(e: unknown): string {
  if (e instanceof ApiError) {
    const d = e.details as { line?: number; col?: number } | undefined
    if (d?.line != null && d.col != null && !e.message.includes(`${d.line}:${d.col}`)) return `line ${d.line}:${d.col}: ${e.message}`
  }
  return errorText(e)
}

function Verdict({ v }: { v: QuestAttempt }) {
  return (
    <section className={`verdict ${v.passed ? 'passed' : 'failed'}`} aria-live="polite" aria-label="Verdict">
      <h2>{v.passed ? 'Passed' : 'Not yet'}</h2>
      <p>Fidelity <strong>{v.fidelity.toFixed(4)}</strong> (needs ≥ {v.threshold}) · {v.gates} gates, depth {v.depth}, {v.two_qubit_gates} two-qubit</p>
      {v.violations.length > 0 && <ul>{v.violations.map((x) => <li key={x.code + x.message}>{x.message} <code>{x.code}</code></li>)}</ul>}
      {v.passed && (
        <p>
          Score <strong>{v.score}</strong>{v.hint_cost > 0 && ` (−${v.hint_cost} for hints)`}{v.new_best && ' — your new best'}
          {v.points_awarded > 0 && <> · +{v.points_awarded} points</>}
          {v.unlocked.length > 0 && <> · unlocked: {v.unlocked.join(', ')}</>}
        </p>
      )}
    </section>
  )
}

const R = 28

function Sphere({ v, label }: { v: [number, number, number]; label: string }) {
  // x to the right, z up (the y component is shown by the dot's size).
  const [x, y, z] = v
  const len = Math.hypot(x, y, z)
  return (
    <svg width={2 * R + 8} height={2 * R + 8} viewBox={`${-R - 4} ${-R - 4} ${2 * R + 8} ${2 * R + 8}`} role="img" aria-label={`${label}: x ${x.toFixed(2)}, y ${y.toFixed(2)}, z ${z.toFixed(2)}`}>
      <circle r={R} className="sphere" />
      <ellipse rx={R} ry={R / 4} className="equator" />
      <line x1={0} y1={0} x2={x * R} y2={-z * R} className="bloch-arrow" />
      <circle cx={x * R} cy={-z * R} r={2 + 2 * Math.max(0, y)} className={len < 0.5 ? 'bloch-dot mixed' : 'bloch-dot'} />
    </svg>
  )
}

function Bloch({ trace }: { trace: BlochTrace }) {
  return (
    <section aria-label="Bloch vectors" className="bloch">
      <h2>Bloch vectors</h2>
      <p className="muted">Each qubit after each moment (x right, z up; a short vector means the qubit is entangled).</p>
      <table>
        <thead><tr><th scope="col">Qubit</th>{trace.moments.map((_, i) => <th scope="col" key={i}>{i === 0 ? 'start' : `t${i}`}</th>)}</tr></thead>
        <tbody>
          {Array.from({ length: trace.num_qubits }, (_, q) => (
            <tr key={q}>
              <th scope="row">q[{q}]</th>
              {trace.moments.map((m, i) => <td key={i}><Sphere v={m.vectors[q] ?? [0, 0, 0]} label={`q[${q}] ${i === 0 ? 'at the start' : `after moment ${i}`}`} /></td>)}
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  )
}
