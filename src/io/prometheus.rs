//! Per-namespace usage statistics from Prometheus (or Thanos, Mimir, VictoriaMetrics).
//!
//! The PromQL is built in [`crate::core::query`]; this is the client. Per statistic, with
//! `prometheus.recording_rules: auto` or `always`, one cheap query first decides whether
//! the recorded series covers the window; then one query per statistic and two for the
//! history's coverage: a fixed number of queries per cycle (6, 10 with recording rules
//! checked, plus 2 with OpenCost prices) whatever the size of the cluster.
//!
//! Every query asks for `partial_response=false` (Thanos answers an error instead of a
//! partial result; Prometheus, Mimir and VictoriaMetrics ignore the parameter), and an
//! answer that carries `warnings` is taken as missing data, never as complete.

use crate::core::collected::SeriesChoice;
use crate::core::config::{Config, PriceSource, RecordingRules};
use crate::core::model::{Sample, Span, Usage};
use crate::core::query::{self, missing_time, Series, Statistic};
use chrono::{DateTime, Utc};
use prometheus_http_query::error::PrometheusError;
use prometheus_http_query::response::{Data, PromqlResult};
use prometheus_http_query::Client;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, AUTHORIZATION};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

/// Usage for every namespace, and how the queries went.
#[derive(Debug)]
pub struct UsageCollection {
    /// OpenCost's prices (CPU, memory), when `pricing.source` asks for them.
    pub opencost: Option<Result<(f64, f64), String>>,
    samples: HashMap<Statistic, Result<HashMap<String, f64>, String>>,
    /// Namespaces with series at the start of the window, and when that was.
    covered: Result<HashMap<String, f64>, String>,
    window_start: Option<DateTime<Utc>>,
    /// Per namespace, the subquery steps of the idle window that had a CPU rate.
    steps: Result<HashMap<String, f64>, String>,
    idle_window: Span,
    /// Which series each statistic was read from, and why.
    pub series: Vec<SeriesChoice>,
    /// HTTP requests made, retries included.
    pub queries: u32,
    /// One line per failed query, for humans.
    pub problems: Vec<String>,
}

impl UsageCollection {
    /// Usage when Prometheus could not be used at all.
    pub fn unavailable(reason: &str) -> Self {
        let samples = Statistic::ALL
            .into_iter()
            .map(|s| (s, Err(reason.to_string())))
            .collect();
        UsageCollection {
            opencost: Some(Err(reason.to_string())),
            samples,
            covered: Err(reason.to_string()),
            window_start: None,
            steps: Err(reason.to_string()),
            idle_window: Span::days(7),
            series: Vec::new(),
            queries: 0,
            problems: vec![reason.to_string()],
        }
    }

    /// True when no statistic could be read at all.
    pub fn all_failed(&self) -> bool {
        self.samples.values().all(|s| s.is_err())
    }

    /// The statistics of one namespace.
    ///
    /// Its history reaches back over the window when it had series at the window's
    /// start, and misses part of the idle window when its CPU rate is absent from more
    /// steps than [`query::GAP_TOLERANCE`] allows. A namespace with no series at all (nothing
    /// ran) borrows the cluster's history: it reaches back when any namespace had series
    /// then, and misses what the best-covered namespace misses (a Prometheus outage).
    /// When coverage could not be read, the history is unknown.
    pub fn usage_of(&self, namespace: &str) -> Usage {
        let sample = |s: Statistic| match self.samples.get(&s) {
            Some(Ok(values)) => match values.get(namespace) {
                Some(v) => Sample::Value { value: *v },
                None => Sample::NoSeries,
            },
            Some(Err(reason)) => Sample::unavailable(reason.clone()),
            None => Sample::unavailable("not queried"),
        };
        let usage = Usage {
            cpu_quantile_cores: sample(Statistic::CpuQuantile),
            cpu_max_cores: sample(Statistic::CpuMax),
            memory_bytes: sample(Statistic::Memory),
            network_max_bytes_per_second: sample(Statistic::NetworkMax),
            history_since: None,
            history_missing: None,
        };
        let no_series_at_all = [
            &usage.cpu_quantile_cores,
            &usage.cpu_max_cores,
            &usage.memory_bytes,
            &usage.network_max_bytes_per_second,
        ]
        .iter()
        .all(|s| matches!(s, Sample::NoSeries));
        let (reaches_back, history_missing) = match (&self.covered, &self.steps) {
            (Ok(covered), Ok(steps)) if no_series_at_all => {
                let best = steps.values().copied().fold(0.0, f64::max);
                (!covered.is_empty(), missing_time(best, self.idle_window))
            }
            (Ok(covered), Ok(steps)) => (
                covered.contains_key(namespace),
                missing_time(
                    steps.get(namespace).copied().unwrap_or(0.0),
                    self.idle_window,
                ),
            ),
            _ => (false, None),
        };
        Usage {
            history_since: self.window_start.filter(|_| reaches_back),
            history_missing,
            ..usage
        }
    }
}

