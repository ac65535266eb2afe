//! `plan` and `explain` end to end: the real binary against the shared test bed (a real
//! kube-apiserver with the sample cluster, a real Prometheus with its metrics history),
//! checked against the scenario's ground truth.

use crate::support::{Bed, IdleVerdict};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

const CPU_PRICE: f64 = 0.031611;
const MEM_PRICE: f64 = 0.004237;
const GIB: f64 = 1024.0 * 1024.0 * 1024.0;

fn config_path() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/scenarios/sample-config.yaml")
        .display()
        .to_string()
}

/// Runs the binary against the bed; returns (stdout, stderr), failing on a non-zero exit.
fn reclaimer(bed: &Bed, args: &[&str], prometheus_url: &str) -> (String, String) {
    reclaimer_with(bed, args, prometheus_url, &config_path())
}

/// The sample config with OpenCost pricing, written once per test binary.
fn opencost_config() -> String {
    let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join("sample-config-opencost.yaml");
    let sample = std::fs::read_to_string(config_path()).expect("sample config");
    assert!(!sample.contains("pricing:"), "the sample sets no prices");
    std::fs::write(&path, format!("{sample}pricing:\n  source: opencost\n")).expect("write");
    path.display().to_string()
}

fn reclaimer_with(
    bed: &Bed,
    args: &[&str],
    prometheus_url: &str,
    config: &str,
) -> (String, String) {
    let at = bed.at.to_rfc3339();
    let mut all: Vec<&str> = args.to_vec();
    all.extend([
        "--config",
        config,
        "--at",
        &at,
        "--prometheus-url",
        prometheus_url,
    ]);
    let out = Command::new(env!("CARGO_BIN_EXE_kube-reclaimer"))
        .args(&all)
        .env("KUBECONFIG", &bed.kubeconfig)
        .output()
        .expect("the binary runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success(),
        "kube-reclaimer {all:?} failed:\n{stderr}"
    );
    (stdout, stderr)
}

fn plan(bed: &Bed, prometheus_url: &str) -> (Value, String) {
    plan_with(bed, prometheus_url, &config_path())
}

/// `plan --output json` of the real binary with `config`, against the bed's cluster and
/// `prometheus_url`.
pub(crate) fn plan_with(bed: &Bed, prometheus_url: &str, config: &str) -> (Value, String) {
    let (stdout, stderr) =
        reclaimer_with(bed, &["plan", "--output", "json"], prometheus_url, config);
    (
        serde_json::from_str(&stdout).expect("plan prints JSON"),
        stderr,
    )
}

/// The plan's namespaces by name.
pub(crate) fn by_name(plan: &Value) -> BTreeMap<String, Value> {
    plan["namespaces"]
        .as_array()
        .expect("namespaces")
        .iter()
        .map(|n| {
            (
                n["name"].as_str().unwrap_or_default().to_string(),
                n.clone(),
            )
        })
        .collect()
}

/// The kinds of a namespace's actions, in order.
pub(crate) fn kinds(n: &Value) -> Vec<String> {
    n["actions"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|x| x["kind"].as_str().unwrap_or("?").to_string())
                .collect()
        })
        .unwrap_or_default()
}

fn verdict(v: IdleVerdict) -> &'static str {
    match v {
        IdleVerdict::Idle => "idle",
        IdleVerdict::Active => "active",
        IdleVerdict::Unknown => "unknown",
    }
}

/// The namespaces whose idle verdict, rightsizing flags, state, actions or recipients
/// differ from what the scenario declares, one line each.
pub(crate) fn verdicts_that_differ(bed: &Bed, plan: &Value) -> Vec<String> {
    let namespaces = by_name(plan);
    let mut wrong = Vec::new();
    for spec in &bed.scenario.namespaces {
        let Some(n) = namespaces.get(&spec.name) else {
            wrong.push(format!("{}: missing from the plan", spec.name));
            continue;
        };
        let e = &spec.expect;
        let got = (
            n["idle"]["verdict"].as_str().unwrap_or("?"),
            n["rightsizing"]["cpu"]["flagged"].as_bool(),
            n["rightsizing"]["memory"]["flagged"].as_bool(),
            n["state"].as_str().unwrap_or("?"),
            kinds(n),
        );
        let want = (
            verdict(e.idle),
            Some(e.cpu_flagged),
            Some(e.memory_flagged),
            e.state.as_str(),
            e.actions.clone(),
        );
        if let Some(recipients) = e.extra.get("recipients") {
            let told = n["actions"].get(0).map(|a| &a["recipients"]);
            if told != Some(recipients) {
                wrong.push(format!(
                    "{}: recipients {told:?}, want {recipients}",
                    spec.name
                ));
            }
        }
        if got != want {
            wrong.push(format!(
                "{}:\n    want {want:?}\n    got  {got:?}\n    idle: {}",
                spec.name, n["idle"]["summary"]
            ));
        }
    }
    wrong
}

