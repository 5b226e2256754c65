//! `nanoclaw-sandbox proxy` through the built binary: the library's stand-in
//! is tested on its own; these prove the flags reach it.

mod cli_support;

use std::io::Read;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use cli_support::{
    agent_get, agent_with_env, banner_server, cli, plain_http_server, proxy_connect,
    proxy_plain_get, text, ProxyProcess,
};
use nanoclaw_cli::upstream::{HttpsUpstream, LocalCa, Responder};

#[test]
fn prints_the_address_and_writes_the_env_file_once_listening_then_removes_it() {
    let proxy = ProxyProcess::start(&[]);
    assert_ne!(proxy.addr.port(), 0);
    std::net::TcpStream::connect(proxy.addr).expect("it listens where it says");
    let env = proxy.env();
    let url = format!("http://{}", proxy.addr);
    for name in ["HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy"] {
        assert_eq!(env.get(name), Some(&url), "{name}: {env:?}");
    }
    let ca = base64::engine::general_purpose::STANDARD
        .decode(&env["PROXY_CA_CERT_B64"])
        .unwrap();
    assert_eq!(
        ca,
        std::fs::read(proxy.ca_dir.join("proxy-ca.crt")).unwrap()
    );

    let env_file = proxy.env_file.clone();
    let (status, stderr) = proxy.stop("TERM");
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert!(!env_file.exists(), "the env file goes with the proxy");
}

#[test]
fn a_port_in_use_is_an_error_and_leaves_no_env_file() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();
    let env_file = dir.path().join("standin.env");
    // A stale file from an earlier run must not say "listening".
    std::fs::write(&env_file, "HTTPS_PROXY=http://127.0.0.1:1\n").unwrap();
    let assert = cli()
        .args(["proxy", "--listen", &port, "--ca-dir"])
        .arg(dir.path().join("ca"))
        .arg("--env-file")
        .arg(&env_file)
        .assert()
        .code(1);
    let stderr = text(&assert.get_output().stderr);
    assert!(stderr.contains("already in use"), "{stderr}");
    assert!(text(&assert.get_output().stdout).is_empty());
    assert!(!env_file.exists());
}

#[test]
fn policy_allows_denies_with_a_403_page_and_matches_wildcards() {
    let plain = plain_http_server();
    let server = plain.addr().to_string();
    let maps: Vec<String> = [
        "a.one.test",
        "b.a.one.test",
        "no.one.test",
        "x.y.any.test",
        "other.test",
    ]
    .iter()
    .map(|host| format!("{host}={server}"))
    .collect();
    let mut args = vec![
        "--default",
        "deny",
        "--allow",
        "*.one.test",
        "--allow",
        "**.any.test",
        "--deny",
        "no.one.test",
    ];
    for map in &maps {
        args.extend(["--map", map.as_str()]);
    }
    let proxy = ProxyProcess::start(&args);

    let allowed = proxy_plain_get(proxy.addr, "http://a.one.test/x");
    assert!(allowed.starts_with("HTTP/1.1 200"), "{allowed}");
    assert!(allowed.ends_with("hello from a.one.test /x"), "{allowed}");
    let deep = proxy_plain_get(proxy.addr, "http://x.y.any.test/");
    assert!(deep.starts_with("HTTP/1.1 200"), "`**.` any depth: {deep}");

    for (host, why) in [
        ("b.a.one.test", "`*.` is one label only"),
        ("no.one.test", "deny wins over allow"),
        ("other.test", "the default is deny"),
    ] {
        let denied = proxy_plain_get(proxy.addr, &format!("http://{host}/"));
        assert!(denied.starts_with("HTTP/1.1 403"), "{why}: {denied}");
        assert!(
            denied.ends_with(&format!("Blocked by network policy: domain {host}:80")),
            "{why}: {denied}"
        );
    }

    // HTTPS: the page comes inside the intercepted session, and the
    // library's client names the host and the fix.
    let assert = agent_with_env(&proxy.env())
        .args(["--get", "https://other.test/"])
        .assert()
        .code(1);
    let stderr = text(&assert.get_output().stderr);
    assert!(
        stderr.contains("the network policy blocks other.test"),
        "{stderr}"
    );
}

#[test]
fn bypass_tunnels_the_bytes_untouched_while_others_are_intercepted() {
    let banner = banner_server("BANNER-FROM-UPSTREAM\n").to_string();
    let (bypass_map, intercept_map) = (
        format!("tunnel.test={banner}"),
        format!("inspected.test={banner}"),
    );
    let proxy = ProxyProcess::start(&[
        "--bypass",
        "tunnel.test",
        "--map",
        &bypass_map,
        "--map",
        &intercept_map,
    ]);

    let (mut tunnel, head) = proxy_connect(proxy.addr, "tunnel.test:443");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let mut heard = [0u8; 21];
    tunnel.read_exact(&mut heard).unwrap();
    assert_eq!(&heard, b"BANNER-FROM-UPSTREAM\n", "bypass: raw bytes");

    // Intercepted: the proxy waits for the client's TLS hello and never
    // passes the upstream's bytes through.
    let (mut inspected, head) = proxy_connect(proxy.addr, "inspected.test:443");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    inspected
        .set_read_timeout(Some(Duration::from_millis(700)))
        .unwrap();
    let mut byte = [0u8; 1];
    let read = inspected.read(&mut byte);
    assert!(
        read.is_err(),
        "an intercepted tunnel relayed upstream bytes: {read:?}"
    );
}

