// Browser benchmarks of the web app against a running `qollab serve`:
//   node e2e/bench.mjs --url http://127.0.0.1:8080 [--gates 2000] [--edits 60] [--profile DIR]
// Prints a JSON report: initial JS size, composer render time and drag frame times
// with a large circuit, and remote-edit latency between two browsers (p50/p99), with the
// machine's load average before and after, and where the browser's time went (CDP
// Performance metrics: script, layout, style; with --profile, CPU profiles of the local
// and remote edits on the big circuit and their top functions by self time).
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs'
import { loadavg } from 'node:os'
import { gzipSync } from 'node:zlib'
import { arg, launch, percentile, rest, signIn } from './lib.mjs'

const base = arg('url', 'http://127.0.0.1:8080')
const gates = Number(arg('gates', '2000'))
const edits = Number(arg('edits', '60'))
const profileDir = arg('profile', '')
const api = rest(base)
const load = () => loadavg().map((x) => +x.toFixed(2))
const report = { url: base, gates, load_before: load() }

/** Time the page spent in script, layout and style while `fn` ran (CDP Performance). */
async function breakdown(page, fn, name) {
  const cdp = await page.context().newCDPSession(page)
  await cdp.send('Performance.enable')
  const read = async () => Object.fromEntries((await cdp.send('Performance.getMetrics')).metrics.map((m) => [m.name, m.value]))
  if (profileDir) {
    await cdp.send('Profiler.enable')
    await cdp.send('Profiler.setSamplingInterval', { interval: 200 })
    await cdp.send('Profiler.start')
  }
  const a = await read()
  await fn()
  const b = await read()
  const out = {}
  for (const k of ['TaskDuration', 'ScriptDuration', 'LayoutDuration', 'RecalcStyleDuration']) out[k.replace('Duration', '_ms')] = Math.round((b[k] - a[k]) * 1000)
  out.LayoutCount = b.LayoutCount - a.LayoutCount
  if (profileDir) {
    const { profile } = await cdp.send('Profiler.stop')
    mkdirSync(profileDir, { recursive: true })
    writeFileSync(`${profileDir}/${name}.cpuprofile`, JSON.stringify(profile))
    const self = new Map()
    const dt = profile.timeDeltas
    const byId = new Map(profile.nodes.map((n) => [n.id, n]))
    profile.samples.forEach((id, i) => {
      const n = byId.get(id)
      const f = n.callFrame
      const key = `${f.functionName || '(anonymous)'} ${f.url ? f.url.split('/').pop() : ''}${f.lineNumber >= 0 && f.url ? `:${f.lineNumber + 1}` : ''}`.trim()
      self.set(key, (self.get(key) ?? 0) + (dt[i] ?? 0) / 1000)
    })
    out.top_self_ms = [...self].sort((x, y) => y[1] - x[1]).slice(0, 12).map(([k, v]) => `${k}: ${v.toFixed(1)}`)
  }
  await cdp.detach()
  return out
}

// ---- initial JS: what index.html loads before any lazy screen.
{
  const html = await (await fetch(`${base}/`)).text()
  const urls = [...html.matchAll(/(?:src|href)="(\/assets\/[^"]+\.(?:js|css))"/g)].map((m) => m[1])
  let js = 0
  let css = 0
  for (const u of urls) {
    const body = Buffer.from(await (await fetch(base + u, { headers: { 'accept-encoding': 'identity' } })).arrayBuffer())
    const gz = gzipSync(body, { level: 9 }).length
    if (u.endsWith('.js')) js += gz
    else css += gz
  }
  report.initial_js_gzip_kib = +(js / 1024).toFixed(1)
  report.initial_css_gzip_kib = +(css / 1024).toFixed(1)
  try {
    const lazy = readdirSync('dist/assets').filter((f) => f.startsWith('DocScreen') && f.endsWith('.js'))
    if (lazy[0]) report.composer_chunk_gzip_kib = +(gzipSync(readFileSync(`dist/assets/${lazy[0]}`)).length / 1024).toFixed(1)
  } catch { /* dist not here: served from the binary */ }
}

// ---- a big circuit
function bigQasm(n) {
  const q = 16
  const lines = ['OPENQASM 2.0;', 'include "qelib1.inc";', `qreg q[${q}];`]
  let k = 0
  for (let layer = 0; k < n; layer++) {
    for (let i = 0; i < q && k < n; i++, k++) {
      const g = (layer + i) % 3
      lines.push(g === 0 ? `h q[${i}];` : g === 1 ? `rz(pi/${(i % 7) + 2}) q[${i}];` : `x q[${i}];`)
    }
    for (let i = layer % 2; i + 1 < q && k < n; i += 2, k++) lines.push(`cx q[${i}],q[${i + 1}];`)
  }
  return lines.join('\n') + '\n'
}

const ada = await api.register('Ada')
const bob = await api.register('Bob')
const ws = await api.call('POST', '/api/workspaces', ada.access_token, { name: 'bench' })
await api.call('POST', `/api/workspaces/${ws.id}/members`, ada.access_token, { email: bob.email, role: 'editor' })
const big = await api.call('POST', `/api/workspaces/${ws.id}/docs`, ada.access_token, { name: 'big', qasm: bigQasm(gates) })
const small = await api.call('POST', `/api/workspaces/${ws.id}/docs`, ada.access_token, {
  name: 'small', qasm: 'OPENQASM 2.0;\ninclude "qelib1.inc";\nqreg q[4];\n',
})

