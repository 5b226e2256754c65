//! Containers through the plain `docker` CLI, described by the library's own
//! [`ContainerSpec`]: the spec turned into `docker run` arguments, run by
//! the test kit (`nanoclaw_testkit::docker`). This is the one place the
//! final matrix swaps for the library runtime: everything upstream of here
//! already builds specs.

use std::time::Duration;

use nanoclaw_sandbox_core::spec::{ContainerSpec, Mount, NetworkMode};
use nanoclaw_testkit::docker::{self, unique_name, ContainerGuard, RunOutput, TEST_LABEL};
use nanoclaw_testkit::{FixtureError, Result};

/// Runs `spec` to completion with the docker CLI (`--pull never`, the test
/// label added), capturing stdout and stderr apart. Past `timeout` the
/// container is removed and the run fails.
pub fn run_container(spec: &ContainerSpec, timeout: Duration) -> Result<RunOutput> {
    let (name, args) = run_args(spec, false)?;
    docker::run(&args, &name, timeout)
}

/// Starts `spec` in the background; the guard removes it.
pub fn start_detached(spec: &ContainerSpec) -> Result<ContainerGuard> {
    let (name, args) = run_args(spec, true)?;
    let guard = ContainerGuard::new(name);
    docker::docker(&args)?;
    Ok(guard)
}

/// `docker run` arguments for `spec`, and the container's name (generated
/// when the spec has none, so the guard can always find it).
fn run_args(spec: &ContainerSpec, detached: bool) -> Result<(String, Vec<String>)> {
    let name = spec
        .name()
        .map(str::to_string)
        .unwrap_or_else(|| unique_name("nanoclaw-e2e-agent"));
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
