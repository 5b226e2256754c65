//! [`AgentPool`]: agents made before their chat's first message, so that
//! message costs one write on an attached stdin instead of a cold start.
//!
//! A warm agent is an agent container of the host's [`AgentProfile`],
//! created through the same runtime as a cold one (so the sandbox layer
//! patches it alike: same environment, mounts and CA), attached, started,
//! and blocked reading its stdin. Its chat and session folders are empty
//! folders of its own; when a chat takes it they become the chat's (see
//! the host's `folders` module). A warm agent serves one chat only: once
//! taken it is that chat's agent until it stops, and it never goes back.
//!
//! - **Bounded**: at most `size` warm agents, and each holds one of the
//!   host's agent slots, so they count against its cap. The pool only takes
//!   a slot that is free and no chat waits for.
//! - **Off the message path**: one background task refills the pool after
//!   each take, one agent at a time; taking never waits for the engine.
//! - **Fresh**: every [`REFRESH_EVERY`] the task asks the runtime to read its
//!   proxy CA again ([`ContainerRuntime::refresh`]); warm agents made before
//!   the runtime's [`generation`](ContainerRuntime::generation) changed (a
//!   process that read the old CA at its start keeps trusting it) are
//!   removed and replaced, and a take never hands one out.
//! - **Drained**: [`AgentPool::close`] removes every warm agent and its
//!   folders; a pool dropped without it still removes its containers (each
//!   handle's guard does), and a crashed host's warm agents carry the
//!   install's labels, so orphan cleanup removes them at the next start.

use std::collections::VecDeque;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;

use crate::runtime::{AgentHandle, ContainerId, ContainerRuntime, RuntimeError};

use super::chat::ChatKey;
use super::folders::{ChatDirs, WarmDirs};
use super::profile::AgentProfile;
use super::slots::{SlotPermit, Slots};
use super::HostError;

/// How often the pool asks the runtime to read its proxy CA again.
pub const REFRESH_EVERY: Duration = Duration::from_secs(2);

/// The first pause after a warm agent could not be made; it doubles on
/// each failure in a row, up to [`MAX_RETRY_PAUSE`].
const FIRST_RETRY_PAUSE: Duration = Duration::from_secs(1);
/// The longest pause between attempts to make a warm agent.
const MAX_RETRY_PAUSE: Duration = Duration::from_secs(60);

/// What the pool has done so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct PoolStats {
    /// Warm agents made.
    pub made: usize,
    /// Warm agents a chat took.
    pub taken: usize,
    /// Warm agents removed because the runtime's generation changed (the
    /// proxy CA rotated) before a chat took them.
    pub replaced: usize,
}

/// One warm agent, waiting in the pool.
struct Warm {
    handle: AgentHandle,
    dirs: WarmDirs,
    generation: u64,
    permit: SlotPermit,
}

/// An agent a chat took from the pool: its container is running, attached
/// and blocked on stdin, and its folders are the chat's.
pub struct PooledAgent {
    handle: AgentHandle,
    permit: SlotPermit,
}

impl std::fmt::Debug for PooledAgent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PooledAgent")
            .field("handle", &self.handle)
            .finish_non_exhaustive()
    }
}

impl PooledAgent {
    /// The container.
    pub fn id(&self) -> &ContainerId {
        self.handle.id()
    }

    /// The agent's handle: its streams (stdin, stdout, stderr, each taken
    /// once), its exit status.
    pub fn handle_mut(&mut self) -> &mut AgentHandle {
        &mut self.handle
    }

    /// Removes the container now; its place in the pool's cap is free then.
    pub async fn remove(self) -> Result<(), RuntimeError> {
        let PooledAgent { handle, permit } = self;
        let removed = handle.remove().await;
        drop(permit);
        removed
    }

    /// The handle and the slot it holds (the host keeps both while the
    /// chat's agent lives).
    pub(crate) fn into_parts(self) -> (AgentHandle, SlotPermit) {
        (self.handle, self.permit)
    }
}

struct State {
    ready: VecDeque<Warm>,
    /// Warm agents to remove (stale, or a take failed on them).
    retired: Vec<Warm>,
    stats: PoolStats,
}

struct Inner {
    runtime: Arc<dyn ContainerRuntime>,
    profile: AgentProfile,
    dirs: ChatDirs,
    size: usize,
    slots: Slots,
    state: Mutex<State>,
    /// Counts warm agents made ready: a waiting chat watches it.
    added: watch::Sender<u64>,
    /// Wakes the refill task (a take, a retirement, closing).
    wake: Notify,
    closed: watch::Sender<bool>,
    /// Takes in flight, so that `close` waits for them.
    taking: AtomicUsize,
}

/// Warm agents of one [`AgentProfile`]; see the [module docs](self).
///
/// [`AgentHost`](super::AgentHost) makes one when given a
/// [`pool_size`](super::AgentHostBuilder::pool_size); [`AgentPool::start`]
/// makes one on its own (its cap then is its size).
pub struct AgentPool {
    inner: Arc<Inner>,
    refill: Mutex<Option<JoinHandle<()>>>,
}

