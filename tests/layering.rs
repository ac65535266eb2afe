//! The layers of `src/` point down: `app` may use `io`, `render` and `core`; `io` and
//! `render` only `core`; `core` only itself, and it does no I/O: no async, no Kubernetes,
//! SMTP, HTTP or template library, no `std::fs` or `std::env`. This test reads every
//! source file and fails with the file, line and rule for each arrow that points up.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// What a file in each layer must not name, and why.
fn rules(layer: &str) -> Vec<(&'static str, &'static str)> {
    let app = ("crate::app", "imports app, the layer above");
    let io = (
        "crate::io",
        "imports io, which core and render must not use",
    );
    let render = (
        "crate::render",
        "imports render, which core and io must not use",
    );
    match layer {
        "core" => vec![
            app,
            io,
            render,
            ("kube::", "uses the Kubernetes client"),
            ("k8s_openapi", "uses the Kubernetes API types"),
            ("lettre", "uses the SMTP library"),
            ("axum", "uses the HTTP server"),
            ("reqwest", "uses the HTTP client"),
            ("prometheus_http_query", "uses the Prometheus client"),
            ("prometheus_client", "uses the metrics library"),
            ("minijinja", "uses the template engine"),
            ("tokio", "uses the async runtime"),
            ("async ", "is async"),
            (".await", "awaits"),
            ("std::fs", "reads or writes files"),
            ("std::env", "reads the environment"),
            ("TcpStream", "opens network connections"),
            ("TcpListener", "listens on the network"),
        ],
        "render" => vec![app, io],
        "io" => vec![app, render],
        _ => Vec::new(),
    }
}

/// The code of a file without its comments (doc links may point anywhere) and with
/// grouped imports spelled out: `use crate::{app::x, io}` counts as `crate::app` and
/// `crate::io`.
fn code(text: &str) -> Vec<(usize, String)> {
    text.lines()
        .enumerate()
        .map(|(i, line)| {
            let line = match line.find("//") {
                Some(at) => &line[..at],
                None => line,
            };
            let mut line = line.to_string();
            if let Some(at) = line.find("crate::{") {
                let inner: String = line[at + "crate::{".len()..].to_string();
                for part in inner.split(',') {
                    line.push_str(&format!(" crate::{}", part.trim()));
                }
            }
            (i + 1, line)
        })
        .collect()
}

