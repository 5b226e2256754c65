//! `agent --get URL`: the library's client as an agent process builds it
//! from its environment, through the proxy stand-in (no Docker needed).

mod cli_support;

use std::collections::BTreeMap;
use std::sync::Arc;

use cli_support::{agent_get, agent_with_env, plain_http_server, text, ProxyProcess};
use nanoclaw_cli::upstream::{HttpsUpstream, LocalCa, Responder};

#[test]
fn prints_the_status_and_body_and_fails_on_an_error_status() {
    let server = plain_http_server();
    let map = format!("plain.test={}", server.addr());
    let proxy = ProxyProcess::start(&["--map", &map]);
    let assert = agent_with_env(&proxy.env())
        .args(["--get", "http://plain.test/page"])
        .assert()
        .code(0);
    assert_eq!(
        text(&assert.get_output().stdout),
        "HTTP/1.1 200 OK\nhello from plain.test /page\n"
    );
    let assert = agent_with_env(&proxy.env())
        .args(["--get", "http://plain.test/missing"])
        .assert()
        .code(22);
    assert!(text(&assert.get_output().stdout).starts_with("HTTP/1.1 404 Not Found\n"));
}

#[test]
fn an_untrusted_proxy_ca_exits_60_with_the_typed_error() {
    let proxy = ProxyProcess::start(&["--default", "deny"]);
    let mut env = proxy.env();
    env.remove("PROXY_CA_CERT_B64");
    let assert = agent_with_env(&env)
        .args(["--get", "https://api.test/"])
        .assert()
        .code(60);
    let stderr = text(&assert.get_output().stderr);
    assert!(stderr.contains("the sandbox CA is not trusted"), "{stderr}");
}

#[test]
fn an_unreachable_proxy_exits_1_naming_it() {
    let closed = nanoclaw_testkit::net::closed_port();
    let url = format!("http://{closed}");
    let env = BTreeMap::from([("HTTPS_PROXY".to_string(), url.clone())]);
    let assert = agent_with_env(&env)
        .args(["--get", "https://api.test/"])
        .assert()
        .code(1);
    let stderr = text(&assert.get_output().stderr);
    assert!(
        stderr.contains(&format!("proxy {url} is unreachable")),
        "{stderr}"
    );
}

/// Inside a patched container the CA is a file named by
/// `NODE_EXTRA_CA_CERTS` (no `PROXY_CA_CERT_B64`): detection finds it there.
#[tokio::test(flavor = "multi_thread")]
async fn the_ca_file_named_by_node_extra_ca_certs_is_trusted() {
    let public = LocalCa::generate("public test CA").unwrap();
    let respond: Responder = Arc::new(|request| format!("verified {}", request.path));
    let upstream = HttpsUpstream::start(&public, &["api.test"], respond)
        .await
        .unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let public_file = scratch.path().join("public.pem");
    std::fs::write(&public_file, public.pem()).unwrap();
    let map = format!("api.test={}", upstream.addr());
    let proxy = ProxyProcess::start(&[
        "--map",
        &map,
        "--upstream-ca",
        public_file.to_str().unwrap(),
    ]);
    let mut env = proxy.env();
    env.remove("PROXY_CA_CERT_B64");
    let ca_file = proxy.ca_dir.join("proxy-ca.crt");
    env.insert(
        "NODE_EXTRA_CA_CERTS".into(),
        ca_file.to_string_lossy().into_owned(),
    );
    let (code, stdout, stderr) = agent_get(env, "https://api.test/through").await;
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert!(stdout.ends_with("\nverified /through\n"), "{stdout}");
}