impl std::fmt::Debug for AgentPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgentPool")
            .field("size", &self.inner.size)
            .field("ready", &self.ready())
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl AgentPool {
    /// A pool of `size` warm agents of `profile`, with their folders under
    /// `workspace` (as [`AgentHost`](super::AgentHost) keeps them: chats'
    /// files in `chats/`, sessions in `sessions/`, warm folders in `warm/`).
    /// Filling starts at once, in the background; needs a tokio runtime.
    /// (Unlike the host, it does not first clean up after a crashed run:
    /// see [`AgentHost::run`](super::AgentHost::run).)
    pub fn start(
        runtime: Arc<dyn ContainerRuntime>,
        profile: AgentProfile,
        workspace: impl AsRef<Path>,
        size: usize,
    ) -> Result<AgentPool, HostError> {
        if size == 0 {
            return Err(HostError::Config {
                what: "pool size",
                reason: "a pool of 0 agents keeps none: give 1 or more".into(),
            });
        }
        let dirs = super::chat_dirs(workspace.as_ref(), &profile)?;
        Ok(Self::with_slots(
            runtime,
            profile,
            dirs,
            size,
            Slots::new(size),
        ))
    }

    /// A pool sharing the host's slots (its cap).
    pub(crate) fn with_slots(
        runtime: Arc<dyn ContainerRuntime>,
        profile: AgentProfile,
        dirs: ChatDirs,
        size: usize,
        slots: Slots,
    ) -> AgentPool {
        let inner = Arc::new(Inner {
            runtime,
            profile,
            dirs,
            size,
            slots,
            state: Mutex::new(State {
                ready: VecDeque::new(),
                retired: Vec::new(),
                stats: PoolStats::default(),
            }),
            added: watch::Sender::new(0),
            wake: Notify::new(),
            closed: watch::Sender::new(false),
            taking: AtomicUsize::new(0),
        });
        let refill = tokio::spawn(refill(inner.clone()));
        AgentPool {
            inner,
            refill: Mutex::new(Some(refill)),
        }
    }

    /// How many warm agents the pool keeps.
    pub fn size(&self) -> usize {
        self.inner.size
    }

    /// How many warm agents are ready now.
    pub fn ready(&self) -> usize {
        self.inner.lock().ready.len()
    }

    /// What the pool has done so far.
    pub fn stats(&self) -> PoolStats {
        self.inner.lock().stats
    }

    /// Resolves once `count` warm agents are ready (at once if they are; never
    /// for more than the size, or after [`close`](Self::close)).
    pub async fn ready_at_least(&self, count: usize) {
        let mut added = self.inner.added.subscribe();
        loop {
            added.borrow_and_update();
            if self.ready() >= count {
                return;
            }
            if added.changed().await.is_err() {
                return std::future::pending().await;
            }
        }
    }

    /// A watch that changes whenever a warm agent becomes ready: a chat
    /// waiting for a slot watches it, to take that agent instead.
    pub(crate) fn watch_added(&self) -> watch::Receiver<u64> {
        self.inner.added.subscribe()
    }

    /// A warm agent for `chat`, its folders made the chat's, or `None` when
    /// none is ready (or handing the folders over failed; then the chat
    /// spawns cold, and the log says why). Never waits for the engine.
    pub fn take(&self, chat: &ChatKey) -> Option<PooledAgent> {
        let inner = &self.inner;
        if *inner.closed.borrow() {
            return None;
        }
        inner.taking.fetch_add(1, Ordering::SeqCst);
        let taken = self.take_ready(chat);
        inner.taking.fetch_sub(1, Ordering::SeqCst);
        inner.wake.notify_one();
        taken
    }

    fn take_ready(&self, chat: &ChatKey) -> Option<PooledAgent> {
        let inner = &self.inner;
        let generation = inner.runtime.generation();
        let warm = {
            let mut state = inner.lock();
            loop {
                let warm = state.ready.pop_front()?;
                if warm.generation == generation {
                    break warm;
                }
                state.stats.replaced += 1;
                state.retired.push(warm);
            }
        };
        if let Err(e) = inner.dirs.adopt(&warm.dirs, chat) {
            tracing::warn!(chat = %chat, container = %warm.handle.id(), error = %e, "the chat's folders could not be handed to a warm agent; it spawns cold");
            inner.lock().retired.push(warm);
            return None;
        }
        inner.lock().stats.taken += 1;
        tracing::debug!(chat = %chat, container = %warm.handle.id(), "a warm agent took the chat");
        Some(PooledAgent {
            handle: warm.handle,
            permit: warm.permit,
        })
    }

    /// Stops refilling and removes every warm agent and its folders (agents
    /// chats took are theirs, and stay). Later takes get `None`.
    pub async fn close(&self) {
        let inner = &self.inner;
        inner.closed.send_replace(true);
        inner.wake.notify_one();
        let refill = self
            .refill
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(refill) = refill {
            if let Err(e) = refill.await {
                tracing::error!(error = %e, "the warm pool's refill task ended abnormally");
            }
        }
        while inner.taking.load(Ordering::SeqCst) > 0 {
            tokio::task::yield_now().await;
        }
        let all: Vec<Warm> = {
            let mut state = inner.lock();
            let mut all: Vec<Warm> = state.ready.drain(..).collect();
            all.append(&mut state.retired);
            all
        };
        let count = all.len();
        for warm in all {
            inner.remove(warm).await;
        }
        if count > 0 {
            tracing::info!(count, "warm agents removed");
        }
    }
}

