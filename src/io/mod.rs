//! Adapters to the outside systems, one per file; they read and write and decide nothing.

pub mod cluster;
pub mod kubernetes;
pub mod ledger;
pub mod lease;
pub mod prometheus;
