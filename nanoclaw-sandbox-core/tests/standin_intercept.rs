//! The stand-in intercepting TLS: HTTP/1.1 and HTTP/2 through CONNECT to an
//! HTTPS upstream reached via `--map`, with the negative controls (a client
//! without the stand-in's CA; an upstream the stand-in cannot verify),
//! header injection, WebSocket and plain HTTP. (The access log has its own
//! test binary: `standin_access_log.rs`.)

mod support;

use futures_util::{SinkExt, StreamExt};
use hyper::{StatusCode, Version};
use nanoclaw_testkit::ca::{client_config, TestCa};
use nanoclaw_testkit::https::{http_echo, https_echo, wss_echo, Server, WELCOME};
use support::standin_client::{
    assert_unknown_issuer, closed_port, map_entry, plain_get, tls_through, Harness, Reply,
};
use tokio_tungstenite::tungstenite::Message;

const H1: &[&[u8]] = &[b"http/1.1"];
const H2: &[&[u8]] = &[b"h2"];

/// A stand-in mapping `host` to an HTTPS echo server whose certificate
/// `issuer` signed for `cert_names`; the stand-in trusts only the public CA.
async fn upstream_behind_standin(
    host: &str,
    issuer: Option<&TestCa>,
    cert_names: &[&str],
) -> (Harness, Server) {
    let public = TestCa::new("public test CA");
    let upstream = https_echo(issuer.unwrap_or(&public), cert_names).await;
    let harness = Harness::start(public, |b| b.maps([map_entry(host, upstream.addr())])).await;
    (harness, upstream)
}

/// The usual case: `api.test` with a certificate from the public CA.
async fn api_upstream() -> (Harness, Server) {
    upstream_behind_standin("api.test", None, &["api.test"]).await
}

/// GET https://api.test/ through a stand-in whose upstream certificate is
/// wrong in some way: the reply must be a 502 naming the target.
async fn reply_for_bad_upstream(issuer: Option<&TestCa>, cert_names: &[&str]) -> Reply {
    let (h, _upstream) = upstream_behind_standin("api.test", issuer, cert_names).await;
    let reply = h.https_get("api.test", H1, "/", &[]).await;
    assert_eq!(reply.status, StatusCode::BAD_GATEWAY, "{reply:?}");
    assert!(reply.body.contains("api.test:443"), "{}", reply.body);
    reply
}

#[tokio::test]
async fn http1_get_through_connect_is_intercepted_and_reaches_the_upstream() {
    let (h, _upstream) = api_upstream().await;
    let reply = h.https_get("api.test", H1, "/v1/messages?x=1", &[]).await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    assert_eq!(reply.version, Version::HTTP_11);
    let echo = reply.echo();
    assert_eq!(
        (echo.method.as_str(), echo.path.as_str()),
        ("GET", "/v1/messages?x=1")
    );
    assert_eq!(
        echo.headers.get("host").map(String::as_str),
        Some("api.test")
    );
}

#[tokio::test]
async fn http2_get_through_connect_is_http2_on_both_sides() {
    let (h, _upstream) = api_upstream().await;
    let client = client_config(&[h.standin.ca_pem()], H2);
    let tls = tls_through(h.proxy(), "api.test", 443, client)
        .await
        .unwrap();
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let reply = support::standin_client::get(tls, "api.test", "/h2", &[]).await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    assert_eq!(reply.version, Version::HTTP_2);
    assert_eq!(
        reply.echo().version,
        "HTTP/2.0",
        "the upstream also negotiated h2"
    );
}

#[tokio::test]
async fn negative_control_client_without_the_standin_ca_fails_with_unknown_issuer() {
    let (h, _upstream) = api_upstream().await;
    // Trusts the upstream's real CA only: the stand-in's leaf must not verify.
    let client = client_config(&[h.public.pem()], H1);
    let error = tls_through(h.proxy(), "api.test", 443, client)
        .await
        .unwrap_err();
    assert_unknown_issuer(&error);
}

#[tokio::test]
async fn upstream_with_an_untrusted_certificate_gets_502_never_a_silent_pass() {
    let rogue = TestCa::new("rogue CA nobody trusts");
    let reply = reply_for_bad_upstream(Some(&rogue), &["api.test"]).await;
    assert!(
        reply.body.contains("UnknownIssuer"),
        "the TLS reason is named: {}",
        reply.body
    );
}

#[tokio::test]
async fn upstream_certificate_for_another_name_gets_502() {
    let reply = reply_for_bad_upstream(None, &["other.test"]).await;
    assert!(reply.body.contains("not valid for name"), "{}", reply.body);
}

