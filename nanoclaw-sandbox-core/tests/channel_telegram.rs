//! The Telegram transport against a Bot API double served over HTTPS and
//! reached only through the proxy stand-in (TLS intercepted with its CA), as a
//! host inside a Docker Sandbox would reach api.telegram.org: offsets
//! confirmed only on acknowledge, long texts split, 429 retried, gateway
//! pages reported as such, and the token in no error.

mod support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Request, Response};
use nanoclaw_sandbox_core::channel::telegram::{BotToken, TelegramTransport};
use nanoclaw_sandbox_core::channel::{
    ChannelError, ChannelTransport, ChatId, InboundMessage, OutboundMessage,
};
use nanoclaw_sandbox_core::http::{HttpClient, HttpError, Timeouts};
use nanoclaw_sandbox_core::proxy::{ProxyUrl, StaticProxyConfig};
use nanoclaw_sandbox_core::standin::{self, StandinConfig};
use nanoclaw_testkit::ca::TestCa;
use nanoclaw_testkit::https::{handler, Body, Server};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;
use serde_json::json;

use support::standin_client::map_entry;

const TOKEN: &str = "4242:secret-TOKEN_value";
const API_HOST: &str = "api.telegram.test";

/// A request the double saw: path, JSON body, when.
#[derive(Clone)]
struct Seen {
    path: String,
    body: serde_json::Value,
    at: Instant,
}

impl Seen {
    fn method(&self) -> &str {
        self.path.rsplit('/').next().unwrap_or_default()
    }
}

/// The double's state: what it saw, the updates not yet confirmed, and
/// what the next calls should go wrong with.
#[derive(Default)]
struct Api {
    seen: Vec<Seen>,
    updates: Vec<serde_json::Value>,
    /// The next this-many calls answer 429 with `retry_after: 1`.
    throttle: usize,
    /// The next this-many calls answer a proxy's 502 HTML page.
    bad_gateway: usize,
}

type Shared = Arc<Mutex<Api>>;

/// A text message update in a chat of `kind`.
fn text_update(update_id: i64, chat: i64, kind: &str, text: &str) -> serde_json::Value {
    json!({"update_id": update_id, "message": {"message_id": update_id + 100, "date": 0,
        "chat": {"id": chat, "type": kind},
        "from": {"id": 9, "is_bot": false, "first_name": "Ada", "username": "ada"},
        "text": text}})
}

/// A sticker update: no `text`.
fn sticker_update(update_id: i64) -> serde_json::Value {
    json!({"update_id": update_id, "message": {"message_id": update_id + 100, "date": 0,
        "chat": {"id": 5, "type": "private"},
        "from": {"id": 9, "is_bot": false, "first_name": "Ada"}, "sticker": {}}})
}

/// A Bot API double with Telegram's offset semantics: `getUpdates` drops
/// the updates below `offset` and returns the rest; `sendMessage` succeeds
/// unless the text is `refuse me`.
async fn bot_api(pki: &TestCa, updates: Vec<serde_json::Value>) -> (Server, Shared) {
    let tls = pki.server_config(&[API_HOST], &[b"h2", b"http/1.1"]);
    let api: Shared = Arc::new(Mutex::new(Api {
        updates,
        ..Api::default()
    }));
    let state = api.clone();
    let server = Server::https(tls, handler(move |req| answer(req, state.clone())))
        .start()
        .await
        .expect("the Bot API double");
    (server, api)
}

