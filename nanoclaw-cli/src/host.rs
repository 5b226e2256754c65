//! `host`: the agent host as a binary. Telegram in, one agent container per
//! chat through the sandbox layer, the model API called by the agent through
//! the proxy, the answer back to the chat.
//!
//! Configured by the environment (or flags): `TELEGRAM_BOT_TOKEN`,
//! `NANOCLAW_ALLOWED_CHATS`, `ANTHROPIC_API_KEY` (handed to agents in the
//! agent protocol, never as container environment), `TELEGRAM_API_BASE`,
//! `ANTHROPIC_BASE_URL` and `ANTHROPIC_MODEL` (handed to agents as
//! environment). Secrets are read from the environment only, never from
//! flags, so they do not show in the process list.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use nanoclaw_sandbox_core::agent::serve::{AGENT_ENV_VARS, API_KEY_CREDENTIAL};
use nanoclaw_sandbox_core::channel::telegram::{BotToken, TelegramTransport, DEFAULT_API_BASE};
use nanoclaw_sandbox_core::host::{AgentHost, AgentProfile, ChatAllowlist, ALLOWED_CHATS_VAR};
use nanoclaw_sandbox_core::http::HttpClient;
use nanoclaw_sandbox_core::relay::CredentialRelay;
use nanoclaw_sandbox_core::runtime::docker::DockerRuntime;
use nanoclaw_sandbox_core::runtime::ContainerRuntime;
use nanoclaw_sandbox_core::sandbox::{Mode, SandboxEnv};
use nanoclaw_sandbox_core::spec::{ContainerSpec, NetworkMode};

use crate::engine;
use crate::exit::usage;
use crate::logging;
use crate::settings::{SettingsArgs, VarSource};
use crate::signals::Signals;

/// The variable holding the Telegram bot token.
pub(crate) const TELEGRAM_TOKEN_VAR: &str = "TELEGRAM_BOT_TOKEN";
/// The variable holding the model API key agents get in the protocol (the
/// credential's own name).
pub(crate) const ANTHROPIC_KEY_VAR: &str = API_KEY_CREDENTIAL;

/// Options of `host`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Chats that may talk to the agents: chat ids separated by commas, bare
    /// (`123`) or namespaced (`telegram:123`), or `*` for anyone. Anyone
    /// else gets a reply naming their chat id and how to allow it.
    #[arg(long, env = ALLOWED_CHATS_VAR, value_name = "LIST", default_value = "")]
    allowed_chats: String,
    /// The Telegram Bot API's base URL (a local Bot API server, a test double).
    #[arg(long, env = "TELEGRAM_API_BASE", value_name = "URL", default_value = DEFAULT_API_BASE)]
    telegram_api_base: String,
    /// The cap on agent containers, busy or idle.
    #[arg(long, value_name = "N", default_value_t = 5)]
    max_agents: usize,
    /// Warm agents kept started for chats that have none yet (they count
    /// against --max-agents); 0 spawns each chat's agent when its message
    /// comes. Needs the workspace on one file system, mounted by the engine
    /// itself (docs/architecture.md, "Warm agents").
    #[arg(long, value_name = "N", default_value_t = 0)]
    pool_size: usize,
    /// Seconds an agent may stay idle before it is stopped.
    #[arg(long, value_name = "SECS", default_value_t = 600.0)]
    idle_timeout: f64,
    /// Seconds working agents may take to finish at shutdown.
    #[arg(long, value_name = "SECS", default_value_t = 30.0)]
    grace: f64,
    /// In group chats, answer only messages that mention this word.
    #[arg(long, value_name = "WORD")]
    trigger: Option<String>,
    /// The agent image (it must speak docs/agent-protocol.md); default: the
    /// image built from this executable, whose `agent --serve` calls the
    /// Anthropic Messages API.
    #[arg(long, value_name = "IMAGE")]
    image: Option<String>,
    /// The user agents run as (`uid:gid`); default: ours, or 1000:1000 as root.
    #[arg(long, value_name = "UID:GID")]
    user: Option<String>,
    /// The agents' network (default: Docker's default bridge).
    #[arg(long, value_name = "MODE")]
    network: Option<String>,
    /// DNS servers for agent containers (repeatable).
    #[arg(long, value_name = "IP")]
    dns: Vec<String>,
    /// Memory limit per agent, in MiB.
    #[arg(long, value_name = "MIB")]
    memory_mib: Option<u64>,
    /// Seconds one Telegram long poll waits (shorter polls stop faster).
    #[arg(long, value_name = "SECS", default_value_t = 25, hide = true)]
    poll_seconds: u32,
    /// Run agents without the sandbox layer even when the environment is a sandbox.
    #[arg(long)]
    no_sandbox: bool,
    /// The workspace: chat folders, session folders and the message journal
    /// live here, and containers are labelled with an install id derived
    /// from it [default: ./nanoclaw-workspace].
    #[arg(long, env = engine::WORKSPACE_VAR, value_name = "DIR")]
    workspace: Option<PathBuf>,
    #[command(flatten)]
    settings: SettingsArgs,
    /// The agent's command (default for the built-in image: `--serve`).
    #[arg(last = true, value_name = "AGENT_ARGS")]
    agent_command: Vec<String>,
}

