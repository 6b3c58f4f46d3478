// The binding between a circuit Y.Doc (docs/doc-schema.md) and the composer's view model.
// Every edit is one Yjs transaction with the LOCAL origin, so Y.UndoManager undoes exactly
// the user's own edits and peers see each edit atomically.
import * as Y from 'yjs'
import { gateSpec } from './gates'

export const LOCAL = Symbol('qollab-local-edit')

export interface OpView {
  id: string
  index: number
  gate: string
  qubits: number[]
  params: string[]
  clbits: number[]
  condition?: { creg: string; value: number }
  /** Column in the drawn circuit (ASAP layering). */
  col: number
  /** A reason it cannot be read or drawn as is, if any. */
  problem?: string
}

export interface Register { name: string; size: number }

export interface CircuitView {
  name: string
  qubits: number
  clbits: number
  qregs: Register[]
  cregs: Register[]
  ops: OpView[]
  columns: number
}

function intArray(v: unknown): number[] | null {
  if (!Array.isArray(v)) return null
  return v.every((x) => Number.isInteger(x)) ? (v as number[]) : null
}

function registers(v: unknown, fallback: string, size: number): Register[] {
  if (Array.isArray(v) && v.every((r) => r && typeof r.name === 'string' && Number.isInteger(r.size))) {
    return v as Register[]
  }
  return size > 0 ? [{ name: fallback, size }] : []
}

/** One op's fields as read from its entry; cached per Y.Map until the map changes. */
interface Reading {
  id: string | null
  gate: string
  qubits: number[]
  params: string[]
  clbits: number[]
  condition?: { creg: string; value: number }
}

function readEntry(entry: unknown): Reading | null {
  let get: (k: string) => unknown
  if (entry instanceof Y.Map) get = (k) => entry.get(k)
  else if (entry && typeof entry === 'object' && !Array.isArray(entry)) get = (k) => (entry as Record<string, unknown>)[k]
  else return null
  const id = get('id')
  const gate = get('gate')
  const params = get('params')
  const c = get('condition') as { creg?: unknown; value?: unknown } | undefined
  return {
    id: typeof id === 'string' ? id : null,
    gate: typeof gate === 'string' ? gate : '?',
    qubits: intArray(get('qubits')) ?? [],
    params: Array.isArray(params) ? params.map((p) => String(p)) : [],
    clbits: intArray(get('clbits')) ?? [],
    condition: c && typeof c.creg === 'string' && typeof c.value === 'number' ? { creg: c.creg, value: c.value } : undefined,
  }
}

/**
 * The composer's view model, derived incrementally from Yjs events: an op's entry is read
 * again only when its Y.Map changed (observeDeep), the ASAP layering is one linear pass,
 * and an op whose fields, column and problem did not change keeps its OpView object, so
 * memoized gate components skip it. `readCircuit` is the same reading without a cache.
 */
export class CircuitModel {
  private readings = new WeakMap<object, Reading>()
  private previous = new Map<string, OpView>()
  private dirty = true
  private current: CircuitView | null = null
  private published: CircuitView | null = null
  private listeners = new Set<(v: CircuitView) => void>()
  private scheduled = false
  private readonly onDeep = (events: Y.YEvent<Y.AbstractType<unknown>>[]) => {
    for (const e of events) {
      // A change inside an op (its map, or a nested type of it) invalidates that op's reading.
      let t: Y.AbstractType<unknown> | null = e.target
      while (t && t.parent !== this.ops) t = t.parent as Y.AbstractType<unknown> | null
      if (t) this.readings.delete(t)
    }
    this.invalidate()
  }
  private readonly onMeta = () => this.invalidate()
  private readonly ops: Y.Array<unknown>
  private readonly meta: Y.Map<unknown>

  constructor(doc: Y.Doc, private readonly live = true) {
    this.ops = doc.getArray<unknown>('ops')
    this.meta = doc.getMap('meta')
    if (live) {
      this.ops.observeDeep(this.onDeep)
      this.meta.observe(this.onMeta)
    }
  }

  destroy() {
    this.ops.unobserveDeep(this.onDeep)
    this.meta.unobserve(this.onMeta)
    this.listeners.clear()
  }

  /** Calls `fn` with the new view once per burst of changes (a microtask after them). */
  subscribe(fn: (v: CircuitView) => void): () => void {
    this.listeners.add(fn)
    return () => this.listeners.delete(fn)
  }

  private invalidate() {
    this.dirty = true
    if (this.scheduled || !this.listeners.size) return
    this.scheduled = true
    queueMicrotask(() => {
      this.scheduled = false
      // `view()` may have rebuilt in between (a caller reading the view at once): notify
      // whenever the view differs from the one last published.
      const v = this.view()
      if (v === this.published) return
      this.published = v
      for (const fn of this.listeners) fn(v)
    })
  }

