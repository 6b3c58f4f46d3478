#!/usr/bin/env node
// Real Yjs clients (yjs + y-websocket WebsocketProvider, unmodified) against a y-websocket
// server: Qollab's /ws/docs or the reference server. Prints one JSON line, exits 0 on
// success, 1 on failure, 2 on bad usage. See README.md.
import * as Y from 'yjs'
import { WebsocketProvider } from 'y-websocket'
import * as decoding from 'lib0/decoding'
import WebSocket from 'ws'

const USAGE = `usage: node yjs-clients.mjs --url ws://HOST:PORT[/ws/docs] [--url …] --room DOC_ID
  [--token TOKEN] [--mode edit|viewer] [--clients K] [--ops N] [--timeout-ms MS]`

function parseArgs (argv) {
  const opts = { mode: 'edit', clients: 3, ops: 5, timeoutMs: 15000, token: null, urls: [] }
  for (let i = 0; i < argv.length; i++) {
    const key = argv[i]
    const value = argv[i + 1]
    if (value === undefined) throw new Error(`missing value for ${key}`)
    i++
    switch (key) {
      // Repeatable: client i connects to the (i mod n)-th server (several processes).
      case '--url': opts.urls.push(value); opts.url = opts.urls[0]; break
      case '--room': opts.room = value; break
      case '--token': opts.token = value; break
      case '--mode': opts.mode = value; break
      case '--clients': opts.clients = Number(value); break
      case '--ops': opts.ops = Number(value); break
      case '--timeout-ms': opts.timeoutMs = Number(value); break
      default: throw new Error(`unknown option ${key}`)
    }
  }
  if (!opts.url || !opts.room) throw new Error('--url and --room are required')
  if (!['edit', 'viewer'].includes(opts.mode)) throw new Error('--mode must be edit or viewer')
  if (!(opts.clients >= 1) || !(opts.ops >= 0)) throw new Error('--clients >= 1, --ops >= 0')
  return opts
}

const sleep = ms => new Promise(resolve => setTimeout(resolve, ms))

async function waitFor (predicate, timeoutMs, what) {
  const deadline = Date.now() + timeoutMs
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(20)
  }
}

/** One WebsocketProvider with its own Y.Doc; records auth (permission-denied) messages. */
function connect (opts, name, index = 0) {
  const doc = new Y.Doc()
  const url = opts.urls[index % opts.urls.length]
  const provider = new WebsocketProvider(url, opts.room, doc, {
    WebSocketPolyfill: WebSocket,
    params: opts.token ? { token: opts.token } : {},
    // Same-process providers would otherwise sync through BroadcastChannel, not the server.
    disableBc: true,
    maxBackoffTime: 500
  })
  const client = { name, doc, provider, denied: [], closeCodes: [] }
  // y-websocket only console.warns on auth messages; capture them instead.
  provider.messageHandlers[2] = (_encoder, decoder) => {
    if (decoding.readVarUint(decoder) === 0) client.denied.push(decoding.readVarString(decoder))
  }
  provider.on('connection-close', event => { if (event) client.closeCodes.push(event.code) })
  provider.awareness.setLocalStateField('user', { name })
  return client
}

/** What the schema says a replica contains, for comparison across replicas. */
function content (doc) {
  return JSON.stringify({
    meta: doc.getMap('meta').toJSON(),
    ops: doc.getArray('ops').toJSON(),
    notes: doc.getText('notes').toString()
  })
}

const hex = bytes => Buffer.from(bytes).toString('hex')

function newOp (id, gate, qubits, params = []) {
  const op = new Y.Map()
  op.set('id', id)
  op.set('gate', gate)
  op.set('qubits', qubits)
  op.set('params', params)
  return op
}

