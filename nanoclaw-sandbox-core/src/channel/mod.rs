//! Messaging channels: [`ChannelTransport`] and one module per platform.
//!
//! A transport moves text between a chat platform and the host's router. It
//! makes every call through the proxy-aware [`HttpClient`](crate::http::HttpClient),
//! so inside a Docker Sandbox it tunnels through the proxy and trusts its CA
//! with no per-library patch.

use async_trait::async_trait;

use crate::http::HttpError;

#[cfg(any(feature = "discord", feature = "slack", feature = "whatsapp"))]
mod backoff;
#[cfg(feature = "discord")]
pub mod discord;
#[cfg(any(feature = "discord", feature = "slack", feature = "whatsapp"))]
mod inbox;
#[cfg(feature = "slack")]
pub mod slack;
#[cfg(any(feature = "discord", feature = "slack"))]
mod socket_task;
#[cfg(feature = "telegram")]
pub mod telegram;
#[cfg(any(
    feature = "telegram",
    feature = "discord",
    feature = "slack",
    feature = "whatsapp"
))]
mod text;
#[cfg(feature = "whatsapp")]
pub mod whatsapp;

/// A chat on a platform (a Telegram chat id, a Discord channel id, a Slack
/// channel, a WhatsApp JID).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ChatId(pub String);

impl std::fmt::Display for ChatId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A text message that arrived on a channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundMessage {
    /// Where it was posted.
    pub chat: ChatId,
    /// The platform's id of the message (for replies).
    pub message_id: String,
    /// Who sent it, as the platform names them (user name or display name).
    pub sender: Option<String>,
    /// The text.
    pub text: String,
    /// Posted in a group chat (Telegram `group`, `supergroup`, `channel`; a
    /// Discord server's channel), not a private chat (a direct message).
    pub group: bool,
}

/// A text message to post.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundMessage {
    /// Where to post it.
    pub chat: ChatId,
    /// The text.
    pub text: String,
    /// The message it answers, if any.
    pub reply_to: Option<String>,
}

/// Why a channel call failed.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum ChannelError {
    /// The HTTP exchange failed (proxy, TLS, policy, timeout): the inner error says how to fix it.
    #[error("{channel}: {source}")]
    Http {
        /// The channel's name.
        channel: &'static str,
        /// What went wrong on the way.
        #[source]
        source: HttpError,
    },
    /// The platform answered with an error.
    #[error("{channel} refused {method} (HTTP {status}): {description}")]
    Api {
        /// The channel's name.
        channel: &'static str,
        /// The API method called.
        method: &'static str,
        /// The HTTP status.
        status: u16,
        /// The platform's explanation.
        description: String,
    },
    /// The answer is not JSON at all: something between the host and the
    /// platform (a proxy's or gateway's error page) answered instead.
    #[error(
        "{channel}: the answer to {method} is not JSON (HTTP {status}), it starts {body_start:?}: \
         something in between (a proxy or gateway) answered instead of the API; check the API \
         base URL and the proxy, then retry"
    )]
    NotJson {
        /// The channel's name.
        channel: &'static str,
        /// The API method called.
        method: &'static str,
        /// The HTTP status.
        status: u16,
        /// The first 200 characters of the body (lossy UTF-8, secrets masked as `***`).
        body_start: String,
    },
    /// The platform's answer could not be read.
    #[error("{channel}: the answer to {method} is not what the API documents ({reason})")]
    Decode {
        /// The channel's name.
        channel: &'static str,
        /// The API method called.
        method: &'static str,
        /// The parser's reason.
        reason: String,
    },
    /// The platform's real-time connection (Discord's Gateway, Slack's
    /// Socket Mode, WhatsApp Web's chat socket) was closed, refused the
    /// session, or spoke out of turn, for a reason the transport reports
    /// rather than hides (it reconnects by itself where reconnecting helps).
    #[error("{channel} gateway: {reason}")]
    Gateway {
        /// The channel's name.
        channel: &'static str,
        /// The WebSocket close code the platform sent, if it sent one.
        close_code: Option<u16>,
        /// What happened and what to do about it (secrets masked as `***`).
        reason: String,
    },
    /// The channel's state on disk (WhatsApp's session) cannot be made
    /// private, opened or written.
    #[error(
        "{channel}: the session store at {} cannot be used ({reason}): check that the \
         directory is writable by this user (it is made 0700, its files 0600)",
        path.display()
    )]
    Storage {
        /// The channel's name.
        channel: &'static str,
        /// The session directory.
        path: std::path::PathBuf,
        /// What failed.
        reason: String,
    },
}

/// Moves messages between a chat platform and the host.
#[async_trait]
pub trait ChannelTransport: Send + Sync {
    /// The platform's name, for logs (`telegram`).
    fn name(&self) -> &'static str;

    /// The next batch. Until `acknowledge` is called, the same messages are
    /// delivered again by the next `receive` (at-least-once: the host
    /// journals them first). Waits for news (long polling or a socket); an
    /// empty batch means the wait timed out with nothing new.
    async fn receive(&self) -> Result<Vec<InboundMessage>, ChannelError>;

    /// Everything the last `receive` returned is stored safely: the
    /// transport may now tell the platform (Telegram: the next `getUpdates`
    /// offset moves past it).
    async fn acknowledge(&self) -> Result<(), ChannelError>;

    /// Posts a message (a transport splits text over its platform's limit
    /// into several posts, in order, and honours rate limits).
    async fn send(&self, message: &OutboundMessage) -> Result<(), ChannelError>;

    /// Shows "typing…" in `chat` (best effort). The default does nothing.
    async fn typing(&self, chat: &ChatId) -> Result<(), ChannelError> {
        let _ = chat;
        Ok(())
    }
}
