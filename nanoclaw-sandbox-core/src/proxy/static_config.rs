//! [`ProxyConfig`] with one fixed answer, whatever the environment says.

use super::route::{ChildProxyEnv, Decision, ProxyAuth, RouteReason};
use super::{ProxyConfig, ProxyUrl, ProxyVar, Target};

/// Every target direct, or every target through one proxy: for hosts that
/// configure the proxy explicitly rather than through variables, and for
/// tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaticProxyConfig {
    proxy: Option<ProxyUrl>,
}

impl StaticProxyConfig {
    /// Every target direct.
    pub fn direct() -> Self {
        StaticProxyConfig { proxy: None }
    }

    /// Every target through `proxy` (its userinfo becomes Basic auth).
    pub fn via(proxy: ProxyUrl) -> Self {
        StaticProxyConfig { proxy: Some(proxy) }
    }
}

impl ProxyConfig for StaticProxyConfig {
    fn decide(&self, _target: &Target) -> Decision {
        match &self.proxy {
            None => Decision::direct(RouteReason::Static),
            Some(proxy) => Decision::via(
                proxy.without_credentials(),
                ProxyAuth::from_proxy_url(proxy),
                RouteReason::Static,
            ),
        }
    }

    /// `HTTP_PROXY` and `HTTPS_PROXY` (both cases) naming the proxy, or
    /// nothing for a direct configuration.
    fn child_env(&self) -> ChildProxyEnv {
        let mut env = ChildProxyEnv::default();
        if let Some(proxy) = &self.proxy {
            env.push_both_cases(ProxyVar::HTTP_PROXY, &proxy.expose());
            env.push_both_cases(ProxyVar::HTTPS_PROXY, &proxy.expose());
        }
        env
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proxy::Route;

    #[test]
    fn one_answer_for_every_target() {
        let via = StaticProxyConfig::via(ProxyUrl::parse("http://u:pw@p:3128").unwrap());
        for target in ["https://a.test", "http://10.0.0.1", "wss://gw.test"] {
            let decision = via.decide(&Target::parse(target).unwrap());
            assert_eq!(
                decision.to_string(),
                "via http://p:3128 (static configuration)"
            );
            assert!(matches!(decision.route, Route::Via { auth: Some(_), .. }));
            let direct = StaticProxyConfig::direct().decide(&Target::parse(target).unwrap());
            assert_eq!(direct.to_string(), "direct (static configuration)");
        }
        assert_eq!(
            via.child_env().get("http_proxy"),
            Some("http://u:pw@p:3128")
        );
        assert!(StaticProxyConfig::direct().child_env().is_empty());
        assert!(!format!("{via:?}").contains("pw"));
    }
}
