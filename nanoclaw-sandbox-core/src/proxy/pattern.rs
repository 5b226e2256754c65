//! Host patterns, written as Docker Sandboxes' network policies write them.
//!
//! | pattern | matches |
//! |---|---|
//! | `example.com` | `example.com` only |
//! | `*.example.com` | exactly one more label: `api.example.com`, not `a.b.example.com`, not `example.com` |
//! | `**.example.com` | any depth below: `api.example.com`, `a.b.example.com`, not `example.com` |
//! | `**` | every host |
//! | `10.0.0.1`, `[::1]` | that address |
//! | `10.0.0.0/8`, `::1/128`, `[fd00::/8]` | IP-literal targets in that range (CIDR) |
//! | any of these + `:PORT` | the same, on that port only |
//!
//! Matching ignores case and a trailing dot; wildcards never match IP literals
//! and a CIDR range never matches a name (nothing is resolved: a policy sees
//! the target as the client wrote it).
//!
//! One grammar for the crate: [`PassthroughRules`](super::PassthroughRules)
//! and the stand-in's policy, bypass and header injections all parse here.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

/// Why a host pattern was refused: the pattern as written and what is wrong
/// with it. The message names both and shows the grammar.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "host pattern `{pattern}` is invalid ({reason}): write `example.com`, `*.example.com` \
     (one label), `**.example.com` (any depth), `**` (every host), an IP address or a CIDR \
     range (`10.0.0.0/8`, `[fd00::/8]`), optionally with `:PORT`"
)]
#[non_exhaustive]
pub struct HostPatternError {
    /// The pattern as given (trimmed).
    pub pattern: String,
    /// What is wrong with it.
    pub reason: String,
}

/// A parsed host pattern: `example.com` (itself), `*.example.com` (one more
/// label), `**.example.com` (any depth below), `**` (every host), an IP
/// literal, a CIDR range (`10.0.0.0/8`, `::1/128`), each optionally with
/// `:PORT`. Case and a trailing dot are ignored; wildcards never match IP
/// literals and ranges never match names.
#[derive(Clone, PartialEq, Eq)]
pub struct HostPattern {
    hosts: HostMatch,
    port: Option<u16>,
    text: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum HostMatch {
    Every,
    Name(String),
    Address(IpAddr),
    Range(Cidr),
    OneLabelBelow(String),
    AnyDepthBelow(String),
}

impl HostPattern {
    /// Parses a pattern. Pure; passthrough rules, the CLI's `--allow`,
    /// `--deny`, `--bypass` and the host part of `--inject` all go through here.
    pub fn parse(text: &str) -> Result<Self, HostPatternError> {
        let text = text.trim();
        let invalid = |reason: &str| HostPatternError {
            pattern: text.to_string(),
            reason: reason.to_string(),
        };
        if text.is_empty() {
            return Err(invalid("it is empty"));
        }
        let (host, port) = split_host_port(text).map_err(invalid)?;
        let port = port.map(parse_port).transpose().map_err(invalid)?;
        let host = normalize_host(host);
        let hosts = if host == "**" {
            HostMatch::Every
        } else if host == "*" {
            return Err(invalid("a lone `*` is ambiguous; `**` matches every host"));
        } else if let Some(suffix) = host.strip_prefix("**.") {
            HostMatch::AnyDepthBelow(check_domain(suffix).map_err(invalid)?)
        } else if let Some(suffix) = host.strip_prefix("*.") {
            HostMatch::OneLabelBelow(check_domain(suffix).map_err(invalid)?)
        } else if host.contains('*') {
            return Err(invalid(
                "`*` and `**` may only stand as the whole first label",
            ));
        } else if let Some((address, prefix)) = host.split_once('/') {
            HostMatch::Range(Cidr::parse(address, prefix).map_err(|r| invalid(&r))?)
        } else if let Ok(ip) = host.parse::<IpAddr>() {
            HostMatch::Address(ip)
        } else {
            HostMatch::Name(check_domain(&host).map_err(invalid)?)
        };
        Ok(HostPattern {
            hosts,
            port,
            text: text.to_string(),
        })
    }

