// A job's AI analysis (GET/POST /api/jobs/{id}/analysis): the explanation streaming in
// live (ai.analysis.* events, folded in events.ts / ai.ts) and the engine's findings
// behind it, each with its severity, its numbers and what to do about it.
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query'
import { useApp } from '../context'
import { mergeFetchedAnalysis, splitOffline, type LiveAnalysis } from '../ai'
import { ErrorNote } from './ErrorNote'
import { Findings } from './Findings'

const FINISHED = ['completed', 'failed', 'cancelled']

export function JobAnalysis({ jobId }: { jobId: string }) {
  const { api } = useApp()
  const qc = useQueryClient()
  const key = ['analysis', jobId]
  const job = useQuery({ queryKey: ['job', jobId], queryFn: () => api.job(jobId) })
  const aq = useQuery({
    queryKey: key,
    // Events may have streamed text in meanwhile (the stored text of a running analysis is
    // empty): merged, not replaced.
    queryFn: async () => mergeFetchedAnalysis(qc.getQueryData<LiveAnalysis | null>(key), await api.analysis(jobId)),
  })
  const explain = useMutation({
    mutationFn: () => api.explainJob(jobId),
    onSuccess: (a) => qc.setQueryData<LiveAnalysis | null>(key, (old) => mergeFetchedAnalysis(old, a)),
  })
  const a = aq.data
  const finished = !!job.data && FINISHED.includes(job.data.status)
  const running = a?.status === 'running'
  const { reason, body } = a?.offline ? splitOffline(a.text) : { reason: null, body: a?.text ?? '' }
  return (
    <section className="card job-analysis" aria-labelledby="analysis-title" data-testid="job-analysis" data-status={a?.status ?? 'none'}>
      <header className="row">
        <h2 id="analysis-title">AI analysis</h2>
        {a && <span className="badge">{a.trigger === 'automatic' ? 'automatic (the job failed)' : 'requested'}</span>}
        {a?.offline && <span className="badge offline" title="No AI model was used: these are the engine's own findings">offline</span>}
        {running && <span className="badge status-running">writing…</span>}
        {a?.status === 'failed' && <span className="badge status-failed">failed</span>}
        <span className="grow" />
        <button
          type="button"
          className="primary small"
          onClick={() => explain.mutate()}
          disabled={!finished || running || explain.isPending}
          title={finished ? undefined : 'A job can be explained once it has finished'}
        >
          {explain.isPending ? 'Asking…' : a && !running ? 'Explain again' : 'Explain this job'}
        </button>
      </header>
      {aq.error && <ErrorNote error={aq.error} />}
      {explain.error && <ErrorNote error={explain.error} testId="analysis-error" />}
      {aq.isSuccess && !a && (
        <p className="muted">
          {finished ? 'No analysis yet. “Explain this job” asks the assistant why it turned out as it did; everyone here sees the answer.' : 'The job can be explained once it has finished.'}
        </p>
      )}
      {a?.offline && (
        <p className="muted ai-offline-note">No AI model answered{reason ? ` (${reason})` : ''}: these are the engine’s own findings.</p>
      )}
      {a && !a.offline && (body || running) && (
        <p className="ai-text" data-testid="analysis-text">
          {body || <span className="muted">Thinking…</span>}
          {running && <span className="caret" aria-hidden="true">▍</span>}
        </p>
      )}
      {a?.status === 'failed' && a.error && <p className="error">The analysis failed: {a.error}</p>}
      {a && a.status !== 'running' && a.findings.length > 0 && (
        <>
          <h3 className="findings-title">What the engine computed</h3>
          <Findings findings={a.findings} />
        </>
      )}
      {a?.status === 'completed' && a.findings.length === 0 && <p className="muted">The engine found nothing to report about this job.</p>}
      {a?.status === 'completed' && (a.model || a.error) && (
        <p className="muted ai-usage">
          {a.model && <>{a.model} · {a.usage.prompt_tokens + a.usage.completion_tokens} tokens</>}
          {a.error && <> The AI provider failed: {a.error}</>}
        </p>
      )}
    </section>
  )
}
