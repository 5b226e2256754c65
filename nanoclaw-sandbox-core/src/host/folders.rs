//! The chats' folders on the host, and how a warm agent's folders become a
//! chat's.
//!
//! ```text
//! <workspace>/chats/<folder>       the chat's files      (at /workspace/chat)
//! <workspace>/sessions/<folder>    its session            (at /workspace/session)
//! <workspace>/warm/<name>/chat     a warm agent's empty folders, made with it
//! <workspace>/warm/<name>/session
//! ```
//!
//! Docker cannot add a mount to a running container, so a warm agent (see
//! [`pool`](super::pool)) is made with empty folders of its own, and when a
//! chat takes it, those folders *become* the chat's: [`ChatDirs::adopt`]
//! moves the chat's files into them (`rename`, within one file system: no
//! byte is copied) and then renames them to the chat's paths. A bind mount
//! holds the directory, not its path, so the agent sees the chat's files at
//! its usual paths, and whatever it writes lands in the chat's folders with
//! nothing to copy back. The move is O(entries at the top of the folders).
//!
//! A crash half-way loses nothing: before moving anything, `adopt` writes
//! the chat's folder name into `warm/<name>/taken-by`, and at the next start
//! [`ChatDirs::recover`] moves whatever is still under such a folder back to
//! its chat (and removes warm folders no chat took).

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::runtime::InstanceId;

use super::chat::ChatKey;

/// The folder, under the workspace, of the warm agents' folders.
pub(crate) const WARM_DIR: &str = "warm";
/// The file naming the chat that took a warm agent's folders.
const TAKEN_BY: &str = "taken-by";
/// The chat folder inside a warm agent's folder.
const WARM_CHAT: &str = "chat";
/// The session folder inside a warm agent's folder.
const WARM_SESSION: &str = "session";

/// Where chats keep their files: `<workspace>/chats/<folder>` (mounted at
/// `/workspace/chat`) and `<workspace>/sessions/<folder>` (at
/// `/workspace/session`); warm agents' folders under `<workspace>/warm`.
#[derive(Debug, Clone)]
pub(crate) struct ChatDirs {
    pub(crate) chats: PathBuf,
    pub(crate) sessions: PathBuf,
    pub(crate) warm: PathBuf,
    /// Handed to this uid:gid when the host runs as root.
    pub(crate) owner: Option<(u32, Option<u32>)>,
}

/// A warm agent's own folders (`<workspace>/warm/<name>/{chat,session}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct WarmDirs {
    pub(crate) root: PathBuf,
    pub(crate) chat: PathBuf,
    pub(crate) session: PathBuf,
}

/// What [`ChatDirs::recover`] did.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Recovered {
    /// Folders of a chat that had taken them, moved back to the chat.
    pub(crate) returned: usize,
    /// Warm folders no chat took, removed.
    pub(crate) removed: usize,
}

impl ChatDirs {
    /// The folders under `workspace`, made when missing.
    pub(crate) fn new(
        workspace: &Path,
        owner: Option<(u32, Option<u32>)>,
    ) -> Result<Self, (PathBuf, io::Error)> {
        let dirs = ChatDirs {
            chats: workspace.join("chats"),
            sessions: workspace.join("sessions"),
            warm: workspace.join(WARM_DIR),
            owner,
        };
        for dir in [&dirs.chats, &dirs.sessions, &dirs.warm] {
            fs::create_dir_all(dir).map_err(|e| (dir.clone(), e))?;
        }
        Ok(dirs)
    }

    /// `chat`'s folders, made (and handed to the agent user) when missing.
    pub(crate) fn prepare(&self, chat: &ChatKey) -> io::Result<(PathBuf, PathBuf)> {
        let name = chat.folder_name();
        let dirs = (self.chats.join(&name), self.sessions.join(&name));
        for dir in [&dirs.0, &dirs.1] {
            fs::create_dir_all(dir)?;
            self.hand_over(dir)?;
        }
        Ok(dirs)
    }

    /// Fresh, empty folders for one warm agent.
    pub(crate) fn prepare_warm(&self) -> io::Result<WarmDirs> {
        let root = self.warm.join(InstanceId::generate().as_str());
        let dirs = WarmDirs {
            chat: root.join(WARM_CHAT),
            session: root.join(WARM_SESSION),
            root,
        };
        fs::create_dir(&dirs.root)?;
        for dir in [&dirs.chat, &dirs.session] {
            fs::create_dir(dir)?;
            self.hand_over(dir)?;
        }
        Ok(dirs)
    }

