//! The network policy: which hosts are denied, tunnelled untouched, or
//! intercepted.
//!
//! Deny wins over allow (as in Docker Sandboxes); a host no pattern names
//! follows the default. Bypass only applies to hosts the policy lets through:
//! a bypass pattern never opens a denied host.

use std::fmt;
use std::str::FromStr;

use super::error::StandinInputError;
use super::target::Target;
use crate::proxy::HostPattern;

/// What happens to hosts no `allow`/`deny` pattern names.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum DefaultPolicy {
    /// Let them through (the stand-in's default, like an open sandbox policy).
    #[default]
    Allow,
    /// Block them (a locked-down sandbox).
    Deny,
}

impl FromStr for DefaultPolicy {
    type Err = StandinInputError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "allow" => Ok(DefaultPolicy::Allow),
            "deny" => Ok(DefaultPolicy::Deny),
            _ => Err(StandinInputError::DefaultPolicy {
                input: s.to_string(),
            }),
        }
    }
}

impl fmt::Display for DefaultPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DefaultPolicy::Allow => "allow",
            DefaultPolicy::Deny => "deny",
        })
    }
}

/// What the stand-in does with a connection to a host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Terminate TLS with a leaf from the stand-in's CA and forward each request.
    Intercept,
    /// Tunnel the bytes untouched: the client sees the upstream's own certificate.
    Bypass,
    /// Answer 403 `Blocked by network policy: domain HOST:PORT`.
    Deny,
}

impl Decision {
    /// `intercept`, `bypass` or `deny`: the access log's word for it.
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Intercept => "intercept",
            Decision::Bypass => "bypass",
            Decision::Deny => "deny",
        }
    }
}

impl fmt::Display for Decision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Allow, deny and bypass patterns with a default.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Policy {
    allow: Vec<HostPattern>,
    deny: Vec<HostPattern>,
    bypass: Vec<HostPattern>,
    default: DefaultPolicy,
}

impl Policy {
    /// Decides for a host and port (any case; IPv6 with or without brackets).
    pub fn decide(&self, host: &str, port: u16) -> Decision {
        self.decide_target(&Target::new(host, port))
    }

    pub(crate) fn decide_target(&self, target: &Target) -> Decision {
        let named_by = |patterns: &[HostPattern]| {
            patterns
                .iter()
                .any(|p| p.matches_normalized(target.host(), target.port()))
        };
        let allowed = !named_by(&self.deny)
            && (named_by(&self.allow) || self.default == DefaultPolicy::Allow);
        if !allowed {
            Decision::Deny
        } else if named_by(&self.bypass) {
            Decision::Bypass
        } else {
            Decision::Intercept
        }
    }

    /// The default for hosts no allow/deny pattern names.
    pub fn default_policy(&self) -> DefaultPolicy {
        self.default
    }

    pub(crate) fn set_default(&mut self, default: DefaultPolicy) {
        self.default = default;
    }

    pub(crate) fn add_allow(&mut self, patterns: impl IntoIterator<Item = HostPattern>) {
        self.allow.extend(patterns);
    }

    pub(crate) fn add_deny(&mut self, patterns: impl IntoIterator<Item = HostPattern>) {
        self.deny.extend(patterns);
    }

    pub(crate) fn add_bypass(&mut self, patterns: impl IntoIterator<Item = HostPattern>) {
        self.bypass.extend(patterns);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn patterns(list: &[&str]) -> Vec<HostPattern> {
        list.iter()
            .map(|p| HostPattern::parse(p).unwrap())
            .collect()
    }

    fn policy(default: DefaultPolicy, allow: &[&str], deny: &[&str], bypass: &[&str]) -> Policy {
        let mut policy = Policy::default();
        policy.set_default(default);
        policy.add_allow(patterns(allow));
        policy.add_deny(patterns(deny));
        policy.add_bypass(patterns(bypass));
        policy
    }

    #[test]
    fn default_allow_intercepts_everything_not_denied() {
        let p = policy(DefaultPolicy::Allow, &[], &["**.evil.test"], &[]);
        assert_eq!(p.decide("api.test", 443), Decision::Intercept);
        assert_eq!(p.decide("x.evil.test", 443), Decision::Deny);
        assert_eq!(p.decide("evil.test", 443), Decision::Intercept);
    }

    #[test]
    fn default_deny_lets_only_the_allow_list_through() {
        let p = policy(DefaultPolicy::Deny, &["api.test", "*.cdn.test"], &[], &[]);
        assert_eq!(p.decide("api.test", 443), Decision::Intercept);
        assert_eq!(p.decide("a.cdn.test", 443), Decision::Intercept);
        assert_eq!(p.decide("a.b.cdn.test", 443), Decision::Deny);
        assert_eq!(p.decide("other.test", 443), Decision::Deny);
    }

    #[test]
    fn deny_wins_over_allow_and_bypass() {
        let p = policy(DefaultPolicy::Deny, &["**.test"], &["secret.test"], &["**"]);
        assert_eq!(p.decide("secret.test", 443), Decision::Deny);
        assert_eq!(p.decide("open.test", 443), Decision::Bypass);
    }

    #[test]
    fn bypass_applies_to_allowed_hosts_only() {
        let p = policy(
            DefaultPolicy::Deny,
            &["wa.test"],
            &[],
            &["wa.test", "other.test"],
        );
        assert_eq!(p.decide("wa.test", 443), Decision::Bypass);
        assert_eq!(p.decide("other.test", 443), Decision::Deny);
    }

    #[test]
    fn default_policy_parses_both_words_only() {
        assert_eq!("allow".parse::<DefaultPolicy>(), Ok(DefaultPolicy::Allow));
        assert_eq!(" DENY ".parse::<DefaultPolicy>(), Ok(DefaultPolicy::Deny));
        let err = "block".parse::<DefaultPolicy>().unwrap_err();
        assert!(err.to_string().contains("`block`") && err.to_string().contains("`deny`"));
    }
}