/// A configured connection to Prometheus.
pub struct Prometheus {
    client: Client,
    url: String,
    timeout: Span,
    retries: u32,
    queries: AtomicU32,
}

impl Prometheus {
    /// Builds a client; reads the bearer token file now, so a rotated token is picked up
    /// by the next cycle's client.
    pub fn connect(config: &Config, url_override: Option<&str>) -> Result<Prometheus, String> {
        let p = &config.prometheus;
        let url = url_override
            .unwrap_or(&p.url)
            .trim_end_matches('/')
            .to_string();
        let mut headers = HeaderMap::new();
        if let Some(file) = &p.bearer_token_file {
            let token = std::fs::read_to_string(file)
                .map_err(|e| format!("cannot read prometheus.bearer_token_file {file}: {e}"))?;
            let value = HeaderValue::from_str(&format!("Bearer {}", token.trim()))
                .map_err(|_| format!("the token in {file} is not a valid header value"))?;
            headers.insert(AUTHORIZATION, value);
        }
        for (name, value) in &p.headers {
            let name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| format!("prometheus.headers: `{name}` is not a header name"))?;
            let value = HeaderValue::from_str(value).map_err(|_| {
                format!("prometheus.headers.{name}: value is not a valid header value")
            })?;
            headers.insert(name, value);
        }
        let http = reqwest::Client::builder()
            .default_headers(headers)
            .timeout(Duration::from_secs(p.timeout.as_seconds().max(1) as u64))
            .build()
            .map_err(|e| format!("cannot build the HTTP client for Prometheus: {e}"))?;
        let client = Client::from(http, &url)
            .map_err(|e| format!("prometheus.url `{url}` is not usable: {e}"))?;
        Ok(Prometheus {
            client,
            url,
            timeout: p.timeout,
            retries: p.retries,
            queries: AtomicU32::new(0),
        })
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// Runs every query, concurrently, as of `at`: first the recording rules' history
    /// checks (unless `recording_rules: never`), then the statistics.
    pub async fn collect(&self, config: &Config, at: DateTime<Utc>) -> UsageCollection {
        let choices = self.choose_series(config, at).await;
        let series_of = |statistic: Statistic| {
            choices
                .iter()
                .find(|c| c.statistic == statistic)
                .map(|c| c.series.ok_or_else(|| c.reason.clone()))
        };
        let window = config.rightsizing.window.max(config.idle.window);
        let coverage_at = at - window.as_delta();
        let statistic = |s: Statistic| {
            let series = series_of(s);
            async move {
                match series {
                    Some(Ok(series)) => {
                        self.by_namespace(&query::promql(s, series, config), at)
                            .await
                    }
                    Some(Err(reason)) => Err(reason),
                    None => Err("not queried".to_string()),
                }
            }
        };
        let steps = async {
            match series_of(Statistic::CpuMax) {
                Some(Ok(series)) => {
                    self.by_namespace(&query::steps_promql(series, config), at)
                        .await
                }
                Some(Err(reason)) => Err(reason),
                None => Err("not queried".to_string()),
            }
        };
        let opencost = async {
            if config.pricing.source != PriceSource::Opencost {
                return None;
            }
            let [cpu, memory] = query::opencost_promql(config);
            let (cpu, memory) = tokio::join!(self.scalar(&cpu, at), self.scalar(&memory, at));
            Some(cpu.and_then(|cpu| memory.map(|memory| (cpu, memory))))
        };
        let coverage_query = query::coverage_promql(config);
        let (cpu_q, cpu_max, memory, network, coverage, steps, opencost) = tokio::join!(
            statistic(Statistic::CpuQuantile),
            statistic(Statistic::CpuMax),
            statistic(Statistic::Memory),
            statistic(Statistic::NetworkMax),
            self.by_namespace(&coverage_query, coverage_at),
            steps,
            opencost,
        );
        let results = [cpu_q, cpu_max, memory, network];
        let mut failures: Vec<(&str, &String)> = Statistic::ALL
            .iter()
            .zip(&results)
            .filter_map(|(stat, r)| r.as_ref().err().map(|e| (stat.describe(), e)))
            .collect();
        if let Err(e) = &coverage {
            failures.push(("history coverage", e));
        }
        if let Err(e) = &steps {
            failures.push(("history gaps", e));
        }
        if let Some(Err(e)) = &opencost {
            failures.push(("OpenCost price", e));
        }
        let mut problems = match failures.first() {
            Some((_, first)) if failures.len() > 1 && failures.iter().all(|(_, e)| e == first) => {
                vec![format!("all {} queries failed: {first}", failures.len())]
            }
            _ => failures
                .iter()
                .map(|(what, e)| format!("{what} query failed: {e}"))
                .collect(),
        };
        let nothing_found = matches!(&coverage, Ok(c) if c.is_empty())
            && results.iter().all(|r| matches!(r, Ok(v) if v.is_empty()));
        if nothing_found {
            problems.push(format!(
                "no series matched{}: no namespace's usage or history is known",
                match config.prometheus.selector.trim() {
                    "" => String::new(),
                    s => format!(" prometheus.selector `{s}`"),
                }
            ));
        }
        UsageCollection {
            opencost,
            samples: Statistic::ALL.into_iter().zip(results).collect(),
            covered: coverage,
            window_start: Some(coverage_at),
            steps,
            idle_window: config.idle.window,
            series: choices,
            queries: self.queries.load(Ordering::Relaxed),
            problems,
        }
    }

