//! What a test does when a prerequisite (Docker daemon, mitmproxy, Debian
//! image) is missing.
//!
//! A test may skip (printing why) only when `NANOCLAW_REQUIRE_DOCKER` is
//! unset; CI sets it to 1, and then a missing prerequisite fails the test.

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
