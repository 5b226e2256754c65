//! Where a request goes: a host (a name or an IP literal) and a port, as the
//! client asked for it. One normal form, so policy, map and certificates all
//! agree on what "the host" is.

use std::fmt;
use std::net::IpAddr;

use http::Uri;

use crate::proxy::pattern::normalize_host;

/// A destination: `CONNECT host:port`, or the authority of an absolute-form
/// `http://host[:port]/` request.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Target {
    host: String,
    port: u16,
}

impl Target {
    /// A target from a host (any case, IPv6 with or without brackets, an
    /// optional trailing dot) and a port.
    pub(crate) fn new(host: &str, port: u16) -> Self {
        Target {
            host: normalize_host(host),
            port,
        }
    }

    /// The authority of a CONNECT request (`host:port`; the port is required,
    /// as RFC 9110 says) or of an absolute-form URL (the port defaults by
    /// scheme). `None` when the URI names no host or no usable port.
    pub(crate) fn from_uri(uri: &Uri) -> Option<Self> {
        let host = uri.host().filter(|h| !h.is_empty())?;
        let port = match (uri.port_u16(), uri.scheme_str()) {
            (Some(port), _) => port,
            (None, Some("http")) => 80,
            (None, Some("https")) => 443,
            (None, _) => return None,
        };
        (port != 0).then(|| Target::new(host, port))
    }

    /// The host: lower case, IPv6 without brackets, no trailing dot.
    pub(crate) fn host(&self) -> &str {
        &self.host
    }

    /// The port.
    pub(crate) fn port(&self) -> u16 {
        self.port
    }

    /// The host as an IP address, when it is an IP literal.
    pub(crate) fn ip(&self) -> Option<IpAddr> {
        self.host.parse().ok()
    }

    /// The host as it goes into a URL authority (IPv6 in brackets).
    pub(crate) fn url_host(&self) -> String {
        match self.ip() {
            Some(IpAddr::V6(ip)) => format!("[{ip}]"),
            _ => self.host.clone(),
        }
    }
}

impl fmt::Display for Target {
    /// `host:port`, IPv6 in brackets: the form the policy's 403 page names.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.url_host(), self.port)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_have_one_normal_form() {
        assert_eq!(
            Target::new("API.Example.COM.", 443).host(),
            "api.example.com"
        );
        assert_eq!(Target::new("[::1]", 443).host(), "::1");
        assert_eq!(Target::new("[::1]", 443).to_string(), "[::1]:443");
        assert_eq!(Target::new("10.0.0.1", 80).to_string(), "10.0.0.1:80");
    }

    #[test]
    fn targets_come_from_connect_and_absolute_uris() {
        let connect: Uri = "api.test:8443".parse().unwrap();
        assert_eq!(
            Target::from_uri(&connect),
            Some(Target::new("api.test", 8443))
        );
        let absolute: Uri = "http://plain.test/x".parse().unwrap();
        assert_eq!(
            Target::from_uri(&absolute),
            Some(Target::new("plain.test", 80))
        );
        let v6: Uri = "[::1]:443".parse().unwrap();
        assert_eq!(Target::from_uri(&v6), Some(Target::new("::1", 443)));
        let origin: Uri = "/path".parse().unwrap();
        assert_eq!(Target::from_uri(&origin), None);
        let no_port: Uri = "ftp://h/".parse().unwrap();
        assert_eq!(Target::from_uri(&no_port), None);
    }
}
