//! whatsapp-rust's transport over this crate's WebSocket: the chat socket
//! (`wss://web.whatsapp.com/ws/chat`) is opened with
//! [`HttpClient::websocket`], so it takes the client's route (a CONNECT
//! tunnel through the sandbox proxy) and, WhatsApp's hosts being
//! passthrough, is verified against the public roots only: an intercepting
//! proxy is reported as [`HttpError::Intercepted`], never trusted.
//!
//! whatsapp-rust's own `whatsapp-rust-tokio-transport` dials directly and
//! installs `ring` as the process-wide rustls provider, so it can work
//! neither inside a sandbox nor in an `aws-lc-rs` build.
//!
//! The transport is a pipe for binary frames (the Noise-encrypted protocol
//! is whatsapp-rust's); text frames, pings and pongs are not its business.
//! Attempts are paced ([`Pacer`]): whatsapp-rust already waits between
//! reconnects (Fibonacci from 1 s, up to 15 min), and the factory adds the
//! socket channels' backoff after failures in a row, so a proxy that keeps
//! refusing is never retried in a tight loop, whoever drives the reconnects.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use http::header::ORIGIN;
use http::Request;
use tokio::sync::{watch, Notify};
use tokio::time::Instant;
use whatsapp_rust::anyhow;
use whatsapp_rust::async_channel;
use whatsapp_rust::transport::{DisconnectReason, Transport, TransportEvent, TransportFactory};
use whatsapp_rust::wacore::net::{WHATSAPP_WEB_ORIGIN, WHATSAPP_WEB_WS_URL};

use crate::channel::backoff::backoff;
use crate::http::tungstenite::protocol::frame::coding::CloseCode;
use crate::http::tungstenite::protocol::CloseFrame;
use crate::http::tungstenite::Message;
use crate::http::{HttpClient, HttpError, WebSocket};

/// How many events wait for whatsapp-rust before the socket's reader waits.
const EVENT_QUEUE: usize = 64;
/// How long one frame may take to send, or the close to go out.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);
/// A connection that lasted this long resets the backoff.
pub(crate) const STABLE_AFTER: Duration = Duration::from_secs(30);
/// The longest pause the factory adds before an attempt: whatsapp-rust
/// gives the whole attempt 20 s, and the connection needs the rest.
pub(crate) const MAX_PAUSE: Duration = Duration::from_secs(5);

/// Told about every failure to open the socket (the host's `receive`
/// reports it).
pub(crate) type FailureReport = Arc<dyn Fn(&HttpError) + Send + Sync>;

/// Paces connection attempts: after `failures` in a row (an attempt that
/// failed, or a connection that ended within [`STABLE_AFTER`]), the next
/// attempt waits until [`backoff`]`(failures)` (at most [`MAX_PAUSE`]) has
/// passed since the last one ended. Stopping wakes a waiting attempt.
#[derive(Debug, Default)]
pub(crate) struct Pacer {
    state: Mutex<PacerState>,
    stopped: Notify,
}

#[derive(Debug, Default)]
struct PacerState {
    failures: u32,
    last_end: Option<Instant>,
    stopping: bool,
}

impl Pacer {
    fn state(&self) -> MutexGuard<'_, PacerState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits for this attempt's turn; `false` once stopping.
    pub(crate) async fn before_attempt(&self) -> bool {
        // Registered first: a `stop` from now on wakes it.
        let stopped = self.stopped.notified();
        let until = {
            let state = self.state();
            if state.stopping {
                return false;
            }
            state
                .last_end
                .map(|end| end + backoff(state.failures).min(MAX_PAUSE))
        };
        if let Some(until) = until {
            tokio::select! {
                () = tokio::time::sleep_until(until) => {}
                () = stopped => return false,
            }
        }
        !self.state().stopping
    }

    /// The attempt failed.
    pub(crate) fn failed(&self) {
        let mut state = self.state();
        state.failures = state.failures.saturating_add(1);
        state.last_end = Some(Instant::now());
    }

    /// A connection that was open for `lived` ended.
    pub(crate) fn ended(&self, lived: Duration) {
        let mut state = self.state();
        state.failures = if lived >= STABLE_AFTER {
            0
        } else {
            state.failures.saturating_add(1)
        };
        state.last_end = Some(Instant::now());
    }

