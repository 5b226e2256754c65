//! The Discord transport against the Discord double (REST over HTTPS, the
//! Gateway over WSS), reached only through mitmproxy, which intercepts TLS
//! with its own CA as a Docker Sandbox's proxy does: messages in (held until
//! acknowledged), heartbeats, resume after a dropped socket and a zombie
//! connection, op 7 and op 9, long replies split, rate limits honoured,
//! errors that show the status and never the token. Every proof has its
//! control: without mitmproxy's CA nothing connects, a policy-blocked host is
//! named, posts without an emptied bucket are not delayed, a wrong token is
//! not retried while a flapping gateway is (with backoff).

mod discord_double;
mod support;

use std::time::{Duration, Instant};

use nanoclaw_sandbox_core::channel::discord::DiscordTransport;
use nanoclaw_sandbox_core::channel::{
    ChannelError, ChannelTransport, ChatId, InboundMessage, OutboundMessage,
};
use nanoclaw_sandbox_core::http::HttpError;
use serde_json::json;

use discord_double::*;

/// A slow heartbeat (45 s), so that only the tests about them see any.
async fn setup() -> Option<Stack> {
    Stack::start(45_000, |_| ()).await
}

async fn setup_with(
    heartbeat_ms: u64,
    configure: impl FnOnce(&mut nanoclaw_testkit::mitm::MitmOptions),
) -> Option<Stack> {
    Stack::start(heartbeat_ms, configure).await
}

/// Receives (never acknowledging) until the batch holds `count` messages.
async fn receive_until(bot: &DiscordTransport, count: usize) -> Vec<InboundMessage> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let batch = bot.receive().await.expect("receive");
        if batch.len() >= count {
            return batch;
        }
        assert!(Instant::now() < deadline, "only {batch:?} within 20 s");
    }
}

fn texts(batch: &[InboundMessage]) -> Vec<&str> {
    batch.iter().map(|m| m.text.as_str()).collect()
}

/// Neither the message nor the `Debug` form shows the token or its secret.
fn assert_no_token(shown: &str) {
    assert!(!shown.contains(TOKEN), "{shown}");
    assert!(!shown.contains(TOKEN_SECRET), "{shown}");
}

fn assert_error_has_no_token(err: &ChannelError) {
    assert_no_token(&err.to_string());
    assert_no_token(&format!("{err:?}"));
}

fn reply(chat: &str, text: &str, reply_to: Option<&str>) -> OutboundMessage {
    OutboundMessage {
        chat: ChatId(chat.into()),
        text: text.into(),
        reply_to: reply_to.map(str::to_string),
    }
}

#[tokio::test]
async fn messages_arrive_through_mitmproxy_and_come_again_until_acknowledged() {
    let Some(setup) = setup().await else {
        return;
    };
    let double = &setup.double;
    let bot = setup.transport(true);
    setup.connect(&bot).await;

    let ping = double.post("111", false, &ADA, "ping");
    double.post("111", false, &OTHER_BOT, "beep, I am a bot");
    double.post("111", false, &OURSELVES, "our own reply");
    let psst = double.post("222", true, &ADA, "psst");
    let batch = receive_until(&bot, 2).await;
    assert_eq!(
        batch,
        [
            InboundMessage {
                chat: ChatId("111".into()),
                message_id: ping,
                sender: Some("ada".into()),
                text: "ping".into(),
                group: true,
            },
            InboundMessage {
                chat: ChatId("222".into()),
                message_id: psst,
                sender: Some("ada".into()),
                text: "psst".into(),
                group: false,
            },
        ],
        "bots (ourselves too) are ignored; a DM is not a group"
    );
    assert_eq!(
        bot.receive().await.unwrap(),
        batch,
        "not acknowledged: again"
    );
    bot.acknowledge().await.unwrap();
    assert!(
        bot.receive().await.unwrap().is_empty(),
        "acknowledged: gone"
    );

    // Identify: the token and the intents, message content included.
    let identify = double.frames_op(2);
    assert_eq!(identify.len(), 1);
    assert_eq!(identify[0].d["token"], TOKEN);
    let intents = identify[0].d["intents"].as_u64().unwrap();
    assert_eq!(intents & INTENTS, INTENTS, "{intents:#b}");
    // The gateway URL came from GET /gateway/bot, opened as v10 JSON.
    let calls = double.calls();
    assert_eq!(
        (
            calls[0].method.as_str(),
            calls[0].path.as_str(),
            calls[0].authorized
        ),
        ("GET", "/api/v10/gateway/bot", true)
    );
    let connection = &double.connections()[0];
    assert_eq!(connection.host, GATEWAY_HOST);
    assert_eq!(connection.uri, "/?v=10&encoding=json");
    // Both went through mitmproxy, intercepted (it saw the requests inside TLS).
    let seen = setup.proxy.mitm.seen();
    for expected in [
        format!("CONNECT {API_HOST}:443"),
        format!("GET https://{API_HOST}/api/v10/gateway/bot"),
        format!("CONNECT {GATEWAY_HOST}:443"),
        format!("GET https://{GATEWAY_HOST}/?v=10&encoding=json"),
    ] {
        assert!(seen.contains(&expected), "{expected} not in {seen:#?}");
    }
}