    /// Per statistic, the series to read: `never` raw; otherwise one query says whether
    /// the recorded series existed at the window's start and exists now. `auto` falls
    /// back to raw when it does not (or the check fails); `always` leaves the statistic
    /// unknown.
    async fn choose_series(&self, config: &Config, at: DateTime<Utc>) -> Vec<SeriesChoice> {
        let mode = config.prometheus.recording_rules;
        if mode == RecordingRules::Never {
            return Statistic::ALL
                .map(|statistic| SeriesChoice {
                    statistic,
                    series: Some(Series::Raw),
                    reason: "prometheus.recording_rules is never".into(),
                })
                .to_vec();
        }
        let checks = Statistic::ALL.map(|s| async move {
            let answer = self
                .instant(&query::recorded_history_promql(s, config), at)
                .await;
            (s, answer)
        });
        let [a, b, c, d] = checks;
        let answers = tokio::join!(a, b, c, d);
        [answers.0, answers.1, answers.2, answers.3]
            .into_iter()
            .map(|(statistic, answer)| {
                let window = statistic.window(config);
                let name = statistic.recorded_series();
                let covered = match &answer {
                    Ok(Data::Vector(v)) => Ok(!v.is_empty()),
                    Ok(_) => Err("the check did not answer an instant vector".to_string()),
                    Err(e) => Err(e.clone()),
                };
                let (series, reason) = match (covered, mode) {
                    (Ok(true), _) => (
                        Some(Series::Recorded),
                        format!("{name} covers the {window} window"),
                    ),
                    (Ok(false), RecordingRules::Always) => (
                        None,
                        format!(
                            "prometheus.recording_rules is always, but {name} does not cover                              the {window} window (rules missing, or installed less than                              {window} ago; see deploy/prometheus/rules.yaml)"
                        ),
                    ),
                    (Ok(false), _) => (
                        Some(Series::Raw),
                        format!("{name} does not cover the {window} window"),
                    ),
                    (Err(e), RecordingRules::Always) => (
                        None,
                        format!("cannot check the history of {name}: {e}"),
                    ),
                    (Err(e), _) => (
                        Some(Series::Raw),
                        format!("cannot check the history of {name} ({e}); raw series used"),
                    ),
                };
                SeriesChoice {
                    statistic,
                    series,
                    reason,
                }
            })
            .collect()
    }

