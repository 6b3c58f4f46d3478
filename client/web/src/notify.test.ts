import { describe, expect, it } from 'vitest'
import { QueryClient } from '@tanstack/react-query'
import type { Notification, NotificationPage } from './api/types'
import {
  allRead, applyMessage, applyRead, clientLink, emptyInbox, foldMessage, foldNotice, foldPages, inboxFromPage, inboxKey,
  isNews, listKey, nextToast, noteRead, relativeTime, type Inbox, type NoticeMessage, type Pages,
} from './notify'

const notice = (id: number, version: number, extra: Partial<Notification> = {}): Notification => ({
  id, kind: 'job', workspace_id: 'w', title: `Notice ${id}`, body: '', link: '/w/w', count: 1, delivery: 'live',
  version, read: false, created_at: '2026-01-01T00:00:00Z', updated_at: '2026-01-01T00:00:00Z', ...extra,
})
const msg = (n: Notification, unread: number): NoticeMessage => ({ type: 'notification', notification: n, unread })
const inbox = (items: Notification[], unread: number, more = false): Inbox => {
  const v = Math.max(0, ...items.map((n) => n.version))
  return { items, unread, version: v, since: v, more }
}
const ids = (xs: Notification[]) => xs.map((n) => n.id)

describe('folding the stream into the inbox', () => {
  it('counts a batch up in place instead of adding entries', () => {
    let box = inbox([notice(3, 3), notice(2, 2), notice(1, 1)], 3)
    for (let c = 2; c <= 5; c++) {
      box = foldMessage(box, msg(notice(2, 3 + c, { count: c, title: `${c} jobs completed in Lab` }), 3)).inbox
    }
    expect(ids(box.items)).toEqual([3, 2, 1])
    expect(box.items[1]).toMatchObject({ count: 5, title: '5 jobs completed in Lab', version: 8 })
    expect(box).toMatchObject({ unread: 3, version: 8, since: 8 })
  })

  it('keeps newest first whatever order new notices arrive in', () => {
    let box = inbox([notice(2, 2)], 1)
    box = foldMessage(box, msg(notice(9, 4), 3)).inbox
    box = foldMessage(box, msg(notice(5, 3), 2)).inbox
    expect(ids(box.items)).toEqual([9, 5, 2])
    // The late message (version 3) does not take back the newer unread count.
    expect(box.unread).toBe(3)
  })

  it('ignores a version not newer than the one held', () => {
    const box = inbox([notice(2, 7, { read: true }), notice(1, 1)], 1)
    const stale = foldMessage(box, msg(notice(2, 5, { read: false }), 2))
    expect(stale.inbox).toBe(box)
    const replay = foldMessage(box, msg(notice(2, 7, { read: true }), 1))
    expect(replay.inbox).toBe(box)
  })

  it('applies every notice of a read-all although they share one version', () => {
    let box = inbox([notice(3, 3), notice(2, 2), notice(1, 1)], 3)
    for (const id of [1, 2, 3]) box = foldMessage(box, msg(notice(id, 10, { read: true }), 0)).inbox
    expect(box.items.every((n) => n.read)).toBe(true)
    expect(box).toMatchObject({ unread: 0, version: 10, since: 10 })
  })

  it('a list of unread notices only takes new unread ones', () => {
    const items = [notice(4, 4), notice(2, 2)]
    expect(foldNotice(items, notice(5, 5, { read: true }), { complete: true, unreadOnly: true })).toBe(items)
    expect(ids(foldNotice(items, notice(3, 5), { complete: true, unreadOnly: true }))).toEqual([4, 3, 2])
    // A notice it holds is replaced even when read (it stays listed, shown read).
    expect(foldNotice(items, notice(4, 6, { read: true }), { complete: true, unreadOnly: true })[0]?.read).toBe(true)
  })

  it('a count of zero as of the newest change means every notice held is read', () => {
    const box = inbox([notice(3, 3), notice(2, 2), notice(1, 1)], 3)
    const r = foldMessage(box, msg(notice(1, 9, { read: true }), 0)).inbox
    expect(r.items.map((n) => n.read)).toEqual([true, true, true])
    // Not from a late message, though.
    const late = foldMessage({ ...box, version: 10 }, msg(notice(1, 9, { read: true }), 0)).inbox
    expect(late.items.map((n) => n.read)).toEqual([false, false, true])
  })

  it('leaves notices older than the loaded page to paging, but takes their count', () => {
    const box = inbox([notice(8, 8), notice(7, 7)], 2, true)
    const r = foldMessage(box, msg(notice(3, 9, { read: true }), 1))
    expect(ids(r.inbox.items)).toEqual([8, 7])
    expect(r.inbox).toMatchObject({ unread: 1, since: 9 })
    // With the whole inbox loaded it is inserted in order.
    const all = foldMessage({ ...box, more: false }, msg(notice(3, 9), 3))
    expect(ids(all.inbox.items)).toEqual([8, 7, 3])
  })

  it('says what is news: new live notices and batches counting up, not read marks or replays', () => {
    const box = inbox([notice(5, 5, { count: 2 }), notice(4, 4)], 2)
    expect(isNews(box, notice(6, 6))).toBe(true)
    expect(isNews(box, notice(5, 6, { count: 3 }))).toBe(true)
    expect(isNews(box, notice(5, 6, { count: 2, read: true }))).toBe(false)
    expect(isNews(box, notice(5, 5, { count: 2 }))).toBe(false)
    expect(isNews(box, notice(2, 7))).toBe(false) // an older notice replayed
    expect(isNews(box, notice(7, 8, { delivery: 'digest' }))).toBe(false)
    expect(isNews(emptyInbox, notice(1, 1))).toBe(true)
    expect(foldMessage(box, msg(notice(6, 6), 3)).news?.id).toBe(6)
  })
})

