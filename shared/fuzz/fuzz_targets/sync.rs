//! Feeds arbitrary frames to the sans-IO y-websocket core as a read-write peer would,
//! applying every update it lets through, then reads the document: nothing may panic.
//! The input is split into frames by a leading length byte each.
#![no_main]

use libfuzzer_sys::fuzz_target;
use qollab_shared::doc;
use qollab_shared::sync::{Access, Connection, Inbound};
use yrs::Doc;
use yrs::sync::Awareness;

fuzz_target!(|data: &[u8]| {
    let mut awareness = Awareness::new(Doc::with_client_id(1));
    let mut peer = Connection::new(Access::ReadWrite);
    let _ = peer.start(&awareness);
    let mut rest = data;
    while let Some((&len, tail)) = rest.split_first() {
        let n = (len as usize).min(tail.len());
        let (frame, next) = tail.split_at(n);
        rest = next;
        if let Ok(Inbound::Update(update)) = peer.handle_frame(&mut awareness, frame) {
            let _ = update.apply(awareness.doc());
        }
    }
    let read = doc::read(awareness.doc());
    let _ = doc::stats(&read.circuit);
    let _ = peer.close(&mut awareness);
});
