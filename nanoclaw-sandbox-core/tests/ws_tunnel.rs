//! WebSockets through the proxies: echo over `wss://` through mitmproxy
//! (intercepted, its CA trusted) and through plain tunnels (mitmproxy
//! ignoring every host; the stand-in bypassing every host), `ws://` through
//! the tunnel, extra handshake headers, the policy page.

mod support;

use futures_util::{SinkExt, StreamExt};
use nanoclaw_sandbox_core::http::tungstenite::Message;
use nanoclaw_sandbox_core::http::{HttpError, WebSocket};
use nanoclaw_testkit::https::WELCOME;
use support::client_fixture::*;

async fn echo_round_trip(socket: &mut WebSocket) {
    let greeting = socket.next().await.expect("the greeting").expect("a frame");
    assert_eq!(greeting, Message::text(WELCOME));
    for text in ["hello gateway", "second frame"] {
        socket.send(Message::text(text)).await.expect("send");
        let reply = socket.next().await.expect("a reply").expect("a frame");
        assert_eq!(reply, Message::text(text));
    }
    socket
        .send(Message::binary(vec![0u8, 1, 2, 255]))
        .await
        .expect("send binary");
    let reply = socket.next().await.expect("a reply").expect("a frame");
    assert_eq!(reply, Message::binary(vec![0u8, 1, 2, 255]));
    socket.close(None).await.expect("close");
}

#[tokio::test]
async fn wss_echo_through_mitmproxy_with_its_ca_trusted() {
    let upstreams = Upstreams::start().await;
    let Some(mitm) = mitmproxy(&upstreams, |_| ()) else {
        return;
    };
    let client = client_via(&mitm.url(), &upstreams, mitm_ca(&mitm));
    let (mut socket, response) = client
        .websocket(format!("wss://{SOCKET}/gateway?v=10&encoding=json"))
        .await
        .unwrap_or_else(|e| panic!("WebSocket through mitmproxy: {e}\n{}", mitm.log()));
    assert_eq!(response.status(), 101);
    echo_round_trip(&mut socket).await;
    assert!(
        mitm.seen()
            .iter()
            .any(|s| s.contains(&format!("{SOCKET}/gateway"))),
        "mitmproxy intercepted the upgrade: {:?}",
        mitm.seen()
    );
}

#[tokio::test]
async fn wss_without_the_mitmproxy_ca_says_the_sandbox_ca_is_not_trusted() {
    let upstreams = Upstreams::start().await;
    let Some(mitm) = mitmproxy(&upstreams, |_| ()) else {
        return;
    };
    let client = client_via(&mitm.url(), &upstreams, Vec::new());
    expect_error(
        client.websocket(format!("wss://{SOCKET}/")).await,
        "CaNotTrusted",
        |e| matches!(e, HttpError::CaNotTrusted { .. }),
    );
}

#[tokio::test]
async fn wss_and_ws_echo_through_a_plain_tunnel() {
    let upstreams = Upstreams::start().await;
    // mitmproxy tunnelling every host untouched: a plain CONNECT proxy that
    // records what it was asked.
    let Some(proxy) = mitmproxy(&upstreams, |o| o.ignore_hosts = vec![".*".into()]) else {
        return;
    };
    let client = client_via(&proxy.url(), &upstreams, Vec::new());
    for url in [
        format!("wss://{SOCKET}/socket"),
        format!("ws://{PLAIN_SOCKET}/socket"),
    ] {
        let (mut socket, _) = client
            .websocket(url.as_str())
            .await
            .unwrap_or_else(|e| panic!("{url}: {e}\n{}", proxy.log()));
        echo_round_trip(&mut socket).await;
    }
    assert_eq!(
        proxy.seen(),
        [
            format!("CONNECT {SOCKET}:443"),
            format!("CONNECT {PLAIN_SOCKET}:80")
        ],
        "both schemes are tunnelled"
    );
}

#[tokio::test]
async fn a_request_with_extra_headers_opens_a_websocket() {
    use nanoclaw_sandbox_core::http::tungstenite::client::IntoClientRequest;
    let upstreams = Upstreams::start().await;
    let proxy = plain_tunnel(&upstreams).await;
    let client = client_via(proxy.proxy_url(), &upstreams, Vec::new());
    // WhatsApp Web, for one, wants an Origin header.
    let mut request = format!("wss://{SOCKET}/ws/chat")
        .into_client_request()
        .unwrap();
    request
        .headers_mut()
        .insert("Origin", "https://web.whatsapp.com".parse().unwrap());
    let (mut socket, _) = client
        .websocket(request)
        .await
        .expect("WebSocket with Origin");
    echo_round_trip(&mut socket).await;
}

#[tokio::test]
async fn a_blocked_websocket_host_is_policy_denied() {
    let upstreams = Upstreams::start().await;
    let (_proxy, client) = client_via_denying_proxy(&upstreams).await;
    expect_error(
        client.websocket(format!("wss://{DENIED}/")).await,
        "PolicyDenied",
        |e| matches!(e, HttpError::PolicyDenied { .. }),
    );
}

#[tokio::test]
async fn a_policy_page_answering_the_upgrade_inside_tls_is_policy_denied() {
    let upstreams = Upstreams::start().await;
    let Some(mitm) = mitmproxy(&upstreams, |o| o.policy_denied = vec![DENIED.into()]) else {
        return;
    };
    let client = client_via(&mitm.url(), &upstreams, mitm_ca(&mitm));
    expect_error(
        client.websocket(format!("wss://{DENIED}/gateway")).await,
        "PolicyDenied",
        |e| matches!(e, HttpError::PolicyDenied { host, .. } if host == DENIED),
    );
}