  /** The view of the document as it is now (rebuilt only if something changed). */
  view(): CircuitView {
    if (!this.dirty && this.current) return this.current
    const meta = this.meta
    const qubits = Number.isInteger(meta.get('qubits')) ? (meta.get('qubits') as number) : 0
    const clbits = Number.isInteger(meta.get('clbits')) ? (meta.get('clbits') as number) : 0
    const view: CircuitView = {
      name: typeof meta.get('name') === 'string' ? (meta.get('name') as string) : '',
      qubits,
      clbits,
      qregs: registers(meta.get('qregs'), 'q', qubits),
      cregs: registers(meta.get('cregs'), 'c', clbits),
      ops: [],
      columns: 0,
    }
    const depth: number[] = new Array(Math.max(qubits, 0)).fill(0)
    const next = new Map<string, OpView>()
    let index = 0
    for (const entry of this.ops) {
      const key = entry && typeof entry === 'object' ? entry : null
      let r = key && this.live ? this.readings.get(key) : undefined
      if (!r) {
        r = readEntry(entry) ?? undefined
        if (r && key && this.live) this.readings.set(key, r)
      }
      if (!r) {
        index++
        continue
      }
      const id = r.id ?? `#${index}`
      const { gate, qubits: qs, params, clbits: cl } = r
      let problem: string | undefined
      if (qs.some((q) => q < 0 || q >= qubits)) problem = 'uses a qubit outside the circuit'
      const spec = gateSpec(gate)
      if (!spec) problem = problem ?? `unknown gate ${gate}`
      else if (spec.qubits > 0 && qs.length !== spec.qubits) problem = problem ?? `needs ${spec.qubits} qubit(s)`
      let lo = Infinity
      let hi = -Infinity
      if (gate === 'barrier' && qs.length === 0) {
        lo = 0
        hi = qubits - 1
      } else {
        for (const q of qs) {
          if (q < 0 || q >= qubits) continue
          if (q < lo) lo = q
          if (q > hi) hi = q
        }
      }
      let col = 0
      if (hi >= lo) {
        for (let q = lo; q <= hi; q++) col = Math.max(col, depth[q] ?? 0)
        for (let q = lo; q <= hi; q++) depth[q] = col + 1
      }
      const old = this.previous.get(id)
      const op: OpView =
        old && old.index === index && old.col === col && old.problem === problem && old.gate === gate &&
        old.qubits === qs && old.params === params && old.clbits === cl && old.condition === r.condition
          ? old
          : { id, index, gate, qubits: qs, params, clbits: cl, col, problem, condition: r.condition }
      next.set(id, op)
      view.ops.push(op)
      index++
    }
    view.columns = Math.max(0, ...depth)
    this.previous = next
    this.current = view
    this.dirty = false
    return view
  }
}

/** Reads the document into the composer's view model (never throws on foreign data). */
export function readCircuit(doc: Y.Doc): CircuitView {
  return new CircuitModel(doc, false).view()
}

function opsArray(doc: Y.Doc) { return doc.getArray<unknown>('ops') }

export function findIndex(doc: Y.Doc, id: string): number {
  const arr = opsArray(doc)
  for (let i = 0; i < arr.length; i++) {
    const e = arr.get(i)
    if (e instanceof Y.Map && e.get('id') === id) return i
    if (e && typeof e === 'object' && !(e instanceof Y.Map) && (e as { id?: unknown }).id === id) return i
  }
  return -1
}

export function newId(): string {
  if (typeof crypto !== 'undefined' && 'randomUUID' in crypto) return crypto.randomUUID()
  return 'xxxxxxxx-xxxx-4xxx-8xxx-xxxxxxxxxxxx'.replace(/x/g, () => ((Math.random() * 16) | 0).toString(16))
}

export interface NewOp { gate: string; qubits: number[]; params?: string[]; clbits?: number[] }

function makeOp(op: NewOp, id: string): Y.Map<unknown> {
  const m = new Y.Map<unknown>()
  m.set('id', id)
  m.set('gate', op.gate)
  m.set('qubits', op.qubits)
  m.set('params', op.params ?? [])
  if (op.gate === 'measure') m.set('clbits', op.clbits ?? op.qubits)
  return m
}

/** Inserts an op at `at` (default: the end); grows qubits/clbits when needed. Returns its id. */
export function addOp(doc: Y.Doc, op: NewOp, at?: number): string {
  const id = newId()
  doc.transact(() => {
    const meta = doc.getMap('meta')
    const need = Math.max(-1, ...op.qubits) + 1
    if (need > ((meta.get('qubits') as number) ?? 0)) meta.set('qubits', need)
    if (op.gate === 'measure') {
      const cl = op.clbits ?? op.qubits
      const needC = Math.max(-1, ...cl) + 1
      if (needC > ((meta.get('clbits') as number) ?? 0)) meta.set('clbits', needC)
    }
    const arr = opsArray(doc)
    const pos = at === undefined ? arr.length : Math.max(0, Math.min(at, arr.length))
    arr.insert(pos, [makeOp(op, id)])
  }, LOCAL)
  return id
}

