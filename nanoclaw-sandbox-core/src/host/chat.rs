//! [`ChatKey`]: a chat namespaced by its channel (`telegram:123`), and the
//! folder name derived from it.

use std::fmt;

use crate::channel::ChatId;

/// A chat on one channel: the host's unit of routing, queueing and storage.
///
/// Shown as `channel:chat` (`telegram:-100123`), the form the allowlist and
/// the agent protocol use.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ChatKey {
    channel: String,
    chat: ChatId,
}

impl ChatKey {
    /// The chat `chat` on the channel called `channel` (a transport's `name()`).
    pub fn new(channel: impl Into<String>, chat: ChatId) -> Self {
        ChatKey {
            channel: channel.into(),
            chat,
        }
    }

    /// The channel's name.
    pub fn channel(&self) -> &str {
        &self.channel
    }

    /// The platform's chat id.
    pub fn chat(&self) -> &ChatId {
        &self.chat
    }

    /// A folder name for this chat that is safe on any file system and
    /// unique per chat: `channel.chat`, where every byte of the chat id
    /// outside `[A-Za-z0-9-]` becomes `_XX` (hex) and the channel name keeps
    /// only `[a-z0-9-]` likewise. It never is `.` or `..`, never contains a
    /// separator, and never starts with a dot.
    pub fn folder_name(&self) -> String {
        let mut name = String::with_capacity(self.channel.len() + self.chat.0.len() + 1);
        escape_into(&mut name, &self.channel);
        name.push('.');
        escape_into(&mut name, &self.chat.0);
        name
    }
}

fn escape_into(out: &mut String, text: &str) {
    if text.is_empty() {
        out.push('_');
        return;
    }
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || byte == b'-' {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("_{byte:02X}"));
        }
    }
}

impl fmt::Display for ChatKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.channel, self.chat)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(channel: &str, chat: &str) -> ChatKey {
        ChatKey::new(channel, ChatId(chat.into()))
    }

    #[test]
    fn keys_show_namespaced() {
        assert_eq!(key("telegram", "-100123").to_string(), "telegram:-100123");
    }

    #[test]
    fn folder_names_are_safe_and_distinct() {
        let cases = [
            (key("telegram", "123"), "telegram.123"),
            (key("telegram", "-100123"), "telegram.-100123"),
            (key("slack", "../../etc"), "slack._2E_2E_2F_2E_2E_2Fetc"),
            (
                key("whatsapp", "1@s.whatsapp.net"),
                "whatsapp.1_40s_2Ewhatsapp_2Enet",
            ),
            (key("x", ""), "x._"),
            (key("x", "."), "x._2E"),
            (key("x", "a/b"), "x.a_2Fb"),
            (key("x", "a_2Fb"), "x.a_5F2Fb"),
        ];
        let mut seen = std::collections::HashSet::new();
        for (key, want) in cases {
            let name = key.folder_name();
            assert_eq!(name, want);
            assert!(!name.contains('/') && !name.contains('\\') && !name.starts_with('.'));
            assert!(name != "." && name != "..");
            assert!(seen.insert(name));
        }
    }
}
