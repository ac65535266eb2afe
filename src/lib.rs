//! kube-reclaimer: namespace lifecycle and cost reclamation for Kubernetes.
//!
//! The pipeline runs one way: **collect** (Kubernetes API, Prometheus) → [`assess`]
//! (pure) → [`plan`] (pure) → **act** and [`report`]. [`model`] holds the plain data the
//! stages exchange; [`config`] the validated configuration.

#![forbid(unsafe_code)]
#![deny(rust_2018_idioms)]

pub mod act;
pub mod assess;
pub mod cli;
pub mod collect;
pub mod config;
pub mod daemon;
pub mod evaluate;
pub mod export;
pub mod model;
pub mod plan;
pub mod report;
pub mod templates;

#[cfg(test)]
mod fixtures;
