//! WebSockets over the same route as requests: tunnelled through the
//! proxy, TLS with the same roots (Discord Gateway, Slack Socket Mode,
//! WhatsApp Web).
//!
//! The upgrade is an HTTP/1.1 request sent by hyper, and tungstenite takes
//! over the upgraded connection. Not tungstenite's own handshake: on a
//! refusal it keeps only the body bytes that arrived with the head, so a
//! proxy's policy page sent a moment later would be lost; hyper reads the
//! refusal like any response.

use bytes::Bytes;
use http::header::{
    HeaderValue, CONNECTION, HOST, SEC_WEBSOCKET_ACCEPT, SEC_WEBSOCKET_KEY, SEC_WEBSOCKET_PROTOCOL,
    SEC_WEBSOCKET_VERSION, UPGRADE,
};
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Empty, Limited};
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::handshake::{client::generate_key, derive_accept_key};
use tokio_tungstenite::tungstenite::protocol::Role;
use tokio_tungstenite::WebSocketStream;

use super::client::HttpClient;
use super::dial::{is_policy_page, Purpose};
use super::error::{HttpError, Phase};
use super::stream::ClientStream;
use crate::proxy::{Decision, Target, TargetScheme};

/// An open WebSocket: a `futures` `Stream` + `Sink` of
/// [`tungstenite::Message`](super::tungstenite::Message)s.
pub type WebSocket = WebSocketStream<TokioIo<Upgraded>>;

/// How much of a refused upgrade's body is read.
const REFUSAL_BODY_LIMIT: usize = 8 * 1024;

impl HttpClient {
    /// Opens a WebSocket to a `ws://` or `wss://` URL, or to an
    /// `http::Request<()>` carrying extra headers (`Origin`, authorization,
    /// `Sec-WebSocket-Protocol`); missing upgrade headers are filled in.
    ///
    /// Through a proxy both schemes use a CONNECT tunnel; `wss` then does TLS
    /// (HTTP/1.1 by ALPN) with the same roots as requests. The request
    /// timeout bounds the whole opening. Returns the socket and the `101`
    /// response's head.
    pub async fn websocket<R>(&self, request: R) -> Result<(WebSocket, Response<()>), HttpError>
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
            upgrade(stream, request, &target, &decision).await
        };
        tokio::time::timeout(self.dialer.request_limit(), opening)
            .await
            .map_err(|_| {
                self.dialer
                    .request_timeout(Phase::WebSocketHandshake, &target)
            })?
    }
}

async fn upgrade(
    stream: ClientStream,
    request: Request<()>,
    target: &Target,
    decision: &Decision,
) -> Result<(WebSocket, Response<()>), HttpError> {
    let failed = |status: Option<u16>, reason: String| HttpError::WebSocketHandshake {
        host: target.authority(),
        status,
        reason,
    };
    let (request, key) = upgrade_request(request, target)?;
    let offered_protocols = request.headers().get(SEC_WEBSOCKET_PROTOCOL).cloned();

    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| failed(None, e.to_string()))?;
    // Drives the connection until the upgrade hands it over.
    tokio::spawn(connection.with_upgrades());
    let mut response = sender
        .send_request(request)
        .await
        .map_err(|e| failed(None, e.to_string()))?;

    if response.status() != StatusCode::SWITCHING_PROTOCOLS {
        let status = response.status();
        let body = Limited::new(response.into_body(), REFUSAL_BODY_LIMIT)
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        if let Some(proxy) = decision.proxy() {
            if status == StatusCode::FORBIDDEN && is_policy_page(&body) {
                return Err(HttpError::PolicyDenied {
                    host: target.host().to_string(),
                    proxy: proxy.to_string(),
                });
            }
        }
        return Err(failed(
            Some(status.as_u16()),
            format!("the server answered {status} instead of 101 Switching Protocols"),
        ));
    }

    let headers = response.headers();
    let accepted = headers.get(SEC_WEBSOCKET_ACCEPT).map(HeaderValue::as_bytes);
    if accepted != Some(derive_accept_key(key.as_bytes()).as_bytes()) {
        return Err(failed(
            Some(101),
            "the server's Sec-WebSocket-Accept does not answer our key".into(),
        ));
    }
    if let Some(chosen) = headers.get(SEC_WEBSOCKET_PROTOCOL) {
        let offered = offered_protocols
            .as_ref()
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        let chosen_text = chosen.to_str().unwrap_or_default();
        if !offered.split(',').any(|p| p.trim() == chosen_text) {
            return Err(failed(
                Some(101),
                format!("the server chose subprotocol `{chosen_text}`, which was not offered"),
            ));
        }
    }

    let upgraded = hyper::upgrade::on(&mut response)
        .await
        .map_err(|e| failed(Some(101), e.to_string()))?;
    let socket = WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Client, None).await;
    Ok((socket, response.map(|_| ())))
}

