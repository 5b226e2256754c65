//! mitmproxy (`mitmdump`) as a test's intercepting proxy: the closest local
//! stand-in for Docker Sandboxes' proxy (TLS interception with its own CA,
//! HTTP/2, WebSockets), and the independent control next to the project's
//! own stand-in.
//!
//! Each instance gets its own directory (confdir, where mitmproxy generates
//! its CA: [`Mitmproxy::ca_pem`]; its log; the addon), listens on a port the
//! kernel picks on [`MitmOptions::listen_host`], and loads an addon that
//! - routes test names to real addresses ([`MitmOptions::routes`]:
//!   `upstream.test` → `127.0.0.1:PORT`) and refuses every other name, so
//!   mitmproxy never resolves a name itself; upstream TLS is verified
//!   against the test name, not the address it was redirected to;
//! - answers `403 Blocked by network policy: domain H:PORT` inside the TLS
//!   session for [`MitmOptions::policy_denied`] hosts;
//! - records every CONNECT and request ([`Mitmproxy::seen`]).
//!
//! Upstream certificates are verified against
//! [`MitmOptions::upstream_ca_pem`] (never `--ssl-insecure`). The process is
//! killed by its PID on drop.

use std::io::Read;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rustls_pki_types::CertificateDer;

use crate::error::{Context, FixtureError, Result};

/// Where Debian's package installs it (8.1.1 here).
pub const MITMDUMP: &str = "/usr/bin/mitmdump";

/// mitmproxy writes its CA here, in its confdir, on first start.
const CA_CERT_FILE: &str = "mitmproxy-ca-cert.pem";

/// Python start-up on a busy two-core machine can take a while.
const START_TIMEOUT: Duration = Duration::from_secs(45);

/// A test name and the local server it stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// The name clients ask the proxy for (`upstream.test`).
    pub name: String,
    /// Where the proxy really connects.
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

/// What the instance does.
#[derive(Default, Clone, Debug)]
pub struct MitmOptions {
    /// Listen address; 127.0.0.1 when `None` (0.0.0.0 or a network's
    /// gateway for containers: unrouted names are refused, so even on every
    /// address it relays nothing but `routes`).
    pub listen_host: Option<IpAddr>,
    /// Test names and where they really are; every other name is refused.
    pub routes: Vec<Route>,
    /// PEM file of the CA that signs upstream certificates.
    pub upstream_ca_pem: Option<PathBuf>,
    /// Hosts answered with the 403 policy page inside TLS.
    pub policy_denied: Vec<String>,
    /// mitmproxy `--ignore-hosts` patterns (8.1: regexes on the host name or
    /// TLS SNI, no port): these are tunnelled untouched (the proxy-side
    /// bypass), still through `routes`.
    pub ignore_hosts: Vec<String>,
    /// mitmproxy `--proxyauth` (`user:password`): every request must carry
    /// these credentials, else 407.
    pub proxy_auth: Option<String>,
}

/// A running mitmdump, killed (by its PID) on drop.
pub struct Mitmproxy {
    child: Child,
    addr: SocketAddr,
    ca_pem: String,
    dir: tempfile::TempDir,
}

impl Mitmproxy {
    /// `Ok` when mitmdump is installed, else why not.
    pub fn installed() -> std::result::Result<(), String> {
        if Path::new(MITMDUMP).is_file() {
            Ok(())
        } else {
            Err(format!("{MITMDUMP} not found (apt-get install mitmproxy)"))
        }
    }

