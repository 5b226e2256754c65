//! `demo`: the whole architecture on this machine, in one command.
//!
//! A message posted to a local Telegram Bot API double is received by the
//! agent host, which starts that chat's agent container through the sandbox
//! layer; the agent calls a local Anthropic Messages API double through the
//! proxy stand-in (TLS intercepted with the stand-in's CA, verification on)
//! and its answer goes back to the Telegram double. Then the control: the
//! same host with agents that get the proxy variables but not the CA — the
//! agent's call fails on the proxy's certificate, as agents in a Docker
//! Sandbox do without this library, and its reply says so.
//!
//! Both doubles serve HTTPS on loopback with certificates from a CA made in
//! memory (the demo's "public" CA), which the stand-in trusts as it would
//! trust public roots. Nothing leaves the machine: the stand-in maps the two
//! API names to the doubles and denies every other host, and the containers
//! get DNS 127.0.0.1.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;
use nanoclaw_cli::doubles::anthropic::ModelDouble;
use nanoclaw_cli::doubles::telegram::TelegramDouble;
use nanoclaw_cli::upstream::LocalCa;
use nanoclaw_sandbox_core::agent::serve::BASE_URL_VAR;
use nanoclaw_sandbox_core::channel::telegram::BotToken;
use nanoclaw_sandbox_core::host::ChatAllowlist;
use nanoclaw_sandbox_core::http::HttpClient;
use nanoclaw_sandbox_core::sandbox::{DetectOptions, Mode, SandboxEnv};
use nanoclaw_sandbox_core::standin::{
    self, DefaultPolicy, HostMapping, HostPattern, Standin, StandinConfig,
};
use serde::Serialize;
use tokio::sync::oneshot;

use crate::engine;
use crate::host::{compose, HostOptions};
use crate::logging;
use crate::output;

/// The Bot API double's name: mapped by the stand-in, never resolved.
const TELEGRAM_HOST: &str = "api.telegram.test";
/// The Messages API double's name.
const MODEL_HOST: &str = "api.anthropic.test";
/// The demo bot's token (the double accepts only it).
const TOKEN: &str = "4242:nanoclaw-demo-token";
/// The demo's model API key (the double accepts only it).
const API_KEY: &str = "sk-nanoclaw-demo-key";
/// The chat the demo writes in, and the one the control writes in.
const CHAT: i64 = 4242;
const CONTROL_CHAT: i64 = 4343;
/// How long a message may take to be answered (a first agent-image build
/// happens before this clock starts).
const ANSWER_WAIT: Duration = Duration::from_secs(90);

/// Options of `demo`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The message posted to the Telegram double.
    #[arg(long, default_value = "hello from the demo chat")]
    message: String,
    /// Print the summary as one JSON object on stdout (the running
    /// commentary goes to stderr).
    #[arg(long)]
    json: bool,
    /// Where the two agent hosts keep their chats and journals, and the
    /// install id of the demo's containers [default: a temporary directory,
    /// removed at the end].
    #[arg(long, env = engine::WORKSPACE_VAR, value_name = "DIR")]
    workspace: Option<PathBuf>,
}

/// Where the running commentary goes: stdout, or stderr with `--json`
/// (stdout then holds the summary alone).
#[derive(Debug, Clone, Copy)]
struct Commentary {
    on_stderr: bool,
}

impl Commentary {
    fn line(self, text: impl std::fmt::Display) -> anyhow::Result<()> {
        if self.on_stderr {
            output::note(text);
        } else {
            say!("{text}");
        }
        Ok(())
    }
}

/// `demo --json`: the facts the commentary gives, as data. The demo's
/// token and API key are never part of it.
#[derive(Debug, Serialize)]
struct Summary {
    /// The sandboxed agent answered and the unpatched control failed on
    /// the certificate (the exit code is 0 exactly then).
    ok: bool,
    /// The Docker endpoint (credentials redacted) and the API version.
    engine: Engine,
    /// The agent image: this executable's `agent --serve`.
    agent_image: ImageFacts,
    /// Where the doubles and the proxy stand-in listen.
    telegram_double: SocketAddr,
    model_double: SocketAddr,
    proxy_standin: SocketAddr,
    /// The message posted in both chats.
    message: String,
    /// The model double's answer to it: what the sandboxed chat should get.
    expected_answer: String,
    /// Calls the model double answered (1 when only the sandboxed agent got through).
    model_calls: usize,
    /// The host whose agents go through the sandbox layer.
    sandboxed: Conversation,
    /// The same host with unpatched agents (proxy variables, no CA).
    unpatched: Conversation,
}

#[derive(Debug, Serialize)]
struct Engine {
    endpoint: String,
    api_version: String,
}

#[derive(Debug, Serialize)]
struct ImageFacts {
    tag: String,
    built: bool,
    seconds: f64,
}

