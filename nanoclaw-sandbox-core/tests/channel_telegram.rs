//! The Telegram transport against a Bot API double served over HTTPS and
//! reached only through the proxy stand-in (TLS intercepted with its CA), as a
//! host inside a Docker Sandbox would reach api.telegram.org.
#![cfg(all(feature = "telegram", feature = "standin"))]

mod support;

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use nanoclaw_sandbox_core::channel::telegram::{BotToken, TelegramTransport};
use nanoclaw_sandbox_core::channel::{
    ChannelError, ChannelTransport, ChatId, InboundMessage, OutboundMessage,
};
use nanoclaw_sandbox_core::http::{HttpClient, HttpError, Timeouts};
use nanoclaw_sandbox_core::proxy::{ProxyUrl, StaticProxyConfig};
use nanoclaw_sandbox_core::standin::{self, StandinConfig};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use support::standin_client::map_entry;
use support::test_ca::TestCa;

const TOKEN: &str = "4242:secret-TOKEN_value";
const API_HOST: &str = "api.telegram.test";

/// What the double saw: (path, JSON body).
type Seen = Arc<Mutex<Vec<(String, serde_json::Value)>>>;

/// A Bot API double: one message on the first `getUpdates`, none after;
/// `sendMessage` succeeds unless the text is `refuse me`.
async fn bot_api(pki: &TestCa) -> (std::net::SocketAddr, Seen) {
    let acceptor = TlsAcceptor::from(pki.server_config(&[API_HOST], &[b"h2", b"http/1.1"]));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen: Seen = Arc::default();
    let record = seen.clone();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let (acceptor, record) = (acceptor.clone(), record.clone());
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let service = service_fn(move |req| answer(req, record.clone()));
                let _ = auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(tls), service)
                    .await;
            });
        }
    });
    (addr, seen)
}

async fn answer(req: Request<Incoming>, seen: Seen) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = req.uri().path().to_string();
    let body = req.into_body().collect().await.unwrap().to_bytes();
    let json: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    let first_poll = path.ends_with("/getUpdates")
        && !seen
            .lock()
            .unwrap()
            .iter()
            .any(|(p, _)| p.ends_with("/getUpdates"));
    seen.lock().unwrap().push((path.clone(), json.clone()));
    let (status, reply) = if !path.starts_with(&format!("/bot{TOKEN}/")) {
        (
            401,
            r#"{"ok":false,"error_code":401,"description":"Unauthorized"}"#.to_string(),
        )
    } else if path.ends_with("/getUpdates") && first_poll {
        (
            200,
            r#"{"ok":true,"result":[{"update_id":41,"message":{"message_id":7,"date":0,
            "chat":{"id":-1001,"type":"group"},"from":{"id":9,"is_bot":false,"first_name":"Ada",
            "username":"ada"},"text":"ping"}}]}"#
                .to_string(),
        )
    } else if path.ends_with("/getUpdates") {
        (200, r#"{"ok":true,"result":[]}"#.to_string())
    } else if json["text"] == "refuse me" {
        (
            400,
            r#"{"ok":false,"error_code":400,"description":"Bad Request: chat not found"}"#
                .to_string(),
        )
    } else {
        (
            200,
            r#"{"ok":true,"result":{"message_id":8,"date":0,"chat":{"id":-1001,"type":"group"}}}"#
                .to_string(),
        )
    };
    Ok(Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(reply)))
        .unwrap())
}

struct Setup {
    _proxy: standin::Standin,
    _dir: tempfile::TempDir,
    seen: Seen,
    proxy_url: ProxyUrl,
    standin_ca: CertificateDer<'static>,
    public_ca: CertificateDer<'static>,
}

async fn setup() -> Setup {
    let public = TestCa::new("Telegram test public CA");
    let (api, seen) = bot_api(&public).await;
    let dir = tempfile::tempdir().unwrap();
    let public_pem = public.write_pem(dir.path(), "public-ca.pem");
    let proxy = standin::start(
        StandinConfig::builder()
            .listen("127.0.0.1:0".parse().unwrap())
            .ca_dir(dir.path().join("standin-ca"))
            .maps([map_entry(API_HOST, api)])
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
        _dir: dir,
        seen,
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
            message_id: "7".into(),
            sender: Some("ada".into()),
            text: "ping".into(),
        }]
    );
    assert!(bot.receive().await.unwrap().is_empty());
    bot.send(&OutboundMessage {
        chat: ChatId("-1001".into()),
        text: "pong".into(),
        reply_to: Some("7".into()),
    })
    .await
    .expect("sendMessage through the proxy");

    let seen = setup.seen.lock().unwrap().clone();
    let methods: Vec<_> = seen
        .iter()
        .map(|(p, _)| p.rsplit('/').next().unwrap())
        .collect();
    assert_eq!(methods, ["getUpdates", "getUpdates", "sendMessage"]);
    // The second poll confirms update 41; the reply names the chat and message.
    assert_eq!(seen[0].1["offset"], serde_json::Value::Null);
    assert_eq!(seen[1].1["offset"], 42);
    assert_eq!(seen[2].1["chat_id"], -1001);
    assert_eq!(seen[2].1["text"], "pong");
    assert_eq!(seen[2].1["reply_parameters"]["message_id"], 7);
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
    for shown in [err.to_string(), format!("{err:?}")] {
        assert!(!shown.contains("secret-TOKEN"), "{shown}");
    }
    assert!(
        setup.seen.lock().unwrap().is_empty(),
        "nothing reached the API"
    );
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
    assert!(!err.to_string().contains("secret-TOKEN"));
    assert_eq!(setup.seen.lock().unwrap()[0].1["chat_id"], "@nowhere");
}
