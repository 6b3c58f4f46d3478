// A version compared with now, in one line a person reads (the History panel).
import type { CircuitDiff } from '../api/types'

/** "+2 h, +1 cx, −1 x · 3 changed · 4 → 6 gates, depth 3 → 4" — a version against now. */
export function diffSummary(d: CircuitDiff): string {
  const byGate = (m: Record<string, number>, sign: string) =>
    Object.entries(m)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([g, n]) => `${sign}${n} ${g}`)
  const parts = [...byGate(d.added_by_gate, '+'), ...byGate(d.removed_by_gate, '\u2212')]
  const out: string[] = []
  if (parts.length) out.push(parts.join(', '))
  if (d.changed) out.push(`${d.changed} changed`)
  if (d.qubits) out.push(`qubits ${d.qubits[0]} \u2192 ${d.qubits[1]}`)
  if (!out.length) return 'same as now'
  out.push(`${d.from.total_gates} \u2192 ${d.to.total_gates} gates, depth ${d.from.depth} \u2192 ${d.to.depth}`)
  return out.join(' \u00b7 ')
}

