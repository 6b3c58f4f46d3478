"""``QuantumCircuit`` ⇄ the OpenQASM the Qollab server reads and writes.

Circuits go to the server as OpenQASM 2 (``qiskit.qasm2.dumps``): the server reads
every ``qelib1.inc`` gate, the common gates beyond it and the ``gate`` definitions
Qiskit emits for the rest. OpenQASM 3 (``qiskit.qasm3.dumps``) is used only when
OpenQASM 2 cannot express the circuit (a condition on one bit of a register).

Qubits that no operation touches (the unused device qubits of a transpiled circuit)
are dropped first: the server lays circuits out on its devices itself, and a
transpiled 27-qubit circuit should count as the qubits it uses against the plan's
quota. The server does not read ``else`` branches or physical qubits (``$n``); the
latter never reach it, since the circuit sent carries no layout.
"""

from __future__ import annotations

from dataclasses import dataclass

from qiskit import qasm2, qasm3
from qiskit.circuit import (
    Barrier,
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
    """The circuit on one register ``q`` of the qubits some operation touches (barriers
    do not count), and the kept qubits' original indices. The result never carries a
    layout, so OpenQASM 3 names virtual qubits rather than a transpiled circuit's
    physical ``$n``. Control-flow blocks are bound to their operation's qubits by
    position, so they move with them unchanged."""
    used: set[int] = set()
    for inst in circuit.data:
        if isinstance(inst.operation, Barrier):
            continue
        used.update(circuit.find_bit(q).index for q in inst.qubits)
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
        out.append(inst.operation, [qreg[new_index[i]] for i in olds], inst.clbits, copy=False)
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


# The server writes OpenQASM 2's spellings u1/u3/cu1 for its p/u/cp gates; read them
# as the modern gates they are.
_MODERN = {"u1": lib.PhaseGate, "u3": lib.UGate, "cu1": lib.CPhaseGate}


def _instructions() -> list[qasm2.CustomInstruction]:
    out: list[qasm2.CustomInstruction] = []
    for c in qasm2.LEGACY_CUSTOM_INSTRUCTIONS:
        modern = _MODERN.get(c.name)
        if modern is not None:
            c = qasm2.CustomInstruction(c.name, c.num_params, c.num_qubits, modern, builtin=c.builtin)
        out.append(c)
    legacy = {c.name for c in out}
    out.extend(c for c in _SERVER_EXTRAS if c.name not in legacy)
    return out


def from_qasm(text: str) -> QuantumCircuit:
    """A ``QuantumCircuit`` from the server's OpenQASM 2 export, with the server's
    gates as Qiskit's standard gate classes (``u1``/``u3``/``cu1`` as ``p``/``u``/``cp``)."""
    return qasm2.loads(text, custom_instructions=_instructions(), strict=False)
