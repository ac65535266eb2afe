//! deploy/ against the real apiserver, with the bed's own kubectl (same version):
//!
//! - `kubectl apply -k deploy/base` is accepted as it is;
//! - its RBAC lets the service account make every request the code makes, refuses a list
//!   of others (`kubectl auth can-i`), and its rules are exactly the expected set (a
//!   SelfSubjectRulesReview, less what any service account may do anyway);
//! - deploy/components/sleep (as deploy/sleep adds it) grants patch on the scale
//!   subresource of Deployments and StatefulSets and nothing else; deploy/base cannot scale;
//! - the real daemon, acting as that service account alone, runs whole enforce cycles:
//!   Lease, tombstone, deletion, events, mail, and sleep mode (with the sleep component),
//!   with no request refused;
//! - the pod passes the namespace's restricted Pod Security Standard, and a weakened copy
//!   does not;
//! - the ConfigMap is config/kube-reclaimer.yaml byte for byte, and the Deployment, the
//!   RBAC and the Service agree with what that configuration says;
//! - the Prometheus Operator overlay adds a ServiceMonitor on that Service and alerts that
//!   `promtool check rules` accepts and `promtool test rules` sees fire as intended; the
//!   recording rules are deploy/prometheus/rules.yaml's, which pass their own unit tests.

use crate::support::Bed;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, ApiResource};
use kube_reclaimer::core::config::Config;
use kube_reclaimer::io::cluster::{scalable_kinds, tombstone_kinds, EVENTS_NAMESPACE};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The daemon's service account, as the apiserver names it.
const ACCOUNT: &str = "system:serviceaccount:kube-reclaimer:kube-reclaimer";
/// A service account in the same namespace with no bindings: what any account may do.
const UNBOUND: &str = "system:serviceaccount:kube-reclaimer:e2e-unbound";
/// A namespace of the sample cluster, standing for any team's namespace.
const TEAM: &str = "sample-busy";
const CONFIG_KEY: &str = "kube-reclaimer.yaml";

fn repo(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// Runs `cmd`, feeding it `stdin`; every kubectl call that reaches the apiserver carries
/// `--request-timeout`, the others are local.
fn output(mut cmd: Command, stdin: Option<&str>) -> Output {
    let shown = format!("{cmd:?}");
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {shown}: {e}"));
    if let Some(mut pipe) = child.stdin.take() {
        if let Some(text) = stdin {
            pipe.write_all(text.as_bytes())
                .unwrap_or_else(|e| panic!("{shown}: cannot write stdin: {e}"));
        }
    }
    child
        .wait_with_output()
        .unwrap_or_else(|e| panic!("{shown}: {e}"))
}

fn succeed(cmd: Command, stdin: Option<&str>) -> String {
    let shown = format!("{cmd:?}");
    let out = output(cmd, stdin);
    assert!(
        out.status.success(),
        "{shown} failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn kubectl(bed: &Bed, args: &[&str]) -> Command {
    let mut cmd = bed.kubectl();
    cmd.args(args);
    cmd
}

/// `kubectl kustomize deploy/<dir>`, one JSON value per object.
fn render(bed: &Bed, dir: &str) -> Vec<Value> {
    let mut cmd = bed.kubectl();
    cmd.arg("kustomize").arg(repo(dir));
    let yaml = succeed(cmd, None);
    serde_saphyr::from_multiple::<Value>(&yaml)
        .unwrap_or_else(|e| panic!("kubectl kustomize {dir} printed no YAML objects: {e}"))
}

fn of_kind<'a>(objects: &'a [Value], kind: &str) -> Vec<&'a Value> {
    objects.iter().filter(|o| o["kind"] == kind).collect()
}

fn the<'a>(objects: &'a [Value], kind: &str, name: &str) -> &'a Value {
    let found: Vec<&Value> = of_kind(objects, kind)
        .into_iter()
        .filter(|o| o["metadata"]["name"] == name)
        .collect();
    assert_eq!(found.len(), 1, "one {kind} {name} in {objects:#?}");
    found[0]
}

fn str_of<'a>(value: &'a Value, what: &str) -> &'a str {
    value
        .as_str()
        .unwrap_or_else(|| panic!("{what} is not a string: {value}"))
}

/// The one ConfigMap of deploy/base: its name and its configuration text.
fn config_map(base: &[Value]) -> (String, String) {
    let maps = of_kind(base, "ConfigMap");
    assert_eq!(maps.len(), 1, "one ConfigMap");
    let data = maps[0]["data"].as_object().expect("the ConfigMap has data");
    assert_eq!(
        data.keys().collect::<Vec<_>>(),
        [CONFIG_KEY],
        "one key, the file's name"
    );
    (
        str_of(&maps[0]["metadata"]["name"], "ConfigMap name").to_string(),
        str_of(&data[CONFIG_KEY], "the configuration").to_string(),
    )
}

fn config(base: &[Value]) -> Config {
    let (_, text) = config_map(base);
    Config::from_yaml(&text, "the rendered ConfigMap").expect("the deployed configuration is valid")
}

/// deploy/base applied once per run; what `kubectl apply` wrote on stderr.
fn applied(bed: &Bed) -> &'static str {
    static APPLIED: OnceLock<String> = OnceLock::new();
    APPLIED.get_or_init(|| {
        let mut cmd = kubectl(bed, &["apply", "--request-timeout=30s", "-k"]);
        cmd.arg(repo("deploy/base"));
        let out = output(cmd, None);
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(
            out.status.success(),
            "kubectl apply -k deploy/base: {}{stderr}",
            String::from_utf8_lossy(&out.stdout)
        );
        // New bindings reach the authorizer through its informers: wait until each counts.
        let deadline = Instant::now() + Duration::from_secs(30);
        for ask in [
            "list namespaces",
            "create leases -n kube-reclaimer",
            "create events -n default",
        ] {
            while can_i(bed, ACCOUNT, ask).0 != "yes" {
                assert!(
                    Instant::now() < deadline,
                    "`{ask}` is not allowed 30 s after applying"
                );
                std::thread::sleep(Duration::from_millis(200));
            }
        }
        stderr
    })
}

