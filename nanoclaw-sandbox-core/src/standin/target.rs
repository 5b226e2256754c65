//! Where a request goes: a host (a name or an IP literal) and a port, as the
//! client asked for it. One normal form, so policy, map and certificates all
//! agree on what "the host" is.

use std::fmt;
use std::net::IpAddr;

use http::Uri;

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
