//! A small Anthropic Messages API client over the proxy-aware [`HttpClient`].
//!
//! One call: `POST {base}/v1/messages` with the conversation so far, the
//! reply's `text` blocks joined. The key goes in `x-api-key` (a header marked
//! sensitive, so it never reaches hyper's logs); without a key the header is
//! left out, for a sandbox proxy that injects it. Every failure is an
//! [`AnthropicError`] that names the fix, and has a
//! [`short_reply`](AnthropicError::short_reply) fit for the chat user. Neither
//! ever contains the key: the API's own error messages are scrubbed of it.

use std::fmt;
use std::time::Duration;

use bytes::Bytes;
use http::header::{HeaderMap, HeaderValue, CONTENT_TYPE, RETRY_AFTER};
use http::{Request, StatusCode};
use http_body_util::Full;
use serde::{Deserialize, Serialize};

use crate::http::{HttpClient, HttpError};
use crate::proxy::PROXY_CA_B64_VAR;
use crate::redact::REDACTED;

/// The Messages API's address when `ANTHROPIC_BASE_URL` is not set.
pub const DEFAULT_BASE_URL: &str = "https://api.anthropic.com";

/// The model asked for when `ANTHROPIC_MODEL` is not set.
pub const DEFAULT_MODEL: &str = "claude-haiku-4-5";

/// The `anthropic-version` header sent with every request.
pub const API_VERSION: &str = "2023-06-01";

/// The `max_tokens` of a reply unless configured otherwise.
pub const DEFAULT_MAX_TOKENS: u32 = 1024;

/// The longest API error message kept (characters), so that a chat reply
/// stays one short sentence.
const MAX_MESSAGE_CHARS: usize = 200;

/// Who said a turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The chat user.
    User,
    /// The model.
    Assistant,
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Role::User => "user",
            Role::Assistant => "assistant",
        })
    }
}

/// One turn of a conversation, as the Messages API takes it
/// (`{"role":"user","content":"..."}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Turn {
    /// Who said it.
    pub role: Role,
    /// What was said.
    pub content: String,
}

impl Turn {
    /// A user turn.
    pub fn user(content: impl Into<String>) -> Self {
        Turn {
            role: Role::User,
            content: content.into(),
        }
    }

    /// An assistant turn.
    pub fn assistant(content: impl Into<String>) -> Self {
        Turn {
            role: Role::Assistant,
            content: content.into(),
        }
    }
}

/// An Anthropic API key. `Debug` and `Display` never show it.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

impl ApiKey {
    /// The key, surrounding whitespace trimmed; `None` when nothing is left.
    pub fn new(key: impl Into<String>) -> Option<Self> {
        let key = key.into();
        let trimmed = key.trim();
        (!trimmed.is_empty()).then(|| ApiKey(trimmed.to_string()))
    }

    /// The key itself, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The `x-api-key` header value, marked sensitive.
    fn header(&self) -> Result<HeaderValue, AnthropicError> {
        let mut value = HeaderValue::from_str(&self.0).map_err(|_| AnthropicError::InvalidKey)?;
        value.set_sensitive(true);
        Ok(value)
    }

    /// `text` with every occurrence of the key replaced by [`REDACTED`].
    fn scrub(&self, text: &str) -> String {
        text.replace(&self.0, REDACTED)
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ApiKey({REDACTED})")
    }
}

impl fmt::Display for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

/// A model's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completion {
    /// The `text` blocks of `content`, joined by newlines (may be empty).
    pub text: String,
    /// Why the model stopped (`end_turn`, `max_tokens`, ...), when given.
    pub stop_reason: Option<String>,
    /// The model that answered, when given.
    pub model: Option<String>,
}

