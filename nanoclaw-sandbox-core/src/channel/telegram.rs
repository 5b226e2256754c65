//! Telegram Bot API over the proxy-aware client: `getUpdates` long polling in
//! (confirmed only once the host acknowledges), `sendMessage` out (split at
//! 4096 characters), `429 Too Many Requests` retried after `retry_after`.
//!
//! The bot token is part of every request path (`/bot<token>/<method>`), so it
//! never appears in `Debug` output, errors or logs: [`BotToken`] hides it and
//! [`HttpError`](crate::http::HttpError) names hosts, never paths.

use std::fmt;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::json;

use super::text::split_text;
use super::{ChannelError, ChannelTransport, ChatId, InboundMessage, OutboundMessage};
use crate::http::HttpClient;

/// Where the Bot API lives.
pub const DEFAULT_API_BASE: &str = "https://api.telegram.org";

/// How long one `getUpdates` call waits for news, in seconds. Below the
/// client's default 60 s request timeout, which must stay longer.
pub const DEFAULT_POLL_SECONDS: u32 = 25;

const CHANNEL: &str = "telegram";

/// Why a bot token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    /// Empty, or not of the `<bot id>:<secret>` form @BotFather hands out.
    #[error("the Telegram bot token is malformed: expected `<bot id>:<secret>` as @BotFather gives it (the value is not shown)")]
    Malformed,
}

/// A bot token (`123456:ABC-DEF...`); never shown.
#[derive(Clone, PartialEq, Eq)]
pub struct BotToken(String);

impl BotToken {
    /// Checks the `<digits>:<secret>` shape without revealing the value.
    pub fn new(token: impl Into<String>) -> Result<Self, TokenError> {
        let token = token.into().trim().to_string();
        let well_formed = token.split_once(':').is_some_and(|(id, secret)| {
            !id.is_empty()
                && id.bytes().all(|b| b.is_ascii_digit())
                && !secret.is_empty()
                && secret
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        });
        if well_formed {
            Ok(BotToken(token))
        } else {
            Err(TokenError::Malformed)
        }
    }
}

impl fmt::Debug for BotToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BotToken(***)")
    }
}

/// The most characters one `sendMessage` may carry.
pub const MAX_MESSAGE_CHARS: usize = 4096;

/// How many times a call answered `429 Too Many Requests` is retried.
const MAX_RETRIES: u32 = 3;

/// The longest wait before a retry, whatever `retry_after` asks.
const MAX_RETRY_WAIT: Duration = Duration::from_secs(60);

/// The wait when a 429 names no `retry_after`.
const DEFAULT_RETRY_WAIT: Duration = Duration::from_secs(1);

/// How much of a non-JSON body an error shows, in characters.
const BODY_START_CHARS: usize = 200;

/// A Telegram bot as a [`ChannelTransport`].
///
/// Delivery is at least once: [`receive`](ChannelTransport::receive) asks
/// `getUpdates` from the *confirmed* offset, so a batch comes again until
/// [`acknowledge`](ChannelTransport::acknowledge) confirms it (Telegram
/// learns of that with the next `getUpdates`). A batch with no text message
/// in it (stickers, joins) needs no storing and is confirmed at once.
#[derive(Debug)]
pub struct TelegramTransport {
    client: HttpClient,
    token: BotToken,
    api_base: String,
    poll_seconds: u32,
    offsets: Mutex<Offsets>,
}

/// The `getUpdates` offsets (one past the last update confirmed / seen).
#[derive(Debug, Default)]
struct Offsets {
    /// What the next `getUpdates` sends: confirms everything before it.
    confirmed: Option<i64>,
    /// One past the last batch `receive` returned, confirmed by `acknowledge`.
    pending: Option<i64>,
}

impl Offsets {
    fn confirm(&mut self, offset: i64) {
        self.confirmed = Some(self.confirmed.map_or(offset, |c| c.max(offset)));
    }
}

/// One call's outcome when it failed: throttled (retry after the wait) or
/// failed for good.
enum Failure {
    Throttled { wait: Duration, error: ChannelError },
    Final(ChannelError),
}

impl TelegramTransport {
    /// A bot on the public Bot API.
    pub fn new(client: HttpClient, token: BotToken) -> Self {
        TelegramTransport {
            client,
            token,
            api_base: DEFAULT_API_BASE.to_string(),
            poll_seconds: DEFAULT_POLL_SECONDS,
            offsets: Mutex::new(Offsets::default()),
        }
    }

    /// Another Bot API server (a local `telegram-bot-api`, a test double).
    pub fn with_api_base(mut self, base: impl Into<String>) -> Self {
        self.api_base = base.into().trim_end_matches('/').to_string();
        self
    }

    /// How long each `getUpdates` waits, in seconds (0 = short polling).
    pub fn with_poll_seconds(mut self, seconds: u32) -> Self {
        self.poll_seconds = seconds;
        self
    }

