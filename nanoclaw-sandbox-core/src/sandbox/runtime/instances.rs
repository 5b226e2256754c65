//! Instance directories earlier processes left behind.
//!
//! Each process of an install keeps its CA files in `BASE/<install>/<instance>/`
//! and removes that directory when its runtime drops. A process that crashed
//! (or was killed) leaves its directory; the next process of the same
//! install removes it, as it removes that process's orphaned containers.
//! Only directories are removed, never through a symbolic link, and only
//! inside this install's own directory: other installs sharing the temp dir
//! keep theirs.

use std::path::{Path, PathBuf};

use crate::trust::remove_dir_quietly;

/// Removes every directory in `install_dir` but `own`; returns those removed.
pub(super) fn remove_others(install_dir: &Path, own: &str) -> Vec<PathBuf> {
    let entries = match std::fs::read_dir(install_dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Vec::new(),
        Err(e) => {
            tracing::warn!(dir = %install_dir.display(), error = %e, "cannot list instance directories");
            return Vec::new();
        }
    };
    let mut removed = Vec::new();
    for entry in entries.flatten() {
        // `file_type` does not follow symbolic links.
        let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
        if !is_dir || entry.file_name().to_string_lossy() == own {
            continue;
        }
        let path = entry.path();
        remove_dir_quietly(&path);
        if !path.exists() {
            tracing::info!(dir = %path.display(), "removed an orphaned instance directory of an earlier process");
            removed.push(path);
        }
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_other_instances_directories_go() {
        let base = tempfile::tempdir().unwrap();
        let install = base.path().join("install-a");
        for dir in ["own", "old-1", "old-2"] {
            std::fs::create_dir_all(install.join(dir).join("ca")).unwrap();
        }
        std::fs::write(install.join("stray-file"), "x").unwrap();
        let outside = base.path().join("elsewhere");
        std::fs::create_dir(&outside).unwrap();
        #[cfg(unix)]
        std::os::unix::fs::symlink(&outside, install.join("link")).unwrap();

        let mut removed = remove_others(&install, "own");
        removed.sort();
        assert_eq!(removed, [install.join("old-1"), install.join("old-2")]);
        assert!(install.join("own/ca").is_dir());
        assert!(install.join("stray-file").is_file());
        assert!(outside.is_dir(), "a link's target is never touched");
        assert!(remove_others(&base.path().join("missing"), "own").is_empty());
    }
}
