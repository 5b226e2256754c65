//! [`TrustDir`]: the directory mounted into containers at
//! [`CONTAINER_CA_DIR`](super::CONTAINER_CA_DIR).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::{RootsPem, TrustError, TrustStore, BUNDLE_FILE_NAME, CA_FILE_NAME};

/// Agents often run as a non-root user (uid 1000): the directory must be
/// searchable and the files readable by everyone. A CA is public.
pub(crate) const PUBLIC_DIR_MODE: u32 = 0o755;
/// Mode of files every container user must read.
pub(crate) const PUBLIC_FILE_MODE: u32 = 0o644;

/// A directory holding `proxy-ca.pem` (the CA alone) and `ca-bundle.pem`
/// (system roots, then the CA), removed with everything in it on drop.
///
/// Files are replaced atomically (written under a temporary name in the same
/// directory, then renamed), so a container that has the directory mounted
/// sees either the old or the new file, never half of one: that is how a
/// rotated CA reaches running containers.
#[derive(Debug)]
pub struct TrustDir {
    path: PathBuf,
}

impl TrustDir {
    /// Creates `path` (and its parents) with mode 0755. An existing directory
    /// is taken over: it is removed on drop.
    pub fn create(path: impl Into<PathBuf>) -> Result<Self, TrustError> {
        let path = path.into();
        create_dir_with_mode(&path, PUBLIC_DIR_MODE)?;
        Ok(TrustDir { path })
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The host path of `proxy-ca.pem`.
    pub fn ca_file(&self) -> PathBuf {
        self.path.join(CA_FILE_NAME)
    }

    /// The host path of `ca-bundle.pem`.
    pub fn bundle_file(&self) -> PathBuf {
        self.path.join(BUNDLE_FILE_NAME)
    }

    /// Writes both files, each replaced atomically with mode 0644. Call again
    /// with a reloaded CA to rotate it under running containers.
    pub fn write(&self, ca: &TrustStore, roots: &RootsPem) -> Result<(), TrustError> {
        let ca_pem = ca.to_pem();
        let mut bundle = String::with_capacity(roots.pem().len() + ca_pem.len() + 1);
        bundle.push_str(roots.pem());
        if !bundle.is_empty() && !bundle.ends_with('\n') {
            bundle.push('\n');
        }
        bundle.push_str(&ca_pem);
        // The bundle first: a replacing variable never sees a CA newer than
        // its bundle for longer than one rename.
        write_atomically(&self.bundle_file(), bundle.as_bytes(), PUBLIC_FILE_MODE)?;
        write_atomically(&self.ca_file(), ca_pem.as_bytes(), PUBLIC_FILE_MODE)
    }
}

impl Drop for TrustDir {
    fn drop(&mut self) {
        remove_dir_quietly(&self.path);
    }
}

/// Removes a directory tree; a failure is logged, not raised (drop cannot fail).
pub(crate) fn remove_dir_quietly(path: &Path) {
    match std::fs::remove_dir_all(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => tracing::warn!(path = %path.display(), error = %e, "could not remove directory"),
    }
}

/// `mkdir -p` then `chmod`: the mode is set explicitly because the umask
/// would otherwise decide it.
pub(crate) fn create_dir_with_mode(path: &Path, mode: u32) -> Result<(), TrustError> {
    let failed = |source| TrustError::Write {
        path: path.to_path_buf(),
        source,
    };
    std::fs::create_dir_all(path).map_err(failed)?;
    set_mode(path, mode).map_err(failed)
}

/// Writes `contents` to `target` through a temporary file in the same
/// directory and a rename, so readers never see a partial file.
pub(crate) fn write_atomically(
    target: &Path,
    contents: &[u8],
    mode: u32,
) -> Result<(), TrustError> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let failed = |path: &Path, source| TrustError::Write {
        path: path.to_path_buf(),
        source,
    };
    let dir = target.parent().unwrap_or(Path::new("."));
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temp = dir.join(format!(
        ".{name}.tmp.{}.{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let result = (|| {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temp)?;
        file.write_all(contents)?;
        file.sync_all()?;
        set_mode(&temp, mode)?;
        std::fs::rename(&temp, target)
    })();
    result.map_err(|source| {
        let _ = std::fs::remove_file(&temp);
        failed(target, source)
    })
}

#[cfg(unix)]
fn set_mode(path: &Path, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
}

#[cfg(not(unix))]
fn set_mode(_path: &Path, _mode: u32) -> std::io::Result<()> {
    Ok(())
}
