// A workspace's activity over a time range: jobs by status over time (a plain SVG
// chart), queue and run times, optimizer savings, backends, the most-run documents,
// members, AI use and points; and the same numbers as a CSV download. Any member.
import { useId, useMemo, useState } from 'react'
import { Link } from 'react-router-dom'
import { keepPreviousData, useMutation, useQuery, useQueryClient } from '@tanstack/react-query'
import { useApp } from '../context'
import { useWorkspace } from './WorkspaceLayout'
import { ErrorNote } from '../components/ErrorNote'
import { saveBlob } from '../download'
import type { Analytics, AnalyticsBucket, AnalyticsPercentiles, AnalyticsSeriesPoint } from '../api/types'
import {
  BUCKETS, RANGES, SEGMENTS, autoBucket, barSummary, bucketAllowed, bucketLabel, csvFilename, formatDuration,
  formatPercent, labelStep, niceMax, rangeFor, rangeMs, stackSeries, type RangeKey,
} from '../analytics'

const num = (n: number) => n.toLocaleString()
const plural = (n: number, one: string, many = `${one}s`) => `${num(n)} ${n === 1 ? one : many}`
// Large ranges are read from histograms: within 1 % of the exact figure.
const approx = (p: AnalyticsPercentiles) => (p.approximate ? '≈ ' : '')

export default function AnalyticsScreen() {
  const { api } = useApp()
  const { workspace } = useWorkspace()
  const qc = useQueryClient()
  const [range, setRange] = useState<RangeKey>('30d')
  const [choice, setChoice] = useState<AnalyticsBucket | 'auto'>('auto')
  // The range ends when it was chosen (or refreshed), not at every render.
  const [anchor, setAnchor] = useState(() => Date.now())
  const { from, to } = useMemo(() => rangeFor(range, anchor), [range, anchor])
  const span = rangeMs(range)
  const auto = autoBucket(span)
  const bucket = choice === 'auto' || !bucketAllowed(span, choice) ? auto : choice
  const ws = workspace.id
  const data = useQuery({
    queryKey: ['analytics', ws, from, to, bucket],
    queryFn: () => api.analytics(ws, { from, to, bucket }),
    placeholderData: keepPreviousData,
  })
  const csv = useMutation({
    mutationFn: async () => {
      const { blob, filename } = await api.analyticsCsv(ws, { from, to, bucket })
      saveBlob(blob, filename ?? csvFilename(from))
    },
  })
  const pick = (key: RangeKey) => {
    setRange(key)
    setAnchor(() => Date.now())
    if (choice !== 'auto' && !bucketAllowed(rangeMs(key), choice)) setChoice('auto')
  }
  const refresh = () => {
    setAnchor(() => Date.now())
    void qc.invalidateQueries({ queryKey: ['analytics', ws] })
  }
  const a = data.data
  const stale = data.isPlaceholderData
  return (
    <div className="page analytics">
      <div className="row analytics-head">
        <h1 className="grow">Analytics</h1>
        {/* Not disabled while it works: a disabled button would drop the keyboard focus. */}
        <button type="button" onClick={() => csv.isPending || csv.mutate()} aria-describedby={csv.isPending ? 'csv-status' : undefined}>
          Download CSV
        </button>
        {csv.isPending && <span id="csv-status" role="status" className="muted">Preparing…</span>}
      </div>
      <div className="row analytics-controls">
        <div role="group" aria-label="Time range" className="row">
          {RANGES.map((r) => (
            <button key={r.key} type="button" aria-pressed={range === r.key} className={range === r.key ? 'primary' : undefined} onClick={() => pick(r.key)}>
              {r.label}
            </button>
          ))}
        </div>
        <label>
          Bucket
          <select value={choice} onChange={(e) => setChoice(e.target.value as AnalyticsBucket | 'auto')}>
            <option value="auto">Automatic ({auto})</option>
            {BUCKETS.map((b) => (
              <option key={b} value={b} disabled={!bucketAllowed(span, b)}>{b}</option>
            ))}
          </select>
        </label>
        <button type="button" onClick={refresh}>Refresh</button>
      </div>
      {csv.error && <ErrorNote error={csv.error} />}
      {data.error && <ErrorNote error={data.error} />}
      {!a && data.isPending && <p role="status">Loading analytics…</p>}
      {a && (
        <div aria-busy={stale} className={stale ? 'analytics-body stale' : 'analytics-body'}>
          <p className="muted">
            {new Date(a.from).toLocaleString()} – {new Date(a.to).toLocaleString()} · by {a.bucket} (UTC)
            {stale && <span role="status"> · Updating…</span>}
          </p>
          <Report a={a} ws={ws} />
        </div>
      )}
    </div>
  )
}

