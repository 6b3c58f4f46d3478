"""backend.run(): transpile for a Qollab device, run, counts in Qiskit's bit order;
several circuits; status; cancel; errors."""

from __future__ import annotations

import uuid

import pytest
from qiskit import ClassicalRegister, QuantumCircuit, QuantumRegister, transpile
from qiskit.circuit import Gate
from qiskit.providers import JobStatus
from qiskit.providers.basic_provider import BasicSimulator

from qollab import QollabError, QollabJobError, QollabProvider, Workspace, to_qasm


def bell() -> QuantumCircuit:
    qc = QuantumCircuit(2, name="bell")
    qc.h(0)
    qc.cx(0, 1)
    qc.measure_all()
    return qc


def x_on_qubit_0(n: int = 3) -> QuantumCircuit:
    """Asymmetric: only clbit 0 reads 1, so the key is '001' in Qiskit's order."""
    qc = QuantumCircuit(n, n, name="x0")
    qc.x(0)
    qc.measure(range(n), range(n))
    return qc


def two_registers() -> QuantumCircuit:
    """Deterministic outcome over two registers: a = 1, b = 10 → key '10 1'."""
    q = QuantumRegister(3, "q")
    a = ClassicalRegister(1, "a")
    b = ClassicalRegister(2, "b")
    qc = QuantumCircuit(q, a, b, name="two-registers")
    qc.x(q[0])
    qc.x(q[2])
    qc.measure(q[0], a[0])
    qc.measure(q[1], b[0])
    qc.measure(q[2], b[1])
    return qc


def reference_counts(qc: QuantumCircuit, shots: int) -> dict[str, int]:
    return dict(BasicSimulator().run(qc, shots=shots, seed_simulator=1).result().get_counts())


def test_bell_transpiled_for_a_device_runs_on_the_emulator_and_the_simulator(
    provider: QollabProvider, workspace: Workspace
) -> None:
    device = provider.get_backend("emulator:qollab_falcon27")
    compiled = transpile(bell(), backend=device, seed_transpiler=11, optimization_level=1)
    # The transpiled circuit fits the device: its basis, its couplings.
    assert set(compiled.count_ops()) <= {"rz", "sx", "x", "cx", "measure", "barrier"}
    for inst in compiled.data:
        if inst.operation.num_qubits == 2:
            qs = tuple(compiled.find_bit(q).index for q in inst.qubits)
            assert device.target.instruction_supported("cx", qs), qs

    noisy = device.run(compiled, shots=2000, seed=7, workspace=workspace.id).result().get_counts()
    assert sum(noisy.values()) == 2000
    assert noisy.get("00", 0) + noisy.get("11", 0) >= 0.85 * 2000, noisy  # noise, but mostly Bell

    ideal = provider.get_backend("ideal")
    exact = ideal.run(compiled, shots=2000, seed=7, workspace=workspace.id).result().get_counts()
    assert set(exact) == {"00", "11"}, exact
    assert sum(exact.values()) == 2000
    assert 800 < exact["00"] < 1200


def test_counts_use_qiskits_bit_order(provider: QollabProvider, workspace: Workspace) -> None:
    ideal = provider.get_backend("ideal")
    for qc in (x_on_qubit_0(), two_registers()):
        counts = ideal.run(qc, shots=100, workspace=workspace.id).result().get_counts()
        assert counts == reference_counts(qc, 100), qc.name
    assert ideal.run(x_on_qubit_0(), shots=10, seed_simulator=4).result().get_counts() == {"001": 10}
    with pytest.raises(TypeError, match="shotz"):
        ideal.run(x_on_qubit_0(), shotz=10)
    assert ideal.run(two_registers(), shots=10).result().get_counts() == {"10 1": 10}

    # On a device too: transpiled (qubits permuted by the layout), the clbits keep their order.
    device = provider.get_backend("emulator:qollab_t5")
    compiled = transpile(x_on_qubit_0(), backend=device, seed_transpiler=3, initial_layout=[2, 0, 4])
    counts = device.run(compiled, shots=500, seed=5).result().get_counts()
    assert max(counts, key=lambda k: counts[k]) == "001", counts


def test_several_circuits_submit_several_jobs(provider: QollabProvider, workspace: Workspace) -> None:
    ideal = provider.get_backend("ideal")
    job = ideal.run([bell(), x_on_qubit_0(), two_registers()], shots=64, seed=1, workspace=workspace.name)
    assert len(job.job_ids) == 3 and len(set(job.job_ids)) == 3
    assert job.job_id() == ",".join(job.job_ids)
    result = job.result(timeout=60)
    assert result.success and len(result.results) == 3
    assert set(result.get_counts(0)) <= {"00", "11"}
    assert result.get_counts(1) == {"001": 64}
    assert result.get_counts("two-registers") == {"10 1": 64}
    assert len(result.get_counts()) == 3
    assert job.status() is JobStatus.DONE
    # One server job per circuit, in the workspace.
    listed = {j.id for j in provider.client.jobs(workspace, limit=200)}
    assert set(job.job_ids) <= listed
    # A job comes back from its id (several ids joined by commas).
    again = provider.retrieve_job(job.job_id())
    assert again.result().get_counts(1) == {"001": 64}


