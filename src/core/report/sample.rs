//! A small report with every section filled, which operator templates are rendered
//! against when they are loaded (so a broken template is refused at start, not on the
//! day the report goes out).

use crate::core::collected::{Collected, SourceReport, SourceStatus, Sources};
use crate::core::config::{Config, Email, Owners, ReclaimBy};
use crate::core::ledger::{Entry, Ledger};
use crate::core::model::{
    rfc3339, NamespaceMeta, Observation, QuotaObservation, Sample, Usage, Workload, GIB,
};
use crate::core::plan::Reason;
use crate::core::report::Reports;
use chrono::{DateTime, TimeDelta, Utc};
use std::collections::BTreeMap;

/// A small report run with every section filled: a team's namespace that expires in two
/// days, one without a team whose usage is unknown and whose expiry is past, and a
/// reclamation of the day before. The report templates are checked with it when they
/// are loaded.
pub fn sample() -> (Reports, Config) {
    let config = sample_config();
    let at = DateTime::<Utc>::UNIX_EPOCH + TimeDelta::days(20_000);
    let mut unknown =
        sample_namespace(&config, at, "sample-unknown", None, at - TimeDelta::days(1));
    unknown.usage = Usage::unavailable("connection refused");
    let ok = SourceReport {
        status: SourceStatus::Ok,
        requests: 1,
        problems: Vec::new(),
    };
    let collected = Collected {
        observations: vec![
            sample_namespace(
                &config,
                at,
                "sample-a",
                Some("payments"),
                at + TimeDelta::days(2),
            ),
            unknown,
        ],
        opencost: None,
        sources: Sources {
            kubernetes: ok.clone(),
            prometheus: ok,
            prometheus_series: Vec::new(),
        },
        pods_seen: 4,
    };
    let evaluation = crate::core::evaluate::evaluate(collected, &config, at);
    let ledger = Ledger::of(
        "reclaimed.jsonl",
        vec![Entry {
            at: at - TimeDelta::days(1),
            namespace: "sample-old".into(),
            uid: "uid-old".into(),
            team: Some("payments".into()),
            cause: Reason::Idle,
            by: ReclaimBy::Delete,
            tombstone: Some("/tombstones/sample-old.yaml".into()),
            requested_cost_per_hour: Some(0.05),
            currency: "USD".into(),
        }],
    );
    (
        crate::core::report::build(&evaluation, &ledger, &config),
        config,
    )
}

/// The sample's config: the defaults, with one team and a fallback recipient.
fn sample_config() -> Config {
    Config {
        owners: Owners {
            teams: [(
                "payments".to_string(),
                vec![Email::new_unchecked("pay@example.com")],
            )]
            .into(),
            fallback_recipients: vec![Email::new_unchecked("platform@example.com")],
            ..Default::default()
        },
        ..Config::default()
    }
}

/// A namespace of the sample, created 30 days before `at`, expiring at `expires`: two
/// pods requesting 2 cores and 4 GiB, using little, under a quota of 4 cores and 8 GiB.
fn sample_namespace(
    config: &Config,
    at: DateTime<Utc>,
    name: &str,
    team: Option<&str>,
    expires: DateTime<Utc>,
) -> Observation {
    let mut labels = BTreeMap::new();
    if let Some(t) = team {
        labels.insert(config.keys.team.clone(), t.to_string());
    }
    let annotations = BTreeMap::from([(config.keys.expires.clone(), rfc3339(expires))]);
    Observation {
        namespace: NamespaceMeta {
            name: name.into(),
            uid: format!("uid-{name}"),
            created_at: at - TimeDelta::days(30),
            labels,
            annotations,
            deleting_since: None,
        },
        workload: Some(Workload {
            pods: 2,
            cpu_request_cores: 2.0,
            memory_request_bytes: 4.0 * GIB,
        }),
        quotas: Some(vec![QuotaObservation {
            name: "compute".into(),
            cpu_hard_cores: Some(4.0),
            cpu_used_cores: Some(2.0),
            memory_hard_bytes: Some(8.0 * GIB),
            memory_used_bytes: None,
        }]),
        volumes: Some(Default::default()),
        usage: Usage {
            cpu_quantile_cores: Sample::Value { value: 0.1 },
            cpu_max_cores: Sample::Value { value: 0.2 },
            memory_bytes: Sample::Value { value: 1e8 },
            network_max_bytes_per_second: Sample::Value { value: 5000.0 },
            history_since: Some(at - TimeDelta::days(30)),
            history_missing: None,
        },
    }
}
