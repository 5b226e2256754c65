//! `nanoclaw-sandbox run`: one agent container, patched by the sandbox layer
//! when the environment is a sandbox, its output streamed live.
//!
//! Exit codes follow `docker run`: the container's own code; 125 when we
//! fail (bad input, no daemon, missing image); 126 when the command cannot
//! be run, 127 when it is not found; 130 after Ctrl-C (143 after SIGTERM),
//! once the container is stopped and removed.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use nanoclaw_sandbox_core::mount_policy::{self, MountPolicy};
use nanoclaw_sandbox_core::redact;
use nanoclaw_sandbox_core::relay::CredentialRelay;
use nanoclaw_sandbox_core::runtime::{
    AgentHandle, ContainerRuntime, InstanceId, OutputStream, RuntimeError, RuntimeIdentity, Stdin,
};
use nanoclaw_sandbox_core::sandbox::{preview_patcher, Mode, SandboxEnv, SandboxPatcher};
use nanoclaw_sandbox_core::spec::ContainerSpec;
use tokio::sync::mpsc;

use crate::engine;
use crate::logging;
use crate::run_spec::SpecArgs;
use crate::settings::{SettingsArgs, VarSource};
use crate::signals::{Signal, Signals};

/// Our own failure (as `docker run`'s 125).
pub(crate) const OWN_ERROR: u8 = 125;
/// The command exists but cannot be run.
pub(crate) const CANNOT_RUN: u8 = 126;
/// The command is not found in the image.
pub(crate) const NOT_FOUND: u8 = 127;

/// Options of `run`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    spec: SpecArgs,
    /// Plain Docker: no sandbox patches even when the environment is a sandbox.
    #[arg(long)]
    no_sandbox: bool,
    /// Print the patched spec as JSON with the patch report, and run nothing
    /// (no Docker needed). Secret values are redacted.
    #[arg(long)]
    dry_run: bool,
    /// Do not have the engine remove the container when its command ends.
    /// `run` still removes it when it sees the end; only a `run` killed
    /// outright (SIGKILL) then leaves it behind, for inspection.
    #[arg(long)]
    no_auto_remove: bool,
    /// After Ctrl-C, how long the container gets to stop before it is killed.
    #[arg(long, value_name = "SECS", default_value_t = 10)]
    stop_timeout: u64,
    /// The host's workspace: the container is labelled with an install id
    /// derived from it (a later run finds what a crashed one left), and in a
    /// sandbox the CA files it mounts are kept under it [default: the
    /// current directory].
    #[arg(long, env = engine::WORKSPACE_VAR, value_name = "DIR")]
    workspace: Option<PathBuf>,
    /// The mount allowlist (JSON, NanoClaw's `mount-allowlist.json`: allowed
    /// roots, allowed credential paths): bind mount sources must lie under the
    /// workspace or an allowed root, nothing credential-like (`.ssh`, `.env`,
    /// ...) unless allowed. Keep it outside everything mounted [default: the
    /// workspace only].
    #[arg(long, env = mount_policy::ALLOWLIST_VAR, value_name = "FILE")]
    mount_allowlist: Option<PathBuf>,
    #[command(flatten)]
    settings: SettingsArgs,
}

/// A failure with the exit code it maps to.
struct Failure {
    code: u8,
    error: anyhow::Error,
}

impl<E: Into<anyhow::Error>> From<E> for Failure {
    fn from(error: E) -> Self {
        Failure {
            code: OWN_ERROR,
            error: error.into(),
        }
    }
}

/// Runs the container; every failure of ours is printed and becomes 125
/// (or 126/127), so scripts can tell it from the container's own codes.
pub(crate) async fn run(args: Args) -> anyhow::Result<ExitCode> {
    match execute(&args, args.workspace.as_deref()).await {
        Ok(code) => Ok(code),
        Err(Failure { code, error }) => {
            // The usual printing; the code is ours, not the usual mapping.
            let _ = crate::exit::report(Err(error));
            Ok(ExitCode::from(code))
        }
    }
}

