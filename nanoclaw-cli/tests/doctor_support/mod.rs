//! Shared by the `doctor` and `inspect` tests: a test "public" CA, an HTTPS
//! upstream on loopback, the proxy stand-in started in-process (it maps every
//! test name to the upstream, so nothing touches public DNS), env files, the
//! built binary, and agent containers on the real daemon.
//!
//! Include with `mod doctor_support;` next to `mod cli_support;` (which
//! connects to Docker). The test CA, the upstream server and the env-file
//! reader are the test kit's (`nanoclaw_testkit`).
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use nanoclaw_agent_image::{ensure_agent_image, AgentImageRequest};
use nanoclaw_sandbox_core::runtime::docker::{DockerOptions, DockerRuntime};
use nanoclaw_sandbox_core::runtime::{AgentHandle, ContainerRuntime, InstallId, InstanceId, TEST};
use nanoclaw_sandbox_core::sandbox::{DetectOptions, InstanceDir, SandboxEnv, SandboxPatcher};
use nanoclaw_sandbox_core::spec::{ContainerSpec, NetworkMode};
use nanoclaw_sandbox_core::standin::{self, Standin, StandinConfig};
use nanoclaw_sandbox_core::trust::SystemRoots;
use nanoclaw_testkit::ca::TestCa;
use nanoclaw_testkit::envfile;
use nanoclaw_testkit::https::{self, Server};
use serde_json::Value;
use tempfile::TempDir;

use crate::cli_support;

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_nanoclaw-sandbox");
/// The probe host: mapped by the stand-in to the upstream.
pub const PROBE_HOST: &str = "api.doctor.test";
/// A passthrough host: mapped by the stand-in to the upstream too.
pub const PASSTHROUGH_HOST: &str = "web.whatsapp.com";

/// The test CA, the upstream, a runtime for the in-process servers, and a
/// scratch directory.
pub struct Fixture {
    pub rt: tokio::runtime::Runtime,
    pub dir: TempDir,
    pub pki: TestCa,
    pub pki_pem: PathBuf,
    pub upstream: SocketAddr,
    server: Server,
    files: AtomicUsize,
}

/// How a stand-in is set up.
#[derive(Debug, Default, Clone)]
pub struct ProxyOptions {
    /// Listen on every address (else 127.0.0.1).
    pub listen_all: bool,
    /// Tunnel these untouched.
    pub bypass: Vec<&'static str>,
    /// Refuse these with the policy page.
    pub deny: Vec<&'static str>,
}

/// A running stand-in and its env file.
pub struct Proxy {
    pub standin: Standin,
    pub env_file: PathBuf,
}

impl Proxy {
    /// Its variables, as `NAME=VALUE` lines.
    pub fn env_lines(&self) -> Vec<String> {
        self.standin
            .env_vars()
            .iter()
            .map(|(name, value)| format!("{name}={value}"))
            .collect()
    }
}

/// One run of the binary.
#[derive(Debug)]
pub struct Outcome {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Outcome {
    /// stdout as the doctor's JSON array.
    pub fn checks(&self) -> Vec<Value> {
        match serde_json::from_str::<Value>(&self.stdout) {
            Ok(Value::Array(checks)) => checks,
            other => panic!(
                "not a JSON array ({other:?}):\n{}\n{}",
                self.stdout, self.stderr
            ),
        }
    }

    /// Every check with `id`.
    pub fn all(&self, id: &str) -> Vec<Value> {
        self.checks()
            .into_iter()
            .filter(|c| c["id"] == id)
            .collect()
    }

    /// The one check with `id`.
    pub fn check(&self, id: &str) -> Value {
        let mut found = self.all(id);
        assert_eq!(found.len(), 1, "{id} once in:\n{}", self.stdout);
        found.remove(0)
    }

