//! `AgentHost` with the Discord transport, end to end: a message posted on
//! the Discord double reaches the host through mitmproxy (the Gateway
//! WebSocket, intercepted), starts that channel's agent container on the
//! real Docker daemon (an echo agent in Python, in the Debian test image),
//! and the agent's answer goes back as a reply through the REST API.
//!
//! Control: a channel that is not on the allowlist gets the one refusal
//! naming its chat key, and no container, no chat folder.

mod discord_double;
mod support;

use std::sync::Arc;
use std::time::Duration;

use discord_double::*;
use support::e2e::debian_image;
use support::echo_host::EchoHost;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_discord_message_is_answered_by_its_agent_container_through_the_proxy() {
    let Some(docker) = support::docker::connect().await else {
        return;
    };
    let Some(image) = debian_image() else {
        return;
    };
    let Some(stack) = Stack::start(45_000, |_| ()).await else {
        return;
    };
    let double = &stack.double;
    let host = EchoHost::start(
        &docker,
        &image,
        Arc::new(stack.transport(true)),
        "discord:111",
    );

    double.wait_live().await;
    let question = double.post("111", false, &ADA, "hello, agent");
    let stranger = double.post("333", false, &ADA, "let me in");
    double
        .wait_for(
            "the answer and the refusal",
            Duration::from_secs(120),
            |d| d.posts().len() >= 2,
        )
        .await;
    // Nothing more comes (one refusal per chat, one answer per message).
    tokio::time::sleep(Duration::from_secs(1)).await;
    let posts = double.posts();
    let in_channel = |channel: &str| -> Vec<_> {
        posts
            .iter()
            .filter(|p| p.channel == channel)
            .map(|p| p.body.clone())
            .collect()
    };
    let answers = in_channel("111");
    assert_eq!(answers.len(), 1, "{posts:#?}");
    assert_eq!(answers[0]["content"], "echo: hello, agent");
    assert_eq!(answers[0]["message_reference"]["message_id"], question);
    let refusals = in_channel("333");
    assert_eq!(refusals.len(), 1, "{posts:#?}");
    let refusal = refusals[0]["content"].as_str().unwrap();
    assert!(refusal.contains("discord:333"), "{refusal}");
    assert_eq!(refusals[0]["message_reference"]["message_id"], stranger);

    assert!(host.chat_dir("discord.111").is_dir());
    assert!(
        !host.chat_dir("discord.333").exists(),
        "the refused chat got nothing"
    );
    let report = host.stop().await;
    assert_eq!((report.handled, report.failed, report.pending), (1, 0, 0));
}
