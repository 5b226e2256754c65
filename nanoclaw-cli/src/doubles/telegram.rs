//! A double of the Telegram Bot API: `POST /bot<token>/<method>` with JSON
//! bodies, answered in the API's `{ok, result}` / `{ok: false, error_code,
//! description}` envelope.
//!
//! - `getUpdates {offset, limit, timeout}`: updates below `offset` are
//!   confirmed and forgotten (a negative offset keeps the last `-offset`);
//!   the rest are returned, oldest first; with none, the call waits up to
//!   `timeout` seconds (at most 30) for [`TelegramDouble::post`].
//! - `sendMessage {chat_id, text, reply_parameters?}`: recorded
//!   ([`TelegramDouble::sent`]); answers the sent Message. Empty text, or
//!   text over 4096 characters, is refused with 400 as Telegram does.
//! - `sendChatAction {chat_id, action}`: `true`.
//! - A wrong token: 401 `Unauthorized`; another method or path: 404.
//!
//! update_ids and message_ids count up from 1.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Response, StatusCode};
use serde_json::{json, Value};
use tokio::sync::Notify;
use tokio::time::Instant;

use super::server::{self, Request, Server};
use crate::upstream::LocalCa;

/// The longest `getUpdates` wait the double grants, in seconds.
const MAX_POLL_SECONDS: u64 = 30;

/// The most characters a `sendMessage` text may have.
const MAX_TEXT_CHARS: usize = 4096;

/// What the bot posted with `sendMessage`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentMessage {
    /// The chat it went to.
    pub chat_id: i64,
    /// The text.
    pub text: String,
    /// The message it answers (`reply_parameters.message_id`), if any.
    pub reply_to: Option<i64>,
}

/// A running Bot API double; a cheap handle (clone it freely). The server
/// stops when the last handle is dropped, or at once with
/// [`shutdown`](TelegramDouble::shutdown).
#[derive(Clone)]
pub struct TelegramDouble {
    inner: Arc<Inner>,
}

struct Inner {
    state: Arc<Shared>,
    server: Server,
}

/// What the server task and the handles share.
struct Shared {
    token: String,
    bot: Mutex<Bot>,
    /// Wakes long polls when an update is posted.
    posted: Notify,
    /// Wakes [`TelegramDouble::wait_sent`] when a message is sent.
    sent: Notify,
}

/// The double's data.
#[derive(Default)]
struct Bot {
    last_update_id: i64,
    last_message_id: i64,
    /// Updates not yet confirmed, oldest first.
    updates: VecDeque<Value>,
    sent: Vec<SentMessage>,
    confirmed_offset: i64,
    /// Chat types by chat id, as posted.
    chats: HashMap<i64, &'static str>,
    /// User ids by sender name.
    users: HashMap<String, i64>,
    /// The next this-many `sendMessage` calls answer 429.
    throttled_sends: usize,
    throttle_seconds: u32,
}

impl Shared {
    fn bot(&self) -> MutexGuard<'_, Bot> {
        // Every change to `Bot` is complete before anything can panic.
        self.bot.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl fmt::Debug for TelegramDouble {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the token.
        f.debug_struct("TelegramDouble")
            .field("addr", &self.addr())
            .finish_non_exhaustive()
    }
}

impl TelegramDouble {
    /// Serves the Bot API over HTTPS as `host` (certificate from `ca`) on
    /// a free loopback port, for the bot whose token is `token`.
    pub async fn start(ca: &LocalCa, host: &str, token: &str) -> anyhow::Result<Self> {
        let state = Arc::new(Shared {
            token: token.to_string(),
            bot: Mutex::new(Bot::default()),
            posted: Notify::new(),
            sent: Notify::new(),
        });
        let handler_state = Arc::clone(&state);
        let server = Server::start(ca, &[host], move |request| {
            let state = Arc::clone(&handler_state);
            async move { answer(&state, request).await }
        })
        .await?;
        Ok(TelegramDouble {
            inner: Arc::new(Inner { state, server }),
        })
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.inner.server.addr()
    }

    /// Stops the server now (open long polls and connections close).
    pub fn shutdown(&self) {
        self.inner.server.shutdown();
    }