export function deleteOp(doc: Y.Doc, id: string): boolean {
  let ok = false
  doc.transact(() => {
    const i = findIndex(doc, id)
    if (i >= 0) {
      opsArray(doc).delete(i, 1)
      ok = true
    }
  }, LOCAL)
  return ok
}

function entry(doc: Y.Doc, id: string): Y.Map<unknown> | null {
  const i = findIndex(doc, id)
  if (i < 0) return null
  const e = opsArray(doc).get(i)
  return e instanceof Y.Map ? e : null
}

/** Sets one field of an op: concurrent edits of other fields of the same op both win. */
export function setField(doc: Y.Doc, id: string, key: 'params' | 'qubits' | 'clbits' | 'gate', value: unknown): boolean {
  let ok = false
  doc.transact(() => {
    const e = entry(doc, id)
    if (e) {
      remember(doc, id, key, e.get(key), value)
      e.set(key, value)
      ok = true
    }
  }, LOCAL)
  return ok
}

export function setParam(doc: Y.Doc, id: string, k: number, expr: string): boolean {
  const e = entry(doc, id)
  if (!e) return false
  const params = Array.isArray(e.get('params')) ? [...(e.get('params') as string[])] : []
  params[k] = expr
  return setField(doc, id, 'params', params)
}

/**
 * Moves an op to other qubits and/or another position in the order. The op keeps its id
 * (and thus its identity for peers) when only its qubits change; a change of position is
 * a delete + insert of a copy with the same id in one transaction.
 */
export function moveOp(doc: Y.Doc, id: string, qubits: number[], beforeId?: string | null): boolean {
  let ok = false
  doc.transact(() => {
    const i = findIndex(doc, id)
    if (i < 0) return
    const arr = opsArray(doc)
    const meta = doc.getMap('meta')
    const need = Math.max(-1, ...qubits) + 1
    if (need > ((meta.get('qubits') as number) ?? 0)) meta.set('qubits', need)
    const e = arr.get(i)
    if (beforeId === undefined) {
      if (e instanceof Y.Map) e.set('qubits', qubits)
      ok = true
      return
    }
    const json = e instanceof Y.Map ? (e.toJSON() as Record<string, unknown>) : { ...(e as object) }
    arr.delete(i, 1)
    let at = beforeId === null ? arr.length : findIndex(doc, beforeId)
    if (at < 0) at = arr.length
    const m = new Y.Map<unknown>()
    for (const [k, v] of Object.entries(json)) m.set(k, k === 'qubits' ? qubits : v)
    arr.insert(at, [m])
    ok = true
  }, LOCAL)
  return ok
}

/** Origin of the binding's own repairs (not the user's edits: the UndoManager ignores them). */
export const REPAIR = Symbol('qollab-repair')

/** The value an entry of a (possibly deleted) Y.Map held: deleted maps answer `get` with
 * undefined, but until the transaction's clean-up their items keep their content. */
function rawField(m: Y.Map<unknown>, key: string): unknown {
  const item = m._map.get(key)
  if (!item) return undefined
  const c = item.content
  if (c instanceof Y.ContentAny || c instanceof Y.ContentJSON) return c.getContent()[0]
  if (c instanceof Y.ContentString) return c.str
  return undefined
}

/** This client's latest write of each op field, by op id and key: what it replaced and
 * what it wrote (JSON). Only `keepEditsAcrossMoves` reads it. */
const journals = new WeakMap<Y.Doc, Map<string, Map<string, { before: string; after: string }>>>()

function remember(doc: Y.Doc, id: string, key: string, before: unknown, after: unknown) {
  let j = journals.get(doc)
  if (!j) journals.set(doc, (j = new Map()))
  let byKey = j.get(id)
  if (!byKey) j.set(id, (byKey = new Map()))
  byKey.set(key, { before: JSON.stringify(before ?? null), after: JSON.stringify(after ?? null) })
}

/**
 * Keeps concurrent edits across moves. Yjs has no move: `moveOp` deletes an op's map and
 * inserts a copy with the same id, so an edit of another field of that op made by a peer
 * who had not yet seen the move lands in the deleted map and would be lost (once the
 * mover's document collects the deleted map, the late edit is dropped on arrival).
 * The editor's client repairs it: when a remote transaction replaces an op (deletes its
 * map and adds one with the same id) and, for a field this client wrote, the deleted map
 * still holds this client's value while the copy holds the value that write replaced, the
 * mover copied the op without seeing the write, so it is written again on the copy (every
 * field but `qubits`, which the move sets). A copy holding any other value means the mover
 * saw the write and changed the field since: nothing is done. Two concurrent moves of one
 * op leave two copies: the one with the greatest item id stays (the same choice on every
 * client, so concurrent clean-ups agree). Returns the uninstaller.
 */
