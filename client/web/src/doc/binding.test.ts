import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { CircuitModel, addOp, deleteOp, insertionIndex, keepEditsAcrossMoves, moveOp, readCircuit, setParam, setField, undoManager } from './binding'
import { toQasm } from './qasm'
import { circuitStats } from './stats'
import { placementQubits } from './Composer'
import { gateSpec } from './gates'

function fresh(qubits = 2, clbits = 2): Y.Doc {
  const d = new Y.Doc()
  d.transact(() => {
    d.getMap('meta').set('name', 'Bell')
    d.getMap('meta').set('qubits', qubits)
    d.getMap('meta').set('clbits', clbits)
  })
  return d
}

/** Exchanges all updates between docs, as a y-websocket server would. */
function sync(a: Y.Doc, b: Y.Doc) {
  Y.applyUpdate(b, Y.encodeStateAsUpdate(a, Y.encodeStateVector(b)))
  Y.applyUpdate(a, Y.encodeStateAsUpdate(b, Y.encodeStateVector(a)))
}

describe('document ↔ view model', () => {
  it('writes ops in the schema of docs/doc-schema.md and reads them back', () => {
    const d = fresh()
    addOp(d, { gate: 'h', qubits: [0] })
    addOp(d, { gate: 'cx', qubits: [0, 1] })
    addOp(d, { gate: 'rz', qubits: [1], params: ['pi/4'] })
    addOp(d, { gate: 'measure', qubits: [1], clbits: [1] })
    const raw = d.getArray('ops').toJSON() as Array<Record<string, unknown>>
    expect(raw[0]).toMatchObject({ gate: 'h', qubits: [0], params: [] })
    expect(typeof raw[0]!.id).toBe('string')
    expect(d.getArray('ops').get(0)).toBeInstanceOf(Y.Map)
    expect(raw[3]).toMatchObject({ gate: 'measure', qubits: [1], clbits: [1] })
    const v = readCircuit(d)
    expect(v.ops.map((o) => [o.gate, o.col])).toEqual([['h', 0], ['cx', 1], ['rz', 2], ['measure', 3]])
    expect(v.columns).toBe(4)
    expect(toQasm(v)).toBe(
      'OPENQASM 2.0;\ninclude "qelib1.inc";\nqreg q[2];\ncreg c[2];\nh q[0];\ncx q[0],q[1];\nrz(pi/4) q[1];\nmeasure q[1] -> c[1];\n',
    )
  })

  it('packs independent gates into the same column and grows the circuit when needed', () => {
    const d = fresh(1, 0)
    addOp(d, { gate: 'h', qubits: [0] })
    addOp(d, { gate: 'x', qubits: [2] })
    const v = readCircuit(d)
    expect(v.qubits).toBe(3)
    expect(v.ops.map((o) => o.col)).toEqual([0, 0])
  })

  it('reports foreign or broken entries instead of throwing', () => {
    const d = fresh()
    d.getArray('ops').push([{ id: 'plain', gate: 'x', qubits: [5] }, 42])
    const v = readCircuit(d)
    expect(v.ops).toHaveLength(1)
    expect(v.ops[0]!.problem).toMatch(/outside/)
  })

  it('edits params, qubits, moves and deletes by id', () => {
    const d = fresh(3)
    const a = addOp(d, { gate: 'rx', qubits: [0], params: ['pi/2'] })
    const b = addOp(d, { gate: 'h', qubits: [1] })
    setParam(d, a, 0, 'pi/8')
    setField(d, b, 'qubits', [2])
    let v = readCircuit(d)
    expect(v.ops[0]!.params).toEqual(['pi/8'])
    expect(v.ops[1]!.qubits).toEqual([2])
    moveOp(d, a, [1], null) // to the end, on q1
    v = readCircuit(d)
    expect(v.ops.map((o) => o.id)).toEqual([b, a])
    expect(v.ops[1]!.qubits).toEqual([1])
    expect(deleteOp(d, b)).toBe(true)
    expect(readCircuit(d).ops.map((o) => o.id)).toEqual([a])
  })

  it('places drops before the first overlapping op at or after the column', () => {
    const d = fresh(2)
    addOp(d, { gate: 'h', qubits: [0] })
    const x = addOp(d, { gate: 'x', qubits: [0] })
    const v = readCircuit(d)
    expect(insertionIndex(v, 1, [0])).toBe(1)
    expect(insertionIndex(v, 0, [1])).toBe(2)
    addOp(d, { gate: 'z', qubits: [0] }, insertionIndex(v, 1, [0]))
    expect(readCircuit(d).ops.map((o) => o.gate)).toEqual(['h', 'z', 'x'])
    expect(readCircuit(d).ops[2]!.id).toBe(x)
  })

  it('chooses qubits for multi-qubit gates inside the circuit', () => {
    expect(placementQubits(gateSpec('cx')!, 2, 3)).toEqual([1, 2])
    expect(placementQubits(gateSpec('ccx')!, 0, 3)).toEqual([0, 1, 2])
    expect(placementQubits(gateSpec('cx')!, 0, 1)).toEqual([0, 1])
    expect(placementQubits(gateSpec('barrier')!, 1, 3)).toEqual([0, 1, 2])
  })
})

