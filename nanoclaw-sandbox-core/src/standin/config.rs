//! The stand-in's configuration: a typed value with a builder, and the pure
//! parsers the CLI's flags go through.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::error::{StandinError, StandinInputError};
use super::inject::HeaderInjection;
use super::map::HostMapping;
use super::policy::{DefaultPolicy, Policy};
use crate::proxy::HostPattern;

/// Where the stand-in listens unless told otherwise: the sandbox proxy's port.
pub const DEFAULT_LISTEN: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 3128);

/// How a denied HTTPS host is answered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum DenyStyle {
    /// As Docker Sandboxes do: accept the CONNECT, complete TLS with the
    /// stand-in's own leaf for the host, and answer every request inside the
    /// session with the 403 page. A client that trusts the CA sees the
    /// `Blocked by network policy` body; one that does not sees a certificate
    /// error.
    #[default]
    InsideTls,
    /// Answer the CONNECT itself with the 403 page (what most forward proxies
    /// do; clients usually report it as a failed tunnel).
    ConnectReply,
}

/// Everything the stand-in needs to start. Build it with [`StandinConfig::builder`].
#[derive(Debug, Clone)]
pub struct StandinConfig {
    listen: SocketAddr,
    ca_dir: Option<PathBuf>,
    maps: Vec<HostMapping>,
    policy: Policy,
    injections: Vec<HeaderInjection>,
    upstream_ca_files: Vec<PathBuf>,
    env_file: Option<PathBuf>,
    deny_style: DenyStyle,
    connect_timeout: Duration,
    shutdown_grace: Duration,
}

impl Default for StandinConfig {
    fn default() -> Self {
        StandinConfig {
            listen: DEFAULT_LISTEN,
            ca_dir: None,
            maps: Vec::new(),
            policy: Policy::default(),
            injections: Vec::new(),
            upstream_ca_files: Vec::new(),
            env_file: None,
            deny_style: DenyStyle::default(),
            connect_timeout: Duration::from_secs(10),
            shutdown_grace: Duration::from_secs(5),
        }
    }
}

impl StandinConfig {
    /// A builder starting from the defaults: `127.0.0.1:3128`, the per-user
    /// CA directory, allow everything, intercept everything, no env file.
    pub fn builder() -> StandinConfigBuilder {
        StandinConfigBuilder {
            config: StandinConfig::default(),
        }
    }

    /// The address to listen on (port 0: any free port).
    pub fn listen(&self) -> SocketAddr {
        self.listen
    }

    /// The CA directory given, if any (else [`default_ca_dir`] is used).
    pub fn ca_dir(&self) -> Option<&Path> {
        self.ca_dir.as_deref()
    }

    /// The CA directory to use: the one given, else the per-user default.
    pub fn resolved_ca_dir(&self) -> Result<PathBuf, StandinError> {
        self.ca_dir
            .clone()
            .or_else(default_ca_dir)
            .ok_or(StandinError::NoCaDir)
    }

    /// The name → address map.
    pub fn maps(&self) -> &[HostMapping] {
        &self.maps
    }

    /// The allow/deny/bypass policy.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// The header injections.
    pub fn injections(&self) -> &[HeaderInjection] {
        &self.injections
    }

    /// Extra CA files upstream certificates may chain to.
    pub fn upstream_ca_files(&self) -> &[PathBuf] {
        &self.upstream_ca_files
    }

    /// Where the env file is written once the stand-in listens.
    pub fn env_file(&self) -> Option<&Path> {
        self.env_file.as_deref()
    }

    /// How denied HTTPS hosts are answered.
    pub fn deny_style(&self) -> DenyStyle {
        self.deny_style
    }

    /// How long opening an upstream TCP connection may take.
    pub fn connect_timeout(&self) -> Duration {
        self.connect_timeout
    }

    /// How long [`shutdown`](super::Standin::shutdown) lets open connections finish.
    pub fn shutdown_grace(&self) -> Duration {
        self.shutdown_grace
    }
}

/// Builds a [`StandinConfig`]; every setter has a default.
#[derive(Debug, Clone)]
#[must_use]
pub struct StandinConfigBuilder {
    config: StandinConfig,
}

impl StandinConfigBuilder {
    /// The address to listen on; port 0 picks a free one (read it back from
    /// [`Standin::addr`](super::Standin::addr)).
    pub fn listen(mut self, addr: SocketAddr) -> Self {
        self.config.listen = addr;
        self
    }

