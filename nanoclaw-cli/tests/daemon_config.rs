//! `daemon-config` end to end: a second dockerd, started by this test on its
//! own socket and directories, pulls `registry.test/nanoclaw/probe:1` from a
//! registry double (Debian's `docker-registry`, TLS on loopback) through the
//! proxy stand-in, with the environment and the CA `daemon-config` printed.
//!
//! - With the proxy variables and the CA: the pull succeeds.
//! - Negative control, proxy but no CA: the pull fails on the certificate.
//! - Negative control, no proxy (dockerd in a network namespace of its own,
//!   as the sandbox's microVM has no direct route): the pull fails, no route
//!   to `registry.test`. No packet leaves the namespace, so no public DNS.
//!
//! The doctor's `daemon-proxy` check is run against the daemon with and
//! without the proxy too.
//!
//! Needs root, `dockerd`, `docker`, `unshare` and `/usr/bin/docker-registry`;
//! skips (saying why) without them unless NANOCLAW_REQUIRE_DOCKER is set.
//! The machine's main daemon is never touched: every second dockerd runs in
//! a network namespace of its own (`unshare --net`), since dockerd started
//! with `--bridge=none` deletes a `docker0` bridge it finds; the stand-in on
//! this machine's loopback reaches it through a unix-socket relay.

mod cli_support;

use std::collections::BTreeMap;
use std::io::Write as _;
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use nanoclaw_sandbox_core::standin::{self, HostMapping, StandinConfig};
use nanoclaw_testkit::ca::TestCa;
use nanoclaw_testkit::prereq;
use tempfile::TempDir;

const IMAGE: &str = "registry.test/nanoclaw/probe:1";
const CA_FILE: &str = "/usr/local/share/ca-certificates/nanoclaw-proxy-ca.crt";
const DROP_IN: &str = "/etc/systemd/system/docker.service.d/http-proxy.conf";
const REGISTRY: &str = "/usr/bin/docker-registry";

/// Why this machine cannot run the test, if it cannot.
fn unavailable() -> Option<String> {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let euid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|ids| ids.split_whitespace().nth(1).map(str::to_string));
    if euid.as_deref() != Some("0") {
        return Some("not root: a second dockerd needs root".into());
    }
    for tool in ["dockerd", "docker", "unshare", "sha256sum", "ip", "python3"] {
        let found = Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .output()
            .is_ok_and(|o| o.status.success());
        if !found {
            return Some(format!("`{tool}` is not installed"));
        }
    }
    if !Path::new(REGISTRY).exists() {
        return Some(format!(
            "{REGISTRY} is missing (apt-get install docker-registry)"
        ));
    }
    None
}

/// A child process ended (by its PID) on drop.
struct Process {
    child: Child,
    name: &'static str,
}

impl Drop for Process {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        eprintln!("stopped {} (pid {})", self.name, self.child.id());
    }
}

/// A second dockerd on its own socket and directories. Drop stops it with
/// SIGTERM (so it stops its managed containerd), then SIGKILL if needed,
/// kills a left-over managed containerd by its pid file, and removes the
/// directories.
struct Dockerd {
    child: Option<Child>,
    dir: Option<TempDir>,
    socket: PathBuf,
}