/// The exit code for an argument error of `run` when `error` is one:
/// clap's own 2 is a code a container may well return. `None` for the
/// other commands, help and version.
pub(crate) fn parse_error_code(cli: clap::Command, error: &clap::Error) -> Option<i32> {
    if !error.use_stderr() {
        return None;
    }
    // Parsing again, leniently, tells which subcommand was meant.
    let matches = cli
        .ignore_errors(true)
        .try_get_matches_from(std::env::args_os())
        .ok()?;
    (matches.subcommand_name() == Some("run")).then_some(i32::from(OWN_ERROR))
}

async fn execute(args: &Args, workspace: Option<&Path>) -> Result<ExitCode, Failure> {
    logging::init(logging::WARNINGS);
    let spec = args.spec.to_spec(|name| std::env::var(name).ok())?;
    // As `docker run --rm`: the engine removes the container once its
    // command ends, even when this process is killed outright.
    let spec = spec
        .to_builder()
        .auto_remove(!args.no_auto_remove)
        .build()?;
    mount_policy(args.mount_allowlist.as_deref(), workspace)?.check(&spec)?;
    let env = if args.no_sandbox {
        SandboxEnv::new(Mode::StandardDocker)
    } else {
        VarSource::from_args(&args.settings)?.detect()?
    };
    if args.dry_run {
        return Ok(dry_run(&spec, &env, workspace)?);
    }
    let docker = engine::connect(workspace).await?;
    // Lives until the container is gone: its proxy is the relay.
    let (env, _relay) = CredentialRelay::for_agents(env, CredentialRelay::EVERY_ADDRESS).await?;
    let runtime: Arc<dyn ContainerRuntime> = Arc::new(engine::sandboxed(docker, env, workspace)?);
    // Before the container exists: a Ctrl-C from here on is ours to handle.
    let mut signals = Signals::install()?;
    let agent = tokio::select! {
        spawned = AgentHandle::spawn(runtime, &spec) => spawned.map_err(spawn_failure)?,
        // Dropping the spawn half-way removes whatever it created.
        signal = signals.next() => return Ok(ExitCode::from(signal.exit_code())),
    };
    attend(agent, &mut signals, Duration::from_secs(args.stop_timeout)).await
}

/// The mount policy of `run`: the allowlist file's, else the workspace only
/// (the current directory when none is given).
pub(crate) fn mount_policy(
    allowlist: Option<&Path>,
    workspace: Option<&Path>,
) -> anyhow::Result<MountPolicy> {
    let workspace = match workspace {
        Some(dir) => dir.to_path_buf(),
        None => std::env::current_dir().context("cannot read the current directory")?,
    };
    Ok(match allowlist {
        Some(file) => MountPolicy::load(file, &workspace)?,
        None => MountPolicy::workspace_only(&workspace),
    })
}

/// Streams the agent's output until it exits, or stops it on a signal;
/// removes it either way.
async fn attend(
    mut agent: AgentHandle,
    signals: &mut Signals,
    grace: Duration,
) -> Result<ExitCode, Failure> {
    let stdout = agent
        .take_stdout()
        .context("the container's stdout was already taken")?;
    let stderr = agent
        .take_stderr()
        .context("the container's stderr was already taken")?;
    let stdin = agent
        .take_stdin()
        .map(|stdin| tokio::spawn(forward_stdin(stdin)));
    let finished = async {
        let (out, err) = tokio::join!(
            copy_stream(stdout, std::io::stdout()),
            copy_stream(stderr, std::io::stderr())
        );
        out.and(err)?;
        agent.wait().await
    };
    let outcome = tokio::select! {
        status = finished => Ok(status),
        signal = signals.next() => Err(signal),
    };
    if let Some(task) = stdin {
        task.abort();
    }
    match outcome {
        Ok(status) => {
            let status = status?;
            agent.remove().await?;
            if status.oom_killed {
                eprintln!("nanoclaw-sandbox: the container was killed: out of memory");
            }
            Ok(ExitCode::from(
                u8::try_from(status.code).unwrap_or(OWN_ERROR),
            ))
        }
        Err(signal) => Ok(stop_after(signal, agent, signals, grace).await),
    }
}

