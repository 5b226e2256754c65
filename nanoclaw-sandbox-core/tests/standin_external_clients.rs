//! Independent clients through the stand-in: the host's `curl` (OpenSSL)
//! and `python3` (urllib, OpenSSL), each with its negative control. They
//! prove the stand-in works for clients this crate did not write; a missing
//! tool skips (fails under `NANOCLAW_REQUIRE_DOCKER=1`).

mod support;

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use nanoclaw_testkit::ca::TestCa;
use nanoclaw_testkit::https::{http_echo, https_echo, Server};
use support::standin_client::{map_entry, Harness};
use tokio::process::Command;

const PYTHON_GET: &str = r#"
import ssl, sys, urllib.error, urllib.request
proxy, url, cafile = sys.argv[1:4]
context = ssl.create_default_context(cafile=cafile)
opener = urllib.request.build_opener(
    urllib.request.ProxyHandler({"https": proxy, "http": proxy}),
    urllib.request.HTTPSHandler(context=context),
)
try:
    with opener.open(url, timeout=20) as response:
        print(response.status)
        print(response.read().decode())
except urllib.error.HTTPError as error:
    print(error.code)
    print(error.read().decode())
"#;

/// A stand-in with `api.test` (HTTPS echo), `plain.test` (HTTP echo) and a
/// denied `blocked.test`.
struct World {
    h: Harness,
    _servers: (Server, Server),
}

async fn world() -> World {
    let public = TestCa::new("public test CA");
    let https = https_echo(&public, &["api.test"]).await;
    let plain = http_echo().await;
    let h = Harness::start(public, |b| {
        b.maps([
            map_entry("api.test", https.addr()),
            map_entry("plain.test", plain.addr()),
        ])
        .deny(["blocked.test".parse().unwrap()])
    })
    .await;
    World {
        h,
        _servers: (https, plain),
    }
}

/// The tool's path, or `None` after reporting it missing.
fn tool(name: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file());
    if found.is_none() {
        nanoclaw_testkit::prereq::missing(name, "not on PATH");
    }
    found
}

/// Runs a client without any proxy or trust variables from the test's
/// environment, so only its arguments decide.
async fn run(program: &Path, args: &[&str]) -> Output {
    let mut command = Command::new(program);
    command.args(args).kill_on_drop(true);
    for var in [
        "HTTPS_PROXY",
        "https_proxy",
        "HTTP_PROXY",
        "http_proxy",
        "ALL_PROXY",
        "all_proxy",
        "NO_PROXY",
        "no_proxy",
        "SSL_CERT_FILE",
        "SSL_CERT_DIR",
        "CURL_CA_BUNDLE",
        "REQUESTS_CA_BUNDLE",
    ] {
        command.env_remove(var);
    }
    tokio::time::timeout(Duration::from_secs(60), command.output())
        .await
        .expect("the client finished in time")
        .expect("the client ran")
}

/// Which CA a client is told to trust.
#[derive(Clone, Copy)]
enum Trust {
    /// The stand-in's CA: what a sandboxed process gets.
    Standin,
    /// The upstream's real CA only: the negative control.
    PublicOnly,
}

impl World {
    fn ca_file(&self, trust: Trust) -> PathBuf {
        match trust {
            Trust::Standin => self.h.standin_ca_file(),
            Trust::PublicOnly => self.h.public_ca_file(),
        }
    }
}

/// The client's stdout, after asserting it succeeded.
fn stdout_of_success(output: &Output) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

async fn curl(curl: &Path, w: &World, trust: Trust, extra: &[&str], url: &str) -> Output {
    let proxy = w.h.standin.proxy_url().to_string();
    let cacert = w.ca_file(trust);
    let cacert = cacert.to_str().unwrap();
    let mut args = vec![
        "-sS",
        "--max-time",
        "30",
        "--proxy",
        &proxy,
        "--cacert",
        cacert,
    ];
    args.extend_from_slice(extra);
    args.push(url);
    run(curl, &args).await
}

