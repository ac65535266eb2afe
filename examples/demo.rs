//! The demo cycle: brings up a local test bed (real kube-apiserver and controller-manager
//! on etcd, real Prometheus with two weeks of metrics) holding the sample cluster, then
//! runs `kube-reclaimer plan` against it and prints the table, and writes the weekly cost
//! reports with `kube-reclaimer report --out target/demo-reports`.
//!
//! ```sh
//! cargo run --example demo              # plan, then stop the bed
//! cargo run --example demo -- --hold    # keep the bed up and print how to use it
//! ```

#[path = "../tests/support/mod.rs"]
mod support;

use anyhow::{bail, Context, Result};
use clap::Parser;
use kube_reclaimer::app::cli::{execute, Cli};
use std::path::Path;
use support::{Bed, BedOptions};

fn main() -> Result<()> {
    let hold = match std::env::args().nth(1).as_deref() {
        None => false,
        Some("--hold") => true,
        Some(other) => bail!("unknown argument {other}; the only option is --hold"),
    };
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let config = root.join("tests/scenarios/sample-config.yaml");
    eprintln!("== kube-reclaimer demo");
    eprintln!("Starting a local test bed on 127.0.0.1 with the sample cluster (tests/scenarios/sample.yaml).");
    eprintln!("The first run builds kube-apiserver and kube-controller-manager from source: about 6 minutes.");
    let bed = Bed::start(BedOptions::scenario("sample")?).context("starting the test bed")?;
    let at = bed.at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    eprintln!(
        "Test bed up in {:.1}s: {} namespaces in the sample cluster, Prometheus at {}.",
        bed.timings.total.as_secs_f64(),
        bed.scenario.namespaces.len(),
        bed.prometheus_url
    );
    eprintln!(
        "The apiserver dates every namespace now, so the plan is evaluated as of {at}, 15 days on,\n\
         when the sample namespaces have two weeks of metrics history behind them.\n"
    );
    let sources = [
        "--config".to_string(),
        config.display().to_string(),
        "--kubeconfig".to_string(),
        bed.kubeconfig.display().to_string(),
        "--prometheus-url".to_string(),
        bed.prometheus_url.clone(),
        "--at".to_string(),
        at.clone(),
    ];
    let command = |words: &[&str]| {
        let mut args: Vec<String> = std::iter::once("kube-reclaimer")
            .chain(words.iter().copied())
            .map(String::from)
            .collect();
        args.extend(sources.iter().cloned());
        bed.block_on(execute(Cli::parse_from(&args)))
    };
    println!("{}", command(&["plan"])?);

    // `report --out` wants an empty folder: the demo owns this one.
    let reports = root.join("target/demo-reports");
    if reports.exists() {
        std::fs::remove_dir_all(&reports)
            .with_context(|| format!("cannot clear {}", reports.display()))?;
    }
    let out = reports.display().to_string();
    eprintln!("== The weekly cost reports, written to {out} instead of being mailed:\n");
    println!("{}", command(&["report", "--out", &out])?);
    if hold {
        eprintln!("The bed stays up until you press Enter. From another shell:");
        eprintln!(
            "  cargo run -- explain sample-idle --config {} --kubeconfig {} --prometheus-url {} --at {at}",
            config.display(),
            bed.kubeconfig.display(),
            bed.prometheus_url
        );
        let mut line = String::new();
        let _ = std::io::stdin().read_line(&mut line);
    }
    eprintln!("Stopping the test bed.");
    Ok(())
}
