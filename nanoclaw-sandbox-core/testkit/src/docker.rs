//! The plain `docker` CLI for tests: is a daemon there, run a command, run a
//! container to its end under a timeout, unique names, the test label, and
//! guards that remove what a test made even when it panics.
//!
//! Plain values only (argument lists, names, labels): turning a library
//! `ContainerSpec` into `docker run` arguments is the core's end-to-end
//! fixtures' business (`tests/support/e2e/docker_cli.rs`).

use std::ffi::OsStr;
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::error::{Context, FixtureError, Result};

/// How long one agent container may run before it is killed and the run fails.
pub const RUN_TIMEOUT: Duration = Duration::from_secs(120);

/// The label every container, network and image the tests create carries
/// (the library's `runtime::TEST` label, spelled for the docker CLI).
pub const TEST_LABEL: (&str, &str) = ("nanoclaw.test", "true");

/// `Ok` when a Docker daemon answers the docker CLI, else why not.
pub fn available() -> std::result::Result<(), String> {
    match Command::new("docker")
        .args(["version", "--format", "{{.Server.Version}}"])
        .output()
    {
        Ok(out) if out.status.success() => Ok(()),
        Ok(out) => Err(format!(
            "`docker version` failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )),
        Err(e) => Err(format!("cannot run the docker CLI: {e}")),
    }
}

/// Runs `docker ARGS` and returns its trimmed stdout; a non-zero exit is an
/// error carrying stderr.
pub fn docker<I, S>(args: I) -> Result<String>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let args: Vec<_> = args.into_iter().map(|a| a.as_ref().to_owned()).collect();
    let shown = || format!("docker {}", for_display(&args));
    let out = Command::new("docker")
        .args(&args)
        .output()
        .context(|| format!("cannot run `{}`", shown()))?;
    if !out.status.success() {
        return Err(FixtureError::new(format!(
            "`{}` failed ({}): {}",
            shown(),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn for_display<S: AsRef<OsStr>>(args: &[S]) -> String {
    args.iter()
        .map(|a| a.as_ref().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// `PREFIX-PID-N-NANOS`: a name (container, network, image repository) no
/// other test, in this or a concurrent process, uses. Lowercase as long as
/// `prefix` is, so it is a valid image repository too.
pub fn unique_name(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "{prefix}-{}-{}-{nanos:x}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// The ids of every container (any state) labelled `key=value`, as
/// `docker ps` lists them; empty when the docker CLI fails.
pub fn container_ids(key: &str, value: &str) -> Vec<String> {
    docker(["ps", "-aq", "--filter", &format!("label={key}={value}")])
        .map(|ids| ids.split_whitespace().map(str::to_string).collect())
        .unwrap_or_default()
}

/// What a finished container left behind.
#[derive(Debug, Clone)]
pub struct RunOutput {
    /// The container's exit code (the `docker run` client passes it through).
    pub exit: i32,
    /// Its standard output.
    pub stdout: String,
    /// Its standard error (and `docker run`'s own complaints).
    pub stderr: String,
    /// From `docker run` to exit.
    pub elapsed: Duration,
}

/// Runs `docker ARGS` (a `run` without `--detach` for the container called
/// `name`, which must be among the arguments) to its end, capturing stdout
/// and stderr apart. Past `timeout` the container is removed and the run
/// fails; so does a container the daemon refused (exit 125).
pub fn run(args: &[String], name: &str, timeout: Duration) -> Result<RunOutput> {
    let guard = ContainerGuard::new(name);
    let started = Instant::now();
    let child = Command::new("docker")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context(|| format!("cannot run `docker {}`", for_display(args)))?;
    // wait_with_output reads both pipes; on its own thread so this one can
    // enforce the timeout.
    let (tx, rx) = mpsc::channel();
    let waiter = std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    let output: Output = match rx.recv_timeout(timeout) {
        Ok(result) => result.context(|| format!("waiting for container {name}"))?,
        Err(_) => {
            drop(guard); // removing the container ends the `docker run` client too
            let _ = waiter.join();
            return Err(FixtureError::new(format!(
                "container {name} ran longer than {timeout:?} and was removed"
            )));
        }
    };
    let _ = waiter.join();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    // `docker run` itself exits 125 when the daemon refused the container.
    let exit = output.status.code().ok_or_else(|| {
        FixtureError::new(format!(
            "`docker run` for {name} ended by a signal; stderr: {stderr}"
        ))
    })?;
    if exit == 125 {
        return Err(FixtureError::new(format!(
            "the daemon refused container {name} (docker run exit 125): {}",
            stderr.trim()
        )));
    }
    Ok(RunOutput {
        exit,
        stdout,
        stderr,
        elapsed: started.elapsed(),
    })
}

/// Removes a container (forcibly) when dropped, so a panicking test leaves
/// nothing behind.
#[derive(Debug)]
pub struct ContainerGuard {
    name: String,
}

impl ContainerGuard {
    /// Guards the container called `name`.
    pub fn new(name: impl Into<String>) -> Self {
        Self { name: name.into() }
    }

    /// The container's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The container's address on `network`.
    pub fn ip_on(&self, network: &str) -> Result<String> {
        let template = format!("{{{{(index .NetworkSettings.Networks \"{network}\").IPAddress}}}}");
        docker(["inspect", "--format", &template, &self.name])
    }
}

impl Drop for ContainerGuard {
    fn drop(&mut self) {
        // `docker rm -f` of a container already gone (auto-removed) fails
        // harmlessly; nothing to report from a destructor.
        let _ = Command::new("docker")
            .args(["rm", "-f", &self.name])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// Removes the images a test built when dropped, so a panicking test
/// leaves none behind: its tags (forcibly, as a cleanup must), and the
/// untagged intermediate images a failed classic build leaves. Images
/// already gone are fine.
#[derive(Debug, Default)]
pub struct ImageGuard {
    tags: Vec<String>,
    intermediates: Vec<String>,
}

impl ImageGuard {
    /// Guards nothing yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Guards these tags.
    pub fn of<S: Into<String>>(tags: impl IntoIterator<Item = S>) -> Self {
        let mut guard = Self::new();
        for tag in tags {
            guard.tag(tag);
        }
        guard
    }

    /// Removes the tag `tag` on drop.
    pub fn tag(&mut self, tag: impl Into<String>) {
        self.tags.push(tag.into());
    }

    /// Removes the images a classic build printed (` ---> ID` lines) on
    /// drop, each only if no tag names it: the FROM step prints the base
    /// image's id too, and that one stays.
    pub fn intermediates<'a>(&mut self, build_output: impl IntoIterator<Item = &'a str>) {
        for line in build_output {
            let Some(id) = line.trim().strip_prefix("---> ") else {
                continue;
            };
            if !id.is_empty() && id.chars().all(|c| c.is_ascii_hexdigit()) {
                self.intermediates.push(id.to_string());
            }
        }
    }
}

impl Drop for ImageGuard {
    fn drop(&mut self) {
        let remove = |args: &[&str]| {
            let _ = Command::new("docker")
                .args(args)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        };
        for tag in &self.tags {
            remove(&["image", "rm", "--force", tag]);
        }
        // Newest first: removing a child lets its parent go too.
        for id in self.intermediates.iter().rev() {
            let tags = docker(["image", "inspect", "--format", "{{len .RepoTags}}", id]);
            if matches!(tags.as_deref(), Ok("0")) {
                remove(&["image", "rm", id]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unique_names_differ_and_keep_the_prefix() {
        let (a, b) = (unique_name("nanoclaw-test"), unique_name("nanoclaw-test"));
        assert_ne!(a, b);
        assert!(a.starts_with("nanoclaw-test-"), "{a}");
    }

    #[test]
    fn only_build_step_ids_count_as_intermediates() {
        let mut guard = ImageGuard::new();
        guard.intermediates([" ---> 3f2a9c", "Step 1/2 : FROM x", " ---> Running in 12ab"]);
        assert_eq!(guard.intermediates, ["3f2a9c"]);
        guard.intermediates.clear(); // nothing to remove on drop
    }
}
