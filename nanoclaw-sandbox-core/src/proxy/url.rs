//! A proxy URL with its credentials kept out of sight.

use std::fmt;

use percent_encoding::percent_decode_str;

use crate::redact;

/// Why a proxy URL was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProxyUrlError {
    /// Not a URL at all.
    #[error("proxy URL `{shown}` cannot be parsed ({reason}): use `http://HOST:PORT`")]
    Unparsable {
        /// The input with credentials redacted.
        shown: String,
        /// The parser's reason.
        reason: String,
    },
    /// A scheme we cannot speak to a proxy.
    #[error("proxy URL `{shown}` has scheme `{scheme}`: only `http://` (and `https://`) proxies are supported")]
    UnsupportedScheme {
        /// The input with credentials redacted.
        shown: String,
        /// The scheme.
        scheme: String,
    },
    /// No host.
    #[error("proxy URL `{shown}` has no host: use `http://HOST:PORT`")]
    MissingHost {
        /// The input with credentials redacted.
        shown: String,
    },
    /// An `@` after the host part: a user name or password holding a `/`,
    /// `?` or `#` (which end the host part), written unencoded. Left alone,
    /// part of the password would be taken for the host and port.
    #[error(
        "proxy URL `{shown}`: its user name or password holds a reserved character (`/`, `?`, \
         `#`, `@` or `:`): percent-encode it (`/` as `%2F`, `?` as `%3F`, `#` as `%23`, `@` as \
         `%40`, `:` as `%3A`)"
    )]
    ReservedInUserinfo {
        /// The input with everything before its last `@` redacted.
        shown: String,
    },
}

/// A validated `http://` or `https://` proxy address.
///
/// The user name of a credential relay's proxy URLs (`http://nanoclaw-relay:TOKEN@…`):
/// the password is the relay's own token, valid at that relay only, never a
/// proxy's credentials. Containers get such URLs instead of the proxy's.
pub const RELAY_USER: &str = "nanoclaw-relay";

/// `Debug` and `Display` show it with any user name and password replaced by
/// `***`; [`ProxyUrl::expose`] gives the full URL for handing to a child process.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ProxyUrl {
    url: url::Url,
}

impl ProxyUrl {
    /// Parses a proxy URL. A bare `host:port` is taken as `http://host:port`,
    /// as curl and most tools do.
    pub fn parse(text: &str) -> Result<Self, ProxyUrlError> {
        let text = text.trim();
        let with_scheme = if text.contains("://") {
            text.to_string()
        } else {
            format!("http://{text}")
        };
        let shown = || redact::redact_userinfo(&with_scheme);
        let url = match url::Url::parse(&with_scheme) {
            Ok(url) => url,
            // `http://user:p@ss:w/rd@host`: the `/` ended the host part, and
            // a piece of the password was taken for host:port.
            Err(_) if misplaced_at(&with_scheme) => {
                return Err(ProxyUrlError::ReservedInUserinfo {
                    shown: redacted_to_last_at(&with_scheme),
                })
            }
            Err(e) => {
                return Err(ProxyUrlError::Unparsable {
                    shown: shown(),
                    reason: e.to_string(),
                })
            }
        };
        // `http://u:12/x@host`: parsed, with host `u` and port 12. A proxy
        // URL has no use for a path, query or fragment, least of all one
        // holding an `@`.
        let after_host = [
            url.path(),
            url.query().unwrap_or(""),
            url.fragment().unwrap_or(""),
        ];
        if after_host.iter().any(|part| part.contains('@')) {
            return Err(ProxyUrlError::ReservedInUserinfo {
                shown: redacted_to_last_at(&with_scheme),
            });
        }
        if !matches!(url.scheme(), "http" | "https") {
            return Err(ProxyUrlError::UnsupportedScheme {
                shown: shown(),
                scheme: url.scheme().to_string(),
            });
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(ProxyUrlError::MissingHost { shown: shown() });
        }
        Ok(ProxyUrl { url })
    }

    /// `http` or `https`.
    pub fn scheme(&self) -> &str {
        self.url.scheme()
    }

    /// The host as written (IPv6 without brackets).
    pub fn host(&self) -> &str {
        let host = self.url.host_str().unwrap_or_default();
        host.trim_start_matches('[').trim_end_matches(']')
    }

    /// The port, defaulting to 80 (http) or 443 (https).
    pub fn port(&self) -> u16 {
        self.url.port_or_known_default().unwrap_or(80)
    }

    /// `host:port`, IPv6 in brackets: what to connect to.
    pub fn authority(&self) -> String {
        match self.url.host() {
            Some(url::Host::Ipv6(ip)) => format!("[{ip}]:{}", self.port()),
            _ => format!("{}:{}", self.host(), self.port()),
        }
    }

    /// Whether the host is a loopback name or address.
    pub fn is_loopback(&self) -> bool {
        match self.url.host() {
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
            None => false,
        }
    }

    /// The percent-decoded user name and password, when the URL carries them.
    pub fn credentials(&self) -> Option<(String, String)> {
        if self.url.username().is_empty() && self.url.password().is_none() {
            return None;
        }
        let decode = |s: &str| percent_decode_str(s).decode_utf8_lossy().into_owned();
        Some((
            decode(self.url.username()),
            decode(self.url.password().unwrap_or_default()),
        ))
    }

