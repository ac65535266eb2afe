//! A fault-injecting HTTP proxy on 127.0.0.1 in front of the apiserver (TLS to it, with
//! the bed's CA) or Prometheus. The daemon speaks plain HTTP to the proxy; the proxy
//! forwards each request and its answer, unless a fault says otherwise: connections cut,
//! answers late, writes refused (503 or 409), Lease renewals held, a request held while
//! its sender is killed, Prometheus answers with series left out or a hole in the window.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;
use tokio::sync::oneshot;

/// A request held at a trap: the harness decides whether it goes on (`true`: kill the
/// sender first, the request is never forwarded) or not.
pub struct Held {
    pub replica: usize,
    pub trap: Trap,
    /// The namespace the request is about.
    pub namespace: String,
    pub decide: oneshot::Sender<bool>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trap {
    /// A PATCH of a namespace's metadata (a record).
    NamespacePatch,
    /// A DELETE of a namespace.
    NamespaceDelete,
}

#[derive(Default)]
pub struct Faults {
    pub cut: AtomicBool,
    pub delay_ms: AtomicU64,
    /// Status for every write (POST, PUT, PATCH, DELETE); 0: none.
    pub write_status: AtomicU16,
    pub stall_leases: AtomicBool,
    /// Armed traps: a namespace PATCH, a namespace DELETE.
    pub trap_patch: AtomicBool,
    pub trap_delete: AtomicBool,
    /// Prometheus: leave out every other series of each answer.
    pub partial: AtomicBool,
    /// Prometheus: halve the counted samples of `count_over_time` answers.
    pub hole: AtomicBool,
}

struct Ctx {
    upstream: String,
    client: reqwest::Client,
    faults: Arc<Faults>,
    replica: usize,
    held: mpsc::Sender<Held>,
}

pub struct HttpProxy {
    pub port: u16,
    pub faults: Arc<Faults>,
}

impl HttpProxy {
    /// Listens on a free port of 127.0.0.1, forwarding to `upstream` (`https://…` with
    /// `ca` as its only trusted root, or `http://…`). Runs on `runtime`.
    pub fn start(
        runtime: &tokio::runtime::Handle,
        upstream: &str,
        ca: Option<&[u8]>,
        replica: usize,
        held: mpsc::Sender<Held>,
    ) -> HttpProxy {
        let mut builder = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(120));
        if let Some(pem) = ca {
            builder = builder
                .tls_certs_only([reqwest::Certificate::from_pem(pem).expect("the bed's CA")]);
        }
        let client = builder.build().expect("proxy client");
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0").expect("proxy binds");
        std_listener.set_nonblocking(true).expect("nonblocking");
        let port = std_listener.local_addr().expect("proxy address").port();
        let faults = Arc::new(Faults::default());
        let ctx = Arc::new(Ctx {
            upstream: upstream.trim_end_matches('/').to_string(),
            client,
            faults: faults.clone(),
            replica,
            held,
        });
        runtime.spawn(async move {
            let listener = tokio::net::TcpListener::from_std(std_listener).expect("listener");
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                if ctx.faults.cut.load(Ordering::SeqCst) {
                    drop(stream);
                    continue;
                }
                let ctx = ctx.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| {
                        let ctx = ctx.clone();
                        async move { handle(&ctx, req).await }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        HttpProxy { port, faults }
    }
}

type Answer = Result<Response<Full<Bytes>>, std::io::Error>;

fn cut() -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::ConnectionAborted, "cut by the soak")
}

fn status(code: u16, reason: &str) -> Response<Full<Bytes>> {
    let body = serde_json::json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": format!("{reason} (injected by the soak)"), "reason": reason, "code": code,
    });
    Response::builder()
        .status(StatusCode::from_u16(code).unwrap_or(StatusCode::SERVICE_UNAVAILABLE))
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap_or_default()
}

/// The namespace a core/v1 namespace request is about, and whether it is the namespace
/// object itself (not a subresource, not an object inside it).
fn namespace_object(path: &str) -> Option<&str> {
    let rest = path.strip_prefix("/api/v1/namespaces/")?;
    (!rest.is_empty() && !rest.contains('/')).then_some(rest)
}

