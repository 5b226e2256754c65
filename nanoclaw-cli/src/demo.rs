//! `demo`: Docker Sandboxes' conditions on this machine, and the library
//! making an unchanged agent work in them.
//!
//! An HTTPS upstream on loopback (its certificate from a CA made in memory,
//! the demo's "public" CA) sits behind the proxy stand-in, which intercepts
//! TLS with its own CA as the sandbox proxy does. The test agent GETs the
//! upstream twice from a container on Docker's bridge: once through the
//! sandbox layer (proxy variables and the proxy CA mounted: it succeeds with
//! verification on), once with the proxy variables only (it fails on the
//! certificate, as agents in a sandbox do without this library). Nothing
//! leaves the machine: the upstream's name is mapped by the stand-in, its
//! policy allows that name only, and the containers get DNS 127.0.0.1.

use std::collections::BTreeMap;
use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use nanoclaw_sandbox_core::runtime::docker::DockerRuntime;
use nanoclaw_sandbox_core::runtime::{AgentHandle, ContainerRuntime, ExitStatus};
use nanoclaw_sandbox_core::sandbox::{
    DetectOptions, Mode, PatchReport, SandboxEnv, SandboxRuntime,
};
use nanoclaw_sandbox_core::spec::ContainerSpec;
use nanoclaw_sandbox_core::standin::{
    self, DefaultPolicy, HostMapping, HostPattern, Standin, StandinConfig,
};

use crate::agent::GET_CERTIFICATE_UNTRUSTED;
use crate::engine;
use crate::logging;
use crate::upstream::{HttpsUpstream, LocalCa};

/// The upstream's name: mapped by the stand-in, never resolved.
const UPSTREAM_HOST: &str = "upstream.demo.test";

/// Options of `demo`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// What the upstream answers, to see the data arrive.
    #[arg(
        long,
        default_value = "hello from upstream.demo.test, over TLS the agent verified"
    )]
    message: String,
    /// Show the image build's output when the agent image is (re)built.
    #[arg(long)]
    verbose: bool,
}

/// How one agent run went.
struct Outcome {
    status: ExitStatus,
    stdout: String,
}

/// Runs the demo: exit 0 when the patched agent succeeded and the unpatched
/// one failed on the certificate.
pub async fn run(args: &Args, workspace: Option<&std::path::Path>) -> anyhow::Result<ExitCode> {
    logging::init(logging::WARNINGS);
    let docker = engine::connect(workspace).await?;
    say!(
        "connected to {} (API {})",
        docker.endpoint(),
        docker.api_version()
    );
    let image = agent_image(&docker, args.verbose).await?;

    let public = LocalCa::generate("nanoclaw demo public CA")?;
    let body = format!("{}\n", args.message);
    let upstream =
        HttpsUpstream::start(&public, &[UPSTREAM_HOST], Arc::new(move |_| body.clone())).await?;
    let scratch = tempfile::tempdir().context("cannot make a temporary directory")?;
    let standin = start_standin(&public, &upstream, scratch.path()).await?;
    say!(
        "HTTPS upstream https://{UPSTREAM_HOST} on {} (certificate from the demo's in-memory \"public\" CA)",
        upstream.addr()
    );
    say!(
        "sandbox proxy stand-in on {}: intercepts TLS with its own CA, maps {UPSTREAM_HOST}, denies every other host",
        standin.addr()
    );

    // What an agent host in the sandbox detects: the stand-in's variables.
    let vars: BTreeMap<String, String> = standin.env_vars().iter().cloned().collect();
    let env = SandboxEnv::detect_from(|name| vars.get(name).cloned(), &DetectOptions::default())
        .context("the stand-in's variables do not describe a sandbox")?;
    let unpatched_env = SandboxEnv::new(Mode::Proxied {
        proxy: env.proxy().cloned().unwrap_or_default(),
        ca: None,
    });
    let patched = Arc::new(engine::sandboxed(docker.clone(), env, workspace)?);
    let removed = patched.cleanup_orphans().await?;
    if !removed.is_empty() {
        say!(
            "removed {} container(s) left by an earlier run",
            removed.len()
        );
    }
    let unpatched = Arc::new(engine::sandboxed(docker, unpatched_env, workspace)?);

    let url = format!("https://{UPSTREAM_HOST}/hello");
    let spec = ContainerSpec::builder(image.as_str())
        .command(["--get", url.as_str()])
        // Name lookups inside the container go nowhere: only the proxy
        // (an /etc/hosts entry) is reachable by name.
        .dns("127.0.0.1")
        .build()
        .context("the demo's container spec is invalid")?;

    say!("");
    say!("1) the agent through the sandbox layer (proxy variables, proxy CA mounted and trusted):");
    let first = spawn_and_show(patched, &spec).await?;
    say!("");
    say!("2) the same agent unpatched (proxy variables only, as without this library):");
    let second = spawn_and_show(unpatched, &spec).await?;
    standin.shutdown().await;

    say!("");
    let reached = first.status.success() && first.stdout.contains(args.message.as_str());
    let refused = second.status.code == i64::from(GET_CERTIFICATE_UNTRUSTED);
    if reached && refused {
        say!("result: through the sandbox layer the agent reached the upstream with TLS verification on;");
        say!("        unpatched, it was refused on the proxy's certificate (exit {GET_CERTIFICATE_UNTRUSTED}), as in a Docker Sandbox");
        Ok(ExitCode::SUCCESS)
    } else {
        say!(
            "result: UNEXPECTED: patched agent {} (wanted exit 0 and the upstream's body), unpatched agent {} (wanted exit {GET_CERTIFICATE_UNTRUSTED})",
            first.status,
            second.status
        );
        Ok(ExitCode::FAILURE)
    }
}