async fn answer(req: Request<Bytes>, api: Shared) -> Response<Body> {
    let path = req.uri().path().to_string();
    let json: serde_json::Value = serde_json::from_slice(req.body()).unwrap_or_default();
    let mut api = api.lock().unwrap();
    api.seen.push(Seen {
        path: path.clone(),
        body: json.clone(),
        at: Instant::now(),
    });
    let (status, content_type, reply) = if !path.starts_with(&format!("/bot{TOKEN}/")) {
        (
            401,
            "application/json",
            r#"{"ok":false,"error_code":401,"description":"Unauthorized"}"#.to_string(),
        )
    } else if api.bad_gateway > 0 {
        api.bad_gateway -= 1;
        // A gateway page that echoes the request path, token and all.
        (
            502,
            "text/html",
            format!(
                "<html><head><title>502 Bad Gateway</title></head><body><h1>502 Bad Gateway</h1>\
                 <p>no upstream for {path}</p>{}</body></html>",
                "<!-- padding -->".repeat(40)
            ),
        )
    } else if api.throttle > 0 {
        api.throttle -= 1;
        (
            429,
            "application/json",
            r#"{"ok":false,"error_code":429,"description":"Too Many Requests: retry after 1","parameters":{"retry_after":1}}"#
                .to_string(),
        )
    } else if path.ends_with("/getUpdates") {
        if let Some(offset) = json["offset"].as_i64() {
            api.updates
                .retain(|u| u["update_id"].as_i64().unwrap() >= offset);
        }
        (
            200,
            "application/json",
            json!({"ok": true, "result": api.updates}).to_string(),
        )
    } else if path.ends_with("/sendChatAction") {
        (
            200,
            "application/json",
            r#"{"ok":true,"result":true}"#.to_string(),
        )
    } else if json["text"] == "refuse me" {
        (
            400,
            "application/json",
            r#"{"ok":false,"error_code":400,"description":"Bad Request: chat not found"}"#
                .to_string(),
        )
    } else {
        (
            200,
            "application/json",
            r#"{"ok":true,"result":{"message_id":8,"date":0,"chat":{"id":-1001,"type":"group"}}}"#
                .to_string(),
        )
    };
    Response::builder()
        .status(status)
        .header("content-type", content_type)
        .body(Full::new(Bytes::from(reply)))
        .unwrap()
}

struct Setup {
    _proxy: standin::Standin,
    _api: Server,
    _dir: tempfile::TempDir,
    api: Shared,
    proxy_url: ProxyUrl,
    standin_ca: CertificateDer<'static>,
    public_ca: CertificateDer<'static>,
}

/// The double seeded with one group message (update 41, "ping").
async fn setup() -> Setup {
    setup_with(vec![text_update(41, -1001, "group", "ping")]).await
}

async fn setup_with(updates: Vec<serde_json::Value>) -> Setup {
    let public = TestCa::new("Telegram test public CA");
    let (api_server, api) = bot_api(&public, updates).await;
    let dir = tempfile::tempdir().unwrap();
    let public_pem = public.write_pem(dir.path(), "public-ca.pem");
    let proxy = standin::start(
        StandinConfig::builder()
            .listen("127.0.0.1:0".parse().unwrap())
            .ca_dir(dir.path().join("standin-ca"))
            .maps([map_entry(API_HOST, api_server.addr())])
            .upstream_ca_files([public_pem])
            .build(),
    )
    .await
    .expect("the stand-in starts");
    Setup {
        proxy_url: ProxyUrl::parse(proxy.proxy_url()).unwrap(),
        standin_ca: CertificateDer::from_pem_slice(proxy.ca_pem().as_bytes()).unwrap(),
        public_ca: CertificateDer::from_pem_slice(public.pem().as_bytes()).unwrap(),
        _proxy: proxy,
        _api: api_server,
        _dir: dir,
        api,
    }
}

impl Setup {
    fn seen(&self) -> Vec<Seen> {
        self.api.lock().unwrap().seen.clone()
    }

    fn methods(&self) -> Vec<String> {
        self.seen().iter().map(|s| s.method().to_string()).collect()
    }
}

/// Asserts that neither the message nor the `Debug` form shows the token.
fn assert_no_token(err: &ChannelError) {
    for shown in [err.to_string(), format!("{err:?}")] {
        assert!(!shown.contains(TOKEN), "{shown}");
        assert!(!shown.contains("secret-TOKEN"), "{shown}");
    }
}

fn transport(setup: &Setup, trust_proxy_ca: bool) -> TelegramTransport {
    let extra = if trust_proxy_ca {
        vec![setup.standin_ca.clone()]
    } else {
        vec![]
    };
    let client = HttpClient::builder(StaticProxyConfig::via(setup.proxy_url.clone()))
        .public_roots(vec![setup.public_ca.clone()])
        .native_roots(false)
        .extra_roots(extra)
        .timeouts(Timeouts {
            connect: Duration::from_secs(5),
            tls: Duration::from_secs(5),
            request: Duration::from_secs(15),
        })
        .build()
        .unwrap();
    TelegramTransport::new(client, BotToken::new(TOKEN).unwrap())
        .with_api_base(format!("https://{API_HOST}"))
        .with_poll_seconds(0)
}