/// Why a Messages API call failed. Every variant says what to do; none
/// contains the API key.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum AnthropicError {
    /// 401 or 403 from the API: the key is missing, wrong, or lacks permission.
    #[error(
        "the Messages API refused the key (HTTP {status} {kind}: {message}): check the \
         ANTHROPIC_API_KEY the host hands over in the message's credentials (or the key the \
         sandbox proxy injects)"
    )]
    Unauthorized {
        /// 401 or 403.
        status: u16,
        /// The API's `error.type` (`authentication_error`, `permission_error`).
        kind: String,
        /// The API's `error.message`.
        message: String,
    },

    /// 429: too many requests or tokens for the key's limits.
    #[error(
        "the Messages API is rate-limiting this key (HTTP 429: {message}): {}",
        retry_text(.retry_after)
    )]
    RateLimited {
        /// The `retry-after` header, when the API sent one.
        retry_after: Option<Duration>,
        /// The API's `error.message`.
        message: String,
    },

    /// 529: the API is overloaded.
    #[error("the Messages API is overloaded (HTTP 529: {message}): retry in a moment")]
    Overloaded {
        /// The API's `error.message`.
        message: String,
    },

    /// Another 5xx.
    #[error(
        "the Messages API failed (HTTP {status}: {message}): retry in a moment; if it keeps \
         failing, check https://status.anthropic.com or the gateway ANTHROPIC_BASE_URL names"
    )]
    Server {
        /// The status code.
        status: u16,
        /// The API's `error.message`, or the start of the body.
        message: String,
    },

    /// 400: the request itself is wrong (unknown model, too many tokens,
    /// malformed conversation).
    #[error(
        "the Messages API rejected the request (HTTP 400 {kind}: {message}): check \
         ANTHROPIC_MODEL and the history in the session directory"
    )]
    BadRequest {
        /// The API's `error.type`.
        kind: String,
        /// The API's `error.message`.
        message: String,
    },

    /// Another status of 300 or more (404 for an unknown model or a wrong
    /// base URL, 413 for a request too large, ...).
    #[error(
        "the Messages API answered HTTP {status} ({kind}: {message}): check ANTHROPIC_BASE_URL \
         and ANTHROPIC_MODEL"
    )]
    Api {
        /// The status code.
        status: u16,
        /// The API's `error.type`, or `http_error`.
        kind: String,
        /// The API's `error.message`, or the start of the body.
        message: String,
    },

    /// The sandbox proxy's network policy blocks the API's host.
    #[error(
        "the sandbox network policy blocks the model API at {host}: allow it with `sbx policy \
         allow network {host}`, then retry"
    )]
    PolicyDenied {
        /// The blocked host.
        host: String,
        /// The client's error.
        #[source]
        source: HttpError,
    },

    /// The connection goes through an intercepting proxy whose CA is not trusted.
    #[error(
        "the model API cannot be reached because the sandbox proxy's CA is not trusted: {source}"
    )]
    CaNotTrusted {
        /// The client's error (it names where the CA can be provided).
        #[source]
        source: HttpError,
    },

    /// Any other failure on the way (proxy, TLS, timeout, connection).
    #[error("the model API cannot be reached: {source}")]
    Http {
        /// The client's error, which says how to fix it.
        #[source]
        source: HttpError,
    },

    /// The base URL does not make a request URL.
    #[error(
        "the Messages API URL {url} is not usable ({reason}): set ANTHROPIC_BASE_URL to \
         {DEFAULT_BASE_URL} or your gateway's https:// base URL"
    )]
    InvalidBaseUrl {
        /// The URL built from the base.
        url: String,
        /// Why it is not usable.
        reason: String,
    },

    /// The key cannot be carried by an HTTP header.
    #[error(
        "the API key handed over holds characters no HTTP header can carry: check the value of \
         ANTHROPIC_API_KEY on the host"
    )]
    InvalidKey,

    /// A success status whose body is not a Messages API reply.
    #[error(
        "the Messages API's answer (HTTP {status}) cannot be read ({reason}): check that \
         ANTHROPIC_BASE_URL points at the Messages API"
    )]
    Decode {
        /// The status code.
        status: u16,
        /// What is wrong with it.
        reason: String,
    },
}