/// `kubectl auth can-i <ask> --as <user>`: the answer and whether the exit code was 0.
fn can_i(bed: &Bed, user: &str, ask: &str) -> (String, bool) {
    let mut cmd = kubectl(
        bed,
        &["auth", "can-i", "--request-timeout=30s", "--as", user],
    );
    cmd.args(ask.split_whitespace());
    let out = output(cmd, None);
    (
        String::from_utf8_lossy(&out.stdout).trim().to_string(),
        out.status.success(),
    )
}

/// How kubectl names a resource: `deployments.apps`, or `pods` in the core group.
fn resource(ar: &ApiResource) -> String {
    if ar.group.is_empty() {
        ar.plural.clone()
    } else {
        format!("{}.{}", ar.plural, ar.group)
    }
}

/// Asks each question in parallel; returns those whose answer was not `expected`.
fn unexpected(bed: &Bed, asks: &[String], expected: bool) -> Vec<String> {
    let chunks: Vec<&[String]> = asks.chunks(asks.len().div_ceil(6).max(1)).collect();
    std::thread::scope(|s| {
        let handles: Vec<_> = chunks
            .into_iter()
            .map(|chunk| {
                s.spawn(move || {
                    chunk
                        .iter()
                        .filter_map(|ask| {
                            let (answer, exit_ok) = can_i(bed, ACCOUNT, ask);
                            let want = if expected { "yes" } else { "no" };
                            (answer != want || exit_ok != expected).then(|| {
                                format!("can-i {ask}: `{answer}` (exit code 0: {exit_ok})")
                            })
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("can-i thread"))
            .collect()
    })
}

#[test]
fn rbac_allows_every_request_the_daemon_makes() {
    let bed = Bed::shared();
    applied(bed);
    let config = config(&render(bed, "deploy/base"));
    let (own, lease) = (
        config.own_namespace.as_str(),
        config.daemon.lease_name.as_str(),
    );
    let mut asks: Vec<String> = vec![
        // collect: everything, page by page
        "list namespaces".into(),
        "list pods -A".into(),
        "list resourcequotas -A".into(),
        "list persistentvolumeclaims -A".into(),
        "list persistentvolumes".into(),
        // act: re-read, annotate, delete a namespace; events about it
        "get namespaces".into(),
        "patch namespaces".into(),
        "delete namespaces".into(),
        format!("create events -n {EVENTS_NAMESPACE}"),
        // the Lease, by name, in its own namespace
        format!("create leases -n {own}"),
        format!("get leases/{lease} -n {own}"),
        format!("update leases/{lease} -n {own}"),
    ];
    // the tombstone lists each of these in the namespace it saves
    asks.extend(
        tombstone_kinds()
            .iter()
            .map(|ar| format!("list {} -n {TEAM}", resource(ar))),
    );
    // sleep mode lists what it scales; scaling itself is deploy/components/sleep's
    for ar in scalable_kinds() {
        asks.push(format!("list {} -n {TEAM}", resource(&ar)));
    }
    assert_eq!(unexpected(bed, &asks, true), Vec::<String>::new());
}

#[test]
fn rbac_refuses_what_the_daemon_never_does() {
    let bed = Bed::shared();
    applied(bed);
    let config = config(&render(bed, "deploy/base"));
    let (own, lease) = (
        config.own_namespace.as_str(),
        config.daemon.lease_name.as_str(),
    );
    let asks: Vec<String> = [
        // Secrets, anywhere, any verb
        format!("get secrets -n {TEAM}"),
        format!("get secrets -n {own}"),
        "list secrets -A".into(),
        "watch secrets -A".into(),
        // pods: read only through list
        format!("create pods -n {TEAM}"),
        format!("delete pods -n {TEAM}"),
        format!("create pods --subresource=exec -n {TEAM}"),
        format!("get pods --subresource=log -n {TEAM}"),
        // the daemon lists every cycle, never watches
        "watch namespaces".into(),
        "watch pods -A".into(),
        // namespaces: never created, replaced or finalised
        "create namespaces".into(),
        "update namespaces".into(),
        "update namespaces --subresource=finalize".into(),
        // workloads: list for the tombstone; scaled only with deploy/components/sleep
        format!("get deployments.apps -n {TEAM}"),
        format!("delete deployments.apps -n {TEAM}"),
        format!("patch deployments.apps -n {TEAM}"),
        format!("patch statefulsets.apps -n {TEAM}"),
        format!("patch deployments.apps --subresource=scale -n {TEAM}"),
        format!("patch statefulsets.apps --subresource=scale -n {TEAM}"),
        format!("update statefulsets.apps --subresource=scale -n {TEAM}"),
        format!("patch daemonsets.apps -n {TEAM}"),
        format!("get configmaps -n {TEAM}"),
        // events: created in `default` only, core group only
        format!("create events -n {TEAM}"),
        format!("patch events -n {EVENTS_NAMESPACE}"),
        format!("create events.events.k8s.io -n {EVENTS_NAMESPACE}"),
        // Leases: only its own, only in its own namespace
        format!("list leases.coordination.k8s.io -n {own}"),
        format!("get leases.coordination.k8s.io/another -n {own}"),
        format!("update leases.coordination.k8s.io/another -n {own}"),
        format!("delete leases.coordination.k8s.io/{lease} -n {own}"),
        format!("create leases.coordination.k8s.io -n {EVENTS_NAMESPACE}"),
        format!("get leases.coordination.k8s.io/{lease} -n {TEAM}"),
        // no way to more rights
        "update clusterroles.rbac.authorization.k8s.io".into(),
        "create clusterrolebindings.rbac.authorization.k8s.io".into(),
        format!("create rolebindings.rbac.authorization.k8s.io -n {TEAM}"),
        "bind clusterroles.rbac.authorization.k8s.io".into(),
        format!("escalate roles.rbac.authorization.k8s.io -n {TEAM}"),
        "impersonate users".into(),
        "impersonate serviceaccounts -A".into(),
        format!("create serviceaccounts --subresource=token -n {own}"),
        "get nodes".into(),
        "* * -A".into(),
    ]
    .into_iter()
    .collect();
    assert_eq!(unexpected(bed, &asks, false), Vec::<String>::new());
}

/// One granted permission: (API group, resource, resource name or "", verb).
type Grant = (String, String, String, String);

/// What `user` may do in `namespace` (cluster-wide rules included), from a
/// SelfSubjectRulesReview: resource grants, one per verb and name, and non-resource rules.
fn rules(bed: &Bed, user: &str, namespace: &str) -> (BTreeSet<Grant>, BTreeSet<String>) {
    rules_with_groups(bed, user, &[], namespace)
}

/// [`rules`] for `user` impersonated with exactly `groups` (none: the user's own).
fn rules_with_groups(
    bed: &Bed,
    user: &str,
    groups: &[&str],
    namespace: &str,
) -> (BTreeSet<Grant>, BTreeSet<String>) {
    let review = json!({
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SelfSubjectRulesReview",
        "spec": {"namespace": namespace}
    });
    // --validate=false: client-side validation would look CRDs up as `user`
    let mut cmd = kubectl(
        bed,
        &[
            "create",
            "--request-timeout=30s",
            "--validate=false",
            "-o",
            "json",
            "-f",
            "-",
            "--as",
            user,
        ],
    );
    for group in groups {
        cmd.args(["--as-group", group]);
    }
    let out: Value =
        serde_json::from_str(&succeed(cmd, Some(&review.to_string()))).expect("the review as JSON");
    let status = &out["status"];
    assert_eq!(
        status["incomplete"], false,
        "{user} in {namespace}: {status}"
    );
    let strings = |v: &Value| -> Vec<String> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut grants = BTreeSet::new();
    for rule in status["resourceRules"].as_array().into_iter().flatten() {
        let names = match strings(&rule["resourceNames"]) {
            n if n.is_empty() => vec![String::new()],
            n => n,
        };
        for group in strings(&rule["apiGroups"]) {
            for res in strings(&rule["resources"]) {
                for name in &names {
                    for verb in strings(&rule["verbs"]) {
                        grants.insert((group.clone(), res.clone(), name.clone(), verb));
                    }
                }
            }
        }
    }
    let mut non_resource = BTreeSet::new();
    for rule in status["nonResourceRules"].as_array().into_iter().flatten() {
        for url in strings(&rule["nonResourceURLs"]) {
            for verb in strings(&rule["verbs"]) {
                non_resource.insert(format!("{verb} {url}"));
            }
        }
    }
    (grants, non_resource)
}

fn grant(group: &str, resource: &str, name: &str, verb: &str) -> Grant {
    (group.into(), resource.into(), name.into(), verb.into())
}

/// The group the tests bind the sleep component's ClusterRole to, and the groups the
/// service account has anyway: its own binding names the service account, and applying it
/// to the shared bed would change what the delete-mode tests check.
const SLEEP_GROUP: &str = "e2e:sleep";
const SLEEPER_GROUPS: [&str; 3] = [
    "system:serviceaccounts",
    "system:serviceaccounts:kube-reclaimer",
    SLEEP_GROUP,
];

/// The sleep component adds its ClusterRole and a binding to the service account, and
/// nothing else; its ClusterRole is applied once per run, bound to [`SLEEP_GROUP`].
fn sleep_applied(bed: &Bed) {
    static APPLIED: OnceLock<()> = OnceLock::new();
    APPLIED.get_or_init(|| {
        applied(bed);
        let base = render(bed, "deploy/base");
        let key = |o: &Value| format!("{} {}", o["kind"], o["metadata"]["name"]);
        let base_keys: BTreeSet<String> = base.iter().map(key).collect();
        let with_sleep = render(bed, "deploy/sleep");
        let added: Vec<&Value> = with_sleep
            .iter()
            .filter(|o| !base_keys.contains(&key(o)))
            .collect();
        assert_eq!(
            added.iter().map(|o| key(o)).collect::<Vec<_>>(),
            [
                r#""ClusterRole" "kube-reclaimer-sleep""#,
                r#""ClusterRoleBinding" "kube-reclaimer-sleep""#
            ],
            "the component adds only its RBAC"
        );
        assert_eq!(
            with_sleep.len(),
            base.len() + 2,
            "and changes nothing of deploy/base"
        );
        let binding = the(&with_sleep, "ClusterRoleBinding", "kube-reclaimer-sleep");
        assert_eq!(
            binding["subjects"],
            json!([{"kind": "ServiceAccount", "name": "kube-reclaimer", "namespace": "kube-reclaimer"}])
        );
        let role = the(&with_sleep, "ClusterRole", "kube-reclaimer-sleep");
        let mut apply = kubectl(bed, &["apply", "--request-timeout=30s", "-f", "-"]);
        apply.stdout(Stdio::null());
        succeed(apply, Some(&role.to_string()));
        let test_binding = json!({
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": "e2e-sleep"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                        "name": "kube-reclaimer-sleep"},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group",
                          "name": SLEEP_GROUP}]
        });
        let mut apply = kubectl(bed, &["apply", "--request-timeout=30s", "-f", "-"]);
        apply.stdout(Stdio::null());
        succeed(apply, Some(&test_binding.to_string()));
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let mut cmd = kubectl(
                bed,
                &["auth", "can-i", "--request-timeout=30s", "--as", ACCOUNT],
            );
            for group in SLEEPER_GROUPS {
                cmd.args(["--as-group", group]);
            }
            cmd.args(["patch", "deployments.apps", "--subresource=scale", "-n", TEAM]);
            if String::from_utf8_lossy(&output(cmd, None).stdout).trim() == "yes" {
                break;
            }
            assert!(Instant::now() < deadline, "the sleep binding never counted");
            std::thread::sleep(Duration::from_millis(200));
        }
    });
}

#[test]
fn the_sleep_component_adds_scaling_through_the_scale_subresource_and_nothing_else() {
    let bed = Bed::shared();
    sleep_applied(bed);
    for namespace in [TEAM, EVENTS_NAMESPACE] {
        let (base, base_urls) = rules(bed, ACCOUNT, namespace);
        let (sleeper, sleeper_urls) = rules_with_groups(bed, ACCOUNT, &SLEEPER_GROUPS, namespace);
        let added: BTreeSet<Grant> = sleeper.difference(&base).cloned().collect();
        let expected: BTreeSet<Grant> = scalable_kinds()
            .iter()
            .map(|ar| grant(&ar.group, &format!("{}/scale", ar.plural), "", "patch"))
            .collect();
        assert_eq!(added, expected, "in {namespace}");
        assert!(base.is_subset(&sleeper), "in {namespace}");
        assert_eq!(base_urls, sleeper_urls);
    }
}

#[test]
fn rbac_grants_exactly_what_the_code_uses_and_nothing_else() {
    let bed = Bed::shared();
    applied(bed);
    let config = config(&render(bed, "deploy/base"));
    let (own, lease) = (
        config.own_namespace.as_str(),
        config.daemon.lease_name.as_str(),
    );
    let mut everywhere: BTreeSet<Grant> = ["get", "list", "patch", "delete"]
        .into_iter()
        .map(|verb| grant("", "namespaces", "", verb))
        .collect();
    everywhere.insert(grant("", "pods", "", "list"));
    everywhere.insert(grant("", "resourcequotas", "", "list"));
    everywhere.insert(grant("", "persistentvolumeclaims", "", "list"));
    everywhere.insert(grant("", "persistentvolumes", "", "list"));
    for ar in tombstone_kinds() {
        everywhere.insert(grant(&ar.group, &ar.plural, "", "list"));
    }
    for ar in scalable_kinds() {
        everywhere.insert(grant(&ar.group, &ar.plural, "", "list"));
    }
    assert!(
        everywhere.iter().all(|(_, res, _, _)| res != "secrets"),
        "the code must never read Secrets"
    );
    for namespace in [own, EVENTS_NAMESPACE, TEAM] {
        let mut expected = everywhere.clone();
        if namespace == own {
            expected.insert(grant("coordination.k8s.io", "leases", "", "create"));
            expected.insert(grant("coordination.k8s.io", "leases", lease, "get"));
            expected.insert(grant("coordination.k8s.io", "leases", lease, "update"));
        }
        if namespace == EVENTS_NAMESPACE {
            expected.insert(grant("", "events", "", "create"));
        }
        let (ours, our_urls) = rules(bed, ACCOUNT, namespace);
        let (anyone, anyones_urls) = rules(bed, UNBOUND, namespace);
        let added: BTreeSet<Grant> = ours.difference(&anyone).cloned().collect();
        let missing: Vec<&Grant> = expected.difference(&added).collect();
        let extra: Vec<&Grant> = added.difference(&expected).collect();
        assert!(
            missing.is_empty() && extra.is_empty(),
            "in {namespace}: missing {missing:?}, granted beyond the code's needs {extra:?}"
        );
        assert_eq!(our_urls, anyones_urls, "no extra non-resource URLs");
    }
}

#[test]
fn the_pod_meets_the_restricted_pod_security_standard() {
    let bed = Bed::shared();
    let warnings = applied(bed);
    assert!(
        !warnings.contains("PodSecurity"),
        "kubectl apply warned: {warnings}"
    );
    let base = render(bed, "deploy/base");
    let namespace = the(&base, "Namespace", "kube-reclaimer");
    assert_eq!(
        namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"],
        "restricted"
    );
    let deployment = the(&base, "Deployment", "kube-reclaimer");
    let pod = |spec: &Value| {
        json!({
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "e2e-pod-security", "namespace": "kube-reclaimer"},
            "spec": spec,
        })
        .to_string()
    };
    let create = || {
        kubectl(
            bed,
            &[
                "create",
                "--dry-run=server",
                "--request-timeout=30s",
                "-o",
                "name",
                "-f",
                "-",
            ],
        )
    };
    let spec = &deployment["spec"]["template"]["spec"];
    succeed(create(), Some(&pod(spec)));

    // The same pod, weakened, is refused: the namespace really enforces the standard.
    let mut weak = spec.clone();
    weak["securityContext"]["runAsNonRoot"] = false.into();
    weak["containers"][0]["securityContext"]["runAsNonRoot"] = false.into();
    weak["containers"][0]["securityContext"]["allowPrivilegeEscalation"] = true.into();
    let out = output(create(), Some(&pod(&weak)));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("violates PodSecurity \"restricted"),
        "a weakened pod was not refused: {stderr}"
    );
}

