//! The in-memory build rewrite: every `RUN` step of a stage with a shell
//! runs inside a wrapper that trusts the proxy CA for that step alone.
//!
//! Why per step, and why nothing is copied in: the classic builder commits
//! every instruction as a layer, so a CA `COPY`ed in (or a bundle extended
//! by one step and cleaned by a later one) stays in the image's lower layers
//! even when the last layer hides it. Inside one `RUN`, a file created and
//! deleted again leaves no trace in that step's layer, and a bundle restored
//! to its own bytes holds none of the CA's.
//!
//! How the wrapper and the CA reach the step: as the value of
//! [`CA_BUILD_ARG`] (`FTP_PROXY`), the script ([`wrapper_script`]) with the
//! CA's PEM inside. Docker predefines its proxy build args: they reach `RUN`
//! steps without an `ARG` declaration, and while undeclared they stay out of
//! `docker history` and out of the build cache's key (so a rotated CA does
//! not invalidate cached steps, which hold none of it). A declared build arg
//! would put its value in the history; a file in the context could be copied
//! into the image by `COPY . .`. A sandbox has no FTP proxy (its proxy speaks
//! HTTP `CONNECT`). Each step starts with [`LAUNCHER`], which evaluates the
//! value only when it is ours and otherwise runs the step as it is; the
//! wrapper unsets the variable before the step's own command runs. So the
//! rewritten Dockerfile and the history show one short line per step, not
//! the script.
//!
//! What the wrapper does (POSIX `sh`, the tools of Debian's, Alpine's and
//! Red Hat's base images):
//! - exports `NODE_USE_ENV_PROXY=1` unless the step's environment sets it;
//! - with a CA: writes it to a private temporary directory; appends it to each
//!   writable system bundle (the step runs as root); places it where
//!   `update-ca-certificates` / `update-ca-trust` read local CAs, so a step
//!   that refreshes the store keeps trusting it; points the trust variables
//!   ([`TRUST_VARS`]) that the step's environment leaves unset at the CA
//!   (additive ones) or at the system bundle plus the CA (replacing ones;
//!   this is how a step run by a non-root `USER` trusts the proxy);
//! - runs the step's command and keeps its exit status;
//! - restores each bundle's own bytes (keeping whatever the step appended),
//!   removes the placed CA, refreshes the store again when the step had
//!   refreshed it (its symlink in `/etc/ssl/certs`, or files in
//!   `/etc/pki/ca-trust/extracted` newer than the placing), and deletes the
//!   temporary directory.
//!
//! Shell-form steps keep the stage's `SHELL` (default `/bin/sh -c`), exec
//! form keeps its argv, and `RUN` flags (`--mount`, `--network`) stay in
//! front. `FROM scratch` and distroless stages have no shell to run the
//! wrapper and are left alone, as are stages without `RUN`.

use std::collections::BTreeMap;

use super::parse::{BaseRef, Document, Instruction};
use super::DockerfileError;
use crate::proxy::ProxyVar;
use crate::sandbox::patch::{NODE_USE_ENV_PROXY, NODE_USE_ENV_PROXY_ON};
use crate::trust::{TrustVarKind, TRUST_VARS};

/// The build arg that carries the proxy CA's PEM to the wrapped `RUN` steps
/// (a Docker-predefined proxy arg: see the module docs).
pub const CA_BUILD_ARG: &str = ProxyVar::FTP_PROXY.upper;

/// Where the rewritten Dockerfile travels in the build context, beside the
/// caller's own (which stays as it was). The context's `.dockerignore`
/// gets this name and its own (see [`hide_build_files`](super::hide_build_files)),
/// so the builder reads the file but no `COPY` or `ADD` can reach it.
pub const BUILD_DOCKERFILE: &str = ".nanoclaw-sandbox.Dockerfile";

/// A build arg as it may be shown (a dry run, the `docker` drop-in's
/// `--explain`): [`CA_BUILD_ARG`] as what it is (the wrapper script, with
/// the proxy CA when it holds one: long, and no use to read), any other
/// secrets redacted and URL credentials removed.
pub fn build_arg_for_display(name: &str, value: &str) -> String {
    if name == CA_BUILD_ARG {
        let ca = if value.contains("BEGIN CERTIFICATE") {
            " with the proxy CA"
        } else {
            ""
        };
        return format!("<the RUN-step wrapper{ca}, {} bytes>", value.len());
    }
    crate::redact::env_value_for_display(name, value)
}

