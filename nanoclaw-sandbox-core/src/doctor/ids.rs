//! The check ids: stable, kebab-case, each mapped to its symptoms in
//! docs/troubleshooting.md (a test keeps the two in step).

use std::fmt;

/// Defines [`CheckId`] from one list: each variant with its text, and
/// [`CheckId::ALL`] in the list's order, so the two cannot drift.
macro_rules! check_ids {
    ($($(#[$doc:meta])* $variant:ident => $text:literal,)*) => {
        /// A doctor check's id.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[non_exhaustive]
        pub enum CheckId {
            $($(#[$doc])* $variant,)*
        }

        impl CheckId {
            /// Every id, in the order the doctor runs them.
            pub const ALL: &'static [CheckId] = &[$(CheckId::$variant,)*];

            /// The id as `--json` and docs/troubleshooting.md write it.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(CheckId::$variant => $text,)*
                }
            }
        }
    };
}

check_ids! {
    /// Proxy variables set, usable, and covering HTTPS.
    ProxyEnv => "proxy-env",
    /// Each proxy variable has one value across its two spellings.
    ProxyEnvCase => "proxy-env-case",
    /// The proxy CA: present, PEM, a CA, not about to expire.
    ProxyCa => "proxy-ca",
    /// `NODE_TLS_REJECT_UNAUTHORIZED=0` is not set (allowed with a warning in dev mode).
    NodeTlsVerify => "node-tls-verify",
    /// The proxy accepts TCP connections and a `CONNECT` to the probe host.
    ProxyReachable => "proxy-reachable",
    /// A loopback proxy also listens where bridge-networked containers reach it.
    ProxyBridge => "proxy-bridge",
    /// TLS through the proxy to the probe URL verifies with the CA (and not without).
    TlsProbe => "tls-probe",
    /// Passthrough hosts (WhatsApp) are not intercepted.
    Passthrough => "passthrough",
    /// `NO_PROXY` does not send the model API or a channel direct.
    ChannelRoutes => "channel-routes",
    /// The project directory is inside the workspace root.
    WorkspaceProject => "workspace-project",
    /// Every bind mount source of the spec is inside the workspace root.
    WorkspaceMounts => "workspace-mounts",
    /// The workspace is not on a file system that breaks `git clone` (virtiofs).
    WorkspaceFs => "workspace-fs",
    /// The Dockerfile declares the proxy build args in every stage.
    DockerfileArgs => "dockerfile-args",
    /// The Docker daemon answers, with an API that supports `host-gateway`.
    DockerDaemon => "docker-daemon",
    /// In a sandbox, the Docker daemon has the sandbox proxy configured (`GET /info`).
    DaemonProxy => "daemon-proxy",
    /// In a sandbox whose proxy intercepts TLS, the proxy CA is in the system
    /// store the daemon reads.
    DaemonCa => "daemon-ca",
    /// An agent container has the proxy variables the patcher sets.
    ContainerProxyEnv => "container-proxy-env",
    /// An agent container has the trust variables and the current CA mounted.
    ContainerCa => "container-ca",
    /// The `docker` on `PATH` is the `docker` drop-in, and what it patches here.
    DockerShim => "docker-shim",
}

impl CheckId {
    /// The id written `text`, if there is one.
    pub fn from_name(text: &str) -> Option<CheckId> {
        CheckId::ALL.iter().copied().find(|id| id.as_str() == text)
    }
}

impl fmt::Display for CheckId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for CheckId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_kebab_case_and_round_trip() {
        let mut seen = std::collections::BTreeSet::new();
        for id in CheckId::ALL {
            let text = id.as_str();
            assert!(seen.insert(text), "{text} twice");
            assert!(
                !text.is_empty() && text.chars().all(|c| c.is_ascii_lowercase() || c == '-'),
                "{text}"
            );
            assert_eq!(CheckId::from_name(text), Some(*id));
        }
        assert_eq!(CheckId::from_name("no-such-check"), None);
        assert_eq!(CheckId::ALL.first(), Some(&CheckId::ProxyEnv));
    }
}