    async fn by_namespace(
        &self,
        query: &str,
        at: DateTime<Utc>,
    ) -> Result<HashMap<String, f64>, String> {
        let data = self.instant(query, at).await?;
        let Data::Vector(vector) = data else {
            return Err(format!("expected an instant vector from `{query}`"));
        };
        let mut out = HashMap::with_capacity(vector.len());
        for item in vector {
            let (labels, sample) = item.into_inner();
            if let Some(ns) = labels.get("namespace") {
                out.insert(ns.clone(), sample.value());
            }
        }
        Ok(out)
    }

    /// A query answering one number, such as an average over all nodes. A value that is
    /// missing, not finite or negative is an error, never zero.
    async fn scalar(&self, query: &str, at: DateTime<Utc>) -> Result<f64, String> {
        let data = self.instant(query, at).await?;
        let value = match data {
            Data::Vector(vector) => vector.first().map(|item| item.sample().value()),
            Data::Scalar(sample) => Some(sample.value()),
            _ => None,
        };
        match value {
            Some(v) if v.is_finite() && v >= 0.0 => Ok(v),
            Some(v) => Err(format!("`{query}` answered {v}, not a price")),
            None => Err(format!("`{query}` found no series")),
        }
    }

    /// One instant query with retries: connection problems, timeouts and server errors
    /// are retried with exponential backoff; a query Prometheus rejects is not, nor an
    /// answer with warnings (a partial response), which is an error: missing data.
    async fn instant(&self, query: &str, at: DateTime<Utc>) -> Result<Data, String> {
        let mut delay = Duration::from_millis(250);
        let mut attempt = 0;
        loop {
            self.queries.fetch_add(1, Ordering::Relaxed);
            match self.attempt(query, at).await {
                Ok(answer) => return answer.complete(),
                Err(failure) if attempt < self.retries && failure.retryable => {
                    tracing::warn!(error = %failure.message, attempt, "Prometheus query failed; retrying");
                    tokio::time::sleep(delay).await;
                    delay *= 2;
                    attempt += 1;
                }
                Err(failure) => return Err(failure.message),
            }
        }
    }

    /// One HTTP request. The client library drops `warnings`, so the envelope is read here.
    async fn attempt(&self, query: &str, at: DateTime<Utc>) -> Result<Answer, Failure> {
        let response = self
            .client
            .query(query)
            .at(at.timestamp())
            .timeout(self.timeout.as_seconds() * 1000)
            .query("partial_response", "false")
            .post_raw()
            .await
            .map_err(|e| Failure {
                retryable: retryable(&e),
                message: describe(&e, &self.url),
            })?;
        let status = response.status();
        let body = response.bytes().await.map_err(|e| Failure {
            retryable: true,
            message: format!("cannot read the answer: {e} (Prometheus at {})", self.url),
        })?;
        match serde_json::from_slice::<Envelope>(&body) {
            Ok(Envelope::Success { data, warnings }) => Ok(Answer {
                data: data.into_inner().0,
                warnings,
            }),
            Ok(Envelope::Error(e)) => {
                let e = prometheus_http_query::Error::Prometheus(e);
                Err(Failure {
                    retryable: retryable(&e),
                    message: describe(&e, &self.url),
                })
            }
            Err(e) => Err(Failure {
                retryable: true,
                message: format!(
                    "HTTP {status}: not an answer of the query API ({e}) (Prometheus at {})",
                    self.url
                ),
            }),
        }
    }
}

/// The query API's answer. `infos` (Prometheus 3) are notes about the query, not about
/// missing data, and are ignored.
#[derive(serde::Deserialize)]
#[serde(tag = "status", rename_all = "lowercase")]
enum Envelope {
    Success {
        data: PromqlResult,
        #[serde(default)]
        warnings: Vec<String>,
    },
    Error(PrometheusError),
}

struct Answer {
    data: Data,
    warnings: Vec<String>,
}

