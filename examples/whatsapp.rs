//! A WhatsApp agent host in one file: the account is linked as a device
//! (WhatsApp Web), and each allowed chat's messages are answered by that
//! chat's own agent container, started through the sandbox layer, which
//! calls the Anthropic Messages API through the sandbox proxy with TLS
//! verification on. WhatsApp's chat socket and version fetch go through the
//! proxy too, its hosts checked against the public roots only (an
//! intercepting proxy is reported, with the fix). Unchanged in plain Docker
//! and in a Docker Sandbox.
//!
//! ```sh
//! ANTHROPIC_API_KEY=sk-... cargo run --example whatsapp
//! # scan the QR code it prints (WhatsApp → Settings → Linked devices → Link a device),
//! # or log in with a pairing code instead:
//! NANOCLAW_WHATSAPP_PHONE=+15551234567 cargo run --example whatsapp
//! ```
//!
//! Use a number of its own for the agent: messages the account sends itself
//! (from the phone) are not answered. A chat is a JID
//! (`15551234567@s.whatsapp.net`, `120363…@g.us` for a group): the allowlist
//! names it (`whatsapp:15551234567@s.whatsapp.net`), and a chat not on it is
//! told its key.
//!
//! The agent is this very executable: run as `whatsapp agent-serve`, it
//! speaks the agent protocol (docs/agent-protocol.md) on its stdin and
//! stdout. On first use it is packed into a `FROM scratch` image (nothing is
//! pulled), so nothing needs building beforehand. The host's set-up is the
//! channel examples' shared one (`support/channel_host.rs`).
//!
//! Environment: `NANOCLAW_WHATSAPP_PHONE` (the account's number, country
//! code first: log in with a pairing code; without it, a QR code),
//! `NANOCLAW_WHATSAPP_QR_PNG` (also write each QR code to this PNG file),
//! `NANOCLAW_ALLOWED_CHATS` (e.g. `whatsapp:15551234567@s.whatsapp.net`),
//! `ANTHROPIC_API_KEY` (handed to agents in the protocol, never as container
//! environment; leave it unset when the sandbox proxy injects it),
//! `ANTHROPIC_BASE_URL`, `ANTHROPIC_MODEL`, and the sandbox's own
//! `HTTPS_PROXY` / `NO_PROXY` / `PROXY_CA_CERT_B64`. Chat files live in
//! `./nanoclaw-workspace`, the WhatsApp session in
//! `./nanoclaw-workspace/whatsapp` (0700; the next start needs no code).
//! Ctrl-C stops it gracefully. Exit codes: 2 for bad configuration, 1 for
//! other failures.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use nanoclaw_sandbox_core::channel::whatsapp::{
    qr_terminal, write_qr_png, PhoneNumber, TerminalTheme, WhatsAppLogin, WhatsAppOptions,
    WhatsAppTransport,
};

#[path = "support/channel_host.rs"]
mod channel_host;
use channel_host::{config, failed, Failure};

/// The account's phone number, for a pairing code.
const PHONE_VAR: &str = "NANOCLAW_WHATSAPP_PHONE";
/// Where to write each login QR code as a PNG as well.
const QR_PNG_VAR: &str = "NANOCLAW_WHATSAPP_QR_PNG";

/// How the login goes.
struct Settings {
    phone: Option<PhoneNumber>,
    png: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> ExitCode {
    channel_host::main_opened(
        settings,
        |settings, client, workspace| async move {
            // The session beside the chats' folders, never mounted into an agent.
            let mut options = WhatsAppOptions::new(workspace.join("whatsapp"));
            if let Some(phone) = settings.phone {
                options = options.pairing_phone(phone);
            }
            let png = settings.png;
            let whatsapp =
                WhatsAppTransport::start(client, options, move |login| show(&login, png.as_ref()))
                    .await
                    .map_err(|e| failed(&e))?;
            Ok(Arc::new(whatsapp))
        },
        // Written before leaving: the session's pending keys.
        |whatsapp| async move { whatsapp.shutdown().await },
    )
    .await
}

/// Nothing is required (without a phone number the login is by QR code); a
/// malformed number exits 2 naming the setting, never its value.
fn settings() -> Result<Settings, Failure> {
    let phone = match std::env::var(PHONE_VAR) {
        Ok(text) => {
            Some(PhoneNumber::parse(&text).map_err(|e| config(&format!("{PHONE_VAR}: {e}")))?)
        }
        Err(_) => None,
    };
    let png = std::env::var_os(QR_PNG_VAR)
        .filter(|path| !path.is_empty())
        .map(PathBuf::from);
    Ok(Settings { phone, png })
}

/// Shows a login event on the terminal (and a QR code as a PNG on request).
fn show(login: &WhatsAppLogin, png: Option<&PathBuf>) {
    match login {
        WhatsAppLogin::Qr { code, valid_for } => {
            match qr_terminal(code, TerminalTheme::Dark) {
                Ok(blocks) => eprintln!(
                    "\n{blocks}\nScan this QR code in WhatsApp (Settings → Linked devices → \
                     Link a device) within {} s; a new one follows.",
                    valid_for.as_secs()
                ),
                Err(e) => eprintln!("{e}"),
            }
            if let Some(path) = png {
                match write_qr_png(code, path) {
                    Ok(()) => eprintln!("The QR code is also in {}.", path.display()),
                    Err(e) => eprintln!("{e}"),
                }
            }
        }
        WhatsAppLogin::PairingCode { code, valid_for } => eprintln!(
            "\nPairing code: {code}\nEnter it in WhatsApp on that phone (Settings → Linked \
             devices → Link a device → Link with phone number instead) within {} s.",
            valid_for.as_secs()
        ),
        WhatsAppLogin::Paired => eprintln!("Linked; connecting with the new session."),
        WhatsAppLogin::LoggedIn => eprintln!("Logged in to WhatsApp."),
        _ => {}
    }
}
