//! Spawn one agent container through the library and stream its output.
//!
//! ```text
//! cargo run --example spawn                       # the built-in test agent
//! cargo run --example spawn -- IMAGE [ARGS...]    # any local image
//! ```
//!
//! Without an IMAGE it uses the test agent image, built from the CLI
//! executable on first use (see `examples/support/agent_image.rs`).

#[path = "support/agent_image.rs"]
mod agent_image;

use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;

use nanoclaw_sandbox_core::runtime::docker::{DockerOptions, DockerRuntime};
use nanoclaw_sandbox_core::runtime::{AgentHandle, ContainerRuntime, InstallId, OutputStream};
use nanoclaw_sandbox_core::spec::{ContainerSpec, NetworkMode};

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(code) => code,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<ExitCode, String> {
    let mut args = std::env::args().skip(1);
    let workspace = std::env::current_dir().map_err(|e| e.to_string())?;
    let options = DockerOptions::new(InstallId::from_workspace(&workspace));
    let runtime = DockerRuntime::connect(options)
        .await
        .map_err(|e| e.to_string())?;

    let (image, command): (String, Vec<String>) = match args.next() {
        Some(image) => (image, args.collect()),
        None => match agent_image::agent_image_tag(&runtime).await? {
            Some(tag) => (
                tag,
                [
                    "--stdout",
                    "hello from examples/spawn.rs",
                    "--stderr",
                    "and a line on stderr",
                    "--print-env",
                ]
                .map(String::from)
                .to_vec(),
            ),
            None => return Ok(ExitCode::from(2)),
        },
    };
    let spec = ContainerSpec::builder(image)
        .command(command)
        .env("NANOCLAW_EXAMPLE", "spawn")
        .network(NetworkMode::None)
        .build()
        .map_err(|e| e.to_string())?;

    let runtime: Arc<dyn ContainerRuntime> = Arc::new(runtime);
    let mut agent = AgentHandle::spawn(runtime, &spec)
        .await
        .map_err(|e| e.to_string())?;
    eprintln!(
        "spawned {} in {:?}",
        agent.id().short(),
        agent.timings().total()
    );
    let stdout = agent.take_stdout().ok_or("stdout already taken")?;
    let stderr = agent.take_stderr().ok_or("stderr already taken")?;
    // Both streams at once, each printed as its chunks arrive.
    let (out, err) = tokio::join!(
        relay(stdout, std::io::stdout()),
        relay(stderr, std::io::stderr())
    );
    out?;
    err?;
    let status = agent.wait().await.map_err(|e| e.to_string())?;
    agent.remove().await.map_err(|e| e.to_string())?;
    eprintln!("agent finished: {status}");
    Ok(ExitCode::from(u8::try_from(status.code).unwrap_or(1)))
}

async fn relay(mut stream: OutputStream, mut sink: impl Write) -> Result<(), String> {
    while let Some(chunk) = stream.next_chunk().await {
        let chunk = chunk.map_err(|e| e.to_string())?;
        sink.write_all(&chunk).map_err(|e| e.to_string())?;
        sink.flush().map_err(|e| e.to_string())?;
    }
    Ok(())
}
