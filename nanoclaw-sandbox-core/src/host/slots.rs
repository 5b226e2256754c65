//! The global cap on agent containers: [`Slots`].
//!
//! A slot is held for as long as a chat's container exists, busy or idle,
//! and by each warm agent of the pool. When every slot is taken, chats wait
//! in one first-come queue (so none starves), and idle agents are asked to
//! give their slot up, longest idle first. A freed slot goes straight to the
//! chat at the front of the queue. The pool only takes a free slot no chat
//! waits for ([`Slots::try_acquire`]), so warm agents never keep a chat
//! waiting: a chat takes a warm agent, slot and all, before it queues.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use tokio::sync::{oneshot, Notify};

use super::chat::ChatKey;

struct Waiter {
    give: oneshot::Sender<SlotPermit>,
}

struct Idle {
    ticket: u64,
    since: Instant,
    evict: Arc<Notify>,
}

struct State {
    cap: usize,
    held: usize,
    waiters: VecDeque<Waiter>,
    idle: Vec<Idle>,
    evictions_asked: usize,
    next_ticket: u64,
}

/// The cap on running agent containers, shared by every chat worker.
#[derive(Clone)]
pub(crate) struct Slots {
    state: Arc<Mutex<State>>,
}

/// One slot, held while a container exists; dropping it frees the slot.
pub(crate) struct SlotPermit {
    slots: Option<Slots>,
}

impl SlotPermit {
    fn new(slots: &Slots) -> Self {
        SlotPermit {
            slots: Some(slots.clone()),
        }
    }
}

impl Drop for SlotPermit {
    fn drop(&mut self) {
        if let Some(slots) = self.slots.take() {
            slots.release();
        }
    }
}

/// An idle agent's registration: it is evicted when [`evicted`](Self::evicted)
/// resolves. Dropping it (the agent got work, or stopped) unregisters it.
pub(crate) struct IdleTicket {
    slots: Slots,
    ticket: u64,
    evict: Arc<Notify>,
    honoured: bool,
}

impl IdleTicket {
    /// Resolves when a waiting chat needs this agent's slot; the caller
    /// then stops its container and drops its permit.
    pub(crate) async fn evicted(&mut self) {
        self.evict.notified().await;
        self.honoured = true;
    }
}

impl Drop for IdleTicket {
    fn drop(&mut self) {
        let mut state = self.slots.lock();
        let before = state.idle.len();
        state.idle.retain(|i| i.ticket != self.ticket);
        if state.idle.len() == before && !self.honoured {
            // Asked to leave, but work came first: pass the request on.
            state.evictions_asked = state.evictions_asked.saturating_sub(1);
            ask_idle_to_leave(&mut state);
        }
    }
}