describe('read marks', () => {
  it('count down once whether the answer or the stream comes first', () => {
    const box = inbox([notice(2, 2), notice(1, 1)], 2)
    const read = notice(2, 3, { read: true })
    // The POST's answer first, then the stream's message of the same change.
    let a = noteRead(box, read, true)
    expect(a.unread).toBe(1)
    a = foldMessage(a, msg(read, 1)).inbox
    expect(a.unread).toBe(1)
    // The message first, then the answer.
    let b = foldMessage(box, msg(read, 1)).inbox
    b = noteRead(b, read, true)
    expect(b.unread).toBe(1)
    expect(b.items[0]?.read).toBe(true)
    // Marking an already read notice again changes nothing.
    expect(noteRead(b, read, false)).toBe(b)
  })

  it('a notice beyond the bell counts down by what the caller saw', () => {
    const box = inbox([notice(9, 9)], 4, true)
    expect(noteRead(box, notice(3, 10, { read: true }), true).unread).toBe(3)
    expect(noteRead(box, notice(3, 2, { read: true }), false).unread).toBe(4)
  })

  it('mark all read clears the count and every notice at once', () => {
    const box = allRead(inbox([notice(2, 2), notice(1, 1, { read: true })], 1))
    expect(box.unread).toBe(0)
    expect(box.items.every((n) => n.read)).toBe(true)
    expect(allRead(box)).toBe(box)
  })
})

