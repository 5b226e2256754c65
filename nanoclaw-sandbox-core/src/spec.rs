//! [`ContainerSpec`]: a plain, engine-neutral description of one agent container.
//!
//! A spec can only be made through [`ContainerSpecBuilder`] or by deserializing
//! its serde form; both validate, so every `ContainerSpec` in hand is valid.
//! Reading is by accessor; changing a spec means [`ContainerSpec::to_builder`]
//! and building again, which validates again.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::redact;

pub mod file;

/// Why a [`ContainerSpec`] was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum SpecError {
    /// The image reference is empty.
    #[error(
        "the container image is empty: give an image reference such as `nanoclaw-agent:latest`"
    )]
    EmptyImage,
    /// A container-side path is not absolute.
    #[error("container path `{path}` is relative: container paths must start with `/`")]
    RelativeContainerPath {
        /// The path as given.
        path: String,
    },
    /// A container-side path has a `..` component.
    #[error("container path `{path}` contains `..`: give the resolved path")]
    ParentDirInContainerPath {
        /// The path as given.
        path: String,
    },
    /// A container-side path contains `:`, which Docker's mount syntax cannot carry.
    #[error("container path `{path}` contains `:`, which Docker's mount syntax cannot express: rename the target")]
    ColonInContainerPath {
        /// The path as given.
        path: String,
    },
    /// A bind mount's host path is empty.
    #[error("the bind mount onto `{target}` has an empty source: give a host path")]
    EmptyMountSource {
        /// The mount's target.
        target: String,
    },
    /// Two mounts share one target.
    #[error("two mounts target `{target}`: each container path can be mounted once")]
    DuplicateMountTarget {
        /// The target mounted twice.
        target: String,
    },
    /// An environment variable name is empty, or contains `=` or NUL.
    #[error("environment variable name `{name}` is invalid: {reason}")]
    InvalidEnvName {
        /// The name as given (NUL shown as `\0`).
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// An environment variable value contains NUL.
    #[error("environment variable `{name}` has a NUL byte in its value: NUL cannot be passed to a process")]
    NulInEnvValue {
        /// The variable's name.
        name: String,
    },
    /// An `env` entry in the serde form is not `NAME=VALUE`.
    #[error("environment entry `{entry}` is not of the form NAME=VALUE")]
    MalformedEnvEntry {
        /// The entry, with its value redacted when the name looks secret.
        entry: String,
    },
    /// A CPU limit that is not a positive finite number.
    #[error("CPU limit `{cpus}` is invalid: give a positive number such as 1.5")]
    InvalidCpus {
        /// The value as given.
        cpus: f64,
    },
    /// A zero memory limit, pids limit or tmpfs size.
    #[error("{what} must be greater than zero")]
    ZeroLimit {
        /// Which limit.
        what: &'static str,
    },
    /// A label key is empty.
    #[error("a label key is empty: give keys such as `com.example.role`")]
    EmptyLabelKey,
    /// An extra host entry is malformed.
    #[error("extra host `{entry}` is invalid: use `NAME:ADDRESS` (address may be `host-gateway`)")]
    InvalidExtraHost {
        /// The entry as given.
        entry: String,
    },
    /// A container name Docker would refuse.
    #[error("container name `{name}` is invalid: use letters, digits, `_`, `.` and `-`, starting with a letter or digit")]
    InvalidName {
        /// The name as given.
        name: String,
    },
}

/// One environment variable. Its value is redacted in `Debug` when the name
/// looks secret, and URL credentials are always redacted.
#[derive(Clone, PartialEq, Eq)]
pub struct EnvVar {
    name: String,
    value: String,
}

impl EnvVar {
    /// A validated variable.
    pub fn new(name: impl Into<String>, value: impl Into<String>) -> Result<Self, SpecError> {
        let (name, value) = (name.into(), value.into());
        validate_env_name(&name)?;
        if value.contains('\0') {
            return Err(SpecError::NulInEnvValue { name });
        }
        Ok(Self { name, value })
    }

    /// The name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The value, unredacted: do not log it.
    pub fn value(&self) -> &str {
        &self.value
    }

    /// `NAME=VALUE` as Docker's API takes it. Holds secrets: do not log it.
    pub fn to_docker_string(&self) -> String {
        format!("{}={}", self.name, self.value)
    }
}

impl fmt::Debug for EnvVar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}={}",
            self.name,
            redact::env_value_for_display(&self.name, &self.value)
        )
    }
}

