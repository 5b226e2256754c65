//! Slack over the proxy-aware client: Socket Mode in, the Web API's
//! `chat.postMessage` out.
//!
//! **In.** `apps.connections.open` (a `POST` with the app-level token,
//! `xapp-…`) hands out a WebSocket URL; the socket is opened with
//! [`HttpClient::websocket`], so inside a Docker Sandbox it is tunnelled
//! through the proxy (CONNECT, then TLS trusting the proxy's CA) like every
//! request. A background task (started by the first
//! [`receive`](ChannelTransport::receive), stopped when the transport is
//! dropped) keeps the connection:
//!
//! - **`hello`** opens each connection (within 20 s, or the socket is
//!   dropped and a new one opened).
//! - **Every envelope is acknowledged** (`{"envelope_id": …}`) as soon as it
//!   is read and its message, if any, is queued in the transport: Slack
//!   wants the acknowledgement within 3 seconds and redelivers envelopes
//!   that miss it. See *Delivery* below.
//! - **`events_api`** envelopes carrying a `message` event (or an
//!   `app_mention`) with text from a person become [`InboundMessage`]s; bot
//!   messages (`bot_id`, this app's own posts included) and subtypes
//!   (`message_changed`, `message_deleted`, `channel_join`, `bot_message`…)
//!   are acknowledged and dropped, `thread_broadcast` and `file_share` are
//!   kept. A redelivered envelope (Slack's retries carry the same
//!   `event_id`) and a message seen twice (as `message` and `app_mention`)
//!   are acknowledged and dropped.
//! - **`disconnect`**: `refresh_requested` and `warning` (Slack refreshes
//!   connections every few hours), or any other reason: close and reconnect
//!   through a new `apps.connections.open`; `link_disabled` (Socket Mode was
//!   turned off for the app) stops the task, and every later `receive`
//!   returns the error with the fix.
//! - **Dropped sockets** reconnect the same way, as does a socket that stays
//!   silent (no frame, not even the pong to our ping) for a whole ping
//!   interval ([`SlackOptions::ping_interval`], 30 s by default).
//! - **Backoff**: the first reconnect after a stable connection (30 s) is
//!   immediate, each further one in a row waits longer (0.5 s doubling up to
//!   60 s, jittered), so an endpoint that keeps dropping the socket is not
//!   hammered; a `429` from `apps.connections.open` waits its `Retry-After`.
//! - **Refused app token** (`invalid_auth`, `not_authed`, `token_revoked`,
//!   `not_allowed_token_type`, `missing_scope`…) stops the task at once: no
//!   retry loop, and every later `receive` names the setting to fix.
//!
//! **Delivery.** The trait promises at-least-once: a batch comes again from
//! `receive` until [`acknowledge`](ChannelTransport::acknowledge). Slack's
//! own promise is shorter: an envelope must be acknowledged within 3 s or
//! it is redelivered (a few times, then dropped), and an app that keeps
//! missing the deadline gets its events turned off. The transport therefore
//! acknowledges each envelope to Slack *on receipt*, once its message is in
//! the transport's queue, and keeps the message queued until the host's
//! `acknowledge` (after the host journaled it): a failed journal write gets
//! the same batch again. Tying Slack's acknowledgement to the host's instead
//! would hang Slack's 3 s deadline on the host's loop, which posts refusal
//! replies (waiting out rate limits of up to a minute) between `receive` and
//! `acknowledge`. What this gives up: a process that dies in the
//! milliseconds between the acknowledgement and the host's journal write
//! loses that message; Slack would not have kept it much longer anyway.
//!
//! **Out.** [`send`](ChannelTransport::send) calls `chat.postMessage` with
//! the bot token (`xoxb-…`), splitting text at [`MAX_MESSAGE_CHARS`] (on
//! character boundaries, preferring newlines) and escaping `&`, `<` and `>`
//! as Slack requires (so an agent's `<!channel>` pings nobody). A reply goes
//! to the thread of the message it answers: message ids of thread messages
//! are `<thread_ts>/<ts>` (see [`InboundMessage::message_id`]), and a
//! message outside a thread is answered in the channel, or in a new thread
//! under it with [`SlackOptions::reply_in_thread`]. A `429` is retried
//! after its `Retry-After` (at most 60 s, three times).
//!
//! **Secrets.** The tokens travel only in `Authorization` headers (marked
//! sensitive); [`SlackAppToken`] and [`SlackBotToken`] hide them from
//! `Debug`, errors mask them as `***`, and nothing logs a URL (the socket
//! URL carries a ticket) or a frame.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http::header::{AUTHORIZATION, CONTENT_TYPE, RETRY_AFTER};
use http::{HeaderMap, HeaderValue, Method, Request};
use http_body_util::Full;
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::time::Instant;

use super::backoff::backoff;
use super::inbox::Inbox;
use super::socket_task::SocketTask;
use super::text::split_text;
use super::{ChannelError, ChannelTransport, ChatId, InboundMessage, OutboundMessage};
use crate::http::tungstenite::protocol::frame::coding::CloseCode;
use crate::http::tungstenite::protocol::CloseFrame;
use crate::http::tungstenite::Message;
use crate::http::{HttpClient, HttpError, WebSocket};

