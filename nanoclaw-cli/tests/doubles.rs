//! The API doubles driven by the library's own client, reached by name
//! through the proxy stand-in (its `--map`, so no DNS), as an agent host
//! inside a sandbox would reach api.telegram.org and api.anthropic.com.

use std::time::{Duration, Instant};

use hyper::{Method, Request};
use nanoclaw_cli::doubles::anthropic::ModelDouble;
use nanoclaw_cli::doubles::telegram::{SentMessage, TelegramDouble};
use nanoclaw_cli::upstream::LocalCa;
use nanoclaw_sandbox_core::channel::telegram::{BotToken, TelegramTransport};
use nanoclaw_sandbox_core::channel::{ChannelTransport, ChatId, InboundMessage, OutboundMessage};
use nanoclaw_sandbox_core::http::{HttpClient, RequestBody, Timeouts};
use nanoclaw_sandbox_core::proxy::{ProxyUrl, StaticProxyConfig};
use nanoclaw_sandbox_core::standin::{self, Standin, StandinConfig};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use serde_json::{json, Value};

const TOKEN: &str = "4242:double-TOKEN_secret";
const TELEGRAM_HOST: &str = "api.telegram.test";
const MODEL_HOST: &str = "api.anthropic.test";
const API_KEY: &str = "sk-double-key";

/// The stand-in mapping the doubles' names, and a client through it
/// trusting its CA (and the doubles' CA as a public root).
struct Net {
    client: HttpClient,
    _standin: Standin,
    _dir: tempfile::TempDir,
}

async fn net(ca: &LocalCa, maps: &[(&str, std::net::SocketAddr)]) -> Net {
    let dir = tempfile::tempdir().unwrap();
    let public = dir.path().join("doubles-ca.pem");
    std::fs::write(&public, ca.pem()).unwrap();
    let standin = standin::start(
        StandinConfig::builder()
            .listen("127.0.0.1:0".parse().unwrap())
            .ca_dir(dir.path().join("standin-ca"))
            .maps(
                maps.iter()
                    .map(|(host, addr)| format!("{host}={addr}").parse().unwrap()),
            )
            .upstream_ca_files([public])
            .build(),
    )
    .await
    .expect("the stand-in starts");
    let client = HttpClient::builder(StaticProxyConfig::via(
        ProxyUrl::parse(standin.proxy_url()).unwrap(),
    ))
    .public_roots(vec![
        CertificateDer::from_pem_slice(ca.pem().as_bytes()).unwrap()
    ])
    .native_roots(false)
    .extra_roots(vec![CertificateDer::from_pem_slice(
        standin.ca_pem().as_bytes(),
    )
    .unwrap()])
    .timeouts(Timeouts {
        connect: Duration::from_secs(5),
        tls: Duration::from_secs(5),
        request: Duration::from_secs(20),
    })
    .build()
    .unwrap();
    Net {
        client,
        _standin: standin,
        _dir: dir,
    }
}

async fn telegram() -> (TelegramDouble, Net) {
    let ca = LocalCa::generate("doubles test CA").unwrap();
    let double = TelegramDouble::start(&ca, TELEGRAM_HOST, TOKEN)
        .await
        .unwrap();
    let net = net(&ca, &[(TELEGRAM_HOST, double.addr())]).await;
    (double, net)
}

fn bot(net: &Net, poll_seconds: u32) -> TelegramTransport {
    TelegramTransport::new(net.client.clone(), BotToken::new(TOKEN).unwrap())
        .with_api_base(format!("https://{TELEGRAM_HOST}"))
        .with_poll_seconds(poll_seconds)
}

/// A raw Bot API call: status and JSON answer.
async fn bot_api(net: &Net, token: &str, method: &str, body: Value) -> (u16, Value) {
    let url = format!("https://{TELEGRAM_HOST}/bot{token}/{method}");
    let response = net
        .client
        .post(&url, "application/json", body.to_string())
        .await
        .unwrap();
    (
        response.status().as_u16(),
        serde_json::from_slice(response.body()).unwrap(),
    )
}

