//! The Slack transport against the Slack double (the Web API over HTTPS,
//! Socket Mode over WSS), reached only through mitmproxy, which intercepts
//! TLS with its own CA as a Docker Sandbox's proxy does: messages in (every
//! envelope acknowledged within Slack's 3 s, messages held until the host
//! acknowledges), redeliveries not duplicated, reconnects on `disconnect`,
//! dropped and silent sockets, thread replies, long replies split, `429`s
//! waited out, errors that show the status and never a token.
//!
//! Every proof has its control: the double's acknowledgement check catches
//! a client that does not acknowledge; without mitmproxy's CA nothing
//! connects; a policy-blocked host is named while the other works; a new
//! message is delivered where a redelivered one is dropped; answered pings
//! keep the socket; a refused token is not retried while a flapping
//! endpoint is (with backoff); back-to-back posts without a 429 do not wait.

mod slack_double;
mod support;

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use http::header::{AUTHORIZATION, CONTENT_TYPE};
use http_body_util::Full;
use nanoclaw_sandbox_core::channel::slack::SlackTransport;
use nanoclaw_sandbox_core::channel::{
    ChannelError, ChannelTransport, ChatId, InboundMessage, OutboundMessage,
};
use nanoclaw_sandbox_core::http::tungstenite::Message;
use nanoclaw_sandbox_core::http::{HttpError, WebSocket};
use serde_json::{json, Value};

use slack_double::*;

/// Receives (never acknowledging) until the batch holds `count` messages.
async fn receive_until(app: &SlackTransport, count: usize) -> Vec<InboundMessage> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let batch = app.receive().await.expect("receive");
        if batch.len() >= count {
            return batch;
        }
        assert!(Instant::now() < deadline, "only {batch:?} within 20 s");
    }
}

fn texts(batch: &[InboundMessage]) -> Vec<&str> {
    batch.iter().map(|m| m.text.as_str()).collect()
}

/// Neither tokens nor their secret parts.
fn assert_no_token(shown: &str) {
    for secret in [APP_TOKEN, APP_SECRET, BOT_TOKEN, BOT_SECRET] {
        assert!(!shown.contains(secret), "{shown}");
    }
}

fn assert_error_has_no_token(err: &ChannelError) {
    assert_no_token(&err.to_string());
    assert_no_token(&format!("{err:?}"));
}

/// Waits until every envelope sent so far is acknowledged, then checks
/// that each acknowledgement came within Slack's deadline (3 s) and was
/// exactly `{"envelope_id": …}`, and that none was late.
async fn assert_all_acked_in_time(double: &SlackDouble) {
    double
        .wait_for(
            "every envelope acknowledged",
            Duration::from_secs(10),
            |d| d.ack_delays().iter().all(|(_, delay)| delay.is_some()),
        )
        .await;
    let acks = double.acks();
    for (sent, delay) in double.ack_delays() {
        let delay = delay.unwrap();
        assert!(
            delay < ACK_DEADLINE,
            "{sent:?} acknowledged after {delay:?}"
        );
        let ack = acks
            .iter()
            .find(|a| a.envelope_id == sent.envelope_id)
            .unwrap();
        assert_eq!(ack.frame, json!({"envelope_id": sent.envelope_id}));
        assert_eq!(ack.conn, sent.conn, "on the connection it came on");
    }
    assert_eq!(double.late(), Vec::<String>::new());
}

/// The next text frame, as JSON (within 10 s).
async fn next_frame(socket: &mut WebSocket) -> Value {
    loop {
        match tokio::time::timeout(Duration::from_secs(10), socket.next()).await {
            Ok(Some(Ok(Message::Text(text)))) => {
                return serde_json::from_str(text.as_str()).unwrap();
            }
            Ok(Some(Ok(_))) => continue,
            other => panic!("no frame: {other:?}"),
        }
    }
}

fn reply(chat: &str, text: &str, reply_to: Option<&str>) -> OutboundMessage {
    OutboundMessage {
        chat: ChatId(chat.into()),
        text: text.into(),
        reply_to: reply_to.map(str::to_string),
    }
}