    /// Queues an update with a text message from user `sender` in private
    /// chat `chat_id`; returns the message_id.
    pub fn post(&self, chat_id: i64, sender: &str, text: &str) -> i64 {
        self.queue(chat_id, "private", sender, text)
    }

    /// Same, in a group chat (chat.type "group").
    pub fn post_in_group(&self, chat_id: i64, sender: &str, text: &str) -> i64 {
        self.queue(chat_id, "group", sender, text)
    }

    fn queue(&self, chat_id: i64, kind: &'static str, sender: &str, text: &str) -> i64 {
        let state = &self.inner.state;
        let message_id = {
            let mut bot = state.bot();
            bot.last_update_id += 1;
            bot.last_message_id += 1;
            let next_user = 1000 + bot.users.len() as i64;
            let user_id = *bot.users.entry(sender.to_string()).or_insert(next_user);
            bot.chats.insert(chat_id, kind);
            let (update_id, message_id) = (bot.last_update_id, bot.last_message_id);
            bot.updates.push_back(json!({
                "update_id": update_id,
                "message": {
                    "message_id": message_id,
                    "date": now(),
                    "chat": chat_object(chat_id, kind),
                    "from": {
                        "id": user_id,
                        "is_bot": false,
                        "first_name": sender,
                        "username": sender,
                    },
                    "text": text,
                },
            }));
            message_id
        };
        state.posted.notify_waiters();
        message_id
    }

    /// Every sendMessage the bot made, in arrival order.
    pub fn sent(&self) -> Vec<SentMessage> {
        self.inner.state.bot().sent.clone()
    }

    /// Waits until at least `count` messages were sent (or the timeout) and
    /// returns all sent.
    pub async fn wait_sent(&self, count: usize, timeout: Duration) -> Vec<SentMessage> {
        let state = &self.inner.state;
        let deadline = Instant::now() + timeout;
        loop {
            let notified = state.sent.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let sent = self.sent();
            if sent.len() >= count {
                return sent;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return self.sent();
            }
        }
    }

    /// The offset the bot has confirmed (the highest `offset` a getUpdates
    /// carried), 0 before any.
    pub fn confirmed_offset(&self) -> i64 {
        self.inner.state.bot().confirmed_offset
    }

    /// The next `n` sendMessage calls answer 429 with retry_after `secs`.
    pub fn throttle_next_sends(&self, n: usize, secs: u32) {
        let mut bot = self.inner.state.bot();
        bot.throttled_sends = n;
        bot.throttle_seconds = secs;
    }
}

/// Seconds since the epoch, as Telegram dates messages.
fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn chat_object(chat_id: i64, kind: &str) -> Value {
    if kind == "private" {
        json!({ "id": chat_id, "type": kind })
    } else {
        json!({ "id": chat_id, "type": kind, "title": format!("chat {chat_id}") })
    }
}

/// `{"ok": true, "result": result}`.
fn ok(result: Value) -> Response<Full<Bytes>> {
    server::json(StatusCode::OK, &json!({ "ok": true, "result": result }))
}

/// `{"ok": false, "error_code": status, "description": description}`.
fn refuse(status: StatusCode, description: &str) -> Response<Full<Bytes>> {
    server::json(
        status,
        &json!({ "ok": false, "error_code": status.as_u16(), "description": description }),
    )
}

fn bad_request(description: &str) -> Response<Full<Bytes>> {
    refuse(
        StatusCode::BAD_REQUEST,
        &format!("Bad Request: {description}"),
    )
}

async fn answer(state: &Shared, request: Request) -> Response<Full<Bytes>> {
    let Some((token, method)) = request
        .path
        .strip_prefix("/bot")
        .and_then(|rest| rest.split_once('/'))
    else {
        return refuse(StatusCode::NOT_FOUND, "Not Found");
    };
    if token != state.token {
        return refuse(StatusCode::UNAUTHORIZED, "Unauthorized");
    }
    let params: Value = if request.body.iter().all(u8::is_ascii_whitespace) {
        json!({})
    } else {
        match serde_json::from_slice(&request.body) {
            Ok(params @ Value::Object(_)) => params,
            _ => return bad_request("the request body is not a JSON object"),
        }
    };
    match method {
        "getUpdates" => get_updates(state, &params).await,
        "sendMessage" => send_message(state, &params),
        "sendChatAction" => match (chat_id(&params), params["action"].as_str()) {
            (Err(description), _) => bad_request(description),
            (Ok(_), Some(action)) if !action.is_empty() => ok(json!(true)),
            (Ok(_), _) => bad_request("action is empty"),
        },
        _ => refuse(StatusCode::NOT_FOUND, "Not Found"),
    }
}

