//! The export stage: what the daemon shows the outside world after each cycle. So far the
//! Prometheus metrics served at `/metrics` ([`metrics`]), for showback dashboards
//! (`dashboards/`) and alerts.

pub mod metrics;