/// Where the Web API lives (methods are `<base>/<method>`).
pub const DEFAULT_API_BASE: &str = "https://slack.com/api";

/// The most characters one `chat.postMessage` carries. Slack's reference for
/// `chat.postMessage` ("Truncating content") asks to keep `text` within
/// 4,000 characters and truncates it past 40,000; pieces are cut at 4,000
/// before escaping, which can only lengthen them, far below 40,000.
pub const MAX_MESSAGE_CHARS: usize = 4000;

/// How long one `receive` waits for news by default.
pub const DEFAULT_RECEIVE_WAIT: Duration = Duration::from_secs(25);

/// How often the socket is pinged by default; a whole interval without any
/// frame from Slack marks it dead.
pub const DEFAULT_PING_INTERVAL: Duration = Duration::from_secs(30);

const CHANNEL: &str = "slack";

/// The Web API method that hands out Socket Mode URLs.
const CONNECTIONS_OPEN: &str = "apps.connections.open";
/// The Web API method that posts a message.
const POST_MESSAGE: &str = "chat.postMessage";

/// How many times a call answered `429 Too Many Requests` is retried.
const MAX_RETRIES: u32 = 3;
/// The longest rate-limit wait honoured, whatever `Retry-After` asks.
const MAX_RETRY_WAIT: Duration = Duration::from_secs(60);
/// The wait when a 429 names none.
const DEFAULT_RETRY_WAIT: Duration = Duration::from_secs(1);
/// How much of a non-JSON body an error shows, in characters.
const BODY_START_CHARS: usize = 200;
/// How long Slack may take to say `hello` after the upgrade.
const HELLO_TIMEOUT: Duration = Duration::from_secs(20);
/// How long one frame may take to send, or our close to complete.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);
/// A connection that lasted this long resets the reconnect backoff.
const STABLE_AFTER: Duration = Duration::from_secs(30);
/// How many event ids and message keys are remembered to drop redeliveries.
const RECENT_KEYS: usize = 2048;

/// Web API error codes that mean the token itself is refused: retrying
/// cannot help until the configuration changes.
const REFUSED_TOKEN: &[&str] = &[
    "invalid_auth",
    "not_authed",
    "token_revoked",
    "token_expired",
    "account_inactive",
    "not_allowed_token_type",
    "missing_scope",
    "no_permission",
    "team_access_not_granted",
    "forbidden_team",
    "invalid_token",
];

/// Why a token was refused before any request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    /// Not an app-level token.
    #[error(
        "the Slack app-level token is malformed: expected `xapp-…` from your app's settings \
         (Basic Information → App-Level Tokens, with the connections:write scope); the bot \
         token (`xoxb-…`) is the other one (the value is not shown)"
    )]
    MalformedAppToken,
    /// Not a bot token.
    #[error(
        "the Slack bot token is malformed: expected `xoxb-…` from your app's settings (OAuth & \
         Permissions → Bot User OAuth Token); the app-level token (`xapp-…`) is the other one \
         (the value is not shown)"
    )]
    MalformedBotToken,
}

/// `token` trimmed, if it is `prefix` followed by letters, digits and dashes.
fn checked(token: String, prefix: &str) -> Option<String> {
    let token = token.trim();
    let rest = token.strip_prefix(prefix)?;
    let well_formed =
        !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    well_formed.then(|| token.to_string())
}

/// `text` with `token` (and its last dash-separated part, the secret one)
/// replaced by `***`.
fn mask_token(token: &str, text: &str) -> String {
    let mut masked = text.replace(token, "***");
    if let Some(secret) = token.rsplit('-').next() {
        // A short part would mask ordinary words; real ones are 24+ characters.
        if secret.len() >= 8 {
            masked = masked.replace(secret, "***");
        }
    }
    masked
}

/// An app-level token (`xapp-…`, scope `connections:write`): opens Socket
/// Mode connections. Never shown.
#[derive(Clone, PartialEq, Eq)]
pub struct SlackAppToken(String);

impl SlackAppToken {
    /// Checks the `xapp-` shape without revealing the value.
    pub fn new(token: impl Into<String>) -> Result<Self, TokenError> {
        checked(token.into(), "xapp-")
            .map(SlackAppToken)
            .ok_or(TokenError::MalformedAppToken)
    }
}

impl fmt::Debug for SlackAppToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SlackAppToken(***)")
    }
}

/// A bot token (`xoxb-…`, scope `chat:write`, and the `*:history` scopes of
/// the message events subscribed to): posts messages. Never shown.
#[derive(Clone, PartialEq, Eq)]
pub struct SlackBotToken(String);

impl SlackBotToken {
    /// Checks the `xoxb-` shape without revealing the value.
    pub fn new(token: impl Into<String>) -> Result<Self, TokenError> {
        checked(token.into(), "xoxb-")
            .map(SlackBotToken)
            .ok_or(TokenError::MalformedBotToken)
    }
}

