//! What a sandbox's environment says, fed through the library's own
//! detection ([`SandboxEnv::detect_from`]) exactly as Docker Sandboxes set
//! it: the proxy variables and `PROXY_CA_CERT_B64`.

use std::collections::BTreeMap;

use base64::Engine;
use nanoclaw_sandbox_core::proxy::PROXY_CA_B64_VAR;
use nanoclaw_sandbox_core::sandbox::{DetectOptions, SandboxEnv};
use nanoclaw_testkit::{Context, Result};

/// The environment of a sandbox whose proxy is `proxy_url`, with `no_proxy`,
/// and — for an intercepting proxy — `ca_pem` in `PROXY_CA_CERT_B64`. The
/// host's own CA files are never consulted.
pub fn sandbox_env(proxy_url: &str, no_proxy: &str, ca_pem: Option<&str>) -> Result<SandboxEnv> {
    let mut vars = BTreeMap::from([
        ("HTTPS_PROXY", proxy_url.to_string()),
        ("HTTP_PROXY", proxy_url.to_string()),
        ("NO_PROXY", no_proxy.to_string()),
    ]);
    if let Some(pem) = ca_pem {
        vars.insert(
            PROXY_CA_B64_VAR,
            base64::engine::general_purpose::STANDARD.encode(pem),
        );
    }
    let options = DetectOptions::default()
        .with_sandbox_ca_path("/nonexistent/nanoclaw-e2e/proxy-ca.crt")
        .with_system_bundle_paths([]);
    SandboxEnv::detect_from(|name| vars.get(name).cloned(), &options)
        .context(|| format!("detecting the sandbox environment of proxy {proxy_url}"))
}