/// The name the wrapper runs under (`$0`), as shown in `docker history`,
/// and the first line of [`wrapper_script`] (how [`LAUNCHER`] knows it).
const WRAPPER_NAME: &str = "nanoclaw-sandbox-run";

/// What every wrapped step runs first (`sh -c LAUNCHER nanoclaw-sandbox-run
/// STEP...`): the wrapper from [`CA_BUILD_ARG`] when that holds ours, else
/// the step itself.
pub const LAUNCHER: &str =
    "case \"${FTP_PROXY-}\" in \"# nanoclaw-sandbox-run\"*) eval \"$FTP_PROXY\";; esac; exec \"$@\"";

/// The shell form's interpreter when the stage sets no `SHELL`.
const DEFAULT_SHELL: &[&str] = &["/bin/sh", "-c"];

/// Why a stage's steps were left unwrapped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SkipReason {
    /// `FROM scratch`, a distroless image, or a stage built on one: no shell to run the wrapper.
    NoShell,
    /// The stage has no `RUN` step, so nothing in it needs the proxy.
    NoRunStep,
}

/// A stage left unwrapped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedStage {
    /// 0-based stage index.
    pub index: usize,
    /// What its `FROM` names.
    pub base: String,
    /// Why.
    pub reason: SkipReason,
}

/// The result of [`wrap_run_steps`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunWrapRewrite {
    /// The Dockerfile to build (never written to disk): put it in the
    /// context as [`BUILD_DOCKERFILE`].
    pub dockerfile: String,
    /// How many `RUN` steps were wrapped.
    pub wrapped_steps: usize,
    /// Stages left as they were, and why.
    pub skipped: Vec<SkippedStage>,
}

/// What stages built on a stage inherit from it.
struct StageFacts {
    no_shell: bool,
    shell: Vec<String>,
}

fn default_shell() -> Vec<String> {
    DEFAULT_SHELL.iter().map(|s| s.to_string()).collect()
}

/// Rewrites `dockerfile` so that each `RUN` step of a stage with a shell runs
/// inside the wrapper (see the module docs). Comments, directives, other
/// instructions and line endings stay as they were. A Dockerfile declaring
/// [`CA_BUILD_ARG`] is refused: its value would be recorded in the history.
pub fn wrap_run_steps(dockerfile: &str) -> Result<RunWrapRewrite, DockerfileError> {
    let doc = Document::parse(dockerfile)?;
    if doc.stages().is_empty() {
        return Err(DockerfileError::NoFrom);
    }
    if let Some(arg) = doc.instructions.iter().find(|i| declares(i, CA_BUILD_ARG)) {
        return Err(DockerfileError::ReservedArg {
            line: arg.first_line + 1,
            name: CA_BUILD_ARG,
        });
    }
    let mut replacements = BTreeMap::new();
    let mut facts: Vec<StageFacts> = Vec::new();
    let mut skipped = Vec::new();
    // Global `ARG` defaults resolve `FROM ${BASE}`; what stays unresolved is
    // taken for an image with a shell.
    for (index, resolved) in doc.resolved_stages(&BTreeMap::new()).iter().enumerate() {
        let stage = &resolved.stage;
        let base = stage.base();
        let (no_shell, mut shell) = match &resolved.base {
            Ok(BaseRef::Stage(parent)) => match facts.get(*parent) {
                Some(parent) => (parent.no_shell, parent.shell.clone()),
                None => (false, default_shell()),
            },
            Ok(BaseRef::Scratch) => (true, default_shell()),
            Ok(BaseRef::Image(image)) => (image.contains("distroless"), default_shell()),
            Err(_) => (false, default_shell()),
        };
        let has_run = stage.body.iter().any(|i| i.keyword == "RUN");
        let skip = if no_shell {
            Some(SkipReason::NoShell)
        } else if !has_run {
            Some(SkipReason::NoRunStep)
        } else {
            None
        };
        if let Some(reason) = skip {
            skipped.push(SkippedStage {
                index,
                base: base.to_string(),
                reason,
            });
        }
        for instruction in stage.body {
            match instruction.keyword.as_str() {
                "SHELL" => {
                    if let Some(argv) = json_argv(&instruction.args) {
                        shell = argv;
                    }
                }
                // Heredoc steps need a newer builder than the one this
                // rewrite targets (`check_builder_support` refuses them first).
                "RUN" if skip.is_none() && instruction.heredocs.is_empty() => {
                    let indent = doc.indent_of(instruction.first_line);
                    let line = format!("{indent}{}", wrapped_run(instruction, &shell));
                    replacements.insert(instruction.first_line, (instruction.last_own_line, line));
                }
                _ => {}
            }
        }
        facts.push(StageFacts { no_shell, shell });
    }
    Ok(RunWrapRewrite {
        dockerfile: doc.render_edits(&Default::default(), &replacements),
        wrapped_steps: replacements.len(),
        skipped,
    })
}

