//! The inbound journal: every message is on disk before its channel is told
//! it was received, and marked done once its reply was sent.
//!
//! One JSON object per line in `journal.jsonl`:
//! `{"op":"in","seq":3,"channel":"telegram","chat":"42","message_id":"7",...}`
//! when a message arrives, `{"op":"done","seq":3,"key":"telegram:42:7"}` when
//! it has been answered. Each line is written and `fsync`ed before the call
//! returns. Opening the journal replays it: the `in` records without a `done`
//! are the messages to handle again; the keys of every record are remembered
//! so that a platform delivering a message twice (Telegram does, after a
//! crash between the journal write and the offset confirmation) finds it a
//! duplicate. Opening also compacts the file to what is still needed: the
//! pending messages and the most recent done keys.
//!
//! The window a crash can still repeat a reply in: after the reply was sent
//! and before its `done` line is on disk. That message is handled again at
//! the next start (docs/agent-host.md).

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use serde::{Deserialize, Serialize};

use crate::channel::{ChatId, InboundMessage};

use super::chat::ChatKey;

/// How many done keys are kept for duplicate detection (in memory and in
/// the compacted file). A platform re-delivers only recent messages.
const DONE_KEYS_KEPT: usize = 10_000;

/// The journal's file name inside the host's state directory.
pub const JOURNAL_FILE: &str = "journal.jsonl";

/// Why the journal could not be read or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JournalError {
    /// A file operation failed.
    #[error("the message journal `{path}` could not be {action}: {source}; check the state directory's permissions and free space")]
    Io {
        /// The journal file.
        path: PathBuf,
        /// `read`, `written`, `compacted`.
        action: &'static str,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A blocking task that wrote the journal could not finish.
    #[error("writing the message journal was interrupted: {reason}")]
    Interrupted {
        /// What happened.
        reason: String,
    },
}

/// One journaled message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalEntry {
    /// Its sequence number in the journal (the host's delivery id).
    pub seq: u64,
    /// The channel it came in on.
    pub channel: String,
    /// The message.
    pub message: InboundMessage,
}

impl JournalEntry {
    /// The chat it belongs to.
    pub fn chat(&self) -> ChatKey {
        ChatKey::new(self.channel.clone(), self.message.chat.clone())
    }

    /// The key duplicates are recognised by: `channel:chat:message id`.
    pub fn key(&self) -> String {
        dedup_key(&self.channel, &self.message)
    }
}

fn dedup_key(channel: &str, message: &InboundMessage) -> String {
    format!("{channel}:{}:{}", message.chat, message.message_id)
}

#[derive(Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
enum Record {
    In {
        seq: u64,
        channel: String,
        chat: String,
        message_id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sender: Option<String>,
        text: String,
        #[serde(default)]
        group: bool,
    },
    Done {
        seq: u64,
        key: String,
    },
}

impl Record {
    fn of(entry: &JournalEntry) -> Self {
        let m = &entry.message;
        Record::In {
            seq: entry.seq,
            channel: entry.channel.clone(),
            chat: m.chat.0.clone(),
            message_id: m.message_id.clone(),
            sender: m.sender.clone(),
            text: m.text.clone(),
            group: m.group,
        }
    }
}

struct State {
    path: PathBuf,
    file: File,
    next_seq: u64,
    /// Pending entries by seq, for their keys when they are marked done.
    pending: BTreeMap<u64, String>,
    seen: HashSet<String>,
    done_order: VecDeque<String>,
}

/// The on-disk journal of inbound messages. Cheap to clone (shared).
#[derive(Clone)]
pub struct Journal {
    state: Arc<Mutex<State>>,
}

impl std::fmt::Debug for Journal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.lock();
        f.debug_struct("Journal")
            .field("path", &state.path)
            .field("pending", &state.pending.len())
            .finish()
    }
}

