//! The client through a plain (non-intercepting) CONNECT proxy, the
//! library's stand-in with every host bypassed: the policy page as the
//! CONNECT reply and inside terminated TLS, other refusals, pooling through
//! the tunnel, plain http in absolute form, an unreachable or killed proxy,
//! a passthrough host that is not intercepted, and credentials kept out of
//! every message. Proxy auth (407) and an `https://` proxy, which the
//! stand-in does not offer, go through the test kit's fault proxy in front
//! of it.

mod support;

use std::time::{Duration, Instant};

use http::Version;
use nanoclaw_sandbox_core::http::{HttpError, HttpVersions};
use nanoclaw_sandbox_core::proxy::{PassthroughRules, Route};
use nanoclaw_sandbox_core::standin::DenyStyle;
use nanoclaw_testkit::ca::TestCa;
use nanoclaw_testkit::fault_proxy::{FaultOptions, FaultProxy};
use support::client_fixture::*;

/// A plain tunnel behind a fault proxy demanding Basic auth (a password
/// holding `@` and `:`): neither the stand-in nor mitmproxy can ask for
/// that (see `nanoclaw_testkit::fault_proxy`).
async fn with_auth(upstreams: &Upstreams) -> (nanoclaw_sandbox_core::standin::Standin, FaultProxy) {
    let tunnel = plain_tunnel(upstreams).await;
    let front = fault_proxy(&tunnel, |o: &mut FaultOptions| {
        o.require_auth = Some(("agent".into(), "p@ss:word".into()));
    })
    .await;
    (tunnel, front)
}

#[tokio::test]
async fn proxy_auth_from_the_url_userinfo_is_accepted() {
    let upstreams = Upstreams::start().await;
    let (_tunnel, proxy) = with_auth(&upstreams).await;
    // Percent-encoded in the URL, decoded for Basic auth.
    let url = proxy.url_with_credentials("agent", "p%40ss%3Aword");
    let client = client_via(&url, &upstreams, Vec::new());

    let got = client
        .get(&format!("https://{UPSTREAM}/tls"))
        .await
        .expect("HTTPS through the tunnel");
    assert!(
        !echoed(got.body())
            .headers
            .contains_key("proxy-authorization"),
        "the target never sees proxy credentials"
    );
    let got = client
        .get(&format!("http://{PLAIN}/plain"))
        .await
        .expect("plain http through the proxy");
    let echo = echoed(got.body());
    assert!(
        (echo.method.as_str(), echo.path.as_str()) == ("GET", "/plain")
            && !echo.headers.contains_key("proxy-authorization"),
        "{echo:?}"
    );
    assert_eq!(
        proxy.seen(),
        [
            format!("CONNECT {UPSTREAM}:443"),
            format!("GET http://{PLAIN}/plain")
        ]
    );
}

#[tokio::test]
async fn missing_proxy_auth_is_a_407_error_naming_the_fix() {
    let upstreams = Upstreams::start().await;
    let (_tunnel, proxy) = with_auth(&upstreams).await;
    let client = client_via(&proxy.url(), &upstreams, Vec::new());
    for url in [format!("https://{UPSTREAM}/"), format!("http://{PLAIN}/")] {
        let err = expect_error(client.get(&url).await, "ProxyAuthRequired", |e| {
            matches!(
                e,
                HttpError::ProxyAuthRequired {
                    credentials_sent: false,
                    ..
                }
            )
        });
        assert!(
            err.to_string().contains("http://USER:PASSWORD@HOST:PORT"),
            "{err}"
        );
    }
}

