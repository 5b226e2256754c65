//! [`ContainerSpec`] → the Docker create request. Pure, so every field's
//! mapping is unit-tested without a daemon.

use std::collections::HashMap;

use bollard::models::{ContainerCreateBody, HostConfig, Mount, MountTmpfsOptions, MountType};
use bollard::query_parameters::CreateContainerOptions;

use crate::runtime::{RuntimeError, RuntimeIdentity};
use crate::spec::{self, ContainerSpec, NetworkMode};

/// The query options and body that create `spec` under `identity`.
pub(super) fn create_request(
    spec: &ContainerSpec,
    identity: &RuntimeIdentity,
) -> Result<(CreateContainerOptions, ContainerCreateBody), RuntimeError> {
    let options = CreateContainerOptions {
        name: spec.name().map(str::to_string),
        ..Default::default()
    };
    let labels: HashMap<String, String> = identity.apply(spec.labels()).into_iter().collect();
    let stdin = spec.attach_stdin();
    let body = ContainerCreateBody {
        image: Some(spec.image().to_string()),
        // Docker's way to say "no entrypoint" is `[""]`; an empty list would
        // silently mean "the image's entrypoint".
        entrypoint: spec.entrypoint().map(|e| {
            if e.is_empty() {
                vec![String::new()]
            } else {
                e.to_vec()
            }
        }),
        cmd: (!spec.command().is_empty()).then(|| spec.command().to_vec()),
        env: (!spec.env().is_empty()).then(|| {
            spec.env()
                .iter()
                .map(spec::EnvVar::to_docker_string)
                .collect()
        }),
        labels: Some(labels),
        user: spec.user().map(str::to_string),
        working_dir: spec.working_dir().map(str::to_string),
        tty: Some(false),
        attach_stdout: Some(true),
        attach_stderr: Some(true),
        attach_stdin: Some(stdin),
        open_stdin: Some(stdin),
        // Closing our stdin then closes the process's stdin (it reads EOF).
        stdin_once: Some(stdin),
        host_config: Some(host_config(spec)?),
        ..Default::default()
    };
    Ok((options, body))
}

fn host_config(spec: &ContainerSpec) -> Result<HostConfig, RuntimeError> {
    let resources = spec.resources();
    let mounts: Vec<Mount> = spec.mounts().iter().map(mount).collect::<Result<_, _>>()?;
    Ok(HostConfig {
        mounts: (!mounts.is_empty()).then_some(mounts),
        network_mode: network_mode(spec.network()),
        extra_hosts: (!spec.extra_hosts().is_empty()).then(|| {
            spec.extra_hosts()
                .iter()
                .map(|h| format!("{}:{}", h.name, h.address))
                .collect()
        }),
        dns: (!spec.dns().is_empty()).then(|| spec.dns().to_vec()),
        memory: resources
            .memory_bytes
            .map(|b| to_i64(b, "memory limit"))
            .transpose()?,
        nano_cpus: resources.cpus.map(nano_cpus).transpose()?,
        pids_limit: resources
            .pids
            .map(|p| to_i64(p, "pids limit"))
            .transpose()?,
        auto_remove: Some(spec.auto_remove()),
        ..Default::default()
    })
}

/// `None` leaves the engine's default network (bridge).
pub(super) fn network_mode(network: &NetworkMode) -> Option<String> {
    match network {
        NetworkMode::None => Some("none".to_string()),
        NetworkMode::Host => Some("host".to_string()),
        NetworkMode::Named(name) => Some(name.clone()),
        NetworkMode::Container(id) => Some(format!("container:{id}")),
        NetworkMode::Default => None,
    }
}

/// Structured mounts rather than `-v` strings: host paths with `:` or `,`
/// need no escaping, and a missing bind source is an error instead of a
/// silently created empty directory.
fn mount(mount: &spec::Mount) -> Result<Mount, RuntimeError> {
    match mount {
        spec::Mount::Bind {
            source,
            target,
            read_only,
        } => Ok(Mount {
            typ: Some(MountType::BIND),
            source: Some(source.to_string_lossy().into_owned()),
            target: Some(target.clone()),
            read_only: Some(*read_only),
            ..Default::default()
        }),
        spec::Mount::Tmpfs { target, size_bytes } => Ok(Mount {
            typ: Some(MountType::TMPFS),
            target: Some(target.clone()),
            tmpfs_options: size_bytes
                .map(|size| {
                    Ok::<_, RuntimeError>(MountTmpfsOptions {
                        size_bytes: Some(to_i64(size, "tmpfs size")?),
                        ..Default::default()
                    })
                })
                .transpose()?,
            ..Default::default()
        }),
    }
}

fn to_i64(value: u64, what: &'static str) -> Result<i64, RuntimeError> {
    i64::try_from(value).map_err(|_| RuntimeError::UnsupportedValue {
        what,
        value: value.to_string(),
        fix: "give a value below 2^63",
    })
}

