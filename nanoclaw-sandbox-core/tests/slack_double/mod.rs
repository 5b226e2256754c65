//! A Slack double for the transport's tests: the Web API over HTTPS and
//! Socket Mode over WSS, both on loopback with certificates from a test CA,
//! reached under made-up names that the test's proxy maps
//! ([`SlackDouble::hosts`]), never through DNS.
//!
//! Web API (`POST`, `Authorization: Bearer <token>`; a refused token is
//! `200 {"ok": false, "error": "invalid_auth"}` as Slack answers, the wrong
//! kind of token `not_allowed_token_type`):
//! - `apps.connections.open` (app-level token): a `wss://wss-primary.slack.test/link/?ticket=…`
//!   URL whose ticket opens one connection, once.
//! - `chat.postMessage` (bot token, JSON body): recorded ([`SlackDouble::posts`]),
//!   then echoed as a `message` event with a `bot_id` (as Slack shows an
//!   app its own posts); `C404` is `channel_not_found`, empty text
//!   `no_text`, over 40,000 characters `msg_too_long`.
//!   [`SlackDouble::throttle`] answers `429` with `Retry-After: 1`; a request
//!   inside that second is answered 429 again and counted ([`SlackDouble::early`]).
//!   [`SlackDouble::bad_gateway`]: a proxy's 502 HTML page that echoes the
//!   request's `Authorization` header (for the masking tests).
//!
//! Socket Mode: `hello` on every connection; events go out as `events_api`
//! envelopes to the newest connection (queued while there is none); every
//! client frame with an `envelope_id` is recorded as an acknowledgement
//! with its time ([`SlackDouble::acks`]). As Slack does, an envelope not
//! acknowledged within [`ACK_DEADLINE`] is delivered again (a new envelope
//! id, the same event, `retry_attempt` + 1, `retry_reason: "timeout"`, up to
//! 3 times) and counted ([`SlackDouble::late`]). `disconnect` envelopes,
//! abrupt drops, a flapping endpoint (closes right after `hello`) and a
//! mute one (reads nothing, so answers no ping) are the tests' to order.
//!
//! [`Stack`] puts the double behind mitmproxy and makes transports whose
//! client goes through it, trusting the double's CA as the "public" root
//! and, unless told not to, mitmproxy's.
#![allow(dead_code)]

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http_body_util::Full;
use hyper::{Request, Response};
use serde_json::{json, Value};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::handshake::server::{
    ErrorResponse, Request as WsRequest, Response as WsResponse,
};
use tokio_tungstenite::tungstenite::Message;

use nanoclaw_sandbox_core::channel::slack::{
    SlackAppToken, SlackBotToken, SlackOptions, SlackTransport,
};
use nanoclaw_sandbox_core::channel::{ChannelTransport, InboundMessage};
use nanoclaw_sandbox_core::http::HttpClient;

use nanoclaw_testkit::ca::TestCa;

use crate::support::platform_proxy::PlatformProxy;
use nanoclaw_testkit::https::{self, Body, Server};
use nanoclaw_testkit::mitm::{MitmOptions, Route};

/// The app-level token the double accepts (never to appear in an error).
pub const APP_TOKEN: &str = "xapp-1-A0TEST-1234567890-0123456789abcdef0123456789abcdef";
/// Its secret part, which must not appear either.
pub const APP_SECRET: &str = "0123456789abcdef0123456789abcdef";
/// The bot token the double accepts.
pub const BOT_TOKEN: &str = "xoxb-1111-2222-SecretBotTokenValue0123";
/// Its secret part.
pub const BOT_SECRET: &str = "SecretBotTokenValue0123";
/// The Web API's host.
pub const API_HOST: &str = "slack.test";
/// The Socket Mode host `apps.connections.open` names.
pub const SOCKET_HOST: &str = "wss-primary.slack.test";
/// The app's id.
pub const APP_ID: &str = "A0TEST";
/// The bot's user and bot ids (its own posts come back with them).
pub const BOT_USER: &str = "U0BOT";
pub const BOT_ID: &str = "B0BOT";
/// A person.
pub const ADA: &str = "U0ADA";
/// How long Slack waits for an acknowledgement before delivering again.
pub const ACK_DEADLINE: Duration = Duration::from_secs(3);

