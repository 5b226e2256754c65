//! [`ProxyConfig`] from the proxy variables' values.

use std::fmt;

use hyper_util::client::proxy::matcher::Matcher;

use super::no_proxy::NoProxyRules;
use super::route::{ChildProxyEnv, Decision, ProxyAuth, ProxyVariable, RouteReason};
use super::{ProxyConfig, ProxySettings, ProxyUrl, ProxyVar, Target, TargetScheme};

/// Routes as the proxy variables say: `NO_PROXY` first, then `HTTPS_PROXY`
/// (https, wss) or `HTTP_PROXY` (http, ws), then `ALL_PROXY`.
///
/// Built from [`ProxySettings`] (the values `SandboxEnv` read once); both the
/// proxy choice and every `NO_PROXY` comparison are hyper-util's
/// `Matcher`, built with its builder from those values, so there is one
/// precedence rule. What the matcher lacks is layered in `no_proxy` and
/// documented in docs/proxy.md.
pub struct EnvProxyConfig {
    settings: ProxySettings,
    no_proxy: NoProxyRules,
    /// Chooses the proxy by scheme; `NO_PROXY` is applied before it, rule by
    /// rule, so that a decision can name its rule.
    proxies: Matcher,
}

impl EnvProxyConfig {
    /// The configuration the given variable values describe.
    pub fn new(settings: ProxySettings) -> Self {
        let value = |url: &Option<ProxyUrl>| url.as_ref().map(ProxyUrl::expose).unwrap_or_default();
        let proxies = Matcher::builder()
            .http(value(&settings.http))
            .https(value(&settings.https))
            .all(value(&settings.all))
            .build();
        let no_proxy = NoProxyRules::parse(settings.no_proxy.as_deref().unwrap_or_default());
        EnvProxyConfig {
            settings,
            no_proxy,
            proxies,
        }
    }

    /// The values this configuration was built from.
    pub fn settings(&self) -> &ProxySettings {
        &self.settings
    }

    fn value_of(&self, variable: ProxyVariable) -> Option<&ProxyUrl> {
        match variable {
            ProxyVariable::Http => self.settings.http.as_ref(),
            ProxyVariable::Https => self.settings.https.as_ref(),
            ProxyVariable::All => self.settings.all.as_ref(),
        }
    }

    /// Which variable the matcher's choice came from: the scheme's own
    /// variable when set, else `ALL_PROXY` (the matcher's precedence; a unit
    /// test keeps the two in step).
    fn variable_for(&self, scheme: TargetScheme) -> ProxyVariable {
        let (specific, variable) = match scheme {
            TargetScheme::Https => (&self.settings.https, ProxyVariable::Https),
            _ => (&self.settings.http, ProxyVariable::Http),
        };
        if specific.is_some() {
            variable
        } else {
            ProxyVariable::All
        }
    }
}

impl ProxyConfig for EnvProxyConfig {
    fn decide(&self, target: &Target) -> Decision {
        if let Some(rule) = self.no_proxy.matching_rule(target.host(), target.port()) {
            return Decision::direct(RouteReason::NoProxyRule {
                rule: rule.to_string(),
            });
        }
        let scheme = target.scheme().proxy_scheme();
        // NO_PROXY is settled above, so only the scheme matters here.
        let probe = match scheme {
            TargetScheme::Https => http::Uri::from_static("https://target.invalid/"),
            _ => http::Uri::from_static("http://target.invalid/"),
        };
        let Some(intercept) = self.proxies.intercept(&probe) else {
            return Decision::direct(RouteReason::NoProxyForScheme(scheme));
        };
        let variable = self.variable_for(scheme);
        // The matcher's URI is the proxy it chose, without userinfo. It only
        // holds URIs it parsed from our validated ProxyUrls, so it parses
        // back; should it not, the variable it came from says the same.
        let proxy = ProxyUrl::parse(&intercept.uri().to_string())
            .ok()
            .or_else(|| self.value_of(variable).map(ProxyUrl::without_credentials));
        match proxy {
            Some(proxy) => Decision::via(
                proxy,
                intercept.basic_auth().cloned().map(ProxyAuth::from_header),
                RouteReason::ProxyVariable(variable),
            ),
            None => Decision::direct(RouteReason::NoProxyForScheme(scheme)),
        }
    }

    fn child_env(&self) -> ChildProxyEnv {
        let mut env = ChildProxyEnv::default();
        let proxies = [
            (ProxyVar::HTTP_PROXY, &self.settings.http),
            (ProxyVar::HTTPS_PROXY, &self.settings.https),
            (ProxyVar::ALL_PROXY, &self.settings.all),
        ];
        for (var, url) in proxies {
            if let Some(url) = url {
                env.push_both_cases(var, &url.expose());
            }
        }
        if let Some(list) = self
            .settings
            .no_proxy
            .as_deref()
            .filter(|l| !l.trim().is_empty())
        {
            env.push_both_cases(ProxyVar::NO_PROXY, list);
        }
        env
    }
}

