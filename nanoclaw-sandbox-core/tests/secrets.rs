//! Secrets never shown: distinctive canary values (a proxy password, an API
//! key, Telegram, Discord and Slack tokens) go into every public type that
//! can hold them, through patches, the HTTPS client's proxy errors (407,
//! 403, unreachable), the tracing log (a capturing subscriber at TRACE), a
//! patched container's `docker inspect` and a patched build's image history,
//! and everything shown is searched for them.
//!
//! Negative control: [`the_search_finds_a_canary_that_is_there`] shows the
//! same search finds each canary in the raw values handed in, so a search
//! that could never match cannot pass the other tests.

mod support;

use std::io::Write;
use std::sync::{Arc, Mutex};

use nanoclaw_sandbox_core::agent::anthropic::ApiKey;
use nanoclaw_sandbox_core::channel::discord::{DiscordOptions, DiscordToken, DiscordTransport};
use nanoclaw_sandbox_core::channel::slack::{
    SlackAppToken, SlackBotToken, SlackOptions, SlackTransport,
};
use nanoclaw_sandbox_core::channel::telegram::{BotToken, TelegramTransport};
use nanoclaw_sandbox_core::http::HttpError;
use nanoclaw_sandbox_core::proxy::{ProxySettings, ProxyUrl, StaticProxyConfig};
use nanoclaw_sandbox_core::runtime::{BuildRequest, ContainerRuntime, ImageBuilder, TEST};
use nanoclaw_sandbox_core::sandbox::{
    CaSource, DetectOptions, InstancePaths, Mode, ProxyCa, SandboxEnv, SandboxPatcher,
    SandboxRuntime, Severity,
};
use nanoclaw_sandbox_core::spec::{ContainerSpec, NetworkMode};
use nanoclaw_sandbox_core::trust::{SystemRoots, TrustStore};
use nanoclaw_testkit::ca::TestCa;
use nanoclaw_testkit::canary::{random_part, Canaries};
use nanoclaw_testkit::docker::{docker, ContainerGuard, ImageGuard};
use nanoclaw_testkit::fault_proxy::FaultOptions;
use nanoclaw_testkit::net::closed_port;
use nanoclaw_testkit::tar::tar_context;
use support::client_fixture::*;

/// `Debug` (plain and pretty) and `Display`, one after the other.
fn shown(value: &(impl std::fmt::Debug + std::fmt::Display)) -> String {
    format!("{value:?}\n{value:#?}\n{value}")
}

#[test]
fn the_search_finds_a_canary_that_is_there() {
    let c = Canaries::new();
    // Each canary where it is meant to be: the raw values handed in.
    let url = ProxyUrl::parse(&c.proxy_url("proxy.test:3128")).unwrap();
    assert_eq!(c.found_in(&url.expose()), ["proxy password"]);
    let raw_env = format!("ANTHROPIC_API_KEY={}", c.api_key);
    assert_eq!(c.found_in(&raw_env), ["API key"]);
    for (name, canary) in c.all() {
        assert_eq!(c.found_in(&format!("x {canary} y")), [name]);
        // Its random part alone, as a truncation or re-encoding would leave it.
        assert_eq!(c.found_in(random_part(canary)), [name]);
    }
    let caught = std::panic::catch_unwind(|| c.assert_absent("the raw env", &raw_env));
    assert!(caught.is_err(), "assert_absent fails on a present canary");
}