    /// Asserts `id` has `status` and its detail (or fix) contains each needle.
    pub fn expect(&self, id: &str, status: &str, needles: &[&str]) -> Value {
        let check = self.check(id);
        assert_eq!(check["status"], status, "{id}: {check:#}");
        let text = format!("{} {}", check["detail"], check["fix"]);
        for needle in needles {
            assert!(text.contains(needle), "{id}: `{needle}` not in {check:#}");
        }
        if status == "warn" || status == "fail" {
            assert!(check["fix"].is_string(), "{id} has a fix: {check:#}");
        }
        check
    }
}

impl Fixture {
    /// The CA, and the upstream serving both test names.
    pub fn new() -> Self {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a runtime for the test servers");
        let dir = tempfile::tempdir().unwrap();
        let pki = TestCa::new("doctor test public CA");
        let pki_pem = pki.write_pem(dir.path(), "public-ca.pem");
        // Every request answered `204 No Content`.
        let tls = pki.server_config(&[PROBE_HOST, PASSTHROUGH_HOST], &[b"http/1.1"]);
        let no_content = https::handler(|_| async { https::response(204, "text/plain", "") });
        let server = rt
            .block_on(
                Server::https(tls, no_content)
                    .name("doctor-upstream")
                    .start(),
            )
            .expect("the doctor's upstream");
        let upstream = server.addr();
        Fixture {
            rt,
            dir,
            pki,
            pki_pem,
            upstream,
            server,
            files: AtomicUsize::new(0),
        }
    }

    fn unique(&self, name: &str) -> PathBuf {
        let n = self.files.fetch_add(1, Ordering::Relaxed);
        self.dir.path().join(format!("{n}-{name}"))
    }

    /// Starts a stand-in that maps the test names to the upstream and
    /// verifies it with the test CA.
    pub fn proxy(&self, options: ProxyOptions) -> Proxy {
        let env_file = self.unique("standin.env");
        let listen = if options.listen_all {
            "0.0.0.0:0"
        } else {
            "127.0.0.1:0"
        };
        let config = StandinConfig::builder()
            .listen(listen.parse().unwrap())
            .ca_dir(self.unique("standin-ca"))
            .maps([PROBE_HOST, PASSTHROUGH_HOST].map(|host| {
                format!("{host}={}", self.upstream)
                    .parse()
                    .expect("a map entry")
            }))
            .upstream_ca_files([self.pki_pem.clone()])
            .bypass(options.bypass.iter().map(|p| p.parse().unwrap()))
            .deny(options.deny.iter().map(|p| p.parse().unwrap()))
            .env_file(&env_file)
            .build();
        let standin = self
            .rt
            .block_on(standin::start(config))
            .expect("starting the stand-in");
        Proxy { standin, env_file }
    }

    /// Writes an env file of `lines`.
    pub fn env_file(&self, lines: &[String]) -> PathBuf {
        let path = self.unique("doctor.env");
        std::fs::write(&path, lines.join("\n") + "\n").unwrap();
        path
    }

