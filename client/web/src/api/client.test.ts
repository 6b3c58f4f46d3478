import { describe, expect, it } from 'vitest'
import { Api, ApiError, MemoryStore, filenameFromDisposition } from './client'

type Call = { url: string; init: RequestInit }

function fakeFetch(handler: (c: Call) => Response | Promise<Response>) {
  const calls: Call[] = []
  const f = (async (url: string, init: RequestInit = {}) => {
    const c = { url, init }
    calls.push(c)
    return handler(c)
  }) as unknown as typeof fetch
  return { f, calls }
}

const json = (status: number, body: unknown) =>
  new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } })

const auth = (n: number) => ({
  user: { id: 'u1', email: 'a@b.c', name: 'Ada', created_at: '' },
  access_token: `access-${n}`,
  refresh_token: `refresh-${n}`,
  expires_in: 900,
  token_type: 'Bearer',
})

describe('Api', () => {
  it('logs in, then sends the bearer token', async () => {
    const { f, calls } = fakeFetch((c) => (c.url.endsWith('/api/auth/login') ? json(200, auth(1)) : json(200, [])))
    const api = new Api({ fetch: f, store: new MemoryStore() })
    await api.login('a@b.c', 'pw')
    expect(api.session?.user.name).toBe('Ada')
    await api.workspaces()
    expect((calls[1]!.init.headers as Record<string, string>).authorization).toBe('Bearer access-1')
  })

  it('asks for a document connection token with the bearer token, and gives null when refused', async () => {
    const { f, calls } = fakeFetch((c) => {
      if (c.url.endsWith('/api/auth/login')) return json(200, auth(1))
      if (c.url.endsWith('/api/docs/d1/connect')) return json(200, { token: 'qld_abc', role: 'editor', path: '/ws/docs/d1', expires_at: '' })
      return json(404, { error: { code: 'not_found', message: 'document not found' } })
    })
    const api = new Api({ fetch: f, store: new MemoryStore() })
    await api.login('a@b.c', 'pw')
    expect(await api.docConnectToken('d1')).toBe('qld_abc')
    expect(calls[1]!.init.method).toBe('POST')
    expect((calls[1]!.init.headers as Record<string, string>).authorization).toBe('Bearer access-1')
    expect(await api.docConnectToken('other')).toBeNull()
  })

  it('refreshes once on 401 and retries, even with concurrent requests', async () => {
    let refreshes = 0
    const { f } = fakeFetch((c) => {
      if (c.url.endsWith('/api/auth/login')) return json(200, auth(1))
      if (c.url.endsWith('/api/auth/refresh')) {
        refreshes++
        expect(JSON.parse(String(c.init.body))).toEqual({ refresh_token: 'refresh-1' })
        return json(200, auth(2))
      }
      const h = (c.init.headers as Record<string, string>).authorization
      if (h !== 'Bearer access-2') return json(401, { error: { code: 'invalid_token', message: 'expired' } })
      // Workspaces are a plain list; documents and members are pages.
      return json(200, c.url.includes('/api/workspaces/w/') ? { items: [], next_cursor: null } : [])
    })
    const api = new Api({ fetch: f })
    await api.login('a@b.c', 'pw')
    await Promise.all([api.workspaces(), api.docs('w'), api.members('w')])
    expect(refreshes).toBe(1)
    expect(api.session?.refresh_token).toBe('refresh-2')
  })

  it('refreshes ahead of expiry without a failed request', async () => {
    let now = 0
    const { f, calls } = fakeFetch((c) => {
      if (c.url.endsWith('/api/auth/login')) return json(200, auth(1))
      if (c.url.endsWith('/api/auth/refresh')) return json(200, auth(2))
      return json(200, [])
    })
    const api = new Api({ fetch: f, now: () => now })
    await api.login('a@b.c', 'pw')
    now = 899_000
    await api.workspaces()
    expect(calls.map((c) => c.url.replace(/.*\/api/, ''))).toEqual(['/auth/login', '/auth/refresh', '/workspaces'])
  })

  it('ends the session when the refresh token is refused', async () => {
    let signedOut = 0
    const { f } = fakeFetch((c) => {
      if (c.url.endsWith('/api/auth/login')) return json(200, auth(1))
      if (c.url.endsWith('/api/auth/refresh')) return json(401, { error: { code: 'invalid_token', message: 'revoked' } })
      return json(401, { error: { code: 'invalid_token', message: 'expired' } })
    })
    const api = new Api({ fetch: f, onSignedOut: () => signedOut++ })
    await api.login('a@b.c', 'pw')
    await expect(api.workspaces()).rejects.toBeInstanceOf(ApiError)
    expect(api.session).toBeNull()
    expect(signedOut).toBe(1)
  })

  it('turns error bodies into ApiError with line:col for QASM', async () => {
    const { f, calls } = fakeFetch(() =>
      json(422, { error: { code: 'invalid_qasm', message: '3:5: expected ;', details: { line: 3, col: 5, message: 'expected ;' } } }),
    )
    const api = new Api({ fetch: f })
    const err = await api.putQasm('d1', 'OPENQASM 2.0;\nqreg q[1];\nh q[0]').catch((e: unknown) => e)
    expect(err).toBeInstanceOf(ApiError)
    expect((err as ApiError).status).toBe(422)
    expect((err as ApiError).code).toBe('invalid_qasm')
    expect((err as ApiError).position).toEqual({ line: 3, col: 5 })
    expect((calls[0]!.init.headers as Record<string, string>)['content-type']).toMatch(/text\/plain/)
  })

  it('logs out on the server and forgets the session', async () => {
    const { f, calls } = fakeFetch((c) => (c.url.endsWith('/api/auth/login') ? json(200, auth(1)) : new Response(null, { status: 204 })))
    const api = new Api({ fetch: f })
    await api.login('a@b.c', 'pw')
    await api.logout()
    expect(calls[1]!.url).toMatch(/\/api\/auth\/logout$/)
    expect(JSON.parse(String(calls[1]!.init.body))).toEqual({ refresh_token: 'refresh-1' })
    expect(api.session).toBeNull()
  })

  it('follows next_cursor to read a whole list, and stops on a cursor that does not move', async () => {
    const pages: Record<string, unknown> = {
      '/api/workspaces/w/members?limit=200': { items: [{ user_id: 'a' }, { user_id: 'b' }], next_cursor: 'c1' },
      '/api/workspaces/w/members?limit=200&cursor=c1': { items: [{ user_id: 'c' }], next_cursor: null },
      '/api/docs/d/versions?limit=200': { items: [{ id: 'v1' }], next_cursor: 'same' },
      '/api/docs/d/versions?limit=200&cursor=same': { items: [{ id: 'v2' }], next_cursor: 'same' },
    }
    const { f, calls } = fakeFetch((c) => json(200, pages[c.url] ?? { items: [], next_cursor: null }))
    const api = new Api({ fetch: f })
    expect((await api.members('w')).map((m) => m.user_id)).toEqual(['a', 'b', 'c'])
    expect(calls.map((c) => c.url)).toEqual(['/api/workspaces/w/members?limit=200', '/api/workspaces/w/members?limit=200&cursor=c1'])
    expect((await api.versions('d')).map((v) => v.id)).toEqual(['v1', 'v2'])
    expect(calls).toHaveLength(4)
  })

  it('builds filtered, cursor-paged job queries', async () => {
    const { f, calls } = fakeFetch(() => json(200, { items: [], next_cursor: null }))
    const api = new Api({ fetch: f })
    await api.jobs('w1', { status: 'queued', cursor: 'abc', limit: 25 })
    expect(calls[0]!.url).toBe('/api/workspaces/w1/jobs?status=queued&cursor=abc&limit=25')
  })

  it('pages the assistant thread and gives null for a job with no analysis', async () => {
    const { f, calls } = fakeFetch((c) =>
      c.url.includes('/analysis') ? json(404, { error: { code: 'not_found', message: 'analysis of this job not found' } }) : json(200, { items: [], next_cursor: null }),
    )
    const api = new Api({ fetch: f })
    await api.aiMessages('w1', { docId: 'd1', cursor: 'm9', limit: 50 })
    expect(calls[0]!.url).toBe('/api/workspaces/w1/ai/messages?doc_id=d1&cursor=m9&limit=50')
    await api.askAi('w1', 'why?')
    expect(JSON.parse(String(calls[1]!.init.body))).toEqual({ content: 'why?' })
    expect(await api.analysis('j1')).toBeNull()
  })

  it("sets the time zone with PATCH /api/me, keeps the session's copy, and reports a refused name", async () => {
    let stored: string | null = null
    const { f, calls } = fakeFetch((c) => {
      if (c.url.endsWith('/api/auth/login')) return json(200, auth(1))
      const body = c.init.body ? (JSON.parse(String(c.init.body)) as { time_zone?: string }) : {}
      if (c.init.method === 'PATCH' && body.time_zone === 'Mars/Olympus') {
        return json(422, { error: { code: 'invalid_input', message: 'time_zone: "Mars/Olympus" is not an IANA time zone name', details: { time_zone: 'x' } } })
      }
      if (c.init.method === 'PATCH') stored = body.time_zone || null
      return json(200, { user: { ...auth(1).user, time_zone: stored }, organizations: [] })
    })
    const api = new Api({ fetch: f })
    await api.login('a@b.c', 'pw')
    let notified = 0
    api.subscribe(() => notified++)
    const me = await api.updateMe({ time_zone: 'Europe/Berlin' })
    expect(calls[1]!.init.method).toBe('PATCH')
    expect(calls[1]!.url).toMatch(/\/api\/me$/)
    expect(JSON.parse(String(calls[1]!.init.body))).toEqual({ time_zone: 'Europe/Berlin' })
    expect(me.user.time_zone).toBe('Europe/Berlin')
    expect(api.session?.user.time_zone).toBe('Europe/Berlin')
    expect(notified).toBe(1)
    await api.me() // the same user: no new session snapshot
    expect(notified).toBe(1)
    await expect(api.updateMe({ time_zone: 'Mars/Olympus' })).rejects.toMatchObject({ status: 422, code: 'invalid_input', message: expect.stringContaining('Mars/Olympus') })
    expect(api.session?.user.time_zone).toBe('Europe/Berlin')
  })

  it('reports a used-up AI quota as it is, not as too many attempts', async () => {
    const { f } = fakeFetch((c) =>
      c.url.endsWith('/login')
        ? json(429, { error: { code: 'rate_limited', message: 'retry in 30 s' } })
        : json(429, { error: { code: 'rate_limited', message: 'the organization has used its 20 AI requests for today', details: { quota: 'ai_requests_per_day' } } }),
    )
    const api = new Api({ fetch: f })
    await expect(api.askAi('w1', 'why?')).rejects.toMatchObject({ status: 429, code: 'rate_limited', message: 'the organization has used its 20 AI requests for today' })
    await expect(api.login('a@b.c', 'pw')).rejects.toMatchObject({ message: 'Too many attempts; retry in 30 s' })
  })

  it('asks for analytics and downloads its CSV with the bearer token and the server\'s file name', async () => {
    const { f, calls } = fakeFetch((c) => {
      if (c.url.endsWith('/api/auth/login')) return json(200, auth(1))
      if (c.url.includes('bucket=minute')) return json(422, { error: { code: 'invalid_input', message: 'bucket: must be hour, day or week', details: { bucket: 'must be hour, day or week' } } })
      if (c.url.includes('format=csv')) {
        return new Response('section,start,key,metric,value\njobs,,,total,3\n', {
          status: 200,
          headers: { 'content-type': 'text/csv; charset=utf-8', 'content-disposition': 'attachment; filename="qollab-workspace-w1-20261201.csv"' },
        })
      }
      return json(200, { scope: 'workspace', jobs: { total: 3 } })
    })
    const api = new Api({ fetch: f, store: new MemoryStore() })
    await api.login('a@b.c', 'pw')
    const a = await api.analytics('w1', { from: '2026-12-01T00:00:00Z', to: '2026-12-02T00:00:00Z', bucket: 'hour' })
    expect(a.jobs.total).toBe(3)
    expect(calls[1]!.url).toBe('/api/workspaces/w1/analytics?from=2026-12-01T00%3A00%3A00Z&to=2026-12-02T00%3A00%3A00Z&bucket=hour')
    const { blob, filename } = await api.analyticsCsv('w1', { bucket: 'day' })
    expect(calls[2]!.url).toBe('/api/workspaces/w1/analytics?bucket=day&format=csv')
    expect((calls[2]!.init.headers as Record<string, string>).authorization).toBe('Bearer access-1')
    expect(filename).toBe('qollab-workspace-w1-20261201.csv')
    expect((await blob.text()).startsWith('section,start,key,metric,value\n')).toBe(true)
    await expect(api.analyticsCsv('w1', { bucket: 'minute' as 'day' })).rejects.toMatchObject({ status: 422, code: 'invalid_input', details: { bucket: 'must be hour, day or week' } })
  })
})

describe('filenameFromDisposition', () => {
  it('reads filename*, then filename, and drops directories', () => {
    expect(filenameFromDisposition('attachment; filename="a b.csv"')).toBe('a b.csv')
    expect(filenameFromDisposition('attachment; filename=plain.csv')).toBe('plain.csv')
    expect(filenameFromDisposition("attachment; filename*=UTF-8''r%C3%A9sum%C3%A9.csv; filename=\"resume.csv\"")).toBe('résumé.csv')
    expect(filenameFromDisposition('attachment; filename="../../etc/x.csv"')).toBe('x.csv')
    expect(filenameFromDisposition('attachment')).toBeNull()
    expect(filenameFromDisposition(null)).toBeNull()
  })
})
