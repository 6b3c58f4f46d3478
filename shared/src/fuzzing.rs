//! The bodies of the cargo-fuzz targets in `shared/fuzz`, kept here so that every input
//! that once crashed one (`shared/fuzz/regressions/<target>/`) is replayed by
//! `cargo test` on every run. Not part of the API.

use crate::doc;
use crate::sync::{
    Access, AwarenessLimits, Connection, DecodedUpdate, Inbound, Owner, RoomAwareness,
};
use yrs::Doc;

/// Arbitrary frames to the sans-IO y-websocket core as a server room receives them from
/// a read-write peer, applying every update it lets through, then a read of the
/// document. The input is split into frames by a leading length byte each.
pub fn sync(data: &[u8]) {
    let mut room = RoomAwareness::new(Doc::with_client_id(1), AwarenessLimits::default());
    let mut peer = Connection::new(Access::ReadWrite);
    let _ = peer.start(room.awareness());
    let owner = Owner::Peer(7);
    let mut rest = data;
    while let Some((&len, tail)) = rest.split_first() {
        let n = (len as usize).min(tail.len());
        let (frame, next) = tail.split_at(n);
        rest = next;
        // As the server's document socket does: an unknown message type is skipped; any
        // other error closes the connection, so nothing after it reaches the room.
        match peer.handle_room_frame(&mut room, owner, frame) {
            Ok(Inbound::Update(update)) => {
                if update.apply(room.doc()).is_err() {
                    break;
                }
            }
            Ok(_) => {}
            Err(e) if e.is_unknown_message() => {}
            Err(_) => break,
        }
    }
    let read = doc::read(room.doc());
    let _ = doc::stats(&read.circuit);
    let _ = room.remove_owner(owner);
}

/// An arbitrary yrs update applied to a document, which is then read, measured and
/// converted to the circuit IR: a stored document must always read.
pub fn doc_read(data: &[u8]) {
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
        let back = doc::DocCircuit::from_circuit(&c, &read.circuit.name);
        assert_eq!(back.map(|b| b.ops.len()).ok(), Some(read.circuit.ops.len()));
    }
    // Writing what was read into a fresh document reads back the same circuit.
    let fresh = Doc::with_client_id(2);
    doc::write(&fresh, &read.circuit);
    let again = doc::read(&fresh);
    assert_eq!(again.circuit.ops, read.circuit.ops);
}

/// The document's expression evaluator on arbitrary text: a finite value it formats
/// reads back to (nearly) the same value.
pub fn doc_expr(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(v) = doc::eval_expr(text)
        && v.is_finite()
    {
        let again = doc::eval_expr(&doc::format_angle(v));
        let again =
            again.unwrap_or_else(|e| panic!("{text}: formatted {v} does not read back: {e:?}"));
        assert!(
            (again - v).abs() <= 1e-9 * v.abs().max(1.0),
            "{text}: {v} vs {again}"
        );
    }
}

#[cfg(test)]
mod tests {
    /// yrs's generic decoder is compiled into the crates that call it, under their
    /// profile; tests run in debug (checks always on), so only the manifests can say
    /// whether a release build (the server's, the fuzzers') checks overflow where the
    /// peer's bytes are decoded. Without it, a wrapped clock aborted the process later.
    #[test]
    fn release_builds_check_overflow_where_yrs_decodes_peer_input() {
        let here = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        for (manifest, packages) in [
            (
                here.join("../Cargo.toml"),
                &["yrs", "qollab-shared", "qollab-server"][..],
            ),
            (here.join("fuzz/Cargo.toml"), &["yrs", "qollab-shared"][..]),
        ] {
            let text =
                std::fs::read_to_string(&manifest).unwrap_or_else(|e| panic!("{manifest:?}: {e}"));
            for p in packages {
                let header = format!("[profile.release.package.{p}]");
                let section = text
                    .split(&header)
                    .nth(1)
                    .unwrap_or_else(|| panic!("{manifest:?} has no {header}"));
                let section = section.split("\n[").next().unwrap_or_default();
                assert!(
                    section.contains("overflow-checks = true"),
                    "{manifest:?}: {header} must set overflow-checks = true"
                );
            }
        }
    }

    /// Every input that once crashed a fuzz target, replayed.
    #[test]
    fn past_fuzz_crashes_stay_fixed() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/regressions");
        type Target = (&'static str, fn(&[u8]));
        let targets: [Target; 3] = [
            ("sync", super::sync),
            ("doc_read", super::doc_read),
            ("doc_expr", super::doc_expr),
        ];
        let mut replayed = 0;
        for (name, run) in targets {
            let dir = root.join(name);
            let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{dir:?}: {e}"));
            for entry in entries {
                let path = entry.map(|e| e.path()).unwrap_or_else(|e| panic!("{e}"));
                let data = std::fs::read(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
                run(&data);
                replayed += 1;
            }
        }
        assert!(replayed >= 5, "only {replayed} regression inputs found");
    }
}
