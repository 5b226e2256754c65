//! The doctor: every troubleshooting line of the Docker Sandboxes guide as
//! a check, with a status, a detail and the exact fix, as data
//! ([`Check`]). The CLI's `doctor` only prints them; a host can run the
//! same [`Doctor`] at start-up and log them.
//!
//! | id | catches |
//! |---|---|
//! | `proxy-env` | no proxy, an unusable one, HTTPS not covered |
//! | `proxy-env-case` | `HTTPS_PROXY` and `https_proxy` disagreeing |
//! | `proxy-ca` | a missing, malformed, non-CA or expiring proxy CA |
//! | `node-tls-verify` | `NODE_TLS_REJECT_UNAUTHORIZED=0` (a warning with `--dev`) |
//! | `proxy-reachable` | the proxy down, 407, a policy refusal at `CONNECT` |
//! | `proxy-bridge` | a loopback proxy bridge-networked containers cannot reach |
//! | `tls-probe` | TLS to the probe URL failing with or (as it should) without the CA; 403 policy pages |
//! | `passthrough` | WhatsApp hosts intercepted |
//! | `channel-routes` | `NO_PROXY` sending the model API or a channel direct |
//! | `workspace-project` | the project outside the workspace ("path not shared") |
//! | `workspace-mounts` | mount sources outside the workspace, `/dev/null` mounts |
//! | `workspace-fs` | a virtiofs workspace (`git clone`'s "inflate" error) |
//! | `dockerfile-args` | build stages without the proxy build args |
//! | `docker-daemon` | no daemon, an API too old for `host-gateway` |
//! | `daemon-proxy` | in a sandbox, a daemon without the proxy (its pulls and `FROM` fail) |
//! | `daemon-ca` | in a sandbox, the proxy CA missing from the system store the daemon reads |
//! | `container-proxy-env` | an agent container without the proxy variables |
//! | `container-ca` | an agent container without the trust variables, the CA mount, or with a stale CA |
//! | `docker-shim` | a host's `docker` on PATH that is not the drop-in, a drop-in without a real docker, builds it cannot patch |
//!
//! Inputs are explicit ([`Doctor`]'s builder). It takes the raw variables,
//! not a detected [`SandboxEnv`](crate::sandbox::SandboxEnv): an unusable
//! proxy or CA must become a failed check, not an error before any check
//! runs (a CA that is unusable still leaves the proxy to check). Without
//! `--container` names it looks at the running managed containers of the
//! engine's install (the workspace's), so another install's agents (or
//! another test's) never show up.
//!
//! docs/troubleshooting.md maps each symptom to its check. Checks that need
//! the network run only with the `client` feature (else they are skipped,
//! saying so); the container checks take any
//! [`ContainerRuntime`](crate::runtime::ContainerRuntime).

mod check;
mod container;
mod daemon;
mod daemon_proxy;
mod dockerfile;
mod env;
mod ids;
mod listen;
#[cfg(feature = "client")]
mod network;
mod paths;
mod routes;
mod runner;
mod shim;

pub use self::check::{worst, Check, Status};
pub use self::container::{
    audit_container, CaMountAudit, ContainerAudit, Finding, MountShown, ShownVar, VarAudit,
};
pub use self::daemon::{Engine, MIN_API_VERSION};
pub use self::env::CA_EXPIRY_WARN_DAYS;
pub use self::ids::CheckId;
pub use self::routes::DEFAULT_ROUTE_URLS;
pub use self::runner::{Doctor, DEFAULT_PASSTHROUGH_URLS, DEFAULT_PROBE_URL};
pub use self::shim::ShimFacts;
