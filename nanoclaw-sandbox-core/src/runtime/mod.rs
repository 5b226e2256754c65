//! The engine-neutral container runtime.
//!
//! [`ContainerRuntime`] runs containers; [`ImageBuilder`] builds images. They
//! are separate traits because a host that outgrows one machine may run its
//! agents on Kubernetes or Swarm, where images are built elsewhere: neither
//! trait mentions a Docker type. [`DockerRuntime`](docker::DockerRuntime)
//! (feature `docker`) implements both on the Docker Engine API.
//!
//! | module | owns |
//! |---|---|
//! | [`error`] | [`RuntimeError`] |
//! | [`types`] | ids, [`ExitStatus`], [`ContainerInfo`], listings |
//! | [`io`] | [`OutputStream`], [`Stdin`], [`Attachment`] |
//! | [`labels`] | the managed/install/instance labels and their ids |
//! | [`own_container`] | detecting the container this process runs in |
//! | [`orphans`] | removing a crashed predecessor's containers |
//! | [`handle`] | [`AgentHandle`]: one container, removed when dropped |
//! | [`base_images`] | the images a Dockerfile needs (so builds never pull) |
//! | `docker` (feature `docker`) | the bollard-based implementation |

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use crate::spec::ContainerSpec;

pub mod base_images;
mod build_request;
pub mod error;
pub mod handle;
pub mod io;
pub mod labels;
pub mod orphans;
pub mod own_container;
pub mod types;

#[cfg(feature = "docker")]
pub mod docker;

pub use self::build_request::{BuildRequest, Builder};
pub use self::error::RuntimeError;
pub use self::handle::{
    wait_for_pending_removals, AgentHandle, AgentOutput, ContainerGuard, SpawnTimings,
};
pub use self::io::{Attachment, OutputStream, Stdin, StdinSink};
pub use self::labels::{
    InstallId, InstanceId, LabelError, RuntimeIdentity, INSTALL, INSTANCE, MANAGED, TEST,
};
pub use self::own_container::OwnContainer;
pub use self::types::{
    ContainerId, ContainerInfo, ContainerState, ContainerSummary, ExecOutput, ExitStatus, ImageId,
    ImageSummary, MountInfo,
};

/// Runs containers described by a [`ContainerSpec`] on some engine.
///
/// Every container an implementation creates carries the labels of its
/// [`identity`](Self::identity) (see [`labels`]). Implementations never pull
/// images: a missing image is [`RuntimeError::ImageNotFound`], at once.
#[async_trait]
pub trait ContainerRuntime: Send + Sync {
    /// Who this runtime creates containers as.
    fn identity(&self) -> &RuntimeIdentity;

    /// Creates (does not start) a container for `spec`.
    async fn create(&self, spec: &ContainerSpec) -> Result<ContainerId, RuntimeError>;

    /// The symlink target of `path` in the file system of the (created)
    /// container `id`: `None` when `path` is no symlink or does not exist.
    /// The sandbox layer asks it for the CA directory's ancestors, since an
    /// engine follows an image's symlink when it mounts. Engines that cannot
    /// tell answer `None` (the default).
    async fn link_target(
        &self,
        id: &ContainerId,
        path: &str,
    ) -> Result<Option<String>, RuntimeError> {
        let _ = (id, path);
        Ok(None)
    }

    /// Attaches to the container's stdout, stderr and, if `stdin`, its stdin.
    /// Attach before [`start`](Self::start) to see all output.
    async fn attach(&self, id: &ContainerId, stdin: bool) -> Result<Attachment, RuntimeError>;

    /// Starts a created container.
    async fn start(&self, id: &ContainerId) -> Result<(), RuntimeError>;

    /// Waits until the container is no longer running and returns how it
    /// ended. A non-zero exit is a value, not an error.
    async fn wait(&self, id: &ContainerId) -> Result<ExitStatus, RuntimeError>;

