//! Hosts whose TLS must not be intercepted, layered on another configuration.

use super::route::{ChildProxyEnv, Decision, RouteReason, TlsTrust};
use super::{ProxyConfig, Target};

/// The hosts that refuse (or detect) an intercepting proxy by default:
/// WhatsApp Web pins its certificates.
pub const DEFAULT_PASSTHROUGH: &[&str] = &["web.whatsapp.com", "*.whatsapp.com", "*.whatsapp.net"];

/// Why a passthrough pattern was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PassthroughPatternError {
    /// Not a host name or a `*.` wildcard over one.
    #[error("passthrough pattern `{pattern}` is not a host name: write `host.example.com` or `*.example.com` (a `*` only as the whole first label)")]
    Invalid {
        /// The pattern as given.
        pattern: String,
    },
}

/// Passthrough rules over an inner [`ProxyConfig`].
///
/// A matching host keeps the inner route (the proxy is the only way out of a
/// sandbox), but its certificate must chain to *public* roots only, never to
/// the proxy's CA. Through a proxy that intercepts it, the TLS handshake then
/// fails and the client reports the host as intercepted, so the operator can
/// configure a bypass for it in the proxy.
///
/// Patterns: `web.whatsapp.com` matches that host only; `*.whatsapp.net`
/// matches every subdomain, not `whatsapp.net` itself. Case-insensitive.
#[derive(Debug, Clone)]
pub struct PassthroughRules<C> {
    inner: C,
    patterns: Vec<HostPattern>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct HostPattern {
    written: String,
    /// Lower case; for a wildcard, the suffix with its leading dot.
    host: String,
    wildcard: bool,
}

impl<C: ProxyConfig> PassthroughRules<C> {
    /// The [`DEFAULT_PASSTHROUGH`] hosts over `inner`.
    pub fn new(inner: C) -> Self {
        PassthroughRules {
            inner,
            patterns: DEFAULT_PASSTHROUGH
                .iter()
                .filter_map(|p| HostPattern::parse(p).ok())
                .collect(),
        }
    }

    /// Exactly the given patterns over `inner`.
    pub fn with_patterns<I, S>(inner: C, patterns: I) -> Result<Self, PassthroughPatternError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let patterns = patterns
            .into_iter()
            .map(|p| HostPattern::parse(p.as_ref()))
            .collect::<Result<_, _>>()?;
        Ok(PassthroughRules { inner, patterns })
    }

    /// Adds one pattern.
    pub fn with_pattern(mut self, pattern: &str) -> Result<Self, PassthroughPatternError> {
        self.patterns.push(HostPattern::parse(pattern)?);
        Ok(self)
    }

    /// The patterns, as written.
    pub fn patterns(&self) -> impl Iterator<Item = &str> {
        self.patterns.iter().map(|p| p.written.as_str())
    }

    /// The first pattern (as written) matching `host`.
    pub fn matching_rule(&self, host: &str) -> Option<&str> {
        let host = host.strip_suffix('.').unwrap_or(host).to_ascii_lowercase();
        self.patterns
            .iter()
            .find(|p| p.matches(&host))
            .map(|p| p.written.as_str())
    }

    /// The configuration underneath.
    pub fn inner(&self) -> &C {
        &self.inner
    }
}

impl HostPattern {
    fn parse(pattern: &str) -> Result<Self, PassthroughPatternError> {
        let invalid = || PassthroughPatternError::Invalid {
            pattern: pattern.to_string(),
        };
        let trimmed = pattern.trim();
        let (wildcard, name) = match trimmed.strip_prefix("*.") {
            Some(rest) => (true, rest),
            None => (false, trimmed),
        };
        let name = name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase();
        let label_ok = |l: &str| {
            !l.is_empty()
                && l.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        };
        if !name.split('.').all(label_ok) {
            return Err(invalid());
        }
        Ok(HostPattern {
            written: trimmed.to_string(),
            host: if wildcard { format!(".{name}") } else { name },
            wildcard,
        })
    }

