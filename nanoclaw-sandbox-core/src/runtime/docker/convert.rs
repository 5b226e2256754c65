//! Docker's answers → the engine-neutral types. Pure; a missing field
//! becomes its empty value rather than an error, since Engine versions differ
//! in what they fill in.

use std::collections::{BTreeMap, HashMap};

use bollard::models;

use crate::runtime::{
    ContainerId, ContainerInfo, ContainerState, ContainerSummary, ImageId, ImageSummary, MountInfo,
};
use crate::spec::EnvVar;

/// An inspect answer as [`ContainerInfo`].
pub(super) fn container_info(inspected: models::ContainerInspectResponse) -> ContainerInfo {
    let state = inspected.state.unwrap_or_default();
    let config = inspected.config.unwrap_or_default();
    let status = state.status.map(|s| s.to_string()).unwrap_or_default();
    let state_kind = ContainerState::parse(&status);
    // A created container has ExitCode 0 without having exited.
    let exit_code = match state_kind {
        ContainerState::Exited | ContainerState::Dead => state.exit_code,
        _ => None,
    };
    ContainerInfo {
        id: ContainerId::new(inspected.id.unwrap_or_default()),
        name: strip_slash(inspected.name.unwrap_or_default()),
        image: config.image.unwrap_or_default(),
        state: state_kind,
        exit_code,
        oom_killed: state.oom_killed.unwrap_or(false),
        env: config
            .env
            .unwrap_or_default()
            .iter()
            .filter_map(|e| env_var(e))
            .collect(),
        mounts: inspected
            .mounts
            .unwrap_or_default()
            .into_iter()
            .map(mount_info)
            .collect(),
        labels: sorted(config.labels.unwrap_or_default()),
        network_mode: inspected
            .host_config
            .and_then(|h| h.network_mode)
            .unwrap_or_default(),
        user: config.user.unwrap_or_default(),
    }
}

/// A listing entry as [`ContainerSummary`].
pub(super) fn container_summary(listed: models::ContainerSummary) -> ContainerSummary {
    ContainerSummary {
        id: ContainerId::new(listed.id.unwrap_or_default()),
        names: listed
            .names
            .unwrap_or_default()
            .into_iter()
            .map(strip_slash)
            .collect(),
        image: listed.image.unwrap_or_default(),
        state: ContainerState::parse(&listed.state.map(|s| s.to_string()).unwrap_or_default()),
        labels: sorted(listed.labels.unwrap_or_default()),
    }
}

/// An image listing entry as [`ImageSummary`].
pub(super) fn image_summary(listed: models::ImageSummary) -> ImageSummary {
    ImageSummary {
        id: ImageId::new(listed.id),
        tags: listed
            .repo_tags
            .into_iter()
            .filter(|t| t != "<none>:<none>")
            .collect(),
        labels: sorted(listed.labels),
    }
}

fn mount_info(mount: models::MountPoint) -> MountInfo {
    MountInfo {
        kind: mount.typ.unwrap_or_default(),
        source: mount.source.unwrap_or_default(),
        target: mount.destination.unwrap_or_default(),
        read_only: !mount.rw.unwrap_or(true),
    }
}

/// `NAME=VALUE` as an [`EnvVar`]; entries the engine could not have run
/// with (no `=`, NUL) are skipped.
fn env_var(entry: &str) -> Option<EnvVar> {
    let (name, value) = entry.split_once('=')?;
    EnvVar::new(name, value).ok()
}

fn strip_slash(name: String) -> String {
    name.strip_prefix('/').map(str::to_string).unwrap_or(name)
}

fn sorted(labels: HashMap<String, String>) -> BTreeMap<String, String> {
    labels.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inspect_fields_are_carried_over() {
        let inspected = models::ContainerInspectResponse {
            id: Some("abc".into()),
            name: Some("/agent-1".into()),
            state: Some(models::ContainerState {
                status: Some(models::ContainerStateStatusEnum::EXITED),
                exit_code: Some(137),
                oom_killed: Some(true),
                ..Default::default()
            }),
            config: Some(models::ContainerConfig {
                image: Some("agent:1".into()),
                env: Some(vec!["B=2".into(), "A=1=x".into(), "BROKEN".into()]),
                labels: Some(HashMap::from([("k".to_string(), "v".to_string())])),
                user: Some("1000".into()),
                ..Default::default()
            }),
            mounts: Some(vec![models::MountPoint {
                typ: Some("bind".into()),
                source: Some("/host".into()),
                destination: Some("/data".into()),
                rw: Some(false),
                ..Default::default()
            }]),
            host_config: Some(models::HostConfig {
                network_mode: Some("none".into()),
                ..Default::default()
            }),
            ..Default::default()
        };
        let info = container_info(inspected);
        assert_eq!(info.id.as_str(), "abc");
        assert_eq!(info.name, "agent-1");
        assert_eq!(info.state, ContainerState::Exited);
        assert_eq!(info.exit_code, Some(137));
        assert!(info.oom_killed);
        let env: Vec<String> = info.env.iter().map(EnvVar::to_docker_string).collect();
        assert_eq!(env, ["B=2", "A=1=x"]);
        assert_eq!(info.labels["k"], "v");
        assert_eq!(
            info.mounts,
            [MountInfo {
                kind: "bind".into(),
                source: "/host".into(),
                target: "/data".into(),
                read_only: true
            }]
        );
        assert_eq!(info.network_mode, "none");
        assert_eq!(info.user, "1000");
    }

    #[test]
    fn a_created_container_has_no_exit_code_yet() {
        let info = container_info(models::ContainerInspectResponse {
            state: Some(models::ContainerState {
                status: Some(models::ContainerStateStatusEnum::CREATED),
                exit_code: Some(0),
                ..Default::default()
            }),
            ..Default::default()
        });
        assert_eq!(info.state, ContainerState::Created);
        assert_eq!(info.exit_code, None);
    }
}