#[test]
fn the_configmap_is_config_kube_reclaimer_yaml_byte_for_byte() {
    let bed = Bed::shared();
    applied(bed);
    let file = std::fs::read_to_string(repo("config/kube-reclaimer.yaml")).expect("the file");
    let (name, rendered) = config_map(&render(bed, "deploy/base"));
    assert!(
        rendered == file,
        "the rendered ConfigMap differs from the file"
    );
    let stored = bed.block_on(async {
        Api::<ConfigMap>::namespaced(bed.client.clone(), "kube-reclaimer")
            .get(&name)
            .await
            .expect("the applied ConfigMap")
    });
    let stored = stored
        .data
        .and_then(|d| d.get(CONFIG_KEY).cloned())
        .unwrap_or_default();
    assert!(
        stored == file,
        "the ConfigMap in the apiserver differs from the file"
    );
}

#[test]
fn the_deployment_is_hardened_and_agrees_with_its_configuration() {
    let bed = Bed::shared();
    let base = render(bed, "deploy/base");
    let config = config(&base);
    let (config_name, _) = config_map(&base);
    let deployment = the(&base, "Deployment", "kube-reclaimer");
    let pod = &deployment["spec"]["template"];
    let spec = &pod["spec"];
    let containers = spec["containers"].as_array().expect("containers");
    assert_eq!(containers.len(), 1);
    let c = &containers[0];

    // where it runs, as whom
    assert_eq!(
        deployment["metadata"]["namespace"],
        config.own_namespace.as_str()
    );
    let account = the(&base, "ServiceAccount", "kube-reclaimer");
    assert_eq!(
        account["metadata"]["namespace"],
        config.own_namespace.as_str()
    );
    assert_eq!(spec["serviceAccountName"], "kube-reclaimer");
    the(&base, "Namespace", &config.own_namespace);
    assert_eq!(
        str_of(&c["image"], "image")
            .rsplit_once(':')
            .map(|(_, tag)| tag),
        Some(env!("CARGO_PKG_VERSION")),
        "the image tag is the crate's version"
    );

    // hardening
    assert_eq!(spec["securityContext"]["runAsNonRoot"], true);
    assert!(spec["securityContext"]["runAsUser"]
        .as_u64()
        .is_some_and(|u| u > 0));
    assert_eq!(
        spec["securityContext"]["seccompProfile"]["type"],
        "RuntimeDefault"
    );
    let sc = &c["securityContext"];
    assert_eq!(sc["runAsNonRoot"], true);
    assert_eq!(sc["readOnlyRootFilesystem"], true);
    assert_eq!(sc["allowPrivilegeEscalation"], false);
    assert_eq!(sc["capabilities"]["drop"], json!(["ALL"]));
    for kind in ["requests", "limits"] {
        for resource in ["cpu", "memory"] {
            assert!(
                c["resources"][kind][resource].is_string(),
                "resources.{kind}.{resource} is set"
            );
        }
    }

    // the configuration: mounted from the ConfigMap, passed with --config
    let mount = |volume: &str| -> String {
        let m = c["volumeMounts"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|m| m["name"] == volume)
            .unwrap_or_else(|| panic!("a mount of volume {volume}"));
        str_of(&m["mountPath"], "mountPath").to_string()
    };
    let volume = |name: &str| -> &Value {
        spec["volumes"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|v| v["name"] == name)
            .unwrap_or_else(|| panic!("volume {name}"))
    };
    assert_eq!(volume("config")["configMap"]["name"], config_name.as_str());
    let config_path = format!("{}/{CONFIG_KEY}", mount("config"));
    assert_eq!(c["args"], json!(["run", "--config", config_path]));
    // the only writable place is the tombstone directory
    assert_eq!(mount("tombstones"), config.lifecycle.tombstone_dir);
    assert!(volume("tombstones")["emptyDir"].is_object());

    // the Lease identity
    let env = c["env"].as_array().expect("env");
    let pod_name = env
        .iter()
        .find(|e| e["name"] == "POD_NAME")
        .expect("POD_NAME");
    assert_eq!(
        pod_name["valueFrom"]["fieldRef"]["fieldPath"],
        "metadata.name"
    );

    // daemon.listen, the probes, the Service
    let listen_port: u64 = config
        .daemon
        .listen
        .rsplit_once(':')
        .and_then(|(_, p)| p.parse().ok())
        .expect("daemon.listen has a port");
    let port = &c["ports"][0];
    assert_eq!(
        (port["name"].as_str(), port["containerPort"].as_u64()),
        (Some("http"), Some(listen_port))
    );
    assert_eq!(
        c["livenessProbe"]["httpGet"],
        json!({"path": "/healthz", "port": "http"})
    );
    assert_eq!(
        c["readinessProbe"]["httpGet"],
        json!({"path": "/readyz", "port": "http"})
    );
    let service = the(&base, "Service", "kube-reclaimer");
    let labels = pod["metadata"]["labels"].as_object().expect("pod labels");
    for (k, v) in service["spec"]["selector"].as_object().expect("selector") {
        assert_eq!(labels.get(k), Some(v), "the Service selects the pods");
    }
    assert_eq!(service["spec"]["ports"][0]["targetPort"], "http");

    // the RBAC names the configuration's namespace and Lease
    let lease_role = the(&base, "Role", "kube-reclaimer-lease");
    assert_eq!(
        lease_role["metadata"]["namespace"],
        config.own_namespace.as_str()
    );
    let named: Vec<&Value> = lease_role["rules"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r["resourceNames"].as_array())
        .flatten()
        .collect();
    assert_eq!(named, [config.daemon.lease_name.as_str()]);
    let events_role = the(&base, "Role", "kube-reclaimer-events");
    assert_eq!(events_role["metadata"]["namespace"], EVENTS_NAMESPACE);
}

