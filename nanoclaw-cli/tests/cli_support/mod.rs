//! Shared by the CLI tests: the built binary, the proxy stand-in as a child
//! process, a plain-HTTP server and raw proxy requests (std only, so each
//! test sees exactly what goes over the wire), signals, Docker through the
//! library (connecting or skipping, an install of each test's own) and the
//! agent image. What needs no library type is the workspace's test kit,
//! `nanoclaw_testkit` (prerequisites, the docker CLI, env files, servers).
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::{mpsc, OnceLock};
use std::time::Duration;

use nanoclaw_agent_image::{ensure_agent_image, AgentImageRequest};
use nanoclaw_sandbox_core::runtime::docker::{DockerOptions, DockerRuntime};
use nanoclaw_sandbox_core::runtime::{InstallId, InstanceId, RuntimeError, INSTALL};
use nanoclaw_testkit::https::{self, Server};
use nanoclaw_testkit::prereq;
use nanoclaw_testkit::{docker, envfile};

/// The CLI binary Cargo built for these tests.
pub const BIN: &str = env!("CARGO_BIN_EXE_nanoclaw-sandbox");

/// How long anything in these tests may take before it counts as hung.
pub const PATIENCE: Duration = Duration::from_secs(60);

/// The binary as assert_cmd runs it.
pub fn cli() -> assert_cmd::Command {
    let mut cmd = assert_cmd::Command::new(BIN);
    cmd.timeout(PATIENCE);
    cmd
}

/// An install id of its own for each test: cleanup in one test can then
/// never touch another test's (or another developer's) containers.
pub fn test_install() -> InstallId {
    let unique = InstanceId::generate();
    InstallId::new(format!("test-{unique}")).expect("a generated id is valid")
}

/// Connects the library's runtime with `options`; `None` (after
/// `prereq::missing` said why) when no daemon answers.
pub async fn connect_with(options: DockerOptions) -> Option<DockerRuntime> {
    let connected = DockerRuntime::connect(options).await;
    prereq::or_skip("Docker daemon", connected, |e| {
        matches!(e, RuntimeError::DaemonUnreachable { .. })
    })
}

/// Connects as a fresh test install.
pub async fn connect() -> Option<DockerRuntime> {
    connect_with(DockerOptions::new(test_install())).await
}

/// The test agent image (this binary in a `FROM scratch` image), built or
/// found once per test binary; `None` (after saying why, or failing under
/// `NANOCLAW_REQUIRE_DOCKER=1`) when no daemon is reachable.
pub fn agent_image() -> Option<&'static str> {
    static IMAGE: OnceLock<Option<String>> = OnceLock::new();
    IMAGE
        .get_or_init(|| {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                let install = InstallId::new("nanoclaw-cli-tests").unwrap();
                let docker = match DockerRuntime::connect(DockerOptions::new(install)).await {
                    Ok(docker) => docker,
                    Err(e @ RuntimeError::DaemonUnreachable { .. }) => {
                        prereq::missing("Docker daemon", &e.to_string());
                        return None;
                    }
                    Err(e) => panic!("connecting to Docker failed unexpectedly: {e}"),
                };
                let request = AgentImageRequest::new(BIN).entrypoint_args(["agent"]);
                let image = ensure_agent_image(&docker, &request, &mut |_| {})
                    .await
                    .expect("building the agent image");
                Some(image.tag)
            })
        })
        .as_deref()
}

/// Sends `signal` (`INT`, `TERM`) to `pid` with kill(1): the tests may not
/// link libc for it.
pub fn send_signal(pid: u32, signal: &str) {
    let status = Command::new("kill")
        .args(["-s", signal, &pid.to_string()])
        .status()
        .expect("running kill");
    assert!(status.success(), "kill -s {signal} {pid} failed");
}