    fn matches(&self, host: &str) -> bool {
        if self.wildcard {
            host.ends_with(&self.host)
        } else {
            host == self.host
        }
    }
}

impl<C: ProxyConfig> ProxyConfig for PassthroughRules<C> {
    fn decide(&self, target: &Target) -> Decision {
        let decision = self.inner.decide(target);
        match self.matching_rule(target.host()) {
            None => decision,
            Some(rule) => Decision {
                route: decision.route,
                reason: RouteReason::Passthrough {
                    rule: rule.to_string(),
                    inner: Box::new(decision.reason),
                },
                trust: TlsTrust::PublicOnly,
            },
        }
    }

    /// The inner configuration's variables: passthrough is a property of
    /// this client's TLS checks, not something a child can be told.
    fn child_env(&self) -> ChildProxyEnv {
        self.inner.child_env()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proxy::{EnvProxyConfig, ProxySettings, ProxyUrl, Route, StaticProxyConfig};

    fn via_proxy() -> StaticProxyConfig {
        StaticProxyConfig::via(ProxyUrl::parse("http://p:3128").unwrap())
    }

    #[test]
    fn defaults_cover_whatsapp_and_keep_the_route() {
        let rules = PassthroughRules::new(via_proxy());
        let cases = [
            ("wss://web.whatsapp.com/ws/chat", Some("web.whatsapp.com")),
            ("https://mmg.whatsapp.net", Some("*.whatsapp.net")),
            ("https://static.WhatsApp.com", Some("*.whatsapp.com")),
            ("https://whatsapp.net", None),
            ("https://notwhatsapp.net", None),
            ("https://api.anthropic.com", None),
        ];
        for (url, rule) in cases {
            let decision = rules.decide(&Target::parse(url).unwrap());
            assert!(
                matches!(decision.route, Route::Via { .. }),
                "{url}: {decision}"
            );
            match rule {
                Some(rule) => {
                    assert_eq!(decision.trust, TlsTrust::PublicOnly, "{url}");
                    assert_eq!(
                        decision.reason.to_string(),
                        format!(
                            "passthrough rule `{rule}` (public roots only), static configuration"
                        )
                    );
                }
                None => {
                    assert_eq!(decision.trust, TlsTrust::Configured, "{url}");
                    assert_eq!(decision.reason, RouteReason::Static, "{url}");
                }
            }
        }
    }

    #[test]
    fn the_inner_no_proxy_still_decides_the_route() {
        let settings = ProxySettings {
            https: Some(ProxyUrl::parse("http://p:3128").unwrap()),
            no_proxy: Some("internal.test".into()),
            ..ProxySettings::default()
        };
        let rules =
            PassthroughRules::with_patterns(EnvProxyConfig::new(settings), ["*.internal.test"])
                .unwrap();
        let decision = rules.decide(&Target::parse("https://a.internal.test").unwrap());
        assert_eq!(decision.route, Route::Direct);
        assert_eq!(decision.trust, TlsTrust::PublicOnly);
        assert_eq!(
            decision.to_string(),
            "direct (passthrough rule `*.internal.test` (public roots only), NO_PROXY rule `internal.test`)"
        );
    }

    #[test]
    fn bad_patterns_are_refused_by_name() {
        for bad in [
            "",
            "*",
            "a.*.com",
            "*example.com",
            "exa mple.com",
            "a..b",
            "host:443",
        ] {
            let err = PassthroughRules::with_patterns(via_proxy(), [bad]).unwrap_err();
            assert!(
                err.to_string().contains(&format!("`{}`", bad.trim())),
                "{err}"
            );
        }
        let rules = PassthroughRules::with_patterns(via_proxy(), ["x.test"])
            .unwrap()
            .with_pattern("*.y.test")
            .unwrap();
        assert_eq!(rules.patterns().collect::<Vec<_>>(), ["x.test", "*.y.test"]);
    }
}
