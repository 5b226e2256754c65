//! Lifecycle and load on the real daemon (issue 13): spawn–kill cycles
//! through the sandbox layer leave no container, no file and no open file
//! descriptor behind; many concurrent patched spawns all succeed; the agent
//! host under many messages across many chats loses none and answers each
//! once. The agent is this package's binary in its `FROM scratch` image
//! (`--network none`, labelled `nanoclaw.test=true`); the sandbox is an
//! intercepting one (a proxy variable and a proxy CA), so every container is
//! patched (CA directory mounted, trust and proxy variables set).
//!
//! Each test prints its figures on lines starting `figure:` (for
//! docs/security.md); none asserts a duration: the time bounds only turn a
//! hang into a failure.

mod cli_support;

#[allow(dead_code)]
#[path = "../../nanoclaw-sandbox-core/tests/support/memory_channel.rs"]
mod memory_channel;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use nanoclaw_sandbox_core::host::{AgentHost, AgentProfile, ChatAllowlist};
use nanoclaw_sandbox_core::runtime::docker::DockerRuntime;
use nanoclaw_sandbox_core::runtime::{
    wait_for_pending_removals, AgentHandle, ContainerRuntime, INSTALL, TEST,
};
use nanoclaw_sandbox_core::sandbox::{DetectOptions, SandboxEnv, SandboxRuntime};
use nanoclaw_sandbox_core::spec::{ContainerSpec, NetworkMode};
use nanoclaw_sandbox_core::trust::SystemRoots;
use nanoclaw_testkit::ca::TestCa;
use nanoclaw_testkit::docker::container_ids;
use tokio::sync::oneshot;

use cli_support::{agent_image, connect};
use memory_channel::MemoryChannel;

/// The tests of this file one at a time: the open-fd count is the whole
/// process's, and a concurrent test would move it.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// How long a whole test may take before it counts as hung.
const HANG: Duration = Duration::from_secs(300);

/// The agent image (built off the async runtime's threads: the builder
/// blocks).
async fn image() -> Option<&'static str> {
    tokio::task::spawn_blocking(agent_image).await.unwrap()
}

/// This process's open file descriptors.
fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .expect("reading /proc/self/fd")
        .count()
}

/// Files and directories under `dir` (recursively), `dir` itself excluded.
fn entries_under(dir: &Path) -> usize {
    let Ok(read) = std::fs::read_dir(dir) else {
        return 0;
    };
    read.flatten()
        .map(|entry| {
            let path = entry.path();
            1 + if path.is_dir() && !path.is_symlink() {
                entries_under(&path)
            } else {
                0
            }
        })
        .sum()
}

/// A sandbox runtime over `docker` for an intercepting sandbox (a proxy
/// and its CA), its instance directory under `workspace`.
fn patched(docker: DockerRuntime, workspace: &Path) -> Arc<SandboxRuntime<DockerRuntime>> {
    let ca_path = workspace.join("proxy-ca.crt");
    std::fs::write(&ca_path, TestCa::new("Lifecycle Sandbox CA").pem()).unwrap();
    let vars = |name: &str| (name == "HTTPS_PROXY").then(|| "http://proxy.invalid:3128".into());
    let env = SandboxEnv::detect_from(vars, &DetectOptions::default().with_explicit_ca(&ca_path))
        .unwrap();
    Arc::new(
        SandboxRuntime::builder(docker)
            .env(env)
            .workspace_root(workspace)
            .system_roots(SystemRoots::Builtin)
            .build()
            .unwrap(),
    )
}

/// Where the sandbox layer keeps this install's instance directories (the
/// temp root it uses): what a leak would leave files in.
fn install_dir(runtime: &SandboxRuntime<DockerRuntime>) -> PathBuf {
    let instance = runtime
        .instance_dir()
        .expect("a sandbox has an instance directory");
    let root = instance.path().parent().unwrap().to_path_buf();
    assert!(entries_under(&root) > 0, "the instance directory is made");
    root
}

/// An agent running `args`, labelled as a test, with no network.
fn agent(image: &str, args: &[&str]) -> ContainerSpec {
    ContainerSpec::builder(image)
        .command(args.iter().copied())
        .label(TEST, "true")
        .network(NetworkMode::None)
        .build()
        .unwrap()
}

