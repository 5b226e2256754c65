//! [`AgentHandle`]: one running agent container, removed when the handle goes away.
//!
//! Removal on drop must not depend on the caller's async runtime: a panicking
//! `#[tokio::test]` (or a host shutting down) tears that runtime down while
//! the handle is being dropped, and a task spawned on it would be dropped
//! unfinished. Nor may the drop block a runtime worker thread while the
//! engine removes the container. So the guard hands the removal to a
//! detached thread of its own, through the engine's [`BlockingRemover`]
//! (which brings its own client and its own small runtime), and returns at
//! once.
//!
//! The limit: a detached thread dies with its process. A process that exits
//! right after dropping handles calls [`wait_for_pending_removals`] first
//! (the CLI does); one killed outright leaves its containers to
//! [`ContainerRuntime::cleanup_orphans`] at the next start, which finds them
//! by their labels.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::task::Poll;
use std::time::{Duration, Instant};

use futures_core::Stream;

use super::{
    Attachment, BlockingRemover, ContainerId, ContainerInfo, ContainerRuntime, ExecOutput,
    ExitStatus, OutputStream, RuntimeError, Stdin,
};
use crate::spec::ContainerSpec;

/// How many removals handed to cleanup threads have not finished yet.
static PENDING: Mutex<usize> = Mutex::new(0);
/// Signalled whenever [`PENDING`] goes down.
static PENDING_DONE: Condvar = Condvar::new();

/// One removal in flight on a cleanup thread; counted in [`PENDING`] until dropped.
struct PendingRemoval;

impl PendingRemoval {
    fn begin() -> Self {
        *PENDING.lock().unwrap_or_else(PoisonError::into_inner) += 1;
        Self
    }
}

impl Drop for PendingRemoval {
    fn drop(&mut self) {
        let mut pending = PENDING.lock().unwrap_or_else(PoisonError::into_inner);
        *pending = pending.saturating_sub(1);
        PENDING_DONE.notify_all();
    }
}

/// Waits, up to `timeout`, for the removals that dropped handles and guards
/// handed to cleanup threads, and returns how many are still unfinished
/// (0: all done). Call it before the process exits: the cleanup threads are
/// detached and die with the process. Blocks the calling thread; from async
/// code, call it where blocking is allowed (after the runtime is gone, or
/// through `spawn_blocking`).
pub fn wait_for_pending_removals(timeout: Duration) -> usize {
    let pending = PENDING.lock().unwrap_or_else(PoisonError::into_inner);
    let (pending, _) = PENDING_DONE
        .wait_timeout_while(pending, timeout, |pending| *pending > 0)
        .unwrap_or_else(PoisonError::into_inner);
    *pending
}

/// Removes a container when dropped, unless disarmed.
pub struct ContainerGuard {
    id: ContainerId,
    remover: Arc<dyn BlockingRemover>,
    armed: AtomicBool,
}

impl ContainerGuard {
    /// Guards `id`; dropping the guard force-removes the container via `remover`.
    pub fn new(id: ContainerId, remover: Arc<dyn BlockingRemover>) -> Self {
        Self {
            id,
            remover,
            armed: AtomicBool::new(true),
        }
    }

    /// The guarded container.
    pub fn id(&self) -> &ContainerId {
        &self.id
    }

    /// Stops guarding: the container will no longer be removed on drop.
    pub fn disarm(&self) {
        self.armed.store(false, Ordering::SeqCst);
    }
}

impl std::fmt::Debug for ContainerGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ContainerGuard")
            .field("id", &self.id)
            .field("armed", &self.armed.load(Ordering::SeqCst))
            .finish_non_exhaustive()
    }
}

impl Drop for ContainerGuard {
    /// Hands the removal to a detached thread and returns without waiting
    /// for it (see the module documentation for why, and for the limit).
    fn drop(&mut self) {
        if !self.armed.swap(false, Ordering::SeqCst) {
            return;
        }
        let (id, remover) = (self.id.clone(), Arc::clone(&self.remover));
        let pending = PendingRemoval::begin();
        let spawned = std::thread::Builder::new()
            .name("nanoclaw-container-cleanup".into())
            .spawn(move || {
                let _pending = pending;
                if let Err(error) = remover.remove_blocking(&id) {
                    tracing::warn!(container = %id, %error, "container left behind; `cleanup_orphans` or `docker rm -f` removes it");
                }
            });
        if let Err(error) = spawned {
            tracing::warn!(container = %self.id, %error, "cannot start the cleanup thread: container left behind; `cleanup_orphans` or `docker rm -f` removes it");
        }
    }
}

/// How long each spawn phase took.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SpawnTimings {
    /// Creating the container.
    pub create: Duration,
    /// Attaching to its streams.
    pub attach: Duration,
    /// Starting it.
    pub start: Duration,
}

impl SpawnTimings {
    /// From the create request until the start call returned.
    pub fn total(&self) -> Duration {
        self.create + self.attach + self.start
    }
}