impl Journal {
    /// Opens (or creates) the journal in `dir`, compacts it, and returns it
    /// with the messages still to handle, oldest first.
    pub fn open(dir: &Path) -> Result<(Journal, Vec<JournalEntry>), JournalError> {
        let path = dir.join(JOURNAL_FILE);
        let io = |action, source| JournalError::Io {
            path: path.clone(),
            action,
            source,
        };
        std::fs::create_dir_all(dir).map_err(|e| io("created", e))?;

        let mut pending: BTreeMap<u64, JournalEntry> = BTreeMap::new();
        let mut done: Vec<(u64, String)> = Vec::new();
        let mut max_seq = 0;
        match File::open(&path) {
            Ok(file) => {
                for (number, line) in BufReader::new(file).lines().enumerate() {
                    let line = line.map_err(|e| io("read", e))?;
                    if line.trim().is_empty() {
                        continue;
                    }
                    match serde_json::from_str::<Record>(&line) {
                        Ok(Record::In {
                            seq,
                            channel,
                            chat,
                            message_id,
                            sender,
                            text,
                            group,
                        }) => {
                            max_seq = max_seq.max(seq);
                            pending.insert(
                                seq,
                                JournalEntry {
                                    seq,
                                    channel,
                                    message: InboundMessage {
                                        chat: ChatId(chat),
                                        message_id,
                                        sender,
                                        text,
                                        group,
                                    },
                                },
                            );
                        }
                        Ok(Record::Done { seq, key }) => {
                            max_seq = max_seq.max(seq);
                            pending.remove(&seq);
                            done.push((seq, key));
                        }
                        // A torn last line (a crash mid-write) or a stray
                        // line: skipped, never fatal.
                        Err(e) => tracing::warn!(
                            journal = %path.display(),
                            line = number + 1,
                            error = %e,
                            "skipped an unreadable journal line"
                        ),
                    }
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io("read", e)),
        }
        let keep_from = done.len().saturating_sub(DONE_KEYS_KEPT);
        let done = done.split_off(keep_from);

        // Compact: write what is still needed to a sibling, then rename.
        let tmp = dir.join(format!("{JOURNAL_FILE}.tmp"));
        {
            let mut out = File::create(&tmp).map_err(|e| io("compacted", e))?;
            let mut text = String::new();
            for entry in pending.values() {
                text.push_str(&line_of(&Record::of(entry)));
            }
            for (seq, key) in &done {
                text.push_str(&line_of(&Record::Done {
                    seq: *seq,
                    key: key.clone(),
                }));
            }
            out.write_all(text.as_bytes())
                .and_then(|()| out.sync_all())
                .map_err(|e| io("compacted", e))?;
        }
        std::fs::rename(&tmp, &path).map_err(|e| io("compacted", e))?;
        if let Ok(dir) = File::open(dir) {
            let _ = dir.sync_all();
        }
        let file = OpenOptions::new()
            .append(true)
            .open(&path)
            .map_err(|e| io("opened", e))?;

        let mut seen: HashSet<String> = pending.values().map(JournalEntry::key).collect();
        let mut done_order = VecDeque::with_capacity(done.len());
        for (_, key) in done {
            seen.insert(key.clone());
            done_order.push_back(key);
        }
        let state = State {
            path,
            file,
            next_seq: max_seq + 1,
            pending: pending.values().map(|e| (e.seq, e.key())).collect(),
            seen,
            done_order,
        };
        let journal = Journal {
            state: Arc::new(Mutex::new(state)),
        };
        Ok((journal, pending.into_values().collect()))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Writes `message` (from `channel`) to disk and returns its entry, or
    /// `None` when the journal has seen it before (a re-delivery).
    pub async fn record(
        &self,
        channel: &str,
        message: InboundMessage,
    ) -> Result<Option<JournalEntry>, JournalError> {
        let journal = self.clone();
        let channel = channel.to_string();
        blocking(move || {
            let mut state = journal.lock();
            let key = dedup_key(&channel, &message);
            if state.seen.contains(&key) {
                return Ok(None);
            }
            let entry = JournalEntry {
                seq: state.next_seq,
                channel,
                message,
            };
            append(&mut state, &Record::of(&entry))?;
            state.next_seq += 1;
            state.seen.insert(key.clone());
            state.pending.insert(entry.seq, key);
            Ok(Some(entry))
        })
        .await
    }

    /// Marks message `seq` as answered.
    pub async fn mark_done(&self, seq: u64) -> Result<(), JournalError> {
        let journal = self.clone();
        blocking(move || {
            let mut state = journal.lock();
            let Some(key) = state.pending.get(&seq).cloned() else {
                return Ok(());
            };
            append(
                &mut state,
                &Record::Done {
                    seq,
                    key: key.clone(),
                },
            )?;
            state.pending.remove(&seq);
            state.done_order.push_back(key);
            if state.done_order.len() > DONE_KEYS_KEPT {
                if let Some(old) = state.done_order.pop_front() {
                    state.seen.remove(&old);
                }
            }
            Ok(())
        })
        .await
    }

    /// How many messages are journaled and not yet done.
    pub fn pending(&self) -> usize {
        self.lock().pending.len()
    }
}

fn line_of(record: &Record) -> String {
    let mut line = serde_json::to_string(record).unwrap_or_default();
    line.push('\n');
    line
}

fn append(state: &mut State, record: &Record) -> Result<(), JournalError> {
    let line = line_of(record);
    let State { file, path, .. } = state;
    file.write_all(line.as_bytes())
        .and_then(|()| file.sync_data())
        .map_err(|source| JournalError::Io {
            path: path.clone(),
            action: "written",
            source,
        })
}

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, JournalError> + Send + 'static,
) -> Result<T, JournalError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| JournalError::Interrupted {
            reason: e.to_string(),
        })?
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(chat: &str, id: &str, text: &str) -> InboundMessage {
        InboundMessage {
            chat: ChatId(chat.into()),
            message_id: id.into(),
            sender: Some("ada".into()),
            text: text.into(),
            group: false,
        }
    }

    #[tokio::test]
    async fn pending_messages_survive_a_reopen_and_done_ones_do_not() {
        let dir = tempfile::tempdir().unwrap();
        let (journal, replay) = Journal::open(dir.path()).unwrap();
        assert!(replay.is_empty());
        let a = journal
            .record("telegram", message("1", "10", "a"))
            .await
            .unwrap()
            .unwrap();
        let b = journal
            .record("telegram", message("1", "11", "b"))
            .await
            .unwrap()
            .unwrap();
        let c = journal
            .record("telegram", message("2", "10", "c"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!((a.seq, b.seq, c.seq), (1, 2, 3));
        journal.mark_done(b.seq).await.unwrap();
        assert_eq!(journal.pending(), 2);
        drop(journal);

        let (journal, replay) = Journal::open(dir.path()).unwrap();
        assert_eq!(replay, vec![a.clone(), c.clone()]);
        // Re-deliveries are recognised, done or not.
        for again in [message("1", "10", "a"), message("1", "11", "b")] {
            assert_eq!(journal.record("telegram", again).await.unwrap(), None);
        }
        // The same message id on another channel or chat is another message.
        let d = journal
            .record("slack", message("1", "10", "a"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(d.seq, 4, "sequence numbers continue after a reopen");
    }

    #[tokio::test]
    async fn a_torn_last_line_is_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let (journal, _) = Journal::open(dir.path()).unwrap();
        let a = journal
            .record("telegram", message("1", "10", "a"))
            .await
            .unwrap()
            .unwrap();
        drop(journal);
        let path = dir.path().join(JOURNAL_FILE);
        let mut file = OpenOptions::new().append(true).open(&path).unwrap();
        file.write_all(br#"{"op":"done","se"#).unwrap();
        drop(file);
        let (_, replay) = Journal::open(dir.path()).unwrap();
        assert_eq!(replay, vec![a]);
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 1, "compacted: {text}");
    }

    #[tokio::test]
    async fn compaction_keeps_pending_and_recent_done_keys() {
        let dir = tempfile::tempdir().unwrap();
        let (journal, _) = Journal::open(dir.path()).unwrap();
        for i in 0..5 {
            let e = journal
                .record("telegram", message("1", &i.to_string(), "x"))
                .await
                .unwrap()
                .unwrap();
            if i % 2 == 0 {
                journal.mark_done(e.seq).await.unwrap();
            }
        }
        drop(journal);
        let (_, replay) = Journal::open(dir.path()).unwrap();
        assert_eq!(replay.iter().map(|e| e.seq).collect::<Vec<_>>(), [2, 4]);
        let text = std::fs::read_to_string(dir.path().join(JOURNAL_FILE)).unwrap();
        assert_eq!(text.lines().count(), 5, "2 pending + 3 done keys: {text}");
    }
}
