//! Content hashes already computed in this process, keyed by the executable's
//! identity on disk (a rebuilt executable gets a new key).

use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::SystemTime;

/// One version of one executable, within one lineage.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) struct Key {
    path: PathBuf,
    len: u64,
    inode: u64,
    modified: Option<SystemTime>,
    lineage: String,
}

impl Key {
    /// The key of the file at `binary` as it is now; `None` if unreadable.
    pub(super) fn of(binary: &Path, lineage: &str) -> Option<Self> {
        let meta = std::fs::metadata(binary).ok()?;
        Some(Self {
            path: binary.to_path_buf(),
            len: meta.len(),
            inode: meta.ino(),
            modified: meta.modified().ok(),
            lineage: lineage.to_string(),
        })
    }
}

fn table() -> &'static Mutex<HashMap<Key, String>> {
    static TABLE: OnceLock<Mutex<HashMap<Key, String>>> = OnceLock::new();
    TABLE.get_or_init(Mutex::default)
}

/// The hash remembered for `key`.
pub(super) fn get(key: &Key) -> Option<String> {
    table()
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .get(key)
        .cloned()
}

/// Remembers `hash` for `key`.
pub(super) fn put(key: Key, hash: String) {
    table()
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .insert(key, hash);
}
