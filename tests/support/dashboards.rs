//! The Grafana dashboards in `dashboards/`: every PromQL expression in them (panel
//! targets, the panels of rows, template variable queries), made runnable against a real
//! Prometheus by substituting Grafana's variables, and the metric names they use.

use anyhow::{anyhow, bail, Context, Result};
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// One PromQL expression, and where it sits.
#[derive(Debug, Clone)]
pub struct Expr {
    /// `FILE: panel TITLE (refId)` or `FILE: variable NAME`.
    pub place: String,
    pub expr: String,
}

/// Every dashboard file, parsed: (file name, dashboard).
pub fn load() -> Result<Vec<(String, Value)>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("dashboards");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .with_context(|| format!("cannot read {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    files
        .iter()
        .map(|path| {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            let dashboard: Value = serde_json::from_str(&text)
                .with_context(|| format!("{} is not JSON", path.display()))?;
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            Ok((name, dashboard))
        })
        .collect()
}

/// Every panel, rows' nested panels included (a collapsed row holds its panels).
pub fn panels(dashboard: &Value) -> Vec<&Value> {
    fn walk<'a>(list: &'a Value, out: &mut Vec<&'a Value>) {
        for panel in list.as_array().into_iter().flatten() {
            out.push(panel);
            walk(&panel["panels"], out);
        }
    }
    let mut out = Vec::new();
    walk(&dashboard["panels"], &mut out);
    out
}

/// Every expression: each panel target's `expr`, and each query variable's query.
pub fn expressions(file: &str, dashboard: &Value) -> Vec<Expr> {
    let mut out = Vec::new();
    for panel in panels(dashboard) {
        let title = panel["title"].as_str().unwrap_or("?");
        for target in panel["targets"].as_array().into_iter().flatten() {
            if let Some(expr) = target["expr"].as_str() {
                out.push(Expr {
                    place: format!(
                        "{file}: panel {title:?} ({})",
                        target["refId"].as_str().unwrap_or("?")
                    ),
                    expr: expr.to_string(),
                });
            }
        }
    }
    for variable in dashboard["templating"]["list"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|v| v["type"] == "query")
    {
        let query = match &variable["query"] {
            Value::String(q) => Some(q.as_str()),
            other => other["query"].as_str(),
        };
        if let Some(query) = query {
            out.push(Expr {
                place: format!(
                    "{file}: variable {}",
                    variable["name"].as_str().unwrap_or("?")
                ),
                expr: query.to_string(),
            });
        }
    }
    out
}

/// Names of the dashboard's template variables.
pub fn variables(dashboard: &Value) -> BTreeSet<String> {
    dashboard["templating"]["list"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v["name"].as_str().map(String::from))
        .collect()
}

/// Grafana's own interval variables and what a test substitutes for them.
pub const BUILTINS: [(&str, &str); 3] = [
    ("__rate_interval", "1m"),
    ("__interval", "15s"),
    ("__range", "5m"),
];

/// `$name` and `${name}` references in `expr`.
pub fn references(expr: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = expr;
    while let Some(i) = rest.find('$') {
        rest = &rest[i + 1..];
        let name: String = rest
            .trim_start_matches('{')
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        out.insert(name);
    }
    out
}

/// `expr` as Prometheus can run it: each template variable (every value: `.*`, used with
/// `=~`) and Grafana interval replaced; `label_values(SELECTOR, LABEL)` becomes
/// `group by (LABEL) (SELECTOR)`, the same label values as an instant query.
pub fn runnable(expr: &str, variables: &BTreeSet<String>) -> Result<String> {
    let mut out = expr.to_string();
    for (name, value) in BUILTINS {
        out = out
            .replace(&format!("${{{name}}}"), value)
            .replace(&format!("${name}"), value);
    }
    // Longest names first, so that `$team` does not eat into `$teams`.
    let mut names: Vec<&String> = variables.iter().collect();
    names.sort_by_key(|n| std::cmp::Reverse(n.len()));
    for name in names {
        out = out
            .replace(&format!("${{{name}}}"), ".*")
            .replace(&format!("${name}"), ".*");
    }
    if out.contains('$') {
        bail!("`{expr}`: unknown variable left in `{out}`");
    }
    if let Some(inner) = out
        .trim()
        .strip_prefix("label_values(")
        .and_then(|s| s.strip_suffix(')'))
    {
        let (selector, label) = split_last_top_level_comma(inner)
            .ok_or_else(|| anyhow!("`{expr}`: expected label_values(SELECTOR, LABEL)"))?;
        return Ok(format!("group by ({}) ({})", label.trim(), selector.trim()));
    }
    Ok(out)
}