#[test]
fn debug_and_display_of_configs_tokens_and_errors_hide_every_canary() {
    let c = Canaries::new();
    let url = ProxyUrl::parse(&c.proxy_url("proxy.test:3128")).unwrap();
    c.assert_absent("ProxyUrl", &shown(&url));
    c.assert_absent("ProxyUrl::redacted", &url.redacted());
    let settings = ProxySettings {
        http: Some(url.clone()),
        https: Some(url.clone()),
        all: Some(url.clone()),
        no_proxy: Some("localhost".into()),
    };
    c.assert_absent("ProxySettings", &format!("{settings:?}"));
    c.assert_absent(
        "StaticProxyConfig",
        &format!("{:?}", StaticProxyConfig::via(url.clone())),
    );

    // Detection from variables holding every canary, with a case conflict
    // (which warns, naming both values).
    let ca_file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(ca_file.path(), TestCa::new("Canary CA").pem()).unwrap();
    let upper = c.proxy_url("proxy.test:3128");
    let lower = c.proxy_url("other.test:3128");
    let vars = |name: &str| match name {
        "HTTPS_PROXY" => Some(upper.clone()),
        "https_proxy" => Some(lower.clone()),
        "ANTHROPIC_API_KEY" => Some(c.api_key.clone()),
        "TELEGRAM_BOT_TOKEN" => Some(c.telegram.clone()),
        _ => None,
    };
    let options = DetectOptions::default().with_explicit_ca(ca_file.path());
    let env = SandboxEnv::detect_from(vars, &options).unwrap();
    assert!(!env.warnings().is_empty(), "the case conflict warns");
    c.assert_absent("SandboxEnv", &format!("{env:?}\n{:?}", env.mode()));
    for warning in env.warnings() {
        c.assert_absent("EnvWarning", &shown(warning));
    }

    // Proxy URLs that do not parse, holding the canary.
    for bad in [
        format!("ftp://agent:{}@proxy.test:21", c.proxy_password),
        format!("http://agent:{}@proxy.test:99999", c.proxy_password),
        format!("http://agent:{}@proxy test:3128", c.proxy_password),
    ] {
        let err = ProxyUrl::parse(&bad).expect_err(&bad);
        c.assert_absent("ProxyUrlError", &shown(&err));
        let vars = |name: &str| (name == "HTTPS_PROXY").then(|| bad.clone());
        let err = SandboxEnv::detect_from(vars, &DetectOptions::default()).unwrap_err();
        c.assert_absent("DetectError", &shown(&err));
    }

    // Specs carrying the key and a token in their environment.
    let spec = ContainerSpec::builder("agent:1")
        .env("ANTHROPIC_API_KEY", &c.api_key)
        .env("SLACK_BOT_TOKEN", &c.slack_bot)
        .env("HTTPS_PROXY", url.expose())
        .build()
        .unwrap();
    c.assert_absent("ContainerSpec", &format!("{spec:?}\n{spec:#?}"));

    // Tokens and the channels holding them.
    let telegram = BotToken::new(&c.telegram).unwrap();
    let discord = DiscordToken::new(&c.discord).unwrap();
    let slack_bot = SlackBotToken::new(&c.slack_bot).unwrap();
    let slack_app = SlackAppToken::new(&c.slack_app).unwrap();
    let key = ApiKey::new(&c.api_key).unwrap();
    let tokens = format!("{telegram:?} {discord:?} {slack_bot:?} {slack_app:?} {key:?}");
    c.assert_absent("tokens", &tokens);
    let client = || {
        nanoclaw_sandbox_core::http::HttpClient::builder(StaticProxyConfig::via(url.clone()))
            .build()
            .unwrap()
    };
    c.assert_absent("HttpClient", &format!("{:?}", client()));
    let channels = format!(
        "{:?}\n{:?}\n{:?}",
        TelegramTransport::new(client(), telegram),
        DiscordTransport::new(client(), discord, DiscordOptions::default()),
        SlackTransport::new(client(), slack_app, slack_bot, SlackOptions::default()),
    );
    c.assert_absent("channel transports", &channels);
    // Malformed tokens: the error does not echo what was given.
    for err in [
        format!(
            "{:?}",
            BotToken::new(format!("{} x", c.telegram)).unwrap_err()
        ),
        format!(
            "{}",
            BotToken::new(format!("{} x", c.telegram)).unwrap_err()
        ),
        format!(
            "{}",
            DiscordToken::new(format!("{}!", c.discord)).unwrap_err()
        ),
        format!(
            "{}",
            SlackBotToken::new(format!("{}!", c.slack_bot)).unwrap_err()
        ),
        format!(
            "{}",
            SlackAppToken::new(format!("{}!", c.slack_app)).unwrap_err()
        ),
    ] {
        c.assert_absent("a token error", &err);
    }
}

/// A proxied intercepting mode whose proxy URL carries the canary password.
fn canary_mode(c: &Canaries) -> Mode {
    let url = ProxyUrl::parse(&c.proxy_url("gateway.docker.internal:3128")).unwrap();
    let store = TrustStore::from_pem(TestCa::new("Canary CA").pem().as_bytes(), "t").unwrap();
    Mode::Proxied {
        proxy: ProxySettings {
            http: Some(url.clone()),
            https: Some(url),
            all: None,
            no_proxy: None,
        },
        ca: Some(ProxyCa::new(store, CaSource::EnvBase64)),
    }
}