impl Serialize for EnvVar {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_docker_string())
    }
}

impl<'de> Deserialize<'de> for EnvVar {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let entry = String::deserialize(d)?;
        let Some((name, value)) = entry.split_once('=') else {
            let shown = if redact::is_secret_name(&entry) {
                redact::REDACTED.to_string()
            } else {
                entry
            };
            return Err(serde::de::Error::custom(SpecError::MalformedEnvEntry {
                entry: shown,
            }));
        };
        EnvVar::new(name, value).map_err(serde::de::Error::custom)
    }
}

fn validate_env_name(name: &str) -> Result<(), SpecError> {
    let reason = if name.is_empty() {
        Some("it is empty")
    } else if name.contains('=') {
        Some("it contains `=`")
    } else if name.contains('\0') {
        Some("it contains a NUL byte")
    } else {
        None
    };
    match reason {
        Some(reason) => Err(SpecError::InvalidEnvName {
            name: name.replace('\0', "\\0"),
            reason,
        }),
        None => Ok(()),
    }
}

/// A filesystem mount.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
#[non_exhaustive]
pub enum Mount {
    /// A host path bound into the container.
    Bind {
        /// Host path (may be `/dev/null`; the sandbox layer rewrites that).
        source: PathBuf,
        /// Absolute container path.
        target: String,
        /// Mount read-only.
        #[serde(default)]
        read_only: bool,
    },
    /// An in-memory filesystem.
    Tmpfs {
        /// Absolute container path.
        target: String,
        /// Size limit in bytes.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        size_bytes: Option<u64>,
    },
}

impl Mount {
    /// A bind mount.
    pub fn bind(source: impl Into<PathBuf>, target: impl Into<String>, read_only: bool) -> Self {
        Mount::Bind {
            source: source.into(),
            target: target.into(),
            read_only,
        }
    }

    /// A tmpfs mount.
    pub fn tmpfs(target: impl Into<String>, size_bytes: Option<u64>) -> Self {
        Mount::Tmpfs {
            target: target.into(),
            size_bytes,
        }
    }

    /// The container path.
    pub fn target(&self) -> &str {
        match self {
            Mount::Bind { target, .. } | Mount::Tmpfs { target, .. } => target,
        }
    }
}

/// The network a container joins.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum NetworkMode {
    /// The engine's default network (bridge on Docker).
    #[default]
    Default,
    /// No network at all.
    None,
    /// The host's network namespace.
    Host,
    /// A named network.
    Named(String),
    /// Another container's network namespace (Docker's `container:ID`).
    Container(String),
}

impl NetworkMode {
    /// Parses `default` or `bridge` (Docker's default network, so
    /// [`NetworkMode::Default`]), `none`, `host`, `container:ID` or a
    /// network name.
    pub fn parse(text: &str) -> Self {
        match text {
            "" | "default" | "bridge" => NetworkMode::Default,
            "none" => NetworkMode::None,
            "host" => NetworkMode::Host,
            other => match other.strip_prefix("container:") {
                Some(id) => NetworkMode::Container(id.to_string()),
                None => NetworkMode::Named(other.to_string()),
            },
        }
    }

    /// Whether the container shares the host's network namespace.
    pub fn is_host(&self) -> bool {
        matches!(self, NetworkMode::Host)
    }
}

/// An `/etc/hosts` entry: `name` resolves to `address` (an IP or `host-gateway`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExtraHost {
    /// Host name.
    pub name: String,
    /// IP address, or `host-gateway` for the engine host's gateway address.
    pub address: String,
}

impl ExtraHost {
    /// Parses `NAME:ADDRESS` (the address may itself hold `:` for IPv6).
    pub fn parse(entry: &str) -> Result<Self, SpecError> {
        match entry.split_once(':') {
            Some((name, address)) if !name.is_empty() && !address.is_empty() => Ok(ExtraHost {
                name: name.to_string(),
                address: address.to_string(),
            }),
            _ => Err(SpecError::InvalidExtraHost {
                entry: entry.to_string(),
            }),
        }
    }
}

/// Resource limits.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Resources {
    /// Memory limit in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_bytes: Option<u64>,
    /// CPU limit in CPUs (1.5 = one and a half cores).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpus: Option<f64>,
    /// Maximum number of processes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pids: Option<u64>,
}

