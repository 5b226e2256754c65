//! Where a request goes: the scheme, host and port a routing decision is about.

use std::fmt;

use crate::redact;

/// Why a URL cannot be routed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TargetError {
    /// Not an absolute URL.
    #[error("`{shown}` is not an absolute URL ({reason}): write it as `https://HOST[:PORT]/PATH`")]
    Unparsable {
        /// The input with credentials redacted.
        shown: String,
        /// The parser's reason.
        reason: String,
    },
    /// A scheme the client cannot speak.
    #[error("`{shown}` has scheme `{scheme}`: only http, https, ws and wss URLs can be routed")]
    UnsupportedScheme {
        /// The input with credentials redacted.
        shown: String,
        /// The scheme.
        scheme: String,
    },
    /// No host to connect to.
    #[error("`{shown}` has no host: write it as `https://HOST[:PORT]/PATH`")]
    MissingHost {
        /// The input with credentials redacted.
        shown: String,
    },
}

/// The schemes a [`Target`] can have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TargetScheme {
    /// Plain HTTP.
    Http,
    /// HTTP over TLS.
    Https,
    /// WebSocket over plain HTTP.
    Ws,
    /// WebSocket over TLS.
    Wss,
}

impl TargetScheme {
    /// The scheme as written in URLs.
    pub fn as_str(self) -> &'static str {
        match self {
            TargetScheme::Http => "http",
            TargetScheme::Https => "https",
            TargetScheme::Ws => "ws",
            TargetScheme::Wss => "wss",
        }
    }

    /// Whether the connection to the target itself is TLS.
    pub fn is_tls(self) -> bool {
        matches!(self, TargetScheme::Https | TargetScheme::Wss)
    }

    /// The HTTP scheme whose proxy variable applies: WebSockets follow
    /// their transport (`wss` uses `HTTPS_PROXY`, `ws` uses `HTTP_PROXY`).
    pub fn proxy_scheme(self) -> TargetScheme {
        if self.is_tls() {
            TargetScheme::Https
        } else {
            TargetScheme::Http
        }
    }

    fn default_port(self) -> u16 {
        if self.is_tls() {
            443
        } else {
            80
        }
    }

    fn parse(scheme: &str) -> Option<Self> {
        match scheme {
            "http" => Some(TargetScheme::Http),
            "https" => Some(TargetScheme::Https),
            "ws" => Some(TargetScheme::Ws),
            "wss" => Some(TargetScheme::Wss),
            _ => None,
        }
    }
}

impl fmt::Display for TargetScheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The origin of a URL: scheme, host and port (defaulted), nothing else.
/// Routing decisions are made on this; paths and credentials play no part.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Target {
    scheme: TargetScheme,
    /// Lower-cased (the URL parser does that), IPv6 without brackets.
    host: String,
    port: u16,
}

impl Target {
    /// Parses an absolute `http`, `https`, `ws` or `wss` URL.
    pub fn parse(url: &str) -> Result<Self, TargetError> {
        let parsed = url::Url::parse(url.trim()).map_err(|e| TargetError::Unparsable {
            shown: redact::redact_userinfo(url),
            reason: e.to_string(),
        })?;
        Self::from_url(&parsed)
    }

    /// The target of an already parsed URL.
    pub fn from_url(url: &url::Url) -> Result<Self, TargetError> {
        let shown = || redact::redact_userinfo(url.as_str());
        let scheme =
            TargetScheme::parse(url.scheme()).ok_or_else(|| TargetError::UnsupportedScheme {
                shown: shown(),
                scheme: url.scheme().to_string(),
            })?;
        let host = match url.host() {
            Some(url::Host::Ipv6(ip)) => ip.to_string(),
            Some(url::Host::Ipv4(ip)) => ip.to_string(),
            Some(url::Host::Domain(d)) if !d.is_empty() => d.to_string(),
            _ => return Err(TargetError::MissingHost { shown: shown() }),
        };
        Ok(Target {
            scheme,
            host,
            port: url.port().unwrap_or_else(|| scheme.default_port()),
        })
    }

    /// The target of a request URI. Only the scheme and authority are read,
    /// so a query holding a token (a Slack Socket Mode ticket, say) never
    /// reaches an error message.
    pub fn from_uri(uri: &http::Uri) -> Result<Self, TargetError> {
        let scheme = uri.scheme_str().unwrap_or_default();
        let authority = uri.authority().map(|a| a.as_str()).unwrap_or_default();
        let origin = format!("{scheme}://{authority}/");
        if scheme.is_empty() || authority.is_empty() {
            return Err(TargetError::Unparsable {
                shown: redact::redact_userinfo(&origin),
                reason: "a request needs an absolute URI with scheme and host".into(),
            });
        }
        Target::parse(&origin)
    }

    /// The scheme.
    pub fn scheme(&self) -> TargetScheme {
        self.scheme
    }

    /// The host: a lower-case name or an IP address (IPv6 without brackets).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port, defaulted from the scheme when the URL has none.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `host:port`, IPv6 in brackets: what a CONNECT request names.
    pub fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}", self.scheme, self.authority())
    }
}

impl std::str::FromStr for Target {
    type Err = TargetError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Target::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_default_from_the_scheme() {
        let cases = [
            ("https://API.Example.com/v1", "https://api.example.com:443"),
            ("http://example.com", "http://example.com:80"),
            (
                "wss://gateway.discord.gg/?v=10",
                "wss://gateway.discord.gg:443",
            ),
            ("ws://h:8080", "ws://h:8080"),
            ("https://[::1]:8443/x", "https://[::1]:8443"),
            ("https://127.0.0.1", "https://127.0.0.1:443"),
        ];
        for (url, shown) in cases {
            assert_eq!(Target::parse(url).unwrap().to_string(), shown, "{url}");
        }
        assert_eq!(Target::parse("https://[::1]:8443").unwrap().host(), "::1");
    }

    #[test]
    fn request_uris_keep_only_their_origin() {
        let uri: http::Uri = "wss://wss-primary.slack.com/link/?ticket=SECRET"
            .parse()
            .unwrap();
        assert_eq!(
            Target::from_uri(&uri).unwrap().to_string(),
            "wss://wss-primary.slack.com:443"
        );
        let relative: http::Uri = "/link/?ticket=SECRET".parse().unwrap();
        let err = Target::from_uri(&relative).unwrap_err().to_string();
        assert!(!err.contains("SECRET"), "{err}");
        let odd: http::Uri = "gopher://h/?ticket=SECRET".parse().unwrap();
        let err = Target::from_uri(&odd).unwrap_err().to_string();
        assert!(err.contains("gopher") && !err.contains("SECRET"), "{err}");
    }

    #[test]
    fn refusals_name_the_input_without_credentials() {
        let err = Target::parse("ftp://user:secret@h/x").unwrap_err();
        assert!(matches!(err, TargetError::UnsupportedScheme { .. }));
        let text = err.to_string();
        assert!(text.contains("ftp") && !text.contains("secret"), "{text}");
        assert!(matches!(
            Target::parse("not a url"),
            Err(TargetError::Unparsable { .. })
        ));
        assert!(matches!(
            Target::parse("unix:/run/x.sock"),
            Err(TargetError::UnsupportedScheme { .. })
        ));
    }
}
