//! `agent --serve`: the project's own agent speaking the protocol on the
//! real stdin/stdout of the built binary (echo mode: no network).

use assert_cmd::Command;
use serde_json::{json, Value};

fn serve(session: &std::path::Path) -> Command {
    let mut cmd = Command::cargo_bin("nanoclaw-sandbox").unwrap();
    cmd.args(["agent", "--serve", "--echo"])
        .env("NANOCLAW_SESSION_DIR", session)
        .env_remove("RUST_LOG");
    cmd
}

fn message(id: &str, text: &str) -> String {
    let mut line = json!({
        "type": "message",
        "v": 1,
        "id": id,
        "chat": "telegram:42",
        "message_id": format!("m{id}"),
        "sender": "ada",
        "text": text,
        "credentials": {"ANTHROPIC_API_KEY": "sk-ant-cli-SECRET"},
    })
    .to_string();
    line.push('\n');
    line
}

fn lines(stdout: &[u8]) -> Vec<Value> {
    String::from_utf8(stdout.to_vec())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn echo_mode_answers_each_message_with_typing_reply_done() {
    let session = tempfile::tempdir().unwrap();
    let input = message("1", "hello") + &message("2", "world");
    let assert = serve(session.path()).write_stdin(input).assert().success();
    let out = assert.get_output();
    assert_eq!(
        lines(&out.stdout),
        [
            json!({"type": "typing", "id": "1"}),
            json!({"type": "reply", "id": "1", "text": "echo: hello"}),
            json!({"type": "done", "id": "1"}),
            json!({"type": "typing", "id": "2"}),
            json!({"type": "reply", "id": "2", "text": "echo: world"}),
            json!({"type": "done", "id": "2"}),
        ]
    );
    for stream in [&out.stdout, &out.stderr] {
        assert!(!String::from_utf8_lossy(stream).contains("sk-ant-cli-SECRET"));
    }
    let history: Value =
        serde_json::from_slice(&std::fs::read(session.path().join("history.json")).unwrap())
            .unwrap();
    assert_eq!(history["turns"].as_array().unwrap().len(), 4);
}

#[test]
fn a_malformed_line_is_skipped_with_a_warning() {
    let session = tempfile::tempdir().unwrap();
    let input = "not json\n".to_string() + &message("1", "hi");
    let assert = serve(session.path()).write_stdin(input).assert().success();
    let out = assert.get_output();
    assert_eq!(lines(&out.stdout).len(), 3);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("skipped an input line"), "{stderr}");
}

#[test]
fn exit_on_exits_3_after_typing() {
    let session = tempfile::tempdir().unwrap();
    let input = message("1", "fine") + &message("2", "this goes boom") + &message("3", "never");
    let assert = serve(session.path())
        .args(["--exit-on", "boom"])
        .write_stdin(input)
        .assert()
        .code(3);
    assert_eq!(
        lines(&assert.get_output().stdout),
        [
            json!({"type": "typing", "id": "1"}),
            json!({"type": "reply", "id": "1", "text": "echo: fine"}),
            json!({"type": "done", "id": "1"}),
            json!({"type": "typing", "id": "2"}),
        ]
    );
}

#[test]
fn serve_flags_need_serve() {
    Command::cargo_bin("nanoclaw-sandbox")
        .unwrap()
        .args(["agent", "--echo"])
        .assert()
        .failure();
}
