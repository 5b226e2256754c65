//! `nanoclaw-sandbox doctor`, as a user types it, against the proxy stand-in
//! (in-process, mapping every test name to a local HTTPS upstream whose
//! certificate comes from a test CA) and the real daemon. Each check has a
//! passing and a failing case.

mod cli_support;
mod doctor_support;

use std::path::PathBuf;

use doctor_support::{docker, Agents, Fixture, ProxyOptions};
use nanoclaw_testkit::docker::unique_name;
use nanoclaw_testkit::net::closed_port;

const PATCHED_DOCKERFILE: &str = "FROM scratch\n\
# nanoclaw-sandbox: proxy and proxy-CA build args (see docs/sandbox.md)\n\
ARG http_proxy\nARG https_proxy\nARG no_proxy\nARG HTTP_PROXY\nARG HTTPS_PROXY\nARG NO_PROXY\n\
ARG NODE_USE_ENV_PROXY\nARG NODE_EXTRA_CA_CERTS\nCOPY a /a\n";

/// The workspace, with the project inside it.
fn workspace(fixture: &Fixture) -> (PathBuf, PathBuf) {
    let ws = fixture.dir.path().join("workspace");
    let project = ws.join("nanoclaw");
    std::fs::create_dir_all(&project).unwrap();
    (ws, project)
}

fn daemon_expected(outcome: &doctor_support::Outcome) -> bool {
    let daemon = outcome.check("docker-daemon");
    if daemon["status"] == "pass" {
        return true;
    }
    nanoclaw_testkit::prereq::missing("Docker daemon", &daemon["detail"].to_string());
    false
}

#[test]
fn a_sandbox_like_setup_passes_every_check() {
    let fixture = Fixture::new();
    let proxy = fixture.proxy(ProxyOptions {
        listen_all: true,
        bypass: vec![doctor_support::PASSTHROUGH_HOST],
        ..ProxyOptions::default()
    });
    let (ws, project) = workspace(&fixture);
    let spec = fixture.file(
        "spec.toml",
        &format!(
            "image = \"agent:1\"\n[[mounts]]\ntype = \"bind\"\nsource = \"{}\"\ntarget = \"/data\"\n",
            ws.join("data").display()
        ),
    );
    let dockerfile = fixture.file("Dockerfile", PATCHED_DOCKERFILE);
    let out = fixture.doctor(
        &project,
        &[
            "--env-file",
            proxy.env_file.to_str().unwrap(),
            "--workspace",
            ws.to_str().unwrap(),
            "--spec",
            spec.to_str().unwrap(),
            "--dockerfile",
            dockerfile.to_str().unwrap(),
        ],
    );
    let port = proxy.standin.addr().port().to_string();
    out.expect(
        "proxy-env",
        "pass",
        &["HTTPS requests go through http://127.0.0.1:", &port],
    );
    out.expect("proxy-env-case", "pass", &["HTTPS_PROXY, https_proxy"]);
    out.expect("proxy-ca", "pass", &["from PROXY_CA_CERT_B64", "days left"]);
    out.expect("node-tls-verify", "pass", &[]);
    out.expect(
        "proxy-reachable",
        "pass",
        &["CONNECT api.doctor.test:443 accepted"],
    );
    out.expect("proxy-bridge", "pass", &["0.0.0.0:"]);
    out.expect(
        "tls-probe",
        "pass",
        &[
            "answered HTTP 204",
            "verified with the sandbox CA",
            "without it verification fails",
            "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
        ],
    );
    out.expect("passthrough", "pass", &["web.whatsapp.com"]);
    out.expect(
        "channel-routes",
        "pass",
        &["api.doctor.test:443", "api.telegram.org:443"],
    );
    out.expect("workspace-project", "pass", &["inside the workspace"]);
    out.expect("workspace-mounts", "pass", &["1 bind mount source(s)"]);
    out.expect("workspace-fs", "pass", &[]);
    out.expect("dockerfile-args", "pass", &["all 1 stage(s)"]);
    let with_daemon = daemon_expected(&out);
    if with_daemon {
        out.expect("docker-daemon", "pass", &["API 1."]);
        // No agents of this workspace's install run.
        out.expect(
            "container-proxy-env",
            "skip",
            &["no running managed containers"],
        );
        assert_eq!(out.code, 0, "{}", out.stdout);
    }
    for check in out.checks() {
        let keys: Vec<&String> = check.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["detail", "fix", "id", "status"], "{check}");
    }
}

