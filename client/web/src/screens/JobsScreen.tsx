import { useState } from 'react'
import { Link } from 'react-router-dom'
import { useInfiniteQuery, useQuery } from '@tanstack/react-query'
import { useApp } from '../context'
import { useWorkspace } from './WorkspaceLayout'
import { StatusBadge } from '../components/JobCard'
import { ActivityFeed } from '../components/ActivityFeed'
import { errorText } from './Auth'

export default function JobsScreen() {
  const { api } = useApp()
  const { workspace, feed } = useWorkspace()
  const [status, setStatus] = useState('')
  const [backend, setBackend] = useState('')
  const backends = useQuery({ queryKey: ['backends'], queryFn: () => api.backends(), staleTime: 60_000 })
  const jobs = useInfiniteQuery({
    queryKey: ['jobs', workspace.id, { status, backend }],
    queryFn: ({ pageParam }) => api.jobs(workspace.id, { status, backend, cursor: pageParam, limit: 25 }),
    initialPageParam: null as string | null,
    getNextPageParam: (p) => p.next_cursor ?? null,
  })
  const rows = (jobs.data?.pages ?? []).flatMap((p) => p.items).filter((j) => (!status || j.status === status) && (!backend || j.backend === backend))
  return (
    <div className="page two-col">
      <section aria-labelledby="jobs-title">
        <h1 id="jobs-title">Jobs</h1>
        <div className="row" role="group" aria-label="Filters">
          <label>
            Status
            <select value={status} onChange={(e) => setStatus(e.target.value)}>
              <option value="">any</option>
              {['queued', 'running', 'completed', 'failed', 'cancelled'].map((s) => <option key={s}>{s}</option>)}
            </select>
          </label>
          <label>
            Backend
            <select value={backend} onChange={(e) => setBackend(e.target.value)}>
              <option value="">any</option>
              {backends.data?.map((b) => <option key={b.name}>{b.name}</option>)}
            </select>
          </label>
        </div>
        {jobs.error && <p className="error" role="alert">{errorText(jobs.error)}</p>}
        <table className="jobs">
          <thead>
            <tr><th scope="col">Job</th><th scope="col">Status</th><th scope="col">Backend</th><th scope="col">Shots</th><th scope="col">Qubits</th><th scope="col">Queued</th></tr>
          </thead>
          <tbody>
            {rows.map((j) => (
              <tr key={j.id} data-testid="job-row" data-status={j.status}>
                <td><Link to={`/w/${workspace.id}/jobs/${j.id}`}>{j.id.slice(0, 8)}</Link></td>
                <td><StatusBadge job={j} /></td>
                <td>{j.backend}</td>
                <td>{j.shots}</td>
                <td>{j.num_qubits}</td>
                <td>{new Date(j.queued_at).toLocaleString()}</td>
              </tr>
            ))}
            {jobs.isSuccess && rows.length === 0 && <tr><td colSpan={6} className="muted">No jobs match.</td></tr>}
          </tbody>
        </table>
        {jobs.hasNextPage && (
          <button type="button" onClick={() => jobs.fetchNextPage()} disabled={jobs.isFetchingNextPage}>
            {jobs.isFetchingNextPage ? 'Loading…' : 'Load older jobs'}
          </button>
        )}
      </section>
      <section aria-labelledby="feed-title">
        <h2 id="feed-title">Activity</h2>
        <ActivityFeed feed={feed} ws={workspace.id} />
      </section>
    </div>
  )
}
