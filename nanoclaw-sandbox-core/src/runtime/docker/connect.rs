//! Reaching the daemon: which endpoint, which API version, which client.
//!
//! A [`Connector`] can make any number of independent clients with the
//! negotiated version. The blocking remover needs that: it runs on a thread
//! with its own small async runtime and must not reuse the caller's client.

use std::time::Duration;

use bollard::{ClientVersion, Docker, API_DEFAULT_VERSION};

use super::errors::{map_error, Ctx};
use crate::redact;
use crate::runtime::RuntimeError;

/// Where the daemon listens when neither the options nor `DOCKER_HOST` say.
pub const DEFAULT_ENDPOINT: &str = "unix:///var/run/docker.sock";

/// The endpoint to use: the configured one, else `DOCKER_HOST`, else the default socket.
pub(super) fn resolve_endpoint(configured: Option<&str>, docker_host: Option<&str>) -> String {
    configured
        .or(docker_host)
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .unwrap_or(DEFAULT_ENDPOINT)
        .to_string()
}

/// Everything needed to make a client for one daemon.
#[derive(Clone)]
pub(super) struct Connector {
    endpoint: String,
    version: ClientVersion,
    request_timeout: Duration,
}

impl std::fmt::Debug for Connector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connector")
            .field("endpoint", &self.endpoint_for_display())
            .field(
                "version",
                &format!(
                    "{}.{}",
                    self.version.major_version, self.version.minor_version
                ),
            )
            .finish()
    }
}

impl Connector {
    /// Connects to `endpoint` and negotiates the API version: bollard speaks a
    /// newer version than e.g. Engine 20.10 (API 1.41), which refuses requests
    /// from a client claiming a version it does not know.
    pub(super) async fn negotiate(
        endpoint: String,
        request_timeout: Duration,
        connect_timeout: Duration,
    ) -> Result<(Self, Docker), RuntimeError> {
        let unnegotiated = Self {
            endpoint,
            version: *API_DEFAULT_VERSION,
            request_timeout,
        };
        let client = unnegotiated.client()?;
        let display = unnegotiated.endpoint_for_display();
        let negotiated = tokio::time::timeout(connect_timeout, client.negotiate_version())
            .await
            .map_err(|_| RuntimeError::DaemonUnreachable {
                endpoint: display.clone(),
                reason: format!("no answer within {connect_timeout:?}"),
            })?
            .map_err(
                |e| match map_error(e, &Ctx::plain("negotiate API version", &display)) {
                    RuntimeError::Transport { message, .. } => RuntimeError::DaemonUnreachable {
                        endpoint: display.clone(),
                        reason: message,
                    },
                    other => other,
                },
            )?;
        let connector = Self {
            version: negotiated.client_version(),
            ..unnegotiated
        };
        Ok((connector, negotiated))
    }

    /// A fresh client with the negotiated version.
    pub(super) fn client(&self) -> Result<Docker, RuntimeError> {
        let timeout = whole_seconds(self.request_timeout);
        let endpoint = self.endpoint.as_str();
        let made = if endpoint.starts_with("unix://") {
            Docker::connect_with_unix(endpoint, timeout, &self.version)
        } else if endpoint.starts_with("tcp://") || endpoint.starts_with("http://") {
            Docker::connect_with_http(endpoint, timeout, &self.version)
        } else {
            return Err(RuntimeError::UnsupportedEndpoint {
                endpoint: self.endpoint_for_display(),
            });
        };
        made.map_err(|e| map_error(e, &Ctx::plain("connect", &self.endpoint_for_display())))
    }

    /// The endpoint, credentials redacted.
    pub(super) fn endpoint_for_display(&self) -> String {
        redact::redact_userinfo(&self.endpoint)
    }

    /// The negotiated API version, e.g. `1.41`.
    pub(super) fn api_version(&self) -> String {
        format!(
            "{}.{}",
            self.version.major_version, self.version.minor_version
        )
    }

    /// The timeout for response headers.
    pub(super) fn request_timeout(&self) -> Duration {
        self.request_timeout
    }
}

/// bollard counts timeouts in whole seconds; round up so a short timeout
/// never becomes "no time at all".
pub(super) fn whole_seconds(duration: Duration) -> u64 {
    duration
        .as_secs()
        .saturating_add(u64::from(duration.subsec_nanos() > 0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_precedence() {
        assert_eq!(resolve_endpoint(None, None), DEFAULT_ENDPOINT);
        assert_eq!(
            resolve_endpoint(None, Some("tcp://1.2.3.4:2375")),
            "tcp://1.2.3.4:2375"
        );
        assert_eq!(
            resolve_endpoint(Some("unix:///x.sock"), Some("tcp://h:1")),
            "unix:///x.sock"
        );
        assert_eq!(resolve_endpoint(None, Some("  ")), DEFAULT_ENDPOINT);
    }

    #[test]
    fn timeouts_round_up() {
        assert_eq!(whole_seconds(Duration::from_millis(1)), 1);
        assert_eq!(whole_seconds(Duration::from_secs(2)), 2);
        assert_eq!(whole_seconds(Duration::from_millis(2001)), 3);
        assert_eq!(whole_seconds(Duration::MAX), u64::MAX);
    }

    #[test]
    fn unsupported_schemes_are_named() {
        let connector = Connector {
            endpoint: "ssh://user:pw@host".into(),
            version: *API_DEFAULT_VERSION,
            request_timeout: Duration::from_secs(1),
        };
        let err = connector.client().unwrap_err();
        let text = err.to_string();
        assert!(
            matches!(err, RuntimeError::UnsupportedEndpoint { .. }),
            "{text}"
        );
        assert!(
            text.contains("ssh://***@host") && !text.contains("pw"),
            "{text}"
        );
    }
}