#[tokio::test]
async fn ip_literal_targets_get_a_leaf_with_an_ip_san() {
    let public = TestCa::new("public test CA");
    let upstream = https_echo(&public, &["127.0.0.1"]).await;
    let h = Harness::start(public, |b| b).await;
    let client = client_config(&[h.standin.ca_pem()], H1);
    // No map: the IP literal is connected to as it is.
    let tls = tls_through(h.proxy(), "127.0.0.1", upstream.addr().port(), client)
        .await
        .unwrap();
    let reply = support::standin_client::get(tls, "127.0.0.1", "/ip", &[]).await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    assert_eq!(reply.echo().path, "/ip");
}

#[tokio::test]
async fn injected_header_replaces_the_placeholder_for_listed_hosts_only() {
    const SECRET: &str = "sk-ant-REAL-SECRET-VALUE";
    let public = TestCa::new("public test CA");
    let upstream = https_echo(&public, &["api.test", "other.test"]).await;
    let h = Harness::start(public, |b| {
        b.maps([
            map_entry("api.test", upstream.addr()),
            map_entry("other.test", upstream.addr()),
        ])
        .injections([format!("api.test:x-api-key={SECRET}").parse().unwrap()])
    })
    .await;
    let placeholder = [("x-api-key", "placeholder")];
    let api_key_seen = |reply: Reply| reply.echo().headers.get("x-api-key").cloned();
    for alpn in [H1, H2] {
        let reply = h.https_get("api.test", alpn, "/", &placeholder).await;
        assert_eq!(api_key_seen(reply).as_deref(), Some(SECRET));
    }
    let reply = h.https_get("other.test", H1, "/", &placeholder).await;
    assert_eq!(api_key_seen(reply).as_deref(), Some("placeholder"));
    assert!(!format!("{:?}", h.standin).contains(SECRET));
}

#[tokio::test]
async fn post_bodies_stream_to_the_upstream_over_http1_and_http2() {
    let (h, _upstream) = api_upstream().await;
    for alpn in [H1, H2] {
        let client = client_config(&[h.standin.ca_pem()], alpn);
        let tls = tls_through(h.proxy(), "api.test", 443, client)
            .await
            .unwrap();
        let body = "x".repeat(100_000);
        let reply = support::standin_client::post(tls, "api.test", "/upload", &body).await;
        assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
        let echo = reply.echo();
        assert_eq!((echo.method.as_str(), echo.body_len), ("POST", body.len()));
    }
}

#[tokio::test]
async fn websocket_echo_passes_through_interception() {
    let public = TestCa::new("public test CA");
    let upstream = wss_echo(&public, &["ws.test"]).await;
    let h = Harness::start(public, |b| b.maps([map_entry("ws.test", upstream.addr())])).await;
    let client = client_config(&[h.standin.ca_pem()], H1);
    let tls = tls_through(h.proxy(), "ws.test", 443, client)
        .await
        .unwrap();
    let (mut ws, response) = tokio_tungstenite::client_async("wss://ws.test/echo", tls)
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SWITCHING_PROTOCOLS);
    // The echo speaks first, right after the 101: the stand-in relays that too.
    assert_eq!(ws.next().await.unwrap().unwrap(), Message::text(WELCOME));
    for text in ["hello", "through the stand-in"] {
        ws.send(Message::text(text)).await.unwrap();
        assert_eq!(ws.next().await.unwrap().unwrap(), Message::text(text));
    }
    ws.send(Message::binary(vec![0u8, 1, 2, 255]))
        .await
        .unwrap();
    assert_eq!(
        ws.next().await.unwrap().unwrap(),
        Message::binary(vec![0u8, 1, 2, 255])
    );
    ws.close(None).await.unwrap();
}

#[tokio::test]
async fn plain_http_absolute_form_is_forwarded_without_injection() {
    let upstream = http_echo().await;
    let public = TestCa::new("public test CA");
    let h = Harness::start(public, |b| {
        b.maps([map_entry("plain.test", upstream.addr())])
            .injections(["plain.test:x-api-key=never-in-clear-text".parse().unwrap()])
    })
    .await;
    let reply = plain_get(h.proxy(), "http://plain.test/p?q=1").await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    let echo = reply.echo();
    assert_eq!(echo.path, "/p?q=1");
    assert_eq!(
        echo.headers.get("host").map(String::as_str),
        Some("plain.test")
    );
    assert!(!echo.headers.contains_key("x-api-key"), "{echo:?}");
}

#[tokio::test]
async fn unreachable_upstream_gets_502_naming_the_address() {
    let closed = closed_port();
    let public = TestCa::new("public test CA");
    let h = Harness::start(public, |b| b.maps([map_entry("down.test", closed)])).await;
    let reply = h.https_get("down.test", H1, "/", &[]).await;
    assert_eq!(reply.status, StatusCode::BAD_GATEWAY, "{reply:?}");
    assert!(
        reply.body.contains(&format!("mapped to {closed}")),
        "{}",
        reply.body
    );
}
