//! A double of the Anthropic Messages API: `POST /v1/messages`.
//!
//! It checks what the real API checks first: the `x-api-key` header (when a
//! key is configured; else 401 `authentication_error`), the
//! `anthropic-version` header (else 400), and a body with a string `model`,
//! an integer `max_tokens` and a non-empty `messages` array of `{role,
//! content}` (content a string or an array of content blocks, text blocks
//! carrying `text`) ending with a `user` turn (else 400
//! `invalid_request_error`). It answers a `message` whose one text block is
//! [`ModelDouble::answer_for`] the last user turn. Other paths: 404
//! `not_found_error`. Errors have the API's shape:
//! `{"type":"error","error":{"type":..,"message":..}}`.
//!
//! The key is compared, never recorded or logged.

use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Method, Response, StatusCode};
use serde_json::{json, Value};

use super::server::{self, Request, Server};
use crate::upstream::LocalCa;

/// A request the double received on `/v1/messages`.
#[derive(Debug, Clone)]
pub struct ModelRequest {
    /// The `model` asked for (empty when missing).
    pub model: String,
    /// number of entries in `messages`
    pub turns: usize,
    /// The text of the last `user` turn (its text blocks joined by
    /// newlines; empty when there is none).
    pub last_user_text: String,
    /// The HTTP status the double answered.
    pub status: u16,
}

/// A running Messages API double; a cheap handle (clone it freely). The
/// server stops when the last handle is dropped, or at once with
/// [`shutdown`](ModelDouble::shutdown).
#[derive(Clone)]
pub struct ModelDouble {
    inner: Arc<Inner>,
}

struct Inner {
    state: Arc<Shared>,
    server: Server,
}

struct Shared {
    api_key: Option<String>,
    delay: Mutex<Duration>,
    requests: Mutex<Vec<ModelRequest>>,
    answered: AtomicU64,
}

/// Locks data that every writer leaves consistent before anything can panic.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl fmt::Debug for ModelDouble {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the key.
        f.debug_struct("ModelDouble")
            .field("addr", &self.addr())
            .field("checks_key", &self.inner.state.api_key.is_some())
            .finish_non_exhaustive()
    }
}

impl ModelDouble {
    /// Serves the Messages API over HTTPS as `host` (certificate from `ca`)
    /// on a free loopback port.
    ///
    /// `api_key`: the x-api-key it accepts (`None`: any or none, as when the
    /// sandbox proxy injects the key).
    pub async fn start(ca: &LocalCa, host: &str, api_key: Option<&str>) -> anyhow::Result<Self> {
        let state = Arc::new(Shared {
            api_key: api_key.map(str::to_string),
            delay: Mutex::new(Duration::ZERO),
            requests: Mutex::new(Vec::new()),
            answered: AtomicU64::new(0),
        });
        let handler_state = Arc::clone(&state);
        let server = Server::start(ca, &[host], move |request| {
            let state = Arc::clone(&handler_state);
            async move { answer(&state, request).await }
        })
        .await?;
        Ok(ModelDouble {
            inner: Arc::new(Inner { state, server }),
        })
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.inner.server.addr()
    }

    /// Stops the server now.
    pub fn shutdown(&self) {
        self.inner.server.shutdown();
    }

    /// Every request answer waits this long first (to slow agents down in tests).
    pub fn set_delay(&self, delay: Duration) {
        *lock(&self.inner.state.delay) = delay;
    }

    /// The requests it received on `/v1/messages`, in arrival order (each is
    /// recorded when it arrives, before the delay).
    pub fn requests(&self) -> Vec<ModelRequest> {
        lock(&self.inner.state.requests).clone()
    }

    /// What the double answers to a conversation whose last user turn is `text`.
    pub fn answer_for(text: &str) -> String {
        format!("model double: you said {text:?}")
    }
}

/// `{"type":"error","error":{"type": kind,"message": message}}`.
fn error(status: StatusCode, kind: &str, message: &str) -> Response<Full<Bytes>> {
    server::json(
        status,
        &json!({ "type": "error", "error": { "type": kind, "message": message } }),
    )
}

/// Records the request as it arrives (so a test sees an agent waiting on
/// the model), then waits the delay, then answers.
async fn answer(state: &Shared, request: Request) -> Response<Full<Bytes>> {
    let response = decide(state, request);
    let delay = *lock(&state.delay);
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    response
}

