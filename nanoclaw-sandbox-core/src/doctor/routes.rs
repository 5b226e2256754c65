//! `channel-routes`: the host's own calls (the model API, the channels) go
//! through the proxy. In a sandbox a direct connection is refused, so a
//! `NO_PROXY` entry naming one of them silences that channel.

use super::check::Check;
use super::CheckId;
use crate::proxy::{EnvProxyConfig, ProxyConfig, Route, Target};
use crate::sandbox::SandboxEnv;

/// The endpoints an agent host calls: the model API and the channels.
pub const DEFAULT_ROUTE_URLS: &[&str] = &[
    "https://api.anthropic.com/",
    "https://api.telegram.org/",
    "https://discord.com/api/",
    "wss://gateway.discord.gg/",
    "https://slack.com/api/",
    "wss://wss-primary.slack.com/",
    "wss://web.whatsapp.com/ws/chat",
];

/// `channel-routes` for `urls` (the probe URL first, then the defaults).
pub(crate) fn channel_routes(env: Option<&SandboxEnv>, urls: &[String]) -> Check {
    let id = CheckId::ChannelRoutes;
    let Some(settings) = env.and_then(SandboxEnv::proxy) else {
        return Check::skip(id, "no proxy configured: every call goes direct anyway");
    };
    let config = EnvProxyConfig::new(settings.clone());
    let mut direct = Vec::new();
    let mut hosts = Vec::new();
    for url in urls {
        let Ok(target) = Target::parse(url) else {
            continue;
        };
        if hosts.contains(&target.authority()) {
            continue;
        }
        hosts.push(target.authority());
        let decision = config.decide(&target);
        if decision.route == Route::Direct {
            direct.push(format!("{} ({})", target.host(), decision.reason));
        }
    }
    if direct.is_empty() {
        return Check::pass(id, format!("{} go through the proxy", hosts.join(", ")));
    }
    Check::fail(
        id,
        format!(
            "these go direct, which the sandbox refuses (a channel then receives nothing, \
             the model API times out): {}",
            direct.join(", ")
        ),
        "remove those entries from NO_PROXY and no_proxy: in a sandbox only the proxy leads \
         out; keep NO_PROXY to loopback and local names",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doctor::check::Status;
    use crate::proxy::{ProxySettings, ProxyUrl};
    use crate::sandbox::Mode;

    fn env(no_proxy: &str) -> SandboxEnv {
        SandboxEnv::new(Mode::Proxied {
            proxy: ProxySettings {
                https: Some(ProxyUrl::parse("http://127.0.0.1:3128").unwrap()),
                no_proxy: Some(no_proxy.to_string()),
                ..ProxySettings::default()
            },
            ca: None,
        })
    }

    fn urls() -> Vec<String> {
        DEFAULT_ROUTE_URLS.iter().map(|u| u.to_string()).collect()
    }

    #[test]
    fn a_no_proxy_entry_naming_a_channel_fails() {
        let check = channel_routes(Some(&env("localhost,.telegram.org")), &urls());
        assert_eq!(check.status, Status::Fail, "{check}");
        assert!(
            check
                .detail
                .contains("api.telegram.org (NO_PROXY rule `.telegram.org`)"),
            "{check}"
        );
        assert!(!check.detail.contains("anthropic"), "{check}");
    }

    #[test]
    fn loopback_entries_pass_and_no_proxy_skips() {
        let check = channel_routes(Some(&env("localhost,127.0.0.1")), &urls());
        assert_eq!(check.status, Status::Pass, "{check}");
        assert!(check.detail.contains("api.anthropic.com:443"), "{check}");
        let standard = SandboxEnv::new(Mode::StandardDocker);
        assert_eq!(
            channel_routes(Some(&standard), &urls()).status,
            Status::Skip
        );
        assert_eq!(channel_routes(None, &urls()).status, Status::Skip);
    }
}
