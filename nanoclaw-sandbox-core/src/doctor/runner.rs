//! [`Doctor`]: every input given explicitly, every check run in a fixed
//! order, the result a list of [`Check`]s.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::SystemTime;

use super::check::Check;
use super::container::{audit_container, container_ca, container_proxy_env};
use super::daemon::{docker_daemon, Engine};
use super::daemon_proxy::{daemon_ca, daemon_proxy, StoreFiles};
use super::env::{self, Detected};
use super::shim::{docker_shim, ShimFacts};
use super::{dockerfile, listen, paths, routes, CheckId};
use crate::proxy::SYSTEM_CA_PATH;
use crate::runtime::{ContainerId, ContainerRuntime, ContainerState};
use crate::sandbox::daemon::DaemonProxy;
use crate::sandbox::{DetectOptions, SandboxEnv};
use crate::spec::ContainerSpec;
use crate::trust::HOST_BUNDLE_PATHS;

/// The URL whose TLS the doctor checks by default: the model API.
pub const DEFAULT_PROBE_URL: &str = "https://api.anthropic.com/";

/// The passthrough hosts checked by default: WhatsApp Web's WebSocket host
/// and its media host.
pub const DEFAULT_PASSTHROUGH_URLS: &[&str] =
    &["https://web.whatsapp.com/", "https://mmg.whatsapp.net/"];

/// Runs the checks. Build it with the variables to diagnose, add what is
/// known, then [`run`](Self::run).
///
/// ```no_run
/// # async fn demo() {
/// use nanoclaw_sandbox_core::doctor::{Doctor, Status};
///
/// let checks = Doctor::new(std::env::vars())
///     .workspace("/Users/me/work")
///     .run()
///     .await;
/// let failed = checks.iter().any(|c| c.status == Status::Fail);
/// # }
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct Doctor {
    vars: BTreeMap<String, String>,
    detect_options: DetectOptions,
    workspace: Option<PathBuf>,
    project_dir: Option<PathBuf>,
    spec: Option<ContainerSpec>,
    dockerfile: Option<(PathBuf, String)>,
    containers: Vec<String>,
    probe_url: String,
    passthrough_urls: Vec<String>,
    route_urls: Vec<String>,
    dev: bool,
    engine: Engine,
    daemon_proxy: Option<Result<DaemonProxy, String>>,
    shim: Option<ShimFacts>,
    now: SystemTime,
    #[cfg(feature = "client")]
    net: super::network::NetSettings,
}

impl Doctor {
    /// A doctor for these variables (the process environment, or an env
    /// file's): detection, the proxy checks and `NODE_TLS_REJECT_UNAUTHORIZED`
    /// read them and nothing else. Everything else starts unset or default.
    pub fn new(vars: impl IntoIterator<Item = (String, String)>) -> Self {
        Doctor {
            vars: vars.into_iter().collect(),
            detect_options: DetectOptions::default(),
            workspace: None,
            project_dir: None,
            spec: None,
            dockerfile: None,
            containers: Vec::new(),
            probe_url: DEFAULT_PROBE_URL.to_string(),
            passthrough_urls: DEFAULT_PASSTHROUGH_URLS
                .iter()
                .map(|u| u.to_string())
                .collect(),
            route_urls: routes::DEFAULT_ROUTE_URLS
                .iter()
                .map(|u| u.to_string())
                .collect(),
            dev: false,
            engine: Engine::NotChecked,
            daemon_proxy: None,
            shim: None,
            now: SystemTime::now(),
            #[cfg(feature = "client")]
            net: super::network::NetSettings {
                timeouts: crate::http::Timeouts {
                    connect: std::time::Duration::from_secs(5),
                    tls: std::time::Duration::from_secs(5),
                    request: std::time::Duration::from_secs(15),
                },
                public_roots: None,
            },
        }
    }

    /// What the caller found out about `docker` on `PATH` (whether it is
    /// the `docker` drop-in): the `docker-shim` check. Unset, it is skipped.
    pub fn shim_facts(mut self, facts: ShimFacts) -> Self {
        self.shim = Some(facts);
        self
    }

    /// How to look for the CA (default: [`DetectOptions::default`]).
    pub fn detect_options(mut self, options: DetectOptions) -> Self {
        self.detect_options = options;
        self
    }

    /// The workspace root: the directory a sandbox shares with the host.
    pub fn workspace(mut self, dir: impl Into<PathBuf>) -> Self {
        self.workspace = Some(dir.into());
        self
    }

