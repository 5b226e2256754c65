//! A Discord double for the transport's tests: the REST API over HTTPS and
//! the Gateway (v10, JSON) over WSS, both on loopback with certificates from
//! a test CA, reached under made-up names that the test's proxy maps
//! ([`DiscordDouble::hosts`]), never through DNS.
//!
//! REST (`Authorization: Bot <TOKEN>` or 401):
//! - `GET /api/v10/gateway/bot`: `wss://gateway.discord.test`.
//! - `POST /api/v10/channels/{id}/messages`: recorded ([`DiscordDouble::posts`]);
//!   over 2000 characters or empty is refused (400) as Discord does; channel
//!   `404` is `Unknown Channel`. Rate limits: [`DiscordDouble::drain_bucket`]
//!   makes the next answer say `X-RateLimit-Remaining: 0`,
//!   `X-RateLimit-Reset-After: 1.000`; [`DiscordDouble::throttle`] answers
//!   429 with `retry_after: 1.0`. A request inside either window is answered
//!   429 again and counted ([`DiscordDouble::early`]).
//! - `POST /api/v10/channels/{id}/typing`: 204.
//! - [`DiscordDouble::bad_gateway`]: a proxy's 502 HTML page that echoes the
//!   request's `Authorization` header (for the masking tests).
//!
//! Gateway: Hello (op 10) with the configured interval; Identify (op 2)
//! checks the token (else close 4004) and starts a session (READY, `s` 1,
//! `resume_gateway_url` `wss://resume.gateway.discord.test`); Heartbeat
//! (op 1) is acknowledged (op 11) unless [`DiscordDouble::set_ack`] says
//! not; Resume (op 6) replays the session's events after `seq` (and as many
//! before it as [`DiscordDouble::set_replay_overlap`] says) then sends
//! RESUMED, or answers op 9 `false` for an unknown session. Each session
//! keeps its events in order, so a resume loses and repeats nothing.
//! Every client frame is recorded ([`DiscordDouble::frames`]), every
//! connection with the `Host` it asked for ([`DiscordDouble::connections`]).
//!
//! [`Stack`] puts it behind mitmproxy (the tests' driver, `nanoclaw_testkit::mitm`)
//! and makes transports whose client goes through it, trusting the
//! double's CA as the "public" root and, unless told not to, mitmproxy's.
#![allow(dead_code)]

use std::collections::HashMap;
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
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;

use nanoclaw_sandbox_core::channel::discord::{DiscordOptions, DiscordToken, DiscordTransport};
use nanoclaw_sandbox_core::channel::{ChannelTransport, InboundMessage};
use nanoclaw_sandbox_core::http::HttpClient;

use nanoclaw_testkit::ca::TestCa;

use crate::support::platform_proxy::PlatformProxy;
use nanoclaw_testkit::https::{self, Body, Server};
use nanoclaw_testkit::mitm::{MitmOptions, Route};

/// The bot token the double accepts (never to appear in an error).
pub const TOKEN: &str = "MTAxMjM0NTY3ODkw.GhIjKl.secret-TOKEN_value_0123456789";
/// Its secret part, which must not appear either.
pub const TOKEN_SECRET: &str = "secret-TOKEN_value_0123456789";
/// The REST API's host.
pub const API_HOST: &str = "discord.test";
/// The gateway `GET /gateway/bot` names.
pub const GATEWAY_HOST: &str = "gateway.discord.test";
/// The gateway READY names for resuming.
pub const RESUME_HOST: &str = "resume.gateway.discord.test";
/// The bot's own user id.
pub const BOT_ID: &str = "900000000000000001";
/// GUILD_MESSAGES | DIRECT_MESSAGES | MESSAGE_CONTENT.
pub const INTENTS: u64 = (1 << 9) | (1 << 12) | (1 << 15);
/// A guild the messages of [`DiscordDouble::post`] belong to.
pub const GUILD: &str = "700000000000000001";

/// A frame the client sent.
#[derive(Clone, Debug)]
pub struct Frame {
    /// Which connection (index into [`DiscordDouble::connections`]).
    pub conn: usize,
    pub op: u64,
    pub d: Value,
    pub at: Instant,
}