/// The install's containers, polled until there are none (bounded: a
/// removal the engine is finishing counts, a container that stays does not).
fn containers_left(docker: &DockerRuntime) -> Vec<String> {
    let install = docker.identity().install.as_str().to_string();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let left = container_ids(INSTALL, &install);
        if left.is_empty() || Instant::now() > deadline {
            return left;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spawn_kill_cycles_leave_no_container_no_file_and_no_fd() {
    let _serial = SERIAL.lock().await;
    let Some(image) = image().await else { return };
    let Some(docker) = connect().await else {
        return;
    };
    const CYCLES: usize = 200;
    let workspace = tempfile::tempdir().unwrap();
    let runtime = patched(docker.clone(), workspace.path());
    let temp_root = install_dir(&runtime);
    let patched_dyn: Arc<dyn ContainerRuntime> = runtime.clone();
    let spec = agent(image, &["--sleep", "60"]);

    // One cycle first: the client's connection pool and the runtime's
    // lazily made state exist from then on, and count in "before".
    let warm = AgentHandle::spawn(patched_dyn.clone(), &spec)
        .await
        .unwrap();
    assert!(
        !warm.inspect().await.unwrap().mounts.is_empty(),
        "the agent is patched (the CA directory is mounted)"
    );
    // Controls: each probe sees what it counts.
    let install = docker.identity().install.as_str().to_string();
    assert_eq!(
        container_ids(INSTALL, &install).len(),
        1,
        "the probe sees the agent"
    );
    warm.remove().await.unwrap();
    let files_before = entries_under(&temp_root);
    let fds_before = open_fds();
    let held: Vec<_> = (0..20)
        .map(|_| std::fs::File::open("/dev/null").unwrap())
        .collect();
    assert_eq!(open_fds(), fds_before + 20, "the probe sees open fds");
    drop(held);

    let started = Instant::now();
    let cycles = async {
        for cycle in 0..CYCLES {
            let handle = AgentHandle::spawn(patched_dyn.clone(), &spec)
                .await
                .unwrap_or_else(|e| panic!("cycle {cycle}: {e}"));
            // Killed as a host does: half dropped (removal on a detached
            // thread), half force-removed.
            if cycle % 2 == 0 {
                drop(handle);
            } else {
                handle.remove().await.unwrap();
            }
        }
    };
    tokio::time::timeout(HANG, cycles)
        .await
        .expect("the cycles hung");
    let unfinished = tokio::task::spawn_blocking(|| wait_for_pending_removals(HANG))
        .await
        .unwrap();
    assert_eq!(unfinished, 0, "dropped handles' removals still running");
    let took = started.elapsed();

    let left = containers_left(&docker);
    let files_after = entries_under(&temp_root);
    let fds_after = open_fds();
    drop(patched_dyn);
    drop(runtime);
    let files_left = entries_under(&temp_root);
    println!(
        "figure: cycles {CYCLES}, containers left {}, temp files left {} \
         (instance directory while the runtime lives: {files_before} entries before, \
         {files_after} after), fds before {fds_before} after {fds_after}, in {:.1} s",
        left.len(),
        files_left,
        took.as_secs_f64()
    );
    assert_eq!(left, Vec::<String>::new(), "containers left");
    assert_eq!(files_after, files_before, "files made per spawn stayed");
    assert_eq!(files_left, 0, "the instance directory outlived its runtime");
    // Slack: the Docker client keeps idle pooled connections to the daemon
    // (how many depends on how many requests overlapped last), and the
    // async runtime's blocking threads come and go; neither grows with the
    // number of cycles. A leak of one fd per cycle would be 200.
    const SLACK: usize = 16;
    assert!(
        fds_after <= fds_before + SLACK,
        "open fds grew from {fds_before} to {fds_after} over {CYCLES} cycles"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_patched_spawns_all_succeed_and_leave_nothing() {
    let _serial = SERIAL.lock().await;
    let Some(image) = image().await else { return };
    let Some(docker) = connect().await else {
        return;
    };
    const SPAWNS: usize = 50;
    let workspace = tempfile::tempdir().unwrap();
    let runtime = patched(docker.clone(), workspace.path());
    let temp_root = install_dir(&runtime);
    let files_before = entries_under(&temp_root);
    let patched_dyn: Arc<dyn ContainerRuntime> = runtime.clone();

    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..SPAWNS {
        let runtime = patched_dyn.clone();
        let spec = agent(image, &["--stdout", &format!("agent {n}")]);
        tasks.spawn(async move {
            let out = AgentHandle::spawn(runtime, &spec).await?.output().await?;
            Ok::<_, nanoclaw_sandbox_core::runtime::RuntimeError>((n, out))
        });
    }
    let mut answered = BTreeMap::new();
    let all = async {
        while let Some(joined) = tasks.join_next().await {
            let (n, out) = joined.unwrap().expect("a concurrent spawn failed");
            assert_eq!(out.status.code, 0, "agent {n}");
            answered.insert(n, String::from_utf8_lossy(&out.stdout).into_owned());
        }
    };
    tokio::time::timeout(HANG, all)
        .await
        .expect("the spawns hung");
    let took = started.elapsed();
    for n in 0..SPAWNS {
        assert_eq!(answered[&n], format!("agent {n}\n"));
    }
    let left = containers_left(&docker);
    let files_after = entries_under(&temp_root);
    drop(patched_dyn);
    drop(runtime);
    let files_left = entries_under(&temp_root);
    println!(
        "figure: concurrent patched spawns {SPAWNS}, errors 0, containers left {}, \
         temp files left {files_left}, wall time {:.1} s",
        left.len(),
        took.as_secs_f64()
    );
    assert_eq!(left, Vec::<String>::new(), "containers left");
    assert_eq!(files_after, files_before, "files made per spawn stayed");
    assert_eq!(files_left, 0, "files left");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_host_answers_every_message_of_many_chats_exactly_once() {
    let _serial = SERIAL.lock().await;
    let Some(image) = image().await else { return };
    let Some(docker) = connect().await else {
        return;
    };
    const CHATS: usize = 50;
    const MESSAGES: usize = 200;
    let workspace = tempfile::tempdir().unwrap();
    let runtime: Arc<dyn ContainerRuntime> = patched(docker.clone(), workspace.path());
    let channel = Arc::new(MemoryChannel::default());
    let host = AgentHost::builder(
        runtime,
        AgentProfile::new(agent(image, &["--serve", "--echo"]))
            .answer_timeout(Duration::from_secs(60)),
        workspace.path().join("host"),
    )
    .channel(channel.clone())
    .allow(ChatAllowlist::parse("*").unwrap())
    .max_agents(10)
    .shutdown_grace(Duration::from_secs(10))
    .build()
    .unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let running = tokio::spawn(host.run(async move {
        let _ = stopped.await;
    }));

    let started = Instant::now();
    let chat = |m: usize| format!("{}", 1000 + m % CHATS);
    for m in 0..MESSAGES {
        channel.post(&chat(m), &format!("message {m}"));
    }
    let answered = async {
        while channel.sent.lock().unwrap().len() < MESSAGES {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    let in_time = tokio::time::timeout(HANG, answered).await.is_ok();
    let took = started.elapsed();
    // A moment more: an answer sent twice would show up now.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let _ = stop.send(());
    let report = running.await.unwrap().expect("the host runs");
    let sent = channel.sent.lock().unwrap().len();
    let mut per_message = BTreeMap::<usize, usize>::new();
    for m in 0..MESSAGES {
        let expected = format!("echo: message {m}");
        let count = channel
            .sent_in(&chat(m))
            .iter()
            .filter(|text| **text == expected)
            .count();
        per_message.insert(m, count);
    }
    let lost = per_message.values().filter(|c| **c == 0).count();
    let twice = per_message.values().filter(|c| **c > 1).count();
    println!(
        "figure: host messages {MESSAGES} across {CHATS} chats (max 10 agents): answered {sent}, \
         lost {lost}, answered more than once {twice}, failed {}, in {:.1} s",
        report.failed,
        took.as_secs_f64()
    );
    assert!(in_time, "only {sent} of {MESSAGES} answered in time");
    assert_eq!((lost, twice, sent), (0, 0, MESSAGES), "{per_message:?}");
    assert_eq!(report.failed, 0);
    assert_eq!(containers_left(&docker), Vec::<String>::new());
}
