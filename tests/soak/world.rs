//! The soak's world: the bed (real apiserver, controller-manager, Prometheus with a
//! history that ends at the present and scrapes the harness's exporter), the SMTP
//! server, one fault proxy per replica in front of the apiserver and one in front of
//! Prometheus, and the two `kube-reclaimer run` processes.

use super::http_proxy::{Held, HttpProxy};
use super::smtp::Smtp;
use crate::support::{Bed, BedOptions, Scenario};
use anyhow::{anyhow, Context, Result};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

/// CPU (cores) and network (bytes/s) of one pod, as the exporter serves them.
#[derive(Debug, Clone)]
struct Live {
    cores: f64,
    bytes: f64,
    cpu_total: f64,
    net_total: f64,
}

/// Serves `/metrics` for Prometheus to scrape every second: the pods of the soak's
/// metrics namespaces, their counters going on from where the backfilled history ends.
pub struct Exporter {
    pub port: u16,
    pods: Arc<Mutex<BTreeMap<(String, String), Live>>>,
}

impl Exporter {
    pub fn start() -> Exporter {
        let listener = TcpListener::bind("127.0.0.1:0").expect("exporter binds 127.0.0.1");
        let port = listener.local_addr().expect("address").port();
        let pods: Arc<Mutex<BTreeMap<(String, String), Live>>> = Arc::default();
        let p = pods.clone();
        std::thread::spawn(move || {
            let mut last = Instant::now();
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut buf = [0u8; 2048];
                let _ = stream.read(&mut buf);
                let dt = last.elapsed().as_secs_f64();
                last = Instant::now();
                let body = match p.lock() {
                    Ok(mut pods) => text(&mut pods, dt),
                    Err(_) => String::new(),
                };
                let _ = write!(
                    stream,
                    "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        Exporter { port, pods }
    }

    /// Sets the level of a pod (added if new).
    pub fn set(&self, namespace: &str, pod: &str, cores: f64, bytes: f64) {
        if let Ok(mut pods) = self.pods.lock() {
            let e = pods
                .entry((namespace.to_string(), pod.to_string()))
                .or_insert(Live {
                    cores,
                    bytes,
                    cpu_total: 0.0,
                    net_total: 0.0,
                });
            e.cores = cores;
            e.bytes = bytes;
        }
    }
}

fn text(pods: &mut BTreeMap<(String, String), Live>, dt: f64) -> String {
    let mut out = String::from("# TYPE container_cpu_usage_seconds_total counter\n");
    for ((ns, pod), l) in pods.iter_mut() {
        l.cpu_total += l.cores * dt;
        l.net_total += l.bytes * dt;
        out.push_str(&format!(
            "container_cpu_usage_seconds_total{{namespace=\"{ns}\",pod=\"{pod}\",container=\"app\"}} {}\n",
            l.cpu_total
        ));
    }
    out.push_str("# TYPE container_memory_working_set_bytes gauge\n");
    for (ns, pod) in pods.keys() {
        out.push_str(&format!(
            "container_memory_working_set_bytes{{namespace=\"{ns}\",pod=\"{pod}\",container=\"app\"}} 52428800\n"
        ));
    }
    for (dir, share) in [("receive", 0.6), ("transmit", 0.4)] {
        out.push_str(&format!(
            "# TYPE container_network_{dir}_bytes_total counter\n"
        ));
        for ((ns, pod), l) in pods.iter() {
            out.push_str(&format!(
                "container_network_{dir}_bytes_total{{namespace=\"{ns}\",pod=\"{pod}\",container=\"\",interface=\"eth0\"}} {}\n",
                l.net_total * share
            ));
        }
    }
    out
}

pub struct World {
    pub bed: Bed,
    pub runtime: tokio::runtime::Runtime,
    pub smtp: Smtp,
    pub exporter: Exporter,
    pub api: [HttpProxy; 2],
    pub prometheus: HttpProxy,
    pub held: mpsc::Receiver<Held>,
    pub etcd_url: String,
    /// Kubeconfig per replica: plain HTTP to its proxy, the bed's admin token.
    pub kubeconfigs: [PathBuf; 2],
    pub faketime: Option<PathBuf>,
}

fn env_value(state_dir: &Path, key: &str) -> Result<String> {
    let env = std::fs::read_to_string(state_dir.join("env")).context("the bed's env file")?;
    env.lines()
        .find_map(|l| l.strip_prefix(&format!("{key}=")))
        .map(|v| v.trim_matches('"').to_string())
        .ok_or_else(|| anyhow!("the bed's env file names no {key}"))
}

impl World {
    pub fn start(scenario: Scenario) -> Result<World> {
        let exporter = Exporter::start();
        let bed = Bed::start(BedOptions {
            name: "soak".into(),
            scenario,
            bulk: None,
            step: None,
            keep: std::env::var("KUBE_RECLAIMER_BED_KEEP").is_ok_and(|v| v == "1"),
            present: true,
            scrape: vec![format!("127.0.0.1:{}", exporter.port)],
        })?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?;
        let ca = std::fs::read(bed.state_dir.join("pki/ca.crt")).context("the bed's CA")?;
        let api_url = env_value(&bed.state_dir, "KUBE_RECLAIMER_BED_API_URL")?;
        let etcd_url = env_value(&bed.state_dir, "KUBE_RECLAIMER_BED_ETCD_URL")?;
        let token = std::fs::read_to_string(bed.state_dir.join("admin-token"))?;
        let (tx, held) = mpsc::channel();
        let api =
            [0, 1].map(|r| HttpProxy::start(runtime.handle(), &api_url, Some(&ca), r, tx.clone()));
        let prometheus = HttpProxy::start(runtime.handle(), &bed.prometheus_url, None, 2, tx);
        let kubeconfigs = [0, 1].map(|r| {
            let path = bed.state_dir.join(format!("soak-replica-{r}.kubeconfig"));
            let text = format!(
                "apiVersion: v1\nkind: Config\nclusters:\n- name: soak\n  cluster: {{server: 'http://127.0.0.1:{}'}}\nusers:\n- name: soak\n  user: {{token: '{}'}}\ncontexts:\n- name: soak\n  context: {{cluster: soak, user: soak}}\ncurrent-context: soak\n",
                api[r].port,
                token.trim()
            );
            std::fs::write(&path, text).map(|_| path)
        });
        let [a, b] = kubeconfigs;
        let faketime = [
            "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1",
            "/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1",
        ]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists());
        anyhow::ensure!(
            faketime.is_some(),
            "libfaketime is not installed (Debian package faketime; bash tests/bed/apt.sh --all): the clock-skew fault needs it"
        );
        Ok(World {
            bed,
            runtime,
            smtp: Smtp::start(),
            exporter,
            api,
            prometheus,
            held,
            etcd_url,
            kubeconfigs: [a?, b?],
            faketime,
        })
    }

    /// Writes `object` (a namespace as JSON) straight into etcd, the way the apiserver
    /// would have stored it: the apiserver reads JSON from etcd like its own protobuf.
    /// The only way to have a namespace that is already weeks old.
    pub fn put_in_etcd(&self, name: &str, object: &serde_json::Value) -> Result<()> {
        use base64_like::encode;
        let body = serde_json::json!({
            "key": encode(format!("/registry/namespaces/{name}").as_bytes()),
            "value": encode(object.to_string().as_bytes()),
        });
        let url = format!("{}/v3/kv/put", self.etcd_url);
        self.runtime.block_on(async {
            let answer = reqwest::Client::new()
                .post(&url)
                .body(body.to_string())
                .send()
                .await?;
            anyhow::ensure!(
                answer.status().is_success(),
                "etcd put: {}",
                answer.status()
            );
            Ok(())
        })
    }
}

/// Base64 (standard alphabet, padded), for etcd's JSON gateway.
mod base64_like {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

    pub fn encode(bytes: &[u8]) -> String {
        let mut out = String::new();
        for chunk in bytes.chunks(3) {
            let b = [
                chunk[0],
                *chunk.get(1).unwrap_or(&0),
                *chunk.get(2).unwrap_or(&0),
            ];
            let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
            for i in 0..4 {
                if i <= chunk.len() {
                    out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
                } else {
                    out.push('=');
                }
            }
        }
        out
    }

    #[test]
    fn encodes_like_rfc_4648() {
        assert_eq!(encode(b"foobar"), "Zm9vYmFy");
        assert_eq!(encode(b"fo"), "Zm8=");
        assert_eq!(encode(b"f"), "Zg==");
    }
}

/// The daemon's binary: this build's, or `KUBE_RECLAIMER_BIN` (a long soak can run on a
/// copy while the tree is rebuilt).
pub fn binary() -> PathBuf {
    std::env::var_os("KUBE_RECLAIMER_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_kube-reclaimer")))
}