/// What a host needs besides the engine: everything `host` and `demo` share.
#[derive(Debug, Clone)]
pub(crate) struct HostOptions {
    /// Chat files, sessions and the journal go here.
    pub workspace: PathBuf,
    /// Who may talk to it.
    pub allow: ChatAllowlist,
    /// The Bot API base URL.
    pub telegram_api_base: String,
    /// Seconds per long poll.
    pub poll_seconds: u32,
    /// Handed to agents in the protocol.
    pub anthropic_key: Option<String>,
    /// Environment handed to agents (the model API's base URL and model).
    pub agent_env: Vec<(String, String)>,
    /// The agent image; `None`: this executable's.
    pub image: Option<String>,
    /// The agent's command.
    pub agent_command: Vec<String>,
    /// Cap, idle timeout, grace.
    pub max_agents: usize,
    /// Warm agents.
    pub pool_size: usize,
    /// Seconds before an idle agent stops.
    pub idle_timeout: Duration,
    /// Seconds agents may finish at shutdown.
    pub grace: Duration,
    /// Group trigger word.
    pub trigger: Option<String>,
    /// Agent user.
    pub user: Option<String>,
    /// Agent network.
    pub network: Option<NetworkMode>,
    /// Agent DNS servers.
    pub dns: Vec<String>,
    /// Agent memory limit.
    pub memory_bytes: Option<u64>,
}

