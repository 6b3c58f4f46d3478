//! Schema history.
