//! `demo`: spawn the test agent through the library, show what it printed
//! and how long each spawn phase took, and remove it.

use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use nanoclaw_sandbox_core::runtime::{AgentHandle, ContainerRuntime};
use nanoclaw_sandbox_core::spec::{ContainerSpec, NetworkMode};

use crate::engine;

/// Options of `demo`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// A line the agent should print, to see data flow through.
    #[arg(long, default_value = "hello from a nanoclaw agent")]
    message: String,
    /// Show the image build's output when the agent image is (re)built.
    #[arg(long)]
    verbose: bool,
}

/// Runs the demo.
pub async fn run(args: &Args, workspace: Option<&std::path::Path>) -> anyhow::Result<ExitCode> {
    let runtime = engine::connect(workspace).await?;
    say!(
        "connected to {} (API {})",
        runtime.endpoint(),
        runtime.api_version()
    );
    let removed = runtime.cleanup_orphans().await?;
    if !removed.is_empty() {
        say!(
            "removed {} container(s) left by an earlier run",
            removed.len()
        );
    }

    let image_started = Instant::now();
    let verbose = args.verbose;
    let mut show_build = |line: &str| {
        if verbose {
            // A callback cannot fail; a closed stdout shows up at the next `say!`.
            let _ = writeln!(std::io::stdout(), "  build | {line}");
        }
    };
    let image = engine::own_agent_image(&runtime, &mut show_build).await?;
    say!(
        "agent image {} ({} in {})",
        image.tag,
        if image.built { "built" } else { "reused" },
        millis(image_started.elapsed())
    );

    let spec = ContainerSpec::builder(image.tag.as_str())
        .command([
            "--print-env",
            "--stdout",
            args.message.as_str(),
            "--stderr",
            "(this line went to stderr)",
        ])
        .env("NANOCLAW_DEMO", "1")
        .network(NetworkMode::None)
        .build()
        .context("the demo's container spec is invalid")?;

    let runtime: Arc<dyn ContainerRuntime> = Arc::new(runtime);
    let spawn_started = Instant::now();
    let mut agent = AgentHandle::spawn(runtime, &spec).await?;
    say!("agent container {} started", agent.id().short());

    let mut stdout = agent
        .take_stdout()
        .context("the agent's stdout was already taken")?;
    let stderr = agent
        .take_stderr()
        .context("the agent's stderr was already taken")?;
    let mut first_output: Option<Duration> = None;
    let mut printed = String::new();
    while let Some(chunk) = stdout.next_chunk().await {
        first_output.get_or_insert_with(|| spawn_started.elapsed());
        printed.push_str(&String::from_utf8_lossy(&chunk?));
    }
    for line in printed.lines() {
        say!("  agent stdout | {line}");
    }
    for line in String::from_utf8_lossy(&stderr.read_to_end().await?).lines() {
        say!("  agent stderr | {line}");
    }
    let status = agent.wait().await?;
    let exited = spawn_started.elapsed();
    let timings = agent.timings();
    agent.remove().await?;

    say!("agent {status}; container removed");
    say!(
        "timings: create {}, attach {}, start {}, first output {}, exit {}",
        millis(timings.create),
        millis(timings.attach),
        millis(timings.start),
        first_output.map_or_else(|| "none".to_string(), millis),
        millis(exited),
    );
    Ok(if status.success() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn millis(duration: Duration) -> String {
    format!("{:.1} ms", duration.as_secs_f64() * 1000.0)
}
