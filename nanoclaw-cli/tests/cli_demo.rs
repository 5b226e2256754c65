//! `nanoclaw-sandbox demo`, as a user types it.

mod cli_support;
use cli_support::{cli, containers_of_workspace, text};
use nanoclaw_testkit::{docker, prereq};

fn demo(workspace: &std::path::Path) -> assert_cmd::Command {
    let mut cmd = cli();
    cmd.arg("demo").arg("--workspace").arg(workspace);
    cmd
}

#[test]
fn demo_answers_a_chat_message_through_a_sandboxed_agent_and_the_unpatched_control_fails() {
    if let Err(why) = docker::available() {
        prereq::missing("Docker daemon", &why);
        return;
    }
    let workspace = tempfile::tempdir().unwrap();
    let assert = demo(workspace.path())
        .args(["--message", "demo test line"])
        .assert()
        .success();
    let stdout = text(&assert.get_output().stdout);
    let stderr = text(&assert.get_output().stderr);
    let (patched, unpatched) = stdout
        .split_once("2) the same host, agents unpatched")
        .expect("two runs");
    // The model double's answer, quoted as the Telegram double received it.
    assert!(
        patched.contains(r#"bot in chat 4242 after"#)
            && patched.contains(r#"model double: you said \"demo test line\""#),
        "{stdout}"
    );
    assert!(patched.contains("1 answered, 0 failed, 0 left"), "{stdout}");
    // The control: the agent's own reply names the untrusted CA, and no
    // model answer came back.
    assert!(
        unpatched.contains("bot in chat 4343") && unpatched.contains("CA is not trusted"),
        "{stdout}"
    );
    assert!(!unpatched.contains("model double: you said"), "{stdout}");
    assert!(
        stdout.contains("result: a Telegram message was answered"),
        "{stdout}"
    );
    // One log line per message handled, with its timings.
    assert_eq!(stderr.matches("message handled").count(), 2, "{stderr}");
    assert!(
        stderr.contains("spawn_ms=") && stderr.contains("queue_wait_ms="),
        "{stderr}"
    );
    assert!(
        !stderr.contains("sk-nanoclaw-demo-key"),
        "the API key never shows: {stderr}"
    );
    assert_eq!(
        containers_of_workspace(workspace.path()),
        Vec::<String>::new(),
        "every container removed"
    );
}

#[test]
fn demo_json_prints_the_summary_as_one_object_and_the_commentary_on_stderr() {
    if let Err(why) = docker::available() {
        prereq::missing("Docker daemon", &why);
        return;
    }
    let workspace = tempfile::tempdir().unwrap();
    let assert = demo(workspace.path())
        .args(["--json", "--message", "json test line"])
        .assert()
        .success();
    let stdout = text(&assert.get_output().stdout);
    let stderr = text(&assert.get_output().stderr);
    assert_eq!(stdout.lines().count(), 1, "one line: {stdout}");
    assert!(
        stderr.contains("1) the agent host") && stderr.contains("2) the same host"),
        "the commentary: {stderr}"
    );
    for out in [&stdout, &stderr] {
        assert!(!out.contains("sk-nanoclaw-demo-key"), "{out}");
        assert!(!out.contains("nanoclaw-demo-token"), "{out}");
    }
    let summary: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(summary["ok"], true, "{summary}");
    assert_eq!(summary["message"], "json test line");
    let expected = summary["expected_answer"].as_str().unwrap();
    assert!(expected.contains("json test line"), "{summary}");
    assert_eq!(summary["model_calls"], 1, "{summary}");
    let sandboxed = &summary["sandboxed"];
    assert_eq!(sandboxed["chat"], 4242);
    assert_eq!(sandboxed["reply"], expected, "{summary}");
    assert!(sandboxed["reply_ms"].as_u64().is_some(), "{summary}");
    assert_eq!(sandboxed["handled"], 1, "{summary}");
    // The control: the unpatched agent's reply names the untrusted CA.
    let unpatched = &summary["unpatched"];
    assert_eq!(unpatched["chat"], 4343);
    let reply = unpatched["reply"].as_str().unwrap();
    assert!(reply.contains("CA is not trusted"), "{summary}");
    assert!(!reply.contains(expected), "{summary}");
    assert!(
        summary["agent_image"]["tag"]
            .as_str()
            .is_some_and(|tag| tag.starts_with("nanoclaw-agent:")),
        "{summary}"
    );
    assert!(summary["engine"]["api_version"].is_string(), "{summary}");
    for addr in ["telegram_double", "model_double", "proxy_standin"] {
        let shown = summary[addr].as_str().unwrap_or_default();
        assert!(
            shown.parse::<std::net::SocketAddr>().is_ok(),
            "{addr}: {summary}"
        );
    }
    assert_eq!(
        containers_of_workspace(workspace.path()),
        Vec::<String>::new(),
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
