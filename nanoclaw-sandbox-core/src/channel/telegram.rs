//! Telegram Bot API over the proxy-aware client: `getUpdates` long polling in,
//! `sendMessage` out.
//!
//! The bot token is part of every request path (`/bot<token>/<method>`), so it
//! never appears in `Debug` output, errors or logs: [`BotToken`] hides it and
//! [`HttpError`](crate::http::HttpError) names hosts, never paths.

use std::fmt;

use async_trait::async_trait;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::json;
use tokio::sync::Mutex;

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

/// A Telegram bot as a [`ChannelTransport`].
#[derive(Debug)]
pub struct TelegramTransport {
    client: HttpClient,
    token: BotToken,
    api_base: String,
    poll_seconds: u32,
    /// The next `getUpdates` offset: one past the last update seen, which
    /// confirms everything before it to Telegram.
    offset: Mutex<Option<i64>>,
}

impl TelegramTransport {
    /// A bot on the public Bot API.
    pub fn new(client: HttpClient, token: BotToken) -> Self {
        TelegramTransport {
            client,
            token,
            api_base: DEFAULT_API_BASE.to_string(),
            poll_seconds: DEFAULT_POLL_SECONDS,
            offset: Mutex::new(None),
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

    async fn call<T: DeserializeOwned>(
        &self,
        method: &'static str,
        body: serde_json::Value,
    ) -> Result<T, ChannelError> {
        let url = format!("{}/bot{}/{method}", self.api_base, self.token.0);
        let response = self
            .client
            .post(&url, "application/json", body.to_string())
            .await
            .map_err(|source| ChannelError::Http {
                channel: CHANNEL,
                source,
            })?;
        let status = response.status().as_u16();
        let decode = |reason: String| ChannelError::Decode {
            channel: CHANNEL,
            method,
            reason,
        };
        let reply: ApiReply<T> =
            serde_json::from_slice(response.body()).map_err(|e| decode(e.to_string()))?;
        match reply {
            ApiReply {
                ok: true,
                result: Some(result),
                ..
            } => Ok(result),
            ApiReply { ok: true, .. } => Err(decode("`ok` without a `result`".into())),
            ApiReply { description, .. } => Err(ChannelError::Api {
                channel: CHANNEL,
                method,
                status,
                description: description.unwrap_or_else(|| "no description given".into()),
            }),
        }
    }
}

#[async_trait]
impl ChannelTransport for TelegramTransport {
    fn name(&self) -> &'static str {
        CHANNEL
    }

    async fn receive(&self) -> Result<Vec<InboundMessage>, ChannelError> {
        let mut offset = self.offset.lock().await;
        let updates: Vec<Update> = self
            .call(
                "getUpdates",
                json!({
                    "offset": *offset,
                    "timeout": self.poll_seconds,
                    "allowed_updates": ["message"],
                }),
            )
            .await?;
        if let Some(last) = updates.iter().map(|u| u.update_id).max() {
            *offset = Some(last + 1);
        }
        Ok(updates
            .into_iter()
            .filter_map(Update::into_inbound)
            .collect())
    }

    async fn send(&self, message: &OutboundMessage) -> Result<(), ChannelError> {
        // Telegram takes a numeric chat id or an `@channelusername`.
        let chat_id = match message.chat.0.parse::<i64>() {
            Ok(id) => json!(id),
            Err(_) => json!(message.chat.0),
        };
        let mut body = json!({ "chat_id": chat_id, "text": message.text });
        if let Some(reply_to) = message
            .reply_to
            .as_ref()
            .and_then(|m| m.parse::<i64>().ok())
        {
            body["reply_parameters"] = json!({ "message_id": reply_to });
        }
        let _sent: serde_json::Value = self.call("sendMessage", body).await?;
        Ok(())
    }
}

/// The Bot API's envelope: `{ok, result}` or `{ok: false, description}`.
#[derive(Deserialize)]
struct ApiReply<T> {
    ok: bool,
    result: Option<T>,
    description: Option<String>,
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
            }]
        );
    }
}
