//! Routing decisions: direct or through a proxy, and why.

use std::fmt;
use std::sync::Arc;

use http::HeaderValue;
use hyper_util::client::proxy::matcher::Matcher;

use super::{ProxyUrl, ProxyVar, Target, TargetScheme};
use crate::redact;

/// Decides, per target, how to get there, and what a child process should be
/// told about proxies.
///
/// Implementations: [`EnvProxyConfig`](super::EnvProxyConfig) (the proxy
/// variables), [`StaticProxyConfig`](super::StaticProxyConfig) (one fixed
/// answer) and [`PassthroughRules`](super::PassthroughRules) (layered on
/// either, for hosts whose TLS must not be intercepted).
pub trait ProxyConfig: fmt::Debug + Send + Sync {
    /// The route to `target`, the rule that chose it, and which roots its TLS
    /// certificate must chain to.
    fn decide(&self, target: &Target) -> Decision;

    /// The proxy variables a child process should get, so that it routes the
    /// way this configuration does. Values may carry proxy credentials: hand
    /// them to the child, never print them (`Debug` redacts them).
    fn child_env(&self) -> ChildProxyEnv;
}

impl<T: ProxyConfig + ?Sized> ProxyConfig for Arc<T> {
    fn decide(&self, target: &Target) -> Decision {
        (**self).decide(target)
    }
    fn child_env(&self) -> ChildProxyEnv {
        (**self).child_env()
    }
}

impl<T: ProxyConfig + ?Sized> ProxyConfig for Box<T> {
    fn decide(&self, target: &Target) -> Decision {
        (**self).decide(target)
    }
    fn child_env(&self) -> ChildProxyEnv {
        (**self).child_env()
    }
}

/// How to reach a target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// Connect to the target itself.
    Direct,
    /// Go through an HTTP proxy: a CONNECT tunnel for TLS and WebSocket
    /// targets, an absolute-form request for plain `http`.
    Via {
        /// The proxy's address, without credentials.
        proxy: ProxyUrl,
        /// `Proxy-Authorization` from the proxy URL's userinfo, if any.
        auth: Option<ProxyAuth>,
    },
}

/// A `Proxy-Authorization: Basic ...` value. Never shown: `Debug` prints
/// `ProxyAuth(***)`, and the header value is marked sensitive.
#[derive(Clone, PartialEq, Eq)]
pub struct ProxyAuth(HeaderValue);

impl ProxyAuth {
    /// The Basic credentials in a proxy URL's userinfo (percent-decoded),
    /// or `None` when the URL has none. Encoded by hyper-util's proxy
    /// matcher, the same code [`EnvProxyConfig`](super::EnvProxyConfig) uses.
    pub fn from_proxy_url(proxy: &ProxyUrl) -> Option<Self> {
        if !proxy.has_credentials() {
            return None;
        }
        let matcher = Matcher::builder().all(proxy.expose()).build();
        let probe = http::Uri::from_static("https://probe.invalid/");
        matcher
            .intercept(&probe)
            .and_then(|intercept| intercept.basic_auth().cloned())
            .map(ProxyAuth::from_header)
    }

    pub(crate) fn from_header(mut value: HeaderValue) -> Self {
        value.set_sensitive(true);
        ProxyAuth(value)
    }

    /// The header value, marked sensitive (hyper and h2 keep it out of
    /// compression tables and logs).
    pub fn header_value(&self) -> &HeaderValue {
        &self.0
    }
}

impl fmt::Debug for ProxyAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ProxyAuth({})", redact::REDACTED)
    }
}

/// Which root certificates a target's TLS certificate must chain to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsTrust {
    /// Every configured root: public, native and the extra ones (the
    /// sandbox proxy's CA), so an intercepting proxy's certificate passes.
    Configured,
    /// Public roots only: a passthrough host. A certificate from an
    /// intercepting proxy fails, and is reported as interception.
    PublicOnly,
}

/// Which proxy variable supplied a proxy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyVariable {
    /// `HTTP_PROXY` / `http_proxy`.
    Http,
    /// `HTTPS_PROXY` / `https_proxy`.
    Https,
    /// `ALL_PROXY` / `all_proxy`.
    All,
}

impl ProxyVariable {
    /// The variable, with both its spellings.
    pub fn var(self) -> ProxyVar {
        match self {
            ProxyVariable::Http => ProxyVar::HTTP_PROXY,
            ProxyVariable::Https => ProxyVar::HTTPS_PROXY,
            ProxyVariable::All => ProxyVar::ALL_PROXY,
        }
    }

    /// The upper-case variable name.
    pub fn name(self) -> &'static str {
        self.var().upper
    }
}

/// The rule that chose a route: what the CLI's `route` command prints.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RouteReason {
    /// A `NO_PROXY` entry matched (as written).
    NoProxyRule {
        /// The entry.
        rule: String,
    },
    /// A proxy variable applied.
    ProxyVariable(ProxyVariable),
    /// No proxy variable applies to this scheme.
    NoProxyForScheme(TargetScheme),
    /// A [`StaticProxyConfig`](super::StaticProxyConfig) said so.
    Static,
    /// A passthrough rule matched: the route is the inner configuration's,
    /// but TLS is checked against public roots only.
    Passthrough {
        /// The passthrough pattern, as written.
        rule: String,
        /// Why the inner configuration chose the route.
        inner: Box<RouteReason>,
    },
}

