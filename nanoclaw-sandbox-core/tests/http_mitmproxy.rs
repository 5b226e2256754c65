//! The client through mitmproxy, an intercepting proxy like Docker
//! Sandboxes': requests over HTTP/1.1 and HTTP/2 with its CA trusted, the
//! CA-not-trusted error without it, NO_PROXY going direct, the policy page
//! inside TLS, a killed proxy, and interception of a passthrough host.

mod support;

use std::time::{Duration, Instant};

use http::Version;
use nanoclaw_sandbox_core::http::{HttpError, HttpVersions};
use nanoclaw_sandbox_core::proxy::{
    EnvProxyConfig, PassthroughRules, ProxySettings, ProxyUrl, Route, TlsTrust,
};
use support::client_fixture::*;

async fn get_and_post_through_mitmproxy(versions: HttpVersions, expected: Version) {
    let upstreams = Upstreams::start().await;
    let Some(mitm) = mitmproxy(&upstreams, |_| ()) else {
        return;
    };
    let client = client(via(&mitm.url()), &upstreams, mitm_ca(&mitm), versions);

    let got = client
        .get(&format!("https://{UPSTREAM}/echo"))
        .await
        .unwrap_or_else(|e| panic!("GET through mitmproxy: {e}\n{}", mitm.log()));
    assert_eq!(got.status(), 200);
    assert_eq!(
        got.version(),
        expected,
        "the version negotiated with the proxy"
    );
    let echo = echoed(got.body());
    assert_eq!((echo.method.as_str(), echo.path.as_str()), ("GET", "/echo"));

    let posted = client
        .post(
            &format!("https://{UPSTREAM}/echo"),
            "application/json",
            r#"{"hello":"sandbox"}"#,
        )
        .await
        .expect("POST through mitmproxy");
    assert_eq!(posted.version(), expected);
    let echo = echoed(posted.body());
    assert!(
        (echo.method.as_str(), echo.path.as_str()) == ("POST", "/echo")
            && echo.body == r#"{"hello":"sandbox"}"#,
        "{echo:?}"
    );
    assert!(
        mitm.seen()
            .iter()
            .any(|s| s == &format!("POST https://{UPSTREAM}/echo")),
        "mitmproxy intercepted the POST: {:?}",
        mitm.seen()
    );
}

#[tokio::test]
async fn get_and_post_over_http2_through_mitmproxy_with_its_ca_trusted() {
    get_and_post_through_mitmproxy(HttpVersions::Http1AndHttp2, Version::HTTP_2).await;
}

#[tokio::test]
async fn get_and_post_over_http1_through_mitmproxy_with_its_ca_trusted() {
    get_and_post_through_mitmproxy(HttpVersions::Http1Only, Version::HTTP_11).await;
}

#[tokio::test]
async fn default_roots_plus_the_proxy_ca_work_through_mitmproxy() {
    let upstreams = Upstreams::start().await;
    let Some(mitm) = mitmproxy(&upstreams, |_| ()) else {
        return;
    };
    // Mozilla's and the OS's roots, plus the proxy CA: what a host uses.
    let client = nanoclaw_sandbox_core::http::HttpClient::builder(via(&mitm.url()))
        .extra_roots(mitm_ca(&mitm))
        .timeouts(test_timeouts())
        .build()
        .expect("client with default roots");
    let got = client
        .get(&format!("https://{UPSTREAM}/echo"))
        .await
        .expect("GET");
    assert_eq!(got.status(), 200);
}

#[tokio::test]
async fn without_the_proxy_ca_the_error_says_the_sandbox_ca_is_not_trusted() {
    let upstreams = Upstreams::start().await;
    let Some(mitm) = mitmproxy(&upstreams, |_| ()) else {
        return;
    };
    let client = client_via(&mitm.url(), &upstreams, Vec::new());
    let err = expect_error(
        client.get(&format!("https://{UPSTREAM}/echo")).await,
        "CaNotTrusted",
        |e| matches!(e, HttpError::CaNotTrusted { .. }),
    );
    let text = err.to_string();
    assert!(text.contains(&format!("{UPSTREAM}:443")), "{text}");
    assert!(text.contains(&mitm.url()), "names the proxy: {text}");
    assert!(text.contains("PROXY_CA_CERT_B64"), "{text}");
}

#[tokio::test]
async fn no_proxy_host_goes_direct_and_the_proxy_never_sees_it() {
    let upstreams = Upstreams::start().await;
    let Some(mitm) = mitmproxy(&upstreams, |_| ()) else {
        return;
    };
    let settings = ProxySettings {
        https: Some(ProxyUrl::parse(&mitm.url()).unwrap()),
        no_proxy: Some("localhost,.internal.test".into()),
        ..ProxySettings::default()
    };
    let client = client(
        EnvProxyConfig::new(settings),
        &upstreams,
        mitm_ca(&mitm),
        HttpVersions::default(),
    );

    let direct_url = format!("https://localhost:{}/direct", upstreams.https.addr().port());
    let decision = client.decide(&direct_url).unwrap();
    assert_eq!(decision.route, Route::Direct, "{decision}");
    let got = client.get(&direct_url).await.expect("direct GET");
    assert_eq!(echoed(got.body()).path, "/direct");

    // The control: a proxied request is seen, the direct one is not.
    client
        .get(&format!("https://{UPSTREAM}/proxied"))
        .await
        .expect("proxied GET");
    let seen = mitm.seen();
    assert!(seen.iter().any(|s| s.contains("/proxied")), "{seen:?}");
    assert!(
        !seen
            .iter()
            .any(|s| s.contains("localhost") || s.contains("/direct")),
        "{seen:?}"
    );
}

