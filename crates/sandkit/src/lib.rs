//! sandkit: an E2B-compatible sandbox SDK.
pub mod wire;
