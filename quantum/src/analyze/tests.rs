use super::*;

fn device(name: &str) -> Device {
    let text = std::fs::read_to_string(format!(
        "{}/devices/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    Device::from_json(&text).unwrap()
}

#[test]
fn too_many_qubits_and_foreign_gates_are_reported() {
    let c = crate::qasm::parse(
        "OPENQASM 2.0; include \"qelib1.inc\"; qreg q[6]; h q[0]; ccx q[0], q[1], q[5];",
    )
    .unwrap();
    let d = device("line5");
    let f = analyze(&Input {
        circuit: Some(&c),
        device: Some(&d),
        ..Default::default()
    });
    assert_eq!(f[0].code, "qubits_beyond_device");
    assert_eq!(f[0].numbers["circuit_qubits"], 6.0);
    assert_eq!(f[0].numbers["device_qubits"], 5.0);
    let basis = f.iter().find(|f| f.code == "gates_outside_basis").unwrap();
    assert_eq!(basis.numbers["gates_outside_basis"], 2.0);
}
