//! An `AgentHost` on the real Docker daemon whose agents echo: the channel
//! tests' end-to-end half. Each chat's agent is a Python echo agent in the
//! Debian test image (`--network none`: it needs nothing but its streams),
//! so what a test checks is the path a message takes: the channel, the
//! host, a container, the reply.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use nanoclaw_sandbox_core::channel::ChannelTransport;
use nanoclaw_sandbox_core::host::{AgentHost, AgentProfile, ChatAllowlist, HostError, HostReport};
use nanoclaw_sandbox_core::runtime::docker::DockerRuntime;
use nanoclaw_sandbox_core::runtime::{ContainerRuntime, INSTALL};
use nanoclaw_sandbox_core::spec::{ContainerSpec, NetworkMode};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Answers each message with `echo: <text>`.
pub const ECHO_AGENT: &str = r#"
import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("type") != "message":
        continue
    print(json.dumps({"type": "reply", "id": m["id"], "text": "echo: " + m["text"]}), flush=True)
    print(json.dumps({"type": "done", "id": m["id"]}), flush=True)
"#;

/// A running host with echo agents, in a workspace of its own.
pub struct EchoHost {
    docker: DockerRuntime,
    workspace: tempfile::TempDir,
    stop: oneshot::Sender<()>,
    running: JoinHandle<Result<HostReport, HostError>>,
}

impl EchoHost {
    /// Starts a host on `docker` with echo agents in `image`, receiving from
    /// `channel`, answering the chats `allow` lists (an allowlist's syntax).
    pub fn start(
        docker: &DockerRuntime,
        image: &str,
        channel: Arc<dyn ChannelTransport>,
        allow: &str,
    ) -> EchoHost {
        let workspace = tempfile::tempdir().unwrap();
        let spec = ContainerSpec::builder(image)
            .command(["python3", "-u", "-c", ECHO_AGENT])
            .network(NetworkMode::None)
            .build()
            .unwrap();
        let runtime: Arc<dyn ContainerRuntime> = Arc::new(docker.clone());
        let host = AgentHost::builder(
            runtime,
            AgentProfile::new(spec).answer_timeout(Duration::from_secs(60)),
            workspace.path(),
        )
        .channel(channel)
        .allow(ChatAllowlist::parse(allow).unwrap())
        .shutdown_grace(Duration::from_secs(10))
        .build()
        .unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let running = tokio::spawn(host.run(async move {
            let _ = stopped.await;
        }));
        EchoHost {
            docker: docker.clone(),
            workspace,
            stop,
            running,
        }
    }

    /// The folder of the chat with key `key` (`discord.111`).
    pub fn chat_dir(&self, key: &str) -> PathBuf {
        self.workspace.path().join("chats").join(key)
    }

    /// Stops the host and returns its report, once it checked that no
    /// container of the host's is left.
    pub async fn stop(self) -> HostReport {
        let _ = self.stop.send(());
        let report = self.running.await.unwrap().expect("the host runs");
        assert_eq!(
            nanoclaw_testkit::docker::container_ids(
                INSTALL,
                self.docker.identity().install.as_str()
            ),
            Vec::<String>::new(),
            "no container left"
        );
        report
    }
}
