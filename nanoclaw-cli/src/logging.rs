//! Log output: `tracing` events on stderr (stdout carries the command's
//! result), filtered by `RUST_LOG` when it is set.

use tracing_subscriber::EnvFilter;

/// Warnings only: what commands other than `proxy` show by default.
pub(crate) const WARNINGS: &str = "warn";

/// Colour only on a terminal, and not when `NO_COLOR` is set to anything
/// but the empty string (no-color.org).
fn colour(terminal: bool, no_color: Option<std::ffi::OsString>) -> bool {
    terminal && no_color.is_none_or(|v| v.is_empty())
}

/// Installs a subscriber writing to stderr, with `default_filter` unless
/// `RUST_LOG` says otherwise. A second call (or another subscriber already
/// installed) keeps the first.
pub(crate) fn init(default_filter: &str) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(colour(
            std::io::IsTerminal::is_terminal(&std::io::stderr()),
            std::env::var_os("NO_COLOR"),
        ))
        .with_target(false)
        .try_init();
}

#[cfg(test)]
mod tests {
    use super::colour;

    #[test]
    fn no_color_turns_colour_off_on_a_terminal() {
        assert!(colour(true, None));
        assert!(colour(true, Some("".into())));
        assert!(!colour(true, Some("1".into())));
        assert!(!colour(false, None));
    }
}
