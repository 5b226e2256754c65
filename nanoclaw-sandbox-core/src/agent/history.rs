//! The chat's conversation, kept as JSON in the session directory
//! (`/workspace/session/history.json`), which survives the agent's restarts.
//!
//! - **Bounded**: the last [`MAX_TURNS`] turns are kept.
//! - **Valid for the API**: the turns start with a `user` turn and
//!   alternate; empty turns are dropped and neighbours of one role merged,
//!   whatever a file on disk holds.
//! - **Atomic**: written to a sibling temporary file (mode 0600 on Unix)
//!   and renamed over the old one, so a crash mid-write leaves the previous
//!   history whole.
//! - **Never fatal**: a file that is not a history is moved aside to
//!   `history.json.corrupt-<unix time>` with a warning, and a fresh history
//!   starts.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::anthropic::{Role, Turn};

/// The history's file name in the session directory.
pub const HISTORY_FILE: &str = "history.json";

/// How many turns are kept (20 exchanges).
pub const MAX_TURNS: usize = 40;

/// The on-disk format's version.
const FORMAT_VERSION: u32 = 1;

/// A conversation: turns that start with a user turn and alternate, at most
/// [`MAX_TURNS`] of them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct History {
    turns: Vec<Turn>,
}

impl History {
    /// An empty history.
    pub fn new() -> Self {
        Self::default()
    }

    /// A history of `turns`, made valid (see [`History::turns`]) and bounded.
    pub fn from_turns(turns: impl IntoIterator<Item = Turn>) -> Self {
        let mut turns = normalize(turns);
        bound(&mut turns);
        History { turns }
    }

    /// The turns, oldest first: the first is a user turn, roles alternate,
    /// none is empty.
    pub fn turns(&self) -> &[Turn] {
        &self.turns
    }

    /// How many turns there are.
    pub fn len(&self) -> usize {
        self.turns.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.turns.is_empty()
    }

    /// What to send the API for a new user message: the history with the
    /// user's `text` appended, still valid (it starts with a user turn and
    /// alternates).
    pub fn request(&self, text: &str) -> Vec<Turn> {
        let turns = self.turns.iter().cloned().chain([Turn::user(text)]);
        normalize(turns)
    }

    /// Records an answered message: the user's turn and the assistant's,
    /// dropping the oldest turns beyond [`MAX_TURNS`].
    pub fn record(&mut self, user: impl Into<String>, assistant: impl Into<String>) {
        let turns = std::mem::take(&mut self.turns)
            .into_iter()
            .chain([Turn::user(user), Turn::assistant(assistant)]);
        self.turns = normalize(turns);
        bound(&mut self.turns);
    }
}

/// Drops empty turns and leading assistant turns; merges neighbours of one role.
fn normalize(turns: impl IntoIterator<Item = Turn>) -> Vec<Turn> {
    let mut out: Vec<Turn> = Vec::new();
    for turn in turns {
        if turn.content.trim().is_empty() || (out.is_empty() && turn.role == Role::Assistant) {
            continue;
        }
        match out.last_mut() {
            Some(last) if last.role == turn.role => {
                last.content.push_str("\n\n");
                last.content.push_str(&turn.content);
            }
            _ => out.push(turn),
        }
    }
    out
}

/// Keeps the last [`MAX_TURNS`] turns, starting with a user turn.
fn bound(turns: &mut Vec<Turn>) {
    if turns.len() > MAX_TURNS {
        turns.drain(..turns.len() - MAX_TURNS);
    }
    let leading = turns.iter().take_while(|t| t.role != Role::User).count();
    turns.drain(..leading);
}

/// The file's contents.
#[derive(Serialize, Deserialize)]
struct Stored {
    version: u32,
    turns: Vec<Turn>,
}

