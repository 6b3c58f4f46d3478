"""Shared documents as QuantumCircuits: read through the QASM export, write through
the QASM import."""

from __future__ import annotations

import math

from qiskit import QuantumCircuit
from qiskit.quantum_info import Operator

from qollab import QollabClient, Workspace


def rich() -> QuantumCircuit:
    """Gates inside and beyond qelib1.inc, with parameters."""
    qc = QuantumCircuit(3, name="rich")
    qc.h(0)
    qc.cx(0, 1)
    qc.rz(math.pi / 7, 2)
    qc.cp(0.3, 1, 2)
    qc.ecr(0, 2)
    qc.rzx(0.25, 1, 0)
    qc.ccz(0, 1, 2)
    qc.sxdg(1)
    qc.swap(0, 2)
    qc.u(0.1, 0.2, 0.3, 1)
    return qc


def test_a_document_round_trips_as_a_quantum_circuit(client: QollabClient, workspace: Workspace) -> None:
    bell = QuantumCircuit(2, 2, name="bell")
    bell.h(0)
    bell.cx(0, 1)
    bell.measure([0, 1], [0, 1])
    doc = client.create_document(workspace, "Bell from Python", bell)
    assert doc.id in {d.id for d in client.documents(workspace)}

    read = client.read_circuit(doc.id)
    assert read.num_qubits == 2 and read.num_clbits == 2
    assert dict(read.count_ops()) == {"h": 1, "cx": 1, "measure": 2}

    # Overwrite with a circuit of gates beyond qelib1.inc; it reads back equivalent.
    written = client.write_circuit(doc.id, rich())
    assert written.id == doc.id and not written.problems
    back = client.read_circuit(doc.id)
    assert back.num_qubits == 3
    assert Operator(back).equiv(Operator(rich())), back.draw()
    # Standard gates come back as Qiskit's classes, not opaque custom gates.
    assert {"ecr", "rzx", "ccz", "cp", "sxdg"} <= set(back.count_ops())
    detail = client.document(doc.id)
    assert detail.name == "Bell from Python"


def test_document_qasm_in_both_dialects(client: QollabClient, workspace: Workspace) -> None:
    doc = client.create_document(workspace, "dialects", 'OPENQASM 3.0; include "stdgates.inc"; qubit[1] q; x q[0];')
    assert client.document_qasm(doc.id, "qasm2").startswith("OPENQASM 2.0;")
    assert client.document_qasm(doc.id, "qasm3").startswith("OPENQASM 3")
    assert dict(client.read_circuit(doc.id).count_ops()) == {"x": 1}


def test_lists_are_followed_page_by_page(client: QollabClient, workspace: Workspace) -> None:
    made = [client.create_document(workspace, f"paged {i}").id for i in range(3)]
    path = f"/api/workspaces/{workspace.id}/docs"
    first = client.request("GET", path, params={"limit": 1})
    assert len(first["items"]) == 1 and first["next_cursor"]
    # One item a page: every document, each once, in the order they were created.
    walked = [d["id"] for d in client.pages(path, limit=1)]
    assert len(walked) == len(set(walked))
    assert [i for i in walked if i in made] == made
    assert {d.id for d in client.documents(workspace)} == set(walked)
