// One notice as the bell and the Notifications screen show it, and the toast of a new one.
import { useEffect } from 'react'
import { useNavigate } from 'react-router-dom'
import type { Notification } from '../api/types'
import { clientLink, relativeTime } from '../notify'
import { useNotifications } from '../notifications'

export function NoticeSummary({ n, now }: { n: Notification; now: number }) {
  return (
    <>
      <span className="notice-title">
        {!n.read && <><span className="unread-dot" aria-hidden="true" /><span className="sr-only">Unread: </span></>}
        {n.title}
        {n.count > 1 && <span className="badge notice-count" title={`${n.count} occurrences`} data-testid="notice-count">{n.count}</span>}
      </span>
      {n.body && <span className="notice-body">{n.body}</span>}
      <time className="notice-time" dateTime={n.updated_at} title={new Date(n.updated_at).toLocaleString()}>
        {relativeTime(n.updated_at, now)}
      </time>
    </>
  )
}

const TOAST_MS = 8000

/** At most one toast; a burst updates it (the latest notice and how many more came). */
export function NoticeToast() {
  const { toast, dismissToast, markRead } = useNotifications()
  const nav = useNavigate()
  // Every update starts the time again.
  useEffect(() => {
    if (!toast) return
    const t = setTimeout(dismissToast, TOAST_MS)
    return () => clearTimeout(t)
  }, [toast, dismissToast])
  return (
    <div className="toast-region" role="status" aria-live="polite">
      {toast && (
        <div className="toast" data-testid="toast" data-notice-id={toast.notice.id}>
          <button
            type="button"
            className="toast-open"
            onClick={() => {
              dismissToast()
              markRead(toast.notice).catch(() => { /* the bell still shows it unread */ })
              nav(clientLink(toast.notice.link))
            }}
          >
            <strong>{toast.notice.title}</strong>
            {toast.notice.body && <span className="notice-body">{toast.notice.body}</span>}
            {toast.more > 0 && <span className="muted">and {toast.more} more in the bell</span>}
          </button>
          <button type="button" className="ghost small" aria-label="Dismiss the notification" onClick={dismissToast}>✕</button>
        </div>
      )}
    </div>
  )
}
