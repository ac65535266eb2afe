//! kube-reclaimer: namespace lifecycle and cost reclamation for Kubernetes.
//!
//! The pipeline runs one way: collect (Kubernetes API, Prometheus) → assess (pure) → plan
//! (pure) → act, report and export. The layers point down:
//!
//! - [`core`]: the decisions, pure functions over plain data (no I/O, no async);
//! - [`render`]: the e-mails and reports as text and HTML, from templates;
//! - [`io`]: one outside system per file, deciding nothing;
//! - [`app`]: composition: the commands, the daemon, the act stage, `/metrics`.
//!
//! `app` may use the three others; `render` and `io` only `core`; `core` only itself
//! (checked by `tests/layering.rs`).

#![forbid(unsafe_code)]
#![deny(rust_2018_idioms)]

pub mod app;
pub mod core;
pub mod io;
pub mod render;
