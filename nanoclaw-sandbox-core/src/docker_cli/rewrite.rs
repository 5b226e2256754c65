//! The sandbox patches as extra docker flags: the caller's line is read into
//! the equivalent [`ContainerSpec`], the library's [`SandboxPatcher`] patches
//! that, and the difference goes back as flags inserted before IMAGE.
//!
//! Nothing the caller wrote is dropped or reordered. The one in-place edit is
//! the source of a `/dev/null` bind (`-v /dev/null:/app/.env:ro` becomes
//! `-v EMPTY:/app/.env:ro`): a second mount on the same target would be
//! refused by docker.

use std::path::Path;

use super::parse::{RunInvocation, RunOption, ValueAt};
use crate::dockerfile::build_arg_for_display;
use crate::redact;
use crate::sandbox::{PatchError, PatchReport, SandboxPatcher};
use crate::spec::{ContainerSpec, Mount, NetworkMode, SpecError};

use crate::sandbox::patch::DEV_NULL;

/// Why a `docker run`/`docker create` line could not be patched.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum RewriteError {
    /// A flag's value the shim must understand is malformed.
    #[error("invalid value for --{flag}: `{value}`: {reason}")]
    BadValue {
        /// The flag.
        flag: String,
        /// The value (redacted when it may hold a secret).
        value: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// The line describes a container the library's spec refuses.
    #[error("the docker command line cannot be read as a container spec: {0}")]
    Spec(#[from] SpecError),
    /// The patcher refused it (for example the caller mounts something at
    /// the CA directory's target).
    #[error("the sandbox patches conflict with the docker command line: {0}")]
    Patch(#[from] PatchError),
}

/// What the rewrite needs besides the line: the patcher, and where `-e NAME`
/// (no value) and `--env-file` variables come from.
pub struct RewriteContext<'a> {
    /// The patcher for the detected environment, its instance paths in a
    /// persistent directory (containers may outlive the shim).
    pub patcher: &'a SandboxPatcher,
    /// The shim's own environment, for `-e NAME` without a value.
    pub host_env: &'a dyn Fn(&str) -> Option<String>,
    /// The variables of the line's `--env-file`s, read in order
    /// ([`parse_env_file`]).
    pub env_file_vars: &'a [(String, String)],
    /// Labels to add (`--label NAME=VALUE`) unless the line has them: the
    /// drop-in marks the containers that mount its kept directory
    /// ([`SHIM`](crate::runtime::labels::SHIM)).
    pub labels: &'a [(String, String)],
}

/// A rewritten line.
#[derive(Debug, Clone, PartialEq)]
pub struct Rewrite {
    /// The arguments for the real docker (after `docker`).
    pub args: Vec<String>,
    /// The flags inserted before IMAGE.
    pub inserted: Vec<String>,
    /// What the patcher did and why.
    pub report: PatchReport,
}

/// Patches `line` for a sandbox: proxy and trust variables, the CA
/// directory mount, `/dev/null` binds replaced, extra host for a translated
/// proxy, `--pull never` unless the caller chose a pull policy, and the
/// context's labels.
pub fn rewrite(
    line: &RunInvocation,
    context: &RewriteContext<'_>,
) -> Result<Rewrite, RewriteError> {
    let spec = container_spec(line, context)?;
    let (patched, report) = context.patcher.patch(&spec)?;
    let mut tokens = line.option_tokens.clone();
    // `/dev/null` binds: the source is swapped in place.
    for option in &line.options {
        if let (Some(edited), Some(at)) = (dev_null_edit(option, &patched)?, option.value_at) {
            replace_value(&mut tokens, at, &edited);
        }
    }
    let mut inserted = Vec::new();
    for var in patched.env() {
        if spec.env_value(var.name()) != Some(var.value()) {
            inserted.push("-e".to_string());
            inserted.push(var.to_docker_string());
        }
    }
    let caller_targets: Vec<&str> = spec.mounts().iter().map(Mount::target).collect();
    for mount in patched.mounts() {
        if caller_targets.contains(&mount.target()) {
            continue;
        }
        if let Mount::Bind {
            source,
            target,
            read_only,
        } = mount
        {
            inserted.push("--mount".to_string());
            let mut text = format!("type=bind,source={},target={target}", source.display());
            if *read_only {
                text.push_str(",readonly");
            }
            inserted.push(text);
        }
    }
    for host in patched.extra_hosts() {
        if !spec.extra_hosts().contains(host) {
            inserted.push("--add-host".to_string());
            inserted.push(format!("{}:{}", host.name, host.address));
        }
    }
    if !line.has("pull") {
        inserted.push("--pull".to_string());
        inserted.push("never".to_string());
    }
    for (name, value) in context.labels {
        let label = format!("{name}={value}");
        if !line.values("label").any(|given| given == label) {
            inserted.push("--label".to_string());
            inserted.push(label);
        }
    }
    let mut args = line.head.clone();
    args.extend(tokens);
    args.extend(inserted.iter().cloned());
    if line.double_dash {
        args.push("--".into());
    }
    args.push(line.image.clone());
    args.extend(line.command.iter().cloned());
    Ok(Rewrite {
        args,
        inserted,
        report,
    })
}

/// Arguments as they may be shown (`--explain`): values of `-e`/`--env`
/// and `--build-arg` redacted by name (the build's step wrapper said what
/// it is: [`build_arg_for_display`]), URL credentials removed everywhere.
pub fn redacted(args: &[String]) -> Vec<String> {
    let mut out = Vec::with_capacity(args.len());
    let mut previous = "";
    for arg in args {
        let shown = match (previous, arg.split_once('=')) {
            ("-e" | "--env", Some((name, value))) => {
                format!("{name}={}", redact::env_value_for_display(name, value))
            }
            ("--build-arg", Some((name, value))) => {
                format!("{name}={}", build_arg_for_display(name, value))
            }
            _ => redact::redact_userinfo(arg),
        };
        previous = arg;
        out.push(shown);
    }
    out
}

/// Reads a docker `--env-file`: `NAME=VALUE` lines taken verbatim (no
/// quotes removed), `NAME` alone taken from `host_env` when set there,
/// blank lines and `#` comments skipped.
pub fn parse_env_file(
    text: &str,
    host_env: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<(String, String)>, RewriteError> {
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        match line.split_once('=') {
            Some(("", _)) => {
                return Err(RewriteError::BadValue {
                    flag: "env-file".into(),
                    value: "=…".into(),
                    reason: "a line starts with `=`: no variable name",
                })
            }
            Some((name, value)) => out.push((name.to_string(), value.to_string())),
            None => {
                if let Some(value) = host_env(line.trim_end()) {
                    out.push((line.trim_end().to_string(), value));
                }
            }
        }
    }
    Ok(out)
}

/// The container the line describes, as far as the patcher looks: image,
/// environment, mounts (a named or anonymous volume stands as a tmpfs at its
/// target: only its target matters to the patcher), network, extra hosts.
/// What [`rewrite`] patches; also what a mount policy
/// ([`MountPolicy::check`](crate::mount_policy::MountPolicy::check)) checks
/// before the line runs.
pub fn container_spec(
    line: &RunInvocation,
    context: &RewriteContext<'_>,
) -> Result<ContainerSpec, RewriteError> {
    let mut builder = ContainerSpec::builder(line.image.clone());
    for (name, value) in context.env_file_vars {
        builder = builder.env(name, value);
    }
    for value in line.values("env") {
        match value.split_once('=') {
            Some((name, value)) => builder = builder.env(name, value),
            None => {
                if let Some(host) = (context.host_env)(value) {
                    builder = builder.env(value, host);
                }
            }
        }
    }
    for option in &line.options {
        if let Some(mount) = mount_of(option)? {
            builder = builder.mount(mount);
        }
    }
    if let Some(network) = line
        .options
        .iter()
        .filter(|o| o.name == "network" || o.name == "net")
        .filter_map(|o| o.value.as_deref())
        .next_back()
    {
        builder = builder.network(NetworkMode::parse(network));
    }
    for entry in line.values("add-host") {
        let (name, address) = add_host(entry)?;
        builder = builder.extra_host(name, address);
    }
    Ok(builder.build()?)
}

/// An `--add-host` value: `NAME:ADDRESS` or `NAME=ADDRESS`.
pub(super) fn add_host(entry: &str) -> Result<(&str, &str), RewriteError> {
    entry
        .split_once('=')
        .or_else(|| entry.split_once(':'))
        .filter(|(n, a)| !n.is_empty() && !a.is_empty())
        .ok_or_else(|| RewriteError::BadValue {
            flag: "add-host".into(),
            value: entry.to_string(),
            reason: "use NAME:ADDRESS or NAME=ADDRESS",
        })
}

/// The mount an option adds, if it is `-v`, `--mount` or `--tmpfs`.
fn mount_of(option: &RunOption) -> Result<Option<Mount>, RewriteError> {
    let Some(value) = option.value.as_deref() else {
        return Ok(None);
    };
    match option.name.as_str() {
        "volume" => {
            let v = parse_volume(value)?;
            Ok(Some(match v.source {
                Some(source) if source.starts_with('/') => {
                    Mount::bind(source, v.target, v.options.contains(&"ro"))
                }
                _ => Mount::tmpfs(v.target, None),
            }))
        }
        "mount" => {
            let m = parse_mount(value)?;
            Ok(Some(match (m.kind, m.source) {
                ("bind", Some(source)) => Mount::bind(source, m.target, m.read_only),
                _ => Mount::tmpfs(m.target, None),
            }))
        }
        "tmpfs" => {
            let target = value.split(':').next().unwrap_or_default();
            Ok(Some(Mount::tmpfs(target, None)))
        }
        _ => Ok(None),
    }
}

/// `-v [SOURCE:]TARGET[:OPTIONS]`.
struct Volume<'a> {
    source: Option<&'a str>,
    target: &'a str,
    options: Vec<&'a str>,
}

