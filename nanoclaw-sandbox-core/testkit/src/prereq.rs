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

/// `Some(value)` when `result` is `Ok`; `None`, after [`missing`] said
/// why, when its error means `what` is absent (`absent` says which errors
/// do: a daemon that does not answer, say); panics on any other error.
pub fn or_skip<T, E: std::fmt::Display>(
    what: &str,
    result: Result<T, E>,
    absent: impl FnOnce(&E) -> bool,
) -> Option<T> {
    match result {
        Ok(value) => Some(value),
        Err(e) if absent(&e) => {
            missing(what, &e.to_string());
            None
        }
        Err(e) => panic!("{what} failed unexpectedly: {e}"),
    }
}