describe('pages', () => {
  it('a fetched page keeps what the stream brought while it was on its way', () => {
    const held = inbox([notice(4, 6, { read: true }), notice(5, 5)], 1)
    const page: NotificationPage = { items: [notice(4, 4), notice(3, 3)], next_cursor: null, unread: 2 }
    const box = inboxFromPage(page, held)
    expect(ids(box.items)).toEqual([5, 4, 3])
    expect(box.items[1]?.read).toBe(true)
    expect(box).toMatchObject({ unread: 1, version: 6, since: 6, more: false })
    // A digest notice is listed but never pushed: a refetch shows it and its count, and
    // the stream still resumes from the version it delivered last.
    const later = inboxFromPage({ items: [notice(7, 7, { delivery: 'digest' }), ...box.items], next_cursor: null, unread: 2 }, box)
    expect(later).toMatchObject({ unread: 2, version: 7, since: 6 })
    expect(inboxFromPage({ ...page, next_cursor: 'c3' })).toMatchObject({ unread: 2, version: 4, since: 4, more: true })
  })

  it('the screen replaces a notice on any page and adds new ones on the first', () => {
    const data: Pages = {
      pages: [{ items: [notice(6, 6), notice(5, 5)], next_cursor: 'c5', unread: 3 }, { items: [notice(2, 2)], next_cursor: null, unread: 3 }],
      pageParams: [null, 'c5'],
    }
    const read = foldPages(data, notice(2, 7, { read: true }), false)
    expect(read.pages[1]?.items[0]?.read).toBe(true)
    expect(read.pages[0]).toBe(data.pages[0])
    const added = foldPages(data, notice(8, 8), false)
    expect(ids(added.pages[0]?.items ?? [])).toEqual([8, 6, 5])
    // Unread only: a notice read elsewhere stays (shown read); a new read one is not added.
    expect(foldPages(data, notice(9, 9, { read: true }), true)).toBe(data)
    expect(foldPages(data, notice(3, 9), false)).toBe(data) // between pages: not ours to place
  })
})

describe('the query cache', () => {
  it('folds a message into the bell and the screen; a resync drops both', () => {
    const qc = new QueryClient()
    qc.setQueryData(inboxKey('u'), inbox([notice(1, 1)], 1))
    qc.setQueryData(listKey('u', true), { pages: [{ items: [notice(1, 1)], next_cursor: null, unread: 1 }], pageParams: [null] })
    const news = applyMessage(qc, 'u', msg(notice(2, 2), 2))
    expect(news?.id).toBe(2)
    expect(ids(qc.getQueryData<Inbox>(inboxKey('u'))!.items)).toEqual([2, 1])
    expect(ids(qc.getQueryData<Pages>(listKey('u', true))!.pages[0]!.items)).toEqual([2, 1])
    applyRead(qc, 'u', notice(1, 3, { read: true }), true)
    expect(qc.getQueryData<Inbox>(inboxKey('u'))!.unread).toBe(1)
    expect(qc.getQueryData<Pages>(listKey('u', true))!.pages[0]!.items[1]?.read).toBe(true)
    expect(applyMessage(qc, 'u', { type: 'resync', version: 1 })).toBeNull()
    expect(qc.getQueryData(inboxKey('u'))).toBeUndefined()
  })
})

describe('presentation', () => {
  it('one toast at a time: a burst updates it', () => {
    let t = nextToast(null, notice(1, 1))
    t = nextToast(t, notice(1, 2, { count: 2, title: '2 jobs completed in Lab' }))
    expect(t).toMatchObject({ more: 0, seq: 2, notice: { title: '2 jobs completed in Lab' } })
    t = nextToast(t, notice(2, 3))
    t = nextToast(t, notice(3, 4))
    expect(t).toMatchObject({ more: 2, seq: 4, notice: { id: 3 } })
    // Two batches counting up in turns are still two notices.
    t = nextToast(t, notice(1, 5, { count: 3 }))
    t = nextToast(t, notice(3, 6, { count: 2 }))
    expect(t).toMatchObject({ more: 2, seq: 6, notice: { id: 3, count: 2 } })
  })

  it('relative times and safe links', () => {
    const now = Date.parse('2026-01-10T12:00:00Z')
    expect(relativeTime('2026-01-10T11:59:50Z', now)).toBe('just now')
    expect(relativeTime('2026-01-10T12:00:30Z', now)).toBe('just now') // a clock ahead
    expect(relativeTime('2026-01-10T11:55:00Z', now)).toBe('5 min ago')
    expect(relativeTime('2026-01-10T09:00:00Z', now)).toBe('3 h ago')
    expect(relativeTime('2026-01-08T12:00:00Z', now)).toBe('2 d ago')
    expect(relativeTime('nonsense', now)).toBe('')
    expect(clientLink('/w/abc/jobs/1')).toBe('/w/abc/jobs/1')
    expect(clientLink('//evil.example/x')).toBe('/')
    expect(clientLink('https://evil.example/')).toBe('/')
    expect(clientLink('/\\evil.example')).toBe('/')
  })
})