async fn handle(ctx: &Ctx, req: Request<Incoming>) -> Answer {
    let f = &ctx.faults;
    if f.cut.load(Ordering::SeqCst) {
        return Err(cut());
    }
    let delay = f.delay_ms.load(Ordering::SeqCst);
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    let (parts, body) = req.into_parts();
    let body = body.collect().await.map_err(|_| cut())?.to_bytes();
    let method = parts.method.clone();
    let path = parts.uri.path().to_string();
    let write = !matches!(method.as_str(), "GET" | "HEAD" | "OPTIONS");
    if write && path.contains("/leases/") && f.stall_leases.load(Ordering::SeqCst) {
        while f.stall_leases.load(Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        return Err(cut());
    }
    let code = f.write_status.load(Ordering::SeqCst);
    if write && code != 0 {
        let reason = if code == 409 {
            "Conflict"
        } else {
            "ServiceUnavailable"
        };
        return Ok(status(code, reason));
    }
    let trap = match (method.as_str(), namespace_object(&path)) {
        ("PATCH", Some(ns)) => Some((Trap::NamespacePatch, ns)),
        ("DELETE", Some(ns)) => Some((Trap::NamespaceDelete, ns)),
        _ => None,
    };
    if let Some((trap, ns)) = trap {
        let armed = match trap {
            Trap::NamespacePatch => f.trap_patch.load(Ordering::SeqCst),
            Trap::NamespaceDelete => f.trap_delete.load(Ordering::SeqCst),
        };
        if armed {
            let (tx, rx) = oneshot::channel();
            let sent = ctx.held.send(Held {
                replica: ctx.replica,
                trap,
                namespace: ns.to_string(),
                decide: tx,
            });
            if sent.is_ok() && matches!(rx.await, Ok(true)) {
                // The sender is being killed: this request never reaches the apiserver.
                tokio::time::sleep(Duration::from_secs(30)).await;
                return Err(cut());
            }
        }
    }
    let url = format!(
        "{}{}",
        ctx.upstream,
        parts.uri.path_and_query().map_or("/", |p| p.as_str())
    );
    let mut forward = ctx.client.request(method, url);
    for (name, value) in &parts.headers {
        if !matches!(
            name.as_str(),
            "host" | "connection" | "content-length" | "transfer-encoding" | "keep-alive"
        ) {
            forward = forward.header(name, value);
        }
    }
    let answer = forward.body(body.clone()).send().await.map_err(|_| cut())?;
    let code = answer.status();
    let headers = answer.headers().clone();
    let mut bytes = answer.bytes().await.map_err(|_| cut())?;
    let asked = format!(
        "{}{}",
        parts.uri.query().unwrap_or(""),
        String::from_utf8_lossy(&body)
    );
    if path.starts_with("/api/v1/query") {
        bytes = prometheus_faults(f, &asked, bytes);
    }
    let mut out = Response::builder().status(code.as_u16());
    for (name, value) in &headers {
        if !matches!(
            name.as_str(),
            "connection" | "content-length" | "transfer-encoding" | "keep-alive"
        ) {
            out = out.header(name.as_str(), value.as_bytes());
        }
    }
    out.body(Full::new(bytes)).map_err(|_| cut())
}

/// A Prometheus answer with every other series left out (`partial`), or with the counts
/// of a `count_over_time` answer halved (`hole`).
fn prometheus_faults(f: &Faults, query: &str, bytes: Bytes) -> Bytes {
    let partial = f.partial.load(Ordering::SeqCst);
    let hole = f.hole.load(Ordering::SeqCst) && query.contains("count_over_time");
    if !partial && !hole {
        return bytes;
    }
    let Ok(mut doc) = serde_json::from_slice::<serde_json::Value>(&bytes) else {
        return bytes;
    };
    if let Some(result) = doc
        .pointer_mut("/data/result")
        .and_then(|r| r.as_array_mut())
    {
        if partial {
            let mut i = 0;
            result.retain(|_| {
                i += 1;
                i % 2 == 0
            });
        }
        if hole {
            for series in result.iter_mut() {
                if let Some(v) = series.pointer_mut("/value/1") {
                    let n: f64 = v.as_str().and_then(|s| s.parse().ok()).unwrap_or(0.0);
                    *v = serde_json::Value::String(format!("{}", (n / 2.0).floor()));
                }
            }
        }
    }
    Bytes::from(doc.to_string())
}
