#!/usr/bin/env python3
"""Writes the device files shipped in quantum/devices/.

Topologies are the public ones (IBM 5-qubit T/line family, 27-qubit Falcon and
127-qubit Eagle heavy-hex). Calibration values are synthetic: drawn with a fixed
seed from ranges typical of published IBM calibrations in 2023-2024
(T1 80-300 us, T2 50-250 us, readout error 0.5-4 %, sx error 1.5e-4-6e-4,
cx/ecr error 4e-3-1.6e-2, cx 250-600 ns). They are plausible, not measured.
"""
import json
import random
import sys
from pathlib import Path

OUT = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).resolve().parents[2] / "quantum" / "devices")


def falcon27():
    return [(0, 1), (1, 2), (1, 4), (2, 3), (3, 5), (4, 7), (5, 8), (6, 7), (7, 10), (8, 9), (8, 11),
            (10, 12), (11, 14), (12, 13), (12, 15), (13, 14), (14, 16), (15, 18), (16, 19), (17, 18),
            (18, 21), (19, 20), (19, 22), (21, 23), (22, 25), (23, 24), (24, 25), (25, 26)]


def eagle127():
    rows, starts, cols = [], [], []
    idx = 0
    edges = []
    layout = [(0, 14)] + [(0, 15)] * 5 + [(1, 14)]  # (first column, width)
    row_ids = []
    for r, (c0, w) in enumerate(layout):
        ids = {}
        for k in range(w):
            ids[c0 + k] = idx
            if k > 0:
                edges.append((idx - 1, idx))
            idx += 1
        row_ids.append(ids)
        if r < len(layout) - 1:
            conn_cols = [0, 4, 8, 12] if r % 2 == 0 else [2, 6, 10, 14]
            row_ids.append(("conn", conn_cols, list(range(idx, idx + 4))))
            idx += 4
    # Wire connectors between the rows above and below.
    rows_only = [x for x in row_ids if isinstance(x, dict)]
    conns = [x for x in row_ids if isinstance(x, tuple)]
    for r, (_, conn_cols, ids) in enumerate(conns):
        above, below = rows_only[r], rows_only[r + 1]
        for col, q in zip(conn_cols, ids):
            edges.append((above[col], q))
            edges.append((q, below[col]))
    assert idx == 127, idx
    return edges


def device(name, n, edges, basis, two_q, rng, description):
    qubits = []
    for _ in range(n):
        t1 = round(rng.uniform(80, 300), 1)
        t2 = round(min(rng.uniform(50, 250), 2 * t1), 1)
        qubits.append({"t1_us": t1, "t2_us": t2,
                       "readout_error": round(rng.uniform(0.005, 0.04), 4),
                       "readout_duration_ns": 1400.0})
    gates = []
    for q in range(n):
        e = round(rng.uniform(1.5e-4, 6e-4), 6)
        gates.append({"gate": "sx", "qubits": [q], "error": e, "duration_ns": 35.6})
        gates.append({"gate": "x", "qubits": [q], "error": e, "duration_ns": 35.6})
        gates.append({"gate": "rz", "qubits": [q], "error": 0.0, "duration_ns": 0.0})
    for a, b in edges:
        gates.append({"gate": two_q, "qubits": [a, b], "error": round(rng.uniform(4e-3, 1.6e-2), 5),
                      "duration_ns": float(rng.choice(range(250, 601, 10)))})
    return {"name": name, "description": description, "num_qubits": n, "basis_gates": basis,
            "coupling_map": [list(e) for e in edges], "qubits": qubits, "gates": gates,
            "readout_duration_ns": 1400.0}


def main():
    rng = random.Random(20261123)
    OUT.mkdir(parents=True, exist_ok=True)
    note = " Calibration values are synthetic but typical of 2023-2024 IBM devices (fixed seed, see bench/quantum/make_devices.py)."
    devs = {
        "line5.json": device("qollab_t5", 5, [(0, 1), (1, 2), (1, 3), (3, 4)], ["rz", "sx", "x", "cx"], "cx", rng,
                             "5-qubit T topology (as IBM Belem/Quito)." + note),
        "heavyhex27.json": device("qollab_falcon27", 27, falcon27(), ["rz", "sx", "x", "cx"], "cx", rng,
                                  "27-qubit heavy-hex (IBM Falcon r5 coupling map)." + note),
        "heavyhex127.json": device("qollab_eagle127", 127, eagle127(), ["rz", "sx", "x", "cx"], "cx", rng,
                                   "127-qubit heavy-hex (IBM Eagle r3 coupling map)." + note),
    }
    for f, d in devs.items():
        (OUT / f).write_text(json.dumps(d, indent=1) + "\n")
        print(f, d["num_qubits"], len(d["coupling_map"]))


if __name__ == "__main__":
    main()
