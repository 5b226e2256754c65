//! The warm agent pool on the real Docker daemon (issue 12): a chat's first
//! message answered by an agent started before it came (with a pool of 0 as
//! the control), warm and cold agents configured alike through the sandbox
//! layer, chats isolated, the pool drained at shutdown, and warm agents
//! replaced when the proxy CA rotates. The agent is a few lines of Python in
//! the Debian test image that answers with what it sees.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use nanoclaw_sandbox_core::channel::ChatId;
use nanoclaw_sandbox_core::host::pool::REFRESH_EVERY;
use nanoclaw_sandbox_core::host::profile::{CHAT_LABEL, CHAT_MOUNT, SESSION_MOUNT, WARM_LABEL};
use nanoclaw_sandbox_core::host::{
    AgentHost, AgentPool, AgentProfile, ChatAllowlist, ChatKey, HostReport,
};
use nanoclaw_sandbox_core::runtime::docker::DockerRuntime;
use nanoclaw_sandbox_core::runtime::{
    ContainerId, ContainerInfo, ContainerRuntime, ContainerState, INSTALL,
};
use nanoclaw_sandbox_core::sandbox::{DetectOptions, SandboxEnv, SandboxRuntime};
use nanoclaw_sandbox_core::spec::{ContainerSpec, NetworkMode};
use nanoclaw_sandbox_core::trust::SystemRoots;
use nanoclaw_testkit::ca::TestCa;
use serde_json::Value;
use tokio::sync::oneshot;

use support::e2e::debian_image;
use support::memory_channel::MemoryChannel;

/// The agent: for each message it counts the chat's messages in its session
/// folder, writes `file-of-<chat>` (the text) in its chat folder, and
/// answers with JSON: its hostname (the container's short id), the count,
/// and what its chat and session folders hold.
const AGENT: &str = r#"
import json, os, socket, sys
while True:
    line = sys.stdin.readline()
    if not line:
        break
    m = json.loads(line)
    if m.get("type") != "message":
        continue
    chat, session = "/workspace/chat", os.environ["NANOCLAW_SESSION_DIR"]
    path = os.path.join(session, "count")
    n = int(open(path).read()) + 1 if os.path.exists(path) else 1
    open(path, "w").write(str(n))
    open(os.path.join(chat, "file-of-" + m["chat"].replace(":", "-")), "w").write(m["text"])
    seen = {"host": socket.gethostname(), "n": n,
            "chat": sorted(os.listdir(chat)), "session": sorted(os.listdir(session))}
    print(json.dumps({"type": "reply", "id": m["id"], "text": json.dumps(seen)}), flush=True)
    print(json.dumps({"type": "done", "id": m["id"]}), flush=True)
"#;

/// What the agent answered.
#[derive(Debug)]
struct Seen {
    host: String,
    n: u64,
    chat: Vec<String>,
    session: Vec<String>,
}

fn seen(reply: &str) -> Seen {
    let v: Value = serde_json::from_str(reply).unwrap_or_else(|e| panic!("{e}: {reply}"));
    let list = |key: &str| -> Vec<String> {
        v[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap().to_string())
            .collect()
    };
    Seen {
        host: v["host"].as_str().unwrap().to_string(),
        n: v["n"].as_u64().unwrap(),
        chat: list("chat"),
        session: list("session"),
    }
}

fn profile(image: &str) -> AgentProfile {
    let spec = ContainerSpec::builder(image)
        .command(["python3", "-u", "-c", AGENT])
        .network(NetworkMode::None)
        .build()
        .unwrap();
    AgentProfile::new(spec).answer_timeout(Duration::from_secs(30))
}

