//! Which container (if any) this very process runs in, so that orphan cleanup
//! never removes the host itself (a host deployed as a managed container of its
//! own install would otherwise kill itself on restart).
//!
//! The parsing is pure ([`OwnContainer::from_sources`]); [`OwnContainer::detect`]
//! only reads the three sources. Detection errs towards "this might be me":
//! a false match merely spares a container from cleanup.

/// The ids this process's container may have.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OwnContainer {
    /// Full 64-hex container ids seen in cgroup paths or container mounts.
    pub ids: Vec<String>,
    /// The hostname, when it looks like Docker's default (the first 12 hex
    /// characters of the container id).
    pub hostname_prefix: Option<String>,
}

impl OwnContainer {
    /// Reads `/proc/self/cgroup`, `/proc/self/mountinfo` and the hostname.
    /// Unreadable sources count as empty (not in a container, as far as they tell).
    pub fn detect() -> Self {
        let read = |path: &str| std::fs::read_to_string(path).unwrap_or_default();
        Self::from_sources(
            &read("/proc/self/cgroup"),
            &read("/proc/self/mountinfo"),
            read("/proc/sys/kernel/hostname").trim(),
        )
    }

    /// Parses the contents of `/proc/self/cgroup`, `/proc/self/mountinfo` and the hostname.
    pub fn from_sources(cgroup: &str, mountinfo: &str, hostname: &str) -> Self {
        let mut ids: Vec<String> = cgroup_ids(cgroup).chain(mountinfo_ids(mountinfo)).collect();
        ids.sort();
        ids.dedup();
        let hostname_prefix =
            (hostname.len() == 12 && is_lower_hex(hostname)).then(|| hostname.to_string());
        Self {
            ids,
            hostname_prefix,
        }
    }

    /// Whether `container_id` (full or abbreviated) may be this process's container.
    pub fn may_be(&self, container_id: &str) -> bool {
        let matches_full = self.ids.iter().any(|own| {
            !container_id.is_empty() && (own == container_id || own.starts_with(container_id))
        });
        let matches_hostname = self
            .hostname_prefix
            .as_deref()
            .is_some_and(|prefix| container_id.starts_with(prefix));
        matches_full || matches_hostname
    }
}

/// Container ids in cgroup paths: `/docker/<id>` (cgroup v1),
/// `docker-<id>.scope` (systemd driver, cgroup v2), and the CRI variants.
fn cgroup_ids(cgroup: &str) -> impl Iterator<Item = String> + '_ {
    cgroup
        .lines()
        .filter_map(|line| line.splitn(3, ':').nth(2))
        .flat_map(|path| path.split('/'))
        .filter_map(|segment| {
            let segment = segment.strip_suffix(".scope").unwrap_or(segment);
            let id = ["docker-", "cri-containerd-", "crio-", "libpod-"]
                .iter()
                .find_map(|prefix| segment.strip_prefix(prefix))
                .unwrap_or(segment);
            is_container_id(id).then(|| id.to_string())
        })
}

/// Container ids in the mounts Docker makes for `/etc/hostname`, `/etc/hosts`
/// and `/etc/resolv.conf`, whose source is `.../containers/<id>/<file>`.
/// This still works under cgroup v2 with a private cgroup namespace, where
/// `/proc/self/cgroup` says only `0::/`.
fn mountinfo_ids(mountinfo: &str) -> impl Iterator<Item = String> + '_ {
    mountinfo.lines().filter_map(|line| {
        let mut fields = line.split(' ');
        let root = fields.nth(3)?;
        let mount_point = fields.next()?;
        if !matches!(
            mount_point,
            "/etc/hostname" | "/etc/hosts" | "/etc/resolv.conf"
        ) {
            return None;
        }
        let (_, after) = root.split_once("/containers/")?;
        let id = after.split('/').next()?;
        is_container_id(id).then(|| id.to_string())
    })
}

fn is_container_id(text: &str) -> bool {
    text.len() == 64 && is_lower_hex(text)
}

fn is_lower_hex(text: &str) -> bool {
    text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "4f7c2f1e0b9a8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a29181706f5e4d3c2b1a0";

    #[test]
    fn cgroup_v1_docker_path() {
        let cgroup = format!("12:memory:/docker/{ID}\n11:cpu:/docker/{ID}\n0::/\n");
        let own = OwnContainer::from_sources(&cgroup, "", "myhost");
        assert_eq!(own.ids, [ID]);
        assert!(own.may_be(ID));
        assert!(own.may_be(&ID[..12]));
        assert!(!own.may_be("0123456789ab"));
    }

    #[test]
    fn cgroup_v2_systemd_scope() {
        let cgroup = format!("0::/system.slice/docker-{ID}.scope\n");
        assert_eq!(OwnContainer::from_sources(&cgroup, "", "").ids, [ID]);
    }

    #[test]
    fn private_cgroup_namespace_falls_back_to_mountinfo() {
        let mountinfo = format!(
            "600 590 254:0 /var/lib/docker/containers/{ID}/hostname /etc/hostname rw,relatime - ext4 /dev/vda rw\n\
             601 590 254:0 /var/lib/docker/containers/{ID}/hosts /etc/hosts rw,relatime - ext4 /dev/vda rw\n"
        );
        let own = OwnContainer::from_sources("0::/\n", &mountinfo, "");
        assert_eq!(own.ids, [ID]);
    }

    #[test]
    fn a_host_is_in_no_container() {
        // Real host content: layer directories of *other* containers are 64 hex
        // too, but they are not mounted on /etc/hostname, so they do not count.
        let mountinfo = format!(
            "43 42 0:39 / /var/lib/docker/fuse-overlayfs/{ID}/merged rw,nodev - fuse.fuse-overlayfs x rw\n"
        );
        let cgroup = "4:memory:/process_api/c3a8c9a126d53ecda5a103713b61f63a\n0::/\n";
        let own = OwnContainer::from_sources(cgroup, &mountinfo, "vm");
        assert_eq!(own, OwnContainer::default());
        assert!(!own.may_be(ID));
        assert!(!own.may_be(""));
    }

    #[test]
    fn default_hostname_identifies_the_container() {
        let own = OwnContainer::from_sources("0::/\n", "", &ID[..12]);
        assert!(own.may_be(ID));
        assert!(!own.may_be("ffffffffffff0000"));
        // A 12-character hostname that is not hex is not an id.
        assert_eq!(
            OwnContainer::from_sources("", "", "build-server").hostname_prefix,
            None
        );
    }
}
