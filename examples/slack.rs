//! A Slack agent host in one file: each allowed channel's messages are
//! answered by that channel's own agent container, started through the
//! sandbox layer, which calls the Anthropic Messages API through the sandbox
//! proxy with TLS verification on. Messages arrive over Socket Mode (no
//! public URL needed); answers go to the thread of a thread message, else to
//! the channel. Unchanged in plain Docker and in a Docker Sandbox (allow the
//! hosts docs/channels.md lists).
//!
//! ```sh
//! SLACK_APP_TOKEN=xapp-... SLACK_BOT_TOKEN=xoxb-... ANTHROPIC_API_KEY=sk-... \
//! NANOCLAW_ALLOWED_CHATS=slack:C0123456789 cargo run --example slack
//! ```
//!
//! The agent is this very executable: run as `slack agent-serve`, it
//! speaks the agent protocol (docs/agent-protocol.md) on its stdin and
//! stdout. On first use it is packed into a `FROM scratch` image (nothing is
//! pulled), so nothing needs building beforehand.
//!
//! Environment: `SLACK_APP_TOKEN` (required: the app-level token, `xapp-…`,
//! scope `connections:write`, for Socket Mode), `SLACK_BOT_TOKEN`
//! (required: the bot token, `xoxb-…`, for `chat.postMessage`),
//! `NANOCLAW_ALLOWED_CHATS` (channel ids, e.g. `slack:C0123456789`; a
//! channel not on it is told its id), `ANTHROPIC_API_KEY` (handed to agents
//! in the protocol, never as container environment; leave it unset when the
//! sandbox proxy injects it), `SLACK_API_BASE`, `ANTHROPIC_BASE_URL`,
//! `ANTHROPIC_MODEL`, and the sandbox's own `HTTPS_PROXY` / `NO_PROXY` /
//! `PROXY_CA_CERT_B64`. Chat files live in `./nanoclaw-workspace`. Ctrl-C
//! stops it gracefully. Exit codes: 2 for missing or bad configuration, 1
//! for other failures.

use std::process::ExitCode;
use std::sync::Arc;

use nanoclaw_agent_image::{ensure_agent_image, AgentImageRequest};
use nanoclaw_sandbox_core::agent::serve::{
    serve, ServeOptions, AGENT_ENV_VARS, API_KEY_CREDENTIAL,
};
use nanoclaw_sandbox_core::channel::slack::{
    SlackAppToken, SlackBotToken, SlackOptions, SlackTransport, DEFAULT_API_BASE,
};
use nanoclaw_sandbox_core::host::{AgentHost, AgentProfile, ChatAllowlist, ALLOWED_CHATS_VAR};
use nanoclaw_sandbox_core::http::HttpClient;
use nanoclaw_sandbox_core::runtime::docker::{DockerOptions, DockerRuntime};
use nanoclaw_sandbox_core::runtime::InstallId;
use nanoclaw_sandbox_core::sandbox::{SandboxEnv, SandboxRuntime};
use nanoclaw_sandbox_core::spec::ContainerSpec;

/// The first argument that makes this executable the agent.
const AGENT_MODE: &str = "agent-serve";

/// The app-level token's variable.
const APP_TOKEN_VAR: &str = "SLACK_APP_TOKEN";
/// The bot token's variable.
const BOT_TOKEN_VAR: &str = "SLACK_BOT_TOKEN";

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

/// Both tokens, or exit code 2 naming every setting missing or malformed
/// (never a value).
fn tokens() -> Result<(SlackAppToken, SlackBotToken), Failure> {
    let read = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    let (app, bot) = (read(APP_TOKEN_VAR), read(BOT_TOKEN_VAR));
    let mut missing = Vec::new();
    if app.is_none() {
        missing.push(format!(
            "{APP_TOKEN_VAR} is not set: create an app-level token (xapp-…) with the \
             connections:write scope under your Slack app's Basic Information → App-Level \
             Tokens, and turn on Socket Mode"
        ));
    }
    if bot.is_none() {
        missing.push(format!(
            "{BOT_TOKEN_VAR} is not set: install the app to your workspace and copy its bot \
             token (xoxb-…) from OAuth & Permissions → Bot User OAuth Token"
        ));
    }
    let (Some(app), Some(bot)) = (app, bot) else {
        return Err((2, missing.join("\n")));
    };
    let app = SlackAppToken::new(app).map_err(|e| (2, format!("{APP_TOKEN_VAR}: {e}")))?;
    let bot = SlackBotToken::new(bot).map_err(|e| (2, format!("{BOT_TOKEN_VAR}: {e}")))?;
    Ok((app, bot))
}

/// On the host: Slack in, one agent container per channel, replies out.
async fn host() -> Result<(), Failure> {
    let config = |e: &dyn std::fmt::Display| (2, e.to_string());
    let failed = |e: &dyn std::fmt::Display| (1, e.to_string());
    let (app_token, bot_token) = tokens()?;
    let allow = ChatAllowlist::parse(&std::env::var(ALLOWED_CHATS_VAR).unwrap_or_default())
        .map_err(|e| config(&e))?;
    let workspace = std::env::current_dir()
        .map_err(|e| failed(&e))?
        .join("nanoclaw-workspace");
    std::fs::create_dir_all(&workspace).map_err(|e| failed(&e))?;

    // One reading of the sandbox settings feeds both the agents' containers
    // (through the sandbox layer) and the host's own calls (the client).
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
    let api_base = std::env::var("SLACK_API_BASE").unwrap_or_else(|_| DEFAULT_API_BASE.into());
    let options = SlackOptions::default().api_base(api_base);
    let slack = SlackTransport::new(client, app_token, bot_token, options);
    let mut host = AgentHost::builder(Arc::new(runtime), profile, &workspace)
        .channel(Arc::new(slack))
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