#[tokio::test]
async fn heartbeats_follow_hello_carry_the_sequence_and_answer_op_1() {
    let interval = Duration::from_millis(400);
    let Some(setup) = setup_with(400, |_| ()).await else {
        return;
    };
    let double = &setup.double;
    let bot = setup.transport(true);
    setup.connect(&bot).await;
    double.post("111", false, &ADA, "a sequence number to carry");
    double
        .wait_for("5 heartbeats", Duration::from_secs(10), |d| {
            d.frames_op(1).len() >= 5
        })
        .await;
    let hello = double.sent().into_iter().find(|s| s.op == 10).unwrap();
    let beats = double.frames_op(1);
    let first = beats[0].at - hello.at;
    assert!(
        first <= interval + Duration::from_millis(300),
        "the first heartbeat comes within interval × jitter: {first:?}"
    );
    for pair in beats.windows(2).take(4) {
        let gap = pair[1].at - pair[0].at;
        assert!(
            gap >= interval - Duration::from_millis(100) && gap <= interval * 2,
            "heartbeats every {interval:?}: {gap:?}"
        );
    }
    // READY was 1, the message 2: the latest heartbeats carry 2.
    assert_eq!(beats.last().unwrap().d, json!(2));
    assert!(beats
        .iter()
        .all(|b| b.d.is_null() || b.d.as_u64() <= Some(2)));

    // The gateway asks for one now (op 1): answered at once, not on schedule.
    double
        .wait_for("a fresh heartbeat", Duration::from_secs(5), |d| {
            d.frames_op(1).len() >= 6
        })
        .await;
    let before = double.frames_op(1).len();
    let asked = Instant::now();
    double.send_op(json!({"op": 1, "d": null}));
    double
        .wait_for("the requested heartbeat", Duration::from_secs(5), |d| {
            d.frames_op(1).len() > before
        })
        .await;
    let answered = double.frames_op(1)[before].at - asked;
    assert!(answered < Duration::from_millis(300), "{answered:?}");
    assert_eq!(double.connections().len(), 1, "no reconnect meanwhile");
}

#[tokio::test]
async fn a_missed_heartbeat_ack_is_a_zombie_connection_that_is_resumed() {
    let Some(setup) = setup_with(300, |_| ()).await else {
        return;
    };
    let double = &setup.double;
    let bot = setup.transport(true);
    setup.connect(&bot).await;
    double.post("111", false, &ADA, "before");
    assert_eq!(texts(&receive_until(&bot, 1).await), ["before"]);
    bot.acknowledge().await.unwrap();
    double
        .wait_for("a heartbeat ACKed", Duration::from_secs(5), |d| {
            !d.frames_op(1).is_empty()
        })
        .await;
    // Control: acknowledged heartbeats keep the connection.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(double.connections().len(), 1);

    double.set_ack(false);
    double
        .wait_for("a second connection", Duration::from_secs(5), |d| {
            d.connections().len() == 2
        })
        .await;
    double.set_ack(true);
    double.wait_live().await;
    let connections = double.connections();
    assert_eq!(
        connections[0].client_close,
        Some(4000),
        "closed with a code that keeps the session resumable"
    );
    assert_eq!(connections[1].host, RESUME_HOST);
    let resumes = double.frames_op(6);
    assert_eq!(resumes.len(), 1);
    assert_eq!(resumes[0].conn, 1);
    assert_eq!(resumes[0].d["session_id"], "session-1");
    assert_eq!(resumes[0].d["seq"], 2);
    assert_eq!(
        double.frames_op(2).len(),
        1,
        "resumed, not identified again"
    );

    double.post("111", false, &ADA, "after");
    assert_eq!(texts(&receive_until(&bot, 1).await), ["after"]);
}

