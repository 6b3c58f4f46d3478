// The bell in the top bar: the unread count, live from /ws/me, and a panel of the newest
// notices; choosing one marks it read and goes where it points.
import { useEffect, useId, useRef, useState } from 'react'
import { Link, useNavigate, useParams } from 'react-router-dom'
import type { Notification } from '../api/types'
import { clientLink } from '../notify'
import { useNotifications, useNow } from '../notifications'
import { ErrorNote } from './ErrorNote'
import { NoticeSummary } from './Notice'

const SHOWN = 8

function BellIcon() {
  return (
    <svg width="18" height="18" viewBox="0 0 24 24" aria-hidden="true" focusable="false">
      <path fill="currentColor" d="M12 22a2.5 2.5 0 0 0 2.45-2h-4.9A2.5 2.5 0 0 0 12 22Zm7-6V11a7 7 0 0 0-5.5-6.84V3.5a1.5 1.5 0 0 0-3 0v.66A7 7 0 0 0 5 11v5l-2 2v1h18v-1l-2-2Z" />
    </svg>
  )
}

export function Bell() {
  const notes = useNotifications()
  const { ws } = useParams()
  const nav = useNavigate()
  const now = useNow()
  const [open, setOpen] = useState(false)
  const [error, setError] = useState<unknown>(null)
  const [busy, setBusy] = useState(false)
  const wrap = useRef<HTMLDivElement>(null)
  const button = useRef<HTMLButtonElement>(null)
  const panelId = useId()
  const { setPanelOpen } = notes

  const show = (o: boolean) => {
    setOpen(o)
    setPanelOpen(o)
  }
  // A click outside closes the panel.
  useEffect(() => {
    if (!open) return
    const onDown = (e: PointerEvent) => {
      if (wrap.current && !wrap.current.contains(e.target as Node)) {
        setOpen(false)
        setPanelOpen(false)
      }
    }
    document.addEventListener('pointerdown', onDown)
    return () => document.removeEventListener('pointerdown', onDown)
  }, [open, setPanelOpen])

  if (!notes.enabled) return null
  const unread = notes.inbox?.unread ?? 0
  const items = notes.inbox?.items.slice(0, SHOWN) ?? []

  async function choose(n: Notification) {
    show(false)
    setError(null)
    nav(clientLink(n.link))
    try {
      await notes.markRead(n)
    } catch (e) {
      setError(e)
    }
  }
  async function markAll() {
    setBusy(true)
    setError(null)
    try {
      await notes.markAllRead()
    } catch (e) {
      setError(e)
    } finally {
      setBusy(false)
    }
  }

  return (
    <div
      className="bell"
      ref={wrap}
      onKeyDown={(e) => {
        if (e.key === 'Escape' && open) {
          show(false)
          button.current?.focus()
        }
      }}
    >
      <button
        ref={button}
        type="button"
        className="ghost bell-button"
        aria-label={unread ? `Notifications, ${unread} unread` : 'Notifications'}
        aria-expanded={open}
        aria-controls={panelId}
        data-testid="bell"
        data-unread={unread}
        data-stream={notes.status}
        onClick={() => show(!open)}
      >
        <BellIcon />
        {unread > 0 && <span className="bell-badge" aria-hidden="true">{unread > 99 ? '99+' : unread}</span>}
      </button>
      {open && (
        <div id={panelId} className="bell-panel" role="region" aria-label="Notifications" data-testid="bell-panel">
          <div className="panel-head">
            <h2>Notifications</h2>
            <button type="button" className="ghost small" onClick={markAll} disabled={busy || unread === 0}>Mark all read</button>
          </div>
          {notes.status === 'offline' && <p className="muted bell-note">Offline: reconnecting…</p>}
          {notes.loadError != null && <ErrorNote error={notes.loadError} />}
          {error != null && <ErrorNote error={error} />}
          {items.length > 0 ? (
            <ul className="notice-list">
              {items.map((n) => (
                <li key={n.id}>
                  <button
                    type="button"
                    className={`notice ${n.read ? 'read' : 'unread'}`}
                    data-testid="notice"
                    data-notice-id={n.id}
                    data-read={n.read}
                    onClick={() => void choose(n)}
                  >
                    <NoticeSummary n={n} now={now} />
                  </button>
                </li>
              ))}
            </ul>
          ) : (
            notes.inbox && <p className="muted bell-note">Nothing yet. Your jobs, mentions and more show here.</p>
          )}
          <p className="bell-foot">
            <Link to={ws ? `/w/${ws}/notifications` : '/notifications'} onClick={() => show(false)}>All notifications and preferences</Link>
          </p>
        </div>
      )}
    </div>
  )
}
