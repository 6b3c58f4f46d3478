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

/** Reads the document into the composer's view model (never throws on foreign data). */
export function readCircuit(doc: Y.Doc): CircuitView {
  const meta = doc.getMap('meta')
  const ops = doc.getArray<unknown>('ops')
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
  ops.toArray().forEach((entry, index) => {
    let o: Record<string, unknown>
    if (entry instanceof Y.Map) o = entry.toJSON()
    else if (entry && typeof entry === 'object') o = entry as Record<string, unknown>
    else return
    const id = typeof o.id === 'string' ? o.id : `#${index}`
    const gate = typeof o.gate === 'string' ? o.gate : '?'
    let qs = intArray(o.qubits) ?? []
    const params = Array.isArray(o.params) ? o.params.map((p) => String(p)) : []
    const clbits = intArray(o.clbits) ?? []
    let problem: string | undefined
    if (qs.some((q) => q < 0 || q >= qubits)) problem = 'uses a qubit outside the circuit'
    const spec = gateSpec(gate)
    if (!spec) problem = problem ?? `unknown gate ${gate}`
    else if (spec.qubits > 0 && qs.length !== spec.qubits) problem = problem ?? `needs ${spec.qubits} qubit(s)`
    if (gate === 'barrier' && qs.length === 0) qs = []
    const span = gate === 'barrier' && qs.length === 0 ? [...Array(qubits).keys()] : qs.filter((q) => q >= 0 && q < qubits)
    let col = 0
    if (span.length) {
      const lo = Math.min(...span)
      const hi = Math.max(...span)
      for (let q = lo; q <= hi; q++) col = Math.max(col, depth[q] ?? 0)
      for (let q = lo; q <= hi; q++) depth[q] = col + 1
    }
    const c = o.condition as { creg?: unknown; value?: unknown } | undefined
    view.ops.push({
      id, index, gate, qubits: qs, params, clbits, col, problem,
      condition: c && typeof c.creg === 'string' && typeof c.value === 'number' ? { creg: c.creg, value: c.value } : undefined,
    })
  })
  view.columns = Math.max(0, ...depth)
  return view
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