fn violations(layer: &str, text: &str) -> Vec<(usize, &'static str, &'static str)> {
    let rules = rules(layer);
    let mut found = Vec::new();
    for (number, line) in code(text) {
        for (needle, why) in &rules {
            if line.contains(needle) {
                found.push((number, *needle, *why));
            }
        }
    }
    found
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    for entry in entries {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn every_arrow_points_down() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut problems = Vec::new();
    let mut checked = 0;
    for layer in ["core", "render", "io"] {
        let mut files = Vec::new();
        rust_files(&src.join(layer), &mut files);
        assert!(!files.is_empty(), "src/{layer} has no Rust files");
        for file in files {
            let text = std::fs::read_to_string(&file).expect("a readable source file");
            checked += 1;
            for (line, needle, why) in violations(layer, &text) {
                let shown = file
                    .strip_prefix(&src)
                    .unwrap_or(&file)
                    .display()
                    .to_string();
                problems.push(format!("src/{shown}:{line}: {why} (`{needle}`)"));
            }
        }
    }
    assert!(checked > 20, "only {checked} files checked");
    assert!(
        problems.is_empty(),
        "{} arrows point up:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

/// The stage (`core::plan`, `app::cli`, `render`, ...) a `crate::` path names, when it
/// names one: the layer and, for `core` and `app`, the module under it.
fn stage_of(path: &str) -> Option<String> {
    let mut parts = path
        .split("::")
        .map(|p| p.trim_matches(|c: char| !(c.is_ascii_alphanumeric() || c == '_')));
    let layer = parts.next()?;
    match layer {
        "core" | "app" => {
            let module = parts.next().filter(|m| {
                !m.is_empty() && m.chars().all(|c| c.is_ascii_lowercase() || c == '_')
            })?;
            Some(format!("{layer}::{module}"))
        }
        "io" | "render" => Some(layer.to_string()),
        _ => None,
    }
}

/// The stage a file belongs to, from its path under `src/`.
fn stage_of_file(relative: &Path) -> Option<String> {
    let parts: Vec<String> = relative
        .components()
        .map(|c| {
            c.as_os_str()
                .to_string_lossy()
                .trim_end_matches(".rs")
                .to_string()
        })
        .collect();
    match parts.first()?.as_str() {
        layer @ ("core" | "app") if parts.len() > 1 && parts[1] != "mod" => {
            Some(format!("{layer}::{}", parts[1]))
        }
        "io" | "render" => Some(parts[0].clone()),
        _ => None,
    }
}

/// Every `crate::` path in a file's code (comments left out, grouped imports spelled out).
fn crate_paths(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    for (_, line) in code(text) {
        let mut rest = line.as_str();
        while let Some(at) = rest.find("crate::") {
            let after = &rest[at + "crate::".len()..];
            let end = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
                .unwrap_or(after.len());
            found.push(after[..end].to_string());
            rest = &after[end..];
        }
    }
    found
}

fn find_cycle(edges: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        stack: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = stack.iter().position(|n| n == node) {
            let mut cycle = stack[at..].to_vec();
            cycle.push(node.to_string());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        stack.push(node.to_string());
        for next in edges.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, edges, stack, done) {
                return Some(cycle);
            }
        }
        stack.pop();
        done.insert(node.to_string());
        None
    }
    let mut done = BTreeSet::new();
    for node in edges.keys() {
        if let Some(cycle) = visit(node, edges, &mut Vec::new(), &mut done) {
            return Some(cycle);
        }
    }
    None
}

/// The stages inside the layers (`core::assess`, `core::plan`, `app::act`, `app::cli`, ...)
/// import each other without a cycle, test modules included.
#[test]
fn no_import_cycle_between_stages() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in &files {
        let relative = file.strip_prefix(&src).unwrap_or(file);
        let Some(from) = stage_of_file(relative) else {
            continue;
        };
        let text = std::fs::read_to_string(file).expect("a readable source file");
        for path in crate_paths(&text) {
            if let Some(to) = stage_of(&path).filter(|to| *to != from) {
                edges.entry(from.clone()).or_default().insert(to);
            }
        }
    }
    assert!(
        edges.len() > 8,
        "only {} stages with imports: {edges:?}",
        edges.len()
    );
    if let Some(cycle) = find_cycle(&edges) {
        panic!(
            "import cycle between stages: {}\nall edges: {edges:#?}",
            cycle.join(" -> ")
        );
    }
}

#[test]
fn the_cycle_check_finds_a_cycle() {
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    edges
        .entry("app::act".into())
        .or_default()
        .insert("app::cli".into());
    edges
        .entry("app::cli".into())
        .or_default()
        .insert("core::plan".into());
    assert_eq!(find_cycle(&edges), None);
    edges
        .entry("core::plan".into())
        .or_default()
        .insert("app::act".into());
    let cycle = find_cycle(&edges).expect("a cycle");
    assert_eq!(cycle.first(), cycle.last());
    assert_eq!(
        stage_of("core::plan::{Lifecycle, State}"),
        Some("core::plan".into())
    );
    assert_eq!(stage_of("io::cluster::Cluster"), Some("io".into()));
    assert_eq!(
        stage_of_file(Path::new("app/act/mod.rs")),
        Some("app::act".into())
    );
    assert_eq!(
        stage_of_file(Path::new("core/evaluate.rs")),
        Some("core::evaluate".into())
    );
}

#[test]
fn the_check_sees_grouped_imports_and_ignores_comments() {
    let text = "use crate::{core::model, app::cli};\n// crate::io is named here\nlet x = 1;\n";
    let found = violations("render", text);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!((found[0].0, found[0].1), (1, "crate::app"));
    assert!(violations("core", "async fn read() {}").len() == 1);
    assert!(violations("app", "use crate::io::cluster;").is_empty());
}
