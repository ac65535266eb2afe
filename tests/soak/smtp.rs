//! The soak's SMTP server on 127.0.0.1: records every accepted message with the time it
//! was accepted, and misbehaves on demand (down, tarpit, one recipient refused).
//! Threads only; it stops when dropped.

use chrono::{DateTime, Utc};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, ErrorKind, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One accepted message.
#[derive(Debug, Clone)]
pub struct Mail {
    pub at: DateTime<Utc>,
    /// Envelope recipients.
    pub to: Vec<String>,
    /// Header names lower-cased; the first value of each.
    pub headers: BTreeMap<String, String>,
}

impl Mail {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }
}

#[derive(Default)]
pub struct Switches {
    pub down: AtomicBool,
    pub tarpit_ms: AtomicU64,
    pub refuse: Mutex<Option<String>>,
    stopped: AtomicBool,
}

pub struct Smtp {
    pub port: u16,
    pub switches: Arc<Switches>,
    mails: Arc<Mutex<Vec<Mail>>>,
}

impl Smtp {
    pub fn start() -> Smtp {
        let listener = TcpListener::bind("127.0.0.1:0").expect("smtp binds 127.0.0.1");
        let port = listener.local_addr().expect("smtp address").port();
        listener.set_nonblocking(true).expect("nonblocking");
        let switches = Arc::new(Switches::default());
        let mails = Arc::new(Mutex::new(Vec::new()));
        let (s, m) = (switches.clone(), mails.clone());
        std::thread::spawn(move || {
            while !s.stopped.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        if s.down.load(Ordering::SeqCst) {
                            drop(stream);
                            continue;
                        }
                        let (s, m) = (s.clone(), m.clone());
                        std::thread::spawn(move || {
                            let _ = session(stream, &s, &m);
                        });
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {
                        std::thread::sleep(Duration::from_millis(10))
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        Smtp {
            port,
            switches,
            mails,
        }
    }

    /// Every message accepted so far, in the order of acceptance.
    pub fn mails(&self) -> Vec<Mail> {
        self.mails.lock().map(|m| m.clone()).unwrap_or_default()
    }
}

impl Drop for Smtp {
    fn drop(&mut self) {
        self.switches.stopped.store(true, Ordering::SeqCst);
    }
}

fn address(arg: &str) -> String {
    let start = arg.find('<').map_or(0, |i| i + 1);
    let end = arg.rfind('>').unwrap_or(arg.len());
    arg.get(start..end)
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

fn session(stream: TcpStream, s: &Switches, mails: &Mutex<Vec<Mail>>) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(60)))?;
    let mut out = stream.try_clone()?;
    let mut input = BufReader::new(stream);
    let reply = |out: &mut TcpStream, text: &str| -> std::io::Result<()> {
        let ms = s.tarpit_ms.load(Ordering::SeqCst);
        if ms > 0 {
            std::thread::sleep(Duration::from_millis(ms));
        }
        out.write_all(text.as_bytes())
    };
    reply(&mut out, "220 soak ESMTP\r\n")?;
    let mut to: Vec<String> = Vec::new();
    let mut line = String::new();
    loop {
        line.clear();
        if input.read_line(&mut line)? == 0 || s.down.load(Ordering::SeqCst) {
            return Ok(());
        }
        let command = line.trim_end().to_string();
        let verb = command
            .split_whitespace()
            .next()
            .unwrap_or("")
            .to_ascii_uppercase();
        match verb.as_str() {
            "EHLO" => reply(&mut out, "250-soak\r\n250 8BITMIME\r\n")?,
            "HELO" | "NOOP" => reply(&mut out, "250 OK\r\n")?,
            "MAIL" | "RSET" => {
                to.clear();
                reply(&mut out, "250 OK\r\n")?
            }
            "RCPT" => {
                let a = address(&command);
                let refused = s.refuse.lock().ok().and_then(|r| r.clone());
                if refused.as_deref() == Some(a.as_str()) {
                    reply(&mut out, "550 5.1.1 mailbox refused\r\n")?;
                } else {
                    to.push(a);
                    reply(&mut out, "250 OK\r\n")?;
                }
            }
            "DATA" if to.is_empty() => reply(&mut out, "503 no recipients\r\n")?,
            "DATA" => {
                reply(&mut out, "354 go ahead\r\n")?;
                let mut text = String::new();
                loop {
                    line.clear();
                    if input.read_line(&mut line)? == 0 {
                        return Ok(());
                    }
                    if line == ".\r\n" || line == ".\n" {
                        break;
                    }
                    text.push_str(line.strip_prefix('.').unwrap_or(&line));
                }
                let mail = Mail {
                    at: Utc::now(),
                    to: std::mem::take(&mut to),
                    headers: headers(&text),
                };
                if let Ok(mut m) = mails.lock() {
                    m.push(mail);
                }
                reply(&mut out, "250 OK queued\r\n")?;
            }
            "QUIT" => {
                reply(&mut out, "221 bye\r\n")?;
                return Ok(());
            }
            _ => reply(&mut out, "502 not implemented\r\n")?,
        }
    }
}

/// The message's header fields, unfolded; names lower-cased, first value kept.
fn headers(text: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut current: Option<(String, String)> = None;
    for line in text.lines() {
        if line.is_empty() {
            break;
        }
        if line.starts_with(' ') || line.starts_with('\t') {
            if let Some((_, v)) = current.as_mut() {
                v.push(' ');
                v.push_str(line.trim());
            }
            continue;
        }
        if let Some((k, v)) = current.take() {
            out.entry(k).or_insert(v);
        }
        if let Some((k, v)) = line.split_once(':') {
            current = Some((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    if let Some((k, v)) = current {
        out.entry(k).or_insert(v);
    }
    out
}
