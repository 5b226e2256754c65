//! The credential relay (`relay::CredentialRelay`) against mitmproxy
//! demanding a user name and password (`--proxyauth`), as a corporate proxy
//! does: bridge-networked agent containers fetch HTTPS (through CONNECT,
//! verification on, the proxy's CA mounted) and plain HTTP through the relay,
//! and their `docker inspect` never holds the proxy's password.
//!
//! Controls: the same spec patched with the proxy itself works too and its
//! inspect *does* hold the password (the search can find it); the relay
//! refuses a client without its token (407, from the relay) and passes on
//! the proxy's own 407 when the relay's credentials are wrong.

mod support;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use nanoclaw_sandbox_core::proxy::{ProxySettings, ProxyUrl, RELAY_USER};
use nanoclaw_sandbox_core::relay::CredentialRelay;
use nanoclaw_sandbox_core::runtime::docker::DockerRuntime;
use nanoclaw_sandbox_core::runtime::{AgentHandle, ContainerRuntime, TEST};
use nanoclaw_sandbox_core::sandbox::{DetectOptions, SandboxEnv, SandboxRuntime, Severity};
use nanoclaw_sandbox_core::spec::ContainerSpec;
use nanoclaw_sandbox_core::trust::SystemRoots;
use nanoclaw_testkit::ca::TestCa;
use nanoclaw_testkit::canary::Canaries;
use nanoclaw_testkit::docker::{docker, ContainerGuard};
use nanoclaw_testkit::https::{http_echo, https_echo, Echo, Server};
use nanoclaw_testkit::mitm::{MitmOptions, Mitmproxy, Route};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use support::docker::connect;
use support::e2e::debian_image;

const HTTPS_HOST: &str = "api.relay.test";
const HTTP_HOST: &str = "plain.relay.test";
const USER: &str = "agent";

/// mitmproxy wanting `agent:<canary password>`, routing the two test names
/// to local echo servers; on every address so bridge containers reach it.
struct Scene {
    canaries: Canaries,
    mitm: Mitmproxy,
    _https: Server,
    _http: Server,
    dir: tempfile::TempDir,
}

