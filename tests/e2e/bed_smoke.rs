//! Proof that the test bed works: the sample scenario is in the real apiserver, and the
//! real Prometheus answers the product's five queries at `at` with what the scenario
//! declares, pod-level (`container=""`) series present but filtered out.

use crate::support::Bed;
use chrono::{DateTime, Duration, Utc};
use k8s_openapi::api::core::v1::{Namespace, Pod, ResourceQuota};
use kube::api::ListParams;
use kube::{Api, ResourceExt};
use prometheus_http_query::response::Data;
use std::collections::HashMap;

const CONTAINERS: &str = r#"container!="", container!="POD""#;

fn product_queries() -> [String; 5] {
    let cpu_rate =
        format!("sum by (namespace) (rate(container_cpu_usage_seconds_total{{{CONTAINERS}}}[5m]))");
    [
        format!("quantile_over_time(0.95, {cpu_rate}[7d:5m])"),
        format!("max_over_time({cpu_rate}[7d:5m])"),
        format!(
            "max_over_time(sum by (namespace) (container_memory_working_set_bytes{{{CONTAINERS}}})[7d:5m])"
        ),
        "max_over_time((sum by (namespace) (rate(container_network_receive_bytes_total[5m])) \
         + sum by (namespace) (rate(container_network_transmit_bytes_total[5m])))[7d:5m])"
            .to_string(),
        format!("count(container_cpu_usage_seconds_total{{{CONTAINERS}}})"),
    ]
}

async fn query(
    prom: &prometheus_http_query::Client,
    q: &str,
    at: DateTime<Utc>,
) -> HashMap<String, f64> {
    let data = prom
        .query(q)
        .at(at.timestamp())
        .post()
        .await
        .unwrap_or_else(|e| panic!("query `{q}` at {at}: {e}"))
        .into_inner()
        .0;
    let Data::Vector(vector) = data else {
        panic!("`{q}`: not an instant vector")
    };
    vector
        .into_iter()
        .map(|v| {
            let (labels, sample) = v.into_inner();
            (
                labels.get("namespace").cloned().unwrap_or_default(),
                sample.value(),
            )
        })
        .collect()
}

fn close(actual: f64, expected: f64, relative: f64, absolute: f64) -> bool {
    (actual - expected).abs() <= expected.abs() * relative + absolute
}

