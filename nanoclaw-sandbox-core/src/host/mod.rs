//! [`AgentHost`]: a message on a channel runs its chat's agent container and
//! the answer goes back to the chat.
//!
//! ```text
//! ChannelTransport ─► journal ─► per-chat queue ─► slot (global cap) ─► agent container
//!        ▲                                                                │ stdin: {"type":"message",...}
//!        └────────────── reply ◄──── stdout: {"type":"reply",...} ◄───────┘
//! ```
//!
//! - **Who may talk to it**: a [`ChatAllowlist`]; anyone else gets one
//!   short reply naming their chat id and how to allow it, and no container.
//!   In group chats, optionally only messages that mention a trigger word.
//! - **One agent per chat**, messages of a chat handled in order, those that
//!   arrive meanwhile queued; a **global cap** on agent containers (busy,
//!   idle or warm), idle agents stopped to free a slot, waiting chats served
//!   first come first served.
//! - **Warm agents** (opt-in, [`AgentHostBuilder::pool_size`]): an
//!   [`AgentPool`] keeps agents started and blocked on stdin, so a chat's
//!   first message costs one write instead of a cold start.
//! - **Files**: each chat has `<workspace>/chats/<folder>` at
//!   `/workspace/chat` and `<workspace>/sessions/<folder>` at
//!   `/workspace/session` (it survives restarts); agents run as a non-root
//!   user the host can configure.
//! - **No message lost**: a message is in the on-disk [`journal`] before its
//!   channel is acknowledged, and marked done after its reply was posted;
//!   a start replays what is not done.
//! - **Graceful shutdown**: no new messages, working agents get a grace
//!   period, the rest stays in the journal.
//!
//! The host speaks to agents in the [agent protocol](crate::agent::protocol),
//! and to the engine only through [`ContainerRuntime`] (normally
//! `SandboxRuntime<DockerRuntime>`), so it runs unchanged in plain Docker and
//! in a Docker Sandbox.
//!
//! | module | owns |
//! |---|---|
//! | [`chat`] | [`ChatKey`] (`telegram:123`) and its folder name |
//! | [`allow`] | [`ChatAllowlist`] |
//! | [`journal`] | the on-disk journal of inbound messages |
//! | [`profile`] | [`AgentProfile`]: the container every chat's agent is made from |
//! | [`pool`] | [`AgentPool`]: warm agents, ready before their chat's first message |
//! | `folders` | the chats' folders, and how a warm agent's become a chat's |
//! | `slots` | the global cap, fair waiting, idle eviction |
//! | `session` | one agent container speaking the protocol |
//! | `worker` | one chat's queue and agent |

pub mod allow;
pub mod chat;
mod folders;
pub mod journal;
pub mod pool;
pub mod profile;
mod reply;
mod session;
mod slots;
mod worker;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::future::Future;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

pub use self::allow::{AllowlistError, ChatAllowlist, ALLOWED_CHATS_VAR};
pub use self::chat::ChatKey;
pub use self::journal::{Journal, JournalEntry, JournalError};
pub use self::pool::{AgentPool, PoolStats, PooledAgent};
pub use self::profile::AgentProfile;
pub use self::worker::{FAILURE_REPLY, OUT_OF_MEMORY_REPLY};

use self::folders::ChatDirs;
use self::reply::Replier;
use self::slots::Slots;
use self::worker::Job;
use crate::channel::{ChannelTransport, ChatId};
use crate::runtime::{ContainerRuntime, RuntimeError};