impl Scene {
    async fn start() -> Option<Scene> {
        let canaries = Canaries::new();
        let public = TestCa::new("relay test public CA");
        let dir = tempfile::tempdir().unwrap();
        let public_pem = public.write_pem(dir.path(), "public-ca.pem");
        let https = https_echo(&public, &[HTTPS_HOST]).await;
        let http = http_echo().await;
        let mitm = Mitmproxy::start_or_skip(&MitmOptions {
            listen_host: Some(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
            routes: vec![
                Route::new(HTTPS_HOST, https.addr()),
                Route::new(HTTP_HOST, http.addr()),
            ],
            upstream_ca_pem: Some(public_pem),
            proxy_auth: Some(format!("{USER}:{}", canaries.proxy_password)),
            ..MitmOptions::default()
        })?;
        Some(Scene {
            canaries,
            mitm,
            _https: https,
            _http: http,
            dir,
        })
    }

    /// `http://agent:PASSWORD@127.0.0.1:PORT` (or another password).
    fn proxy_url(&self, password: &str) -> String {
        format!(
            "http://{USER}:{password}@127.0.0.1:{}",
            self.mitm.addr().port()
        )
    }

    /// The environment as the host sees it: both proxy variables and the
    /// mitmproxy CA.
    fn env(&self, url: &str) -> SandboxEnv {
        let vars =
            |name: &str| matches!(name, "HTTPS_PROXY" | "HTTP_PROXY").then(|| url.to_string());
        let options = DetectOptions::default().with_explicit_ca(self.mitm.ca_path());
        SandboxEnv::detect_from(vars, &options).unwrap()
    }

    fn runtime(
        &self,
        docker: &DockerRuntime,
        env: SandboxEnv,
    ) -> Arc<SandboxRuntime<DockerRuntime>> {
        Arc::new(
            SandboxRuntime::builder(docker.clone())
                .env(env)
                .workspace_root(self.dir.path())
                .system_roots(SystemRoots::Builtin)
                .build()
                .unwrap(),
        )
    }
}

/// curl, HTTPS then plain HTTP, through the proxy variables; on the default
/// bridge (the relay's loopback URL is translated to the gateway).
fn fetcher(image: &str) -> ContainerSpec {
    let script = format!(
        "curl -sS --fail --max-time 20 https://{HTTPS_HOST}/through-connect && echo && \
         curl -sS --fail --max-time 20 http://{HTTP_HOST}/plain"
    );
    ContainerSpec::builder(image)
        .command(["sh", "-c", script.as_str()])
        .label(TEST, "true")
        .build()
        .unwrap()
}

/// Runs the fetcher; its two echoes.
async fn fetch(
    runtime: Arc<SandboxRuntime<DockerRuntime>>,
    image: &str,
) -> Result<(Echo, Echo), String> {
    let output = AgentHandle::spawn(runtime, &fetcher(image))
        .await
        .unwrap()
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    if output.status.code != 0 {
        return Err(format!("{}: {stdout}{stderr}", output.status));
    }
    let mut lines = stdout.lines();
    let mut next = || Echo::parse(lines.next().unwrap_or_default().as_bytes());
    Ok((next(), next()))
}

/// The patched container's `docker inspect`, created but never started.
async fn inspect(runtime: &SandboxRuntime<DockerRuntime>, image: &str) -> String {
    let id = runtime.create(&fetcher(image)).await.unwrap();
    let _guard = ContainerGuard::new(id.as_str());
    docker(["inspect", id.as_str()]).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agents_use_a_proxy_with_credentials_through_the_relay_and_never_hold_them() {
    let Some(docker_runtime) = connect().await else {
        return;
    };
    let Some(image) = debian_image() else {
        return;
    };
    let Some(scene) = Scene::start().await else {
        return;
    };
    let c = &scene.canaries;
    let env = scene.env(&scene.proxy_url(&c.proxy_password));

    // Control: patched with the proxy itself, agents get through and their
    // configuration holds the password.
    let direct = scene.runtime(&docker_runtime, env.clone());
    let (https, http) = fetch(direct.clone(), &image).await.expect("direct");
    assert_eq!(
        (https.path.as_str(), http.path.as_str()),
        ("/through-connect", "/plain")
    );
    assert!(
        !c.found_in(&inspect(&direct, &image).await).is_empty(),
        "the control's inspect shows the password"
    );

    // Through the relay: the same fetches work, and no container holds it.
    let (relayed_env, relay) =
        CredentialRelay::for_agents(env.clone(), CredentialRelay::EVERY_ADDRESS)
            .await
            .unwrap();
    let relay = relay.expect("the proxy URL has credentials: a relay is needed");
    let relayed = scene.runtime(&docker_runtime, relayed_env);
    let (https, http) = fetch(relayed.clone(), &image)
        .await
        .expect("through the relay");
    assert_eq!(
        (https.path.as_str(), http.path.as_str()),
        ("/through-connect", "/plain")
    );
    for echo in [&https, &http] {
        assert!(
            !echo.headers.contains_key("proxy-authorization"),
            "no proxy credentials reach the upstream: {echo:?}"
        );
    }
    let shown = inspect(&relayed, &image).await;
    c.assert_absent("a relayed container's docker inspect", &shown);
    assert!(
        shown.contains(&format!("{RELAY_USER}:")),
        "the relay's URL is in the env: {shown}"
    );
    let report = relayed.last_report().expect("a patch report");
    let warnings: Vec<_> = report.at_least(Severity::Warn).collect();
    assert!(
        warnings.is_empty(),
        "no credentials warning for the relay's token: {warnings:?}"
    );
    let direct_report = direct.last_report().expect("a patch report");
    assert!(
        direct_report
            .at_least(Severity::Warn)
            .any(|e| e.to_string().contains("credentials")),
        "the control warns about the credentials: {direct_report:?}"
    );
    println!(
        "relay {}: HTTPS and plain HTTP through a proxy demanding credentials; inspect ({} bytes) without the password",
        relay.addr(),
        shown.len()
    );
}

/// One CONNECT to `relay` with `auth` (a `Proxy-Authorization` value); the
/// reply's status line and body.
async fn raw_connect(relay: SocketAddr, auth: Option<&str>) -> String {
    let mut stream = TcpStream::connect(relay).await.unwrap();
    let auth = auth.map_or(String::new(), |a| format!("Proxy-Authorization: {a}\r\n"));
    let request = format!(
        "CONNECT {HTTPS_HOST}:443 HTTP/1.1\r\nHost: {HTTPS_HOST}:443\r\nConnection: close\r\n{auth}\r\n"
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut reply = Vec::new();
    let _ = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        stream.read_to_end(&mut reply),
    )
    .await;
    String::from_utf8_lossy(&reply).into_owned()
}

fn basic(user: &str, password: &str) -> String {
    use base64::Engine as _;
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    format!("Basic {encoded}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_relay_refuses_strangers_and_passes_on_the_proxy_s_refusal() {
    let Some(scene) = Scene::start().await else {
        return;
    };
    let c = &scene.canaries;
    let loopback: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let settings = |password: &str| ProxySettings {
        https: Some(ProxyUrl::parse(&scene.proxy_url(password)).unwrap()),
        ..ProxySettings::default()
    };

    let relay = CredentialRelay::start(&settings(&c.proxy_password), loopback)
        .await
        .unwrap();
    let token = relay
        .proxy_settings()
        .https
        .as_ref()
        .and_then(ProxyUrl::credentials)
        .expect("the relay's URL carries its token");
    assert_eq!(token.0, RELAY_USER);

    // No token, a wrong one: the relay's own 407, nothing reaches mitmproxy.
    let seen_before = scene.mitm.seen().len();
    for auth in [None, Some(basic(RELAY_USER, "not-the-token"))] {
        let reply = raw_connect(relay.addr(), auth.as_deref()).await;
        assert!(reply.starts_with("HTTP/1.1 407"), "{reply}");
        assert!(reply.contains("credential relay"), "{reply}");
        c.assert_absent("the relay's 407", &reply);
    }
    assert_eq!(
        scene.mitm.seen().len(),
        seen_before,
        "strangers never reach the proxy"
    );

    // The token: the tunnel opens (mitmproxy accepted the credentials).
    let reply = raw_connect_head(relay.addr(), &basic(&token.0, &token.1)).await;
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");

    // A relay holding the wrong password: mitmproxy's 407 reaches the client.
    let wrong = CredentialRelay::start(&settings("wrong-password"), loopback)
        .await
        .unwrap();
    let (user, token) = wrong
        .proxy_settings()
        .https
        .as_ref()
        .and_then(ProxyUrl::credentials)
        .unwrap();
    let reply = raw_connect(wrong.addr(), Some(&basic(&user, &token))).await;
    assert!(
        reply.starts_with("HTTP/1.1 407"),
        "the proxy's refusal: {reply}"
    );
    assert!(
        !reply.contains("credential relay"),
        "not the relay's own: {reply}"
    );
    c.assert_absent("the proxy's 407 through the relay", &reply);
}

/// A CONNECT's reply head only (a successful tunnel stays open).
async fn raw_connect_head(relay: SocketAddr, auth: &str) -> String {
    let mut stream = TcpStream::connect(relay).await.unwrap();
    let request = format!(
        "CONNECT {HTTPS_HOST}:443 HTTP/1.1\r\nHost: {HTTPS_HOST}:443\r\nProxy-Authorization: {auth}\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut reply = Vec::new();
    let mut buf = [0u8; 1024];
    while !reply.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = tokio::time::timeout(std::time::Duration::from_secs(10), stream.read(&mut buf))
            .await
            .expect("a reply within 10 s")
            .unwrap();
        if n == 0 {
            break;
        }
        reply.extend_from_slice(&buf[..n]);
    }
    String::from_utf8_lossy(&reply).into_owned()
}
