//! The agent host end to end, as an operator runs it: the `nanoclaw-sandbox
//! host` binary, the Telegram Bot API and Anthropic Messages API doubles
//! (HTTPS on loopback, certificates from a local "public" CA), mitmproxy as
//! the sandbox's intercepting proxy in front of both, and agent containers on
//! the real Docker daemon, patched by the sandbox layer.
//!
//! Every proof has its control: the chat that is not allowed gets no
//! container (the allowed ones do); the API key reaches the model double
//! (so it was handed over) yet is in no container's `docker inspect`; the
//! crashing chat gets the failure reply while the others get the model's
//! answer. The certificate control (agents without the CA fail) is the
//! demo's second run (`cli_demo.rs`).

mod cli_support;

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use cli_support::{containers_of_workspace, send_signal, wait_with_patience, BIN};
use nanoclaw_cli::doubles::anthropic::ModelDouble;
use nanoclaw_cli::doubles::telegram::{SentMessage, TelegramDouble};
use nanoclaw_cli::upstream::LocalCa;
use nanoclaw_sandbox_core::host::FAILURE_REPLY;
use nanoclaw_sandbox_core::runtime::{InstallId, INSTALL};
use nanoclaw_sandbox_core::sandbox::install_instances_dir;
use nanoclaw_testkit::mitm::{MitmOptions, Mitmproxy, Route};
use nanoclaw_testkit::prereq::missing;
use nanoclaw_testkit::{docker, envfile};

const TOKEN: &str = "777:host-e2e-token";
const API_KEY: &str = "sk-host-e2e-secret-key";
const TELEGRAM_HOST: &str = "api.telegram.test";
const MODEL_HOST: &str = "api.anthropic.test";
/// The host's time zone, which agents get (`TZ`, as NanoClaw passes it).
const AGENT_TZ: &str = "Europe/Berlin";
/// A variable of the host's environment no agent may see.
const STRAY_VAR: &str = "NANOCLAW_HOST_STRAY";
/// How long the whole conversation of a test may take.
const WAIT: Duration = Duration::from_secs(120);

/// The doubles, mitmproxy in front of them, and a workspace.
struct Stack {
    telegram: TelegramDouble,
    model: ModelDouble,
    _mitm: Mitmproxy,
    env_file: PathBuf,
    workspace: tempfile::TempDir,
    _dir: tempfile::TempDir,
}