impl Slots {
    pub(crate) fn new(cap: usize) -> Self {
        Slots {
            state: Arc::new(Mutex::new(State {
                cap: cap.max(1),
                held: 0,
                waiters: VecDeque::new(),
                idle: Vec::new(),
                evictions_asked: 0,
                next_ticket: 0,
            })),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits for a slot for `chat` (first come, first served).
    pub(crate) async fn acquire(&self, chat: &ChatKey) -> SlotPermit {
        let receiver = {
            let mut state = self.lock();
            if state.held < state.cap && state.waiters.is_empty() {
                state.held += 1;
                return SlotPermit::new(self);
            }
            let (give, receiver) = oneshot::channel();
            tracing::debug!(chat = %chat, ahead = state.waiters.len(), "waiting for an agent slot");
            state.waiters.push_back(Waiter { give });
            ask_idle_to_leave(&mut state);
            receiver
        };
        match receiver.await {
            Ok(permit) => permit,
            // The sender is only dropped with the whole `Slots`, which
            // outlives every worker; wait for ever rather than exceed the cap.
            Err(_) => std::future::pending().await,
        }
    }

    /// A free slot, if one is free and no chat waits for one (never waits).
    pub(crate) fn try_acquire(&self) -> Option<SlotPermit> {
        let mut state = self.lock();
        forget_gone_waiters(&mut state);
        if state.held < state.cap && state.waiters.is_empty() {
            state.held += 1;
            Some(SlotPermit::new(self))
        } else {
            None
        }
    }

    /// Whether chats are waiting for a slot (a busy chat then gives its slot
    /// up after each message, so that every chat gets its turn).
    pub(crate) fn contended(&self) -> bool {
        let mut state = self.lock();
        forget_gone_waiters(&mut state);
        state.waiters.len() > state.evictions_asked
    }

    /// Registers an idle agent; when chats wait already, it is asked to
    /// leave at once.
    pub(crate) fn idle(&self) -> IdleTicket {
        let mut state = self.lock();
        let ticket = state.next_ticket;
        state.next_ticket += 1;
        let evict = Arc::new(Notify::new());
        state.idle.push(Idle {
            ticket,
            since: Instant::now(),
            evict: evict.clone(),
        });
        ask_idle_to_leave(&mut state);
        IdleTicket {
            slots: self.clone(),
            ticket,
            evict,
            honoured: false,
        }
    }

    /// How many chats wait for a slot.
    #[cfg(test)]
    fn waiting(&self) -> usize {
        self.lock().waiters.len()
    }

    fn release(&self) {
        let mut state = self.lock();
        while let Some(waiter) = state.waiters.pop_front() {
            match waiter.give.send(SlotPermit::new(self)) {
                Ok(()) => {
                    // One waiter fewer needs an idle agent to leave.
                    state.evictions_asked = state.evictions_asked.saturating_sub(1);
                    return;
                }
                // That chat stopped waiting: defuse the permit (it must not
                // release again while we hold the lock) and try the next.
                Err(mut permit) => {
                    permit.slots = None;
                }
            }
        }
        state.held = state.held.saturating_sub(1);
    }
}

/// Drops the waiters that stopped waiting (a chat that took a warm agent
/// instead); the evictions asked for them are no longer needed.
fn forget_gone_waiters(state: &mut State) {
    state.waiters.retain(|w| !w.give.is_closed());
    state.evictions_asked = state.evictions_asked.min(state.waiters.len());
}

/// Asks the longest-idle agents to leave, one per waiting chat not yet
/// covered by an earlier request.
fn ask_idle_to_leave(state: &mut State) {
    while state.waiters.len() > state.evictions_asked && !state.idle.is_empty() {
        let oldest = state
            .idle
            .iter()
            .enumerate()
            .min_by_key(|(_, i)| i.since)
            .map(|(at, _)| at)
            .unwrap_or(0);
        let idle = state.idle.swap_remove(oldest);
        idle.evict.notify_one();
        state.evictions_asked += 1;
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::channel::ChatId;

    fn chat(n: u32) -> ChatKey {
        ChatKey::new("t", ChatId(n.to_string()))
    }

    #[tokio::test]
    async fn the_cap_holds_and_waiters_are_served_in_order() {
        let slots = Slots::new(2);
        let a = slots.acquire(&chat(1)).await;
        let b = slots.acquire(&chat(2)).await;
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for n in 3..=5 {
            let (mine, order) = (slots.clone(), order.clone());
            tasks.push(tokio::spawn(async move {
                let permit = mine.acquire(&chat(n)).await;
                order.lock().unwrap().push(n);
                tokio::time::sleep(Duration::from_millis(20)).await;
                drop(permit);
            }));
            // Queue them in a known order.
            while slots.waiting() < (n - 2) as usize {
                tokio::task::yield_now().await;
            }
        }
        assert!(slots.contended());
        drop(a);
        drop(b);
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(*order.lock().unwrap(), [3, 4, 5]);
        assert_eq!(slots.lock().held, 0);
        assert!(!slots.contended());
    }

    #[tokio::test]
    async fn an_idle_agent_is_asked_to_leave_when_a_chat_waits() {
        let slots = Slots::new(1);
        let permit = slots.acquire(&chat(1)).await;
        let mut ticket = slots.idle();
        let waiter = {
            let slots = slots.clone();
            tokio::spawn(async move { slots.acquire(&chat(2)).await })
        };
        tokio::time::timeout(Duration::from_secs(5), ticket.evicted())
            .await
            .expect("the idle agent was asked to leave");
        drop(ticket);
        drop(permit);
        let second = tokio::time::timeout(Duration::from_secs(5), waiter)
            .await
            .expect("the waiting chat got the slot")
            .unwrap();
        assert_eq!(slots.lock().held, 1);
        drop(second);
        assert_eq!(slots.lock().held, 0);
    }

    #[tokio::test]
    async fn the_pool_takes_only_a_slot_no_chat_waits_for() {
        let slots = Slots::new(2);
        let warm = slots.try_acquire().expect("a free slot");
        let busy = slots.acquire(&chat(1)).await;
        assert!(slots.try_acquire().is_none(), "the cap holds");
        let waiter = {
            let slots = slots.clone();
            tokio::spawn(async move { slots.acquire(&chat(2)).await })
        };
        while slots.waiting() == 0 {
            tokio::task::yield_now().await;
        }
        drop(warm);
        let second = waiter.await.unwrap();
        assert!(
            slots.try_acquire().is_none(),
            "the freed slot went to the waiting chat"
        );
        drop(busy);
        // The control: with a slot free and nobody waiting, the pool gets it.
        let again = slots.try_acquire();
        assert!(again.is_some());
        drop((second, again));
        assert_eq!(slots.lock().held, 0);
    }

    #[tokio::test]
    async fn a_chat_that_stops_waiting_no_longer_blocks_the_pool() {
        let slots = Slots::new(1);
        let permit = slots.acquire(&chat(1)).await;
        let gave_up =
            tokio::time::timeout(Duration::from_millis(20), slots.acquire(&chat(2))).await;
        assert!(gave_up.is_err());
        assert!(!slots.contended(), "the chat that left is not waiting");
        drop(permit);
        assert!(slots.try_acquire().is_some());
    }

    #[tokio::test]
    async fn a_waiter_that_gives_up_does_not_leak_the_slot() {
        let slots = Slots::new(1);
        let permit = slots.acquire(&chat(1)).await;
        let gave_up =
            tokio::time::timeout(Duration::from_millis(20), slots.acquire(&chat(2))).await;
        assert!(gave_up.is_err());
        drop(permit);
        assert_eq!(slots.lock().held, 0);
        let _again = slots.acquire(&chat(3)).await;
        assert_eq!(slots.lock().held, 1);
    }
}
