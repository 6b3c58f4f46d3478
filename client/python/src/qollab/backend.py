"""A Qollab backend (``ideal``, ``emulator:<device>``, ``ibm:<backend>``) as a Qiskit
``BackendV2``."""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any, Sequence

from qiskit.circuit import IfElseOp, Measure, Parameter, QuantumCircuit, Reset
from qiskit.circuit.library import get_standard_gate_name_mapping
from qiskit.providers import BackendV2, Options, QubitProperties
from qiskit.transpiler import InstructionProperties, Target

from .client import BackendInfo, Workspace
from .errors import QollabError
from .job import QollabJob, SubmittedCircuit
from .qasm import to_qasm

if TYPE_CHECKING:
    from .provider import QollabProvider

__all__ = ["QollabBackend", "SERVER_GATES", "build_target"]

#: Every gate the server's OpenQASM reader knows, by Qiskit name. A backend that lists
#: no basis gates (``ideal``) accepts all of them on any qubits.
SERVER_GATES: tuple[str, ...] = (
    "id", "x", "y", "z", "h", "s", "sdg", "t", "tdg", "sx", "sxdg",
    "rx", "ry", "rz", "p", "u1", "u2", "u3", "u", "r",
    "cx", "cy", "cz", "ch", "csx", "swap", "iswap", "ecr", "dcx",
    "crx", "cry", "crz", "cp", "cu1", "cu3", "cu", "rxx", "ryy", "rzz", "rzx",
    "ccx", "ccz", "cswap", "rccx",
)  # fmt: skip

# Names an IBM basis may list that are not basis gates here: every Target gets measure,
# reset and if_else anyway; the server's OpenQASM reader has no delay, loops or switches.
_NOT_BASIS = frozenset(
    {"measure", "reset", "if_else", "delay", "for_loop", "while_loop", "switch_case", "box", "barrier"}
)

# Parameter names for parameterized gates in a Target (any value is allowed).
_THETA, _PHI, _LAM, _GAMMA = Parameter("θ"), Parameter("φ"), Parameter("λ"), Parameter("γ")


def _gate(name: str) -> Any | None:
    """A Qiskit gate object for a server gate name (parameters left free)."""
    mapping = get_standard_gate_name_mapping()
    gate = mapping.get(name)
    if gate is None:
        return None
    params = [_THETA, _PHI, _LAM, _GAMMA][: len(gate.params)]
    if params:
        gate = type(gate)(*params)
    return gate


def _instruction_props(cal: dict[str, Any] | None, gate: str, qubits: tuple[int, ...]) -> InstructionProperties | None:
    if not cal:
        return None
    for g in cal.get("gates") or []:
        q = tuple(g.get("qubits") or ())
        if g.get("gate") == gate and (q == qubits or (len(q) == 2 and q[::-1] == qubits)):
            dur = g.get("duration_ns")
            return InstructionProperties(
                duration=float(dur) * 1e-9 if dur is not None else None,
                error=float(g["error"]) if g.get("error") is not None else None,
            )
    return None


def _measure_props(cal: dict[str, Any] | None, q: int) -> InstructionProperties | None:
    if not cal:
        return None
    qubits = cal.get("qubits") or []
    if q >= len(qubits):
        return None
    c = qubits[q]
    dur = c.get("readout_duration_ns") or cal.get("readout_duration_ns")
    return InstructionProperties(
        duration=float(dur) * 1e-9 if dur is not None else None,
        error=float(c["readout_error"]) if c.get("readout_error") is not None else None,
    )


def build_target(info: BackendInfo) -> Target:
    """The Qiskit ``Target`` of a server backend: its basis gates on its coupling map
    (undirected: both directions), measure and reset on every qubit, ``if_else``, and calibration
    (gate errors and durations, readout errors, T1/T2) when the server sends it."""
    cal = info.calibration
    qubit_props: list[QubitProperties] | None = None
    if cal and cal.get("qubits"):
        qubit_props = [
            QubitProperties(
                t1=float(q["t1_us"]) * 1e-6 if q.get("t1_us") is not None else None,
                t2=float(q["t2_us"]) * 1e-6 if q.get("t2_us") is not None else None,
            )
            for q in cal["qubits"]
        ]
        if len(qubit_props) != info.num_qubits:
            qubit_props = None
    target = Target(
        description=f"Qollab {info.kind} {info.name}",
        num_qubits=info.num_qubits,
        qubit_properties=qubit_props,
    )
    n = info.num_qubits
    if not info.basis_gates:
        # A simulator: every gate the server reads, on any qubits.
        for name in SERVER_GATES:
            gate = _gate(name)
            if gate is not None:
                target.add_instruction(gate, name=name)
        target.add_instruction(Measure())
        target.add_instruction(Reset())
        target.add_instruction(IfElseOp, name="if_else")
        return target

    edges: list[tuple[int, int]] = []
    seen: set[tuple[int, int]] = set()
    for a, b in info.coupling_map:
        for e in ((a, b), (b, a)):
            if e not in seen and a != b:
                seen.add(e)
                edges.append(e)
    unknown: list[str] = []
    props: dict[tuple[int, ...], InstructionProperties | None]
    for name in info.basis_gates:
        if name in _NOT_BASIS:
            continue
        gate = _gate(name)
        if gate is None:
            unknown.append(name)
            continue
        if gate.num_qubits == 1:
            props = {(q,): _instruction_props(cal, name, (q,)) for q in range(n)}
        elif gate.num_qubits == 2:
            props = {e: _instruction_props(cal, name, e) for e in edges}
        else:
            unknown.append(name)
            continue
        target.add_instruction(gate, props, name=name)
    if unknown:
        warnings.warn(f"{info.name}: basis gates not mapped to Qiskit gates: {', '.join(unknown)}", stacklevel=3)
    target.add_instruction(Measure(), {(q,): _measure_props(cal, q) for q in range(n)})
    target.add_instruction(Reset(), {(q,): None for q in range(n)})
    # Classical feed-forward (`if`): the server runs conditioned gates on every backend.
    target.add_instruction(IfElseOp, name="if_else")
    return target


