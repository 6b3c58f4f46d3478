#!/usr/bin/env python3
"""Qollab quantum-engine benchmarks against Qiskit Aer, qsim, Qiskit and tket.

Usage (from the repo root):
    python3 bench/quantum/run_benchmarks.py [sim|opt|route|all] [--out bench/quantum/results]
                                            [--peers-only] [--max-qubits N]

Creates a throw-away virtual environment in /work/venvs/qollab-bench (or
$QOLLAB_BENCH_VENV) from bench/quantum/requirements.txt (qiskit, qiskit-aer,
pytket, cirq-core, qsimcirq; re-installed whenever that file changes), builds
the engine's benchmark examples in release mode, runs all sides in the same
run with 2 threads each, and writes JSON results plus Markdown tables.
Benchmark circuits come from ../shared/bench (or $QOLLAB_BENCH_DIR).

--peers-only: simulator comparison without Qollab (no cargo build; Aer, qsim
and the copy-loop reference only; opt and route are skipped).
--max-qubits N: simulator comparison only on circuits of at most N qubits.
--aer-max-qubits N: Aer only on circuits of at most N qubits (default 24: Aer takes
minutes per run above); above it Qollab's amplitudes are checked against qsim's.
--precisions double,single: the Qollab precisions timed (default both: double is
Qollab's default, single (complex64) is the opt-in mode that matches qsim's precision).
Aer and qsim use OpenMP; on a machine shared with other jobs its spin-waiting
makes their times erratic, and OMP_WAIT_POLICY=PASSIVE in the environment
(recorded in meta.json) steadies them.
"""
import json
import os
import random
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BENCH = Path(os.environ.get("QOLLAB_BENCH_DIR", ROOT.parent / "shared" / "bench"))
VENV = Path(os.environ.get("QOLLAB_BENCH_VENV", "/work/venvs/qollab-bench"))
REQUIREMENTS = Path(__file__).resolve().with_name("requirements.txt")
TARGET = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
THREADS = "2"


def ensure_venv():
    """Re-executes this script inside the benchmark venv, creating or updating it if needed."""
    py = VENV / "bin" / "python"
    if not py.exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    stamp, reqs = VENV / ".qollab-requirements", REQUIREMENTS.read_text()
    if not stamp.exists() or stamp.read_text() != reqs:
        subprocess.run([str(py), "-m", "pip", "install", "-q", "-r", str(REQUIREMENTS)], check=True)
        stamp.write_text(reqs)
    if Path(sys.prefix) != VENV:
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
def cirq_from_qasm(src):
    """The OpenQASM 2 text as a Cirq circuit, through Cirq's own importer.

    cirq.contrib.qasm_import knows qelib1.inc but not `ccz` (used by the Nam circuits);
    it is added to the parser's gate table as cirq.CCZ (the public circuit_from_qasm
    has no hook for it). Qubit q[i] becomes cirq.NamedQubit(f"q_{i}")."""
    import cirq
    from cirq.contrib.qasm_import._parser import QasmGateStatement, QasmParser
    parser = QasmParser()
    parser.qelib_gates = {**QasmParser.qelib_gates,
                          "ccz": QasmGateStatement(qasm_gate="ccz", cirq_gate=cirq.CCZ, num_params=0, num_args=3)}
    return parser.parse(src).circuit


