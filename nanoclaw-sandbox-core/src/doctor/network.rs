//! The checks that talk to the proxy (feature `client`): reachability,
//! TLS to the probe URL with and without the sandbox CA, and passthrough
//! hosts. All through the library's own [`HttpClient`], so the doctor sees
//! what the host's calls see.

use rustls_pki_types::CertificateDer;

use super::check::Check;
use super::env::{ca_fix, main_proxy, NO_USABLE_PROXY};
use super::CheckId;
use crate::http::{HttpClient, HttpClientBuilder, HttpError, Timeouts};
use crate::proxy::{
    EnvProxyConfig, PassthroughRules, ProxyConfig, ProxySettings, StaticProxyConfig, Target,
    DEFAULT_PASSTHROUGH, POLICY_PAGE_MARKER, PROXY_CA_B64_VAR, SBX_BYPASS,
};
use crate::sandbox::SandboxEnv;

/// How the doctor's clients connect.
#[derive(Debug, Clone)]
pub(crate) struct NetSettings {
    /// Per-phase limits.
    pub timeouts: Timeouts,
    /// Replaces Mozilla's roots as the public ones: what passthrough hosts,
    /// and the probe without the sandbox CA, must chain to.
    pub public_roots: Option<Vec<CertificateDer<'static>>>,
}

/// What the common certificate errors of agents mean, for details.
const INTERCEPTION_EXPLAINED: &str = "the proxy intercepts TLS; agents need the CA (Node \
     reports UNABLE_TO_VERIFY_LEAF_SIGNATURE or SELF_SIGNED_CERT_IN_CHAIN, curl error 60, \
     Python CERTIFICATE_VERIFY_FAILED)";

/// Where the proxy is in Docker Sandboxes, for fixes.
const PROXY_FIX: &str = "check that the proxy runs and that HTTPS_PROXY names it: in Docker \
     Sandboxes http://gateway.docker.internal:3128 (older Docker Desktop sandboxes: \
     http://host.docker.internal:3128); with the stand-in, the address `nanoclaw-sandbox proxy` \
     printed";

/// A client with the doctor's timeouts and public roots.
fn build(
    mut builder: HttpClientBuilder,
    settings: &NetSettings,
    id: CheckId,
) -> Result<HttpClient, Check> {
    if let Some(roots) = &settings.public_roots {
        builder = builder.public_roots(roots.clone());
    }
    builder.timeouts(settings.timeouts).build().map_err(|e| {
        Check::fail(
            id,
            format!("the doctor's HTTPS client cannot be built: {e}"),
            "see the message; this is a configuration problem of this machine",
        )
    })
}

/// The host's own routing: the proxy variables with the passthrough hosts.
fn host_config(settings: &ProxySettings) -> PassthroughRules<EnvProxyConfig> {
    PassthroughRules::new(EnvProxyConfig::new(settings.clone()))
}

/// A detail and a fix for errors every network check can meet.
fn explain(error: &HttpError) -> (String, String) {
    match error {
        HttpError::ProxyUnreachable { .. } | HttpError::Timeout { .. } => {
            (error.to_string(), PROXY_FIX.to_string())
        }
        HttpError::ProxyAuthRequired { .. } => (
            error.to_string(),
            "put the proxy's user name and password in the proxy URL: \
             http://USER:PASSWORD@HOST:PORT (percent-encode reserved characters)"
                .to_string(),
        ),
        HttpError::PolicyDenied { host, proxy } => (
            format!(
                "the network policy blocks {host}: proxy {proxy} answered HTTP 403 \
                 \"{POLICY_PAGE_MARKER}\""
            ),
            format!(
                "allow the host: `sbx policy allow network {host}` (Docker Sandboxes; older \
                 Docker Desktop sandboxes: `docker sandbox network proxy <sandbox> --allow-host \
                 {host}`); with the stand-in, `nanoclaw-sandbox proxy --allow {host}`"
            ),
        ),
        other => (
            other.to_string(),
            "see docs/troubleshooting.md for this message".to_string(),
        ),
    }
}

/// `proxy-reachable`: TCP to the proxy, then `CONNECT` to the probe host.
pub(crate) async fn proxy_reachable(
    env: Option<&SandboxEnv>,
    probe: &str,
    settings: &NetSettings,
) -> Check {
    let id = CheckId::ProxyReachable;
    let Some(proxy) = main_proxy(env) else {
        return Check::skip(id, NO_USABLE_PROXY);
    };
    // Always through the proxy, even when NO_PROXY sends the probe direct
    // (channel-routes reports that): this check is about the proxy.
    let client = match build(
        HttpClient::builder(StaticProxyConfig::via(proxy.clone())),
        settings,
        id,
    ) {
        Ok(client) => client,
        Err(check) => return check,
    };
    let authority = Target::parse(probe).map_or_else(|_| probe.to_string(), |t| t.authority());
    match client.check_tunnel(probe).await {
        Ok(_) => Check::pass(
            id,
            format!("TCP connection to the proxy {proxy} opened; CONNECT {authority} accepted"),
        ),
        Err(error) => {
            let (detail, fix) = explain(&error);
            Check::fail(id, detail, fix)
        }
    }
}

