// Browser end-to-end test of the Qollab web app against a running `qollab serve`.
//   node e2e/e2e.mjs --url http://127.0.0.1:PORT --out DIR
// Prints one JSON summary line last; exits non-zero when a scenario fails.
// Driven by tests/tests/web.rs (cargo test --workspace).
import { mkdirSync, readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { arg, launch, rest } from './lib.mjs'

const base = arg('url', process.env.QOLLAB_URL || 'http://127.0.0.1:8080')
const out = arg('out', 'e2e/out')
mkdirSync(out, { recursive: true })
const require = createRequire(import.meta.url)
const AXE = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8')
const api = rest(base)
const summary = { ok: false, steps: [], screenshots: [], axe: {}, timings: {} }
const T = 15_000

function log(...a) { console.error('[e2e]', ...a) }
async function step(name, fn) {
  const t0 = Date.now()
  try {
    await fn()
    summary.steps.push({ name, ok: true, ms: Date.now() - t0 })
    log('ok  ', name, `${Date.now() - t0} ms`)
  } catch (e) {
    summary.steps.push({ name, ok: false, error: String(e?.stack || e) })
    log('FAIL', name, e?.stack || e)
    throw e
  }
}
async function shot(page, name) {
  const path = `${out}/${name}.png`
  await page.screenshot({ path, fullPage: false })
  summary.screenshots.push(path)
}
async function axe(page, name) {
  await page.evaluate(AXE)
  const r = await page.evaluate(async () => {
    // axe-core's global in the page (not the enclosing function of the same name).
    const res = await window.axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] } })
    return res.violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.length, help: v.help, targets: v.nodes.slice(0, 3).map((n) => n.target.join(' ')) }))
  })
  const bad = r.filter((v) => v.impact === 'serious' || v.impact === 'critical')
  summary.axe[name] = { violations: r.length, serious_or_critical: bad }
  if (bad.length) throw new Error(`axe on ${name}: ${JSON.stringify(bad, null, 1)}`)
}
const qasmOf = (page) => page.$eval('[data-testid=qasm-panel] textarea', (t) => t.value)
function body(qasm) {
  return qasm.split('\n').map((l) => l.replace(/\/\/.*$/, '').replace(/\s+/g, '')).filter((l) => l && !/^(OPENQASM|include|qreg|creg)/.test(l))
}
async function dragTo(page, from, to) {
  const a = await from.boundingBox()
  await page.mouse.move(a.x + a.width / 2, a.y + a.height / 2)
  await page.mouse.down()
  await page.mouse.move(a.x + a.width / 2 + 10, a.y + a.height / 2 + 10, { steps: 2 })
  await page.mouse.move(to.x, to.y, { steps: 8 })
  await page.mouse.up()
}
async function cellPoint(page, q, col) {
  const box = await page.locator('[data-testid=composer]').boundingBox()
  // Layout constants of Composer.tsx: X0=72, Y0=24, CW=RH=52.
  return { x: box.x + 72 + col * 52 + 26, y: box.y + 24 + q * 52 + 26 }
}