#[test]
fn without_the_ca_tls_fails_and_says_why() {
    let fixture = Fixture::new();
    let proxy = fixture.proxy(ProxyOptions::default());
    let no_ca: Vec<String> = proxy
        .env_lines()
        .into_iter()
        .filter(|l| !l.starts_with("PROXY_CA_CERT_B64="))
        .collect();
    let env = fixture.env_file(&no_ca);
    let out = fixture.doctor_env(&env, &[]);
    out.expect(
        "tls-probe",
        "fail",
        &[
            "the proxy intercepts TLS; agents need the CA",
            "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
            "SELF_SIGNED_CERT_IN_CHAIN",
            "PROXY_CA_CERT_B64",
        ],
    );
    out.expect("proxy-ca", "warn", &["no proxy CA found"]);
    // The proxy itself is fine.
    out.expect("proxy-reachable", "pass", &[]);
    assert_eq!(out.code, 1, "{}", out.stdout);
}

#[test]
fn a_policy_refusal_names_the_host_and_how_to_allow_it() {
    let fixture = Fixture::new();
    let proxy = fixture.proxy(ProxyOptions {
        deny: vec![doctor_support::PROBE_HOST],
        ..ProxyOptions::default()
    });
    let out = fixture.doctor_env(&proxy.env_file, &[]);
    out.expect(
        "tls-probe",
        "fail",
        &[
            "the network policy blocks api.doctor.test",
            "Blocked by network policy",
            "sbx policy allow network api.doctor.test",
        ],
    );
    assert_eq!(out.code, 1);
}

#[test]
fn an_intercepted_passthrough_host_fails_and_a_bypassed_one_passes() {
    let fixture = Fixture::new();
    let intercepting = fixture.proxy(ProxyOptions::default());
    let out = fixture.doctor_env(&intercepting.env_file, &[]);
    out.expect(
        "passthrough",
        "fail",
        &[
            "intercepts web.whatsapp.com",
            "Connection failed",
            "--bypass-host '**.whatsapp.net'",
        ],
    );
    let bypassing = fixture.proxy(ProxyOptions {
        bypass: vec!["web.whatsapp.com"],
        ..ProxyOptions::default()
    });
    let out = fixture.doctor_env(&bypassing.env_file, &[]);
    out.expect(
        "passthrough",
        "pass",
        &["not intercepted", "web.whatsapp.com"],
    );
}

#[test]
fn node_tls_off_fails_and_warns_in_dev_mode() {
    let fixture = Fixture::new();
    let proxy = fixture.proxy(ProxyOptions::default());
    let mut lines = proxy.env_lines();
    lines.push("NODE_TLS_REJECT_UNAUTHORIZED=0".into());
    let env = fixture.env_file(&lines);
    let out = fixture.doctor_env(&env, &[]);
    out.expect(
        "node-tls-verify",
        "fail",
        &["NODE_TLS_REJECT_UNAUTHORIZED=0", "unset"],
    );
    assert_eq!(out.code, 1);
    let out = fixture.doctor_env(&env, &["--dev"]);
    out.expect("node-tls-verify", "warn", &["--dev"]);
}

#[test]
fn a_loopback_only_proxy_warns_about_bridge_containers() {
    let fixture = Fixture::new();
    let proxy = fixture.proxy(ProxyOptions::default());
    let out = fixture.doctor_env(&proxy.env_file, &[]);
    out.expect(
        "proxy-bridge",
        "warn",
        &["loopback only", "connection refused", "--listen 0.0.0.0:"],
    );
}

#[test]
fn proxy_variables_missing_https_disagreeing_or_unreachable_fail() {
    let fixture = Fixture::new();
    let dead = format!("http://{}", closed_port());

    let http_only = fixture.env_file(&[format!("HTTP_PROXY={dead}")]);
    let out = fixture.doctor_env(&http_only, &[]);
    out.expect("proxy-env", "fail", &["neither HTTPS_PROXY nor ALL_PROXY"]);

    let invalid = fixture.env_file(&["HTTPS_PROXY=socks5://user:hunter2@127.0.0.1:1".into()]);
    let out = fixture.doctor_env(&invalid, &[]);
    out.expect("proxy-env", "fail", &["HTTPS_PROXY"]);
    out.expect("tls-probe", "skip", &[]);
    assert!(!out.stdout.contains("hunter2"), "{}", out.stdout);
    assert_eq!(out.code, 1);

    let disagreeing = fixture.env_file(&[
        format!("HTTPS_PROXY={dead}"),
        "https_proxy=http://user:hunter2@127.0.0.1:9".into(),
    ]);
    let out = fixture.doctor_env(&disagreeing, &[]);
    out.expect("proxy-env-case", "fail", &["differ", "same value"]);
    assert!(!out.stdout.contains("hunter2"), "{}", out.stdout);

    let unreachable = fixture.env_file(&[format!("HTTPS_PROXY={dead}")]);
    let out = fixture.doctor_env(&unreachable, &[]);
    out.expect(
        "proxy-reachable",
        "fail",
        &["unreachable", "host.docker.internal:3128"],
    );
    out.expect("proxy-env", "pass", &[]);
}

