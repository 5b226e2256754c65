//! The stand-in intercepting TLS: HTTP/1.1 and HTTP/2 through CONNECT to an
//! HTTPS upstream reached via `--map`, with the negative controls (a client
//! without the stand-in's CA; an upstream the stand-in cannot verify),
//! header injection, WebSocket, plain HTTP, and the access log.
#![cfg(feature = "standin")]

mod support;

use futures_util::{SinkExt, StreamExt};
use hyper::{StatusCode, Version};
use nanoclaw_sandbox_core::standin::ACCESS_LOG_TARGET;
use rustls::CertificateError;
use support::standin_client::{get, map_entry, plain_get, rustls_error, tls_through, Harness};
use support::standin_logs::LogCapture;
use support::standin_pki::{client_config, TestPki};
use support::standin_servers::{http_echo, https_echo, wss_echo, TestServer};
use tokio_tungstenite::tungstenite::Message;

const H1: &[&[u8]] = &[b"http/1.1"];
const H2: &[&[u8]] = &[b"h2"];

/// A public CA, an HTTPS echo server for `api.test` signed by it, and a
/// stand-in mapping `api.test` to that server.
async fn api_upstream() -> (Harness, TestServer) {
    let public = TestPki::new("public test CA");
    let upstream = https_echo(&public, &["api.test"]).await;
    let harness = Harness::start(public, |b| b.maps([map_entry("api.test", upstream.addr)])).await;
    (harness, upstream)
}