#[tokio::test]
async fn wrong_proxy_auth_is_a_407_error_that_never_shows_the_password() {
    let upstreams = Upstreams::start().await;
    let (_tunnel, proxy) = with_auth(&upstreams).await;
    let url = proxy.url_with_credentials("agent", "hunter2");
    let client = client_via(&url, &upstreams, Vec::new());
    for url in [format!("https://{UPSTREAM}/"), format!("http://{PLAIN}/")] {
        let err = expect_error(client.get(&url).await, "ProxyAuthRequired", |e| {
            matches!(
                e,
                HttpError::ProxyAuthRequired {
                    credentials_sent: true,
                    ..
                }
            )
        });
        for shown in [err.to_string(), format!("{err:?}"), format!("{client:?}")] {
            assert!(
                !shown.contains("hunter2") && !shown.contains("agent:"),
                "{shown}"
            );
        }
    }
}

#[tokio::test]
async fn policy_page_as_the_connect_reply_is_policy_denied() {
    let upstreams = Upstreams::start().await;
    let (_proxy, client) = client_via_denying_proxy(&upstreams).await;
    let err = expect_error(
        client.get(&format!("https://{DENIED}/")).await,
        "PolicyDenied",
        |e| matches!(e, HttpError::PolicyDenied { host, .. } if host == DENIED),
    );
    assert!(
        err.to_string().contains("--allow-host denied.test"),
        "{err}"
    );
}

#[tokio::test]
async fn policy_page_answering_a_plain_http_request_is_policy_denied() {
    let upstreams = Upstreams::start().await;
    let (_proxy, client) = client_via_denying_proxy(&upstreams).await;
    expect_error(
        client.get(&format!("http://{DENIED}/")).await,
        "PolicyDenied",
        |e| matches!(e, HttpError::PolicyDenied { host, .. } if host == DENIED),
    );
}

#[tokio::test]
async fn policy_page_inside_tls_terminated_by_the_proxy_is_policy_denied() {
    let upstreams = Upstreams::start().await;
    let proxy = standin(&upstreams, |b| {
        b.bypass([every_host()])
            .deny([DENIED.parse().unwrap()])
            .deny_style(DenyStyle::InsideTls)
    })
    .await;
    let client = client_via(proxy.proxy_url(), &upstreams, standin_ca(&proxy));
    expect_error(
        client.get(&format!("https://{DENIED}/")).await,
        "PolicyDenied",
        |e| matches!(e, HttpError::PolicyDenied { host, .. } if host == DENIED),
    );
}

#[tokio::test]
async fn other_refusals_keep_their_status_and_body() {
    let upstreams = Upstreams::start().await;
    let proxy = plain_tunnel(&upstreams).await;
    let client = client_via(proxy.proxy_url(), &upstreams, Vec::new());
    // A name routed to a closed port: the stand-in answers 502 with its
    // reason, which is the upstream's failure, not a refusal.
    let err = expect_error(
        client.get(&format!("https://{UNREACHABLE}/")).await,
        "UpstreamUnreachable",
        |e| matches!(e, HttpError::UpstreamUnreachable { status: 502, .. }),
    );
    assert!(
        err.to_string()
            .contains(&format!("could not reach {UNREACHABLE}")),
        "{err}"
    );
}

#[tokio::test]
async fn connections_are_pooled_through_the_tunnel() {
    let upstreams = Upstreams::start().await;
    let proxy = plain_tunnel(&upstreams).await;
    for (versions, expected) in [
        (HttpVersions::Http1AndHttp2, Version::HTTP_2),
        (HttpVersions::Http1Only, Version::HTTP_11),
    ] {
        // Each tunnel is one connection to the upstream (the stand-in
        // bypasses: it splices the client's bytes through).
        let before = upstreams.https.connections();
        let client = client(via(proxy.proxy_url()), &upstreams, Vec::new(), versions);
        for path in ["/one", "/two", "/three"] {
            let got = client
                .get(&format!("https://{UPSTREAM}{path}"))
                .await
                .expect("GET");
            assert_eq!(got.version(), expected);
        }
        assert_eq!(
            upstreams.https.connections() - before,
            1,
            "one tunnel for three requests"
        );
    }
}