#[test]
fn every_archetype_gets_the_verdicts_its_scenario_declares() {
    let bed = Bed::shared();
    let (plan, _) = plan(bed, &bed.prometheus_url);
    let wrong = verdicts_that_differ(bed, &plan);
    assert!(
        wrong.is_empty(),
        "{} namespace(s) differ:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

#[test]
fn a_fixed_number_of_promql_queries_whatever_the_cluster_size() {
    let bed = Bed::shared();
    let (plan, stderr) = plan(bed, &bed.prometheus_url);
    assert_eq!(plan["sources"]["prometheus"]["status"], "ok", "{stderr}");
    // Four recording-rule checks (auto, the default), four statistics, two coverage.
    assert_eq!(plan["summary"]["promql_queries"], 10);
    assert_eq!(plan["sources"]["kubernetes"]["status"], "ok");
    assert!(stderr.contains("10 PromQL queries"), "{stderr}");
    // The bed's Prometheus has no recording rules: every statistic reads raw series.
    let series = plan["sources"]["prometheus_series"]
        .as_array()
        .expect("prometheus_series");
    assert_eq!(series.len(), 4, "{series:?}");
    assert!(series.iter().all(|s| s["series"] == "raw"), "{series:?}");
    assert!(
        stderr.contains("statistics read from: CPU quantile: raw, CPU maximum: raw, memory: raw, network maximum: raw"),
        "{stderr}"
    );
}

#[test]
fn cost_per_hour_matches_the_requests_priced_by_hand() {
    let bed = Bed::shared();
    let (plan, _) = plan(bed, &bed.prometheus_url);
    let namespaces = by_name(&plan);
    for spec in &bed.scenario.namespaces {
        let n = &namespaces[&spec.name];
        let (mut cores, mut bytes) = (0.0, 0.0);
        for pod in spec.pods.iter().filter(|p| p.phase.holds_resources()) {
            for c in &pod.containers {
                let q = |v: &Option<String>| {
                    v.as_deref().map_or(0.0, |t| {
                        crate::support::scenario::quantity(t).expect("quantity")
                    })
                };
                cores += q(&c.cpu_request) * f64::from(pod.replicas);
                bytes += q(&c.memory_request) * f64::from(pod.replicas);
            }
        }
        let expected = cores * CPU_PRICE + bytes / GIB * MEM_PRICE;
        let got = n["cost"]["requested_per_hour"]
            .as_f64()
            .expect("requested cost known");
        assert!(
            (got - expected).abs() < 1e-9,
            "{}: {got} != {expected}",
            spec.name
        );
        assert!(
            (n["rightsizing"]["cpu"]["requested_cores"]
                .as_f64()
                .unwrap_or(-1.0)
                - cores)
                .abs()
                < 1e-9,
            "{}",
            spec.name
        );
        // Waste is requested minus used, never negative, when usage is known.
        if let (Some(idle), Some(used)) = (
            n["cost"]["waste_per_hour"].as_f64(),
            n["cost"]["used_per_hour"].as_f64(),
        ) {
            let used_cores = n["rightsizing"]["cpu"]["used_cores"]
                .as_f64()
                .unwrap_or(0.0);
            let used_bytes = n["rightsizing"]["memory"]["used_bytes"]
                .as_f64()
                .unwrap_or(0.0);
            let by_hand = (cores - used_cores).max(0.0) * CPU_PRICE
                + (bytes - used_bytes).max(0.0) / GIB * MEM_PRICE;
            assert!(
                (idle - by_hand).abs() < 1e-9,
                "{}: idle {idle} != {by_hand}",
                spec.name
            );
            assert!((used - (used_cores * CPU_PRICE + used_bytes / GIB * MEM_PRICE)).abs() < 1e-9);
        }
    }
}

#[test]
fn opencost_prices_are_averaged_over_nodes_and_used_for_every_cost() {
    let bed = Bed::shared();
    let config = opencost_config();
    let (stdout, _) = reclaimer_with(
        bed,
        &["plan", "--output", "json"],
        &bed.prometheus_url,
        &config,
    );
    let plan: Value = serde_json::from_str(&stdout).expect("plan prints JSON");
    // The bed's three nodes cost 0.04, 0.05, 0.06 per vCPU-hour and 0.005, 0.006, 0.007
    // per GiB-hour.
    let prices = &plan["prices"];
    assert_eq!(prices["source"], "opencost", "{prices}");
    let cpu = prices["cpu_per_vcpu_hour"].as_f64().expect("cpu price");
    let mem = prices["memory_per_gib_hour"]
        .as_f64()
        .expect("memory price");
    assert!(
        (cpu - 0.05).abs() < 1e-9 && (mem - 0.006).abs() < 1e-9,
        "{prices}"
    );
    assert_eq!(
        plan["sources"]["prometheus"]["requests"], 12,
        "10 + 2 price queries"
    );
    let defaults = by_name(&plan_default(bed));
    // Other tests reclaim namespaces meanwhile: compare those present in both runs.
    for (name, n) in by_name(&plan) {
        let Some(d) = defaults.get(&name).map(|d| &d["rightsizing"]) else {
            continue;
        };
        let (Some(cores), Some(bytes)) = (
            d["cpu"]["requested_cores"].as_f64(),
            d["memory"]["requested_bytes"].as_f64(),
        ) else {
            continue;
        };
        let got = n["cost"]["requested_per_hour"].as_f64().expect("known");
        let expected = cores * cpu + bytes / GIB * mem;
        assert!((got - expected).abs() < 1e-9, "{name}: {got} != {expected}");
    }

    // Without Prometheus the configured prices stand in, and the output says so.
    let (stdout, _) = reclaimer_with(
        bed,
        &["plan", "--output", "json"],
        "http://127.0.0.1:9",
        &config,
    );
    let plan: Value = serde_json::from_str(&stdout).expect("plan prints JSON");
    assert_eq!(plan["prices"]["source"], "config");
    assert_eq!(plan["prices"]["cpu_per_vcpu_hour"], CPU_PRICE);
    assert!(
        plan["prices"]["fallback"]
            .as_str()
            .is_some_and(|f| f.contains("OpenCost prices unavailable")),
        "{}",
        plan["prices"]
    );
}

fn plan_default(bed: &Bed) -> Value {
    plan(bed, &bed.prometheus_url).0
}

#[test]
fn prometheus_down_makes_usage_unknown_and_never_idle() {
    let bed = Bed::shared();
    let (plan, stderr) = plan(bed, "http://127.0.0.1:9");
    assert_eq!(plan["sources"]["prometheus"]["status"], "unavailable");
    assert!(stderr.contains("Prometheus unavailable"), "{stderr}");
    for n in plan["namespaces"].as_array().expect("namespaces") {
        let name = n["name"].as_str().unwrap_or("?");
        assert_eq!(n["idle"]["verdict"], "unknown", "{name}");
        assert_eq!(n["rightsizing"]["cpu"]["flagged"], false, "{name}");
        assert!(n["rightsizing"]["cpu"]["used_cores"].is_null(), "{name}");
        for a in n["actions"].as_array().into_iter().flatten() {
            let idle_based = matches!(a["kind"].as_str(), Some("mark") | Some("reclaim"))
                && a["reason"] == "idle";
            assert!(!idle_based, "{name}: {a}");
        }
    }
    // Expiry still works without Prometheus: the expired namespace is still marked.
    let expired = by_name(&plan);
    let marks: Vec<&String> = expired
        .iter()
        .filter(|(_, n)| kinds(n).contains(&"mark".to_string()))
        .map(|(k, _)| k)
        .collect();
    assert!(
        !marks.is_empty(),
        "expiry-based marks do not depend on Prometheus"
    );
}

#[test]
fn plan_writes_nothing_to_the_cluster() {
    let bed = Bed::shared();
    let versions = || -> BTreeMap<String, String> {
        bed.block_on(async {
            let api: kube::Api<k8s_openapi::api::core::v1::Namespace> =
                kube::Api::all(bed.client.clone());
            let list = api
                .list(&Default::default())
                .await
                .expect("list namespaces");
            list.items
                .into_iter()
                .map(|ns| {
                    (
                        ns.metadata.name.unwrap_or_default(),
                        ns.metadata.resource_version.unwrap_or_default(),
                    )
                })
                // Only the sample's namespaces: other tests create their own meanwhile.
                .filter(|(name, _)| name.starts_with("sample-"))
                .collect()
        })
    };
    let before = versions();
    let _ = plan(bed, &bed.prometheus_url);
    assert_eq!(versions(), before);
}

#[test]
fn pagination_reads_the_same_cluster_in_small_pages() {
    let bed = Bed::shared();
    let (small, large) = bed.block_on(async {
        let at = bed.at;
        let small = kube_reclaimer::io::kubernetes::inventory(&bed.client, at, 3)
            .await
            .expect("paged");
        let large = kube_reclaimer::io::kubernetes::inventory(&bed.client, at, 500)
            .await
            .expect("one page");
        (small, large)
    });
    assert!(
        small.requests > large.requests,
        "{} vs {}",
        small.requests,
        large.requests
    );
    let names = |i: &kube_reclaimer::io::kubernetes::Inventory| {
        // Only the sample's namespaces: other tests create their own meanwhile.
        let mut n: Vec<String> = i
            .namespaces
            .iter()
            .map(|n| n.name.clone())
            .filter(|n| n.starts_with("sample-"))
            .collect();
        n.sort();
        n
    };
    assert_eq!(names(&small), names(&large));
    let w = |i: &kube_reclaimer::io::kubernetes::Inventory| {
        let mut v: Vec<(String, u32)> = i
            .workloads
            .as_ref()
            .expect("pods")
            .iter()
            .map(|(k, w)| (k.clone(), w.pods))
            .filter(|(k, _)| k.starts_with("sample-"))
            .collect();
        v.sort();
        v
    };
    assert_eq!(w(&small), w(&large));
}

#[test]
fn explain_says_where_every_number_comes_from() {
    let bed = Bed::shared();
    let name = bed
        .scenario
        .namespaces
        .iter()
        .find(|n| n.expect.cpu_flagged)
        .map(|n| n.name.clone())
        .expect("the sample has an over-provisioned namespace");
    let (text, _) = reclaimer(bed, &["explain", &name], &bed.prometheus_url);
    for needle in [
        format!("Namespace {name}"),
        "(pod specs,".to_string(),
        "(Prometheus)".to_string(),
        "flagged; recommended request".to_string(),
        "Cost per hour (USD 0.031611 per vCPU-hour".to_string(),
        "Sources: Kubernetes ok".to_string(),
        "Prometheus ok (10 queries)".to_string(),
        "  - CPU quantile: raw series (namespace:container_cpu_usage_seconds:sum_rate5m does not cover the 7d window)".to_string(),
    ] {
        assert!(text.contains(&needle), "explain lacks {needle:?}:\n{text}");
    }
    let (json, _) = reclaimer(
        bed,
        &["explain", &name, "--output", "json"],
        &bed.prometheus_url,
    );
    let json: Value = serde_json::from_str(&json).expect("JSON");
    assert_eq!(json["namespace"]["name"], name.as_str());
    assert_eq!(json["namespace"]["rightsizing"]["cpu"]["flagged"], true);
}

#[test]
fn explain_of_an_unknown_namespace_says_so() {
    let bed = Bed::shared();
    let out = Command::new(env!("CARGO_BIN_EXE_kube-reclaimer"))
        .args([
            "explain",
            "no-such-namespace",
            "--config",
            &config_path(),
            "--prometheus-url",
            &bed.prometheus_url,
        ])
        .env("KUBECONFIG", &bed.kubeconfig)
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("namespace `no-such-namespace` not found")
    );
}

/// A kubeconfig for a service account that may list namespaces and quotas, not pods.
fn kubeconfig_without_pods(bed: &Bed) -> std::path::PathBuf {
    use k8s_openapi::api::authentication::v1::TokenRequest;
    use k8s_openapi::api::core::v1::ServiceAccount;
    use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding};
    let env = std::fs::read_to_string(bed.state_dir.join("env")).expect("bed env file");
    let var = |name: &str| {
        env.lines()
            .find_map(|l| l.strip_prefix(&format!("{name}=")))
            .unwrap_or_else(|| panic!("{name} in the bed's env file"))
            .to_string()
    };
    let (server, ca) = (
        var("KUBE_RECLAIMER_BED_API_URL"),
        var("KUBE_RECLAIMER_BED_CA"),
    );
    let token = bed.block_on(async {
        let pp = kube::api::PostParams::default();
        let client = bed.client.clone();
        let role: ClusterRole = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "e2e-no-pods"},
            "rules": [{"apiGroups": [""], "resources": ["namespaces", "resourcequotas"], "verbs": ["get", "list"]}]
        }))
        .expect("role");
        kube::Api::<ClusterRole>::all(client.clone()).create(&pp, &role).await.expect("create role");
        let binding: ClusterRoleBinding = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "e2e-no-pods"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "e2e-no-pods"},
            "subjects": [{"kind": "ServiceAccount", "name": "e2e-no-pods", "namespace": "default"}]
        }))
        .expect("binding");
        kube::Api::<ClusterRoleBinding>::all(client.clone()).create(&pp, &binding).await.expect("create binding");
        let accounts = kube::Api::<ServiceAccount>::namespaced(client, "default");
        let account: ServiceAccount = serde_json::from_value(serde_json::json!({"metadata": {"name": "e2e-no-pods"}})).expect("sa");
        accounts.create(&pp, &account).await.expect("create service account");
        let request: TokenRequest = serde_json::from_value(serde_json::json!({"spec": {"audiences": [], "expirationSeconds": 3600}})).expect("token request");
        let issued: TokenRequest = accounts
            .create_subresource("token", "e2e-no-pods", &pp, &request)
            .await
            .expect("request a token");
        issued.status.expect("token status").token
    });
    let path = bed.state_dir.join("no-pods.kubeconfig");
    let yaml = format!(
        "apiVersion: v1\nkind: Config\nclusters: [{{name: bed, cluster: {{server: \"{server}\", certificate-authority: \"{ca}\"}}}}]\n\
         users: [{{name: no-pods, user: {{token: \"{token}\"}}}}]\n\
         contexts: [{{name: no-pods, context: {{cluster: bed, user: no-pods}}}}]\ncurrent-context: no-pods\n"
    );
    std::fs::write(&path, yaml).expect("write kubeconfig");
    path
}