#[tokio::test]
async fn receives_and_replies_through_the_intercepting_proxy() {
    let setup = setup().await;
    let bot = transport(&setup, true);

    let inbound = bot.receive().await.expect("getUpdates through the proxy");
    assert_eq!(
        inbound,
        [InboundMessage {
            chat: ChatId("-1001".into()),
            message_id: "141".into(),
            sender: Some("ada".into()),
            text: "ping".into(),
            group: true,
        }]
    );
    bot.acknowledge().await.unwrap();
    assert!(bot.receive().await.unwrap().is_empty());
    bot.send(&OutboundMessage {
        chat: ChatId("-1001".into()),
        text: "pong".into(),
        reply_to: Some("141".into()),
    })
    .await
    .expect("sendMessage through the proxy");
    bot.typing(&ChatId("-1001".into())).await.unwrap();

    let seen = setup.seen();
    assert_eq!(
        setup.methods(),
        ["getUpdates", "getUpdates", "sendMessage", "sendChatAction"]
    );
    // The first poll names no offset; the second confirms update 41; the
    // reply names the chat and message.
    assert_eq!(seen[0].body.get("offset"), None);
    assert_eq!(seen[1].body["offset"], 42);
    assert_eq!(seen[2].body["chat_id"], -1001);
    assert_eq!(seen[2].body["text"], "pong");
    assert_eq!(seen[2].body["reply_parameters"]["message_id"], 141);
    assert_eq!(seen[3].body, json!({"chat_id": -1001, "action": "typing"}));
}

#[tokio::test]
async fn without_acknowledge_the_next_receive_delivers_the_same_messages_again() {
    let setup = setup().await;
    let bot = transport(&setup, true);

    let first = bot.receive().await.unwrap();
    assert_eq!(first.len(), 1);
    let again = bot.receive().await.unwrap();
    assert_eq!(again, first, "not acknowledged: delivered again");
    bot.acknowledge().await.unwrap();
    assert!(bot.receive().await.unwrap().is_empty());
    // A second acknowledge with nothing pending changes nothing.
    bot.acknowledge().await.unwrap();
    assert!(bot.receive().await.unwrap().is_empty());

    let offsets: Vec<_> = setup
        .seen()
        .iter()
        .map(|s| s.body.get("offset").cloned())
        .collect();
    assert_eq!(offsets, [None, None, Some(json!(42)), Some(json!(42))]);
}

#[tokio::test]
async fn non_text_updates_count_for_the_offset_and_group_comes_from_the_chat_type() {
    let setup = setup_with(vec![
        sticker_update(50),
        text_update(51, 7, "private", "hello"),
        text_update(52, -100, "supergroup", "hi all"),
        sticker_update(53),
    ])
    .await;
    let bot = transport(&setup, true);

    let batch = bot.receive().await.unwrap();
    let seen: Vec<_> = batch
        .iter()
        .map(|m| (m.chat.0.as_str(), m.text.as_str(), m.group))
        .collect();
    assert_eq!(
        seen,
        [("7", "hello", false), ("-100", "hi all", true)],
        "stickers are filtered"
    );
    bot.acknowledge().await.unwrap();
    assert!(bot.receive().await.unwrap().is_empty());
    // Past the trailing sticker too.
    assert_eq!(setup.seen()[1].body["offset"], 54);

    // A batch of stickers only needs no storing: confirmed without acknowledge.
    setup.api.lock().unwrap().updates.push(sticker_update(60));
    assert!(bot.receive().await.unwrap().is_empty());
    assert!(bot.receive().await.unwrap().is_empty());
    assert_eq!(setup.seen()[3].body["offset"], 61);
}

