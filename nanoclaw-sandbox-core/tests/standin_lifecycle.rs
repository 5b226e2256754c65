//! The stand-in's life: its CA reused across restarts, the env file written
//! only once it listens, shutdown and drop, and start-up errors that name
//! the input and the fix.

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use base64::Engine;
use hyper::StatusCode;
use nanoclaw_sandbox_core::standin::{
    self, StandinConfig, StandinError, CA_CERT_FILE, CA_KEY_FILE,
};
use nanoclaw_testkit::ca::{client_config, TestCa};
use nanoclaw_testkit::envfile;
use nanoclaw_testkit::https::https_echo;
use support::standin_client::{connect, get, map_entry, tls_through, Harness};
use tokio::net::TcpStream;

fn on_free_port() -> standin::StandinConfigBuilder {
    StandinConfig::builder().listen(standin::parse_listen_addr("0").unwrap())
}

#[tokio::test]
async fn ca_is_reused_across_restarts_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let ca_dir = dir.path().join("ca");
    let public = TestCa::new("public");
    let upstream = https_echo(&public, &["api.test"]).await;
    let public_file = public.write_pem(dir.path(), "public.pem");
    let config = on_free_port()
        .ca_dir(&ca_dir)
        .maps([map_entry("api.test", upstream.addr())])
        .upstream_ca_files([public_file])
        .build();

    let first = standin::start(config.clone()).await.unwrap();
    let first_pem = first.ca_pem().to_string();
    let key = std::fs::read(ca_dir.join(CA_KEY_FILE)).unwrap();
    assert_eq!(
        std::fs::read_to_string(ca_dir.join(CA_CERT_FILE)).unwrap(),
        first_pem
    );
    assert_eq!(first.ca_cert_path(), ca_dir.join(CA_CERT_FILE));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(ca_dir.join(CA_KEY_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "the CA key is private");
    }
    first.shutdown().await;

    let second = standin::start(config).await.unwrap();
    assert_eq!(
        second.ca_pem(),
        first_pem,
        "same CA certificate after a restart"
    );
    assert_eq!(
        std::fs::read(ca_dir.join(CA_KEY_FILE)).unwrap(),
        key,
        "same key"
    );
    // A client that trusted the first run's CA still works with the second.
    let client = client_config(&[&first_pem], &[b"http/1.1"]);
    let tls = tls_through(second.addr(), "api.test", 443, client)
        .await
        .unwrap();
    assert_eq!(get(tls, "api.test", "/", &[]).await.status, StatusCode::OK);
}

#[tokio::test]
async fn env_file_appears_only_once_listening_and_names_proxy_and_ca() {
    let dir = tempfile::tempdir().unwrap();
    let env_file = dir.path().join("standin.env");
    std::fs::write(&env_file, "HTTPS_PROXY=http://127.0.0.1:1\n").unwrap();
    let config = on_free_port()
        .ca_dir(dir.path().join("ca"))
        .env_file(&env_file)
        .build();
    let starting = tokio::spawn(standin::start(config));

    // A script's wait loop: the moment the file is there, the proxy must answer.
    let mut text = None;
    for _ in 0..5000 {
        match std::fs::read_to_string(&env_file) {
            Ok(t) if !t.contains(":1\n") => {
                text = Some(t);
                break;
            }
            _ => tokio::task::yield_now().await,
        }
    }
    let vars = envfile::parse(&text.expect("the env file appeared"));
    let proxy = vars["HTTPS_PROXY"]
        .strip_prefix("http://")
        .unwrap()
        .to_string();
    TcpStream::connect(&proxy)
        .await
        .expect("listening when the env file appears");

    let standin = starting.await.unwrap().unwrap();
    assert_eq!(proxy, standin.addr().to_string());
    let names: Vec<&str> = vars.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        [
            "HTTPS_PROXY",
            "HTTP_PROXY",
            "PROXY_CA_CERT_B64",
            "http_proxy",
            "https_proxy"
        ]
    );
    for name in ["HTTP_PROXY", "http_proxy", "https_proxy"] {
        assert_eq!(vars[name], standin.proxy_url(), "{name}");
    }
    let pem = base64::engine::general_purpose::STANDARD
        .decode(&vars["PROXY_CA_CERT_B64"])
        .unwrap();
    assert_eq!(String::from_utf8(pem).unwrap(), standin.ca_pem());
    assert!(
        !standin.ca_pem().contains("PRIVATE"),
        "only the public certificate is shared"
    );
    let handle_vars: BTreeMap<String, String> = standin.env_vars().iter().cloned().collect();
    assert_eq!(handle_vars, vars);

    standin.shutdown().await;
    assert!(
        !env_file.exists(),
        "a stopped stand-in leaves no env file claiming it listens"
    );
}