impl Stack {
    async fn start() -> Option<Stack> {
        if let Err(why) = docker::available() {
            missing("Docker daemon", &why);
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let public = LocalCa::generate("host e2e public CA").unwrap();
        let public_pem = dir.path().join("public-ca.pem");
        std::fs::write(&public_pem, public.pem()).unwrap();
        let telegram = TelegramDouble::start(&public, TELEGRAM_HOST, TOKEN)
            .await
            .unwrap();
        let model = ModelDouble::start(&public, MODEL_HOST, Some(API_KEY))
            .await
            .unwrap();
        // Containers on the bridge reach it through the gateway, the host
        // through loopback: listen on every address (the tests' own
        // machine only; mitmproxy maps the two names, nothing else exists).
        let mitm = Mitmproxy::start_or_skip(&MitmOptions {
            listen_host: Some(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
            routes: vec![
                Route::new(TELEGRAM_HOST, telegram.addr()),
                Route::new(MODEL_HOST, model.addr()),
            ],
            upstream_ca_pem: Some(public_pem),
            ..MitmOptions::default()
        })?;
        let proxy = format!("http://127.0.0.1:{}", mitm.addr().port());
        let ca = base64::engine::general_purpose::STANDARD.encode(mitm.ca_pem());
        let env_file = dir.path().join("sandbox.env");
        std::fs::write(
            &env_file,
            format!("HTTPS_PROXY={proxy}\nHTTP_PROXY={proxy}\nPROXY_CA_CERT_B64={ca}\n"),
        )
        .unwrap();
        Some(Stack {
            telegram,
            model,
            _mitm: mitm,
            env_file,
            workspace: tempfile::tempdir().unwrap(),
            _dir: dir,
        })
    }

    fn workspace(&self) -> &Path {
        self.workspace.path()
    }

    /// Starts `nanoclaw-sandbox host` for this stack.
    fn host(&self, allowed: &str, max_agents: usize, agent_args: &[&str]) -> HostProcess {
        let mut command = Command::new(BIN);
        command
            .arg("host")
            .arg("--workspace")
            .arg(self.workspace())
            .arg("--env-file")
            .arg(&self.env_file)
            .args(["--max-agents", &max_agents.to_string()])
            .args(["--poll-seconds", "1", "--grace", "10", "--dns", "127.0.0.1"]);
        if !agent_args.is_empty() {
            command.arg("--").args(agent_args);
        }
        self.spawn(command, allowed)
    }

    /// Starts `command` with the host's environment: the two API bases,
    /// the token, the key and the allowlist.
    fn spawn(&self, mut command: Command, allowed: &str) -> HostProcess {
        let log = self.workspace().join(format!(
            "host-{}.log",
            std::process::id() as u128 + Instant::now().elapsed().as_nanos()
        ));
        let log_file = std::fs::File::create(&log).unwrap();
        command
            .env("TELEGRAM_BOT_TOKEN", TOKEN)
            .env("TELEGRAM_API_BASE", format!("https://{TELEGRAM_HOST}"))
            .env("ANTHROPIC_API_KEY", API_KEY)
            .env("ANTHROPIC_BASE_URL", format!("https://{MODEL_HOST}"))
            .env("NANOCLAW_ALLOWED_CHATS", allowed)
            // Passed through to agents; the stray variable is not.
            .env("TZ", AGENT_TZ)
            .env(STRAY_VAR, "stray-value")
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log_file);
        HostProcess {
            child: Some(command.spawn().expect("starting the host")),
            log,
        }
    }

    /// The ids of this workspace's containers (running or not).
    fn containers(&self) -> Vec<String> {
        containers_of_workspace(self.workspace())
    }

    /// The instance directories of hosts on this workspace (each holds the
    /// CA files its agents mount): `<workspace>/.nanoclaw/instances/<install>/*`.
    fn instance_dirs(&self) -> Vec<PathBuf> {
        let install = InstallId::from_workspace(self.workspace());
        let dir = install_instances_dir(Some(self.workspace()), install.as_str());
        let mut dirs: Vec<PathBuf> = std::fs::read_dir(dir)
            .map(|entries| entries.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        dirs.sort();
        dirs
    }
}

struct HostProcess {
    child: Option<Child>,
    log: PathBuf,
}

impl HostProcess {
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGTERM, and the exit status.
    fn stop(&mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("running");
        send_signal(child.id(), "TERM");
        wait_with_patience(&mut child)
    }

    /// SIGKILL: no chance to clean up.
    fn kill(&mut self) {
        let mut child = self.child.take().expect("running");
        send_signal(child.id(), "KILL");
        let _ = child.wait();
    }
}

impl Drop for HostProcess {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Samples this workspace's running containers until stopped: the largest
/// number seen at once, every chat label seen, and each container's
/// `docker inspect` once.
struct Sampler {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<Samples>>,
}

#[derive(Default, Debug)]
struct Samples {
    max_running: usize,
    chats: BTreeSet<String>,
    inspected: BTreeMap<String, String>,
}

impl Sampler {
    fn start(workspace: &Path) -> Sampler {
        let label = format!("{INSTALL}={}", InstallId::from_workspace(workspace));
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut samples = Samples::default();
            while !flag.load(Ordering::SeqCst) {
                let output = Command::new("docker")
                    .args(["ps", "-q", "--filter"])
                    .arg(format!("label={label}"))
                    .output()
                    .expect("docker ps");
                let running: Vec<String> = String::from_utf8_lossy(&output.stdout)
                    .split_whitespace()
                    .map(str::to_string)
                    .collect();
                samples.max_running = samples.max_running.max(running.len());
                for id in running {
                    if samples.inspected.contains_key(&id) {
                        continue;
                    }
                    let inspect = Command::new("docker")
                        .args(["inspect", &id])
                        .output()
                        .expect("docker inspect");
                    // Removed between `ps` and `inspect` (its answer came
                    // meanwhile): nothing to inspect; it is not recorded.
                    if !inspect.status.success() {
                        continue;
                    }
                    let text = String::from_utf8_lossy(&inspect.stdout).into_owned();
                    if let Some(chat) = text
                        .split("\"nanoclaw.chat\": \"")
                        .nth(1)
                        .and_then(|rest| rest.split('"').next())
                    {
                        samples.chats.insert(chat.to_string());
                    }
                    samples.inspected.insert(id, text);
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            samples
        });
        Sampler {
            stop,
            thread: Some(thread),
        }
    }

    fn finish(mut self) -> Samples {
        self.stop.store(true, Ordering::SeqCst);
        self.thread.take().unwrap().join().unwrap()
    }
}

fn in_chat(sent: &[SentMessage], chat: i64) -> Vec<String> {
    sent.iter()
        .filter(|m| m.chat_id == chat)
        .map(|m| m.text.clone())
        .collect()
}

async fn wait_until(what: &str, mut done: impl FnMut() -> bool, host: &HostProcess) {
    let deadline = Instant::now() + WAIT;
    while !done() {
        assert!(
            Instant::now() < deadline,
            "{what}: not within {WAIT:?}\nhost log:\n{}",
            host.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_chats_three_messages_cap_two_each_answered_once_in_order() {
    let Some(stack) = Stack::start().await else {
        return;
    };
    let chats = [101, 102, 103];
    let mut host = stack.host("telegram:101,telegram:102, telegram:103", 2, &[]);
    let sampler = Sampler::start(stack.workspace());
    let mut posted: BTreeMap<i64, Vec<String>> = BTreeMap::new();
    for round in 1..=3 {
        for chat in chats {
            let text = format!("chat {chat} message {round}");
            stack.telegram.post(chat, "ada", &text);
            posted.entry(chat).or_default().push(text);
        }
    }
    // A chat that is not on the allowlist: told its id, no container.
    stack.telegram.post(999, "mallory", "let me in");
    wait_until(
        "9 answers and 1 refusal",
        || stack.telegram.sent().len() >= 10,
        &host,
    )
    .await;
    // Nothing more arrives later (no message answered twice).
    tokio::time::sleep(Duration::from_secs(2)).await;
    let samples = sampler.finish();
    let sent = stack.telegram.sent();
    assert_eq!(sent.len(), 10, "exactly one message per input: {sent:#?}");
    for chat in chats {
        let want: Vec<String> = posted[&chat]
            .iter()
            .map(|t| ModelDouble::answer_for(t))
            .collect();
        assert_eq!(
            in_chat(&sent, chat),
            want,
            "chat {chat}: answered once each, in order"
        );
    }
    let refusal = in_chat(&sent, 999);
    assert_eq!(refusal.len(), 1, "{refusal:?}");
    assert!(
        refusal[0].contains("telegram:999") && refusal[0].contains("NANOCLAW_ALLOWED_CHATS"),
        "{refusal:?}"
    );

    assert!(
        samples.max_running >= 1,
        "the sampler saw agents run: {samples:?}"
    );
    assert!(
        samples.max_running <= 2,
        "at most 2 agent containers at once, saw {}",
        samples.max_running
    );
    let want_chats: BTreeSet<String> = chats.iter().map(|c| format!("telegram:{c}")).collect();
    assert_eq!(
        samples.chats, want_chats,
        "containers ran for the allowed chats only (never telegram:999)"
    );
    // The key was handed over (the double accepted it on every call) ...
    let calls = stack.model.requests();
    assert_eq!(
        calls.iter().filter(|r| r.status == 200).count(),
        9,
        "{calls:#?}"
    );
    // ... yet no container's configuration shows it.
    assert!(!samples.inspected.is_empty(), "agents were inspected");
    for (id, inspect) in &samples.inspected {
        assert!(
            !inspect.contains(API_KEY),
            "container {id} shows the API key in docker inspect"
        );
        assert!(
            inspect.contains("PROXY") && inspect.contains("/workspace/chat"),
            "container {id} is patched and has its chat folder"
        );
        assert!(
            inspect.contains(&format!("\"TZ={AGENT_TZ}\"")) && !inspect.contains(STRAY_VAR),
            "container {id} gets the host's TZ and nothing else of its environment"
        );
    }
    // Each chat has its own folder.
    for chat in chats {
        assert!(stack
            .workspace()
            .join("chats")
            .join(format!("telegram.{chat}"))
            .is_dir());
        assert!(stack
            .workspace()
            .join("sessions")
            .join(format!("telegram.{chat}"))
            .is_dir());
    }

    let status = host.stop();
    assert!(status.success(), "host exit {status}\n{}", host.log());
    assert!(
        host.log().contains("message handled"),
        "one log line per message:\n{}",
        host.log()
    );
    assert_eq!(
        stack.containers(),
        Vec::<String>::new(),
        "0 containers after shutdown"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_killed_mid_answer_loses_nothing_and_answers_nothing_twice() {
    let Some(stack) = Stack::start().await else {
        return;
    };
    stack.model.set_delay(Duration::from_secs(4));
    let mut host = stack.host("*", 5, &[]);
    stack.telegram.post(201, "ada", "first before the crash");
    stack.telegram.post(202, "bob", "second before the crash");
    // Kill the host while the agents are waiting on the model.
    wait_until(
        "both agents working",
        || stack.model.requests().len() >= 2,
        &host,
    )
    .await;
    host.kill();
    assert!(
        stack.telegram.sent().is_empty(),
        "nothing was answered before the kill"
    );
    // The control: the killed host did leave its agents and its instance
    // directory (the CA files agents mount) behind.
    let left_containers = stack.containers();
    let left_dirs = stack.instance_dirs();
    assert!(
        !left_containers.is_empty(),
        "the killed host left its agents behind (the next start removes them)"
    );
    assert_eq!(left_dirs.len(), 1, "{left_dirs:?}");

    stack.model.set_delay(Duration::ZERO);
    let mut host = stack.host("*", 5, &[]);
    stack.telegram.post(201, "ada", "third after the restart");
    wait_until("3 answers", || stack.telegram.sent().len() >= 3, &host).await;
    // The next start's cleanup removed what the killed host left, while the
    // new host runs with its own instance directory.
    let now = stack.containers();
    let still: Vec<_> = left_containers
        .iter()
        .filter(|id| now.contains(id))
        .collect();
    assert!(still.is_empty(), "the killed host's containers: {still:?}");
    assert!(
        left_dirs.iter().all(|dir| !dir.exists()),
        "the killed host's instance directory is gone: {left_dirs:?}"
    );
    let own = stack.instance_dirs();
    assert!(
        own.len() == 1 && !left_dirs.contains(&own[0]),
        "{own:?} (the killed host's: {left_dirs:?})"
    );
    println!(
        "figure: host killed with SIGKILL left {} container(s) and {} instance dir(s); the next start removed all; 2 journalled messages replayed",
        left_containers.len(),
        left_dirs.len()
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    let sent = stack.telegram.sent();
    assert_eq!(
        in_chat(&sent, 201),
        [
            ModelDouble::answer_for("first before the crash"),
            ModelDouble::answer_for("third after the restart")
        ],
        "{sent:#?}"
    );
    assert_eq!(
        in_chat(&sent, 202),
        [ModelDouble::answer_for("second before the crash")]
    );
    assert_eq!(sent.len(), 3, "none answered twice: {sent:#?}");
    assert!(host.log().contains("replaying"), "{}", host.log());
    let status = host.stop();
    assert!(status.success(), "{}", host.log());
    assert_eq!(
        stack.containers(),
        Vec::<String>::new(),
        "the restart removed the orphans; shutdown the rest"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_that_crashes_mid_message_fails_its_chat_only() {
    let Some(stack) = Stack::start().await else {
        return;
    };
    let mut host = stack.host("*", 5, &["--serve", "--exit-on", "boom"]);
    stack.telegram.post(301, "ada", "boom, please");
    stack.telegram.post(302, "bob", "a calm question");
    wait_until("2 answers", || stack.telegram.sent().len() >= 2, &host).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let sent = stack.telegram.sent();
    assert_eq!(in_chat(&sent, 301), [FAILURE_REPLY], "{sent:#?}");
    assert_eq!(
        in_chat(&sent, 302),
        [ModelDouble::answer_for("a calm question")]
    );
    let log = host.log();
    assert_eq!(
        log.matches("message attempt failed").count(),
        2,
        "tried twice, in fresh containers:\n{log}"
    );
    let status = host.stop();
    assert!(status.success(), "{log}");
    assert_eq!(stack.containers(), Vec::<String>::new());
}

/// `cargo run --example telegram`, as a user runs it: in a fresh directory,
/// configured by the environment alone (the sandbox's proxy variables and
/// CA included), with nothing built for it beforehand but the example.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_telegram_example_answers_a_message_through_the_proxy() {
    let Some(stack) = Stack::start().await else {
        return;
    };
    let example = build_example("telegram");
    let mut command = Command::new(&example);
    command
        .current_dir(stack.workspace())
        .envs(envfile::read(&stack.env_file));
    // The example keeps its chats in ./nanoclaw-workspace.
    let workspace = stack.workspace().join("nanoclaw-workspace");
    let mut host = stack.spawn(command, "telegram:401");
    stack.telegram.post(401, "ada", "hello, example");
    wait_until(
        "the example's answer",
        || !stack.telegram.sent().is_empty(),
        &host,
    )
    .await;
    let sent = stack.telegram.sent();
    assert_eq!(
        in_chat(&sent, 401),
        [ModelDouble::answer_for("hello, example")],
        "{sent:#?}"
    );
    assert!(workspace.join("chats").join("telegram.401").is_dir());
    // Ctrl-C: a graceful stop, every container removed.
    let mut child = host.child.take().unwrap();
    send_signal(child.id(), "INT");
    let status = wait_with_patience(&mut child);
    assert!(status.success(), "exit {status}\n{}", host.log());
    assert_eq!(
        containers_of_workspace(&workspace.canonicalize().unwrap()),
        Vec::<String>::new()
    );
}

/// Builds a root example (the workspace's unpublished root package, which
/// enables the library features the examples use), and returns its path.
fn build_example(name: &str) -> PathBuf {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let output = Command::new(cargo)
        .args([
            "build",
            "--quiet",
            "--example",
            name,
            "-p",
            "nanoclaw-sandbox-examples",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("running cargo build");
    assert!(
        output.status.success(),
        "building the example failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let exe = Path::new(BIN).parent().unwrap().join("examples").join(name);
    assert!(exe.is_file(), "{} was not built", exe.display());
    exe
}