/// Where a patched spec's CA directory and empty file would be.
fn instance_paths() -> InstancePaths {
    InstancePaths {
        empty_file: "/ws/.nanoclaw/instances/i/empty".into(),
        ca_dir: "/ws/.nanoclaw/instances/i/ca".into(),
    }
}

#[test]
fn patch_reports_and_patched_specs_hide_every_canary() {
    let c = Canaries::new();
    for insecure in [false, true] {
        let patcher = SandboxPatcher::new(&canary_mode(&c), Some(instance_paths()))
            .unwrap()
            .with_insecure_dev_mode(insecure);
        let spec = ContainerSpec::builder("agent:1")
            .env("ANTHROPIC_API_KEY", &c.api_key)
            .env("DISCORD_TOKEN", &c.discord)
            .command(["serve"])
            .build()
            .unwrap();
        let (patched, report) = patcher.patch(&spec).unwrap();
        // The container does get the proxy's credentials (clients read them
        // from the environment) ...
        assert_eq!(
            c.found_in(&serde_json::to_string(&patched).unwrap()).len(),
            3
        );
        // ... and the report says so, without showing them.
        assert!(
            report
                .at_least(Severity::Warn)
                .any(|e| e.to_string().contains("docker inspect")),
            "{report:?}"
        );
        c.assert_absent("the patched spec", &format!("{patched:?}"));
        c.assert_absent("the patch report", &format!("{report:?}\n{report:#?}"));
        for entry in report.entries() {
            c.assert_absent("a patch report entry", &entry.to_string());
        }
        c.assert_absent(
            "the report as JSON",
            &serde_json::to_string(&report).unwrap(),
        );
    }
}

/// A `tracing` writer into a shared buffer.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

/// Runs `body` on a current-thread runtime (so every task it spawns logs
/// on this thread) with a subscriber capturing every event at TRACE.
fn with_captured_log<T>(body: impl std::future::Future<Output = T>) -> (T, String) {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let out = tracing::subscriber::with_default(subscriber, || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(body)
    });
    (out, captured.text())
}

#[test]
fn proxy_errors_407_403_and_unreachable_and_the_log_hide_the_password() {
    let c = Canaries::new();
    let (errors, log) = with_captured_log(async {
        let upstreams = Upstreams::start().await;
        let mut errors = Vec::new();
        // 407: the proxy wants other credentials than the canary ones.
        let tunnel = plain_tunnel(&upstreams).await;
        let front = fault_proxy(&tunnel, |o: &mut FaultOptions| {
            o.require_auth = Some(("agent".into(), "another-password".into()));
        })
        .await;
        let authority = front.url().trim_start_matches("http://").to_string();
        let client = client_via(&c.proxy_url(&authority), &upstreams, Vec::new());
        errors.push(expect_error(
            client.get(&format!("https://{UPSTREAM}/")).await,
            "ProxyAuthRequired",
            |e| matches!(e, HttpError::ProxyAuthRequired { .. }),
        ));
        // 403: a policy refusal by a proxy whose URL carries the canary.
        let (denying, _) = client_via_denying_proxy(&upstreams).await;
        let authority = denying
            .proxy_url()
            .trim_start_matches("http://")
            .to_string();
        let client = client_via(&c.proxy_url(&authority), &upstreams, Vec::new());
        errors.push(expect_error(
            client.get(&format!("https://{DENIED}/")).await,
            "PolicyDenied",
            |e| matches!(e, HttpError::PolicyDenied { .. }),
        ));
        // Nobody listening.
        let closed = closed_port().to_string();
        let client = client_via(&c.proxy_url(&closed), &upstreams, Vec::new());
        errors.push(expect_error(
            client.get(&format!("https://{UPSTREAM}/")).await,
            "ProxyUnreachable",
            |e| matches!(e, HttpError::ProxyUnreachable { .. }),
        ));
        errors
    });
    for err in &errors {
        c.assert_absent("an HTTP error", &shown(err));
        let mut source = std::error::Error::source(err);
        while let Some(cause) = source {
            c.assert_absent("an HTTP error's cause", &format!("{cause:?}\n{cause}"));
            source = cause.source();
        }
    }
    println!("captured log: {} lines", log.lines().count());
    assert!(!log.is_empty(), "the subscriber captured the requests' log");
    c.assert_absent("the tracing log", &log);
}