    /// The project (the agent host's directory), which must be in the workspace.
    pub fn project_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.project_dir = Some(dir.into());
        self
    }

    /// The container spec agents are created from: its mounts are checked.
    pub fn spec(mut self, spec: ContainerSpec) -> Self {
        self.spec = Some(spec);
        self
    }

    /// A Dockerfile (its path, for messages, and its text).
    pub fn dockerfile(mut self, path: impl Into<PathBuf>, text: impl Into<String>) -> Self {
        self.dockerfile = Some((path.into(), text.into()));
        self
    }

    /// Containers to check by name or id; none: the running managed
    /// containers of the engine's install.
    pub fn containers(mut self, names: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.containers = names.into_iter().map(Into::into).collect();
        self
    }

    /// The HTTPS URL the TLS checks reach (default [`DEFAULT_PROBE_URL`]).
    pub fn probe_url(mut self, url: impl Into<String>) -> Self {
        self.probe_url = url.into();
        self
    }

    /// The passthrough URLs checked for interception (default
    /// [`DEFAULT_PASSTHROUGH_URLS`]).
    pub fn passthrough_urls(mut self, urls: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.passthrough_urls = urls.into_iter().map(Into::into).collect();
        self
    }

    /// The endpoints whose routes are checked besides the probe URL
    /// (default [`DEFAULT_ROUTE_URLS`](super::DEFAULT_ROUTE_URLS)).
    pub fn route_urls(mut self, urls: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.route_urls = urls.into_iter().map(Into::into).collect();
        self
    }

    /// Insecure dev mode: `NODE_TLS_REJECT_UNAUTHORIZED=0` is a warning, not a failure.
    pub fn dev(mut self, dev: bool) -> Self {
        self.dev = dev;
        self
    }

    /// The engine, as the caller found it (default: not checked).
    pub fn engine(mut self, engine: Engine) -> Self {
        self.engine = engine;
        self
    }

    /// The daemon's own proxy settings as read from it (`GET /info`), or why
    /// they could not be read (default: not read, `daemon-proxy` skipped).
    pub fn daemon_proxy(mut self, read: Result<DaemonProxy, String>) -> Self {
        self.daemon_proxy = Some(read);
        self
    }

    /// The time CA expiry is measured from (default: now).
    pub fn now(mut self, now: SystemTime) -> Self {
        self.now = now;
        self
    }

    /// Limits for the network checks (default: 5 s to connect, 5 s for TLS,
    /// 15 s per request).
    #[cfg(feature = "client")]
    pub fn timeouts(mut self, timeouts: crate::http::Timeouts) -> Self {
        self.net.timeouts = timeouts;
        self
    }

    /// The roots passthrough hosts (and the probe URL, without the sandbox
    /// CA) must chain to instead of Mozilla's: for a private deployment
    /// whose "public" CA is its own.
    #[cfg(feature = "client")]
    pub fn public_roots(mut self, roots: Vec<rustls_pki_types::CertificateDer<'static>>) -> Self {
        self.net.public_roots = Some(roots);
        self
    }

    /// Runs every check, in the order of [`CheckId::ALL`]; the container checks
    /// once per container.
    pub async fn run(&self) -> Vec<Check> {
        let detected = env::detect(&self.vars, &self.detect_options);
        let sandbox = detected.env.as_ref();
        let mut checks = vec![
            env::proxy_env(&detected),
            env::proxy_env_case(&detected, &self.vars),
            env::proxy_ca(&detected, self.now),
            env::node_tls_verify(&self.vars, self.spec.as_ref(), self.dev),
        ];
        checks.extend(self.network_checks(sandbox).await);
        let mut route_urls = vec![self.probe_url.clone()];
        route_urls.extend(self.route_urls.iter().cloned());
        checks.push(routes::channel_routes(sandbox, &route_urls));
        let workspace = self.workspace.as_deref();
        checks.push(paths::workspace_project(
            self.project_dir.as_deref(),
            workspace,
        ));
        checks.push(paths::workspace_mounts(self.spec.as_ref(), workspace));
        let mountinfo = std::fs::read_to_string(paths::MOUNTINFO).ok();
        checks.push(paths::workspace_fs(
            workspace.or(self.project_dir.as_deref()),
            mountinfo.as_deref(),
        ));
        checks.push(dockerfile::dockerfile_args(
            self.dockerfile
                .as_ref()
                .map(|(path, text)| (path.as_path(), text.as_str())),
        ));
        checks.push(docker_daemon(&self.engine));
        let endpoint = match &self.engine {
            Engine::Connected { endpoint, .. } => Some(endpoint.as_str()),
            _ => None,
        };
        checks.push(daemon_proxy(sandbox, endpoint, self.daemon_proxy.as_ref()));
        let bundle = HOST_BUNDLE_PATHS.iter().find_map(|path| {
            std::fs::read_to_string(path)
                .ok()
                .map(|text| (std::path::Path::new(*path), text))
        });
        let ca_file = std::fs::read_to_string(SYSTEM_CA_PATH).ok();
        checks.push(daemon_ca(
            sandbox,
            endpoint,
            &StoreFiles {
                bundle: bundle.as_ref().map(|(path, text)| (*path, text.as_str())),
                ca_file: ca_file.as_deref(),
            },
        ));
        checks.extend(self.container_checks(&detected).await);
        checks.push(docker_shim(self.shim.as_ref(), &detected));
        checks
    }

    async fn network_checks(&self, sandbox: Option<&SandboxEnv>) -> Vec<Check> {
        let tables: Option<String> = listen::TCP_TABLES
            .iter()
            .map(|path| std::fs::read_to_string(path).ok())
            .collect::<Option<Vec<_>>>()
            .map(|texts| texts.concat());
        let bridge = listen::proxy_bridge(sandbox, tables.as_deref());
        #[cfg(feature = "client")]
        {
            use super::network;
            let net = &self.net;
            vec![
                network::proxy_reachable(sandbox, &self.probe_url, net).await,
                bridge,
                network::tls_probe(sandbox, &self.probe_url, net).await,
                network::passthrough(sandbox, &self.passthrough_urls, net).await,
            ]
        }
        #[cfg(not(feature = "client"))]
        {
            let without = "this build has no HTTP client (feature `client`)";
            vec![
                Check::skip(CheckId::ProxyReachable, without),
                bridge,
                Check::skip(CheckId::TlsProbe, without),
                Check::skip(CheckId::Passthrough, without),
            ]
        }
    }

    async fn container_checks(&self, detected: &Detected) -> Vec<Check> {
        let skip_both = |why: String| {
            vec![
                Check::skip(CheckId::ContainerProxyEnv, why.clone()),
                Check::skip(CheckId::ContainerCa, why),
            ]
        };
        let Engine::Connected { runtime, .. } = &self.engine else {
            return skip_both("no Docker daemon to ask (see docker-daemon)".into());
        };
        let Some(sandbox) = &detected.env else {
            return skip_both("the proxy variables are unusable (see proxy-env)".into());
        };
        let targets = match self.targets(runtime.as_ref()).await {
            Ok(targets) => targets,
            Err(error) => {
                return vec![Check::fail(
                    CheckId::ContainerProxyEnv,
                    format!("cannot list the managed containers: {error}"),
                    "check the daemon (see docker-daemon), or name containers with --container",
                )]
            }
        };
        if targets.is_empty() {
            return skip_both(format!(
                "no running managed containers of install {}: name containers with \
                 --container NAME",
                runtime.identity().install
            ));
        }
        let mut checks = Vec::new();
        for target in targets {
            let audit = match runtime.inspect(&target).await {
                Ok(info) => audit_container(sandbox, &info, self.dev),
                Err(error) => {
                    checks.push(Check::fail(
                        CheckId::ContainerProxyEnv,
                        format!("container {target}: {error}"),
                        "check the name with `docker ps`",
                    ));
                    continue;
                }
            };
            match audit {
                Ok(audit) => {
                    checks.push(container_proxy_env(&audit));
                    checks.push(container_ca(&audit, sandbox, self.workspace.as_deref()));
                }
                Err(error) => checks.push(Check::fail(
                    CheckId::ContainerProxyEnv,
                    format!(
                        "container {target}: the sandbox layer's settings cannot be computed: \
                         {error}"
                    ),
                    "see the message",
                )),
            }
        }
        checks
    }

    /// The containers named, or the running managed ones of this install.
    async fn targets(
        &self,
        runtime: &dyn ContainerRuntime,
    ) -> Result<Vec<ContainerId>, crate::runtime::RuntimeError> {
        if !self.containers.is_empty() {
            return Ok(self.containers.iter().map(ContainerId::new).collect());
        }
        let selector = runtime.identity().install_selector();
        Ok(runtime
            .list(&selector)
            .await?
            .into_iter()
            .filter(|c| c.state == ContainerState::Running)
            .map(|c| c.id)
            .collect())
    }
}