/// `tls-probe`: a request to the probe URL along the host's route verifies
/// with the sandbox CA, and a client without it fails: the proof that the
/// proxy intercepts and that the CA is the right one.
pub(crate) async fn tls_probe(
    env: Option<&SandboxEnv>,
    probe: &str,
    settings: &NetSettings,
) -> Check {
    let id = CheckId::TlsProbe;
    let Some((env, proxy)) = env.and_then(|e| e.proxy().map(|p| (e, p))) else {
        return Check::skip(id, NO_USABLE_PROXY);
    };
    let route = Target::parse(probe)
        .map(|t| host_config(proxy).decide(&t).to_string())
        .unwrap_or_default();
    let control = match build(
        HttpClient::builder(host_config(proxy)).native_roots(false),
        settings,
        id,
    ) {
        Ok(client) => client,
        Err(check) => return check,
    };
    let Some(store) = env.trust_store() else {
        return match control.get(probe).await {
            Ok(reply) => Check::pass(
                id,
                format!(
                    "{probe} answered HTTP {} {route}, verified with public roots: the proxy \
                     does not intercept TLS here, no CA needed",
                    reply.status().as_u16()
                ),
            ),
            Err(HttpError::CaNotTrusted { host, proxy }) => Check::fail(
                id,
                format!(
                    "TLS to {host} through {proxy} fails verification without a proxy CA: \
                     {INTERCEPTION_EXPLAINED}"
                ),
                ca_fix(),
            ),
            Err(error) => {
                let (detail, fix) = explain(&error);
                Check::fail(id, detail, fix)
            }
        };
    };
    let with_ca = match build(
        HttpClient::builder(host_config(proxy)).extra_roots(store.ca_certificates().to_vec()),
        settings,
        id,
    ) {
        Ok(client) => client,
        Err(check) => return check,
    };
    let subjects: Vec<&str> = store.info().iter().map(|i| i.subject()).collect();
    let status = match with_ca.get(probe).await {
        Ok(reply) => reply.status().as_u16(),
        Err(HttpError::CaNotTrusted { host, proxy }) => {
            return Check::fail(
                id,
                format!(
                    "the proxy CA ({}) does not verify the certificate {proxy} presents for \
                     {host}: the sandbox rotated its CA, or this CA is another proxy's",
                    subjects.join(", ")
                ),
                format!(
                    "read the current CA again: restart the host, or update {PROXY_CA_B64_VAR} \
                     (or the CA file) from the sandbox"
                ),
            );
        }
        Err(error) => {
            let (detail, fix) = explain(&error);
            return Check::fail(id, detail, fix);
        }
    };
    let verified = format!(
        "{probe} answered HTTP {status} {route}, verified with the sandbox CA ({})",
        subjects.join(", ")
    );
    match control.get(probe).await {
        Err(HttpError::CaNotTrusted { .. }) => Check::pass(
            id,
            format!("{verified}; without it verification fails: {INTERCEPTION_EXPLAINED}, which the sandbox layer mounts into them"),
        ),
        Ok(_) => Check::pass(
            id,
            format!(
                "{verified}; it verifies without the CA too: the proxy does not intercept this \
                 host"
            ),
        ),
        Err(error) => Check::pass(
            id,
            format!("{verified}; the check without the CA failed otherwise: {error}"),
        ),
    }
}

/// The bypass settings for the default passthrough hosts, for fixes.
fn bypass_fix() -> String {
    let sandbox: Vec<String> = DEFAULT_PASSTHROUGH
        .iter()
        .map(|p| format!("--bypass-host '{p}'"))
        .collect();
    let standin: Vec<String> = DEFAULT_PASSTHROUGH
        .iter()
        .map(|p| format!("--bypass '{p}'"))
        .collect();
    format!(
        "configure a bypass for these hosts in the sandbox's proxy, so it tunnels them \
         untouched: {SBX_BYPASS} (older Docker Desktop sandboxes: \
         `docker sandbox network proxy <sandbox> {}`); with the stand-in, \
         `nanoclaw-sandbox proxy {}`",
        sandbox.join(" "),
        standin.join(" ")
    )
}

/// `passthrough`: the passthrough hosts present certificates from public
/// roots, not the proxy's.
pub(crate) async fn passthrough(
    env: Option<&SandboxEnv>,
    urls: &[String],
    settings: &NetSettings,
) -> Check {
    let id = CheckId::Passthrough;
    let Some(proxy) = env.and_then(SandboxEnv::proxy) else {
        return Check::skip(id, NO_USABLE_PROXY);
    };
    if urls.is_empty() {
        return Check::skip(id, "no passthrough hosts to check");
    }
    let client = match build(HttpClient::builder(host_config(proxy)), settings, id) {
        Ok(client) => client,
        Err(check) => return check,
    };
    let (mut clean, mut intercepted, mut unchecked) = (Vec::new(), Vec::new(), Vec::new());
    for url in urls {
        match client.check_not_intercepted(url).await {
            Ok(decision) => clean.push(format!(
                "{} ({decision})",
                Target::parse(url).map_or_else(|_| url.clone(), |t| t.host().to_string())
            )),
            Err(HttpError::Intercepted { host, proxy }) => intercepted.push((host, proxy)),
            Err(error) => unchecked.push(error.to_string()),
        }
    }
    if !intercepted.is_empty() {
        let hosts: Vec<&str> = intercepted.iter().map(|(h, _)| h.as_str()).collect();
        return Check::fail(
            id,
            format!(
                "the proxy {} intercepts {}: WhatsApp pins its certificates, so it fails with \
                 \"Connection failed\" at once",
                intercepted[0].1,
                hosts.join(", ")
            ),
            bypass_fix(),
        );
    }
    if !unchecked.is_empty() {
        return Check::warn(
            id,
            format!(
                "could not check every passthrough host: {}",
                unchecked.join("; ")
            ),
            "make sure the proxy lets these hosts through (its policy) if a channel needs them",
        );
    }
    Check::pass(
        id,
        format!(
            "not intercepted, certificates from public roots: {}",
            clean.join(", ")
        ),
    )
}