    fn offsets(&self) -> std::sync::MutexGuard<'_, Offsets> {
        // The guarded data is two integers, consistent after any panic.
        self.offsets.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Calls `method`, retrying `429 Too Many Requests` after the wait the
    /// API names (at most [`MAX_RETRY_WAIT`], [`MAX_RETRIES`] times).
    async fn call<T: DeserializeOwned>(
        &self,
        method: &'static str,
        body: &serde_json::Value,
    ) -> Result<T, ChannelError> {
        let mut retries = 0;
        loop {
            match self.call_once(method, body).await {
                Ok(result) => return Ok(result),
                Err(Failure::Throttled { wait, .. }) if retries < MAX_RETRIES => {
                    retries += 1;
                    tracing::debug!(
                        channel = CHANNEL,
                        method,
                        wait_seconds = wait.as_secs(),
                        retry = retries,
                        "rate limited; retrying"
                    );
                    tokio::time::sleep(wait).await;
                }
                Err(Failure::Throttled { error, .. } | Failure::Final(error)) => return Err(error),
            }
        }
    }

    async fn call_once<T: DeserializeOwned>(
        &self,
        method: &'static str,
        body: &serde_json::Value,
    ) -> Result<T, Failure> {
        let url = format!("{}/bot{}/{method}", self.api_base, self.token.0);
        let response = self
            .client
            .post(&url, "application/json", body.to_string())
            .await
            .map_err(|source| {
                Failure::Final(ChannelError::Http {
                    channel: CHANNEL,
                    source,
                })
            })?;
        let status = response.status().as_u16();
        let decode = |reason: String| {
            Failure::Final(ChannelError::Decode {
                channel: CHANNEL,
                method,
                reason: self.mask(&reason),
            })
        };
        let Ok(json) = serde_json::from_slice::<serde_json::Value>(response.body()) else {
            return Err(Failure::Final(ChannelError::NotJson {
                channel: CHANNEL,
                method,
                status,
                body_start: self.body_start(response.body()),
            }));
        };
        let reply: ApiReply = serde_json::from_value(json).map_err(|e| decode(e.to_string()))?;
        if reply.ok {
            let result = reply
                .result
                .ok_or_else(|| decode("`ok` without a `result`".into()))?;
            return serde_json::from_value(result).map_err(|e| decode(e.to_string()));
        }
        let error = ChannelError::Api {
            channel: CHANNEL,
            method,
            status,
            description: self.mask(
                reply
                    .description
                    .as_deref()
                    .unwrap_or("no description given"),
            ),
        };
        if status == 429 || reply.error_code == Some(429) {
            let wait = reply
                .parameters
                .and_then(|p| p.retry_after)
                .map_or(DEFAULT_RETRY_WAIT, Duration::from_secs)
                .min(MAX_RETRY_WAIT);
            return Err(Failure::Throttled { wait, error });
        }
        Err(Failure::Final(error))
    }

    /// `text` with the token (and its secret half) replaced by `***`: a
    /// body may echo the request path.
    fn mask(&self, text: &str) -> String {
        let mut masked = text.replace(&self.token.0, "***");
        if let Some((_, secret)) = self.token.0.split_once(':') {
            // A short secret would mask ordinary words; real ones are 35 characters.
            if secret.len() >= 8 {
                masked = masked.replace(secret, "***");
            }
        }
        masked
    }

    /// The first [`BODY_START_CHARS`] characters of a body, lossy UTF-8,
    /// masked before it is cut so no part of the token survives the cut.
    fn body_start(&self, body: &[u8]) -> String {
        let head = &body[..body.len().min(16 * 1024)];
        self.mask(&String::from_utf8_lossy(head))
            .chars()
            .take(BODY_START_CHARS)
            .collect()
    }
}

/// Telegram takes a numeric chat id or an `@channelusername`.
fn chat_id(chat: &ChatId) -> serde_json::Value {
    match chat.0.parse::<i64>() {
        Ok(id) => json!(id),
        Err(_) => json!(chat.0),
    }
}

