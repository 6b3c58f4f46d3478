import { Link } from 'react-router-dom'
import type { Job, WsEvent } from '../api/types'

function describe(ev: WsEvent): string {
  const d = ev.data
  const job = d.job as Job | undefined
  switch (ev.type) {
    case 'chat.message': return `${String(d.author_name ?? 'someone')}: ${String(d.text ?? '')}`
    case 'presence.joined': return `${String(d.name ?? 'someone')} joined`
    case 'presence.left': return `${String(d.name ?? 'someone')} left`
    case 'doc.created': return `circuit “${String((d.doc as { name?: string } | undefined)?.name ?? '')}” created`
    case 'doc.deleted': return 'a circuit was deleted'
    case 'doc.restored': return `circuit restored to “${String(d.version_name ?? '')}”`
    case 'achievement.unlocked': return `${String(d.name ?? 'someone')} unlocked “${String(d.title ?? d.key ?? '')}” (+${String(d.points ?? 0)})`
    case 'level.reached': return `${String(d.name ?? 'someone')} reached level ${String(d.level ?? '')}`
    case 'points.awarded': return `+${String(d.points ?? 0)} points (${String(d.reason ?? '')})`
    case 'ai.message.created': return `asked the assistant: “${String((d.message as { content?: string } | undefined)?.content ?? '').slice(0, 80)}”`
    case 'ai.message.completed': return d.offline === true ? 'the assistant answered (offline: the engine\'s findings)' : 'the assistant answered'
    case 'ai.message.failed': return d.cancelled === true ? 'an assistant answer was cancelled' : `the assistant failed: ${String(d.reason ?? '')}`
    case 'ai.suggestion.created': return `the assistant suggested an edit: ${String((d.suggestion as { summary?: string } | undefined)?.summary ?? '')}`
    case 'ai.suggestion.decided': return `a suggestion was ${String((d.suggestion as { status?: string } | undefined)?.status ?? 'decided')}`
    case 'ai.analysis.started': return `analysis of job ${String(d.job_id ?? '').slice(0, 8)} started`
    case 'ai.analysis.completed': return `analysis of job ${String(d.job_id ?? '').slice(0, 8)} ready${d.offline === true ? ' (offline)' : ''}`
    case 'ai.analysis.failed': return `analysis of job ${String(d.job_id ?? '').slice(0, 8)} failed: ${String(d.reason ?? '')}`
    case 'resync': return 'reloaded after a gap'
    default:
      if (job) return `job ${job.id.slice(0, 8)} ${ev.type.slice(4)} on ${job.backend}`
      return ev.type
  }
}

export function ActivityFeed({ feed, ws }: { feed: WsEvent[]; ws: string }) {
  if (!feed.length) return <p className="muted">Nothing yet. Live events appear here as they happen.</p>
  return (
    <ol className="feed" aria-live="polite">
      {feed.map((ev) => {
        const job = (ev.data.job as Job | undefined)?.id ?? (ev.type.startsWith('ai.analysis.') ? (ev.data.job_id as string | undefined) : undefined)
        return (
          <li key={`${ev.id}-${ev.type}-${ev.at}`}>
            <time className="muted" dateTime={ev.at}>{new Date(ev.at).toLocaleTimeString()}</time>{' '}
            {job ? <Link to={`/w/${ws}/jobs/${job}`}>{describe(ev)}</Link> : describe(ev)}
          </li>
        )
      })}
    </ol>
  )
}
