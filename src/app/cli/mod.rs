//! Command-line interface: argument parsing and dispatch. Each command is a thin shell
//! around the library's stages.

mod explain;
mod report;
mod table;
mod view;

use crate::app::act::{Deliver, DeliverError, Delivery, Postman};
use crate::app::context::Context as AppContext;
use crate::app::daemon;
use crate::app::pipeline::{evaluate_at, Progress};
use crate::core::config::{Config, LogFormat, Mode};
use crate::core::evaluate::Evaluation;
use anyhow::Context;
use chrono::{DateTime, Utc};
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "kube-reclaimer",
    version,
    about = "Namespace lifecycle and cost reclamation for Kubernetes",
    long_about = "Finds out, for every namespace, who owns it, when it expires, what it requests \
                  and really uses, and what that costs; reminds owners before expiry, flags \
                  over-provisioned requests, and reclaims expired or idle namespaces after a \
                  grace period."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the daemon: reconcile on the configured schedule, serve health and metrics.
    Run {
        #[command(flatten)]
        config: ConfigArg,
        #[command(flatten)]
        sources: SourceArgs,
        /// Run one cycle and exit.
        #[arg(long)]
        once: bool,
    },
    /// Show what the next cycle would do for every namespace; writes nothing.
    Plan {
        #[command(flatten)]
        config: ConfigArg,
        #[command(flatten)]
        view: ViewArgs,
    },
    /// Explain one namespace: every number, where it came from, and why its state is what it is.
    Explain {
        namespace: String,
        #[command(flatten)]
        config: ConfigArg,
        #[command(flatten)]
        view: ViewArgs,
    },
    /// Write the weekly cost reports to a folder instead of e-mailing them.
    Report {
        #[command(flatten)]
        config: ConfigArg,
        /// Folder for the reports (created if missing; it must be empty).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// Report as of this RFC 3339 time instead of now.
        #[arg(long, value_name = "RFC3339", value_parser = parse_time)]
        at: Option<DateTime<Utc>>,
        #[command(flatten)]
        sources: SourceArgs,
    },
    /// Configuration commands.
    #[command(subcommand)]
    Config(ConfigCommand),
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Validate a config file; exits non-zero and says why if it is invalid.
    Check {
        file: PathBuf,
        /// Print the effective configuration (defaults filled in) as YAML.
        #[arg(long)]
        effective: bool,
    },
}

#[derive(Debug, Args)]
pub struct ConfigArg {
    /// Config file (built-in defaults when not given).
    #[arg(long, short = 'c', env = "KUBE_RECLAIMER_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ViewArgs {
    /// Evaluate as of this RFC 3339 time instead of now.
    #[arg(long, value_name = "RFC3339", value_parser = parse_time)]
    pub at: Option<DateTime<Utc>>,
    #[arg(long, short = 'o', value_enum, default_value_t = Output::Table)]
    pub output: Output,
    #[command(flatten)]
    pub sources: SourceArgs,
}

/// Where the cluster and Prometheus are.
#[derive(Debug, Clone, Args)]
pub struct SourceArgs {
    /// Prometheus base URL (overrides prometheus.url).
    #[arg(long, value_name = "URL")]
    pub prometheus_url: Option<String>,
    /// Kubeconfig file (default: KUBECONFIG, ~/.kube/config, or in-cluster).
    #[arg(long, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Output {
    Table,
    Json,
}

fn parse_time(text: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| format!("`{text}` is not an RFC 3339 time such as 2026-11-21T12:00:00Z ({e})"))
}

/// Runs a parsed command and returns what it prints on standard output. Progress and
/// warnings go to standard error.
pub async fn execute(cli: Cli) -> anyhow::Result<String> {
    match cli.command {
        Command::Config(ConfigCommand::Check { file, effective }) => check(&file, effective),
        Command::Plan { config, view } => {
            init_logging(LogFormat::Text, "warn");
            let (_, e) = evaluation(&config, &view).await?;
            match view.output {
                Output::Table => Ok(table::render(&e)),
                Output::Json => json(&view::plan_view(&e)),
            }
        }
        Command::Explain {
            namespace,
            config,
            view,
        } => {
            init_logging(LogFormat::Text, "warn");
            let (ctx, e) = evaluation(&config, &view).await?;
            explanation(&namespace, &ctx.config, &e, view.output)
        }
        Command::Run {
            config,
            sources,
            once,
        } => run(&config, sources, once).await,
        Command::Report {
            config,
            out,
            at,
            sources,
        } => {
            init_logging(LogFormat::Text, "warn");
            let config = load_config(&config)?;
            report::write(config, &out, at, sources).await
        }
    }
}

/// `config check`: the summary, or the effective configuration as YAML.
fn check(file: &std::path::Path, effective: bool) -> anyhow::Result<String> {
    let config = crate::io::config_file::load(file)?;
    if effective {
        serde_saphyr::to_string(&config)
            .map(|yaml| format!("{}\n", yaml.trim_end()))
            .map_err(|e| anyhow::anyhow!("cannot print the configuration: {e}"))
    } else {
        Ok(summary(file, &config))
    }
}

/// `explain`: one namespace of the evaluation, in sentences or as JSON.
fn explanation(
    namespace: &str,
    config: &Config,
    e: &Evaluation,
    output: Output,
) -> anyhow::Result<String> {
    let Some(i) = e.assessments.iter().position(|a| a.name == namespace) else {
        anyhow::bail!(
            "namespace `{namespace}` not found among the {} namespaces listed",
            e.assessments.len()
        );
    };
    let (a, p) = (&e.assessments[i], &e.plan.namespaces[i]);
    match output {
        Output::Table => Ok(explain::render(
            a,
            p,
            config,
            &e.sources,
            &e.prices,
            e.at,
            e.plan.dry_run,
        )),
        Output::Json => json(&serde_json::json!({
            "at": e.at,
            "dry_run": e.plan.dry_run,
            "sources": &e.sources,
            "prices": &e.prices,
            "namespace": view::namespace_view(a, p),
        })),
    }
}