#[tokio::test]
async fn the_library_transport_runs_end_to_end_against_the_telegram_double() {
    let (double, net) = telegram().await;
    let bot = bot(&net, 0);
    assert_eq!(double.confirmed_offset(), 0);

    let id = double.post(77, "ada", "hello");
    let group_id = double.post_in_group(-500, "bob", "hi all");
    assert_eq!((id, group_id), (1, 2), "message ids count from 1");
    let batch = bot.receive().await.unwrap();
    assert_eq!(
        batch,
        [
            InboundMessage {
                chat: ChatId("77".into()),
                message_id: "1".into(),
                sender: Some("ada".into()),
                text: "hello".into(),
                group: false,
            },
            InboundMessage {
                chat: ChatId("-500".into()),
                message_id: "2".into(),
                sender: Some("bob".into()),
                text: "hi all".into(),
                group: true,
            },
        ]
    );
    // Not acknowledged: the same batch again, and nothing confirmed.
    assert_eq!(bot.receive().await.unwrap(), batch);
    assert_eq!(double.confirmed_offset(), 0);
    // Acknowledged: confirmed with the next getUpdates, not before.
    bot.acknowledge().await.unwrap();
    assert_eq!(double.confirmed_offset(), 0);
    assert!(bot.receive().await.unwrap().is_empty());
    assert_eq!(double.confirmed_offset(), 3, "past update 2");

    bot.send(&OutboundMessage {
        chat: ChatId("77".into()),
        text: "hello to you".into(),
        reply_to: Some("1".into()),
    })
    .await
    .unwrap();
    bot.typing(&ChatId("77".into())).await.unwrap();
    assert_eq!(
        double.sent(),
        [SentMessage {
            chat_id: 77,
            text: "hello to you".into(),
            reply_to: Some(1),
        }]
    );

    // A long text arrives as several posts, each within Telegram's limit.
    let long = vec!["word"; 2000].join(" ");
    bot.send(&OutboundMessage {
        chat: ChatId("-500".into()),
        text: long.clone(),
        reply_to: None,
    })
    .await
    .unwrap();
    // 9999 characters: three posts, split at spaces (dropped).
    let sent = double.wait_sent(4, Duration::from_secs(5)).await;
    assert_eq!(sent.len(), 4);
    let posts: Vec<&str> = sent[1..].iter().map(|m| m.text.as_str()).collect();
    assert!(posts.iter().all(|p| p.chars().count() <= 4096));
    assert_eq!(posts.join(" "), long);
    assert!(sent[1..]
        .iter()
        .all(|m| m.chat_id == -500 && m.reply_to.is_none()));
}

#[tokio::test]
async fn a_long_poll_wakes_when_a_message_is_posted() {
    let (double, net) = telegram().await;
    let bot = bot(&net, 10);
    let poster = double.clone();
    let started = Instant::now();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        poster.post(5, "ada", "late");
    });
    let batch = bot.receive().await.unwrap();
    assert_eq!(batch.len(), 1);
    assert_eq!(batch[0].text, "late");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "woken, not timed out"
    );
}

#[tokio::test]
async fn throttled_sends_are_retried_by_the_transport() {
    let (double, net) = telegram().await;
    let bot = bot(&net, 0);
    double.throttle_next_sends(1, 1);
    let started = Instant::now();
    bot.send(&OutboundMessage {
        chat: ChatId("77".into()),
        text: "patience".into(),
        reply_to: None,
    })
    .await
    .expect("sent after the retry");
    assert!(started.elapsed() >= Duration::from_secs(1));
    assert_eq!(
        double.sent().len(),
        1,
        "the throttled call was not recorded"
    );
}