describe('undo', () => {
  it('undoes and redoes only my own edits, not a peer’s', () => {
    const mine = fresh()
    const theirs = new Y.Doc()
    sync(mine, theirs)
    const um = undoManager(mine)
    addOp(mine, { gate: 'h', qubits: [0] })
    um.stopCapturing()
    sync(mine, theirs)
    addOp(theirs, { gate: 'x', qubits: [1] })
    sync(mine, theirs)
    um.stopCapturing()
    addOp(mine, { gate: 'z', qubits: [0] })
    expect(readCircuit(mine).ops.map((o) => o.gate)).toEqual(['h', 'x', 'z'])
    um.undo()
    expect(readCircuit(mine).ops.map((o) => o.gate)).toEqual(['h', 'x'])
    um.undo()
    expect(readCircuit(mine).ops.map((o) => o.gate)).toEqual(['x'])
    um.redo()
    sync(mine, theirs)
    expect(readCircuit(theirs).ops.map((o) => o.gate)).toEqual(['h', 'x'])
  })

  it('undoes a param edit back to the previous value', () => {
    const d = fresh()
    const um = undoManager(d)
    const id = addOp(d, { gate: 'rz', qubits: [0], params: ['pi/4'] })
    um.stopCapturing()
    setParam(d, id, 0, 'pi/2')
    um.undo()
    expect(readCircuit(d).ops[0]!.params).toEqual(['pi/4'])
  })
})

describe('conflicting edits between two Y.Docs', () => {
  it('keeps both concurrent field edits of one gate', () => {
    const a = fresh(3)
    const b = new Y.Doc()
    const id = addOp(a, { gate: 'rx', qubits: [0], params: ['pi'] })
    sync(a, b)
    setParam(a, id, 0, 'pi/3')
    setField(b, id, 'qubits', [2])
    sync(a, b)
    for (const d of [a, b]) {
      const op = readCircuit(d).ops[0]!
      expect(op.params).toEqual(['pi/3'])
      expect(op.qubits).toEqual([2])
    }
  })

  it('converges when both insert and one deletes concurrently', () => {
    const a = fresh(2)
    const b = new Y.Doc()
    const h = addOp(a, { gate: 'h', qubits: [0] })
    sync(a, b)
    addOp(a, { gate: 'x', qubits: [1] })
    addOp(b, { gate: 'cx', qubits: [0, 1] })
    deleteOp(b, h)
    sync(a, b)
    const va = readCircuit(a)
    const vb = readCircuit(b)
    expect(va.ops.map((o) => o.id)).toEqual(vb.ops.map((o) => o.id))
    expect(va.ops.map((o) => o.gate).sort()).toEqual(['cx', 'x'])
    expect(toQasm(va)).toBe(toQasm(vb))
  })

  it('flags an op left outside the circuit when a peer shrinks it', () => {
    const a = fresh(3)
    const b = new Y.Doc()
    sync(a, b)
    addOp(a, { gate: 'cx', qubits: [1, 2] })
    b.getMap('meta').set('qubits', 2)
    sync(a, b)
    expect(readCircuit(b).ops[0]!.problem).toMatch(/outside/)
  })
})