/// Why the history could not be read or written. The agent logs it and goes
/// on without history: a chat still gets its answers.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HistoryError {
    /// The file exists but cannot be read.
    #[error(
        "cannot read the chat history {}: {source}: make the session directory readable and \
         writable by the agent's user (the host mounts it at /workspace/session)",
        .path.display()
    )]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// The file (or its directory) cannot be written.
    #[error(
        "cannot write the chat history {}: {source}: make the session directory \
         (NANOCLAW_SESSION_DIR, default /workspace/session) writable by the agent's user",
        .path.display()
    )]
    Write {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// The file is corrupt and cannot be moved aside.
    #[error(
        "the chat history {} is corrupt ({reason}) and cannot be moved aside: {source}: \
         delete or move it by hand to start a fresh history",
        .path.display()
    )]
    MoveAside {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
        /// The rename's error.
        #[source]
        source: io::Error,
    },
}

/// Where a chat's history lives: `history.json` in the session directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryStore {
    dir: PathBuf,
}

impl HistoryStore {
    /// The history kept in `session_dir`.
    pub fn new(session_dir: impl Into<PathBuf>) -> Self {
        HistoryStore {
            dir: session_dir.into(),
        }
    }

    /// The session directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The history file.
    pub fn path(&self) -> PathBuf {
        self.dir.join(HISTORY_FILE)
    }

    /// The history: empty when there is no file yet; a corrupt file is moved
    /// aside (`history.json.corrupt-<unix time>`) with a warning and an empty
    /// history returned.
    pub fn load(&self) -> Result<History, HistoryError> {
        let path = self.path();
        let bytes = match fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(History::new()),
            Err(source) => return Err(HistoryError::Read { path, source }),
        };
        match serde_json::from_slice::<Stored>(&bytes) {
            Ok(stored) if stored.version == FORMAT_VERSION => Ok(History::from_turns(stored.turns)),
            Ok(stored) => self.move_aside(
                &path,
                format!(
                    "format version {} is not the {FORMAT_VERSION} this agent reads",
                    stored.version
                ),
            ),
            Err(e) => self.move_aside(&path, format!("not a chat history: {e}")),
        }
    }

    fn move_aside(&self, path: &Path, reason: String) -> Result<History, HistoryError> {
        let aside = aside_path(path);
        match fs::rename(path, &aside) {
            Ok(()) => {
                tracing::warn!(
                    "the chat history {} is corrupt ({reason}): moved it to {} and started a \
                     fresh history",
                    path.display(),
                    aside.display()
                );
                Ok(History::new())
            }
            Err(source) => Err(HistoryError::MoveAside {
                path: path.to_path_buf(),
                reason,
                source,
            }),
        }
    }

    /// Writes `history` atomically (temporary file, then rename; mode 0600),
    /// creating the session directory when it is missing.
    pub fn save(&self, history: &History) -> Result<(), HistoryError> {
        let path = self.path();
        let stored = Stored {
            version: FORMAT_VERSION,
            turns: history.turns.clone(),
        };
        let mut json = serde_json::to_vec_pretty(&stored).unwrap_or_default();
        json.push(b'\n');
        fs::create_dir_all(&self.dir)
            .and_then(|()| write_atomically(&path, &json))
            .map_err(|source| HistoryError::Write { path, source })
    }
}

/// `history.json.corrupt-<unix time>`, with `-N` appended if that is taken.
fn aside_path(path: &Path) -> PathBuf {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let base = format!("{HISTORY_FILE}.corrupt-{secs}");
    let mut candidate = path.with_file_name(&base);
    let mut n = 1;
    while candidate.exists() {
        candidate = path.with_file_name(format!("{base}-{n}"));
        n += 1;
    }
    candidate
}

/// Writes to a sibling temporary file (mode 0600 from the start) and
/// renames it over `path`: a reader sees the old file or the new one.
fn write_atomically(path: &Path, contents: &[u8]) -> io::Result<()> {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".tmp-{}", std::process::id()));
    let temp = path.with_file_name(name);
    // A leftover from a crashed run: start afresh.
    let _ = fs::remove_file(&temp);
    let written = write_new(&temp, contents).and_then(|()| fs::rename(&temp, path));
    if written.is_err() {
        // Best effort: the error that matters is the one returned.
        let _ = fs::remove_file(&temp);
    }
    written
}

