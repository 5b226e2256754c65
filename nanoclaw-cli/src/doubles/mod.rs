//! API doubles: HTTPS servers on `127.0.0.1` that answer as the real
//! services document, for demos and tests that must not leave the machine.
//!
//! Each double presents a certificate from a [`LocalCa`](crate::upstream::LocalCa)
//! for the host names it is given (`api.telegram.test`), speaks HTTP/1.1 and
//! HTTP/2 (by ALPN) with keep-alive, and records what it was asked. A client
//! reaches it by name through the proxy stand-in's `--map` (no DNS), trusting
//! the CA as a public root.
//!
//! - [`telegram::TelegramDouble`]: the Bot API (`getUpdates`, `sendMessage`,
//!   `sendChatAction`);
//! - [`anthropic::ModelDouble`]: the Messages API (`POST /v1/messages`).
//!
//! A double's handle is cheap to clone; the server stops when the last
//! handle is dropped, or at once with `shutdown()`.

pub mod anthropic;
mod server;
pub mod telegram;
