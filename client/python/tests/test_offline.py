"""Pieces that need no server: status mapping, count keys, OpenQASM export, errors."""

from __future__ import annotations

from qiskit import QuantumCircuit, transpile
from qiskit.providers import JobStatus
from qiskit.result import Result

from qollab import BackendInfo, QollabError, build_target, from_qasm, job_status, to_qasm
from qollab.job import counts_to_hex

LINE5 = BackendInfo.from_json(
    {
        "name": "emulator:line5",
        "kind": "emulator",
        "num_qubits": 5,
        "basis_gates": ["rz", "sx", "x", "cx"],
        "coupling_map": [[0, 1], [1, 2], [2, 3], [3, 4]],
    }
)


def test_every_server_state_maps_to_a_job_status() -> None:
    assert [job_status(s) for s in ("queued", "running", "completed", "failed", "cancelled")] == [
        JobStatus.QUEUED,
        JobStatus.RUNNING,
        JobStatus.DONE,
        JobStatus.ERROR,
        JobStatus.CANCELLED,
    ]


def test_server_count_keys_become_qiskits_counts() -> None:
    hexed = counts_to_hex({"10 1": 3, "01 0": 7})
    assert hexed == {"0x5": 3, "0x2": 7}
    exp = {"shots": 10, "success": True, "data": {"counts": hexed}, "header": {"creg_sizes": [["a", 1], ["b", 2]], "memory_slots": 3}}
    result = Result.from_dict({"backend_name": "b", "backend_version": "1", "job_id": "j", "success": True, "results": [exp]})
    assert result.get_counts() == {"10 1": 3, "01 0": 7}


def test_a_transpiled_circuit_is_sent_on_the_qubits_it_uses() -> None:
    qc = QuantumCircuit(2)
    qc.h(0)
    qc.cx(0, 1)
    qc.measure_all()
    compiled = transpile(qc, target=build_target(LINE5), initial_layout=[3, 4], seed_transpiler=1)
    assert compiled.num_qubits == 5
    payload = to_qasm(compiled)
    assert payload.dialect == "qasm2" and payload.qubits == [3, 4]
    assert "qreg q[2];" in payload.text and "$" not in payload.text
    assert payload.creg_sizes == [("meas", 2)] and payload.memory_slots == 2


def test_the_servers_extra_gates_read_back_as_qiskit_gates() -> None:
    text = (
        'OPENQASM 2.0;\ninclude "qelib1.inc";\n'
        "gate ecr a,b { s a; sx b; cx a,b; x a; }\n"
        "qreg q[2];\nu1(0.5) q[0];\ncu1(0.25) q[0],q[1];\nu3(1,2,3) q[1];\necr q[0],q[1];\n"
    )
    ops = set(from_qasm(text).count_ops())
    assert ops == {"p", "cp", "u", "ecr"}


def test_an_error_envelope_with_a_position() -> None:
    body = {"error": {"code": "invalid_qasm", "message": "unknown gate 'cxx'", "details": {"line": 5, "col": 1}}}
    e = QollabError.from_response(422, body)
    assert (e.code, e.status, e.line, e.col) == ("invalid_qasm", 422, 5, 1)
    assert e.message == "line 5:1: unknown gate 'cxx'"
    assert str(e) == "line 5:1: unknown gate 'cxx' (invalid_qasm, HTTP 422)"
    assert QollabError.from_response(502, "bad gateway").code == "http_error"
