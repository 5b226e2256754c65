//! The project's own agent: the protocol loop that answers chat messages
//! through the Anthropic Messages API, remembering the conversation in the
//! session directory.
//!
//! For every `message` line on its input, [`serve`] writes `typing`, asks
//! the model with the chat's history and the new text, writes the answer as
//! `reply` and ends with `done`, flushing after each line. A failed call is
//! answered with the error's one-sentence
//! [`short_reply`](super::anthropic::AnthropicError::short_reply) (and the
//! message is not kept in the history), so the host always gets `done` and
//! the loop goes on. Malformed lines are logged and skipped; end of input
//! ends the loop.
//!
//! The API key only ever comes from the message's `credentials`
//! (`ANTHROPIC_API_KEY`), never from the agent's environment; without it the
//! request goes without a key, for a sandbox proxy that injects one.
//!
//! ```no_run
//! # async fn demo() -> Result<(), nanoclaw_sandbox_core::agent::serve::ServeError> {
//! use nanoclaw_sandbox_core::agent::serve::{serve, ServeOptions};
//!
//! let summary = serve(ServeOptions::from_env(), tokio::io::stdin(), tokio::io::stdout()).await?;
//! eprintln!("answered {} messages", summary.messages);
//! # Ok(()) }
//! ```

use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::anthropic::{
    AnthropicClient, AnthropicError, ApiKey, DEFAULT_BASE_URL, DEFAULT_MAX_TOKENS, DEFAULT_MODEL,
};
use super::history::{History, HistoryStore};
use super::protocol::{AgentLine, AgentMessage, HostLine, LineSplitter, ProtocolError};
use crate::http::{BuildError, HttpClient, HttpClientBuilder, Timeouts};
use crate::redact::REDACTED;
use crate::sandbox::{DetectError, SandboxEnv};

/// Where the host mounts the chat's session directory.
pub const DEFAULT_SESSION_DIR: &str = super::protocol::SESSION_MOUNT;

/// The variable naming the Messages API's base URL.
pub const BASE_URL_VAR: &str = "ANTHROPIC_BASE_URL";
/// The variable naming the model.
pub const MODEL_VAR: &str = "ANTHROPIC_MODEL";
/// The time zone: passed through so that agents tell the host's time, as
/// NanoClaw's `-e TZ=…` does.
pub const TZ_VAR: &str = "TZ";
/// The agent's settings a host passes through to its containers when set
/// (the key travels as [`API_KEY_CREDENTIAL`] in the protocol instead).
pub const AGENT_ENV_VARS: [&str; 3] = [BASE_URL_VAR, MODEL_VAR, TZ_VAR];

/// The credential that carries the Messages API key.
pub const API_KEY_CREDENTIAL: &str = "ANTHROPIC_API_KEY";

/// How long one model call may take when the agent builds its own client
/// (a long answer takes longer than the client's default 60 s).
pub const MODEL_REQUEST_TIMEOUT: Duration = Duration::from_secs(300);

/// The most text one `reply` line carries: longer answers go as several
/// `reply` lines, so that no line (JSON-escaped) reaches the protocol's
/// [`MAX_LINE_BYTES`](super::protocol::MAX_LINE_BYTES).
const MAX_REPLY_CHUNK: usize = 128 * 1024;

/// How much input is read at once.
const READ_CHUNK: usize = 64 * 1024;

/// How the agent answers. Every setter takes any value (a blank one means
/// the default); nothing here fails.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    base_url: String,
    model: String,
    max_tokens: u32,
    system_prompt: Option<String>,
    session_dir: PathBuf,
    echo: bool,
    http: Option<HttpClient>,
    abort_on: Option<String>,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            base_url: DEFAULT_BASE_URL.into(),
            model: DEFAULT_MODEL.into(),
            max_tokens: DEFAULT_MAX_TOKENS,
            system_prompt: None,
            session_dir: PathBuf::from(DEFAULT_SESSION_DIR),
            echo: false,
            http: None,
            abort_on: None,
        }
    }
}

impl ServeOptions {
    /// The defaults: the public API, [`DEFAULT_MODEL`], [`DEFAULT_MAX_TOKENS`],
    /// no system prompt, [`DEFAULT_SESSION_DIR`], a client built from the
    /// sandbox environment when the loop starts.
    pub fn new() -> Self {
        Self::default()
    }

