//! The in-memory build rewrite: each stage's `RUN` steps trust the proxy CA,
//! and the stage ends by removing that trust again.
//!
//! Why not bake the CA in: the sandbox's CA rotates, so an image trusting it
//! would trust a stale (or someone else's) CA later. Why not turn TLS
//! verification off (`strict-ssl=false`, `--trusted-host`): that trusts every
//! certificate, not just the proxy's.
//!
//! Per stage that has a `RUN` step and a shell:
//! ```text
//! FROM base
//! ARG NODE_USE_ENV_PROXY ...  (only the args Docker does not predefine, if missing)
//! USER root                    (only when the stage starts as another user)
//! COPY nanoclaw-proxy-ca.crt /usr/local/share/ca-certificates/nanoclaw-proxy-ca.crt
//! RUN ["/bin/sh", "-c", "<install: update-ca-certificates | update-ca-trust | append>"]
//! USER <start user>            (back, when switched)
//! ... the stage's own instructions ...
//! USER root                    (only when the stage ends as another user)
//! RUN ["/bin/sh", "-c", "<remove and refresh the store>"]
//! USER <end user>              (back, when switched)
//! ```
//! The removal follows the stage's last instruction: `CMD`, `ENTRYPOINT` and
//! the like are metadata a later `RUN` does not change, and exec form keeps
//! the steps independent of a `SHELL` instruction. `FROM scratch` and
//! distroless stages have no shell and are skipped, as are stages without
//! `RUN` (nothing in them makes a TLS connection from inside the image).

use std::collections::BTreeMap;

use super::args::declare_build_time_args;
use super::parse::{Document, Stage};
use super::DockerfileError;

/// The CA's file name in the build context.
pub const CONTEXT_CA_FILE: &str = "nanoclaw-proxy-ca.crt";

/// Where stages get the CA during the build (also `NODE_EXTRA_CA_CERTS`'s
/// build-arg value, since Node ignores the system store).
pub const IMAGE_CA_PATH: &str = "/usr/local/share/ca-certificates/nanoclaw-proxy-ca.crt";

/// Installs the CA with whatever the image has. The bundle is backed up
/// first, so the removal can undo an append even when no store tool is left.
/// Every branch tolerates failure (a non-root base user it was not told
/// about): the COPY already placed the file for `NODE_EXTRA_CA_CERTS`, and
/// Debian's ca-certificates postinst picks it up if a later step installs
/// the package.
const INSTALL_SCRIPT: &str = "f=/usr/local/share/ca-certificates/nanoclaw-proxy-ca.crt; b=/etc/ssl/certs/ca-certificates.crt; \
if [ -f $b ]; then cp $b $b.nanoclaw-orig 2>/dev/null || true; fi; \
if command -v update-ca-certificates >/dev/null 2>&1; then update-ca-certificates >/dev/null 2>&1 || echo 'nanoclaw-sandbox: update-ca-certificates failed: RUN steps may not trust the proxy CA' >&2; \
elif command -v update-ca-trust >/dev/null 2>&1; then { cp $f /etc/pki/ca-trust/source/anchors/nanoclaw-proxy-ca.crt && update-ca-trust extract; } || echo 'nanoclaw-sandbox: update-ca-trust failed: RUN steps may not trust the proxy CA' >&2; \
elif [ -f $b ]; then cat $f >> $b || echo 'nanoclaw-sandbox: cannot extend the CA bundle: RUN steps may not trust the proxy CA' >&2; \
else echo 'nanoclaw-sandbox: no CA store in this image: only NODE_EXTRA_CA_CERTS trusts the proxy CA' >&2; fi";

