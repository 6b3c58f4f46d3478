#!/usr/bin/env python3
"""Writes seeded random circuits (OpenQASM 2) for the simulator benchmark.

Each layer applies a random 1-qubit gate (h, sx, t, s, rx, ry, rz, u3) to every
qubit with probability 1/2 and a cx or cz to random disjoint pairs, until the
gate budget is used. Usage: random_circuits.py OUTDIR
"""
import random
import sys
from pathlib import Path

SIZES = [(16, 400), (18, 450), (20, 542), (22, 1215), (24, 949), (26, 600), (28, 300)]


def circuit(n, gates, seed):
    rng = random.Random(seed)
    lines = ["OPENQASM 2.0;", 'include "qelib1.inc";', f"qreg q[{n}];"]
    count = 0
    while count < gates:
        for q in range(n):
            if count >= gates:
                break
            if rng.random() < 0.5:
                g = rng.choice(["h", "sx", "t", "s", "rx", "ry", "rz", "u3"])
                if g in ("rx", "ry", "rz"):
                    lines.append(f"{g}({rng.uniform(-3.14, 3.14):.12f}) q[{q}];")
                elif g == "u3":
                    a, b, c = (rng.uniform(-3.14, 3.14) for _ in range(3))
                    lines.append(f"u3({a:.12f},{b:.12f},{c:.12f}) q[{q}];")
                else:
                    lines.append(f"{g} q[{q}];")
                count += 1
        qs = list(range(n))
        rng.shuffle(qs)
        for i in range(0, n - 1, 2):
            if count >= gates:
                break
            if rng.random() < 0.6:
                lines.append(f"{rng.choice(['cx', 'cz'])} q[{qs[i]}],q[{qs[i + 1]}];")
                count += 1
    return "\n".join(lines) + "\n"


def main():
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    for n, g in SIZES:
        (out / f"random_{n}q_{g}g.qasm").write_text(circuit(n, g, seed=1000 + n))


if __name__ == "__main__":
    main()
