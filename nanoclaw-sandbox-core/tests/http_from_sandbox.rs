//! `HttpClient::from_sandbox`: a client built from the detected environment
//! reaches an intercepted upstream through the stand-in with the CA the
//! environment names, and reports the untrusted CA without it.

mod support;

use nanoclaw_sandbox_core::http::{HttpClient, HttpError};
use nanoclaw_sandbox_core::proxy::PROXY_CA_B64_VAR;
use nanoclaw_sandbox_core::sandbox::{DetectOptions, SandboxEnv};
use nanoclaw_testkit::ca::TestCa;
use nanoclaw_testkit::https::{https_echo, Echo, Server};
use support::standin_client::{map_entry, Harness};

/// A stand-in mapping `api.test` to an HTTPS echo whose certificate the
/// "public" test CA issued (trusted by the stand-in only).
async fn standin_with_upstream() -> (Harness, Server) {
    let public = TestCa::new("public test CA");
    let upstream = https_echo(&public, &["api.test"]).await;
    let harness =
        Harness::start(public, |b| b.maps([map_entry("api.test", upstream.addr())])).await;
    (harness, upstream)
}

/// Detection over the stand-in's env-file variables only (never this
/// machine's CA files), minus the names in `without`.
fn detect(harness: &Harness, without: &[&str]) -> SandboxEnv {
    let vars = harness.standin.env_vars().to_vec();
    let options = DetectOptions::default()
        .with_sandbox_ca_path(harness.dir.path().join("no-sandbox-ca.crt"))
        .with_system_bundle_paths([]);
    SandboxEnv::detect_from(
        |name| {
            vars.iter()
                .find(|(n, _)| n == name && !without.contains(&name))
                .map(|(_, v)| v.clone())
        },
        &options,
    )
    .unwrap()
}

#[tokio::test]
async fn the_detected_ca_is_trusted_and_requests_go_through_the_proxy() {
    let (harness, _upstream) = standin_with_upstream().await;
    let env = detect(&harness, &[]);
    assert!(env.trust_store().is_some(), "the CA comes from the env");
    let client = HttpClient::from_sandbox(&env).unwrap();
    let reply = client.get("https://api.test/from-sandbox").await.unwrap();
    assert_eq!(reply.status(), 200);
    let echo: Echo = serde_json::from_slice(reply.body()).unwrap();
    assert_eq!(echo.path, "/from-sandbox");
}

#[tokio::test]
async fn without_the_ca_the_error_says_the_sandbox_ca_is_not_trusted() {
    let (harness, _upstream) = standin_with_upstream().await;
    let env = detect(&harness, &[PROXY_CA_B64_VAR]);
    assert!(env.trust_store().is_none());
    let client = HttpClient::from_sandbox(&env).unwrap();
    let err = client.get("https://api.test/").await.unwrap_err();
    assert!(matches!(err, HttpError::CaNotTrusted { .. }), "{err}");
    assert!(
        err.to_string().contains("sandbox CA is not trusted"),
        "{err}"
    );
}
