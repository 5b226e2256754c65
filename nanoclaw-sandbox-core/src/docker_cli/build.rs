//! `docker build` lines with the library's build patches, as flags: the
//! line is read into the equivalent [`BuildRequest`] ([`build_request`]),
//! the sandbox layer prepares it
//! ([`prepare_build`](crate::sandbox::runtime::prepare_build): proxy build
//! args, the step wrapper with the CA, the rewritten Dockerfile in the
//! context), and [`rewrite_build`] turns the difference back into flags for
//! the real `docker build`, whose context becomes `-` (the prepared tar, on
//! its stdin).
//!
//! Nothing the caller wrote is dropped or reordered. The two in-place
//! edits: the context argument becomes `-`, and `-f`/`--file` names the
//! rewritten Dockerfile inside the tar (inserted when the caller gave none).

use super::parse::BuildInvocation;
use super::rewrite::{add_host, replace_value, RewriteError};
use crate::runtime::{BuildRequest, Builder};
use crate::spec::NetworkMode;

/// The context argument of the rewritten line: the tar on stdin.
pub const STDIN_CONTEXT: &str = "-";

/// The build `line` describes, as far as the build patches look, over the
/// packed `context` (an uncompressed tar with the Dockerfile at
/// `dockerfile`): the caller's build args (`--build-arg NAME` takes the
/// value from `host_env`, as docker does; unset there, it still counts as
/// the caller's, so no sandbox value replaces it), `--network`,
/// `--add-host`. The builder is the classic one: the docker CLI without
/// buildx builds with it.
pub fn build_request(
    line: &BuildInvocation,
    context: Vec<u8>,
    dockerfile: &str,
    host_env: &dyn Fn(&str) -> Option<String>,
) -> Result<BuildRequest, RewriteError> {
    let mut request = BuildRequest::new(context)
        .dockerfile(dockerfile)
        .builder(Builder::Classic);
    for arg in line.values("build-arg") {
        request = match arg.split_once('=') {
            Some((name, value)) => request.build_arg(name, value),
            None => request.build_arg(arg, host_env(arg).unwrap_or_default()),
        };
    }
    if let Some(network) = line.values("network").last() {
        request = request.network(NetworkMode::parse(network));
    }
    for entry in line.values("add-host") {
        let (name, address) = add_host(entry)?;
        request = request.extra_host(name, address);
    }
    Ok(request)
}

/// A rewritten `docker build` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildRewrite {
    /// The arguments for the real docker (after `docker`); its context is
    /// [`STDIN_CONTEXT`].
    pub args: Vec<String>,
    /// The flags inserted (before the context, or before `--`).
    pub inserted: Vec<String>,
}

/// `line` rewritten to build `prepared` (what the sandbox layer made of
/// `original`, the request [`build_request`] read from `line`) from a tar on
/// stdin: the context argument becomes `-`, every `-f` value (or an
/// inserted `-f`) names the prepared Dockerfile, and the build args and
/// extra hosts the sandbox layer added are inserted as `--build-arg
/// NAME=VALUE` and `--add-host NAME:ADDRESS` before the context. `None`
/// when the line has no single context argument (docker refuses it itself).
pub fn rewrite_build(
    line: &BuildInvocation,
    original: &BuildRequest,
    prepared: &BuildRequest,
) -> Option<BuildRewrite> {
    let [context_at] = line.arguments.as_slice() else {
        return None;
    };
    let mut tokens = line.tokens.clone();
    tokens[*context_at] = STDIN_CONTEXT.to_string();
    let mut inserted = Vec::new();
    if prepared.dockerfile_path() != original.dockerfile_path() {
        let mut replaced = false;
        for option in line.options.iter().filter(|o| o.name == "file") {
            if let Some(at) = option.value_at {
                replace_value(&mut tokens, at, prepared.dockerfile_path());
                replaced = true;
            }
        }
        if !replaced {
            inserted.push("-f".to_string());
            inserted.push(prepared.dockerfile_path().to_string());
        }
    }
    for (name, value) in prepared.build_args() {
        if !original.build_args().contains_key(name) {
            inserted.push("--build-arg".to_string());
            inserted.push(format!("{name}={value}"));
        }
    }
    for host in prepared.extra_hosts() {
        if !original.extra_hosts().iter().any(|h| h.name == host.name) {
            inserted.push("--add-host".to_string());
            inserted.push(format!("{}:{}", host.name, host.address));
        }
    }
    let at = line.double_dash.unwrap_or(*context_at).min(*context_at);
    tokens.splice(at..at, inserted.iter().cloned());
    let mut args = line.head.clone();
    args.extend(tokens);
    Some(BuildRewrite { args, inserted })
}