    /// Whether the URL carries a user name or password.
    pub fn has_credentials(&self) -> bool {
        self.credentials().is_some()
    }

    /// Whether the URL's credentials are a credential relay's token
    /// ([`RELAY_USER`]), not a proxy's own user name and password.
    pub fn has_relay_token(&self) -> bool {
        self.credentials()
            .is_some_and(|(user, _)| user == RELAY_USER)
    }

    /// The same proxy at another host (keeps scheme, port and credentials).
    pub fn with_host(&self, host: &str) -> Result<Self, ProxyUrlError> {
        let mut url = self.url.clone();
        url.set_host(Some(host))
            .map_err(|e| ProxyUrlError::Unparsable {
                shown: host.to_string(),
                reason: e.to_string(),
            })?;
        Ok(ProxyUrl { url })
    }

    /// The same proxy without user name and password: for routes and
    /// messages, where the credentials travel separately (if at all).
    pub fn without_credentials(&self) -> Self {
        let mut url = self.url.clone();
        // Both setters only fail for URLs that cannot have userinfo, which a
        // validated http(s) URL with a host always can.
        let _ = url.set_username("");
        let _ = url.set_password(None);
        ProxyUrl { url }
    }

    /// The full URL, credentials included, without a trailing slash:
    /// for a child process's environment. Never log it.
    pub fn expose(&self) -> String {
        self.url.as_str().trim_end_matches('/').to_string()
    }

    /// The URL with credentials redacted, for messages.
    pub fn redacted(&self) -> String {
        redact::redact_userinfo(&self.expose())
    }
}

impl fmt::Display for ProxyUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

/// Whether `text` (with a scheme) has an `@` after its host part ends (at
/// the first `/`, `?` or `#` after `://`): a user name or password with an
/// unencoded reserved character.
fn misplaced_at(text: &str) -> bool {
    let Some(scheme_end) = text.find("://") else {
        return false;
    };
    let after = &text[scheme_end + 3..];
    let authority_len = after.find(['/', '?', '#']).unwrap_or(after.len());
    after.rfind('@').is_some_and(|at| at > authority_len)
}

/// `text` with everything from its first `://` to its last `@` redacted, so
/// that no piece of a user name or password shows, however it was written.
fn redacted_to_last_at(text: &str) -> String {
    match (text.find("://"), text.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            format!(
                "{}{}{}",
                &text[..scheme_end + 3],
                redact::REDACTED,
                &text[at..]
            )
        }
        _ => redact::redact_userinfo(text),
    }
}

impl fmt::Debug for ProxyUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ProxyUrl({})", self.redacted())
    }
}

impl std::str::FromStr for ProxyUrl {
    type Err = ProxyUrlError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ProxyUrl::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_defaults() {
        let p = ProxyUrl::parse("host.docker.internal:3128").unwrap();
        assert_eq!(p.scheme(), "http");
        assert_eq!(p.authority(), "host.docker.internal:3128");
        assert_eq!(p.expose(), "http://host.docker.internal:3128");
        assert_eq!(ProxyUrl::parse("http://p").unwrap().port(), 80);
        assert_eq!(
            ProxyUrl::parse("http://[::1]:3128").unwrap().authority(),
            "[::1]:3128"
        );
        assert!(ProxyUrl::parse("http://[::1]:3128").unwrap().is_loopback());
        assert!(ProxyUrl::parse("http://LOCALHOST:1").unwrap().is_loopback());
        assert!(!ProxyUrl::parse("http://gateway.docker.internal:3128")
            .unwrap()
            .is_loopback());
    }

    #[test]
    fn credentials_are_decoded_but_never_shown() {
        let p = ProxyUrl::parse("http://us%40er:p%3Ass@proxy:3128").unwrap();
        assert_eq!(p.credentials(), Some(("us@er".into(), "p:ss".into())));
        for shown in [format!("{p}"), format!("{p:?}"), p.redacted()] {
            assert!(
                !shown.contains("p%3Ass") && !shown.contains("us%40er"),
                "{shown}"
            );
            assert!(shown.contains("proxy:3128"), "{shown}");
        }
        assert_eq!(p.expose(), "http://us%40er:p%3Ass@proxy:3128");
        assert_eq!(p.without_credentials().expose(), "http://proxy:3128");
        assert!(!p.without_credentials().has_credentials());
    }

    #[test]
    fn bad_input_is_named_without_secrets() {
        let err = ProxyUrl::parse("socks5://u:secret@h:1").unwrap_err();
        assert!(matches!(err, ProxyUrlError::UnsupportedScheme { .. }));
        assert!(!err.to_string().contains("secret"));
        assert!(err.to_string().contains("socks5"));
        assert!(ProxyUrl::parse("http://:3128").is_err());
    }

    #[test]
    fn with_host_keeps_the_rest() {
        let p = ProxyUrl::parse("http://u:p@127.0.0.1:3128").unwrap();
        let moved = p.with_host("host.docker.internal").unwrap();
        assert_eq!(moved.expose(), "http://u:p@host.docker.internal:3128");
    }
}
