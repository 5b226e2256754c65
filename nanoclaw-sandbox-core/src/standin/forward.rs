//! Forwarding one HTTP request to its upstream, and the stand-in's own
//! answers (403 for the policy, 502 when the upstream cannot be reached or
//! verified, 400 for requests a proxy cannot serve).

use std::error::Error as StdError;

use bytes::Bytes;
use http::header::{HeaderMap, HeaderName, HeaderValue, CONNECTION, CONTENT_TYPE, TE, UPGRADE};
use http::uri::Scheme;
use http::{Request, Response, StatusCode, Uri, Version};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;

use super::target::Target;
use super::upstream::Upstream;
use crate::handover::{splice, Handover};
use crate::proxy::POLICY_PAGE_MARKER;

/// The body of every response the stand-in sends.
pub(crate) type ProxyBody = BoxBody<Bytes, hyper::Error>;

/// Headers that describe one hop, not the message (RFC 9110 §7.6.1), plus
/// the proxy's own credentials, which must never reach the upstream.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "proxy-connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "transfer-encoding",
    "upgrade",
];

/// The 403 Docker Sandboxes answers for a blocked host, body byte for byte:
/// `Blocked by network policy: domain HOST:PORT`.
pub(crate) fn blocked_response(target: &Target) -> Response<ProxyBody> {
    text_response(
        StatusCode::FORBIDDEN,
        format!("{POLICY_PAGE_MARKER}: domain {target}"),
    )
}

