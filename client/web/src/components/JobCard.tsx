import { useMutation, useQuery } from '@tanstack/react-query'
import { Link } from 'react-router-dom'
import { useApp } from '../context'
import type { Job } from '../api/types'
import { Histogram } from './Histogram'
import { errorText } from '../screens/Auth'
import { saveBlob } from '../download'
import { queuePlace } from '../queue'

export function StatusBadge({ job }: { job: Job }) {
  let text: string = job.status
  if (job.status === 'queued' && job.queue_position !== null && job.queue_position !== undefined) text = `queued · ${queuePlace(job.queue_position)}`
  if (job.status === 'running') text = `running · ${Math.round(job.progress * 100)}%`
  return <span className={`badge status-${job.status}`} data-status={job.status}>{text}</span>
}

const time = (t: string) => new Date(t).toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit' })

export function JobCard({ jobId, ws, canEdit, compact }: { jobId: string; ws: string; canEdit: boolean; compact?: boolean }) {
  const { api } = useApp()
  const jq = useQuery({
    queryKey: ['job', jobId],
    queryFn: () => api.job(jobId),
    // The event stream keeps it fresh; a slow poll covers a dropped socket.
    refetchInterval: (q) => (q.state.data && ['completed', 'failed', 'cancelled'].includes(q.state.data.status) ? false : 5000),
  })
  const job = jq.data
  const done = job?.status === 'completed'
  const rq = useQuery({ queryKey: ['result', jobId], queryFn: () => api.result(jobId), enabled: done, staleTime: Infinity })
  const cancel = useMutation({ mutationFn: () => api.cancel(jobId) })
  const artifact = useMutation({
    mutationFn: async (name: string) => saveBlob(await api.artifact(jobId, name), `${jobId.slice(0, 8)}-${name}`),
  })
  if (!job) return jq.error ? <p className="error" role="alert">{errorText(jq.error)}</p> : <p role="status">Loading job…</p>
  const opt = rq.data?.optimization
  const hasOpt = job.kind !== 'simulate'
  return (
    <article className="card job-card" aria-label={`Job ${job.id.slice(0, 8)}`} data-job-id={job.id} data-status={job.status}>
      <header className="row">
        <h3>
          {compact ? <Link to={`/w/${ws}/jobs/${job.id}`}>Job {job.id.slice(0, 8)}</Link> : <>Job {job.id.slice(0, 8)}</>}
        </h3>
        <StatusBadge job={job} />
        <span className="muted">{job.backend} · {job.shots} shots · level {job.optimization_level} · {job.kind.replaceAll('_', ' ')}</span>
        {canEdit && (job.status === 'queued' || job.status === 'running') && (
          <button type="button" className="danger small" onClick={() => cancel.mutate()} disabled={cancel.isPending}>Cancel</button>
        )}
      </header>
      {(job.status === 'queued' || job.status === 'running') && (
        <div className="progress" role="progressbar" aria-label="Job progress" aria-valuemin={0} aria-valuemax={100} aria-valuenow={Math.round(job.progress * 100)}>
          <div style={{ width: `${Math.round(job.progress * 100)}%` }} />
        </div>
      )}
      <ol className="timeline" aria-label="Timeline">
        <li data-step="queued">queued {time(job.queued_at)}</li>
        {job.started_at && <li data-step="running">running {time(job.started_at)}</li>}
        {job.finished_at && <li data-step={job.status}>{job.status} {time(job.finished_at)}</li>}
      </ol>
      {job.error && <p className="error" role="alert">{job.error}</p>}
      {cancel.error && <p className="error" role="alert">{errorText(cancel.error)}</p>}
      {done && rq.data?.counts && <Histogram counts={rq.data.counts} shots={rq.data.shots} />}
      {done && opt && (
        <p className="savings">
          Optimized (level {opt.level}): {opt.before.gates ?? '?'} → {opt.after.gates ?? '?'} gates, depth {opt.before.depth ?? '?'} → {opt.after.depth ?? '?'}, two-qubit {opt.before.two_qubit_gates ?? '?'} → {opt.after.two_qubit_gates ?? '?'}
          {typeof opt.before.gates === 'number' && typeof opt.after.gates === 'number' && opt.before.gates > 0 && (
            <strong> ({Math.round((1 - opt.after.gates / opt.before.gates) * 100)}% fewer gates)</strong>
          )}
          {opt.swaps_added > 0 && <> · {opt.swaps_added} swaps added for the device</>}
        </p>
      )}
      {done && (
        <div className="row artifacts" role="group" aria-label="Artifacts">
          <span className="muted">Download:</span>
          {['result.json', 'counts.csv', ...(hasOpt ? ['optimized.qasm'] : [])].map((n) => (
            <button key={n} type="button" className="small" onClick={() => artifact.mutate(n)}>{n}</button>
          ))}
        </div>
      )}
      {artifact.error && <p className="error" role="alert">{errorText(artifact.error)}</p>}
    </article>
  )
}