/// One `kube-reclaimer run` process, restarted by the harness after each kill.
pub struct Replica {
    pub config: PathBuf,
    pub kubeconfig: PathBuf,
    pub log: PathBuf,
    pub prometheus_url: String,
    pub child: Option<Child>,
    /// The clock offset it runs with (faketime), if any.
    pub skew: Option<String>,
    pub starts: u32,
}

impl Replica {
    pub fn start(&mut self, faketime: Option<&Path>) -> Result<()> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)?;
        let mut c = Command::new(binary());
        c.args(["run", "--config"])
            .arg(&self.config)
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .args(["--prometheus-url", &self.prometheus_url])
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        if let (Some(offset), Some(lib)) = (&self.skew, faketime) {
            c.env("LD_PRELOAD", lib)
                .env("FAKETIME", offset)
                .env("FAKETIME_DONT_FAKE_MONOTONIC", "1");
        }
        self.child = Some(c.spawn().context("kube-reclaimer run starts")?);
        self.starts += 1;
        Ok(())
    }

    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM, then (bounded) wait; SIGKILL if it does not stop.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SAFETY: kill only sends a signal to our own child's pid.
            unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
            let deadline = Instant::now() + Duration::from_secs(20);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Exited by itself (a crash): the exit status.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        let status = self
            .child
            .as_mut()
            .and_then(|c| c.try_wait().ok().flatten());
        if status.is_some() {
            self.child = None;
        }
        status
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        self.kill();
    }
}
