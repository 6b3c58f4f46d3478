//! Qollab quantum engine.
