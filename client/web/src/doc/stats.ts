// Circuit stats computed in the browser from the live view model, the same way as the
// server's `shared::doc::stats` (barriers align wires but are not gates; depth counts
// qubits and classical bits), so the panel follows every edit without a request.
import type { CircuitView } from './binding'

export interface CircuitStats {
  qubits: number
  clbits: number
  depth: number
  total_gates: number
  two_qubit_gates: number
  gate_counts: Record<string, number>
}

export function circuitStats(view: CircuitView): CircuitStats {
  const s: CircuitStats = { qubits: view.qubits, clbits: view.clbits, depth: 0, total_gates: 0, two_qubit_gates: 0, gate_counts: {} }
  const ql = new Map<number, number>()
  const cl = new Map<number, number>()
  const all = [...Array(view.qubits).keys()]
  for (const op of view.ops) {
    const barrier = op.gate === 'barrier'
    const qs = barrier && op.qubits.length === 0 ? all : op.qubits
    let start = 0
    for (const q of qs) start = Math.max(start, ql.get(q) ?? 0)
    for (const b of op.clbits) start = Math.max(start, cl.get(b) ?? 0)
    const end = barrier ? start : start + 1
    for (const q of qs) ql.set(q, end)
    for (const b of op.clbits) cl.set(b, end)
    if (barrier) continue
    s.gate_counts[op.gate] = (s.gate_counts[op.gate] ?? 0) + 1
    s.total_gates++
    if (op.qubits.length === 2) s.two_qubit_gates++
    s.depth = Math.max(s.depth, end)
  }
  return s
}
