//! Container streams: splitting Docker's multiplexed attach stream into
//! stdout and stderr, idle timeouts per stream, and a closable stdin.
//!
//! bollard's own timeout covers only the response headers; a total timeout
//! would kill long-running agents. What protects a reader from a connection
//! that silently died is an *idle* timeout: each stream fails with
//! [`RuntimeError::StreamIdle`] when nothing arrives for that long while it
//! is being read.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use async_trait::async_trait;
use bollard::container::LogOutput;
use futures_util::{Stream, StreamExt};
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio::time::Sleep;

use crate::runtime::{OutputStream, RuntimeError, StdinSink};

/// The item of a stream that went silent for longer than its idle timeout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Idle(pub Duration);

/// Wraps a stream so that a wait longer than `idle` (while polled) yields
/// `Err(Idle)` once, after which the stream ends. `None` disables the timeout.
pub(super) struct IdleTimeout<S> {
    inner: S,
    idle: Option<Duration>,
    timer: Option<Pin<Box<Sleep>>>,
    done: bool,
}

impl<S> IdleTimeout<S> {
    /// Wraps `inner`.
    pub(super) fn new(inner: S, idle: Option<Duration>) -> Self {
        Self {
            inner,
            idle,
            timer: None,
            done: false,
        }
    }
}

impl<S: Stream + Unpin> Stream for IdleTimeout<S> {
    type Item = Result<S::Item, Idle>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.done {
            return Poll::Ready(None);
        }
        match self.inner.poll_next_unpin(cx) {
            Poll::Ready(Some(item)) => {
                // Data arrived: the silence is over; the next wait starts afresh.
                self.timer = None;
                return Poll::Ready(Some(Ok(item)));
            }
            Poll::Ready(None) => {
                self.done = true;
                return Poll::Ready(None);
            }
            Poll::Pending => {}
        }
        let Some(idle) = self.idle else {
            return Poll::Pending;
        };
        let timer = self
            .timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(idle)));
        match timer.as_mut().poll(cx) {
            Poll::Ready(()) => {
                self.done = true;
                Poll::Ready(Some(Err(Idle(idle))))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

type Chunk = Result<Vec<u8>, RuntimeError>;

/// Splits an attach stream into stdout and stderr, each with its own idle
/// timeout. A task pumps the multiplexed stream into two unbounded channels,
/// so a reader that drains one stream first can never stall the other.
/// The pump stops once both streams have been dropped.
pub(super) fn demux<S>(
    container: &str,
    multiplexed: S,
    stdout_idle: Option<Duration>,
    stderr_idle: Option<Duration>,
) -> (OutputStream, OutputStream)
where
    S: Stream<Item = Result<LogOutput, bollard::errors::Error>> + Send + Unpin + 'static,
{
    let (out_tx, out_rx) = mpsc::unbounded_channel::<Chunk>();
    let (err_tx, err_rx) = mpsc::unbounded_channel::<Chunk>();
    let id = container.to_string();
    tokio::spawn(pump(id.clone(), multiplexed, out_tx, err_tx));
    (
        channel_stream(&id, "stdout", out_rx, stdout_idle),
        channel_stream(&id, "stderr", err_rx, stderr_idle),
    )
}

async fn pump<S>(
    id: String,
    mut multiplexed: S,
    out_tx: mpsc::UnboundedSender<Chunk>,
    err_tx: mpsc::UnboundedSender<Chunk>,
) where
    S: Stream<Item = Result<LogOutput, bollard::errors::Error>> + Unpin,
{
    while let Some(item) = multiplexed.next().await {
        if out_tx.is_closed() && err_tx.is_closed() {
            return;
        }
        // A send fails only when that reader is gone: its output is unwanted.
        match item {
            Ok(LogOutput::StdOut { message } | LogOutput::Console { message }) => {
                let _ = out_tx.send(Ok(message.to_vec()));
            }
            Ok(LogOutput::StdErr { message }) => {
                let _ = err_tx.send(Ok(message.to_vec()));
            }
            // The engine echoes nothing on stdin for non-TTY containers; ignore.
            Ok(LogOutput::StdIn { .. }) => {}
            Err(e) => {
                let error = RuntimeError::Transport {
                    operation: format!("read output of {id}"),
                    message: e.to_string(),
                };
                let _ = out_tx.send(Err(error.clone()));
                let _ = err_tx.send(Err(error));
                return;
            }
        }
    }
}

fn channel_stream(
    id: &str,
    name: &'static str,
    rx: mpsc::UnboundedReceiver<Chunk>,
    idle: Option<Duration>,
) -> OutputStream {
    let receiver = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|chunk| (chunk, rx))
    });
    OutputStream::new(name, idle_mapped(id, name, Box::pin(receiver), idle))
}

