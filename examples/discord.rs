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
//! for missing or bad configuration, 1 for other failures. What every channel
//! example shares (the agent mode, the host's set-up) is in
//! `support/channel_host.rs`.

use std::process::ExitCode;

use nanoclaw_sandbox_core::channel::discord::{DiscordOptions, DiscordToken, DiscordTransport};

#[path = "support/channel_host.rs"]
mod channel_host;
use channel_host::{config, Failure};

/// The bot token's variable.
const TOKEN_VAR: &str = "DISCORD_BOT_TOKEN";

/// What the Discord transport is made from.
struct Settings {
    token: DiscordToken,
    options: DiscordOptions,
}

#[tokio::main]
async fn main() -> ExitCode {
    channel_host::main(settings, |settings, client| {
        DiscordTransport::new(client, settings.token, settings.options)
    })
    .await
}

/// The token and endpoints, or exit code 2 naming the setting (never its value).
fn settings() -> Result<Settings, Failure> {
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
    let mut options = DiscordOptions::default();
    if let Ok(base) = std::env::var("DISCORD_API_BASE") {
        options = options.api_base(base);
    }
    if let Ok(url) = std::env::var("DISCORD_GATEWAY_URL") {
        options = options.gateway_url(url);
    }
    Ok(Settings { token, options })
}
