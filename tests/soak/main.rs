//! The chaos soak (see `mod.rs`). In CI: two runs of 180 s, seeds 1 and 2.
//! `SOAK_SEED=N` (or `N,M,…`) replays those seeds; `SOAK_SECONDS` sets each run's
//! length; `SOAK_MINUTES=60` is the long soak (seed 1 unless `SOAK_SEED` says).

#[path = "../support/mod.rs"]
mod support;

#[path = "mod.rs"]
mod soak;

use std::time::Duration;

fn seeds() -> Vec<u64> {
    let given: Vec<u64> = std::env::var("SOAK_SEED")
        .unwrap_or_default()
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    if given.is_empty() && std::env::var("SOAK_MINUTES").is_ok() {
        vec![1]
    } else if given.is_empty() {
        vec![1, 2]
    } else {
        given
    }
}

#[test]
fn the_safety_invariants_hold_under_every_kind_of_fault() {
    let seeds = seeds();
    let number = |key: &str| std::env::var(key).ok().and_then(|s| s.parse::<u64>().ok());
    let length = Duration::from_secs(
        number("SOAK_MINUTES")
            .map(|m| m * 60)
            .or_else(|| number("SOAK_SECONDS"))
            .unwrap_or(180),
    );
    let scenario = support::Scenario::parse(&soak::scenario(&seeds)).expect("the soak's scenario");
    let world = soak::world::World::start(scenario).expect("the soak's world starts");
    soak::start_exporter(&world, &seeds);
    let mut failed = Vec::new();
    let mut injected = std::collections::BTreeSet::new();
    for seed in seeds {
        let figures = soak::run(&world, seed, length).expect("the soak runs");
        support::bed::progress(&figures.to_string());
        injected.extend(figures.faults.keys().copied());
        if !figures.findings.clean() || !figures.crashes.is_empty() {
            failed.push(figures.to_string());
        }
    }
    assert!(
        failed.is_empty(),
        "the soak found violations:\n{}",
        failed.join("\n")
    );
    let missing: Vec<&str> = soak::faults::Kind::ALL
        .iter()
        .map(|k| k.as_str())
        .filter(|k| !injected.contains(k))
        .collect();
    assert!(
        missing.is_empty(),
        "never injected in this run: {missing:?}"
    );
}
