//! Test support for integration tests and examples: declarative scenarios, their metrics
//! history as OpenMetrics, applying them to the bed's apiserver, and the bed itself.
//!
//! Include with `mod support;` from `tests/*.rs`, or with
//! `#[path = "../tests/support/mod.rs"] mod support;` from `examples/*.rs`. Uses only the
//! crate's dependencies (kube, k8s-openapi, tokio, serde, serde_json, serde-saphyr,
//! chrono, anyhow).

#![allow(dead_code, unused_imports)]

pub mod apply;
pub mod bed;
pub mod csv;
pub mod dashboards;
pub mod measure;
pub mod metrics;
pub mod own_prometheus;
pub mod proxy;
pub mod scenario;
pub mod stores;

pub use bed::{Bed, BedOptions, Bulk};
pub use scenario::{Expect, IdleVerdict, Scenario};
