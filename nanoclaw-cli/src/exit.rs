//! How commands end: exit codes and the one place errors are printed.

use std::future::Future;
use std::process::ExitCode;
use std::time::Duration;

use nanoclaw_sandbox_core::runtime::docker::docker_hint;
use nanoclaw_sandbox_core::runtime::{wait_for_pending_removals, RuntimeError};
use nanoclaw_sandbox_core::sandbox::DetectError;

/// Exit code when a prerequisite (the Docker daemon) is missing.
pub(crate) const PREREQUISITE_MISSING: u8 = 2;

/// Exit code for a usage or input error (bad flag value, malformed file).
pub(crate) const USAGE: u8 = 2;

/// An error in what the user typed or gave: exits with [`USAGE`].
#[derive(Debug)]
pub(crate) struct UsageError(String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// Wraps an input error so that the command exits with [`USAGE`].
pub(crate) fn usage(error: impl std::fmt::Display) -> anyhow::Error {
    anyhow::Error::new(UsageError(error.to_string()))
}

/// Whoever read our stdout is gone (`| head`): the command ends quietly.
#[derive(Debug)]
pub(crate) struct StdoutClosed;

impl std::fmt::Display for StdoutClosed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("stdout was closed")
    }
}

impl std::error::Error for StdoutClosed {}

/// A failed write to stdout as an error: [`StdoutClosed`] for a closed pipe.
pub(crate) fn stdout_error(error: std::io::Error) -> anyhow::Error {
    if error.kind() == std::io::ErrorKind::BrokenPipe {
        anyhow::Error::new(StdoutClosed)
    } else {
        anyhow::anyhow!("cannot write to stdout: {error}")
    }
}

/// How long the process waits, before it exits, for the containers that
/// dropped agent handles are still removing (their cleanup threads die with
/// the process; orphan cleanup by label removes what is left).
const PENDING_REMOVALS_WAIT: Duration = Duration::from_secs(20);

/// Runs `future` on a fresh multi-threaded runtime, then waits (bounded) for
/// the container removals that dropped handles left running.
pub(crate) fn block_on<F: Future<Output = anyhow::Result<ExitCode>>>(
    future: F,
) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| anyhow::anyhow!("cannot start the async runtime: {e}"))?;
    let outcome = runtime.block_on(future);
    drop(runtime);
    let left = wait_for_pending_removals(PENDING_REMOVALS_WAIT);
    if left > 0 {
        eprintln!(
            "nanoclaw-sandbox: {left} container removal(s) still running at exit; \
             the next start's orphan cleanup (or `docker rm -f`) removes what they leave"
        );
    }
    outcome
}

/// The error and its causes, one per line, each text once: a cause whose
/// text an earlier line already shows (an error that formats its source
/// into its own message) is left out.
fn error_text(error: &anyhow::Error) -> String {
    let mut out = format!("error: {error}\n");
    let mut shown = error.to_string();
    for cause in error.chain().skip(1) {
        let text = cause.to_string();
        if shown.contains(&text) {
            continue;
        }
        out.push_str(&format!("  caused by: {text}\n"));
        shown.push_str(&text);
    }
    // The engine is Docker: the library's engine-neutral errors get the
    // docker command that fixes them.
    let hint = error
        .chain()
        .filter_map(|cause| cause.downcast_ref::<RuntimeError>())
        .find_map(docker_hint);
    if let Some(hint) = hint {
        out.push_str(&format!("  hint: {hint}\n"));
    }
    out
}

/// Prints an error (with its causes) and maps it to an exit code: 2 when the
/// daemon is unreachable or the input is bad, 1 otherwise; nothing at all,
/// and 0, when stdout was closed under us.
pub(crate) fn report(outcome: anyhow::Result<ExitCode>) -> ExitCode {
    match outcome {
        Ok(code) => code,
        Err(error)
            if error
                .chain()
                .any(|c| c.downcast_ref::<StdoutClosed>().is_some()) =>
        {
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprint!("{}", error_text(&error));
            let unreachable = error.chain().any(|cause| {
                matches!(
                    cause.downcast_ref::<RuntimeError>(),
                    Some(RuntimeError::DaemonUnreachable { .. })
                )
            });
            // Bad input: what the user typed, or the proxy and CA variables
            // (or env file) they gave.
            let usage = error.chain().any(|cause| {
                cause.downcast_ref::<UsageError>().is_some()
                    || cause.downcast_ref::<DetectError>().is_some()
            });
            ExitCode::from(match (unreachable, usage) {
                (true, _) => PREREQUISITE_MISSING,
                (_, true) => USAGE,
                _ => 1,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An error that formats its source into its own message.
    #[derive(Debug)]
    struct Repeats(std::io::Error);

    impl std::fmt::Display for Repeats {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "cannot read the spec: {}", self.0)
        }
    }

    impl std::error::Error for Repeats {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn a_cause_already_in_the_message_is_not_printed_again() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "no such file");
        let error = anyhow::Error::new(Repeats(io)).context("run failed");
        assert_eq!(
            error_text(&error),
            "error: run failed\n  caused by: cannot read the spec: no such file\n"
        );
    }

    #[test]
    fn engine_neutral_errors_get_the_docker_hint() {
        let missing = anyhow::Error::new(RuntimeError::ImageNotFound {
            image: "agent:1".into(),
        })
        .context("run failed");
        let text = error_text(&missing);
        assert!(
            text.ends_with("  hint: build it with `docker build -t agent:1 ...` or load it with `docker load`\n"),
            "{text}"
        );
        // The library's own text names no docker command.
        assert!(!text.lines().next().unwrap().contains("docker "), "{text}");
        let other = anyhow::Error::new(RuntimeError::ContainerNotRunning {
            id: "c".into(),
            operation: "exec",
        });
        assert!(!error_text(&other).contains("hint:"));
    }

    #[test]
    fn a_closed_stdout_is_its_own_error() {
        let closed = stdout_error(std::io::Error::from(std::io::ErrorKind::BrokenPipe));
        assert!(closed.downcast_ref::<StdoutClosed>().is_some());
        assert_eq!(report(Err(closed)), ExitCode::SUCCESS);
        let full = stdout_error(std::io::Error::from(std::io::ErrorKind::StorageFull));
        assert!(full.downcast_ref::<StdoutClosed>().is_none());
    }
}