/// Why the host could not be built or run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HostError {
    /// A setting is missing or invalid.
    #[error("the agent host is misconfigured: {what}: {reason}")]
    Config {
        /// Which setting.
        what: &'static str,
        /// What is wrong, and the fix.
        reason: String,
    },
    /// The journal could not be opened.
    #[error(transparent)]
    Journal(#[from] JournalError),
    /// The leftovers of an earlier run could not be cleaned up.
    #[error("cleaning up the containers of an earlier run failed: {0}")]
    Cleanup(#[source] RuntimeError),
    /// A mount of the agent profile is refused by the mount policy.
    #[error(transparent)]
    MountPolicy(Box<crate::mount_policy::MountPolicyError>),
    /// The chat folders' root could not be made.
    #[error("the workspace folder `{path}` could not be prepared: {source}")]
    Workspace {
        /// The folder.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

/// What a run did, returned when it has shut down.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct HostReport {
    /// Messages from the journal of an earlier run, handled again.
    pub replayed: usize,
    /// Messages answered.
    pub handled: usize,
    /// Messages that failed twice (the chat got [`FAILURE_REPLY`]).
    pub failed: usize,
    /// Messages left in the journal for the next start.
    pub pending: usize,
    /// Agents a chat took warm from the [`AgentPool`].
    pub pooled_agents: usize,
    /// Agents spawned cold for a chat (no warm agent was ready).
    pub cold_agents: usize,
}

/// Counters shared by the workers.
#[derive(Default)]
struct Stats {
    handled: AtomicUsize,
    failed: AtomicUsize,
    pooled: AtomicUsize,
    cold: AtomicUsize,
}

/// What every task of a running host shares.
struct Shared {
    runtime: Arc<dyn ContainerRuntime>,
    profile: AgentProfile,
    channels: HashMap<&'static str, Arc<dyn ChannelTransport>>,
    journal: Journal,
    slots: Slots,
    /// Warm agents, when the pool size is not 0.
    pool: Option<AgentPool>,
    dirs: ChatDirs,
    credentials: BTreeMap<String, String>,
    idle_timeout: Duration,
    /// Set at shutdown: take no more messages.
    stopping: watch::Receiver<bool>,
    /// Set when the grace period is over: stop agents at once.
    killing: watch::Receiver<bool>,
    stats: Stats,
}

/// Configures an [`AgentHost`]; setters never fail, [`build`](Self::build) checks.
#[must_use = "a builder does nothing until `build` is called"]
pub struct AgentHostBuilder {
    runtime: Arc<dyn ContainerRuntime>,
    profile: AgentProfile,
    workspace: PathBuf,
    state_dir: Option<PathBuf>,
    channels: Vec<Arc<dyn ChannelTransport>>,
    allow: ChatAllowlist,
    trigger: Option<String>,
    max_agents: usize,
    pool_size: usize,
    idle_timeout: Duration,
    shutdown_grace: Duration,
    credentials: BTreeMap<String, String>,
    mount_policy: Option<crate::mount_policy::MountPolicy>,
}

impl std::fmt::Debug for AgentHostBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgentHostBuilder")
            .field("workspace", &self.workspace)
            .field(
                "channels",
                &self.channels.iter().map(|c| c.name()).collect::<Vec<_>>(),
            )
            .field("allow", &self.allow.to_string())
            .field("max_agents", &self.max_agents)
            .field("pool_size", &self.pool_size)
            .field("credentials", &self.credentials.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl AgentHostBuilder {
    /// The default cap on agent containers.
    pub const DEFAULT_MAX_AGENTS: usize = 5;
    /// The default idle timeout before an agent is stopped.
    pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(600);
    /// The default grace period at shutdown.
    pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

    /// Adds a channel (each channel's `name()` once).
    pub fn channel(mut self, channel: Arc<dyn ChannelTransport>) -> Self {
        self.channels.push(channel);
        self
    }

    /// Who may talk to the host (default: nobody, so every chat learns its id).
    pub fn allow(mut self, allow: ChatAllowlist) -> Self {
        self.allow = allow;
        self
    }

    /// In group chats, handle only messages that mention `word`
    /// (case-insensitive); private chats are always handled.
    pub fn trigger(mut self, word: impl Into<String>) -> Self {
        self.trigger = Some(word.into());
        self
    }

    /// The cap on agent containers, busy or idle (default 5).
    pub fn max_agents(mut self, max: usize) -> Self {
        self.max_agents = max;
        self
    }

    /// How many warm agents to keep ready for chats that have no agent
    /// (default 0: every chat's agent is spawned when its message comes).
    /// They count against [`max_agents`](Self::max_agents); see [`AgentPool`].
    pub fn pool_size(mut self, size: usize) -> Self {
        self.pool_size = size;
        self
    }

    /// How long an agent may stay idle before it is stopped (default 10 min).
    pub fn idle_timeout(mut self, timeout: Duration) -> Self {
        self.idle_timeout = timeout;
        self
    }

    /// How long working agents may finish at shutdown (default 30 s).
    pub fn shutdown_grace(mut self, grace: Duration) -> Self {
        self.shutdown_grace = grace;
        self
    }

    /// A secret handed to every agent in the protocol (never as container
    /// environment), e.g. `ANTHROPIC_API_KEY`.
    pub fn credential(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.credentials.insert(name.into(), value.into());
        self
    }

    /// Which host paths agent containers may mount (default: the workspace
    /// only, nothing credential-like: [`MountPolicy::workspace_only`](crate::mount_policy::MountPolicy::workspace_only)).
    /// [`build`](Self::build) checks the profile's mounts and the chat folders against it.
    pub fn mount_policy(mut self, policy: crate::mount_policy::MountPolicy) -> Self {
        self.mount_policy = Some(policy);
        self
    }

    /// Where the journal lives (default `<workspace>/.nanoclaw`).
    pub fn state_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.state_dir = Some(dir.into());
        self
    }

    /// Checks the configuration.
    pub fn build(self) -> Result<AgentHost, HostError> {
        let config = |what, reason: String| HostError::Config { what, reason };
        if self.channels.is_empty() {
            return Err(config(
                "channels",
                "no channel was given: add one with `channel(..)`".into(),
            ));
        }
        let mut names = HashSet::new();
        for channel in &self.channels {
            if !names.insert(channel.name()) {
                return Err(config(
                    "channels",
                    format!(
                        "the channel `{}` was given twice: give each channel once",
                        channel.name()
                    ),
                ));
            }
        }
        if self.max_agents == 0 {
            return Err(config(
                "max agents",
                "0 allows no agent at all: give 1 or more".into(),
            ));
        }
        if self.pool_size > self.max_agents {
            return Err(config(
                "pool size",
                format!(
                    "{} warm agents exceed the cap of {} agents they count against: give at most {}, or raise max agents",
                    self.pool_size, self.max_agents, self.max_agents
                ),
            ));
        }
        if self.idle_timeout.is_zero() {
            return Err(config(
                "idle timeout",
                "0 stops each agent before it can be reused: give a positive duration".into(),
            ));
        }
        if let Some(word) = &self.trigger {
            if word.trim().is_empty() {
                return Err(config(
                    "trigger",
                    "the trigger word is empty: give a word or none".into(),
                ));
            }
        }
        for name in self.credentials.keys() {
            if name.is_empty() || name.contains(['=', '\0']) {
                return Err(config(
                    "credentials",
                    format!("`{name}` is not a valid name: use letters, digits and `_`"),
                ));
            }
        }
        // The profile must make a valid spec for a chat, mounting only what
        // the mount policy allows.
        let probe = ChatKey::new("probe", ChatId("0".into()));
        let spec = self
            .profile
            .spec_for(
                &probe,
                &self.workspace.join("chats"),
                &self.workspace.join("sessions"),
            )
            .map_err(|e| config("agent profile", e.to_string()))?;
        let checked = match &self.mount_policy {
            Some(policy) => policy.check(&spec),
            None => crate::mount_policy::MountPolicy::workspace_only(&self.workspace).check(&spec),
        };
        checked.map_err(|e| HostError::MountPolicy(Box::new(e)))?;
        Ok(AgentHost { config: self })
    }
}

/// The agent host; see the [module documentation](self).
pub struct AgentHost {
    config: AgentHostBuilder,
}

impl std::fmt::Debug for AgentHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgentHost")
            .field("config", &self.config)
            .finish()
    }
}

