//! Shared by the channel examples (`telegram`, `discord`, `slack`,
//! `whatsapp`): one executable that is both the agent host and, run as
//! `EXE agent-serve`, the agent inside each container. Each example names
//! only its channel: how to read its settings and how to make its transport
//! from them (and, for a transport with state on disk, how to open it in the
//! workspace and close it); this file composes the rest from library pieces,
//! the same way for every channel.
//!
//! The host reads the sandbox settings once: they feed the agents'
//! containers (through the sandbox layer) and the host's own calls (the
//! client the transport gets). Chat files live in `./nanoclaw-workspace`.
//! Exit codes: 2 for missing or bad configuration (named, never with a
//! secret's value), 1 for other failures.

use std::future::Future;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use nanoclaw_agent_image::{ensure_agent_image, AgentImageRequest};
use nanoclaw_sandbox_core::agent::serve::{
    serve, ServeOptions, AGENT_ENV_VARS, API_KEY_CREDENTIAL,
};
use nanoclaw_sandbox_core::channel::ChannelTransport;
use nanoclaw_sandbox_core::host::{AgentHost, AgentProfile, ChatAllowlist, ALLOWED_CHATS_VAR};
use nanoclaw_sandbox_core::http::HttpClient;
use nanoclaw_sandbox_core::relay::CredentialRelay;
use nanoclaw_sandbox_core::runtime::docker::{DockerOptions, DockerRuntime};
use nanoclaw_sandbox_core::runtime::InstallId;
use nanoclaw_sandbox_core::sandbox::{SandboxEnv, SandboxRuntime};
use nanoclaw_sandbox_core::spec::ContainerSpec;

/// The first argument that makes the executable the agent.
pub const AGENT_MODE: &str = "agent-serve";

/// An exit code and what to print.
pub type Failure = (u8, String);

/// A configuration error: exit code 2.
pub fn config(e: &dyn std::fmt::Display) -> Failure {
    (2, e.to_string())
}

/// Any other failure: exit code 1.
pub fn failed(e: &dyn std::fmt::Display) -> Failure {
    (1, e.to_string())
}

/// The example's `main`: the agent when asked to be, else the host with the
/// channel `transport` makes from `settings()` (read first, so a missing
/// setting stops it before anything is made or reached).
#[allow(dead_code)] // whatsapp opens its transport with `main_opened`
pub async fn main<S, T>(
    settings: impl FnOnce() -> Result<S, Failure>,
    transport: impl FnOnce(S, HttpClient) -> T,
) -> ExitCode
where
    T: ChannelTransport + 'static,
{
    main_opened(
        settings,
        |settings, client, _workspace| {
            std::future::ready(Ok(Arc::new(transport(settings, client))))
        },
        |_| std::future::ready(()),
    )
    .await
}

/// [`main`] for a transport that is opened asynchronously, with state in
/// the workspace (`open` gets the workspace directory; it may fail), and
/// closed after the host stopped (`close`: WhatsApp writes its session).
pub async fn main_opened<S, T, Opened, Closed>(
    settings: impl FnOnce() -> Result<S, Failure>,
    open: impl FnOnce(S, HttpClient, PathBuf) -> Opened,
    close: impl FnOnce(Arc<T>) -> Closed,
) -> ExitCode
where
    T: ChannelTransport + 'static,
    Opened: Future<Output = Result<Arc<T>, Failure>>,
    Closed: Future<Output = ()>,
{
    let outcome = if std::env::args().nth(1).as_deref() == Some(AGENT_MODE) {
        agent().await
    } else {
        tracing_subscriber::fmt()
            .with_env_filter(std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into()))
            .with_writer(std::io::stderr)
            .init();
        host(settings, open, close).await
    };
    exit(outcome)
}

fn exit(outcome: Result<(), Failure>) -> ExitCode {
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err((code, message)) => {
            eprintln!("{message}");
            ExitCode::from(code)
        }
    }
}

/// Inside the container: answer each message through the Messages API.
async fn agent() -> Result<(), Failure> {
    let options = ServeOptions::from_env();
    serve(options, tokio::io::stdin(), tokio::io::stdout())
        .await
        .map(|_| ())
        .map_err(|e| failed(&e))
}

/// On the host: the channel in, one agent container per chat, replies out,
/// until Ctrl-C.
async fn host<S, T, Opened, Closed>(
    settings: impl FnOnce() -> Result<S, Failure>,
    open: impl FnOnce(S, HttpClient, PathBuf) -> Opened,
    close: impl FnOnce(Arc<T>) -> Closed,
) -> Result<(), Failure>
where
    T: ChannelTransport + 'static,
    Opened: Future<Output = Result<Arc<T>, Failure>>,
    Closed: Future<Output = ()>,
{
    let settings = settings()?;
    let allow = ChatAllowlist::parse(&std::env::var(ALLOWED_CHATS_VAR).unwrap_or_default())
        .map_err(|e| config(&e))?;
    let env = SandboxEnv::detect().map_err(|e| config(&e))?;
    let client = HttpClient::from_sandbox(&env).map_err(|e| config(&e))?;
    let workspace = std::env::current_dir()
        .map_err(|e| failed(&e))?
        .join("nanoclaw-workspace");
    std::fs::create_dir_all(&workspace).map_err(|e| failed(&e))?;
    let docker = DockerRuntime::connect(DockerOptions::new(InstallId::from_workspace(&workspace)))
        .await
        .map_err(|e| failed(&e))?;

    // The agent image: this executable, built on first use and reused after.
    let exe = std::env::current_exe().map_err(|e| failed(&e))?;
    let request = AgentImageRequest::new(exe).entrypoint_args([AGENT_MODE]);
    let image = ensure_agent_image(&docker, &request, &mut |_| {})
        .await
        .map_err(|e| failed(&e))?;
    let mut agent = ContainerSpec::builder(image.tag.as_str());
    for name in AGENT_ENV_VARS {
        if let Ok(value) = std::env::var(name) {
            agent = agent.env(name, value);
        }
    }
    let profile = AgentProfile::new(agent.build().map_err(|e| config(&e))?);

    // A proxy URL with credentials: agents get a relay on this host (and its
    // token) instead, so the password never enters a container. Kept until
    // the host stops.
    let (env, relay) = CredentialRelay::for_agents(env, CredentialRelay::EVERY_ADDRESS)
        .await
        .map_err(|e| failed(&e))?;
    let runtime = SandboxRuntime::builder(docker)
        .env(env)
        .workspace_root(&workspace)
        .build()
        .map_err(|e| failed(&e))?;
    let transport = open(settings, client, workspace.clone()).await?;
    let mut host = AgentHost::builder(Arc::new(runtime), profile, &workspace)
        .channel(transport.clone())
        .allow(allow);
    if let Ok(key) = std::env::var(API_KEY_CREDENTIAL) {
        host = host.credential(API_KEY_CREDENTIAL, key);
    }
    let host = host.build().map_err(|e| config(&e))?;
    eprintln!("agent host running; Ctrl-C to stop");
    let report = host.run(ctrl_c()).await.map_err(|e| failed(&e));
    close(transport).await;
    drop(relay);
    let report = report?;
    eprintln!(
        "stopped: {} answered, {} failed, {} left for the next start",
        report.handled, report.failed, report.pending
    );
    Ok(())
}

async fn ctrl_c() {
    let _ = tokio::signal::ctrl_c().await;
}
