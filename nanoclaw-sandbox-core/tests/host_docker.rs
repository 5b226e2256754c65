//! `AgentHost` on the real Docker daemon, with an in-memory channel and an
//! agent written in Python (in the Debian test image) that speaks the agent
//! protocol: the host's own behaviour, apart from any real channel or model
//! (those are the CLI's `host_e2e` tests). That the agent is a few lines of
//! Python is itself a check: an image that speaks the protocol is all a host
//! needs.

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use nanoclaw_sandbox_core::host::{
    AgentHost, AgentProfile, ChatAllowlist, HostReport, FAILURE_REPLY,
};
use nanoclaw_sandbox_core::runtime::docker::DockerRuntime;
use nanoclaw_sandbox_core::runtime::{ContainerRuntime, ContainerState, INSTALL};
use nanoclaw_sandbox_core::spec::{ContainerSpec, NetworkMode};
use tokio::sync::oneshot;

use support::e2e::debian_image;
use support::memory_channel::MemoryChannel;

/// The agent: answers `<chat> #<n>: <text>`, where n counts the chat's
/// messages in a file in its session folder (so it survives containers);
/// writes one malformed line per message (the host skips it); `crash` in a
/// text makes it exit mid-message, `slow` makes it take 3 s.
const AGENT: &str = r#"
import json, os, sys, time
while True:
    line = sys.stdin.readline()
    if not line:
        break
    m = json.loads(line)
    if m.get("type") != "message":
        continue
    i, text = m["id"], m["text"]
    print(json.dumps({"type": "typing", "id": i}), flush=True)
    print("this line is not JSON", flush=True)
    sys.stderr.write("working on " + i + "\n")
    if "crash" in text:
        sys.exit(3)
    if "slow" in text:
        time.sleep(3)
    path = os.path.join(os.environ["NANOCLAW_SESSION_DIR"], "count")
    n = int(open(path).read()) + 1 if os.path.exists(path) else 1
    open(path, "w").write(str(n))
    print(json.dumps({"type": "reply", "id": i, "text": "%s #%d: %s" % (m["chat"], n, text)}), flush=True)
    print(json.dumps({"type": "done", "id": i}), flush=True)
"#;

struct Setup {
    docker: DockerRuntime,
    image: String,
    workspace: tempfile::TempDir,
}

impl Setup {
    async fn new() -> Option<Setup> {
        let docker = support::docker::connect().await?;
        let image = debian_image()?;
        Some(Setup {
            docker,
            image,
            workspace: tempfile::tempdir().unwrap(),
        })
    }

    fn profile(&self) -> AgentProfile {
        let spec = ContainerSpec::builder(self.image.as_str())
            .command(["python3", "-u", "-c", AGENT])
            .network(NetworkMode::None)
            .build()
            .unwrap();
        AgentProfile::new(spec).answer_timeout(Duration::from_secs(30))
    }

    /// Starts a host; the sender stops it.
    fn start(
        &self,
        channel: Arc<MemoryChannel>,
        max_agents: usize,
        grace: Duration,
    ) -> (oneshot::Sender<()>, tokio::task::JoinHandle<HostReport>) {
        self.start_with(channel, max_agents, grace, None)
    }

