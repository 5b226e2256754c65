//! `nanoclaw-sandbox docker ARGS…`, and this executable installed as
//! `docker`: the real docker, with the sandbox patches on `run`/`create`
//! and `build` when the environment is a sandbox (docs/shim.md).
//!
//! The arguments never go through clap: they are docker's. In standard
//! Docker, and for every command other than `run`/`create`/`build`, the real docker
//! is exec'd with the arguments byte for byte, so its output, exit code,
//! TTY and signals are its own.

use std::ffi::{OsStr, OsString};
use std::io::{Seek as _, SeekFrom, Write as _};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};

use anyhow::Context as _;
use nanoclaw_sandbox_core::docker_cli::{
    self, parse_env_file, redacted, BuildInvocation, DockerCommand, ParseError, RewriteContext,
    STDIN_CONTEXT,
};
use nanoclaw_sandbox_core::dockerfile::DockerfileError;
use nanoclaw_sandbox_core::doctor::ShimFacts;
use nanoclaw_sandbox_core::mount_policy;
use nanoclaw_sandbox_core::runtime::RuntimeError;
use nanoclaw_sandbox_core::sandbox::runtime::prepare_build;
use nanoclaw_sandbox_core::sandbox::{PatchReport, SandboxEnv, SandboxPatcher, Severity};

use crate::build_context;
use crate::engine::WORKSPACE_VAR;
use crate::shim_kept::{self, KeptDir};

/// The real docker, when it is not the next `docker` on `PATH`.
pub(crate) const REAL_DOCKER_VAR: &str = "NANOCLAW_REAL_DOCKER";
/// `1`: print the rewritten command line on stderr (secrets redacted).
pub(crate) const EXPLAIN_VAR: &str = "NANOCLAW_SHIM_EXPLAIN";
/// The name the shim answers to as `argv[0]`.
pub(crate) const DOCKER: &str = "docker";
/// The exit code of docker's own errors (and ours before docker runs).
const DOCKER_ERROR: u8 = 125;

/// Runs `docker ARGS` (the arguments after `docker`); returns only on failure.
pub(crate) fn run(args: Vec<OsString>) -> ExitCode {
    match shim(args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("nanoclaw-sandbox docker: {e:#}");
            ExitCode::from(DOCKER_ERROR)
        }
    }
}

fn shim(args: Vec<OsString>) -> anyhow::Result<ExitCode> {
    let real = real_docker()?;
    let env =
        SandboxEnv::detect().context("cannot read the sandbox settings from the environment")?;
    if env.proxy().is_none() {
        return exec(&real, &args);
    }
    // Non-UTF-8 arguments are not a line the shim can patch faithfully: as
    // given, but never silently when it is a line the shim would patch.
    let Some(text) = args
        .iter()
        .map(|a| a.to_str().map(str::to_string))
        .collect::<Option<Vec<_>>>()
    else {
        warn_if_unpatched(&args);
        return exec(&real, &args);
    };
    let line = match docker_cli::parse(&text) {
        Ok(DockerCommand::Run(line)) => line,
        Ok(DockerCommand::Build(line)) => return build(&real, &env, &line, &args),
        Ok(DockerCommand::BuildxBuild) => {
            return pass_build(&real, &args, "`buildx build` is not read by the shim")
        }
        Ok(DockerCommand::Other) => {
            // A command that may free the kept directory: held like a
            // patched one, and a cleanup looks after it (shim_kept.rs).
            // (Kept until the exec: dropped, the lock would be released.)
            let hold = docker_cli::removes_containers(&text)
                .then(shim_kept::hold_for_removal)
                .flatten();
            if let Some(hold) = &hold {
                hold.across_exec()?;
            }
            return exec(&real, &args);
        }
        // docker refuses these itself, with its own message and exit code.
        Err(
            ParseError::MissingValue { .. }
            | ParseError::MissingShortValue { .. }
            | ParseError::MissingImage { .. },
        ) => return exec(&real, &args),
        Err(e) => {
            anyhow::bail!(
                "{e}\n(the docker shim cannot tell whether an unknown flag takes a value; \
                 write it as --flag=VALUE, or run the real docker through {REAL_DOCKER_VAR})"
            )
        }
    };
    let host_env = |name: &str| std::env::var(name).ok();
    let mut env_file_vars = Vec::new();
    for path in line.values("env-file") {
        let Ok(text) = std::fs::read_to_string(path) else {
            // docker reports the unreadable file itself.
            return exec(&real, &args);
        };
        env_file_vars.extend(parse_env_file(&text, &host_env)?);
    }
    // The kept directory, locked until the real docker exits (shim_kept.rs).
    let kept = match env.mode().ca() {
        Some(_) => Some(KeptDir::prepare(&env)?),
        None => None,
    };
    let patcher = SandboxPatcher::new(env.mode(), kept.as_ref().map(|k| k.paths.clone()))?;
    let labels: Vec<(String, String)> = kept.iter().map(|k| k.label.clone()).collect();
    let context = RewriteContext {
        patcher: &patcher,
        host_env: &host_env,
        env_file_vars: &env_file_vars,
        labels: &labels,
    };
    // The mount allowlist holds here as for `run` and the host: the
    // workspace (NANOCLAW_WORKSPACE, else the current directory) and the
    // allowlist's roots, nothing credential-like unless allowed.
    let workspace = std::env::var_os(WORKSPACE_VAR).map(PathBuf::from);
    let allowlist = std::env::var_os(mount_policy::ALLOWLIST_VAR).map(PathBuf::from);
    crate::run::mount_policy(allowlist.as_deref(), workspace.as_deref())?
        .check(&docker_cli::container_spec(&line, &context)?)?;
    let rewritten = docker_cli::rewrite(&line, &context)?;
    warn(&rewritten.report);
    explain(&real, &rewritten.args);
    if let Some(kept) = &kept {
        kept.hold.across_exec()?;
    }
    let args: Vec<OsString> = rewritten.args.into_iter().map(OsString::from).collect();
    exec(&real, &args)
}

