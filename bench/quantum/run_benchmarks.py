#!/usr/bin/env python3
"""Qollab quantum-engine benchmarks against Qiskit Aer, Qiskit and tket.

Usage (from the repo root):
    python3 bench/quantum/run_benchmarks.py [sim|opt|route|all] [--out bench/quantum/results]

Creates a throw-away virtual environment in /work/venvs/qollab-bench (or
$QOLLAB_BENCH_VENV) with qiskit, qiskit-aer and pytket on first use, builds
the engine's benchmark examples in release mode, runs both sides in the same
run with 2 threads each, and writes JSON results plus Markdown tables.
Benchmark circuits come from ../shared/bench (or $QOLLAB_BENCH_DIR).
"""
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BENCH = Path(os.environ.get("QOLLAB_BENCH_DIR", ROOT.parent / "shared" / "bench"))
VENV = Path(os.environ.get("QOLLAB_BENCH_VENV", "/work/venvs/qollab-bench"))
TARGET = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
THREADS = "2"


def ensure_venv():
    """Re-executes this script inside the benchmark venv, creating it if needed."""
    py = VENV / "bin" / "python"
    if Path(sys.prefix) == VENV:
        return
    if not py.exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        subprocess.run([str(py), "-m", "pip", "install", "-q", "qiskit", "qiskit-aer", "pytket"], check=True)
    os.execv(str(py), [str(py), *sys.argv])


def cargo_example(name):
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "qollab-quantum", "--example", name],
                   cwd=ROOT, check=True)
    return TARGET / "release" / "examples" / name


def env2():
    e = dict(os.environ)
    e.update(RAYON_NUM_THREADS=THREADS, OMP_NUM_THREADS=THREADS)
    return e


def load_qiskit(src):
    from qiskit import qasm2
    from qiskit.circuit.library import CCZGate
    custom = list(qasm2.LEGACY_CUSTOM_INSTRUCTIONS) + [qasm2.CustomInstruction("ccz", 0, 3, CCZGate, builtin=True)]
    return qasm2.loads(src, custom_instructions=custom)


def md_table(headers, rows):
    out = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(out)


# ---------------------------------------------------------------- simulator
def bench_sim(out):
    import numpy as np
    from qiskit import transpile
    from qiskit_aer import AerSimulator

    sys.path.insert(0, str(Path(__file__).parent))
    import random_circuits

    tmp = out / "circuits"
    tmp.mkdir(parents=True, exist_ok=True)
    files = []
    for n, g in random_circuits.SIZES:
        p = tmp / f"random_{n}q_{g}g.qasm"
        p.write_text(random_circuits.circuit(n, g, seed=1000 + n))
        files.append(p)
    for name in ["gf2^6_mult", "gf2^7_mult", "adder_8", "gf2^8_mult"]:
        files.append(BENCH / "nam" / f"{name}.qasm")
    exe = cargo_example("sim_bench")
    sim = AerSimulator(method="statevector", max_parallel_threads=int(THREADS), precision="double")
    rows, results = [], []
    for f in files:
        src = f.read_text()
        qc = load_qiskit(src)
        qc = transpile(qc, sim, optimization_level=0)
        qc.save_statevector()
        n = qc.num_qubits
        rng = random.Random(7)
        idx = sorted({rng.randrange(1 << n) for _ in range(2000)} | {0})
        best_aer, sv = None, None
        for _ in range(2):
            t0 = time.perf_counter()
            res = sim.run(qc, shots=1).result()
            dt = time.perf_counter() - t0
            best_aer = dt if best_aer is None else min(best_aer, dt)
            sv = np.asarray(res.get_statevector())
        best_q, amps, ours = None, None, None
        for _ in range(2):
            p = subprocess.run([str(exe), str(f), "--indices", ",".join(map(str, idx))], capture_output=True,
                               text=True, env=env2(), check=True)
            ours = json.loads(p.stdout)
            dt = ours["elapsed_ms"] / 1e3
            best_q = dt if best_q is None else min(best_q, dt)
        amps = np.array([complex(a, b) for a, b in ours["amplitudes"]])
        diff = float(np.max(np.abs(amps - sv[idx])))
        r = {"circuit": f.stem, "qubits": n, "gates": ours["gates"], "aer_s": best_aer, "qollab_s": best_q,
             "speedup": best_aer / best_q, "max_amplitude_diff": diff}
        results.append(r)
        rows.append([f.stem, n, ours["gates"], f"{best_aer:.3f}", f"{best_q:.3f}", f"{best_aer / best_q:.2f}",
                     f"{diff:.1e}"])
        print(rows[-1], flush=True)
    tput = []
    for n in (24, 26):
        p = subprocess.run([str(exe), "--throughput", str(n)], capture_output=True, text=True, env=env2(), check=True)
        tput.append({"qubits": n, "per_target": [json.loads(l) for l in p.stdout.splitlines()]})
    (out / "sim.json").write_text(json.dumps({"results": results, "throughput": tput}, indent=1))
    table = md_table(["circuit", "qubits", "gates", "Aer s", "Qollab s", "Aer ÷ Qollab", "max |Δamp|"], rows)
    trows = []
    for t in tput:
        for e in t["per_target"]:
            trows.append([t["qubits"], e["target"], e["ms"], e["gb_per_s"]])
    (out / "sim.md").write_text(table + "\n\nPlain (unblocked) 1-qubit kernel throughput per target qubit:\n\n"
                                + md_table(["qubits", "target", "ms", "GB/s"], trows) + "\n")
    print(table)