impl fmt::Debug for EnvProxyConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EnvProxyConfig")
            .field("settings", &self.settings)
            .field("no_proxy", &self.no_proxy)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proxy::Route;

    fn settings(http: &str, https: &str, all: &str, no: &str) -> ProxySettings {
        let url = |s: &str| (!s.is_empty()).then(|| ProxyUrl::parse(s).unwrap());
        ProxySettings {
            http: url(http),
            https: url(https),
            all: url(all),
            no_proxy: (!no.is_empty()).then(|| no.to_string()),
        }
    }

    /// (HTTP_PROXY, HTTPS_PROXY, ALL_PROXY, NO_PROXY, target, expected):
    /// expected is `direct (<reason>)` or `via <proxy> (<reason>)`.
    #[rustfmt::skip]
    const DECISIONS: &[(&str, &str, &str, &str, &str, &str)] = &[
        ("", "", "", "", "https://a.test", "direct (no proxy variable applies to https targets)"),
        ("", "http://s:1", "", "", "https://a.test", "via http://s:1 (HTTPS_PROXY)"),
        ("", "http://s:1", "", "", "http://a.test", "direct (no proxy variable applies to http targets)"),
        ("http://h:2", "", "", "", "http://a.test", "via http://h:2 (HTTP_PROXY)"),
        ("http://h:2", "", "", "", "https://a.test", "direct (no proxy variable applies to https targets)"),
        ("", "", "http://all:3", "", "https://a.test", "via http://all:3 (ALL_PROXY)"),
        ("", "", "http://all:3", "", "http://a.test", "via http://all:3 (ALL_PROXY)"),
        ("http://h:2", "http://s:1", "http://all:3", "", "https://a.test", "via http://s:1 (HTTPS_PROXY)"),
        ("http://h:2", "http://s:1", "http://all:3", "", "http://a.test", "via http://h:2 (HTTP_PROXY)"),
        ("", "", "http://all:3", "", "wss://gw.test", "via http://all:3 (ALL_PROXY)"),
        ("http://h:2", "http://s:1", "", "", "wss://gw.test", "via http://s:1 (HTTPS_PROXY)"),
        ("http://h:2", "http://s:1", "", "", "ws://gw.test", "via http://h:2 (HTTP_PROXY)"),
        ("", "http://s:1", "", ".a.test", "https://x.a.test", "direct (NO_PROXY rule `.a.test`)"),
        ("", "http://s:1", "", "b.test", "https://x.a.test", "via http://s:1 (HTTPS_PROXY)"),
        ("", "http://s:1", "", "a.test:8443", "https://a.test", "via http://s:1 (HTTPS_PROXY)"),
        ("", "http://s:1", "", "a.test:8443", "https://a.test:8443", "direct (NO_PROXY rule `a.test:8443`)"),
        ("", "http://s:1", "", "127.0.0.0/8", "https://127.0.0.1:9", "direct (NO_PROXY rule `127.0.0.0/8`)"),
        ("", "http://s:1", "", "*", "https://10.0.0.1", "direct (NO_PROXY rule `*`)"),
        ("", "http://u:p@s:1", "", "", "https://a.test", "via http://s:1 (HTTPS_PROXY)"),
        ("", "s:1", "", "", "https://a.test", "via http://s:1 (HTTPS_PROXY)"),
    ];

    #[test]
    fn the_decision_table() {
        for &(http, https, all, no, target, expected) in DECISIONS {
            let config = EnvProxyConfig::new(settings(http, https, all, no));
            let decision = config.decide(&Target::parse(target).unwrap());
            assert_eq!(
                decision.to_string(),
                expected,
                "http={http} https={https} all={all} no={no} target={target}"
            );
        }
    }

    #[test]
    fn credentials_become_sensitive_auth_never_shown() {
        let config = EnvProxyConfig::new(settings("", "http://us%3Aer:pa%40ss@s:1", "", ""));
        let decision = config.decide(&Target::parse("https://a.test").unwrap());
        let Route::Via { proxy, auth } = &decision.route else {
            panic!("expected a proxy: {decision}");
        };
        assert!(
            !proxy.has_credentials(),
            "the route's proxy URL carries no userinfo"
        );
        let auth = auth.as_ref().expect("auth from the userinfo");
        // base64("us:er:pa@ss"): the userinfo is percent-decoded
        assert_eq!(auth.header_value(), "Basic dXM6ZXI6cGFAc3M=");
        for shown in [
            format!("{config:?}"),
            format!("{decision:?}"),
            decision.to_string(),
        ] {
            assert!(
                !shown.contains("pa%40ss") && !shown.contains("pa@ss"),
                "{shown}"
            );
            assert!(!shown.contains("dXM6ZXI6cGFAc3M"), "{shown}");
        }
    }

    #[test]
    fn child_env_sets_both_cases_with_credentials_for_the_child() {
        let config = EnvProxyConfig::new(settings(
            "http://h:2",
            "http://u:secret@s:1",
            "",
            "localhost,.internal",
        ));
        let env = config.child_env();
        for name in ["HTTPS_PROXY", "https_proxy"] {
            assert_eq!(env.get(name), Some("http://u:secret@s:1"), "{name}");
        }
        for name in ["HTTP_PROXY", "http_proxy"] {
            assert_eq!(env.get(name), Some("http://h:2"), "{name}");
        }
        for name in ["NO_PROXY", "no_proxy"] {
            assert_eq!(env.get(name), Some("localhost,.internal"), "{name}");
        }
        assert_eq!(env.get("ALL_PROXY"), None);
        assert!(!format!("{env:?}").contains("secret"));
        assert!(EnvProxyConfig::new(ProxySettings::default())
            .child_env()
            .is_empty());
    }
}
