//! [`AgentProfile`]: what every chat's agent container is made from.

use std::path::Path;
use std::time::Duration;

use crate::spec::{ContainerSpec, Mount, SpecError};

use super::chat::ChatKey;

pub use crate::agent::protocol::{CHAT_MOUNT, SESSION_DIR_VAR, SESSION_MOUNT};

/// The label that names a container's chat (`telegram:123`), on an agent
/// spawned for its chat.
pub const CHAT_LABEL: &str = "nanoclaw.chat";
/// The label (`true`) on an agent the [`AgentPool`](super::pool::AgentPool)
/// made before its chat was known. Labels cannot change on a container, so
/// a warm agent keeps it, and never gets [`CHAT_LABEL`], after a chat took
/// it; the host's log names the container and its chat.
pub const WARM_LABEL: &str = "nanoclaw.warm";

/// The agent container every chat gets: a [`ContainerSpec`] template (image,
/// command, the environment the caller allows — nothing of the host's own
/// environment is forwarded —, extra mounts, memory/CPU/pids limits,
/// network), the user it runs as, and how long an answer may take.
///
/// For each chat the host adds: its folder at [`CHAT_MOUNT`], its session
/// folder at [`SESSION_MOUNT`], stdin attached (the agent protocol), the
/// [`CHAT_LABEL`] label and the [`SESSION_DIR_VAR`] variable. Nothing else
/// differs from chat to chat (the chat's name comes with every message), so
/// a warm agent made before its chat was known ([`spec_for_warm`](Self::spec_for_warm))
/// is configured exactly alike, but for its folders' host paths and its
/// [`WARM_LABEL`] instead of [`CHAT_LABEL`].
#[derive(Debug, Clone)]
pub struct AgentProfile {
    template: ContainerSpec,
    user: Option<String>,
    answer_timeout: Duration,
}

impl AgentProfile {
    /// The default limit on one message's handling (spawn included).
    pub const DEFAULT_ANSWER_TIMEOUT: Duration = Duration::from_secs(600);

    /// A profile from a spec template (`ContainerSpec::builder(image)...`).
    pub fn new(template: ContainerSpec) -> Self {
        AgentProfile {
            template,
            user: None,
            answer_timeout: Self::DEFAULT_ANSWER_TIMEOUT,
        }
    }

    /// The user agents run as (`uid:gid`, numeric so the host can give it
    /// the chat folders). Default: the host's own uid:gid, or `1000:1000`
    /// when the host runs as root (it then hands the folders to that user).
    pub fn user(mut self, user: impl Into<String>) -> Self {
        self.user = Some(user.into());
        self
    }

    /// How long one message may take before its agent is stopped and the
    /// message retried (default [`Self::DEFAULT_ANSWER_TIMEOUT`]).
    pub fn answer_timeout(mut self, timeout: Duration) -> Self {
        self.answer_timeout = timeout;
        self
    }

    /// The template.
    pub fn template(&self) -> &ContainerSpec {
        &self.template
    }

    pub(crate) fn answer_limit(&self) -> Duration {
        self.answer_timeout
    }

    /// The user containers run as: the configured one, else the default.
    pub(crate) fn effective_user(&self) -> String {
        self.user
            .clone()
            .or_else(|| self.template.user().map(str::to_string))
            .unwrap_or_else(default_user)
    }

    /// The spec the host spawns `chat`'s agent from, with the chat's
    /// folders (cold, when no warm agent is ready).
    pub fn spec_for(
        &self,
        chat: &ChatKey,
        chat_dir: &Path,
        session_dir: &Path,
    ) -> Result<ContainerSpec, SpecError> {
        self.agent_spec(chat_dir, session_dir)
            .label(CHAT_LABEL, chat.to_string())
            .build()
    }

    /// The spec of a warm agent, made before its chat is known: the same as
    /// [`spec_for`](Self::spec_for) with the (empty) folders it will hand
    /// to its chat, and [`WARM_LABEL`] instead of [`CHAT_LABEL`].
    pub fn spec_for_warm(
        &self,
        chat_dir: &Path,
        session_dir: &Path,
    ) -> Result<ContainerSpec, SpecError> {
        self.agent_spec(chat_dir, session_dir)
            .label(WARM_LABEL, "true")
            .build()
    }

    fn agent_spec(&self, chat_dir: &Path, session_dir: &Path) -> crate::spec::ContainerSpecBuilder {
        self.template
            .to_builder()
            .mount(Mount::bind(chat_dir, CHAT_MOUNT, false))
            .mount(Mount::bind(session_dir, SESSION_MOUNT, false))
            .env(SESSION_DIR_VAR, SESSION_MOUNT)
            .user(self.effective_user())
            .attach_stdin(true)
            .auto_remove(false)
    }
}