#[tokio::test]
async fn messages_arrive_through_mitmproxy_acked_at_once_and_held_until_acknowledged() {
    let Some(stack) = Stack::start(|_| ()).await else {
        return;
    };
    let double = &stack.double;
    let app = stack.transport(true);
    stack.connect(&app).await;

    let ping = double.post("C111", ADA, "ping &amp; &lt;pong&gt;");
    double.post_with(
        "C111",
        "U0OTHER",
        "beep, I am a bot",
        json!({"bot_id": "B0OTHER", "subtype": "bot_message"}),
    );
    double.post_with(
        "C111",
        ADA,
        "an edit",
        json!({"subtype": "message_changed"}),
    );
    double.post_with("C111", BOT_USER, "our own post", json!({"bot_id": BOT_ID}));
    let command = double.other_envelope("slash_commands");
    let psst = double.post("D222", ADA, "psst");
    let batch = receive_until(&app, 2).await;
    assert_eq!(
        batch,
        [
            InboundMessage {
                chat: ChatId("C111".into()),
                message_id: ping,
                sender: Some(ADA.into()),
                text: "ping & <pong>".into(),
                group: true,
            },
            InboundMessage {
                chat: ChatId("D222".into()),
                message_id: psst,
                sender: Some(ADA.into()),
                text: "psst".into(),
                group: false,
            },
        ],
        "bots (ourselves too) and edits are dropped; a DM is not a group; text unescaped"
    );
    // Every envelope (the dropped ones and the slash command too) is
    // acknowledged while the batch is still unacknowledged by the host.
    assert_all_acked_in_time(double).await;
    assert_eq!(double.sent().len(), 6);
    assert!(double.acks().iter().any(|a| a.envelope_id == command));
    assert_eq!(
        app.receive().await.unwrap(),
        batch,
        "not acknowledged: again"
    );
    app.acknowledge().await.unwrap();
    assert!(
        app.receive().await.unwrap().is_empty(),
        "acknowledged: gone"
    );

    // The URL came from apps.connections.open, called with the app token.
    let opens = double.opens();
    assert_eq!(opens.len(), 1);
    assert_eq!(opens[0].token, "app");
    let connection = &double.connections()[0];
    assert_eq!(connection.host, SOCKET_HOST);
    assert!(
        connection.uri.starts_with("/link/?ticket="),
        "{connection:?}"
    );
    // Both went through mitmproxy, intercepted (it saw the requests inside TLS).
    let seen = stack.proxy.mitm.seen();
    for expected in [
        format!("CONNECT {API_HOST}:443"),
        format!("POST https://{API_HOST}/api/apps.connections.open"),
        format!("CONNECT {SOCKET_HOST}:443"),
    ] {
        assert!(seen.contains(&expected), "{expected} not in {seen:#?}");
    }
    let upgrade = format!("GET https://{SOCKET_HOST}/link/?ticket=");
    assert!(
        seen.iter().any(|s| s.starts_with(&upgrade)),
        "{upgrade} not in {seen:#?}"
    );
}

/// The control for every acknowledgement check: a client that reads its
/// envelopes without acknowledging them is caught by the double, which
/// delivers the event again as Slack does.
#[tokio::test]
async fn the_doubles_ack_check_catches_a_client_that_does_not_acknowledge() {
    let Some(stack) = Stack::start(|_| ()).await else {
        return;
    };
    let double = &stack.double;
    let client = stack.client(true);
    let request = http::Request::post(format!("https://{API_HOST}/api/apps.connections.open"))
        .header(AUTHORIZATION, format!("Bearer {APP_TOKEN}"))
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Full::new(bytes::Bytes::new()))
        .unwrap();
    let answer: Value =
        serde_json::from_slice(client.send_buffered(request).await.unwrap().body()).unwrap();
    let (mut socket, _) = client
        .websocket(answer["url"].as_str().unwrap())
        .await
        .unwrap();
    assert_eq!(next_frame(&mut socket).await["type"], "hello");
    double.wait_live().await;
    let ts = double.post("C111", ADA, "nobody acknowledges me");
    let first = next_frame(&mut socket).await;
    assert_eq!(first["payload"]["event"]["ts"], ts);
    let again = next_frame(&mut socket).await;
    assert_eq!(again["payload"]["event_id"], first["payload"]["event_id"]);
    assert_eq!(again["retry_attempt"], 1);
    assert_eq!(again["retry_reason"], "timeout");
    assert_ne!(again["envelope_id"], first["envelope_id"]);
    assert_eq!(
        double.late(),
        [first["envelope_id"].as_str().unwrap().to_string()]
    );
    assert!(double.acks().is_empty());
}

