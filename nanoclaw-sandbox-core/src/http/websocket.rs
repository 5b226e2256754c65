//! WebSockets over the same route as requests: tunnelled through the
//! proxy, TLS with the same roots (Discord Gateway, Slack Socket Mode,
//! WhatsApp Web).

use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::handshake::client::Response;
use tokio_tungstenite::{client_async, tungstenite, WebSocketStream};

use super::client::HttpClient;
use super::dial::{is_policy_page, Purpose};
use super::error::{HttpError, Phase};
use super::stream::ClientStream;
use crate::proxy::{Decision, Target, TargetScheme};

/// An open WebSocket: a `futures` `Stream` + `Sink` of
/// [`tungstenite::Message`]s.
pub type WebSocket = WebSocketStream<ClientStream>;

impl HttpClient {
    /// Opens a WebSocket to a `ws://` or `wss://` URL, or to an
    /// `http::Request<()>` carrying extra headers (`Origin`, authorization).
    ///
    /// Through a proxy both schemes use a CONNECT tunnel; `wss` then does TLS
    /// (HTTP/1.1 by ALPN) with the same roots as requests. The request
    /// timeout bounds the whole opening.
    pub async fn websocket<R>(&self, request: R) -> Result<(WebSocket, Response), HttpError>
    where
        R: IntoClientRequest + Unpin,
    {
        let request = request
            .into_client_request()
            .map_err(|e| HttpError::InvalidRequest {
                host: "the WebSocket URL".into(),
                reason: e.to_string(),
            })?;
        let target = Target::from_uri(request.uri())?;
        if !matches!(target.scheme(), TargetScheme::Ws | TargetScheme::Wss) {
            return Err(HttpError::WrongScheme {
                target: target.to_string(),
                method: "HttpClient::websocket",
                fix: "use a ws:// or wss:// URL (HttpClient::send is for http and https)",
            });
        }
        let decision = self.dialer.config.decide(&target);
        let opening = async {
            let stream = self
                .dialer
                .dial(&target, &decision, Purpose::Stream)
                .await?;
            client_async(request, stream)
                .await
                .map_err(|e| handshake_error(e, &target, &decision))
        };
        tokio::time::timeout(self.dialer.request_limit(), opening)
            .await
            .map_err(|_| {
                self.dialer
                    .request_timeout(Phase::WebSocketHandshake, &target)
            })?
    }
}

/// A refused upgrade through a proxy may be its policy page.
fn handshake_error(e: tungstenite::Error, target: &Target, decision: &Decision) -> HttpError {
    let host = target.authority();
    match e {
        tungstenite::Error::Http(response) => {
            let body = response.body().as_deref().unwrap_or_default();
            if let Some(proxy) = decision.proxy() {
                if response.status() == http::StatusCode::FORBIDDEN && is_policy_page(body) {
                    return HttpError::PolicyDenied {
                        host: target.host().to_string(),
                        proxy: proxy.to_string(),
                    };
                }
            }
            HttpError::WebSocketHandshake {
                host,
                status: Some(response.status().as_u16()),
                reason: format!("the server answered {}", response.status()),
            }
        }
        other => HttpError::WebSocketHandshake {
            host,
            status: None,
            reason: other.to_string(),
        },
    }
}
