import { describe, expect, it } from 'vitest'
import { sessionToken } from './session'

const store = (value: string | null) => ({ getItem: (key: string) => (key === 'qollab.session' ? value : null) })
const session = (expires_at: unknown, access_token: unknown = 'tok') =>
  JSON.stringify({ user: { id: 'u' }, access_token, refresh_token: 'r', expires_at })

describe('sessionToken', () => {
  it('returns the access token of a session good for another minute', () => {
    expect(sessionToken(store(session(1_000_000 + 60_000)), 1_000_000)).toBe('tok')
  })
  it('returns null for a session about to expire or expired', () => {
    expect(sessionToken(store(session(1_000_000 + 59_999)), 1_000_000)).toBeNull()
    expect(sessionToken(store(session(1)), 1_000_000)).toBeNull()
  })
  it('returns null without a session, or for entries of another shape', () => {
    expect(sessionToken(store(null), 0)).toBeNull()
    expect(sessionToken(store('not json'), 0)).toBeNull()
    expect(sessionToken(store('"a string"'), 0)).toBeNull()
    expect(sessionToken(store(session('soon')), 0)).toBeNull()
    expect(sessionToken(store(session(Date.now() + 3_600_000, 42)), Date.now())).toBeNull()
    expect(sessionToken(store(session(Date.now() + 3_600_000, '')), Date.now())).toBeNull()
  })
  it('returns null when storage throws', () => {
    const broken = { getItem: () => { throw new Error('denied') } }
    expect(sessionToken(broken, 0)).toBeNull()
  })
})