/// The alerts' annotations, as an on-call engineer reads them.
fn cycle_alert(pod: Option<&str>) -> Value {
    let summary = match pod {
        Some(p) => format!("kube-reclaimer replica {p} has completed no cycle in 2 hours"),
        None => "No kube-reclaimer replica reports a completed cycle".into(),
    };
    json!({
        "summary": summary,
        "description": format!(
            "Reminders, marks and reclamation are not happening. Check that the pods run and \
             are scraped, then read why cycles fail (the failing source, Kubernetes API or \
             Prometheus, is named): kubectl -n kube-reclaimer logs {}. What a cycle would do: \
             kube-reclaimer plan --config CONFIG.",
            pod.unwrap_or("deploy/kube-reclaimer")
        ),
    })
}

fn records_alert(pod: &str) -> Value {
    json!({
        "summary": format!("kube-reclaimer replica {pod} cannot record what it did on a namespace"),
        "description": format!(
            "A mail was accepted (or an action done) but its record on the namespace was \
             refused: an admission policy or webhook, a 5xx, the annotation size limit. The \
             mail is not sent again while the daemon runs; the record is retried with \
             backoff. Events (reason RecordFailed): kubectl events -n default \
             --types=Warning. Logs: kubectl -n kube-reclaimer logs {pod}."
        ),
    })
}