/// The uid:gid of this process, or 1000:1000 when it is root.
fn default_user() -> String {
    match process_ids() {
        Some((uid, gid)) if uid != 0 => format!("{uid}:{gid}"),
        _ => "1000:1000".to_string(),
    }
}

/// This process's uid and gid, read from the owner of `/proc/self` (no libc
/// call needed).
pub(crate) fn process_ids() -> Option<(u32, u32)> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata("/proc/self").ok()?;
    Some((meta.uid(), meta.gid()))
}

/// A numeric `uid[:gid]`, for handing folders over.
pub(crate) fn numeric_user(user: &str) -> Option<(u32, Option<u32>)> {
    let (uid, gid) = match user.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (user, None),
    };
    let uid = uid.parse().ok()?;
    let gid = match gid {
        Some(g) => Some(g.parse().ok()?),
        None => None,
    };
    Some((uid, gid))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channel::ChatId;

    #[test]
    fn a_chat_spec_has_its_folders_label_and_stdin() {
        let template = ContainerSpec::builder("agent:1")
            .command(["serve"])
            .env("ANTHROPIC_BASE_URL", "https://api.example")
            .memory_bytes(256 << 20)
            .build()
            .unwrap();
        let profile = AgentProfile::new(template).user("1000:1000");
        let chat = ChatKey::new("telegram", ChatId("42".into()));
        let spec = profile
            .spec_for(&chat, Path::new("/ws/chats/x"), Path::new("/ws/sessions/x"))
            .unwrap();
        assert_eq!(spec.command(), ["serve"]);
        assert!(spec.attach_stdin());
        assert_eq!(spec.user(), Some("1000:1000"));
        assert_eq!(
            spec.labels().get(CHAT_LABEL).map(String::as_str),
            Some("telegram:42")
        );
        assert_eq!(spec.env_value(SESSION_DIR_VAR), Some(SESSION_MOUNT));
        assert_eq!(
            spec.env_value("ANTHROPIC_BASE_URL"),
            Some("https://api.example")
        );
        let targets: Vec<&str> = spec.mounts().iter().map(Mount::target).collect();
        assert_eq!(targets, [CHAT_MOUNT, SESSION_MOUNT]);
        assert_eq!(spec.resources().memory_bytes, Some(256 << 20));
    }

    #[test]
    fn a_warm_spec_differs_from_a_chat_spec_only_in_folders_and_label() {
        let template = ContainerSpec::builder("agent:1")
            .command(["serve"])
            .env("A", "1")
            .build()
            .unwrap();
        let profile = AgentProfile::new(template).user("1000:1000");
        let chat = ChatKey::new("telegram", ChatId("42".into()));
        let cold = profile
            .spec_for(&chat, Path::new("/ws/chats/x"), Path::new("/ws/sessions/x"))
            .unwrap();
        let warm = profile
            .spec_for_warm(
                Path::new("/ws/warm/1/chat"),
                Path::new("/ws/warm/1/session"),
            )
            .unwrap();
        assert_eq!(cold.env(), warm.env());
        assert_eq!(cold.user(), warm.user());
        assert_eq!(cold.command(), warm.command());
        assert_eq!(cold.attach_stdin(), warm.attach_stdin());
        let targets = |s: &ContainerSpec| {
            s.mounts()
                .iter()
                .map(|m| m.target().to_string())
                .collect::<Vec<_>>()
        };
        assert_eq!(targets(&cold), targets(&warm));
        assert!(warm.labels().get(CHAT_LABEL).is_none());
        assert_eq!(
            warm.labels().get(WARM_LABEL).map(String::as_str),
            Some("true")
        );
        assert!(cold.labels().get(WARM_LABEL).is_none());
        // The control: the chat's folders differ.
        assert_ne!(cold.mounts(), warm.mounts());
    }

    #[test]
    fn a_template_that_mounts_the_chat_folder_itself_is_refused() {
        let template = ContainerSpec::builder("agent:1")
            .mount(Mount::bind("/elsewhere", CHAT_MOUNT, true))
            .build()
            .unwrap();
        let chat = ChatKey::new("telegram", ChatId("1".into()));
        let err = AgentProfile::new(template)
            .spec_for(&chat, Path::new("/a"), Path::new("/b"))
            .unwrap_err();
        assert!(err.to_string().contains(CHAT_MOUNT), "{err}");
    }

    #[test]
    fn numeric_users_are_recognised() {
        assert_eq!(numeric_user("1000:1001"), Some((1000, Some(1001))));
        assert_eq!(numeric_user("1000"), Some((1000, None)));
        assert_eq!(numeric_user("node"), None);
        assert_eq!(numeric_user("1000:staff"), None);
    }
}
