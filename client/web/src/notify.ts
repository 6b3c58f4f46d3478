// The signed-in person's notifications folded into plain state, with no React in sight
// so that the folding is unit-tested (notify.test.ts).
//
// The inbox the bell shows is the newest page of GET /api/me/notifications kept live by
// /ws/me. Every change to a person's notices takes their next `version`, and the stream
// sends the changed notice with the unread count after it. Messages can arrive late or
// twice (a replay after a reconnect, the answer of a POST racing its own message), so a
// notice replaces the one held only when its version is newer: versions are compared per
// notice, since marking all read gives every notice it touches the *same* version. The
// unread count is taken from a message unless something newer is already held. Lists stay
// newest first (by id, the server's order); a batch ("5 jobs completed in Lab") keeps its
// id and is replaced in place.
import type { InfiniteData, QueryClient } from '@tanstack/react-query'
import type { Delivery, NoticeKind, Notification, NotificationPage, NotifyMessage } from './api/types'

export type NoticeMessage = Extract<NotifyMessage, { type: 'notification' }>

export interface Inbox {
  /** Newest first. */
  items: Notification[]
  unread: number
  /** The newest change this state reflects (a message, a page or an answer). */
  version: number
  /** Where a reconnect resumes (`?since=`): the newest version the stream delivered, or
   *  the first page's newest; never an answer's, which may overtake the stream. */
  since: number
  /** Older notices exist beyond `items`. */
  more: boolean
}

export const emptyInbox: Inbox = { items: [], unread: 0, version: 0, since: 0, more: false }

/** How many notices the bell keeps (the first page). */
export const BELL_PAGE = 20

const maxVersion = (items: Notification[]) => items.reduce((v, n) => Math.max(v, n.version), 0)

/**
 * Folds one notice into a newest-first list; returns `items` itself when nothing changed.
 * A held notice is replaced only by a newer version of it. A notice not held is inserted
 * in id order unless it is older than the last one held while more pages exist (paging
 * brings it), or it is read and the list is of unread notices only.
 */
export function foldNotice(items: Notification[], n: Notification, opts: { complete: boolean; unreadOnly?: boolean }): Notification[] {
  const i = items.findIndex((x) => x.id === n.id)
  if (i >= 0) {
    if ((items[i]?.version ?? 0) >= n.version) return items
    const next = items.slice()
    next[i] = n
    return next
  }
  if (opts.unreadOnly && n.read) return items
  const last = items[items.length - 1]
  if (!opts.complete && last && n.id < last.id) return items
  const at = items.findIndex((x) => x.id < n.id)
  const next = items.slice()
  next.splice(at < 0 ? next.length : at, 0, n)
  return next
}

/** The inbox from a fetched first page, keeping what the stream brought meanwhile. */
export function inboxFromPage(page: NotificationPage, held?: Inbox): Inbox {
  const pageVersion = maxVersion(page.items)
  const more = page.next_cursor != null
  let items = page.items
  if (held) for (const h of held.items) items = foldNotice(items, h, { complete: !more })
  const heldNewer = held !== undefined && held.version > pageVersion
  return {
    items,
    unread: heldNewer ? held.unread : page.unread,
    version: Math.max(pageVersion, held?.version ?? 0),
    // A later page may be newer than what the stream delivered (digest notices are listed
    // but not pushed, for one), yet the stream still resumes where it stopped.
    since: held ? held.since : pageVersion,
    more,
  }
}

/** Is this message news worth a toast: a live unread notice that is new, or a batch
 *  that counted up? Read marks, replays and changes to older notices are not. */
export function isNews(inbox: Inbox, n: Notification): boolean {
  if (n.read || n.delivery !== 'live') return false
  const held = inbox.items.find((x) => x.id === n.id)
  if (held) return n.version > held.version && n.count > held.count
  const newest = inbox.items[0]
  return !newest || n.id > newest.id
}

/** Folds one notice message of /ws/me; `news` is the notice when it deserves a toast. */
export function foldMessage(inbox: Inbox, msg: NoticeMessage): { inbox: Inbox; news: Notification | null } {
  const n = msg.notification
  const news = isNews(inbox, n) ? n : null
  const fresh = n.version >= inbox.version && Number.isFinite(msg.unread)
  const unread = fresh ? Math.max(0, msg.unread) : inbox.unread
  let items = foldNotice(inbox.items, n, { complete: !inbox.more })
  // Nothing unread as of the newest change: whatever is held is read, even if its own
  // message was lost (the server replays at most 500 notices of one version).
  if (fresh && unread === 0 && items.some((x) => !x.read)) items = items.map((x) => (x.read ? x : { ...x, read: true }))
  const version = Math.max(inbox.version, n.version)
  const since = Math.max(inbox.since, n.version)
  if (items === inbox.items && unread === inbox.unread && version === inbox.version && since === inbox.since) return { inbox, news }
  return { inbox: { ...inbox, items, unread, version, since }, news }
}

/**
 * The answer of POST …/read: the notice as the server has it now. The unread count goes
 * down once — unless the stream already delivered this change (then its count has it).
 * `wasUnread` says how the caller saw it when the notice is not in the inbox.
 */
export function noteRead(inbox: Inbox, n: Notification, wasUnread: boolean): Inbox {
  const held = inbox.items.find((x) => x.id === n.id)
  const before = held ? !held.read : wasUnread
  const items = foldNotice(inbox.items, n, { complete: !inbox.more })
  const down = before && n.read && n.version > inbox.version && (!held || held.version < n.version)
  if (items === inbox.items && !down) return inbox
  return { ...inbox, items, unread: down ? Math.max(0, inbox.unread - 1) : inbox.unread }
}