/// One chat's exchange and how its host ended.
#[derive(Debug, Serialize)]
struct Conversation {
    chat: i64,
    /// The bot's reply, `None` when none came within the wait.
    reply: Option<String>,
    /// How long the reply took, from the post.
    reply_ms: Option<u64>,
    /// The host's count of messages answered, failed and left in its journal.
    handled: usize,
    failed: usize,
    pending: usize,
}

/// Runs the demo: exit 0 when the sandboxed agent's answer came back and
/// the unpatched control failed on the certificate.
pub(crate) async fn run(args: &Args) -> anyhow::Result<ExitCode> {
    logging::init("warn,nanoclaw_sandbox_core::host=info");
    let say = Commentary {
        on_stderr: args.json,
    };
    let scratch = tempfile::tempdir().context("cannot make a temporary directory")?;
    let workspace = match &args.workspace {
        Some(dir) => dir.clone(),
        None => scratch.path().join("workspace"),
    };
    std::fs::create_dir_all(&workspace)
        .with_context(|| format!("cannot create the workspace {}", workspace.display()))?;
    let workspace = workspace
        .canonicalize()
        .context("cannot resolve the workspace")?;

    let docker = engine::connect(Some(&workspace)).await?;
    let engine = Engine {
        endpoint: docker.endpoint().to_string(),
        api_version: docker.api_version(),
    };
    say.line(format_args!(
        "connected to {} (API {})",
        engine.endpoint, engine.api_version
    ))?;
    let started = Instant::now();
    let image = engine::own_agent_image(&docker, &mut |_| {}).await?;
    let agent_image = ImageFacts {
        tag: image.tag,
        built: image.built,
        seconds: started.elapsed().as_secs_f64(),
    };
    say.line(format_args!(
        "agent image {} ({} in {:.1} s): this executable, whose `agent --serve` speaks the agent protocol",
        agent_image.tag,
        if agent_image.built { "built" } else { "reused" },
        agent_image.seconds
    ))?;

    let public = LocalCa::generate("nanoclaw demo public CA")?;
    let telegram = TelegramDouble::start(&public, TELEGRAM_HOST, TOKEN).await?;
    let model = ModelDouble::start(&public, MODEL_HOST, Some(API_KEY)).await?;
    let standin = start_standin(&public, &telegram, &model, scratch.path()).await?;
    let proxy_standin = standin.addr();
    say.line(format_args!(
        "Telegram Bot API double  https://{TELEGRAM_HOST} on {}",
        telegram.addr()
    ))?;
    say.line(format_args!(
        "Messages API double      https://{MODEL_HOST} on {}",
        model.addr()
    ))?;
    say.line(format_args!(
        "sandbox proxy stand-in   {proxy_standin}: intercepts TLS with its own CA, maps both names, denies every other host"
    ))?;

    // What an agent host in the sandbox detects: the stand-in's variables.
    let vars: std::collections::BTreeMap<String, String> =
        standin.env_vars().iter().cloned().collect();
    let env = SandboxEnv::detect_from(|name| vars.get(name).cloned(), &DetectOptions::default())
        .context("the stand-in's variables do not describe a sandbox")?;
    let unpatched = SandboxEnv::new(Mode::Proxied {
        proxy: env.proxy().cloned().unwrap_or_default(),
        ca: None,
    });

    say.line("")?;
    say.line("1) the agent host, agents through the sandbox layer (proxy variables, proxy CA mounted and trusted):")?;
    let sandboxed = converse(
        say,
        &docker,
        env.clone(),
        env.clone(),
        &workspace.join("sandboxed"),
        &telegram,
        CHAT,
        &args.message,
    )
    .await?;
    say.line("")?;
    say.line(
        "2) the same host, agents unpatched (proxy variables only, as without this library):",
    )?;
    let control = converse(
        say,
        &docker,
        env.clone(),
        unpatched,
        &workspace.join("unpatched"),
        &telegram,
        CONTROL_CHAT,
        &args.message,
    )
    .await?;
    standin.shutdown().await;

    let expected = ModelDouble::answer_for(&args.message);
    let model_calls = model
        .requests()
        .into_iter()
        .filter(|r| r.status == 200)
        .count();
    say.line("")?;
    let answered = sandboxed.reply.as_deref() == Some(expected.as_str()) && model_calls == 1;
    let refused = control
        .reply
        .as_deref()
        .is_some_and(|reply| reply.contains("CA is not trusted") && !reply.contains(&expected));
    let ok = answered && refused;
    if ok {
        say.line("result: a Telegram message was answered by a sandboxed agent container that called the model API")?;
        say.line("        through the proxy with TLS verification on; unpatched, the agent's call failed on the proxy's certificate")?;
    } else {
        say.line(format_args!(
            "result: UNEXPECTED: sandboxed answer {:?} (wanted {expected:?}, {model_calls} model call(s)); control reply {:?} (wanted a certificate error)",
            sandboxed.reply, control.reply
        ))?;
    }
    if args.json {
        output::json_line(&Summary {
            ok,
            engine,
            agent_image,
            telegram_double: telegram.addr(),
            model_double: model.addr(),
            proxy_standin,
            message: args.message.clone(),
            expected_answer: expected,
            model_calls,
            sandboxed,
            unpatched: control,
        })?;
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Runs a host whose own calls use `host_env` and whose agents are patched
/// for `agent_env`, posts `text` in `chat`, and returns the exchange.
#[allow(clippy::too_many_arguments)]
async fn converse(
    say: Commentary,
    docker: &nanoclaw_sandbox_core::runtime::docker::DockerRuntime,
    host_env: SandboxEnv,
    agent_env: SandboxEnv,
    workspace: &Path,
    telegram: &TelegramDouble,
    chat: i64,
    text: &str,
) -> anyhow::Result<Conversation> {
    std::fs::create_dir_all(workspace)
        .with_context(|| format!("cannot create {}", workspace.display()))?;
    let client = HttpClient::from_sandbox(&host_env).context("cannot build the host's client")?;
    let options = HostOptions {
        workspace: workspace.to_path_buf(),
        allow: ChatAllowlist::parse(&format!("telegram:{chat}"))?,
        telegram_api_base: format!("https://{TELEGRAM_HOST}"),
        poll_seconds: 1,
        anthropic_key: Some(API_KEY.to_string()),
        agent_env: vec![(BASE_URL_VAR.into(), format!("https://{MODEL_HOST}"))],
        image: None,
        agent_command: Vec::new(),
        max_agents: 2,
        pool_size: 0,
        idle_timeout: Duration::from_secs(60),
        grace: Duration::from_secs(10),
        trigger: None,
        user: None,
        network: None,
        // Name lookups inside the containers go nowhere: only the proxy
        // (an /etc/hosts entry) is reachable by name.
        dns: vec!["127.0.0.1".into()],
        memory_bytes: None,
    };
    let token = BotToken::new(TOKEN)?;
    let host = compose(docker.clone(), agent_env, client, token, &options).await?;
    let (stop, stopped) = oneshot::channel::<()>();
    let running = tokio::spawn(host.run(async move {
        let _ = stopped.await;
    }));

    let before = telegram.sent().len();
    let posted = Instant::now();
    telegram.post(chat, "demo-user", text);
    say.line(format_args!(
        "  telegram  | demo-user in chat {chat}: {text:?}"
    ))?;
    let sent = telegram.wait_sent(before + 1, ANSWER_WAIT).await;
    let reply = sent
        .iter()
        .skip(before)
        .find(|m| m.chat_id == chat)
        .map(|m| m.text.clone());
    let reply_ms = reply
        .as_ref()
        .map(|_| u64::try_from(posted.elapsed().as_millis()).unwrap_or(u64::MAX));
    match (&reply, reply_ms) {
        (Some(reply), Some(ms)) => say.line(format_args!(
            "  telegram  | bot in chat {chat} after {ms} ms: {reply:?}"
        ))?,
        _ => say.line(format_args!(
            "  telegram  | no answer within {} s",
            ANSWER_WAIT.as_secs()
        ))?,
    }
    let _ = stop.send(());
    let report = running
        .await
        .context("the agent host task failed")?
        .context("the agent host failed")?;
    say.line(format_args!(
        "  host      | stopped: {} answered, {} failed, {} left; agent containers removed",
        report.handled, report.failed, report.pending
    ))?;
    Ok(Conversation {
        chat,
        reply,
        reply_ms,
        handled: report.handled,
        failed: report.failed,
        pending: report.pending,
    })
}

/// The stand-in, listening where containers on the bridge reach it: on
/// every address (the patcher points containers at the bridge's gateway).
/// Its policy denies everything but the two doubles, so listening widely
/// opens nothing else.
async fn start_standin(
    public: &LocalCa,
    telegram: &TelegramDouble,
    model: &ModelDouble,
    scratch: &Path,
) -> anyhow::Result<Standin> {
    let public_file = scratch.join("public-ca.pem");
    std::fs::write(&public_file, public.pem())
        .with_context(|| format!("cannot write {}", public_file.display()))?;
    let config = StandinConfig::builder()
        .listen(SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)))
        .ca_dir(scratch.join("proxy-ca"))
        .maps([
            HostMapping::parse(&format!("{TELEGRAM_HOST}={}", telegram.addr()))?,
            HostMapping::parse(&format!("{MODEL_HOST}={}", model.addr()))?,
        ])
        .upstream_ca_files([public_file])
        .default_policy(DefaultPolicy::Deny)
        .allow([
            HostPattern::parse(TELEGRAM_HOST)?,
            HostPattern::parse(MODEL_HOST)?,
        ])
        .build();
    standin::start(config)
        .await
        .context("the sandbox proxy stand-in could not start")
}
