//! The layers of `src/` point down: `app` may use `io`, `render` and `core`; `io` and
//! `render` only `core`; `core` only itself, and it does no I/O: no async, no Kubernetes,
//! SMTP, HTTP or template library, no `std::fs` or `std::env`. This test reads every
//! source file and fails with the file, line and rule for each arrow that points up.

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

#[test]
fn the_check_sees_grouped_imports_and_ignores_comments() {
    let text = "use crate::{core::model, app::cli};\n// crate::io is named here\nlet x = 1;\n";
    let found = violations("render", text);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!((found[0].0, found[0].1), (1, "crate::app"));
    assert!(violations("core", "async fn read() {}").len() == 1);
    assert!(violations("app", "use crate::io::cluster;").is_empty());
}