/// A plain-text answer from the stand-in itself.
pub(crate) fn text_response(status: StatusCode, text: String) -> Response<ProxyBody> {
    let mut response = Response::new(Full::new(Bytes::from(text)).map_err(never).boxed());
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// An empty `200`: the answer to a CONNECT the stand-in accepts.
pub(crate) fn connect_established() -> Response<ProxyBody> {
    Response::new(Empty::new().map_err(never).boxed())
}

/// A 502 naming the upstream and the whole error chain (the TLS reason
/// included), so that a refused certificate is never mistaken for a bug.
pub(crate) fn bad_gateway(
    target: &Target,
    error: &(dyn StdError + 'static),
) -> Response<ProxyBody> {
    let reason = error_chain(error);
    tracing::warn!(%target, %reason, "upstream request failed");
    text_response(
        StatusCode::BAD_GATEWAY,
        format!("Bad gateway: the stand-in proxy could not reach {target}: {reason}"),
    )
}

fn never(never: std::convert::Infallible) -> hyper::Error {
    match never {}
}

/// Forwards a request to `target` over `scheme`, the connection chosen by
/// the stand-in (never by the request's `Host`, so a client cannot reach a
/// host the policy did not decide on). A WebSocket upgrade is forwarded over
/// HTTP/1.1 and, once the upstream switches protocols, both upgraded streams
/// are spliced by `handover`.
pub(crate) async fn forward(
    upstream: &Upstream,
    target: &Target,
    scheme: Scheme,
    mut request: Request<Incoming>,
    handover: &Handover,
) -> Response<ProxyBody> {
    let upgrade = request.version() == Version::HTTP_11 && wants_upgrade(request.headers());
    let client_upgrade = upgrade.then(|| hyper::upgrade::on(&mut request));
    let (mut parts, body) = request.into_parts();
    parts.uri = match upstream_uri(&scheme, target, &parts.uri) {
        Ok(uri) => uri,
        Err(error) => {
            return text_response(
                StatusCode::BAD_REQUEST,
                format!("The request target cannot be forwarded to {target}: {error}"),
            )
        }
    };
    // The client picks the upstream's version by ALPN; hyper-util refuses
    // an HTTP/2 request on an HTTP/1.1 connection.
    parts.version = Version::HTTP_11;
    strip_hop_by_hop(&mut parts.headers, upgrade);
    let sent = upstream
        .client(upgrade)
        .request(Request::from_parts(parts, body))
        .await;
    let mut response = match sent {
        Ok(response) => response,
        Err(error) => return bad_gateway(target, &error),
    };
    let switched = response.status() == StatusCode::SWITCHING_PROTOCOLS;
    match client_upgrade {
        Some(client_upgrade) if switched => {
            let upstream_upgrade = hyper::upgrade::on(&mut response);
            let target = target.clone();
            handover.set(async move {
                match tokio::try_join!(client_upgrade, upstream_upgrade) {
                    Ok((client, upstream)) => {
                        splice(TokioIo::new(client), TokioIo::new(upstream), &target).await
                    }
                    Err(error) => tracing::debug!(%target, %error, "upgrade did not complete"),
                }
            });
        }
        _ => strip_hop_by_hop(response.headers_mut(), false),
    }
    *response.version_mut() = Version::HTTP_11;
    response.map(BodyExt::boxed)
}

/// `scheme://host[:port]/path?query`: the target's authority (port only when
/// not the scheme's default) with the request's path.
fn upstream_uri(scheme: &Scheme, target: &Target, uri: &Uri) -> Result<Uri, http::Error> {
    let default_port = if *scheme == Scheme::HTTPS { 443 } else { 80 };
    let authority = if target.port() == default_port {
        target.url_host()
    } else {
        target.to_string()
    };
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    Uri::builder()
        .scheme(scheme.clone())
        .authority(authority)
        .path_and_query(path)
        .build()
}

/// Whether the request asks to switch protocols (`Connection: upgrade` and
/// an `Upgrade` header).
fn wants_upgrade(headers: &HeaderMap) -> bool {
    headers.contains_key(UPGRADE)
        && connection_tokens(headers).any(|t| t.eq_ignore_ascii_case("upgrade"))
}

fn connection_tokens(headers: &HeaderMap) -> impl Iterator<Item = &str> {
    headers
        .get_all(CONNECTION)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .filter(|token| !token.is_empty())
}

/// Removes hop-by-hop headers (and the ones `Connection` names); keeps
/// `Connection: upgrade` and `Upgrade` for an upgrade, and `TE: trailers`,
/// the one `TE` HTTP/2 allows (gRPC needs it).
fn strip_hop_by_hop(headers: &mut HeaderMap, keep_upgrade: bool) {
    // `Connection: upgrade` names `Upgrade` itself: keep its value first.
    let upgrade = headers.get(UPGRADE).cloned();
    let named: Vec<HeaderName> = connection_tokens(headers)
        .filter_map(|token| HeaderName::from_bytes(token.as_bytes()).ok())
        .collect();
    for name in named {
        headers.remove(name);
    }
    for name in HOP_BY_HOP {
        headers.remove(*name);
    }
    if headers.get(TE).is_some_and(|te| te != "trailers") {
        headers.remove(TE);
    }
    if keep_upgrade {
        if let Some(upgrade) = upgrade {
            headers.insert(UPGRADE, upgrade);
            headers.insert(CONNECTION, HeaderValue::from_static("upgrade"));
        }
    }
}

/// `outer: inner: innermost`, skipping a level that only repeats the next
/// one (io::Error wrapping a rustls error displays the same text).
pub(crate) fn error_chain(error: &(dyn StdError + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next = Some(error);
    while let Some(error) = next {
        let text = error.to_string();
        if parts.last() != Some(&text) {
            parts.push(text);
        }
        next = error.source();
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_blocked_page_is_byte_exact() {
        let response = blocked_response(&Target::new("Evil.test", 443));
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        let body = futures_util::FutureExt::now_or_never(response.into_body().collect())
            .unwrap()
            .unwrap()
            .to_bytes();
        assert_eq!(
            &body[..],
            b"Blocked by network policy: domain evil.test:443"
        );
    }

    #[test]
    fn hop_by_hop_headers_go_and_upgrades_stay() {
        let mut headers = HeaderMap::new();
        headers.insert(
            CONNECTION,
            HeaderValue::from_static("keep-alive, x-private, Upgrade"),
        );
        headers.insert("x-private", HeaderValue::from_static("1"));
        headers.insert(
            "proxy-authorization",
            HeaderValue::from_static("Basic secret"),
        );
        headers.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        headers.insert(UPGRADE, HeaderValue::from_static("websocket"));
        headers.insert(TE, HeaderValue::from_static("trailers"));
        headers.insert("x-kept", HeaderValue::from_static("1"));
        assert!(wants_upgrade(&headers));
        let mut upgrade = headers.clone();
        strip_hop_by_hop(&mut upgrade, true);
        assert_eq!(upgrade[UPGRADE], "websocket");
        assert_eq!(upgrade[CONNECTION], "upgrade");
        strip_hop_by_hop(&mut headers, false);
        let mut left: Vec<&str> = headers.keys().map(HeaderName::as_str).collect();
        left.sort_unstable();
        assert_eq!(left, ["te", "x-kept"]);
    }

    #[test]
    fn upstream_uris_name_the_decided_target() {
        let uri: Uri = "https://elsewhere.test/p?q=1".parse().unwrap();
        let https =
            |host, port| upstream_uri(&Scheme::HTTPS, &Target::new(host, port), &uri).unwrap();
        assert_eq!(https("api.test", 443).to_string(), "https://api.test/p?q=1");
        assert_eq!(
            https("api.test", 8443).to_string(),
            "https://api.test:8443/p?q=1"
        );
        assert_eq!(https("::1", 443).to_string(), "https://[::1]/p?q=1");
        let plain = upstream_uri(
            &Scheme::HTTP,
            &Target::new("a.test", 80),
            &"/".parse().unwrap(),
        );
        assert_eq!(plain.unwrap().to_string(), "http://a.test/");
    }
}