def test_status_job_id_and_the_optimizer(provider: QollabProvider, workspace: Workspace) -> None:
    ideal = provider.get_backend("ideal")
    job = ideal.run(x_on_qubit_0(), shots=10, optimization_level=2, workspace=workspace.id)
    uuid.UUID(job.job_id())
    assert job.status() in {JobStatus.QUEUED, JobStatus.RUNNING, JobStatus.DONE}
    result = job.result(timeout=60)
    assert job.status() is JobStatus.DONE and job.done()
    assert result.get_counts() == {"001": 10}
    info = provider.client.job(job.job_id())
    assert info.kind == "optimize_and_simulate" and info.raw["optimization_level"] == 2
    assert "optimization" in result.results[0].qollab


def slow_circuit(n: int = 10, layers: int = 40) -> QuantumCircuit:
    qc = QuantumCircuit(n, n, name="slow")
    for _ in range(layers):
        for q in range(n):
            qc.h(q)
        for q in range(n - 1):
            qc.cx(q, q + 1)
    qc.measure(range(n), range(n))
    return qc


def test_a_job_can_be_cancelled(provider: QollabProvider, workspace: Workspace) -> None:
    device = provider.get_backend("emulator:qollab_falcon27")
    job = device.run(slow_circuit(), shots=10_000, workspace=workspace.id)
    assert job.cancel() is True
    job.wait_for_final_state(timeout=30)
    assert job.status() is JobStatus.CANCELLED
    assert job.cancelled()
    with pytest.raises(QollabJobError, match="cancelled") as e:
        job.result()
    assert e.value.job_id == job.job_id()
    partial = job.result(partial=True)
    assert not partial.success and not partial.results[0].success


def test_a_bad_circuit_raises_with_line_and_column(provider: QollabProvider, workspace: Workspace) -> None:
    src = 'OPENQASM 2.0;\ninclude "qelib1.inc";\nqreg q[2];\nh q[0];\ncxx q[0],q[1];\n'
    with pytest.raises(QollabError) as e:
        provider.client.submit_job(workspace, qasm=src)
    err = e.value
    assert err.code == "invalid_qasm" and err.status == 422
    assert (err.line, err.col) == (5, 1)
    assert "5:1" in err.message and "5:1" in str(err)
    assert "cxx" in err.message

    # Through backend.run: a gate Qiskit can only export as `opaque` (no definition).
    qc = QuantumCircuit(1, 1)
    qc.append(Gate("mystery", 1, []), [0])
    qc.measure(0, 0)
    with pytest.raises(QollabError) as e:
        provider.get_backend("ideal").run(qc, workspace=workspace.id)
    assert e.value.code == "invalid_qasm" and e.value.line is not None
    assert f"{e.value.line}:{e.value.col}" in str(e.value)


def test_a_quota_or_validation_error_is_a_qollab_error(provider: QollabProvider, workspace: Workspace) -> None:
    with pytest.raises(QollabError) as e:
        provider.get_backend("ideal").run(x_on_qubit_0(), shots=10**9, workspace=workspace.id)
    assert e.value.code == "quota_exceeded" and e.value.status == 422


def test_run_without_a_workspace_says_how_to_give_one(url: str, token: str) -> None:
    provider = QollabProvider(url, token)
    with pytest.raises(ValueError, match="workspace="):
        provider.get_backend("ideal").run(x_on_qubit_0())


def test_classical_feed_forward_goes_as_openqasm_3(provider: QollabProvider, workspace: Workspace) -> None:
    qc = QuantumCircuit(2, 2, name="feed-forward")
    qc.x(0)
    qc.measure(0, 0)
    with qc.if_test((qc.clbits[0], 1)):
        qc.x(1)
    qc.measure(1, 1)
    assert to_qasm(qc).dialect == "qasm3"  # OpenQASM 2 cannot condition on one bit
    ideal = provider.get_backend("ideal")
    assert ideal.run(qc, shots=50, workspace=workspace.id).result().get_counts() == {"11": 50}
    device = provider.get_backend("emulator:qollab_t5")
    compiled = transpile(qc, backend=device, seed_transpiler=2)
    counts = device.run(compiled, shots=300, seed=2, workspace=workspace.id).result().get_counts()
    assert max(counts, key=lambda k: counts[k]) == "11", counts
