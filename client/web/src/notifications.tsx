// The signed-in person's notifications, app-wide: the bell's inbox (the newest page of
// GET /api/me/notifications) kept live by /ws/me — one socket per tab (socket.ts),
// resuming with ?since= the newest version delivered — and the one toast a burst of new
// notices shows. The folding is in notify.ts.
import { createContext, useCallback, useContext, useEffect, useMemo, useRef, useState, type ReactNode } from 'react'
import { useQuery, useQueryClient } from '@tanstack/react-query'
import { useApp, useFeatures } from './context'
import type { Notification, NotifyMessage } from './api/types'
import { openResumingSocket, type StreamStatus } from './socket'
import { applyAllRead, applyMessage, applyRead, BELL_PAGE, inboxFromPage, inboxKey, nextToast, type Inbox, type Toast } from './notify'

interface NotifyCtx {
  /** Signed in, and the server has notifications. */
  enabled: boolean
  uid: string
  inbox: Inbox | undefined
  loadError: unknown
  status: StreamStatus
  markRead: (n: Notification) => Promise<void>
  markAllRead: () => Promise<void>
  toast: Toast | null
  dismissToast: () => void
  /** While the bell's panel is open, new notices show there, not in a toast. */
  setPanelOpen: (open: boolean) => void
}

const Ctx = createContext<NotifyCtx | null>(null)

export function NotificationsProvider({ children }: { children: ReactNode }) {
  const { api, session } = useApp()
  const features = useFeatures()
  const qc = useQueryClient()
  const uid = session?.user.id ?? ''
  const enabled = uid !== '' && features.notifications
  const inbox = useQuery({
    queryKey: inboxKey(uid),
    queryFn: async () => inboxFromPage(await api.notifications({ limit: BELL_PAGE }), qc.getQueryData<Inbox>(inboxKey(uid))),
    enabled,
    staleTime: Infinity,
  })
  const loaded = inbox.data !== undefined
  const [status, setStatus] = useState<StreamStatus>('connecting')
  // The toast belongs to the person it was shown to (another may sign in in this tab).
  const [toastOf, setToastOf] = useState<{ uid: string; toast: Toast } | null>(null)
  const panelOpen = useRef(false)

  useEffect(() => {
    // Connect once the first page is in: the stream resumes after its newest version. A
    // resync drops the inbox, which closes this socket; the next opens after the refetch.
    if (!enabled || !loaded) return
    return openResumingSocket(api, {
      path: (token) => {
        const params = new URLSearchParams({ token })
        const since = qc.getQueryData<Inbox>(inboxKey(uid))?.since
        if (since !== undefined) params.set('since', String(since))
        return `/ws/me?${params}`
      },
      onStatus: setStatus,
      onMessage: (m) => {
        const msg = m as NotifyMessage
        if (msg.type !== 'resync' && (msg.type !== 'notification' || !msg.notification)) return
        const news = applyMessage(qc, uid, msg)
        // Added to a workspace, another role, removed: the workspace list is out of date.
        if (news?.kind === 'membership') void qc.invalidateQueries({ queryKey: ['workspaces'] })
        if (news && !panelOpen.current) setToastOf((t) => ({ uid, toast: nextToast(t?.uid === uid ? t.toast : null, news) }))
      },
    })
  }, [api, qc, uid, enabled, loaded])

  const markRead = useCallback(async (n: Notification) => {
    if (n.read) return
    applyRead(qc, uid, await api.markRead(n.id), true)
  }, [api, qc, uid])
  const markAllRead = useCallback(async () => {
    await api.markAllRead()
    applyAllRead(qc, uid)
  }, [api, qc, uid])
  const dismissToast = useCallback(() => setToastOf(null), [])
  const setPanelOpen = useCallback((open: boolean) => {
    panelOpen.current = open
    if (open) {
      setToastOf(null)
      // Digest notices are listed but not pushed: opening the bell fetches them too.
      void qc.invalidateQueries({ queryKey: inboxKey(uid) })
    }
  }, [qc, uid])
  const toast = enabled && toastOf?.uid === uid ? toastOf.toast : null

  const value = useMemo<NotifyCtx>(() => ({
    enabled, uid, inbox: inbox.data, loadError: inbox.error, status, markRead, markAllRead,
    toast, dismissToast, setPanelOpen,
  }), [enabled, uid, inbox.data, inbox.error, status, markRead, markAllRead, toast, dismissToast, setPanelOpen])
  return <Ctx.Provider value={value}>{children}</Ctx.Provider>
}

export function useNotifications(): NotifyCtx {
  const c = useContext(Ctx)
  if (!c) throw new Error('useNotifications outside NotificationsProvider')
  return c
}

/** The current time, ticking every `ms`, for relative times ("5 min ago"). */
export function useNow(ms = 30_000): number {
  const [now, setNow] = useState(() => Date.now())
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), ms)
    return () => clearInterval(t)
  }, [ms])
  return now
}