fn nano_cpus(cpus: f64) -> Result<i64, RuntimeError> {
    let nanos = (cpus * 1e9).round();
    // The spec guarantees a positive finite number; bound it to what Docker takes.
    if nanos >= 1.0 && nanos < i64::MAX as f64 {
        Ok(nanos as i64)
    } else {
        Err(RuntimeError::UnsupportedValue {
            what: "CPU limit",
            value: cpus.to_string(),
            fix: "give at least 0.000000001 CPUs and at most the machine's count",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::{InstallId, InstanceId, INSTALL, INSTANCE, MANAGED};
    use crate::spec::Mount as SpecMount;

    fn identity() -> RuntimeIdentity {
        RuntimeIdentity {
            install: InstallId::new("inst").unwrap(),
            instance: InstanceId::new("proc").unwrap(),
        }
    }

    #[test]
    fn every_spec_field_reaches_the_body() {
        let spec = ContainerSpec::builder("agent:1")
            .name("agent-1")
            .entrypoint(["/bin/agent"])
            .command(["run", "--x"])
            .env("Z", "1")
            .env("A", "2=two")
            .mount(SpecMount::bind("/host/a:b", "/data", true))
            .mount(SpecMount::tmpfs("/tmp", Some(1 << 20)))
            .label("role", "agent")
            .network(NetworkMode::None)
            .extra_host("host.docker.internal", "host-gateway")
            .dns("127.0.0.1")
            .user("1000:1000")
            .working_dir("/work")
            .attach_stdin(true)
            .memory_bytes(1 << 30)
            .cpus(1.5)
            .pids(128)
            .auto_remove(true)
            .build()
            .unwrap();
        let (options, body) = create_request(&spec, &identity()).unwrap();
        assert_eq!(options.name.as_deref(), Some("agent-1"));
        assert_eq!(body.image.as_deref(), Some("agent:1"));
        assert_eq!(body.entrypoint, Some(vec!["/bin/agent".to_string()]));
        assert_eq!(body.cmd, Some(vec!["run".to_string(), "--x".to_string()]));
        // Order kept, values untouched.
        assert_eq!(
            body.env,
            Some(vec!["Z=1".to_string(), "A=2=two".to_string()])
        );
        let labels = body.labels.as_ref().unwrap();
        assert_eq!(labels["role"], "agent");
        assert_eq!(labels[MANAGED], "true");
        assert_eq!(labels[INSTALL], "inst");
        assert_eq!(labels[INSTANCE], "proc");
        assert_eq!(body.user.as_deref(), Some("1000:1000"));
        assert_eq!(body.working_dir.as_deref(), Some("/work"));
        assert_eq!(
            (
                body.attach_stdin,
                body.open_stdin,
                body.stdin_once,
                body.tty
            ),
            (Some(true), Some(true), Some(true), Some(false))
        );

        let host = body.host_config.unwrap();
        let mounts = host.mounts.unwrap();
        assert_eq!(mounts[0].typ, Some(MountType::BIND));
        assert_eq!(mounts[0].source.as_deref(), Some("/host/a:b"));
        assert_eq!(mounts[0].target.as_deref(), Some("/data"));
        assert_eq!(mounts[0].read_only, Some(true));
        assert_eq!(mounts[1].typ, Some(MountType::TMPFS));
        assert_eq!(
            mounts[1].tmpfs_options.as_ref().unwrap().size_bytes,
            Some(1 << 20)
        );
        assert_eq!(host.network_mode.as_deref(), Some("none"));
        assert_eq!(
            host.extra_hosts,
            Some(vec!["host.docker.internal:host-gateway".to_string()])
        );
        assert_eq!(host.dns, Some(vec!["127.0.0.1".to_string()]));
        assert_eq!(host.memory, Some(1 << 30));
        assert_eq!(host.nano_cpus, Some(1_500_000_000));
        assert_eq!(host.pids_limit, Some(128));
        assert_eq!(host.auto_remove, Some(true));
    }

    #[test]
    fn defaults_leave_the_image_in_charge() {
        let spec = ContainerSpec::builder("agent:1").build().unwrap();
        let (options, body) = create_request(&spec, &identity()).unwrap();
        assert_eq!(options.name, None);
        assert_eq!(body.entrypoint, None);
        assert_eq!(body.cmd, None);
        assert_eq!(body.env, None);
        assert_eq!(body.open_stdin, Some(false));
        let host = body.host_config.unwrap();
        assert_eq!(host.network_mode, None);
        assert_eq!(host.mounts, None);
        assert_eq!(host.memory, None);
        // The identity labels are there even when the spec has none.
        assert_eq!(body.labels.unwrap().len(), 3);
    }

    #[test]
    fn an_empty_entrypoint_clears_the_images_entrypoint() {
        let spec = ContainerSpec::builder("a")
            .entrypoint(Vec::<String>::new())
            .build()
            .unwrap();
        let (_, body) = create_request(&spec, &identity()).unwrap();
        assert_eq!(body.entrypoint, Some(vec![String::new()]));
    }

    #[test]
    fn named_networks_and_out_of_range_values() {
        let spec = ContainerSpec::builder("a")
            .network(NetworkMode::Named("agents".into()))
            .memory_bytes(u64::MAX)
            .build()
            .unwrap();
        let err = create_request(&spec, &identity()).unwrap_err();
        assert!(err.to_string().contains("memory limit"), "{err}");
        let spec = spec.to_builder().memory_bytes(1 << 20).build().unwrap();
        let (_, body) = create_request(&spec, &identity()).unwrap();
        assert_eq!(
            body.host_config.unwrap().network_mode.as_deref(),
            Some("agents")
        );
        assert!(nano_cpus(1e30).is_err());
    }
}