# ---------------------------------------------------------------- optimizer
def tket_optimize(qasm_text):
    from pytket.circuit import OpType
    from pytket.passes import AutoRebase, FullPeepholeOptimise, RemoveRedundancies
    from pytket.qasm import circuit_from_qasm_str
    c = circuit_from_qasm_str(qasm_text)
    t0 = time.perf_counter()
    FullPeepholeOptimise().apply(c)
    AutoRebase({OpType.H, OpType.X, OpType.Rz, OpType.CX}).apply(c)
    RemoveRedundancies().apply(c)
    dt = time.perf_counter() - t0
    return c.n_gates, c.n_2qb_gates(), dt


def bench_opt(out):
    from qiskit import qasm2, transpile
    basis = ["h", "x", "rz", "cx"]
    exe = cargo_example("opt_bench")
    p = subprocess.run([str(exe), str(BENCH / "nam"), "--basis", ",".join(basis), "--level", "3"],
                       capture_output=True, text=True, env=env2(), check=True)
    ours = {d["circuit"]: d for d in map(json.loads, p.stdout.splitlines())}
    rows, results = [], []
    tot = dict(qin=0, qk=0, tk=0, ours=0, qk2=0, tk2=0, ours2=0, nin=0)
    for f in sorted((BENCH / "nam").glob("*.qasm")):
        qc = load_qiskit(f.read_text())
        qc0 = transpile(qc, basis_gates=basis, optimization_level=0)
        t0 = time.perf_counter()
        qc3 = transpile(qc, basis_gates=basis, optimization_level=3, seed_transpiler=1)
        qk_t = time.perf_counter() - t0
        qk_n, qk_2 = qc3.size(), qc3.num_nonlocal_gates()
        try:
            tk_n, tk_2, tk_t = tket_optimize(qasm2.dumps(qc0))
        except Exception as e:  # noqa: BLE001 - report, do not abort the run
            print(f"tket failed on {f.stem}: {e}", file=sys.stderr)
            tk_n, tk_2, tk_t = None, None, None
        o = ours[f.stem]
        best_peer = min(x for x in (qk_n, tk_n) if x is not None)
        r = {"circuit": f.stem, "qiskit_input": qc0.size(), "nam_input": o["input_gates"], "qiskit_l3": qk_n,
             "qiskit_l3_2q": qk_2, "qiskit_s": qk_t, "tket": tk_n, "tket_2q": tk_2, "tket_s": tk_t,
             "qollab": o["gates"], "qollab_2q": o["two_qubit"], "qollab_s": o["optimize_ms"] / 1e3,
             "qollab_verify_s": o["verify_ms"] / 1e3, "equivalence": o["equivalence"], "method": o["method"],
             "beats_best_peer": o["gates"] < best_peer}
        results.append(r)
        tot["qin"] += qc0.size(); tot["nin"] += o["input_gates"]; tot["qk"] += qk_n; tot["ours"] += o["gates"]
        tot["qk2"] += qk_2; tot["ours2"] += o["two_qubit"]
        if tk_n is not None:
            tot["tk"] += tk_n; tot["tk2"] += tk_2
        rows.append([f.stem, qc0.size(), o["input_gates"], f"{qk_n} / {qk_2}",
                     "–" if tk_n is None else f"{tk_n} / {tk_2}", f"{o['gates']} / {o['two_qubit']}",
                     f"{qk_t:.3f}", "–" if tk_t is None else f"{tk_t:.3f}", f"{o['optimize_ms'] / 1e3:.3f}",
                     f"{o['equivalence']} ({o['method']})"])
        print(rows[-1], flush=True)
    rows.append(["**total**", tot["qin"], tot["nin"], f"{tot['qk']} / {tot['qk2']}", f"{tot['tk']} / {tot['tk2']}",
                 f"{tot['ours']} / {tot['ours2']}", "", "", "", ""])
    (out / "opt.json").write_text(json.dumps({"results": results, "totals": tot}, indent=1))
    table = md_table(["circuit", "input (Qiskit decomposition)", "input (Nam count)", "Qiskit L3 gates / 2q",
                      "tket gates / 2q", "Qollab L3 gates / 2q", "Qiskit s", "tket s", "Qollab s", "verified"], rows)
    (out / "opt.md").write_text(table + "\n")
    print(table)


