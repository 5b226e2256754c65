//! One chat's worker: its queue, its agent, its slot.
//!
//! Messages of a chat are handled one at a time, in arrival order; those
//! that arrive meanwhile wait in the worker's queue. The worker spawns its
//! agent when it needs one (after getting a slot), keeps it for the next
//! message, and stops it when it has been idle for the idle timeout, when a
//! waiting chat needs its slot, or at shutdown. While chats wait for a slot,
//! a busy chat gives its slot up after each message, so every chat gets a
//! turn.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use crate::agent::protocol::{AgentMessage, PROTOCOL_VERSION};

use super::chat::ChatKey;
use super::journal::JournalEntry;
use super::pool::AgentPool;
use super::reply::Replier;
use super::session::{AgentSession, SessionFailure};
use super::slots::SlotPermit;
use super::{stopped, Shared};

/// The reply a chat gets when its message failed twice.
pub const FAILURE_REPLY: &str = "Sorry, the agent stopped while working on your message (it was \
     tried twice). Please send it again; if this keeps happening, the host's log says why.";

/// The reply a chat gets when its message failed twice because the agent
/// ran out of memory (the OOM killer ended its container).
pub const OUT_OF_MEMORY_REPLY: &str = "Sorry, the agent ran out of memory while working on your \
     message (it was tried twice). Please send it again, perhaps asking for less; if this keeps \
     happening, the agent needs a higher memory limit.";

/// The longest pause between two tries to reach a daemon that is down.
const OUTAGE_PAUSE_MAX: Duration = Duration::from_secs(5);

/// What the chat is told when its message failed twice: why, when the last
/// failure says (out of memory, killed by a signal), else [`FAILURE_REPLY`].
fn failure_reply(last: Option<&SessionFailure>) -> String {
    match last {
        Some(SessionFailure::Exited(status)) if status.oom_killed => {
            OUT_OF_MEMORY_REPLY.to_string()
        }
        Some(SessionFailure::Exited(status)) => match status.signal() {
            Some(signal) => format!(
                "Sorry, the agent was killed by {signal} while working on your message (it was \
                 tried twice). Please send it again; if this keeps happening, the host's log \
                 says why."
            ),
            None => FAILURE_REPLY.to_string(),
        },
        _ => FAILURE_REPLY.to_string(),
    }
}

/// A message waiting for its chat's agent.
pub(crate) struct Job {
    pub(crate) entry: JournalEntry,
    pub(crate) queued_at: Instant,
}

type Agent = Option<(AgentSession, SlotPermit)>;

pub(crate) async fn run(
    shared: Arc<Shared>,
    chat: ChatKey,
    mut jobs: mpsc::UnboundedReceiver<Job>,
) {
    let mut agent: Agent = None;
    let mut stopping = shared.stopping.clone();
    let mut killing = shared.killing.clone();
    loop {
        if *stopping.borrow_and_update() {
            break;
        }
        let job = match agent.take() {
            Some((session, permit)) => {
                let mut ticket = shared.slots.idle();
                tokio::select! {
                    biased;
                    () = stopped(&mut stopping) => {
                        drop(ticket);
                        session.stop().await;
                        drop(permit);
                        break;
                    }
                    _ = ticket.evicted() => {
                        drop(ticket);
                        tracing::debug!(chat = %chat, container = %session.id(), "idle agent stopped: a waiting chat needs its slot");
                        session.stop().await;
                        drop(permit);
                        continue;
                    }
                    _ = tokio::time::sleep(shared.idle_timeout) => {
                        drop(ticket);
                        tracing::debug!(chat = %chat, container = %session.id(), "idle agent stopped after the idle timeout");
                        session.stop().await;
                        drop(permit);
                        continue;
                    }
                    job = jobs.recv() => {
                        drop(ticket);
                        agent = Some((session, permit));
                        match job {
                            Some(job) => job,
                            None => break,
                        }
                    }
                }
            }
            None => tokio::select! {
                biased;
                () = stopped(&mut stopping) => break,
                job = jobs.recv() => match job {
                    Some(job) => job,
                    None => break,
                },
            },
        };
        let finished = tokio::select! {
            () = handle(&shared, &chat, &mut agent, &job) => true,
            () = stopped(&mut killing) => false,
        };
        if !finished {
            // The grace period is over: the message stays in the journal.
            if let Some((session, permit)) = agent.take() {
                session.kill().await;
                drop(permit);
            }
            break;
        }
        if agent.is_some() && shared.slots.contended() {
            if let Some((session, permit)) = agent.take() {
                session.stop().await;
                drop(permit);
            }
        }
    }
    if let Some((session, permit)) = agent.take() {
        session.stop().await;
        drop(permit);
    }
}

