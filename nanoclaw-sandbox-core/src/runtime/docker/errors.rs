//! bollard's errors → [`RuntimeError`], with the operation and subject named.

use std::error::Error as _;
use std::io;

use bollard::errors::Error as BollardError;

use crate::runtime::RuntimeError;

/// What was being done when an error happened, for naming it.
#[derive(Debug, Clone)]
pub(super) struct Ctx<'a> {
    operation: &'static str,
    subject: Subject<'a>,
    endpoint: &'a str,
}

#[derive(Debug, Clone, Copy)]
enum Subject<'a> {
    None,
    Container(&'a str),
    Image(&'a str),
}

impl<'a> Ctx<'a> {
    /// An operation on no particular object.
    pub(super) fn plain(operation: &'static str, endpoint: &'a str) -> Self {
        Self {
            operation,
            subject: Subject::None,
            endpoint,
        }
    }
    /// An operation on a container.
    pub(super) fn container(operation: &'static str, id: &'a str, endpoint: &'a str) -> Self {
        Self {
            operation,
            subject: Subject::Container(id),
            endpoint,
        }
    }
    /// An operation on (or needing) an image.
    pub(super) fn image(operation: &'static str, image: &'a str, endpoint: &'a str) -> Self {
        Self {
            operation,
            subject: Subject::Image(image),
            endpoint,
        }
    }

    fn described(&self) -> String {
        match self.subject {
            Subject::None => self.operation.to_string(),
            Subject::Container(id) => format!("{} {id}", self.operation),
            Subject::Image(image) => format!("{} {image}", self.operation),
        }
    }
}

/// The operation name of a container start (see [`Ctx::container`]).
pub(super) const START: &str = "start";

/// The runtime could not find the command (or its interpreter).
fn command_missing(lower: &str) -> bool {
    lower.contains("executable file not found") || lower.contains("no such file or directory")
}

/// The runtime found the command but could not execute it.
fn command_unusable(lower: &str) -> bool {
    lower.contains("permission denied") || lower.contains("is a directory")
}

/// Maps an error of the operation described by `ctx`.
pub(super) fn map_error(error: BollardError, ctx: &Ctx<'_>) -> RuntimeError {
    match error {
        BollardError::DockerResponseServerError {
            status_code,
            message,
        } => map_status(status_code, message, ctx),
        BollardError::SocketNotFoundError(path) => RuntimeError::DaemonUnreachable {
            endpoint: ctx.endpoint.to_string(),
            reason: format!("socket `{path}` does not exist"),
        },
        BollardError::RequestTimeoutError => RuntimeError::Transport {
            operation: ctx.described(),
            message: format!(
                "the daemon at `{}` sent no response headers within the request timeout",
                ctx.endpoint
            ),
        },
        other => match connect_failure(&other) {
            Some(reason) => RuntimeError::DaemonUnreachable {
                endpoint: ctx.endpoint.to_string(),
                reason,
            },
            None => RuntimeError::Transport {
                operation: ctx.described(),
                message: format!("{other} (daemon at `{}`)", ctx.endpoint),
            },
        },
    }
}

fn map_status(status: u16, message: String, ctx: &Ctx<'_>) -> RuntimeError {
    let lower = message.to_ascii_lowercase();
    match (status, ctx.subject) {
        (404, Subject::Container(id)) if lower.contains("no such container") => {
            RuntimeError::NoSuchContainer { id: id.to_string() }
        }
        // Create answers 404 "No such image: X" for a missing image (the API
        // never pulls; only the docker CLI does). A missing *network* is also
        // a 404 on create, hence the message check.
        (404, Subject::Image(image)) if lower.contains("no such image") => {
            RuntimeError::ImageNotFound {
                image: image.to_string(),
            }
        }
        // Starting a container whose command the runtime cannot exec: the
        // engine's words are the only sign (its status varies by version).
        (_, Subject::Container(id)) if ctx.operation == START && command_missing(&lower) => {
            RuntimeError::CommandNotFound {
                id: id.to_string(),
                message,
            }
        }
        (_, Subject::Container(id)) if ctx.operation == START && command_unusable(&lower) => {
            RuntimeError::CannotExecute {
                id: id.to_string(),
                message,
            }
        }
        (409, Subject::Container(id)) if lower.contains("is not running") => {
            RuntimeError::ContainerNotRunning {
                id: id.to_string(),
                operation: ctx.operation,
            }
        }
        _ => RuntimeError::Engine {
            operation: ctx.described(),
            status,
            message,
        },
    }
}

/// The reason, when the error is a failure to connect at all (refused,
/// socket missing, permission denied) rather than a failure mid-request.
fn connect_failure(error: &BollardError) -> Option<String> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = error.source();
    while let Some(current) = source {
        if let Some(io_error) = current.downcast_ref::<io::Error>() {
            return match io_error.kind() {
                io::ErrorKind::ConnectionRefused | io::ErrorKind::NotFound => {
                    Some(io_error.to_string())
                }
                io::ErrorKind::PermissionDenied => Some(format!(
                    "{io_error}: run as root or add the user to the `docker` group"
                )),
                _ => None,
            };
        }
        source = current.source();
    }
    match error {
        BollardError::IOError { err } => match err.kind() {
            io::ErrorKind::ConnectionRefused | io::ErrorKind::NotFound => Some(err.to_string()),
            _ => None,
        },
        _ => None,
    }
}

