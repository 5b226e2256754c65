//! The proxy variables' values, as read once from the environment.

use super::ProxyUrl;

/// The proxy variables' effective values, case precedence already applied by
/// [`crate::sandbox::SandboxEnv::detect`]. Everything that routes traffic or
/// exports variables (the patcher, the HTTP client, the CLI) takes this value;
/// nothing else reads the process environment for proxies.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProxySettings {
    /// `HTTP_PROXY`: proxy for `http://` targets.
    pub http: Option<ProxyUrl>,
    /// `HTTPS_PROXY`: proxy for `https://` (and `wss://`) targets.
    pub https: Option<ProxyUrl>,
    /// `ALL_PROXY`: fallback for either scheme.
    pub all: Option<ProxyUrl>,
    /// `NO_PROXY` as written (comma-separated rules).
    pub no_proxy: Option<String>,
}

impl ProxySettings {
    /// Whether any proxy is configured.
    pub fn is_empty(&self) -> bool {
        self.http.is_none() && self.https.is_none() && self.all.is_none()
    }

    /// The proxy for `https` targets: `HTTPS_PROXY`, else `ALL_PROXY`.
    pub fn for_https(&self) -> Option<&ProxyUrl> {
        self.https.as_ref().or(self.all.as_ref())
    }

    /// The proxy for `http` targets: `HTTP_PROXY`, else `ALL_PROXY`.
    pub fn for_http(&self) -> Option<&ProxyUrl> {
        self.http.as_ref().or(self.all.as_ref())
    }

    /// The `NO_PROXY` rules, split and trimmed.
    pub fn no_proxy_rules(&self) -> Vec<&str> {
        self.no_proxy
            .as_deref()
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|r| !r.is_empty())
            .collect()
    }
}