fn reclaim_alert(pod: &str) -> Value {
    json!({
        "summary": format!("kube-reclaimer replica {pod} failed to reclaim a namespace in the last hour"),
        "description": format!(
            "The namespace is left as it was and retried next cycle. Logs: kubectl -n \
             kube-reclaimer logs {pod}. Events (reason ReclaimFailed): kubectl events -n default \
             --types=Warning. The namespace's state: kube-reclaimer explain NAMESPACE --config \
             CONFIG."
        ),
    })
}

#[test]
fn monitoring_scrapes_the_service_and_its_alerts_fire_as_intended() {
    let bed = Bed::shared(); // its bring-up installs promtool
    let base = render(bed, "deploy/base");
    let all = render(bed, "deploy/prometheus-operator");
    let is_monitoring = |o: &&Value| {
        o["apiVersion"]
            .as_str()
            .is_some_and(|v| v.starts_with("monitoring.coreos.com/"))
    };
    assert_eq!(
        base.iter().filter(is_monitoring).count(),
        0,
        "deploy/base needs no CRDs"
    );
    let kinds: BTreeSet<&str> = all
        .iter()
        .filter(is_monitoring)
        .filter_map(|o| o["kind"].as_str())
        .collect();
    assert_eq!(kinds, BTreeSet::from(["PrometheusRule", "ServiceMonitor"]));
    assert_eq!(
        all.iter()
            .filter(|o| !is_monitoring(o))
            .cloned()
            .collect::<Vec<_>>(),
        base,
        "the overlay is deploy/base plus the two"
    );

    // the ServiceMonitor scrapes /metrics through the Service's port
    let service = the(&base, "Service", "kube-reclaimer");
    let monitor = the(&all, "ServiceMonitor", "kube-reclaimer");
    assert_eq!(
        monitor["metadata"]["namespace"],
        service["metadata"]["namespace"]
    );
    for (k, v) in monitor["spec"]["selector"]["matchLabels"]
        .as_object()
        .expect("matchLabels")
    {
        assert_eq!(
            service["metadata"]["labels"].get(k),
            Some(v),
            "selects the Service"
        );
    }
    let endpoint = &monitor["spec"]["endpoints"][0];
    assert_eq!(endpoint["port"], service["spec"]["ports"][0]["name"]);
    assert_eq!(endpoint["path"], "/metrics");

    // the rules parse, and fire when they should
    let rule = the(&all, "PrometheusRule", "kube-reclaimer");
    let alerts: BTreeSet<&str> = rule["spec"]["groups"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|g| g["rules"].as_array().into_iter().flatten())
        .filter_map(|r| r["alert"].as_str())
        .collect();
    assert_eq!(
        alerts,
        BTreeSet::from([
            "KubeReclaimerNoSuccessfulCycle",
            "KubeReclaimerReclamationErrors",
            "KubeReclaimerRecordsFailing"
        ])
    );
    let dir = bed.state_dir.join("deploy-rules");
    std::fs::create_dir_all(&dir).expect("rules dir");
    let rules_file = dir.join("kube-reclaimer.rules.json");
    std::fs::write(
        &rules_file,
        json!({"groups": rule["spec"]["groups"]}).to_string(),
    )
    .expect("write rules");
    let mut check = Command::new("promtool");
    check.args(["check", "rules"]).arg(&rules_file);
    let checked = succeed(check, None);
    assert!(checked.contains("SUCCESS: 6 rules found"), "{checked}");

    // the recording rules: the PrometheusRule's group is deploy/prometheus/rules.yaml's
    let shipped: Value = serde_saphyr::from_str(
        &std::fs::read_to_string(repo("deploy/prometheus/rules.yaml")).expect("rules.yaml"),
    )
    .expect("rules.yaml as YAML");
    let usage = rule["spec"]["groups"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|g| g["name"] == "kube-reclaimer-usage")
        .expect("the PrometheusRule has the recording rules' group");
    assert_eq!(
        shipped["groups"],
        json!([usage]),
        "the PrometheusRule's recording rules are deploy/prometheus/rules.yaml's"
    );
    let recorded: BTreeSet<&str> = usage["rules"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r["record"].as_str())
        .collect();
    assert_eq!(
        recorded,
        BTreeSet::from([
            kube_reclaimer::core::query::RECORDED_CPU,
            kube_reclaimer::core::query::RECORDED_MEMORY,
            kube_reclaimer::core::query::RECORDED_NETWORK,
        ]),
        "the rules record what the queries read"
    );
    let mut check = Command::new("promtool");
    check
        .args(["check", "rules"])
        .arg(repo("deploy/prometheus/rules.yaml"));
    let checked = succeed(check, None);
    assert!(checked.contains("SUCCESS: 3 rules found"), "{checked}");
    let mut test = Command::new("promtool");
    test.current_dir(repo("deploy/prometheus"))
        .args(["test", "rules", "rules.test.yaml"]);
    succeed(test, None);

    let warning = |extra: Value| {
        let mut labels = json!({"severity": "warning"});
        for (k, v) in extra.as_object().into_iter().flatten() {
            labels[k] = v.clone();
        }
        labels
    };
    let cycle = "KubeReclaimerNoSuccessfulCycle";
    let reclaim = "KubeReclaimerReclamationErrors";
    let records = "KubeReclaimerRecordsFailing";
    let last = "kube_reclaimer_last_successful_cycle_timestamp_seconds";
    let errors = "kube_reclaimer_errors_total";
    let tests = json!({
        "rule_files": ["kube-reclaimer.rules.json"],
        "evaluation_interval": "1m",
        "tests": [
            {
                "name": "cycles every minute: quiet",
                "interval": "1m",
                "input_series": [{"series": format!("{last}{{pod=\"a\"}}"), "values": "0+60x300"}],
                "alert_rule_test": [{"eval_time": "4h", "alertname": cycle, "exp_alerts": []}],
            },
            {
                "name": "last cycle at 1h: pending from 3h, firing 10m later",
                "interval": "1m",
                "input_series": [{"series": format!("{last}{{pod=\"a\"}}"), "values": "0+60x60 3600x300"}],
                "alert_rule_test": [
                    {"eval_time": "2h50m", "alertname": cycle, "exp_alerts": []},
                    {"eval_time": "3h05m", "alertname": cycle, "exp_alerts": []},
                    {"eval_time": "3h15m", "alertname": cycle, "exp_alerts": [
                        {"exp_labels": warning(json!({"pod": "a"})), "exp_annotations": cycle_alert(Some("a"))}
                    ]},
                ],
            },
            {
                "name": "no replica reports cycles: firing after 10m",
                "interval": "1m",
                "input_series": [{"series": format!("{errors}{{pod=\"a\",source=\"kubernetes\"}}"), "values": "0x100"}],
                "alert_rule_test": [
                    {"eval_time": "5m", "alertname": cycle, "exp_alerts": []},
                    {"eval_time": "15m", "alertname": cycle, "exp_alerts": [
                        {"exp_labels": warning(json!({})), "exp_annotations": cycle_alert(None)}
                    ]},
                ],
            },
            {
                "name": "a reclamation error fires for an hour; other sources do not",
                "interval": "1m",
                "input_series": [
                    {"series": format!("{errors}{{pod=\"a\",source=\"reclaim\"}}"), "values": "0 0 0 1x100"},
                    {"series": format!("{errors}{{pod=\"a\",source=\"prometheus\"}}"), "values": "0+1x100"},
                ],
                "alert_rule_test": [
                    {"eval_time": "2m", "alertname": reclaim, "exp_alerts": []},
                    {"eval_time": "5m", "alertname": reclaim, "exp_alerts": [
                        {"exp_labels": warning(json!({"pod": "a", "source": "reclaim"})), "exp_annotations": reclaim_alert("a")}
                    ]},
                    {"eval_time": "1h30m", "alertname": reclaim, "exp_alerts": []},
                ],
            },
            {
                "name": "a refused record fires for an hour; other sources do not",
                "interval": "1m",
                "input_series": [
                    {"series": format!("{errors}{{pod=\"a\",source=\"annotate\"}}"), "values": "0 0 0 1x100"},
                    {"series": format!("{errors}{{pod=\"a\",source=\"smtp\"}}"), "values": "0+1x100"},
                ],
                "alert_rule_test": [
                    {"eval_time": "2m", "alertname": records, "exp_alerts": []},
                    {"eval_time": "5m", "alertname": records, "exp_alerts": [
                        {"exp_labels": warning(json!({"pod": "a", "source": "annotate"})), "exp_annotations": records_alert("a")}
                    ]},
                    {"eval_time": "1h30m", "alertname": records, "exp_alerts": []},
                ],
            },
        ],
    });
    let tests_file = dir.join("kube-reclaimer.rules-test.json");
    std::fs::write(&tests_file, tests.to_string()).expect("write rule tests");
    let mut test = Command::new("promtool");
    test.args(["test", "rules"]).arg(&tests_file);
    succeed(test, None);
}