/// A gateway connection.
#[derive(Clone, Debug)]
pub struct Connection {
    /// The `Host` header of the upgrade.
    pub host: String,
    /// The request target (`/?v=10&encoding=json`).
    pub uri: String,
    pub at: Instant,
    /// The close code the client sent, if it sent a close frame.
    pub client_close: Option<u16>,
}

/// A control op the double sent (Hello, Reconnect, Invalid Session...).
#[derive(Clone, Debug)]
pub struct Sent {
    pub conn: usize,
    pub op: u64,
    pub at: Instant,
}

/// A created message.
#[derive(Clone, Debug)]
pub struct Post {
    pub channel: String,
    pub body: Value,
    pub at: Instant,
}

/// A REST request.
#[derive(Clone, Debug)]
pub struct Call {
    pub method: String,
    pub path: String,
    pub authorized: bool,
    pub at: Instant,
}

/// Who posts a message on the double.
#[derive(Clone, Debug)]
pub struct Author {
    pub id: &'static str,
    pub username: &'static str,
    pub bot: bool,
}

/// A person.
pub const ADA: Author = Author {
    id: "500000000000000005",
    username: "ada",
    bot: false,
};
/// Another bot.
pub const OTHER_BOT: Author = Author {
    id: "600000000000000006",
    username: "other-bot",
    bot: true,
};
/// This bot itself, with `bot` left out (the transport knows its id from READY).
pub const OURSELVES: Author = Author {
    id: BOT_ID,
    username: "nanoclaw-bot",
    bot: false,
};

/// The double, and mitmproxy in front of it (its CA made at start).
pub struct Stack {
    pub double: DiscordDouble,
    pub proxy: PlatformProxy,
}

impl Stack {
    /// The double saying Hello with `heartbeat_ms`, behind mitmproxy
    /// configured by `configure`; `None` (skipped) when mitmdump is missing.
    pub async fn start(
        heartbeat_ms: u64,
        configure: impl FnOnce(&mut MitmOptions),
    ) -> Option<Stack> {
        let ca = TestCa::new("Discord test public CA");
        let double = DiscordDouble::start(&ca, heartbeat_ms).await;
        let proxy = PlatformProxy::start(&ca, double.routes(), configure)?;
        Some(Stack { double, proxy })
    }

    /// A client through mitmproxy trusting the public CA, and mitmproxy's
    /// CA only if `trust_proxy_ca`.
    pub fn client(&self, trust_proxy_ca: bool) -> HttpClient {
        self.proxy.client(trust_proxy_ca)
    }

    pub fn options(&self) -> DiscordOptions {
        DiscordOptions::default()
            .api_base(format!("https://{API_HOST}/api/v10"))
            .receive_wait(Duration::from_secs(1))
    }

    pub fn transport(&self, trust_proxy_ca: bool) -> DiscordTransport {
        self.transport_with(trust_proxy_ca, TOKEN, self.options())
    }

    pub fn transport_with(
        &self,
        trust_proxy_ca: bool,
        token: &str,
        options: DiscordOptions,
    ) -> DiscordTransport {
        DiscordTransport::new(
            self.client(trust_proxy_ca),
            DiscordToken::new(token).unwrap(),
            options,
        )
    }

    /// Starts the bot's gateway (its first `receive`) and waits for its session.
    pub async fn connect(&self, bot: &DiscordTransport) {
        let (batch, ()) = tokio::join!(bot.receive(), self.double.wait_live());
        assert_eq!(batch.unwrap(), Vec::<InboundMessage>::new());
    }
}

enum Command {
    Send(Value),
    Drop,
}

struct Live {
    conn: usize,
    tx: mpsc::UnboundedSender<Command>,
    /// The session it identified or resumed, once it did.
    session: Option<String>,
}

struct State {
    heartbeat_ms: u64,
    ack: bool,
    /// Close every connection right after Hello (a flapping gateway).
    flap: bool,
    /// Each session's dispatches in order (`s` = index + 1).
    sessions: HashMap<String, Vec<Value>>,
    /// The session [`DiscordDouble::post`] adds to.
    current: Option<String>,
    live: Option<Live>,
    connections: Vec<Connection>,
    frames: Vec<Frame>,
    sent: Vec<Sent>,
    posts: Vec<Post>,
    calls: Vec<Call>,
    throttle: usize,
    drain_bucket: bool,
    bad_gateway: usize,
    /// Channel → until when its bucket is empty.
    blocked: HashMap<String, Instant>,
    early: usize,
    /// A resume replays this many events before `seq` too.
    overlap: usize,
    next_id: u64,
    next_session: u64,
}

