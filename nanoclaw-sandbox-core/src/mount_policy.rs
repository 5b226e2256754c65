//! [`MountPolicy`]: which host paths may be bind-mounted into agent
//! containers (the mount allowlist, as NanoClaw users know it).
//!
//! A bind mount's source, resolved through symlinks and `..` (as far as it
//! exists), must lie under the workspace or an allowed root; a source whose
//! path has a credential-like name ([`CREDENTIAL_NAMES`]: `.ssh`, `.env`,
//! `id_rsa`, `.aws`, ...) anywhere in it is refused unless the allowlist
//! names it under `allowCredentials`; a read-write mount needs a read-write
//! root; and the allowlist file itself must not lie inside anything mounted,
//! or an agent could rewrite its own policy. `/dev/null` (which hides a
//! file) is always allowed.
//!
//! The policy looks at the source path, not into a mounted directory: to hide
//! a file inside one (a project's `.env`), mount `/dev/null` over it.
//!
//! The allowlist file is JSON, NanoClaw's `mount-allowlist.json`:
//!
//! ```json
//! {
//!   "allowedRoots": [
//!     { "path": "~/projects", "allowReadWrite": true, "description": "code" },
//!     "/srv/reference-data"
//!   ],
//!   "allowCredentials": ["~/projects/app/.env.example"],
//!   "blockedPatterns": ["password"]
//! }
//! ```
//!
//! A root given as a plain string, or without `allowReadWrite: true`, allows
//! read-only mounts only. `blockedPatterns` adds names to [`CREDENTIAL_NAMES`].
//! NanoClaw's `nonMainReadOnly` is accepted and has no effect (this host has
//! no main group). Paths are absolute or start with `~/`.

use std::ffi::OsString;
use std::path::{Component, Path, PathBuf};

use serde::Deserialize;

use crate::spec::{ContainerSpec, Mount};

/// Path names that hold credentials: a mount source with one of them as a
/// path component (or a component starting with one and a `.`, such as
/// `.env.local`, `id_rsa.pub`, `credentials.json`) is refused unless allowed.
/// Compared ignoring ASCII case.
pub const CREDENTIAL_NAMES: &[&str] = &[
    ".env",
    ".ssh",
    "id_rsa",
    "id_dsa",
    "id_ecdsa",
    "id_ed25519",
    ".aws",
    ".azure",
    ".gcloud",
    ".gnupg",
    ".docker",
    ".netrc",
    ".kube",
    ".npmrc",
    ".pypirc",
    ".git-credentials",
    ".pgpass",
    "credentials",
    ".secret",
    ".secrets",
    "private_key",
    // Not a credential but worth more: the Docker daemon's socket is root on the host.
    "docker.sock",
];

/// The environment variable that names the allowlist file (the CLI's
/// `--mount-allowlist`).
pub const ALLOWLIST_VAR: &str = "NANOCLAW_MOUNT_ALLOWLIST";

/// The always-allowed source that hides a file.
const DEV_NULL: &str = "/dev/null";