#[test]
fn an_unusable_ca_fails() {
    let fixture = Fixture::new();
    let proxy = fixture.proxy(ProxyOptions::default());
    let mut lines: Vec<String> = proxy
        .env_lines()
        .into_iter()
        .filter(|l| !l.starts_with("PROXY_CA_CERT_B64="))
        .collect();
    lines.push("PROXY_CA_CERT_B64=this is not base64!".into());
    let env = fixture.env_file(&lines);
    let out = fixture.doctor_env(&env, &[]);
    out.expect("proxy-ca", "fail", &["PROXY_CA_CERT_B64", "base64"]);
    // The proxy is still checked, without the CA.
    out.expect("proxy-reachable", "pass", &[]);
}

#[test]
fn a_no_proxy_entry_for_a_channel_fails() {
    let fixture = Fixture::new();
    let proxy = fixture.proxy(ProxyOptions::default());
    let mut lines = proxy.env_lines();
    lines.push("NO_PROXY=localhost,.telegram.org".into());
    lines.push("no_proxy=localhost,.telegram.org".into());
    let env = fixture.env_file(&lines);
    let out = fixture.doctor_env(&env, &[]);
    out.expect(
        "channel-routes",
        "fail",
        &[
            "api.telegram.org (NO_PROXY rule `.telegram.org`)",
            "remove those entries",
        ],
    );
}

#[test]
fn paths_outside_the_workspace_fail() {
    let fixture = Fixture::new();
    let (ws, _) = workspace(&fixture);
    let outside = fixture.dir.path().join("elsewhere");
    std::fs::create_dir_all(&outside).unwrap();
    let spec = fixture.file(
        "spec.json",
        &serde_json::json!({
            "image": "agent:1",
            "mounts": [
                {"type": "bind", "source": outside.join("state"), "target": "/state"},
                {"type": "bind", "source": "/dev/null", "target": "/app/.env", "read_only": true}
            ]
        })
        .to_string(),
    );
    let ws_arg = ws.to_str().unwrap();
    let out = fixture.doctor(
        &outside,
        &["--workspace", ws_arg, "--spec", spec.to_str().unwrap()],
    );
    out.expect(
        "workspace-project",
        "fail",
        &["outside the workspace", "path not shared"],
    );
    out.expect(
        "workspace-mounts",
        "fail",
        &["-> /state", "path not shared"],
    );
    assert_eq!(out.code, 1);

    let dev_null = fixture.file(
        "spec.toml",
        "image = \"agent:1\"\n[[mounts]]\ntype = \"bind\"\nsource = \"/dev/null\"\ntarget = \"/app/.env\"\nread_only = true\n",
    );
    let out = fixture.doctor(
        &ws,
        &["--workspace", ws_arg, "--spec", dev_null.to_str().unwrap()],
    );
    out.expect(
        "workspace-mounts",
        "warn",
        &["the sandbox rejects /dev/null bind mounts; the patcher replaces them"],
    );
}

#[test]
fn an_unpatched_dockerfile_fails() {
    let fixture = Fixture::new();
    let dockerfile = fixture.file(
        "Dockerfile",
        "FROM scratch\nCOPY a /a\nFROM scratch AS two\n",
    );
    let out = fixture.doctor(
        fixture.dir.path(),
        &["--dockerfile", dockerfile.to_str().unwrap()],
    );
    out.expect(
        "dockerfile-args",
        "fail",
        &["2 of 2 stage(s)", "patch-dockerfile --in-place"],
    );
    assert_eq!(out.code, 1);
}

#[test]
fn no_daemon_fails_its_check_with_exit_1_and_skips_the_containers() {
    let fixture = Fixture::new();
    let mut cmd_args = vec!["doctor", "--json"];
    cmd_args.extend(["--probe", "https://api.doctor.test/"]);
    let out = doctor_support::run(
        fixture.dir.path(),
        &cmd_args,
        &[("DOCKER_HOST", "unix:///nonexistent/doctor-test.sock")],
    );
    out.expect(
        "docker-daemon",
        "fail",
        &["/nonexistent/doctor-test.sock", "start the Docker daemon"],
    );
    out.expect("container-proxy-env", "skip", &["no Docker daemon"]);
    assert_eq!(out.code, 1, "{}", out.stderr);
}

