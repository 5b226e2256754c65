//! The CONNECT handshake with an HTTP proxy.
//!
//! Our own rather than hyper-util's `Tunnel`, which turns every non-200
//! reply into one opaque error and drops the body: we need the status (407)
//! and the body (a 403 `Blocked by network policy: ...` page) to say what is
//! wrong and how to fix it.

use std::io;
use std::time::Duration;

use http::HeaderValue;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// A proxy reply head larger than this is refused.
const MAX_HEAD: usize = 16 * 1024;
/// At most this much of a refusal's body is kept.
const MAX_BODY: usize = 8 * 1024;
/// A refusal's body delimited by the connection closing is read until the
/// proxy pauses this long (the caller's phase timeout bounds the whole).
const BODY_IDLE: Duration = Duration::from_secs(1);

/// Why no tunnel was opened.
#[derive(Debug)]
pub(crate) enum TunnelError {
    /// Reading or writing failed.
    Io(io::Error),
    /// The proxy closed the connection before a complete reply head.
    ClosedEarly,
    /// The reply is not HTTP.
    NotHttp(String),
    /// The reply head exceeds [`MAX_HEAD`].
    HeadTooLarge,
    /// The proxy sent bytes after a successful reply, before we spoke.
    DataAfterReply,
    /// A non-2xx reply: the status and the (decoded, truncated) body.
    Refused { status: u16, body: Vec<u8> },
}

impl From<io::Error> for TunnelError {
    fn from(e: io::Error) -> Self {
        TunnelError::Io(e)
    }
}

/// How a refusal's body is delimited.
enum Framing {
    Length(usize),
    Chunked,
    UntilClose,
}

/// Asks the proxy on `io` for a tunnel to `authority` (`host:port`) and
/// reads its reply. On `Ok`, `io` is the tunnel.
pub(crate) async fn open_tunnel<S>(
    io: &mut S,
    authority: &str,
    auth: Option<&HeaderValue>,
) -> Result<(), TunnelError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut request = format!("CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n").into_bytes();
    if let Some(auth) = auth {
        request.extend_from_slice(b"Proxy-Authorization: ");
        request.extend_from_slice(auth.as_bytes());
        request.extend_from_slice(b"\r\n");
    }
    request.extend_from_slice(b"\r\n");
    io.write_all(&request).await?;
    io.flush().await?;

    let mut buf = Vec::with_capacity(512);
    loop {
        let (head_len, status, framing) = read_head(io, &mut buf).await?;
        let rest = buf.split_off(head_len);
        match status {
            // Interim replies precede the real one.
            100..=199 => buf = rest,
            200..=299 if rest.is_empty() => return Ok(()),
            200..=299 => return Err(TunnelError::DataAfterReply),
            _ => {
                let body = read_body(io, rest, framing).await;
                return Err(TunnelError::Refused { status, body });
            }
        }
    }
}

/// Reads until `buf` holds a complete reply head: its length, status and
/// body framing.
async fn read_head<S>(io: &mut S, buf: &mut Vec<u8>) -> Result<(usize, u16, Framing), TunnelError>
where
    S: AsyncRead + Unpin,
{
    loop {
        if let Some(head) = parse_head(buf)? {
            // A head that arrived whole in a large read is held to the
            // limit too, whatever the read sizes were.
            if head.0 > MAX_HEAD {
                return Err(TunnelError::HeadTooLarge);
            }
            return Ok(head);
        }
        if buf.len() > MAX_HEAD {
            return Err(TunnelError::HeadTooLarge);
        }
        if io.read_buf(buf).await? == 0 {
            return Err(TunnelError::ClosedEarly);
        }
    }
}

fn parse_head(buf: &[u8]) -> Result<Option<(usize, u16, Framing)>, TunnelError> {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut reply = httparse::Response::new(&mut headers);
    let len = match reply.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(TunnelError::NotHttp(e.to_string())),
    };
    let status = reply.code.unwrap_or_default();
    let header = |name: &str| {
        reply
            .headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| String::from_utf8_lossy(h.value).trim().to_ascii_lowercase())
    };
    let framing = if header("transfer-encoding").is_some_and(|te| te.ends_with("chunked")) {
        Framing::Chunked
    } else if let Some(length) = header("content-length").and_then(|l| l.parse().ok()) {
        Framing::Length(length)
    } else {
        Framing::UntilClose
    };
    Ok(Some((len, status, framing)))
}

