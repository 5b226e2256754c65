//! `nanoclaw-sandbox route` and `inspect` say when a proxy variable's two
//! spellings differ, with the library's own warning (the one `run`, `build`
//! and `doctor` give), on stderr; stdout keeps the command's result.
//! Nothing here resolves a name or opens a connection beyond a missing
//! local socket.

mod cli_support;

use std::collections::HashMap;

use cli_support::{cli, text};
use nanoclaw_sandbox_core::sandbox::{DetectOptions, SandboxEnv};

const UPPER: &str = "http://upper-proxy.test:3128";
const LOWER: &str = "http://lower-proxy.test:3128";

/// Every variable detection reads, cleared, so the test's own environment
/// cannot leak in; `RUST_LOG` too, so the default (warnings) applies.
const CLEARED: &[&str] = &[
    "HTTPS_PROXY",
    "https_proxy",
    "HTTP_PROXY",
    "http_proxy",
    "ALL_PROXY",
    "all_proxy",
    "NO_PROXY",
    "no_proxy",
    "PROXY_CA_CERT_B64",
    "NODE_EXTRA_CA_CERTS",
    "SSL_CERT_FILE",
    "RUST_LOG",
];

fn command(vars: &[(&str, &str)]) -> assert_cmd::Command {
    let mut cmd = cli();
    for name in CLEARED {
        cmd.env_remove(name);
    }
    for (name, value) in vars {
        cmd.env(name, value);
    }
    cmd
}

/// The warnings the library gives for `vars`, as text.
fn library_warnings(vars: &[(&str, &str)]) -> Vec<String> {
    let map: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let env =
        SandboxEnv::detect_from(|name| map.get(name).cloned(), &DetectOptions::default()).unwrap();
    env.warnings().iter().map(ToString::to_string).collect()
}

fn differing() -> [(&'static str, &'static str); 2] {
    [("HTTPS_PROXY", UPPER), ("https_proxy", LOWER)]
}

#[test]
fn route_warns_on_stderr_when_the_spellings_differ() {
    let vars = differing();
    let expected = library_warnings(&vars);
    assert_eq!(expected.len(), 1, "{expected:?}");
    assert!(
        expected[0].contains("lowercase wins"),
        "the library's warning: {}",
        expected[0]
    );
    let out = command(&vars)
        .args(["route", "https://api.example.test/v1"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "stdout: {stdout}\nstderr: {stderr}");
    // Lowercase wins, and the route says so.
    assert!(stdout.starts_with(&format!("proxy {LOWER}")), "{stdout}");
    assert!(stderr.contains(&expected[0]), "stderr: {stderr}");
    assert!(
        !stdout.contains("differ"),
        "the warning stays off stdout: {stdout}"
    );
}

#[test]
fn route_warns_for_an_env_file_too() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("sandbox.env");
    std::fs::write(
        &file,
        format!("HTTP_PROXY={UPPER}\nhttp_proxy={LOWER}\nhttps_proxy={LOWER}\n"),
    )
    .unwrap();
    let expected = library_warnings(&[
        ("HTTP_PROXY", UPPER),
        ("http_proxy", LOWER),
        ("https_proxy", LOWER),
    ]);
    assert_eq!(expected.len(), 1, "{expected:?}");
    let out = command(&[])
        .args(["route", "http://plain.example.test/"])
        .arg("--env-file")
        .arg(&file)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "stderr: {stderr}");
    assert!(stderr.contains(&expected[0]), "stderr: {stderr}");
}

#[test]
fn route_is_quiet_when_the_spellings_agree() {
    let vars = [("HTTPS_PROXY", LOWER), ("https_proxy", LOWER)];
    assert!(library_warnings(&vars).is_empty());
    let out = command(&vars)
        .args(["route", "https://api.example.test/"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "stderr: {stderr}");
    assert!(!stderr.contains("differ"), "stderr: {stderr}");
}

#[test]
fn inspect_warns_before_it_needs_the_daemon() {
    let vars = differing();
    let expected = library_warnings(&vars);
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("no-daemon.sock");
    let out = command(&vars)
        .env("DOCKER_HOST", format!("unix://{}", socket.display()))
        .args(["inspect", "no-such-container"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    // No daemon there: the command fails, but the warning came first.
    assert!(!out.status.success(), "stderr: {stderr}");
    assert!(stderr.contains(&expected[0]), "stderr: {stderr}");
}

/// `--json`: one object a script can read; a passthrough host says so.
#[test]
fn route_json_names_the_route_the_rule_and_the_trust() {
    let vars = [("HTTPS_PROXY", UPPER), ("NO_PROXY", "internal.test")];
    let json = |url: &str| -> serde_json::Value {
        let out = command(&vars)
            .args(["route", "--json", url])
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let proxied = json("https://api.example.test/v1");
    assert_eq!(proxied["route"], "proxy");
    assert_eq!(proxied["proxy"], UPPER);
    assert_eq!(proxied["trust"], "configured");
    assert!(
        proxied["rule"].as_str().unwrap().contains("HTTPS_PROXY"),
        "{proxied}"
    );
    let direct = json("https://internal.test/");
    assert_eq!(direct["route"], "direct");
    assert_eq!(direct["proxy"], serde_json::Value::Null);
    assert_eq!(json("https://web.whatsapp.com/")["trust"], "public-only");
}

/// A proxy variable that is no proxy URL is an input error: exit 2, named.
#[test]
fn a_bad_proxy_variable_exits_2_naming_it() {
    let out = command(&[("HTTPS_PROXY", "not a url")])
        .args(["route", "https://api.example.test/"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("HTTPS_PROXY"));
}

/// `--workspace` belongs to the commands that read it (`build`, `run`,
/// `doctor`, `host`, `demo`); the others refuse it as clap refuses any
/// unknown argument (exit 2), wherever it is put. Their variable,
/// `NANOCLAW_WORKSPACE`, is nothing to them.
#[test]
fn commands_that_do_not_use_the_workspace_refuse_it() {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().to_str().unwrap();
    let commands: [&[&str]; 7] = [
        &["route", "https://example.com/"],
        &["patch-dockerfile", "Dockerfile"],
        &["inspect", "some-container"],
        &["daemon-config", "--engine-version", "20.10"],
        &["proxy", "--listen", "127.0.0.1:0"],
        &["completions", "bash"],
        &["spec-schema"],
    ];
    for args in commands {
        let assert = command(&[])
            .args(args)
            .args(["--workspace", ws])
            .assert()
            .code(2);
        let stderr = text(&assert.get_output().stderr);
        assert!(
            stderr.contains("unexpected argument '--workspace'"),
            "{args:?}: {stderr}"
        );
    }
    // Before the command, where it used to be global, it is refused too.
    let assert = command(&[])
        .args(["--workspace", ws, "route", "https://example.com/"])
        .assert()
        .code(2);
    assert!(text(&assert.get_output().stderr).contains("unexpected argument '--workspace'"));

    // The control: the same commands run without it, with the variable set.
    for args in [
        &["route", "https://example.com/"][..],
        &["completions", "bash"],
        &["spec-schema"],
    ] {
        command(&[("NANOCLAW_WORKSPACE", ws)])
            .args(args)
            .assert()
            .code(0);
    }
}