    /// Whether the pattern matches this host and port. The host may be in any
    /// case, with IPv6 in brackets or not.
    pub fn matches(&self, host: &str, port: u16) -> bool {
        self.matches_normalized(&normalize_host(host), port)
    }

    /// [`matches`](Self::matches) for a host already in the normal form of
    /// [`normalize_host`].
    pub(crate) fn matches_normalized(&self, host: &str, port: u16) -> bool {
        if self.port.is_some_and(|want| want != port) {
            return false;
        }
        match (&self.hosts, host.parse::<IpAddr>().ok()) {
            (HostMatch::Every, _) => true,
            (HostMatch::Address(want), Some(ip)) => *want == ip,
            (HostMatch::Range(range), Some(ip)) => range.contains(ip),
            (_, Some(_)) | (HostMatch::Address(_) | HostMatch::Range(_), None) => false,
            (HostMatch::Name(name), None) => host == name,
            (HostMatch::OneLabelBelow(suffix), None) => {
                label_prefix(host, suffix).is_some_and(|prefix| !prefix.contains('.'))
            }
            (HostMatch::AnyDepthBelow(suffix), None) => label_prefix(host, suffix).is_some(),
        }
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

/// An address range: the network address and the prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// `ADDRESS/PREFIX`, already split at the `/`. Host bits set in the
    /// address are ignored, as in `ip route`.
    fn parse(address: &str, prefix: &str) -> Result<Self, String> {
        let network: IpAddr = address.parse().map_err(|_| {
            format!("`{address}` before the `/` of a CIDR range is not an IP address")
        })?;
        let max: u8 = if network.is_ipv4() { 32 } else { 128 };
        let family = if network.is_ipv4() { "IPv4" } else { "IPv6" };
        let prefix = prefix
            .bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| prefix.parse::<u8>().ok())
            .flatten()
            .filter(|p| *p <= max)
            .ok_or_else(|| {
                format!(
                    "the prefix length after `/` must be a number from 0 to {max} for an \
                     {family} range, not `{prefix}`"
                )
            })?;
        Ok(Cidr { network, prefix })
    }

    /// Whether `ip` lies in the range. An IPv4-mapped IPv6 address
    /// (`::ffff:10.0.0.1`) also counts as its IPv4 address, so it cannot slip
    /// past an IPv4 range.
    fn contains(&self, ip: IpAddr) -> bool {
        self.contains_exactly(ip) || self.contains_exactly(ip.to_canonical())
    }

    fn contains_exactly(&self, ip: IpAddr) -> bool {
        match (self.network, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// The labels in front of `.suffix` in `host`, when there are any.
fn label_prefix<'h>(host: &'h str, suffix: &str) -> Option<&'h str> {
    host.strip_suffix(suffix)?
        .strip_suffix('.')
        .filter(|prefix| !prefix.is_empty())
}

impl FromStr for HostPattern {
    type Err = HostPatternError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        HostPattern::parse(s)
    }
}

impl fmt::Display for HostPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Debug for HostPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HostPattern({})", self.text)
    }
}

/// The one normal form of a host name: lower case, IPv6 without brackets,
/// without the trailing dot of a fully qualified name.
pub(crate) fn normalize_host(host: &str) -> String {
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    let host = host.strip_suffix('.').unwrap_or(host);
    host.to_ascii_lowercase()
}

