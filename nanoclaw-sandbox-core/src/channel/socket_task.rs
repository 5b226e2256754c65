//! The background task of a socket channel (Discord's Gateway, Slack's
//! Socket Mode): started by the first `receive`, started again if it ended
//! without stopping for good (it panicked), aborted when the transport goes.

use std::future::Future;
use std::sync::{Mutex, PoisonError};

use tokio::task::JoinHandle;

/// One transport's socket task; dropping it aborts the task.
#[derive(Debug, Default)]
pub(crate) struct SocketTask(Mutex<Option<JoinHandle<()>>>);

impl SocketTask {
    /// Spawns `start()` unless the task runs, or ended and `stopped_for_good()`.
    pub(crate) fn ensure<F>(
        &self,
        stopped_for_good: impl FnOnce() -> bool,
        start: impl FnOnce() -> F,
    ) where
        F: Future<Output = ()> + Send + 'static,
    {
        let mut task = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let needed = match task.as_ref() {
            None => true,
            Some(handle) => handle.is_finished() && !stopped_for_good(),
        };
        if needed {
            *task = Some(tokio::spawn(start()));
        }
    }
}

impl Drop for SocketTask {
    fn drop(&mut self) {
        let task = self.0.get_mut().unwrap_or_else(PoisonError::into_inner);
        if let Some(task) = task.take() {
            task.abort();
        }
    }
}