#[tokio::test]
async fn the_telegram_double_answers_as_the_bot_api_documents() {
    let (double, net) = telegram().await;
    let (status, body) = bot_api(&net, "1:wrong", "getMe", json!({})).await;
    assert_eq!(status, 401);
    assert_eq!(
        body,
        json!({"ok": false, "error_code": 401, "description": "Unauthorized"})
    );
    let (status, body) = bot_api(&net, TOKEN, "getChatHistory", json!({})).await;
    assert_eq!(status, 404);
    assert_eq!(
        body,
        json!({"ok": false, "error_code": 404, "description": "Not Found"})
    );

    double.post(9, "ada", "one");
    let (status, body) = bot_api(&net, TOKEN, "getUpdates", json!({"timeout": 0})).await;
    assert_eq!(status, 200);
    let update = &body["result"][0];
    assert_eq!(update["update_id"], 1);
    assert_eq!(
        update["message"]["chat"],
        json!({"id": 9, "type": "private"})
    );
    assert_eq!(update["message"]["from"]["is_bot"], false);
    assert_eq!(update["message"]["from"]["username"], "ada");
    assert!(update["message"]["date"].is_u64());

    let (status, body) = bot_api(
        &net,
        TOKEN,
        "sendMessage",
        json!({"chat_id": 9, "text": "two", "reply_parameters": {"message_id": 1}}),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["result"]["text"], "two");
    assert_eq!(body["result"]["chat"]["id"], 9);
    assert_eq!(body["result"]["message_id"], 2);
    let (status, body) = bot_api(&net, TOKEN, "sendMessage", json!({"chat_id": 9})).await;
    assert_eq!(
        (status, body["description"].as_str()),
        (400, Some("Bad Request: message text is empty"))
    );
    let (status, _) = bot_api(
        &net,
        TOKEN,
        "sendMessage",
        json!({"chat_id": 9, "text": "x".repeat(4097)}),
    )
    .await;
    assert_eq!(status, 400, "over 4096 characters");
    let (status, body) = bot_api(
        &net,
        TOKEN,
        "sendChatAction",
        json!({"chat_id": 9, "action": "typing"}),
    )
    .await;
    assert_eq!((status, body), (200, json!({"ok": true, "result": true})));

    double.throttle_next_sends(1, 7);
    let (status, body) = bot_api(
        &net,
        TOKEN,
        "sendMessage",
        json!({"chat_id": 9, "text": "t"}),
    )
    .await;
    assert_eq!(status, 429);
    assert_eq!(body["parameters"]["retry_after"], 7);
    assert_eq!(body["description"], "Too Many Requests: retry after 7");

    // Confirming drops updates; the highest offset is remembered.
    let (_, body) = bot_api(&net, TOKEN, "getUpdates", json!({"offset": 2})).await;
    assert_eq!(body["result"], json!([]));
    assert_eq!(double.confirmed_offset(), 2);
    let (_, body) = bot_api(&net, TOKEN, "getUpdates", json!({})).await;
    assert_eq!(body["result"], json!([]), "update 1 is gone for good");
}

async fn model() -> (ModelDouble, Net) {
    let ca = LocalCa::generate("doubles test CA").unwrap();
    let double = ModelDouble::start(&ca, MODEL_HOST, Some(API_KEY))
        .await
        .unwrap();
    let net = net(&ca, &[(MODEL_HOST, double.addr())]).await;
    (double, net)
}

/// `POST /v1/messages` with `headers` and `body`: status and JSON answer.
async fn messages(net: &Net, headers: &[(&str, &str)], body: Value) -> (u16, Value) {
    let mut request = Request::builder()
        .method(Method::POST)
        .uri(format!("https://{MODEL_HOST}/v1/messages"))
        .header("content-type", "application/json");
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let request = request
        .body(RequestBody::new(body.to_string().into()))
        .unwrap();
    let response = net.client.send_buffered(request).await.unwrap();
    (
        response.status().as_u16(),
        serde_json::from_slice(response.body()).unwrap(),
    )
}

const GOOD: [(&str, &str); 2] = [("x-api-key", API_KEY), ("anthropic-version", "2023-06-01")];

