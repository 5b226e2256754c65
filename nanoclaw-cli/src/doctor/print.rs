//! The doctor's human output: one line per check, the fix indented under
//! it, colour only on a terminal (and never with `NO_COLOR`).

use std::io::IsTerminal;

use nanoclaw_sandbox_core::doctor::{Check, Status};

/// Prints `checks` and a summary line.
pub(super) fn human(checks: &[Check]) -> anyhow::Result<()> {
    let colour = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    for check in checks {
        let (mark, code) = match check.status {
            Status::Pass => ("✓", "32"),
            Status::Warn => ("!", "33"),
            Status::Fail => ("✗", "31"),
            Status::Skip => ("-", "2"),
        };
        let head = format!("{mark} {}", check.id);
        let head = if colour {
            format!("\x1b[{code}m{head}\x1b[0m")
        } else {
            head
        };
        say!("{head}: {}", check.detail);
        if let Some(fix) = &check.fix {
            say!("    fix: {fix}");
        }
    }
    let count = |status| checks.iter().filter(|c| c.status == status).count();
    say!(
        "{} passed, {} warning(s), {} failed, {} skipped",
        count(Status::Pass),
        count(Status::Warn),
        count(Status::Fail),
        count(Status::Skip)
    );
    Ok(())
}
