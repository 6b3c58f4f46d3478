// The whole inbox (paged back with ?before=, unread only if asked), read marks, and the
// delivery of each kind of notice. Kept live by /ws/me (notifications.tsx).
import { useState, type FormEvent } from 'react'
import { Link } from 'react-router-dom'
import { useInfiniteQuery, useMutation, useQuery, useQueryClient } from '@tanstack/react-query'
import { useApp } from '../context'
import type { Delivery, NoticeKind, Notification, NotificationPrefs } from '../api/types'
import { clientLink, DELIVERIES, KINDS, listKey } from '../notify'
import { useNotifications, useNow } from '../notifications'
import { ErrorNote } from '../components/ErrorNote'
import { NoticeSummary } from '../components/Notice'
import { TopBar } from '../components/TopBar'

const PAGE = 25

/** The screen outside a workspace, with its own top bar. */
export function NotificationsPage() {
  return (
    <>
      <TopBar />
      <main className="workspace-main">
        <NotificationsScreen />
      </main>
    </>
  )
}

export default function NotificationsScreen() {
  const notes = useNotifications()
  if (!notes.enabled) {
    return (
      <div className="page">
        <h1>Notifications</h1>
        <p className="muted">This server does not offer notifications.</p>
      </div>
    )
  }
  return (
    <div className="page notifications-page">
      <Inbox />
      <Preferences />
    </div>
  )
}

function Inbox() {
  const { api } = useApp()
  const notes = useNotifications()
  const now = useNow()
  const [unreadOnly, setUnreadOnly] = useState(false)
  const list = useInfiniteQuery({
    queryKey: listKey(notes.uid, unreadOnly),
    queryFn: ({ pageParam }) => api.notifications({ cursor: pageParam, limit: PAGE, unread: unreadOnly }),
    initialPageParam: null as string | null,
    getNextPageParam: (p) => p.next_cursor ?? null,
  })
  const read = useMutation({ mutationFn: (n: Notification) => notes.markRead(n) })
  const readAll = useMutation({ mutationFn: () => notes.markAllRead() })
  const items = (list.data?.pages ?? []).flatMap((p) => p.items)
  const unread = notes.inbox?.unread ?? list.data?.pages[0]?.unread ?? 0
  const error = list.error ?? read.error ?? readAll.error
  return (
    <section aria-labelledby="inbox-title" className="inbox">
      <div className="row inbox-head">
        <h1 id="inbox-title">Notifications</h1>
        <span className="muted" data-testid="unread-count">{unread === 0 ? 'All read' : `${unread} unread`}</span>
        <span className="grow" />
        <label className="check">
          <input type="checkbox" checked={unreadOnly} onChange={(e) => setUnreadOnly(e.target.checked)} />
          Unread only
        </label>
        <button type="button" onClick={() => readAll.mutate()} disabled={readAll.isPending || unread === 0}>Mark all read</button>
      </div>
      {notes.status === 'offline' && <p className="muted">Live updates are offline; reconnecting…</p>}
      {error != null && <ErrorNote error={error} />}
      {list.isPending && <p role="status">Loading…</p>}
      <ul className="notice-list inbox-list" aria-label={unreadOnly ? 'Unread notifications' : 'All notifications'}>
        {items.map((n) => (
          <li key={n.id} className={`inbox-item ${n.read ? 'read' : 'unread'}`} data-testid="inbox-item" data-notice-id={n.id} data-read={n.read}>
            <span className={`badge kind kind-${n.kind}`}>{KINDS.find((k) => k.kind === n.kind)?.label ?? n.kind}</span>
            <Link
              to={clientLink(n.link)}
              className="notice"
              onClick={() => {
                if (!n.read) read.mutate(n)
              }}
            >
              <NoticeSummary n={n} now={now} />
            </Link>
            <span className="inbox-actions">
              {!n.read && (
                <button type="button" className="small" onClick={() => read.mutate(n)} disabled={read.isPending && read.variables?.id === n.id}>
                  Mark read<span className="sr-only">: {n.title}</span>
                </button>
              )}
            </span>
          </li>
        ))}
      </ul>
      {list.isSuccess && items.length === 0 && (
        <p className="muted">{unreadOnly ? 'No unread notifications.' : 'No notifications yet. Your jobs, @mentions, membership changes and achievements show here.'}</p>
      )}
      {list.hasNextPage && (
        <button type="button" onClick={() => list.fetchNextPage()} disabled={list.isFetchingNextPage}>
          {list.isFetchingNextPage ? 'Loading…' : 'Load older notifications'}
        </button>
      )}
    </section>
  )
}

function Preferences() {
  const { api } = useApp()
  const notes = useNotifications()
  const qc = useQueryClient()
  const key = ['notifications', notes.uid, 'prefs']
  const prefs = useQuery({ queryKey: key, queryFn: () => api.notificationPrefs() })
  // Edits not saved yet, over what the server has.
  const [draft, setDraft] = useState<Partial<Record<NoticeKind, Delivery>>>({})
  const current = (k: NoticeKind): Delivery => draft[k] ?? prefs.data?.kinds[k] ?? 'live'
  const dirty = KINDS.some(({ kind }) => draft[kind] !== undefined && draft[kind] !== (prefs.data?.kinds[kind] ?? 'live'))
  const save = useMutation({
    mutationFn: () => api.putNotificationPrefs({ kinds: Object.fromEntries(KINDS.map(({ kind }) => [kind, current(kind)])) }),
    onSuccess: (p: NotificationPrefs) => {
      qc.setQueryData(key, p)
      setDraft({})
    },
  })
  function submit(e: FormEvent) {
    e.preventDefault()
    save.mutate()
  }
  return (
    <section aria-labelledby="prefs-title" className="card prefs">
      <h2 id="prefs-title">What reaches you</h2>
      <p className="muted">
        <strong>Live</strong>: in the bell at once. <strong>Digest</strong>: listed here and mailed in a periodic digest (when
        the server sends mail). <strong>Off</strong>: not kept at all.
      </p>
      {prefs.error != null && <ErrorNote error={prefs.error} />}
      <form onSubmit={submit} className="stack">
        {KINDS.map(({ kind, label, about }) => (
          <fieldset key={kind} className="pref" data-testid={`pref-${kind}`} disabled={!prefs.data}>
            <legend>
              <span className="pref-label">{label}</span>
              <span className="muted pref-about">{about}</span>
            </legend>
            <div className="pref-options">
              {DELIVERIES.map(({ delivery, label: dl, about: da }) => (
                <label key={delivery} title={da}>
                  <input
                    type="radio"
                    name={`pref-${kind}`}
                    value={delivery}
                    checked={current(kind) === delivery}
                    onChange={() => {
                      setDraft((d) => ({ ...d, [kind]: delivery }))
                      save.reset()
                    }}
                  />
                  {dl}
                </label>
              ))}
            </div>
          </fieldset>
        ))}
        <div className="row">
          <button type="submit" className="primary" disabled={!dirty || save.isPending}>{save.isPending ? 'Saving…' : 'Save preferences'}</button>
          {save.isSuccess && !dirty && <span className="ok" role="status">Saved.</span>}
        </div>
        {save.error != null && <ErrorNote error={save.error} testId="prefs-error" />}
      </form>
    </section>
  )
}