/// The body of a refusal, best effort: what arrived, decoded, at most
/// [`MAX_BODY`] bytes. Read errors end it (the status alone still counts).
async fn read_body<S>(io: &mut S, mut raw: Vec<u8>, framing: Framing) -> Vec<u8>
where
    S: AsyncRead + Unpin,
{
    let complete = |raw: &[u8]| match framing {
        Framing::Length(n) => raw.len() >= n,
        Framing::Chunked => dechunk(raw).1,
        Framing::UntilClose => false,
    };
    while !complete(&raw) && raw.len() < MAX_BODY {
        match tokio::time::timeout(BODY_IDLE, io.read_buf(&mut raw)).await {
            Ok(Ok(n)) if n > 0 => {}
            _ => break,
        }
    }
    let mut body = match framing {
        Framing::Chunked => dechunk(&raw).0,
        Framing::Length(n) => {
            raw.truncate(n);
            raw
        }
        Framing::UntilClose => raw,
    };
    body.truncate(MAX_BODY);
    body
}

/// Decodes chunked transfer coding: the data so far, and whether the last
/// chunk was seen. Lenient: stops at the first thing it cannot read.
fn dechunk(mut raw: &[u8]) -> (Vec<u8>, bool) {
    let mut data = Vec::new();
    loop {
        let Some(line_end) = raw.windows(2).position(|w| w == b"\r\n") else {
            return (data, false);
        };
        let size_text = String::from_utf8_lossy(&raw[..line_end]);
        let size_text = size_text.split(';').next().unwrap_or_default().trim();
        let Ok(size) = usize::from_str_radix(size_text, 16) else {
            return (data, false);
        };
        raw = &raw[line_end + 2..];
        if size == 0 {
            return (data, true);
        }
        if raw.len() < size {
            data.extend_from_slice(raw);
            return (data, false);
        }
        data.extend_from_slice(&raw[..size]);
        raw = raw[size..].strip_prefix(b"\r\n").unwrap_or_default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    /// Runs the handshake against a fake proxy that answers `reply` (and then
    /// keeps the connection open unless `close`), returning the outcome and
    /// the request the proxy received.
    async fn handshake(
        reply: &'static [u8],
        close: bool,
        auth: Option<&'static str>,
    ) -> (Result<(), TunnelError>, String) {
        let (mut client, mut proxy) = tokio::io::duplex(64 * 1024);
        let (seen_tx, seen_rx) = tokio::sync::oneshot::channel();
        let server = tokio::spawn(async move {
            let mut request = Vec::new();
            while !request.ends_with(b"\r\n\r\n") {
                let mut byte = [0u8; 1];
                if proxy.read(&mut byte).await.unwrap_or(0) == 0 {
                    break;
                }
                request.push(byte[0]);
            }
            let _ = seen_tx.send(String::from_utf8_lossy(&request).into_owned());
            let _ = proxy.write_all(reply).await;
            if !close {
                // Hold the connection like a keep-alive proxy would.
                tokio::time::sleep(Duration::from_secs(5)).await;
            }
        });
        let auth = auth.map(HeaderValue::from_static);
        let outcome = open_tunnel(&mut client, "upstream.test:443", auth.as_ref()).await;
        server.abort();
        (outcome, seen_rx.await.unwrap_or_default())
    }

    fn refused(outcome: Result<(), TunnelError>) -> (u16, String) {
        match outcome {
            Err(TunnelError::Refused { status, body }) => {
                (status, String::from_utf8(body).unwrap())
            }
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn success_opens_the_tunnel_and_names_the_authority() {
        let (outcome, request) =
            handshake(b"HTTP/1.1 200 Connection established\r\n\r\n", false, None).await;
        assert!(outcome.is_ok(), "{outcome:?}");
        assert_eq!(
            request,
            "CONNECT upstream.test:443 HTTP/1.1\r\nHost: upstream.test:443\r\n\r\n"
        );
        let (outcome, _) =
            handshake(b"HTTP/1.0 200 OK\r\nProxy-Agent: x\r\n\r\n", false, None).await;
        assert!(outcome.is_ok(), "{outcome:?}");
    }

    #[tokio::test]
    async fn proxy_authorization_is_sent_when_given() {
        let (outcome, request) =
            handshake(b"HTTP/1.1 200 OK\r\n\r\n", false, Some("Basic dTpw")).await;
        assert!(outcome.is_ok());
        assert!(
            request.contains("\r\nProxy-Authorization: Basic dTpw\r\n"),
            "{request}"
        );
    }

    #[tokio::test]
    async fn a_407_keeps_its_status() {
        let reply = b"HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm=\"p\"\r\nContent-Length: 4\r\n\r\nauth";
        assert_eq!(
            refused(handshake(reply, false, None).await.0),
            (407, "auth".into())
        );
    }

    #[tokio::test]
    async fn a_403_policy_page_keeps_its_body_with_content_length() {
        let reply = b"HTTP/1.1 403 Forbidden\r\nContent-Length: 47\r\n\r\nBlocked by network policy: domain evil.test:443";
        let (status, body) = refused(handshake(reply, false, None).await.0);
        assert_eq!(status, 403);
        assert_eq!(body, "Blocked by network policy: domain evil.test:443");
    }

    #[tokio::test]
    async fn a_chunked_body_is_decoded() {
        let reply = b"HTTP/1.1 403 Forbidden\r\nTransfer-Encoding: chunked\r\n\r\n9\r\nBlocked b\r\n10;x=y\r\ny network policy\r\n0\r\n\r\n";
        assert_eq!(
            refused(handshake(reply, false, None).await.0),
            (403, "Blocked by network policy".into())
        );
    }

    #[tokio::test]
    async fn a_body_delimited_by_close_is_read_to_the_end() {
        let reply = b"HTTP/1.1 502 Bad Gateway\r\n\r\nupstream down";
        assert_eq!(
            refused(handshake(reply, true, None).await.0),
            (502, "upstream down".into())
        );
        // and a proxy that keeps it open is not waited on forever
        let started = std::time::Instant::now();
        assert_eq!(refused(handshake(reply, false, None).await.0).0, 502);
        assert!(started.elapsed() < Duration::from_secs(4));
    }

    #[tokio::test]
    async fn interim_replies_are_skipped() {
        let reply = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n\r\n";
        assert!(handshake(reply, false, None).await.0.is_ok());
    }

    #[tokio::test]
    async fn broken_replies_are_told_apart() {
        assert!(matches!(
            handshake(b"HTTP/1.1 200 OK\r\n", true, None).await.0,
            Err(TunnelError::ClosedEarly)
        ));
        assert!(matches!(
            handshake(b"\x16\x03\x01\x02\x00garbage\r\n\r\n", true, None)
                .await
                .0,
            Err(TunnelError::NotHttp(_))
        ));
        assert!(matches!(
            handshake(b"HTTP/1.1 200 OK\r\n\r\nSSH-2.0-x", false, None)
                .await
                .0,
            Err(TunnelError::DataAfterReply)
        ));
        let endless: &'static [u8] = Box::leak(
            [
                b"HTTP/1.1 200 OK\r\n".as_slice(),
                &b"X-Pad: aaaaaaaaaaaaaaaa\r\n".repeat(1000),
            ]
            .concat()
            .into_boxed_slice(),
        );
        assert!(matches!(
            handshake(endless, false, None).await.0,
            Err(TunnelError::HeadTooLarge | TunnelError::NotHttp(_))
        ));
    }

    #[test]
    fn dechunk_reports_completeness() {
        assert_eq!(dechunk(b"3\r\nabc\r\n0\r\n\r\n"), (b"abc".to_vec(), true));
        assert_eq!(dechunk(b"3\r\nabc\r\n"), (b"abc".to_vec(), false));
        assert_eq!(dechunk(b"5\r\nab"), (b"ab".to_vec(), false));
        assert_eq!(dechunk(b"zz\r\n"), (Vec::new(), false));
    }
}