    /// Makes `warm`'s folders `chat`'s: the chat's files move into them,
    /// then they take the chat's paths (see the [module docs](self)). On
    /// error, whatever moved goes back to the chat (as at a start).
    pub(crate) fn adopt(&self, warm: &WarmDirs, chat: &ChatKey) -> io::Result<()> {
        let name = chat.folder_name();
        let result = (|| {
            fs::write(warm.root.join(TAKEN_BY), &name)?;
            move_in(&self.chats.join(&name), &warm.chat)?;
            move_in(&self.sessions.join(&name), &warm.session)?;
            fs::remove_dir_all(&warm.root)
        })();
        if result.is_err() && warm.root.exists() {
            self.recover_one(&warm.root);
        }
        result
    }

    /// Removes a warm agent's folders that no chat took.
    pub(crate) fn discard(&self, warm: &WarmDirs) {
        if let Err(e) = fs::remove_dir_all(&warm.root) {
            if e.kind() != io::ErrorKind::NotFound {
                tracing::warn!(folder = %warm.root.display(), error = %e, "a warm agent's folder could not be removed; remove it by hand");
            }
        }
    }

    /// Moves back to their chats the files of warm folders a chat was
    /// taking when the host stopped, and removes the warm folders no chat
    /// took. Run at start, after the containers of earlier runs are gone.
    pub(crate) fn recover(&self) -> Recovered {
        let mut recovered = Recovered::default();
        let Ok(entries) = fs::read_dir(&self.warm) else {
            return recovered;
        };
        for entry in entries.flatten() {
            let root = entry.path();
            if root.join(TAKEN_BY).exists() {
                recovered.returned += 1;
            } else {
                recovered.removed += 1;
            }
            self.recover_one(&root);
        }
        recovered
    }

    fn recover_one(&self, root: &Path) {
        let taken_by = fs::read_to_string(root.join(TAKEN_BY)).ok();
        let name = taken_by
            .as_deref()
            .map(str::trim)
            .filter(|n| is_folder_name(n));
        if let Some(name) = name {
            for (sub, base) in [(WARM_CHAT, &self.chats), (WARM_SESSION, &self.sessions)] {
                let from = root.join(sub);
                // Nothing moved yet (or the folder took the chat's path).
                let empty = fs::read_dir(&from).map_or(true, |mut d| d.next().is_none());
                if empty {
                    continue;
                }
                let to = base.join(name);
                if let Err(e) = fs::create_dir_all(&to)
                    .and_then(|()| self.hand_over(&to))
                    .and_then(|()| move_back(&from, &to))
                {
                    tracing::error!(from = %from.display(), to = %to.display(), error = %e, "a chat's files could not be moved back from a warm folder; they stay there: move them by hand");
                    return;
                }
            }
            tracing::info!(folder = %root.display(), chat_folder = name, "a chat's files moved back from the warm folder it was taking when the host stopped");
        }
        if let Err(e) = fs::remove_dir_all(root) {
            tracing::warn!(folder = %root.display(), error = %e, "a warm folder could not be removed; remove it by hand");
        }
    }

    fn hand_over(&self, dir: &Path) -> io::Result<()> {
        if let Some((uid, gid)) = self.owner {
            std::os::unix::fs::chown(dir, Some(uid), gid)?;
        }
        Ok(())
    }
}

/// Moves what `chat_dir` holds into `warm_dir`, then renames `warm_dir` to
/// `chat_dir`. A missing `chat_dir` (a new chat) is only the rename.
fn move_in(chat_dir: &Path, warm_dir: &Path) -> io::Result<()> {
    match fs::symlink_metadata(chat_dir) {
        Ok(meta) if meta.is_dir() => {
            for entry in fs::read_dir(chat_dir)? {
                let entry = entry?;
                fs::rename(entry.path(), warm_dir.join(entry.file_name()))?;
            }
            fs::remove_dir(chat_dir)?;
        }
        Ok(_) => {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!(
                    "`{}` is not a folder: move it away so the chat's folder can be made",
                    chat_dir.display()
                ),
            ))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    fs::rename(warm_dir, chat_dir)
}

/// Moves every entry of `from` into `to`, never over an existing one.
fn move_back(from: &Path, to: &Path) -> io::Result<()> {
    for entry in fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if fs::symlink_metadata(&target).is_ok() {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("`{}` exists on both sides", target.display()),
            ));
        }
        fs::rename(entry.path(), target)?;
    }
    Ok(())
}

