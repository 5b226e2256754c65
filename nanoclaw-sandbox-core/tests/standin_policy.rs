//! The stand-in's network policy end to end: deny (the 403 page inside TLS,
//! as Docker Sandboxes answer, or on the CONNECT reply), allow-lists with a
//! default deny, `*.`/`**.` patterns, CIDR ranges, and bypass tunnels.

mod support;

use hyper::StatusCode;
use nanoclaw_sandbox_core::standin::{DefaultPolicy, DenyStyle, HostPattern};
use nanoclaw_testkit::ca::{client_config, TestCa};
use nanoclaw_testkit::https::{http_echo, https_echo};
use support::standin_client::{
    assert_unknown_issuer, closed_port, connect, get, map_entry, plain_get, tls_through, Harness,
};

const H1: &[&[u8]] = &[b"http/1.1"];
const H2: &[&[u8]] = &[b"h2"];

fn patterns(list: &[&str]) -> Vec<HostPattern> {
    list.iter().map(|p| p.parse().unwrap()).collect()
}

/// GET https://host/ through the stand-in, trusting its CA; the status and body.
async fn status_of(h: &Harness, host: &str, alpn: &[&[u8]]) -> (StatusCode, String) {
    let reply = h.https_get(host, alpn, "/", &[]).await;
    (reply.status, reply.body)
}

/// Asserts the 403 page for `host:443`, byte for byte.
async fn assert_blocked(h: &Harness, host: &str, alpn: &[&[u8]]) {
    let (status, body) = status_of(h, host, alpn).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{host}: {body}");
    assert_eq!(
        body,
        format!("Blocked by network policy: domain {host}:443")
    );
}

#[tokio::test]
async fn denied_host_gets_the_exact_403_page_inside_tls() {
    let h = Harness::start(TestCa::new("public"), |b| {
        b.deny(patterns(&["blocked.test"]))
    })
    .await;
    for alpn in [H1, H2] {
        assert_blocked(&h, "blocked.test", alpn).await;
    }
}

#[tokio::test]
async fn denied_host_names_the_port_as_requested() {
    let h = Harness::start(TestCa::new("public"), |b| {
        b.deny(patterns(&["blocked.test"]))
    })
    .await;
    let client = client_config(&[h.standin.ca_pem()], H1);
    let tls = tls_through(h.proxy(), "blocked.test", 8443, client)
        .await
        .unwrap();
    let reply = get(tls, "blocked.test", "/", &[]).await;
    assert_eq!(
        reply.body,
        "Blocked by network policy: domain blocked.test:8443"
    );
}

#[tokio::test]
async fn connect_reply_style_answers_the_connect_itself() {
    let h = Harness::start(TestCa::new("public"), |b| {
        b.deny(patterns(&["blocked.test"]))
            .deny_style(DenyStyle::ConnectReply)
    })
    .await;
    let mut reply = connect(h.proxy(), "blocked.test:443").await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN, "{}", reply.head);
    assert_eq!(
        reply.read_body().await,
        "Blocked by network policy: domain blocked.test:443"
    );
}

#[tokio::test]
async fn denied_plain_http_gets_the_403_page_with_its_port() {
    let upstream = http_echo().await;
    let h = Harness::start(TestCa::new("public"), |b| {
        b.maps([map_entry("plain.test", upstream.addr())])
            .deny(patterns(&["plain.test"]))
    })
    .await;
    let reply = plain_get(h.proxy(), "http://plain.test/").await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert_eq!(
        reply.body,
        "Blocked by network policy: domain plain.test:80"
    );
}

#[tokio::test]
async fn default_deny_lets_only_the_allow_list_through() {
    let public = TestCa::new("public");
    let upstream = https_echo(&public, &["api.test", "other.test"]).await;
    let h = Harness::start(public, |b| {
        b.maps([
            map_entry("api.test", upstream.addr()),
            map_entry("other.test", upstream.addr()),
        ])
        .default_policy(DefaultPolicy::Deny)
        .allow(patterns(&["api.test"]))
    })
    .await;
    assert_eq!(status_of(&h, "api.test", H1).await.0, StatusCode::OK);
    assert_blocked(&h, "other.test", H1).await;
}

