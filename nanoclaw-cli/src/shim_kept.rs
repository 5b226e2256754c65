//! The docker drop-in's kept directory (`instances/docker-shim/`: the CA
//! directory and the empty file its containers mount), the label those
//! containers carry, and its cleanup (docs/shim.md, "Where the CA directory
//! lives").
//!
//! Race-free against a concurrent patched `run`/`create` by one lock file
//! beside the directory (`instances/docker-shim.lock`, never removed):
//! - a patched command takes it **shared** before it writes the directory,
//!   and keeps it across `exec`: the real docker holds it until it exits,
//!   so until the container it creates exists (`run -d`, `create`) or is
//!   gone again (a foreground run). A pass-through command that removes
//!   containers (`rm`, `stop`, `kill`, the prunes) holds it the same way
//!   while the directory exists;
//! - the cleanup takes it **exclusive**: holding it, it asks the engine for
//!   containers (any state) with the label, and removes the directory only
//!   when there are none. Every container a patched command made exists by
//!   then, and no new one can start mounting the directory until the lock
//!   is released (the next one writes it again).
//!
//! The cleanup runs by hand (`shim cleanup`: exclusive without waiting, so
//! it keeps the directory while a command is in flight) and on its own:
//! each of those commands starts a background waiter first (`shim cleanup
//! --wait`, one at a time: a second lock file, `docker-shim.cleanup.lock`),
//! which waits for the exclusive lock, so it looks once every command in
//! flight, its own included, is over.

use std::fs::File;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::Context as _;
use nanoclaw_sandbox_core::runtime::labels::SHIM;
use nanoclaw_sandbox_core::runtime::InstallId;
use nanoclaw_sandbox_core::sandbox::{instances_base, InstanceDir, InstancePaths, SandboxEnv};
use nanoclaw_sandbox_core::trust::SystemRoots;

use crate::engine::WORKSPACE_VAR;

/// The kept directory's name under the instances directory: one per install.
pub(crate) const SHIM_INSTANCE: &str = "docker-shim";
/// The lock file beside it.
const LOCK_FILE: &str = "docker-shim.lock";
/// Held by the one background cleanup waiting for [`LOCK_FILE`].
const WAITER_LOCK_FILE: &str = "docker-shim.cleanup.lock";

/// Where the kept directory lives: `$NANOCLAW_WORKSPACE/.nanoclaw/instances/`
/// when set (a sandbox mounts only workspace paths), else
/// `$XDG_STATE_HOME/nanoclaw/instances/` (`~/.local/state/…`).
fn base() -> anyhow::Result<PathBuf> {
    Ok(match std::env::var_os(WORKSPACE_VAR) {
        Some(ws) => instances_base(Some(Path::new(&ws))),
        None => state_dir()?.join("nanoclaw").join("instances"),
    })
}

fn state_dir() -> anyhow::Result<PathBuf> {
    if let Some(dir) = std::env::var_os("XDG_STATE_HOME").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir));
    }
    let home = std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .with_context(|| format!("neither XDG_STATE_HOME nor HOME is set: set {WORKSPACE_VAR}"))?;
    Ok(PathBuf::from(home).join(".local").join("state"))
}

/// The [`SHIM`] label's value for the kept directory `dir`: a stable hash
/// of its resolved path, so two installs never count each other's containers.
fn label_value(dir: &Path) -> String {
    InstallId::from_workspace(dir).as_str().to_string()
}

/// The lock, held shared by a command that uses or frees the kept
/// directory, until the real docker it becomes exits.
pub(crate) struct Hold(File);

impl Hold {
    /// Takes the lock in `base` shared (waits only while a cleanup holds it).
    fn take(base: &Path) -> anyhow::Result<Hold> {
        let lock = open_lock(base, LOCK_FILE)?;
        lock.lock_shared()
            .with_context(|| format!("cannot lock {}", base.join(LOCK_FILE).display()))?;
        Ok(Hold(lock))
    }

    /// Starts the background cleanup (unless one waits already), then lets
    /// the real docker this process becomes inherit the lock (its descriptor
    /// stays open across `exec`, and only then: the waiter must not hold
    /// it): the lock is released when docker exits.
    pub(crate) fn across_exec(&self) -> anyhow::Result<()> {
        spawn_waiter();
        rustix::io::fcntl_setfd(&self.0, rustix::io::FdFlags::empty())
            .context("cannot keep the kept directory's lock across exec")
    }
}

/// For a pass-through command that removes containers: the lock, held while
/// the directory exists (`None` when it does not, or the lock cannot be
/// had: the command runs anyway, and a later cleanup looks).
pub(crate) fn hold_for_removal() -> Option<Hold> {
    let base = base().ok()?;
    if !base.join(SHIM_INSTANCE).exists() {
        return None;
    }
    Hold::take(&base).ok()
}

