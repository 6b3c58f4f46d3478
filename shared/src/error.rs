//! Wire error codes.
