//! The response body: hyper's stream, possibly behind bytes already read.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use hyper::body::{Body, Frame, Incoming, SizeHint};

/// A response body. Usually hyper's stream as it arrives; for a proxied 403
/// the client reads the first bytes (to tell a policy page apart) and puts
/// them back in front.
///
/// Read it with `http_body_util::BodyExt` (`collect`, `frame`).
#[derive(Debug)]
pub struct ResponseBody {
    prefix: Option<Bytes>,
    rest: Option<Incoming>,
}

impl ResponseBody {
    pub(crate) fn streaming(body: Incoming) -> Self {
        ResponseBody {
            prefix: None,
            rest: Some(body),
        }
    }

    pub(crate) fn prefixed(prefix: Bytes, rest: Option<Incoming>) -> Self {
        ResponseBody {
            prefix: Some(prefix).filter(|p| !p.is_empty()),
            rest,
        }
    }
}

impl Body for ResponseBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        if let Some(prefix) = self.prefix.take() {
            return Poll::Ready(Some(Ok(Frame::data(prefix))));
        }
        match self.rest.as_mut() {
            Some(rest) => Pin::new(rest).poll_frame(cx),
            None => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.prefix.is_none() && self.rest.as_ref().is_none_or(Body::is_end_stream)
    }

    fn size_hint(&self) -> SizeHint {
        let prefix = self.prefix.as_ref().map_or(0, |p| p.len() as u64);
        let rest = self
            .rest
            .as_ref()
            .map_or_else(|| SizeHint::with_exact(0), Body::size_hint);
        let mut hint = SizeHint::new();
        hint.set_lower(rest.lower() + prefix);
        if let Some(upper) = rest.upper() {
            hint.set_upper(upper + prefix);
        }
        hint
    }
}