#[async_trait]
impl ChannelTransport for TelegramTransport {
    fn name(&self) -> &'static str {
        CHANNEL
    }

    async fn receive(&self) -> Result<Vec<InboundMessage>, ChannelError> {
        let confirmed = self.offsets().confirmed;
        let mut request = json!({
            "timeout": self.poll_seconds,
            "allowed_updates": ["message"],
        });
        if let Some(offset) = confirmed {
            request["offset"] = json!(offset);
        }
        let updates: Vec<Update> = self.call("getUpdates", &request).await?;
        let next = updates
            .iter()
            .map(|u| u.update_id)
            .max()
            .map(|last| last + 1);
        let inbound: Vec<InboundMessage> = updates
            .into_iter()
            .filter_map(Update::into_inbound)
            .collect();
        if let Some(next) = next {
            let mut offsets = self.offsets();
            if inbound.is_empty() {
                // Only updates without text: nothing for the host to store.
                offsets.confirm(next);
            } else {
                offsets.pending = Some(next);
            }
        }
        Ok(inbound)
    }

    async fn acknowledge(&self) -> Result<(), ChannelError> {
        let mut offsets = self.offsets();
        if let Some(pending) = offsets.pending.take() {
            offsets.confirm(pending);
        }
        Ok(())
    }

    async fn send(&self, message: &OutboundMessage) -> Result<(), ChannelError> {
        let reply_to = message
            .reply_to
            .as_ref()
            .and_then(|m| m.parse::<i64>().ok());
        for (index, piece) in split_text(&message.text, MAX_MESSAGE_CHARS)
            .into_iter()
            .enumerate()
        {
            let mut body = json!({ "chat_id": chat_id(&message.chat), "text": piece });
            if let (0, Some(reply_to)) = (index, reply_to) {
                body["reply_parameters"] = json!({ "message_id": reply_to });
            }
            let _sent: serde_json::Value = self.call("sendMessage", &body).await?;
        }
        Ok(())
    }

    async fn typing(&self, chat: &ChatId) -> Result<(), ChannelError> {
        let body = json!({ "chat_id": chat_id(chat), "action": "typing" });
        let _done: serde_json::Value = self.call("sendChatAction", &body).await?;
        Ok(())
    }
}

/// The Bot API's envelope: `{ok, result}` or `{ok: false, error_code,
/// description, parameters}`.
#[derive(Deserialize)]
struct ApiReply {
    ok: bool,
    result: Option<serde_json::Value>,
    description: Option<String>,
    error_code: Option<i64>,
    parameters: Option<ResponseParameters>,
}

/// Why a request failed, machine-readably (`retry_after` on 429).
#[derive(Deserialize)]
struct ResponseParameters {
    retry_after: Option<u64>,
}

#[derive(Deserialize)]
struct Update {
    update_id: i64,
    message: Option<Message>,
}

#[derive(Deserialize)]
struct Message {
    message_id: i64,
    chat: Chat,
    from: Option<User>,
    text: Option<String>,
}

#[derive(Deserialize)]
struct Chat {
    id: i64,
    #[serde(rename = "type")]
    kind: Option<String>,
}

#[derive(Deserialize)]
struct User {
    username: Option<String>,
    first_name: String,
}

impl Update {
    /// Text messages only: stickers, photos and joins carry no `text`.
    fn into_inbound(self) -> Option<InboundMessage> {
        let message = self.message?;
        Some(InboundMessage {
            chat: ChatId(message.chat.id.to_string()),
            message_id: message.message_id.to_string(),
            sender: message.from.map(|u| u.username.unwrap_or(u.first_name)),
            text: message.text?,
            group: matches!(
                message.chat.kind.as_deref(),
                Some("group" | "supergroup" | "channel")
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_checked_and_never_shown() {
        let token = BotToken::new("123456:ABC-def_ghi").unwrap();
        assert_eq!(format!("{token:?}"), "BotToken(***)");
        for bad in [
            "",
            "abc:def",
            "123456:",
            ":abc",
            "123 456:abc",
            "123456:a/b",
        ] {
            let err = BotToken::new(bad).unwrap_err();
            assert_eq!(err, TokenError::Malformed);
            assert!(bad.is_empty() || !err.to_string().contains(bad));
        }
    }

    #[test]
    fn updates_become_text_messages() {
        let updates: Vec<Update> = serde_json::from_str(
            r#"[{"update_id":7,"message":{"message_id":3,"date":0,"chat":{"id":-100,"type":"group"},
                 "from":{"id":1,"is_bot":false,"first_name":"Ada","username":"ada"},"text":"hi"}},
                {"update_id":8,"message":{"message_id":4,"date":0,"chat":{"id":5,"type":"private"},
                 "from":{"id":2,"is_bot":false,"first_name":"Bob"},"sticker":{}}},
                {"update_id":9}]"#,
        )
        .unwrap();
        let inbound: Vec<_> = updates
            .into_iter()
            .filter_map(Update::into_inbound)
            .collect();
        assert_eq!(
            inbound,
            [InboundMessage {
                chat: ChatId("-100".into()),
                message_id: "3".into(),
                sender: Some("ada".into()),
                text: "hi".into(),
                group: true,
            }]
        );
    }

    #[test]
    fn private_and_group_chats_are_told_apart() {
        for (kind, group) in [
            ("private", false),
            ("group", true),
            ("supergroup", true),
            ("channel", true),
        ] {
            let update: Update = serde_json::from_value(json!({"update_id": 1, "message": {
                "message_id": 1, "date": 0, "chat": {"id": 5, "type": kind}, "text": "x"}}))
            .unwrap();
            assert_eq!(update.into_inbound().unwrap().group, group, "{kind}");
        }
    }
}