fn conversation(last: &str) -> Value {
    json!({
        "model": "claude-test",
        "max_tokens": 256,
        "messages": [
            {"role": "user", "content": "first"},
            {"role": "assistant", "content": "an answer"},
            {"role": "user", "content": [{"type": "text", "text": last}]},
        ],
    })
}

#[tokio::test]
async fn the_model_double_answers_a_messages_request_in_the_documented_shape() {
    let (double, net) = model().await;
    let (status, body) = messages(&net, &GOOD, conversation("what now?")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["id"], "msg_double_1");
    assert_eq!(body["type"], "message");
    assert_eq!(body["role"], "assistant");
    assert_eq!(body["model"], "claude-test");
    assert_eq!(
        body["content"],
        json!([{"type": "text", "text": ModelDouble::answer_for("what now?")}])
    );
    assert_eq!(body["stop_reason"], "end_turn");
    assert_eq!(body["stop_sequence"], Value::Null);
    assert!(body["usage"]["input_tokens"].as_u64().unwrap() >= 1);
    assert!(body["usage"]["output_tokens"].as_u64().unwrap() >= 1);

    let requests = double.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].model, "claude-test");
    assert_eq!(requests[0].turns, 3);
    assert_eq!(requests[0].last_user_text, "what now?");
    assert_eq!(requests[0].status, 200);

    let (_, body) = messages(&net, &GOOD, conversation("again")).await;
    assert_eq!(body["id"], "msg_double_2");
}

#[tokio::test]
async fn the_model_double_refuses_a_wrong_key_a_missing_version_and_a_bad_body() {
    let (double, net) = model().await;
    let (status, body) = messages(
        &net,
        &[
            ("x-api-key", "sk-wrong"),
            ("anthropic-version", "2023-06-01"),
        ],
        conversation("hi"),
    )
    .await;
    assert_eq!(status, 401);
    assert_eq!(
        body,
        json!({"type": "error", "error": {"type": "authentication_error", "message": "invalid x-api-key"}})
    );

    let (status, body) = messages(&net, &GOOD[..1], conversation("hi")).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["type"], "invalid_request_error");
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("anthropic-version"));

    let bad_bodies = [
        json!({"max_tokens": 10, "messages": [{"role": "user", "content": "x"}]}),
        json!({"model": "m", "messages": [{"role": "user", "content": "x"}]}),
        json!({"model": "m", "max_tokens": "ten", "messages": [{"role": "user", "content": "x"}]}),
        json!({"model": "m", "max_tokens": 10, "messages": []}),
        json!({"model": "m", "max_tokens": 10, "messages": [{"role": "user", "content": 5}]}),
        json!({"model": "m", "max_tokens": 10, "messages": [{"role": "user", "content": [{"text": "no type"}]}]}),
        json!({"model": "m", "max_tokens": 10, "messages": [{"role": "user", "content": "x"}, {"role": "assistant", "content": "y"}]}),
        json!("not an object"),
    ];
    for bad in &bad_bodies {
        let (status, body) = messages(&net, &GOOD, bad.clone()).await;
        assert_eq!(status, 400, "{bad}: {body}");
        assert_eq!(body["type"], "error");
        assert_eq!(body["error"]["type"], "invalid_request_error", "{bad}");
    }

    let statuses: Vec<u16> = double.requests().iter().map(|r| r.status).collect();
    let mut expected = vec![401, 400];
    expected.extend(vec![400; bad_bodies.len()]);
    assert_eq!(statuses, expected);
    for request in double.requests() {
        assert!(!format!("{request:?}").contains(API_KEY));
    }
    assert!(!format!("{double:?}").contains(API_KEY));

    // Another path: 404 in the same shape.
    let response = net
        .client
        .get(&format!("https://{MODEL_HOST}/v1/complete"))
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 404);
    let body: Value = serde_json::from_slice(response.body()).unwrap();
    assert_eq!(body["error"]["type"], "not_found_error");
}

