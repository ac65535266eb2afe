//! The one template loader: the built-in minijinja templates (compiled in from
//! `templates/`), each replaceable by an operator's file of the same name in
//! `smtp.templates_dir`. The e-mail notices ([`notices`], for `render::notice`) and the
//! weekly reports ([`reports`], for `render::report`) each load their own set from that one
//! folder; the notices' loader also checks the folder as a whole.
//!
//! Every set is rendered the same way: undefined values are errors, and a line holding
//! only a block tag leaves nothing behind (`trim_blocks`, `lstrip_blocks`).

use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The e-mail notices' templates, by file name. `commands.*` and `destroys.*` are
/// included by the others.
const NOTICES: [(&str, &str); 12] = [
    ("reminder.txt", include_str!("templates/reminder.txt")),
    ("reminder.html", include_str!("templates/reminder.html")),
    ("marked.txt", include_str!("templates/marked.txt")),
    ("marked.html", include_str!("templates/marked.html")),
    ("reclaimed.txt", include_str!("templates/reclaimed.txt")),
    ("reclaimed.html", include_str!("templates/reclaimed.html")),
    ("malformed.txt", include_str!("templates/malformed.txt")),
    ("malformed.html", include_str!("templates/malformed.html")),
    ("commands.txt", include_str!("templates/commands.txt")),
    ("commands.html", include_str!("templates/commands.html")),
    ("destroys.txt", include_str!("templates/destroys.txt")),
    ("destroys.html", include_str!("templates/destroys.html")),
];

/// The weekly reports' templates, by file name. `report-layout.html` is the page both
/// HTML reports extend: head, styles, header, summary cards and the closing notes.
const REPORTS: [(&str, &str); 5] = [
    ("report-team.txt", include_str!("templates/report-team.txt")),
    (
        "report-team.html",
        include_str!("templates/report-team.html"),
    ),
    (
        "report-finops.txt",
        include_str!("templates/report-finops.txt"),
    ),
    (
        "report-finops.html",
        include_str!("templates/report-finops.html"),
    ),
    (
        "report-layout.html",
        include_str!("templates/report-layout.html"),
    ),
];

/// What the notices' templates are called in messages.
pub const NOTICES_ARE: &str = "e-mail";

/// What the reports' templates are called in messages.
const REPORTS_ARE: &str = "report";

/// The notices' templates: the built-in ones, with those in `dir` (`smtp.templates_dir`)
/// in their place. The folder is checked here: every `.txt` or `.html` file in it must be
/// a notice's or a report's template.
pub fn notices(dir: Option<&Path>) -> Result<TemplateSet, LoadError> {
    let others: Vec<&str> = REPORTS.iter().map(|(name, _)| *name).collect();
    TemplateSet::load(
        NOTICES_ARE,
        &NOTICES,
        dir,
        Folder::Check { others: &others },
    )
}

/// The reports' templates: the built-in ones, with those in `dir` in their place. Other
/// files in `dir`, and a `dir` that does not exist, are left to [`notices`], which checks
/// them.
pub fn reports(dir: Option<&Path>) -> Result<TemplateSet, LoadError> {
    TemplateSet::load(REPORTS_ARE, &REPORTS, dir, Folder::OwnOnly)
}

/// What a loader does with `smtp.templates_dir` beyond taking its own templates from it.
#[derive(Debug, Clone, Copy)]
enum Folder<'a> {
    /// Checks the folder: it must be readable, and every `.txt` or `.html` file in it must
    /// be one of this set's templates or one of `others` (another loader's, left to it).
    Check { others: &'a [&'a str] },
    /// Takes only this set's templates from it. Other files, and a folder that does not
    /// exist, are left to the loader that checks it.
    OwnOnly,
}

/// Why a template set cannot be loaded; each loader turns it into its own error.
#[derive(Debug)]
pub enum LoadError {
    /// The folder cannot be used (`detail` says why): it cannot be listed, or it holds a
    /// file that is no template's.
    Folder { path: PathBuf, detail: String },
    /// The operator's template `path` cannot be read.
    Read {
        path: PathBuf,
        error: std::io::Error,
    },
    /// A template does not parse.
    Template(TemplateError),
}

/// A template that does not parse or render: which one, as the operator knows it
/// (`origin`), and what is wrong.
#[derive(Debug)]
pub struct TemplateError {
    pub origin: String,
    pub detail: String,
}

/// Why the notices' or the reports' templates cannot be used: a template that does not
/// load or render, or a `smtp.templates_dir` that cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum TemplatesError {
    #[error("{origin}: {detail}")]
    Template { origin: String, detail: String },
    #[error("smtp.templates_dir: cannot use `{path}`: {detail}; set it to a readable directory of templates, or to null for the built-in ones")]
    TemplatesDir { path: String, detail: String },
}

impl From<TemplateError> for TemplatesError {
    fn from(e: TemplateError) -> TemplatesError {
        TemplatesError::Template {
            origin: e.origin,
            detail: e.detail,
        }
    }
}

