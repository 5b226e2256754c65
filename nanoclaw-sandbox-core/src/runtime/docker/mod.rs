//! [`DockerRuntime`]: [`ContainerRuntime`] and [`ImageBuilder`](super::ImageBuilder) on the Docker
//! Engine API (bollard).
//!
//! - Connects through the options' endpoint, else `DOCKER_HOST`, else
//!   `unix:///var/run/docker.sock`, and negotiates the API version.
//! - Never pulls: creating from a missing image is
//!   [`RuntimeError::ImageNotFound`] straight from the engine's 404 (the
//!   Engine API does not pull on create; only the docker CLI does), and builds
//!   check their base images first.
//! - Request timeouts cover response headers only; streams have idle
//!   timeouts of their own ([`IdleTimeouts`]).

mod build;
mod connect;
mod convert;
mod create;
mod errors;
mod exec;
mod remover;
mod streams;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bollard::errors::Error as BollardError;
use bollard::query_parameters::{
    AttachContainerOptions, EventsOptionsBuilder, ListContainersOptions, StopContainerOptions,
    WaitContainerOptions,
};
use bollard::Docker;
use futures_util::StreamExt;

pub use self::connect::DEFAULT_ENDPOINT;
use self::connect::{resolve_endpoint, whole_seconds, Connector};
pub use self::errors::docker_hint;
use self::errors::{map_error, Ctx};
use crate::runtime::{
    Attachment, BlockingRemover, ContainerId, ContainerInfo, ContainerRuntime, ContainerSummary,
    ExecOutput, ExitStatus, InstallId, InstanceId, RuntimeError, RuntimeIdentity, Stdin,
};
pub use crate::sandbox::daemon::DaemonProxy;
use crate::spec::ContainerSpec;

/// Idle timeouts, one per kind of stream. `None` waits forever, which suits
/// agents that may legitimately stay silent (the default for their output).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdleTimeouts {
    /// A container's stdout.
    pub stdout: Option<Duration>,
    /// A container's stderr.
    pub stderr: Option<Duration>,
    /// The output of an exec'd command.
    pub exec: Option<Duration>,
    /// Image build output (a step printing nothing for this long fails).
    pub build: Option<Duration>,
}

impl Default for IdleTimeouts {
    fn default() -> Self {
        Self {
            stdout: None,
            stderr: None,
            exec: None,
            build: Some(Duration::from_secs(600)),
        }
    }
}

/// How to reach the daemon and who to create containers as.
#[derive(Clone)]
#[must_use]
pub struct DockerOptions {
    endpoint: Option<String>,
    install: InstallId,
    instance: Option<InstanceId>,
    request_timeout: Duration,
    connect_timeout: Duration,
    idle: IdleTimeouts,
}

impl std::fmt::Debug for DockerOptions {
    // The endpoint may carry credentials (`tcp://user:password@host`).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DockerOptions")
            .field(
                "endpoint",
                &self.endpoint.as_deref().map(crate::redact::redact_userinfo),
            )
            .field("install", &self.install)
            .field("instance", &self.instance)
            .field("request_timeout", &self.request_timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("idle", &self.idle)
            .finish()
    }
}

impl DockerOptions {
    /// Options for the installation `install` (see [`InstallId::from_workspace`]),
    /// as this process's instance.
    pub fn new(install: InstallId) -> Self {
        Self {
            endpoint: None,
            install,
            instance: None,
            request_timeout: Duration::from_secs(120),
            connect_timeout: Duration::from_secs(5),
            idle: IdleTimeouts::default(),
        }
    }
    /// The daemon's endpoint (`unix:///path` or `tcp://host:port`); default:
    /// `DOCKER_HOST`, else [`DEFAULT_ENDPOINT`].
    pub fn endpoint(mut self, endpoint: impl Into<String>) -> Self {
        self.endpoint = Some(endpoint.into());
        self
    }
    /// Act as another instance than this process (tests simulate an earlier process).
    pub fn instance(mut self, instance: InstanceId) -> Self {
        self.instance = Some(instance);
        self
    }
    /// How long to wait for response *headers* (default 2 minutes). Long
    /// waits (`wait`, streams) are not bounded by it; rounded up to seconds.
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }
    /// How long connecting and negotiating may take (default 5 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }
    /// The streams' idle timeouts.
    pub fn idle_timeouts(mut self, idle: IdleTimeouts) -> Self {
        self.idle = idle;
        self
    }
}

