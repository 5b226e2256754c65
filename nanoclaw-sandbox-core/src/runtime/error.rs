//! [`RuntimeError`]: why a container or image operation failed, and what to do about it.

use std::time::Duration;

/// The fix printed whenever the daemon cannot be reached.
const START_DAEMON_FIX: &str = "start it (`sudo systemctl start docker`, or `sudo dockerd &` \
     where systemd is absent) or point DOCKER_HOST at a running daemon";

/// Why a [`ContainerRuntime`](super::ContainerRuntime) or
/// [`ImageBuilder`](super::ImageBuilder) call failed.
///
/// A container that exits non-zero is *not* an error: that is an
/// [`ExitStatus`](super::ExitStatus). Messages name the input and the fix;
/// they never carry environment values (secrets live there).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum RuntimeError {
    /// The image is not present on the engine. Nothing was pulled.
    #[error(
        "image `{image}` does not exist on this engine: build it or load it there; \
         nanoclaw-sandbox never pulls"
    )]
    ImageNotFound {
        /// The image reference as given.
        image: String,
    },
    /// A Dockerfile's base image cannot be checked before building, so the
    /// build could end in a pull.
    #[error(
        "base image `{reference}` cannot be checked before building ({reason}); \
         nanoclaw-sandbox never pulls: pass the build argument it names or write the image literally"
    )]
    UnverifiableBaseImage {
        /// The `FROM` reference as written.
        reference: String,
        /// Why it could not be resolved.
        reason: String,
    },
    /// The Dockerfile cannot be read, or uses syntax the engine's builder
    /// cannot build; nothing was sent to the engine.
    // Transparent: the cause's message is the whole story (line, reason,
    // fix), and an error chain must not print it twice.
    #[error(transparent)]
    Dockerfile {
        /// What is wrong, with the line and the fix.
        source: crate::dockerfile::DockerfileError,
    },
    /// The daemon cannot be reached at all.
    #[error("cannot reach the Docker daemon at `{endpoint}` ({reason}): {fix}", fix = START_DAEMON_FIX)]
    DaemonUnreachable {
        /// Where we looked (credentials redacted).
        endpoint: String,
        /// What went wrong.
        reason: String,
    },
    /// `DOCKER_HOST` (or the configured endpoint) has a scheme we cannot speak.
    #[error(
        "Docker endpoint `{endpoint}` is not supported: use `unix:///var/run/docker.sock` \
         or `tcp://HOST:PORT` (plain HTTP), in DOCKER_HOST or the runtime options"
    )]
    UnsupportedEndpoint {
        /// The endpoint as given (credentials redacted).
        endpoint: String,
    },
    /// The container's command is not in its image (or names a missing
    /// interpreter): `docker run` exits 127 for it.
    #[error(
        "container `{id}` could not start: its command is not in the image ({message}); \
         check the entrypoint and command against the image (and its PATH)"
    )]
    CommandNotFound {
        /// The container id.
        id: String,
        /// The engine's words.
        message: String,
    },
    /// The container's command exists but cannot be executed (no execute
    /// permission, a directory): `docker run` exits 126 for it.
    #[error(
        "container `{id}` could not start: its command cannot be executed ({message}); \
         make it an executable file (mode +x), not a directory"
    )]
    CannotExecute {
        /// The container id.
        id: String,
        /// The engine's words.
        message: String,
    },
    /// The container does not exist (any more).
    #[error(
        "container `{id}` does not exist (already removed?): the engine's containers \
         labelled `nanoclaw.managed=true` are the managed ones"
    )]
    NoSuchContainer {
        /// The container id or name as given.
        id: String,
    },
    /// The operation needs a running container.
    #[error("container `{id}` is not running, so `{operation}` cannot be done: start it first")]
    ContainerNotRunning {
        /// The container id.
        id: String,
        /// What was attempted.
        operation: &'static str,
    },
    /// A stream produced nothing for longer than its idle timeout.
    #[error(
        "the {stream} stream of `{id}` was silent for {after:?}: raise or disable its idle \
         timeout in the runtime options if the agent may stay quiet that long"
    )]
    StreamIdle {
        /// The container (or image build) the stream belongs to.
        id: String,
        /// Which stream (`stdout`, `stderr`, `build output`).
        stream: &'static str,
        /// The idle timeout that fired.
        after: Duration,
    },
    /// An image build step failed.
    #[error("building `{image}` failed: {message}\n--- output of the failing step ---\n{step_output}\n--- fix the step above and build again")]
    BuildFailed {
        /// The tag being built (or `<untagged>`).
        image: String,
        /// The engine's error message.
        message: String,
        /// The output of the step that failed.
        step_output: String,
    },
    /// The build context cannot be read, or holds no Dockerfile at the given path.
    #[error(
        "the build context is unusable ({reason}): give an uncompressed tar archive \
         with the Dockerfile at `{dockerfile}`"
    )]
    InvalidBuildContext {
        /// The Dockerfile path that was looked for.
        dockerfile: String,
        /// What is wrong.
        reason: String,
    },
    /// A spec value the engine cannot express.
    #[error("{what} `{value}` cannot be passed to the engine: {fix}")]
    UnsupportedValue {
        /// Which field.
        what: &'static str,
        /// The value as given.
        value: String,
        /// How to fix it.
        fix: &'static str,
    },
    /// The engine answered with an error status.
    #[error("the Docker Engine refused `{operation}` (HTTP {status}): {message}")]
    Engine {
        /// What was attempted, e.g. `create container for image X`.
        operation: String,
        /// The HTTP status.
        status: u16,
        /// The engine's message.
        message: String,
    },
    /// The connection to the engine failed mid-operation, or an answer was malformed.
    #[error("talking to the Docker Engine failed during `{operation}`: {message}; check that the daemon is still running")]
    Transport {
        /// What was attempted.
        operation: String,
        /// What went wrong.
        message: String,
    },
    /// The image has a symlink where the CA directory is mounted.
    #[error(
        "image `{image}` has `{path}` as a symlink to `{link_target}`: the engine would follow \
         it and mount the proxy CA directory somewhere else than {ca_dir} (over the image's own \
         files, say); remove the symlink from the image: {ca_dir} and its parents must be plain \
         directories or absent"
    )]
    RedirectedMount {
        /// The container's image.
        image: String,
        /// The symlink in the image.
        path: String,
        /// Where it points.
        link_target: String,
        /// The CA directory's path in containers.
        ca_dir: &'static str,
    },
    /// The sandbox layer could not adapt a spec or build to the proxy.
    #[error("the sandbox layer could not prepare {subject}: {source}")]
    Sandbox {
        /// What was being prepared (`the container for image X`, `build Y`).
        subject: String,
        /// Why, with the fix (values redacted).
        #[source]
        source: crate::sandbox::PatchError,
    },
    /// What the runtime adds to every container could not be read again
    /// ([`ContainerRuntime::refresh`](super::ContainerRuntime::refresh)).
    #[error("reading {what} again failed: {message}; new containers keep the previous one: fix it, and the next check reads it again")]
    Refresh {
        /// What was read (`the proxy CA`).
        what: String,
        /// What went wrong.
        message: String,
    },
    /// The engine removed an auto-removed container before the wait for its
    /// exit was registered, so how it ended is unknown (never made up).
    #[error(
        "container `{id}` was removed by the engine (auto-remove) before its exit status \
         could be read: the status is lost; run it without auto-remove to keep it"
    )]
    ExitStatusLost {
        /// The container id.
        id: String,
    },
    /// Removing a container without the caller's async runtime failed.
    #[error("removing container `{id}` after its owner went away failed: {message}; remove it on the engine (orphan cleanup also will)")]
    CleanupFailed {
        /// The container id.
        id: String,
        /// What went wrong.
        message: String,
    },
}