#[tokio::test]
async fn redelivered_envelopes_are_acknowledged_and_not_duplicated() {
    let Some(stack) = Stack::start(|_| ()).await else {
        return;
    };
    let double = &stack.double;
    let app = stack.transport(true);
    stack.connect(&app).await;
    let ts = double.post("C111", ADA, "once");
    let event_id = double.sent().last().unwrap().event_id.clone().unwrap();
    assert_eq!(texts(&receive_until(&app, 1).await), ["once"]);

    // Slack's retry of the same event, while the host has not acknowledged.
    double.redeliver(&event_id, 1);
    // The same message as an app_mention (a second subscription): another
    // event id, the same channel and ts.
    double.event(
        json!({"type": "app_mention", "channel": "C111", "user": ADA,
        "text": "once", "ts": ts, "event_ts": ts}),
    );
    assert_all_acked_in_time(double).await;
    assert_eq!(double.sent().len(), 3);
    assert_eq!(texts(&app.receive().await.unwrap()), ["once"], "not twice");
    app.acknowledge().await.unwrap();

    // And after the host acknowledged it.
    double.redeliver(&event_id, 2);
    // Control: a new message is delivered.
    double.post("C111", ADA, "twice");
    let batch = receive_until(&app, 1).await;
    assert_eq!(texts(&batch), ["twice"]);
    assert_all_acked_in_time(double).await;
    assert_eq!(double.sent().len(), 5);
}

#[tokio::test]
async fn a_disconnect_reconnects_through_a_new_url_and_keeps_what_was_received() {
    let Some(stack) = Stack::start(|_| ()).await else {
        return;
    };
    let double = &stack.double;
    let app = stack.transport(true);
    stack.connect(&app).await;
    let before = double.post("C111", ADA, "before");
    assert_eq!(receive_until(&app, 1).await[0].message_id, before);

    double.disconnect("refresh_requested");
    double
        .wait_for("a second connection", Duration::from_secs(10), |d| {
            d.live_conn() == Some(1)
        })
        .await;
    double
        .wait_for("the first connection's end", Duration::from_secs(5), |d| {
            d.connections()[0].ended.is_some()
        })
        .await;
    let connections = double.connections();
    assert_eq!(double.opens().len(), 2, "a new URL for the new connection");
    assert_ne!(connections[0].uri, connections[1].uri, "a new ticket");
    assert_eq!(connections[0].client_close, Some(1000), "closed cleanly");
    let gap = connections[1]
        .at
        .saturating_duration_since(connections[0].ended.unwrap());
    // At once: no pause beyond the request and the handshake (the
    // default ping interval, 30 s, or a backoff cannot explain it).
    assert!(gap < Duration::from_secs(5), "reconnected at once: {gap:?}");

    let after = double.post("C111", ADA, "after");
    let batch = receive_until(&app, 2).await;
    let ids: Vec<&str> = batch.iter().map(|m| m.message_id.as_str()).collect();
    assert_eq!(
        ids,
        [&before, &after],
        "the unacknowledged one once, then the new one"
    );
    app.acknowledge().await.unwrap();

    // `warning` is handled the same way.
    double.disconnect("warning");
    double
        .wait_for("a third connection", Duration::from_secs(10), |d| {
            d.live_conn() == Some(2)
        })
        .await;
    double.post("C111", ADA, "still here");
    assert_eq!(texts(&receive_until(&app, 1).await), ["still here"]);
    assert_eq!(double.opens().len(), 3);
    assert_all_acked_in_time(double).await;
}

#[tokio::test]
async fn a_dropped_socket_reconnects_and_what_came_meanwhile_arrives() {
    let Some(stack) = Stack::start(|_| ()).await else {
        return;
    };
    let double = &stack.double;
    let app = stack.transport(true);
    stack.connect(&app).await;
    double.drop_live();
    // No connection now: Slack keeps the event until one comes.
    double.post("C111", ADA, "while away");
    double.wait_live().await;
    assert_eq!(texts(&receive_until(&app, 1).await), ["while away"]);
    assert_eq!(double.opens().len(), 2);
    assert_eq!(double.connections().len(), 2);
    assert_all_acked_in_time(double).await;
}

