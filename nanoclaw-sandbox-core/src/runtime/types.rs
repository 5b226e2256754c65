//! Engine-neutral values the runtime traits take and return.

use std::collections::BTreeMap;
use std::fmt;

use crate::spec::EnvVar;

/// A container's engine id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ContainerId(String);

impl ContainerId {
    /// Wraps an id (or name) the engine knows the container by.
    pub fn new(id: impl Into<String>) -> Self {
        Self(id.into())
    }
    /// The id.
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// The first 12 characters, as `docker ps` shows them.
    pub fn short(&self) -> &str {
        self.0.get(..12).unwrap_or(&self.0)
    }
}

impl fmt::Display for ContainerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An image's engine id (`sha256:...` on Docker).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ImageId(String);

impl ImageId {
    /// Wraps an image id.
    pub fn new(id: impl Into<String>) -> Self {
        Self(id.into())
    }
    /// The id.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ImageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// How a container ended. A non-zero code is a value, not an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExitStatus {
    /// The exit code (128 + signal number when killed by a signal).
    pub code: i64,
    /// Whether the kernel's OOM killer ended it (memory limit reached).
    pub oom_killed: bool,
}

impl ExitStatus {
    /// Exit code 0 and not OOM-killed.
    pub fn success(&self) -> bool {
        self.code == 0 && !self.oom_killed
    }

    /// The signal's name when the code says a signal ended the process
    /// (128 + its number, the engine's and the shell's convention): e.g.
    /// `SIGKILL` for 137. `None` for an ordinary exit (and for an OOM kill,
    /// which [`oom_killed`](Self::oom_killed) tells).
    pub fn signal(&self) -> Option<&'static str> {
        if self.oom_killed {
            return None;
        }
        Some(match self.code.checked_sub(128)? {
            1 => "SIGHUP",
            2 => "SIGINT",
            3 => "SIGQUIT",
            4 => "SIGILL",
            6 => "SIGABRT",
            7 => "SIGBUS",
            8 => "SIGFPE",
            9 => "SIGKILL",
            10 => "SIGUSR1",
            11 => "SIGSEGV",
            12 => "SIGUSR2",
            13 => "SIGPIPE",
            14 => "SIGALRM",
            15 => "SIGTERM",
            _ => return None,
        })
    }
}

impl fmt::Display for ExitStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "exit code {}", self.code)?;
        if self.oom_killed {
            f.write_str(" (killed: out of memory)")?;
        } else if let Some(signal) = self.signal() {
            write!(f, " (killed by {signal})")?;
        }
        Ok(())
    }
}

/// A container's lifecycle state.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ContainerState {
    /// Created, never started.
    Created,
    /// Running.
    Running,
    /// Paused.
    Paused,
    /// Restarting.
    Restarting,
    /// Being removed.
    Removing,
    /// Exited.
    Exited,
    /// Dead (removal failed half-way).
    Dead,
    /// A state this library does not know, as the engine named it.
    Other(String),
}

impl ContainerState {
    /// The states this library knows, each with its word.
    const KNOWN: [ContainerState; 7] = [
        Self::Created,
        Self::Running,
        Self::Paused,
        Self::Restarting,
        Self::Removing,
        Self::Exited,
        Self::Dead,
    ];

    /// Maps the engine's state word.
    pub fn parse(state: &str) -> Self {
        Self::KNOWN
            .into_iter()
            .find(|known| known.as_str() == state)
            .unwrap_or_else(|| Self::Other(state.to_string()))
    }

    /// The state's word, as the engine writes it (`running`, `exited`, ...).
    pub fn as_str(&self) -> &str {
        match self {
            Self::Created => "created",
            Self::Running => "running",
            Self::Paused => "paused",
            Self::Restarting => "restarting",
            Self::Removing => "removing",
            Self::Exited => "exited",
            Self::Dead => "dead",
            Self::Other(word) => word,
        }
    }
}

/// One mount of a running or stopped container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountInfo {
    /// `bind`, `tmpfs`, `volume`, ...
    pub kind: String,
    /// Host path or volume name (empty for tmpfs).
    pub source: String,
    /// Container path.
    pub target: String,
    /// Mounted read-only.
    pub read_only: bool,
}

