//! A channel in memory for the host's tests (`host_docker`, `host_pool`):
//! what a test posts is received, what the host sends is kept.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use nanoclaw_sandbox_core::channel::{
    ChannelError, ChannelTransport, ChatId, InboundMessage, OutboundMessage,
};
use tokio::sync::Notify;

/// A channel in memory: `post` queues an inbound message; `receive`
/// delivers everything not yet acknowledged (as Telegram does); `sent`
/// lists what the host posted.
#[derive(Default)]
pub struct MemoryChannel {
    inbox: Mutex<VecDeque<InboundMessage>>,
    unacked: Mutex<usize>,
    arrived: Notify,
    pub sent: Mutex<Vec<OutboundMessage>>,
    next_id: Mutex<u64>,
}

impl MemoryChannel {
    pub fn post(&self, chat: &str, text: &str) {
        self.post_in(chat, text, false);
    }

    pub fn post_in(&self, chat: &str, text: &str, group: bool) {
        let mut id = self.next_id.lock().unwrap();
        *id += 1;
        self.inbox.lock().unwrap().push_back(InboundMessage {
            chat: ChatId(chat.into()),
            message_id: id.to_string(),
            sender: Some("tester".into()),
            text: text.into(),
            group,
        });
        self.arrived.notify_one();
    }

    pub fn sent_in(&self, chat: &str) -> Vec<String> {
        self.sent
            .lock()
            .unwrap()
            .iter()
            .filter(|m| m.chat.0 == chat)
            .map(|m| m.text.clone())
            .collect()
    }

    pub async fn wait_sent(&self, count: usize) {
        let deadline = Instant::now() + Duration::from_secs(90);
        while self.sent.lock().unwrap().len() < count {
            assert!(
                Instant::now() < deadline,
                "only {:?} sent",
                self.sent.lock().unwrap()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

#[async_trait]
impl ChannelTransport for MemoryChannel {
    fn name(&self) -> &'static str {
        "memory"
    }

    async fn receive(&self) -> Result<Vec<InboundMessage>, ChannelError> {
        loop {
            let batch: Vec<InboundMessage> = self.inbox.lock().unwrap().iter().cloned().collect();
            if !batch.is_empty() {
                *self.unacked.lock().unwrap() = batch.len();
                return Ok(batch);
            }
            let _ = tokio::time::timeout(Duration::from_millis(200), self.arrived.notified()).await;
        }
    }

    async fn acknowledge(&self) -> Result<(), ChannelError> {
        let count = std::mem::take(&mut *self.unacked.lock().unwrap());
        let mut inbox = self.inbox.lock().unwrap();
        for _ in 0..count {
            inbox.pop_front();
        }
        Ok(())
    }

    async fn send(&self, message: &OutboundMessage) -> Result<(), ChannelError> {
        self.sent.lock().unwrap().push(message.clone());
        Ok(())
    }
}
