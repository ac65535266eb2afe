//! E-mail through a real SMTP server: every kind of notice is rendered with the built-in
//! templates and sent with `Mailer` to Python's aiosmtpd (tests/bed/smtp-up.sh) in each
//! TLS mode — plain, STARTTLS and implicit TLS with the test CA in `smtp.ca_file`, and
//! STARTTLS with AUTH — then read back from the .eml files the server wrote: envelope
//! recipients, From, To, Subject, both parts of the multipart/alternative body and what
//! they say. A send counts only when the server accepted it: a server that is down, a
//! wrong password, an untrusted certificate or a refused recipient or message is an error.
//! The weekly reports go through the daemon's sender: each arrives as multipart/mixed
//! (text and HTML alternatives, then the CSV), the CSV says what the evaluation says, and
//! a team whose address is refused stops no other.
//!
//! The servers start once per test binary, on free loopback ports; a detached watchdog
//! stops them (tests/bed/down.sh) when this process exits, however it exits, and removes
//! their state unless `KUBE_RECLAIMER_BED_KEEP=1`.

mod support;

use chrono::{DateTime, Utc};
use kube_reclaimer::core::assess::{ExpirySource, Finding, KeyKind, Signal};
use kube_reclaimer::core::config::Config;
use kube_reclaimer::core::model::Span;
use kube_reclaimer::core::notice::{Evidence, Notice, NoticeKind, Rendered};
use kube_reclaimer::core::plan::Reason;
use kube_reclaimer::io::smtp::{MailError, Mailer};
use kube_reclaimer::render::notice::{render, RenderContext, Templates};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;
use support::bed::{run_command, start_watchdog};

const USER: &str = "alice";
const PASSWORD: &str = "correct horse battery staple";
const FROM: &str = "kube-reclaimer@cluster.example";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    None,
    Starttls,
    Tls,
    /// STARTTLS with AUTH required.
    Auth,
    /// Plain, for the test that stops it.
    Down,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::None => "none",
            Mode::Starttls => "starttls",
            Mode::Tls => "tls",
            Mode::Auth => "auth",
            Mode::Down => "down",
        }
    }
    fn tls(self) -> &'static str {
        match self {
            Mode::None | Mode::Down => "none",
            Mode::Starttls | Mode::Auth => "starttls",
            Mode::Tls => "tls",
        }
    }
}

struct Server {
    mode: Mode,
    dir: PathBuf,
    port: u16,
}

struct Servers {
    base: PathBuf,
    all: Vec<Server>,
}

fn bed_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/bed")
}

fn servers() -> &'static Servers {
    static SERVERS: OnceLock<Result<Servers, String>> = OnceLock::new();
    match SERVERS.get_or_init(start_servers) {
        Ok(s) => s,
        Err(e) => panic!("the test SMTP servers could not be started: {e}"),
    }
}

fn server(mode: Mode) -> &'static Server {
    match servers().all.iter().find(|s| s.mode == mode) {
        Some(s) => s,
        None => panic!("no {} server", mode.name()),
    }
}

