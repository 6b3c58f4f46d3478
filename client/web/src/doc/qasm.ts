// OpenQASM 2.0 text of the live document, written in the browser so the panel follows
// every keystroke of every peer. The server's GET /api/docs/{id}/qasm is the reference.
import type { CircuitView, Register } from './binding'

function refOf(regs: Register[], flat: number, fallback: string): string {
  let base = 0
  for (const r of regs) {
    if (flat < base + r.size) return `${r.name}[${flat - base}]`
    base += r.size
  }
  return `${fallback}[${flat}]`
}

export function toQasm(view: CircuitView): string {
  const lines = ['OPENQASM 2.0;', 'include "qelib1.inc";']
  for (const r of view.qregs) lines.push(`qreg ${r.name}[${r.size}];`)
  for (const r of view.cregs) lines.push(`creg ${r.name}[${r.size}];`)
  for (const op of view.ops) {
    const qs = op.qubits.map((q) => refOf(view.qregs, q, 'q'))
    const cond = op.condition ? `if(${op.condition.creg}==${op.condition.value}) ` : ''
    const problem = op.problem ? ` // problem: ${op.problem}` : ''
    if (op.gate === 'measure') {
      op.qubits.forEach((q, i) => {
        lines.push(`${cond}measure ${refOf(view.qregs, q, 'q')} -> ${refOf(view.cregs, op.clbits[i] ?? q, 'c')};${problem}`)
      })
      continue
    }
    if (op.gate === 'barrier') {
      const args = qs.length ? qs.join(',') : view.qregs.map((r) => r.name).join(',')
      if (args) lines.push(`barrier ${args};${problem}`)
      continue
    }
    if (op.gate === 'reset') {
      for (const q of qs) lines.push(`${cond}reset ${q};${problem}`)
      continue
    }
    const ps = op.params.length ? `(${op.params.join(',')})` : ''
    lines.push(`${cond}${op.gate}${ps} ${qs.join(',')};${problem}`)
  }
  return lines.join('\n') + '\n'
}
