//! REST request/response types.