/// A validated description of one agent container.
///
/// ```
/// use nanoclaw_sandbox_core::spec::{ContainerSpec, Mount};
/// let spec = ContainerSpec::builder("nanoclaw-agent:latest")
///     .command(["node", "/app/index.js"])
///     .env("LOG_LEVEL", "debug")
///     .mount(Mount::bind("/dev/null", "/app/.env", true))
///     .build()
///     .unwrap();
/// assert_eq!(spec.image(), "nanoclaw-agent:latest");
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "SpecFields", into = "SpecFields")]
pub struct ContainerSpec {
    fields: SpecFields,
}

/// The serde form of a spec; what the builder fills in.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SpecFields {
    image: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    entrypoint: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    command: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    env: Vec<EnvVar>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    mounts: Vec<Mount>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "is_default_network")]
    network: NetworkMode,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    extra_hosts: Vec<ExtraHost>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    dns: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    user: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    working_dir: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    attach_stdin: bool,
    #[serde(default, skip_serializing_if = "is_default_resources")]
    resources: Resources,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    auto_remove: bool,
}

fn is_default_network(n: &NetworkMode) -> bool {
    *n == NetworkMode::Default
}

fn is_default_resources(r: &Resources) -> bool {
    *r == Resources::default()
}

impl TryFrom<SpecFields> for ContainerSpec {
    type Error = SpecError;
    fn try_from(fields: SpecFields) -> Result<Self, SpecError> {
        fields.validate()?;
        Ok(ContainerSpec { fields })
    }
}

impl From<ContainerSpec> for SpecFields {
    fn from(spec: ContainerSpec) -> Self {
        spec.fields
    }
}

impl SpecFields {
    fn validate(&self) -> Result<(), SpecError> {
        if self.image.trim().is_empty() {
            return Err(SpecError::EmptyImage);
        }
        if let Some(name) = &self.name {
            validate_container_name(name)?;
        }
        for var in &self.env {
            validate_env_name(var.name())?;
        }
        let mut targets = HashSet::new();
        for mount in &self.mounts {
            let target = mount.target();
            validate_container_path(target)?;
            match mount {
                Mount::Bind { source, .. } if source.as_os_str().is_empty() => {
                    return Err(SpecError::EmptyMountSource {
                        target: target.to_string(),
                    })
                }
                Mount::Tmpfs {
                    size_bytes: Some(0),
                    ..
                } => return Err(SpecError::ZeroLimit { what: "tmpfs size" }),
                _ => {}
            }
            if !targets.insert(normalize_target(target)) {
                return Err(SpecError::DuplicateMountTarget {
                    target: target.to_string(),
                });
            }
        }
        if let Some(dir) = &self.working_dir {
            validate_container_path(dir)?;
        }
        if self.labels.keys().any(|k| k.is_empty()) {
            return Err(SpecError::EmptyLabelKey);
        }
        for host in &self.extra_hosts {
            if host.name.is_empty() || host.address.is_empty() || host.name.contains(':') {
                return Err(SpecError::InvalidExtraHost {
                    entry: format!("{}:{}", host.name, host.address),
                });
            }
        }
        if let Some(cpus) = self.resources.cpus {
            if !(cpus.is_finite() && cpus > 0.0) {
                return Err(SpecError::InvalidCpus { cpus });
            }
        }
        if self.resources.memory_bytes == Some(0) {
            return Err(SpecError::ZeroLimit {
                what: "memory limit",
            });
        }
        if self.resources.pids == Some(0) {
            return Err(SpecError::ZeroLimit { what: "pids limit" });
        }
        Ok(())
    }
}

fn validate_container_path(path: &str) -> Result<(), SpecError> {
    let owned = || path.to_string();
    if !path.starts_with('/') {
        return Err(SpecError::RelativeContainerPath { path: owned() });
    }
    if path.split('/').any(|part| part == "..") {
        return Err(SpecError::ParentDirInContainerPath { path: owned() });
    }
    if path.contains(':') {
        return Err(SpecError::ColonInContainerPath { path: owned() });
    }
    Ok(())
}

/// `/a//b/` and `/a/b` are one target.
fn normalize_target(path: &str) -> String {
    let parts: Vec<&str> = path
        .split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .collect();
    format!("/{}", parts.join("/"))
}

fn validate_container_name(name: &str) -> Result<(), SpecError> {
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric());
    let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if first_ok && rest_ok {
        Ok(())
    } else {
        Err(SpecError::InvalidName {
            name: name.to_string(),
        })
    }
}

