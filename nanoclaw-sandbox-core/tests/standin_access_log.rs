//! The stand-in's access log: one line per request naming method, host,
//! port, decision and status; never a path, never an injected secret.
//!
//! One test in this binary, on purpose: it installs a global `tracing`
//! subscriber before any traffic (see `support::standin_logs` for why).

mod support;

use hyper::StatusCode;
use nanoclaw_sandbox_core::standin::ACCESS_LOG_TARGET;
use nanoclaw_testkit::ca::TestCa;
use nanoclaw_testkit::https::{http_echo, https_echo};
use support::standin_client::{connect, map_entry, plain_get, Harness};
use support::standin_logs::LogCapture;

const SECRET: &str = "sk-ant-REAL-SECRET-VALUE";

fn assert_fields(line: &str, fields: &[&str]) {
    for field in fields {
        assert!(line.contains(field), "`{field}` missing in {line}");
    }
}

#[tokio::test]
async fn access_log_names_each_request_and_its_decision_without_paths_or_secrets() {
    let logs = LogCapture::install_global();
    let public = TestCa::new("public test CA");
    let https = https_echo(&public, &["api.test", "wa.test"]).await;
    let plain = http_echo().await;
    let h = Harness::start(public, |b| {
        b.maps([
            map_entry("api.test", https.addr()),
            map_entry("wa.test", https.addr()),
            map_entry("plain.test", plain.addr()),
        ])
        .deny(["blocked.test".parse().unwrap()])
        .bypass(["wa.test".parse().unwrap()])
        .injections([format!("api.test:x-api-key={SECRET}").parse().unwrap()])
    })
    .await;
    logs.clear();

    let reply = h
        .https_get("api.test", &[b"h2"], "/v1/messages?token=t0ps3cret", &[])
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    let reply = h.https_get("blocked.test", &[b"http/1.1"], "/", &[]).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    let reply = plain_get(h.proxy(), "http://plain.test/bot123:SECRET/sendMessage").await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(
        connect(h.proxy(), "wa.test:443").await.status,
        StatusCode::OK
    );

    let access = logs.lines_of(ACCESS_LOG_TARGET);
    assert_eq!(access.len(), 4, "{access:#?}");
    let common = ["peer=127.0.0.1:"];
    assert_fields(
        &access[0],
        &[
            "method=GET",
            r#"host="api.test""#,
            "port=443",
            r#"decision="intercept""#,
            "status=200",
        ],
    );
    assert_fields(
        &access[1],
        &[
            "method=GET",
            r#"host="blocked.test""#,
            r#"decision="deny""#,
            "status=403",
        ],
    );
    assert_fields(
        &access[2],
        &[
            "method=GET",
            r#"host="plain.test""#,
            "port=80",
            "status=200",
        ],
    );
    assert_fields(
        &access[3],
        &[
            "method=CONNECT",
            r#"host="wa.test""#,
            r#"decision="bypass""#,
            "status=200",
        ],
    );
    for line in &access {
        assert_fields(line, &common);
    }
    let everything = logs.lines();
    for secret in [SECRET, "t0ps3cret", "bot123", "/v1/messages"] {
        assert!(
            everything.iter().all(|l| !l.contains(secret)),
            "`{secret}` logged: {everything:#?}"
        );
    }
}