/// `run`: the daemon, with e-mail in enforce mode.
async fn run(config: &ConfigArg, sources: SourceArgs, once: bool) -> anyhow::Result<String> {
    let config = load_config(config)?;
    init_logging(config.daemon.log_format, "info");
    // A broken report template is refused now, not at the first report time.
    crate::render::report::Templates::from_config(&config)
        .context("cannot load the report templates")?;
    let ctx = context(config, sources).await?;
    match ctx.config.mode {
        Mode::Enforce => {
            let postman = Postman::new(&ctx.config).context("cannot set up e-mail")?;
            daemon::run(&ctx, &postman, once).await?
        }
        Mode::DryRun => daemon::run(&ctx, &NoMail, once).await?,
    }
    Ok(String::new())
}

/// The context of one command: `--kubeconfig` and `--prometheus-url` applied.
async fn context(config: Config, sources: SourceArgs) -> anyhow::Result<AppContext> {
    AppContext::new(
        config,
        sources.kubeconfig.as_deref(),
        sources.prometheus_url,
    )
    .await
}

/// In dry-run nothing is executed, so nothing is ever delivered.
struct NoMail;

impl Deliver for NoMail {
    async fn deliver(&self, _: Delivery<'_>) -> Result<(), DeliverError> {
        Err(DeliverError::DryRun)
    }
}

/// Logs to stderr; `RUST_LOG` overrides the default level.
fn init_logging(format: LogFormat, default_level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level));
    // Colours only on a terminal: `kubectl logs` and log shippers get plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    // A second initialisation (tests calling `execute` twice) keeps the first.
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

fn json<T: serde::Serialize>(value: &T) -> anyhow::Result<String> {
    Ok(format!("{}\n", serde_json::to_string_pretty(value)?))
}

fn load_config(arg: &ConfigArg) -> anyhow::Result<Config> {
    match &arg.config {
        Some(path) => Ok(crate::io::config_file::load(path)?),
        None => {
            eprintln!("note: no --config given: using the built-in defaults (mode dry-run)");
            Ok(Config::default())
        }
    }
}

/// Loads the config, connects, and evaluates as of `--at` or now, saying on stderr what
/// was read and what could not be.
async fn evaluation(
    config: &ConfigArg,
    view: &ViewArgs,
) -> anyhow::Result<(AppContext, Evaluation)> {
    let config = load_config(config)?;
    let ctx = context(config, view.sources.clone()).await?;
    let at = view.at.unwrap_or_else(Utc::now);
    let e = evaluate_at(&ctx, at, Progress::Terminal).await?;
    Ok((ctx, e))
}

/// A few lines a platform engineer can check at a glance.
fn summary(file: &std::path::Path, c: &Config) -> String {
    let offsets: Vec<String> = c
        .lifecycle
        .reminder_offsets
        .iter()
        .map(|o| o.to_string())
        .collect();
    let mode = match c.mode {
        crate::core::config::Mode::DryRun => "dry-run (nothing is written, sent or deleted)",
        crate::core::config::Mode::Enforce => "enforce",
    };
    let next = |s: &crate::core::config::Schedule| {
        let now = Utc::now().with_timezone(&c.time_zone.0);
        s.cron
            .find_next_occurrence(&now, false)
            .map(|t| t.format("%Y-%m-%d %H:%M %Z").to_string())
            .unwrap_or_else(|_| "never".into())
    };
    format!(
        "{file}: valid\n\
         mode:        {mode}\n\
         protected:   {protected} (+ own namespace {own}){selector}\n\
         reminders:   {offsets} before expiry; grace period {grace}; at most {max} reclamations per cycle\n\
         idle:        {idle} over {window} (CPU < {cpu} cores, network < {net} B/s)\n\
         rightsizing: flag gaps above {gap:.0}% of requests over {rwindow}\n\
         pricing:     {cpu_price} {cur}/vCPU-h, {mem_price} {cur}/GiB-h\n\
         cycle:       {cycle} ({tz}), next {cycle_next}\n\
         report:      {report} ({tz}), next {report_next}\n",
        file = file.display(),
        protected = c.protected_names().join(", "),
        own = c.own_namespace,
        selector = if c.protection.selector.is_some() { " and a label selector" } else { "" },
        offsets = if offsets.is_empty() { "none".to_string() } else { offsets.join(", ") },
        grace = c.lifecycle.grace_period,
        max = c.lifecycle.max_reclaims_per_cycle,
        idle = if c.idle.reclaim { "reclaimed when idle" } else { "reported, never reclaimed" },
        window = c.idle.window,
        cpu = c.idle.cpu_threshold.0,
        net = c.idle.network_threshold.0,
        gap = c.rightsizing.gap_threshold * 100.0,
        rwindow = c.rightsizing.window,
        cpu_price = c.pricing.cpu_per_vcpu_hour,
        mem_price = c.pricing.memory_per_gib_hour,
        cur = c.pricing.currency.as_str(),
        cycle = c.schedules.cycle.expression,
        cycle_next = next(&c.schedules.cycle),
        report = c.schedules.report.expression,
        report_next = next(&c.schedules.report),
        tz = c.time_zone.0.name(),
    )
}
