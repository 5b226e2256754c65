//! Log output: `tracing` events on stderr (stdout carries the command's
//! result), filtered by `RUST_LOG` when it is set.

use tracing_subscriber::EnvFilter;

/// Warnings only: what commands other than `proxy` show by default.
pub const WARNINGS: &str = "warn";

/// Installs a subscriber writing to stderr, with `default_filter` unless
/// `RUST_LOG` says otherwise. A second call (or another subscriber already
/// installed) keeps the first.
pub fn init(default_filter: &str) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .try_init();
}