#[tokio::test]
async fn a_silent_socket_is_replaced_after_a_ping_interval() {
    let Some(stack) = Stack::start(|_| ()).await else {
        return;
    };
    let double = &stack.double;
    let interval = Duration::from_millis(500);
    let app = stack.transport_with(
        true,
        APP_TOKEN,
        BOT_TOKEN,
        stack.options().ping_interval(interval),
    );
    stack.connect(&app).await;
    // Control: answered pings keep the connection.
    tokio::time::sleep(interval * 4).await;
    assert_eq!(double.connections().len(), 1);

    let muted = Instant::now();
    double.mute_live();
    double
        .wait_for("a new connection", Duration::from_secs(10), |d| {
            d.live_conn() == Some(1)
        })
        .await;
    // Within two intervals (a ping, then silence), plus a new URL and a
    // handshake through the proxy; far below the default 30 s interval.
    let replaced = double.connections()[1].at - muted;
    assert!(
        replaced >= interval / 2 && replaced <= interval * 2 + Duration::from_secs(4),
        "replaced {replaced:?} after going silent"
    );
    double.post("C111", ADA, "through the new socket");
    assert_eq!(
        texts(&receive_until(&app, 1).await),
        ["through the new socket"]
    );
}

#[tokio::test]
async fn link_disabled_stops_with_the_fix_and_is_not_retried() {
    let Some(stack) = Stack::start(|_| ()).await else {
        return;
    };
    let double = &stack.double;
    let app = stack.transport(true);
    stack.connect(&app).await;
    double.disconnect("link_disabled");
    let err = app.receive().await.unwrap_err();
    assert!(matches!(err, ChannelError::Gateway { .. }), "{err:?}");
    assert!(
        err.to_string().contains("Socket Mode is turned off"),
        "{err}"
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(double.opens().len(), 1, "no new connection");
    assert_eq!(
        app.receive().await.unwrap_err().to_string(),
        err.to_string(),
        "every receive says so"
    );
}

#[tokio::test]
async fn a_refused_app_token_is_not_retried_but_a_flapping_endpoint_is_with_backoff() {
    let Some(stack) = Stack::start(|_| ()).await else {
        return;
    };
    let double = &stack.double;
    let wrong = "xapp-1-A0TEST-1234567890-wrongwrongwrongwrongwrong";
    let stranger = stack.transport_with(true, wrong, BOT_TOKEN, stack.options());
    let started = Instant::now();
    let err = stranger.receive().await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(5));
    match &err {
        ChannelError::Api {
            method,
            status,
            description,
            ..
        } => {
            assert_eq!((*method, *status), ("apps.connections.open", 200));
            assert!(description.starts_with("invalid_auth: "), "{description}");
            assert!(description.contains("app-level token"), "{description}");
            assert!(description.contains("App-Level Tokens"), "{description}");
        }
        other => panic!("expected invalid_auth, got {other:?}"),
    }
    assert!(!err.to_string().contains("wrongwrong"), "{err}");
    assert_error_has_no_token(&err);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(double.opens().len(), 1, "refused is final: no retry");
    assert_eq!(
        stranger.receive().await.unwrap_err().to_string(),
        err.to_string()
    );
    drop(stranger);

    // An endpoint that drops every connection after hello is retried, ever
    // more slowly: a handful of attempts in 4 s, not hundreds.
    double.set_flap(true);
    let app = stack.transport(true);
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(4) {
        let _ = app.receive().await;
    }
    let attempts = double.connections().len();
    assert!((3..=7).contains(&attempts), "{attempts} connections in 4 s");
    let urls = double.opens().len() - 1;
    assert!(
        urls == attempts || urls == attempts + 1,
        "one URL per connection (the last may be on its way): {urls} for {attempts}"
    );
}

