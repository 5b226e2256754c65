//! [`InstanceDir`]: the small, tested I/O step before patching: the files
//! the patched spec's mounts point at.

use std::path::{Path, PathBuf};

use super::patch::InstancePaths;
use crate::trust::{
    create_dir_with_mode, remove_dir_quietly, write_atomically, RootsPem, TrustDir, TrustError,
    TrustStore, PUBLIC_FILE_MODE,
};

/// Where instance directories go under a workspace root.
pub const WORKSPACE_INSTANCES_DIR: &str = ".nanoclaw/instances";
/// Where instance directories go without a workspace root (under the temp dir).
pub const TEMP_INSTANCES_DIR: &str = "nanoclaw-instances";
/// The empty file that replaces `/dev/null` bind sources.
pub const EMPTY_FILE_NAME: &str = "empty";
/// The trust directory's name inside an instance directory.
pub const CA_DIR_NAME: &str = "ca";

/// The instance's private files stay private; only what containers read
/// (the CA directory, the empty file) is opened up.
const PRIVATE_DIR_MODE: u32 = 0o700;

/// Why an instance directory could not be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InstanceDirError {
    /// An id that is not a plain file name.
    #[error(
        "instance id `{id}` is invalid: use letters, digits, `_`, `.` and `-` (not `.` or `..`)"
    )]
    InvalidId {
        /// The id as given.
        id: String,
    },
    /// A directory or file could not be written.
    #[error(transparent)]
    Io(#[from] TrustError),
}

/// One host instance's directory: `<base>/<id>/` (0700) holding `empty`
/// (0644) and `ca/` (a [`TrustDir`], 0755). Removed on drop.
#[derive(Debug)]
pub struct InstanceDir {
    root: PathBuf,
    empty_file: PathBuf,
    trust: TrustDir,
}

/// The directory instance directories are made in: under the workspace root
/// when one is configured (in a sandbox only workspace paths can be mounted
/// into containers), else under the temp dir. `cleanup_orphans` looks here.
pub fn instances_base(workspace_root: Option<&Path>) -> PathBuf {
    match workspace_root {
        Some(root) => root.join(WORKSPACE_INSTANCES_DIR),
        None => std::env::temp_dir().join(TEMP_INSTANCES_DIR),
    }
}

/// The directory holding one install's instance directories:
/// `instances_base(workspace_root)/<install>`. Orphan cleanup stays inside it.
pub fn install_instances_dir(workspace_root: Option<&Path>, install: &str) -> PathBuf {
    instances_base(workspace_root).join(install)
}

impl InstancePaths {
    /// The files an instance directory at `root` holds, named as
    /// [`InstanceDir`] makes them: for a dry run that touches no file.
    pub fn in_dir(root: &Path) -> Self {
        InstancePaths {
            empty_file: root.join(EMPTY_FILE_NAME),
            ca_dir: root.join(CA_DIR_NAME),
        }
    }
}

impl InstanceDir {
    /// Makes the directory for `instance_id` in [`instances_base`]`(workspace_root)`.
    pub fn create(
        workspace_root: Option<&Path>,
        instance_id: &str,
    ) -> Result<Self, InstanceDirError> {
        Self::create_in(&instances_base(workspace_root), instance_id)
    }

    /// Makes `base/instance_id` with the empty file and the CA directory
    /// (empty until [`write_trust`](Self::write_trust)). An existing one is
    /// taken over.
    pub fn create_in(base: &Path, instance_id: &str) -> Result<Self, InstanceDirError> {
        let valid = !instance_id.is_empty()
            && instance_id != "."
            && instance_id != ".."
            && instance_id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
        if !valid {
            return Err(InstanceDirError::InvalidId {
                id: instance_id.to_string(),
            });
        }
        let root = base.join(instance_id);
        create_dir_with_mode(&root, PRIVATE_DIR_MODE)?;
        // From here on a failure must not leave the directory behind.
        let made = (|| {
            let paths = InstancePaths::in_dir(&root);
            write_atomically(&paths.empty_file, b"", PUBLIC_FILE_MODE)?;
            let trust = TrustDir::create(paths.ca_dir)?;
            Ok::<_, TrustError>((paths.empty_file, trust))
        })();
        match made {
            Ok((empty_file, trust)) => Ok(InstanceDir {
                root,
                empty_file,
                trust,
            }),
            Err(e) => {
                remove_dir_quietly(&root);
                Err(e.into())
            }
        }
    }

    /// The instance directory.
    pub fn path(&self) -> &Path {
        &self.root
    }

    /// What the patcher needs.
    pub fn paths(&self) -> InstancePaths {
        InstancePaths {
            empty_file: self.empty_file.clone(),
            ca_dir: self.trust.path().to_path_buf(),
        }
    }

    /// Keeps the directory after this value is gone (it is no longer
    /// removed on drop) and returns its paths: for containers that outlive
    /// the process that made it (the `docker` drop-in's `run -d`, `create`).
    pub fn persist(self) -> InstancePaths {
        let paths = self.paths();
        // Forgetting skips both removals (this one's and the TrustDir's);
        // what leaks is two paths.
        std::mem::forget(self);
        paths
    }

    /// The CA directory.
    pub fn trust_dir(&self) -> &TrustDir {
        &self.trust
    }

    /// Writes (or rotates) the CA files; see [`TrustDir::write`].
    pub fn write_trust(&self, ca: &TrustStore, roots: &RootsPem) -> Result<(), TrustError> {
        self.trust.write(ca, roots)
    }
}

impl Drop for InstanceDir {
    fn drop(&mut self) {
        remove_dir_quietly(&self.root);
    }
}
