//! How results are printed on stdout. JSON has two forms, and every
//! command prints it through this module:
//!
//! - [`json_line`]: one object on one line, the `--json` result of a
//!   command (`route`), for `jq` and scripts;
//! - [`json_document`]: an indented document (`doctor --json`, `inspect
//!   --json`, `run --dry-run`), read by people as often.

use serde::Serialize;

/// Prints `value` as one line of JSON on stdout.
pub fn json_line(value: &impl Serialize) -> anyhow::Result<()> {
    let text = serde_json::to_string(value)?;
    say!("{text}");
    Ok(())
}

/// Prints `value` as indented JSON on stdout.
pub fn json_document(value: &impl Serialize) -> anyhow::Result<()> {
    let text = serde_json::to_string_pretty(value)?;
    say!("{text}");
    Ok(())
}