const browser = await launch()
try {
  const ctxA = await browser.newContext({ viewport: { width: 1440, height: 900 } })
  const ctxB = await browser.newContext({ viewport: { width: 1440, height: 900 } })
  await signIn(ctxA, base, ada)
  await signIn(ctxB, base, bob)
  const A = await ctxA.newPage()
  const B = await ctxB.newPage()

  // Composer render: navigation start → every gate of the big circuit drawn (median of 3).
  const renders = []
  for (let i = 0; i < 3; i++) {
    await A.goto(`${base}/w/${ws.id}`)
    await A.getByRole('heading', { name: 'Circuits' }).waitFor()
    const t0 = Date.now()
    await A.goto(`${base}/w/${ws.id}/d/${big.id}`)
    // The composer draws the visible columns only; data-ops counts the whole circuit.
    await A.waitForFunction((n) => Number(document.querySelector('[data-testid=composer]')?.getAttribute('data-ops')) >= n && document.querySelector('[data-testid=composer] [data-op-id]'), gates, { timeout: 60_000, polling: 16 })
    renders.push(Date.now() - t0)
  }
  report.composer_render_ms = { runs: renders, median: percentile(renders, 50) }

  // A local edit on the big circuit: key press → the new gate painted.
  const local = []
  await A.locator('[data-testid=composer]').click({ position: { x: 72 + 26, y: 24 + 26 } })
  report.local_edit_breakdown = await breakdown(A, async () => { for (let i = 0; i < 20; i++) {
    const before = Number(await A.locator('[data-testid=composer]').getAttribute('data-ops'))
    const t0 = Date.now()
    await A.keyboard.press('z')
    await A.waitForFunction((n) => Number(document.querySelector('[data-testid=composer]').getAttribute('data-ops')) > n, before, { polling: 'raf' })
    await A.evaluate(() => new Promise((r) => requestAnimationFrame(() => r())))
    local.push(Date.now() - t0)
  } }, 'local-edit-big')
  report.local_edit_ms_big = { p50: percentile(local, 50), p99: percentile(local, 99) }

  // Drag frame times: a palette gate dragged across the big circuit.
  await A.evaluate(() => {
    window.__frames = []
    let last = performance.now()
    const tick = (t) => {
      window.__frames.push(t - last)
      last = t
      if (window.__frames.length < 100000 && !window.__stop) requestAnimationFrame(tick)
    }
    requestAnimationFrame(tick)
  })
  const pal = await A.locator('.palette [data-gate=h]').boundingBox()
  const canvas = await A.locator('.canvas-wrap').boundingBox()
  await A.mouse.move(pal.x + 10, pal.y + 10)
  await A.mouse.down()
  const dragBreakdown = await breakdown(A, async () => { for (let i = 0; i <= 120; i++) {
    const x = canvas.x + 80 + (i % 60) * ((canvas.width - 120) / 60)
    const y = canvas.y + 30 + ((i * 7) % Math.max(60, canvas.height - 60))
    await A.mouse.move(x, y)
  } }, 'drag-big')
  await A.keyboard.press('Escape')
  await A.mouse.move(pal.x + 10, pal.y + 10)
  await A.mouse.up()
  const frames = await A.evaluate(() => {
    window.__stop = true
    return window.__frames.slice(2)
  })
  report.drag_breakdown = dragBreakdown
  report.drag_frame_ms = { frames: frames.length, p50: +percentile(frames, 50).toFixed(1), p99: +percentile(frames, 99).toFixed(1), max: +Math.max(...frames).toFixed(1) }

  // Remote-edit latency: A presses a key, B sees the gate (wall clock, one machine).
  async function latency(docId, n, label) {
    await A.goto(`${base}/w/${ws.id}/d/${docId}`)
    await B.goto(`${base}/w/${ws.id}/d/${docId}`)
    await A.locator('[data-testid=presence] li', { hasText: 'Bob' }).waitFor({ timeout: 30_000 })
    await B.locator('[data-testid=presence] li', { hasText: 'Ada' }).waitFor({ timeout: 30_000 })
    await B.evaluate(() => {
      window.__seen = []
      const el = document.querySelector('[data-testid=composer]')
      const count = () => Number(el.getAttribute('data-ops'))
      let c = count()
      new MutationObserver(() => {
        const k = count()
        if (k !== c) {
          c = k
          // The change is painted in the frame after this commit: take the time at that
          // frame's start (a requestAnimationFrame callback runs just before its paint).
          requestAnimationFrame(() => window.__seen.push([k, Date.now()]))
        }
      }).observe(el, { attributes: true, attributeFilter: ['data-ops'] })
    })
    await A.locator('[data-testid=composer]').click({ position: { x: 72 + 26, y: 24 + 26 } })
    const start = Number(await B.locator('[data-testid=composer]').getAttribute('data-ops'))
    const out = []
    const work = async () => { for (let i = 1; i <= n; i++) {
      const t0 = await A.evaluate(() => Date.now())
      await A.keyboard.press(i % 2 ? 'h' : 'x')
      await B.waitForFunction((k) => window.__seen.some(([c]) => c >= k), start + i, { polling: 'raf', timeout: 10_000 })
      const t1 = await B.evaluate((k) => window.__seen.find(([c]) => c >= k)[1], start + i)
      out.push(t1 - t0)
    } }
    // Where the receiving browser's time went while it followed the edits.
    let receiver
    const sender = await breakdown(A, async () => { receiver = await breakdown(B, work, `${label}-receiver`) }, `${label}-sender`)
    return { n, p50: percentile(out, 50), p99: percentile(out, 99), max: Math.max(...out), receiver, sender }
  }
  report.remote_edit_ms_small = await latency(small.id, edits, 'remote-small')
  report.remote_edit_ms_big = await latency(big.id, Math.min(edits, 30), 'remote-big')
} finally {
  await browser.close()
}
report.load_after = load()
console.log(JSON.stringify(report, null, 1))