/// The kept directory, written for a patched command, with the lock that
/// must stay held until the real docker exits ([`Hold::across_exec`]).
pub(crate) struct KeptDir {
    /// What the patcher mounts.
    pub paths: InstancePaths,
    /// `(SHIM, value)`: the label the patched container gets.
    pub label: (String, String),
    /// The lock.
    pub hold: Hold,
}

impl KeptDir {
    /// Takes the lock (shared: waits only while a cleanup holds it), then
    /// makes or takes over the directory and writes the CA files (a rotated
    /// CA reaches running containers: the directory is mounted, not a file).
    pub(crate) fn prepare(env: &SandboxEnv) -> anyhow::Result<KeptDir> {
        let base = base()?;
        let hold = Hold::take(&base)?;
        let roots = SystemRoots::default().load()?;
        let dir = InstanceDir::create_in(&base, SHIM_INSTANCE)?;
        if let Some(ca) = env.trust_store() {
            dir.write_trust(ca, &roots)?;
        }
        let label = (SHIM.to_string(), label_value(dir.path()));
        Ok(KeptDir {
            paths: dir.persist(),
            label,
            hold,
        })
    }
}

/// Starts `nanoclaw-sandbox shim cleanup --wait` in the background, in a
/// process group of its own (a Ctrl-C of the foreground command leaves it),
/// with no standard streams (it holds no pipe of the caller open). Best
/// effort: when it cannot start, `shim cleanup` by hand does the same.
fn spawn_waiter() {
    let Ok(me) = crate::docker_shim::this_executable() else {
        return;
    };
    let _ = Command::new(me)
        .args(["shim", "cleanup", "--wait"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn();
}

/// Opens (or creates) the lock file `name` in `base` (made if missing).
fn open_lock(base: &Path, name: &str) -> anyhow::Result<File> {
    std::fs::create_dir_all(base).with_context(|| format!("cannot create {}", base.display()))?;
    let path = base.join(name);
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .with_context(|| format!("cannot open the lock file {}", path.display()))
}

/// What a cleanup did.
#[derive(Debug)]
pub(crate) enum Cleanup {
    /// There is no kept directory.
    Absent(PathBuf),
    /// A patched command is in flight (it holds the lock): kept.
    Busy(PathBuf),
    /// Containers with the label exist (their ids): kept.
    InUse(PathBuf, Vec<String>),
    /// No container uses it: removed.
    Removed(PathBuf),
}

/// Removes the kept directory when no container (any state) carries its
/// label; `docker` (the real one) is asked for the containers. Without
/// `wait`, a patched command in flight keeps it ([`Cleanup::Busy`]); with
/// `wait` (the background waiter), it waits for every one in flight to end,
/// unless another waiter waits already (then that one looks: `Busy`).
pub(crate) fn cleanup(docker: &Path, wait: bool) -> anyhow::Result<Cleanup> {
    let base = base()?;
    let dir = base.join(SHIM_INSTANCE);
    if !dir.exists() {
        return Ok(Cleanup::Absent(dir));
    }
    let lock = open_lock(&base, LOCK_FILE)?;
    let locked = |e: std::io::Error| {
        anyhow::Error::new(e).context(format!("cannot lock {}", base.join(LOCK_FILE).display()))
    };
    if wait {
        let waiter = open_lock(&base, WAITER_LOCK_FILE)?;
        match waiter.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => return Ok(Cleanup::Busy(dir)),
            Err(std::fs::TryLockError::Error(e)) => return Err(locked(e)),
        }
        lock.lock().map_err(locked)?;
        // From here a command that starts waits for this cleanup, and may
        // start a waiter of its own for after it.
        drop(waiter);
        if !dir.exists() {
            return Ok(Cleanup::Absent(dir));
        }
    } else {
        match lock.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => return Ok(Cleanup::Busy(dir)),
            Err(std::fs::TryLockError::Error(e)) => return Err(locked(e)),
        }
    }
    let filter = format!("label={SHIM}={}", label_value(&dir));
    let out = Command::new(docker)
        .args(["ps", "--all", "--quiet", "--no-trunc", "--filter", &filter])
        .output()
        .with_context(|| format!("cannot run {}", docker.display()))?;
    anyhow::ensure!(
        out.status.success(),
        "`docker ps --filter {filter}` failed, so the kept directory {} stays: {}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr).trim()
    );
    let ids: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_string)
        .collect();
    if !ids.is_empty() {
        return Ok(Cleanup::InUse(dir, ids));
    }
    std::fs::remove_dir_all(&dir).with_context(|| format!("cannot remove {}", dir.display()))?;
    drop(lock);
    Ok(Cleanup::Removed(dir))
}