fn parse_volume(value: &str) -> Result<Volume<'_>, RewriteError> {
    let parts: Vec<&str> = value.split(':').collect();
    let volume = match parts.as_slice() {
        [target] => Volume {
            source: None,
            target,
            options: Vec::new(),
        },
        [source, target] => Volume {
            source: Some(source),
            target,
            options: Vec::new(),
        },
        [source, target, options] => Volume {
            source: Some(source),
            target,
            options: options.split(',').collect(),
        },
        _ => {
            return Err(RewriteError::BadValue {
                flag: "volume".into(),
                value: value.to_string(),
                reason: "use [SOURCE:]TARGET[:OPTIONS]",
            })
        }
    };
    if volume.target.is_empty() || volume.source == Some("") {
        return Err(RewriteError::BadValue {
            flag: "volume".into(),
            value: value.to_string(),
            reason: "an empty source or target",
        });
    }
    Ok(volume)
}

/// `--mount type=…,source=…,target=…[,readonly]`.
struct MountFlag<'a> {
    kind: &'a str,
    source: Option<&'a str>,
    target: &'a str,
    read_only: bool,
}

fn parse_mount(value: &str) -> Result<MountFlag<'_>, RewriteError> {
    let bad = |reason| RewriteError::BadValue {
        flag: "mount".into(),
        value: value.to_string(),
        reason,
    };
    let mut kind = "volume";
    let mut source = None;
    let mut target = None;
    let mut read_only = false;
    for field in value.split(',') {
        let (key, val) = match field.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None => (field, None),
        };
        match key.to_ascii_lowercase().as_str() {
            "type" => kind = val.ok_or_else(|| bad("`type` needs a value"))?,
            "source" | "src" => source = val,
            "target" | "dst" | "destination" => target = val,
            "readonly" | "ro" => {
                read_only = matches!(val, None | Some("1" | "true"));
            }
            _ => {}
        }
    }
    let target = target
        .filter(|t| !t.is_empty())
        .ok_or_else(|| bad("a mount needs target=PATH"))?;
    Ok(MountFlag {
        kind,
        source,
        target,
        read_only,
    })
}