/// The docker CLI command that fixes `error`, for a program that talks to
/// Docker (the library's own errors stay engine-neutral): `docker build` or
/// `docker load` for a missing image, the managed-container listing for a
/// gone container, `docker rm -f` for a failed cleanup.
pub fn docker_hint(error: &RuntimeError) -> Option<String> {
    match error {
        RuntimeError::ImageNotFound { image } => Some(format!(
            "build it with `docker build -t {image} ...` or load it with `docker load`"
        )),
        RuntimeError::NoSuchContainer { .. } => Some(format!(
            "list the managed containers with `docker ps -a --filter label={}=true`",
            crate::runtime::MANAGED
        )),
        RuntimeError::CleanupFailed { id, .. } => {
            Some(format!("remove it with `docker rm -f {id}`"))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(status_code: u16, message: &str) -> BollardError {
        BollardError::DockerResponseServerError {
            status_code,
            message: message.into(),
        }
    }

    #[test]
    fn missing_image_on_create() {
        let err = map_error(
            server(404, "No such image: nanoclaw-missing:latest"),
            &Ctx::image("create container from", "nanoclaw-missing", "unix:///s"),
        );
        assert_eq!(
            err,
            RuntimeError::ImageNotFound {
                image: "nanoclaw-missing".into()
            }
        );
    }

    #[test]
    fn missing_network_on_create_is_not_an_image_error() {
        let err = map_error(
            server(404, "network nope not found"),
            &Ctx::image("create container from", "img", "unix:///s"),
        );
        assert!(
            matches!(err, RuntimeError::Engine { status: 404, ref message, .. } if message.contains("network nope")),
            "{err}"
        );
    }

    #[test]
    fn a_start_that_cannot_exec_the_command_is_typed() {
        let ctx = Ctx::container(START, "abc", "unix:///s");
        let missing = "failed to create shim: OCI runtime create failed: runc create failed: \
                       unable to start container process: exec: \"nope\": executable file not \
                       found in $PATH: unknown";
        assert!(matches!(
            map_error(server(400, missing), &ctx),
            RuntimeError::CommandNotFound { ref id, .. } if id == "abc"
        ));
        let script = "OCI runtime create failed: exec: \"/app/run.sh\": permission denied";
        assert!(matches!(
            map_error(server(500, script), &ctx),
            RuntimeError::CannotExecute { .. }
        ));
        // The same words from another operation stay an engine error.
        let exec = Ctx::container("exec in", "abc", "unix:///s");
        assert!(matches!(
            map_error(server(500, script), &exec),
            RuntimeError::Engine { .. }
        ));
    }

    #[test]
    fn containers_gone_or_stopped() {
        let ctx = Ctx::container("exec in", "abc", "unix:///s");
        assert!(map_error(server(404, "No such container: abc"), &ctx).is_no_such_container());
        assert_eq!(
            map_error(server(409, "Container abc is not running"), &ctx),
            RuntimeError::ContainerNotRunning {
                id: "abc".into(),
                operation: "exec in"
            }
        );
    }

    #[test]
    fn refused_connections_mean_an_unreachable_daemon() {
        let err = map_error(
            BollardError::IOError {
                err: io::Error::from(io::ErrorKind::ConnectionRefused),
            },
            &Ctx::plain("ping", "tcp://127.0.0.1:1"),
        );
        assert!(
            matches!(err, RuntimeError::DaemonUnreachable { .. }),
            "{err}"
        );
        let err = map_error(
            BollardError::SocketNotFoundError("/nope.sock".into()),
            &Ctx::plain("connect", "unix:///nope.sock"),
        );
        assert!(err.to_string().contains("/nope.sock"), "{err}");
    }
}
