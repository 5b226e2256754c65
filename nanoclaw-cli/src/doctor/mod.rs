//! `nanoclaw-sandbox doctor`: gathers the inputs, runs the library's
//! [`Doctor`], prints its checks. Exit 0 when nothing failed (warnings
//! included), 1 when a check failed, 2 on a usage or input error.

mod inputs;
mod print;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use nanoclaw_sandbox_core::doctor::{worst, Doctor, Status, DEFAULT_PROBE_URL};
use nanoclaw_sandbox_core::http::Timeouts;

use crate::settings::SettingsArgs;

/// Options of `doctor`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Print the checks as a JSON array of `{id, status, detail, fix}`.
    #[arg(long)]
    json: bool,
    /// A container spec (TOML, or JSON: the ContainerSpec serde form) whose
    /// bind mount sources must be inside the workspace.
    #[arg(long, value_name = "FILE")]
    spec: Option<PathBuf>,
    /// A container to check (repeatable); default: the running managed
    /// containers of the workspace's install.
    #[arg(long = "container", value_name = "NAME")]
    containers: Vec<String>,
    /// The HTTPS URL the proxy and TLS checks reach.
    #[arg(long, value_name = "URL", default_value = DEFAULT_PROBE_URL)]
    probe: String,
    /// Insecure dev mode: NODE_TLS_REJECT_UNAUTHORIZED=0 is a warning, not a failure.
    #[arg(long)]
    dev: bool,
    /// A Dockerfile that must declare the proxy build args in every stage.
    #[arg(long, value_name = "FILE")]
    dockerfile: Option<PathBuf>,
    /// A host that must not be intercepted (repeatable); default:
    /// web.whatsapp.com and mmg.whatsapp.net.
    #[arg(long = "passthrough-host", value_name = "HOST")]
    passthrough_hosts: Vec<String>,
    /// Take the CA certificates in FILE instead of Mozilla's roots as the
    /// public ones (passthrough hosts, the probe without the sandbox CA): for
    /// a private deployment whose public CA is its own (repeatable).
    #[arg(long = "public-ca", value_name = "FILE")]
    public_cas: Vec<PathBuf>,
    /// Seconds each network step (connect, TLS) may take; a request gets three times as long.
    #[arg(long, value_name = "SECS", default_value_t = 5.0)]
    timeout: f64,
    /// The sandbox's workspace root: the project and the spec's mount
    /// sources must be inside it; the containers checked by default are
    /// those of the install derived from it [default: the current directory].
    #[arg(long, env = crate::engine::WORKSPACE_VAR, value_name = "DIR")]
    workspace: Option<PathBuf>,
    #[command(flatten)]
    settings: SettingsArgs,
}

/// Runs the doctor.
pub(crate) async fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let workspace = args.workspace.as_deref();
    let doctor = inputs::with_engine(configure(args, workspace)?, workspace).await;
    let checks = doctor.run().await;
    if args.json {
        crate::output::json_document(&checks)?;
    } else {
        print::human(&checks)?;
    }
    Ok(if worst(&checks) == Status::Fail {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// Everything but the engine, from the flags; input errors exit 2.
fn configure(args: &Args, workspace: Option<&Path>) -> anyhow::Result<Doctor> {
    let step = Duration::try_from_secs_f64(args.timeout)
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| {
            crate::exit::usage(format!(
                "--timeout {} is not a number of seconds above 0",
                args.timeout
            ))
        })?;
    let mut doctor = Doctor::new(inputs::variables(&args.settings)?)
        .probe_url(inputs::probe_url(&args.probe)?)
        .containers(args.containers.iter().cloned())
        .shim_facts(crate::docker_shim::facts())
        .dev(args.dev)
        .timeouts(Timeouts {
            connect: step,
            tls: step,
            request: step.saturating_mul(3),
        });
    if let Ok(dir) = std::env::current_dir() {
        doctor = doctor.project_dir(dir);
    }
    if let Some(workspace) = workspace {
        doctor = doctor.workspace(workspace);
    }
    if let Some(path) = &args.spec {
        doctor = doctor.spec(crate::run_spec::read_spec_file(path)?);
    }
    if let Some(path) = &args.dockerfile {
        doctor = doctor.dockerfile(path, inputs::read_text(path, "Dockerfile")?);
    }
    if !args.passthrough_hosts.is_empty() {
        doctor = doctor.passthrough_urls(inputs::passthrough_urls(&args.passthrough_hosts)?);
    }
    if !args.public_cas.is_empty() {
        doctor = inputs::with_public_roots(doctor, &args.public_cas)?;
    }
    Ok(doctor)
}