#[tokio::test]
async fn shutdown_and_drop_both_close_the_port() {
    let dir = tempfile::tempdir().unwrap();
    let standin = standin::start(on_free_port().ca_dir(dir.path()).build())
        .await
        .unwrap();
    let addr = standin.addr();
    TcpStream::connect(addr).await.unwrap();
    standin.shutdown().await;
    assert!(
        TcpStream::connect(addr).await.is_err(),
        "closed after shutdown"
    );

    let standin = standin::start(on_free_port().ca_dir(dir.path()).build())
        .await
        .unwrap();
    let addr = standin.addr();
    drop(standin);
    let mut closed = false;
    for _ in 0..100 {
        if TcpStream::connect(addr).await.is_err() {
            closed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(closed, "closed after the handle was dropped");
}

#[tokio::test]
async fn listening_on_every_address_advertises_loopback() {
    let dir = tempfile::tempdir().unwrap();
    let config = StandinConfig::builder()
        .listen("0.0.0.0:0".parse().unwrap())
        .ca_dir(dir.path())
        .build();
    let standin = standin::start(config).await.unwrap();
    assert_eq!(
        standin.proxy_url(),
        format!("http://127.0.0.1:{}", standin.addr().port())
    );
}

#[tokio::test]
async fn a_port_in_use_is_named_with_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let error = standin::start(
        StandinConfig::builder()
            .listen(addr)
            .ca_dir(dir.path())
            .build(),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(error, StandinError::PortInUse { addr: a } if a == addr),
        "{error:?}"
    );
    let message = error.to_string();
    assert!(
        message.contains(&addr.to_string()) && message.contains("--listen"),
        "{message}"
    );
}

#[tokio::test]
async fn an_unusable_ca_dir_is_named_with_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, "not a directory").unwrap();
    let error = standin::start(on_free_port().ca_dir(file.join("ca")).build())
        .await
        .unwrap_err();
    assert!(matches!(error, StandinError::CaDir { .. }), "{error:?}");
    assert!(error.to_string().contains("--ca-dir"), "{error}");
}

#[tokio::test]
async fn an_upstream_ca_file_without_certificates_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.pem");
    std::fs::write(&empty, "no pem here\n").unwrap();
    let error = standin::start(
        on_free_port()
            .ca_dir(dir.path())
            .upstream_ca_files([empty.clone()])
            .build(),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(error, StandinError::UpstreamCa { ref path, .. } if *path == empty),
        "{error:?}"
    );
    assert!(error.to_string().contains("CERTIFICATE"), "{error}");
    let missing = dir.path().join("missing.pem");
    let error = standin::start(
        on_free_port()
            .ca_dir(dir.path())
            .upstream_ca_files([missing])
            .build(),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(error, StandinError::UpstreamCa { .. }),
        "{error:?}"
    );
}

#[tokio::test]
async fn graceful_shutdown_lets_an_in_flight_request_finish() {
    let public = TestCa::new("public");
    let upstream = https_echo(&public, &["api.test"]).await;
    let h = Harness::start(public, |b| b.maps([map_entry("api.test", upstream.addr())])).await;
    let client = client_config(&[h.standin.ca_pem()], &[b"http/1.1"]);
    let tls = tls_through(h.proxy(), "api.test", 443, client)
        .await
        .unwrap();
    let in_flight = tokio::spawn(get(tls, "api.test", "/delay/300", &[]));
    tokio::time::sleep(Duration::from_millis(100)).await;
    let addr = h.proxy();
    h.standin.shutdown().await;
    let reply = in_flight.await.unwrap();
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    assert!(
        TcpStream::connect(addr).await.is_err(),
        "closed after shutdown"
    );
}

#[tokio::test]
async fn shutdown_cuts_idle_tunnels_after_the_grace_period() {
    use tokio::io::AsyncReadExt;
    let public = TestCa::new("public");
    let upstream = https_echo(&public, &["wa.test"]).await;
    let h = Harness::start(public, |b| {
        b.maps([map_entry("wa.test", upstream.addr())])
            .bypass(["wa.test".parse().unwrap()])
            .shutdown_grace(Duration::from_millis(200))
    })
    .await;
    let mut tunnel = connect(h.proxy(), "wa.test:443").await;
    assert_eq!(tunnel.status, StatusCode::OK);
    let started = std::time::Instant::now();
    h.standin.shutdown().await;
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    let mut byte = [0u8; 1];
    let read = tokio::time::timeout(Duration::from_secs(3), tunnel.stream.read(&mut byte)).await;
    assert!(
        matches!(read, Ok(Ok(0)) | Ok(Err(_))),
        "the tunnel was closed: {read:?}"
    );
}
