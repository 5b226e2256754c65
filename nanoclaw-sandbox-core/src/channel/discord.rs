//! Discord over the proxy-aware client: the Gateway (API v10, JSON encoding)
//! in, REST `POST /channels/{id}/messages` out.
//!
//! The Gateway is a WebSocket opened with [`HttpClient::websocket`], so
//! inside a Docker Sandbox it is tunnelled through the proxy (CONNECT, then
//! TLS trusting the proxy's CA) like every request. A background task (started
//! by the first [`receive`](ChannelTransport::receive), stopped when the
//! transport is dropped) keeps the connection:
//!
//! - **Hello → heartbeats**: every `heartbeat_interval`, the first one after
//!   `interval × jitter` (jitter in \[0, 1)), each carrying the last sequence
//!   number; a heartbeat the gateway did not acknowledge (op 11) by the next
//!   one marks a zombie connection, which is closed and resumed.
//! - **Identify** (op 2) with [`DEFAULT_INTENTS`] (`GUILD_MESSAGES`,
//!   `DIRECT_MESSAGES`, `MESSAGE_CONTENT`), or **Resume** (op 6 with the
//!   `session_id` and last sequence number, to the `resume_gateway_url` READY
//!   named) after a dropped socket, a Reconnect (op 7) or a resumable Invalid
//!   Session (op 9 `d: true`); a non-resumable one re-identifies after a
//!   random 1–5 s wait. Resuming replays the events missed meanwhile.
//! - **Close codes** that reconnecting cannot fix (4004 authentication
//!   failed, 4010–4014 shard, version and intent errors) stop the task; every
//!   later `receive` returns that error with the fix.
//! - **Backoff**: the first reconnect after a stable session is immediate,
//!   each further one in a row waits longer (0.5 s doubling up to 60 s,
//!   jittered), so a gateway that keeps dropping the socket is not hammered.
//!
//! `MESSAGE_CREATE` events with text become [`InboundMessage`]s (authors that
//! are bots, this one included, are ignored), held until
//! [`acknowledge`](ChannelTransport::acknowledge): at least once, as the trait
//! says, and once only across resumes (message ids are remembered).
//!
//! [`send`](ChannelTransport::send) splits text at [`MAX_MESSAGE_CHARS`]
//! (on character boundaries, preferring newlines), honours the rate-limit
//! headers (waits out `X-RateLimit-Reset-After` when
//! `X-RateLimit-Remaining` is 0) and retries a `429` after its `retry_after`
//! (at most three times). Replies carry `allowed_mentions: {parse: []}`: an
//! agent's text can name `@everyone` or a role without pinging anyone.
//!
//! The bot token travels only in the `Authorization` header (marked
//! sensitive) and the Identify/Resume frames: [`DiscordToken`] hides it from
//! `Debug`, errors mask it as `***`, and nothing logs a frame.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http::header::{AUTHORIZATION, CONTENT_TYPE, USER_AGENT};
use http::{HeaderMap, HeaderValue, Method, Request};
use http_body_util::Full;
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::time::Instant;

use super::backoff::{backoff, random_fraction};
use super::inbox::Inbox;
use super::socket_task::SocketTask;
use super::text::split_text;
use super::{ChannelError, ChannelTransport, ChatId, InboundMessage, OutboundMessage};
use crate::http::tungstenite::protocol::frame::coding::CloseCode;
use crate::http::tungstenite::protocol::CloseFrame;
use crate::http::tungstenite::Message;
use crate::http::{HttpClient, HttpError, WebSocket};

/// Where the REST API lives (the version included).
pub const DEFAULT_API_BASE: &str = "https://discord.com/api/v10";

/// The query every Gateway URL is opened with: API v10, JSON frames.
pub const GATEWAY_QUERY: &str = "v=10&encoding=json";

/// The most characters one message may carry.
pub const MAX_MESSAGE_CHARS: usize = 2000;

/// Gateway intent: messages in servers' channels.
pub const GUILD_MESSAGES: u64 = 1 << 9;
/// Gateway intent: direct messages.
pub const DIRECT_MESSAGES: u64 = 1 << 12;
/// Gateway intent (privileged: enable it in the Developer Portal): the
/// messages' text. Without it `content` arrives empty except in DMs and
/// mentions.
pub const MESSAGE_CONTENT: u64 = 1 << 15;
/// The intents a transport identifies with unless told otherwise.
pub const DEFAULT_INTENTS: u64 = GUILD_MESSAGES | DIRECT_MESSAGES | MESSAGE_CONTENT;

/// How long one `receive` waits for news by default.
pub const DEFAULT_RECEIVE_WAIT: Duration = Duration::from_secs(25);

const CHANNEL: &str = "discord";