/// Waits for `child` to exit, at most [`PATIENCE`]; kills it if it hangs.
pub fn wait_with_patience(child: &mut Child) -> ExitStatus {
    let deadline = std::time::Instant::now() + PATIENCE;
    loop {
        if let Some(status) = child.try_wait().expect("polling the child") {
            return status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("the process did not exit within {PATIENCE:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Reads the first stdout line of a child, at most [`PATIENCE`].
pub fn first_line(stdout: ChildStdout) -> (String, BufReader<ChildStdout>) {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        let _ = reader.read_line(&mut line);
        let _ = tx.send((line, reader));
    });
    rx.recv_timeout(PATIENCE)
        .expect("no line on stdout in time")
}

/// `nanoclaw-sandbox proxy` running as a child process, on a free loopback
/// port, with its CA and env file in a temporary directory. SIGTERM and a
/// wait when dropped.
pub struct ProxyProcess {
    child: Option<Child>,
    pub addr: SocketAddr,
    pub env_file: PathBuf,
    pub ca_dir: PathBuf,
    /// What the proxy wrote to stderr, collected after it exits.
    stderr_path: PathBuf,
    dir: tempfile::TempDir,
}

impl ProxyProcess {
    /// Starts the proxy with `args` (besides `--listen`, `--ca-dir`,
    /// `--env-file`) and waits for its `listening on` line.
    pub fn start(args: &[&str]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let ca_dir = dir.path().join("ca");
        Self::start_in(args, dir, ca_dir)
    }

    /// The same with a CA directory of the caller's.
    pub fn start_with_ca_dir(args: &[&str], ca_dir: &Path) -> Self {
        Self::start_in(args, tempfile::tempdir().unwrap(), ca_dir.to_path_buf())
    }

    fn start_in(args: &[&str], dir: tempfile::TempDir, ca_dir: PathBuf) -> Self {
        let env_file = dir.path().join("standin.env");
        let stderr_path = dir.path().join("proxy.stderr");
        let mut child = Command::new(BIN)
            .arg("proxy")
            .args(["--listen", "127.0.0.1:0"])
            .arg("--ca-dir")
            .arg(&ca_dir)
            .arg("--env-file")
            .arg(&env_file)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&stderr_path).unwrap())
            .spawn()
            .expect("starting the proxy");
        let (line, _rest) = first_line(child.stdout.take().unwrap());
        let Some(addr) = line.trim().strip_prefix("listening on ") else {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "the proxy printed {line:?}; stderr: {}",
                std::fs::read_to_string(&stderr_path).unwrap_or_default()
            );
        };
        ProxyProcess {
            addr: addr.parse().expect("a socket address"),
            child: Some(child),
            env_file,
            ca_dir,
            stderr_path,
            dir,
        }
    }

    /// The env file's variables.
    pub fn env(&self) -> BTreeMap<String, String> {
        envfile::read(&self.env_file)
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    /// A scratch directory that lives as long as the proxy.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Sends `signal` and waits for the exit; returns the status and stderr.
    pub fn stop(mut self, signal: &str) -> (ExitStatus, String) {
        let mut child = self.child.take().unwrap();
        send_signal(child.id(), signal);
        let status = wait_with_patience(&mut child);
        let stderr = std::fs::read_to_string(&self.stderr_path).unwrap_or_default();
        (status, stderr)
    }
}

impl Drop for ProxyProcess {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            send_signal(child.id(), "TERM");
            let _ = wait_with_patience(&mut child);
        }
    }
}

/// A plain-HTTP server on loopback: `/missing` is a 404, everything else a
/// 200 whose body is `hello from HOST PATH`. Serves until dropped.
pub fn plain_http_server() -> Server {
    Server::plain(https::handler(|request| async move {
        let host = request
            .headers()
            .get("host")
            .and_then(|h| h.to_str().ok())
            .unwrap_or("?")
            .to_string();
        let path = request.uri().path();
        if path == "/missing" {
            https::response(404, "text/plain", "no such page")
        } else {
            https::response(200, "text/plain", format!("hello from {host} {path}"))
        }
    }))
    .name("plain-http")
    .start_detached()
    .expect("starting the plain-HTTP server")
}

fn read_head(stream: &mut TcpStream) -> String {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => break,
        }
    }
    String::from_utf8_lossy(&head).into_owned()
}

/// A TCP server that writes `banner` to every client at once and keeps the
/// connection open a while: whoever connects to it hears it first.
pub fn banner_server(banner: &'static str) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let _ = stream.write_all(banner.as_bytes());
                std::thread::sleep(Duration::from_secs(5));
            });
        }
    });
    addr
}

/// A connection to the proxy with `head` (a request line and headers) sent.
fn send_to_proxy(proxy: SocketAddr, head: &str) -> TcpStream {
    let mut stream = TcpStream::connect(proxy).unwrap();
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    stream.write_all(head.as_bytes()).unwrap();
    stream
}

/// `GET http://HOST/PATH` through the proxy as an absolute-form request;
/// the whole response as text.
pub fn proxy_plain_get(proxy: SocketAddr, url: &str) -> String {
    let host = url
        .strip_prefix("http://")
        .and_then(|rest| rest.split('/').next())
        .expect("an http:// URL");
    let head = format!("GET {url} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    let mut stream = send_to_proxy(proxy, &head);
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    response
}

/// Opens a CONNECT tunnel to `authority` through the proxy; returns the
/// stream positioned after the proxy's reply head, and that head.
pub fn proxy_connect(proxy: SocketAddr, authority: &str) -> (TcpStream, String) {
    let request = format!("CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n\r\n");
    let mut stream = send_to_proxy(proxy, &request);
    let head = read_head(&mut stream);
    (stream, head)
}

/// The agent (`nanoclaw-sandbox agent`) with exactly `vars` as its
/// environment: what a container with those variables would see.
pub fn agent_with_env<'a>(
    vars: impl IntoIterator<Item = (&'a String, &'a String)>,
) -> assert_cmd::Command {
    let mut cmd = cli();
    cmd.env_clear().arg("agent");
    for (name, value) in vars {
        cmd.env(name, value);
    }
    cmd
}

/// `agent --get URL` with exactly `env`, from async tests (whose servers
/// must keep running meanwhile): exit code, stdout, stderr.
pub async fn agent_get(env: BTreeMap<String, String>, url: &str) -> (Option<i32>, String, String) {
    let url = url.to_string();
    tokio::task::spawn_blocking(move || {
        let output = agent_with_env(&env).args(["--get", &url]).output().unwrap();
        (
            output.status.code(),
            text(&output.stdout),
            text(&output.stderr),
        )
    })
    .await
    .unwrap()
}

/// Output as text.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The ids of every container (any state) of the install rooted at
/// `workspace`, as the docker CLI lists them.
pub fn containers_of_workspace(workspace: &Path) -> Vec<String> {
    let install = InstallId::from_workspace(workspace);
    docker::container_ids(INSTALL, install.as_str())
}