/// Everything an agent wrote, and how it ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentOutput {
    /// How it ended.
    pub status: ExitStatus,
    /// All of stdout.
    pub stdout: Vec<u8>,
    /// All of stderr.
    pub stderr: Vec<u8>,
}

/// Owns one agent container: its streams, its exit status, and its removal.
///
/// Created by [`AgentHandle::spawn`] (create, attach, start: attaching before
/// starting loses no output). Dropping the handle force-removes the container
/// from a detached thread without waiting for it (see
/// [`wait_for_pending_removals`]); call [`remove`](Self::remove) to remove it
/// asynchronously and see the outcome instead.
///
/// A spec with `auto_remove` is created *with* the engine's auto-remove, as
/// `docker run --rm` does: the container goes away once its command ends
/// even if this process is killed outright. So that the exit status is not
/// lost with it, the handle issues [`ContainerRuntime::wait_removed`] before
/// it starts the container, and [`wait`](Self::wait) returns that answer.
pub struct AgentHandle {
    runtime: Arc<dyn ContainerRuntime>,
    guard: ContainerGuard,
    // Behind mutexes only so that the handle is `Sync` (a `&AgentHandle`
    // may be held across an await in a spawned task): they are taken
    // through `&mut self`, never locked.
    stdout: Mutex<Option<OutputStream>>,
    stderr: Mutex<Option<OutputStream>>,
    stdin: Mutex<Option<Stdin>>,
    timings: SpawnTimings,
    /// The wait issued before start, for an auto-removed container.
    removal_wait: Mutex<Option<ExitWatch>>,
    exit: Mutex<Option<ExitStatus>>,
}

type ExitFuture = Pin<Box<dyn Future<Output = Result<ExitStatus, RuntimeError>> + Send>>;

/// [`ContainerRuntime::wait_removed`], issued before start: still pending, or answered.
enum ExitWatch {
    Pending(ExitFuture),
    Answered(Result<ExitStatus, RuntimeError>),
}

impl ExitWatch {
    fn issue(runtime: &Arc<dyn ContainerRuntime>, id: &ContainerId) -> Self {
        let (runtime, id) = (Arc::clone(runtime), id.clone());
        Self::Pending(Box::pin(async move { runtime.wait_removed(&id).await }))
    }

    /// Drives a pending wait (sends its request), keeping an answer that comes.
    fn poll_pending(&mut self, cx: &mut std::task::Context<'_>) {
        if let Self::Pending(future) = self {
            if let Poll::Ready(answer) = future.as_mut().poll(cx) {
                *self = Self::Answered(answer);
            }
        }
    }

    async fn answer(self) -> Result<ExitStatus, RuntimeError> {
        match self {
            Self::Pending(future) => future.await,
            Self::Answered(answer) => answer,
        }
    }
}

/// Runs `start` to its end while driving `watch` (polled first, so its
/// request goes out before the start's).
async fn start_watched(
    start: impl Future<Output = Result<(), RuntimeError>>,
    watch: &mut Option<ExitWatch>,
) -> Result<(), RuntimeError> {
    let mut start = std::pin::pin!(start);
    std::future::poll_fn(|cx| {
        if let Some(watch) = watch.as_mut() {
            watch.poll_pending(cx);
        }
        start.as_mut().poll(cx)
    })
    .await
}

impl std::fmt::Debug for AgentHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgentHandle")
            .field("id", self.guard.id())
            .field("timings", &self.timings)
            .finish_non_exhaustive()
    }
}

impl AgentHandle {
    /// Creates, attaches to and starts a container for `spec`.
    ///
    /// If this future is dropped half-way, or any step fails, the container
    /// created so far is removed. (One gap no client can close: dropped while
    /// the create request itself is in flight, the engine may still finish
    /// creating; [`ContainerRuntime::cleanup_orphans`] removes such leftovers
    /// at the next start.)
    pub async fn spawn(
        runtime: Arc<dyn ContainerRuntime>,
        spec: &ContainerSpec,
    ) -> Result<Self, RuntimeError> {
        let began = Instant::now();
        let id = runtime.create(spec).await?;
        let guard = ContainerGuard::new(id, runtime.blocking_remover());
        let created = Instant::now();
        let Attachment {
            stdout,
            stderr,
            stdin,
        } = runtime.attach(guard.id(), spec.attach_stdin()).await?;
        let attached = Instant::now();
        let mut removal_wait = spec
            .auto_remove()
            .then(|| ExitWatch::issue(&runtime, guard.id()));
        start_watched(runtime.start(guard.id()), &mut removal_wait).await?;
        let started = Instant::now();

        Ok(Self {
            timings: SpawnTimings {
                create: created - began,
                attach: attached - created,
                start: started - attached,
            },
            runtime,
            guard,
            stdout: Mutex::new(Some(stdout)),
            stderr: Mutex::new(Some(stderr)),
            stdin: Mutex::new(stdin),
            removal_wait: Mutex::new(removal_wait),
            exit: Mutex::new(None),
        })
    }