/// How many times a call answered `429 Too Many Requests` is retried.
const MAX_RETRIES: u32 = 3;
/// The longest rate-limit wait honoured, whatever the API asks.
const MAX_RATE_WAIT: Duration = Duration::from_secs(60);
/// The wait when a 429 names none.
const DEFAULT_RETRY_WAIT: Duration = Duration::from_secs(1);
/// How much of a non-JSON body an error shows, in characters.
const BODY_START_CHARS: usize = 200;
/// How long the gateway may take to say Hello after the upgrade.
const HELLO_TIMEOUT: Duration = Duration::from_secs(20);
/// How long one frame may take to send, or our close to complete.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);
/// A session that lasted this long resets the reconnect backoff.
const STABLE_AFTER: Duration = Duration::from_secs(30);
/// How many message ids are remembered to drop re-deliveries.
const RECENT_IDS: usize = 1024;
/// Our close code when we reconnect: not 1000/1001, which would end the
/// session on Discord's side and make it impossible to resume.
const RECONNECT_CLOSE: u16 = 4000;

/// Why a bot token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    /// Empty, or not three dot-separated base64url parts as the Developer
    /// Portal hands out.
    #[error("the Discord bot token is malformed: expected three dot-separated parts as the Developer Portal (Bot → Token) gives it (the value is not shown)")]
    Malformed,
}

/// A bot token (`MTA...Nw.GhIjKl.abc...`); never shown.
#[derive(Clone, PartialEq, Eq)]
pub struct DiscordToken(String);

impl DiscordToken {
    /// Checks the shape (three non-empty base64url parts joined by dots; a
    /// leading `Bot ` is dropped) without revealing the value.
    pub fn new(token: impl Into<String>) -> Result<Self, TokenError> {
        let token = token.into();
        let token = token.trim();
        let token = token.strip_prefix("Bot ").unwrap_or(token).trim();
        let parts: Vec<&str> = token.split('.').collect();
        let well_formed = parts.len() == 3
            && parts.iter().all(|part| {
                !part.is_empty()
                    && part
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            });
        if well_formed {
            Ok(DiscordToken(token.to_string()))
        } else {
            Err(TokenError::Malformed)
        }
    }

    /// `text` with the token (and its secret last part) replaced by `***`.
    fn mask(&self, text: &str) -> String {
        let mut masked = text.replace(&self.0, "***");
        if let Some(secret) = self.0.rsplit('.').next() {
            // A short part would mask ordinary words; real ones are 27+ characters.
            if secret.len() >= 8 {
                masked = masked.replace(secret, "***");
            }
        }
        masked
    }
}

impl fmt::Debug for DiscordToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DiscordToken(***)")
    }
}

/// Where the transport connects and what it asks for.
#[derive(Debug, Clone)]
#[must_use]
pub struct DiscordOptions {
    api_base: String,
    gateway_url: Option<String>,
    intents: u64,
    receive_wait: Duration,
}

impl Default for DiscordOptions {
    /// The public API, the gateway it names, [`DEFAULT_INTENTS`], 25 s waits.
    fn default() -> Self {
        DiscordOptions {
            api_base: DEFAULT_API_BASE.to_string(),
            gateway_url: None,
            intents: DEFAULT_INTENTS,
            receive_wait: DEFAULT_RECEIVE_WAIT,
        }
    }
}

impl DiscordOptions {
    /// Another REST base, version included (`https://discord.com/api/v10`;
    /// a test double).
    pub fn api_base(mut self, base: impl Into<String>) -> Self {
        self.api_base = base.into().trim_end_matches('/').to_string();
        self
    }

    /// The Gateway URL (`wss://gateway.discord.gg`) instead of asking
    /// `GET /gateway/bot` for it. [`GATEWAY_QUERY`] is added unless the URL
    /// has a query.
    pub fn gateway_url(mut self, url: impl Into<String>) -> Self {
        self.gateway_url = Some(url.into());
        self
    }

    /// The Gateway intents to identify with (default [`DEFAULT_INTENTS`]).
    pub fn intents(mut self, intents: u64) -> Self {
        self.intents = intents;
        self
    }

    /// How long one `receive` waits for a message before it returns an
    /// empty batch (default 25 s).
    pub fn receive_wait(mut self, wait: Duration) -> Self {
        self.receive_wait = wait;
        self
    }
}

/// A Discord bot as a [`ChannelTransport`]; see the [module documentation](self).
pub struct DiscordTransport {
    shared: Arc<Shared>,
    gateway: SocketTask,
}

/// What the transport and its gateway task share.
struct Shared {
    client: HttpClient,
    token: DiscordToken,
    options: DiscordOptions,
    inbox: Inbox,
    limits: Mutex<Limits>,
}

/// Until when requests must wait: per bucket (our key: the route and
/// channel), and for everything after a global 429.
#[derive(Default)]
struct Limits {
    buckets: HashMap<String, Instant>,
    global: Option<Instant>,
}

/// One REST call's outcome when it failed: throttled (retry after the wait)
/// or failed for good.
enum Failure {
    Throttled(ChannelError),
    Final(ChannelError),
}

impl DiscordTransport {
    /// A bot on `options`' endpoints, calling through `client`.
    pub fn new(client: HttpClient, token: DiscordToken, options: DiscordOptions) -> Self {
        DiscordTransport {
            shared: Arc::new(Shared {
                client,
                token,
                options,
                inbox: Inbox::new(RECENT_IDS),
                limits: Mutex::new(Limits::default()),
            }),
            gateway: SocketTask::default(),
        }
    }