/// Why a mount (or an allowlist) was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MountPolicyError {
    /// The source lies outside every allowed root.
    #[error(
        "the bind mount of `{}` onto `{target}` is refused: it resolves to `{}`, outside the \
         allowed roots ({roots}); mount something under one of them, or add its directory to \
         `allowedRoots` in the mount allowlist{}",
        host_path.display(), resolved.display(), allowlist_hint(allowlist.as_deref())
    )]
    OutsideRoots {
        /// The source as given.
        host_path: PathBuf,
        /// The source resolved through symlinks.
        resolved: PathBuf,
        /// The container path.
        target: String,
        /// The allowed roots, resolved, comma-separated.
        roots: String,
        /// The allowlist file, if any.
        allowlist: Option<PathBuf>,
    },
    /// The source has a credential-like name.
    #[error(
        "the bind mount of `{}` onto `{target}` is refused: `{name}` is a credential-like name \
         and agents must not see credentials; give the agent what it needs another way (the \
         sandbox proxy's credential injection, say), or, if you mean it, list `{}` under \
         `allowCredentials` in the mount allowlist{}",
        host_path.display(), resolved.display(), allowlist_hint(allowlist.as_deref())
    )]
    Credential {
        /// The source as given.
        host_path: PathBuf,
        /// The source resolved through symlinks.
        resolved: PathBuf,
        /// The container path.
        target: String,
        /// The credential-like name found.
        name: String,
        /// The allowlist file, if any.
        allowlist: Option<PathBuf>,
    },
    /// A read-write mount under a read-only root.
    #[error(
        "the read-write bind mount of `{}` onto `{target}` is refused: its allowed root `{}` is \
         read-only; mount it read-only (`:ro`, `read_only = true`), or set \
         `\"allowReadWrite\": true` on that root in the mount allowlist{}",
        host_path.display(), root.display(), allowlist_hint(allowlist.as_deref())
    )]
    ReadOnlyRoot {
        /// The source as given.
        host_path: PathBuf,
        /// The container path.
        target: String,
        /// The read-only root it lies under.
        root: PathBuf,
        /// The allowlist file, if any.
        allowlist: Option<PathBuf>,
    },
    /// The allowlist file lies inside a mounted source.
    #[error(
        "the mount allowlist `{}` lies inside `{}`, which is mounted onto `{target}`: an agent \
         could rewrite its own policy; keep the allowlist outside everything mounted (e.g. \
         ~/.config/nanoclaw/mount-allowlist.json)",
        allowlist.display(), host_path.display()
    )]
    AllowlistMounted {
        /// The allowlist file.
        allowlist: PathBuf,
        /// The mounted source holding it.
        host_path: PathBuf,
        /// The container path.
        target: String,
    },
    /// The allowlist file could not be read.
    #[error("cannot read the mount allowlist `{}`: {cause}; check the path (--mount-allowlist, {ALLOWLIST_VAR})", file.display())]
    Read {
        /// The file.
        file: PathBuf,
        /// Why.
        #[source]
        cause: std::io::Error,
    },
    /// The allowlist file is not valid JSON of the expected shape.
    #[error(
        "the mount allowlist `{}` is not valid: {cause}; expected JSON like \
         {{\"allowedRoots\": [{{\"path\": \"~/projects\", \"allowReadWrite\": true}}], \
         \"allowCredentials\": []}}",
        file.display()
    )]
    Parse {
        /// The file.
        file: PathBuf,
        /// Why.
        #[source]
        cause: serde_json::Error,
    },
    /// A path in the allowlist is neither absolute nor `~/...`.
    #[error(
        "the mount allowlist `{}` names `{path}`, which is relative: give an absolute path or \
         one starting with `~/`{}",
        file.display(), if *no_home { " (and set HOME for `~`)" } else { "" }
    )]
    RelativePath {
        /// The file.
        file: PathBuf,
        /// The path as written.
        path: String,
        /// Whether it started with `~` but HOME is unset.
        no_home: bool,
    },
}

fn allowlist_hint(file: Option<&Path>) -> String {
    match file {
        Some(file) => format!(" ({})", file.display()),
        None => format!(" (none given: --mount-allowlist FILE or {ALLOWLIST_VAR})"),
    }
}

/// A root mounts may come from.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Root {
    /// Resolved through symlinks.
    path: PathBuf,
    read_write: bool,
}

/// Which host paths may be bind-mounted; see the [module documentation](self).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountPolicy {
    roots: Vec<Root>,
    allow_credentials: Vec<PathBuf>,
    blocked: Vec<String>,
    allowlist: Option<PathBuf>,
}

impl MountPolicy {
    /// Mounts from under `workspace` only (read-write), nothing credential-like.
    pub fn workspace_only(workspace: impl AsRef<Path>) -> Self {
        MountPolicy {
            roots: vec![Root {
                path: resolve(workspace.as_ref()),
                read_write: true,
            }],
            allow_credentials: Vec::new(),
            blocked: Vec::new(),
            allowlist: None,
        }
    }

