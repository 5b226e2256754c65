//! `nanoclaw-sandbox inspect CONTAINER`: a container's proxy and CA
//! variables and mounts, against what the sandbox layer would set (the
//! library's `audit_container`, which asks the patcher itself). Exit 0 when
//! they match, 1 when they do not, 2 on a usage error (no such container).

use std::process::ExitCode;

use nanoclaw_sandbox_core::doctor::{audit_container, ContainerAudit, Finding, VarAudit};
use nanoclaw_sandbox_core::runtime::{ContainerId, ContainerRuntime};
use serde::Serialize;

use crate::exit::usage;
use crate::settings::{SettingsArgs, VarSource};

/// Arguments of `inspect`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The container's name or id.
    container: String,
    /// Print the comparison as JSON.
    #[arg(long)]
    json: bool,
    /// Compare against insecure dev mode (NODE_TLS_REJECT_UNAUTHORIZED=0 expected).
    #[arg(long)]
    dev: bool,
    #[command(flatten)]
    settings: SettingsArgs,
}

/// The JSON form: the audit and its verdict.
#[derive(Serialize)]
struct Report<'a> {
    #[serde(flatten)]
    audit: &'a ContainerAudit,
    matches: bool,
}

/// Runs `inspect`.
pub(crate) async fn run(args: &Args) -> anyhow::Result<ExitCode> {
    // Detection's warnings (e.g. `HTTPS_PROXY` and `https_proxy` differing)
    // go to stderr as for `run` and `build`.
    crate::logging::init(crate::logging::WARNINGS);
    let env = VarSource::from_args(&args.settings)?
        .detect()
        .map_err(|e| usage(format!("{e:#}")))?;
    // The container is read by name: no install's identity is involved.
    let runtime = crate::engine::connect(None).await?;
    let info = runtime
        .inspect(&ContainerId::new(args.container.as_str()))
        .await
        .map_err(|e| {
            if e.is_no_such_container() {
                usage(e)
            } else {
                e.into()
            }
        })?;
    let audit = audit_container(&env, &info, args.dev)?;
    let matches = audit.matches();
    if args.json {
        crate::output::json_document(&Report {
            audit: &audit,
            matches,
        })?;
    } else {
        print(&audit)?;
    }
    Ok(if matches {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn print(audit: &ContainerAudit) -> anyhow::Result<()> {
    say!(
        "container {} ({}), image {}, {}, network {}",
        audit.container,
        audit.id,
        audit.image,
        audit.state,
        audit.network_mode
    );
    say!("host mode: {}", audit.mode);
    if audit.variables.is_empty() {
        say!("variables: the sandbox layer sets none in this mode");
    } else {
        say!("variables (against what the sandbox layer sets):");
        for var in &audit.variables {
            say!("  {:<8} {}", finding(var.status), describe(var));
        }
    }
    if !audit.other_variables.is_empty() {
        say!("other proxy and CA variables:");
        for var in &audit.other_variables {
            say!("  {}={}", var.name, var.value);
        }
    }
    if let Some(ca) = &audit.ca_mount {
        let source = ca.source.as_deref().unwrap_or("nothing");
        say!(
            "CA directory: {:<8} {} <- {source} (must be a read-only bind)",
            finding(ca.status),
            ca.target
        );
    }
    say!("mounts:");
    if audit.mounts.is_empty() {
        say!("  none");
    }
    for mount in &audit.mounts {
        let ro = if mount.read_only { " (ro)" } else { "" };
        say!("  {} {} -> {}{ro}", mount.kind, mount.source, mount.target);
    }
    if audit.matches() {
        say!("result: matches what the sandbox layer sets");
    } else {
        say!(
            "result: does not match; recreate the container through the sandbox layer \
             (SandboxRuntime, or `nanoclaw-sandbox run`)"
        );
    }
    Ok(())
}

fn finding(status: Finding) -> &'static str {
    match status {
        Finding::Ok => "ok",
        Finding::Missing => "missing",
        Finding::Differs => "differs",
        Finding::Insecure => "insecure",
    }
}

fn describe(var: &VarAudit) -> String {
    let expected = var.expected.as_deref().unwrap_or_default();
    match (var.status, var.actual.as_deref()) {
        (Finding::Ok, Some(actual)) => format!("{}={actual}", var.name),
        (Finding::Missing, _) => format!("{} (expected {expected})", var.name),
        (Finding::Insecure, Some(actual)) => {
            format!(
                "{}={actual} (turns TLS verification off; only --dev expects it)",
                var.name
            )
        }
        (_, actual) => format!(
            "{}={} (expected {expected})",
            var.name,
            actual.unwrap_or_default()
        ),
    }
}