#[tokio::test]
async fn plain_http_goes_through_mitmproxy_in_absolute_form() {
    let upstreams = Upstreams::start().await;
    let Some(mitm) = mitmproxy(&upstreams, |_| ()) else {
        return;
    };
    let client = client_via(&mitm.url(), &upstreams, Vec::new());
    let got = client
        .get(&format!("http://{PLAIN}/plain"))
        .await
        .expect("plain GET");
    let echo = echoed(got.body());
    assert_eq!(
        (echo.method.as_str(), echo.path.as_str()),
        ("GET", "/plain")
    );
    assert!(
        mitm.seen()
            .iter()
            .any(|s| s == &format!("GET http://{PLAIN}/plain")),
        "{:?}",
        mitm.seen()
    );
}

#[tokio::test]
async fn policy_page_inside_intercepted_tls_is_policy_denied() {
    let upstreams = Upstreams::start().await;
    let Some(mitm) = mitmproxy(&upstreams, |o| o.policy_denied = vec![DENIED.into()]) else {
        return;
    };
    for versions in [HttpVersions::Http1AndHttp2, HttpVersions::Http1Only] {
        let client = client(via(&mitm.url()), &upstreams, mitm_ca(&mitm), versions);
        let err = expect_error(
            client.get(&format!("https://{DENIED}/anything")).await,
            "PolicyDenied",
            |e| matches!(e, HttpError::PolicyDenied { .. }),
        );
        assert!(
            err.to_string()
                .contains(&format!("allow network {DENIED}`")),
            "{err}"
        );
        // An ordinary 403 from the upstream is still a response, body intact.
        let forbidden = client
            .get(&format!("https://{UPSTREAM}/forbidden"))
            .await
            .expect("an ordinary 403 is a response");
        assert_eq!(forbidden.status(), 403);
        assert_eq!(echoed(forbidden.body()).path, "/forbidden");
    }
}

#[tokio::test]
async fn killed_proxy_mid_request_fails_within_the_timeout() {
    let upstreams = Upstreams::start().await;
    let Some(mut mitm) = mitmproxy(&upstreams, |_| ()) else {
        return;
    };
    let client = client_via(&mitm.url(), &upstreams, mitm_ca(&mitm));
    let started = Instant::now();
    // The upstream answers after 30 s; the request timeout is 15 s.
    let request = tokio::spawn({
        let client = client.clone();
        async move { client.get(&format!("https://{UPSTREAM}/delay/30000")).await }
    });
    tokio::time::sleep(Duration::from_secs(2)).await;
    mitm.kill();
    let outcome = tokio::time::timeout(Duration::from_secs(20), request)
        .await
        .expect("the request ended (no hang)")
        .expect("task");
    let elapsed = started.elapsed();
    // The kernel closes a killed process's sockets: the loss is seen at
    // once, long before the 15 s request timeout.
    let err = expect_error(outcome, "ConnectionLost", |e| {
        matches!(e, HttpError::ConnectionLost { via: Some(_), .. })
    });
    assert!(elapsed < Duration::from_secs(10), "took {elapsed:?}: {err}");
    assert!(err.to_string().contains("proxy is still running"), "{err}");
    // A new request finds the proxy gone and says so.
    let err = expect_error(
        client.get(&format!("https://{UPSTREAM}/echo")).await,
        "ProxyUnreachable",
        |e| matches!(e, HttpError::ProxyUnreachable { .. }),
    );
    assert!(err.to_string().contains(&mitm.addr().to_string()), "{err}");
}

#[tokio::test]
async fn passthrough_host_intercepted_by_mitmproxy_is_detected() {
    let upstreams = Upstreams::start().await;
    let Some(mitm) = mitmproxy(&upstreams, |_| ()) else {
        return;
    };
    // The proxy CA is trusted, as in a sandbox: only passthrough hosts are
    // held to the public roots.
    let rules = PassthroughRules::new(via(&mitm.url()));
    let client = client(rules, &upstreams, mitm_ca(&mitm), HttpVersions::default());
    let decision = client.decide(&format!("https://{WHATSAPP}/")).unwrap();
    assert_eq!(decision.trust, TlsTrust::PublicOnly, "{decision}");

    let err = expect_error(
        client
            .check_not_intercepted(&format!("https://{WHATSAPP}/"))
            .await,
        "Intercepted",
        |e| matches!(e, HttpError::Intercepted { .. }),
    );
    assert!(
        err.to_string()
            .contains(&format!("host {WHATSAPP} is being intercepted"))
            && err.to_string().contains("configure a bypass"),
        "{err}"
    );
    expect_error(
        client.get(&format!("https://{WHATSAPP}/echo")).await,
        "Intercepted on a request too",
        |e| matches!(e, HttpError::Intercepted { .. }),
    );
    // Other hosts through the same proxy are fine.
    client
        .get(&format!("https://{UPSTREAM}/echo"))
        .await
        .expect("non-passthrough host");
}

#[tokio::test]
async fn passthrough_host_bypassed_by_mitmproxy_passes() {
    let upstreams = Upstreams::start().await;
    let Some(mitm) = mitmproxy(&upstreams, |o| {
        o.ignore_hosts = vec![r"^web\.whatsapp\.com$".into()]
    }) else {
        return;
    };
    let client = client(
        PassthroughRules::new(via(&mitm.url())),
        &upstreams,
        mitm_ca(&mitm),
        HttpVersions::default(),
    );
    let decision = client
        .check_not_intercepted(&format!("https://{WHATSAPP}/"))
        .await
        .unwrap_or_else(|e| panic!("bypassed host should pass: {e}\n{}", mitm.log()));
    assert!(matches!(decision.route, Route::Via { .. }));
    let got = client
        .get(&format!("https://{WHATSAPP}/echo"))
        .await
        .expect("GET bypassed host");
    assert_eq!(got.status(), 200);
}