impl Dockerd {
    /// Starts dockerd with `env` (nothing else of this process's proxy or
    /// trust variables), always in a network namespace of its own: with
    /// `--bridge=none` in this machine's namespace, dockerd deletes the main
    /// daemon's `docker0` bridge at start. With `proxy_port`, a relay makes
    /// the stand-in on this machine's 127.0.0.1:PORT reachable as the same
    /// address inside the namespace (through a unix socket, which crosses
    /// namespaces); without it the namespace has no way out at all, as the
    /// sandbox's microVM has no direct route.
    fn start(env: &BTreeMap<String, String>, proxy_port: Option<u16>) -> Dockerd {
        let dir = tempfile::Builder::new()
            .prefix("ncdc")
            .tempdir_in("/tmp")
            .unwrap();
        let root = dir.path();
        std::fs::write(root.join("daemon.json"), "{}").unwrap();
        let socket = root.join("docker.sock");
        let log = std::fs::File::create(root.join("dockerd.log")).unwrap();
        let namespace = format!("nanoclaw-test-{}", std::process::id());
        let mut script = String::from("ip link set lo up || exit 1\n");
        if let Some(port) = proxy_port {
            let relay_socket = root.join("proxy.sock");
            relay_to_loopback(&relay_socket, port);
            std::fs::write(root.join("relay.py"), RELAY_PY).unwrap();
            // dockerd starts only once the relay listens (python can take
            // seconds to start on a loaded machine; a pull before that is
            // refused).
            let ready = root.join("relay.ready");
            script.push_str(&format!(
                "python3 {} {port} {} {} & echo $! > {}\n\
                 i=0; while [ ! -e {ready} ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done\n\
                 [ -e {ready} ] || {{ echo 'the relay did not start' >&2; exit 1; }}\n",
                root.join("relay.py").display(),
                relay_socket.display(),
                ready.display(),
                root.join("relay.pid").display(),
                ready = ready.display(),
            ));
        }
        script.push_str("exec dockerd \"$@\"\n");
        let mut cmd = Command::new("unshare");
        cmd.args(["--net", "--", "sh", "-c", &script, "sh"]);
        cmd.arg("--host")
            .arg(format!("unix://{}", socket.display()))
            .arg("--data-root")
            .arg(root.join("data"))
            .arg("--exec-root")
            .arg(root.join("exec"))
            .arg("--pidfile")
            .arg(root.join("docker.pid"))
            .arg("--config-file")
            .arg(root.join("daemon.json"))
            .args([
                "--bridge=none",
                "--iptables=false",
                "--ip6tables=false",
                "--storage-driver=vfs",
            ])
            .arg(format!("--containerd-namespace={namespace}"))
            .arg(format!(
                "--containerd-plugins-namespace={namespace}-plugins"
            ))
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(env)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        let child = cmd.spawn().expect("starting dockerd");
        let mut daemon = Dockerd {
            child: Some(child),
            dir: Some(dir),
            socket,
        };
        daemon.wait_ready();
        daemon
    }

    fn host(&self) -> String {
        format!("unix://{}", self.socket.display())
    }

    fn root(&self) -> &Path {
        self.dir.as_ref().unwrap().path()
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.root().join("dockerd.log")).unwrap_or_default()
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!(
                    "dockerd exited ({status}) before answering:\n{}",
                    self.log()
                );
            }
            let answered = self
                .docker(&["version", "--format", "{{.Server.Version}}"])
                .status
                .success();
            if answered {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "dockerd did not answer within 90 s:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    /// The docker CLI against this daemon, with a config directory of its own.
    fn docker(&self, args: &[&str]) -> Output {
        Command::new("timeout")
            .arg("120")
            .arg("docker")
            .arg("-H")
            .arg(self.host())
            .args(args)
            .env("DOCKER_CONFIG", self.root().join("client"))
            .env_remove("DOCKER_HOST")
            .output()
            .unwrap()
    }

    fn pull(&self) -> (bool, String) {
        let out = self.docker(&["pull", IMAGE]);
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        eprintln!("docker pull {IMAGE} ({}): {}", out.status, text.trim());
        (out.status.success(), text)
    }
}

impl Drop for Dockerd {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let pid = child.id();
            let _ = Command::new("kill")
                .args(["-s", "TERM", &pid.to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(30);
            while matches!(child.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(100));
            }
            if let Ok(None) = child.try_wait() {
                eprintln!("dockerd {pid} ignored SIGTERM: killing it");
                let _ = child.kill();
            }
            let _ = child.wait();
        }
        if let Some(dir) = self.dir.take() {
            // The relay inside the namespace, by its pid file.
            if let Ok(pid) = std::fs::read_to_string(dir.path().join("relay.pid")) {
                let pid = pid.trim();
                if !pid.is_empty() && Path::new(&format!("/proc/{pid}")).exists() {
                    let _ = Command::new("kill").args(["-s", "KILL", pid]).status();
                }
            }
            // A managed containerd left behind by a killed dockerd: ours, by its pid file.
            let pid_file = dir.path().join("exec/containerd/containerd.pid");
            if let Ok(pid) = std::fs::read_to_string(&pid_file) {
                let pid = pid.trim();
                if !pid.is_empty() && Path::new(&format!("/proc/{pid}")).exists() {
                    let _ = Command::new("kill").args(["-s", "KILL", pid]).status();
                }
            }
            let path = dir.path().to_path_buf();
            if let Err(error) = dir.close() {
                // vfs layers can hold read-only directories; try once more.
                let _ = Command::new("chmod")
                    .arg("-R")
                    .arg("u+w")
                    .arg(&path)
                    .status();
                if let Err(again) = std::fs::remove_dir_all(&path) {
                    eprintln!("cannot remove {}: {error}; {again}", path.display());
                }
            }
        }
    }
}

