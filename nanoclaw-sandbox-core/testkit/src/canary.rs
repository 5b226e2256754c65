//! Canary secrets: distinctive, random values a test hands to the code
//! under test (a proxy password, an API key, Telegram/Discord/Slack tokens)
//! and then searches everything shown for.
//!
//! Each canary carries a random hex part of its own, and the search looks for
//! the whole value and for that part, so a value shown cut or re-encoded
//! still counts, and a search can tell the canaries apart.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::time::SystemTime;

/// One test's canaries.
#[derive(Debug, Clone)]
pub struct Canaries {
    /// A proxy password (`canary-proxy-pass-…`).
    pub proxy_password: String,
    /// An Anthropic-like API key.
    pub api_key: String,
    /// A Telegram bot token (`<digits>:<secret>`).
    pub telegram: String,
    /// A Discord bot token (three dot-separated parts).
    pub discord: String,
    /// A Slack bot token (`xoxb-…`).
    pub slack_bot: String,
    /// A Slack app token (`xapp-…`).
    pub slack_app: String,
}

impl Default for Canaries {
    fn default() -> Self {
        Self::new()
    }
}

impl Canaries {
    /// Fresh canaries, each with a random part of its own.
    pub fn new() -> Self {
        let random = || {
            let mut hasher = RandomState::new().build_hasher();
            let nanos = SystemTime::UNIX_EPOCH
                .elapsed()
                .map(|d| d.as_nanos())
                .unwrap_or_default();
            hasher.write_u128(nanos);
            format!("{:016x}", hasher.finish())
        };
        Canaries {
            proxy_password: format!("canary-proxy-pass-{}", random()),
            api_key: format!("sk-ant-canary-api-key-{}", random()),
            telegram: format!("123456:canary-telegram-{}", random()),
            discord: format!("canary-discord-{}.part2.part3", random()),
            slack_bot: format!("xoxb-canary-slack-bot-{}", random()),
            slack_app: format!("xapp-canary-slack-app-{}", random()),
        }
    }

    /// Every canary, with its name.
    pub fn all(&self) -> [(&'static str, &str); 6] {
        [
            ("proxy password", &self.proxy_password),
            ("API key", &self.api_key),
            ("Telegram token", &self.telegram),
            ("Discord token", &self.discord),
            ("Slack bot token", &self.slack_bot),
            ("Slack app token", &self.slack_app),
        ]
    }

    /// `http://agent:PASSWORD@AUTHORITY`: a proxy URL whose password is the canary.
    pub fn proxy_url(&self, authority: &str) -> String {
        format!("http://agent:{}@{authority}", self.proxy_password)
    }

    /// The names of the canaries found in `text`, whole or by their random part.
    pub fn found_in(&self, text: &str) -> Vec<&'static str> {
        self.all()
            .into_iter()
            .filter(|(_, canary)| text.contains(canary) || text.contains(random_part(canary)))
            .map(|(name, _)| name)
            .collect()
    }

    /// Panics, naming `what` and the canaries, when any is in `text`.
    #[track_caller]
    pub fn assert_absent(&self, what: &str, text: &str) {
        let found = self.found_in(text);
        assert!(found.is_empty(), "{what} shows the {found:?}:\n{text}");
    }
}

/// The random hex part a canary carries (the whole text when it has none).
pub fn random_part(canary: &str) -> &str {
    canary
        .split(['-', '.', ':'])
        .find(|part| part.len() == 16 && part.bytes().all(|b| b.is_ascii_hexdigit()))
        .unwrap_or(canary)
}
