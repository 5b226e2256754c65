//! `--map HOST[:PORT]=IP:PORT`: names resolved to local addresses, so tests
//! and demos never depend on public DNS. Unmapped names resolve normally.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

use super::error::StandinInputError;
use super::target::Target;
use crate::proxy::pattern::{check_domain, normalize_host, parse_port, split_host_port};

/// One map entry: connections to `host` (on `port`, or on any port) go to `to`.
///
/// Only the TCP destination changes: TLS still verifies the upstream's
/// certificate against `host`, and requests keep their `Host`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostMapping {
    host: String,
    port: Option<u16>,
    to: SocketAddr,
}

impl HostMapping {
    /// Parses `HOST[:PORT]=IP:PORT` (IPv6 in brackets on both sides). Pure.
    pub fn parse(text: &str) -> Result<Self, StandinInputError> {
        let text = text.trim();
        let invalid = |reason: &str| StandinInputError::MapEntry {
            input: text.to_string(),
            reason: reason.to_string(),
        };
        let (from, to) = text
            .split_once('=')
            .ok_or_else(|| invalid("there is no `=` between the name and the address"))?;
        let (host, port) = split_host_port(from.trim()).map_err(invalid)?;
        let port = port.map(parse_port).transpose().map_err(invalid)?;
        let host = normalize_host(host);
        if host.parse::<IpAddr>().is_err() {
            check_domain(&host).map_err(invalid)?;
        }
        let to = to.trim().parse::<SocketAddr>().map_err(|_| {
            invalid("the address after `=` must be `IP:PORT` (an IP literal, not a name)")
        })?;
        if to.port() == 0 {
            return Err(invalid(
                "the address after `=` needs a port from 1 to 65535",
            ));
        }
        Ok(HostMapping { host, port, to })
    }

    /// The mapped host (normal form: lower case, IPv6 without brackets).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port the entry is limited to, if any.
    pub fn port(&self) -> Option<u16> {
        self.port
    }

    /// Where connections go.
    pub fn to(&self) -> SocketAddr {
        self.to
    }

    fn names_host_of(&self, target: &Target) -> bool {
        match (self.host.parse::<IpAddr>(), target.ip()) {
            (Ok(want), Some(ip)) => want == ip,
            _ => self.host == target.host(),
        }
    }
}

impl FromStr for HostMapping {
    type Err = StandinInputError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        HostMapping::parse(s)
    }
}

impl fmt::Display for HostMapping {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let host = Target::new(&self.host, self.port.unwrap_or(0)).url_host();
        match self.port {
            Some(port) => write!(f, "{host}:{port}={}", self.to),
            None => write!(f, "{host}={}", self.to),
        }
    }
}

/// Looks targets up in the map entries.
///
/// An entry with a port beats one without; among equals the last one given
/// wins, so a later `--map` overrides an earlier one.
pub(crate) fn lookup(entries: &[HostMapping], target: &Target) -> Option<SocketAddr> {
    let named: Vec<&HostMapping> = entries.iter().filter(|m| m.names_host_of(target)).collect();
    named
        .iter()
        .rev()
        .find(|m| m.port == Some(target.port()))
        .or_else(|| named.iter().rev().find(|m| m.port.is_none()))
        .map(|m| m.to)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(list: &[&str]) -> Vec<HostMapping> {
        list.iter()
            .map(|m| HostMapping::parse(m).unwrap())
            .collect()
    }

    #[test]
    fn entries_parse_with_and_without_port() {
        let m = HostMapping::parse("API.test=127.0.0.1:8443").unwrap();
        assert_eq!(
            (m.host(), m.port(), m.to().to_string().as_str()),
            ("api.test", None, "127.0.0.1:8443")
        );
        let m = HostMapping::parse("api.test:443=127.0.0.1:8443").unwrap();
        assert_eq!(m.port(), Some(443));
        assert_eq!(m.to_string(), "api.test:443=127.0.0.1:8443");
        let m = HostMapping::parse("[::1]:443=[::1]:8443").unwrap();
        assert_eq!((m.host(), m.port()), ("::1", Some(443)));
        assert_eq!(m.to_string(), "[::1]:443=[::1]:8443");
    }

    #[test]
    fn lookup_prefers_the_port_specific_and_the_last_entry() {
        let map = entries(&[
            "api.test=127.0.0.1:1",
            "api.test:8443=127.0.0.1:2",
            "api.test=127.0.0.1:3",
            "[::1]=127.0.0.1:4",
        ]);
        let at = |host, port| lookup(&map, &Target::new(host, port)).map(|a| a.port());
        assert_eq!(at("api.test", 8443), Some(2));
        assert_eq!(at("API.TEST.", 443), Some(3));
        assert_eq!(at("0:0:0:0:0:0:0:1", 443), Some(4));
        assert_eq!(at("other.test", 443), None);
    }

    #[test]
    fn bad_entries_are_named_with_the_fix() {
        for bad in [
            "api.test",
            "api.test=localhost:1",
            "api.test=127.0.0.1",
            "api.test=127.0.0.1:0",
            "*.test=127.0.0.1:1",
            "api.test:0=127.0.0.1:1",
            "=127.0.0.1:1",
            "[::1=127.0.0.1:1",
        ] {
            let err = HostMapping::parse(bad).unwrap_err();
            assert!(
                matches!(&err, StandinInputError::MapEntry { input, .. } if input == bad),
                "{bad}: {err:?}"
            );
            assert!(err.to_string().contains("HOST[:PORT]=IP:PORT"), "{err}");
        }
    }
}