/// Inside the namespace: 127.0.0.1:PORT forwarded to a unix socket.
const RELAY_PY: &str = r#"
import socket, sys, threading
port, path, ready = int(sys.argv[1]), sys.argv[2], sys.argv[3]
server = socket.socket()
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind(("127.0.0.1", port))
server.listen(16)
open(ready, "w").close()
def pipe(a, b):
    try:
        while True:
            data = a.recv(65536)
            if not data:
                break
            b.sendall(data)
    except OSError:
        pass
    finally:
        try:
            b.shutdown(socket.SHUT_WR)
        except OSError:
            pass
while True:
    client, _ = server.accept()
    upstream = socket.socket(socket.AF_UNIX)
    upstream.connect(path)
    threading.Thread(target=pipe, args=(client, upstream), daemon=True).start()
    threading.Thread(target=pipe, args=(upstream, client), daemon=True).start()
"#;

/// On this machine: a unix socket at `path` forwarded to 127.0.0.1:`port`
/// (threads that end with the test process).
fn relay_to_loopback(path: &Path, port: u16) {
    let listener = std::os::unix::net::UnixListener::bind(path).expect("binding the relay socket");
    std::thread::spawn(move || {
        for inbound in listener.incoming() {
            let Ok(inbound) = inbound else { return };
            let Ok(outbound) = TcpStream::connect(("127.0.0.1", port)) else {
                continue;
            };
            let (mut in_read, mut out_write) =
                (inbound.try_clone().unwrap(), outbound.try_clone().unwrap());
            let (mut out_read, mut in_write) = (outbound, inbound);
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut in_read, &mut out_write);
                let _ = out_write.shutdown(std::net::Shutdown::Write);
            });
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut out_read, &mut in_write);
                let _ = in_write.shutdown(std::net::Shutdown::Write);
            });
        }
    });
}

fn sha256(dir: &Path, bytes: &[u8]) -> String {
    let path = dir.join("blob.tmp");
    std::fs::write(&path, bytes).unwrap();
    let out = Command::new("sha256sum").arg(&path).output().unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap()[..64].to_string()
}

/// Writes a one-layer image into the registry's file-system storage, in
/// the layout docker/distribution reads (blobs, layer links, tag links).
fn seed_registry(storage: &Path, scratch: &Path) {
    let mut layer = tar::Builder::new(Vec::new());
    let content = b"nanoclaw daemon-config probe\n";
    let mut header = tar::Header::new_gnu();
    header.set_size(content.len() as u64);
    header.set_mode(0o644);
    header.set_mtime(0);
    header.set_cksum();
    layer
        .append_data(&mut header, "probe.txt", &content[..])
        .unwrap();
    let layer = layer.into_inner().unwrap();
    let layer_digest = sha256(scratch, &layer);
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    };
    let config = serde_json::to_vec(&serde_json::json!({
        "architecture": arch,
        "os": "linux",
        "config": {},
        "rootfs": {"type": "layers", "diff_ids": [format!("sha256:{layer_digest}")]},
    }))
    .unwrap();
    let config_digest = sha256(scratch, &config);
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": format!("sha256:{config_digest}"),
            "size": config.len(),
        },
        "layers": [{
            "mediaType": "application/vnd.oci.image.layer.v1.tar",
            "digest": format!("sha256:{layer_digest}"),
            "size": layer.len(),
        }],
    }))
    .unwrap();
    let manifest_digest = sha256(scratch, &manifest);
    let v2 = storage.join("docker/registry/v2");
    let put = |path: PathBuf, bytes: &[u8]| {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    };
    let link = |digest: &str| format!("sha256:{digest}");
    for (digest, bytes) in [
        (&layer_digest, &layer),
        (&config_digest, &config),
        (&manifest_digest, &manifest),
    ] {
        put(
            v2.join(format!("blobs/sha256/{}/{digest}/data", &digest[..2])),
            bytes,
        );
    }
    let repo = v2.join("repositories/nanoclaw/probe");
    for digest in [&layer_digest, &config_digest] {
        put(
            repo.join(format!("_layers/sha256/{digest}/link")),
            link(digest).as_bytes(),
        );
    }
    put(
        repo.join(format!(
            "_manifests/revisions/sha256/{manifest_digest}/link"
        )),
        link(&manifest_digest).as_bytes(),
    );
    put(
        repo.join("_manifests/tags/1/current/link"),
        link(&manifest_digest).as_bytes(),
    );
    put(
        repo.join(format!(
            "_manifests/tags/1/index/sha256/{manifest_digest}/link"
        )),
        link(&manifest_digest).as_bytes(),
    );
}