    /// No more attempts: a waiting one returns at once.
    pub(crate) fn stop(&self) {
        self.state().stopping = true;
        self.stopped.notify_waiters();
    }

    /// Failures in a row so far.
    #[cfg(test)]
    fn failures(&self) -> u32 {
        self.state().failures
    }
}

/// whatsapp-rust's [`TransportFactory`] over [`HttpClient::websocket`]:
/// each connection is a WebSocket to the chat socket URL (default
/// [`WHATSAPP_WEB_WS_URL`]) with WhatsApp Web's `Origin`, opened along the
/// client's route. Hand it to `BotBuilder::with_transport_factory` (the
/// [`WhatsAppTransport`](super::WhatsAppTransport) does).
pub struct ChatSocketFactory {
    client: HttpClient,
    url: String,
    pacer: Arc<Pacer>,
    report: Option<FailureReport>,
}

impl ChatSocketFactory {
    /// Connections to [`WHATSAPP_WEB_WS_URL`] through `client`.
    pub fn new(client: HttpClient) -> Self {
        ChatSocketFactory {
            client,
            url: WHATSAPP_WEB_WS_URL.to_string(),
            pacer: Arc::default(),
            report: None,
        }
    }

    /// Another chat socket URL (a relay, a test server); `Origin` stays
    /// WhatsApp Web's.
    #[must_use]
    pub fn url(mut self, url: impl Into<String>) -> Self {
        self.url = url.into();
        self
    }

    pub(crate) fn paced_by(mut self, pacer: Arc<Pacer>, report: FailureReport) -> Self {
        self.pacer = pacer;
        self.report = Some(report);
        self
    }

    async fn open(&self) -> Result<WebSocket, HttpError> {
        let request = Request::get(self.url.as_str())
            .header(ORIGIN, WHATSAPP_WEB_ORIGIN)
            .body(())
            .map_err(|e| HttpError::InvalidRequest {
                host: super::http::host_of(&self.url),
                reason: e.to_string(),
            })?;
        let (socket, _) = self.client.websocket(request).await?;
        Ok(socket)
    }
}

impl std::fmt::Debug for ChatSocketFactory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatSocketFactory")
            .field("client", &self.client)
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl TransportFactory for ChatSocketFactory {
    async fn create_transport(
        &self,
    ) -> anyhow::Result<(Arc<dyn Transport>, async_channel::Receiver<TransportEvent>)> {
        if !self.pacer.before_attempt().await {
            return Err(anyhow::anyhow!("the WhatsApp transport is stopping"));
        }
        match self.open().await {
            Ok(socket) => Ok(start(socket, self.pacer.clone())),
            Err(e) => {
                self.pacer.failed();
                if let Some(report) = &self.report {
                    report(&e);
                }
                tracing::debug!(channel = super::CHANNEL, error = %e, "the chat socket did not open");
                Err(anyhow::Error::new(e))
            }
        }
    }
}

type Sink = SplitSink<WebSocket, Message>;

/// One open chat socket: frames out through `sink`, frames in through the
/// reader task started by [`start`].
struct SocketTransport {
    sink: tokio::sync::Mutex<Option<Sink>>,
    closing: watch::Sender<bool>,
}

/// The transport and its events, `Connected` first; the reader task ends
/// when the socket does or the transport disconnects.
fn start(
    socket: WebSocket,
    pacer: Arc<Pacer>,
) -> (Arc<dyn Transport>, async_channel::Receiver<TransportEvent>) {
    let (sink, stream) = socket.split();
    let (events, receiver) = async_channel::bounded(EVENT_QUEUE);
    let (closing, closed) = watch::channel(false);
    // Queued before the reader starts, so it precedes any data.
    let _ = events.try_send(TransportEvent::Connected);
    tokio::spawn(read(stream, events, closed, pacer));
    let transport = SocketTransport {
        sink: tokio::sync::Mutex::new(Some(sink)),
        closing,
    };
    (Arc::new(transport), receiver)
}