fn decide(state: &Shared, request: Request) -> Response<Full<Bytes>> {
    if request.path != "/v1/messages" {
        return error(
            StatusCode::NOT_FOUND,
            "not_found_error",
            &format!("Not found: {}", request.path),
        );
    }
    let body: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
    let mut seen = ModelRequest {
        model: body["model"].as_str().unwrap_or_default().to_string(),
        turns: body["messages"].as_array().map_or(0, Vec::len),
        last_user_text: last_user_text(&body),
        status: 200,
    };
    let response = check_and_answer(state, &request, &body);
    seen.status = response.status().as_u16();
    lock(&state.requests).push(seen);
    response
}

fn check_and_answer(state: &Shared, request: &Request, body: &Value) -> Response<Full<Bytes>> {
    if request.method != Method::POST {
        return error(
            StatusCode::METHOD_NOT_ALLOWED,
            "invalid_request_error",
            &format!(
                "{} is not allowed on /v1/messages: use POST",
                request.method
            ),
        );
    }
    if let Some(expected) = &state.api_key {
        let given = request.headers.get("x-api-key").map(|v| v.as_bytes());
        if given != Some(expected.as_bytes()) {
            return error(
                StatusCode::UNAUTHORIZED,
                "authentication_error",
                "invalid x-api-key",
            );
        }
    }
    if !request.headers.contains_key("anthropic-version") {
        return error(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            "anthropic-version: header is required",
        );
    }
    if let Err(reason) = validate(body) {
        return error(StatusCode::BAD_REQUEST, "invalid_request_error", &reason);
    }
    let model = body["model"].as_str().unwrap_or_default();
    let text = ModelDouble::answer_for(&last_user_text(body));
    let n = state.answered.fetch_add(1, Ordering::Relaxed) + 1;
    let input_chars: usize = body["messages"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|m| content_text(&m["content"]).chars().count())
        .sum();
    let mut response = server::json(
        StatusCode::OK,
        &json!({
            "id": format!("msg_double_{n}"),
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [{ "type": "text", "text": text }],
            "stop_reason": "end_turn",
            "stop_sequence": null,
            "usage": {
                "input_tokens": tokens(input_chars),
                "output_tokens": tokens(text.chars().count()),
            },
        }),
    );
    if let Ok(id) = format!("req_double_{n}").parse() {
        response.headers_mut().insert("request-id", id);
    }
    response
}

/// A rough token count: one per four characters, at least one.
fn tokens(chars: usize) -> usize {
    chars.div_ceil(4).max(1)
}

/// Why a body is not a valid Messages request.
fn validate(body: &Value) -> Result<(), String> {
    if !body.is_object() {
        return Err("the request body must be a JSON object".into());
    }
    if body["model"].as_str().is_none_or(str::is_empty) {
        return Err("model: Field required (a string)".into());
    }
    if !(body["max_tokens"].is_u64() || body["max_tokens"].is_i64()) {
        return Err("max_tokens: Field required (an integer)".into());
    }
    let messages = match body["messages"].as_array() {
        Some(messages) if !messages.is_empty() => messages,
        _ => return Err("messages: at least one message is required".into()),
    };
    for (i, message) in messages.iter().enumerate() {
        match message["role"].as_str() {
            Some("user" | "assistant") => {}
            _ => return Err(format!("messages.{i}.role: must be `user` or `assistant`")),
        }
        match &message["content"] {
            Value::String(_) => {}
            Value::Array(blocks) if !blocks.is_empty() => {
                for (j, block) in blocks.iter().enumerate() {
                    let well_formed = match block["type"].as_str() {
                        Some("text") => block["text"].is_string(),
                        Some(_) => true,
                        None => false,
                    };
                    if !well_formed {
                        return Err(format!(
                            "messages.{i}.content.{j}: a block needs a `type` (and text blocks a string `text`)"
                        ));
                    }
                }
            }
            _ => {
                return Err(format!(
                    "messages.{i}.content: must be a string or a non-empty array of content blocks"
                ))
            }
        }
    }
    if messages.last().and_then(|m| m["role"].as_str()) != Some("user") {
        return Err("messages: the last message must have the `user` role".into());
    }
    Ok(())
}

/// The text of a `content`: the string, or its text blocks joined by newlines.
fn content_text(content: &Value) -> String {
    match content {
        Value::String(text) => text.clone(),
        Value::Array(blocks) => blocks
            .iter()
            .filter(|b| b["type"] == "text")
            .filter_map(|b| b["text"].as_str())
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}

/// The text of the last `user` turn, empty when there is none.
fn last_user_text(body: &Value) -> String {
    body["messages"]
        .as_array()
        .and_then(|messages| messages.iter().rev().find(|m| m["role"] == "user"))
        .map(|m| content_text(&m["content"]))
        .unwrap_or_default()
}
