/**
 * The access token of the app's session in this browser, when it is good for at least
 * another minute: the same origin's localStorage entry that `LocalStore`
 * (src/api/client.ts) writes. Read here directly so that the app's API client stays out
 * of the API reference's bundle (and the reference out of the app's).
 */
export function sessionToken(storage: Pick<Storage, 'getItem'>, now: number): string | null {
  try {
    const raw = storage.getItem('qollab.session')
    const s: unknown = raw ? JSON.parse(raw) : null
    if (s && typeof s === 'object' && 'access_token' in s && 'expires_at' in s) {
      const { access_token, expires_at } = s
      if (typeof access_token === 'string' && access_token && typeof expires_at === 'number' && expires_at - now >= 60_000) {
        return access_token
      }
    }
  } catch {
    // Storage blocked, or an entry that is not JSON: no token.
  }
  return null
}