/// The Docker Engine, through bollard.
#[derive(Clone)]
pub struct DockerRuntime {
    docker: Docker,
    connector: Arc<Connector>,
    identity: RuntimeIdentity,
    idle: IdleTimeouts,
    endpoint: String,
}

impl std::fmt::Debug for DockerRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DockerRuntime")
            .field("endpoint", &self.endpoint)
            .field("api_version", &self.connector.api_version())
            .field("identity", &self.identity)
            .finish_non_exhaustive()
    }
}

impl DockerRuntime {
    /// Connects and negotiates the API version. Fails with
    /// [`RuntimeError::DaemonUnreachable`] (saying how to start one) when no
    /// daemon answers.
    pub async fn connect(options: DockerOptions) -> Result<Self, RuntimeError> {
        let docker_host = std::env::var("DOCKER_HOST").ok();
        let endpoint = resolve_endpoint(options.endpoint.as_deref(), docker_host.as_deref());
        let (connector, docker) =
            Connector::negotiate(endpoint, options.request_timeout, options.connect_timeout)
                .await?;
        let identity = RuntimeIdentity {
            install: options.install,
            instance: options.instance.unwrap_or_else(InstanceId::current),
        };
        Ok(Self {
            endpoint: connector.endpoint_for_display(),
            docker,
            connector: Arc::new(connector),
            identity,
            idle: options.idle,
        })
    }

    /// The endpoint in use (credentials redacted).
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The negotiated API version, e.g. `1.41`.
    pub fn api_version(&self) -> String {
        self.connector.api_version()
    }

    /// The daemon's own proxy settings and version, from `GET /info`: what
    /// *its* pulls and `FROM` resolution use, which is not the client's
    /// environment. The daemon redacts proxy passwords in its answer.
    pub async fn daemon_proxy(&self) -> Result<DaemonProxy, RuntimeError> {
        let info = self.docker.info().await.map_err(|e| {
            map_error(
                e,
                &Ctx::plain("read the daemon's settings (GET /info) of", &self.endpoint),
            )
        })?;
        let set = |value: Option<String>| value.filter(|v| !v.trim().is_empty());
        Ok(DaemonProxy {
            http: set(info.http_proxy),
            https: set(info.https_proxy),
            no_proxy: set(info.no_proxy),
            engine_version: set(info.server_version),
        })
    }

    fn ctx_container<'a>(&'a self, operation: &'static str, id: &'a ContainerId) -> Ctx<'a> {
        Ctx::container(operation, id.as_str(), &self.endpoint)
    }

    /// The exit status behind a wait answer; bollard reports a non-zero exit
    /// as an error, which for us is a value.
    /// Whether the engine's event log holds an `oom` event for `id`: how an
    /// auto-removed container's OOM kill is known once inspect cannot tell.
    /// The engine replays its recent events (the last 256 on Docker 20.10)
    /// up to now and ends the stream; the container was removed just now, so
    /// its events are among them. A failed read is logged and taken as no.
    async fn oom_event_seen(&self, id: &ContainerId) -> bool {
        let until = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|now| format!("{}.{:09}", now.as_secs(), now.subsec_nanos()))
            .unwrap_or_else(|_| "0".into());
        let filters = HashMap::from([
            ("type".to_string(), vec!["container".to_string()]),
            ("container".to_string(), vec![id.to_string()]),
            ("event".to_string(), vec!["oom".to_string()]),
        ]);
        let options = EventsOptionsBuilder::new()
            .since("0")
            .until(&until)
            .filters(&filters)
            .build();
        let mut events = self.docker.events(Some(options));
        let mut seen = false;
        while let Some(event) = events.next().await {
            match event {
                Ok(_) => seen = true,
                Err(e) => {
                    tracing::debug!(container = %id, error = %e, "reading the engine's events failed");
                    break;
                }
            }
        }
        seen
    }

    fn wait_answer(
        &self,
        id: &ContainerId,
        answer: Option<Result<bollard::models::ContainerWaitResponse, BollardError>>,
    ) -> Result<i64, RuntimeError> {
        match answer {
            Some(Ok(response)) => Ok(response.status_code),
            Some(Err(BollardError::DockerContainerWaitError { code, .. })) => Ok(code),
            Some(Err(e)) => Err(map_error(e, &self.ctx_container("wait for", id))),
            None => Err(RuntimeError::Transport {
                operation: format!("wait for {id}"),
                message: "the daemon closed the wait without a status".into(),
            }),
        }
    }
}

