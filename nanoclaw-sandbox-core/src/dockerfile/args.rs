//! The on-disk patch: declare the proxy and CA build args in every stage.
//!
//! Docker passes `--build-arg` values only to stages that declare them with
//! `ARG`, and `ARG` is per stage: a declaration before the first `FROM` or in
//! another stage does not count. (Docker's predefined proxy args reach `RUN`
//! undeclared, but `NODE_USE_ENV_PROXY` and `NODE_EXTRA_CA_CERTS` do not;
//! declaring the proxy ones too makes every stage explicit about what it
//! receives.)

use std::collections::BTreeMap;

use super::parse::{Document, Instruction, Stage};
use super::DockerfileError;
use crate::proxy::ProxyVar;
use crate::sandbox::patch::NODE_USE_ENV_PROXY;
use crate::trust::NODE_EXTRA_CA_CERTS;

/// The args declared after every `FROM`, in this order.
pub const PROXY_BUILD_ARGS: &[&str] = &[
    ProxyVar::HTTP_PROXY.lower,
    ProxyVar::HTTPS_PROXY.lower,
    ProxyVar::NO_PROXY.lower,
    ProxyVar::HTTP_PROXY.upper,
    ProxyVar::HTTPS_PROXY.upper,
    ProxyVar::NO_PROXY.upper,
    NODE_USE_ENV_PROXY,
    NODE_EXTRA_CA_CERTS.name,
];

/// The build args Docker predefines: they reach `RUN` steps without an
/// `ARG` declaration, and are then kept out of `docker history`. Declaring
/// one makes its value (a proxy URL, credentials included) part of the
/// image's history.
pub const PREDEFINED_PROXY_ARGS: &[&str] = &[
    ProxyVar::HTTP_PROXY.upper,
    ProxyVar::HTTP_PROXY.lower,
    ProxyVar::HTTPS_PROXY.upper,
    ProxyVar::HTTPS_PROXY.lower,
    ProxyVar::FTP_PROXY.upper,
    ProxyVar::FTP_PROXY.lower,
    ProxyVar::NO_PROXY.upper,
    ProxyVar::NO_PROXY.lower,
    ProxyVar::ALL_PROXY.upper,
    ProxyVar::ALL_PROXY.lower,
];

/// The comment put above inserted declarations.
pub const ARGS_COMMENT: &str =
    "# nanoclaw-sandbox: proxy and proxy-CA build args (see docs/sandbox.md)";

/// The result of [`patch_dockerfile`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DockerfilePatch {
    /// The patched text (the input itself when nothing was missing).
    pub text: String,
    /// How many stages the file has.
    pub stages: usize,
    /// How many of them got declarations.
    pub stages_changed: usize,
}

impl DockerfilePatch {
    /// Whether the text changed.
    pub fn changed(&self) -> bool {
        self.stages_changed > 0
    }
}

/// Adds `ARG` lines for [`PROXY_BUILD_ARGS`] right after every `FROM` that
/// lacks them (a stage declaring some keeps those and gets the rest).
/// Everything else is kept byte for byte. Patching a patched file changes
/// nothing. A file without `FROM` is refused.
pub fn patch_dockerfile(text: &str) -> Result<DockerfilePatch, DockerfileError> {
    declare_args(text, PROXY_BUILD_ARGS)
}

/// The predefined proxy args (see [`PREDEFINED_PROXY_ARGS`]) that `text`
/// declares itself, in order, once each: their values show in `docker
/// history`.
pub fn declared_predefined_args(text: &str) -> Result<Vec<String>, DockerfileError> {
    let doc = Document::parse(text)?;
    let mut found: Vec<String> = Vec::new();
    for stage in doc.stages() {
        for name in declared_args(&stage) {
            if PREDEFINED_PROXY_ARGS.contains(&name) && !found.iter().any(|f| f == name) {
                found.push(name.to_string());
            }
        }
    }
    Ok(found)
}

fn declare_args(text: &str, names: &[&str]) -> Result<DockerfilePatch, DockerfileError> {
    let doc = Document::parse(text)?;
    let stages = doc.stages();
    if stages.is_empty() {
        return Err(DockerfileError::NoFrom);
    }
    let mut insertions = BTreeMap::new();
    for stage in &stages {
        let declared = declared_args(stage);
        let missing: Vec<&str> = names
            .iter()
            .copied()
            .filter(|name| !declared.contains(name))
            .collect();
        if missing.is_empty() {
            continue;
        }
        if stage.from.open_continuation {
            return Err(DockerfileError::OpenContinuation {
                line: stage.from.first_line + 1,
                escape: stage.from.escape,
            });
        }
        let indent = doc.indent_of(stage.from.first_line);
        let mut lines = vec![format!("{indent}{ARGS_COMMENT}")];
        lines.extend(missing.iter().map(|name| format!("{indent}ARG {name}")));
        insertions.insert(stage.from.last_line, lines);
    }
    Ok(DockerfilePatch {
        text: if insertions.is_empty() {
            text.to_string()
        } else {
            doc.render(&insertions)
        },
        stages: stages.len(),
        stages_changed: insertions.len(),
    })
}

/// Whether [`patch_dockerfile`] would change `text` (for `--check`).
pub fn needs_patch(text: &str) -> Result<bool, DockerfileError> {
    patch_dockerfile(text).map(|p| p.changed())
}

/// Names a stage declares: `ARG name`, `ARG name=default`, `ARG a b`.
fn declared_args<'d>(stage: &Stage<'d>) -> Vec<&'d str> {
    stage.body.iter().flat_map(Instruction::arg_names).collect()
}