#[tokio::test]
async fn one_label_and_any_depth_wildcards_through_the_proxy() {
    let public = TestCa::new("public");
    let names = [
        "a.one.test",
        "a.b.one.test",
        "a.deep.test",
        "a.b.deep.test",
        "deep.test",
    ];
    let upstream = https_echo(&public, &names).await;
    let h = Harness::start(public, |b| {
        b.maps(names.iter().map(|n| map_entry(n, upstream.addr())))
            .default_policy(DefaultPolicy::Deny)
            .allow(patterns(&["*.one.test", "**.deep.test"]))
    })
    .await;
    let table = [
        ("a.one.test", StatusCode::OK),
        ("a.b.one.test", StatusCode::FORBIDDEN),
        ("a.deep.test", StatusCode::OK),
        ("a.b.deep.test", StatusCode::OK),
        ("deep.test", StatusCode::FORBIDDEN),
    ];
    for (host, want) in table {
        assert_eq!(status_of(&h, host, H1).await.0, want, "{host}");
    }
}

#[tokio::test]
async fn deny_wins_over_allow() {
    let public = TestCa::new("public");
    let upstream = https_echo(&public, &["x.api.test"]).await;
    let h = Harness::start(public, |b| {
        b.maps([map_entry("x.api.test", upstream.addr())])
            .allow(patterns(&["**.api.test"]))
            .deny(patterns(&["x.api.test"]))
    })
    .await;
    assert_blocked(&h, "x.api.test", H1).await;
}

#[tokio::test]
async fn bypass_tunnels_untouched_so_the_client_sees_the_upstream_certificate() {
    let public = TestCa::new("public");
    let upstream = https_echo(&public, &["wa.test"]).await;
    let h = Harness::start(public, |b| {
        b.maps([map_entry("wa.test", upstream.addr())])
            .bypass(patterns(&["wa.test"]))
    })
    .await;
    // Verifies with the public CA alone: only the upstream's own certificate passes.
    let public_only = client_config(&[h.public.pem()], H2);
    let tls = tls_through(h.proxy(), "wa.test", 443, public_only)
        .await
        .unwrap();
    let reply = get(tls, "wa.test", "/direct", &[]).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.echo().version, "HTTP/2.0", "ALPN went end to end");
    // And the stand-in's CA alone fails: nothing was intercepted.
    let standin_only = client_config(&[h.standin.ca_pem()], H1);
    let error = tls_through(h.proxy(), "wa.test", 443, standin_only)
        .await
        .unwrap_err();
    assert_unknown_issuer(&error);
}

#[tokio::test]
async fn bypass_to_an_unreachable_host_answers_502_on_the_connect() {
    let closed = closed_port();
    let h = Harness::start(TestCa::new("public"), |b| {
        b.maps([map_entry("down.test", closed)])
            .bypass(patterns(&["down.test"]))
    })
    .await;
    let reply = connect(h.proxy(), "down.test:443").await;
    assert_eq!(reply.status, StatusCode::BAD_GATEWAY, "{}", reply.head);
}

#[tokio::test]
async fn bypass_never_opens_a_denied_host() {
    let h = Harness::start(TestCa::new("public"), |b| {
        b.bypass(patterns(&["**"]))
            .deny(patterns(&["blocked.test"]))
    })
    .await;
    assert_blocked(&h, "blocked.test", H1).await;
}

#[tokio::test]
async fn a_cidr_deny_blocks_ip_literals_and_leaves_names_alone() {
    let public = TestCa::new("public");
    let upstream = https_echo(&public, &["api.test"]).await;
    let h = Harness::start(public, |b| {
        b.maps([map_entry("api.test", upstream.addr())])
            .deny(patterns(&["127.0.0.0/8"]))
            .deny_style(DenyStyle::ConnectReply)
    })
    .await;
    // An IP literal in the range: the policy page on the CONNECT itself,
    // though a server listens there.
    let authority = format!("127.0.0.1:{}", upstream.addr().port());
    let mut reply = connect(h.proxy(), &authority).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN, "{}", reply.head);
    assert_eq!(
        reply.read_body().await,
        format!("Blocked by network policy: domain {authority}")
    );
    // A name is never matched by a range, even one mapped into it.
    assert_eq!(status_of(&h, "api.test", H1).await.0, StatusCode::OK);
}