async fn python(python: &Path, w: &World, trust: Trust, url: &str) -> Output {
    let proxy = w.h.standin.proxy_url().to_string();
    let cafile = w.ca_file(trust);
    run(
        python,
        &["-c", PYTHON_GET, &proxy, url, cafile.to_str().unwrap()],
    )
    .await
}

/// The tool's path; the test returns (skips) when it is missing.
macro_rules! require {
    ($tool:expr) => {
        match tool($tool) {
            Some(path) => path,
            None => return,
        }
    };
}

const STATUS: &[&str] = &["-w", "\n%{http_code}"];

#[tokio::test]
async fn curl_https_get_through_the_standin_trusting_its_ca() {
    let bin = require!("curl");
    let w = world().await;
    let extra = ["--http1.1", "-w", "\n%{http_code} %{http_version}"];
    let output = curl(
        &bin,
        &w,
        Trust::Standin,
        &extra,
        "https://api.test/curl?x=1",
    )
    .await;
    let stdout = stdout_of_success(&output);
    assert!(stdout.ends_with("\n200 1.1"), "{stdout}");
    assert!(stdout.contains(r#""path":"/curl?x=1""#), "{stdout}");
}

#[tokio::test]
async fn curl_http2_through_the_standin() {
    let bin = require!("curl");
    let w = world().await;
    let extra = ["--http2", "-w", "\n%{http_version}"];
    let output = curl(&bin, &w, Trust::Standin, &extra, "https://api.test/h2").await;
    let stdout = stdout_of_success(&output);
    assert!(stdout.ends_with("\n2"), "{stdout}");
    assert!(stdout.contains(r#""version":"HTTP/2.0""#), "{stdout}");
}

#[tokio::test]
async fn negative_control_curl_without_the_standin_ca_fails_verification() {
    let bin = require!("curl");
    let w = world().await;
    let output = curl(&bin, &w, Trust::PublicOnly, &[], "https://api.test/").await;
    // 60: "Peer certificate cannot be authenticated with known CA certificates".
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(60), "{stderr}");
}

#[tokio::test]
async fn curl_sees_the_403_page_for_a_denied_host() {
    let bin = require!("curl");
    let w = world().await;
    let output = curl(&bin, &w, Trust::Standin, STATUS, "https://blocked.test/").await;
    let stdout = stdout_of_success(&output);
    assert_eq!(
        stdout,
        "Blocked by network policy: domain blocked.test:443\n403"
    );
}

#[tokio::test]
async fn curl_plain_http_through_the_standin() {
    let bin = require!("curl");
    let w = world().await;
    let output = curl(&bin, &w, Trust::Standin, STATUS, "http://plain.test/plain").await;
    let stdout = stdout_of_success(&output);
    assert!(stdout.ends_with("\n200"), "{stdout}");
    assert!(stdout.contains(r#""path":"/plain""#), "{stdout}");
}

#[tokio::test]
async fn python_urllib_https_through_the_standin_trusting_its_ca() {
    let bin = require!("python3");
    let w = world().await;
    let output = python(&bin, &w, Trust::Standin, "https://api.test/python").await;
    let stdout = stdout_of_success(&output);
    assert!(stdout.starts_with("200\n"), "{stdout}");
    assert!(stdout.contains(r#""path":"/python""#), "{stdout}");
}

#[tokio::test]
async fn negative_control_python_urllib_without_the_standin_ca_fails_verification() {
    let bin = require!("python3");
    let w = world().await;
    let output = python(&bin, &w, Trust::PublicOnly, "https://api.test/").await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("CERTIFICATE_VERIFY_FAILED"), "{stderr}");
}

#[tokio::test]
async fn python_urllib_gets_the_403_page_for_a_denied_host() {
    let bin = require!("python3");
    let w = world().await;
    let output = python(&bin, &w, Trust::Standin, "https://blocked.test/").await;
    let stdout = stdout_of_success(&output);
    assert_eq!(
        stdout,
        "403\nBlocked by network policy: domain blocked.test:443\n"
    );
}
