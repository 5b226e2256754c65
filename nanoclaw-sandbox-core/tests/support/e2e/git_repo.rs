//! A bare git repository with one commit, prepared for git's dumb-HTTP
//! protocol (`update-server-info`), so any static file server can serve it
//! and `git ls-remote https://HOST/repo.git` works.

use std::path::{Path, PathBuf};
use std::process::Command;

use nanoclaw_testkit::{Context, FixtureError, Result};

/// The branch the commit is on.
pub const BRANCH: &str = "main";

/// A bare repository in a temporary directory.
pub struct GitRepo {
    bare: PathBuf,
    head: String,
    _dir: tempfile::TempDir,
}

impl GitRepo {
    /// Creates `repo.git` with one commit on [`BRANCH`], using the host's git.
    pub fn create() -> Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("nanoclaw-e2e-git-")
            .tempdir()
            .context(|| "creating the git repository directory".to_string())?;
        let work = dir.path().join("work");
        let bare = dir.path().join("repo.git");
        std::fs::create_dir(&work).context(|| format!("creating {}", work.display()))?;
        std::fs::write(work.join("README"), "nanoclaw end-to-end test repository\n")
            .context(|| format!("writing into {}", work.display()))?;
        let bare_str = bare.to_string_lossy().into_owned();
        git(&work, &["init", "-q", "-b", BRANCH])?;
        git(&work, &["add", "README"])?;
        git(&work, &["commit", "-q", "-m", "the one commit"])?;
        git(&work, &["clone", "-q", "--bare", ".", &bare_str])?;
        git(&bare, &["update-server-info"])?;
        let head = git(&bare, &["rev-parse", "HEAD"])?;
        Ok(Self {
            bare,
            head,
            _dir: dir,
        })
    }

    /// The bare repository's directory (serve it as `/repo.git`).
    pub fn path(&self) -> &Path {
        &self.bare
    }

    /// The commit `refs/heads/main` points at.
    pub fn head(&self) -> &str {
        &self.head
    }

    /// What `git ls-remote` prints for the branch: `SHA\trefs/heads/main`.
    pub fn ls_remote_line(&self) -> String {
        format!("{}\trefs/heads/{BRANCH}", self.head)
    }
}

/// Runs host git in `dir`, isolated from the host's git configuration.
fn git(dir: &Path, args: &[&str]) -> Result<String> {
    let out = Command::new("git")
        .current_dir(dir)
        .args(args)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_AUTHOR_NAME", "nanoclaw tests")
        .env("GIT_AUTHOR_EMAIL", "tests@nanoclaw.invalid")
        .env("GIT_COMMITTER_NAME", "nanoclaw tests")
        .env("GIT_COMMITTER_EMAIL", "tests@nanoclaw.invalid")
        .output()
        .context(|| format!("running git {args:?} (is git installed?)"))?;
    if !out.status.success() {
        return Err(FixtureError::new(format!(
            "git {args:?} in {} failed: {}",
            dir.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}
