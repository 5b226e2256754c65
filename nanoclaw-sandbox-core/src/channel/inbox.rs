//! The inbox of a socket channel (Discord's Gateway, Slack's Socket Mode):
//! the messages its background task received and the host has not yet
//! acknowledged, the keys of recent messages (a platform that delivers an
//! event again must not make the host answer twice), and the connection
//! failure the next `receive` reports.
//!
//! It implements the [`ChannelTransport`](super::ChannelTransport)
//! contract once: `receive` returns every unacknowledged message (again,
//! until `acknowledge`), a failure is reported once while the task keeps
//! retrying, and a fatal one every time after the task stopped for good.

use std::collections::{HashSet, VecDeque};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

use super::{ChannelError, InboundMessage};

/// Messages received and not yet acknowledged, and what went wrong.
#[derive(Debug)]
pub(crate) struct Inbox {
    state: Mutex<State>,
    /// Wakes a waiting `next_batch`: a message, or an error, arrived.
    arrived: Notify,
    /// How many recent keys are remembered.
    remember: usize,
}

#[derive(Debug, Default)]
struct State {
    messages: Vec<InboundMessage>,
    /// How many of `messages` the last batch returned.
    delivered: usize,
    /// Keys of recent messages, oldest first, and the same as a set.
    recent: VecDeque<String>,
    seen: HashSet<String>,
    /// A connection failure not yet reported (the task keeps retrying).
    error: Option<ChannelError>,
    /// Why the task stopped for good.
    fatal: Option<ChannelError>,
}

