//! Containers through the plain `docker` CLI, described by the library's own
//! [`ContainerSpec`]. This is the one place the final matrix swaps for the
//! library runtime: everything upstream of here already builds specs.

use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use nanoclaw_sandbox_core::spec::{ContainerSpec, Mount, NetworkMode};

use super::error::{Context, FixtureError, Result};

/// How long one agent container may run before it is killed and the run fails.
pub const RUN_TIMEOUT: Duration = Duration::from_secs(120);

/// The label every container and network the tests create carries.
pub const TEST_LABEL: (&str, &str) = ("nanoclaw.test", "true");

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

/// `Ok` when a Docker daemon answers, else why not.
pub fn docker_available() -> std::result::Result<(), String> {
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
    S: AsRef<std::ffi::OsStr>,
{
    let args: Vec<_> = args.into_iter().map(|a| a.as_ref().to_owned()).collect();
    let shown = || format!("docker {}", args_for_display(&args));
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

fn args_for_display<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> String {
    args.iter()
        .map(|a| a.as_ref().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// A name no other test (in this or a concurrent process) uses.
pub fn unique_name(kind: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "nanoclaw-e2e-{kind}-{}-{}-{nanos:x}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
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
/// leaves none behind: its tags, and the untagged intermediate images a
/// failed classic build leaves. Images already gone are fine.
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
        let remove = |reference: &str| {
            let _ = Command::new("docker")
                .args(["image", "rm", reference])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        };
        for tag in &self.tags {
            remove(tag);
        }
        // Newest first: removing a child lets its parent go too.
        for id in self.intermediates.iter().rev() {
            let tags = docker(["image", "inspect", "--format", "{{len .RepoTags}}", id]);
            if matches!(tags.as_deref(), Ok("0")) {
                remove(id);
            }
        }
    }
}

/// Runs `spec` to completion with the docker CLI (`--pull never`, the test
/// label added), capturing stdout and stderr apart. Past `timeout` the
/// container is removed and the run fails.
pub fn run_container(spec: &ContainerSpec, timeout: Duration) -> Result<RunOutput> {
    let (name, args) = run_args(spec, false)?;
    let guard = ContainerGuard::new(name);
    let started = Instant::now();
    let child = Command::new("docker")
        .args(&args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context(|| format!("cannot run `docker {}`", args_for_display(&args)))?;
    // wait_with_output reads both pipes; on its own thread so this one can
    // enforce the timeout.
    let (tx, rx) = mpsc::channel();
    let waiter = std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    let output: Output = match rx.recv_timeout(timeout) {
        Ok(result) => result.context(|| format!("waiting for container {}", guard.name()))?,
        Err(_) => {
            let name = guard.name().to_string();
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
            "`docker run` for {} ended by a signal; stderr: {stderr}",
            guard.name()
        ))
    })?;
    if exit == 125 {
        return Err(FixtureError::new(format!(
            "the daemon refused container {} (docker run exit 125): {}",
            guard.name(),
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

/// Starts `spec` in the background; the guard removes it.
pub fn start_detached(spec: &ContainerSpec) -> Result<ContainerGuard> {
    let (name, args) = run_args(spec, true)?;
    let guard = ContainerGuard::new(name);
    docker(&args)?;
    Ok(guard)
}

/// `docker run` arguments for `spec`, and the container's name (generated
/// when the spec has none, so the guard can always find it).
fn run_args(spec: &ContainerSpec, detached: bool) -> Result<(String, Vec<String>)> {
    let name = spec
        .name()
        .map(str::to_string)
        .unwrap_or_else(|| unique_name("agent"));
    let mut args: Vec<String> = vec!["run".into(), "--pull".into(), "never".into()];
    let mut flag = |f: &str, v: String| {
        args.push(f.to_string());
        args.push(v);
    };
    flag("--name", name.clone());
    flag("--label", format!("{}={}", TEST_LABEL.0, TEST_LABEL.1));
    for (key, value) in spec.labels() {
        flag("--label", format!("{key}={value}"));
    }
    for var in spec.env() {
        flag("--env", var.to_docker_string());
    }
    for mount in spec.mounts() {
        flag("--mount", mount_arg(mount)?);
    }
    if let Some(net) = network_arg(spec.network())? {
        flag("--network", net);
    }
    for host in spec.extra_hosts() {
        flag("--add-host", format!("{}:{}", host.name, host.address));
    }
    for server in spec.dns() {
        flag("--dns", server.clone());
    }
    if let Some(user) = spec.user() {
        flag("--user", user.to_string());
    }
    if let Some(dir) = spec.working_dir() {
        flag("--workdir", dir.to_string());
    }
    let resources = spec.resources();
    if let Some(bytes) = resources.memory_bytes {
        flag("--memory", bytes.to_string());
    }
    if let Some(cpus) = resources.cpus {
        flag("--cpus", cpus.to_string());
    }
    if let Some(pids) = resources.pids {
        flag("--pids-limit", pids.to_string());
    }
    // Docker's --entrypoint takes one word; the rest of a longer entrypoint
    // goes in front of the command, which is what the engine would run.
    let mut command: Vec<String> = Vec::new();
    if let Some(entrypoint) = spec.entrypoint() {
        let (first, rest) = entrypoint
            .split_first()
            .map_or(("", &[][..]), |(f, r)| (f.as_str(), r));
        flag("--entrypoint", first.to_string());
        command.extend(rest.iter().cloned());
    }
    if spec.auto_remove() {
        args.push("--rm".into());
    }
    if spec.attach_stdin() {
        args.push("--interactive".into());
    }
    if detached {
        args.push("--detach".into());
    }
    args.push(spec.image().to_string());
    command.extend(spec.command().iter().cloned());
    args.extend(command);
    Ok((name, args))
}

fn mount_arg(mount: &Mount) -> Result<String> {
    let arg = match mount {
        Mount::Bind {
            source,
            target,
            read_only,
        } => {
            let source = source
                .to_str()
                .filter(|s| !s.contains(','))
                .ok_or_else(|| {
                    FixtureError::new(format!(
                        "bind source {} is not UTF-8 or holds a comma, which --mount cannot carry",
                        source.display()
                    ))
                })?;
            let ro = if *read_only { ",readonly" } else { "" };
            format!("type=bind,source={source},target={target}{ro}")
        }
        Mount::Tmpfs { target, size_bytes } => match size_bytes {
            Some(size) => format!("type=tmpfs,target={target},tmpfs-size={size}"),
            None => format!("type=tmpfs,target={target}"),
        },
        other => {
            return Err(FixtureError::new(format!(
                "the docker CLI runner does not know this mount kind: {other:?}"
            )))
        }
    };
    Ok(arg)
}

fn network_arg(network: &NetworkMode) -> Result<Option<String>> {
    Ok(match network {
        NetworkMode::Default => None,
        NetworkMode::None => Some("none".into()),
        NetworkMode::Host => Some("host".into()),
        NetworkMode::Named(name) => Some(name.clone()),
        other => {
            return Err(FixtureError::new(format!(
                "the docker CLI runner does not know this network mode: {other:?}"
            )))
        }
    })
}
