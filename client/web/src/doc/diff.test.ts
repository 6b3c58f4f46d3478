import { describe, expect, it } from 'vitest'
import type { CircuitDiff } from '../api/types'
import { diffSummary } from './diff'

const stats = (total_gates: number, depth: number) => ({ qubits: 2, clbits: 2, total_gates, two_qubit_gates: 1, depth, gate_counts: {} })

describe('diffSummary', () => {
  it('lists added and removed gates, edits and the size change', () => {
    const d: CircuitDiff = {
      from: stats(4, 3),
      to: stats(6, 4),
      added: 3,
      removed: 1,
      changed: 2,
      added_by_gate: { x: 1, h: 2 },
      removed_by_gate: { cx: 1 },
      qubits: [2, 3],
    }
    expect(diffSummary(d)).toBe('+2 h, +1 x, \u22121 cx \u00b7 2 changed \u00b7 qubits 2 \u2192 3 \u00b7 4 \u2192 6 gates, depth 3 \u2192 4')
  })
  it('says so when nothing changed', () => {
    const d: CircuitDiff = { from: stats(4, 3), to: stats(4, 3), added: 0, removed: 0, changed: 0, added_by_gate: {}, removed_by_gate: {} }
    expect(diffSummary(d)).toBe('same as now')
  })
})