    /// Starts the gateway task unless it runs, or stopped for good (a
    /// task that ended without a fatal error, it panicked, is restarted).
    fn start_gateway(&self) {
        self.gateway.ensure(
            || self.shared.inbox.stopped_for_good(),
            || run_gateway(self.shared.clone()),
        );
    }
}

impl fmt::Debug for DiscordTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DiscordTransport")
            .field("client", &self.shared.client)
            .field("token", &self.shared.token)
            .field("options", &self.shared.options)
            .finish_non_exhaustive()
    }
}

impl Shared {
    fn limits(&self) -> MutexGuard<'_, Limits> {
        self.limits.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Keeps a message for `receive`, unless it was seen already.
    fn deliver(&self, message: InboundMessage) {
        let key = message.message_id.clone();
        if !self.inbox.deliver(message, &[key]) {
            tracing::debug!(
                channel = CHANNEL,
                "message delivered again by the gateway; dropped"
            );
        }
    }

    fn http_error(&self, source: HttpError) -> ChannelError {
        ChannelError::Http {
            channel: CHANNEL,
            source,
        }
    }

    fn gateway_error(&self, close_code: Option<u16>, reason: &str) -> ChannelError {
        ChannelError::Gateway {
            channel: CHANNEL,
            close_code,
            reason: self.token.mask(reason),
        }
    }

    /// The first [`BODY_START_CHARS`] characters of a body, lossy UTF-8,
    /// masked before it is cut so no part of the token survives the cut.
    fn body_start(&self, body: &[u8]) -> String {
        let head = &body[..body.len().min(16 * 1024)];
        self.token
            .mask(&String::from_utf8_lossy(head))
            .chars()
            .take(BODY_START_CHARS)
            .collect()
    }

    /// Calls the REST API, waiting out rate limits first and retrying
    /// `429 Too Many Requests` after its `retry_after` ([`MAX_RETRIES`] times).
    /// The JSON answer, `None` for an empty one (`204 No Content`).
    async fn rest(
        &self,
        method: &'static str,
        verb: Method,
        path: &str,
        bucket: &str,
        body: Option<&Value>,
    ) -> Result<Option<Value>, ChannelError> {
        let mut retries = 0;
        loop {
            self.wait_for_limits(bucket).await;
            match self
                .rest_once(method, verb.clone(), path, bucket, body)
                .await
            {
                Ok(answer) => return Ok(answer),
                Err(Failure::Throttled(_)) if retries < MAX_RETRIES => {
                    retries += 1;
                    tracing::debug!(
                        channel = CHANNEL,
                        method,
                        retry = retries,
                        "rate limited; retrying"
                    );
                }
                Err(Failure::Throttled(error) | Failure::Final(error)) => return Err(error),
            }
        }
    }

    async fn rest_once(
        &self,
        method: &'static str,
        verb: Method,
        path: &str,
        bucket: &str,
        body: Option<&Value>,
    ) -> Result<Option<Value>, Failure> {
        let url = format!("{}{path}", self.options.api_base);
        let mut authorization =
            HeaderValue::from_str(&format!("Bot {}", self.token.0)).map_err(|_| {
                Failure::Final(ChannelError::Decode {
                    channel: CHANNEL,
                    method,
                    reason: "the bot token cannot be sent in a header".into(),
                })
            })?;
        authorization.set_sensitive(true);
        let mut request = Request::builder()
            .method(verb)
            .uri(url.as_str())
            .header(AUTHORIZATION, authorization)
            .header(USER_AGENT, user_agent());
        let payload = match body {
            Some(body) => {
                request = request.header(CONTENT_TYPE, "application/json");
                Bytes::from(body.to_string())
            }
            None => Bytes::new(),
        };
        let request = request.body(Full::new(payload)).map_err(|e| {
            Failure::Final(self.http_error(HttpError::InvalidRequest {
                host: host_of(&url),
                reason: e.to_string(),
            }))
        })?;
        let response = self
            .client
            .send_buffered(request)
            .await
            .map_err(|source| Failure::Final(self.http_error(source)))?;
        let status = response.status().as_u16();
        self.note_limits(bucket, response.headers());
        let body = response.body();
        let not_json = || {
            Failure::Final(ChannelError::NotJson {
                channel: CHANNEL,
                method,
                status,
                body_start: self.body_start(body),
            })
        };
        if response.status().is_success() && body.iter().all(u8::is_ascii_whitespace) {
            return Ok(None);
        }
        let Ok(json) = serde_json::from_slice::<Value>(body) else {
            return Err(not_json());
        };
        if response.status().is_success() {
            return Ok(Some(json));
        }
        let error = ChannelError::Api {
            channel: CHANNEL,
            method,
            status,
            description: self.token.mask(&describe(&json)),
        };
        if status == 429 {
            let wait = json["retry_after"]
                .as_f64()
                .or_else(|| header_f64(response.headers(), "retry-after"))
                .and_then(seconds)
                .unwrap_or(DEFAULT_RETRY_WAIT);
            let global = json["global"].as_bool() == Some(true)
                || response
                    .headers()
                    .get("x-ratelimit-global")
                    .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"true"));
            let until = Instant::now() + wait;
            let mut limits = self.limits();
            if global {
                limits.global = Some(until);
            } else {
                limits.buckets.insert(bucket.to_string(), until);
            }
            return Err(Failure::Throttled(error));
        }
        Err(Failure::Final(error))
    }

    /// `X-RateLimit-Remaining: 0` blocks the bucket for `X-RateLimit-Reset-After` seconds.
    fn note_limits(&self, bucket: &str, headers: &HeaderMap) {
        let remaining = headers
            .get("x-ratelimit-remaining")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        if remaining != Some(0) {
            return;
        }
        let wait = header_f64(headers, "x-ratelimit-reset-after")
            .and_then(seconds)
            .unwrap_or(DEFAULT_RETRY_WAIT);
        self.limits()
            .buckets
            .insert(bucket.to_string(), Instant::now() + wait);
    }

    /// Sleeps until neither the bucket nor a global limit blocks.
    async fn wait_for_limits(&self, bucket: &str) {
        let until = {
            let mut limits = self.limits();
            let now = Instant::now();
            limits.buckets.retain(|_, until| *until > now);
            if limits.global.is_some_and(|g| g <= now) {
                limits.global = None;
            }
            limits.buckets.get(bucket).copied().max(limits.global)
        };
        if let Some(until) = until {
            tracing::debug!(
                channel = CHANNEL,
                wait_ms = until.saturating_duration_since(Instant::now()).as_millis() as u64,
                "waiting out a rate limit"
            );
            tokio::time::sleep_until(until).await;
        }
    }
}