impl AgentHost {
    /// A host running `profile`'s agents on `runtime`, keeping chat files,
    /// sessions and its journal under `workspace`.
    pub fn builder(
        runtime: Arc<dyn ContainerRuntime>,
        profile: AgentProfile,
        workspace: impl Into<PathBuf>,
    ) -> AgentHostBuilder {
        AgentHostBuilder {
            runtime,
            profile,
            workspace: workspace.into(),
            state_dir: None,
            channels: Vec::new(),
            allow: ChatAllowlist::nobody(),
            trigger: None,
            max_agents: AgentHostBuilder::DEFAULT_MAX_AGENTS,
            pool_size: 0,
            idle_timeout: AgentHostBuilder::DEFAULT_IDLE_TIMEOUT,
            shutdown_grace: AgentHostBuilder::DEFAULT_SHUTDOWN_GRACE,
            credentials: BTreeMap::new(),
            mount_policy: None,
        }
    }

    /// Runs until `shutdown` resolves, then shuts down gracefully.
    ///
    /// At start it removes the containers an earlier run of this install left
    /// behind (warm agents included), moves back to their chats the files of
    /// warm folders a chat was taking when it stopped, and replays the
    /// journal. At shutdown the warm agents are removed first.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send,
    ) -> Result<HostReport, HostError> {
        let config = self.config;
        let state_dir = config
            .state_dir
            .clone()
            .unwrap_or_else(|| config.workspace.join(".nanoclaw"));
        let (journal, replay) = Journal::open(&state_dir)?;
        let removed = config
            .runtime
            .cleanup_orphans()
            .await
            .map_err(HostError::Cleanup)?;
        if !removed.is_empty() {
            tracing::info!(
                count = removed.len(),
                "removed containers left by an earlier run"
            );
        }
        let dirs = chat_dirs(&config.workspace, &config.profile)?;
        let recovered = dirs.recover();
        if recovered.returned > 0 {
            tracing::warn!(
                count = recovered.returned,
                "files of chats that were taking a warm agent when the host stopped were moved back"
            );
        }
        let slots = Slots::new(config.max_agents);
        let pool = (config.pool_size > 0).then(|| {
            AgentPool::with_slots(
                config.runtime.clone(),
                config.profile.clone(),
                dirs.clone(),
                config.pool_size,
                slots.clone(),
            )
        });

        let (stop_tx, stopping) = watch::channel(false);
        let (kill_tx, killing) = watch::channel(false);
        let shared = Arc::new(Shared {
            runtime: config.runtime.clone(),
            profile: config.profile.clone(),
            channels: config
                .channels
                .iter()
                .map(|c| (c.name(), c.clone()))
                .collect(),
            journal,
            slots,
            pool,
            dirs,
            credentials: config.credentials.clone(),
            idle_timeout: config.idle_timeout,
            stopping,
            killing,
            stats: Stats::default(),
        });
        let router = Router {
            shared: shared.clone(),
            workers: Arc::default(),
        };
        let replayed = replay.len();
        if replayed > 0 {
            tracing::info!(
                count = replayed,
                "replaying messages an earlier run had not answered"
            );
        }
        for entry in replay {
            router.dispatch(entry);
        }
        let intake = Intake {
            allow: config.allow.clone(),
            trigger: config.trigger.as_ref().map(|t| t.to_lowercase()),
        };
        let intake = Arc::new(intake);
        let receivers: Vec<JoinHandle<()>> = config
            .channels
            .iter()
            .map(|channel| {
                tokio::spawn(receive_loop(
                    channel.clone(),
                    router.clone(),
                    intake.clone(),
                ))
            })
            .collect();
        tracing::info!(
            channels = ?config.channels.iter().map(|c| c.name()).collect::<Vec<_>>(),
            allowed = %config.allow,
            max_agents = config.max_agents,
            pool_size = config.pool_size,
            "agent host running"
        );

        shutdown.await;
        tracing::info!(
            grace_s = config.shutdown_grace.as_secs_f64(),
            "shutting down: no new messages; working agents may finish"
        );
        let _ = stop_tx.send(true);
        if let Some(pool) = &shared.pool {
            pool.close().await;
        }
        for receiver in receivers {
            let _ = receiver.await;
        }
        let deadline = Instant::now() + config.shutdown_grace;
        let all = join_workers(router.take_workers());
        tokio::pin!(all);
        if tokio::time::timeout_at(deadline.into(), &mut all)
            .await
            .is_err()
        {
            tracing::warn!("grace period over: stopping the agents still working; their messages stay in the journal");
            let _ = kill_tx.send(true);
            all.await;
        }
        Ok(HostReport {
            replayed,
            handled: shared.stats.handled.load(Ordering::Relaxed),
            failed: shared.stats.failed.load(Ordering::Relaxed),
            pending: shared.journal.pending(),
            pooled_agents: shared.stats.pooled.load(Ordering::Relaxed),
            cold_agents: shared.stats.cold.load(Ordering::Relaxed),
        })
    }
}

