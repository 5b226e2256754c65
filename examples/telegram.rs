//! A Telegram agent host in one file: each allowed chat's messages are
//! answered by that chat's own agent container, started through the sandbox
//! layer, which calls the Anthropic Messages API through the sandbox proxy
//! with TLS verification on. Unchanged in plain Docker and in a Docker Sandbox.
//!
//! ```sh
//! TELEGRAM_BOT_TOKEN=123456:ABC... ANTHROPIC_API_KEY=sk-... \
//! NANOCLAW_ALLOWED_CHATS=telegram:123456789 cargo run --example telegram
//! ```
//!
//! The agent is this very executable: run as `telegram agent-serve`, it
//! speaks the agent protocol (docs/agent-protocol.md) on its stdin and
//! stdout. On first use it is packed into a `FROM scratch` image (nothing is
//! pulled), so nothing needs building beforehand.
//!
//! Environment: `TELEGRAM_BOT_TOKEN` (required), `NANOCLAW_ALLOWED_CHATS`
//! (chat ids, e.g. `telegram:123`; a chat not on it is told its id),
//! `ANTHROPIC_API_KEY` (handed to agents in the protocol, never as container
//! environment; leave it unset when the sandbox proxy injects it),
//! `TELEGRAM_API_BASE`, `ANTHROPIC_BASE_URL`, `ANTHROPIC_MODEL`, and the
//! sandbox's own `HTTPS_PROXY` / `NO_PROXY` / `PROXY_CA_CERT_B64`. Chat files
//! live in `./nanoclaw-workspace`. Ctrl-C stops it gracefully. Exit codes: 2
//! for missing or bad configuration, 1 for other failures. What every channel
//! example shares (the agent mode, the host's set-up) is in
//! `support/channel_host.rs`.

use std::process::ExitCode;

use nanoclaw_sandbox_core::channel::telegram::{BotToken, TelegramTransport, DEFAULT_API_BASE};

#[path = "support/channel_host.rs"]
mod channel_host;
use channel_host::{config, Failure};

/// The bot token's variable.
const TOKEN_VAR: &str = "TELEGRAM_BOT_TOKEN";

/// What the Telegram transport is made from.
struct Settings {
    token: BotToken,
    api_base: String,
}

#[tokio::main]
async fn main() -> ExitCode {
    channel_host::main(settings, |settings, client| {
        TelegramTransport::new(client, settings.token).with_api_base(settings.api_base)
    })
    .await
}

/// The token, or exit code 2 naming the setting (never its value).
fn settings() -> Result<Settings, Failure> {
    let token = std::env::var(TOKEN_VAR).map_err(|_| {
        (
            2,
            format!("{TOKEN_VAR} is not set: create a bot with @BotFather and export its token"),
        )
    })?;
    let token = BotToken::new(token).map_err(|e| config(&e))?;
    let api_base = std::env::var("TELEGRAM_API_BASE").unwrap_or_else(|_| DEFAULT_API_BASE.into());
    Ok(Settings { token, api_base })
}