impl fmt::Debug for SlackBotToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SlackBotToken(***)")
    }
}

/// Which token a Web API call is made with.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Token {
    App,
    Bot,
}

impl Token {
    /// The setting, for errors: what it is and where to get it.
    fn setting(self) -> &'static str {
        match self {
            Token::App => {
                "the app-level token (`xapp-…`, the first token of SlackTransport::new: your \
                 app's Basic Information → App-Level Tokens, with the connections:write scope)"
            }
            Token::Bot => {
                "the bot token (`xoxb-…`, the second token of SlackTransport::new: your app's \
                 OAuth & Permissions → Bot User OAuth Token)"
            }
        }
    }
}

/// Where the transport connects and how it answers.
#[derive(Debug, Clone)]
#[must_use]
pub struct SlackOptions {
    api_base: String,
    receive_wait: Duration,
    ping_interval: Duration,
    reply_in_thread: bool,
}

impl Default for SlackOptions {
    /// The public Web API, 25 s waits, 30 s pings, answers where asked.
    fn default() -> Self {
        SlackOptions {
            api_base: DEFAULT_API_BASE.to_string(),
            receive_wait: DEFAULT_RECEIVE_WAIT,
            ping_interval: DEFAULT_PING_INTERVAL,
            reply_in_thread: false,
        }
    }
}

impl SlackOptions {
    /// Another Web API base (`https://slack.com/api`; a test double). The
    /// Socket Mode URL is whatever `apps.connections.open` there answers.
    pub fn api_base(mut self, base: impl Into<String>) -> Self {
        self.api_base = base.into().trim_end_matches('/').to_string();
        self
    }

    /// How long one `receive` waits for a message before it returns an
    /// empty batch (default 25 s).
    pub fn receive_wait(mut self, wait: Duration) -> Self {
        self.receive_wait = wait;
        self
    }

    /// How often the socket is pinged (default 30 s); a socket silent for a
    /// whole interval is replaced.
    pub fn ping_interval(mut self, interval: Duration) -> Self {
        self.ping_interval = interval.max(Duration::from_millis(100));
        self
    }

    /// Answer a message outside a thread in a new thread under it (default:
    /// in the channel). Messages in a thread are always answered in it.
    pub fn reply_in_thread(mut self, enabled: bool) -> Self {
        self.reply_in_thread = enabled;
        self
    }
}

/// A Slack app (Socket Mode) as a [`ChannelTransport`]; see the
/// [module documentation](self).
pub struct SlackTransport {
    shared: Arc<Shared>,
    socket: SocketTask,
}

/// What the transport and its socket task share.
struct Shared {
    client: HttpClient,
    app_token: SlackAppToken,
    bot_token: SlackBotToken,
    options: SlackOptions,
    inbox: Inbox,
}

/// A Web API call that failed: throttled (retry after the wait), refused
/// by Slack with an error code, or failed otherwise.
enum Failure {
    Throttled { wait: Duration, error: ChannelError },
    Refused { code: String, error: ChannelError },
    Final(ChannelError),
}

impl Failure {
    fn into_error(self) -> ChannelError {
        match self {
            Failure::Throttled { error, .. } | Failure::Refused { error, .. } => error,
            Failure::Final(error) => error,
        }
    }
}

impl SlackTransport {
    /// An app that receives through Socket Mode with `app_token` and posts
    /// with `bot_token`, calling through `client`.
    pub fn new(
        client: HttpClient,
        app_token: SlackAppToken,
        bot_token: SlackBotToken,
        options: SlackOptions,
    ) -> Self {
        SlackTransport {
            shared: Arc::new(Shared {
                client,
                app_token,
                bot_token,
                options,
                inbox: Inbox::new(RECENT_KEYS),
            }),
            socket: SocketTask::default(),
        }
    }

    /// Starts the socket task unless it runs, or stopped for good (a
    /// task that ended without a fatal error, it panicked, is restarted).
    fn start_socket(&self) {
        self.socket.ensure(
            || self.shared.inbox.stopped_for_good(),
            || run_socket(self.shared.clone()),
        );
    }
}

impl fmt::Debug for SlackTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SlackTransport")
            .field("client", &self.shared.client)
            .field("app_token", &self.shared.app_token)
            .field("bot_token", &self.shared.bot_token)
            .field("options", &self.shared.options)
            .finish_non_exhaustive()
    }
}

impl Shared {
    /// `text` with both tokens masked.
    fn mask(&self, text: &str) -> String {
        let masked = mask_token(&self.app_token.0, text);
        mask_token(&self.bot_token.0, &masked)
    }

    /// Queues a message for `receive` unless one of `keys` (its event id,
    /// its channel and timestamp) was seen already.
    fn deliver(&self, message: InboundMessage, keys: &[String]) {
        if !self.inbox.deliver(message, keys) {
            tracing::debug!(channel = CHANNEL, "event delivered again; dropped");
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
            reason: self.mask(reason),
        }
    }