impl ContainerSpec {
    /// Starts a builder for a container of `image`.
    pub fn builder(image: impl Into<String>) -> ContainerSpecBuilder {
        ContainerSpecBuilder {
            fields: SpecFields {
                image: image.into(),
                ..SpecFields::default()
            },
            error: None,
        }
    }

    /// A builder holding this spec's fields, to derive a changed spec.
    pub fn to_builder(&self) -> ContainerSpecBuilder {
        ContainerSpecBuilder {
            fields: self.fields.clone(),
            error: None,
        }
    }

    /// The image reference.
    pub fn image(&self) -> &str {
        &self.fields.image
    }
    /// The container name, when one is set.
    pub fn name(&self) -> Option<&str> {
        self.fields.name.as_deref()
    }
    /// The entrypoint override, when one is set.
    pub fn entrypoint(&self) -> Option<&[String]> {
        self.fields.entrypoint.as_deref()
    }
    /// The command (arguments to the entrypoint).
    pub fn command(&self) -> &[String] {
        &self.fields.command
    }
    /// The environment, in order.
    pub fn env(&self) -> &[EnvVar] {
        &self.fields.env
    }
    /// The value of the last variable called `name`, as the process would see it.
    pub fn env_value(&self, name: &str) -> Option<&str> {
        self.fields
            .env
            .iter()
            .rev()
            .find(|v| v.name == name)
            .map(|v| v.value.as_str())
    }
    /// The mounts.
    pub fn mounts(&self) -> &[Mount] {
        &self.fields.mounts
    }
    /// The labels.
    pub fn labels(&self) -> &BTreeMap<String, String> {
        &self.fields.labels
    }
    /// The network.
    pub fn network(&self) -> &NetworkMode {
        &self.fields.network
    }
    /// Extra `/etc/hosts` entries.
    pub fn extra_hosts(&self) -> &[ExtraHost] {
        &self.fields.extra_hosts
    }
    /// DNS servers.
    pub fn dns(&self) -> &[String] {
        &self.fields.dns
    }
    /// The user (`uid[:gid]` or a name), when set.
    pub fn user(&self) -> Option<&str> {
        self.fields.user.as_deref()
    }
    /// The working directory, when set.
    pub fn working_dir(&self) -> Option<&str> {
        self.fields.working_dir.as_deref()
    }
    /// Whether stdin is attached (and can be written to).
    pub fn attach_stdin(&self) -> bool {
        self.fields.attach_stdin
    }
    /// The resource limits.
    pub fn resources(&self) -> &Resources {
        &self.fields.resources
    }
    /// Whether the engine removes the container when it exits.
    pub fn auto_remove(&self) -> bool {
        self.fields.auto_remove
    }
}

/// Builds a [`ContainerSpec`]; [`build`](Self::build) validates everything.
///
/// Setters never fail; the first invalid input is kept and reported by `build`.
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct ContainerSpecBuilder {
    fields: SpecFields,
    error: Option<SpecError>,
}