#[tokio::test]
async fn http1_get_through_connect_is_intercepted_and_reaches_the_upstream() {
    let (h, _upstream) = api_upstream().await;
    let (logs, _guard) = LogCapture::install();
    let client = client_config(&[h.standin.ca_pem()], H1);
    let tls = tls_through(h.proxy(), "api.test", 443, client)
        .await
        .unwrap();
    let reply = get(tls, "api.test", "/v1/messages?x=1", &[]).await;
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
    let access: Vec<String> = logs
        .lines()
        .into_iter()
        .filter(|l| l.starts_with(ACCESS_LOG_TARGET))
        .collect();
    assert_eq!(access.len(), 1, "{:?}", logs.lines());
    for part in [
        "method=GET",
        "host=\"api.test\"",
        "port=443",
        "decision=\"intercept\"",
        "status=200",
    ] {
        assert!(access[0].contains(part), "{part} missing in {}", access[0]);
    }
    assert!(
        !access[0].contains("/v1/messages"),
        "paths stay out of the log: {}",
        access[0]
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
    let reply = get(tls, "api.test", "/h2", &[]).await;
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
    assert_eq!(
        rustls_error(&error),
        Some(&rustls::Error::InvalidCertificate(
            CertificateError::UnknownIssuer
        )),
        "{error}"
    );
}

#[tokio::test]
async fn upstream_with_an_untrusted_certificate_gets_502_never_a_silent_pass() {
    let public = TestPki::new("public test CA");
    let rogue = TestPki::new("rogue CA nobody trusts");
    let upstream = https_echo(&rogue, &["api.test"]).await;
    let h = Harness::start(public, |b| b.maps([map_entry("api.test", upstream.addr)])).await;
    let client = client_config(&[h.standin.ca_pem()], H1);
    let tls = tls_through(h.proxy(), "api.test", 443, client)
        .await
        .unwrap();
    let reply = get(tls, "api.test", "/", &[]).await;
    assert_eq!(reply.status, StatusCode::BAD_GATEWAY, "{reply:?}");
    assert!(reply.body.contains("api.test:443"), "{}", reply.body);
    assert!(
        reply.body.contains("UnknownIssuer"),
        "the TLS reason is named: {}",
        reply.body
    );
}

#[tokio::test]
async fn upstream_certificate_for_another_name_gets_502() {
    let public = TestPki::new("public test CA");
    let upstream = https_echo(&public, &["other.test"]).await;
    let h = Harness::start(public, |b| b.maps([map_entry("api.test", upstream.addr)])).await;
    let client = client_config(&[h.standin.ca_pem()], H1);
    let tls = tls_through(h.proxy(), "api.test", 443, client)
        .await
        .unwrap();
    let reply = get(tls, "api.test", "/", &[]).await;
    assert_eq!(reply.status, StatusCode::BAD_GATEWAY, "{reply:?}");
    assert!(reply.body.contains("not valid for name"), "{}", reply.body);
}

#[tokio::test]
async fn ip_literal_targets_get_a_leaf_with_an_ip_san() {
    let public = TestPki::new("public test CA");
    let upstream = https_echo(&public, &["127.0.0.1"]).await;
    let h = Harness::start(public, |b| b).await;
    let client = client_config(&[h.standin.ca_pem()], H1);
    // No map: the IP literal is connected to as it is.
    let tls = tls_through(h.proxy(), "127.0.0.1", upstream.addr.port(), client)
        .await
        .unwrap();
    let reply = get(tls, "127.0.0.1", "/ip", &[]).await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    assert_eq!(reply.echo().path, "/ip");
}

#[tokio::test]
async fn injected_header_replaces_the_placeholder_and_never_reaches_the_log() {
    const SECRET: &str = "sk-ant-REAL-SECRET-VALUE";
    let public = TestPki::new("public test CA");
    let upstream = https_echo(&public, &["api.test", "other.test"]).await;
    let h = Harness::start(public, |b| {
        b.maps([
            map_entry("api.test", upstream.addr),
            map_entry("other.test", upstream.addr),
        ])
        .injections([format!("api.test:x-api-key={SECRET}").parse().unwrap()])
    })
    .await;
    let (logs, _guard) = LogCapture::install();
    for (host, h2) in [("api.test", false), ("api.test", true)] {
        let client = client_config(&[h.standin.ca_pem()], if h2 { H2 } else { H1 });
        let tls = tls_through(h.proxy(), host, 443, client).await.unwrap();
        let reply = get(tls, host, "/", &[("x-api-key", "placeholder")]).await;
        let seen = reply.echo().headers;
        assert_eq!(
            seen.get("x-api-key").map(String::as_str),
            Some(SECRET),
            "h2={h2}"
        );
    }
    let client = client_config(&[h.standin.ca_pem()], H1);
    let tls = tls_through(h.proxy(), "other.test", 443, client)
        .await
        .unwrap();
    let reply = get(tls, "other.test", "/", &[("x-api-key", "placeholder")]).await;
    assert_eq!(
        reply.echo().headers.get("x-api-key").map(String::as_str),
        Some("placeholder")
    );
    let lines = logs.lines();
    assert!(
        lines
            .iter()
            .filter(|l| l.starts_with(ACCESS_LOG_TARGET))
            .count()
            >= 3,
        "{lines:?}"
    );
    assert!(lines.iter().all(|l| !l.contains(SECRET)), "{lines:?}");
    assert!(!format!("{:?}", h.standin).contains(SECRET));
}

#[tokio::test]
async fn websocket_echo_passes_through_interception() {
    let public = TestPki::new("public test CA");
    let upstream = wss_echo(&public, &["ws.test"]).await;
    let h = Harness::start(public, |b| b.maps([map_entry("ws.test", upstream.addr)])).await;
    let client = client_config(&[h.standin.ca_pem()], H1);
    let tls = tls_through(h.proxy(), "ws.test", 443, client)
        .await
        .unwrap();
    let (mut ws, response) = tokio_tungstenite::client_async("wss://ws.test/echo", tls)
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SWITCHING_PROTOCOLS);
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
    let public = TestPki::new("public test CA");
    let h = Harness::start(public, |b| {
        b.maps([map_entry("plain.test", upstream.addr)])
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
    // A port nothing listens on: bind, read the port, close.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let public = TestPki::new("public test CA");
    let h = Harness::start(public, |b| b.maps([map_entry("down.test", closed)])).await;
    let client = client_config(&[h.standin.ca_pem()], H1);
    let tls = tls_through(h.proxy(), "down.test", 443, client)
        .await
        .unwrap();
    let reply = get(tls, "down.test", "/", &[]).await;
    assert_eq!(reply.status, StatusCode::BAD_GATEWAY, "{reply:?}");
    assert!(
        reply.body.contains(&format!("mapped to {closed}")),
        "{}",
        reply.body
    );
}