export function keepEditsAcrossMoves(doc: Y.Doc): () => void {
  const ops = opsArray(doc)
  const idOf = (t: unknown) => (t instanceof Y.Map ? rawField(t, 'id') : undefined)
  const handler = (event: Y.YArrayEvent<unknown>, tr: Y.Transaction) => {
    if (tr.local || tr.origin === REPAIR) return
    const removed = new Map<string, Y.Map<unknown>>()
    event.changes.deleted.forEach((item) => {
      if (!(item.content instanceof Y.ContentType)) return
      const id = idOf(item.content.type)
      if (typeof id === 'string') removed.set(id, item.content.type as Y.Map<unknown>)
    })
    const added: Array<[string, Y.Map<unknown>]> = []
    event.changes.added.forEach((item) => {
      if (item.deleted || !(item.content instanceof Y.ContentType)) return
      const id = idOf(item.content.type)
      if (typeof id === 'string') added.push([id, item.content.type as Y.Map<unknown>])
    })
    if (!added.length) return
    const carry: Array<[Y.Map<unknown>, string, unknown]> = []
    const journal = journals.get(doc)
    for (const [id, copy] of added) {
      const old = removed.get(id)
      const mine = journal?.get(id)
      if (!old || !mine) continue
      for (const [key, w] of mine) {
        if (key === 'qubits' || key === 'id') continue
        const was = rawField(old, key)
        if (JSON.stringify(was ?? null) === w.after && JSON.stringify(copy.get(key) ?? null) === w.before && w.before !== w.after) {
          carry.push([copy, key, was])
        }
      }
    }
    // Duplicate ids (two concurrent moves): keep the copy with the greatest item id.
    const addedIds = new Set(added.map(([id]) => id))
    const byId = new Map<string, Y.Map<unknown>[]>()
    ops.forEach((e) => {
      const id = idOf(e)
      if (typeof id === 'string' && addedIds.has(id)) byId.set(id, [...(byId.get(id) ?? []), e as Y.Map<unknown>])
    })
    const drop: Y.Map<unknown>[] = []
    const rank = (m: Y.Map<unknown>) => m._item?.id ?? { client: -1, clock: -1 }
    for (const maps of byId.values()) {
      if (maps.length < 2) continue
      const keep = maps.reduce((a, b) => {
        const x = rank(a)
        const y = rank(b)
        return y.client > x.client || (y.client === x.client && y.clock > x.clock) ? b : a
      })
      for (const m of maps) if (m !== keep) drop.push(m)
    }
    if (!carry.length && !drop.length) return
    doc.transact(() => {
      for (const [m, key, value] of carry) if (!m._item?.deleted) m.set(key, value)
      for (const m of drop) {
        const i = ops.toArray().indexOf(m)
        if (i >= 0) ops.delete(i, 1)
      }
    }, REPAIR)
  }
  ops.observe(handler)
  return () => ops.unobserve(handler)
}

export function setQubits(doc: Y.Doc, n: number) {
  doc.transact(() => doc.getMap('meta').set('qubits', Math.max(0, Math.floor(n))), LOCAL)
}

export function setClbits(doc: Y.Doc, n: number) {
  doc.transact(() => doc.getMap('meta').set('clbits', Math.max(0, Math.floor(n))), LOCAL)
}

/** An UndoManager that tracks only this user's edits (LOCAL origin), not peers'. */
export function undoManager(doc: Y.Doc): Y.UndoManager {
  return new Y.UndoManager([doc.getMap('meta'), doc.getArray('ops')], {
    trackedOrigins: new Set([LOCAL]),
    captureTimeout: 300,
  })
}

/**
 * Where in the order an op dropped at column `col` on `qubits` goes: before the first op
 * on an overlapping span that is drawn at or after that column; otherwise at the end.
 */
export function insertionIndex(view: CircuitView, col: number, qubits: number[]): number {
  if (!qubits.length) return view.ops.length
  const lo = Math.min(...qubits)
  const hi = Math.max(...qubits)
  const hit = view.ops.find((o) => {
    const span = o.gate === 'barrier' && o.qubits.length === 0 ? [lo] : o.qubits
    if (!span.length) return false
    const a = Math.min(...span)
    const b = Math.max(...span)
    return o.col >= col && a <= hi && b >= lo
  })
  return hit ? hit.index : view.ops.length
}
