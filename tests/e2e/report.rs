//! `report --out` end to end: the real binary against the shared bed with the sample
//! config (teams payments and search, fallback platform@example.com), checked against the
//! scenario's ground truth, with a reclamation ledger holding a past week; and the team
//! report and the roll-up rendered to PNG by headless Chromium, so they are looked at,
//! not only parsed (saved under target/report-preview/).

use crate::support::{Bed, IdleVerdict};
use chrono::Duration;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

const CPU_PRICE: f64 = 0.031611;
const MEM_PRICE: f64 = 0.004237;
const GIB: f64 = 1024.0 * 1024.0 * 1024.0;

/// One `report --out` run: its folder and output.
struct Run {
    dir: PathBuf,
    stdout: String,
    stderr: String,
}

impl Run {
    fn read(&self, file: &str) -> String {
        std::fs::read_to_string(self.dir.join(file))
            .unwrap_or_else(|e| panic!("{file}: {e}\n{}", self.stderr))
    }

    /// The rows of a CSV by namespace, as column name to value.
    fn csv(&self, file: &str) -> BTreeMap<String, BTreeMap<String, String>> {
        let records = csv_records(&self.read(file));
        let header = records[0].clone();
        records[1..]
            .iter()
            .map(|r| {
                assert_eq!(r.len(), header.len(), "{file}: {r:?}");
                (
                    r[0].clone(),
                    header.iter().cloned().zip(r.iter().cloned()).collect(),
                )
            })
            .collect()
    }
}

/// RFC 4180 records (CRLF line ends, quoted fields).
fn csv_records(text: &str) -> Vec<Vec<String>> {
    crate::support::csv::records(text, crate::support::csv::LineEnds::Crlf)
}

/// The ledger of the test: reclamations around the past week, and a line that is not one.
fn ledger(bed: &Bed) -> String {
    let line = |namespace: &str, team: Option<&str>, days_ago: i64, cost: f64| {
        serde_json::json!({
            "at": bed.at - Duration::days(days_ago),
            "namespace": namespace,
            "uid": format!("uid-{namespace}"),
            "team": team,
            "cause": "idle",
            "by": "delete",
            "tombstone": format!("/var/lib/kube-reclaimer/tombstones/{namespace}.yaml"),
            "requested_cost_per_hour": cost,
            "currency": "USD",
        })
        .to_string()
    };
    [
        line("gone-payments-ledger", Some("payments"), 2, 0.125),
        line("gone-long-ago", Some("payments"), 8, 0.5),
        line("gone-nobodys", None, 6, 0.0625),
        "{\"at\": \"not a time\"".to_string(),
    ]
    .join("\n")
        + "\n"
}

/// Runs `report --out` as of the bed's `at`, with the sample config plus a tombstone
/// folder holding the test's ledger and a FinOps recipient.
fn run(bed: &Bed, name: &str, prometheus_url: &str) -> Run {
    // One folder per case, replaced by the next run.
    let base = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("report-e2e-{name}"));
    let _ = std::fs::remove_dir_all(&base);
    let tombstones = base.join("tombstones");
    std::fs::create_dir_all(&tombstones).expect("tombstone dir");
    std::fs::write(tombstones.join("reclaimed.jsonl"), ledger(bed)).expect("ledger");
    let sample = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scenarios/sample-config.yaml"),
    )
    .expect("sample config");
    assert!(!sample.contains("lifecycle:") && !sample.contains("reports:"));
    let config = base.join("config.yaml");
    std::fs::write(
        &config,
        format!(
            "{sample}lifecycle:\n  tombstone_dir: {}\nreports:\n  finops_recipients: [finops@example.com]\n",
            tombstones.display()
        ),
    )
    .expect("config");
    let dir = base.join("out");
    let out = Command::new(env!("CARGO_BIN_EXE_kube-reclaimer"))
        .args(["report", "--out"])
        .arg(&dir)
        .args([
            "--at",
            &bed.at.to_rfc3339(),
            "--prometheus-url",
            prometheus_url,
        ])
        .arg("--config")
        .arg(&config)
        .arg("--kubeconfig")
        .arg(&bed.kubeconfig)
        .output()
        .expect("the binary runs");
    let run = Run {
        dir,
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    assert!(out.status.success(), "report failed:\n{}", run.stderr);
    run
}

