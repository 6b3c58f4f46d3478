// The gate palette: what each gate needs (qubits, parameters) and how it is drawn.

export interface GateSpec {
  name: string
  qubits: number // 0 = one or more (barrier, reset, measure)
  params: number
  label: string
  title: string
  /** Default parameter expressions for a fresh gate. */
  defaults?: string[]
  group: 'single' | 'phase' | 'rotation' | 'multi' | 'non-unitary'
}

export const GATES: GateSpec[] = [
  { name: 'h', qubits: 1, params: 0, label: 'H', title: 'Hadamard', group: 'single' },
  { name: 'x', qubits: 1, params: 0, label: 'X', title: 'Pauli X (NOT)', group: 'single' },
  { name: 'y', qubits: 1, params: 0, label: 'Y', title: 'Pauli Y', group: 'single' },
  { name: 'z', qubits: 1, params: 0, label: 'Z', title: 'Pauli Z', group: 'single' },
  { name: 's', qubits: 1, params: 0, label: 'S', title: 'S (√Z)', group: 'phase' },
  { name: 'sdg', qubits: 1, params: 0, label: 'S†', title: 'S dagger', group: 'phase' },
  { name: 't', qubits: 1, params: 0, label: 'T', title: 'T (√S)', group: 'phase' },
  { name: 'tdg', qubits: 1, params: 0, label: 'T†', title: 'T dagger', group: 'phase' },
  { name: 'rx', qubits: 1, params: 1, label: 'Rx', title: 'Rotation about X', defaults: ['pi/2'], group: 'rotation' },
  { name: 'ry', qubits: 1, params: 1, label: 'Ry', title: 'Rotation about Y', defaults: ['pi/2'], group: 'rotation' },
  { name: 'rz', qubits: 1, params: 1, label: 'Rz', title: 'Rotation about Z', defaults: ['pi/4'], group: 'rotation' },
  { name: 'u', qubits: 1, params: 3, label: 'U', title: 'General single-qubit gate U(θ, φ, λ)', defaults: ['pi/2', '0', 'pi'], group: 'rotation' },
  { name: 'cx', qubits: 2, params: 0, label: 'CX', title: 'Controlled NOT', group: 'multi' },
  { name: 'cz', qubits: 2, params: 0, label: 'CZ', title: 'Controlled Z', group: 'multi' },
  { name: 'swap', qubits: 2, params: 0, label: 'SWAP', title: 'Swap two qubits', group: 'multi' },
  { name: 'ccx', qubits: 3, params: 0, label: 'CCX', title: 'Toffoli (controlled-controlled NOT)', group: 'multi' },
  { name: 'measure', qubits: 1, params: 0, label: 'M', title: 'Measure into a classical bit', group: 'non-unitary' },
  { name: 'reset', qubits: 1, params: 0, label: '|0⟩', title: 'Reset to |0⟩', group: 'non-unitary' },
  { name: 'barrier', qubits: 0, params: 0, label: '┆', title: 'Barrier across all qubits', group: 'non-unitary' },
]

const BY_NAME = new Map(GATES.map((g) => [g.name, g]))
const ALIASES: Record<string, string> = { cnot: 'cx', toffoli: 'ccx', u3: 'u', p: 'rz', id: 'id' }

export function gateSpec(name: string): GateSpec | undefined {
  return BY_NAME.get(name) ?? BY_NAME.get(ALIASES[name] ?? '')
}

/** Display label of any gate name, known or not. */
export function gateLabel(name: string): string {
  return BY_NAME.get(name)?.label ?? name.toUpperCase()
}