# ---------------------------------------------------------------- routing
def bench_route(out):
    from qiskit import transpile
    from qiskit.transpiler import CouplingMap
    devices = ["heavyhex27.json", "heavyhex127.json"]
    exe = cargo_example("opt_bench")
    rows, results = [], []
    for dev in devices:
        d = json.loads((ROOT / "quantum" / "devices" / dev).read_text())
        edges = [tuple(e) for e in d["coupling_map"]] + [(b, a) for a, b in d["coupling_map"]]
        cm = CouplingMap(edges)
        t0 = time.perf_counter()
        p = subprocess.run([str(exe), str(BENCH / "qmap"), "--level", "1", "--device",
                            str(ROOT / "quantum" / "devices" / dev)], capture_output=True, text=True, env=env2(),
                           check=True)
        ours_t = time.perf_counter() - t0
        ours = {x["circuit"]: x for x in map(json.loads, p.stdout.splitlines())}
        sq, so, n, verified = 0, 0, 0, 0
        qk_t = 0.0
        for f in sorted((BENCH / "qmap").glob("*.qasm")):
            qc = load_qiskit(f.read_text())
            t1 = time.perf_counter()
            routed = transpile(qc, coupling_map=cm, basis_gates=["u", "cx", "swap"], optimization_level=1,
                               layout_method="sabre", routing_method="sabre", seed_transpiler=1)
            qk_t += time.perf_counter() - t1
            qs = routed.count_ops().get("swap", 0)
            o = ours[f.stem]
            results.append({"device": d["name"], "circuit": f.stem, "qiskit_swaps": qs, "qollab_swaps": o["swaps"],
                            "equivalence": o["equivalence"]})
            sq += qs; so += o["swaps"]; n += 1; verified += o["equivalence"] == "verified"
        rows.append([d["name"], n, f"{sq / n:.2f}", f"{so / n:.2f}", sq, so, f"{verified}/{n}", f"{qk_t:.1f}",
                     f"{ours_t:.1f}"])
        print(rows[-1], flush=True)
    (out / "route.json").write_text(json.dumps(results, indent=1))
    table = md_table(["device", "circuits", "Qiskit SABRE swaps (mean)", "Qollab swaps (mean)", "Qiskit total",
                      "Qollab total", "Qollab verified", "Qiskit s", "Qollab s (incl. verification)"], rows)
    (out / "route.md").write_text(table + "\n")
    print(table)


def main():
    ensure_venv()
    what = sys.argv[1] if len(sys.argv) > 1 and not sys.argv[1].startswith("-") else "all"
    out = Path(sys.argv[sys.argv.index("--out") + 1]) if "--out" in sys.argv else ROOT / "bench" / "quantum" / "results"
    out.mkdir(parents=True, exist_ok=True)
    import platform
    import qiskit
    import qiskit_aer
    import pytket
    meta = {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(), "threads": THREADS,
            "qiskit": qiskit.__version__, "qiskit_aer": qiskit_aer.__version__, "pytket": pytket.__version__,
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    (out / "meta.json").write_text(json.dumps(meta, indent=1))
    print(meta)
    if what in ("sim", "all"):
        bench_sim(out)
    if what in ("opt", "all"):
        bench_opt(out)
    if what in ("route", "all"):
        bench_route(out)


if __name__ == "__main__":
    main()