/// A Web API request.
#[derive(Clone, Debug)]
pub struct Call {
    pub method: String,
    /// `app`, `bot`, `wrong` or `none`.
    pub token: &'static str,
    pub at: Instant,
}

/// A Socket Mode connection.
#[derive(Clone, Debug)]
pub struct Connection {
    /// The `Host` header of the upgrade.
    pub host: String,
    /// The request target (`/link/?ticket=…&app_id=…`).
    pub uri: String,
    pub at: Instant,
    /// The close code the client sent, if it sent a close frame.
    pub client_close: Option<u16>,
    /// When the connection ended.
    pub ended: Option<Instant>,
}

/// An envelope the double sent.
#[derive(Clone, Debug)]
pub struct Sent {
    pub envelope_id: String,
    /// The event's id (`None` for other envelope types).
    pub event_id: Option<String>,
    pub kind: String,
    pub retry_attempt: u64,
    pub conn: usize,
    pub at: Instant,
}

/// An acknowledgement the client sent.
#[derive(Clone, Debug)]
pub struct Ack {
    pub envelope_id: String,
    pub conn: usize,
    pub at: Instant,
    /// The whole frame.
    pub frame: Value,
}

/// A posted message.
#[derive(Clone, Debug)]
pub struct Post {
    pub channel: String,
    pub body: Value,
    pub at: Instant,
}

enum Command {
    Send(Value),
    Drop,
    Mute,
}

struct Live {
    conn: usize,
    tx: mpsc::UnboundedSender<Command>,
}

struct State {
    calls: Vec<Call>,
    /// Ticket → used.
    tickets: HashMap<String, bool>,
    connections: Vec<Connection>,
    live: Option<Live>,
    /// Envelopes waiting for a connection.
    queued: VecDeque<Value>,
    sent: Vec<Sent>,
    acks: Vec<Ack>,
    /// Envelopes that missed the deadline.
    late: Vec<String>,
    posts: Vec<Post>,
    /// Each event's payload, by event id (to deliver it again).
    payloads: HashMap<String, Value>,
    flap: bool,
    throttle: usize,
    blocked_until: Option<Instant>,
    early: usize,
    bad_gateway: usize,
    next: u64,
}

impl State {
    fn next(&mut self) -> u64 {
        self.next += 1;
        self.next
    }

    fn ts(&mut self) -> String {
        format!("1700000000.{:06}", self.next())
    }

    fn acked(&self, envelope_id: &str) -> bool {
        self.acks.iter().any(|a| a.envelope_id == envelope_id)
    }
}

/// The running double; its servers stop when it is dropped.
pub struct SlackDouble {
    /// The Web API (stops when dropped).
    api: Server,
    /// The WebSocket endpoint (stops when dropped).
    socket: Server,
    state: Arc<Mutex<State>>,
}

impl SlackDouble {
    /// Both servers, with certificates from `ca`.
    pub async fn start(ca: &TestCa) -> Self {
        let state = Arc::new(Mutex::new(State {
            calls: Vec::new(),
            tickets: HashMap::new(),
            connections: Vec::new(),
            live: None,
            queued: VecDeque::new(),
            sent: Vec::new(),
            acks: Vec::new(),
            late: Vec::new(),
            posts: Vec::new(),
            payloads: HashMap::new(),
            flap: false,
            throttle: 0,
            blocked_until: None,
            early: 0,
            bad_gateway: 0,
            next: 0,
        }));
        let api_state = state.clone();
        let api = Server::https(
            ca.server_config(&[API_HOST], &[b"h2", b"http/1.1"]),
            https::handler(move |request| web_api(request, api_state.clone())),
        )
        .name("slack-api")
        .start()
        .await
        .unwrap();
        let socket_state = state.clone();
        let socket = Server::https(
            ca.server_config(&[SOCKET_HOST], &[b"http/1.1"]),
            https::connection(move |stream| serve_socket(stream, socket_state.clone())),
        )
        .name("slack-socket")
        .start()
        .await
        .unwrap();
        SlackDouble { api, socket, state }
    }