#[tokio::test]
async fn a_dropped_socket_resumes_on_the_resume_url_and_loses_or_repeats_nothing() {
    let Some(setup) = setup().await else {
        return;
    };
    let double = &setup.double;
    let bot = setup.transport(true);
    setup.connect(&bot).await;
    let first = double.post("111", false, &ADA, "received, not yet acknowledged");
    assert_eq!(receive_until(&bot, 1).await[0].message_id, first);

    // The socket drops; two messages are posted meanwhile (seq 3 and 4).
    // The resume replays one event too many (seq 2, already received).
    double.set_replay_overlap(1);
    let missed = double.drop_with_missed("111", &["while away 1", "while away 2"]);
    double.wait_live().await;
    let resumes = double.frames_op(6);
    assert_eq!(resumes.len(), 1, "{:?}", double.frames());
    assert_eq!(
        (
            resumes[0].d["session_id"].clone(),
            resumes[0].d["seq"].clone()
        ),
        (json!("session-1"), json!(2)),
        "the session, and the last sequence number received"
    );
    assert_eq!(resumes[0].d["token"], TOKEN);
    assert_eq!(double.connections()[1].host, RESUME_HOST);
    assert_eq!(double.frames_op(2).len(), 1, "no new identify");

    let after = double.post("111", false, &ADA, "after the resume");
    let batch = receive_until(&bot, 4).await;
    let ids: Vec<&str> = batch.iter().map(|m| m.message_id.as_str()).collect();
    assert_eq!(
        ids,
        [&first, &missed[0], &missed[1], &after],
        "the unacknowledged one once (though replayed), the missed ones, in order"
    );
    bot.acknowledge().await.unwrap();
    assert!(bot.receive().await.unwrap().is_empty());
}

#[tokio::test]
async fn op_7_reconnect_closes_and_resumes() {
    let Some(setup) = setup().await else {
        return;
    };
    let double = &setup.double;
    let bot = setup.transport(true);
    setup.connect(&bot).await;
    double.send_op(json!({"op": 7, "d": null}));
    double
        .wait_for("a resume", Duration::from_secs(10), |d| {
            !d.frames_op(6).is_empty()
        })
        .await;
    double.wait_live().await;
    let connections = double.connections();
    assert_eq!(connections.len(), 2);
    assert_eq!(connections[0].client_close, Some(4000));
    assert_eq!(connections[1].host, RESUME_HOST);
    let resume = &double.frames_op(6)[0];
    assert_eq!((resume.conn, resume.d["seq"].clone()), (1, json!(1)));
    double.post("111", false, &ADA, "still here");
    assert_eq!(texts(&receive_until(&bot, 1).await), ["still here"]);
}

#[tokio::test]
async fn op_9_resumes_when_resumable_and_otherwise_identifies_after_1_to_5_seconds() {
    let Some(setup) = setup().await else {
        return;
    };
    let double = &setup.double;
    let bot = setup.transport(true);
    setup.connect(&bot).await;

    double.invalidate_session(true);
    double
        .wait_for("a resume", Duration::from_secs(10), |d| {
            !d.frames_op(6).is_empty()
        })
        .await;
    double.wait_live().await;
    assert_eq!(double.frames_op(2).len(), 1, "d: true resumes");

    double.invalidate_session(false);
    let invalidated = double.sent().last().unwrap().at;
    double
        .wait_for("a second identify", Duration::from_secs(10), |d| {
            d.frames_op(2).len() == 2
        })
        .await;
    double.wait_live().await;
    let identify = &double.frames_op(2)[1];
    let waited = identify.at - invalidated;
    assert!(
        waited >= Duration::from_secs(1) && waited <= Duration::from_millis(5500),
        "identified {waited:?} after op 9"
    );
    let connections = double.connections();
    assert_eq!(connections.len(), 3);
    assert_eq!(identify.conn, 2);
    assert_eq!(
        connections[2].host, GATEWAY_HOST,
        "a new session starts on the gateway"
    );
    assert_eq!(double.current_session().as_deref(), Some("session-2"));
    double.post("111", false, &ADA, "in the new session");
    assert_eq!(texts(&receive_until(&bot, 1).await), ["in the new session"]);
}