/// The running double; its servers stop when it is dropped.
pub struct DiscordDouble {
    /// The Web API (stops when dropped).
    api: Server,
    /// The WebSocket endpoint (stops when dropped).
    gateway: Server,
    state: Arc<Mutex<State>>,
}

impl DiscordDouble {
    /// Both servers, with certificates from `ca`; Hello says `heartbeat_ms`.
    pub async fn start(ca: &TestCa, heartbeat_ms: u64) -> Self {
        let state = Arc::new(Mutex::new(State {
            heartbeat_ms,
            ack: true,
            flap: false,
            sessions: HashMap::new(),
            current: None,
            live: None,
            connections: Vec::new(),
            frames: Vec::new(),
            sent: Vec::new(),
            posts: Vec::new(),
            calls: Vec::new(),
            throttle: 0,
            drain_bucket: false,
            bad_gateway: 0,
            blocked: HashMap::new(),
            early: 0,
            overlap: 0,
            next_id: 1_000_000_000_000_000_000,
            next_session: 0,
        }));
        let api_state = state.clone();
        let api = Server::https(
            ca.server_config(&[API_HOST], &[b"h2", b"http/1.1"]),
            https::handler(move |request| rest(request, api_state.clone())),
        )
        .name("discord-api")
        .start()
        .await
        .unwrap();
        let gateway_state = state.clone();
        let gateway = Server::https(
            ca.server_config(&[GATEWAY_HOST, RESUME_HOST], &[b"http/1.1"]),
            https::connection(move |stream| serve_gateway(stream, gateway_state.clone())),
        )
        .name("discord-gateway")
        .start()
        .await
        .unwrap();
        DiscordDouble {
            api,
            gateway,
            state,
        }
    }

