//! How results and notes are printed: results on stdout, notes for a human
//! (progress, narration) on stderr. JSON has two forms, and every command
//! prints it through this module:
//!
//! - [`json_line`]: one object on one line, the `--json` result of a
//!   command (`route`, `build`, `demo`), for `jq` and scripts;
//! - [`json_document`]: an indented document (`doctor --json`, `inspect
//!   --json`, `run --dry-run`, `spec-schema`), read by people as often.

use serde::Serialize;

/// Prints `value` as one line of JSON on stdout.
pub(crate) fn json_line(value: &impl Serialize) -> anyhow::Result<()> {
    let text = serde_json::to_string(value)?;
    say!("{text}");
    Ok(())
}

/// Prints `value` as indented JSON on stdout.
pub(crate) fn json_document(value: &impl Serialize) -> anyhow::Result<()> {
    let text = serde_json::to_string_pretty(value)?;
    say!("{text}");
    Ok(())
}

/// A line on stderr for a human: progress and narration, never a result.
/// A stderr that cannot be written is no reason to fail the command.
pub(crate) fn note(line: impl std::fmt::Display) {
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr(), "{line}");
}
