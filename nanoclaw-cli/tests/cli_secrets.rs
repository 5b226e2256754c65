//! Secrets through the binary: canary values (a proxy password, an API key,
//! Telegram/Discord/Slack tokens) in the CLI's environment, env files and
//! arguments never appear in what `run`, `doctor`, `inspect`, `route`,
//! `daemon-config` and `proxy` print, nor in their errors for bad input; an
//! agent container's environment is exactly what the patched spec lists
//! (nothing of the CLI's own environment, no API key unless listed); the CA
//! directory is read-only inside the container.
//!
//! Negative controls: the test agent run as a plain process (`agent
//! --print-env`) shows the canaries it was given, and a container given the
//! API key by name (`-e ANTHROPIC_API_KEY`) shows it, so each search can fail.
//!
//! A proxy that demands a password (mitmproxy `--proxyauth`): `run` relays
//! it, so the agent fetches through it while its environment holds only the
//! relay's token; the control is the same fetch given the proxy itself
//! (`--no-sandbox --network host`, the variables passed by `-e`), refused with 407
//! once the password is wrong.

mod cli_support;
mod doctor_support;

use std::collections::BTreeMap;
use std::path::Path;

use base64::Engine as _;
use cli_support::{agent_image, text, ProxyProcess};
use doctor_support::{run, Agents, Fixture, Outcome, ProxyOptions};
use nanoclaw_sandbox_core::proxy::RELAY_USER;
use nanoclaw_testkit::ca::TestCa;
use nanoclaw_testkit::canary::Canaries;
use nanoclaw_testkit::docker::unique_name;
use nanoclaw_testkit::https::{Answer, Server};
use nanoclaw_testkit::mitm::{MitmOptions, Mitmproxy, Route};

/// The CLI's own environment in these tests: every canary under the name a
/// user would give it, plus a variable no agent should ever see.
fn canary_env(c: &Canaries) -> Vec<(&'static str, String)> {
    vec![
        ("ANTHROPIC_API_KEY", c.api_key.clone()),
        ("TELEGRAM_BOT_TOKEN", c.telegram.clone()),
        ("DISCORD_BOT_TOKEN", c.discord.clone()),
        ("SLACK_BOT_TOKEN", c.slack_bot.clone()),
        ("SLACK_APP_TOKEN", c.slack_app.clone()),
    ]
}

