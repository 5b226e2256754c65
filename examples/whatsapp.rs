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
//! pulled), so nothing needs building beforehand.
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

use nanoclaw_agent_image::{ensure_agent_image, AgentImageRequest};
use nanoclaw_sandbox_core::agent::serve::{
    serve, ServeOptions, AGENT_ENV_VARS, API_KEY_CREDENTIAL,
};
use nanoclaw_sandbox_core::channel::whatsapp::{
    qr_terminal, write_qr_png, PhoneNumber, TerminalTheme, WhatsAppLogin, WhatsAppOptions,
    WhatsAppTransport,
};
use nanoclaw_sandbox_core::host::{AgentHost, AgentProfile, ChatAllowlist, ALLOWED_CHATS_VAR};
use nanoclaw_sandbox_core::http::HttpClient;
use nanoclaw_sandbox_core::runtime::docker::{DockerOptions, DockerRuntime};
use nanoclaw_sandbox_core::runtime::InstallId;
use nanoclaw_sandbox_core::sandbox::{SandboxEnv, SandboxRuntime};
use nanoclaw_sandbox_core::spec::ContainerSpec;

/// The first argument that makes this executable the agent.
const AGENT_MODE: &str = "agent-serve";

/// The account's phone number, for a pairing code.
const PHONE_VAR: &str = "NANOCLAW_WHATSAPP_PHONE";
/// Where to write each login QR code as a PNG as well.
const QR_PNG_VAR: &str = "NANOCLAW_WHATSAPP_QR_PNG";

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

/// On the host: WhatsApp in, one agent container per chat, replies out.
async fn host() -> Result<(), Failure> {
    let config = |e: &dyn std::fmt::Display| (2, e.to_string());
    let failed = |e: &dyn std::fmt::Display| (1, e.to_string());
    let phone = match std::env::var(PHONE_VAR) {
        Ok(text) => {
            Some(PhoneNumber::parse(&text).map_err(|e| config(&format!("{PHONE_VAR}: {e}")))?)
        }
        Err(_) => None,
    };
    let png = std::env::var_os(QR_PNG_VAR)
        .filter(|path| !path.is_empty())
        .map(PathBuf::from);
    let allow = ChatAllowlist::parse(&std::env::var(ALLOWED_CHATS_VAR).unwrap_or_default())
        .map_err(|e| config(&e))?;
    let workspace = std::env::current_dir()
        .map_err(|e| failed(&e))?
        .join("nanoclaw-workspace");
    std::fs::create_dir_all(&workspace).map_err(|e| failed(&e))?;

    // One reading of the sandbox settings feeds both the agents' containers
    // (through the sandbox layer) and the host's own calls (the client: the
    // chat socket, the version fetch, the model API).
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
    // The session beside the chats' folders, never mounted into an agent.
    let mut options = WhatsAppOptions::new(workspace.join("whatsapp"));
    if let Some(phone) = phone {
        options = options.pairing_phone(phone);
    }
    let whatsapp = Arc::new(
        WhatsAppTransport::start(client, options, move |login| show(&login, png.as_ref()))
            .await
            .map_err(|e| failed(&e))?,
    );
    let mut host = AgentHost::builder(Arc::new(runtime), profile, &workspace)
        .channel(whatsapp.clone())
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
        .map_err(|e| failed(&e));
    // Written before leaving: the session's pending keys.
    whatsapp.shutdown().await;
    let report = report?;
    eprintln!(
        "stopped: {} answered, {} failed, {} left for the next start",
        report.handled, report.failed, report.pending
    );
    Ok(())
}