/** Everything marked read at once (before the stream's messages confirm it). */
export function allRead(inbox: Inbox): Inbox {
  if (inbox.unread === 0 && inbox.items.every((n) => n.read)) return inbox
  return { ...inbox, unread: 0, items: inbox.items.map((n) => (n.read ? n : { ...n, read: true })) }
}

export type Pages = InfiniteData<NotificationPage, string | null>

/** Folds a notice into the pages of the inbox screen (all notices, or unread only). */
export function foldPages(data: Pages, n: Notification, unreadOnly: boolean): Pages {
  const at = data.pages.findIndex((p) => p.items.some((x) => x.id === n.id))
  const i = at >= 0 ? at : 0
  const page = data.pages[i]
  if (!page) return data
  const complete = data.pages.length === 1 && page.next_cursor == null
  const items = foldNotice(page.items, n, { complete: at >= 0 || complete, unreadOnly })
  if (items === page.items) return data
  const pages = data.pages.slice()
  pages[i] = { ...page, items }
  return { ...data, pages }
}

export function pagesAllRead(data: Pages): Pages {
  return { ...data, pages: data.pages.map((p) => ({ ...p, unread: 0, items: p.items.map((n) => (n.read ? n : { ...n, read: true })) })) }
}

// ---- the TanStack Query cache: the bell's inbox and the screen's lists of one person

export const inboxKey = (uid: string) => ['notifications', uid, 'inbox'] as const
export const listKey = (uid: string, unreadOnly: boolean) => ['notifications', uid, 'list', unreadOnly ? 'unread' : 'all'] as const

function eachList(qc: QueryClient, uid: string, f: (d: Pages, unreadOnly: boolean) => Pages) {
  for (const [key, data] of qc.getQueriesData<Pages>({ queryKey: ['notifications', uid, 'list'] })) {
    if (data) qc.setQueryData<Pages>(key, f(data, key[3] === 'unread'))
  }
}

/**
 * Folds a stream message into the cache; returns the notice if it deserves a toast. A
 * resync (the server's version is older than the one we resumed from: another database)
 * drops everything held, to be fetched again.
 */
export function applyMessage(qc: QueryClient, uid: string, msg: NotifyMessage): Notification | null {
  if (msg.type === 'resync') {
    void qc.resetQueries({ queryKey: ['notifications', uid] })
    return null
  }
  const inbox = qc.getQueryData<Inbox>(inboxKey(uid))
  let news: Notification | null = null
  if (inbox) {
    const r = foldMessage(inbox, msg)
    news = r.news
    if (r.inbox !== inbox) qc.setQueryData<Inbox>(inboxKey(uid), r.inbox)
  }
  eachList(qc, uid, (d, unreadOnly) => foldPages(d, msg.notification, unreadOnly))
  return news
}

export function applyRead(qc: QueryClient, uid: string, n: Notification, wasUnread: boolean) {
  qc.setQueryData<Inbox>(inboxKey(uid), (old) => (old ? noteRead(old, n, wasUnread) : old))
  eachList(qc, uid, (d, unreadOnly) => foldPages(d, n, unreadOnly))
}

export function applyAllRead(qc: QueryClient, uid: string) {
  qc.setQueryData<Inbox>(inboxKey(uid), (old) => (old ? allRead(old) : old))
  eachList(qc, uid, (d) => pagesAllRead(d))
}

// ---- presentation

/** One toast at a time: a burst updates it in place (the latest notice, and how many
 *  other notices came with it — a batch counting up is still one). */
export interface Toast { notice: Notification; more: number; seq: number; ids: number[] }

export function nextToast(t: Toast | null, n: Notification): Toast {
  const ids = !t ? [n.id] : t.ids.includes(n.id) ? t.ids : [...t.ids, n.id]
  return { notice: n, more: ids.length - 1, seq: (t?.seq ?? 0) + 1, ids }
}

/** "just now", "5 min ago", "3 h ago", "2 d ago", then the date. */
export function relativeTime(iso: string, now: number): string {
  const t = Date.parse(iso)
  if (Number.isNaN(t)) return ''
  const s = Math.max(0, (now - t) / 1000)
  if (s < 45) return 'just now'
  if (s < 3600) return `${Math.max(1, Math.round(s / 60))} min ago`
  if (s < 86_400) return `${Math.round(s / 3600)} h ago`
  if (s < 7 * 86_400) return `${Math.round(s / 86_400)} d ago`
  return new Date(t).toLocaleDateString()
}

/** A notice's link as a route of this app; anything else (another origin) goes home. */
export function clientLink(link: string): string {
  return /^\/(?![/\\])/.test(link) ? link : '/'
}

export const KINDS: { kind: NoticeKind; label: string; about: string }[] = [
  { kind: 'job', label: 'Jobs', about: 'Your job completed, failed, or was cancelled by someone else.' },
  { kind: 'analysis', label: 'Analyses', about: 'An AI analysis of your job is ready.' },
  { kind: 'mention', label: 'Mentions', about: 'Someone @mentioned you in a workspace chat.' },
  { kind: 'membership', label: 'Membership', about: 'You were added to a workspace, your role changed, or you were removed.' },
  { kind: 'achievement', label: 'Achievements', about: 'You unlocked an achievement or reached a level.' },
  { kind: 'session', label: 'Sessions', about: 'A runtime session you opened was closed by someone else or timed out.' },
]

export const DELIVERIES: { delivery: Delivery; label: string; about: string }[] = [
  { delivery: 'live', label: 'Live', about: 'in the bell at once' },
  { delivery: 'digest', label: 'Digest', about: 'listed, and mailed in a digest' },
  { delivery: 'off', label: 'Off', about: 'not kept' },
]
