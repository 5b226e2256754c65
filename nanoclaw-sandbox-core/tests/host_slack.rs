//! `AgentHost` with the Slack transport, end to end: messages posted on the
//! Slack double reach the host through mitmproxy (Socket Mode, intercepted),
//! start that channel's agent container on the real Docker daemon (an echo
//! agent in Python, in the Debian test image), and the agent's answers go
//! back through `chat.postMessage`: in the channel for a channel message,
//! in the thread for a thread message. The app's own posts come back as
//! bot messages and start nothing.
//!
//! Control: a channel that is not on the allowlist gets the one refusal
//! naming its chat key, and no container, no chat folder.

mod slack_double;
mod support;

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use slack_double::*;
use support::e2e::debian_image;
use support::echo_host::EchoHost;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slack_messages_are_answered_by_their_agent_container_in_channel_and_thread() {
    let Some(docker) = support::docker::connect().await else {
        return;
    };
    let Some(image) = debian_image() else {
        return;
    };
    let Some(stack) = Stack::start(|_| ()).await else {
        return;
    };
    let double = &stack.double;
    let host = EchoHost::start(
        &docker,
        &image,
        Arc::new(stack.transport(true)),
        "slack:C111",
    );

    double.wait_live().await;
    let question = double.post("C111", ADA, "hello, agent");
    let follow_up = double.post_in_thread("C111", &question, ADA, "and in the thread?");
    double.post("C333", ADA, "let me in");
    double
        .wait_for(
            "two answers and the refusal",
            Duration::from_secs(120),
            |d| d.posts().len() >= 3,
        )
        .await;
    // Nothing more comes (one refusal per chat, one answer per message; our
    // own posts, echoed back as bot messages, start nothing).
    tokio::time::sleep(Duration::from_secs(1)).await;
    let posts = double.posts();
    let in_channel = |channel: &str| -> Vec<Value> {
        posts
            .iter()
            .filter(|p| p.channel == channel)
            .map(|p| p.body.clone())
            .collect()
    };
    let answers = in_channel("C111");
    assert_eq!(answers.len(), 2, "{posts:#?}");
    assert_eq!(answers[0]["text"], "echo: hello, agent");
    assert!(
        answers[0].get("thread_ts").is_none(),
        "a channel message is answered in the channel: {:?}",
        answers[0]
    );
    assert_eq!(answers[1]["text"], "echo: and in the thread?");
    assert_eq!(
        answers[1]["thread_ts"], question,
        "a thread message is answered in its thread"
    );
    let refusals = in_channel("C333");
    assert_eq!(refusals.len(), 1, "{posts:#?}");
    let refusal = refusals[0]["text"].as_str().unwrap();
    assert!(refusal.contains("slack:C333"), "{refusal}");
    let _ = follow_up;
    // Every envelope (the echoes of our posts too) was acknowledged in time.
    double
        .wait_for(
            "every envelope acknowledged",
            Duration::from_secs(10),
            |d| d.ack_delays().iter().all(|(_, delay)| delay.is_some()),
        )
        .await;
    assert_eq!(double.sent().len(), 3 + 3, "three messages, three echoes");
    assert!(double
        .ack_delays()
        .iter()
        .all(|(_, delay)| delay.unwrap() < ACK_DEADLINE));
    assert_eq!(double.late(), Vec::<String>::new());

    assert!(host.chat_dir("slack.C111").is_dir());
    assert!(
        !host.chat_dir("slack.C333").exists(),
        "the refused chat got nothing"
    );
    let report = host.stop().await;
    assert_eq!((report.handled, report.failed, report.pending), (2, 0, 0));
}