/// A sandbox layer in an intercepting sandbox with a CA file of its own
/// (`proxy-ca.crt` in `workspace`), on `docker`.
fn sandboxed(docker: DockerRuntime, workspace: &Path) -> Arc<SandboxRuntime<DockerRuntime>> {
    let ca_path = workspace.join("proxy-ca.crt");
    std::fs::write(&ca_path, TestCa::new("Pool Sandbox CA 1").pem()).unwrap();
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

struct Host {
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<HostReport>,
}

impl Host {
    fn start(
        runtime: Arc<dyn ContainerRuntime>,
        image: &str,
        workspace: &Path,
        channel: Arc<MemoryChannel>,
        max_agents: usize,
        pool_size: usize,
    ) -> Host {
        let host = AgentHost::builder(runtime, profile(image), workspace)
            .channel(channel)
            .allow(ChatAllowlist::parse("memory:a, memory:b").unwrap())
            .max_agents(max_agents)
            .pool_size(pool_size)
            .idle_timeout(Duration::from_secs(60))
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
        Host { stop, task }
    }

    async fn stop(self) -> HostReport {
        let _ = self.stop.send(());
        self.task.await.unwrap()
    }
}

/// The running containers of `runtime`'s install that carry `label=value`
/// (every one with an empty label).
async fn running(runtime: &dyn ContainerRuntime, label: &str, value: &str) -> Vec<ContainerId> {
    let mut selector = runtime.identity().install_selector();
    if !label.is_empty() {
        selector.insert(label.to_string(), value.to_string());
    }
    runtime
        .list(&selector)
        .await
        .unwrap()
        .into_iter()
        .filter(|c| c.state == ContainerState::Running)
        .map(|c| c.id)
        .collect()
}

async fn warm(runtime: &dyn ContainerRuntime) -> Vec<ContainerId> {
    running(runtime, WARM_LABEL, "true").await
}

/// Waits until `check` holds (polling), or fails naming `what`.
async fn until<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(90);
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Every container of `runtime`'s install, running or not.
fn all_containers(runtime: &dyn ContainerRuntime) -> Vec<String> {
    let install = &runtime.identity().install;
    nanoclaw_testkit::docker::container_ids(INSTALL, install.as_str())
}

fn short(id: &ContainerId) -> String {
    id.as_str().chars().take(12).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chats_first_message_is_answered_by_an_agent_that_was_already_running() {
    let Some(image) = debian_image() else { return };
    let Some(docker) = support::docker::connect().await else {
        return;
    };
    let runtime: Arc<dyn ContainerRuntime> = Arc::new(docker);
    for pool_size in [1, 0] {
        let workspace = tempfile::tempdir().unwrap();
        let channel = Arc::new(MemoryChannel::default());
        let host = Host::start(
            runtime.clone(),
            &image,
            workspace.path(),
            channel.clone(),
            3,
            pool_size,
        );
        let before = if pool_size == 1 {
            until("a warm agent", || async {
                warm(&*runtime).await.len() == 1
            })
            .await;
            warm(&*runtime).await
        } else {
            // The control: with no pool, nothing runs before a message comes.
            tokio::time::sleep(REFRESH_EVERY).await;
            assert_eq!(running(&*runtime, "", "").await, Vec::<ContainerId>::new());
            Vec::new()
        };
        channel.post("a", "hello");
        channel.wait_sent(1).await;
        let answer = seen(&channel.sent_in("a")[0]);
        let answered_by_warm = before.iter().any(|id| short(id) == answer.host);
        let report = host.stop().await;
        if pool_size == 1 {
            assert!(
                answered_by_warm,
                "answered by {}, the warm agent was {before:?}",
                answer.host
            );
            assert_eq!((report.pooled_agents, report.cold_agents), (1, 0));
        } else {
            assert!(!answered_by_warm);
            assert_eq!((report.pooled_agents, report.cold_agents), (0, 1));
        }
        assert_eq!((report.handled, report.failed), (1, 0));
        assert_eq!(answer.n, 1);
        assert_eq!(answer.chat, ["file-of-memory-a"]);
        assert_eq!(all_containers(&*runtime), Vec::<String>::new());
    }
}

/// What must be equal between a warm and a cold agent: image, user,
/// network, the whole environment, and every mount (the chat's two folders
/// by target and mode: their host paths differ until the warm ones are
/// renamed, which a container's record does not show).
fn configuration(
    info: &ContainerInfo,
) -> (
    String,
    String,
    String,
    BTreeSet<String>,
    BTreeMap<String, String>,
) {
    let env = info
        .env
        .iter()
        .map(|v| format!("{}={}", v.name(), v.value()))
        .collect();
    let mounts = info
        .mounts
        .iter()
        .map(|m| {
            let source = if m.target == CHAT_MOUNT || m.target == SESSION_MOUNT {
                "(the chat's folder)".to_string()
            } else {
                m.source.clone()
            };
            (
                m.target.clone(),
                format!("{} {} ro={}", m.kind, source, m.read_only),
            )
        })
        .collect();
    (
        info.image.clone(),
        info.user.clone(),
        info.network_mode.clone(),
        env,
        mounts,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn warm_and_cold_agents_get_the_same_environment_mounts_and_ca() {
    let Some(image) = debian_image() else { return };
    let Some(docker) = support::docker::connect().await else {
        return;
    };
    let workspace = tempfile::tempdir().unwrap();
    let plain: Arc<dyn ContainerRuntime> = Arc::new(docker.clone());
    let runtime = sandboxed(docker, workspace.path());
    let dynamic: Arc<dyn ContainerRuntime> = runtime.clone();
    let channel = Arc::new(MemoryChannel::default());
    // One slot: chat a takes the warm agent; then chat b must wait for it
    // and spawns cold (the pool cannot refill while b waits).
    let host = Host::start(
        dynamic.clone(),
        &image,
        workspace.path(),
        channel.clone(),
        1,
        1,
    );
    until("a warm agent", || async {
        warm(&*dynamic).await.len() == 1
    })
    .await;
    let warm_id = warm(&*dynamic).await.remove(0);
    let warm_info = dynamic.inspect(&warm_id).await.unwrap();
    let sh = |script: &str| vec!["sh".to_string(), "-c".to_string(), script.to_string()];
    let ca_script =
        sh("cat \"$NODE_EXTRA_CA_CERTS\"; grep -c 'BEGIN CERTIFICATE' \"$SSL_CERT_FILE\"");
    let warm_ca = dynamic.exec(&warm_id, &ca_script).await.unwrap();

    channel.post("a", "first");
    channel.wait_sent(1).await;
    channel.post("b", "second");
    channel.wait_sent(2).await;
    let cold_ids = running(&*dynamic, CHAT_LABEL, "memory:b").await;
    assert_eq!(cold_ids.len(), 1, "chat b's cold agent");
    let cold_info = dynamic.inspect(&cold_ids[0]).await.unwrap();
    let cold_ca = dynamic.exec(&cold_ids[0], &ca_script).await.unwrap();
    assert_eq!(seen(&channel.sent_in("b")[0]).host, short(&cold_ids[0]));

    assert_eq!(configuration(&warm_info), configuration(&cold_info));
    assert!(
        warm_info
            .env
            .iter()
            .any(|v| v.name() == "NODE_EXTRA_CA_CERTS"),
        "the sandbox layer patched the warm agent: {:?}",
        warm_info.env
    );
    assert_eq!(
        warm_ca.exit_code,
        0,
        "{}",
        String::from_utf8_lossy(&warm_ca.stderr)
    );
    assert_eq!(warm_ca.stdout, cold_ca.stdout, "the same CA");
    assert!(String::from_utf8_lossy(&warm_ca.stdout).contains("BEGIN CERTIFICATE"));
    // The labels differ, as documented: a warm agent cannot be relabelled.
    assert_eq!(
        warm_info.labels.get(WARM_LABEL).map(String::as_str),
        Some("true")
    );
    assert_eq!(
        cold_info.labels.get(CHAT_LABEL).map(String::as_str),
        Some("memory:b")
    );

    // The control: an agent of the same profile made without the sandbox
    // layer is told apart by the same comparison.
    let profile = profile(&image);
    let chat = ChatKey::new("memory", ChatId("c".into()));
    let dirs = (workspace.path().join("c1"), workspace.path().join("c2"));
    std::fs::create_dir_all(&dirs.0).unwrap();
    std::fs::create_dir_all(&dirs.1).unwrap();
    let spec = profile.spec_for(&chat, &dirs.0, &dirs.1).unwrap();
    let unpatched = plain.create(&spec).await.unwrap();
    let unpatched_info = plain.inspect(&unpatched).await.unwrap();
    plain.remove(&unpatched, true).await.unwrap();
    assert_ne!(configuration(&unpatched_info), configuration(&cold_info));

    let report = host.stop().await;
    assert_eq!((report.pooled_agents, report.cold_agents), (1, 1));
    assert_eq!(all_containers(&*dynamic), Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_warm_agent_serves_one_chat_and_never_sees_another_chats_files() {
    let Some(image) = debian_image() else { return };
    let Some(docker) = support::docker::connect().await else {
        return;
    };
    let runtime: Arc<dyn ContainerRuntime> = Arc::new(docker);
    let workspace = tempfile::tempdir().unwrap();
    let channel = Arc::new(MemoryChannel::default());
    let host = Host::start(
        runtime.clone(),
        &image,
        workspace.path(),
        channel.clone(),
        3,
        1,
    );
    until("a warm agent", || async {
        warm(&*runtime).await.len() == 1
    })
    .await;
    channel.post("a", "secret of a");
    channel.wait_sent(1).await;
    let first = seen(&channel.sent_in("a")[0]);
    // The pool makes another warm agent for the next chat.
    until("the pool refilled", || async {
        let ids = warm(&*runtime).await;
        ids.len() == 2 && ids.iter().filter(|id| short(id) != first.host).count() == 1
    })
    .await;
    let ready: Vec<ContainerId> = warm(&*runtime)
        .await
        .into_iter()
        .filter(|id| short(id) != first.host)
        .collect();

    channel.post("b", "hello from b");
    channel.wait_sent(2).await;
    let b = seen(&channel.sent_in("b")[0]);
    assert_eq!(
        b.host,
        short(&ready[0]),
        "b got the new warm agent, not a's"
    );
    assert_eq!(b.chat, ["file-of-memory-b"], "b sees only its own file");
    assert_eq!(b.session, ["count"]);
    assert_eq!(b.n, 1);

    // The control: the same listing shows a its own file and its session.
    channel.post("a", "again");
    channel.wait_sent(3).await;
    let a = seen(&channel.sent_in("a")[1]);
    assert_eq!(a.host, first.host, "a keeps its agent");
    assert_eq!(a.chat, ["file-of-memory-a"]);
    assert_eq!(a.n, 2);

    let report = host.stop().await;
    assert_eq!((report.pooled_agents, report.cold_agents), (2, 0));
    // On the host, each chat's files are in its own folder.
    let chats = workspace.path().join("chats");
    let read = |chat: &str| {
        std::fs::read_to_string(
            chats
                .join(chat)
                .join(format!("file-of-{}", chat.replace('.', "-"))),
        )
        .unwrap()
    };
    assert_eq!(read("memory.a"), "again");
    assert_eq!(read("memory.b"), "hello from b");
    assert!(!chats.join("memory.b").join("file-of-memory-a").exists());
    assert_eq!(
        std::fs::read_to_string(workspace.path().join("sessions/memory.a/count")).unwrap(),
        "2"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_drains_the_pool() {
    let Some(image) = debian_image() else { return };
    let Some(docker) = support::docker::connect().await else {
        return;
    };
    let runtime: Arc<dyn ContainerRuntime> = Arc::new(docker);
    let workspace = tempfile::tempdir().unwrap();
    let channel = Arc::new(MemoryChannel::default());
    let host = Host::start(runtime.clone(), &image, workspace.path(), channel, 3, 2);
    // The control: the listing sees the warm agents while the host runs.
    until("two warm agents", || async {
        warm(&*runtime).await.len() == 2
    })
    .await;
    assert_eq!(all_containers(&*runtime).len(), 2);
    let report = host.stop().await;
    assert_eq!((report.pooled_agents, report.cold_agents), (0, 0));
    assert_eq!(
        all_containers(&*runtime),
        Vec::<String>::new(),
        "0 containers"
    );
    let warm_dir = workspace.path().join("warm");
    assert_eq!(
        std::fs::read_dir(&warm_dir).unwrap().count(),
        0,
        "no warm folder left"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn warm_agents_made_with_a_rotated_ca_are_replaced() {
    let Some(image) = debian_image() else { return };
    let Some(docker) = support::docker::connect().await else {
        return;
    };
    let workspace = tempfile::tempdir().unwrap();
    let runtime = sandboxed(docker, workspace.path());
    let dynamic: Arc<dyn ContainerRuntime> = runtime.clone();
    let pool = AgentPool::start(dynamic.clone(), profile(&image), workspace.path(), 1).unwrap();
    pool.ready_at_least(1).await;
    let first = warm(&*dynamic).await;
    assert_eq!(first.len(), 1);

    // The control: the CA file written again unchanged is no rotation; the
    // pool checks it every REFRESH_EVERY and keeps its agent.
    let ca_path = workspace.path().join("proxy-ca.crt");
    let pem = std::fs::read(&ca_path).unwrap();
    std::fs::write(&ca_path, &pem).unwrap();
    tokio::time::sleep(REFRESH_EVERY * 3).await;
    assert_eq!(warm(&*dynamic).await, first);
    assert_eq!(pool.stats().replaced, 0);

    // The CA rotates: the pool notices on its own and replaces the agent.
    std::fs::write(&ca_path, TestCa::new("Pool Sandbox CA 2").pem()).unwrap();
    until("the warm agent replaced", || async {
        let now = warm(&*dynamic).await;
        now.len() == 1 && now != first && pool.ready() == 1
    })
    .await;
    assert_eq!(pool.stats().replaced, 1);
    assert!(
        dynamic.inspect(&first[0]).await.is_err(),
        "the agent made with the old CA is gone"
    );
    // A chat gets the fresh one.
    let chat = ChatKey::new("memory", ChatId("a".into()));
    let taken = pool.take(&chat).expect("a warm agent");
    assert_ne!(taken.id(), &first[0]);
    taken.remove().await.unwrap();
    pool.close().await;
    assert_eq!(all_containers(&*dynamic), Vec::<String>::new());
}
