//! One error type for every fixture: a message that says what was being done
//! and what came back (logs included), so a failing test explains itself.

use std::fmt;

/// A fixture could not be set up or did not behave.
pub struct FixtureError(String);

/// Results of fixture operations.
pub type Result<T> = std::result::Result<T, FixtureError>;

impl FixtureError {
    /// An error with this message.
    pub fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}

// Debug shows the message as is: a test returning `Err` prints it with its
// line breaks intact (logs are multi-line).
impl fmt::Debug for FixtureError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Display for FixtureError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for FixtureError {}

/// Adds "while doing X" to any error.
pub trait Context<T> {
    /// Wraps the error as a [`FixtureError`] starting with `what`.
    fn context(self, what: impl FnOnce() -> String) -> Result<T>;
}

impl<T, E: fmt::Display> Context<T> for std::result::Result<T, E> {
    fn context(self, what: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|e| FixtureError(format!("{}: {e}", what())))
    }
}
