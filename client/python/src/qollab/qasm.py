"""``QuantumCircuit`` ⇄ the OpenQASM the Qollab server reads and writes.

Circuits go to the server as OpenQASM 2 (``qiskit.qasm2.dumps``): the server reads
every ``qelib1.inc`` gate, the common gates beyond it and the ``gate`` definitions
Qiskit emits for the rest. OpenQASM 3 (``qiskit.qasm3.dumps``) is used only when
OpenQASM 2 cannot express the circuit (classical control flow). Qubits that no
operation touches (the unused device qubits of a transpiled circuit) are dropped
first: the server lays circuits out on its devices itself, and a transpiled
27-qubit circuit should count as the qubits it uses against the plan's quota.
"""

from __future__ import annotations

from dataclasses import dataclass

from qiskit import qasm2, qasm3
from qiskit.circuit import (
    Barrier,
    ControlFlowOp,
    QuantumCircuit,
    QuantumRegister,
)
from qiskit.circuit import library as lib

__all__ = ["QasmPayload", "to_qasm", "from_qasm", "remove_idle_qubits"]


@dataclass(frozen=True)
class QasmPayload:
    #: The OpenQASM source sent to the server.
    text: str
    #: ``qasm2`` or ``qasm3``.
    dialect: str
    #: Classical registers in declaration order, as Qiskit's result header wants them.
    creg_sizes: list[tuple[str, int]]
    #: Number of classical bits.
    memory_slots: int
    #: The circuit's qubits that were sent (indices into the original circuit).
    qubits: list[int]


def remove_idle_qubits(circuit: QuantumCircuit) -> tuple[QuantumCircuit, list[int]]:
    """The circuit without the qubits no operation touches (barriers do not count),
    and the kept qubits' original indices. Circuits with control flow are returned
    unchanged."""
    if any(isinstance(inst.operation, ControlFlowOp) for inst in circuit.data):
        return circuit, list(range(circuit.num_qubits))
    used: set[int] = set()
    for inst in circuit.data:
        if isinstance(inst.operation, Barrier):
            continue
        used.update(circuit.find_bit(q).index for q in inst.qubits)
    if len(used) == circuit.num_qubits:
        return circuit, list(range(circuit.num_qubits))
    keep = sorted(used)
    new_index = {old: new for new, old in enumerate(keep)}
    qreg = QuantumRegister(len(keep), "q")
    out = QuantumCircuit(qreg, *circuit.cregs, name=circuit.name, global_phase=circuit.global_phase)
    # Clbits outside any register keep their place too.
    loose = [c for c in circuit.clbits if not circuit.find_bit(c).registers]
    if loose:
        out.add_bits(loose)
    for inst in circuit.data:
        olds = [circuit.find_bit(q).index for q in inst.qubits]
        if isinstance(inst.operation, Barrier):
            olds = [i for i in olds if i in new_index]
            if not olds:
                continue
            out.append(Barrier(len(olds)), [qreg[new_index[i]] for i in olds], [])
            continue
        out.append(inst.operation, [qreg[new_index[i]] for i in olds], inst.clbits)
    out.metadata = dict(circuit.metadata or {})
    return out, keep


def _creg_sizes(circuit: QuantumCircuit) -> list[tuple[str, int]]:
    sizes = [(r.name, r.size) for r in circuit.cregs]
    if sum(s for _, s in sizes) != circuit.num_clbits:
        # Loose or shared bits: the server sees what the exporter declared; treat the
        # bits as one register, as Qiskit does when it cannot tell.
        return [("c", circuit.num_clbits)] if circuit.num_clbits else []
    return sizes


def to_qasm(circuit: QuantumCircuit, *, compact: bool = True) -> QasmPayload:
    """The OpenQASM to submit for ``circuit`` (see the module's docstring)."""
    sent, qubits = remove_idle_qubits(circuit) if compact else (circuit, list(range(circuit.num_qubits)))
    try:
        text, dialect = qasm2.dumps(sent), "qasm2"
    except qasm2.QASM2ExportError:
        text, dialect = qasm3.dumps(sent), "qasm3"
    return QasmPayload(
        text=text,
        dialect=dialect,
        creg_sizes=_creg_sizes(sent),
        memory_slots=sent.num_clbits,
        qubits=qubits,
    )


def _custom(name: str, num_params: int, num_qubits: int, cls: type) -> qasm2.CustomInstruction:
    return qasm2.CustomInstruction(name, num_params, num_qubits, cls, builtin=False)


# Gates the server writes as `gate` definitions (outside qelib1.inc), read back as
# Qiskit's standard gates rather than opaque custom ones.
_SERVER_EXTRAS: tuple[qasm2.CustomInstruction, ...] = (
    _custom("sxdg", 0, 1, lib.SXdgGate),
    _custom("r", 2, 1, lib.RGate),
    _custom("p", 1, 1, lib.PhaseGate),
    _custom("cp", 1, 2, lib.CPhaseGate),
    _custom("cu", 4, 2, lib.CUGate),
    _custom("csx", 0, 2, lib.CSXGate),
    _custom("iswap", 0, 2, lib.iSwapGate),
    _custom("ecr", 0, 2, lib.ECRGate),
    _custom("dcx", 0, 2, lib.DCXGate),
    _custom("rxx", 1, 2, lib.RXXGate),
    _custom("ryy", 1, 2, lib.RYYGate),
    _custom("rzz", 1, 2, lib.RZZGate),
    _custom("rzx", 1, 2, lib.RZXGate),
    _custom("ccz", 0, 3, lib.CCZGate),
    _custom("rccx", 0, 3, lib.RCCXGate),
    _custom("c3x", 0, 4, lib.C3XGate),
)


def from_qasm(text: str) -> QuantumCircuit:
    """A ``QuantumCircuit`` from the server's OpenQASM 2 export, with the server's
    extra gates mapped to Qiskit's standard gate classes."""
    legacy = {c.name for c in qasm2.LEGACY_CUSTOM_INSTRUCTIONS}
    extras = [c for c in _SERVER_EXTRAS if c.name not in legacy]
    return qasm2.loads(
        text,
        custom_instructions=[*qasm2.LEGACY_CUSTOM_INSTRUCTIONS, *extras],
        strict=False,
    )