/// The warning for a line with a non-UTF-8 argument that would have been
/// patched (read lossily to tell): it runs without the sandbox patches.
fn warn_if_unpatched(args: &[OsString]) {
    let lossy: Vec<String> = args
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let patched = matches!(
        docker_cli::parse(&lossy),
        Ok(DockerCommand::Run(_) | DockerCommand::Build(_) | DockerCommand::BuildxBuild)
    );
    if let (true, Some(position)) = (patched, args.iter().position(|a| a.to_str().is_none())) {
        eprintln!(
            "nanoclaw-sandbox docker: argument {} (`{}`) is not UTF-8, so this line passes \
             through unpatched (no proxy variables, no proxy CA); write it in UTF-8 to have it \
             patched",
            position + 1,
            lossy[position]
        );
    }
}

/// A patch report's warnings (values redacted), on stderr.
fn warn(report: &PatchReport) {
    for entry in report.at_least(Severity::Warn) {
        eprintln!("nanoclaw-sandbox docker: {entry}");
    }
}

/// With `NANOCLAW_SHIM_EXPLAIN=1`: the command about to run, on stderr
/// (secret values and URL credentials redacted).
fn explain(real: &Path, args: &[String]) {
    if std::env::var(EXPLAIN_VAR).is_ok_and(|v| v == "1") {
        eprintln!(
            "nanoclaw-sandbox docker: {} {}",
            real.display(),
            redacted(args).join(" ")
        );
    }
}

/// `docker build` in a sandbox: the context directory packed as the docker
/// CLI packs it (`.dockerignore` applied), the library's build patches
/// applied to it ([`prepare_build`]: the proxy build args, every `RUN` step
/// wrapped so the proxy CA is trusted for that step alone, the rewritten
/// Dockerfile inside the tar), and the real `docker build` run with the
/// caller's flags, the inserted ones, `-f` naming the rewritten Dockerfile
/// and `-` as the context, the prepared tar on its stdin. What the shim
/// cannot do faithfully passes through unpatched with a warning.
fn build(
    real: &Path,
    env: &SandboxEnv,
    line: &BuildInvocation,
    args: &[OsString],
) -> anyhow::Result<ExitCode> {
    // No single context, or `--help`: docker refuses or answers it itself.
    let Some(context) = line.context() else {
        return exec(real, args);
    };
    if line.has("help") {
        return exec(real, args);
    }
    if context == STDIN_CONTEXT {
        return pass_build(real, args, "the context comes from stdin");
    }
    let dir = Path::new(context);
    if !dir.is_dir() {
        if is_remote_context(context) {
            return pass_build(real, args, "the context is a URL, fetched by docker");
        }
        // Not a directory: docker says what is wrong with it.
        return exec(real, args);
    }
    let dockerfile = line.values("file").last().map(Path::new);
    if dockerfile == Some(Path::new(STDIN_CONTEXT)) {
        return pass_build(real, args, "the Dockerfile comes from stdin");
    }
    if build_context::dockerfile_path(dir, dockerfile).is_none() {
        // docker reports the missing Dockerfile itself.
        return exec(real, args);
    }
    match legacy_builder(real) {
        Some(true) => {}
        Some(false) => {
            return pass_build(
                real,
                args,
                "the docker CLI builds with BuildKit here (DOCKER_BUILDKIT or buildx), whose \
                 tar contexts the shim does not prepare",
            )
        }
        // An invalid DOCKER_BUILDKIT: docker refuses it itself.
        None => return exec(real, args),
    }
    let packed = build_context::pack(dir, dockerfile)?;
    let host_env = |name: &str| std::env::var(name).ok();
    let mut original = docker_cli::build_request(line, packed.tar, &packed.dockerfile, &host_env)?;
    // The request without its context is what the rewrite compares with;
    // the context itself is not copied.
    let context = original.take_context();
    let (prepared, report) =
        match prepare_build(env.mode(), &[], original.clone().with_context(context)) {
            Ok(prepared) => prepared,
            // BuildKit-only syntax: the legacy builder refuses it itself.
            Err(RuntimeError::Dockerfile {
                source: DockerfileError::Unsupported { .. },
            }) => return exec(real, args),
            Err(e) => return Err(e.into()),
        };
    warn(&report);
    let rewritten = docker_cli::rewrite_build(line, &original, &prepared)
        .context("the build line has no single context argument")?;
    explain(real, &rewritten.args);
    // The prepared context goes to docker's stdin from a file with no name
    // (deleted already), so the real docker can replace this process.
    let mut tar = tempfile::tempfile().context("cannot make a file for the build context")?;
    tar.write_all(prepared.context())
        .and_then(|()| tar.seek(SeekFrom::Start(0)).map(drop))
        .context("cannot write the build context")?;
    let error = Command::new(real).args(&rewritten.args).stdin(tar).exec();
    Err(error).with_context(|| format!("cannot run the real docker at {}", real.display()))
}

