//! End-to-end tests against one shared test bed per run: a real kube-apiserver,
//! kube-controller-manager and etcd holding the sample cluster, and a real Prometheus with
//! its metrics history (see tests/bed/README.md). The bed starts on first use and stops
//! when this test binary exits.

#[path = "../support/mod.rs"]
mod support;

mod act;
mod bed_smoke;
mod daemon;
mod deploy;
mod fleet;
mod plan;
mod prometheus_gaps;
mod recording_rules;
mod report;
mod run;