impl fmt::Display for RouteReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RouteReason::NoProxyRule { rule } => write!(f, "NO_PROXY rule `{rule}`"),
            RouteReason::ProxyVariable(variable) => f.write_str(variable.name()),
            RouteReason::NoProxyForScheme(scheme) => {
                write!(f, "no proxy variable applies to {scheme} targets")
            }
            RouteReason::Static => f.write_str("static configuration"),
            RouteReason::Passthrough { rule, inner } => {
                write!(f, "passthrough rule `{rule}` (public roots only), {inner}")
            }
        }
    }
}

/// A routing decision: the route, the rule behind it, and the trust to use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// How to get there.
    pub route: Route,
    /// Which rule decided.
    pub reason: RouteReason,
    /// Which roots the target's certificate must chain to.
    pub trust: TlsTrust,
}

impl Decision {
    /// A direct route, with all configured roots trusted.
    pub fn direct(reason: RouteReason) -> Self {
        Decision {
            route: Route::Direct,
            reason,
            trust: TlsTrust::Configured,
        }
    }

    /// A route through `proxy`, with all configured roots trusted.
    pub fn via(proxy: ProxyUrl, auth: Option<ProxyAuth>, reason: RouteReason) -> Self {
        Decision {
            route: Route::Via { proxy, auth },
            reason,
            trust: TlsTrust::Configured,
        }
    }

    /// The proxy, when the route goes through one.
    pub fn proxy(&self) -> Option<&ProxyUrl> {
        match &self.route {
            Route::Direct => None,
            Route::Via { proxy, .. } => Some(proxy),
        }
    }
}

impl fmt::Display for Decision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.route {
            Route::Direct => write!(f, "direct ({})", self.reason),
            Route::Via { proxy, .. } => write!(f, "via {proxy} ({})", self.reason),
        }
    }
}

/// Proxy variables for a child process, each in upper and lower case
/// (curl reads only `http_proxy` in lower case; Node's proxy-from-env prefers
/// lower case; most tools read upper case).
///
/// Values are exposed as-is for the child; `Debug` redacts credentials.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct ChildProxyEnv {
    vars: Vec<(String, String)>,
}

impl ChildProxyEnv {
    /// Adds `NAME` and `name` with the same value.
    pub(crate) fn push_both_cases(&mut self, var: ProxyVar, value: &str) {
        for name in var.both() {
            self.vars.push((name.to_string(), value.to_string()));
        }
    }

    /// The variables, in a stable order.
    pub fn vars(&self) -> &[(String, String)] {
        &self.vars
    }

    /// The value of one variable.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.vars
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Whether no variable is set.
    pub fn is_empty(&self) -> bool {
        self.vars.is_empty()
    }

    /// The variables, for a process builder or container spec.
    pub fn into_vars(self) -> Vec<(String, String)> {
        self.vars
    }
}

impl fmt::Debug for ChildProxyEnv {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(
                self.vars
                    .iter()
                    .map(|(n, v)| (n, redact::env_value_for_display(n, v))),
            )
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxy_auth_is_basic_of_the_decoded_userinfo_and_never_shown() {
        let proxy = ProxyUrl::parse("http://Aladdin:open%20sesame@proxy:3128").unwrap();
        let auth = ProxyAuth::from_proxy_url(&proxy).unwrap();
        // base64("Aladdin:open sesame")
        assert_eq!(auth.header_value(), "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==");
        assert!(auth.header_value().is_sensitive());
        let shown = format!("{auth:?}");
        assert_eq!(shown, "ProxyAuth(***)");
        assert!(
            ProxyAuth::from_proxy_url(&ProxyUrl::parse("http://proxy:3128").unwrap()).is_none()
        );
    }

    #[test]
    fn child_env_debug_hides_credentials() {
        let mut env = ChildProxyEnv::default();
        env.push_both_cases(ProxyVar::HTTPS_PROXY, "http://user:hunter2@proxy:3128");
        assert_eq!(
            env.get("https_proxy"),
            Some("http://user:hunter2@proxy:3128")
        );
        let shown = format!("{env:?}");
        assert!(
            !shown.contains("hunter2") && !shown.contains("user:"),
            "{shown}"
        );
        assert!(shown.contains("proxy:3128"), "{shown}");
    }

    #[test]
    fn decisions_read_as_the_cli_prints_them() {
        let proxy = ProxyUrl::parse("http://gateway.docker.internal:3128").unwrap();
        let via = Decision::via(
            proxy,
            None,
            RouteReason::ProxyVariable(ProxyVariable::Https),
        );
        assert_eq!(
            via.to_string(),
            "via http://gateway.docker.internal:3128 (HTTPS_PROXY)"
        );
        let direct = Decision::direct(RouteReason::NoProxyRule {
            rule: ".example.com".into(),
        });
        assert_eq!(direct.to_string(), "direct (NO_PROXY rule `.example.com`)");
        let passthrough = RouteReason::Passthrough {
            rule: "*.whatsapp.net".into(),
            inner: Box::new(RouteReason::ProxyVariable(ProxyVariable::All)),
        };
        assert_eq!(
            passthrough.to_string(),
            "passthrough rule `*.whatsapp.net` (public roots only), ALL_PROXY"
        );
    }
}