async function runEdit (opts) {
  const started = Date.now()
  // Op ids and note tags are unique per run, so that runs can share a room.
  const run = Math.random().toString(36).slice(2, 8)
  const clients = Array.from({ length: opts.clients }, (_, i) => connect(opts, `client-${i}`, i))
  await waitFor(() => clients.every(c => c.provider.synced), opts.timeoutMs, 'initial sync')
  const syncMs = Date.now() - started
  const opsBefore = clients[0].doc.getArray('ops').length

  // Concurrent edits, interleaved across clients: ops, meta fields, notes typing.
  const gates = [['h', 1, []], ['cx', 2, []], ['rz', 1, ['pi/4']], ['x', 1, []]]
  for (let round = 0; round < Math.max(opts.ops, 1); round++) {
    for (const [i, c] of clients.entries()) {
      c.doc.transact(() => {
        const meta = c.doc.getMap('meta')
        if (round === 0 && meta.get('qubits') === undefined) meta.set('qubits', 4)
        if (round === 0) meta.set('name', `edited by ${c.name}`)
        if (round < opts.ops) {
          const [gate, arity, params] = gates[(i + round) % gates.length]
          const qubits = arity === 1 ? [(i + round) % 4] : [(i + round) % 4, (i + round + 1) % 4]
          c.doc.getArray('ops').push([newOp(`${run}-${c.name}-op-${round}`, gate, qubits, params)])
        }
        const notes = c.doc.getText('notes')
        notes.insert(round % 2 === 0 ? 0 : notes.length, `[${run}-${c.name}:${round}]`)
      })
    }
    await sleep(5)
  }

  const editedAt = Date.now()
  const expectedOps = opsBefore + opts.clients * opts.ops
  const svs = () => clients.map(c => hex(Y.encodeStateVector(c.doc)))
  let converged = true
  try {
    await waitFor(() => new Set(svs()).size === 1 &&
      clients.every(c => c.doc.getArray('ops').length === expectedOps), opts.timeoutMs, 'convergence')
  } catch (_) { converged = false }
  const convergeMs = Date.now() - editedAt

  const errors = []
  const stateVectorsIdentical = new Set(svs()).size === 1
  const contents = clients.map(c => content(c.doc))
  const contentIdentical = new Set(contents).size === 1
  // Informational: encoded updates can legitimately differ in how items are split/merged.
  const updatesIdentical = new Set(clients.map(c => hex(Y.encodeStateAsUpdate(c.doc)))).size === 1
  if (!converged) errors.push('replicas did not converge before the timeout')
  if (!stateVectorsIdentical) errors.push('state vectors differ')
  if (!contentIdentical) errors.push('content differs')
  const ops = clients[0].doc.getArray('ops').toJSON()
  const ids = ops.map(o => o.id)
  for (const c of clients) {
    for (let r = 0; r < opts.ops; r++) {
      const id = `${run}-${c.name}-op-${r}`
      const n = ids.filter(x => x === id).length
      if (n !== 1) errors.push(`op ${id} present ${n} times`)
    }
    const notes = clients[0].doc.getText('notes').toString()
    if (!notes.includes(`[${run}-${c.name}:0]`)) errors.push(`notes lack ${c.name}'s text`)
    if (c.denied.length) errors.push(`${c.name} was denied: ${c.denied[0]}`)
  }
  const awarenessPeers = clients[0].provider.awareness.getStates().size
  for (const c of clients) c.provider.destroy()
  return {
    ok: errors.length === 0,
    mode: 'edit',
    room: opts.room,
    clients: opts.clients,
    opsPerClient: opts.ops,
    opsExpected: expectedOps,
    opsSeen: ops.length,
    stateVectorsIdentical,
    contentIdentical,
    updatesIdentical,
    awarenessPeers,
    syncMs,
    convergeMs,
    errors
  }
}

async function runViewer (opts) {
  const viewer = connect(opts, 'viewer')
  await waitFor(() => viewer.provider.synced, opts.timeoutMs, 'initial sync')
  const opsBefore = viewer.doc.getArray('ops').length
  const id = `viewer-op-${Date.now()}`
  viewer.doc.getArray('ops').push([newOp(id, 'x', [0])])
  const errors = []
  try {
    await waitFor(() => viewer.denied.length > 0, opts.timeoutMs, 'a permission-denied message')
  } catch (e) { errors.push(e.message) }
  viewer.provider.destroy()

  // A fresh replica must not see the refused op.
  const check = connect(opts, 'viewer-check')
  let appliedOnServer = null
  try {
    await waitFor(() => check.provider.synced, opts.timeoutMs, 'sync of the check replica')
    appliedOnServer = check.doc.getArray('ops').toJSON().some(o => o && o.id === id)
    if (appliedOnServer) errors.push('the viewer\'s op reached the server document')
  } catch (e) { errors.push(e.message) }
  check.provider.destroy()
  return {
    ok: errors.length === 0,
    mode: 'viewer',
    room: opts.room,
    permissionDenied: viewer.denied.length > 0,
    reason: viewer.denied[0] ?? null,
    opsBefore,
    appliedOnServer,
    errors
  }
}

let opts
try {
  opts = parseArgs(process.argv.slice(2))
} catch (e) {
  console.error(`${e.message}\n${USAGE}`)
  process.exit(2)
}
try {
  const result = opts.mode === 'edit' ? await runEdit(opts) : await runViewer(opts)
  console.log(JSON.stringify(result))
  process.exit(result.ok ? 0 : 1)
} catch (e) {
  console.log(JSON.stringify({ ok: false, mode: opts.mode, errors: [String(e && e.message ? e.message : e)] }))
  process.exit(1)
}
