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
//! for other failures. What every channel example shares (the agent mode,
//! the host's set-up) is in `support/channel_host.rs`.

use std::process::ExitCode;

use nanoclaw_sandbox_core::channel::slack::{
    SlackAppToken, SlackBotToken, SlackOptions, SlackTransport, DEFAULT_API_BASE,
};

#[path = "support/channel_host.rs"]
mod channel_host;
use channel_host::Failure;

/// The app-level token's variable.
const APP_TOKEN_VAR: &str = "SLACK_APP_TOKEN";
/// The bot token's variable.
const BOT_TOKEN_VAR: &str = "SLACK_BOT_TOKEN";

#[tokio::main]
async fn main() -> ExitCode {
    channel_host::main(tokens, |(app_token, bot_token), client| {
        let api_base = std::env::var("SLACK_API_BASE").unwrap_or_else(|_| DEFAULT_API_BASE.into());
        let options = SlackOptions::default().api_base(api_base);
        SlackTransport::new(client, app_token, bot_token, options)
    })
    .await
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