    /// Starts mitmdump and waits until it listens and has written its CA.
    pub fn start(options: &MitmOptions) -> Result<Self> {
        Self::installed().map_err(FixtureError::new)?;
        let dir = tempfile::Builder::new()
            .prefix("nanoclaw-test-mitm-")
            .tempdir()
            .context(|| "creating mitmproxy's directory".to_string())?;
        let addon = dir.path().join("nanoclaw_test_addon.py");
        let seen = dir.path().join("seen.txt");
        std::fs::write(&addon, addon_source(options, &seen))
            .context(|| format!("writing {}", addon.display()))?;
        let log_path = dir.path().join("mitmdump.log");
        let log = std::fs::File::create(&log_path)
            .context(|| format!("creating {}", log_path.display()))?;
        let log_err = log
            .try_clone()
            .context(|| format!("opening {}", log_path.display()))?;
        let listen = options
            .listen_host
            .unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST));

        let mut command = Command::new(MITMDUMP);
        command
            .arg("--listen-host")
            .arg(listen.to_string())
            .args(["--listen-port", "0"])
            .arg("--set")
            .arg(format!("confdir={}", dir.path().join("conf").display()))
            .arg("--scripts")
            .arg(&addon)
            .args(["--set", "termlog_verbosity=info"]);
        if let Some(ca) = &options.upstream_ca_pem {
            command
                .arg("--set")
                .arg(format!("ssl_verify_upstream_trusted_ca={}", ca.display()));
        }
        if let Some(spec) = &options.proxy_auth {
            command.arg("--proxyauth").arg(spec);
        }
        for pattern in &options.ignore_hosts {
            command.arg("--ignore-hosts").arg(pattern);
        }
        for var in [
            "HTTP_PROXY",
            "HTTPS_PROXY",
            "ALL_PROXY",
            "NO_PROXY",
            "http_proxy",
            "https_proxy",
            "all_proxy",
            "no_proxy",
        ] {
            command.env_remove(var);
        }
        let child = command
            .env("PYTHONUNBUFFERED", "1")
            // mitmproxy reads ~ for defaults; keep it inside the test's dir.
            .env("HOME", dir.path())
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            .spawn()
            .context(|| format!("starting {MITMDUMP}"))?;
        let mut proxy = Mitmproxy {
            child,
            addr: SocketAddr::new(listen, 0),
            ca_pem: String::new(),
            dir,
        };
        proxy.addr = proxy.wait_until_listening()?;
        let ca_path = proxy.ca_path();
        proxy.ca_pem = std::fs::read_to_string(&ca_path).map_err(|e| {
            proxy.failure(&format!(
                "mitmproxy's CA {} is unreadable: {e}",
                ca_path.display()
            ))
        })?;
        Ok(proxy)
    }

    /// [`start`](Self::start), for tests that may skip: `None` (after
    /// [`missing`](crate::prereq::missing) said why, which fails the test
    /// under `NANOCLAW_REQUIRE_DOCKER=1`) when mitmdump is not installed;
    /// panics when it is but does not start.
    pub fn start_or_skip(options: &MitmOptions) -> Option<Self> {
        if let Err(why) = Self::installed() {
            crate::prereq::missing("mitmproxy", &why);
            return None;
        }
        Some(Self::start(options).unwrap_or_else(|e| panic!("{e}")))
    }

    /// Waits for `listening at HOST:PORT` (or `*:PORT`) in the log and the CA file.
    fn wait_until_listening(&mut self) -> Result<SocketAddr> {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            let log = self.log();
            let listen_ip = self.addr.ip();
            let port = log
                .lines()
                .find_map(|l| l.split("listening at ").nth(1))
                .map(|a| a.trim().trim_end_matches('.'))
                .and_then(|a| a.rsplit_once(':'))
                .and_then(|(_, port)| port.parse::<u16>().ok());
            if let Some(port) = port {
                if self.ca_path().is_file() {
                    return Ok(SocketAddr::new(listen_ip, port));
                }
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(self.failure(&format!("mitmdump exited during start-up ({status})")));
            }
            if Instant::now() > deadline {
                return Err(self.failure(&format!(
                    "mitmdump did not listen on {listen_ip} within {START_TIMEOUT:?}"
                )));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// An error quoting mitmdump's log.
    pub fn failure(&self, what: &str) -> FixtureError {
        FixtureError::new(format!("{what}\n--- mitmdump log ---\n{}", self.log()))
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://HOST:PORT`: the proxy URL (on 0.0.0.0, use the port with an
    /// address that reaches this machine).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// mitmproxy's CA certificate, PEM.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// mitmproxy's CA certificate, DER.
    pub fn ca_cert_der(&self) -> CertificateDer<'static> {
        crate::ca::cert_der_from_pem(&self.ca_pem)
    }

    /// The CA certificate's path in the confdir.
    pub fn ca_path(&self) -> PathBuf {
        self.confdir().join(CA_CERT_FILE)
    }

    /// Its confdir (holds the CA key too: never mount it into a container).
    pub fn confdir(&self) -> PathBuf {
        self.dir.path().join("conf")
    }

    /// Every CONNECT (`CONNECT host:port`) and request (`GET url`) seen.
    pub fn seen(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.path().join("seen.txt"))
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// Everything mitmdump logged so far (flows, routing, TLS failures).
    pub fn log(&self) -> String {
        let mut text = String::new();
        if let Ok(mut file) = std::fs::File::open(self.dir.path().join("mitmdump.log")) {
            let _ = file.read_to_string(&mut text);
        }
        text
    }

    /// Kills the process (SIGKILL, by PID) and reaps it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Mitmproxy {
    fn drop(&mut self) {
        // Our own child, by PID; reap it so no zombie outlives the test.
        self.kill();
    }
}

/// The addon, with the options baked in as Python literals (JSON is valid
/// Python for strings, lists and dicts of them). Hooks of mitmproxy 7/8:
/// `server_connect(data)` runs before the upstream connection opens;
/// changing `data.server.address` redirects it, setting `data.server.error`
/// kills it.
fn addon_source(options: &MitmOptions, seen: &Path) -> String {
    let routes: Vec<String> = options
        .routes
        .iter()
        .map(|route| {
            format!(
                "{}: [{}, {}]",
                json_string(&route.name),
                json_string(&route.target.ip().to_string()),
                route.target.port()
            )
        })
        .collect();
    let denied: Vec<String> = options
        .policy_denied
        .iter()
        .map(|h| json_string(h))
        .collect();
    format!(
        r#"from mitmproxy import ctx, http

ROUTES = {{{routes}}}
DENIED = set([{denied}])
SEEN = {seen}


def _seen(line):
    with open(SEEN, "a") as f:
        f.write(line + "\n")


class NanoclawTestAddon:
    def http_connect(self, flow):
        _seen("CONNECT %s:%d" % (flow.request.host, flow.request.port))

    def server_connect(self, data):
        if not data.server.address:
            return
        name, port = data.server.address
        target = ROUTES.get(name)
        if target is None:
            data.server.error = "nanoclaw test route: no route for %s:%d" % (name, port)
            ctx.log.warn(data.server.error)
            return
        # Verify the upstream against the test name, not the address we
        # redirect to: without an SNI mitmproxy would fall back to the IP.
        if data.server.sni is None:
            data.server.sni = name
        data.server.address = (target[0], target[1])
        ctx.log.info("nanoclaw test route: %s:%d -> %s:%d" % (name, port, target[0], target[1]))

    def request(self, flow):
        _seen("%s %s" % (flow.request.method, flow.request.pretty_url))
        if flow.request.pretty_host in DENIED:
            body = "Blocked by network policy: domain %s:%d" % (flow.request.pretty_host, flow.request.port)
            flow.response = http.Response.make(403, body, {{"Content-Type": "text/plain"}})


addons = [NanoclawTestAddon()]
"#,
        routes = routes.join(", "),
        denied = denied.join(", "),
        seen = json_string(&seen.display().to_string()),
    )
}

fn json_string(text: &str) -> String {
    serde_json::to_string(text).expect("a string serialises")
}
