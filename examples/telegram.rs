//! A Telegram echo bot whose every call goes through the sandbox proxy: what
//! an agent host's Telegram channel needs inside a Docker Sandbox, with no
//! per-library proxy patch and TLS verification on.
//!
//! ```sh
//! TELEGRAM_BOT_TOKEN=123456:ABC... cargo run --example telegram
//! ```
//!
//! Environment: `TELEGRAM_BOT_TOKEN` (required, from @BotFather),
//! `TELEGRAM_API_BASE` (default `https://api.telegram.org`), and the sandbox's
//! own `HTTPS_PROXY` / `NO_PROXY` / `PROXY_CA_CERT_B64`. It answers each text
//! message with `echo: <text>` until Ctrl-C. Exit codes: 2 for missing or bad
//! configuration, 1 when the API cannot be reached.

use std::process::ExitCode;

use nanoclaw_sandbox_core::channel::telegram::{BotToken, TelegramTransport, DEFAULT_API_BASE};
use nanoclaw_sandbox_core::channel::{ChannelTransport, OutboundMessage};
use nanoclaw_sandbox_core::http::HttpClient;
use nanoclaw_sandbox_core::sandbox::SandboxEnv;

#[tokio::main]
async fn main() -> ExitCode {
    let token =
        match std::env::var("TELEGRAM_BOT_TOKEN").map(BotToken::new) {
            Ok(Ok(token)) => token,
            Ok(Err(e)) => return fail(2, e),
            Err(_) => return fail(
                2,
                "TELEGRAM_BOT_TOKEN is not set: create a bot with @BotFather and export its token",
            ),
        };
    let env = match SandboxEnv::detect() {
        Ok(env) => env,
        Err(e) => return fail(2, e),
    };
    let client = match HttpClient::from_sandbox(&env) {
        Ok(client) => client,
        Err(e) => return fail(2, e),
    };
    let api_base =
        std::env::var("TELEGRAM_API_BASE").unwrap_or_else(|_| DEFAULT_API_BASE.to_string());
    if let Ok(decision) = client.decide(&api_base) {
        eprintln!("route to {api_base}: {decision}");
    }
    let bot = TelegramTransport::new(client, token).with_api_base(api_base);
    eprintln!("polling for messages; Ctrl-C to stop");
    loop {
        let batch = tokio::select! {
            batch = bot.receive() => batch,
            _ = tokio::signal::ctrl_c() => return ExitCode::SUCCESS,
        };
        let messages = match batch {
            Ok(messages) => messages,
            Err(e) => return fail(1, e),
        };
        for message in messages {
            let reply = OutboundMessage {
                chat: message.chat.clone(),
                text: format!("echo: {}", message.text),
                reply_to: Some(message.message_id.clone()),
            };
            if let Err(e) = bot.send(&reply).await {
                eprintln!("could not answer in chat {}: {e}", message.chat);
            }
        }
    }
}

fn fail(code: u8, error: impl std::fmt::Display) -> ExitCode {
    eprintln!("{error}");
    ExitCode::from(code)
}
