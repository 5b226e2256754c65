//! `--inject HOST:HEADER=VALUE`: the sandbox's placeholder-credential swap.
//!
//! The agent holds a placeholder; the proxy sets the real header on
//! intercepted requests to the listed hosts. Values are secrets: they are
//! marked sensitive for hyper, and never reach `Debug`, errors or logs.
//! Injection only happens inside intercepted TLS, never on plain-HTTP
//! requests, so a secret never travels in clear text.

use std::fmt;
use std::str::FromStr;

use http::header::{HeaderMap, HeaderName, HeaderValue};

use super::error::StandinInputError;
use super::target::Target;
use crate::proxy::HostPattern;
use crate::redact::REDACTED;

/// Headers that frame or route the request: injecting them would break the
/// exchange rather than authenticate it.
const FRAMING_HEADERS: &[&str] = &[
    "host",
    "connection",
    "content-length",
    "transfer-encoding",
    "upgrade",
    "te",
    "keep-alive",
    "proxy-connection",
];

/// One header set on intercepted requests to hosts a pattern matches.
#[derive(Clone)]
pub struct HeaderInjection {
    hosts: HostPattern,
    name: HeaderName,
    value: HeaderValue,
}

impl HeaderInjection {
    /// Parses `HOST:HEADER=VALUE`; `HOST` may be a pattern (`*.example.com`,
    /// `api.example.com:8443`), the value may contain `=` and `:`. Pure.
    pub fn parse(text: &str) -> Result<Self, StandinInputError> {
        // Until the entry is split, nobody knows where the value starts: an
        // error shows the leading host only, never the rest.
        let shown = format!("{}:{REDACTED}", leading_host(text.trim()));
        let invalid = |reason: String| StandinInputError::Inject {
            shown: shown.clone(),
            reason,
        };
        let (target, value) = text
            .split_once('=')
            .ok_or_else(|| invalid("there is no `=` before the value".into()))?;
        let (hosts, name) = target.trim().rsplit_once(':').ok_or_else(|| {
            invalid("there is no `:` between the host and the header name".into())
        })?;
        let hosts = HostPattern::parse(hosts).map_err(|_| {
            invalid(
                "the host is not a valid pattern such as `api.example.com` or `*.example.com`"
                    .into(),
            )
        })?;
        Self::new(hosts, name, value)
    }

    /// An injection from its parts.
    pub fn new(hosts: HostPattern, name: &str, value: &str) -> Result<Self, StandinInputError> {
        let name = HeaderName::from_bytes(name.trim().as_bytes()).map_err(|_| {
            StandinInputError::Inject {
                shown: format!("{hosts}:{REDACTED}"),
                reason: "the header name is not a valid HTTP token".into(),
            }
        })?;
        let invalid = |reason: &str| StandinInputError::Inject {
            shown: format!("{hosts}:{name}={REDACTED}"),
            reason: reason.to_string(),
        };
        if FRAMING_HEADERS.contains(&name.as_str()) {
            return Err(invalid(
                "this header frames the request and cannot be injected",
            ));
        }
        if value.is_empty() {
            return Err(invalid("the value is empty"));
        }
        let mut value = HeaderValue::from_str(value)
            .map_err(|_| invalid("the value has characters a header cannot carry"))?;
        // hyper then keeps it out of HPACK tables and its own debug output.
        value.set_sensitive(true);
        Ok(HeaderInjection { hosts, name, value })
    }

    /// The hosts it applies to.
    pub fn hosts(&self) -> &HostPattern {
        &self.hosts
    }

    /// The header it sets.
    pub fn header_name(&self) -> &HeaderName {
        &self.name
    }

    /// Sets the header (replacing the agent's placeholder) when the target matches.
    pub(crate) fn apply(&self, target: &Target, headers: &mut HeaderMap) {
        if self.hosts.matches_normalized(target.host(), target.port()) {
            headers.insert(self.name.clone(), self.value.clone());
        }
    }
}

/// The host an entry starts with (`api.test`, `[::1]`): all of it that is
/// surely not secret.
fn leading_host(text: &str) -> &str {
    let end = match text.strip_prefix('[') {
        Some(rest) => rest.find(']').map_or(0, |close| close + 2),
        None => text.find([':', '=']).unwrap_or(text.len()),
    };
    &text[..end]
}

impl FromStr for HeaderInjection {
    type Err = StandinInputError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        HeaderInjection::parse(s)
    }
}

impl fmt::Debug for HeaderInjection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HeaderInjection")
            .field("hosts", &self.hosts)
            .field("name", &self.name)
            .field("value", &REDACTED)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "sk-live-SECRET=1:2";

    #[test]
    fn parses_host_header_and_a_value_with_separators() {
        let inj = HeaderInjection::parse(&format!("*.api.test:X-Api-Key={SECRET}")).unwrap();
        assert_eq!(inj.hosts().as_str(), "*.api.test");
        assert_eq!(inj.header_name().as_str(), "x-api-key");
        let mut headers = HeaderMap::new();
        headers.insert("x-api-key", HeaderValue::from_static("placeholder"));
        inj.apply(&Target::new("eu.api.test", 443), &mut headers);
        assert_eq!(headers["x-api-key"], SECRET);
        let mut untouched = HeaderMap::new();
        inj.apply(&Target::new("api.test", 443), &mut untouched);
        assert!(untouched.is_empty());
    }

    #[test]
    fn a_host_pattern_may_carry_a_port() {
        let inj = HeaderInjection::parse("api.test:8443:authorization=Bearer x").unwrap();
        let mut headers = HeaderMap::new();
        inj.apply(&Target::new("api.test", 443), &mut headers);
        assert!(headers.is_empty());
        inj.apply(&Target::new("api.test", 8443), &mut headers);
        assert_eq!(headers["authorization"], "Bearer x");
    }

    #[test]
    fn the_value_never_shows() {
        let inj = HeaderInjection::parse(&format!("api.test:x-api-key={SECRET}")).unwrap();
        assert!(!format!("{inj:?}").contains("SECRET"), "{inj:?}");
        for bad in [
            format!("api.test:x-api-key:{SECRET}"),
            format!("api.test:x-api-key {SECRET}"),
            format!("[::1]:x:{SECRET}"),
            format!("api.test={SECRET}"),
            format!("*:x-api-key={SECRET}"),
            format!("api.test:bad header={SECRET}"),
            format!("api.test:host={SECRET}"),
            "api.test:x-api-key=".to_string(),
            "api.test:x-api-key=a\nb".to_string(),
        ] {
            let err = HeaderInjection::parse(&bad).unwrap_err();
            let shown = format!("{err} {err:?}");
            assert!(!shown.contains("SECRET"), "{shown}");
            assert!(
                matches!(err, StandinInputError::Inject { .. }),
                "{bad}: {err:?}"
            );
            assert!(shown.contains("HOST:HEADER=VALUE"), "{shown}");
        }
    }
}