describe('a move concurrent with another edit of the same gate', () => {
  function pair() {
    const a = fresh(3)
    const b = new Y.Doc()
    keepEditsAcrossMoves(a)
    keepEditsAcrossMoves(b)
    return { a, b }
  }
  /** Delivers updates one way, as the relay would. */
  const send = (from: Y.Doc, to: Y.Doc) => Y.applyUpdate(to, Y.encodeStateAsUpdate(from, Y.encodeStateVector(to)))

  it('keeps a peer’s parameter edit made while the gate was moved (either delivery order)', () => {
    for (const moverFirst of [true, false]) {
      const { a, b } = pair()
      addOp(a, { gate: 'h', qubits: [0] })
      const rz = addOp(a, { gate: 'rz', qubits: [0], params: ['pi/4'] })
      addOp(a, { gate: 'x', qubits: [1] })
      sync(a, b)
      moveOp(a, rz, [2], null) // A: to q2, at the end
      setParam(b, rz, 0, 'pi/8') // B, concurrently: a new angle
      if (moverFirst) { send(a, b); send(b, a) } else { send(b, a); send(a, b) }
      sync(a, b)
      for (const d of [a, b]) {
        const v = readCircuit(d)
        expect(v.ops.map((o) => o.id)).toHaveLength(3)
        const op = v.ops.find((o) => o.id === rz)!
        expect(op.qubits).toEqual([2])
        expect(op.params).toEqual(['pi/8'])
        expect(v.ops[2]!.id).toBe(rz)
      }
      expect(toQasm(readCircuit(a))).toBe(toQasm(readCircuit(b)))
    }
  })

  it('does not bring back a value the mover had already seen replaced', () => {
    const { a, b } = pair()
    const rz = addOp(a, { gate: 'rz', qubits: [0], params: ['pi/4'] })
    addOp(a, { gate: 'x', qubits: [0] })
    sync(a, b)
    setParam(b, rz, 0, 'pi/8')
    sync(a, b)
    setParam(a, rz, 0, 'pi/2')
    moveOp(a, rz, [1], null)
    sync(a, b)
    for (const d of [a, b]) expect(readCircuit(d).ops.find((o) => o.id === rz)!.params).toEqual(['pi/2'])
  })

  it('two concurrent moves of one gate leave one gate on both sides', () => {
    const { a, b } = pair()
    const h = addOp(a, { gate: 'h', qubits: [0] })
    addOp(a, { gate: 'x', qubits: [0] })
    sync(a, b)
    moveOp(a, h, [1], null)
    moveOp(b, h, [2], null)
    sync(a, b)
    sync(a, b)
    const va = readCircuit(a)
    const vb = readCircuit(b)
    expect(va.ops.filter((o) => o.id === h)).toHaveLength(1)
    expect(toQasm(va)).toBe(toQasm(vb))
  })
})

describe('the incremental view model', () => {
  it('follows every change and keeps the objects of unchanged ops', async () => {
    const d = fresh(3)
    const ids = [0, 1, 2].map((q) => addOp(d, { gate: 'h', qubits: [q] }))
    const model = new CircuitModel(d)
    const seen: number[] = []
    model.subscribe((v) => seen.push(v.ops.length))
    const v1 = model.view()
    expect(model.view()).toBe(v1) // nothing changed: nothing rebuilt
    setParam(d, ids[1]!, 0, 'x') // h takes no parameter, but the field changes
    addOp(d, { gate: 'x', qubits: [2] })
    await Promise.resolve()
    expect(seen).toEqual([4]) // one notification for the burst
    // Reading the view at once (as the composer does after placing a gate) does not
    // swallow the notification.
    addOp(d, { gate: 'z', qubits: [0] })
    expect(model.view().ops).toHaveLength(5)
    await Promise.resolve()
    expect(seen).toEqual([4, 5])
    deleteOp(d, model.view().ops[4]!.id)
    await Promise.resolve()
    const v2 = model.view()
    expect(v2.ops[0]).toBe(v1.ops[0])
    expect(v2.ops[2]).toBe(v1.ops[2])
    expect(v2.ops[1]).not.toBe(v1.ops[1])
    expect(v2.ops[1]!.params).toEqual(['x'])
    expect(v2.ops[3]!.col).toBe(1)
    // A peer's nested edit and a meta change are seen as well.
    const peer = new Y.Doc()
    sync(d, peer)
    moveOp(peer, ids[0]!, [1])
    peer.getMap('meta').set('qubits', 4)
    sync(d, peer)
    const v3 = model.view()
    expect(v3.qubits).toBe(4)
    expect(v3.ops.find((o) => o.id === ids[0])!.qubits).toEqual([1])
    expect(v3).toEqual(readCircuit(d))
  })
})

describe('client-side stats', () => {
  it('count gates and depth as the server does (barriers align, clbits count)', () => {
    const d = fresh(3, 2)
    addOp(d, { gate: 'h', qubits: [0] })
    addOp(d, { gate: 'cx', qubits: [0, 1] })
    addOp(d, { gate: 'x', qubits: [2] })
    addOp(d, { gate: 'barrier', qubits: [0, 1, 2] })
    addOp(d, { gate: 'measure', qubits: [2], clbits: [0] })
    addOp(d, { gate: 'measure', qubits: [0], clbits: [0] })
    const s = circuitStats(readCircuit(d))
    expect(s).toEqual({ qubits: 3, clbits: 2, depth: 4, total_gates: 5, two_qubit_gates: 1, gate_counts: { h: 1, cx: 1, x: 1, measure: 2 } })
  })
})