/// Removes the CA and rebuilds the store with the tool the image has now
/// (a step may have installed one), else restores the backed-up bundle.
const REMOVE_SCRIPT: &str = "b=/etc/ssl/certs/ca-certificates.crt; rm -f /usr/local/share/ca-certificates/nanoclaw-proxy-ca.crt /etc/pki/ca-trust/source/anchors/nanoclaw-proxy-ca.crt; \
if command -v update-ca-certificates >/dev/null 2>&1; then update-ca-certificates --fresh >/dev/null 2>&1 || update-ca-certificates >/dev/null 2>&1 || echo 'nanoclaw-sandbox: could not refresh the CA store after removing the proxy CA' >&2; \
elif command -v update-ca-trust >/dev/null 2>&1; then update-ca-trust extract || echo 'nanoclaw-sandbox: could not refresh the CA store after removing the proxy CA' >&2; \
elif [ -f $b.nanoclaw-orig ]; then cp $b.nanoclaw-orig $b || echo 'nanoclaw-sandbox: could not restore the CA bundle' >&2; fi; \
rm -f $b.nanoclaw-orig";

const INSTALL_COMMENT: &str =
    "# nanoclaw-sandbox (build only): trust the proxy CA for this stage's RUN steps";
const REMOVE_COMMENT: &str =
    "# nanoclaw-sandbox (build only): stop trusting the proxy CA, which rotates";

/// A file to add to the build context.
#[derive(Clone, PartialEq, Eq)]
pub struct ContextFile {
    /// Its path in the context.
    pub name: String,
    /// Its content.
    pub bytes: Vec<u8>,
    /// Its mode in the context's tar (0644: readable by any build user).
    pub mode: u32,
}

impl std::fmt::Debug for ContextFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ContextFile")
            .field("name", &self.name)
            .field("bytes", &self.bytes.len())
            .field("mode", &format_args!("{:o}", self.mode))
            .finish()
    }
}

/// Why a stage got no CA steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SkipReason {
    /// `FROM scratch`, a distroless image, or a stage built on one: no shell to run the steps.
    NoShell,
    /// The stage has no `RUN` step, so nothing in it needs the CA.
    NoRunStep,
}

/// A stage left without CA steps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedStage {
    /// 0-based stage index.
    pub index: usize,
    /// What its `FROM` names.
    pub base: String,
    /// Why.
    pub reason: SkipReason,
}

/// The result of [`add_ca_steps`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaBuildRewrite {
    /// The Dockerfile to build (never written to disk).
    pub dockerfile: String,
    /// The CA to add to the build context as [`CONTEXT_CA_FILE`].
    pub context_file: ContextFile,
    /// Stages left as they were, and why.
    pub skipped: Vec<SkippedStage>,
}

/// What is known about a stage once its steps are placed, for stages built on it.
struct StageFacts {
    alias: Option<String>,
    no_shell: bool,
    end_user: Option<String>,
}

/// Rewrites `dockerfile` for one build behind the intercepting proxy: the
/// build-time declarations ([`declare_build_time_args`]: the args Docker
/// does not predefine) first, then the CA steps in every
/// stage with a shell and a `RUN` step. `base_image_users` maps a base image
/// reference (as written after `FROM`) to its configured user (`docker image
/// inspect`'s `Config.User`); an image missing there is taken to run as root.
pub fn add_ca_steps(
    dockerfile: &str,
    ca_pem: &str,
    base_image_users: &BTreeMap<String, String>,
) -> Result<CaBuildRewrite, DockerfileError> {
    let with_args = declare_build_time_args(dockerfile)?.text;
    let doc = Document::parse(&with_args)?;
    let mut insertions: BTreeMap<usize, Vec<String>> = BTreeMap::new();
    let mut facts: Vec<StageFacts> = Vec::new();
    let mut skipped = Vec::new();
    for (index, stage) in doc.stages().iter().enumerate() {
        let base = stage.base();
        let parent = facts.iter().enumerate().find(|(n, f)| {
            base == n.to_string()
                || f.alias
                    .as_deref()
                    .is_some_and(|a| a.eq_ignore_ascii_case(base))
        });
        let (no_shell, start_user) = match parent {
            Some((_, parent)) => (parent.no_shell, parent.end_user.clone()),
            None => (
                base.eq_ignore_ascii_case("scratch") || base.contains("distroless"),
                base_image_users.get(base).cloned(),
            ),
        };
        let end_user = stage
            .body
            .iter()
            .rev()
            .find(|i| i.keyword == "USER")
            .map(|i| i.args.clone())
            .or_else(|| start_user.clone());
        let has_run = stage.body.iter().any(|i| i.keyword == "RUN");
        let skip = if no_shell {
            Some(SkipReason::NoShell)
        } else if !has_run {
            Some(SkipReason::NoRunStep)
        } else {
            None
        };
        match skip {
            Some(reason) => skipped.push(SkippedStage {
                index,
                base: base.to_string(),
                reason,
            }),
            None => {
                let indent = doc.indent_of(stage.from.first_line);
                let install = as_root(
                    INSTALL_COMMENT,
                    start_user.as_deref(),
                    vec![
                        format!("COPY {CONTEXT_CA_FILE} {IMAGE_CA_PATH}"),
                        run_exec(INSTALL_SCRIPT),
                    ],
                );
                let remove = as_root(
                    REMOVE_COMMENT,
                    end_user.as_deref(),
                    vec![run_exec(REMOVE_SCRIPT)],
                );
                let indented =
                    |lines: Vec<String>| lines.into_iter().map(|l| format!("{indent}{l}"));
                insertions
                    .entry(leading_args_end(stage))
                    .or_default()
                    .extend(indented(install));
                insertions
                    .entry(stage.last_line())
                    .or_default()
                    .extend(indented(remove));
            }
        }
        facts.push(StageFacts {
            alias: stage.alias().map(str::to_string),
            no_shell,
            end_user,
        });
    }
    Ok(CaBuildRewrite {
        dockerfile: doc.render(&insertions),
        context_file: ContextFile {
            name: CONTEXT_CA_FILE.to_string(),
            bytes: ca_pem.as_bytes().to_vec(),
            mode: 0o644,
        },
        skipped,
    })
}