/// Handles one message: at most two attempts (the second in a fresh
/// container), then the failure reply. Marks it done in the journal.
async fn handle(shared: &Shared, chat: &ChatKey, agent: &mut Agent, job: &Job) {
    let entry = &job.entry;
    let queue_wait = job.queued_at.elapsed();
    let Some(channel) = shared.channels.get(entry.channel.as_str()).cloned() else {
        tracing::warn!(chat = %chat, channel = %entry.channel, "no transport for this channel is configured; the message stays in the journal");
        return;
    };
    let replier = Replier {
        channel,
        chat: entry.message.chat.clone(),
        reply_to: Some(entry.message.message_id.clone()),
    };
    let message = AgentMessage {
        v: PROTOCOL_VERSION,
        id: entry.seq.to_string(),
        chat: chat.to_string(),
        message_id: entry.message.message_id.clone(),
        sender: entry.message.sender.clone(),
        text: entry.message.text.clone(),
        credentials: shared.credentials.clone(),
    };
    let started = Instant::now();
    let mut spawn_time = None;
    let mut warm = None;
    let mut failure = None;
    let mut attempt = 0u32;
    let mut outage_pause = Duration::from_millis(250);
    while attempt < 2 {
        if agent.is_none() {
            match spawn(shared, chat).await {
                Ok(spawned) => {
                    spawn_time = Some(spawned.0.spawn_time);
                    warm = Some(spawned.0.warm);
                    *agent = Some(spawned);
                }
                // The daemon is down (nothing was done): not the message's
                // fault, so no attempt is spent. It waits in the queue and
                // the journal until the daemon is back, or until shutdown
                // (then it stays in the journal for the next start).
                Err(SessionFailure::Spawn(e)) if e.is_daemon_unreachable() => {
                    tracing::warn!(chat = %chat, error = %e, retry_in_ms = outage_pause.as_millis() as u64, "the Docker daemon is unreachable; the message waits until it is back");
                    let mut stopping = shared.stopping.clone();
                    tokio::select! {
                        biased;
                        () = stopped(&mut stopping) => return,
                        () = tokio::time::sleep(outage_pause) => {}
                    }
                    outage_pause = (outage_pause * 2).min(OUTAGE_PAUSE_MAX);
                    continue;
                }
                Err(f) => {
                    attempt += 1;
                    tracing::warn!(chat = %chat, attempt, error = %f, "message attempt failed");
                    failure = Some(f);
                    continue;
                }
            }
        }
        let Some((session, _)) = agent.as_mut() else {
            continue;
        };
        attempt += 1;
        let container = session.id().clone();
        match session
            .handle(&message, shared.profile.answer_limit(), &replier)
            .await
        {
            Ok(replies) => {
                shared.stats.handled.fetch_add(1, Ordering::Relaxed);
                tracing::info!(
                    chat = %chat,
                    container = %container,
                    queue_wait_ms = queue_wait.as_millis() as u64,
                    spawn_ms = spawn_time.map(|d| d.as_millis() as u64),
                    warm,
                    answer_ms = started.elapsed().as_millis() as u64,
                    replies,
                    attempt,
                    "message handled"
                );
                done(shared, entry.seq).await;
                return;
            }
            Err(f) => {
                tracing::warn!(chat = %chat, container = %container, attempt, error = %f, "message attempt failed");
                if let Some((session, permit)) = agent.take() {
                    session.kill().await;
                    drop(permit);
                }
                failure = Some(f);
            }
        }
    }
    shared.stats.failed.fetch_add(1, Ordering::Relaxed);
    tracing::error!(
        chat = %chat,
        error = %failure.as_ref().map(|f| f.to_string()).unwrap_or_default(),
        answer_ms = started.elapsed().as_millis() as u64,
        "message failed twice; the chat gets the failure reply"
    );
    replier.reply(&failure_reply(failure.as_ref())).await;
    done(shared, entry.seq).await;
}

async fn done(shared: &Shared, seq: u64) {
    if let Err(e) = shared.journal.mark_done(seq).await {
        tracing::error!(seq, error = %e, "marking a message done failed; it will be handled again at the next start");
    }
}

/// A started agent with the chat's folders, and its slot: a warm one from
/// the pool when one is ready, else a cold spawn once a slot is free. A chat
/// waiting for a slot takes a warm agent that becomes ready meanwhile.
async fn spawn(
    shared: &Shared,
    chat: &ChatKey,
) -> Result<(AgentSession, SlotPermit), SessionFailure> {
    let mut added = shared.pool.as_ref().map(AgentPool::watch_added);
    let permit = loop {
        if let (Some(pool), Some(added)) = (&shared.pool, added.as_mut()) {
            added.borrow_and_update();
            let began = Instant::now();
            if let Some(agent) = pool.take(chat) {
                let (handle, permit) = agent.into_parts();
                shared.stats.pooled.fetch_add(1, Ordering::Relaxed);
                let session = AgentSession::from_handle(handle, chat, began.elapsed(), true);
                return Ok((session, permit));
            }
        }
        tokio::select! {
            permit = shared.slots.acquire(chat) => break permit,
            () = warm_agent_added(&mut added) => continue,
        }
    };
    shared.stats.cold.fetch_add(1, Ordering::Relaxed);
    let (chat_dir, session_dir) = shared.dirs.prepare(chat).map_err(|e| {
        SessionFailure::Ended(format!("the chat's folders could not be prepared: {e}"))
    })?;
    let spec = shared
        .profile
        .spec_for(chat, &chat_dir, &session_dir)
        .map_err(|e| SessionFailure::Ended(format!("the agent profile is invalid: {e}")))?;
    let session = AgentSession::spawn(shared.runtime.clone(), &spec, chat)
        .await
        .map_err(SessionFailure::Spawn)?;
    Ok((session, permit))
}

/// Resolves when the pool made a warm agent ready; never without a pool
/// (or once the pool is gone).
async fn warm_agent_added(added: &mut Option<tokio::sync::watch::Receiver<u64>>) {
    if let Some(added) = added {
        if added.changed().await.is_ok() {
            return;
        }
    }
    std::future::pending().await
}