/// Removes the folders of earlier runs whose process is gone (their password files too).
fn remove_stale_runs(tmp: &Path) {
    let Ok(entries) = std::fs::read_dir(tmp) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = name.strip_prefix("kube-reclaimer-mail-") else {
            continue;
        };
        if pid.parse::<u32>().is_ok() && !Path::new("/proc").join(pid).exists() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

fn start_servers() -> Result<Servers, String> {
    let tmp = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    remove_stale_runs(&tmp);
    let base = tmp.join(format!("kube-reclaimer-mail-{}", std::process::id()));
    std::fs::create_dir_all(&base).map_err(|e| format!("{}: {e}", base.display()))?;
    let modes = [
        Mode::None,
        Mode::Starttls,
        Mode::Tls,
        Mode::Auth,
        Mode::Down,
    ];
    let keep = std::env::var("KUBE_RECLAIMER_BED_KEEP").is_ok_and(|v| v == "1");
    let mut all = Vec::new();
    for mode in modes {
        let dir = base.join(mode.name());
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        // Stops this server when the test process exits, whatever way it exits.
        start_watchdog(&dir, keep).map_err(|e| format!("{e:#}"))?;
        let mut cmd = Command::new(bed_dir().join("smtp-up.sh"));
        cmd.arg(&dir).args(["--tls", mode.tls()]);
        if mode == Mode::Auth {
            cmd.args(["--user", USER])
                .env("KUBE_RECLAIMER_SMTP_PASSWORD", PASSWORD);
        }
        let port = run_command(cmd, Duration::from_secs(300))
            .map_err(|e| format!("{e:#}"))?
            .trim()
            .parse()
            .map_err(|e| format!("smtp-up.sh printed no port: {e}"))?;
        all.push(Server { mode, dir, port });
    }
    Ok(Servers { base, all })
}

/// The config of a mailer for `server`; `extra` adds keys under `smtp`.
fn smtp_config(server: &Server, extra: &str) -> Config {
    let ca = match server.mode.tls() {
        "none" => String::new(),
        _ => format!(", ca_file: '{}'", server.dir.join("smtp-ca.crt").display()),
    };
    let yaml = format!(
        "smtp: {{host: 127.0.0.1, port: {}, tls: {}, from: {FROM}, timeout: 10s{ca}{extra}}}",
        server.port,
        server.mode.tls(),
    );
    match Config::from_yaml(&yaml, "test") {
        Ok(c) => c,
        Err(e) => panic!("{yaml}: {e}"),
    }
}

fn password_file(name: &str, password: &str) -> PathBuf {
    let path = servers().base.join(name);
    std::fs::write(&path, format!("{password}\n")).unwrap();
    path
}

fn mailer(mode: Mode) -> Mailer {
    let server = server(mode);
    let extra = if mode == Mode::Auth {
        let file = password_file("password", PASSWORD);
        format!(", username: {USER}, password_file: '{}'", file.display())
    } else {
        String::new()
    };
    Mailer::new(&smtp_config(server, &extra)).unwrap()
}

// ------------------------------------------------------------------ the notices

fn utc(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap()
        .with_timezone(&Utc)
}

const NOW: &str = "2026-12-16T10:00:00Z";
const EXTEND: &str =
    "kubectl label namespace team-a kube-reclaimer.io/expires=2027-01-15 --overwrite";
const OPT_OUT: &str = "kubectl label namespace team-a kube-reclaimer.io/expires=never --overwrite";

/// Each kind of notice for namespace team-a, with what its mail must say.
fn notices() -> Vec<(Notice, &'static str, Vec<&'static str>)> {
    let source = ExpirySource {
        kind: KeyKind::Label,
        key: "kube-reclaimer.io/expires".into(),
        value: "2026-12-14".into(),
    };
    let notice = |kind| Notice {
        namespace: "team-a".into(),
        expiry_source: Some(source.clone()),
        volumes: Some(Default::default()),
        kind,
    };
    vec![
        (
            notice(NoticeKind::Reminder {
                expires_at: utc("2026-12-23T00:00:00Z"),
                offset: Span::days(7),
            }),
            "Namespace team-a expires Wed 2026-12-23 00:00 UTC",
            vec!["reminder 7d before expiry"],
        ),
        (
            notice(NoticeKind::Marked {
                cause: Reason::Expired,
                reclaim_after: utc("2026-12-19T10:00:00Z"),
                evidence: Evidence::Expired {
                    at: utc("2026-12-15T00:00:00Z"),
                    source: source.clone(),
                },
            }),
            "Namespace team-a will be deleted after Sat 2026-12-19 10:00 UTC",
            vec!["label kube-reclaimer.io/expires=2026-12-14"],
        ),
        (
            notice(NoticeKind::Marked {
                cause: Reason::Idle,
                reclaim_after: utc("2026-12-19T10:00:00Z"),
                evidence: Evidence::Idle {
                    summary: "idle: CPU and network below thresholds for the whole 7d window"
                        .into(),
                    signals: vec![Signal {
                        signal: "cpu".into(),
                        statistic: "highest 5-minute CPU rate over 7d (cores)".into(),
                        value: Some(0.002),
                        threshold: 0.01,
                        status: "below".into(),
                        reason: None,
                    }],
                },
            }),
            "Namespace team-a will be deleted after Sat 2026-12-19 10:00 UTC",
            vec!["0.002 cores", "0.010 cores"],
        ),
        (
            notice(NoticeKind::Reclaimed {
                cause: Reason::Expired,
                at: utc("2026-12-16T09:58:00Z"),
                tombstone: Some("ConfigMap kube-reclaimer/tombstone-team-a".into()),
                asleep: false,
            }),
            "Namespace team-a was deleted",
            vec![
                "ConfigMap kube-reclaimer/tombstone-team-a",
                "kubectl create namespace team-a",
            ],
        ),
        (
            notice(NoticeKind::Malformed {
                findings: vec![Finding {
                    key: "kube-reclaimer.io/owner-email".into(),
                    value: "<alice>".into(),
                    problem: "not an e-mail address".into(),
                }],
            }),
            "Values on namespace team-a cannot be read",
            vec!["kube-reclaimer.io/owner-email=<alice>"],
        ),
    ]
}

fn rendered(notice: &Notice) -> Rendered {
    let config = Config::default();
    let templates = Templates::from_config(&config).unwrap();
    render(notice, &RenderContext::new(&config, &templates, utc(NOW))).unwrap()
}

fn sample() -> Rendered {
    rendered(&notices()[0].0)
}

// ------------------------------------------------------------------ reading .eml

/// One delivered message: the envelope lines the server added, the headers (unfolded)
/// and the decoded text/plain and text/html parts.
#[derive(Debug)]
struct Delivered {
    envelope_to: Vec<String>,
    envelope_from: String,
    tls: bool,
    auth: String,
    headers: BTreeMap<String, String>,
    content_type: String,
    text: Option<String>,
    html: Option<String>,
}

/// The message delivered to `recipient` (exactly one must exist).
fn delivered_to(mode: Mode, recipient: &str) -> Delivered {
    let found: Vec<Delivered> = deliveries(mode)
        .into_iter()
        .filter(|d| d.envelope_to.iter().any(|t| t == recipient))
        .collect();
    assert_eq!(found.len(), 1, "messages to {recipient}: {found:#?}");
    found.into_iter().next().unwrap()
}

fn deliveries(mode: Mode) -> Vec<Delivered> {
    let dir = server(mode).dir.join("mail");
    let mut out = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "eml") {
            out.push(parse_eml(&std::fs::read_to_string(&path).unwrap()));
        }
    }
    out
}