impl Inbox {
    /// An empty inbox that remembers the last `remember` message keys.
    pub(crate) fn new(remember: usize) -> Self {
        Inbox {
            state: Mutex::new(State::default()),
            arrived: Notify::new(),
            remember: remember.max(1),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // Plain data, consistent after any panic.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues `message` unless one of `keys` (its ids on the platform) was
    /// seen already; returns whether it was queued.
    pub(crate) fn deliver(&self, message: InboundMessage, keys: &[String]) -> bool {
        let mut state = self.state();
        if keys.iter().any(|key| state.seen.contains(key)) {
            return false;
        }
        for key in keys {
            if state.recent.len() == self.remember {
                if let Some(oldest) = state.recent.pop_front() {
                    state.seen.remove(&oldest);
                }
            }
            if state.seen.insert(key.clone()) {
                state.recent.push_back(key.clone());
            }
        }
        state.messages.push(message);
        drop(state);
        self.arrived.notify_one();
        true
    }

    /// Hands a connection failure to the next batch; a `fatal` one (the
    /// task stopped for good) to every batch from now on.
    pub(crate) fn report(&self, error: ChannelError, fatal: bool) {
        let mut state = self.state();
        if fatal {
            state.fatal = Some(error);
        } else {
            state.error = Some(error);
        }
        drop(state);
        self.arrived.notify_one();
    }

    /// A connection is up: an earlier failure is no longer news.
    pub(crate) fn connected(&self) {
        self.state().error = None;
    }

    /// Whether the task reported a fatal failure (it must not be restarted).
    pub(crate) fn stopped_for_good(&self) -> bool {
        self.state().fatal.is_some()
    }

    /// Every unacknowledged message, or the failure to report, waiting up
    /// to `wait` for either; an empty batch means nothing came.
    pub(crate) async fn next_batch(
        &self,
        wait: Duration,
    ) -> Result<Vec<InboundMessage>, ChannelError> {
        // A batch may be ready at once: yield first all the same, so that a
        // caller receiving in a loop lets the socket task run (on a
        // current-thread runtime it would starve otherwise).
        tokio::task::yield_now().await;
        let deadline = Instant::now() + wait;
        loop {
            // Registered before the state is read, so a delivery between
            // the read and the wait still wakes this call.
            let arrived = self.arrived.notified();
            {
                let mut state = self.state();
                if !state.messages.is_empty() {
                    state.delivered = state.messages.len();
                    return Ok(state.messages.clone());
                }
                if let Some(fatal) = &state.fatal {
                    return Err(fatal.clone());
                }
                if let Some(error) = state.error.take() {
                    return Err(error);
                }
            }
            if tokio::time::timeout_at(deadline, arrived).await.is_err() {
                return Ok(Vec::new());
            }
        }
    }

    /// The messages of the last batch are stored by the host: drops them
    /// (messages that arrived since stay for the next batch).
    pub(crate) fn acknowledge(&self) {
        let mut state = self.state();
        let delivered = std::mem::take(&mut state.delivered).min(state.messages.len());
        state.messages.drain(..delivered);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channel::ChatId;

    fn message(id: &str) -> InboundMessage {
        InboundMessage {
            chat: ChatId("c".into()),
            message_id: id.into(),
            sender: None,
            text: format!("text {id}"),
            group: false,
        }
    }

    fn ids(batch: &[InboundMessage]) -> Vec<&str> {
        batch.iter().map(|m| m.message_id.as_str()).collect()
    }

    fn gateway_error(reason: &str) -> ChannelError {
        ChannelError::Gateway {
            channel: "test",
            close_code: None,
            reason: reason.into(),
        }
    }

    const NO_WAIT: Duration = Duration::from_millis(1);

    #[tokio::test]
    async fn a_batch_comes_again_until_acknowledged_and_later_arrivals_stay() {
        let inbox = Inbox::new(16);
        assert!(inbox.deliver(message("1"), &["1".into()]));
        assert_eq!(ids(&inbox.next_batch(NO_WAIT).await.unwrap()), ["1"]);
        // Not acknowledged: the same message again, plus the new one.
        assert!(inbox.deliver(message("2"), &["2".into()]));
        assert_eq!(ids(&inbox.next_batch(NO_WAIT).await.unwrap()), ["1", "2"]);
        // One more arrives between the batch and the acknowledgement.
        assert!(inbox.deliver(message("3"), &["3".into()]));
        inbox.acknowledge();
        assert_eq!(ids(&inbox.next_batch(NO_WAIT).await.unwrap()), ["3"]);
        inbox.acknowledge();
        assert!(inbox.next_batch(NO_WAIT).await.unwrap().is_empty());
        // A second acknowledgement with nothing delivered drops nothing.
        assert!(inbox.deliver(message("4"), &["4".into()]));
        inbox.acknowledge();
        assert_eq!(ids(&inbox.next_batch(NO_WAIT).await.unwrap()), ["4"]);
    }

    #[tokio::test]
    async fn a_redelivery_by_any_key_is_dropped_until_forgotten() {
        let inbox = Inbox::new(3);
        assert!(inbox.deliver(message("a"), &["event-a".into(), "ts-a".into()]));
        // Control: a new key is queued.
        assert!(inbox.deliver(message("b"), &["event-b".into()]));
        // The same message under another event id, same timestamp key.
        assert!(!inbox.deliver(message("a"), &["event-a2".into(), "ts-a".into()]));
        assert_eq!(ids(&inbox.next_batch(NO_WAIT).await.unwrap()), ["a", "b"]);
        // Only the last 3 keys are kept: event-a is forgotten after 2 more.
        assert!(inbox.deliver(message("c"), &["event-c".into()]));
        assert!(inbox.deliver(message("d"), &["event-d".into()]));
        assert!(inbox.deliver(message("a"), &["event-a".into()]));
    }

    #[tokio::test]
    async fn a_failure_is_reported_once_and_a_fatal_one_every_time() {
        let inbox = Inbox::new(4);
        inbox.report(gateway_error("dropped"), false);
        assert!(!inbox.stopped_for_good());
        let error = inbox.next_batch(NO_WAIT).await.unwrap_err();
        assert!(error.to_string().contains("dropped"), "{error}");
        assert!(inbox.next_batch(NO_WAIT).await.unwrap().is_empty());
        // Cleared by a connection before anyone asked.
        inbox.report(gateway_error("dropped again"), false);
        inbox.connected();
        assert!(inbox.next_batch(NO_WAIT).await.unwrap().is_empty());
        // Messages come before a failure.
        inbox.report(gateway_error("later"), false);
        assert!(inbox.deliver(message("1"), &["1".into()]));
        assert_eq!(ids(&inbox.next_batch(NO_WAIT).await.unwrap()), ["1"]);
        inbox.acknowledge();
        assert!(inbox.next_batch(NO_WAIT).await.is_err());
        inbox.report(gateway_error("token refused"), true);
        assert!(inbox.stopped_for_good());
        for _ in 0..2 {
            let error = inbox.next_batch(NO_WAIT).await.unwrap_err();
            assert!(error.to_string().contains("token refused"), "{error}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_waiting_batch_wakes_on_arrival_and_ends_empty_at_the_deadline() {
        let inbox = std::sync::Arc::new(Inbox::new(4));
        let began = Instant::now();
        assert!(inbox
            .next_batch(Duration::from_secs(30))
            .await
            .unwrap()
            .is_empty());
        assert_eq!(began.elapsed(), Duration::from_secs(30));

        let sender = inbox.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(2)).await;
            sender.deliver(message("late"), &["late".into()]);
        });
        let began = Instant::now();
        let batch = inbox.next_batch(Duration::from_secs(30)).await.unwrap();
        assert_eq!(ids(&batch), ["late"]);
        assert_eq!(began.elapsed(), Duration::from_secs(2));
    }
}
