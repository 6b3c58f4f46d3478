"""backends(), get_backend() and the Qiskit Targets built from /api/backends."""

from __future__ import annotations

import pytest
from qiskit.providers.exceptions import QiskitBackendNotFoundError

from qollab import QollabBackend, QollabProvider


def test_backends_lists_the_simulator_and_the_emulated_devices(provider: QollabProvider) -> None:
    names = {b.name for b in provider.backends()}
    assert {"ideal", "emulator:qollab_t5", "emulator:qollab_falcon27", "emulator:qollab_eagle127"} <= names
    assert all(isinstance(b, QollabBackend) for b in provider.backends())
    emulators = {b.name for b in provider.backends(kind="emulator")}
    assert emulators == {n for n in names if n.startswith("emulator:")}
    assert provider.backends("ideal")[0].info.available


def test_an_emulated_device_is_a_target_with_its_coupling_map_and_basis(provider: QollabProvider) -> None:
    backend = provider.get_backend("emulator:qollab_falcon27")
    info = backend.info
    target = backend.target
    assert backend.num_qubits == target.num_qubits == 27
    assert set(target.operation_names) == {"rz", "sx", "x", "cx", "measure", "reset", "if_else"}
    assert set(info.basis_gates) == {"rz", "sx", "x", "cx"}
    # The server's couplings are undirected: both directions are in the Target.
    edges = set(target["cx"])
    assert len(edges) == 2 * len(info.coupling_map)
    for a, b in info.coupling_map:
        assert (a, b) in edges and (b, a) in edges
    assert (0, 2) not in edges
    cmap = backend.coupling_map
    assert cmap is not None and cmap.is_connected() and cmap.size() == 27
    assert set(target["sx"]) == {(q,) for q in range(27)}
    assert set(target["measure"]) == {(q,) for q in range(27)}


def test_device_calibration_reaches_the_target_when_the_server_sends_it(provider: QollabProvider) -> None:
    backend = provider.get_backend("emulator:qollab_falcon27")
    cal = backend.info.calibration
    if cal is None:
        pytest.skip("this server's /api/backends has no calibration")
    props = backend.target["cx"][(0, 1)]
    assert props is not None and props.error is not None and 0 < props.error < 0.1
    assert props.duration is not None and props.duration > 0
    readout = backend.target["measure"][(0,)]
    assert readout is not None and readout.error == pytest.approx(cal["qubits"][0]["readout_error"])
    q0 = backend.qubit_properties(0)
    assert q0.t1 == pytest.approx(cal["qubits"][0]["t1_us"] * 1e-6)


def test_the_ideal_simulator_takes_every_server_gate_on_any_qubits(provider: QollabProvider) -> None:
    ideal = provider.get_backend("ideal")
    assert ideal.info.kind == "simulator"
    assert ideal.coupling_map is None
    assert {"h", "cx", "ccx", "ecr", "rzx", "cp", "measure", "reset"} <= set(ideal.target.operation_names)
    assert ideal.target.instruction_supported("ccx", (5, 0, 17))


def test_an_unknown_backend_is_a_qiskit_error(provider: QollabProvider) -> None:
    with pytest.raises(QiskitBackendNotFoundError, match="no backend named 'emulator:nope'"):
        provider.get_backend("emulator:nope")
