//! Docker faults (issue 13): the daemon connection cut mid-run, through a
//! relay the test owns in front of the machine's daemon socket (the daemon
//! itself is never stopped: other tests share it), and agents killed by a
//! signal or by the OOM killer — at the runtime and through the agent host.
//!
//! Controls: every call through the relay works before the cut and again
//! after it; the chat whose agent is neither killed nor out of memory gets
//! its ordinary answer.

mod support;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use nanoclaw_sandbox_core::host::{
    AgentHost, AgentProfile, ChatAllowlist, HostReport, OUT_OF_MEMORY_REPLY,
};
use nanoclaw_sandbox_core::runtime::docker::{DockerOptions, DockerRuntime};
use nanoclaw_sandbox_core::runtime::{
    AgentHandle, ContainerRuntime, ContainerState, InstallId, RuntimeError, INSTALL,
};
use nanoclaw_sandbox_core::spec::{ContainerSpec, NetworkMode};
use nanoclaw_testkit::daemon_relay::{daemon_socket, DaemonRelay};
use nanoclaw_testkit::docker::{container_ids, docker};
use nanoclaw_testkit::prereq::missing;
use tokio::sync::oneshot;

use support::docker::{connect, connect_with, test_install};
use support::e2e::debian_image;
use support::memory_channel::MemoryChannel;

/// Removes (on the real daemon, not through any relay) whatever the test's
/// install left, also when the test panics.
struct Sweep(InstallId);

impl Sweep {
    fn left(&self) -> Vec<String> {
        container_ids(INSTALL, self.0.as_str())
    }
}

impl Drop for Sweep {
    fn drop(&mut self) {
        for id in self.left() {
            let _ = docker(["rm", "-f", id.as_str()]);
        }
    }
}

/// A relay in `dir` before the machine's daemon socket, and a runtime
/// connected through it; `None` (printed why) when there is no daemon.
async fn through_relay(dir: &Path) -> Option<(DaemonRelay, DockerRuntime, Sweep)> {
    let daemon = match daemon_socket() {
        Ok(path) => path,
        Err(why) => {
            missing("a unix Docker daemon socket", &why);
            return None;
        }
    };
    let relay = DaemonRelay::start(&dir.join("docker.sock"), &daemon).expect("the relay listens");
    let install = test_install();
    let options = DockerOptions::new(install.clone())
        .endpoint(relay.endpoint())
        .request_timeout(Duration::from_secs(10))
        .connect_timeout(Duration::from_secs(5));
    let runtime = connect_with(options).await?;
    Some((relay, runtime, Sweep(install)))
}

