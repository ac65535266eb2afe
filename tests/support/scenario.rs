//! Declarative scenarios: namespaces, pods, quotas, their usage over time, and the ground
//! truth tests hold the product to. Loaded from `tests/scenarios/*.yaml`; the format is
//! documented at the top of `tests/scenarios/sample.yaml`.

use anyhow::{anyhow, bail, Context, Result};
use chrono::{DateTime, Duration, SecondsFormat, Utc};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;

/// A whole scenario file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// How far back the metrics history reaches before `at` (default 14d).
    #[serde(default = "default_history")]
    pub history: Span,
    /// Spacing of the rendered samples (default 2m: as exact as 1m for these profiles,
    /// half the backfill time; the product's rate window suits scrapes up to 2m).
    #[serde(default = "default_step")]
    pub step: Span,
    pub namespaces: Vec<NamespaceSpec>,
}

fn default_history() -> Span {
    Span(Duration::days(14))
}

fn default_step() -> Span {
    Span(Duration::minutes(2))
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NamespaceSpec {
    pub name: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    #[serde(default)]
    pub quotas: Vec<QuotaSpec>,
    #[serde(default)]
    pub pods: Vec<PodSpec>,
    /// Default `metrics_since` of the namespace's pods.
    #[serde(default)]
    pub metrics_since: Option<Instant>,
    pub expect: Expect,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuotaSpec {
    pub name: String,
    /// `spec.hard`, e.g. `requests.cpu: "2"`.
    pub hard: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PodSpec {
    pub name: String,
    /// Pods `NAME-0` .. `NAME-(n-1)`; a single pod (the default) is just `NAME`.
    #[serde(default = "one")]
    pub replicas: u32,
    #[serde(default)]
    pub phase: Phase,
    pub containers: Vec<ContainerSpec>,
    /// Pod-level network: receive + transmit bytes/s (rendered 60 % / 40 %).
    #[serde(default)]
    pub network: Profile,
    /// Series start here instead of at the history start (e.g. `at-1d`).
    #[serde(default)]
    pub metrics_since: Option<Instant>,
    /// Series end here instead of at `at` (e.g. a job that finished: `at-10d`).
    #[serde(default)]
    pub metrics_until: Option<Instant>,
}

fn one() -> u32 {
    1
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub enum Phase {
    #[default]
    Pending,
    Running,
    Succeeded,
    Failed,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Pending => "Pending",
            Phase::Running => "Running",
            Phase::Succeeded => "Succeeded",
            Phase::Failed => "Failed",
        }
    }

    /// Whether the product counts the pod's requests (every phase but the terminal ones).
    pub fn holds_resources(self) -> bool {
        !matches!(self, Phase::Succeeded | Phase::Failed)
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContainerSpec {
    pub name: String,
    #[serde(default)]
    pub image: Option<String>,
    /// `requests.cpu`, a Kubernetes quantity (`250m`, `1`).
    #[serde(default)]
    pub cpu_request: Option<String>,
    /// `requests.memory`, a Kubernetes quantity (`256Mi`).
    #[serde(default)]
    pub memory_request: Option<String>,
    /// CPU usage in cores.
    #[serde(default)]
    pub cpu: Profile,
    /// Working set in bytes, constant (a quantity, e.g. `700Mi`); absent: no series.
    #[serde(default)]
    pub memory: Option<String>,
}

/// A level over time: cores for CPU, bytes/s for network.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    #[serde(default)]
    pub pattern: Pattern,
    /// Base level (`cores` for CPU, `bytes` for network).
    #[serde(default, alias = "cores", alias = "bytes")]
    pub level: f64,
    /// diurnal: level ± amplitude, a sine over 24 h peaking at 14:00 UTC.
    #[serde(default)]
    pub amplitude: f64,
    /// bursty: the level during a burst.
    #[serde(default)]
    pub burst: f64,
    /// bursty: a burst starts every `every` (default 1d) ...
    #[serde(default)]
    pub every: Option<Span>,
    /// ... and lasts `for` (default 15m) ...
    #[serde(default, rename = "for")]
    pub lasts: Option<Span>,
    /// ... the first one `offset` (default 0) after the history start.
    #[serde(default)]
    pub offset: Option<Span>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Pattern {
    /// No series at all.
    #[default]
    None,
    Steady,
    Diurnal,
    Bursty,
}

const DAY: f64 = 86_400.0;
/// The diurnal sine peaks at 14:00 UTC: sin(2π(t − 8h)/1d).
const DIURNAL_PHASE: f64 = 8.0 * 3600.0;

impl Profile {
    pub fn steady(level: f64) -> Profile {
        Profile {
            pattern: Pattern::Steady,
            level,
            ..Profile::default()
        }
    }

    pub fn has_series(&self) -> bool {
        self.pattern != Pattern::None
    }

    fn every(&self) -> f64 {
        self.every.map_or(DAY, |s| s.seconds())
    }

    fn lasts(&self) -> f64 {
        self.lasts.map_or(900.0, |s| s.seconds())
    }

    fn offset(&self) -> f64 {
        self.offset.map_or(0.0, |s| s.seconds())
    }

    /// Level at `t` (unix seconds); `origin` anchors bursts (the history start).
    pub fn level_at(&self, t: f64, origin: f64) -> f64 {
        match self.pattern {
            Pattern::None => 0.0,
            Pattern::Steady => self.level,
            Pattern::Diurnal => {
                let w = std::f64::consts::TAU / DAY;
                self.level + self.amplitude * (w * (t - DIURNAL_PHASE)).sin()
            }
            Pattern::Bursty => {
                let d = t - origin - self.offset();
                if d >= 0.0 && d.rem_euclid(self.every()) < self.lasts() {
                    self.burst
                } else {
                    self.level
                }
            }
        }
    }

    /// ∫ level dt from `origin` to `t`: the counter value at `t` (exact, so rates are).
    pub fn integral(&self, t: f64, origin: f64) -> f64 {
        let span = t - origin;
        match self.pattern {
            Pattern::None => 0.0,
            Pattern::Steady => self.level * span,
            Pattern::Diurnal => {
                let w = std::f64::consts::TAU / DAY;
                let antiderivative =
                    |x: f64| -(self.amplitude / w) * (w * (x - DIURNAL_PHASE)).cos();
                self.level * span + antiderivative(t) - antiderivative(origin)
            }
            Pattern::Bursty => {
                // time spent bursting in [origin + offset, t]
                let bursting = |x: f64| {
                    let d = x - origin - self.offset();
                    if d <= 0.0 {
                        return 0.0;
                    }
                    let every = self.every();
                    let n = (d / every).floor();
                    n * self.lasts() + (d - n * every).min(self.lasts())
                };
                self.level * span + (self.burst - self.level) * bursting(t)
            }
        }
    }
}

/// What the product should conclude about a namespace at `at` (default configuration).
#[derive(Debug, Clone, Deserialize)]
pub struct Expect {
    pub idle: IdleVerdict,
    pub cpu_flagged: bool,
    pub memory_flagged: bool,
    /// The plan's state, kebab-case as the product prints it (`active`, `marked`, ...).
    pub state: String,
    /// Kinds of the plan's actions, snake_case (`mark`, `remind`, `report_findings`, ...).
    #[serde(default)]
    pub actions: Vec<String>,
    /// Anything else a test may want (free-form).
    #[serde(flatten)]
    pub extra: BTreeMap<String, serde_json::Value>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IdleVerdict {
    Idle,
    Active,
    Unknown,
}

/// A duration written `1d12h`, `30m`, `90s`, `2w` (units w d h m s).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span(pub Duration);

impl Span {
    pub fn parse(text: &str) -> Result<Span> {
        let text = text.trim();
        if text.is_empty() {
            bail!("empty duration");
        }
        let mut total = 0i64;
        let mut number = String::new();
        for c in text.chars() {
            if c.is_ascii_digit() {
                number.push(c);
                continue;
            }
            let unit = match c {
                'w' => 7 * 86_400,
                'd' => 86_400,
                'h' => 3_600,
                'm' => 60,
                's' => 1,
                _ => bail!("`{text}`: unknown unit `{c}` (use w d h m s)"),
            };
            let n: i64 = number
                .parse()
                .map_err(|_| anyhow!("`{text}`: expected a number before `{c}`"))?;
            total += n * unit;
            number.clear();
        }
        if !number.is_empty() {
            bail!("`{text}`: the last number has no unit");
        }
        Ok(Span(Duration::seconds(total)))
    }

    pub fn seconds(self) -> f64 {
        self.0.num_seconds() as f64
    }
}

impl<'de> Deserialize<'de> for Span {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Span, D::Error> {
        let text = String::deserialize(d)?;
        Span::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// An instant relative to `at`: `at`, `at-1d`, `at+12h`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Instant(pub Duration);

impl Instant {
    pub fn parse(text: &str) -> Result<Instant> {
        let text = text.trim();
        let rest = text
            .strip_prefix("at")
            .ok_or_else(|| anyhow!("`{text}`: expected at, at+DURATION or at-DURATION"))?;
        if rest.is_empty() {
            return Ok(Instant(Duration::zero()));
        }
        let (sign, span) = match rest.split_at(1) {
            ("+", span) => (1, span),
            ("-", span) => (-1, span),
            _ => bail!("`{text}`: expected at, at+DURATION or at-DURATION"),
        };
        Ok(Instant(Span::parse(span)?.0 * sign))
    }

    pub fn resolve(self, at: DateTime<Utc>) -> DateTime<Utc> {
        at + self.0
    }
}

impl<'de> Deserialize<'de> for Instant {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Instant, D::Error> {
        let text = String::deserialize(d)?;
        Instant::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// Replaces every `${at[±DURATION][|FORMAT]}` in `text`. Formats: `date` (2026-12-01),
/// `rfc3339` (2026-12-01T18:00:00Z, the default), `kyverno` (2026-12-01T180000Z),
/// `unix` (seconds).
pub fn expand(text: &str, at: DateTime<Utc>) -> Result<String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find('}')
            .ok_or_else(|| anyhow!("`{text}`: unclosed ${{"))?;
        let inner = &after[..end];
        let (instant, format) = match inner.split_once('|') {
            Some((i, f)) => (i, f.trim()),
            None => (inner, "rfc3339"),
        };
        let t = Instant::parse(instant)
            .with_context(|| format!("placeholder ${{{inner}}}"))?
            .resolve(at);
        let value = match format {
            "date" => t.format("%Y-%m-%d").to_string(),
            "rfc3339" => t.to_rfc3339_opts(SecondsFormat::Secs, true),
            "kyverno" => t.format("%Y-%m-%dT%H%M%SZ").to_string(),
            "unix" => t.timestamp().to_string(),
            other => bail!(
                "placeholder ${{{inner}}}: unknown format `{other}` (date, rfc3339, kyverno, unix)"
            ),
        };
        out.push_str(&value);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// A Kubernetes quantity as a number: `250m` → 0.25, `1Gi` → 1073741824, `1.5` → 1.5.
pub fn quantity(text: &str) -> Result<f64> {
    let text = text.trim();
    let split = text
        .find(|c: char| c.is_ascii_alphabetic())
        .unwrap_or(text.len());
    let (number, suffix) = text.split_at(split);
    let n: f64 = number
        .parse()
        .map_err(|_| anyhow!("`{text}` is not a Kubernetes quantity"))?;
    let factor = match suffix {
        "" => 1.0,
        "m" => 1e-3,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "Ki" => 1024.0,
        "Mi" => 1024.0 * 1024.0,
        "Gi" => 1024.0 * 1024.0 * 1024.0,
        "Ti" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        _ => bail!("`{text}`: unknown quantity suffix `{suffix}`"),
    };
    Ok(n * factor)
}

/// One concrete pod (replicas expanded), as the bed creates it and the metrics show it.
#[derive(Debug, Clone)]
pub struct PodInstance<'a> {
    pub namespace: &'a NamespaceSpec,
    pub spec: &'a PodSpec,
    pub name: String,
    /// Ordinal over the whole scenario (spreads pods over nodes and gives stable ids).
    pub index: usize,
}

impl Scenario {
    pub fn load(path: &Path) -> Result<Scenario> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read scenario {}", path.display()))?;
        Scenario::parse(&text).with_context(|| format!("scenario {}", path.display()))
    }

    pub fn parse(text: &str) -> Result<Scenario> {
        let scenario: Scenario = serde_saphyr::from_str(text).map_err(|e| anyhow!("{e}"))?;
        scenario.check()?;
        Ok(scenario)
    }

    /// `tests/scenarios/NAME.yaml` of this crate.
    pub fn named(name: &str) -> Result<Scenario> {
        Scenario::load(
            &Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/scenarios")
                .join(format!("{name}.yaml")),
        )
    }

    fn check(&self) -> Result<()> {
        let mut names = std::collections::BTreeSet::new();
        for ns in &self.namespaces {
            if !names.insert(ns.name.as_str()) {
                bail!("namespace {} is declared twice", ns.name);
            }
            for pod in &ns.pods {
                for c in &pod.containers {
                    for q in [&c.cpu_request, &c.memory_request, &c.memory]
                        .into_iter()
                        .flatten()
                    {
                        quantity(q)
                            .with_context(|| format!("{}/{}/{}", ns.name, pod.name, c.name))?;
                    }
                }
            }
            for (k, v) in ns.labels.iter().chain(&ns.annotations) {
                expand(v, Utc::now()).with_context(|| format!("{}: {k}", ns.name))?;
            }
        }
        if self.step.0 <= Duration::zero() || self.history.0 <= Duration::zero() {
            bail!("history and step must be positive");
        }
        Ok(())
    }

    pub fn namespace(&self, name: &str) -> Option<&NamespaceSpec> {
        self.namespaces.iter().find(|n| n.name == name)
    }

    /// Every pod, replicas expanded, in declaration order.
    pub fn pods(&self) -> Vec<PodInstance<'_>> {
        let mut out = Vec::new();
        for ns in &self.namespaces {
            for spec in &ns.pods {
                for r in 0..spec.replicas {
                    let name = if spec.replicas == 1 {
                        spec.name.clone()
                    } else {
                        format!("{}-{r}", spec.name)
                    };
                    let index = out.len();
                    out.push(PodInstance {
                        namespace: ns,
                        spec,
                        name,
                        index,
                    });
                }
            }
        }
        out
    }
}

impl NamespaceSpec {
    /// Labels with placeholders expanded.
    pub fn labels_at(&self, at: DateTime<Utc>) -> Result<BTreeMap<String, String>> {
        self.labels
            .iter()
            .map(|(k, v)| Ok((k.clone(), expand(v, at)?)))
            .collect()
    }

    pub fn annotations_at(&self, at: DateTime<Utc>) -> Result<BTreeMap<String, String>> {
        self.annotations
            .iter()
            .map(|(k, v)| Ok((k.clone(), expand(v, at)?)))
            .collect()
    }

    /// Requests the product counts: pods in non-terminal phases, (cores, bytes).
    pub fn requests(&self) -> (f64, f64) {
        let mut cpu = 0.0;
        let mut memory = 0.0;
        for pod in self.pods.iter().filter(|p| p.phase.holds_resources()) {
            for c in &pod.containers {
                let r = f64::from(pod.replicas);
                cpu += r * c
                    .cpu_request
                    .as_deref()
                    .map_or(0.0, |q| quantity(q).unwrap_or(0.0));
                memory += r * c
                    .memory_request
                    .as_deref()
                    .map_or(0.0, |q| quantity(q).unwrap_or(0.0));
            }
        }
        (cpu, memory)
    }
}

/// The window a pod's series cover: `[since, until]`, clipped to the history.
pub fn series_window(
    scenario_history: Duration,
    ns: &NamespaceSpec,
    pod: &PodSpec,
    at: DateTime<Utc>,
) -> (DateTime<Utc>, DateTime<Utc>) {
    let start = at - scenario_history;
    let since = pod
        .metrics_since
        .or(ns.metrics_since)
        .map_or(start, |i| i.resolve(at))
        .max(start);
    let until = pod.metrics_until.map_or(at, |i| i.resolve(at)).min(at);
    (since, until)
}

/// What the five product queries should answer for one namespace, computed from the
/// declared profiles the way Prometheus evaluates them (5m rates, a 5m-step subquery).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ExpectedUsage {
    /// Query 1: p95 over the window of the namespace's summed CPU rate.
    pub cpu_p95: Option<f64>,
    /// Query 2: highest summed CPU rate.
    pub cpu_max: Option<f64>,
    /// Query 3: highest summed working set.
    pub memory_max: Option<f64>,
    /// Query 4: highest summed receive + transmit rate.
    pub network_max: Option<f64>,
}

impl Scenario {
    /// Expected query answers for `ns` at `at` over `window` (7d by default in the
    /// product); `None` where the namespace has no series in the window.
    pub fn expected_usage(&self, ns: &str, at: DateTime<Utc>, window: Duration) -> ExpectedUsage {
        let Some(spec) = self.namespace(ns) else {
            return ExpectedUsage::default();
        };
        let origin = (at - self.history.0).timestamp() as f64;
        let rate_window = 300.0;
        let end = at.timestamp();
        let first = (end - window.num_seconds()).div_euclid(300) * 300 + 300;
        let (mut cpu, mut memory, mut network) = (Vec::new(), Vec::new(), Vec::new());
        let mut t = first;
        while t <= end {
            let tf = t as f64;
            let (mut c, mut m, mut n) = (None::<f64>, None::<f64>, None::<f64>);
            for pod in &spec.pods {
                let (since, until) = series_window(self.history.0, spec, pod, at);
                let (since, until) = (since.timestamp() as f64, until.timestamp() as f64);
                // a rate needs two samples inside the window; a gauge one within 5m lookback
                let rate_ok = tf - rate_window >= since && tf <= until + rate_window && tf > since;
                let gauge_ok = tf >= since && tf <= until + rate_window;
                let avg = |p: &Profile| {
                    let a = (tf - rate_window).max(since);
                    let b = tf.min(until);
                    if b <= a {
                        0.0
                    } else {
                        (p.integral(b, origin) - p.integral(a, origin)) / (b - a)
                    }
                };
                let r = f64::from(pod.replicas);
                for container in &pod.containers {
                    if container.cpu.has_series() && rate_ok {
                        *c.get_or_insert(0.0) += r * avg(&container.cpu);
                    }
                    if let Some(q) = &container.memory {
                        if gauge_ok {
                            *m.get_or_insert(0.0) += r * quantity(q).unwrap_or(0.0);
                        }
                    }
                }
                if pod.network.has_series() && rate_ok {
                    *n.get_or_insert(0.0) += r * avg(&pod.network);
                }
            }
            cpu.extend(c);
            memory.extend(m);
            network.extend(n);
            t += 300;
        }
        ExpectedUsage {
            cpu_p95: quantile(0.95, &cpu),
            cpu_max: cpu.iter().copied().reduce(f64::max),
            memory_max: memory.iter().copied().reduce(f64::max),
            network_max: network.iter().copied().reduce(f64::max),
        }
    }
}

/// Prometheus' `quantile_over_time`: linear interpolation between closest ranks.
pub fn quantile(q: f64, values: &[f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let rank = q * (v.len() - 1) as f64;
    let lower = rank.floor() as usize;
    let upper = (lower + 1).min(v.len() - 1);
    let weight = rank - rank.floor();
    Some(v[lower] * (1.0 - weight) + v[upper] * weight)
}