/// Splits `host`, `host:port`, `[v6]`, `[v6]:port` or a bare IPv6 address into
/// the host and the port text. `Err` names what is wrong, for the caller's
/// error message.
pub(crate) fn split_host_port(text: &str) -> Result<(&str, Option<&str>), &'static str> {
    if let Some(rest) = text.strip_prefix('[') {
        let (host, after) = rest
            .split_once(']')
            .ok_or("an IPv6 address opened with `[` is not closed with `]`")?;
        return match after {
            "" => Ok((host, None)),
            _ => after
                .strip_prefix(':')
                .map(|port| (host, Some(port)))
                .ok_or("only `:PORT` may follow `]`"),
        };
    }
    if text.matches(':').count() > 1 {
        // A bare IPv6 address: its colons are not a port separator.
        return Ok((text, None));
    }
    Ok(match text.split_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (text, None),
    })
}

/// Parses a port: a number from 1 to 65535.
pub(crate) fn parse_port(text: &str) -> Result<u16, &'static str> {
    match text.parse::<u16>() {
        Ok(0) | Err(_) => Err("the port must be a number from 1 to 65535"),
        Ok(port) => Ok(port),
    }
}

/// Checks a domain name (letters, digits, `-`, `_`; labels of 1 to 63
/// characters) and gives it back.
pub(crate) fn check_domain(name: &str) -> Result<String, &'static str> {
    if name.len() > 253 {
        return Err("a host name is at most 253 characters");
    }
    for label in name.split('.') {
        if label.is_empty() || label.len() > 63 {
            return Err("each dot-separated label must have 1 to 63 characters");
        }
        if !label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err("a host name has only letters, digits, `-` and `_` between its dots");
        }
    }
    Ok(name.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matches(pattern: &str, host: &str, port: u16) -> bool {
        HostPattern::parse(pattern).unwrap().matches(host, port)
    }

    #[test]
    fn wildcard_semantics_table() {
        let table: &[(&str, &str, bool)] = &[
            ("example.com", "example.com", true),
            ("example.com", "EXAMPLE.com.", true),
            ("example.com", "api.example.com", false),
            ("example.com", "badexample.com", false),
            ("*.example.com", "api.example.com", true),
            ("*.example.com", "a.b.example.com", false),
            ("*.example.com", "example.com", false),
            ("*.example.com", "apiexample.com", false),
            ("**.example.com", "api.example.com", true),
            ("**.example.com", "v2.api.example.com", true),
            ("**.example.com", "example.com", false),
            ("**.example.com", "evil-example.com", false),
            ("**", "anything.at.all", true),
            ("**", "127.0.0.1", true),
            ("127.0.0.1", "127.0.0.1", true),
            ("127.0.0.1", "127.0.0.2", false),
            ("[::1]", "::1", true),
            ("::1", "[0:0:0:0:0:0:0:1]", true),
            ("*.0.0.1", "127.0.0.1", false),
            ("**.0.1", "127.0.0.1", false),
        ];
        for (pattern, host, want) in table {
            assert_eq!(matches(pattern, host, 443), *want, "{pattern} vs {host}");
        }
    }

    #[test]
    fn a_port_narrows_the_pattern() {
        assert!(matches("example.com:443", "example.com", 443));
        assert!(!matches("example.com:443", "example.com", 8443));
        assert!(matches("*.example.com:8443", "a.example.com", 8443));
        assert!(matches("[::1]:443", "::1", 443));
        assert!(!matches("[::1]:443", "::1", 80));
    }

    #[test]
    fn bad_patterns_are_named_with_the_fix() {
        for bad in [
            "",
            "*",
            "a.*.com",
            "*example.com",
            "api.**",
            "exa mple.com",
            "a..b",
            "host:0",
            "host:99999",
            "host:x",
            "[::1",
            "*.",
        ] {
            let err = HostPattern::parse(bad).unwrap_err();
            assert!(err.pattern == bad.trim(), "{bad}: {err:?}");
            assert!(err.to_string().contains("`**.example.com`"), "{err}");
        }
    }

    #[test]
    fn cidr_ranges_table() {
        let table: &[(&str, &str, bool)] = &[
            ("10.0.0.0/8", "10.0.0.1", true),
            ("10.0.0.0/8", "10.255.255.255", true),
            ("10.0.0.0/8", "11.0.0.1", false),
            ("10.0.0.0/8", "9.255.255.255", false),
            ("192.168.1.0/24", "192.168.1.77", true),
            ("192.168.1.0/24", "192.168.2.1", false),
            ("192.168.1.5/24", "192.168.1.200", true),
            ("127.0.0.1/32", "127.0.0.1", true),
            ("127.0.0.1/32", "127.0.0.2", false),
            ("0.0.0.0/0", "203.0.113.9", true),
            ("0.0.0.0/0", "::1", false),
            ("10.0.0.0/8", "::ffff:10.1.2.3", true),
            ("::1/128", "::1", true),
            ("::1/128", "[::1]", true),
            ("::1/128", "::2", false),
            ("[fd00::/8]", "fd12:3456::1", true),
            ("fd00::/8", "fe80::1", false),
            ("::/0", "2001:db8::1", true),
            ("::/0", "10.0.0.1", false),
            ("::ffff:0:0/96", "::ffff:10.0.0.1", true),
            // A name never matches a range, whatever it would resolve to.
            ("127.0.0.0/8", "localhost", false),
            ("0.0.0.0/0", "example.com", false),
            ("::/0", "example.com", false),
        ];
        for (pattern, host, want) in table {
            assert_eq!(matches(pattern, host, 443), *want, "{pattern} vs {host}");
        }
        assert!(matches("10.0.0.0/8:443", "10.1.1.1", 443));
        assert!(!matches("10.0.0.0/8:443", "10.1.1.1", 80));
        assert!(matches("[fd00::/8]:443", "fd00::1", 443));
        assert!(!matches("[fd00::/8]:443", "fd00::1", 8443));
    }

    #[test]
    fn bad_cidr_ranges_are_named() {
        for (bad, reason) in [
            ("10.0.0.0/33", "from 0 to 32"),
            ("10.0.0.0/", "from 0 to 32"),
            ("10.0.0.0/-1", "from 0 to 32"),
            ("10.0.0.0/+8", "from 0 to 32"),
            ("10.0.0.0/8/8", "from 0 to 32"),
            ("::1/129", "from 0 to 128"),
            ("::1/x", "from 0 to 128"),
            ("10.0.0/8", "not an IP address"),
            ("300.0.0.0/8", "not an IP address"),
            ("example.com/8", "not an IP address"),
            ("/8", "not an IP address"),
        ] {
            let err = HostPattern::parse(bad).unwrap_err();
            assert!(err.pattern == bad, "{bad}: {err:?}");
            let text = err.to_string();
            assert!(text.contains(reason), "{bad}: {text}");
            assert!(
                text.contains("10.0.0.0/8"),
                "{bad}: the fix names CIDR: {text}"
            );
        }
    }

    #[test]
    fn parsed_patterns_show_as_written() {
        let pattern: HostPattern = " **.Example.com:443 ".parse().unwrap();
        assert_eq!(pattern.to_string(), "**.Example.com:443");
        assert!(pattern.matches("a.example.com", 443));
    }

    #[test]
    fn host_and_port_split_like_urls() {
        assert_eq!(split_host_port("a.test"), Ok(("a.test", None)));
        assert_eq!(split_host_port("a.test:80"), Ok(("a.test", Some("80"))));
        assert_eq!(split_host_port("[::1]:443"), Ok(("::1", Some("443"))));
        assert_eq!(split_host_port("[::1]"), Ok(("::1", None)));
        assert_eq!(split_host_port("::1"), Ok(("::1", None)));
        assert!(split_host_port("[::1").is_err());
        assert!(split_host_port("[::1]x").is_err());
        assert_eq!(parse_port("443"), Ok(443));
        assert!(
            parse_port("0").is_err() && parse_port("70000").is_err() && parse_port("x").is_err()
        );
    }
}
