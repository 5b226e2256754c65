//! Proxy faults through the library's client (issue 13, the faults): a proxy
//! that dies after reading CONNECT or mid-body, and CONNECT refused with
//! 407, the sandbox's 403 policy page and 502 — each a variant of its own,
//! each within the client's configured timeouts (no hang). The test kit's
//! fault proxy stands in front of the library's stand-in (a plain tunnel)
//! and does the dying and the refusing; the same front doing neither is
//! every test's control. (A proxy killed while the answer is awaited is
//! `http_connect_proxy::killed_proxy_mid_request_fails_within_the_timeout`.)

mod support;

use std::time::{Duration, Instant};

use nanoclaw_sandbox_core::http::{HttpClient, HttpError};
use nanoclaw_testkit::fault_proxy::{Die, FaultOptions, FaultProxy};
use support::client_fixture::*;

/// What the client may take at most for any of these faults: its connect
/// timeout (the CONNECT handshake) plus its request timeout, with slack.
fn bound() -> Duration {
    let t = test_timeouts();
    t.connect + t.request + Duration::from_secs(2)
}

/// Runs `request`, asserting it ends within [`bound`]; prints the figure.
async fn timed<T>(
    what: &str,
    request: impl std::future::Future<Output = Result<T, HttpError>>,
) -> Result<T, HttpError> {
    let started = Instant::now();
    let outcome = tokio::time::timeout(bound(), request)
        .await
        .unwrap_or_else(|_| panic!("{what}: no answer within {:?} (a hang)", bound()));
    println!(
        "figure: {what}: ended in {} ms (bound {} s)",
        started.elapsed().as_millis(),
        bound().as_secs()
    );
    outcome
}

/// The same front as `configure` makes, minus its fault: the control.
async fn control_passes(tunnel: &nanoclaw_sandbox_core::standin::Standin, upstreams: &Upstreams) {
    let front = fault_proxy(tunnel, |_| {}).await;
    let client = client_via(&front.url(), upstreams, Vec::new());
    for url in [
        format!("https://{UPSTREAM}/control"),
        format!("http://{PLAIN}/control"),
    ] {
        let got = timed("control", client.get(&url))
            .await
            .expect("the control passes");
        assert_eq!(got.status(), 200, "{url}");
    }
}

fn client_through(front: &FaultProxy, upstreams: &Upstreams) -> HttpClient {
    client_via(&front.url(), upstreams, Vec::new())
}

/// GETs `url` through a front that dies at `die`: the error, once it is
/// checked to be `ConnectionLost` naming that front.
async fn dying_at(
    tunnel: &nanoclaw_sandbox_core::standin::Standin,
    upstreams: &Upstreams,
    die: Die,
    url: &str,
) -> HttpError {
    let front = fault_proxy(tunnel, |o: &mut FaultOptions| o.die = Some(die)).await;
    let err = timed(
        &format!("proxy died ({die:?})"),
        client_through(&front, upstreams).get(url),
    )
    .await;
    expect_error(
        err,
        "ConnectionLost through the proxy",
        |e| matches!(e, HttpError::ConnectionLost { via: Some(p), .. } if *p == front.url()),
    )
}

#[tokio::test]
async fn a_proxy_dying_after_reading_connect_is_a_lost_connection_naming_it() {
    let upstreams = Upstreams::start().await;
    let tunnel = plain_tunnel(&upstreams).await;
    control_passes(&tunnel, &upstreams).await;
    for url in [format!("https://{UPSTREAM}/"), format!("http://{PLAIN}/")] {
        let err = dying_at(&tunnel, &upstreams, Die::AfterRequestHead, &url).await;
        let text = err.to_string();
        assert!(
            text.contains("through proxy http://127.0.0.1:")
                && text.contains("check that the proxy is still running"),
            "{text}"
        );
    }
}