def copy_bandwidth(n, threads, reps=5):
    """The plain-copy reference: np.copyto between two complex128 arrays of 2^n elements,
    best of `reps`, GB/s counted as 2 x bytes (one read and one write of every byte; the
    write-allocate read that a cached store also costs is not counted, as it is not for
    the simulators). With threads > 1 each thread copies one contiguous slice (numpy
    releases the GIL while copying). Small arrays are copied repeatedly inside one timed
    block (at least 256 MiB in all) so that thread dispatch does not dominate."""
    import numpy as np
    src = np.full(1 << n, 1 + 1j, dtype=np.complex128)
    dst = np.zeros_like(src)
    inner = max(1, (256 << 20) // src.nbytes)
    cuts = [len(src) * t // threads for t in range(threads + 1)]
    parts = [(dst[a:b], src[a:b]) for a, b in zip(cuts, cuts[1:])]

    def work(part):
        for _ in range(inner):
            np.copyto(*part)

    times = []
    with ThreadPoolExecutor(threads) as pool:
        for _ in range(reps + 1):
            t0 = time.perf_counter()
            list(pool.map(work, parts))
            times.append((time.perf_counter() - t0) / inner)
    best = min(times[1:])  # the first block also faults dst's pages in: not counted
    return 2 * src.nbytes / best / 1e9


def gate_pass_gb_s(n, gates, amp_bytes, secs):
    """Effective bandwidth per gate pass: as if every gate read and wrote the whole state
    once (2 x 2^n x amp_bytes per gate). Simulators that fuse or block gates do less
    traffic than that, so this can exceed the copy loop; it says how many full passes'
    worth of gates a simulator gets through per second, in the copy loop's units."""
    return gates * 2 * (amp_bytes << n) / secs / 1e9


def bench_sim(out, peers_only=False, max_qubits=None, aer_max_qubits=24, precisions=("double", "single")):
    import cirq
    import numpy as np
    import qsimcirq
    from qiskit import transpile
    from qiskit_aer import AerSimulator

    sys.path.insert(0, str(Path(__file__).parent))
    import random_circuits

    tmp = out / "circuits"
    tmp.mkdir(parents=True, exist_ok=True)
    files = []
    for n, g in random_circuits.SIZES:
        if max_qubits is not None and n > max_qubits:
            continue
        p = tmp / f"random_{n}q_{g}g.qasm"
        p.write_text(random_circuits.circuit(n, g, seed=1000 + n))
        files.append(p)
    for name in ["gf2^6_mult", "gf2^7_mult", "adder_8", "gf2^8_mult", "qcla_mod_7"]:
        files.append(BENCH / "nam" / f"{name}.qasm")
    exe = None if peers_only else cargo_example("sim_bench")
    sim = AerSimulator(method="statevector", max_parallel_threads=int(THREADS), precision="double")
    qsim_options = qsimcirq.QSimOptions(cpu_threads=int(THREADS))
    bandwidth = {}
    rows, results = [], []
    for f in files:
        src = f.read_text()
        qc = load_qiskit(src)
        n, gates = qc.num_qubits, qc.size()
        if max_qubits is not None and n > max_qubits:
            continue
        if n not in bandwidth:
            bandwidth[n] = {"qubits": n, "state_bytes_complex128": 16 << n,
                            "copy_gb_s_1_thread": copy_bandwidth(n, 1),
                            "copy_gb_s_2_threads": copy_bandwidth(n, int(THREADS))}
        copy_bw = bandwidth[n]["copy_gb_s_2_threads"]
        rng = random.Random(7)
        idx = sorted({rng.randrange(1 << n) for _ in range(2000)} | {0})
        best_aer, sv = None, None
        run_aer = n <= aer_max_qubits
        if run_aer:
            qc = transpile(qc, sim, optimization_level=0)
            qc.save_statevector()
            for _ in range(2):
                t0 = time.perf_counter()
                res = sim.run(qc, shots=1).result()
                dt = time.perf_counter() - t0
                best_aer = dt if best_aer is None else min(best_aer, dt)
                sv = np.asarray(res.get_statevector())
            del res
        # qsim: the same QASM through Cirq's importer; Cirq's state vector is big-endian in
        # qubit_order, so q[n-1] first gives Qiskit's little-endian indices.
        cq = cirq_from_qasm(src)
        order = [cirq.NamedQubit(f"q_{i}") for i in reversed(range(n))]
        t0 = time.perf_counter()
        qsimcirq.QSimCircuit(cq).translate_cirq_to_qsim(order)
        qsim_translate = time.perf_counter() - t0
        best_qsim, psi = None, None
        for _ in range(2):
            qsim = qsimcirq.QSimSimulator(qsim_options)  # fresh: its translation cache would skip a step Aer repeats
            t0 = time.perf_counter()
            r = qsim.simulate(cq, qubit_order=order)
            dt = time.perf_counter() - t0
            best_qsim = dt if best_qsim is None else min(best_qsim, dt)
            psi = r.final_state_vector
            del r
        # Up to global phase: Cirq's QasmUGate reduces u3's theta modulo 2*pi, and
        # U3(theta + 2*pi) = -U3(theta), so every u3 with theta < 0 flips the sign of the state.
        if run_aer:
            ov = np.vdot(psi, sv)
            qsim_diff = float(np.max(np.abs(psi * (ov / abs(ov)) - sv)))
            del psi
            ref = sv[idx]
        else:
            # No Aer: qsim's amplitudes (complex64) at the sampled indices are the reference,
            # with the global phase fixed later from the overlap with Qollab's.
            qsim_diff = None
            # The largest amplitude too: a basis-state output may be zero at every sampled index.
            idx = sorted(set(idx) | {int(np.argmax(np.abs(psi)))})
            ref = psi[idx].astype(np.complex128)
            del psi
        r = {"circuit": f.stem, "qubits": n, "gates": gates, "aer_s": best_aer, "qsim_s": best_qsim,
             "qsim_translate_s": qsim_translate, "qsim_max_amplitude_diff_vs_aer": qsim_diff,
             "aer_gb_s_per_gate_pass": gate_pass_gb_s(n, gates, 16, best_aer) if run_aer else None,
             "qsim_gb_s_per_gate_pass": gate_pass_gb_s(n, gates, 8, best_qsim),
             "copy_gb_s_2_threads": copy_bw, "load_average_1min": os.getloadavg()[0]}
        row = [f.stem, n, gates, f"{best_aer:.3f}" if run_aer else "–", f"{best_qsim:.3f}"]
        if not peers_only:
            # Best of 2 per precision, the precisions alternating (d, s, d, s) so that a change
            # of load hits both alike.
            best, ours = {}, {}
            for _ in range(2):
                for prec in precisions:
                    p = subprocess.run([str(exe), str(f), "--indices", ",".join(map(str, idx)), "--precision", prec],
                                       capture_output=True, text=True, env=env2(), check=True)
                    ours[prec] = json.loads(p.stdout)
                    dt = ours[prec]["elapsed_ms"] / 1e3
                    best[prec] = min(best.get(prec, dt), dt)
            if not run_aer:
                # Phase-align qsim's amplitudes to Qollab's (the double run when there is one).
                first = np.array([complex(a, b) for a, b in ours[precisions[0]]["amplitudes"]])
                ov = np.vdot(ref, first)
                if abs(ov) > 0:
                    ref = ref * (ov / abs(ov))
            for prec in precisions:
                amps = np.array([complex(a, b) for a, b in ours[prec]["amplitudes"]])
                diff = float(np.max(np.abs(amps - ref)))
                key = "qollab" if prec == "double" else f"qollab_{prec}"
                bq = best[prec]
                r.update({f"{key}_s": bq, f"{key}_isa": ours[prec].get("isa"),
                          f"aer_over_{key}": best_aer / bq if run_aer else None,
                          f"qsim_over_{key}": best_qsim / bq, f"{key}_max_amplitude_diff": diff,
                          f"{key}_gb_s_per_gate_pass": gate_pass_gb_s(n, gates, 16 if prec == "double" else 8, bq)})
                if prec == "double":
                    r["max_amplitude_diff"] = diff
            last = ours[precisions[0]]
            r.update({"qollab_gates": last["gates"], "qollab_kernels": last["kernels"],
                      "qollab_kinds": last.get("kinds"),
                      "amplitude_reference": "aer" if run_aer else "qsim (complex64, phase-aligned)"})
            for prec in precisions:
                key = "qollab" if prec == "double" else f"qollab_{prec}"
                bq = best[prec]
                row += [f"{bq:.3f}", f"{best_aer / bq:.2f}" if run_aer else "–", f"{best_qsim / bq:.2f}"]
        row += [f"{r['aer_gb_s_per_gate_pass']:.1f}" if run_aer else "–", f"{r['qsim_gb_s_per_gate_pass']:.1f}"]
        if not peers_only:
            for prec in precisions:
                key = "qollab" if prec == "double" else f"qollab_{prec}"
                row += [f"{r[key + '_gb_s_per_gate_pass']:.1f}"]
        row += [f"{copy_bw:.1f}"]
        if not peers_only:
            for prec in precisions:
                key = "qollab" if prec == "double" else f"qollab_{prec}"
                row += [f"{r[key + '_max_amplitude_diff']:.1e}" + ("" if run_aer else " (vs qsim)")]
        row += [f"{qsim_diff:.1e}" if run_aer else "–", f"{r['load_average_1min']:.1f}"]
        del sv, ref
        results.append(r)
        rows.append(row)
        print(rows[-1], flush=True)
    tput = []
    if not peers_only:
        for n in (24, 26):
            p = subprocess.run([str(exe), "--throughput", str(n)], capture_output=True, text=True, env=env2(),
                               check=True)
            tput.append({"qubits": n, "per_target": [json.loads(l) for l in p.stdout.splitlines()]})
    notes = {
        "timing": "best of 2 runs per simulator, all in-process, none includes process start or QASM parsing. "
                  "Aer: sim.run(transpiled circuit).result() with save_statevector (Qiskit-to-Aer conversion, "
                  "simulation, state copied back). qsim: QSimSimulator(QSimOptions(cpu_threads=2)).simulate(cirq "
                  "circuit) on a fresh simulator each run (Cirq-to-qsim translation, simulation, state returned; "
                  "qsim_translate_s is the translation alone, timed once). Qollab: sim_bench's own elapsed_ms "
                  "(gate compilation, state allocation, simulation), excluding its process start and QASM parse.",
        "precision": "Aer and Qollab (double, its default) complex128 (16 bytes per amplitude); qsimcirq and "
                     "Qollab single (sim_bench --precision single, the opt-in mode) compute in complex64 "
                     "(8 bytes), so their amplitudes differ from Aer's by ~1e-8..1e-7 and they move half the bytes. "
                     "qsim vs Aer is compared on all amplitudes after removing a global phase (Cirq's QASM importer "
                     "takes u3's theta modulo 2*pi, which negates the state for each u3 with theta < 0); Qollab vs "
                     "Aer on ~2000 random indices, phase included. Above --aer-max-qubits Aer is not run and Qollab "
                     "is compared with qsim on the same indices after aligning the global phase (so the difference "
                     "is qsim's complex64 rounding).",
        "gate_pass": "GB/s per gate pass = gates x 2 x state bytes / seconds (every gate counted as one full read "
                     "and write of the state; gates = gate count of the QASM file, the same for every simulator).",
        "copy": "copy reference = np.copyto of a complex128 array of 2^n elements (repeated to >= 256 MiB per "
                "timed block), best of 5 after one untimed block, 2 x bytes / seconds; 1 thread and 2 threads "
                "(two contiguous halves). Where both arrays fit in the caches (up to ~18-20 qubits, depending "
                "on the CPU) it is a cache figure, not DRAM.",
    }
    (out / "sim.json").write_text(json.dumps({"results": results, "copy_bandwidth": list(bandwidth.values()),
                                              "throughput": tput, "qsim_options": qsim_options.as_dict(),
                                              "notes": notes}, indent=1))
    headers = ["circuit", "qubits", "gates", "Aer s", "qsim s"]
    names = {"double": "Qollab", "single": "Qollab single"}
    if not peers_only:
        for prec in precisions:
            q = names.get(prec, f"Qollab {prec}")
            headers += [f"{q} s", f"Aer ÷ {q}", f"qsim ÷ {q}"]
    headers += ["Aer GB/s per gate pass", "qsim GB/s per gate pass"]
    if not peers_only:
        headers += [f"{names.get(prec, prec)} GB/s per gate pass" for prec in precisions]
    headers += ["copy GB/s (2 threads)"]
    if not peers_only:
        headers += [f"max |Δamp| {names.get(prec, prec)} vs Aer" for prec in precisions]
    headers += ["max |Δamp| qsim vs Aer", "load avg (1 min)"]
    table = md_table(headers, rows)
    copy_table = md_table(["qubits", "state MiB (complex128)", "copy GB/s, 1 thread", "copy GB/s, 2 threads"],
                          [[b["qubits"], b["state_bytes_complex128"] >> 20, f"{b['copy_gb_s_1_thread']:.1f}",
                            f"{b['copy_gb_s_2_threads']:.1f}"] for b in bandwidth.values()])
    md = table + "\n\n" + "\n".join(f"- {k}: {v}" for k, v in notes.items()) + "\n\nPlain copy loop (the " \
        "memory-bandwidth reference):\n\n" + copy_table + "\n"
    if tput:
        trows = []
        for t in tput:
            for e in t["per_target"]:
                trows.append([t["qubits"], e["target"], e["ms"], e["gb_per_s"]])
        md += "\nPlain (unblocked) 1-qubit kernel throughput per target qubit:\n\n" \
              + md_table(["qubits", "target", "ms", "GB/s"], trows) + "\n"
    (out / "sim.md").write_text(md)
    print(table)
    print(copy_table)


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


# Nam, Ross, Su, Childs, Maslov, "Automated optimization of large quantum circuits with continuous
# parameters" (npj Quantum Information 4, 23, 2018), Table 2: total gate count after the "heavy"
# optimization (h, x, rz, cx; Nam's counting). The same totals are the gate counts of Nam's heavy
# outputs as converted to QASM in github.com/quantum-compiler/quartz circuit/nam-circuits/qasm_files
# (*_after_heavy.qasm), which also give the per-type split quoted in docs/benchmarks.md.
NAM_HEAVY = {
    "adder_8": 606, "barenco_tof_3": 40, "barenco_tof_4": 72, "barenco_tof_5": 104, "csla_mux_3": 155,
    "gf2^10_mult": 1070, "gf2^16_mult": 2707, "gf2^4_mult": 187, "gf2^5_mult": 296, "gf2^6_mult": 403,
    "gf2^7_mult": 555, "gf2^8_mult": 712, "mod5_4": 51, "mod_adder_1024": 2736, "mod_mult_55": 91,
    "qcla_adder_10": 399, "qcla_mod_7": 624, "rc_adder_6": 140, "tof_3": 35, "tof_4": 55, "tof_5": 75,
    "vbe_adder_3": 89,
}


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
             "beats_best_peer": o["gates"] < best_peer, "nam_heavy": NAM_HEAVY.get(f.stem),
             "meets_nam": f.stem in NAM_HEAVY and o["gates"] <= NAM_HEAVY[f.stem],
             "reduction_nam_count": 1 - o["gates"] / o["input_gates"]}
        results.append(r)
        tot["qin"] += qc0.size(); tot["nin"] += o["input_gates"]; tot["qk"] += qk_n; tot["ours"] += o["gates"]
        tot["qk2"] += qk_2; tot["ours2"] += o["two_qubit"]
        if tk_n is not None:
            tot["tk"] += tk_n; tot["tk2"] += tk_2
        rows.append([f.stem, qc0.size(), o["input_gates"], f"{qk_n} / {qk_2}",
                     "–" if tk_n is None else f"{tk_n} / {tk_2}", f"{o['gates']} / {o['two_qubit']}",
                     f"{qk_t:.3f}", "–" if tk_t is None else f"{tk_t:.3f}", f"{o['optimize_ms'] / 1e3:.3f}",
                     NAM_HEAVY.get(f.stem, "–"), f"{o['equivalence']} ({o['method']})"])
        print(rows[-1], flush=True)
    rows.append(["**total**", tot["qin"], tot["nin"], f"{tot['qk']} / {tot['qk2']}", f"{tot['tk']} / {tot['tk2']}",
                 f"{tot['ours']} / {tot['ours2']}", "", "", "", "", ""])
    met = [r["circuit"] for r in results if r["meets_nam"]]
    missed = [r["circuit"] for r in results if r["nam_heavy"] is not None and not r["meets_nam"]]
    mean_reduction = sum(r["reduction_nam_count"] for r in results) / max(len(results), 1)
    summary = {"meets_nam": len(met), "with_nam_figure": len(met) + len(missed), "missed": missed,
               "mean_reduction_nam_count": mean_reduction,
               "all_verified": all(r["equivalence"] == "verified" for r in results)}
    (out / "opt.json").write_text(json.dumps({"results": results, "totals": tot, "summary": summary}, indent=1))
    table = md_table(["circuit", "input (Qiskit decomposition)", "input (Nam count)", "Qiskit L3 gates / 2q",
                      "tket gates / 2q", "Qollab L3 gates / 2q", "Qiskit s", "tket s", "Qollab s", "Nam heavy",
                      "verified"], rows)
    table += (f"\n\nQollab ≤ Nam heavy on {len(met)} of {len(met) + len(missed)} (missed: {', '.join(missed) or 'none'}); "
              f"mean reduction in Nam's counting {mean_reduction:.1%}; "
              f"all verified: {summary['all_verified']}")
    (out / "opt.md").write_text(table + "\n")
    print(table)


# ---------------------------------------------------------------- routing
def bench_route(out):
    """Swaps added by layout + routing on the heavy-hex devices, Qiskit's SABRE against Qollab.

    Qiskit: transpile() at optimization level 1 with SABRE layout and routing, timed per call (the whole
    level-1 pipeline, parsing excluded). Qollab: opt_bench at level 1 with the device, timed two ways: the
    whole process (parsing, optimization, routing, translation and verification) and the sum of its
    optimize_ms (optimization, layout, routing and translation: what transpile() does, without the
    equivalence check).
    """
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
        ours_opt_t = sum(x["optimize_ms"] for x in ours.values()) / 1e3
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
                            "equivalence": o["equivalence"], "qollab_optimize_ms": o["optimize_ms"],
                            "qollab_verify_ms": o["verify_ms"]})
            sq += qs; so += o["swaps"]; n += 1; verified += o["equivalence"] == "verified"
        rows.append([d["name"], n, f"{sq / n:.2f}", f"{so / n:.2f}", sq, so, f"{verified}/{n}", f"{qk_t:.2f}",
                     f"{ours_opt_t:.2f}", f"{ours_t:.1f}", f"{os.getloadavg()[0]:.1f}"])
        print(rows[-1], flush=True)
    (out / "route.json").write_text(json.dumps(results, indent=1))
    table = md_table(["device", "circuits", "Qiskit SABRE swaps (mean)", "Qollab swaps (mean)", "Qiskit total",
                      "Qollab total", "Qollab verified", "Qiskit transpile s", "Qollab optimize s (no verification)",
                      "Qollab s (whole process, incl. verification)", "load (1 min) after"], rows)
    (out / "route.md").write_text(table + "\n")
    print(table)