fn sleeper(image: &str) -> ContainerSpec {
    ContainerSpec::builder(image)
        .command(["sleep", "60"])
        .network(NetworkMode::None)
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_daemon_connection_cut_mid_run_is_named_and_calls_work_once_it_is_back() {
    let dir = tempfile::tempdir().unwrap();
    let Some((mut relay, runtime, sweep)) = through_relay(dir.path()).await else {
        return;
    };
    let Some(image) = debian_image() else {
        return;
    };
    let endpoint = relay.endpoint();

    // Control: through the relay, a container runs.
    let shared: Arc<dyn ContainerRuntime> = Arc::new(runtime.clone());
    let handle = AgentHandle::spawn(shared, &sleeper(&image))
        .await
        .expect("spawning through the relay");
    assert_eq!(
        handle.inspect().await.unwrap().state,
        ContainerState::Running
    );

    // A wait in flight (a long-poll on the relay) when the relay is cut.
    let waiting = tokio::spawn({
        let runtime = runtime.clone();
        let id = handle.id().clone();
        async move { runtime.wait(&id).await }
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    let cut_at = Instant::now();
    let open = relay.cut();
    let in_flight = tokio::time::timeout(Duration::from_secs(15), waiting)
        .await
        .expect("the wait in flight ended (no hang)")
        .expect("task");
    let took = cut_at.elapsed();
    println!(
        "figure: daemon connection cut: {open} open connection(s) cut; the wait in flight failed after {} ms",
        took.as_millis()
    );
    let err = in_flight.expect_err("the wait cannot succeed: the container still runs");
    let text = err.to_string();
    println!("in flight: {text}");
    assert!(
        matches!(
            err,
            RuntimeError::Transport { .. } | RuntimeError::DaemonUnreachable { .. }
        ),
        "{err:?}"
    );
    assert!(
        text.contains(&endpoint) && text.contains("check that the daemon is still running")
            || text.contains(&endpoint) && text.contains("start it"),
        "names the endpoint and what to check: {text}"
    );

    // A new call while it is cut: unreachable, naming the endpoint and the fix.
    let err = handle.inspect().await.expect_err("the daemon is cut off");
    let text = err.to_string();
    println!("while cut: {text}");
    assert!(
        matches!(&err, RuntimeError::DaemonUnreachable { endpoint: e, .. } if *e == endpoint),
        "{err:?}"
    );
    assert!(text.contains("DOCKER_HOST"), "{text}");

    // Back: new calls work, and the container (the daemon never stopped) runs on.
    relay.restore().expect("the relay listens again");
    let info = handle
        .inspect()
        .await
        .expect("inspect works once the daemon is back");
    assert_eq!(info.state, ContainerState::Running);
    handle
        .remove()
        .await
        .expect("removal works once it is back");
    assert_eq!(sweep.left(), Vec::<String>::new());
}

/// Answers `echo: <text>`; `eat` allocates 512 MiB (past any small memory
/// limit), `hang` sleeps a minute (time for the test to kill it).
const AGENT: &str = r#"
import json, sys, time
for line in sys.stdin:
    m = json.loads(line)
    if m.get("type") != "message":
        continue
    if "eat" in m["text"]:
        hog = b"x" * (512 << 20)
    if "hang" in m["text"]:
        time.sleep(60)
    print(json.dumps({"type": "reply", "id": m["id"], "text": "echo: " + m["text"]}), flush=True)
    print(json.dumps({"type": "done", "id": m["id"]}), flush=True)
"#;

/// A host of [`AGENT`]s on `runtime` (memory limit 64 MiB, idle agents
/// stopped after 300 ms); the sender stops it.
fn start_host(
    runtime: &DockerRuntime,
    image: &str,
    workspace: &Path,
    channel: Arc<MemoryChannel>,
) -> (oneshot::Sender<()>, tokio::task::JoinHandle<HostReport>) {
    let spec = ContainerSpec::builder(image)
        .command(["python3", "-u", "-c", AGENT])
        .network(NetworkMode::None)
        .memory_bytes(64 << 20)
        .build()
        .unwrap();
    let shared: Arc<dyn ContainerRuntime> = Arc::new(runtime.clone());
    let host = AgentHost::builder(
        shared,
        AgentProfile::new(spec).answer_timeout(Duration::from_secs(60)),
        workspace,
    )
    .channel(channel)
    .allow(ChatAllowlist::parse("memory:a, memory:b, memory:c").unwrap())
    .idle_timeout(Duration::from_millis(300))
    .shutdown_grace(Duration::from_secs(10))
    .build()
    .unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        host.run(async move {
            let _ = stopped.await;
        })
        .await
        .expect("the host runs")
    });
    (stop, task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_host_keeps_a_message_posted_while_the_daemon_is_cut_and_answers_it_once_back() {
    let dir = tempfile::tempdir().unwrap();
    let Some((mut relay, runtime, sweep)) = through_relay(dir.path()).await else {
        return;
    };
    let Some(image) = debian_image() else {
        return;
    };
    let workspace = tempfile::tempdir().unwrap();
    let channel = Arc::new(MemoryChannel::default());
    let (stop, host) = start_host(&runtime, &image, workspace.path(), channel.clone());

    // Control: answered through the relay.
    channel.post("a", "before the cut");
    channel.wait_sent(1).await;
    assert_eq!(channel.sent_in("a"), ["echo: before the cut"]);
    // Its idle agent goes (300 ms), so the cut meets no live container.
    let deadline = Instant::now() + Duration::from_secs(30);
    while !sweep.left().is_empty() {
        assert!(
            Instant::now() < deadline,
            "the idle agent was never removed"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    relay.cut();
    let cut_at = Instant::now();
    channel.post("a", "during the cut");
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        channel.sent_in("a"),
        ["echo: before the cut"],
        "nothing answered (and no failure reply) while the daemon is cut"
    );
    relay.restore().expect("the relay listens again");
    channel.wait_sent(2).await;
    println!(
        "figure: daemon cut for {} ms with 1 message queued: answered {} ms after the cut, 0 lost",
        3000,
        cut_at.elapsed().as_millis()
    );
    assert_eq!(
        channel.sent_in("a"),
        ["echo: before the cut", "echo: during the cut"]
    );
    let _ = stop.send(());
    let report = host.await.unwrap();
    assert_eq!(
        (report.handled, report.failed, report.pending),
        (2, 0, 0),
        "{report:?}"
    );
    assert_eq!(sweep.left(), Vec::<String>::new(), "no container left");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_killed_or_out_of_memory_is_reported_as_such() {
    let Some(runtime) = connect().await else {
        return;
    };
    let Some(image) = debian_image() else {
        return;
    };
    let sweep = Sweep(runtime.identity().install.clone());
    let shared: Arc<dyn ContainerRuntime> = Arc::new(runtime.clone());

    // The runtime: killed by SIGKILL from outside…
    let handle = AgentHandle::spawn(shared.clone(), &sleeper(&image))
        .await
        .unwrap();
    docker(["kill", "--signal", "KILL", handle.id().as_str()]).expect("docker kill");
    let killed = handle.wait().await.unwrap();
    println!("killed: {killed}");
    assert!(
        !killed.oom_killed && killed.signal() == Some("SIGKILL"),
        "{killed:?}"
    );
    assert_eq!(killed.to_string(), "exit code 137 (killed by SIGKILL)");
    handle.remove().await.unwrap();

    // …and by the OOM killer (a 64 MiB limit, 512 MiB touched).
    let hog = ContainerSpec::builder(image.as_str())
        .command(["python3", "-c", "hog = b'x' * (512 << 20)"])
        .network(NetworkMode::None)
        .memory_bytes(64 << 20)
        .build()
        .unwrap();
    let handle = AgentHandle::spawn(shared.clone(), &hog).await.unwrap();
    let oom = handle.wait().await.unwrap();
    println!("out of memory: {oom}");
    assert!(oom.oom_killed && oom.signal().is_none(), "{oom:?}");
    assert!(oom.to_string().contains("out of memory"), "{oom}");
    handle.remove().await.unwrap();

    // Auto-removed (`docker run --rm`, the CLI's `run`): inspect can no
    // longer tell, the engine's events do; a SIGKILL is the control.
    let auto_removed = |spec: ContainerSpec| spec.to_builder().auto_remove(true).build().unwrap();
    let handle = AgentHandle::spawn(shared.clone(), &auto_removed(hog.clone()))
        .await
        .unwrap();
    let oom = handle.wait().await.unwrap();
    println!("out of memory, auto-removed: {oom}");
    assert!(oom.oom_killed && oom.code == 137, "{oom:?}");
    let handle = AgentHandle::spawn(shared.clone(), &auto_removed(sleeper(&image)))
        .await
        .unwrap();
    docker(["kill", "--signal", "KILL", handle.id().as_str()]).expect("docker kill");
    let killed = handle.wait().await.unwrap();
    println!("killed, auto-removed: {killed}");
    assert!(!killed.oom_killed && killed.code == 137, "{killed:?}");

    // The host: each chat's reply says what happened; the control chat is answered.
    let workspace = tempfile::tempdir().unwrap();
    let channel = Arc::new(MemoryChannel::default());
    let (stop, host) = start_host(&runtime, &image, workspace.path(), channel.clone());
    channel.post("a", "eat everything");
    channel.post("c", "a calm question");
    channel.wait_sent(2).await;
    assert_eq!(channel.sent_in("a"), [OUT_OF_MEMORY_REPLY]);
    assert_eq!(channel.sent_in("c"), ["echo: a calm question"]);

    // Chat b's agent hangs; the test kills each of its tries with SIGKILL.
    channel.post("b", "hang a while");
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut kills = 0;
    while channel.sent_in("b").is_empty() {
        assert!(Instant::now() < deadline, "chat b got no reply");
        let running = docker([
            "ps",
            "-q",
            "--filter",
            &format!("label={INSTALL}={}", sweep.0.as_str()),
        ])
        .unwrap_or_default();
        for id in running.split_whitespace() {
            // Give the agent time to read the message first.
            tokio::time::sleep(Duration::from_millis(700)).await;
            if docker(["kill", "--signal", "KILL", id]).is_ok() {
                kills += 1;
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let replies = channel.sent_in("b");
    println!("figure: agents killed by the test: {kills}; chat b was told: {replies:?}");
    assert_eq!(replies.len(), 1, "{replies:?}");
    assert!(replies[0].contains("killed by SIGKILL"), "{replies:?}");
    let _ = stop.send(());
    let report = host.await.unwrap();
    assert_eq!((report.handled, report.failed), (1, 2), "{report:?}");
    assert_eq!(sweep.left(), Vec::<String>::new(), "no container left");
}