/// The registry double: TLS for `registry.test` on a loopback port, its
/// storage seeded with the probe image.
fn start_registry(dir: &Path, ca: &TestCa) -> (Process, SocketAddr) {
    let cert = ca.issue(&["registry.test"]);
    std::fs::write(dir.join("registry.crt"), &cert.cert_pem).unwrap();
    std::fs::write(dir.join("registry.key"), cert.key_pem()).unwrap();
    let storage = dir.join("reg");
    seed_registry(&storage, dir);
    let port = nanoclaw_testkit::net::free_port(Ipv4Addr::LOCALHOST.into()).unwrap();
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let config = format!(
        "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\n\
         http:\n  addr: {addr}\n  tls:\n    certificate: {}\n    key: {}\n",
        storage.display(),
        dir.join("registry.crt").display(),
        dir.join("registry.key").display()
    );
    std::fs::write(dir.join("registry.yml"), config).unwrap();
    let log = std::fs::File::create(dir.join("registry.log")).unwrap();
    let child = Command::new(REGISTRY)
        .arg("serve")
        .arg(dir.join("registry.yml"))
        .env_clear()
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .expect("starting docker-registry");
    let mut process = Process {
        child,
        name: "docker-registry",
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(addr).is_err() {
        if let Some(status) = process.child.try_wait().unwrap() {
            panic!(
                "docker-registry exited ({status}):\n{}",
                std::fs::read_to_string(dir.join("registry.log")).unwrap_or_default()
            );
        }
        assert!(Instant::now() < deadline, "docker-registry did not listen");
        std::thread::sleep(Duration::from_millis(100));
    }
    (process, addr)
}

/// Runs the CLI.
fn cli(args: &[&str], docker_host: &str) -> Output {
    Command::new(cli_support::BIN)
        .args(args)
        .env("DOCKER_HOST", docker_host)
        .env_remove("NANOCLAW_WORKSPACE")
        .output()
        .unwrap()
}

/// The section `==> PATH <==` of `daemon-config`'s output.
fn section<'a>(stdout: &'a str, path: &str) -> &'a str {
    let head = format!("==> {path} <==\n");
    let start = stdout
        .find(&head)
        .unwrap_or_else(|| panic!("no {path} in:\n{stdout}"))
        + head.len();
    let rest = &stdout[start..];
    &rest[..rest.find("\n\n").unwrap_or(rest.len())]
}

/// The variables of the drop-in's `Environment="NAME=VALUE"` lines.
fn drop_in_env(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|l| l.strip_prefix("Environment=\"")?.strip_suffix('"'))
        .map(|pair| {
            let pair = pair
                .replace("%%", "%")
                .replace("\\\"", "\"")
                .replace("\\\\", "\\");
            let (name, value) = pair.split_once('=').unwrap();
            (name.to_string(), value.to_string())
        })
        .collect()
}

/// The doctor's `daemon-proxy` check against `docker_host`.
fn doctor_daemon_proxy(env_file: &Path, docker_host: &str) -> serde_json::Value {
    let out = cli(
        &[
            "doctor",
            "--json",
            "--env-file",
            &env_file.to_string_lossy(),
            "--probe",
            "https://registry.test/v2/",
            "--passthrough-host",
            "registry.test",
        ],
        docker_host,
    );
    let checks: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "doctor --json: {e}\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    checks
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "daemon-proxy")
        .cloned()
        .expect("a daemon-proxy check")
}