    /// The defaults with what the process environment sets:
    /// `ANTHROPIC_BASE_URL`, `ANTHROPIC_MODEL`, `NANOCLAW_SESSION_DIR`,
    /// `NANOCLAW_SYSTEM_PROMPT` (blank values are ignored). The API key is
    /// deliberately not read from the environment.
    pub fn from_env() -> Self {
        Self::from_vars(|name| std::env::var(name).ok())
    }

    /// [`ServeOptions::from_env`] from any variable source.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Self {
        let mut options = Self::new();
        if let Some(url) = var(BASE_URL_VAR) {
            options = options.with_base_url(url);
        }
        if let Some(model) = var(MODEL_VAR) {
            options = options.with_model(model);
        }
        if let Some(dir) = var(super::protocol::SESSION_DIR_VAR) {
            options = options.with_session_dir(dir);
        }
        if let Some(prompt) = var("NANOCLAW_SYSTEM_PROMPT") {
            options = options.with_system_prompt(prompt);
        }
        options
    }

    /// The Messages API's base URL; blank keeps the current one.
    pub fn with_base_url(mut self, url: impl Into<String>) -> Self {
        let url = url.into();
        if !url.trim().is_empty() {
            self.base_url = url.trim().trim_end_matches('/').to_string();
        }
        self
    }

    /// The model; blank keeps the current one.
    pub fn with_model(mut self, model: impl Into<String>) -> Self {
        let model = model.into();
        if !model.trim().is_empty() {
            self.model = model.trim().to_string();
        }
        self
    }

    /// The most tokens an answer may have (at least 1).
    pub fn with_max_tokens(mut self, max_tokens: u32) -> Self {
        self.max_tokens = max_tokens.max(1);
        self
    }

    /// The system prompt; blank for none.
    pub fn with_system_prompt(mut self, prompt: impl Into<String>) -> Self {
        let prompt = prompt.into();
        self.system_prompt = (!prompt.trim().is_empty()).then_some(prompt);
        self
    }

    /// Where the history is kept; blank keeps the current directory.
    pub fn with_session_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        let dir = dir.into();
        let blank = dir.to_str().is_some_and(|d| d.trim().is_empty());
        if !blank {
            self.session_dir = dir;
        }
        self
    }

    /// Echo mode: answer `echo: <text>` without calling any API (for tests
    /// and for checking a host's wiring).
    pub fn with_echo(mut self, echo: bool) -> Self {
        self.echo = echo;
        self
    }

    /// The HTTPS client for the API calls, instead of one built from the
    /// sandbox environment when the loop starts.
    pub fn with_http_client(mut self, client: HttpClient) -> Self {
        self.http = Some(client);
        self
    }

    /// Fault injection for tests: when a message's text contains `needle`,
    /// [`serve`] stops right after that message's `typing` line with
    /// [`ServeError::Aborted`], as an agent crashing mid-message would. An
    /// empty needle switches it off.
    pub fn with_abort_on(mut self, needle: impl Into<String>) -> Self {
        let needle = needle.into();
        self.abort_on = (!needle.is_empty()).then_some(needle);
        self
    }

    /// The Messages API's base URL.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The model asked.
    pub fn model(&self) -> &str {
        &self.model
    }

    /// The most tokens an answer may have.
    pub fn max_tokens(&self) -> u32 {
        self.max_tokens
    }

    /// The system prompt, if any.
    pub fn system_prompt(&self) -> Option<&str> {
        self.system_prompt.as_deref()
    }

    /// Where the history is kept.
    pub fn session_dir(&self) -> &Path {
        &self.session_dir
    }

    /// Whether the agent echoes instead of asking a model.
    pub fn echo(&self) -> bool {
        self.echo
    }
}

/// What a [`serve`] run did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ServeSummary {
    /// `message` lines handled (each ended with `done`).
    pub messages: usize,
    /// Messages answered by the model (or the echo).
    pub answered: usize,
    /// Messages answered with an error's short reply instead.
    pub failed: usize,
    /// Input lines skipped as malformed.
    pub skipped_lines: usize,
}