/// A build the shim does not patch: the real docker, with a warning.
fn pass_build(real: &Path, args: &[OsString], why: &str) -> anyhow::Result<ExitCode> {
    eprintln!(
        "nanoclaw-sandbox docker: `build` passes through unpatched ({why}): no proxy build \
         args, no proxy CA for RUN steps; build from a directory, or use `nanoclaw-sandbox \
         build DIR`"
    );
    exec(real, args)
}

/// A context docker fetches itself: a Git or HTTP(S) URL.
fn is_remote_context(context: &str) -> bool {
    ["http://", "https://", "git://", "git@", "github.com/"]
        .iter()
        .any(|prefix| context.starts_with(prefix))
}

/// Whether the real `docker build` uses the legacy builder (the one the
/// shim prepares contexts for): `DOCKER_BUILDKIT` when set (read as Go's
/// `ParseBool`; `None` when it is not a boolean), else whether no buildx
/// plugin answers (`docker buildx version`).
fn legacy_builder(real: &Path) -> Option<bool> {
    match std::env::var("DOCKER_BUILDKIT") {
        Ok(value) => match value.as_str() {
            "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(false),
            "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(true),
            _ => None,
        },
        Err(_) => Some(
            !Command::new(real)
                .args(["buildx", "version"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success()),
        ),
    }
}

/// Replaces this process with the real docker.
fn exec(real: &Path, args: &[OsString]) -> anyhow::Result<ExitCode> {
    let error = Command::new(real).args(args).exec();
    Err(error).with_context(|| format!("cannot run the real docker at {}", real.display()))
}

/// This executable, canonical: what a `docker` link to the shim resolves to.
pub(crate) fn this_executable() -> anyhow::Result<PathBuf> {
    std::env::current_exe()
        .and_then(std::fs::canonicalize)
        .context("cannot find this executable")
}

/// Whether `path` resolves to `me` (canonical paths compared, so any link
/// to the shim counts, and the real docker never does).
pub(crate) fn is_shim(path: &Path, me: &Path) -> bool {
    std::fs::canonicalize(path).is_ok_and(|p| p == me)
}

/// What `doctor` reports as `docker-shim`: the first `docker` on `PATH`,
/// whether it is this shim, the real docker the shim would run, and whether
/// the real `docker build` uses BuildKit (asked only of a shim's real docker).
pub(crate) fn facts() -> ShimFacts {
    let me = this_executable().ok();
    let path = std::env::var_os("PATH").unwrap_or_default();
    let on_path = std::env::split_paths(&path)
        .map(|dir| dir.join(DOCKER))
        .find(|candidate| is_executable(candidate));
    let is_shim = matches!((&on_path, &me), (Some(p), Some(me)) if is_shim(p, me));
    let real = real_docker().map_err(|e| format!("{e:#}"));
    let buildkit = match &real {
        Ok(real) if is_shim => legacy_builder(real) == Some(false),
        _ => false,
    };
    ShimFacts::new(on_path, is_shim, real, buildkit)
}

/// `NANOCLAW_REAL_DOCKER`, else the first `docker` on `PATH` that is not
/// this executable.
pub(crate) fn real_docker() -> anyhow::Result<PathBuf> {
    let me = this_executable()?;
    let is_me = |path: &Path| is_shim(path, &me);
    if let Some(real) = std::env::var_os(REAL_DOCKER_VAR) {
        let real = PathBuf::from(real);
        anyhow::ensure!(
            !is_me(&real),
            "{REAL_DOCKER_VAR}={} is this shim itself: point it at the real docker binary",
            real.display()
        );
        return Ok(real);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join(DOCKER))
        .find(|candidate| is_executable(candidate) && !is_me(candidate))
        .with_context(|| {
            format!(
                "no docker found on PATH besides this shim: install the docker CLI or set \
                 {REAL_DOCKER_VAR} to its path"
            )
        })
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Whether this process was started as `docker` (an installed link).
pub(crate) fn called_as_docker(argv0: &OsStr) -> bool {
    Path::new(argv0).file_name() == Some(OsStr::new(DOCKER))
}