    /// Test name → loopback address, for the proxy.
    pub fn hosts(&self) -> Vec<(String, SocketAddr)> {
        vec![
            (API_HOST.into(), self.api.addr()),
            (GATEWAY_HOST.into(), self.gateway.addr()),
            (RESUME_HOST.into(), self.gateway.addr()),
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
                "timed out waiting for {what}; connections {:?}, frames {:?}",
                self.connections(),
                self.frames()
                    .iter()
                    .map(|f| (f.conn, f.op))
                    .collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits until a connection's session is up (READY or RESUMED sent).
    pub async fn wait_live(&self) {
        self.wait_for("a live session", Duration::from_secs(20), |d| {
            d.state().live.as_ref().is_some_and(|l| l.session.is_some())
        })
        .await;
    }

    /// The live connection's index, once its session is up.
    pub fn live_conn(&self) -> Option<usize> {
        let state = self.state();
        state
            .live
            .as_ref()
            .filter(|l| l.session.is_some())
            .map(|l| l.conn)
    }

    /// The session posts go to.
    pub fn current_session(&self) -> Option<String> {
        self.state().current.clone()
    }

    /// The current session's last sequence number.
    pub fn current_seq(&self) -> u64 {
        let state = self.state();
        state
            .current
            .as_ref()
            .map_or(0, |id| state.sessions[id].len() as u64)
    }

    /// Posts a message in `channel` (in [`GUILD`] unless `dm`) by `author`
    /// to the current session, sent at once if its connection is up; the
    /// message id.
    pub fn post(&self, channel: &str, dm: bool, author: &Author, text: &str) -> String {
        let mut state = self.state();
        let (id, event) = state.message_event(channel, dm, author, text);
        state.dispatch(event);
        id
    }

    /// Drops the live connection abruptly (no close frame), then adds
    /// these messages to its session unsent: only a resume can bring them.
    pub fn drop_with_missed(&self, channel: &str, texts: &[&str]) -> Vec<String> {
        let mut state = self.state();
        let live = state.live.take().expect("a live connection to drop");
        let _ = live.tx.send(Command::Drop);
        let session = state.current.clone().expect("a session");
        let mut ids = Vec::new();
        for text in texts {
            let (id, event) = state.message_event(channel, false, &ADA, text);
            state.append(&session, event);
            ids.push(id);
        }
        ids
    }

    /// Sends `payload` on the live connection (op 7, op 9, op 1...).
    pub fn send_op(&self, payload: Value) {
        let mut state = self.state();
        let conn = state.live.as_ref().expect("a live connection").conn;
        if let Some(op) = payload["op"].as_u64() {
            state.sent.push(Sent {
                conn,
                op,
                at: Instant::now(),
            });
        }
        let live = state.live.as_ref().unwrap();
        let _ = live.tx.send(Command::Send(payload));
    }

    /// Invalid Session (op 9): `resumable` or not (then the session is
    /// forgotten, so a resume would fail too).
    pub fn invalidate_session(&self, resumable: bool) {
        if !resumable {
            let mut state = self.state();
            if let Some(id) = state.current.take() {
                state.sessions.remove(&id);
            }
        }
        self.send_op(json!({"op": 9, "d": resumable}));
    }

    /// Resumes replay `n` events the client had already received too (a
    /// gateway delivering twice): the client must pass them on once.
    pub fn set_replay_overlap(&self, n: usize) {
        self.state().overlap = n;
    }

    /// Whether heartbeats are acknowledged.
    pub fn set_ack(&self, ack: bool) {
        self.state().ack = ack;
    }

    /// Close every new connection right after Hello.
    pub fn set_flap(&self, flap: bool) {
        self.state().flap = flap;
    }

    /// The next `n` message creations answer 429 (`retry_after` 1 s).
    pub fn throttle(&self, n: usize) {
        self.state().throttle = n;
    }

    /// The next message creation empties its bucket for 1 s.
    pub fn drain_bucket(&self) {
        self.state().drain_bucket = true;
    }

    /// The next `n` REST answers are a proxy's 502 page.
    pub fn bad_gateway(&self, n: usize) {
        self.state().bad_gateway = n;
    }

    /// Requests that came while their bucket was empty.
    pub fn early(&self) -> usize {
        self.state().early
    }

    pub fn frames(&self) -> Vec<Frame> {
        self.state().frames.clone()
    }

    /// The frames with this op.
    pub fn frames_op(&self, op: u64) -> Vec<Frame> {
        self.frames().into_iter().filter(|f| f.op == op).collect()
    }

    pub fn connections(&self) -> Vec<Connection> {
        self.state().connections.clone()
    }

    pub fn sent(&self) -> Vec<Sent> {
        self.state().sent.clone()
    }

    pub fn posts(&self) -> Vec<Post> {
        self.state().posts.clone()
    }

    pub fn calls(&self) -> Vec<Call> {
        self.state().calls.clone()
    }
}

impl State {
    fn message_event(
        &mut self,
        channel: &str,
        dm: bool,
        author: &Author,
        text: &str,
    ) -> (String, Value) {
        self.next_id += 1;
        let id = self.next_id.to_string();
        let mut author_json = json!({"id": author.id, "username": author.username,
            "discriminator": "0", "global_name": null, "avatar": null});
        if author.bot {
            author_json["bot"] = json!(true);
        }
        let mut d = json!({
            "id": id, "channel_id": channel, "author": author_json, "content": text,
            "timestamp": "2025-01-01T00:00:00.000000+00:00", "edited_timestamp": null,
            "tts": false, "mention_everyone": false, "mentions": [], "mention_roles": [],
            "attachments": [], "embeds": [], "pinned": false, "type": 0,
        });
        if !dm {
            d["guild_id"] = json!(GUILD);
        }
        (id, json!({"op": 0, "t": "MESSAGE_CREATE", "d": d}))
    }

    /// Adds a dispatch to `session` with the next sequence number; returns it.
    fn append(&mut self, session: &str, mut event: Value) -> Value {
        let log = self.sessions.get_mut(session).expect("a known session");
        event["s"] = json!(log.len() + 1);
        log.push(event.clone());
        event
    }

    /// Adds a dispatch to the current session and sends it if that
    /// session's connection is up.
    fn dispatch(&mut self, event: Value) {
        let session = self.current.clone().expect("a session to post to");
        let event = self.append(&session, event);
        if let Some(live) = &self.live {
            if live.session.as_deref() == Some(session.as_str()) {
                let _ = live.tx.send(Command::Send(event));
            }
        }
    }
}

/// One gateway connection.
async fn serve_gateway(stream: Box<dyn https::Stream>, state: Arc<Mutex<State>>) {
    let mut host = String::new();
    let mut uri = String::new();
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
            Ok(response)
        };
    let Ok(mut socket) = tokio_tungstenite::accept_hdr_async(stream, callback).await else {
        return;
    };
    let (tx, mut rx) = mpsc::unbounded_channel();
    let (conn, hello, flap) = {
        let mut s = state.lock().unwrap();
        let conn = s.connections.len();
        s.connections.push(Connection {
            host,
            uri,
            at: Instant::now(),
            client_close: None,
        });
        s.sent.push(Sent {
            conn,
            op: 10,
            at: Instant::now(),
        });
        s.live = Some(Live {
            conn,
            tx,
            session: None,
        });
        (
            conn,
            json!({"op": 10, "d": {"heartbeat_interval": s.heartbeat_ms}}),
            s.flap,
        )
    };
    if socket.send(Message::text(hello.to_string())).await.is_err() || flap {
        end(&state, conn);
        return;
    }
    loop {
        tokio::select! {
            command = rx.recv() => match command {
                Some(Command::Send(payload)) => {
                    if socket.send(Message::text(payload.to_string())).await.is_err() {
                        break;
                    }
                }
                // Dropped without a close frame: the TCP connection just ends.
                Some(Command::Drop) | None => break,
            },
            message = socket.next() => match message {
                Some(Ok(Message::Text(text))) => {
                    let Ok(frame) = serde_json::from_str::<Value>(text.as_str()) else {
                        continue;
                    };
                    let replies = handle(&state, conn, &frame);
                    for reply in replies {
                        let result = match reply {
                            Reply::Send(payload) => socket.send(Message::text(payload.to_string())).await,
                            Reply::Close(code, reason) => {
                                let frame = CloseFrame { code: CloseCode::from(code), reason: reason.into() };
                                let _ = socket.close(Some(frame)).await;
                                end(&state, conn);
                                return;
                            }
                        };
                        if result.is_err() {
                            break;
                        }
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
    if s.live.as_ref().is_some_and(|l| l.conn == conn) {
        s.live = None;
    }
}

enum Reply {
    Send(Value),
    Close(u16, &'static str),
}

/// Records a client frame and decides the answer.
fn handle(state: &Mutex<State>, conn: usize, frame: &Value) -> Vec<Reply> {
    let mut s = state.lock().unwrap();
    let op = frame["op"].as_u64().unwrap_or(u64::MAX);
    let d = frame["d"].clone();
    s.frames.push(Frame {
        conn,
        op,
        d: d.clone(),
        at: Instant::now(),
    });
    let is_live = s.live.as_ref().is_some_and(|l| l.conn == conn);
    match op {
        1 if s.ack => vec![Reply::Send(json!({"op": 11}))],
        2 => {
            if d["token"] != TOKEN {
                return vec![Reply::Close(4004, "Authentication failed.")];
            }
            s.next_session += 1;
            let id = format!("session-{}", s.next_session);
            s.sessions.insert(id.clone(), Vec::new());
            s.current = Some(id.clone());
            let ready = json!({"op": 0, "t": "READY", "d": {
                "v": 10, "session_id": id, "session_type": "normal",
                "resume_gateway_url": format!("wss://{RESUME_HOST}"),
                "user": {"id": BOT_ID, "username": "nanoclaw-bot", "bot": true},
                "guilds": [], "application": {"id": BOT_ID, "flags": 0},
            }});
            let ready = s.append(&id, ready);
            if is_live {
                s.live.as_mut().unwrap().session = Some(id);
            }
            vec![Reply::Send(ready)]
        }
        6 => {
            if d["token"] != TOKEN {
                return vec![Reply::Close(4004, "Authentication failed.")];
            }
            let id = d["session_id"].as_str().unwrap_or_default().to_string();
            let seq = d["seq"].as_u64().unwrap_or(0) as usize;
            let Some(log) = s.sessions.get(&id).filter(|log| seq <= log.len()) else {
                s.sent.push(Sent {
                    conn,
                    op: 9,
                    at: Instant::now(),
                });
                return vec![Reply::Send(json!({"op": 9, "d": false}))];
            };
            let from = seq.saturating_sub(s.overlap);
            let mut replies: Vec<Reply> = log[from..].iter().cloned().map(Reply::Send).collect();
            let resumed = s.append(&id, json!({"op": 0, "t": "RESUMED", "d": {}}));
            replies.push(Reply::Send(resumed));
            s.current = Some(id.clone());
            if is_live {
                s.live.as_mut().unwrap().session = Some(id);
            }
            replies
        }
        _ => Vec::new(),
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
    reply(status, "application/json", body.to_string())
}

fn too_many(wait: Duration) -> Response<Full<Bytes>> {
    let mut response = json_reply(
        429,
        json!({"message": "You are being rate limited.", "retry_after": wait.as_secs_f64(),
               "global": false}),
    );
    let headers = response.headers_mut();
    headers.insert("retry-after", wait.as_secs().max(1).into());
    headers.insert("x-ratelimit-scope", "user".parse().unwrap());
    response
}

async fn rest(request: Request<Bytes>, state: Arc<Mutex<State>>) -> Response<Body> {
    let method = request.method().to_string();
    let path = request.uri().path().to_string();
    let authorization = request
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let body = request.into_body();
    let json: Value = serde_json::from_slice(&body).unwrap_or_default();
    let now = Instant::now();
    let mut s = state.lock().unwrap();
    let authorized = authorization == format!("Bot {TOKEN}");
    s.calls.push(Call {
        method: method.clone(),
        path: path.clone(),
        authorized,
        at: now,
    });
    if !authorized {
        return json_reply(401, json!({"message": "401: Unauthorized", "code": 0}));
    }
    if s.bad_gateway > 0 {
        s.bad_gateway -= 1;
        return reply(
            502,
            "text/html",
            format!(
                "<html><head><title>502 Bad Gateway</title></head><body><h1>502 Bad \
                 Gateway</h1><p>upstream refused {method} {path} (Authorization: \
                 {authorization})</p>{}</body></html>",
                "<!-- padding -->".repeat(20)
            ),
        );
    }
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let response = match (method.as_str(), parts.as_slice()) {
        ("GET", ["api", "v10", "gateway", "bot"]) => json_reply(
            200,
            json!({"url": format!("wss://{GATEWAY_HOST}"), "shards": 1,
                   "session_start_limit": {"total": 1000, "remaining": 999,
                   "reset_after": 14_400_000, "max_concurrency": 1}}),
        ),
        ("POST", ["api", "v10", "channels", "404", _]) => {
            json_reply(404, json!({"message": "Unknown Channel", "code": 10003}))
        }
        ("POST", ["api", "v10", "channels", channel, "typing"]) => {
            let _ = channel;
            Response::builder()
                .status(204)
                .body(Full::new(Bytes::new()))
                .unwrap()
        }
        ("POST", ["api", "v10", "channels", channel, "messages"]) => {
            let channel = channel.to_string();
            if let Some(until) = s.blocked.get(&channel).copied().filter(|u| *u > now) {
                s.early += 1;
                return too_many(until - now);
            }
            if s.throttle > 0 {
                s.throttle -= 1;
                s.blocked.insert(channel, now + Duration::from_millis(1000));
                return too_many(Duration::from_secs(1));
            }
            let content = json["content"].as_str().unwrap_or_default();
            if content.is_empty() {
                return json_reply(
                    400,
                    json!({"message": "Cannot send an empty message", "code": 50006}),
                );
            }
            if content.chars().count() > 2000 {
                return json_reply(400, json!({"message": "Invalid Form Body", "code": 50035}));
            }
            s.posts.push(Post {
                channel: channel.clone(),
                body: json.clone(),
                at: now,
            });
            s.next_id += 1;
            let remaining = if std::mem::take(&mut s.drain_bucket) {
                s.blocked
                    .insert(channel.clone(), now + Duration::from_millis(1000));
                0
            } else {
                4
            };
            let mut response = json_reply(
                200,
                json!({"id": s.next_id.to_string(), "channel_id": channel, "content": content,
                       "type": if json.get("message_reference").is_some() { 19 } else { 0 },
                       "author": {"id": BOT_ID, "username": "nanoclaw-bot", "bot": true}}),
            );
            let headers = response.headers_mut();
            headers.insert("x-ratelimit-limit", 5.into());
            headers.insert("x-ratelimit-remaining", remaining.into());
            headers.insert("x-ratelimit-reset-after", "1.000".parse().unwrap());
            headers.insert("x-ratelimit-bucket", "d00d".parse().unwrap());
            response
        }
        _ => json_reply(404, json!({"message": "404: Not Found", "code": 0})),
    };
    response
}