const browser = await launch()
let failed = false
try {
  // Ada's browser is in Auckland: the app gives her account that zone (streaks count her days).
  const ctxA = await browser.newContext({ viewport: { width: 1440, height: 900 }, colorScheme: 'dark', timezoneId: 'Pacific/Auckland' })
  const ctxB = await browser.newContext({ viewport: { width: 1440, height: 900 }, colorScheme: 'light' })
  const ctxV = await browser.newContext({ viewport: { width: 1280, height: 800 } })
  const A = await ctxA.newPage()
  const B = await ctxB.newPage()
  const V = await ctxV.newPage()
  for (const [n, p] of [['A', A], ['B', B], ['V', V]]) {
    p.on('pageerror', (e) => log(`${n} page error:`, e.message))
    p.on('console', (m) => m.type() === 'error' && log(`${n} console:`, m.text()))
  }
  let ws, doc, tokenA
  const bob = await api.register('Bob')
  const vera = await api.register('Vera')

  await step('sign up shows clear errors, then creates the account', async () => {
    await A.goto(`${base}/register`)
    await A.getByRole('heading', { name: 'Create your account' }).waitFor()
    await axe(A, 'register')
    await A.getByLabel('Name').fill('Ada')
    await A.getByLabel('Email').fill(bob.email) // taken
    await A.getByLabel('Password').fill('correct horse battery')
    await A.getByRole('button', { name: 'Create your account' }).click()
    await A.getByRole('alert').filter({ hasText: /already|taken|registered/i }).waitFor({ timeout: T })
    await A.getByLabel('Email').fill(`ada-${Date.now()}@example.com`)
    await A.getByRole('button', { name: 'Create your account' }).click()
    await A.getByRole('heading', { name: 'Your workspaces' }).waitFor({ timeout: T })
    tokenA = await A.evaluate(() => JSON.parse(localStorage.getItem('qollab.session')).access_token)
  })

  await step('log in shows a wrong password, then logs in', async () => {
    await B.goto(`${base}/login`)
    await B.getByLabel('Email').fill(bob.email)
    await B.getByLabel('Password').fill('wrong password!')
    await B.getByRole('button', { name: 'Log in' }).click()
    await B.getByRole('alert').filter({ hasText: /wrong email or password|invalid/i }).waitFor({ timeout: T })
    await shot(B, 'login')
    await axe(B, 'login')
    await B.getByLabel('Password').fill(bob.password)
    await B.getByRole('button', { name: 'Log in' }).click()
    await B.getByRole('heading', { name: 'Your workspaces' }).waitFor({ timeout: T })
  })

  await step('workspace and circuit are created, members added', async () => {
    await A.getByLabel('Workspace name').fill('Bell lab')
    await A.getByRole('button', { name: 'Create workspace' }).click()
    await A.waitForURL(/\/w\/[0-9a-f-]+$/, { timeout: T })
    ws = A.url().split('/w/')[1]
    await A.getByRole('link', { name: 'Members' }).click()
    await A.getByLabel('Email of a registered user').fill(bob.email)
    await A.getByLabel('Role', { exact: true }).selectOption('editor')
    await A.getByRole('button', { name: 'Add member' }).click()
    await A.getByRole('cell', { name: bob.email }).waitFor({ timeout: T })
    await A.getByLabel('Email of a registered user').fill(vera.email)
    await A.getByLabel('Role', { exact: true }).selectOption('viewer')
    await A.getByRole('button', { name: 'Add member' }).click()
    await A.getByRole('cell', { name: vera.email }).waitFor({ timeout: T })
    await shot(A, 'members')
    await axe(A, 'members')
    await A.getByRole('link', { name: 'Documents' }).click()
    await A.getByLabel('Circuit name').fill('Bell')
    await A.getByRole('button', { name: 'Create circuit' }).click()
    await A.waitForURL(/\/d\/[0-9a-f-]+$/, { timeout: T })
    doc = A.url().split('/d/')[1]
    await A.locator('[data-testid=composer]').waitFor()
  })

  await step('two users see each other in presence', async () => {
    await B.goto(`${base}/w/${ws}/d/${doc}`)
    await B.locator('[data-testid=presence] li', { hasText: 'Ada' }).waitFor({ timeout: T })
    await A.locator('[data-testid=presence] li', { hasText: 'Bob' }).waitFor({ timeout: T })
  })

  await step('gates placed in one browser appear in the other within a second', async () => {
    await A.locator('[data-testid=composer]').click({ position: { x: 72 + 26, y: 24 + 26 } })
    let t0 = Date.now()
    await A.getByRole('button', { name: 'Add Hadamard' }).click()
    await B.locator('[data-testid=composer] [data-gate=h]').waitFor({ timeout: 1000 })
    summary.timings.h_visible_ms = Date.now() - t0
    // Drag a CX from the palette onto q0, column 1.
    await dragTo(A, A.locator('.palette [data-gate=cx]'), await cellPoint(A, 0, 1))
    t0 = Date.now()
    await B.locator('[data-testid=composer] [data-gate=cx]').waitFor({ timeout: 1000 })
    summary.timings.cx_visible_ms = Date.now() - t0
    // Keyboard in B: cursor to q1, col 2, then X.
    await B.locator('[data-testid=composer]').click({ position: { x: 72 + 2 * 52 + 26, y: 24 + 52 + 26 } })
    t0 = Date.now()
    await B.keyboard.press('x')
    await A.locator('[data-testid=composer] [data-gate=x]').waitFor({ timeout: 1000 })
    summary.timings.x_visible_ms = Date.now() - t0
    // A rotation with its parameter edited in place.
    await A.locator('[data-testid=composer]').click({ position: { x: 72 + 3 * 52 + 26, y: 24 + 26 } })
    await A.getByRole('button', { name: 'Add Rotation about Z' }).click()
    await A.locator('[data-testid=composer]').focus()
    await A.keyboard.press('Enter')
    await A.getByLabel('rz parameter 1').fill('pi/8')
    await A.getByLabel('rz parameter 1').press('Enter')
    await B.locator('[data-testid=composer] [data-gate=rz] text', { hasText: 'pi/8' }).waitFor({ timeout: 2000 })
    // Move the X by dragging it up to q0 in A, then undo in A (A's own edit only).
    await dragTo(A, A.locator('[data-testid=composer] [data-gate=x] .hit'), await cellPoint(A, 0, 4))
    await B.waitForFunction(() => document.querySelector('[data-testid=composer] [data-gate=x]') && getComputedStyle(document.body) && true)
    await A.keyboard.press('Control+z')
    await A.waitForTimeout(300)
  })

  await step('both browsers end with the circuit of GET /api/docs/{id}/qasm', async () => {
    await A.waitForTimeout(400)
    const server = await api.call('GET', `/api/docs/${doc}/qasm`, tokenA)
    const want = body(server)
    for (const p of [A, B]) {
      await p.waitForFunction((n) => document.querySelectorAll('[data-testid=composer] [data-op-id]').length === n, want.length, { timeout: T })
    }
    const a = body(await qasmOf(A))
    const b = body(await qasmOf(B))
    if (JSON.stringify(a) !== JSON.stringify(b)) throw new Error(`browsers differ:\n${a}\n---\n${b}`)
    const norm = (xs) => xs.map((l) => l.replace(/pi\/8|0\.39269908\d*/g, 'P'))
    if (JSON.stringify(norm(a)) !== JSON.stringify(norm(want))) throw new Error(`browser ${a} vs server ${want}`)
    summary.circuit = want
  })

  await step('stats follow the live circuit and match the server', async () => {
    const server = await api.call('GET', `/api/docs/${doc}`, tokenA)
    const stat = (p, k) => p.locator(`[data-testid=stats] [data-stat="${k}"] dd`).innerText()
    for (const p of [A, B]) {
      await p.waitForFunction((n) => document.querySelector('[data-testid=stats] [data-stat=gates] dd')?.textContent === String(n), server.stats.total_gates, { timeout: T })
      const got = { depth: await stat(p, 'depth'), two: await stat(p, '2-qubit gates'), q: await stat(p, 'qubits') }
      const want = { depth: String(server.stats.depth), two: String(server.stats.two_qubit_gates), q: String(server.stats.qubits) }
      if (JSON.stringify(got) !== JSON.stringify(want)) throw new Error(`stats ${JSON.stringify(got)} vs server ${JSON.stringify(want)}`)
    }
  })

  await step('the composer is keyboard operable: place, move, delete, undo', async () => {
    const tOn = (p) => p.$$eval('[data-testid=composer] [data-gate=t] title', (ts) => ts.map((t) => t.textContent))
    const until = async (p, want) => p.waitForFunction((w) => JSON.stringify([...document.querySelectorAll('[data-testid=composer] [data-gate=t] title')].map((t) => / on (q[\d, q]+)/.exec(t.textContent)?.[1])) === w, JSON.stringify(want), { timeout: T })
    const cell = await cellPoint(B, 1, 0)
    const box = await B.locator('[data-testid=composer]').boundingBox()
    await B.locator('[data-testid=composer]').click({ position: { x: cell.x - box.x, y: cell.y - box.y } })
    await B.keyboard.press('t') // places T on q1 and selects it
    await until(A, ['q1'])
    await B.waitForTimeout(350) // past the undo manager's capture window: separate undo steps
    await B.keyboard.press('Shift+ArrowUp') // moves the selected gate to q0
    await until(A, ['q0'])
    await B.waitForTimeout(350)
    await B.keyboard.press('Delete')
    await until(A, [])
    await B.keyboard.press('Control+z')
    await until(A, ['q0'])
    await B.keyboard.press('Control+z')
    await until(A, ['q1'])
    await B.keyboard.press('Control+z')
    await until(A, [])
    summary.keyboard_t = await tOn(B)
  })

  await step('QASM typed in the panel reaches the other browser', async () => {
    const src = 'OPENQASM 2.0;\ninclude "qelib1.inc";\nqreg q[2];\ncreg c[2];\nh q[0];\ncx q[0],q[1];\nmeasure q[0] -> c[0];\nmeasure q[1] -> c[1];\n'
    await B.locator('[data-testid=qasm-panel] textarea').fill(src)
    await B.getByRole('button', { name: 'Apply QASM' }).click()
    await A.waitForFunction(() => {
      const g = [...document.querySelectorAll('[data-testid=composer] [data-op-id]')].map((e) => e.getAttribute('data-gate'))
      return g.join() === 'h,cx,measure,measure'
    }, null, { timeout: T })
    const a = body(await qasmOf(A))
    if (!a.includes('cxq[0],q[1];')) throw new Error(`A's QASM: ${a}`)
  })

  await step('history: a saved version is restored for everyone', async () => {
    await B.locator('.history summary').click()
    await B.getByLabel('Version name').fill('Bell v1')
    await B.getByRole('button', { name: 'Save version' }).click()
    await B.locator('.versions li', { hasText: 'Bell v1' }).waitFor({ timeout: T })
    await A.locator('[data-testid=composer]').click({ position: { x: 72 + 4 * 52 + 26, y: 24 + 26 } })
    await A.keyboard.press('y')
    await B.locator('[data-testid=composer] [data-gate=y]').waitFor({ timeout: T })
    // The history says what changed since the version.
    await B.locator('.versions li', { hasText: 'Bell v1' }).getByLabel('Changes since this version').getByText(/\+1 y/).waitFor({ timeout: T })
    await shot(B, 'history')
    await B.locator('.versions li', { hasText: 'Bell v1' }).getByRole('button', { name: 'Restore' }).click()
    await A.waitForFunction(() => !document.querySelector('[data-testid=composer] [data-gate=y]') && document.querySelectorAll('[data-testid=composer] [data-op-id]').length === 4, null, { timeout: T })
  })

  await step('a bad line shows its line:column', async () => {
    await B.locator('[data-testid=qasm-panel] textarea').fill('OPENQASM 2.0;\ninclude "qelib1.inc";\nqreg q[2];\nh q[0;\n')
    await B.getByRole('button', { name: 'Apply QASM' }).click()
    const err = B.locator('[data-testid=qasm-error]')
    await err.waitFor({ timeout: T })
    const text = await err.innerText()
    if (!/Line 4:\d+/.test(text)) throw new Error(`error text: ${text}`)
    summary.qasm_error = text
    await B.getByRole('button', { name: 'Discard edits' }).click()
  })

  await step("a viewer's browser cannot edit", async () => {
    await V.goto(`${base}/login`)
    await V.getByLabel('Email').fill(vera.email)
    await V.getByLabel('Password').fill(vera.password)
    await V.getByRole('button', { name: 'Log in' }).click()
    await V.getByRole('heading', { name: 'Your workspaces' }).waitFor({ timeout: T })
    await V.goto(`${base}/w/${ws}/d/${doc}`)
    await V.locator('[data-testid=composer] [data-gate=cx]').waitFor({ timeout: T })
    const before = await api.call('GET', `/api/docs/${doc}/qasm`, tokenA)
    if (!(await V.getByRole('button', { name: 'Add Hadamard' }).isDisabled())) throw new Error('palette enabled for a viewer')
    if (!(await V.locator('[data-testid=run]').isDisabled())) throw new Error('run enabled for a viewer')
    await V.locator('[data-testid=composer]').click({ position: { x: 72 + 26, y: 24 + 26 } })
    await V.keyboard.press('x')
    await V.keyboard.press('Delete')
    await V.locator('[data-testid=qasm-panel] textarea').press('End')
    await V.keyboard.type('x q[1];')
    await V.waitForTimeout(800)
    const after = await api.call('GET', `/api/docs/${doc}/qasm`, tokenA)
    if (before !== after) throw new Error(`the viewer changed the document:\n${before}\n${after}`)
    await A.locator('[data-testid=presence] li', { hasText: 'Vera' }).waitFor({ timeout: T })
    await shot(V, 'viewer')
  })

  await step("an owner's role change reaches the member's open document live", async () => {
    const M = await ctxA.newPage()
    await M.goto(`${base}/w/${ws}/members`)
    await M.getByLabel('Role of Vera').selectOption('editor')
    const palette = V.getByRole('button', { name: 'Add Hadamard' })
    await V.waitForFunction(() => !document.querySelector('.palette [data-gate=h]')?.disabled, null, { timeout: T })
    // Now an editor: a gate placed by Vera reaches Ada, then Vera takes it back.
    await V.locator("[data-testid=composer]").click({ position: { x: 72 + 4 * 52 + 26, y: 24 + 52 + 26 } })
    await V.keyboard.press('s')
    await A.locator('[data-testid=composer] [data-gate=s]').waitFor({ timeout: T })
    await V.keyboard.press('Control+z')
    await A.waitForFunction(() => !document.querySelector('[data-testid=composer] [data-gate=s]'), null, { timeout: T })
    await M.getByLabel('Role of Vera').selectOption('viewer')
    await V.waitForFunction(() => document.querySelector('.palette [data-gate=h]')?.disabled, null, { timeout: T })
    if (!(await palette.isDisabled())) throw new Error('palette enabled again for a viewer')
    await M.close()
  })

  await step('run a Bell circuit: both see queued → running → histogram of 00/11', async () => {
    const watch = (p) => p.evaluate(() => {
      window.__statuses = []
      const seen = (s) => { if (s && window.__statuses[window.__statuses.length - 1] !== s) window.__statuses.push(s) }
      new MutationObserver(() => seen(document.querySelector('[data-testid=run] ~ * .job-card, .run .job-card')?.getAttribute('data-status')))
        .observe(document.body, { subtree: true, childList: true, attributes: true, attributeFilter: ['data-status'] })
    })
    await watch(A)
    await watch(B)
    await A.getByLabel('Shots').fill('4000')
    await A.locator('[data-testid=run]').click()
    for (const p of [A, B]) await p.locator('.run [data-testid=histogram]').waitFor({ timeout: 30_000 })
    const outcomes = async (p) => p.$$eval('.run [data-testid=histogram] [data-outcome]', (els) => els.map((e) => e.getAttribute('data-outcome')).sort())
    for (const [n, p] of [['A', A], ['B', B]]) {
      const o = await outcomes(p)
      if (JSON.stringify(o) !== JSON.stringify(['00', '11'])) throw new Error(`${n} outcomes ${o}`)
      const s = await p.evaluate(() => window.__statuses)
      summary[`statuses_${n}`] = s
      const order = ['queued', 'running', 'completed']
      const idx = s.map((x) => order.indexOf(x))
      if (idx.some((i) => i < 0) || idx.some((v, i) => i > 0 && v < idx[i - 1]) || s[s.length - 1] !== 'completed') throw new Error(`${n} saw statuses ${s}`)
      // A Bell job runs in milliseconds, faster than a second browser may paint the
      // intermediate states; the card's timeline shows every step it went through.
      const steps = await p.$$eval('.run .job-card .timeline [data-step]', (els) => els.map((e) => e.getAttribute('data-step')))
      if (steps.join() !== 'queued,running,completed') throw new Error(`${n} timeline ${steps}`)
    }
    await A.waitForTimeout(300)
    await shot(A, 'composer')
    await shot(B, 'composer-light')
    await axe(A, 'composer')
    await axe(B, 'composer-light')
  })

  await step('a completed job\'s artifacts download', async () => {
    const [dl] = await Promise.all([A.waitForEvent('download', { timeout: T }), A.locator('.run .artifacts').getByRole('button', { name: 'counts.csv' }).click()])
    const text = readFileSync(await dl.path(), 'utf8')
    if (!/\b00\b/.test(text) || !/\b11\b/.test(text) || /\b01\b|\b10\b/.test(text)) throw new Error(`counts.csv: ${text}`)
    summary.counts_csv = text.trim().split('\n').slice(0, 3)
  })

  await step('an optimized run shows its savings to everyone', async () => {
    const src = 'OPENQASM 2.0;\ninclude "qelib1.inc";\nqreg q[2];\ncreg c[2];\nh q[0];\nx q[1];\nx q[1];\nh q[0];\nh q[0];\ncx q[0],q[1];\nmeasure q[0] -> c[0];\nmeasure q[1] -> c[1];\n'
    await B.locator('[data-testid=qasm-panel] textarea').fill(src)
    await B.getByRole('button', { name: 'Apply QASM' }).click()
    await A.waitForFunction(() => document.querySelectorAll('[data-testid=composer] [data-op-id]').length === 8, null, { timeout: T })
    await A.getByLabel('What to do', { exact: true }).selectOption('optimize_and_simulate')
    await A.locator('[data-testid=run]').click()
    for (const p of [A, B]) {
      await p.locator('.run .savings', { hasText: 'fewer gates' }).waitFor({ timeout: 30_000 })
    }
    summary.savings = await B.locator('.run .savings').innerText()
    if (!(await A.locator('.run .artifacts').getByRole('button', { name: 'optimized.qasm' }).count())) throw new Error('no optimized.qasm artifact')
    await shot(A, 'optimized')
  })

  await step('a slow job is cancelled and both browsers see it', async () => {
    const emulator = await A.getByLabel('Backend', { exact: true }).evaluate((s) => [...s.options].find((o) => o.value.startsWith('emulator:') && !o.disabled)?.value)
    if (!emulator) throw new Error('no emulator backend offered')
    await A.getByLabel('Backend', { exact: true }).selectOption(emulator)
    await A.getByLabel('What to do', { exact: true }).selectOption('simulate')
    await A.getByLabel('Shots').fill('100')
    await A.locator('[data-testid=run]').click()
    const card = (p) => p.locator('.run .job-card').first()
    await card(A).locator('[data-status=queued], [data-status=running]').first().waitFor({ timeout: T })
    await card(A).getByRole('button', { name: 'Cancel' }).click()
    for (const p of [A, B]) await p.locator('.run .job-card[data-status=cancelled]').first().waitFor({ timeout: T })
    await A.getByLabel('Backend', { exact: true }).selectOption('ideal')
  })

  await step('the job monitor lists the job live', async () => {
    await B.getByRole('link', { name: 'Jobs' }).click()
    await B.locator('[data-testid=job-row][data-status=completed]').first().waitFor({ timeout: T })
    await shot(B, 'jobs')
    await axe(B, 'jobs')
    await B.locator('[data-testid=job-row][data-status=completed] a').first().click()
    await B.waitForURL(/\/jobs\/[0-9a-f-]+$/)
    await B.locator('[data-testid=histogram]').waitFor({ timeout: T })
  })

  await step('a chat message from one appears in the other', async () => {
    const text = `hello from Ada ${Date.now()}`
    await A.locator('[data-testid=chat-input]').fill(text)
    await A.locator('[data-testid=chat-input]').press('Enter')
    await B.locator('[data-testid=chat-message]', { hasText: text }).waitFor({ timeout: 3000 })
  })

  await step("an @mention rings Bob's bell live; opening it marks it read", async () => {
    // Bob in a second tab (his first stays on the job for the reload step).
    const R = await ctxB.newPage()
    R.on('pageerror', (e) => log('R page error:', e.message))
    await R.goto(`${base}/w/${ws}`)
    const bell = R.locator('[data-testid=bell]')
    await R.locator('[data-testid=bell][data-stream=live]').waitFor({ timeout: T })
    // Start from nothing unread (being added to the workspace told him already).
    if (Number(await bell.getAttribute('data-unread')) > 0) {
      await bell.click()
      await R.getByTestId('bell-panel').getByRole('button', { name: 'Mark all read' }).click()
      await R.locator('[data-testid=bell][data-unread="0"]').waitFor({ timeout: T })
      await bell.click()
    }
    const text = `@Bob could you check the Bell histogram? (${Date.now()})`
    await A.locator('[data-testid=chat-input]').fill(text)
    await A.locator('[data-testid=chat-input]').press('Enter')
    // Live: no reload, one unread, and one toast.
    await R.locator('[data-testid=bell][data-unread="1"]').waitFor({ timeout: T })
    const title = 'Ada mentioned you in Bell lab'
    await R.getByTestId('toast').filter({ hasText: title }).waitFor({ timeout: T })
    if ((await R.getByTestId('toast').count()) !== 1) throw new Error('more than one toast')
    await bell.click()
    const notice = R.getByTestId('bell-panel').locator('[data-testid=notice][data-read=false]', { hasText: title })
    await notice.waitFor({ timeout: T })
    if (!(await notice.innerText()).includes(text)) throw new Error(`notice: ${await notice.innerText()}`)
    if (await R.getByTestId('toast').count()) throw new Error('a toast over the open bell')
    await shot(R, 'bell')
    await axe(R, 'bell')
    await notice.click()
    await R.waitForURL(new RegExp(`/w/${ws}$`), { timeout: T })
    await R.locator('[data-testid=bell][data-unread="0"]').waitFor({ timeout: T })
    const page = await api.call('GET', '/api/me/notifications?limit=10', bob.access_token)
    const stored = page.items.find((n) => n.kind === 'mention' && n.body === text)
    if (!stored?.read || page.unread !== 0) throw new Error(`after opening it: ${JSON.stringify(page)}`)
    summary.notification = { title: stored.title, link: stored.link }
    // The inbox screen lists it read; a preference is saved.
    await R.getByRole('navigation', { name: 'Workspace' }).getByRole('link', { name: 'Notifications' }).click()
    await R.getByRole('heading', { name: 'Notifications', level: 1 }).waitFor({ timeout: T })
    await R.locator('[data-testid=inbox-item][data-read=true]', { hasText: title }).waitFor({ timeout: T })
    await R.getByTestId('pref-session').getByLabel('Digest').check()
    await R.getByRole('button', { name: 'Save preferences' }).click()
    await R.getByText('Saved.').waitFor({ timeout: T })
    const prefs = await api.call('GET', '/api/me/notification-preferences', bob.access_token)
    if (prefs.kinds.session !== 'digest' || prefs.kinds.mention !== 'live') throw new Error(`preferences: ${JSON.stringify(prefs)}`)
    await shot(R, 'notifications')
    await axe(R, 'notifications')
    await R.close()
  })

  await step('the assistant answers the whole room; offline findings without a provider', async () => {
    // Without QOLLAB_AI_API_KEY (as in the test suite) the answer is the engine's
    // findings about the thread's document, labelled offline; with a key, a model's.
    await A.goto(`${base}/w/${ws}/ai`)
    await A.getByRole('heading', { name: 'AI assistant' }).waitFor({ timeout: T })
    await A.getByLabel('Thread', { exact: true }).selectOption(doc)
    await A.getByRole('heading', { name: 'About “Bell”' }).waitFor({ timeout: T })
    // Bob in a second tab (his first stays on the job for the reload step), Vera as viewer.
    const R = await ctxB.newPage()
    for (const p of [R, V]) {
      await p.goto(`${base}/w/${ws}/ai?doc=${doc}`)
      await p.getByRole('heading', { name: 'About “Bell”' }).waitFor({ timeout: T })
    }
    const question = `What does this circuit measure, and what would you change? (${Date.now()})`
    await A.getByLabel('Your question').fill(question)
    await A.getByRole('button', { name: 'Ask', exact: true }).click()
    const answered = '[data-testid=ai-answer][data-status=completed]'
    for (const p of [A, R, V]) {
      await p.locator('[data-testid=ai-question]', { hasText: question }).waitFor({ timeout: T })
      await p.locator(answered).last().waitFor({ timeout: 60_000 })
    }
    const answer = R.locator(answered).last()
    const text = await answer.innerText()
    const offline = (await answer.getAttribute('data-offline')) === 'true'
    summary.ai = { offline, answer: text.slice(0, 400) }
    if (offline && !/Document "Bell"/.test(text)) throw new Error(`offline answer: ${text}`)
    const body = (p) => p.locator(answered).last().getByTestId('ai-answer-body').innerText()
    const [a, b, v] = [await body(A), await body(R), await body(V)]
    if (!a.trim() || a !== b || a !== v) throw new Error(`the asker and the room see different answers:\n${a}\n---\n${b}\n---\n${v}`)
    // A viewer reads the thread and may ask, but never decides on suggested edits.
    if (await V.getByRole('button', { name: /^(Accept|Reject)$/ }).count()) throw new Error('a viewer is offered Accept/Reject')
    await R.close()
    await A.locator(answered).last().scrollIntoViewIfNeeded()
    await shot(A, 'ai')
    await axe(A, 'ai')
  })

  await step("a job is explained: the analysis streams to the page with the engine's findings", async () => {
    const { items } = await api.call('GET', `/api/workspaces/${ws}/jobs?status=cancelled`, tokenA)
    const job = items[0]
    if (!job) throw new Error('no cancelled job to explain')
    await A.goto(`${base}/w/${ws}/jobs/${job.id}`)
    const panel = A.locator('[data-testid=job-analysis]')
    await panel.getByRole('button', { name: 'Explain this job' }).click()
    await A.locator('[data-testid=job-analysis][data-status=completed]').waitFor({ timeout: 60_000 })
    const findings = await panel.locator('[data-testid=finding]').evaluateAll((els) => els.map((e) => e.getAttribute('data-severity')))
    const stored = await api.call('GET', `/api/jobs/${job.id}/analysis`, tokenA)
    if (findings.length !== stored.findings.length) throw new Error(`${findings.length} findings shown, ${stored.findings.length} stored`)
    if (stored.offline !== (await panel.locator('.badge.offline').count() > 0)) throw new Error('offline label does not match the analysis')
    summary.analysis = { offline: stored.offline, findings }
    await shot(A, 'job-analysis')
    await axe(A, 'job-analysis')
  })

  await step('analytics count the jobs run here, list backends and download as CSV', async () => {
    // Every job the scenario submitted in this workspace (Bell, optimized, cancelled, …),
    // all of them within the default range (the last 30 days).
    let submitted = 0
    const backends = new Set()
    for (let cursor = null, first = true; first || cursor; first = false) {
      const page = await api.call('GET', `/api/workspaces/${ws}/jobs?limit=200${cursor ? `&cursor=${cursor}` : ''}`, tokenA)
      submitted += page.items.length
      for (const j of page.items) backends.add(j.backend)
      cursor = page.next_cursor ?? null
    }
    if (submitted < 3) throw new Error(`expected the scenario's jobs, the API lists ${submitted}`)
    await A.getByRole('navigation', { name: 'Workspace' }).getByRole('link', { name: 'Analytics' }).click()
    await A.waitForURL(new RegExp(`/w/${ws}/analytics$`), { timeout: T })
    await A.getByRole('heading', { name: 'Analytics', level: 1 }).waitFor({ timeout: T })
    const total = A.getByTestId('analytics-jobs-total')
    await total.waitFor({ timeout: T })
    const shown = Number(await total.getAttribute('data-value'))
    if (shown !== submitted || (await total.innerText()).trim() !== String(submitted)) {
      throw new Error(`analytics shows ${shown} (${await total.innerText()}) jobs, the scenario submitted ${submitted}`)
    }
    const rows = A.getByTestId('backend-row')
    if ((await rows.count()) < 1) throw new Error('no backend rows')
    if ((await rows.count()) !== backends.size) throw new Error(`${await rows.count()} backend rows for ${[...backends]}`)
    await A.getByTestId('analytics-chart').waitFor({ timeout: T })
    const barTotal = await A.locator('[data-testid=analytics-chart] g.bar').evaluateAll((gs) => gs.reduce((s, g) => s + Number(g.getAttribute('data-total')), 0))
    if (barTotal !== submitted) throw new Error(`the chart's bars add up to ${barTotal}, not ${submitted}`)
    const [dl] = await Promise.all([A.waitForEvent('download', { timeout: T }), A.getByRole('button', { name: 'Download CSV' }).click()])
    const csv = readFileSync(await dl.path(), 'utf8')
    if (!csv.startsWith('section,start,key,metric,value')) throw new Error(`analytics CSV starts: ${csv.slice(0, 80)}`)
    if (!dl.suggestedFilename().endsWith('.csv')) throw new Error(`CSV saved as ${dl.suggestedFilename()}`)
    if (!csv.includes(`jobs,,,total,${submitted}`)) throw new Error(`CSV total is not ${submitted}: ${csv.slice(0, 200)}`)
    summary.analytics = { jobs: submitted, backends: [...backends], csv_file: dl.suggestedFilename(), csv_lines: csv.trim().split('\n').length }
    await shot(A, 'analytics')
    await axe(A, 'analytics')
  })

  await step('owners set IBM credentials (masked); others cannot', async () => {
    await A.goto(`${base}/w/${ws}/settings`)
    await A.getByLabel('API key').fill('ibm-secret-key-0123456789abcdef')
    await A.getByLabel('Instance (CRN)').fill('crn:v1:bluemix:public:quantum-computing:us-east:a/x::')
    await A.getByRole('button', { name: 'Save credentials' }).click()
    await A.getByText('Saved.').waitFor({ timeout: T })
    const current = await A.locator('section[aria-labelledby=ibm-title] p', { hasText: 'Current:' }).innerText()
    if (current.includes('0123456789abcdef')) throw new Error(`key shown in clear: ${current}`)
    await shot(A, 'settings')
    await axe(A, 'settings')
    await V.goto(`${base}/w/${ws}/settings`)
    await V.getByText('Only owners can change workspace settings.').waitFor({ timeout: T })
  })

  await step('the theme switches between dark and light and is kept', async () => {
    const theme = () => A.evaluate(() => document.documentElement.dataset.theme)
    const bg = () => A.evaluate(() => getComputedStyle(document.body).backgroundColor)
    const t0 = await theme()
    const b0 = await bg()
    await A.getByRole('button', { name: /Switch to (light|dark) theme/ }).click()
    const t1 = await theme()
    if (t0 === t1 || !['dark', 'light'].includes(t1)) throw new Error(`theme ${t0} → ${t1}`)
    if ((await bg()) === b0) throw new Error('background did not change with the theme')
    await A.reload()
    await A.getByRole('heading', { name: 'Settings' }).waitFor({ timeout: T })
    if ((await theme()) !== t1) throw new Error('theme not kept across a reload')
    await A.goto(`${base}/w/${ws}/d/${doc}`)
    await A.locator('[data-testid=composer]').waitFor({ timeout: T })
  })

  await step('reload keeps the session', async () => {
    await B.reload()
    await B.locator('[data-testid=histogram]').waitFor({ timeout: T })
    await B.goto(`${base}/w/${ws}`)
    await B.getByRole('heading', { name: 'Circuits' }).waitFor({ timeout: T })
    await shot(B, 'workspace')
    await axe(B, 'workspace')
  })

  await step('a Quest attempt is judged by the server; points and achievements show', async () => {
    await B.goto(`${base}/w/${ws}/quest`)
    await B.getByRole('heading', { name: 'Quantum Quest' }).waitFor({ timeout: T })
    await axe(B, 'quest-list')
    await B.getByRole('link', { name: 'Bell pair' }).click()
    await B.getByRole('heading', { name: /Bell pair/ }).waitFor({ timeout: T })
    const editor = B.getByLabel('Your circuit (OpenQASM 2 or 3)')
    await editor.fill('OPENQASM 2.0;\ninclude "qelib1.inc";\nqreg q[2];\nh q[0];\nh q[1];\n')
    await B.getByRole('button', { name: 'Submit attempt' }).click()
    await B.getByRole('region', { name: 'Verdict' }).getByText('Not yet').waitFor({ timeout: T })
    await editor.fill('OPENQASM 2.0;\ninclude "qelib1.inc";\nqreg q[2];\nh q[0];\ncx q[0],q[1];\n')
    await B.getByRole('button', { name: 'Submit attempt' }).click()
    await B.getByRole('region', { name: 'Verdict' }).getByText('Passed').waitFor({ timeout: T })
    await B.getByText('+120 points').waitFor({ timeout: T })
    await B.getByRole('button', { name: 'Bloch vectors' }).click()
    await B.getByRole('img', { name: /q\[0\] after moment 1: x 1\.00, y 0\.00, z 0\.00/ }).waitFor({ timeout: T })
    await B.getByRole('table', { name: 'Challenge leaderboard' }).getByRole('cell', { name: '100', exact: true }).waitFor({ timeout: T })
    await shot(B, 'quest')
    await axe(B, 'quest')
    await B.goto(`${base}/w/${ws}/leaderboard`)
    await B.getByRole('heading', { name: 'Your progress' }).waitFor({ timeout: T })
    await B.getByRole('list', { name: 'Achievements' }).getByText('Questing').waitFor({ timeout: T })
    await A.goto(`${base}/w/${ws}/leaderboard`)
    await A.getByRole('table', { name: 'This workspace leaderboard' }).getByText('Ada (you)').waitFor({ timeout: T })
    await shot(A, 'leaderboard')
    await axe(A, 'leaderboard')
    // The organization's board (Ada's own, where this workspace lives) and the global
    // one, which lists Ada only once she chooses to appear.
    await A.getByRole('tab', { name: 'Organization' }).click()
    await A.getByRole('table', { name: 'Organization leaderboard' }).getByText('Ada (you)').waitFor({ timeout: T })
    await A.getByRole('tab', { name: 'Everyone' }).click()
    const optIn = A.getByRole('checkbox', { name: 'Show me on the global leaderboard' })
    await optIn.waitFor({ timeout: T })
    if (await optIn.isChecked()) throw new Error('the global board should be opt-in')
    // Nobody has opted in yet (the test's people are fresh): the board is empty.
    await A.getByText('No points earned by anyone on the board in this window.').waitFor({ timeout: T })
    await optIn.check()
    await A.getByRole('table', { name: 'Everyone leaderboard' }).getByText('Ada (you)').waitFor({ timeout: T })
    await shot(A, 'leaderboard-global')
    await axe(A, 'leaderboard-global')
  })

  await step("streaks count days in the browser's time zone, set once, and changeable", async () => {
    // The app set Ada's unset zone to her browser's (ctxA's timezoneId) quietly, once.
    const tokenNow = () => A.evaluate(() => JSON.parse(localStorage.getItem('qollab.session')).access_token)
    const zoneOf = async () => (await api.call('GET', '/api/me', await tokenNow())).user.time_zone
    let auto = await zoneOf()
    for (const t0 = Date.now(); auto !== 'Pacific/Auckland' && Date.now() - t0 < T; auto = await zoneOf()) await A.waitForTimeout(250)
    if (auto !== 'Pacific/Auckland') throw new Error(`GET /api/me: time_zone ${JSON.stringify(auto)}, the browser is in Pacific/Auckland`)
    const shown = A.getByTestId('streak-zone')
    await A.getByRole('heading', { name: 'Your progress' }).waitFor({ timeout: T })
    await shown.filter({ hasText: /^Pacific\/Auckland$/ }).waitFor({ timeout: T })
    if (!(await A.getByText('Streaks count days in Pacific/Auckland').count())) throw new Error(`the progress screen says: ${await shown.locator('xpath=..').innerText()}`)
    // Ada chooses another zone; the server stores it and a reload does not put the browser's back.
    await A.getByRole('button', { name: 'Change time zone' }).click()
    const picker = A.getByLabel('Time zone', { exact: true })
    if ((await picker.inputValue()) !== 'Pacific/Auckland') throw new Error(`the picker starts at ${await picker.inputValue()}`)
    await picker.selectOption('Europe/Berlin')
    await axe(A, 'time-zone')
    await A.getByRole('button', { name: 'Save', exact: true }).click()
    await shown.filter({ hasText: /^Europe\/Berlin$/ }).waitFor({ timeout: T })
    if ((await zoneOf()) !== 'Europe/Berlin') throw new Error(`after saving Europe/Berlin, GET /api/me says ${await zoneOf()}`)
    await A.reload()
    await shown.filter({ hasText: /^Europe\/Berlin$/ }).waitFor({ timeout: T })
    await A.waitForTimeout(500)
    const kept = await zoneOf()
    if (kept !== 'Europe/Berlin') throw new Error(`after a reload in Auckland, GET /api/me says ${kept}`)
    summary.time_zone = { auto, chosen: kept }
    await shot(A, 'time-zone')
  })

  await step('the API reference at /api/docs lists every operation of the OpenAPI document', async () => {
    const spec = await (await fetch(`${base}/api/openapi.json`)).json()
    const methods = new Set(['get', 'put', 'post', 'delete', 'patch', 'options', 'head', 'trace'])
    const operations = Object.values(spec.paths).reduce((n, item) => n + Object.keys(item).filter((k) => methods.has(k)).length, 0)
    const cspErrors = []
    const onConsole = (m) => { if (m.type() === 'error' && /Content Security Policy/i.test(m.text())) cspErrors.push(m.text()) }
    A.on('console', onConsole)
    await A.goto(`${base}/api/docs`)
    await A.locator('.opblock').first().waitFor({ timeout: T })
    const shown = await A.locator('.opblock').count()
    A.off('console', onConsole)
    if (shown !== operations) throw new Error(`the reference shows ${shown} operations, the document has ${operations}`)
    if (cspErrors.length) throw new Error(`CSP refused parts of the page: ${cspErrors.join(' | ')}`)
    await A.getByRole('button', { name: /Authorize/ }).first().waitFor({ timeout: T })
    summary.api_docs = { operations }
    await shot(A, 'api-docs')
    await A.goto(`${base}/w/${ws}/leaderboard`)
  })

  await step('logout ends the session', async () => {
    const refresh = await A.evaluate(() => JSON.parse(localStorage.getItem('qollab.session')).refresh_token)
    await A.getByTestId('logout').click()
    await A.waitForURL(/\/login$/, { timeout: T })
    await A.goto(`${base}/w/${ws}`)
    await A.waitForURL(/\/login$/, { timeout: T })
    const r = await fetch(`${base}/api/auth/refresh`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ refresh_token: refresh }) })
    if (r.status !== 401) throw new Error(`refresh after logout: ${r.status}`)
  })
  summary.ok = true
} catch {
  failed = true
} finally {
  await browser.close()
  console.log(JSON.stringify(summary))
  process.exit(failed ? 1 : 0)
}
