//! A Discord agent host in one file: each allowed channel's messages are
//! answered by that channel's own agent container, started through the
//! sandbox layer, which calls the Anthropic Messages API through the sandbox
//! proxy with TLS verification on. The bot's Gateway WebSocket and its REST
//! calls go through the proxy too. Unchanged in plain Docker and in a Docker
//! Sandbox.
//!
//! ```sh
//! DISCORD_BOT_TOKEN=MTA...Nw.GhIjKl.abc... ANTHROPIC_API_KEY=sk-... \
//! NANOCLAW_ALLOWED_CHATS=discord:123456789012345678 cargo run --example discord
//! ```
//!
//! The bot needs the Message Content intent (Developer Portal → your
//! application → Bot → Privileged Gateway Intents) to read messages in
//! servers. A chat is a Discord channel (or a DM channel): its id is what
//! the allowlist names, and a channel not on it is told its id.
//!
//! The agent is this very executable: run as `discord agent-serve`, it
//! speaks the agent protocol (docs/agent-protocol.md) on its stdin and
//! stdout. On first use it is packed into a `FROM scratch` image (nothing is
//! pulled), so nothing needs building beforehand.
//!
//! Environment: `DISCORD_BOT_TOKEN` (required), `NANOCLAW_ALLOWED_CHATS`
//! (e.g. `discord:123456789012345678`), `ANTHROPIC_API_KEY` (handed to agents
//! in the protocol, never as container environment; leave it unset when the
//! sandbox proxy injects it), `DISCORD_API_BASE` (default
//! `https://discord.com/api/v10`), `DISCORD_GATEWAY_URL` (default: what
//! `GET /gateway/bot` names), `ANTHROPIC_BASE_URL`, `ANTHROPIC_MODEL`, and the
//! sandbox's own `HTTPS_PROXY` / `NO_PROXY` / `PROXY_CA_CERT_B64`. Chat files
//! live in `./nanoclaw-workspace`. Ctrl-C stops it gracefully. Exit codes: 2
//! for missing or bad configuration, 1 for other failures.

use std::process::ExitCode;
use std::sync::Arc;

use nanoclaw_agent_image::{ensure_agent_image, AgentImageRequest};
use nanoclaw_sandbox_core::agent::serve::{
    serve, ServeOptions, AGENT_ENV_VARS, API_KEY_CREDENTIAL,
};
use nanoclaw_sandbox_core::channel::discord::{DiscordOptions, DiscordToken, DiscordTransport};
use nanoclaw_sandbox_core::host::{AgentHost, AgentProfile, ChatAllowlist, ALLOWED_CHATS_VAR};
use nanoclaw_sandbox_core::http::HttpClient;
use nanoclaw_sandbox_core::runtime::docker::{DockerOptions, DockerRuntime};
use nanoclaw_sandbox_core::runtime::InstallId;
use nanoclaw_sandbox_core::sandbox::{SandboxEnv, SandboxRuntime};
use nanoclaw_sandbox_core::spec::ContainerSpec;

/// The first argument that makes this executable the agent.
const AGENT_MODE: &str = "agent-serve";

/// The bot token's variable.
const TOKEN_VAR: &str = "DISCORD_BOT_TOKEN";

type Failure = (u8, String);

#[tokio::main]
async fn main() -> ExitCode {
    let outcome = if std::env::args().nth(1).as_deref() == Some(AGENT_MODE) {
        agent().await
    } else {
        tracing_subscriber::fmt()
            .with_env_filter(std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into()))
            .with_writer(std::io::stderr)
            .init();
        host().await
    };
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
        .map_err(|e| (1, e.to_string()))
}

/// On the host: Discord in, one agent container per channel, replies out.
async fn host() -> Result<(), Failure> {
    let config = |e: &dyn std::fmt::Display| (2, e.to_string());
    let failed = |e: &dyn std::fmt::Display| (1, e.to_string());
    let token = std::env::var(TOKEN_VAR).map_err(|_| {
        (
            2,
            format!(
                "{TOKEN_VAR} is not set: create a bot in the Discord Developer Portal \
                 (your application → Bot → Reset Token) and export its token"
            ),
        )
    })?;
    let token = DiscordToken::new(token).map_err(|e| config(&format!("{TOKEN_VAR}: {e}")))?;
    let allow = ChatAllowlist::parse(&std::env::var(ALLOWED_CHATS_VAR).unwrap_or_default())
        .map_err(|e| config(&e))?;
    let workspace = std::env::current_dir()
        .map_err(|e| failed(&e))?
        .join("nanoclaw-workspace");
    std::fs::create_dir_all(&workspace).map_err(|e| failed(&e))?;

    // One reading of the sandbox settings feeds both the agents' containers
    // (through the sandbox layer) and the host's own calls (the client, for
    // the Gateway WebSocket as for REST).
    let env = SandboxEnv::detect().map_err(|e| config(&e))?;
    let client = HttpClient::from_sandbox(&env).map_err(|e| config(&e))?;
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

    let runtime = SandboxRuntime::builder(docker)
        .env(env)
        .workspace_root(&workspace)
        .build()
        .map_err(|e| failed(&e))?;
    let mut options = DiscordOptions::default();
    if let Ok(base) = std::env::var("DISCORD_API_BASE") {
        options = options.api_base(base);
    }
    if let Ok(url) = std::env::var("DISCORD_GATEWAY_URL") {
        options = options.gateway_url(url);
    }
    let discord = DiscordTransport::new(client, token, options);
    let mut host = AgentHost::builder(Arc::new(runtime), profile, &workspace)
        .channel(Arc::new(discord))
        .allow(allow);
    if let Ok(key) = std::env::var(API_KEY_CREDENTIAL) {
        host = host.credential(API_KEY_CREDENTIAL, key);
    }
    let host = host.build().map_err(|e| config(&e))?;
    eprintln!("agent host running; Ctrl-C to stop");
    let report = host
        .run(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
        .map_err(|e| failed(&e))?;
    eprintln!(
        "stopped: {} answered, {} failed, {} left for the next start",
        report.handled, report.failed, report.pending
    );
    Ok(())
}