    /// The first [`BODY_START_CHARS`] characters of a body, lossy UTF-8,
    /// masked before it is cut so no part of a token survives the cut.
    fn body_start(&self, body: &[u8]) -> String {
        let head = &body[..body.len().min(16 * 1024)];
        self.mask(&String::from_utf8_lossy(head))
            .chars()
            .take(BODY_START_CHARS)
            .collect()
    }

    /// Calls a Web API method, retrying `429 Too Many Requests` after its
    /// `Retry-After` ([`MAX_RETRIES`] times, each wait at most
    /// [`MAX_RETRY_WAIT`]). The JSON answer (`ok: true`).
    async fn call(
        &self,
        method: &'static str,
        token: Token,
        body: Option<&Value>,
    ) -> Result<Value, Failure> {
        let mut retries = 0;
        loop {
            match self.call_once(method, token, body).await {
                Err(Failure::Throttled { wait, .. }) if retries < MAX_RETRIES => {
                    retries += 1;
                    tracing::debug!(
                        channel = CHANNEL,
                        method,
                        wait_ms = wait.as_millis() as u64,
                        retry = retries,
                        "rate limited; retrying"
                    );
                    tokio::time::sleep(wait).await;
                }
                outcome => return outcome,
            }
        }
    }

    async fn call_once(
        &self,
        method: &'static str,
        token: Token,
        body: Option<&Value>,
    ) -> Result<Value, Failure> {
        let url = format!("{}/{method}", self.options.api_base);
        let secret = match token {
            Token::App => &self.app_token.0,
            Token::Bot => &self.bot_token.0,
        };
        let mut authorization =
            HeaderValue::from_str(&format!("Bearer {secret}")).map_err(|_| {
                Failure::Final(ChannelError::Decode {
                    channel: CHANNEL,
                    method,
                    reason: "the token cannot be sent in a header".into(),
                })
            })?;
        authorization.set_sensitive(true);
        let (content_type, payload) = match body {
            Some(body) => (
                "application/json; charset=utf-8",
                Bytes::from(body.to_string()),
            ),
            None => ("application/x-www-form-urlencoded", Bytes::new()),
        };
        let request = Request::builder()
            .method(Method::POST)
            .uri(url.as_str())
            .header(AUTHORIZATION, authorization)
            .header(CONTENT_TYPE, content_type)
            .body(Full::new(payload))
            .map_err(|e| {
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
        let body = response.body();
        let json = serde_json::from_slice::<Value>(body).ok();
        let code = json
            .as_ref()
            .and_then(|j| j["error"].as_str())
            .map(str::to_string);
        if status == 429 || code.as_deref() == Some("ratelimited") {
            let wait = retry_after(response.headers()).unwrap_or(DEFAULT_RETRY_WAIT);
            let description = match &code {
                Some(code) => format!("{code}: rate limited; retry after {}s", wait.as_secs()),
                None => format!("rate limited; retry after {}s", wait.as_secs()),
            };
            let error = ChannelError::Api {
                channel: CHANNEL,
                method,
                status,
                description: self.mask(&description),
            };
            return Err(Failure::Throttled { wait, error });
        }
        let Some(json) = json else {
            return Err(Failure::Final(ChannelError::NotJson {
                channel: CHANNEL,
                method,
                status,
                body_start: self.body_start(body),
            }));
        };
        match json["ok"].as_bool() {
            Some(true) => Ok(json),
            Some(false) => {
                let code = code.unwrap_or_default();
                let error = ChannelError::Api {
                    channel: CHANNEL,
                    method,
                    status,
                    description: self.mask(&describe(&json, token)),
                };
                Err(Failure::Refused { code, error })
            }
            None => Err(Failure::Final(ChannelError::Decode {
                channel: CHANNEL,
                method,
                reason: format!("HTTP {status} with no `ok` field"),
            })),
        }
    }
}

/// `Retry-After` in seconds (integer or fractional), at most [`MAX_RETRY_WAIT`].
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let seconds: f64 = headers
        .get(RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    (seconds.is_finite() && seconds >= 0.0)
        .then(|| Duration::from_secs_f64(seconds.min(MAX_RETRY_WAIT.as_secs_f64())))
}

/// Slack's `{ok: false, error, needed, provided}` as one line that says
/// what to do.
fn describe(json: &Value, token: Token) -> String {
    let Some(code) = json["error"].as_str() else {
        return "no error code given".to_string();
    };
    let setting = token.setting();
    match code {
        "invalid_auth" | "not_authed" | "token_revoked" | "token_expired" | "account_inactive"
        | "invalid_token" => format!(
            "{code}: Slack refused {setting}; copy the current one from your app's settings \
             (reinstall the app to the workspace if it was revoked)"
        ),
        "not_allowed_token_type" => format!(
            "{code}: this method takes {setting}; check that the two tokens are not swapped"
        ),
        "missing_scope" => {
            let needed = json["needed"].as_str().unwrap_or("?");
            let provided = json["provided"].as_str().unwrap_or("?");
            format!(
                "{code}: {setting} lacks the scope `{needed}` (it has `{provided}`); add it in \
                 your app's settings and reinstall the app"
            )
        }
        "channel_not_found" | "not_in_channel" => format!(
            "{code}: the bot is not in that channel, or the id is wrong; invite the app \
             (`/invite @your-app`) or check the channel id"
        ),
        other => other.to_string(),
    }
}

/// `host:port` of a URL, for errors (never its path or query).
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
        .unwrap_or_else(|| "the Slack API".into())
}

/// A message timestamp (`1700000000.000100`): digits, one dot, digits.
fn is_ts(text: &str) -> bool {
    text.split_once('.').is_some_and(|(secs, micros)| {
        !secs.is_empty()
            && !micros.is_empty()
            && secs.bytes().all(|b| b.is_ascii_digit())
            && micros.bytes().all(|b| b.is_ascii_digit())
    })
}

/// The thread a reply to `reply_to` goes to: the thread of a thread message
/// (`<thread_ts>/<ts>`), else the message itself when `reply_in_thread`,
/// else none (the channel).
fn thread_of(reply_to: Option<&str>, reply_in_thread: bool) -> Option<&str> {
    let reply_to = reply_to?;
    match reply_to.split_once('/') {
        Some((thread, ts)) if is_ts(thread) && is_ts(ts) => Some(thread),
        None if reply_in_thread && is_ts(reply_to) => Some(reply_to),
        _ => None,
    }
}

/// Text as Slack wants it sent: `&`, `<` and `>` escaped (the only
/// characters it parses as markup; `<!channel>` would ping everyone).
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Text as Slack sends it, unescaped (`&lt;` `&gt;` `&amp;`); mentions and
/// links (`<@U123>`, `<https://…|label>`) stay as they are.
fn unescape(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

#[async_trait]
impl ChannelTransport for SlackTransport {
    fn name(&self) -> &'static str {
        CHANNEL
    }

    async fn receive(&self) -> Result<Vec<InboundMessage>, ChannelError> {
        self.start_socket();
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
        if message.chat.0.trim().is_empty() {
            return Err(self.shared.http_error(HttpError::InvalidRequest {
                host: host_of(&self.shared.options.api_base),
                reason: "no Slack channel id given".into(),
            }));
        }
        let thread = thread_of(
            message.reply_to.as_deref(),
            self.shared.options.reply_in_thread,
        );
        for piece in split_text(&message.text, MAX_MESSAGE_CHARS) {
            let mut body = json!({ "channel": message.chat.0, "text": escape(piece) });
            if let Some(thread) = thread {
                body["thread_ts"] = json!(thread);
            }
            self.shared
                .call(POST_MESSAGE, Token::Bot, Some(&body))
                .await
                .map_err(Failure::into_error)?;
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// The socket task.

/// A Socket Mode frame, as far as the transport cares.
#[derive(Deserialize)]
struct Envelope {
    #[serde(rename = "type")]
    kind: String,
    envelope_id: Option<String>,
    #[serde(default)]
    payload: Value,
    /// `disconnect`'s reason.
    reason: Option<String>,
    /// How many times Slack delivered this envelope's event before.
    retry_attempt: Option<u64>,
}

/// An Events API `event` (a `message` or an `app_mention`).
#[derive(Deserialize)]
struct Event {
    #[serde(rename = "type")]
    kind: String,
    subtype: Option<String>,
    channel: Option<String>,
    channel_type: Option<String>,
    user: Option<String>,
    bot_id: Option<String>,
    text: Option<String>,
    ts: Option<String>,
    thread_ts: Option<String>,
    #[serde(default)]
    hidden: bool,
}

impl Event {
    /// Text from people: bots (this app too), edits, deletions, joins and
    /// other subtypes are dropped.
    fn into_inbound(self) -> Option<InboundMessage> {
        let kept_subtype = matches!(
            self.subtype.as_deref(),
            None | Some("thread_broadcast" | "file_share")
        );
        if !matches!(self.kind.as_str(), "message" | "app_mention")
            || !kept_subtype
            || self.bot_id.is_some()
            || self.hidden
        {
            return None;
        }
        let (channel, ts, user) = (self.channel?, self.ts?, self.user?);
        let text = unescape(&self.text?);
        if text.trim().is_empty() {
            return None;
        }
        let group = match self.channel_type.as_deref() {
            Some("im") => false,
            Some(_) => true,
            // No channel type (app_mention): direct-message channels start with D.
            None => !channel.starts_with('D'),
        };
        let message_id = match self.thread_ts {
            Some(thread) => format!("{thread}/{ts}"),
            None => ts,
        };
        Some(InboundMessage {
            chat: ChatId(channel),
            message_id,
            sender: Some(user),
            text,
            group,
        })
    }
}

/// What to do after a connection ended.
enum Next {
    /// Open a new connection (a new `apps.connections.open`), after at least `wait`.
    Reconnect { wait: Duration },
    /// Give up: the report says why.
    Stop,
}

/// How a connection ended.
struct Ended {
    next: Next,
    /// `hello` arrived on it.
    hello: bool,
    /// What to tell `receive` (`Next::Stop`: for good).
    report: Option<ChannelError>,
}

impl Ended {
    fn reconnect(hello: bool) -> Self {
        Ended {
            next: Next::Reconnect {
                wait: Duration::ZERO,
            },
            hello,
            report: None,
        }
    }

    fn failed(error: ChannelError) -> Self {
        Ended {
            next: Next::Reconnect {
                wait: Duration::ZERO,
            },
            hello: false,
            report: Some(error),
        }
    }
}

async fn run_socket(shared: Arc<Shared>) {
    let mut failures: u32 = 0;
    let mut wait = Duration::ZERO;
    loop {
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
        let started = Instant::now();
        let ended = connect_once(&shared).await;
        let stop = matches!(ended.next, Next::Stop);
        if let Some(error) = ended.report {
            if stop {
                tracing::error!(channel = CHANNEL, error = %error, "Slack refused this app; not reconnecting");
            } else {
                tracing::warn!(channel = CHANNEL, error = %error, "Socket Mode connection failed");
            }
            shared.inbox.report(error, stop);
        }
        if ended.hello && started.elapsed() >= STABLE_AFTER {
            failures = 0;
        }
        let pause = backoff(failures);
        failures = failures.saturating_add(1);
        wait = match ended.next {
            Next::Stop => return,
            Next::Reconnect { wait } => pause.max(wait),
        };
    }
}

/// Asks for a URL, opens it, and runs the connection until it ends.
async fn connect_once(shared: &Shared) -> Ended {
    let answer = match shared.call(CONNECTIONS_OPEN, Token::App, None).await {
        Ok(answer) => answer,
        Err(Failure::Refused { code, error }) if REFUSED_TOKEN.contains(&code.as_str()) => {
            return Ended {
                next: Next::Stop,
                hello: false,
                report: Some(error),
            };
        }
        Err(Failure::Throttled { wait, error }) => {
            return Ended {
                next: Next::Reconnect { wait },
                hello: false,
                report: Some(error),
            };
        }
        Err(failure) => return Ended::failed(failure.into_error()),
    };
    let Some(url) = answer["url"].as_str() else {
        return Ended::failed(ChannelError::Decode {
            channel: CHANNEL,
            method: CONNECTIONS_OPEN,
            reason: "`ok` without a `url`".into(),
        });
    };
    let socket = match shared.client.websocket(url).await {
        Ok((socket, _)) => socket,
        Err(source) => return Ended::failed(shared.http_error(source)),
    };
    run(shared, socket).await
}

/// The connection's life: `hello`, envelopes and their acknowledgements,
/// pings, until it ends.
async fn run(shared: &Shared, mut socket: WebSocket) -> Ended {
    let mut hello = false;
    let hello_deadline = Instant::now() + HELLO_TIMEOUT;
    let interval = shared.options.ping_interval;
    let mut next_ping = Instant::now() + interval;
    // Whether any frame arrived since the last ping.
    let mut heard = true;
    loop {
        let tick = if hello { next_ping } else { hello_deadline };
        let frame = tokio::select! {
            () = tokio::time::sleep_until(tick) => {
                if !hello {
                    close(&mut socket).await;
                    return Ended::failed(shared.gateway_error(
                        None,
                        "Socket Mode did not say hello after the upgrade: check that the API \
                         base names Slack's Web API",
                    ));
                }
                if !heard {
                    tracing::warn!(channel = CHANNEL, "nothing from Slack for a whole ping interval; reconnecting");
                    close(&mut socket).await;
                    return Ended::reconnect(hello);
                }
                heard = false;
                next_ping += interval;
                if send(&mut socket, Message::Ping(Bytes::from_static(b"nanoclaw"))).await.is_err() {
                    return Ended::reconnect(hello);
                }
                continue;
            }
            frame = socket.next() => frame,
        };
        heard = true;
        let text = match frame {
            Some(Ok(Message::Text(text))) => text,
            Some(Ok(Message::Close(frame))) => {
                let code = frame.as_ref().map(|f| u16::from(f.code));
                tracing::warn!(
                    channel = CHANNEL,
                    code,
                    "Slack closed the socket; reconnecting"
                );
                return Ended::reconnect(hello);
            }
            Some(Ok(_)) => continue,
            Some(Err(_)) | None => {
                tracing::warn!(channel = CHANNEL, "the socket ended; reconnecting");
                return Ended::reconnect(hello);
            }
        };
        let envelope = match serde_json::from_str::<Envelope>(text.as_str()) {
            Ok(envelope) => envelope,
            Err(e) => {
                tracing::warn!(channel = CHANNEL, error = %e, "a Socket Mode frame is not an envelope; skipped");
                continue;
            }
        };
        match envelope.kind.as_str() {
            "hello" => {
                tracing::info!(channel = CHANNEL, "Socket Mode connected");
                hello = true;
                next_ping = Instant::now() + interval;
                shared.inbox.connected();
                continue;
            }
            "disconnect" => {
                let reason = envelope.reason.unwrap_or_default();
                close(&mut socket).await;
                if reason == "link_disabled" {
                    return Ended {
                        next: Next::Stop,
                        hello,
                        report: Some(shared.gateway_error(
                            None,
                            "Slack disconnected with link_disabled: Socket Mode is turned off \
                             for this app; turn it on in your app's settings (Socket Mode), \
                             then restart",
                        )),
                    };
                }
                tracing::info!(
                    channel = CHANNEL,
                    reason = %reason,
                    "Slack asked for a new connection; reconnecting"
                );
                return Ended::reconnect(hello);
            }
            _ => {}
        }
        let Some(envelope_id) = envelope.envelope_id.clone() else {
            tracing::debug!(channel = CHANNEL, kind = %envelope.kind, "a frame without an envelope id; skipped");
            continue;
        };
        if envelope.kind == "events_api" {
            take_event(shared, envelope);
        } else {
            tracing::debug!(channel = CHANNEL, kind = %envelope.kind, "an envelope this transport does not handle; acknowledged");
        }
        // Queued (or dropped): now Slack may forget it.
        let ack = Message::text(json!({ "envelope_id": envelope_id }).to_string());
        if send(&mut socket, ack).await.is_err() {
            tracing::warn!(
                channel = CHANNEL,
                "acknowledging an envelope failed; reconnecting"
            );
            return Ended::reconnect(hello);
        }
    }
}

/// Queues the message an `events_api` envelope carries, if any.
fn take_event(shared: &Shared, envelope: Envelope) {
    let retry = envelope.retry_attempt.unwrap_or(0);
    let mut payload = envelope.payload;
    let event_id = payload["event_id"].as_str().map(str::to_string);
    let event = match serde_json::from_value::<Event>(payload["event"].take()) {
        Ok(event) => event,
        Err(e) => {
            tracing::debug!(channel = CHANNEL, error = %e, "an event that is not a message; skipped");
            return;
        }
    };
    let Some(message) = event.into_inbound() else {
        return;
    };
    if retry > 0 {
        tracing::debug!(channel = CHANNEL, retry, "Slack redelivered an event");
    }
    let ts = message.message_id.rsplit('/').next().unwrap_or_default();
    let mut keys = vec![format!("message:{}:{ts}", message.chat)];
    if let Some(event_id) = event_id {
        keys.push(format!("event:{event_id}"));
    }
    shared.deliver(message, &keys);
}

/// Sends one frame, within [`SEND_TIMEOUT`].
async fn send(socket: &mut WebSocket, message: Message) -> Result<(), ()> {
    match tokio::time::timeout(SEND_TIMEOUT, socket.send(message)).await {
        Ok(Ok(())) => Ok(()),
        _ => Err(()),
    }
}

/// Closes normally (best effort, bounded).
async fn close(socket: &mut WebSocket) {
    let frame = CloseFrame {
        code: CloseCode::Normal,
        reason: "reconnecting".into(),
    };
    let _ = tokio::time::timeout(SEND_TIMEOUT, socket.close(Some(frame))).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    const APP: &str = "xapp-1-A0TEST-1234567890-0123456789abcdef0123456789abcdef";
    const BOT: &str = "xoxb-1111-2222-SecretBotTokenValue0123";

    #[test]
    fn tokens_are_checked_and_never_shown() {
        let app = SlackAppToken::new(format!(" {APP}\n")).unwrap();
        let bot = SlackBotToken::new(BOT).unwrap();
        assert_eq!(format!("{app:?}"), "SlackAppToken(***)");
        assert_eq!(format!("{bot:?}"), "SlackBotToken(***)");
        for bad in [
            "",
            "xapp-",
            "xoxb-1-2",
            "xapp-a b",
            "xapp-1/2",
            "Bearer xapp-1",
        ] {
            let err = SlackAppToken::new(bad).unwrap_err();
            assert_eq!(err, TokenError::MalformedAppToken);
            assert!(err.to_string().contains("App-Level Tokens"), "{err}");
        }
        for bad in ["", "xoxb-", APP, "xoxp-1-2-3", "xoxb-1_2"] {
            let err = SlackBotToken::new(bad).unwrap_err();
            assert_eq!(err, TokenError::MalformedBotToken);
            assert!(!err.to_string().contains(APP), "{err}");
        }
        assert_eq!(
            mask_token(BOT, &format!("Bearer {BOT}; SecretBotTokenValue0123")),
            "Bearer ***; ***"
        );
    }

    fn event(fields: Value) -> Option<InboundMessage> {
        let mut event = json!({"type": "message", "channel": "C1", "user": "U1",
            "text": "hi", "ts": "1700000000.000100", "channel_type": "channel"});
        if let (Some(event), Some(fields)) = (event.as_object_mut(), fields.as_object()) {
            for (key, value) in fields {
                if value.is_null() {
                    event.remove(key);
                } else {
                    event.insert(key.clone(), value.clone());
                }
            }
        }
        serde_json::from_value::<Event>(event)
            .unwrap()
            .into_inbound()
    }

    #[test]
    fn messages_from_people_become_inbound_and_the_rest_is_dropped() {
        assert_eq!(
            event(json!({})).unwrap(),
            InboundMessage {
                chat: ChatId("C1".into()),
                message_id: "1700000000.000100".into(),
                sender: Some("U1".into()),
                text: "hi".into(),
                group: true,
            }
        );
        let threaded = event(json!({"thread_ts": "1699999999.000001"})).unwrap();
        assert_eq!(threaded.message_id, "1699999999.000001/1700000000.000100");
        assert!(!event(json!({"channel_type": "im"})).unwrap().group);
        assert!(event(json!({"channel_type": "mpim"})).unwrap().group);
        let mention = event(json!({"type": "app_mention", "channel_type": null})).unwrap();
        assert!(mention.group);
        let dm = event(json!({"channel": "D9", "channel_type": null})).unwrap();
        assert!(!dm.group);
        assert_eq!(
            event(json!({"text": "a &lt;b&gt; &amp;amp; <@U2>"}))
                .unwrap()
                .text,
            "a <b> &amp; <@U2>"
        );
        assert!(event(json!({"subtype": "thread_broadcast"})).is_some());
        assert!(event(json!({"subtype": "file_share"})).is_some());
        for dropped in [
            json!({"bot_id": "B1"}),
            json!({"subtype": "bot_message", "user": null, "bot_id": "B1"}),
            json!({"subtype": "message_changed"}),
            json!({"subtype": "message_deleted"}),
            json!({"subtype": "channel_join"}),
            json!({"hidden": true}),
            json!({"text": "  "}),
            json!({"text": null}),
            json!({"user": null}),
            json!({"type": "reaction_added"}),
        ] {
            assert_eq!(event(dropped.clone()), None, "{dropped}");
        }
    }

    #[test]
    fn replies_go_to_the_thread_of_the_message_they_answer() {
        let thread = "1699999999.000001/1700000000.000100";
        assert_eq!(thread_of(Some(thread), false), Some("1699999999.000001"));
        assert_eq!(thread_of(Some(thread), true), Some("1699999999.000001"));
        assert_eq!(thread_of(Some("1700000000.000100"), false), None);
        assert_eq!(
            thread_of(Some("1700000000.000100"), true),
            Some("1700000000.000100")
        );
        for odd in ["", "7", "abc/def", "1.2/x", "../1.2"] {
            assert_eq!(thread_of(Some(odd), true), None, "{odd}");
        }
        assert_eq!(thread_of(None, true), None);
    }

    #[test]
    fn text_is_escaped_for_slack_and_round_trips() {
        let text = "if a < b && c > d { <!channel> }";
        assert_eq!(
            escape(text),
            "if a &lt; b &amp;&amp; c &gt; d { &lt;!channel&gt; }"
        );
        assert_eq!(unescape(&escape(text)), text);
        assert_eq!(unescape(&escape("&lt; literally")), "&lt; literally");
    }

    #[test]
    fn errors_name_the_setting_to_fix() {
        let refused = describe(&json!({"ok": false, "error": "invalid_auth"}), Token::App);
        assert!(refused.starts_with("invalid_auth: "), "{refused}");
        assert!(refused.contains("app-level token"), "{refused}");
        let scope = describe(
            &json!({"ok": false, "error": "missing_scope", "needed": "chat:write",
                    "provided": "channels:history"}),
            Token::Bot,
        );
        assert!(
            scope.contains("bot token") && scope.contains("`chat:write`"),
            "{scope}"
        );
        assert_eq!(
            describe(&json!({"ok": false, "error": "msg_too_long"}), Token::Bot),
            "msg_too_long"
        );
        assert_eq!(
            describe(&json!({"ok": false}), Token::Bot),
            "no error code given"
        );
        assert!(REFUSED_TOKEN.contains(&"invalid_auth"));
    }

    #[test]
    fn retry_after_is_read_and_bounded() {
        let mut headers = HeaderMap::new();
        assert_eq!(retry_after(&headers), None);
        headers.insert(RETRY_AFTER, HeaderValue::from_static("2"));
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(2)));
        headers.insert(RETRY_AFTER, HeaderValue::from_static("0.5"));
        assert_eq!(retry_after(&headers), Some(Duration::from_millis(500)));
        headers.insert(RETRY_AFTER, HeaderValue::from_static("86400"));
        assert_eq!(retry_after(&headers), Some(MAX_RETRY_WAIT));
        headers.insert(RETRY_AFTER, HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&headers), None);
    }

    #[test]
    fn hosts_are_named_without_paths() {
        assert_eq!(
            host_of("https://slack.com/api/chat.postMessage"),
            "slack.com:443"
        );
        assert_eq!(host_of("not a url"), "the Slack API");
    }
}