/// A kubeconfig that authenticates as the bed's admin and acts as `user` only.
fn kubeconfig_as(bed: &Bed, user: &str, file: &str) -> PathBuf {
    kubeconfig_as_with(bed, user, &[], file)
}

/// [`kubeconfig_as`] with exactly `groups` (none: the user's own).
fn kubeconfig_as_with(bed: &Bed, user: &str, groups: &[&str], file: &str) -> PathBuf {
    let text = std::fs::read_to_string(&bed.kubeconfig).expect("the bed's kubeconfig");
    let mut kubeconfig: Value = serde_saphyr::from_str(&text).expect("kubeconfig YAML");
    for entry in kubeconfig["users"].as_array_mut().expect("users") {
        entry["user"]["as"] = user.into();
        if !groups.is_empty() {
            entry["user"]["as-groups"] = json!(groups);
        }
    }
    let path = bed.state_dir.join(file);
    std::fs::write(&path, kubeconfig.to_string()).expect("write kubeconfig");
    path
}

/// An SMTP server of its own (tests/bed/smtp-up.sh), stopped when this process exits:
/// its port and the folder the mails land in.
fn smtp(bed: &Bed) -> &'static (u16, PathBuf) {
    static SMTP: OnceLock<(u16, PathBuf)> = OnceLock::new();
    SMTP.get_or_init(|| {
        let dir = bed.state_dir.join("deploy-smtp");
        std::fs::create_dir_all(&dir).expect("smtp dir");
        crate::support::bed::start_watchdog(&dir, false).expect("watchdog");
        let mut up = Command::new(repo("tests/bed/smtp-up.sh"));
        up.arg(&dir);
        let port = succeed(up, None);
        let port = port
            .lines()
            .last()
            .and_then(|l| l.trim().parse().ok())
            .expect("smtp-up.sh prints the port");
        (port, dir.join("mail"))
    })
}