impl ContainerSpecBuilder {
    /// Replaces the image (the builder starts from one; this changes a
    /// derived spec's, see [`ContainerSpec::to_builder`]).
    pub fn image(mut self, image: impl Into<String>) -> Self {
        self.fields.image = image.into();
        self
    }
    /// Sets the container name.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.fields.name = Some(name.into());
        self
    }
    /// Sets the entrypoint.
    pub fn entrypoint<I, S>(mut self, entrypoint: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.fields.entrypoint = Some(entrypoint.into_iter().map(Into::into).collect());
        self
    }
    /// Sets the command.
    pub fn command<I, S>(mut self, command: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.fields.command = command.into_iter().map(Into::into).collect();
        self
    }
    /// Sets a variable: replaces an existing one of that name in place, else appends.
    pub fn env(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        match EnvVar::new(name, value) {
            Ok(var) => match self.fields.env.iter_mut().find(|v| v.name == var.name) {
                Some(existing) => *existing = var,
                None => self.fields.env.push(var),
            },
            Err(e) => self.keep_first_error(e),
        }
        self
    }
    /// Removes every variable called `name`.
    pub fn remove_env(mut self, name: &str) -> Self {
        self.fields.env.retain(|v| v.name != name);
        self
    }
    /// Adds a mount.
    pub fn mount(mut self, mount: Mount) -> Self {
        self.fields.mounts.push(mount);
        self
    }
    /// Replaces all mounts.
    pub fn mounts(mut self, mounts: Vec<Mount>) -> Self {
        self.fields.mounts = mounts;
        self
    }
    /// Adds a label.
    pub fn label(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.fields.labels.insert(key.into(), value.into());
        self
    }
    /// Sets the network.
    pub fn network(mut self, network: NetworkMode) -> Self {
        self.fields.network = network;
        self
    }
    /// Adds an `/etc/hosts` entry (`host-gateway` allowed as the address).
    pub fn extra_host(mut self, name: impl Into<String>, address: impl Into<String>) -> Self {
        let host = ExtraHost {
            name: name.into(),
            address: address.into(),
        };
        if !self.fields.extra_hosts.contains(&host) {
            self.fields.extra_hosts.push(host);
        }
        self
    }
    /// Adds a DNS server.
    pub fn dns(mut self, server: impl Into<String>) -> Self {
        self.fields.dns.push(server.into());
        self
    }
    /// Sets the user.
    pub fn user(mut self, user: impl Into<String>) -> Self {
        self.fields.user = Some(user.into());
        self
    }
    /// Sets the working directory.
    pub fn working_dir(mut self, dir: impl Into<String>) -> Self {
        self.fields.working_dir = Some(dir.into());
        self
    }
    /// Attaches stdin so the caller can write to it.
    pub fn attach_stdin(mut self, attach: bool) -> Self {
        self.fields.attach_stdin = attach;
        self
    }
    /// Sets the memory limit in bytes.
    pub fn memory_bytes(mut self, bytes: u64) -> Self {
        self.fields.resources.memory_bytes = Some(bytes);
        self
    }
    /// Sets the CPU limit.
    pub fn cpus(mut self, cpus: f64) -> Self {
        self.fields.resources.cpus = Some(cpus);
        self
    }
    /// Sets the process limit.
    pub fn pids(mut self, pids: u64) -> Self {
        self.fields.resources.pids = Some(pids);
        self
    }
    /// Has the engine remove the container when it exits.
    pub fn auto_remove(mut self, auto_remove: bool) -> Self {
        self.fields.auto_remove = auto_remove;
        self
    }

    fn keep_first_error(&mut self, error: SpecError) {
        self.error.get_or_insert(error);
    }

    /// Validates and returns the spec.
    pub fn build(self) -> Result<ContainerSpec, SpecError> {
        if let Some(error) = self.error {
            return Err(error);
        }
        ContainerSpec::try_from(self.fields)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn network_modes_parse_docker_words() {
        assert_eq!(NetworkMode::parse("bridge"), NetworkMode::Default);
        assert_eq!(NetworkMode::parse("none"), NetworkMode::None);
        assert_eq!(NetworkMode::parse("host"), NetworkMode::Host);
        assert_eq!(
            NetworkMode::parse("container:c0ffee"),
            NetworkMode::Container("c0ffee".into())
        );
        assert_eq!(
            NetworkMode::parse("agents"),
            NetworkMode::Named("agents".into())
        );
    }

    fn base() -> ContainerSpecBuilder {
        ContainerSpec::builder("agent:1")
    }

    #[test]
    fn a_full_spec_round_trips_through_json_and_toml() {
        let spec = base()
            .name("agent-1")
            .entrypoint(["/bin/agent"])
            .command(["run", "--x"])
            .env("B", "2")
            .env("A", "1=one")
            .mount(Mount::bind("/dev/null", "/app/.env", true))
            .mount(Mount::tmpfs("/tmp", Some(1 << 20)))
            .label("role", "agent")
            .network(NetworkMode::Named("net1".into()))
            .extra_host("h", "host-gateway")
            .dns("127.0.0.1")
            .user("1000:1000")
            .working_dir("/app")
            .attach_stdin(true)
            .memory_bytes(1 << 30)
            .cpus(1.5)
            .pids(256)
            .auto_remove(true)
            .build()
            .unwrap();
        let json = serde_json::to_string(&spec).unwrap();
        assert_eq!(serde_json::from_str::<ContainerSpec>(&json).unwrap(), spec);
        let toml_text = toml::to_string(&spec).unwrap();
        assert_eq!(toml::from_str::<ContainerSpec>(&toml_text).unwrap(), spec);
        // env keeps insertion order
        let names: Vec<_> = spec.env().iter().map(EnvVar::name).collect();
        assert_eq!(names, ["B", "A"]);
        assert_eq!(spec.env_value("A"), Some("1=one"));
    }

    #[test]
    fn invalid_inputs_are_refused_with_the_input_named() {
        let cases: Vec<(ContainerSpecBuilder, SpecError)> = vec![
            (ContainerSpec::builder("  "), SpecError::EmptyImage),
            (
                base().mount(Mount::bind("/a", "app", false)),
                SpecError::RelativeContainerPath { path: "app".into() },
            ),
            (
                base().mount(Mount::bind("/a", "/app/../etc", false)),
                SpecError::ParentDirInContainerPath {
                    path: "/app/../etc".into(),
                },
            ),
            (
                base().mount(Mount::tmpfs("/a:b", None)),
                SpecError::ColonInContainerPath {
                    path: "/a:b".into(),
                },
            ),
            (
                base()
                    .mount(Mount::bind("/a", "/x", false))
                    .mount(Mount::tmpfs("/x/", None)),
                SpecError::DuplicateMountTarget {
                    target: "/x/".into(),
                },
            ),
            (
                base().env("", "v"),
                SpecError::InvalidEnvName {
                    name: "".into(),
                    reason: "it is empty",
                },
            ),
            (
                base().env("A=B", "v"),
                SpecError::InvalidEnvName {
                    name: "A=B".into(),
                    reason: "it contains `=`",
                },
            ),
            (
                base().env("A\0", "v"),
                SpecError::InvalidEnvName {
                    name: "A\\0".into(),
                    reason: "it contains a NUL byte",
                },
            ),
            (
                base().env("A", "v\0"),
                SpecError::NulInEnvValue { name: "A".into() },
            ),
            (base().cpus(0.0), SpecError::InvalidCpus { cpus: 0.0 }),
            (
                base().memory_bytes(0),
                SpecError::ZeroLimit {
                    what: "memory limit",
                },
            ),
            (
                base().name("-bad"),
                SpecError::InvalidName {
                    name: "-bad".into(),
                },
            ),
            (
                base().working_dir("rel"),
                SpecError::RelativeContainerPath { path: "rel".into() },
            ),
        ];
        for (builder, expected) in cases {
            let err = builder.build().unwrap_err();
            assert_eq!(err, expected);
            assert!(!err.to_string().is_empty());
        }
    }

    #[test]
    fn deserializing_validates_too() {
        let err = serde_json::from_str::<ContainerSpec>(
            r#"{"image":"a","mounts":[{"type":"bind","source":"/a","target":"rel"}]}"#,
        )
        .unwrap_err();
        assert!(err.to_string().contains("`rel` is relative"), "{err}");
        let err =
            toml::from_str::<ContainerSpec>("image = \"a\"\nenv = [\"NOEQUALS\"]").unwrap_err();
        assert!(err.to_string().contains("NAME=VALUE"), "{err}");
        let err = toml::from_str::<ContainerSpec>("image = \"a\"\nbogus = 1").unwrap_err();
        assert!(err.to_string().contains("bogus"), "{err}");
    }

    #[test]
    fn env_setter_replaces_in_place() {
        let spec = base()
            .env("A", "1")
            .env("B", "2")
            .env("A", "3")
            .build()
            .unwrap();
        let shown: Vec<_> = spec.env().iter().map(EnvVar::to_docker_string).collect();
        assert_eq!(shown, ["A=3", "B=2"]);
    }

    #[test]
    fn debug_hides_secrets() {
        let spec = base()
            .env("ANTHROPIC_API_KEY", "sk-ant-secret")
            .env("HTTPS_PROXY", "http://user:hunter2@proxy:3128")
            .build()
            .unwrap();
        let shown = format!("{spec:?}");
        assert!(!shown.contains("sk-ant-secret"), "{shown}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("proxy:3128"), "{shown}");
    }

    #[test]
    fn network_and_extra_host_parsing() {
        assert_eq!(NetworkMode::parse("bridge"), NetworkMode::Default);
        assert_eq!(NetworkMode::parse("default"), NetworkMode::Default);
        assert_eq!(
            NetworkMode::parse("agents"),
            NetworkMode::Named("agents".into())
        );
        assert_eq!(NetworkMode::parse("host"), NetworkMode::Host);
        assert_eq!(
            ExtraHost::parse("h:::1").unwrap(),
            ExtraHost {
                name: "h".into(),
                address: "::1".into()
            }
        );
        assert!(ExtraHost::parse("nocolon").is_err());
    }
}