/// Whether `instruction` is an `ARG` or `ENV` setting `name` (an `ENV`
/// would hide the build arg from the steps).
fn declares(instruction: &Instruction, name: &str) -> bool {
    let mut words = instruction.args.split_whitespace();
    match instruction.keyword.as_str() {
        "ARG" => instruction.arg_names().any(|n| n == name),
        "ENV" => match words.next() {
            // `ENV NAME value`, the legacy form.
            Some(first) if !first.contains('=') => first == name,
            Some(first) => std::iter::once(first)
                .chain(words)
                .filter_map(|word| word.split_once('='))
                .any(|(n, _)| n == name),
            None => false,
        },
        _ => false,
    }
}

/// A JSON array of strings (exec form), or `None` (Docker then takes the
/// text as shell form).
fn json_argv(text: &str) -> Option<Vec<String>> {
    if !text.trim_start().starts_with('[') {
        return None;
    }
    serde_json::from_str(text.trim()).ok()
}

/// `RUN [flags] ["/bin/sh", "-c", LAUNCHER, name, argv...]`: exec form, so
/// the wrapper runs the same way whatever `SHELL` says, and the step's own
/// argv (its shell-form text under the stage's shell, or its exec form) follows.
fn wrapped_run(instruction: &Instruction, shell: &[String]) -> String {
    let (flags, command) = instruction.split_flags();
    let mut argv: Vec<String> = DEFAULT_SHELL.iter().map(|s| s.to_string()).collect();
    argv.push(LAUNCHER.to_string());
    argv.push(WRAPPER_NAME.to_string());
    match json_argv(command) {
        Some(exec) => argv.extend(exec),
        None => {
            argv.extend(shell.iter().cloned());
            argv.push(command.to_string());
        }
    }
    // Serializing strings to JSON cannot fail.
    let json = serde_json::to_string(&argv).unwrap_or_default();
    if flags.is_empty() {
        format!("RUN {json}")
    } else {
        format!("RUN {flags} {json}")
    }
}

