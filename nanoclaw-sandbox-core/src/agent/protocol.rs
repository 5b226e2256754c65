//! The agent protocol, version 1: JSON lines between a host and an agent
//! container (docs/agent-protocol.md is the reference).
//!
//! The host writes one [`HostLine`] per line on the agent's stdin; the agent
//! writes [`AgentLine`]s on its stdout. Everything an embedding host needs
//! from an agent image is that it speaks this. The protocol knows nothing of
//! the transport that carries it (container stdio today; a socket or a queue
//! for an engine that cannot attach stdin).
//!
//! Credentials (the model API key) travel in the `message` line, never as
//! container environment, so `docker inspect` never shows them; they are
//! redacted in `Debug`.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::redact::REDACTED;

/// Where a host mounts the chat's folder in its agent container (read-write).
pub const CHAT_MOUNT: &str = "/workspace/chat";
/// Where a host mounts the chat's session folder (read-write; it survives
/// host restarts, so the agent keeps its conversation there).
pub const SESSION_MOUNT: &str = "/workspace/session";
/// The variable that tells the agent where its session folder is.
pub const SESSION_DIR_VAR: &str = "NANOCLAW_SESSION_DIR";

/// The protocol version this crate speaks.
pub const PROTOCOL_VERSION: u32 = 1;

/// The longest line either side accepts (1 MiB); a longer one is an error
/// for that line, and the reader skips to the next newline.
pub const MAX_LINE_BYTES: usize = 1 << 20;

/// A chat message handed to an agent (`{"type":"message",...}`).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentMessage {
    /// The protocol version ([`PROTOCOL_VERSION`]).
    pub v: u32,
    /// The host's id for this delivery: `reply`, `typing` and `done` name it.
    pub id: String,
    /// The chat, namespaced by channel (`telegram:123`).
    pub chat: String,
    /// The platform's id of the message.
    pub message_id: String,
    /// Who sent it, as the platform names them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sender: Option<String>,
    /// The text.
    pub text: String,
    /// Secrets the host hands over (`ANTHROPIC_API_KEY`), by name; empty
    /// unless the host is configured to hand them over.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub credentials: BTreeMap<String, String>,
}

impl fmt::Debug for AgentMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let credentials: BTreeMap<&str, &str> = self
            .credentials
            .keys()
            .map(|k| (k.as_str(), REDACTED))
            .collect();
        f.debug_struct("AgentMessage")
            .field("v", &self.v)
            .field("id", &self.id)
            .field("chat", &self.chat)
            .field("message_id", &self.message_id)
            .field("sender", &self.sender)
            .field("text", &self.text)
            .field("credentials", &credentials)
            .finish()
    }
}

/// A line from the host to an agent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum HostLine {
    /// A chat message to handle; the agent answers with `reply` lines and
    /// ends with `done`.
    Message(AgentMessage),
}

/// A line from an agent to the host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum AgentLine {
    /// The agent is working on message `id` (the host may show "typing").
    Typing {
        /// The message being worked on.
        id: String,
    },
    /// Text to post in the chat, in answer to message `id`.
    Reply {
        /// The message answered.
        id: String,
        /// The text to post.
        text: String,
    },
    /// The agent has finished with message `id`: nothing more will come for it.
    Done {
        /// The message finished.
        id: String,
    },
}

impl AgentLine {
    /// The message this line is about.
    pub fn id(&self) -> &str {
        match self {
            AgentLine::Typing { id } | AgentLine::Reply { id, .. } | AgentLine::Done { id } => id,
        }
    }
}