impl From<crate::dockerfile::BuildContextError> for RuntimeError {
    fn from(e: crate::dockerfile::BuildContextError) -> Self {
        RuntimeError::InvalidBuildContext {
            dockerfile: e.dockerfile,
            reason: e.reason,
        }
    }
}

impl RuntimeError {
    /// Whether the error says the container is gone; removal treats that as done.
    pub fn is_no_such_container(&self) -> bool {
        matches!(self, RuntimeError::NoSuchContainer { .. })
    }

    /// Whether the daemon could not be reached at all: nothing was done, and
    /// the same call may work once the daemon (or the connection to it) is
    /// back. The agent host waits such an outage out instead of failing the
    /// message.
    pub fn is_daemon_unreachable(&self) -> bool {
        matches!(self, RuntimeError::DaemonUnreachable { .. })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_input_and_the_fix() {
        let e = RuntimeError::ImageNotFound {
            image: "nanoclaw-missing:1".into(),
        };
        let text = e.to_string();
        assert!(text.contains("nanoclaw-missing:1"), "{text}");
        assert!(text.contains("never pulls"), "{text}");

        let e = RuntimeError::DaemonUnreachable {
            endpoint: "unix:///nope.sock".into(),
            reason: "no such file".into(),
        };
        let text = e.to_string();
        assert!(
            text.contains("/nope.sock") && text.contains("dockerd"),
            "{text}"
        );

        let e = RuntimeError::StreamIdle {
            id: "abc".into(),
            stream: "stdout",
            after: Duration::from_millis(300),
        };
        assert!(e.to_string().contains("stdout stream of `abc`"), "{e}");
    }
}
