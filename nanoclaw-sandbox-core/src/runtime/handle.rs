//! [`AgentHandle`]: one running agent container, removed when the handle goes away.
//!
//! Removal on drop must not depend on the caller's async runtime: a panicking
//! `#[tokio::test]` (or a host shutting down) tears that runtime down while
//! the handle is being dropped. So the guard removes the container on a
//! thread of its own, through the engine's [`BlockingRemover`], which brings
//! its own client and its own small runtime.

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex, PoisonError};
use std::task::Poll;
use std::time::{Duration, Instant};

use futures_core::Stream;

use super::{
    Attachment, BlockingRemover, ContainerId, ContainerInfo, ContainerRuntime, ExecOutput,
    ExitStatus, OutputStream, RuntimeError, Stdin,
};
use crate::spec::ContainerSpec;

/// How long a drop waits for the blocking removal before giving up on it
/// (the removal thread keeps going; the caller just stops waiting).
const DROP_REMOVAL_WAIT: Duration = Duration::from_secs(20);

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
    fn drop(&mut self) {
        if !self.armed.swap(false, Ordering::SeqCst) {
            return;
        }
        let (id, remover) = (self.id.clone(), Arc::clone(&self.remover));
        let (done_tx, done_rx) = mpsc::channel();
        let spawned = std::thread::Builder::new()
            .name("nanoclaw-container-cleanup".into())
            .spawn(move || {
                let result = remover.remove_blocking(&id);
                // The dropping side may have stopped waiting; nothing to do then.
                let _ = done_tx.send(result);
            });
        let outcome = match spawned {
            Ok(_) => done_rx
                .recv_timeout(DROP_REMOVAL_WAIT)
                .map_err(|_| "the removal did not finish in time".to_string())
                .and_then(|r| r.map_err(|e| e.to_string())),
            Err(e) => Err(format!("cannot start the cleanup thread: {e}")),
        };
        if let Err(reason) = outcome {
            tracing::warn!(container = %self.id, %reason, "container left behind; `cleanup_orphans` or `docker rm -f` removes it");
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
/// from a separate thread and waits for that (bounded); call
/// [`remove`](Self::remove) to do it asynchronously instead.
///
/// A spec with `auto_remove` is created *without* the engine's auto-remove:
/// the handle removes the container itself as soon as [`wait`](Self::wait) has
/// read the exit status, which otherwise races with the engine's removal.
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
    remove_after_exit: bool,
    exit: Mutex<Option<ExitStatus>>,
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
        let remove_after_exit = spec.auto_remove();
        let engine_spec;
        let spec = if remove_after_exit {
            engine_spec = spec.to_builder().auto_remove(false).build().map_err(|e| {
                RuntimeError::UnsupportedValue {
                    what: "spec",
                    value: e.to_string(),
                    fix: "report this: a valid spec failed to rebuild",
                }
            })?;
            &engine_spec
        } else {
            spec
        };

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
        runtime.start(guard.id()).await?;
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
            remove_after_exit,
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
    /// error. Later calls return the same status.
    pub async fn wait(&self) -> Result<ExitStatus, RuntimeError> {
        if let Some(status) = *self.exit.lock().unwrap_or_else(PoisonError::into_inner) {
            return Ok(status);
        }
        let status = self.runtime.wait(self.id()).await?;
        *self.exit.lock().unwrap_or_else(PoisonError::into_inner) = Some(status);
        if self.remove_after_exit {
            self.remove_now().await?;
        }
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