fn create_in(bed: &Bed, namespace: &str, object: Value) {
    let mut cmd = kubectl(
        bed,
        &[
            "create",
            "--request-timeout=30s",
            "-n",
            namespace,
            "-f",
            "-",
        ],
    );
    cmd.stdout(Stdio::null());
    succeed(cmd, Some(&object.to_string()));
}

/// A namespace only the config protecting all but `e2e-deploy=<which>` acts on, expired
/// five days ago, with a config map, a secret and two workloads. The daemon marks it in
/// one cycle and, its (2-second) grace period over, reclaims it in the next.
fn due_namespace(bed: &Bed, name: &str, which: &str) {
    let ago = |days: i64| (chrono::Utc::now() - chrono::Duration::days(days)).to_rfc3339();
    create_in(
        bed,
        "default",
        json!({
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {
                "name": name,
                "labels": {"e2e-deploy": which},
                "annotations": {
                    "kube-reclaimer.io/expires": ago(5),
                    "kube-reclaimer.io/owner-email": "owner@example.com",
                },
            },
        }),
    );
    create_in(
        bed,
        name,
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings"},
               "data": {"colour": "blue"}}),
    );
    create_in(
        bed,
        name,
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "token"},
               "stringData": {"token": "never-in-a-tombstone"}}),
    );
    let pod = |app: &str| {
        json!({"metadata": {"labels": {"app": app}},
               "spec": {"containers": [{"name": app, "image": "registry.example.com/app:1"}]}})
    };
    create_in(
        bed,
        name,
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
               "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                        "template": pod("web")}}),
    );
    create_in(
        bed,
        name,
        json!({"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "db"},
               "spec": {"replicas": 1, "serviceName": "db",
                        "selector": {"matchLabels": {"app": "db"}}, "template": pod("db")}}),
    );
}

/// Two `run --once` cycles as `run_once_as` gives them, 3 s apart: the first marks the
/// namespace, the second, after its grace period, reclaims it. Both statuses and logs.
fn mark_then_reclaim_as(bed: &Bed, kubeconfig: &PathBuf, which: &str) -> (bool, String) {
    let (marked, first) = run_once_as(bed, kubeconfig, which);
    std::thread::sleep(std::time::Duration::from_secs(3));
    let (reclaimed, second) = run_once_as(bed, kubeconfig, which);
    (marked && reclaimed, format!("{first}{second}"))
}

