//! Hosts whose TLS must not be intercepted, layered on another configuration.

use super::pattern::{normalize_host, HostPattern, HostPatternError};
use super::route::{ChildProxyEnv, Decision, RouteReason, TlsTrust};
use super::{ProxyConfig, Target};

/// The hosts that refuse (or detect) an intercepting proxy by default:
/// WhatsApp Web pins its certificates. Its media hosts are two labels deep
/// (`mmg.fna.whatsapp.net`), hence `**.`.
pub const DEFAULT_PASSTHROUGH: &[&str] =
    &["web.whatsapp.com", "**.whatsapp.com", "**.whatsapp.net"];

/// What Docker Sandboxes' `sbx` offers for a passthrough host, for fixes:
/// its documentation (the `sbx policy` commands) names no way to exempt a
/// host from TLS interception, and nothing else is invented here. (Its
/// readers, the HTTP client's errors and the doctor, need `client`.)
#[cfg(feature = "client")]
pub(crate) const SBX_BYPASS: &str = "today's `sbx` documents no command that exempts a host \
     from TLS interception (`sbx policy allow network` only admits it): ask for a bypass where \
     the sandbox's proxy is configured";

/// Passthrough rules over an inner [`ProxyConfig`].
///
/// A matching host keeps the inner route (the proxy is the only way out of a
/// sandbox), but its certificate must chain to *public* roots only, never to
/// the proxy's CA. Through a proxy that intercepts it, the TLS handshake then
/// fails and the client reports the host as intercepted, so the operator can
/// configure a bypass for it in the proxy.
///
/// Patterns are [`HostPattern`]s, Docker Sandboxes' grammar:
/// `web.whatsapp.com` matches that host only, `*.whatsapp.net` exactly one
/// label below, `**.whatsapp.net` any depth below (never `whatsapp.net`
/// itself); a pattern with `:PORT` matches that port only, one without any
/// port. Case-insensitive.
#[derive(Debug, Clone)]
pub struct PassthroughRules<C> {
    inner: C,
    patterns: Vec<HostPattern>,
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
    pub fn with_patterns<I, S>(inner: C, patterns: I) -> Result<Self, HostPatternError>
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
    pub fn with_pattern(mut self, pattern: &str) -> Result<Self, HostPatternError> {
        self.patterns.push(HostPattern::parse(pattern)?);
        Ok(self)
    }

    /// The patterns, as written.
    pub fn patterns(&self) -> impl Iterator<Item = &str> {
        self.patterns.iter().map(HostPattern::as_str)
    }

    /// The first pattern (as written) matching `host` on `port`.
    pub fn matching_rule(&self, host: &str, port: u16) -> Option<&str> {
        let host = normalize_host(host);
        self.patterns
            .iter()
            .find(|p| p.matches_normalized(&host, port))
            .map(HostPattern::as_str)
    }

    /// The configuration underneath.
    pub fn inner(&self) -> &C {
        &self.inner
    }
}

impl<C: ProxyConfig> ProxyConfig for PassthroughRules<C> {
    fn decide(&self, target: &Target) -> Decision {
        let decision = self.inner.decide(target);
        match self.matching_rule(target.host(), target.port()) {
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
            ("https://web.whatsapp.com:8443", Some("web.whatsapp.com")),
            ("https://mmg.whatsapp.net", Some("**.whatsapp.net")),
            ("https://mmg.fna.whatsapp.net/d/f", Some("**.whatsapp.net")),
            ("https://static.WhatsApp.com", Some("**.whatsapp.com")),
            ("https://whatsapp.net", None),
            ("https://notwhatsapp.net", None),
            ("https://whatsapp.net.evil.com", None),
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
    fn defaults_pass_whatsapp_media_hosts_through_but_not_lookalikes() {
        assert_eq!(
            PassthroughRules::new(via_proxy()).patterns().count(),
            DEFAULT_PASSTHROUGH.len(),
            "every default parses"
        );
        let rules = PassthroughRules::new(via_proxy());
        for host in [
            "mmg.fna.whatsapp.net",
            "web.whatsapp.com",
            "MMG.FNA.WhatsApp.NET.",
        ] {
            assert!(rules.matching_rule(host, 443).is_some(), "{host}");
        }
        for host in ["whatsapp.net.evil.com", "whatsapp.net", "evilwhatsapp.net"] {
            assert_eq!(rules.matching_rule(host, 443), None, "{host}");
        }
    }

    #[test]
    fn patterns_follow_docker_sandboxes_grammar() {
        let rules = PassthroughRules::with_patterns(
            via_proxy(),
            ["*.one.test", "**.any.test", "pinned.test:8443"],
        )
        .unwrap();
        let rule = |host: &str, port: u16| rules.matching_rule(host, port);
        assert_eq!(rule("a.one.test", 443), Some("*.one.test"));
        assert_eq!(rule("a.b.one.test", 443), None, "`*.` is one label only");
        assert_eq!(rule("a.b.any.test", 443), Some("**.any.test"));
        assert_eq!(rule("any.test", 443), None);
        assert_eq!(rule("pinned.test", 8443), Some("pinned.test:8443"));
        assert_eq!(rule("pinned.test", 443), None, "a port narrows the rule");
        let decision = rules.decide(&Target::parse("https://pinned.test:8443/").unwrap());
        assert_eq!(decision.trust, TlsTrust::PublicOnly);
        let decision = rules.decide(&Target::parse("https://pinned.test/").unwrap());
        assert_eq!(decision.trust, TlsTrust::Configured);
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
            "host:0",
        ] {
            let err = PassthroughRules::with_patterns(via_proxy(), [bad]).unwrap_err();
            assert_eq!(err.pattern, bad.trim());
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
