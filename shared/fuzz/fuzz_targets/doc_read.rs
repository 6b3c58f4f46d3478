//! Applies an arbitrary yrs update to a document, then reads it, computes its statistics
//! and converts it to the circuit IR: a stored document must always read, and memory must
//! stay bounded by the update's size (never by an index written in it).
#![no_main]

use libfuzzer_sys::fuzz_target;
use qollab_shared::doc;
use qollab_shared::sync::DecodedUpdate;
use yrs::Doc;

fuzz_target!(|data: &[u8]| {
    let Ok(update) = DecodedUpdate::decode(data.to_vec()) else {
        return;
    };
    let d = Doc::with_client_id(1);
    if update.apply(&d).is_err() {
        return;
    }
    let read = doc::read(&d);
    let _ = doc::stats(&read.circuit);
    if let Ok(c) = read.circuit.to_circuit() {
        // A valid document converts back to the same document view.
        let back = doc::DocCircuit::from_circuit(&c, &read.circuit.name).expect("from_circuit");
        assert_eq!(back.ops.len(), read.circuit.ops.len());
    }
    // Writing what was read into a fresh document reads back the same circuit.
    let fresh = Doc::with_client_id(2);
    doc::write(&fresh, &read.circuit);
    let again = doc::read(&fresh);
    assert_eq!(again.circuit.ops, read.circuit.ops);
});