#[tokio::test]
async fn thread_replies_carry_thread_ts_and_long_text_is_split_in_order() {
    let Some(stack) = Stack::start(|_| ()).await else {
        return;
    };
    let double = &stack.double;
    let app = stack.transport(true);
    stack.connect(&app).await;
    let parent = double.post("C111", ADA, "a question");
    let in_thread = double.post_in_thread("C111", &parent, ADA, "a follow-up");
    let batch = receive_until(&app, 2).await;
    app.acknowledge().await.unwrap();
    assert_eq!(batch[0].message_id, parent);
    assert_eq!(batch[1].message_id, format!("{parent}/{in_thread}"));

    // 90 lines of 99 characters (one of them two bytes long): 8999
    // characters, three posts, all in the thread.
    let line = format!("é{}", "x".repeat(98));
    let long = vec![line.as_str(); 90].join("\n");
    app.send(&reply("C111", &long, Some(&batch[1].message_id)))
        .await
        .expect("posted through mitmproxy");
    // Outside a thread: the answer goes to the channel (control)...
    app.send(&reply("C111", "a < b & c", Some(&batch[0].message_id)))
        .await
        .unwrap();
    // ...or, when asked, into a new thread under the question.
    let threading = stack.transport_with(
        true,
        APP_TOKEN,
        BOT_TOKEN,
        stack.options().reply_in_thread(true),
    );
    threading
        .send(&reply("C111", "threaded", Some(&batch[0].message_id)))
        .await
        .unwrap();

    let posts = double.posts();
    assert_eq!(posts.len(), 5, "{posts:#?}");
    let pieces: Vec<&str> = posts[..3]
        .iter()
        .map(|p| p.body["text"].as_str().unwrap())
        .collect();
    assert!(pieces.iter().all(|p| p.chars().count() <= 4000));
    assert_eq!(pieces.join("\n"), long, "split at newlines, in order");
    assert!(posts.windows(2).all(|p| p[0].at <= p[1].at));
    assert!(posts[..3]
        .iter()
        .all(|p| p.body["thread_ts"] == json!(parent) && p.channel == "C111"));
    assert_eq!(
        posts[3].body["text"], "a &lt; b &amp; c",
        "escaped for Slack"
    );
    assert!(posts[3].body.get("thread_ts").is_none(), "{:?}", posts[3]);
    assert_eq!(posts[4].body["thread_ts"], json!(parent));

    // Our own posts come back as bot messages: acknowledged, never received.
    double
        .wait_for("the echoes of our posts", Duration::from_secs(10), |d| {
            d.sent().len() == 2 + 5
        })
        .await;
    assert!(app.receive().await.unwrap().is_empty());
    assert_all_acked_in_time(double).await;
}