/// Resolves once `flag` is (or becomes) true, or its sender is gone.
async fn stopped(flag: &mut watch::Receiver<bool>) {
    let _ = flag.wait_for(|set| *set).await;
}

/// Awaits every handle (a panicked worker is logged, not propagated).
async fn join_workers(handles: Vec<JoinHandle<()>>) {
    for handle in handles {
        if let Err(e) = handle.await {
            tracing::error!(error = %e, "a chat worker ended abnormally");
        }
    }
}

/// The chats' folders under `workspace`, handed to `profile`'s user when
/// the host runs as root.
fn chat_dirs(workspace: &std::path::Path, profile: &AgentProfile) -> Result<ChatDirs, HostError> {
    let user = profile.effective_user();
    let running_as_root = profile::process_ids().is_some_and(|(uid, _)| uid == 0);
    let owner = match profile::numeric_user(&user) {
        Some(ids) if running_as_root => Some(ids),
        Some(_) => None,
        None => {
            tracing::warn!(user = %user, "the agent user is not numeric: chat folders are not handed to it; give `uid:gid`");
            None
        }
    };
    ChatDirs::new(workspace, owner).map_err(|(path, source)| HostError::Workspace { path, source })
}

/// Each chat's queue and worker task.
type Workers = HashMap<ChatKey, (mpsc::UnboundedSender<Job>, JoinHandle<()>)>;