/// Why a protocol line was refused. The reader logs it and skips the line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProtocolError {
    /// Longer than [`MAX_LINE_BYTES`].
    #[error("a protocol line of {len} bytes is longer than the {MAX_LINE_BYTES} bytes allowed")]
    TooLong {
        /// How long it was (at least).
        len: usize,
    },
    /// Not UTF-8.
    #[error("a protocol line is not UTF-8 text")]
    NotUtf8,
    /// Not a JSON object of a known `type` with the fields it needs.
    #[error("a protocol line is not a valid message ({reason}): {start:?}")]
    Malformed {
        /// The JSON parser's reason.
        reason: String,
        /// The start of the line (at most 80 characters).
        start: String,
    },
    /// A `message` of a protocol version this side does not speak.
    #[error("protocol version {got} is not supported (this side speaks {PROTOCOL_VERSION})")]
    Version {
        /// The version the line carried.
        got: u32,
    },
}

impl HostLine {
    /// One line of JSON, with its newline.
    pub fn to_line(&self) -> String {
        let mut line = serde_json::to_string(self).unwrap_or_default();
        line.push('\n');
        line
    }

    /// Reads one line (without its newline) as the agent does.
    pub fn parse(line: &[u8]) -> Result<Self, ProtocolError> {
        let parsed: HostLine = parse_json(line)?;
        match &parsed {
            HostLine::Message(m) if m.v != PROTOCOL_VERSION => {
                Err(ProtocolError::Version { got: m.v })
            }
            _ => Ok(parsed),
        }
    }
}

impl AgentLine {
    /// One line of JSON, with its newline.
    pub fn to_line(&self) -> String {
        let mut line = serde_json::to_string(self).unwrap_or_default();
        line.push('\n');
        line
    }

    /// Reads one line (without its newline) as the host does. Unknown fields
    /// are ignored, so an agent may add its own.
    pub fn parse(line: &[u8]) -> Result<Self, ProtocolError> {
        parse_json(line)
    }
}

fn parse_json<T: serde::de::DeserializeOwned>(line: &[u8]) -> Result<T, ProtocolError> {
    if line.len() > MAX_LINE_BYTES {
        return Err(ProtocolError::TooLong { len: line.len() });
    }
    let text = std::str::from_utf8(line).map_err(|_| ProtocolError::NotUtf8)?;
    let text = text.strip_suffix('\r').unwrap_or(text);
    serde_json::from_str(text).map_err(|e| ProtocolError::Malformed {
        reason: e.to_string(),
        start: text.chars().take(80).collect(),
    })
}

/// Splits a byte stream into lines, bounded: bytes in, complete lines out.
/// A line longer than [`MAX_LINE_BYTES`] is reported once as
/// [`ProtocolError::TooLong`] and its bytes are dropped up to its newline.
#[derive(Debug, Default)]
pub struct LineSplitter {
    partial: Vec<u8>,
    overlong: Option<usize>,
}

impl LineSplitter {
    /// A splitter with nothing buffered.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds `chunk`; returns the lines it completed (without newlines), or
    /// the error for an overlong one, in order.
    pub fn push(&mut self, chunk: &[u8]) -> Vec<Result<Vec<u8>, ProtocolError>> {
        let mut out = Vec::new();
        let mut rest = chunk;
        while !rest.is_empty() {
            let newline = rest.iter().position(|&b| b == b'\n');
            let (piece, next) = match newline {
                Some(at) => (&rest[..at], Some(&rest[at + 1..])),
                None => (rest, None),
            };
            match self.overlong.as_mut() {
                Some(len) => *len += piece.len(),
                None if self.partial.len() + piece.len() > MAX_LINE_BYTES => {
                    self.overlong = Some(self.partial.len() + piece.len());
                    self.partial = Vec::new();
                }
                None => self.partial.extend_from_slice(piece),
            }
            match next {
                Some(after) => {
                    match self.overlong.take() {
                        Some(len) => out.push(Err(ProtocolError::TooLong { len })),
                        None => out.push(Ok(std::mem::take(&mut self.partial))),
                    }
                    rest = after;
                }
                None => break,
            }
        }
        out
    }

