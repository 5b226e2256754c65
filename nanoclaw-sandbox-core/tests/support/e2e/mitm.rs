//! mitmproxy (`mitmdump`) as the stand-in for the Docker Sandboxes proxy: it
//! terminates TLS with its own CA, as the sandbox proxy does, and verifies
//! upstreams against the test "public" CA — never `--ssl-insecure`.

use std::fs::File;
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::error::{Context, FixtureError, Result};
use super::topology::Topology;

/// The mitmdump the Debian package installs (8.1.1 here).
pub const MITMDUMP: &str = "/usr/bin/mitmdump";

/// The addon mapping test names to local servers.
const ROUTE_ADDON: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/support/e2e/mitm_route.py"
);

/// mitmproxy writes its CA here, in its confdir, on first start.
const CA_CERT_FILE: &str = "mitmproxy-ca-cert.pem";

/// Python start-up on a busy two-core machine can take a while.
const START_TIMEOUT: Duration = Duration::from_secs(45);

/// A test name and the local server it stands for.
#[derive(Debug, Clone)]
pub struct Route {
    /// The name clients ask the proxy for (`upstream.test`).
    pub name: String,
    /// Where mitmproxy really connects.
    pub target: SocketAddr,
}

impl Route {
    /// `name` is served by `target`.
    pub fn new(name: &str, target: SocketAddr) -> Self {
        Self {
            name: name.to_string(),
            target,
        }
    }
}

/// A running mitmdump, killed (by its PID) on drop.
pub struct Mitm {
    child: Child,
    addr: SocketAddr,
    ca_pem: String,
    log_path: PathBuf,
    confdir: PathBuf,
    _dir: tempfile::TempDir,
}

impl Mitm {
    /// Starts mitmdump on the topology's gateway (a free port), routing
    /// `routes`, trusting only the CA in the PEM file `upstream_ca` upstream,
    /// and waits until it
    /// accepts connections.
    pub fn start(topo: &Topology, upstream_ca: &Path, routes: &[Route]) -> Result<Self> {
        Self::start_on(IpAddr::V4(topo.gateway()), upstream_ca, routes)
    }

    /// [`start`](Self::start) on `listen_ip` (0.0.0.0 for a proxy that
    /// bridge containers reach on the docker0 gateway). Unrouted names are
    /// refused, so even on every address it relays nothing but `routes`.
    pub fn start_on(listen_ip: IpAddr, upstream_ca: &Path, routes: &[Route]) -> Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("nanoclaw-e2e-mitm-")
            .tempdir()
            .context(|| "creating mitmproxy's directory".to_string())?;
        let confdir = dir.path().join("conf");
        std::fs::create_dir(&confdir).context(|| format!("creating {}", confdir.display()))?;
        let log_path = dir.path().join("mitmdump.log");
        let routes_opt = routes
            .iter()
            .map(|r| format!("{}={}", r.name, r.target))
            .collect::<Vec<_>>()
            .join(",");
        let port = free_port(listen_ip)?;
        let addr = SocketAddr::new(listen_ip, port);

        let log = File::create(&log_path).context(|| format!("creating {}", log_path.display()))?;
        let log_err = log
            .try_clone()
            .context(|| format!("opening {}", log_path.display()))?;
        let child = Command::new(MITMDUMP)
            .arg("--listen-host")
            .arg(listen_ip.to_string())
            .arg("--listen-port")
            .arg(port.to_string())
            .arg("--set")
            .arg(format!("confdir={}", confdir.display()))
            .arg("--set")
            .arg(format!(
                "ssl_verify_upstream_trusted_ca={}",
                upstream_ca.display()
            ))
            .arg("--scripts")
            .arg(ROUTE_ADDON)
            .arg("--set")
            .arg(format!("nanoclaw_routes={routes_opt}"))
            // mitmproxy reads ~ for defaults; keep it inside the test's dir.
            .env("HOME", dir.path())
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            .spawn()
            .context(|| format!("starting {MITMDUMP}"))?;
        let mut mitm = Mitm {
            child,
            addr,
            ca_pem: String::new(),
            log_path,
            confdir,
            _dir: dir,
        };
        mitm.wait_until_listening()?;
        let ca_path = mitm.ca_path();
        mitm.ca_pem = std::fs::read_to_string(&ca_path).map_err(|e| {
            mitm.failure(&format!(
                "mitmproxy's CA {} is unreadable: {e}",
                ca_path.display()
            ))
        })?;
        Ok(mitm)
    }

    fn wait_until_listening(&mut self) -> Result<()> {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(self.failure(&format!("mitmdump exited during start-up ({status})")));
            }
            if TcpStream::connect_timeout(&self.addr, Duration::from_millis(200)).is_ok()
                && self.ca_path().is_file()
            {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(self.failure(&format!(
                    "mitmdump did not listen on {} within {START_TIMEOUT:?}",
                    self.addr
                )));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// An error quoting mitmdump's log.
    pub fn failure(&self, what: &str) -> FixtureError {
        FixtureError::new(format!("{what}\n--- mitmdump log ---\n{}", self.log()))
    }

    /// Where it listens (the gateway address).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The proxy URL a container uses: `http://GATEWAY:PORT`.
    pub fn proxy_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// mitmproxy's CA certificate (PEM), read from its confdir.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// The CA certificate's path in the confdir.
    pub fn ca_path(&self) -> PathBuf {
        self.confdir.join(CA_CERT_FILE)
    }

    /// Its confdir (holds the CA key too: never mount it into a container).
    pub fn confdir(&self) -> &Path {
        &self.confdir
    }

    /// Everything mitmdump logged so far (flows, routing, TLS failures).
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path)
            .unwrap_or_else(|e| format!("(log {} unreadable: {e})", self.log_path.display()))
    }
}

impl Drop for Mitm {
    fn drop(&mut self) {
        // Our own child, by PID; reap it so no zombie outlives the test.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port free on `ip` right now. Another process could take it before
/// mitmdump binds; start-up then fails with mitmdump's "address in use" in
/// the log, which is rare enough not to retry.
fn free_port(ip: IpAddr) -> Result<u16> {
    let listener = TcpListener::bind((ip, 0)).context(|| format!("finding a free port on {ip}"))?;
    let port = listener
        .local_addr()
        .context(|| format!("finding a free port on {ip}"))?
        .port();
    Ok(port)
}