/// `{message, code}` as one line.
fn describe(json: &Value) -> String {
    match (json["message"].as_str(), json["code"].as_i64()) {
        (Some(message), Some(code)) => format!("{message} (code {code})"),
        (Some(message), None) => message.to_string(),
        _ => "no message given".to_string(),
    }
}

fn header_f64(headers: &HeaderMap, name: &str) -> Option<f64> {
    headers.get(name)?.to_str().ok()?.trim().parse().ok()
}

/// A wait in (fractional) seconds, at most [`MAX_RATE_WAIT`].
fn seconds(value: f64) -> Option<Duration> {
    (value.is_finite() && value >= 0.0)
        .then(|| Duration::from_secs_f64(value.min(MAX_RATE_WAIT.as_secs_f64())))
}

/// `host:port` of a URL, for errors (never its path).
fn host_of(url: &str) -> String {
    url::Url::parse(url)
        .ok()
        .and_then(|u| {
            let host = u.host_str()?.to_string();
            Some(match u.port_or_known_default() {
                Some(port) => format!("{host}:{port}"),
                None => host,
            })
        })
        .unwrap_or_else(|| "the Discord API".into())
}

/// The `User-Agent` Discord asks bots to send: `DiscordBot (URL, version)`.
fn user_agent() -> &'static str {
    concat!(
        "DiscordBot (",
        env!("CARGO_PKG_REPOSITORY"),
        ", ",
        env!("CARGO_PKG_VERSION"),
        ")"
    )
}

/// A channel id is a snowflake: digits only (it goes into a path).
fn channel_path(chat: &ChatId, api_base: &str) -> Result<String, ChannelError> {
    if !chat.0.is_empty() && chat.0.bytes().all(|b| b.is_ascii_digit()) {
        Ok(chat.0.clone())
    } else {
        Err(ChannelError::Http {
            channel: CHANNEL,
            source: HttpError::InvalidRequest {
                host: host_of(api_base),
                reason: format!(
                    "`{}` is not a Discord channel id (a snowflake: digits only)",
                    chat.0
                ),
            },
        })
    }
}

/// `base` with [`GATEWAY_QUERY`], unless it has a query already.
fn gateway_query(base: &str) -> String {
    if base.contains('?') {
        base.to_string()
    } else {
        format!("{}/?{GATEWAY_QUERY}", base.trim_end_matches('/'))
    }
}

