//! How commands end: exit codes and the one place errors are printed.

use std::future::Future;
use std::process::ExitCode;

use nanoclaw_sandbox_core::runtime::RuntimeError;

/// Exit code when a prerequisite (the Docker daemon) is missing.
pub const PREREQUISITE_MISSING: u8 = 2;

/// Exit code for a usage or input error (bad flag value, malformed file).
pub const USAGE: u8 = 2;

/// An error in what the user typed or gave: exits with [`USAGE`].
#[derive(Debug)]
pub struct UsageError(String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// Wraps an input error so that the command exits with [`USAGE`].
pub fn usage(error: impl std::fmt::Display) -> anyhow::Error {
    anyhow::Error::new(UsageError(error.to_string()))
}

/// Runs `future` on a fresh multi-threaded runtime.
pub fn block_on<F: Future<Output = anyhow::Result<ExitCode>>>(
    future: F,
) -> anyhow::Result<ExitCode> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| anyhow::anyhow!("cannot start the async runtime: {e}"))?
        .block_on(future)
}

/// Prints an error (with its causes) and maps it to an exit code: 2 when the
/// daemon is unreachable, 1 otherwise.
pub fn report(outcome: anyhow::Result<ExitCode>) -> ExitCode {
    match outcome {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error}");
            for cause in error.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
            let unreachable = error.chain().any(|cause| {
                matches!(
                    cause.downcast_ref::<RuntimeError>(),
                    Some(RuntimeError::DaemonUnreachable { .. })
                )
            });
            let usage = error
                .chain()
                .any(|cause| cause.downcast_ref::<UsageError>().is_some());
            ExitCode::from(match (unreachable, usage) {
                (true, _) => PREREQUISITE_MISSING,
                (_, true) => USAGE,
                _ => 1,
            })
        }
    }
}
