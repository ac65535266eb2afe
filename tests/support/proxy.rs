//! A fault-injecting TCP proxy on 127.0.0.1: forwards every connection to an upstream
//! address, byte for byte (TLS passes through untouched), until told to stall. While
//! stalled it reads nothing in either direction, so a request in flight hangs without an
//! error, as behind a dead network path; [`Proxy::resume`] lets the held bytes through.
//! A delay makes each new connection wait before it is forwarded (a slow server).
//!
//! Threads only, bounded: the proxy stops when dropped, and by itself after [`LIFETIME`].

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The longest a proxy runs.
pub const LIFETIME: Duration = Duration::from_secs(600);

const POLL: Duration = Duration::from_millis(20);

#[derive(Default)]
struct Flags {
    stalled: AtomicBool,
    stopped: AtomicBool,
    /// Milliseconds each new connection waits before it is forwarded.
    delay_ms: AtomicU64,
}

pub struct Proxy {
    pub port: u16,
    flags: Arc<Flags>,
}

impl Proxy {
    /// Listens on a free port of 127.0.0.1 and forwards to `upstream`.
    pub fn start(upstream: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("proxy binds 127.0.0.1");
        let port = listener.local_addr().expect("proxy address").port();
        listener.set_nonblocking(true).expect("nonblocking");
        let flags = Arc::new(Flags::default());
        let f = flags.clone();
        std::thread::spawn(move || {
            let started = Instant::now();
            while !f.stopped.load(Ordering::SeqCst) && started.elapsed() < LIFETIME {
                match listener.accept() {
                    Ok((client, _)) => {
                        let f = f.clone();
                        std::thread::spawn(move || connection(client, upstream, &f, started));
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => std::thread::sleep(POLL),
                    Err(_) => std::thread::sleep(POLL),
                }
            }
            f.stopped.store(true, Ordering::SeqCst);
        });
        Proxy { port, flags }
    }

    /// Holds every byte in both directions from now on.
    pub fn stall(&self) {
        self.flags.stalled.store(true, Ordering::SeqCst);
    }

    /// Forwards again, the held bytes first.
    pub fn resume(&self) {
        self.flags.stalled.store(false, Ordering::SeqCst);
    }

    /// Each connection accepted from now on waits `delay` before it is forwarded.
    pub fn delay_connections(&self, delay: Duration) {
        self.flags
            .delay_ms
            .store(delay.as_millis() as u64, Ordering::SeqCst);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.flags.stopped.store(true, Ordering::SeqCst);
    }
}

fn connection(client: TcpStream, upstream: SocketAddr, flags: &Arc<Flags>, started: Instant) {
    let delay = Duration::from_millis(flags.delay_ms.load(Ordering::SeqCst));
    std::thread::sleep(delay);
    let Ok(server) = TcpStream::connect_timeout(&upstream, Duration::from_secs(5)) else {
        return;
    };
    let (Ok(client2), Ok(server2)) = (client.try_clone(), server.try_clone()) else {
        return;
    };
    let f = flags.clone();
    let up = std::thread::spawn(move || pump(client, server, &f, started));
    pump(server2, client2, flags, started);
    let _ = up.join();
}

/// Copies `from` to `to` until either side closes, the proxy stops, or its lifetime ends;
/// reads nothing while stalled.
fn pump(mut from: TcpStream, mut to: TcpStream, flags: &Flags, started: Instant) {
    let _ = from.set_read_timeout(Some(POLL));
    let mut buf = [0u8; 16 * 1024];
    while !flags.stopped.load(Ordering::SeqCst) && started.elapsed() < LIFETIME {
        if flags.stalled.load(Ordering::SeqCst) {
            std::thread::sleep(POLL);
            continue;
        }
        match from.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => break,
        }
    }
    let _ = to.shutdown(Shutdown::Write);
    let _ = from.shutdown(Shutdown::Read);
}

/// The bed's apiserver behind a [`Proxy`]: a kubeconfig (and its client) that reach it
/// only through the proxy.
pub struct Apiserver {
    pub proxy: Proxy,
    pub kubeconfig: std::path::PathBuf,
    pub client: kube::Client,
}

/// Puts a proxy in front of `bed`'s apiserver; `name` names the kubeconfig written.
pub fn apiserver(bed: &super::Bed, name: &str) -> Apiserver {
    let env = std::fs::read_to_string(bed.state_dir.join("env")).expect("bed env");
    let url = env
        .lines()
        .find_map(|l| l.strip_prefix("KUBE_RECLAIMER_BED_API_URL="))
        .expect("KUBE_RECLAIMER_BED_API_URL")
        .trim()
        .to_string();
    let upstream: SocketAddr = url
        .trim_start_matches("https://")
        .trim_end_matches('/')
        .parse()
        .expect("the bed's apiserver URL is https://127.0.0.1:PORT");
    let proxy = Proxy::start(upstream);
    let text = std::fs::read_to_string(&bed.kubeconfig).expect("kubeconfig");
    assert!(text.contains(&url), "{url} not in the kubeconfig");
    let kubeconfig = bed.state_dir.join(format!("kubeconfig-proxy-{name}"));
    let proxied = text.replace(&url, &format!("https://127.0.0.1:{}", proxy.port));
    std::fs::write(&kubeconfig, proxied).expect("write kubeconfig");
    let path = kubeconfig.clone();
    let client = bed.block_on(async move {
        let file = kube::config::Kubeconfig::read_from(&path).expect("read kubeconfig");
        let config = kube::Config::from_custom_kubeconfig(file, &Default::default())
            .await
            .expect("kube config");
        kube::Client::try_from(config).expect("client")
    });
    Apiserver {
        proxy,
        kubeconfig,
        client,
    }
}
