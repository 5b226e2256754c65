//! One access-log line per request, through `tracing`.
//!
//! A line names the client, the method, the host and port, the decision
//! (`intercept`, `bypass`, `deny`) and the status. Never the path or query
//! (tokens live there: Telegram's `/bot<TOKEN>/...`), never a header (the
//! injected credentials): the log is safe to share.

use std::net::SocketAddr;

use http::{Method, StatusCode};

use super::policy::Decision;
use super::target::Target;

/// The `tracing` target of access-log events, for filtering
/// (`RUST_LOG=nanoclaw_sandbox_core::standin::access=info`).
pub const ACCESS_LOG_TARGET: &str = "nanoclaw_sandbox_core::standin::access";

/// Logs one request.
pub(crate) fn record(
    peer: SocketAddr,
    method: &Method,
    target: &Target,
    decision: Decision,
    status: StatusCode,
) {
    tracing::info!(
        target: "nanoclaw_sandbox_core::standin::access",
        %peer,
        %method,
        host = target.host(),
        port = target.port(),
        decision = decision.as_str(),
        status = status.as_u16(),
        "{method} {target} {decision} {}",
        status.as_u16()
    );
}