fn retry_text(after: &Option<Duration>) -> String {
    match after {
        Some(after) => format!("retry after {} s", after.as_secs()),
        None => "retry in a moment, or ask for higher rate limits".into(),
    }
}

impl AnthropicError {
    /// One sentence for the chat user: what happened and what to do, without
    /// details that belong in the agent's log, and never the key.
    pub fn short_reply(&self) -> String {
        match self {
            AnthropicError::Unauthorized { status, .. } => {
                format!("The model API refused the key ({status}): check ANTHROPIC_API_KEY.")
            }
            AnthropicError::RateLimited {
                retry_after: Some(after),
                ..
            } => format!(
                "The model API is rate-limiting this agent (429): try again in {} seconds.",
                after.as_secs().max(1)
            ),
            AnthropicError::RateLimited { .. } => {
                "The model API is rate-limiting this agent (429): try again in a moment.".into()
            }
            AnthropicError::Overloaded { .. } => {
                "The model API is overloaded (529): try again in a moment.".into()
            }
            AnthropicError::Server { status, .. } => {
                format!("The model API failed ({status}): try again in a moment.")
            }
            AnthropicError::BadRequest { message, .. } => {
                format!(
                    "The model API rejected the request (400): {}",
                    sentence(message)
                )
            }
            AnthropicError::Api {
                status, message, ..
            } => {
                format!("The model API answered {status}: {}", sentence(message))
            }
            AnthropicError::PolicyDenied { host, .. } => format!(
                "The sandbox network policy blocks the model API: allow it with \
                 `sbx policy allow network {host}`."
            ),
            AnthropicError::CaNotTrusted { .. } => format!(
                "The sandbox proxy's CA is not trusted, so the model API cannot be reached: \
                 provide it with {PROXY_CA_B64_VAR}."
            ),
            AnthropicError::Http {
                source: HttpError::Timeout { .. },
            } => "The model API did not answer in time: try again.".into(),
            AnthropicError::Http { .. } => {
                "The model API cannot be reached: the agent's log says why.".into()
            }
            AnthropicError::InvalidBaseUrl { .. } => {
                "The model API URL is not usable: check ANTHROPIC_BASE_URL.".into()
            }
            AnthropicError::InvalidKey => {
                "The API key cannot be sent (it holds invalid characters): check \
                 ANTHROPIC_API_KEY."
                    .into()
            }
            AnthropicError::Decode { .. } => {
                "The model API's answer could not be read: check ANTHROPIC_BASE_URL.".into()
            }
        }
    }

    /// The client's error, routed to the variant a chat user can act on.
    pub fn from_http(error: HttpError) -> Self {
        match error {
            HttpError::PolicyDenied { ref host, .. } => AnthropicError::PolicyDenied {
                host: host.clone(),
                source: error,
            },
            HttpError::CaNotTrusted { .. } => AnthropicError::CaNotTrusted { source: error },
            other => AnthropicError::Http { source: other },
        }
    }
}

/// `text` ending in one full stop.
fn sentence(text: &str) -> String {
    let text = text.trim().trim_end_matches('.');
    if text.is_empty() {
        "no reason given.".into()
    } else {
        format!("{text}.")
    }
}

/// A Messages API client: where, which model, how long a reply may be, and
/// the system prompt. Cheap to clone.
#[derive(Debug, Clone)]
pub struct AnthropicClient {
    http: HttpClient,
    base_url: String,
    model: String,
    max_tokens: u32,
    system: Option<String>,
}

impl AnthropicClient {
    /// A client on `http` with every default: [`DEFAULT_BASE_URL`],
    /// [`DEFAULT_MODEL`], [`DEFAULT_MAX_TOKENS`], no system prompt.
    pub fn new(http: HttpClient) -> Self {
        AnthropicClient {
            http,
            base_url: DEFAULT_BASE_URL.into(),
            model: DEFAULT_MODEL.into(),
            max_tokens: DEFAULT_MAX_TOKENS,
            system: None,
        }
    }