#[test]
fn the_ca_is_reused_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let ca_dir = dir.path().join("ca");
    let first = ProxyProcess::start_with_ca_dir(&[], &ca_dir);
    let first_ca = first.env()["PROXY_CA_CERT_B64"].clone();
    let (status, _) = first.stop("INT");
    assert_eq!(status.code(), Some(0), "Ctrl-C is a clean stop");

    let second = ProxyProcess::start_with_ca_dir(&[], &ca_dir);
    assert_eq!(second.env()["PROXY_CA_CERT_B64"], first_ca);
    let other = ProxyProcess::start(&[]);
    assert_ne!(
        other.env()["PROXY_CA_CERT_B64"],
        first_ca,
        "a fresh CA elsewhere"
    );
}

/// An HTTPS upstream answering with the request's headers, one per line.
async fn header_echo(ca: &LocalCa) -> HttpsUpstream {
    let respond: Responder = Arc::new(|request| {
        request
            .headers
            .iter()
            .map(|(name, value)| format!("{name}: {value}\n"))
            .collect()
    });
    HttpsUpstream::start(ca, &["api.inject.test", "other.inject.test"], respond)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn injection_sets_the_header_on_matching_intercepted_hosts_only() {
    let public = LocalCa::generate("public test CA").unwrap();
    let upstream = header_echo(&public).await;
    let scratch = tempfile::tempdir().unwrap();
    let public_file = scratch.path().join("public.pem");
    std::fs::write(&public_file, public.pem()).unwrap();
    let maps = [
        format!("api.inject.test={}", upstream.addr()),
        format!("other.inject.test={}", upstream.addr()),
    ];
    let proxy = ProxyProcess::start(&[
        "--upstream-ca",
        public_file.to_str().unwrap(),
        "--map",
        &maps[0],
        "--map",
        &maps[1],
        "--inject",
        "api.inject.test:x-api-key=real-secret-value",
    ]);
    let env = proxy.env();
    let get = |url: &'static str| {
        let env = env.clone();
        tokio::task::spawn_blocking(move || {
            let output = agent_with_env(&env).args(["--get", url]).output().unwrap();
            (
                output.status.code(),
                text(&output.stdout),
                text(&output.stderr),
            )
        })
    };

    let (code, stdout, stderr) = get("https://api.inject.test/").await.unwrap();
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert!(stdout.contains("x-api-key: real-secret-value"), "{stdout}");
    let (code, stdout, stderr) = agent_get(proxy.env(), "https://other.inject.test/").await;
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert!(stdout.contains("host: other.inject.test"), "{stdout}");
    assert!(!stdout.contains("x-api-key"), "only listed hosts: {stdout}");

    let (status, log) = proxy.stop("TERM");
    assert!(status.success());
    assert!(log.contains("api.inject.test:443 intercept 200"), "{log}");
    assert!(
        !log.contains("real-secret-value"),
        "the log shows no secret: {log}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn without_the_upstream_ca_the_upstream_is_refused_not_trusted() {
    let public = LocalCa::generate("public test CA").unwrap();
    let upstream = header_echo(&public).await;
    let map = format!("api.inject.test={}", upstream.addr());
    let proxy = ProxyProcess::start(&["--map", &map]);
    let (code, stdout, _) = agent_get(proxy.env(), "https://api.inject.test/").await;
    assert_eq!(code, Some(22), "{stdout}");
    assert!(
        stdout
            .lines()
            .next()
            .unwrap_or_default()
            .ends_with(" 502 Bad Gateway"),
        "{stdout}"
    );
    assert!(
        stdout.contains("api.inject.test:443"),
        "the page names the target: {stdout}"
    );
}

#[test]
fn bad_flag_values_exit_2_naming_the_flag() {
    for (flag, value) in [
        ("--map", "no-equals-sign"),
        ("--listen", "localhost:3128"),
        ("--allow", "a..b"),
        ("--deny", "*"),
        ("--bypass", "x.*.test"),
        ("--default", "maybe"),
    ] {
        let assert = cli().args(["proxy", flag, value]).assert().code(2);
        let stderr = text(&assert.get_output().stderr);
        assert!(stderr.contains(flag), "{flag}: {stderr}");
    }
    let assert = cli()
        .args(["proxy", "--inject", "bad host:x-api-key=SECRET-VALUE"])
        .assert()
        .code(2);
    let stderr = text(&assert.get_output().stderr);
    assert!(stderr.contains("--inject"), "{stderr}");
    assert!(!stderr.contains("SECRET-VALUE"), "{stderr}");
}