/// `run` with `env` added to the CLI's environment.
fn run_with(cwd: &Path, args: &[&str], env: &[(&'static str, String)]) -> Outcome {
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    run(cwd, args, &env)
}

/// An env file like the stand-in's, its proxy URLs carrying the canary password.
fn env_file_with_password(
    fixture: &Fixture,
    lines: Vec<String>,
    c: &Canaries,
) -> std::path::PathBuf {
    let lines: Vec<String> = lines
        .into_iter()
        .map(|line| match line.split_once('=') {
            Some((name, value))
                if name.eq_ignore_ascii_case("https_proxy")
                    || name.eq_ignore_ascii_case("http_proxy") =>
            {
                let authority = value.trim_start_matches("http://");
                format!("{name}={}", c.proxy_url(authority))
            }
            _ => line,
        })
        .collect();
    fixture.env_file(&lines)
}

#[track_caller]
fn assert_clean(c: &Canaries, what: &str, out: &Outcome) {
    c.assert_absent(&format!("{what} (stdout)"), &out.stdout);
    c.assert_absent(&format!("{what} (stderr)"), &out.stderr);
}

#[test]
fn the_search_finds_canaries_the_agent_prints() {
    let c = Canaries::new();
    let dir = tempfile::tempdir().unwrap();
    let mut env = canary_env(&c);
    env.push(("HTTPS_PROXY", c.proxy_url("127.0.0.1:9")));
    let out = run_with(dir.path(), &["agent", "--print-env"], &env);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let mut found = c.found_in(&out.stdout);
    found.sort_unstable();
    let mut all: Vec<&str> = c.all().iter().map(|(name, _)| *name).collect();
    all.sort_unstable();
    assert_eq!(found, all, "the raw environment holds every canary");
}

#[test]
fn run_doctor_route_daemon_config_and_errors_print_no_canary() {
    let c = Canaries::new();
    let fixture = Fixture::new();
    let proxy = fixture.proxy(ProxyOptions::default());
    let env_file = env_file_with_password(&fixture, proxy.env_lines(), &c);
    let env_file = env_file.to_str().unwrap();
    let mut env = canary_env(&c);
    let cwd = fixture.dir.path();
    let mut outcomes = Vec::new();

    // run --dry-run: the key listed by name and a token by value.
    let token_arg = format!("TELEGRAM_BOT_TOKEN={}", c.telegram);
    let out = run_with(
        cwd,
        &[
            "run",
            "--dry-run",
            "--env-file",
            env_file,
            "--image",
            "agent:1",
            "-e",
            "ANTHROPIC_API_KEY",
            "-e",
            &token_arg,
            "--",
            "--exit",
            "0",
        ],
        &env,
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout.contains("ANTHROPIC_API_KEY=***"),
        "{}",
        out.stdout
    );
    outcomes.push(("run --dry-run", out));

    // doctor, in text and as JSON.
    for json in [false, true] {
        let mut args = vec!["doctor", "--env-file", env_file, "--timeout", "3"];
        if json {
            args.push("--json");
        }
        let out = run_with(cwd, &args, &env);
        assert!(!out.stdout.is_empty(), "{}", out.stderr);
        outcomes.push(("doctor", out));
    }

    // route and daemon-config, the proxy in the CLI's own environment.
    env.push(("HTTPS_PROXY", c.proxy_url("proxy.test:3128")));
    env.push(("HTTP_PROXY", c.proxy_url("proxy.test:3128")));
    for args in [
        &["route", "https://api.anthropic.com/v1/messages"][..],
        &["route", "--json", "https://api.anthropic.com/v1/messages"],
        &["daemon-config", "--engine-version", "27.3.1"],
        &["daemon-config", "--engine-version", "20.10"],
    ] {
        let out = run_with(cwd, args, &env);
        assert_eq!(out.code, 0, "{args:?}: {}", out.stderr);
        assert!(
            out.stdout.contains("proxy.test"),
            "{args:?}: {}",
            out.stdout
        );
        outcomes.push(("route/daemon-config", out));
    }

    // Bad input holding a canary: a proxy URL that does not parse, in the
    // environment and in an env file; a malformed injection.
    let bad_proxy = format!("http://agent:{}@bad host:3128", c.proxy_password);
    let mut bad_env = canary_env(&c);
    bad_env.push(("HTTPS_PROXY", bad_proxy.clone()));
    let bad_file = fixture.env_file(&[format!("HTTPS_PROXY={bad_proxy}")]);
    for args in [
        vec!["run", "--dry-run", "--image", "agent:1"],
        vec!["route", "https://example.com/"],
        vec!["doctor", "--timeout", "3"],
        vec![
            "run",
            "--dry-run",
            "--image",
            "agent:1",
            "--env-file",
            bad_file.to_str().unwrap(),
        ],
    ] {
        let out = run_with(cwd, &args, &bad_env);
        assert_ne!(out.code, 0, "{args:?} fails: {}", out.stdout);
        outcomes.push(("an error for bad input", out));
    }
    let inject = format!("api.test:x-api-key{}", c.api_key);
    let out = run_with(
        cwd,
        &["proxy", "--listen", "127.0.0.1:0", "--inject", &inject],
        &env,
    );
    assert_ne!(out.code, 0, "a malformed --inject is refused");
    outcomes.push(("proxy --inject (malformed)", out));

    for (what, out) in &outcomes {
        assert_clean(&c, what, out);
    }
    println!("{} CLI outputs searched", outcomes.len());
}

#[test]
fn the_proxy_never_shows_an_injected_key() {
    let c = Canaries::new();
    let inject = format!("api.test:x-api-key={}", c.api_key);
    let proxy = ProxyProcess::start(&["--inject", &inject]);
    let env_file = std::fs::read_to_string(&proxy.env_file).unwrap();
    c.assert_absent("the stand-in's env file", &env_file);
    let (_, stderr) = proxy.stop("TERM");
    c.assert_absent("the stand-in's log", &stderr);
}

#[test]
fn inspect_of_agents_holding_canaries_prints_none() {
    let c = Canaries::new();
    let fixture = Fixture::new();
    let ws = fixture.dir.path().join("workspace");
    std::fs::create_dir_all(&ws).unwrap();
    let env_file = env_file_with_password(
        &fixture,
        vec![
            "HTTPS_PROXY=http://127.0.0.1:3128".into(),
            "https_proxy=http://127.0.0.1:3128".into(),
            format!("NODE_EXTRA_CA_CERTS={}", fixture.pki_pem.display()),
        ],
        &c,
    );
    let Some(runtime) = doctor_support::docker(&fixture, &ws) else {
        return;
    };
    let mut agents = Agents::new(&fixture, runtime, &ws, &env_file);
    let patched = agents.start(&unique_name("secrets-patched"), true);
    let keyed = agents.start_with_env(
        &unique_name("secrets-keyed"),
        &[
            ("ANTHROPIC_API_KEY", &c.api_key),
            ("SLACK_BOT_TOKEN", &c.slack_bot),
        ],
    );
    let env = canary_env(&c);
    for name in [&patched, &keyed] {
        for json in [false, true] {
            let mut args = vec!["inspect", "--env-file", env_file.to_str().unwrap(), name];
            if json {
                args.push("--json");
            }
            let out = run_with(fixture.dir.path(), &args, &env);
            assert!(
                out.stdout.contains("HTTPS_PROXY"),
                "{}\n{}",
                out.stdout,
                out.stderr
            );
            assert_clean(&c, "inspect", &out);
        }
    }
    agents.remove_all();
}

/// `NAME=VALUE` lines as a map.
fn env_map(printed: &str) -> BTreeMap<String, String> {
    printed
        .lines()
        .filter_map(|line| line.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// What the engine itself sets in every container of a `FROM scratch`
/// image without `ENV` (the agent image).
const ENGINE_VARS: [&str; 3] = ["PATH", "HOSTNAME", "HOME"];

#[test]
fn an_agent_gets_only_the_patched_specs_environment() {
    let Some(image) = agent_image() else { return };
    let c = Canaries::new();
    let proxy = ProxyProcess::start(&[]);
    let workspace = tempfile::tempdir().unwrap();
    let ws = workspace.path().to_str().unwrap();
    let env_file = proxy.env_file.to_str().unwrap();
    let stray = unique_name("canary-stray");
    let mut env = canary_env(&c);
    env.push(("NANOCLAW_CANARY_STRAY", stray.clone()));
    let args = |dry: bool, extra: &[&'static str]| {
        let mut args = vec!["run", "--workspace", ws, "--env-file", env_file];
        args.extend(["--network", "none", "-l", "nanoclaw.test=true"]);
        args.extend(["-e", "LISTED=yes"]);
        args.extend_from_slice(extra);
        if dry {
            args.push("--dry-run");
        }
        args.extend(["--image", image, "--", "--print-env"]);
        args
    };
    let cwd = workspace.path();

    let dry = run_with(cwd, &args(true, &[]), &env);
    assert_eq!(dry.code, 0, "{}", dry.stderr);
    let spec: serde_json::Value = serde_json::from_str(&dry.stdout).unwrap();
    let mut expected: Vec<String> = spec["spec"]["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|line| {
            line.as_str()
                .unwrap()
                .split('=')
                .next()
                .unwrap()
                .to_string()
        })
        .collect();
    expected.extend(ENGINE_VARS.map(str::to_string));
    expected.sort();

    let out = run_with(cwd, &args(false, &[]), &env);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let seen = env_map(&out.stdout);
    let names: Vec<String> = seen.keys().cloned().collect();
    assert_eq!(names, expected, "exactly the patched spec's variables");
    assert_eq!(seen.get("LISTED").map(String::as_str), Some("yes"));
    for name in [
        "HTTPS_PROXY",
        "https_proxy",
        "NODE_EXTRA_CA_CERTS",
        "SSL_CERT_FILE",
    ] {
        assert!(seen.contains_key(name), "{name} in {names:?}");
    }
    assert!(
        !out.stdout.contains(&stray),
        "the CLI's environment stays out"
    );
    c.assert_absent("the agent's environment", &out.stdout);
    println!(
        "agent environment: {} variables ({} from the engine), none of the CLI's own {}",
        names.len(),
        ENGINE_VARS.len(),
        env.len()
    );

    // Negative control: listed by name, the key is forwarded and found.
    let out = run_with(cwd, &args(false, &["-e", "ANTHROPIC_API_KEY"]), &env);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(c.found_in(&out.stdout), ["API key"]);
}

#[test]
fn the_ca_directory_is_read_only_inside_the_container() {
    let Some(image) = agent_image() else { return };
    let proxy = ProxyProcess::start(&[]);
    let workspace = tempfile::tempdir().unwrap();
    let write = |file: &str| {
        let args = [
            "run",
            "--workspace",
            workspace.path().to_str().unwrap(),
            "--env-file",
            proxy.env_file.to_str().unwrap(),
            "--network",
            "none",
            "-l",
            "nanoclaw.test=true",
            "--image",
            image,
            "--",
            "--write",
            file,
        ];
        run(workspace.path(), &args, &[])
    };
    for file in [
        "/etc/nanoclaw/ca/proxy-ca.pem",
        "/etc/nanoclaw/ca/planted.pem",
    ] {
        let out = write(file);
        assert_eq!(out.code, 1, "{file}: {}\n{}", out.stdout, out.stderr);
        assert!(
            out.stderr.contains("Read-only file system"),
            "{file}: {}",
            out.stderr
        );
    }
    // Control: the same write elsewhere in the container succeeds.
    let out = write("/planted.pem");
    assert_eq!(out.code, 0, "{}", text(out.stderr.as_bytes()));
}

/// `ws/` (the workspace), `home/.ssh/id_ed25519`, `home/projects/`, and
/// `config/` for the allowlist, in a fresh directory.
fn mount_layout() -> (tempfile::TempDir, std::path::PathBuf, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().join("ws");
    let home = dir.path().join("home");
    for sub in [
        ws.clone(),
        home.join(".ssh"),
        home.join("projects"),
        dir.path().join("config"),
    ] {
        std::fs::create_dir_all(sub).unwrap();
    }
    std::fs::write(home.join(".ssh/id_ed25519"), "not a real key").unwrap();
    (dir, ws, home)
}

#[test]
fn run_refuses_to_mount_the_ssh_directory() {
    let (dir, ws, home) = mount_layout();
    let ssh = format!("{}:/x", home.join(".ssh").display());
    let run_v = |volume: &str, extra: &[&str]| {
        let mut args = vec!["run", "--workspace", ws.to_str().unwrap(), "--no-sandbox"];
        args.extend_from_slice(extra);
        args.extend([
            "-v",
            volume,
            "--network",
            "none",
            "-l",
            "nanoclaw.test=true",
        ]);
        args.extend([
            "--image",
            "nanoclaw-no-such-image:never",
            "--",
            "--exit",
            "0",
        ]);
        run(dir.path(), &args, &[])
    };

    // The workspace only: HOME is outside it.
    let out = run_v(&ssh, &[]);
    assert_eq!(out.code, 125, "{}", out.stderr);
    assert!(
        out.stderr
            .contains(&home.join(".ssh").display().to_string()),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("outside the allowed roots"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("--mount-allowlist"), "{}", out.stderr);

    // HOME allowed: `.ssh` is still refused, by name, with the fix.
    let allowlist = dir.path().join("config/mount-allowlist.json");
    let list = serde_json::json!({
        "allowedRoots": [{ "path": home, "allowReadWrite": true }]
    });
    std::fs::write(&allowlist, list.to_string()).unwrap();
    let with_list = ["--mount-allowlist", allowlist.to_str().unwrap()];
    let out = run_v(&ssh, &with_list);
    assert_eq!(out.code, 125, "{}", out.stderr);
    for needle in [
        "`.ssh` is a credential-like name",
        "allowCredentials",
        "mount-allowlist.json",
    ] {
        assert!(out.stderr.contains(needle), "{needle}: {}", out.stderr);
    }
    // The same through the environment variable.
    let out = run(
        dir.path(),
        &[
            "run",
            "--workspace",
            ws.to_str().unwrap(),
            "--dry-run",
            "--image",
            "a:1",
            "-v",
            &ssh,
        ],
        &[("NANOCLAW_MOUNT_ALLOWLIST", allowlist.to_str().unwrap())],
    );
    assert_eq!(out.code, 125, "{}", out.stderr);
    assert!(out.stderr.contains("credential-like"), "{}", out.stderr);
    // Mounting the allowlist's own directory is refused.
    let config = format!("{}:/cfg:ro", dir.path().join("config").display());
    let out = run_v(&config, &with_list);
    assert_eq!(out.code, 125, "{}", out.stderr);
    assert!(
        out.stderr.contains("could rewrite its own policy"),
        "{}",
        out.stderr
    );

    // Control: an allowed directory passes (a dry run: no daemon needed).
    let projects = format!("{}:/p", home.join("projects").display());
    let out = run_v(&projects, &[with_list[0], with_list[1], "--dry-run"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains("/p"), "{}", out.stdout);
}

#[test]
fn run_relays_a_proxy_password_no_container_holds() {
    let Some(image) = agent_image() else { return };
    let c = Canaries::new();
    let dir = tempfile::tempdir().unwrap();
    let public = TestCa::new("relay public CA");
    let public_pem = public.write_pem(dir.path(), "public-ca.pem");
    const HOST: &str = "api.relay-cli.test";
    let upstream = Server::https(public.server_config(&[HOST], &[b"http/1.1"]), Answer::Echo)
        .name("relay-upstream")
        .start_detached()
        .unwrap();
    // Every address: bridge containers reach it (and the relay) through the gateway.
    let Some(mitm) = Mitmproxy::start_or_skip(&MitmOptions {
        listen_host: Some(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED)),
        routes: vec![Route::new(HOST, upstream.addr())],
        upstream_ca_pem: Some(public_pem),
        proxy_auth: Some(format!("agent:{}", c.proxy_password)),
        ..MitmOptions::default()
    }) else {
        return;
    };
    let proxy = c.proxy_url(&format!("127.0.0.1:{}", mitm.addr().port()));
    let ca = base64::engine::general_purpose::STANDARD.encode(mitm.ca_pem());
    let env = vec![("HTTPS_PROXY", proxy.clone()), ("PROXY_CA_CERT_B64", ca)];
    let workspace = tempfile::tempdir().unwrap();
    let ws = workspace.path().to_str().unwrap();
    let url = format!("https://{HOST}/relayed");
    let run_agent = |agent_args: &[&str]| {
        let mut args = vec!["run", "--workspace", ws, "-l", "nanoclaw.test=true"];
        args.extend(["--image", image, "--"]);
        args.extend_from_slice(agent_args);
        run_with(workspace.path(), &args, &env)
    };

    let fetched = run_agent(&["--get", &url]);
    assert_eq!(fetched.code, 0, "{}{}", fetched.stdout, fetched.stderr);
    assert!(
        fetched.stdout.starts_with("HTTP/1.1 200"),
        "{}",
        fetched.stdout
    );
    assert!(fetched.stdout.contains("/relayed"), "{}", fetched.stdout);
    assert_clean(&c, "run through the relay", &fetched);

    let printed = run_agent(&["--print-env"]);
    assert_eq!(printed.code, 0, "{}", printed.stderr);
    let seen = env_map(&printed.stdout);
    let https_proxy = seen.get("HTTPS_PROXY").expect("HTTPS_PROXY is set");
    assert!(
        https_proxy.starts_with(&format!("http://{RELAY_USER}:")),
        "the agent's proxy is the relay: {https_proxy}"
    );
    assert_clean(&c, "the relayed agent's environment", &printed);

    // Controls: handed the proxy itself (no sandbox layer, no relay), the
    // agent holds the password and gets through; with a wrong one, 407.
    let direct = |password: &str| {
        let proxy = format!("http://agent:{password}@127.0.0.1:{}", mitm.addr().port());
        let mut args = vec![
            "run",
            "--no-sandbox",
            "--workspace",
            ws,
            "-l",
            "nanoclaw.test=true",
        ];
        let proxy_var = format!("HTTPS_PROXY={proxy}");
        let ca_var = format!("PROXY_CA_CERT_B64={}", env[1].1);
        args.extend(["--network", "host", "-e", &proxy_var, "-e", &ca_var]);
        args.extend(["--image", image, "--", "--get", &url]);
        run_with(workspace.path(), &args, &[])
    };
    let control = direct(&c.proxy_password);
    assert_eq!(control.code, 0, "{}{}", control.stdout, control.stderr);
    let wrong = direct("not-the-password");
    assert_ne!(
        wrong.code, 0,
        "a wrong password is refused: {}",
        wrong.stdout
    );
    assert!(
        format!("{}{}", wrong.stdout, wrong.stderr).contains("407"),
        "{}{}",
        wrong.stdout,
        wrong.stderr
    );
}