fn split_message(raw: &str) -> (BTreeMap<String, String>, Vec<(String, String)>, String) {
    let raw = raw.replace("\r\n", "\n");
    let (head, body) = raw.split_once("\n\n").unwrap_or((raw.as_str(), ""));
    let mut lines: Vec<(String, String)> = Vec::new();
    for line in head.lines() {
        if line.starts_with([' ', '\t']) {
            if let Some(last) = lines.last_mut() {
                last.1.push(' ');
                last.1.push_str(line.trim());
            }
        } else if let Some((k, v)) = line.split_once(':') {
            lines.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    let map = lines.iter().cloned().collect();
    (map, lines, body.to_string())
}

fn parse_eml(raw: &str) -> Delivered {
    let (headers, lines, body) = split_message(raw);
    let content_type = headers.get("content-type").cloned().unwrap_or_default();
    let boundary = content_type
        .split(';')
        .filter_map(|p| p.trim().strip_prefix("boundary="))
        .map(|b| b.trim_matches('"').to_string())
        .next();
    let (mut text, mut html) = (None, None);
    if let Some(boundary) = boundary {
        for part in body.split(&format!("--{boundary}")).skip(1) {
            if part.starts_with("--") {
                break;
            }
            // The line break before the next delimiter belongs to the delimiter.
            let part = part.strip_suffix('\n').unwrap_or(part);
            let (h, _, content) = split_message(part.trim_start_matches('\n'));
            let decoded = decode(
                h.get("content-transfer-encoding")
                    .map_or("7bit", |s| s.as_str()),
                &content,
            );
            match h.get("content-type").map(|s| s.as_str()) {
                Some(t) if t.starts_with("text/plain") => text = Some(decoded),
                Some(t) if t.starts_with("text/html") => html = Some(decoded),
                _ => {}
            }
        }
    }
    Delivered {
        envelope_to: lines
            .iter()
            .filter(|(k, _)| k == "x-envelope-to")
            .map(|(_, v)| v.trim_matches(['<', '>']).to_string())
            .collect(),
        envelope_from: headers["x-envelope-from"]
            .trim_matches(['<', '>'])
            .to_string(),
        tls: headers["x-bed-tls"] == "yes",
        auth: headers["x-bed-auth"].clone(),
        headers,
        content_type,
        text,
        html,
    }
}

fn decode(encoding: &str, content: &str) -> String {
    match encoding.to_ascii_lowercase().as_str() {
        "quoted-printable" => quoted_printable(content),
        "base64" => base64(content),
        _ => content.to_string(),
    }
}

fn quoted_printable(s: &str) -> String {
    let mut out = Vec::new();
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'=' if bytes.get(i + 1) == Some(&b'\n') => i += 2,
            b'=' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap();
                out.push(u8::from_str_radix(hex, 16).unwrap());
                i += 3;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).unwrap()
}

fn base64(s: &str) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let (mut out, mut acc, mut bits) = (Vec::new(), 0u32, 0);
    for c in s.bytes().filter(|c| !c.is_ascii_whitespace() && *c != b'=') {
        let v = ALPHABET.iter().position(|a| *a == c).unwrap() as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    String::from_utf8(out).unwrap()
}

fn unescape(html: &str) -> String {
    html.replace("&#x2f;", "/")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&amp;", "&")
}

// ------------------------------------------------------------------ tests

async fn deliver_every_kind(mode: Mode) {
    let mailer = mailer(mode);
    for (i, (notice, subject, facts)) in notices().iter().enumerate() {
        let kind = notice.template();
        let owner = format!("owner-{}-{i}-{kind}@team-a.example", mode.name());
        let second = format!("second-{}-{i}-{kind}@team-a.example", mode.name());
        let rendered = rendered(notice);
        if let Err(e) = mailer
            .send(&[owner.clone(), second.clone()], &rendered)
            .await
        {
            panic!("{} {kind}: {e}", mode.name());
        }
        let d = delivered_to(mode, &owner);
        let what = format!("{} {kind}", mode.name());
        assert_eq!(d.envelope_to, vec![owner.clone(), second.clone()], "{what}");
        assert_eq!(d.envelope_from, FROM, "{what}");
        assert_eq!(d.headers["from"], FROM, "{what}");
        assert_eq!(d.headers["to"], format!("{owner}, {second}"), "{what}");
        assert_eq!(d.headers["subject"], *subject, "{what}");
        assert!(d.headers.contains_key("date") && d.headers.contains_key("message-id"));
        assert_eq!(d.headers["auto-submitted"], "auto-generated", "{what}");
        assert!(
            d.content_type.starts_with("multipart/alternative"),
            "{what}: {}",
            d.content_type
        );
        assert_eq!(d.tls, mode != Mode::None, "{what}: encrypted");
        assert_eq!(
            d.auth,
            if mode == Mode::Auth { USER } else { "none" },
            "{what}"
        );
        let text = d
            .text
            .unwrap_or_else(|| panic!("{what}: no text/plain part"));
        let html = unescape(
            &d.html
                .unwrap_or_else(|| panic!("{what}: no text/html part")),
        );
        assert_eq!(
            text.replace("\r\n", "\n"),
            rendered.text,
            "{what}: text part"
        );
        assert!(
            html.contains("<html>") && html.contains("</html>"),
            "{what}"
        );
        for body in [&text, &html] {
            for fact in [EXTEND, OPT_OUT, "team-a"] {
                assert!(body.contains(fact), "{what}: `{fact}` missing in\n{body}");
            }
        }
        for fact in facts {
            assert!(text.contains(fact), "{what}: `{fact}` missing in\n{text}");
        }
    }
}

#[tokio::test]
async fn every_kind_is_delivered_over_plain_smtp() {
    deliver_every_kind(Mode::None).await;
}

#[tokio::test]
async fn every_kind_is_delivered_over_starttls_trusting_the_test_ca() {
    deliver_every_kind(Mode::Starttls).await;
}

#[tokio::test]
async fn every_kind_is_delivered_over_implicit_tls_trusting_the_test_ca() {
    deliver_every_kind(Mode::Tls).await;
}

#[tokio::test]
async fn every_kind_is_delivered_with_authentication() {
    deliver_every_kind(Mode::Auth).await;
}

#[tokio::test]
async fn html_in_a_value_arrives_escaped() {
    let (notice, ..) = notices().pop().unwrap();
    let rendered = rendered(&notice);
    let owner = "escaping@team-a.example".to_string();
    mailer(Mode::None)
        .send(std::slice::from_ref(&owner), &rendered)
        .await
        .unwrap();
    let html = delivered_to(Mode::None, &owner).html.unwrap();
    assert!(
        html.contains("&lt;alice&gt;") && !html.contains("<alice>"),
        "{html}"
    );
}

#[tokio::test]
async fn a_server_that_is_down_is_an_error() {
    let mailer = mailer(Mode::Down);
    let before = "before-down@team-a.example".to_string();
    mailer
        .send(std::slice::from_ref(&before), &sample())
        .await
        .unwrap();
    delivered_to(Mode::Down, &before);

    let mut down = Command::new(bed_dir().join("smtp-down.sh"));
    down.arg(&server(Mode::Down).dir);
    // smtp-down.sh bounds its own wait (SIGTERM, then SIGKILL).
    assert!(down.status().expect("smtp-down.sh runs").success());

    let err = mailer
        .send(&["after-down@team-a.example".into()], &sample())
        .await
        .unwrap_err();
    assert!(matches!(err, MailError::Unreachable { .. }), "{err:?}");
    let message = err.to_string();
    assert!(
        message.starts_with("mail not sent: cannot deliver to the SMTP server 127.0.0.1:")
            && message.contains("check smtp.host, smtp.port, smtp.tls"),
        "{message}"
    );
    assert_eq!(deliveries(Mode::Down).len(), 1);
}

#[tokio::test]
async fn a_wrong_password_is_an_authentication_error() {
    let server = server(Mode::Auth);
    let file = password_file("wrong-password", "Tr0ub4dor&3");
    let config = smtp_config(
        server,
        &format!(", username: {USER}, password_file: '{}'", file.display()),
    );
    let recipient = "wrong-password@team-a.example".to_string();
    let err = Mailer::new(&config)
        .unwrap()
        .send(std::slice::from_ref(&recipient), &sample())
        .await
        .unwrap_err();
    assert!(matches!(err, MailError::Auth { .. }), "{err:?}");
    let message = err.to_string();
    assert!(
        message.contains("authentication with the SMTP server")
            && message.contains("535")
            && message.contains("check smtp.username and the password"),
        "{message}"
    );

    // No credentials for a server that requires them: also an authentication error.
    let err = Mailer::new(&smtp_config(server, ""))
        .unwrap()
        .send(std::slice::from_ref(&recipient), &sample())
        .await
        .unwrap_err();
    assert!(matches!(err, MailError::Auth { .. }), "{err:?}");
    assert!(
        deliveries(Mode::Auth)
            .iter()
            .all(|d| !d.envelope_to.contains(&recipient)),
        "nothing was delivered"
    );
}

#[tokio::test]
async fn a_certificate_from_an_unknown_ca_is_refused() {
    for mode in [Mode::Starttls, Mode::Tls] {
        let server = server(mode);
        let mut config = smtp_config(server, "");
        config.smtp.ca_file = None;
        let err = Mailer::new(&config)
            .unwrap()
            .send(
                &[format!("untrusted-{}@team-a.example", mode.name())],
                &sample(),
            )
            .await
            .unwrap_err();
        assert!(matches!(err, MailError::Unreachable { .. }), "{err:?}");
        assert!(err.to_string().contains("smtp.ca_file"), "{err}");
    }
}

#[tokio::test]
async fn a_refused_recipient_or_message_is_not_sent() {
    let mailer = mailer(Mode::None);
    for (recipients, code) in [
        (
            vec!["ok-1@team-a.example", "refuse-me@team-a.example"],
            "550",
        ),
        (vec!["reject-data@team-a.example"], "554"),
    ] {
        let recipients: Vec<String> = recipients.into_iter().map(String::from).collect();
        let err = mailer.send(&recipients, &sample()).await.unwrap_err();
        assert!(matches!(err, MailError::Rejected { .. }), "{err:?}");
        let message = err.to_string();
        assert!(
            message.starts_with("mail not sent: the SMTP server") && message.contains(code),
            "{message}"
        );
        assert!(deliveries(Mode::None)
            .iter()
            .all(|d| !d.envelope_to.iter().any(|t| recipients.contains(t))));
    }
}

// ------------------------------------------------------------------ weekly reports

/// A MIME part: headers (lower-case names), its decoded body, and its parts when it is
/// multipart.
#[derive(Debug)]
struct Part {
    headers: BTreeMap<String, String>,
    body: String,
    parts: Vec<Part>,
}

impl Part {
    fn content_type(&self) -> &str {
        self.headers
            .get("content-type")
            .map_or("text/plain", |s| s.as_str())
    }

    /// Every part that is not multipart, depth first.
    fn leaves(&self) -> Vec<&Part> {
        if self.parts.is_empty() {
            vec![self]
        } else {
            self.parts.iter().flat_map(Part::leaves).collect()
        }
    }
}

fn mime(raw: &str) -> Part {
    let (headers, _, body) = split_message(raw);
    let boundary = headers.get("content-type").and_then(|ct| {
        ct.split(';')
            .filter_map(|p| p.trim().strip_prefix("boundary="))
            .map(|b| b.trim_matches('"').to_string())
            .next()
    });
    let parts = match &boundary {
        Some(b) => body
            .split(&format!("--{b}"))
            .skip(1)
            .take_while(|p| !p.starts_with("--"))
            .map(|p| mime(p.strip_suffix('\n').unwrap_or(p).trim_start_matches('\n')))
            .collect(),
        None => Vec::new(),
    };
    let encoding = headers
        .get("content-transfer-encoding")
        .map_or("7bit", |s| s.as_str());
    Part {
        body: decode(encoding, &body),
        headers,
        parts,
    }
}

/// The one message delivered to `recipient`, as MIME.
fn report_to(recipient: &str) -> Part {
    let dir = server(Mode::None).dir.join("mail");
    let found: Vec<Part> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.path().extension().is_some_and(|x| x == "eml"))
        .map(|e| std::fs::read_to_string(e.path()).unwrap())
        .filter(|raw| raw.contains(&format!("X-Envelope-To: <{recipient}>")))
        .map(|raw| mime(&raw))
        .collect();
    assert_eq!(found.len(), 1, "messages to {recipient}");
    found.into_iter().next().unwrap()
}