    /// The workspace (read-write) and what the allowlist `file` allows; the
    /// file's own path is kept, so [`check`](Self::check) refuses mounting it.
    pub fn load(
        file: impl AsRef<Path>,
        workspace: impl AsRef<Path>,
    ) -> Result<Self, MountPolicyError> {
        let file = file.as_ref();
        let text = std::fs::read_to_string(file).map_err(|cause| MountPolicyError::Read {
            file: file.to_path_buf(),
            cause,
        })?;
        let parsed: AllowlistFile =
            serde_json::from_str(&text).map_err(|cause| MountPolicyError::Parse {
                file: file.to_path_buf(),
                cause,
            })?;
        let home = std::env::var_os("HOME").map(PathBuf::from);
        let path = |text: &str| expand(text, home.as_deref(), file);
        let mut policy = Self::workspace_only(workspace);
        for root in &parsed.allowed_roots {
            let (text, read_write) = match root {
                RootEntry::Path(text) => (text.as_str(), false),
                RootEntry::Full(full) => (full.path.as_str(), full.allow_read_write),
            };
            policy = policy.allow_root(path(text)?, read_write);
        }
        for entry in &parsed.allow_credentials {
            policy = policy.allow_credential(path(entry)?);
        }
        policy.blocked = parsed
            .blocked_patterns
            .iter()
            .map(|p| p.to_ascii_lowercase())
            .filter(|p| !p.is_empty())
            .collect();
        policy.allowlist = Some(resolve(file));
        Ok(policy)
    }

    /// Also allows mounts from under `root` (read-only unless `read_write`).
    pub fn allow_root(mut self, root: impl AsRef<Path>, read_write: bool) -> Self {
        self.roots.push(Root {
            path: resolve(root.as_ref()),
            read_write,
        });
        self
    }

    /// Allows `path` (and what lies under it) despite a credential-like name.
    pub fn allow_credential(mut self, path: impl AsRef<Path>) -> Self {
        self.allow_credentials.push(resolve(path.as_ref()));
        self
    }

    /// The allowlist file this policy came from.
    pub fn allowlist(&self) -> Option<&Path> {
        self.allowlist.as_deref()
    }

    /// Checks one bind mount of `source` onto `target`.
    pub fn check_mount(
        &self,
        source: &Path,
        target: &str,
        read_only: bool,
    ) -> Result<(), MountPolicyError> {
        if source == Path::new(DEV_NULL) {
            return Ok(());
        }
        let resolved = resolve(source);
        let allowlist = self.allowlist.clone();
        if let Some(file) = &self.allowlist {
            if file.starts_with(&resolved) {
                return Err(MountPolicyError::AllowlistMounted {
                    allowlist: file.clone(),
                    host_path: source.to_path_buf(),
                    target: target.to_string(),
                });
            }
        }
        let under: Vec<&Root> = self
            .roots
            .iter()
            .filter(|root| resolved.starts_with(&root.path))
            .collect();
        if under.is_empty() {
            let roots = self
                .roots
                .iter()
                .map(|root| root.path.display().to_string())
                .collect::<Vec<_>>()
                .join(", ");
            return Err(MountPolicyError::OutsideRoots {
                host_path: source.to_path_buf(),
                resolved,
                target: target.to_string(),
                roots,
                allowlist,
            });
        }
        let allowed = self
            .allow_credentials
            .iter()
            .any(|allowed| resolved.starts_with(allowed));
        if !allowed {
            if let Some(name) = credential_name(&resolved, &self.blocked) {
                return Err(MountPolicyError::Credential {
                    host_path: source.to_path_buf(),
                    resolved,
                    target: target.to_string(),
                    name,
                    allowlist,
                });
            }
        }
        if !read_only && !under.iter().any(|root| root.read_write) {
            return Err(MountPolicyError::ReadOnlyRoot {
                host_path: source.to_path_buf(),
                target: target.to_string(),
                root: under[0].path.clone(),
                allowlist,
            });
        }
        Ok(())
    }

    /// Checks every bind mount of `spec`; the first refusal is the error.
    pub fn check(&self, spec: &ContainerSpec) -> Result<(), MountPolicyError> {
        for mount in spec.mounts() {
            if let Mount::Bind {
                source,
                target,
                read_only,
            } = mount
            {
                self.check_mount(source, target, *read_only)?;
            }
        }
        Ok(())
    }
}

