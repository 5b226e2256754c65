//! `nanoclaw-sandbox completions SHELL`: a script the shell accepts, naming
//! the commands; an unknown shell is a usage error (2).

mod cli_support;

use cli_support::{cli, text};

#[test]
fn bash_completions_parse_and_name_every_command() {
    let out = cli().args(["completions", "bash"]).assert().code(0);
    let script = text(&out.get_output().stdout);
    for command in ["build", "patch-dockerfile", "daemon-config", "completions"] {
        assert!(script.contains(command), "{command} missing");
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("completions.bash");
    std::fs::write(&file, &script).unwrap();
    let checked = std::process::Command::new("bash")
        .arg("-n")
        .arg(&file)
        .output()
        .unwrap();
    assert!(checked.status.success(), "{}", text(&checked.stderr));
}

#[test]
fn an_unknown_shell_is_a_usage_error() {
    let out = cli().args(["completions", "tcsh"]).assert().code(2);
    assert!(text(&out.get_output().stderr).contains("possible values"));
}