/// Routes journaled messages to their chat's worker, starting it on first use.
#[derive(Clone)]
struct Router {
    shared: Arc<Shared>,
    workers: Arc<Mutex<Workers>>,
}

impl Router {
    fn dispatch(&self, entry: JournalEntry) {
        let chat = entry.chat();
        let job = Job {
            entry,
            queued_at: Instant::now(),
        };
        let mut workers = self.workers.lock().unwrap_or_else(PoisonError::into_inner);
        let (sender, _) = workers.entry(chat.clone()).or_insert_with(|| {
            let (tx, rx) = mpsc::unbounded_channel();
            let task = tokio::spawn(worker::run(self.shared.clone(), chat.clone(), rx));
            (tx, task)
        });
        if sender.send(job).is_err() {
            // The worker has stopped (shutdown): the message stays in the journal.
            tracing::debug!(chat = %chat, "message left in the journal: the host is stopping");
        }
    }

    fn take_workers(&self) -> Vec<JoinHandle<()>> {
        let mut workers = self.workers.lock().unwrap_or_else(PoisonError::into_inner);
        workers.drain().map(|(_, (_, task))| task).collect()
    }
}

/// What decides whether a message is handled.
struct Intake {
    allow: ChatAllowlist,
    /// Lowercased.
    trigger: Option<String>,
}

/// The longest pause between failing `receive` calls.
const MAX_RECEIVE_BACKOFF: Duration = Duration::from_secs(60);

async fn receive_loop(channel: Arc<dyn ChannelTransport>, router: Router, intake: Arc<Intake>) {
    let shared = router.shared.clone();
    let mut stopping = shared.stopping.clone();
    let mut refused: HashSet<ChatKey> = HashSet::new();
    let mut backoff = Duration::from_secs(1);
    loop {
        let batch = tokio::select! {
            biased;
            () = stopped(&mut stopping) => return,
            batch = channel.receive() => batch,
        };
        let batch = match batch {
            Ok(batch) => batch,
            Err(e) => {
                tracing::warn!(channel = channel.name(), error = %e, retry_in_s = backoff.as_secs(), "receiving failed");
                tokio::select! {
                    () = stopped(&mut stopping) => return,
                    () = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(MAX_RECEIVE_BACKOFF);
                continue;
            }
        };
        backoff = Duration::from_secs(1);
        let mut stored = true;
        for message in batch {
            let chat = ChatKey::new(channel.name(), message.chat.clone());
            if !intake.allow.allows(&chat) {
                tracing::info!(chat = %chat, "message from a chat that is not allowed: no agent started");
                if refused.insert(chat.clone()) {
                    let replier = Replier {
                        channel: channel.clone(),
                        chat: message.chat.clone(),
                        reply_to: Some(message.message_id.clone()),
                    };
                    replier.reply(&ChatAllowlist::refusal(&chat)).await;
                }
                continue;
            }
            if message.group {
                if let Some(trigger) = &intake.trigger {
                    if !message.text.to_lowercase().contains(trigger.as_str()) {
                        continue;
                    }
                }
            }
            match shared.journal.record(channel.name(), message).await {
                Ok(Some(entry)) => router.dispatch(entry),
                Ok(None) => {
                    tracing::debug!(chat = %chat, "message delivered again; already journaled")
                }
                Err(e) => {
                    tracing::error!(error = %e, "a message could not be journaled; it is not acknowledged and will be received again");
                    stored = false;
                    break;
                }
            }
        }
        if stored {
            if let Err(e) = channel.acknowledge().await {
                tracing::warn!(channel = channel.name(), error = %e, "acknowledging received messages failed");
            }
        } else {
            tokio::select! {
                () = stopped(&mut stopping) => return,
                () = tokio::time::sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(MAX_RECEIVE_BACKOFF);
        }
    }
}