    /// The unterminated last line at end of stream, if any.
    pub fn finish(&mut self) -> Option<Result<Vec<u8>, ProtocolError>> {
        if let Some(len) = self.overlong.take() {
            return Some(Err(ProtocolError::TooLong { len }));
        }
        (!self.partial.is_empty()).then(|| Ok(std::mem::take(&mut self.partial)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message() -> AgentMessage {
        AgentMessage {
            v: PROTOCOL_VERSION,
            id: "7".into(),
            chat: "telegram:42".into(),
            message_id: "3".into(),
            sender: Some("ada".into()),
            text: "hello".into(),
            credentials: BTreeMap::from([("ANTHROPIC_API_KEY".into(), "sk-secret".into())]),
        }
    }

    #[test]
    fn a_message_round_trips_as_one_line() {
        let line = HostLine::Message(message()).to_line();
        assert!(line.ends_with('\n') && line.matches('\n').count() == 1);
        assert!(
            line.starts_with(r#"{"type":"message","v":1,"id":"7""#),
            "{line}"
        );
        let back = HostLine::parse(line.trim_end().as_bytes()).unwrap();
        assert_eq!(back, HostLine::Message(message()));
    }

    #[test]
    fn credentials_never_reach_debug() {
        let shown = format!("{:?}", HostLine::Message(message()));
        assert!(!shown.contains("sk-secret"), "{shown}");
        assert!(shown.contains("ANTHROPIC_API_KEY"), "{shown}");
    }

    #[test]
    fn agent_lines_parse_and_unknown_fields_are_ignored() {
        let cases = [
            (
                r#"{"type":"typing","id":"1"}"#,
                AgentLine::Typing { id: "1".into() },
            ),
            (
                r#"{"type":"reply","id":"1","text":"hi","extra":true}"#,
                AgentLine::Reply {
                    id: "1".into(),
                    text: "hi".into(),
                },
            ),
            (
                r#"{"type":"done","id":"1"}"#,
                AgentLine::Done { id: "1".into() },
            ),
        ];
        for (line, want) in cases {
            assert_eq!(AgentLine::parse(line.as_bytes()).unwrap(), want, "{line}");
            assert_eq!(
                AgentLine::parse(want.to_line().trim_end().as_bytes()).unwrap(),
                want
            );
        }
    }

    #[test]
    fn bad_lines_are_errors_that_say_what_arrived() {
        for bad in [
            "not json",
            r#"{"type":"shout","id":"1"}"#,
            r#"{"type":"reply","id":"1"}"#,
            "[]",
            "",
        ] {
            match AgentLine::parse(bad.as_bytes()) {
                Err(ProtocolError::Malformed { start, .. }) => assert_eq!(start, bad),
                other => panic!("{bad}: {other:?}"),
            }
        }
        assert_eq!(AgentLine::parse(&[0xff, 0xfe]), Err(ProtocolError::NotUtf8));
        let mut old = message();
        old.v = 2;
        let line = HostLine::Message(old).to_line();
        assert_eq!(
            HostLine::parse(line.trim_end().as_bytes()),
            Err(ProtocolError::Version { got: 2 })
        );
    }

    #[test]
    fn the_splitter_joins_chunks_and_drops_overlong_lines() {
        let mut s = LineSplitter::new();
        assert!(s.push(b"{\"a\"").is_empty());
        let lines = s.push(b":1}\r\nsecond\nthi");
        assert_eq!(
            lines,
            vec![Ok(b"{\"a\":1}\r".to_vec()), Ok(b"second".to_vec())]
        );
        assert_eq!(s.finish(), Some(Ok(b"thi".to_vec())));
        assert_eq!(s.finish(), None);

        let big = vec![b'x'; MAX_LINE_BYTES + 10];
        assert!(s.push(&big[..MAX_LINE_BYTES]).is_empty());
        let lines = s.push(&[&big[MAX_LINE_BYTES..], b"\nok\n".as_slice()].concat());
        assert_eq!(
            lines,
            vec![
                Err(ProtocolError::TooLong {
                    len: MAX_LINE_BYTES + 10
                }),
                Ok(b"ok".to_vec())
            ]
        );
    }
}
