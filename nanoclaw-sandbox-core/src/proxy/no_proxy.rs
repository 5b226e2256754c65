//! `NO_PROXY` matching, rule by rule, on hyper-util's matcher.
//!
//! Every host and IP comparison is hyper-util's
//! (`client::proxy::matcher::Matcher`, the curl-like rules reqwest uses).
//! Each entry gets its own matcher so a decision can name the entry that made
//! it. This module adds only what that matcher lacks (see docs/proxy.md):
//!
//! - `*` also covers IP address targets (the matcher applies it to names only);
//! - `*.example.com` is read as `.example.com` (the matcher takes it literally
//!   and never matches);
//! - `host:port` and `[v6]:port` entries apply only to that port (the matcher
//!   takes them as names and never matches);
//! - `[::1]` entries lose their brackets (the matcher wants them bare);
//! - a trailing dot on the target (`example.com.`) is ignored;
//! - entries may be separated by blanks as well as commas (as curl and
//!   Node's proxy-from-env allow).

use std::fmt;

use hyper_util::client::proxy::matcher::Matcher;

/// A proxy address that only exists to ask the matcher whether an entry
/// excludes a host: the matcher answers "intercept" or "don't".
const PROBE_PROXY: &str = "http://probe.invalid:1";

/// The parsed `NO_PROXY` entries.
#[derive(Default)]
pub struct NoProxyRules {
    rules: Vec<Rule>,
}

struct Rule {
    /// As written, for messages.
    written: String,
    /// Only this port, when the entry names one.
    port: Option<u16>,
    pattern: Pattern,
}

enum Pattern {
    /// `*`: every target.
    Everything,
    /// A name, domain, address or CIDR block, matched by hyper-util.
    Hosts(Box<Matcher>),
}

impl NoProxyRules {
    /// Parses a `NO_PROXY` value. Malformed entries (an empty host, a port
    /// that is not a number) are ignored, as curl and Go ignore them.
    pub fn parse(list: &str) -> Self {
        let rules = list
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|entry| !entry.is_empty())
            .filter_map(Rule::parse)
            .collect();
        NoProxyRules { rules }
    }

    /// Whether there are no usable entries.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The first entry (as written) that sends `host:port` direct.
    /// `host` is a name or an IP address, IPv6 with or without brackets.
    pub fn matching_rule(&self, host: &str, port: u16) -> Option<&str> {
        let host = host.strip_suffix('.').unwrap_or(host);
        let probe = probe_uri(host)?;
        self.rules
            .iter()
            .find(|rule| rule.matches(&probe, port))
            .map(|rule| rule.written.as_str())
    }
}

impl Rule {
    fn parse(entry: &str) -> Option<Rule> {
        let written = entry.to_string();
        if entry == "*" {
            return Some(Rule {
                written,
                port: None,
                pattern: Pattern::Everything,
            });
        }
        let (host, port) = split_port(entry)?;
        let host = host
            .strip_prefix('*')
            .filter(|h| h.starts_with('.'))
            .unwrap_or(host);
        let host = host.strip_suffix('.').unwrap_or(host);
        if host.is_empty() || host == "." {
            return None;
        }
        let matcher = Matcher::builder().all(PROBE_PROXY).no(host).build();
        Some(Rule {
            written,
            port,
            pattern: Pattern::Hosts(Box::new(matcher)),
        })
    }

    fn matches(&self, probe: &http::Uri, port: u16) -> bool {
        if self.port.is_some_and(|only| only != port) {
            return false;
        }
        match &self.pattern {
            Pattern::Everything => true,
            Pattern::Hosts(matcher) => matcher.intercept(probe).is_none(),
        }
    }
}

/// Splits `host:port`, `[v6]:port` and `[v6]`; a bare IPv6 address or CIDR
/// block (several colons) has no port. `None` for a malformed port.
fn split_port(entry: &str) -> Option<(&str, Option<u16>)> {
    if let Some(rest) = entry.strip_prefix('[') {
        let (inside, after) = rest.split_once(']')?;
        return match after {
            "" => Some((inside, None)),
            _ => Some((inside, Some(after.strip_prefix(':')?.parse().ok()?))),
        };
    }
    match entry.split_once(':') {
        Some((host, port)) if !port.contains(':') => Some((host, Some(port.parse().ok()?))),
        _ => Some((entry, None)),
    }
}

/// A URI with `host` for asking a matcher; the scheme and path are irrelevant
/// to `NO_PROXY`. `None` for a host no URI can carry (then nothing matches).
fn probe_uri(host: &str) -> Option<http::Uri> {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let authority = if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_string()
    };
    format!("http://{authority}/").parse().ok()
}

