//! Whether a host's TLS is intercepted: what the doctor asks about
//! passthrough hosts.

use super::client::HttpClient;
use super::dial::Purpose;
use super::error::{HttpError, Phase};
use crate::proxy::{Decision, Target, TlsTrust};

impl HttpClient {
    /// Connects to an `https://` or `wss://` URL's host along its usual
    /// route and checks its certificate against the public roots only,
    /// never the proxy's CA. `Ok` with the route taken when the certificate
    /// is public; [`HttpError::Intercepted`] when a proxy on the route
    /// intercepts the host (configure a bypass for it); other errors as for
    /// any connection. No request is sent.
    pub async fn check_not_intercepted(&self, url: &str) -> Result<Decision, HttpError> {
        let target = Target::parse(url)?;
        if !target.scheme().is_tls() {
            return Err(HttpError::WrongScheme {
                target: target.to_string(),
                method: "HttpClient::check_not_intercepted",
                fix: "give an https:// or wss:// URL: only TLS can be intercepted",
            });
        }
        let decision = Decision {
            trust: TlsTrust::PublicOnly,
            ..self.dialer.config.decide(&target)
        };
        let connecting = self.dialer.dial(&target, &decision, Purpose::Stream);
        tokio::time::timeout(self.dialer.request_limit(), connecting)
            .await
            .map_err(|_| self.dialer.request_timeout(Phase::Request, &target))??;
        Ok(decision)
    }
}