#[tokio::test]
async fn long_text_is_split_into_posts_of_at_most_4096_chars_in_order() {
    let setup = setup().await;
    let bot = transport(&setup, true);
    // 90 lines of 99 characters joined by newlines: 8999 characters, of
    // which some multi-byte ones, so bytes and characters differ.
    let line = format!("é{}", "x".repeat(98));
    let text = vec![line.as_str(); 90].join("\n");
    assert!(text.chars().count() > 8 * 1024);
    bot.send(&OutboundMessage {
        chat: ChatId("-1001".into()),
        text: text.clone(),
        reply_to: Some("141".into()),
    })
    .await
    .unwrap();

    let seen = setup.seen();
    assert_eq!(setup.methods(), ["sendMessage"; 3]);
    let pieces: Vec<&str> = seen
        .iter()
        .map(|s| s.body["text"].as_str().unwrap())
        .collect();
    for piece in &pieces {
        assert!(piece.chars().count() <= 4096, "{}", piece.chars().count());
    }
    // Split at newlines, which are dropped: joined with them, the original.
    assert_eq!(pieces.join("\n"), text);
    // Only the first post answers the message.
    assert_eq!(seen[0].body["reply_parameters"]["message_id"], 141);
    assert_eq!(seen[1].body.get("reply_parameters"), None);
    assert_eq!(seen[2].body.get("reply_parameters"), None);
}

#[tokio::test]
async fn too_many_requests_is_retried_after_retry_after() {
    let setup = setup().await;
    let bot = transport(&setup, true);
    setup.api.lock().unwrap().throttle = 1;
    bot.send(&OutboundMessage {
        chat: ChatId("-1001".into()),
        text: "pong".into(),
        reply_to: None,
    })
    .await
    .expect("sent on the retry");
    let seen = setup.seen();
    assert_eq!(setup.methods(), ["sendMessage", "sendMessage"]);
    let waited = seen[1].at - seen[0].at;
    assert!(waited >= Duration::from_secs(1), "retried after {waited:?}");

    // getUpdates too.
    setup.api.lock().unwrap().throttle = 1;
    assert_eq!(bot.receive().await.unwrap().len(), 1);
}

#[tokio::test]
async fn too_many_requests_gives_up_after_three_retries() {
    let setup = setup().await;
    let bot = transport(&setup, true);
    setup.api.lock().unwrap().throttle = 4;
    let err = bot.receive().await.unwrap_err();
    match &err {
        ChannelError::Api { method, status, .. } => {
            assert_eq!((*method, *status), ("getUpdates", 429))
        }
        other => panic!("expected the 429, got {other:?}"),
    }
    assert!(err.to_string().contains("Too Many Requests"), "{err}");
    assert_no_token(&err);
    assert_eq!(setup.methods(), ["getUpdates"; 4], "the call and 3 retries");
}

#[tokio::test]
async fn a_gateway_html_page_is_not_json_with_status_and_body_start_and_no_token() {
    let setup = setup().await;
    let bot = transport(&setup, true);
    setup.api.lock().unwrap().bad_gateway = 1;
    let err = bot.receive().await.unwrap_err();
    match &err {
        ChannelError::NotJson {
            method,
            status,
            body_start,
            ..
        } => {
            assert_eq!((*method, *status), ("getUpdates", 502));
            assert!(
                body_start.starts_with("<html><head><title>502 Bad Gateway</title>"),
                "{body_start}"
            );
            assert!(
                body_start.contains("no upstream for /bot***/getUpdates"),
                "{body_start}"
            );
            assert_eq!(body_start.chars().count(), 200);
        }
        other => panic!("expected NotJson, got {other:?}"),
    }
    let shown = err.to_string();
    assert!(shown.contains("HTTP 502"), "{shown}");
    assert!(shown.contains("502 Bad Gateway"), "{shown}");
    assert!(shown.contains("not JSON"), "{shown}");
    assert_no_token(&err);
}

#[tokio::test]
async fn without_the_proxy_ca_the_call_fails_with_the_ca_error_and_no_token() {
    let setup = setup().await;
    let bot = transport(&setup, false);
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
    assert_no_token(&err);
    assert!(setup.seen().is_empty(), "nothing reached the API");
}

#[tokio::test]
async fn api_refusals_carry_the_platform_description() {
    let setup = setup().await;
    let bot = transport(&setup, true);
    let err = bot
        .send(&OutboundMessage {
            chat: ChatId("@nowhere".into()),
            text: "refuse me".into(),
            reply_to: None,
        })
        .await
        .unwrap_err();
    match &err {
        ChannelError::Api {
            method,
            status,
            description,
            ..
        } => {
            assert_eq!((*method, *status), ("sendMessage", 400));
            assert_eq!(description, "Bad Request: chat not found");
        }
        other => panic!("expected an API error, got {other:?}"),
    }
    assert_no_token(&err);
    assert_eq!(setup.seen()[0].body["chat_id"], "@nowhere");
}