/// For a `/dev/null` bind the patcher replaced: the option's new value.
fn dev_null_edit(
    option: &RunOption,
    patched: &ContainerSpec,
) -> Result<Option<String>, RewriteError> {
    let Some(value) = option.value.as_deref() else {
        return Ok(None);
    };
    let edited = match option.name.as_str() {
        "volume" => {
            let v = parse_volume(value)?;
            if v.source != Some(DEV_NULL) {
                return Ok(None);
            }
            let Some(source) = replaced_source(patched, v.target) else {
                return Ok(None);
            };
            let mut options: Vec<&str> = v
                .options
                .iter()
                .copied()
                .filter(|o| *o != "rw" && *o != "ro")
                .collect();
            options.insert(0, "ro");
            format!("{}:{}:{}", source.display(), v.target, options.join(","))
        }
        "mount" => {
            let m = parse_mount(value)?;
            if m.kind != "bind" || m.source != Some(DEV_NULL) {
                return Ok(None);
            }
            let Some(source) = replaced_source(patched, m.target) else {
                return Ok(None);
            };
            let mut fields: Vec<String> = value
                .split(',')
                .map(|field| match field.split_once('=') {
                    Some((k, v)) if v == DEV_NULL && matches!(k, "source" | "src") => {
                        format!("{k}={}", source.display())
                    }
                    _ => field.to_string(),
                })
                .collect();
            if !m.read_only {
                fields.retain(|f| !f.starts_with("readonly") && !f.starts_with("ro="));
                fields.push("readonly".into());
            }
            fields.join(",")
        }
        _ => return Ok(None),
    };
    Ok(Some(edited))
}

/// The source the patched spec binds at `target`, when it is no longer `/dev/null`.
fn replaced_source<'a>(patched: &'a ContainerSpec, target: &str) -> Option<&'a Path> {
    patched.mounts().iter().find_map(|m| match m {
        Mount::Bind {
            source, target: t, ..
        } if t == target && source != Path::new(DEV_NULL) => Some(source.as_path()),
        _ => None,
    })
}

/// Puts `value` where `at` says a flag's value is.
pub(super) fn replace_value(tokens: &mut [String], at: ValueAt, value: &str) {
    match at {
        ValueAt::Whole { token } => tokens[token] = value.to_string(),
        ValueAt::Attached { token, offset } => {
            let prefix = tokens[token][..offset].to_string();
            tokens[token] = prefix + value;
        }
    }
}