/// The upgrade request in origin-form, with every header the handshake
/// needs (kept when the caller set them), and its key.
fn upgrade_request(
    request: Request<()>,
    target: &Target,
) -> Result<(Request<Empty<Bytes>>, String), HttpError> {
    let (mut parts, ()) = request.into_parts();
    let path = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "/".into());
    parts.uri = path
        .parse()
        .map_err(|e: http::uri::InvalidUri| HttpError::InvalidRequest {
            host: target.authority(),
            reason: e.to_string(),
        })?;
    let host = match target.port() {
        443 | 80 => target.host().to_string(),
        _ => target.authority(),
    };
    let defaults = [
        (HOST, host),
        (CONNECTION, "Upgrade".to_string()),
        (UPGRADE, "websocket".to_string()),
        (SEC_WEBSOCKET_VERSION, "13".to_string()),
        (SEC_WEBSOCKET_KEY, generate_key()),
    ];
    for (name, value) in defaults {
        if !parts.headers.contains_key(&name) {
            let value = HeaderValue::from_str(&value).map_err(|e| HttpError::InvalidRequest {
                host: target.authority(),
                reason: e.to_string(),
            })?;
            parts.headers.insert(name, value);
        }
    }
    let key = parts
        .headers
        .get(SEC_WEBSOCKET_KEY)
        .and_then(|k| k.to_str().ok())
        .unwrap_or_default()
        .to_string();
    Ok((Request::from_parts(parts, Empty::new()), key))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bare_request_gets_the_upgrade_headers_and_origin_form() {
        let target = Target::parse("wss://gw.test:8443/").unwrap();
        let request = Request::get("wss://gw.test:8443/ws?v=10").body(()).unwrap();
        let (request, key) = upgrade_request(request, &target).unwrap();
        assert_eq!(request.uri(), "/ws?v=10");
        let header = |name| {
            request
                .headers()
                .get(name)
                .unwrap()
                .to_str()
                .unwrap()
                .to_string()
        };
        assert_eq!(header(HOST), "gw.test:8443");
        assert_eq!(header(UPGRADE), "websocket");
        assert_eq!(header(SEC_WEBSOCKET_VERSION), "13");
        assert_eq!(header(SEC_WEBSOCKET_KEY), key);
        assert_eq!(key.len(), 24, "16 random bytes, base64");
    }

    #[test]
    fn headers_the_caller_set_are_kept() {
        let target = Target::parse("wss://web.whatsapp.test/").unwrap();
        let request = Request::get("wss://web.whatsapp.test/ws/chat")
            .header("Origin", "https://web.whatsapp.test")
            .header(SEC_WEBSOCKET_KEY, "dGhlIHNhbXBsZSBub25jZQ==")
            .body(())
            .unwrap();
        let (request, key) = upgrade_request(request, &target).unwrap();
        assert_eq!(key, "dGhlIHNhbXBsZSBub25jZQ==");
        assert_eq!(request.headers()["origin"], "https://web.whatsapp.test");
        assert_eq!(request.headers()[HOST], "web.whatsapp.test");
    }
}
