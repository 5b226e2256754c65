//! One running agent container and the protocol on its streams.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use crate::agent::protocol::{AgentLine, AgentMessage, HostLine, LineSplitter};
use crate::runtime::{
    AgentHandle, ContainerId, ContainerRuntime, ExitStatus, OutputStream, RuntimeError, Stdin,
};
use crate::spec::ContainerSpec;

use super::chat::ChatKey;
use super::reply::Replier;

/// How long a container whose stdin was closed may take to exit before it
/// is removed by force.
const EXIT_GRACE: Duration = Duration::from_secs(3);

/// How a message's handling ended when it did not end with `done`.
#[derive(Debug)]
pub(crate) enum SessionFailure {
    /// The container could not be made or started.
    Spawn(RuntimeError),
    /// The agent ended (exited, was killed) or closed its stdout first.
    Ended(String),
    /// The agent's container ended with this status (an exit code, a
    /// signal, the OOM killer).
    Exited(ExitStatus),
    /// No `done` within the profile's answer timeout.
    TimedOut(Duration),
}

impl std::fmt::Display for SessionFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SessionFailure::Spawn(e) => write!(f, "the agent container could not start: {e}"),
            SessionFailure::Ended(how) => write!(f, "the agent ended mid-message: {how}"),
            SessionFailure::Exited(status) => {
                write!(f, "the agent ended mid-message: {status}")
            }
            SessionFailure::TimedOut(after) => {
                write!(f, "the agent did not finish within {} s", after.as_secs())
            }
        }
    }
}

/// A live agent container speaking the protocol.
pub(crate) struct AgentSession {
    handle: AgentHandle,
    stdin: Option<Stdin>,
    lines: mpsc::UnboundedReceiver<AgentLine>,
    /// How long create + attach + start took (for a warm agent: the take).
    pub(crate) spawn_time: Duration,
    /// Whether it came warm from the pool.
    pub(crate) warm: bool,
}

impl AgentSession {
    /// Creates and starts `spec`'s container and starts reading its streams.
    pub(crate) async fn spawn(
        runtime: Arc<dyn ContainerRuntime>,
        spec: &ContainerSpec,
        chat: &ChatKey,
    ) -> Result<Self, RuntimeError> {
        let began = Instant::now();
        let handle = AgentHandle::spawn(runtime, spec).await?;
        Ok(Self::from_handle(handle, chat, began.elapsed(), false))
    }

    /// The session of an agent already running (a warm one from the pool:
    /// `spawn_time` is then the time the take took).
    pub(crate) fn from_handle(
        mut handle: AgentHandle,
        chat: &ChatKey,
        spawn_time: Duration,
        warm: bool,
    ) -> Self {
        let stdin = handle.take_stdin();
        let (tx, lines) = mpsc::unbounded_channel();
        if let Some(stdout) = handle.take_stdout() {
            tokio::spawn(read_protocol(stdout, tx, chat.clone(), handle.id().clone()));
        }
        if let Some(stderr) = handle.take_stderr() {
            tokio::spawn(log_stderr(stderr, chat.clone(), handle.id().clone()));
        }
        AgentSession {
            handle,
            stdin,
            lines,
            spawn_time,
            warm,
        }
    }

    pub(crate) fn id(&self) -> &ContainerId {
        self.handle.id()
    }

    /// Hands `message` to the agent and passes what it says to `replier`,
    /// until its `done`. Returns how many replies were posted.
    pub(crate) async fn handle(
        &mut self,
        message: &AgentMessage,
        limit: Duration,
        replier: &Replier,
    ) -> Result<usize, SessionFailure> {
        let line = HostLine::Message(message.clone()).to_line();
        let Some(stdin) = self.stdin.as_mut() else {
            return Err(SessionFailure::Ended("its stdin is not attached".into()));
        };
        if let Err(e) = stdin.write_all(line.as_bytes()).await {
            return Err(SessionFailure::Ended(format!(
                "writing to its stdin failed: {e}"
            )));
        }
        let work = async {
            let mut replies = 0;
            loop {
                let Some(line) = self.lines.recv().await else {
                    return Err(how_it_ended(&self.handle).await);
                };
                if line.id() != message.id {
                    tracing::warn!(container = %self.handle.id(), id = line.id(), expected = %message.id, "agent line for another message skipped");
                    continue;
                }
                match line {
                    AgentLine::Done { .. } => return Ok(replies),
                    AgentLine::Reply { text, .. } => {
                        replier.reply(&text).await;
                        replies += 1;
                    }
                    AgentLine::Typing { .. } => replier.typing().await,
                }
            }
        };
        match tokio::time::timeout(limit, work).await {
            Ok(result) => result,
            Err(_) => Err(SessionFailure::TimedOut(limit)),
        }
    }

    /// Ends the agent: closes its stdin (it reads end-of-file and may exit
    /// on its own), then removes the container, by force after a short grace.
    pub(crate) async fn stop(mut self) {
        if let Some(stdin) = self.stdin.take() {
            let _ = stdin.close().await;
            let _ = tokio::time::timeout(EXIT_GRACE, self.handle.wait()).await;
        }
        self.kill().await;
    }

    /// Removes the container at once.
    pub(crate) async fn kill(self) {
        let id = self.handle.id().clone();
        if let Err(e) = self.handle.remove().await {
            // The handle's guard was not disarmed: dropping it retries.
            tracing::warn!(container = %id, error = %e, "removing the agent container failed");
        }
    }
}

async fn how_it_ended(handle: &AgentHandle) -> SessionFailure {
    match tokio::time::timeout(EXIT_GRACE, handle.wait()).await {
        Ok(Ok(status)) => SessionFailure::Exited(status),
        Ok(Err(e)) => SessionFailure::Ended(format!("its status could not be read: {e}")),
        Err(_) => SessionFailure::Ended("it closed its stdout but kept running".to_string()),
    }
}

async fn read_protocol(
    mut stdout: OutputStream,
    tx: mpsc::UnboundedSender<AgentLine>,
    chat: ChatKey,
    id: ContainerId,
) {
    let mut splitter = LineSplitter::new();
    let deliver = |line: Result<Vec<u8>, _>| match line.and_then(|l| AgentLine::parse(&l)) {
        Ok(line) => tx.send(line).is_ok(),
        Err(e) => {
            tracing::warn!(chat = %chat, container = %id, error = %e, "malformed agent line skipped");
            true
        }
    };
    while let Some(chunk) = stdout.next_chunk().await {
        let Ok(chunk) = chunk else { break };
        for line in splitter.push(&chunk) {
            if !deliver(line) {
                return;
            }
        }
    }
    if let Some(line) = splitter.finish() {
        deliver(line);
    }
}

async fn log_stderr(mut stderr: OutputStream, chat: ChatKey, id: ContainerId) {
    let mut splitter = LineSplitter::new();
    let log = |line: Result<Vec<u8>, _>| {
        if let Ok(line) = line {
            let text = String::from_utf8_lossy(&line);
            let text = text.trim_end();
            if !text.is_empty() {
                tracing::info!(chat = %chat, container = %id, "agent: {text}");
            }
        }
    };
    while let Some(Ok(chunk)) = stderr.next_chunk().await {
        splitter.push(&chunk).into_iter().for_each(log);
    }
    if let Some(line) = splitter.finish() {
        log(line);
    }
}
