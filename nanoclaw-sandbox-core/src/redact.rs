//! Keeping secrets out of `Debug`, `Display`, logs and reports.
//!
//! Proxy URLs carry credentials in their userinfo, and agent environments
//! carry API keys and tokens. Everything this crate prints goes through here.

/// What a redacted secret is shown as.
pub const REDACTED: &str = "***";

/// Name fragments that mark an environment variable's value as secret.
const SECRET_NAME_PARTS: &[&str] = &[
    "KEY",
    "TOKEN",
    "SECRET",
    "PASSWORD",
    "PASSWD",
    "CREDENTIAL",
    "AUTH",
    "COOKIE",
    "SESSION",
    "PRIVATE",
];

/// Whether an environment variable of this name is likely to hold a secret
/// (`ANTHROPIC_API_KEY`, `TELEGRAM_BOT_TOKEN`, `DB_PASSWORD`, ...).
pub fn is_secret_name(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    SECRET_NAME_PARTS.iter().any(|part| upper.contains(part))
}

/// Replaces the userinfo of anything that looks like a URL (`scheme://user:pass@host`)
/// with [`REDACTED`]. Text without userinfo is returned unchanged.
pub fn redact_userinfo(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(scheme_end) = rest.find("://") {
        let authority_start = scheme_end + 3;
        out.push_str(&rest[..authority_start]);
        let after = &rest[authority_start..];
        let authority_len = after
            .find(|c: char| matches!(c, '/' | '?' | '#') || c.is_whitespace())
            .unwrap_or(after.len());
        let authority = &after[..authority_len];
        match authority.rfind('@') {
            Some(at) => {
                out.push_str(REDACTED);
                out.push_str(&authority[at..]);
            }
            None => out.push_str(authority),
        }
        rest = &after[authority_len..];
    }
    out.push_str(rest);
    out
}

/// The value of an environment variable as it may be shown: secrets replaced,
/// URL credentials removed, everything else unchanged.
pub fn env_value_for_display(name: &str, value: &str) -> String {
    if is_secret_name(name) && !value.is_empty() {
        REDACTED.to_string()
    } else {
        redact_userinfo(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn userinfo_is_removed_from_every_url() {
        assert_eq!(
            redact_userinfo("http://u:p%40ss@proxy:3128 and https://a@b/c"),
            "http://***@proxy:3128 and https://***@b/c"
        );
    }

    #[test]
    fn text_without_userinfo_is_unchanged() {
        for text in [
            "http://proxy:3128",
            "no url here",
            "mailto:a@b",
            "https://h/p@q",
        ] {
            assert_eq!(redact_userinfo(text), text);
        }
    }

    #[test]
    fn secret_names_hide_their_values() {
        assert_eq!(env_value_for_display("ANTHROPIC_API_KEY", "sk-1"), REDACTED);
        assert_eq!(env_value_for_display("telegram_bot_token", "1:a"), REDACTED);
        assert_eq!(env_value_for_display("HOME", "/root"), "/root");
        assert_eq!(
            env_value_for_display("HTTPS_PROXY", "http://u:p@h:1"),
            "http://***@h:1"
        );
    }
}