def main():
    ensure_venv()
    what = sys.argv[1] if len(sys.argv) > 1 and not sys.argv[1].startswith("-") else "all"
    out = Path(sys.argv[sys.argv.index("--out") + 1]) if "--out" in sys.argv else ROOT / "bench" / "quantum" / "results"
    peers_only = "--peers-only" in sys.argv
    max_qubits = int(sys.argv[sys.argv.index("--max-qubits") + 1]) if "--max-qubits" in sys.argv else None
    aer_max_qubits = int(sys.argv[sys.argv.index("--aer-max-qubits") + 1]) if "--aer-max-qubits" in sys.argv else 24
    precisions = tuple(sys.argv[sys.argv.index("--precisions") + 1].split(",")) if "--precisions" in sys.argv \
        else ("double", "single")
    if not precisions or any(p not in ("double", "single") for p in precisions):
        sys.exit("--precisions takes double, single or both (comma-separated)")
    out.mkdir(parents=True, exist_ok=True)
    import platform
    import cirq
    import qiskit
    import qiskit_aer
    import pytket
    import qsimcirq
    meta = {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(), "threads": THREADS,
            "qiskit": qiskit.__version__, "qiskit_aer": qiskit_aer.__version__, "pytket": pytket.__version__,
            "cirq_core": cirq.__version__, "qsimcirq": qsimcirq.__version__,
            "qsim_simd": qsimcirq.qsim.__name__.rsplit("_", 1)[-1],
            "qollab_precisions": precisions,
            "load_average": os.getloadavg()[0], "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"), "peers_only": peers_only, "max_qubits": max_qubits, "aer_max_qubits": aer_max_qubits,
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    (out / "meta.json").write_text(json.dumps(meta, indent=1))
    print(meta)
    if what in ("sim", "all"):
        bench_sim(out, peers_only=peers_only, max_qubits=max_qubits, aer_max_qubits=aer_max_qubits,
                  precisions=precisions)
    if peers_only and what in ("opt", "route", "all"):
        print("--peers-only: opt and route skipped (they compare against Qollab's output)", file=sys.stderr)
        return
    if what in ("opt", "all"):
        bench_opt(out)
    if what in ("route", "all"):
        bench_route(out)


if __name__ == "__main__":
    main()