#[async_trait]
impl ChannelTransport for DiscordTransport {
    fn name(&self) -> &'static str {
        CHANNEL
    }

    async fn receive(&self) -> Result<Vec<InboundMessage>, ChannelError> {
        self.start_gateway();
        self.shared
            .inbox
            .next_batch(self.shared.options.receive_wait)
            .await
    }

    async fn acknowledge(&self) -> Result<(), ChannelError> {
        self.shared.inbox.acknowledge();
        Ok(())
    }

    async fn send(&self, message: &OutboundMessage) -> Result<(), ChannelError> {
        let channel = channel_path(&message.chat, &self.shared.options.api_base)?;
        let path = format!("/channels/{channel}/messages");
        let bucket = format!("messages:{channel}");
        for (index, piece) in split_text(&message.text, MAX_MESSAGE_CHARS)
            .into_iter()
            .enumerate()
        {
            let mut body = json!({ "content": piece, "allowed_mentions": { "parse": [] } });
            if let (0, Some(reply_to)) = (index, &message.reply_to) {
                body["message_reference"] =
                    json!({ "message_id": reply_to, "fail_if_not_exists": false });
            }
            self.shared
                .rest("createMessage", Method::POST, &path, &bucket, Some(&body))
                .await?;
        }
        Ok(())
    }

    async fn typing(&self, chat: &ChatId) -> Result<(), ChannelError> {
        let channel = channel_path(chat, &self.shared.options.api_base)?;
        let path = format!("/channels/{channel}/typing");
        self.shared
            .rest(
                "triggerTypingIndicator",
                Method::POST,
                &path,
                &format!("typing:{channel}"),
                None,
            )
            .await?;
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// The gateway task.

/// What a resume needs.
struct Session {
    id: String,
    /// READY's `resume_gateway_url`; `None` after it failed to connect
    /// (then the main gateway URL is tried).
    resume_url: Option<String>,
}

/// What the task keeps across connections.
struct Link {
    session: Option<Session>,
    /// The last sequence number received in this session.
    seq: Option<u64>,
    /// The gateway URL: configured, or fetched from `GET /gateway/bot`.
    gateway_url: Option<String>,
    /// The bot's own user id (from READY): its messages are ignored.
    self_id: Option<String>,
}

/// What to do after a connection ended.
enum Next {
    /// Open a new connection and resume the session.
    Resume,
    /// Forget the session, wait, then identify afresh.
    Identify { wait: Duration },
    /// Give up: the error says why.
    Stop,
}

/// How a connection ended.
struct Ended {
    next: Next,
    /// READY or RESUMED arrived on it.
    ready: bool,
    /// What to tell `receive` (`Next::Stop`: for good).
    report: Option<ChannelError>,
}

/// One frame from the gateway, as far as the task cares.
enum Event {
    Payload(Payload),
    Closed(Option<(u16, String)>),
    Other,
}

#[derive(Deserialize)]
struct Payload {
    op: u8,
    #[serde(default)]
    d: Value,
    s: Option<u64>,
    t: Option<String>,
}

#[derive(Deserialize)]
struct GatewayBot {
    url: String,
    session_start_limit: Option<SessionStartLimit>,
}

#[derive(Deserialize)]
struct SessionStartLimit {
    remaining: u64,
    /// Milliseconds.
    reset_after: u64,
}

#[derive(Deserialize)]
struct Ready {
    session_id: String,
    resume_gateway_url: Option<String>,
    user: Author,
}

#[derive(Deserialize)]
struct MessageCreate {
    id: String,
    channel_id: String,
    guild_id: Option<String>,
    author: Author,
    #[serde(default)]
    content: String,
    #[serde(rename = "type", default)]
    kind: u64,
}

#[derive(Deserialize)]
struct Author {
    id: String,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    bot: bool,
}

impl MessageCreate {
    /// Text from people: bots (this one too) and system messages are dropped.
    fn into_inbound(self, self_id: Option<&str>) -> Option<InboundMessage> {
        let from_us = self_id.is_some_and(|id| id == self.author.id);
        // 0: a message, 19: a reply; the rest are joins, pins, boosts...
        let text = matches!(self.kind, 0 | 19) && !self.content.is_empty();
        if self.author.bot || from_us || !text {
            return None;
        }
        Some(InboundMessage {
            chat: ChatId(self.channel_id),
            message_id: self.id,
            sender: self.author.username,
            text: self.content,
            group: self.guild_id.is_some(),
        })
    }
}

async fn run_gateway(shared: Arc<Shared>) {
    let mut link = Link {
        session: None,
        seq: None,
        gateway_url: None,
        self_id: None,
    };
    let mut failures: u32 = 0;
    let mut wait = Duration::ZERO;
    loop {
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
        let started = Instant::now();
        let ended = link.connect_once(&shared).await;
        let stop = matches!(ended.next, Next::Stop);
        if let Some(error) = ended.report {
            if stop {
                tracing::error!(channel = CHANNEL, error = %error, "the gateway refused this bot; not reconnecting");
            } else {
                tracing::warn!(channel = CHANNEL, error = %error, "gateway connection failed");
            }
            shared.inbox.report(error, stop);
        }
        if ended.ready && started.elapsed() >= STABLE_AFTER {
            failures = 0;
        }
        let pause = backoff(failures);
        failures = failures.saturating_add(1);
        wait = match ended.next {
            Next::Stop => return,
            Next::Resume => pause,
            Next::Identify { wait } => {
                link.session = None;
                link.seq = None;
                pause.max(wait)
            }
        };
    }
}

impl Next {
    fn identify_now() -> Self {
        Next::Identify {
            wait: Duration::ZERO,
        }
    }
}

impl Ended {
    fn failed(next: Next, error: ChannelError) -> Self {
        Ended {
            next,
            ready: false,
            report: Some(error),
        }
    }
}

impl Link {
    /// Resume when there is a session, else identify.
    fn reconnect(&self) -> Next {
        if self.session.is_some() {
            Next::Resume
        } else {
            Next::Identify {
                wait: Duration::ZERO,
            }
        }
    }

    /// The gateway URL to identify on (cached; `GET /gateway/bot` when
    /// neither configured nor fetched yet).
    async fn gateway_url(&mut self, shared: &Shared) -> Result<String, Ended> {
        if let Some(url) = shared
            .options
            .gateway_url
            .as_ref()
            .or(self.gateway_url.as_ref())
        {
            return Ok(url.clone());
        }
        let method = "getGatewayBot";
        let answer = match shared
            .rest(method, Method::GET, "/gateway/bot", "gateway", None)
            .await
        {
            Ok(answer) => answer.unwrap_or(Value::Null),
            Err(error) => return Err(Ended::failed(Next::identify_now(), error)),
        };
        let bot: GatewayBot = serde_json::from_value(answer).map_err(|e| {
            let error = ChannelError::Decode {
                channel: CHANNEL,
                method,
                reason: shared.token.mask(&e.to_string()),
            };
            Ended::failed(Next::identify_now(), error)
        })?;
        if let Some(limit) = bot.session_start_limit.filter(|l| l.remaining == 0) {
            let wait = Duration::from_millis(limit.reset_after);
            let reason = format!(
                "the bot's daily session starts are used up (too many identifies); \
                 waiting {}s until they reset",
                wait.as_secs()
            );
            return Err(Ended::failed(
                Next::Identify { wait },
                shared.gateway_error(None, &reason),
            ));
        }
        self.gateway_url = Some(bot.url.clone());
        Ok(bot.url)
    }

    /// Opens one connection, identifies or resumes, and runs it until it ends.
    async fn connect_once(&mut self, shared: &Shared) -> Ended {
        let resume_url = self.session.as_ref().and_then(|s| s.resume_url.clone());
        let base = match resume_url.clone() {
            Some(url) => url,
            None => match self.gateway_url(shared).await {
                Ok(url) => url,
                Err(ended) => return ended,
            },
        };
        let mut socket = match shared.client.websocket(gateway_query(&base).as_str()).await {
            Ok((socket, _)) => socket,
            Err(source) => {
                if resume_url.is_some() {
                    // The next try resumes through the main gateway.
                    if let Some(session) = self.session.as_mut() {
                        session.resume_url = None;
                    }
                } else {
                    // A fetched URL is asked for again.
                    self.gateway_url = None;
                }
                return Ended::failed(self.reconnect(), shared.http_error(source));
            }
        };
        let interval = match tokio::time::timeout(HELLO_TIMEOUT, read_event(&mut socket)).await {
            Ok(Event::Payload(hello)) if hello.op == 10 => hello.d["heartbeat_interval"]
                .as_u64()
                .filter(|ms| *ms > 0)
                .map(Duration::from_millis),
            Ok(Event::Closed(Some((code, reason)))) => {
                return self.closed_by_gateway(shared, code, &reason, false)
            }
            _ => None,
        };
        let Some(interval) = interval else {
            let error = shared.gateway_error(
                None,
                "the gateway did not say Hello (op 10 with a heartbeat_interval) after the \
                 upgrade: check that the gateway URL names Discord's gateway",
            );
            close(&mut socket, RECONNECT_CLOSE).await;
            return Ended::failed(self.reconnect(), error);
        };
        let opening = match &self.session {
            Some(session) => json!({"op": 6, "d": {
                "token": shared.token.0,
                "session_id": session.id,
                "seq": self.seq.unwrap_or(0),
            }}),
            None => json!({"op": 2, "d": {
                "token": shared.token.0,
                "intents": shared.options.intents,
                "properties": {
                    "os": std::env::consts::OS,
                    "browser": "nanoclaw-sandbox",
                    "device": "nanoclaw-sandbox",
                },
            }}),
        };
        if send(&mut socket, &opening).await.is_err() {
            return Ended {
                next: self.reconnect(),
                ready: false,
                report: None,
            };
        }
        self.run(shared, socket, interval).await
    }

    /// The connection's life after Identify/Resume: heartbeats and events.
    async fn run(&mut self, shared: &Shared, mut socket: WebSocket, interval: Duration) -> Ended {
        let mut ready = false;
        let mut next_beat = Instant::now() + interval.mul_f64(random_fraction());
        let mut awaiting_ack = false;
        let quiet = |next, ready| Ended {
            next,
            ready,
            report: None,
        };
        loop {
            let event = tokio::select! {
                () = tokio::time::sleep_until(next_beat) => {
                    if awaiting_ack {
                        tracing::warn!(channel = CHANNEL, "no heartbeat ACK since the last heartbeat: zombie connection; reconnecting");
                        close(&mut socket, RECONNECT_CLOSE).await;
                        return quiet(self.reconnect(), ready);
                    }
                    if send(&mut socket, &json!({"op": 1, "d": self.seq})).await.is_err() {
                        return quiet(self.reconnect(), ready);
                    }
                    awaiting_ack = true;
                    next_beat += interval;
                    continue;
                }
                event = read_event(&mut socket) => event,
            };
            let payload = match event {
                Event::Payload(payload) => payload,
                Event::Other => continue,
                Event::Closed(Some((code, reason))) => {
                    return self.closed_by_gateway(shared, code, &reason, ready);
                }
                Event::Closed(None) => {
                    tracing::warn!(
                        channel = CHANNEL,
                        "the gateway connection ended; reconnecting"
                    );
                    return quiet(self.reconnect(), ready);
                }
            };
            match payload.op {
                0 => {
                    if let Some(seq) = payload.s {
                        self.seq = Some(seq);
                    }
                    ready |= self.dispatch(shared, payload);
                }
                1 => {
                    // The gateway asks for a heartbeat now.
                    if send(&mut socket, &json!({"op": 1, "d": self.seq}))
                        .await
                        .is_err()
                    {
                        return quiet(self.reconnect(), ready);
                    }
                    awaiting_ack = true;
                }
                7 => {
                    tracing::info!(
                        channel = CHANNEL,
                        "the gateway asked for a reconnect (op 7); resuming"
                    );
                    close(&mut socket, RECONNECT_CLOSE).await;
                    return quiet(self.reconnect(), ready);
                }
                9 => {
                    close(&mut socket, RECONNECT_CLOSE).await;
                    if payload.d.as_bool() == Some(true) && self.session.is_some() {
                        tracing::info!(
                            channel = CHANNEL,
                            "invalid session (op 9), resumable; resuming"
                        );
                        return quiet(Next::Resume, ready);
                    }
                    // Discord asks for a random 1–5 s wait before identifying again.
                    let wait = Duration::from_secs_f64(1.0 + 4.0 * random_fraction());
                    tracing::info!(
                        channel = CHANNEL,
                        wait_ms = wait.as_millis() as u64,
                        "invalid session (op 9); identifying afresh"
                    );
                    self.session = None;
                    self.seq = None;
                    return quiet(Next::Identify { wait }, ready);
                }
                11 => awaiting_ack = false,
                _ => {}
            }
        }
    }

    /// Handles a Dispatch (op 0); whether the session is now up.
    fn dispatch(&mut self, shared: &Shared, payload: Payload) -> bool {
        match payload.t.as_deref() {
            Some("READY") => match serde_json::from_value::<Ready>(payload.d) {
                Ok(ready) => {
                    tracing::info!(channel = CHANNEL, "gateway session ready");
                    self.session = Some(Session {
                        id: ready.session_id,
                        resume_url: ready.resume_gateway_url,
                    });
                    self.self_id = Some(ready.user.id);
                    shared.inbox.connected();
                    true
                }
                Err(e) => {
                    tracing::warn!(channel = CHANNEL, error = %e, "READY is not what the API documents; the session cannot be resumed");
                    false
                }
            },
            Some("RESUMED") => {
                tracing::info!(channel = CHANNEL, "gateway session resumed");
                shared.inbox.connected();
                true
            }
            Some("MESSAGE_CREATE") => {
                match serde_json::from_value::<MessageCreate>(payload.d) {
                    Ok(message) => {
                        if let Some(inbound) = message.into_inbound(self.self_id.as_deref()) {
                            shared.deliver(inbound);
                        }
                    }
                    Err(e) => {
                        tracing::warn!(channel = CHANNEL, error = %e, "a MESSAGE_CREATE is not what the API documents; skipped")
                    }
                }
                false
            }
            _ => false,
        }
    }

    /// The gateway closed the connection with `code`: resume, identify or stop.
    fn closed_by_gateway(
        &mut self,
        shared: &Shared,
        code: u16,
        reason: &str,
        ready: bool,
    ) -> Ended {
        let fatal = |what: &str| {
            let text = if reason.is_empty() {
                format!("closed with {code}: {what}")
            } else {
                format!("closed with {code} ({reason}): {what}")
            };
            Ended {
                next: Next::Stop,
                ready,
                report: Some(shared.gateway_error(Some(code), &text)),
            }
        };
        match code {
            4004 => fatal(
                "authentication failed: the bot token is wrong or was reset; copy the current \
                 one from the Developer Portal (your application → Bot → Reset Token)",
            ),
            4010 | 4011 => fatal(
                "the gateway wants this bot sharded (too many servers for one connection), \
                 which this transport does not do",
            ),
            4012 => fatal("the gateway refused API v10; the transport needs an update"),
            4013 => {
                fatal("the intents are invalid: give a valid bit set in DiscordOptions::intents")
            }
            4014 => fatal(
                "the bot may not use a privileged intent it asked for: enable the Message \
                 Content Intent in the Developer Portal (your application → Bot → Privileged \
                 Gateway Intents), or leave MESSAGE_CONTENT out of DiscordOptions::intents",
            ),
            // Invalid sequence, session timed out: start a new session.
            4007 | 4009 => {
                tracing::warn!(
                    channel = CHANNEL,
                    code,
                    "the gateway ended the session; identifying afresh"
                );
                self.session = None;
                self.seq = None;
                Ended {
                    next: Next::Identify {
                        wait: Duration::ZERO,
                    },
                    ready,
                    report: None,
                }
            }
            _ => {
                tracing::warn!(
                    channel = CHANNEL,
                    code,
                    "the gateway closed the connection; reconnecting"
                );
                Ended {
                    next: self.reconnect(),
                    ready,
                    report: None,
                }
            }
        }
    }
}

/// The next frame: a payload, the end (with the close code and reason when
/// the gateway sent one), or something to skip.
async fn read_event(socket: &mut WebSocket) -> Event {
    match socket.next().await {
        Some(Ok(Message::Text(text))) => match serde_json::from_str::<Payload>(text.as_str()) {
            Ok(payload) => Event::Payload(payload),
            Err(e) => {
                tracing::warn!(channel = CHANNEL, error = %e, "a gateway frame is not a payload; skipped");
                Event::Other
            }
        },
        Some(Ok(Message::Close(frame))) => {
            Event::Closed(frame.map(|f| (u16::from(f.code), f.reason.as_str().to_string())))
        }
        Some(Ok(_)) => Event::Other,
        Some(Err(_)) | None => Event::Closed(None),
    }
}

/// Sends one payload, within [`SEND_TIMEOUT`].
async fn send(socket: &mut WebSocket, payload: &Value) -> Result<(), ()> {
    match tokio::time::timeout(
        SEND_TIMEOUT,
        socket.send(Message::text(payload.to_string())),
    )
    .await
    {
        Ok(Ok(())) => Ok(()),
        _ => Err(()),
    }
}

/// Closes with `code` (best effort, bounded).
async fn close(socket: &mut WebSocket, code: u16) {
    let frame = CloseFrame {
        code: CloseCode::from(code),
        reason: "reconnecting".into(),
    };
    let _ = tokio::time::timeout(SEND_TIMEOUT, socket.close(Some(frame))).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "MTAxMjM0NTY3ODkw.GhIjKl.secret-TOKEN_value_0123456789";

    #[test]
    fn tokens_are_checked_and_never_shown() {
        let token = DiscordToken::new(TOKEN).unwrap();
        assert_eq!(format!("{token:?}"), "DiscordToken(***)");
        assert_eq!(DiscordToken::new(format!("Bot {TOKEN}\n")).unwrap(), token);
        for bad in [
            "", "abc", "a.b", "a..c", "a.b.c.d", "a.b c.d", "a.b/c.d", "a.b.c/",
        ] {
            let err = DiscordToken::new(bad).unwrap_err();
            assert_eq!(err, TokenError::Malformed);
            assert!(bad.is_empty() || !err.to_string().contains(bad), "{err}");
        }
        let masked = token.mask(&format!("Bot {TOKEN} and secret-TOKEN_value_0123456789"));
        assert_eq!(masked, "Bot *** and ***");
    }

    #[test]
    fn messages_from_people_become_inbound_and_bots_are_ignored() {
        let event = |author: Value, extra: Value| {
            let mut d = json!({"id": "11", "channel_id": "22", "author": author,
                "content": "hi", "type": 0});
            if let (Some(d), Some(extra)) = (d.as_object_mut(), extra.as_object()) {
                d.extend(extra.clone());
            }
            serde_json::from_value::<MessageCreate>(d).unwrap()
        };
        let person = json!({"id": "5", "username": "ada", "bot": false});
        let inbound = event(person.clone(), json!({"guild_id": "99"}))
            .into_inbound(Some("1"))
            .unwrap();
        assert_eq!(
            inbound,
            InboundMessage {
                chat: ChatId("22".into()),
                message_id: "11".into(),
                sender: Some("ada".into()),
                text: "hi".into(),
                group: true,
            }
        );
        let dm = event(person.clone(), json!({}))
            .into_inbound(Some("1"))
            .unwrap();
        assert!(!dm.group, "no guild_id: a direct message");
        let reply = event(person.clone(), json!({"type": 19})).into_inbound(None);
        assert!(reply.is_some(), "a reply is a message");
        for (author, extra) in [
            (
                json!({"id": "7", "username": "other-bot", "bot": true}),
                json!({}),
            ),
            (json!({"id": "1", "username": "us"}), json!({})),
            (person.clone(), json!({"content": ""})),
            (person.clone(), json!({"type": 7})),
        ] {
            assert_eq!(event(author, extra).into_inbound(Some("1")), None);
        }
    }

    #[test]
    fn gateway_urls_get_the_version_and_encoding() {
        assert_eq!(
            gateway_query("wss://gateway.discord.gg"),
            "wss://gateway.discord.gg/?v=10&encoding=json"
        );
        assert_eq!(
            gateway_query("wss://gateway-us-east1-b.discord.gg/"),
            "wss://gateway-us-east1-b.discord.gg/?v=10&encoding=json"
        );
        assert_eq!(gateway_query("wss://g.test/?v=9"), "wss://g.test/?v=9");
    }

    #[test]
    fn channel_ids_must_be_snowflakes() {
        let base = DEFAULT_API_BASE;
        assert_eq!(channel_path(&ChatId("123".into()), base).unwrap(), "123");
        for bad in ["", "12/../34", "abc", "-1"] {
            let err = channel_path(&ChatId(bad.into()), base).unwrap_err();
            assert!(
                err.to_string().contains("not a Discord channel id"),
                "{err}"
            );
            assert!(err.to_string().contains("discord.com:443"), "{err}");
        }
    }

    #[test]
    fn api_errors_read_message_and_code() {
        assert_eq!(
            describe(&json!({"message": "Unknown Channel", "code": 10003})),
            "Unknown Channel (code 10003)"
        );
        assert_eq!(describe(&json!({"message": "x"})), "x");
        assert_eq!(describe(&json!([])), "no message given");
        assert_eq!(seconds(1.5), Some(Duration::from_millis(1500)));
        assert_eq!(seconds(1e9), Some(MAX_RATE_WAIT));
        assert_eq!(seconds(-1.0), None);
        assert_eq!(seconds(f64::NAN), None);
    }
}
