//! Adapters to the outside systems, one per file; they read and write and decide nothing.

pub mod cluster;
pub mod config_file;
pub mod kubernetes;
pub mod lease;
pub mod ledger;
pub mod prometheus;
pub mod smtp;