class QollabBackend(BackendV2):
    """One backend of a Qollab server.

    ``run(circuits, shots=…, workspace=…, optimization_level=…, seed=…, kind=…,
    session=…)`` submits each circuit as one server job (OpenQASM through
    ``POST /api/workspaces/{id}/jobs``) and returns one :class:`QollabJob` over them.

    ``optimization_level`` (0–3) asks the server's optimizer to run first (job kind
    ``optimize_and_simulate``); without it the circuit is simulated as given (``simulate``).
    Emulated devices always lay out and route the circuit on their coupling map.
    """

    def __init__(self, provider: "QollabProvider", info: BackendInfo) -> None:
        super().__init__(
            provider=provider,
            name=info.name,
            description=f"Qollab {info.kind}" + ("" if info.available else f" (unavailable: {info.reason})"),
            backend_version="1",
        )
        self._provider = provider
        self.info = info
        self._target = build_target(info)

    def __repr__(self) -> str:
        return f"<QollabBackend {self.name!r} ({self.info.kind}, {self.info.num_qubits} qubits)>"

    @property
    def target(self) -> Target:
        return self._target

    @property
    def max_circuits(self) -> int | None:
        return None

    @classmethod
    def _default_options(cls) -> Options:
        return Options(
            shots=1024,
            seed=None,
            optimization_level=None,
            kind=None,
            workspace=None,
            session=None,
        )

    @property
    def provider(self) -> "QollabProvider":
        return self._provider

    @property
    def queue_length(self) -> int:
        """Jobs of every workspace waiting for this backend now."""
        for b in self._provider.client.backends():
            if b.name == self.name:
                return b.queue_length
        return 0

    def run(self, run_input: QuantumCircuit | Sequence[QuantumCircuit], **options: Any) -> QollabJob:
        circuits = [run_input] if isinstance(run_input, QuantumCircuit) else list(run_input)
        if not circuits or not all(isinstance(c, QuantumCircuit) for c in circuits):
            raise TypeError("run() takes a QuantumCircuit or a list of them")
        if "seed_simulator" in options:  # the name Qiskit's simulators use
            options["seed"] = options.pop("seed_simulator")
        unknown = set(options) - set(self.options.__dict__)
        if unknown:
            raise TypeError(f"unknown run option(s): {', '.join(sorted(unknown))}")
        opts = {**self.options.__dict__, **options}
        level = opts["optimization_level"]
        kind = opts["kind"] or ("optimize_and_simulate" if level is not None else "simulate")
        ws = opts["workspace"] or self._provider.workspace
        if ws is None:
            raise ValueError(
                "no workspace: pass run(..., workspace=ID_OR_NAME) or QollabProvider(..., workspace=…)"
            )
        client = self._provider.client
        ws_id = ws.id if isinstance(ws, Workspace) else client.workspace_id(ws)
        session = opts["session"]
        payloads = [to_qasm(c) for c in circuits]
        submitted: list[SubmittedCircuit] = []
        for circuit, payload in zip(circuits, payloads):
            try:
                info = client.submit_job(
                    ws_id,
                    qasm=payload.text,
                    backend=self.name,
                    shots=int(opts["shots"]),
                    seed=opts["seed"],
                    kind=kind,
                    optimization_level=int(level if level is not None else 1),
                    session_id=str(session) if session is not None else None,
                )
            except QollabError as e:
                # All or nothing: withdraw what this call already submitted.
                for s in submitted:
                    try:
                        client.cancel_job(s.job_id)
                    except QollabError:
                        pass
                if len(circuits) > 1:
                    e.args = (f"circuit {len(submitted)} ({circuit.name}): {e.args[0]}",)
                raise
            submitted.append(SubmittedCircuit(job_id=info.id, name=circuit.name, payload=payload, info=info))
        return QollabJob(self, submitted)