/// The value of [`CA_BUILD_ARG`] for a build: the wrapper (see the module
/// docs), evaluated by [`LAUNCHER`] with `"$@"` the step, with `ca_pem`
/// inside when the proxy intercepts TLS. POSIX sh, its trust variables
/// generated from the table builds and containers share.
pub fn wrapper_script(ca_pem: Option<&str>) -> String {
    let head = format!(
        "# {WRAPPER_NAME}: nanoclaw-sandbox's build-step wrapper (docs/sandbox.md)\n\
         [ \"${{{lower}-}}\" != \"${arg}\" ] || unset {lower}; unset {arg}\n\
         [ -n \"${{{node}+x}}\" ] || export {node}={node_on}\n",
        arg = CA_BUILD_ARG,
        // BuildKit sets each predefined proxy arg in both cases.
        lower = CA_BUILD_ARG.to_ascii_lowercase(),
        node = NODE_USE_ENV_PROXY,
        node_on = NODE_USE_ENV_PROXY_ON,
    );
    let Some(pem) = ca_pem else {
        return format!("{head}exec \"$@\"\n");
    };
    // Single-quoted for sh (a PEM holds no quote; escaped all the same).
    let pem = pem.trim_end().replace('\'', "'\\''");
    let mut exports = String::new();
    for var in TRUST_VARS {
        let file = match var.kind {
            TrustVarKind::Additive => "$d/ca.pem",
            TrustVarKind::Replacing => "$d/bundle.pem",
        };
        exports.push_str(&format!("t {} {file}; ", var.name));
    }
    format!(
        "{head}c='{pem}'\n\
d=$(mktemp -d /tmp/nanoclaw-proxy-ca.XXXXXX 2>/dev/null) || {{ echo 'nanoclaw-sandbox: no temporary directory: this step does not trust the proxy CA' >&2; exec \"$@\"; }}; \
printf '%s\\n' \"$c\" > \"$d/ca.pem\"; \
seen=' '; n=0; \
for f in /etc/ssl/certs/ca-certificates.crt /etc/pki/tls/certs/ca-bundle.crt /etc/ssl/ca-bundle.pem /etc/ssl/cert.pem; do \
[ -f \"$f\" ] || continue; r=$(readlink -f \"$f\" 2>/dev/null || echo \"$f\"); \
case \"$seen\" in *\" $r \"*) continue;; esac; seen=\"$seen$r \"; \
[ -f \"$d/bundle.pem\" ] || cat \"$r\" \"$d/ca.pem\" > \"$d/bundle.pem\"; \
[ -w \"$r\" ] || continue; n=$((n+1)); \
cp \"$r\" \"$d/orig.$n\" && cat \"$d/orig.$n\" \"$d/ca.pem\" > \"$d/new.$n\" && cat \"$d/new.$n\" > \"$r\" && printf '%s\\n' \"$r\" > \"$d/path.$n\"; \
done; \
: > \"$d/placed\"; made=; \
if [ -d /usr/local/share ] && [ ! -d /usr/local/share/ca-certificates ] && [ -w /usr/local/share ]; then mkdir /usr/local/share/ca-certificates && made=1; fi; \
for s in /usr/local/share/ca-certificates /etc/pki/ca-trust/source/anchors; do \
[ -d \"$s\" ] && [ -w \"$s\" ] && cp \"$d/ca.pem\" \"$s/nanoclaw-proxy-ca.crt\" && printf '%s\\n' \"$s/nanoclaw-proxy-ca.crt\" >> \"$d/placed\"; \
done; \
t() {{ eval \"v=\\${{$1-}}\"; if [ -z \"$v\" ]; then [ -f \"$2\" ] && export \"$1=$2\"; \
elif [ -r \"$v\" ]; then cat \"$v\" \"$d/ca.pem\" > \"$d/$1.pem\" && export \"$1=$d/$1.pem\"; fi; }}; \
{exports}\
\"$@\"; rc=$?; \
refresh=; [ -L /etc/ssl/certs/nanoclaw-proxy-ca.pem ] && refresh=1; \
if [ -s \"$d/placed\" ] && [ -d /etc/pki/ca-trust/extracted ] && [ -n \"$(find /etc/pki/ca-trust/extracted -newer \"$d/placed\" -type f 2>/dev/null | head -n 1)\" ]; then refresh=1; fi; \
while read -r p; do rm -f \"$p\"; done < \"$d/placed\"; \
if [ -n \"$made\" ] && ! command -v update-ca-certificates >/dev/null 2>&1; then rmdir /usr/local/share/ca-certificates 2>/dev/null; fi; \
i=0; while [ $i -lt $n ]; do i=$((i+1)); [ -f \"$d/path.$i\" ] || continue; r=$(cat \"$d/path.$i\"); \
if [ \"$(cksum < \"$r\")\" = \"$(cksum < \"$d/new.$i\")\" ]; then cat \"$d/orig.$i\" > \"$r\"; \
else z=$(wc -c < \"$d/new.$i\"); \
if [ \"$(head -c \"$z\" \"$r\" | cksum)\" = \"$(cksum < \"$d/new.$i\")\" ]; then {{ cat \"$d/orig.$i\"; tail -c +$((z+1)) \"$r\"; }} > \"$d/keep\" && cat \"$d/keep\" > \"$r\"; \
else refresh=1; fi; fi; \
done; \
if [ -n \"$refresh\" ]; then \
if command -v update-ca-certificates >/dev/null 2>&1; then update-ca-certificates --fresh >/dev/null 2>&1 || echo 'nanoclaw-sandbox: could not refresh the CA store after removing the proxy CA' >&2; \
elif command -v update-ca-trust >/dev/null 2>&1; then update-ca-trust extract || echo 'nanoclaw-sandbox: could not refresh the CA store after removing the proxy CA' >&2; fi; \
fi; \
rm -rf \"$d\"; exit $rc\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_line(text: &str) -> Vec<String> {
        let out = wrap_run_steps(text).unwrap();
        let line = out
            .dockerfile
            .lines()
            .find(|l| l.trim_start().starts_with("RUN"))
            .unwrap()
            .to_string();
        let json = &line[line.find('[').unwrap()..];
        serde_json::from_str(json).unwrap()
    }

    const PEM: &str = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";

    #[test]
    fn the_wrapper_and_launcher_are_valid_posix_shell() {
        let with_ca = wrapper_script(Some(PEM));
        let without = wrapper_script(None);
        for script in [LAUNCHER, with_ca.as_str(), without.as_str()] {
            let status = std::process::Command::new("/bin/sh")
                .args(["-n", "-c", script])
                .status()
                .unwrap();
            assert!(status.success(), "{script}");
        }
        assert!(with_ca.starts_with(&format!("# {WRAPPER_NAME}")));
        assert!(without.starts_with(&format!("# {WRAPPER_NAME}")));
        assert!(with_ca.contains(PEM.trim_end()));
    }

    #[test]
    fn the_launcher_names_the_arg_and_the_wrapper() {
        assert!(LAUNCHER.contains(&format!("\"${{{CA_BUILD_ARG}-}}\"")));
        assert!(LAUNCHER.contains(&format!("\"# {WRAPPER_NAME}\"*")));
    }

    /// The launcher runs the step as it is when the arg is not ours, the
    /// wrapper (here without a CA) when it is; the step's status comes back.
    #[test]
    fn the_launcher_runs_the_wrapper_only_when_the_arg_is_ours() {
        let run = |ftp: Option<&str>| {
            let mut cmd = std::process::Command::new("/bin/sh");
            cmd.args([
                "-c",
                LAUNCHER,
                WRAPPER_NAME,
                "/bin/sh",
                "-c",
                "echo \"${NODE_USE_ENV_PROXY-unset} ${FTP_PROXY-unset}\"; exit 3",
            ])
            .env_remove("NODE_USE_ENV_PROXY")
            .env_remove("FTP_PROXY");
            if let Some(value) = ftp {
                cmd.env("FTP_PROXY", value);
            }
            let out = cmd.output().unwrap();
            (String::from_utf8(out.stdout).unwrap(), out.status.code())
        };
        assert_eq!(run(None), ("unset unset\n".into(), Some(3)));
        assert_eq!(
            run(Some("http://ftp.proxy:21")),
            ("unset http://ftp.proxy:21\n".into(), Some(3))
        );
        assert_eq!(
            run(Some(&wrapper_script(None))),
            ("1 unset\n".into(), Some(3))
        );
    }

    /// BuildKit sets `ftp_proxy` too, to the same value: the wrapper unsets
    /// it only then (an `ftp_proxy` of the step's own stays).
    #[test]
    fn the_wrapper_unsets_the_lowercase_copy_of_its_arg_only() {
        let run = |lower: &str| {
            let script = wrapper_script(None);
            let out = std::process::Command::new("/bin/sh")
                .args([
                    "-c",
                    LAUNCHER,
                    WRAPPER_NAME,
                    "/bin/sh",
                    "-c",
                    "echo \"${ftp_proxy-unset} ${FTP_PROXY-unset}\"",
                ])
                .env("FTP_PROXY", &script)
                .env("ftp_proxy", if lower == "same" { &script } else { lower })
                .output()
                .unwrap();
            String::from_utf8(out.stdout).unwrap()
        };
        assert_eq!(run("same"), "unset unset\n");
        assert_eq!(run("http://ftp.test:21"), "http://ftp.test:21 unset\n");
    }

    #[test]
    fn the_wrapper_sets_every_trust_variable() {
        let script = wrapper_script(Some(PEM));
        for var in TRUST_VARS {
            assert!(script.contains(&format!("t {} ", var.name)), "{}", var.name);
        }
    }

    #[test]
    fn shell_form_runs_under_the_stage_shell_and_exec_form_keeps_its_argv() {
        let argv = run_line("FROM debian\nRUN apt-get update && \\\n  apt-get install -y curl\n");
        assert_eq!(&argv[..3], ["/bin/sh", "-c", LAUNCHER]);
        assert_eq!(argv[3], WRAPPER_NAME);
        assert_eq!(
            &argv[4..],
            [
                "/bin/sh",
                "-c",
                "apt-get update &&   apt-get install -y curl"
            ]
        );
        let argv = run_line(
            "FROM debian\nSHELL [\"/bin/bash\", \"-eo\", \"pipefail\", \"-c\"]\nRUN a | b\n",
        );
        assert_eq!(&argv[4..], ["/bin/bash", "-eo", "pipefail", "-c", "a | b"]);
        let argv = run_line("FROM debian\nRUN [\"npm\", \"ci\"]\n");
        assert_eq!(&argv[4..], ["npm", "ci"]);
    }

    #[test]
    fn flags_stay_in_front() {
        let out = wrap_run_steps("FROM debian\nRUN --mount=type=cache,target=/root/.npm  npm ci\n")
            .unwrap();
        let line = out.dockerfile.lines().nth(1).unwrap();
        assert!(
            line.starts_with("RUN --mount=type=cache,target=/root/.npm [\"/bin/sh\""),
            "{line}"
        );
        assert!(line.ends_with("\"/bin/sh\",\"-c\",\"npm ci\"]"), "{line}");
    }

    #[test]
    fn a_stage_inherits_its_parents_shell_and_shell_less_stages_are_skipped() {
        let text = "FROM debian AS base\nSHELL [\"/bin/bash\", \"-c\"]\nFROM base\nRUN x\n\
                    FROM scratch\nCOPY --from=1 /x /x\nFROM gcr.io/distroless/static\nRUN [\"/busybox/sh\", \"-c\", \"y\"]\n";
        let out = wrap_run_steps(text).unwrap();
        assert_eq!(out.wrapped_steps, 1);
        let reasons: Vec<_> = out.skipped.iter().map(|s| (s.index, s.reason)).collect();
        assert_eq!(
            reasons,
            [
                (0, SkipReason::NoRunStep),
                (2, SkipReason::NoShell),
                (3, SkipReason::NoShell)
            ]
        );
        assert!(out.dockerfile.contains("\"/bin/bash\",\"-c\",\"x\"]"));
        assert!(out
            .dockerfile
            .ends_with("RUN [\"/busybox/sh\", \"-c\", \"y\"]\n"));
    }

    #[test]
    fn everything_else_is_kept_byte_for_byte() {
        let text = "# escape=`\r\nFROM debian\r\n# a comment\r\nENV A=1\r\nRUN echo `\r\n  hi\r\nCMD [\"x\"]";
        let out = wrap_run_steps(text).unwrap();
        let lines: Vec<&str> = out.dockerfile.split("\r\n").collect();
        assert_eq!(
            &lines[..4],
            ["# escape=`", "FROM debian", "# a comment", "ENV A=1"]
        );
        assert!(lines[4].starts_with("RUN [\"/bin/sh\""), "{}", lines[4]);
        assert!(lines[4].ends_with("\"echo   hi\"]"), "{}", lines[4]);
        assert_eq!(lines[5], "CMD [\"x\"]");
        assert_eq!(lines.len(), 6);
    }

    #[test]
    fn declaring_the_ca_arg_is_refused_with_its_line() {
        let err = wrap_run_steps("FROM debian\nARG FTP_PROXY\nRUN x\n").unwrap_err();
        assert_eq!(
            err,
            DockerfileError::ReservedArg {
                line: 2,
                name: CA_BUILD_ARG
            }
        );
        assert!(err.to_string().contains("line 2"), "{err}");
    }
}
