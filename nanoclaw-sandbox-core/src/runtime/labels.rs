//! The labels every managed container carries, and the ids behind them.
//!
//! - `nanoclaw.managed=true`: created by this library.
//! - `nanoclaw.install=<InstallId>`: which host installation owns it. Stable
//!   across restarts, so a restarted host finds what its crashed predecessor left.
//! - `nanoclaw.instance=<InstanceId>`: which host *process* created it, so
//!   cleanup can tell a predecessor's leftovers from its own live containers.

use std::collections::hash_map::RandomState;
use std::collections::BTreeMap;
use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::path::Path;
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

/// Label marking a container as created by nanoclaw-sandbox.
pub const MANAGED: &str = "nanoclaw.managed";
/// Label carrying the [`InstallId`].
pub const INSTALL: &str = "nanoclaw.install";
/// Label carrying the [`InstanceId`].
pub const INSTANCE: &str = "nanoclaw.instance";
/// Label that tests put on everything they create, so leftovers are easy to find.
pub const TEST: &str = "nanoclaw.test";
/// Label the `docker` drop-in puts on the containers it patches, naming the
/// kept directory they mount (its CA directory, its empty file): the
/// directory is removed only when no container with the label exists.
/// Not [`MANAGED`]: those containers belong to the host that ran `docker`,
/// and no orphan cleanup of ours may take them.
pub const SHIM: &str = "nanoclaw.shim";

/// Why an id was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LabelError {
    /// The id is empty, too long, or has characters a label value should not carry.
    #[error(
        "id `{id}` is invalid: use 1 to 63 ASCII letters, digits, `-`, `_` or `.` \
         (or derive one with InstallId::from_workspace)"
    )]
    InvalidId {
        /// The id as given.
        id: String,
    },
}

/// Identifies one host installation (its configuration or workspace).
///
/// Derive it from something that stays put across restarts, such as the
/// workspace directory: [`InstallId::from_workspace`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct InstallId(String);

impl InstallId {
    /// An explicit id (letters, digits, `-`, `_`, `.`; at most 63 characters,
    /// so it is valid as a Kubernetes label value too).
    pub fn new(id: impl Into<String>) -> Result<Self, LabelError> {
        let id = id.into();
        validate_id(&id)?;
        Ok(Self(id))
    }

    /// The id of the installation rooted at `workspace`: a stable hash of its
    /// absolute, symlink-resolved path (the path as given when it cannot be
    /// resolved), so the same directory always yields the same id.
    pub fn from_workspace(workspace: &Path) -> Self {
        let resolved = std::fs::canonicalize(workspace).unwrap_or_else(|_| workspace.to_path_buf());
        Self(format!(
            "ws-{:016x}",
            fnv1a64(resolved.as_os_str().as_encoded_bytes())
        ))
    }

    /// The id as a label value.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for InstallId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Identifies one host process: different every time the host starts.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct InstanceId(String);

impl InstanceId {
    /// This process's id, the same for every runtime the process creates.
    pub fn current() -> Self {
        static CURRENT: OnceLock<InstanceId> = OnceLock::new();
        CURRENT.get_or_init(InstanceId::generate).clone()
    }

    /// A fresh id, unlike every other this machine will generate (pid, time
    /// and the standard library's per-process random hash keys).
    pub fn generate() -> Self {
        let mut hasher = RandomState::new().build_hasher();
        hasher.write_u32(std::process::id());
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        hasher.write_u128(nanos);
        Self(format!(
            "pid{}-{:016x}",
            std::process::id(),
            hasher.finish()
        ))
    }

    /// An explicit id, e.g. to act as an earlier process in a test.
    pub fn new(id: impl Into<String>) -> Result<Self, LabelError> {
        let id = id.into();
        validate_id(&id)?;
        Ok(Self(id))
    }

    /// The id as a label value.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for InstanceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Who creates containers: an installation and one of its processes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimeIdentity {
    /// The installation.
    pub install: InstallId,
    /// The process.
    pub instance: InstanceId,
}

impl RuntimeIdentity {
    /// The identity of this process within `install`.
    pub fn current(install: InstallId) -> Self {
        Self {
            install,
            instance: InstanceId::current(),
        }
    }

    /// The three labels every container created under this identity carries.
    pub fn labels(&self) -> [(&'static str, &str); 3] {
        [
            (MANAGED, "true"),
            (INSTALL, self.install.as_str()),
            (INSTANCE, self.instance.as_str()),
        ]
    }

    /// A selector matching every container of this installation, any process.
    pub fn install_selector(&self) -> BTreeMap<String, String> {
        BTreeMap::from([
            (MANAGED.to_string(), "true".to_string()),
            (INSTALL.to_string(), self.install.as_str().to_string()),
        ])
    }

    /// `labels` with this identity's labels added; they win over any
    /// same-named label given, so a spec cannot impersonate another install.
    pub fn apply(&self, labels: &BTreeMap<String, String>) -> BTreeMap<String, String> {
        let mut all = labels.clone();
        for (key, value) in self.labels() {
            all.insert(key.to_string(), value.to_string());
        }
        all
    }
}

fn validate_id(id: &str) -> Result<(), LabelError> {
    let ok = !id.is_empty()
        && id.len() <= 63
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(LabelError::InvalidId { id: id.to_string() })
    }
}

/// 64-bit FNV-1a: tiny, dependency-free, and fixed forever, which is what a
/// stable install id needs (std's hashers may change between releases).
fn fnv1a64(bytes: &[u8]) -> u64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    bytes
        .iter()
        .fold(OFFSET, |hash, b| (hash ^ u64::from(*b)).wrapping_mul(PRIME))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn install_id_is_stable_for_a_workspace() {
        let dir = std::env::temp_dir();
        let a = InstallId::from_workspace(&dir);
        let b = InstallId::from_workspace(&dir);
        assert_eq!(a, b);
        assert_ne!(
            a,
            InstallId::from_workspace(Path::new("/nonexistent/elsewhere"))
        );
        // Known value: the hash must not change between releases.
        assert_eq!(
            InstallId::from_workspace(Path::new("/nonexistent/ws")).as_str(),
            format!("ws-{:016x}", fnv1a64(b"/nonexistent/ws"))
        );
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
    }

    #[test]
    fn instance_ids_differ_but_current_is_fixed() {
        assert_ne!(InstanceId::generate(), InstanceId::generate());
        assert_eq!(InstanceId::current(), InstanceId::current());
    }

    #[test]
    fn invalid_ids_are_refused() {
        for bad in ["", "has space", "a=b", &"x".repeat(64)] {
            assert!(InstallId::new(bad).is_err(), "{bad:?}");
        }
        assert!(InstanceId::new("earlier-1").is_ok());
    }

    #[test]
    fn identity_labels_override_spec_labels() {
        let id = RuntimeIdentity {
            install: InstallId::new("i1").unwrap(),
            instance: InstanceId::new("p1").unwrap(),
        };
        let given = BTreeMap::from([
            (INSTALL.to_string(), "someone-else".to_string()),
            ("role".to_string(), "agent".to_string()),
        ]);
        let all = id.apply(&given);
        assert_eq!(all[INSTALL], "i1");
        assert_eq!(all[INSTANCE], "p1");
        assert_eq!(all[MANAGED], "true");
        assert_eq!(all["role"], "agent");
        assert_eq!(id.install_selector().len(), 2);
    }
}