#[tokio::test]
async fn a_4500_character_reply_is_three_posts_in_order() {
    let Some(setup) = setup().await else {
        return;
    };
    let double = &setup.double;
    let bot = setup.transport(true);
    // 45 lines of 99 characters (one of them two bytes long) and 44
    // newlines, plus one: 4500 characters.
    let line = format!("é{}", "x".repeat(98));
    let text = vec![line.as_str(); 45].join("\n") + "!";
    assert_eq!(text.chars().count(), 4500);
    bot.send(&reply("111", &text, Some("1234")))
        .await
        .expect("posted through mitmproxy");
    bot.typing(&ChatId("111".into())).await.unwrap();

    let posts = double.posts();
    assert_eq!(posts.len(), 3);
    let pieces: Vec<&str> = posts
        .iter()
        .map(|p| p.body["content"].as_str().unwrap())
        .collect();
    for piece in &pieces {
        assert!(piece.chars().count() <= 2000, "{}", piece.chars().count());
    }
    assert_eq!(pieces.join("\n"), text, "split at newlines, in order");
    assert!(posts.windows(2).all(|p| p[0].at <= p[1].at));
    assert_eq!(posts[0].body["message_reference"]["message_id"], "1234");
    assert!(posts[1..]
        .iter()
        .all(|p| p.body.get("message_reference").is_none()));
    assert!(posts
        .iter()
        .all(|p| p.body["allowed_mentions"] == json!({"parse": []})));
    assert!(posts.iter().all(|p| p.channel == "111"));
    let typing = double.calls().pop().unwrap();
    assert_eq!(
        (typing.method.as_str(), typing.path.as_str()),
        ("POST", "/api/v10/channels/111/typing")
    );
}