/// Stops and removes the agent after `signal`; a second signal skips the
/// grace period.
async fn stop_after(
    signal: Signal,
    agent: AgentHandle,
    signals: &mut Signals,
    grace: Duration,
) -> ExitCode {
    eprintln!(
        "nanoclaw-sandbox: {signal}: stopping container {} (again to kill it now)",
        agent.id().short()
    );
    tokio::select! {
        stopped = agent.stop(grace) => if let Err(error) = stopped {
            tracing::warn!(%error, "stopping the container failed; removing it");
        },
        _ = signals.next() => {}
    }
    if let Err(error) = agent.remove().await {
        eprintln!("nanoclaw-sandbox: {error}");
        return ExitCode::from(OWN_ERROR);
    }
    ExitCode::from(signal.exit_code())
}

/// Copies a container stream to ours as it comes. If ours is gone (a
/// closed pipe), the rest is drained unseen so the container never blocks.
async fn copy_stream(mut stream: OutputStream, mut to: impl Write) -> Result<(), RuntimeError> {
    let mut open = true;
    while let Some(chunk) = stream.next_chunk().await {
        let chunk = chunk?;
        if open {
            open = to.write_all(&chunk).and_then(|()| to.flush()).is_ok();
        }
    }
    Ok(())
}

/// Forwards our stdin to the container's, then closes it (end-of-file).
/// Reading happens on a thread of its own: a blocked read must not keep the
/// async runtime from shutting down when the container is done first.
async fn forward_stdin(mut stdin: Stdin) {
    let (tx, mut rx) = mpsc::channel::<Vec<u8>>(4);
    let reader = std::thread::Builder::new()
        .name("nanoclaw-stdin".into())
        .spawn(move || {
            let mut buffer = vec![0u8; 8192];
            let mut ours = std::io::stdin().lock();
            loop {
                match std::io::Read::read(&mut ours, &mut buffer) {
                    Ok(0) | Err(_) => return,
                    Ok(read) => {
                        if tx.blocking_send(buffer[..read].to_vec()).is_err() {
                            return;
                        }
                    }
                }
            }
        });
    if let Err(error) = reader {
        tracing::warn!(%error, "cannot read stdin: the container's stdin is closed");
    }
    while let Some(data) = rx.recv().await {
        if stdin.write_all(&data).await.is_err() {
            return;
        }
    }
    let _ = stdin.close().await;
}

/// What a failed spawn means for the exit code: the engine's start error
/// for a command it cannot find or execute, as `docker run` reads it.
fn spawn_failure(error: RuntimeError) -> Failure {
    let code = match &error {
        RuntimeError::CommandNotFound { .. } => NOT_FOUND,
        RuntimeError::CannotExecute { .. } => CANNOT_RUN,
        _ => OWN_ERROR,
    };
    Failure {
        code,
        error: error.into(),
    }
}

/// Prints the spec as the sandbox layer would create it, and the report.
fn dry_run(
    spec: &ContainerSpec,
    env: &SandboxEnv,
    workspace: Option<&Path>,
) -> anyhow::Result<ExitCode> {
    let (patched, report) = dry_run_patcher(env, workspace)?.patch(spec)?;
    let output = serde_json::json!({
        "mode": env.mode().kind().as_str(),
        "spec": shown_spec(&patched)?,
        "report": report,
    });
    crate::output::json_document(&output)?;
    Ok(ExitCode::SUCCESS)
}

/// The patcher `SandboxRuntime` would build (the library's preview),
/// pointing at the instance directory it would make, without making it: a
/// dry run touches no file and needs no daemon.
fn dry_run_patcher(env: &SandboxEnv, workspace: Option<&Path>) -> anyhow::Result<SandboxPatcher> {
    let identity = RuntimeIdentity {
        install: engine::install_id(workspace)?,
        instance: InstanceId::current(),
    };
    Ok(preview_patcher(env, &identity, workspace)?)
}

/// The spec's serde form with secret values redacted (API keys by name,
/// credentials in proxy URLs).
fn shown_spec(spec: &ContainerSpec) -> anyhow::Result<serde_json::Value> {
    let mut shown = serde_json::to_value(spec).context("cannot show the spec")?;
    if let Some(env) = shown.get_mut("env") {
        *env = spec
            .env()
            .iter()
            .map(|var| {
                let value = redact::env_value_for_display(var.name(), var.value());
                serde_json::Value::String(format!("{}={value}", var.name()))
            })
            .collect();
    }
    Ok(shown)
}
