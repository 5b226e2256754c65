//! Removing what earlier (crashed) processes of this install left behind.

use super::own_container::OwnContainer;
use super::{
    ContainerId, ContainerRuntime, ContainerSummary, RuntimeError, RuntimeIdentity, INSTANCE,
};

/// The containers among `listed` (this install's managed containers) that
/// cleanup may remove: those of *other* instances of the install, except any
/// that may be the container this process runs in.
pub fn select_orphans(
    listed: &[ContainerSummary],
    identity: &RuntimeIdentity,
    own: &OwnContainer,
) -> Vec<ContainerId> {
    listed
        .iter()
        .filter(|c| {
            let instance = c.labels.get(INSTANCE).map(String::as_str);
            instance != Some(identity.instance.as_str()) && !own.may_be(c.id.as_str())
        })
        .map(|c| c.id.clone())
        .collect()
}

/// Lists this install's managed containers and force-removes the orphans
/// ([`select_orphans`]). A container that vanished meanwhile counts as removed.
pub async fn cleanup_orphans<R: ContainerRuntime + ?Sized>(
    runtime: &R,
    own: &OwnContainer,
) -> Result<Vec<ContainerId>, RuntimeError> {
    let identity = runtime.identity();
    let listed = runtime.list(&identity.install_selector()).await?;
    let orphans = select_orphans(&listed, identity, own);
    for id in &orphans {
        match runtime.remove(id, true).await {
            Ok(()) => {}
            Err(e) if e.is_no_such_container() => {}
            Err(e) => return Err(e),
        }
        tracing::info!(container = %id, "removed an orphaned agent container of an earlier process");
    }
    Ok(orphans)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::runtime::{ContainerState, InstallId, InstanceId};

    fn summary(id: &str, instance: &str) -> ContainerSummary {
        ContainerSummary {
            id: ContainerId::new(id),
            names: vec![],
            image: "i".into(),
            state: ContainerState::Running,
            labels: BTreeMap::from([(INSTANCE.to_string(), instance.to_string())]),
        }
    }

    #[test]
    fn only_other_instances_and_never_self() {
        let identity = RuntimeIdentity {
            install: InstallId::new("inst").unwrap(),
            instance: InstanceId::new("now").unwrap(),
        };
        let me = "a".repeat(64);
        let own = OwnContainer {
            ids: vec![me.clone()],
            hostname_prefix: None,
        };
        let listed = [
            summary("old1", "earlier"),
            summary("cur1", "now"),
            summary(&me, "earlier"),
            summary("nolabel", ""),
        ];
        let selected = select_orphans(&listed, &identity, &own);
        assert_eq!(
            selected,
            [ContainerId::new("old1"), ContainerId::new("nolabel")]
        );
    }
}
