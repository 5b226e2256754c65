//! The doctor's network checks through the library's stand-in (the client
//! tests' fixture): 407 with and without credentials (the test kit's fault
//! proxy in front: the stand-in has no proxy auth), policy refusals at
//! CONNECT and inside TLS, a proxy that does not intercept (every host
//! bypassed), a passthrough host tunnelled untouched, and credentials never
//! shown.

mod support;

use base64::Engine;
use nanoclaw_sandbox_core::doctor::{Check, CheckId, Doctor, Status};
use nanoclaw_sandbox_core::sandbox::DetectOptions;
use nanoclaw_sandbox_core::standin::DenyStyle;
use serde_json::Value;
use support::client_fixture::*;

/// The doctor for `vars`, probing `upstream.test`, with the test CA as the
/// public roots and none of this machine's CA files.
async fn doctor(upstreams: &Upstreams, vars: &[(&str, String)]) -> Vec<Check> {
    Doctor::new(vars.iter().map(|(k, v)| (k.to_string(), v.clone())))
        .detect_options(
            DetectOptions::default()
                .with_sandbox_ca_path("/nonexistent/proxy-ca.crt")
                .with_system_bundle_paths(Vec::new()),
        )
        .probe_url(format!("https://{UPSTREAM}/"))
        .passthrough_urls([format!("https://{WHATSAPP}/")])
        .public_roots(vec![upstreams.ca.cert_der()])
        .timeouts(test_timeouts())
        .run()
        .await
}

fn find<'a>(checks: &'a [Check], id: &str) -> &'a Check {
    checks
        .iter()
        .find(|c| c.id.as_str() == id)
        .unwrap_or_else(|| panic!("{id} in {checks:#?}"))
}

fn assert_no_secret(checks: &[Check], secret: &str) {
    let json: Value = serde_json::to_value(checks).unwrap();
    assert!(!json.to_string().contains(secret), "{json:#}");
}

#[tokio::test]
async fn a_407_names_the_fix_and_credentials_in_the_url_pass() {
    let upstreams = Upstreams::start().await;
    let tunnel = plain_tunnel(&upstreams).await;
    let proxy = fault_proxy(&tunnel, |o| {
        o.require_auth = Some(("agent".into(), "hunter2".into()));
    })
    .await;
    let checks = doctor(&upstreams, &[("HTTPS_PROXY", proxy.url())]).await;
    let reachable = find(&checks, "proxy-reachable");
    assert_eq!(reachable.status, Status::Fail, "{reachable}");
    assert!(reachable.detail.contains("(407)"), "{reachable}");
    assert!(
        reachable
            .fix
            .as_deref()
            .unwrap()
            .contains("http://USER:PASSWORD@HOST:PORT"),
        "{reachable}"
    );

    let with_credentials = proxy.url_with_credentials("agent", "hunter2");
    let checks = doctor(&upstreams, &[("HTTPS_PROXY", with_credentials)]).await;
    assert_eq!(find(&checks, "proxy-reachable").status, Status::Pass);
    assert_no_secret(&checks, "hunter2");
}

#[tokio::test]
async fn a_proxy_that_does_not_intercept_needs_no_ca() {
    let upstreams = Upstreams::start().await;
    let proxy = plain_tunnel(&upstreams).await;
    let checks = doctor(&upstreams, &[("HTTPS_PROXY", proxy.proxy_url().into())]).await;
    let tls = find(&checks, "tls-probe");
    assert_eq!(tls.status, Status::Pass, "{tls}");
    assert!(
        tls.detail
            .contains("does not intercept TLS here, no CA needed"),
        "{tls}"
    );
    assert_eq!(find(&checks, "proxy-ca").status, Status::Warn);
    let passthrough = find(&checks, "passthrough");
    assert_eq!(passthrough.status, Status::Pass, "{passthrough}");
    assert!(passthrough.detail.contains(WHATSAPP), "{passthrough}");
}

#[tokio::test]
async fn a_policy_refusal_at_connect_fails_the_reachability_check() {
    let upstreams = Upstreams::start().await;
    let proxy = standin(&upstreams, |b| {
        b.bypass([every_host()])
            .deny([UPSTREAM.parse().unwrap()])
            .deny_style(DenyStyle::ConnectReply)
    })
    .await;
    let checks = doctor(&upstreams, &[("HTTPS_PROXY", proxy.proxy_url().into())]).await;
    for id in ["proxy-reachable", "tls-probe"] {
        let check = find(&checks, id);
        assert_eq!(check.status, Status::Fail, "{check}");
        assert!(
            check
                .fix
                .as_deref()
                .unwrap()
                .contains("sbx policy allow network upstream.test"),
            "{check}"
        );
    }
}

#[tokio::test]
async fn a_policy_page_inside_tls_fails_the_tls_probe() {
    let upstreams = Upstreams::start().await;
    let proxy = standin(&upstreams, |b| {
        b.deny([UPSTREAM.parse().unwrap()])
            .deny_style(DenyStyle::InsideTls)
    })
    .await;
    let ca_b64 = base64::engine::general_purpose::STANDARD.encode(proxy.ca_pem());
    let checks = doctor(
        &upstreams,
        &[
            ("HTTPS_PROXY", proxy.proxy_url().into()),
            ("PROXY_CA_CERT_B64", ca_b64),
        ],
    )
    .await;
    assert_eq!(find(&checks, "proxy-reachable").status, Status::Pass);
    let tls = find(&checks, "tls-probe");
    assert_eq!(tls.status, Status::Fail, "{tls}");
    assert!(tls.detail.contains("Blocked by network policy"), "{tls}");
}

#[tokio::test]
async fn a_dead_proxy_fails_the_network_checks_and_skips_nothing_else() {
    let upstreams = Upstreams::start().await;
    let dead = format!(
        "http://agent:hunter2@{}",
        nanoclaw_testkit::net::closed_port()
    );
    let checks = doctor(&upstreams, &[("HTTPS_PROXY", dead)]).await;
    for id in ["proxy-reachable", "tls-probe"] {
        assert_eq!(find(&checks, id).status, Status::Fail, "{id}");
    }
    assert!(find(&checks, "proxy-reachable")
        .fix
        .as_deref()
        .unwrap()
        .contains("host.docker.internal:3128"));
    assert_eq!(find(&checks, "proxy-env").status, Status::Pass);
    assert_no_secret(&checks, "hunter2");
    let ids: Vec<CheckId> = checks.iter().map(|c| c.id).collect();
    // Without an engine or containers, each check runs once, in order.
    assert_eq!(ids, CheckId::ALL);
}