    /// The directory holding `proxy-ca.crt` and `proxy-ca.key` (created, and
    /// the CA generated, when missing).
    pub fn ca_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.config.ca_dir = Some(dir.into());
        self
    }

    /// Adds map entries (`--map`).
    pub fn maps(mut self, maps: impl IntoIterator<Item = HostMapping>) -> Self {
        self.config.maps.extend(maps);
        self
    }

    /// Adds bypass patterns (`--bypass`): tunnelled without interception.
    pub fn bypass(mut self, patterns: impl IntoIterator<Item = HostPattern>) -> Self {
        self.config.policy.add_bypass(patterns);
        self
    }

    /// Adds allow patterns (`--allow`).
    pub fn allow(mut self, patterns: impl IntoIterator<Item = HostPattern>) -> Self {
        self.config.policy.add_allow(patterns);
        self
    }

    /// Adds deny patterns (`--deny`); deny wins over allow.
    pub fn deny(mut self, patterns: impl IntoIterator<Item = HostPattern>) -> Self {
        self.config.policy.add_deny(patterns);
        self
    }

    /// What hosts no allow/deny pattern names get (`--default`).
    pub fn default_policy(mut self, default: DefaultPolicy) -> Self {
        self.config.policy.set_default(default);
        self
    }

    /// Adds header injections (`--inject`).
    pub fn injections(mut self, injections: impl IntoIterator<Item = HeaderInjection>) -> Self {
        self.config.injections.extend(injections);
        self
    }

    /// Adds CA files upstream certificates may chain to (`--upstream-ca`),
    /// on top of the host's native roots.
    pub fn upstream_ca_files(mut self, files: impl IntoIterator<Item = PathBuf>) -> Self {
        self.config.upstream_ca_files.extend(files);
        self
    }

    /// Writes `HTTPS_PROXY`, `HTTP_PROXY` (both cases) and `PROXY_CA_CERT_B64`
    /// to this file once the stand-in listens (`--env-file`).
    pub fn env_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.config.env_file = Some(path.into());
        self
    }

    /// How denied HTTPS hosts are answered (default: inside TLS, as Docker
    /// Sandboxes do).
    pub fn deny_style(mut self, style: DenyStyle) -> Self {
        self.config.deny_style = style;
        self
    }

    /// How long opening an upstream TCP connection may take (default 10 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.config.connect_timeout = timeout;
        self
    }

    /// How long a graceful shutdown waits for open connections (default 5 s).
    pub fn shutdown_grace(mut self, grace: Duration) -> Self {
        self.config.shutdown_grace = grace;
        self
    }

    /// The configuration.
    pub fn build(self) -> StandinConfig {
        self.config
    }
}

/// The per-user data directory for the CA: `$XDG_DATA_HOME/nanoclaw-sandbox/proxy-ca`,
/// else `~/.local/share/nanoclaw-sandbox/proxy-ca` (`%LOCALAPPDATA%` on
/// Windows). `None` when none of those variables is set.
pub fn default_ca_dir() -> Option<PathBuf> {
    let from = |name: &str| {
        std::env::var_os(name)
            .map(PathBuf::from)
            .filter(|path| path.is_absolute())
    };
    let data_home = from("XDG_DATA_HOME")
        .or_else(|| from("HOME").map(|home| home.join(".local").join("share")))
        .or_else(|| from("LOCALAPPDATA"))?;
    Some(data_home.join("nanoclaw-sandbox").join("proxy-ca"))
}

/// Parses `--listen`: `IP:PORT` (`127.0.0.1:3128`, `[::1]:3128`) or a bare
/// port (on 127.0.0.1). Pure.
pub fn parse_listen_addr(text: &str) -> Result<SocketAddr, StandinInputError> {
    let text = text.trim();
    if let Ok(port) = text.parse::<u16>() {
        return Ok(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port));
    }
    text.parse::<SocketAddr>()
        .map_err(|_| StandinInputError::ListenAddr {
            input: text.to_string(),
            reason: "it is neither `IP:PORT` nor a port number".into(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::standin::Decision;

    #[test]
    fn listen_addresses_parse() {
        assert_eq!(parse_listen_addr("3128").unwrap(), DEFAULT_LISTEN);
        assert_eq!(parse_listen_addr("0").unwrap().port(), 0);
        assert_eq!(parse_listen_addr("[::1]:9").unwrap().to_string(), "[::1]:9");
        assert_eq!(
            parse_listen_addr(" 0.0.0.0:1 ").unwrap().to_string(),
            "0.0.0.0:1"
        );
        for bad in ["localhost:3128", "", "127.0.0.1", "99999"] {
            let err = parse_listen_addr(bad).unwrap_err();
            assert!(matches!(err, StandinInputError::ListenAddr { .. }), "{bad}");
            assert!(err.to_string().contains("127.0.0.1:3128"), "{err}");
        }
    }

    #[test]
    fn the_builder_collects_everything() {
        let config = StandinConfig::builder()
            .listen(parse_listen_addr("0").unwrap())
            .ca_dir("/tmp/ca")
            .maps(["a.test=127.0.0.1:1".parse().unwrap()])
            .deny(["b.test".parse().unwrap()])
            .default_policy(DefaultPolicy::Deny)
            .allow(["a.test".parse().unwrap()])
            .bypass(["a.test".parse().unwrap()])
            .env_file("/tmp/env")
            .build();
        assert_eq!(config.listen().port(), 0);
        assert_eq!(config.resolved_ca_dir().unwrap(), PathBuf::from("/tmp/ca"));
        assert_eq!(config.maps().len(), 1);
        assert_eq!(config.policy().decide("a.test", 443), Decision::Bypass);
        assert_eq!(config.policy().decide("b.test", 443), Decision::Deny);
        assert_eq!(config.policy().decide("c.test", 443), Decision::Deny);
        assert_eq!(config.env_file(), Some(Path::new("/tmp/env")));
        assert_eq!(StandinConfig::default().listen(), DEFAULT_LISTEN);
    }
}