    /// The container's id.
    pub fn id(&self) -> &ContainerId {
        self.guard.id()
    }

    /// How long create, attach and start took.
    pub fn timings(&self) -> SpawnTimings {
        self.timings
    }

    /// The stdout stream (once; later calls get `None`).
    pub fn take_stdout(&mut self) -> Option<OutputStream> {
        taken(&mut self.stdout)
    }

    /// The stderr stream (once; later calls get `None`).
    pub fn take_stderr(&mut self) -> Option<OutputStream> {
        taken(&mut self.stderr)
    }

    /// Stdin, when the spec attached it (once).
    pub fn take_stdin(&mut self) -> Option<Stdin> {
        taken(&mut self.stdin)
    }

    /// Waits for the container to exit. A non-zero code is a value, not an
    /// error. Later calls return the same status. For an auto-removed
    /// container, this returns once the engine has removed it.
    pub async fn wait(&self) -> Result<ExitStatus, RuntimeError> {
        if let Some(status) = *self.exit.lock().unwrap_or_else(PoisonError::into_inner) {
            return Ok(status);
        }
        let removal_wait = self
            .removal_wait
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        let status = match removal_wait {
            Some(watch) => {
                let answer = watch.answer().await;
                if matches!(answer, Ok(_) | Err(RuntimeError::ExitStatusLost { .. })) {
                    // The engine removed it: nothing left for a drop to do.
                    self.guard.disarm();
                }
                answer?
            }
            None => self.runtime.wait(self.id()).await?,
        };
        *self.exit.lock().unwrap_or_else(PoisonError::into_inner) = Some(status);
        Ok(status)
    }

    /// Stops the container: a termination signal, then a kill after `grace`.
    pub async fn stop(&self, grace: Duration) -> Result<(), RuntimeError> {
        self.runtime.stop(self.id(), grace).await
    }

    /// Runs `cmd` inside the running container.
    pub async fn exec(&self, cmd: &[String]) -> Result<ExecOutput, RuntimeError> {
        self.runtime.exec(self.id(), cmd).await
    }

    /// What the engine reports about the container.
    pub async fn inspect(&self) -> Result<ContainerInfo, RuntimeError> {
        self.runtime.inspect(self.id()).await
    }

    /// Reads stdout and stderr to their ends (concurrently, so neither can
    /// stall the other), waits for the exit, and removes the container.
    /// Streams already taken count as empty.
    pub async fn output(mut self) -> Result<AgentOutput, RuntimeError> {
        let stdout = self.take_stdout();
        let stderr = self.take_stderr();
        let (stdout, stderr) = read_both(stdout, stderr).await;
        let status = self.wait().await?;
        self.remove().await?;
        Ok(AgentOutput {
            status,
            stdout: stdout?,
            stderr: stderr?,
        })
    }

    /// Force-removes the container now (asynchronously) and consumes the handle.
    pub async fn remove(self) -> Result<(), RuntimeError> {
        self.remove_now().await
    }

    async fn remove_now(&self) -> Result<(), RuntimeError> {
        match self.runtime.remove(self.id(), true).await {
            Ok(()) => {}
            Err(e) if e.is_no_such_container() => {}
            Err(e) => return Err(e),
        }
        // An auto-removed container may still be going (the engine counts a
        // removal it is already doing as done): its wait answers once it is
        // gone, so that "removed" means gone when this returns.
        let removal_wait = self
            .removal_wait
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(watch) = removal_wait {
            let _ = watch.answer().await;
        }
        self.guard.disarm();
        Ok(())
    }
}

fn taken<T>(slot: &mut Mutex<Option<T>>) -> Option<T> {
    slot.get_mut()
        .unwrap_or_else(PoisonError::into_inner)
        .take()
}

type Collected = Result<Vec<u8>, RuntimeError>;

/// Drains two optional streams concurrently, without an executor dependency.
async fn read_both(a: Option<OutputStream>, b: Option<OutputStream>) -> (Collected, Collected) {
    let mut slots = [a, b].map(|s| (s, Ok(Vec::new())));
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (stream, collected) in slots.iter_mut() {
            while let Some(s) = stream.as_mut() {
                match Pin::new(&mut *s).poll_next(cx) {
                    Poll::Pending => {
                        pending = true;
                        break;
                    }
                    Poll::Ready(None) => *stream = None,
                    Poll::Ready(Some(Ok(chunk))) => {
                        if let Ok(all) = collected {
                            all.extend_from_slice(&chunk);
                        }
                    }
                    Poll::Ready(Some(Err(e))) => {
                        *collected = Err(e);
                        *stream = None;
                    }
                }
            }
        }
        if pending {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    })
    .await;
    let [(_, a), (_, b)] = slots;
    (a, b)
}