fn write_new(path: &Path, contents: &[u8]) -> io::Result<()> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(contents)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exchange(history: &mut History, n: usize) {
        history.record(format!("question {n}"), format!("answer {n}"));
    }

    #[test]
    fn a_missing_file_is_an_empty_history_and_saves_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let store = HistoryStore::new(dir.path().join("session"));
        assert!(store.load().unwrap().is_empty());

        let mut history = History::new();
        exchange(&mut history, 1);
        store.save(&history).unwrap();
        assert_eq!(store.load().unwrap(), history);
        assert_eq!(
            store.load().unwrap().request("next"),
            [
                Turn::user("question 1"),
                Turn::assistant("answer 1"),
                Turn::user("next")
            ]
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(store.path()).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let leftovers: Vec<_> = fs::read_dir(store.dir())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(leftovers, [HISTORY_FILE], "no temporary file stays");
    }

    #[test]
    fn the_history_is_bounded_and_starts_with_a_user_turn() {
        let mut history = History::new();
        for n in 0..30 {
            exchange(&mut history, n);
        }
        assert_eq!(history.len(), MAX_TURNS);
        assert_eq!(history.turns()[0], Turn::user("question 10"));
        assert_eq!(history.turns()[MAX_TURNS - 1], Turn::assistant("answer 29"));
        let request = history.request("hi");
        assert_eq!(request.len(), MAX_TURNS + 1);
        assert_eq!(request[0].role, Role::User);
        assert_eq!(request.last(), Some(&Turn::user("hi")));
    }

    #[test]
    fn an_invalid_sequence_is_made_valid() {
        let history = History::from_turns([
            Turn::assistant("orphan"),
            Turn::user("a"),
            Turn::user("b"),
            Turn::assistant(" "),
            Turn::assistant("c"),
        ]);
        assert_eq!(
            history.turns(),
            [Turn::user("a\n\nb"), Turn::assistant("c")]
        );
        // An odd bound that would start with an assistant turn.
        let mut turns = vec![Turn::assistant("x")];
        for n in 0..MAX_TURNS / 2 {
            turns.push(Turn::user(format!("q{n}")));
            turns.push(Turn::assistant(format!("a{n}")));
        }
        let history = History::from_turns(turns);
        assert_eq!(history.turns()[0].role, Role::User);
        for pair in history.turns().windows(2) {
            assert_ne!(pair[0].role, pair[1].role);
        }
        // A history ending with a user turn merges the new message into it.
        let dangling = History::from_turns([Turn::user("first")]);
        assert_eq!(dangling.request("second"), [Turn::user("first\n\nsecond")]);
    }

    #[test]
    fn a_corrupt_file_is_moved_aside_and_a_fresh_history_starts() {
        let dir = tempfile::tempdir().unwrap();
        let store = HistoryStore::new(dir.path());
        for corrupt in [
            &b"{not json"[..],
            br#"{"version":99,"turns":[]}"#,
            b"\xff\xfe",
        ] {
            fs::write(store.path(), corrupt).unwrap();
            assert!(store.load().unwrap().is_empty());
            assert!(!store.path().exists());
        }
        let mut aside: Vec<String> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        aside.sort();
        assert_eq!(aside.len(), 3, "{aside:?}");
        assert!(aside
            .iter()
            .all(|name| name.starts_with("history.json.corrupt-")));
        // And the next save works.
        let mut history = History::new();
        exchange(&mut history, 1);
        store.save(&history).unwrap();
        assert_eq!(store.load().unwrap(), history);
    }

    #[test]
    fn unwritable_places_are_errors_that_say_what_to_do() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a-file");
        fs::write(&file, "x").unwrap();
        let store = HistoryStore::new(file.join("session"));
        let err = store.save(&History::new()).unwrap_err();
        assert!(matches!(err, HistoryError::Write { .. }), "{err:?}");
        assert!(err.to_string().contains("NANOCLAW_SESSION_DIR"), "{err}");

        // A directory where the file should be: unreadable as a file.
        let store = HistoryStore::new(dir.path());
        fs::create_dir(store.path()).unwrap();
        let err = store.load().unwrap_err();
        assert!(matches!(err, HistoryError::Read { .. }), "{err:?}");
    }
}