#[tokio::test]
async fn an_https_proxy_is_reached_over_tls() {
    let upstreams = Upstreams::start().await;
    let proxy_ca = TestCa::new("test proxy listener CA");
    // TLS to the proxy itself: the fault proxy's listener, in front of a
    // plain tunnel (neither the stand-in nor mitmproxy listens on TLS).
    let tunnel = plain_tunnel(&upstreams).await;
    let proxy = fault_proxy(&tunnel, |o| {
        o.tls = Some(proxy_ca.server_config(&["127.0.0.1"], &[b"http/1.1"]));
    })
    .await;
    assert!(proxy.url().starts_with("https://"));
    let client = client_via(&proxy.url(), &upstreams, vec![proxy_ca.cert_der()]);
    let got = client
        .get(&format!("https://{UPSTREAM}/nested"))
        .await
        .expect("TLS inside TLS");
    let echo = echoed(got.body());
    assert_eq!(
        (echo.method.as_str(), echo.path.as_str()),
        ("GET", "/nested")
    );
    // Without trusting the listener's CA, the proxy's own TLS fails.
    let untrusting = client_via(&proxy.url(), &upstreams, Vec::new());
    let err = expect_error(
        untrusting.get(&format!("https://{UPSTREAM}/nested")).await,
        "Tls naming the proxy",
        |e| matches!(e, HttpError::Tls { host, .. } if host.starts_with("proxy https://")),
    );
    assert!(err.to_string().contains("UnknownIssuer"), "{err}");
}

#[tokio::test]
async fn unreachable_proxy_is_named_without_its_credentials() {
    let upstreams = Upstreams::start().await;
    // A port nothing listens on: bind, note it, close.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://agent:s3cret@127.0.0.1:{port}");
    let client = client_via(&url, &upstreams, Vec::new());
    let err = expect_error(
        client.get(&format!("https://{UPSTREAM}/")).await,
        "ProxyUnreachable",
        |e| matches!(e, HttpError::ProxyUnreachable { .. }),
    );
    let text = err.to_string();
    assert!(text.contains(&format!("http://127.0.0.1:{port}")), "{text}");
    for shown in [text, format!("{err:?}"), format!("{client:?}")] {
        assert!(
            !shown.contains("s3cret") && !shown.contains("agent"),
            "{shown}"
        );
    }
}

#[tokio::test]
async fn killed_proxy_mid_request_fails_within_the_timeout() {
    let upstreams = Upstreams::start().await;
    let proxy = plain_tunnel(&upstreams).await;
    let client = client_via(proxy.proxy_url(), &upstreams, Vec::new());
    let started = Instant::now();
    // The upstream answers after 30 s; the request timeout is 15 s.
    let request = tokio::spawn({
        let client = client.clone();
        async move { client.get(&format!("https://{UPSTREAM}/delay/30000")).await }
    });
    tokio::time::sleep(Duration::from_secs(1)).await;
    // Dropping the handle stops the stand-in at once, cutting every tunnel.
    drop(proxy);
    let outcome = tokio::time::timeout(Duration::from_secs(20), request)
        .await
        .expect("the request ended (no hang)")
        .expect("task");
    expect_error(outcome, "ConnectionLost", |e| {
        matches!(e, HttpError::ConnectionLost { via: Some(_), .. })
    });
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn passthrough_host_through_a_plain_tunnel_passes() {
    let upstreams = Upstreams::start().await;
    let proxy = plain_tunnel(&upstreams).await;
    let client = client(
        PassthroughRules::new(via(proxy.proxy_url())),
        &upstreams,
        Vec::new(),
        HttpVersions::default(),
    );
    let decision = client
        .check_not_intercepted(&format!("https://{WHATSAPP}/"))
        .await
        .expect("a tunnel that does not intercept passes");
    assert!(matches!(decision.route, Route::Via { .. }), "{decision}");
    let got = client
        .get(&format!("https://{WHATSAPP}/echo"))
        .await
        .expect("GET");
    assert_eq!(got.status(), 200);
}

#[tokio::test]
async fn passthrough_host_intercepted_by_the_proxy_ca_is_detected() {
    let upstreams = Upstreams::start().await;
    // The stand-in intercepting every host (its own CA terminates TLS).
    let proxy = standin(&upstreams, |b| b).await;
    // The proxy CA is trusted, but not for passthrough hosts.
    let client = client(
        PassthroughRules::new(via(proxy.proxy_url())),
        &upstreams,
        standin_ca(&proxy),
        HttpVersions::default(),
    );
    expect_error(
        client
            .check_not_intercepted(&format!("wss://{WHATSAPP}/ws"))
            .await,
        "Intercepted",
        |e| matches!(e, HttpError::Intercepted { host, .. } if host == WHATSAPP),
    );
}

#[tokio::test]
async fn wrong_schemes_are_refused_with_the_method_to_use() {
    let upstreams = Upstreams::start().await;
    let client = client_via("http://127.0.0.1:9", &upstreams, Vec::new());
    let err = expect_error(client.get("wss://socket.test/").await, "WrongScheme", |e| {
        matches!(e, HttpError::WrongScheme { .. })
    });
    assert!(err.to_string().contains("HttpClient::websocket"), "{err}");
    expect_error(
        client.check_not_intercepted("http://plain.test/").await,
        "WrongScheme",
        |e| matches!(e, HttpError::WrongScheme { .. }),
    );
    expect_error(client.get("ftp://x.test/").await, "InvalidTarget", |e| {
        matches!(e, HttpError::InvalidTarget(_))
    });
}

/// A listener that accepts connections and never says a word.
async fn silent_listener() -> (tokio::net::TcpListener, String) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    (listener, addr)
}