#[tokio::test]
async fn rate_limits_are_honoured_an_empty_bucket_waits_and_a_429_is_retried() {
    let Some(setup) = setup().await else {
        return;
    };
    let double = &setup.double;
    let bot = setup.transport(true);

    // Control: with tokens left, posts follow each other at once.
    bot.send(&reply("111", "one", None)).await.unwrap();
    bot.send(&reply("111", "two", None)).await.unwrap();
    // Remaining: 0 with Reset-After: 1.000 — the next post waits.
    double.drain_bucket();
    bot.send(&reply("111", "three", None)).await.unwrap();
    bot.send(&reply("111", "four", None)).await.unwrap();
    let posts = double.posts();
    assert!(posts[1].at - posts[0].at < Duration::from_millis(900));
    let waited = posts[3].at - posts[2].at;
    assert!(waited >= Duration::from_secs(1), "waited {waited:?}");
    assert_eq!(double.early(), 0, "nothing came while the bucket was empty");

    // A 429 is retried after its retry_after, once, and posts once.
    double.throttle(1);
    let calls_before = double.calls().len();
    bot.send(&reply("111", "five", None)).await.unwrap();
    let calls = &double.calls()[calls_before..];
    assert_eq!(calls.len(), 2, "the 429 and the retry");
    assert!(calls[1].at - calls[0].at >= Duration::from_secs(1));
    assert_eq!(double.early(), 0);
    let contents: Vec<String> = double
        .posts()
        .iter()
        .map(|p| p.body["content"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(contents, ["one", "two", "three", "four", "five"]);

    // Bounded: after three retries the 429 is the answer.
    double.throttle(4);
    let calls_before = double.calls().len();
    let err = bot.send(&reply("111", "six", None)).await.unwrap_err();
    match &err {
        ChannelError::Api {
            method,
            status,
            description,
            ..
        } => {
            assert_eq!((*method, *status), ("createMessage", 429));
            assert_eq!(description, "You are being rate limited.");
        }
        other => panic!("expected the 429, got {other:?}"),
    }
    assert_eq!(
        double.calls().len() - calls_before,
        4,
        "the call and 3 retries"
    );
    assert_eq!(double.early(), 0);
    assert_error_has_no_token(&err);
}

#[tokio::test]
async fn errors_show_status_and_body_start_and_never_the_token() {
    let Some(setup) = setup().await else {
        return;
    };
    let double = &setup.double;
    let bot = setup.transport(true);
    let shown = format!("{bot:?}");
    assert_no_token(&shown);
    assert!(shown.contains("DiscordToken(***)"), "{shown}");

    // A proxy's HTML page, echoing the Authorization header.
    double.bad_gateway(1);
    let err = bot.send(&reply("111", "hello", None)).await.unwrap_err();
    match &err {
        ChannelError::NotJson {
            method,
            status,
            body_start,
            ..
        } => {
            assert_eq!((*method, *status), ("createMessage", 502));
            assert!(
                body_start.starts_with("<html><head><title>502 Bad Gateway"),
                "{body_start}"
            );
            assert!(
                body_start.contains("(Authorization: Bot ***)"),
                "{body_start}"
            );
            assert_eq!(body_start.chars().count(), 200);
        }
        other => panic!("expected NotJson, got {other:?}"),
    }
    assert!(err.to_string().contains("HTTP 502"), "{err}");
    assert_error_has_no_token(&err);

    // Discord's own refusal: the message and code.
    let err = bot.send(&reply("404", "hello", None)).await.unwrap_err();
    match &err {
        ChannelError::Api {
            status,
            description,
            ..
        } => {
            assert_eq!(*status, 404);
            assert_eq!(description, "Unknown Channel (code 10003)");
        }
        other => panic!("expected an API error, got {other:?}"),
    }
    // Not a channel id: refused before any request.
    let calls = double.calls().len();
    let err = bot
        .send(&reply("../users/@me", "x", None))
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("not a Discord channel id"),
        "{err}"
    );
    assert_eq!(double.calls().len(), calls);

    // A wrong token: the API's 401 names no token.
    let wrong = "MTAxMjM0NTY3ODkw.GhIjKl.wrong-TOKEN_value_0123456789";
    let stranger = setup.transport_with(true, wrong, setup.options());
    let err = stranger.receive().await.unwrap_err();
    match &err {
        ChannelError::Api { method, status, .. } => {
            assert_eq!((*method, *status), ("getGatewayBot", 401))
        }
        other => panic!("expected the 401, got {other:?}"),
    }
    assert!(!err.to_string().contains("wrong-TOKEN"), "{err}");
    assert!(!format!("{stranger:?}").contains("wrong-TOKEN"));
}

#[tokio::test]
async fn without_the_proxy_ca_nothing_connects_and_the_error_says_so() {
    let Some(setup) = setup().await else {
        return;
    };
    let double = &setup.double;
    let bot = setup.transport(false);
    let err = bot.receive().await.unwrap_err();
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
    assert!(err.to_string().contains("not trusted"), "{err}");
    assert_error_has_no_token(&err);
    let err = bot.send(&reply("111", "hello", None)).await.unwrap_err();
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
    // The gateway too, when its URL is configured (no REST call first).
    let gateway = setup.transport_with(
        false,
        TOKEN,
        setup.options().gateway_url(format!("wss://{GATEWAY_HOST}")),
    );
    let err = gateway.receive().await.unwrap_err();
    assert!(
        matches!(
            &err,
            ChannelError::Http {
                source: HttpError::CaNotTrusted { host, .. },
                ..
            } if host.starts_with(GATEWAY_HOST)
        ),
        "{err:?}"
    );
    assert!(double.calls().is_empty(), "nothing reached the API");
    assert!(
        double.connections().is_empty(),
        "nothing reached the gateway"
    );
}

#[tokio::test]
async fn a_host_the_policy_blocks_is_named_with_the_fix() {
    let Some(setup) = setup_with(45_000, |o| {
        o.policy_denied = vec![API_HOST.into(), GATEWAY_HOST.into()]
    })
    .await
    else {
        return;
    };
    let bot = setup.transport_with(
        true,
        TOKEN,
        setup.options().gateway_url(format!("wss://{GATEWAY_HOST}")),
    );
    let err = bot.send(&reply("111", "hello", None)).await.unwrap_err();
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
    let err = bot.receive().await.unwrap_err();
    assert!(
        matches!(
            &err,
            ChannelError::Http { source: HttpError::PolicyDenied { host, .. }, .. } if host == GATEWAY_HOST
        ),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .contains(&format!("sbx policy allow network {GATEWAY_HOST}")),
        "{err}"
    );
    assert!(setup.double.calls().is_empty() && setup.double.connections().is_empty());
}

#[tokio::test]
async fn a_refused_token_is_not_retried_but_a_flapping_gateway_is_with_backoff() {
    let Some(setup) = setup().await else {
        return;
    };
    let double = &setup.double;
    let options = setup.options().gateway_url(format!("wss://{GATEWAY_HOST}"));
    let wrong = "MTAxMjM0NTY3ODkw.GhIjKl.wrong-TOKEN_value_0123456789";
    let stranger = setup.transport_with(true, wrong, options.clone());
    let err = stranger.receive().await.unwrap_err();
    match &err {
        ChannelError::Gateway {
            close_code, reason, ..
        } => {
            assert_eq!(*close_code, Some(4004));
            assert!(reason.contains("Reset Token"), "{reason}");
        }
        other => panic!("expected the gateway's 4004, got {other:?}"),
    }
    assert!(!err.to_string().contains("wrong-TOKEN"), "{err}");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(double.connections().len(), 1, "4004 is final: no retry");
    let again = stranger.receive().await.unwrap_err();
    assert_eq!(
        again.to_string(),
        err.to_string(),
        "and every receive says so"
    );
    drop(stranger);

    // A gateway that drops every connection after Hello is retried, ever
    // more slowly: a handful of attempts in 4 s, not hundreds.
    double.set_flap(true);
    let bot = setup.transport_with(true, TOKEN, options);
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(4) {
        let _ = bot.receive().await;
    }
    let attempts = double.connections().len() - 1;
    assert!((3..=7).contains(&attempts), "{attempts} connections in 4 s");
}