impl Answer {
    /// The data, or why it cannot be trusted as complete.
    fn complete(self) -> Result<Data, String> {
        if self.warnings.is_empty() {
            Ok(self.data)
        } else {
            Err(format!(
                "the answer may be incomplete, Prometheus warned: {}",
                self.warnings.join("; ")
            ))
        }
    }
}

struct Failure {
    retryable: bool,
    message: String,
}

fn retryable(e: &prometheus_http_query::Error) -> bool {
    use prometheus_http_query::error::PrometheusErrorType as T;
    match e {
        prometheus_http_query::Error::Prometheus(p) => matches!(
            p.error_type(),
            T::Timeout | T::Canceled | T::Internal | T::Unavailable
        ),
        prometheus_http_query::Error::Client(_) => true,
        _ => false,
    }
}

/// The error and its root cause, without the layers in between.
fn describe(e: &prometheus_http_query::Error, url: &str) -> String {
    let mut root: Option<&dyn std::error::Error> = None;
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        root = Some(s);
        source = s.source();
    }
    match root {
        Some(cause) => format!("{e}: {cause} (Prometheus at {url})"),
        None => format!("{e} (Prometheus at {url})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_namespace_absent_from_an_answer_has_no_series_and_a_failed_query_is_unavailable() {
        let mut samples = HashMap::new();
        samples.insert(
            Statistic::CpuQuantile,
            Ok(HashMap::from([("a".to_string(), 0.5)])),
        );
        samples.insert(Statistic::CpuMax, Err("timeout".to_string()));
        let c = UsageCollection {
            opencost: None,
            samples,
            covered: Ok(HashMap::new()),
            window_start: None,
            steps: Ok(HashMap::new()),
            idle_window: Span::days(7),
            series: Vec::new(),
            queries: 2,
            problems: vec![],
        };
        let a = c.usage_of("a");
        assert_eq!(a.cpu_quantile_cores, Sample::Value { value: 0.5 });
        assert_eq!(a.cpu_max_cores, Sample::unavailable("timeout"));
        assert_eq!(c.usage_of("b").cpu_quantile_cores, Sample::NoSeries);
        assert!(matches!(a.memory_bytes, Sample::Unavailable { .. }));
    }

    #[test]
    fn history_reaches_back_per_namespace_and_empty_namespaces_borrow_the_clusters() {
        let start = DateTime::parse_from_rfc3339("2026-11-14T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let values = |pairs: &[(&str, f64)]| -> Result<HashMap<String, f64>, String> {
            Ok(pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect())
        };
        let all =
            |pairs: &[(&str, f64)]| -> HashMap<Statistic, Result<HashMap<String, f64>, String>> {
                Statistic::ALL
                    .into_iter()
                    .map(|s| (s, values(pairs)))
                    .collect()
            };
        let c = UsageCollection {
            opencost: None,
            samples: all(&[("old", 0.0), ("new", 0.0)]),
            covered: values(&[("old", 3.0)]),
            window_start: Some(start),
            steps: values(&[("old", 2016.0), ("new", 288.0)]),
            idle_window: Span::days(7),
            series: Vec::new(),
            queries: 6,
            problems: vec![],
        };
        assert_eq!(
            c.usage_of("old").history_since,
            Some(start),
            "series at the window start"
        );
        assert_eq!(
            c.usage_of("new").history_since,
            None,
            "series only since inside the window"
        );
        assert_eq!(
            c.usage_of("empty").history_since,
            Some(start),
            "nothing ran; the cluster's history covers it"
        );
        let uncovered = UsageCollection {
            opencost: None,
            samples: all(&[]),
            covered: values(&[]),
            window_start: Some(start),
            steps: values(&[]),
            idle_window: Span::days(7),
            series: Vec::new(),
            queries: 6,
            problems: vec![],
        };
        assert_eq!(
            uncovered.usage_of("empty").history_since,
            None,
            "the cluster's history is too short"
        );
        let failed = UsageCollection {
            covered: Err("timeout".into()),
            ..c
        };
        assert_eq!(failed.usage_of("old").history_since, None);
    }

    #[test]
    fn gaps_are_per_namespace_and_empty_namespaces_borrow_the_best_covered() {
        let start = DateTime::parse_from_rfc3339("2026-11-14T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let values = |pairs: &[(&str, f64)]| -> Result<HashMap<String, f64>, String> {
            Ok(pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect())
        };
        let samples: HashMap<Statistic, Result<HashMap<String, f64>, String>> = [
            Statistic::CpuQuantile,
            Statistic::CpuMax,
            Statistic::Memory,
            Statistic::NetworkMax,
        ]
        .into_iter()
        .map(|s| (s, values(&[("whole", 0.0), ("holed", 0.0)])))
        .collect();
        let c = UsageCollection {
            opencost: None,
            samples,
            covered: values(&[("whole", 1.0), ("holed", 1.0)]),
            window_start: Some(start),
            steps: values(&[("whole", 2016.0), ("holed", 2016.0 - 288.0)]),
            idle_window: Span::days(7),
            series: Vec::new(),
            queries: 6,
            problems: vec![],
        };
        let whole = c.usage_of("whole");
        assert_eq!(
            (whole.history_since, whole.history_missing),
            (Some(start), None)
        );
        let holed = c.usage_of("holed");
        assert_eq!(
            (holed.history_since, holed.history_missing),
            (Some(start), Some(Span::days(1)))
        );
        assert_eq!(c.usage_of("empty").history_missing, None);

        // Prometheus itself was down for a day: nobody is covered, nor is an empty namespace.
        let outage = UsageCollection {
            steps: values(&[("whole", 1728.0), ("holed", 1700.0)]),
            ..c
        };
        assert_eq!(
            outage.usage_of("empty").history_missing,
            Some(Span::days(1))
        );
        // Coverage unknown: history unknown.
        let failed = UsageCollection {
            steps: Err("timeout".into()),
            ..outage
        };
        assert_eq!(failed.usage_of("whole").history_since, None);
        assert_eq!(failed.usage_of("empty").history_since, None);
    }

    /// A loopback HTTP endpoint that answers each request with the next canned
    /// (status, body) and records the request head.
    async fn endpoint(
        answers: Vec<(u16, &'static str)>,
    ) -> (String, tokio::task::JoinHandle<Vec<String>>) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            let mut seen = Vec::new();
            for (status, body) in answers {
                let (mut socket, _) = listener.accept().await.unwrap();
                let mut request = Vec::new();
                let mut chunk = [0u8; 4096];
                // Read the head, then as much body as Content-Length announces.
                while !complete(&request) {
                    let n = socket.read(&mut chunk).await.unwrap();
                    assert!(n > 0, "client closed early");
                    request.extend_from_slice(&chunk[..n]);
                }
                seen.push(String::from_utf8_lossy(&request).to_string());
                let reply = format!(
                    "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                socket.write_all(reply.as_bytes()).await.unwrap();
            }
            seen
        });
        (url, task)
    }

    fn complete(request: &[u8]) -> bool {
        let text = String::from_utf8_lossy(request).to_lowercase();
        let Some(head_end) = text.find("\r\n\r\n") else {
            return false;
        };
        let length = text[..head_end]
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse::<usize>().ok())
            .unwrap_or(0);
        request.len() >= head_end + 4 + length
    }

    const VECTOR: &str = r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"namespace":"a"},"value":[1700000000,"0.25"]}]}}"#;
    const UNAVAILABLE: &str = r#"{"status":"error","errorType":"unavailable","error":"busy"}"#;
    const BAD_DATA: &str = r#"{"status":"error","errorType":"bad_data","error":"parse error"}"#;

    const WARNED: &str = r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"namespace":"a"},"value":[1700000000,"0.25"]}]},"warnings":["partial response: store 10.0.0.7:10901 unavailable"]}"#;
    const INFOS: &str = r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"namespace":"a"},"value":[1700000000,"0.25"]}]},"warnings":[],"infos":["PromQL info: metric might not be a counter"]}"#;
    const HTML_502: &str = "<html>bad gateway</html>";

    #[tokio::test]
    async fn an_answer_with_warnings_is_missing_data_not_retried_and_says_why() {
        let (url, task) = endpoint(vec![(200, WARNED)]).await;
        let p = Prometheus::connect(&config_for(&url, 3), None).unwrap();
        let error = p.by_namespace("up", Utc::now()).await.unwrap_err();
        assert!(
            error.contains("store 10.0.0.7:10901 unavailable") && error.contains("incomplete"),
            "{error}"
        );
        assert_eq!(p.queries.load(Ordering::Relaxed), 1);
        let request = task.await.unwrap().remove(0);
        assert!(request.contains("partial_response=false"), "{request}");
    }

    #[tokio::test]
    async fn infos_and_empty_warnings_leave_the_answer_complete() {
        let (url, _task) = endpoint(vec![(200, INFOS)]).await;
        let p = Prometheus::connect(&config_for(&url, 0), None).unwrap();
        let values = p.by_namespace("up", Utc::now()).await.unwrap();
        assert_eq!(values.get("a"), Some(&0.25));
    }

    #[tokio::test]
    async fn a_proxy_error_page_is_retried_and_then_reported() {
        let (url, task) = endpoint(vec![(502, HTML_502), (502, HTML_502)]).await;
        let p = Prometheus::connect(&config_for(&url, 1), None).unwrap();
        let error = p.by_namespace("up", Utc::now()).await.unwrap_err();
        assert!(
            error.contains("HTTP 502") && error.contains(&url),
            "{error}"
        );
        assert_eq!(task.await.unwrap().len(), 2);
    }

    fn config_for(url: &str, retries: u32) -> Config {
        let mut c = Config::default();
        c.prometheus.url = url.to_string();
        c.prometheus.retries = retries;
        c
    }

    #[tokio::test]
    async fn sends_the_bearer_token_and_tenant_headers_and_the_evaluation_time() {
        let (url, task) = endpoint(vec![(200, VECTOR)]).await;
        let token = std::env::temp_dir().join(format!("kr-token-{}", std::process::id()));
        std::fs::write(&token, "s3cret\n").unwrap();
        let mut c = config_for(&url, 0);
        c.prometheus.bearer_token_file = Some(token.display().to_string());
        c.prometheus
            .headers
            .insert("X-Scope-OrgID".into(), "tenant-a".into());
        let p = Prometheus::connect(&c, None).unwrap();
        let at = DateTime::parse_from_rfc3339("2026-11-21T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let values = p.by_namespace("up", at).await.unwrap();
        assert_eq!(values.get("a"), Some(&0.25));
        let request = task.await.unwrap().remove(0).to_lowercase();
        assert!(
            request.contains("authorization: bearer s3cret\r\n"),
            "{request}"
        );
        assert!(request.contains("x-scope-orgid: tenant-a\r\n"), "{request}");
        assert!(
            request.contains(&format!("time={}", at.timestamp())),
            "{request}"
        );
    }

    #[tokio::test]
    async fn server_trouble_is_retried_with_backoff_and_counted() {
        let (url, task) =
            endpoint(vec![(503, UNAVAILABLE), (503, UNAVAILABLE), (200, VECTOR)]).await;
        let p = Prometheus::connect(&config_for(&url, 3), None).unwrap();
        let values = p.by_namespace("up", Utc::now()).await.unwrap();
        assert_eq!(values.len(), 1);
        assert_eq!(p.queries.load(Ordering::Relaxed), 3);
        assert_eq!(task.await.unwrap().len(), 3);
    }

    #[tokio::test]
    async fn a_rejected_query_is_not_retried_and_the_reason_is_kept() {
        let (url, task) = endpoint(vec![(400, BAD_DATA)]).await;
        let p = Prometheus::connect(&config_for(&url, 3), None).unwrap();
        let error = p.by_namespace("bad(", Utc::now()).await.unwrap_err();
        assert!(error.contains("parse error"), "{error}");
        assert!(error.contains(&url), "{error}");
        assert_eq!(p.queries.load(Ordering::Relaxed), 1);
        assert_eq!(task.await.unwrap().len(), 1);
    }

    #[test]
    fn an_unreadable_token_file_is_a_clear_error() {
        let mut c = Config::default();
        c.prometheus.bearer_token_file = Some("/nonexistent/token".into());
        let error = Prometheus::connect(&c, None).err().unwrap();
        assert!(
            error.contains("prometheus.bearer_token_file /nonexistent/token"),
            "{error}"
        );
    }
}