#[tokio::test]
async fn timeouts_name_their_phase() {
    use nanoclaw_sandbox_core::http::{HttpClient, Phase, Timeouts};
    use nanoclaw_sandbox_core::proxy::StaticProxyConfig;

    let upstreams = Upstreams::start().await;
    let (listener, addr) = silent_listener().await;
    // Hold accepted sockets open so the silence lasts.
    let holder = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let timeouts = Timeouts {
        connect: Duration::from_secs(1),
        tls: Duration::from_secs(1),
        request: Duration::from_secs(3),
    };
    let build = |config| {
        HttpClient::builder(config)
            .public_roots(vec![upstreams.ca.cert_der()])
            .native_roots(false)
            .timeouts(timeouts)
            .build()
            .unwrap()
    };

    // A proxy that never answers CONNECT.
    let through_silent_proxy = build(via(&format!("http://{addr}")));
    let started = Instant::now();
    let err = expect_error(
        through_silent_proxy
            .get(&format!("https://{UPSTREAM}/"))
            .await,
        "Timeout in the proxy handshake",
        |e| {
            matches!(
                e,
                HttpError::Timeout {
                    phase: Phase::ProxyHandshake,
                    ..
                }
            )
        },
    );
    assert!(started.elapsed() < Duration::from_secs(5), "{err}");
    assert!(err.to_string().contains("Timeouts::connect"), "{err}");

    // A server that never answers the TLS handshake.
    let direct = build(StaticProxyConfig::direct());
    let err = expect_error(
        direct.get(&format!("https://{addr}/")).await,
        "Timeout in the TLS handshake",
        |e| {
            matches!(
                e,
                HttpError::Timeout {
                    phase: Phase::Tls,
                    ..
                }
            )
        },
    );
    assert!(err.to_string().contains(&addr), "{err}");
    holder.abort();

    // An upstream that takes longer than the request may.
    let proxy = plain_tunnel(&upstreams).await;
    let slow = build(via(proxy.proxy_url()));
    let err = expect_error(
        slow.get(&format!("https://{UPSTREAM}/delay/30000")).await,
        "Timeout of the request",
        |e| {
            matches!(
                e,
                HttpError::Timeout {
                    phase: Phase::Request,
                    ..
                }
            )
        },
    );
    assert!(err.to_string().contains("after 3s"), "{err}");
}
