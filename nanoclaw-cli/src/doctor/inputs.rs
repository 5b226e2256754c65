//! The doctor's inputs, read from flags and files: every problem with them
//! is a usage error (exit 2), not a failed check.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use nanoclaw_sandbox_core::doctor::{Doctor, Engine};
use nanoclaw_sandbox_core::proxy::Target;
use nanoclaw_sandbox_core::trust::TrustStore;

use crate::exit::usage;
use crate::settings::{SettingsArgs, VarSource};

/// The variables to diagnose: the env file's alone, or the process's.
pub(super) fn variables(settings: &SettingsArgs) -> anyhow::Result<BTreeMap<String, String>> {
    Ok(match VarSource::from_args(settings)? {
        VarSource::Process => std::env::vars().collect(),
        VarSource::File { vars, .. } => vars.into_iter().collect(),
    })
}

/// `--probe`: an `https://` URL.
pub(super) fn probe_url(url: &str) -> anyhow::Result<String> {
    let target = Target::parse(url).map_err(usage)?;
    if !target.scheme().is_tls() {
        return Err(usage(format!(
            "--probe {url}: give an https:// URL, the TLS checks need one"
        )));
    }
    Ok(url.trim().to_string())
}

/// `--passthrough-host HOST` → `https://HOST/`.
pub(super) fn passthrough_urls(hosts: &[String]) -> anyhow::Result<Vec<String>> {
    hosts
        .iter()
        .map(|host| {
            let url = format!("https://{}/", host.trim());
            Target::parse(&url)
                .map(|_| url)
                .map_err(|e| usage(format!("--passthrough-host {host}: {e}")))
        })
        .collect()
}

/// A file's text; unreadable is a usage error.
pub(super) fn read_text(path: &Path, what: &str) -> anyhow::Result<String> {
    std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the {what} {}", path.display()))
        .map_err(|e| usage(format!("{e:#}")))
}

/// `doctor` checking passthrough hosts against the CA certificates of
/// the `--public-ca` files.
pub(super) fn with_public_roots(doctor: Doctor, files: &[PathBuf]) -> anyhow::Result<Doctor> {
    let mut roots = Vec::new();
    for file in files {
        let store = TrustStore::from_file(file).map_err(usage)?;
        roots.extend(store.ca_certificates().iter().cloned());
    }
    Ok(doctor.public_roots(roots))
}

/// `doctor` with the engine as found (connected, or why not) and, when
/// connected, the daemon's own proxy settings (`GET /info`).
pub(super) async fn with_engine(doctor: Doctor, workspace: Option<&Path>) -> Doctor {
    match crate::engine::connect(workspace).await {
        Ok(runtime) => {
            let proxy = runtime
                .daemon_proxy()
                .await
                .map_err(|error| error.to_string());
            doctor
                .engine(Engine::Connected {
                    endpoint: runtime.endpoint().to_string(),
                    api_version: runtime.api_version(),
                    runtime: Arc::new(runtime),
                })
                .daemon_proxy(proxy)
        }
        Err(error) => doctor.engine(Engine::Unreachable {
            reason: format!("{error:#}"),
        }),
    }
}