/// The agent image (this executable), built on first use.
async fn agent_image(docker: &DockerRuntime, verbose: bool) -> anyhow::Result<String> {
    let started = Instant::now();
    let mut show_build = |line: &str| {
        if verbose {
            // A callback cannot fail; a closed stdout shows up at the next `say!`.
            let _ = writeln!(std::io::stdout(), "  build | {line}");
        }
    };
    let image = engine::own_agent_image(docker, &mut show_build).await?;
    say!(
        "agent image {} ({} in {})",
        image.tag,
        if image.built { "built" } else { "reused" },
        millis(started.elapsed())
    );
    Ok(image.tag)
}

/// The stand-in, listening where containers on the bridge reach it: on
/// every address (the patcher points containers at `host.docker.internal`,
/// the bridge's gateway). Its policy denies everything but the upstream,
/// so listening widely opens nothing else.
async fn start_standin(
    public: &LocalCa,
    upstream: &HttpsUpstream,
    scratch: &std::path::Path,
) -> anyhow::Result<Standin> {
    let public_file = scratch.join("public-ca.pem");
    std::fs::write(&public_file, public.pem())
        .with_context(|| format!("cannot write {}", public_file.display()))?;
    let config = StandinConfig::builder()
        .listen(SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)))
        .ca_dir(scratch.join("proxy-ca"))
        .maps([HostMapping::parse(&format!(
            "{UPSTREAM_HOST}={}",
            upstream.addr()
        ))?])
        .upstream_ca_files([public_file])
        .default_policy(DefaultPolicy::Deny)
        .allow([HostPattern::parse(UPSTREAM_HOST)?])
        .build();
    standin::start(config)
        .await
        .context("the sandbox proxy stand-in could not start")
}

/// Spawns the agent, shows what the sandbox layer changed, what the agent
/// printed and how long each phase took, and removes it.
async fn spawn_and_show(
    runtime: Arc<SandboxRuntime<DockerRuntime>>,
    spec: &ContainerSpec,
) -> anyhow::Result<Outcome> {
    let started = Instant::now();
    let mut agent = AgentHandle::spawn(runtime.clone(), spec).await?;
    if let Some(report) = runtime.last_report() {
        show_report(&report)?;
    }
    let mut stdout = agent
        .take_stdout()
        .context("the agent's stdout was already taken")?;
    let stderr = agent
        .take_stderr()
        .context("the agent's stderr was already taken")?;
    let mut first_output: Option<Duration> = None;
    let mut printed = String::new();
    while let Some(chunk) = stdout.next_chunk().await {
        first_output.get_or_insert_with(|| started.elapsed());
        printed.push_str(&String::from_utf8_lossy(&chunk?));
    }
    let errors = String::from_utf8_lossy(&stderr.read_to_end().await?).into_owned();
    let status = agent.wait().await?;
    let exited = started.elapsed();
    let timings = agent.timings();
    agent.remove().await?;
    for line in printed.lines() {
        say!("  agent stdout | {line}");
    }
    for line in errors.lines() {
        say!("  agent stderr | {line}");
    }
    say!("  agent {status}; container removed");
    say!(
        "  timings: create {}, attach {}, start {}, first output {}, exit {}",
        millis(timings.create),
        millis(timings.attach),
        millis(timings.start),
        first_output.map_or_else(|| "none".to_string(), millis),
        millis(exited),
    );
    Ok(Outcome {
        status,
        stdout: printed,
    })
}

/// The sandbox layer's changes, one line per kind.
fn show_report(report: &PatchReport) -> anyhow::Result<()> {
    let mut kinds: Vec<(String, Vec<&str>)> = Vec::new();
    for entry in report.entries() {
        let kind = entry.kind.to_string();
        match kinds.iter_mut().find(|(k, _)| *k == kind) {
            Some((_, subjects)) => subjects.push(&entry.subject),
            None => kinds.push((kind, vec![&entry.subject])),
        }
    }
    for (kind, subjects) in kinds {
        say!("  sandbox layer | {kind}: {}", subjects.join(" "));
    }
    Ok(())
}

fn millis(duration: Duration) -> String {
    format!("{:.1} ms", duration.as_secs_f64() * 1000.0)
}