/// RFC 4180 records; line ends may have been canonicalised on the way.
fn csv_records(text: &str) -> Vec<Vec<String>> {
    support::csv::records(text, support::csv::LineEnds::Any)
}

fn report_observation(
    name: &str,
    team: Option<&str>,
    requests: (u32, f64, f64),
    usage: Option<(f64, f64)>,
) -> kube_reclaimer::core::model::Observation {
    use kube_reclaimer::core::fixtures::{v, Ns};
    use kube_reclaimer::core::model::Usage;
    let month_ago = (utc(REPORT_AT) - chrono::TimeDelta::days(30)).to_rfc3339();
    let mut ns = Ns::new(name)
        .created(&month_ago)
        .requests(requests.0, requests.1, requests.2);
    if let Some(team) = team {
        ns = ns.label("kube-reclaimer.io/team", team);
    }
    match usage {
        Some((cores, bytes)) => ns
            .cpu(v(cores), v(cores * 2.0))
            .memory(v(bytes))
            .network(v(50_000.0))
            .history_since(Some(&month_ago))
            .build(),
        None => {
            let mut obs = ns.build();
            obs.usage = Usage::unavailable("the query timed out");
            obs
        }
    }
}

const REPORT_AT: &str = "2026-11-23T08:00:00Z";
const GIB: f64 = 1024.0 * 1024.0 * 1024.0;