    fn start_with(
        &self,
        channel: Arc<MemoryChannel>,
        max_agents: usize,
        grace: Duration,
        trigger: Option<&str>,
    ) -> (oneshot::Sender<()>, tokio::task::JoinHandle<HostReport>) {
        let runtime: Arc<dyn ContainerRuntime> = Arc::new(self.docker.clone());
        let mut host = AgentHost::builder(runtime, self.profile(), self.workspace.path())
            .channel(channel)
            .allow(ChatAllowlist::parse("memory:a, memory:b, c").unwrap())
            .max_agents(max_agents)
            .idle_timeout(Duration::from_secs(30))
            .shutdown_grace(grace);
        if let Some(word) = trigger {
            host = host.trigger(word);
        }
        let host = host.build().unwrap();
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

    async fn running(&self) -> usize {
        let selector = self.docker.identity().install_selector();
        self.docker
            .list(&selector)
            .await
            .unwrap()
            .into_iter()
            .filter(|c| c.state == ContainerState::Running)
            .count()
    }

    async fn all_containers(&self) -> Vec<String> {
        let install = &self.docker.identity().install;
        nanoclaw_testkit::docker::container_ids(INSTALL, install.as_str())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_chat_is_answered_in_order_within_the_cap_and_keeps_its_session() {
    let Some(setup) = Setup::new().await else {
        return;
    };
    let channel = Arc::new(MemoryChannel::default());
    let (stop, host) = setup.start(channel.clone(), 2, Duration::from_secs(10));
    for n in 1..=3 {
        for chat in ["a", "b", "c"] {
            channel.post(chat, &format!("{chat}{n}"));
        }
    }
    let mut max_running = 0;
    let deadline = Instant::now() + Duration::from_secs(90);
    while channel.sent.lock().unwrap().len() < 9 {
        assert!(
            Instant::now() < deadline,
            "{:?}",
            channel.sent.lock().unwrap()
        );
        max_running = max_running.max(setup.running().await);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for chat in ["a", "b", "c"] {
        // In order, once each, and the count kept in the session folder
        // carries over from one container of the chat to the next.
        let want: Vec<String> = (1..=3)
            .map(|n| format!("memory:{chat} #{n}: {chat}{n}"))
            .collect();
        assert_eq!(channel.sent_in(chat), want);
    }
    assert!(
        (1..=2).contains(&max_running),
        "at most 2 agents at once, saw {max_running}"
    );
    let _ = stop.send(());
    let report = host.await.unwrap();
    assert_eq!((report.handled, report.failed, report.pending), (9, 0, 0));
    assert_eq!(
        setup.all_containers().await,
        Vec::<String>::new(),
        "0 containers after shutdown"
    );
    // The chat folders belong to the agent user (the host hands them over when it is root).
    let session = setup.workspace.path().join("sessions").join("memory.a");
    assert_eq!(std::fs::read_to_string(session.join("count")).unwrap(), "3");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crashing_agent_is_retried_once_then_its_chat_alone_gets_the_failure_reply() {
    let Some(setup) = Setup::new().await else {
        return;
    };
    let channel = Arc::new(MemoryChannel::default());
    let (stop, host) = setup.start(channel.clone(), 5, Duration::from_secs(10));
    channel.post("a", "please crash");
    channel.post("b", "hello");
    channel.post("a", "and now?");
    channel.wait_sent(3).await;
    assert_eq!(
        channel.sent_in("a"),
        [FAILURE_REPLY.to_string(), "memory:a #1: and now?".into()]
    );
    assert_eq!(channel.sent_in("b"), ["memory:b #1: hello"]);
    let _ = stop.send(());
    let report = host.await.unwrap();
    assert_eq!((report.handled, report.failed), (2, 1));
    assert_eq!(setup.all_containers().await, Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chat_not_allowed_is_told_its_id_and_starts_nothing() {
    let Some(setup) = Setup::new().await else {
        return;
    };
    let channel = Arc::new(MemoryChannel::default());
    let (stop, host) = setup.start(channel.clone(), 5, Duration::from_secs(10));
    channel.post("z", "hello?");
    channel.post("z", "anyone?");
    channel.post("a", "hi");
    channel.wait_sent(2).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let refusals = channel.sent_in("z");
    assert_eq!(refusals.len(), 1, "one reply per chat: {refusals:?}");
    assert!(refusals[0].contains("memory:z"), "{refusals:?}");
    assert_eq!(
        channel.sent_in("a"),
        ["memory:a #1: hi"],
        "the allowed chat is the control"
    );
    let _ = stop.send(());
    let report = host.await.unwrap();
    assert_eq!(report.handled, 1, "no agent ran for the refused chat");
    assert!(!setup
        .workspace
        .path()
        .join("chats")
        .join("memory.z")
        .exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shutdown_past_its_grace_leaves_the_message_for_the_next_start() {
    let Some(setup) = Setup::new().await else {
        return;
    };
    let channel = Arc::new(MemoryChannel::default());
    let (stop, host) = setup.start(channel.clone(), 5, Duration::from_millis(300));
    channel.post("b", "slow answer");
    // Wait until the agent works on it (its container is running).
    let deadline = Instant::now() + Duration::from_secs(60);
    while setup.running().await == 0 {
        assert!(Instant::now() < deadline, "the agent never started");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = stop.send(());
    let report = host.await.unwrap();
    assert_eq!((report.handled, report.pending), (0, 1), "{report:?}");
    assert!(channel.sent_in("b").is_empty());
    assert_eq!(
        setup.all_containers().await,
        Vec::<String>::new(),
        "the working agent was removed"
    );

    // The next start replays it; the channel delivers nothing new.
    let (stop, host) = setup.start(channel.clone(), 5, Duration::from_secs(10));
    channel.wait_sent(1).await;
    assert_eq!(channel.sent_in("b"), ["memory:b #1: slow answer"]);
    let _ = stop.send(());
    let report = host.await.unwrap();
    assert_eq!((report.replayed, report.handled, report.pending), (1, 1, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_group_chats_only_messages_with_the_trigger_word_are_answered() {
    let Some(setup) = Setup::new().await else {
        return;
    };
    let channel = Arc::new(MemoryChannel::default());
    let (stop, host) = setup.start_with(channel.clone(), 5, Duration::from_secs(10), Some("@Andy"));
    channel.post_in("a", "chatter between humans", true);
    channel.post_in("a", "@andy what time is it?", true);
    channel.post("b", "a private chat needs no trigger");
    channel.wait_sent(2).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        channel.sent_in("a"),
        ["memory:a #1: @andy what time is it?"]
    );
    assert_eq!(
        channel.sent_in("b"),
        ["memory:b #1: a private chat needs no trigger"]
    );
    let _ = stop.send(());
    assert_eq!(host.await.unwrap().handled, 2);
}

#[test]
fn host_config_errors_name_the_setting() {
    // No daemon needed: a runtime is only used once the host runs.
    let spec = ContainerSpec::builder("agent:1").build().unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let Some(docker) = rt.block_on(support::docker::connect()) else {
        return;
    };
    let runtime: Arc<dyn ContainerRuntime> = Arc::new(docker);
    let dir = tempfile::tempdir().unwrap();
    let builder =
        || AgentHost::builder(runtime.clone(), AgentProfile::new(spec.clone()), dir.path());
    let err = builder().build().unwrap_err();
    assert!(err.to_string().contains("no channel"), "{err}");
    let channel = Arc::new(MemoryChannel::default());
    let err = builder()
        .channel(channel.clone())
        .channel(channel.clone())
        .build()
        .unwrap_err();
    assert!(
        err.to_string().contains("`memory` was given twice"),
        "{err}"
    );
    let err = builder()
        .channel(channel.clone())
        .max_agents(0)
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("max agents"), "{err}");
    let err = builder()
        .channel(channel.clone())
        .max_agents(2)
        .pool_size(3)
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("pool size"), "{err}");
    assert!(err.to_string().contains("give at most 2"), "{err}");
    // The control: a pool within the cap is accepted.
    builder()
        .channel(channel)
        .max_agents(2)
        .pool_size(2)
        .build()
        .unwrap();
}
