//! The hidden `agent` subcommand, run directly as a user (or a container) would.

use assert_cmd::Command;

fn agent() -> Command {
    let mut cmd = Command::cargo_bin("nanoclaw-sandbox").unwrap();
    cmd.arg("agent");
    cmd
}

fn stdout_of(cmd: &mut Command) -> String {
    String::from_utf8(cmd.assert().get_output().stdout.clone()).unwrap()
}

#[test]
fn prints_its_environment_sorted() {
    let printed = stdout_of(
        agent()
            .arg("--print-env")
            .env_clear()
            .env("ZZ_LAST", "z")
            .env("AA_FIRST", "a=1"),
    );
    assert_eq!(printed, "AA_FIRST=a=1\nZZ_LAST=z\n");
}

#[test]
fn echoes_stdin_and_writes_both_streams() {
    let assert = agent()
        .args([
            "--stdout",
            "before",
            "--stderr",
            "to stderr",
            "--echo-stdin",
        ])
        .write_stdin("line 1\nline 2\n")
        .assert()
        .success();
    let out = assert.get_output();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "before\nline 1\nline 2\n"
    );
    assert_eq!(String::from_utf8_lossy(&out.stderr), "to stderr\n");
}

#[test]
fn exits_with_the_code_given() {
    agent().args(["--exit", "9"]).assert().code(9);
    agent().assert().code(0);
}

#[test]
fn sleeps_for_the_time_given() {
    let started = std::time::Instant::now();
    agent().args(["--sleep", "0.3"]).assert().success();
    assert!(started.elapsed() >= std::time::Duration::from_millis(300));
}

#[test]
fn bad_input_is_an_error_message_not_a_panic() {
    let assert = agent().args(["--sleep=-1"]).assert().code(1);
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).into_owned();
    assert!(stderr.contains("--sleep -1"), "{stderr}");
    let assert = agent().args(["--sleep", "NaN"]).assert().code(1);
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).into_owned();
    assert!(stderr.contains("--sleep NaN"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    agent().args(["--exit", "256"]).assert().code(2);
}

#[test]
fn is_hidden_from_help() {
    let mut cmd = Command::cargo_bin("nanoclaw-sandbox").unwrap();
    let help = stdout_of(cmd.arg("--help"));
    assert!(help.contains("demo"), "{help}");
    // Subcommands are listed as `  NAME  description`.
    assert!(
        help.lines().any(|l| l.trim_start().starts_with("demo ")),
        "{help}"
    );
    assert!(
        !help.lines().any(|l| l.trim_start().starts_with("agent ")),
        "{help}"
    );
}