/// The line after which the stage's leading `ARG`s end (or its `FROM`).
fn leading_args_end(stage: &Stage<'_>) -> usize {
    stage
        .body
        .iter()
        .take_while(|i| i.keyword == "ARG")
        .last()
        .unwrap_or(stage.from)
        .last_line
}

/// `comment`, then `steps`, bracketed by `USER root` and a switch back when
/// `user` is not root.
fn as_root(comment: &str, user: Option<&str>, steps: Vec<String>) -> Vec<String> {
    let mut out = vec![comment.to_string()];
    match user.filter(|u| !is_root(u)) {
        None => out.extend(steps),
        Some(user) => {
            out.push("USER root".to_string());
            out.extend(steps);
            out.push(format!("USER {user}"));
        }
    }
    out
}

/// `""`, `root`, `0`, with or without a group.
fn is_root(user: &str) -> bool {
    let name = user.split(':').next().unwrap_or_default().trim();
    name.is_empty() || name == "root" || name == "0"
}

/// `RUN ["/bin/sh", "-c", script]`: exec form, so a `SHELL` instruction in
/// the stage does not change how the steps run.
fn run_exec(script: &str) -> String {
    // Serializing a string to JSON cannot fail.
    let script = serde_json::to_string(script).unwrap_or_default();
    format!("RUN [\"/bin/sh\", \"-c\", {script}]")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_users_are_recognised() {
        for user in ["", "root", "0", "0:0", "root:wheel"] {
            assert!(is_root(user), "{user}");
        }
        for user in ["node", "1000", "1000:1000", "app:root"] {
            assert!(!is_root(user), "{user}");
        }
    }

    #[test]
    fn scripts_are_valid_posix_shell() {
        for script in [INSTALL_SCRIPT, REMOVE_SCRIPT] {
            let status = std::process::Command::new("/bin/sh")
                .args(["-n", "-c", script])
                .status()
                .unwrap();
            assert!(status.success(), "sh -n rejects: {script}");
        }
    }

    #[test]
    fn steps_run_in_exec_form_without_backslashes_or_double_quotes() {
        for script in [INSTALL_SCRIPT, REMOVE_SCRIPT] {
            assert!(!script.contains('\\') && !script.contains('"'), "{script}");
            let line = run_exec(script);
            let json = line.strip_prefix("RUN ").unwrap();
            let parsed: Vec<String> = serde_json::from_str(json).unwrap();
            assert_eq!(parsed, ["/bin/sh", "-c", script]);
        }
    }
}