impl fmt::Debug for NoProxyRules {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.rules.iter().map(|r| &r.written))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every row of "ours" in docs/proxy.md's NO_PROXY table:
    /// (NO_PROXY, host, port, entry that matches or None for "proxied").
    const TABLE: &[(&str, &str, u16, Option<&str>)] = &[
        // a name matches itself and its subdomains, not look-alikes
        ("example.com", "example.com", 443, Some("example.com")),
        ("example.com", "api.example.com", 443, Some("example.com")),
        ("example.com", "notexample.com", 443, None),
        ("example.com", "example.com.evil.org", 443, None),
        // a leading dot: the same as without (apex and subdomains)
        (".example.com", "example.com", 443, Some(".example.com")),
        (".example.com", "a.b.example.com", 443, Some(".example.com")),
        (".example.com", "notexample.com", 443, None),
        // a leading `*.`: read as a leading dot
        (
            "*.example.com",
            "api.example.com",
            443,
            Some("*.example.com"),
        ),
        ("*.example.com", "example.com", 443, Some("*.example.com")),
        ("*.example.com", "notexample.com", 443, None),
        // `*` alone: everything, names and addresses
        ("*", "anything.test", 443, Some("*")),
        ("*", "10.1.2.3", 80, Some("*")),
        ("*", "::1", 80, Some("*")),
        ("a.test,*", "10.9.8.7", 443, Some("*")),
        // `*` inside a name is no wildcard
        ("ex*.com", "example.com", 443, None),
        // case never matters
        ("Example.COM", "api.example.com", 443, Some("Example.COM")),
        ("example.com", "API.EXAMPLE.COM", 443, Some("example.com")),
        // a trailing dot on either side is ignored
        ("example.com.", "api.example.com", 443, Some("example.com.")),
        ("example.com", "example.com.", 443, Some("example.com")),
        // IPv4: exact and CIDR; names never match addresses
        ("10.1.2.3", "10.1.2.3", 443, Some("10.1.2.3")),
        ("10.1.2.3", "10.1.2.4", 443, None),
        ("10.0.0.0/8", "10.200.0.1", 443, Some("10.0.0.0/8")),
        ("10.0.0.0/8", "11.0.0.1", 443, None),
        ("localhost", "127.0.0.1", 443, None),
        ("127.0.0.1", "localhost", 443, None),
        // loopback is not special: proxied unless listed
        ("other.test", "localhost", 443, None),
        ("other.test", "127.0.0.1", 443, None),
        ("localhost", "localhost", 8080, Some("localhost")),
        // IPv6: bare, bracketed, CIDR, bracketed target host
        ("::1", "::1", 443, Some("::1")),
        ("[::1]", "::1", 443, Some("[::1]")),
        ("::1", "[::1]", 443, Some("::1")),
        ("fd00::/8", "fd12::1", 443, Some("fd00::/8")),
        ("fd00::/8", "fe80::1", 443, None),
        // ports: only that port
        (
            "example.com:8443",
            "example.com",
            8443,
            Some("example.com:8443"),
        ),
        ("example.com:8443", "example.com", 443, None),
        (
            "example.com:8443",
            "api.example.com",
            8443,
            Some("example.com:8443"),
        ),
        ("10.1.2.3:80", "10.1.2.3", 80, Some("10.1.2.3:80")),
        ("10.1.2.3:80", "10.1.2.3", 443, None),
        ("[::1]:8080", "::1", 8080, Some("[::1]:8080")),
        ("[::1]:8080", "::1", 443, None),
        // lists: commas and/or blanks; the first matching entry is named
        ("a.test, b.test", "x.b.test", 443, Some("b.test")),
        ("a.test b.test", "b.test", 443, Some("b.test")),
        ("b.test,.b.test", "x.b.test", 443, Some("b.test")),
        // empty and malformed entries are ignored
        ("", "example.com", 443, None),
        (" , ,", "example.com", 443, None),
        ("example.com:http", "example.com", 80, None),
        ("[::1", "::1", 443, None),
        (":8080", "example.com", 8080, None),
    ];

    #[test]
    fn every_row_of_the_documented_table() {
        for &(list, host, port, expected) in TABLE {
            let rules = NoProxyRules::parse(list);
            assert_eq!(
                rules.matching_rule(host, port),
                expected,
                "NO_PROXY={list:?} host={host} port={port}"
            );
        }
    }

    #[test]
    fn debug_lists_entries_as_written() {
        let rules = NoProxyRules::parse("localhost, .example.com");
        assert_eq!(format!("{rules:?}"), r#"["localhost", ".example.com"]"#);
        assert!(NoProxyRules::parse(" , ").is_empty());
    }
}