#[tokio::test]
async fn weekly_reports_arrive_with_text_html_and_the_csv_and_one_refused_team_stops_no_other() {
    use kube_reclaimer::app::act::Postman;
    use kube_reclaimer::core::collected::{Collected, SourceReport, SourceStatus, Sources};
    use kube_reclaimer::core::ledger::Ledger;
    let server = server(Mode::None);
    let yaml = format!(
        "mode: enforce
smtp: {{host: 127.0.0.1, port: {}, tls: none, from: {FROM}, timeout: 10s}}
owners:
  teams:
    payments: [report-payments@team.example, report-payments-lead@team.example]
    search: [refuse-report-search@team.example]
  fallback_recipients: [report-platform@team.example]
reports: {{finops_recipients: [report-finops@team.example]}}
",
        server.port
    );
    let config = Config::from_yaml(&yaml, "test").unwrap();
    let observations = vec![
        report_observation(
            "pay-api",
            Some("payments"),
            (3, 6.0, 12.0 * GIB),
            Some((0.3, 0.9 * GIB)),
        ),
        report_observation("pay-batch", Some("payments"), (1, 0.5, GIB), None),
        report_observation(
            "search-index",
            Some("search"),
            (2, 1.0, 2.0 * GIB),
            Some((0.7, 1.4 * GIB)),
        ),
        report_observation("loose", None, (1, 0.25, 0.5 * GIB), Some((0.2, 0.4 * GIB))),
    ];
    let ok = SourceReport {
        status: SourceStatus::Ok,
        requests: 1,
        problems: vec![],
    };
    let evaluation = kube_reclaimer::core::evaluate::evaluate(
        Collected {
            observations,
            opencost: None,
            sources: Sources {
                kubernetes: ok.clone(),
                prometheus: ok,
                prometheus_series: Vec::new(),
            },
            pods_seen: 7,
        },
        &config,
        utc(REPORT_AT),
    );
    let reports =
        kube_reclaimer::core::report::build(&evaluation, &Ledger::of("none", vec![]), &config);
    let templates = kube_reclaimer::render::report::Templates::load(None).unwrap();
    let mails = kube_reclaimer::render::report::render(&reports, &templates, &config).unwrap();
    let postman = Postman::new(&config).unwrap();
    let outcomes = kube_reclaimer::app::daemon::report::send(&mails, &postman, &|| true).await;
    let got: Vec<(&str, &str)> = outcomes
        .iter()
        .map(|o| (o.report.as_str(), o.outcome.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            ("team-payments", "sent"),
            ("team-search", "failed"),
            ("unassigned", "sent"),
            ("finops", "sent")
        ]
    );
    assert!(outcomes[1].detail.contains("550"), "{}", outcomes[1].detail);

    for (m, recipient) in [
        (&mails[0], "report-payments@team.example"),
        (&mails[3], "report-finops@team.example"),
    ] {
        let message = report_to(recipient);
        let what = &m.name;
        assert_eq!(message.headers["subject"], m.subject, "{what}");
        assert_eq!(message.headers["auto-submitted"], "auto-generated");
        assert!(
            message.content_type().starts_with("multipart/mixed"),
            "{what}: {}",
            message.content_type()
        );
        assert_eq!(
            message.parts.len(),
            2,
            "{what}: the alternatives, then the CSV"
        );
        let alternative = &message.parts[0];
        assert!(
            alternative
                .content_type()
                .starts_with("multipart/alternative"),
            "{what}"
        );
        let leaves = message.leaves();
        let types: Vec<&str> = leaves.iter().map(|p| p.content_type()).collect();
        assert_eq!(
            types,
            [
                "text/plain; charset=utf-8",
                "text/html; charset=utf-8",
                "text/csv; charset=utf-8"
            ],
            "{what}"
        );
        assert_eq!(
            leaves[0].body.replace("\r\n", "\n"),
            m.text,
            "{what}: text part"
        );
        let html = unescape(&leaves[1].body);
        assert!(
            html.contains("<!DOCTYPE html>") && html.contains(&m.subject),
            "{what}"
        );
        let csv_part = leaves[2];
        assert_eq!(
            csv_part.headers["content-disposition"],
            format!("attachment; filename=\"{}.csv\"", m.name),
            "{what}"
        );
        assert_eq!(
            csv_part.body.replace("\r\n", "\n"),
            m.csv.replace("\r\n", "\n"),
            "{what}"
        );
        // The CSV says what the evaluation says.
        let records = csv_records(&csv_part.body);
        let header = &records[0];
        let col = |name: &str| header.iter().position(|h| h == name).unwrap();
        for row in &records[1..] {
            let i = evaluation
                .assessments
                .iter()
                .position(|a| a.name == row[0])
                .unwrap();
            let a = &evaluation.assessments[i];
            let number = |name: &str| row[col(name)].parse::<f64>().ok();
            let close = |got: Option<f64>, want: Option<f64>| match (got, want) {
                (Some(g), Some(w)) => (g - w).abs() < 1e-6,
                (None, None) => true,
                _ => false,
            };
            assert!(
                close(number("requested_cost_per_hour"), a.cost.requested_per_hour),
                "{what} {}",
                row[0]
            );
            assert!(
                close(number("waste_cost_per_hour"), a.cost.waste_per_hour),
                "{what} {}",
                row[0]
            );
            assert!(
                close(number("used_cpu_cores"), a.rightsizing.cpu.used),
                "{what} {}",
                row[0]
            );
            assert_eq!(
                row[col("cpu_flagged")] == "true",
                a.rightsizing.cpu.flagged,
                "{what} {}",
                row[0]
            );
            assert_eq!(
                row[col("state")],
                evaluation.plan.namespaces[i].state.as_str()
            );
            if a.rightsizing.cpu.used.is_none() {
                assert_eq!(row[col("used_cpu_cores")], "unknown", "{what} {}", row[0]);
            }
        }
    }
    let team_rows: Vec<String> =
        csv_records(&report_to("report-payments@team.example").leaves()[2].body)
            .into_iter()
            .skip(1)
            .map(|r| r[0].clone())
            .collect();
    assert_eq!(team_rows, ["pay-api", "pay-batch"]);
    let finops_rows =
        csv_records(&report_to("report-finops@team.example").leaves()[2].body).len() - 1;
    assert_eq!(finops_rows, 4);
    let platform = report_to("report-platform@team.example");
    assert!(platform.headers["subject"]
        .starts_with("Weekly cost report for namespaces without a known team"));
    // Both team addresses got the one message.
    let to = &report_to("report-payments-lead@team.example").headers["to"];
    assert_eq!(
        to,
        "report-payments@team.example, report-payments-lead@team.example"
    );
}
