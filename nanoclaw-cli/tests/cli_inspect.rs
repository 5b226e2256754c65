//! `nanoclaw-sandbox inspect CONTAINER`, on the real daemon: agents started
//! through the sandbox layer match, agents started without it do not.

mod cli_support;
mod doctor_support;

use doctor_support::{docker, run, Agents, Fixture};
use nanoclaw_testkit::docker::unique_name;
use serde_json::Value;

/// A workspace and an env file like the stand-in's (credentials in the
/// proxy URL, the CA as a file), without a proxy running: inspect only
/// compares settings.
fn setup(fixture: &Fixture) -> (std::path::PathBuf, std::path::PathBuf) {
    let ws = fixture.dir.path().join("workspace");
    std::fs::create_dir_all(&ws).unwrap();
    let env = fixture.env_file(&[
        "HTTPS_PROXY=http://agent:hunter2@127.0.0.1:3128".into(),
        "https_proxy=http://agent:hunter2@127.0.0.1:3128".into(),
        format!("NODE_EXTRA_CA_CERTS={}", fixture.pki_pem.display()),
    ]);
    (ws, env)
}

fn inspect(fixture: &Fixture, env: &std::path::Path, extra: &[&str]) -> doctor_support::Outcome {
    let mut args = vec!["inspect", "--env-file", env.to_str().unwrap()];
    args.extend_from_slice(extra);
    run(fixture.dir.path(), &args, &[])
}

#[test]
fn a_patched_agent_matches_and_a_bare_one_does_not() {
    let fixture = Fixture::new();
    let (ws, env) = setup(&fixture);
    let Some(runtime) = docker(&fixture, &ws) else {
        return;
    };
    let mut agents = Agents::new(&fixture, runtime, &ws, &env);
    let good = agents.start(&unique_name("inspect-patched"), true);
    let bare = agents.start(&unique_name("inspect-bare"), false);

    let out = inspect(&fixture, &env, &[&good]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    for line in [
        "host mode: proxied-intercepting",
        "  ok       HTTPS_PROXY=http://***@host.docker.internal:3128",
        "  ok       NODE_EXTRA_CA_CERTS=/etc/nanoclaw/ca/proxy-ca.pem",
        "  ok       SSL_CERT_FILE=/etc/nanoclaw/ca/ca-bundle.pem",
        "CA directory: ok       /etc/nanoclaw/ca <- ",
        "result: matches what the sandbox layer sets",
    ] {
        assert!(out.stdout.contains(line), "`{line}` in:\n{}", out.stdout);
    }
    assert!(!out.stdout.contains("hunter2"), "{}", out.stdout);

    let out = inspect(&fixture, &env, &[&bare]);
    assert_eq!(out.code, 1, "{}\n{}", out.stdout, out.stderr);
    for line in [
        "  missing  HTTPS_PROXY (expected http://***@host.docker.internal:3128)",
        "  missing  NODE_EXTRA_CA_CERTS (expected /etc/nanoclaw/ca/proxy-ca.pem)",
        "CA directory: missing  /etc/nanoclaw/ca <- nothing",
        "result: does not match",
    ] {
        assert!(out.stdout.contains(line), "`{line}` in:\n{}", out.stdout);
    }

    let out = inspect(&fixture, &env, &["--json", &bare]);
    assert_eq!(out.code, 1);
    let report: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(report["matches"], false);
    assert_eq!(report["container"], bare.as_str());
    assert_eq!(report["network_mode"], "none");
    assert_eq!(report["ca_mount"]["status"], "missing");
    let variables = report["variables"].as_array().unwrap();
    assert!(
        variables.iter().all(|v| v["status"] == "missing"),
        "{report:#}"
    );
    assert!(
        variables.iter().any(|v| v["name"] == "no_proxy"),
        "{report:#}"
    );
    agents.remove_all();
}

#[test]
fn a_differing_value_is_shown_beside_the_expected_one() {
    let fixture = Fixture::new();
    let (ws, env) = setup(&fixture);
    let Some(runtime) = docker(&fixture, &ws) else {
        return;
    };
    // Standard Docker mode for the agents (no proxy in this env file), so
    // the container keeps the loopback proxy it is given by hand.
    let plain = fixture.env_file(&[]);
    let mut agents = Agents::new(&fixture, runtime, &ws, &plain);
    let name = unique_name("inspect-loopback");
    agents.start_with_env(
        &name,
        &[("HTTPS_PROXY", "http://agent:hunter2@127.0.0.1:3128")],
    );
    let out = inspect(&fixture, &env, &["--json", &name]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    let report: Value = serde_json::from_str(&out.stdout).unwrap();
    let https = report["variables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "HTTPS_PROXY")
        .unwrap()
        .clone();
    assert_eq!(https["status"], "differs", "{report:#}");
    assert_eq!(https["actual"], "http://***@127.0.0.1:3128");
    assert_eq!(https["expected"], "http://***@host.docker.internal:3128");
    assert!(!out.stdout.contains("hunter2"));
    agents.remove_all();
}

#[test]
fn an_unknown_container_is_a_usage_error() {
    let fixture = Fixture::new();
    let (ws, env) = setup(&fixture);
    if docker(&fixture, &ws).is_none() {
        return;
    }
    let out = inspect(&fixture, &env, &["nanoclaw-inspect-no-such-container"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("nanoclaw-inspect-no-such-container"),
        "{}",
        out.stderr
    );
}