    /// Test name → loopback address, for the proxy.
    pub fn hosts(&self) -> Vec<(String, SocketAddr)> {
        vec![
            (API_HOST.into(), self.api.addr()),
            (SOCKET_HOST.into(), self.socket.addr()),
        ]
    }

    /// [`hosts`](Self::hosts) as the mitmproxy driver's routes.
    pub fn routes(&self) -> Vec<Route> {
        self.hosts()
            .into_iter()
            .map(|(name, addr)| Route::new(&name, addr))
            .collect()
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap()
    }

    /// Polls `done` every 20 ms for up to `within`; panics naming `what`.
    pub async fn wait_for(&self, what: &str, within: Duration, done: impl Fn(&Self) -> bool) {
        let deadline = Instant::now() + within;
        while !done(self) {
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; calls {:?}, connections {:?}, sent {:?}, acks {:?}",
                self.calls(),
                self.connections(),
                self.sent(),
                self.acks()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits until a connection is live (its `hello` sent).
    pub async fn wait_live(&self) {
        self.wait_for("a live connection", Duration::from_secs(20), |d| {
            d.live_conn().is_some()
        })
        .await;
    }

    /// The live connection's index.
    pub fn live_conn(&self) -> Option<usize> {
        self.state().live.as_ref().map(|l| l.conn)
    }

    /// Posts `text` by `user` in `channel` (`C…` a channel, `D…` a direct
    /// message, `G…` a private channel) as a `message` event with `extra`
    /// fields merged in (`null` removes one); its `ts`.
    pub fn post_with(&self, channel: &str, user: &str, text: &str, extra: Value) -> String {
        let ts = self.state().ts();
        let channel_type = match channel.chars().next() {
            Some('D') => "im",
            Some('G') => "group",
            _ => "channel",
        };
        let mut event = json!({
            "type": "message", "channel": channel, "user": user, "text": text, "ts": ts,
            "event_ts": ts, "channel_type": channel_type, "team": "T0TEST",
            "blocks": [],
        });
        if let (Some(event), Some(extra)) = (event.as_object_mut(), extra.as_object()) {
            for (key, value) in extra {
                if value.is_null() {
                    event.remove(key);
                } else {
                    event.insert(key.clone(), value.clone());
                }
            }
        }
        self.event(event);
        ts
    }

    /// A plain message by a person; its `ts`.
    pub fn post(&self, channel: &str, user: &str, text: &str) -> String {
        self.post_with(channel, user, text, json!({}))
    }

    /// A reply in the thread under `thread_ts`; its `ts`.
    pub fn post_in_thread(&self, channel: &str, thread_ts: &str, user: &str, text: &str) -> String {
        self.post_with(
            channel,
            user,
            text,
            json!({"thread_ts": thread_ts, "parent_user_id": user}),
        )
    }

    /// Delivers `event` in a new `events_api` envelope; the event id.
    pub fn event(&self, event: Value) -> String {
        let event_id = format!("Ev{:08}", self.state().next());
        let payload = json!({
            "token": "verification-token-unused", "team_id": "T0TEST", "api_app_id": APP_ID,
            "event": event, "type": "event_callback", "event_id": event_id,
            "event_time": 1_700_000_000, "authorizations": [{"team_id": "T0TEST",
            "user_id": BOT_USER, "is_bot": true}], "is_ext_shared_channel": false,
        });
        deliver(&self.state, payload, 0, "");
        event_id
    }

    /// Delivers the event of the first envelope carrying `event_id` again,
    /// as Slack's retry `retry_attempt` (reason `timeout`).
    pub fn redeliver(&self, event_id: &str, retry_attempt: u64) {
        let payload = self.payload_of(event_id);
        deliver(&self.state, payload, retry_attempt, "timeout");
    }

    fn payload_of(&self, event_id: &str) -> Value {
        self.state()
            .payloads
            .get(event_id)
            .cloned()
            .expect("an event sent before")
    }

    /// Sends an envelope of another type (`slash_commands`, `interactive`).
    pub fn other_envelope(&self, kind: &str) -> String {
        let id = format!("env-other-{}", self.state().next());
        let envelope = json!({"envelope_id": id, "type": kind,
            "payload": {"command": "/nanoclaw", "text": "x"},
            "accepts_response_payload": true});
        transmit(&self.state, envelope);
        id
    }

    /// A `disconnect` envelope with `reason` on the live connection.
    pub fn disconnect(&self, reason: &str) {
        let state = self.state();
        let live = state.live.as_ref().expect("a live connection");
        let _ = live.tx.send(Command::Send(json!({"type": "disconnect",
            "reason": reason, "debug_info": {"host": "applink-test-1"}})));
    }

    /// Drops the live connection abruptly (no close frame).
    pub fn drop_live(&self) {
        let mut state = self.state();
        let live = state.live.take().expect("a live connection to drop");
        let _ = live.tx.send(Command::Drop);
    }

    /// The live connection stops reading (so it answers no ping) and
    /// sending; it is no longer the one events go to.
    pub fn mute_live(&self) {
        let mut state = self.state();
        let live = state.live.take().expect("a live connection to mute");
        let _ = live.tx.send(Command::Mute);
    }

    /// Close every new connection right after `hello`.
    pub fn set_flap(&self, flap: bool) {
        self.state().flap = flap;
    }

    /// The next `n` `chat.postMessage` calls answer 429 (`Retry-After: 1`).
    pub fn throttle(&self, n: usize) {
        self.state().throttle = n;
    }

    /// Requests that came while a 429's second was not over.
    pub fn early(&self) -> usize {
        self.state().early
    }

    /// The next `n` Web API answers are a proxy's 502 page.
    pub fn bad_gateway(&self, n: usize) {
        self.state().bad_gateway = n;
    }

    pub fn calls(&self) -> Vec<Call> {
        self.state().calls.clone()
    }

    /// The `apps.connections.open` calls.
    pub fn opens(&self) -> Vec<Call> {
        self.calls()
            .into_iter()
            .filter(|c| c.method == "apps.connections.open")
            .collect()
    }

    pub fn connections(&self) -> Vec<Connection> {
        self.state().connections.clone()
    }

    pub fn sent(&self) -> Vec<Sent> {
        self.state().sent.clone()
    }

    pub fn acks(&self) -> Vec<Ack> {
        self.state().acks.clone()
    }

    /// Envelope ids that were not acknowledged within [`ACK_DEADLINE`].
    pub fn late(&self) -> Vec<String> {
        self.state().late.clone()
    }

    pub fn posts(&self) -> Vec<Post> {
        self.state().posts.clone()
    }

    /// Each sent envelope with how long its acknowledgement took (`None`:
    /// not acknowledged yet).
    pub fn ack_delays(&self) -> Vec<(Sent, Option<Duration>)> {
        let state = self.state();
        state
            .sent
            .iter()
            .map(|s| {
                let ack = state
                    .acks
                    .iter()
                    .find(|a| a.envelope_id == s.envelope_id)
                    .map(|a| a.at.saturating_duration_since(s.at));
                (s.clone(), ack)
            })
            .collect()
    }
}

/// Wraps `payload` in a new `events_api` envelope and sends it.
fn deliver(state: &Arc<Mutex<State>>, payload: Value, retry_attempt: u64, retry_reason: &str) {
    let id = format!("env-{}", state.lock().unwrap().next());
    let envelope = json!({
        "envelope_id": id, "payload": payload, "type": "events_api",
        "accepts_response_payload": false, "retry_attempt": retry_attempt,
        "retry_reason": retry_reason,
    });
    transmit(state, envelope);
}

/// Sends an envelope to the live connection, or queues it; an events_api
/// envelope not acknowledged in time is delivered again.
fn transmit(state: &Arc<Mutex<State>>, envelope: Value) {
    let mut s = state.lock().unwrap();
    let Some(live) = &s.live else {
        s.queued.push_back(envelope);
        return;
    };
    let conn = live.conn;
    let _ = live.tx.send(Command::Send(envelope.clone()));
    record_sent(state, &mut s, conn, envelope);
}

fn record_sent(state: &Arc<Mutex<State>>, s: &mut State, conn: usize, envelope: Value) {
    let id = envelope["envelope_id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let kind = envelope["type"].as_str().unwrap_or_default().to_string();
    let retry_attempt = envelope["retry_attempt"].as_u64().unwrap_or(0);
    s.sent.push(Sent {
        envelope_id: id.clone(),
        event_id: envelope["payload"]["event_id"].as_str().map(str::to_string),
        kind: kind.clone(),
        retry_attempt,
        conn,
        at: Instant::now(),
    });
    if let Some(event_id) = envelope["payload"]["event_id"].as_str() {
        s.payloads
            .entry(event_id.to_string())
            .or_insert_with(|| envelope["payload"].clone());
    }
    if kind != "events_api" {
        return;
    }
    let state = state.clone();
    tokio::spawn(async move {
        tokio::time::sleep(ACK_DEADLINE).await;
        let late = {
            let mut s = state.lock().unwrap();
            let late = !s.acked(&id);
            if late {
                s.late.push(id.clone());
            }
            late
        };
        if late && retry_attempt < 3 {
            deliver(
                &state,
                envelope["payload"].clone(),
                retry_attempt + 1,
                "timeout",
            );
        }
    });
}

/// One Socket Mode connection.
async fn serve_socket(stream: Box<dyn https::Stream>, state: Arc<Mutex<State>>) {
    let mut host = String::new();
    let mut uri = String::new();
    let tickets = state.clone();
    // The callback's type is tungstenite's, large error and all.
    #[allow(clippy::result_large_err)]
    let callback =
        |request: &WsRequest, response: WsResponse| -> Result<WsResponse, ErrorResponse> {
            host = request
                .headers()
                .get("host")
                .and_then(|h| h.to_str().ok())
                .unwrap_or_default()
                .to_string();
            uri = request.uri().to_string();
            let ticket = request
                .uri()
                .query()
                .unwrap_or_default()
                .split('&')
                .find_map(|pair| pair.strip_prefix("ticket="))
                .unwrap_or_default()
                .to_string();
            let mut s = tickets.lock().unwrap();
            match s.tickets.get_mut(&ticket) {
                Some(used) if !*used => {
                    *used = true;
                    Ok(response)
                }
                _ => {
                    let mut refusal = ErrorResponse::new(Some("invalid or used ticket".into()));
                    *refusal.status_mut() = http::StatusCode::UNAUTHORIZED;
                    Err(refusal)
                }
            }
        };
    let Ok(mut socket) = tokio_tungstenite::accept_hdr_async(stream, callback).await else {
        return;
    };
    let (tx, mut rx) = mpsc::unbounded_channel();
    let (conn, flap, queued) = {
        let mut s = state.lock().unwrap();
        let conn = s.connections.len();
        s.connections.push(Connection {
            host,
            uri,
            at: Instant::now(),
            client_close: None,
            ended: None,
        });
        (conn, s.flap, std::mem::take(&mut s.queued))
    };
    let hello = json!({"type": "hello", "num_connections": 1,
        "debug_info": {"host": "applink-test-1", "build_number": 1,
        "approximate_connection_time": 18060}, "connection_info": {"app_id": APP_ID}});
    if socket.send(Message::text(hello.to_string())).await.is_err() || flap {
        end(&state, conn);
        return;
    }
    {
        let mut s = state.lock().unwrap();
        s.live = Some(Live {
            conn,
            tx: tx.clone(),
        });
    }
    for envelope in queued {
        transmit(&state, envelope);
    }
    let mut muted = false;
    loop {
        if muted {
            // Reads nothing: pings go unanswered, and the client's close
            // frame too. Ends when the client drops the connection and
            // the double is dropped.
            match rx.recv().await {
                Some(_) => continue,
                None => break,
            }
        }
        tokio::select! {
            command = rx.recv() => match command {
                Some(Command::Send(payload)) => {
                    if socket.send(Message::text(payload.to_string())).await.is_err() {
                        break;
                    }
                }
                Some(Command::Mute) => muted = true,
                // Dropped without a close frame: the TCP connection just ends.
                Some(Command::Drop) | None => break,
            },
            message = socket.next() => match message {
                Some(Ok(Message::Text(text))) => {
                    let Ok(frame) = serde_json::from_str::<Value>(text.as_str()) else {
                        continue;
                    };
                    if let Some(id) = frame["envelope_id"].as_str() {
                        state.lock().unwrap().acks.push(Ack {
                            envelope_id: id.to_string(),
                            conn,
                            at: Instant::now(),
                            frame: frame.clone(),
                        });
                    }
                }
                Some(Ok(Message::Close(frame))) => {
                    state.lock().unwrap().connections[conn].client_close =
                        frame.map(|f| u16::from(f.code));
                    break;
                }
                Some(Ok(_)) => {}
                Some(Err(_)) | None => break,
            },
        }
    }
    end(&state, conn);
}

/// The connection is gone: it is no longer the live one.
fn end(state: &Mutex<State>, conn: usize) {
    let mut s = state.lock().unwrap();
    s.connections[conn].ended = Some(Instant::now());
    if s.live.as_ref().is_some_and(|l| l.conn == conn) {
        s.live = None;
    }
}

fn reply(status: u16, content_type: &str, body: String) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header("content-type", content_type)
        .body(Full::new(Bytes::from(body)))
        .unwrap()
}

fn json_reply(status: u16, body: Value) -> Response<Full<Bytes>> {
    reply(status, "application/json; charset=utf-8", body.to_string())
}

fn slack_error(code: &str) -> Response<Full<Bytes>> {
    json_reply(200, json!({"ok": false, "error": code}))
}

fn too_many() -> Response<Full<Bytes>> {
    let mut response = json_reply(429, json!({"ok": false, "error": "ratelimited"}));
    response
        .headers_mut()
        .insert("retry-after", http::HeaderValue::from_static("1"));
    response
}

async fn web_api(request: Request<Bytes>, state: Arc<Mutex<State>>) -> Response<Body> {
    let path = request.uri().path().to_string();
    let post = request.method() == http::Method::POST;
    let header = |name: &str| {
        request
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    let authorization = header("authorization");
    let content_type = header("content-type");
    let body = request.into_body();
    let now = Instant::now();
    let method = path.strip_prefix("/api/").unwrap_or(&path).to_string();
    let token = match authorization.strip_prefix("Bearer ") {
        Some(APP_TOKEN) => "app",
        Some(BOT_TOKEN) => "bot",
        Some(_) => "wrong",
        None => "none",
    };
    let mut s = state.lock().unwrap();
    s.calls.push(Call {
        method: method.clone(),
        token,
        at: now,
    });
    if s.bad_gateway > 0 {
        s.bad_gateway -= 1;
        return reply(
            502,
            "text/html",
            format!(
                "<html><head><title>502 Bad Gateway</title></head><body><h1>502 Bad \
                 Gateway</h1><p>upstream refused POST {path} (Authorization: \
                 {authorization})</p>{}</body></html>",
                "<!-- padding -->".repeat(20)
            ),
        );
    }
    if !post {
        return slack_error("invalid_request");
    }
    let bearer = |prefix: &str| authorization.starts_with(&format!("Bearer {prefix}"));
    let response = match method.as_str() {
        "apps.connections.open" => {
            if token != "app" {
                return slack_error(if bearer("xoxb-") || bearer("xoxp-") {
                    "not_allowed_token_type"
                } else {
                    "invalid_auth"
                });
            }
            let ticket = format!("ticket-{}", s.next());
            s.tickets.insert(ticket.clone(), false);
            json_reply(
                200,
                json!({"ok": true, "url": format!("wss://{SOCKET_HOST}/link/?ticket={ticket}&app_id={APP_ID}")}),
            )
        }
        "chat.postMessage" => {
            if token != "bot" {
                return slack_error(if bearer("xapp-") {
                    "not_allowed_token_type"
                } else {
                    "invalid_auth"
                });
            }
            if s.blocked_until.is_some_and(|u| u > now) {
                s.early += 1;
                return too_many();
            }
            if s.throttle > 0 {
                s.throttle -= 1;
                s.blocked_until = Some(now + Duration::from_secs(1));
                return too_many();
            }
            if !content_type.starts_with("application/json") {
                return slack_error("invalid_form_data");
            }
            let Ok(json) = serde_json::from_slice::<Value>(&body) else {
                return slack_error("invalid_json");
            };
            let channel = json["channel"].as_str().unwrap_or_default().to_string();
            let text = json["text"].as_str().unwrap_or_default().to_string();
            if channel == "C404" {
                return slack_error("channel_not_found");
            }
            if text.is_empty() {
                return slack_error("no_text");
            }
            if text.chars().count() > 40_000 {
                return slack_error("msg_too_long");
            }
            let ts = s.ts();
            s.posts.push(Post {
                channel: channel.clone(),
                body: json.clone(),
                at: now,
            });
            let mut message = json!({"type": "message", "text": text, "user": BOT_USER,
                "bot_id": BOT_ID, "app_id": APP_ID, "ts": ts, "team": "T0TEST"});
            if let Some(thread) = json["thread_ts"].as_str() {
                message["thread_ts"] = json!(thread);
            }
            drop(s);
            // Slack shows the app its own post as a message event.
            let mut event = message.clone();
            event["channel"] = json!(channel);
            event["event_ts"] = json!(ts);
            event["channel_type"] = json!(if channel.starts_with('D') {
                "im"
            } else {
                "channel"
            });
            let event_id = format!("Ev{:08}", state.lock().unwrap().next());
            let payload = json!({"team_id": "T0TEST", "api_app_id": APP_ID, "event": event,
                "type": "event_callback", "event_id": event_id, "event_time": 1_700_000_000});
            deliver(&state, payload, 0, "");
            json_reply(
                200,
                json!({"ok": true, "channel": channel, "ts": ts, "message": message}),
            )
        }
        _ => slack_error("unknown_method"),
    };
    response
}

/// The double, and mitmproxy in front of it (its CA made at start).
pub struct Stack {
    pub double: SlackDouble,
    pub proxy: PlatformProxy,
}

impl Stack {
    /// The double behind mitmproxy configured by `configure`; `None`
    /// (skipped) when mitmdump is missing.
    pub async fn start(configure: impl FnOnce(&mut MitmOptions)) -> Option<Stack> {
        let ca = TestCa::new("Slack test public CA");
        let double = SlackDouble::start(&ca).await;
        let proxy = PlatformProxy::start(&ca, double.routes(), configure)?;
        Some(Stack { double, proxy })
    }

    /// A client through mitmproxy trusting the public CA, and mitmproxy's
    /// CA only if `trust_proxy_ca`.
    pub fn client(&self, trust_proxy_ca: bool) -> HttpClient {
        self.proxy.client(trust_proxy_ca)
    }

    pub fn options(&self) -> SlackOptions {
        SlackOptions::default()
            .api_base(format!("https://{API_HOST}/api"))
            .receive_wait(Duration::from_secs(1))
    }

    pub fn transport(&self, trust_proxy_ca: bool) -> SlackTransport {
        self.transport_with(trust_proxy_ca, APP_TOKEN, BOT_TOKEN, self.options())
    }

    pub fn transport_with(
        &self,
        trust_proxy_ca: bool,
        app_token: &str,
        bot_token: &str,
        options: SlackOptions,
    ) -> SlackTransport {
        SlackTransport::new(
            self.client(trust_proxy_ca),
            SlackAppToken::new(app_token).unwrap(),
            SlackBotToken::new(bot_token).unwrap(),
            options,
        )
    }

    /// Starts the app's socket (its first `receive`) and waits for its connection.
    pub async fn connect(&self, app: &SlackTransport) {
        let (batch, ()) = tokio::join!(app.receive(), self.double.wait_live());
        assert_eq!(batch.unwrap(), Vec::<InboundMessage>::new());
    }
}