/// The first credential-like name ([`CREDENTIAL_NAMES`], then `extra`,
/// lowercase) among the components of `path`, as written there.
pub fn credential_name(path: &Path, extra: &[String]) -> Option<String> {
    path.components().find_map(|component| {
        let Component::Normal(name) = component else {
            return None;
        };
        let text = name.to_string_lossy();
        let lower = text.to_ascii_lowercase();
        let hit = CREDENTIAL_NAMES
            .iter()
            .copied()
            .chain(extra.iter().map(String::as_str))
            .any(|credential| {
                lower == credential
                    || lower
                        .strip_prefix(credential)
                        .is_some_and(|rest| rest.starts_with('.'))
            });
        hit.then(|| text.into_owned())
    })
}

/// An allowlist path: absolute, or `~`/`~/...` under `home`.
fn expand(text: &str, home: Option<&Path>, file: &Path) -> Result<PathBuf, MountPolicyError> {
    let relative = |no_home| MountPolicyError::RelativePath {
        file: file.to_path_buf(),
        path: text.to_string(),
        no_home,
    };
    if text == "~" || text.starts_with("~/") {
        let home = home.ok_or_else(|| relative(true))?;
        return Ok(home.join(text.trim_start_matches('~').trim_start_matches('/')));
    }
    let path = PathBuf::from(text);
    if path.is_absolute() {
        Ok(path)
    } else {
        Err(relative(false))
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct AllowlistFile {
    #[serde(default)]
    allowed_roots: Vec<RootEntry>,
    #[serde(default)]
    allow_credentials: Vec<String>,
    #[serde(default)]
    blocked_patterns: Vec<String>,
    /// NanoClaw's; accepted so its files load, unused (no main group here).
    #[serde(default)]
    #[allow(dead_code)]
    non_main_read_only: Option<bool>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RootEntry {
    Path(String),
    Full(FullRoot),
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct FullRoot {
    path: String,
    #[serde(default)]
    allow_read_write: bool,
    #[serde(default)]
    #[allow(dead_code)]
    description: Option<String>,
}

/// `path` made absolute with symlinks resolved as far as it exists; the
/// part that does not exist (yet) is appended with `.` and `..` applied.
/// A symlink inside an allowed root pointing outside it counts as outside.
pub(crate) fn resolve(path: &Path) -> PathBuf {
    let absolute = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir()
            .map(|cwd| cwd.join(path))
            .unwrap_or_else(|_| path.to_path_buf())
    };
    let mut existing = absolute.as_path();
    let mut rest: Vec<OsString> = Vec::new();
    loop {
        if let Ok(real) = std::fs::canonicalize(existing) {
            return rest.iter().rev().fold(real, |mut out, part| {
                push_normalized(&mut out, Path::new(part));
                out
            });
        }
        match (existing.parent(), existing.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name.to_os_string());
                existing = parent;
            }
            // Nothing of it exists (or `..` at the end): lexical only.
            _ => {
                let mut out = PathBuf::new();
                push_normalized(&mut out, &absolute);
                return out;
            }
        }
    }
}

fn push_normalized(out: &mut PathBuf, path: &Path) {
    for component in path.components() {
        match component {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
}

/// Whether `path` is `root` or below it, both resolved.
pub(crate) fn is_inside(path: &Path, root: &Path) -> bool {
    resolve(path).starts_with(resolve(root))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    struct Layout {
        _dir: tempfile::TempDir,
        root: PathBuf,
        ws: PathBuf,
        home: PathBuf,
    }

    /// `ws/` (the workspace, with `data/` and `.env`), `home/` (with
    /// `.ssh/id_ed25519` and `projects/app/`).
    fn layout() -> Layout {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        let ws = root.join("ws");
        let home = root.join("home");
        for sub in [
            ws.join("data"),
            home.join(".ssh"),
            home.join("projects/app"),
        ] {
            std::fs::create_dir_all(sub).unwrap();
        }
        std::fs::write(ws.join(".env"), "KEY=x").unwrap();
        std::fs::write(home.join(".ssh/id_ed25519"), "key").unwrap();
        Layout {
            _dir: dir,
            root,
            ws,
            home,
        }
    }

    fn check(policy: &MountPolicy, source: &Path) -> Result<(), MountPolicyError> {
        policy.check_mount(source, "/x", false)
    }

    #[test]
    fn workspace_paths_pass_and_others_are_refused_naming_source_and_fix() {
        let l = layout();
        let policy = MountPolicy::workspace_only(&l.ws);
        check(&policy, &l.ws.join("data")).unwrap();
        check(&policy, &l.ws.join("not-yet/created")).unwrap();
        check(&policy, Path::new(DEV_NULL)).unwrap();
        let err = check(&policy, &l.home.join("projects")).unwrap_err();
        assert!(
            matches!(err, MountPolicyError::OutsideRoots { .. }),
            "{err}"
        );
        let text = err.to_string();
        assert!(
            text.contains(&l.home.join("projects").display().to_string()),
            "{text}"
        );
        assert!(text.contains("allowedRoots"), "{text}");
        assert!(text.contains("--mount-allowlist"), "{text}");
    }

    #[test]
    fn dotdot_and_symlinks_are_resolved_before_the_check() {
        let l = layout();
        let policy = MountPolicy::workspace_only(&l.ws);
        // `..` climbing out of the workspace.
        let climbing = l.ws.join("data/../../home/projects");
        assert!(matches!(
            check(&policy, &climbing),
            Err(MountPolicyError::OutsideRoots { .. })
        ));
        // A symlink inside the workspace pointing out of it.
        let link = l.ws.join("escape");
        symlink(&l.home, &link).unwrap();
        let err = check(&policy, &link.join("projects")).unwrap_err();
        let MountPolicyError::OutsideRoots { resolved, .. } = &err else {
            panic!("{err}")
        };
        assert_eq!(resolved, &l.home.join("projects"));
        // A symlink to the keys: outside, and credential-like once allowed.
        let keys = l.ws.join("keys");
        symlink(l.home.join(".ssh"), &keys).unwrap();
        let policy = policy.allow_root(&l.home, true);
        let err = check(&policy, &keys).unwrap_err();
        assert!(
            matches!(&err, MountPolicyError::Credential { name, .. } if name == ".ssh"),
            "{err}"
        );
        // A symlink elsewhere pointing into the workspace is fine.
        let inward = l.root.join("inward");
        symlink(l.ws.join("data"), &inward).unwrap();
        check(&MountPolicy::workspace_only(&l.ws), &inward).unwrap();
    }

    #[test]
    fn credential_names_are_refused_unless_allowed() {
        let l = layout();
        let policy = MountPolicy::workspace_only(&l.ws).allow_root(&l.home, true);
        for (source, name) in [
            (l.home.join(".ssh"), ".ssh"),
            (l.home.join(".ssh/id_ed25519"), ".ssh"),
            (l.ws.join(".env"), ".env"),
            (l.ws.join(".env.local"), ".env.local"),
            (l.ws.join("data/ID_RSA.pub"), "ID_RSA.pub"),
            (l.home.join(".aws/credentials"), ".aws"),
            (l.home.join(".docker/config.json"), ".docker"),
            (
                l.home.join(".config/gcloud/credentials.json"),
                "credentials.json",
            ),
            (l.home.join(".netrc"), ".netrc"),
            (l.home.join(".kube/config"), ".kube"),
            (l.home.join("run/docker.sock"), "docker.sock"),
        ] {
            let err = check(&policy, &source).unwrap_err();
            let MountPolicyError::Credential { name: found, .. } = &err else {
                panic!("{}: {err}", source.display())
            };
            assert_eq!(found, name);
            assert!(err.to_string().contains("allowCredentials"), "{err}");
        }
        // Names that merely look alike pass.
        for ok in [
            ".envrc",
            ".environment",
            "my-credentials-notes",
            "ssh",
            "id_rsa_generator",
        ] {
            check(&policy, &l.ws.join(ok)).unwrap();
        }
        // Explicitly allowed: that path (and below) only.
        let policy = policy.allow_credential(l.ws.join(".env"));
        check(&policy, &l.ws.join(".env")).unwrap();
        assert!(check(&policy, &l.home.join(".ssh")).is_err());
    }

    #[test]
    fn read_only_roots_refuse_read_write_mounts() {
        let l = layout();
        let policy = MountPolicy::workspace_only(&l.ws).allow_root(&l.home, false);
        let source = l.home.join("projects/app");
        policy.check_mount(&source, "/app", true).unwrap();
        let err = policy.check_mount(&source, "/app", false).unwrap_err();
        assert!(
            matches!(err, MountPolicyError::ReadOnlyRoot { .. }),
            "{err}"
        );
        assert!(err.to_string().contains(":ro"), "{err}");
    }

    #[test]
    fn the_allowlist_file_loads_and_may_not_be_mounted() {
        let l = layout();
        let config = l.root.join("config");
        std::fs::create_dir_all(&config).unwrap();
        let file = config.join("mount-allowlist.json");
        let text = serde_json::json!({
            "allowedRoots": [
                { "path": l.home.join("projects"), "allowReadWrite": true, "description": "code" },
                l.root.join("config"),
                "/srv/reference"
            ],
            "allowCredentials": [l.home.join("projects/app/.env")],
            "blockedPatterns": ["Password"],
            "nonMainReadOnly": true
        });
        std::fs::write(&file, text.to_string()).unwrap();
        let policy = MountPolicy::load(&file, &l.ws).unwrap();
        assert_eq!(policy.allowlist(), Some(file.as_path()));
        check(&policy, &l.home.join("projects/app")).unwrap();
        check(&policy, &l.home.join("projects/app/.env")).unwrap();
        policy
            .check_mount(Path::new("/srv/reference/a"), "/a", true)
            .unwrap();
        let err = check(&policy, &l.home.join("projects/password.txt")).unwrap_err();
        assert!(matches!(err, MountPolicyError::Credential { .. }), "{err}");
        // Mounting the allowlist's directory (read-only even) is refused.
        let err = policy.check_mount(&config, "/cfg", true).unwrap_err();
        assert!(
            matches!(err, MountPolicyError::AllowlistMounted { .. }),
            "{err}"
        );
        assert!(err.to_string().contains("mount-allowlist.json"), "{err}");
        // Through a spec, too.
        let spec = ContainerSpec::builder("a:1")
            .mount(Mount::bind(&l.root, "/all", true))
            .build()
            .unwrap();
        assert!(matches!(
            policy.check(&spec),
            Err(MountPolicyError::AllowlistMounted { .. })
        ));
    }

    #[test]
    fn bad_allowlist_files_say_what_is_wrong() {
        let l = layout();
        let file = l.root.join("list.json");
        let err = MountPolicy::load(&file, &l.ws).unwrap_err();
        assert!(matches!(err, MountPolicyError::Read { .. }), "{err}");
        assert!(err.to_string().contains("list.json"), "{err}");
        for (text, wanted) in [
            ("{", "not valid"),
            (r#"{"allowedRoot": []}"#, "allowedRoot"),
            (r#"{"allowedRoots": ["relative/dir"]}"#, "relative"),
            (
                r#"{"allowedRoots": [{"path": "/a", "allowRW": true}]}"#,
                "not valid",
            ),
        ] {
            std::fs::write(&file, text).unwrap();
            let err = MountPolicy::load(&file, &l.ws).unwrap_err().to_string();
            assert!(err.contains(wanted), "{text}: {err}");
            assert!(err.contains("list.json"), "{text}: {err}");
        }
    }

    #[test]
    fn a_spec_is_checked_mount_by_mount() {
        let l = layout();
        let policy = MountPolicy::workspace_only(&l.ws);
        let spec = ContainerSpec::builder("a:1")
            .mount(Mount::bind(l.ws.join("data"), "/data", false))
            .mount(Mount::bind(DEV_NULL, "/data/.env", true))
            .mount(Mount::tmpfs("/tmp", None))
            .build()
            .unwrap();
        policy.check(&spec).unwrap();
        let spec = spec
            .to_builder()
            .mount(Mount::bind(l.home.join(".ssh"), "/keys", true))
            .build()
            .unwrap();
        let err = policy.check(&spec).unwrap_err();
        assert!(err.to_string().contains("/keys"), "{err}");
    }
}