#[async_trait]
impl Transport for SocketTransport {
    async fn send(&self, data: Bytes) -> anyhow::Result<()> {
        let mut sink = self.sink.lock().await;
        let sink = sink
            .as_mut()
            .ok_or_else(|| anyhow::anyhow!("the WhatsApp chat socket is closed"))?;
        match tokio::time::timeout(SEND_TIMEOUT, sink.send(Message::Binary(data))).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(anyhow::anyhow!(
                "sending on the WhatsApp chat socket failed: {e}"
            )),
            Err(_) => Err(anyhow::anyhow!(
                "sending on the WhatsApp chat socket took over {}s",
                SEND_TIMEOUT.as_secs()
            )),
        }
    }

    async fn disconnect(&self) {
        let _ = self.closing.send(true);
        if let Some(mut sink) = self.sink.lock().await.take() {
            let close = Message::Close(Some(CloseFrame {
                code: CloseCode::Normal,
                reason: "".into(),
            }));
            let _ = tokio::time::timeout(SEND_TIMEOUT, async {
                let _ = sink.send(close).await;
                let _ = sink.close().await;
            })
            .await;
        }
    }
}

/// Passes binary frames on until the socket ends or the transport
/// disconnects, then says why.
async fn read(
    mut stream: SplitStream<WebSocket>,
    events: async_channel::Sender<TransportEvent>,
    mut closed: watch::Receiver<bool>,
    pacer: Arc<Pacer>,
) {
    let opened = Instant::now();
    let reason = loop {
        let next = tokio::select! {
            biased;
            _ = closed.changed() => break DisconnectReason::Unknown,
            next = stream.next() => next,
        };
        match next {
            Some(Ok(Message::Binary(data))) => {
                tokio::select! {
                    biased;
                    _ = closed.changed() => break DisconnectReason::Unknown,
                    sent = events.send(TransportEvent::DataReceived(data)) => {
                        if sent.is_err() {
                            break DisconnectReason::Unknown;
                        }
                    }
                }
            }
            Some(Ok(Message::Close(frame))) => {
                break DisconnectReason::ServerClose {
                    code: frame.as_ref().map(|f| u16::from(f.code)),
                    reason: frame.map(|f| f.reason.to_string()).unwrap_or_default(),
                }
            }
            // Text, ping and pong frames: tungstenite answers pings itself.
            Some(Ok(_)) => {}
            Some(Err(e)) => break DisconnectReason::ReadError(e.to_string()),
            None => break DisconnectReason::StreamEnded,
        }
    };
    pacer.ended(opened.elapsed());
    tracing::debug!(channel = super::CHANNEL, %reason, "the chat socket closed");
    let _ = events.send(TransportEvent::Disconnected(reason)).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn attempts_after_failures_wait_and_a_stable_connection_resets() {
        let pacer = Pacer::default();
        // The first attempt goes at once.
        let began = Instant::now();
        assert!(pacer.before_attempt().await);
        assert_eq!(began.elapsed(), Duration::ZERO);
        // After failures in a row, each waits longer (jittered), up to the cap.
        let mut waits = Vec::new();
        for _ in 0..8 {
            pacer.failed();
            let began = Instant::now();
            assert!(pacer.before_attempt().await);
            waits.push(began.elapsed());
        }
        assert!(waits[0] >= Duration::from_millis(250), "{waits:?}");
        assert!(waits[2] >= Duration::from_secs(1), "{waits:?}");
        assert!(waits.iter().all(|w| *w <= MAX_PAUSE), "{waits:?}");
        assert_eq!(waits[7], MAX_PAUSE, "{waits:?}");
        // A connection that ended quickly counts as a failure too.
        pacer.ended(Duration::from_secs(2));
        assert_eq!(pacer.failures(), 9);
        // Control: one that lasted resets, and the next attempt goes at once.
        pacer.ended(STABLE_AFTER);
        assert_eq!(pacer.failures(), 0);
        let began = Instant::now();
        assert!(pacer.before_attempt().await);
        assert_eq!(began.elapsed(), Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn stopping_wakes_a_waiting_attempt_and_refuses_later_ones() {
        let pacer = Arc::new(Pacer::default());
        for _ in 0..10 {
            pacer.failed();
        }
        let waiting = tokio::spawn({
            let pacer = pacer.clone();
            async move { pacer.before_attempt().await }
        });
        tokio::time::sleep(Duration::from_millis(100)).await;
        pacer.stop();
        assert!(!waiting.await.unwrap());
        assert!(!pacer.before_attempt().await);
    }
}