#[test]
fn a_second_dockerd_pulls_through_the_proxy_only_with_what_daemon_config_prints() {
    if let Some(why) = unavailable() {
        prereq::missing("a second dockerd and a registry double", &why);
        return;
    }
    // The main daemon's bridge must survive the second daemons.
    let main_bridge = Path::new("/sys/class/net/docker0");
    let had_bridge = main_bridge.exists();
    let work = tempfile::tempdir().unwrap();
    let registry_ca = TestCa::new("nanoclaw registry test CA");
    let (_registry, registry_addr) = start_registry(work.path(), &registry_ca);

    // The stand-in: maps registry.test to the registry, trusts its CA
    // upstream, intercepts TLS with a CA of its own.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let env_file = work.path().join("standin.env");
    let upstream_ca = registry_ca.write_pem(work.path(), "registry-ca.pem");
    let standin = runtime
        .block_on(standin::start(
            StandinConfig::builder()
                .listen(standin::parse_listen_addr("0").unwrap())
                .ca_dir(work.path().join("standin-ca"))
                .upstream_ca_files([upstream_ca])
                .maps([HostMapping::parse(&format!("registry.test={registry_addr}")).unwrap()])
                .env_file(&env_file)
                .build(),
        ))
        .unwrap();
    let env_arg = env_file.to_string_lossy().to_string();
    let proxy_port = standin.addr().port();

    // No proxy: the daemon in a network namespace with no route out, as in
    // the microVM. The Engine version `daemon-config` uses comes from it.
    let isolated = Dockerd::start(&BTreeMap::new(), None);
    let (pulled, text) = isolated.pull();
    assert!(!pulled, "pulled without a proxy:\n{text}");
    assert!(
        text.contains("lookup registry.test") || text.contains("network is unreachable"),
        "not a routing failure:\n{text}"
    );
    let unconfigured = doctor_daemon_proxy(&env_file, &isolated.host());
    assert_eq!(unconfigured["status"], "warn", "{unconfigured}");
    assert!(unconfigured["detail"]
        .as_str()
        .unwrap()
        .contains("no HTTPS proxy"));
    let out = cli(&["daemon-config", "--env-file", &env_arg], &isolated.host());
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    drop(isolated);
    let version = String::from_utf8(
        Command::new("dockerd")
            .arg("--version")
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    // The form follows the daemon's version; this machine's dockerd decides
    // which one is checked here (the unit tests cover both).
    let legacy = version
        .split_whitespace()
        .nth(2)
        .and_then(|v| v.split('.').next())
        .and_then(|m| m.parse::<u32>().ok())
        .is_some_and(|major| major < 23);
    let env: BTreeMap<String, String> = if legacy {
        assert!(!stdout.contains("/etc/docker/daemon.json"), "{stdout}");
        drop_in_env(section(&stdout, DROP_IN))
    } else {
        let json: serde_json::Value =
            serde_json::from_str(section(&stdout, "/etc/docker/daemon.json")).unwrap();
        let proxies = &json["proxies"];
        [
            ("HTTP_PROXY", &proxies["http-proxy"]),
            ("HTTPS_PROXY", &proxies["https-proxy"]),
            ("NO_PROXY", &proxies["no-proxy"]),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.as_str().unwrap().to_string()))
        .collect()
    };
    assert_eq!(
        env.get("HTTPS_PROXY").map(String::as_str),
        Some(standin.proxy_url()),
        "{stdout}"
    );
    assert!(env["NO_PROXY"].contains("127.0.0.1"), "{stdout}");
    let ca_pem = section(&stdout, CA_FILE);
    assert_eq!(ca_pem.trim(), standin.ca_pem().trim());
    let ca_path = work.path().join("nanoclaw-proxy-ca.crt");
    std::fs::write(&ca_path, format!("{ca_pem}\n")).unwrap();

    // Proxy, no CA: through the stand-in, which the daemon does not trust.
    let untrusting = Dockerd::start(&env, Some(proxy_port));
    let configured = doctor_daemon_proxy(&env_file, &untrusting.host());
    assert_eq!(configured["status"], "pass", "{configured}");
    let (pulled, text) = untrusting.pull();
    assert!(!pulled, "pulled without the proxy CA:\n{text}");
    assert!(
        text.contains("x509") || text.contains("certificate"),
        "not a certificate failure:\n{text}"
    );
    drop(untrusting);

    // Proxy and CA. The CA goes to the system store in real use
    // (`update-ca-certificates`); a test cannot write this machine's store,
    // so dockerd reads it through SSL_CERT_FILE, which Go's crypto/x509
    // honours on Linux in place of the system bundle.
    let mut trusted_env = env.clone();
    trusted_env.insert(
        "SSL_CERT_FILE".into(),
        ca_path.to_string_lossy().to_string(),
    );
    let trusting = Dockerd::start(&trusted_env, Some(proxy_port));
    let (pulled, text) = trusting.pull();
    assert!(pulled, "the pull failed with the proxy and its CA:\n{text}");
    let listed = trusting.docker(&["image", "inspect", "--format", "{{.Id}}", IMAGE]);
    assert!(listed.status.success(), "{listed:?}");
    drop(trusting);

    runtime.block_on(standin.shutdown());
    assert_eq!(
        main_bridge.exists(),
        had_bridge,
        "the main daemon's docker0 bridge was disturbed"
    );
    let _ = std::io::stderr().flush();
}

