//! Shared by the integration tests: what a test does when a prerequisite is missing.
//!
//! A test may skip (printing why) only when `NANOCLAW_REQUIRE_DOCKER` is unset;
//! CI sets it to 1, and then a missing daemon, mitmproxy or Debian image fails.
#![allow(dead_code)]

pub mod e2e;

/// The variable CI sets so that no prerequisite is ever skipped.
pub const REQUIRE_VAR: &str = "NANOCLAW_REQUIRE_DOCKER";

/// Whether missing prerequisites must fail rather than skip.
pub fn prerequisites_required() -> bool {
    std::env::var(REQUIRE_VAR).is_ok_and(|v| !v.is_empty() && v != "0")
}

/// Call when `what` is unavailable: panics under `NANOCLAW_REQUIRE_DOCKER=1`,
/// else prints a `SKIPPED` line naming the test's prerequisite and the reason.
/// The caller returns right after.
pub fn missing(what: &str, why: &str) {
    if prerequisites_required() {
        panic!("{what} is required ({REQUIRE_VAR} is set) but unavailable: {why}");
    }
    eprintln!("SKIPPED: {what} unavailable ({why}); set {REQUIRE_VAR}=1 to make this a failure");
}

#[cfg(feature = "standin")]
pub mod standin_client;
#[cfg(feature = "standin")]
pub mod standin_logs;
#[cfg(feature = "standin")]
pub mod standin_pki;
#[cfg(feature = "standin")]
pub mod standin_servers;
// Test CAs, upstream servers, proxies (the client's tests; reusable).
#[cfg(feature = "client")]
pub mod client_fixture;
#[cfg(feature = "client")]
pub mod connect_proxy;
#[cfg(feature = "client")]
pub mod echo_server;
pub mod mitm;
pub mod test_ca;