#[test]
fn pods_that_cannot_be_listed_leave_requests_unknown_and_are_never_taken_as_empty() {
    let bed = Bed::shared();
    let kubeconfig = kubeconfig_without_pods(bed);
    let at = bed.at.to_rfc3339();
    let config = config_path();
    let out = Command::new(env!("CARGO_BIN_EXE_kube-reclaimer"))
        .args(["plan", "--output", "json", "--config", &config, "--at", &at])
        .args(["--prometheus-url", &bed.prometheus_url])
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("cannot list pods"), "{stderr}");
    let plan: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let k8s = &plan["sources"]["kubernetes"];
    assert_eq!(k8s["status"], "partial");
    assert!(
        k8s["problems"][0]
            .as_str()
            .unwrap_or("")
            .contains("forbidden"),
        "{k8s}"
    );
    let namespaces = by_name(&plan);
    for (name, n) in &namespaces {
        assert!(n["pods"].is_null(), "{name}");
        assert!(
            n["rightsizing"]["cpu"]["requested_cores"].is_null(),
            "{name}"
        );
        assert!(n["cost"]["requested_per_hour"].is_null(), "{name}");
    }
    // With pods unknown, "no series" no longer proves an empty namespace unused.
    let empty = &namespaces["sample-empty"];
    assert_eq!(
        empty["idle"]["verdict"], "unknown",
        "{}",
        empty["idle"]["summary"]
    );
    assert!(!kinds(empty).contains(&"mark".to_string()));
}