#[tokio::test]
async fn the_model_double_waits_the_delay_before_answering() {
    let (double, net) = model().await;
    double.set_delay(Duration::from_millis(700));
    let started = Instant::now();
    let (status, _) = messages(&net, &GOOD, conversation("slowly")).await;
    assert_eq!(status, 200);
    assert!(started.elapsed() >= Duration::from_millis(700));
}

#[tokio::test]
async fn a_double_without_a_key_accepts_any_or_none() {
    let ca = LocalCa::generate("doubles test CA").unwrap();
    let double = ModelDouble::start(&ca, MODEL_HOST, None).await.unwrap();
    let net = net(&ca, &[(MODEL_HOST, double.addr())]).await;
    let (status, _) = messages(
        &net,
        &[("anthropic-version", "2023-06-01")],
        conversation("a"),
    )
    .await;
    assert_eq!(status, 200);
    let (status, _) = messages(&net, &GOOD, conversation("b")).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn shutdown_stops_the_server() {
    let (double, net) = telegram().await;
    let addr = double.addr();
    double.shutdown();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
    drop(net);
}

/// One `getUpdates` straight to the double (no proxy) offering `alpn`:
/// the protocol chosen and the answer's status.
async fn direct_get_updates(
    ca: &LocalCa,
    addr: std::net::SocketAddr,
    alpn: &[&[u8]],
) -> (Vec<u8>, u16) {
    use http_body_util::{BodyExt, Full};
    use hyper_util::rt::{TokioExecutor, TokioIo};

    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(ca.pem().as_bytes()).unwrap())
        .unwrap();
    let mut config = rustls::ClientConfig::builder_with_provider(
        nanoclaw_sandbox_core::crypto::crypto_provider(),
    )
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let tls = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config))
        .connect(
            rustls::pki_types::ServerName::try_from(TELEGRAM_HOST).unwrap(),
            tcp,
        )
        .await
        .unwrap();
    let chosen = tls.get_ref().1.alpn_protocol().unwrap_or_default().to_vec();
    let io = TokioIo::new(tls);
    let path = format!("/bot{TOKEN}/getUpdates");
    let body = || Full::new(bytes::Bytes::from_static(b"{}"));
    let status = if chosen == b"h2" {
        let (mut sender, connection) =
            hyper::client::conn::http2::handshake(TokioExecutor::new(), io)
                .await
                .unwrap();
        tokio::spawn(connection);
        let request = Request::post(format!("https://{TELEGRAM_HOST}{path}"))
            .body(body())
            .unwrap();
        sender.send_request(request).await.unwrap()
    } else {
        let (mut sender, connection) = hyper::client::conn::http1::handshake(io).await.unwrap();
        tokio::spawn(connection);
        // Two requests on one connection: keep-alive.
        for _ in 0..2 {
            let request = Request::post(&path)
                .header("host", TELEGRAM_HOST)
                .body(body())
                .unwrap();
            let response = sender.send_request(request).await.unwrap();
            assert_eq!(response.status(), 200);
            response.into_body().collect().await.unwrap();
        }
        let request = Request::post(&path)
            .header("host", TELEGRAM_HOST)
            .body(body())
            .unwrap();
        sender.send_request(request).await.unwrap()
    };
    (chosen, status.status().as_u16())
}

#[tokio::test]
async fn the_doubles_speak_http2_and_http1_by_alpn() {
    let ca = LocalCa::generate("doubles test CA").unwrap();
    let double = TelegramDouble::start(&ca, TELEGRAM_HOST, TOKEN)
        .await
        .unwrap();
    assert_eq!(
        direct_get_updates(&ca, double.addr(), &[b"h2", b"http/1.1"]).await,
        (b"h2".to_vec(), 200)
    );
    assert_eq!(
        direct_get_updates(&ca, double.addr(), &[b"http/1.1"]).await,
        (b"http/1.1".to_vec(), 200)
    );
}
