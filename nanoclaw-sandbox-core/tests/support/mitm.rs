//! mitmproxy (`mitmdump`) as the intercepting proxy of a test: the closest
//! local stand-in for Docker Sandboxes' proxy (TLS interception with its own
//! CA, HTTP/2, WebSockets).
//!
//! Each instance gets its own confdir in a temp dir (mitmproxy generates its
//! CA there: [`Mitmproxy::ca_cert_pem_path`]), listens on a port the kernel
//! picks, and loads a small addon that
//! - maps test names to loopback addresses (`upstream.test` → 127.0.0.1:port)
//!   in `server_connect`, so no DNS lookup happens;
//! - answers `403 Blocked by network policy: domain H:PORT` inside the TLS
//!   session for the hosts in [`MitmOptions::policy_denied`];
//! - records every CONNECT and request ([`Mitmproxy::seen`]).
//!
//! Upstream certificates are verified against [`MitmOptions::upstream_ca_pem`]
//! (never `--ssl-insecure`). The process is killed by PID on drop.
//!
//! Std-only on purpose (no client feature needed), so container tests can
//! reuse it: set [`MitmOptions::listen_host`] to an address containers reach.

use std::io::Read;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;

/// Where Debian's package installs it.
pub const MITMDUMP: &str = "/usr/bin/mitmdump";

/// What the instance does.
#[derive(Default, Clone, Debug)]
pub struct MitmOptions {
    /// Listen address; 127.0.0.1 when `None`.
    pub listen_host: Option<IpAddr>,
    /// Test names and where they really are.
    pub hosts: Vec<(String, SocketAddr)>,
    /// PEM file of the CA that signs upstream certificates.
    pub upstream_ca_pem: Option<PathBuf>,
    /// Hosts answered with the 403 policy page inside TLS.
    pub policy_denied: Vec<String>,
    /// mitmproxy `--ignore-hosts` patterns (8.1: regexes on the host name or
    /// TLS SNI, no port): these are tunnelled untouched (the proxy-side
    /// bypass).
    pub ignore_hosts: Vec<String>,
}

/// A running mitmdump.
pub struct Mitmproxy {
    child: Child,
    addr: SocketAddr,
    dir: tempfile::TempDir,
}

impl Mitmproxy {
    /// Starts mitmdump and waits until it listens. `None` (after
    /// [`super::missing`] printed why, or panicked under
    /// `NANOCLAW_REQUIRE_DOCKER=1`) when mitmdump is not installed.
    pub fn start(options: &MitmOptions) -> Option<Self> {
        if !Path::new(MITMDUMP).exists() {
            super::missing(
                "mitmproxy",
                &format!("{MITMDUMP} not found (apt-get install mitmproxy)"),
            );
            return None;
        }
        let dir = tempfile::tempdir().expect("temp dir");
        let addon = dir.path().join("nanoclaw_test_addon.py");
        std::fs::write(&addon, addon_source(options, &dir.path().join("seen.txt")))
            .expect("write addon");
        let log = std::fs::File::create(dir.path().join("mitmdump.log")).expect("log file");
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
            .arg("-s")
            .arg(&addon)
            .args(["--set", "termlog_verbosity=info", "--set", "flow_detail=0"]);
        if let Some(ca) = &options.upstream_ca_pem {
            command
                .arg("--set")
                .arg(format!("ssl_verify_upstream_trusted_ca={}", ca.display()));
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
            .env("HOME", dir.path())
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log handle"))
            .stderr(log)
            .spawn()
            .expect("spawn mitmdump");
        let mut proxy = Mitmproxy {
            child,
            addr: SocketAddr::new(listen, 0),
            dir,
        };
        proxy.addr = proxy.wait_until_listening();
        Some(proxy)
    }

    fn wait_until_listening(&mut self) -> SocketAddr {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let log = self.log();
            // `listening at 127.0.0.1:PORT`, or `*:PORT` on every address.
            let listen_ip = self.addr.ip();
            if let Some(addr) = log
                .lines()
                .find_map(|l| l.split("listening at ").nth(1))
                .map(|a| a.trim().trim_end_matches('.'))
                .and_then(|a| match a.strip_prefix("*:") {
                    Some(port) => port.parse().ok().map(|p| SocketAddr::new(listen_ip, p)),
                    None => a.parse().ok(),
                })
            {
                if self.ca_cert_pem_path().exists() {
                    return addr;
                }
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("mitmdump exited ({status}) before listening:\n{log}");
            }
            if Instant::now() > deadline {
                panic!("mitmdump did not listen within 30 s:\n{log}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://HOST:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// mitmproxy's CA certificate (PEM file in its confdir).
    pub fn ca_cert_pem_path(&self) -> PathBuf {
        self.dir.path().join("conf").join("mitmproxy-ca-cert.pem")
    }

    /// mitmproxy's CA certificate, PEM.
    pub fn ca_cert_pem(&self) -> String {
        std::fs::read_to_string(self.ca_cert_pem_path()).expect("mitmproxy CA PEM")
    }

    /// mitmproxy's CA certificate, DER.
    pub fn ca_cert_der(&self) -> Vec<u8> {
        let pem = self.ca_cert_pem();
        let body: String = pem
            .lines()
            .skip_while(|l| !l.starts_with("-----BEGIN CERTIFICATE"))
            .skip(1)
            .take_while(|l| !l.starts_with("-----END"))
            .collect();
        base64::engine::general_purpose::STANDARD
            .decode(body)
            .expect("mitmproxy CA PEM is base64")
    }

    /// Every CONNECT (`CONNECT host:port`) and request (`GET url`) seen.
    pub fn seen(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.path().join("seen.txt"))
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// mitmdump's output so far (for failure messages).
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
        self.kill();
    }
}

/// The addon, with the options baked in as Python literals (JSON is valid
/// Python for strings, lists and dicts of them).
fn addon_source(options: &MitmOptions, seen: &Path) -> String {
    let hosts: Vec<String> = options
        .hosts
        .iter()
        .map(|(name, addr)| {
            format!(
                "{}: [{}, {}]",
                json_string(name),
                json_string(&addr.ip().to_string()),
                addr.port()
            )
        })
        .collect();
    let denied: Vec<String> = options
        .policy_denied
        .iter()
        .map(|h| json_string(h))
        .collect();
    format!(
        r#"from mitmproxy import http

HOSTS = {{{hosts}}}
DENIED = set([{denied}])
SEEN = {seen}


def _seen(line):
    with open(SEEN, "a") as f:
        f.write(line + "\n")


class NanoclawTestAddon:
    def http_connect(self, flow):
        _seen("CONNECT %s:%d" % (flow.request.host, flow.request.port))

    def server_connect(self, data):
        if data.server.address and data.server.address[0] in HOSTS:
            data.server.address = tuple(HOSTS[data.server.address[0]])

    def request(self, flow):
        _seen("%s %s" % (flow.request.method, flow.request.pretty_url))
        if flow.request.pretty_host in DENIED:
            body = "Blocked by network policy: domain %s:%d" % (flow.request.pretty_host, flow.request.port)
            flow.response = http.Response.make(403, body, {{"Content-Type": "text/plain"}})


addons = [NanoclawTestAddon()]
"#,
        hosts = hosts.join(", "),
        denied = denied.join(", "),
        seen = json_string(&seen.display().to_string()),
    )
}

fn json_string(text: &str) -> String {
    serde_json::to_string(text).expect("a string serialises")
}
