//! `nanoclaw-sandbox demo`, as a user types it.

mod cli_support;

use std::process::Command;

use cli_support::{cli, daemon_reachable, prereq, text};
use nanoclaw_sandbox_core::runtime::{InstallId, INSTALL};

fn demo(workspace: &std::path::Path) -> assert_cmd::Command {
    let mut cmd = cli();
    cmd.arg("demo").arg("--workspace").arg(workspace);
    cmd
}

/// Every container (running or not) of the install rooted at `workspace`.
fn containers_of(workspace: &std::path::Path) -> String {
    let install = InstallId::from_workspace(workspace);
    let output = Command::new("docker")
        .args(["ps", "-aq", "--filter"])
        .arg(format!("label={INSTALL}={install}"))
        .output()
        .expect("running docker ps");
    text(&output.stdout)
}

#[test]
fn demo_patched_agent_succeeds_and_unpatched_shows_the_certificate_error() {
    if !daemon_reachable() {
        prereq::missing("Docker daemon", "nothing listens on the Docker socket");
        return;
    }
    let workspace = tempfile::tempdir().unwrap();
    let assert = demo(workspace.path())
        .args(["--message", "demo test line"])
        .assert()
        .success();
    let stdout = text(&assert.get_output().stdout);
    let (patched, unpatched) = stdout
        .split_once("2) the same agent unpatched")
        .expect("two runs");
    assert!(patched.contains(" 200 OK"), "{stdout}");
    assert!(
        patched.contains("agent stdout | demo test line"),
        "{stdout}"
    );
    assert!(
        patched.contains("sandbox layer | CA mount: /etc/nanoclaw/ca"),
        "{stdout}"
    );
    assert!(patched.contains("agent exit code 0"), "{stdout}");
    assert!(!unpatched.contains("CA mount"), "{stdout}");
    assert!(
        unpatched.contains("agent stderr | error: the certificate for upstream.demo.test:443"),
        "{stdout}"
    );
    assert!(
        unpatched.contains("the sandbox CA is not trusted"),
        "{stdout}"
    );
    assert!(unpatched.contains("agent exit code 60"), "{stdout}");
    assert!(!unpatched.contains("demo test line"), "{stdout}");
    assert_eq!(stdout.matches("timings: create ").count(), 2, "{stdout}");
    assert!(
        stdout.contains("result: through the sandbox layer"),
        "{stdout}"
    );
    assert_eq!(
        containers_of(workspace.path()),
        "",
        "every container removed"
    );
}

#[test]
fn demo_without_a_daemon_says_how_to_start_one() {
    let workspace = tempfile::tempdir().unwrap();
    let assert = demo(workspace.path())
        .env("DOCKER_HOST", "unix:///nonexistent/nanoclaw-demo.sock")
        .assert()
        .code(2);
    let stderr = text(&assert.get_output().stderr);
    assert!(
        stderr.contains("/nonexistent/nanoclaw-demo.sock"),
        "{stderr}"
    );
    assert!(stderr.contains("dockerd"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}