/// Why the loop stopped before the end of its input.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// The input broke.
    #[error("cannot read the agent's input: {source}: the host closed or broke the agent's stdin")]
    Read {
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// The output broke: the host cannot hear the agent any more.
    #[error(
        "cannot write to the agent's output: {source}: the host stopped reading the agent's \
         stdout (it ended or closed it)"
    )]
    Write {
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// The sandbox settings cannot be read, so no client can be built.
    #[error("cannot read the sandbox settings for the model API client: {source}")]
    Detect {
        /// The detection error (it names the variable to fix).
        #[source]
        source: DetectError,
    },
    /// The HTTPS client cannot be built.
    #[error("cannot build the HTTPS client for the model API: {source}")]
    Client {
        /// The builder's error.
        #[source]
        source: BuildError,
    },
    /// [`ServeOptions::with_abort_on`] matched a message: stopped on purpose.
    #[error(
        "stopped on purpose while handling message {id}: its text contains the abort marker \
         (a test hook; do not set it outside tests)"
    )]
    Aborted {
        /// The message being handled.
        id: String,
    },
}

/// Answers every `message` line of `input` on `output` until `input` ends
/// (see the [module docs](self)). `Ok` at the end of input; `Err` when the
/// input or output breaks, or no HTTPS client can be made.
pub async fn serve<R, W>(
    options: ServeOptions,
    mut input: R,
    mut output: W,
) -> Result<ServeSummary, ServeError>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let model = if options.echo {
        None
    } else {
        Some(model_client(&options)?)
    };
    let agent = Agent {
        model,
        store: HistoryStore::new(&options.session_dir),
        abort_on: options.abort_on,
    };
    let mut summary = ServeSummary::default();
    let mut splitter = LineSplitter::new();
    let mut buffer = vec![0u8; READ_CHUNK];
    loop {
        let read = input
            .read(&mut buffer)
            .await
            .map_err(|source| ServeError::Read { source })?;
        let lines = if read == 0 {
            splitter.finish().into_iter().collect()
        } else {
            splitter.push(&buffer[..read])
        };
        for line in lines {
            agent.line(line, &mut output, &mut summary).await?;
        }
        if read == 0 {
            tracing::debug!(
                "end of input after {} messages ({} answered, {} failed, {} lines skipped)",
                summary.messages,
                summary.answered,
                summary.failed,
                summary.skipped_lines
            );
            return Ok(summary);
        }
    }
}

/// The model client the options describe.
fn model_client(options: &ServeOptions) -> Result<AnthropicClient, ServeError> {
    let http = match &options.http {
        Some(client) => client.clone(),
        None => {
            let env = SandboxEnv::detect().map_err(|source| ServeError::Detect { source })?;
            HttpClientBuilder::for_sandbox(&env)
                .timeouts(Timeouts {
                    request: MODEL_REQUEST_TIMEOUT,
                    ..Timeouts::default()
                })
                .build()
                .map_err(|source| ServeError::Client { source })?
        }
    };
    Ok(AnthropicClient::new(http)
        .with_base_url(&options.base_url)
        .with_model(&options.model)
        .with_max_tokens(options.max_tokens)
        .with_system(options.system_prompt.clone()))
}

struct Agent {
    /// `None` in echo mode.
    model: Option<AnthropicClient>,
    store: HistoryStore,
    abort_on: Option<String>,
}

impl Agent {
    async fn line<W: AsyncWrite + Unpin>(
        &self,
        line: Result<Vec<u8>, ProtocolError>,
        output: &mut W,
        summary: &mut ServeSummary,
    ) -> Result<(), ServeError> {
        let parsed = match line {
            Ok(line) if line.trim_ascii().is_empty() => return Ok(()),
            Ok(line) => HostLine::parse(&line).map_err(|e| describe_bad_line(&line, &e)),
            Err(e) => Err(e.to_string()),
        };
        match parsed {
            Ok(HostLine::Message(message)) => {
                self.message(&message, output, summary).await?;
                summary.messages += 1;
            }
            Err(why) => {
                tracing::warn!("skipped an input line: {why}");
                summary.skipped_lines += 1;
            }
        }
        Ok(())
    }