/// The templates in force: the built-in ones, each possibly replaced by an operator's.
#[derive(Debug)]
pub struct TemplateSet {
    env: minijinja::Environment<'static>,
    /// Template name to the operator's file that replaced it.
    overridden: BTreeMap<String, PathBuf>,
    /// What the templates are for, in messages: `e-mail`, `report`.
    what: &'static str,
}

impl TemplateSet {
    /// The `built_in` templates (name, text), with the files of the same names in `dir`
    /// in their place; `folder` says what else is done with `dir`. Each template is
    /// parsed here; rendering them is the caller's check.
    fn load(
        what: &'static str,
        built_in: &[(&str, &str)],
        dir: Option<&Path>,
        folder: Folder<'_>,
    ) -> Result<TemplateSet, LoadError> {
        let mut sources: BTreeMap<String, String> = built_in
            .iter()
            .map(|(name, text)| (name.to_string(), text.to_string()))
            .collect();
        let mut overridden = BTreeMap::new();
        if let Some(dir) = dir {
            let own: Vec<&str> = built_in.iter().map(|(name, _)| *name).collect();
            for (name, path) in replacements(dir, &own, folder)? {
                let text = std::fs::read_to_string(&path).map_err(|error| LoadError::Read {
                    path: path.clone(),
                    error,
                })?;
                sources.insert(name.clone(), text);
                overridden.insert(name, path);
            }
        }
        let mut env = minijinja::Environment::new();
        env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
        env.set_trim_blocks(true);
        env.set_lstrip_blocks(true);
        env.set_keep_trailing_newline(true);
        let mut set = TemplateSet {
            env,
            overridden,
            what,
        };
        for (name, text) in sources {
            if let Err(e) = set.env.add_template_owned(name.clone(), text) {
                return Err(LoadError::Template(set.error(&name, &e)));
            }
        }
        Ok(set)
    }

    /// Renders template `name` with `context`.
    pub fn render(&self, name: &str, context: &impl Serialize) -> Result<String, TemplateError> {
        self.env
            .get_template(name)
            .and_then(|t| t.render(context))
            .map_err(|e| self.error(name, &e))
    }

    /// The operator's file that replaced template `name`, if any.
    pub fn overridden(&self, name: &str) -> Option<&Path> {
        self.overridden.get(name).map(PathBuf::as_path)
    }

    /// Template `name` as messages name it: the operator's file, or the built-in one.
    pub fn origin(&self, name: &str) -> String {
        match self.overridden(name) {
            Some(path) => replacement_origin(self.what, path),
            None => format!("built-in {} template {name}", self.what),
        }
    }

    /// `e` from template `name`, told of the template that failed: an included or
    /// extended one when the innermost error names it.
    fn error(&self, name: &str, e: &minijinja::Error) -> TemplateError {
        let mut failing = e.name().unwrap_or(name);
        let mut inner = std::error::Error::source(e);
        while let Some(s) = inner {
            if let Some(n) = s
                .downcast_ref::<minijinja::Error>()
                .and_then(minijinja::Error::name)
            {
                failing = n;
            }
            inner = s.source();
        }
        let mut detail = e.to_string();
        let mut source = std::error::Error::source(e);
        while let Some(s) = source {
            detail.push_str(&format!(": {s}"));
            source = s.source();
        }
        TemplateError {
            origin: self.origin(failing),
            detail,
        }
    }
}

/// The operator's template file `path`, as messages name it; `what` is what the set's
/// templates are called, e.g. [`NOTICES_ARE`].
pub fn replacement_origin(what: &str, path: &Path) -> String {
    format!(
        "{what} template {} (from smtp.templates_dir; fix it, or remove it to use the built-in one)",
        path.display()
    )
}

/// The files in `dir` that replace templates named in `own`, as (name, path), by name.
fn replacements(
    dir: &Path,
    own: &[&str],
    folder: Folder<'_>,
) -> Result<Vec<(String, PathBuf)>, LoadError> {
    let folder_error = |detail: String| LoadError::Folder {
        path: dir.to_path_buf(),
        detail,
    };
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && matches!(folder, Folder::OwnOnly) => {
            return Ok(Vec::new())
        }
        Err(e) => return Err(folder_error(e.to_string())),
    };
    let mut files = Vec::new();
    for entry in entries {
        let path = entry.map_err(|e| folder_error(e.to_string()))?.path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        if name.ends_with(".txt") || name.ends_with(".html") {
            files.push((name.to_string(), path));
        }
    }
    files.sort();
    let mut found = Vec::new();
    for (name, path) in files {
        if own.contains(&name.as_str()) {
            found.push((name, path));
        } else if let Folder::Check { others } = folder {
            if !others.contains(&name.as_str()) {
                return Err(folder_error(format!(
                    "`{name}` is not a template name; use one of {}, {}",
                    own.join(", "),
                    others.join(", ")
                )));
            }
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_built_in_template_file_belongs_to_one_set() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/render/templates");
        let mut files: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        files.sort();
        let mut listed: Vec<String> = NOTICES
            .iter()
            .chain(&REPORTS)
            .map(|(name, _)| name.to_string())
            .collect();
        listed.sort();
        assert_eq!(files, listed);
    }
}
