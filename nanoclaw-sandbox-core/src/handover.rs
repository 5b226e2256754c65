//! What happens once an HTTP connection hands its bytes over: after a
//! `CONNECT` (a tunnel or an intercepted TLS session) or a `101 Switching
//! Protocols` (a WebSocket). The work runs in the connection's own task, so
//! it ends when the server (the stand-in, the credential relay) shuts down,
//! like the connection would.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncRead, AsyncWrite};

type Work = Pin<Box<dyn Future<Output = ()> + Send>>;

/// A slot a request handler fills with the work to run after the hand-over.
#[derive(Clone, Default)]
pub(crate) struct Handover(Arc<Mutex<Option<Work>>>);

impl Handover {
    /// Sets the work (a connection hands over at most once).
    pub(crate) fn set(&self, work: impl Future<Output = ()> + Send + 'static) {
        *self.slot() = Some(Box::pin(work));
    }

    /// Runs the work, if a handler set any. Call after the connection ended.
    pub(crate) async fn run(&self) {
        let work = self.slot().take();
        if let Some(work) = work {
            work.await;
        }
    }

    fn slot(&self) -> std::sync::MutexGuard<'_, Option<Work>> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Copies bytes both ways until both sides are done: a bypass tunnel or an
/// upgraded (WebSocket) exchange; `target` names it in the debug log.
pub(crate) async fn splice<A, B>(mut client: A, mut upstream: B, target: &(dyn fmt::Display + Sync))
where
    A: AsyncRead + AsyncWrite + Unpin,
    B: AsyncRead + AsyncWrite + Unpin,
{
    match tokio::io::copy_bidirectional(&mut client, &mut upstream).await {
        Ok((sent, received)) => tracing::debug!(%target, sent, received, "spliced stream closed"),
        Err(error) => tracing::debug!(%target, %error, "spliced stream ended with an error"),
    }
}
