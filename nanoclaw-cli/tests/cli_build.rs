//! `nanoclaw-sandbox build` through the built binary, on the real daemon.
//! Base image: the test agent image (registry-free); every tag made here is
//! removed again.

mod cli_support;

use std::path::Path;
use std::process::Command;

use cli_support::{agent_image, cli, text, ProxyProcess};
use nanoclaw_sandbox_core::runtime::InstanceId;

/// A tag of this test's own, removed when dropped.
struct Tag(String);

impl Tag {
    fn new() -> Self {
        Tag(format!(
            "nanoclaw-cli-build-test:{}",
            InstanceId::generate()
        ))
    }
}

impl Drop for Tag {
    fn drop(&mut self) {
        let _ = Command::new("docker")
            .args(["rmi", "--force", &self.0])
            .output();
    }
}

fn context(dockerfile: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("Dockerfile"), dockerfile).unwrap();
    std::fs::write(dir.path().join("hello.txt"), "hello\n").unwrap();
    std::fs::write(dir.path().join("big.log"), "left out\n").unwrap();
    std::fs::write(dir.path().join(".dockerignore"), "*.log\n").unwrap();
    dir
}

fn label_of(image: &str, label: &str) -> String {
    let output = Command::new("docker")
        .args(["image", "inspect", "--format"])
        .arg(format!("{{{{index .Config.Labels \"{label}\"}}}}"))
        .arg(image)
        .output()
        .unwrap();
    text(&output.stdout).trim().to_string()
}

fn build(context: &Path, args: &[&str]) -> assert_cmd::Command {
    let mut cmd = cli();
    cmd.arg("build").args(args).arg(context);
    cmd
}

#[test]
fn builds_and_tags_with_plain_output_lines() {
    let Some(base) = agent_image() else { return };
    let tag = Tag::new();
    let dir = context(&format!(
        "FROM {base}\nCOPY hello.txt /hello.txt\nCOPY . /context/\nLABEL nanoclaw.test=true\n"
    ));
    let assert = build(dir.path(), &["--no-sandbox", "-t", &tag.0])
        .assert()
        .code(0);
    let stdout = text(&assert.get_output().stdout);
    assert!(stdout.contains("Step 1/4 : FROM"), "{stdout}");
    assert!(
        stdout.lines().last().unwrap().starts_with("built sha256:"),
        "{stdout}"
    );
    assert!(
        stdout.trim_end().ends_with(&format!("as {}", tag.0)),
        "{stdout}"
    );
    assert_eq!(label_of(&tag.0, "nanoclaw.test"), "true");
}

#[test]
fn the_sandbox_layer_forwards_the_proxy_build_args() {
    let Some(base) = agent_image() else { return };
    let proxy = ProxyProcess::start(&[]);
    let tag = Tag::new();
    let dir = context(&format!(
        "FROM {base}\nARG HTTPS_PROXY\nLABEL nanoclaw.test=true proxy=$HTTPS_PROXY\n"
    ));
    let env_file = proxy.env_file.to_str().unwrap();
    build(dir.path(), &["-t", &tag.0, "--env-file", env_file])
        .assert()
        .code(0);
    let port = proxy.addr.port();
    assert_eq!(
        label_of(&tag.0, "proxy"),
        format!("http://host.docker.internal:{port}")
    );
}

#[test]
fn dry_run_shows_the_wrapped_steps_and_redacted_build_args() {
    let Some(base) = agent_image() else { return };
    let proxy = ProxyProcess::start(&[]);
    let env = proxy.env();
    let with_credentials = proxy.dir().join("credentials.env");
    std::fs::write(
        &with_credentials,
        format!(
            "HTTPS_PROXY=http://builder:hunter2@127.0.0.1:{}\nPROXY_CA_CERT_B64={}\n",
            proxy.addr.port(),
            env["PROXY_CA_CERT_B64"]
        ),
    )
    .unwrap();
    let dir = context(&format!("FROM {base}\nRUN /setup\n"));
    let env_file = with_credentials.to_str().unwrap();
    let assert = build(dir.path(), &["--dry-run", "--env-file", env_file])
        .assert()
        .code(0);
    let stdout = text(&assert.get_output().stdout);
    assert!(!stdout.contains("hunter2"), "{stdout}");
    assert!(
        stdout.contains("--- .nanoclaw-sandbox.Dockerfile (as the build sees it) ---"),
        "{stdout}"
    );
    assert!(
        stdout.contains("\"nanoclaw-sandbox-run\",\"/bin/sh\",\"-c\",\"/setup\"]"),
        "{stdout}"
    );
    assert!(
        stdout.contains("FTP_PROXY=<the RUN-step wrapper with the proxy CA, "),
        "{stdout}"
    );
    assert!(!stdout.contains("BEGIN CERTIFICATE"), "{stdout}");
    assert!(
        stdout.contains(&format!(
            "HTTPS_PROXY=http://***@host.docker.internal:{}",
            proxy.addr.port()
        )),
        "{stdout}"
    );
    assert!(
        stdout.contains("host.docker.internal:host-gateway"),
        "{stdout}"
    );
    assert!(
        stdout.contains("docker history"),
        "the credentials warning: {stdout}"
    );

    let assert = build(dir.path(), &["--dry-run", "--no-sandbox"])
        .assert()
        .code(0);
    let stdout = text(&assert.get_output().stdout);
    assert!(
        stdout.contains(&format!("FROM {base}\nRUN /setup\n--- build args ---")),
        "{stdout}"
    );
}

#[test]
fn failures_exit_1_and_input_errors_2() {
    if agent_image().is_none() {
        return;
    }
    let dir = context("FROM nanoclaw-missing-base:never\n");
    let assert = build(dir.path(), &["--no-sandbox"]).assert().code(1);
    let stderr = text(&assert.get_output().stderr);
    assert!(stderr.contains("nanoclaw-missing-base:never"), "{stderr}");
    assert!(stderr.contains("never pulls"), "{stderr}");

    // .dockerignore leaves big.log out of the context.
    let dir = context("FROM scratch\nCOPY hello.txt big.log /\n");
    let assert = build(dir.path(), &["--no-sandbox"]).assert().code(1);
    let stderr = text(&assert.get_output().stderr);
    assert!(stderr.contains("big.log"), "{stderr}");

    let missing = dir.path().join("nope");
    build(&missing, &[]).assert().code(2);
    let empty = tempfile::tempdir().unwrap();
    let assert = build(empty.path(), &[]).assert().code(2);
    assert!(text(&assert.get_output().stderr).contains("no Dockerfile"));
}