    /// The API's base URL (`https://api.anthropic.com`, or a gateway's);
    /// a trailing slash is ignored.
    pub fn with_base_url(mut self, base_url: impl Into<String>) -> Self {
        self.base_url = base_url.into().trim().trim_end_matches('/').to_string();
        self
    }

    /// The model to ask.
    pub fn with_model(mut self, model: impl Into<String>) -> Self {
        self.model = model.into().trim().to_string();
        self
    }

    /// The most tokens a reply may have (at least 1).
    pub fn with_max_tokens(mut self, max_tokens: u32) -> Self {
        self.max_tokens = max_tokens.max(1);
        self
    }

    /// The system prompt; `None` or blank for none.
    pub fn with_system(mut self, system: Option<String>) -> Self {
        self.system = system.filter(|s| !s.trim().is_empty());
        self
    }

    /// The model asked.
    pub fn model(&self) -> &str {
        &self.model
    }

    /// `{base}/v1/messages`.
    pub fn messages_url(&self) -> String {
        format!("{}/v1/messages", self.base_url)
    }

    /// The JSON body for `turns`.
    pub fn request_body(&self, turns: &[Turn]) -> serde_json::Value {
        let mut body = serde_json::json!({
            "model": self.model,
            "max_tokens": self.max_tokens,
            "messages": turns,
        });
        if let Some(system) = &self.system {
            body["system"] = serde_json::Value::String(system.clone());
        }
        body
    }

    /// Asks the model to continue `turns` (which should start with a user
    /// turn and alternate). `key` goes in `x-api-key`; without one the
    /// header is left out.
    pub async fn complete(
        &self,
        key: Option<&ApiKey>,
        turns: &[Turn],
    ) -> Result<Completion, AnthropicError> {
        let url = self.messages_url();
        let mut request = Request::post(&url)
            .header("anthropic-version", API_VERSION)
            .header(CONTENT_TYPE, "application/json");
        if let Some(key) = key {
            request = request.header("x-api-key", key.header()?);
        }
        let request = request
            .body(Full::new(Bytes::from(self.request_body(turns).to_string())))
            .map_err(|e| AnthropicError::InvalidBaseUrl {
                url: url.clone(),
                reason: e.to_string(),
            })?;
        let response = self
            .http
            .send_buffered(request)
            .await
            .map_err(AnthropicError::from_http)?;
        let parsed = parse_response(response.status(), response.headers(), response.body());
        parsed.map_err(|e| match key {
            Some(key) => scrub_error(e, key),
            None => e,
        })
    }
}

