//! `qollab-shared`: the vocabulary the server, the client and the engine speak.
//!
//! Pure data and pure logic only: no I/O, no actix, no sea-orm.

pub mod analysis;
pub mod analytics;
pub mod api;
pub mod circuit;
pub mod doc;
pub mod error;
pub mod events;
#[doc(hidden)]
pub mod fuzzing;
pub mod notify;
pub mod progress;
pub mod quest;
pub mod sync;
pub mod validate;