#[tokio::test]
async fn a_429_is_retried_after_its_retry_after_and_bounded() {
    let Some(stack) = Stack::start(|_| ()).await else {
        return;
    };
    let double = &stack.double;
    let app = stack.transport(true);
    // Control: without a 429, posts follow each other at once.
    app.send(&reply("C111", "one", None)).await.unwrap();
    app.send(&reply("C111", "two", None)).await.unwrap();
    let posts = double.posts();
    assert!(posts[1].at - posts[0].at < Duration::from_millis(900));

    double.throttle(1);
    let before = double.calls().len();
    app.send(&reply("C111", "three", None)).await.unwrap();
    let calls = &double.calls()[before..];
    assert_eq!(calls.len(), 2, "the 429 and the retry");
    assert!(calls[1].at - calls[0].at >= Duration::from_secs(1));
    assert_eq!(double.early(), 0, "nothing came before Retry-After");
    let contents: Vec<String> = double
        .posts()
        .iter()
        .map(|p| p.body["text"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(contents, ["one", "two", "three"]);

    // Bounded: after three retries the 429 is the answer.
    double.throttle(4);
    let before = double.calls().len();
    let err = app.send(&reply("C111", "four", None)).await.unwrap_err();
    match &err {
        ChannelError::Api {
            method,
            status,
            description,
            ..
        } => {
            assert_eq!((*method, *status), ("chat.postMessage", 429));
            assert!(description.starts_with("ratelimited"), "{description}");
        }
        other => panic!("expected the 429, got {other:?}"),
    }
    assert_eq!(double.calls().len() - before, 4, "the call and 3 retries");
    assert_eq!(double.early(), 0);
    assert_eq!(double.posts().len(), 3);
    assert_error_has_no_token(&err);
}

#[tokio::test]
async fn errors_show_status_and_body_start_and_never_the_tokens() {
    let Some(stack) = Stack::start(|_| ()).await else {
        return;
    };
    let double = &stack.double;
    let app = stack.transport(true);
    let shown = format!("{app:?}");
    assert_no_token(&shown);
    assert!(shown.contains("SlackAppToken(***)"), "{shown}");
    assert!(shown.contains("SlackBotToken(***)"), "{shown}");

    // A proxy's HTML page, echoing the Authorization header.
    double.bad_gateway(1);
    let err = app.send(&reply("C111", "hello", None)).await.unwrap_err();
    match &err {
        ChannelError::NotJson {
            method,
            status,
            body_start,
            ..
        } => {
            assert_eq!((*method, *status), ("chat.postMessage", 502));
            assert!(
                body_start.starts_with("<html><head><title>502 Bad Gateway"),
                "{body_start}"
            );
            assert!(
                body_start.contains("(Authorization: Bearer ***)"),
                "{body_start}"
            );
            assert_eq!(body_start.chars().count(), 200);
        }
        other => panic!("expected NotJson, got {other:?}"),
    }
    assert!(err.to_string().contains("HTTP 502"), "{err}");
    assert_error_has_no_token(&err);

    // Slack's own refusal: the code and what to do.
    let err = app.send(&reply("C404", "hello", None)).await.unwrap_err();
    match &err {
        ChannelError::Api { description, .. } => {
            assert!(
                description.starts_with("channel_not_found: "),
                "{description}"
            );
            assert!(description.contains("/invite"), "{description}");
        }
        other => panic!("expected an API error, got {other:?}"),
    }

    // A refused bot token names the setting.
    let wrong = "xoxb-1111-2222-WrongBotTokenValue0123";
    let stranger = stack.transport_with(true, APP_TOKEN, wrong, stack.options());
    let err = stranger
        .send(&reply("C111", "hello", None))
        .await
        .unwrap_err();
    match &err {
        ChannelError::Api {
            method,
            description,
            ..
        } => {
            assert_eq!(*method, "chat.postMessage");
            assert!(description.starts_with("invalid_auth: "), "{description}");
            assert!(description.contains("bot token"), "{description}");
            assert!(
                description.contains("Bot User OAuth Token"),
                "{description}"
            );
        }
        other => panic!("expected invalid_auth, got {other:?}"),
    }
    assert!(!err.to_string().contains("WrongBotToken"), "{err}");
    assert!(!format!("{stranger:?}").contains("WrongBotToken"));
    assert_error_has_no_token(&err);
    assert_eq!(double.posts().len(), 0);
}

#[tokio::test]
async fn without_the_proxy_ca_nothing_connects_and_the_error_says_so() {
    let Some(stack) = Stack::start(|_| ()).await else {
        return;
    };
    let double = &stack.double;
    let app = stack.transport(false);
    let err = app.receive().await.unwrap_err();
    assert!(
        matches!(
            &err,
            ChannelError::Http {
                source: HttpError::CaNotTrusted { host, .. },
                ..
            } if host.starts_with(API_HOST)
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("not trusted"), "{err}");
    assert_error_has_no_token(&err);
    let err = app.send(&reply("C111", "hello", None)).await.unwrap_err();
    assert!(
        matches!(
            &err,
            ChannelError::Http {
                source: HttpError::CaNotTrusted { .. },
                ..
            }
        ),
        "{err:?}"
    );
    // The socket host too, opened directly with the same client.
    let socket = stack
        .client(false)
        .websocket(format!("wss://{SOCKET_HOST}/link/?ticket=none").as_str())
        .await;
    assert!(
        matches!(&socket, Err(HttpError::CaNotTrusted { host, .. }) if host.starts_with(SOCKET_HOST)),
        "{:?}",
        socket.err()
    );
    assert!(double.calls().is_empty(), "nothing reached the Web API");
    assert!(
        double.connections().is_empty(),
        "nothing reached Socket Mode"
    );
}

#[tokio::test]
async fn a_host_the_policy_blocks_is_named_with_the_fix_while_the_other_works() {
    let Some(stack) = Stack::start(|o| o.policy_denied = vec![SOCKET_HOST.into()]).await else {
        return;
    };
    let double = &stack.double;
    let app = stack.transport(true);
    let err = app.receive().await.unwrap_err();
    assert!(
        matches!(
            &err,
            ChannelError::Http { source: HttpError::PolicyDenied { host, .. }, .. } if host == SOCKET_HOST
        ),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .contains(&format!("sbx policy allow network {SOCKET_HOST}")),
        "{err}"
    );
    assert_error_has_no_token(&err);
    assert!(!double.opens().is_empty(), "the Web API was reached");
    assert!(double.connections().is_empty());
    // Control: the Web API, allowed, works.
    app.send(&reply("C111", "hello", None)).await.unwrap();
    assert_eq!(double.posts().len(), 1);

    let Some(blocked) = Stack::start(|o| o.policy_denied = vec![API_HOST.into()]).await else {
        return;
    };
    let err = blocked
        .transport(true)
        .send(&reply("C111", "hello", None))
        .await
        .unwrap_err();
    assert!(
        matches!(
            &err,
            ChannelError::Http { source: HttpError::PolicyDenied { host, .. }, .. } if host == API_HOST
        ),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .contains(&format!("sbx policy allow network {API_HOST}")),
        "{err}"
    );
    assert!(blocked.double.calls().is_empty());
}