#[test]
fn sample_scenario_is_served_by_the_apiserver_and_prometheus() {
    let bed = Bed::shared();
    let at = bed.at;
    let scenario = &bed.scenario;
    let client = bed.client.clone();
    let url = bed.prometheus_url.clone();
    bed.block_on(async move {
        // ---- Kubernetes
        let namespaces: Api<Namespace> = Api::all(client.clone());
        let listed = namespaces.list(&ListParams::default()).await.expect("list namespaces");
        let sample: Vec<&Namespace> = listed
            .items
            .iter()
            .filter(|n| n.metadata.name.as_deref().is_some_and(|n| n.starts_with("sample-")))
            .collect();
        assert_eq!(sample.len(), scenario.namespaces.len(), "sample namespaces");
        let expired = namespaces.get("sample-expired").await.expect("sample-expired");
        let expected_date = (at - Duration::days(3)).format("%Y-%m-%d").to_string();
        assert_eq!(
            expired.labels().get("kube-reclaimer.io/expires"),
            Some(&expected_date)
        );
        let phase = |p: &Pod| p.status.as_ref().and_then(|s| s.phase.clone());
        let busy: Api<Pod> = Api::namespaced(client.clone(), "sample-busy");
        assert_eq!(
            phase(&busy.get("web-0").await.expect("web-0")).as_deref(),
            Some("Running")
        );
        let batch: Api<Pod> = Api::namespaced(client.clone(), "sample-batch");
        assert_eq!(
            phase(&batch.get("migrate").await.expect("migrate")).as_deref(),
            Some("Succeeded")
        );
        assert_eq!(
            phase(&batch.get("report").await.expect("report")).as_deref(),
            Some("Failed")
        );
        let all_pods: Api<Pod> = Api::all(client.clone());
        let pods = all_pods.list(&ListParams::default()).await.expect("list pods");
        // Other tests on the shared bed add pods of their own, in their own namespaces.
        let scenario_pods = pods
            .items
            .iter()
            .filter(|p| {
                p.metadata
                    .namespace
                    .as_deref()
                    .is_some_and(|ns| scenario.namespace(ns).is_some())
            })
            .count();
        assert_eq!(scenario_pods, scenario.pods().len());
        // the quota controller fills status.used (bounded wait)
        let quotas: Api<ResourceQuota> = Api::namespaced(client.clone(), "sample-quota");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            let q = quotas.get("compute").await.expect("quota");
            let used = q
                .status
                .and_then(|s| s.used)
                .and_then(|u| u.get("requests.cpu").map(|v| v.0.clone()));
            if used.as_deref() == Some("1") {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "quota status.used.requests.cpu is {used:?}, want 1"
            );
            tokio::time::sleep(std::time::Duration::from_millis(250)).await;
        }

        // ---- Prometheus: the five product queries
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(30))
            .build()
            .expect("http client");
        let prom = prometheus_http_query::Client::from(http, &url).expect("prometheus client");
        let [q_p95, q_max, q_mem, q_net, q_count] = product_queries();
        let (p95, cpu_max, memory, network) = (
            query(&prom, &q_p95, at).await,
            query(&prom, &q_max, at).await,
            query(&prom, &q_mem, at).await,
            query(&prom, &q_net, at).await,
        );
        let window = Duration::days(7);
        let check = |what: &str,
                     answers: &HashMap<String, f64>,
                     ns: &str,
                     expected: Option<f64>,
                     rel: f64,
                     abs: f64| {
            // shown with --nocapture or on failure
            eprintln!(
                "{ns:<26} {what:<12} prometheus {:>14} scenario {:>14}",
                answers.get(ns).map_or("-".into(), |v| format!("{v:.6}")),
                expected.map_or("-".into(), |v| format!("{v:.6}"))
            );
            match (answers.get(ns), expected) {
                (Some(a), Some(e)) => assert!(
                    close(*a, e, rel, abs),
                    "{ns} {what}: Prometheus {a}, scenario {e}"
                ),
                (None, None) => {}
                (a, e) => panic!("{ns} {what}: Prometheus {a:?}, scenario {e:?}"),
            }
        };
        for ns in &scenario.namespaces {
            let e = scenario.expected_usage(&ns.name, at, window);
            check("cpu p95", &p95, &ns.name, e.cpu_p95, 0.10, 0.0005);
            check("cpu max", &cpu_max, &ns.name, e.cpu_max, 0.10, 0.0005);
            check("memory max", &memory, &ns.name, e.memory_max, 0.01, 1.0);
            check("network max", &network, &ns.name, e.network_max, 0.10, 5.0);
        }
        // the idle thresholds as the scenario means them
        for (ns, idle_cpu, idle_net) in [("sample-idle", true, true), ("sample-bursty-cpu", false, true), ("sample-bursty-net", true, false)] {
            assert_eq!(cpu_max[ns] < 0.01, idle_cpu, "{ns} cpu max {}", cpu_max[ns]);
            assert_eq!(network[ns] < 1024.0, idle_net, "{ns} network max {}", network[ns]);
        }
        assert!(!p95.contains_key("sample-empty") && !network.contains_key("sample-empty"));

        // query 5: history reaches back over the window, not beyond the history
        let count = query(&prom, &q_count, at - window).await;
        let series = count.get("").copied().unwrap_or(0.0);
        assert!(series > 0.0, "no CPU series at at-7d");
        let before = query(&prom, &q_count, at - scenario.history.0 - Duration::minutes(10)).await;
        assert!(before.is_empty(), "series before the history start: {before:?}");

        // pod-level series exist, and the product's filter leaves them out
        let pod_level = query(&prom, r#"count(container_cpu_usage_seconds_total{container=""})"#, at).await;
        assert!(pod_level.get("").copied().unwrap_or(0.0) > 0.0, "no container=\"\" series");
        let unfiltered = query(
            &prom,
            r#"sum by (namespace) (rate(container_cpu_usage_seconds_total{namespace="sample-overprovisioned"}[5m]))"#,
            at,
        )
        .await;
        let filtered = query(
            &prom,
            &format!("sum by (namespace) (rate(container_cpu_usage_seconds_total{{namespace=\"sample-overprovisioned\", {CONTAINERS}}}[5m]))"),
            at,
        )
        .await;
        let (u, f) = (unfiltered["sample-overprovisioned"], filtered["sample-overprovisioned"]);
        assert!(close(f, 0.3, 0.02, 0.0), "filtered {f}");
        assert!(close(u, 2.0 * f, 0.02, 0.0), "unfiltered {u} should double-count {f}");
    });
}