    async fn message<W: AsyncWrite + Unpin>(
        &self,
        message: &AgentMessage,
        output: &mut W,
        summary: &mut ServeSummary,
    ) -> Result<(), ServeError> {
        let id = &message.id;
        write_line(output, &AgentLine::Typing { id: id.clone() }).await?;
        if let Some(needle) = &self.abort_on {
            if message.text.contains(needle.as_str()) {
                return Err(ServeError::Aborted { id: id.clone() });
            }
        }
        let reply = if message.text.trim().is_empty() {
            summary.failed += 1;
            "The message has no text to answer.".to_string()
        } else {
            match self.answer(message).await {
                Ok(text) => {
                    summary.answered += 1;
                    text
                }
                Err(text) => {
                    summary.failed += 1;
                    text
                }
            }
        };
        for chunk in chunks(&reply, MAX_REPLY_CHUNK) {
            let line = AgentLine::Reply {
                id: id.clone(),
                text: chunk.to_string(),
            };
            write_line(output, &line).await?;
        }
        write_line(output, &AgentLine::Done { id: id.clone() }).await
    }

    /// The answer, kept in the history; or, when there is none, the text
    /// that tells the user why (and nothing is kept).
    async fn answer(&self, message: &AgentMessage) -> Result<String, String> {
        let mut history = match self.store.load() {
            Ok(history) => history,
            Err(e) => {
                tracing::warn!("{e}; answering without the earlier conversation");
                History::new()
            }
        };
        let text = match &self.model {
            None => format!("echo: {}", message.text),
            Some(model) => {
                let key = message
                    .credentials
                    .get(API_KEY_CREDENTIAL)
                    .and_then(|key| ApiKey::new(key.as_str()));
                if key.is_none() {
                    tracing::debug!(
                        "message {}: no {API_KEY_CREDENTIAL} in its credentials; asking without \
                         a key (the proxy may inject one)",
                        message.id
                    );
                }
                let started = Instant::now();
                let turns = history.request(&message.text);
                match model.complete(key.as_ref(), &turns).await {
                    Ok(done) if done.text.trim().is_empty() => {
                        tracing::warn!(
                            "message {}: the model returned no text (stop reason {:?})",
                            message.id,
                            done.stop_reason
                        );
                        return Err("The model returned an empty answer: try rephrasing.".into());
                    }
                    Ok(done) => {
                        tracing::debug!(
                            "message {}: {} answered in {} ms ({} turns sent)",
                            message.id,
                            done.model.as_deref().unwrap_or(model.model()),
                            started.elapsed().as_millis(),
                            turns.len()
                        );
                        done.text
                    }
                    Err(e) => return Err(self.failed(message, &e)),
                }
            }
        };
        history.record(message.text.clone(), text.clone());
        if let Err(e) = self.store.save(&history) {
            tracing::warn!("{e}; this exchange will not be remembered");
        }
        Ok(text)
    }

    fn failed(&self, message: &AgentMessage, error: &AnthropicError) -> String {
        tracing::warn!("message {}: {error}", message.id);
        error.short_reply()
    }
}

/// Writes one protocol line and flushes it.
async fn write_line<W: AsyncWrite + Unpin>(
    output: &mut W,
    line: &AgentLine,
) -> Result<(), ServeError> {
    output
        .write_all(line.to_line().as_bytes())
        .await
        .map_err(|source| ServeError::Write { source })?;
    output
        .flush()
        .await
        .map_err(|source| ServeError::Write { source })
}

/// Why a line was refused, for the log: a line that mentions credentials
/// never shows its start, and any credential value is cut out of the
/// parser's reason.
fn describe_bad_line(line: &[u8], error: &ProtocolError) -> String {
    let mentions_credentials = line
        .windows(b"credentials".len())
        .any(|w| w == b"credentials");
    match error {
        ProtocolError::Malformed { reason, .. } if mentions_credentials => {
            let mut reason = reason.clone();
            for secret in credential_values(line) {
                reason = reason.replace(&secret, REDACTED);
            }
            format!(
                "a protocol line of {} bytes (with credentials, not shown) is not a valid \
                 message ({reason})",
                line.len()
            )
        }
        other => other.to_string(),
    }
}