    /// For a container created with auto-remove and not started yet: waits
    /// until it has exited and is removed, and returns how it ended. Issue it
    /// (poll it once) *before* [`start`](Self::start), so that however soon
    /// the container exits, the exit is seen; once the container is gone,
    /// the engine can no longer say how it ended
    /// ([`RuntimeError::ExitStatusLost`]). The OOM flag goes with the
    /// container: `oom_killed` is only as good as the engine's answer.
    ///
    /// Default: [`wait`](Self::wait), then [`remove`](Self::remove) (for
    /// engines without auto-remove).
    async fn wait_removed(&self, id: &ContainerId) -> Result<ExitStatus, RuntimeError> {
        let status = self.wait(id).await?;
        match self.remove(id, true).await {
            Err(e) if !e.is_no_such_container() => Err(e),
            _ => Ok(status),
        }
    }

    /// Runs `cmd` in the running container and collects its output.
    async fn exec(&self, id: &ContainerId, cmd: &[String]) -> Result<ExecOutput, RuntimeError>;

    /// What the engine reports about the container.
    async fn inspect(&self, id: &ContainerId) -> Result<ContainerInfo, RuntimeError>;

    /// Asks the container to stop, and kills it after `grace`.
    async fn stop(&self, id: &ContainerId, grace: Duration) -> Result<(), RuntimeError>;

    /// Removes the container (`force`: even while running).
    async fn remove(&self, id: &ContainerId, force: bool) -> Result<(), RuntimeError>;

    /// All containers (running or not) carrying every one of `labels`. An
    /// empty selector lists every container of the engine, managed or not.
    async fn list(
        &self,
        labels: &BTreeMap<String, String>,
    ) -> Result<Vec<ContainerSummary>, RuntimeError>;

    /// Whether `image` is present on the engine (never pulls).
    async fn image_exists(&self, image: &str) -> Result<bool, RuntimeError>;

    /// A way to remove containers that works without the caller's async
    /// runtime, for removal on drop (see [`AgentHandle`]).
    fn blocking_remover(&self) -> Arc<dyn BlockingRemover>;

    /// A number that changes whenever a container created from now on would
    /// differ from one created earlier from the same spec: the sandbox layer's
    /// proxy CA rotated (see [`refresh`](Self::refresh)). Whoever keeps
    /// containers made ahead of time (the host's warm agent pool) replaces
    /// those of an older generation. Default: 0, for ever.
    fn generation(&self) -> u64 {
        0
    }

    /// Reads again what can change under a running process (the sandbox
    /// layer's proxy CA file) and returns whether it changed; when it did,
    /// [`generation`](Self::generation) changed too. On error nothing
    /// changes. Default: nothing to read again.
    fn refresh(&self) -> Result<bool, RuntimeError> {
        Ok(false)
    }

    /// Removes what earlier processes of this install left behind: managed
    /// containers of this install with another instance label, never the
    /// container this process runs in. Returns the ids removed.
    async fn cleanup_orphans(&self) -> Result<Vec<ContainerId>, RuntimeError> {
        orphans::cleanup_orphans(self, &OwnContainer::detect()).await
    }
}

/// Force-removes containers from any thread, blocking it, without needing the
/// async runtime the container was created from (it may be shutting down).
pub trait BlockingRemover: Send + Sync {
    /// Force-removes `id`; a container that is already gone counts as removed.
    fn remove_blocking(&self, id: &ContainerId) -> Result<(), RuntimeError>;
}

/// Builds images from a tar context.
///
/// Build output arrives through a callback, one line at a time, while the
/// build runs; the build's *result* (the image id, or an error carrying the
/// failing step's output) is the future's return value. A stream would need a
/// special last item for that result; a caller that wants a stream forwards
/// the lines into a channel.
#[async_trait]
pub trait ImageBuilder: Send + Sync {
    /// Builds `request`, reporting output lines to `on_output`, and returns
    /// the image id. Base images must already be present: builders never pull.
    async fn build(
        &self,
        request: BuildRequest,
        on_output: &mut (dyn for<'line> FnMut(&'line str) + Send),
    ) -> Result<ImageId, RuntimeError>;

    /// Images carrying every one of `labels`.
    async fn find_images(
        &self,
        labels: &BTreeMap<String, String>,
    ) -> Result<Vec<ImageSummary>, RuntimeError>;

    /// Removes an image reference (a tag, or an id with all its tags).
    /// Without `force`, an image that a container uses is kept (an error).
    async fn remove_image(&self, image: &str, force: bool) -> Result<(), RuntimeError>;
}
