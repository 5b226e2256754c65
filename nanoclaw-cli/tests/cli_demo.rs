//! `nanoclaw-sandbox demo`, as a user types it.

#[path = "../../nanoclaw-sandbox-core/tests/support/prereq.rs"]
mod support;

use assert_cmd::Command;

fn demo(workspace: &std::path::Path) -> Command {
    let mut cmd = Command::cargo_bin("nanoclaw-sandbox").unwrap();
    cmd.arg("demo").arg("--workspace").arg(workspace);
    cmd
}

fn daemon_reachable() -> bool {
    let socket = std::env::var("DOCKER_HOST")
        .ok()
        .and_then(|h| h.strip_prefix("unix://").map(str::to_string))
        .unwrap_or_else(|| "/var/run/docker.sock".to_string());
    std::os::unix::net::UnixStream::connect(socket).is_ok()
}

#[test]
fn demo_prints_the_agents_output_and_timings() {
    if !daemon_reachable() {
        support::missing("Docker daemon", "nothing listens on the Docker socket");
        return;
    }
    let workspace = tempfile::tempdir().unwrap();
    let assert = demo(workspace.path())
        .args(["--message", "demo test line"])
        .assert()
        .success();
    let stdout = String::from_utf8_lossy(&assert.get_output().stdout).into_owned();
    assert!(stdout.contains("agent stdout | demo test line"), "{stdout}");
    assert!(
        stdout.contains("agent stdout | NANOCLAW_DEMO=1"),
        "{stdout}"
    );
    assert!(
        stdout.contains("agent stderr | (this line went to stderr)"),
        "{stdout}"
    );
    assert!(stdout.contains("timings: create "), "{stdout}");
    assert!(stdout.contains("first output"), "{stdout}");
    assert!(stdout.contains("container removed"), "{stdout}");
}

#[test]
fn demo_without_a_daemon_says_how_to_start_one() {
    let workspace = tempfile::tempdir().unwrap();
    let assert = demo(workspace.path())
        .env("DOCKER_HOST", "unix:///nonexistent/nanoclaw-demo.sock")
        .assert()
        .code(2);
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).into_owned();
    assert!(
        stderr.contains("/nonexistent/nanoclaw-demo.sock"),
        "{stderr}"
    );
    assert!(stderr.contains("dockerd"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}