/// What [`ChatKey::folder_name`] can make: no separator, no leading dot.
fn is_folder_name(name: &str) -> bool {
    !name.is_empty() && !name.starts_with('.') && !name.contains(['/', '\0'])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channel::ChatId;

    fn chat(id: &str) -> ChatKey {
        ChatKey::new("t", ChatId(id.into()))
    }

    fn dirs() -> (tempfile::TempDir, ChatDirs) {
        let workspace = tempfile::tempdir().unwrap();
        let dirs = ChatDirs::new(workspace.path(), None).unwrap();
        (workspace, dirs)
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[cfg(target_os = "linux")]
    fn inode(path: &Path) -> u64 {
        use std::os::unix::fs::MetadataExt;
        fs::metadata(path).unwrap().ino()
    }

    #[test]
    fn a_chat_takes_the_warm_folders_with_its_files_in_them() {
        let (_ws, dirs) = dirs();
        let (chat_dir, session_dir) = dirs.prepare(&chat("1")).unwrap();
        fs::write(chat_dir.join("notes.txt"), "mine").unwrap();
        fs::create_dir(chat_dir.join("sub")).unwrap();
        fs::write(chat_dir.join("sub/deep.txt"), "deep").unwrap();
        fs::write(session_dir.join("history.json"), "[]").unwrap();

        let warm = dirs.prepare_warm().unwrap();
        #[cfg(target_os = "linux")]
        let warm_inode = inode(&warm.chat);
        dirs.adopt(&warm, &chat("1")).unwrap();

        // The chat's paths now are the warm folders (what the agent mounted).
        #[cfg(target_os = "linux")]
        assert_eq!(inode(&chat_dir), warm_inode);
        assert_eq!(names(&chat_dir), ["notes.txt", "sub"]);
        assert_eq!(
            fs::read_to_string(chat_dir.join("sub/deep.txt")).unwrap(),
            "deep"
        );
        assert_eq!(names(&session_dir), ["history.json"]);
        assert!(!warm.root.exists(), "nothing is left under warm/");
        assert!(names(&dirs.warm).is_empty());
    }

    #[test]
    fn a_new_chat_gets_the_warm_folders_as_they_are() {
        let (_ws, dirs) = dirs();
        let warm = dirs.prepare_warm().unwrap();
        dirs.adopt(&warm, &chat("new")).unwrap();
        let chat_dir = dirs.chats.join(chat("new").folder_name());
        assert!(chat_dir.is_dir());
        assert!(names(&chat_dir).is_empty());
        assert!(dirs.sessions.join(chat("new").folder_name()).is_dir());
    }

    #[test]
    fn a_take_cut_short_is_undone_at_the_next_start() {
        let (_ws, dirs) = dirs();
        let (chat_dir, session_dir) = dirs.prepare(&chat("1")).unwrap();
        fs::write(session_dir.join("history.json"), "[1]").unwrap();
        // The host stopped after moving the chat's file into the warm
        // folder, before renaming it.
        let warm = dirs.prepare_warm().unwrap();
        fs::write(warm.root.join(TAKEN_BY), chat("1").folder_name()).unwrap();
        fs::write(chat_dir.join("a.txt"), "a").unwrap();
        fs::rename(chat_dir.join("a.txt"), warm.chat.join("a.txt")).unwrap();
        // And a warm agent that no chat took left a file behind.
        let untaken = dirs.prepare_warm().unwrap();
        fs::write(untaken.chat.join("stray"), "x").unwrap();

        let recovered = dirs.recover();
        assert_eq!(
            recovered,
            Recovered {
                returned: 1,
                removed: 1
            }
        );
        assert_eq!(fs::read_to_string(chat_dir.join("a.txt")).unwrap(), "a");
        assert_eq!(
            fs::read_to_string(session_dir.join("history.json")).unwrap(),
            "[1]"
        );
        assert!(names(&dirs.warm).is_empty());
        // The stray file of the untaken agent went to no chat.
        assert_eq!(names(&dirs.chats), [chat("1").folder_name()]);
    }

    #[test]
    fn a_chat_folder_that_is_a_file_is_refused_and_nothing_moves() {
        let (_ws, dirs) = dirs();
        fs::write(dirs.chats.join(chat("1").folder_name()), "not a folder").unwrap();
        let warm = dirs.prepare_warm().unwrap();
        let err = dirs.adopt(&warm, &chat("1")).unwrap_err();
        assert!(err.to_string().contains("is not a folder"), "{err}");
        assert!(!warm.root.exists(), "the warm folder was cleaned up");
        assert_eq!(
            fs::read_to_string(dirs.chats.join(chat("1").folder_name())).unwrap(),
            "not a folder"
        );
    }
}
