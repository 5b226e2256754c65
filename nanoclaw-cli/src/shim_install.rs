//! `nanoclaw-sandbox shim install|uninstall DIR`: the `docker` link that
//! makes this executable the host's `docker`; `shim cleanup`: its kept
//! directory removed when no container uses it (docs/shim.md).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;

use crate::docker_shim::{is_shim, real_docker, this_executable, DOCKER};
use crate::exit::usage;
use crate::shim_kept::{self, Cleanup};

/// Options of `shim`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(subcommand)]
    action: Action,
}

#[derive(Debug, clap::Subcommand)]
enum Action {
    /// Put a `docker` link to this executable in DIR (made if missing);
    /// put DIR first on the host's PATH. An existing `docker` there that is
    /// not this shim is left alone (exit 2).
    Install {
        /// The directory for the link.
        dir: PathBuf,
    },
    /// Remove DIR's `docker` link, only if it is this shim (else exit 2).
    Uninstall {
        /// The directory holding the link.
        dir: PathBuf,
    },
    /// Remove the drop-in's kept directory (the CA directory and empty file
    /// its containers mount: $NANOCLAW_WORKSPACE/.nanoclaw/instances/docker-shim,
    /// else under $XDG_STATE_HOME) when no container, in any state, carries
    /// its label and no patched command is in flight; else keep it and say
    /// why. The drop-in runs it on its own after the commands that use or
    /// free the directory.
    Cleanup {
        /// Wait for the patched commands in flight instead of keeping the
        /// directory (how the drop-in starts it in the background).
        #[arg(long, hide = true)]
        wait: bool,
    },
}

/// Installs or removes the link.
pub(crate) fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let me = this_executable()?;
    match &args.action {
        Action::Install { dir } => install(dir, &me),
        Action::Uninstall { dir } => uninstall(dir, &me),
        Action::Cleanup { wait } => cleanup(*wait),
    }
}

fn cleanup(wait: bool) -> anyhow::Result<ExitCode> {
    let docker = real_docker()?;
    match shim_kept::cleanup(&docker, wait)? {
        Cleanup::Absent(dir) => say!("{} does not exist: nothing to remove", dir.display()),
        Cleanup::Busy(dir) => say!(
            "{} kept: a docker command through the shim is in flight (it holds the lock); \
             run this again after it",
            dir.display()
        ),
        Cleanup::InUse(dir, ids) => say!(
            "{} kept: {} container(s) mount it ({}); remove them first",
            dir.display(),
            ids.len(),
            ids.iter()
                .map(|id| id.get(..12).unwrap_or(id))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Cleanup::Removed(dir) => say!("removed {}", dir.display()),
    }
    Ok(ExitCode::SUCCESS)
}

fn install(dir: &Path, me: &Path) -> anyhow::Result<ExitCode> {
    let link = dir.join(DOCKER);
    if is_shim(&link, me) {
        say!("{} is already the shim ({})", link.display(), me.display());
        return Ok(ExitCode::SUCCESS);
    }
    if link.symlink_metadata().is_ok() {
        return Err(usage(format!(
            "{} exists and is not this shim: it is left alone; choose another directory or \
             remove it yourself",
            link.display()
        )));
    }
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    std::os::unix::fs::symlink(me, &link)
        .with_context(|| format!("cannot create the link {}", link.display()))?;
    say!("{} -> {}", link.display(), me.display());
    say!(
        "put {} first on the host's PATH; the real docker is then the next one on PATH \
         (or NANOCLAW_REAL_DOCKER)",
        dir.display()
    );
    Ok(ExitCode::SUCCESS)
}

fn uninstall(dir: &Path, me: &Path) -> anyhow::Result<ExitCode> {
    let link = dir.join(DOCKER);
    if link.symlink_metadata().is_err() {
        say!("{} does not exist: nothing to remove", link.display());
        return Ok(ExitCode::SUCCESS);
    }
    let is_link = link
        .symlink_metadata()
        .is_ok_and(|m| m.file_type().is_symlink());
    if !is_link || !is_shim(&link, me) {
        return Err(usage(format!(
            "{} is not a link to this shim: it is left alone",
            link.display()
        )));
    }
    std::fs::remove_file(&link).with_context(|| format!("cannot remove {}", link.display()))?;
    say!("removed {}", link.display());
    Ok(ExitCode::SUCCESS)
}