fn split_last_top_level_comma(text: &str) -> Option<(&str, &str)> {
    let mut depth = 0i32;
    let mut quoted = false;
    let mut last = None;
    for (i, c) in text.char_indices() {
        match c {
            '"' => quoted = !quoted,
            '{' | '(' | '[' if !quoted => depth += 1,
            '}' | ')' | ']' if !quoted => depth -= 1,
            ',' if !quoted && depth == 0 => last = Some(i),
            _ => {}
        }
    }
    last.map(|i| (&text[..i], &text[i + 1..]))
}

/// Words followed by a list of label names: `by (team)`, `on (namespace)`.
const GROUPING: [&str; 6] = [
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
];

/// Other words that are never metric names: operators, keywords, aggregations (which may
/// be followed by `by` instead of a parenthesis).
const KEYWORDS: [&str; 23] = [
    "sum",
    "min",
    "max",
    "avg",
    "group",
    "stddev",
    "stdvar",
    "count",
    "count_values",
    "bottomk",
    "topk",
    "quantile",
    "limitk",
    "limit_ratio",
    "and",
    "or",
    "unless",
    "bool",
    "offset",
    "inf",
    "nan",
    "atan2",
    "label_values",
];

/// The metric names `expr` selects: identifiers outside strings, label matchers, range
/// brackets and grouping lists, that are neither functions (followed by `(`), keywords
/// nor numbers; for `label_values(SELECTOR, LABEL)`, those of the selector.
pub fn metric_names(expr: &str) -> BTreeSet<String> {
    // label_values(SELECTOR, LABEL): the label is no metric
    if let Some((selector, _)) = expr
        .trim()
        .strip_prefix("label_values(")
        .and_then(|s| s.strip_suffix(')'))
        .and_then(split_last_top_level_comma)
    {
        return metric_names(selector);
    }
    let chars: Vec<char> = expr.chars().collect();
    let mut names = BTreeSet::new();
    let mut i = 0;
    let skip_to = |open: char, close: char, mut i: usize| -> usize {
        // from the opening char at i to just past its closing char, skipping strings
        let mut depth = 0;
        let mut quote: Option<char> = None;
        while i < chars.len() {
            let c = chars[i];
            match quote {
                Some(_) if c == '\\' => i += 1,
                Some(q) if c == q => quote = None,
                Some(_) => {}
                None if c == '"' || c == '\'' || c == '`' => quote = Some(c),
                None if c == open => depth += 1,
                None if c == close => {
                    depth -= 1;
                    if depth == 0 {
                        return i + 1;
                    }
                }
                None => {}
            }
            i += 1;
        }
        i
    };
    while i < chars.len() {
        let c = chars[i];
        if c == '"' || c == '\'' || c == '`' {
            i += 1;
            while i < chars.len() && chars[i] != c {
                if chars[i] == '\\' {
                    i += 1;
                }
                i += 1;
            }
            i += 1;
        } else if c == '{' {
            i = skip_to('{', '}', i);
        } else if c == '[' {
            i = skip_to('[', ']', i);
        } else if c.is_ascii_digit()
            || (c == '.' && chars.get(i + 1).is_some_and(char::is_ascii_digit))
        {
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '.') {
                i += 1;
            }
        } else if c.is_ascii_alphabetic() || c == '_' || c == ':' {
            let start = i;
            while i < chars.len()
                && (chars[i].is_ascii_alphanumeric() || chars[i] == '_' || chars[i] == ':')
            {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            let mut j = i;
            while j < chars.len() && chars[j].is_whitespace() {
                j += 1;
            }
            if GROUPING.contains(&word.as_str()) {
                if chars.get(j) == Some(&'(') {
                    i = skip_to('(', ')', j);
                }
            } else if chars.get(j) == Some(&'(') || KEYWORDS.contains(&word.as_str()) {
                // a function, an aggregation or a keyword
            } else {
                names.insert(word);
            }
        } else {
            i += 1;
        }
    }
    names
}