#[test]
fn detection_and_patch_warnings_in_the_log_hide_every_canary() {
    let c = Canaries::new();
    let ((), log) = with_captured_log(async {
        let upper = c.proxy_url("proxy.test:3128");
        let lower = c.proxy_url("other.test:3128");
        let vars = |name: &str| match name {
            "HTTPS_PROXY" => Some(upper.clone()),
            "https_proxy" => Some(lower.clone()),
            _ => None,
        };
        let _ = SandboxEnv::detect_from(vars, &DetectOptions::default());
        let patcher = SandboxPatcher::new(&canary_mode(&c), Some(instance_paths()))
            .unwrap()
            .with_insecure_dev_mode(true);
        let spec = ContainerSpec::builder("agent:1")
            .env("ANTHROPIC_API_KEY", &c.api_key)
            .build()
            .unwrap();
        let _ = patcher.patch(&spec);
    });
    assert!(
        log.contains("https_proxy") || log.contains("HTTPS_PROXY"),
        "the case conflict was logged: {log}"
    );
    c.assert_absent("the tracing log", &log);
}

/// A sandbox runtime on the daemon whose proxy URL carries the canary
/// password; `None` when no daemon answers.
async fn canary_runtime(
    c: &Canaries,
    workspace: &std::path::Path,
) -> Option<SandboxRuntime<nanoclaw_sandbox_core::runtime::docker::DockerRuntime>> {
    let docker = support::docker::connect().await?;
    let ca_path = workspace.join("proxy-ca.crt");
    std::fs::write(&ca_path, TestCa::new("Canary CA").pem()).unwrap();
    let url = c.proxy_url("proxy.invalid:3128");
    let vars = |name: &str| (name == "HTTPS_PROXY").then(|| url.clone());
    let env = SandboxEnv::detect_from(vars, &DetectOptions::default().with_explicit_ca(&ca_path))
        .unwrap();
    Some(
        SandboxRuntime::builder(docker)
            .env(env)
            .workspace_root(workspace)
            .system_roots(SystemRoots::Builtin)
            .build()
            .unwrap(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_patched_containers_inspect_shows_the_proxy_password_in_proxy_variables_only() {
    let c = Canaries::new();
    let workspace = tempfile::tempdir().unwrap();
    let Some(runtime) = canary_runtime(&c, workspace.path()).await else {
        return;
    };
    let tag = support::docker::unique_tag("nanoclaw-secrets");
    let _image = ImageGuard::of([tag.clone()]);
    support::docker::scratch_image(runtime.inner(), &tag).await;
    let spec = ContainerSpec::builder(&tag)
        .network(NetworkMode::None)
        .label(TEST, "true")
        .label("nanoclaw.example", "plain")
        .command(["/none", "--flag"])
        .env("AGENT_MODE", "plain")
        .build()
        .unwrap();
    let id = runtime.create(&spec).await.unwrap();
    let _container = ContainerGuard::new(id.as_str());
    let inspect = docker(["inspect", id.as_str()]).unwrap();
    let value: serde_json::Value = serde_json::from_str(&inspect).unwrap();
    let config = &value[0]["Config"];

    // Negative control: the password is where clients need it.
    let env: Vec<&str> = config["Env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    let holding: Vec<&str> = env
        .iter()
        .filter(|line| !c.found_in(line).is_empty())
        .map(|line| line.split('=').next().unwrap())
        .collect();
    assert!(!holding.is_empty(), "the proxy variables carry it: {env:?}");
    for name in &holding {
        assert!(
            name.to_ascii_uppercase().ends_with("_PROXY"),
            "only proxy variables hold the password, not {name}"
        );
    }
    // Nowhere else: command, labels, mounts, host config, the rest.
    for (what, part) in [
        ("Cmd", &config["Cmd"]),
        ("Entrypoint", &config["Entrypoint"]),
        ("Labels", &config["Labels"]),
        ("Mounts", &value[0]["Mounts"]),
        ("HostConfig", &value[0]["HostConfig"]),
    ] {
        c.assert_absent(what, &part.to_string());
    }
    let without_env = {
        let mut v = value.clone();
        v[0]["Config"]["Env"] = serde_json::Value::Null;
        v.to_string()
    };
    c.assert_absent("docker inspect without Env", &without_env);
    // The mounts: the CA directory read-only.
    let mounts = value[0]["Mounts"].as_array().unwrap();
    let ca = mounts
        .iter()
        .find(|m| m["Destination"] == "/etc/nanoclaw/ca")
        .expect("the CA directory is mounted");
    assert_eq!(ca["RW"], false, "{ca}");
    println!(
        "inspect: {} bytes, {} env lines, {} holding the proxy password",
        inspect.len(),
        env.len(),
        holding.len()
    );
    runtime.remove(&id, true).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_patched_builds_history_and_image_hold_no_canary() {
    let c = Canaries::new();
    let workspace = tempfile::tempdir().unwrap();
    let Some(runtime) = canary_runtime(&c, workspace.path()).await else {
        return;
    };
    let tag = support::docker::unique_tag("nanoclaw-secrets-build");
    let _image = ImageGuard::of([tag.clone()]);
    let context = tar_context(&[
        (
            "Dockerfile",
            "FROM scratch\nCOPY marker /marker\nLABEL purpose=canary\nCMD [\"/none\"]\n",
        ),
        ("marker", "marker"),
    ]);
    let request = BuildRequest::new(context)
        .tag(&tag)
        .label(TEST, "true")
        .network(NetworkMode::None);
    let mut log = String::new();
    runtime
        .build(request, &mut |line| log.push_str(&format!("{line:?}\n")))
        .await
        .expect("the patched build");
    let history = docker(["history", "--no-trunc", &tag]).unwrap();
    let inspect = docker(["image", "inspect", &tag]).unwrap();
    // Negative control: the search runs on real output holding our label.
    assert!(inspect.contains("canary"), "{inspect}");
    c.assert_absent("docker history --no-trunc", &history);
    c.assert_absent("docker image inspect", &inspect);
    c.assert_absent("the build's progress", &log);
    println!(
        "history: {} lines; image inspect: {} bytes",
        history.lines().count(),
        inspect.len()
    );
}

#[test]
fn the_host_refuses_a_profile_mounting_credentials_or_leaving_its_roots() {
    use nanoclaw_sandbox_core::host::{AgentHost, AgentProfile, HostError};
    use nanoclaw_sandbox_core::mount_policy::{MountPolicy, MountPolicyError};
    use nanoclaw_sandbox_core::spec::Mount;
    // No daemon needed: the runtime is used only once the host runs.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let Some(docker) = rt.block_on(support::docker::connect()) else {
        return;
    };
    let runtime: Arc<dyn ContainerRuntime> = Arc::new(docker);
    let dir = tempfile::tempdir().unwrap();
    let workspace = dir.path().join("ws");
    let home = dir.path().join("home");
    std::fs::create_dir_all(home.join(".ssh")).unwrap();
    std::fs::create_dir_all(workspace.join("shared")).unwrap();
    let channel = Arc::new(support::memory_channel::MemoryChannel::default());
    let build = |mount: Mount, policy: Option<MountPolicy>| {
        let spec = ContainerSpec::builder("agent:1")
            .mount(mount)
            .build()
            .unwrap();
        let mut builder = AgentHost::builder(runtime.clone(), AgentProfile::new(spec), &workspace)
            .channel(channel.clone());
        if let Some(policy) = policy {
            builder = builder.mount_policy(policy);
        }
        builder.build().map(|_| ())
    };
    // The default: the workspace only.
    let err = build(Mount::bind(home.join(".ssh"), "/keys", true), None).unwrap_err();
    assert!(
        matches!(&err, HostError::MountPolicy(e) if matches!(**e, MountPolicyError::OutsideRoots { .. })),
        "{err}"
    );
    assert!(err.to_string().contains(".ssh"), "{err}");
    // HOME allowed: `.ssh` is refused by name.
    let policy = MountPolicy::workspace_only(&workspace).allow_root(&home, true);
    let err = build(
        Mount::bind(home.join(".ssh"), "/keys", true),
        Some(policy.clone()),
    )
    .unwrap_err();
    assert!(
        matches!(&err, HostError::MountPolicy(e) if matches!(**e, MountPolicyError::Credential { .. })),
        "{err}"
    );
    // Controls: a workspace folder, and `.ssh` once explicitly allowed.
    build(Mount::bind(workspace.join("shared"), "/shared", true), None).unwrap();
    let policy = policy.allow_credential(home.join(".ssh"));
    build(Mount::bind(home.join(".ssh"), "/keys", true), Some(policy)).unwrap();
}