/// Reads a Messages API response: the reply's text on a success status,
/// else the error the status and the API's `{"error":{"type","message"}}`
/// make.
pub fn parse_response(
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Completion, AnthropicError> {
    if status.is_success() {
        return parse_success(status, body);
    }
    let (kind, message) = error_details(body);
    let code = status.as_u16();
    Err(match code {
        401 | 403 => AnthropicError::Unauthorized {
            status: code,
            kind,
            message,
        },
        429 => AnthropicError::RateLimited {
            retry_after: retry_after(headers),
            message,
        },
        529 => AnthropicError::Overloaded { message },
        400 => AnthropicError::BadRequest { kind, message },
        500..=599 => AnthropicError::Server {
            status: code,
            message,
        },
        _ => AnthropicError::Api {
            status: code,
            kind,
            message,
        },
    })
}

#[derive(Deserialize)]
struct Reply {
    #[serde(default)]
    content: Vec<Block>,
    #[serde(default)]
    stop_reason: Option<String>,
    #[serde(default)]
    model: Option<String>,
}

#[derive(Deserialize)]
struct Block {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    text: Option<String>,
}

fn parse_success(status: StatusCode, body: &[u8]) -> Result<Completion, AnthropicError> {
    let reply: Reply = serde_json::from_slice(body).map_err(|e| AnthropicError::Decode {
        status: status.as_u16(),
        reason: format!("not a Messages API reply: {e}"),
    })?;
    let text: Vec<String> = reply
        .content
        .into_iter()
        .filter(|block| block.kind == "text")
        .filter_map(|block| block.text)
        .collect();
    Ok(Completion {
        text: text.join("\n"),
        stop_reason: reply.stop_reason,
        model: reply.model,
    })
}

/// The API's `error.type` and `error.message`, or `http_error` and the start
/// of the body when it is not the API's error JSON.
fn error_details(body: &[u8]) -> (String, String) {
    #[derive(Deserialize)]
    struct Envelope {
        error: Detail,
    }
    #[derive(Deserialize)]
    struct Detail {
        #[serde(rename = "type", default)]
        kind: Option<String>,
        #[serde(default)]
        message: Option<String>,
    }
    match serde_json::from_slice::<Envelope>(body) {
        Ok(Envelope { error }) => (
            error.kind.unwrap_or_else(|| "error".into()),
            shorten(&error.message.unwrap_or_default()),
        ),
        Err(_) => ("http_error".into(), excerpt(body)),
    }
}

/// The first non-empty line of a body, bounded.
fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let line = text.lines().map(str::trim).find(|l| !l.is_empty());
    match line {
        Some(line) => shorten(line),
        None => "empty body".into(),
    }
}

fn shorten(text: &str) -> String {
    let text = text.trim();
    if text.chars().count() <= MAX_MESSAGE_CHARS {
        return text.to_string();
    }
    let mut short: String = text.chars().take(MAX_MESSAGE_CHARS).collect();
    short.push('…');
    short
}

/// `retry-after` in whole seconds (the API never sends an HTTP date).
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    let secs: f64 = value.parse().ok()?;
    Duration::try_from_secs_f64(secs.ceil()).ok()
}