#[async_trait]
impl ContainerRuntime for DockerRuntime {
    fn identity(&self) -> &RuntimeIdentity {
        &self.identity
    }

    async fn create(&self, spec: &ContainerSpec) -> Result<ContainerId, RuntimeError> {
        let (options, body) = create::create_request(spec, &self.identity)?;
        let created = self
            .docker
            .create_container(Some(options), body)
            .await
            .map_err(|e| {
                map_error(
                    e,
                    &Ctx::image("create a container from", spec.image(), &self.endpoint),
                )
            })?;
        Ok(ContainerId::new(created.id))
    }

    async fn attach(&self, id: &ContainerId, stdin: bool) -> Result<Attachment, RuntimeError> {
        let options = AttachContainerOptions {
            stream: true,
            stdin,
            stdout: true,
            stderr: true,
            // Attached before start, there is no earlier output to replay.
            logs: false,
            ..Default::default()
        };
        let attached = self
            .docker
            .attach_container(id.as_str(), Some(options))
            .await
            .map_err(|e| map_error(e, &self.ctx_container("attach to", id)))?;
        let (stdout, stderr) = streams::demux(
            id.as_str(),
            attached.output,
            self.idle.stdout,
            self.idle.stderr,
        );
        let stdin = stdin.then(|| {
            Stdin::new(Box::new(streams::DockerStdin {
                id: id.to_string(),
                writer: attached.input,
            }))
        });
        Ok(Attachment {
            stdout,
            stderr,
            stdin,
        })
    }

    async fn start(&self, id: &ContainerId) -> Result<(), RuntimeError> {
        self.docker
            .start_container(id.as_str(), None)
            .await
            .map_err(|e| map_error(e, &self.ctx_container(errors::START, id)))
    }

    async fn wait(&self, id: &ContainerId) -> Result<ExitStatus, RuntimeError> {
        // The engine sends the wait's headers at once and the body at exit,
        // so the request timeout (headers only) does not bound the wait.
        let options = WaitContainerOptions {
            condition: "not-running".to_string(),
        };
        let answer = self
            .docker
            .wait_container(id.as_str(), Some(options))
            .next()
            .await;
        let code = self.wait_answer(id, answer)?;
        // The wait answer does not say whether the OOM killer struck.
        let oom_killed = match self.inspect(id).await {
            Ok(info) => info.oom_killed,
            Err(e) if e.is_no_such_container() => false,
            Err(e) => return Err(e),
        };
        Ok(ExitStatus { code, oom_killed })
    }

    async fn wait_removed(&self, id: &ContainerId) -> Result<ExitStatus, RuntimeError> {
        // `docker run --rm`'s wait: the engine answers once its auto-remove
        // is done, with the exit code; the OOM flag is gone with the
        // container, so the engine's event log tells it instead.
        let options = WaitContainerOptions {
            condition: "removed".to_string(),
        };
        let answer = self
            .docker
            .wait_container(id.as_str(), Some(options))
            .next()
            .await;
        match self.wait_answer(id, answer) {
            Ok(code) => Ok(ExitStatus {
                code,
                oom_killed: self.oom_event_seen(id).await,
            }),
            Err(e) if e.is_no_such_container() => {
                Err(RuntimeError::ExitStatusLost { id: id.to_string() })
            }
            Err(e) => Err(e),
        }
    }