/// What the engine reports about one container.
///
/// `Debug` shows environment values redacted (see [`EnvVar`]).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ContainerInfo {
    /// Full id.
    pub id: ContainerId,
    /// Name, without Docker's leading `/`.
    pub name: String,
    /// The image as given at create time.
    pub image: String,
    /// Lifecycle state.
    pub state: ContainerState,
    /// Exit code once exited.
    pub exit_code: Option<i64>,
    /// Whether the OOM killer ended it.
    pub oom_killed: bool,
    /// The environment, in order.
    pub env: Vec<EnvVar>,
    /// Mounts.
    pub mounts: Vec<MountInfo>,
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// The network mode (`none`, `host`, `bridge`, a network name).
    pub network_mode: String,
    /// The user the process runs as (empty: the image's default).
    pub user: String,
}

/// One entry of a container listing.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ContainerSummary {
    /// Full id.
    pub id: ContainerId,
    /// Names, without Docker's leading `/`.
    pub names: Vec<String>,
    /// Image.
    pub image: String,
    /// Lifecycle state.
    pub state: ContainerState,
    /// Labels.
    pub labels: BTreeMap<String, String>,
}

/// The result of running a command in a container.
#[derive(Clone, PartialEq, Eq)]
pub struct ExecOutput {
    /// Exit code of the command.
    pub exit_code: i64,
    /// Everything it wrote to stdout.
    pub stdout: Vec<u8>,
    /// Everything it wrote to stderr.
    pub stderr: Vec<u8>,
}

impl ExecOutput {
    /// stdout as text (invalid UTF-8 replaced).
    pub fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }
    /// stderr as text (invalid UTF-8 replaced).
    pub fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }
}

impl fmt::Debug for ExecOutput {
    // Output may hold secrets: show sizes only.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExecOutput")
            .field("exit_code", &self.exit_code)
            .field("stdout_bytes", &self.stdout.len())
            .field("stderr_bytes", &self.stderr.len())
            .finish()
    }
}

/// One entry of an image listing.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ImageSummary {
    /// Image id.
    pub id: ImageId,
    /// `repo:tag` references.
    pub tags: Vec<String>,
    /// Labels.
    pub labels: BTreeMap<String, String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn container_states_parse_and_print_the_engines_words() {
        for word in [
            "created",
            "running",
            "paused",
            "restarting",
            "removing",
            "exited",
            "dead",
        ] {
            let state = ContainerState::parse(word);
            assert!(!matches!(state, ContainerState::Other(_)), "{word}");
            assert_eq!(state.as_str(), word);
        }
        assert_eq!(
            ContainerState::parse("frozen"),
            ContainerState::Other("frozen".into())
        );
        assert_eq!(ContainerState::parse("frozen").as_str(), "frozen");
    }

    #[test]
    fn exit_status_reads_naturally() {
        let ok = ExitStatus {
            code: 0,
            oom_killed: false,
        };
        assert!(ok.success());
        let oom = ExitStatus {
            code: 137,
            oom_killed: true,
        };
        assert!(!oom.success());
        assert_eq!(oom.to_string(), "exit code 137 (killed: out of memory)");
        assert_eq!(oom.signal(), None);
        let killed = ExitStatus {
            code: 137,
            oom_killed: false,
        };
        assert_eq!(killed.signal(), Some("SIGKILL"));
        assert_eq!(killed.to_string(), "exit code 137 (killed by SIGKILL)");
        for (code, shown) in [
            (3, "exit code 3"),
            (143, "exit code 143 (killed by SIGTERM)"),
            (-1, "exit code -1"),
            (200, "exit code 200"),
        ] {
            let status = ExitStatus {
                code,
                oom_killed: false,
            };
            assert_eq!(status.to_string(), shown);
        }
    }

    #[test]
    fn short_ids_and_states() {
        assert_eq!(ContainerId::new("0123456789abcdef").short(), "0123456789ab");
        assert_eq!(ContainerId::new("abc").short(), "abc");
        assert_eq!(ContainerState::parse("exited"), ContainerState::Exited);
        assert_eq!(
            ContainerState::parse("stopping"),
            ContainerState::Other("stopping".into())
        );
    }

    #[test]
    fn exec_output_debug_hides_content() {
        let out = ExecOutput {
            exit_code: 0,
            stdout: b"TOKEN=secret".to_vec(),
            stderr: vec![],
        };
        assert!(!format!("{out:?}").contains("secret"));
    }
}
