//! The check ids: stable, kebab-case, each mapped to its symptoms in
//! docs/troubleshooting.md (a test keeps the two in step).

/// Proxy variables set, usable, and covering HTTPS.
pub const PROXY_ENV: &str = "proxy-env";
/// Each proxy variable has one value across its two spellings.
pub const PROXY_ENV_CASE: &str = "proxy-env-case";
/// The proxy CA: present, PEM, a CA, not about to expire.
pub const PROXY_CA: &str = "proxy-ca";
/// `NODE_TLS_REJECT_UNAUTHORIZED=0` is not set (allowed with a warning in dev mode).
pub const NODE_TLS_VERIFY: &str = "node-tls-verify";
/// The proxy accepts TCP connections and a `CONNECT` to the probe host.
pub const PROXY_REACHABLE: &str = "proxy-reachable";
/// A loopback proxy also listens where bridge-networked containers reach it.
pub const PROXY_BRIDGE: &str = "proxy-bridge";
/// TLS through the proxy to the probe URL verifies with the CA (and not without).
pub const TLS_PROBE: &str = "tls-probe";
/// Passthrough hosts (WhatsApp) are not intercepted.
pub const PASSTHROUGH: &str = "passthrough";
/// `NO_PROXY` does not send the model API or a channel direct.
pub const CHANNEL_ROUTES: &str = "channel-routes";
/// The project directory is inside the workspace root.
pub const WORKSPACE_PROJECT: &str = "workspace-project";
/// Every bind mount source of the spec is inside the workspace root.
pub const WORKSPACE_MOUNTS: &str = "workspace-mounts";
/// The workspace is not on a file system that breaks `git clone` (virtiofs).
pub const WORKSPACE_FS: &str = "workspace-fs";
/// The Dockerfile declares the proxy build args in every stage.
pub const DOCKERFILE_ARGS: &str = "dockerfile-args";
/// The Docker daemon answers, with an API that supports `host-gateway`.
pub const DOCKER_DAEMON: &str = "docker-daemon";
/// In a sandbox, the Docker daemon has the sandbox proxy configured (`GET /info`).
pub const DAEMON_PROXY: &str = "daemon-proxy";
/// In a sandbox whose proxy intercepts TLS, the proxy CA is in the system
/// store the daemon reads.
pub const DAEMON_CA: &str = "daemon-ca";
/// An agent container has the proxy variables the patcher sets.
pub const CONTAINER_PROXY_ENV: &str = "container-proxy-env";
/// An agent container has the trust variables and the current CA mounted.
pub const CONTAINER_CA: &str = "container-ca";

/// Every id, in the order the doctor runs them.
pub const ALL: &[&str] = &[
    PROXY_ENV,
    PROXY_ENV_CASE,
    PROXY_CA,
    NODE_TLS_VERIFY,
    PROXY_REACHABLE,
    PROXY_BRIDGE,
    TLS_PROBE,
    PASSTHROUGH,
    CHANNEL_ROUTES,
    WORKSPACE_PROJECT,
    WORKSPACE_MOUNTS,
    WORKSPACE_FS,
    DOCKERFILE_ARGS,
    DOCKER_DAEMON,
    DAEMON_PROXY,
    DAEMON_CA,
    CONTAINER_PROXY_ENV,
    CONTAINER_CA,
];