/// The error with the key removed from the API's own text.
fn scrub_error(error: AnthropicError, key: &ApiKey) -> AnthropicError {
    match error {
        AnthropicError::Unauthorized {
            status,
            kind,
            message,
        } => AnthropicError::Unauthorized {
            status,
            kind,
            message: key.scrub(&message),
        },
        AnthropicError::RateLimited {
            retry_after,
            message,
        } => AnthropicError::RateLimited {
            retry_after,
            message: key.scrub(&message),
        },
        AnthropicError::Overloaded { message } => AnthropicError::Overloaded {
            message: key.scrub(&message),
        },
        AnthropicError::Server { status, message } => AnthropicError::Server {
            status,
            message: key.scrub(&message),
        },
        AnthropicError::BadRequest { kind, message } => AnthropicError::BadRequest {
            kind,
            message: key.scrub(&message),
        },
        AnthropicError::Api {
            status,
            kind,
            message,
        } => AnthropicError::Api {
            status,
            kind,
            message: key.scrub(&message),
        },
        AnthropicError::Decode { status, reason } => AnthropicError::Decode {
            status,
            reason: key.scrub(&reason),
        },
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "sk-ant-test-SECRET-0123";

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    fn api_error(kind: &str, message: &str) -> Vec<u8> {
        serde_json::json!({"type": "error", "error": {"type": kind, "message": message}})
            .to_string()
            .into_bytes()
    }

    #[test]
    fn text_blocks_are_joined_and_other_blocks_ignored() {
        let body = br#"{"id":"msg_1","type":"message","role":"assistant","model":"claude-haiku-4-5",
            "content":[{"type":"text","text":"Hello"},{"type":"tool_use","id":"t","name":"x","input":{}},
            {"type":"text","text":"there"}],"stop_reason":"end_turn","usage":{"input_tokens":1}}"#;
        let done = parse_response(StatusCode::OK, &HeaderMap::new(), body).unwrap();
        assert_eq!(done.text, "Hello\nthere");
        assert_eq!(done.stop_reason.as_deref(), Some("end_turn"));
        assert_eq!(done.model.as_deref(), Some("claude-haiku-4-5"));

        let empty = parse_response(StatusCode::OK, &HeaderMap::new(), br#"{"content":[]}"#);
        assert_eq!(empty.unwrap().text, "");
    }

    #[test]
    fn a_success_that_is_not_a_reply_is_a_decode_error() {
        for body in [&b"<html>gateway</html>"[..], b"", br#"{"content":"nope"}"#] {
            let err = parse_response(StatusCode::OK, &HeaderMap::new(), body).unwrap_err();
            assert!(
                matches!(err, AnthropicError::Decode { status: 200, .. }),
                "{err:?}"
            );
        }
    }

    #[test]
    fn statuses_map_to_the_error_a_user_can_act_on() {
        let none = HeaderMap::new();
        let cases: Vec<(u16, HeaderMap, Vec<u8>, &str)> = vec![
            (
                401,
                none.clone(),
                api_error("authentication_error", "invalid x-api-key"),
                "Unauthorized",
            ),
            (
                403,
                none.clone(),
                api_error("permission_error", "no access"),
                "Unauthorized",
            ),
            (
                429,
                headers(&[("retry-after", "17")]),
                api_error("rate_limit_error", "slow down"),
                "RateLimited",
            ),
            (
                529,
                none.clone(),
                api_error("overloaded_error", "Overloaded"),
                "Overloaded",
            ),
            (500, none.clone(), api_error("api_error", "boom"), "Server"),
            (
                503,
                none.clone(),
                b"<html>Service Unavailable</html>".to_vec(),
                "Server",
            ),
            (
                400,
                none.clone(),
                api_error("invalid_request_error", "max_tokens: too big"),
                "BadRequest",
            ),
            (
                404,
                none.clone(),
                api_error("not_found_error", "model: nope"),
                "Api",
            ),
        ];
        for (status, headers, body, want) in cases {
            let err =
                parse_response(StatusCode::from_u16(status).unwrap(), &headers, &body).unwrap_err();
            let got = format!("{err:?}");
            assert!(got.starts_with(want), "{status}: {got}");
            let reply = err.short_reply();
            assert!(reply.ends_with('.') && !reply.contains('\n'), "{reply}");
        }
    }

    #[test]
    fn errors_carry_the_api_message_and_the_fix() {
        let err = parse_response(
            StatusCode::UNAUTHORIZED,
            &HeaderMap::new(),
            &api_error("authentication_error", "invalid x-api-key"),
        )
        .unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("authentication_error: invalid x-api-key"),
            "{text}"
        );
        assert!(text.contains("check the ANTHROPIC_API_KEY"), "{text}");
        assert_eq!(
            err.short_reply(),
            "The model API refused the key (401): check ANTHROPIC_API_KEY."
        );

        let limited = parse_response(
            StatusCode::TOO_MANY_REQUESTS,
            &headers(&[("retry-after", "17")]),
            &api_error("rate_limit_error", "slow down"),
        )
        .unwrap_err();
        match &limited {
            AnthropicError::RateLimited {
                retry_after,
                message,
            } => {
                assert_eq!(*retry_after, Some(Duration::from_secs(17)));
                assert_eq!(message, "slow down");
            }
            other => panic!("{other:?}"),
        }
        assert!(
            limited.short_reply().contains("17 seconds"),
            "{}",
            limited.short_reply()
        );

        let bad = parse_response(
            StatusCode::BAD_REQUEST,
            &HeaderMap::new(),
            &api_error("invalid_request_error", "model: unknown model 'x'."),
        )
        .unwrap_err();
        assert_eq!(
            bad.short_reply(),
            "The model API rejected the request (400): model: unknown model 'x'."
        );

        let long = "x".repeat(1000);
        let server = parse_response(
            StatusCode::BAD_GATEWAY,
            &HeaderMap::new(),
            format!("\n\n{long}\nmore").as_bytes(),
        )
        .unwrap_err();
        match server {
            AnthropicError::Server {
                status: 502,
                message,
            } => {
                assert_eq!(message.chars().count(), MAX_MESSAGE_CHARS + 1)
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn client_errors_keep_their_cause() {
        let denied = AnthropicError::from_http(HttpError::PolicyDenied {
            host: "api.anthropic.com".into(),
            proxy: "http://gateway.docker.internal:3128".into(),
        });
        assert!(
            matches!(&denied, AnthropicError::PolicyDenied { host, .. } if host == "api.anthropic.com")
        );
        assert!(denied
            .to_string()
            .contains("`sbx policy allow network api.anthropic.com`"));
        assert!(std::error::Error::source(&denied).is_some());
        assert_eq!(
            denied.short_reply(),
            "The sandbox network policy blocks the model API: allow it with \
             `sbx policy allow network api.anthropic.com`."
        );

        let ca = AnthropicError::from_http(HttpError::CaNotTrusted {
            host: "api.anthropic.com:443".into(),
            proxy: "http://p:3128".into(),
        });
        assert!(matches!(ca, AnthropicError::CaNotTrusted { .. }));
        assert!(ca.to_string().contains("PROXY_CA_CERT_B64"));

        let timeout = AnthropicError::from_http(HttpError::Timeout {
            phase: crate::http::Phase::Request,
            peer: "api.anthropic.com:443".into(),
            after: Duration::from_secs(60),
        });
        assert!(matches!(timeout, AnthropicError::Http { .. }));
        assert_eq!(
            timeout.short_reply(),
            "The model API did not answer in time: try again."
        );
    }

    #[test]
    fn the_key_never_shows() {
        let key = ApiKey::new(format!("  {KEY}\n")).unwrap();
        assert_eq!(key.expose(), KEY);
        assert!(!format!("{key:?} {key}").contains(KEY));
        assert!(ApiKey::new("  ").is_none());
        assert!(key.header().unwrap().is_sensitive());

        // An API echoing the key in its message (a misbehaving gateway).
        let echo = format!("invalid x-api-key {KEY}");
        for status in [400, 401, 403, 404, 429, 500, 529] {
            let err = parse_response(
                StatusCode::from_u16(status).unwrap(),
                &HeaderMap::new(),
                &api_error("error", &echo),
            )
            .unwrap_err();
            let err = scrub_error(err, &key);
            for shown in [err.to_string(), format!("{err:?}"), err.short_reply()] {
                assert!(!shown.contains(KEY), "{status}: {shown}");
            }
        }
        let bad = ApiKey::new("sk-\u{7f}x").unwrap();
        assert!(matches!(bad.header(), Err(AnthropicError::InvalidKey)));
        assert!(!AnthropicError::InvalidKey.short_reply().contains("sk-"));
    }

    #[test]
    fn the_request_body_has_the_api_shape() {
        let http = HttpClient::builder(crate::proxy::StaticProxyConfig::direct())
            .build()
            .unwrap();
        let client = AnthropicClient::new(http)
            .with_base_url("https://gateway.test/anthropic/")
            .with_model("claude-test")
            .with_max_tokens(0)
            .with_system(Some("Be brief.".into()));
        assert_eq!(
            client.messages_url(),
            "https://gateway.test/anthropic/v1/messages"
        );
        let body = client.request_body(&[
            Turn::user("hi"),
            Turn::assistant("hello"),
            Turn::user("bye"),
        ]);
        assert_eq!(
            body,
            serde_json::json!({
                "model": "claude-test",
                "max_tokens": 1,
                "system": "Be brief.",
                "messages": [
                    {"role": "user", "content": "hi"},
                    {"role": "assistant", "content": "hello"},
                    {"role": "user", "content": "bye"},
                ],
            })
        );
        let plain = client.with_system(Some("  ".into())).request_body(&[]);
        assert!(plain.get("system").is_none());
    }
}
