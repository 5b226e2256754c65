//! A container's standard streams, engine-neutral: two output streams and a
//! closable stdin.

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

use async_trait::async_trait;
use futures_core::Stream;

use super::RuntimeError;

/// The boxed stream behind an [`OutputStream`].
pub type BoxedChunks = Pin<Box<dyn Stream<Item = Result<Vec<u8>, RuntimeError>> + Send>>;

/// One of a container's output streams (stdout or stderr), as chunks of bytes
/// in the order the process wrote them.
///
/// After an item that is an error (for example
/// [`RuntimeError::StreamIdle`]) the stream ends.
pub struct OutputStream {
    name: &'static str,
    chunks: BoxedChunks,
}

impl OutputStream {
    /// Wraps `chunks` as the stream called `name` (`stdout`, `stderr`).
    pub fn new(name: &'static str, chunks: BoxedChunks) -> Self {
        Self { name, chunks }
    }

    /// `stdout` or `stderr`.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The next chunk; `None` once the stream has ended.
    pub async fn next_chunk(&mut self) -> Option<Result<Vec<u8>, RuntimeError>> {
        std::future::poll_fn(|cx| self.chunks.as_mut().poll_next(cx)).await
    }

    /// Everything until the stream ends.
    pub async fn read_to_end(mut self) -> Result<Vec<u8>, RuntimeError> {
        let mut all = Vec::new();
        while let Some(chunk) = self.next_chunk().await {
            all.extend_from_slice(&chunk?);
        }
        Ok(all)
    }
}

impl Stream for OutputStream {
    type Item = Result<Vec<u8>, RuntimeError>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.chunks.as_mut().poll_next(cx)
    }
}

impl fmt::Debug for OutputStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OutputStream")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// Where [`Stdin`] writes: implemented by each engine.
#[async_trait]
pub trait StdinSink: Send {
    /// Writes all of `data`.
    async fn write_all(&mut self, data: &[u8]) -> Result<(), RuntimeError>;
    /// Closes the container's stdin: the process reads end-of-file.
    async fn close(&mut self) -> Result<(), RuntimeError>;
}

/// A container's stdin. [`close`](Self::close) it so the process reads
/// end-of-file; merely dropping it leaves the process's stdin open until the
/// container's streams end (a drop cannot wait for the engine).
pub struct Stdin {
    sink: Box<dyn StdinSink>,
}

impl Stdin {
    /// Wraps an engine's sink.
    pub fn new(sink: Box<dyn StdinSink>) -> Self {
        Self { sink }
    }

    /// Writes all of `data`.
    pub async fn write_all(&mut self, data: &[u8]) -> Result<(), RuntimeError> {
        self.sink.write_all(data).await
    }

    /// Closes stdin; the process reads end-of-file.
    pub async fn close(mut self) -> Result<(), RuntimeError> {
        self.sink.close().await
    }
}

impl fmt::Debug for Stdin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Stdin").finish_non_exhaustive()
    }
}

/// The streams of an attached container.
#[derive(Debug)]
pub struct Attachment {
    /// What the process writes to stdout.
    pub stdout: OutputStream,
    /// What the process writes to stderr.
    pub stderr: OutputStream,
    /// The process's stdin, when the spec asked for it (`attach_stdin`).
    pub stdin: Option<Stdin>,
}
