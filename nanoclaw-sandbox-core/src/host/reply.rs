//! Posting an agent's answers back to its chat.

use std::sync::Arc;
use std::time::Duration;

use crate::channel::{ChannelTransport, ChatId, OutboundMessage};

/// How often a failed post is tried again before it is given up (logged).
const SEND_ATTEMPTS: u32 = 3;

/// Posts into one chat, in answer to one message.
pub(crate) struct Replier {
    pub(crate) channel: Arc<dyn ChannelTransport>,
    pub(crate) chat: ChatId,
    pub(crate) reply_to: Option<String>,
}

impl Replier {
    /// Posts `text`, trying again with a growing pause when the channel
    /// fails; a post that still fails is logged (with the cause, never a
    /// secret) and dropped, so one broken send cannot block the chat.
    pub(crate) async fn reply(&self, text: &str) {
        let message = OutboundMessage {
            chat: self.chat.clone(),
            text: text.to_string(),
            reply_to: self.reply_to.clone(),
        };
        let mut pause = Duration::from_millis(500);
        for attempt in 1..=SEND_ATTEMPTS {
            match self.channel.send(&message).await {
                Ok(()) => return,
                Err(e) if attempt < SEND_ATTEMPTS => {
                    tracing::warn!(channel = self.channel.name(), chat = %self.chat, error = %e, "posting a reply failed; trying again");
                    tokio::time::sleep(pause).await;
                    pause *= 4;
                }
                Err(e) => {
                    tracing::error!(channel = self.channel.name(), chat = %self.chat, error = %e, "a reply could not be posted and was dropped");
                }
            }
        }
    }

    /// Shows "typing" (best effort).
    pub(crate) async fn typing(&self) {
        if let Err(e) = self.channel.typing(&self.chat).await {
            tracing::debug!(channel = self.channel.name(), chat = %self.chat, error = %e, "typing indicator failed");
        }
    }
}