/// An idle-limited stream whose timeout becomes [`RuntimeError::StreamIdle`].
pub(super) fn idle_mapped<S>(
    id: &str,
    name: &'static str,
    chunks: S,
    idle: Option<Duration>,
) -> crate::runtime::io::BoxedChunks
where
    S: Stream<Item = Chunk> + Send + Unpin + 'static,
{
    let id = id.to_string();
    Box::pin(IdleTimeout::new(chunks, idle).map(move |item| match item {
        Ok(chunk) => chunk,
        Err(Idle(after)) => Err(RuntimeError::StreamIdle {
            id: id.clone(),
            stream: name,
            after,
        }),
    }))
}

/// A container's stdin over the attach connection. Closing it half-closes
/// the connection, which (with `StdinOnce`) closes the process's stdin.
pub(super) struct DockerStdin {
    pub(super) id: String,
    pub(super) writer: Pin<Box<dyn AsyncWrite + Send>>,
}

#[async_trait]
impl StdinSink for DockerStdin {
    async fn write_all(&mut self, data: &[u8]) -> Result<(), RuntimeError> {
        self.writer
            .write_all(data)
            .await
            .map_err(|e| self.failed("write stdin of", e))?;
        self.writer
            .flush()
            .await
            .map_err(|e| self.failed("write stdin of", e))
    }

    async fn close(&mut self) -> Result<(), RuntimeError> {
        self.writer
            .shutdown()
            .await
            .map_err(|e| self.failed("close stdin of", e))
    }
}

impl DockerStdin {
    fn failed(&self, what: &str, error: std::io::Error) -> RuntimeError {
        RuntimeError::Transport {
            operation: format!("{what} {}", self.id),
            message: error.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    #[tokio::test]
    async fn a_silent_stream_times_out_once_then_ends() {
        let silent = futures_util::stream::pending::<u8>();
        let idle = Duration::from_millis(50);
        let mut limited = IdleTimeout::new(silent, Some(idle));
        assert_eq!(limited.next().await, Some(Err(Idle(idle))));
        assert_eq!(limited.next().await, None);
    }

    #[tokio::test]
    async fn data_resets_the_timer_and_none_disables_it() {
        let items = futures_util::stream::iter([1, 2, 3]);
        let limited: Vec<_> = IdleTimeout::new(items, Some(Duration::from_millis(1)))
            .collect()
            .await;
        assert_eq!(limited, [Ok(1), Ok(2), Ok(3)]);

        let silent = futures_util::stream::pending::<u8>();
        let mut unlimited = IdleTimeout::new(silent, None);
        let waited = tokio::time::timeout(Duration::from_millis(200), unlimited.next()).await;
        assert!(waited.is_err(), "no idle timeout must mean waiting forever");
    }

    #[tokio::test]
    async fn demux_separates_stdout_and_stderr() {
        let frames = futures_util::stream::iter([
            Ok(LogOutput::StdOut {
                message: Bytes::from_static(b"out1 "),
            }),
            Ok(LogOutput::StdErr {
                message: Bytes::from_static(b"err1"),
            }),
            Ok(LogOutput::StdOut {
                message: Bytes::from_static(b"out2"),
            }),
        ]);
        let (stdout, stderr) = demux("c1", frames, None, None);
        // Reading stderr first must not block on unread stdout.
        assert_eq!(stderr.read_to_end().await.unwrap(), b"err1");
        assert_eq!(stdout.read_to_end().await.unwrap(), b"out1 out2");
    }

    #[tokio::test]
    async fn transport_errors_reach_both_streams() {
        let frames = futures_util::stream::iter([Err(bollard::errors::Error::RequestTimeoutError)]);
        let (stdout, stderr) = demux("c1", frames, None, None);
        assert!(stdout.read_to_end().await.is_err());
        assert!(stderr.read_to_end().await.is_err());
    }
}
