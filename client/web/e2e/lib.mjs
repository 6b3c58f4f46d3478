// Shared helpers of the browser end-to-end test and benchmark: Debian's Chromium via
// playwright-core (no downloaded browsers), REST set-up, screenshots.
import { chromium } from 'playwright-core'

export const CHROMIUM = process.env.QOLLAB_CHROMIUM || '/usr/bin/chromium'

export function arg(name, fallback) {
  const i = process.argv.indexOf(`--${name}`)
  return i >= 0 ? process.argv[i + 1] : fallback
}

export async function launch() {
  // playwright-core gives every launch a fresh temporary profile (user-data-dir).
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
    ],
  })
}

export function rest(base) {
  async function call(method, path, token, body, text) {
    const headers = {}
    if (token) headers.authorization = `Bearer ${token}`
    if (body !== undefined) headers['content-type'] = text ? 'text/plain' : 'application/json'
    const res = await fetch(base + path, { method, headers, body: body === undefined ? undefined : text ? body : JSON.stringify(body) })
    const ct = res.headers.get('content-type') || ''
    const data = ct.includes('json') ? await res.json() : await res.text()
    if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(data)}`)
    return data
  }
  return {
    call,
    async register(name) {
      const email = `${name.toLowerCase()}-${Math.random().toString(36).slice(2, 10)}@example.com`
      const r = await call('POST', '/api/auth/register', null, { email, password: 'correct horse battery', name })
      return { ...r, email, password: 'correct horse battery' }
    },
  }
}

/** Signs a browser context in by storing a session the app understands. */
export async function signIn(context, base, auth) {
  await context.addInitScript(([s]) => {
    if (!localStorage.getItem('qollab.session')) localStorage.setItem('qollab.session', s)
  }, [JSON.stringify({ user: auth.user, access_token: auth.access_token, refresh_token: auth.refresh_token, expires_at: Date.now() + auth.expires_in * 1000 })])
}

export function percentile(xs, p) {
  if (!xs.length) return NaN
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]
}
