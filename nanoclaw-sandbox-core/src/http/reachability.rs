//! Whether the proxy on a URL's route lets a tunnel through: what the
//! doctor asks before any TLS happens.

use super::client::HttpClient;
use super::dial::Purpose;
use super::error::{HttpError, Phase};
use crate::proxy::{Decision, Target, TargetScheme};

impl HttpClient {
    /// Opens a TCP connection to the proxy on `url`'s usual route and asks
    /// it for a `CONNECT` tunnel to the URL's host and port, then closes it:
    /// no TLS, no request. `Ok` with the route taken when the proxy accepts
    /// (or the route is direct and the TCP connection opened).
    /// [`HttpError::ProxyUnreachable`] (or a connect timeout) when the TCP
    /// connection fails; [`HttpError::ProxyAuthRequired`],
    /// [`HttpError::PolicyDenied`] or [`HttpError::ProxyRefused`] when the
    /// proxy answers the `CONNECT` with a refusal.
    pub async fn check_tunnel(&self, url: &str) -> Result<Decision, HttpError> {
        let target = Target::parse(url)?;
        let decision = self.dialer.config.decide(&target);
        // The same host and port as a plain target: the dialer then stops
        // after the CONNECT instead of starting TLS.
        let bare = match target.scheme() {
            TargetScheme::Http | TargetScheme::Ws => target.clone(),
            TargetScheme::Https | TargetScheme::Wss => {
                Target::parse(&format!("http://{}", target.authority()))?
            }
        };
        let connecting = self.dialer.dial(&bare, &decision, Purpose::Stream);
        tokio::time::timeout(self.dialer.request_limit(), connecting)
            .await
            .map_err(|_| self.dialer.request_timeout(Phase::Request, &target))??;
        Ok(decision)
    }
}
