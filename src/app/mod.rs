//! Composition: the context made once per process, the pipeline steps every command
//! shares, the commands, the daemon, the act stage and `/metrics`, wiring the pure core to
//! the outside systems.

pub mod act;
pub mod cli;
pub mod collect;
pub mod context;
pub mod daemon;
pub mod metrics;
pub mod pipeline;