/// The run with Prometheus up, once per test binary.
fn shared(bed: &'static Bed) -> &'static Run {
    static RUN: OnceLock<Run> = OnceLock::new();
    RUN.get_or_init(|| run(bed, "up", &bed.prometheus_url))
}

fn sample_names(rows: &BTreeMap<String, BTreeMap<String, String>>) -> Vec<String> {
    // Only the sample's namespaces: other tests create their own meanwhile.
    rows.keys()
        .filter(|n| n.starts_with("sample-"))
        .cloned()
        .collect()
}

#[test]
fn each_team_gets_its_namespaces_and_the_rest_go_to_the_fallback_report() {
    let bed = Bed::shared();
    let run = shared(bed);
    let mut files: Vec<String> = std::fs::read_dir(&run.dir)
        .expect("out dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    let mut want = vec!["index.txt".to_string()];
    for name in ["finops", "team-payments", "team-search", "unassigned"] {
        for ext in ["csv", "html", "txt"] {
            want.push(format!("{name}.{ext}"));
        }
    }
    want.sort();
    assert_eq!(files, want);
    assert_eq!(run.read("index.txt"), run.stdout);

    let team = |file| sample_names(&run.csv(file));
    assert_eq!(team("team-payments.csv"), ["sample-team-only"]);
    assert_eq!(team("team-search.csv"), ["sample-quota"]);
    let mut rest: Vec<String> = bed
        .scenario
        .namespaces
        .iter()
        .map(|n| n.name.clone())
        .filter(|n| n != "sample-team-only" && n != "sample-quota")
        .collect();
    rest.sort();
    assert_eq!(team("unassigned.csv"), rest);
    assert_eq!(team("finops.csv").len(), bed.scenario.namespaces.len());
    // Protected namespaces are reported for cost too.
    let unassigned = run.csv("unassigned.csv");
    assert_eq!(unassigned["sample-protected"]["protected"], "true");
    assert!(unassigned.contains_key("kube-system"));

    for (title, to) in [
        ("team payments: 1 namespace,", "payments-oncall@example.com"),
        (
            "team search: 1 namespace,",
            "search-leads@example.com, search-team@example.com",
        ),
        ("namespaces without a known team:", "platform@example.com"),
        ("FinOps roll-up:", "finops@example.com"),
    ] {
        let at = run
            .stdout
            .find(title)
            .unwrap_or_else(|| panic!("{title} missing in\n{}", run.stdout));
        assert!(
            run.stdout[at..].contains(&format!("to:      {to}\n")),
            "{title} to {to}:\n{}",
            run.stdout
        );
    }
    assert!(run.stdout.contains("Nothing was sent"), "{}", run.stdout);
}

#[test]
fn costs_flags_and_states_match_the_scenario_priced_by_hand() {
    let bed = Bed::shared();
    let rows = shared(bed).csv("finops.csv");
    let mut wrong = Vec::new();
    for spec in &bed.scenario.namespaces {
        let row = &rows[&spec.name];
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
        let number = |name: &str| -> f64 {
            row[name]
                .parse()
                .unwrap_or_else(|_| panic!("{}: {name} = {:?}", spec.name, row[name]))
        };
        let by_hand = cores * CPU_PRICE + bytes / GIB * MEM_PRICE;
        let e = &spec.expect;
        let idle = match e.idle {
            IdleVerdict::Idle => "idle",
            IdleVerdict::Active => "active",
            IdleVerdict::Unknown => "unknown",
        };
        let got = (
            (number("requested_cost_per_hour") - by_hand).abs() < 1e-6,
            (number("requested_cpu_cores") - cores).abs() < 1e-6,
            (number("requested_memory_bytes") - bytes).abs() < 1.0,
            (number("requested_cost_per_month") - by_hand * 730.0).abs() < 0.01,
            row["cpu_flagged"].as_str(),
            row["memory_flagged"].as_str(),
            row["state"].as_str(),
            row["idle"].as_str(),
        );
        let want = (
            true,
            true,
            true,
            true,
            if e.cpu_flagged { "true" } else { "false" },
            if e.memory_flagged { "true" } else { "false" },
            e.state.as_str(),
            idle,
        );
        if got != want {
            wrong.push(format!(
                "{}: want {want:?}\n    got {got:?}\n    {row:?}",
                spec.name
            ));
        }
        // Waste is requested minus used, never negative, when usage is known.
        if let (Ok(waste), Ok(used_cores), Ok(used_bytes)) = (
            row["waste_cost_per_hour"].parse::<f64>(),
            row["used_cpu_cores"].parse::<f64>(),
            row["used_memory_bytes"].parse::<f64>(),
        ) {
            let by_hand = (cores - used_cores).max(0.0) * CPU_PRICE
                + (bytes - used_bytes).max(0.0) / GIB * MEM_PRICE;
            // The CSV rounds cores to 6 decimals and bytes to whole bytes.
            if (waste - by_hand).abs() > 1e-5 {
                wrong.push(format!("{}: waste {waste} != {by_hand}", spec.name));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    // The team report's total is its namespaces' sum, and its subject says so.
    let payments = shared(bed).csv("team-payments.csv");
    let requested: f64 = payments
        .values()
        .map(|r| r["requested_cost_per_hour"].parse::<f64>().expect("known"))
        .sum();
    let text = shared(bed).read("team-payments.txt");
    assert!(
        text.contains(&format!(
            "Requested:                    {requested:.4} USD/h"
        )),
        "{text}"
    );
}

#[test]
fn the_next_seven_days_and_the_past_week_are_in_the_reports() {
    let bed = Bed::shared();
    let run = shared(bed);
    let payments = run.read("team-payments.txt");
    // Idle, marked by this evaluation: reclaimed after the 3-day grace period.
    let line = payments
        .lines()
        .find(|l| l.starts_with("sample-team-only") && l.contains("deleted (idle)"))
        .unwrap_or_else(|| panic!("no reclamation of sample-team-only:\n{payments}"));
    assert!(line.ends_with("in 3 days"), "{line}");
    assert!(
        payments.contains(
            "kubectl label namespace sample-team-only kube-reclaimer.io/expires=never --overwrite"
        ),
        "{payments}"
    );
    assert!(payments
        .contains("kubectl -n sample-team-only set resources deployment/NAME --requests=cpu="));
    let unassigned = run.read("unassigned.txt");
    assert!(
        unassigned
            .lines()
            .any(|l| l.starts_with("sample-expiring") && l.contains("expires")),
        "{unassigned}"
    );
    assert!(!unassigned
        .lines()
        .any(|l| l.starts_with("sample-busy ") && l.contains("expires")));

    // The ledger: the past week only, per team, and its unreadable line said out loud.
    assert!(payments.contains("gone-payments-ledger"), "{payments}");
    assert!(!payments.contains("gone-long-ago") && !payments.contains("gone-nobodys"));
    assert!(
        payments.contains("Freed: 0.1250 USD/h (91.25 USD/month)."),
        "{payments}"
    );
    let finops = run.read("finops.txt");
    assert!(finops.contains("gone-payments-ledger") && finops.contains("gone-nobodys"));
    assert!(!finops.contains("gone-long-ago"));
    for text in [&payments, &finops] {
        assert!(
            text.contains("may be incomplete: 1 line(s) of the ledger could not be read")
                && text.contains("reclaimed.jsonl line 4"),
            "{text}"
        );
    }
    assert!(
        run.stderr.contains("warning: reclamation ledger:") && run.stderr.contains("line 4"),
        "{}",
        run.stderr
    );
    // The roll-up ranks the teams by waste and says whom each report goes to.
    let ranked: Vec<&str> = finops
        .lines()
        .skip_while(|l| !l.starts_with("TEAMS RANKED BY WASTE"))
        .filter_map(|l| {
            l.split_whitespace()
                .nth(1)
                .filter(|_| l.starts_with(char::is_numeric))
        })
        .collect();
    assert_eq!(ranked.len(), 3, "{finops}");
    assert_eq!(
        ranked[0], "unassigned",
        "the sample's over-provisioned namespaces have no known team:\n{finops}"
    );
}

#[test]
fn with_prometheus_down_usage_is_unknown_in_every_file_never_zero() {
    let bed = Bed::shared();
    let run = run(bed, "down", "http://127.0.0.1:9");
    let rows = run.csv("finops.csv");
    for name in sample_names(&rows) {
        let row = &rows[&name];
        for column in [
            "used_cpu_cores",
            "used_memory_bytes",
            "waste_cost_per_hour",
            "used_cost_per_hour",
            "cpu_flagged",
        ] {
            assert_eq!(row[column], "unknown", "{name} {column}");
        }
        assert_eq!(row["idle"], "unknown", "{name}");
        assert!(
            row["requested_cost_per_hour"].parse::<f64>().is_ok(),
            "{name}: requests are known"
        );
        assert!(
            row["usage_unknown_reason"].contains("unavailable"),
            "{name}: {row:?}"
        );
    }
    for file in ["team-payments.txt", "finops.txt", "unassigned.html"] {
        let text = run.read(file);
        assert!(
            text.contains("Prometheus unavailable") && text.contains("unknown, not zero"),
            "{file}:\n{text}"
        );
    }
    let payments = run.read("team-payments.txt");
    assert!(
        payments.contains("Waste:                        unknown (unknown)"),
        "{payments}"
    );
    assert!(
        run.stdout.contains("unknown waste") || run.stdout.contains("requested, unknown"),
        "{}",
        run.stdout
    );
}

// ------------------------------------------------------------------ looked at

/// An RGB image.
struct Image {
    width: u32,
    height: u32,
    pixels: Vec<[u8; 3]>,
}

fn decode_png(path: &Path) -> Image {
    let bytes = std::fs::read(path).expect("png file");
    let mut decoder = png::Decoder::new(std::io::Cursor::new(bytes));
    decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
    let mut reader = decoder.read_info().expect("a PNG header");
    let mut buffer = vec![0; reader.output_buffer_size().expect("a sane size")];
    let info = reader.next_frame(&mut buffer).expect("a PNG frame");
    let channels = match info.color_type {
        png::ColorType::Rgb => 3,
        png::ColorType::Rgba => 4,
        other => panic!("unexpected colour type {other:?}"),
    };
    let pixels = buffer[..info.buffer_size()]
        .chunks(channels)
        .map(|p| [p[0], p[1], p[2]])
        .collect();
    Image {
        width: info.width,
        height: info.height,
        pixels,
    }
}

/// Renders `html` with tests/bed/screenshot.sh (installs Chromium if missing; bounded).
fn screenshot(html: &Path, png: &Path) -> std::time::Duration {
    let started = std::time::Instant::now();
    let mut cmd =
        Command::new(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/bed/screenshot.sh"));
    cmd.arg(html).arg(png).args(["1280", "2000"]);
    let printed = crate::support::bed::run_command(cmd, std::time::Duration::from_secs(600))
        .unwrap_or_else(|e| panic!("screenshot of {}: {e:#}", html.display()));
    assert_eq!(Path::new(&printed), png);
    started.elapsed()
}

fn count(image: &Image, test: impl Fn(&[u8; 3]) -> bool) -> usize {
    image.pixels.iter().filter(|p| test(p)).count()
}

fn near(p: &[u8; 3], rgb: [u8; 3]) -> bool {
    p.iter().zip(rgb).all(|(a, b)| a.abs_diff(b) <= 3)
}

#[test]
fn the_reports_rendered_by_chromium_show_a_header_text_and_figures() {
    let bed = Bed::shared();
    let run = shared(bed);
    let preview = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("the target folder")
        .join("report-preview");
    for name in ["team-payments", "finops"] {
        let png = preview.join(format!("{name}.png"));
        let took = screenshot(&run.dir.join(format!("{name}.html")), &png);
        crate::support::bed::progress(&format!(
            "rendered {} in {:.1}s",
            png.display(),
            took.as_secs_f64()
        ));
        let image = decode_png(&png);
        assert_eq!((image.width, image.height), (1280, 2000), "{name}");
        let total = image.pixels.len();
        let header = count(&image, |p| near(p, [0x1d, 0x35, 0x57]));
        let page = count(&image, |p| {
            near(p, [0xff, 0xff, 0xff]) || near(p, [0xee, 0xf1, 0xf5])
        });
        let dark = count(&image, |p| {
            p.iter().all(|c| *c < 90) && !near(p, [0x1d, 0x35, 0x57])
        });
        let waste = count(&image, |p| near(p, [0xb9, 0x1c, 0x1c]));
        let distinct = image
            .pixels
            .iter()
            .collect::<std::collections::BTreeSet<_>>()
            .len();
        let facts = format!(
            "{name}: header {header}, page {page}, dark {dark}, waste {waste}, colours {distinct} of {total} pixels"
        );
        assert!(header > 60_000, "the header band is there: {facts}");
        // The header starts at the top, centred.
        let top_middle = image.pixels[(40 * image.width + image.width / 2) as usize];
        assert!(
            near(&top_middle, [0x1d, 0x35, 0x57]),
            "{facts}: {top_middle:?}"
        );
        assert!(total - page > total / 10, "not a blank page: {facts}");
        assert!(dark > 5_000, "dark text is there: {facts}");
        assert!(waste > 50, "waste figures in red are there: {facts}");
        assert!(distinct > 200, "anti-aliased text is there: {facts}");
    }
}
