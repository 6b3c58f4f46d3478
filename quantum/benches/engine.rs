//! Criterion benchmarks of the quantum engine: OpenQASM parsing, state-vector
//! simulation, the optimizer, routing and noisy trajectories.
//!
//! `cargo bench -p qollab-quantum --bench engine` (about 3–4 minutes on 2 cores).
//! The circuits are either generated here with fixed seeds or copied into
//! `benches/data/` (Nam et al. arithmetic circuits, one qmap circuit), so the
//! benchmark depends on nothing outside the crate.

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use qollab_quantum::device::Device;
use qollab_quantum::opt::{Basis, OptimizeOptions, optimize};
use qollab_quantum::qasm::{self, Dialect};
use qollab_quantum::sim::{SimOptions, simulate};
use qollab_quantum::{noise, route};
use qollab_shared::circuit::{Circuit, Gate};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::f64::consts::PI;
use std::hint::black_box;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/data");
const DEVICES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/devices");

fn read(path: String) -> String {
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn data(name: &str) -> Circuit {
    qasm::parse(&read(format!("{DATA}/{name}.qasm"))).expect("benchmark circuit parses")
}

fn device(name: &str) -> Device {
    Device::from_json(&read(format!("{DEVICES}/{name}.json"))).expect("device loads")
}

/// Layers of random 1-qubit gates (probability 1/2 per qubit) and cx/cz on random
/// disjoint pairs (probability 0.6 per pair), like `bench/quantum/random_circuits.py`.
fn random_circuit(n: usize, gates: usize, seed: u64) -> Circuit {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut c = Circuit::with_size(n, 0);
    let one = [
        Gate::H,
        Gate::Sx,
        Gate::T,
        Gate::S,
        Gate::Rx,
        Gate::Ry,
        Gate::Rz,
        Gate::U,
    ];
    let mut count = 0;
    while count < gates {
        for q in 0..n {
            if count < gates && rng.random::<f64>() < 0.5 {
                let g = one[rng.random_range(0..one.len())];
                let ps: Vec<f64> = (0..g.num_params())
                    .map(|_| rng.random_range(-PI..PI))
                    .collect();
                c.gate(g, &ps, &[q]);
                count += 1;
            }
        }
        let mut qs: Vec<usize> = (0..n).collect();
        for i in (1..n).rev() {
            qs.swap(i, rng.random_range(0..=i));
        }
        for pair in qs.chunks_exact(2) {
            if count < gates && rng.random::<f64>() < 0.6 {
                let g = if rng.random::<bool>() {
                    Gate::Cx
                } else {
                    Gate::Cz
                };
                c.gate(g, &[], pair);
                count += 1;
            }
        }
    }
    c
}

fn no_progress(_: f64) {}

fn parse(c: &mut Criterion) {
    let mut g = c.benchmark_group("parse");
    g.sample_size(30).measurement_time(Duration::from_secs(4));
    let nam = read(format!("{DATA}/mod_adder_1024.qasm"));
    g.bench_function("mod_adder_1024 (4285 gates)", |b| {
        b.iter(|| qasm::parse(black_box(&nam)).expect("parses"))
    });
    let big = qasm::write(&random_circuit(22, 20_000, 7), Dialect::Qasm3).expect("writes");
    g.bench_function("random 22q 20000 gates (OpenQASM 3)", |b| {
        b.iter(|| qasm::parse(black_box(&big)).expect("parses"))
    });
    g.finish();
}

fn simulation(c: &mut Criterion) {
    let mut g = c.benchmark_group("simulate");
    g.sample_size(10).measurement_time(Duration::from_secs(8));
    let no = AtomicBool::new(false);
    for (n, gates) in [(16, 400), (20, 542), (22, 1215)] {
        let circ = random_circuit(n, gates, 1000 + n as u64);
        let opts = SimOptions {
            shots: 1000,
            seed: Some(1),
            ..Default::default()
        };
        g.bench_with_input(
            BenchmarkId::new("random", format!("{n}q_{gates}g")),
            &circ,
            |b, circ| b.iter(|| simulate(circ, &opts, &no, &no_progress).expect("simulates")),
        );
    }
    g.finish();
}

fn optimizer(c: &mut Criterion) {
    let mut g = c.benchmark_group("optimize");
    g.sample_size(10).measurement_time(Duration::from_secs(5));
    let no = AtomicBool::new(false);
    let basis = Basis::parse("h,x,rz,cx").expect("basis");
    // mod_adder_1024 is the largest circuit of the Nam suite: its level-3 time
    // is the one to keep in seconds.
    for name in [
        "barenco_tof_5",
        "rc_adder_6",
        "qcla_adder_10",
        "adder_8",
        "mod_adder_1024",
    ] {
        let circ = data(name);
        for level in [2u8, 3] {
            let opts = OptimizeOptions {
                level,
                basis: Some(basis.clone()),
                // Optimization only; verification is benchmarked by the suite in bench/quantum.
                skip_verify: true,
                ..Default::default()
            };
            g.bench_with_input(
                BenchmarkId::new(format!("level{level}"), name),
                &circ,
                |b, circ| b.iter(|| optimize(circ, &opts, &no, &no_progress).expect("optimizes")),
            );
        }
    }
    g.finish();
}

fn routing(c: &mut Criterion) {
    let mut g = c.benchmark_group("route");
    g.sample_size(10).measurement_time(Duration::from_secs(8));
    let no = AtomicBool::new(false);
    let circ = qollab_quantum::prepare(&data("sf_276")).expect("prepares");
    for name in ["heavyhex27", "heavyhex127"] {
        let dev = device(name);
        g.bench_function(format!("sf_276 on {name}"), |b| {
            b.iter(|| route::route(black_box(&circ), &dev, 1, &no).expect("routes"))
        });
    }
    g.finish();
}

fn noisy(c: &mut Criterion) {
    let mut g = c.benchmark_group("noise");
    g.sample_size(10).measurement_time(Duration::from_secs(6));
    let no = AtomicBool::new(false);
    let dev = device("heavyhex27");
    let mut circ = random_circuit(10, 200, 5);
    circ.add_creg("c", 10).expect("creg");
    for q in 0..10 {
        circ.push(qollab_shared::circuit::Instruction::measure(q, q));
    }
    let opts = SimOptions {
        shots: 1000,
        seed: Some(2),
        ..Default::default()
    };
    g.bench_function("random 10q 200 gates, 100 trajectories, heavyhex27", |b| {
        b.iter(|| noise::simulate_noisy(&circ, &dev, &opts, 100, &no, &no_progress).expect("runs"))
    });
    g.finish();
}

criterion_group!(engine, parse, simulation, optimizer, routing, noisy);
criterion_main!(engine);