/// `kube-reclaimer run --once` in enforce mode, reclaiming by `which`, with `kubeconfig`;
/// its exit status and logs.
fn run_once_as(bed: &Bed, kubeconfig: &PathBuf, which: &str) -> (bool, String) {
    let config = config(&render(bed, "deploy/base"));
    let (port, _) = smtp(bed);
    let path = bed.state_dir.join(format!("deploy-{which}.yaml"));
    let yaml = format!(
        "mode: enforce
own_namespace: {own}
owners: {{fallback_recipients: [platform@example.com]}}
protection:
  selector:
    matchExpressions: [{{key: e2e-deploy, operator: NotIn, values: [{which}]}}]
smtp: {{host: 127.0.0.1, port: {port}, tls: none, from: kube-reclaimer@example.com}}
daemon: {{listen: '127.0.0.1:0', lease_name: {lease}}}
lifecycle: {{reclaim_by: {which}, tombstone_dir: '{tombstones}', grace_period: 2s, allow_short_grace_period: true}}
",
        own = config.own_namespace,
        lease = config.daemon.lease_name,
        tombstones = bed.state_dir.join("deploy-tombstones").display(),
    );
    std::fs::write(&path, yaml).expect("write config");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kube-reclaimer"));
    cmd.args(["run", "--once", "--config"])
        .arg(&path)
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(["--prometheus-url", &bed.prometheus_url])
        .env("POD_NAME", "e2e-deploy-replica")
        .env("RUST_LOG", "info");
    let out = output(cmd, None);
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn reasons_about(bed: &Bed, namespace: &str) -> Vec<String> {
    bed.block_on(async {
        let events = Api::<k8s_openapi::api::core::v1::Event>::namespaced(
            bed.client.clone(),
            EVENTS_NAMESPACE,
        )
        .list(&kube::api::ListParams::default().fields(&format!(
            "involvedObject.kind=Namespace,involvedObject.name={namespace}"
        )))
        .await
        .expect("list events");
        events.items.into_iter().filter_map(|e| e.reason).collect()
    })
}

fn replicas(bed: &Bed, namespace: &str) -> (Option<i32>, Option<i32>) {
    use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
    bed.block_on(async {
        let web = Api::<Deployment>::namespaced(bed.client.clone(), namespace)
            .get("web")
            .await
            .expect("web");
        let db = Api::<StatefulSet>::namespaced(bed.client.clone(), namespace)
            .get("db")
            .await
            .expect("db");
        (
            web.spec.and_then(|s| s.replicas),
            db.spec.and_then(|s| s.replicas),
        )
    })
}

/// The apiserver refused none of the daemon's requests (a 403 says "forbidden").
fn assert_nothing_refused(logs: &str) {
    assert!(
        !logs.to_lowercase().contains("forbidden"),
        "a request was refused:\n{logs}"
    );
}

#[test]
fn the_daemon_runs_whole_cycles_with_these_permissions_alone() {
    let bed = Bed::shared();
    applied(bed);
    let config = config(&render(bed, "deploy/base"));
    let account = kubeconfig_as(bed, ACCOUNT, "deploy-account.kubeconfig");

    // Reclaiming by deletion: tombstone (every kind listed), delete, event, mail, Lease.
    due_namespace(bed, "deploy-delete", "delete");
    let (ok, logs) = mark_then_reclaim_as(bed, &account, "delete");
    assert!(ok, "{logs}");
    assert_nothing_refused(&logs);
    let gone = bed.block_on(async {
        Api::<k8s_openapi::api::core::v1::Namespace>::all(bed.client.clone())
            .get_opt("deploy-delete")
            .await
            .expect("get namespace")
            .is_none_or(|n| n.metadata.deletion_timestamp.is_some())
    });
    assert!(gone, "deploy-delete was not deleted:\n{logs}");
    let tombstones: Vec<String> = std::fs::read_dir(bed.state_dir.join("deploy-tombstones"))
        .expect("the tombstone dir")
        .filter_map(|e| e.ok())
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("deploy-delete-")
        })
        .filter_map(|e| std::fs::read_to_string(e.path()).ok())
        .collect();
    assert_eq!(tombstones.len(), 1, "one tombstone");
    let tombstone = &tombstones[0];
    for saved in [
        "kind: ConfigMap",
        "name: settings",
        "kind: Deployment",
        "kind: StatefulSet",
    ] {
        assert!(tombstone.contains(saved), "{saved} is not in\n{tombstone}");
    }
    assert!(
        !tombstone.contains("kind: Secret") && !tombstone.contains("never-in-a-tombstone"),
        "{tombstone}"
    );
    assert!(reasons_about(bed, "deploy-delete").contains(&"Reclaimed".to_string()));
    let mails: Vec<String> = std::fs::read_dir(&smtp(bed).1)
        .map(|d| {
            d.filter_map(|e| e.ok())
                .filter_map(|e| std::fs::read_to_string(e.path()).ok())
                .collect()
        })
        .unwrap_or_default();
    assert!(
        mails.iter().any(|m| m.contains("deploy-delete")),
        "no mail about deploy-delete"
    );
    // The Lease was created, and released (get, update) when the run ended.
    let lease = bed.block_on(async {
        Api::<k8s_openapi::api::coordination::v1::Lease>::namespaced(
            bed.client.clone(),
            &config.own_namespace,
        )
        .get(&config.daemon.lease_name)
        .await
        .expect("the Lease the daemon created")
    });
    let holder = lease.spec.and_then(|s| s.holder_identity);
    assert_eq!(holder, None, "released at exit");

    // Sleep mode, with deploy/components/sleep: both kinds of workload scaled to zero
    // through their scale subresource, the replicas to restore recorded on the namespace.
    sleep_applied(bed);
    let sleeper = kubeconfig_as_with(bed, ACCOUNT, &SLEEPER_GROUPS, "deploy-sleeper.kubeconfig");
    due_namespace(bed, "deploy-sleep", "sleep");
    assert_eq!(replicas(bed, "deploy-sleep"), (Some(2), Some(1)));
    let (ok, logs) = mark_then_reclaim_as(bed, &sleeper, "sleep");
    assert!(ok, "{logs}");
    assert_nothing_refused(&logs);
    assert_eq!(replicas(bed, "deploy-sleep"), (Some(0), Some(0)), "{logs}");
    let record = bed.block_on(async {
        Api::<k8s_openapi::api::core::v1::Namespace>::all(bed.client.clone())
            .get("deploy-sleep")
            .await
            .expect("get namespace")
            .metadata
            .annotations
            .unwrap_or_default()
            .get("kube-reclaimer.io/replicas")
            .cloned()
    });
    assert_eq!(
        record.as_deref(),
        Some(r#"{"Deployment/web":2,"StatefulSet/db":1}"#)
    );
    assert!(reasons_about(bed, "deploy-sleep").contains(&"PutToSleep".to_string()));

    // Without these bindings, the same run is refused from its first request: the logs
    // checked above do show it.
    let unbound = kubeconfig_as(bed, UNBOUND, "deploy-unbound.kubeconfig");
    let (_, logs) = run_once_as(bed, &unbound, "delete");
    assert!(
        logs.contains("cannot list resource \"namespaces\"") && logs.contains("forbidden"),
        "{logs}"
    );
}