/// Runs the host until SIGINT or SIGTERM.
pub(crate) async fn run(args: Args) -> anyhow::Result<ExitCode> {
    logging::init("info");
    let token = std::env::var(TELEGRAM_TOKEN_VAR).map_err(|_| {
        usage(format!(
            "{TELEGRAM_TOKEN_VAR} is not set: create a bot with @BotFather and export its token"
        ))
    })?;
    let token = BotToken::new(token).map_err(usage)?;
    let allow = ChatAllowlist::parse(&args.allowed_chats).map_err(usage)?;
    let seconds = |name: &str, secs: f64| {
        Duration::try_from_secs_f64(secs)
            .ok()
            .filter(|d| !d.is_zero())
            .ok_or_else(|| {
                usage(format!(
                    "--{name} {secs} is not a positive number of seconds"
                ))
            })
    };
    let workspace = match &args.workspace {
        Some(dir) => dir.clone(),
        None => std::env::current_dir()
            .context("cannot read the current directory; pass --workspace")?
            .join("nanoclaw-workspace"),
    };
    std::fs::create_dir_all(&workspace)
        .with_context(|| format!("cannot create the workspace {}", workspace.display()))?;
    let workspace = workspace
        .canonicalize()
        .with_context(|| format!("cannot resolve the workspace {}", workspace.display()))?;
    let options = HostOptions {
        workspace,
        allow,
        telegram_api_base: args.telegram_api_base.clone(),
        poll_seconds: args.poll_seconds,
        anthropic_key: std::env::var(ANTHROPIC_KEY_VAR)
            .ok()
            .filter(|k| !k.trim().is_empty()),
        agent_env: AGENT_ENV_VARS
            .iter()
            .filter_map(|name| std::env::var(name).ok().map(|v| (name.to_string(), v)))
            .collect(),
        image: args.image.clone(),
        agent_command: args.agent_command.clone(),
        max_agents: args.max_agents,
        pool_size: args.pool_size,
        idle_timeout: seconds("idle-timeout", args.idle_timeout)?,
        grace: seconds("grace", args.grace)?,
        trigger: args.trigger.clone(),
        user: args.user.clone(),
        network: args.network.as_deref().map(NetworkMode::parse),
        dns: args.dns.clone(),
        memory_bytes: args.memory_mib.map(|m| m << 20),
    };
    if options.anthropic_key.is_none() {
        tracing::warn!("{ANTHROPIC_KEY_VAR} is not set: agents call the model API without a key (fine when the sandbox proxy injects it)");
    }

    let env = if args.no_sandbox {
        SandboxEnv::new(Mode::StandardDocker)
    } else {
        VarSource::from_args(&args.settings)?.detect()?
    };
    let docker = engine::connect(Some(&options.workspace)).await?;
    let client =
        HttpClient::from_sandbox(&env).context("cannot build the HTTPS client for Telegram")?;
    // The agents' proxy is the relay when the proxy URL has credentials;
    // it lives until the host has stopped.
    let (agents_env, _relay) =
        CredentialRelay::for_agents(env, CredentialRelay::EVERY_ADDRESS).await?;
    let host = compose(docker, agents_env, client, token, &options).await?;
    let mut signals = Signals::install()?;
    let report = host
        .run(async move {
            let signal = signals.next().await;
            tracing::info!("{signal}");
        })
        .await?;
    tracing::info!(
        handled = report.handled,
        failed = report.failed,
        replayed = report.replayed,
        pending = report.pending,
        "agent host stopped"
    );
    Ok(ExitCode::SUCCESS)
}

/// The host: Telegram through `client`, agents on `docker` behind the
/// sandbox layer for `env`, the agent image built on first use.
pub(crate) async fn compose(
    docker: DockerRuntime,
    env: SandboxEnv,
    client: HttpClient,
    token: BotToken,
    options: &HostOptions,
) -> anyhow::Result<AgentHost> {
    if let Ok(decision) = client.decide(&options.telegram_api_base) {
        tracing::info!("route to {}: {decision}", options.telegram_api_base);
    }
    let (image, command) = match &options.image {
        Some(image) => (image.clone(), options.agent_command.clone()),
        None => {
            let image = engine::own_agent_image(&docker, &mut |_| {}).await?;
            let command = if options.agent_command.is_empty() {
                vec!["--serve".to_string()]
            } else {
                options.agent_command.clone()
            };
            (image.tag, command)
        }
    };
    let mut template = ContainerSpec::builder(image.as_str()).command(command);
    for (name, value) in &options.agent_env {
        template = template.env(name.as_str(), value.as_str());
    }
    for server in &options.dns {
        template = template.dns(server.as_str());
    }
    if let Some(network) = &options.network {
        template = template.network(network.clone());
    }
    if let Some(bytes) = options.memory_bytes {
        template = template.memory_bytes(bytes);
    }
    let template = template.build().map_err(usage)?;
    let mut profile = AgentProfile::new(template);
    if let Some(user) = &options.user {
        profile = profile.user(user.as_str());
    }

    let runtime: Arc<dyn ContainerRuntime> =
        Arc::new(engine::sandboxed(docker, env, Some(&options.workspace))?);
    let telegram = TelegramTransport::new(client, token)
        .with_api_base(options.telegram_api_base.as_str())
        .with_poll_seconds(options.poll_seconds);
    let mut builder = AgentHost::builder(runtime, profile, &options.workspace)
        .channel(Arc::new(telegram))
        .allow(options.allow.clone())
        .max_agents(options.max_agents)
        .pool_size(options.pool_size)
        .idle_timeout(options.idle_timeout)
        .shutdown_grace(options.grace);
    if let Some(key) = &options.anthropic_key {
        builder = builder.credential(ANTHROPIC_KEY_VAR, key.as_str());
    }
    if let Some(word) = &options.trigger {
        builder = builder.trigger(word.as_str());
    }
    builder.build().map_err(usage)
}