#[test]
fn write_puts_the_files_under_root_with_credentials_and_prints_none() {
    let dir = tempfile::tempdir().unwrap();
    let env = dir.path().join("sandbox.env");
    std::fs::write(
        &env,
        "HTTPS_PROXY=http://alice:s3cret@proxy.test:3128\nNO_PROXY=.corp\n",
    )
    .unwrap();
    let root = dir.path().join("root");
    let env_arg = env.to_string_lossy().to_string();
    let root_arg = root.to_string_lossy().to_string();
    for (version, path) in [("20.10", DROP_IN), ("27.3.1", "/etc/docker/daemon.json")] {
        let out = cli(
            &[
                "daemon-config",
                "--env-file",
                &env_arg,
                "--engine-version",
                version,
                "--write",
                "--root",
                &root_arg,
            ],
            "unix:///nonexistent/daemon-config-test.sock",
        );
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(
            out.status.success(),
            "{stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let written = root.join(path.trim_start_matches('/'));
        assert!(
            stdout.contains(&format!("wrote {}", written.display())),
            "{stdout}"
        );
        assert!(!stdout.contains("s3cret"), "{stdout}");
        let text = std::fs::read_to_string(&written).unwrap();
        assert!(
            text.contains("http://alice:s3cret@proxy.test:3128"),
            "{text}"
        );
        assert!(text.contains(".corp,localhost,127.0.0.1,::1"), "{text}");
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&written).unwrap().permissions().mode();
        assert_eq!(
            mode & 0o777,
            0o600,
            "{path}: credentials readable by others"
        );
        // Printing shows *** instead.
        let out = cli(
            &[
                "daemon-config",
                "--env-file",
                &env_arg,
                "--engine-version",
                version,
            ],
            "unix:///nonexistent/daemon-config-test.sock",
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success());
        assert!(
            !stdout.contains("s3cret") && !stdout.contains("alice"),
            "{stdout}"
        );
        assert!(stdout.contains("http://***@proxy.test:3128"), "{stdout}");
    }
    // The 20.10 file was not turned into daemon.json; both now exist.
    assert!(root.join(DROP_IN.trim_start_matches('/')).exists());
}

#[test]
fn bad_input_is_named_and_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let env = dir.path().join("sandbox.env");
    std::fs::write(&env, "HTTPS_PROXY=http://proxy.test:3128\n").unwrap();
    let no_proxy = dir.path().join("empty.env");
    std::fs::write(&no_proxy, "# nothing\n").unwrap();
    let host = "unix:///nonexistent/daemon-config-test.sock";
    let env_arg = env.to_string_lossy().to_string();
    let none_arg = no_proxy.to_string_lossy().to_string();
    for (args, needle) in [
        (
            vec![
                "daemon-config",
                "--env-file",
                &env_arg,
                "--engine-version",
                "latest",
            ],
            "--engine-version latest",
        ),
        (
            vec![
                "daemon-config",
                "--env-file",
                &none_arg,
                "--engine-version",
                "27",
            ],
            "no proxy is set",
        ),
    ] {
        let out = cli(&args, host);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
    }
    // No daemon and no --engine-version: says to pass one.
    let out = cli(&["daemon-config", "--env-file", &env_arg], host);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("--engine-version"), "{stderr}");
}