    async fn exec(&self, id: &ContainerId, cmd: &[String]) -> Result<ExecOutput, RuntimeError> {
        exec::exec(self, id, cmd).await
    }

    async fn link_target(
        &self,
        id: &ContainerId,
        path: &str,
    ) -> Result<Option<String>, RuntimeError> {
        let options = bollard::query_parameters::ContainerArchiveInfoOptionsBuilder::default()
            .path(path)
            .build();
        match self
            .docker
            .get_container_archive_info(id.as_str(), Some(options))
            .await
        {
            Ok(stat) if stat.link_target.is_empty() => Ok(None),
            Ok(stat) => Ok(Some(stat.link_target)),
            // The path does not exist in the container.
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => Ok(None),
            Err(e) => Err(map_error(e, &self.ctx_container("stat a path of", id))),
        }
    }

    async fn inspect(&self, id: &ContainerId) -> Result<ContainerInfo, RuntimeError> {
        let inspected = self
            .docker
            .inspect_container(id.as_str(), None)
            .await
            .map_err(|e| map_error(e, &self.ctx_container("inspect", id)))?;
        Ok(convert::container_info(inspected))
    }

    async fn stop(&self, id: &ContainerId, grace: Duration) -> Result<(), RuntimeError> {
        let seconds = i32::try_from(whole_seconds(grace)).unwrap_or(i32::MAX);
        let options = StopContainerOptions {
            t: Some(seconds),
            ..Default::default()
        };
        // The engine answers a stop only once the container is down, up to
        // `grace` later: give this one request that much more time.
        let docker = self
            .docker
            .clone()
            .with_timeout(self.connector.request_timeout().saturating_add(grace));
        docker
            .stop_container(id.as_str(), Some(options))
            .await
            .map_err(|e| map_error(e, &self.ctx_container("stop", id)))
    }

    async fn remove(&self, id: &ContainerId, force: bool) -> Result<(), RuntimeError> {
        remover::remove_with(&self.docker, id, force, &self.endpoint).await
    }

    async fn list(
        &self,
        labels: &BTreeMap<String, String>,
    ) -> Result<Vec<ContainerSummary>, RuntimeError> {
        let options = ListContainersOptions {
            all: true,
            filters: Some(label_filters(labels)),
            ..Default::default()
        };
        let listed = self
            .docker
            .list_containers(Some(options))
            .await
            .map_err(|e| map_error(e, &Ctx::plain("list containers", &self.endpoint)))?;
        Ok(listed.into_iter().map(convert::container_summary).collect())
    }

    async fn image_exists(&self, image: &str) -> Result<bool, RuntimeError> {
        match self.docker.inspect_image(image).await {
            Ok(_) => Ok(true),
            Err(BollardError::DockerResponseServerError {
                status_code: 404, ..
            }) => Ok(false),
            Err(e) => Err(map_error(
                e,
                &Ctx::image("inspect image", image, &self.endpoint),
            )),
        }
    }

    fn blocking_remover(&self) -> Arc<dyn BlockingRemover> {
        Arc::new(remover::DockerRemover::new(Arc::clone(&self.connector)))
    }
}

/// `label=key=value` filters, as list endpoints take them.
fn label_filters(labels: &BTreeMap<String, String>) -> HashMap<String, Vec<String>> {
    HashMap::from([(
        "label".to_string(),
        labels.iter().map(|(k, v)| format!("{k}={v}")).collect(),
    )])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_debug_hides_endpoint_credentials() {
        let options = DockerOptions::new(InstallId::new("i").unwrap())
            .endpoint("tcp://admin:hunter2@docker.internal:2375");
        let shown = format!("{options:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("docker.internal:2375"), "{shown}");
    }

    #[test]
    fn label_selectors_become_engine_filters() {
        let filters = label_filters(&BTreeMap::from([
            ("a".to_string(), "1".to_string()),
            ("b".to_string(), "x=y".to_string()),
        ]));
        assert_eq!(filters["label"], ["a=1", "b=x=y"]);
    }
}