function Report({ a, ws }: { a: Analytics; ws: string }) {
  const { session } = useApp()
  const j = a.jobs
  const empty = j.total === 0
  const ended = j.completed + j.failed
  const o = a.optimizer
  const breakdown = [
    `${num(j.completed)} completed`,
    `${num(j.failed)} failed`,
    `${num(j.cancelled)} cancelled`,
    ...(j.queued ? [`${num(j.queued)} queued`] : []),
    ...(j.running ? [`${num(j.running)} running`] : []),
  ].join(' · ')
  return (
    <>
      {empty && <p className="analytics-empty" data-testid="analytics-empty">No jobs in this range yet.</p>}
      <dl className="analytics-cards">
        {!empty && (
          <>
            <div className="card">
              <dt>Jobs</dt>
              <dd className="stat-value" data-testid="analytics-jobs-total" data-value={j.total}>{num(j.total)}</dd>
              <dd className="muted">{breakdown}</dd>
            </div>
            <div className="card">
              <dt>Success rate</dt>
              <dd className="stat-value">{formatPercent(j.success_rate)}</dd>
              <dd className="muted">{ended ? `of ${plural(ended, 'job')} that completed or failed` : 'No job has finished yet'}</dd>
            </div>
            <div className="card">
              <dt>Shots</dt>
              <dd className="stat-value">{num(j.shots)}</dd>
              <dd className="muted">{j.total ? `${num(Math.round(j.shots / j.total))} per job on average` : ''}</dd>
            </div>
            <div className="card">
              <dt>Queue wait</dt>
              <dd className="stat-value">p50 {approx(a.queue_wait_ms)}{formatDuration(a.queue_wait_ms.p50)}</dd>
              <dd className="muted">p95 {approx(a.queue_wait_ms)}{formatDuration(a.queue_wait_ms.p95)} · {plural(a.queue_wait_ms.count, 'job')}</dd>
            </div>
            <div className="card">
              <dt>Run time</dt>
              <dd className="stat-value">p50 {approx(a.run_time_ms)}{formatDuration(a.run_time_ms.p50)}</dd>
              <dd className="muted">p95 {approx(a.run_time_ms)}{formatDuration(a.run_time_ms.p95)} · {plural(a.run_time_ms.count, 'job')}</dd>
            </div>
            <div className="card">
              <dt>Optimizer</dt>
              {o.jobs > 0 ? (
                <>
                  <dd className="stat-value">{num(o.gates_before)} → {num(o.gates_after)} gates</dd>
                  <dd className="muted">
                    {formatPercent(o.gates_saved)} saved · {plural(o.jobs, 'optimized job')} · depth {num(o.depth_before)} → {num(o.depth_after)} · two-qubit{' '}
                    {num(o.two_qubit_before)} → {num(o.two_qubit_after)}
                  </dd>
                </>
              ) : (
                <>
                  <dd className="stat-value">—</dd>
                  <dd className="muted">No optimized jobs</dd>
                </>
              )}
            </div>
          </>
        )}
        <div className="card">
          <dt>AI requests</dt>
          <dd className="stat-value">{num(a.ai.requests)}</dd>
          <dd className="muted">{num(a.ai.prompt_tokens)} prompt + {num(a.ai.completion_tokens)} completion tokens</dd>
        </div>
        <div className="card">
          <dt>Points</dt>
          <dd className="stat-value">{num(a.points.points)}</dd>
          <dd className="muted">{plural(a.points.awards, 'award')}</dd>
        </div>
      </dl>
      {!empty && <JobsChart series={a.series} bucket={a.bucket} />}
      <div className="analytics-tables">
        {!empty && (
          <section aria-labelledby="an-backends">
            <h2 id="an-backends">Backends</h2>
            {a.backends.length === 0 ? (
              <p className="muted">No backend was used.</p>
            ) : (
              <table aria-labelledby="an-backends" data-testid="analytics-backends">
                <thead><tr><th scope="col">Backend</th><th scope="col" className="num">Jobs</th><th scope="col" className="num">Shots</th></tr></thead>
                <tbody>
                  {a.backends.map((b) => (
                    <tr key={b.backend} data-testid="backend-row">
                      <td><code>{b.backend}</code></td><td className="num">{num(b.jobs)}</td><td className="num">{num(b.shots)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            )}
          </section>
        )}
        {!empty && (
          <section aria-labelledby="an-docs">
            <h2 id="an-docs">Most-run documents</h2>
            {a.documents.length === 0 ? (
              <p className="muted">No job ran a document.</p>
            ) : (
              <table aria-labelledby="an-docs">
                <thead><tr><th scope="col">Document</th><th scope="col" className="num">Jobs</th></tr></thead>
                <tbody>
                  {a.documents.map((d) => (
                    <tr key={d.doc_id}>
                      <td>{d.name ? <Link to={`/w/${ws}/d/${d.doc_id}`}>{d.name}</Link> : <span className="muted">(deleted document)</span>}</td>
                      <td className="num">{num(d.jobs)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            )}
          </section>
        )}
        <section aria-labelledby="an-members" className="wide">
          <h2 id="an-members">Members</h2>
          {a.members.length === 0 ? (
            <p className="muted">Nobody was active in this range.</p>
          ) : (
            <table aria-labelledby="an-members">
              <thead>
                <tr>
                  <th scope="col">Member</th><th scope="col" className="num">Jobs</th><th scope="col" className="num">AI requests</th>
                  <th scope="col" className="num">Chat messages</th><th scope="col" className="num">Points</th>
                </tr>
              </thead>
              <tbody>
                {a.members.map((m) => (
                  <tr key={m.user_id}>
                    <td>{m.name || <span className="muted">(unknown)</span>}{m.user_id === session?.user.id ? ' (you)' : ''}</td>
                    <td className="num">{num(m.jobs)}</td><td className="num">{num(m.ai_requests)}</td>
                    <td className="num">{num(m.chat_messages)}</td><td className="num">{num(m.points)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </section>
        {a.ai.by_kind.length > 0 && (
          <section aria-labelledby="an-ai">
            <h2 id="an-ai">AI use by kind</h2>
            <table aria-labelledby="an-ai">
              <thead>
                <tr><th scope="col">Kind</th><th scope="col" className="num">Requests</th><th scope="col" className="num">Prompt tokens</th><th scope="col" className="num">Completion tokens</th></tr>
              </thead>
              <tbody>
                {a.ai.by_kind.map((k) => (
                  <tr key={k.kind}>
                    <td>{k.kind}</td><td className="num">{num(k.requests)}</td><td className="num">{num(k.prompt_tokens)}</td><td className="num">{num(k.completion_tokens)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </section>
        )}
      </div>
    </>
  )
}

// Layout of the chart in viewBox units; the SVG scales to the width of the page.
const W = 760
const H = 240
const PAD = { left: 48, right: 10, top: 12, bottom: 52 }

/** Jobs per bucket, stacked by status, as a plain SVG bar chart with a table of the numbers. */
function JobsChart({ series, bucket }: { series: AnalyticsSeriesPoint[]; bucket: AnalyticsBucket }) {
  const id = useId()
  const { bars, max } = useMemo(() => stackSeries(series), [series])
  const top = niceMax(max)
  const plotW = W - PAD.left - PAD.right
  const plotH = H - PAD.top - PAD.bottom
  const slot = plotW / Math.max(1, bars.length)
  const barW = Math.max(1, Math.min(40, slot * 0.72))
  const y = (v: number) => PAD.top + plotH - (v / top) * plotH
  const ticks = top % 2 === 0 ? [0, top / 2, top] : [0, top]
  const step = labelStep(bars.length, 6)
  const total = bars.reduce((s, b) => s + b.total, 0)
  const busiest = bars.reduce<(typeof bars)[number] | null>((m, b) => (!m || b.total > m.total ? b : m), null)
  const withJobs = bars.filter((b) => b.total > 0)
  return (
    <section aria-labelledby={`${id}-h`} className="analytics-chart">
      <h2 id={`${id}-h`}>Jobs over time</h2>
      <ul className="legend" aria-label="Legend">
        {SEGMENTS.map((s) => (
          <li key={s.kind}><span className={`swatch seg-${s.kind}`} aria-hidden="true" /> {s.label}</li>
        ))}
      </ul>
      <svg viewBox={`0 0 ${W} ${H}`} role="img" aria-labelledby={`${id}-t ${id}-d`} data-testid="analytics-chart">
        <title id={`${id}-t`}>{`Jobs per ${bucket}, stacked by status`}</title>
        <desc id={`${id}-d`}>
          {`${plural(total, 'job')} in ${plural(bars.length, bucket)}` + (busiest && busiest.total > 0 ? `; the most in ${bucketLabel(busiest.start, bucket)} (${busiest.total}).` : '.')}
        </desc>
        {ticks.map((t) => (
          <g key={t} className="tick">
            <line x1={PAD.left} x2={W - PAD.right} y1={y(t)} y2={y(t)} className={t === 0 ? 'axis' : 'grid'} />
            <text x={PAD.left - 6} y={y(t) + 4} textAnchor="end">{t}</text>
          </g>
        ))}
        <text className="axis-label" transform={`translate(14 ${PAD.top + plotH / 2}) rotate(-90)`} textAnchor="middle">Jobs</text>
        {bars.map((b, i) => {
          const x = PAD.left + i * slot
          return (
            <g key={b.start} className="bar" data-start={b.start} data-total={b.total}>
              <title>{barSummary(b, bucket)}</title>
              <rect className="hit" x={x} y={PAD.top} width={slot} height={plotH} />
              {b.parts.map((p) => (
                <rect key={p.kind} className={`seg-${p.kind}`} x={x + (slot - barW) / 2} y={y(p.y1)} width={barW} height={Math.max(0.5, y(p.y0) - y(p.y1))} />
              ))}
              {i % step === 0 && (
                <text className="tick-label" x={x + slot / 2} y={PAD.top + plotH + 16} textAnchor="middle">
                  {bucketLabel(b.start, bucket).replace(/^week of /, '')}
                </text>
              )}
            </g>
          )
        })}
        <text className="axis-label" x={PAD.left + plotW / 2} y={H - 8} textAnchor="middle">
          {`${bucket === 'week' ? 'Week (from Monday)' : bucket === 'day' ? 'Day' : 'Hour'}, UTC`}
        </text>
      </svg>
      <details className="chart-data">
        <summary>The numbers behind the chart</summary>
        {withJobs.length === 0 ? (
          <p className="muted">No jobs.</p>
        ) : (
          <table>
            <caption className="sr-only">{`Jobs per ${bucket} (buckets with jobs)`}</caption>
            <thead>
              <tr>
                <th scope="col">{bucket === 'hour' ? 'Hour' : bucket === 'day' ? 'Day' : 'Week'} (UTC)</th>
                <th scope="col" className="num">Jobs</th>
                {SEGMENTS.map((s) => <th key={s.kind} scope="col" className="num">{s.label}</th>)}
              </tr>
            </thead>
            <tbody>
              {withJobs.map((b) => (
                <tr key={b.start}>
                  <td>{bucketLabel(b.start, bucket)}</td>
                  <td className="num">{num(b.total)}</td>
                  {SEGMENTS.map((s) => <td key={s.kind} className="num">{num(b.parts.find((p) => p.kind === s.kind)?.value ?? 0)}</td>)}
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </details>
    </section>
  )
}