#[test]
fn usage_and_input_errors_exit_2() {
    let fixture = Fixture::new();
    let dir = fixture.dir.path();
    let bad_env = fixture.file("bad.env", "this line has no equals sign\n");
    let bad_spec = fixture.file("bad.toml", "image = 3\n");
    for (args, needle) in [
        (vec!["doctor", "--probe", "http://plain.test/"], "https://"),
        (vec!["doctor", "--probe", "not a url"], "not a url"),
        (
            vec!["doctor", "--spec", "/nonexistent/spec.toml"],
            "/nonexistent/spec.toml",
        ),
        (
            vec!["doctor", "--spec", bad_spec.to_str().unwrap()],
            "is invalid",
        ),
        (
            vec!["doctor", "--env-file", bad_env.to_str().unwrap()],
            "line 1",
        ),
        (vec!["doctor", "--timeout", "0"], "--timeout"),
        (vec!["doctor", "--no-such-flag"], "--no-such-flag"),
    ] {
        let out = doctor_support::run(dir, &args, &[]);
        assert_eq!(out.code, 2, "{args:?}: {}", out.stderr);
        assert!(out.stderr.contains(needle), "{args:?}: {}", out.stderr);
    }
}

#[test]
fn human_output_marks_each_check_without_colour_when_piped() {
    let fixture = Fixture::new();
    let proxy = fixture.proxy(ProxyOptions::default());
    let mut lines = proxy.env_lines();
    lines.push("NODE_TLS_REJECT_UNAUTHORIZED=0".into());
    let env = fixture.env_file(&lines);
    let out = doctor_support::run(
        fixture.dir.path(),
        &[
            "doctor",
            "--probe",
            "https://api.doctor.test/",
            "--passthrough-host",
            "web.whatsapp.com",
            "--env-file",
            env.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(out.code, 1);
    assert!(!out.stdout.contains('\x1b'), "{}", out.stdout);
    assert!(out.stdout.contains("✓ proxy-env: "), "{}", out.stdout);
    assert!(out.stdout.contains("✗ node-tls-verify: "), "{}", out.stdout);
    assert!(out.stdout.contains("! proxy-bridge: "), "{}", out.stdout);
    assert!(
        out.stdout
            .contains("\n    fix: unset NODE_TLS_REJECT_UNAUTHORIZED"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains(" failed, "), "{}", out.stdout);
}

/// Agents started with and without the sandbox layer's settings: listed
/// by install (no `--container`), then one named.
#[test]
fn containers_with_the_proxy_env_pass_and_without_fail() {
    let fixture = Fixture::new();
    let proxy = fixture.proxy(ProxyOptions::default());
    let (ws, project) = workspace(&fixture);
    let Some(runtime) = docker(&fixture, &ws) else {
        return;
    };
    let mut agents = Agents::new(&fixture, runtime, &ws, &proxy.env_file);
    let good = agents.start(&unique_name("doctor-patched"), true);
    let bare = agents.start(&unique_name("doctor-bare"), false);
    let env_arg = proxy.env_file.to_str().unwrap();
    let ws_arg = ws.to_str().unwrap();
    let out = fixture.doctor(&project, &["--env-file", env_arg, "--workspace", ws_arg]);
    let detail_of = |checks: &[serde_json::Value], name: &str| {
        checks
            .iter()
            .find(|c| c["detail"].as_str().unwrap().contains(name))
            .unwrap_or_else(|| panic!("{name} in {checks:#?}"))
            .clone()
    };
    let proxy_env = out.all("container-proxy-env");
    let ca = out.all("container-ca");
    assert_eq!((proxy_env.len(), ca.len()), (2, 2), "{}", out.stdout);
    assert_eq!(detail_of(&proxy_env, &good)["status"], "pass");
    assert_eq!(detail_of(&ca, &good)["status"], "pass", "{:#?}", ca);
    let failed = detail_of(&proxy_env, &bare);
    assert_eq!(failed["status"], "fail");
    assert!(
        failed["detail"]
            .as_str()
            .unwrap()
            .contains("missing HTTP_PROXY"),
        "{failed}"
    );
    assert!(failed["fix"]
        .as_str()
        .unwrap()
        .contains(&format!("nanoclaw-sandbox inspect {bare}")));
    let failed = detail_of(&ca, &bare);
    assert_eq!(failed["status"], "fail");
    assert!(failed["detail"]
        .as_str()
        .unwrap()
        .contains("nothing is mounted at /etc/nanoclaw/ca"));
    assert_eq!(out.code, 1);

    let out = fixture.doctor(
        &project,
        &[
            "--env-file",
            env_arg,
            "--workspace",
            ws_arg,
            "--container",
            &good,
        ],
    );
    out.expect("container-proxy-env", "pass", &[&good, "HTTPS_PROXY"]);
    out.expect("container-ca", "pass", &[&good, "mounted read-only"]);
    let out = fixture.doctor(
        &project,
        &[
            "--env-file",
            env_arg,
            "--container",
            "nanoclaw-doctor-no-such-container",
        ],
    );
    out.expect("container-proxy-env", "fail", &["does not exist"]);
    agents.remove_all();
}