#[tokio::test]
async fn a_proxy_dying_mid_body_is_a_lost_connection_not_a_short_body() {
    let upstreams = Upstreams::start().await;
    let tunnel = plain_tunnel(&upstreams).await;
    control_passes(&tunnel, &upstreams).await;
    // The response head and 10 bytes of the echo's JSON body, then nothing.
    let err = dying_at(
        &tunnel,
        &upstreams,
        Die::AfterAnswerBytes(10),
        &format!("http://{PLAIN}/a-body"),
    )
    .await;
    assert!(
        err.to_string()
            .contains(&format!("the connection to {PLAIN}:80")),
        "{err}"
    );

    // Through a tunnel: killed after the CONNECT reply and a few bytes of
    // the TLS handshake: a lost connection naming the proxy (not a
    // certificate problem); no hang.
    let err = dying_at(
        &tunnel,
        &upstreams,
        Die::AfterAnswerBytes(5),
        &format!("https://{UPSTREAM}/"),
    )
    .await;
    println!("mid-handshake: {err}");
}

/// The front answering every CONNECT with `status` and `body`.
async fn refusing(
    tunnel: &nanoclaw_sandbox_core::standin::Standin,
    status: u16,
    body: &str,
) -> FaultProxy {
    fault_proxy(tunnel, |o: &mut FaultOptions| {
        o.refuse = Some((status, body.to_string()));
    })
    .await
}

#[tokio::test]
async fn connect_refusals_are_each_a_variant_of_their_own() {
    let upstreams = Upstreams::start().await;
    let tunnel = plain_tunnel(&upstreams).await;
    control_passes(&tunnel, &upstreams).await;
    let target = format!("https://{UPSTREAM}/");
    let mut kinds = Vec::new();

    let front = refusing(&tunnel, 407, "proxy authentication required").await;
    let err = timed("407", client_through(&front, &upstreams).get(&target)).await;
    let err = expect_error(err, "ProxyAuthRequired", |e| {
        matches!(
            e,
            HttpError::ProxyAuthRequired {
                credentials_sent: false,
                ..
            }
        )
    });
    assert!(
        err.to_string()
            .contains("put the user name and password in the proxy URL"),
        "407 says which credentials: {err}"
    );
    kinds.push(
        format!("{err:?}")
            .split(' ')
            .next()
            .unwrap_or_default()
            .to_string(),
    );

    // The sandbox proxy's own page, word for word.
    let page = format!("Blocked by network policy: domain {UPSTREAM}:443");
    let front = refusing(&tunnel, 403, &page).await;
    let err = timed(
        "403 policy",
        client_through(&front, &upstreams).get(&target),
    )
    .await;
    let err = expect_error(
        err,
        "PolicyDenied",
        |e| matches!(e, HttpError::PolicyDenied { host, proxy } if host == UPSTREAM && *proxy == front.url()),
    );
    assert!(
        err.to_string()
            .contains(&format!("`sbx policy allow network {UPSTREAM}`")),
        "403 names the host and the fix: {err}"
    );
    kinds.push(
        format!("{err:?}")
            .split(' ')
            .next()
            .unwrap_or_default()
            .to_string(),
    );

    // A 403 that is not the policy page stays a plain refusal (control).
    let front = refusing(&tunnel, 403, "forbidden by the office proxy").await;
    let err = timed("403 other", client_through(&front, &upstreams).get(&target)).await;
    expect_error(
        err,
        "ProxyRefused",
        |e| matches!(e, HttpError::ProxyRefused { status: 403, body, .. } if body == "forbidden by the office proxy"),
    );

    let front = refusing(&tunnel, 502, "Bad Gateway: connection refused").await;
    let err = timed("502", client_through(&front, &upstreams).get(&target)).await;
    let err = expect_error(
        err,
        "UpstreamUnreachable",
        |e| matches!(e, HttpError::UpstreamUnreachable { status: 502, host, .. } if *host == format!("{UPSTREAM}:443")),
    );
    let text = err.to_string();
    assert!(
        text.contains("could not reach the upstream")
            && text.contains("Bad Gateway: connection refused")
            && text.contains(&front.url()),
        "502 says upstream: {text}"
    );
    kinds.push(
        format!("{err:?}")
            .split(' ')
            .next()
            .unwrap_or_default()
            .to_string(),
    );

    kinds.dedup();
    println!(
        "figure: CONNECT refusals with distinct variants: {} ({kinds:?})",
        kinds.len()
    );
    assert_eq!(kinds.len(), 3, "{kinds:?}");
}