    /// Writes `text` to a file called `name` and returns its path.
    pub fn file(&self, name: &str, text: &str) -> PathBuf {
        let path = self.unique(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    /// `nanoclaw-sandbox doctor --json` with the test probe, passthrough
    /// host and public CA, then `args`, run in `cwd`.
    pub fn doctor(&self, cwd: &Path, args: &[&str]) -> Outcome {
        let probe = format!("https://{PROBE_HOST}/");
        let public_ca = self.pki_pem.display().to_string();
        let mut all = vec![
            "doctor",
            "--json",
            "--timeout",
            "3",
            "--probe",
            &probe,
            "--passthrough-host",
            PASSTHROUGH_HOST,
            "--public-ca",
            &public_ca,
        ];
        all.extend_from_slice(args);
        run(cwd, &all, &[])
    }
}

impl Fixture {
    /// [`doctor`](Self::doctor) in the scratch directory with `--env-file env_file`.
    pub fn doctor_env(&self, env_file: &Path, args: &[&str]) -> Outcome {
        let mut all = vec!["--env-file", env_file.to_str().expect("a UTF-8 path")];
        all.extend_from_slice(args);
        self.doctor(self.dir.path(), &all)
    }
}

/// Runs the binary in `cwd` with `args`, `env` added to its environment.
pub fn run(cwd: &Path, args: &[&str], env: &[(&str, &str)]) -> Outcome {
    let mut cmd = assert_cmd::Command::new(BIN);
    cmd.current_dir(cwd).args(args);
    for (name, value) in env {
        cmd.env(name, value);
    }
    let output = cmd.output().expect("running nanoclaw-sandbox");
    Outcome {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// The runtime of the install rooted at `workspace` (what the CLI uses with
/// `--workspace`), or `None` after `prereq::missing` when no daemon answers.
pub fn docker(fixture: &Fixture, workspace: &Path) -> Option<Arc<DockerRuntime>> {
    let options = DockerOptions::new(InstallId::from_workspace(workspace));
    let runtime = fixture.rt.block_on(cli_support::connect_with(options))?;
    Some(Arc::new(runtime))
}

/// Agent containers for one test: the agent image, the sandbox layer as the
/// env file configures it, and the handles (removed at the end).
pub struct Agents<'f> {
    fixture: &'f Fixture,
    runtime: Arc<DockerRuntime>,
    image: String,
    env: SandboxEnv,
    instance: InstanceDir,
    handles: Vec<AgentHandle>,
}

impl<'f> Agents<'f> {
    /// Builds (or reuses) the agent image; the instance directory goes in `workspace`.
    pub fn new(
        fixture: &'f Fixture,
        runtime: Arc<DockerRuntime>,
        workspace: &Path,
        env_file: &Path,
    ) -> Self {
        let request = AgentImageRequest::new(BIN).entrypoint_args(["agent"]);
        let image = fixture
            .rt
            .block_on(ensure_agent_image(runtime.as_ref(), &request, &mut |_| {}))
            .expect("the agent image")
            .tag;
        let vars = envfile::read(env_file);
        let env =
            SandboxEnv::detect_from(|name| vars.get(name).cloned(), &DetectOptions::default())
                .expect("the env file's settings");
        let instance = InstanceDir::create(Some(workspace), &InstanceId::generate().to_string())
            .expect("the instance directory");
        if let Some(store) = env.trust_store() {
            instance
                .write_trust(store, &SystemRoots::Builtin.load().unwrap())
                .unwrap();
        }
        Agents {
            fixture,
            runtime,
            image,
            env,
            instance,
            handles: Vec::new(),
        }
    }

    fn spec(&self, name: &str, env: &[(&str, &str)]) -> ContainerSpec {
        env.iter()
            .fold(ContainerSpec::builder(self.image.as_str()), |b, (k, v)| {
                b.env(*k, *v)
            })
            .name(name)
            .command(["--sleep", "120"])
            .label(TEST, "true")
            .network(NetworkMode::None)
            .build()
            .unwrap()
    }

    /// Starts a sleeping agent called `name`, through the sandbox layer
    /// (`patched`) or as it is.
    pub fn start(&mut self, name: &str, patched: bool) -> String {
        self.spawn(name, patched, &[])
    }

    /// Starts a sleeping agent called `name` as it is, with `env`.
    pub fn start_with_env(&mut self, name: &str, env: &[(&str, &str)]) -> String {
        self.spawn(name, false, env)
    }

    fn spawn(&mut self, name: &str, patched: bool, env: &[(&str, &str)]) -> String {
        let mut spec = self.spec(name, env);
        if patched {
            let patcher = SandboxPatcher::new(self.env.mode(), Some(self.instance.paths()))
                .expect("a patcher");
            spec = patcher.patch(&spec).expect("patching").0;
        }
        let runtime: Arc<dyn ContainerRuntime> = self.runtime.clone();
        let handle = self
            .fixture
            .rt
            .block_on(AgentHandle::spawn(runtime, &spec))
            .expect("spawning an agent");
        self.handles.push(handle);
        name.to_string()
    }

    /// Removes every agent started.
    pub fn remove_all(&mut self) {
        for handle in self.handles.drain(..) {
            self.fixture
                .rt
                .block_on(handle.remove())
                .expect("removing an agent");
        }
    }
}

impl Drop for Agents<'_> {
    fn drop(&mut self) {
        // Handles dropped unremoved (a failed assertion) remove themselves.
        self.handles.clear();
    }
}
