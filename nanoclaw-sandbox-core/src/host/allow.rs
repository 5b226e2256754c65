//! Who may talk to the host: [`ChatAllowlist`].

use std::fmt;

use super::chat::ChatKey;

/// The environment variable the CLI and the examples read the allowlist
/// from (comma-separated entries, see [`ChatAllowlist::parse`]).
pub const ALLOWED_CHATS_VAR: &str = "NANOCLAW_ALLOWED_CHATS";

/// Why an allowlist was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AllowlistError {
    /// An entry is not `*`, a chat id, or `channel:chat id`.
    #[error(
        "allowed-chats entry `{entry}` is invalid: {reason}; write chat ids separated by commas, \
         bare (`123`) or with their channel (`telegram:123`), or `*` for anyone"
    )]
    Entry {
        /// The entry as given.
        entry: String,
        /// What is wrong with it.
        reason: &'static str,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Entry {
    Anyone,
    Chat { channel: Option<String>, id: String },
}

/// The chats the host answers. Everyone else gets one short reply naming
/// their chat id and how to allow it, and no container is started.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ChatAllowlist {
    entries: Vec<Entry>,
}

impl ChatAllowlist {
    /// Nobody (every chat gets the "not allowed" reply).
    pub fn nobody() -> Self {
        Self::default()
    }

    /// Every chat.
    pub fn anyone() -> Self {
        ChatAllowlist {
            entries: vec![Entry::Anyone],
        }
    }

    /// Parses `telegram:123, 456, *`: comma-separated entries, each `*`
    /// (anyone), a bare chat id (that id on any channel), or `channel:id`.
    /// Empty entries are ignored; an empty text allows nobody.
    pub fn parse(text: &str) -> Result<Self, AllowlistError> {
        let mut entries = Vec::new();
        for raw in text.split(',') {
            let entry = raw.trim();
            if entry.is_empty() {
                continue;
            }
            let invalid = |reason| AllowlistError::Entry {
                entry: entry.to_string(),
                reason,
            };
            if entry.chars().any(char::is_whitespace) {
                return Err(invalid("it contains white space"));
            }
            if entry == "*" {
                entries.push(Entry::Anyone);
                continue;
            }
            let (channel, id) = match entry.split_once(':') {
                Some((channel, id)) => {
                    if channel.is_empty() {
                        return Err(invalid("the channel before `:` is empty"));
                    }
                    if !channel
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                    {
                        return Err(invalid(
                            "a channel name is lowercase letters, digits and `-`",
                        ));
                    }
                    (Some(channel.to_string()), id)
                }
                None => (None, entry),
            };
            if id.is_empty() {
                return Err(invalid("the chat id is empty"));
            }
            if id == "*" {
                return Err(invalid("`channel:*` is not supported; use `*` for anyone"));
            }
            entries.push(Entry::Chat {
                channel,
                id: id.to_string(),
            });
        }
        Ok(ChatAllowlist { entries })
    }

    /// Whether `chat` may talk to the host.
    pub fn allows(&self, chat: &ChatKey) -> bool {
        self.entries.iter().any(|entry| match entry {
            Entry::Anyone => true,
            Entry::Chat { channel, id } => {
                id == &chat.chat().0 && channel.as_deref().is_none_or(|c| c == chat.channel())
            }
        })
    }

    /// The short reply a chat that is not allowed gets.
    pub fn refusal(chat: &ChatKey) -> String {
        format!(
            "This chat ({chat}) is not allowed to use this agent. To allow it, add `{chat}` \
             to the host's allowed chats ({ALLOWED_CHATS_VAR}) and restart the host."
        )
    }
}

impl fmt::Display for ChatAllowlist {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.entries.is_empty() {
            return f.write_str("nobody");
        }
        let shown: Vec<String> = self
            .entries
            .iter()
            .map(|e| match e {
                Entry::Anyone => "*".to_string(),
                Entry::Chat {
                    channel: Some(c),
                    id,
                } => format!("{c}:{id}"),
                Entry::Chat { channel: None, id } => id.clone(),
            })
            .collect();
        f.write_str(&shown.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channel::ChatId;

    fn key(channel: &str, chat: &str) -> ChatKey {
        ChatKey::new(channel, ChatId(chat.into()))
    }

    #[test]
    fn entries_match_as_documented() {
        let list = ChatAllowlist::parse(" telegram:123, 456 ,,slack:C01").unwrap();
        assert!(list.allows(&key("telegram", "123")));
        assert!(!list.allows(&key("slack", "123")));
        assert!(list.allows(&key("telegram", "456")));
        assert!(list.allows(&key("discord", "456")));
        assert!(list.allows(&key("slack", "C01")));
        assert!(!list.allows(&key("telegram", "1234")));
        assert_eq!(list.to_string(), "telegram:123,456,slack:C01");
        assert!(ChatAllowlist::parse("*").unwrap().allows(&key("x", "y")));
        assert!(!ChatAllowlist::parse("").unwrap().allows(&key("x", "y")));
        assert!(ChatAllowlist::parse("-100123")
            .unwrap()
            .allows(&key("telegram", "-100123")));
    }

    #[test]
    fn bad_entries_are_named() {
        for bad in [
            ":123",
            "telegram:",
            "Tele gram:1",
            "TELEGRAM:1",
            "telegram:*",
        ] {
            let err = ChatAllowlist::parse(&format!("1,{bad}")).unwrap_err();
            assert!(err.to_string().contains(bad.trim()), "{err}");
        }
    }

    #[test]
    fn the_refusal_names_the_chat_and_the_setting() {
        let text = ChatAllowlist::refusal(&key("telegram", "77"));
        assert!(
            text.contains("telegram:77") && text.contains(ALLOWED_CHATS_VAR),
            "{text}"
        );
    }
}
