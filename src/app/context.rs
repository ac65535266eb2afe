//! The context every command and every daemon cycle works with, made once per process:
//! the configuration, the Kubernetes client and where Prometheus is.

use crate::core::config::Config;
use crate::io::prometheus::Prometheus;
use anyhow::Context as _;
use std::path::Path;

pub struct Context {
    pub config: Config,
    pub client: kube::Client,
    /// `--prometheus-url`, which wins over `prometheus.url`.
    prometheus_url: Option<String>,
}

impl Context {
    /// A Kubernetes client from `kubeconfig`, or by the usual inference.
    pub async fn new(
        config: Config,
        kubeconfig: Option<&Path>,
        prometheus_url: Option<String>,
    ) -> anyhow::Result<Context> {
        let client = kube_client(&config, kubeconfig).await?;
        Ok(Context {
            config,
            client,
            prometheus_url,
        })
    }

    /// The Prometheus client for one run. It is made anew each time because
    /// `prometheus.bearer_token_file` is read on every cycle, so the token can be rotated.
    pub fn prometheus(&self) -> Result<Prometheus, String> {
        Prometheus::connect(&self.config, self.prometheus_url.as_deref())
    }
}

/// A client from `--kubeconfig`, or by the usual inference. No answer of the apiserver is
/// waited for longer than `daemon.request_timeout`.
async fn kube_client(c: &Config, kubeconfig: Option<&Path>) -> anyhow::Result<kube::Client> {
    let mut config = match kubeconfig {
        Some(path) => {
            let file = kube::config::Kubeconfig::read_from(path)
                .with_context(|| format!("cannot read kubeconfig {}", path.display()))?;
            kube::Config::from_custom_kubeconfig(file, &Default::default())
                .await
                .with_context(|| format!("cannot use kubeconfig {}", path.display()))?
        }
        None => kube::Config::infer().await.context(
            "cannot set up a Kubernetes client (from KUBECONFIG, ~/.kube/config or the in-cluster service account)",
        )?,
    };
    let timeout =
        std::time::Duration::from_secs(c.daemon.request_timeout.as_seconds().max(1) as u64);
    config.connect_timeout = Some(timeout);
    config.read_timeout = Some(timeout);
    config.write_timeout = Some(timeout);
    // The timeout counts from each request, not from when its pooled connection went idle.
    config.reset_reader_on_write = true;
    kube::Client::try_from(config).context("cannot create the Kubernetes client")
}
