//! `docker-daemon`: the engine answers, and speaks an API new enough for
//! what the sandbox layer asks of it.

use std::fmt;
use std::sync::Arc;

use super::check::Check;
use super::CheckId;
use crate::runtime::ContainerRuntime;

/// The oldest Engine API the sandbox layer's requests work on: `host-gateway`
/// in extra hosts (added for a loopback proxy) came with Engine 20.10.
pub const MIN_API_VERSION: (u32, u32) = (1, 41);

/// What the caller found when connecting to the engine.
#[derive(Clone)]
#[non_exhaustive]
pub enum Engine {
    /// A daemon answered.
    Connected {
        /// Its endpoint, credentials redacted.
        endpoint: String,
        /// The negotiated API version, e.g. `1.41`.
        api_version: String,
        /// The runtime, for the container checks.
        runtime: Arc<dyn ContainerRuntime>,
    },
    /// No daemon answered.
    Unreachable {
        /// The connection error's message (it names the endpoint and how to
        /// start a daemon).
        reason: String,
    },
    /// Not looked at: the engine checks are skipped.
    NotChecked,
}

impl fmt::Debug for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Engine::Connected {
                endpoint,
                api_version,
                ..
            } => f
                .debug_struct("Connected")
                .field("endpoint", endpoint)
                .field("api_version", api_version)
                .finish_non_exhaustive(),
            Engine::Unreachable { reason } => f
                .debug_struct("Unreachable")
                .field("reason", reason)
                .finish(),
            Engine::NotChecked => f.write_str("NotChecked"),
        }
    }
}

/// `docker-daemon`.
pub(crate) fn docker_daemon(engine: &Engine) -> Check {
    let id = CheckId::DockerDaemon;
    match engine {
        Engine::NotChecked => Check::skip(id, "the engine was not checked"),
        Engine::Unreachable { reason } => Check::fail(
            id,
            reason.clone(),
            "start the Docker daemon (`sudo systemctl start docker`, or `dockerd`), or point \
             DOCKER_HOST at it (unix:///path/docker.sock or tcp://HOST:PORT)",
        ),
        Engine::Connected {
            endpoint,
            api_version,
            ..
        } => {
            let detail = format!("the Docker daemon at {endpoint} answers, API {api_version}");
            match parse_version(api_version) {
                Some(version) if version < MIN_API_VERSION => Check::warn(
                    id,
                    format!(
                        "{detail}: older than {}.{}, so `host-gateway` extra hosts (used to \
                         reach a loopback proxy from containers) are not supported",
                        MIN_API_VERSION.0, MIN_API_VERSION.1
                    ),
                    "upgrade to Docker Engine 20.10 or later, or give the proxy an address \
                     containers can reach without host-gateway",
                ),
                _ => Check::pass(id, detail),
            }
        }
    }
}

fn parse_version(text: &str) -> Option<(u32, u32)> {
    let (major, minor) = text.trim().split_once('.')?;
    Some((major.parse().ok()?, minor.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doctor::check::Status;

    #[test]
    fn unreachable_fails_and_old_apis_warn() {
        let check = docker_daemon(&Engine::Unreachable {
            reason: "no daemon at unix:///x.sock".into(),
        });
        assert_eq!(check.status, Status::Fail);
        assert!(check.fix.unwrap().contains("DOCKER_HOST"));
        assert_eq!(parse_version("1.41"), Some((1, 41)));
        assert_eq!(parse_version("1.9"), Some((1, 9)));
        assert!(parse_version("1.9") < Some(MIN_API_VERSION));
        assert!(parse_version("1.43") > Some(MIN_API_VERSION));
        assert_eq!(parse_version("x"), None);
        assert_eq!(docker_daemon(&Engine::NotChecked).status, Status::Skip);
    }
}