async fn get_updates(state: &Shared, params: &Value) -> Response<Full<Bytes>> {
    let offset = params["offset"].as_i64();
    let limit = params["limit"].as_u64().unwrap_or(100).clamp(1, 100) as usize;
    let wait = params["timeout"]
        .as_u64()
        .unwrap_or(0)
        .min(MAX_POLL_SECONDS);
    let deadline = Instant::now() + Duration::from_secs(wait);
    loop {
        let notified = state.posted.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let updates: Vec<Value> = {
            let mut bot = state.bot();
            match offset {
                Some(offset) if offset < 0 => {
                    let keep = usize::try_from(offset.unsigned_abs()).unwrap_or(usize::MAX);
                    let drop = bot.updates.len().saturating_sub(keep);
                    bot.updates.drain(..drop);
                }
                Some(offset) => {
                    bot.updates
                        .retain(|u| u["update_id"].as_i64() >= Some(offset));
                    bot.confirmed_offset = bot.confirmed_offset.max(offset);
                }
                None => {}
            }
            bot.updates.iter().take(limit).cloned().collect()
        };
        if !updates.is_empty() {
            return ok(Value::Array(updates));
        }
        if tokio::time::timeout_at(deadline, notified).await.is_err() {
            return ok(json!([]));
        }
    }
}

/// The `chat_id` parameter: an integer, or a string holding one (a
/// `@username` names no chat the double knows). The error is Telegram's
/// description (after `Bad Request: `).
fn chat_id(params: &Value) -> Result<i64, &'static str> {
    match &params["chat_id"] {
        Value::Number(n) => n.as_i64().ok_or("chat not found"),
        Value::String(s) if s.is_empty() => Err("chat_id is empty"),
        Value::String(s) => s.parse().map_err(|_| "chat not found"),
        Value::Null => Err("chat_id is empty"),
        _ => Err("chat not found"),
    }
}

fn send_message(state: &Shared, params: &Value) -> Response<Full<Bytes>> {
    let chat_id = match chat_id(params) {
        Ok(id) => id,
        Err(description) => return bad_request(description),
    };
    let text = match params["text"].as_str() {
        Some(text) if !text.trim().is_empty() => text,
        _ => return bad_request("message text is empty"),
    };
    if text.chars().count() > MAX_TEXT_CHARS {
        return bad_request("message is too long");
    }
    let reply_to = params["reply_parameters"]["message_id"]
        .as_i64()
        .or_else(|| params["reply_to_message_id"].as_i64());
    let message = {
        let mut bot = state.bot();
        if bot.throttled_sends > 0 {
            bot.throttled_sends -= 1;
            let secs = bot.throttle_seconds;
            return server::json(
                StatusCode::TOO_MANY_REQUESTS,
                &json!({
                    "ok": false,
                    "error_code": 429,
                    "description": format!("Too Many Requests: retry after {secs}"),
                    "parameters": { "retry_after": secs },
                }),
            );
        }
        bot.last_message_id += 1;
        let kind = bot.chats.get(&chat_id).copied().unwrap_or(if chat_id < 0 {
            "group"
        } else {
            "private"
        });
        bot.sent.push(SentMessage {
            chat_id,
            text: text.to_string(),
            reply_to,
        });
        let mut message = json!({
            "message_id": bot.last_message_id,
            "date": now(),
            "chat": chat_object(chat_id, kind),
            "from": {
                "id": 1,
                "is_bot": true,
                "first_name": "Double bot",
                "username": "double_bot",
            },
            "text": text,
        });
        if let Some(reply_to) = reply_to {
            message["reply_to_message"] = json!({
                "message_id": reply_to,
                "date": 0,
                "chat": chat_object(chat_id, kind),
            });
        }
        message
    };
    state.sent.notify_waiters();
    ok(message)
}
