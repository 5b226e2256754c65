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
//!   gone again (a foreground run);
//! - the cleanup takes it **exclusive without waiting**: while any patched
//!   command is in flight it leaves the directory alone; holding it, it asks
//!   the engine for containers (any state) with the label, and removes the
//!   directory only when there are none. Every container a patched command
//!   made exists by then, and no new one can start mounting the directory
//!   until the lock is released (the next one writes it again).

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Command;

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

/// The kept directory, written for a patched command, with the lock that
/// must stay held until the real docker exits ([`KeptDir::hold_across_exec`]).
pub(crate) struct KeptDir {
    /// What the patcher mounts.
    pub paths: InstancePaths,
    /// `(SHIM, value)`: the label the patched container gets.
    pub label: (String, String),
    lock: File,
}

impl KeptDir {
    /// Takes the lock (shared: waits only while a cleanup holds it), then
    /// makes or takes over the directory and writes the CA files (a rotated
    /// CA reaches running containers: the directory is mounted, not a file).
    pub(crate) fn prepare(env: &SandboxEnv) -> anyhow::Result<KeptDir> {
        let base = base()?;
        let lock = open_lock(&base)?;
        lock.lock_shared()
            .with_context(|| format!("cannot lock {}", base.join(LOCK_FILE).display()))?;
        let roots = SystemRoots::default().load()?;
        let dir = InstanceDir::create_in(&base, SHIM_INSTANCE)?;
        if let Some(ca) = env.trust_store() {
            dir.write_trust(ca, &roots)?;
        }
        let label = (SHIM.to_string(), label_value(dir.path()));
        Ok(KeptDir {
            paths: dir.persist(),
            label,
            lock,
        })
    }

    /// Lets the real docker this process becomes inherit the lock (its
    /// descriptor stays open across `exec`): the lock is then released when
    /// docker exits, after the container exists.
    pub(crate) fn hold_across_exec(&self) -> anyhow::Result<()> {
        rustix::io::fcntl_setfd(&self.lock, rustix::io::FdFlags::empty())
            .context("cannot keep the kept directory's lock across exec")
    }
}

/// Opens (or creates) the lock file in `base` (made if missing).
fn open_lock(base: &Path) -> anyhow::Result<File> {
    std::fs::create_dir_all(base).with_context(|| format!("cannot create {}", base.display()))?;
    let path = base.join(LOCK_FILE);
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
/// label and no patched command is in flight; `docker` (the real one) is
/// asked for the containers.
pub(crate) fn cleanup(docker: &Path) -> anyhow::Result<Cleanup> {
    let base = base()?;
    let dir = base.join(SHIM_INSTANCE);
    if !dir.exists() {
        return Ok(Cleanup::Absent(dir));
    }
    let lock = open_lock(&base)?;
    match lock.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => return Ok(Cleanup::Busy(dir)),
        Err(std::fs::TryLockError::Error(e)) => {
            return Err(e)
                .with_context(|| format!("cannot lock {}", base.join(LOCK_FILE).display()))
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
