//! The byte stream to a target: TCP, maybe through a proxy tunnel, maybe TLS.

use std::fmt;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use hyper_util::client::legacy::connect::{Connected, Connection};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// What a [`ClientStream`] can wrap: the layers differ per route (TCP, TLS
/// to an `https://` proxy, TLS to the target), so they are boxed.
pub(crate) trait Io: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Io for T {}

/// A connection to a target, ready for HTTP or WebSocket bytes.
pub(crate) struct ClientStream {
    io: Box<dyn Io>,
    negotiated_h2: bool,
    /// A plain connection to a proxy that takes absolute-form requests
    /// (`GET http://host/path`) rather than a tunnel.
    forward_proxy: bool,
}

impl ClientStream {
    pub(crate) fn new(io: Box<dyn Io>, negotiated_h2: bool, forward_proxy: bool) -> Self {
        ClientStream {
            io,
            negotiated_h2,
            forward_proxy,
        }
    }
}

impl fmt::Debug for ClientStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientStream")
            .field("negotiated_h2", &self.negotiated_h2)
            .field("forward_proxy", &self.forward_proxy)
            .finish_non_exhaustive()
    }
}

impl Connection for ClientStream {
    fn connected(&self) -> Connected {
        // `proxy(true)` makes hyper-util send absolute-form request targets.
        let connected = Connected::new().proxy(self.forward_proxy);
        if self.negotiated_h2 {
            connected.negotiated_h2()
        } else {
            connected
        }
    }
}

impl AsyncRead for ClientStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.io).poll_read(cx, buf)
    }
}

impl AsyncWrite for ClientStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut *self.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.io).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut *self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}
