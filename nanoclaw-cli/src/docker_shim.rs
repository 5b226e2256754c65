//! `nanoclaw-sandbox docker ARGS…`, and this executable installed as
//! `docker`: the real docker, with the sandbox patches on `run`/`create`
//! when the environment is a sandbox (docs/shim.md).
//!
//! The arguments never go through clap: they are docker's. In standard
//! Docker, and for every command other than `run`/`create`, the real docker
//! is exec'd with the arguments byte for byte, so its output, exit code,
//! TTY and signals are its own.

use std::ffi::{OsStr, OsString};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::Context as _;
use nanoclaw_sandbox_core::docker_cli::{
    self, parse_env_file, redacted, DockerCommand, ParseError, RewriteContext,
};
use nanoclaw_sandbox_core::mount_policy;
use nanoclaw_sandbox_core::sandbox::{
    instances_base, InstanceDir, InstancePaths, SandboxEnv, SandboxPatcher,
};
use nanoclaw_sandbox_core::trust::SystemRoots;

use crate::engine::WORKSPACE_VAR;

/// The real docker, when it is not the next `docker` on `PATH`.
pub(crate) const REAL_DOCKER_VAR: &str = "NANOCLAW_REAL_DOCKER";
/// `1`: print the rewritten command line on stderr (secrets redacted).
pub(crate) const EXPLAIN_VAR: &str = "NANOCLAW_SHIM_EXPLAIN";
/// The name the shim answers to as argv[0].
pub(crate) const DOCKER: &str = "docker";
/// The instance directory the shim's containers mount (CA directory, empty
/// file): one per install, kept, as detached and created containers outlive
/// the shim.
const SHIM_INSTANCE: &str = "docker-shim";
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
    // Non-UTF-8 arguments are not a run line the shim can read: as given.
    let Some(text) = args
        .iter()
        .map(|a| a.to_str().map(str::to_string))
        .collect::<Option<Vec<_>>>()
    else {
        return exec(&real, &args);
    };
    let line = match docker_cli::parse(&text) {
        Ok(DockerCommand::Run(line)) => line,
        Ok(DockerCommand::Build) => {
            eprintln!(
                "nanoclaw-sandbox docker: `build` passes through unpatched (no proxy build args, \
                 no proxy CA for RUN steps); use `nanoclaw-sandbox build` for a sandbox build"
            );
            return exec(&real, &args);
        }
        Ok(DockerCommand::Other) => return exec(&real, &args),
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
    let paths = match env.mode().ca() {
        Some(_) => Some(instance_dir(&env)?),
        None => None,
    };
    let patcher = SandboxPatcher::new(env.mode(), paths)?;
    let context = RewriteContext {
        patcher: &patcher,
        host_env: &host_env,
        env_file_vars: &env_file_vars,
    };
    // The mount allowlist holds here as for `run` and the host: the
    // workspace (NANOCLAW_WORKSPACE, else the current directory) and the
    // allowlist's roots, nothing credential-like unless allowed.
    let workspace = std::env::var_os(WORKSPACE_VAR).map(PathBuf::from);
    let allowlist = std::env::var_os(mount_policy::ALLOWLIST_VAR).map(PathBuf::from);
    crate::run::mount_policy(allowlist.as_deref(), workspace.as_deref())?
        .check(&docker_cli::container_spec(&line, &context)?)?;
    let rewritten = docker_cli::rewrite(&line, &context)?;
    if std::env::var(EXPLAIN_VAR).is_ok_and(|v| v == "1") {
        eprintln!(
            "nanoclaw-sandbox docker: {} {}",
            real.display(),
            redacted(&rewritten.args).join(" ")
        );
    }
    let args: Vec<OsString> = rewritten.args.into_iter().map(OsString::from).collect();
    exec(&real, &args)
}

/// Replaces this process with the real docker.
fn exec(real: &Path, args: &[OsString]) -> anyhow::Result<ExitCode> {
    let error = Command::new(real).args(args).exec();
    Err(error).with_context(|| format!("cannot run the real docker at {}", real.display()))
}

/// `NANOCLAW_REAL_DOCKER`, else the first `docker` on `PATH` that is not
/// this executable.
fn real_docker() -> anyhow::Result<PathBuf> {
    let me = std::env::current_exe()
        .and_then(std::fs::canonicalize)
        .context("cannot find this executable")?;
    let is_me = |path: &Path| std::fs::canonicalize(path).is_ok_and(|p| p == me);
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

/// The shim's instance directory, with the CA files written (rotated CAs
/// reach running containers: the directory is mounted, not the file).
/// Under `$NANOCLAW_WORKSPACE/.nanoclaw/instances/` when set (a sandbox
/// mounts only workspace paths), else `$XDG_STATE_HOME/nanoclaw/instances/`
/// (`~/.local/state/…`).
fn instance_dir(env: &SandboxEnv) -> anyhow::Result<InstancePaths> {
    let base = match std::env::var_os(WORKSPACE_VAR) {
        Some(ws) => instances_base(Some(Path::new(&ws))),
        None => state_dir()?.join("nanoclaw").join("instances"),
    };
    let roots = SystemRoots::default().load()?;
    let dir = InstanceDir::create_in(&base, SHIM_INSTANCE)?;
    if let Some(ca) = env.trust_store() {
        dir.write_trust(ca, &roots)?;
    }
    Ok(dir.persist())
}

fn state_dir() -> anyhow::Result<PathBuf> {
    if let Some(dir) = std::env::var_os("XDG_STATE_HOME").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir));
    }
    let home = std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .with_context(|| format!("neither XDG_STATE_HOME nor HOME is set: set {WORKSPACE_VAR}"))?;
    Ok(PathBuf::from(home).join(".local").join("state"))
}

/// Whether this process was started as `docker` (an installed link).
pub(crate) fn called_as_docker(argv0: &OsStr) -> bool {
    Path::new(argv0).file_name() == Some(OsStr::new(DOCKER))
}