/// Every string under `credentials` in a JSON line (however malformed the
/// rest), longest first.
fn credential_values(line: &[u8]) -> Vec<String> {
    fn strings(value: &serde_json::Value, out: &mut Vec<String>) {
        match value {
            serde_json::Value::String(s) if !s.is_empty() => out.push(s.clone()),
            serde_json::Value::Array(items) => items.iter().for_each(|v| strings(v, out)),
            serde_json::Value::Object(map) => map.values().for_each(|v| strings(v, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    if let Ok(value) = serde_json::from_slice::<serde_json::Value>(line) {
        if let Some(credentials) = value.get("credentials") {
            strings(credentials, &mut out);
        }
    }
    out.sort_by_key(|s| std::cmp::Reverse(s.len()));
    out
}

/// `text` in pieces of at most `max` bytes, cut at character boundaries.
fn chunks(text: &str, max: usize) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = text;
    while rest.len() > max {
        let mut cut = max;
        while !rest.is_char_boundary(cut) {
            cut -= 1;
        }
        if cut == 0 {
            // One character longer than `max`: it goes whole.
            cut = rest.chars().next().map_or(rest.len(), char::len_utf8);
        }
        let (head, tail) = rest.split_at(cut);
        out.push(head);
        rest = tail;
    }
    if !rest.is_empty() || out.is_empty() {
        out.push(rest);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_come_from_the_environment_but_never_the_key() {
        let vars = [
            ("ANTHROPIC_BASE_URL", "https://gateway.test/anthropic/"),
            ("ANTHROPIC_MODEL", " claude-test "),
            ("NANOCLAW_SESSION_DIR", "/tmp/session"),
            ("NANOCLAW_SYSTEM_PROMPT", "Be brief."),
            ("ANTHROPIC_API_KEY", "sk-from-env"),
        ];
        let options = ServeOptions::from_vars(|name| {
            vars.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.to_string())
        });
        assert_eq!(options.base_url(), "https://gateway.test/anthropic");
        assert_eq!(options.model(), "claude-test");
        assert_eq!(options.session_dir(), Path::new("/tmp/session"));
        assert_eq!(options.system_prompt(), Some("Be brief."));
        assert!(!format!("{options:?}").contains("sk-from-env"));

        let defaults = ServeOptions::from_vars(|_| Some("  ".into()));
        assert_eq!(defaults.base_url(), DEFAULT_BASE_URL);
        assert_eq!(defaults.model(), DEFAULT_MODEL);
        assert_eq!(defaults.session_dir(), Path::new(DEFAULT_SESSION_DIR));
        assert_eq!(defaults.system_prompt(), None);
        assert_eq!(defaults.with_max_tokens(0).max_tokens(), 1);
    }

    #[test]
    fn bad_lines_with_credentials_never_log_them() {
        let line =
            br#"{"type":"message","credentials":{"ANTHROPIC_API_KEY":"sk-ant-SECRET"},"v":"one"}"#;
        let error = HostLine::parse(line).unwrap_err();
        let shown = describe_bad_line(line, &error);
        assert!(!shown.contains("sk-ant-SECRET"), "{shown}");
        assert!(shown.contains("not a valid message"), "{shown}");

        let typed = br#"{"type":"message","v":1,"id":"1","chat":"c","message_id":"m","text":"t","credentials":"sk-ant-SECRET"}"#;
        let error = HostLine::parse(typed).unwrap_err();
        let shown = describe_bad_line(typed, &error);
        assert!(!shown.contains("sk-ant-SECRET"), "{shown}");

        let plain = b"not json";
        let error = HostLine::parse(plain).unwrap_err();
        assert_eq!(describe_bad_line(plain, &error), error.to_string());
    }

    #[test]
    fn long_replies_are_cut_at_character_boundaries() {
        assert_eq!(chunks("", 4), [""]);
        assert_eq!(chunks("abcdefgh", 4), ["abcd", "efgh"]);
        assert_eq!(chunks("aéb", 2), ["a", "é", "b"]);
        let text = "ü".repeat(1000);
        let pieces = chunks(&text, 301);
        assert!(pieces.iter().all(|p| p.len() <= 301));
        assert_eq!(pieces.concat(), text);
        assert_eq!(chunks("ü", 1), ["ü"]);
    }
}