impl Drop for AgentPool {
    fn drop(&mut self) {
        // Without `close`: the task stops, and the handles' guards remove
        // the containers as the warm agents drop.
        self.inner.closed.send_replace(true);
        if let Some(refill) = self
            .refill
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        {
            refill.abort();
        }
    }
}

impl Inner {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn closed(&self) -> bool {
        *self.closed.borrow()
    }

    /// Makes one warm agent holding `permit`.
    async fn make(&self, permit: SlotPermit, generation: u64) -> Result<Warm, String> {
        let dirs = self
            .dirs
            .prepare_warm()
            .map_err(|e| format!("its folders could not be made: {e}"))?;
        let spec = match self.profile.spec_for_warm(&dirs.chat, &dirs.session) {
            Ok(spec) => spec,
            Err(e) => {
                self.dirs.discard(&dirs);
                return Err(format!("the agent profile is invalid: {e}"));
            }
        };
        match AgentHandle::spawn(self.runtime.clone(), &spec).await {
            Ok(handle) => Ok(Warm {
                handle,
                dirs,
                generation,
                permit,
            }),
            Err(e) => {
                self.dirs.discard(&dirs);
                Err(e.to_string())
            }
        }
    }

    async fn remove(&self, warm: Warm) {
        let Warm {
            handle,
            dirs,
            permit,
            ..
        } = warm;
        let id = handle.id().clone();
        if let Err(e) = handle.remove().await {
            // The guard was not disarmed: dropping the handle retries.
            tracing::warn!(container = %id, error = %e, "removing a warm agent failed");
        }
        self.dirs.discard(&dirs);
        drop(permit);
    }

    /// Moves the warm agents of another generation to `retired`.
    fn retire_stale(&self, generation: u64) {
        let mut state = self.lock();
        let (keep, stale): (Vec<Warm>, Vec<Warm>) = state
            .ready
            .drain(..)
            .partition(|w| w.generation == generation);
        state.ready = keep.into();
        if !stale.is_empty() {
            tracing::info!(
                count = stale.len(),
                "the proxy CA changed: warm agents made with the old one are replaced"
            );
        }
        state.stats.replaced += stale.len();
        state.retired.extend(stale);
    }

    async fn remove_retired(&self) {
        let retired = std::mem::take(&mut self.lock().retired);
        for warm in retired {
            self.remove(warm).await;
        }
    }
}

/// The refill task: keeps the pool full and fresh until closed.
async fn refill(inner: Arc<Inner>) {
    let mut closed = inner.closed.subscribe();
    let mut last_refresh: Option<Instant> = None;
    let mut retry_pause = FIRST_RETRY_PAUSE;
    loop {
        if inner.closed() {
            return;
        }
        if last_refresh.is_none_or(|at| at.elapsed() >= REFRESH_EVERY) {
            if let Err(e) = inner.runtime.refresh() {
                tracing::warn!(error = %e, "the warm pool could not check the proxy CA");
            }
            last_refresh = Some(Instant::now());
        }
        let generation = inner.runtime.generation();
        inner.retire_stale(generation);
        inner.remove_retired().await;

        let mut failed = false;
        while !inner.closed() && inner.lock().ready.len() < inner.size {
            let Some(permit) = inner.slots.try_acquire() else {
                break;
            };
            match inner.make(permit, generation).await {
                Ok(warm) => {
                    let mut state = inner.lock();
                    state.stats.made += 1;
                    state.ready.push_back(warm);
                    drop(state);
                    inner.added.send_modify(|n| *n += 1);
                    retry_pause = FIRST_RETRY_PAUSE;
                }
                Err(why) => {
                    tracing::warn!(
                        retry_in_s = retry_pause.as_secs(),
                        "a warm agent could not be made: {why}"
                    );
                    failed = true;
                    break;
                }
            }
            if inner.runtime.generation() != generation {
                break;
            }
        }
        let pause = if failed {
            let pause = retry_pause;
            retry_pause = (retry_pause * 2).min(MAX_RETRY_PAUSE);
            pause
        } else {
            REFRESH_EVERY
        };
        tokio::select! {
            _ = closed.wait_for(|c| *c) => return,
            () = inner.wake.notified(), if !failed => {}
            () = tokio::time::sleep(pause) => {}
        }
    }
}
