use super::*;
use crate::sim::tests_support::random_circuit_strategy;
use proptest::prelude::*;
use std::sync::atomic::AtomicBool;

fn no_progress(_: f64) {}

fn bench_files(dir: &str) -> Vec<(String, Circuit)> {
    let path = format!("{}/../../shared/bench/{dir}", env!("CARGO_MANIFEST_DIR"));
    let Ok(entries) = std::fs::read_dir(&path) else {
        return Vec::new();
    };
    let mut v: Vec<(String, Circuit)> = entries
        .flatten()
        .map(|e| {
            let src = std::fs::read_to_string(e.path()).unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                crate::qasm::parse(&src).unwrap(),
            )
        })
        .collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

#[test]
fn every_nam_benchmark_is_optimized_and_verified() {
    let basis = Basis::parse("h,x,rz,cx").unwrap();
    let no = AtomicBool::new(false);
    let files = bench_files("nam");
    let (mut before, mut after) = (0, 0);
    for (name, c) in &files {
        let opts = OptimizeOptions {
            level: 3,
            basis: Some(basis.clone()),
            ..Default::default()
        };
        let (out, rep) = optimize(c, &opts, &no, &no_progress).unwrap();
        assert_eq!(
            rep.equivalence.status,
            EquivStatus::Verified,
            "{name}: {:?}",
            rep.equivalence
        );
        assert!(
            out.instructions
                .iter()
                .all(|i| i.as_gate().is_some_and(|(g, _)| basis.has(g)))
        );
        let translated = synth::translate(&crate::prepare(c).unwrap(), &basis).unwrap();
        assert!(rep.after.gates <= translated.instructions.len(), "{name}");
        before += translated.instructions.len();
        after += rep.after.gates;
    }
    if !files.is_empty() {
        assert!(after < before);
    }
}

#[test]
fn every_qmap_benchmark_routes_verified_on_heavy_hex() {
    let text = std::fs::read_to_string(format!(
        "{}/devices/heavyhex27.json",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let dev = crate::device::Device::from_json(&text).unwrap();
    let no = AtomicBool::new(false);
    for (name, c) in bench_files("qmap")
        .into_iter()
        .filter(|(_, c)| c.instructions.len() < 400)
    {
        let opts = OptimizeOptions {
            level: 2,
            device: Some(dev.clone()),
            ..Default::default()
        };
        let (_, rep) = optimize(&c, &opts, &no, &no_progress).unwrap();
        assert_eq!(
            rep.equivalence.status,
            EquivStatus::Verified,
            "{name}: {:?}",
            rep.equivalence
        );
    }
}

#[test]
fn a_wrong_optimization_is_caught() {
    // The checker must flag a broken rewrite, as it would an optimizer bug.
    let c = crate::qasm::parse("OPENQASM 2.0; include \"qelib1.inc\"; qreg q[3]; h q[0]; cx q[0], q[1]; t q[1]; cx q[1], q[2];").unwrap();
    let mut broken = c.clone();
    broken.instructions.remove(2);
    let r = crate::equiv::check(&c, &broken, None, &AtomicBool::new(false));
    assert_eq!(r.status, EquivStatus::Failed);
}

#[test]
fn stats_count_depth_and_kinds() {
    let c = crate::qasm::parse("OPENQASM 2.0; include \"qelib1.inc\"; qreg q[3]; creg c[1]; h q[0]; cx q[0], q[1]; x q[2]; barrier q; measure q[1] -> c[0];").unwrap();
    let s = stats(&c);
    assert_eq!(s.gates, 3);
    assert_eq!(s.two_qubit_gates, 1);
    assert_eq!(s.depth, 3);
    assert_eq!(s.by_kind["measure"], 1);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    #[test]
    fn optimizer_output_is_equivalent_on_random_circuits(c in random_circuit_strategy(5, 40), level in 0u8..=3, basis_i in 0usize..4) {
        let basis = ["", "h,x,rz,cx", "rz,sx,x,cx", "u3,cx"][basis_i];
        let opts = OptimizeOptions {
            level,
            basis: (!basis.is_empty()).then(|| Basis::parse(basis).unwrap()),
            ..Default::default()
        };
        let (_, rep) = optimize(&c, &opts, &AtomicBool::new(false), &no_progress).unwrap();
        prop_assert_eq!(rep.equivalence.status, EquivStatus::Verified, "{:?}", rep.equivalence);
        prop_assert!(rep.after.gates <= rep.before.gates * 40);
    }

    #[test]
    fn routed_random_circuits_are_equivalent(c in random_circuit_strategy(5, 25)) {
        let text = std::fs::read_to_string(format!("{}/devices/line5.json", env!("CARGO_MANIFEST_DIR"))).unwrap();
        let dev = crate::device::Device::from_json(&text).unwrap();
        let opts = OptimizeOptions { level: 2, device: Some(dev), ..Default::default() };
        let (_, rep) = optimize(&c, &opts, &AtomicBool::new(false), &no_progress).unwrap();
        prop_assert_eq!(rep.equivalence.status, EquivStatus::Verified, "{:?}", rep.equivalence);
    }
}
